"""What a check of a user's layer will cost, said before it runs: refused past a minute, shown as it goes.

A layer's forward pass can take anything from microseconds to seconds (a naive convolution on
CIFAR-sized input), so the cost of :func:`symgrad.check_layer` is predicted from the forward
passes it needs times the time of one forward, measured on the layer itself: a full sweep
needs five (central: a 3-point pilot for the step, then the pair at it) evaluations per element checked
(three at float32's given steps), a fast check a few per gradient. A check
predicted to take over :data:`MAX_SECONDS` is refused with the estimate, before it starts; one
that runs long enough to be worth watching shows its progress on stderr when stderr is a
terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from symgrad.check import fast, kinks
from symgrad.errors import ComplexityError
from symgrad.numeric import finite

__all__: list[str] = []  # check_layer's, not an interface of its own

#: A check predicted to take longer than this is refused (seconds).
MAX_SECONDS = 60.0
#: Forward passes besides the sweep: the nondeterminism test, the stale-cache warm-up, the
#: main run, backward(2 * dout) and the second backward, with room for a kink's one-sided look.
OVERHEAD_FORWARDS = 12
#: A fast check: a central difference per gradient (2), and 4 more where it disagrees at first.
FAST_FORWARDS_PER_GRADIENT = 6
#: The diagnosis of a failing layer without a spec measures the right gradient again by finite differences at
#: up to this many changed points (dout all ones, x at the first forward's input, dout after backward).
DIAGNOSIS_SWEEPS = 3
#: Progress is shown on a terminal for a check predicted to take longer than this (seconds).
SHOW_PROGRESS_SECONDS = 2.0


@dataclass(frozen=True)
class Cost:
    """A check's predicted cost: forward passes, and seconds at the measured time of one.

    ``forwards`` bounds a check whose gradients pass; ``failing`` bounds one whose gradients all
    fail and take every second look (a kink search element by element, the diagnosis's sweeps at
    changed inputs, a fast direction split in parts). The guard refuses on ``forwards``: a failing
    check may run up to ``failing`` passes (``tests/check/test_fast_layer.py`` pins both against a
    layer counting its forward passes).
    """

    forwards: int
    forward_seconds: float
    failing: int = 0

    @property
    def seconds(self) -> float:
        return self.forwards * self.forward_seconds


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result and the seconds it took."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def predict(values: Mapping[str, np.ndarray], names: Sequence[str], method: str, mode: str,
            forward_seconds: float, steps: Mapping[str, Any] | None = None) -> Cost:
    """The forward passes a check of ``names`` at ``values`` takes, at ``forward_seconds`` each.

    ``steps`` are the finite-difference steps the sweep will be given (float32's, say): central
    differences at given steps take 3 evaluations per element, at their own steps 5.
    """
    if mode == "fast":
        sweep = FAST_FORWARDS_PER_GRADIENT * len(names)
        extra = sum(_fast_second_looks(int(np.size(values[name]))) for name in names)
    else:
        sweep = finite.total_evaluations(values, names, method, step=steps)
        # The diagnosis without a spec: the numeric gradient again at each of DIAGNOSIS_SWEEPS changed points.
        extra = DIAGNOSIS_SWEEPS * sweep + sum(_kink_search(int(np.size(values[name])), 1000) for name in names)
    return Cost(sweep + OVERHEAD_FORWARDS, forward_seconds, sweep + OVERHEAD_FORWARDS + extra)


def _kink_search(size: int, most: int) -> int:
    """A failing gradient's kink search: one-sided derivatives (5 passes) at each disagreeing element, at most
    ``most`` of them, and once along all of them together."""
    return kinks.EVALUATIONS * (min(size, most) + 1)


def _fast_second_looks(size: int) -> int:
    """What a failing gradient adds in fast mode: the direction's second look (4), the reshaped gradient's
    check (a whole directional check, 6), the kink search where backward() and the spec differ, and the
    split of the direction: the point, a widened first part (4), the split's budget, and the parts
    already stacked when it runs out (4 each, two per level of halving)."""
    levels = max(1, int(np.ceil(np.log2(max(size, 1)))))
    split = 1 + 4 + fast.MAX_SPLIT_EVALUATIONS + 4 * 2 * (levels + 1)
    return 4 + FAST_FORWARDS_PER_GRADIENT + _kink_search(size, fast.MAX_KINK_ELEMENTS) + split


def refuse_long(cost: Cost, values: Mapping[str, np.ndarray], names: Sequence[str], method: str, mode: str) -> None:
    """Raise ComplexityError, with the estimate and what to do instead, for a check over a minute."""
    if cost.seconds <= MAX_SECONDS:
        return
    elements = sum(int(np.size(values[name])) for name in names)
    what = (f"a full {method} finite-difference check of {', '.join(names)} ({elements:,} elements)" if mode == "full"
            else f"a fast check of {', '.join(names)} (one random direction each)")
    advice = ("use mode='fast' (one random direction per gradient: a few forward passes at any size), "
              "or check the layer on a smaller x (a few rows do)" if mode == "full"
              else "check the layer on a smaller x: a single forward pass takes that long")
    msg = (
        f"{what} would take about {_duration(cost.seconds)}: {cost.forwards:,} forward passes of "
        f"{_duration(cost.forward_seconds)} each (measured on your layer); the limit is "
        f"{_duration(MAX_SECONDS)}: {advice}"
    )
    raise ComplexityError(msg)


def progress_on_terminal(cost: Cost, stream: IO[str] | None = None) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` that writes to stderr, when it is a terminal and the check is long."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if cost.seconds < SHOW_PROGRESS_SECONDS or not callable(isatty) or not isatty():
        return None

    def report(done: int, total: int) -> None:
        stream.write(f"\rsymgrad: check_layer finite differences {done}/{total} forward passes "
                     f"({100 * done // max(total, 1)}%)")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return report


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    if seconds >= 1:
        return f"{seconds:.0f} s"
    if seconds >= 0.01:  # .2g would write 605 ms as "6e+02 ms"
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.2g} ms"
