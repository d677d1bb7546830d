"""Recurrent cells on graph nodes: one step ``cell(x_t, h)``, and :func:`unroll` over time.

A cell (``RNNCell``, ``GRUCell``, ``LSTMCell``) called on nodes gives the node of
its new hidden state; an LSTM's call gives two, ``h, c = cell(x_t, h, c)``. Each
output is its own node (an :class:`~symgrad.graph.nodes.Apply` with ``output``
set), so where both are used the inputs' gradients are the sum of the two paths,
as for any fork. Calling the same cell at each step shares its weights: the
weights' gradient is the sum over the steps (the fork-sum step of the derivation).

Plain data, no SymPy and no NumPy, like :mod:`symgrad.graph.nodes`.

Examples
--------
>>> from symgrad.graph.nodes import Input
>>> from symgrad.layers.recurrent import LSTMCell, RNNCell
>>> h = RNNCell(3, 4)(Input("x1", 3), Input("h0", 4))
>>> h.shape, h.output
(('N', 4), 'h')
>>> h, c = LSTMCell(3, 4)(Input("x1", 3), Input("h0", 4), Input("c0", 4))
>>> c.output, c.args == h.args
('c', True)
>>> RNNCell(3, 4)(Input("x1", 3))
Traceback (most recent call last):
...
symgrad.errors.SpecError: RNNCell(3, 4) was called on 1 argument: a cell takes cell(x, h_prev)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symgrad.errors import ShapeError, SpecError
from symgrad.graph.nodes import BATCH_DIM, Apply, Node, format_shape

__all__ = ["apply_cell", "is_cell", "unroll"]


def is_cell(layer: Any) -> bool:
    """Whether ``layer`` is called as a cell: several inputs (x and the states), as its graph lists them."""
    from symgrad.layers.base import Loss

    return not isinstance(layer, Loss) and len(getattr(layer, "inputs", ())) > 1 and hasattr(layer, "outputs")


def apply_cell(layer: Any, inputs: tuple[Any, ...]) -> Apply | tuple[Apply, ...]:
    """``cell(x, h_prev)`` (or an LSTM's ``cell(x, h_prev, c_prev)``) on graph nodes: the node of each output."""
    where = f"{layer!r}"
    names = tuple(layer.inputs)
    if len(inputs) != len(names):
        plural = "" if len(inputs) == 1 else "s"
        msg = f"{where} was called on {len(inputs)} argument{plural}: a cell takes cell({', '.join(names)})"
        raise SpecError(msg)
    sizes = layer.input_sizes()
    for name, value in zip(names, inputs, strict=True):
        if not isinstance(value, Node):
            msg = (f"{where} is called on graph nodes (symgrad.Input(...), or other layers' outputs), "
                   f"got {type(value).__name__} for {name}")
            raise SpecError(msg)
        if value.shape != (BATCH_DIM, sizes[name]):
            msg = (f"{where}: {name} must be a batch ({BATCH_DIM}, {sizes[name]}), "
                   f"but its node has shape {format_shape(value.shape)}")
            raise ShapeError(msg)
    shape = (BATCH_DIM, layer.H)
    nodes = tuple(Apply(layer, tuple(inputs), shape, output=out) for out in layer.outputs)
    return nodes[0] if len(nodes) == 1 else nodes


def unroll(cell: Any, xs: Sequence[Node], h0: Node, c0: Node | None = None) -> list[Node]:
    """The cell applied at each step of ``xs``, its weights shared: the hidden states h_1, ..., h_T.

    ``h0`` (and an LSTM's ``c0``) is the first state; each step's state feeds the
    next, as DLFS2's ``TimeRNN`` / ``TimeLSTM`` loop does.

    Examples
    --------
    >>> from symgrad.graph.nodes import Input, sum_squares
    >>> from symgrad.layers.recurrent import LSTMCell, RNNCell
    >>> xs = [Input(f"x{t}", 3) for t in (1, 2, 3)]
    >>> hs = unroll(RNNCell(3, 4), xs, Input("h0", 4))
    >>> len(hs), hs[-1].args[1] is hs[1]
    (3, True)
    >>> hs = unroll(LSTMCell(3, 4), xs, Input("h0", 4), Input("c0", 4))
    >>> [h.output for h in hs]
    ['h', 'h', 'h']
    >>> unroll(LSTMCell(3, 4), xs, Input("h0", 4))
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: LSTMCell(3, 4) carries a cell state too: unroll(cell, xs, h0, c0)
    """
    if not is_cell(cell):
        msg = f"unroll takes a recurrent cell (RNNCell, GRUCell, LSTMCell), got {cell!r}"
        raise SpecError(msg)
    if isinstance(xs, Node) or not isinstance(xs, Sequence) or not xs:
        msg = "unroll takes the inputs of the time steps as a non-empty list of nodes, [x1, x2, ...]"
        raise SpecError(msg)
    lstm = len(cell.outputs) > 1
    if lstm and c0 is None:
        msg = f"{cell!r} carries a cell state too: unroll(cell, xs, h0, c0)"
        raise SpecError(msg)
    if not lstm and c0 is not None:
        msg = f"{cell!r} has no cell state: unroll(cell, xs, h0)"
        raise SpecError(msg)
    states: list[Node] = []
    h: Any = h0
    c: Any = c0
    for x in xs:
        if lstm:
            h, c = cell(x, h, c)
        else:
            h = cell(x, h)
        states.append(h)
    return states
