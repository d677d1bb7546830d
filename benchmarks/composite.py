"""Section 13 of the benchmark (issue 10): layers derived through their own graph.

Each composite layer's derivation (``symgrad.derive(layer)``: the forward graph, the sweep's
steps, the proofs' verdicts from memory or disk), warm, against 1 s; and the compiled
backward (``derive(layer).lambdify()``, forward and backward in one staged program) against
the textbook NumPy reference's ``forward`` + ``backward`` at a realistic size: batch norm
256 x 512, an LSTM step at batch 32, hidden 128 (input 128). Ratios within one run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from report import Section, Target, fmt, ms
from timing import interleaved, median, paired_ratio

import symgrad
from symgrad.layers.recurrent import GRUCell, LSTMCell, RNNCell
from symgrad.matrixexpr import BATCH


def _layers(quick: bool) -> dict[str, Any]:
    if quick:  # two layers, small: the smoke test's configuration
        return {"batch-norm": lambda: symgrad.BatchNorm(32), "lstm-cell": lambda: LSTMCell(8, 8)}
    return {
        "batch-norm": lambda: symgrad.BatchNorm(512),
        "layer-norm": lambda: symgrad.LayerNorm(512),
        "rnn-cell": lambda: RNNCell(128, 128),
        "lstm-cell": lambda: LSTMCell(128, 128),
        "gru-cell": lambda: GRUCell(128, 128),
    }


def _arguments(d: Any, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.uniform(-1, 1, tuple(batch if dim == BATCH else int(dim) for dim in d.shapes[name]))
            for name in d.inputs}


def _reference(layer: Any, args: dict[str, np.ndarray]) -> Any:
    reference = type(layer)(*([layer.features] if hasattr(layer, "features") else [layer.D, layer.H]))
    reference.set_params({role: np.ravel(args[role]) if args[role].shape[0] == 1 else args[role]
                          for role in layer.roles})
    inputs = [args[name] for name in layer.inputs]
    douts = [args[name] for name in args if name not in layer.inputs and name not in layer.roles]

    def run() -> Any:
        reference.forward(*inputs)
        return reference.backward(*douts)

    return run


def composite_layers(quick: bool) -> Section:
    repeats = 3 if quick else 9
    section = Section(13, "Layers derived through their own graph (issue 10)",
                      ["layer", "derive (warm)", "compiled / textbook backward"])
    layers = _layers(quick)
    derive = {name: (lambda make=make: symgrad.derive(make())) for name, make in layers.items()}
    for fn in derive.values():
        fn()  # the proofs, once (their verdicts then come from memory and disk)
    derive_times = interleaved(derive, repeats)
    rng = np.random.default_rng(0)
    sizes = {"batch-norm": 256, "lstm-cell": 32} if not quick else {"batch-norm": 32, "lstm-cell": 8}
    speed: dict[str, Any] = {}
    for name, batch in sizes.items():
        layer = layers[name]()
        compiled = symgrad.derive(layer).lambdify()
        args = _arguments(compiled.derivation, batch, rng)
        speed[f"{name}:compiled"] = lambda compiled=compiled, args=args: compiled.evaluate(args)
        speed[f"{name}:textbook"] = _reference(layer, args)
    speed_times = interleaved(speed, repeats * 3)
    for name in layers:
        seconds = median(derive_times[name])
        ratio = paired_ratio(speed_times, f"{name}:compiled", f"{name}:textbook") if name in sizes else None
        section.rows.append([name, ms(seconds), fmt(ratio)])
        section.data[name] = {"derive_seconds": seconds, "compiled_over_textbook": ratio}
        section.targets.append(Target(f"derive({name}) warm", seconds, 1.0, " s"))
        if ratio is not None:
            section.targets.append(Target(f"{name} compiled backward / textbook (batch {sizes[name]})", ratio, 1.5))
    section.notes.append(
        "derive: symgrad.derive(layer) of a new instance, its proofs' verdicts already in memory. The compiled side "
        "runs the staged program of the sweep (forward and backward, E included); the textbook side the reference "
        "layer's forward then backward (batch norm 256 x 512; the LSTM step at batch 32, input and hidden 128)."
    )
    return section
