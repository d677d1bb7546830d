"""The fast check of a user's layer: each gradient along one random direction, a few forward passes.

``check_layer(..., mode="fast")`` does not sweep every element: for each float input and
each parameter, backward()'s gradient ``g`` is checked through ``<g, u> = d/ds E(v + s u)``
along one seeded random direction ``u`` (:func:`symgrad.numeric.directional.directional_check`,
2 forward passes, 4 more where it disagrees at first), and against the spec's rule entrywise
when there is a spec (no forward pass at all). A kink of forward() inside the stencil (a ReLU
input at 0) is answered as in full mode, by one-sided derivatives: ``u`` is split in halves while
a part crosses a kink, until each element on a kink is alone and judged against its own
one-sided derivatives ("subgradient" between them, FAIL outside), and every part without a kink
is checked strictly (at most :data:`MAX_SPLIT_EVALUATIONS` forward passes, then "kink": not
verified).

The directional check steps as for float64; for a layer that computes in float32 or float16,
the variable is scaled so that the step is the one that dtype needs (its rounding would drown
a float64-sized step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.check import findings as found
from symgrad.check import kinks
from symgrad.check.compare import Comparison, compare
from symgrad.check.findings import at, index_text
from symgrad.check.report import CheckRow
from symgrad.numeric import finite
from symgrad.numeric.directional import DirectionalResult, directional_check, stencil_ends
from symgrad.numeric.directions import serial_dot

if TYPE_CHECKING:
    from symgrad.check.conventions import Run
    from symgrad.check.verdicts import LayerCheck

__all__: list[str] = []  # check_layer's, not an interface of its own

#: Elements where backward() and the spec's rule differ that are looked at one by one for a kink.
MAX_KINK_ELEMENTS = 16
#: Forward passes spent splitting a direction that crosses several kinks before giving up.
MAX_SPLIT_EVALUATIONS = 160
#: The most the step of the one-sided differences along u grows where E's rounding would drown a kink.
MAX_WIDENING = 64.0
_PAIR = "numeric vs backward (random direction)"


class Line:
    """Gradient ``name`` of a layer check along its random direction, in the step its dtype needs."""

    def __init__(self, check: LayerCheck, name: str) -> None:
        self.check, self.name = check, name
        self.energy = check.objective(check.douts)
        factors = check.step_factors(name)
        # v = scale * w: directional_check steps w as for float64, so v moves by the dtype's step.
        self.scale = 1.0 if factors is None else factors[check.method] / finite._STEP_FACTOR[check.method]
        base = {**check.inputs, **check.values}
        self.point = {**base, name: base[name] / self.scale}

    def f(self, v: Mapping[str, Any]) -> Any:
        return self.energy({**v, self.name: np.asarray(v[self.name]) * self.scale})

    def test(self, claimed: np.ndarray) -> DirectionalResult:
        result = directional_check(self.f, self.point, (self.name,), {self.name: claimed * self.scale},
                                   seed=self.check.seed, method=self.check.method,
                                   rtol=self.check.tolerance("directional"))
        self.check.evaluations += result.evaluations
        return result

    def sides(self, part: np.ndarray, vec: np.ndarray, centre: float) -> tuple[float, float]:
        """The left and right differences of E over the step ``vec`` restricted to the elements ``part``
        (flat indices), extrapolated from full and half steps so that the smooth curvature cancels."""
        base = np.asarray(self.point[self.name], dtype=float)
        step = np.zeros(base.size)
        step[part] = vec[part]
        at = {}
        for fraction in (-1.0, -0.5, 0.5, 1.0):
            moved = base + fraction * step.reshape(base.shape)
            at[fraction] = float(np.real(self.f({**self.point, self.name: moved})))
        self.check.evaluations += 4
        left = 4 * (centre - at[-0.5]) - (centre - at[-1.0])
        right = 4 * (at[0.5] - centre) - (at[1.0] - centre)
        return left, right


def fast_row(check: LayerCheck, name: str, sym: Any, got: np.ndarray, main: Run) -> CheckRow:
    """The row of gradient ``name``: backward() along a random direction, and against the spec entrywise."""
    exact, dtol = check.tolerance("exact"), check.tolerance("directional")
    line = Line(check, name)
    result = line.test(got)
    along = Comparison(result.max_rel_error, result.max_rel_error, result.abs_errors[0], ())
    pairs: dict[str, tuple[Comparison, float]] = {_PAIR: (along, dtol)}
    if sym is not None:
        pairs = {"backward vs symbolic": (compare(got, sym), exact), **pairs}
    worst_pair = max(pairs, key=lambda p: pairs[p][0].rel_error / pairs[p][1])
    worst = pairs[worst_pair][0]
    status, message, diagnosis = "ok", "", ""
    if sym is not None and not pairs["backward vs symbolic"][0].passes(exact):  # a kink's convention, or wrong
        status, message = _kinks_between(check, name, got, sym) or (
            "FAIL", _symbolic_disagreement(check, name, got, sym, pairs["backward vs symbolic"][0]))
    if not result.passed and status == "FAIL":
        message += "; " + _disagreement(check, name, result)
    elif not result.passed:
        verdict = _kinked(line, result, got, sym, dtol, _noise(check, main))
        if verdict is not None:
            if verdict[0] == "FAIL" or status == "ok":  # an element's subgradient message says more
                status, message = verdict
        elif sym is not None and status == "ok" and result.max_rel_error <= check.slightly_other:
            check.notes.append(
                f"d{name}: along a random direction finite differences of your forward() differ from backward() "
                f"by {result.max_rel_error:.2g} (relative), while backward() matches the spec's rule exactly: your "
                "forward() computes a slightly different function from the spec's (a small constant such as 1e-7 "
                "inside a log does this); backward() is right for the spec's function"
            )
        else:
            status, message = "FAIL", _disagreement(check, name, result)
    if status == "FAIL":
        diagnosis = found.diagnosis(check, name, got, sym, None, main) if sym is not None else ""
        if not diagnosis and sym is None:
            message += found.spec_hint(check, main)
    tols = {"exact": exact, "directional": dtol} if sym is not None else {"directional": dtol}
    return CheckRow(name, got.shape, sym, got, None, worst.rel_error, worst.elem_rel_error, worst.abs_error,
                    () if worst_pair == _PAIR else worst.worst_index, worst_pair, tols, status, message, diagnosis)


def _noise(check: LayerCheck, main: Run) -> float:
    """The rounding noise of a difference of E (the layer's dtype, E's size), times the extrapolation's weights.

    Each output is rounded on its own, in the layer's dtype, so the noise of ``E = sum out * dout``
    grows as the root of the sum of squares of ``out * dout``, not as their sum: the sum made the floor
    of a 16x16 float32 ReLU 16 times too high, hid the kink along u and turned it into a false FAIL
    (``test_fast_float32_kink_not_hidden_by_summed_noise``). The float64 sum of E adds its own
    rounding, ``eps64 * sum |out * dout|``.
    """
    try:
        terms = [np.abs(np.asarray(o, dtype=complex if np.iscomplexobj(o) else float) * np.asarray(d, dtype=float))
                 for o, d in zip(main.outs, check.douts, strict=True)]
    except (TypeError, ValueError):
        return 0.0
    rss = float(np.sqrt(sum(float(np.sum(t * t)) for t in terms)))
    total = float(sum(float(np.sum(t)) for t in terms))
    if not (np.isfinite(rss) and np.isfinite(total)):
        return 0.0
    own = float(np.finfo(check.dtype).eps) * max(1.0, rss)
    return 50 * (own + float(np.finfo(np.float64).eps) * total)


def _symbolic_disagreement(check: LayerCheck, name: str, got: np.ndarray, sym: Any, c: Comparison) -> str:
    idx = c.worst_index
    return (f"d{name}{index_text(idx)}: your backward() gives {at(got, idx)}, the spec's rule {at(sym, idx)} "
            f"(backward vs symbolic: relative error {c.rel_error:.3g} > tolerance {check.tolerance('exact'):.0e}, "
            f"{check.dtype})")


def _kinks_between(check: LayerCheck, name: str, got: np.ndarray, sym: Any) -> tuple[str, str] | None:
    """Where backward() and the spec differ at a few elements only, each looked at for a kink (ReLU's 0 or 1)."""
    scale = max(float(np.max(np.abs(got), initial=0.0)), float(np.max(np.abs(sym), initial=0.0))) or 1.0
    indices = [tuple(int(i) for i in idx) for idx in np.argwhere(np.abs(got - sym) > check.tolerance("exact") * scale)]
    if not indices or len(indices) > MAX_KINK_ELEMENTS:
        return None
    base = {**check.inputs, **check.values}
    steps = (check.steps(base) or {}).get(name)
    if steps is None:
        steps = finite.default_step(base[name], check.method)
    return check.kink_at(name, indices, got, sym, np.asarray(steps))


def agrees(check: LayerCheck, name: str, claimed: np.ndarray) -> bool:
    """``claimed`` passes the directional check of gradient ``name`` (used for a reshaped gradient)."""
    return Line(check, name).test(claimed).passed


def _disagreement(check: LayerCheck, name: str, result: DirectionalResult) -> str:
    estimate = result.error_estimates[0] / max(abs(result.directional[0]), abs(result.claimed[0]), 1e-300)
    text = (
        f"d{name}: along a random direction u, <backward(), u> = {result.claimed[0]:.6g} but finite differences of "
        f"your forward() give {result.directional[0]:.6g} (relative error {result.max_rel_error:.3g} > tolerance "
        f"{result.rtol:.0e} plus the difference's estimated error {estimate:.1e}, {check.dtype}): backward() is "
        "wrong; run mode='full' on a smaller x to see which elements"
    )
    return text


def _kinked(line: Line, result: DirectionalResult, got: np.ndarray, sym: Any, rtol: float,
            noise: float) -> tuple[str, str] | None:
    """The verdict when forward() has a kink along the direction (one-sided derivatives apart), else None.

    Along ``u`` the one-sided derivatives bound ``<g, u>`` only where one element sits on a kink,
    and a kink's interval would hide a small error elsewhere. So ``u`` is split in halves (disjoint
    elements) for as long as a part crosses a kink: a part without one is checked strictly (its
    one-sided derivatives agree, and ``<g, u>`` on it must match them), and each element on a kink
    against its own one-sided derivatives. Past :data:`MAX_SPLIT_EVALUATIONS` forward passes it
    gives up and says so (status "kink": not verified).
    """
    claims = [got.reshape(-1)] + ([np.asarray(sym, dtype=float).reshape(-1)] if sym is not None else [])
    up, _ = stencil_ends(line.point, (line.name,), result.seed, result.step)
    vec = (np.asarray(up[line.name], dtype=float) - np.asarray(line.point[line.name], dtype=float)).reshape(-1)
    centre = float(np.real(line.f(line.point)))
    line.check.evaluations += 1
    stack, spent, elements = [np.flatnonzero(vec)], 0, 0
    while stack:
        part = stack.pop()
        left, right = line.sides(part, vec, centre)
        spent += 4
        first = spent == 4
        widen = _widening(left, right, rtol, noise) if first else 1.0
        if widen > 1:  # the dtype's step leaves the differences in E's rounding: a kink's jump would drown
            vec = vec * widen
            left, right = line.sides(part, vec, centre)
            spent += 4
        inner = [serial_dot(claim[part] * line.scale, vec[part]) for claim in claims]
        slack = rtol * max(abs(left), abs(right), *(abs(i) for i in inner)) + noise
        kinked = abs(right - left) > slack
        inside = all(kinks.between(i, left, right, slack) for i in inner)
        if first and not kinked:
            return None  # no kink along u after all: the disagreement is real
        if part.size == 1 and not inside:
            return "FAIL", _element_verdict(line, int(part[0]), float(vec[part[0]]), left, right, claims)
        if part.size == 1 or not kinked:
            elements += part.size == 1 and kinked
            if not inside:
                return "FAIL", _part_verdict(line, part.size, left, right, inner)
            continue
        if spent >= MAX_SPLIT_EVALUATIONS:
            return "kink", _unresolved(line, spent)
        half = part.size // 2
        stack += [part[half:], part[:half]]
    spec = " and the spec's rule's" if sym is not None else ""
    return "subgradient", (
        f"d{line.name}: forward() has a kink along the random direction u (the finite-difference stencil crosses "
        f"it); split into parts, backward()'s{spec} values lie between the one-sided derivatives of each element on "
        f"a kink ({elements} found) and agree with the differences elsewhere: a valid subgradient"
    )


def _widening(left: float, right: float, rtol: float, noise: float) -> float:
    """The power of 2 (at most :data:`MAX_WIDENING`) by which the step grows so that E's rounding ``noise``
    stays below a quarter of the tolerance on the one-sided differences ``left``, ``right``.

    The one-sided differences are extrapolated (exact for a piecewise-linear E), so a wider step costs
    no accuracy; at the float32 step of a 16x16 ReLU the noise was 6% of the differences, a kink's
    jump (1/16 of them) could not be told from it and a correct layer FAILed
    (``test_fast_float32_kink_not_hidden_by_summed_noise``).
    """
    signal = max(abs(left), abs(right))
    if noise <= 0 or signal <= 0 or not np.isfinite(signal):
        return 1.0
    need = 4 * noise / (rtol * signal)
    return float(min(MAX_WIDENING, 2.0 ** np.ceil(np.log2(need)))) if need > 1 else 1.0


def _part_verdict(line: Line, size: int, left: float, right: float, inner: list[float]) -> str:
    return (f"d{line.name}: along a part of the random direction ({size} elements, no kink) the differences of "
            f"your forward() give {(left + right) / 2:.6g}, backward() {inner[0]:.6g} (over the step): backward() "
            "is wrong there; run mode='full' on a smaller x to see which elements")


def _element_verdict(line: Line, flat: int, step: float, left: float, right: float, claims: list[np.ndarray]) -> str:
    """A single element whose claim lies outside its one-sided derivatives, per unit of the element."""
    shape = np.shape(line.point[line.name])
    idx = tuple(int(i) for i in np.unravel_index(flat, shape))
    # per unit of the element: a step of -|step| turns the sides round
    below, above = (left / step, right / step) if step > 0 else (right / step, left / step)
    where = (f"d{line.name}{index_text(idx)}: along this element (found by splitting the random direction) the "
             f"one-sided derivatives are {below:.6g} (backward difference) and {above:.6g} (forward difference)")
    interval = kinks.interval(below, above)
    got = float(claims[0][flat])
    if not kinks.between(got, below, above, 0.0):
        return f"{where}; backward() gives {got:.6g}, outside {interval}: not a subgradient, backward() is wrong there"
    return f"{where}; the spec's rule gives {float(claims[1][flat]):.6g}, outside {interval}"


def _unresolved(line: Line, spent: int) -> str:
    return (f"d{line.name}: forward() has kinks along the random direction u, at several elements; {spent} forward "
            "passes of splitting u did not single them all out, so this gradient is not verified here: run "
            "mode='full' on a smaller x, or check at a point off the kinks")
