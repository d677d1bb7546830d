"""A graph network evaluated by textbook NumPy backprop: the reference side of its check.

Forward in topological order, with a fresh copy of a layer for each application
(a layer applied twice keeps two caches, as an unrolled RNN does); then backward
from E in reverse order, calling each layer's own ``backward()`` and each
combination's hand-written backward below, and adding the gradients of a value
that feeds several consumers. Nothing here is derived: it is the independent
side that the symbolic gradient is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from symgrad.errors import LayerError
from symgrad.graph.network import GraphNetwork
from symgrad.graph.nodes import Apply, Input, Node, Op, Param
from symgrad.layers import ReLU
from symgrad.numeric.reference import ReferenceResult, _require_shape, _run, _stored

__all__ = ["graph_backward", "graph_loss", "graph_relu_inputs", "op_backward", "op_forward"]


def op_forward(kind: str, args: list[Any], const: Any) -> Any:
    """The combination ``kind`` of NumPy values (textbook code)."""
    if kind == "add":
        return args[0] + args[1]
    if kind == "sub":
        return args[0] - args[1]
    if kind == "mul":
        return args[0] * args[1]
    if kind == "matmul":
        return np.dot(args[0], args[1])
    if kind == "scale":
        return const * args[0]
    if kind == "shift":
        return args[0] + const
    if kind == "concat":
        return np.concatenate(args, axis=1)
    if kind == "total":
        return np.sum(args[0])
    return np.sum(args[0] ** 2)  # sum_squares


def op_backward(kind: str, dout: Any, args: list[Any], const: Any) -> list[Any]:
    """The gradient of each operand of ``kind`` given ``dout`` (textbook code, written by hand).

    Examples
    --------
    >>> a, b = np.ones((2, 3)), np.ones((3, 4))
    >>> [g.shape for g in op_backward("matmul", np.ones((2, 4)), [a, b], None)]
    [(2, 3), (3, 4)]
    """
    if kind == "add":
        return [dout, dout]
    if kind == "sub":
        return [dout, -dout]
    if kind == "mul":
        return [dout * args[1], dout * args[0]]
    if kind == "matmul":
        return [np.dot(dout, args[1].T), np.dot(args[0].T, dout)]
    if kind == "scale":
        return [const * dout]
    if kind == "shift":
        return [dout]
    if kind == "concat":
        edges = np.cumsum([np.shape(a)[1] for a in args])[:-1]
        return list(np.split(dout, edges, axis=1))
    if kind == "total":
        return [dout * np.ones_like(args[0])]
    return [2.0 * dout * args[0]]  # sum_squares


def _forward(net: GraphNetwork, values: Mapping[str, Any]) -> tuple[dict[int, Any], dict[int, Any]]:
    computed: dict[int, Any] = {}
    copies: dict[int, Any] = {}
    for node in net.order:
        if isinstance(node, (Input, Param)):
            computed[id(node)] = values[net.name_of(node)]
            continue
        args = [computed[id(arg)] for arg in node.args]
        if isinstance(node, Apply):
            index = _index(net, node)
            copy = node.layer.fresh()
            copy.set_params({role: values[net.name_of(Param(node.layer, role))] for role in node.layer.roles})
            copies[id(node)] = copy
            computed[id(node)] = _run(copy, index, "forward", *args)
            if node.output is not None and len(node.layer.outputs) > 1:  # type: ignore[attr-defined]
                computed[id(node)] = computed[id(node)][node.layer.outputs.index(node.output)]  # type: ignore[attr-defined]
        else:
            assert isinstance(node, Op)
            computed[id(node)] = op_forward(node.kind, args, node.const)
    return computed, copies


def _index(net: GraphNetwork, node: Apply) -> int:
    """The layer's position for messages ("layer 2"); -1 for a loss ("the loss")."""
    return next((i for i, layer in enumerate(net.layers) if layer is node.layer), -1)


def graph_loss(net: GraphNetwork, values: Mapping[str, Any]) -> Any:
    """E at ``values`` by the layers' forward passes and the combinations (complex-safe)."""
    return _forward(net, values)[0][id(net.root)]


def graph_backward(net: GraphNetwork, values: Mapping[str, Any], wrt: tuple[str, ...]) -> ReferenceResult:
    """E and dE/d(name) for ``wrt`` by backprop over the graph with the layers' own backward()."""
    computed, _, leaves = _backprop(net, values)
    missing = [name for name in wrt if name not in leaves]
    if missing:
        msg = f"no gradient reached {', '.join(missing)} in the reference backprop (E does not depend on it)"
        raise LayerError(msg)
    value = computed[id(net.root)]
    return ReferenceResult(float(np.real(value)), {name: np.asarray(leaves[name], dtype=float) for name in wrt})


def graph_values(net: GraphNetwork, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every named quantity's value and dE/d(quantity) at ``values``, by the layers' forward and backward()
    (what a document shows beside each step)."""
    computed, grads, leaves = _backprop(net, values)
    forward = {net.name_of(node): np.asarray(computed[id(node)], dtype=float) for node in net.order}
    gradient = {net.name_of(node): np.asarray(grads[id(node)], dtype=float)
                for node in net.order if node.args and id(node) in grads}
    gradient.update({name: np.asarray(value, dtype=float) for name, value in leaves.items()})
    return forward, gradient


def _backprop(net: GraphNetwork, values: Mapping[str, Any]) -> tuple[dict[int, Any], dict[int, Any], dict[str, Any]]:
    """The forward values, the gradients of computed nodes (by id) and of inputs and parameters (by name)."""
    computed, copies = _forward(net, values)
    grads: dict[int, Any] = {id(net.root): 1.0}
    leaves: dict[str, Any] = {}

    def add(node: Node, grad: Any) -> None:
        if isinstance(node, (Input, Param)):
            name = net.name_of(node)
            leaves[name] = grad if name not in leaves else leaves[name] + grad
        else:
            grads[id(node)] = grad if id(node) not in grads else grads[id(node)] + grad

    for node in reversed(net.order):
        dout = grads.get(id(node))
        if dout is None or not node.args:
            continue
        dout = np.array(dout, dtype=float, copy=True) if np.ndim(dout) else dout  # a backward may write into it
        if isinstance(node, Apply) and node.output is not None:  # a recurrent cell's step
            index, copy = _index(net, node), copies[id(node)]
            for arg, grad in zip(node.args, _cell_backward(copy, index, node, dout), strict=True):
                _require_shape(copy, index, "a gradient", grad, np.shape(computed[id(arg)]), "its input")
                add(arg, grad)
            for role in node.layer.roles:
                param = Param(node.layer, role)
                add(param, _stored(copy, index, role, values[net.name_of(param)]))
        elif isinstance(node, Apply):
            index, copy = _index(net, node), copies[id(node)]
            dx = _run(copy, index, "backward", dout)
            _require_shape(copy, index, "dx", dx, np.shape(computed[id(node.args[0])]), "its input")
            add(node.args[0], dx)
            for role in node.layer.roles:
                param = Param(node.layer, role)
                add(param, _stored(copy, index, role, values[net.name_of(param)]))
        else:
            assert isinstance(node, Op)
            args = [computed[id(arg)] for arg in node.args]
            for arg, grad in zip(node.args, op_backward(node.kind, dout, args, node.const), strict=True):
                add(arg, grad)
    return computed, grads, leaves


def _cell_backward(copy: Any, index: int, node: Apply, dout: Any) -> tuple[Any, ...]:
    """A cell's ``backward`` given its node's output gradient: ``backward(dh)``, or an LSTM's
    ``backward(dh, dc)`` with zeros for the output this node is not (its other node adds that path)."""
    outputs = node.layer.outputs  # type: ignore[attr-defined]
    if len(outputs) == 1:
        grads = _run(copy, index, "backward", dout)
    else:
        grads = _run(copy, index, "backward", *(dout if out == node.output else np.zeros_like(dout) for out in outputs))
    if not isinstance(grads, tuple) or len(grads) != len(node.args):
        msg = (f"layer {index + 1}, {copy!r}: backward() must return one gradient per input "
               f"({len(node.args)}: {', '.join(node.layer.inputs)}), as a tuple")  # type: ignore[attr-defined]
        raise LayerError(msg)
    return grads


def graph_relu_inputs(net: GraphNetwork, values: Mapping[str, Any]) -> list[np.ndarray]:
    """The input of every ReLU application, in topological order."""
    computed, _ = _forward(net, values)
    return [np.real(np.asarray(computed[id(node.args[0])])) for node in net.order
            if isinstance(node, Apply) and isinstance(node.layer, ReLU)]
