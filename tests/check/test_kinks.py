"""At a kink, backward() is judged against the one-sided derivatives: between them passes, outside fails."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import check_layer


class MaskRelu:
    """DLFS-style ReLU whose mask decides relu'(0): ``x > 0`` gives 0 at the kink, ``x >= 0`` gives 1."""

    def __init__(self, at_zero: float) -> None:
        self.at_zero = at_zero
        self.x: np.ndarray | None = None

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0.0)

    def backward(self, dout):
        assert self.x is not None
        grad = (self.x > 0).astype(float)
        grad[self.x == 0] = self.at_zero
        return dout * grad


class Abs:
    """|x| whose backward takes +1 at 0 (``x >= 0``), as a hand-written sign often does."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, dout):
        return dout * np.where(self.x >= 0, 1.0, -1.0)


def _kinked_x() -> np.ndarray:
    """Away from zero except for two entries exactly at the kink."""
    rng = np.random.default_rng(11)
    x = rng.choice([-1.0, 1.0], size=(3, 4)) * (0.5 + rng.random((3, 4)))
    x[0, 1] = x[2, 3] = 0.0
    return x


@pytest.mark.parametrize("at_zero", [0.0, 1.0])
@pytest.mark.parametrize("spec", [None, symgrad.ReLU()])
def test_relu_mask_convention_at_zero_is_a_subgradient(at_zero, spec):
    report = check_layer(MaskRelu(at_zero), spec, x=_kinked_x(), seed=3)
    row = report.row("x")
    assert row.status == "subgradient", str(report)
    assert report.ok
    assert "one-sided derivatives along this element" in row.message
    assert "a valid subgradient" in row.message
    assert "(1 more element likewise)" in row.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_interval_follows_the_random_dout(seed):
    report = check_layer(MaskRelu(0.0), x=_kinked_x(), seed=seed)
    row = report.row("x")
    dout = report.values["dout"]
    ends = sorted([0.0, float(dout[0, 1])])
    assert f"[{ends[0]:.6g}, {ends[1]:.6g}]" in row.message
    assert row.status == "subgradient"


def test_backward_returning_two_at_the_kink_fails_naming_the_interval():
    dout = np.full((3, 4), 1.5)
    dout[1] = -0.75
    report = check_layer(MaskRelu(2.0), x=_kinked_x(), dout=dout)
    row = report.row("x")
    assert not report.ok
    assert row.status == "FAIL"
    assert row.message.startswith("dx[0, 1]: forward() has a kink here")
    assert "are 0 (backward difference) and 1.5 (forward difference)" in row.message
    assert "backward() gives 3, outside [0, 1.5]: not a subgradient" in row.message
    assert "(1 more element likewise)" in row.message


def test_spec_with_another_convention_at_zero_is_a_subgradient_too():
    # backward() gives relu'(0) = 0, the spec 1: both lie in [0, dout], so neither is wrong
    x = _kinked_x()
    report = check_layer(MaskRelu(0.0), symgrad.ReLU(), x=x, kink=1, seed=4)
    assert report.row("x").status == "subgradient"
    assert "and the spec's" in report.row("x").message


def test_abs_at_zero_sign_is_a_subgradient_and_a_wrong_abs_fails():
    x = _kinked_x()
    assert check_layer(Abs(), x=x, seed=5).row("x").status == "subgradient"

    class WrongAbs(Abs):
        def backward(self, dout):
            return dout * np.where(self.x >= 0, 1.0, -1.0) * np.where(self.x == 0, 3.0, 1.0)  # outside [-|d|, |d|]

    report = check_layer(WrongAbs(), x=x, seed=5)
    assert report.row("x").status == "FAIL"
    assert "not a subgradient" in report.row("x").message


def test_a_wrong_gradient_away_from_the_kink_is_an_ordinary_failure():
    class Leaky(MaskRelu):
        def backward(self, dout):
            return super().backward(dout) + 0.1 * dout * (self.x < 0)  # wrong on the negative side

    report = check_layer(Leaky(0.0), symgrad.ReLU(), x=_kinked_x(), seed=2)
    row = report.row("x")
    assert row.status == "FAIL"
    assert "not a subgradient" not in row.message


def test_the_text_and_html_show_the_subgradient_row():
    report = check_layer(MaskRelu(1.0), x=_kinked_x(), seed=6)
    assert "\nsubgradient dx[0, 1]: forward() has a kink here" in str(report)
    assert 'class="subgradient"' in report.to_html()


class LeakyByMistake(MaskRelu):
    def backward(self, dout):
        return super().backward(dout) + 0.01 * dout * (self.x < 0)  # wrong off the kinks, by a little


def _many_kinks(seed: int) -> np.ndarray:
    """Values rounded to multiples of 0.5: several entries exactly at ReLU's kink."""
    x = np.round(2 * np.random.default_rng(seed).standard_normal((4, 5))) / 2
    assert np.count_nonzero(x == 0) >= 1
    return x


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("seed", range(8))
def test_many_kinks_at_once_no_false_alarm_and_wrong_backwards_caught(mode, seed):
    x = _many_kinks(seed + 100)
    for at_zero in (0.0, 0.5, 1.0):
        for spec in (None, symgrad.ReLU()):
            report = check_layer(MaskRelu(at_zero), spec, x=x, seed=seed, mode=mode)
            assert report.ok, str(report)
            assert report.row("x").status in ("ok", "subgradient")
    for wrong in (MaskRelu(2.0), MaskRelu(-1.0), LeakyByMistake(0.0)):
        report = check_layer(wrong, x=x, seed=seed, mode=mode)
        assert report.row("x").status == "FAIL", (type(wrong).__name__, str(report))


def test_one_sided_derivatives_cost_the_evaluations_the_report_counts() -> None:
    from symgrad.check import kinks

    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(np.abs(v["x"])))

    kinks.one_sided(f, {"x": np.array([0.0, 2.0])}, "x", (0,), 1e-3)
    assert len(calls) == kinks.EVALUATIONS


@pytest.mark.parametrize("value", [0.0, 1.0, 0.5])
def test_the_ends_of_the_one_sided_interval_are_subgradients_too(value) -> None:
    # ReLU's mask gives exactly 0 or exactly 1 at the kink: both ends of [0, 1], both right (with no slack).
    from symgrad.check import kinks

    assert kinks.between(value, 0.0, 1.0, 0.0)
    assert kinks.between(value, 1.0, 0.0, 0.0)
    assert not kinks.between(value + 1.5, 0.0, 1.0, 0.0)
    assert not kinks.between(value - 1.5, 1.0, 0.0, 0.0)
