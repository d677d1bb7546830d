"""Differentiating an index expression by one entry (symgrad/index/differentiate.py)."""

from __future__ import annotations

import itertools

import sympy as sp

from symgrad.index.differentiate import entry_derivative
from symgrad.index.ir import indices

n, d, m, p, q = indices("n d m p q")
x, w = sp.IndexedBase("x"), sp.IndexedBase("W")


def test_a_read_gives_one_delta_per_index() -> None:
    assert entry_derivative(x[n, d], x, (p, q)) == sp.KroneckerDelta(n, p) * sp.KroneckerDelta(d, q)
    assert entry_derivative(w[d, m], x, (p, q)) == 0


def test_matches_sympy_diff_at_every_concrete_entry() -> None:
    # Product, power and function rules under a sum, checked against sympy.diff written out.
    body = sp.Sum(sp.tanh(x[n, d]) * w[d, m] ** 2 + sp.exp(x[n, d] * w[d, m]), (d, 0, 2))
    derivative = entry_derivative(body, x, (p, q))
    for n_, m_, p_, q_ in itertools.product(range(2), range(2), range(2), range(3)):
        point = {n: n_, m: m_, p: p_, q: q_}
        claimed = derivative.subs(point).doit()
        direct = sp.diff(body.subs(point).doit(), x[p_, q_])
        assert sp.simplify(claimed - direct) == 0, point
