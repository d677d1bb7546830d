"""``symgrad.derive(layer)``: a composite layer's own derivation, with no network around it.

For a layer whose forward is a graph (batch norm, a recurrent cell) the derivation takes
E as any loss of its outputs: E's gradient with respect to each output is given (the
upstream gradients dE/dh, dE/dc), and every input's and parameter's gradient is derived
by the layer's one backward sweep (:func:`symgrad.derive.compositesteps.sweep_steps`).
The result is a :class:`~symgrad.derive.derivation.Derivation` like an expression's: its
documents show each gradient's steps; ``lambdify()`` takes the leaves and the upstream
gradients by name (``dout``; a cell's ``dh_next``, ``dc_next``).
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symgrad.composite.graph import collected, forward_values
from symgrad.derive.compositesteps import prove_whole_rule, staged_program, sweep_steps
from symgrad.derive.derivation import Derivation
from symgrad.derive.steps import Step
from symgrad.layers.composite import CompositeLayer
from symgrad.matrixexpr import BATCH, ElementSum

__all__ = ["derive_layer"]


def derive_layer(layer: CompositeLayer) -> Derivation:
    """Every input's and parameter's gradient of ``layer``, derived through its graph.

    Examples
    --------
    >>> from symgrad.layers.recurrent import LSTMCell
    >>> d = derive_layer(LSTMCell(3, 4))
    >>> d.wrt
    ('x', 'h_prev', 'c_prev', 'Wx', 'Wh', 'b')
    >>> [s.rule for s in d.steps("c_prev") if s.rule.startswith("sum over")]
    ['sum over 2 paths (c feeds tc and the next step (its upstream gradient)): multivariable chain rule']
    >>> d.verified
    True
    """
    graph = layer.graph()
    sizes = layer.input_sizes()
    shapes: dict[str, tuple[Any, ...]] = {name: (BATCH, size) for name, size in sizes.items()}
    for role, shape in layer.param_shapes(None).items():
        shapes[role] = (1, shape[0]) if len(shape) == 1 else tuple(shape)
    env = {name: sp.MatrixSymbol(name, *shape) for name, shape in shapes.items()}
    values = forward_values(graph, {**env, **layer.constants()})
    # The gradients given from outside: dout for one output; for a cell's, what the next step sends (dh_next, dc_next).
    given = {out: ("dout" if len(graph.outputs) == 1 else f"d{out}_next") for out in graph.outputs}
    upstream = {out: sp.MatrixSymbol(given[out], *values[out].shape) for out in graph.outputs}
    energy = sp.Add(*(ElementSum(sp.HadamardProduct(upstream[out], sp.MatrixSymbol(out, *values[out].shape)))
                      for out in graph.outputs))
    composed = sp.Add(*(ElementSum(sp.HadamardProduct(upstream[out], values[out])) for out in graph.outputs))
    # Staged, E reads the outputs the program computed (h, c), not the whole forward again.
    outputs = ", ".join(graph.outputs)
    function = Step(sp.Symbol("E"), energy, "definition", True, "definition",
                    f"E is any loss of the layer's outputs ({outputs}); its gradients with respect to them are given.")
    wanted = (*layer.inputs, *layer.roles)
    proven = prove_whole_rule(layer)
    steps = {leaf: sweep_steps(layer, leaf, env, upstream, proven, closed="input" if leaf == layer.inputs[0]
                               else leaf) for leaf in wanted}
    grads = collected(graph, values, upstream, wanted)
    program, out_symbols = staged_program(layer, env, upstream, wanted)
    symbols: dict[str, Any] = {**env, **{given[out]: sym for out, sym in upstream.items()}}
    declared = {role: tuple(shape) for role, shape in layer.param_shapes(None).items()}
    all_shapes = {**{k: declared.get(k, v) for k, v in shapes.items()},
                  **{given[out]: tuple(sym.shape) for out, sym in upstream.items()}}
    return Derivation(
        title=f"{layer!r}: its backward derived through its graph",
        loss=composed,
        wrt=wanted,
        inputs=(*shapes, *given.values()),
        forward=(function,),
        symbols=symbols,
        shapes=all_shapes,
        program=tuple(program),
        outputs=out_symbols,
        loss_value=energy,
        batched=True,
        _steps=steps,
        _results=grads,
    )
