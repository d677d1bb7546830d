"""Naming the mistake behind a wrong backward(): a list of hypotheses, each tested.

When a user's backward returns a wrong gradient, the value it did return
usually tells what went wrong: ``x @ dout`` where ``x.T @ dout`` was meant, a
sum over the wrong axis, the derivative of the sigmoid written with ``x``
instead of ``out``. Each :class:`Hypothesis` below builds the values such a
mistake would give (a *candidate*) from what is known: the point, the right
gradient and, when a spec layer is given, its rule tree (mutated: a transpose
dropped, operands swapped, ...). :func:`diagnose` returns the first candidate
that the wrong value matches, in plain words, with the fix; an empty string when
none does. :func:`diagnose_error` does the same for a backward that raised: the
operand shapes in NumPy's message are matched against the products of the
mutated rules.

Examples
--------
>>> import numpy as np
>>> from symgrad.layers import Affine
>>> from symgrad.check.rules import spec_rules, evaluate
>>> rules = spec_rules(Affine(3, 3), x_shape=(3, 3), param_shapes={"W": (3, 3), "b": (3,)})
>>> rng = np.random.default_rng(0)
>>> env = {"x": rng.normal(size=(3, 3)), "W": rng.normal(size=(3, 3)), "b": np.zeros(3),
...        "dout": rng.normal(size=(3, 3))}
>>> evidence = Evidence("W", env["x"] @ env["dout"], evaluate(rules.grads["W"], env), env, rules)
>>> diagnose(evidence)
'matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symgrad.check.compare import compare
from symgrad.check.rules import (
    Apply,
    Compiled,
    MatMul,
    Node,
    OperandShapes,
    SpecRules,
    Sum,
    Transpose,
    evaluate,
    rebuild,
    scaled,
    to_text,
)
from symgrad.functions import relu_grad
from symgrad.matrixexpr import BATCH, ZETA

__all__ = ["HYPOTHESES", "Candidate", "Evidence", "Hypothesis", "diagnose", "diagnose_error"]

#: Relative tolerance of "matches" when the right gradient is exact (from a spec).
MATCH_RTOL = 1e-7


@dataclass(frozen=True)
class Evidence:
    """What is known about one wrong gradient.

    ``name`` is the value differentiated (``"x"``, ``"W"``); ``got`` what
    backward returned for it (any shape; None if nothing); ``expected`` the
    right gradient; ``env`` the point (``x``, the parameters by role, ``dout``,
    ``t``); ``rules`` the spec's rules (None without a spec). ``expected_with``
    gives the right gradient with some values of ``env`` replaced (for "dout
    ignored", "stale cache"), ``x_warm`` is the input of the forward() call made
    just before the checked one, ``dout_after`` is dout as backward() left it
    (None when unchanged), ``role`` the spec's name for this parameter and
    ``names`` the user's name for each spec role, for printing.
    """

    name: str
    got: np.ndarray | None
    expected: np.ndarray
    env: Mapping[str, Any]
    rules: SpecRules | None = None
    expected_with: Callable[[Mapping[str, Any]], np.ndarray | None] | None = None
    x_warm: np.ndarray | None = None
    dout_after: np.ndarray | None = None
    rtol: float = MATCH_RTOL
    role: str | None = None
    names: Mapping[str, str] | None = None

    @property
    def rule(self) -> Node | None:
        """The spec's tree for this gradient, if there is a spec."""
        if self.rules is None:
            return None
        return self.rules.grads.get(self.role or self.name)

    @property
    def label(self) -> str:
        return f"d{self.name}"

    def text(self, node: Node) -> str:
        """``node`` as the right-hand side of ``d<name> = ...``."""
        return to_text(node, self.rules, self.names)

    def value_of(self, node: Node, changes: Mapping[str, Any] | None = None) -> np.ndarray | None:
        """``node`` evaluated at the point (with ``changes``), None if it does not evaluate."""
        try:
            return np.asarray(evaluate(node, {**self.env, **(changes or {})}), dtype=float)
        except (OperandShapes, ValueError, TypeError, FloatingPointError):
            return None

    def right_with(self, changes: Mapping[str, Any]) -> np.ndarray | None:
        """The right gradient with some values replaced."""
        rule = self.rule
        if rule is not None:
            return self.value_of(rule, changes)
        return None if self.expected_with is None else self.expected_with(changes)


@dataclass(frozen=True)
class Candidate:
    """The value a mistake would give, and how to say it."""

    value: np.ndarray | None
    formula: str = ""
    detail: str = ""
    node: Node | None = None
    #: When set, the mistake is recognised by ``reduce(got)`` matching ``value`` (e.g. a missing sum).
    reduce: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class Hypothesis:
    """A usual mistake: its name in plain words, a fix, and how to build its candidates."""

    mistake: str
    fix: str
    candidates: Callable[[Evidence], Iterator[Candidate]] = field(repr=False)


# -- candidates from the spec's rule tree ---------------------------------------------


def _mutants(evidence: Evidence, change: Callable[[Node], Node | None]) -> Iterator[Candidate]:
    rule = evidence.rule
    if rule is None:
        return
    for mutant in rebuild(rule, change):
        yield Candidate(evidence.value_of(mutant), f"{evidence.label} = {evidence.text(mutant)}", node=mutant)


def _untransposed(node: Node) -> Node | None:
    return node.arg if isinstance(node, Transpose) else None


def _transposed(node: Node) -> Node:
    return node.arg if isinstance(node, Transpose) else Transpose(node)


def _swapped(node: Node) -> Node | None:
    if isinstance(node, MatMul) and len(node.factors) == 2:
        return MatMul((node.factors[1], node.factors[0]))
    return None


def _swapped_transposed(node: Node) -> Node | None:
    if isinstance(node, MatMul) and len(node.factors) == 2:
        return MatMul((_transposed(node.factors[1]), _transposed(node.factors[0])))
    return None


def _unsummed(node: Node) -> Node | None:
    return node.arg if isinstance(node, Sum) and node.axis == 0 else None


def _other_axis(node: Node) -> Node | None:
    return Sum(node.arg, 1) if isinstance(node, Sum) and node.axis == 0 else None


def _input_for_output(evidence: Evidence) -> Callable[[Node], Node | None]:
    output = evidence.rules.output if evidence.rules is not None else None

    def change(node: Node) -> Node | None:
        if output is not None and isinstance(node, Apply) and node.body.has(output):
            return Apply(node.body.xreplace({output: ZETA}), node.arg)
        return None

    return change


def _inverted_mask(node: Node) -> Node | None:
    if isinstance(node, Apply) and node.body.has(relu_grad):
        return Apply(node.body.replace(relu_grad, lambda z, k: relu_grad(-z, 1 - k)), node.arg)
    return None


def _term_dropped(node: Node) -> Iterator[Node]:
    """f'(x) = a + b + ...: each term left out in turn (a product rule with one of its terms forgotten)."""
    if isinstance(node, Apply) and isinstance(node.body, sp.Add) and node.body.has(ZETA):
        terms = sp.Add.make_args(node.body)
        for i in range(len(terms)):
            yield Apply(sp.Add(*terms[:i], *terms[i + 1 :]), node.arg)


def _term_negated(node: Node) -> Iterator[Node]:
    """f'(x) = a + b + ...: one term with its sign flipped."""
    if isinstance(node, Apply) and isinstance(node.body, sp.Add) and node.body.has(ZETA):
        terms = sp.Add.make_args(node.body)
        for i in range(len(terms)):
            yield Apply(sp.Add(*terms[:i], -terms[i], *terms[i + 1 :]), node.arg)


def _each(mutate: Callable[[Node], Iterator[Node]]) -> Callable[[Evidence], Iterator[Candidate]]:
    """Candidates from every mutant that ``mutate`` makes of a node of the spec's rule."""

    def candidates(evidence: Evidence) -> Iterator[Candidate]:
        for options in _node_options(evidence, mutate):
            yield from options

    return candidates


def _node_options(evidence: Evidence, mutate: Callable[[Node], Iterator[Node]]) -> Iterator[Iterator[Candidate]]:
    rule = evidence.rule
    if rule is None:
        return
    found: list[Node] = []

    def visit(node: Node) -> None:
        found.append(node)  # and return None: rebuild then replaces nothing, it only visits each node once

    list(rebuild(rule, visit))
    for node in found:
        for variant in mutate(node):
            yield _mutants(evidence, _replacing(node, variant))


def _replacing(old: Node, new: Node) -> Callable[[Node], Node | None]:
    return lambda node: new if node is old else None


def _function_for_derivative(evidence: Evidence) -> Callable[[Node], Node | None]:
    """The activation f itself where its derivative f' belongs: dx = dout * f(x)."""
    output = evidence.rules.output if evidence.rules is not None else None

    def change(node: Node) -> Node | None:
        if output is not None and isinstance(node, Apply) and node.body != output and node.body.has(ZETA):
            return Apply(output, node.arg)
        return None

    return change


# -- candidates from the point (any layer, with or without a spec) -----------------------


def _with_values(name: str, make: Callable[[Evidence], Any]) -> Callable[[Evidence], Iterator[Candidate]]:
    """The right gradient with the value ``name`` replaced by ``make(evidence)`` (when that is known)."""

    def candidates(evidence: Evidence) -> Iterator[Candidate]:
        value = make(evidence)
        if value is not None:
            yield Candidate(evidence.right_with({name: value}))

    return candidates


def _factor(coeff: Any) -> Callable[[Evidence], Iterator[Candidate]]:
    def candidates(evidence: Evidence) -> Iterator[Candidate]:
        batch = np.shape(evidence.env["x"])[0] if np.ndim(evidence.env["x"]) else 1
        number = float(sp.sympify(coeff).subs(BATCH, batch))
        rule = evidence.rule
        formula = f"{evidence.label} = {evidence.text(scaled(coeff, rule))}" if rule is not None else ""
        detail = f"{_number(number)} times the right {evidence.label}"
        yield Candidate(number * evidence.expected, formula, "" if formula else detail)

    return candidates


def _dropout_scale(evidence: Evidence) -> Iterator[Candidate]:
    """A dropout spec's gradient without its 1/(1 - p): (1 - p) times the right one."""
    if evidence.rules is None or evidence.rules.drop is None:
        return
    keep = 1 - sp.nsimplify(evidence.rules.drop, rational=True)
    yield from _factor(keep)(evidence)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _transpose_of_expected(evidence: Evidence) -> Iterator[Candidate]:
    rule = evidence.rule
    formula = f"{evidence.label} = {evidence.text(_transposed(rule))}" if rule is not None else ""
    detail = "" if formula else f"the transpose of the right {evidence.label}"
    yield Candidate(np.transpose(evidence.expected), formula, detail)


def _batch_sums(evidence: Evidence) -> Iterator[Candidate]:
    """For a bias-like gradient (the right one is dout summed over the batch), the unsummed dout and other sums."""
    dout = np.asarray(evidence.env["dout"], dtype=float)
    if dout.ndim != 2 or evidence.rule is not None:
        return
    if dout.shape[1] != evidence.expected.size:
        return
    if compare(dout.sum(axis=0), evidence.expected.ravel()).rel_error > evidence.rtol:
        return
    yield Candidate(dout, f"{evidence.label} = dout", "dout itself, not summed over the batch")
    yield Candidate(dout.sum(axis=1), f"{evidence.label} = dout.sum(axis=1)", "dout summed over axis=1")


def _per_sample(evidence: Evidence) -> Iterator[Candidate]:
    """A parameter's gradient left per sample: summing it over the batch gives the right one."""
    got, expected = evidence.got, evidence.expected
    if got is not None and got.ndim == expected.ndim + 1 and got.shape[1:] == expected.shape:
        detail = f"{evidence.label} for each sample of the batch, shape {got.shape}"
        yield Candidate(expected, detail=detail, reduce=lambda g: np.sum(g, axis=0))


def _paths_left_out(evidence: Evidence) -> Iterator[Candidate]:
    """A composite layer's own mistakes: its derived rule with a path cut (a value treated as a constant)."""
    if evidence.rules is None:
        return
    for mistake, fix, grads in evidence.rules.variants:
        node = grads.get(evidence.role or evidence.name)
        if node is not None:
            yield Candidate(evidence.value_of(node), f"{mistake}; fix: {fix}", node=node)


def _zeros(evidence: Evidence) -> Iterator[Candidate]:
    yield Candidate(np.zeros_like(evidence.expected), detail=f"all zeros for {evidence.label}")


#: The hypotheses, most specific first; the first whose candidate matches names the mistake.
HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis("a mistake in the layer's graph", "add the gradient along that path", _paths_left_out),
    Hypothesis("a missing transpose", "put the transpose back", lambda e: _mutants(e, _untransposed)),
    Hypothesis("swapped operands", "the order of a matrix product matters", lambda e: _mutants(e, _swapped)),
    Hypothesis(
        "swapped operands (which gives the transpose of the gradient)",
        "the gradient of a parameter has the parameter's shape",
        lambda e: _mutants(e, _swapped_transposed),
    ),
    Hypothesis("no sum over the batch", "sum over axis=0, the batch", lambda e: _mutants(e, _unsummed)),
    Hypothesis("a sum over the wrong axis", "sum over axis=0, the batch", lambda e: _mutants(e, _other_axis)),
    Hypothesis("no sum over the batch, or the wrong axis", "sum dout over axis=0, the batch", _batch_sums),
    Hypothesis("no sum over the batch", "sum over axis=0, the batch", _per_sample),
    Hypothesis(
        "the derivative written with the input x where it needs the output out",
        "use self.out, the value forward() returned",
        lambda e: _mutants(e, _input_for_output(e)),
    ),
    Hypothesis(
        "an inverted ReLU mask", "pass dout where x > 0 and zero elsewhere", lambda e: _mutants(e, _inverted_mask)
    ),
    Hypothesis(
        "a term of the derivative left out",
        "keep every term of f'(x); the product rule gives two: (u v)' = u' v + u v'",
        _each(_term_dropped),
    ),
    Hypothesis(
        "the activation's value where its derivative belongs (dout * f(x), not dout * f'(x))",
        "multiply dout by the derivative f'(x)",
        lambda e: _mutants(e, _function_for_derivative(e)),
    ),
    Hypothesis(
        "a term of the derivative with the wrong sign", "check the sign of each term of f'(x)", _each(_term_negated)
    ),
    Hypothesis(
        "dout ignored: backward() returns the gradient for dout = 1 (all ones)",
        "multiply by dout (the chain rule)",
        _with_values("dout", lambda e: np.ones_like(np.asarray(e.env["dout"], dtype=float))),
    ),
    Hypothesis(
        "a stale cache: backward() used values kept from an earlier forward() call",
        "store what backward() needs in forward() on every call, not only on the first",
        _with_values("x", lambda e: e.x_warm),
    ),
    Hypothesis(
        "dout written in place: backward() changed dout and then used the changed values",
        "compute new arrays instead of writing into dout (or copy it first: dout = dout.copy())",
        _with_values("dout", lambda e: e.dout_after),
    ),
    Hypothesis(
        "a missing 1/(1 - p) scale (inverted dropout scales what it keeps by 1/(1 - p), in backward as in forward)",
        "multiply by the mask's scale 1/(1 - p), as forward() does",
        lambda e: _dropout_scale(e),
    ),
    Hypothesis("a flipped sign", "check the sign of each term", _factor(-1)),
    Hypothesis("an extra factor of 2", "drop the factor 2 (the 1/2 in the loss cancels it)", _factor(2)),
    Hypothesis("a missing factor of 2", "multiply by 2 (the derivative of a square)", _factor(sp.Rational(1, 2))),
    Hypothesis("a missing 1/N (no division by the batch size N)", "divide by the batch size N", _factor(BATCH)),
    Hypothesis("an extra 1/N (a division by the batch size N too many)", "do not divide by N here", _factor(1 / BATCH)),
    Hypothesis("a transposed result", "a gradient has the shape of what it is the gradient of", _transpose_of_expected),
    Hypothesis("a gradient of zeros", "compute and store the gradient in backward()", _zeros),
)


def matches(got: np.ndarray, candidate: np.ndarray, rtol: float) -> bool:
    """True when ``got`` equals ``candidate`` to ``rtol`` (singleton axes aside, e.g. (1, M) and (M,)).

    Examples
    --------
    >>> matches(np.ones((1, 3)), np.ones(3), 1e-9), matches(np.ones(3), np.zeros(3), 1e-9)
    (True, False)
    """
    got, candidate = np.asarray(got, dtype=float), np.asarray(candidate, dtype=float)
    if got.size != candidate.size or np.squeeze(got).shape != np.squeeze(candidate).shape:
        return False
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(candidate))):
        return False
    return compare(got.reshape(candidate.shape), candidate).rel_error <= rtol


def diagnose(evidence: Evidence, hypotheses: tuple[Hypothesis, ...] = HYPOTHESES) -> str:
    """The usual mistake the wrong value ``evidence.got`` matches, in words; "" when none does."""
    if evidence.got is None:
        return ""
    got = np.asarray(evidence.got, dtype=float)
    found = _layer_mistake(evidence, got)
    if found:
        return found
    for hypothesis in hypotheses:
        for candidate in hypothesis.candidates(evidence):
            if candidate.value is None:
                continue
            if candidate.reduce is None and matches(candidate.value, evidence.expected, evidence.rtol):
                continue  # a candidate equal to the right value tells nothing
            seen = got if candidate.reduce is None else candidate.reduce(got)
            if matches(seen, candidate.value, evidence.rtol):
                return _sentence(evidence, hypothesis, candidate)
    return ""


def _layer_mistake(evidence: Evidence, got: np.ndarray) -> str:
    """The usual mistakes of an N-D layer (:mod:`symgrad.check.tensorrules`): the derived rule compiled
    with one deliberate change (``=`` for ``+=``, every tied maximum, the stride or padding ignored)."""
    rule = evidence.rule
    if not isinstance(rule, Compiled):
        return ""
    for mistake, fix, variant in rule.variants:
        value = evidence.value_of(variant)
        if value is None or value.shape != got.shape or matches(value, evidence.expected, evidence.rtol):
            continue
        if matches(got, value, evidence.rtol):
            return (f"matches {mistake}: {evidence.label} as computed by {variant.text}; "
                    f"expected {evidence.label}: {rule.text} ({fix})")
    return ""


def _sentence(evidence: Evidence, hypothesis: Hypothesis, candidate: Candidate) -> str:
    rule = evidence.rule
    text = f"matches {hypothesis.mistake}"
    if candidate.formula:
        text += f": {candidate.formula}"
    elif candidate.detail:
        text += f": backward() gave {candidate.detail}"
    if rule is not None:
        return text + f"; expected {evidence.label} = {evidence.text(rule)}"
    return text + f" ({hypothesis.fix})"


# -- a backward that raised ------------------------------------------------------------

_DOT = re.compile(r"shapes \(([\d, ]*)\) and \(([\d, ]*)\) not aligned")
_MATMUL = re.compile(r"size (\d+) is different from (\d+)")


def _shapes_in(message: str) -> Callable[[OperandShapes], bool] | None:
    found = _DOT.search(message)
    if found:
        left, right = (tuple(int(d) for d in g.replace(" ", "").split(",") if d) for g in found.groups())
        return lambda s: (s.left, s.right) == (left, right)
    found = _MATMUL.search(message)
    if found:
        right0, left1 = int(found.group(1)), int(found.group(2))
        return lambda s: bool(s.left and s.right) and (s.right[0], s.left[-1]) == (right0, left1)
    return None


def diagnose_error(
    error: BaseException,
    rules: SpecRules,
    env: Mapping[str, Any],
    names: Mapping[str, str],
    printed: Mapping[str, str] | None = None,
) -> tuple[str, str] | None:
    """``(name, diagnosis)`` when the shapes in ``error`` are those of a mutated rule's product.

    ``names`` maps each gradient's name in the report to its role in the spec;
    ``printed`` each role to the name to print (the user's).

    Examples
    --------
    >>> from symgrad.layers import Affine
    >>> from symgrad.check.rules import spec_rules
    >>> rules = spec_rules(Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
    >>> env = {"x": np.ones((4, 3)), "W": np.ones((3, 2)), "b": np.ones(2), "dout": np.ones((4, 2))}
    >>> try:
    ...     np.dot(env["dout"], env["W"])
    ... except ValueError as error:
    ...     print(diagnose_error(error, rules, env, {"x": "x", "W": "W", "b": "b"})[1])
    the failing product matches a missing transpose: dx = dout @ W multiplies shapes (4, 2) and (3, 2); \
expected dx = dout @ W.T
    """
    wanted = _shapes_in(str(error))
    if wanted is None:
        return None
    for hypothesis in HYPOTHESES:
        for name, role in names.items():
            evidence = Evidence(name, None, np.zeros(0), env, rules, role=role, names=printed)
            rule = evidence.rule
            if rule is None:
                continue
            for candidate in hypothesis.candidates(evidence):
                failure = _failure(candidate.node, env)
                if failure is not None and wanted(failure):
                    return name, (
                        f"the failing product matches {hypothesis.mistake}: {candidate.formula} multiplies shapes "
                        f"{failure.left} and {failure.right}; expected {evidence.label} = {evidence.text(rule)}"
                    )
    return None


def _failure(node: Node | None, env: Mapping[str, Any]) -> OperandShapes | None:
    """The product that fails when evaluating ``node``, if one does."""
    if node is None:
        return None
    try:
        evaluate(node, env)
    except OperandShapes as failure:
        return failure
    except (ValueError, TypeError):
        return None
    return None
