"""Entrywise proofs of the N-D rules (windows, padding, lookups, max), and that a wrong rule fails them."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from symgrad.derive.tensorproof import prove_tensor_steps, proven_tensor_steps
from symgrad.index.contract import Term
from symgrad.index.rules import derive_rule
from symgrad.layers.conv import Conv2d
from symgrad.layers.tensorforms import conv_forward, embedding_forward, flatten_forward, pool_forward

FORWARDS = [
    ("conv stride 2 pad 1", conv_forward((3, 3), (2, 2), (1, 1))),
    ("conv 2x2", conv_forward((2, 2), (1, 1), (0, 0))),
    ("max pool overlapping", pool_forward("max", (2, 2), (1, 1), (0, 0))),
    ("avg pool", pool_forward("avg", (2, 2), (2, 2), (0, 0))),
    ("embedding", embedding_forward(1)),
    ("flatten", flatten_forward(3)),
]


@pytest.mark.parametrize(("label", "forward"), FORWARDS, ids=[f[0] for f in FORWARDS])
def test_every_step_and_the_scatter_form_of_each_n_d_rule_is_proven(label, forward) -> None:
    for tensor in forward.tensors:
        if tensor.integer:
            continue
        verdicts = prove_tensor_steps(derive_rule(forward, tensor.name))
        assert all(ok for ok, _ in verdicts), (label, tensor.name, verdicts)
        assert "sympy.diff" in verdicts[-1][1]


def _mutated(rule, change):
    return dataclasses.replace(rule, terms=tuple(Term(change(t.factor), t.sums) for t in rule.terms))


def test_a_convolution_rule_that_ignores_the_stride_fails_its_proof() -> None:
    rule = derive_rule(conv_forward((2, 2), (2, 2), (0, 0)), "x")
    i, j = sp.Symbol("i", integer=True), sp.Symbol("j", integer=True)
    wrong = _mutated(rule, lambda f: f.xreplace({2 * i: i, 2 * j: j}))
    assert wrong.terms != rule.terms
    verdicts = prove_tensor_steps(wrong)
    assert not verdicts[-1][0]
    assert "disagrees with sympy.diff" in verdicts[-1][1]


def test_a_max_pool_rule_without_its_mask_fails_its_proof() -> None:
    rule = derive_rule(pool_forward("max", (2, 2), (2, 2), (0, 0)), "x")
    from symgrad.index.reduce import FirstArgMax

    wrong = _mutated(rule, lambda f: f.replace(lambda e: isinstance(e, FirstArgMax), lambda e: sp.S.One))
    assert not prove_tensor_steps(wrong)[-1][0]


def test_a_wrong_elimination_step_fails_its_own_verdict() -> None:
    rule = derive_rule(embedding_forward(1), "W")
    steps = list(rule.steps)
    steps[-1] = dataclasses.replace(steps[-1], rhs=steps[-1].rhs * 2)
    verdicts = prove_tensor_steps(dataclasses.replace(rule, steps=tuple(steps)))
    assert [ok for ok, _ in verdicts] == [True, True, False, True]


def test_proven_tensor_steps_keeps_verdicts_for_symgrad_s_layer_types(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    # The in-process memo first: a test earlier in the same worker that derived this conv kept its verdict there,
    # and the disk would never be asked (an order-dependent failure).
    proven_tensor_steps.cache_clear()
    rule = derive_rule(conv_forward((2, 2), (1, 1), (0, 0)), "b")
    first = proven_tensor_steps(Conv2d, rule)
    assert all(ok for ok, _ in first)
    assert (tmp_path / "proofs.json").exists()
