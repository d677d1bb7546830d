"""A recurrent cell's step inside a graph network: its forward and its rules, from the cell's own graph.

A cell applied to graph nodes (``cell(x_t, h)``, see :mod:`symgrad.graph.cells`) is an
``Apply`` node with several inputs (x and the states) and one of the cell's outputs
(``h``; an LSTM's ``c`` is its own node). Its forward is that output of the cell's
graph composed from the inputs' and the weights' symbols; its rules are the cell's one
backward sweep with that output's upstream gradient (:meth:`CompositeLayer.cell_vjp`),
proven entrywise once per cell type and size (:func:`prove_whole_rule`). The graph's
sweep (:mod:`symgrad.derive.graph`) then sums the contributions of every step to the
shared weights, as for any value that feeds several consumers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from symgrad.composite.graph import forward_values
from symgrad.derive.compositesteps import prove_whole_rule, sweep_steps
from symgrad.derive.steps import Step
from symgrad.layers.composite import CompositeLayer

__all__ = ["cell_forward", "cell_rules"]


def _env(layer: CompositeLayer, args: Sequence[Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(zip(layer.inputs, args, strict=True)), **params}


def cell_forward(layer: CompositeLayer, args: Sequence[Any], params: Mapping[str, Any], output: str) -> Any:
    """The cell's ``output`` composed from its inputs ``args`` (x, h_prev[, c_prev]) and its weights.

    Examples
    --------
    >>> import sympy as sp
    >>> from symgrad.layers.recurrent import RNNCell
    >>> x, h = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("h", 2, 1)
    >>> Wx, Wh, b = sp.MatrixSymbol("Wx", 1, 1), sp.MatrixSymbol("Wh", 1, 1), sp.MatrixSymbol("b", 1, 1)
    >>> cell_forward(RNNCell(1, 1), (x, h), {"Wx": Wx, "Wh": Wh, "b": b}, "h")
    Elementwise(tanh(zeta), (h*Wh + x*Wx) + 1*b)
    """
    return forward_values(layer.graph(), {**_env(layer, args, params), **layer.constants()})[output]


def cell_rules(
    layer: CompositeLayer, upstream: Any, args: Sequence[Any], params: Mapping[str, Any], output: str,
) -> tuple[dict[Any, Any], tuple[bool, str], Callable[[Any], Callable[[], tuple[Step, ...]]]]:
    """dE/d(input) by position (0 for x, 1 for h_prev, ...) and dE/d(role) by role, given dE/d(output);
    the whole rule's proof; and, for each key, a maker of the cell's sweep steps that derive it.

    Examples
    --------
    >>> import sympy as sp
    >>> from symgrad.layers.recurrent import RNNCell
    >>> cell = RNNCell(1, 1)
    >>> x, h, G = (sp.MatrixSymbol(name, 2, 1) for name in ("x", "h", "G"))
    >>> params = {role: sp.MatrixSymbol(role, 1, 1) for role in cell.roles}
    >>> rules, proof, steps = cell_rules(cell, G, (x, h), params, "h")
    >>> sorted(map(str, rules)), proof[0]
    (['0', '1', 'Wh', 'Wx', 'b'], True)
    >>> steps(1)()[-1].rule
    'chain rule through hWh = matmul(h_prev, Wh): matrix product rule: G B^T and A^T G'
    """
    env = _env(layer, args, params)
    grads = layer.cell_vjp({output: upstream}, env)
    rules: dict[Any, Any] = {position: grads[name] for position, name in enumerate(layer.inputs)}
    rules.update({role: grads[role] for role in layer.roles})
    proof = prove_whole_rule(layer)

    def steps(key: Any) -> Callable[[], tuple[Step, ...]]:
        leaf = layer.inputs[key] if isinstance(key, int) else key
        return functools.partial(sweep_steps, layer, leaf, env, {output: upstream}, proof)

    return rules, proof, steps
