"""The index-level steps of a derived rule, as :class:`Step` data, each proven entrywise.

:mod:`symgrad.index` derives a layer's rule in index notation (chain rule
entry by entry, Kronecker deltas, their elimination, the forward's
assumptions, the matrix form). Here each of those steps is proven on small
concrete shapes: every dimension gets a small size, every sum is written out,
and the step's right-hand side at each entry ``(p, q)`` must equal
``sympy.diff`` of E (``Σ G ∘ y`` for a layer, the loss itself for a loss) by
that entry. A tensor assumed to have rows summing to 1 is given one-hot rows.
Verdicts are kept on disk like the matrix rules' (:func:`proven_steps`).
The last step, the matrix form, carries the verdict of the layer's matrix
rule (:func:`symgrad.derive.verify.matrix_rule_proof`).

Examples
--------
>>> from symgrad.index import derive_rule
>>> from symgrad.layers import Affine
>>> [ok for ok, _ in prove_index_steps(derive_rule(Affine(3, 2).index_forward(), "W"))]
[True, True, True]
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Mapping
from typing import Any

import sympy as sp

from symgrad.derive import proofcache
from symgrad.derive.steps import Step
from symgrad.derive.verify import prove_equal
from symgrad.index.rules import UPSTREAM, IndexRule, derive_rule, rule_steps

__all__ = ["index_substeps", "prove_index_steps", "proven_steps"]

#: Sizes given to a forward's dimension symbols in the proofs, in order of their names.
PROOF_SIZES = (2, 3, 4)


def _sizes(rule: IndexRule) -> dict[Any, int]:
    symbols: set[Any] = set()
    for _, size in rule.forward.ranges:
        symbols |= sp.sympify(size).free_symbols
    ordered = sorted(symbols, key=str)
    return {symbol: PROOF_SIZES[k % len(PROOF_SIZES)] for k, symbol in enumerate(ordered)} | dict(rule.forward.examples)


def _explicit(expr: sp.Basic, rule: IndexRule, sizes: Mapping[Any, int]) -> sp.Basic:
    """``expr`` with the output's reads replaced by the forward, sizes put in, sums written out."""
    forward = rule.forward
    if forward.indices:
        out = sp.IndexedBase(forward.output)
        expr = expr.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == out,
            lambda e: forward.body.xreplace(dict(zip(forward.indices, e.indices, strict=True))),
        )
    value = _write_out(expr.xreplace(dict(sizes)))
    for assumption in forward.assumptions:  # one-hot rows satisfy "each row sums to 1"
        base = sp.IndexedBase(assumption.tensor)
        cols = sizes[forward.tensor(assumption.tensor).dims[1]]
        reads = [r for r in value.atoms(sp.Indexed) if r.base == base]
        value = value.xreplace({r: sp.Integer(int(r.indices[1] == r.indices[0] % cols)) for r in reads})
    return value


def _write_out(expr: sp.Basic) -> sp.Basic:
    """Every sum with integer limits written out term by term (``Sum.doit`` is ten times slower)."""
    if isinstance(expr, sp.Sum):
        body = _write_out(expr.function)
        for symbol, lo, hi in reversed(expr.limits):
            body = sp.Add(*(body.xreplace({symbol: sp.Integer(k)}) for k in range(int(lo), int(hi) + 1)))
        return body
    if isinstance(expr, sp.Derivative):
        return sp.diff(_write_out(expr.expr), *expr.variables)
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    return expr.func(*(_write_out(arg) for arg in expr.args))


def _energy(rule: IndexRule, sizes: Mapping[Any, int]) -> sp.Expr:
    forward = rule.forward
    if not forward.indices:
        return _explicit(forward.body, rule, sizes)
    limits = [(i, 0, size - 1) for i, size in zip(forward.indices, forward.output_dims(), strict=True)]
    upstream = sp.IndexedBase(UPSTREAM)[forward.indices]
    return _explicit(sp.Sum(upstream * sp.IndexedBase(forward.output)[forward.indices], *limits), rule, sizes)


@functools.lru_cache(maxsize=256)
def proven_steps(kind: Any, rule: IndexRule) -> tuple[tuple[bool, str], ...]:
    """:func:`prove_index_steps`, its verdicts kept on disk for symgrad's own layer types
    (:mod:`symgrad.derive.proofcache`, keyed by the sources the proof reads)."""
    key = proofcache.fingerprint(kind, f"index steps of {rule.wrt}")
    known = None if key is None else proofcache.load_verdict(key)
    if known is not None:
        with contextlib.suppress(ValueError, TypeError):
            verdicts = tuple((bool(ok), str(how)) for ok, how in json.loads(known[1]))
            if len(verdicts) == len(rule.steps):
                return verdicts
    verdicts = prove_index_steps(rule)
    if key is not None:
        proofcache.store_verdict(key, all(ok for ok, _ in verdicts), json.dumps(verdicts))
    return verdicts


@functools.cache
def prove_index_steps(rule: IndexRule) -> tuple[tuple[bool, str], ...]:
    """(proven, how) for each index step of ``rule``, entrywise against ``sympy.diff`` on small shapes."""
    sizes = _sizes(rule)
    tensor = rule.forward.tensor(rule.wrt)
    dims = [sizes[d] if d in sizes else int(d) for d in (sp.sympify(d).xreplace(sizes) for d in tensor.dims)]
    energy = _energy(rule, sizes)
    shape = " x ".join(map(str, dims))
    how = f"proven entrywise against sympy.diff on small shapes ({tensor.name}: {shape})"
    verdicts = [(True, how) for _ in rule.steps]
    for entry in itertools.product(*(range(n) for n in dims)):
        direct = sp.diff(energy, tensor.base[entry])
        at = dict(zip(rule.at, entry, strict=True))
        for k, step in enumerate(rule.steps):
            if verdicts[k][0] and not prove_equal(_explicit(step.rhs.xreplace(at), rule, sizes), direct):
                verdicts[k] = (False, f"disagrees with sympy.diff at {tensor.name}[{', '.join(map(str, entry))}]")
    return tuple(verdicts)


def index_substeps(
    kind: Any, forward: Any, name: str, binding: Mapping[str, Any], matrix_proof: tuple[bool, str]
) -> tuple[Step, ...]:
    """The index-level steps for input ``name`` of ``forward``, shown with the bound matrices' names.

    ``binding`` maps the forward's tensor names to the matrices of this application
    (their names replace the forward's in the steps; G stays the upstream gradient).
    """
    rule = derive_rule(forward, name)
    shown = {k: sp.MatrixSymbol(UPSTREAM, *v.shape) if k == UPSTREAM else v for k, v in binding.items()}
    steps = rule_steps(rule, shown)
    verdicts = (*proven_steps(kind, rule), matrix_proof)
    renaming = {
        sp.IndexedBase(k): sp.IndexedBase(str(v)) for k, v in binding.items() if k != UPSTREAM and str(v) != k
    }
    return tuple(
        Step(step.lhs.xreplace(renaming), step.rhs.xreplace(renaming), step.rule, ok, how, step.note)
        for step, (ok, how) in zip(steps, verdicts, strict=True)
    )
