"""Contraction with the upstream gradient, and the elimination of Kronecker deltas.

An index expression is brought to a sum of :class:`Term`\\ s, each one product
of factors under one flat list of sums (nested and multiplied sums are
flattened, a bound index renamed where two would clash). A Kronecker delta
``δ_dp`` with ``d`` summed then eliminates itself: substitute ``p`` for ``d``
in the term and drop both the delta and the sum over ``d``. A sum over an
index that no factor reads any more becomes its range's size. SymPy's
``simplify`` does neither across nested sums, hence this module.

A sum inside a nonlinear position (the denominator of a softmax) is a factor
like any other: it is not flattened, but the substitutions reach into it.

Examples
--------
>>> from symgrad.index.ir import indices
>>> n, m, d, p, q = indices("n m d p q")
>>> x, g = sp.IndexedBase("x"), sp.IndexedBase("G")
>>> raw = sp.Sum(g[n, m] * sp.Sum(x[n, d] * sp.KroneckerDelta(d, p) * sp.KroneckerDelta(m, q), (d, 0, 2)),
...              (n, 0, 4), (m, 0, 1))
>>> terms = flatten(raw)
>>> terms
(Term(factor=KroneckerDelta(d, p)*KroneckerDelta(m, q)*G[n, m]*x[n, d], sums=((n, 0, 4), (m, 0, 1), (d, 0, 2))),)
>>> eliminate(terms)
(Term(factor=G[n, q]*x[n, p], sums=((n, 0, 4),)),)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import sympy as sp

__all__ = ["Term", "as_expr", "eliminate", "flatten"]


@dataclass(frozen=True)
class Term:
    """``Σ_sums factor``: one product under a flat list of sums ``(index, lower, upper)``."""

    factor: sp.Expr
    sums: tuple[tuple[Any, Any, Any], ...] = ()

    def summed(self) -> tuple[sp.Symbol, ...]:
        return tuple(limit[0] for limit in self.sums)

    def as_expr(self) -> sp.Expr:
        return sp.Sum(self.factor, *self.sums) if self.sums and self.factor != 0 else self.factor


def as_expr(terms: tuple[Term, ...]) -> sp.Expr:
    """The terms as one SymPy expression (a sum of ``Sum`` objects), for display."""
    return sp.Add(*(term.as_expr() for term in terms))


def _linear(expr: sp.Expr) -> bool:
    """Whether ``expr`` has a sum or a delta to flatten (an Add without either stays one factor)."""
    return bool(expr.atoms(sp.Sum, sp.KroneckerDelta)) if isinstance(expr, sp.Add) else isinstance(expr, sp.Sum)


def flatten(expr: sp.Expr) -> tuple[Term, ...]:
    """``expr`` as a sum of terms, each a product under one flat list of sums."""
    if isinstance(expr, sp.Add) and _linear(expr):
        return tuple(term for arg in expr.args for term in flatten(arg))
    if isinstance(expr, sp.Sum):
        return tuple(Term(t.factor, tuple(expr.limits) + t.sums) for t in flatten(expr.function))
    if isinstance(expr, sp.Mul) and any(_linear(arg) for arg in expr.args):
        result = []
        for parts in product(*(flatten(arg) if _linear(arg) else (Term(arg),) for arg in expr.args)):
            result.append(_multiply(parts))
        return tuple(result)
    return (Term(expr),) if expr != 0 else ()


def _multiply(parts: tuple[Term, ...]) -> Term:
    factor: sp.Expr = sp.S.One
    sums: list[tuple[Any, Any, Any]] = []
    for part in parts:
        taken = {limit[0] for limit in sums} | factor.free_symbols
        renaming: dict[Any, Any] = {}
        for symbol, _lo, _hi in part.sums:
            if symbol in taken or symbol in renaming.values():
                renaming[symbol] = _fresh(symbol, taken | part.factor.free_symbols | set(renaming.values()))
        moved = _rename(part.factor, renaming)
        sums += [(renaming.get(s, s), lo, hi) for s, lo, hi in part.sums]
        factor = factor * moved
    return Term(factor, tuple(sums))


def _fresh(symbol: sp.Symbol, taken: set[Any]) -> sp.Symbol:
    names = {str(s) for s in taken}
    for k in range(1, 100):
        name = f"{symbol}{k}"
        if name not in names:
            return sp.Symbol(name, **symbol.assumptions0)
    msg = f"no fresh name for index {symbol}"  # pragma: no cover - 99 clashes of one index
    raise RuntimeError(msg)


def eliminate(terms: tuple[Term, ...], trace: list[tuple[Any, Any]] | None = None) -> tuple[Term, ...]:
    """Eliminate each delta that has a summed index, then sums that nothing reads.

    ``trace``, when given, receives each (eliminated index, index put in its place), once.
    """
    result = []
    for term in terms:
        reduced = _eliminate_term(term, trace if trace is not None else [])
        if reduced.factor != 0:
            result.append(reduced)
    return tuple(result)


def _eliminate_term(term: Term, trace: list[tuple[Any, Any]]) -> Term:
    factor, sums = term.factor, list(term.sums)
    changed = True
    while changed:
        changed = False
        summed = {limit[0] for limit in sums}
        for delta in sorted(_deltas(factor), key=sp.default_sort_key):
            i, j = delta.args
            gone, kept = (i, j) if i in summed else (j, i) if j in summed else (None, None)
            if gone is None:
                continue
            factor = _rename(_drop(factor, delta), {gone: kept})
            if (gone, kept) not in trace:
                trace.append((gone, kept))
            sums = [limit for limit in sums if limit[0] != gone]
            changed = True
            break
    factor = factor.xreplace({d: d.func(*d.args) for d in _deltas(factor)})  # δ_pp -> 1 (and δ of two numbers)
    kept_sums = []
    for symbol, lo, hi in sums:
        if symbol in factor.free_symbols:
            kept_sums.append((symbol, lo, hi))
        else:
            factor = factor * (hi - lo + 1)
    return Term(factor, tuple(kept_sums))


def _rename(expr: sp.Expr, mapping: dict[Any, Any]) -> sp.Expr:
    """Substitute free occurrences only: a sum left as a factor (a softmax's denominator) may
    bind the same index name, and its bound index must stay (``xreplace`` would rename it)."""
    return expr.subs(mapping, simultaneous=True) if mapping else expr


def _deltas(expr: sp.Expr) -> set[sp.KroneckerDelta]:
    factors = expr.args if isinstance(expr, sp.Mul) else (expr,)
    return {f for f in factors if isinstance(f, sp.KroneckerDelta)}


def _drop(expr: sp.Expr, delta: sp.KroneckerDelta) -> sp.Expr:
    args = list(expr.args) if isinstance(expr, sp.Mul) else [expr]
    args.remove(delta)
    return sp.Mul(*args)
