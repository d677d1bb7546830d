"""JSON output (symgrad/render/json.py): steps and rows as data, sorted, exact floats, no NaN."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from symgrad.render import to_json
from symgrad.render.printer import latex_of


def _strict_loads(text: str):
    def refuse(token):
        raise AssertionError(f"JSON contains {token}")

    return json.loads(text, parse_constant=refuse)


def test_keys_are_sorted_and_layout_is_fixed(article):
    text = to_json(article)
    data = _strict_loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_steps_are_data_with_latex_sides(article):
    data = _strict_loads(to_json(article))
    assert data["type"] == "derivation"
    assert data["kind"] == "network"
    assert data["wrt"] == list(article.wrt)
    steps = data["gradients"]["w1"]["steps"]
    assert [s["rule"] for s in steps] == [s.rule for s in article.steps("w1")]
    assert steps[0]["lhs"] == r"\frac{\partial E}{\partial y}"
    assert steps[-1]["rhs"] == latex_of(article.gradient("w1"))
    assert all(s["verified"] is True for s in steps)
    assert data["check"] is None  # JSON is data: no check unless asked


def test_elementary_steps_are_nested(article):
    data = _strict_loads(to_json(article))
    first = data["gradients"]["w1"]["steps"][0]
    assert len(first["substeps"]) == len(article.steps("w1")[0].substeps)
    chain = next(s for s in first["substeps"] if s["rule"] == "chain rule" and s["substeps"])
    assert chain["substeps"][0]["rule"] == "power rule"


def test_report_rows_hold_values_as_lists_with_exact_floats(batched_report):
    data = _strict_loads(to_json(batched_report))
    assert data["type"] == "check"
    assert data["ok"] is batched_report.ok
    row = data["rows"][0]
    original = batched_report.rows[0]
    assert row["shape"] == list(original.shape)
    assert np.array_equal(np.array(row["symbolic"]), original.symbolic)  # repr round-trips exactly
    assert data["values"]["x"] == batched_report.values["x"].tolist()
    assert data["evaluations"] == batched_report.evaluations


def test_derivation_with_check_embeds_the_report(article):
    data = _strict_loads(to_json(article, check=True, seed=3))
    assert data["check"]["seed"] == 3
    assert [row["name"] for row in data["check"]["rows"]] == list(article.wrt)


def test_nan_and_infinity_become_null(article_report):
    row = dataclasses.replace(article_report.rows[0], rel_error=float("nan"), abs_error=float("inf"))
    report = dataclasses.replace(article_report, rows=(row, *article_report.rows[1:]))
    data = _strict_loads(to_json(report))
    assert data["rows"][0]["rel_error"] is None
    assert data["rows"][0]["abs_error"] is None


def test_shapes_are_lists_with_the_batch_named(batched):
    data = _strict_loads(to_json(batched))
    assert data["shapes"]["x"] == ["N", 3]
    assert data["shapes"]["W1"] == [3, 4]
    assert data["gradients"]["W1"]["steps"][-1]["shape"] == [3, 4]


def test_expression(expression):
    data = _strict_loads(to_json(expression))
    assert data["kind"] == "expression"
    assert data["network"] is None
    assert data["gradients"]["y"]["result"] == latex_of(expression.gradient("y"))


@pytest.mark.parametrize("indent", [0, 4])
def test_indent_option(article, indent):
    text = to_json(article, indent=indent)
    assert text == json.dumps(_strict_loads(text), sort_keys=True, indent=indent, ensure_ascii=False) + "\n"
