"""``gradient(expr)``: the partial derivatives of a plain expression, step by step."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

from symgrad.derive.deadline import run_within, validate_seconds
from symgrad.derive.derivation import Derivation
from symgrad.derive.elementary import elementary_steps
from symgrad.derive.steps import Step
from symgrad.derive.verify import prove_equal
from symgrad.errors import ComplexityError, ParseError, UndefinedValueError, UnknownNameError
from symgrad.functions import kink_value, relu_grad, with_kink
from symgrad.parse import parse_expression

__all__ = ["MAX_VARIABLES", "TIME_LIMIT", "gradient"]

#: The most variables :func:`gradient` differentiates in one call.
MAX_VARIABLES = 100
#: Seconds of symbolic work :func:`gradient` allows by default.
TIME_LIMIT = 5.0


_UNDEFINED = {
    sp.zoo: "zoo, complex infinity (a division by zero)",
    sp.oo: "oo, an infinity",
    sp.S.NegativeInfinity: "-oo, an infinity",
    sp.nan: "nan, an undefined value (such as 0/0 or oo - oo)",
}


def _undefined_part(expr: sp.Expr) -> str:
    """What makes ``expr`` have no real value for real inputs, or "" when nothing does.

    The constant parts are what can be told apart symbolically: ``zoo`` (from ``x/0``), an
    infinity, ``nan``, or a complex number such as ``I`` (from ``sqrt(-1)``) or ``(-1)**(1/3)``.
    """
    nodes = sp.preorder_traversal(expr)
    for node in nodes:
        if node in _UNDEFINED:
            return _UNDEFINED[node]
        if getattr(node, "is_number", False):
            if node.is_extended_real is False:
                return f"the complex number {sp.sstr(node)}"
            nodes.skip()  # a real constant: nothing inside it matters
    return ""


def _check_defined(what: str, expr: sp.Expr) -> None:
    problem = _undefined_part(expr)
    if problem:
        text = sp.sstr(expr)
        text = text if len(text) <= 120 else text[:117] + "..."
        msg = (
            f"{what} = {text} has no real value: it contains {problem}; "
            "expected an expression that is real and finite for real inputs"
        )
        raise UndefinedValueError(msg)


def _as_expression(expr: Any) -> sp.Expr:
    if isinstance(expr, str):
        return parse_expression(expr)
    if isinstance(expr, sp.Expr) and not isinstance(expr, sp.MatrixExpr):
        return expr
    msg = f"gradient() takes an expression string or a SymPy expression, got {type(expr).__name__}"
    raise ParseError(msg)


def gradient(
    expr: Any,
    wrt: Sequence[str] | str | None = None,
    *,
    shapes: Mapping[str, Any] | None = None,
    kink: Any = 0,
    time_limit: float | None = TIME_LIMIT,
) -> Derivation:
    """The gradient of a scalar expression, with the elementary steps of each partial.

    Parameters
    ----------
    expr : str or sympy.Expr
        A string is parsed safely (never evaluated): ``"3*x + 4*y"``.
    wrt : sequence of str, optional
        Variables to differentiate with respect to; all free symbols, sorted by name, by default.
        At most :data:`MAX_VARIABLES`.
    shapes : mapping, optional
        Matrix calculus: the shape of each vector or matrix in ``expr``, sizes as integers or
        names (``{"x": ("n",), "A": ("n", "n")}``; a 1-tuple is a column vector, ``()`` a
        scalar). ``expr`` is then a string such as ``"x.T*A*x"`` or ``"trace(X.T*A*X)"``
        (see :mod:`symgrad.parsematrix`), and each gradient comes in matrix form, derived in
        index notation with its steps, each proven entrywise against ``sympy.diff`` on small
        sizes (:mod:`symgrad.derive.matrixcalc`).
    time_limit : float or None
        Seconds of symbolic work allowed (:data:`TIME_LIMIT` by default; None for no limit).
        SymPy can take hours on small but hostile input (``x**x**x**x**x**x**x**x**x**x**y``);
        past the limit the work stops with :class:`~symgrad.errors.ComplexityError`. With a
        limit, the symbolic work runs in a child process that is ended at the deadline
        (:mod:`symgrad.derive.deadline`), so the limit holds in any thread and under any
        signal handler, and no signal of the caller's is touched; with None it runs here.

    Raises
    ------
    ParseError, UnsafeExpressionError, ComplexityError
        The string is not a formula symgrad accepts (see :func:`symgrad.parse.parse_expression`).
    UndefinedValueError
        The expression or a partial derivative has no real value: ``zoo`` (``x/0``), an
        infinity, ``nan``, or a complex constant such as ``I`` (``sqrt(-1)``).

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
    >>> gradient("sqrt(-1)*x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.UndefinedValueError: the expression f = I*x has no real value: it contains the complex number I; ...
    >>> gradient("x.T*A*x", wrt="x", shapes={"x": ("n",), "A": ("n", "n")}).gradient("x")
    (A + A.T)*x
    """
    seconds = validate_seconds(time_limit)
    if shapes is not None:
        from symgrad.derive.matrixcalc import matrix_gradient

        return run_within(seconds, functools.partial(matrix_gradient, expr, wrt, shapes),
                          functools.partial(_expired, seconds))
    # Parsing is symbolic work too (SymPy's Max of 50 names takes most of a second): all of it
    # runs under the limit, and its errors come back from the child as they are.
    work = functools.partial(_gradient, expr, wrt, kink)
    return run_within(seconds, work, functools.partial(_expired, seconds))


def _gradient(expr: Any, wrt: Sequence[str] | str | None, kink: Any) -> Derivation:
    expression = _as_expression(expr)
    kink = kink_value(kink)
    symbols = {str(s): s for s in sorted(expression.free_symbols, key=sp.default_sort_key)}
    names = _resolve(symbols, wrt)
    if len(names) > MAX_VARIABLES:
        msg = (
            f"the expression has {len(names)} variables to differentiate with respect to; symgrad derives "
            f"at most {MAX_VARIABLES} at once (each with its own steps and proof): choose some with wrt=[...]"
        )
        raise ComplexityError(msg)
    return _derive(expression, symbols, names, kink)


def _expired(seconds: float | None) -> ComplexityError:
    msg = (
        f"the gradient took more than {seconds:g} s of symbolic work, the limit (time_limit=): "
        "simplify the expression, differentiate fewer variables with wrt=[...], or raise time_limit"
    )
    return ComplexityError(msg)


def _real_diff(expression: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """d expression / d var with every variable taken as real, in the caller's symbols.

    Backpropagation differentiates real functions; with SymPy's default complex
    symbols d|x|/dx comes out in re(x) and im(x) instead of sign(x).
    """
    real = {s: sp.Symbol(s.name, real=True) for s in expression.free_symbols if isinstance(s, sp.Symbol)}
    back = {r: s for s, r in real.items()}
    return sp.diff(expression.xreplace(real), real.get(var, var)).xreplace(back)  # type: ignore[no-any-return]


def _derive(expression: sp.Expr, symbols: dict[str, sp.Symbol], names: tuple[str, ...], kink: Any) -> Derivation:
    _check_defined("the expression f", expression)  # inside the time limit: assumptions can take a while
    function = sp.Symbol("f")
    steps, results, program, outputs = {}, {}, [], {}
    for name in names:
        var = symbols[name]
        derivative = with_kink(_real_diff(expression, var), kink)
        _check_defined(f"the partial derivative df/d{name}", derivative)
        lhs = sp.Symbol(f"df/d{name}")
        sub = elementary_steps(expression, var, kink=kink)
        ok = bool(sub) and prove_equal(sub[-1].rhs, derivative)
        proof = "equal to sympy.diff (the difference simplifies to 0)"
        note = f"The partial derivative of f with respect to {name}."
        if not ok and sub and derivative.has(sp.Heaviside):
            # sympy.diff writes the derivative of max(x, 0) with Heaviside, whose value at 0 is 1/2; the relu
            # rule (and backward()) takes relu'(0) = kink. Both are conventions at one point: compare with the
            # reference in the same convention, and say so in the step's note.
            kinked = derivative.replace(sp.Heaviside, lambda arg, *_: relu_grad(arg, kink_value(kink)))
            if prove_equal(sub[-1].rhs, kinked):
                derivative, ok = kinked, True
                proof = "equal to sympy.diff, its Heaviside(0) = 1/2 taken as relu'(0) (the difference simplifies to 0)"
                note += (f" At the kink (where the argument of max is 0) sympy.diff's Heaviside(0) is 1/2; this "
                         f"derivation takes relu'(0) = {kink_value(kink)}, as backward() does: they differ only there.")
        if not ok:
            proof = "the elementary steps do not reach sympy.diff"
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
    if not isinstance(wrt, (str, list, tuple)):
        msg = f"wrt must be a name or a list of names, got {type(wrt).__name__}"
        raise UnknownNameError(msg)
    requested = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in requested:
        if not isinstance(name, str) or name not in symbols:
            msg = f"cannot differentiate with respect to {name!r}: the expression's variables are {', '.join(symbols)}"
            raise UnknownNameError(msg)
    return tuple(dict.fromkeys(requested))
