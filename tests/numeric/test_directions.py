"""symgrad/numeric/directions.py: random directions, i.i.d. up to IID entries, a two-prime construction beyond."""

from __future__ import annotations

import numpy as np

from symgrad.numeric.directions import IID, Direction


def test_up_to_iid_entries_a_direction_is_independent_draws_and_beyond_it_the_construction():
    rng = np.random.default_rng(0)
    at_limit, beyond = Direction(rng, IID, 0.5), Direction(rng, IID + 1, 0.5)
    assert at_limit.periods == (0, 0)  # i.i.d. entries, no repeated parts
    assert len(np.unique(at_limit.full)) == IID
    p1, p2 = beyond.periods
    assert p1 < p2
    assert p1 * p1 > IID + 1  # each prime above sqrt(size): no two entries share both parts
    assert np.all(np.abs(at_limit.full) <= 0.25)
    assert np.all(np.abs(beyond.full) <= 0.5)
