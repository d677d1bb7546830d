"""The scratch pool: arrays lent, given back, kept up to a size, never shared between threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from symgrad.numeric import directional, scratch


@pytest.fixture(autouse=True)
def empty_pool():
    scratch._POOL.free.clear()
    scratch._POOL.bytes = 0
    yield
    scratch._POOL.free.clear()
    scratch._POOL.bytes = 0


def test_an_array_given_back_is_lent_again_once():
    a = scratch.borrow((3, 4))
    assert (a.shape, a.dtype, a.flags.c_contiguous) == ((3, 4), np.float64, True)
    scratch.give_back([a])
    assert scratch._POOL.bytes == a.nbytes
    assert scratch.borrow((3, 4)) is a
    assert scratch._POOL.bytes == 0  # what is lent is not counted as kept
    assert scratch.borrow((3, 4)) is not a
    assert scratch.borrow((4, 3)) is not a


def test_the_pool_keeps_at_most_its_byte_limit_and_no_views():
    big = np.empty(scratch.KEPT_BYTES // 8 + 1)
    scratch.give_back([big, np.empty(10)[::2], np.empty(10)[2:]])
    assert scratch._POOL.bytes == 0
    small = [np.empty(scratch.KEPT_BYTES // 8 // 4) for _ in range(5)]
    scratch.give_back(small)
    assert scratch._POOL.bytes == 4 * small[0].nbytes <= scratch.KEPT_BYTES


def test_threads_have_their_own_pools():
    a = scratch.borrow(5)
    scratch.give_back([a])
    seen = []
    thread = threading.Thread(target=lambda: seen.append(scratch.borrow(5)))
    thread.start()
    thread.join()
    assert seen[0] is not a
    assert scratch.borrow(5) is a


def test_a_working_copy_that_f_kept_is_not_reused():
    kept = []

    def f(values):
        kept.append(values["x"])  # a read-only view of the working copy
        return float(np.sum(values["x"] ** 2))

    x = np.arange(6.0)
    directional.directional_check(f, {"x": x}, ["x"], {"x": 2 * x})
    before = [np.array(view) for view in kept]
    directional.directional_check(lambda v: float(np.sum(v["x"] ** 2)), {"x": x + 1}, ["x"], {"x": 2 * x + 2})
    assert all(np.array_equal(view, old) for view, old in zip(kept, before, strict=True))


def test_working_copies_are_reused_by_the_next_check():
    x = np.arange(6.0)

    def f(values):
        return float(np.sum(values["x"] ** 2))

    directional.directional_check(f, {"x": x}, ["x"], {"x": 2 * x})
    kept = {id(a) for arrays in scratch._POOL.free.values() for a in arrays}
    assert any(a.shape == (6,) for arrays in scratch._POOL.free.values() for a in arrays)
    lent = []
    directional.directional_check(lambda v: lent.append(v["x"].base) or f(v), {"x": x}, ["x"], {"x": 2 * x})
    assert id(lent[0]) in kept
