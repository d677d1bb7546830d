"""BatchNorm and LayerNorm references: backward against check_layer, forward against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import DTypeError, ShapeError, SpecError
from symgrad.layers.norm import BatchNorm, LayerNorm

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def with_params(layer, rng):
    layer.set_params({"gamma": away(rng, (layer.features,)), "beta": away(rng, (layer.features,))})
    return layer


def assert_agrees(layer, x, seed):
    report = symgrad.check_layer(layer, x=x, params=["gamma", "beta"], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_train_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    layer = with_params(BatchNorm(4), rng)
    assert_agrees(layer, away(rng, (5, 4)) + 1.0, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_eval_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    layer = with_params(BatchNorm(3, train=False), rng)
    layer.running_mean, layer.running_var = away(rng, (3,)), rng.uniform(0.5, 2.0, 3)
    assert_agrees(layer, away(rng, (4, 3)), seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_spatial_batch_norm_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    layer = with_params(BatchNorm(2), rng)
    assert_agrees(layer, away(rng, (2, 2, 3, 2)), seed)


def test_batch_norm_train_forward_is_the_direct_formula_and_updates_running_statistics():
    rng = np.random.default_rng(5)
    x = away(rng, (6, 3)) * 3 + 2
    layer = with_params(BatchNorm(3, momentum=0.8), rng)
    out = layer.forward(x)
    expected = layer.gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5) + layer.beta
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.8 + 0.2 * x.var(axis=0), rtol=1e-12)


def test_batch_norm_backward_is_the_closed_form():
    """The staged (xc, std, xn) backward equals gamma/(N std) (N dout - sum dout - xn sum(dout xn))."""
    rng = np.random.default_rng(6)
    x, dout = away(rng, (7, 3)) + 0.5, away(rng, (7, 3))
    layer = with_params(BatchNorm(3), rng)
    layer.forward(x)
    dx = layer.backward(dout)
    n, std = x.shape[0], np.sqrt(x.var(axis=0) + 1e-5)
    xn = (x - x.mean(axis=0)) / std
    closed = layer.gamma / (n * std) * (n * dout - dout.sum(axis=0) - xn * np.sum(dout * xn, axis=0))
    np.testing.assert_allclose(dx, closed, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dgamma, np.sum(dout * xn, axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.dbeta, dout.sum(axis=0), rtol=1e-12)


def test_batch_norm_eval_uses_the_running_statistics_as_constants():
    rng = np.random.default_rng(7)
    layer = with_params(BatchNorm(3), rng)
    layer.forward(away(rng, (5, 3)))  # train mode moves the running statistics
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    layer.eval()
    x, dout = away(rng, (4, 3)), away(rng, (4, 3))
    out = layer.forward(x)
    np.testing.assert_allclose(out, layer.gamma * (x - mean) / np.sqrt(var + 1e-5) + layer.beta, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, mean)  # eval never moves them
    np.testing.assert_allclose(layer.backward(dout), dout * layer.gamma / np.sqrt(var + 1e-5), rtol=1e-12)
    assert repr(layer) == "BatchNorm(3, train=False)"
    assert layer.training().train


def test_spatial_batch_norm_normalises_each_channel_over_batch_and_space():
    rng = np.random.default_rng(8)
    x = away(rng, (3, 2, 4, 5)) + 1
    layer = with_params(BatchNorm(2), rng)
    out = layer.forward(x)
    for c in range(2):
        channel = x[:, c]
        expected = layer.gamma[c] * (channel - channel.mean()) / np.sqrt(channel.var() + 1e-5) + layer.beta[c]
        np.testing.assert_allclose(out[:, c], expected, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_layer_norm_backward_agrees_with_finite_differences(seed, shape):
    rng = np.random.default_rng(seed)
    layer = with_params(LayerNorm(5), rng)
    assert_agrees(layer, away(rng, shape) + 0.5, seed)


def test_layer_norm_forward_normalises_each_row():
    rng = np.random.default_rng(9)
    x = away(rng, (4, 6)) * 2
    layer = with_params(LayerNorm(6), rng)
    out = layer.forward(x)
    for n, row in enumerate(x):
        mu = sum(row) / len(row)
        var = sum((v - mu) ** 2 for v in row) / len(row)
        np.testing.assert_allclose(out[n], layer.gamma * (row - mu) / np.sqrt(var + 1e-5) + layer.beta, rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: BatchNorm(0), ShapeError, "BatchNorm features must be a positive integer, got 0"),
        (lambda: BatchNorm(2.5), ShapeError, "got 2.5"),
        (lambda: BatchNorm(3, eps=0), SpecError, "BatchNorm eps must be a positive number"),
        (lambda: BatchNorm(3, momentum=1.5), SpecError, "BatchNorm momentum must be a number in [0, 1)"),
        (lambda: BatchNorm(3, momentum=1.0), SpecError, "got 1.0"),
        (lambda: LayerNorm(True), ShapeError, "LayerNorm features must be a positive integer, got True"),
        (lambda: BatchNorm(3).forward(np.zeros((2, 4))), ShapeError, "expects 3 features (axis 1)"),
        (lambda: BatchNorm(3).forward(np.zeros(3)), ShapeError, "(N, D) or (N, C, H, W)"),
        (lambda: LayerNorm(3).forward(np.zeros((2, 4))), ShapeError, "expects 3 features (last axis)"),
        (lambda: LayerNorm(3).forward(np.zeros((2, 3), dtype=int)), DTypeError, "as a float array"),
        (lambda: BatchNorm(3).output_features(4), ShapeError, "expects 3 input features"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)


def test_shapes_and_description():
    assert BatchNorm(4).param_shapes(4) == {"gamma": (4,), "beta": (4,)}
    assert LayerNorm(4).output_features(4) == 4
    assert repr(LayerNorm(4, name="ln")) == "LayerNorm(4, name='ln')"
