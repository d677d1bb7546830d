"""Dropout reference: a frozen mask, the 1/(1-p) scale, backward against check_layer."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import ShapeError, SpecError
from symgrad.layers.dropout import Dropout

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_with_a_frozen_mask_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(0.4)
    layer.draw_mask((5, 4), rng)
    report = symgrad.check_layer(layer, x=away(rng, (5, 4)), params=[], seed=seed)
    assert report.ok, report
    assert not report.warnings


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_with_the_mask_as_an_integer_input_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    mask = (rng.random((4, 3)) >= 0.5).astype(int)
    report = symgrad.check_layer(Dropout(0.5), x=(away(rng, (4, 3)), mask), params=[], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x0"]  # the mask is passed through


def test_the_mask_is_frozen_and_scaled_by_one_over_one_minus_p():
    rng = np.random.default_rng(3)
    layer = Dropout(0.25)
    mask = layer.draw_mask((200, 10), rng)
    assert mask.dtype == bool
    assert 0.6 < mask.mean() < 0.9  # kept with probability 0.75
    x, dout = away(rng, (200, 10)), away(rng, (200, 10))
    first = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x), first)  # the same mask at every call
    np.testing.assert_allclose(first, np.where(mask, x / 0.75, 0.0), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(dout), np.where(mask, dout / 0.75, 0.0), rtol=1e-15)


def test_a_mask_given_as_zeros_and_ones_is_the_same_as_booleans():
    layer = Dropout(0.5)
    layer.set_mask(np.array([[1, 0], [0, 1]]))
    np.testing.assert_array_equal(layer.forward(np.full((2, 2), 3.0)), [[6.0, 0.0], [0.0, 6.0]])
    layer.forward(np.ones((2, 2)), np.array([[0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((2, 2))), [[0.0, 2.0], [2.0, 2.0]])


def test_eval_mode_is_the_identity():
    x = np.array([[1.0, -2.0]])
    layer = Dropout(0.5).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    assert repr(Dropout(0.5, train=False)) == "Dropout(0.5, train=False)"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Dropout(1.0), SpecError, "Dropout p must be a number in [0, 1)"),
        (lambda: Dropout(-0.1), SpecError, "got -0.1"),
        (lambda: Dropout("0.5"), SpecError, "got '0.5'"),
        (lambda: Dropout(0.5).forward(np.ones(3)), SpecError, "Dropout has no mask"),
        (lambda: Dropout(0.5).set_mask(np.array([0.5, 1.0])), SpecError, "booleans or 0/1 values"),
        (lambda: Dropout(0.5).forward(np.ones(3), np.array([True, False])), ShapeError,
         "mask has shape (2,), but its input has shape (3,)"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)
