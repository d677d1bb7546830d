"""An N-D layer inside a network: its forward, or one of its derived rules, as one matrix-expression node.

A network's derivation is a staged program of matrix expressions
(:mod:`symgrad.derive.graph`); a convolution's forward and rules are index
notation over 4-D tensors (:mod:`symgrad.index.tensorform`). A
:class:`TensorCall` joins the two: it stands in the program for ``conv2d(x, W,
b)`` or for its derived rule ``(∂conv2d/∂x)ᵀ[G]``, holds the layer's
:class:`~symgrad.index.ir.IndexForward` (by a key into :data:`FORWARDS`) and its
operands, and is printed as one call of the compiled forward or rule
(:func:`symgrad.numeric.tensorrun.run_tensor_call`). Its matrix shape is the
value's with the trailing axes flattened, ``(N, C*H*W)``: only elementwise
layers and combinations, which do not read the shape, take such a value.

Examples
--------
>>> import sympy as sp
>>> from symgrad.layers.tensorforms import pool_forward
>>> x = sp.MatrixSymbol("x", sp.Symbol("N"), 8)
>>> call = TensorCall.of(pool_forward("max", (2, 2), (2, 2), (0, 0)), "forward", "max-pool2d", (x,), 2)
>>> print(call)
max-pool2d(x)
>>> call.shape
(N, 2)
>>> print(TensorCall.of(call.forward, "x", "max-pool2d", (x, sp.MatrixSymbol("G", sp.Symbol("N"), 2)), 8))
(dmax-pool2d/dx)^T[G; x]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions.matexpr import MatrixExpr

from symgrad.index.ir import IndexForward

__all__ = ["FORWARDS", "TensorCall", "forward_key"]

#: Every N-D forward a network's program has used, by its key (a hash of its structure): the
#: compiled program names a forward by key, and the key finds it when the program runs.
FORWARDS: dict[str, IndexForward] = {}


def forward_key(forward: IndexForward) -> str:
    """A short deterministic key for ``forward`` (the same forward gives the same key in every run)."""
    text = sp.srepr((forward.output, forward.indices, forward.body,
                     tuple((t.name, tuple(t.dims), t.integer) for t in forward.tensors), forward.ranges))
    key = "nd" + hashlib.sha256(text.encode()).hexdigest()[:16]
    FORWARDS.setdefault(key, forward)
    return key


class TensorCall(MatrixExpr):  # type: ignore[misc]
    """``which`` of an N-D layer's forward (``"forward"``, or a tensor's name: its derived rule) on ``operands``.

    The operands are the forward's tensors in order (the layer's input, then its
    parameters), and for a rule the upstream gradient G last.
    """

    def __new__(cls, key: str | Str, which: str | Str, label: str | Str, shape: Sequence[Any],
                operands: Sequence[Any]) -> TensorCall:
        names = (text if isinstance(text, Str) else Str(text) for text in (key, which, label))
        return sp.Basic.__new__(cls, *names, sp.Tuple(*shape), sp.Tuple(*operands))  # type: ignore[no-any-return]

    @classmethod
    def of(cls, forward: IndexForward, which: str, label: str, operands: Sequence[Any], features: Any) -> TensorCall:
        """The call of ``forward`` (registered in :data:`FORWARDS`), its value ``(N, features)`` as a matrix."""
        rows = operands[0].shape[0]
        return cls(forward_key(forward), which, label, (rows, features), operands)

    @property
    def key(self) -> str:
        return str(self.args[0].name)

    @property
    def which(self) -> str:
        return str(self.args[1].name)

    @property
    def label(self) -> str:
        return str(self.args[2].name)

    @property
    def forward(self) -> IndexForward:
        return FORWARDS[self.key]

    @property
    def operands(self) -> tuple[Any, ...]:
        return tuple(self.args[4])

    @property
    def shape(self) -> tuple[Any, Any]:
        return tuple(self.args[3])  # type: ignore[return-value]

    def _sympystr(self, printer: Any) -> str:
        shown = ", ".join(printer._print(arg) for arg in self.operands)
        if self.which == "forward":
            return f"{self.label}({shown})"
        upstream, *rest = (*self.operands[-1:], *self.operands[:-1])
        values = ", ".join(printer._print(arg) for arg in rest)
        return f"(d{self.label}/d{self.which})^T[{printer._print(upstream)}; {values}]"

    def _latex(self, printer: Any) -> str:
        name = rf"\operatorname{{{self.label}}}"
        if self.which == "forward":
            return rf"{name}\left({', '.join(printer._print(arg) for arg in self.operands)}\right)"
        values = ", ".join(printer._print(arg) for arg in self.operands[:-1])
        return (rf"\left(\frac{{\partial {name}}}{{\partial {self.which}}}\right)^{{T}}"
                rf"\left[{printer._print(self.operands[-1])};\ {values}\right]")

    def doit(self, **hints: Any) -> TensorCall:
        """Itself: an N-D layer's value has no closed matrix form."""
        return self
