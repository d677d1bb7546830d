"""check_layer takes every calling convention as users write it, with no wrapper.

Each layer here is written for this test in the style of a textbook (DLFS1, DLFS2, cs231n),
with the habits of those styles: lists of parameters, caches in tuples, integer labels,
several inputs and outputs, N-D inputs.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

import symgrad
from symgrad.check.layer import check_layer
from symgrad.errors import DTypeError, LayerError, SpecError, UnknownNameError
from symgrad.testing import GradientMismatchError, assert_gradients_match

SEEDS = [0, 1, 2]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- DLFS2: params / grads lists ---------------------------------------------------------------------


class MatMul:
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        (W,) = self.params
        self.x = x
        return np.dot(x, W)

    def backward(self, dout):
        (W,) = self.params
        dx = np.dot(dout, W.T)
        dW = np.dot(self.x.T, dout)
        self.grads[0][...] = dW
        return dx


class ListAffine:
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        self.x = x
        return np.dot(x, W) + b

    def backward(self, dout):
        W, _ = self.params
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        self.grads[1][...] = np.sum(dout, axis=0)
        return dx


class ListAffineNoTranspose(ListAffine):
    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = np.dot(self.x, dout)  # x.T forgotten
        self.grads[1][...] = np.sum(dout, axis=0)
        return np.dot(dout, W.T)


class ListAffineForgetsDb(ListAffine):
    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = np.dot(self.x.T, dout)
        return np.dot(dout, W.T)


@pytest.mark.parametrize("seed", SEEDS)
def test_dlfs2_matmul_has_every_gradient_checked_and_listed(seed):
    rng = np.random.default_rng(seed)
    report = check_layer(MatMul(rng.standard_normal((3, 2))), x=rng.standard_normal((4, 3)), seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "params[0]"]
    assert report.row("params[0]").rel_error < 1e-6
    assert "params[0]" in str(report)


def test_dlfs2_params_named_in_order():
    rng = np.random.default_rng(3)
    report = check_layer(MatMul(rng.standard_normal((3, 2))), x=rng.standard_normal((4, 3)), params=["W"])
    assert report.ok
    assert [row.name for row in report.rows] == ["x", "W"]


def test_dlfs2_params_of_the_wrong_count_is_a_clear_error():
    rng = np.random.default_rng(3)
    with pytest.raises(UnknownNameError, match=r"keeps its 1 parameters in the list self.params"):
        check_layer(MatMul(rng.standard_normal((3, 2))), x=rng.standard_normal((4, 3)), params=["W", "b"])


def test_dlfs2_affine_against_a_spec_maps_the_list_to_the_roles():
    rng = np.random.default_rng(4)
    layer = ListAffine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "params[0]", "params[1]"]
    assert report.row("params[0]").symbolic is not None


def test_dlfs2_wrong_gradient_in_the_list_is_caught_and_named():
    rng = np.random.default_rng(5)
    layer = ListAffineNoTranspose(rng.standard_normal((3, 3)), rng.standard_normal(3))
    report = check_layer(layer, symgrad.Affine(3, 3), x=rng.standard_normal((3, 3)), params=["W", "b"])
    assert not report.ok
    assert report.row("W").status == "FAIL"
    assert "missing transpose: dW = x @ dout" in report.row("W").diagnosis
    assert report.row("b").status == "ok"


def test_dlfs2_gradient_backward_never_writes_is_an_error_not_a_pass():
    rng = np.random.default_rng(6)
    layer = ListAffineForgetsDb(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, x=rng.standard_normal((4, 3)))
    assert not report.ok
    row = report.row("params[1]")
    assert row.status == "FAIL"
    assert "backward() did not write self.grads[1]: symgrad fills self.grads with NaN" in row.message


class Embedding:
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        (W,) = self.params
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        (dW,) = self.grads
        dW[...] = 0
        np.add.at(dW, self.idx, dout)


@pytest.mark.parametrize("seed", SEEDS)
def test_integer_indices_are_passed_through_and_not_differentiated(seed):
    rng = np.random.default_rng(seed)
    idx = np.array([0, 2, 0, 3, 1])  # a repeated index: the gradient adds up
    report = check_layer(Embedding(rng.standard_normal((4, 3))), x=idx, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["params[0]"]
    assert report.row("params[0]").backward[0] == pytest.approx(
        report.values["dout"][0] + report.values["dout"][2]
    )


class EmbeddingOverwrites(Embedding):
    def backward(self, dout):
        (dW,) = self.grads
        dW[...] = 0
        dW[self.idx] = dout  # a repeated index keeps only its last row


def test_embedding_that_drops_repeated_indices_fails():
    rng = np.random.default_rng(7)
    report = check_layer(EmbeddingOverwrites(rng.standard_normal((4, 3))), x=np.array([0, 2, 0, 3]))
    assert not report.ok
    assert report.row("params[0]").worst_index[0] == 0


class SoftmaxWithLoss:
    """DLFS's loss layer with integer class labels (t is not one-hot)."""

    def __init__(self):
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        x = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        batch = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(batch), t])) / batch

    def backward(self, dout=1):
        batch = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch), self.t] -= 1
        return dx * dout / batch


@pytest.mark.parametrize("seed", SEEDS)
def test_integer_labels_are_taken_as_they_are(seed):
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((5, 3)), rng.integers(0, 3, size=5)
    report = check_layer(SoftmaxWithLoss(), symgrad.SoftmaxCrossEntropy(), x=x, t=t, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x"]
    assert report.row("x").rel_error < 1e-6
    assert report.values["t"].dtype.kind == "i"


def test_float_labels_for_an_integer_label_layer_give_a_clear_layer_error():
    rng = np.random.default_rng(8)
    with pytest.raises(LayerError, match=r"SoftmaxWithLoss's forward raised IndexError.*pass them as integers"):
        check_layer(SoftmaxWithLoss(), x=rng.standard_normal((5, 3)), t=np.array([0.0, 1.0, 2.0, 0.0, 1.0]))


# -- cs231n: function pairs and loss functions ---------------------------------------------------------


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, _ = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_pair_on_4d_input_against_the_affine_spec(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 2, 2))
    params = {"w": rng.standard_normal((12, 5)) / 3, "b": rng.standard_normal(5)}
    report = check_layer((affine_forward, affine_backward), symgrad.Affine(12, 5), x=x, params=params, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "w", "b"]
    assert report.row("x").symbolic.shape == (2, 3, 2, 2)


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = 1 + (height + 2 * pad - hh) // stride, 1 + (width + 2 * pad - ww) // stride
    out = np.zeros((n, f, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
            dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))
            dxp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww] += np.tensordot(
                dout[:, :, i, j], w, axes=([1], [0]))
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, db


def conv_backward_no_window_sum(dout, cache):
    dx, dw, _ = conv_backward_naive(dout, cache)
    return dx, dw, dout[:, :, 0, 0].sum(axis=0)  # db from one output position only


def test_cs231n_conv_pair_takes_a_parameter_dict_as_a_constant():
    rng = np.random.default_rng(9)
    params = {"w": 0.5 * rng.standard_normal((2, 1, 3, 3)), "b": rng.standard_normal(2),
              "conv_param": {"stride": 1, "pad": 1}}
    x = rng.standard_normal((2, 1, 4, 4))
    report = check_layer((conv_forward_naive, conv_backward_naive), x=x, params=params)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "w", "b"]
    wrong = check_layer((conv_forward_naive, conv_backward_no_window_sum), x=x, params=params)
    assert wrong.row("b").status == "FAIL"
    assert "give the spec" not in str(wrong)  # symgrad has no convolution spec: no hint names one


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = x.shape[0]
    loss = -np.sum(log_probs[np.arange(n), y]) / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def softmax_loss_without_n(x, y):
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_loss_function_returning_loss_and_dx(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    report = check_layer(softmax_loss, symgrad.SoftmaxCrossEntropy(), x=x, t=y, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x"]
    without_spec = check_layer(softmax_loss, x=x, t=y, seed=seed)
    assert without_spec.ok


def test_cs231n_loss_function_without_1_over_n_is_diagnosed():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    report = check_layer(softmax_loss_without_n, symgrad.SoftmaxCrossEntropy(), x=x, t=y)
    assert not report.ok
    assert "missing 1/N" in report.row("x").diagnosis


def test_a_loss_function_takes_no_dout():
    rng = np.random.default_rng(10)
    with pytest.raises(UnknownNameError, match="returns its own gradient"):
        check_layer(softmax_loss, x=rng.standard_normal((6, 4)), t=np.zeros(6, dtype=int), dout=2.0)


# -- several inputs and outputs: an LSTM step ---------------------------------------------------------------


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    hidden = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f = sigmoid(a[:, :hidden]), sigmoid(a[:, hidden:2 * hidden])
    o, g = sigmoid(a[:, 2 * hidden:3 * hidden]), np.tanh(a[:, 3 * hidden:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * tanh_c, dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)])
    return da.dot(Wx.T), da.dot(Wh.T), dc * f, x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def lstm_step_backward_forgets_dnext_c(dnext_h, dnext_c, cache):
    return lstm_step_backward(np.asarray(dnext_h), np.zeros_like(dnext_c), cache)


def _lstm_point(rng, dtype=np.float64):
    n, d, h = 3, 4, 2
    x, prev_h, prev_c = (rng.standard_normal(shape).astype(dtype) for shape in ((n, d), (n, h), (n, h)))
    params = {"Wx": (0.5 * rng.standard_normal((d, 4 * h))).astype(dtype),
              "Wh": (0.5 * rng.standard_normal((h, 4 * h))).astype(dtype),
              "b": rng.standard_normal(4 * h).astype(dtype)}
    return (x, prev_h, prev_c), params


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_lstm_step_with_three_inputs_and_two_outputs(seed):
    rng = np.random.default_rng(seed)
    inputs, params = _lstm_point(rng)
    report = check_layer((lstm_step_forward, lstm_step_backward), x=inputs, params=params, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x0", "x1", "x2", "Wx", "Wh", "b"]
    assert report.values["dout0"].shape == report.values["dout1"].shape == (3, 2)  # one per output, (h, c)
    assert "dout" not in report.values


def test_named_inputs_name_the_rows():
    rng = np.random.default_rng(11)
    (x, prev_h, prev_c), params = _lstm_point(rng)
    report = check_layer((lstm_step_forward, lstm_step_backward), x={"x": x, "prev_h": prev_h, "prev_c": prev_c},
                         params=params)
    assert report.ok
    assert [row.name for row in report.rows] == ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]


def test_lstm_step_ignoring_the_second_upstream_gradient_fails():
    rng = np.random.default_rng(12)
    inputs, params = _lstm_point(rng)
    report = check_layer((lstm_step_forward, lstm_step_backward_forgets_dnext_c), x=inputs, params=params)
    assert not report.ok
    assert report.row("x2").status == "FAIL"  # dprev_c = dc * f misses dnext_c's share


class LSTM:
    """DLFS2's LSTM cell: forward(x, h_prev, c_prev) -> (h_next, c_next), backward(dh_next, dc_next)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        h_next, c_next, self.cache = lstm_step_forward(x, h_prev, c_prev, *self.params)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh_next, dc_next, self.cache)
        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db
        return dx, dh_prev, dc_prev


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dlfs2_lstm_object_with_several_inputs_and_outputs(dtype):
    rng = np.random.default_rng(13)
    inputs, params = _lstm_point(rng, dtype)
    report = check_layer(LSTM(*params.values()), x=inputs, params=["Wx", "Wh", "b"])
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x0", "x1", "x2", "Wx", "Wh", "b"]
    assert report.dtype == np.dtype(dtype).name


def test_dout_for_several_outputs_must_match_them():
    rng = np.random.default_rng(14)
    inputs, params = _lstm_point(rng)
    with pytest.raises(symgrad.SymgradError, match="one upstream gradient per output"):
        check_layer(LSTM(*params.values()), x=inputs, dout=np.ones((3, 2)))


# -- DLFS1 object on N-D input; misuse ------------------------------------------------------------


class FlatteningAffine:
    """DLFS1's Affine: flattens a 4-D input and gives dx back in the input's shape."""

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_dlfs1_affine_on_4d_input_with_and_without_a_spec(seed):
    rng = np.random.default_rng(seed)
    layer = FlatteningAffine(rng.standard_normal((12, 3)) / 3, rng.standard_normal(3))
    x = rng.standard_normal((2, 3, 2, 2))
    assert check_layer(layer, x=x, seed=seed).ok
    report = check_layer(layer, symgrad.Affine(12, 3), x=x, seed=seed)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x", "W", "b"]


def test_a_spec_needs_one_float_input():
    rng = np.random.default_rng(15)
    inputs, params = _lstm_point(rng)
    with pytest.raises(SpecError, match="takes one input x; the layer was given 3"):
        check_layer(LSTM(*params.values()), symgrad.Tanh(), x=inputs)
    with pytest.raises(DTypeError, match="x has integer dtype int64, but the spec ReLU"):
        check_layer(Embedding(np.ones((4, 3))), symgrad.ReLU(), x=np.array([0, 1]))


def test_the_helpers_take_every_convention_too():
    rng = np.random.default_rng(16)
    inputs, params = _lstm_point(rng)
    assert assert_gradients_match((lstm_step_forward, lstm_step_backward), x=inputs, params=params).ok
    with pytest.raises(GradientMismatchError, match="gradients checked: dx0, dx1, dx2, dWx, dWh, db"):
        assert_gradients_match((lstm_step_forward, lstm_step_backward_forgets_dnext_c), x=inputs, params=params)


class LabelCasting(SoftmaxWithLoss):
    def forward(self, x, t):
        return super().forward(x, t.astype(int))


def test_float_labels_against_a_loss_spec_give_a_shape_error_not_a_numpy_one():
    x = np.random.default_rng(17).standard_normal((5, 3))
    with pytest.raises(symgrad.errors.ShapeError, match=r"or integer class labels of shape \(5,\); t has shape \(5,\) "
                                                        r"and dtype float64: pass class labels as integers"):
        check_layer(LabelCasting(), symgrad.SoftmaxCrossEntropy(), x=x, t=np.array([0.0, 1, 2, 0, 1]))
    with pytest.raises(symgrad.errors.ShapeError, match=r"class labels in t must lie in 0 \.\. 2"):
        check_layer(LabelCasting(), symgrad.SoftmaxCrossEntropy(), x=x, t=np.array([0, 1, 2, 0, -1]))


def word_embedding_forward(x, W):
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def test_cs231n_pair_with_an_integer_input_returns_only_the_parameter_gradient():
    rng = np.random.default_rng(18)
    x = np.array([[0, 3, 3], [2, 1, 0]])  # (N, T) word indices
    report = check_layer((word_embedding_forward, word_embedding_backward), x=x,
                         params={"W": rng.standard_normal((4, 5))})
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["W"]


def batchnorm_forward(x, gamma, beta, bn_param):
    momentum = bn_param.get("momentum", 0.9)
    mean, var = x.mean(axis=0), x.var(axis=0)
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros_like(mean)) + (1 - momentum) * mean
    xhat = (x - mean) / np.sqrt(var + bn_param.get("eps", 1e-5))
    return gamma * xhat + beta, (xhat, gamma, np.sqrt(var + bn_param.get("eps", 1e-5)))


def batchnorm_backward_alt(dout, cache):
    xhat, gamma, std = cache
    n = dout.shape[0]
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0)) / (n * std)
    return dx, np.sum(dout * xhat, axis=0), dout.sum(axis=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_batchnorm_pair_with_a_parameter_dict_it_writes_into(seed):
    rng = np.random.default_rng(seed)
    bn_param = {"mode": "train"}
    params = {"gamma": 1 + rng.standard_normal(3) / 2, "beta": rng.standard_normal(3), "bn_param": bn_param}
    report = check_layer((batchnorm_forward, batchnorm_backward_alt), x=rng.standard_normal((5, 3)), params=params,
                         seed=seed)
    assert report.ok, str(report)
    assert report.warnings == ()
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]
    assert bn_param == {"mode": "train"}  # each call gets a copy: the caller's dict is not written


class TwoOutputsOfTwoShapes:
    def forward(self, x):
        return x * 2, x.sum(axis=1)

    def backward(self, dscaled, dsum):
        return dscaled * 2 + dsum[:, None]


def _reports():
    rng = np.random.default_rng(19)
    inputs, params = _lstm_point(rng)
    return [
        check_layer(MatMul(rng.standard_normal((3, 2))), x=rng.standard_normal((4, 3))),
        check_layer(LSTM(*params.values()), x=inputs),
        check_layer(Embedding(rng.standard_normal((4, 3))), x=np.array([0, 2, 0])),
        check_layer(TwoOutputsOfTwoShapes(), x=rng.standard_normal((4, 3))),
        check_layer(SoftmaxWithLoss(), symgrad.SoftmaxCrossEntropy(), x=rng.standard_normal((4, 3)),
                    t=np.array([0, 1, 2, 1])),
    ]


def test_reports_of_every_convention_render_in_every_format():
    for report in _reports():
        assert report.ok, str(report)
        for render in (str, repr, lambda r: r.to_json(), lambda r: r.to_markdown(), lambda r: r.to_html(),
                       lambda r: r.to_latex(), lambda r: r.to_mathml()):
            assert render(report)
        assert "computed in float64" in str(report)


class TimeAffine:
    """DLFS2's TimeAffine: one affine map applied at every time step of (N, T, D)."""

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        n, t, _ = x.shape
        W, b = self.params
        self.x = x
        return (x.reshape(n * t, -1).dot(W) + b).reshape(n, t, -1)

    def backward(self, dout):
        n, t, _ = self.x.shape
        W, _ = self.params
        dout = dout.reshape(n * t, -1)
        rx = self.x.reshape(n * t, -1)
        self.grads[0][...] = np.dot(rx.T, dout)
        self.grads[1][...] = np.sum(dout, axis=0)
        return np.dot(dout, W.T).reshape(*self.x.shape)


class TimeAffineDbOverTimeOnly(TimeAffine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads[1][...] = np.sum(dout[0], axis=0)  # the first sample's time steps only
        return dx


@pytest.mark.parametrize("seed", SEEDS)
def test_a_time_distributed_layer_on_3d_input_against_the_affine_spec(seed):
    rng = np.random.default_rng(seed)
    layer = TimeAffine(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x = rng.standard_normal((2, 5, 4))  # (N, T, D): the spec's rows are the N * T time steps
    report = check_layer(layer, symgrad.Affine(4, 3), x=x, params=["W", "b"], seed=seed)
    assert report.ok, str(report)
    assert report.row("x").symbolic.shape == (2, 5, 4)
    assert report.row("W").rel_error < 1e-6
    wrong = check_layer(TimeAffineDbOverTimeOnly(layer.params[0], layer.params[1]), symgrad.Affine(4, 3), x=x,
                        params=["W", "b"], seed=seed)
    assert wrong.row("b").status == "FAIL"
    assert [wrong.row(name).status for name in ("x", "W")] == ["ok", "ok"]


class FlatteningAffineNoTranspose(FlatteningAffine):
    def backward(self, dout):
        dx = super().backward(dout)
        return np.dot(dout, self.W).reshape(dx.shape)  # W.T forgotten (W square)


def test_a_wrong_dx_on_4d_input_is_diagnosed_in_the_spec_s_terms():
    rng = np.random.default_rng(20)
    layer = FlatteningAffineNoTranspose(rng.standard_normal((12, 12)) / 3, rng.standard_normal(12))
    report = check_layer(layer, symgrad.Affine(12, 12), x=rng.standard_normal((2, 3, 2, 2)))
    assert report.row("x").status == "FAIL"
    assert report.row("x").diagnosis == "matches a missing transpose: dx = dout @ W; expected dx = dout @ W.T"


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


class MaskedMatMul:
    """An article-style layer with a 0/1 mask it validates, an attribute it never reads, and W."""

    def __init__(self, rng):
        self.W = rng.standard_normal((3, 2))
        self.mask = np.array([1.0, 0.0, 1.0])
        self.unused = np.ones(3)
        self.x = None

    def forward(self, x):
        if not np.isin(self.mask, (0.0, 1.0)).all():
            raise ValueError("mask must hold 0 and 1 only")
        self.x = x * self.mask
        return self.x @ self.W

    def backward(self, dout):
        self.dW = self.x.T @ dout
        return (dout @ self.W.T) * self.mask


def test_attributes_that_reject_a_move_or_do_not_move_the_output_are_not_taken_for_parameters():
    # mask: forward() refuses moved values (no evidence it is a parameter); unused: the output does
    # not depend on it. Neither may become a failing "no gradient stored" row; W is still checked.
    rng = np.random.default_rng(3)
    report = check_layer(MaskedMatMul(rng), x=rng.standard_normal((4, 3)) + 2.0)
    assert [row.name for row in report.rows] == ["x", "W"]
    assert report.ok
    assert any("mask is an array attribute of MaskedMatMul" in note for note in report.notes)


class NudgedMatMul:
    """out = (x + 1e-6 * offset) @ W: offset moves E by far less than a millionth of E."""

    def __init__(self, rng):
        self.W = rng.standard_normal((3, 2))
        self.offset = np.ones(3)
        self.x = None

    def forward(self, x):
        self.x = x + 1e-6 * self.offset
        return self.x @ self.W

    def backward(self, dout):
        self.dW = self.x.T @ dout
        return dout @ self.W.T


def test_an_attribute_moving_the_output_by_less_than_a_millionth_is_not_a_parameter():
    # the test of "does the output depend on it" is relative to E's size (a rounding guard),
    # not an absolute threshold: here E is about 1e3 and offset moves it by about 1e-8
    rng = np.random.default_rng(4)
    report = check_layer(NudgedMatMul(rng), x=300.0 * rng.standard_normal((5, 3)))
    assert [row.name for row in report.rows] == ["x", "W"]
    assert report.ok


class ListAffineRebindsShorterGrads(ListAffine):
    def backward(self, dout):
        W, _ = self.params
        self.grads = [np.dot(self.x.T, dout)]  # a new, shorter list: db never stored
        return np.dot(dout, W.T)


def test_dlfs2_backward_rebinding_a_shorter_grads_list_fails_the_missing_gradient_row():
    rng = np.random.default_rng(5)
    layer = ListAffineRebindsShorterGrads(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, x=rng.standard_normal((4, 3)))
    assert report.row("params[0]").status == "ok"
    assert report.row("params[1]").status == "FAIL"
    assert "did not write self.grads[1]" in report.row("params[1]").message


def _forgets_the_cache(x, w):
    return x * w  # cs231n's forward returns (out, cache): the cache is forgotten


def _backward_of_scale(dout, cache):
    x, w = cache
    return dout * w, np.sum(dout * x, axis=0)


def test_a_pair_forward_returning_a_bare_array_is_a_clear_error():
    rng = np.random.default_rng(6)
    with pytest.raises(LayerError, match=r"_forgets_the_cache must return \(out, cache\); it returned ndarray"):
        check_layer((_forgets_the_cache, _backward_of_scale), x=rng.standard_normal((4, 3)),
                    params={"w": rng.standard_normal(3)})


class Float32Scale:
    """Keeps its parameter in float32 and records the dtype it computes with at every forward()."""

    seen: ClassVar[set[np.dtype]] = set()  # on the class: the check works on copies of the layer

    def __init__(self):
        self.w = np.array([0.5, -1.5, 2.0], dtype=np.float32)
        self.x = None

    def forward(self, x):
        Float32Scale.seen.add(self.w.dtype)
        self.x = x
        return x * self.w

    def backward(self, dout):
        self.dw = np.sum(dout * self.x, axis=0)
        return dout * self.w


def test_a_float32_parameter_is_moved_in_float32():
    Float32Scale.seen.clear()
    report = check_layer(Float32Scale(), x=np.random.default_rng(7).standard_normal((5, 3)).astype(np.float32))
    assert report.ok, str(report)
    assert Float32Scale.seen == {np.dtype(np.float32)}  # every copy, at every point the check tried


class ListAffineWithAShortGradsList(ListAffine):
    def __init__(self, W, b):
        super().__init__(W, b)
        self.grads = [np.zeros_like(W)]  # db has no place

    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = np.dot(self.x.T, dout)
        return np.dot(dout, W.T)


def test_a_dlfs2_layer_with_fewer_grads_than_params_is_refused_not_passed_on_x_alone():
    # Regression: params and grads of different lengths fell back to the attribute protocol, which sees
    # neither list: only dx was checked and the report said ok, with b never looked at.
    rng = np.random.default_rng(6)
    layer = ListAffineWithAShortGradsList(rng.standard_normal((3, 2)), rng.standard_normal(2))
    with pytest.raises(LayerError, match=r"params holds 2 arrays but \.grads holds 1"):
        check_layer(layer, x=rng.standard_normal((4, 3)))
