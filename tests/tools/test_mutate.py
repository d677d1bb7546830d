"""tools/mutate.py: which mutants it makes, and that it never leaves one behind."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("symgrad_tools_mutate", ROOT / "tools" / "mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


mutate = _load()

SOURCE = '''"""A docstring with 1 + 2 in it."""
__all__ = ["f"]


def f(x: int = 0, *, flag: bool = True) -> int:
    """Also not mutated: 3 < 4."""
    if x < 2 and not flag:
        raise ValueError(f"bad {x + 1}")
    assert x >= 0
    y: list[int] = [x * 3]
    y[0] += 1
    return -y[0]
'''


def _changes(source):
    return [(m.line, m.change) for m in mutate.generate(source, "pkg/mod.py")]


def test_generates_the_expected_single_token_mutants_in_source_order():
    assert _changes(SOURCE) == [
        (5, "0 -> 1"),
        (5, "True -> False"),
        (7, "x < 2 and not flag -> x < 2 or not flag"),
        (7, "x < 2 -> x <= 2"),
        (7, "2 -> 3"),
        (7, "not flag -> flag"),
        (10, "x * 3 -> x / 3"),
        (10, "3 -> 4"),
        (11, "y[0] += 1 -> y[0] -= 1"),
        (11, "0 -> 1"),
        (11, "1 -> 0"),
        (12, "return -y[0] -> return None"),
        (12, "-y[0] -> y[0]"),
        (12, "0 -> 1"),
    ]


def test_typing_overload_stubs_are_left_alone():
    source = "import typing\n\n@typing.overload\ndef f(x: int = 0) -> int: ...\ndef f(x=1):\n    return x\n"
    assert [(m.line, m.change) for m in mutate.generate(source)] == [(5, "1 -> 0"), (6, "return x -> return None")]


def test_docstrings_all_annotations_messages_and_asserts_are_left_alone():
    lines = {line for line, _ in _changes(SOURCE)}
    assert lines.isdisjoint({1, 2, 6, 8, 9})  # docstring, __all__, docstring, raise with f-string, assert
    assert not any("int" in change or "list" in change for _, change in _changes(SOURCE))


def test_each_mutant_is_the_original_with_one_change_that_parses():
    original = ast.dump(ast.parse(SOURCE))
    mutants = mutate.generate(SOURCE, "pkg/mod.py")
    assert len({m.source for m in mutants}) == len(mutants)
    for m in mutants:
        assert ast.dump(ast.parse(m.source)) != original
        before, after = SOURCE.splitlines(), m.source.splitlines()
        assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [m.line - 1]


def test_operator_swaps_keep_precedence_by_parenthesising():
    (mutant,) = [m for m in mutate.generate("def g(a, b, c):\n    return a - b * c\n") if m.change == "b * c -> b / c"]
    assert "a - (b / c)" in mutant.source
    (mutant,) = [m for m in mutate.generate("def g(a, b, c):\n    return a - b * c\n") if m.change.startswith("a -")]
    assert mutant.change == "a - b * c -> a + b * c"


def test_non_ascii_text_does_not_shift_the_change():
    source = 'def g(x):\n    s = "σ²"; return x < 1\n'
    mutated = {m.change: m.source for m in mutate.generate(source)}
    assert mutated["x < 1 -> x <= 1"] == 'def g(x):\n    s = "σ²"; return (x <= 1)\n'


def test_the_same_change_twice_in_a_scope_is_numbered_in_the_key():
    keys = [m.key for m in mutate.generate("def g(a):\n    return a[0] + a[0]\n", "pkg/mod.py")]
    assert keys == ["pkg/mod.py::g: return a[0] + a[0] -> return None", "pkg/mod.py::g: a[0] + a[0] -> a[0] - a[0]",
                    "pkg/mod.py::g: 0 -> 1", "pkg/mod.py::g: 0 -> 1 #2"]


def test_sample_is_deterministic_per_file_and_sorted():
    mutants = mutate.generate(SOURCE, "pkg/mod.py")
    first, second = mutate.sample(mutants, 5, seed=0), mutate.sample(list(mutants), 5, seed=0)
    assert first == second
    assert len(first) == 5
    assert first == sorted(first, key=lambda m: (m.line, m.col))
    assert mutate.sample(mutants, 5, seed=1) != first
    assert mutate.sample(mutants, 0, seed=0) == mutants


def test_mirror_tests_are_the_module_doctests_and_its_test_files_else_its_package_tests():
    assert mutate.mirror_tests("symgrad/numeric/compile.py", ROOT) == [
        "tests/numeric/test_compile.py",
        "tests/numeric/test_compile_fast_path.py",
        "symgrad/numeric/compile.py",
    ]
    assert mutate.mirror_tests("symgrad/layers/affine.py", ROOT) == ["tests/layers", "symgrad/layers/affine.py"]
    assert mutate.mirror_tests("symgrad/nonexistent.py", ROOT) == []


def _tree(tmp_path):
    (tmp_path / "pkg").mkdir()
    target = tmp_path / "pkg" / "mod.py"
    target.write_text(SOURCE, encoding="utf-8")
    return target, mutate.generate(SOURCE, "pkg/mod.py")[2]


def test_runner_puts_the_mutant_in_place_and_restores_the_file(tmp_path, monkeypatch):
    target, mutant = _tree(tmp_path)
    seen = []

    def fake_pytest(args, cwd, timeout):
        seen.append(target.read_text(encoding="utf-8"))
        return 1, "FAILED tests/test_x.py::test_y"

    monkeypatch.setattr(mutate, "_run_pytest", fake_pytest)
    outcome = mutate.Runner(tmp_path, ()).run(mutant, tmp_path, {})
    assert (outcome.status, outcome.tier, outcome.killer) == ("killed", "all", "FAILED tests/test_x.py::test_y")
    assert seen == [mutant.source]
    assert target.read_text(encoding="utf-8") == SOURCE


@pytest.mark.parametrize(("code", "status"), [(0, "survived"), (None, "timeout"), (2, "killed")])
def test_runner_reads_pytest_exit_status(tmp_path, monkeypatch, code, status):
    _, mutant = _tree(tmp_path)
    monkeypatch.setattr(mutate, "_run_pytest", lambda args, cwd, timeout: (code, ""))
    assert mutate.Runner(tmp_path, ()).run(mutant, tmp_path, {}).status == status


def test_runner_restores_the_file_when_interrupted(tmp_path, monkeypatch):
    target, mutant = _tree(tmp_path)

    def interrupted(args, cwd, timeout):
        raise KeyboardInterrupt

    monkeypatch.setattr(mutate, "_run_pytest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mutate.Runner(tmp_path, ()).run(mutant, tmp_path, {})
    assert target.read_text(encoding="utf-8") == SOURCE


def test_copy_leaves_out_vcs_data_and_caches(tmp_path):
    root = tmp_path / "root"
    for name in ("pkg/mod.py", ".git/HEAD", ".venv/bin/python", "pkg/__pycache__/mod.pyc"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x", encoding="utf-8")
    workdir = mutate.make_copy(root, tmp_path / "copy")
    assert sorted(p.relative_to(workdir).as_posix() for p in workdir.rglob("*") if p.is_file()) == ["pkg/mod.py"]


def test_score_leaves_out_mutants_judged_equivalent():
    mutants = mutate.generate(SOURCE, "pkg/sub/mod.py")[:4]
    outcomes = [mutate.Outcome("killed", "mirror", 1.0), mutate.Outcome("timeout", "all", 1.0),
                mutate.Outcome("survived", "", 1.0), mutate.Outcome("survived", "", 1.0)]
    results = dict(zip(mutants, outcomes, strict=True))
    row = mutate.summarize(results, {mutants[3].key: "same behaviour"})["pkg/sub"]
    assert (row["mutants"], row["killed"], row["timeout"], row["survived"], row["equivalent"]) == (4, 2, 1, 1, 1)
    assert row["score"] == pytest.approx(100 * 2 / 3)
    text = mutate.report(results, {mutants[3].key: "same behaviour"})
    assert f"pkg/sub/mod.py:{mutants[2].line}: {mutants[2].change}" in text
    assert "same behaviour" in text


def test_equivalent_list_is_read_by_key(tmp_path):
    listing = tmp_path / "eq.txt"
    listing.write_text("# comment\n\npkg/mod.py::f: 1 -> 0  # a cache size\n", encoding="utf-8")
    assert mutate.read_equivalent(listing) == {"pkg/mod.py::f: 1 -> 0": "a cache size"}


def test_mirror_tests_are_looked_up_in_the_copy_the_mutant_runs_in(tmp_path, monkeypatch):
    """Regression (bug: the tiers were found in the working tree, so a test file added there during a run,
    absent from the copies, made pytest exit 4 and the whole run stop)."""
    root, copy = tmp_path / "root", tmp_path / "copy"
    for tree in (root, copy):
        (tree / "symgrad" / "pkg").mkdir(parents=True)
        (tree / "symgrad" / "pkg" / "mod.py").write_text(SOURCE, encoding="utf-8")
        (tree / "tests" / "pkg").mkdir(parents=True)
        (tree / "tests" / "pkg" / "test_mod.py").write_text("", encoding="utf-8")
    (root / "tests" / "pkg" / "test_mod_new.py").write_text("", encoding="utf-8")  # added after the copy
    mutant = mutate.generate(SOURCE, "symgrad/pkg/mod.py")[0]
    seen = []
    monkeypatch.setattr(mutate, "_run_pytest", lambda args, cwd, timeout: (seen.append(list(args)), (0, ""))[1])
    assert mutate.Runner(root, None).run(mutant, copy, {}).status == "survived"
    assert seen == [["tests/pkg/test_mod.py", "symgrad/pkg/mod.py"]]
