"""Running generated gradient code: :class:`CompiledGradient`, with no SymPy.

:mod:`symgrad.numeric.compile` prints a derivation's staged program as Python
source (that needs SymPy); this module turns such source into a function and
calls it with validated inputs. The two are apart so that a gradient whose
source was kept on disk (:mod:`symgrad.derive.artifacts`) runs, and is
checked, without loading SymPy (:func:`compiled_from_source`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import NonFiniteError, ShapeError, UndefinedValueError, UnknownNameError
from symgrad.layers.losses import log_softmax
from symgrad.numeric.validate import as_float_array
from symgrad.special import erf

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation

__all__ = ["CompiledGradient", "GradientSignature", "compiled_from_source"]


@dataclass(frozen=True)
class GradientSignature:
    """What a compiled gradient takes and returns.

    Attributes
    ----------
    inputs : tuple of str
        The names the function takes, in order.
    wrt : tuple of str
        The gradients it returns.
    shapes : mapping
        Each input's shape: ``()`` for a scalar, a tuple of ints where ``None``
        stands for the batch size N (``x`` is ``(None, 3)``).
    batched : bool
        True for a batched (matrix-form) derivation.
    batch_input : str
        The input whose rows are the batch (``x`` in a chain; a graph's first batched input).
    """

    inputs: tuple[str, ...]
    wrt: tuple[str, ...]
    shapes: Mapping[str, tuple[int | None, ...]]
    batched: bool
    batch_input: str = "x"


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(np.real(x), axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _t_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` over a batch of rows (a weight's gradient), a large result in blocks of rows.

    The BLAS zeroes the result and then adds the product into it: for a batch of a few rows and a
    result larger than the cache, that is three passes over the result in memory, a third more
    than the whole forward pass at batch 4. A block of 256 KiB of the result stays in cache.
    """
    rows, cols = a.shape[-1], b.shape[-1]
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] > 16 or rows * cols < 1 << 18:
        return a.T @ b  # type: ignore[no-any-return]
    out = np.empty((rows, cols), dtype=np.result_type(a, b))
    block = max(1, (1 << 15) // cols)
    for start in range(0, rows, block):
        np.matmul(a[:, start : start + block].T, b, out=out[start : start + block])
    return out


class CompiledGradient:
    """The NumPy gradient of a Derivation; call it with the inputs by keyword.

    Attributes
    ----------
    source : str
        The generated Python source, for reading.
    checked_source : str or None
        The source of the checked variant behind the fast path (batched derivations).
    signature : GradientSignature
        The names and shapes the function takes and returns.
    derivation : Derivation or None
        The derivation it was compiled from; None when built from source alone
        (:func:`compiled_from_source`).
    """

    def __init__(
        self,
        signature: GradientSignature,
        source: str,
        function: Callable[..., Any],
        checked: Callable[..., Any] | None = None,
        *,
        checked_source: str | None = None,
        derivation: Derivation | None = None,
    ) -> None:
        self.signature = signature
        self.derivation = derivation
        self.source = source
        self.checked_source = checked_source
        self._function = function
        self._checked = checked  # the fast path, see _trusted
        self._count = len(signature.inputs)
        self._take = operator.itemgetter(*signature.inputs) if len(signature.inputs) > 1 else None

    @property
    def function(self) -> Callable[..., Any]:
        """The generated function alone, for hot loops: inputs by position (``signature.inputs``),
        returning ``(E, {name: gradient})`` with no checks on the inputs."""
        return self._function

    def __call__(self, *args: Any, **values: Any) -> dict[str, Any]:
        if args:
            _refuse_positional(self.signature.inputs, len(args))
        if self._checked is not None and len(values) == self._count:  # _trusted, inlined: this is the hot path
            try:
                result = self._checked(*self._take(values))  # type: ignore[misc]
            except (LookupError, AttributeError, ValueError, TypeError, ArithmeticError, Warning):
                result = None
            if result is not None:
                return result[1]  # type: ignore[no-any-return]
        loss, grads = self._validated(values, allow_complex=False)
        named = {f"the gradient with respect to {name!r}": value for name, value in grads.items()}
        _require_finite({"the function's value": loss, **named})
        return grads

    def loss(self, **values: Any) -> Any:
        """E at ``values``."""
        return self.evaluate(values)[0]

    def evaluate(self, values: Mapping[str, Any], *, allow_complex: bool = False) -> tuple[Any, dict[str, Any]]:
        """(E, {name: gradient}) at ``values``; the inputs are validated.

        float64 arrays of the right shapes are used as they are, uncopied (the
        generated code never writes to its inputs), and proven finite after the
        fact from a few batch-sized values; anything else is first converted
        and checked by :func:`~symgrad.numeric.validate.as_float_array`.
        """
        result = None if allow_complex else self._trusted(values)
        return result if result is not None else self._validated(values, allow_complex=allow_complex)

    # The hot path: float64 arrays of the right shapes go straight to the generated code, which never
    # writes to its inputs, so they need no copy; their finiteness is proven after the fact from a few
    # cheap values (see _finiteness_witnesses). Anything else (None) takes the validating path, which
    # names the problem (a NaN in W1, a wrong shape, ...).
    def _trusted(self, values: Mapping[str, Any]) -> tuple[Any, dict[str, Any]] | None:
        if self._checked is None or self._take is None or len(values) != self._count:
            return None
        try:
            return self._checked(*self._take(values))  # type: ignore[no-any-return]
        except (LookupError, AttributeError, ValueError, TypeError, ArithmeticError, Warning):
            return None

    def _validated(self, values: Mapping[str, Any], *, allow_complex: bool) -> tuple[Any, dict[str, Any]]:
        arrays = _validate(self.signature, values, allow_complex=allow_complex)
        try:
            # NaN and infinity (sqrt(x) at x = -1, an overflow) are named by the callers, not warned about.
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                loss, grads = self._function(*(arrays[name] for name in self.signature.inputs))
        except (ValueError, TypeError) as error:
            msg = f"could not evaluate the gradient at these values: {error}"
            raise ShapeError(msg) from None
        out = {name: _like(name, grads[name], arrays[name], allow_complex) for name in self.signature.wrt}
        return loss, {name: (value.item() if np.ndim(value) == 0 else value) for name, value in out.items()}


def _like(name: str, value: Any, template: np.ndarray, allow_complex: bool) -> np.ndarray:
    """``value`` shaped like ``template``: b's (1, M) row becomes (M,), a constant is broadcast."""
    array = np.asarray(value)
    fits = array.size == template.size
    array = np.reshape(array, template.shape) if fits else np.broadcast_to(array, template.shape)
    if np.iscomplexobj(array):
        if allow_complex:
            return np.array(array, dtype=complex)
        if np.any(array.imag != 0):  # never dropped silently: the real part alone is a wrong answer
            msg = f"the gradient with respect to {name!r} is complex at these values; expected real values"
            raise UndefinedValueError(msg)
    return np.array(np.real(array), dtype=float)


def _refuse_positional(inputs: tuple[str, ...], count: int) -> None:
    msg = (
        f"a compiled gradient takes its inputs by name, got {count} positional argument{'s' * (count > 1)}: "
        f"call it as grad({', '.join(f'{name}=...' for name in inputs)}) "
        "(CompiledGradient.function takes them by position, unchecked)"
    )
    raise UnknownNameError(msg)


def _require_finite(results: Mapping[str, Any]) -> None:
    for what, value in results.items():
        if not np.all(np.isfinite(value)):
            bad = float(np.asarray(value).flat[int(np.argmin(np.isfinite(value)))])
            msg = (
                f"{what} is {bad} at these values: the function or its derivative is undefined "
                "or overflows there (outside the function's domain, such as sqrt(x) at x < 0); "
                "expected values where it is finite"
            )
            raise NonFiniteError(msg)


def _validate(
    signature: GradientSignature, values: Mapping[str, Any], *, allow_complex: bool
) -> dict[str, np.ndarray]:
    missing = [name for name in signature.inputs if name not in values]
    unknown = [name for name in values if name not in signature.inputs]
    if unknown:
        msg = f"unknown input {unknown[0]!r}; this derivation takes {', '.join(signature.inputs)}"
        raise UnknownNameError(msg)
    if missing:
        names = ", ".join(repr(m) for m in missing)
        msg = f"missing value for {names}; this derivation takes {', '.join(signature.inputs)}"
        raise UnknownNameError(msg)
    arrays = {}
    for name in signature.inputs:
        shape = _expected_shape(signature, name, values)
        arrays[name] = as_float_array(name, values[name], allow_complex=allow_complex, expected_shape=shape)
    return arrays


def _unbatched_shape(name: str, shape: tuple[int | None, ...], value: Any) -> tuple[int, ...] | None:
    """A scalar's (), or a matrix-calculus input's shape, a size given by name (None) taken as it comes."""
    if not shape:
        return ()
    try:
        given = np.shape(value)
    except ValueError:  # ragged lists: as_float_array names the problem
        return None
    if len(given) != len(shape):
        wanted = ", ".join("any" if dim is None else str(dim) for dim in shape)
        msg = f"{name!r} has shape {given}; expected {len(shape)} dimensions ({wanted})"
        raise ShapeError(msg)
    return tuple(g if dim is None else dim for dim, g in zip(shape, given, strict=True))


def _expected_shape(signature: GradientSignature, name: str, values: Mapping[str, Any]) -> tuple[int, ...] | None:
    shape = signature.shapes.get(name)
    if shape is None:
        return None
    if not signature.batched:
        return _unbatched_shape(name, shape, values[name])
    rows = signature.batch_input
    try:
        x_shape = np.shape(values[rows])
    except ValueError:  # ragged lists: as_float_array names the problem
        return None
    wanted = signature.shapes[rows]
    if len(x_shape) != len(wanted):
        if len(wanted) == 2:
            msg = (f"{rows!r} has shape {x_shape}; expected (N, {wanted[1]}): a batch of N rows of "
                   f"{wanted[1]} features")
        else:
            sample = ", ".join(str(d) for d in wanted[1:])
            msg = f"{rows!r} has shape {x_shape}; expected (N, {sample}): a batch of N samples of shape ({sample})"
        raise ShapeError(msg)
    return tuple(x_shape[0] if dim is None else dim for dim in shape)


def compiled_from_source(
    signature: GradientSignature, source: str, checked_source: str | None = None
) -> CompiledGradient:
    r"""A :class:`CompiledGradient` from generated source (see :func:`symgrad.numeric.compile.generate_source`).

    Parameters
    ----------
    signature : GradientSignature
        The names and shapes the generated function takes and returns.
    source : str
        Python source defining ``_gradient(v0, v1, ...)``, which returns ``(E, {name: gradient})``.
    checked_source : str, optional
        The checked variant behind the fast path of batched derivations.

    Returns
    -------
    CompiledGradient
        With no ``derivation`` (None): it needs no SymPy.

    Examples
    --------
    >>> signature = GradientSignature(("x", "w"), ("w",), {"x": (), "w": ()}, batched=False)
    >>> source = "def _gradient(v0, v1):\n    return v0*v1, {'w': v0}\n"
    >>> grad = compiled_from_source(signature, source)
    >>> grad(x=3.0, w=2.0), float(grad.loss(x=3.0, w=2.0))
    ({'w': 3.0}, 6.0)
    """
    checked = None if checked_source is None else _exec(checked_source)
    return CompiledGradient(signature, source, _exec(source), checked, checked_source=checked_source)


def _tensor_call(key: str, which: str, *arrays: Any) -> Any:
    """An N-D layer's compiled forward or rule in a network's program (SymPy loads on the first call)."""
    from symgrad.numeric.tensorcompile import run_tensor_call

    return run_tensor_call(key, which, *arrays)


def _exec(source: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {
        "numpy": np,
        "_softmax": _softmax,
        "_t_matmul": _t_matmul,
        "_log_softmax": log_softmax,
        "_erf": erf,
        "_total": np.add.reduce,
        "_isfinite": math.isfinite,
        "_ndarray": np.ndarray,
        "_float64": np.dtype(np.float64),
        "_nd": _tensor_call,
    }
    exec(compile(source, "<symgrad-generated>", "exec"), namespace)  # noqa: S102  generated from symbols only
    return namespace["_gradient"]  # type: ignore[no-any-return]
