"""An N-D layer's forward and derived rules compiled to NumPy, once per forward and shapes.

:func:`compiled_layer` prints the forward and every input's derived rule with
:mod:`symgrad.index.tensorform` and turns the source into functions with
:mod:`symgrad.numeric.tensorrun`. Each function takes a mapping of arrays by
the forward's tensor names (and ``G``, the upstream gradient, for a rule).

Examples
--------
>>> import numpy as np
>>> from symgrad.layers.tensorforms import pool_forward
>>> layer = compiled_layer(pool_forward("avg", (2, 2), (2, 2), (0, 0)), (("x", (1, 1, 2, 2)),))
>>> layer.forward({"x": np.arange(4.0).reshape(1, 1, 2, 2)})
array([[[[1.5]]]])
>>> layer.grads["x"]({"x": np.zeros((1, 1, 2, 2)), "G": np.ones((1, 1, 1, 1))})[0, 0]
array([[0.25, 0.25],
       [0.25, 0.25]])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgrad.index.ir import IndexForward
from symgrad.index.rules import derive_rule
from symgrad.index.tensorform import TensorCode, forward_code, rule_code
from symgrad.numeric.tensorrun import compile_source

__all__ = ["CompiledLayer", "compiled_layer", "run_tensor_call"]


@dataclass(frozen=True)
class CompiledLayer:
    """The compiled forward, each differentiable input's rule, and their sources (for documents)."""

    forward: Callable[[Mapping[str, Any]], Any]
    grads: Mapping[str, Callable[[Mapping[str, Any]], Any]]
    sources: Mapping[str, str]
    output_shape: tuple[int, ...]


@functools.lru_cache(maxsize=256)
def compiled_layer(forward: IndexForward, shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> CompiledLayer:
    """``forward`` compiled for inputs of ``shapes`` ((name, shape) pairs; integer tensors included)."""
    given = dict(shapes)
    code = forward_code(forward, given)
    codes: dict[str, TensorCode] = {"forward": code}
    for tensor in forward.tensors:
        if not tensor.integer:
            codes[tensor.name] = rule_code(derive_rule(forward, tensor.name), {**given, "G": code.shape})
    functions = {key: compile_source(c.source, c.name) for key, c in codes.items()}
    grads = {key: fn for key, fn in functions.items() if key != "forward"}
    return CompiledLayer(functions["forward"], grads, {k: c.source for k, c in codes.items()}, code.shape)


def run_tensor_call(key: str, which: str, *arrays: Any) -> Any:
    """The forward (``which == "forward"``) or the derived rule for tensor ``which`` of the N-D forward
    registered under ``key`` (:data:`symgrad.index.tensorop.FORWARDS`), at ``arrays``: the forward's
    tensors in order, then, for a rule, the upstream gradient G. What a network's compiled program calls
    for each convolution, pooling or flatten in it (compiled once per forward and shapes)."""
    from symgrad.index.tensorop import FORWARDS

    forward = FORWARDS[key]
    names = [tensor.name for tensor in forward.tensors]
    values = dict(zip(names, arrays, strict=False))
    compiled = compiled_layer(forward, tuple((name, tuple(np.shape(values[name]))) for name in names))
    if which == "forward":
        return compiled.forward(values)
    values["G"] = arrays[len(names)]
    return compiled.grads[which](values)
