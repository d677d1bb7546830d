"""The benchmark command runs, prints every section and target, and writes valid JSON and Markdown.

Runs ``python benchmarks/run.py --quick`` (a small configuration, well under
30 s) in a fresh interpreter, as the README tells people to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"

#: What the issue asks every run to report (section number -> words in a target's name).
TARGETS = {
    1: ["width 1024 / width 8", "depth 4, width 1024"],
    2: ["lambdify() gradient / hand-written"],
    3: ["random-direction check) in forward passes", "whole check(mode='fast') call in forward passes"],
    4: ["central", "richardson", "complex"],
    5: ["end to end", "`symgrad --help` / `python -c pass`", "rules proven again in a fresh process"],
    6: ["full check / gradcheck", "fast check / gradcheck", "first check of a new network of known layers"],
    7: ["whole check(mode='fast') in forward passes"],
    8: ["fast check / torch fast gradcheck"],
    9: ["guard's promise"],
    10: ["check_layer(mode='fast') at a CIFAR-sized conv, in forward passes", "refused by the long-run guard"],
    11: ["chain of 8 layers", "RNN unrolled 4 steps"],
    12: ["derive Conv2d(3, 16, 3, pad=1) (warm)", "compiled derived backward / textbook, embedding"],
    13: ["derive(batch-norm) warm", "lstm-cell compiled backward / textbook"],
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        # A guard against a hang, not a speed target: the quick run takes about 25 s of CPU, and 120 s of wall
        # time ran out in full-suite runs on a 2-core machine shared with other work (load average 10-15).
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    return done, out, time.perf_counter() - start


@pytest.mark.slow
def test_quick_run_succeeds(quick_run):
    # No time limit here: speed lives in the benchmark's own ratios, never in a timed unit test.
    done, _, _seconds = quick_run
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_every_section_and_target_is_printed(quick_run):
    done, _, _ = quick_run
    for number in TARGETS:
        assert f"### {number}. " in done.stdout
    assert "### Targets" in done.stdout
    for words in TARGETS.values():
        for word in words:
            assert word in done.stdout.split("### Targets")[1], word
    assert "symbol per weight" in done.stdout


@pytest.mark.slow
def test_json_holds_every_figure_and_the_markdown_is_written_beside_it(quick_run):
    done, out, _ = quick_run
    document = json.loads(out.read_text())
    assert document["quick"] is True
    assert {"cpu", "cores", "python", "numpy", "sympy", "symgrad"} <= set(document["machine"])
    numbers = {section["number"] for section in document["sections"]}
    assert numbers == set(TARGETS)
    for section in document["sections"]:
        assert section["columns"]
        for row in section["rows"]:
            assert len(row) == len(section["columns"])
        for target in section["targets"]:
            assert target["met"] in (True, False, None)
            assert target["limit"] >= 0
    measured = [t for s in document["sections"] if s["number"] in (1, 2, 4, 5) for t in s["targets"]]
    assert all(isinstance(t["value"], float) and t["value"] >= 0 for t in measured)
    assert out.with_suffix(".md").read_text() in done.stdout
