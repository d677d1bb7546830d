"""False alarms of the fast and the full check over random correct networks (issue 13, part 3).

``python benchmarks/false_alarms.py [--networks 1000] [--seed 0]`` builds that many random
networks of symgrad's own layers (affine, sigmoid, tanh and ReLU chains with a loss; random
depths, widths, batch and seeds), checks each in both modes at two kinds of point, and prints
how many correct networks each mode failed:

``kinks``
    the seeded sample point rounded to multiples of 0.5, so that many ReLU inputs are exactly
    0 (or the stencils straddle 0);
``large``
    every value drawn from N(0, 10^2) (one-hot targets for softmax-cross-entropy), so that
    sigmoids and tanhs saturate and the loss is large.

A network counts as a false alarm of a mode when ``check(...).ok`` is False: every network
here is correct, so any FAIL is a false alarm ("kink" rows are not failures). The same
generator drives the property test in ``tests/test_properties.py``, through :func:`random_network`
with hypothesis's ``draw`` in place of a seeded generator.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import symgrad
from symgrad.check.points import sample_values
from symgrad.layers import Layer, Loss

#: The two kinds of point (see the module docstring).
KINDS = ("kinks", "large")

ACTIVATIONS: tuple[type[Layer] | None, ...] = (None, symgrad.Sigmoid, symgrad.Tanh, symgrad.ReLU)
LOSSES: tuple[type[Loss], ...] = (symgrad.HalfSquaredError, symgrad.MeanSquaredError, symgrad.SoftmaxCrossEntropy)

#: ``pick(low, high)``: an integer in [low, high], from a seeded generator or from hypothesis.
Pick = Callable[[int, int], int]


def random_network(pick: Pick) -> symgrad.Network:
    """1 to 4 affine layers of widths 1 to 8, each maybe followed by an activation, and a loss."""
    depth = pick(1, 4)
    loss = LOSSES[pick(0, len(LOSSES) - 1)]
    widths = [pick(1, 8) for _ in range(depth)]
    widths.append(pick(2 if loss is symgrad.SoftmaxCrossEntropy else 1, 8))
    layers: list[Layer] = []
    for inputs, outputs in itertools.pairwise(widths):
        layers.append(symgrad.Affine(inputs, outputs))
        activation = ACTIVATIONS[pick(0, len(ACTIVATIONS) - 1)]
        if activation is not None:
            layers.append(activation())
    return symgrad.Network(layers, loss=loss())


def point(network: symgrad.Network, kind: str, seed: int, batch: int) -> dict[str, Any]:
    """A point of ``kind`` ("kinks" or "large") for ``network``, from ``default_rng(seed)``."""
    values = sample_values(network, seed=seed, batch=batch, avoid_kinks=False)
    if kind == "kinks":
        return {name: np.round(2 * np.asarray(value)) / 2 for name, value in values.items()}
    if kind != "large":
        msg = f"unknown kind of point {kind!r}; choose one of {KINDS}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    large = {name: 10.0 * rng.standard_normal(np.shape(value)) for name, value in values.items()}
    if isinstance(network.loss, symgrad.SoftmaxCrossEntropy):
        large["t"] = values["t"]  # one-hot rows, as the loss requires
    return large


def alarms(network: symgrad.Network, values: dict[str, Any], seed: int) -> tuple[bool, bool]:
    """(fast mode failed, full mode failed) on ``network`` at ``values``."""
    fast = symgrad.check(network, values, mode="fast", seed=seed)
    full = symgrad.check(network, values, mode="full", seed=seed)
    return not fast.ok, not full.ok


def seeded_pick(rng: np.random.Generator) -> Pick:
    """A :data:`Pick` drawing from ``rng``."""
    return lambda low, high: int(rng.integers(low, high + 1))


def count(kind: str, networks: int, seed: int = 0) -> dict[str, Any]:
    """Fast and full false alarms over ``networks`` random correct networks at points of ``kind``."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    fast = full = 0
    examples: list[str] = []
    for _ in range(networks):
        pick = seeded_pick(rng)
        network = random_network(pick)
        case_seed, batch = pick(0, 2**31 - 1), pick(1, 5)
        fast_alarm, full_alarm = alarms(network, point(network, kind, case_seed, batch), case_seed)
        fast += fast_alarm
        full += full_alarm
        if (fast_alarm or full_alarm) and len(examples) < 5:
            examples.append(f"{network.describe()} seed={case_seed} batch={batch} fast={fast_alarm} full={full_alarm}")
    return {"kind": kind, "networks": networks, "fast": fast, "full": full, "examples": examples}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/false_alarms.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=1000, help="networks per kind of point (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator (default 0)")
    args = parser.parse_args(argv)
    print("| points | networks | fast-mode false alarms | full-mode false alarms | seconds |")
    print("|---|---|---|---|---|")
    found = []
    for kind in KINDS:
        start = time.perf_counter()
        result = count(kind, args.networks, args.seed)
        found.append(result)
        n = result["networks"]
        print(
            f"| {kind} | {n} | {result['fast']} ({100 * result['fast'] / n:.1f}%) "
            f"| {result['full']} ({100 * result['full'] / n:.1f}%) | {time.perf_counter() - start:.0f} |",
            flush=True,
        )
    for result in found:
        for example in result["examples"]:
            print(f"- {result['kind']}: {example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
