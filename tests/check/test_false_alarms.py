"""No false alarms at kinks and large points (fast mode, and full mode at large points), yet real mistakes fail.

The mistakes are in both the symbolic rule and the reference backward at once, so that
symbolic and backward agree with each other and only the directional check can see them
(the case finite differences exist for: a forward that is not what the rule differentiates).
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
import symgrad.numeric.finite
from symgrad import Affine, HalfSquaredError, Network, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.check.compare import compare
from symgrad.check.points import sample_values
from symgrad.numeric.reference import reference_loss

MISTAKES = {
    "dropped transpose": (lambda rule: rule.T, lambda grad: grad.T),
    "sign": (lambda rule: -rule, lambda grad: -grad),
    "off by 1e-4 relative": (lambda rule: (1 + 1e-4) * rule, lambda grad: (1 + 1e-4) * grad),
}


def consistently_wrong(mistake: str) -> type[Affine]:
    wrong_rule, wrong_grad = MISTAKES[mistake]

    class WrongAffine(Affine):
        def matrix_vjp(self, upstream, x, params, *, kink=0):
            rules = super().matrix_vjp(upstream, x, params, kink=kink)
            return {**rules, "W": wrong_rule(rules["W"])}

        def backward(self, dout):
            dx = super().backward(dout)
            self.dW = wrong_grad(self.dW)
            return dx

    return WrongAffine


@pytest.mark.parametrize("mistake", list(MISTAKES))
@pytest.mark.parametrize("seed", range(5))
def test_a_mistake_symbolic_and_backward_share_still_fails(mistake, seed):
    net = Network([consistently_wrong(mistake)(4, 4), Tanh(), Affine(4, 3)], loss=HalfSquaredError())
    report = symgrad.check(net, mode="fast", seed=seed)
    assert not report.ok
    row = report.row("W1")
    assert row.status == "FAIL"
    assert row.rel_error <= 1e-9  # symbolic and backward agree: only the direction saw it
    assert "along a random direction the symbolic gradient of W1 disagrees" in row.message
    assert [r.name for r in report.failures] == ["W1"]


def test_a_kink_inside_the_stencil_is_named_not_failed():
    net = Network([Affine(2, 3), ReLU(), Affine(3, 1)], loss=HalfSquaredError())
    values = sample_values(net, seed=0)
    values["x"] = np.zeros_like(values["x"])
    values["b1"] = np.array([0.0, 0.0, 0.5])  # two ReLU inputs exactly 0: relu'(0) is a convention
    report = symgrad.check(net, values, mode="fast")
    assert report.ok, str(report)
    kinks = [row for row in report.rows if row.status == "kink"]
    assert kinks
    assert all("crosses a ReLU kink (in layer 2 (ReLU))" in row.message for row in kinks)
    assert symgrad.check(net, sample_values(net, seed=0), mode="fast").rows[0].status == "ok"


@pytest.mark.parametrize("seed", range(6))
def test_large_points_raise_no_false_alarm(seed):
    net = Network([Affine(5, 6), Sigmoid(), Affine(6, 3), Tanh()], loss=SoftmaxCrossEntropy())
    values = sample_values(net, seed=seed)
    rng = np.random.default_rng(seed)
    large = {name: 10 * rng.standard_normal(np.shape(v)) for name, v in values.items() if name != "t"}
    report = symgrad.check(net, {**values, **large}, mode="fast", seed=seed)
    assert report.ok, str(report)
    assert {row.status for row in report.rows} == {"ok"}


def test_full_mode_takes_a_second_look_where_the_step_is_too_large_for_the_curvature():
    """A saturated sigmoid at a large point: central differences alone are off by 2e-6 relative."""
    spec = "affine(7, 1) > affine(1, 5) > sigmoid > affine(5, 7) > sigmoid > half-squared-error"
    net = symgrad.network_from_spec(spec)
    values = sample_values(net, seed=0, batch=1)
    rng = np.random.default_rng(166785113)
    values = {name: 10.0 * rng.standard_normal(np.shape(value)) for name, value in values.items()}
    report = symgrad.check(net, values)
    assert report.ok, str(report)
    fixed = symgrad.numeric.finite.default_step(values["W1"], "central", scale=float(reference_loss(net, values)))
    coarse = symgrad.numeric.finite.gradient(lambda v: reference_loss(net, v), values, ["W1"], step=fixed)
    assert compare(coarse.gradients["W1"], report.row("W1").symbolic).rel_error > 1e-5  # the alarm it was
    # The curvature-chosen steps are 60x closer; what is left of the error is within its own estimate.
    row = report.row("W1")
    assert row.rel_error < 1e-6 or row.rel_error <= row.numeric_error
    sweep = 5 * sum(np.size(values[name]) for name in net.names if name != "t") + 1
    assert report.evaluations >= sweep


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_full_mode_second_look_does_not_explain_a_mistake_away(mistake):
    net = Network([consistently_wrong(mistake)(4, 4), Tanh(), Affine(4, 3)], loss=HalfSquaredError())
    report = symgrad.check(net, seed=1)
    assert [row.name for row in report.failures] == ["W1"]
