"""LaTeX: a document that compiles with a plain pdflatex, its body, or math for notebooks.

Only packages of a minimal TeX installation are used (amsmath, amssymb,
geometry, color; Debian's texlive-latex-base). Each table of equations is an
``align*``, one equation per line with its rule and mark as a tag; the
elementary steps of a local derivative follow in an indented ``quote``.
Every piece of text is escaped, so any title compiles.
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
    numeric_columns,
)
from symgrad.render.mathconv import wrap_pieces
from symgrad.render.printer import escape_latex_text

__all__ = ["LatexWriter", "write_latex"]

#: Macros a body needs; \providecommand so a host document may define its own.
MACROS = r"""\providecommand{\sgok}{\textcolor[rgb]{0.10,0.50,0.22}{$\checkmark$}}
\providecommand{\sgfail}{\textcolor[rgb]{0.81,0.13,0.18}{$\boldsymbol{\times}$}}
\providecommand{\sgmuted}[1]{\textcolor[rgb]{0.35,0.39,0.43}{#1}}
"""

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage{amsmath}
\usepackage{amssymb}
\usepackage{color}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\emergencystretch=3em
\tolerance=2000
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
\AtBeginDocument{\setlength{\abovedisplayskip}{6pt plus 2pt minus 2pt}%
\setlength{\belowdisplayskip}{6pt plus 2pt minus 2pt}}
"""

_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?|nan|-?inf")
_SECTIONS = {1: r"\section*", 2: r"\section*", 3: r"\subsection*"}


def _number_tex(text: str) -> str:
    r"""A printed number as math: ``1.84e-10`` as ``1.84\times10^{-10}``, ``inf`` as ``\infty``.

    Examples
    --------
    >>> _number_tex("1.84e-10"), _number_tex("-0.5"), _number_tex("-inf"), _number_tex("2e+05")
    ('1.84\\times10^{-10}', '-0.5', '-\\infty', '2\\times10^{5}')
    """
    if text in ("nan", "inf", "-inf"):
        return {"nan": r"\mathrm{NaN}", "inf": r"\infty", "-inf": r"-\infty"}[text]
    mantissa, sep, exponent = text.partition("e")
    return rf"{mantissa}\times10^{{{int(exponent)}}}" if sep else mantissa


class LatexWriter(Writer):
    """Writes the document model as LaTeX (see the module docstring)."""

    # -- inline --------------------------------------------------------------------

    def _write_Text(self, node: Text) -> str:
        if node.style == "num" and _NUMBER.fullmatch(node.text):
            return f"${_number_tex(node.text)}$"
        text = escape_latex_text(node.text)
        if node.style == "num":  # an array of numbers: true minus signs, as in a single number
            return text.replace("-", "$-$")
        if node.style == "code":
            return rf"\texttt{{{text}}}"
        if node.style == "strong":
            return rf"\textbf{{{text}}}"
        if node.style == "muted":
            return rf"\sgmuted{{{text}}}"
        return text

    def _write_Math(self, node: Math) -> str:
        return f"${node.tex}$"

    def _write_Mark(self, node: Mark) -> str:
        return {True: r"\sgok{}", False: r"\sgfail{}", None: ""}[node.ok]

    # -- blocks --------------------------------------------------------------------

    def _write_Heading(self, node: Heading) -> str:
        command = _SECTIONS.get(node.level, r"\subsubsection*")
        return f"{command}{{{self.line(node.line)}}}"

    def _write_Paragraph(self, node: Paragraph) -> str:
        return self.line(node.line)

    def _write_DisplayMath(self, node: DisplayMath) -> str:
        return rf"\[ {node.tex} \]"

    depth = 0  # how deep the table being written is nested under a row

    def _write_Equations(self, node: Equations) -> str:
        parts = [self.line(node.caption)] if node.caption else []
        rows: list[str] = []
        for row in node.rows:
            rows.append(self._equation_row(row, shapes=node.shapes))
            if row.detail is not None:
                parts.append(_align(rows))
                rows = []
                self.depth += 1
                try:
                    nested = self._write_Equations(row.detail)
                finally:
                    self.depth -= 1
                parts.append("\\begin{quote}\\small" + _TIGHT + "\n" + nested + "\n\\end{quote}")
        if rows:
            parts.append(_align(rows))
        return "\n".join(parts)

    def _equation_row(self, row: Equation, *, shapes: bool) -> str:
        tag = escape_latex_text(row.rule)
        if row.value:
            tag = f"${row.value}$; {tag}"
        if row.number:  # numbered where later rows refer to it: "(4)" first in its tag
            tag = f"({escape_latex_text(row.number)})~{tag}"
        if shapes and row.shape:
            tag += f", ${row.shape}$"
        mark = self._write_Mark(Mark(row.ok))
        if mark:
            tag += "~" + mark
        lines = _lines(row.rhs)
        # Nested steps (the elementary rules under a row) in text style: their fractions half as tall.
        style = r"\textstyle " if self.depth else ""
        rest = "".join(f" \\\\\n&\\qquad {style}{line}" for line in lines[1:])
        return rf"{style}{row.lhs} &= {style}{lines[0]} \tag*{{\footnotesize {tag}}}{rest}"

    def _write_Table(self, node: Table) -> str:
        spec = "".join("r" if number else "l" for number in numeric_columns(node))
        wide = len(node.header) > 6
        cells = [_stacked(self.line(cell)) if wide else self.line(cell) for cell in node.header]
        head = " & ".join(rf"\textbf{{{cell}}}" for cell in cells)
        body = "".join(" & ".join(self.line(cell) for cell in row) + r" \\" + "\n" for row in node.rows)
        caption = self.line(node.caption) + "\n\n" if node.caption else ""
        # A wide table (the check's eight columns) is set smaller and tighter, to fit the page.
        size = "\\footnotesize\\setlength{\\tabcolsep}{3pt}" if wide else "\\small"
        if "\\frac" in body:  # rows of fractions need room, or they touch the rows above and below
            size += "\\renewcommand{\\arraystretch}{1.6}"
        return (
            f"{caption}\\begin{{center}}{size}\n\\begin{{tabular}}{{{spec}}}\n\\hline\n{head} \\\\\n\\hline\n"
            f"{body}\\hline\n\\end{{tabular}}\n\\end{{center}}"
        )

    def _write_Bullets(self, node: Bullets) -> str:
        items = "".join(f"\\item {self.line(item)}\n" for item in node.items)
        return f"\\begin{{itemize}}\n{items}\\end{{itemize}}"

    def _write_Figure(self, node: Figure) -> str:
        return self.line(node.table_caption) + "\n\n" + self._write_Table(node.fallback)

    # -- the whole -----------------------------------------------------------------

    def body(self, document: Document, *, title: bool = True) -> str:
        """The document's body: macros, title, lead and blocks."""
        parts = [MACROS.rstrip("\n")]
        if title:
            parts.append(rf"{{\LARGE\bfseries {escape_latex_text(document.title)}\par}}")
        parts.append(self.line(document.lead))
        parts += [self.write(block) for block in document.blocks]
        return "\n\n".join(parts) + "\n"


#: A formula wider than this many visible symbols is set on several lines (the page holds about 60).
LINE_SYMBOLS = 48


def _visible(tex: str) -> int:
    """About how many symbols ``tex`` typesets: a command counts one, braces and scripts' marks none."""
    bare = re.sub(r"\\(left|right)(?![a-zA-Z])", "", tex)
    bare = re.sub(r"\\[a-zA-Z]+", "x", bare)
    return len(re.sub(r"[{}^_ ]", "", bare))


def _lines(tex: str) -> list[str]:
    r"""A long formula as lines cut before operators (:func:`~symgrad.render.mathconv.wrap_pieces`).

    Examples
    --------
    >>> _lines("a + b")
    ['a + b']
    >>> [_visible(line) for line in _lines(" + ".join(f"x_{{{i}}}" for i in range(40)))]
    [45, 48, 48, 8]
    """
    if _visible(tex) <= LINE_SYMBOLS:
        return [tex]
    lines: list[str] = []
    for piece in wrap_pieces(tex, limit=0):
        if lines and _visible(lines[-1] + piece) <= LINE_SYMBOLS:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    return lines


def _stacked(header: str) -> str:
    r"""A header of two or more words on two lines (a wide table's columns are as narrow as their numbers).

    Examples
    --------
    >>> _stacked("finite differences"), _stacked("status")
    ('\\begin{tabular}[b]{@{}c@{}}finite\\\\differences\\end{tabular}', 'status')
    """
    words = header.split(" ")
    if len(words) < 2 or "$" in header:
        return header
    half = max(range(1, len(words)), key=lambda cut: -abs(len(" ".join(words[:cut])) - len(" ".join(words[cut:]))))
    return rf"\begin{{tabular}}[b]{{@{{}}c@{{}}}}{' '.join(words[:half])}\\{' '.join(words[half:])}\end{{tabular}}"


#: Tighter space around the displays of nested steps (after \small, which sets its own).
_TIGHT = r"\setlength{\abovedisplayskip}{4pt}\setlength{\belowdisplayskip}{4pt}"


def _align(rows: list[str]) -> str:
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def write_latex(document: Document, *, standalone: bool = True) -> str:
    r"""The document as a complete LaTeX file (``standalone``) or as its body.

    Examples
    --------
    >>> from symgrad.render.document import Document, Math, Paragraph, Text
    >>> document = Document("50% done", (), (Paragraph((Text("so "), Math("x^2"))),))
    >>> print(write_latex(document, standalone=False).split("\n\n", 1)[1])
    {\LARGE\bfseries 50\% done\par}
    <BLANKLINE>
    <BLANKLINE>
    <BLANKLINE>
    so $x^2$
    <BLANKLINE>
    """
    body = LatexWriter().body(document)
    if not standalone:
        return body
    return f"{PREAMBLE}\\begin{{document}}\n\n{body}\n\\end{{document}}\n"
