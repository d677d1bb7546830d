"""symgrad/numeric/directions.py: random directions, i.i.d. up to IID entries, a two-prime construction beyond."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symgrad.numeric.directions import CHUNK, FULL, IID, Direction, _prime_at_least


def _two_prime_structure(direction: Direction, size: int) -> bool:
    """d[i] - d[i + p1] == d[i + p2] - d[i + p1 + p2]: true of r1[i % p1] + r2[i % p2], not of i.i.d. entries."""
    p1 = _prime_at_least(int(1.5 * math.sqrt(size)) + 7)
    p2 = _prime_at_least(p1 + 1)
    d = direction.full
    i = np.arange(size - p1 - p2)
    return bool(np.allclose(d[i] - d[i + p1], d[i + p2] - d[i + p1 + p2], rtol=0, atol=1e-12))


def test_up_to_iid_entries_a_direction_is_independent_draws_and_beyond_it_the_construction():
    rng = np.random.default_rng(0)
    at_limit, beyond = Direction(rng, IID, 0.5), Direction(rng, IID + 1, 0.5)
    assert len(np.unique(at_limit.full)) == IID
    assert not _two_prime_structure(at_limit, IID)
    assert _two_prime_structure(beyond, IID + 1)
    assert np.all(np.abs(at_limit.full) <= 0.25)
    assert np.all(np.abs(beyond.full) <= 0.5)


def test_the_periods_are_primes_even_next_to_a_prime_s_square():
    assert [_prime_at_least(n) for n in (0, 2, 4, 8, 24, 48, 120, 168)] == [2, 2, 5, 11, 29, 53, 127, 173]


def test_a_direction_formed_a_chunk_at_a_time_knows_its_own_length() -> None:
    # Longer than FULL, a direction is never stored whole: its squared norm is summed chunk by chunk
    # when drawn, and must equal that of the entries the chunks give.
    size = FULL + CHUNK + 123
    direction = Direction(np.random.default_rng(3), size, 0.5)
    out = np.empty(CHUNK)
    squares = sum(float(np.sum(direction.chunk(i, min(i + CHUNK, size), out) ** 2)) for i in range(0, size, CHUNK))
    assert direction.norm2 == pytest.approx(squares, rel=1e-12)


@pytest.mark.parametrize("size", [IID + 1, 3 * IID, FULL + CHUNK + 123])
def test_no_two_entries_of_a_long_direction_are_equal(size) -> None:
    # Two primes p1 < p2: d[i] = r1[i % p1] + r2[i % p2] repeats only after p1 * p2 > size entries. With a
    # shorter period, an error repeating with it could cancel along the direction.
    direction = Direction(np.random.default_rng(4), size, 0.5)
    out = np.empty(CHUNK)
    entries = np.concatenate([direction.chunk(i, min(i + CHUNK, size), out).copy() for i in range(0, size, CHUNK)])
    assert entries.size == size
    assert len(np.unique(entries)) == size
