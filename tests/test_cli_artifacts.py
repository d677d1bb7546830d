"""``symgrad`` with no arguments and its symbolic results on disk (symgrad/cli.py, symgrad/derive/artifacts.py).

A hit prints exactly what a miss prints, runs the check for real, and loads no SymPy.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import symgrad
from symgrad import cli
from symgrad.check import report as check_report
from symgrad.derive import artifacts


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / artifacts.SUBDIRECTORY


def run() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _no_symbolic_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make deriving fail loudly, and count the calls of the command's full path."""
    calls: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("derived although the symbolic results were on disk")

    original = cli._default_derived

    def counting(*args: Any) -> int:
        calls.append("full path")
        return original(*args)

    monkeypatch.setattr(check_report, "cached_derivation", refuse)
    monkeypatch.setattr(check_report, "_derive", refuse)
    monkeypatch.setattr(cli, "_default_derived", counting)
    return calls


def test_a_hit_prints_byte_for_byte_what_a_miss_prints(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    assert first[0] == 0
    assert "Three-way check of The article's network: all 5 gradients agree" in first[1]
    assert len(list(cache.glob("*.json"))) == 1
    with monkeypatch.context() as patch:
        calls = _no_symbolic_work(patch)
        second = run()
    assert calls == []
    assert second == first
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    assert run() == first  # and what the command prints with no cache at all


def test_a_hit_checks_for_real_a_wrong_stored_gradient_is_caught(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    (path,) = cache.glob("*.json")
    document = json.loads(path.read_text())
    good = document["payload"]["source"]
    (returned,) = re.findall(r"'w1': (v\d+)", good)  # the staged variable that w1's gradient is returned from
    document["payload"]["source"] = good.replace(f"'w1': {returned}", f"'w1': 2*{returned}")  # well-formed, wrong
    document["check"] = artifacts._checksum(document["key"], document["payload"])
    path.write_text(json.dumps(document))
    stored = artifacts.load_artifacts(symgrad.article_network())
    assert stored is not None
    bad = symgrad.check(stored)
    assert [row.name for row in bad.failures] == ["w1"]  # the check ran on the stored code, and failed
    calls: list[str] = []
    original = cli._default_derived
    monkeypatch.setattr(cli, "_default_derived", lambda *args: calls.append("full") or original(*args))
    assert run() == first  # the full path decided, and printed what a first run prints
    assert calls == ["full"]
    assert json.loads(path.read_text())["payload"]["source"] == good  # and the entry was written anew


def test_a_failing_check_prints_what_it_prints_without_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run()  # the entry is on disk
    monkeypatch.setattr(symgrad.Affine, "backward", _backward_without_transpose_sign)
    failing = run()
    assert failing[0] == 1
    assert "FAIL" in failing[1]
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    assert run() == failing


def _backward_without_transpose_sign(self: symgrad.Affine, dout: np.ndarray) -> np.ndarray:
    self.dW = -np.dot(np.transpose(self.x), dout)  # a sign error
    self.db = dout
    return np.dot(dout, np.transpose(self.W))  # type: ignore[no-any-return]


def test_an_error_on_the_hit_path_leaves_the_decision_to_the_full_path(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run()
    calls: list[str] = []
    original = cli._default_derived
    monkeypatch.setattr(cli, "_default_derived", lambda *args: calls.append("full") or original(*args))
    monkeypatch.setattr(artifacts.StoredDerivation, "lambdify", _broken)
    assert run() == first
    assert calls == ["full"]


def _broken(self: Any) -> Any:
    raise RuntimeError("stored code that breaks")


_CHILD = """
import io, json, sys
import symgrad.cli
out, err = io.StringIO(), io.StringIO()
code = symgrad.cli.main([], stdout=out, stderr=err)
sympy = sorted(m for m in sys.modules if m.split('.')[0] == 'sympy')
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "sympy": bool(sympy),
                  "file": symgrad.__file__}))
"""


def _child(cache: Path, package_parent: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(cache)}
    if package_parent is not None:
        env["PYTHONPATH"] = str(package_parent)
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True,
                          cwd=package_parent)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_fresh_processes_a_hit_loads_no_sympy_and_an_edited_source_misses(tmp_path: Path) -> None:
    # A copy of the package, so that a source file can be edited as a developer would.
    copy = tmp_path / "copy"
    shutil.copytree(Path(symgrad.__file__).parent, copy / "symgrad", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    miss = _child(cache, copy)
    assert miss["file"] == str(copy / "symgrad" / "__init__.py")
    assert miss["code"] == 0
    assert miss["sympy"]
    hit = _child(cache, copy)
    assert not hit["sympy"]
    assert (hit["code"], hit["out"], hit["err"]) == (miss["code"], miss["out"], miss["err"])
    # An edit anywhere in symgrad (here a comment in a renderer) is a new key: derived again, then kept.
    text = copy / "symgrad" / "render" / "text.py"
    text.write_text(text.read_text() + "\n# edited\n")
    edited = _child(cache, copy)
    assert edited["sympy"]
    assert edited["out"] == miss["out"]
    assert not _child(cache, copy)["sympy"]
    assert len(list((cache / artifacts.SUBDIRECTORY).glob("*.json"))) == 2
