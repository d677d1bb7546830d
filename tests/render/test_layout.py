"""Pictures, measured: no math box overlaps another or is clipped, in pages and in notebooks (issue 12).

Headless Chromium lays out the HTML export at 800 px and 1200 px, and the output of a notebook
executed by ``jupyter nbconvert --execute`` (JupyterLab's and the classic notebook's templates,
whose own table styles once drew a row's sides and its "=" on top of each other). A script
added to a copy of each page measures every ``<math>`` element inside ``.symgrad``: any two
that intersect, and any that reaches past an ancestor which clips (overflow other than visible)
or past the page's right edge, are reported with their text. Screenshots are kept next to the
pages (``tmp_path``) for a human look.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import symgrad

pytestmark = pytest.mark.browser

_GEOMETRY = """<script>
(function () {
  var NS = "http://www.w3.org/1998/Math/MathML";
  var roots = document.querySelectorAll(".symgrad");
  var maths = [];
  roots.forEach(function (root) {
    Array.prototype.forEach.call(root.getElementsByTagNameNS(NS, "math"), function (m) { maths.push(m); });
  });
  function box(m) { var r = m.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  function label(m) { return (m.textContent || "").replace(/\\s+/g, " ").slice(0, 60); }
  var boxes = maths.map(box);
  var overlaps = [];
  for (var i = 0; i < boxes.length; i++) {
    var a = boxes[i];
    if (a[2] - a[0] < 1) continue;  // hidden (a closed <details>)
    for (var j = i + 1; j < boxes.length; j++) {
      var b = boxes[j];
      var w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
      if (w > 1.5 && h > 1.5) overlaps.push([label(maths[i]), label(maths[j]), w, h]);
    }
  }
  var clipped = [];
  var width = document.documentElement.clientWidth;
  maths.forEach(function (m, i) {
    var a = boxes[i];
    if (a[2] - a[0] < 1) return;
    if (a[2] > width + 1) { clipped.push([label(m), "page", a[2], width]); return; }
    for (var p = m.parentElement; p; p = p.parentElement) {
      var style = getComputedStyle(p);
      if (style.overflowX !== "visible" || style.overflowY !== "visible") {
        var r = p.getBoundingClientRect();
        if (a[2] > r.right + 1 || a[0] < r.left - 1) { clipped.push([label(m), p.className, a[2], r.right]); return; }
      }
    }
  });
  var pre = document.createElement("pre");
  pre.id = "symgrad-geometry";
  pre.textContent = JSON.stringify({maths: maths.length, overlaps: overlaps.slice(0, 20),
                                    clipped: clipped.slice(0, 20), width: width});
  document.body.appendChild(pre);
})();
</script>"""

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # Nothing from the network: a notebook template's MathJax <script src> fails at once.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def _chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    command = [chromium, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _geometry(chromium: str, page: Path, width: int, tmp_path: Path) -> dict:
    """The geometry script's findings on ``page`` at ``width`` px; a screenshot is left beside it."""
    probe = page.with_name(f"{page.stem}-probe-{width}.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _GEOMETRY + "</body>"), encoding="utf-8")
    size = f"--window-size={width},1000"
    dom = _chromium(chromium, tmp_path, size, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="symgrad-geometry">(.*?)</pre>', dom, re.S)
    assert found, "the geometry script did not run"
    shot = page.with_name(f"{page.stem}-{width}.png")
    _chromium(chromium, tmp_path, f"--window-size={width},3000", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<"))


def _assert_clean(found: dict, at_least: int) -> None:
    assert found["maths"] >= at_least, found
    assert found["overlaps"] == [], f"overlapping math boxes: {found['overlaps']}"
    assert found["clipped"] == [], f"clipped math boxes: {found['clipped']}"


def _sigmoid_network() -> symgrad.Network:
    layers = [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError())


def _residual_network() -> symgrad.Network:
    """A fork: x feeds the affine layer and the sum (the sweep's step for x sums two paths)."""
    x, t = symgrad.Input("x", 3), symgrad.Input("t", 3)
    return symgrad.Network(symgrad.HalfSquaredError()(symgrad.Tanh()(symgrad.Affine(3, 3)(x)) + x, t))


@pytest.mark.parametrize("width", [800, 1200])
@pytest.mark.parametrize("which", ["article", "batched", "expression", "article-chains", "residual"])
def test_html_math_neither_overlaps_nor_clips(chromium, tmp_path, width, which):
    # The sweep view is the default (numbered rows, an equation-number column); "article-chains" is the
    # per-parameter view, "residual" a sweep with a fork summed.
    derivation = {
        "article": lambda: symgrad.derive(symgrad.article_network()),
        "article-chains": lambda: symgrad.derive(symgrad.article_network()),
        "batched": lambda: symgrad.derive(_sigmoid_network()),
        "residual": lambda: symgrad.derive(_residual_network()),
        "expression": lambda: symgrad.gradient("sigmoid(w*x)*exp(x) + relu(y) + tanh(w*y)*x**3 - log(1 + x**2)"),
    }[which]()
    page = tmp_path / f"{which}.html"
    html = derivation.to_html(view="chains") if which.endswith("chains") else derivation.to_html()
    assert ('id="eq-1"' in html) is (which in ("article", "batched", "residual"))
    page.write_text(html, encoding="utf-8")
    _assert_clean(_geometry(chromium, page, width, tmp_path), 20)


def test_the_geometry_check_sees_an_overlap_and_a_clip(chromium, tmp_path):
    # The check itself can fail: two formulas drawn on one spot, one clipped inside a scroll box.
    math = '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi><mo>+</mo><mi>y</mi></math>'
    wide = '<math xmlns="http://www.w3.org/1998/Math/MathML">' + "<mi>x</mi><mo>+</mo>" * 80 + "<mi>y</mi></math>"
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html>\n<html><body><div class="symgrad">'
        f'<div style="position:relative;height:30px"><span style="position:absolute;left:0">{math}</span>'
        f'<span style="position:absolute;left:4px">{math}</span></div>'
        f'<div style="margin-top:40px;width:200px;overflow-x:auto">{wide}</div></div></body></html>',
        encoding="utf-8",
    )
    found = _geometry(chromium, page, 800, tmp_path)
    assert len(found["overlaps"]) == 1
    assert len(found["clipped"]) == 1


def _jupyter() -> list[str]:
    if shutil.which("jupyter") is None and shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        msg = "jupyter nbconvert is not installed; install it with `pip install jupyter nbconvert`"
        if os.environ.get("CI"):
            pytest.fail(f"{msg} (CI is set, so this test may not be skipped)")
        pytest.skip(msg)
    pytest.importorskip("nbformat", reason="nbformat comes with `pip install jupyter nbconvert`")
    pytest.importorskip("ipykernel", reason="a Python kernel comes with `pip install jupyter`")
    return [sys.executable, "-m", "jupyter", "nbconvert"]


_CELLS = [
    "import symgrad",
    "symgrad.derive(symgrad.article_network())",
    textwrap.dedent("""\
        layers = [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)]
        symgrad.derive(symgrad.Network(layers, loss=symgrad.HalfSquaredError()))"""),
    "symgrad.gradient('sigmoid(w*x)*exp(x) + relu(y)')",
    "symgrad.check(symgrad.article_network())",
]


@pytest.fixture(scope="module")
def executed_notebooks(tmp_path_factory, chromium) -> dict[str, Path]:
    """The notebook executed and exported with JupyterLab's template and the classic one."""
    nbconvert = _jupyter()
    import nbformat

    folder = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in _CELLS]
    nbformat.write(notebook, folder / "symgrad.ipynb")
    pages = {}
    for template in ("lab", "classic"):
        command = [*nbconvert, "--execute", "--to", "html", "--template", template,
                   "--output", f"{template}.html", str(folder / "symgrad.ipynb")]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        pages[template] = folder / f"{template}.html"
    return pages


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_notebook_display_neither_overlaps_nor_clips(executed_notebooks, chromium, tmp_path, template):
    page = executed_notebooks[template]
    text = page.read_text(encoding="utf-8")
    assert text.count('<div class="symgrad">') == 4  # every output is symgrad's HTML (not its LaTeX)
    _assert_clean(_geometry(chromium, page, 1200, tmp_path), 200)
