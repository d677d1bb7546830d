"""Hostile names in every output format: each format's one escaping function keeps them inert.

Regression for issue 13: symbol names from a SymPy expression reached LaTeX and Markdown
unescaped (a symbol named ``\\input{file}`` made pdflatex include a local file; a ``<script>``
symbol name appeared raw in Markdown math). Titles were escaped already; names were not.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.render import to_html, to_json, to_latex, to_markdown, to_mathml
from symgrad.render.escape import escape_xml
from symgrad.render.markdown import escape_markdown_math
from symgrad.render.printer import escape_latex_name, latex_of
from symgrad.render.text import derivation_text, escape_text

HOSTILE = [
    r"\input{/etc/passwd}",
    "<script>alert(1)</script>",
    "a$b",
    "c_d",
    "{e",
    "f}",
    "g%h",
    "i#j",
    "k&l",
    "m|n",
    "o`p`",
    "q\nr",
    "\x1b[2Js",
    "t^^5cinput",
    "u\u202ev",
]


@pytest.fixture(scope="module")
def named() -> symgrad.Derivation:
    """A gradient over symbols with hostile names, and an undefined function with one."""
    symbols = [sp.Symbol(name) for name in HOSTILE]
    expr = sum((i + 2) * s for i, s in enumerate(symbols)) + symbols[0] * symbols[1]
    expr += sp.Function("<b>F\\input{x}")(symbols[2])
    return symgrad.gradient(expr)


@pytest.fixture(scope="module")
def named_report() -> symgrad.CheckReport:
    """A check_layer report whose parameter names (a pair protocol's, any string) are hostile."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2))

    def forward(x, weight, bias):
        return x @ weight + bias, x

    def backward(dout, x):
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    params = {HOSTILE[0]: w, HOSTILE[1]: np.zeros(2)}
    return symgrad.check_layer((forward, backward), symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)), params=params)


def _braces_balance(tex: str) -> bool:
    depth = 0
    for token in re.findall(r"\\.|[{}]", tex):
        depth += {"{": 1, "}": -1}.get(token, 0)
        if depth < 0:
            return False
    return depth == 0


# -- LaTeX ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tex"),
    [
        (r"\input{/etc/passwd}", r"\mathrm{\backslash input\{/etc/passwd\}}"),
        ("<script>", r"\mathrm{<script>}"),
        ("a$b&c#d%e", r"\mathrm{a\$b\&c\#d\%e}"),
        ("f_g h", r"\mathrm{f\_g\ h}"),
        ("^^5c|~`", r"\mathrm{\hat{}\hat{}5c\vert \sim \grave{}}"),
        ("x\ny\x1bz", r"\mathrm{x\ yz}"),
        ("w1", "w_{1}"),  # a plain name keeps SymPy's typesetting
    ],
)
def test_a_symbol_name_is_inert_latex_math(name, tex):
    assert latex_of(sp.Symbol(name)) == tex
    assert latex_of(sp.MatrixSymbol(name, 2, 2)) == tex


def test_function_and_gradient_names_are_escaped_too():
    assert latex_of(sp.Function("\\input{x}")(sp.Symbol("y"))) == r"\mathrm{\backslash input\{x\}}{\left(y \right)}"
    assert latex_of(sp.Symbol("df/d\\input{x}")) == r"\frac{\partial f}{\partial \mathrm{\backslash input\{x\}}}"


def test_latex_output_runs_no_command_from_a_name(named, named_report):
    for tex in (to_latex(named), to_latex(named_report)):
        assert "\\input{" not in tex
        assert "^^5c" not in tex  # TeX's ^^ notation would spell a backslash
        assert "\x1b" not in tex
        assert _braces_balance(tex)


# -- MathML and HTML -------------------------------------------------------------------------------


def test_mathml_is_well_formed_and_holds_only_mathml_elements(named, named_report):
    for page in (to_mathml(named), to_mathml(named_report)):
        root = ET.fromstring(page)
        tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
        assert not tags & {"script", "b"}
        assert "<script" not in page


def test_html_holds_no_element_from_a_name(named, named_report, parse_page):
    for page in (to_html(named), to_html(named_report)):
        root = parse_page(page)  # well-formed despite the ANSI escape and newline in names
        tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
        assert "b" not in tags
        assert [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "script"] == []
        assert "<script>alert" not in page
        assert "\x1b" not in page


def test_escape_xml_replaces_what_xml_forbids():
    assert escape_xml('<a href="x">&\x00\x1b\t') == "&lt;a href=&quot;x&quot;&gt;&amp;??\t"
    ET.fromstring(f"<p>{escape_xml(''.join(chr(c) for c in range(32)))}</p>")


# -- Markdown --------------------------------------------------------------------------------------


def test_markdown_holds_no_raw_markup_from_a_name(named, named_report):
    for page in (to_markdown(named), to_markdown(named_report)):
        assert "<script>" not in page
        assert "<b>" not in page
        assert "\x1b" not in page
        assert "\nr" not in page  # the newline inside "q\nr" made no line of its own
        # Every row of a table has its header's cells: no unescaped "|" from a name split one.
        for table in re.findall(r"(?:^\|.*\n)+", page, flags=re.MULTILINE):
            counts = {len(re.split(r"(?<!\\)\|", row)) for row in table.splitlines()}
            assert len(counts) == 1, table


def test_no_backtick_from_a_name_opens_code_in_markdown(named):
    assert not re.search(r"(?<!\\)`", to_markdown(named))  # the derivation's page has no code spans of its own


def test_markdown_math_spells_out_what_markdown_would_read():
    assert escape_markdown_math(escape_latex_name("<script>|`")) == r"\mathrm{\lt script\gt \vert \grave{}}"


# -- text and JSON ---------------------------------------------------------------------------------


def test_terminal_text_shows_control_characters_as_escapes(named, named_report):
    for text in (derivation_text(named), str(named_report)):
        assert "\x1b" not in text
        assert "\u202e" not in text
    text = derivation_text(named)
    assert "\\x1b[2Js" in text
    assert "q\\nr" in text
    assert not any(line.startswith("r") for line in text.splitlines())


def test_escape_text_leaves_printable_text_alone():
    assert escape_text("w1 <b> é ∂") == "w1 <b> é ∂"
    assert escape_text("a\tb\x7f") == "a\\tb\\x7f"


def test_json_keeps_the_names_as_data(named):
    raw = to_json(named)
    assert "\x1b" not in raw  # JSON writes control characters as \u001b
    data = json.loads(raw)
    assert set(HOSTILE) <= set(data["wrt"])


# -- pdflatex: a file named by a symbol is not read ---------------------------------------------------

SECRET = "9182736450918273"  # digits: no ligatures or kerning split them in the PDF's text


def _compile(pdflatex: str, tex: str, tmp_path) -> tuple[int, str, bytes]:
    uncompressed = "\\pdfcompresslevel=0\\pdfobjcompresslevel=0\n" + tex  # the PDF's text, readable
    (tmp_path / "doc.tex").write_text(uncompressed, encoding="utf-8")
    result = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    pdf = (tmp_path / "doc.pdf").read_bytes() if (tmp_path / "doc.pdf").exists() else b""
    return result.returncode, (tmp_path / "doc.log").read_text(encoding="latin-1"), pdf


@pytest.mark.latex
def test_pdflatex_does_not_read_a_file_named_by_a_symbol(pdflatex, tmp_path):
    secret = tmp_path / "secret.tex"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    name = f"\\input{{{secret}}}"
    # The detector works: a raw \input of the file puts its digits into the PDF.
    code, log, pdf = _compile(pdflatex, f"\\documentclass{{article}}\\begin{{document}}{name}\\end{{document}}",
                              tmp_path)
    assert code == 0, log[-2000:]
    assert SECRET.encode() in pdf
    # symgrad's document with that symbol name compiles and never opens the file.
    tex = to_latex(symgrad.gradient(3 * sp.Symbol(name) + sp.Symbol("y") ** 2))
    code, log, pdf = _compile(pdflatex, tex, tmp_path)
    assert code == 0, log[-2000:]
    assert f"({secret}" not in log
    assert SECRET.encode() not in pdf
    assert b"secret" in pdf  # the name is typeset as text


# -- a user's activation name (symgrad.activation(..., name=...)) ----------------------------------

_PRINTABLE_HOSTILE = [
    *(name for name in HOSTILE if name.isprintable()), "x``<b>bold</b>``", "<img src=x onerror=alert(1)>"
]


@pytest.fixture(scope="module")
def activation_documents() -> list[tuple[str, symgrad.Derivation, symgrad.CheckReport]]:
    documents = []
    for name in _PRINTABLE_HOSTILE:
        layers = [symgrad.Affine(2, 3), symgrad.activation("z*sigmoid(z)", name=name), symgrad.Affine(3, 1)]
        derivation = symgrad.derive(symgrad.Network(layers, loss=symgrad.HalfSquaredError()))
        documents.append((name, derivation, symgrad.check(derivation, mode="fast")))
    return documents


def test_an_activation_name_is_inert_in_latex(activation_documents):
    for _name, derivation, report in activation_documents:
        for tex in (to_latex(derivation), to_latex(report)):
            assert "\\input{" not in tex
            assert "^^5c" not in tex
            assert _braces_balance(tex)


def test_an_activation_name_is_inert_in_html_and_mathml(activation_documents, parse_page):
    for _name, derivation, report in activation_documents:
        for page in (to_html(derivation), to_html(report)):
            tags = {element.tag.rsplit("}", 1)[-1] for element in parse_page(page).iter()}
            assert not tags & {"script", "b", "img"}
        for page in (to_mathml(derivation), to_mathml(report)):
            tags = {element.tag.rsplit("}", 1)[-1] for element in ET.fromstring(page).iter()}
            assert not tags & {"script", "b", "img"}


def test_an_activation_name_is_inert_in_markdown(activation_documents):
    # Regression: a name with a run of two backticks closed the double-backtick code span that holds the
    # network's description, and the HTML after it was live Markdown.
    for name, derivation, report in activation_documents:
        for text in (to_markdown(derivation), to_markdown(report)):
            live = _outside_code_spans(text)
            assert not re.search(r"(?<!\\)<(b|script|img)\b", live), name  # "\<b" is escaped text, "<b" a tag
        assert name in json.loads(to_json(derivation))["title"]


def _outside_code_spans(markdown: str) -> str:
    """The text with every CommonMark code span removed (a fence of n backticks closes only at n)."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "`":
            run = len(markdown[i:]) - len(markdown[i:].lstrip("`"))
            close = markdown.find("`" * run, i + run)
            while close != -1 and markdown[close + run : close + run + 1] == "`":
                close = markdown.find("`" * run, close + run + 1)
            if close != -1 and (markdown[close - 1] != "`"):
                i = close + run
                continue
            out.append("`" * run)
            i += run
            continue
        out.append(markdown[i])
        i += 1
    return "".join(out)


def test_markdown_code_span_fence_is_longer_than_any_backtick_run():
    from symgrad.render.document import Text
    from symgrad.render.markdown import MarkdownWriter

    writer = MarkdownWriter.__new__(MarkdownWriter)
    assert writer._write_Text(Text("a`b", style="code")) == "`` a`b ``"
    assert writer._write_Text(Text("a``<b>x</b>``", style="code")) == "``` a``<b>x</b>`` ```"
    assert writer._write_Text(Text("plain", style="code")) == "`plain`"
