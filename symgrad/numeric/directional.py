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

A direction is cheap to draw and never stored whole (see :mod:`symgrad.numeric.directions`): each pass over
the parameters forms a chunk of it, steps the working copy along it and (the first time)
adds its share of ``<claimed, d>`` while the chunk is in cache, so a check costs two passes
over the parameters besides the evaluations of ``f``, and one working copy of memory.
Rounding ``v + h d`` to floats moves the point a little off the line; that error (about
``eps |claimed| max|v| / h``) is part of the rounding floor.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symgrad.errors import NonFiniteError, SymgradError, UnknownNameError
from symgrad.numeric.directions import CHUNK, FULL, IID, direction_times_h, serial_dot
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
from symgrad.numeric.scratch import borrow, give_back
from symgrad.numeric.validate import as_float_array, check_finite

__all__ = ["CHUNK", "FULL", "IID", "DirectionalResult", "directional_check", "stencil_ends"]

FloatArray = npt.NDArray[np.float64]

#: The step is scaled by the largest magnitude among this many evenly spaced entries of each array.
SAMPLED = 1 << 13
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

    The step along ``u`` is ``c * max(1, m)`` with ``c`` as in
    :func:`symgrad.numeric.finite.default_step` and ``m`` the largest ``|v|`` among
    :data:`SAMPLED` evenly spaced entries of each array (all entries of a smaller one):
    a pass over every parameter would cost about a forward pass at batch 4. The
    rounding floor of a disagreeing difference uses the true ``max |v|``.

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
    # Only read (C order, so that flat views need no copy).
    bases = {name: _base(name, values[name]) for name in names}
    grads = {name: _c_order(grad) for name, grad in _claimed_arrays(claimed, bases).items()}
    size = sum(base.size for base in bases.values())
    largest = {name: _largest_sampled(base.reshape(-1)) for name, base in bases.items()}
    for name, magnitude in largest.items():
        if not math.isfinite(magnitude):  # NaN or infinity (max and min propagate them)
            as_float_array(name, values[name], copy=False)  # raises, naming the element
    scale = max(1.0, *largest.values())  # about max |v| (see SAMPLED)
    # The entries of a direction have a variance of 1/12 or 1/6 (see symgrad.numeric.directions): h makes the
    # step about c * scale long, as for a unit direction.
    h = _STEP_FACTOR[method] * scale / math.sqrt(size / 8)
    complex_input = method == "complex"
    dtype = np.complex128 if complex_input else np.float64
    works = {name: borrow(base.shape, dtype) for name, base in bases.items()}
    evaluate = _Evaluator(f, _inputs(values, works), total=int(directions) * 2, complex_input=complex_input)
    line = _Line(evaluate, bases, works, grads, int(seed), h)
    found = []
    with _complex_warnings_as_errors(on=complex_input):
        try:
            for index in range(int(directions)):
                found.append(_onedirection_times_h(line, index, method, rtol))
        except NonFiniteError:
            for name in bases:  # a NaN or infinity between the sampled entries: name it
                check_finite(name, bases[name])
            raise
    count = evaluate.count
    give_back(line.buffers)
    del evaluate, line
    _give_back_unshared(works)
    if not all(math.isfinite(inner) for _, inner, _ in found):
        for name, grad in grads.items():
            check_finite(f"claimed gradient of {name}", grad)  # NaN or inf in the claim: name the element
    numeric, inner, estimates = (tuple(column) for column in zip(*found, strict=True))
    abs_errors = tuple(abs(n - c) for n, c in zip(numeric, inner, strict=True))
    tiny = float(np.finfo(np.float64).tiny)
    rel_errors = tuple(e / max(abs(n), abs(c), tiny) for e, n, c in zip(abs_errors, numeric, inner, strict=True))
    return DirectionalResult(
        numeric, inner, abs_errors, rel_errors, count, int(seed), method, estimates, float(rtol), h
    )


def _give_back_unshared(works: dict[str, np.ndarray]) -> None:
    """Give the working copies back to the scratch pool unless ``f`` kept a view of one (its base)."""
    while works:
        _, array = works.popitem()
        # References: ``array`` here and getrefcount's argument; a view that f kept would be a third.
        if sys.getrefcount(array) <= 2:
            give_back((array,))


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
            direction, out = direction_times_h(int(seed), index, name, base.size, step), np.empty(min(CHUNK, base.size))
            for start in range(0, base.size, CHUNK):
                stop = min(start + CHUNK, base.size)
                ufunc = np.add if sign > 0 else np.subtract
                ufunc(flat[start:stop], direction.chunk(start, stop, out), out=flat[start:stop])
            point[name] = moved
        ends.append(point)
    return ends[0], ends[1]


# --- one direction ---------------------------------------------------------------------------


def _agrees(numeric: float, claimed: float, estimate: float, rtol: float) -> bool:
    return abs(numeric - claimed) <= rtol * max(abs(numeric), abs(claimed)) + estimate


def _onedirection_times_h(line: _Line, index: int, method: str, rtol: float) -> tuple[float, float, float]:
    """(numeric, claimed, error estimate) along direction ``index``, per unit length of it."""
    if method == "complex":
        value, inner = line.imaginary(index)
        return value / line.norm(index), inner / line.norm(index), 0.0
    levels = [line.central(index, 0.5**j) for j in range(2 if method == "richardson" else 1)]
    norm = line.norm(index)
    numeric, claimed, floor = _extrapolate(levels[0], levels[1]) if method == "richardson" else levels[0]
    if _agrees(numeric, claimed, floor, rtol):
        return numeric / norm, claimed / norm, floor / norm
    # Rounding v + h d to floats moves each element by up to eps |v| / 2 off the line; summed with the
    # gradient's weights that is about eps |claimed| max|v| (a pass over the claim: only when needed).
    extra = line.rounding_of_steps()
    levels = [(n, c, floor + extra * 2**j) for j, (n, c, floor) in enumerate(levels)]
    numeric, claimed, floor = _extrapolate(levels[0], levels[1]) if method == "richardson" else levels[0]
    if _agrees(numeric, claimed, floor, rtol):
        return numeric / norm, claimed / norm, floor / norm
    # Disagreement at the first step: two more levels, and the spread of the last two extrapolations.
    for j in range(len(levels), len(levels) + 2):
        n, c, floor = line.central(index, 0.5**j)
        levels.append((n, c, floor + extra * 2**j))
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
    """Steps the working copies along the directions (scaled by the step ``h``) and evaluates ``f`` there.

    Derivatives here are along ``h d`` (:meth:`norm` long), the claim is ``<claimed, h d>``.
    """

    def __init__(
        self,
        evaluate: _Evaluator,
        bases: Mapping[str, FloatArray],
        works: Mapping[str, np.ndarray],
        grads: Mapping[str, FloatArray],
        seed: int,
        h: float,
    ) -> None:
        self.evaluate, self.bases, self.works, self.grads = evaluate, bases, works, grads
        self.seed, self.h = seed, h
        self._inner: dict[int, float] = {}
        self._claimed_norm: float | None = None
        self._scale = 1.0
        largest = min(CHUNK, max(base.size for base in bases.values()))
        self.buffers = (borrow(largest), borrow(largest))
        # (name, flat base, flat working copy, flat claim) of each name: formed once, used in every step.
        self._flat = [
            (name, base.reshape(-1), works[name].reshape(-1), grads[name].reshape(-1)) for name, base in bases.items()
        ]

    def central(self, index: int, factor: float) -> tuple[float, float, float]:
        """At step ``factor h``: the central difference, the claim, and the rounding floor of f's values."""
        self._step(index, factor)
        f_up = self.evaluate.real(("v", -1, f"+ {self.h * factor:.3g} u"))
        self._step(index, -factor)
        f_down = self.evaluate.real(("v", -1, f"- {self.h * factor:.3g} u"))
        noise = 10 * _EPS * max(1.0, abs(f_up), abs(f_down))  # ten times eps |f| each, to be safe
        return (f_up - f_down) / (2 * factor), self._inner[index], noise / factor

    def imaginary(self, index: int) -> tuple[float, float]:
        """``Im f(v + i h d)`` and the claim."""
        self._step(index, 1.0, imaginary=True)
        before = self.evaluate.real_outputs
        value = self.evaluate.complex(("v", -1, "+ i h u"))
        if self.evaluate.real_outputs > before:
            self._expose_dropped_imaginary(index)
        return value.imag, self._inner[index]

    def norm(self, index: int) -> float:
        """The length of ``h d``."""
        squares = sum(
            direction_times_h(self.seed, index, name, base.size, self.h).norm2 for name, base in self.bases.items()
        )
        return math.sqrt(squares) or 1.0

    def rounding_of_steps(self) -> float:
        """``eps |claimed| max|v|``: what rounding ``v + h d`` to floats may add to a difference."""
        if self._claimed_norm is None:
            squares = (serial_dot(g.reshape(-1), g.reshape(-1)) for g in self.grads.values())
            self._claimed_norm = math.sqrt(sum(squares))
            # The true max |v| (h took a sampled one): a pass over the point, also only when needed.
            self._scale = max(1.0, *(_largest_in_chunks(base.reshape(-1)) for base in self.bases.values()))
        return _EPS * self._claimed_norm * self._scale

    def _step(self, index: int, factor: float, *, imaginary: bool = False) -> None:
        """Set the working copies to ``v + factor h d`` (or ``v + i h d``); the first time, take ``<claimed, h d>``."""
        first = index not in self._inner
        inner = 0.0
        scaled, summed = self.buffers
        ufunc = np.add if factor > 0 else np.subtract
        for name, flat_base, flat_work, flat_grad in self._flat:
            size = flat_base.size
            direction = direction_times_h(self.seed, index, name, size, self.h)
            if size <= CHUNK and not imaginary and abs(factor) == 1:  # one chunk: the loop below, unrolled
                step = direction.chunk(0, size, summed)
                if first:
                    inner += serial_dot(flat_grad, step)
                ufunc(flat_base, step, out=flat_work)
                continue
            for start in range(0, size, CHUNK):
                stop = min(start + CHUNK, size)
                step = direction.chunk(start, stop, summed)
                if first:
                    inner += serial_dot(flat_grad[start:stop], step)
                if imaginary:
                    flat_work.real[start:stop] = flat_base[start:stop]
                    flat_work.imag[start:stop] = step
                    continue
                if abs(factor) != 1:
                    step = np.multiply(step, abs(factor), out=scaled[: stop - start])  # exact for powers of 2
                ufunc(flat_base[start:stop], step, out=flat_work[start:stop])
        if first:
            self._inner[index] = inner

    def _expose_dropped_imaginary(self, index: int) -> None:
        """``f`` returned a real number for complex input: raise unless it ignores the input."""
        slope = self.central(index, _STEP_FACTOR["central"] / _STEP_FACTOR["complex"])[0]
        if slope != 0:
            names = ", ".join(repr(name) for name in self.bases)
            msg = (
                f"{_COMPLEX_NEEDS}: f returned a real number for complex {names}, dropping the "
                "imaginary part (float(), .real, abs() or a cast), although a real step "
                f"changes f at a rate {slope:.3g}"
            )
            raise SymgradError(msg)


def _largest_sampled(flat: FloatArray) -> float:
    """max |v| over :data:`SAMPLED` evenly spaced entries (all of them in a shorter array), NaN if one is."""
    if flat.size <= SAMPLED:
        return _largest_magnitude(flat)
    return _largest_magnitude(flat[:: flat.size // SAMPLED])


def _largest_in_chunks(flat: FloatArray) -> float:
    """max |v| (NaN if there is one): max and min of each chunk while it is in cache."""
    largest = 0.0
    for start in range(0, flat.size, CHUNK):
        magnitude = _largest_magnitude(flat[start : start + CHUNK])
        if not magnitude <= largest:  # larger, or NaN (which Python's max() would pass over)
            largest = magnitude
            if not math.isfinite(magnitude):
                return magnitude
    return largest


def _base(name: str, value: object) -> FloatArray:
    """``value`` as a C-ordered float64 array to read (finiteness is checked with the scale)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.size:
        return _c_order(value)
    return _c_order(as_float_array(name, value, copy=False))


def _c_order(array: FloatArray) -> FloatArray:
    """``array`` itself when C-ordered, else a C-ordered copy; a 0-d array stays 0-d.

    Regression: ``np.ascontiguousarray`` returns at least 1-d, so a scalar parameter (the
    article's w1) came back with shape (1,) and its claimed gradient, shape (), was refused.
    """
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


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
