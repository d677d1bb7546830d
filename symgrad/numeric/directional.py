"""The fast check: a claimed gradient against ``f`` along random directions, with an error estimate.

For a direction ``u`` over all parameters at once, ``<grad f, u> = d/ds f(v + s u)``:
a handful of evaluations of ``f`` check a whole claimed gradient. The difference
quotient has its own errors (rounding, about ``eps |f| / h``; truncation, about
``h^2 f''' / 6``; and a kink of ``f`` inside the stencil), so a bare comparison with a
fixed tolerance raises false alarms where ``f`` is large or curved on the scale of the
step. :func:`directional_check` therefore estimates the error of its own difference:

1. a central difference with step ``h`` (2 evaluations); when it agrees with the claim
   within the tolerance plus the rounding floor ``10 eps max(1, |f|) / h``, that is all;
2. otherwise two more levels, ``h/2`` and ``h/4`` (4 more evaluations), and the Richardson
   extrapolations of consecutive levels: the last one is the numeric value, and the
   difference between the last two is its error estimate (at least the rounding floor,
   at most ten times the tolerance, so that a real error of 1e-5 relative or more is
   never explained away as noise).

The claim agrees when ``|numeric - claimed| <= rtol * max(|numeric|, |claimed|) + estimate``.
A kink (a ReLU input changing sign inside the stencil) is for the caller to recognise;
:func:`stencil_ends` gives it the two ends of the widest stencil.

The directions are drawn chunk by chunk (``numpy.random.default_rng`` keyed by the seed,
the direction's number and the name) and never stored whole: each pass over the parameters
draws a chunk, steps the working copy along it and adds its share of ``<claimed, u>``
while the chunk is in cache, so a check costs two passes over the parameters besides the
evaluations of ``f``, and one working copy of memory. The inner product uses the step the
floats actually took, ``fl(v + h u) - v``, so rounding ``v + h u`` is not counted as an error.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symgrad.errors import SymgradError, UnknownNameError
from symgrad.numeric.finite import (
    _COMPLEX_NEEDS,
    _EPS,
    _STEP_FACTOR,
    Objective,
    _check_method,
    _check_names,
    _complex_warnings_as_errors,
    _Evaluator,
    _inputs,
    _largest_magnitude,
)
from symgrad.numeric.validate import as_float_array, check_finite

__all__ = ["DirectionalResult", "directional_check", "stencil_ends"]

FloatArray = npt.NDArray[np.float64]

#: Elements drawn and stepped at a time: 512 KiB of float64, which stays in cache.
CHUNK = 1 << 16
#: The default relative tolerance of the comparison.
RTOL = 1e-6
#: An error estimate is capped at this many times the tolerance (relative to the values compared).
ESTIMATE_CAP = 10.0


@dataclass(frozen=True)
class DirectionalResult:
    """A claimed gradient compared with ``f`` along random directions.

    Attributes
    ----------
    directional : tuple of float
        The numeric directional derivatives ``d/ds f(v + s u)``, one per unit direction ``u``.
    claimed : tuple of float
        The inner products ``<claimed, u>`` with the same directions.
    abs_errors : tuple of float
        ``|directional - claimed|``.
    rel_errors : tuple of float
        ``|directional - claimed| / max(|directional|, |claimed|, tiny)``;
        0 when both are 0, 1 when exactly one is.
    evaluations : int
        How many times ``f`` was called.
    seed : int
        The seed the directions were drawn with.
    method : str
        ``"central"``, ``"richardson"`` or ``"complex"``.
    error_estimates : tuple of float
        The estimated absolute error of each numeric value (see the module docstring).
    rtol : float
        The relative tolerance of :attr:`passed`.
    step : float
        The widest step taken, as a multiple of the unnormalised direction (see :func:`stencil_ends`).
    """

    directional: tuple[float, ...]
    claimed: tuple[float, ...]
    abs_errors: tuple[float, ...]
    rel_errors: tuple[float, ...]
    evaluations: int
    seed: int
    method: str = "central"
    error_estimates: tuple[float, ...] = ()
    rtol: float = RTOL
    step: float = 0.0

    @property
    def max_rel_error(self) -> float:
        """The largest of :attr:`rel_errors`."""
        return max(self.rel_errors)

    @property
    def passed(self) -> bool:
        """True when every direction agrees within ``rtol`` plus its error estimate."""
        estimates = self.error_estimates or (0.0,) * len(self.abs_errors)
        return all(
            _agrees(n, c, e, self.rtol) for n, c, e in zip(self.directional, self.claimed, estimates, strict=True)
        )


def directional_check(
    f: Objective,
    values: Mapping[str, object],
    wrt: Sequence[str] | str,
    claimed: Mapping[str, npt.ArrayLike],
    *,
    directions: int = 1,
    seed: int = 0,
    method: str = "central",
    rtol: float = RTOL,
) -> DirectionalResult:
    """Compare a claimed gradient with ``f`` along random unit directions.

    For each direction ``u`` (one vector over all names in ``wrt`` at once) the
    identity ``<grad f, u> = d/ds f(v + s u)`` is tested: the right side by a finite
    difference along ``u`` (2 evaluations for ``"central"``, 4 for ``"richardson"``,
    1 for ``"complex"``; 4 more for a real difference that disagrees at first, to
    estimate its own error), the left side with the claimed gradient.

    The step along ``u`` is ``c * max(1, max |v|)`` with ``c`` as in
    :func:`symgrad.numeric.finite.default_step`.

    Parameters
    ----------
    f : callable
        ``f(values) -> float``, as for :func:`symgrad.numeric.finite.gradient`.
    values : mapping of str to array_like
        The point.
    wrt : sequence of str
        The names the claimed gradient covers.
    claimed : mapping of str to array_like
        The gradient to check: an array shaped like ``values[name]`` for each
        name in ``wrt`` (other keys are ignored).
    directions : int, optional
        How many random directions to try. Default 1.
    seed : int, optional
        Seed of the random directions. Default 0.
    method : {"central", "richardson", "complex"}, optional
        How to differentiate along ``u``. Default ``"central"``.
    rtol : float, optional
        The relative tolerance of :attr:`DirectionalResult.passed`. Default 1e-6.

    Returns
    -------
    DirectionalResult

    Raises
    ------
    UnknownNameError
        An unknown method, a name in ``wrt`` missing from ``values``, or a
        name in ``wrt`` with no claimed gradient.
    DTypeError, ShapeError, NonFiniteError
        As for :func:`symgrad.numeric.finite.gradient`; also a claimed gradient of the wrong shape.
    LayerError
        ``f`` raised.
    SymgradError
        ``directions`` is not a positive integer, or ``seed`` not a non-negative one.

    Examples
    --------
    >>> import numpy as np
    >>> def f(v):
    ...     return np.sum(v["x"] ** 2)
    >>> x = np.array([1.0, 2.0])
    >>> good = directional_check(f, {"x": x}, ["x"], {"x": 2 * x})
    >>> good.passed, good.max_rel_error < 1e-9, good.evaluations
    (True, True, 2)
    >>> bad = directional_check(f, {"x": x}, ["x"], {"x": x}, directions=3)
    >>> bad.passed, [round(e, 2) for e in bad.rel_errors]
    (False, [0.5, 0.5, 0.5])
    """
    _check_method(method)
    names = _check_names(values, wrt)
    for what, number, least in (("directions", directions, 1), ("seed", seed, 0)):
        if isinstance(number, bool) or not isinstance(number, int | np.integer) or number < least:
            kind = "positive" if least else "non-negative"
            msg = f"{what} must be a {kind} integer, got {number!r}"
            raise SymgradError(msg)
    bases = {name: as_float_array(name, values[name], copy=False) for name in names}  # only read
    grads = _claimed_arrays(claimed, bases)
    size = sum(base.size for base in bases.values())
    scale = max(1.0, *(_largest_magnitude(base) for base in bases.values()))
    # The direction is drawn uniform on [-1/2, 1/2) per element, with norm about sqrt(size / 12):
    # h makes the step about c * scale long, as for a unit direction.
    h = _STEP_FACTOR[method] * scale / math.sqrt(size / 12)
    complex_input = method == "complex"
    works = {name: np.empty(base.shape, dtype=np.complex128 if complex_input else np.float64) for name, base in
             bases.items()}
    evaluate = _Evaluator(f, _inputs(values, works), total=int(directions) * 2, complex_input=complex_input)
    line = _Line(evaluate, bases, works, grads, int(seed))
    found = []
    with _complex_warnings_as_errors(on=complex_input):
        for index in range(int(directions)):
            found.append(_one_direction(line, index, h, method, rtol))
    if not all(math.isfinite(inner) for _, inner, _ in found):
        for name, grad in grads.items():
            check_finite(f"claimed gradient of {name}", grad)  # NaN or inf in the claim: name the element
    numeric, inner, estimates = (tuple(column) for column in zip(*found, strict=True))
    abs_errors = tuple(abs(n - c) for n, c in zip(numeric, inner, strict=True))
    tiny = float(np.finfo(np.float64).tiny)
    rel_errors = tuple(e / max(abs(n), abs(c), tiny) for e, n, c in zip(abs_errors, numeric, inner, strict=True))
    return DirectionalResult(
        numeric, inner, abs_errors, rel_errors, evaluate.count, int(seed), method, estimates, float(rtol), h
    )


def stencil_ends(
    values: Mapping[str, Any], wrt: Sequence[str] | str, seed: int, step: float, index: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ends ``v + step d`` and ``v - step d`` of direction ``index`` (new arrays).

    ``d`` is the unnormalised direction :func:`directional_check` drew with ``seed``
    for ``wrt``, and ``step`` its :attr:`DirectionalResult.step`: a caller looks at
    the ends to tell a kink inside the stencil from a wrong gradient.

    Examples
    --------
    >>> import numpy as np
    >>> up, down = stencil_ends({"x": np.zeros(3), "t": 1.0}, ["x"], seed=0, step=0.1)
    >>> bool(np.all(np.abs(up["x"]) <= 0.05)), bool(np.all(up["x"] == -down["x"])), up["t"]
    (True, True, 1.0)
    """
    names = _check_names(values, wrt)
    ends = []
    for sign in (1.0, -1.0):
        point = dict(values)
        for name in names:
            base = np.asarray(values[name], dtype=np.float64)
            moved = np.array(base, dtype=np.float64, order="C")
            flat = moved.reshape(-1)
            for start, d in _chunks(_rng(seed, index, name), base.size):
                flat[start : start + d.size] += sign * step * d
            point[name] = moved
        ends.append(point)
    return ends[0], ends[1]


# --- one direction ---------------------------------------------------------------------------


def _agrees(numeric: float, claimed: float, estimate: float, rtol: float) -> bool:
    return abs(numeric - claimed) <= rtol * max(abs(numeric), abs(claimed)) + estimate


def _one_direction(line: _Line, index: int, h: float, method: str, rtol: float) -> tuple[float, float, float]:
    """(numeric, claimed, error estimate) along direction ``index``, per unit length of it."""
    if method == "complex":
        value, inner, norm = line.imaginary(index, h)
        return value / norm, inner / norm, 0.0
    levels = [line.central(index, h / 2**j) for j in range(2 if method == "richardson" else 1)]
    norm = line.norm
    if method == "richardson":
        numeric, claimed, floor = _extrapolate(levels[0], levels[1])
    else:
        numeric, claimed, floor = levels[0]
    if _agrees(numeric, claimed, floor, rtol):
        return numeric / norm, claimed / norm, floor / norm
    # Disagreement at the first step: two more levels, and the spread of the last two extrapolations.
    levels += [line.central(index, h / 2**j) for j in range(len(levels), len(levels) + 2)]
    last, before = _extrapolate(levels[-2], levels[-1]), _extrapolate(levels[-3], levels[-2])
    numeric, claimed, floor = last
    spread = abs((last[0] - last[1]) - (before[0] - before[1]))
    cap = ESTIMATE_CAP * rtol * max(abs(numeric), abs(claimed))
    estimate = max(floor, min(2 * spread, cap))
    return numeric / norm, claimed / norm, estimate / norm


def _extrapolate(wide: tuple[float, float, float], narrow: tuple[float, float, float]) -> tuple[float, float, float]:
    """Richardson: (4 D(h/2) - D(h)) / 3 cancels the h^2 term; the claim is combined alike."""
    numeric = (4 * narrow[0] - wide[0]) / 3
    claimed = (4 * narrow[1] - wide[1]) / 3
    return numeric, claimed, (4 * narrow[2] + wide[2]) / 3


class _Line:
    """Steps the working copies along the directions and evaluates ``f`` there."""

    def __init__(
        self,
        evaluate: _Evaluator,
        bases: Mapping[str, FloatArray],
        works: Mapping[str, np.ndarray],
        grads: Mapping[str, FloatArray],
        seed: int,
    ) -> None:
        self.evaluate, self.bases, self.works, self.grads, self.seed = evaluate, bases, works, grads, seed
        self.norm = 1.0  # of the last direction stepped along

    def central(self, index: int, h: float) -> tuple[float, float, float]:
        """``(f(v + h d) - f(v - h d)) / 2h``, ``<claimed, d>`` over the steps taken, and the rounding floor."""
        inner_up = self._step(index, h)
        f_up = self.evaluate.real(("v", -1, f"+ {h:.3g} u"))
        inner_down = self._step(index, -h)
        f_down = self.evaluate.real(("v", -1, f"- {h:.3g} u"))
        floor = 10 * _EPS * max(1.0, abs(f_up), abs(f_down)) / h
        return (f_up - f_down) / (2 * h), (inner_up - inner_down) / (2 * h), floor

    def imaginary(self, index: int, h: float) -> tuple[float, float, float]:
        """``Im f(v + i h d) / h``, ``<claimed, d>`` and the norm of ``d``."""
        inner = self._step(index, h, imaginary=True)
        before = self.evaluate.real_outputs
        value = self.evaluate.complex(("v", -1, "+ i h u"))
        if self.evaluate.real_outputs > before:
            self._expose_dropped_imaginary(index, h)
        return value.imag / h, inner / h, self.norm

    def _step(self, index: int, h: float, *, imaginary: bool = False) -> float:
        """Set the working copies to ``v + h d`` (``v + i h d``); return ``<claimed, step taken>``."""
        inner = norm2 = 0.0
        for name, base in self.bases.items():
            flat_base = base.reshape(-1)
            flat_work = self.works[name].reshape(-1)
            flat_grad = self.grads[name].reshape(-1)
            for start, d in _chunks(_rng(self.seed, index, name), base.size):
                stop = start + d.size
                norm2 += float(np.dot(d, d))
                if imaginary:
                    flat_work[start:stop] = flat_base[start:stop] + 1j * h * d
                    inner += h * float(np.dot(flat_grad[start:stop], d))
                    continue
                d *= h
                up = flat_base[start:stop] + d
                flat_work[start:stop] = up
                np.subtract(up, flat_base[start:stop], out=d)  # the step the floats took
                inner += float(np.dot(flat_grad[start:stop], d))
        self.norm = math.sqrt(norm2) or 1.0
        return inner

    def _expose_dropped_imaginary(self, index: int, h: float) -> None:
        """``f`` returned a real number for complex input: raise unless it ignores the input."""
        slope = self.central(index, _STEP_FACTOR["central"] * h / _STEP_FACTOR["complex"])[0]
        if slope != 0:
            names = ", ".join(repr(name) for name in self.bases)
            msg = (
                f"{_COMPLEX_NEEDS}: f returned a real number for complex {names}, dropping the "
                "imaginary part (float(), .real, abs() or a cast), although a real step "
                f"changes f at a rate {slope:.3g}"
            )
            raise SymgradError(msg)


def _rng(seed: int, index: int, name: str) -> np.random.Generator:
    """The generator of direction ``index`` for ``name``: the same for a name alone or among others."""
    return np.random.default_rng([seed, index, zlib.crc32(name.encode())])


def _chunks(rng: np.random.Generator, size: int) -> Any:
    """(start, entries uniform on [-1/2, 1/2)) chunk by chunk, the same for the same generator."""
    for start in range(0, size, CHUNK):
        d = rng.random(min(CHUNK, size - start))
        d -= 0.5
        yield start, d


def _claimed_arrays(claimed: Mapping[str, npt.ArrayLike], bases: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """The claimed gradients as float64 arrays shaped like the values (finiteness is checked later)."""
    result = {}
    for name, base in bases.items():
        if name not in claimed:
            known = ", ".join(repr(key) for key in claimed) or "(none)"
            msg = f"no claimed gradient for {name!r}; the claimed gradients are named: {known}"
            raise UnknownNameError(msg)
        value = claimed[name]
        if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == base.shape:
            result[name] = value  # only read, chunk by chunk: a NaN shows in the inner product
        else:
            result[name] = as_float_array(f"claimed gradient of {name}", value, expected_shape=base.shape)
    return result
