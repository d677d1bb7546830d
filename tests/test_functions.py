"""The SymPy functions sigmoid, relu and relu_grad, and the ReLU kink setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symgrad.errors import UnknownNameError
from symgrad.functions import KINK_VALUES, kink_value, relu, relu_grad, sigmoid, with_kink

z = sp.Symbol("z")


def test_sigmoid_derivative_equals_sympy_diff_of_the_logistic_formula():
    logistic = 1 / (1 + sp.exp(-z))
    assert sp.simplify(sp.diff(sigmoid(z), z).rewrite(sp.exp) - sp.diff(logistic, z)) == 0
    assert sp.simplify(sigmoid(z).rewrite(sp.exp) - logistic) == 0


def test_sigmoid_values():
    assert sigmoid(0) == sp.S.Half
    assert float(sigmoid(sp.Integer(2)).evalf()) == pytest.approx(1 / (1 + math.exp(-2)), rel=1e-15)
    assert sigmoid(sp.Symbol("r", real=True)).is_real


def test_sigmoid_prints_to_numpy():
    f = sp.lambdify(z, sigmoid(z), "numpy")
    values = np.array([-3.0, 0.0, 0.5, 4.0])
    np.testing.assert_allclose(f(values), 1 / (1 + np.exp(-values)), rtol=1e-15)


def test_relu_values_and_derivative():
    assert relu(-2) == 0
    assert relu(3) == 3
    assert relu(sp.Symbol("p", positive=True)) == sp.Symbol("p", positive=True)
    assert isinstance(relu(z), relu)
    assert sp.diff(relu(z), z) == relu_grad(z, 0)
    assert relu(z).rewrite(sp.Max) == sp.Max(0, z)


def test_relu_prints_to_numpy_and_keeps_complex_steps():
    f = sp.lambdify(z, relu(z), "numpy")
    np.testing.assert_array_equal(f(np.array([-1.5, 0.0, 2.5])), [0.0, 0.0, 2.5])
    # The complex step must see d relu / dz = 1 above 0 and 0 below.
    assert f(np.array(2.0 + 1e-20j)).imag == pytest.approx(1e-20)
    assert f(np.array(-2.0 + 1e-20j)).imag == 0.0


@pytest.mark.parametrize("kink", KINK_VALUES)
def test_relu_grad_is_zero_below_one_above_kink_at_zero(kink):
    assert relu_grad(sp.Integer(-3), kink) == 0
    assert relu_grad(sp.Rational(1, 5), kink) == 1
    assert relu_grad(sp.Integer(0), kink) == kink
    assert sp.diff(relu_grad(z, kink), z) == 0
    f = sp.lambdify(z, relu_grad(z, kink), "numpy")
    np.testing.assert_array_equal(f(np.array([-1.0, 0.0, 1.0])), [0.0, float(kink), 1.0])


def test_with_kink_replaces_every_relu_grad():
    y = sp.Symbol("y")
    expr = relu_grad(z, 0) * y + relu_grad(y, 0)
    assert with_kink(expr, 1) == relu_grad(z, 1) * y + relu_grad(y, 1)
    # At z = 0, y = 2: relu'(0) * 2 + relu'(2) = kink * 2 + 1.
    assert with_kink(expr, 0.5).subs({z: 0, y: 2}) == 2
    assert with_kink(expr, 0).subs({z: 0, y: 2}) == 1


@pytest.mark.parametrize(
    ("kink", "expected"),
    [(0, 0), (1, 1), (0.5, sp.S.Half), (1.0, 1), (sp.Rational(1, 2), sp.S.Half), (np.float64(0.5), sp.S.Half),
     (np.int64(1), 1)],
)
def test_kink_value_accepts_the_three_settings(kink, expected):
    assert kink_value(kink) == expected


@pytest.mark.parametrize("kink", [2, -1, 0.3, True, "1/2", "0", None, float("nan"), float("inf"), sp.Symbol("k")])
def test_kink_value_refuses_anything_else(kink):
    with pytest.raises(UnknownNameError, match="kink must be 0, 1/2 or 1"):
        kink_value(kink)
