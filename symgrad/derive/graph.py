"""The chain rule over a graph: ``derive(Network(E)) -> Derivation``.

One backward sweep in reverse topological order, as backprop runs: each value's
gradient dE/d(value) is derived once, from the contributions of the values
computed from it, and reused by everything below. Where a value feeds several
consumers (a residual connection, a weight used twice, an RNN's shared weights)
its gradient is the sum of their contributions, and its step says so in words
and in the formula. Scalar graphs take local derivatives by ``sympy.diff`` and
prove every step against ``sympy.diff`` of the composed E; batched graphs use the
layers' matrix rules and the combinations' rules, each proven entrywise.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symgrad.derive.chain import _Gradients, _index_steps, _Part, _rule, _symbolic_shape, grad_symbol
from symgrad.derive.derivation import Derivation
from symgrad.derive.elementary import elementary_steps
from symgrad.derive.graphops import RULE_WORDS, op_forward, op_rule_proof, op_vjp
from symgrad.derive.steps import Step
from symgrad.derive.tensorgraph import tensor_forward_expr, tensor_rules
from symgrad.derive.tensorlayer import is_tensor_layer
from symgrad.derive.verify import matrix_rule_proof, prove_equal
from symgrad.functions import with_kink
from symgrad.graph.network import GraphNetwork, describe_node
from symgrad.graph.nodes import BATCH_DIM, Apply, Node, Op, Param
from symgrad.matrixexpr import BATCH
from symgrad.network import Network, requested_names

__all__ = ["derive_graph"]


@dataclass
class _Contribution:
    consumer: str
    expr: Any
    proof: tuple[bool, str]
    what: str
    substeps: tuple[Step, ...] = ()
    #: Makes the index-level steps of a derived matrix rule, when a document first reads them.
    index: Callable[[], tuple[Step, ...]] | None = None


@dataclass
class _Sweep:
    net: GraphNetwork
    kink: Any
    symbols: dict[str, Any] = field(default_factory=dict)
    shapes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    defs: dict[Any, Any] = field(default_factory=dict)  # symbol -> forward rhs, topological order
    program: list[tuple[Any, Any]] = field(default_factory=list)
    grads: dict[str, Step] = field(default_factory=dict)  # backward order
    parts: dict[str, list[_Contribution]] = field(default_factory=dict)
    # name -> makers of the index-level steps of its rules (then the steps, once made: many paths share them)
    index_steps: dict[str, Any] = field(default_factory=dict)

    def symbol(self, name: str, shape: tuple[Any, ...]) -> Any:
        shape = tuple(BATCH if dim == BATCH_DIM else dim for dim in shape)
        self.shapes[name] = shape
        sym = sp.Symbol(name) if shape == () else sp.MatrixSymbol(name, *_symbolic_shape(shape))
        self.symbols[name] = sym
        return sym

    def sym(self, node: Node) -> Any:
        return self.symbols[self.net.name_of(node)]


def derive_graph(
    net: GraphNetwork, wrt: Sequence[str] | str | None = None, *, kink: Any = 0, chain: Network | None = None
) -> Derivation:
    """Derive dE/d(name) for every name in ``wrt`` over the graph ``net`` (see :func:`symgrad.derive`).

    ``chain`` is the chain ``Network(layers, loss=...)`` that ``net`` was built from
    (:func:`symgrad.graph.network.chain_as_graph`): the derivation names it as its
    network and takes its title, so a chain's documents still draw a chain.

    Examples
    --------
    >>> from symgrad.graph import Input
    >>> from symgrad.layers import Affine, HalfSquaredError
    >>> from symgrad.network import Network
    >>> x, t = Input("x"), Input("t")
    >>> layer = Affine(name="1")
    >>> d = derive_graph(Network(HalfSquaredError()(layer(x) + x, t)))
    >>> [str(step.lhs) for step in d.steps("x")][:4]
    ['dE/dh2', 'dE/dh1', 'dE/dx', 'dE/dx']
    >>> d.steps("x")[2].rule
    'sum over 2 paths (x feeds h1 and h2): multivariable chain rule'
    >>> d.verified
    True
    """
    names = _resolve_wrt(net, wrt)
    sweep = _Sweep(net, kink)
    for name, shape in net.input_shapes.items():
        sweep.symbol(name, shape)
    for name in net.params:
        sweep.symbol(name, net.param(name).shape)
    forward = _forward(sweep)
    _backward(sweep, names)
    return _assemble(sweep, names, forward, chain)


def _resolve_wrt(net: GraphNetwork, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    allowed = (*net.params, *(name for name in net.input_shapes if name not in net.targets))
    if wrt is None:
        return allowed
    why = dict.fromkeys(net.targets, " (a loss's target is data, not differentiated)")
    return requested_names(wrt, allowed, action="differentiate with respect to", listing="the network's names are",
                           why=why)


def _params_of(sweep: _Sweep, node: Apply) -> dict[str, Any]:
    return {role: sweep.sym(Param(node.layer, role)) for role in node.layer.roles}


def _forward(sweep: _Sweep) -> tuple[Step, ...]:
    net, steps = sweep.net, []
    for node in net.order:
        if not node.args:
            continue
        rhs = _forward_rhs(sweep, node)
        name = net.name_of(node)
        what = describe_node(net, node)
        if node is net.root:
            rule = f"loss: {node.layer.kind}" if _is_loss_node(node) else "loss"  # type: ignore[attr-defined]
            steps.append(Step(sp.Symbol("E"), rhs, rule, True, "definition", f"The loss E = {what}."))
            sweep.defs[sp.Symbol("E")] = rhs
            continue
        sym = sweep.symbol(name, node.shape)
        sweep.defs[sym] = rhs
        sweep.program.append((sym, rhs))
        rule = f"forward: {node.layer.kind}" if isinstance(node, Apply) else f"forward: {node.kind}"  # type: ignore[attr-defined]
        steps.append(Step(sym, rhs, rule, True, "definition", f"{name} = {what}."))
    return tuple(steps)


def _forward_rhs(sweep: _Sweep, node: Node) -> Any:
    args = [sweep.sym(arg) for arg in node.args]
    if isinstance(node, Apply):
        layer = node.layer
        if node.output is not None:  # a recurrent cell's step: x and the states in, one of its outputs
            from symgrad.derive.cellrules import cell_forward

            return cell_forward(layer, args, _params_of(sweep, node), node.output)  # type: ignore[arg-type]
        if len(args) == 2:  # a loss
            return _rule(layer, "matrix_loss", *args) if sweep.net.batched else layer.scalar_loss(*args)  # type: ignore[attr-defined]
        params = _params_of(sweep, node)
        if is_tensor_layer(layer):  # convolution, pooling, flatten: the layer's own N-D derivation
            return tensor_forward_expr(layer, len(node.args[0].shape), args[0], params, _flat(node.shape))
        if sweep.net.batched:
            return _rule(layer, "matrix_forward", args[0], params=params)
        return layer.scalar_forward(args[0], params)
    assert isinstance(node, Op)
    return op_forward(node.kind, args, node.const)


def _needed(sweep: _Sweep, names: tuple[str, ...]) -> set[str]:
    """Names whose gradient the wanted ones need: every value on a path from a wanted name to E."""
    net, needed = sweep.net, set(names)
    for node in net.order:
        sources = [net.name_of(arg) for arg in node.args]
        if isinstance(node, Apply):
            sources += [net.name_of(Param(node.layer, role)) for role in node.layer.roles]
        if any(source in needed for source in sources):
            needed.add(net.name_of(node))
    return needed


def _backward(sweep: _Sweep, names: tuple[str, ...]) -> None:
    net = sweep.net
    needed = _needed(sweep, names)
    leaves = set(net.names)
    for node in reversed(net.order):
        name = net.name_of(node)
        if name not in needed or name in leaves:  # a leaf may appear before a consumer: summed after the sweep
            continue
        upstream: Any = sp.Integer(1) if node is net.root else _gradient_step(sweep, name)
        _local(sweep, node, upstream, needed)
    for name in names:  # the inputs and parameters asked for, once every contribution is in
        if name not in sweep.grads:
            _gradient_step(sweep, name)


def _gradient_step(sweep: _Sweep, name: str) -> Any:
    if name in sweep.grads:
        return sweep.grads[name].lhs
    position = {sweep.net.name_of(node): index for index, node in enumerate(sweep.net.order)}
    parts = sorted(sweep.parts.get(name, []), key=lambda p: position[p.consumer])  # consumers in forward order
    shape = sweep.shapes[name]
    lhs = grad_symbol(name, sweep.symbols[name].shape if shape else ())
    proven = all(p.proof[0] for p in parts)
    proofs = "; ".join(dict.fromkeys(p.proof[1] for p in parts if p.proof[1]))
    if len(parts) == 1:
        part = parts[0]
        rhs = part.expr
        rule = "chain rule (matrix form)" if sweep.net.batched else "chain rule"
        note = (f"The upstream gradient dE/d{part.consumer} times the local derivative of {part.what} "
                f"with respect to {name}.")
        if part.consumer == "E" and _is_loss_node(sweep.net.root):
            kind = sweep.net.root.layer.kind  # type: ignore[attr-defined]
            rule, note = "loss derivative", f"The gradient of E with respect to the loss's input {name} ({kind})."
        substeps = part.substeps
    else:
        consumers = [p.consumer for p in parts]
        listed = ", ".join(consumers[:-1]) + f" and {consumers[-1]}"
        rhs = sp.MatAdd(*(p.expr for p in parts)) if shape else sp.Add(*(p.expr for p in parts), evaluate=False)
        rule = f"sum over {len(parts)} paths ({name} feeds {listed}): multivariable chain rule"
        note = (f"{name} feeds {listed}, so its gradient is the sum of their contributions, "
                "one chain-rule term per path to E.")
        if sweep.net.batched:
            proofs = f"sum of the contributions (multivariable chain rule); each proven: {proofs}"
        substeps = tuple(sub for p in parts for sub in p.substeps)
    step = Step(lhs, rhs, rule, proven if sweep.net.batched else False, proofs if sweep.net.batched else "",
                note, substeps, shape or None)
    sweep.grads[name] = step
    sweep.program.append((lhs, rhs))
    makers = [part.index for part in parts if part.index is not None]
    if makers:
        sweep.index_steps[name] = makers
    return lhs


def _is_loss_node(node: Node) -> bool:
    from symgrad.layers import Loss

    return isinstance(node, Apply) and isinstance(node.layer, Loss)


def _local(sweep: _Sweep, node: Node, upstream: Any, needed: set[str]) -> None:
    """Add the contributions of ``node`` to the gradients of its operands (and a layer's parameters)."""
    net, consumer = sweep.net, sweep.net.name_of(node)
    targets: list[tuple[str, Any]] = [(net.name_of(arg), position) for position, arg in enumerate(node.args)]
    if _is_loss_node(node):  # a loss: only y is differentiated
        targets = targets[:1]
    if isinstance(node, Apply):
        targets += [(net.name_of(Param(node.layer, role)), role) for role in node.layer.roles]
    targets = [(name, key) for name, key in targets if name in needed]
    if not targets:
        return
    if net.batched:
        for name, expr, proof, what, index in _matrix_rules(sweep, node, upstream, targets):
            sweep.parts.setdefault(name, []).append(_Contribution(consumer, expr, proof, what, index=index))
        return
    local = _forward_rhs(sweep, node)
    what = f"{node.layer.kind}'s output" if isinstance(node, Apply) else node.kind  # type: ignore[attr-defined]
    done = set()
    for name, _key in targets:
        if name in done:  # a scalar operand used twice (h * h): sympy.diff takes both uses at once
            continue
        done.add(name)
        sym = sweep.symbols[name]
        derivative = with_kink(sp.diff(local, sym), sweep.kink)
        sub = elementary_steps(local, sym, kink=sweep.kink)
        if derivative == 1 or upstream == 1:
            expr = upstream if derivative == 1 else derivative
        else:
            expr = sp.Mul(upstream, derivative, evaluate=False)
        sweep.parts.setdefault(name, []).append(_Contribution(consumer, expr, (False, ""), f"{what}", sub))


def _matrix_rules(sweep: _Sweep, node: Node, upstream: Any, targets: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    args = [sweep.sym(arg) for arg in node.args]
    if isinstance(node, Apply) and is_tensor_layer(node.layer):
        return _tensor_contributions(sweep, node, upstream, targets)
    if isinstance(node, Apply):
        layer = node.layer
        if node.output is not None:  # a recurrent cell's step: its rules from the cell's own sweep
            from symgrad.derive.cellrules import cell_rules

            cell, proof, steps = cell_rules(layer, upstream, args, _params_of(sweep, node), node.output)  # type: ignore[arg-type]
            return [(name, cell[key], proof, f"{layer.kind}'s {node.output}", steps(key)) for name, key in targets]
        proof = matrix_rule_proof(layer, sweep.kink)
        if len(args) == 2:
            grad = _rule(layer, "matrix_grad", *args)
            index = functools.partial(_index_steps, layer, "input", {"input": args[0], "target": args[1]}, proof)
            return [(targets[0][0], grad if upstream == 1 else upstream * grad, proof, f"{layer.kind}'s output", index)]
        params = _params_of(sweep, node)
        rules = _rule(layer, "matrix_vjp", upstream, args[0], params=params, kink=sweep.kink)
        binding = {"input": args[0], **params, "G": upstream, "output": sweep.sym(node)}
        return [(name, rules[role], proof, f"{layer.kind}'s output",
                 functools.partial(_index_steps, layer, role, binding, proof, kink=sweep.kink))
                for name, role in ((name, "input" if key == 0 else key) for name, key in targets)]
    assert isinstance(node, Op)
    scalar = not getattr(args[0], "is_Matrix", False)
    proof = op_rule_proof(node.kind, scalar, len(args))
    rules = op_vjp(node.kind, upstream, args, node.const)
    what = f"{node.kind} ({RULE_WORDS[node.kind]})"
    return [(name, rules[key], proof, what, None) for name, key in targets]


def _flat(shape: tuple[Any, ...]) -> Any:
    """The columns of a value's matrix symbol: its trailing axes flattened ((N, C, H, W) -> C*H*W)."""
    return functools.reduce(lambda a, b: a * b, shape[1:], 1)


def _tensor_contributions(sweep: _Sweep, node: Apply, upstream: Any, targets: list[tuple[str, Any]]) -> list[Any]:
    """An N-D layer's contributions: its derived rules (see :mod:`symgrad.derive.tensorgraph`)."""
    wanted = {("input" if key == 0 else key): sweep.symbols[name] for name, key in targets}
    rules = tensor_rules(node.layer, len(node.args[0].shape), upstream, sweep.sym(node.args[0]),
                         _params_of(sweep, node), wanted)
    return [(name, expr, proof, f"{node.layer.kind}'s output", index)
            for (name, _), (expr, proof, index) in zip(targets, rules, strict=True)]


def _assemble(sweep: _Sweep, names: tuple[str, ...], forward: tuple[Step, ...], chain: Network | None) -> Derivation:
    net = sweep.net
    in_inputs: dict[Any, Any] = {}
    for sym, rhs in sweep.defs.items():
        in_inputs[sym] = rhs.xreplace(in_inputs)
    loss_value = forward[-1].rhs
    loss_inputs = in_inputs[sp.Symbol("E")]
    gradients = _Gradients(lambda: _gradients(sweep, names, loss_inputs, in_inputs), names)
    if not net.batched:
        gradients.parts  # noqa: B018  scalar steps are proven against the composed E now
    return Derivation(
        title=net.title or (chain.describe() if chain is not None else _title(net)),
        loss=loss_inputs,
        wrt=names,
        inputs=net.names,
        forward=forward,
        symbols=dict(sweep.symbols),
        shapes=dict(sweep.shapes),
        program=tuple(sweep.program),
        outputs={name: sweep.grads[name].lhs for name in names},
        loss_value=loss_value,
        batched=net.batched,
        kink=sweep.kink,
        network=chain if chain is not None else net,
        _steps=_Part(gradients, 0),
        _results=_Part(gradients, 1),
    )


def _title(net: GraphNetwork) -> str:
    """The network's equations when they fit on a line, else their count."""
    equations = net.describe()
    if len(equations) <= 120:
        return f"graph network: {equations}"
    return f"graph network of {len(net.nodes) + 1} computed values"


def _gradients(
    sweep: _Sweep, names: tuple[str, ...], loss_inputs: Any, in_inputs: dict[Any, Any]
) -> tuple[dict[str, tuple[Step, ...]], dict[str, Any]]:
    grad_map: dict[Any, Any] = {}
    for step in sweep.grads.values():  # sweep order: a step uses only gradients derived before it, so one pass
        grad_map[step.lhs] = step.rhs.xreplace(grad_map)
    collected = _collected(sweep) if not sweep.net.batched else grad_map
    checked = _verify_scalar(sweep, grad_map, in_inputs) if not sweep.net.batched else dict(sweep.grads)
    steps, results = {}, {}
    for name in names:
        path = tuple(_with_index_steps(sweep, checked[other]) for other in _path(sweep, name))
        final = collected[sweep.grads[name].lhs]
        result = final.xreplace(in_inputs)
        if not sweep.net.batched:
            result = sp.factor_terms(result)
        last = path[-1]
        verified = all(s.verified for s in path)
        tail = (
            Step(last.lhs, final, "substitute the upstream gradients", verified, last.proof,
                 "The backward sweep collected into one expression.", shape=last.shape),
            Step(last.lhs, result, "substitute the forward pass", verified, last.proof,
                 "The same gradient in the inputs alone.", shape=last.shape),
        )
        # Where values feed several consumers, the collected expression repeats whole subtrees (an RNN's
        # doubles with every step): it is shown only while it stays readable; d.gradient(name) still gives it.
        shown = tuple(step for step in tail if tree_size(step.rhs) <= MAX_SHOWN)
        steps[name], results[name] = path + shown, result
    return steps, results


def _collected(sweep: _Sweep) -> dict[Any, Any]:
    """Each scalar gradient in one expression, the loss derivative factored out.

    Backprop is linear in the loss derivative dE/dy, so every gradient is dE/dy times a factor (plus
    terms not through the loss, such as weight decay). Substituting dE/dy = y - t before collecting
    scatters it over a sum (``h3 + w1*(h3 - t) - t``); keeping it a symbol until the paths are summed
    and factored gives ``(1 + w1)*(h3 - t)`` instead. Regression: issue 12's residual dE/dx.
    """
    net = sweep.net
    loss_inputs = {net.name_of(node.args[0]) for node in net.order if _is_loss_node(node) and node.args}
    kept: dict[Any, Any] = {}
    grad_map: dict[Any, Any] = {}
    for name, step in sweep.grads.items():
        expr = step.rhs.xreplace(grad_map)
        if name in loss_inputs and not step.rule.startswith("sum over"):  # the loss derivative (times dE/dloss = 1)
            kept[step.lhs], expr = expr, step.lhs
        grad_map[step.lhs] = expr
    return {lhs: _factor_through(expr, tuple(kept)).xreplace(kept) for lhs, expr in grad_map.items()}


def _factor_through(expr: Any, upstream: tuple[Any, ...]) -> Any:
    """``expr`` with its terms through ``upstream`` factored, the other terms (weight decay) left beside them."""
    if len(upstream) != 1:
        return sp.factor_terms(expr)
    rest, through = expr.as_independent(upstream[0], as_Add=True)
    return sp.factor_terms(through) + sp.factor_terms(rest)


def _with_index_steps(sweep: _Sweep, step: Step) -> Step:
    """``step`` with the index-level steps of the rules it uses (a batched graph's layers), made once per name."""
    name = str(step.lhs).removeprefix("dE/d")
    made = sweep.index_steps.get(name)
    if made is None:
        return step
    if isinstance(made, list):
        made = sweep.index_steps[name] = tuple(sub for make in made for sub in make())
    if not made:
        return step
    if all(sub.verified for sub in made):
        return dataclasses.replace(step, substeps=made)
    # A rule whose derivation fails a proof is not proven, whatever its matrix form's own proof says.
    return dataclasses.replace(step, substeps=made, verified=False,
                               proof=f"{step.proof}; an index-level step is NOT proven")


#: The largest collected expression (in printed nodes) that a derivation's steps show.
MAX_SHOWN = 400


def tree_size(expr: Any) -> int:
    """Nodes of ``expr`` as printed (shared subexpressions counted at every use), without printing it.

    Examples
    --------
    >>> x = sp.Symbol("x")
    >>> tree_size(x), tree_size(sp.sin(x) + x**2)
    (1, 6)
    """
    sizes: dict[Any, int] = {}
    stack = [expr]
    while stack:
        node = stack[-1]
        pending = [arg for arg in node.args if arg not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[node] = 1 + sum(sizes[arg] for arg in node.args)
    return sizes[expr]


def _path(sweep: _Sweep, name: str) -> list[str]:
    """The gradient steps that dE/d(name) is built from, in the order the sweep derived them."""
    chain, todo = {name}, [name]
    while todo:
        for atom in sweep.grads[todo.pop()].rhs.atoms(sp.Symbol, sp.MatrixSymbol):
            label = str(atom)
            if label.startswith("dE/d") and label[4:] not in chain:
                chain.add(label[4:])
                todo.append(label[4:])
    return [other for other in sweep.grads if other in chain]


def _verify_scalar(sweep: _Sweep, grads: dict[Any, Any], in_inputs: dict[Any, Any]) -> dict[str, Step]:
    """Each scalar gradient step against sympy.diff of E composed with that value left free."""
    checked = {}
    for name, step in sweep.grads.items():
        claimed = grads[step.lhs].xreplace(in_inputs)
        ok = prove_equal(claimed.doit(), with_kink(_direct(sweep, name, in_inputs), sweep.kink))
        proof = ("equal to sympy.diff of the composed E (the difference simplifies to 0)" if ok
                 else "NOT equal to sympy.diff of the composed E")
        checked[name] = Step(step.lhs, step.rhs, step.rule, ok, proof, step.note, step.substeps, step.shape)
    return checked


def _direct(sweep: _Sweep, name: str, in_inputs: dict[Any, Any]) -> Any:
    """dE/d(name) by sympy.diff: E composed from the inputs, with ``name`` kept as a free symbol."""
    sym = sweep.symbols[name]
    mapping: dict[Any, Any] = {}
    for node, rhs in sweep.defs.items():
        if node != sym:
            mapping[node] = rhs.xreplace(mapping)
    return sp.diff(mapping[sp.Symbol("E")], sym).xreplace({sym: in_inputs.get(sym, sym)})
