"""LaTeX for Jupyter's ``_repr_latex_``: one ``$$ \\begin{aligned} ... $$`` block for MathJax.

MathJax typesets math only, so the whole document is one ``aligned``
environment: headings and prose in ``\\text{}``, each equation on its own line
aligned at "=", its rule and mark after it, elementary steps indented with
``\\qquad``, tables as ``array``. MathJax's ``\\text{}`` takes no macros, so
text is reduced to characters it shows literally.
"""

from __future__ import annotations

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
)

__all__ = ["NotebookWriter", "write_notebook_latex"]

#: Characters that MathJax's \text{} would not show literally, or that break an alignment.
_UNSAFE = {"\\": "/", "{": "(", "}": ")", "$": "S", "&": "+", "#": "No.", "%": " percent", "^": "'", "_": " ", "~": "-"}


def mathjax_text(text: str) -> str:
    """``text`` inside ``\\text{}``, with MathJax-unsafe characters replaced.

    Examples
    --------
    >>> mathjax_text("a_b & {c}")
    '\\\\text{a b + (c)}'
    """
    clean = "".join(_UNSAFE.get(char, char) for char in text if char.isprintable())
    return rf"\text{{{clean}}}"


class NotebookWriter(Writer):
    """Writes the document model as one MathJax ``aligned`` block."""

    def __init__(self) -> None:
        self.indent = 0

    def _write_Text(self, node: Text) -> str:
        text = mathjax_text(node.text)
        return rf"\mathbf{{{text}}}" if node.style == "strong" else text

    def _write_Math(self, node: Math) -> str:
        return f"{{{node.tex}}}"

    def _write_Mark(self, node: Mark) -> str:
        # \color is a switch in MathJax 3: a group keeps it to the mark.
        return {True: r"{\color{green}\checkmark}", False: r"{\color{red}\times}", None: ""}[node.ok]

    def _lines(self, node: object) -> list[str]:
        text = self.write(node)
        return [line for line in text.split("\n") if line]

    def _write_Heading(self, node: Heading) -> str:
        return rf"& {{\large {self.line(node.line)}}}"

    def _write_Paragraph(self, node: Paragraph) -> str:
        return f"& {self.line(node.line)}"

    def _write_DisplayMath(self, node: DisplayMath) -> str:
        return f"& {node.tex}"

    def _write_Equations(self, node: Equations) -> str:
        pad = r"\qquad " * self.indent
        lines = [f"& {pad}{self.line(node.caption)}"] if node.caption else []
        for row in node.rows:
            lines.append(self._row(row, pad))
            if row.detail is not None:
                self.indent += 1
                lines.append(self._write_Equations(row.detail))
                self.indent -= 1
        return "\n".join(lines)

    def _row(self, row: Equation, pad: str) -> str:
        shape = rf",\ {row.shape}" if row.shape else ""
        mark = self._write_Mark(Mark(row.ok))
        value = rf" \quad {row.value}" if row.value else ""
        number = rf"{mathjax_text(f'({row.number})')}\quad " if row.number else ""
        return rf"{pad}{number}{row.lhs} &= {row.rhs}{value} \quad {mathjax_text(row.rule)}{shape}\ {mark}"

    def _write_Table(self, node: Table) -> str:
        spec = "l" * len(node.header)
        head = " & ".join(self.line(cell) for cell in node.header)
        rows = [" & ".join(self.line(cell) for cell in row) for row in node.rows]
        body = r" \\ ".join([head, r"\hline " + rows[0] if rows else "", *rows[1:]])
        return rf"& \begin{{array}}{{{spec}}} {body} \end{{array}}"

    def _write_Bullets(self, node: Bullets) -> str:
        return "\n".join(rf"& \bullet\ {self.line(item)}" for item in node.items)

    def _write_Figure(self, node: Figure) -> str:
        return f"& {self.line(node.table_caption)}\n{self._write_Table(node.fallback)}"

    def document(self, document: Document) -> str:
        """The whole document as ``$$\\begin{aligned} ... \\end{aligned}$$``."""
        lines = [rf"& {{\Large {mathjax_text(document.title)}}}", f"& {self.line(document.lead)}"]
        for block in document.blocks:
            lines += self._lines(block)
        return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$\n"


def write_notebook_latex(document: Document) -> str:
    """The document as LaTeX for a notebook's MathJax.

    Examples
    --------
    >>> from symgrad.render.document import Document, DisplayMath
    >>> print(write_notebook_latex(Document("t", (), (DisplayMath("x^2"),))), end="")
    $$\\begin{aligned}
    & {\\Large \\text{t}} \\\\
    &  \\\\
    & x^2
    \\end{aligned}$$
    """
    return NotebookWriter().document(document)
