"""The fast (directional) check: its random directions, its error estimate and what it still catches.

The directions are drawn chunk by chunk from uniform variates and never stored whole
(normal variates, or a stored direction, cost more than the check's own forward
passes at large widths); these tests pin what the cheaper draw must keep, and that
the error estimate removes false alarms without explaining real errors away.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from symgrad.numeric import directional, directions
from symgrad.numeric.directional import directional_check, stencil_ends
from symgrad.numeric.directions import SERIAL, serial_dot


def _direction(values, wrt, seed=0, index=0):
    """The unnormalised direction d, read off the stencil's ends."""
    up, down = stencil_ends(values, wrt, seed, 1.0, index)
    return {name: (up[name] - down[name]) / 2 for name in wrt}


def test_directions_are_seeded_uniform_and_the_same_for_a_name_alone():
    values = {"W": np.zeros((3, 4)), "b": np.zeros(4)}
    d = _direction(values, ["W", "b"])
    assert d["W"].shape == (3, 4)
    assert np.all(np.abs(d["W"]) <= 0.5)
    np.testing.assert_array_equal(d["W"], _direction(values, ["W", "b"])["W"])
    np.testing.assert_array_equal(d["W"], _direction(values, ["W"])["W"])  # the per-name check's direction
    assert not np.array_equal(d["W"], _direction(values, ["W", "b"], seed=1)["W"])
    assert not np.array_equal(d["W"], _direction(values, ["W", "b"], index=1)["W"])


def test_entries_are_not_just_signs_and_span_chunks():
    """Random signs (+-1/sqrt(n)) would miss e = (d, -d) whenever the two signs agree: half the time."""
    for size in (directional.IID, directional.CHUNK + 1000, directional.FULL + 1000):  # i.i.d., whole, chunked
        d = _direction({"x": np.zeros(size)}, ["x"])["x"]
        assert len(np.unique(np.abs(d))) == size
        assert abs(float(np.mean(d[-1000:]))) < 0.05  # the last chunk is drawn too
        assert 0.2 < float(np.std(d[-1000:])) < 0.5


def test_a_transposed_gradient_is_caught_for_every_seed():
    """The DLFS transposition bug on a 2 x 2 weight: the error G.T - G has one pair (d, -d)."""
    a = np.array([[1.0, 2.0], [-3.0, 0.5]])

    def f(v):
        return float(np.sum(a * v["W"]) + 0.5 * np.sum(v["W"] ** 2))

    values = {"W": np.array([[0.3, -0.2], [0.7, 0.1]])}
    wrong = {"W": (a + values["W"]).T}
    assert not any(directional_check(f, values, ["W"], wrong, seed=seed).passed for seed in range(200))
    assert all(directional_check(f, values, ["W"], {"W": a + values["W"]}, seed=seed).passed for seed in range(200))


def _steep(k):
    """sum sin(k x): its third derivative, k^3, makes the central difference's truncation error large."""

    def f(v):
        return float(np.sum(np.sin(k * v["x"])))

    return f, lambda x: k * np.cos(k * x)


def test_truncation_error_is_estimated_not_reported():
    f, grad = _steep(300.0)
    x = np.linspace(-40.0, 40.0, 7)  # large values: the step, relative to max |x|, is large for sin(300 x)
    first = directional.RTOL
    result = directional_check(f, {"x": x}, ["x"], {"x": grad(x)})
    bare = abs(result.directional[0] - result.claimed[0])
    assert result.passed, result
    assert result.evaluations == 6  # the first difference disagreed, so two more levels were taken
    assert result.error_estimates[0] > 0
    assert bare <= first * abs(result.claimed[0]) + result.error_estimates[0]


@pytest.mark.parametrize("relative", [1e-4, -1e-4, 3e-5])
def test_a_gradient_off_by_a_little_still_fails_where_the_difference_is_noisy(relative):
    f, grad = _steep(300.0)
    x = np.linspace(-40.0, 40.0, 7)
    wrong = grad(x) * (1 + relative)
    assert not directional_check(f, {"x": x}, ["x"], {"x": wrong}).passed
    assert not directional_check(f, {"x": x / 40}, ["x"], {"x": grad(x / 40) * (1 + relative)}).passed


@pytest.mark.parametrize("seed", range(4))
def test_differences_that_are_noise_cannot_widen_the_tolerance_without_bound(seed):
    # sin(1e7 x) wiggles far inside the step: the differences along u scatter by about 1% between steps.
    # Their spread estimates that error, but a check that let an estimate that large excuse the
    # disagreement would pass anything; the estimate is capped and the check fails instead.
    x = np.random.default_rng(1).uniform(0.5, 1.5, 50)

    def f(v):
        return float(np.sum(v["x"] ** 2) + 1e-9 * np.sum(np.sin(1e7 * v["x"])))

    result = directional_check(f, {"x": x}, ["x"], {"x": 2 * x}, seed=seed)
    assert not result.passed
    largest = max(abs(result.directional[0]), abs(result.claimed[0]))
    assert result.error_estimates[0] <= directional.ESTIMATE_CAP * result.rtol * largest * (1 + 1e-12)


def test_a_point_given_as_lists_is_checked_as_the_same_arrays():
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (3, 4))

    def f(v):
        return float(np.sum(np.asarray(v["x"]) ** 3))

    as_arrays = directional_check(f, {"x": x}, ["x"], {"x": 3 * x**2}, seed=3)
    as_lists = directional_check(f, {"x": x.tolist()}, ["x"], {"x": (3 * x**2).tolist()}, seed=3)
    assert as_arrays.passed
    assert as_lists.passed
    assert as_lists.directional == as_arrays.directional
    assert as_lists.claimed == as_arrays.claimed


def test_rounding_of_a_large_loss_is_below_the_floor():
    """f = 1e9 + tiny slopes: the difference is all rounding noise, the claim is not wrong."""
    a = np.full(5, 1e-9)

    def f(v):
        return 1e9 + float(a @ v["x"])

    result = directional_check(f, {"x": np.ones(5)}, ["x"], {"x": a})
    assert result.passed
    assert result.error_estimates[0] > result.abs_errors[0]
    assert not directional_check(f, {"x": np.ones(5)}, ["x"], {"x": 1e10 * a}).passed  # well above the noise


def test_the_ends_are_the_points_f_was_evaluated_at():
    a = np.array([3.0, -4.0, 0.5])
    seen = []

    def f(v):
        seen.append(np.array(v["x"]))
        return float(a @ v["x"])

    values = {"x": np.array([1.0, 2.0, -1.0])}
    result = directional_check(f, values, ["x"], {"x": a})
    up, down = stencil_ends(values, ["x"], result.seed, result.step)
    np.testing.assert_allclose(seen[0], up["x"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(seen[1], down["x"], rtol=0, atol=1e-15)


def test_a_value_that_is_not_finite_is_named():
    from symgrad.errors import NonFiniteError

    values = {"x": np.array([1.0, np.nan, 2.0])}
    with pytest.raises(NonFiniteError, match=r"x\[1\] = nan"):
        directional_check(lambda v: float(np.sum(v["x"])), values, ["x"], {"x": np.ones(3)})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_value_that_is_not_finite_between_the_sampled_entries_is_named(bad):
    from symgrad.errors import NonFiniteError
    from symgrad.numeric import directional

    n = 4 * directional.SAMPLED
    x = np.linspace(-1.0, 1.0, n)
    x[4 * 1000 + 1] = bad  # the step's scale reads every fourth entry only
    with pytest.raises(NonFiniteError, match=rf"x\[4001\] = {bad}"):
        directional_check(lambda v: float(np.sum(v["x"] ** 2)), {"x": x}, ["x"], {"x": 2 * x})


def test_the_step_scales_with_the_largest_sampled_entry():
    from symgrad.numeric import directional

    n = 4 * directional.SAMPLED
    x = np.full(n, 0.5)
    x[1] = 1e6  # not among the sampled entries

    def f(v):
        return float(np.sum(v["x"] ** 2))

    result = directional_check(f, {"x": x}, ["x"], {"x": 2 * x})
    sampled = directional_check(f, {"x": x[::4]}, ["x"], {"x": 2 * x[::4]})
    assert result.passed
    assert result.step == pytest.approx(sampled.step / 2)  # the same scale, 4 times as many entries


# --- serial_dot: inner products in BLAS calls short enough to stay on the calling thread ---------------


@pytest.mark.parametrize("size", [1, SERIAL - 1, SERIAL, SERIAL + 1, 3 * SERIAL + 17, 65536])
def test_serial_dot_equals_the_inner_product(size: int) -> None:
    rng = np.random.default_rng(size)
    a, b = rng.standard_normal(size), rng.standard_normal(size)
    assert serial_dot(a, b) == pytest.approx(math.fsum(a * b), rel=1e-12, abs=1e-12)


def test_serial_dot_never_hands_blas_a_long_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: the directional check's inner product <claimed, h u> over a 256 x 256 weight went to
    # OpenBLAS as one dot of 65,536 elements, which OpenBLAS splits over threads; on a busy machine
    # waking them took 25-45 ms per check (the dot alone 0.03 ms), most of a fast check's time.
    lengths: list[int] = []
    real_dot = np.dot

    def spy(a: np.ndarray, b: np.ndarray) -> float:
        lengths.append(a.size)
        return real_dot(a, b)  # type: ignore[no-any-return]

    monkeypatch.setattr(directions.np, "dot", spy)
    a = np.ones(65536)
    assert serial_dot(a, a) == 65536.0
    assert lengths
    assert max(lengths) <= SERIAL <= 10_000
