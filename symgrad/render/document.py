"""The document model that every output format is written from.

:mod:`symgrad.render.content` turns a Derivation or a CheckReport into a
:class:`Document`, plain frozen data: headings, paragraphs, tables of
equations, tables of numbers, a figure. Each format (LaTeX, MathML, HTML,
Markdown) is a :class:`Writer` that dispatches on the class of each node, the
way SymPy's printers do (``_write_<ClassName>``), so all formats say the same
thing and each writer only decides how it looks.

Math is carried as LaTeX (from :func:`symgrad.render.printer.latex_of`);
the MathML and HTML writers convert it with latex2mathml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

__all__ = [
    "Block",
    "Bullets",
    "DisplayMath",
    "Document",
    "Equation",
    "Equations",
    "Figure",
    "Heading",
    "Inline",
    "Line",
    "Mark",
    "Math",
    "Paragraph",
    "Table",
    "Text",
    "Writer",
    "has_numbers",
    "has_values",
    "numeric_columns",
]


# -- inline -------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Running text; ``style`` is "", "strong", "code", "num" (a number) or "muted"."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Math:
    """Inline math, as LaTeX."""

    tex: str


@dataclass(frozen=True)
class Mark:
    """A verified mark: ✓ (ok True), ✗ (ok False) or a dash (None: not a claim)."""

    ok: bool | None
    title: str = ""


Inline = Text | Math | Mark
Line = tuple[Inline, ...]


# -- blocks -------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    """A heading; ``level`` 2 is a section, 3 a subsection. ``anchor`` is a stable id."""

    level: int
    line: Line
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text and inline math."""

    line: Line


@dataclass(frozen=True)
class DisplayMath:
    """A displayed formula, as LaTeX."""

    tex: str


@dataclass(frozen=True)
class Equation:
    """One row of a derivation: ``lhs = rhs`` by ``rule``, with its mark.

    ``detail`` holds the finer steps that justify this one (elementary rules
    inside a local derivative), shown nested under the row. ``value`` is the
    step's value at the document's point, as LaTeX with its relation
    (``= 0.5``, ``\\approx 0.4213``), or "" when not shown. ``number`` is the
    row's equation number ("4", shown "(4)") where later rows refer to it, or "".
    """

    lhs: str
    rhs: str
    rule: str
    ok: bool | None
    proof: str = ""
    shape: str = ""
    detail: Equations | None = None
    value: str = ""
    number: str = ""


@dataclass(frozen=True)
class Equations:
    """A table of equations, one per row (lhs | = | rhs | rule | mark)."""

    rows: tuple[Equation, ...]
    caption: Line = ()
    shapes: bool = False


@dataclass(frozen=True)
class Table:
    """A table of text cells; ``status`` optionally tags each row ("ok", "FAIL", "kink", "subgradient")."""

    header: tuple[Line, ...]
    rows: tuple[tuple[Line, ...], ...]
    caption: Line = ()
    status: tuple[str, ...] = ()
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Bullets:
    """A bulleted list."""

    items: tuple[Line, ...]


@dataclass(frozen=True)
class Figure:
    """An SVG figure; formats that cannot show SVG show ``fallback`` instead."""

    svg: str
    caption: Line
    fallback: Table
    #: The caption for formats that show the table instead (the SVG's caption speaks of arrows).
    fallback_caption: Line = ()

    @property
    def table_caption(self) -> Line:
        """The caption to print above :attr:`fallback`."""
        return self.fallback_caption or self.caption


Block = Heading | Paragraph | DisplayMath | Equations | Table | Bullets | Figure


@dataclass(frozen=True)
class Document:
    """A whole document: a title, a lead paragraph and the blocks in reading order."""

    title: str
    lead: Line
    blocks: tuple[Block, ...] = field(default=())


def has_values(node: Equations) -> bool:
    """Whether any row of ``node`` shows a value (then the table has a value column)."""
    return any(row.value for row in node.rows)


def has_numbers(node: Equations) -> bool:
    """Whether any row of ``node`` carries an equation number (then the table has a number column)."""
    return any(row.number for row in node.rows)


def numeric_columns(table: Table) -> tuple[bool, ...]:
    """For each column of ``table``, whether it holds numbers (right-aligned)."""
    return tuple(index < len(table.numeric) and table.numeric[index] for index in range(len(table.header)))


# -- writers ------------------------------------------------------------------


class Writer:
    """Base of the format writers: ``write(node)`` calls ``_write_<ClassName>(node)``.

    Examples
    --------
    >>> class Plain(Writer):
    ...     def _write_Text(self, node):
    ...         return node.text
    ...     def _write_Math(self, node):
    ...         return "$" + node.tex + "$"
    >>> Plain().line((Text("so "), Math("x^2")))
    'so $x^2$'
    """

    def write(self, node: object) -> str:
        """Write one node of the document model."""
        method = getattr(self, f"_write_{type(node).__name__}", None)
        if method is None:
            msg = f"{type(self).__name__} cannot write a {type(node).__name__}"
            raise TypeError(msg)
        return cast(Callable[[object], str], method)(node)

    def line(self, parts: Line) -> str:
        """Write a line of inline nodes."""
        return "".join(self.write(part) for part in parts)
