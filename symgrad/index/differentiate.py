"""Differentiate an index-notation entry by one entry of an input: Kronecker deltas.

``∂ x[n,d] / ∂ x[p,q] = δ_np δ_dq``; a ``Sum`` is differentiated under the
sum sign (a max through the mask of its first maximum); products, powers and
functions by the product and chain rules. The
result keeps every delta: :mod:`symgrad.index.contract` eliminates them.

Examples
--------
>>> from symgrad.index.ir import indices
>>> n, d, p, q = indices("n d p q")
>>> x, w = sp.IndexedBase("x"), sp.IndexedBase("W")
>>> m = sp.Symbol("m", integer=True)
>>> entry_derivative(sp.Sum(x[n, d] * w[d, m], (d, 0, 2)), w, (p, q))
Sum(KroneckerDelta(d, p)*KroneckerDelta(m, q)*x[n, d], (d, 0, 2))
>>> entry_derivative(sp.exp(x[n, d]), x, (p, q))
exp(x[n, d])*KroneckerDelta(d, q)*KroneckerDelta(n, p)
"""

from __future__ import annotations

import sympy as sp

from symgrad.index.reduce import MaxOver, argmax_mask

__all__ = ["entry_derivative"]


def entry_derivative(expr: sp.Expr, base: sp.IndexedBase, at: tuple[sp.Symbol, ...]) -> sp.Expr:
    """``∂ expr / ∂ base[at]``, with a Kronecker delta for each index of each read of ``base``."""
    if isinstance(expr, sp.Indexed):
        if expr.base != base:
            return sp.S.Zero
        return sp.Mul(*(sp.KroneckerDelta(i, j, evaluate=False) for i, j in zip(expr.indices, at, strict=True)))
    if not expr.has(base):
        return sp.S.Zero
    if isinstance(expr, sp.Sum):
        inner = entry_derivative(expr.function, base, at)
        return sp.S.Zero if inner == 0 else sp.Sum(inner, *expr.limits)
    if isinstance(expr, MaxOver):  # through the window's first maximum (see symgrad.index.reduce)
        inner = entry_derivative(expr.function, base, at)
        return sp.S.Zero if inner == 0 else sp.Sum(argmax_mask(expr) * inner, *expr.limits)
    if isinstance(expr, sp.Add):
        return sp.Add(*(entry_derivative(arg, base, at) for arg in expr.args))
    if isinstance(expr, sp.Mul):
        terms = []
        for position, arg in enumerate(expr.args):
            inner = entry_derivative(arg, base, at)
            if inner != 0:
                others = expr.args[:position] + expr.args[position + 1 :]
                terms.append(sp.Mul(*others, inner))
        return sp.Add(*terms)
    # A power or a function: the chain rule through each argument, in a fresh variable.
    terms = []
    for position, arg in enumerate(expr.args):
        inner = entry_derivative(arg, base, at)
        if inner == 0:
            continue
        fresh = sp.Dummy("z")
        outer = expr.func(*(fresh if k == position else a for k, a in enumerate(expr.args)))
        terms.append(sp.diff(outer, fresh).xreplace({fresh: arg}) * inner)
    return sp.Add(*terms)
