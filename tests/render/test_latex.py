"""LaTeX output (symgrad/render/latex.py, notebook.py), compiled with pdflatex where installed."""

from __future__ import annotations

import re
import subprocess

import pytest

import symgrad
from symgrad.render import to_latex
from symgrad.render.latex import MACROS

ALLOWED_PACKAGES = {"inputenc", "amsmath", "amssymb", "color", "geometry"}  # all in texlive-latex-base


def _braces_balance(text: str) -> bool:
    depth = 0
    for match in re.finditer(r"\\.|[{}]", text):
        token = match.group()
        depth += {"{": 1, "}": -1}.get(token, 0)
        if depth < 0:
            return False
    return depth == 0


def test_standalone_document_uses_only_base_packages(article, article_report):
    tex = to_latex(article, report=article_report)
    assert tex.startswith("\\documentclass")
    assert tex.endswith("\\end{document}\n")
    groups = re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", tex)
    packages = {package.strip() for group in groups for package in group.split(",")}
    assert packages <= ALLOWED_PACKAGES
    assert _braces_balance(tex)


def test_body_only_has_no_preamble_but_defines_its_macros(article):
    body = to_latex(article, standalone=False, check=False)
    assert "\\documentclass" not in body
    assert "\\begin{document}" not in body
    assert body.startswith(MACROS.rstrip("\n"))


def test_steps_and_marks_are_written(article, article_report):
    tex = to_latex(article, report=article_report)
    row = r"\frac{\partial E}{\partial w_{1}} &= \frac{\partial E}{\partial h} x"
    # With a check, each step shows its value at the point (issue 12); in the sweep view (the default) its
    # number comes first and the equations it uses after its rule.
    tag = r"(8)~$\approx -0.7633$; chain rule, by (7) and (1)~\sgok{}"
    assert row + rf" \tag*{{\footnotesize {tag}}}" in tex
    assert row + r" \tag*{\footnotesize (8)~chain rule, by (7) and (1)~\sgok{}}" in to_latex(article, check=False)
    chains = to_latex(article, check=False, view="chains")
    assert row + r" \tag*{\footnotesize chain rule~\sgok{}}" in chains
    assert "\\begin{quote}" in tex  # elementary steps, indented
    assert "\\sgfail{}" not in tex  # used nowhere: every step is proven


def test_text_is_escaped(hostile):
    tex = to_latex(hostile, check=False)
    title = re.search(r"\{\\LARGE\\bfseries (.*)\\par\}", tex).group(1)
    assert title == (
        r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{} \& 50\% \$x\$ \#1 "
        r"\textbackslash{}input\{/etc/passwd\} \{\_\textasciicircum{}\textasciitilde{}\} *bold* [a](b) ?"
    )


def test_notebook_latex_is_one_mathjax_block(article, article_report):
    tex = article._repr_latex_()
    assert tex.startswith("$$\\begin{aligned}\n")
    assert tex.endswith("\\end{aligned}$$\n")
    assert tex.count("$$") == 2
    assert _braces_balance(tex)
    # MathJax's \text{} takes no macros: no backslash may appear inside one.
    assert not re.search(r"\\text\{[^}]*\\", tex)
    assert "\\checkmark" in tex


def test_report_renders_to_latex_on_its_own(batched_report):
    tex = to_latex(batched_report)
    assert "Three-way check" in tex
    assert tex.count("\\begin{tabular}{") == 3  # the point, the check table, the cost (headers stack in [b] ones)
    assert batched_report._repr_latex_().startswith("$$")


def _compile(pdflatex: str, tex: str, tmp_path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    return subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.latex
@pytest.mark.parametrize("which", ["article", "batched", "expression", "hostile", "report"])
def test_tex_export_compiles_with_pdflatex(pdflatex, which, request, tmp_path):
    obj = request.getfixturevalue("batched_report" if which == "report" else which)
    path = symgrad.export(obj, tmp_path / "export.tex")
    result = _compile(pdflatex, path.read_text(encoding="utf-8"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000
    # The hostile title's \input{/etc/passwd} is text, not a command: TeX opened no such file.
    assert "(/etc/passwd" not in (tmp_path / "doc.log").read_text(encoding="latin-1")


@pytest.mark.latex
def test_body_compiles_inside_a_host_document(pdflatex, article, tmp_path):
    body = to_latex(article, standalone=False, check=False)
    preamble = "\\documentclass{article}\n\\usepackage{amsmath,amssymb,color}\n"
    host = preamble + "\\begin{document}\n" + body + "\\end{document}\n"
    result = _compile(pdflatex, host, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_missing_tool_skips_but_fails_under_ci(require_tool, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install texlive-latex-base"):
        require_tool("pdflatex", "texlive-latex-base")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_tool("pdflatex", "texlive-latex-base")


@pytest.mark.latex
@pytest.mark.parametrize(
    "spec",
    [
        None,  # the article's network
        "affine(3,4) > sigmoid > affine(4,1) > half-squared-error",
        "affine(4,5) > relu > affine(5,3) > softmax-cross-entropy",
        "affine(3,4) > tanh > affine(4,4) > tanh > affine(4,2) > mean-squared-error",
        "affine(3,4) > batch-norm(4) > relu > affine(4,2) > half-squared-error",  # batch norm's graph and closed form
    ],
)
def test_documents_fit_the_page_no_overfull_boxes(pdflatex, spec, tmp_path):
    # Issue 12: the check table was 58 pt too wide, a paragraph with \texttt 5 pt, the three-layer
    # network's substituted formulas 300 pt (now set on several lines).
    network = symgrad.article_network() if spec is None else symgrad.network_from_spec(spec)
    tex = to_latex(symgrad.derive(network))
    result = _compile(pdflatex, tex, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "doc.log").read_text(encoding="latin-1")
    overfull = re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)
    assert overfull == [], overfull


def test_long_formulas_are_set_on_several_lines():
    network = symgrad.network_from_spec("affine(3,4) > tanh > affine(4,4) > tanh > affine(4,2) > mean-squared-error")
    tex = to_latex(symgrad.derive(network), check=False, view="chains")  # each row with its lhs
    row = next(line for line in tex.split("\n") if "substitute the forward pass" in line and "W_{1}}" in line)
    following = tex.split(row, 1)[1].split("\\end{align*}")[0]
    assert following.count("&\\qquad ") >= 2
    # Each line of an align is a group of its own: \left and \right must pair up within it.
    for line in [row, *following.split("\\\\\n")]:
        assert len(re.findall(r"\\left(?![a-z])", line)) == len(re.findall(r"\\right(?![a-z])", line)), line


def test_value_tables_use_true_minus_signs(batched, batched_report):
    # Issue 12: value tables used hyphens ("[-0.27, ...]") for minus signs.
    tex = to_latex(batched, report=batched_report)
    arrays = [line for line in tex.split("\n") if "entries]" in line]
    assert arrays
    assert any("$-$" in line for line in arrays)
    assert not any(re.search(r"[\[ ,]-\d", line) for line in arrays)
