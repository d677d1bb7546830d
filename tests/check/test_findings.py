"""Vacuous checks refused, and re-entry: backward twice, and a forward at another point before it."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symgrad
from symgrad.check.layer import check_layer
from symgrad.testing import GradientMismatchError, assert_gradients_match


class BatchNorm:
    """Batch normalisation, textbook style (DLFS1 / cs231n), training mode."""

    def __init__(self, gamma, beta, eps=1e-5):
        self.gamma, self.beta, self.eps = gamma, beta, eps
        self.xc = self.std = self.xn = self.dgamma = self.dbeta = None

    def forward(self, x):
        mu = x.mean(axis=0)
        self.xc = x - mu
        self.std = np.sqrt(np.mean(self.xc**2, axis=0) + self.eps)
        self.xn = self.xc / self.std
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / n


class Softmax:
    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.out = e / e.sum(axis=1, keepdims=True)
        return self.out

    def backward(self, dout):
        return self.out * (dout - np.sum(dout * self.out, axis=1, keepdims=True))


class SoftmaxFlippedSign(Softmax):
    def backward(self, dout):
        return self.out * (np.sum(dout * self.out, axis=1, keepdims=True) - dout)  # the sign flipped


def _batchnorm(rng, features=3):
    return BatchNorm(1.0 + 0.5 * rng.standard_normal(features), 0.5 * rng.standard_normal(features))


# -- vacuous checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_norm_on_a_single_sample_is_refused(seed):
    rng = np.random.default_rng(seed)
    report = check_layer(_batchnorm(rng), x=rng.standard_normal((1, 3)), seed=seed)
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith("dx, dgamma are zero on every side (backward(), finite differences)")
    assert "single sample" in warning
    assert "batch of several samples" in warning
    assert "warning: dx, dgamma are zero on every side" in str(report)
    assert str(report).splitlines()[0].endswith("all 3 gradients agree, but the check could not fail (see the warning)")
    with pytest.raises(GradientMismatchError, match=r"(?s)the check could not fail.*single sample"):
        assert_gradients_match(_batchnorm(rng), x=rng.standard_normal((1, 3)), seed=seed)


def test_batch_norm_on_a_batch_passes_without_warnings():
    rng = np.random.default_rng(3)
    report = assert_gradients_match(_batchnorm(rng), x=rng.standard_normal((5, 3)))
    assert report.warnings == ()
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]


def test_an_all_ones_upstream_gradient_into_a_softmax_is_refused_and_what_to_change_is_said():
    x = np.random.default_rng(4).standard_normal((4, 3))
    wrong = check_layer(SoftmaxFlippedSign(), x=x, dout=np.ones((4, 3)))
    assert wrong.ok  # with dout = 1 the wrong backward cannot be told from the right one...
    assert any("same number everywhere" in w and "Leave dout out" in w for w in wrong.warnings)
    with pytest.raises(GradientMismatchError, match="zero on every side"):
        assert_gradients_match(SoftmaxFlippedSign(), x=x, dout=np.ones((4, 3)))
    caught = check_layer(SoftmaxFlippedSign(), x=x)  # ...symgrad's own random dout tells them apart
    assert not caught.ok
    assert caught.warnings == ()


def test_symgrads_own_upstream_gradient_is_random_and_seeded():
    x = np.random.default_rng(5).standard_normal((4, 3))
    first = check_layer(Softmax(), x=x, seed=0).values["dout"]
    assert np.unique(first).size == first.size  # no two entries alike
    np.testing.assert_array_equal(first, check_layer(Softmax(), x=x, seed=0).values["dout"])
    assert not np.array_equal(first, check_layer(Softmax(), x=x, seed=1).values["dout"])


class OneHot:
    """No float input and no parameter: nothing to differentiate."""

    def forward(self, idx):
        return np.eye(4)[idx]

    def backward(self, dout):
        return None


def test_a_check_that_compared_nothing_is_refused():
    report = check_layer(OneHot(), x=np.array([0, 3, 1]))
    assert report.rows == ()
    assert report.warnings[0].startswith("the check compared nothing: OneHot has no float input")
    with pytest.raises(GradientMismatchError, match="compared nothing"):
        assert_gradients_match(OneHot(), x=np.array([0, 3, 1]))


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


def test_zero_gradients_at_the_point_say_to_move_the_point():
    report = check_layer(Relu(), symgrad.ReLU(), x=-1.0 - np.random.default_rng(6).random((3, 2)))
    expected = "dx is zero on every side (backward(), finite differences and the spec's rule)"
    assert report.warnings[0].startswith(expected)
    assert "Check at another point" in report.warnings[0]


def test_a_scalar_dout_passed_to_a_layer_with_a_scalar_output_is_not_called_constant():
    # One number is trivially "the same everywhere": the advice about constant douts is for arrays only.
    class ReluSum:
        def forward(self, x):
            self.x = x
            return np.maximum(x, 0.0).sum()

        def backward(self, dout):
            return dout * (self.x > 0)

    report = check_layer(ReluSum(), x=-1.0 - np.random.default_rng(6).random((3, 2)), dout=2.5)
    assert report.warnings[0].startswith("dx is zero on every side")
    assert "Check at another point" in report.warnings[0]
    assert "same number everywhere" not in report.warnings[0]


# -- re-entry ----------------------------------------------------------------------------------------------


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


class AffineAccumulates(Affine):
    """Adds into its gradient (as for a shared weight) but never resets it."""

    def __init__(self, W, b):
        super().__init__(W, b)
        self.dW = np.zeros_like(W)

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW += np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class AffinePopsItsCache(Affine):
    def forward(self, x):
        self.stack = [x]
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        self.x = self.stack.pop()
        return super().backward(dout)


class AffineKeepsTheFirstInput(Affine):
    def forward(self, x):
        if self.x is None:  # a cache filled once: later calls read the first input
            self.x = x
        return np.dot(x, self.W) + self.b


def _affine(cls, rng):
    return cls(rng.standard_normal((3, 2)), rng.standard_normal(2)), rng.standard_normal((4, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_twice_must_give_the_same_gradients(seed):
    layer, x = _affine(AffineAccumulates, np.random.default_rng(seed))
    report = check_layer(layer, x=x, params=["W", "b"], seed=seed)
    row = report.row("W")
    assert row.status == "FAIL"
    assert "a second backward(dout) after the same forward() gave" in row.message
    assert "+=" in row.message
    assert report.row("b").status == "ok"


def test_backward_that_consumes_its_cache_fails_on_the_second_call():
    layer, x = _affine(AffinePopsItsCache, np.random.default_rng(7))
    report = check_layer(layer, symgrad.Affine(3, 2), x=x)
    assert report.row("x").status == "FAIL"
    assert "a second backward(dout) after the same forward() raised IndexError" in report.row("x").message


def test_a_correct_layer_gives_the_same_gradients_twice():
    layer, x = _affine(Affine, np.random.default_rng(8))
    report = check_layer(layer, symgrad.Affine(3, 2), x=x)
    assert report.ok
    assert all("second backward" not in row.message for row in report.rows)


@pytest.mark.parametrize("spec", [symgrad.Affine(3, 2), None], ids=["spec", "no spec"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stale_cache_is_named(spec, seed):
    """forward at two points, then one backward: the gradient must be the second point's."""
    layer, x = _affine(AffineKeepsTheFirstInput, np.random.default_rng(seed))
    report = check_layer(layer, spec, x=x, seed=seed)
    row = report.row("W")
    assert row.status == "FAIL"
    assert "a stale cache: backward() used values kept from an earlier forward() call" in row.diagnosis


class AffineStaleAndDoubled(AffineKeepsTheFirstInput):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = 2 * self.dW  # wrong even in a fresh layer
        return dx


@pytest.mark.parametrize("spec", [symgrad.Affine(3, 2), None], ids=["spec", "no spec"])
def test_a_stale_cache_is_not_named_when_a_fresh_layer_is_wrong_too(spec):
    # "stale cache" says a fresh layer gets it right: not so when the gradient is wrong on its first call too
    layer, x = _affine(AffineStaleAndDoubled, np.random.default_rng(5))
    report = check_layer(layer, spec, x=x)
    row = report.row("W")
    assert row.status == "FAIL"
    assert "stale cache" not in row.diagnosis


class MatMulAccumulates:
    """DLFS2 style, but adding into self.grads instead of writing it."""

    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.params[0]

    def backward(self, dout):
        self.grads[0] += self.x.T @ dout
        return dout @ self.params[0].T


def test_a_list_layer_that_adds_into_its_gradients_is_named():
    rng = np.random.default_rng(9)
    report = check_layer(MatMulAccumulates(rng.standard_normal((3, 2))), x=rng.standard_normal((4, 3)))
    row = report.row("params[0]")
    assert row.status == "FAIL"
    assert "rather than add to it with +=" in row.message
    assert report.row("x").status == "ok"


class LSTMGateStep:
    """A two-input, two-output step in DLFS2 style: h = tanh(x Wx + h_prev Wh) and c = sigmoid(x Wx) * h_prev,
    backward(dh, dc) -> (dx, dh_prev). ``stale`` keeps the h_prev of its first forward only."""

    def __init__(self, Wx, Wh, stale=False):
        self.params, self.grads = [Wx, Wh], [np.zeros_like(Wx), np.zeros_like(Wh)]
        self.stale = stale
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh = self.params
        h = np.tanh(x @ Wx + h_prev @ Wh)
        g = 1 / (1 + np.exp(-(x @ Wx)))
        if self.cache is None or not self.stale:
            self.cache = [x, h_prev, h, g]
        else:
            self.cache = [x, self.cache[1], h, g]  # h_prev kept from the first call
        return h, g * h_prev

    def backward(self, dh, dc):
        Wx, Wh = self.params
        x, h_prev, h, g = self.cache
        da = dh * (1 - h**2)
        dg = dc * h_prev * g * (1 - g)
        self.grads[0][...] = x.T @ da + x.T @ dg
        self.grads[1][...] = h_prev.T @ da
        return da @ Wx.T + dg @ Wx.T, da @ Wh.T + dc * g


def _gate_step(stale, seed):
    rng = np.random.default_rng(seed)
    layer = LSTMGateStep(rng.standard_normal((3, 4)) * 0.5, rng.standard_normal((4, 4)) * 0.5, stale=stale)
    return layer, (rng.standard_normal((5, 3)), rng.standard_normal((5, 4)))


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stale_cache_is_named_in_a_layer_with_two_inputs_and_two_outputs(mode, seed):
    # Before: the stale-cache hypothesis needed one input and one output; here the gradient that used the
    # first call's h_prev failed with no cause named. A fresh layer (no earlier forward) gets it right.
    layer, x = _gate_step(True, seed)
    report = check_layer(layer, x=x, seed=seed, mode=mode)
    stale_rows = [row for row in report.rows if row.status == "FAIL"]
    assert {row.name for row in stale_rows} >= {"params[1]"}  # dWh = h_prev.T @ da reads the stale h_prev
    for row in stale_rows:
        assert "a stale cache: backward() used values kept from an earlier forward() call" in row.diagnosis, row


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_same_step_without_the_stale_cache_passes_and_names_nothing(mode):
    layer, x = _gate_step(False, 3)
    report = check_layer(layer, x=x, mode=mode)
    assert report.ok, str(report)
    assert not any(row.diagnosis for row in report.rows)


def test_a_layer_wrong_in_the_same_way_when_fresh_is_not_called_stale():
    class WrongSign(LSTMGateStep):
        def backward(self, dh, dc):
            dx, dh_prev = super().backward(dh, dc)
            return -dx, dh_prev

    layer, x = _gate_step(False, 4)
    layer.__class__ = WrongSign
    report = check_layer(layer, x=x)
    assert report.row("x0").status == "FAIL"
    assert "stale cache" not in report.row("x0").diagnosis


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


class BackwardRaises:
    def __init__(self):
        self.W = np.ones((3, 2))
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, dout):
        raise ValueError("boom in backward")


def test_a_backward_that_raises_is_reported_with_its_own_error_not_a_second_call():
    # the re-entry check needs a first backward() that returned: when it raised, its error is the report
    report = check_layer(BackwardRaises(), x=np.random.default_rng(0).standard_normal((4, 3)))
    assert not report.ok
    assert report.row("x").message == "dx: backward() raised ValueError: boom in backward; expected shape (4, 3)"
    assert "second backward" not in report.row("W").message
    assert not any("2 * dout" in note for note in report.notes)  # dout's scaling is not tried on a failed run


class UnseededNoise:
    """forward() adds fresh noise at every call to its output number ``noisy`` (of ``outputs``)."""

    def __init__(self, outputs, noisy):
        self.outputs, self.noisy = outputs, noisy

    def forward(self, x):
        outs = [2.0 * x for _ in range(self.outputs)]
        outs[self.noisy] = outs[self.noisy] + np.random.default_rng().standard_normal(x.shape)
        return outs[0] if self.outputs == 1 else tuple(outs)

    def backward(self, *douts):
        return 2.0 * sum(douts)


def test_a_nondeterministic_forward_names_the_output_only_when_there_are_several():
    x = np.random.default_rng(1).standard_normal((4, 3))
    row = check_layer(UnseededNoise(1, 0), x=x).row("forward")
    one = row.message
    assert one.startswith("forward() is nondeterministic: called on two copies of the layer with the same input "
                          "it gave different outputs: ")
    assert re.search(r"outputs: -?[0-9.e+-]+ then -?[0-9.e+-]+ at element \[\d, \d\]\.", one)
    assert row.backward.shape == row.numeric.shape == (4, 3)  # the two outputs, side by side
    two = check_layer(UnseededNoise(2, 1), x=x).row("forward").message
    assert "it gave different outputs (output 1): " in two


class ShapeFlipping:
    """forward() drops the last row at every other call (a counter shared by every copy)."""

    calls = 0

    def forward(self, x):
        ShapeFlipping.calls += 1
        return 2.0 * x if ShapeFlipping.calls % 2 else 2.0 * x[:-1]

    def backward(self, dout):
        return 2.0 * dout


def test_a_forward_whose_output_shape_changes_between_calls_is_reported_nondeterministic():
    report = check_layer(ShapeFlipping(), x=np.random.default_rng(2).standard_normal((4, 3)))
    assert [row.name for row in report.rows] == ["forward"]
    message = report.row("forward").message
    assert message.startswith("forward() is nondeterministic")
    assert " at element " not in message  # no element to name between shapes (4, 3) and (3, 3)


class ReluAndDoubleWrong:
    """Two outputs, relu(x) and 2x; dx scales the first one's share by 1.5."""

    def __init__(self):
        self.x = None

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0), 2 * x

    def backward(self, drelu, ddouble):
        return drelu * (self.x > 0) * 1.5 + 2 * ddouble


class ReluWrong:
    def __init__(self):
        self.x = None

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * (self.x > 0) * 1.5


def test_the_spec_hint_is_given_for_a_matching_one_output_layer_only():
    # symgrad's one-output layers cannot be the spec of a two-output layer, even if output 0 matches one
    x = np.random.default_rng(0).standard_normal((4, 3))
    one = check_layer(ReluWrong(), x=x)
    assert "(give the spec symgrad.ReLU(), whose forward() matches yours" in one.row("x").message
    report = check_layer(ReluAndDoubleWrong(), x=x)
    assert report.row("x").status == "FAIL"
    assert "give the spec" not in report.row("x").message


class AffineOffDW(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW + np.arange(self.dW.size).reshape(self.dW.shape) ** 2  # no usual mistake
        return dx


@pytest.mark.parametrize(("d_in", "d_out"), [(3, 2), (2, 4)])
def test_a_wrong_affine_checked_without_a_spec_is_pointed_to_the_affine_spec(d_in, d_out):
    rng = np.random.default_rng(12)
    layer = AffineOffDW(rng.standard_normal((d_in, d_out)), rng.standard_normal(d_out))
    report = check_layer(layer, x=rng.standard_normal((5, d_in)))
    assert report.row("W").status == "FAIL"
    assert f"(give the spec symgrad.Affine({d_in}, {d_out}), whose forward() matches yours" in report.row("W").message


class AffineHalvingDoutInPlace(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        dout *= 0.5  # in place: the caller's array changes, and dW below is computed from it
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout * 2.0, axis=0)
        return dx


def test_a_gradient_computed_from_a_dout_changed_in_place_is_diagnosed_as_such():
    rng = np.random.default_rng(13)
    layer = AffineHalvingDoutInPlace(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    row = report.row("W")
    assert row.status == "FAIL"
    assert row.diagnosis.startswith("matches dout written in place"), row.diagnosis


class SmallScale:
    """out = factor * x * w: small gradients, far above rounding noise."""

    def __init__(self, factor, ignore_dout=False):
        self.w = np.array([0.5, -1.5, 2.0])
        self.factor, self.ignore_dout = factor, ignore_dout
        self.x = None

    def forward(self, x):
        self.x = x
        return self.factor * x * self.w

    def backward(self, dout):
        upstream = np.ones_like(dout) if self.ignore_dout else dout
        self.dw = self.factor * np.sum(upstream * self.x, axis=0)
        return self.factor * upstream * self.w


@pytest.mark.parametrize("factor", [1e-3, 1e-10])  # 1e-10: below sqrt(eps), far above the differences' noise
def test_small_correct_gradients_are_neither_zero_nor_said_to_ignore_dout(factor):
    report = check_layer(SmallScale(factor), x=np.random.default_rng(3).standard_normal((5, 3)))
    assert report.ok, str(report)
    assert report.warnings == ()
    assert not any("dout" in note for note in report.notes)


def test_a_backward_ignoring_dout_is_noted_with_the_gradients_it_returned_unchanged():
    report = check_layer(SmallScale(1e-3, ignore_dout=True), x=np.random.default_rng(3).standard_normal((5, 3)))
    assert "backward() ignores dout: backward(2 * dout) returned the same dx, dw: multiply by dout (the chain rule)" \
        in report.notes


class ScaleBackwardSliced:
    """backward() returns dx of the wrong shape (two of its three columns)."""

    def forward(self, x):
        return 3.0 * x

    def backward(self, dout):
        return (3.0 * dout)[:, :2]


def test_a_failed_row_shows_no_backward_value_of_another_shape():
    row = check_layer(ScaleBackwardSliced(), x=np.random.default_rng(4).standard_normal((4, 3))).row("x")
    assert row.status == "FAIL"
    assert row.message.startswith("dx (backward()'s return value) has shape (4, 2); expected shape (4, 3)")
    assert row.backward is None
