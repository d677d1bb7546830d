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
#: ``loss_at(point) -> f(point)``, finite (the loss side of every comparison).
LossAt = Callable[[dict[str, Any]], float]
#: ``at(direction, s) -> the point v + s * direction``.
Stepper = Callable[[Mapping[str, FloatArray], float], dict[str, Any]]

# Steps relative to max(1, max |v|): a two-level Richardson table of central differences of g
# (truncation s^4, rounding eps/s: s ~ eps^(1/5)), and of second differences of f (truncation s^4,
# rounding eps/s^2: s ~ eps^(1/6)), eps that of the precision computed in.
# Rounding amplification of the two tables, in units of eps |g| / s and eps |f| / s^2.
_GRADIENT_ROUNDING = 4.0
_LOSS_ROUNDING = 32.0
#: Calls of f that :func:`_kinked` makes: second differences at three steps, two new points each.
_KINK_CALLS = 6


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
    #: Set when a comparison failed: f has a kink within a loss stencil (second differences at steps
    #: s, s/2 and s/4 disagree), where second derivatives are not defined and the check says nothing.
    kinked: bool = False

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
        8 calls of ``g`` and 17 of ``f``, whatever the size; when a comparison fails, 6 more of
        ``f`` per stencil direction looked at for a kink (u, w, u + w, u - w in turn, until one has
        one: at most 24), to tell a kink within the stencils from a wrong gradient: ``kinked``.

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

    hu, hu_error, hu_rounding = _along(gradient_at, at, u, eps ** (1 / 5) * scale, eps)
    hw, hw_error, hw_rounding = _along(gradient_at, at, w, eps ** (1 / 5) * scale, eps)
    f0 = loss_at(dict(values))
    plus = {name: u[name] + w[name] for name in names}
    minus = {name: u[name] - w[name] for name in names}
    s = eps ** (1 / 6) * scale
    directions = {"u": u, "w": w, "+": plus, "-": minus}
    quadratic = {key: _quadratic(loss_at, at, d, s, f0, eps) for key, d in directions.items()}
    w_h_u = (quadratic["+"][0] - quadratic["-"][0]) / 4
    w_h_u_error = (quadratic["+"][1] + quadratic["-"][1]) / 4
    w_h_u_rounding = (quadratic["+"][2] + quadratic["-"][2]) / 4
    # The scale: the products' own size, from either side (a gradient that does not move has H u = 0).
    references = (w_h_u, quadratic["u"][0], quadratic["w"][0])
    size = max(_norm(hu), _norm(hw), *(abs(r) for r in references), np.finfo(np.float64).tiny)
    sides = (
        ("<w, H u>", _dot(w, hu), _norm(hu_error), _norm(hu_rounding), w_h_u, w_h_u_error, w_h_u_rounding),
        ("<u, H w>", _dot(u, hw), _norm(hw_error), _norm(hw_rounding), w_h_u, w_h_u_error, w_h_u_rounding),
        ("<u, H u>", _dot(u, hu), _norm(hu_error), _norm(hu_rounding), *quadratic["u"]),
        ("<w, H w>", _dot(w, hw), _norm(hw_error), _norm(hw_rounding), *quadratic["w"]),
    )
    comparisons = []
    for what, claimed, claimed_error, claimed_rounding, reference, reference_error, reference_rounding in sides:
        rel = abs(claimed - reference) / size
        estimate = min((claimed_error + reference_error) / size, 10 * rtol)  # capped, as the first-order check
        # Both sides within their rounding of each other: a Hessian that is zero along the directions (a
        # linear or piecewise-linear f, such as ReLU away from its kinks) leaves only rounding to compare.
        level = abs(claimed - reference) <= claimed_rounding + reference_rounding
        comparisons.append(HessianComparison(what, claimed, reference, rel, estimate, rel <= rtol + estimate or level))
    loss_calls, kinked = 17, False
    if not all(c.passed for c in comparisons):  # a kink within a stencil, or a real disagreement?
        for d in directions.values():  # until one has a kink: each look costs _KINK_CALLS
            loss_calls += _KINK_CALLS
            if _kinked(loss_at, at, d, s, f0, eps):
                kinked = True
                break
    return HessianResult(
        tuple(comparisons), u, w, hu, hw, s, gradient_calls=8, loss_calls=loss_calls, rtol=rtol, kinked=kinked
    )


def _along(
    gradient_at: Callable[[dict[str, Any]], dict[str, FloatArray]],
    at: Stepper,
    direction: Mapping[str, FloatArray],
    s: float,
    eps: float,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray], dict[str, FloatArray]]:
    """``H d`` by a two-level Richardson table of central differences of the gradient, its error estimate, and
    the rounding part of that estimate."""
    levels = []
    for step in (s, s / 2):
        up, down = gradient_at(at(direction, step)), gradient_at(at(direction, -step))
        levels.append(({name: (up[name] - down[name]) / (2 * step) for name in up}, up, down))
    (wide, up, down), (narrow, _, _) = levels
    best, errors, roundings = {}, {}, {}
    for name in wide:
        best[name] = (4 * narrow[name] - wide[name]) / 3
        roundings[name] = _GRADIENT_ROUNDING * eps * np.maximum(np.abs(up[name]), np.abs(down[name])) / s
        errors[name] = np.abs(best[name] - narrow[name]) + roundings[name]
    return best, errors, roundings


def _quadratic(
    loss_at: LossAt,
    at: Stepper,
    direction: Mapping[str, FloatArray],
    s: float,
    f0: float,
    eps: float,
) -> tuple[float, float, float]:
    """``d'Hd`` by second differences of ``f`` (two Richardson levels), its error estimate, and its rounding part."""
    levels = [_second_difference(loss_at, at, direction, step, f0) for step in (s, s / 2)]
    best = (4 * levels[1] - levels[0]) / 3
    rounding = _loss_rounding(f0, eps, s)
    return best, abs(best - levels[1]) + rounding, rounding


def _loss_rounding(f0: float, eps: float, step: float) -> float:
    """What rounding ``f`` to ``eps`` can add to a second difference of it at ``step``."""
    return _LOSS_ROUNDING * eps * max(1.0, abs(f0)) / step**2


def _second_difference(
    loss_at: LossAt,
    at: Stepper,
    direction: Mapping[str, FloatArray],
    step: float,
    f0: float,
) -> float:
    return (loss_at(at(direction, step)) - 2 * f0 + loss_at(at(direction, -step))) / step**2


def _kinked(
    loss_at: LossAt,
    at: Stepper,
    direction: Mapping[str, FloatArray],
    s: float,
    f0: float,
    eps: float,
) -> bool:
    """True when ``f`` along ``direction`` has a kink within ``s`` of the point.

    Second differences of a smooth ``f`` at steps ``s``, ``s/2`` and ``s/4`` agree up to terms in
    ``s^2``. With a kink at distance ``a < s`` the one at step ``h`` is ``2 c (h - a) / h^2``
    (zero once ``h < a``): it changes with the step by a factor of order one, and no ``a`` makes
    all three agree (``s`` and ``s/2`` agree at ``a = s/3``, where ``s/4`` gives 0).
    """
    levels = [_second_difference(loss_at, at, direction, s / k, f0) for k in (1, 2, 4)]
    rounding = _loss_rounding(f0, eps, s / 4)
    spread = max(levels) - min(levels)
    return spread > 0.25 * max(abs(level) for level in levels) + rounding


def _dot(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> float:
    return float(sum(serial_dot(a[name].reshape(-1), b[name].reshape(-1)) for name in a))


def _norm(a: Mapping[str, FloatArray]) -> float:
    return float(np.sqrt(sum(serial_dot(value.reshape(-1), value.reshape(-1)) for value in a.values())))
