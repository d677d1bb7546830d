"""Gradients by finite differences: the numeric third of symgrad's three-way check.

``f`` is a scalar function of a dict of arrays (a loss of a network's
parameters, say). :func:`gradient` perturbs one element at a time and measures
how ``f`` moves, by one of three methods:

``"central"``
    ``(f(v + h e_i) - f(v - h e_i)) / 2h``, error ``h^2 |f'''| / 6`` plus
    rounding ``O(eps |f| / h)``. At default steps each element chooses its own
    ``h`` to balance the two: a pilot third difference on ``-H, 0, H, 2H``
    (``H`` 8 default steps, with ``f(v)`` taken once) estimates ``f'''``, which
    also gives the truncation estimate: 5 evaluations per element. At a given
    step, a third point ``f(v + 2h e_i)`` gives a difference exact for cubics,
    whose distance from the central one is the estimate: 3 per element.
``"richardson"``
    A three-level Richardson table of central differences at ``h``, ``h/2``
    and ``h/4``: the ``h^2`` and ``h^4`` terms cancel, error ``O(h^6)``; the
    distance between the last two extrapolations is its error estimate, as
    numdifftools does. 6 evaluations per element.
``"complex"``
    ``Im f(v + i h e_i) / h``: 1 evaluation per element and no subtraction, so
    no cancellation, accurate to a few units in the last place. It needs a
    forward pass that is analytic and accepts complex input.

Every value carries an estimate of its own absolute error
(:attr:`FiniteResult.errors`): the truncation estimate above plus the rounding
floor ``eps |f| / h`` times the stencil's amplification. The default steps of
the real methods grow with ``|f(v)|`` (rounding grows with it), so central and
Richardson cost one more evaluation per call, at ``v``.

The fast mode, a claimed gradient along a random direction, is in
:mod:`symgrad.numeric.directional`; it shares the evaluation machinery here.

Every function works on copies; the caller's arrays are never written to, and
``f`` receives read-only arrays, so a forward pass that writes into its input
is reported instead of silently corrupting the sweep. Everything is
deterministic: the random directions come from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symgrad.errors import (
    DTypeError,
    LayerError,
    NonFiniteError,
    ShapeError,
    SymgradError,
    UnknownNameError,
)
from symgrad.numeric.validate import as_float_array, check_finite

__all__ = [
    "METHODS",
    "FiniteResult",
    "default_step",
    "gradient",
    "total_evaluations",
]

FloatArray = npt.NDArray[np.float64]
#: ``f(values) -> float``: the function whose gradient is taken.
Objective = Callable[[dict[str, Any]], object]
#: ``progress(done, total)``, called with counts of evaluations of ``f``.
Progress = Callable[[int, int], None]

#: The finite-difference methods, in order of cost per element.
METHODS = ("central", "richardson", "complex")

_EVALUATIONS_PER_ELEMENT = {"central": 3, "richardson": 6, "complex": 1}
#: Central differences at their default steps: a 3-point pilot, then the pair at the chosen step.
_ADAPTIVE_EVALUATIONS = 5
#: Evaluations per call besides the per-element ones: ``f(v)`` for the real methods.
_EVALUATIONS_AT_POINT = {"central": 1, "richardson": 1, "complex": 0}

_EPS = float(np.finfo(np.float64).eps)

# Relative step sizes (multiplied by max(1, |v|)).
# - central: truncation error ~ h^2 |f'''| / 6, rounding error ~ eps |f| / h;
#   their sum is smallest for h ~ eps^(1/3) (about 6e-6), giving an error
#   of order eps^(2/3) ~ 4e-11 relative.
# - richardson: the combination (4 D(h/2) - D(h)) / 3 leaves a truncation
#   error ~ h^4 |f^(5)| / 480 and amplifies rounding by 5/3, so the best step
#   grows to h ~ eps^(1/5) (about 7e-4), with an error of order eps^(4/5) ~ 3e-13.
# - complex: Im f(v + ih) / h subtracts nothing, so there is no rounding error
#   to balance; the truncation error h^2 |f'''| / 6 vanishes below float
#   precision for any small h. 1e-30 is that small while staying far above the
#   underflow threshold (~1e-308), so products like h * f'(v) inside the forward
#   pass keep all their digits even when f' is tiny.
_COMPLEX_NEEDS = "complex step needs a forward pass that is analytic and accepts complex input"

_STEP_FACTOR = {"central": _EPS ** (1 / 3), "richardson": _EPS ** (1 / 5), "complex": 1e-30}

# The sweep's default steps, ``c * max(1, |v|) * max(1, |f(v)|)**p``. The optimal step
# balances truncation against rounding ``eps |f| / h``, so it grows as |f|^(1/3) (central)
# or |f|^(1/7) (the three-level table, truncation O(h^6)). The constants were fitted on
# benchmark section 4 (sums of 4 to 64 smooth terms, an MLP loss): central errors within
# 1.2-1.9x of the best step on the larger functions, Richardson <= 2e-12 on all.
_SWEEP_STEP = {"central": (1.5 * _EPS ** (1 / 3), 1 / 3), "richardson": (3.2 * _EPS ** (1 / 7), 1 / 7),
               "complex": (1e-30, 0.0)}
_SCALE_CAP = 1e6
# Rounding amplification of each stencil, in units of eps max|f| / h (with a margin for the
# rounding inside f, which grows with its number of terms): central 1/2 per point pair;
# the table (64 D(h/4) - 20 D(h/2) + D(h)) / 45 about 6.6.
_ROUNDING = {"central": 4.0, "richardson": 8.0}
#: The adaptive central sweep's pilot step, in default steps, and the constant c of the step
#: it chooses, ``c (eps S / |f'''|)^(1/3)`` (``3^(1/3)`` minimises truncation ``h^2 |f'''| / 6``
#: plus rounding ``eps S / h``).
_PILOT = 8.0
_ADAPTIVE_FACTOR = 0.9


@dataclass(frozen=True)
class FiniteResult:
    """Gradients of ``f`` found by finite differences.

    Attributes
    ----------
    gradients : dict of str to numpy.ndarray
        One float64 array per name in ``wrt``, shaped like that value.
    evaluations : int
        How many times ``f`` was called.
    method : str
        ``"central"``, ``"richardson"`` or ``"complex"``.
    steps : dict of str to numpy.ndarray
        The step used for each element. For ``"central"`` and
        ``"richardson"`` it is the exactly representable step
        ``(v + h) - v`` actually taken (for Richardson, the largest of its
        steps ``h``, ``h/2``, ``h/4``); for ``"complex"`` the imaginary step.
    errors : dict of str to numpy.ndarray
        The estimated absolute error of each element of ``gradients``: the
        truncation estimate of the method plus its rounding floor.
    """

    gradients: dict[str, FloatArray]
    evaluations: int
    method: str
    steps: dict[str, FloatArray]
    #: The estimated absolute error of each element of ``gradients``, shaped alike.
    errors: dict[str, FloatArray]


def default_step(value: npt.ArrayLike, method: str, *, scale: float = 1.0) -> FloatArray:
    """Return the default step of ``method`` for each element of ``value``.

    The step is ``c * max(1, |v|) * max(1, |f|)**p``: absolute near zero,
    relative for large values (so that ``v + h`` differs from ``v``), and
    growing with the function's magnitude ``|f|`` (``scale``), which sets the
    rounding error ``eps |f| / h``. Central: ``c = 1.5 eps**(1/3)``,
    ``p = 1/3``; Richardson (three levels): ``c = 4 eps**(1/7)``, ``p = 1/7``;
    complex step: ``c = 1e-30``, ``p = 0`` (see the comments in the source).

    Parameters
    ----------
    value : array_like
        The point at which the gradient is taken.
    method : str
        One of :data:`METHODS`.
    scale : float, optional
        ``|f|`` at the point (:func:`gradient` passes it), counted up to 1e6.
        Default 1.

    Returns
    -------
    numpy.ndarray
        A float64 array of positive steps shaped like ``value``.

    Raises
    ------
    UnknownNameError
        ``method`` is not one of :data:`METHODS`.

    Examples
    --------
    >>> import numpy as np
    >>> default_step(np.array([0.0, 10.0]), "central")
    array([9.08318168e-06, 9.08318168e-05])
    >>> default_step(0.0, "central", scale=8.0)
    array(1.81663634e-05)
    >>> default_step(1.0, "richardson")
    array(0.01857493)
    """
    _check_method(method)
    magnitude = np.abs(np.asarray(value, dtype=np.float64))
    factor, power = _SWEEP_STEP[method]
    # Capped: where |f| is huge, |v| is usually huge too and already widens the step.
    growth = min(max(1.0, abs(float(scale))), _SCALE_CAP) ** power
    return np.asarray(factor * growth * np.maximum(1.0, magnitude))


def total_evaluations(
    values: Mapping[str, object],
    wrt: Sequence[str] | str,
    method: str,
    *,
    step: float | Mapping[str, npt.ArrayLike] | None = None,
) -> int:
    """Return how many evaluations of ``f`` :func:`gradient` will make.

    That is the number of elements in ``wrt`` times 5 (central at its default,
    adaptive steps: a 3-point pilot and the pair at the chosen step), 3
    (central at steps given in ``step``), 6 (Richardson) or 1 (complex step),
    plus one evaluation at the point itself for central and Richardson.
    Callers use it to size progress bars and to refuse long sweeps.

    Parameters
    ----------
    values : mapping of str to array_like
        The point, as passed to :func:`gradient`.
    wrt : sequence of str
        The names to differentiate with respect to.
    method : str
        One of :data:`METHODS`.
    step : float or dict, optional
        The ``step`` that will be passed to :func:`gradient`: elements given a
        step take central differences at it, without the pilot.

    Returns
    -------
    int

    Raises
    ------
    UnknownNameError
        An unknown method, or a name in ``wrt`` missing from ``values``.

    Notes
    -----
    The complex step adds 2 evaluations per name in the rare case where ``f``
    returns real numbers for complex input (see :func:`gradient`).

    Examples
    --------
    >>> import numpy as np
    >>> total_evaluations({"W": np.zeros((3, 4)), "b": np.zeros(4)}, ["W", "b"], "central")
    81
    >>> total_evaluations({"W": np.zeros((3, 4)), "b": np.zeros(4)}, ["W", "b"], "central", step={"W": 1e-5})
    57
    """
    _check_method(method)
    names = _check_names(values, wrt)
    sizes = {name: int(np.size(np.asarray(values[name]))) for name in names}
    return _count(sizes, method, _adaptive_names(names, method, step))


def _adaptive_names(
    names: Sequence[str], method: str, step: float | Mapping[str, npt.ArrayLike] | None
) -> frozenset[str]:
    """The names whose central differences choose their own steps: those not given a step."""
    if method != "central" or (step is not None and not isinstance(step, Mapping)):
        return frozenset()
    return frozenset(name for name in names if step is None or name not in step)


def _count(sizes: Mapping[str, object], method: str, adaptive: frozenset[str]) -> int:
    """Evaluations of a sweep over arrays (or sizes) ``sizes``, ``adaptive`` names at 5 per element."""
    total = _EVALUATIONS_AT_POINT[method]
    for name, size in sizes.items():
        count = size if isinstance(size, int) else int(np.size(size))  # type: ignore[arg-type]
        total += count * (_ADAPTIVE_EVALUATIONS if name in adaptive else _EVALUATIONS_PER_ELEMENT[method])
    return total


def gradient(
    f: Objective,
    values: Mapping[str, object],
    wrt: Sequence[str] | str,
    *,
    method: str = "central",
    step: float | Mapping[str, npt.ArrayLike] | None = None,
    progress: Progress | None = None,
) -> FiniteResult:
    """Return the gradient of ``f`` with respect to ``values[name]`` for each name in ``wrt``.

    Parameters
    ----------
    f : callable
        ``f(values) -> float``. It receives a new dict with the same keys as
        ``values``; the entries named in ``wrt`` are float64 arrays (complex128
        for ``method="complex"``) and every array is read-only.
    values : mapping of str to array_like
        The point. Entries not in ``wrt`` (labels, inputs) are passed through
        unchanged (arrays as read-only views).
    wrt : sequence of str
        The names to differentiate with respect to (a single name may be
        passed as a string).
    method : {"central", "richardson", "complex"}, optional
        See the module docstring. Default ``"central"``.
    step : float or dict, optional
        A float is the step for every element; a dict maps some names in
        ``wrt`` to a step (a float, or an array broadcastable to the value's
        shape); other elements get :func:`default_step`.
    progress : callable, optional
        ``progress(done, total)``, called every 1% of the evaluations or so
        and once at the end, with ``total`` from :func:`total_evaluations`.

    Returns
    -------
    FiniteResult

    Raises
    ------
    UnknownNameError
        An unknown method, or a name in ``wrt`` (or ``step``) that is not in ``values``.
    DTypeError, ShapeError, NonFiniteError
        A value in ``wrt`` is not a non-empty finite float array (see
        :func:`~symgrad.numeric.validate.as_float_array`), a step is not a
        positive float of the right shape, or ``f`` does not return one finite
        real number.
    LayerError
        ``f`` raised; for the complex step, also when ``f`` refuses complex input.
    SymgradError
        A step too small to change the value, or (complex step) ``f`` drops the
        imaginary part of its input, which a central difference then exposes at
        a cost of 2 more evaluations.

    Examples
    --------
    >>> import numpy as np
    >>> def f(v):
    ...     return np.sum(v["x"] ** 2)
    >>> result = gradient(f, {"x": np.array([1.0, 2.0])}, ["x"])
    >>> np.round(result.gradients["x"], 8), result.evaluations
    (array([2., 4.]), 11)
    >>> bool(np.all(result.errors["x"] < 1e-8))  # each value's estimated error
    True
    >>> result = gradient(f, {"x": np.array([1.0, 2.0])}, "x", method="complex")
    >>> result.gradients["x"], result.evaluations
    (array([2., 4.]), 2)
    >>> gradient(f, {"x": np.array([1.0, 2.0])}, ["y"])
    Traceback (most recent call last):
        ...
    symgrad.errors.UnknownNameError: unknown name 'y' in wrt; the values are named: 'x'
    >>> gradient(f, {"x": np.array([1, 2])}, ["x"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    symgrad.errors.DTypeError: parameter 'x' has integer dtype int64; ...: pass x.astype(float)
    """
    _check_method(method)
    names = _check_names(values, wrt)
    bases = {name: as_float_array(name, values[name], copy=False) for name in names}  # only read
    adaptive = _adaptive_names(names, method, step)
    total = _count(bases, method, adaptive)
    complex_input = method == "complex"
    works = _working_copies(bases, complex_input=complex_input)
    evaluate = _Evaluator(f, _inputs(values, works), total=total, complex_input=complex_input, progress=progress)
    # f(v): the scale of the default steps and of the rounding floor, and a point of the central stencil.
    at_point = 0.0 if complex_input else evaluate.real(("the point", -1, ""))
    steps = _resolve_steps(bases, method, step, abs(at_point))
    sweep = _SWEEPS[method]
    gradients: dict[str, FloatArray] = {}
    used: dict[str, FloatArray] = {}
    errors: dict[str, FloatArray] = {}
    with _complex_warnings_as_errors(on=complex_input):
        for name in names:
            real_before = evaluate.real_outputs
            chosen = _sweep_adaptive if name in adaptive else sweep
            grad, taken, error = chosen(evaluate, name, bases[name], works[name], steps[name], at_point)
            gradients[name], used[name], errors[name] = grad, taken, error
            if evaluate.real_outputs > real_before:
                probe = _random_direction(np.random.default_rng(0), {name: bases[name]})
                _expose_dropped_imaginary(evaluate, bases, works, probe)
    for name, grad in gradients.items():
        check_finite(f"gradient of {name}", grad)
    return FiniteResult(gradients, evaluate.count, method, used, errors)


# --- checking arguments -------------------------------------------------------


def _check_method(method: str) -> None:
    if method not in METHODS:
        choices = ", ".join(repr(m) for m in METHODS)
        msg = f"unknown finite-difference method {method!r}; choose one of {choices}"
        raise UnknownNameError(msg)


def _check_names(values: Mapping[str, object], wrt: Sequence[str] | str) -> tuple[str, ...]:
    """``wrt`` as a tuple of distinct names, each a key of ``values``."""
    names = (wrt,) if isinstance(wrt, str) else tuple(dict.fromkeys(wrt))
    known = ", ".join(repr(key) for key in values) or "(none)"
    if not names:
        msg = f"wrt names nothing to differentiate with respect to; the values are named: {known}"
        raise UnknownNameError(msg)
    for name in names:
        if name not in values:
            msg = f"unknown name {name!r} in wrt; the values are named: {known}"
            raise UnknownNameError(msg)
    return names


def _resolve_steps(
    bases: Mapping[str, FloatArray],
    method: str,
    step: float | Mapping[str, npt.ArrayLike] | None,
    scale: float = 1.0,
) -> dict[str, FloatArray]:
    """One positive step per element: the user's where given, else the default (scaled by ``|f(v)|``)."""
    if step is None or isinstance(step, Mapping):
        given: Mapping[str, npt.ArrayLike] = step or {}
        for name in given:
            if name not in bases:
                known = ", ".join(repr(key) for key in bases)
                msg = f"step names {name!r}, which is not in wrt ({known})"
                raise UnknownNameError(msg)
    else:
        given = dict.fromkeys(bases, step)
    steps = {}
    for name, base in bases.items():
        if name not in given:
            steps[name] = default_step(base, method, scale=scale)
            continue
        label = f"step for {name}"
        value = as_float_array(label, given[name])
        try:
            steps[name] = np.array(np.broadcast_to(value, base.shape))
        except ValueError as exc:
            msg = f"{label!r} has shape {value.shape}; it must fit {name!r} of shape {base.shape}"
            raise ShapeError(msg) from exc
        if np.any(steps[name] <= 0):
            msg = f"{label!r} must be positive; got {given[name]!r}"
            raise SymgradError(msg)
    return steps


def _largest_magnitude(value: FloatArray) -> float:
    """max |v| without the temporary array that np.abs would allocate."""
    return max(float(value.max()), -float(value.min()))  # methods: no np.max dispatch per call


# --- calling f ----------------------------------------------------------------


def _working_copies(bases: Mapping[str, FloatArray], *, complex_input: bool) -> dict[str, np.ndarray]:
    """The arrays ``f`` sees, perturbed in place between calls; C order so reshape is a view."""
    dtype = np.complex128 if complex_input else np.float64
    return {name: np.array(base, dtype=dtype, order="C") for name, base in bases.items()}


def _inputs(values: Mapping[str, object], works: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What ``f`` sees: the working copies and the other values, every array read-only."""
    inputs: dict[str, Any] = {}
    for key, value in values.items():
        source = works.get(key, value)
        if isinstance(source, np.ndarray):
            source = source.view()  # a view, so the caller's array keeps its own flags
            source.flags.writeable = False
        inputs[key] = source
    return inputs


class _Evaluator:
    """Calls ``f``, counts the calls, reports progress, turns the output into a number."""

    def __init__(
        self,
        f: Objective,
        inputs: dict[str, Any],
        *,
        total: int,
        complex_input: bool,
        progress: Progress | None = None,
    ) -> None:
        self.f = f
        self.inputs = inputs
        self.total = total
        self.progress = progress
        self.count = 0
        self.complex_input = complex_input
        self.real_outputs = 0  # complex input, yet f returned a real number
        self._stride = max(1, total // 100)
        self._next_report = min(self._stride, total)

    def real(self, where: tuple[str, int, str]) -> float:
        value = self._call(where)
        if value.dtype.kind == "c":
            if value.imag != 0 and not self.complex_input:
                where_text = self._describe(where)
                msg = f"f returned the complex number {value.item()} at {where_text}; expected a real"
                raise DTypeError(msg)
            value = value.real
        return float(value)

    def complex(self, where: tuple[str, int, str]) -> complex:
        value = self._call(where)
        if value.dtype.kind != "c":
            self.real_outputs += 1
        return complex(value)

    def _call(self, where: tuple[str, int, str]) -> np.ndarray:
        self.count += 1
        try:
            out = self.f(dict(self.inputs))
        except SymgradError as exc:
            if not self.complex_input:
                raise  # already a message for the user (from symgrad code inside f)
            raise self._failure(where, exc) from exc
        except Exception as exc:
            raise self._failure(where, exc) from exc
        self._tick()
        value = np.asarray(out)
        if value.size != 1:
            msg = f"f must return a scalar; it returned an array of shape {value.shape} at {self._describe(where)}"
            raise ShapeError(msg)
        if value.dtype.kind not in "iufc":
            msg = f"f must return a number; it returned {value.dtype} at {self._describe(where)}"
            raise DTypeError(msg)
        value = value.reshape(())
        if not np.isfinite(value):
            msg = (
                f"f returned {value.item()} at {self._describe(where)} (evaluation {self.count}); "
                "finite differences need finite values near the point"
            )
            raise NonFiniteError(msg)
        return value

    def _failure(self, where: tuple[str, int, str], exc: Exception) -> LayerError:
        what = f"f raised {type(exc).__name__}: {exc} (at {self._describe(where)})"
        if isinstance(exc, ValueError) and "read-only" in str(exc):
            what += "; symgrad passes read-only arrays: copy before writing in place"
        return LayerError(f"{_COMPLEX_NEEDS} (method='central' needs neither): {what}" if self.complex_input else what)

    def _tick(self) -> None:
        if self.progress is not None and self._next_report <= self.count <= self.total:
            self.progress(self.count, self.total)
            self._next_report = min(self.count + self._stride, self.total)
            if self.count == self.total:
                self._next_report = self.total + 1

    def _describe(self, where: tuple[str, int, str]) -> str:
        name, flat, label = where
        if flat < 0:
            return f"{name} {label}".strip()
        shape = np.shape(self.inputs[name])
        if not shape:
            return f"{name} {label}"
        index = ", ".join(str(int(i)) for i in np.unravel_index(flat, shape))
        return f"{name}[{index}] {label}"


@contextmanager
def _complex_warnings_as_errors(*, on: bool) -> Iterator[None]:
    """For the complex step: NumPy's ComplexWarning (imaginary part dropped) becomes an error."""
    if not on:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield


# --- sweeps: one element at a time -----------------------------------------------


def _points(name: str, base: FloatArray, h: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``v + h``, ``v - h``, their exact distance, and the representable step.

    ``h = (v + h) - v`` is the step the floats can actually take, so that the
    difference quotient divides by the distance between the points at which
    ``f`` was evaluated rather than by the ``h`` that was asked for.
    """
    taken = (base + h) - base
    if np.any(taken == 0):
        flat = int(np.flatnonzero(taken == 0)[0])
        msg = (
            f"the step for {name} (element {flat}) is too small to change its value "
            f"{base.reshape(-1)[flat]!r}; use a larger step"
        )
        raise SymgradError(msg)
    up = base + taken
    down = base - taken
    return up, down, up - down, taken


def _rounding(method: str, values: FloatArray, width: float) -> float:
    """The rounding floor of a difference quotient over ``width`` of values of ``f`` near ``values``."""
    return _ROUNDING[method] * _EPS * float(np.max(np.abs(values))) / width


def _sweep_central(
    evaluate: _Evaluator, name: str, base: FloatArray, work: np.ndarray, h: FloatArray, at_point: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    flat = work.reshape(-1)
    origin = base.reshape(-1)
    up, down, width, taken = _points(name, origin, h.reshape(-1))
    far = origin + 2 * taken
    grad, error = np.empty(origin.size), np.empty(origin.size)
    for i in range(origin.size):
        flat[i] = up[i]
        f_up = evaluate.real((name, i, "+ h"))
        flat[i] = down[i]
        f_down = evaluate.real((name, i, "- h"))
        flat[i] = far[i]
        f_far = evaluate.real((name, i, "+ 2h"))
        flat[i] = origin[i]
        grad[i] = (f_up - f_down) / width[i]
        # The 4-point difference on -h, 0, h, 2h is exact for cubics: its distance from the
        # central one is the central one's truncation error (h^2 / 6 times the third derivative).
        cubic = (6 * f_up - 2 * f_down - 3 * at_point - f_far) / (3 * width[i])
        error[i] = abs(grad[i] - cubic) + _rounding("central", np.array([f_up, f_down, f_far]), width[i])
    return grad.reshape(base.shape), taken.reshape(base.shape), error.reshape(base.shape)


def _sweep_adaptive(
    evaluate: _Evaluator, name: str, base: FloatArray, work: np.ndarray, h: FloatArray, at_point: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Central differences at a step chosen per element from a pilot estimate of ``f'''``.

    The pilot stencil ``-H, 0, H, 2H`` at ``H = 8 h`` (``h`` the default step) gives the
    third difference ``f(v + 2H) - 3 f(v + H) + 3 f(v) - f(v - H) = H^3 f''' + O(H^4)``,
    whose rounding noise ``8 eps |f| / H^3`` is 512 times smaller than at ``h``. The
    central difference is then taken at ``h* = c (eps S / |f'''|)^(1/3)`` (``S`` the scale
    of :func:`default_step`), which balances its truncation ``h*^2 |f'''| / 6`` against
    rounding, clipped to ``[h / 8, H]``: 5 evaluations per element, as Stepleman and
    Winarsky or numdifftools choose a step, instead of one step for every element.
    """
    flat = work.reshape(-1)
    origin = base.reshape(-1)
    pilot_up, pilot_down, pilot_width, pilot = _points(name, origin, _PILOT * h.reshape(-1))
    pilot_far = origin + 2 * pilot
    scale = _EPS * min(max(1.0, abs(at_point)), _SCALE_CAP)
    grad, error, taken = np.empty(origin.size), np.empty(origin.size), np.empty(origin.size)
    smallest = h.reshape(-1) / _PILOT
    for i in range(origin.size):
        flat[i] = pilot_up[i]
        p_up = evaluate.real((name, i, "+ H (pilot)"))
        flat[i] = pilot_down[i]
        p_down = evaluate.real((name, i, "- H (pilot)"))
        flat[i] = pilot_far[i]
        p_far = evaluate.real((name, i, "+ 2H (pilot)"))
        third = abs(p_far - 3 * p_up + 3 * at_point - p_down) / pilot[i] / pilot[i] / pilot[i]  # no overflow
        wanted = _ADAPTIVE_FACTOR * np.cbrt(scale / third) if third > 0 else pilot[i]
        chosen = np.array([min(max(wanted, smallest[i]), pilot[i])])
        up, down, width, step = _points(name, origin[i : i + 1], chosen)
        flat[i] = up[0]
        f_up = evaluate.real((name, i, "+ h"))
        flat[i] = down[0]
        f_down = evaluate.real((name, i, "- h"))
        flat[i] = origin[i]
        grad[i], taken[i] = (f_up - f_down) / width[0], step[0]
        # Truncation h^2 |f'''| / 6, from the pilot's f''' and, where f is not a smooth cubic
        # over the pilot's span, from how far the pilot's own central difference lies, scaled
        # to h by h^2 / H^2 (the two agree for a smooth f); plus the rounding floor.
        ratio = min((step[0] / pilot[i]) ** 2, 0.5)
        pilot_central = (p_up - p_down) / pilot_width[i]
        modelled = third * step[0] / 6 * step[0] if third > 0 else 0.0  # in this order: no overflow at 1e200
        truncation = max(modelled, abs(pilot_central - grad[i]) * ratio / (1 - ratio))
        error[i] = truncation + _rounding("central", np.array([f_up, f_down]), width[0])
    return grad.reshape(base.shape), taken.reshape(base.shape), error.reshape(base.shape)


def _sweep_richardson(
    evaluate: _Evaluator, name: str, base: FloatArray, work: np.ndarray, h: FloatArray, at_point: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    del at_point  # the table uses symmetric pairs only
    flat = work.reshape(-1)
    origin = base.reshape(-1)
    levels = [_points(name, origin, h.reshape(-1))]
    levels += [_points(name, origin, levels[0][3] / 2**j) for j in (1, 2)]
    grad, error = np.empty(origin.size), np.empty(origin.size)
    for i in range(origin.size):
        quotients, seen = [], []
        for j, (up, down, width, _) in enumerate(levels):
            flat[i] = up[i]
            f_up = evaluate.real((name, i, f"+ h/{2**j}" if j else "+ h"))
            flat[i] = down[i]
            f_down = evaluate.real((name, i, f"- h/{2**j}" if j else "- h"))
            quotients.append((f_up - f_down) / width[i])
            seen += [f_up, f_down]
        flat[i] = origin[i]
        wide = (4 * quotients[1] - quotients[0]) / 3  # the h^2 terms cancel
        narrow = (4 * quotients[2] - quotients[1]) / 3
        grad[i] = (16 * narrow - wide) / 15  # and the h^4 terms
        error[i] = _table_error(grad[i], narrow, wide) + _rounding("richardson", np.array(seen), levels[0][2][i])
    return grad.reshape(base.shape), levels[0][3].reshape(base.shape), error.reshape(base.shape)


def _table_error(best: float, narrow: float, wide: float) -> float:
    """The truncation error of the table's last entry, from the spread of its column.

    ``|best - narrow|`` is the error of ``narrow`` (as numdifftools estimates it); the
    column converges geometrically, so the next entry is off by that times the ratio
    ``|best - narrow| / |narrow - wide|`` (at most 1).
    """
    spread, previous = abs(best - narrow), abs(narrow - wide)
    return spread if previous <= spread else spread * spread / previous


def _sweep_complex(
    evaluate: _Evaluator, name: str, base: FloatArray, work: np.ndarray, h: FloatArray, at_point: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    del at_point
    flat = work.reshape(-1)
    origin = base.reshape(-1)
    steps = h.reshape(-1)
    grad = np.empty(origin.size)
    for i in range(origin.size):
        flat[i] = complex(origin[i], steps[i])
        grad[i] = evaluate.complex((name, i, "+ ih")).imag / steps[i]
        flat[i] = origin[i]
    # No subtraction, so no cancellation: a few units in the last place of the derivative
    # (the truncation error, h^2 / 6 times the third derivative, vanishes at h = 1e-30).
    # Terms cancel inside f, so an element small beside the others keeps the others' rounding.
    error = 4 * _EPS * (np.abs(grad) + float(np.max(np.abs(grad)))) + np.finfo(np.float64).tiny
    return grad.reshape(base.shape), np.array(h, dtype=np.float64), error.reshape(base.shape)


_Sweep = Callable[
    [_Evaluator, str, FloatArray, np.ndarray, FloatArray, float], tuple[FloatArray, FloatArray, FloatArray]
]
_SWEEPS: dict[str, _Sweep] = {
    "central": _sweep_central,
    "richardson": _sweep_richardson,
    "complex": _sweep_complex,
}


# --- along a direction: the probe for a dropped imaginary part ---------------------------


def _random_direction(rng: np.random.Generator, bases: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """A random unit vector over all names at once, split by name (views of one array).

    Before normalising, the entries are independent and uniform on [-1/2, 1/2):
    for a wide layer, normal variates cost several forward passes (five times
    the uniform ones). Any continuous distribution serves: a fixed error e != 0
    is missed (<e, u> = 0) with probability about 2**-53.
    """
    draws = rng.random(sum(base.size for base in bases.values()))
    draws -= 0.5
    draws /= float(np.sqrt(np.dot(draws, draws)))
    u, start = {}, 0
    for name, base in bases.items():
        u[name] = draws[start : start + base.size].reshape(base.shape)
        start += base.size
    return u


def _central_along(
    evaluate: _Evaluator,
    bases: Mapping[str, FloatArray],
    works: Mapping[str, np.ndarray],
    u: Mapping[str, FloatArray],
    s: float,
) -> float:
    """``(f(v + s u) - f(v - s u)) / 2s``, the working copies restored to ``v`` afterwards."""
    for name in u:
        works[name][...] = bases[name] + s * u[name]
    f_up = evaluate.real(("v", -1, "+ s u"))
    for name in u:
        works[name][...] = bases[name] - s * u[name]
    f_down = evaluate.real(("v", -1, "- s u"))
    for name in u:
        works[name][...] = bases[name]
    return (f_up - f_down) / (2 * s)


def _expose_dropped_imaginary(
    evaluate: _Evaluator,
    bases: Mapping[str, FloatArray],
    works: Mapping[str, np.ndarray],
    u: Mapping[str, FloatArray],
) -> None:
    """Raise if ``f`` returned real numbers for complex input yet depends on the input.

    A real result means the imaginary part was dropped (``float()``, ``.real``,
    ``abs``) or the input was ignored; a real central difference along ``u``
    (2 more evaluations) tells the two apart.
    """
    scale = max(1.0, *(float(np.max(np.abs(bases[name]))) for name in u))
    s = _STEP_FACTOR["central"] * scale
    slope = _central_along(evaluate, bases, works, u, s)
    if slope != 0:
        names = ", ".join(repr(name) for name in u)
        msg = (
            f"{_COMPLEX_NEEDS}: f returned a real number for complex {names}, dropping the "
            "imaginary part (float(), .real, abs() or a cast), although a real step "
            f"changes f at a rate {slope:.3g}"
        )
        raise SymgradError(msg)
