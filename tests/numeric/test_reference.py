"""The network run through its layers' reference forward/backward, and what a broken layer gets told."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import symgrad
from symgrad import Affine, HalfSquaredError, LayerError, Network, ReLU, Sigmoid
from symgrad.check.points import sample_values
from symgrad.numeric.reference import reference_backward, reference_loss, relu_inputs


def test_article_reference_matches_the_closed_forms():
    net = symgrad.article_network()
    values = {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.3, "w2": 1.7, "b2": 0.2}
    result = reference_backward(net, values, ("w1", "b1", "w2", "b2", "x"))
    h = 0.8 * 1.5 - 0.3
    y = 1.7 * h + 0.2
    assert result.loss == pytest.approx((y - 0.5) ** 2 / 2)
    expected = {"w1": 1.7 * 1.5 * (y - 0.5), "b1": 1.7 * (y - 0.5), "w2": h * (y - 0.5), "b2": y - 0.5,
                "x": 0.8 * 1.7 * (y - 0.5)}
    for name, value in expected.items():
        assert float(result.gradients[name]) == pytest.approx(value, rel=1e-14)
    assert reference_loss(net, values) == pytest.approx(result.loss)


def test_reference_leaves_the_network_layers_untouched():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    reference_backward(net, sample_values(net, seed=0), ("W1",))
    assert net.layers[0].x is None
    assert net.layers[0].W is None
    assert net.layers[1].out is None


def test_relu_inputs_are_the_pre_activations():
    net = Network([Affine(2, 3), ReLU(), Affine(3, 3), ReLU(), Affine(3, 1)], loss=HalfSquaredError())
    values = sample_values(net, seed=4)
    first, second = relu_inputs(net, values)
    np.testing.assert_allclose(first, values["x"] @ values["W1"] + values["b1"])
    hidden = np.maximum(first, 0) @ values["W2"] + values["b2"]
    np.testing.assert_allclose(second, hidden)


class RaisingAffine(Affine):
    def backward(self, dout):
        return dout @ self.W  # the article's slip: no transpose, so the shapes do not fit


class RaisingForward(Sigmoid):
    def forward(self, x):
        msg = "boom"
        raise RuntimeError(msg)


class WrongShapeAffine(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = self.db.reshape(1, -1)  # (1, M) instead of (M,)
        return dx


class ForgetfulAffine(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = None
        return dx


class TextGradientAffine(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = "dW"
        return dx


class WrongDxAffine(Affine):
    def backward(self, dout):
        super().backward(dout)
        return dout  # dx should be dout @ W.T


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([Affine(3, 4), Sigmoid(), RaisingAffine(4, 2)],
         r"layer 3, RaisingAffine\(4, 2\), raised in backward\(\): ValueError"),
        ([Affine(3, 4), RaisingForward(), Affine(4, 2)],
         r"layer 2, RaisingForward\(\), raised in forward\(\): RuntimeError: boom"),
        ([Affine(3, 4), Sigmoid(), WrongShapeAffine(4, 2)],
         r"gave db with shape \(1, 2\); expected \(2,\), the shape of b"),
        ([ForgetfulAffine(3, 4), Sigmoid(), Affine(4, 2)], r"layer 1, ForgetfulAffine\(3, 4\), did not store dW"),
        ([Affine(3, 4), Sigmoid(), WrongDxAffine(4, 2)], r"gave dx with shape \(5, 2\); expected \(5, 4\)"),
        ([TextGradientAffine(3, 4), Sigmoid(), Affine(4, 2)], r"gave dW that is not an array of numbers"),
    ],
    ids=["raises-in-backward", "raises-in-forward", "db-shape", "no-dW", "dx-shape", "dW-text"],
)
def test_broken_reference_layers_raise_layer_errors_naming_the_layer(layers, match):
    net = Network(layers, loss=HalfSquaredError())
    values = {
        "x": np.ones((5, 3)), "t": np.zeros((5, 2)), "W1": np.full((3, 4), 0.1), "b1": np.zeros(4),
        "W2": np.full((4, 2), 0.2), "b2": np.zeros(2),
    }
    with pytest.raises(LayerError, match=match):
        reference_backward(net, values, ("W1", "b1", "W2", "b2", "x"))


def test_check_reports_a_raising_layer_as_a_layer_error():
    net = Network([Affine(3, 3), Sigmoid(), RaisingAffine(3, 2)], loss=HalfSquaredError())
    with pytest.raises(LayerError, match="layer 3"):
        symgrad.check(net)


class RaisingForwardAffine(Affine):
    def forward(self, x):
        msg = "boom"
        raise RuntimeError(msg)


class RaisingForwardSquaredError(HalfSquaredError):
    def forward(self, x, t):
        msg = "no loss"
        raise RuntimeError(msg)


class RaisingBackwardSquaredError(HalfSquaredError):
    def backward(self, dout=1):
        msg = "no gradient"
        raise RuntimeError(msg)


class SingletonRowAffine(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = self.db.reshape(1, 1)  # (1, 1) for a b of shape (1,): the same single number
        return dx


class RepeatedBiasAffine(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = np.repeat(self.db, 2)  # (2,) for a b of shape (1,)
        return dx


def _values(width):
    rng = np.random.default_rng(7)
    return {
        "x": rng.standard_normal((5, 3)), "t": rng.standard_normal((5, width)),
        "W1": rng.standard_normal((3, width)), "b1": rng.standard_normal(width),
    }


@pytest.mark.parametrize(
    ("layers", "loss", "match"),
    [
        ([RaisingForwardAffine(3, 2)], HalfSquaredError(), r"^layer 1, RaisingForwardAffine\(3, 2\), raised in"),
        ([Affine(3, 2)], RaisingForwardSquaredError(), r"^the loss, RaisingForwardSquaredError\(\), raised in forward"),
        ([Affine(3, 2)], RaisingBackwardSquaredError(), r"^the loss, RaisingBackwardSquaredError\(\), raised in back"),
        ([RepeatedBiasAffine(3, 1)], HalfSquaredError(), r"gave db with shape \(2,\); expected \(1,\), the shape of b"),
    ],
    ids=["first-layer-forward", "loss-forward", "loss-backward", "db-of-another-size"],
)
def test_errors_name_the_first_layer_and_the_loss_as_such(layers, loss, match):
    net = Network(layers, loss=loss)
    with pytest.raises(LayerError, match=match):
        reference_backward(net, _values(layers[0].out_features), ("W1", "b1"))


def test_a_gradient_with_extra_singleton_axes_is_the_same_single_number():
    values = _values(1)
    plain = reference_backward(Network([Affine(3, 1)], loss=HalfSquaredError()), values, ("W1", "b1", "x"))
    reshaped = reference_backward(Network([SingletonRowAffine(3, 1)], loss=HalfSquaredError()), values, ("b1",))
    assert abs(float(plain.gradients["b1"][0])) > 0.1
    np.testing.assert_allclose(np.ravel(reshaped.gradients["b1"]), plain.gradients["b1"], rtol=1e-14)


def test_reference_result_is_frozen_data():
    result = reference_backward(symgrad.article_network(), {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.3, "w2": 1.7,
                                                             "b2": 0.2}, ("w1",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.loss = 0.0  # type: ignore[misc]


def test_a_gradient_that_is_not_numbers_is_named_with_its_dtype():
    net = Network([TextGradientAffine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    values = sample_values(net, seed=0, batch=5)
    with pytest.raises(LayerError, match=r"gave dW that is not an array of numbers \(dtype <U2\)"):
        reference_backward(net, values, ("W1",))


def test_a_graph_network_s_reference_backprop_matches_differences_of_its_reference_loss():
    x, t = symgrad.Input("x", 3), symgrad.Input("t", 2)
    first = Affine(3, 4)
    hidden = ReLU()(first(x))
    out = Affine(7, 2)(symgrad.concat(hidden, x))  # not a chain: x feeds two consumers
    net = Network(HalfSquaredError()(out, t) + 0.1 * symgrad.sum_squares(first.param("W")))
    values = sample_values(net, seed=2, batch=3)
    wrt = tuple(name for name in net.names if name != "t")
    result = reference_backward(net, values, wrt)
    assert result.loss == pytest.approx(float(reference_loss(net, values)))
    h = 1e-6
    for name in wrt:
        numeric = np.zeros_like(values[name])
        for idx in np.ndindex(numeric.shape):
            up, down = dict(values), dict(values)
            up[name], down[name] = values[name].copy(), values[name].copy()
            up[name][idx] += h
            down[name][idx] -= h
            numeric[idx] = (float(reference_loss(net, up)) - float(reference_loss(net, down))) / (2 * h)
        np.testing.assert_allclose(result.gradients[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)
    (z,) = relu_inputs(net, values)
    np.testing.assert_allclose(z, values["x"] @ values["W1"] + values["b1"])
