"""The MathML document (symgrad/render/mathml.py): one well-formed <math> element."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from symgrad.render import to_mathml
from symgrad.render.sweep import sweep_steps

MATHML = "{http://www.w3.org/1998/Math/MathML}"


@pytest.mark.parametrize("which", ["article", "batched", "expression", "hostile", "batched_report"])
def test_mathml_parses_as_one_math_element(which, request):
    obj = request.getfixturevalue(which)
    root = ET.fromstring(to_mathml(obj))
    assert root.tag == f"{MATHML}math"
    assert root.get("display") == "block"
    assert root.find(f"{MATHML}mtable") is not None


def test_every_step_is_a_row_with_its_rule(article):
    root = ET.fromstring(to_mathml(article))
    rows = root.find(f"{MATHML}mtable").findall(f"{MATHML}mtr")
    equations = [row for row in rows if len(row) == 4]

    def count(step):
        return 1 + sum(count(sub) for sub in step.substeps)

    # The sweep view (the default): each gradient's step once, then each gradient collected (two rows each).
    steps = sum(count(step) for step in sweep_steps(article)) + 2 * len(article.wrt)
    assert len(equations) == steps + len(article.forward)
    assert sum("✓" in "".join(row.itertext()) for row in equations) == steps
    chains = ET.fromstring(to_mathml(article, view="chains")).find(f"{MATHML}mtable").findall(f"{MATHML}mtr")
    steps = sum(count(step) for name in article.wrt for step in article.steps(name))
    chain_rows = len(article.wrt)  # one chain-rule line per gradient
    assert len([row for row in chains if len(row) == 4]) == steps + chain_rows + len(article.forward)


def test_title_is_text_not_markup(hostile):
    root = ET.fromstring(to_mathml(hostile))
    texts = [el.text for el in root.iter(f"{MATHML}mtext")]
    assert hostile.title in texts
    assert not [el for el in root.iter() if "script" in el.tag]
