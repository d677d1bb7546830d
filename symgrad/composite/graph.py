"""A composite layer's graph and the one backward sweep that derives its rule.

A :class:`Graph` lists its leaves (the layer's input or inputs, its parameters,
constants such as running statistics), its values in topological order (each a
primitive of :mod:`symgrad.composite.ops` applied to earlier names) and its
outputs. :func:`sweep` runs the chain rule backwards over it once: each value's
gradient is formed when every consumer has given its contribution, the
contributions summed (a fork), and handed on. The same sweep serves the
document (gradients as symbols ``dE/dmu``, one step each) and the layer's rule
(gradients substituted, :func:`collected`), so the rule is written nowhere else.

Examples
--------
>>> import sympy as sp
>>> g = Graph(leaves=("x",), values=(Value("mu", "mean_rows", ("x",)), Value("y", "sub", ("x", "mu"))),
...           outputs=("y",))
>>> x = sp.MatrixSymbol("x", 3, 2)
>>> values = forward_values(g, {"x": x})
>>> grads = collected(g, values, {"y": sp.MatrixSymbol("G", 3, 2)}, ("x",))
>>> sp.simplify(grads["x"].subs(sp.MatrixSymbol("G", 3, 2), sp.OneMatrix(3, 2)).as_explicit())
Matrix([
[0, 0],
[0, 0],
[0, 0]])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad.composite import ops
from symgrad.matrixexpr import Elementwise

__all__ = ["Contribution", "Graph", "Value", "collected", "combine", "forward_values", "sweep"]

#: The consumer name of an output's own upstream gradient (from outside the layer).
UPSTREAM = "upstream"


@dataclass(frozen=True)
class Value:
    """``name = kind(*args)``, with ``const`` for a number, a body in ζ or a column range; ``what`` in words."""

    name: str
    kind: str
    args: tuple[str, ...]
    const: Any = None
    what: str = ""


@dataclass(frozen=True)
class Graph:
    """Leaves, values in topological order, outputs; ``constants`` are leaves never differentiated."""

    leaves: tuple[str, ...]
    values: tuple[Value, ...]
    outputs: tuple[str, ...]
    constants: tuple[str, ...] = ()

    def consumers(self, name: str) -> list[str]:
        """The values computed from ``name``, in forward order (once each)."""
        return [v.name for v in self.values if name in v.args]


@dataclass(frozen=True)
class Contribution:
    """What ``consumer`` gives to one operand's gradient (``cols``: the column range it came from)."""

    consumer: str
    expr: Any
    cols: tuple[Any, Any] | None = None


def forward_values(graph: Graph, env: Mapping[str, Any], *, symbols: bool = False) -> dict[str, Any]:
    """Every value of ``graph`` from the leaves in ``env``: composed expressions, or (``symbols``) each
    value's own right-hand side over the names of its operands as matrix symbols."""
    values: dict[str, Any] = dict(env)
    for value in graph.values:
        expr = ops.forward(value.kind, [values[arg] for arg in value.args], value.const)
        values[value.name] = sp.MatrixSymbol(value.name, *expr.shape) if symbols else expr
        if symbols:
            values[f"{value.name}="] = expr
    return values


def combine(parts: Sequence[Contribution], width: Any) -> Any:
    """The sum of the contributions; slices that tile their matrix side by side (an LSTM's gates)."""
    sliced = [p for p in parts if p.cols is not None]
    if sliced and len(sliced) == len(parts):
        ordered = sorted(sliced, key=lambda p: int(p.cols[0]))  # type: ignore[index]
        edges = [p.cols for p in ordered]
        tiles = edges[0][0] == 0 and edges[-1][1] == width and all(  # type: ignore[index]
            left[1] == right[0] for left, right in itertools.pairwise(edges))  # type: ignore[index]
        if tiles:
            return ordered[0].expr if len(ordered) == 1 else sp.BlockMatrix([[p.expr for p in ordered]])
    exprs = [ops.pad_columns(p.expr, p.cols[0], p.cols[1], width) if p.cols is not None else p.expr for p in parts]
    return exprs[0] if len(exprs) == 1 else sp.MatAdd(*exprs)


def sweep(
    graph: Graph,
    values: Mapping[str, Any],
    upstream: Mapping[str, Any],
    wanted: Sequence[str],
    gradient: Callable[[str, list[Contribution]], Any],
    *,
    cut: Sequence[str] = (),
    swap: Mapping[str, Any] | None = None,
) -> dict[str, list[Contribution]]:
    """One reverse sweep: the contributions to each value's gradient, in the order they were formed.

    ``values`` gives each name's forward value as the rules should read it;
    ``upstream`` the gradient of each output from outside; ``gradient(name,
    parts)`` is called once per value, when its contributions are all in, and
    returns what stands for its gradient downstream (a symbol, or the sum
    itself). A name in ``cut`` is treated as a constant (no gradient flows
    through it): a path left out, as a mistaken backward leaves it; ``swap`` maps an entrywise
    function's value to a wrong derivative (a body in ζ) that a mistaken backward uses instead.
    """
    parts: dict[str, list[Contribution]] = {name: [] for name in (*graph.leaves, *(v.name for v in graph.values))}
    for name, grad in upstream.items():
        parts[name].append(Contribution(UPSTREAM, grad))
    needed = _needed(graph, wanted)
    formed: dict[str, list[Contribution]] = {}
    for value in reversed(graph.values):
        if value.name not in needed or not parts[value.name] or value.name in cut:
            continue
        grad = gradient(value.name, parts[value.name])
        formed[value.name] = parts[value.name]
        args = [values[arg] for arg in value.args]
        rules = ops.vjp(value.kind, grad, args, value.const)
        if swap and value.name in swap:
            rules = [sp.HadamardProduct(grad, Elementwise(swap[value.name], args[0]))]
        for position, local in enumerate(rules):
            target = value.args[position]
            if target not in needed or target in graph.constants:
                continue
            if value.kind == "cols":
                parts[target].append(Contribution(value.name, grad, tuple(value.const)))
            else:
                parts[target].append(Contribution(value.name, local))
    for name in wanted:
        formed[name] = parts[name]
    return formed


def _needed(graph: Graph, wanted: Sequence[str]) -> set[str]:
    """Names on a path from a wanted leaf to an output."""
    needed = set(wanted)
    for value in graph.values:
        if any(arg in needed for arg in value.args):
            needed.add(value.name)
    return needed


def collected(
    graph: Graph, values: Mapping[str, Any], upstream: Mapping[str, Any], wanted: Sequence[str],
    *, cut: Sequence[str] = (), swap: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """dE/d(name) for each wanted leaf as one expression: the sweep with every gradient substituted."""
    def width(name: str) -> Any:
        return values[name].shape[1]

    sums: dict[str, Any] = {}

    def gradient(name: str, parts: list[Contribution]) -> Any:
        sums[name] = combine(parts, width(name))
        return sums[name]

    formed = sweep(graph, values, upstream, wanted, gradient, cut=cut, swap=swap)
    result = {}
    for name in wanted:
        parts = formed[name]
        result[name] = combine(parts, width(name)) if parts else sp.ZeroMatrix(*values[name].shape)
    return result
