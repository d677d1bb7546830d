"""A second look at single elements whose central difference disagreed: Richardson levels and an error estimate.

Where ``f`` curves on a scale shorter than the step (a saturated sigmoid at a large
point, say) a central difference is off by its truncation error, ``h^2 f''' / 6``,
and a correct gradient fails the comparison. :func:`refine` takes three levels
``h``, ``h/2`` and ``h/4`` for each element asked about, extrapolates consecutive
levels (Richardson) and estimates the error of the last extrapolation by its
distance from the one before, as :mod:`symgrad.numeric.directional` does along a
direction. The caller accepts the element when the claim is within the tolerance
plus that estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from symgrad.numeric.finite import _EPS, Objective, _Evaluator, _inputs
from symgrad.numeric.validate import as_float_array

__all__ = ["refine"]

FloatArray = npt.NDArray[np.float64]


def refine(
    f: Objective, values: Mapping[str, object], name: str, indices: npt.ArrayLike, steps: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Richardson-extrapolated derivatives of ``f`` by elements ``indices`` (flat) of ``values[name]``.

    Parameters
    ----------
    f : callable
        ``f(values) -> float``.
    values : mapping of str to array_like
        The point.
    name : str
        The value whose elements are refined.
    indices : array_like of int
        Flat indices of those elements.
    steps : array_like
        The first step for each of them (the central difference's own step).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The derivatives, and the estimated absolute error of each (6 evaluations per element).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda v: float(np.sum(np.sin(300 * v["x"])))
    >>> x = np.array([20.0, -30.0])
    >>> value, error = refine(f, {"x": x}, "x", [0, 1], [1e-3, 1e-3])
    >>> bool(np.all(np.abs(value - 300 * np.cos(300 * x)) <= error)), bool(np.all(error < 1e-3 * 300))
    (True, True)
    """
    shaped = as_float_array(name, values[name])
    base = shaped.reshape(-1)
    work = base.copy()
    evaluate = _Evaluator(f, _inputs(values, {name: work.reshape(shaped.shape)}), total=0, complex_input=False)
    indices = np.asarray(indices, dtype=int).reshape(-1)
    found, estimates = [], []
    for index, step in zip(indices, np.broadcast_to(np.asarray(steps, dtype=float), indices.shape), strict=True):
        levels = [_central(evaluate, work, base, int(index), float(step) / 2**j, name) for j in range(3)]
        wide, narrow = _extrapolate(levels[0], levels[1]), _extrapolate(levels[1], levels[2])
        found.append(narrow[0])
        estimates.append(max(narrow[1], 2 * abs(narrow[0] - wide[0])))
    return np.array(found, dtype=float), np.array(estimates, dtype=float)


def _central(
    evaluate: _Evaluator, work: FloatArray, base: FloatArray, i: int, h: float, name: str
) -> tuple[float, float]:
    """(central difference, its rounding floor) at element ``i`` with step ``h`` as the floats take it."""
    up, down = base[i] + h, base[i] - h
    work[i] = up
    f_up = evaluate.real((name, i, f"+ {h:.3g}"))
    work[i] = down
    f_down = evaluate.real((name, i, f"- {h:.3g}"))
    work[i] = base[i]
    return (f_up - f_down) / (up - down), 20 * _EPS * max(1.0, abs(f_up), abs(f_down)) / (up - down)


def _extrapolate(wide: tuple[float, float], narrow: tuple[float, float]) -> tuple[float, float]:
    return (4 * narrow[0] - wide[0]) / 3, (4 * narrow[1] + wide[1]) / 3
