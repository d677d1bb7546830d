"""The index notation that forwards are written in: ``y[n,m] = Σ_d x[n,d] W[d,m] + b[m]``.

A forward is plain SymPy: each input a ``sympy.IndexedBase`` read at index
symbols, each contraction a ``sympy.Sum`` with limits ``(d, 0, D - 1)``.
:class:`IndexForward` holds the body with what the engine needs beside it:
the output's indices, each input tensor's dimensions, and assumptions about
the inputs (a target row that sums to 1). :meth:`IndexForward.validate`
rejects an unknown index or tensor and a tensor read with the wrong indices,
naming what was wrong, so the engine works on well-formed forwards only.

An index position may be an expression: a window ``x[n, c, 2*i + u - 1, 2*j + v - 1]``
(affine in the indices) or a lookup ``W[idx[n], d]`` by an integer tensor. A
read outside a tensor's range is 0: that is zero padding (a convolution's
``pad``). A max over indices is :class:`~symgrad.index.reduce.MaxOver`, written
like a ``Sum``.

Examples
--------
>>> n, m, d = indices("n m d")
>>> x, w, b = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("b")
>>> fwd = IndexForward("y", (n, m), sp.Sum(x[n, d] * w[d, m], (d, 0, 2)) + b[m],
...                    (Tensor("x", (5, 3)), Tensor("W", (3, 2)), Tensor("b", (2,))), ((n, 5), (m, 2), (d, 3)))
>>> fwd.validate().body
b[m] + Sum(W[d, m]*x[n, d], (d, 0, 2))
>>> fwd.index_range(m)
2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.index.reduce import MaxOver

__all__ = ["IndexForward", "RowSumsToOne", "Tensor", "index", "indices"]


def index(name: str) -> sp.Symbol:
    """An index symbol (an integer)."""
    return sp.Symbol(name, integer=True)


def indices(names: str) -> tuple[sp.Symbol, ...]:
    """Index symbols from a space-separated string, e.g. ``indices("n m d")``."""
    return tuple(index(name) for name in names.split())


@dataclass(frozen=True)
class Tensor:
    """An input of a forward: its name and its dimensions, e.g. ``Tensor("x", (N, D))``.

    A vector (one dimension) is bound to a row matrix (1 x M) when vectorised.
    An ``integer`` tensor (an embedding's indices) is read only inside another
    read's index positions (``W[idx[n], d]``) and is never differentiated.
    """

    name: str
    dims: tuple[Any, ...]
    integer: bool = False

    @property
    def base(self) -> sp.IndexedBase:
        return sp.IndexedBase(self.name)


@dataclass(frozen=True)
class RowSumsToOne:
    """The assumption that each row of a tensor sums to 1 (one-hot or probability targets)."""

    tensor: str

    def describe(self) -> str:
        return f"each row of {self.tensor} sums to 1 (one-hot or probability targets)"


@dataclass(frozen=True)
class IndexForward:
    """``output[indices] = body``: a forward in index notation.

    Attributes
    ----------
    output : str
        The output's name, ``"y"`` for a layer or ``"E"`` for a loss (no indices).
    indices : tuple of Symbol
        The output's indices, e.g. ``(n, m)``; empty for a scalar loss.
    body : sympy.Expr
        The entry, with each input an ``IndexedBase`` and each contraction a ``Sum``.
    tensors : tuple of Tensor
        The inputs, in order.
    ranges : tuple of (Symbol, size)
        The range of every index: ``n`` runs over ``0 .. N - 1``.
    assumptions : tuple
        What the inputs are assumed to satisfy (:class:`RowSumsToOne`).
    examples : tuple of (Symbol, int)
        Small sizes for the entrywise proofs where the default ones would not fit
        (a 3 x 3 window needs an image of at least 3 x 3).
    """

    output: str
    indices: tuple[sp.Symbol, ...]
    body: sp.Expr
    tensors: tuple[Tensor, ...]
    ranges: tuple[tuple[sp.Symbol, Any], ...]
    assumptions: tuple[RowSumsToOne, ...] = ()
    examples: tuple[tuple[sp.Symbol, int], ...] = ()

    def tensor(self, name: str) -> Tensor:
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        names = ", ".join(t.name for t in self.tensors)
        msg = f"the forward of {self.output} has no input {name!r}; its inputs are {names}"
        raise UnknownNameError(msg)

    def index_range(self, symbol: sp.Symbol) -> Any:
        for known, size in self.ranges:
            if known == symbol:
                return size
        msg = f"index {symbol} has no declared range in the forward of {self.output}"
        raise UnknownNameError(msg)

    def output_dims(self) -> tuple[Any, ...]:
        return tuple(self.index_range(i) for i in self.indices)

    def validate(self) -> IndexForward:
        """Return self if well formed, else raise naming the fault.

        Examples
        --------
        >>> n, m, k = indices("n m k")
        >>> x = sp.IndexedBase("x")
        >>> bad = IndexForward("y", (n, m), x[n, k], (Tensor("x", (3, 4)),), ((n, 3), (m, 4)))
        >>> bad.validate()
        Traceback (most recent call last):
        ...
        symgrad.errors.UnknownNameError: unknown index k in x[n, k]: not an output index (n, m) and not summed over
        """
        known = {t.name: t for t in self.tensors}
        for read in sorted(self.body.atoms(sp.Indexed), key=sp.default_sort_key):
            name = str(read.base.label)
            if name not in known:
                msg = f"unknown tensor {name!r} in {read}: the inputs are {', '.join(known) or 'none'}"
                raise UnknownNameError(msg)
            dims = known[name].dims
            if len(read.indices) != len(dims):
                msg = f"{name} has {len(dims)} dimensions but {read} reads it with {len(read.indices)} indices"
                raise ShapeError(msg)
            bound = _bound_at(self.body, read)
            if known[name].integer and not _inside_position(self.body, read):
                msg = f"{name} holds integer indices: read it only inside another read's index, as in W[{read}, d]"
                raise ShapeError(msg)
            for position, (symbol, dim) in enumerate(zip(read.indices, dims, strict=True)):
                if not isinstance(symbol, sp.Symbol):
                    self._check_position(read, symbol, bound, known)
                    continue
                if symbol not in self.indices and symbol not in bound:
                    free = ", ".join(map(str, self.indices)) or "none"
                    msg = f"unknown index {symbol} in {read}: not an output index ({free}) and not summed over"
                    raise UnknownNameError(msg)
                size = bound.get(symbol, None) if symbol in bound else self.index_range(symbol)
                if sp.simplify(size - dim) != 0:
                    msg = (
                        f"shape mismatch in {read}: index {symbol} runs over {size} values, "
                        f"but dimension {position} of {name} has {dim}"
                    )
                    raise ShapeError(msg)
        return self

    def _dimension_symbols(self) -> set[Any]:
        symbols: set[Any] = set()
        for tensor in self.tensors:
            for dim in tensor.dims:
                symbols |= sp.sympify(dim).free_symbols
        return symbols

    def _check_position(self, read: sp.Indexed, position: sp.Expr, bound: dict[sp.Symbol, Any],
                        known: dict[str, Tensor]) -> None:
        """An index position that is an expression (a window ``2*i + u``, a lookup ``idx[n]``)."""
        for symbol in position.free_symbols:
            if isinstance(symbol, sp.Symbol) and symbol not in self.indices and symbol not in bound:
                if str(symbol) in known or symbol in self._dimension_symbols():
                    continue  # the label of the integer tensor read there, or a size (Flatten's H*W)
                if any(symbol in inner.indices for inner in position.atoms(sp.Indexed)):
                    continue  # checked with that inner read
                free = ", ".join(map(str, self.indices)) or "none"
                msg = f"unknown index {symbol} in {read}: not an output index ({free}) and not summed over"
                raise UnknownNameError(msg)
        for inner in position.atoms(sp.Indexed):
            tensor = known.get(str(inner.base.label))
            if tensor is not None and not tensor.integer:
                msg = f"{read} reads {inner.base.label} in an index position; only an integer tensor can give indices"
                raise ShapeError(msg)


def _inside_position(body: sp.Expr, read: sp.Indexed) -> bool:
    return any(read in position.atoms(sp.Indexed) for outer in body.atoms(sp.Indexed) if outer != read
               for position in outer.indices)


def _bound_at(body: sp.Expr, read: sp.Indexed) -> dict[sp.Symbol, Any]:
    """The summed indices in scope at ``read`` and their range sizes."""
    scope: dict[sp.Symbol, Any] = {}

    def visit(expr: sp.Basic, inner: dict[sp.Symbol, Any]) -> bool:
        if expr == read:
            scope.update(inner)
            return True
        if isinstance(expr, (sp.Sum, MaxOver)):
            inner = {**inner, **{s: hi - lo + 1 for s, lo, hi in expr.limits}}
        return any(visit(arg, inner) for arg in expr.args)

    visit(body, {})
    return scope
