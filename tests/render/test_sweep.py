"""The backward-sweep view (issue 12, part 1): one pass from E, each gradient once, numbered and referred to.

Golden text pins the article's sweep as a lecturer reads it; the structural tests pin what must hold for
any network: numbers run on without gaps, every "by (n)" names an earlier equation that the step really
uses, dE/dy and dE/dh are derived once and each parameter's gradient is built from them, forks say so.
"""

from __future__ import annotations

import re

import pytest

import symgrad
from symgrad.errors import UnknownNameError
from symgrad.render.content import build_document
from symgrad.render.document import Equations, Heading
from symgrad.render.graph import quantities
from symgrad.render.numbers import format_number
from symgrad.render.sweep import sweep_references, sweep_steps
from symgrad.render.text import derivation_text
from symgrad.render.values import point_values

ARTICLE_SWEEP = """\
Forward pass
  (1) h = b1 + w1*x
  (2) y = b2 + h*w2
  (3) E = (y - t)**2/2

Backward sweep: each gradient once, from E back to the inputs
  (4)  dE/dy  = y - t
                (loss derivative, by (3); proven)
  (5)  dE/dw2 = dE/dy*h
                (chain rule, by (4) and (2); proven)
  (6)  dE/db2 = dE/dy
                (chain rule, by (4) and (2); proven)
  (7)  dE/dh  = dE/dy*w2
                (chain rule, by (4) and (2); proven)
  (8)  dE/dw1 = dE/dh*x
                (chain rule, by (7) and (1); proven)
  (9)  dE/db1 = dE/dh
                (chain rule, by (7) and (1); proven)
  (10) dE/dx  = dE/dh*w1
                (chain rule, by (7) and (1); proven)

Each gradient in one expression
  (11) dE/dw1 = w2*x*(y - t)
                (substitute the upstream gradients into (8); proven)
  (12)        = w2*x*(b2 + w2*(b1 + w1*x) - t)
                (substitute the forward pass into (11); proven)
"""


def _residual() -> symgrad.Network:
    x, t = symgrad.Input("x"), symgrad.Input("t")
    return symgrad.Network(symgrad.HalfSquaredError()(symgrad.Affine(name="1")(x) + x, t))


def test_article_sweep_text_is_the_lecture_order(article):
    text = derivation_text(article)
    assert text.startswith("The article's network\n  affine > affine > half-squared-error\n\n")
    assert ARTICLE_SWEEP in text + "\n"


def test_chains_view_is_still_the_per_parameter_form(article):
    text = derivation_text(article, view="chains")
    for name in article.wrt:
        assert f"dE/d{name} by the chain rule" in text
    assert len(re.findall(r"dE/dy +=", text)) == len(article.wrt)  # the repetition the sweep removes
    assert len(re.findall(r"dE/dy +=", derivation_text(article))) == 1


def _sweep_table(document) -> Equations:
    index = next(i for i, block in enumerate(document.blocks) if isinstance(block, Heading) and block.anchor == "sweep")
    return next(block for block in document.blocks[index:] if isinstance(block, Equations))


def _numbered_rows(document):
    return [row for block in document.blocks if isinstance(block, Equations) for row in block.rows if row.number]


@pytest.mark.parametrize("which", ["article", "batched", "residual"])
def test_numbers_run_on_and_each_reference_points_back_to_a_used_equation(which, article, batched):
    d = {"article": article, "batched": batched, "residual": symgrad.derive(_residual())}[which]
    rows = _numbered_rows(build_document(d, None))
    assert [int(row.number) for row in rows] == list(range(1, len(rows) + 1))
    by_number = {row.number: row for row in rows}
    referring = [row for row in rows if ", by " in row.rule or " into (" in row.rule]
    assert len(referring) == len(rows) - len(d.forward)  # every gradient row refers back; definitions do not
    for row in referring:
        for ref in re.findall(r"\((\d+)\)", row.rule.split(" by ")[-1].split(" into ")[-1]):
            assert int(ref) < int(row.number), (row.number, row.rule)
            used = by_number[ref].lhs
            # A gradient it uses appears in its formula; a forward equation is the one differentiated.
            assert used in row.rhs or not used.startswith(r"\frac{\partial E}") or "substitute" in row.rule, row


def test_article_html_derives_dE_dy_and_dE_dh_once_and_each_parameter_from_them(article, article_report):
    html = symgrad.render.to_html(article, report=article_report)
    sweep = html.split('id="sweep"')[1].split('id="gradients"')[0]
    rows = re.findall(r'<tr class="step" id="eq-(\d+)">(.*?)</tr>', sweep)
    lhs = {number: re.sub(r"<[^>]+>", "", body.split('<td class="eq">')[0]) for number, body in rows}
    dy = [number for number, text in lhs.items() if text.endswith("∂E∂y")]
    dh = [number for number, text in lhs.items() if text.endswith("∂E∂h")]
    assert len(dy) == 1, lhs  # derived once
    assert len(dh) == 1, lhs
    rules = {number: re.search(r'<td class="rule">([^<]*)', body).group(1) for number, body in rows}
    for name, upstream in (("w2", dy), ("b2", dy), ("w1", dh), ("b1", dh), ("x", dh)):
        (number,) = [n for n, text in lhs.items() if text.endswith(f"∂E∂{name[0]}{name[1:]}")]
        assert f"by ({upstream[0]})" in rules[number], (name, rules[number])
    assert rules[dh[0]].startswith(f"chain rule, by ({dy[0]})")


def test_a_fork_is_summed_and_the_step_says_so_with_both_references():
    d = symgrad.derive(_residual())
    (rule,) = [rule for _, step, rule in sweep_references(d) if str(step.lhs) == "dE/dx"]
    assert rule.startswith("sum over 2 paths (x feeds h1 and h2): multivariable chain rule, by ")
    gradients = {str(step.lhs): n for n, step, _ in sweep_references(d)}
    assert f"({gradients['dE/dh1']})" in rule
    assert f"({gradients['dE/dh2']})" in rule
    document = build_document(d, None)
    intro = "".join(getattr(part, "text", "") for block in document.blocks
                    if getattr(block, "line", None) for part in block.line)
    assert "sum of their contributions" in intro


def test_a_parameter_follows_the_gradient_of_its_layers_output(batched):
    order = [str(step.lhs) for step in sweep_steps(batched)]
    assert order == ["dE/dy", "dE/dW2", "dE/db2", "dE/dh2", "dE/dh1", "dE/dW1", "dE/db1", "dE/dx"]


def test_every_format_takes_the_view_and_a_wrong_view_is_a_clear_error(article):
    for render in (symgrad.render.to_latex, symgrad.render.to_markdown, symgrad.render.to_mathml,
                   symgrad.render.to_html):
        sweep, chains = render(article, check=False), render(article, check=False, view="chains")
        assert "(4)" in sweep
        assert "(4)" not in chains
        assert render(article, check=False) == sweep  # deterministic
    with pytest.raises(UnknownNameError, match="view='steps' is not allowed: expected 'sweep' or 'chains'"):
        symgrad.render.to_html(article, view="steps")
    with pytest.raises(UnknownNameError, match="unknown option 'view' for json"):
        symgrad.render.to_json(article, view="sweep")


def test_the_sweep_halves_the_latex(article):
    # The article's document repeated dE/dy in each of five parameters' sections (issue 12).
    sweep = symgrad.render.to_latex(article, check=False)
    chains = symgrad.render.to_latex(article, check=False, view="chains")
    assert len(sweep) < 0.6 * len(chains)


def test_batched_figure_shows_each_arrays_shape_and_norm_at_the_point(batched, batched_report):
    # Issue 12, part 3: the batched graph showed shapes only, no values.
    values = point_values(batched.network, batched_report)
    labels = quantities(batched.network, dict(batched.shapes), values)
    import numpy as np

    for name in ("x", "W1", "h1", "y"):
        norm = format_number(np.linalg.norm(values.forward[name]), 3)
        assert labels[name].forward.endswith(f", norm {norm}"), labels[name]
    assert labels["W1"].forward.startswith("3×4, ")
    assert labels["W1"].backward == f"norm {format_number(np.linalg.norm(batched_report.row('W1').symbolic), 3)}"
    html = symgrad.render.to_html(batched, report=batched_report)
    assert "shape and norm at the point drawn with seed 0" in html
    assert "norm " not in symgrad.render.to_html(batched, check=False).split("<svg")[1].split("</svg>")[0]
