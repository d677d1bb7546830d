"""compare(), the tolerances and the noise floor."""

from __future__ import annotations

import numpy as np
import pytest

from symgrad.check.compare import TOLERANCES, compare, noise_floor, tolerance


def test_identical_gradients_have_no_error():
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    c = compare(a, a.copy())
    assert (c.abs_error, c.rel_error, c.elem_rel_error) == (0.0, 0.0, 0.0)
    assert c.passes(0.0)


def test_error_is_relative_to_the_largest_element_and_names_the_worst():
    a = np.array([[100.0, 1.0], [1.0, 1.0]])
    b = np.array([[100.0, 1.0], [1.0, 1.5]])
    c = compare(a, b)
    assert c.abs_error == pytest.approx(0.5)
    assert c.rel_error == pytest.approx(0.5 / 100.0)
    assert c.elem_rel_error == pytest.approx(0.5 / 1.5)
    assert c.worst_index == (1, 1)
    assert c.passes(0.01)
    assert not c.passes(0.001)


def test_scalars_compare_with_an_empty_index():
    c = compare(np.array(2.0), np.array(2.002))
    assert c.worst_index == ()
    assert c.rel_error == pytest.approx(0.002 / 2.002)


def test_both_zero_is_no_error():
    assert compare(np.zeros(3), np.zeros(3)).rel_error == 0.0


def test_against_zero_without_a_floor_any_noise_is_total_error():
    assert compare(np.zeros(2), np.array([0.0, 5e-17])).rel_error == 1.0


def test_a_floor_measures_noise_on_a_zero_gradient_absolutely():
    c = compare(np.zeros(2), np.array([0.0, 5e-17]), floor=1e-3)
    assert c.rel_error == pytest.approx(5e-14)
    # The floor does not loosen the comparison of gradients larger than it.
    big = compare(np.array([10.0]), np.array([11.0]), floor=1e-3)
    assert big.rel_error == pytest.approx(1 / 11)


def test_noise_floor_grows_with_the_loss_and_shrinking_step():
    assert noise_floor("central", 0.0, 1e-5) == pytest.approx(noise_floor("central", 1.0, 1e-5))
    assert noise_floor("central", 100.0, 1e-5) == pytest.approx(100 * noise_floor("central", 1.0, 1e-5))
    assert noise_floor("central", 1.0, 1e-6) == pytest.approx(10 * noise_floor("central", 1.0, 1e-5))
    assert noise_floor("exact", 1.0) < noise_floor("central", 1.0, 1e-5)
    assert np.isfinite(noise_floor("exact", float("inf")))


def test_noise_floor_is_far_below_ordinary_gradients():
    # With the default steps, only gradients far smaller than usual are measured against the floor.
    eps = np.finfo(float).eps
    assert noise_floor("central", 1.0, eps ** (1 / 3)) < 1e-3
    assert noise_floor("richardson", 1.0, eps ** (1 / 5)) < 1e-3
    assert noise_floor("complex", 1.0) < 1e-3
    assert noise_floor("exact", 1.0) < 1e-5


def test_tolerances_per_kind_dtype_and_override():
    assert tolerance("exact") == TOLERANCES["float64"]["exact"]
    assert tolerance("central", np.float32) == TOLERANCES["float32"]["central"]
    assert tolerance("complex", override=1e-3) == 1e-3
    assert tolerance("complex") < tolerance("richardson") < tolerance("central")


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("kind", ["exact", "central", "richardson", "complex", "directional"])
def test_every_default_tolerance_fails_a_gradient_ten_percent_off(kind, dtype):
    # A tolerance is only useful if a plain mistake (a factor 1.1) is outside it, at every dtype.
    rng = np.random.default_rng(7)
    right = rng.uniform(0.5, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
    wrong = 1.1 * right
    found = compare(right, wrong)
    assert not found.passes(tolerance(kind, dtype))
    assert found.passes(tolerance(kind, dtype, override=0.1))


@pytest.mark.parametrize("case", range(12))
def test_large_gradients_compared_a_chunk_at_a_time_give_the_same_comparison(case, monkeypatch):
    """Chunks hold the temporaries in cache; the result must be the one-pass result, bit for bit."""
    from symgrad.check import compare as module

    rng = np.random.default_rng(case)
    n = int(rng.integers(module._CHUNK + 1, 3 * module._CHUNK))
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 3, n)  # many negligibly small elements
    b = a * (1 + 1e-9 * rng.standard_normal(n))
    if case % 3 == 0:
        b[rng.integers(0, n, 5)] += 1e-3
    if case % 4 == 0:
        a[rng.integers(0, n, 3)] = 0.0
    if case == 5:
        b = a.copy()  # exact agreement
    a, b = a.reshape(1, n), b.reshape(1, n)
    chunked = compare(a, b, 1e-3)
    monkeypatch.setattr(module, "_CHUNK", 10**12)
    assert chunked == compare(a, b, 1e-3)


def test_a_nan_in_a_large_gradient_is_still_reported():
    a = np.ones(100_000)
    b = a.copy()
    b[70_000] = np.nan
    assert not compare(a, b).passes(1e-6)


def test_noise_floor_is_ten_rounding_errors_over_the_tolerance_divided_by_the_step():
    eps = np.finfo(np.float64).eps
    assert noise_floor("exact") == pytest.approx(10 * eps / TOLERANCES["float64"]["exact"], rel=1e-12)
    assert noise_floor("central") == pytest.approx(10 * eps / TOLERANCES["float64"]["central"], rel=1e-12)
    assert noise_floor("central", loss=300.0, step=1e-4) == pytest.approx(
        10 * eps * 300.0 / 1e-4 / TOLERANCES["float64"]["central"], rel=1e-12)
    assert noise_floor("exact", loss=300.0, step=1e-4) == pytest.approx(noise_floor("exact", loss=300.0), rel=1e-12)


def test_elements_negligible_next_to_the_largest_do_not_count_in_the_element_error():
    a, b = np.array([1e6, 1e-3, 2.0]), np.array([1e6, 2e-3, 2.0 + 1e-6])
    c = compare(a, b)
    assert c.elem_rel_error == pytest.approx(1e-6 / (2.0 + 1e-6))


def test_the_element_relative_error_is_computed_when_first_read():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(100_000)
    b = a * (1 + 1e-12 * rng.standard_normal(a.size))
    c = compare(a, b)
    assert callable(c.__dict__["_lazy_elem_rel_error"])
    expected = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))
    assert c.elem_rel_error == pytest.approx(expected, rel=1e-12)
    assert c.__dict__["_lazy_elem_rel_error"] == c.elem_rel_error  # kept once computed


def test_a_chunked_comparison_finds_the_worst_element_of_either_sign():
    a = np.zeros(100_000)
    for value in (3.0, -3.0):
        b = np.zeros(100_000)
        b[77_777] = value
        b[88_888] = -value / 2
        c = compare(a, b)
        assert (c.abs_error, c.worst_index) == (3.0, (77_777,))
    b[[60_000, 70_000]] = [2.0, -2.0]  # equal magnitudes: the first, as np.argmax(|a - b|)
    b[77_777] = b[88_888] = 0.0
    assert compare(a, b).worst_index == (60_000,)


def test_a_chunked_comparison_scales_by_the_larger_of_the_two():
    a = np.ones(100_000)
    b = a.copy()
    b[70_000] = -5.0  # b's largest magnitude, in a chunk where a's is 1
    c = compare(a, b)
    assert (c.abs_error, c.rel_error, c.worst_index) == (6.0, 6.0 / 5.0, (70_000,))
    b = a * (1 + 1e-12)  # b slightly larger everywhere: its own largest element is the scale
    assert compare(a, b).rel_error == float(np.max(np.abs(a - b))) / float(b.max())


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


def _expected(a, b):
    """rel_error and elem_rel_error computed the plain way, in float64."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    big = np.maximum(np.abs(a), np.abs(b))
    keep = big > 1e-8 * scale
    return float(np.max(np.abs(a - b)) / scale), float(np.max(np.abs(a - b)[keep] / big[keep]))


def test_integer_arrays_are_compared_as_floats():
    # an unsigned array's -min() wraps around: the values are converted to float64 first
    a, b = np.array([5, 6], dtype=np.uint8), np.array([5.0, 7.0])
    c = compare(a, b)
    assert (c.abs_error, c.rel_error, c.worst_index) == (1.0, 1.0 / 7.0, (1,))


@pytest.mark.parametrize("size", [1000, 100_000])  # the plain path and the chunked one
def test_gradients_below_1_are_measured_on_both_paths(size):
    rng = np.random.default_rng(5)
    a = 0.5 * rng.random(size) + 0.01
    b = a * (1 + 1e-3 * rng.random(size))
    b[0] = a[0] * 1.01  # the largest element-wise error, at the very first element
    c = compare(a, b)
    rel, elem = _expected(a, b)
    assert 0 < c.rel_error == pytest.approx(rel, rel=1e-12)
    assert 0 < c.elem_rel_error == pytest.approx(elem, rel=1e-12)


def test_a_chunked_comparison_of_equal_magnitudes_names_the_first_when_it_is_positive():
    a, b = np.zeros(100_000), np.zeros(100_000)
    b[[66_000, 70_000]] = [-2.0, 2.0]  # in one chunk, a - b is +2 then -2
    assert compare(a, b).worst_index == (66_000,)


def test_a_chunked_comparison_reads_b_s_largest_where_a_is_small():
    a = np.ones(100_000)
    a[65_536:98_304] = 0.1  # a whole chunk where |a| is small
    b = a.copy()
    b[70_000] = 100.0  # b's largest magnitude, far above every |a|
    c = compare(a, b)
    assert c.rel_error == pytest.approx(99.9 / 100.0, rel=1e-12)
