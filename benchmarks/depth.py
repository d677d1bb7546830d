"""Section 11 of the benchmark (issue 9, part 6): derive + compile in depth, warm.

A 32-layer chain (16 x ``Affine(8, 8) > Sigmoid``) and an RNN unrolled over 16 steps
(``h_t = tanh(x_t Wx + bx + h_{t-1} Wh + bh)``, Wx and Wh shared, a graph network), against a
2-layer chain in the same run. Warm: imports done and the layer rules' proofs on disk, but
the in-memory rule and code caches are cleared before every call, so each call derives and
compiles for real (target: under 1 s each).
"""

from __future__ import annotations

from typing import Any

import models
from report import Section, Target, fmt, ms
from timing import interleaved, median, paired_ratio

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, Tanh
from symgrad.derive import chain
from symgrad.numeric import compile as compiled_code


def rnn(steps: int, features: int = 4, hidden: int = 8) -> Network:
    """An Elman RNN unrolled over ``steps``, weights shared, E on an affine read-out of the last state."""
    xs = [Input(f"x{step}", features) for step in range(1, steps + 1)]
    t = Input("t", 2)
    into, across = Affine(features, hidden, name="x"), Affine(hidden, hidden, name="h")
    h = Tanh()(into(xs[0]))
    for x in xs[1:]:
        h = Tanh()(into(x) + across(h))
    return Network(HalfSquaredError()(Affine(hidden, 2, name="out")(h), t))


def _fresh(build: Any) -> Any:
    chain._rules.clear()
    compiled_code._compiled.clear()
    return symgrad.derive(build()).lambdify()


def depth_scaling(quick: bool) -> Section:
    repeats = 3 if quick else 9
    steps = 4 if quick else 16
    layers = 8 if quick else 32
    fns = {
        "chain2": lambda: _fresh(lambda: models.mlp(8, 1)),
        f"chain{layers}": lambda: _fresh(lambda: models.mlp(8, layers // 2)),
        f"rnn{steps}": lambda: _fresh(lambda: rnn(steps)),
    }
    _fresh(lambda: models.mlp(8, 1))  # imports, and the rules' proofs read from disk once
    times = interleaved(fns, repeats)
    section = Section(
        11,
        "Derive + compile in depth (warm): a deep chain and an unrolled RNN",
        ["network", "derive + lambdify", "/ a 2-layer chain"],
    )
    for key, label in ((f"chain{layers}", f"chain of {layers} layers (affine(8,8) > sigmoid, x{layers // 2})"),
                       (f"rnn{steps}", f"RNN unrolled {steps} steps (graph, shared Wx, Wh)")):
        seconds, ratio = median(times[key]), paired_ratio(times, key, "chain2")
        section.rows.append([label, ms(seconds), fmt(ratio)])
        section.data[key] = {"seconds": seconds, "ratio_to_chain2": ratio}
        section.targets.append(Target(f"derive+lambdify, {label} (warm)", seconds, 1.0, " s"))
    section.data["chain2"] = {"seconds": median(times["chain2"])}
    section.notes.append(
        f"Each call builds the network, derives every gradient (steps are built when first read, so this is the "
        f"chain rule and the proofs of the rules used) and compiles it; the 2-layer chain took "
        f"{ms(median(times['chain2']))}. The in-memory caches of layer rules and generated code are cleared "
        "before each call; the rule proofs' verdicts come from disk, as after the first run of an installation."
    )
    return section
