"""Embedding reference: integer indices, repeated indices add up, backward against check_layer."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import DTypeError, ShapeError
from symgrad.layers.embedding import Embedding

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("idx", [np.array([3, 1, 3, 0, 3]), np.array([[1, 4, 1], [4, 4, 0]])])
def test_embedding_backward_agrees_with_finite_differences(seed, idx):
    rng = np.random.default_rng(seed)
    layer = Embedding(5, 3)
    layer.set_params({"W": away(rng, (5, 3))})
    report = symgrad.check_layer(layer, x=idx, params=["W"], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["W"]  # the indices are not differentiated


def test_repeated_indices_add_up():
    rng = np.random.default_rng(4)
    W, dout = away(rng, (6, 2)), away(rng, (2, 3, 2))
    idx = np.array([[5, 2, 5], [5, 0, 2]])
    layer = Embedding(6, 2)
    layer.set_params({"W": W})
    out = layer.forward(idx)
    for n in range(2):
        for t in range(3):
            np.testing.assert_array_equal(out[n, t], W[idx[n, t]])
    assert layer.backward(dout) is None
    np.testing.assert_allclose(layer.dW[5], dout[0, 0] + dout[0, 2] + dout[1, 0], rtol=1e-12)
    np.testing.assert_allclose(layer.dW[2], dout[0, 1] + dout[1, 2], rtol=1e-12)
    np.testing.assert_array_equal(layer.dW[[1, 3, 4]], 0.0)


def test_embedding_protocol():
    layer = Embedding(10, 4, name="emb")
    assert layer.param_shapes(None) == {"W": (10, 4)}
    assert layer.output_features(None) == 4
    assert layer.batched is True
    assert repr(layer) == "Embedding(10, 4, name='emb')"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Embedding(0, 3), ShapeError, "Embedding vocab must be a positive integer, got 0"),
        (lambda: Embedding(5, -1), ShapeError, "Embedding dim must be a positive integer, got -1"),
        (lambda: Embedding(5, 2).forward(np.array([0.0, 1.0])), DTypeError, "integer indices into its 5 rows"),
        (lambda: Embedding(5, 2).forward(np.array([0, 5])), ShapeError, "index 5 is out of range"),
        (lambda: Embedding(5, 2).forward(np.array([-1, 0])), ShapeError, "index -1 is out of range"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)
