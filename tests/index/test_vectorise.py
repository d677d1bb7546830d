"""Recognising the matrix form of a derived index expression (symgrad/index/vectorise.py)."""

from __future__ import annotations

import sympy as sp

from symgrad.index.contract import Term
from symgrad.index.ir import indices
from symgrad.index.vectorise import vectorise
from symgrad.matrixexpr import Elementwise, RowSoftmax

n, m, k, p, q = indices("n m k p q")
xb, wb, gb, yb, bb = (sp.IndexedBase(name) for name in ("x", "W", "G", "y", "b"))
x, w, g = sp.MatrixSymbol("x", 5, 3), sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("G", 5, 2)
y, b = sp.MatrixSymbol("y", 5, 2), sp.MatrixSymbol("b", 1, 2)
binding = {"x": x, "W": w, "G": g, "y": y, "b": b}


def test_a_shared_summed_index_is_a_matrix_product_with_the_transpose_it_needs() -> None:
    assert vectorise((Term(xb[n, p] * gb[n, q], ((n, 0, 4),)),), (p, q), binding) == x.T * g
    assert vectorise((Term(gb[p, m] * wb[q, m], ((m, 0, 1),)),), (p, q), binding) == g * w.T
    assert vectorise((Term(xb[p, k] * wb[k, q], ((k, 0, 2),)),), (p, q), binding) == x * w


def test_a_sum_over_one_factor_is_a_ones_vector_and_an_unread_output_index_a_broadcast() -> None:
    assert vectorise((Term(gb[n, q], ((n, 0, 4),)),), (None, q), binding) == sp.OneMatrix(1, 5) * g
    assert vectorise((Term(bb[m]),), (n, m), binding, {n: 5}) == sp.OneMatrix(5, 1) * b
    assert vectorise((Term(bb[m]),), (n, m), binding) is None  # the broadcast's size is not known


def test_entrywise_factors_are_a_hadamard_product_and_functions_apply_entrywise() -> None:
    got = vectorise((Term(gb[p, q] * sp.tanh(yb[p, q])),), (p, q), binding)
    assert got == sp.HadamardProduct(g, Elementwise(sp.tanh(sp.Symbol("zeta")), y))


def test_softmax_is_recognised_and_a_common_coefficient_goes_in_front() -> None:
    soft = sp.exp(yb[p, q]) / (5 * sp.Sum(sp.exp(yb[p, k]), (k, 0, 1)))
    got = vectorise((Term(soft), Term(-gb[p, q] / 5)), (p, q), binding)
    assert got == sp.Rational(1, 5) * (RowSoftmax(y) - g)


def test_no_matrix_form_gives_none() -> None:
    # An index read by three factors is no chain of matrix products (an einsum, not implemented).
    three = Term(xb[n, p] * yb[n, m] * gb[n, q], ((n, 0, 4), (m, 0, 1)))
    assert vectorise((three,), (p, q), binding) is None
    assert vectorise((Term(sp.IndexedBase("A")[p, q, n] * gb[n, q], ((n, 0, 4),)),), (p, q), binding) is None
    assert vectorise((Term(sp.IndexedBase("unknown")[p, q]),), (p, q), binding) is None


def test_an_index_read_four_times_is_not_mistaken_for_a_chain() -> None:
    # Mutation survivor: Σ_n,k,j A_pn B_nk C_kj E_jn D_nq walks p-n-k-j-n-q like A B C E D, but that
    # product would sum the second n on its own; there is no matrix form, so none may be claimed.
    j = indices("j")[0]
    names = ("A", "B", "C", "E", "D")
    square = {name: sp.MatrixSymbol(name, 3, 3) for name in names}
    a_, b_, c_, e_, d_ = (sp.IndexedBase(name) for name in names)
    term = Term(a_[p, n] * b_[n, k] * c_[k, j] * e_[j, n] * d_[n, q], ((n, 0, 2), (k, 0, 2), (j, 0, 2)))
    assert vectorise((term,), (p, q), square) is None


def test_an_entrywise_difference_with_a_coefficient() -> None:
    # Mutation survivor: a product inside an entrywise expression with one matrix factor (-2*G).
    assert vectorise((Term(yb[p, q] - 2 * gb[p, q]),), (p, q), binding) == y - 2 * g


def test_a_squared_softmax_denominator_takes_two_numerators_of_the_same_row() -> None:
    """The softmax Jacobian's exp(y_pm) exp(y_pq) / Σ² is softmax(y)_pm softmax(y)_pq."""
    entry = sp.exp(yb[p, m]) * sp.exp(yb[p, q]) * gb[p, m] / sp.Sum(sp.exp(yb[p, k]), (k, 0, 1)) ** 2
    got = vectorise((Term(entry, ((m, 0, 1),)),), (p, q), binding)
    soft = RowSoftmax(y)
    assert isinstance(got, sp.HadamardProduct)
    assert set(got.args) == {sp.HadamardProduct(g, soft) * sp.OneMatrix(2, 2), soft}


def test_a_row_sum_beside_an_output_entry_is_broadcast_along_the_row() -> None:
    got = vectorise((Term(gb[p, m] * yb[p, m] * yb[p, q], ((m, 0, 1),)),), (p, q), binding)
    assert isinstance(got, sp.HadamardProduct)
    assert set(got.args) == {sp.HadamardProduct(g, y) * sp.OneMatrix(2, 2), y}
    square = sp.MatrixSymbol("S", 2, 2)
    product = vectorise((Term(gb[p, m] * sp.IndexedBase("S")[m, q], ((m, 0, 1),)),), (p, q), {**binding, "S": square})
    assert product == g * square  # m read as a row of S: a product, not a row sum


def test_a_row_sum_inside_a_function_and_a_number_beside_matrices() -> None:
    """The hinge's margin relu(y_pq - Σ_k t_pk y_pk + 1): the true class's score broadcast, 1 everywhere."""
    tb = sp.IndexedBase("t")
    t = sp.MatrixSymbol("t", 5, 2)
    margin = sp.tanh(yb[p, q] - sp.Sum(tb[p, k] * yb[p, k], (k, 0, 1)) + 1)
    got = vectorise((Term((1 - tb[p, q]) * margin),), (p, q), {**binding, "t": t})
    inner = y + sp.OneMatrix(5, 2) - sp.HadamardProduct(t, y) * sp.OneMatrix(2, 2)
    expected = sp.HadamardProduct(sp.OneMatrix(5, 2) - t, Elementwise(sp.tanh(sp.Symbol("zeta")), inner))
    assert sp.simplify(got - expected) == sp.ZeroMatrix(5, 2)
