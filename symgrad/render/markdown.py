"""Markdown with math as GitHub renders it: ``$...$`` inline and ``$$...$$`` blocks.

Tables of equations are GitHub tables (one equation per row, its rule and a
✓/✗); the elementary steps of a local derivative follow their row in a
blockquote, nested one ``>`` deeper per level. User text is escaped, so a
title cannot inject HTML, links or emphasis.
"""

from __future__ import annotations

import re

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
    has_values,
    numeric_columns,
)

__all__ = ["MarkdownWriter", "escape_markdown", "escape_markdown_math", "write_markdown"]

_SPECIAL = set("\\`*_[]<>|~$#!")


def escape_markdown(text: str) -> str:
    """``text`` with Markdown's special characters escaped (and ``&`` as ``&amp;``).

    Examples
    --------
    >>> escape_markdown("<script>*x*</script> | a_b & c")
    '\\\\<script\\\\>\\\\*x\\\\*\\\\</script\\\\> \\\\| a\\\\_b &amp; c'
    """
    out = []
    for char in text:
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char == "&":
            out.append("&amp;")
        elif char in "\n\r\t":
            out.append(" ")
        elif not char.isprintable():  # an ANSI escape or a bidirectional override in a name
            out.append("?")
        else:
            out.append(char)
    return "".join(out)


#: LaTeX that Markdown would read as markup, spelled as MathJax and KaTeX read it: a "|" would end a
#: table cell, and "<" or ">" could open an HTML tag before the math is typeset.
_MATH_ESCAPES = str.maketrans({"|": r"\vert ", "<": r"\lt ", ">": r"\gt ", "`": r"\grave{}", "\n": " ", "\r": " "})


def escape_markdown_math(tex: str) -> str:
    r"""LaTeX math made safe between Markdown's ``$`` delimiters.

    Examples
    --------
    >>> escape_markdown_math(r"\mathrm{<script>} |x|")
    '\\mathrm{\\lt script\\gt } \\vert x\\vert '
    """
    return tex.translate(_MATH_ESCAPES)


class MarkdownWriter(Writer):
    """Writes the document model as GitHub-flavoured Markdown."""

    def _write_Text(self, node: Text) -> str:
        if node.style == "code":
            # A fence longer than any run of backticks in the text, so that none closes it (CommonMark).
            longest = max((len(run) for run in re.findall("`+", node.text)), default=0)
            fence, pad = "`" * (longest + 1), " " if longest else ""
            return f"{fence}{pad}{node.text.replace('|', '¦')}{pad}{fence}"
        text = escape_markdown(node.text)
        if node.style == "num":  # a true minus sign, as the HTML and LaTeX show
            return text.replace("-", "−")
        return f"**{text}**" if node.style == "strong" and text.strip() else text

    def _write_Math(self, node: Math) -> str:
        return f"${escape_markdown_math(node.tex)}$"

    def _write_Mark(self, node: Mark) -> str:
        return {True: "✓", False: "✗", None: ""}[node.ok]

    def _write_Heading(self, node: Heading) -> str:
        return f"{'#' * node.level} {self.line(node.line)}"

    def _write_Paragraph(self, node: Paragraph) -> str:
        return self.line(node.line)

    def _write_DisplayMath(self, node: DisplayMath) -> str:
        return f"$$\n{node.tex}\n$$"

    def _write_Equations(self, node: Equations) -> str:
        valued = has_values(node)
        header = "| Step | " + ("Value | " if valued else "") + ("Shape | " if node.shapes else "") + "Rule | Proven |"
        rule = "|---|" + ("---|" if valued else "") + ("---|" if node.shapes else "") + "---|:---:|"
        parts = [self.line(node.caption)] if node.caption else []
        table: list[str] = []
        for row in node.rows:
            table.append(self._row(row, shapes=node.shapes, valued=valued))
            if row.detail is not None:
                parts.append("\n".join([header, rule, *table]))
                table = []
                nested = self._write_Equations(row.detail)
                parts.append("\n".join(f"> {line}" if line else ">" for line in nested.split("\n")))
        if table:
            parts.append("\n".join([header, rule, *table]))
        return "\n\n".join(parts)

    def _row(self, row: Equation, *, shapes: bool, valued: bool = False) -> str:
        step = f"${escape_markdown_math(row.lhs)} = {escape_markdown_math(row.rhs)}$"
        if row.number:  # numbered where later rows refer to it
            step = f"({escape_markdown(row.number)}) {step}"
        value = (f" ${escape_markdown_math(row.value)}$ |" if row.value else " |") if valued else ""
        shape = f" ${escape_markdown_math(row.shape)}$ |" if shapes else ""
        mark = self._write_Mark(Mark(row.ok))
        return f"| {step} |{value}{shape} {escape_markdown(row.rule)} | {mark} |"

    def _write_Table(self, node: Table) -> str:
        lines = []
        if node.caption:
            lines += [self.line(node.caption), ""]
        aligns = ["---:" if number else "---" for number in numeric_columns(node)]
        lines.append("| " + " | ".join(self.line(cell) for cell in node.header) + " |")
        lines.append("|" + "|".join(aligns) + "|")
        lines += ["| " + " | ".join(self.line(cell) for cell in row) + " |" for row in node.rows]
        return "\n".join(lines)

    def _write_Bullets(self, node: Bullets) -> str:
        return "\n".join(f"- {self.line(item)}" for item in node.items)

    def _write_Figure(self, node: Figure) -> str:
        return f"{self.line(node.table_caption)}\n\n{self._write_Table(node.fallback)}"

    def document(self, document: Document) -> str:
        """The whole document."""
        parts = [f"# {escape_markdown(document.title)}", self.line(document.lead)]
        parts += [self.write(block) for block in document.blocks]
        return "\n\n".join(parts) + "\n"


def write_markdown(document: Document) -> str:
    """The document as Markdown.

    Examples
    --------
    >>> from symgrad.render.document import Document, Math, Paragraph, Text
    >>> print(write_markdown(Document("a_b", (), (Paragraph((Text("so "), Math("x^2"))),))))
    # a\\_b
    <BLANKLINE>
    <BLANKLINE>
    <BLANKLINE>
    so $x^2$
    <BLANKLINE>
    """
    return MarkdownWriter().document(document)
