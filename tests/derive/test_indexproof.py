"""Index-level steps in a batched derivation (symgrad/derive/indexproof.py), and their documents."""

from __future__ import annotations

import sympy as sp

import symgrad
from symgrad.derive.indexproof import prove_index_steps
from symgrad.index import derive_rule
from symgrad.layers import Affine, SoftmaxCrossEntropy
from symgrad.render.text import derivation_text


def _network() -> symgrad.Network:
    return symgrad.Network([Affine(3, 4), symgrad.Sigmoid(), Affine(4, 2)], loss=SoftmaxCrossEntropy(),
                           title="index steps")


def test_every_index_step_of_the_builtin_rules_is_proven() -> None:
    for forward, names in ((Affine(3, 2).index_forward(), "x W b"), (SoftmaxCrossEntropy().index_loss(), "y")):
        for name in names.split():
            verdicts = prove_index_steps(derive_rule(forward, name))
            assert all(ok for ok, _ in verdicts), (name, verdicts)


def test_the_w_gradient_carries_the_index_step_that_gives_x_transpose_g() -> None:
    derivation = symgrad.derive(_network(), wrt=["W1"])
    step = next(s for s in derivation.steps("W1") if str(s.lhs) == "dE/dW1" and s.rule == "chain rule (matrix form)")
    rules = [sub.rule for sub in step.substeps]
    assert rules == ["chain rule, entry by entry", "differentiate each entry", "eliminate the Kronecker deltas",
                     "matrix form"]
    assert all(sub.verified for sub in step.substeps)
    n, p, q = (sp.Symbol(s, integer=True) for s in "npq")
    x, g = sp.IndexedBase("x"), sp.IndexedBase("G")
    assert step.substeps[2].rhs == sp.Sum(g[n, q] * x[n, p], (n, 0, symgrad.matrixexpr.BATCH - 1))
    # The output of layer 1 is h1, and the step says so (the forward's own name y is replaced).
    assert step.substeps[0].rhs.has(sp.IndexedBase("h1"))


def test_the_documents_show_the_index_step_and_are_byte_identical() -> None:
    text = derivation_text(symgrad.derive(_network(), wrt=["W1"]), elementary=True)
    assert "Σ_n G[n, q]*x[n, p]" in text
    assert "(x.T @ G)[p, q]" in text
    latex = symgrad.derive(_network(), wrt=["W1"]).to_latex()
    assert r"\sum_{n} {G}_{n,q} {x}_{n,p}" in latex
    assert r"{\left(x^{T} G\right)}_{p,q}" in latex
    assert latex == symgrad.derive(_network(), wrt=["W1"]).to_latex()
    html = symgrad.derive(_network(), wrt=["W1"]).to_html()
    assert "and why the matrix form follows" in html


def test_an_index_step_that_fails_its_proof_makes_the_rule_unproven(monkeypatch) -> None:
    from symgrad.derive import indexproof

    def failing(kind, rule):
        return tuple((k != 2, "disagrees (test)") for k in range(len(rule.steps)))

    monkeypatch.setattr(indexproof, "proven_steps", failing)
    derivation = symgrad.derive(_network(), wrt=["W1"])
    step = next(s for s in derivation.steps("W1") if str(s.lhs) == "dE/dW1" and s.rule == "chain rule (matrix form)")
    assert not step.verified
    assert "index-level step is NOT proven" in step.proof
    assert not derivation.verified


def test_a_layer_with_its_own_rule_shows_no_index_steps() -> None:
    class Doubled(Affine):
        def matrix_vjp(self, upstream, x, params, *, kink=0):
            return super().matrix_vjp(upstream, x, params, kink=kink)

    network = symgrad.Network([Doubled(3, 2)], loss=symgrad.HalfSquaredError())
    step = next(s for s in symgrad.derive(network).steps("W1") if s.rule == "chain rule (matrix form)")
    assert step.substeps == ()
