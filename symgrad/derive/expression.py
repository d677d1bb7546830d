"""``gradient(expr)``: the partial derivatives of a plain expression, step by step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from symgrad.derive.derivation import Derivation
from symgrad.derive.elementary import elementary_steps
from symgrad.derive.steps import Step
from symgrad.derive.verify import prove_equal
from symgrad.errors import ParseError, UnknownNameError
from symgrad.functions import kink_value, with_kink
from symgrad.parse import parse_expression

__all__ = ["gradient"]


def _as_expression(expr: Any) -> sp.Expr:
    if isinstance(expr, str):
        return parse_expression(expr)
    if isinstance(expr, sp.Expr) and not isinstance(expr, sp.MatrixExpr):
        return expr
    msg = f"gradient() takes an expression string or a SymPy expression, got {type(expr).__name__}"
    raise ParseError(msg)


def gradient(expr: Any, wrt: Sequence[str] | str | None = None, *, kink: Any = 0) -> Derivation:
    """The gradient of a scalar expression, with the elementary steps of each partial.

    Parameters
    ----------
    expr : str or sympy.Expr
        A string is parsed safely (never evaluated): ``"3*x + 4*y"``.
    wrt : sequence of str, optional
        Variables to differentiate with respect to; all free symbols, sorted by name, by default.

    Examples
    --------
    >>> d = gradient("3*x + 4*y")
    >>> d.wrt, d.gradient("x"), d.gradient("y")
    (('x', 'y'), 3, 4)
    >>> d.lambdify()(x=1.0, y=2.0)
    {'x': 3.0, 'y': 4.0}
    >>> gradient("3*x + 4*y", wrt=["z"])
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: cannot differentiate with respect to 'z': the expression's variables are x, y
    """
    expression = _as_expression(expr)
    kink = kink_value(kink)
    symbols = {str(s): s for s in sorted(expression.free_symbols, key=sp.default_sort_key)}
    names = _resolve(symbols, wrt)
    function = sp.Symbol("f")
    steps, results, program, outputs = {}, {}, [], {}
    for name in names:
        var = symbols[name]
        derivative = with_kink(sp.diff(expression, var), kink)
        lhs = sp.Symbol(f"df/d{name}")
        sub = elementary_steps(expression, var, kink=kink)
        ok = bool(sub) and prove_equal(sub[-1].rhs, derivative)
        proof = "equal to sympy.diff (the difference simplifies to 0)"
        if not ok:
            proof = "the elementary steps do not reach sympy.diff"
        note = f"The partial derivative of f with respect to {name}."
        steps[name] = (Step(lhs, derivative, "differentiate", ok, proof, note, sub),)
        results[name] = derivative
        program.append((lhs, derivative))
        outputs[name] = lhs
    return Derivation(
        title=f"f = {sp.sstr(expression)}",
        loss=expression,
        wrt=names,
        inputs=tuple(symbols),
        forward=(Step(function, expression, "definition", True, "definition", "The function."),),
        symbols=dict(symbols),
        shapes={name: () for name in symbols},
        program=tuple(program),
        outputs=outputs,
        loss_value=expression,
        kink=kink,
        _steps=steps,
        _results=results,
    )


def _resolve(symbols: dict[str, sp.Symbol], wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    if wrt is None:
        if not symbols:
            msg = "the expression has no variables to differentiate with respect to"
            raise UnknownNameError(msg)
        return tuple(symbols)
    requested = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in requested:
        if name not in symbols:
            msg = f"cannot differentiate with respect to {name!r}: the expression's variables are {', '.join(symbols)}"
            raise UnknownNameError(msg)
    return tuple(dict.fromkeys(requested))
