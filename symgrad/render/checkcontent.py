"""The blocks that show a :class:`~symgrad.check.CheckReport`: the point, the table, the cost."""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.check import CheckReport, CheckRow
from symgrad.render.document import Block, Bullets, Document, Heading, Line, Mark, Math, Paragraph, Table, Text
from symgrad.render.numbers import format_number, format_shape, format_value
from symgrad.render.printer import name_latex
from symgrad.render.reporttext import diagnosis_sentence, sentence

__all__ = ["check_blocks", "cost_blocks", "point_phrase", "report_document", "summary_line"]

_METHODS = {"central": "central differences", "richardson": "Richardson extrapolation", "complex": "complex-step"}


def _gradient(name: str) -> Math:
    return Math(rf"\frac{{\partial E}}{{\partial {name_latex(name)}}}")


def _entry(row: CheckRow, value: Any) -> Line:
    if value is None:
        return (Text("—"),)
    number = float(value if not row.shape else np.asarray(value)[row.worst_index])
    return (Text(format_number(number, _digits(number)), "num"),)


def _digits(number: float) -> int:
    """10 significant digits, 4 for a number written with an exponent: its mantissa's tail is rounding
    (a zero gradient's 2.2e-16), and 10 digits and an exponent overflowed the LaTeX table."""
    return 10 if number == 0 or 1e-4 <= abs(number) < 1e10 else 4


def _worst(row: CheckRow) -> Line:
    if not row.shape:
        return (Text("—"),)
    return (Text("[" + ", ".join(str(i) for i in row.worst_index) + "]"),)


def _status(row: CheckRow) -> Line:
    ok = None if row.status in ("kink", "subgradient") else row.passed
    return (Mark(ok, row.message), Text(f" {row.status}"))


def _check_table(report: CheckReport) -> Table:
    batched = any(row.shape for row in report.rows)
    numeric = "finite differences" if report.mode == "full" else "finite differences (not computed)"
    estimated = _estimated(report)
    header: tuple[Line, ...] = (
        (Text("Gradient"),),
        *(((Text("Shape"),), (Text("worst entry"),)) if batched else ()),
        (Text("symbolic"),),
        (Text("backward()"),),
        (Text(numeric),),
        *(((Text("error estimate"),),) if estimated else ()),
        (Text("relative error"),),
        (Text("status"),),
    )
    rows = []
    for row in report.rows:
        cells: list[Line] = [(_gradient(row.name),)]
        if batched:
            cells += [(Text(format_shape(row.shape)),), _worst(row)]
        cells += [_entry(row, row.symbolic), _entry(row, row.backward), _entry(row, row.numeric)]
        if estimated:
            shown = "-" if row.numeric_error is None else format_number(row.numeric_error, 2)
            cells.append((Text(shown, "num"),))
        cells += [(Text(format_number(row.rel_error, 3), "num"),), _status(row)]
        rows.append(tuple(cells))
    numeric_cols = (False, *((False, False) if batched else ()), True, True, True,
                    *((True,) if estimated else ()), True, False)
    caption: Line = (Text("For an array, the values at its worst entry (the largest disagreement)."),)
    return Table(header, tuple(rows), caption if batched else (), tuple(r.status for r in report.rows), numeric_cols)


def _estimated(report: CheckReport) -> bool:
    return any(row.numeric_error is not None for row in report.rows)


def _point_table(report: CheckReport) -> Table:
    batched = any(np.ndim(value) for value in report.values.values())
    header: tuple[Line, ...] = ((Text("Quantity"),), *(((Text("Shape"),),) if batched else ()), (Text("Value"),))
    rows = []
    for name, value in report.values.items():
        shape = ((Text(format_shape(np.shape(value))),),) if batched else ()
        rows.append(((Math(name_latex(name)),), *shape, (Text(format_value(value, 10), "num"),)))
    return Table(header, tuple(rows), numeric=(False, *((False,) if batched else ()), True))


def _tolerances(report: CheckReport) -> str:
    tolerances: dict[str, float] = {}
    for row in report.rows:
        tolerances.update(row.tolerances)
    return ", ".join(f"{name} {value:.0e}" for name, value in sorted(tolerances.items()))


def _dtype(report: CheckReport) -> str:
    return "" if report.dtype is None else f" (the layer computes in {report.dtype})"


def _failure(row: CheckRow) -> Line:
    diagnosis = f" {diagnosis_sentence(row.diagnosis)}" if row.diagnosis else ""
    return (Mark(False), Text(f" {sentence(row.message)}{diagnosis}"))


def point_phrase(report: CheckReport) -> str:
    """Which point the report's values are at: the one given, or the one drawn with its seed.

    Examples
    --------
    >>> import symgrad
    >>> point_phrase(symgrad.check(symgrad.article_network(), seed=3))
    'the point drawn with seed 3'
    """
    return "the given point" if report.given else f"the point drawn with seed {report.seed}"


def summary_line(report: CheckReport) -> Line:
    """One line: ✓/✗ and what the check found.

    Examples
    --------
    >>> import symgrad
    >>> line = summary_line(symgrad.check(symgrad.article_network()))
    >>> line[0].ok, line[1].text
    (True, ' All 5 gradients agree three ways at the point drawn with seed 0.')
    """
    total = len(report.rows)
    where = point_phrase(report)
    if report.ok:
        return (Mark(True), Text(f" All {total} gradients agree three ways at {where}."))
    failed = len(report.failures)
    return (Mark(False), Text(f" {failed} of {total} gradients disagree at {where}."))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sides(report: CheckReport, method: str, sweep: str) -> tuple[Block, ...]:
    """Which three computations are compared; for one layer, also what E is."""
    where = f", at {point_phrase(report)}:"
    if "dout" not in report.values:  # a network: E is its loss
        return (Paragraph((
            Text("Each gradient is computed three ways: the symbolic derivation compiled to NumPy, "),
            Text("the layers' "), Text("backward()", "code"), Text(f", and {method} over {sweep}{where}"),
        )),)
    # One layer (check_layer): E is made from the upstream gradient dout.
    if "t" in report.values and np.ndim(report.values["dout"]) == 0:  # a loss layer
        what: Line = (
            Text("A loss layer's output is a scalar already: the scalar checked is "),
            Math(r"E = \mathrm{forward}(x, t) \cdot \mathrm{dout}"), Text(" (the "), Math(r"\mathrm{dout}"),
            Text(" passed to "), Text("backward(dout)", "code"), Text(", 1 unless given)."),
        )
    else:
        what = (
            Text("A single layer has no loss, so the scalar checked is "),
            Math(r"E = \sum \mathrm{forward}(x) \odot \mathrm{dout}"),
            Text(", with "), Math(r"\mathrm{dout}"),
            Text(" a fixed random upstream gradient (in the table): then "),
            Math(r"\partial E / \partial x"), Text(" is what "), Text("backward(dout)", "code"),
            Text(" must return, and one check covers the whole Jacobian."),
        )
    return (
        Paragraph(what),
        Paragraph((
            Text("Each gradient is computed three ways: the spec's rule (where a spec is given), your "),
            Text("backward()", "code"), Text(f", and {method} over {sweep}{where}"),
        )),
    )


def check_blocks(report: CheckReport, *, level: int = 2) -> tuple[Block, ...]:
    """The check: the method, the point, the table and the failure messages."""
    method = _METHODS.get(report.method, report.method)
    sweep = "every entry" if report.mode == "full" else "one random direction"
    blocks: list[Block] = [
        Heading(level, (Text("Three-way check"),), "check"),
        *_sides(report, method, sweep),
        _point_table(report),
        Paragraph(summary_line(report)),
        _check_table(report),
    ]
    if _tolerances(report):  # none when no gradient was compared (every backward() raised, say)
        blocks.append(Paragraph((Text(f"Relative tolerances{_dtype(report)}: {_tolerances(report)}."),)))
    if _estimated(report):
        blocks.append(Paragraph((Text(
            "Error estimate: the finite differences' own estimated error, relative like the relative error "
            "(from a second step, plus rounding); a disagreement within the tolerance plus this estimate passes."
        ),)))
    messages: list[Line] = [_failure(row) for row in report.failures]
    messages += [(Mark(None), Text(" " + sentence(row.message))) for row in report.rows
                 if row.status in ("kink", "subgradient")]
    messages += [(Text(_capital(sentence(note))),) for note in report.notes]
    messages += [(Mark(False), Text(f" Warning: {sentence(warning)}")) for warning in report.warnings]
    if messages:
        blocks.append(Bullets(tuple(messages)))
    return tuple(blocks)


def cost_blocks(report: CheckReport, *, level: int = 2) -> tuple[Block, ...]:
    """What finite differences cost, counted in evaluations, against one backward pass."""
    entries = sum(int(np.size(row.symbolic)) for row in report.rows)
    method = _METHODS.get(report.method, report.method)
    sweep = "a full sweep" if report.mode == "full" else "one random direction"
    table = Table(
        ((Text("Method"),), (Text("Cost"),)),
        (
            (
                (Text(f"Finite differences ({method}, {sweep})"),),
                (Text(f"{report.evaluations} forward evaluations of E"),),
            ),
            ((Text("Backpropagation"),), (Text("1 forward pass + 1 backward pass"),)),
        ),
    )
    if report.mode == "full":
        grows = "grows with the number of entries"
    else:
        grows = "stays the same at any width, but checks one direction only"
    text = (
        f"The gradients have {entries} entries in all. The cost of finite differences {grows}; "
        "a backward pass costs about as much as a forward pass, whatever the number of parameters."
    )
    return (Heading(level, (Text("Cost"),), "cost"), table, Paragraph((Text(text),)))


def report_document(report: CheckReport) -> Document:
    """A check report on its own: the check, then its cost.

    Examples
    --------
    >>> import symgrad
    >>> report_document(symgrad.check(symgrad.article_network())).title
    "Three-way check: The article's network"
    """
    title = f"Three-way check: {report.title}"
    return Document(title, summary_line(report), (*check_blocks(report), *cost_blocks(report)))
