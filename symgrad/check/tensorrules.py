"""An N-D spec layer's rules for :func:`symgrad.check_layer`: compiled, printed, and mistaken on purpose.

A convolution, a pooling, an embedding or a user's :func:`symgrad.layer`
writes its forward in index notation; its rules are derived and compiled
(:mod:`symgrad.numeric.tensorcompile`) and enter the check as
:class:`~symgrad.check.rules.Compiled` nodes: their value at the point, their
formula in words (the scatter-add ``dx[p, q, 2*i + u - 1, 2*j + v - 1] += ...``)
and the usual mistakes, each the derived rule compiled with one deliberate
change, so that a wrong backward can be named as :mod:`symgrad.check.diagnose`
names a wrong matrix rule:

* ``=`` where ``+=`` / ``np.add.at`` belongs: repeated lookups or overlapping
  windows keep only the last write (the scatter-add compiled as an assignment);
* a max pooling that sends the gradient to every tied maximum (the mask of
  all ties for the mask of the first);
* the stride ignored (the window's positions ``S*i + u`` read as ``i + u``);
* the padding ignored (``S*i + u - P`` read as ``S*i + u``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from symgrad.check.rules import Compiled, SpecRules
from symgrad.errors import ShapeError
from symgrad.index.contract import Term
from symgrad.index.ir import IndexForward
from symgrad.index.reduce import FirstArgMax
from symgrad.index.rules import UPSTREAM, IndexRule, derive_rule
from symgrad.index.tensorform import rule_code, scatter_terms, sizes_for
from symgrad.numeric.tensorcompile import compiled_layer
from symgrad.numeric.tensorrun import compile_source

__all__ = ["is_tensor_spec", "tensor_spec_rules"]

_DOUT = sp.IndexedBase("dout")


def is_tensor_spec(spec: Any) -> bool:
    """Whether ``spec`` is a layer with an N-D forward in index notation."""
    return callable(getattr(spec, "tensor_forward", None))


def _shown(expr: Any) -> str:
    return sp.sstr(sp.sympify(expr).xreplace({sp.IndexedBase(UPSTREAM): _DOUT}), order="lex")


def rule_text(rule: IndexRule) -> str:
    """The rule as the check prints it: its scatter-adds and its einsum terms, dout for G."""
    parts = [f"{_shown(s.lhs)} += {_shown(s.value)} for every {', '.join(map(str, s.over))}"
             for s in scatter_terms(rule)]
    plain = [t for t in rule.terms if not any(isinstance(f, sp.KroneckerDelta) for f in sp.Mul.make_args(t.factor))]
    if plain:
        entry = sp.IndexedBase(f"d{rule.wrt}")[rule.at]
        parts.append(f"{_shown(entry)} = {_shown(sum((t.as_expr() for t in plain), sp.S.Zero))}")
    return "; ".join(parts) or f"d{rule.wrt} = 0"


def _arrays(forward: IndexForward) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    first = forward.tensors[0]

    def arrays(env: Mapping[str, Any]) -> dict[str, Any]:
        x = np.asarray(env["x"])
        values = {first.name: x.astype(np.intp) if first.integer else x}
        values.update({t.name: np.asarray(env[t.name], dtype=float) for t in forward.tensors[1:]})
        if "dout" in env and env["dout"] is not None:
            values[UPSTREAM] = np.asarray(env["dout"], dtype=float)
        return values

    return arrays


def _positions(factor: sp.Expr, change: Callable[[sp.Expr], sp.Expr]) -> sp.Expr:
    """``factor`` with ``change`` applied to every index position that is an expression (a window)."""
    def read(e: sp.Indexed) -> sp.Indexed:
        return e.base[tuple(p if isinstance(p, sp.Symbol) else change(p) for p in e.indices)]

    def delta(e: sp.KroneckerDelta) -> sp.Expr:
        return sp.KroneckerDelta(*(a if isinstance(a, sp.Symbol) else change(a) for a in e.args), evaluate=False)

    factor = factor.replace(lambda e: isinstance(e, sp.Indexed), read)
    return factor.replace(lambda e: isinstance(e, sp.KroneckerDelta), delta)  # type: ignore[no-any-return]


def _unstrided(position: sp.Expr) -> sp.Expr:
    return position.replace(lambda e: isinstance(e, sp.Mul) and e.args[0].is_Integer and e.args[0] > 1,
                            lambda e: e / e.args[0])  # type: ignore[no-any-return]


def _unpadded(position: sp.Expr) -> sp.Expr:
    constant = position.as_coeff_Add()[0]
    return position - constant if constant.is_Integer and constant < 0 else position


def _windowed(rule: IndexRule, change: Callable[[sp.Expr], sp.Expr]) -> IndexRule | None:
    terms = tuple(Term(_positions(t.factor, change), t.sums) for t in rule.terms)
    if terms == rule.terms:
        return None
    return dataclasses.replace(rule, terms=terms)


def _variants(rule: IndexRule, source: str, name: str, shapes: Mapping[str, Any],
              arrays: Callable[[Mapping[str, Any]], dict[str, Any]]) -> tuple[tuple[str, str, Compiled], ...]:
    label = "x" if rule.wrt == rule.forward.tensors[0].name else rule.wrt
    found: list[tuple[str, str, Compiled]] = []

    def add(mistake: str, fix: str, text: str, code: str, function: str) -> None:
        compiled = compile_source(code, function)
        found.append((mistake, fix, Compiled(text, lambda env: compiled(arrays(env)))))

    statements = scatter_terms(rule)
    if statements:
        lookup = any(p.atoms(sp.Indexed) for s in statements for p in s.positions)
        shown = "; ".join(f"{_shown(s.lhs)} = {_shown(s.value)}" for s in statements)
        mistake = ("repeated indices lost: the gradient assigned with = (the last repeat wins) instead of added "
                   "with np.add.at" if lookup else
                   "overlapping windows assigned with = instead of += (each window overwrote the ones before it)")
        add(mistake, "add into the gradient (np.add.at, or += per window)", f"d{label}: {shown} (assigned)",
            source.replace("_scatter_add(", "_scatter_assign("), name)
    if any(t.factor.atoms(FirstArgMax) for t in rule.terms):
        add("the gradient sent to every tied maximum of a window (x == max), not to one",
            "route each window's gradient to one entry, the first maximum (np.argmax)",
            f"d{label} = dout routed to every entry equal to its window's max",
            source.replace("_argmax_mask(", "_ties_mask("), name)
    for mistake, change in (("the stride ignored (windows placed at i + u, not stride*i + u)", _unstrided),
                            ("the padding ignored (windows read at stride*i + u, not stride*i + u - pad)",
                             _unpadded)):
        wrong = _windowed(rule, change)
        if wrong is not None:
            code = rule_code(wrong, shapes)
            add(mistake, "place each window as the forward reads it", rule_text(wrong), code.source, code.name)
    return tuple(found)


def _calling(function: Callable[[Mapping[str, Any]], Any],
             arrays: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[[Mapping[str, Any]], Any]:
    return lambda env: function(arrays(env))


def tensor_spec_rules(spec: Any, x: np.ndarray, param_shapes: Mapping[str, tuple[int, ...]]) -> SpecRules:
    """The rules of the N-D layer ``spec`` for an input like ``x`` and parameters of these shapes."""
    forward = spec.tensor_forward(np.ndim(x))
    first = forward.tensors[0]
    shapes = {first.name: tuple(np.shape(x)), **{role: tuple(param_shapes[role]) for role in spec.roles}}
    try:
        sizes_for(forward, shapes)
        compiled = compiled_layer(forward, tuple(shapes.items()))
    except ShapeError as error:
        msg = f"the spec {spec!r} cannot take x of shape {np.shape(x)}: {error}"
        raise ShapeError(msg) from None
    arrays = _arrays(forward)
    given = {**shapes, UPSTREAM: compiled.output_shape}
    forward_text = f"{forward.output}{list(forward.indices)} = {_shown(forward.body)}".replace("'", "")
    def output(env: Mapping[str, Any]) -> Any:
        return compiled.forward(arrays(env))

    node = Compiled(forward_text, output)
    grads = {}
    for tensor in forward.tensors:
        if tensor.integer:
            continue
        rule = derive_rule(forward, tensor.name)
        function = compiled.grads[tensor.name]
        variants = _variants(rule, compiled.sources[tensor.name], f"_d_{tensor.name}", given, arrays)
        key = "x" if tensor.name == first.name else tensor.name
        grads[key] = Compiled(rule_text(rule), _calling(function, arrays), variants)
    return SpecRules(repr(spec), False, tuple(spec.roles), node, grads)
