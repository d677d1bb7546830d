"""Matrix calculus through gradient(expr, wrt=, shapes=) (symgrad/derive/matrixcalc.py)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.derive import matrixcalc
from symgrad.errors import ShapeError, UnknownNameError, UnsafeExpressionError
from symgrad.matrixexpr import ZETA, ElementSum, Elementwise

n, m = sp.Symbol("n", integer=True, positive=True), sp.Symbol("m", integer=True, positive=True)
A, X = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("X", n, m)
x, a, b = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("a", n, 1), sp.MatrixSymbol("b", m, 1)
Amn, xn, bm = sp.MatrixSymbol("A", m, n), sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("b", m, 1)
exp_x = Elementwise(sp.exp(ZETA), x)

# (expression, wrt, shapes, the matrix form matrixcalculus.org gives)
EXAMPLES = [
    ("x.T*A*x", "x", {"x": ("n",), "A": ("n", "n")}, (A + A.T) * x),
    ("a.T*X*b", "X", {"a": ("n",), "X": ("n", "m"), "b": ("m",)}, a * b.T),
    ("trace(X.T*A*X)", "X", {"X": ("n", "m"), "A": ("n", "n")}, (A + A.T) * X),
    ("log(sum(exp(x)))", "x", {"x": ("n",)}, exp_x / ElementSum(exp_x)),
    ("norm(A*x - b)**2", "x", {"A": ("m", "n"), "x": ("n",), "b": ("m",)}, 2 * Amn.T * (Amn * xn - bm)),
]


@pytest.mark.parametrize(("expr", "wrt", "shapes", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_five_examples_give_the_matrix_forms_and_are_proven(expr, wrt, shapes, expected) -> None:
    derivation = symgrad.gradient(expr, wrt=wrt, shapes=shapes)
    assert derivation.gradient(wrt) == expected
    assert derivation.verified
    (step,) = derivation.steps(wrt)
    assert [sub.rule for sub in step.substeps][-2:] == ["eliminate the Kronecker deltas", "matrix form"]


def _finite_difference(f, values, name, h=1e-6):
    grad = np.zeros_like(values[name])
    for index in np.ndindex(values[name].shape):
        up, down = {k: v.copy() for k, v in values.items()}, {k: v.copy() for k, v in values.items()}
        up[name][index] += h
        down[name][index] -= h
        grad[index] = (f(**up) - f(**down)) / (2 * h)
    return grad


NUMERIC = {  # the same functions in NumPy, written here from their formulas
    "x.T*A*x": lambda x, A: float((x.T @ A @ x).item()),
    "a.T*X*b": lambda a, X, b: float((a.T @ X @ b).item()),
    "trace(X.T*A*X)": lambda X, A: float(np.trace(X.T @ A @ X)),
    "log(sum(exp(x)))": lambda x: float(np.log(np.sum(np.exp(x)))),
    "norm(A*x - b)**2": lambda A, x, b: float(np.sum((A @ x - b) ** 2)),
}


@pytest.mark.parametrize(("expr", "wrt", "shapes", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_lambdify_agrees_with_finite_differences(expr, wrt, shapes, expected) -> None:
    rng = np.random.default_rng(5)
    compiled = symgrad.gradient(expr, wrt=wrt, shapes=shapes).lambdify()
    sizes = {"n": 3, "m": 4}
    for _ in range(2):
        values = {name: rng.uniform(0.5, 1.5, (sizes[s[0]], 1) if len(s) == 1 else (sizes[s[0]], sizes[s[1]]))
                  for name, s in shapes.items()}
        got = compiled(**values)[wrt]
        want = _finite_difference(NUMERIC[expr], values, wrt)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_numeric_sizes_work_too() -> None:
    d = symgrad.gradient("x.T*A*x", wrt="x", shapes={"x": (3,), "A": (3, 3)})
    assert d.gradient("x") == (sp.MatrixSymbol("A", 3, 3) + sp.MatrixSymbol("A", 3, 3).T) * sp.MatrixSymbol("x", 3, 1)


def test_a_wrong_matrix_form_fails_its_proof() -> None:
    shapes = {"x": ("n",), "A": ("n", "n")}
    parsed = matrixcalc.parse_matrix_expression("x.T*A*x", shapes)
    forward = matrixcalc.IndexForward("f", (), parsed.body, matrixcalc._tensors(parsed), parsed.ranges)
    assert matrixcalc._prove_matrix(parsed, forward, "x", (A + A.T) * x)[0]
    ok, how = matrixcalc._prove_matrix(parsed, forward, "x", 2 * A * x)  # the transpose dropped
    assert not ok
    assert "disagrees with sympy.diff" in how


def test_bad_input_gives_symgrad_errors() -> None:
    with pytest.raises(UnknownNameError, match="unknown name 'B'"):
        symgrad.gradient("x.T*B*x", wrt="x", shapes={"x": ("n",), "A": ("n", "n")})
    with pytest.raises(ShapeError, match="inner sizes n and m differ"):
        symgrad.gradient("x.T*A*x", wrt="x", shapes={"x": ("n",), "A": ("m", "m")})
    with pytest.raises(UnknownNameError, match="cannot differentiate with respect to 'y'"):
        symgrad.gradient("x.T*A*x", wrt="y", shapes={"x": ("n",), "A": ("n", "n"), "y": ("n",)})
    with pytest.raises(ShapeError, match="needs a scalar"):
        symgrad.gradient("A*x", wrt="x", shapes={"x": ("n",), "A": ("n", "n")})
    with pytest.raises(ShapeError, match="cannot add"):
        symgrad.gradient("sum(A + x)", wrt="x", shapes={"x": ("n",), "A": ("n", "n")})
    with pytest.raises(UnsafeExpressionError, match=r"only \.T"):
        symgrad.gradient("x.__class__", wrt="x", shapes={"x": ("n",)})
    with pytest.raises(UnsafeExpressionError, match="function 'eval' is not allowed"):
        symgrad.gradient("eval(x)", wrt="x", shapes={"x": ("n",)})
    with pytest.raises(ShapeError, match="positive integer or a name"):
        symgrad.gradient("sum(x)", wrt="x", shapes={"x": (0,)})


def test_scalar_gradient_is_unchanged_without_shapes() -> None:
    d = symgrad.gradient("x**2*y")
    assert d.gradient("x") == 2 * sp.Symbol("x") * sp.Symbol("y")
    assert d.lambdify()(x=2.0, y=3.0) == {"x": 12.0, "y": 4.0}
