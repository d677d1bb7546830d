"""One self-contained HTML page: native MathML, inline CSS and SVG, no script, nothing fetched.

The page is well-formed XML after its ``<!DOCTYPE html>`` line (void elements
are closed, only numeric character references), so XML tools can read it as
well as browsers. Multi-line derivations are HTML tables, one equation per
row (lhs | = | rhs | rule | mark), because Chromium's MathML ignores
``columnalign``; the elementary steps of a local derivative sit in an indented
table under their row. Every piece of user text is escaped.
"""

from __future__ import annotations

from symgrad.render.css import STYLE
from symgrad.render.document import (
    Bullets,
    DisplayMath,
    Document,
    Equation,
    Equations,
    Figure,
    Heading,
    Mark,
    Math,
    Paragraph,
    Table,
    Text,
    Writer,
    has_numbers,
    has_values,
)
from symgrad.render.escape import escape_xml
from symgrad.render.mathconv import latex_to_mathml, wrap_pieces

__all__ = ["HtmlWriter", "write_html"]

_MARKS = {True: ("ok", "✓"), False: ("fail", "✗")}
_TEXT_TAGS = {"strong": "strong", "code": "code"}
_FOOTER = (
    "Derived and checked by symgrad: ✓ marks a step proven equal to sympy.diff, "
    "or a gradient on which all three computations agree."
)


def _wrapping(tex: str) -> str:
    """A formula as MathML; a long one as pieces cut before operators, which the browser wraps between.

    (Chromium's MathML does not break lines by itself: a long formula was clipped in a scroll box.)
    """
    pieces = wrap_pieces(tex)
    if len(pieces) == 1:
        return latex_to_mathml(tex)
    return '<span class="wrap">' + " ".join(latex_to_mathml(piece) for piece in pieces) + "</span>"


class HtmlWriter(Writer):
    """Writes the document model as HTML (see the module docstring)."""

    def __init__(self) -> None:
        self.depth = 0  # nesting of equation tables

    # -- inline --------------------------------------------------------------------

    def _write_Text(self, node: Text) -> str:
        text = escape_xml(node.text)
        if node.style in _TEXT_TAGS:
            tag = _TEXT_TAGS[node.style]
            return f"<{tag}>{text}</{tag}>"
        if node.style == "num":
            return f'<span class="num">{text.replace("-", "−")}</span>'
        if node.style == "muted":
            return f'<span class="muted">{text}</span>'
        return text

    def _write_Math(self, node: Math) -> str:
        return latex_to_mathml(node.tex, displaystyle=False)

    def _write_Mark(self, node: Mark) -> str:
        if node.ok is None:
            return ""
        kind, symbol = _MARKS[node.ok]
        title = f' title="{escape_xml(node.title)}"' if node.title else ""
        label = "verified" if node.ok else "not verified"
        return f'<span class="mark {kind}"{title} aria-label="{label}">{symbol}</span>'

    # -- blocks --------------------------------------------------------------------

    def _write_Heading(self, node: Heading) -> str:
        anchor = f' id="{escape_xml(node.anchor)}"' if node.anchor else ""
        return f"<h{node.level}{anchor}>{self.line(node.line)}</h{node.level}>"

    def _write_Paragraph(self, node: Paragraph) -> str:
        return f"<p>{self.line(node.line)}</p>"

    def _write_DisplayMath(self, node: DisplayMath) -> str:
        return f'<div class="display">{latex_to_mathml(node.tex, block=True)}</div>'

    def _write_Equations(self, node: Equations) -> str:
        caption = f"<caption>{self.line(node.caption)}</caption>" if node.caption and self.depth == 0 else ""
        self.depth += 1
        try:
            previous = [""] + [row.proof for row in node.rows[:-1]]
            valued, numbered = has_values(node), has_numbers(node)
            rows = "".join(
                self._equation_row(row, shapes=node.shapes, repeated=row.proof == before, valued=valued,
                                   numbered=numbered)
                for row, before in zip(node.rows, previous, strict=True)
            )
        finally:
            self.depth -= 1
        return f'<table class="derivation">{caption}<tbody>{rows}</tbody></table>'

    def _equation_row(
        self, row: Equation, *, shapes: bool, repeated: bool, valued: bool = False, numbered: bool = False
    ) -> str:
        mark = self._write_Mark(Mark(row.ok, row.proof))
        proof = ""
        # A top-level row without nested steps says how it was proven, unless the row above said the same.
        shown = (self.depth == 1 and row.detail is None and not repeated) or row.ok is False
        if row.proof and shown and row.proof != "definition":
            proof = f'<div class="proof">{escape_xml(row.proof)}</div>'
        shape = f'<td class="shape">{latex_to_mathml(row.shape, displaystyle=False)}</td>' if shapes else ""
        value = ""
        if valued:
            value = f'<td class="value">{latex_to_mathml(row.value, displaystyle=False) if row.value else ""}</td>'
        number = f'<td class="eqno">{f"({escape_xml(row.number)})" if row.number else ""}</td>' if numbered else ""
        cells = (
            f'{number}<td class="lhs">{latex_to_mathml(row.lhs) if row.lhs else ""}</td>'
            f'<td class="eq">{latex_to_mathml("=")}</td>'
            f'<td class="rhs">{_wrapping(row.rhs)}</td>{value}{shape}'
            f'<td class="rule">{escape_xml(row.rule)}{proof}</td><td class="mark">{mark}</td>'
        )
        anchor = f' id="eq-{escape_xml(row.number)}"' if row.number else ""
        html = f'<tr class="step"{anchor}>{cells}</tr>'
        if row.detail is not None:
            span = 5 + shapes + valued + numbered
            summary = self.line(row.detail.caption)
            nested = self._write_Equations(row.detail)
            details = f'<details open=""><summary>{summary}</summary>{nested}</details>'
            html += f'<tr class="detail"><td colspan="{span}">{details}</td></tr>'
        return html

    def _write_Table(self, node: Table) -> str:
        caption = f"<caption>{self.line(node.caption)}</caption>" if node.caption else ""
        head = "".join(f"<th>{self.line(cell)}</th>" for cell in node.header)
        body = []
        for index, row in enumerate(node.rows):
            status = f' class="{escape_xml(node.status[index])}"' if index < len(node.status) else ""
            cells = "".join(self._cell(cell, node.numeric, column) for column, cell in enumerate(row))
            body.append(f"<tr{status}>{cells}</tr>")
        return f'<table class="data">{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'

    def _cell(self, cell: tuple[Text | Math | Mark, ...], numeric: tuple[bool, ...], column: int) -> str:
        number = ' class="number"' if column < len(numeric) and numeric[column] else ""
        return f"<td{number}>{self.line(cell)}</td>"

    def _write_Bullets(self, node: Bullets) -> str:
        return "<ul>" + "".join(f"<li>{self.line(item)}</li>" for item in node.items) + "</ul>"

    def _write_Figure(self, node: Figure) -> str:
        return f'<figure><div class="graph">{node.svg}</div><figcaption>{self.line(node.caption)}</figcaption></figure>'

    # -- the whole -----------------------------------------------------------------

    def body(self, document: Document) -> str:
        """The document inside ``<div class="symgrad">``."""
        parts = [f"<h1>{escape_xml(document.title)}</h1>", f'<p class="lead">{self.line(document.lead)}</p>']
        parts += [self.write(block) for block in document.blocks]
        parts.append(f"<footer>{_FOOTER}</footer>")
        return '<div class="symgrad">\n' + "\n".join(parts) + "\n</div>"


def write_html(document: Document, *, fragment: bool = False) -> str:
    """The document as a whole HTML page, or as a ``<div>`` fragment for notebooks.

    Examples
    --------
    >>> from symgrad.render.document import Document, Text
    >>> page = write_html(Document("a < b", (Text("lead"),)))
    >>> "<title>a &lt; b</title>" in page, write_html(Document("t", ()), fragment=True).startswith("<div>")
    (True, True)
    """
    body = HtmlWriter().body(document)
    if fragment:
        return f"<div><style>{STYLE}</style>\n{body}\n</div>\n"
    return (
        "<!DOCTYPE html>\n"
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        '<meta name="generator" content="symgrad"/>\n'
        f"<title>{escape_xml(document.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
