"""check_layer(mode="fast"): each gradient along one random direction; the long-run guard and its progress."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad
from symgrad.check import cost
from symgrad.check.layer import check_layer
from symgrad.errors import ComplexityError, UnknownNameError
from symgrad.numeric import finite


def _load(name: str) -> ModuleType:
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"symgrad_tests_fast_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


catalog = _load("wrong_layers")


def _report(case, seed=0, **extra):
    layer, kwargs = case.make(np.random.default_rng(seed))
    return check_layer(layer, seed=seed, **{**kwargs, **extra})


# -- the catalog in fast mode ------------------------------------------------------------------------


@pytest.mark.parametrize("case", catalog.RIGHT, ids=lambda case: case.name)
def test_right_layers_pass_in_fast_mode_at_ten_points(case):
    for seed in range(10):
        report = _report(case, seed, mode="fast")
        assert report.ok, str(report)
        assert report.mode == "fast"
        assert all(row.numeric is None for row in report.rows)
        assert report.evaluations <= 8 * len(report.rows) + 6, report.evaluations


@pytest.mark.parametrize("case", catalog.WRONG, ids=lambda case: case.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_wrong_layers_fail_in_fast_mode(case, seed):
    report = _report(case, seed, mode="fast")
    assert not report.ok, str(report)
    assert report.row(case.row).status == "FAIL", str(report)


# -- a dropped transpose ----------------------------------------------------------------------------------


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class NoTransposeAffine(Affine):
    def backward(self, dout):
        self.dW = self.x @ dout  # square x and dout: runs, and is wrong
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_mode_passes_a_right_affine_and_names_a_dropped_transpose(seed):
    rng = np.random.default_rng(seed)
    W, b, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal((4, 4))
    assert check_layer(Affine(W, b), symgrad.Affine(4, 4), x=x, seed=seed, mode="fast").ok
    report = check_layer(NoTransposeAffine(W, b), symgrad.Affine(4, 4), x=x, seed=seed, mode="fast")
    assert [row.status for row in report.rows] == ["ok", "FAIL", "ok"], str(report)
    assert report.row("W").diagnosis == "matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout"
    alone = check_layer(NoTransposeAffine(W, b), x=x, seed=seed, mode="fast")
    assert alone.row("W").status == "FAIL"
    assert re.search(r"dW: along a random direction u, <backward\(\), u> = \S+ but finite differences of your "
                     r"forward\(\) give \S+ \(relative error", alone.row("W").message), alone.row("W").message


def test_fast_mode_text_names_the_mode_and_dtype():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer = Affine(rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, dtype=np.float32))
    report = check_layer(layer, symgrad.Affine(3, 2), x=x, mode="fast")
    assert report.ok, str(report)
    text = str(report)
    assert "difference along a random direction" in text
    assert "computed in float32; relative tolerances for float32: exact 1e-04, directional 1e-02" in text


@pytest.mark.parametrize("seed", range(5))
def test_float32_layers_pass_in_fast_mode(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    layer = Affine((rng.standard_normal((16, 8)) / 4).astype(np.float32), rng.standard_normal(8).astype(np.float32))
    report = check_layer(layer, x=x, seed=seed, mode="fast")
    assert report.ok, str(report)
    assert report.dtype == "float32"


def test_unknown_mode_is_refused():
    with pytest.raises(UnknownNameError, match=r"unknown mode 'quick'; choose 'full'"):
        check_layer(Affine(np.eye(2), np.zeros(2)), x=np.ones((2, 2)), mode="quick")


# -- a kink along the direction -------------------------------------------------------------------------


class Relu:
    def __init__(self, at_zero):
        self.at_zero = at_zero

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0.0)

    def backward(self, dout):
        grad = np.where(self.x > 0, 1.0, np.where(self.x == 0, self.at_zero, 0.0))
        return dout * grad


def _at_kinks():
    rng = np.random.default_rng(7)
    x = rng.choice([-1.0, 1.0], size=(4, 5)) * (0.5 + rng.random((4, 5)))
    x[1, 2] = 0.0
    return x


@pytest.mark.parametrize("at_zero", [0.0, 1.0])
def test_fast_mode_relu_at_zero_is_a_subgradient(at_zero):
    report = check_layer(Relu(at_zero), symgrad.ReLU(), x=_at_kinks(), mode="fast")
    row = report.row("x")
    assert report.ok, str(report)
    assert row.status in ("ok", "subgradient")
    if row.status == "subgradient":
        assert "a valid subgradient" in row.message


def test_fast_mode_relu_returning_a_large_value_at_zero_fails():
    report = check_layer(Relu(40.0), x=_at_kinks(), mode="fast")
    row = report.row("x")
    assert row.status == "FAIL", str(report)
    assert row.message.startswith("dx[1, 2]: along this element (found by splitting the random direction) the "
                                  "one-sided derivatives are ")
    assert re.search(r"backward\(\) gives \S+, outside \[\S+, \S+\]: not a subgradient", row.message), row.message


def test_fast_mode_relu_at_zero_against_a_spec_with_another_convention_is_a_subgradient():
    report = check_layer(Relu(1.0), symgrad.ReLU(), x=_at_kinks(), mode="fast")  # spec: relu'(0) = 0
    row = report.row("x")
    assert row.status == "subgradient", str(report)
    assert row.message.startswith("dx[1, 2]: forward() has a kink here")
    assert "and the spec's 0 lie in" in row.message


class TextbookRelu:
    """The textbook ReLU: a mask of x <= 0 kept from forward(), float32 in, float32 out."""

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


@pytest.mark.parametrize("seed", range(3))
def test_fast_float32_kink_not_hidden_by_summed_noise(seed):
    """Regression (bug: a correct float32 ReLU on a 16x16 x with one input at 0 FAILed in fast mode,
    "relative error 0.02-0.3"; a 4x4 x passed). The rounding noise of E was taken as eps32 times the
    sum of |out * dout| over all 256 outputs (not their root sum of squares) and the one-sided
    differences at float32's step were not widened above it, so the kink's jump looked like noise
    and the central difference's disagreement was called real."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 16)).astype(np.float32)
    x[1, 1] = 0
    report = check_layer(TextbookRelu(), x=x, mode="fast", seed=seed)
    row = report.row("x")
    assert report.ok, str(report)
    assert row.status == "subgradient", str(report)
    assert "float32" in str(report)


@pytest.mark.parametrize("seed", range(3))
def test_fast_float32_relu_with_a_wrong_value_off_the_kink_still_fails(seed):
    class Wrong(TextbookRelu):
        def backward(self, dout):
            dx = super().backward(dout)
            dx[3, 4] *= 1.5 if dx[3, 4] != 0 else 0
            dx[3, 5] = dout[3, 5] * 1.5
            return dx

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 16)).astype(np.float32)
    x[1, 1] = 0
    x[3, 5] = 1.0
    row = check_layer(Wrong(), x=x, mode="fast", seed=seed).row("x")
    assert row.status == "FAIL", row.message


@pytest.mark.parametrize("size", [1e-12, 1e8])
def test_fast_mode_names_the_kink_at_any_gradient_scale(size):
    # The elements where backward() and the spec differ are found relative to the gradients' size:
    # with tiny or huge upstream gradients the one element at the kink is still the one looked at.
    dout = size * np.random.default_rng(3).uniform(0.5, 1.5, size=(4, 5))
    report = check_layer(Relu(1.0), symgrad.ReLU(), x=_at_kinks(), mode="fast", dout=dout)
    row = report.row("x")
    assert row.status == "subgradient", str(report)
    assert row.message.startswith("dx[1, 2]: forward() has a kink here")


@pytest.mark.parametrize("with_spec", [True, False])
@pytest.mark.parametrize("where", [(0, 0), (63, 63), (17, 40)])
def test_fast_mode_singles_out_one_kink_among_thousands_of_elements(where, with_spec):
    """Splitting the direction in halves finds one kink among 4096 elements in about 12 rounds, well
    within the budget of forward passes, wherever the kink sits.

    Regression (bug: the count of elements on a kink included the smooth neighbour of the last split,
    so one kink was reported as "2 found").
    """
    rng = np.random.default_rng(9)
    x = rng.choice([-1.0, 1.0], size=(64, 64)) * (0.5 + rng.random((64, 64)))
    x[where] = 0.0
    report = check_layer(Relu(0.0), symgrad.ReLU() if with_spec else None, x=x, mode="fast")
    row = report.row("x")
    assert row.status == "subgradient", str(report)
    assert "on a kink (1 found)" in row.message
    assert ("backward()'s and the spec's rule's values lie between" in row.message) is with_spec


def test_fast_mode_gives_up_on_many_kinks_and_says_the_gradient_is_not_verified():
    rng = np.random.default_rng(11)
    x = rng.choice([-1.0, 1.0], size=(64, 64)) * (0.5 + rng.random((64, 64)))
    x.reshape(-1)[rng.choice(x.size, 200, replace=False)] = 0.0
    report = check_layer(Relu(0.0), symgrad.ReLU(), x=x, mode="fast")
    row = report.row("x")
    assert row.status == "kink", str(report)
    assert "did not single them all out, so this gradient is not verified here" in row.message


# -- a convolution of CIFAR size: refused in full mode, checked in fast mode ------------------------------------


class Conv:
    """A 3x3 convolution, stride 1, padding 1, written naively: one product per kernel offset."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        height, width = x.shape[2:]
        out = np.zeros((x.shape[0], self.W.shape[0], height, width))
        for i in range(3):
            for j in range(3):
                out += np.einsum("nchw,fc->nfhw", self.xp[:, :, i:i + height, j:j + width], self.W[:, :, i, j])
        return out + self.b[None, :, None, None]

    def backward(self, dout):
        height, width = dout.shape[2:]
        dxp = np.zeros_like(self.xp)
        self.dW = np.zeros_like(self.W)
        for i in range(3):
            for j in range(3):
                window = self.xp[:, :, i:i + height, j:j + width]
                dxp[:, :, i:i + height, j:j + width] += np.einsum("nfhw,fc->nchw", dout, self.W[:, :, i, j])
                self.dW[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, window)
        self.db = dout.sum(axis=(0, 2, 3))
        return dxp[:, :, 1:-1, 1:-1]


class UnflippedConv(Conv):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW[:, :, ::-1, ::-1].copy()  # the kernel read back to front
        return dx


def _cifar(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 3, 32, 32))
    return rng.standard_normal((4, 3, 3, 3)) / 5, rng.standard_normal(4), x


def test_the_conv_is_right_on_a_small_input():
    W, b, _ = _cifar()
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 5))
    assert check_layer(Conv(W, b), x=x).ok
    assert check_layer(UnflippedConv(W, b), x=x).row("W").status == "FAIL"


@pytest.mark.parametrize(("params", "what", "forwards"), [
    # 5 evaluations per element (central at its own steps: pilot and pair) and 1 at the point, plus the overhead
    (None, "x (98,304 elements)", "491,533"),  # the parameters are found later: refused on x alone, earlier
    (["W", "b"], "x, W, b (98,416 elements)", "492,093"),
])
def test_a_cifar_sized_conv_is_refused_in_full_mode_with_the_estimate(params, what, forwards):
    W, b, x = _cifar()
    with pytest.raises(ComplexityError) as caught:
        check_layer(Conv(W, b), x=x, params=params)
    message = str(caught.value)
    assert message.startswith(f"a full central finite-difference check of {what} would take about ")
    assert f"{forwards} forward passes of " in message
    assert "(measured on your layer); the limit is 60 s: use mode='fast'" in message
    minutes = re.search(r"would take about (\d+) min", message)
    assert minutes is not None, message
    assert int(minutes.group(1)) > 1


def test_a_cifar_sized_conv_is_checked_in_fast_mode():
    W, b, x = _cifar()
    report = check_layer(Conv(W, b), x=x, mode="fast")
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "W", "b"]
    assert report.evaluations <= 30, report.evaluations
    wrong = check_layer(UnflippedConv(W, b), x=x, mode="fast")
    assert [row.status for row in wrong.rows] == ["ok", "FAIL", "ok"], str(wrong)


# -- the guard and its progress ----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_shown_on_a_terminal_for_a_long_check(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(cost, "SHOW_PROGRESS_SECONDS", 0.0)
    rng = np.random.default_rng(4)
    report = check_layer(Affine(rng.standard_normal((3, 2)), np.zeros(2)), x=rng.standard_normal((4, 3)))
    assert report.ok
    shown = terminal.getvalue()
    assert shown.endswith(f"symgrad: check_layer finite differences {report.rows and 2 * (12 + 6 + 2)}/40 "
                          "forward passes (100%)\n") or shown.endswith("forward passes (100%)\n"), shown
    assert "\rsymgrad: check_layer finite differences " in shown


def test_no_progress_when_stderr_is_not_a_terminal(monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    monkeypatch.setattr(cost, "SHOW_PROGRESS_SECONDS", 0.0)
    rng = np.random.default_rng(4)
    check_layer(Affine(rng.standard_normal((3, 2)), np.zeros(2)), x=rng.standard_normal((4, 3)))
    assert plain.getvalue() == ""


def test_the_prediction_counts_forward_passes():
    values = {"x": np.zeros((4, 3)), "W": np.zeros((3, 2))}
    full = cost.predict(values, ["x", "W"], "central", "full", 0.5)
    assert full.forwards == finite.total_evaluations(values, ["x", "W"], "central") + cost.OVERHEAD_FORWARDS
    assert full.forwards == 5 * 18 + 1 + cost.OVERHEAD_FORWARDS  # central at its own steps: 5 per element, f(v) once
    given = cost.predict(values, ["x", "W"], "central", "full", 0.5, steps={"x": 1e-3, "W": 1e-3})  # float32's steps
    assert given.forwards == 3 * 18 + 1 + cost.OVERHEAD_FORWARDS  # at given steps: 3 per element
    assert full.seconds == pytest.approx(0.5 * full.forwards)
    fast = cost.predict(values, ["x", "W"], "central", "fast", 0.5)
    assert fast.forwards == 2 * cost.FAST_FORWARDS_PER_GRADIENT + cost.OVERHEAD_FORWARDS


def test_a_fast_check_of_a_forward_slower_than_the_limit_is_refused():
    slow = cost.Cost(forwards=30, forward_seconds=3.0)
    with pytest.raises(ComplexityError, match=r"a fast check of x \(one random direction each\) would take about "
                                              r"90 s: 30 forward passes of 3 s each .* check the layer on a smaller x"):
        cost.refuse_long(slow, {"x": np.zeros(3)}, ["x"], "central", "fast")


def test_the_pytest_helper_takes_fast_mode_and_names_the_direction():
    from symgrad.testing import GradientMismatchError, assert_gradients_match

    rng = np.random.default_rng(5)
    W, b, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal((4, 4))
    assert assert_gradients_match(Affine(W, b), x=x, mode="fast").mode == "fast"
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(NoTransposeAffine(W, b), x=x, mode="fast")
    text = str(caught.value)
    assert "numeric side: finite differences along a random direction" in text
    assert "  problem         dW: along a random direction u, <backward(), u> = " in text
    assert "worst element" not in text


def test_a_vacuous_fast_check_is_warned_about_as_in_full_mode():
    x = -1.0 - np.random.default_rng(0).random((3, 4))  # every ReLU input negative: dx is 0 on every side
    report = check_layer(Relu(0.0), x=x, mode="fast")
    assert report.ok
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("dx is zero on every side")


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


class _ReluWrongByHalf:
    def __init__(self):
        self.x = None

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * (self.x > 0) * 1.5


def test_fast_mode_names_the_matching_spec_of_a_wrong_layer_checked_without_one():
    x = np.random.default_rng(0).standard_normal((4, 3)) + 0.5
    report = check_layer(_ReluWrongByHalf(), x=x, mode="fast")
    assert report.row("x").status == "FAIL"
    assert "(give the spec symgrad.ReLU(), whose forward() matches yours" in report.row("x").message


class CountingAffine:
    """y = x W + b, counting its forward passes in every copy check_layer makes; ``wrong`` scales dW by 1.5."""

    forwards = 0

    def __init__(self, W, b, wrong):
        self.W, self.b, self.wrong = W, b, wrong

    def forward(self, x):
        CountingAffine.forwards += 1
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout * (1.5 if self.wrong else 1.0)
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


@pytest.mark.parametrize("with_spec", [False, True])
@pytest.mark.parametrize("wrong", [False, True])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_prediction_bounds_the_forward_passes_of_passing_and_failing_checks(monkeypatch, mode, wrong, with_spec):
    """Regression (bug: the guard's prediction counted a passing check only: an affine(3, 2) at batch 4 that
    failed made 100 forward passes against 73 predicted in full mode and 49 against 30 in fast mode, the
    diagnosis's sweeps at changed points, the kink search and the direction's second looks uncounted).
    ``Cost.forwards`` bounds a passing check, ``Cost.failing`` a failing one, counted by the layer itself."""
    seen = []
    layer_module = sys.modules["symgrad.check.layer"]
    real = layer_module.predict
    monkeypatch.setattr(layer_module, "predict", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    rng = np.random.default_rng(0)
    layer = CountingAffine(rng.standard_normal((3, 2)), rng.standard_normal(2), wrong)
    CountingAffine.forwards = 0
    report = check_layer(layer, symgrad.Affine(3, 2) if with_spec else None, x=rng.standard_normal((4, 3)),
                         params=["W", "b"], mode=mode)
    predicted = seen[-1]
    assert report.ok is not wrong
    actual = CountingAffine.forwards
    assert actual > (predicted.forwards if wrong else 0.8 * predicted.forwards) or mode == "fast", (actual, predicted)
    assert actual <= (predicted.failing if wrong else predicted.forwards), (actual, predicted)
    assert predicted.forwards <= predicted.failing
    if wrong and not with_spec and mode == "full":
        assert actual > 2 * predicted.forwards  # the diagnosis's sweeps: what a passing check never pays
