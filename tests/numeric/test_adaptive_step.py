"""Central differences at default steps choose each element's step from its own curvature (issue 11, part 5).

A pilot third difference at 8 default steps estimates ``f'''`` per element; the central difference
is then taken at ``c (eps S / |f'''|)^(1/3)``, within 1/8 to 8 default steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from symgrad.numeric.finite import default_step, gradient, total_evaluations

EPS = float(np.finfo(np.float64).eps)


def cubic(a: np.ndarray, linear: float = 0.0) -> Any:
    """``sum(a x^3 / 6) + linear * sum(x)``: ``f'''`` is exactly ``a`` along each element."""

    def f(v: dict[str, Any]) -> Any:
        x = v["x"]
        return float(np.sum(a * x**3) / 6 + linear * np.sum(x))

    return f


def test_each_element_gets_the_step_its_third_derivative_calls_for() -> None:
    a = np.array([0.01, 0.3, 1.0, 10.0])
    x = np.array([0.3, -0.4, 0.5, 0.2])
    f = cubic(a)
    result = gradient(f, {"x": x}, "x")
    scale = max(1.0, abs(f({"x": x})))
    expected = 0.9 * np.cbrt(EPS * scale / a)  # c = 0.9, fitted on benchmark section 4
    base = default_step(x, "central", scale=scale)
    assert np.all(expected > base / 8)
    assert np.all(expected < 8 * base)
    np.testing.assert_allclose(result.steps["x"], expected, rtol=0.05)
    # Larger curvature, smaller step: from 0.01 to 10 the step shrinks by 10 (the cube root of 1000).
    assert result.steps["x"][0] / result.steps["x"][3] == pytest.approx(10.0, rel=0.05)


def test_without_curvature_the_step_grows_toward_the_pilots_and_with_huge_curvature_stops_at_an_eighth() -> None:
    # A linear element has f''' = 0 (up to rounding): the step grows toward the pilot's, 8 default steps.
    # A huge third derivative asks for a step below 1/8 of the default: clipped there.
    a = np.array([0.0, 1e4])
    x = np.array([0.5, 0.5])
    f = cubic(a, linear=2.0)
    result = gradient(f, {"x": x}, "x")
    base = default_step(x, "central", scale=max(1.0, abs(f({"x": x}))))
    # Rounding leaves a third difference of about 8 eps |f| / H^3, which asks for about H / 2.
    assert 2 * base[0] < result.steps["x"][0] <= 8 * base[0] * (1 + 1e-9)
    np.testing.assert_allclose(result.steps["x"][1], base[1] / 8, rtol=1e-6)
    np.testing.assert_allclose(result.gradients["x"][0], 2.0, rtol=1e-9)  # linear: right at any step


def test_chosen_steps_beat_the_fixed_default_where_curvatures_differ() -> None:
    """exp(k x) with k from 0.1 to 4: one step cannot suit both; each element's own step does."""
    k = np.array([0.1, 0.5, 2.0, 4.0])
    x = np.array([0.2, -0.3, 0.4, 0.1])

    def f(v: dict[str, Any]) -> Any:
        return float(np.sum(np.exp(k * v["x"])))

    exact = k * np.exp(k * x)
    chosen = gradient(f, {"x": x}, "x")
    fixed = gradient(f, {"x": x}, "x", step=default_step(x, "central", scale=f({"x": x})))
    chosen_error = np.linalg.norm(chosen.gradients["x"] - exact) / np.linalg.norm(exact)
    fixed_error = np.linalg.norm(fixed.gradients["x"] - exact) / np.linalg.norm(exact)
    assert chosen_error < fixed_error / 2
    assert chosen_error < 3e-11
    # and each value's error estimate covers its actual error
    assert np.all(np.abs(chosen.gradients["x"] - exact) <= chosen.errors["x"])


def test_a_given_step_is_taken_as_it_is_without_the_pilot() -> None:
    calls = []

    def f(v: dict[str, Any]) -> Any:
        calls.append(v["x"].copy())
        return float(np.sum(np.sin(v["x"])))

    x = np.array([0.3, 0.7])
    result = gradient(f, {"x": x}, "x", step=1e-5)
    np.testing.assert_allclose(result.steps["x"], 1e-5, rtol=1e-9)
    assert result.evaluations == len(calls) == 3 * 2 + 1
    calls.clear()
    result = gradient(f, {"x": x}, "x")
    assert result.evaluations == len(calls) == 5 * 2 + 1 == total_evaluations({"x": x}, "x", "central")
    # the pilot's points lie 8 default steps out, the chosen pair within them
    base = default_step(x, "central", scale=max(1.0, abs(f({"x": x}))))
    offsets = [np.abs(point - x).max() for point in calls[1:]]
    assert max(offsets) == pytest.approx(16 * base.max(), rel=1e-6)  # the pilot's far point, v + 2H
    assert min(offsets) <= 8 * base.max() * (1 + 1e-9)


def test_at_a_huge_point_the_pilot_does_not_overflow() -> None:
    """Regression: at x ~ 1e200 the pilot's H^3 overflowed (a RuntimeWarning, then nan in the estimate)."""
    x = np.array([1e200, -3e200])
    with np.errstate(over="raise", invalid="raise"):
        result = gradient(lambda v: float(np.sum(2.0 * v["x"])), {"x": x}, "x")
    np.testing.assert_allclose(result.gradients["x"], 2.0, rtol=1e-9)
    assert np.all(np.isfinite(result.errors["x"]))
