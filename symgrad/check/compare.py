"""Comparing two gradients: errors relative to the norm and per element, the worst element."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from symgrad.numeric.scratch import borrow, give_back

__all__ = ["TOLERANCES", "Comparison", "Lazy", "compare", "lazy_fields", "noise_floor", "tolerance"]

_EPS = float(np.finfo(np.float64).eps)

#: Default relative tolerance (relative to the gradient's largest element) by
#: dtype and by what is compared: "exact" is symbolic vs backward (round-off
#: only); the others are the finite-difference method used.
TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"exact": 1e-9, "central": 1e-6, "richardson": 1e-8, "complex": 1e-11, "directional": 1e-6},
    "float32": {"exact": 1e-4, "central": 1e-2, "richardson": 1e-2, "complex": 1e-4, "directional": 1e-2},
    "float16": {"exact": 1e-2, "central": 5e-2, "richardson": 5e-2, "complex": 1e-2, "directional": 5e-2},
}


def tolerance(kind: str, dtype: npt.DTypeLike = "float64", override: float | None = None) -> float:
    """The relative tolerance for comparing with ``kind`` ("exact" or a method).

    Examples
    --------
    >>> tolerance("central"), tolerance("exact", "float32"), tolerance("central", override=1e-3)
    (1e-06, 0.0001, 0.001)
    >>> tolerance("central", "float16")
    0.05
    """
    if override is not None:
        return float(override)
    name = np.dtype(dtype).name
    table = TOLERANCES[name if name in ("float32", "float16") else "float64"]
    return table[kind]


def noise_floor(kind: str, loss: float = 0.0, step: Any = None) -> Any:
    """The gradient scale below which ``kind`` cannot resolve its default tolerance.

    Rounding leaves an absolute error of about ``eps * max(1, |E|)`` in a
    computed gradient (ten times that, to be safe), divided by the step ``h``
    for finite differences, which subtract two nearly equal losses. A gradient
    smaller than that error over the default tolerance, such as one that is
    exactly 0 at a stationary point, has no digits a relative error could
    measure: :func:`compare` measures its error against this floor instead.

    Examples
    --------
    >>> noise_floor("exact") < 1e-5, noise_floor("central", loss=0.5, step=6e-6) < 1e-3
    (True, True)

    Given an array of steps (central differences choose a step per element), the floor is an
    array too, one per entry: :func:`compare` judges each entry against its own.

    >>> noise_floor("central", step=np.array([1e-5, 8e-5])).tolist() == [
    ...     noise_floor("central", step=1e-5), noise_floor("central", step=8e-5)]
    True
    """
    magnitude = abs(float(loss))
    noise = 10 * _EPS * (max(1.0, magnitude) if np.isfinite(magnitude) else 1.0)
    if step is not None and kind in ("central", "richardson", "directional"):
        if np.ndim(step):
            return noise / np.asarray(step, dtype=float) / TOLERANCES["float64"][kind]
        noise /= float(step)
    return noise / TOLERANCES["float64"][kind]


class Lazy:
    """A float field of a frozen dataclass that may be given as a function, called when first read.

    ``compare`` gives the element-wise relative error this way: it takes five more passes
    over both gradients, and pass or fail never reads it (the report shows it in JSON only).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_lazy_{name}"

    def __get__(self, obj: object, owner: type | None = None) -> float:
        if obj is None:
            raise AttributeError(self.slot)  # no default value (see dataclasses' descriptor-typed fields)
        value = obj.__dict__[self.slot]
        if callable(value):
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # a NaN or inf is the value
                value = obj.__dict__[self.slot] = float(value())
        return float(value)

    def __set__(self, obj: object, value: float | Callable[[], float]) -> None:
        obj.__dict__[self.slot] = value

    @staticmethod
    def unread(obj: object, name: str) -> float:
        """Field ``name`` of ``obj`` as stored, to give another lazy field: the function is not called here."""
        return obj.__dict__[f"_lazy_{name}"]  # type: ignore[no-any-return]


_T = TypeVar("_T")


def lazy_fields(*names: str) -> Callable[[type[_T]], type[_T]]:
    """Make the float fields ``names`` of a dataclass :class:`Lazy` (apply below ``@dataclass``).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... @lazy_fields("error")
    ... class Found:
    ...     error: float
    >>> calls = []
    >>> found = Found(lambda: calls.append(1) or 0.5)
    >>> len(calls)  # not computed yet
    0
    >>> found.error, found.error, len(calls)  # computed once, when first read
    (0.5, 0.5, 1)
    >>> Found(0.25).error
    0.25
    """

    def install(cls: type[_T]) -> type[_T]:
        for name in names:
            descriptor = Lazy()
            descriptor.__set_name__(cls, name)
            setattr(cls, name, descriptor)
        return cls

    return install


@dataclass(frozen=True)
@lazy_fields("elem_rel_error")
class Comparison:
    """Two gradients a and b compared.

    ``rel_error`` is max|a - b| over max(max|a|, max|b|): the error relative to
    the gradient's norm (infinity norm), or to ``floor`` when the gradient is
    smaller than that (see :func:`noise_floor`). ``elem_rel_error`` is the largest
    |a - b| / max(|a|, |b|) over elements that are not both negligibly small
    (computed when first read).
    """

    abs_error: float
    rel_error: float
    elem_rel_error: float  # or a function computing it when first read (see Lazy)
    worst_index: tuple[int, ...]

    def passes(self, rtol: float) -> bool:
        """True when the norm-relative error is within ``rtol``."""
        return self.rel_error <= rtol


def compare(a: np.ndarray, b: np.ndarray, floor: Any = 0.0) -> Comparison:
    """Compare two gradients of the same shape; errors are relative to max(norm, ``floor``).

    ``floor`` may be an array of ``a``'s shape (a noise floor per entry, from a step per entry):
    each entry's error is then relative to max(norm, its own floor), so one small step elsewhere
    does not raise the floor of the whole array.

    Examples
    --------
    >>> c = compare(np.array([1.0, 2.0]), np.array([1.0, 2.002]))
    >>> round(c.rel_error, 6), c.worst_index
    (0.000999, (1,))
    >>> compare(np.zeros(2), np.array([0.0, 5e-17])).rel_error  # nothing to be relative to
    1.0
    >>> compare(np.zeros(2), np.array([0.0, 5e-17]), floor=1e-6).rel_error
    5e-11
    >>> compare(np.array([1e-4, 1e-4]), np.array([2e-4, 1e-4]), floor=np.array([1e-3, 1.0])).rel_error
    0.1
    """
    if np.ndim(floor):
        floors = np.asarray(floor, dtype=float)
        return _compare_per_entry(np.asarray(a, dtype=float), np.asarray(b, dtype=float), floors)
    if type(a) is not np.ndarray or a.dtype != np.float64:
        a = np.asarray(a, dtype=float)
    if type(b) is not np.ndarray or b.dtype != np.float64:
        b = np.asarray(b, dtype=float)
    if a.size == 0:
        return Comparison(0.0, 0.0, 0.0, ())
    if a.size > _CHUNK and a.shape == b.shape:
        found = _compare_in_chunks(a, b, floor)
        if found is not None:
            return found
    diff = np.asarray(a - b)  # a 0-d array, not a NumPy scalar, for scalars
    np.abs(diff, out=diff)
    scale = max(_largest_magnitude(a), _largest_magnitude(b))
    flat = int(diff.argmax())
    abs_error = float(diff.flat[flat])
    denominator = max(scale, floor)
    rel = abs_error / denominator if denominator > 0 else 0.0
    worst = tuple(int(i) for i in np.unravel_index(flat, diff.shape)) if diff.ndim != 1 else (flat,)
    later = lambda: _element_relative(a, b, diff, scale)  # noqa: E731
    return Comparison(abs_error, rel, later, worst)  # type: ignore[arg-type]  # a Lazy field


def _compare_per_entry(a: np.ndarray, b: np.ndarray, floor: np.ndarray) -> Comparison:
    """:func:`compare` with a floor per entry: the worst entry is the one worst against its own floor."""
    if a.size == 0:
        return Comparison(0.0, 0.0, 0.0, ())
    diff = np.abs(a - b)
    scale = max(_largest_magnitude(a), _largest_magnitude(b))
    try:
        floors = np.broadcast_to(floor, diff.shape)
    except ValueError:  # a gradient of another shape than its steps: the largest floor, as before
        floors = np.full(diff.shape, float(np.max(floor)))
    denominator = np.maximum(scale, floors)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(denominator > 0, diff / np.where(denominator > 0, denominator, 1.0), 0.0)
    nan = np.isnan(diff)
    flat = int(np.flatnonzero(nan.reshape(-1))[0]) if nan.any() else int(np.asarray(rel).argmax())
    worst = tuple(int(i) for i in np.unravel_index(flat, diff.shape)) if diff.ndim != 1 else (flat,)
    rel_error = float(np.asarray(rel).reshape(-1)[flat]) if not nan.any() else float("nan")
    later = lambda: _element_relative(a, b, diff, scale)  # noqa: E731
    return Comparison(float(diff.reshape(-1)[flat]), rel_error, later, worst)  # type: ignore[arg-type]


#: Large gradients are compared a chunk at a time (256 KiB of float64 per buffer, in cache):
#: each temporary array the size of a gradient costs about as much as a forward pass.
_CHUNK = 1 << 15


def _compare_in_chunks(a: np.ndarray, b: np.ndarray, floor: float) -> Comparison | None:
    """:func:`compare` in one pass over ``a`` and ``b``; None when a value is not finite (the general path says how).

    Each chunk is read from memory once: its difference and the extremes of ``a`` and of the
    difference are reductions over it while it is in cache (max|d| is max(max d, -min d): no
    absolute values); ``b``'s only where they could matter. The element-wise relative error
    waits until it is read.
    """
    flat_a, flat_b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    diff = borrow(min(_CHUNK, flat_a.size))
    try:
        found = _extremes_in_chunks(flat_a, flat_b, diff)
    finally:
        give_back((diff,))
    if found is None:
        return None
    scale, abs_error, worst = found
    denominator = max(scale, floor)
    rel = abs_error / denominator if denominator > 0 else 0.0
    index = tuple(int(k) for k in np.unravel_index(worst, a.shape))
    chunk = _CHUNK
    later = lambda: _element_relative_in_chunks(flat_a, flat_b, scale, chunk)  # noqa: E731
    return Comparison(abs_error, rel, later, index)  # type: ignore[arg-type]  # a Lazy field


def _extremes_in_chunks(flat_a: np.ndarray, flat_b: np.ndarray, diff: np.ndarray) -> tuple[float, float, int] | None:
    """(max(max|a|, max|b|), max|a - b|, its first flat index), or None if a value is not finite.

    ``b``'s extremes are read only where they could exceed ``a``'s: ``|b| <= |a| + |a - b|``,
    so a chunk whose largest ``|a|`` plus twice its largest difference (rounding) stays below
    the largest ``|a|`` cannot hold the largest ``|b|``. Where the two agree to rounding, that
    is one chunk in all. (A NaN or infinity in ``b`` shows as one in ``a - b``.)
    """
    scale, abs_error, worst = 0.0, -1.0, 0
    spans = []  # (start, stop, largest |a|, largest |a - b|) of each chunk
    for start in range(0, flat_a.size, _CHUNK):
        stop = min(start + _CHUNK, flat_a.size)
        chunk_a, d = flat_a[start:stop], diff[: stop - start]
        np.subtract(chunk_a, flat_b[start:stop], out=d)
        extremes = (float(d.max()), float(d.min()), float(chunk_a.max()), float(chunk_a.min()))
        if not all(math.isfinite(x) for x in extremes):  # max and min propagate NaN
            return None
        high, low = extremes[0], extremes[1]
        largest, magnitude = max(high, -low), max(extremes[2], -extremes[3])
        scale = max(scale, magnitude)
        spans.append((start, stop, magnitude, largest))
        if largest > abs_error:  # strictly: the first of equal errors, as np.argmax of |d|
            abs_error = largest
            worst = start + (int(np.argmax(np.abs(d))) if high == -low else
                             int(np.argmax(d)) if high > -low else int(np.argmin(d)))
    bound = scale
    for start, stop, magnitude, largest in spans:
        if largest > 0 and magnitude + 2 * largest >= bound:
            chunk_b = flat_b[start:stop]
            scale = max(scale, float(chunk_b.max()), -float(chunk_b.min()))
    return scale, abs_error, worst


def _element_relative_in_chunks(flat_a: np.ndarray, flat_b: np.ndarray, scale: float, chunk: int) -> float:
    """:func:`_element_relative` a chunk at a time."""
    if scale <= 0:
        return 0.0
    threshold = 1e-8 * scale  # elements below it are negligibly small (see _element_relative)
    diff, big, ratio = np.empty(chunk), np.empty(chunk), np.empty(chunk)
    mask = np.empty(chunk, dtype=bool)
    elem = 0.0
    for start in range(0, flat_a.size, chunk):
        stop = min(start + chunk, flat_a.size)
        n = stop - start
        d, g, r, m = diff[:n], big[:n], ratio[:n], mask[:n]
        np.subtract(flat_a[start:stop], flat_b[start:stop], out=d)
        np.abs(d, out=d)
        if not d.any():
            continue
        np.abs(flat_a[start:stop], out=g)
        np.abs(flat_b[start:stop], out=r)
        np.maximum(g, r, out=g)
        np.greater(g, threshold, out=m)
        np.divide(d, g, out=r, where=m)
        elem = max(elem, float(np.max(r, where=m, initial=0.0)))
    return elem


def _largest_magnitude(a: np.ndarray) -> float:
    # max(|a|) without the temporary array np.abs(a) would make.
    return float(max(a.max(), -a.min()))


def _element_relative(a: np.ndarray, b: np.ndarray, diff: np.ndarray, scale: float) -> float:
    """The largest |a - b| / max(|a|, |b|) over elements not negligibly small next to ``scale``."""
    if scale <= 0 or not diff.any():
        return 0.0
    big = np.asarray(np.abs(a))
    np.maximum(big, np.abs(b), out=big)
    mask = big > 1e-8 * scale
    return float(np.max(diff[mask] / big[mask], initial=0.0))
