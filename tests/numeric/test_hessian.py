"""symgrad/numeric/hessian.py: Hessian-vector products of a gradient against second differences of the loss.

(check_hessian, built on it, is tested in tests/check/test_hessian.py.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from symgrad.numeric.hessian import hessian_vector_check


class Counted:
    """A function that counts its calls."""

    def __init__(self, function: Any) -> None:
        self.function, self.calls = function, 0

    def __call__(self, values: dict[str, Any]) -> Any:
        self.calls += 1
        return self.function(values)


X = np.array([0.3, 1.1, -0.8])


@pytest.mark.parametrize(
    ("loss", "claimed", "passes"),
    [
        (lambda v: float(np.sum(np.sin(v["x"]))), lambda v: {"x": np.cos(v["x"])}, True),
        (lambda v: float(np.sum(np.sin(v["x"]))), lambda v: {"x": 1.1 * np.cos(v["x"])}, False),
        (lambda v: float(np.sum(np.abs(v["x"] - 0.3 - 1e-4))), lambda v: {"x": np.sign(v["x"] - 0.3 - 1e-4)}, False),
    ],
    ids=["right", "wrong", "kink"],
)
def test_the_reported_calls_are_the_calls_made(loss, claimed, passes):
    """Regression (bug: a failed comparison reported 8 more calls of f for the kink search, which makes 6 per
    direction it looks along, up to 24)."""
    f, g = Counted(loss), Counted(claimed)
    result = hessian_vector_check(f, g, {"x": X}, ["x"])
    assert result.ok is passes
    assert result.loss_calls == f.calls
    assert result.gradient_calls == g.calls == 8
    if passes:
        assert f.calls == 17


def test_a_kink_is_found_and_the_search_for_it_stops_there():
    f = Counted(lambda v: float(np.sum(np.abs(v["x"] - 0.3 - 1e-4))))
    result = hessian_vector_check(f, lambda v: {"x": np.sign(v["x"] - 0.3 - 1e-4)}, {"x": X}, ["x"])
    assert not result.ok
    assert result.kinked
    assert f.calls < 17 + 24


@pytest.mark.parametrize("seed", range(4))
def test_a_correct_gradient_of_a_curving_loss_passes_its_truncation_error_estimated(seed):
    # sin(30 x): the second differences' truncation error is far above the tolerance; its estimate covers it
    x = np.linspace(-2.0, 2.0, 7)
    result = hessian_vector_check(lambda v: float(np.sum(np.sin(30 * v["x"]))) / 900,
                                  lambda v: {"x": np.cos(30 * v["x"]) / 30}, {"x": x}, ["x"], seed=seed)
    assert result.ok, result.comparisons


@pytest.mark.parametrize("offset", [1e3, 1e6, 1e9])
@pytest.mark.parametrize("seed", range(4))
def test_a_piecewise_linear_loss_far_from_zero_passes_on_its_rounding(offset, seed):
    # |x|: a zero Hessian away from 0, so both sides are rounding, the loss's grows with the offset
    x = np.array([0.5, -1.5, 2.0, -0.7])
    result = hessian_vector_check(lambda v: float(offset + np.sum(3.0 * np.abs(v["x"]))),
                                  lambda v: {"x": 3.0 * np.sign(v["x"])}, {"x": x}, ["x"], seed=seed)
    assert result.ok, result.comparisons
    assert not result.kinked
