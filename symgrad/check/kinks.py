"""One-sided derivatives at a kink: what backward() may return where no derivative exists.

At a kink of ``E`` along one element (a ReLU, abs or max input at 0) the derivative does not
exist, but the derivatives from the left and from the right do, and any value between them is
a valid subgradient (ReLU's mask gives 0 or 1 at 0, both right). Each is measured by a one-sided
difference at steps ``h`` and ``h/2``, extrapolated (Richardson) so that the smooth curvature
on that side, an error of ``h E'' / 2``, cancels: exact for a piecewise-linear ``E``, and second
order otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__: list[str] = []  # the checks', not an interface of its own

#: Evaluations of E that :func:`one_sided` makes.
EVALUATIONS = 5


def one_sided(f: Callable[[Mapping[str, Any]], Any], base: Mapping[str, Any], name: str, idx: tuple[int, ...],
              h: float) -> tuple[float, float]:
    """The derivatives of ``f`` from the left and from the right along element ``idx`` of ``name``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda v: float(np.sum(np.abs(v["x"])) + v["x"][0] ** 2)
    >>> left, right = one_sided(f, {"x": np.array([0.0, 2.0])}, "x", (0,), 1e-3)
    >>> round(left, 9), round(right, 9)
    (-1.0, 1.0)
    """
    direction = np.zeros(np.shape(base[name]))
    direction[idx] = 1.0
    return one_sided_along(f, base, name, direction, h)


def one_sided_along(f: Callable[[Mapping[str, Any]], Any], base: Mapping[str, Any], name: str,
                    direction: np.ndarray, h: float) -> tuple[float, float]:
    """The one-sided derivatives of ``f`` along ``direction`` (an array of ``name``'s shape).

    Several kinks together: element by element each of two tied maxima may take the whole gradient, but
    along both at once the max moves by h, not 2h.
    """
    values = {}
    for offset in (-1.0, -0.5, 0.0, 0.5, 1.0):
        moved = {k: np.array(v, dtype=float, copy=True) if k == name else v for k, v in base.items()}
        moved[name] = moved[name] + offset * h * direction
        values[offset] = float(np.real(f(moved)))
    centre = values[0.0]
    left = 2 * (centre - values[-0.5]) / (h / 2) - (centre - values[-1.0]) / h
    right = 2 * (values[0.5] - centre) / (h / 2) - (values[1.0] - centre) / h
    return left, right


def interval(left: float, right: float) -> str:
    """``[lo, hi]`` as a message shows it."""
    return f"[{min(left, right):.6g}, {max(left, right):.6g}]"


def between(value: float, left: float, right: float, slack: float) -> bool:
    """``value`` lies between the one-sided derivatives, give or take ``slack``."""
    return min(left, right) - slack <= value <= max(left, right) + slack
