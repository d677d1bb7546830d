"""Small SymPy matrix-expression classes that symgrad's layers are written in.

SymPy's own ``ElementwiseApplyFunction`` prints as ``(z -> f(z))_o(X)`` and
its NumPy printer cannot print it; softmax and "sum of all entries" have no
class of their own. These classes print the way the derivation documents
write them, and carry no calculus: the derivative rules live in the layers.

Examples
--------
>>> import sympy as sp
>>> from symgrad.functions import sigmoid
>>> X = sp.MatrixSymbol("h1", 4, 3)
>>> sp.latex(Elementwise.of(sigmoid, X))
'\\\\sigma\\\\left(h_{1}\\\\right)'
>>> Elementwise.of(sigmoid, X).shape
(4, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

__all__ = ["BATCH", "ZETA", "ElementSum", "Elementwise", "RowSoftmax"]

#: The placeholder variable of elementwise functions.
ZETA = sp.Symbol("zeta")
#: The batch size N, the rows of x.
BATCH = sp.Symbol("N", integer=True, positive=True)


class Elementwise(MatrixExpr):  # type: ignore[misc]
    """``body(zeta)`` applied to every entry of a matrix ``arg``."""

    def __new__(cls, body: sp.Expr, arg: MatrixExpr) -> Elementwise:
        return sp.Basic.__new__(cls, sp.sympify(body), arg)  # type: ignore[no-any-return]

    @classmethod
    def of(cls, func: Callable[[sp.Expr], sp.Expr], arg: MatrixExpr) -> Elementwise:
        """Apply the scalar function ``func`` entrywise to ``arg``."""
        return cls(func(ZETA), arg)

    @property
    def body(self) -> sp.Expr:
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def arg(self) -> MatrixExpr:
        return self.args[1]

    @property
    def shape(self) -> tuple[Any, Any]:
        return self.arg.shape  # type: ignore[no-any-return]

    def _latex(self, printer: Any) -> str:
        placeholder = sp.Symbol("SYMGRADPLACEHOLDER")
        text = printer._print(self.body.xreplace({ZETA: placeholder}))
        inner = printer._print(self.arg)
        if isinstance(self.body, sp.Function) and self.body.args == (ZETA,):
            return text.replace(printer._print(placeholder), inner)  # type: ignore[no-any-return]
        if not compact_matrix(self.arg):  # [(h - m)^2], not [h - m^2]
            inner = rf"\left({inner}\right)"
        text = text.replace(printer._print(placeholder), inner)
        return rf"\left[{text}\right]"

    def doit(self, **hints: Any) -> MatrixExpr:
        """The explicit matrix (or sum) once every entry of the argument is known."""
        return _elementwise_doit(self, **hints)

    def _eval_transpose(self) -> Elementwise:
        return Elementwise(self.body, sp.Transpose(self.arg).doit())


class ElementSum(sp.Expr):  # type: ignore[misc]
    """The sum of all entries of a matrix (a scalar)."""

    is_commutative = True

    def __new__(cls, arg: MatrixExpr) -> ElementSum:
        return sp.Basic.__new__(cls, arg)  # type: ignore[no-any-return]

    def _latex(self, printer: Any) -> str:
        return rf"\sum_{{i,j}} \left[{printer._print(self.args[0])}\right]_{{ij}}"

    def doit(self, **hints: Any) -> sp.Expr:
        """The explicit matrix (or sum) once every entry of the argument is known."""
        return _element_sum_doit(self, **hints)


class RowSoftmax(MatrixExpr):  # type: ignore[misc]
    """Softmax of each row of a matrix."""

    def __new__(cls, arg: MatrixExpr) -> RowSoftmax:
        return sp.Basic.__new__(cls, arg)  # type: ignore[no-any-return]

    @property
    def shape(self) -> tuple[Any, Any]:
        return self.args[0].shape  # type: ignore[no-any-return]

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{softmax}}\left({printer._print(self.args[0])}\right)"

    def doit(self, **hints: Any) -> MatrixExpr:
        """The explicit matrix (or sum) once every entry of the argument is known."""
        return _softmax_doit(self, **hints)


def _explicit(arg: Any) -> sp.ImmutableMatrix | None:
    """``arg`` as an explicit matrix when all its entries are known, else None."""
    value = arg.doit() if hasattr(arg, "doit") else arg
    if isinstance(value, sp.MatrixBase):
        return sp.ImmutableMatrix(value)
    if isinstance(value, MatrixExpr) and not value.atoms(sp.MatrixSymbol):
        return sp.ImmutableMatrix(value.as_explicit())
    return None


def _elementwise_doit(self: Elementwise, **hints: Any) -> MatrixExpr:
    explicit = _explicit(self.arg)
    if explicit is None:
        return self
    return explicit.applyfunc(lambda entry: self.body.xreplace({ZETA: entry}))


def _softmax_doit(self: RowSoftmax, **hints: Any) -> MatrixExpr:
    explicit = _explicit(self.args[0])
    if explicit is None:
        return self
    rows = []
    for i in range(explicit.rows):
        exps = [sp.exp(explicit[i, j]) for j in range(explicit.cols)]
        total = sp.Add(*exps)
        rows.append([e / total for e in exps])
    return sp.ImmutableMatrix(rows)


def _element_sum_doit(self: ElementSum, **hints: Any) -> sp.Expr:
    explicit = _explicit(self.args[0])
    if explicit is None:
        return self
    return sp.Add(*explicit)




def compact_matrix(expr: Any) -> bool:
    """Whether a matrix expression prints as one unit (a name, a transpose, a call), needing no parentheses.

    Examples
    --------
    >>> h, m = sp.MatrixSymbol("h", 2, 2), sp.MatrixSymbol("m", 2, 2)
    >>> compact_matrix(h), compact_matrix(h.T), compact_matrix(h - m)
    (True, True, False)
    """
    return bool(isinstance(expr, (sp.MatrixSymbol, sp.Transpose, Elementwise, RowSoftmax)) or expr.is_Atom)
