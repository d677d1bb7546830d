"""The proof verdicts kept on disk (symgrad/derive/proofcache.py): used when valid, never trusted otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sympy as sp

import symgrad
from symgrad.derive import indexproof, proofcache, verify
from symgrad.layers import Sigmoid
from symgrad.matrixexpr import Elementwise


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache directory, and no verdict remembered in this process."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    _forget()
    yield tmp_path / "cache" / proofcache.FILENAME
    _forget()


def _forget() -> None:
    verify._prove_cached.cache_clear()
    indexproof.proven_steps.cache_clear()
    getattr(indexproof.prove_index_steps, "cache_clear", lambda: None)()  # a test may have replaced it


def _rule_entries(cache: Path) -> list[dict[str, object]]:
    """The matrix rules' verdicts (the index steps' verdicts, a JSON list per rule, are stored beside them)."""
    entries = json.loads(cache.read_text())["entries"].values()
    return [entry for entry in entries if not entry["how"].startswith("[")]


def _network(title: str = "proof cache") -> symgrad.Network:
    return symgrad.Network([symgrad.Affine(3, 2), symgrad.Sigmoid()], loss=symgrad.HalfSquaredError(), title=title)


def _proofs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the layer types proven from here on."""
    proven: list[str] = []
    original = verify.prove_matrix_rule

    def counting(kind, kink=0):
        proven.append(kind.__name__)
        return original(kind, kink)

    monkeypatch.setattr(verify, "prove_matrix_rule", counting)
    return proven


def _wrong_sigmoid_rule(self, upstream, x, params, *, kink=0):
    # Forgets the local derivative: the upstream gradient passes straight through.
    return {"input": upstream}


def test_a_verdict_is_proven_once_and_then_read_from_disk(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proven = _proofs(monkeypatch)
    assert symgrad.derive(_network()).verified
    assert sorted(proven) == ["Affine", "HalfSquaredError", "Sigmoid"]
    entries = json.loads(cache.read_text())["entries"]
    # Three matrix rules, and the index-level steps of four derived rules (Affine's W, b, x; the loss's y).
    assert len(entries) == 3 + 4
    assert all(entry["ok"] for entry in entries.values())
    _forget()  # as in a new process
    verify.proofcache._memory.update(path=None, entries={})  # the module verify uses (doctests import their own)
    index_proofs: list[object] = []
    monkeypatch.setattr(indexproof, "prove_index_steps", index_proofs.append)
    assert symgrad.derive(_network()).verified
    assert len(proven) == 3  # nothing proven again
    assert index_proofs == []


def test_a_mutated_rule_is_proven_again_and_reported_unproven(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert symgrad.derive(_network()).verified  # the correct rule's verdict is now on disk
    proven = _proofs(monkeypatch)
    # As if activations.py itself had been edited: the wrong rule claims to live there.
    monkeypatch.setattr(_wrong_sigmoid_rule, "__module__", "symgrad.layers.activations")
    monkeypatch.setattr(Sigmoid, "matrix_vjp", _wrong_sigmoid_rule)
    derivation = symgrad.derive(_network("mutated"))
    assert proven == ["Sigmoid"]
    assert not derivation.verified
    wrong = [step for step in derivation.steps("W1") if "Sigmoid rule for input disagrees" in step.proof]
    assert wrong
    assert not any(step.verified for step in wrong)
    assert sorted(entry["ok"] for entry in _rule_entries(cache)) == [False, True, True, True]


def test_a_user_layer_type_is_kept_in_memory_only(cache: Path) -> None:
    class MySigmoid(Sigmoid):
        pass

    assert proofcache.fingerprint(MySigmoid, 0) is None
    network = symgrad.Network([symgrad.Affine(3, 2), MySigmoid()], loss=symgrad.HalfSquaredError())
    assert symgrad.derive(network).verified
    assert len(_rule_entries(cache)) == 2  # Affine and the loss, not MySigmoid


def test_a_closure_rule_is_kept_in_memory_only(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    factor = sp.Integer(1)

    def scaled_rule(self, upstream, x, params, *, kink=0):
        return {"input": factor * sp.HadamardProduct(upstream, Elementwise(sp.Symbol("zeta"), x))}

    monkeypatch.setattr(scaled_rule, "__module__", "symgrad.layers.activations")
    monkeypatch.setattr(Sigmoid, "matrix_vjp", scaled_rule)
    assert proofcache.fingerprint(Sigmoid, 0) is None


@pytest.mark.parametrize(
    "content",
    [
        "not json at all {",
        '{"format": 1, "entries": []}',
        '{"format": 999, "entries": {}}',
        '["a list"]',
        "",
    ],
)
def test_a_corrupted_file_is_ignored_and_rewritten(cache: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    proven = _proofs(monkeypatch)
    assert symgrad.derive(_network()).verified
    assert len(proven) == 3
    assert len(_rule_entries(cache)) == 3


def test_a_tampered_verdict_is_not_trusted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wrong_sigmoid_rule, "__module__", "symgrad.layers.activations")
    monkeypatch.setattr(Sigmoid, "matrix_vjp", _wrong_sigmoid_rule)
    assert not symgrad.derive(_network()).verified
    document = json.loads(cache.read_text())
    flipped = 0
    for entry in document["entries"].values():
        if not entry["ok"]:
            entry["ok"], entry["how"] = True, "Sigmoid rule proven entrywise against sympy.diff"
            flipped += 1
    assert flipped == 1
    cache.write_text(json.dumps(document))
    verify._prove_cached.cache_clear()
    verify.proofcache._memory.update(path=None, entries={})  # the module verify uses (doctests import their own)
    proven = _proofs(monkeypatch)
    assert not symgrad.derive(_network("again")).verified  # the checksum no longer matches: proven again
    assert proven == ["Sigmoid"]


def test_an_unwritable_cache_directory_is_silently_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "cache"))
    verify._prove_cached.cache_clear()
    try:
        assert symgrad.derive(_network()).verified
        assert not (blocker / "cache").exists()
    finally:
        verify._prove_cached.cache_clear()


def test_the_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SYMGRAD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert proofcache.cache_dir() == tmp_path / "symgrad"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert proofcache.cache_dir() == tmp_path / "home" / ".cache" / "symgrad"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    assert proofcache.cache_dir() is None


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


def test_verdicts_stored_one_after_another_are_all_kept_and_read_back(cache: Path) -> None:
    # the directory exists after the first: the second is written into it (and remembered in memory)
    assert proofcache.load_verdict("a" * 64) is None  # this process has now read the (absent) file
    proofcache.store_verdict("a" * 64, True, "first proof")
    proofcache.store_verdict("b" * 64, False, "second proof")
    assert proofcache.load_verdict("b" * 64) == (False, "second proof")
    entries = json.loads(cache.read_text())["entries"]
    assert sorted(entries) == ["a" * 64, "b" * 64]
    proofcache._memory.update(path=None, entries={})  # as in a new process
    assert proofcache.load_verdict("a" * 64) == (True, "first proof")


def test_a_cache_directory_several_levels_deep_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "not" / "yet" / "there"))
    monkeypatch.setattr(proofcache, "_memory", {"path": None, "entries": {}})
    proofcache.store_verdict("c" * 64, True, "a proof")
    assert (tmp_path / "not" / "yet" / "there" / proofcache.FILENAME).exists()


def test_verdicts_are_stored_in_a_process_that_never_imported_the_nd_modules(tmp_path: Path) -> None:
    # Regression: fingerprint() hashed the modules of _PROOF_MODULES only when already imported, so in a
    # fresh process deriving a dense network (which never imports derive/tensorproof.py or
    # layers/tensorforms.py) every key was None and nothing was ever stored on disk. (~3 s: a new interpreter.)
    import os
    import subprocess
    import sys

    script = (
        "import symgrad\n"
        "net = symgrad.Network([symgrad.Affine(3, 2), symgrad.Sigmoid()], loss=symgrad.HalfSquaredError())\n"
        "assert symgrad.derive(net).verified\n"
    )
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    entries = json.loads((tmp_path / "cache" / proofcache.FILENAME).read_text())["entries"]
    assert len(entries) >= 3
    assert all(entry["ok"] for entry in entries.values())
