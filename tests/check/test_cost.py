"""symgrad/check/cost.py: a check's cost predicted before it runs, the one-minute refusal, progress on a terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest

from symgrad.check import cost
from symgrad.check.cost import Cost, predict, progress_on_terminal, refuse_long, timed
from symgrad.errors import ComplexityError
from symgrad.numeric import finite

VALUES = {"x": np.zeros((4, 3)), "W": np.zeros((3, 2))}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_cost_is_its_forward_passes_times_one_forward() -> None:
    assert Cost(10, 0.5).seconds == 5.0
    result, seconds = timed(lambda: 42)
    assert result == 42
    assert 0.0 <= seconds < 1.0


def test_predict_counts_the_sweep_and_the_fixed_forward_passes() -> None:
    full = predict(VALUES, ["x", "W"], "central", "full", 0.01)
    sweep = finite.total_evaluations(VALUES, ["x", "W"], "central")
    # failing: the diagnosis's sweeps at changed points, and one-sided looks (5 passes) at 12 + 6 elements and 2 sums
    assert full == Cost(sweep + cost.OVERHEAD_FORWARDS, 0.01,
                        (1 + cost.DIAGNOSIS_SWEEPS) * sweep + cost.OVERHEAD_FORWARDS + 5 * (12 + 6 + 2))
    fast = predict(VALUES, ["x", "W"], "central", "fast", 0.01)
    assert (fast.forwards, fast.forward_seconds) == (2 * cost.FAST_FORWARDS_PER_GRADIENT + cost.OVERHEAD_FORWARDS, 0.01)
    assert fast.forwards < fast.failing
    assert fast.forwards < full.forwards


def test_a_check_over_a_minute_is_refused_with_the_estimate_and_what_to_do() -> None:
    refuse_long(Cost(100, 0.6), VALUES, ["x", "W"], "central", "full")  # 60 s: the limit itself is allowed
    refused = (r"a full central finite-difference check of x, W \(18 elements\) would take about 61 s: "
               r"100 forward passes of 610 ms each .* the limit is 60 s: use mode='fast'")
    with pytest.raises(ComplexityError, match=refused):
        refuse_long(Cost(100, 0.61), VALUES, ["x", "W"], "central", "full")
    with pytest.raises(ComplexityError, match=r"a fast check of x, W .* about 2 min.*check the layer on a smaller x"):
        refuse_long(Cost(24, 5.0), VALUES, ["x", "W"], "central", "fast")


def test_progress_is_shown_on_a_terminal_for_a_check_of_two_seconds_or_more() -> None:
    assert progress_on_terminal(Cost(100, 0.019), Terminal()) is None  # 1.9 s
    assert progress_on_terminal(Cost(100, 0.025), io.StringIO()) is None  # not a terminal
    assert progress_on_terminal(Cost(100, 0.02), Terminal()) is not None  # 2 s
    stream = Terminal()
    report = progress_on_terminal(Cost(100, 0.025), stream)
    assert report is not None
    report(3, 10)
    assert stream.getvalue() == "\rsymgrad: check_layer finite differences 3/10 forward passes (30%)"
    report(10, 10)
    assert stream.getvalue().endswith("10/10 forward passes (100%)\n")


def test_durations_read_in_the_unit_that_suits_them() -> None:
    # regression: 605 ms was written "6e+02 ms" (format .2g)
    durations = [0.0042, 0.605, 0.9994, 1.0, 119.4, 120.0, 3600.0]
    assert [cost._duration(s) for s in durations] == ["4.2 ms", "605 ms", "999 ms", "1 s", "119 s", "2 min", "60 min"]
