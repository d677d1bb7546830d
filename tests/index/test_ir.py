"""Bad index-notation forwards give symgrad errors naming the fault (symgrad/index/ir.py)."""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.index.ir import IndexForward, Tensor, indices
from symgrad.index.rules import derive_rule

n, m, d, k = indices("n m d k")
x, w = sp.IndexedBase("x"), sp.IndexedBase("W")
TENSORS = (Tensor("x", (5, 3)), Tensor("W", (3, 2)))
RANGES = ((n, 5), (m, 2), (d, 3))


def _forward(body: sp.Expr, tensors: tuple[Tensor, ...] = TENSORS) -> IndexForward:
    return IndexForward("y", (n, m), body, tensors, RANGES)


def test_an_unknown_index_is_named() -> None:
    with pytest.raises(UnknownNameError, match="unknown index k in x\\[n, k\\]"):
        _forward(sp.Sum(x[n, k] * w[d, m], (d, 0, 2))).validate()


def test_an_unknown_tensor_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown tensor 'V'.*the inputs are x, W"):
        _forward(sp.IndexedBase("V")[n, m]).validate()


def test_a_shape_mismatch_names_the_index_and_dimension() -> None:
    # d runs over 4 values but x has 3 columns.
    expected = r"shape mismatch in .*: index d runs over 4 values, but dimension \d of \w has 3"
    with pytest.raises(ShapeError, match=expected):
        _forward(sp.Sum(x[n, d] * w[d, m], (d, 0, 3))).validate()


def test_a_read_with_the_wrong_number_of_indices_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="W has 2 dimensions but W\\[m\\] reads it with 1"):
        _forward(w[m]).validate()


def test_a_derivative_by_a_name_not_in_the_forward_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="no input 'b'; its inputs are x, W"):
        derive_rule(_forward(sp.Sum(x[n, d] * w[d, m], (d, 0, 2))), "b")
