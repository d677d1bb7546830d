"""The matrix-expression classes: shapes, explicit evaluation, printing."""

from __future__ import annotations

import sympy as sp

from symgrad.functions import sigmoid
from symgrad.matrixexpr import BATCH, ZETA, ElementSum, Elementwise, RowSoftmax

a, b, c, d = sp.symbols("a b c d")
EXPLICIT = sp.ImmutableMatrix([[a, b], [c, d]])


def test_elementwise_keeps_the_shape_and_stays_symbolic_on_symbols():
    X = sp.MatrixSymbol("X", BATCH, 3)
    expr = Elementwise.of(sigmoid, X)
    assert expr.shape == (BATCH, 3)
    assert expr.body == sigmoid(ZETA)
    assert expr.arg == X
    assert expr.doit() == expr


def test_elementwise_doit_applies_the_body_to_each_entry():
    expr = Elementwise(ZETA**2 + 1, EXPLICIT)
    assert expr.doit() == sp.ImmutableMatrix([[a**2 + 1, b**2 + 1], [c**2 + 1, d**2 + 1]])


def test_elementwise_of_a_product_of_explicit_matrices():
    W = sp.ImmutableMatrix([[1, 2], [0, 1]])
    expr = Elementwise.of(sp.exp, sp.MatMul(EXPLICIT, W))
    assert expr.doit() == sp.ImmutableMatrix([[sp.exp(a), sp.exp(2 * a + b)], [sp.exp(c), sp.exp(2 * c + d)]])


def test_row_softmax_doit_rows_sum_to_one():
    explicit = RowSoftmax(EXPLICIT).doit()
    assert explicit[0, 0] == sp.exp(a) / (sp.exp(a) + sp.exp(b))
    for row in range(2):
        assert sp.simplify(explicit[row, 0] + explicit[row, 1]) == 1
    assert RowSoftmax(sp.MatrixSymbol("Y", BATCH, 4)).shape == (BATCH, 4)


def test_element_sum_doit_adds_every_entry():
    assert ElementSum(EXPLICIT).doit() == a + b + c + d
    assert ElementSum(sp.HadamardPower(EXPLICIT, 2)).doit() == a**2 + b**2 + c**2 + d**2
    symbolic = ElementSum(sp.MatrixSymbol("Y", BATCH, 2))
    assert symbolic.doit() == symbolic


def test_latex_reads_like_the_documents():
    X = sp.MatrixSymbol("h1", 4, 3)
    assert sp.latex(Elementwise.of(sigmoid, X)) == r"\sigma\left(h_{1}\right)"
    # A body that is not a single function call is bracketed, the argument in place of zeta.
    assert sp.latex(Elementwise(1 - sp.tanh(ZETA) ** 2, X)) == r"\left[1 - \tanh^{2}{\left(h_{1} \right)}\right]"
    assert sp.latex(RowSoftmax(X)) == r"\operatorname{softmax}\left(h_{1}\right)"
    assert sp.latex(ElementSum(X)) == r"\sum_{i,j} \left[h_{1}\right]_{ij}"


def test_batch_symbol_is_a_positive_integer():
    assert BATCH.is_integer
    assert BATCH.is_positive
    assert str(BATCH) == "N"
