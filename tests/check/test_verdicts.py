"""Honest verdicts: the layer's own dtype, nondeterministic forwards, shape findings, hints that exist."""

from __future__ import annotations

import json

import numpy as np
import pytest

import symgrad
from symgrad.check.compare import TOLERANCES
from symgrad.check.layer import check_layer
from symgrad.errors import DTypeError
from symgrad.testing import GradientMismatchError, assert_gradients_match

SEEDS = [0, 1, 2]


class RNN:
    """DLFS2's RNN cell, in whatever dtype its parameters have."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = np.sum(dt, axis=0)
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


class RNNWrongBias(RNN):
    def backward(self, dh_next):
        dx, dh = super().backward(dh_next)
        self.grads[2][...] = np.sum(dh_next, axis=0)  # the tanh's derivative forgotten for db
        return dx, dh


def _rnn(cls, rng, dtype):
    n, d, h = 4, 3, 5
    params = [(0.5 * rng.standard_normal(shape)).astype(dtype) for shape in ((d, h), (h, h), (h,))]
    return cls(*params), (rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((n, h)).astype(dtype))


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


# -- dtype ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_correct_low_precision_layer_passes_with_its_dtype_named(dtype, seed):
    rng = np.random.default_rng(seed)
    layer, inputs = _rnn(RNN, rng, dtype)
    report = check_layer(layer, x=inputs, seed=seed)
    assert report.ok, str(report)
    assert report.dtype == dtype
    assert f"computed in {dtype}; relative tolerances for {dtype}: central {TOLERANCES[dtype]['central']:.0e}" in str(
        report)
    assert all(row.tolerances["central"] == TOLERANCES[dtype]["central"] for row in report.rows)
    assert json.loads(report.to_json())["dtype"] == dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_layer_still_fails_at_the_looser_float32_tolerance(dtype):
    rng = np.random.default_rng(4)
    layer, inputs = _rnn(RNNWrongBias, rng, dtype)
    report = check_layer(layer, x=inputs)
    assert report.row("params[2]").status == "FAIL"
    assert f"{dtype})." in report.row("params[2]").message  # the message says which dtype's tolerance
    assert [row.status for row in report.rows if row.name != "params[2]"] == ["ok"] * 4


def test_the_layer_is_called_in_its_own_dtype():
    seen = []

    class Recording(Sigmoid):
        def forward(self, x):
            seen.append(x.dtype)
            return super().forward(x)

    x = np.random.default_rng(5).standard_normal((3, 2)).astype(np.float32)
    report = check_layer(Recording(), symgrad.Sigmoid(), x=x)
    assert report.ok, str(report)
    assert set(seen) == {np.dtype(np.float32)}
    assert report.dtype == "float32"
    assert report.row("x").tolerances == {"exact": TOLERANCES["float32"]["exact"], "central": 1e-2}


def test_a_float64_layer_keeps_float64_tolerances():
    x = np.random.default_rng(6).standard_normal((3, 2))
    report = check_layer(Sigmoid(), symgrad.Sigmoid(), x=x)
    assert report.dtype == "float64"
    assert report.row("x").tolerances == {"exact": 1e-9, "central": 1e-6}
    assert report.row("x").rel_error < 1e-8


def test_the_complex_step_is_refused_for_a_float16_layer():
    # float32 layers take the complex step in complex64 (tests/check/test_complex_float32.py); float16 has none.
    x = np.ones((2, 2), dtype=np.float16)
    with pytest.raises(DTypeError, match=r"computes in float16: NumPy has no complex float16.*use method='central'"):
        check_layer(Sigmoid(), x=x, method="complex")


# -- nondeterminism -----------------------------------------------------------------------------------


class Dropout:
    """DLFS1's Dropout: a fresh mask from the global generator at every forward."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class GeneratorDropout(Dropout):
    """A generator held by the layer: a copy repeats, but every call draws anew."""

    def __init__(self, dropout_ratio=0.5):
        super().__init__(dropout_ratio)
        self.rng = np.random.default_rng(0)

    def forward(self, x, train_flg=True):
        self.mask = self.rng.random(x.shape) > self.dropout_ratio
        return x * self.mask


class SeededDropout(Dropout):
    def forward(self, x, train_flg=True):
        self.mask = np.random.default_rng(7).random(x.shape) > self.dropout_ratio
        return x * self.mask


def dropout_forward(x, dropout_param):
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = (np.random.rand(*x.shape) < dropout_param["p"]) / dropout_param["p"]
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    return dout * cache[1]


@pytest.mark.parametrize("layer", [Dropout(), GeneratorDropout()], ids=["global generator", "own generator"])
def test_an_unseeded_dropout_is_reported_as_nondeterministic_before_any_gradient(layer):
    x = np.random.default_rng(8).standard_normal((4, 5))
    report = check_layer(layer, x=x)
    assert not report.ok
    assert [row.name for row in report.rows] == ["forward"]  # no gradient compared
    message = report.row("forward").message
    assert message.startswith("forward() is nondeterministic")
    assert "seed it" in message
    assert "pass the mask" in message
    assert "ignores dout" not in str(report)
    assert report.evaluations == 0


def test_seeded_dropouts_pass():
    x = np.random.default_rng(9).standard_normal((4, 5))
    assert check_layer(SeededDropout(), x=x).ok
    report = check_layer((dropout_forward, dropout_backward), x=x, params={"dropout_param": {"p": 0.5, "seed": 1}})
    assert report.ok, str(report)
    unseeded = check_layer((dropout_forward, dropout_backward), x=x, params={"dropout_param": {"p": 0.5}})
    assert unseeded.row("forward").message.startswith("forward() is nondeterministic")


def test_the_helper_fails_on_a_nondeterministic_forward():
    with pytest.raises(GradientMismatchError, match="nondeterministic"):
        assert_gradients_match(Dropout(), x=np.random.default_rng(10).standard_normal((4, 5)))


# -- shape findings -----------------------------------------------------------------------------------------


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W.T)


class AffineKeepdims(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = np.sum(dout, axis=0, keepdims=True)
        return dx


class AffineNoSum(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout
        return dx


@pytest.mark.parametrize("spec", [symgrad.Affine(3, 2), None], ids=["spec", "no spec"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_keepdims_gradient_is_a_shape_finding_not_a_missing_sum(spec, seed):
    rng = np.random.default_rng(seed)
    layer = AffineKeepdims(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, spec, x=rng.standard_normal((4, 3)), seed=seed)
    row = report.row("b")
    assert row.status == "FAIL"
    assert row.diagnosis.startswith("a shape mismatch, not a wrong value: db has shape (1, 2) where b has shape (2,)")
    assert "keepdims=True" in row.diagnosis
    assert "no sum over the batch" not in str(report)
    assert [report.row(name).status for name in ("x", "W")] == ["ok", "ok"]


def test_a_missing_sum_is_still_named_as_such():
    rng = np.random.default_rng(11)
    layer = AffineNoSum(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert "no sum over the batch" in report.row("b").diagnosis
    assert "shape mismatch" not in report.row("b").diagnosis


# -- the whole catalog in float32 -------------------------------------------------------------------------------


def _catalog():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).with_name("wrong_layers.py")
    spec = importlib.util.spec_from_file_location("symgrad_tests_wrong_layers_f32", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


CATALOG = _catalog()


def _in_float32(case, seed):
    """The catalog's layer and arguments, every float array made float32."""
    layer, kwargs = case.make(np.random.default_rng(seed))
    if isinstance(layer, tuple):
        if "params" in kwargs:
            kwargs["params"] = {k: v.astype(np.float32) for k, v in kwargs["params"].items()}
    else:
        for name, value in list(vars(layer).items()):
            if isinstance(value, np.ndarray) and value.dtype == np.float64:
                setattr(layer, name, value.astype(np.float32))
    kwargs["x"] = kwargs["x"].astype(np.float32)
    if "t" in kwargs:
        kwargs["t"] = kwargs["t"].astype(np.float32)
    return layer, kwargs


@pytest.mark.parametrize("case", CATALOG.RIGHT, ids=lambda case: case.name)
def test_every_right_catalog_layer_passes_in_float32(case):
    for seed in range(10):
        layer, kwargs = _in_float32(case, seed)
        report = check_layer(layer, seed=seed, **kwargs)
        assert report.ok, (seed, str(report))
        assert report.dtype == "float32"


@pytest.mark.parametrize("case", CATALOG.WRONG, ids=lambda case: case.name)
def test_every_wrong_catalog_layer_still_fails_in_float32(case):
    layer, kwargs = _in_float32(case, 0)
    report = check_layer(layer, **kwargs)
    assert report.row(case.row).status == "FAIL", str(report)


class StatefulRNN(RNN):
    """DLFS2's TimeRNN habit: with stateful=True the hidden state carries over from call to call."""

    def __init__(self, Wx, Wh, b, stateful=True):
        super().__init__(Wx, Wh, b)
        self.stateful, self.h = stateful, None

    def forward(self, x):
        h_prev = self.h if self.stateful and self.h is not None else np.zeros((x.shape[0], self.params[1].shape[0]))
        self.h = super().forward(x, h_prev)
        return self.h

    def backward(self, dh_next):
        dx, _ = super().backward(dh_next)
        return dx


@pytest.mark.parametrize("stateful", [True, False])
def test_state_carried_from_call_to_call_is_named(stateful):
    rng = np.random.default_rng(12)
    layer, (x, _) = _rnn(RNN, rng, "float64")
    report = check_layer(StatefulRNN(*layer.params, stateful=stateful), x=x)
    if stateful:
        message = report.row("forward").message
        assert message.startswith("forward() is nondeterministic: called twice on the same layer object")
        assert "stateful=False" in message
        assert [row.name for row in report.rows] == ["forward"]
    else:
        assert report.ok, str(report)
        assert [row.name for row in report.rows] == ["x", "params[0]", "params[1]", "params[2]"]


def test_a_generator_held_by_the_layer_is_named_as_state():
    report = check_layer(GeneratorDropout(), x=np.random.default_rng(13).standard_normal((4, 5)))
    assert "a random generator the layer holds" in report.row("forward").message
    global_rng = check_layer(Dropout(), x=np.random.default_rng(13).standard_normal((4, 5)))
    assert "called on two copies of the layer" in global_rng.row("forward").message


class OnlyOnce(Sigmoid):
    def forward(self, x):
        if getattr(self, "out", None) is not None:
            raise RuntimeError("forward() called twice without backward()")
        return super().forward(x)


def test_a_forward_that_cannot_be_called_again_is_a_failing_row():
    report = check_layer(OnlyOnce(), x=np.random.default_rng(14).standard_normal((2, 3)))
    assert [row.name for row in report.rows] == ["forward"]
    assert report.row("forward").message.startswith(
        "forward() raised RuntimeError when called again with the same input: forward() called twice")


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


class _FlatDx:
    """backward() returns dx flattened: the right values in shape (12,) for an input of shape (4, 3)."""

    def forward(self, x):
        return 3.0 * x

    def backward(self, dout):
        return (3.0 * dout).reshape(-1)


def test_a_flattened_gradient_is_named_a_shape_mismatch_not_a_numpy_error():
    # regression: np.broadcast_shapes((4, 3), (12,)) raised a raw ValueError out of check_layer
    row = check_layer(_FlatDx(), x=np.random.default_rng(4).standard_normal((4, 3))).row("x")
    assert row.status == "FAIL"
    assert row.backward is None  # not of the gradient's shape: not shown as its value
    assert "a shape mismatch, not a wrong value: dx has shape (12,) where x has shape (4, 3)" in row.diagnosis
    assert "likely a missing reshape" in row.diagnosis
    assert row.diagnosis.endswith("x -= lr * dx would otherwise fail: shapes (4, 3) and (12,) do not broadcast")


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_layer_passes_with_richardson_differences_in_its_dtype(dtype):
    x = np.random.default_rng(13).standard_normal((3, 4)).astype(dtype)
    report = check_layer(Sigmoid(), symgrad.Sigmoid(), x=x, method="richardson")
    assert report.ok, str(report)
    assert report.dtype == dtype


class AffineKeepdimsDoubled(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = 2 * np.sum(dout, axis=0, keepdims=True)  # wrong values as well as the shape
        return dx


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_keepdims_gradient_is_named_in_both_modes_and_only_when_its_values_are_right(mode):
    rng = np.random.default_rng(14)
    W, b, x = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((5, 3))
    right_values = check_layer(AffineKeepdims(W, b), x=x, mode=mode).row("b")
    assert right_values.status == "FAIL"
    assert "keepdims=True" in right_values.diagnosis
    wrong_values = check_layer(AffineKeepdimsDoubled(W, b), x=x, mode=mode).row("b")
    assert wrong_values.status == "FAIL"
    assert "keepdims=True" not in wrong_values.diagnosis


class AffineNanDW(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW[0, 0] = np.nan
        return dx


def test_a_nan_gradient_of_an_attribute_layer_is_named_without_the_params_list_advice():
    rng = np.random.default_rng(15)
    layer = AffineNanDW(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, x=rng.standard_normal((4, 3)))
    row = report.row("W")
    assert row.status == "FAIL"
    assert "holds NaN or infinity" in row.message
    assert "self.grads" not in row.message


class OneHot:
    """Integer labels in, one-hot rows out: no float input, no parameter, nothing to differentiate."""

    def forward(self, labels):
        self.labels = labels
        return np.eye(3)[labels]

    def backward(self, dout):
        return None


def test_a_layer_with_nothing_to_differentiate_gives_a_report_that_says_so():
    report = check_layer(OneHot(), x=np.array([0, 2, 1]))
    assert report.rows == ()
    assert any("the check compared nothing" in warning for warning in report.warnings)
