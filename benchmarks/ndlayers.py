"""Section 12 of the benchmark (issue 9 parts 3-4, issue 10): the N-D layers' derivations and compiled rules.

Each layer's derivation (``symgrad.derive``: the index rules, the proofs' verdicts from disk, the
vectorised forms) warm, with the in-memory rule caches cleared before each call (target: under 1 s); and
the compiled derived backward against the textbook NumPy layer at the issue's sizes, as a ratio in the
same run (target: within 1.5x): a convolution 32x3x32x32 with 16 filters 3x3, pad 1 (im2col / col2im),
and an embedding of vocabulary 10000, dim 64, looked up by a 32x16 batch (``np.add.at``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from report import Section, Target, fmt, ms
from timing import interleaved, median, paired_ratio

import symgrad
from symgrad.derive import tensorproof
from symgrad.index import rules as index_rules
from symgrad.numeric.tensorcompile import compiled_layer


def _layers() -> dict[str, Any]:
    return {
        "Conv2d(3, 16, 3, pad=1)": symgrad.Conv2d(3, 16, 3, pad=1),
        "MaxPool2d(2, 2)": symgrad.MaxPool2d(2, 2),
        "AvgPool2d(2, 2)": symgrad.AvgPool2d(2, 2),
        "Flatten()": symgrad.Flatten(),
        "Embedding(10000, 64)": symgrad.Embedding(10000, 64),
    }


def _derive(layer: Any) -> Any:
    index_rules.derive_rule.cache_clear()
    tensorproof.proven_tensor_steps.cache_clear()
    return symgrad.derive(layer)


def _backward_pair(name: str, quick: bool) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    if name == "conv":
        n = 4 if quick else 32
        layer = symgrad.Conv2d(3, 16, 3, pad=1)
        x = rng.normal(size=(n, 3, 32, 32))
        params = {"W": rng.normal(size=(16, 3, 3, 3)), "b": rng.normal(size=16)}
    else:
        layer = symgrad.Embedding(10000, 64)
        x = rng.integers(0, 10000, size=(32, 16))
        params = {"W": rng.normal(size=(10000, 64))}
    layer.set_params(params)
    g = rng.normal(size=layer.forward(x).shape)
    first = layer.tensor_forward(x.ndim).tensors[0].name
    arrays = {first: x, **params, "G": g}
    compiled = compiled_layer(layer.tensor_forward(x.ndim), tuple((k, v.shape) for k, v in arrays.items() if k != "G"))

    def derived() -> Any:
        return [fn(arrays) for fn in compiled.grads.values()]

    return (lambda: layer.backward(g)), derived


def nd_layers(quick: bool) -> Section:
    repeats = 3 if quick else 9
    section = Section(12, "N-D layers: derivation (warm) and compiled backward vs the textbook layer",
                      ["layer", "derive (warm)", "compiled backward / textbook"])
    layers = _layers()
    for layer in layers.values():
        symgrad.derive(layer)  # proofs on disk, imports done
    times = interleaved({name: (lambda layer=layer: _derive(layer)) for name, layer in layers.items()}, repeats)
    for name in layers:
        seconds = median(times[name])
        section.rows.append([name, ms(seconds), ""])
        section.data[name] = {"derive_seconds": seconds}
        section.targets.append(Target(f"derive {name} (warm)", seconds, 1.0, " s"))
    for key, label in (("conv", "conv 32x3x32x32, 16 filters 3x3, pad 1" if not quick else "conv 4x3x32x32"),
                       ("embedding", "embedding vocab 10000, dim 64, batch 32x16")):
        textbook, derived = _backward_pair(key, quick)
        pair = interleaved({"textbook": textbook, "derived": derived}, repeats * 2)
        ratio = paired_ratio(pair, "derived", "textbook")
        section.rows.append([label, "", fmt(ratio)])
        section.data[key] = {"ratio": ratio, "textbook_seconds": median(pair["textbook"]),
                             "derived_seconds": median(pair["derived"])}
        section.targets.append(Target(f"compiled derived backward / textbook, {label}", ratio, 1.5, "x"))
    section.notes.append(
        "The derivation clears the in-memory index rules and proof verdicts before each call (the proofs' "
        "verdicts come from disk, as after the first run of an installation). The textbook sides are "
        "symgrad/layers/conv.py (im2col, col2im) and embedding.py (np.add.at); the derived side is the rule "
        "compiled from the forward in index notation (strided windows, += of strided slices, np.add.at of rows)."
    )
    return section
