"""symgrad.special.erf: NumPy has no erf, so symgrad carries one; pinned against mpmath to the last digits."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from symgrad.special import erf

mpmath.mp.dps = 40


def _exact(values: np.ndarray) -> np.ndarray:
    return np.array([float(mpmath.erf(mpmath.mpf(float(v)))) for v in values])


def _exact_derivative(values: np.ndarray) -> np.ndarray:
    return np.array([float(2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(mpmath.mpf(float(v)) ** 2))) for v in values])


# Dense around the series/continued-fraction split at 2.5 and the saturation at 10, sparse elsewhere.
GRID = np.unique(np.concatenate([
    np.linspace(-12.0, 12.0, 4001),
    np.linspace(2.4, 2.6, 401), -np.linspace(2.4, 2.6, 401),
    np.linspace(9.9, 10.1, 41),
    [0.0, -0.0, 1e-300, -1e-300, 1e-8, 5e-324, np.nextafter(2.5, 3), np.nextafter(2.5, 2)],
]))  # fmt: skip


def test_erf_agrees_with_mpmath_to_a_few_units_in_the_last_place():
    values, exact = erf(GRID), _exact(GRID)
    assert np.max(np.abs(values - exact)) <= 1e-15
    nonzero = exact != 0
    assert np.max(np.abs(values - exact)[nonzero] / np.abs(exact[nonzero])) <= 1e-15


def test_erf_agrees_with_math_erf_on_random_points():
    points = np.random.default_rng(3).standard_normal(2000) * 3
    assert np.max(np.abs(erf(points) - np.array([math.erf(p) for p in points]))) <= 1e-15


def test_a_complex_step_through_erf_gives_its_derivative():
    # The series and continued fraction are analytic, so Im erf(x + ih)/h is erf'(x) without a subtraction:
    # what the complex-step checks and a formula activation's reference backward rely on.
    inside = GRID[np.abs(GRID) < 10]
    derivative = erf(inside + 1e-30j).imag / 1e-30
    assert np.max(np.abs(derivative - _exact_derivative(inside))) <= 5e-15


def test_erf_is_odd_saturates_and_passes_nan_through():
    points = np.linspace(0.1, 7, 50)
    assert np.array_equal(erf(-points), -erf(points))
    assert erf(np.array([np.inf, -np.inf, 1e300, -1e300])).tolist() == [1.0, -1.0, 1.0, -1.0]
    assert np.isnan(erf(np.array([np.nan]))[0])


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_erf_keeps_the_shape(shape):
    x = np.full(shape, 0.5)
    assert np.shape(erf(x)) == shape
    assert np.allclose(erf(x), math.erf(0.5), rtol=0, atol=1e-16)
