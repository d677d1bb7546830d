"""``GraphNetwork``: a network given by its scalar loss node, ``symgrad.Network(E)``.

The graph is read once, from E back to the inputs, into a topological order
(depth first, operands in the order written: deterministic, no sets). Every
value gets its name: inputs keep theirs, each layer instance's parameters are
named as in a chain (``W1``, ``b1``, or ``W`` + the layer's ``name``; a layer
called twice shares them), intermediate values are ``h1``, ``h2``, ... in
topological order, and the loss is ``E``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symgrad.errors import ShapeError, SpecError, UnknownNameError
from symgrad.graph.nodes import BATCH_DIM, Apply, Input, Node, Op, Param, format_shape
from symgrad.network import MAX_LAYERS, Network, ParamInfo, _layer_names

if TYPE_CHECKING:
    from symgrad.layers.base import Layer

__all__ = ["MAX_NODES", "GraphNetwork", "chain_as_graph"]

#: The most computed values (layer applications and combinations) a graph network may have.
MAX_NODES = 4 * MAX_LAYERS


class GraphNetwork(Network):
    """A network whose loss is the scalar node ``E``; build it as ``symgrad.Network(E)``.

    Examples
    --------
    >>> from symgrad.graph.nodes import Input, sum_squares
    >>> from symgrad.layers import Affine, HalfSquaredError, Tanh
    >>> x, t = Input("x", 3), Input("t", 3)
    >>> layer = Affine(3, 3)
    >>> net = Network(HalfSquaredError()(x + Tanh()(layer(x)), t) + 0.01 * sum_squares(layer.param("W")))
    >>> net.names, net.nodes
    (('x', 't', 'W1', 'b1'), ('h1', 'h2', 'h3', 'h4', 'h5', 'h6'))
    >>> Network(x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: Network(E) needs a scalar node E (a loss, total(...) or ...); this node has shape (N, 3)
    """

    def __init__(self, layers: Any, loss: Any = None, *, title: str | None = None) -> None:
        root = layers  # Network's first argument: here the loss node E
        if not isinstance(root, Node):
            msg = f"Network(E) takes a graph node, got {type(root).__name__}"
            raise SpecError(msg)
        if loss is not None:
            msg = "Network(E) takes no loss=...: E already ends in the loss (loss=... is for a list of layers)"
            raise SpecError(msg)
        if root.shape != ():
            msg = (f"Network(E) needs a scalar node E (a loss, total(...) or sum_squares(...)); "
                   f"this node has shape {format_shape(root.shape)}")
            raise ShapeError(msg)
        if title is not None and not isinstance(title, str):
            msg = f"title must be a str, got {type(title).__name__}"
            raise SpecError(msg)
        self.root = root
        self.title = title
        self.order: tuple[Node, ...] = _topological(root)
        inputs = _inputs(self.order)
        self.batched = _mode(self.order)
        self.layers: tuple[Layer, ...] = _layers(self.order)
        self.layer_names = _layer_names(self.layers)
        self._params = self._collect_params()
        self.params = tuple(self._params)
        self.targets: tuple[str, ...] = _targets(self.order)
        self.input_shapes = {name: node.shape for name, node in inputs.items()}
        self.names = (*inputs, *self.params)
        computed = [node for node in self.order if node.args]
        if len(computed) > MAX_NODES:
            msg = f"a graph of {len(computed)} computed values is larger than symgrad derives (at most {MAX_NODES})"
            raise SpecError(msg)
        self._names: dict[int, str] = {}
        for name, first in inputs.items():
            self._names[id(first)] = name
        for node in self.order:
            if isinstance(node, Param):
                self._names[id(node)] = self._param_name(node)
        hidden = [node for node in computed if node is not root]
        for index, value in enumerate(hidden, 1):
            self._names[id(value)] = f"h{index}"
        self._names[id(root)] = "E"
        self.nodes = tuple(f"h{index}" for index in range(1, len(hidden) + 1))
        _check_collisions(self.names, self.nodes)
        self.input_features = next((shape[1] for shape in self.input_shapes.values() if shape), None)
        self.output_features = None
        self.loss = next((n.layer for n in self.order if isinstance(n, Apply) and n.args and _is_loss(n.layer)), None)  # type: ignore[assignment]

    def sample_shape(self, name: str) -> tuple[int, ...]:
        """One sample's shape of input ``name``, the batch left out."""
        return tuple(int(d) for d in self.input_shapes[name][1:])

    # -- names ----------------------------------------------------------------
    def name_of(self, node: Node) -> str:
        """The name of ``node`` in this network (inputs by name, parameters by layer, others h1, h2, ..., E)."""
        if isinstance(node, Input):
            return node.name
        if isinstance(node, Param):
            return self._param_name(node)
        return self._names[id(node)]

    def _param_name(self, node: Param) -> str:
        for index, layer in enumerate(self.layers):
            if layer is node.layer:
                return f"{node.role if self.batched else node.role.lower()}{self.layer_names[index]}"
        msg = (f"{node.layer!r}.param({node.role!r}) belongs to a layer that this network never applies "
               "(a node from another graph): apply the layer in E's graph, or use that graph's own layer")
        raise UnknownNameError(msg)

    def _collect_params(self) -> dict[str, ParamInfo]:
        found: dict[str, ParamInfo] = {}
        for index, layer in enumerate(self.layers):
            shapes = layer.param_shapes(None)
            for role in layer.roles:
                name = f"{role if self.batched else role.lower()}{self.layer_names[index]}"
                if name in found:
                    msg = (f"two layers are named {self.layer_names[index]!r}: parameter {name} would be ambiguous "
                           "(to share parameters, call the same layer instance twice)")
                    raise UnknownNameError(msg)
                found[name] = ParamInfo(name, index, role, tuple(shapes[role]))
        return found

    def consumers(self) -> dict[str, list[str]]:
        """Each value's name to the names of the values computed from it, in topological order."""
        used: dict[str, list[str]] = {}
        for node in self.order:
            for arg in node.args:
                used.setdefault(self.name_of(arg), []).append(self.name_of(node))
            if isinstance(node, Apply):
                for role in node.layer.roles:
                    used.setdefault(self._param_name(Param(node.layer, role)), []).append(self.name_of(node))
        return used

    def describe(self) -> str:
        """The graph as its equations, one per computed value: ``h1 = affine(x); ...; E = h3 + h4``."""
        parts = []
        for node in self.order:
            if node.args:
                parts.append(f"{self.name_of(node)} = {describe_node(self, node)}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Network({self.describe()!r})"


def _is_loss(layer: Any) -> bool:
    from symgrad.layers.base import Loss

    return isinstance(layer, Loss)


def describe_node(net: GraphNetwork, node: Node) -> str:
    """How ``node`` is computed from the names of its operands, e.g. ``affine(x)`` or ``h1 + h2``."""
    names = [net.name_of(arg) for arg in node.args]
    if isinstance(node, Apply):
        output = "" if node.output is None or len(node.layer.outputs) == 1 else f".{node.output}"  # type: ignore[attr-defined]
        return f"{node.layer.kind}({', '.join(names)}){output}"
    assert isinstance(node, Op)
    if node.kind in ("add", "sub", "mul", "matmul"):
        return f" {_SIGNS[node.kind]} ".join(names)
    if node.kind == "scale":
        return f"{node.const:g} * {names[0]}"
    if node.kind == "shift":
        return f"{names[0]} + {node.const:g}"
    return f"{node.kind}({', '.join(names)})"


_SIGNS = {"add": "+", "sub": "-", "mul": "*", "matmul": "@"}


def _topological(root: Node) -> tuple[Node, ...]:
    """Every node E depends on, each after its operands (iterative depth first: deep graphs do not recurse)."""
    order: list[Node] = []
    state: dict[int, int] = {}  # id -> 1 while on the path, 2 when done
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, position = stack.pop()
        if position == 0:
            if state.get(id(node)) == 2:
                continue
            if state.get(id(node)) == 1:
                msg = f"the graph has a cycle: a {type(node).__name__} node depends on itself"
                raise SpecError(msg)
            state[id(node)] = 1
        args = node.args
        if position < len(args):
            stack.append((node, position + 1))
            child = args[position]
            if not isinstance(child, Node):
                msg = f"a graph node has an operand that is not a node: {child!r}"
                raise SpecError(msg)
            if state.get(id(child)) == 1:
                msg = f"the graph has a cycle through a {type(child).__name__} node: a value cannot depend on itself"
                raise SpecError(msg)
            stack.append((child, 0))
        else:
            state[id(node)] = 2
            order.append(node)
    return tuple(order)


def _inputs(order: tuple[Node, ...]) -> dict[str, Input]:
    found: dict[str, Input] = {}
    for node in order:
        if isinstance(node, Input):
            known = found.setdefault(node.name, node)
            if known.features != node.features:
                msg = (f"two inputs are named {node.name!r} with different shapes, {format_shape(known.shape)} "
                       f"and {format_shape(node.shape)}: one name, one input")
                raise ShapeError(msg)
    if not found:
        msg = "E depends on no Input: a network needs at least one input"
        raise SpecError(msg)
    return found


def _mode(order: tuple[Node, ...]) -> bool:
    kinds = {bool(node.shape) for node in order if isinstance(node, Input)}
    if len(kinds) > 1:
        msg = "a graph mixes scalar inputs (Input(name)) with batched ones (Input(name, features)); use one kind"
        raise ShapeError(msg)
    batched = kinds == {True}
    for node in order:
        if isinstance(node, (Apply, Param)) and node.layer.batched is (not batched):
            kind, graph = ("scalar", "batched") if batched else ("batched", "scalar")
            msg = f"{node.layer!r} is {kind} in a {graph} graph"
            raise ShapeError(msg)
    return batched


def _layers(order: tuple[Node, ...]) -> tuple[Layer, ...]:
    found: list[Layer] = []
    for node in order:
        if isinstance(node, (Apply, Param)) and not _is_loss(node.layer) and not any(node.layer is f for f in found):
            found.append(node.layer)
    applied = [node.layer for node in order if isinstance(node, Apply)]
    for layer in found:
        if not any(layer is other for other in applied):
            msg = (f"{layer!r}.param(...) is used, but the layer is never applied in this graph "
                   "(a node from another graph): apply the layer here, or use the layer that is")
            raise UnknownNameError(msg)
    return tuple(found)


def _targets(order: tuple[Node, ...]) -> tuple[str, ...]:
    targets: list[str] = []
    for node in order:
        if isinstance(node, Apply) and _is_loss(node.layer):
            target = node.args[1]
            assert isinstance(target, Input)
            if target.name not in targets:
                targets.append(target.name)
    for node in order:
        for position, arg in enumerate(node.args):
            is_target_slot = isinstance(node, Apply) and _is_loss(node.layer) and position == 1
            if isinstance(arg, Input) and arg.name in targets and not is_target_slot:
                msg = (f"input {arg.name!r} is a loss's target and is also used elsewhere; targets are data that "
                       "symgrad does not differentiate: give the other use its own Input")
                raise SpecError(msg)
    return tuple(targets)


def _check_collisions(names: tuple[str, ...], nodes: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for name in (*names, *nodes, "E", BATCH_DIM):
        if name in seen:
            msg = (f"the name {name!r} is used twice (inputs are named by you; parameters W1, b1, ...; "
                   f"computed values h1, h2, ...; the loss E; the batch N): rename the input")
            raise UnknownNameError(msg)
        seen.add(name)


def chain_as_graph(network: Network) -> GraphNetwork:
    """The chain ``Network(layers, loss=...)`` as the graph it is, its values named as the chain names them.

    ``x`` through each layer in turn, then the loss with ``t``: the graph whose one
    backward sweep derives the chain (:mod:`symgrad.derive.graph`). Inputs,
    parameters and the loss keep their names; the computed values are ``h`` (or
    ``h1``, ``h2``, ...) and ``y``, as in the chain.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> graph = chain_as_graph(article_network())
    >>> graph.names, graph.nodes, graph.describe()
    (('x', 't', 'w1', 'b1', 'w2', 'b2'), ('h', 'y'), 'h = affine(x); y = affine(h); E = half-squared-error(y, t)')
    """
    if isinstance(network, GraphNetwork):
        return network
    shape = getattr(network, "input_shape", None)
    x = Input("x", (shape if len(shape) > 1 else shape[0]) if network.batched and shape else None)
    value: Node = x
    for layer in network.layers:
        value = layer(value)
    t = Input("t", network.output_features if network.batched else None)
    graph = GraphNetwork(network.loss(value, t), title=network.title)
    hidden = [node for node in graph.order if node.args and node is not graph.root]
    for node, name in zip(hidden, network.nodes, strict=True):
        graph._names[id(node)] = name
    graph.nodes = network.nodes
    assert graph.name_of(x) == "x"
    return graph
