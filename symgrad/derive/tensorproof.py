"""Entrywise proofs of N-D rules (windows, padding, lookups, max) against ``sympy.diff``.

As :mod:`symgrad.derive.indexproof` does for 2-D rules: every dimension gets a
small size (the forward's ``examples`` where it gives them), every sum and max
is written out, and each step's right-hand side at each entry of the input
must equal ``sympy.diff`` of ``E = Σ G ∘ y`` by that entry. Beyond that:

* a read outside a tensor is 0 (zero padding), in E and in every step;
* an integer tensor (an embedding's indices) gets fixed values with repeats,
  so that the proof covers a row read twice;
* the scatter-add form (``dx[p, q, 2*i + u, 2*j + v] += C``) is proven by
  carrying it out: every contribution added into its entry, then each entry
  compared with ``sympy.diff``;
* a forward with a max is compared at a point: every entry of the inputs and
  of G gets a distinct integer (a seeded permutation, so no window ties and
  ``sympy.diff`` of ``Max`` is defined), and both sides are evaluated there.

Examples
--------
>>> from symgrad.index import derive_rule
>>> from symgrad.layers.tensorforms import pool_forward
>>> rule = derive_rule(pool_forward("max", (2, 2), (1, 1), (0, 0)), "x")
>>> [ok for ok, _ in prove_tensor_steps(rule)]
[True, True, True, True]
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from symgrad.derive import proofcache
from symgrad.derive.verify import prove_equal
from symgrad.index.contract import Term, as_expr
from symgrad.index.reduce import FirstArgMax, MaxOver
from symgrad.index.rules import UPSTREAM, IndexRule
from symgrad.index.tensorform import scatter_terms

__all__ = ["prove_tensor_steps", "proven_tensor_steps"]

#: Default small sizes, in the order of the dimension symbols' names (as the 2-D proofs).
PROOF_SIZES = (2, 3, 4)


def _sizes(rule: IndexRule) -> dict[Any, int]:
    symbols: set[Any] = set()
    for tensor in rule.forward.tensors:
        for dim in tensor.dims:
            symbols |= sp.sympify(dim).free_symbols
    for _, size in rule.forward.ranges:
        symbols |= sp.sympify(size).free_symbols
    ordered = sorted(symbols, key=str)
    sizes = {s: PROOF_SIZES[k % len(PROOF_SIZES)] for k, s in enumerate(ordered)}
    return sizes | dict(rule.forward.examples)


class _Context:
    """Sizes, the integer tensors' values, and (for a max) the point every entry is evaluated at."""

    def __init__(self, rule: IndexRule) -> None:
        self.rule = rule
        forward = rule.forward
        self.sizes = _sizes(rule)
        self.dims = {t.name: tuple(int(sp.sympify(d).xreplace(self.sizes)) for d in t.dims) for t in forward.tensors}
        self.dims[UPSTREAM] = tuple(int(sp.sympify(s).xreplace(self.sizes)) for s in forward.output_dims())
        self.integers: dict[Any, Any] = {}
        for tensor in forward.tensors:
            if tensor.integer:
                base = tensor.base
                top = max(1, self._bound_of(tensor.name))
                for k, entry in enumerate(itertools.product(*(range(n) for n in self.dims[tensor.name]))):
                    self.integers[base[entry]] = sp.Integer((2 * k) % top)  # repeats as soon as k reaches top/2
        self.numeric = bool(forward.body.atoms(MaxOver))
        self.point: dict[Any, Any] = {}
        if self.numeric:
            entries = [sp.IndexedBase(name)[e] for name, shape in sorted(self.dims.items())
                       if not self._integer(name) for e in itertools.product(*(range(n) for n in shape))]
            order = np.random.default_rng(0).permutation(len(entries))
            self.point = {entry: sp.Integer(int(k) + 1) for entry, k in zip(entries, order, strict=True)}

    def _integer(self, name: str) -> bool:
        return any(t.name == name and t.integer for t in self.rule.forward.tensors)

    def _bound_of(self, name: str) -> int:
        """The size of the dimension an integer tensor indexes (the vocabulary)."""
        for read in self.rule.forward.body.atoms(sp.Indexed):
            for position, dim in zip(read.indices, self.dims.get(str(read.base.label), ()), strict=False):
                if any(str(inner.base.label) == name for inner in sp.sympify(position).atoms(sp.Indexed)):
                    return dim
        return 1

    def leaf(self, read: sp.Indexed) -> sp.Expr:
        if read in self.integers:
            return self.integers[read]  # type: ignore[no-any-return]
        shape = self.dims.get(str(read.base.label))
        inside = shape is None or not all(i.is_Integer for i in read.indices) or all(
            0 <= int(i) < n for i, n in zip(read.indices, shape, strict=True))
        if not inside:
            return sp.S.Zero  # a read outside the tensor: zero padding
        return read

    def evaluate(self, expr: sp.Basic) -> sp.Basic:
        """Masks resolved, and for a max every entry put in (so ``Heaviside`` and ``Max`` are numbers)."""
        def resolve(mask: FirstArgMax) -> sp.Expr:
            return mask.doit(values=lambda e: _write_out(e, self).xreplace(self.point))

        expr = expr.replace(lambda e: isinstance(e, FirstArgMax), resolve)
        return expr.xreplace(self.point) if self.numeric else expr


def _write_out(expr: sp.Basic, ctx: _Context) -> sp.Basic:
    """Sums and maxes with integer limits written out, reads resolved (padding, integer tensors)."""
    if isinstance(expr, (sp.Sum, MaxOver)):
        values = [_write_out(expr.function, ctx)]
        for symbol, lo, hi in reversed(expr.limits):
            values = [v.xreplace({symbol: sp.Integer(k)}) for v in values for k in range(int(lo), int(hi) + 1)]
        values = [_write_out(v, ctx) for v in values]
        return sp.Add(*values) if isinstance(expr, sp.Sum) else sp.Max(*values)
    if isinstance(expr, sp.Derivative):
        return sp.diff(_write_out(expr.expr, ctx), *(_write_out(v, ctx) for v in expr.variables))
    if isinstance(expr, sp.Indexed):
        indices = [_write_out(i, ctx) for i in expr.indices]
        return ctx.leaf(expr.base[tuple(indices)])
    if isinstance(expr, FirstArgMax) or not expr.args:
        return expr
    return expr.func(*(_write_out(arg, ctx) for arg in expr.args))


def _written(expr: sp.Basic, ctx: _Context) -> sp.Basic:
    """``expr`` with the output's reads replaced by the forward, the sizes put in, everything written out."""
    forward = ctx.rule.forward
    out = sp.IndexedBase(forward.output)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == out,
        lambda e: forward.body.xreplace(dict(zip(forward.indices, e.indices, strict=True))),
    )
    return _write_out(expr.xreplace(ctx.sizes), ctx)


def _explicit(expr: sp.Basic, ctx: _Context) -> sp.Basic:
    """A step's side written out and, for a max, evaluated at the point."""
    return ctx.evaluate(_written(expr, ctx))


def _energy(ctx: _Context) -> sp.Basic:
    """E = Σ G ∘ y written out (not yet at the point: sympy.diff comes first)."""
    forward = ctx.rule.forward
    if not forward.indices:
        return _written(forward.body, ctx)
    limits = [(i, 0, size - 1) for i, size in zip(forward.indices, forward.output_dims(), strict=True)]
    upstream = sp.IndexedBase(UPSTREAM)[forward.indices]
    return _written(sp.Sum(upstream * sp.IndexedBase(forward.output)[forward.indices], *limits), ctx)


def _scatter_total(rule: IndexRule, ctx: _Context) -> Callable[[tuple[int, ...]], sp.Basic]:
    """The vectorised form carried out: each entry's sum of the terms that read it and the scatters into it."""
    scatters = scatter_terms(rule)
    plain = tuple(t for t in rule.terms if not _scatters(t, rule))
    totals: dict[tuple[int, ...], sp.Basic] = {}
    for statement in scatters:
        over_limits = [(s, lo, hi) for term in rule.terms for s, lo, hi in term.sums if s in statement.over]
        ranges = {s: range(int(lo), int(sp.sympify(hi).xreplace(ctx.sizes)) + 1) for s, lo, hi in over_limits}
        for values in itertools.product(*(ranges[s] for s in statement.over)):
            at = dict(zip(statement.over, map(sp.Integer, values), strict=True))
            spot = tuple(_write_out(sp.sympify(p).xreplace(at).xreplace(ctx.sizes), ctx) for p in statement.positions)
            if len(spot) != len(rule.at) or not all(s.is_Integer for s in spot):
                continue  # a position left symbolic here would be an entry index: handled per entry below
            key = tuple(int(s) for s in spot)
            shape = ctx.dims[rule.wrt]
            if any(not 0 <= k < n for k, n in zip(key, shape, strict=True)):
                continue  # the adjoint of reading 0 outside: dropped
            totals[key] = totals.get(key, sp.S.Zero) + statement.value.xreplace(at)
    partial = [s for s in scatters if not all(sp.sympify(p).free_symbols <= set(s.over) | set(ctx.sizes)
                                              for p in s.positions)]

    def total(entry: tuple[int, ...]) -> sp.Basic:
        at = dict(zip(rule.at, map(sp.Integer, entry), strict=True))
        value = totals.get(entry, sp.S.Zero) + as_expr(plain).xreplace(at)
        for statement in partial:  # positions that keep an entry index (a direct p alongside a window)
            value += _partial(statement, rule, entry, ctx)
        return _explicit(value, ctx)

    return total


def _partial(statement: Any, rule: IndexRule, entry: tuple[int, ...], ctx: _Context) -> sp.Basic:
    at = dict(zip(rule.at, map(sp.Integer, entry), strict=True))
    over_limits = [(s, lo, hi) for term in rule.terms for s, lo, hi in term.sums if s in statement.over]
    ranges = {s: range(int(lo), int(sp.sympify(hi).xreplace(ctx.sizes)) + 1) for s, lo, hi in over_limits}
    value: sp.Basic = sp.S.Zero
    for values in itertools.product(*(ranges[s] for s in statement.over)):
        point = {**at, **dict(zip(statement.over, map(sp.Integer, values), strict=True))}
        spot = tuple(_write_out(sp.sympify(p).xreplace(point).xreplace(ctx.sizes), ctx) for p in statement.positions)
        if spot == tuple(sp.Integer(e) for e in entry):
            value += statement.value.xreplace(point)
    return value


def _scatters(term: Term, rule: IndexRule) -> bool:
    from symgrad.index.tensorform import _split

    positions, _, _ = _split(term, rule.at)
    return tuple(positions) != tuple(rule.at)


@functools.cache
def prove_tensor_steps(rule: IndexRule) -> tuple[tuple[bool, str], ...]:
    """(proven, how) for each index step of ``rule`` and, last, its vectorised (scatter-add) form."""
    ctx = _Context(rule)
    energy = _energy(ctx)
    shape = ctx.dims[rule.wrt]
    where = " at distinct integer values of every entry (a max is differentiable there)" if ctx.numeric else ""
    sizes = ", ".join(f"{s} = {v}" for s, v in sorted(ctx.sizes.items(), key=lambda kv: str(kv[0])))
    shown = " x ".join(map(str, shape))
    how = f"proven entrywise against sympy.diff on small shapes ({sizes}; {rule.wrt}: {shown}){where}"
    verdicts = [(True, how) for _ in range(len(rule.steps) + 1)]
    total = _scatter_total(rule, ctx)
    for entry in itertools.product(*(range(n) for n in shape)):
        direct = ctx.evaluate(sp.diff(energy, sp.IndexedBase(rule.wrt)[entry]))
        at = dict(zip(rule.at, map(sp.Integer, entry), strict=True))
        claims = [step.rhs.xreplace(at) for step in rule.steps]
        for k, claim in enumerate(claims):
            if verdicts[k][0] and not prove_equal(_explicit(claim, ctx), direct):
                verdicts[k] = (False, f"disagrees with sympy.diff at {rule.wrt}[{', '.join(map(str, entry))}]")
        if verdicts[-1][0] and not prove_equal(total(entry), direct):
            verdicts[-1] = (False, f"the vectorised form disagrees with sympy.diff at {rule.wrt}{list(entry)}")
    return tuple(verdicts)


@functools.lru_cache(maxsize=256)
def proven_tensor_steps(kind: Any, rule: IndexRule) -> tuple[tuple[bool, str], ...]:
    """:func:`prove_tensor_steps`, its verdicts kept on disk for symgrad's own layer types (``kind`` a
    class; None for a user's layer, proven once per process), keyed by the forward as well."""
    label = f"tensor steps of {rule.wrt}: {sp.srepr(rule.forward)}"
    key = None if kind is None else proofcache.fingerprint(kind, label)
    known = None if key is None else proofcache.load_verdict(key)
    if known is not None:
        with contextlib.suppress(ValueError, TypeError):
            verdicts = tuple((bool(ok), str(how)) for ok, how in json.loads(known[1]))
            if len(verdicts) == len(rule.steps) + 1:
                return verdicts
    verdicts = prove_tensor_steps(rule)
    if key is not None:
        proofcache.store_verdict(key, all(ok for ok, _ in verdicts), json.dumps(verdicts))
    return verdicts
