"""Each layer's matrix rule, re-proven here independently of symgrad.derive.verify.

symgrad proves its rules (``prove_matrix_rule``) at one small shape, against
the layers' own symbolic forwards. These tests prove them again at another
shape (N = 3, D = 2, M = 4), against forwards written out here from textbook
formulas: for a layer ``F`` and an upstream gradient ``G`` (a symbol per entry),
entry (i, j) of the claimed gradient must equal ``sympy.diff`` of the scalar
``sum(G o F)`` with respect to entry (i, j) of the input or parameter.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad.errors import ShapeError
from symgrad.functions import KINK_VALUES
from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.matrixexpr import BATCH

N, D, M = 3, 2, 4


def entries(name: str, rows: int, cols: int, **assumptions: bool) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", **assumptions))


def explicit(expr: sp.Basic, mapping: dict[sp.Basic, sp.Matrix]) -> sp.Matrix:
    """A layer's matrix expression with explicit matrices in place of its symbols."""
    frozen = {key: sp.ImmutableMatrix(value) for key, value in mapping.items()}
    value = expr.xreplace(frozen).subs(BATCH, N).doit()
    return sp.Matrix(value.as_explicit())


def assert_entrywise(claimed: sp.Matrix, scalar: sp.Expr, wrt: sp.Matrix, *, rewrite: bool = False) -> None:
    assert claimed.shape == wrt.shape
    for i in range(wrt.rows):
        for j in range(wrt.cols):
            direct = sp.diff(scalar, wrt[i, j])
            difference = claimed[i, j] - direct
            if rewrite:
                difference = sp.simplify(difference.rewrite(sp.exp))
            assert sp.expand(difference) == 0, f"entry ({i}, {j}): {claimed[i, j]} != {direct}"


def symbols_of(layer_in: int, layer_out: int) -> tuple[sp.MatrixSymbol, ...]:
    return (
        sp.MatrixSymbol("x", BATCH, layer_in),
        sp.MatrixSymbol("W", layer_in, layer_out),
        sp.MatrixSymbol("b", 1, layer_out),
        sp.MatrixSymbol("G", BATCH, layer_out),
    )


def test_affine_matrix_rule_matches_entrywise_diff():
    x, W, b, G = symbols_of(D, M)
    X, Wm, bm, Gm = entries("x", N, D), entries("W", D, M), entries("b", 1, M), entries("G", N, M)
    forward = X * Wm + sp.ones(N, 1) * bm  # textbook: every row of x W plus the bias row
    scalar = sum(sp.matrix_multiply_elementwise(Gm, forward))
    layer = Affine(D, M)
    mapping = {x: X, W: Wm, b: bm, G: Gm}
    assert explicit(layer.matrix_forward(x, {"W": W, "b": b}), mapping) == forward
    rules = layer.matrix_vjp(G, x, {"W": W, "b": b})
    assert set(rules) == {"input", "W", "b"}
    assert_entrywise(explicit(rules["input"], mapping), scalar, X)
    assert_entrywise(explicit(rules["W"], mapping), scalar, Wm)
    assert_entrywise(explicit(rules["b"], mapping), scalar, bm)


@pytest.mark.parametrize(
    ("layer", "formula"),
    [
        (Sigmoid(), lambda z: 1 / (1 + sp.exp(-z))),
        (Tanh(), lambda z: (sp.exp(z) - sp.exp(-z)) / (sp.exp(z) + sp.exp(-z))),
    ],
    ids=["sigmoid", "tanh"],
)
def test_smooth_activation_matrix_rule_matches_entrywise_diff(layer, formula):
    x, G = sp.MatrixSymbol("x", BATCH, D), sp.MatrixSymbol("G", BATCH, D)
    X, Gm = entries("x", N, D), entries("G", N, D)
    forward = X.applyfunc(formula)
    scalar = sum(sp.matrix_multiply_elementwise(Gm, forward))
    mapping = {x: X, G: Gm}
    claimed_forward = explicit(layer.matrix_forward(x, {}), mapping)
    assert all(sp.simplify((a - f).rewrite(sp.exp)) == 0 for a, f in zip(claimed_forward, forward, strict=True))
    rules = layer.matrix_vjp(G, x, {})
    assert set(rules) == {"input"}
    assert_entrywise(explicit(rules["input"], mapping), scalar, X, rewrite=True)


# Values of the ReLU input with exact zeros in them, and an upstream gradient.
RELU_INPUT = sp.Matrix([[-2, 0], [sp.Rational(3, 2), sp.Rational(-1, 3)], [0, 5]])
UPSTREAM = sp.Matrix([[7, -3], [2, sp.Rational(1, 2)], [-4, 9]])


@pytest.mark.parametrize("kink", KINK_VALUES, ids=["kink0", "kink1/2", "kink1"])
def test_relu_matrix_rule_with_each_kink(kink):
    x, G = sp.MatrixSymbol("x", BATCH, D), sp.MatrixSymbol("G", BATCH, D)
    rule = ReLU().matrix_vjp(G, x, {}, kink=kink)["input"]
    claimed = explicit(rule, {x: RELU_INPUT, G: UPSTREAM})
    # Textbook: G times 1 above 0, 0 below, and the chosen kink value exactly at 0.
    step = RELU_INPUT.applyfunc(lambda v: 1 if v > 0 else (kink if v == 0 else 0))
    assert claimed == sp.matrix_multiply_elementwise(UPSTREAM, step)
    # Away from 0 it agrees with sympy.diff of max(0, x) (symbols real, so Max is differentiable).
    X, Gm = entries("x", N, D, real=True), entries("G", N, D, real=True)
    scalar = sum(sp.matrix_multiply_elementwise(Gm, X.applyfunc(lambda v: sp.Max(0, v))))
    general = explicit(rule, {x: X, G: Gm})
    point = {X[i, j]: RELU_INPUT[i, j] for i in range(N) for j in range(D)} | dict(zip(Gm, UPSTREAM, strict=True))
    for i in range(N):
        for j in range(D):
            if RELU_INPUT[i, j] != 0:
                assert general[i, j].subs(point) == sp.diff(scalar, X[i, j]).subs(point)


def test_relu_forward_is_max_zero():
    x = sp.MatrixSymbol("x", BATCH, D)
    assert explicit(ReLU().matrix_forward(x, {}), {x: RELU_INPUT}) == RELU_INPUT.applyfunc(lambda v: sp.Max(0, v))


def squared_error_sum(Y: sp.Matrix, T: sp.Matrix) -> sp.Expr:
    return sum((y - t) ** 2 for y, t in zip(Y, T, strict=True))


@pytest.mark.parametrize(
    ("loss", "formula"),
    [
        (HalfSquaredError(), lambda Y, T: squared_error_sum(Y, T) / 2),
        (MeanSquaredError(), lambda Y, T: squared_error_sum(Y, T) / (N * M)),
    ],
    ids=["half-squared", "mean-squared"],
)
def test_squared_error_gradients_match_entrywise_diff(loss, formula):
    y, t = sp.MatrixSymbol("y", BATCH, M), sp.MatrixSymbol("t", BATCH, M)
    Y, T = entries("y", N, M), entries("t", N, M)
    mapping = {y: Y, t: T}
    value = formula(Y, T)
    assert sp.expand(loss.matrix_loss(y, t).xreplace({k: sp.ImmutableMatrix(v) for k, v in mapping.items()})
                     .subs(BATCH, N).doit() - value) == 0
    assert_entrywise(explicit(loss.matrix_grad(y, t), mapping), value, Y)


def cross_entropy(Y: sp.Matrix, T: sp.Matrix) -> sp.Expr:
    total = sp.S.Zero
    for i in range(Y.rows):
        normaliser = sum(sp.exp(Y[i, k]) for k in range(Y.cols))
        total += sum(T[i, j] * sp.log(sp.exp(Y[i, j]) / normaliser) for j in range(Y.cols))
    return -total / Y.rows


@pytest.mark.parametrize(
    "targets",
    [
        sp.Matrix([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]),  # one-hot
        sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 4), sp.Rational(1, 4), 0],
                   [0, 1, 0, 0], [sp.Rational(1, 10), sp.Rational(2, 10), sp.Rational(3, 10), sp.Rational(4, 10)]]),
    ],
    ids=["one-hot", "soft-labels"],
)
def test_softmax_cross_entropy_gradient_matches_entrywise_diff(targets):
    y, t = sp.MatrixSymbol("y", BATCH, M), sp.MatrixSymbol("t", BATCH, M)
    Y = entries("y", N, M)
    mapping = {y: Y, t: targets}
    value = cross_entropy(Y, targets)
    claimed_loss = SoftmaxCrossEntropy().matrix_loss(y, t).xreplace(
        {k: sp.ImmutableMatrix(v) for k, v in mapping.items()}).subs(BATCH, N).doit()
    assert sp.simplify(sp.expand_log(claimed_loss - value, force=True)) == 0
    assert_entrywise(explicit(SoftmaxCrossEntropy().matrix_grad(y, t), mapping), value, Y, rewrite=True)


def test_softmax_cross_entropy_rule_needs_rows_of_t_summing_to_one():
    # (softmax(y) - t) / N is the gradient only when each row of t sums to 1; pin that
    # assumption, so that a change to the rule or its documentation is noticed.
    y, t = sp.MatrixSymbol("y", BATCH, M), sp.MatrixSymbol("t", BATCH, M)
    Y = entries("y", N, M)
    targets = sp.Matrix([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])  # first row sums to 2
    claimed = explicit(SoftmaxCrossEntropy().matrix_grad(y, t), {y: Y, t: targets})
    direct = sp.diff(cross_entropy(Y, targets), Y[0, 2])
    point = {s: sp.Rational(k, 7) for k, s in enumerate(Y)}
    assert abs(float((claimed[0, 2] - direct).subs(point))) > 1e-3


class _DoubledAffine(Affine):
    """An Affine whose dW rule is twice the right one: a wrong rule the proof must reject."""

    def matrix_vjp(self, upstream, x, params, *, kink=0):
        rules = super().matrix_vjp(upstream, x, params, kink=kink)
        return {**rules, "W": 2 * rules["W"]}


def test_the_entrywise_proof_here_rejects_a_wrong_rule():
    x, W, b, G = symbols_of(D, M)
    X, Wm, bm, Gm = entries("x", N, D), entries("W", D, M), entries("b", 1, M), entries("G", N, M)
    scalar = sum(sp.matrix_multiply_elementwise(Gm, X * Wm + sp.ones(N, 1) * bm))
    rules = _DoubledAffine(D, M).matrix_vjp(G, x, {"W": W, "b": b})
    with pytest.raises(AssertionError, match=r"entry \(0, 0\)"):
        assert_entrywise(explicit(rules["W"], {x: X, W: Wm, b: bm, G: Gm}), scalar, Wm)


def test_relu_rule_takes_the_mask_convention_by_default():
    G, X = sp.MatrixSymbol("G", BATCH, M), sp.MatrixSymbol("x", BATCH, M)
    default = ReLU().matrix_vjp(G, X, {})["input"]
    assert default == ReLU().matrix_vjp(G, X, {}, kink=0)["input"]
    assert default != ReLU().matrix_vjp(G, X, {}, kink=1)["input"]


def test_scalar_losses_are_the_textbook_formulas():
    y, t = sp.symbols("y t")
    assert sp.expand(HalfSquaredError().scalar_loss(y, t) - (y - t) ** 2 / 2) == 0
    assert sp.expand(MeanSquaredError().scalar_loss(y, t) - (y - t) ** 2) == 0


def test_softmax_cross_entropy_needs_at_least_two_outputs():
    SoftmaxCrossEntropy().check_output_features(2)
    for features, got in ((1, "1"), (None, "scalar outputs")):
        with pytest.raises(ShapeError, match=f"at least 2 outputs \\(got {got}\\)"):
            SoftmaxCrossEntropy().check_output_features(features)
