"""The layers' NumPy reference forward/backward (the article's protocol), checked by hand.

Each backward is compared with central differences of ``sum(dout * forward(x))``
written out here, so the reference side of symgrad's three-way check is itself
tested without symgrad's finite-difference code.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symgrad.errors import ShapeError
from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh

RNG = np.random.default_rng(1234)


def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def test_affine_batched_forward_and_backward():
    x, W, b = RNG.standard_normal((3, 2)), RNG.standard_normal((2, 4)), RNG.standard_normal(4)
    dout = RNG.standard_normal((3, 4))
    layer = Affine(2, 4)
    layer.set_params({"W": W, "b": b})
    np.testing.assert_allclose(layer.forward(x), x @ W + b)
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    assert layer.dW.shape == W.shape
    assert layer.db.shape == b.shape

    def through(**changed):
        probe = Affine(2, 4)
        probe.set_params({"W": changed.get("W", W), "b": changed.get("b", b)})
        return float(np.sum(dout * probe.forward(changed.get("x", x))))

    np.testing.assert_allclose(dx, numeric_grad(lambda v: through(x=v), x), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(layer.dW, numeric_grad(lambda v: through(W=v), W), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(layer.db, numeric_grad(lambda v: through(b=v), b), rtol=1e-7, atol=1e-9)


def test_affine_scalar_is_the_article_layer():
    layer = Affine()
    layer.set_params({"W": 0.5, "b": -1.0})
    assert layer.forward(3.0) == pytest.approx(0.5)
    assert layer.backward(2.0) == pytest.approx(1.0)  # dx = dout * w
    assert layer.dW == pytest.approx(6.0)  # dw = x * dout
    assert layer.db == pytest.approx(2.0)  # db = dout
    assert not layer.batched
    assert Affine(2, 3).batched


@pytest.mark.parametrize("layer_type", [Sigmoid, Tanh, ReLU])
def test_activation_backward_matches_finite_differences(layer_type):
    x = RNG.standard_normal((4, 3))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink
    dout = RNG.standard_normal((4, 3))
    layer = layer_type()
    layer.forward(x)
    dx = layer.backward(dout)
    expected = numeric_grad(lambda v: float(np.sum(dout * layer_type().forward(v))), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-7, atol=1e-9)


def test_activation_forwards():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    np.testing.assert_array_equal(ReLU().forward(x), [[0.0, 0.0, 3.0]])


def test_relu_backward_takes_the_mask_convention_at_zero():
    layer = ReLU()
    layer.forward(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(layer.backward(np.array([5.0, 5.0, 5.0])), [0.0, 0.0, 5.0])


def test_relu_backward_never_writes_into_dout():
    layer = ReLU()
    layer.forward(np.array([[-1.0, 2.0]]))
    dout = np.array([[3.0, 4.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, [[3.0, 4.0]])
    assert not np.shares_memory(dx, dout)


def test_relu_forward_keeps_complex_steps_analytic():
    out = ReLU().forward(np.array([2.0 + 1e-20j, -2.0 + 1e-20j]))
    assert out[0].imag == pytest.approx(1e-20)
    assert out[1] == 0


def test_sigmoid_forward_accepts_complex_steps():
    value = Sigmoid().forward(np.array([0.3 + 1e-20j]))[0]
    s = 1 / (1 + np.exp(-0.3))
    assert value.imag / 1e-20 == pytest.approx(s * (1 - s), rel=1e-12)


@pytest.mark.parametrize(
    ("loss_type", "formula"),
    [
        (HalfSquaredError, lambda y, t: 0.5 * np.sum((y - t) ** 2)),
        (MeanSquaredError, lambda y, t: np.mean((y - t) ** 2)),
    ],
)
def test_squared_error_losses(loss_type, formula):
    y, t = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    loss = loss_type()
    assert loss.forward(y, t) == pytest.approx(formula(y, t), rel=1e-14)
    grad = loss.backward()
    np.testing.assert_allclose(grad, numeric_grad(lambda v: formula(v, t), y), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(loss.backward(2.0), 2 * grad)  # dout is honoured


def test_softmax_cross_entropy_forward_backward():
    y = RNG.standard_normal((3, 4))
    t = np.eye(4)[[2, 0, 3]]

    def formula(v):
        probs = np.exp(v) / np.sum(np.exp(v), axis=1, keepdims=True)
        return -np.sum(t * np.log(probs)) / v.shape[0]

    loss = SoftmaxCrossEntropy()
    assert loss.forward(y, t) == pytest.approx(formula(y), rel=1e-13)
    grad = loss.backward()
    np.testing.assert_allclose(grad, numeric_grad(formula, y), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(loss.backward(0.5), 0.5 * grad)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.array([[1000.0, 0.0, -1000.0]]), np.array([[0.0, 1.0, 0.0]]))
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(loss.backward(), [[1.0, -1.0, 0.0]], atol=1e-300)


def test_fresh_copies_do_not_share_caches():
    layer = Affine(2, 2)
    layer.set_params({"W": np.eye(2), "b": np.zeros(2)})
    copy = layer.fresh()
    copy.forward(np.ones((1, 2)))
    assert layer.x is None
    assert copy.W is layer.W  # parameters are shared, caches are not


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4"], ids=repr)
def test_affine_sizes_must_be_positive_integers(bad):
    with pytest.raises(ShapeError, match=r"Affine in_features must be a positive integer, got"):
        Affine(bad, 4)


@pytest.mark.parametrize("size", [1, 7, np.int64(3)], ids=repr)
def test_affine_sizes_are_kept_as_python_ints(size):
    layer = Affine(size, 2)
    assert layer.in_features == int(size)
    assert type(layer.in_features) is int
    assert layer.param_shapes(int(size)) == {"W": (int(size), 2), "b": (2,)}


def test_affine_describes_its_shapes_and_refuses_an_input_of_another_width():
    batched, scalar = Affine(3, 2), Affine()
    assert (repr(batched), repr(scalar)) == ("Affine(3, 2)", "Affine()")
    assert (batched.batched, scalar.batched) == (True, False)
    assert batched.output_features(3) == 2
    assert scalar.output_features(None) is None
    with pytest.raises(ShapeError, match="expects 3 input features, but its input has 4"):
        batched.output_features(4)
    assert batched.param_shapes(3) == {"W": (3, 2), "b": (2,)}
    assert scalar.param_shapes(None) == {"W": (), "b": ()}
    w, x, b = sp.symbols("w x b")
    assert scalar.scalar_forward(x, {"W": w, "b": b}) == w * x + b


def test_activations_keep_the_width_have_no_parameters_and_print_their_name():
    layer = Tanh(name="act")
    assert layer.output_features(5) == 5
    assert layer.output_features(None) is None
    assert layer.param_shapes(5) == {}
    assert (repr(layer), repr(ReLU()), repr(Affine(2, 3, name="fc"))) == ("Tanh(name='act')", "ReLU()",
                                                                          "Affine(2, 3, name='fc')")
