"""Plain text for terminals: a check report's table, and the escaping of every line of terminal text.

Apart from :mod:`symgrad.render.text` (which prints SymPy expressions) so that
``str(report)`` needs no SymPy: the ``symgrad`` command prints a report with
none loaded when its symbolic results are on disk (:mod:`symgrad.derive.artifacts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from symgrad.check.hessian import HessianReport
    from symgrad.check.report import CheckReport, CheckRow

__all__ = ["diagnosis_sentence", "escape_text", "hessian_text", "report_text", "sentence"]


def escape_text(text: str) -> str:
    r"""One line of terminal text: control and invisible characters written as escapes.

    A name may hold a newline (which would forge a line of the report), an ANSI escape (which
    would recolour or clear the terminal) or a bidirectional override; each is shown as Python
    writes it in a string literal instead.

    Examples
    --------
    >>> print(escape_text("x\n<ok>\x1b[2J\u202e"))
    x\n<ok>\x1b[2J\u202e
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.10g}"
    return f"|{np.max(np.abs(array)):.6g}|max"


def report_text(report: CheckReport) -> str:
    """A check report as a table, then what went wrong and where.

    Examples
    --------
    >>> from symgrad import check, article_network
    >>> print(report_text(check(article_network())).splitlines()[0])
    Three-way check of The article's network: all 5 gradients agree
    """
    count = len(report.rows)
    verdict = f"all {count} gradients agree" if report.ok else f"{len(report.failures)} of {count} FAIL"
    if report.warnings:
        verdict += ", but the check could not fail (see the warning)"
    lines = [f"Three-way check of {report.title}: {verdict}", *_method_line(report).split("\n"), ""]
    header = ("name", "shape", "symbolic", "backward()", "numeric", "numeric ±", "rel error", "status")
    table = [header] + [_row_cells(row) for row in report.rows]
    lines += _aligned(table)
    problems = [row for row in report.rows if row.message]
    if problems:
        lines.append("")
    for row in problems:
        lines.append(f"{row.status} {row.message}")
        if row.diagnosis:
            lines.append(f"     diagnosis: {row.diagnosis}")
    for note in report.notes:
        lines.append(f"note: {note}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(escape_text(line) for line in lines)


def _point(report: CheckReport) -> str:
    if not report.given:
        return f"seed {report.seed}"
    return "at the given point" + (f", direction from seed {report.seed}" if report.mode == "fast" else "")


def _method_line(report: CheckReport) -> str:
    if report.mode == "fast":
        line = (
            f"{_point(report)}; numeric side: {report.method} difference along a random direction "
            f"({report.evaluations} forward evaluations in all)"
        )
        found = report.directional
        if found is not None:
            tol = next((row.tolerances.get("directional") for row in report.rows), None)
            limit = "" if tol is None else f" (tolerance {tol:.0e})"
            return (
                f"{line}\n"
                f"<u, grad E> along the direction: finite differences {found.directional[0]:.10g}, "
                f"symbolic {found.claimed[0]:.10g}, relative error {found.max_rel_error:.1e}{limit}"
            )
    else:
        line = (
            f"{_point(report)}; numeric side: {report.method} differences, {report.evaluations} forward "
            "evaluations (backprop needs 1 forward + 1 backward)"
        )
    if any(row.numeric_error is not None for row in report.rows):
        line += (
            "\nnumeric ±: the finite differences' estimated error (relative, as rel error); "
            "a disagreement within tolerance + estimate passes"
        )
    if report.dtype is None:
        return line
    tolerances: dict[str, float] = {}
    for row in report.rows:
        tolerances.update(row.tolerances)
    shown = ", ".join(f"{name} {value:.0e}" for name, value in tolerances.items() if name != "forward")
    tolerated = f"; relative tolerances for {report.dtype}: {shown}" if shown else ""
    return f"{line}\ncomputed in {report.dtype}{tolerated}"


def _row_cells(row: CheckRow) -> tuple[str, ...]:
    shape = "x".join(str(d) for d in row.shape) or "scalar"
    values = (_value(row.symbolic), _value(row.backward), _value(row.numeric))
    estimate = "-" if row.numeric_error is None else f"{row.numeric_error:.0e}"
    return (row.name, shape, *values, estimate, f"{row.rel_error:.1e}", row.status)


def hessian_text(report: HessianReport) -> str:
    """A second-order check as a table: each gradient source's Hessian-vector products against the loss's.

    Examples
    --------
    >>> from symgrad import article_network
    >>> from symgrad.check.hessian import check_hessian
    >>> print(hessian_text(check_hessian(article_network())).splitlines()[0])
    Hessian-vector check of The article's network: all 2 gradient sources agree with the loss's curvature
    """
    count = len(report.rows)
    failed = [row for row in report.rows if not row.passed]
    kinked = [row for row in report.rows if row.status == "kink"]
    agree = f"all {count} gradient sources agree" if count > 1 else f"{report.rows[0].source} agrees"
    verdict = f"{agree} with the loss's curvature" if not failed else f"{len(failed)} of {count} FAIL"
    if kinked and not failed:
        verdict = (f"{len(kinked)} of {count} not comparable at a kink" if count > 1
                   else f"{report.rows[0].source} not comparable at a kink")
    unresolved = [row for row in report.rows if row.status == "unresolved"]
    if unresolved and not failed and not kinked:
        verdict = (f"{len(unresolved)} of {count} not verified (differences did not converge)" if count > 1
                   else f"{report.rows[0].source} not verified (differences did not converge)")
    lines = [
        f"Hessian-vector check of {report.title}: {verdict}",
        f"seed {report.seed}; two random unit directions u, w; H u, H w by differences of each gradient "
        f"({report.gradient_calls} gradient evaluations),",
        f"against second differences of the loss ({report.loss_calls} evaluations); "
        f"relative tolerance {report.rtol:.0e} + the estimated errors"
        + ("" if report.dtype == "float64" else f"; computed in {report.dtype}, steps for its precision"),
        "",
    ]
    header = ("source", "product", "from the gradient", "from the loss", "rel error", "estimate", "status")
    table = [header]
    for row in report.rows:
        for c in row.comparisons:
            status = "ok" if c.passed else row.status
            table.append((row.source, c.what, f"{c.from_gradient:.10g}", f"{c.from_loss:.10g}",
                          f"{c.rel_error:.1e}", f"{c.estimate:.0e}", status))
    lines += _aligned(table)
    messages = [row for row in report.rows if row.message]
    if messages:
        lines.append("")
    lines += [f"{row.status} {row.message}" for row in messages]
    return "\n".join(escape_text(line) for line in lines)


def _aligned(table: Sequence[Sequence[str]]) -> list[str]:
    """The rows of ``table`` as lines, each column padded to its widest cell."""
    widths = [max(len(cells[i]) for cells in table) for i in range(len(table[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() for cells in table]


def diagnosis_sentence(diagnosis: str) -> str:
    """A row's diagnosis as a sentence of its own (it is written to follow "the wrong value").

    Examples
    --------
    >>> diagnosis_sentence("matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout")
    'The wrong value matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout.'
    >>> diagnosis_sentence("the failing product matches a missing transpose")
    'The failing product matches a missing transpose.'
    """
    text = diagnosis.strip().rstrip(".")
    if not text:
        return ""
    if text.startswith("matches "):
        text = "the wrong value " + text
    return text[0].upper() + text[1:] + "."


def sentence(text: str) -> str:
    """``text`` ending with a full stop (unless it ends with one already, or with ? or !).

    Examples
    --------
    >>> sentence("backward() is wrong"), sentence("Done."), sentence("")
    ('backward() is wrong.', 'Done.', '')
    """
    text = text.strip()
    return text if not text or text[-1] in ".?!" else text + "."
