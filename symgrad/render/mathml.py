"""The whole document as one MathML ``<math>`` element (a ``.mml`` file).

A four-column ``<mtable>``: lhs | = | rhs | rule and mark, one equation per
row; headings and prose are rows spanning the table (``<mtext>`` with the
inline math in between); elementary steps are indented rows; data tables are
nested ``<mtable>``. Math comes from :mod:`symgrad.render.mathconv`, text is
escaped, and the result is checked to be well-formed XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from symgrad.render.document import (
    Bullets,
    DisplayMath,
    Document,
    Equation,
    Equations,
    Figure,
    Heading,
    Line,
    Mark,
    Math,
    Paragraph,
    Table,
    Text,
    Writer,
)
from symgrad.render.escape import escape_xml
from symgrad.render.mathconv import MATHML_NS, math_element

__all__ = ["MathMLWriter", "write_mathml"]


_MARKS = {True: '<mtext mathcolor="#1a7f37">✓</mtext>', False: '<mtext mathcolor="#cf222e">✗</mtext>', None: ""}


def _inner(tex: str) -> str:
    """The content of ``<math>`` for ``tex``, to embed in a larger expression."""
    root = math_element(tex, displaystyle=False)
    return "".join(ET.tostring(child, encoding="unicode") for child in root)


def _mtext(text: str) -> str:
    # Browsers strip an <mtext>'s leading and trailing spaces ("respect tow₁"): keep them as no-break spaces.
    if not text:
        return ""
    stripped = text.strip(" ")
    lead, trail = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    body = "&#160;" * lead + escape_xml(stripped, quote=False) + "&#160;" * trail
    return f"<mtext>{body}</mtext>"


def _wide(content: str) -> str:
    return f'<mtr><mtd columnspan="4" columnalign="left" style="text-align: left">{content}</mtd></mtr>'


class MathMLWriter(Writer):
    """Writes the document model as MathML table rows."""

    def __init__(self) -> None:
        self.indent = 0

    def _write_Text(self, node: Text) -> str:
        return _mtext(node.text.replace("-", "−") if node.style == "num" else node.text)

    def _write_Math(self, node: Math) -> str:
        return f"<mrow>{_inner(node.tex)}</mrow>"

    def _write_Mark(self, node: Mark) -> str:
        return _MARKS[node.ok]

    def _write_Heading(self, node: Heading) -> str:
        return _wide(f'<mstyle mathsize="1.2em">{self.line(node.line)}</mstyle>')

    def _write_Paragraph(self, node: Paragraph) -> str:
        return _wide(f"<mrow>{self.line(node.line)}</mrow>")

    def _write_DisplayMath(self, node: DisplayMath) -> str:
        return _wide(f"<mrow>{_inner(node.tex)}</mrow>")

    def _write_Equations(self, node: Equations) -> str:
        rows = [self._write_Paragraph(Paragraph(node.caption))] if node.caption else []
        for row in node.rows:
            rows.append(self._row(row))
            if row.detail is not None:
                self.indent += 1
                rows.append(self._write_Equations(row.detail))
                self.indent -= 1
        return "".join(rows)

    def _row(self, row: Equation) -> str:
        pad = f'<mspace width="{2 * self.indent}em"/>' if self.indent else ""
        shape = f"<mtext>,&#160;</mtext>{_inner(row.shape)}" if row.shape else ""
        value = f"<mrow>{_inner(row.value)}</mrow><mtext>;&#160;</mtext>" if row.value else ""
        mark = self._write_Mark(Mark(row.ok))
        number = f'{_mtext(f"({row.number})")}<mspace width="1em"/>' if row.number else ""
        return (
            f'<mtr><mtd columnalign="right" style="text-align: right">{pad}{number}{_inner(row.lhs)}</mtd>'
            f"<mtd><mo>=</mo></mtd>"
            f'<mtd columnalign="left" style="text-align: left">{_inner(row.rhs)}</mtd>'
            f'<mtd columnalign="left" style="text-align: left"><mrow><mspace width="1em"/>{value}'
            f"{_mtext(row.rule)}{shape}"
            f'<mspace width="0.5em"/>{mark}</mrow></mtd></mtr>'
        )

    def _write_Table(self, node: Table) -> str:
        head = "".join(f"<mtd>{self.line(cell)}</mtd>" for cell in node.header)
        rows = "".join(self._table_row(row) for row in node.rows)
        caption = self._write_Paragraph(Paragraph(node.caption)) if node.caption else ""
        table = f'<mtable frame="solid" rowlines="solid" columnlines="solid"><mtr>{head}</mtr>{rows}</mtable>'
        return caption + _wide(table)

    def _table_row(self, row: tuple[Line, ...]) -> str:
        return "<mtr>" + "".join(f"<mtd>{self.line(cell)}</mtd>" for cell in row) + "</mtr>"

    def _write_Bullets(self, node: Bullets) -> str:
        return "".join(_wide(f"<mrow><mtext>• </mtext>{self.line(item)}</mrow>") for item in node.items)

    def _write_Figure(self, node: Figure) -> str:
        return self._write_Paragraph(Paragraph(node.table_caption)) + self._write_Table(node.fallback)

    def document(self, document: Document) -> str:
        """The whole document as one ``<math display="block">``."""
        title = _wide(f'<mstyle mathsize="1.5em">{_mtext(document.title)}</mstyle>')
        rows = [title, self._write_Paragraph(Paragraph(document.lead))]
        rows += [self.write(block) for block in document.blocks]
        body = "\n".join(rows)
        return (
            f'<math xmlns="{MATHML_NS}" display="block">\n<mtable columnalign="right center left left" '
            f'rowspacing="0.4em">\n{body}\n</mtable>\n</math>\n'
        )


def write_mathml(document: Document) -> str:
    """The document as MathML; well-formed XML (parsed here to make sure).

    Examples
    --------
    >>> from symgrad.render.document import Document, DisplayMath
    >>> write_mathml(Document("t", (), (DisplayMath("x^2"),))).startswith('<math xmlns="http://www.w3.org/1998/Math/MathML"')
    True
    """
    text = MathMLWriter().document(document)
    ET.fromstring(text)  # noqa: S314  our own output: a malformed document would be a bug here
    return text
