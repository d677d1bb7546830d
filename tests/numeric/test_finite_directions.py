"""The random directions of the fast (directional) check: cheap to draw, yet they miss no error.

The directions are drawn from uniform variates, then normalised, because
normal variates cost more than the check's own forward passes at large
widths; these tests pin what the cheaper draw must keep.
"""

from __future__ import annotations

import numpy as np

from symgrad.numeric.finite import _random_direction, directional_check


def test_directions_are_unit_vectors_split_by_name_and_seeded():
    bases = {"W": np.zeros((3, 4)), "b": np.zeros(4)}
    u = _random_direction(np.random.default_rng(1), bases)
    assert u["W"].shape == (3, 4)
    assert u["b"].shape == (4,)
    assert abs(sum(float(np.sum(d * d)) for d in u.values()) - 1.0) < 1e-14
    again = _random_direction(np.random.default_rng(1), bases)
    other = _random_direction(np.random.default_rng(2), bases)
    np.testing.assert_array_equal(u["W"], again["W"])
    assert not np.array_equal(u["W"], other["W"])


def test_entries_are_not_just_signs():
    """Random signs (+-1/sqrt(n)) would miss e = (d, -d) whenever the two signs agree: half the time."""
    u = _random_direction(np.random.default_rng(0), {"x": np.zeros(1000)})["x"]
    assert len(np.unique(np.abs(u))) == 1000


def test_a_transposed_gradient_is_caught_for_every_seed():
    """The DLFS transposition bug on a 2 x 2 weight: the error G.T - G has one pair (d, -d)."""
    a = np.array([[1.0, 2.0], [-3.0, 0.5]])

    def f(v):
        return float(np.sum(a * v["W"]) + 0.5 * np.sum(v["W"] ** 2))

    values = {"W": np.array([[0.3, -0.2], [0.7, 0.1]])}
    wrong = {"W": (a + values["W"]).T}
    caught = [directional_check(f, values, ["W"], wrong, seed=seed).max_rel_error > 1e-6 for seed in range(200)]
    assert all(caught)
