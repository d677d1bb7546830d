"""Second order: a gradient's derivative along random directions against the loss's own curvature.

A gradient function ``g`` (a compiled symbolic gradient, or a backward pass) is
differentiated along two random unit directions ``u`` and ``w`` by differences
of ``g`` itself, ``H u = (g(v + s u) - g(v - s u)) / 2s`` (a two-level
Richardson table). The reference is independent of ``g``: second differences of
the scalar function ``f`` whose gradient ``g`` claims to be give the quadratic
forms ``u'Hu``, ``w'Hw`` and, by polarisation, ``w'Hu = (Q(u + w) - Q(u - w)) / 4``.
Four comparisons follow: ``<w, H u>`` and ``<u, H w>`` against ``w'Hu`` (so also
the Hessian's symmetry), ``<u, H u>`` against ``u'Hu`` and ``<w, H w>`` against
``w'Hw``. A gradient whose values are right at ``v`` but whose dependence on the
point is wrong (a stale cache, a rule evaluated at another point) fails.

Why differences of ``f`` rather than a symbolic derivative of ``g`` (or a complex
step through the compiled ``g``): both of those differentiate ``g`` itself, so
they would agree with the differences of ``g`` whether ``g`` is right or not; the
loss is the only second-order reference that does not go through ``g``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symgrad.errors import NonFiniteError, ShapeError
from symgrad.numeric.directions import serial_dot
from symgrad.numeric.finite import _EPS, _random_direction
from symgrad.numeric.validate import as_float_array

__all__ = ["HessianComparison", "HessianResult", "hessian_vector_check"]

FloatArray = npt.NDArray[np.float64]
#: ``g(values) -> {name: gradient}``.
GradientFunction = Callable[[dict[str, Any]], Mapping[str, Any]]

# Steps relative to max(1, max |v|): a two-level Richardson table of central differences of g
# (truncation s^4, rounding eps/s: s ~ eps^(1/5)), and of second differences of f (truncation s^4,
# rounding eps/s^2: s ~ eps^(1/6)), eps that of the precision computed in.
# Rounding amplification of the two tables, in units of eps |g| / s and eps |f| / s^2.
_GRADIENT_ROUNDING = 4.0
_LOSS_ROUNDING = 32.0


@dataclass(frozen=True)
class HessianComparison:
    """One second-order quantity two ways: from the gradient's differences and from ``f``'s.

    ``rel_error`` is ``|from_gradient - from_loss|`` over the scale (the larger of
    ``|H u|`` and ``|H w|``); ``estimate`` the two sides' estimated errors over the
    same scale; it passes when ``rel_error <= rtol + estimate``.
    """

    what: str
    from_gradient: float
    from_loss: float
    rel_error: float
    estimate: float
    passed: bool


@dataclass(frozen=True)
class HessianResult:
    """What :func:`hessian_vector_check` measured."""

    comparisons: tuple[HessianComparison, ...]
    u: dict[str, FloatArray]
    w: dict[str, FloatArray]
    hu: dict[str, FloatArray]
    hw: dict[str, FloatArray]
    #: The widest step of the loss's second differences, along u, w, u + w and u - w.
    loss_step: float
    gradient_calls: int
    loss_calls: int
    rtol: float

    @property
    def ok(self) -> bool:
        """True when every comparison passed."""
        return all(c.passed for c in self.comparisons)


def hessian_vector_check(
    f: Callable[[dict[str, Any]], Any],
    g: GradientFunction,
    values: Mapping[str, Any],
    wrt: Sequence[str],
    *,
    seed: int = 0,
    rtol: float = 1e-6,
    eps: float = _EPS,
) -> HessianResult:
    """Check ``g``'s derivative along two random directions against second differences of ``f``.

    Parameters
    ----------
    f : callable
        ``f(values) -> float``.
    g : callable
        ``g(values) -> {name: gradient}``, the claimed gradient of ``f``; its
        entries for ``wrt`` are used.
    values : mapping of str to array_like
        The point; entries not in ``wrt`` are passed through.
    wrt : sequence of str
        The names the directions move.
    seed : int, optional
        Seeds the two directions.
    rtol : float, optional
        Relative tolerance on top of the estimated errors.
    eps : float, optional
        The machine epsilon of the precision ``f`` and ``g`` compute in
        (float32's for a float32 layer): it sets the steps and rounding floors.

    Returns
    -------
    HessianResult
        8 calls of ``g`` and 17 of ``f``, whatever the size.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda v: float(np.sum(np.sin(v["x"])) * v["y"][0])
    >>> g = lambda v: {"x": np.cos(v["x"]) * v["y"][0], "y": np.array([np.sum(np.sin(v["x"]))])}
    >>> values = {"x": np.array([0.3, -1.2]), "y": np.array([2.0])}
    >>> hessian_vector_check(f, g, values, ["x", "y"]).ok
    True
    >>> stale = lambda v: {"x": np.cos(values["x"]) * v["y"][0], "y": g(v)["y"]}  # x's dependence lost
    >>> hessian_vector_check(f, stale, values, ["x", "y"]).ok
    False
    """
    names = tuple(dict.fromkeys(wrt))
    bases = {name: as_float_array(name, values[name]) for name in names}
    rng = np.random.default_rng(seed)
    u, w = _random_direction(rng, bases), _random_direction(rng, bases)
    scale = max(1.0, *(float(np.max(np.abs(base))) for base in bases.values()))

    def at(direction: Mapping[str, FloatArray], s: float) -> dict[str, Any]:
        return {**values, **{name: bases[name] + s * direction[name] for name in names}}

    def gradient_at(point: dict[str, Any]) -> dict[str, FloatArray]:
        found = g(point)
        out = {}
        for name in names:
            value = np.asarray(found[name], dtype=float)
            if value.size != bases[name].size:
                msg = f"the gradient of {name} has shape {value.shape}; {name} has shape {bases[name].shape}"
                raise ShapeError(msg)
            out[name] = value.reshape(bases[name].shape)
        return out

    def loss_at(point: dict[str, Any]) -> float:
        value = float(np.real(f(point)))
        if not np.isfinite(value):
            msg = "f is not finite near the point; a second-order check needs finite values there"
            raise NonFiniteError(msg)
        return value

    hu, hu_error = _along(gradient_at, at, u, eps ** (1 / 5) * scale, eps)
    hw, hw_error = _along(gradient_at, at, w, eps ** (1 / 5) * scale, eps)
    f0 = loss_at(dict(values))
    plus = {name: u[name] + w[name] for name in names}
    minus = {name: u[name] - w[name] for name in names}
    s = eps ** (1 / 6) * scale
    directions = {"u": u, "w": w, "+": plus, "-": minus}
    quadratic = {key: _quadratic(loss_at, at, d, s, f0, eps) for key, d in directions.items()}
    w_h_u = (quadratic["+"][0] - quadratic["-"][0]) / 4
    w_h_u_error = (quadratic["+"][1] + quadratic["-"][1]) / 4
    # The scale: the products' own size, from either side (a gradient that does not move has H u = 0).
    references = (w_h_u, quadratic["u"][0], quadratic["w"][0])
    size = max(_norm(hu), _norm(hw), *(abs(r) for r in references), np.finfo(np.float64).tiny)
    sides = (
        ("<w, H u>", _dot(w, hu), _norm(hu_error), w_h_u, w_h_u_error),
        ("<u, H w>", _dot(u, hw), _norm(hw_error), w_h_u, w_h_u_error),
        ("<u, H u>", _dot(u, hu), _norm(hu_error), *quadratic["u"]),
        ("<w, H w>", _dot(w, hw), _norm(hw_error), *quadratic["w"]),
    )
    comparisons = []
    for what, claimed, claimed_error, reference, reference_error in sides:
        rel = abs(claimed - reference) / size
        estimate = min((claimed_error + reference_error) / size, 10 * rtol)  # capped, as the first-order check
        comparisons.append(HessianComparison(what, claimed, reference, rel, estimate, rel <= rtol + estimate))
    return HessianResult(tuple(comparisons), u, w, hu, hw, s, gradient_calls=8, loss_calls=17, rtol=rtol)


def _along(
    gradient_at: Callable[[dict[str, Any]], dict[str, FloatArray]],
    at: Callable[[Mapping[str, FloatArray], float], dict[str, Any]],
    direction: Mapping[str, FloatArray],
    s: float,
    eps: float,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """``H d`` by a two-level Richardson table of central differences of the gradient, and its error estimate."""
    levels = []
    for step in (s, s / 2):
        up, down = gradient_at(at(direction, step)), gradient_at(at(direction, -step))
        levels.append(({name: (up[name] - down[name]) / (2 * step) for name in up}, up, down))
    (wide, up, down), (narrow, _, _) = levels
    best, errors = {}, {}
    for name in wide:
        best[name] = (4 * narrow[name] - wide[name]) / 3
        rounding = _GRADIENT_ROUNDING * eps * np.maximum(np.abs(up[name]), np.abs(down[name])) / s
        errors[name] = np.abs(best[name] - narrow[name]) + rounding
    return best, errors


def _quadratic(
    loss_at: Callable[[dict[str, Any]], float],
    at: Callable[[Mapping[str, FloatArray], float], dict[str, Any]],
    direction: Mapping[str, FloatArray],
    s: float,
    f0: float,
    eps: float,
) -> tuple[float, float]:
    """``d'Hd`` by second differences of ``f`` (two Richardson levels), and its error estimate."""
    levels = []
    for step in (s, s / 2):
        levels.append((loss_at(at(direction, step)) - 2 * f0 + loss_at(at(direction, -step))) / step**2)
    best = (4 * levels[1] - levels[0]) / 3
    return best, abs(best - levels[1]) + _LOSS_ROUNDING * eps * max(1.0, abs(f0)) / s**2


def _dot(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> float:
    return float(sum(serial_dot(a[name].reshape(-1), b[name].reshape(-1)) for name in a))


def _norm(a: Mapping[str, FloatArray]) -> float:
    return float(np.sqrt(sum(serial_dot(value.reshape(-1), value.reshape(-1)) for value in a.values())))
