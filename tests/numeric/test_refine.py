"""symgrad/numeric/refine.py: a second look at single elements, Richardson levels and an error estimate."""

from __future__ import annotations

import numpy as np
import pytest

from symgrad.errors import DTypeError
from symgrad.numeric.refine import refine


@pytest.mark.parametrize("k", [30.0, 300.0])
def test_the_refined_derivative_is_within_its_estimated_error_of_the_exact_one(k):
    # f curves on a scale near the step: a plain central difference is off, the refined value is not
    x = np.array([[0.7, -1.3], [2.1, 0.4]])
    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(np.sin(k * v["x"])))

    indices, steps = [0, 3, 2], [1e-3, 2e-3, 1e-3]
    value, error = refine(f, {"x": x}, "x", indices, steps)
    exact = k * np.cos(k * x.reshape(-1)[indices])
    assert value.shape == error.shape == (3,)
    assert np.all(np.abs(value - exact) <= error)
    assert np.all(error < 1e-3 * k)
    assert len(calls) == 6 * len(indices)


def test_the_point_is_left_as_it_was():
    x = np.array([0.5, -0.25, 1.5])
    kept = x.copy()
    refine(lambda v: float(np.sum(v["x"] ** 3)), {"x": x}, "x", [1, 2], [1e-4, 1e-4])
    np.testing.assert_array_equal(x, kept)


def test_a_loss_that_turns_complex_at_a_real_point_is_refused():
    def f(v):
        return complex(float(np.sum(v["x"])), 1.0)

    with pytest.raises(DTypeError, match="f returned the complex number"):
        refine(f, {"x": np.array([0.5, 1.0])}, "x", [0], [1e-4])
