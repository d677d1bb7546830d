"""Tests of symgrad.check.rules: spec layers' matrix rules as trees that evaluate, print and mutate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.check.rules import (
    Hadamard,
    MatMul,
    Node,
    OperandShapes,
    Plus,
    Power,
    Scale,
    Sum,
    Sym,
    Transpose,
    evaluate,
    rebuild,
    scaled,
    spec_rules,
    to_text,
)
from symgrad.errors import LayerError, ShapeError
from symgrad.matrixexpr import BATCH

ACTIVATIONS = [symgrad.ReLU(), symgrad.Sigmoid(), symgrad.Tanh()]
LOSSES = [symgrad.HalfSquaredError(), symgrad.MeanSquaredError(), symgrad.SoftmaxCrossEntropy()]


def _affine_point(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((4, 3)), "W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2),
            "dout": rng.standard_normal((4, 2))}


@pytest.mark.parametrize("seed", range(5))
def test_affine_rules_equal_the_layers_own_reference_backward(seed):
    env = _affine_point(seed)
    rules = spec_rules(symgrad.Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
    reference = symgrad.Affine(3, 2)
    reference.set_params({"W": env["W"], "b": env["b"]})
    np.testing.assert_allclose(evaluate(rules.forward, env), reference.forward(env["x"]), rtol=1e-13)
    np.testing.assert_allclose(evaluate(rules.grads["x"], env), reference.backward(env["dout"]), rtol=1e-13)
    np.testing.assert_allclose(evaluate(rules.grads["W"], env), reference.dW, rtol=1e-13)
    np.testing.assert_allclose(evaluate(rules.grads["b"], env).ravel(), reference.db, rtol=1e-13)


@pytest.mark.parametrize("spec", ACTIVATIONS, ids=repr)
def test_activation_rules_equal_the_layers_own_reference_backward(spec):
    rng = np.random.default_rng(0)
    env = {"x": rng.standard_normal((4, 3)), "dout": rng.standard_normal((4, 3))}
    rules = spec_rules(spec, x_shape=(4, 3), param_shapes={})
    reference = spec.fresh()
    np.testing.assert_allclose(evaluate(rules.forward, env), reference.forward(env["x"]), rtol=1e-13)
    np.testing.assert_allclose(evaluate(rules.grads["x"], env), reference.backward(env["dout"]), rtol=1e-13)


@pytest.mark.parametrize("spec", LOSSES, ids=repr)
def test_loss_rules_equal_the_layers_own_reference(spec):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((4, 3)), np.eye(3)[[0, 1, 2, 1]]
    env = {"x": x, "t": t, "dout": 2.5}
    rules = spec_rules(spec, x_shape=(4, 3), param_shapes={})
    reference = spec.fresh()
    assert float(evaluate(rules.forward, env)) == pytest.approx(float(reference.forward(x, t)), rel=1e-13)
    np.testing.assert_allclose(evaluate(rules.grads["x"], env), reference.backward(2.5), rtol=1e-13)


def test_activation_rules_work_on_any_shape():
    x = np.random.default_rng(2).standard_normal((2, 1, 3, 3))
    rules = spec_rules(symgrad.Tanh(), x_shape=x.shape, param_shapes={})
    np.testing.assert_allclose(evaluate(rules.grads["x"], {"x": x, "dout": np.ones_like(x)}), 1 - np.tanh(x) ** 2)


@pytest.mark.parametrize(
    ("spec", "texts"),
    [
        (symgrad.Affine(3, 2), {"x": "dout @ W.T", "W": "x.T @ dout", "b": "dout.sum(axis=0)"}),
        (symgrad.ReLU(), {"x": "dout * (x > 0)"}),
        (symgrad.Sigmoid(), {"x": "dout * out * (1 - out)"}),
        (symgrad.Tanh(), {"x": "dout * (1 - out**2)"}),
        (symgrad.HalfSquaredError(), {"x": "dout * (x - t)"}),
        (symgrad.MeanSquaredError(), {"x": "dout * 2 * (x - t) / (3*N)"}),
        (symgrad.SoftmaxCrossEntropy(), {"x": "dout * (softmax(x) - t) / N"}),
    ],
    ids=repr,
)
def test_rules_print_as_plain_text(spec, texts):
    shapes = {"W": (3, 2), "b": (2,)} if spec.roles else {}
    rules = spec_rules(spec, x_shape=(4, 3), param_shapes=shapes)
    assert {name: to_text(node, rules) for name, node in rules.grads.items()} == texts


@pytest.mark.parametrize(("kink", "text"), [(0, "(x > 0)"), (0.5, "heaviside(x, 0.5)"), (1, "(x >= 0)")])
def test_relu_kink_setting_prints_and_evaluates(kink, text):
    rules = spec_rules(symgrad.ReLU(), x_shape=(1, 3), param_shapes={}, kink=kink)
    assert to_text(rules.grads["x"], rules) == f"dout * {text}"
    value = evaluate(rules.grads["x"], {"x": np.array([[-1.0, 0.0, 2.0]]), "dout": np.ones((1, 3))})
    assert value.tolist() == [[0.0, kink, 1.0]]


def test_forward_prints_without_out():
    rules = spec_rules(symgrad.Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
    assert to_text(rules.forward) == "x @ W + b"
    relu = spec_rules(symgrad.ReLU(), x_shape=(4, 3), param_shapes={})
    assert to_text(relu.forward) == "relu(x)"


def test_user_names_replace_roles_in_text():
    rules = spec_rules(symgrad.Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
    assert to_text(rules.grads["x"], rules, {"W": "weight"}) == "dout @ weight.T"


def test_mismatched_product_names_its_shapes():
    env = {"x": np.ones((4, 3)), "W": np.ones((3, 2)), "dout": np.ones((4, 2))}
    with pytest.raises(OperandShapes) as caught:
        evaluate(MatMul((Sym("dout"), Sym("W"))), env)
    assert (caught.value.left, caught.value.right) == ((4, 2), (3, 2))
    assert str(caught.value) == "dout @ W: shapes (4, 2) and (3, 2) do not multiply"


def test_rebuild_changes_exactly_one_node_at_a_time():
    tree = MatMul((Transpose(Sym("x")), Transpose(Sym("dout"))))
    dropped = list(rebuild(tree, lambda n: n.arg if isinstance(n, Transpose) else None))
    assert [to_text(t) for t in dropped] == ["x @ dout.T", "x.T @ dout"]


def test_scaled_folds_coefficients():
    assert scaled(1, Sym("g")) == Sym("g")
    assert scaled(2, Scale(sp.Rational(1, 2), Sym("g"))) == Sym("g")
    assert to_text(scaled(1 / BATCH, Sum(Sym("dout")))) == "dout.sum(axis=0) / N"
    assert to_text(scaled(-2, Sym("g"))) == "-2 * g"


def test_shapes_the_spec_cannot_take_are_a_shape_error():
    with pytest.raises(ShapeError, match=r"the spec Affine\(3, 2\) cannot take x of shape \(4, 5\) with W \(3, 2\)"):
        spec_rules(symgrad.Affine(3, 2), x_shape=(4, 5), param_shapes={"W": (3, 2), "b": (2,)})


def test_unknown_expression_kind_is_a_layer_error():
    class Odd(symgrad.ReLU):
        def matrix_vjp(self, upstream, x, params, *, kink=0):
            return {"input": sp.Inverse(sp.MatrixSymbol("A", 3, 3))}

    with pytest.raises(LayerError, match="symgrad cannot yet use Inverse in a layer check"):
        spec_rules(Odd(), x_shape=(4, 3), param_shapes={})


def test_rule_trees_are_frozen_hashable_data():
    kinds = Node.__subclasses__()
    assert {Sym, Transpose, MatMul, Scale, Sum, Plus, Hadamard, Power}.issubset(kinds)
    for kind in kinds:
        assert dataclasses.is_dataclass(kind)
        assert kind.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]
    tree = Plus((Hadamard((Sym("a"), Sym("b"))), Power(Sym("a"), sp.Integer(2))))
    same = Plus((Hadamard((Sym("a"), Sym("b"))), Power(Sym("a"), sp.Integer(2))))
    assert tree == same
    assert hash(tree) == hash(same)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.terms = ()  # type: ignore[misc]


def test_entrywise_powers_print_and_evaluate():
    rng = np.random.default_rng(3)
    env = {"x": rng.standard_normal((4, 3)), "g": rng.standard_normal((4, 3))}
    assert to_text(Power(Sym("x"), sp.Integer(3))) == "x**3"
    summed = Power(Plus((Sym("x"), Sym("g"))), sp.Integer(2))
    assert to_text(summed) == "(x + g)**2"
    np.testing.assert_allclose(evaluate(summed, env), (env["x"] + env["g"]) ** 2, rtol=1e-15)


def test_a_scalar_input_is_a_batch_of_one():
    g = np.array([[1.5, -2.5]])
    np.testing.assert_allclose(evaluate(scaled(1 / BATCH, Sym("g")), {"x": 0.7, "g": g}), g, rtol=1e-15)
    np.testing.assert_allclose(evaluate(scaled(1 / BATCH, Sym("g")), {"x": np.ones((4, 2)), "g": g}), g / 4)
