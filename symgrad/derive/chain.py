"""The chain rule across layers: ``derive(network) -> Derivation``.

Backward through the network from the loss, one layer at a time: the upstream
gradient of each layer's output (``dE/dy``, ``dE/dh``, ...) times the layer's
local derivative gives the gradients of its parameters and of its input.
Scalar networks take the local derivative by ``sympy.diff`` of the layer's
forward (with elementary steps); batched networks use each layer's matrix rule,
so the work does not grow with the width.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symgrad.derive.derivation import Derivation
from symgrad.derive.elementary import elementary_steps
from symgrad.derive.indexproof import index_substeps
from symgrad.derive.steps import Step
from symgrad.derive.verify import matrix_rule_proof, prove_equal
from symgrad.errors import UnknownNameError
from symgrad.functions import kink_value, with_kink
from symgrad.matrixexpr import BATCH
from symgrad.network import Network, requested_names

__all__ = ["derive", "grad_symbol"]


def grad_symbol(name: str, shape: tuple[Any, ...] = ()) -> sp.Basic:
    """The symbol standing for dE/d(name): a Symbol, or a MatrixSymbol."""
    label = f"dE/d{name}"
    return sp.Symbol(label) if shape == () else sp.MatrixSymbol(label, *shape)


@dataclass
class _Builder:
    """Mutable scratch space while a derivation is built."""

    network: Network
    kink: Any
    symbols: dict[str, sp.Basic] = field(default_factory=dict)
    shapes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    defs: dict[sp.Basic, sp.Basic] = field(default_factory=dict)  # node -> forward rhs
    grads: dict[str, Step] = field(default_factory=dict)  # name -> gradient step
    # name -> the index-level steps of its rule, made when the steps are first read (documents, not checks)
    index_steps: dict[str, Any] = field(default_factory=dict)
    program: list[tuple[sp.Basic, sp.Basic]] = field(default_factory=list)

    def symbol(self, name: str, shape: tuple[Any, ...]) -> sp.Basic:
        self.shapes[name] = shape
        sym = sp.Symbol(name) if shape == () else sp.MatrixSymbol(name, *_symbolic_shape(shape))
        self.symbols[name] = sym
        return sym


def _symbolic_shape(shape: tuple[Any, ...]) -> tuple[Any, Any]:
    # Vectors (b) are rows, so that ones(N, 1) * b broadcasts over the batch.
    return (1, shape[0]) if len(shape) == 1 else (shape[0], shape[1])


#: Methods a layer's matrix rules are built from; a layer whose resolved methods are all symgrad's own is pure.
_RULE_METHODS = (
    "matrix_forward", "matrix_vjp", "matrix_loss", "matrix_grad", "function", "index_forward", "index_loss",
)
#: The matrix rules of symgrad's own layers, by layer, rule and symbols (the last 1024, least recent first):
#: SymPy takes tens of microseconds per matrix product, and a new network mostly repeats known layers.
_rules: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _rule(layer: Any, method: str, *args: Any, params: Mapping[str, sp.Basic] | None = None, **options: Any) -> Any:
    """``layer.<method>(*args, [params], **options)``, remembered for symgrad's own layer types."""
    kind = type(layer)
    methods = tuple(getattr(kind, name, None) for name in _RULE_METHODS)
    call = getattr(layer, method)
    arguments = args if params is None else (*args, params)
    own = all(
        getattr(m, "__module__", "symgrad.").startswith("symgrad.") for m in (kind, *methods) if m is not None
    )
    if not own or any(name in vars(layer) for name in _RULE_METHODS):
        return call(*arguments, **options)  # a user's class may hold more than its description shows
    key = (method, kind, methods, layer.describe(), args, None if params is None else tuple(params.items()),
           tuple(sorted(options.items())))
    known = _rules.get(key)
    if known is None:
        known = _rules[key] = call(*arguments, **options)
        if len(_rules) > 1024:
            _rules.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have just evicted it
            _rules.move_to_end(key)
    return dict(known) if isinstance(known, dict) else known


def derive(network: Network, wrt: Sequence[str] | str | None = None, *, kink: Any = 0) -> Derivation:
    """Derive dE/d(name) for every name in ``wrt`` by the chain rule, layer by layer.

    Parameters
    ----------
    network : Network
        The network, e.g. :func:`symgrad.article_network`; or a layer written as a graph
        (``symgrad.BatchNorm(4)``, ``LSTMCell(3, 4)``), derived on its own with E any loss of its outputs.
    wrt : sequence of str, optional
        Names to differentiate with respect to; every parameter and ``x`` by default.
    kink : 0, 1/2 or 1
        The derivative of ReLU taken at 0.

    Returns
    -------
    Derivation

    Raises
    ------
    UnknownNameError
        If a name in ``wrt`` is not an input or parameter of the network.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> d = derive(article_network())
    >>> d.wrt
    ('w1', 'b1', 'w2', 'b2', 'x')
    >>> d.gradient("w1")
    w2*x*(b2 - t + w2*(b1 + w1*x))
    >>> for step in d.steps("w1"):
    ...     print(step.lhs, "=", step.rhs)
    dE/dy = -t + y
    dE/dh = dE/dy*w2
    dE/dw1 = dE/dh*x
    dE/dw1 = w2*x*(-t + y)
    dE/dw1 = w2*x*(b2 - t + w2*(b1 + w1*x))
    >>> d.verified
    True
    >>> derive(article_network(), wrt=["w3"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: cannot differentiate with respect to 'w3': ... x, w1, b1, w2, b2
    """
    from symgrad.graph.network import GraphNetwork

    if isinstance(network, GraphNetwork):
        from symgrad.derive.graph import derive_graph  # the same floor: the chain rule over a graph

        return derive_graph(network, wrt, kink=kink_value(kink))
    from symgrad.layers.composite import CompositeLayer

    if isinstance(network, CompositeLayer):  # a layer written as a graph: its own derivation, E given by its outputs
        from symgrad.derive.layerderivation import derive_layer

        if wrt is not None:
            msg = "derive(layer) derives every input and parameter of the layer; leave wrt out"
            raise UnknownNameError(msg)
        return derive_layer(network)
    if not isinstance(network, Network):
        msg = f"derive() takes a symgrad Network, got {type(network).__name__}; for an expression use gradient()"
        raise UnknownNameError(msg)
    names = _resolve_wrt(network, wrt)
    kink = kink_value(kink)
    builder = _Builder(network, kink)
    forward = _forward(builder)
    _backward(builder, names)
    return _assemble(builder, names, forward)


def _resolve_wrt(network: Network, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    if wrt is None:
        return (*network.params, "x")
    allowed = ("x", *network.params)
    return requested_names(wrt, allowed, action="differentiate with respect to", listing="the network's names are")


def _forward(b: _Builder) -> tuple[Step, ...]:
    net = b.network
    batched = net.batched
    current = b.symbol("x", (BATCH, net.input_features) if batched else ())
    features = net.input_features
    steps = []
    for index, layer in enumerate(net.layers):
        params = {}
        shapes = layer.param_shapes(features)
        for role in layer.roles:
            info = net.param(f"{role if batched else role.lower()}{net.layer_names[index]}")
            params[role] = b.symbol(info.name, shapes[role])
        features = layer.output_features(features)
        if batched:
            rhs = _rule(layer, "matrix_forward", current, params=params)
        else:
            rhs = layer.scalar_forward(current, params)
        node = b.symbol(net.nodes[index], (BATCH, features) if batched else ())
        b.defs[node] = rhs
        b.program.append((node, rhs))
        steps.append(Step(node, rhs, f"forward: {layer.kind}", True, "definition", _forward_note(layer, index)))
        current = node
    t = b.symbol("t", (BATCH, features) if batched else ())
    loss = _rule(net.loss, "matrix_loss", current, t) if batched else net.loss.scalar_loss(current, t)
    steps.append(Step(sp.Symbol("E"), loss, f"loss: {net.loss.kind}", True, "definition", "The loss E."))
    return tuple(steps)


def _forward_note(layer: Any, index: int) -> str:
    return f"Layer {index + 1} ({layer.kind}) computes its output from its input."


def _backward(b: _Builder, names: tuple[str, ...]) -> None:
    net = b.network
    y, t = b.symbols["y"], b.symbols["t"]
    if net.batched:
        rhs = _rule(net.loss, "matrix_grad", y, t)
        proven = matrix_rule_proof(net.loss, b.kink)
        sub: tuple[Step, ...] = ()
        b.index_steps["y"] = functools.partial(_index_steps, net.loss, "y", {"y": y, "t": t}, proven)
    else:
        loss = net.loss.scalar_loss(y, t)
        sub = elementary_steps(loss, y, kink=b.kink)
        rhs = with_kink(sp.diff(loss, y), b.kink)
        proven = (False, "")  # proven against the composed E in _verify_scalar
    note = f"The gradient of E with respect to the network's output y ({net.loss.kind})."
    _record(b, "y", rhs, "loss derivative", proven, note, sub)
    earliest = min((net.param(n).layer_index for n in names if n != "x"), default=len(net.layers))
    need_x = "x" in names
    for index in reversed(range(len(net.layers))):
        if index < earliest and not need_x:
            break
        _layer_backward(b, index, names, need_input=index > earliest or need_x)


def _layer_backward(b: _Builder, index: int, names: tuple[str, ...], *, need_input: bool) -> None:
    net = b.network
    layer = net.layers[index]
    out_name, in_name = net.nodes[index], net.input_node(index)
    upstream = b.grads[out_name].lhs
    x = b.symbols[in_name]
    params = {
        role: b.symbols[f"{role if net.batched else role.lower()}{net.layer_names[index]}"] for role in layer.roles
    }
    wanted = [(role, sym) for role, sym in params.items() if str(sym) in names]
    if need_input:
        wanted.append(("input", x))
    if net.batched:
        rules = _rule(layer, "matrix_vjp", upstream, x, params=params, kink=b.kink)
        proven = matrix_rule_proof(layer, b.kink)
        binding = {"input": x, **params, "G": upstream, "output": b.symbols[out_name]}
        for role, sym in wanted:
            _record(b, str(sym), rules[role], "chain rule (matrix form)", proven, _note(layer, out_name, str(sym)))
            b.index_steps[str(sym)] = functools.partial(_index_steps, layer, role, binding, proven, kink=b.kink)
        return
    local = layer.scalar_forward(x, params)
    for _role, sym in wanted:
        derivative = with_kink(sp.diff(local, sym), b.kink)
        sub = elementary_steps(local, sym, kink=b.kink)
        rhs = sp.Mul(upstream, derivative, evaluate=False) if derivative != 1 else upstream
        _record(b, str(sym), rhs, "chain rule", (False, ""), _note(layer, out_name, str(sym)), sub)


def _index_steps(
    layer: Any, role: str, binding: dict[str, sp.Basic], proven: tuple[bool, str], *, kink: Any = 0
) -> tuple[Step, ...]:
    """The index-level steps that derive ``layer``'s rule for ``role`` (none for a rule written by hand);
    for an elementwise activation, its derivative f'(z) by elementary steps (the rule is G ∘ f'(Z))."""
    from symgrad.layers import Loss
    from symgrad.layers.activations import Activation
    from symgrad.layers.composite import CompositeLayer

    if isinstance(layer, CompositeLayer):  # its own graph's sweep, each step proven, then its closed form
        from symgrad.derive.compositesteps import composite_substeps

        return composite_substeps(layer, role, binding, proven)
    if isinstance(layer, Activation) and role == "input" and type(layer).matrix_vjp is Activation.matrix_vjp:
        z = sp.Symbol("z")
        return tuple(elementary_steps(layer.function(z), z, kink=kink))
    if _overrides_rule(layer):
        return ()
    method = getattr(layer, "index_loss" if isinstance(layer, Loss) else "index_forward", None)
    if method is None:
        return ()
    forward = method()
    if forward is None:
        return ()
    first = forward.tensors[0].name
    renamed = {"input": first, "output": forward.output}
    names = {renamed.get(key, key): value for key, value in binding.items()}
    return index_substeps(type(layer), forward, first if role == "input" else role, names, proven)


def _overrides_rule(layer: Any) -> bool:
    """Whether the layer's rule is its own rather than derived (then the index steps would not explain it)."""
    from symgrad.layers import Layer, Loss

    name, default = ("matrix_grad", Loss.matrix_grad) if isinstance(layer, Loss) else ("matrix_vjp", Layer.matrix_vjp)
    return name in vars(layer) or getattr(type(layer), name, None) is not default


def _note(layer: Any, out_name: str, name: str) -> str:
    return (
        f"The upstream gradient dE/d{out_name} times the local derivative of {layer.kind}'s output "
        f"with respect to {name}."
    )


def _record(
    b: _Builder, name: str, rhs: sp.Basic, rule: str, proven: tuple[bool, str], note: str, sub: tuple[Step, ...] = ()
) -> None:
    shape = b.shapes[name]
    lhs = grad_symbol(name, b.symbols[name].shape if shape else ())
    b.program.append((lhs, rhs))
    b.grads[name] = Step(lhs, rhs, rule, proven[0], proven[1], note, sub, shape or None)


def _assemble(b: _Builder, names: tuple[str, ...], forward: tuple[Step, ...]) -> Derivation:
    net = b.network
    in_inputs = _inputs_map(b)
    loss = forward[-1].rhs
    loss_inputs = loss.xreplace(in_inputs) if not net.batched else _substitute(loss, in_inputs)
    gradients = _Gradients(lambda: _gradients(b, names, loss_inputs, in_inputs), names)
    if not net.batched:
        gradients.parts  # noqa: B018  scalar steps are proven against the composed E now, not on first reading
    return Derivation(
        title=net.title or net.describe(),
        loss=loss_inputs,
        wrt=names,
        inputs=("x", "t", *net.params),
        forward=forward,
        symbols=dict(b.symbols),
        shapes=dict(b.shapes),
        program=tuple(b.program),
        outputs={name: b.grads[name].lhs for name in names},
        loss_value=loss,
        batched=net.batched,
        kink=b.kink,
        network=net,
        _steps=_Part(gradients, 0),
        _results=_Part(gradients, 1),
    )


def _gradients(
    b: _Builder, names: tuple[str, ...], loss_inputs: sp.Basic, in_inputs: dict[sp.Basic, sp.Basic]
) -> tuple[dict[str, tuple[Step, ...]], dict[str, sp.Basic]]:
    """The steps of each gradient and its expression in the inputs alone."""
    steps, results = {}, {}
    for name in names:
        path = tuple(_with_index_steps(b, step) for step in _path(b, name))
        final = _substitute(b.grads[name].lhs, _grad_map(b))
        result = _substitute(final, in_inputs)
        if not b.network.batched:
            path = _verify_scalar(b, path, loss_inputs, in_inputs)
            result = sp.factor_terms(result)
        shape = path[-1].shape
        proof = path[-1].proof
        verified = all(s.verified for s in path)
        tail = (
            Step(path[-1].lhs, final, "substitute the upstream gradients", verified, proof,
                 "The chain collected into one expression.", shape=shape),
            Step(path[-1].lhs, result, "substitute the forward pass", verified, proof,
                 "The same gradient in the inputs alone.", shape=shape),
        )
        steps[name], results[name] = path + tail, result
    return steps, results


def _with_index_steps(b: _Builder, step: Step) -> Step:
    name = str(step.lhs).removeprefix("dE/d")
    make = b.index_steps.get(name)
    if make is None:
        return step
    if not isinstance(make, tuple):  # made once per name: the paths of many names share their steps
        make = b.index_steps[name] = make()  # type: ignore[assignment]
    if all(sub.verified for sub in make):
        return dataclasses.replace(step, substeps=make)
    # A rule whose derivation fails a proof is not proven, whatever its matrix form's own proof says.
    proof = f"{step.proof}; an index-level step is NOT proven"
    return dataclasses.replace(step, substeps=make, verified=False, proof=proof)


class _Gradients:
    """The steps and results of a derivation, computed on first use.

    ``check()`` needs only the staged program (what the compiled gradient runs);
    collecting each batched gradient into one expression of the inputs is a
    third of the derivation's time, so it waits until someone reads a step.
    """

    def __init__(self, compute: Callable[[], tuple[dict[str, Any], dict[str, Any]]], names: tuple[str, ...]) -> None:
        self._compute: Callable[[], tuple[dict[str, Any], dict[str, Any]]] | None = compute
        self.names = names

    @functools.cached_property
    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self._compute is not None
        parts = self._compute()
        self._compute = None  # the builder it holds is no longer needed
        return parts


class _Part(Mapping[str, Any]):
    """One of :class:`_Gradients`' two mappings (0: steps, 1: results), read-only."""

    def __init__(self, gradients: _Gradients, index: int) -> None:
        self._gradients, self._index = gradients, index

    def __getitem__(self, name: str) -> Any:
        return self._gradients.parts[self._index][name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._gradients.names)

    def __len__(self) -> int:
        return len(self._gradients.names)


def _substitute(expr: sp.Basic, mapping: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    previous = None
    while previous != expr:
        previous, expr = expr, expr.xreplace(mapping)
    return expr


def _inputs_map(b: _Builder) -> dict[sp.Basic, sp.Basic]:
    mapping: dict[sp.Basic, sp.Basic] = {}
    for node, rhs in b.defs.items():
        mapping[node] = rhs.xreplace(mapping)
    return mapping


def _grad_map(b: _Builder) -> dict[sp.Basic, sp.Basic]:
    return {step.lhs: step.rhs for step in b.grads.values()}


def _path(b: _Builder, name: str) -> tuple[Step, ...]:
    """The gradient steps from the loss down to ``name``, in reading order.

    Only the chain itself: dE/dy, the upstream gradient of each layer passed
    (dE/dh), then dE/d(name). The gradients of other parameters met on the way
    (dE/dw2 on the way to dE/dw1) are in the steps of those parameters.
    """
    chain = {name}
    todo = [name]
    while todo:
        for upstream in _upstream_names(b.grads[todo.pop()]):
            chain.add(upstream)
            todo.append(upstream)
    # b.grads is in backward order (loss first, each layer's parameters before its input).
    return tuple(step for other, step in b.grads.items() if other in chain)


def _upstream_names(step: Step) -> list[str]:
    # Order does not matter here (the caller collects a set), so no sort by default_sort_key.
    labels = (str(symbol) for symbol in step.rhs.atoms(sp.Symbol, sp.MatrixSymbol))
    return [label.removeprefix("dE/d") for label in labels if label.startswith("dE/d")]


def _verify_scalar(
    b: _Builder, path: tuple[Step, ...], loss_inputs: sp.Basic, in_inputs: dict[sp.Basic, sp.Basic]
) -> tuple[Step, ...]:
    grads = _grad_map(b)
    checked = []
    for step in path:
        name = str(step.lhs).removeprefix("dE/d")
        claimed = _substitute(_substitute(step.rhs, grads), in_inputs)
        direct = with_kink(_direct(b, name, in_inputs, loss_inputs), b.kink)
        ok = prove_equal(claimed.doit(), direct)
        proof = (
            "equal to sympy.diff of the composed E (the difference simplifies to 0)"
            if ok
            else "NOT equal to sympy.diff of the composed E"
        )
        checked.append(Step(step.lhs, step.rhs, step.rule, ok, proof, step.note, step.substeps, step.shape))
    return tuple(checked)


def _direct(b: _Builder, name: str, in_inputs: dict[sp.Basic, sp.Basic], loss_inputs: sp.Basic) -> sp.Basic:
    """sympy.diff of E with respect to ``name``, E composed from ``name`` onwards."""
    sym = b.symbols[name]
    if sym not in in_inputs:
        return sp.diff(loss_inputs, sym)
    # An intermediate node: compose E from the node onward, differentiate, then substitute.
    tail = {node: rhs for node, rhs in in_inputs.items()}
    composed = b.network.loss.scalar_loss(b.symbols["y"], b.symbols["t"])
    nodes = list(b.defs)
    start = nodes.index(sym)
    later: dict[sp.Basic, sp.Basic] = {}
    for node in nodes[start + 1 :]:
        later[node] = b.defs[node].xreplace(later)
    composed = composed.xreplace(later)
    return sp.diff(composed, sym).xreplace({sym: tail[sym]})
