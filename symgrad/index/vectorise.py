"""Recognise the vectorised form of a derived index expression: matrix form.

Each term ``Σ_s Π factors`` becomes a matrix product when its factors, read as
matrices labelled by their two indices, line up into a chain from the row
label to the column label through the summed indices: ``Σ_n x_np G_nq`` is
``(xᵀ G)_pq``, ``Σ_m G_pm W_qm`` is ``(G Wᵀ)_pq``, ``Σ_n G_nq`` is
``(1ᵀ G)_q``. A summed index read by one factor only is a contraction with a
ones vector; an output index that no factor reads is a broadcast (a ones
vector again: ``b_m`` over the batch is ``1 b``). Factors that carry the same
two labels multiply entrywise (Hadamard); a function of an entry is applied
entrywise (:class:`symgrad.matrixexpr.Elementwise`).

Before that, :data:`PATTERNS` rewrite known shapes of entry into a tensor of
their own: ``exp(y_pq) / Σ_k exp(y_pk)`` is ``softmax(y)_pq``. That list is
where further recognisers go (a mask for max; scatter-add for the windows of a
convolution, a lookup, a slice), and :func:`vectorise` returns None for what
no recogniser takes, so the caller can say so.

Examples
--------
>>> from symgrad.index.contract import Term
>>> from symgrad.index.ir import indices
>>> n, p, q = indices("n p q")
>>> x_, g_ = sp.IndexedBase("x"), sp.IndexedBase("G")
>>> x, g = sp.MatrixSymbol("x", 5, 3), sp.MatrixSymbol("G", 5, 2)
>>> vectorise((Term(x_[n, p] * g_[n, q], ((n, 0, 4),)),), (p, q), {"x": x, "G": g})
x.T*G
>>> vectorise((Term(g_[n, q], ((n, 0, 4),)),), (None, q), {"G": g})
1*G
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from symgrad.index.contract import Term
from symgrad.matrixexpr import ZETA, ElementSum, Elementwise, RowSoftmax

__all__ = ["PATTERNS", "TERM_PATTERNS", "vectorise"]

Label = Any  # an index Symbol, or None for a unit dimension (a row vector's rows)


@dataclass
class _Labelled:
    """A matrix whose entry ``[row, col]`` is the factor's value at those indices."""

    matrix: MatrixExpr | None  # None: a ones matrix, built once its orientation is known
    row: Label
    col: Label
    sizes: tuple[Any, Any]

    def oriented(self, first: Label) -> tuple[MatrixExpr, Label]:
        """The matrix with ``first`` as its row label, and the other label."""
        if self.row == first:
            return self._build(False), self.col
        return self._build(True), self.row

    def _build(self, transposed: bool) -> MatrixExpr:
        rows, cols = self.sizes[::-1] if transposed else self.sizes
        if self.matrix is None:
            return sp.OneMatrix(rows, cols)
        return self.matrix.T if transposed else self.matrix


def _softmax(factors: list[sp.Expr], binding: dict[str, Any]) -> list[sp.Expr] | None:
    """``exp(y[i,j]) * Sum(exp(y[i,k]), k)**-1`` -> ``softmax_y[i,j]``; a power ``-e`` takes ``e``
    numerators of the same row (a softmax's derivative has ``exp(y_ij) exp(y_il) / Σ²``)."""
    for power in factors:
        if not (isinstance(power, sp.Pow) and isinstance(power.base, sp.Sum)
                and power.exp.is_Integer and power.exp < 0):
            continue
        inner, limits = power.base.function, power.base.limits
        if len(limits) != 1 or not isinstance(inner, sp.exp) or not isinstance(inner.args[0], sp.Indexed):
            continue
        read, k = inner.args[0], limits[0][0]
        if len(read.indices) != 2 or read.indices[1] != k:
            continue
        numerators = [f for f in factors  # each once: exp(y_ij)**2 is a Pow, not taken here
                      if isinstance(f, sp.exp) and isinstance(f.args[0], sp.Indexed)
                      and f.args[0].base == read.base and f.args[0].indices[0] == read.indices[0]]
        taken = numerators[: int(-power.exp)]
        if len(taken) < -power.exp:
            continue
        name = f"softmax({read.base.label})"
        binding[name] = RowSoftmax(binding[str(read.base.label)])
        rest = [f for f in factors if f is not power and f not in taken]
        return [*rest, *(sp.IndexedBase(name)[n.args[0].indices] for n in taken)]
    return None


def _inner_row_sums(factors: list[sp.Expr], binding: dict[str, Any]) -> list[sp.Expr] | None:
    """``f(y[i,j] - Σ_k t[i,k] y[i,k])`` -> ``f(y[i,j] - r[i,j])`` with ``r = (t ∘ y) 1 1ᵀ``: a row sum
    inside an entrywise function (the true class's score in a hinge margin), broadcast along the row."""
    for position, factor in enumerate(factors):
        for total in sorted(factor.atoms(sp.Sum), key=sp.default_sort_key):
            if len(total.limits) != 1:
                continue
            k = total.limits[0][0]
            reads = list(sp.Mul.make_args(total.function))
            if not all(isinstance(r, sp.Indexed) and len(r.indices) == 2 and r.indices[1] == k for r in reads):
                continue
            row = reads[0].indices[0]
            if any(r.indices[0] != row for r in reads):
                continue
            outside = factor.xreplace({total: sp.S.Zero})
            beside = [r for r in sorted(outside.atoms(sp.Indexed), key=sp.default_sort_key)
                      if len(r.indices) == 2 and r.indices[0] == row and r.indices[1] != k]
            items = [_read(r, binding) for r in reads]
            there = _read(beside[0], binding) if beside else None
            if there is None or any(item is None for item in items):
                continue
            matrices = [item.oriented(row)[0] for item in items if item is not None]
            inner = matrices[0] if len(matrices) == 1 else sp.HadamardProduct(*matrices)
            name = f"rowsum{sum(key.startswith('rowsum') for key in binding)}"
            binding[name] = inner * sp.OneMatrix(inner.shape[1], there.oriented(row)[0].shape[1])
            replaced = factor.xreplace({total: sp.IndexedBase(name)[row, beside[0].indices[1]]})
            return [*factors[:position], replaced, *factors[position + 1 :]]
    return None


#: Rewrites of a term's factors into tensors of their own, tried in order until none applies.
#: Each takes the factors and the binding (which it may extend), and returns new factors or None.
PATTERNS: tuple[Callable[[list[sp.Expr], dict[str, Any]], list[sp.Expr] | None], ...] = (_softmax, _inner_row_sums)


def _row_sum_broadcast(
    factors: list[sp.Expr], summed: tuple[Any, ...], out: tuple[Label, Label], binding: dict[str, Any]
) -> tuple[list[sp.Expr], tuple[Any, ...]]:
    """``Σ_j A_pj B_pj · C_pq`` -> ``((A ∘ B) 1 1ᵀ)_pq · C_pq``: a row sum broadcast along the output's columns.

    An index ``j`` summed over factors that all read the output's row ``p`` (and nothing
    else), beside a factor reading ``(p, q)``, is a row sum repeated in every column: the
    softmax Jacobian's ``y ∘ (G - rowsum(G ∘ y))``. Its factors become one tensor read at
    ``[p, q]``, and ``j`` is no longer summed.
    """
    row, col = out
    if row is None or col is None:
        return factors, summed
    for j in summed:
        readers = [f for f in factors if j in f.free_symbols]
        others = [f for f in factors if j not in f.free_symbols]
        labels = {*summed, row, col}
        if not readers or any(f.free_symbols & labels != {row, j} for f in readers):
            continue
        beside = [item for f in others if isinstance(f, sp.Indexed) and set(f.indices) == {row, col}
                  for item in (_read(f, binding),) if item is not None]
        found = [_entrywise(f, row, j, binding) for f in readers]  # each (row x j); an entry read as a matrix
        matrices = [matrix for matrix in found if matrix is not None]
        if not beside or len(matrices) < len(found):
            continue
        inner = matrices[0] if len(matrices) == 1 else sp.HadamardProduct(*matrices)
        columns = beside[0].oriented(row)[0].shape[1]
        name = f"rowsum{sum(key.startswith('rowsum') for key in binding)}"
        binding[name] = inner * sp.OneMatrix(inner.shape[1], 1) * sp.OneMatrix(1, columns)
        return [*others, sp.IndexedBase(name)[row, col]], tuple(s for s in summed if s != j)
    return factors, summed


#: Rewrites of a whole term (its factors and summed indices), after :data:`PATTERNS`.
TERM_PATTERNS: tuple[Callable[..., tuple[list[sp.Expr], tuple[Any, ...]]], ...] = (_row_sum_broadcast,)


def vectorise(
    terms: tuple[Term, ...],
    out: tuple[Label, Label],
    binding: Mapping[str, MatrixExpr],
    sizes: Mapping[Any, Any] | None = None,
) -> MatrixExpr | None:
    """The matrix form of ``Σ terms`` as a matrix labelled ``out``, or None when none is found.

    ``binding`` maps each tensor's name to its matrix (a vector to a row 1 x M); ``sizes``
    gives the range of an output index that no factor reads (a broadcast).
    """
    parts = []
    for term in terms:
        part = _term(term, out, dict(binding), sizes or {})
        if part is None:
            return None
        parts.append(part)
    return _combine(parts) if parts else None


def _combine(parts: list[tuple[sp.Expr, MatrixExpr]]) -> MatrixExpr:
    # A common coefficient goes in front: (1/N)*(softmax(y) - t) rather than softmax(y)/N - t/N.
    common = next((c for c, _ in parts if not c.could_extract_minus_sign()), parts[0][0])
    if all((c / common).is_number for c, _ in parts) and common != 1:
        inner = functools.reduce(operator.add, (_scale(c / common, m) for c, m in parts))
        return common * inner  # type: ignore[no-any-return]
    return functools.reduce(operator.add, (_scale(c, m) for c, m in parts))


def _scale(coefficient: sp.Expr, matrix: MatrixExpr) -> MatrixExpr:
    return matrix if coefficient == 1 else coefficient * matrix


def _term(
    term: Term, out: tuple[Label, Label], binding: dict[str, Any], sizes: Mapping[Any, Any]
) -> tuple[sp.Expr, MatrixExpr] | None:
    factors = list(sp.Mul.make_args(term.factor))
    rewritten = True
    while rewritten:
        rewritten = False
        for pattern in PATTERNS:
            new = pattern(factors, binding)
            if new is not None:
                factors, rewritten = new, True
    summed = term.summed()
    for pattern_of_term in TERM_PATTERNS:
        factors, summed = pattern_of_term(factors, summed, out, binding)
    labels = set(summed) | {label for label in out if label is not None}
    coefficient: sp.Expr = sp.S.One
    labelled: list[_Labelled] = []
    for factor in factors:
        if isinstance(factor, sp.Add):  # 2*y - 2*t: the 2 joins the coefficient
            content, factor = factor.primitive()
            coefficient *= content
        used = factor.free_symbols & labels
        if not used:
            coefficient *= factor
            continue
        item = _labelled(factor, used, out, binding)
        if item is None:
            return None
        labelled.append(item)
    labelled = _hadamard(labelled)
    ones = _ones(labelled, summed, out, sizes)
    if ones is None:
        return None
    chain = _chain(labelled + ones, out)
    if chain is None:
        return None
    if coefficient.has(sp.Sum):  # a full sum left in a factor: log-sum-exp's 1/Σ_i exp(x_i)
        coefficient = _scalar_sums(coefficient, binding)
        if coefficient is None:
            return None
    return coefficient, chain


class _NoFormError(Exception):
    """Raised inside :func:`_scalar_sums` when a sum has no matrix form."""


def _scalar_sums(expr: sp.Expr, binding: Mapping[str, Any]) -> sp.Expr | None:
    """Each sum over every index of the entries it reads as the sum of all entries of a matrix."""

    def convert(total: sp.Sum) -> Any:
        summed = {limit[0] for limit in total.limits}
        reads = sorted(total.function.atoms(sp.Indexed), key=sp.default_sort_key)
        first = _read(reads[0], binding) if reads else None
        if first is None or {first.row, first.col} - {None} != summed:
            raise _NoFormError
        matrix = _entrywise(total.function, first.row, first.col, binding)
        if matrix is None:
            raise _NoFormError
        if matrix.shape[0] == 1:  # the sum of a row is the sum of the column it came from
            matrix = sp.Transpose(matrix).doit()
        return ElementSum(matrix)

    try:
        return expr.replace(lambda e: isinstance(e, sp.Sum), convert)  # type: ignore[no-any-return]
    except _NoFormError:
        return None


def _labelled(factor: sp.Expr, used: set[Any], out: tuple[Label, Label], binding: dict[str, Any]) -> _Labelled | None:
    if isinstance(factor, sp.Indexed):
        return _read(factor, binding)
    # An entrywise expression: only in the output's own indices, as a matrix labelled like the output.
    if not used <= set(out):
        return None
    row, col = out
    for read in factor.atoms(sp.Indexed):
        first = _read(read, binding)
        if first is not None and {first.row, first.col} == {row, col}:
            matrix = _entrywise(factor, row, col, binding)
            if matrix is not None:
                return _Labelled(matrix, row, col, tuple(matrix.shape))
    return None


def _read(read: sp.Indexed, binding: Mapping[str, Any]) -> _Labelled | None:
    matrix = binding.get(str(read.base.label))
    if matrix is None:
        return None
    if len(read.indices) == 1:  # a vector, bound to a row
        return _Labelled(matrix, None, read.indices[0], tuple(matrix.shape))
    if len(read.indices) == 2:
        return _Labelled(matrix, read.indices[0], read.indices[1], tuple(matrix.shape))
    return None


def _entrywise(expr: sp.Expr, row: Label, col: Label, binding: Mapping[str, Any]) -> MatrixExpr | None:
    """``expr`` (an entry at ``[row, col]``) as a matrix, or None."""
    if isinstance(expr, sp.Indexed):
        item = _read(expr, binding)
        if item is None or {item.row, item.col} != {row, col}:
            return None
        return item.oriented(row)[0]
    labels = {row, col} - {None}
    if not (expr.free_symbols & labels):
        return None  # a constant cannot stand for a matrix here (no broadcast of scalars)
    if isinstance(expr, sp.Add):
        constant = sp.Add(*(arg for arg in expr.args if not (arg.free_symbols & labels)))
        found = [_entrywise(arg, row, col, binding) for arg in expr.args if arg.free_symbols & labels]
        parts = [part for part in found if part is not None]
        if len(parts) < len(found):
            return None
        if constant != 0:  # a number beside matrices: the number in every entry (1 - t is 1 1ᵀ - t)
            parts.append(_scale(constant, sp.OneMatrix(*parts[0].shape)))
        return functools.reduce(operator.add, parts)
    if isinstance(expr, sp.Mul):
        scalars = [a for a in expr.args if not (a.free_symbols & labels)]
        parts = [_entrywise(a, row, col, binding) for a in expr.args if a.free_symbols & labels]
        if any(p is None for p in parts):
            return None
        product = parts[0] if len(parts) == 1 else sp.HadamardProduct(*parts)
        return _scale(sp.Mul(*scalars), product)
    inside = [a for a in expr.args if a.free_symbols & labels]
    if len(inside) != 1:
        return None
    inner = _entrywise(inside[0], row, col, binding)
    return None if inner is None else Elementwise(expr.xreplace({inside[0]: ZETA}), inner)


def _hadamard(items: list[_Labelled]) -> list[_Labelled]:
    """Factors with the same two labels multiply entrywise."""
    groups: dict[frozenset[Any], list[_Labelled]] = {}
    for item in items:
        groups.setdefault(frozenset((item.row, item.col)), []).append(item)
    result = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1 or first.matrix is None:
            result += group
            continue
        matrices = [item.oriented(first.row)[0] for item in group]
        result.append(_Labelled(sp.HadamardProduct(*matrices), first.row, first.col, first.sizes))
    return result


def _ones(
    items: list[_Labelled], summed: tuple[Any, ...], out: tuple[Label, Label], sizes: Mapping[Any, Any]
) -> list[_Labelled] | None:
    """Ones vectors for a summed index read once (a contraction) and an output index read by none (a broadcast)."""
    extra = []
    for symbol in summed:
        readers = [item for item in items if symbol in (item.row, item.col)]
        if len(readers) == 1:
            size = _size_of(readers[0], symbol)
            extra.append(_Labelled(None, None, symbol, (1, size)))
    for label in out:
        if label is not None and not any(label in (item.row, item.col) for item in items):
            if label not in sizes:
                return None  # the size of an index no factor reads is unknown: no matrix form
            extra.append(_Labelled(None, label, None, (sizes[label], 1)))
    return extra


def _size_of(item: _Labelled, symbol: Label) -> Any:
    return item.sizes[0] if item.row == symbol else item.sizes[1]


def _chain(items: list[_Labelled], out: tuple[Label, Label]) -> MatrixExpr | None:
    """The matrix product that walks from the row label to the column label through every factor."""
    row, col = out
    for item in items:  # an index read by three factors is no chain of products (an einsum)
        for label in (item.row, item.col):
            if label is not None and sum(label in (i.row, i.col) for i in items) > 2:
                return None
    unused = list(items)
    current, matrices = row, []
    while unused:
        nxt = next((item for item in unused if current in (item.row, item.col)), None)
        if nxt is None:
            return None
        unused.remove(nxt)
        matrix, current = nxt.oriented(current)
        matrices.append(matrix)
        if current == col and not any(current in (i.row, i.col) for i in unused if current is not None):
            break
    if unused or current != col or not matrices:
        return None
    return functools.reduce(operator.mul, matrices)
