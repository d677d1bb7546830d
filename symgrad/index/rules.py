"""Derive a forward's backward rules: the index-level steps and the matrix form.

For each input A of a forward ``y[out] = body`` (:class:`~symgrad.index.ir.IndexForward`):

1. the chain rule entry by entry, ``∂E/∂A_pq = Σ_out G[out] ∂y[out]/∂A_pq``
   (G is dE/dy, the upstream gradient; a loss has no G: E is the forward);
2. each entry differentiated (:mod:`symgrad.index.differentiate`): Kronecker deltas;
3. the deltas eliminated (:mod:`symgrad.index.contract`);
4. the forward's assumptions applied, each named in its step (``Σ_m t_nm = 1``);
5. the matrix form recognised (:mod:`symgrad.index.vectorise`).

Steps 1 to 4 depend on the forward alone and are derived once per process
(:func:`derive_rule` is cached); step 5 is made for the matrices a layer is
applied to. Every step is plain data (:class:`IndexStep`) for the documents.

Examples
--------
>>> from symgrad.layers import Affine
>>> rule = derive_rule(Affine(3, 2).index_forward(), "W")
>>> for step in rule.steps:
...     print(step.rhs)
Sum(Derivative(y[n, m], W[p, q])*G[n, m], (n, 0, N - 1), (m, 0, M - 1))
Sum(G[n, m]*Sum(KroneckerDelta(d, p)*KroneckerDelta(m, q)*x[n, d], (d, 0, D - 1)), (n, 0, N - 1), (m, 0, M - 1))
Sum(G[n, q]*x[n, p], (n, 0, N - 1))
>>> import sympy as sp
>>> x, w, g = sp.MatrixSymbol("x", 5, 3), sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("G", 5, 2)
>>> matrix_rules(Affine(3, 2).index_forward(), {"x": x, "W": w, "b": sp.MatrixSymbol("b", 1, 2), "G": g})
{'x': G*W.T, 'W': x.T*G, 'b': 1*G}
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement, MatrixExpr

from symgrad.errors import LayerError
from symgrad.index.contract import Term, as_expr, eliminate, flatten
from symgrad.index.differentiate import entry_derivative
from symgrad.index.ir import IndexForward, RowSumsToOne, index
from symgrad.index.vectorise import vectorise

__all__ = ["IndexRule", "IndexStep", "derive_rule", "forward_matrix", "matrix_form", "matrix_rules", "rule_steps"]

#: The name of the upstream gradient dE/dy in index steps.
UPSTREAM = "G"


@dataclass(frozen=True)
class IndexStep:
    """One index-level step: ``lhs = rhs`` by ``rule`` (plain data, for the documents)."""

    lhs: sp.Basic
    rhs: sp.Basic
    rule: str
    note: str = ""


@dataclass(frozen=True)
class IndexRule:
    """The derived gradient of E with respect to every entry ``wrt[at]`` of one input."""

    forward: IndexForward
    wrt: str
    at: tuple[sp.Symbol, ...]
    terms: tuple[Term, ...]
    steps: tuple[IndexStep, ...]


def _fresh_indices(forward: IndexForward, count: int) -> tuple[sp.Symbol, ...]:
    taken = {str(s) for s, _ in forward.ranges} | {str(s) for s in forward.body.free_symbols}
    names = [name for name in ("p", "q", "r", "s", "u", "v") if name not in taken]
    names += [f"p{k}" for k in range(1, 10) if f"p{k}" not in taken]
    return tuple(index(name) for name in names[:count])


@functools.cache
def derive_rule(forward: IndexForward, wrt: str) -> IndexRule:
    """Steps 1 to 4 for the input ``wrt`` of ``forward`` (see the module)."""
    forward.validate()
    tensor = forward.tensor(wrt)
    at = _fresh_indices(forward, len(tensor.dims))
    entry = tensor.base[at]
    lhs = sp.Derivative(sp.Symbol("E" if forward.indices else forward.output), entry)
    raw = entry_derivative(forward.body, tensor.base, at)
    if forward.indices:
        out = forward.indices
        limits = [(i, 0, size - 1) for i, size in zip(out, forward.output_dims(), strict=True)]
        upstream = sp.IndexedBase(UPSTREAM)[out]
        local = sp.Derivative(sp.IndexedBase(forward.output)[out], entry)
        chain = sp.Sum(sp.Mul(upstream, local, evaluate=False), *limits)
        raw = sp.Sum(upstream * raw, *limits)
        first = IndexStep(lhs, chain, "chain rule, entry by entry",
                          f"Every entry of {forward.output} that depends on {entry} contributes; "
                          f"{UPSTREAM} = dE/d{forward.output} is the upstream gradient.")
    else:
        first = IndexStep(lhs, sp.Derivative(forward.body, entry), f"definition of {forward.output}",
                          f"{forward.output} written out in index notation; differentiate it by one entry {entry}.")
    dots = ", ".join(f"∂{tensor.name}{_sub(r.indices)}/∂{tensor.name}{_sub(at)} = " + _deltas(r.indices, at)
                     for r in sorted(forward.body.atoms(sp.Indexed), key=sp.default_sort_key)
                     if r.base == tensor.base)
    steps = [first, IndexStep(lhs, raw, "differentiate each entry", f"A read of the same tensor gives deltas: {dots}.")]
    trace: list[tuple[Any, Any]] = []
    terms = eliminate(flatten(raw), trace)
    picks = ", ".join(f"δ sets {gone} = {kept}" for gone, kept in trace)
    steps.append(IndexStep(lhs, as_expr(terms), "eliminate the Kronecker deltas",
                           f"Summed over its index, a delta keeps the one term where both indices agree: {picks}."
                           if picks else "No delta is summed over."))
    for assumption in forward.assumptions:
        assumed = _apply(assumption, terms)
        if assumed != terms:
            terms = assumed
            steps.append(IndexStep(lhs, as_expr(terms), f"assume {assumption.describe()}",
                                   f"With Σ over each row of {assumption.tensor} equal to 1 the row sum drops out."))
    return IndexRule(forward, wrt, at, terms, tuple(steps))


def _sub(symbols: tuple[Any, ...]) -> str:
    if all(isinstance(s, sp.Symbol) for s in symbols):
        return "_" + "".join(map(str, symbols))
    return "[" + ", ".join(map(str, symbols)) + "]"  # a window or a lookup: x[n, c, 2*i + u, j]


def _deltas(read: tuple[Any, ...], at: tuple[Any, ...]) -> str:
    return " ".join(f"δ_{i}{j}" if isinstance(i, sp.Symbol) else f"δ({i}, {j})" for i, j in zip(read, at, strict=True))


def _apply(assumption: RowSumsToOne, terms: tuple[Term, ...]) -> tuple[Term, ...]:
    """Drop ``Σ_k t[i,k]`` (k summed, read by t alone) from each term: it is 1."""
    base = sp.IndexedBase(assumption.tensor)
    result = []
    for term in terms:
        factors = list(sp.Mul.make_args(term.factor))
        sums = list(term.sums)
        for factor in list(factors):
            if isinstance(factor, sp.Indexed) and factor.base == base and len(factor.indices) == 2:
                k = factor.indices[1]
                others = sp.Mul(*(f for f in factors if f is not factor))
                if k in term.summed() and k not in others.free_symbols:
                    factors.remove(factor)
                    sums = [limit for limit in sums if limit[0] != k]
        result.append(Term(sp.Mul(*factors), tuple(sums)))
    return tuple(result)


def _dims_map(forward: IndexForward, binding: Mapping[str, Any]) -> dict[Any, Any]:
    """Each dimension symbol of the forward -> the size in the bound matrices."""
    mapping: dict[Any, Any] = {}
    for tensor in forward.tensors:
        matrix = binding.get(tensor.name)
        if matrix is None:
            continue
        shape = matrix.shape[1:] if len(tensor.dims) == 1 else matrix.shape
        for dim, size in zip(tensor.dims, shape, strict=True):
            if isinstance(dim, sp.Symbol):
                mapping.setdefault(dim, size)
    return mapping


def _templated(compute: Any, subject: Any, binding: Mapping[str, Any]) -> Any:
    """``compute(subject, binding)``, computed once per subject and shapes of the bound matrices.

    A network repeats a layer with new names (W1, W2, ...) but the same shapes: the
    matrix form is found once with placeholders, and the names are put in after.
    """
    shapes = tuple(sorted((name, tuple(matrix.shape)) for name, matrix in binding.items()))
    template = _template(compute, subject, shapes)
    return template.xreplace({_placeholder(name, shape): binding[name] for name, shape in shapes})


def _placeholder(name: str, shape: tuple[Any, ...]) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(f"\0{name}", *shape)


@functools.lru_cache(maxsize=512)
def _template(compute: Any, subject: Any, shapes: tuple[tuple[str, tuple[Any, ...]], ...]) -> Any:
    return compute(subject, {name: _placeholder(name, shape) for name, shape in shapes})


def matrix_form(rule: IndexRule, binding: Mapping[str, MatrixExpr]) -> MatrixExpr:
    """Step 5: the matrix form of ``rule`` for the bound matrices, or a LayerError saying none was found."""
    return _templated(_matrix_form, rule, binding)  # type: ignore[no-any-return]


def _matrix_form(rule: IndexRule, binding: Mapping[str, MatrixExpr]) -> MatrixExpr:
    out = rule.at if len(rule.at) == 2 else (None, rule.at[0])
    sizes = _dims_map(rule.forward, binding)
    matrix = vectorise(_sized(rule.terms, sizes), out, binding)
    if matrix is None:
        msg = (
            f"no matrix form found for dE/d{rule.wrt} = {as_expr(rule.terms)} (einsum and scatter-add "
            "forms are not implemented yet)"
        )
        raise LayerError(msg)
    return matrix


def _sized(terms: tuple[Term, ...], sizes: Mapping[Any, Any]) -> tuple[Term, ...]:
    """The terms with the forward's dimension symbols replaced by the bound sizes."""
    return tuple(
        Term(t.factor.xreplace(sizes), tuple((s, lo, sp.sympify(hi).xreplace(sizes)) for s, lo, hi in t.sums))
        for t in terms
    )


def forward_matrix(forward: IndexForward, binding: Mapping[str, MatrixExpr]) -> MatrixExpr:
    """The matrix form of the forward itself (a layer's ``matrix_forward``), or a LayerError."""
    return _templated(_forward_matrix, forward, binding)  # type: ignore[no-any-return]


def _forward_matrix(forward: IndexForward, binding: Mapping[str, MatrixExpr]) -> MatrixExpr:
    forward.validate()
    sizes = _dims_map(forward, binding)
    out = forward.indices if len(forward.indices) == 2 else (None, *forward.indices)
    ranges = {i: sp.sympify(size).xreplace(sizes) for i, size in forward.ranges}
    matrix = vectorise(_sized(flatten(forward.body), sizes), out, binding, ranges)  # type: ignore[arg-type]
    if matrix is None:
        msg = f"no matrix form found for the forward {forward.output} = {forward.body}"
        raise LayerError(msg)
    return matrix


def matrix_rules(forward: IndexForward, binding: Mapping[str, MatrixExpr]) -> dict[str, MatrixExpr]:
    """The matrix form of dE/d(input) for every input of ``forward`` bound in ``binding``."""
    return {t.name: matrix_form(derive_rule(forward, t.name), binding) for t in forward.tensors if t.name in binding}


def rule_steps(rule: IndexRule, binding: Mapping[str, MatrixExpr]) -> tuple[IndexStep, ...]:
    """The index steps of ``rule``, ending with its matrix form read at the entry."""
    matrix = matrix_form(rule, binding)
    at = rule.at if len(rule.at) == 2 else (0, rule.at[0])
    last = IndexStep(rule.steps[0].lhs, MatrixElement(matrix, *at), "matrix form",
                     "The sum over the shared index is a matrix product; a sum over one factor's index "
                     "is a product with a ones vector.")
    return (*rule.steps, last)
