"""One canonical order for every printer (text, LaTeX, and MathML and Markdown, which take the LaTeX).

SymPy stores a sum's terms in its own order (``-t + y``), and a product's factors too
(``(1 - σ(z)) σ(z)``); its printers then disagree with each other, and with a textbook. These
functions decide how a sum or a product is *shown*, without changing what it is:

* a sum shows its positive terms first, the ones with a minus sign after, each group in the
  order it had (``y - t``, ``1 - σ(z)``);
* a sum whose terms share a rational factor shows it outside (``2 (y - t)``, not ``-2t + 2y``);
* a product of scalars shows its sums after its other factors (``σ(z) (1 - σ(z))``), an
  unevaluated derivative last, and gathers powers of one base (``y x^(y - 1)``, not ``y x^y / x``).

A sum of matrices is reordered too (addition commutes); a product of matrices is left alone: its
order is its meaning.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

__all__ = ["negative_matrix_term", "shown_product", "shown_sum"]


def _negative(term: Any) -> bool:
    return bool(term.could_extract_minus_sign())


def negative_matrix_term(term: Any) -> bool:
    """A matrix product with a negative coefficient, which a sum shows after a minus sign.

    Examples
    --------
    >>> h = sp.MatrixSymbol("h", 2, 2)
    >>> negative_matrix_term(-h / 3), negative_matrix_term(2 * h), negative_matrix_term(h)
    (True, False, False)
    """
    return isinstance(term, sp.MatMul) and bool(term.as_coeff_matrices()[0].could_extract_minus_sign())


def shown_sum(expr: sp.Add) -> sp.Basic:
    """The sum as it should be shown: a common factor outside, positive terms first.

    Examples
    --------
    >>> t, y = sp.symbols("t y")
    >>> shown_sum(-t + y).args
    (y, -t)
    >>> shown = shown_sum(2 * y - 2 * t)  # shown as 2 (y - t)
    >>> shown.args[0], shown.args[1].args
    (2, (y, -t))
    """
    if isinstance(expr, sp.MatAdd):
        return _ordered_sum(expr)
    content, rest = expr.primitive()
    if content.is_Rational and content not in (1, -1) and content > 0 and isinstance(rest, sp.Add):
        return sp.Mul(content, _ordered_sum(rest), evaluate=False)
    return _ordered_sum(expr)


def _ordered_sum(expr: sp.Add) -> sp.Basic:
    terms = list(expr.args)
    ordered = [t for t in terms if not _negative(t)] + [t for t in terms if _negative(t)]
    if ordered == terms or not ordered[0:1] or _negative(ordered[0]):
        return expr
    # sp.Add of matrices would hand back SymPy's own order; a MatAdd keeps the one given.
    kind = sp.MatAdd if isinstance(expr, sp.MatAdd) else sp.Add
    return kind(*ordered, evaluate=False)


def shown_product(expr: sp.Mul) -> sp.Basic:
    """The product as it should be shown: powers of one base gathered, sums last.

    Examples
    --------
    >>> x, y, s = sp.symbols("x y s")
    >>> shown_product(y * x**y / x).args
    (y, x**(y - 1))
    >>> shown_product((1 - s) * s).args
    (s, 1 - s)
    """
    if not expr.is_commutative:
        return expr
    factors = list(expr.args)
    bases = [f.base if isinstance(f, sp.Pow) else f for f in factors if not f.is_Number]
    if len(set(bases)) < len(bases) and any(isinstance(f, sp.Pow) and f.exp.could_extract_minus_sign()
                                            for f in factors):
        gathered = sp.powsimp(expr, deep=False)
        if isinstance(gathered, sp.Mul):
            factors = list(gathered.args)
        else:
            return gathered
    # Sums after the other factors, derivatives (an operator applied to what follows) last of all:
    # 2 (y - t) d/dy(y - t), never 2 d/dy(y - t) (y - t).
    def rank(factor: Any) -> int:
        return 2 if isinstance(factor, sp.Derivative) else 1 if isinstance(factor, sp.Add) else 0

    ordered = sorted(factors, key=rank)
    if ordered == list(expr.args):
        return expr
    return sp.Mul(*ordered, evaluate=False)
