"""The combinations of a graph network in SymPy: forward, local gradient rule, and its proof.

One table, one place: each combination (``+ - * @``, a number times, a number plus,
concat, total, sum_squares) has its forward and its rule (the gradient of E with
respect to each operand given G = dE/d(output)) side by side, as micrograd keeps
each local derivative beside its forward. Matrix rules are proven entrywise
against ``sympy.diff`` on small shapes (:func:`op_rule_proof`), as the layers' are.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sympy as sp

from symgrad.derive.verify import prove_equal
from symgrad.matrixexpr import BATCH, ElementSum

__all__ = ["op_forward", "op_rule_proof", "op_vjp"]

#: Why each rule holds, in words (the step's rule text).
RULE_WORDS = {
    "add": "sum rule: d(a + b) passes G to both",
    "sub": "difference rule: d(a - b) passes G and -G",
    "mul": "product rule, entrywise: G o b and G o a",
    "matmul": "matrix product rule: G B^T and A^T G",
    "scale": "constant factor: c G",
    "shift": "constant shift: G passes unchanged",
    "concat": "concat: each operand takes its columns of G",
    "total": "sum of entries: every entry gets G",
    "sum_squares": "sum of squares: 2 G a",
}


def _is_matrix(expr: Any) -> bool:
    return bool(getattr(expr, "is_Matrix", False))


def _number(const: Any) -> sp.Expr:
    return sp.Integer(const) if isinstance(const, int) else sp.Float(const) if isinstance(const, float) else const


def op_forward(kind: str, args: Sequence[Any], const: Any = None) -> Any:
    """The combination ``kind`` of the SymPy values ``args`` (matrices or scalars).

    Examples
    --------
    >>> a, b = sp.MatrixSymbol("a", 2, 3), sp.MatrixSymbol("b", 2, 3)
    >>> product = op_forward("mul", [a, b])
    >>> type(product).__name__, product.shape
    ('HadamardProduct', (2, 3))
    """
    matrix = _is_matrix(args[0])
    if kind == "add":
        return sp.MatAdd(*args) if matrix else sp.Add(*args)
    if kind == "sub":
        return sp.MatAdd(args[0], -args[1]) if matrix else args[0] - args[1]
    if kind == "mul":
        return sp.HadamardProduct(*args) if matrix else args[0] * args[1]
    if kind == "matmul":
        return sp.MatMul(*args)
    if kind == "scale":
        return _number(const) * args[0]
    if kind == "shift":
        return args[0] + _number(const) * sp.OneMatrix(*args[0].shape) if matrix else args[0] + _number(const)
    if kind == "concat":
        return sp.BlockMatrix([list(args)])
    if kind == "total":
        return ElementSum(args[0]) if matrix else args[0]
    if kind == "sum_squares":
        return ElementSum(sp.HadamardPower(args[0], 2)) if matrix else args[0] ** 2
    msg = f"unknown combination {kind!r}"
    raise ValueError(msg)


def op_vjp(kind: str, upstream: Any, args: Sequence[Any], const: Any = None) -> list[Any]:
    """dE/d(operand) for each operand of ``kind``, given ``upstream`` = dE/d(output).

    Examples
    --------
    >>> a, b = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2)
    >>> op_vjp("matmul", sp.MatrixSymbol("G", 2, 2), [a, b])
    [G*B.T, A.T*G]
    """
    g = upstream
    if kind == "add":
        return [g, g]
    if kind == "sub":
        return [g, -g]
    if kind == "mul":
        if _is_matrix(args[0]):
            return [sp.HadamardProduct(g, args[1]), sp.HadamardProduct(g, args[0])]
        return [g * args[1], g * args[0]]
    if kind == "matmul":
        return [g * args[1].T, args[0].T * g]
    if kind == "scale":
        return [_number(const) * g]
    if kind == "shift":
        return [g]
    if kind == "concat":
        parts, start = [], 0
        for arg in args:
            width = arg.shape[1]
            parts.append(g[:, start : start + width])
            start += width
        return parts
    if kind == "total":
        return [g * sp.OneMatrix(*args[0].shape)] if _is_matrix(args[0]) else [g]
    if kind == "sum_squares":
        return [2 * g * args[0]]
    msg = f"unknown combination {kind!r}"
    raise ValueError(msg)


#: Small shapes of the entrywise proofs, by combination: the operands' shapes (() a scalar).
_PROOF_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "add": ((2, 3), (2, 3)), "sub": ((2, 3), (2, 3)), "mul": ((2, 3), (2, 3)), "matmul": ((2, 3), (3, 2)),
    "scale": ((2, 3),), "shift": ((2, 3),), "concat": ((2, 2), (2, 3), (2, 1)), "total": ((2, 3),),
    "sum_squares": ((2, 3),),
}


def op_rule_proof(kind: str, scalar: bool, arity: int = 2) -> tuple[bool, str]:
    """Prove the rule of ``kind`` (on scalars, or entrywise on small matrices) against ``sympy.diff``.

    Examples
    --------
    >>> op_rule_proof("matmul", False)
    (True, 'matmul rule proven entrywise against sympy.diff ((2, 3) @ (3, 2))')
    """
    return _prove(kind, scalar, arity)


@functools.cache
def _prove(kind: str, scalar: bool, arity: int) -> tuple[bool, str]:
    const = sp.Symbol("c")  # a symbol: the rule is proven for every number
    shapes = _PROOF_SHAPES[kind]
    if kind == "concat":
        shapes = shapes[:arity]
    if scalar:
        shapes = tuple(() for _ in shapes)
    symbols = [_operand(f"a{i}", shape) for i, shape in enumerate(shapes)]
    pairs = enumerate(zip(symbols, shapes, strict=True))
    explicit = [_entries(f"a{i}", shape) if shape else s for i, (s, shape) in pairs]
    out = op_forward(kind, symbols, const)
    out_shape = getattr(out, "shape", ())
    upstream: Any = sp.Symbol("g") if not _is_matrix(out) else sp.MatrixSymbol("G", *out_shape)
    mapping = {s: e for s, e in zip(symbols, explicit, strict=True) if _is_matrix(s)}
    if _is_matrix(upstream):
        mapping[upstream] = _entries("G", out_shape)
    forward = _explicit(out, mapping)
    if _is_matrix(upstream):
        value = sp.Add(*sp.matrix_multiply_elementwise(mapping[upstream], forward))
    else:
        value = upstream * forward
    for position, (rule, entries) in enumerate(zip(op_vjp(kind, upstream, symbols, const), explicit, strict=True)):
        claimed = _explicit(rule, mapping)
        if not _is_matrix(entries):
            if not prove_equal(sp.sympify(claimed), sp.diff(value, entries)):
                return False, f"{kind} rule for operand {position + 1} disagrees with sympy.diff"
            continue
        for i in range(entries.rows):
            for j in range(entries.cols):
                if not prove_equal(claimed[i, j], sp.diff(value, entries[i, j])):
                    where = f"operand {position + 1} disagrees with sympy.diff at entry ({i}, {j})"
                    return False, f"{kind} rule for {where}"
    where = " @ ".join(str(s) for s in shapes) if kind == "matmul" else ", ".join(str(s) for s in shapes)
    how = "on scalars" if scalar else f"entrywise against sympy.diff ({where})"
    return True, f"{kind} rule proven {how}" if not scalar else f"{kind} rule proven against sympy.diff on scalars"


def _entries(name: str, shape: tuple[int, ...]) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix(shape[0], shape[1], lambda i, j: sp.Symbol(f"{name}_{i}{j}"))


def _operand(name: str, shape: tuple[int, ...]) -> Any:
    return sp.MatrixSymbol(name, *shape) if shape else sp.Symbol(name)


def _explicit(expr: Any, mapping: dict[Any, Any]) -> Any:
    value = expr.xreplace(mapping).subs(BATCH, 2).doit() if hasattr(expr, "xreplace") else expr
    return value.as_explicit() if hasattr(value, "as_explicit") else value
