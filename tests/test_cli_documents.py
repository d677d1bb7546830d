"""The command's documents: the format from the -o suffix, and worked numbers with --values (issue 12)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from symgrad.cli import SUFFIX_FORMATS, main

ARTICLE_POINT = "x=1.5,t=0.5,w1=0.8,b1=-0.3,w2=1.7,b2=0.2"
SIGMOID = "affine(3,4) > sigmoid > affine(4,1) > half-squared-error"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _looks_like(fmt: str, text: str) -> bool:
    if fmt == "html":
        return text.startswith("<!DOCTYPE html>")
    if fmt == "latex":
        return text.startswith("\\documentclass")
    if fmt == "json":
        return isinstance(json.loads(text), dict)
    if fmt == "mathml":
        return ET.fromstring(text).tag.endswith("}math")
    if fmt == "markdown":
        return text.startswith("# ") and "$" in text
    return "Backward sweep" in text and "dE/dw1 = dE/dh*x" in text  # text: the sweep view


@pytest.mark.parametrize("suffix", sorted(SUFFIX_FORMATS))
def test_derive_picks_the_format_from_the_output_suffix(tmp_path: Path, suffix: str) -> None:
    # Regression: `symgrad derive -o mlp.tex` (or .md, .json, .html) wrote plain text whatever the suffix.
    target = tmp_path / f"doc{suffix}"
    code, _, err = run("derive", "--no-check", "-o", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    fmt = SUFFIX_FORMATS[suffix]
    assert _looks_like(fmt, text), (suffix, text[:200])
    others = [other for other in set(SUFFIX_FORMATS.values()) if other != fmt]
    assert not any(_looks_like(other, text) for other in others if other not in ("text", "json", "mathml"))


def test_gradient_and_check_pick_the_format_from_the_suffix_too(tmp_path: Path) -> None:
    code, _, err = run("gradient", "tanh(w*x)", "-o", str(tmp_path / "g.md"))
    assert code == 0, err
    assert (tmp_path / "g.md").read_text(encoding="utf-8").startswith("# ")
    code, _, err = run("check", "-o", str(tmp_path / "c.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["rows"]


@pytest.mark.parametrize("name", ["doc.pdf", "doc", "doc.docx"])
def test_an_unknown_output_suffix_is_a_clear_error(tmp_path: Path, name: str) -> None:
    code, _out, err = run("derive", "--no-check", "-o", str(tmp_path / name))
    assert code == 2
    assert "cannot tell the format of -o" in err
    assert ".tex" in err
    assert "--format" in err
    assert not (tmp_path / name).exists()


def test_format_overrides_an_unknown_suffix_and_must_agree_with_a_known_one(tmp_path: Path) -> None:
    code, _, err = run("derive", "--no-check", "--format", "html", "-o", str(tmp_path / "page.out"))
    assert code == 0, err
    assert (tmp_path / "page.out").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, _, err = run("derive", "--no-check", "--format", "html", "-o", str(tmp_path / "page.tex"))
    assert code == 2
    assert "names latex" in err


def test_derive_with_values_shows_them_in_the_steps(tmp_path: Path) -> None:
    # The done-when: the page's steps show the values at the lecturer's point.
    target = tmp_path / "a.html"
    code, _, err = run("derive", "--values", ARTICLE_POINT, "-o", str(target))
    assert code == 0, err
    page = target.read_text(encoding="utf-8")
    assert "the given point" in page
    assert "seed 0" not in page  # regression: "the point drawn with seed 0" though values were given
    # h = w1 x + b1 = 0.9, y = w2 h + b2 = 1.73, dE/dy = y - t = 1.23, dE/dw1 = dE/dy w2 x = 3.1365.
    cells = re.findall(r'<td class="value">(.*?)</td>', page)
    shown = [re.sub(r"<[^>]+>", "", cell) for cell in cells if cell]
    for value in ("0.9", "1.73", "1.23", "3.137", "2.091"):
        assert any(value in cell for cell in shown), (value, shown)


@pytest.mark.parametrize(
    ("suffix", "step"),
    [
        # dE/dw1 = dE/dh x = 1.23 * 1.7 * 1.5 = 3.1365, beside the step that computes it.
        # In the sweep view (the default) the step is numbered (8) and names the equations it uses.
        (".tex", r"\partial h} x \tag*{\footnotesize (8)~$\approx 3.137$; chain rule, by (7) and (1)"),
        (".md", r"\frac{\partial E}{\partial h} x$ | $\approx 3.137$ | chain rule, by (7) and (1) |"),
        (".xml", "<mo>≈</mo><mn>3.137</mn>"),
    ],
)
def test_values_reach_every_document_format(tmp_path: Path, suffix: str, step: str) -> None:
    target = tmp_path / f"a{suffix}"
    code, _, err = run("derive", "--values", ARTICLE_POINT, "-o", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert step in text
    assert "1.23" in text
    assert "0.9" in text
    assert "given point" in text
    assert "seed 0" not in text


def test_check_text_names_the_given_point() -> None:
    code, out, err = run("check", "--values", ARTICLE_POINT)
    assert code == 0, err
    assert "at the given point" in out
    assert "seed 0" not in out
    # x = 1.5 was used: dE/dw2 = (y - t) h = 1.23 * 0.9.
    assert re.search(r"w2\s+scalar\s+1\.107", out)


def test_values_from_json_and_npz_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    point = {
        "x": rng.normal(size=(2, 3)), "t": rng.normal(size=(2, 1)), "W1": rng.normal(size=(3, 4)),
        "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=1),
    }
    (tmp_path / "p.json").write_text(json.dumps({k: v.tolist() for k, v in point.items()}), encoding="utf-8")
    np.savez(tmp_path / "p.npz", **point)
    outputs = []
    for source in ("p.json", "p.npz"):
        code, out, err = run("check", SIGMOID, "--values", str(tmp_path / source), "--format", "json")
        assert code == 0, err
        data = json.loads(out)
        assert np.allclose(np.asarray(data["values"]["x"]), point["x"])
        outputs.append(out)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("values", "phrase"),
    [
        ("x=1.5,t=0.5,w1=0.8,b1=-0.3,w2=1.7,b2=0.2,z=1", "unknown name 'z'"),
        ("x=1.5,t=0.5", "no value for w1, b1, w2, b2"),
        ("x=1.5,x=2,t=0.5,w1=0.8,b1=-0.3,w2=1.7,b2=0.2", "'x' is given twice"),
        ("x=__import__('os').system('echo hi'),t=1,w1=1,b1=1,w2=1,b2=1", "does not give a number"),
        ("x=nan,t=1,w1=1,b1=1,w2=1,b2=1", "does not give a number"),
        ("x", "neither name=value pairs nor a .json or .npz file"),
        ("missing.json", "no such file"),
    ],
)
def test_bad_values_exit_2_naming_what_was_wrong(tmp_path: Path, values: str, phrase: str) -> None:
    code, _out, err = run("derive", "--values", values, "-o", str(tmp_path / "unused.html"))
    assert code == 2, err
    assert phrase in err
    assert "Traceback" not in err
    assert not (tmp_path / "unused.html").exists()


def test_values_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    code, _, err = run("check", SIGMOID, "--values", "x=1,t=1,W1=1,b1=1,W2=1,b2=1")
    assert code == 2
    assert "'x' is a number; this network needs N×3" in err
    (tmp_path / "p.json").write_text(json.dumps({"x": [[1, 2, 3]], "t": [[1]], "W1": [[1, 2]], "b1": [1] * 4,
                                                  "W2": [[1]] * 4, "b2": [1]}), encoding="utf-8")
    code, _, err = run("check", SIGMOID, "--values", str(tmp_path / "p.json"))
    assert code == 2
    assert "'W1' is 1×2; this network needs 3×4" in err
    (tmp_path / "q.json").write_text(json.dumps({"x": "1"}), encoding="utf-8")
    code, _, err = run("check", SIGMOID, "--values", str(tmp_path / "q.json"))
    assert code == 2
    assert "must be a number or nested lists of numbers" in err
    (tmp_path / "r.json").write_text("[1, 2]", encoding="utf-8")
    code, _, err = run("check", SIGMOID, "--values", str(tmp_path / "r.json"))
    assert code == 2
    assert "must hold a JSON object" in err


def test_an_object_array_in_an_npz_file_is_not_unpickled(tmp_path: Path) -> None:
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object))
    code, _, err = run("check", "--values", str(tmp_path / "p.npz"))
    assert code == 2
    assert "not a NumPy .npz archive of arrays" in err


def test_values_cannot_go_with_no_check() -> None:
    code, _, err = run("derive", "--values", ARTICLE_POINT, "--no-check")
    assert code == 2
    assert "--no-check" in err


def test_documents_with_values_are_byte_identical(tmp_path: Path) -> None:
    pages = []
    for index in range(2):
        target = tmp_path / f"a{index}.html"
        assert run("derive", "--values", ARTICLE_POINT, "-o", str(target))[0] == 0
        pages.append(target.read_bytes())
    assert pages[0] == pages[1]


def test_derive_checks_a_large_network_in_fast_mode_and_says_so(tmp_path: Path) -> None:
    # Issue 12: `symgrad derive` on the MNIST-sized network took 24 s, a full sweep of 209,812 evaluations.
    target = tmp_path / "mnist.json"
    code, _, err = run("derive", "affine(784,128) > relu > affine(128,10) > softmax-cross-entropy", "-o", str(target))
    assert code == 0, err
    assert "checking in fast mode instead" in err
    report = json.loads(target.read_text(encoding="utf-8"))["check"]
    assert report["mode"] == "fast"
    assert any("checked in fast mode" in note for note in report["notes"])


def test_derive_checks_a_small_network_in_full_and_obeys_mode(tmp_path: Path) -> None:
    code, out, err = run("derive", SIGMOID, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["check"]["mode"] == "full"
    assert "fast mode" not in err
    code, out, err = run("derive", SIGMOID, "--format", "json", "--mode", "fast")
    assert code == 0, err
    assert json.loads(out)["check"]["mode"] == "fast"
    assert not any("checked in fast mode" in note for note in json.loads(out)["check"]["notes"])


@pytest.mark.parametrize("suffix", [".tex", ".md", ".html", ".xml", ".json"])
def test_documents_are_byte_identical_across_processes(tmp_path: Path, suffix: str) -> None:
    # Determinism: two separate runs (fresh caches, fresh hash seeds) write the same bytes.
    import os
    import subprocess
    import sys

    outputs = []
    for index, hash_seed in enumerate(("1", "2")):
        target = tmp_path / f"doc{index}{suffix}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        command = [sys.executable, "-m", "symgrad.cli", "derive", SIGMOID, "--values", str(tmp_path / "p.json"),
                   "-o", str(target)]
        if index == 0:
            rng = np.random.default_rng(5)
            point = {"x": rng.normal(size=(2, 3)), "t": rng.normal(size=(2, 1)), "W1": rng.normal(size=(3, 4)),
                     "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=1)}
            (tmp_path / "p.json").write_text(json.dumps({k: v.tolist() for k, v in point.items()}), encoding="utf-8")
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
