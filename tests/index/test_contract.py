"""Flattening sums and eliminating Kronecker deltas (symgrad/index/contract.py), on their own."""

from __future__ import annotations

import sympy as sp

from symgrad.index.contract import Term, as_expr, eliminate, flatten
from symgrad.index.ir import indices

n, m, d, k, p, q = indices("n m d k p q")
x, w, g, y = (sp.IndexedBase(name) for name in ("x", "W", "G", "y"))
delta = sp.KroneckerDelta


def _written_out(expr: sp.Expr, values: dict[sp.Symbol, int]) -> sp.Expr:
    return expr.subs(values).doit()


def test_nested_sums_flatten_into_one_term_with_every_index() -> None:
    raw = sp.Sum(g[n, m] * sp.Sum(x[n, d] * delta(d, p) * delta(m, q), (d, 0, 2)), (n, 0, 3), (m, 0, 1))
    (term,) = flatten(raw)
    assert term.summed() == (n, m, d)
    assert term.factor == g[n, m] * x[n, d] * delta(d, p) * delta(m, q)


def test_deltas_are_eliminated_across_nested_sums_giving_x_transpose_g() -> None:
    # The case SymPy's simplify leaves alone: the W-gradient of an affine layer.
    raw = sp.Sum(g[n, m] * sp.Sum(x[n, d] * delta(d, p) * delta(m, q), (d, 0, 2)), (n, 0, 3), (m, 0, 1))
    trace: list[tuple[sp.Symbol, sp.Symbol]] = []
    (term,) = eliminate(flatten(raw), trace)
    assert term == Term(g[n, q] * x[n, p], ((n, 0, 3),))
    assert sorted(trace, key=str) == [(d, p), (m, q)]
    # And it is the same number as the raw sum at every entry.
    for values in ({p: 0, q: 1}, {p: 2, q: 0}):
        assert sp.expand(_written_out(raw, values) - _written_out(as_expr((term,)), values)) == 0


def test_a_delta_of_two_free_indices_stays() -> None:
    (term,) = eliminate(flatten(sp.Sum(g[n, p] * delta(p, q), (n, 0, 3))))
    assert term.factor.has(sp.KroneckerDelta)
    assert term.summed() == (n,)


def test_a_sum_that_no_factor_reads_becomes_its_size() -> None:
    (term,) = eliminate(flatten(sp.Sum(x[p, q] * delta(n, n), (n, 0, 4))))
    assert term == Term(5 * x[p, q], ())


def test_two_sums_over_the_same_name_multiplied_are_renamed_apart() -> None:
    product = sp.Sum(x[n, k], (k, 0, 2)) * sp.Sum(w[k, m], (k, 0, 2))
    (term,) = flatten(product)
    assert len(set(term.summed())) == 2
    values = {n: 1, m: 0}
    explicit_x = sum(sp.Symbol(f"x1{j}") for j in range(3))
    explicit_w = sum(sp.Symbol(f"w{j}0") for j in range(3))
    got = _written_out(as_expr((term,)), values).xreplace(
        {x[1, j]: sp.Symbol(f"x1{j}") for j in range(3)} | {w[j, 0]: sp.Symbol(f"w{j}0") for j in range(3)}
    )
    assert sp.expand(got - explicit_x * explicit_w) == 0


def test_a_sum_in_a_denominator_keeps_its_bound_index_when_a_delta_is_eliminated() -> None:
    # d/dy[p,q] of log(Σ_k exp(y[n,k])): the numerator's k is eliminated, the denominator's must stay.
    expr = sp.Sum(sp.exp(y[n, k]) * delta(k, q) * delta(n, p), (k, 0, 2)) / sp.Sum(sp.exp(y[n, k]), (k, 0, 2))
    (term,) = eliminate(flatten(sp.Sum(expr, (n, 0, 1))))
    assert term.sums == ()
    assert term.factor == sp.exp(y[p, q]) / sp.Sum(sp.exp(y[p, k]), (k, 0, 2))


def test_an_add_without_sums_or_deltas_stays_one_factor() -> None:
    (term,) = flatten(sp.Sum((y[n, m] - x[n, m]) * g[n, m], (n, 0, 1)))
    assert (y[n, m] - x[n, m]) in sp.Mul.make_args(term.factor)


def test_a_renamed_index_avoids_a_name_already_free_in_the_product() -> None:
    # Mutation survivor: the fresh name for the second k must not be k1, which the first factor reads.
    k1 = indices("k1")[0]
    first = sp.Sum(x[n, k] * y[k1, n], (k, 0, 2))
    product = first * sp.Sum(w[k, m], (k, 0, 2))
    (term,) = flatten(product)
    assert k1 not in term.summed()
    assert len(set(term.summed())) == 2
