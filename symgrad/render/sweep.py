"""The backward-sweep view of a network's derivation: what backprop does, written down once.

The forward pass, numbered; then one pass from E back to the inputs: each
gradient dE/d(value) derived once, in the order a backward sweep reaches it,
numbered, and referred to by number ("by (4)") in every later step that uses
it; a value that feeds several consumers gets the sum of their contributions,
and its step says so. Last, each gradient asked for collected into one
expression. The per-parameter chains (:func:`symgrad.render.content.gradient_blocks`)
remain the ``view="chains"`` of the same document.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from symgrad.render.document import Block, Equation, Equations, Heading, Line, Math, Paragraph, Text
from symgrad.render.printer import name_latex

if TYPE_CHECKING:
    from symgrad.derive import Derivation, Step
    from symgrad.render.values import PointValues

__all__ = ["VIEWS", "collected_rows", "numbered_forward", "sweep_blocks", "sweep_references", "sweep_steps"]

#: The views of a network's derivation: the one backward sweep (default), or each parameter's own chain.
VIEWS = ("sweep", "chains")

_TAIL = "substitute the "


def _upstream(step: Step) -> list[str]:
    """The gradient labels (``dE/dh``) that ``step``'s right side uses, sorted."""
    found = {str(atom) for atom in step.rhs.atoms() if str(atom).startswith("dE/d")}
    return sorted(found)


def sweep_steps(d: Derivation) -> tuple[Step, ...]:
    """Every gradient step of ``d`` once, in the order one backward sweep derives them.

    The values' gradients come in the sweep's order (from E back to the inputs);
    each parameter's or input's gradient comes as soon as every gradient it uses
    is there, so a layer's parameters follow the gradient of its output.

    Examples
    --------
    >>> import symgrad
    >>> [str(step.lhs) for step in sweep_steps(symgrad.derive(symgrad.article_network()))]
    ['dE/dy', 'dE/dw2', 'dE/db2', 'dE/dh', 'dE/dw1', 'dE/db1', 'dE/dx']
    """
    by_label: dict[str, Step] = {}
    for name in d.wrt:
        for step in d.steps(name):
            if not step.rule.startswith(_TAIL):
                by_label.setdefault(str(step.lhs), step)
    order = [str(lhs) for lhs, _ in d.program if str(lhs) in by_label]
    leaves = [f"dE/d{name}" for name in d.wrt if f"dE/d{name}" in by_label]
    values = [label for label in order if label not in leaves]
    pending = [label for label in order if label in leaves]
    out: list[str] = []

    def release() -> None:
        for label in list(pending):
            if all(dep in out for dep in _upstream(by_label[label])):
                out.append(label)
                pending.remove(label)

    release()
    for label in values:
        out.append(label)
        release()
    out += pending
    return tuple(by_label[label] for label in out)


def _grad_tex(name: str) -> str:
    return rf"\frac{{\partial E}}{{\partial {name_latex(name)}}}"


def numbered_forward(rows: tuple[Equation, ...], loss_row: Equation) -> tuple[tuple[Equation, ...], Equation]:
    """The forward rows and the loss row numbered (1), (2), ... in reading order."""
    numbered = tuple(replace(row, number=str(index)) for index, row in enumerate(rows, 1))
    return numbered, replace(loss_row, number=str(len(rows) + 1))


def _forward_numbers(d: Derivation) -> dict[str, int]:
    return {str(step.lhs): index for index, step in enumerate(d.forward, 1)}


def _references(step: Step, numbers: dict[str, int], forward: dict[str, int]) -> str:
    """ "by (4) and (2)": the gradients the step uses and the forward equations of their values."""
    used = _upstream(step)
    gradients = sorted({numbers[label] for label in used if label in numbers})
    equations = sorted({forward[label[4:]] for label in used if label[4:] in forward})
    if not used:  # the loss derivative: from E's own equation
        equations = [forward["E"]]
    listed = [f"({ref})" for ref in (*gradients, *equations)]
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + f" and {listed[-1]}"


def sweep_references(d: Derivation) -> tuple[tuple[int, Step, str], ...]:
    """Each step of the sweep with its number (after the forward pass's) and its rule with references.

    Examples
    --------
    >>> import symgrad
    >>> [(n, str(s.lhs), rule) for n, s, rule in sweep_references(symgrad.derive(symgrad.article_network()))][:2]
    [(4, 'dE/dy', 'loss derivative, by (3)'), (5, 'dE/dw2', 'chain rule, by (4) and (2)')]
    """
    forward = _forward_numbers(d)
    steps = sweep_steps(d)
    start = len(d.forward) + 1
    numbers = {str(step.lhs): start + index for index, step in enumerate(steps)}
    return tuple((numbers[str(step.lhs)], step, f"{step.rule}, by {_references(step, numbers, forward)}")
                 for step in steps)


def collected_rows(d: Derivation, start: int) -> tuple[tuple[int, Step, str, bool], ...]:
    """Each gradient asked for, collected into one expression and then in the inputs, numbered from ``start``.

    Each entry is (number, step, rule with its reference, whether it is the gradient's first row).
    """
    numbers = {str(step.lhs): number for number, step, _ in sweep_references(d)}
    rows = []
    number = start
    for name in d.wrt:
        previous = numbers.get(f"dE/d{name}")  # each row rewrites the one before it
        first = True
        for step in d.steps(name):
            if not step.rule.startswith(_TAIL):
                continue
            ref = f" into ({previous})" if previous is not None else ""
            rows.append((number, step, f"{step.rule}{ref}", first))
            previous, number, first = number, number + 1, False
    return tuple(rows)


def sweep_blocks(d: Derivation, values: PointValues | None = None) -> tuple[Block, ...]:
    """The backward sweep and each gradient collected, numbered after the forward pass and the loss.

    Examples
    --------
    >>> import symgrad
    >>> blocks = sweep_blocks(symgrad.derive(symgrad.article_network()))
    >>> [(row.number, row.rule) for row in blocks[2].rows][:3]
    [('4', 'loss derivative, by (3)'), ('5', 'chain rule, by (4) and (2)'), ('6', 'chain rule, by (4) and (2)')]
    """
    from symgrad.render.content import equation, with_values  # the same floor; content imports this module

    swept = sweep_references(d)
    steps = tuple(step for _, step, _ in swept)
    rows = [replace(equation(step, shape=step.shape if d.batched else None), number=str(number), rule=rule)
            for number, step, rule in swept]
    forks = any(step.rule.startswith("sum over") for step in steps)
    intro: Line = (
        Text("One pass from "), Math("E"), Text(" back to the inputs, as backpropagation runs it: each gradient "),
        Math(r"\partial E / \partial v"), Text(" is derived once, from the gradients above it, and reused by every "
        "later step that needs it. Each step is numbered, and \u201cby (4)\u201d names the equations it uses: the "
        "upstream gradient and the forward equation whose local derivative is taken."),
    )
    if forks:
        intro += (Text(" Where a value feeds several consumers, its gradient is the sum of their contributions "
                       "(the multivariable chain rule), and its step says so."),)
    blocks: list[Block] = [
        Heading(2, (Text("The backward sweep"),), "sweep"),
        Paragraph(intro),
        Equations(with_values(rows, steps, values), (), d.batched),
    ]
    blocks += _collected_blocks(d, len(d.forward) + len(steps) + 1)
    return tuple(blocks)


def _collected_blocks(d: Derivation, start: int) -> tuple[Block, ...]:
    """Each gradient asked for, its sweep step collected into one expression and then in the inputs alone."""
    from symgrad.render.content import equation

    rows = []
    for number, step, rule, first in collected_rows(d, start):
        row = equation(step, shape=step.shape if d.batched else None)
        # The same gradient rewritten: its lhs once.
        rows.append(replace(row, lhs=row.lhs if first else "", number=str(number), rule=rule, detail=None))
    if not rows:
        return ()
    text: Line = (Text("Each gradient collected into one expression, then in the inputs alone:"),)
    if d.batched:
        text = (Text("Each gradient collected into one expression (where it stays short enough to read), then in "
                     "the inputs alone:"),)
    return (Heading(2, (Text("Each gradient in one expression"),), "gradients"), Paragraph(text),
            Equations(tuple(rows), (), d.batched))
