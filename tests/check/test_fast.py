"""check(mode="fast"): no false alarms at kinks and large points, yet real mistakes still fail.

The mistakes are in both the symbolic rule and the reference backward at once, so that
symbolic and backward agree with each other and only the directional check can see them
(the case finite differences exist for: a forward that is not what the rule differentiates).
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import Affine, HalfSquaredError, Network, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.check.points import sample_values

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
