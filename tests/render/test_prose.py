"""Every sentence reads as a sentence: each diagnosis and finding rendered, then read for run-ons (issue 12).

The catalogue of right and wrong layers (tests/check/wrong_layers.py) gives every diagnosis and
most findings; each report is rendered as text and as Markdown and searched for the faults that
once shipped: two clauses run together ("backward() is wrong matches a missing transpose"), an
empty list after a colon ("Relative tolerances: ."), an empty pair of parentheses, a space before
a full stop, a bullet that does not end as a sentence.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad
from symgrad import check_layer
from symgrad.render.reporttext import diagnosis_sentence, sentence


def _catalog() -> ModuleType:
    path = Path(__file__).parents[1] / "check" / "wrong_layers.py"
    spec = importlib.util.spec_from_file_location("symgrad_tests_wrong_layers_prose", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


catalog = _catalog()

#: Faults of prose, each with what it once looked like.
FAULTS = {
    # a verb phrase glued to a clause that has its own verb: "backward() is wrong matches ..."
    "run-on": re.compile(r"\b(?:is|are) (?:wrong|right|correct|not smooth here) (?:matches|gives|is|are)\b"),
    "empty after colon": re.compile(r":\s*[.;,]"),  # "Relative tolerances: ."
    "empty parentheses": re.compile(r"(?<![\w)])\(\s*\)"),  # not backward() or forward()
    "space before stop": re.compile(r"\w \.(?:\s|$)"),
    "doubled word": re.compile(r"\b(the|a|is|of|to|and)\s+\1\b", re.IGNORECASE),
}


def _faults(text: str) -> list[tuple[str, str]]:
    found = []
    for name, pattern in FAULTS.items():
        for match in pattern.finditer(text):
            start = max(0, match.start() - 50)
            found.append((name, text[start : match.end() + 30]))
    return found


def _bullets(markdown: str) -> list[str]:
    return [line for line in markdown.split("\n") if line.startswith("- ")]


@pytest.mark.parametrize("case", [*catalog.WRONG, *catalog.RIGHT], ids=lambda case: case.name)
def test_every_diagnosis_and_finding_reads_as_sentences(case):
    layer, kwargs = case.make(np.random.default_rng(0))
    report = check_layer(layer, seed=0, **kwargs)
    markdown = report.to_markdown()
    for text in (str(report), markdown):
        assert _faults(text) == [], _faults(text)
    for bullet in _bullets(markdown):
        assert bullet.rstrip().endswith((".", ")")), bullet
    if not report.ok:
        failing = [row for row in report.rows if row.diagnosis]
        for row in failing:  # the diagnosis follows the message as a sentence of its own
            assert f"{sentence(row.message)} {diagnosis_sentence(row.diagnosis)}" in report.to_html().replace(
                "&gt;", ">").replace("&lt;", "<").replace("&#x27;", "'").replace("&quot;", '"'), row.name


def test_the_regression_run_on_is_gone():
    # Regression: the document said "backward() is wrong matches a missing transpose".
    case = next(case for case in catalog.WRONG if case.name == "dW without transpose")
    layer, kwargs = case.make(np.random.default_rng(0))
    markdown = check_layer(layer, seed=0, **kwargs).to_markdown()
    assert "is wrong matches" not in markdown
    assert "backward() is wrong. The wrong value matches a missing transpose" in markdown


def test_the_fault_patterns_can_fail():
    assert [name for name, _ in _faults("backward() is wrong matches a missing transpose")] == ["run-on"]
    assert [name for name, _ in _faults("Relative tolerances: .")] == ["empty after colon"]
    assert _faults("calls backward() and forward().") == []


def test_no_tolerance_line_without_tolerances(article_report):
    # A report whose rows carry no tolerances (nothing was compared) says nothing about them.
    rows = tuple(dataclasses.replace(row, tolerances={}) for row in article_report.rows)
    bare = dataclasses.replace(article_report, rows=rows)
    assert "Relative tolerances" not in bare.to_markdown()
    assert "Relative tolerances: central" in article_report.to_markdown()


@pytest.mark.parametrize("which", ["article", "batched"])
def test_network_documents_read_as_sentences(which, request):
    derivation = request.getfixturevalue(which)
    markdown = derivation.to_markdown()
    assert _faults(markdown) == [], _faults(markdown)


def test_a_single_layer_page_says_what_E_is():
    layer, kwargs = catalog.RIGHT[0].make(np.random.default_rng(0))
    markdown = check_layer(layer, seed=0, **kwargs).to_markdown()
    assert r"$E = \sum \mathrm{forward}(x) \odot \mathrm{dout}$" in markdown
    loss = next(case for case in catalog.RIGHT if case.name == "SoftmaxWithLoss")
    layer, kwargs = loss.make(np.random.default_rng(0))
    assert r"$E = \mathrm{forward}(x, t) \cdot \mathrm{dout}$" in check_layer(layer, seed=0, **kwargs).to_markdown()
    # A network's page has a loss: no such paragraph.
    assert "A single layer has no loss" not in symgrad.check(symgrad.article_network()).to_markdown()


RELU = "affine(3,4) > relu > affine(4,4) > softmax-cross-entropy"


def test_function_symbols_are_defined_before_their_first_use():
    # Issue 12: relu′ was never defined.
    markdown = symgrad.derive(symgrad.network_from_spec(RELU)).to_markdown(check=False)
    definition = markdown.index(r"$\operatorname{relu}'\left(z\right)$: its derivative")
    first_use = markdown.index(r"\operatorname{relu}'\left(h_{1}\right)")
    assert definition < first_use
    assert "at the kink z = 0 this document takes 0." in markdown
    sigmoid = symgrad.derive(symgrad.network_from_spec("affine(3,4) > sigmoid > affine(4,1) > half-squared-error"))
    assert r"\sigma\left(z\right) = \frac{1}{1 + e^{-z}}" in sigmoid.to_markdown(check=False)
    assert "relu" not in sigmoid.to_markdown(check=False)
    assert "its derivative, 1 where z" in symgrad.gradient("relu(y)*x").to_markdown()


def test_a_note_where_shapes_cannot_reveal_a_missing_transpose(article, batched):
    assert "the shapes cannot reveal a mistake such as a missing transpose" in article.to_markdown(check=False)
    assert "cannot reveal" not in batched.to_markdown(check=False)  # 3×4 and 4×1: a transpose shows
    square = symgrad.derive(symgrad.network_from_spec(RELU)).to_markdown(check=False)
    assert "Square weights ($W_{2}$) keep their shape when transposed" in square


@pytest.mark.parametrize("fmt", ["to_markdown", "to_latex", "to_mathml"])
def test_the_graph_table_is_not_described_as_arrows(article, fmt):
    # Issue 12: LaTeX and Markdown show the graph as a table, under a caption about arrows.
    text = getattr(article, fmt)(check=True)
    assert "above each arrow" not in text.lower()
    assert "Each quantity of the computational graph, its value and its gradient at" in text
    assert "above each arrow" in article.to_html().lower()
