"""derive() over a graph: one backward sweep, the path to one name, and the combinations' rules proven."""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, Tanh
from symgrad.derive import graphops


def test_the_combinations_rules_are_proven_entrywise() -> None:
    for kind in graphops.RULE_WORDS:
        assert graphops.op_rule_proof(kind, False, 3)[0], kind
        if kind not in ("matmul", "concat"):
            assert graphops.op_rule_proof(kind, True)[0], kind


def test_a_wrong_combination_rule_fails_its_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    right = graphops.op_vjp

    def lost_sign(kind, upstream, args, const=None):  # type: ignore[no-untyped-def]
        rules = right(kind, upstream, args, const)
        return [-rules[0], *rules[1:]] if kind == "matmul" else rules  # a lost sign

    monkeypatch.setattr(graphops, "op_vjp", lost_sign)
    graphops._prove.cache_clear()
    try:
        ok, how = graphops.op_rule_proof("matmul", False)
    finally:
        monkeypatch.undo()
        graphops._prove.cache_clear()
    assert not ok
    assert "operand 1" in how


def test_a_layer_output_times_a_weight_matrix() -> None:
    x, t = Input("x", 3), Input("t", 2)
    read = Affine(4, 2)
    h = Tanh()(Affine(3, 4)(x))
    net = Network(HalfSquaredError()(h @ read.param("W"), t) + symgrad.total(read(h)))
    d = symgrad.derive(net)
    assert d.verified
    step = next(s for s in d.steps("W2") if str(s.lhs) == "dE/dW2")
    assert step.rule.startswith("sum over 2 paths (W2 feeds h3 and h5)")
    assert symgrad.check(net, batch=3).ok


def test_steps_show_the_path_to_one_name_only() -> None:
    x, t = Input("x", 2), Input("t", 2)
    first, second = Affine(2, 2), Affine(2, 2)
    d = symgrad.derive(Network(HalfSquaredError()(x + second(Tanh()(first(x))), t)))
    path = [str(step.lhs) for step in d.steps("W2")]
    assert path == ["dE/dh4", "dE/dh3", "dE/dW2", "dE/dW2", "dE/dW2"]
    assert "dE/dx" not in [str(step.lhs) for step in d.steps("W1")]
    x_fork = next(step for step in d.steps("x") if str(step.lhs) == "dE/dx")
    assert isinstance(x_fork.rhs, sp.MatAdd)
    assert "sum over 2 paths (x feeds h1 and h4)" in x_fork.rule
    assert "sum of their contributions" in x_fork.note


def test_a_wrong_scalar_step_is_not_proven(monkeypatch: pytest.MonkeyPatch) -> None:
    from symgrad.derive import graph

    right = graph._direct
    monkeypatch.setattr(graph, "_direct", lambda sweep, name, in_inputs: 2 * right(sweep, name, in_inputs))
    x, t = Input("x"), Input("t")
    d = symgrad.derive(Network(HalfSquaredError()(Affine()(x) + x, t)))
    assert not d.verified
    assert "NOT equal" in d.steps("x")[0].proof


def test_collected_expressions_too_large_to_read_are_left_out_of_the_steps() -> None:
    """Regression: an RNN's collected gradient repeats whole subtrees at every step (the tree doubles), and
    printing it made the document of an 8-step RNN take minutes. Such tails are left out; gradient() keeps them."""
    from symgrad.derive.graph import MAX_SHOWN, tree_size

    xs = [Input(f"x{step}", 2) for step in range(8)]
    into, across = Affine(2, 3, name="x"), Affine(3, 3, name="h")
    h = Tanh()(into(xs[0]))
    for x in xs[1:]:
        h = Tanh()(into(x) + across(h))
    d = symgrad.derive(Network(HalfSquaredError()(h, Input("t", 3))))
    assert tree_size(d.gradient("x0")) > MAX_SHOWN
    rules = [step.rule for step in d.steps("x0")]
    assert "substitute the forward pass" not in rules
    assert all(tree_size(step.rhs) <= MAX_SHOWN for step in d.steps("x0") if step.rule.startswith("substitute"))
    small = symgrad.derive(Network(HalfSquaredError()(Tanh()(Affine(2, 2)(Input("x", 2))), Input("t", 2))))
    assert [step.rule for step in small.steps("x")][-2:] == ["substitute the upstream gradients",
                                                             "substitute the forward pass"]


def test_collected_gradients_keep_the_loss_derivative_factored() -> None:
    """Regression (issue 12): substituting dE/dy = y - t before collecting a fork's sum scattered it,
    ``dE/dx = h2 + w1*(h2 - t) - t`` for a residual graph; it reads ``(1 + w1)(h2 - t)`` now."""
    from symgrad.render.dispatch import render

    d = symgrad.derive(symgrad.network_from_spec("residual(affine) > half-squared-error"))
    w1, h2, t, x, b1 = sp.symbols("w1 h2 t x b1")
    collected, forward = d.steps("x")[-2:]
    assert collected.rhs == (1 + w1) * (h2 - t)
    assert forward.rhs == (1 + w1) * (b1 + x + w1 * x - t)
    latex = render(d, "latex")
    assert r"\frac{\partial E}{\partial x} &= \left(1 + w_{1}\right) \left(h_{2} - t\right) \tag*" in latex
    assert r"$\frac{\partial E}{\partial x} = \left(1 + w_{1}\right) \left(h_{2} - t\right)$" in render(d, "markdown")
    tanh = symgrad.derive(symgrad.network_from_spec(
        "affine > residual(affine > tanh) > half-squared-error + weight-decay(0.1)"))
    w2, h4, h2b = sp.symbols("w2 h4 h2")
    assert tanh.steps("w1")[-2].rhs == sp.Float(0.2) * w1 + x * (1 + w2 * (1 - sp.tanh(h2b) ** 2)) * (h4 - t)
