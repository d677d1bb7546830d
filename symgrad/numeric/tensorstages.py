"""A staged N-D layer (attention) compiled to NumPy: its stages' forwards, then their rules in reverse.

Each stage's forward and each rule (:mod:`symgrad.index.staged`) is printed by
:mod:`symgrad.index.tensorform`, except a softmax stage's forward, printed with the row maximum
subtracted inside exp (the same function; without the shift exp overflows for scores of a few
hundred). A product of two reads is run as a batched matrix product (:func:`einsum`), as the
textbook layers' ``@`` is. :func:`compiled_stages` is cached per rules and shapes.

Examples
--------
>>> import numpy as np
>>> from symgrad.index.staged import stage_rules
>>> from symgrad.layers.tensorforms import attention_stages
>>> stages = attention_stages()
>>> layer = compiled_stages(stages, stage_rules(stages), (("q", (1, 1, 2)), ("k", (1, 2, 2)), ("v", (1, 2, 1))))
>>> q, k, v = np.zeros((1, 1, 2)), np.array([[[800.0, 0.0], [0.0, 0.0]]]), np.array([[[1.0], [3.0]]])
>>> layer.forward({"q": q + 1, "k": k, "v": v})  # a score of 566: no overflow
array([[[1.]]])
>>> layer.backward({"q": q, "k": k, "v": v, "G": np.ones((1, 1, 1))})["v"]
array([[[0.5],
        [0.5]]])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad.index.ir import IndexForward
from symgrad.index.rules import UPSTREAM
from symgrad.index.staged import StageRule, softmax_input
from symgrad.index.tensorform import forward_code, rule_code
from symgrad.numeric.tensorrun import compile_source

__all__ = ["CompiledStages", "compiled_stages", "einsum"]


def einsum(spec: str, *operands: np.ndarray, optimize: bool = True) -> np.ndarray:
    """``np.einsum(spec, *operands)``; two operands that form a (batched) matrix product go through matmul.

    Examples
    --------
    >>> a, b = np.arange(6.0).reshape(1, 2, 3), np.arange(12.0).reshape(1, 4, 3)
    >>> bool(np.allclose(einsum("abd,acd->abc", a, b), np.einsum("abd,acd->abc", a, b)))
    True
    """
    inputs, out = spec.split("->")
    names = inputs.split(",")
    if len(operands) != 2 or any(len(set(n)) != len(n) for n in (*names, out)):
        return np.einsum(spec, *operands, optimize=optimize)  # type: ignore[no-any-return]
    left, right = names
    if left == right == out:  # entrywise
        return operands[0] * operands[1]  # type: ignore[no-any-return]
    batch = [c for c in out if c in left and c in right]
    summed = [c for c in left if c in right and c not in out]
    rows = [c for c in left if c not in right]
    cols = [c for c in right if c not in left]
    if not summed or set(rows + cols + batch) != set(out) or len(out) != len(batch) + len(rows) + len(cols):
        return np.einsum(spec, *operands, optimize=optimize)  # type: ignore[no-any-return]
    a = np.transpose(operands[0], [left.index(c) for c in (*batch, *rows, *summed)])
    b = np.transpose(operands[1], [right.index(c) for c in (*batch, *summed, *cols)])
    if len(rows) == len(cols) == len(summed) == 1:  # strided views straight into matmul, no copy
        result = np.matmul(a, b)
    else:
        sizes = {c: a.shape[k] for k, c in enumerate((*batch, *rows, *summed))}
        sizes.update({c: b.shape[len(batch) + len(summed) + k] for k, c in enumerate(cols)})
        shape = [sizes[c] for c in batch]
        count = lambda letters: int(np.prod([sizes[c] for c in letters]))  # noqa: E731
        product = np.matmul(a.reshape(*shape, count(rows), count(summed)),
                            b.reshape(*shape, count(summed), count(cols)))
        result = product.reshape(*shape, *(sizes[c] for c in rows), *(sizes[c] for c in cols))
    order = [*batch, *rows, *cols]
    return np.transpose(result, [order.index(c) for c in out])


def _softmax_source(forward: IndexForward, name: str) -> str:
    x = softmax_input(forward)
    return (f"def {name}(T):\n    x = T[{x!r}]\n    e = np.exp(x - np.max(x, axis=-1, keepdims=True))\n"
            "    return e / np.sum(e, axis=-1, keepdims=True)\n")


def _fit(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` itself when it has ``shape`` already, else broadcast to it (a copy, writable)."""
    return array if array.shape == shape else np.array(np.broadcast_to(array, shape))


def _function(source: str, name: str) -> Callable[[Mapping[str, Any]], Any]:
    # Printed by tensorform for any layer: here without its defensive copies (each value is a fresh array).
    source = source.replace("np.einsum(", "_einsum(").replace("np.broadcast_to(", "_fit(")
    source = source.replace("    return np.array(", "    return np.asarray(")
    function: Any = compile_source(source, name)
    function.__globals__.update(_einsum=einsum, _fit=_fit)  # the namespace compile_source made for it alone
    return function  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CompiledStages:
    """``forward(arrays) -> y``; ``backward(arrays with G) -> {input: gradient}``, the stages' values the
    rules read computed unless the arrays hold them already (as a textbook backward reads its cache)."""

    forward: Callable[[Mapping[str, Any]], np.ndarray]
    backward: Callable[[Mapping[str, Any]], dict[str, np.ndarray]]
    sources: Mapping[str, str]
    output_shape: tuple[int, ...]


@functools.lru_cache(maxsize=64)
def compiled_stages(stages: tuple[IndexForward, ...], rules: tuple[StageRule, ...],
                    shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> CompiledStages:
    """The stages and rules compiled for inputs of ``shapes`` ((name, shape) pairs)."""
    given = dict(shapes)
    sources: dict[str, str] = {}
    forwards = []
    for stage in stages:
        name = f"_forward_{stage.output}"
        code = forward_code(stage, given)
        given[stage.output] = code.shape
        source = _softmax_source(stage, name) if softmax_input(stage) else code.source.replace("_forward", name, 1)
        sources[stage.output] = source
        forwards.append((stage.output, _function(source, name)))
    backs = []
    for staged in rules:
        code = rule_code(staged.rule, {**given, UPSTREAM: given[staged.stage.output]})
        name = f"_d_{staged.wrt}_via_{staged.stage.output}"
        sources[f"d{staged.wrt} via {staged.stage.output}"] = code.source.replace(code.name, name, 1)
        backs.append((staged.stage.output, staged.wrt, _function(code.source, code.name)))
    inputs = tuple(name for name, _ in shapes)
    output = stages[-1].output
    read = {str(r.base.label) for staged in rules for t in staged.rule.terms for r in t.factor.atoms(sp.Indexed)}
    producers = dict(zip((stage.output for stage in stages), zip(stages, (f for _, f in forwards), strict=True),
                         strict=True))

    def run_forward(arrays: Mapping[str, Any], wanted: Any) -> dict[str, Any]:
        values = {name: np.asarray(arrays[name]) for name in arrays}

        def need(name: str) -> None:  # a stage's output, from the values it reads, unless given
            if name in values or name not in producers:
                return
            stage, function = producers[name]
            for tensor in stage.tensors:
                need(tensor.name)
            values[name] = function(values)

        for name in wanted:
            need(name)
        return values

    def forward(arrays: Mapping[str, Any]) -> np.ndarray:
        return run_forward({name: arrays[name] for name in inputs}, (output,))[output]  # type: ignore[no-any-return]

    def backward(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        # The forward's values the rules read (the weights A), computed here unless given (a forward's cache).
        values = run_forward(arrays, sorted(read))
        grads: dict[str, Any] = {output: np.asarray(arrays[UPSTREAM])}
        for out, wrt, function in backs:
            part = function({**values, UPSTREAM: grads[out]})
            grads[wrt] = part if wrt not in grads else grads[wrt] + part  # a value read by two stages: summed
        return {name: grads[name] for name in inputs if name in grads}

    return CompiledStages(forward, backward, sources, given[output])
