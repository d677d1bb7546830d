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
#: Past this many tolerances an estimated error calls for a third Richardson level (convergence tested).
_WIDE_ESTIMATE = 10.0
#: Calls of f that :func:`_kinked` makes: second differences at three steps, two new points each.
_KINK_CALLS = 6


@dataclass(frozen=True)
class HessianComparison:
    """One second-order quantity two ways: from the gradient's differences and from ``f``'s.

    ``rel_error`` is ``|from_gradient - from_loss|`` over the scale (the larger of
    ``|H u|`` and ``|H w|``); ``estimate`` the two sides' estimated errors over the
    same scale; it passes when ``rel_error <= rtol + estimate``. ``reliable`` is False
    when a Richardson table behind either side did not converge (its differences did
    not shrink as the step halved): the estimate cannot be trusted either way, and past
    ``rtol`` such a comparison does not pass but is unresolved, not failed.
    """

    what: str
    from_gradient: float
    from_loss: float
    rel_error: float
    estimate: float
    passed: bool
    reliable: bool = True


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

    @property
    def unresolved(self) -> bool:
        """True when comparisons failed but each of them on an estimate that did not converge: the
        differences could not tell at these steps, which is not evidence of a wrong Hessian."""
        failed = [c for c in self.comparisons if not c.passed]
        return bool(failed) and not any(c.reliable for c in failed)


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
        8 calls of ``g`` and 17 of ``f``, whatever the size. Where a disagreement past ``rtol`` meets an
        estimated error above ``10 rtol`` (a steep function: the step is large for its curvature), the tables are taken
        again with a third Richardson level at a quarter of the step (12 more calls of ``g``, 24
        more of ``f``): the estimate then comes from the two finer levels and is trusted only
        where the table converges. A comparison is judged against its estimate however large;
        one whose table does not converge is marked not ``reliable`` (``unresolved``), not wrong.
        When a comparison fails, 6 more of ``f`` per stencil direction looked at for a kink (u, w,
        u + w, u - w in turn, until one has one: at most 24), to tell a kink within the stencils
        from a wrong gradient: ``kinked``.

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

    f0 = loss_at(dict(values))
    plus = {name: u[name] + w[name] for name in names}
    minus = {name: u[name] - w[name] for name in names}
    s = eps ** (1 / 6) * scale
    directions = {"u": u, "w": w, "+": plus, "-": minus}
    comparisons, hu, hw, wide = _compare(gradient_at, loss_at, at, u, w, directions, scale, s, f0, eps, rtol, 2)
    gradient_calls, loss_calls = 8, 17
    if wide:
        # Steep along the directions: a third level says whether the tables converge, and the two finer
        # levels give a better value and an estimate that can be trusted as far as they do.
        comparisons, hu, hw, _ = _compare(gradient_at, loss_at, at, u, w, directions, scale, s, f0, eps, rtol, 3)
        gradient_calls, loss_calls = gradient_calls + 12, loss_calls + 24
    kinked = False
    if not all(c.passed for c in comparisons):  # a kink within a stencil, or a real disagreement?
        for d in directions.values():  # until one has a kink: each look costs _KINK_CALLS
            loss_calls += _KINK_CALLS
            if _kinked(loss_at, at, d, s, f0, eps):
                kinked = True
                break
    return HessianResult(tuple(comparisons), u, w, hu, hw, s, gradient_calls=gradient_calls, loss_calls=loss_calls,
                         rtol=rtol, kinked=kinked)


def _compare(
    gradient_at: Callable[[dict[str, Any]], dict[str, FloatArray]],
    loss_at: LossAt,
    at: Stepper,
    u: dict[str, FloatArray],
    w: dict[str, FloatArray],
    directions: Mapping[str, Mapping[str, FloatArray]],
    scale: float,
    s: float,
    f0: float,
    eps: float,
    rtol: float,
    levels: int,
) -> tuple[list[HessianComparison], dict[str, FloatArray], dict[str, FloatArray], bool]:
    """The four comparisons from Richardson tables of ``levels`` levels (2, or 3 to test convergence), ``H u``,
    ``H w``, and whether a comparison's verdict rests on an estimate wider than ``10 rtol`` (a third level then
    tests that estimate; a disagreement within rtol or at rounding level needs none).

    Each comparison passes when its disagreement is within ``rtol`` plus the two sides' estimated
    errors, however large: the estimate is not capped. (It was capped at ``10 rtol``, as the first-order
    check caps it, and a correct steep loss such as ``sin(100 x) / 1e4`` failed on 3 seeds of 4 with
    errors well inside its estimate: ``test_a_steep_correct_loss_is_judged_by_its_estimate_not_a_cap``.)
    """
    hu, hu_error, hu_rounding, hu_converged = _along(gradient_at, at, u, eps ** (1 / 5) * scale, eps, levels)
    hw, hw_error, hw_rounding, hw_converged = _along(gradient_at, at, w, eps ** (1 / 5) * scale, eps, levels)
    quadratic = {key: _quadratic(loss_at, at, d, s, f0, eps, levels) for key, d in directions.items()}
    w_h_u = (quadratic["+"][0] - quadratic["-"][0]) / 4
    w_h_u_error = (quadratic["+"][1] + quadratic["-"][1]) / 4
    w_h_u_rounding = (quadratic["+"][2] + quadratic["-"][2]) / 4
    mixed = (w_h_u, w_h_u_error, w_h_u_rounding, quadratic["+"][3] and quadratic["-"][3])
    # The scale: the products' own size, from either side (a gradient that does not move has H u = 0).
    references = (w_h_u, quadratic["u"][0], quadratic["w"][0])
    size = max(_norm(hu), _norm(hw), *(abs(r) for r in references), np.finfo(np.float64).tiny)
    sides = (
        ("<w, H u>", _dot(w, hu), _norm(hu_error), _norm(hu_rounding), hu_converged, *mixed),
        ("<u, H w>", _dot(u, hw), _norm(hw_error), _norm(hw_rounding), hw_converged, *mixed),
        ("<u, H u>", _dot(u, hu), _norm(hu_error), _norm(hu_rounding), hu_converged, *quadratic["u"]),
        ("<w, H w>", _dot(w, hw), _norm(hw_error), _norm(hw_rounding), hw_converged, *quadratic["w"]),
    )
    comparisons, wide = [], False
    for (what, claimed, claimed_error, claimed_rounding, claimed_converged,
         reference, reference_error, reference_rounding, reference_converged) in sides:
        rel = abs(claimed - reference) / size
        estimate = (claimed_error + reference_error) / size
        # Both sides within their rounding of each other: a Hessian that is zero along the directions (a
        # linear or piecewise-linear f, such as ReLU away from its kinks) leaves only rounding to compare.
        level = abs(claimed - reference) <= claimed_rounding + reference_rounding
        # An estimate from a table that does not converge vouches for nothing: past rtol, such a comparison
        # neither passes nor fails (not reliable: the result is unresolved).
        reliable = claimed_converged and reference_converged
        passed = level or rel <= rtol or (reliable and rel <= rtol + estimate)
        comparisons.append(HessianComparison(what, claimed, reference, rel, estimate, passed, reliable=reliable))
        wide = wide or (estimate > _WIDE_ESTIMATE * rtol and not (level or rel <= rtol))
    return comparisons, hu, hw, wide


def _along(
    gradient_at: Callable[[dict[str, Any]], dict[str, FloatArray]],
    at: Stepper,
    direction: Mapping[str, FloatArray],
    s: float,
    eps: float,
    levels: int = 2,
) -> tuple[dict[str, FloatArray], dict[str, FloatArray], dict[str, FloatArray], bool]:
    """``H d`` by a Richardson table of central differences of the gradient (steps ``s``, ``s/2``, ...), its
    error estimate, the rounding part of that estimate, and whether the table converges (always True
    for two levels, which cannot tell)."""
    table, ends = [], []
    for k in range(levels):
        step = s / 2**k
        up, down = gradient_at(at(direction, step)), gradient_at(at(direction, -step))
        table.append({name: (up[name] - down[name]) / (2 * step) for name in up})
        ends.append((up, down, step))
    (wide, narrow), (up, down, step) = table[-2:], ends[-2]
    best, errors, roundings = {}, {}, {}
    for name in wide:
        best[name] = (4 * narrow[name] - wide[name]) / 3
        roundings[name] = _GRADIENT_ROUNDING * eps * np.maximum(np.abs(up[name]), np.abs(down[name])) / step
        errors[name] = np.abs(best[name] - narrow[name]) + roundings[name]
    converged = True
    if levels > 2:
        first = _norm({name: table[1][name] - table[0][name] for name in wide})
        second = _norm({name: table[2][name] - table[1][name] for name in wide})
        converged = _converges(first, second, 2 * _norm(roundings))
    return best, errors, roundings, converged


def _converges(first: float, second: float, rounding: float) -> bool:
    """A table's differences between levels shrink as the step halves (by 4 for an ``h^2`` error; at least
    by 2 is asked), or are at rounding level."""
    return second <= 0.5 * first or second <= rounding


def _quadratic(
    loss_at: LossAt,
    at: Stepper,
    direction: Mapping[str, FloatArray],
    s: float,
    f0: float,
    eps: float,
    levels: int = 2,
) -> tuple[float, float, float, bool]:
    """``d'Hd`` by second differences of ``f`` (a Richardson table), its error estimate, its rounding part,
    and whether the table converges (always True for two levels)."""
    table = [_second_difference(loss_at, at, direction, s / 2**k, f0) for k in range(levels)]
    best = (4 * table[-1] - table[-2]) / 3
    rounding = _loss_rounding(f0, eps, s / 2 ** (levels - 2))
    converged = levels < 3 or _converges(abs(table[1] - table[0]), abs(table[2] - table[1]),
                                          _loss_rounding(f0, eps, s / 4))
    return best, abs(best - table[-1]) + rounding, rounding, converged


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
