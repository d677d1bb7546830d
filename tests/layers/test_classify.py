"""Softmax, SoftmaxCrossEntropy (integer or one-hot labels), SVMLoss and SigmoidCrossEntropy references."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import DTypeError, ShapeError
from symgrad.layers import losses
from symgrad.layers.classify import SigmoidCrossEntropy, Softmax, SoftmaxCrossEntropy, SVMLoss

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_softmax_backward_agrees_with_finite_differences(seed, shape):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(Softmax(), x=away(rng, shape), params=[], seed=seed)
    assert report.ok, report


def test_softmax_forward_and_its_jacobian():
    rng = np.random.default_rng(3)
    x, dout = away(rng, (3, 4)), away(rng, (3, 4))
    layer = Softmax()
    y = layer.forward(x)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-12)
    dx = layer.backward(dout)
    for n in range(3):
        jacobian = np.diag(y[n]) - np.outer(y[n], y[n])
        np.testing.assert_allclose(dx[n], jacobian @ dout[n], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_with_integer_labels_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(SoftmaxCrossEntropy(), x=away(rng, (5, 4)), t=rng.integers(0, 4, 5), params=[],
                                 seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x"]


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_takes_integer_and_one_hot_labels_alike(seed):
    rng = np.random.default_rng(seed)
    x, labels = away(rng, (6, 3)) * 3, rng.integers(0, 3, 6)
    one_hot = np.eye(3)[labels]
    by_label, by_one_hot, catalogue = SoftmaxCrossEntropy(), SoftmaxCrossEntropy(), losses.SoftmaxCrossEntropy()
    expected = -np.mean(np.log(np.exp(x[np.arange(6), labels]) / np.exp(x).sum(axis=1)))
    assert by_label.forward(x, labels) == pytest.approx(expected, rel=1e-12)
    assert by_one_hot.forward(x, one_hot) == pytest.approx(expected, rel=1e-12)
    assert catalogue.forward(x, one_hot) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(by_label.backward(2.0), 2.0 * catalogue.backward(), rtol=1e-12)
    np.testing.assert_allclose(by_one_hot.backward(), catalogue.backward(), rtol=1e-12)


def test_softmax_cross_entropy_is_finite_for_large_scores():
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.array([[400.0, 0.0], [0.0, 400.0]]), np.array([0, 0])) == pytest.approx(200.0)
    np.testing.assert_allclose(loss.backward(), [[0.0, 0.0], [-0.5, 0.5]], atol=1e-15)


def svm_by_loops(x, labels):
    """cs231n's naive multiclass hinge: a loop over samples and classes."""
    loss = 0.0
    for n in range(x.shape[0]):
        for j in range(x.shape[1]):
            if j != labels[n]:
                loss += max(0.0, x[n, j] - x[n, labels[n]] + 1.0)
    return loss / x.shape[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_svm_loss_agrees_with_finite_differences_and_the_loop(seed):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.linspace(-2.05, 2.0, 20)).reshape(5, 4)  # margins stay away from the kink at 0
    labels = rng.integers(0, 4, 5)
    assert SVMLoss().forward(x, labels) == pytest.approx(svm_by_loops(x, labels), rel=1e-12)
    report = symgrad.check_layer(SVMLoss(), x=x, t=labels, params=[], seed=seed)
    assert report.ok, report


def test_svm_loss_gradient_counts_positive_margins():
    loss = SVMLoss()
    loss.forward(np.array([[1.0, 1.5, 0.5, -3.0]]), np.array([0]))  # margins 1.5, 0.5, 0
    np.testing.assert_array_equal(loss.backward(), [[-2.0, 1.0, 1.0, 0.0]])
    assert loss.forward(np.array([[1.0, 1.5, 0.5, -3.0]]), np.eye(4)[[0]]) == pytest.approx(2.0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(6,), (4, 3)])
def test_sigmoid_cross_entropy_agrees_with_finite_differences_and_the_formula(seed, shape):
    rng = np.random.default_rng(seed)
    x, t = away(rng, shape), rng.integers(0, 2, shape)
    y = 1 / (1 + np.exp(-x))
    expected = -np.sum(t * np.log(y) + (1 - t) * np.log(1 - y)) / shape[0]
    assert SigmoidCrossEntropy().forward(x, t) == pytest.approx(expected, rel=1e-12)
    report = symgrad.check_layer(SigmoidCrossEntropy(), x=x, t=t.astype(float), params=[], seed=seed)
    assert report.ok, report


def test_sigmoid_cross_entropy_is_finite_for_large_scores():
    loss = SigmoidCrossEntropy()
    assert np.isfinite(loss.forward(np.array([800.0, -800.0]), np.array([0, 1])))
    np.testing.assert_allclose(loss.backward(), [0.5, -0.5])


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3])), ShapeError,
         "class label 3 is out of range for 3 classes (0..2)"),
        (lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0.0, 1.0])), DTypeError,
         "takes integer class labels, got dtype float64"),
        (lambda: SVMLoss().forward(np.zeros((2, 3)), np.array([0, 1, 2])), ShapeError,
         "integer labels of shape (2,) or one-hot targets of shape (2, 3)"),
        (lambda: SVMLoss().forward(np.zeros((2, 2)), np.full((2, 2), 0.5)), ShapeError, "must be one-hot"),
        (lambda: SVMLoss().forward(np.zeros(3), np.array([0, 1, 2])), ShapeError, "scores of shape (N, C)"),
        (lambda: SigmoidCrossEntropy().forward(np.zeros(3), np.array([0, 1])), ShapeError, "targets of the scores"),
        (lambda: SigmoidCrossEntropy().forward(np.zeros(2), np.array([0, 2])), ShapeError, "targets in [0, 1]"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)
