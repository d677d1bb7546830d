"""Sigmoid, Tanh, ReLU and a user's formula are one generic elementwise layer (symgrad/layers/activations.py).

No activation writes its backward rule by hand: each names its scalar function, and the rule
G o f'(x) comes from sympy.diff of it. The built-ins keep their textbook NumPy references.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.check.rules import evaluate, spec_rules
from symgrad.functions import relu_grad, sigmoid
from symgrad.layers.activations import Activation
from symgrad.matrixexpr import ZETA, Elementwise


@pytest.mark.parametrize("cls", [symgrad.Sigmoid, symgrad.Tanh, symgrad.ReLU])
def test_a_built_in_activation_writes_no_rule_of_its_own(cls):
    assert issubclass(cls, Activation)
    assert "matrix_vjp" not in vars(cls)
    assert "derivative" not in vars(cls)
    assert "function" in vars(cls)  # its one fact


@pytest.mark.parametrize(
    ("layer", "derivative"),
    [
        (symgrad.Sigmoid(), sigmoid(ZETA) * (1 - sigmoid(ZETA))),
        (symgrad.Tanh(), 1 - sp.tanh(ZETA) ** 2),
        (symgrad.ReLU(), relu_grad(ZETA, 0)),
        (symgrad.activation("z*sigmoid(z)"), sigmoid(ZETA) + ZETA * sigmoid(ZETA) * (1 - sigmoid(ZETA))),
    ],
)
def test_the_rule_is_the_upstream_gradient_times_the_derived_derivative(layer, derivative):
    x, g = sp.MatrixSymbol("x", 3, 2), sp.MatrixSymbol("G", 3, 2)
    rule = layer.matrix_vjp(g, x, {})["input"]
    assert isinstance(rule, sp.HadamardProduct)
    assert rule.args[0] == g
    (applied,) = [a for a in rule.args if isinstance(a, Elementwise)]
    assert sp.simplify(applied.body - derivative) == 0


@pytest.mark.parametrize("kink", [0, sp.S.Half, 1])
def test_relu_keeps_its_kink_convention_in_the_derived_rule(kink):
    rules = spec_rules(symgrad.ReLU(), x_shape=(1, 3), param_shapes={}, kink=kink)
    env = {"x": np.array([[-1.0, 0.0, 2.0]]), "dout": np.array([[5.0, 5.0, 5.0]])}
    assert evaluate(rules.grads["x"], env).tolist() == [[0.0, 5.0 * float(kink), 5.0]]


def test_relu_reference_backward_takes_the_mask_at_zero():
    layer = symgrad.ReLU()
    layer.forward(np.array([-1.0, 0.0, 2.0]))
    assert layer.backward(np.array([5.0, 5.0, 5.0])).tolist() == [0.0, 0.0, 5.0]


@pytest.mark.parametrize(("cls", "from_cache"), [(symgrad.Sigmoid, 0.25), (symgrad.Tanh, 0.75)])
def test_a_built_in_reference_backward_is_its_own_textbook_code_not_the_derived_rule(cls, from_cache):
    # The textbook reference stays the independent third side: it reads its cached output (DLFS style),
    # so a tampered cache changes what it returns, while the derived rule depends on x alone.
    layer = cls()
    x = np.random.default_rng(0).normal(size=(4, 3))
    layer.forward(x)
    dout = np.random.default_rng(1).normal(size=(4, 3))
    rules = spec_rules(cls(), x_shape=x.shape, param_shapes={})
    assert np.allclose(layer.backward(dout), evaluate(rules.grads["x"], {"x": x, "dout": dout}), rtol=1e-14)
    layer.out = np.full_like(x, 0.5)
    assert np.allclose(layer.backward(dout), from_cache * dout, rtol=1e-15)


@pytest.mark.parametrize("spec", ["sigmoid", "tanh", "relu"])
def test_built_in_networks_still_agree_three_ways(spec):
    net = symgrad.network_from_spec(f"affine(3,4) > {spec} > affine(4,2) > softmax-cross-entropy")
    assert symgrad.derive(net).verified
    assert symgrad.check(net, seed=2).ok
