"""derive(): the chain rule across layers, for the article's network and for batched MLPs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import (
    Affine,
    HalfSquaredError,
    MeanSquaredError,
    Network,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Step,
    Tanh,
    UnknownNameError,
)
from symgrad.matrixexpr import BATCH

x, t, w1, b1, w2, b2 = sp.symbols("x t w1 b1 w2 b2")
h = w1 * x + b1
y = w2 * h + b2
# The article's closed forms.
CLOSED_FORMS = {
    "w1": w2 * x * (y - t),
    "b1": w2 * (y - t),
    "w2": h * (y - t),
    "b2": y - t,
    "x": w1 * w2 * (y - t),
}


@pytest.fixture(scope="module")
def article():
    return symgrad.derive(symgrad.article_network())


def text(step: Step) -> str:
    return f"{step.lhs} = {step.rhs}"


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_article_gradients_equal_the_closed_forms(article, name):
    assert sp.simplify(article.gradient(name) - CLOSED_FORMS[name]) == 0


def test_article_every_step_is_verified(article):
    assert article.wrt == ("w1", "b1", "w2", "b2", "x")
    assert article.verified
    for name in article.wrt:
        for step in article.steps(name):
            assert isinstance(step, Step)
            assert step.verified, (name, text(step), step.proof)
            assert step.proof


def test_article_forward_steps_are_f1_and_f2(article):
    (first, second, loss) = article.forward
    assert str(first.lhs) == "h"
    assert sp.expand(first.rhs - h) == 0
    assert str(second.lhs) == "y"
    assert sp.expand(second.rhs - (w2 * sp.Symbol("h") + b2)) == 0
    assert "affine" in first.rule
    assert "affine" in second.rule
    assert str(loss.lhs) == "E"
    assert sp.expand(loss.rhs - (sp.Symbol("y") - t) ** 2 / 2) == 0


def test_article_steps_for_w1_name_what_the_article_names(article):
    dy, dh, dw1, dw2 = (sp.Symbol(f"dE/d{n}") for n in ("y", "h", "w1", "w2"))
    hs, ys = sp.Symbol("h"), sp.Symbol("y")
    # The chain for w1, and nothing off it: dE/dy = y - t, dE/dh = dE/dy * w2 (the article's
    # comment A), dE/dw1 = dE/dh * x.
    expected = [(dy, ys - t), (dh, dy * w2), (dw1, dh * x)]
    steps = article.steps("w1")
    chain = [s for s in steps if s.rule in ("loss derivative", "chain rule")]
    assert [(s.lhs, sp.expand(s.rhs)) for s in chain] == [(lhs, sp.expand(rhs)) for lhs, rhs in expected]
    assert dw2 not in [s.lhs for s in steps]
    # The article's dE/dw2 = dE/dy * h (its comment B) is the chain for w2.
    assert [(s.lhs, s.rhs) for s in article.steps("w2")][:2] == [(dy, ys - t), (dw2, dy * hs)]
    # Then the result expanded in the inputs, last.
    assert steps[-1].lhs == dw1
    assert sp.expand(steps[-1].rhs - w2 * x * (w2 * (w1 * x + b1) + b2 - t)) == 0
    assert steps[-1].rule == "substitute the forward pass"


def test_steps_of_a_single_parameter_skip_what_was_not_asked_for():
    d = symgrad.derive(symgrad.article_network(), wrt="w1")
    assert d.wrt == ("w1",)
    assert [str(s.lhs) for s in d.steps("w1")][:3] == ["dE/dy", "dE/dh", "dE/dw1"]
    with pytest.raises(UnknownNameError, match="no gradient with respect to 'w2'"):
        d.steps("w2")


def test_steps_for_the_last_layer_do_not_go_further_down(article):
    assert [str(s.lhs) for s in article.steps("b2")] == ["dE/dy", "dE/db2", "dE/db2", "dE/db2"]


def test_step_str_and_repr_do_not_crash(article):
    for step in article.steps("x"):
        assert str(step.lhs) in str(step)
        assert repr(step).startswith("Step(lhs=")
    assert repr(article).startswith("<Derivation")


def test_lambdify_takes_keywords_and_returns_every_gradient(article):
    grad = article.lambdify()
    out = grad(x=1.5, t=0.5, w1=0.8, b1=-0.3, w2=1.7, b2=0.2)
    assert set(out) == set(article.wrt)
    hv = 0.8 * 1.5 - 0.3
    yv = 1.7 * hv + 0.2
    assert out["w1"] == pytest.approx(1.7 * 1.5 * (yv - 0.5), rel=1e-14)
    assert article.lambdify() is grad  # compiled once


@pytest.mark.parametrize(
    ("wrt", "match"),
    [(["w3"], "cannot differentiate with respect to 'w3'"), (["t"], "'t'"), ([], "wrt is empty"), ([1], "1")],
)
def test_derive_refuses_unknown_names(wrt, match):
    with pytest.raises(UnknownNameError, match=match):
        symgrad.derive(symgrad.article_network(), wrt=wrt)


@pytest.mark.parametrize("thing", ["3*x + 4*y", None, [Affine(2, 2)]])
def test_derive_takes_only_networks(thing):
    with pytest.raises(UnknownNameError, match="derive\\(\\) takes a symgrad Network"):
        symgrad.derive(thing)


def test_derive_refuses_a_bad_kink():
    with pytest.raises(UnknownNameError, match="kink must be"):
        symgrad.derive(symgrad.article_network(), kink=2)


@pytest.mark.parametrize("batched", [False, True], ids=["scalar", "batched"])
@pytest.mark.parametrize(("kink", "factor"), [(0, 0.0), (0.5, 0.5), (1, 1.0)])
def test_kink_setting_changes_the_derivative_at_exactly_zero(batched, kink, factor):
    layers = [Affine(1, 1), ReLU(), Affine(1, 1)] if batched else [Affine(), ReLU(), Affine()]
    net = Network(layers, loss=HalfSquaredError())
    d = symgrad.derive(net, kink=kink)
    values = {"x": 1.0, "t": -1.0, "w1": 0.5, "b1": -0.5, "w2": 2.0, "b2": 0.3}  # ReLU input w1*x + b1 = 0
    if batched:  # the same numbers as 1 x 1 matrices, and biases of length 1
        values = {name.upper() if name[0] == "w" else name: np.full((1,) if name[0] == "b" else (1, 1), value)
                  for name, value in values.items()}
    out = d.lambdify()(**values)
    # dE/dy = y - t = 0.3 + 1 (relu(0) = 0); dE/dW1 = dE/dy * w2 * relu'(0) * x.
    assert float(np.asarray(out["W1" if batched else "w1"]).item()) == pytest.approx(1.3 * 2.0 * factor, abs=1e-15)
    assert float(np.asarray(out["W2" if batched else "w2"]).item()) == pytest.approx(0.0, abs=1e-15)


def mlp(width: int, loss, inputs: int = 3, outputs: int = 2) -> Network:
    return Network(
        [Affine(inputs, width), Sigmoid(), Affine(width, width), Tanh(), Affine(width, width), ReLU(),
         Affine(width, outputs)],
        loss=loss,
    )


def test_batched_parameter_shapes_in_the_derivation():
    d = symgrad.derive(Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError()))
    assert d.shapes["W1"] == (3, 4)
    assert d.shapes["b1"] == (4,)
    assert d.shapes["x"] == (BATCH, 3)
    assert d.steps("W1")[-1].shape == (3, 4)
    assert d.steps("b1")[-1].shape == (4,)
    assert d.steps("x")[-1].shape == (BATCH, 3)
    assert d.verified


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), HalfSquaredError(), MeanSquaredError()],
                         ids=["softmax-ce", "half-squared", "mean-squared"])
def test_depth4_mlp_derives_through_every_layer(loss):
    d = symgrad.derive(mlp(4, loss))
    assert d.verified
    chain = [str(s.lhs) for s in d.steps("W1")]
    for node in ("dE/dy", "dE/dh6", "dE/dh5", "dE/dh4", "dE/dh3", "dE/dh2", "dE/dh1", "dE/dW1"):
        assert node in chain
    assert chain.index("dE/dh6") < chain.index("dE/dh1") < chain.index("dE/dW1")
    rules = {s.rule for s in d.steps("W1")}
    assert "chain rule (matrix form)" in rules


def test_width_1024_has_the_same_steps_as_width_8():
    small, large = symgrad.derive(mlp(8, HalfSquaredError())), symgrad.derive(mlp(1024, HalfSquaredError()))
    assert small.wrt == large.wrt
    for name in small.wrt:
        a, b = small.steps(name), large.steps(name)
        assert [(text(s), s.rule, s.verified, s.proof) for s in a] == [
            (text(s), s.rule, s.verified, s.proof) for s in b
        ]
    assert large.steps("W2")[-1].shape == (1024, 1024)
    assert small.steps("W2")[-1].shape == (8, 8)


def test_regression_sympy_matrix_diff_wrong_through_elementwise_activation_at_n_equals_h():
    """SymPy's own MatrixSymbol ``.diff(W1)`` for x -> Affine -> sigmoid -> Affine -> squared error
    returns dE/dW1 and dE/dx with a second Hadamard term of transposed shape (W1.T x.T), which only
    type-checks when N == H and is then silently wrong. symgrad must be right exactly there."""
    n = hidden = 3
    net = Network([Affine(2, hidden), Sigmoid(), Affine(hidden, 1)], loss=HalfSquaredError())
    d = symgrad.derive(net)
    # One Hadamard product through the sigmoid, of shape (N, H); no transposed twin.
    collected = d.steps("W1")[-2].rhs
    hadamards = [node for node in sp.preorder_traversal(collected) if isinstance(node, sp.HadamardProduct)]
    assert len(hadamards) == 1
    assert all(arg.shape == (BATCH, hidden) for arg in hadamards[0].args)

    # Entrywise: E written out with a symbol per entry, differentiated by sympy.diff.
    X = sp.Matrix(n, 2, lambda i, j: sp.Symbol(f"x{i}{j}"))
    W1 = sp.Matrix(2, hidden, lambda i, j: sp.Symbol(f"W1_{i}{j}"))
    B1 = sp.Matrix(1, hidden, lambda i, j: sp.Symbol(f"b1_{j}"))
    W2 = sp.Matrix(hidden, 1, lambda i, j: sp.Symbol(f"W2_{i}"))
    B2, T = sp.Symbol("b2"), sp.Matrix(n, 1, lambda i, j: sp.Symbol(f"t{i}"))
    hidden_out = (X * W1 + sp.ones(n, 1) * B1).applyfunc(lambda z: 1 / (1 + sp.exp(-z)))
    E = sum(e**2 for e in (hidden_out * W2 + sp.ones(n, 1) * B2 - T)) / 2
    symbols = [*X, *W1, *B1, *W2, B2, *T]
    exact = sp.lambdify(symbols, [sp.Matrix(2, hidden, lambda i, j: E.diff(W1[i, j])),
                                  sp.Matrix(n, 2, lambda i, j: E.diff(X[i, j]))], "numpy")

    rng = np.random.default_rng(7)
    values = {"x": rng.standard_normal((n, 2)), "t": rng.standard_normal((n, 1)),
              "W1": rng.standard_normal((2, hidden)), "b1": rng.standard_normal(hidden),
              "W2": rng.standard_normal((hidden, 1)), "b2": rng.standard_normal(1)}
    flat = [*values["x"].ravel(), *values["W1"].ravel(), *values["b1"], *values["W2"].ravel(), values["b2"][0],
            *values["t"].ravel()]
    dW1, dx = (np.asarray(m, dtype=float) for m in exact(*flat))
    got = d.lambdify()(**values)
    np.testing.assert_allclose(got["W1"], dW1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got["x"], dx, rtol=1e-12, atol=1e-14)
    report = symgrad.check(d, values)
    assert report.ok, [row.message for row in report.failures]


class WrongRuleAffine(Affine):
    """An Affine whose matrix rule for W is twice the truth (its reference backward is right)."""

    def matrix_vjp(self, upstream, x, params, *, kink=0):
        rules = super().matrix_vjp(upstream, x, params, kink=kink)
        return {**rules, "W": 2 * rules["W"]}


def test_a_wrong_matrix_rule_is_not_verified():
    d = symgrad.derive(Network([WrongRuleAffine(2, 3), Sigmoid(), Affine(3, 1)], loss=HalfSquaredError()))
    assert not d.verified
    w_step = next(s for s in d.steps("W1") if s.rule == "chain rule (matrix form)" and str(s.lhs) == "dE/dW1")
    assert not w_step.verified
    assert all(s.verified for s in d.steps("W2"))


def test_derive_twice_gives_identical_steps():
    net = mlp(3, SoftmaxCrossEntropy())
    first, second = symgrad.derive(net), symgrad.derive(net)
    for name in first.wrt:
        assert [str(s) for s in first.steps(name)] == [str(s) for s in second.steps(name)]
    a, b = symgrad.derive(symgrad.article_network()), symgrad.derive(symgrad.article_network())
    assert [str(s) for s in a.steps("x")] == [str(s) for s in b.steps("x")]
    assert [str(s) for s in a.forward] == [str(s) for s in b.forward]


_SCRIPT = """
import symgrad
from symgrad import Affine, ReLU, Network, SoftmaxCrossEntropy
for net in (symgrad.article_network(),
            Network([Affine(3, 4), ReLU(), Affine(4, 2)], loss=SoftmaxCrossEntropy())):
    d = symgrad.derive(net)
    for name in d.wrt:
        for step in d.steps(name):
            print(step)
    print(symgrad.check(net, seed=3).rows)
"""


def test_derivation_and_check_are_identical_across_processes():
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, check=True)
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert "dE/dW1" in outputs[0]


def _titled(title: str) -> Network:
    layers = [Affine(3, 4), Sigmoid(), Affine(4, 4), ReLU(), Affine(4, 2)]
    return Network(layers, loss=SoftmaxCrossEntropy(), title=title)


def _pass_through_rule(self, upstream, x, params, *, kink=0):
    return {"input": upstream}


def test_a_rule_patched_after_a_derivation_is_used_not_the_remembered_one(monkeypatch):
    # derive() remembers each layer's matrix rule by layer and symbols; a patched method is a different rule.
    before = symgrad.derive(_titled("before"))
    # As if activations.py had been edited (a rule from elsewhere is never remembered at all).
    monkeypatch.setattr(_pass_through_rule, "__module__", "symgrad.layers.activations")
    monkeypatch.setattr(Sigmoid, "matrix_vjp", _pass_through_rule)
    after = symgrad.derive(_titled("after"))
    assert dict(before.program) != dict(after.program)
    assert not after.verified
    values = symgrad.check(before, seed=1).values
    grad_before, grad_after = before.lambdify()(**values), after.lambdify()(**values)
    assert not np.allclose(grad_before["W1"], grad_after["W1"])


def test_a_new_network_of_known_layers_reuses_the_compiled_code_and_gets_its_own_steps():
    first = symgrad.derive(_titled("first"))
    second = symgrad.derive(_titled("second"))
    relu = symgrad.derive(_titled("third"), kink=1)
    assert first.lambdify().function is second.lambdify().function  # printed once, by structure
    assert relu.lambdify().function is not first.lambdify().function  # relu'(0) = 1 is another program
    assert second.lambdify().derivation is second
    assert second.title == "second"
    assert [str(s) for s in first.steps("W1")] == [str(s) for s in second.steps("W1")]


def test_check_does_not_collect_the_steps_it_does_not_need():
    d = symgrad.derive(_titled("lazy steps"))
    assert symgrad.check(d, mode="fast").ok
    assert "parts" not in vars(d._steps._gradients)  # the steps are collected on first reading
    assert d.steps("W1")[-1].rule == "substitute the forward pass"
    assert "parts" in vars(d._steps._gradients)
    assert list(d._results) == list(d.wrt)


@pytest.mark.parametrize("batched", [False, True], ids=["article", "batched"])
def test_forward_definitions_and_the_loss_are_marked_verified(article, batched):
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    forward = symgrad.derive(net).forward if batched else article.forward
    assert [str(s.lhs) for s in forward][-1] == "E"
    assert all(s.verified for s in forward)
    assert [s.proof for s in forward] == ["definition"] * len(forward)


def test_the_program_computes_only_the_gradients_the_asked_names_need():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    assert [str(s) for s, _ in symgrad.derive(net, wrt="W2").program] == ["h1", "h2", "y", "dE/dy", "dE/dW2"]
    assert [str(s) for s, _ in symgrad.derive(net, wrt=("W1",)).program][3:] == [
        "dE/dy", "dE/dh2", "dE/dh1", "dE/dW1"]


def test_a_unit_local_derivative_leaves_the_upstream_gradient_alone(article):
    dy = sp.Symbol("dE/dy")
    step = article.steps("b2")[1]
    assert (step.lhs, step.rhs, step.rule) == (sp.Symbol("dE/db2"), dy, "chain rule")
    assert article.steps("w2")[1].rhs == sp.Mul(dy, sp.Symbol("h"), evaluate=False)


@pytest.mark.parametrize("batched", [False, True], ids=["article", "batched"])
def test_chain_rule_steps_say_in_words_which_local_derivative_they_take(article, batched):
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    d, name = (symgrad.derive(net), "W2") if batched else (article, "b2")
    step = next(s for s in d.steps(name) if s.rule.startswith("chain rule"))
    assert step.note == (
        f"The upstream gradient dE/dy times the local derivative of affine's output with respect to {name}."
    )


def test_steps_are_frozen_and_unverified_unless_said():
    step = Step(x, 1, "identity")
    assert (step.verified, step.proof, step.note, step.substeps, step.shape) == (False, "", "", (), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.verified = True  # type: ignore[misc]


def test_a_derivation_is_frozen_and_equal_only_to_itself(article):
    again = symgrad.derive(symgrad.article_network())
    assert article != again
    assert len({article, again}) == 2  # hashable by identity: caches key on it
    with pytest.raises(dataclasses.FrozenInstanceError):
        article.wrt = ("x",)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("activation", "derivative"),
    [("sigmoid", "(1 - sigmoid(z))*sigmoid(z)"), ("tanh", "1 - tanh(z)**2"),
     ("act(z*sigmoid(z), name=swish)", "z*(1 - sigmoid(z))*sigmoid(z) + sigmoid(z)")],
)
def test_a_batched_activation_step_derives_its_derivative_by_elementary_steps(activation, derivative):
    # Before: scalar networks showed f' derived rule by rule, batched ones only its result inside G ∘ f'(Z).
    net = symgrad.network_from_spec(f"affine(3,4) > {activation} > affine(4,2) > half-squared-error")
    step = next(s for s in symgrad.derive(net).steps("W1") if str(s.lhs) == "dE/dh1")
    assert step.substeps, "no elementary steps under the activation's rule"
    assert all(sub.verified for sub in step.substeps)
    expected = sp.sympify(derivative, locals={"sigmoid": symgrad.functions.sigmoid})  # a literal of this test
    assert sp.simplify(step.substeps[-1].rhs - expected) == 0
