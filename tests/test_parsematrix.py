"""Safe parsing of matrix expressions with declared shapes (symgrad/parsematrix.py)."""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad.errors import ComplexityError, ParseError, ShapeError, UnknownNameError, UnsafeExpressionError
from symgrad.parsematrix import parse_matrix_expression

SHAPES = {"x": ("n",), "A": ("n", "n"), "c": ()}


def test_the_body_is_index_notation_with_a_range_per_summed_index() -> None:
    parsed = parse_matrix_expression("c*trace(A)", SHAPES)
    i = sp.Symbol("i", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    assert parsed.body == sp.Symbol("c") * sp.Sum(sp.IndexedBase("A")[i, i], (i, 0, n - 1))
    assert parsed.ranges == ((i, n),)
    assert parsed.used == ("c", "A")


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("__import__('os')", UnsafeExpressionError, "function '__import__' is not allowed"),
        ("x.T*A*x if c else c", UnsafeExpressionError, "IfExp is not allowed"),
        ("A**2", ShapeError, "no powers of matrices"),
        ("c/x", ShapeError, "cannot divide by a n x 1 matrix"),
        ("trace(x)", ShapeError, "trace() takes a square matrix"),
        ("sum(x", ParseError, "invalid expression"),
        ("", ParseError, "empty"),
        ("+".join(["c"] * 100), ComplexityError, "nested more than 60 deep"),
    ],
)
def test_bad_text_is_refused_by_name(text: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as caught:
        parse_matrix_expression(text, SHAPES)
    assert fragment in str(caught.value)


def test_the_node_limit_holds() -> None:
    with pytest.raises(ComplexityError, match="more than 3 nodes"):
        parse_matrix_expression("x.T*A*x", SHAPES, max_nodes=3)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ShapeError, match="at most 2 dimensions"):
        parse_matrix_expression("sum(x)", {"x": (2, 2, 2)})
    with pytest.raises(UnknownNameError, match="cannot name a variable"):
        parse_matrix_expression("sum(x)", {"trace": (2,)})
    with pytest.raises(ShapeError, match="shapes must be a mapping"):
        parse_matrix_expression("sum(x)", [("x", 2)])  # type: ignore[arg-type]
