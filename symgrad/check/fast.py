"""The fast check of a user's layer: each gradient along one random direction, a few forward passes.

``check_layer(..., mode="fast")`` does not sweep every element: for each float input and
each parameter, backward()'s gradient ``g`` is checked through ``<g, u> = d/ds E(v + s u)``
along one seeded random direction ``u`` (:func:`symgrad.numeric.directional.directional_check`,
2 forward passes, 4 more where it disagrees at first), and against the spec's rule entrywise
when there is a spec (no forward pass at all). A kink of forward() inside the stencil (a ReLU
input at 0) is answered as in full mode: the one-sided differences along ``u`` bound the valid
subgradients, and ``<g, u>`` between them is a "subgradient", outside them a failure.

The directional check steps as for float64; for a layer that computes in float32 or float16,
the variable is scaled so that the step is the one that dtype needs (its rounding would drown
a float64-sized step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.check import findings as found
from symgrad.check.compare import Comparison, compare
from symgrad.check.findings import at, index_text
from symgrad.check.report import CheckRow
from symgrad.numeric import finite
from symgrad.numeric.directional import DirectionalResult, directional_check, stencil_ends

if TYPE_CHECKING:
    from symgrad.check.conventions import Run
    from symgrad.check.verdicts import LayerCheck

__all__: list[str] = []  # check_layer's, not an interface of its own

#: Elements where backward() and the spec's rule differ that are looked at one by one for a kink.
MAX_KINK_ELEMENTS = 16
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

    def one_sided(self, result: DirectionalResult, claims: list[np.ndarray]) -> tuple[float, float, list[float]]:
        """The left and right derivatives of E along the unit direction u, and each claim's ``<claim, u>``.

        With E at the centre and at +-h and +-h/2 along the direction, the second differences
        D(h) = a h^2 + k h (a smooth part, a kink's jump k) separate the two: k h = 4 D(h/2) - D(h),
        so the one-sided differences are corrected for the smooth curvature a h^2 / 2.
        """
        ends = [stencil_ends(self.point, (self.name,), result.seed, result.step * f) for f in (1.0, 0.5)]
        centre = float(np.real(self.f(self.point)))
        (high, low), (high2, low2) = ((float(np.real(self.f(up))), float(np.real(self.f(down)))) for up, down in ends)
        self.check.evaluations += 5
        wide, narrow = high - 2 * centre + low, high2 - 2 * centre + low2
        curved = 2 * wide - 4 * narrow  # a h^2
        step = np.asarray(ends[0][0][self.name]) - np.asarray(self.point[self.name])
        norm = float(np.linalg.norm(step)) or 1.0  # per unit length of u, as DirectionalResult's values
        inner = [float(np.vdot(claim * self.scale, step)) / norm for claim in claims]
        return (centre - low + curved / 2) / norm, (high - centre - curved / 2) / norm, inner


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
        verdict = _kinked(line, result, got, sym, dtol)
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


def _kinked(line: Line, result: DirectionalResult, got: np.ndarray, sym: Any,
            rtol: float) -> tuple[str, str] | None:
    """"subgradient" or FAIL when forward() has a kink along the direction (one-sided differences apart), else None."""
    claims = [got] + ([np.asarray(sym, dtype=float)] if sym is not None else [])
    low, high, inner = line.one_sided(result, claims)
    scale = max(abs(low), abs(high), *(abs(i) for i in inner)) or 1.0
    if abs(high - low) <= rtol * scale:  # no jump to speak of: smooth, and the disagreement is real
        return None
    lo, hi = min(low, high), max(low, high)

    def between(value: float) -> bool:
        return lo - rtol * scale <= value <= hi + rtol * scale

    interval = f"[{lo:.6g}, {hi:.6g}]"
    where = (f"d{line.name}: forward() has a kink along the random direction u (the finite-difference stencil "
             f"crosses it): the one-sided derivatives of E along u are {low:.6g} (backward difference) and "
             f"{high:.6g} (forward difference)")
    if not between(inner[0]):
        return "FAIL", f"{where}; <backward(), u> = {inner[0]:.6g}, outside {interval}: not a subgradient"
    if sym is not None and not between(inner[1]):
        return "FAIL", f"{where}; <spec's rule, u> = {inner[1]:.6g}, outside {interval}"
    spec = f" and <spec's rule, u> = {inner[1]:.6g}" if sym is not None else ""
    return "subgradient", f"{where}; <backward(), u> = {inner[0]:.6g}{spec} lie in {interval}: a valid subgradient"

