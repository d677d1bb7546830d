"""Notebook display: _repr_latex_ and _repr_html_ of derivations and reports (symgrad/render/notebook.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from symgrad.render.notebook import mathjax_text


@pytest.mark.parametrize("which", ["article", "batched", "expression", "article_report"])
def test_repr_html_is_an_embeddable_fragment(which, request):
    obj = request.getfixturevalue(which)
    html = obj._repr_html_()
    root = ET.fromstring(html)
    assert root.tag == "div"
    assert "<html" not in html
    assert "<script" not in html
    assert root.find(".//{http://www.w3.org/1998/Math/MathML}math") is not None


@pytest.mark.parametrize("which", ["article", "batched", "expression", "article_report"])
def test_repr_latex_is_one_display_math_block(which, request):
    tex = request.getfixturevalue(which)._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}\n")
    assert tex.endswith("\\end{aligned}$$\n")
    assert "\\documentclass" not in tex
    assert "\\section" not in tex  # MathJax typesets math only


def test_network_repr_includes_the_check(article):
    assert "Three-way check" in article._repr_latex_()
    assert "Three-way check" in article._repr_html_()


def test_mathjax_text_drops_what_mathjax_would_misread():
    assert mathjax_text("a & b_c {d} \\e $f$ 50%") == r"\text{a + b c (d) /e SfS 50 percent}"
