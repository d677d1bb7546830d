"""Staged NumPy code from a Derivation: one assignment per layer quantity.

``lambdify`` of the expanded gradients repeats the forward pass inside every
gradient and its NumPy printer cannot print elementwise matrix functions, so
symgrad prints the derivation's own program instead: the forward quantities
(h1, h2, ..., y), then each upstream gradient once, as a hand-written backward
would. The generated source names every value ``v0, v1, ...``; no text from a
user reaches it.
"""

from __future__ import annotations

import contextlib
import keyword
import math
import operator
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symgrad.errors import NonFiniteError, ShapeError, UndefinedValueError, UnknownNameError
from symgrad.layers.losses import log_softmax
from symgrad.matrixexpr import BATCH, ZETA, ElementSum, RowSoftmax
from symgrad.numeric.validate import as_float_array

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation

__all__ = ["CompiledGradient", "compile_derivation"]


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


class _StagedPrinter(NumPyPrinter):  # type: ignore[misc]
    """NumPy printer for symgrad's matrix expressions, with names mapped to v0, v1, ..."""

    def __init__(self, names: dict[sp.Basic, str]) -> None:
        super().__init__({"fully_qualified_modules": True, "strict": True})
        self.names = names
        # (argument, scalar function) -> the forward node that already holds f(argument)
        self.known: dict[tuple[sp.Basic, sp.Basic], sp.Symbol] = {}

    def remember(self, target: sp.Basic, rhs: sp.Basic) -> None:
        """Let later f'(h) reuse the forward value f(h) (sigmoid, tanh), as hand-written code does."""
        if type(rhs).__name__ == "Elementwise":
            placeholder = sp.Dummy(f"reuse{len(self.known)}")
            self.names[placeholder] = self.names[target]
            self.known[(rhs.args[1], rhs.args[0])] = placeholder

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr in self.names:
            return self.names[expr]
        msg = f"the expression uses {expr}, which is not an input of the derivation"
        raise UnknownNameError(msg)

    _print_MatrixSymbol = _print_Symbol
    _print_Dummy = _print_Symbol

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        factors = list(factors)
        if len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].shape[1] == 1:
            text = self._print(factors[1])  # ones(N, 1) * b: NumPy broadcasts b over the batch
        elif len(factors) == 2 and isinstance(factors[0], sp.OneMatrix):
            text = f"{self._wrap(factors[1])}.sum(axis=0, keepdims=True)"  # the method: less call overhead
        elif len(factors) == 2 and isinstance(factors[0], sp.Transpose) and factors[0].shape[1] == BATCH:
            text = f"_t_matmul({self._print(factors[0].arg)}, {self._print(factors[1])})"  # x.T G, a weight's gradient
        else:
            text = " @ ".join(self._wrap(f) for f in factors)
        return text if coeff == 1 else f"({self._print(coeff)})*({text})"

    def _wrap(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        return text if isinstance(expr, (sp.MatrixSymbol, sp.Transpose)) else f"({text})"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        # y - t rather than (-1)*(t) + y: one array operation instead of two.
        plus = [arg for arg in expr.args if not _negated(arg)]
        minus = [-arg for arg in expr.args if _negated(arg)]
        text = " + ".join(self._print(arg) for arg in plus) if plus else f"-{self._wrap(minus.pop(0))}"
        return "(" + text + "".join(f" - {self._wrap(arg)}" for arg in minus) + ")"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._wrap(expr.arg)}.T"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return "(" + " * ".join(self._wrap(arg) for arg in expr.args) + ")"

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"({self._wrap(expr.base)}**{self._print(expr.exp)})"

    def _print_Elementwise(self, expr: Any) -> str:
        if isinstance(expr.arg, RowSoftmax) and expr.body == sp.log(ZETA):
            # log(softmax(y)) as one stable step: softmax underflows to 0 for large logits.
            return f"_log_softmax({self._print(expr.arg.args[0])})"
        body = expr.body.xreplace({f: node for (arg, f), node in self.known.items() if arg == expr.arg})
        saved = self.names.get(ZETA)
        self.names[ZETA] = self._wrap(expr.arg)
        try:
            return f"({self._print(body)})"
        finally:
            if saved is None:
                del self.names[ZETA]
            else:
                self.names[ZETA] = saved

    def _print_RowSoftmax(self, expr: Any) -> str:
        return f"_softmax({self._print(expr.args[0])})"

    def _print_ElementSum(self, expr: Any) -> str:
        return f"{self._wrap(expr.args[0])}.sum()"


def _negated(term: sp.Basic) -> bool:
    """True for a matrix term with a negative numeric coefficient, such as -t or -2*X."""
    if not isinstance(term, sp.MatMul):
        return False
    coeff = term.as_coeff_mmul()[0]
    return bool(coeff.is_Number and coeff < 0)


class CompiledGradient:
    """The NumPy gradient of a Derivation; call it with the inputs by keyword.

    Attributes
    ----------
    source : str
        The generated Python source, for reading.
    """

    def __init__(
        self,
        derivation: Derivation,
        source: str,
        function: Callable[..., Any],
        checked: Callable[..., Any] | None = None,
    ) -> None:
        self.derivation = derivation
        self.source = source
        self._function = function
        self._checked = checked  # the fast path, see _trusted
        self._count = len(derivation.inputs)
        self._take = operator.itemgetter(*derivation.inputs) if len(derivation.inputs) > 1 else None

    @property
    def function(self) -> Callable[..., Any]:
        """The generated function alone, for hot loops: inputs by position (``derivation.inputs``),
        returning ``(E, {name: gradient})`` with no checks on the inputs."""
        return self._function

    def __call__(self, *args: Any, **values: Any) -> dict[str, Any]:
        if args:
            _refuse_positional(self.derivation.inputs, len(args))
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
        arrays = _validate(self.derivation, values, allow_complex=allow_complex)
        try:
            # NaN and infinity (sqrt(x) at x = -1, an overflow) are named by the callers, not warned about.
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                loss, grads = self._function(*(arrays[name] for name in self.derivation.inputs))
        except (ValueError, TypeError) as error:
            msg = f"could not evaluate the gradient at these values: {error}"
            raise ShapeError(msg) from None
        out = {name: _like(name, grads[name], arrays[name], allow_complex) for name in self.derivation.wrt}
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


def _validate(derivation: Derivation, values: Mapping[str, Any], *, allow_complex: bool) -> dict[str, np.ndarray]:
    missing = [name for name in derivation.inputs if name not in values]
    unknown = [name for name in values if name not in derivation.inputs]
    if unknown:
        msg = f"unknown input {unknown[0]!r}; this derivation takes {', '.join(derivation.inputs)}"
        raise UnknownNameError(msg)
    if missing:
        names = ", ".join(repr(m) for m in missing)
        msg = f"missing value for {names}; this derivation takes {', '.join(derivation.inputs)}"
        raise UnknownNameError(msg)
    arrays = {}
    for name in derivation.inputs:
        shape = _expected_shape(derivation, name, values)
        arrays[name] = as_float_array(name, values[name], allow_complex=allow_complex, expected_shape=shape)
    return arrays


def _expected_shape(derivation: Derivation, name: str, values: Mapping[str, Any]) -> tuple[int, ...] | None:
    shape = derivation.shapes.get(name)
    if shape is None:
        return None
    if not derivation.batched:
        return ()
    try:
        x_shape = np.shape(values["x"])
    except ValueError:  # ragged lists: as_float_array names the problem
        return None
    if len(x_shape) != 2:
        features = derivation.shapes["x"][1]
        msg = f"'x' has shape {x_shape}; expected (N, {features}): a batch of N rows of {features} features"
        raise ShapeError(msg)
    return tuple(x_shape[0] if dim == BATCH else int(dim) for dim in shape)


def _identifier(index: int) -> str:
    name = f"v{index}"
    return name if not keyword.iskeyword(name) else f"{name}_"


def generate_source(derivation: Derivation, *, checked: bool = False) -> str:
    """The Python source of the staged gradient function (see :class:`CompiledGradient`).

    A value computed once is reused: a later expression that contains an earlier
    right-hand side (the loss contains ``y - t``, which is dE/dy) uses its name.

    ``checked`` (batched derivations only) gives the variant behind the fast
    path of :meth:`CompiledGradient.evaluate`: it returns None unless every
    input is a float64 array of its expected shape, every result has its
    expected shape, and a few batch-sized values are finite, which they are
    only if every input is (see :func:`_finiteness_witnesses`); None sends the
    caller to the validating path, which names the problem.
    """
    plain, fast = _sources(derivation)
    if checked and fast is None:
        msg = "only a batched derivation has a checked variant"
        raise ShapeError(msg)
    return fast if checked and fast is not None else plain


def _sources(derivation: Derivation) -> tuple[str, str | None]:
    """The plain source and (batched derivations) the checked one, printed from one staging."""
    names: dict[sp.Basic, str] = {BATCH: "N"}
    params = []
    for index, name in enumerate(derivation.inputs):
        names[derivation.symbols[name]] = _identifier(index)
        params.append(_identifier(index))
    printer = _StagedPrinter(names)
    body: list[str] = []
    seen: dict[sp.Basic, sp.Basic] = {}  # right-hand side -> the name holding its value
    staged: dict[sp.Basic, sp.Basic] = {}  # name -> right-hand side, as printed
    flat = _flat_rows(derivation)
    for offset, (target, original) in enumerate(derivation.program, start=len(names)):
        rhs = original.xreplace(seen) if seen else original
        operand = _row_sum_operand(rhs) if target in flat else None
        # A bias gradient used nowhere else is summed straight to b's shape (M,), not (1, M).
        text = printer.doprint(rhs) if operand is None else f"{printer._wrap(operand)}.sum(axis=0)"
        names[target] = _identifier(offset)
        printer.remember(target, rhs)
        body.append(f"    {names[target]} = {text}")
        staged[target] = rhs
        if not original.is_Atom:
            seen[original] = target
    loss_expr = derivation.loss_value.xreplace(seen)
    loss = printer.doprint(loss_expr)
    outputs = {name: _output(printer, staged, derivation, name, flat) for name in derivation.wrt}
    head = [f"def _gradient({', '.join(params)}):"]
    plain = [f"    return {loss}, {{{', '.join(f'{name!r}: {text}' for name, text in outputs.items())}}}"]
    if derivation.batched and any(re.search(r"\bN\b", line) for line in body + plain):
        plain.insert(0, f"    N = numpy.shape({names[derivation.symbols['x']]})[0]")
    source = "\n".join(head + plain[:-1] + body + plain[-1:]) + "\n"
    if not derivation.batched:
        return source, None
    witnesses = _finiteness_witnesses(derivation, staged, loss_expr)
    checked = head + _guard(derivation, params) + body + _checked_tail(derivation, printer, loss, outputs, witnesses)
    return source, "\n".join(checked) + "\n"


def _shape_text(shape: tuple[Any, ...]) -> str:
    dims = ["N" if dim == BATCH else str(int(dim)) for dim in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _guard(derivation: Derivation, params: list[str]) -> list[str]:
    """Lines returning None unless every input is a float64 array of its shape, with N >= 1."""
    pairs = zip(params, derivation.inputs, strict=True)
    shapes = " or ".join(f"{v}.shape != {_shape_text(derivation.shapes[n])}" for v, n in pairs)
    return [
        f"    if not ({' and '.join(f'type({v}) is _ndarray' for v in params)}):",
        "        return None",
        f"    if not ({' and '.join(f'{v}.dtype == _float64' for v in params)}):",
        "        return None",
        f"    N = {params[derivation.inputs.index('x')]}.shape[0]",
        f"    if N == 0 or {shapes}:",
        "        return None",
    ]


def _checked_tail(
    derivation: Derivation, printer: _StagedPrinter, loss: str, outputs: dict[str, str], witnesses: list[sp.Basic]
) -> list[str]:
    total = " + ".join([*(f"_total({printer.doprint(w)}, None)" for w in witnesses), "_loss"])
    lines = [f"    _loss = {loss}", f"    if not _isfinite({total}):", "        return None"]
    results = {name: f"_g{index}" for index, name in enumerate(outputs)}
    lines += [f"    {results[name]} = {text}" for name, text in outputs.items()]
    # With float64 array inputs every array result is float64; a constant has no .shape (AttributeError).
    wrong = " or ".join(f"{g}.shape != {_shape_text(derivation.shapes[name])}" for name, g in results.items())
    lines += [f"    if {wrong}:", "        return None"]
    return [*lines, f"    return _loss, {{{', '.join(f'{name!r}: {g}' for name, g in results.items())}}}"]


def _flat_rows(derivation: Derivation) -> set[sp.Basic]:
    """Gradients of vectors (b) that nothing else uses, which may therefore be computed as (M,)."""
    used = set(derivation.loss_value.free_symbols).union(*(rhs.free_symbols for _, rhs in derivation.program))
    return {
        derivation.outputs[name]
        for name in derivation.wrt
        if len(derivation.shapes.get(name) or ()) == 1 and derivation.outputs[name] not in used
    }


def _row_sum_operand(rhs: sp.Basic) -> sp.Basic | None:
    """X when ``rhs`` is ones(1, N) * X (the sum over the batch), else None."""
    if not isinstance(rhs, sp.MatMul):
        return None
    coeff, factors = rhs.as_coeff_matrices()
    if coeff == 1 and len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].shape[0] == 1:
        return factors[1]
    return None


def _output(
    printer: _StagedPrinter,
    staged: Mapping[sp.Basic, sp.Basic],
    derivation: Derivation,
    name: str,
    flat: set[sp.Basic],
) -> str:
    """The gradient of ``name`` as returned: shaped like ``name`` (b's (1, M) row as (M,)), and copied
    when its value is another array (an input, or a view of one), so that no two results share memory."""
    output = derivation.outputs[name]
    rhs = staged.get(output)
    aliased = rhs is not None and (rhs.is_Atom or (isinstance(rhs, sp.Transpose) and rhs.arg.is_Atom))
    text = printer.doprint(output)
    if aliased:
        text = f"numpy.array({text})"
    flattened = output in flat and _row_sum_operand(rhs) is not None
    vector = len(derivation.shapes.get(name) or ()) == 1 and getattr(output, "shape", (None,))[0] == 1
    return f"{text}.reshape(-1)" if vector and not flattened else text


# Operations through which a NaN or an infinity always reaches the result (IEEE arithmetic:
# inf * 0 and inf - inf are NaN); elementwise functions such as the sigmoid can saturate
# (sigmoid(inf) = 1), so they are not in the list.
_CARRIERS = (sp.MatAdd, sp.MatMul, sp.HadamardProduct, sp.Transpose, sp.Add, sp.Mul, ElementSum)


def _carried(
    expr: sp.Basic, inputs: frozenset[sp.Basic], nodes: Mapping[sp.Basic, frozenset[sp.Basic]]
) -> frozenset[sp.Basic]:
    """The inputs whose NaN or infinity would make ``expr`` non-finite as well."""
    if expr in inputs:
        return frozenset({expr})
    if expr in nodes:
        return nodes[expr]
    if isinstance(expr, (sp.HadamardPower, sp.Pow)):
        power = expr.exp
        return _carried(expr.base, inputs, nodes) if power.is_Integer and power > 0 else frozenset()
    if isinstance(expr, _CARRIERS):
        return frozenset().union(*(_carried(arg, inputs, nodes) for arg in expr.args))
    return frozenset()


def _finiteness_witnesses(
    derivation: Derivation, staged: Mapping[sp.Basic, sp.Basic], loss: sp.Basic
) -> list[sp.Basic]:
    """Values whose finiteness, with the loss's, proves every input finite.

    Checking a weight matrix costs a pass over it; checking ``x W + b`` (batch
    x width) proves x, W and b finite at a fraction of that. Each input is
    covered by the first batch-sized (or scalar) staged value that carries it,
    or else checked itself.
    """
    inputs = frozenset(derivation.symbols[name] for name in derivation.inputs)
    nodes: dict[sp.Basic, frozenset[sp.Basic]] = {}
    for target, rhs in staged.items():
        nodes[target] = _carried(rhs, inputs, nodes)
    covered = set(_carried(loss, inputs, nodes))
    witnesses: list[sp.Basic] = []
    for name in derivation.inputs:
        symbol = derivation.symbols[name]
        if symbol in covered:
            continue
        cheap = [t for t in staged if symbol in nodes[t] and (not hasattr(t, "shape") or BATCH in t.shape)]
        witnesses.append(cheap[0] if cheap else symbol)
        covered |= nodes[cheap[0]] if cheap else {symbol}
    return witnesses


def compile_derivation(derivation: Derivation) -> CompiledGradient:
    """Compile ``derivation`` to a :class:`CompiledGradient`.

    Examples
    --------
    >>> from symgrad.derive.chain import derive
    >>> from symgrad.network import article_network
    >>> grad = compile_derivation(derive(article_network()))
    >>> grad(x=2.0, t=1.0, w1=0.5, b1=0.0, w2=3.0, b2=0.0)["w1"]
    12.0
    """
    key = _structure(derivation)
    known = _compiled.get(key)
    if known is None:
        source, checked = _sources(derivation)
        known = _compiled[key] = (source, _exec(source), None if checked is None else _exec(checked))
        if len(_compiled) > 256:
            _compiled.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have just evicted it
            _compiled.move_to_end(key)
    source, function, checked_function = known
    return CompiledGradient(derivation, source, function, checked_function)


#: Generated functions by the structure they were printed from (the last 256, least recent first):
#: a new network of known layers (a test suite builds one per test) reuses the printed code.
_compiled: OrderedDict[tuple[Any, ...], tuple[str, Callable[..., Any], Callable[..., Any] | None]] = OrderedDict()


def _structure(derivation: Derivation) -> tuple[Any, ...]:
    """Everything :func:`_sources` reads from a derivation (SymPy expressions compare by structure)."""
    return (
        derivation.batched,
        derivation.inputs,
        derivation.wrt,
        tuple(derivation.symbols[name] for name in derivation.inputs),
        derivation.program,
        derivation.loss_value,
        tuple(derivation.outputs[name] for name in derivation.wrt),
        tuple(sorted(derivation.shapes.items())),
    )


def _exec(source: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {
        "numpy": np,
        "_softmax": _softmax,
        "_t_matmul": _t_matmul,
        "_log_softmax": log_softmax,
        "_total": np.add.reduce,
        "_isfinite": math.isfinite,
        "_ndarray": np.ndarray,
        "_float64": np.dtype(np.float64),
    }
    exec(compile(source, "<symgrad-generated>", "exec"), namespace)  # noqa: S102  generated from symbols only
    return namespace["_gradient"]  # type: ignore[no-any-return]
