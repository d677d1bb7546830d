"""LaTeX of expressions in symgrad's notation (symgrad/render/printer.py)."""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad.render.printer import escape_latex_text, latex_of, name_latex, shape_latex


def test_gradient_symbols_print_as_partial_fractions():
    assert latex_of(sp.Symbol("dE/dw1")) == r"\frac{\partial E}{\partial w_{1}}"
    assert latex_of(sp.Symbol("df/dx")) == r"\frac{\partial f}{\partial x}"


def test_gradient_matrix_symbols_print_as_partial_fractions():
    assert latex_of(sp.MatrixSymbol("dE/dW1", 3, 4)) == r"\frac{\partial E}{\partial W_{1}}"
    assert latex_of(sp.MatrixSymbol("dE/dW1", 3, 4).T) == r"\left(\frac{\partial E}{\partial W_{1}}\right)^{T}"


def test_a_power_of_a_gradient_symbol_is_parenthesised():
    assert latex_of(sp.Symbol("dE/dy") ** 2) == r"\left(\frac{\partial E}{\partial y}\right)^{2}"


def test_chain_step_keeps_the_upstream_gradient_first():
    # Regression: SymPy's printer sorts factors, so "dE/dh * b2" printed as "b_{2} dE/dh".
    upstream, b2 = sp.Symbol("dE/dh"), sp.Symbol("b2")
    assert latex_of(sp.Mul(upstream, b2, evaluate=False)) == r"\frac{\partial E}{\partial h} b_{2}"


def test_a_numeric_local_derivative_is_multiplied_with_a_dot():
    upstream = sp.Symbol("dE/dy")
    assert latex_of(sp.Mul(upstream, 2, evaluate=False)) == r"\frac{\partial E}{\partial y} \cdot 2"
    assert latex_of(sp.Mul(upstream, -1, evaluate=False)) == r"\frac{\partial E}{\partial y} \cdot \left(-1\right)"


def test_a_reciprocal_is_a_fraction_not_a_product():
    # Regression: SymPy prints N**-1 through _print_Mul, which our override read as "N * (-1)".
    n, t = sp.Symbol("N", positive=True), sp.MatrixSymbol("t", 3, 3)
    assert latex_of(1 / n) == r"\frac{1}{N}"
    assert latex_of(sp.MatMul(1 / n, t)) == r"\frac{1}{N} t"


def test_derivative_of_a_compound_expression_is_parenthesised():
    x, y = sp.symbols("x y")
    assert latex_of(sp.Derivative(3 * x * y, x)) == r"\frac{\partial}{\partial x} \left(3 x y\right)"
    assert latex_of(sp.Derivative(x, x)) == r"\frac{\partial}{\partial x} x"
    assert latex_of(sp.Derivative(sp.sin(x), x)) == r"\frac{\partial}{\partial x} \sin{\left(x \right)}"


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((sp.Symbol("N"), 1), r"\mathbf{1}_{N}"),
        ((1, sp.Symbol("N")), r"\mathbf{1}_{N}^{T}"),
        ((2, 3), r"\mathbf{1}_{2 \times 3}"),
    ],
)
def test_ones_matrix_prints_as_a_bold_one(shape, expected):
    assert latex_of(sp.OneMatrix(*shape)) == expected


def test_names_and_shapes():
    assert name_latex("W1") == "W_{1}"
    assert shape_latex((sp.Symbol("N"), 4)) == r"N \times 4"
    assert shape_latex(("N", 3)) == r"N \times 3"  # a name is printed, never parsed
    assert shape_latex(()) == r"\text{scalar}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a & b", r"a \& b"),
        ("100%", r"100\%"),
        ("$x$", r"\$x\$"),
        ("#1", r"\#1"),
        ("a_b", r"a\_b"),
        ("{x}", r"\{x\}"),
        ("\\input{f}", r"\textbackslash{}input\{f\}"),
        ("^~", r"\textasciicircum{}\textasciitilde{}"),
        ("<b>", r"\textless{}b\textgreater{}"),
        ("Café", "Café"),
        ("☃", "?"),
        ("ﬁne", "fine"),
        ("line\nbreak", "line break"),
        # regression (issue 12): the sweep's "\u201cby (4)\u201d" printed as "?by (4)?" in the PDF
        ("\u201cby (4)\u201d", "``by (4)''"),
        ("layer\u2019s \u2018W\u2019 \u2013 a \u2014 b", "layer's `W' -- a --- b"),
    ],
)
def test_escape_latex_text(text, expected):
    assert escape_latex_text(text) == expected


def test_the_sweep_prose_has_no_unprintable_quotes_in_latex() -> None:
    """Regression (issue 12): the article's LaTeX said "?by (4)?" where the HTML says \u201cby (4)\u201d."""
    import symgrad
    from symgrad.render.dispatch import render

    latex = render(symgrad.derive(symgrad.network_from_spec("affine > affine > half-squared-error")), "latex")
    assert "``by (4)''" in latex
    assert "?by" not in latex


def test_latex_text_writes_index_notation_symbols_not_question_marks() -> None:
    # Regression: an N-D layer's title (Conv2d's "b[f] + Σ_c,u,v W[f, c, u, v]·x[...]") printed
    # "?" for Σ and · in the PDF, and batch norm's notes lost σ and μ.
    text = escape_latex_text("Σ_c W·x, σ² μ γ β ε xᵀG ∘ δ")
    assert "?" not in text
    for command in (r"\Sigma", r"\cdot", r"\sigma", r"\mu", r"\gamma", r"\beta", r"\varepsilon", r"\circ", r"\delta"):
        assert command in text
    import symgrad
    from symgrad.render import to_latex

    title = next(line for line in to_latex(symgrad.derive(symgrad.Conv2d(1, 1, 2))).splitlines() if "LARGE" in line)
    assert r"$\Sigma$" in title
    assert r"$\cdot$" in title
    assert "?" not in title
