"""Layers written as a few index-notation stages, each reading the ones before it; their rules chained.

Scaled dot-product attention is three forwards (:func:`symgrad.layers.tensorforms.attention_stages`):
the scores ``S = q kᵀ/√D``, the weights ``A = softmax(S)`` over the keys, the output ``y = A v``.
Each stage's rule for each tensor it reads is derived by :func:`~symgrad.index.rules.derive_rule`
(the upstream gradient ``G`` of a stage is dE/d(its output)); the rules are taken in reverse stage
order, as backprop runs: :func:`stage_rules`. A stage recognised as a softmax over its last index
gets its rule in the closed form the textbooks print, ``y ∘ (G − rowsum(G ∘ y))``, written with the
stage's own output (a last step that the proofs check entrywise like the others).

A usual mistake (:class:`StageEdit`) is a rule with one change: a term left out (the softmax
Jacobian's Σ term), a scale left out (``1/√D``), a read transposed (its last two indices swapped).

Examples
--------
>>> from symgrad.layers.tensorforms import attention_stages
>>> [f"d{r.wrt} via {r.stage.output}" for r in stage_rules(attention_stages())]
['dA via y', 'dv via y', 'dS via A', 'dq via S', 'dk via S']
>>> print(stage_rules(attention_stages())[2].steps[-1].rhs)
(G[p, q, u] - Sum(A[p, q, r]*G[p, q, r], (r, 0, Sk - 1)))*A[p, q, u]
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import sympy as sp

from symgrad.index.contract import Term
from symgrad.index.ir import IndexForward
from symgrad.index.rules import UPSTREAM, IndexRule, IndexStep, derive_rule

__all__ = ["StageEdit", "edited", "softmax_input", "stage_rules"]


def softmax_input(forward: IndexForward) -> str | None:
    """The tensor ``x`` when ``forward`` is ``y[..., s] = exp(x[..., s]) / Σ_r exp(x[..., r])``, else None."""
    numerator, denominator = sp.fraction(forward.body)
    if not (isinstance(numerator, sp.exp) and isinstance(denominator, sp.Sum) and len(denominator.limits) == 1):
        return None
    read, inner = numerator.args[0], denominator.function
    r = denominator.limits[0][0]
    if not (isinstance(read, sp.Indexed) and tuple(read.indices) == tuple(forward.indices) and forward.indices):
        return None
    if inner != sp.exp(read.base[(*forward.indices[:-1], r)]):
        return None
    return str(read.base.label)


def _closed_softmax(rule: IndexRule) -> IndexRule:
    """The softmax stage's rule as ``y ∘ (G − rowsum(G ∘ y))`` in its own output y."""
    forward = rule.forward
    (r, _, high), = sp.fraction(forward.body)[1].limits
    out, upstream = sp.IndexedBase(forward.output), sp.IndexedBase(UPSTREAM)
    row = (*rule.at[:-1], r)
    closed = out[rule.at] * (upstream[rule.at] - sp.Sum(out[row] * upstream[row], (r, 0, high)))
    step = IndexStep(rule.steps[0].lhs, closed, f"recognise {forward.output} = softmax: the closed form",
                     f"exp({rule.wrt}) / Σ exp({rule.wrt}) is {forward.output} itself, so the two terms are "
                     f"{forward.output} ∘ (G − rowsum(G ∘ {forward.output})): the softmax Jacobian "
                     f"diag({forward.output}) − {forward.output} {forward.output}ᵀ applied row by row, as the "
                     "textbooks print it.")
    return dataclasses.replace(rule, terms=(Term(closed),), steps=(*rule.steps, step))


@dataclass(frozen=True)
class StageRule:
    """dE/d(wrt) through one stage: its rule (the closed form where one is recognised); G is dE/d(stage output)."""

    stage: IndexForward
    wrt: str
    rule: IndexRule

    @property
    def steps(self) -> tuple[IndexStep, ...]:
        return self.rule.steps


@functools.cache
def stage_rules(stages: tuple[IndexForward, ...]) -> tuple[StageRule, ...]:
    """Every stage's rule for every tensor it reads, the last stage first (see the module)."""
    rules = []
    for stage in reversed(stages):
        for tensor in stage.tensors:
            if tensor.integer:
                continue
            rule = derive_rule(stage, tensor.name)
            if softmax_input(stage) == tensor.name:
                rule = _closed_softmax(rule)
            rules.append(StageRule(stage, tensor.name, rule))
    return tuple(rules)


@dataclass(frozen=True)
class StageEdit:
    """One change to the rule of ``wrt`` through the stage that computes ``stage``: ``"drop-sum"`` (the terms
    with a sum left out: the softmax Jacobian's Σ term), ``"unscaled"`` (the size ``what``'s scale set to 1)
    or ``"transpose"`` (every read of the tensor ``what`` with its last two indices swapped)."""

    stage: str
    wrt: str
    change: str
    what: str = ""


def _edit_expr(expr: sp.Expr, edit: StageEdit) -> sp.Expr:
    if edit.change == "drop-sum":
        return expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: sp.S.Zero)
    if edit.change == "unscaled":
        size = sp.Symbol(edit.what, integer=True, positive=True)
        return expr.replace(lambda e: isinstance(e, sp.Pow) and e.base == size and e.exp.is_Rational,
                            lambda e: sp.S.One)
    base = sp.IndexedBase(edit.what)
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == base,
                        lambda e: e.base[(*e.indices[:-2], e.indices[-1], e.indices[-2])])


def edited(rules: tuple[StageRule, ...], edits: tuple[StageEdit, ...]) -> tuple[StageRule, ...]:
    """``rules`` with each edit applied to the rule it names (a mistake's rules)."""
    result = []
    for staged in rules:
        terms = staged.rule.terms
        for edit in edits:
            if (edit.stage, edit.wrt) == (staged.stage.output, staged.wrt):
                terms = tuple(Term(_edit_expr(t.factor, edit), () if edit.change == "drop-sum" else t.sums)
                              for t in terms if edit.change != "drop-sum" or not t.sums)
        result.append(staged if terms == staged.rule.terms else
                      dataclasses.replace(staged, rule=dataclasses.replace(staged.rule, terms=terms)))
    return tuple(result)
