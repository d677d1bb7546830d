"""symgrad's own proofs: prove_equal and the entrywise proof of each matrix rule."""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad
from symgrad.derive.verify import matrix_rule_proof, prove_equal, prove_matrix_rule
from symgrad.functions import KINK_VALUES, sigmoid
from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.matrixexpr import Elementwise

z, w = sp.symbols("z w")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (sp.sin(z) ** 2 + sp.cos(z) ** 2, 1),
        (sigmoid(z) * (1 - sigmoid(z)), sp.exp(-z) / (1 + sp.exp(-z)) ** 2),
        (1 - sp.tanh(z) ** 2, 1 / sp.cosh(z) ** 2),
        ((z + w) ** 2, z**2 + 2 * z * w + w**2),
    ],
)
def test_prove_equal_accepts_identities(a, b):
    assert prove_equal(a, b)


@pytest.mark.parametrize(("a", "b"), [(z, 2 * z), (sigmoid(z), sigmoid(z) ** 2), (sp.tanh(z), sp.sinh(z))])
def test_prove_equal_rejects_differences(a, b):
    assert not prove_equal(a, b)


@pytest.mark.parametrize("kind", [Affine, Sigmoid, Tanh, ReLU])
def test_every_layer_rule_is_proven(kind):
    ok, how = prove_matrix_rule(kind)
    assert ok, how
    assert kind.__name__ in how
    assert "proven entrywise" in how


@pytest.mark.parametrize("kink", KINK_VALUES)
def test_relu_rule_is_proven_for_every_kink(kink):
    assert prove_matrix_rule(ReLU, kink)[0]


@pytest.mark.parametrize("kind", [HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy])
def test_every_loss_gradient_is_proven(kind):
    ok, how = prove_matrix_rule(kind)
    assert ok, how
    assert "gradient proven entrywise" in how


class DoubledWeightAffine(Affine):
    def matrix_vjp(self, upstream, x, params, *, kink=0):
        rules = super().matrix_vjp(upstream, x, params, kink=kink)
        return {**rules, "W": 2 * rules["W"]}


class NoDerivativeSigmoid(Sigmoid):
    """Forgets the local derivative: passes the upstream gradient straight through."""

    def matrix_vjp(self, upstream, x, params, *, kink=0):
        return {"input": upstream}


class SquaredSigmoidDerivative(Sigmoid):
    def matrix_vjp(self, upstream, x, params, *, kink=0):
        return {"input": sp.HadamardProduct(upstream, Elementwise(sigmoid(sp.Symbol("zeta")) ** 2, x))}


class DoubledHalfSquaredError(HalfSquaredError):
    def matrix_grad(self, y, t):
        return 2 * (y - t)


class BatchOnlyMeanSquaredError(MeanSquaredError):
    """Divides by N instead of N * M: a slip the proof must see."""

    def matrix_grad(self, y, t):
        from symgrad.matrixexpr import BATCH

        return (2 / BATCH) * (y - t)


@pytest.mark.parametrize(
    ("kind", "role"),
    [(DoubledWeightAffine, "W"), (NoDerivativeSigmoid, "input"), (SquaredSigmoidDerivative, "input")],
)
def test_wrong_layer_rules_are_caught_and_named(kind, role):
    ok, how = prove_matrix_rule(kind)
    assert not ok
    assert f"rule for {role} disagrees with sympy.diff" in how
    assert kind.__name__ in how


@pytest.mark.parametrize("kind", [DoubledHalfSquaredError, BatchOnlyMeanSquaredError])
def test_wrong_loss_gradients_are_caught(kind):
    ok, how = prove_matrix_rule(kind)
    assert not ok
    assert "gradient disagrees with sympy.diff" in how


def test_wrong_relu_kink_is_caught():
    class AlwaysKinkOne(ReLU):
        def matrix_vjp(self, upstream, x, params, *, kink=0):
            return super().matrix_vjp(upstream, x, params, kink=1)

    assert prove_matrix_rule(AlwaysKinkOne, 1)[0]
    # At a symbol relu_grad(x, 1) and relu_grad(x, 0) stay distinct, so the proof sees the kink setting.
    assert not prove_matrix_rule(AlwaysKinkOne, 0)[0]


def test_matrix_rule_proof_says_why_when_the_rule_is_wrong():
    ok, how = matrix_rule_proof(Affine(2, 3), 0)
    assert ok
    assert how.startswith("Affine rule proven entrywise")
    ok, why = matrix_rule_proof(DoubledWeightAffine(2, 3), 0)
    assert not ok
    assert "rule for W disagrees with sympy.diff" in why


def test_a_layer_that_cannot_be_built_small_is_unproven_not_a_crash():
    class FixedAffine(Affine):
        def __init__(self, name=None):
            super().__init__(3, 2, name=name)

    ok, how = prove_matrix_rule(FixedAffine)
    assert not ok
    assert "could not build FixedAffine(3, 2)" in how
    d = symgrad.derive(symgrad.Network([FixedAffine()], loss=HalfSquaredError()))
    assert not d.verified
    assert symgrad.check(d).ok  # the numbers are still checked


def test_the_default_kink_is_zero():
    class MaskReLU(ReLU):  # the book's mask: the derivative at 0 is taken as 0, whatever is asked
        def matrix_vjp(self, upstream, x, params, *, kink=0):
            return super().matrix_vjp(upstream, x, params, kink=0)

    assert prove_matrix_rule(MaskReLU)[0]
    assert not prove_matrix_rule(MaskReLU, 1)[0]


@pytest.mark.parametrize(
    ("kind", "how"),
    [
        (Affine, "Affine rule proven entrywise against sympy.diff (batch 2, 3 -> 2 features)"),
        (Tanh, "Tanh rule proven entrywise against sympy.diff (batch 2, 3 -> 3 features)"),
        (HalfSquaredError, "HalfSquaredError gradient proven entrywise against sympy.diff (batch 2, 2 outputs)"),
    ],
)
def test_the_proof_names_the_shapes_it_was_proven_on(kind, how):
    assert prove_matrix_rule(kind) == (True, how)
