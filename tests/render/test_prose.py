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
