"""A composite layer's derivation as steps a student can follow, each proven.

The layer's forward graph (:mod:`symgrad.composite`) is shown value by value,
then its one backward sweep: one step per value's gradient, the local rule of
the primitive that consumed it named, and where a value feeds several
consumers (batch norm's x feeds x - μ and μ) the sum of their contributions,
said in words and in the formula. Each primitive's rule is proven entrywise
against ``sympy.diff`` on small shapes (:func:`primitive_proof`); these rules are
given in :mod:`symgrad.composite.ops`, not derived by the index engine. Where a
layer prints a closed form (batch norm's dx = γ/(Nσ)(N G - ΣG - x̂ Σ(G∘x̂))),
a last step shows it, proven equal entrywise to the swept gradient on small
shapes: a proven simplification, not a rule used for computing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy as sp

from symgrad.composite import ops
from symgrad.composite.graph import UPSTREAM, Contribution, combine, forward_values, sweep
from symgrad.derive.steps import Step
from symgrad.derive.verify import prove_equal
from symgrad.layers.composite import CompositeLayer
from symgrad.matrixexpr import BATCH

__all__ = ["closed_form_proof", "composite_substeps", "primitive_proof", "prove_whole_rule", "staged_program",
           "sweep_steps"]

#: Small sizes of the proofs: the batch, then each other size in order of appearance.
_BATCH_SIZE, _SIZES = 2, (3, 4, 5, 6)


def composite_substeps(
    layer: CompositeLayer, role: str, binding: Mapping[str, Any], proven: tuple[bool, str]
) -> tuple[Step, ...]:
    """The steps that derive ``layer``'s rule for ``role`` (``"input"`` or a parameter role).

    ``binding`` maps ``"input"``, the roles and ``"G"`` (the upstream gradient) to this
    application's matrices; ``proven`` is the whole rule's entrywise proof.

    Examples
    --------
    >>> from symgrad.layers.norm import BatchNorm
    >>> x, G = sp.MatrixSymbol("x", BATCH, 3), sp.MatrixSymbol("G", BATCH, 3)
    >>> gamma, beta = sp.MatrixSymbol("gamma", 1, 3), sp.MatrixSymbol("beta", 1, 3)
    >>> steps = composite_substeps(BatchNorm(3), "input", {"input": x, "gamma": gamma, "beta": beta, "G": G},
    ...                            (True, ""))
    >>> [str(s.lhs) for s in steps if s.rule.startswith("sum over")]
    ['dE/dxc', 'dE/dx']
    >>> all(s.verified for s in steps)
    True
    """
    graph = layer.graph()
    env = {graph.leaves[0]: binding["input"], **{r: binding[r] for r in layer.roles}}
    leaf = graph.leaves[0] if role == "input" else role
    return sweep_steps(layer, leaf, env, {graph.outputs[0]: binding["G"]}, proven, closed=role)


def sweep_steps(
    layer: CompositeLayer, leaf: str, env: Mapping[str, Any], upstream: Mapping[str, Any], proven: tuple[bool, str],
    *, closed: str | None = None,
) -> tuple[Step, ...]:
    """The forward graph's definitions, then the sweep's steps down to dE/d(leaf) (``env``: each leaf's matrix;
    ``upstream``: each output's gradient), then the closed form of ``closed`` if the layer prints one."""
    graph = layer.graph()
    env = dict(env)
    for name, value in layer.constants().items():
        env[name] = sp.MatrixSymbol(name, *value.shape)
    values = forward_values(graph, env, symbols=True)
    steps = [
        Step(values[v.name], values[f"{v.name}="], f"forward: {v.what or v.kind}", True, "definition")
        for v in graph.values
    ]
    kinds = {v.name: v for v in graph.values}

    def gradient(name: str, parts: list[Contribution]) -> Any:
        if len(parts) == 1 and parts[0].consumer == UPSTREAM:
            return parts[0].expr  # an output used nowhere else: its gradient is the upstream one itself
        lhs = sp.MatrixSymbol(f"dE/d{name}", *values[name].shape)
        steps.append(_sweep_step(lhs, name, parts, kinds, values))
        return lhs

    formed = sweep(graph, values, upstream, (leaf,), gradient)
    lhs = sp.MatrixSymbol(f"dE/d{leaf}", *values[leaf].shape)
    steps.append(_sweep_step(lhs, leaf, formed[leaf], kinds, values))
    form = None if closed is None else layer.closed_forms(values, next(iter(upstream.values()))).get(closed)
    if form is not None:
        ok, how = closed_form_proof(layer, closed)  # type: ignore[arg-type]
        steps.append(Step(lhs, form, "closed form (the textbook's)", ok, how,
                          "The sweep's sum, simplified to the form the textbooks print (proven equal, not used "
                          "for computing)."))
    if not proven[0]:
        steps = [Step(s.lhs, s.rhs, s.rule, False, f"{s.proof}; the whole rule is NOT proven: {proven[1]}", s.note)
                 for s in steps]
    return tuple(steps)


def staged_program(
    layer: CompositeLayer, env: Mapping[str, Any], upstream: Mapping[str, Any], wanted: tuple[str, ...]
) -> tuple[list[tuple[Any, Any]], dict[str, Any]]:
    """The sweep as staged assignments (each forward value, then each gradient, once), as backprop runs
    it: the program compiled code runs. Returns the program and each wanted leaf's gradient symbol."""
    graph = layer.graph()
    values = forward_values(graph, {**env, **layer.constants()}, symbols=True)
    program = [(values[v.name], values[f"{v.name}="]) for v in graph.values]

    def gradient(name: str, parts: list[Contribution]) -> Any:
        if len(parts) == 1 and parts[0].consumer == UPSTREAM:
            return parts[0].expr
        lhs = sp.MatrixSymbol(f"dE/d{name}", *values[name].shape)
        program.append((lhs, combine(parts, values[name].shape[1])))
        return lhs

    formed = sweep(graph, values, upstream, wanted, gradient)
    results = {}
    for leaf in wanted:
        results[leaf] = sp.MatrixSymbol(f"dE/d{leaf}", *values[leaf].shape)
        parts = formed[leaf]
        program.append((results[leaf], combine(parts, values[leaf].shape[1]) if parts
                        else sp.ZeroMatrix(*values[leaf].shape)))
    return program, results


def _sweep_step(lhs: Any, name: str, parts: list[Contribution], kinds: Mapping[str, Any], values: Mapping[str, Any]
                ) -> Step:
    order = {consumer: position for position, consumer in enumerate(kinds)}
    parts = sorted(parts, key=lambda p: order.get(p.consumer, len(order)))  # consumers in forward order, then outside
    rhs = combine(parts, values[name].shape[1])
    proofs = [primitive_proof(kinds[p.consumer], values) for p in parts if p.consumer != UPSTREAM]
    ok = all(p[0] for p in proofs)
    how = "; ".join(dict.fromkeys(p[1] for p in proofs))
    consumers = [("the next step (its upstream gradient)" if p.consumer == UPSTREAM else p.consumer) for p in parts]
    if len(parts) == 1 and parts[0].consumer == UPSTREAM:
        return Step(lhs, rhs, "the upstream gradient", True, "given", f"{name} is an output of the layer.")
    if len(parts) == 1:
        value = kinds[parts[0].consumer]
        rule = f"chain rule through {value.name} = {value.kind}({', '.join(value.args)}): {ops.RULE_WORDS[value.kind]}"
        return Step(lhs, rhs, rule, ok, how, f"{name} feeds {consumers[0]} only.")
    listed = ", ".join(consumers[:-1]) + f" and {consumers[-1]}"
    sliced = all(p.cols is not None for p in parts)
    how_summed = "the slices' gradients side by side" if sliced else "the sum of their contributions"
    rule = f"sum over {len(parts)} paths ({name} feeds {listed}): multivariable chain rule"
    note = f"{name} feeds {listed}, so its gradient is {how_summed}, one chain-rule term per path."
    return Step(lhs, rhs, rule, ok, f"each path's rule proven: {how}" if how else "", note)


def primitive_proof(value: Any, values: Mapping[str, Any]) -> tuple[bool, str]:
    """Prove the rule of ``value``'s primitive entrywise against ``sympy.diff``, at small sizes of its shapes."""
    shapes = tuple(tuple(values[arg].shape) for arg in value.args)
    sizes: dict[Any, int] = {1: 1, BATCH: _BATCH_SIZE}
    for shape in shapes:
        for dim in shape:
            if dim not in sizes:
                sizes[dim] = _SIZES[min(len(sizes) - 2, len(_SIZES) - 1)]
    const = value.const
    small = tuple((sizes[r], sizes[c]) for r, c in shapes)
    if value.kind == "cols":  # the rule does not depend on where the columns are: columns 1:3 of 4
        small, const = ((small[0][0], 4),), (1, 3)
    return _prove(value.kind, sp.sympify(const) if value.kind in ("fn", "scale") else const, small)


@functools.cache
def _prove(kind: str, const: Any, shapes: tuple[tuple[int, int], ...]) -> tuple[bool, str]:
    symbols = [sp.MatrixSymbol(f"a{i}", *shape) for i, shape in enumerate(shapes)]
    entries = {s: sp.ImmutableMatrix(*s.shape, lambda i, j, k=k: sp.Symbol(f"a{k}_{i}{j}", positive=True))
               for k, s in enumerate(symbols)}
    out = ops.forward(kind, symbols, const)
    g = sp.MatrixSymbol("G", *out.shape)
    mapping = {**entries, g: sp.ImmutableMatrix(*out.shape, lambda i, j: sp.Symbol(f"G_{i}{j}"))}
    explicit = _explicit(out, mapping)
    scalar = sp.Add(*sp.matrix_multiply_elementwise(mapping[g], explicit))
    for position, rule in enumerate(ops.vjp(kind, g, symbols, const)):
        claimed = _explicit(rule, mapping)
        for i in range(claimed.rows):
            for j in range(claimed.cols):
                if not prove_equal(claimed[i, j], sp.diff(scalar, entries[symbols[position]][i, j])):
                    return False, f"{kind} rule for operand {position + 1} disagrees with sympy.diff at ({i}, {j})"
    where = ", ".join(f"{r}x{c}" for r, c in shapes)
    return True, f"{kind} rule proven entrywise against sympy.diff ({where})"


def _explicit(expr: Any, mapping: Mapping[Any, Any]) -> sp.ImmutableMatrix:
    value = expr.xreplace(dict(mapping)).doit()
    return sp.ImmutableMatrix(value.as_explicit() if hasattr(value, "as_explicit") else value)


#: Verdicts by (layer type, rule key, what was proven): a new instance of the same layer is not proven again.
_verdicts: dict[tuple[Any, ...], tuple[bool, str]] = {}


def closed_form_proof(layer: CompositeLayer, role: str) -> tuple[bool, str]:
    """Prove ``layer``'s closed form for ``role`` equal, entrywise, to its swept gradient on small shapes."""
    key = (type(layer), layer.rule_key(), "closed", role)
    if key not in _verdicts:
        _verdicts[key] = _closed_form_proof(type(layer), role, layer)
    return _verdicts[key]


def _closed_form_proof(kind: Any, role: str, layer: CompositeLayer) -> tuple[bool, str]:
    small = layer.for_proof(2)
    graph = small.graph()
    n, features = _BATCH_SIZE, 2
    x = sp.ImmutableMatrix(n, features, lambda i, j: sp.Symbol(f"x_{i}{j}", real=True))
    shapes = small.param_shapes(features)
    params = {r: sp.ImmutableMatrix(*(1, s[0]) if len(s) == 1 else s,
                                    lambda i, j, r=r: sp.Symbol(f"{r}_{i}{j}", real=True)) for r, s in shapes.items()}
    g_entries = sp.ImmutableMatrix(n, small.output_features(features),
                                   lambda i, j: sp.Symbol(f"G_{i}{j}", real=True))
    env = {graph.leaves[0]: x, **params, **small.constants()}
    composed = forward_values(graph, env)
    swept = small.matrix_vjp(g_entries, x, params)["input" if role == "input" else role]
    closed = small.closed_forms(composed, g_entries)[role]
    a, b = _explicit(swept, {}), _explicit(closed.subs(BATCH, n), {})
    for i in range(a.rows):
        for j in range(a.cols):
            if not prove_equal(a[i, j], b[i, j]):
                return False, f"the closed form is NOT equal to the swept gradient at entry ({i}, {j})"
    return True, f"closed form proven equal entrywise to the swept gradient (batch {n}, {features} features)"


def prove_whole_rule(layer: CompositeLayer) -> tuple[bool, str]:
    """Prove a layer's derived gradients (every input and role) entrywise against ``sympy.diff`` of
    E = Σ_outputs <G, output>, on a small copy (:meth:`~symgrad.layers.composite.CompositeLayer.for_proof`);
    the verdict is kept on disk with the others."""
    from symgrad.derive.verify import composite_verdict

    kind = type(layer)
    key = (kind, layer.rule_key(), "whole")
    if key not in _verdicts:
        _verdicts[key] = composite_verdict(kind, ("whole", layer.rule_key()), 0, lambda: _prove_whole(kind, layer))
    return _verdicts[key]


def _prove_whole(kind: Any, layer: CompositeLayer) -> tuple[bool, str]:
    small = layer.for_proof(2)
    graph = small.graph()
    n = _BATCH_SIZE
    sizes = small.input_sizes()

    def entries(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
        return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))

    env = {name: entries(name, n, size) for name, size in sizes.items()}
    for role, shape in small.param_shapes(None).items():
        env[role] = entries(role, *((1, shape[0]) if len(shape) == 1 else shape))
    values = forward_values(graph, {**env, **small.constants()})
    upstream = {out: entries(f"G{out}", *values[out].shape) for out in graph.outputs}
    energy = sp.Add(*(sp.Add(*sp.matrix_multiply_elementwise(upstream[out], _explicit(values[out], {})))
                      for out in graph.outputs))
    grads = small.cell_vjp(upstream, env)
    for name, grad in grads.items():
        claimed = _explicit(grad, {})
        for i in range(claimed.rows):
            for j in range(claimed.cols):
                if not prove_equal(claimed[i, j], sp.diff(energy, env[name][i, j])):
                    return False, f"{kind.__name__}'s derived rule for {name} disagrees with sympy.diff at ({i}, {j})"
    shown = ", ".join(f"{name} {n}x{size}" for name, size in sizes.items())
    return True, f"{kind.__name__}'s derived rule proven entrywise against sympy.diff ({shown})"
