"""The engine end to end (symgrad/index/rules.py): layers' rules derived from their index forwards."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import sympy as sp

from symgrad.derive import verify
from symgrad.index import contract, rules, vectorise
from symgrad.index.rules import derive_rule, matrix_rules
from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy
from symgrad.matrixexpr import BATCH, RowSoftmax

x, W, b, G = (sp.MatrixSymbol("x", BATCH, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("b", 1, 4),
              sp.MatrixSymbol("G", BATCH, 4))


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No rule or verdict remembered, no disk cache: what a test patches is derived and proven anew."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    caches = (rules._template, rules.derive_rule, verify._prove_cached)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def test_affine_rules_are_the_textbook_forms() -> None:
    layer = Affine(3, 4)
    assert layer.matrix_forward(x, {"W": W, "b": b}) == x * W + sp.OneMatrix(BATCH, 1) * b
    assert layer.matrix_vjp(G, x, {"W": W, "b": b}) == {
        "input": G * W.T, "W": x.T * G, "b": sp.OneMatrix(1, BATCH) * G,
    }


def test_the_w_rule_is_derived_through_the_index_step_that_explains_the_transpose() -> None:
    n, m, d, p, q = (sp.Symbol(s, integer=True) for s in "nmdpq")
    xb, gb = sp.IndexedBase("x"), sp.IndexedBase("G")
    rule = derive_rule(Affine(3, 4).index_forward(), "W")
    assert [step.rule for step in rule.steps] == [
        "chain rule, entry by entry", "differentiate each entry", "eliminate the Kronecker deltas",
    ]
    assert rule.steps[-1].rhs == sp.Sum(gb[n, q] * xb[n, p], (n, 0, BATCH - 1))
    assert "d = p" in rule.steps[-1].note
    assert "m = q" in rule.steps[-1].note
    assert rule.steps[1].rhs.has(sp.KroneckerDelta(d, p))
    assert rule.steps[1].rhs.has(sp.KroneckerDelta(m, q))


def test_losses_are_the_textbook_forms() -> None:
    y, t = sp.MatrixSymbol("y", BATCH, 3), sp.MatrixSymbol("t", BATCH, 3)
    assert HalfSquaredError().matrix_grad(y, t) == y - t
    assert MeanSquaredError().matrix_grad(y, t) == (2 / (BATCH * 3)) * (y - t)
    assert SoftmaxCrossEntropy().matrix_grad(y, t) == (1 / BATCH) * (RowSoftmax(y) - t)


def test_softmax_cross_entropy_states_the_row_sum_assumption_in_its_step() -> None:
    steps = derive_rule(SoftmaxCrossEntropy().index_loss(), "y").steps
    before, after = steps[-2], steps[-1]
    assert after.rule == "assume each row of t sums to 1 (one-hot or probability targets)"
    # The general form still has the row sum of t; the assumed one has not.
    t = sp.IndexedBase("t")
    assert any(isinstance(s, sp.Sum) and s.function.has(t) for s in sp.preorder_traversal(before.rhs))
    assert not any(isinstance(s, sp.Sum) and s.function.has(t) for s in sp.preorder_traversal(after.rhs))


def test_the_derived_affine_rules_agree_with_the_reference_backward_numerically() -> None:
    rng = np.random.default_rng(9)
    n = 5
    xs, ws, bs, gs = (sp.MatrixSymbol(name, *shape) for name, shape in
                      (("x", (n, 3)), ("W", (3, 4)), ("b", (1, 4)), ("G", (n, 4))))
    derived = matrix_rules(Affine(3, 4).index_forward(), {"x": xs, "W": ws, "b": bs, "G": gs})
    for _ in range(3):
        values = {xs: rng.uniform(0.5, 2, (n, 3)), ws: rng.uniform(0.5, 2, (3, 4)),
                  bs: rng.uniform(0.5, 2, (1, 4)), gs: rng.uniform(0.5, 2, (n, 4))}
        reference = Affine(3, 4)
        reference.set_params({"W": values[ws], "b": values[bs][0]})
        reference.forward(values[xs])
        dx = reference.backward(values[gs])
        got = {name: np.array(sp.ImmutableMatrix(expr.xreplace(
            {s: sp.ImmutableMatrix(v) for s, v in values.items()}).doit().as_explicit()), dtype=float)
            for name, expr in derived.items()}
        np.testing.assert_allclose(got["x"], dx, rtol=1e-12)
        np.testing.assert_allclose(got["W"], reference.dW, rtol=1e-12)
        np.testing.assert_allclose(got["b"][0], reference.db, rtol=1e-12)


def test_a_vectoriser_that_drops_the_transpose_is_caught_by_the_proof(fresh: None, monkeypatch) -> None:
    assert verify.prove_matrix_rule(Affine)[0]
    rules._template.cache_clear()

    def no_transpose(self, first):
        matrix = self._build(False)
        return matrix, (self.col if self.row == first else self.row)

    monkeypatch.setattr(vectorise._Labelled, "oriented", no_transpose)
    ok, how = verify.prove_matrix_rule(Affine)
    assert not ok
    assert how.startswith("Affine")


def test_an_elimination_that_keeps_the_wrong_index_is_caught_by_the_proof(fresh: None, monkeypatch) -> None:
    from symgrad.derive.indexproof import prove_index_steps

    prove_index_steps.cache_clear()
    original = contract._rename

    def swapped(expr, mapping):  # substitute the index a delta keeps for the wrong one
        p, q = sp.Symbol("p", integer=True), sp.Symbol("q", integer=True)
        return original(expr, {k: {p: q, q: p}.get(v, v) for k, v in mapping.items()})

    monkeypatch.setattr(contract, "_rename", swapped)
    verdicts = prove_index_steps(derive_rule(Affine(3, 4).index_forward(), "W"))
    prove_index_steps.cache_clear()
    assert [ok for ok, _ in verdicts] == [True, True, False]
    assert "disagrees with sympy.diff" in verdicts[-1][1]


def test_the_entry_indices_avoid_the_forwards_own_summed_names() -> None:
    # Mutation survivor: a forward summing over p must not get p as the entry index of W.
    from symgrad.index.ir import IndexForward, Tensor, indices

    n, m, p = indices("n m p")
    xb, wb = sp.IndexedBase("x"), sp.IndexedBase("W")
    forward = IndexForward("y", (n, m), sp.Sum(xb[n, p] * wb[p, m], (p, 0, 2)),
                           (Tensor("x", (5, 3)), Tensor("W", (3, 4))), ((n, 5), (m, 4), (p, 3)))
    rule = derive_rule(forward, "W")
    assert p not in rule.at
    xs, ws, gs = sp.MatrixSymbol("x", 5, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("G", 5, 4)
    assert matrix_rules(forward, {"x": xs, "W": ws, "G": gs})["W"] == xs.T * gs


def test_a_vectors_matrix_form_step_reads_row_0_of_the_row_it_is() -> None:
    # Mutation survivor: db is the row 1ᵀG (1 x M); its entry p is at [0, p].
    from sympy.matrices.expressions.matexpr import MatrixElement

    from symgrad.index.rules import rule_steps

    p = sp.Symbol("p", integer=True)
    rule = derive_rule(Affine(3, 4).index_forward(), "b")
    last = rule_steps(rule, {"x": x, "W": W, "b": b, "G": G})[-1]
    assert last.rule == "matrix form"
    assert last.rhs == MatrixElement(sp.OneMatrix(1, BATCH) * G, 0, p)
