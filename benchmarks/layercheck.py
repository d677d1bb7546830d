"""Section 10 of the benchmark (issue 11, part 7): the fast ``check_layer`` at a conv layer of CIFAR size.

A 3x3 convolution (stride 1, padding 1) on x of shape (32, 3, 32, 32), written naively in
NumPy (one product per kernel offset) with a correct backward, as a user would write it.
``check_layer(layer, x=x, mode="fast")`` checks dx, dW and db along one random direction each;
the table gives its cost in forward passes of the layer (the calls of forward() counted, and
the whole call's time over one forward's), and what a full sweep would have cost, which the
long-run guard refuses with that estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from report import Section, Target, fmt, ms
from timing import interleaved, median, paired_ratio

import symgrad
from symgrad.check import cost
from symgrad.errors import ComplexityError

SHAPE = (32, 3, 32, 32)
FILTERS = 8


class Conv:
    """A 3x3 convolution, stride 1, padding 1; counts its forward and backward passes (in the class:
    check_layer calls copies of the layer)."""

    calls: dict[str, int] = {"forward": 0, "backward": 0}  # noqa: RUF012

    def __init__(self, weight: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = weight, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        Conv.calls["forward"] += 1
        self.xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        height, width = x.shape[2:]
        out = np.zeros((x.shape[0], self.W.shape[0], height, width))
        for i in range(3):
            for j in range(3):
                out += np.einsum("nchw,fc->nfhw", self.xp[:, :, i:i + height, j:j + width], self.W[:, :, i, j])
        return out + self.b[None, :, None, None]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        Conv.calls["backward"] += 1
        height, width = dout.shape[2:]
        dxp = np.zeros_like(self.xp)
        self.dW = np.zeros_like(self.W)
        for i in range(3):
            for j in range(3):
                dxp[:, :, i:i + height, j:j + width] += np.einsum("nfhw,fc->nchw", dout, self.W[:, :, i, j])
                self.dW[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, self.xp[:, :, i:i + height, j:j + width])
        self.db = dout.sum(axis=(0, 2, 3))
        return dxp[:, :, 1:-1, 1:-1]


def layer_check_cost(quick: bool) -> Section:
    repeats = 3 if quick else 9
    section = Section(
        10,
        "check_layer(mode='fast') at a conv layer of CIFAR size (x 32x3x32x32, 8 filters 3x3)",
        ["one forward", "forward() calls", "backward() calls", "check_layer(mode='fast') in forward passes",
         "full sweep: forward passes", "full sweep: estimate"],
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE)
    layer = Conv(rng.standard_normal((FILTERS, 3, 3, 3)) / 5, rng.standard_normal(FILTERS))
    Conv.calls.update(forward=0, backward=0)
    report = symgrad.check_layer(layer, x=x, mode="fast")
    if not report.ok:
        msg = f"the fast check failed on a correct convolution:\n{report}"
        raise RuntimeError(msg)
    calls, backwards = Conv.calls["forward"], Conv.calls["backward"]
    times = interleaved(
        {"forward": lambda: layer.forward(x), "fast": lambda: symgrad.check_layer(layer, x=x, mode="fast")},
        repeats,
    )
    ratio, forward = paired_ratio(times, "fast", "forward"), median(times["forward"])
    full: dict[str, Any] = {}
    try:
        symgrad.check_layer(layer, x=x)
    except ComplexityError as refused:
        full["message"] = str(refused)
    values = {"x": x, "W": layer.W, "b": layer.b}
    predicted = cost.predict(values, ("x", "W", "b"), "central", "full", forward)
    section.rows.append([ms(forward), str(calls), str(backwards), fmt(ratio), f"{predicted.forwards:,}",
                         f"{predicted.seconds / 60:.0f} min (refused)" if full else "ran"])
    section.data = {"forward_seconds": forward, "forward_calls": calls, "backward_calls": backwards,
                    "fast_in_forwards": ratio,
                    "evaluations": report.evaluations, "full_forwards": predicted.forwards,
                    "full_seconds": predicted.seconds, "refused": full.get("message")}
    section.targets.append(Target("check_layer(mode='fast') at a CIFAR-sized conv, in forward passes", ratio, 30.0))
    section.targets.append(Target("full check of that conv refused by the long-run guard", 1.0 if full else 0.0, 1.0,
                                  at_least=True))
    section.notes += [
        "forward() and backward() calls count every call of the layer's in one fast check: the first output, "
        "the nondeterminism test, finding the parameters (no params= given), the stale-cache warm-ups, the "
        "checked forward and backward, backward(2 * dout) and the re-entry test's second backward, and the "
        f"directional differences ({report.evaluations} evaluations of E, 2 per gradient when the first "
        "difference agrees).",
        "check_layer(mode='fast') in forward passes is the whole call's time over one forward's (it also pays "
        "the backward calls, the copies of the layer and the passes over x that the direction and the "
        "comparisons make); medians of per-round ratios, ABBA order.",
        "The full sweep's figures are the guard's own prediction (2 forward passes per element of x, W and b, "
        f"plus {cost.OVERHEAD_FORWARDS}, at the measured time of one forward): check_layer refuses it before it "
        "starts and points to mode='fast'.",
    ]
    return section
