"""What a document says, before any format (symgrad/render/content.py, checkcontent.py, document.py)."""

from __future__ import annotations

import dataclasses

import pytest

import symgrad
from symgrad.render.content import build_document, resolve_report
from symgrad.render.document import Equations, Figure, Heading, Mark, Table, Text, Writer
from symgrad.render.numbers import format_number, number_latex
from symgrad.render.options import Options


def _anchors(document):
    return [block.anchor for block in document.blocks if isinstance(block, Heading)]


def _tables(document):
    return [block for block in document.blocks if isinstance(block, Equations)]


def test_network_document_has_every_section_in_reading_order(article, article_report):
    document = build_document(article, article_report)
    assert _anchors(document) == ["network", "loss", "graph", "sweep", "gradients", "check", "cost"]
    gradients = [f"gradient-{name}" for name in article.wrt]
    chains = build_document(article, article_report, "chains")
    assert _anchors(chains) == ["network", "loss", "graph", *gradients, "check", "cost"]
    assert document.title == "The article's network"
    assert any(isinstance(block, Figure) for block in document.blocks)


def test_without_a_report_there_is_no_check_and_no_cost(article):
    anchors = _anchors(build_document(article, None))
    assert "check" not in anchors
    assert "cost" not in anchors


def test_chain_row_follows_only_the_upstream_gradients(article, article_report):
    """The path of w1 also shows dE/dw2 and dE/db2 (side steps); the chain rule must skip them."""
    document = build_document(article, article_report, "chains")
    index = _anchors(document).index("gradient-w1")
    headings = [i for i, block in enumerate(document.blocks) if isinstance(block, Heading)]
    table = next(block for block in document.blocks[headings[index] :] if isinstance(block, Equations))
    chain = table.rows[0]
    assert chain.rule == "chain rule"
    assert chain.ok is None  # notation, not a claim
    assert chain.rhs == (
        r"\frac{\partial E}{\partial y} \frac{\partial y}{\partial h} \frac{\partial h}{\partial w_{1}}"
    )


def test_each_step_is_a_row_with_its_elementary_steps_nested(article, article_report):
    document = build_document(article, article_report, "chains")
    table = _tables(document)[2]  # forward, loss, then dE/dw1
    steps = article.steps("w1")
    rows = table.rows[1:]  # after the chain rule row
    assert [row.rule for row in rows] == [step.rule for step in steps]
    assert [row.ok for row in rows] == [step.verified for step in steps]
    first = rows[0]
    assert first.detail is not None
    assert len(first.detail.rows) == len(steps[0].substeps)
    assert all(row.ok for row in first.detail.rows)


def test_batched_rows_carry_shapes(batched, batched_report):
    document = build_document(batched, batched_report)
    forward = _tables(document)[0]
    assert forward.shapes
    assert [row.shape for row in forward.rows] == [r"N \times 4", r"N \times 4", r"N \times 1"]
    sweep = _tables(document)[2]
    shapes = {row.lhs: row.shape for row in sweep.rows}
    assert shapes[r"\frac{\partial E}{\partial W_{1}}"] == r"3 \times 4"
    table = _tables(build_document(batched, batched_report, "chains"))[2]
    assert table.rows[-1].shape == r"3 \times 4"  # dE/dW1


def test_forward_equations_are_definitions_without_marks(article):
    forward = _tables(build_document(article, None))[0]
    assert [row.ok for row in forward.rows] == [None, None]


def test_expression_document_shows_f_and_each_partial(expression):
    document = build_document(expression, None)
    assert _anchors(document) == ["function", *[f"gradient-{name}" for name in expression.wrt]]
    table = _tables(document)[1]
    assert table.rows[0].lhs == r"\frac{\partial f}{\partial w}"
    assert table.rows[0].detail is not None


def test_report_document_stands_alone(batched_report):
    document = build_document(batched_report, None)
    assert document.title.startswith("Three-way check: ")
    assert _anchors(document) == ["check", "cost"]
    assert isinstance(document.lead[0], Mark)
    assert document.lead[0].ok is batched_report.ok


def test_cost_counts_the_evaluations_of_finite_differences(article_report):
    document = build_document(article_report, None)
    cost = next(block for block in document.blocks if isinstance(block, Table) and block.header[0][0].text == "Method")
    cells = [cell[0].text for row in cost.rows for cell in row if isinstance(cell[0], Text)]
    assert f"{article_report.evaluations} forward evaluations of E" in cells
    assert "1 forward pass + 1 backward pass" in cells


def test_a_failing_check_lists_its_messages(article):
    report = symgrad.check(article, rtol=1e-300)  # an impossible tolerance: every row fails
    document = build_document(report, None)
    lines = [line for block in document.blocks for line in getattr(block, "items", ())]
    texts = [part.text for line in lines for part in line if isinstance(part, Text)]
    assert report.failures
    assert all(any(row.message in text for text in texts) for row in report.failures)


@pytest.mark.parametrize(
    ("fmt", "expected"), [("html", True), ("latex", True), ("markdown", True), ("json", False), ("mathml", False)]
)
def test_a_network_is_checked_by_default_in_document_formats(article, fmt, expected):
    assert (resolve_report(article, Options(), fmt) is not None) is expected


def test_check_option_overrides_the_default_and_passes_the_seed(article):
    assert resolve_report(article, Options(check=False), "html") is None
    report = resolve_report(article, Options(check=True, seed=7), "json")
    assert report is not None
    assert report.seed == 7


def test_check_of_an_expression_is_refused(expression):
    assert resolve_report(expression, Options(), "html") is None
    with pytest.raises(symgrad.UnknownNameError, match="needs the derivation of a network"):
        resolve_report(expression, Options(check=True), "html")


def test_a_given_report_is_used_and_must_belong_to_the_network(article, article_report, batched_report):
    assert resolve_report(article, Options(report=article_report), "html") is article_report
    with pytest.raises(symgrad.UnknownNameError, match="report= is a check of"):
        resolve_report(article, Options(report=batched_report), "html")


def test_writer_dispatch_names_what_it_cannot_write():
    with pytest.raises(TypeError, match="Writer cannot write a int"):
        Writer().write(3)


def test_document_model_is_frozen(article):
    document = build_document(article, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        document.title = "changed"  # type: ignore[misc]


def test_batched_network_lists_every_shape(batched):
    document = build_document(batched, None)
    table = next(block for block in document.blocks if isinstance(block, Table) and block.caption)
    names = [row[0][0].tex for row in table.rows]
    assert names == ["x", "t", "W_{1}", "b_{1}", "W_{2}", "b_{2}", "h_{1}", "h_{2}", "y"]
    assert table.rows[2][1][0].tex == r"3 \times 4"
    # Issue 12: named as a reader would (was "parameter W of layer 1").
    assert table.rows[2][2][0].text == "the first affine layer's W"
    assert table.rows[4][2][0].text == "the second affine layer's W"


@pytest.mark.parametrize("fmt", ["markdown", "latex", "html", "mathml"])
def test_every_format_shows_the_finite_differences_error_estimate(fmt):
    report = symgrad.check(symgrad.article_network())
    text = getattr(report, f"to_{fmt}")()
    assert "estimated" in text
    if fmt != "html":  # HTML typesets the number as 3.5 x 10^-11 in MathML
        error = report.row("w1").numeric_error
        # Issue 12: LaTeX typesets 3.5\times10^{-11}, not 3.5e-11; the others print a true minus sign.
        shown = number_latex(error, 2) if fmt == "latex" else format_number(error, 2).replace("-", "−")
        assert shown in text
        assert format_number(error, 2) not in text


def test_fast_mode_has_no_estimate_column():
    report = symgrad.check(symgrad.article_network(), mode="fast")
    assert all(row.numeric_error is None for row in report.rows)
    assert "error estimate" not in report.to_markdown()
