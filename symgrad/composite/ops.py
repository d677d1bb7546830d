"""The primitives a composite layer's graph is written in: each forward beside its local rule.

A primitive takes SymPy matrix expressions and gives one; its rule takes the
upstream gradient G = dE/d(output) and gives dE/d(operand) for each operand, as
micrograd keeps each local derivative beside its forward. Broadcasting is
explicit in the forward (``ones(N, 1) μ``: μ copied to every row) and its rule is
the sum over the copies (``ones(1, N) G``), which is the lesson of batch norm's
mean path. These rules are given, not derived by the index engine: each is
proven entrywise against ``sympy.diff`` on small shapes
(:func:`symgrad.derive.compositesteps.primitive_proof`).

Examples
--------
>>> import sympy as sp
>>> x = sp.MatrixSymbol("x", 4, 3)
>>> mu = forward("mean_rows", [x])
>>> mu.shape
(1, 3)
>>> vjp("mean_rows", sp.MatrixSymbol("G", 1, 3), [x])
[(1/4)*1*G]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from symgrad.matrixexpr import ZETA, Elementwise

__all__ = ["KINDS", "RULE_WORDS", "broadcast", "forward", "reduce_to", "vjp"]

#: Why each primitive's rule holds, in words (a step's rule text).
RULE_WORDS = {
    "add": "sum rule: a + b passes G to both (summed over the copies of a broadcast operand)",
    "sub": "difference rule: a - b passes G and -G (summed over the copies of a broadcast operand)",
    "mul": "product rule, entrywise: G o b and G o a (summed over the copies of a broadcast operand)",
    "div": "quotient rule, entrywise: G / b and -G o a / b^2 (summed over the copies of a broadcast operand)",
    "scale": "constant factor: c G",
    "matmul": "matrix product rule: G B^T and A^T G",
    "fn": "entrywise function: G o f'(a)",
    "mean_rows": "mean over the batch: each of the N rows gets G / N",
    "mean_cols": "mean over the features: each of the D columns gets G / D",
    "cols": "column slice: the gradient goes back to those columns (the slices of one matrix side by side)",
}
KINDS = tuple(RULE_WORDS)


def _rows(expr: Any) -> Any:
    return expr.shape[0]


def _cols(expr: Any) -> Any:
    return expr.shape[1]


def broadcast(operand: Any, shape: tuple[Any, Any]) -> Any:
    """``operand`` copied to ``shape``: a row (1, C) to every row, a column (R, 1) to every column."""
    rows, cols = operand.shape
    if (rows, cols) == tuple(shape):
        return operand
    if rows == 1 and cols == shape[1]:
        return sp.OneMatrix(shape[0], 1) * operand
    if cols == 1 and rows == shape[0]:
        return operand * sp.OneMatrix(1, shape[1])
    msg = f"cannot broadcast a {rows} x {cols} operand to {shape[0]} x {shape[1]}"
    raise ValueError(msg)


def reduce_to(grad: Any, shape: tuple[Any, Any]) -> Any:
    """``grad`` summed back over the copies that :func:`broadcast` made to reach its shape."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    if shape[0] == 1:
        return sp.OneMatrix(1, _rows(grad)) * grad
    return grad * sp.OneMatrix(_cols(grad), 1)


def _out_shape(args: Sequence[Any]) -> tuple[Any, Any]:
    a, b = args
    return (a.shape[0] if a.shape[0] != 1 else b.shape[0], a.shape[1] if a.shape[1] != 1 else b.shape[1])


def forward(kind: str, args: Sequence[Any], const: Any = None) -> Any:
    """The primitive ``kind`` of the matrix expressions ``args`` (``const``: a number, a body in ζ, a column range)."""
    if kind in ("add", "sub", "mul", "div"):
        shape = _out_shape(args)
        a, b = (broadcast(arg, shape) for arg in args)
        if kind == "add":
            return sp.MatAdd(a, b)
        if kind == "sub":
            return sp.MatAdd(a, -b)
        if kind == "mul":
            return sp.HadamardProduct(a, b)
        return sp.HadamardProduct(a, broadcast(Elementwise(1 / ZETA, args[1]), shape))
    a = args[0]
    if kind == "scale":
        return sp.sympify(const) * a
    if kind == "matmul":
        return a * args[1]
    if kind == "fn":
        return Elementwise(const, a)
    if kind == "mean_rows":
        return sp.OneMatrix(1, _rows(a)) * a / _rows(a)
    if kind == "mean_cols":
        return a * sp.OneMatrix(_cols(a), 1) / _cols(a)
    if kind == "cols":
        start, stop = const
        return a[:, start:stop]
    msg = f"unknown primitive {kind!r}; known: {', '.join(KINDS)}"
    raise ValueError(msg)


def vjp(kind: str, upstream: Any, args: Sequence[Any], const: Any = None) -> list[Any]:
    """dE/d(operand) for each operand of ``kind``, given ``upstream`` = dE/d(output)."""
    g = upstream
    if kind in ("add", "sub", "mul", "div"):
        shape = _out_shape(args)
        a, b = (broadcast(arg, shape) for arg in args)
        if kind == "add":
            local = [g, g]
        elif kind == "sub":
            local = [g, -g]
        elif kind == "mul":
            local = [sp.HadamardProduct(g, b), sp.HadamardProduct(g, a)]
        else:
            inverse = broadcast(Elementwise(1 / ZETA, args[1]), shape)
            square = broadcast(Elementwise(ZETA**-2, args[1]), shape)
            local = [sp.HadamardProduct(g, inverse), -sp.HadamardProduct(g, a, square)]
        return [reduce_to(part, arg.shape) for part, arg in zip(local, args, strict=True)]
    a = args[0]
    if kind == "scale":
        return [sp.sympify(const) * g]
    if kind == "matmul":
        return [g * args[1].T, a.T * g]
    if kind == "fn":
        return [sp.HadamardProduct(g, Elementwise(sp.diff(const, ZETA), a))]
    if kind == "mean_rows":
        return [sp.OneMatrix(_rows(a), 1) * g / _rows(a)]
    if kind == "mean_cols":
        return [g * sp.OneMatrix(1, _cols(a)) / _cols(a)]
    if kind == "cols":
        start, stop = const
        return [pad_columns(g, start, stop, _cols(a))]
    msg = f"unknown primitive {kind!r}; known: {', '.join(KINDS)}"
    raise ValueError(msg)


def pad_columns(grad: Any, start: Any, stop: Any, width: Any) -> Any:
    """``grad`` placed in columns start:stop of a zero matrix ``width`` columns wide."""
    rows = grad.shape[0]
    blocks = [sp.ZeroMatrix(rows, start)] if start != 0 else []
    blocks.append(grad)
    if stop != width:
        blocks.append(sp.ZeroMatrix(rows, width - stop))
    return blocks[0] if len(blocks) == 1 else sp.BlockMatrix([blocks])
