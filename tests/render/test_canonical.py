"""Golden text: the canonical forms of issue 12 in every format (symgrad/render/canonical.py).

Before, the same result printed ``-t + y`` in LaTeX and ``y - t`` in text, ``-2t + 2y``,
``(1 - σ(z)) σ(z)`` and, for ``x**y``, ``y*x**y/x``. Each case pins the exact result row of a
derivation in text, LaTeX, MathML (the HTML page's and the standalone export's) and Markdown.
"""

from __future__ import annotations

import io
import re

import pytest
import sympy as sp

import symgrad
from symgrad.cli import main
from symgrad.render import to_html, to_latex, to_markdown, to_mathml
from symgrad.render.printer import latex_of
from symgrad.render.text import derivation_text, expr_text

# expression, variable, text, LaTeX, MathML (its token sequence, tags dropped)
CASES = [
    ("(y - t)**2/2", "y", "y - t", r"y - t", "y−t"),
    ("(y - t)**2", "y", "2*(y - t)", r"2 \left(y - t\right)", "2(y−t)"),
    ("(y - t)**2", "t", "2*(t - y)", r"2 \left(t - y\right)", "2(t−y)"),
    ("sigmoid(z)", "z", "sigmoid(z)*(1 - sigmoid(z))",
     r"\sigma\left(z\right) \left(1 - \sigma\left(z\right)\right)", "σ(z)(1−σ(z))"),
    ("x**y", "x", "y*x**(y - 1)", r"y x^{y - 1}", "yxy−1"),
]


def _result(derivation: symgrad.Derivation, name: str) -> object:
    return derivation.gradient(name)


def _tokens(mathml: str) -> str:
    return re.sub(r"<[^>]+>", "", mathml).replace("\u2061", "").replace("\u2062", "").replace(" ", "")


@pytest.mark.parametrize(("expression", "name", "text", "tex", "tokens"), CASES)
def test_canonical_form_in_every_format(expression, name, text, tex, tokens):
    derivation = symgrad.gradient(expression)
    result = _result(derivation, name)
    assert expr_text(result) == text
    assert latex_of(result) == tex
    # The result row (the last step's right side) in each document.
    assert f"df/d{name} = {text}" in derivation_text(derivation)
    assert f"= {tex} \\tag*" in to_latex(derivation)
    assert f" = {tex}$ |" in to_markdown(derivation)
    for page in (to_mathml(derivation), to_html(derivation)):
        # "=" then the right side, then the rule's text: the row's tokens with the tags dropped.
        assert re.search("=" + re.escape(tokens) + "[a-z]", _tokens(page)), tokens


def test_the_articles_loss_derivative_is_y_minus_t_in_every_format():
    # Regression: -t + y in the matrix documents and in steps(), y - t in text.
    derivation = symgrad.derive(symgrad.network_from_spec("affine(3,4) > sigmoid > affine(4,1) > half-squared-error"))
    step = derivation.steps("W1")[0]
    assert latex_of(step.rhs) == "y - t"
    assert expr_text(step.rhs) == "y - t"
    article = symgrad.derive(symgrad.article_network())
    assert r"\frac{\partial E}{\partial y} &= y - t" in to_latex(article, check=False)
    assert r"\frac{\partial E}{\partial y} = y - t$" in to_markdown(article, check=False)
    assert "dE/dy  = y - t" in derivation_text(article)


@pytest.mark.parametrize("expression", ["max(x, 0)", "Max(0, x)"])
def test_titles_are_in_maths_notation(expression):
    derivation = symgrad.gradient(expression)
    for text in (to_markdown(derivation).split("\n")[0], to_latex(derivation), to_html(derivation)):
        assert "Max(" not in text
        assert "max(0, x)" in text


def test_gradient_command_shows_the_elementary_steps_by_default():
    # Regression: `symgrad gradient "tanh(w*x)"` printed one "differentiate; proven" line.
    out = io.StringIO()
    assert main(["gradient", "tanh(w*x)"], stdout=out) == 0
    assert "(chain rule; proven)" in out.getvalue()
    assert "(tanh rule; proven)" in out.getvalue()
    brief = io.StringIO()
    assert main(["gradient", "tanh(w*x)", "--brief"], stdout=brief) == 0
    assert "chain rule" not in brief.getvalue()
    assert brief.getvalue().strip().endswith("gradient = (x*(1 - tanh(w*x)**2), w*(1 - tanh(w*x)**2))")


@pytest.mark.parametrize("expression", ["max(x, 0)", "Max(0, x)", "2*max(3*x + 1, 0)"])
def test_max_is_proven_with_the_kink_convention_as_a_note(expression):
    # Regression: max(x, 0) ended "NOT proven", exit 1: relu'(0) = 0 against SymPy's Heaviside(0) = 1/2.
    derivation = symgrad.gradient(expression)
    assert derivation.verified
    out, err = io.StringIO(), io.StringIO()
    assert main(["gradient", expression], stdout=out, stderr=err) == 0, err.getvalue()
    assert "NOT proven" not in out.getvalue()
    assert "note: At the kink (where the argument of max is 0) sympy.diff's Heaviside(0) is 1/2" in out.getvalue()
    assert "Note: At the kink" in to_markdown(derivation)
    # The kink value follows the derivation's convention.
    assert "relu'(0) = 1/2" in derivation_text(symgrad.gradient(expression, kink=0.5))


def test_max_of_two_variables_keeps_heaviside_and_no_kink_note():
    derivation = symgrad.gradient("max(x, y)")
    assert derivation.verified
    assert "kink" not in derivation_text(derivation)


def test_batch_norm_square_of_the_centred_input_keeps_its_parentheses():
    # Regression: [(h - 1/N 1 h)**2] printed as [h + -1/N*(ones @ h)**2] in text and
    # \left[h_{1} + - \frac{1}{N} ... h_{1}^{2}\right] in LaTeX: the square read as applying to h alone.
    from symgrad.matrixexpr import Elementwise
    from symgrad.render.printer import latex_of as tex
    from symgrad.render.text import expr_text

    n = sp.Symbol("N")
    h = sp.MatrixSymbol("h", n, 4)
    centred = h - 1 / n * sp.OneMatrix(n, n) * h
    squared = Elementwise.of(lambda z: z**2, centred)
    assert "+ -" not in tex(squared)
    assert "+ -" not in expr_text(squared)
    assert tex(squared).startswith(r"\left[\left(h - \frac{1}{N}")
    assert expr_text(squared).startswith("[(h - ")
    assert expr_text(squared).endswith(")**2]")
