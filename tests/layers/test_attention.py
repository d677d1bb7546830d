"""Scaled dot-product attention reference: backward against check_layer (three inputs), forward by loops."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import ShapeError
from symgrad.layers.attention import Attention

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("q", "k", "v"), [((2, 3, 4), (2, 5, 4), (2, 5, 2)), ((3, 2), (4, 2), (4, 3))])
def test_attention_backward_agrees_with_finite_differences(seed, q, k, v):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(Attention(), x=(away(rng, q), away(rng, k), away(rng, v)), params=[], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x0", "x1", "x2"]


def test_attention_forward_by_loops():
    rng = np.random.default_rng(3)
    q, k, v = away(rng, (2, 3, 4)), away(rng, (2, 5, 4)), away(rng, (2, 5, 2))
    layer = Attention()
    out = layer.forward(q, k, v)
    for n in range(2):
        for t in range(3):
            scores = np.array([q[n, t] @ k[n, s] / 2.0 for s in range(5)])  # sqrt(d) = 2
            weights = np.exp(scores) / np.exp(scores).sum()
            np.testing.assert_allclose(layer.weights[n, t], weights, rtol=1e-12)
            np.testing.assert_allclose(out[n, t], sum(weights[s] * v[n, s] for s in range(5)), rtol=1e-12)


@pytest.mark.parametrize(
    ("q", "k", "v"),
    [((2, 3, 4), (2, 5, 3), (2, 5, 2)), ((2, 3, 4), (2, 5, 4), (2, 4, 2)), ((2, 3, 4), (3, 5, 4), (3, 5, 2))],
)
def test_mismatched_shapes_raise_shape_error(q, k, v):
    with pytest.raises(ShapeError, match=r"Attention expects q \(\.\.\., T, d\), k \(\.\.\., S, d\)"):
        Attention().forward(np.zeros(q), np.zeros(k), np.zeros(v))


def test_a_vector_is_refused():
    with pytest.raises(ShapeError, match=r"Attention expects q of shape \(\.\.\., T, d\), got shape \(3,\)"):
        Attention().forward(np.zeros(3), np.zeros((2, 3)), np.zeros((2, 3)))
