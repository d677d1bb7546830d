"""SymPy functions for the activations symgrad knows by name.

``sigmoid`` and ``relu`` are SymPy ``Function`` subclasses rather than their
rewritten forms so that derivations read the way textbooks write them
(``\\sigma(z)``, ``\\operatorname{relu}(z)``), and so that their derivatives are
written once, here, in ``fdiff``. Both print to NumPy for ``lambdify``.

The derivative of ``relu`` at its kink is a setting: ``relu'(z)`` is
``relu_grad(z, kink)``, with ``kink`` one of :data:`KINK_VALUES`. ``fdiff``
uses 0 (what the usual mask ``x > 0`` gives); a derivation made with another
setting replaces it with :func:`with_kink`.
"""

from __future__ import annotations

import numbers
from typing import Any

import sympy as sp

__all__ = ["KINK_VALUES", "kink_value", "relu", "relu_grad", "sigmoid", "softplus", "with_kink"]

#: The values the derivative of ReLU may take at 0.
KINK_VALUES = (sp.Integer(0), sp.Rational(1, 2), sp.Integer(1))


class sigmoid(sp.Function):  # noqa: N801  (SymPy functions are lower case)
    """The logistic function ``1 / (1 + exp(-z))``.

    Examples
    --------
    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> sigmoid(z).diff(z)
    (1 - sigmoid(z))*sigmoid(z)
    >>> sigmoid(0)
    1/2
    """

    nargs = 1

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-arg))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _latex(self, printer: Any, exp: Any = None) -> str:
        inner = printer._print(self.args[0])
        base = rf"\sigma\left({inner}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _numpycode(self, printer: Any) -> str:
        arg = printer._print(self.args[0])
        # 1/(1 + exp(-z)) overflows (a RuntimeWarning) for large negative z; this
        # form is the same function, never overflows, and stays analytic for the complex step.
        return f"(0.5 + 0.5*numpy.tanh(0.5*({arg})))"


class softplus(sp.Function):  # noqa: N801
    """``log(1 + exp(z))``, whose derivative is ``sigmoid(z)``: binary cross-entropy's
    ``-t log σ(z) - (1 - t) log(1 - σ(z))`` is ``softplus(z) - t z``.

    Examples
    --------
    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> softplus(z).diff(z)
    sigmoid(z)
    >>> float(softplus(sp.Float(2.0)).evalf() + sp.log(sigmoid(sp.Float(-2.0))).evalf())  # log σ(-z) = -softplus(z)
    0.0
    """

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(arg))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

    def _latex(self, printer: Any, exp: Any = None) -> str:
        base = rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _numpycode(self, printer: Any) -> str:
        arg = printer._print(self.args[0])
        # z/2 + log(2 cosh(z/2)) is log(1 + exp(z)) exactly, finite up to |z| ~ 1400, analytic (complex step).
        return f"(0.5*({arg}) + numpy.log(2*numpy.cosh(0.5*({arg}))))"


class relu_grad(sp.Function):  # noqa: N801
    """The derivative of ReLU: 0 below 0, 1 above, ``kink`` at 0.

    Kept as its own function (rather than ``Heaviside``) so that it prints
    the same way everywhere and so that the kink value travels with it.

    Examples
    --------
    >>> import sympy as sp
    >>> relu_grad(3, sp.S.Half), relu_grad(-1, 0), relu_grad(0, sp.S.Half)
    (1, 0, 1/2)
    """

    nargs = 2

    @classmethod
    def eval(cls, arg: sp.Expr, kink: sp.Expr) -> sp.Expr | None:
        if arg.is_positive:
            return sp.S.One
        if arg.is_negative:
            return sp.S.Zero
        if arg.is_zero:
            return kink
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero

    def _latex(self, printer: Any, exp: Any = None) -> str:
        inner = printer._print(self.args[0])
        base = rf"\operatorname{{relu}}'\left({inner}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _numpycode(self, printer: Any) -> str:
        arg = printer._print(self.args[0])
        kink = printer._print(sp.Float(self.args[1]))
        return f"numpy.heaviside(numpy.real({arg}), {kink})"


class relu(sp.Function):  # noqa: N801
    """The rectifier ``max(0, z)``; ``fdiff`` takes its derivative at 0 as 0.

    Examples
    --------
    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> relu(z).diff(z)
    relu_grad(z, 0)
    >>> relu(-2), relu(3)
    (0, 3)
    """

    nargs = 1

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.is_nonnegative:
            return arg
        if arg.is_negative:
            return sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return relu_grad(self.args[0], sp.S.Zero)

    def _eval_rewrite_as_Max(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.Max(0, arg)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _latex(self, printer: Any, exp: Any = None) -> str:
        inner = printer._print(self.args[0])
        base = rf"\operatorname{{relu}}\left({inner}\right)"
        return base if exp is None else rf"{base}^{{{exp}}}"

    def _numpycode(self, printer: Any) -> str:
        arg = printer._print(self.args[0])
        # Multiplying by the mask keeps complex-step inputs analytic.
        return f"(({arg})*(numpy.real({arg}) > 0))"


def with_kink(expr: sp.Basic, kink: Any) -> sp.Basic:
    """Return ``expr`` with every ``relu_grad`` taking ``kink`` at 0.

    Examples
    --------
    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> with_kink(relu(z).diff(z), sp.S.Half)
    relu_grad(z, 1/2)
    """
    value = kink_value(kink)
    return expr.replace(relu_grad, lambda arg, _old: relu_grad(arg, value))


def kink_value(kink: Any) -> sp.Expr:
    """``kink`` as a SymPy number, if it is 0, 1/2 or 1; else UnknownNameError.

    Examples
    --------
    >>> kink_value(0.5)
    1/2
    >>> kink_value(2)
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: kink must be 0, 1/2 or 1 (the derivative of ReLU at 0), got 2
    """
    from symgrad.errors import UnknownNameError

    if isinstance(kink, sp.Basic):
        value = kink
    elif isinstance(kink, numbers.Real) and not isinstance(kink, bool):  # NumPy scalars too
        value = sp.nsimplify(float(kink))  # a number, never text
    else:
        value = None
    if value not in KINK_VALUES:
        msg = f"kink must be 0, 1/2 or 1 (the derivative of ReLU at 0), got {kink!r}"
        raise UnknownNameError(msg)
    return value
