"""Comparing two gradients: errors relative to the norm and per element, the worst element."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["TOLERANCES", "Comparison", "compare", "noise_floor", "tolerance"]

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


def noise_floor(kind: str, loss: float = 0.0, step: float | None = None) -> float:
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
    """
    magnitude = abs(float(loss))
    noise = 10 * _EPS * (max(1.0, magnitude) if np.isfinite(magnitude) else 1.0)
    if step is not None and kind in ("central", "richardson", "directional"):
        noise /= step
    return noise / TOLERANCES["float64"][kind]


@dataclass(frozen=True)
class Comparison:
    """Two gradients a and b compared.

    ``rel_error`` is max|a - b| over max(max|a|, max|b|): the error relative to
    the gradient's norm (infinity norm), or to ``floor`` when the gradient is
    smaller than that (see :func:`noise_floor`). ``elem_rel_error`` is the largest
    |a - b| / max(|a|, |b|) over elements that are not both negligibly small.
    """

    abs_error: float
    rel_error: float
    elem_rel_error: float
    worst_index: tuple[int, ...]

    def passes(self, rtol: float) -> bool:
        """True when the norm-relative error is within ``rtol``."""
        return self.rel_error <= rtol


def compare(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> Comparison:
    """Compare two gradients of the same shape; errors are relative to max(norm, ``floor``).

    Examples
    --------
    >>> c = compare(np.array([1.0, 2.0]), np.array([1.0, 2.002]))
    >>> round(c.rel_error, 6), c.worst_index
    (0.000999, (1,))
    >>> compare(np.zeros(2), np.array([0.0, 5e-17])).rel_error  # nothing to be relative to
    1.0
    >>> compare(np.zeros(2), np.array([0.0, 5e-17]), floor=1e-6).rel_error
    5e-11
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0:
        return Comparison(0.0, 0.0, 0.0, ())
    if a.size > _CHUNK and a.shape == b.shape:
        found = _compare_in_chunks(a, b, floor)
        if found is not None:
            return found
    diff = np.asarray(a - b)  # a 0-d array, not a NumPy scalar, for scalars
    np.abs(diff, out=diff)
    scale = max(_largest_magnitude(a), _largest_magnitude(b))
    flat = int(np.argmax(diff))
    worst = np.unravel_index(flat, diff.shape)
    abs_error = float(diff.flat[flat])
    denominator = max(scale, floor)
    rel = abs_error / denominator if denominator > 0 else 0.0
    return Comparison(abs_error, rel, _element_relative(a, b, diff, scale), tuple(int(i) for i in worst))


#: Large gradients are compared a chunk at a time (256 KiB of float64 per buffer, in cache):
#: each temporary array the size of a gradient costs about as much as a forward pass.
_CHUNK = 1 << 15


def _compare_in_chunks(a: np.ndarray, b: np.ndarray, floor: float) -> Comparison | None:
    """:func:`compare` in one pass over ``a`` and ``b``; None when a value is not finite (the general path says how)."""
    flat_a, flat_b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
    extremes = (float(flat_a.max()), float(flat_a.min()), float(flat_b.max()), float(flat_b.min()))
    if not all(np.isfinite(x) for x in extremes):  # (Python's max() would pass a NaN over)
        return None
    scale = max(abs(x) for x in extremes)  # reductions: no temporaries
    threshold = 1e-8 * scale  # elements below it are negligibly small (see _element_relative)
    diff, big, ratio = np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK)
    mask = np.empty(_CHUNK, dtype=bool)
    abs_error, worst, elem = -1.0, 0, 0.0
    for start in range(0, flat_a.size, _CHUNK):
        stop = min(start + _CHUNK, flat_a.size)
        n = stop - start
        d, g, r, m = diff[:n], big[:n], ratio[:n], mask[:n]
        np.subtract(flat_a[start:stop], flat_b[start:stop], out=d)
        np.abs(d, out=d)
        largest = float(np.max(d))
        if not np.isfinite(largest):
            return None
        if largest > abs_error:  # strictly: the first of equal errors, as np.argmax
            abs_error, worst = largest, start + int(np.argmax(d))
        if largest == 0:
            continue
        np.abs(flat_a[start:stop], out=g)
        np.abs(flat_b[start:stop], out=r)
        np.maximum(g, r, out=g)
        np.greater(g, threshold, out=m)
        np.divide(d, g, out=r, where=m)
        elem = max(elem, float(np.max(r, where=m, initial=0.0)))
    if not np.isfinite(abs_error):
        return None
    denominator = max(scale, floor)
    rel = abs_error / denominator if denominator > 0 else 0.0
    index = tuple(int(k) for k in np.unravel_index(worst, a.shape))
    return Comparison(abs_error, rel, elem if scale > 0 else 0.0, index)


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
