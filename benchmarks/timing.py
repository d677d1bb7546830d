"""Timing helpers: interleaved repeats and medians, so that noise hits every contender alike.

The machine the benchmarks run on is shared: another process can take a core
for a few milliseconds at any time. Timing A a hundred times and then B a
hundred times lets such a burst land on one side only; running them in turns
(A B B A A B ...) spreads it over both, and the median of the per-round ratios
ignores the rounds it hit.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any


@contextmanager
def no_gc():
    """Garbage collection off while timing (as ``timeit`` does), back on afterwards."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def interleaved(fns: Mapping[str, Callable[[], Any]], repeats: int, *, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, called in turns (ABBA order), ``repeats`` times each."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    with no_gc():
        for round_ in range(repeats):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                start = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def paired_ratio(times: Mapping[str, Sequence[float]], numerator: str, denominator: str) -> float:
    """The median over rounds of time(numerator) / time(denominator) in the same round."""
    pairs = zip(times[numerator], times[denominator], strict=True)
    return median([a / b for a, b in pairs])


def once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    with no_gc():
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result


def run_command(
    argv: Sequence[str], *, timeout: float = 120.0, env: Mapping[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """(wall seconds, completed process) of one run of a command, output captured (``env``: its environment)."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False, env=None if env is None else dict(env)
    )
    return time.perf_counter() - start, done


def commands_interleaved(
    commands: Mapping[str, Sequence[str]], repeats: int, *, envs: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, list[float]]:
    """Wall seconds of each command, run in turns (ABBA order); a failing command raises.

    ``envs`` gives some commands their own environment (by name); the others inherit this one.
    """
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            seconds, done = run_command(commands[name], env=(envs or {}).get(name))
            if done.returncode != 0:
                msg = f"{' '.join(commands[name])} exited with {done.returncode}: {done.stderr.strip()[-500:]}"
                raise RuntimeError(msg)
            times[name].append(seconds)
    return times
