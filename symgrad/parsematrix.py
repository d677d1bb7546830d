"""Safe parsing of vector and matrix expressions with declared shapes, for matrix calculus.

``parse_matrix_expression("x.T*A*x", {"x": ("n",), "A": ("n", "n")})`` reads the
text with Python's ``ast`` (never ``eval`` or ``sympify``), the same whitelist
spirit as :func:`symgrad.parse.parse_expression`: names declared in ``shapes``,
numbers, ``+ - * /``, ``**`` of a scalar, ``.T``, and the calls ``trace sum
norm exp log sqrt sin cos tanh sigmoid``. ``*`` is the matrix product (a 1 x 1
result counts as a scalar, as in matrixcalculus.org), a function of a matrix
applies entrywise. A shape is a tuple of sizes, each an integer or a name
(``("n",)`` is a column vector, ``("n", "m")`` a matrix, ``()`` a scalar).

Each part becomes a :class:`Part`: its shape, the SymPy matrix expression that
documents and NumPy show, and its entry ``[row, col]`` in index notation
(sums with limits, as :mod:`symgrad.index` reads them).

Examples
--------
>>> parsed = parse_matrix_expression("x.T*A*x", {"x": ("n",), "A": ("n", "n")})
>>> parsed.body
Sum(x[i]*Sum(A[j, i]*x[j], (j, 0, n - 1)), (i, 0, n - 1))
>>> parsed.display
ElementSum(x.T*A*x)
>>> parse_matrix_expression("A*x", {"x": ("n",), "A": ("m", "m")})
Traceback (most recent call last):
...
symgrad.errors.ShapeError: A (m x m) times x (n x 1): the inner sizes m and n differ (column 1)
    A*x
    ^
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import sympy as sp

from symgrad.errors import (
    ComplexityError,
    ParseError,
    ShapeError,
    SymgradError,
    UnknownNameError,
    UnsafeExpressionError,
)
from symgrad.matrixexpr import ZETA, ElementSum, Elementwise
from symgrad.parse import _Source, check_text

__all__ = ["Parsed", "Part", "parse_matrix_expression"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}\Z")
_ENTRYWISE: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh,
}
_REDUCTIONS = ("trace", "sum", "norm")
_INDEX_NAMES = ("i", "j", "k", "l", "r", "s", "u", "v")
_MAX_DEPTH = 60  # the engine recurses through the index body too


@dataclass(frozen=True)
class Part:
    """A parsed (sub)expression: its shape, its matrix expression, its entry in index notation."""

    shape: tuple[Any, Any]
    display: Any
    entry: Callable[[Any, Any], sp.Expr]

    @property
    def scalar(self) -> bool:
        return self.shape == (1, 1)


@dataclass(frozen=True)
class Parsed:
    """A scalar expression: its index-notation body, the declared tensors it reads, their shapes."""

    body: sp.Expr
    display: Any
    shapes: dict[str, tuple[Any, Any]]
    ranges: tuple[tuple[sp.Symbol, Any], ...]
    used: tuple[str, ...]


def _dimension(name: str, value: Any) -> Any:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value >= 1:
        return sp.Integer(value)
    if isinstance(value, str) and _NAME.match(value):
        return sp.Symbol(value, integer=True, positive=True)
    msg = f"shape of {name!r}: each size must be a positive integer or a name such as 'n', got {value!r}"
    raise ShapeError(msg)


def _shape(name: str, value: Any) -> tuple[Any, Any]:
    dims = value if isinstance(value, (tuple, list)) else (value,)
    if len(dims) > 2:
        msg = f"shape of {name!r}: at most 2 dimensions (a vector or a matrix), got {len(dims)}"
        raise ShapeError(msg)
    sizes = [_dimension(name, d) for d in dims]
    padded = [*sizes, sp.Integer(1), sp.Integer(1)]
    return (padded[0], padded[1])


def _fmt(shape: tuple[Any, Any]) -> str:
    return f"{shape[0]} x {shape[1]}"


class _Builder:
    def __init__(self, source: _Source, shapes: dict[str, tuple[Any, Any]], max_nodes: int) -> None:
        self.source, self.shapes, self.max_nodes, self.nodes, self.depth = source, shapes, max_nodes, 0, 0
        self.ranges: list[tuple[sp.Symbol, Any]] = []
        self.used: dict[str, None] = {}

    def fail(self, error: type[SymgradError], message: str, node: ast.AST) -> NoReturn:
        self.source.fail(error, message, getattr(node, "col_offset", 0))

    def fresh(self, size: Any) -> sp.Symbol:
        k = len(self.ranges)
        name = _INDEX_NAMES[k % len(_INDEX_NAMES)] + (str(k // len(_INDEX_NAMES)) if k >= len(_INDEX_NAMES) else "")
        symbol = sp.Symbol(name, integer=True)
        self.ranges.append((symbol, size))
        return symbol

    def build(self, node: ast.expr) -> Part:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            self.fail(ComplexityError, f"expression has more than {self.max_nodes} nodes", node)
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                self.fail(ComplexityError, f"expression is nested more than {_MAX_DEPTH} deep", node)
            return self.build_node(node)
        finally:
            self.depth -= 1

    def build_node(self, node: ast.expr) -> Part:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            value = sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
            return Part((1, 1), value, _constant(value))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                self.fail(UnsafeExpressionError, f"only .T (transpose) is allowed after a name, not .{node.attr}", node)
            inner = self.build(node.value)
            return Part((inner.shape[1], inner.shape[0]), inner.display.T if not inner.scalar else inner.display,
                        lambda r, c: inner.entry(c, r))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.build(node.operand)
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return Part(inner.shape, sign * inner.display, lambda r, c: sign * inner.entry(r, c))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        self.fail(UnsafeExpressionError, f"{type(node).__name__} is not allowed in a matrix expression", node)

    def name(self, node: ast.Name) -> Part:
        name = node.id
        if name not in self.shapes:
            declared = ", ".join(sorted(self.shapes)) or "none"
            msg = f"unknown name {name!r}: declare its shape in shapes= (declared: {declared})"
            self.fail(UnknownNameError, msg, node)
        self.used[name] = None
        rows, cols = self.shapes[name]
        base = sp.IndexedBase(name)
        if rows == 1 and cols == 1:
            symbol = sp.Symbol(name)
            return Part((1, 1), symbol, lambda r, c: symbol)
        matrix = sp.MatrixSymbol(name, rows, cols)
        if cols == 1:
            return Part((rows, cols), matrix, lambda r, c: base[r])
        if rows == 1:
            return Part((rows, cols), matrix, lambda r, c: base[c])
        return Part((rows, cols), matrix, lambda r, c: base[r, c])

    def binop(self, node: ast.BinOp) -> Part:
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            if left.shape != right.shape:
                self.fail(ShapeError, f"cannot add a {_fmt(left.shape)} and a {_fmt(right.shape)} term", node)
            sign = 1 if isinstance(node.op, ast.Add) else -1
            display = _scalar(left) + sign * _scalar(right) if left.scalar else left.display + sign * right.display
            return Part(left.shape, display, lambda r, c: left.entry(r, c) + sign * right.entry(r, c))
        if isinstance(node.op, ast.Pow):
            if not (left.scalar and right.scalar):
                self.fail(ShapeError, "** takes a scalar base and exponent (no powers of matrices)", node)
            return Part((1, 1), _scalar(left) ** _scalar(right), lambda r, c: left.entry(r, c) ** right.entry(r, c))
        if isinstance(node.op, ast.Div):
            if not right.scalar:
                self.fail(ShapeError, f"cannot divide by a {_fmt(right.shape)} matrix", node)
            return Part(left.shape, _scale(left, 1 / _scalar(right)), lambda r, c: left.entry(r, c) / right.entry(r, c))
        return self.product(left, right, node)

    def product(self, left: Part, right: Part, node: ast.BinOp) -> Part:
        if left.shape[1] == right.shape[0]:
            inner = left.shape[1]
            both = left.scalar and right.scalar
            display = _scalar(left) * _scalar(right) if both else left.display * right.display

            def entry(r: Any, c: Any) -> sp.Expr:
                if inner == 1:
                    return left.entry(r, None) * right.entry(None, c)
                s = self.fresh(inner)
                return sp.Sum(left.entry(r, s) * right.entry(s, c), (s, 0, inner - 1))

            return Part((left.shape[0], right.shape[1]), display, entry)
        if left.scalar or right.scalar:  # a 1 x 1 result scales the other factor
            scalar, other = (left, right) if left.scalar else (right, left)
            return Part(other.shape, _scale(other, _scalar(scalar)),
                        lambda r, c: scalar.entry(None, None) * other.entry(r, c))
        names = [ast.unparse(node.left), ast.unparse(node.right)]
        self.fail(ShapeError, f"{names[0]} ({_fmt(left.shape)}) times {names[1]} ({_fmt(right.shape)}): "
                              f"the inner sizes {left.shape[1]} and {right.shape[0]} differ", node)

    def call(self, node: ast.Call) -> Part:
        if not isinstance(node.func, ast.Name) or node.keywords or len(node.args) != 1:
            self.fail(UnsafeExpressionError, "only a function called by name on one argument is allowed", node)
        name = node.func.id
        if name not in _ENTRYWISE and name not in _REDUCTIONS:
            allowed = ", ".join((*_REDUCTIONS, *_ENTRYWISE))
            self.fail(UnsafeExpressionError, f"function {name!r} is not allowed; the functions are {allowed}", node)
        arg = self.build(node.args[0])
        if name in _ENTRYWISE:
            f = _ENTRYWISE[name]
            display = f(_scalar(arg)) if arg.scalar else Elementwise(f(ZETA), arg.display)
            return Part(arg.shape, display, lambda r, c: f(arg.entry(r, c)))
        rows, cols = arg.shape
        if name == "trace":
            if rows != cols:
                self.fail(ShapeError, f"trace() takes a square matrix, got {_fmt(arg.shape)}", node)
            return Part((1, 1), sp.Trace(arg.display), lambda r, c: self.total(arg, rows, 1, diagonal=True))
        squares = name == "norm"
        display = ElementSum(sp.HadamardPower(arg.display, 2) if squares else arg.display)
        display = sp.sqrt(display) if squares else display
        total = lambda r, c: self.total(arg, rows, cols, squares=squares)  # noqa: E731
        return Part((1, 1), display, (lambda r, c: sp.sqrt(total(r, c))) if squares else total)

    def total(self, arg: Part, rows: Any, cols: Any, *, diagonal: bool = False, squares: bool = False) -> sp.Expr:
        i = None if rows == 1 else self.fresh(rows)
        j = i if diagonal else (None if cols == 1 else self.fresh(cols))
        value = arg.entry(i, j)
        value = value**2 if squares else value
        limits = [(s, 0, n - 1) for s, n in ((i, rows), (None if diagonal else j, cols)) if s is not None]
        return sp.Sum(value, *limits) if limits else value


def _constant(value: sp.Expr) -> Callable[[Any, Any], sp.Expr]:
    return lambda r, c: value


def _scalar(part: Part) -> Any:
    """A 1 x 1 part as a scalar expression (the sum of its one entry, for a matrix product)."""
    display = part.display
    return ElementSum(display) if isinstance(display, sp.MatrixExpr) else display


def _scale(part: Part, factor: Any) -> Any:
    return factor * part.display if not part.scalar else factor * _scalar(part)


def parse_matrix_expression(text: str, shapes: Mapping[str, Any], *, max_length: int = 2_000,
                            max_nodes: int = 500) -> Parsed:
    """Parse a scalar-valued vector/matrix expression with declared shapes (see the module).

    Raises
    ------
    ParseError, UnsafeExpressionError, ComplexityError
        Text outside the whitelist, or over the limits.
    UnknownNameError
        A name with no declared shape.
    ShapeError
        Sizes that do not fit (a product, a sum, a trace), a bad declared shape, or a
        result that is not a scalar.
    """
    if not isinstance(shapes, Mapping):
        msg = f"shapes must be a mapping of names to shapes, got {type(shapes).__name__}"
        raise ShapeError(msg)
    declared = {}
    for name, value in shapes.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in _ENTRYWISE or name in _REDUCTIONS:
            msg = f"shapes: {name!r} cannot name a variable (letters and digits, not a function name)"
            raise UnknownNameError(msg)
        declared[name] = _shape(name, value)
    source = _Source(check_text(text, max_length, "expression", ParseError))
    if not source.python.strip():
        msg = "the expression is empty"
        raise ParseError(msg)
    builder = _Builder(source, declared, max_nodes)
    part = builder.build(source.parse())
    if not part.scalar:
        msg = f"the expression is a {_fmt(part.shape)} matrix; gradient() needs a scalar (a 1 x 1 result)"
        raise ShapeError(msg)
    body = part.entry(None, None)
    return Parsed(body, _scalar(part), {n: declared[n] for n in builder.used}, tuple(builder.ranges),
                  tuple(builder.used))
