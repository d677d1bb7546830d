"""Markdown output (symgrad/render/markdown.py): GitHub math, well-formed tables, escaped text."""

from __future__ import annotations

import re

import symgrad
from symgrad.render import to_markdown
from symgrad.render.markdown import escape_markdown


def _tables(text: str) -> list[list[str]]:
    """Every table as its lines (a blockquote's "> " prefixes removed)."""
    tables, current = [], []
    for line in text.split("\n"):
        line = re.sub(r"^(> ?)+", "", line)
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def test_every_table_row_has_as_many_cells_as_its_header(article, article_report, batched, batched_report):
    for text in (to_markdown(article, report=article_report), to_markdown(batched, report=batched_report)):
        tables = _tables(text)
        assert len(tables) > 5
        for table in tables:
            assert re.fullmatch(r"\|(:?-{3,}:?\|)+", table[1]), table[1]
            assert {_cells(line) for line in table} == {_cells(table[0])}, table


def test_math_is_dollar_delimited(article, article_report):
    text = to_markdown(article, report=article_report)
    # With a check, each step shows its value at the point (issue 12).
    step = r"$\frac{\partial E}{\partial w_{1}} = \frac{\partial E}{\partial h} x$"
    row = f"| (8) {step} | $\\approx -0.7633$ | chain rule, by (7) and (1) | ✓ |"  # the sweep view: numbered
    assert row in text
    bare = to_markdown(article, check=False)
    step = r"$\frac{\partial E}{\partial w_{1}} = \frac{\partial E}{\partial h} x$"
    assert f"| (8) {step} | chain rule, by (7) and (1) | ✓ |" in bare
    chains = to_markdown(article, check=False, view="chains")
    assert r"| $\frac{\partial E}{\partial w_{1}} = \frac{\partial E}{\partial h} x$ | chain rule | ✓ |" in chains
    # Every inline math span is closed on its line.
    for line in text.split("\n"):
        assert line.count("$") % 2 == 0, line


def test_elementary_steps_are_nested_in_blockquotes(article):
    text = to_markdown(article, check=False)
    assert "\n> | Step | Rule | Proven |\n" in text
    assert "\n> > | Step | Rule | Proven |\n" in text  # the outer derivative of a chain rule, one level deeper


def test_a_bar_in_math_cannot_end_a_table_cell():
    text = to_markdown(symgrad.gradient("Abs(x)*y"))
    assert r"\left\vert " in text
    for table in _tables(text):
        assert {_cells(line) for line in table} == {_cells(table[0])}


def test_display_math_blocks():
    from symgrad.render.document import DisplayMath
    from symgrad.render.markdown import MarkdownWriter

    assert MarkdownWriter().write(DisplayMath("x^2")) == "$$\nx^2\n$$"


def test_user_text_is_escaped(hostile):
    text = to_markdown(hostile, check=False)
    heading = text.split("\n")[0]
    assert heading == (
        r"# \<script\>alert(1)\</script\> &amp; 50% \$x\$ \#1 \\input{/etc/passwd} {\_^\~} \*bold\* \[a\](b) ☃"
    )
    assert not re.search(r"(?<!\\)<", text)  # no raw HTML anywhere


def test_escape_markdown_covers_injection():
    assert escape_markdown("[x](javascript:1)") == r"\[x\](javascript:1)"
    assert escape_markdown("`code`") == r"\`code\`"


def test_report_renders_on_its_own(batched_report):
    text = to_markdown(batched_report)
    assert text.startswith("# Three-way check: ")
    header = ("| Gradient | Shape | worst entry | symbolic | backward() | finite differences | error estimate "
              "| relative error | status |")
    assert header in text
