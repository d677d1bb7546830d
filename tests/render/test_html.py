"""The HTML page (symgrad/render/html.py): well-formed, self-contained, escaped, complete."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import symgrad
from symgrad.render import to_html
from symgrad.render.sweep import sweep_steps

XHTML = "{http://www.w3.org/1999/xhtml}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"
SVG = "{http://www.w3.org/2000/svg}"


def _classes(element):
    return (element.get("class") or "").split()


def _marks(root, kind):
    return [el for el in root.iter(f"{XHTML}span") if "mark" in _classes(el) and kind in _classes(el)]


def _count_steps(derivation, view="sweep"):
    """The steps a page shows: each of the sweep's once and each gradient collected (or every chain's steps)."""
    def count(step):
        return 1 + sum(count(sub) for sub in step.substeps)

    chains = [step for name in derivation.wrt for step in derivation.steps(name)]
    if view == "chains":
        return sum(count(step) for step in chains)
    collected = [step for step in chains if step.rule.startswith("substitute the ")]
    return sum(count(step) for step in sweep_steps(derivation)) + len(collected)


def test_page_is_well_formed_xhtml_with_native_mathml(article, article_report, parse_page):
    root = parse_page(to_html(article, report=article_report))
    assert root.tag == f"{XHTML}html"
    maths = list(root.iter(f"{MATHML}math"))
    assert len(maths) > 100
    assert root.find(f"{XHTML}head/{XHTML}title").text == "The article's network"


def test_page_is_self_contained_and_script_free(batched, batched_report):
    page = to_html(batched, report=batched_report)
    assert "<script" not in page.lower()
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\b(src|href)=", page)
    assert "@import" not in page
    urls = set(re.findall(r"url\(([^)]*)\)", page))
    assert urls == {"#symgrad-arrowhead"}  # the only reference is to the page's own arrowhead
    # Namespaces are the only absolute URLs.
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {
        "http://www.w3.org/1999/xhtml",
        "http://www.w3.org/1998/Math/MathML",
        "http://www.w3.org/2000/svg",
    }


def test_every_step_has_a_verified_mark(article, article_report, parse_page):
    root = parse_page(to_html(article, report=article_report))
    ok = _marks(root, "ok")
    assert not _marks(root, "fail")
    # Each step and substep once; the lead's two summaries, the check's summary and its rows.
    assert len(ok) == _count_steps(article) + 3 + len(article_report.rows)
    assert all(mark.text == "✓" for mark in ok)
    chains = parse_page(to_html(article, report=article_report, view="chains"))
    assert len(_marks(chains, "ok")) == _count_steps(article, "chains") + 3 + len(article_report.rows)


def test_elementary_steps_are_nested_under_their_chain_step(article, article_report, parse_page):
    root = parse_page(to_html(article, report=article_report))
    details = [row for row in root.iter(f"{XHTML}tr") if "detail" in _classes(row)]
    assert details
    for row in details:
        nested = row.find(f".//{XHTML}details/{XHTML}table")
        assert nested is not None
        assert "derivation" in _classes(nested)
        assert row.find(f".//{XHTML}details").get("open") is not None  # shown, not hidden


def test_an_unverified_step_shows_a_red_cross_and_its_proof(article, parse_page):
    steps = dict(article._steps)
    first = steps["w1"][0]
    steps["w1"] = (dataclasses.replace(first, verified=False, proof="NOT equal to sympy.diff"), *steps["w1"][1:])
    broken = dataclasses.replace(article, _steps=steps)
    root = parse_page(to_html(broken, check=False))
    fail = _marks(root, "fail")
    assert len(fail) == 2  # the step and the lead's summary
    assert [mark.text for mark in fail] == ["✗", "✗"]
    assert "1 step could not be proven" in "".join(root.itertext())
    proofs = [el.text for el in root.iter(f"{XHTML}div") if "proof" in _classes(el)]
    assert "NOT equal to sympy.diff" in proofs


def test_a_failing_check_row_is_marked(article, parse_page):
    report = symgrad.check(article, rtol=1e-300)
    root = parse_page(to_html(report))
    failing = [row for row in root.iter(f"{XHTML}tr") if "FAIL" in _classes(row)]
    assert len(failing) == len(report.failures) > 0
    text = "".join(root.itertext())
    assert report.failures[0].message in text


def test_user_text_is_escaped(hostile, parse_page):
    page = to_html(hostile, check=False)
    root = parse_page(page)
    assert "<script" not in page
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert root.find(f".//{XHTML}h1").text == hostile.title
    assert root.find(f"{XHTML}head/{XHTML}title").text == hostile.title


def test_fragment_is_a_div_for_notebooks(article):
    fragment = to_html(article, fragment=True, check=False)
    root = ET.fromstring(fragment)
    assert root.tag == "div"
    assert "<html" not in fragment
    assert root.find("style") is not None


def test_batched_page_shows_shapes(batched, batched_report, parse_page):
    root = parse_page(to_html(batched, report=batched_report))
    shapes = [el for el in root.iter(f"{XHTML}td") if "shape" in _classes(el)]
    assert shapes
    graph = root.find(f".//{SVG}svg")
    labels = "".join(graph.itertext())
    assert "N×3" in labels


def test_expression_page(expression, parse_page):
    root = parse_page(to_html(expression))
    text = "".join(root.itertext())
    assert "The partial derivative with respect to" in text
    assert root.find(f".//{SVG}svg") is None  # no network, no graph
    assert len(_marks(root, "ok")) == _count_steps(expression) + 1  # and the lead's summary


