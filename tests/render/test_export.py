"""export() and render() (symgrad/render/export.py, options.py): formats, files, errors, determinism."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import symgrad
from symgrad.render import FORMATS, SUFFIXES, render, to_html, to_json, to_latex, to_markdown, to_mathml


def test_export_is_public():
    assert "export" in symgrad.__all__
    assert symgrad.export is symgrad.render.export


@pytest.mark.parametrize(
    ("suffix", "start"),
    [
        (".html", "<!DOCTYPE html>"),
        (".htm", "<!DOCTYPE html>"),
        (".tex", "\\documentclass"),
        (".md", "# "),
        (".json", "{"),
        (".mml", "<math "),
        (".xml", "<math "),
        (".HTML", "<!DOCTYPE html>"),
    ],
)
def test_export_picks_the_format_from_the_suffix(expression, tmp_path, suffix, start):
    path = symgrad.export(expression, tmp_path / f"doc{suffix}")
    assert path == tmp_path / f"doc{suffix}"
    data = path.read_bytes()
    assert data.decode("utf-8").startswith(start)
    assert b"\r" not in data
    assert data.endswith(b"\n")


def test_export_writes_utf8(tmp_path):
    network = symgrad.Network([symgrad.Affine(name="1")], loss=symgrad.HalfSquaredError(), title="Réseau ∂ ✓")
    path = symgrad.export(symgrad.derive(network), tmp_path / "doc.md", check=False)
    assert "Réseau ∂ ✓".encode() in path.read_bytes()


def test_unknown_suffix_is_refused_naming_it_and_the_allowed(expression, tmp_path):
    with pytest.raises(symgrad.UnknownNameError) as info:
        symgrad.export(expression, tmp_path / "doc.pdf")
    message = str(info.value)
    assert "'.pdf'" in message
    for suffix in SUFFIXES:
        assert suffix in message
    assert not (tmp_path / "doc.pdf").exists()


def test_missing_suffix_is_refused(expression, tmp_path):
    with pytest.raises(symgrad.UnknownNameError, match=r"unknown suffix \(none\)"):
        symgrad.export(expression, tmp_path / "doc")


def test_path_must_be_a_path(expression):
    with pytest.raises(symgrad.UnknownNameError, match="needs a file path"):
        symgrad.export(expression, 42)  # type: ignore[arg-type]


def test_render_dispatches_to_each_format(expression):
    functions = {"latex": to_latex, "mathml": to_mathml, "markdown": to_markdown, "html": to_html, "json": to_json}
    assert set(functions) == set(FORMATS)
    for fmt, function in functions.items():
        assert render(expression, fmt) == function(expression)


def test_render_refuses_unknown_formats_options_and_objects(expression):
    with pytest.raises(symgrad.UnknownNameError, match="unknown format 'pdf'; the formats are latex, mathml"):
        render(expression, "pdf")
    with pytest.raises(symgrad.UnknownNameError, match="unknown option 'fragment' for latex"):
        to_latex(expression, fragment=True)
    with pytest.raises(symgrad.UnknownNameError, match="option check='yes' is not allowed"):
        to_html(expression, check="yes")
    with pytest.raises(symgrad.UnknownNameError, match="option seed=-1 is not allowed"):
        to_html(expression, seed=-1)
    with pytest.raises(symgrad.UnknownNameError, match="option seed=True is not allowed"):
        to_html(expression, seed=True)
    with pytest.raises(symgrad.UnknownNameError, match="option report=3 is not allowed"):
        to_html(expression, report=3)
    with pytest.raises(symgrad.UnknownNameError, match="can only render a Derivation or a CheckReport, got Network"):
        to_html(symgrad.article_network())


def test_the_same_document_twice_in_one_process(article):
    assert to_html(article) == to_html(article)


_SCRIPT = textwrap.dedent(
    """
    import sys
    import symgrad
    out = sys.argv[1]
    layers = [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)]
    net = symgrad.Network(layers, loss=symgrad.HalfSquaredError())
    for key, obj in [("article", symgrad.derive(symgrad.article_network())), ("batched", symgrad.derive(net)),
                     ("expression", symgrad.gradient("sigmoid(w*x)*exp(x) + relu(y)"))]:
        for suffix in (".html", ".tex", ".md", ".json", ".mml"):
            symgrad.export(obj, f"{out}/{key}{suffix}")
        if key == "batched":
            symgrad.export(symgrad.check(obj), f"{out}/report.json")
    """
)


def _export_in_a_fresh_process(folder: Path, hash_seed: str) -> dict[str, bytes]:
    folder.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-c", _SCRIPT, str(folder)], check=True, env=env, timeout=300)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_exports_are_byte_identical_across_processes(tmp_path):
    """No timestamps, ids, hash or dict order may leak into a document: two processes, two hash seeds."""
    first = _export_in_a_fresh_process(tmp_path / "one", "1")
    second = _export_in_a_fresh_process(tmp_path / "two", "2")
    assert len(first) == 16
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name
