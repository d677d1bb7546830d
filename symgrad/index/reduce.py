"""The max reduction of index notation and the mask its derivative routes through.

``MaxOver(x[n, c, 2*i + u, 2*j + v], (u, 0, 1), (v, 0, 1))`` is the largest
entry of a window (max pooling). Its derivative by an entry is that entry's
derivative at the window's **first** maximum, in row-major order over the
reduced indices (u, then v): ``Σ_uv FirstArgMax(...)[u, v] ∂x[...]/∂θ``, the
mask being 1 at that one position and 0 elsewhere. Where the maximum is
unique this is the derivative; at a tie it is the convention of the
curricula (``np.argmax``, cs231n's and DLFS's max pooling send the whole
gradient to one entry, the first).

Examples
--------
>>> import sympy as sp
>>> u, i = sp.symbols("u i", integer=True)
>>> x = sp.IndexedBase("x")
>>> m = MaxOver(x[i + u], (u, 0, 1))
>>> m
MaxOver(x[i + u], (u, 0, 1))
>>> m.free_symbols == {x.label, i} or m.free_symbols == {x, i} or i in m.free_symbols
True
>>> MaxOver(x[u], (u, 0, 2)).doit()
Max(x[0], x[1], x[2])
"""

from __future__ import annotations

import itertools
from typing import Any

import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

__all__ = ["FirstArgMax", "MaxOver", "argmax_mask"]


class MaxOver(ExprWithLimits):  # type: ignore[misc]
    """``max`` of ``function`` over the limits ``(index, low, high)``, like a ``Sum``."""

    def doit(self, **hints: Any) -> sp.Expr:
        values = [self.function]
        for symbol, low, high in self.limits:
            if not (low.is_Integer and high.is_Integer):
                return self
            values = [v.xreplace({symbol: sp.Integer(k)}) for v in values for k in range(int(low), int(high) + 1)]
        return sp.Max(*(v.doit(**hints) if hints.get("deep", True) else v for v in values))

    def _sympystr(self, printer: Any) -> str:
        limits = ", ".join(printer._print(sp.Tuple(*limit)) for limit in self.limits)
        return f"MaxOver({printer._print(self.function)}, {limits})"

    def _latex(self, printer: Any) -> str:
        under = ", ".join(printer._print(limit[0]) for limit in self.limits)
        return rf"\max_{{{under}}} {printer._print(self.function)}"


class FirstArgMax(sp.Expr):  # type: ignore[misc]
    """1 when ``point`` is the first position (row-major) where ``body`` is largest over the reduced
    indices, else 0. ``body`` is written in primed indices (``u'``), one per entry of ``point``.

    Arguments: ``(body, Tuple(primed...), Tuple(Tuple(low, high)...), Tuple(point...))``.
    """

    @property
    def body(self) -> sp.Expr:
        return self.args[0]

    @property
    def primed(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.args[1])

    @property
    def bounds(self) -> tuple[tuple[Any, Any], ...]:
        return tuple(tuple(b) for b in self.args[2])

    @property
    def point(self) -> tuple[Any, ...]:
        return tuple(self.args[3])

    @property
    def free_symbols(self) -> set[Any]:
        primed = set(self.primed)
        inner = {s for s in self.body.free_symbols if s is not self.body and not (s.free_symbols & primed)}
        inner = {s for s in inner if not (getattr(s, "free_symbols", set()) & primed)}
        for expr in (*self.point, *(b for pair in self.bounds for b in pair)):
            inner |= sp.sympify(expr).free_symbols
        return inner

    def doit(self, **hints: Any) -> sp.Expr:
        """The 0 or 1, once the point, the bounds and every value in the window are numbers
        (``values=`` maps the window's entries to numbers, once the primed indices are put in)."""
        if not all(sp.sympify(p).is_Integer for p in self.point):
            return self
        if not all(sp.sympify(b).is_Integer for pair in self.bounds for b in pair):
            return self
        ranges = [range(int(lo), int(hi) + 1) for lo, hi in self.bounds]
        best, best_at = None, None
        for at in itertools.product(*ranges):  # row-major: the first maximum wins
            value = self.body.xreplace(dict(zip(self.primed, map(sp.Integer, at), strict=True)))
            values = hints.get("values", {})
            value = values(value) if callable(values) else value.xreplace(values)
            if not value.is_number:
                return self
            if best is None or bool(value > best):
                best, best_at = value, at
        return sp.S.One if best_at == tuple(int(p) for p in self.point) else sp.S.Zero

    def _shown_body(self) -> sp.Expr:
        return self.body.xreplace(dict(zip(self.primed, self.point, strict=True)))

    def _sympystr(self, printer: Any) -> str:
        point = ", ".join(printer._print(p) for p in self.point)
        return f"FirstArgMax[({point}) of {printer._print(self._shown_body())}]"

    def _latex(self, printer: Any) -> str:
        point = ", ".join(printer._print(p) for p in self.point)
        body = printer._print(self._shown_body())
        return rf"\mathbb{{1}}\left[({point}) = \operatorname{{first\,argmax}}\, {body}\right]"


def argmax_mask(reduction: MaxOver) -> FirstArgMax:
    """The mask of ``reduction``'s first maximum, at the point of its own reduced indices."""
    point = tuple(limit[0] for limit in reduction.limits)
    primed = tuple(sp.Symbol(f"{s}'", integer=True) for s in point)
    body = reduction.function.xreplace(dict(zip(point, primed, strict=True)))
    bounds = sp.Tuple(*(sp.Tuple(limit[1], limit[2]) for limit in reduction.limits))
    return FirstArgMax(body, sp.Tuple(*primed), bounds, sp.Tuple(*point))
