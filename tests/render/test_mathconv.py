"""LaTeX to well-formed MathML (symgrad/render/mathconv.py), including latex2mathml's known traps."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from symgrad.render.mathconv import WRAP_AFTER, latex_to_mathml, wrap_pieces
from symgrad.render.printer import latex_of

MATHML = "{http://www.w3.org/1998/Math/MathML}"


def _parse(tex: str) -> ET.Element:
    root = ET.fromstring(latex_to_mathml(tex))
    assert root.tag == f"{MATHML}math"
    return root


@pytest.mark.parametrize(
    "tex",
    [
        r"\text{a \& b}",  # latex2mathml writes a bare "&" here
        r"\begin{aligned}a &= b \\ c &= d\end{aligned}",  # and bare "&" in aligned
        r"\frac{",  # unbalanced: latex2mathml raises
        r"x < y \land y > z",
    ],
)
def test_latex2mathml_traps_still_give_well_formed_xml(tex):
    root = _parse(tex)
    assert "".join(root.itertext()).strip()


def test_a_function_name_is_an_identifier_not_an_operator():
    # latex2mathml turns \operatorname{relu} into <mo>relu</mo>, which browsers space as an operator.
    root = _parse(r"\operatorname{relu}\left(z\right)")
    assert [el.text for el in root.iter(f"{MATHML}mi")][:1] == ["relu"]
    assert "relu" not in [el.text for el in root.iter(f"{MATHML}mo")]


def test_bold_is_written_with_unicode_bold_letters():
    # Chromium honours mathvariant only as "normal"; a bold one must be the character itself.
    root = _parse(r"\mathbf{1}_{N} b")
    assert "\U0001d7cf" in "".join(root.itertext())
    assert all(el.get("mathvariant") != "bold" for el in root.iter())


def test_display_and_displaystyle_attributes():
    block = ET.fromstring(latex_to_mathml("x", block=True))
    inline = ET.fromstring(latex_to_mathml("x", displaystyle=False))
    assert block.get("display") == "block"
    assert block.get("displaystyle") == "true"
    assert inline.get("display") == "inline"
    assert inline.get("displaystyle") is None


def test_every_step_of_the_article_converts_without_falling_back(article):
    """A fallback <mtext> holds LaTeX source (a backslash); real conversions never do."""
    texts = []

    def collect(step):
        texts.extend([latex_of(step.lhs), latex_of(step.rhs)])
        for sub in step.substeps:
            collect(sub)

    for name in article.wrt:
        for step in article.steps(name):
            collect(step)
    for tex in texts:
        root = _parse(tex)
        assert not any("\\" in (el.text or "") for el in root.iter(f"{MATHML}mtext")), tex


def test_every_step_of_a_batched_network_converts_without_falling_back(batched):
    for name in batched.wrt:
        for step in batched.steps(name):
            for side in (step.lhs, step.rhs):
                root = _parse(latex_of(side))
                assert not any("\\" in (el.text or "") for el in root.iter(f"{MATHML}mtext"))


def _unfenced(tex: str) -> str:
    for fence in (r"\left", r"\right"):
        tex = tex.replace(fence, "")
    return tex.replace(" ", "")


def test_long_formulas_are_cut_before_operators_and_each_piece_converts(batched, expression):
    # Issue 12: long HTML formulas were clipped in a scroll box; they are now pieces the browser wraps between.
    long = [latex_of(step.rhs) for d in (batched, expression) for n in d.wrt for step in d.steps(n)]
    long = [tex for tex in long if len(tex) > WRAP_AFTER]
    assert len(long) >= 5
    for tex in long:
        pieces = wrap_pieces(tex)
        assert len(pieces) > 1, tex
        # Nothing lost or added but the \left/\right of a pair that a cut crosses.
        assert _unfenced("".join(pieces)) == _unfenced(tex)
        for piece in pieces[1:]:
            # Before an operator, or before a fence that follows an operand (x^T (...)).
            assert piece.startswith(("+", "-", r"\circ", r"\cdot", r"\odot", r"\times", r"\left", "(", "[")), piece
        for piece in pieces:
            root = _parse(piece)
            assert not any("\\" in (el.text or "") for el in root.iter(f"{MATHML}mtext")), piece


def test_cuts_keep_brace_groups_whole_and_short_formulas_whole():
    assert wrap_pieces(r"\frac{a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q}{2}") == [
        r"\frac{a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q}{2}"
    ]
    assert wrap_pieces(r"- t + y") == [r"- t + y"]
    # A unary minus (after an opening fence or at the start) is not a cut.
    assert wrap_pieces(r"- a \left(- b + c\right)", limit=5) == ["- a (- b", "+ c)"]


def test_html_rhs_wraps_instead_of_scrolling(batched):
    from symgrad.render.css import STYLE

    page = batched.to_html(check=False)
    assert '<td class="rhs"><span class="wrap">' in page
    rhs_rules = [line for line in STYLE.splitlines() if "td.rhs" in line]
    assert rhs_rules
    assert not any("overflow" in line for line in rhs_rules)
