"""The HTML export as a reader sees it: headless Chromium lays out every formula.

The shipped page has no script. The test writes a copy with one inline script
that measures every <math> element (and checks that fractions are stacked,
which only a MathML layout does), dumps the DOM and reads the measurements
back; then it takes a screenshot. Nothing is fetched from the network.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import pytest

import symgrad

pytestmark = pytest.mark.browser

_MEASURE = """<script>
(function () {
  var NS = "http://www.w3.org/1998/Math/MathML";
  var sizes = Array.prototype.map.call(document.getElementsByTagNameNS(NS, "math"), function (m) {
    var r = m.getBoundingClientRect(); return [r.width, r.height];
  });
  var stacked = Array.prototype.filter.call(document.getElementsByTagNameNS(NS, "mfrac"), function (f) {
    var top = f.children[0].getBoundingClientRect(), bottom = f.children[1].getBoundingClientRect();
    return top.bottom <= bottom.top + 1;
  }).length;
  var fractions = document.getElementsByTagNameNS(NS, "mfrac").length;
  var pre = document.createElement("pre");
  pre.id = "symgrad-measure";
  pre.textContent = JSON.stringify({sizes: sizes, stacked: stacked, fractions: fractions});
  document.body.appendChild(pre);
})();
</script>"""

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]


def _sigmoid_network() -> symgrad.Network:
    layers = [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError())


def _chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "profile"
    command = [chromium, *_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _measure(chromium: str, page: Path, tmp_path: Path) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="symgrad-measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("which", ["article", "batched", "batch-norm"])
def test_chromium_lays_out_all_the_math(chromium, which, tmp_path):
    networks = {"article": symgrad.article_network, "batched": _sigmoid_network,
                "batch-norm": lambda: symgrad.network_from_spec("batch-norm(3) > half-squared-error")}
    network = networks[which]()
    page = symgrad.export(symgrad.derive(network), tmp_path / f"{which}.html")
    shipped = page.read_text(encoding="utf-8")
    assert "<script" not in shipped

    measured = _measure(chromium, page, tmp_path)
    sizes = measured["sizes"]
    assert len(sizes) == shipped.count("<math ")
    empty = [i for i, (width, height) in enumerate(sizes) if width <= 0 or height <= 0]
    assert not empty, f"{len(empty)} of {len(sizes)} formulas were not laid out"
    assert measured["fractions"] > 0
    assert measured["stacked"] == measured["fractions"], "fractions are not stacked: MathML was not laid out"

    shot = tmp_path / f"{which}.png"
    _chromium(chromium, tmp_path, "--window-size=1200,3000", f"--screenshot={shot}", page.as_uri())
    assert _png_size(shot) == (1200, 3000)
    assert shot.stat().st_size > 50_000  # a page of text and formulas, not a blank image
