"""Matrix calculus: the gradient of a scalar vector/matrix expression, in matrix form.

``gradient("x.T*A*x", wrt="x", shapes={"x": ("n",), "A": ("n", "n")})`` goes the
way of every layer rule: the expression is written in index notation
(:mod:`symgrad.parsematrix`), each entry of ``wrt`` differentiated (Kronecker
deltas), the deltas eliminated and the matrix form recognised
(:mod:`symgrad.index`), here ``(A + A.T)*x``. A vector is a column; its
gradient is a column too. Each index step and the matrix form are proven
entrywise against ``sympy.diff`` on small concrete sizes (each size name gets
a small number).

Examples
--------
>>> d = matrix_gradient("a.T*X*b", "X", {"a": ("n",), "X": ("n", "m"), "b": ("m",)})
>>> d.gradient("X"), d.verified
(a*b.T, True)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from symgrad.derive.derivation import Derivation
from symgrad.derive.indexproof import PROOF_SIZES, prove_index_steps
from symgrad.derive.steps import Step
from symgrad.derive.verify import prove_equal
from symgrad.errors import ShapeError, UnknownNameError
from symgrad.index.ir import IndexForward, Tensor
from symgrad.index.rules import derive_rule, matrix_form
from symgrad.parsematrix import Parsed, parse_matrix_expression

__all__ = ["matrix_gradient"]


def _tensors(parsed: Parsed) -> tuple[Tensor, ...]:
    tensors = []
    for name in parsed.used:
        rows, cols = parsed.shapes[name]
        if rows == 1 and cols == 1:
            continue  # a scalar is a plain symbol
        dims = (rows,) if cols == 1 else (cols,) if rows == 1 else (rows, cols)
        tensors.append(Tensor(name, dims))
    return tuple(tensors)


def _matrix(name: str, shape: tuple[Any, Any]) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(name, *shape)


def _binding(parsed: Parsed) -> dict[str, Any]:
    """Each tensor's matrix as the engine reads it: a vector as a row (a column vector transposed)."""
    binding = {}
    for name in parsed.used:
        rows, cols = parsed.shapes[name]
        matrix = _matrix(name, (rows, cols))
        binding[name] = matrix.T if cols == 1 and rows != 1 else matrix
    return binding


def _collect(expr: Any) -> Any:
    """A common first or last factor of a sum of products taken out: A*x + A.T*x -> (A + A.T)*x."""
    coefficient, rest = (expr.as_coeff_mmul() if isinstance(expr, sp.MatMul) else (sp.S.One, expr))
    if isinstance(rest, sp.MatMul) and len(rest.args) == 1:
        rest = rest.args[0]
    if not isinstance(rest, sp.MatAdd):
        return expr
    common = _common_number(rest)
    if common != 1:
        coefficient, rest = coefficient * common, sp.MatAdd(*((1 / common) * t for t in rest.args)).doit()
        if not isinstance(rest, sp.MatAdd):
            return coefficient * rest
    terms = []
    for term in rest.args:
        c, factors = term.as_coeff_matrices() if isinstance(term, sp.MatMul) else (sp.S.One, [term])
        terms.append((c, list(factors)))
    if any(len(factors) < 2 for _, factors in terms):
        return expr
    for side in (-1, 0):
        shared = terms[0][1][side]
        if all(factors[side] == shared for _, factors in terms):
            inner = sp.MatAdd(*(c * sp.MatMul(*(f[:-1] if side == -1 else f[1:])) for c, f in terms)).doit()
            product = inner * shared if side == -1 else shared * _collect(inner)
            return coefficient * product if coefficient != 1 else product
    return coefficient * rest if coefficient != 1 else rest


def _common_number(total: sp.MatAdd) -> Any:
    """The largest number that divides the numeric coefficient of every term (2 in 2*A*x - 2*b)."""
    numbers = [t.as_coeff_mmul()[0] if isinstance(t, sp.MatMul) else sp.S.One for t in total.args]
    if not all(n.is_Rational for n in numbers):
        return sp.S.One
    common = abs(functools.reduce(sp.gcd, numbers))
    return common if common != 0 else sp.S.One


def _result(parsed: Parsed, forward: IndexForward, name: str) -> Any:
    rows, cols = parsed.shapes[name]
    matrix = matrix_form(derive_rule(forward, name), _binding(parsed))
    if cols == 1 and rows != 1:  # the engine's row, as the column x is
        matrix = sp.Transpose(matrix)
    matrix = matrix.doit().replace(  # x bound as x.T, transposed back: x.T.T is x
        lambda e: isinstance(e, sp.Transpose) and isinstance(e.arg, sp.Transpose), lambda e: e.arg.arg
    )
    return _collect(matrix)


def _sizes(parsed: Parsed) -> dict[Any, int]:
    symbols = set()
    for shape in parsed.shapes.values():
        symbols |= {d for d in shape if isinstance(d, sp.Symbol)}
    return {s: PROOF_SIZES[k % len(PROOF_SIZES)] for k, s in enumerate(sorted(symbols, key=str))}


def _explicit_matrix(parsed: Parsed, sizes: Mapping[Any, int]) -> dict[Any, Any]:
    """Each declared matrix symbol -> an explicit matrix of the index entries the body reads."""
    mapping = {}
    for name in parsed.used:
        rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in parsed.shapes[name])
        base = sp.IndexedBase(name)
        if rows == 1 and cols == 1:
            continue

        def entry(i: int, j: int, base: Any = base, rows: int = rows, cols: int = cols) -> Any:
            return base[i] if cols == 1 else base[j] if rows == 1 else base[i, j]

        mapping[_matrix(name, parsed.shapes[name]).xreplace(sizes)] = sp.ImmutableMatrix(rows, cols, entry)
    return mapping


def _prove_matrix(parsed: Parsed, forward: IndexForward, name: str, result: Any) -> tuple[bool, str]:
    from symgrad.derive.indexproof import _write_out

    sizes = _sizes(parsed)
    energy = _write_out(forward.body.xreplace(sizes))
    claimed = result.xreplace(sizes)
    claimed = claimed.xreplace(_explicit_matrix(parsed, sizes)).doit()
    claimed = claimed.as_explicit() if hasattr(claimed, "as_explicit") else claimed
    rows, cols = (int(sp.sympify(d).xreplace(sizes)) for d in parsed.shapes[name])
    base = sp.IndexedBase(name)
    for i, j in itertools.product(range(rows), range(cols)):
        entry = base[i] if cols == 1 else base[j] if rows == 1 else base[i, j]
        if not prove_equal(claimed[i, j], sp.diff(energy, entry)):
            return False, f"disagrees with sympy.diff at {name}[{i}, {j}]"
    shown = ", ".join(f"{s} = {v}" for s, v in sizes.items())
    return True, "proven entrywise against sympy.diff" + (f" ({shown})" if shown else "")


def matrix_gradient(expr: str, wrt: Sequence[str] | str | None, shapes: Mapping[str, Any]) -> Derivation:
    """The gradient of a scalar vector/matrix expression ``expr`` (see the module and :func:`gradient`)."""
    if not isinstance(expr, str):
        msg = f"with shapes=, gradient() takes the expression as a string, got {type(expr).__name__}"
        raise UnknownNameError(msg)
    parsed = parse_matrix_expression(expr, shapes)
    forward = IndexForward("f", (), parsed.body, _tensors(parsed), parsed.ranges).validate()
    names = _resolve(parsed, wrt)
    steps, results, program, outputs = {}, {}, [], {}
    for name in names:
        result = _result(parsed, forward, name)
        rule = derive_rule(forward, name)
        verdicts = prove_index_steps(rule)
        final = _prove_matrix(parsed, forward, name, result)
        shape = parsed.shapes[name]
        lhs = _matrix(f"df/d{name}", shape)
        sub = tuple(Step(s.lhs, s.rhs, s.rule, ok, how, s.note)
                    for s, (ok, how) in zip(rule.steps, verdicts, strict=True))
        at = rule.at if len(rule.at) == 2 else ((rule.at[0], 0) if shape[1] == 1 else (0, rule.at[0]))
        sub += (Step(rule.steps[0].lhs, MatrixElement(result, *at), "matrix form", *final,
                     "The sums over shared indices are matrix products."),)
        ok = final[0] and all(v for v, _ in verdicts)
        note = f"The gradient of f with respect to {name}, entry by entry and then in matrix form."
        steps[name] = (Step(lhs, result, "matrix calculus (index notation)", ok, final[1], note, sub, shape),)
        results[name] = result
        program.append((lhs, result))
        outputs[name] = lhs
    symbols = {n: (sp.Symbol(n) if parsed.shapes[n] == (1, 1) else _matrix(n, parsed.shapes[n])) for n in parsed.used}
    return Derivation(
        title=f"f = {expr.strip()}",
        loss=parsed.display,
        wrt=names,
        inputs=tuple(parsed.used),
        forward=(Step(sp.Symbol("f"), parsed.display, "definition", True, "definition", "The function."),),
        symbols=symbols,
        shapes={n: () if parsed.shapes[n] == (1, 1) else parsed.shapes[n] for n in parsed.used},
        program=tuple(program),
        outputs=outputs,
        loss_value=parsed.display,
        _steps=steps,
        _results=results,
    )


def _resolve(parsed: Parsed, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    matrices = [n for n in parsed.used if parsed.shapes[n] != (1, 1)]
    if wrt is None:
        if not matrices:
            msg = "the expression has no vector or matrix to differentiate with respect to"
            raise UnknownNameError(msg)
        return tuple(matrices)
    requested = (wrt,) if isinstance(wrt, str) else tuple(wrt) if isinstance(wrt, (list, tuple)) else None
    if not requested:
        msg = f"wrt must be a name or a non-empty list of names, got {wrt!r}"
        raise UnknownNameError(msg)
    for name in requested:
        if not isinstance(name, str) or name not in parsed.used:
            names = ", ".join(parsed.used)
            msg = f"cannot differentiate with respect to {name!r}: the expression's variables are {names}"
            raise UnknownNameError(msg)
        if parsed.shapes[name] == (1, 1):
            msg = f"{name!r} is a scalar; with shapes=, differentiate with respect to a vector or matrix"
            raise ShapeError(msg)
    return tuple(dict.fromkeys(requested))



