"""The symbolic results kept on disk (symgrad/derive/artifacts.py): used when valid, never trusted otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import symgrad
from symgrad.check.points import sample_values
from symgrad.derive import artifacts
from symgrad.derive.artifacts import StoredDerivation, artifact_key, load_artifacts, store_artifacts
from symgrad.derive.derivation import Derivation
from symgrad.render.text import derivation_text

BATCHED = "affine(3,4) > sigmoid > affine(4,2) > softmax-cross-entropy"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache directory."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / artifacts.SUBDIRECTORY


def _store(network: symgrad.Network, **options: Any) -> Derivation:
    derivation = symgrad.derive(network, **options)
    assert store_artifacts(network, options.get("wrt"), options.get("kink", 0), derivation, derivation_text(derivation))
    return derivation


def _entry(cache: Path) -> Path:
    (path,) = cache.glob("*.json")
    return path


def _rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit an entry's payload and give it the checksum that matches: a well-formed entry, wrong inside."""
    document = json.loads(path.read_text())
    change(document["payload"])
    document["check"] = artifacts._checksum(document["key"], document["payload"])
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("spec", [None, BATCHED])
def test_a_stored_derivation_gives_back_its_text_and_the_same_gradients(cache: Path, spec: str | None) -> None:
    network = symgrad.article_network() if spec is None else symgrad.network_from_spec(spec)
    derivation = _store(network)
    stored = load_artifacts(network)
    assert isinstance(stored, StoredDerivation)
    assert stored.text == derivation_text(derivation)
    assert (stored.title, stored.wrt, stored.inputs, stored.batched) == (
        derivation.title, derivation.wrt, derivation.inputs, derivation.batched,
    )
    original, restored = derivation.lambdify(), stored.lambdify()
    assert restored.source == original.source
    assert restored.checked_source == original.checked_source
    assert (restored.checked_source is None) is (spec is None)
    point = sample_values(network, seed=3)
    expected, got = original.evaluate(point), restored.evaluate(point)
    assert got[0] == expected[0]
    for name in derivation.wrt:
        np.testing.assert_array_equal(got[1][name], expected[1][name])
    assert symgrad.check(stored).ok


def test_the_check_of_a_stored_derivation_equals_that_of_the_derivation(cache: Path) -> None:
    network = symgrad.network_from_spec(BATCHED)
    derivation = _store(network)
    stored = load_artifacts(network)
    assert stored is not None
    for mode in ("full", "fast"):
        assert str(symgrad.check(stored, mode=mode, seed=5)) == str(symgrad.check(derivation, mode=mode, seed=5))


def test_nothing_stored_reads_as_absent(cache: Path) -> None:
    assert load_artifacts(symgrad.article_network()) is None
    assert not cache.exists()


def test_the_key_follows_the_structure_and_the_options() -> None:
    article = artifact_key(symgrad.article_network())
    assert article == artifact_key(symgrad.article_network())
    spec = "affine(3,4) > sigmoid > affine(4,1) > half-squared-error"
    others = [
        artifact_key(symgrad.article_network(), kink=1),
        artifact_key(symgrad.article_network(), wrt=["w1"]),
        artifact_key(symgrad.Network([symgrad.Affine(name="1"), symgrad.Affine(name="2")],
                                     loss=symgrad.HalfSquaredError(), title="another title")),
        artifact_key(symgrad.Network([symgrad.Affine(name="1"), symgrad.Affine(name="3")],
                                     loss=symgrad.HalfSquaredError(), title="The article's network")),
        artifact_key(symgrad.network_from_spec(spec)),
        artifact_key(symgrad.network_from_spec(spec.replace("sigmoid", "tanh"))),
        artifact_key(symgrad.network_from_spec(spec.replace("(3,4)", "(3,5)").replace("(4,1)", "(5,1)"))),
    ]
    assert None not in others
    assert len({article, *others}) == len(others) + 1


def test_a_users_layer_class_is_never_stored(cache: Path) -> None:
    class MyAffine(symgrad.Affine):
        pass

    network = symgrad.Network([MyAffine(name="1")], loss=symgrad.HalfSquaredError())
    assert artifact_key(network) is None
    derivation = symgrad.derive(network)
    assert not store_artifacts(network, None, 0, derivation, derivation_text(derivation))
    assert load_artifacts(network) is None


@pytest.mark.parametrize("changed", ["_source_digest", "_sympy_version", "_numpy_version"])
def test_a_changed_source_or_version_misses(cache: Path, monkeypatch: pytest.MonkeyPatch, changed: str) -> None:
    network = symgrad.article_network()
    _store(network)
    assert load_artifacts(network) is not None
    monkeypatch.setattr(artifacts, changed, lambda: "something else")
    assert load_artifacts(network) is None


def test_the_source_digest_covers_every_module_of_symgrad(monkeypatch: pytest.MonkeyPatch) -> None:
    before = artifacts._source_digest()
    package = Path(symgrad.__file__).parent
    seen: list[Path] = []
    original = Path.read_bytes

    def recording(path: Path) -> bytes:
        seen.append(path)
        return original(path)

    monkeypatch.setattr(artifacts, "_digests", {})
    monkeypatch.setattr(Path, "read_bytes", recording)
    assert artifacts._source_digest() == before
    assert set(seen) == set(package.rglob("*.py"))
    assert package / "render" / "text.py" in seen
    assert package / "layers" / "affine.py" in seen


def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff\xfe not json")


def _truncated(path: Path) -> None:
    path.write_text(path.read_text()[:200])


def _bad_checksum(path: Path) -> None:
    document = json.loads(path.read_text())
    document["payload"]["text"] = document["payload"]["text"].replace("proven", "NOT proven", 1)
    path.write_text(json.dumps(document))


def _other_format(path: Path) -> None:
    document = json.loads(path.read_text())
    document["format"] = artifacts.FORMAT + 1
    path.write_text(json.dumps(document))


def _another_key(path: Path) -> None:
    document = json.loads(path.read_text())
    document["key"] = "0" * 64
    document["check"] = artifacts._checksum(document["key"], document["payload"])
    path.write_text(json.dumps(document))


def _missing_field(path: Path) -> None:
    _rewrite(path, lambda payload: payload.pop("wrt"))


def _wrong_names(path: Path) -> None:
    _rewrite(path, lambda payload: payload.update(inputs=["x", "t", "w1", "b1", "w2", "w3"]))


def _wrong_shape(path: Path) -> None:
    _rewrite(path, lambda payload: payload["shapes"].update(w1=[2]))


def _unknown_gradient(path: Path) -> None:
    _rewrite(path, lambda payload: payload.update(wrt=["w1", "W9"]))


def _not_python(path: Path) -> None:
    _rewrite(path, lambda payload: payload.update(source="def _gradient(:\n"))


def _no_function(path: Path) -> None:
    _rewrite(path, lambda payload: payload.update(source="gradient = None\n"))


def _a_kink_of_2(path: Path) -> None:
    _rewrite(path, lambda payload: payload.update(kink=2))


@pytest.mark.parametrize(
    "damage",
    [_garbage, _truncated, _bad_checksum, _other_format, _another_key, _missing_field, _wrong_names, _wrong_shape,
     _unknown_gradient, _not_python, _no_function, _a_kink_of_2],
)
def test_a_damaged_entry_reads_as_absent(cache: Path, damage: Callable[[Path], None]) -> None:
    network = symgrad.article_network()
    _store(network)
    damage(_entry(cache))
    assert load_artifacts(network) is None
    _store(network)  # written anew over the damaged one
    assert load_artifacts(network) is not None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_an_entry_others_may_write_is_not_read(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    network = symgrad.article_network()
    _store(network)
    path = _entry(cache)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o622)
    assert load_artifacts(network) is None
    path.chmod(0o644)
    assert load_artifacts(network) is not None
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # the file belongs to someone else
    assert load_artifacts(network) is None


def test_an_unproven_derivation_is_not_stored(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    network = symgrad.article_network()
    derivation = symgrad.derive(network)
    monkeypatch.setattr(Derivation, "verified", property(lambda self: False))
    assert not store_artifacts(network, None, 0, derivation, derivation_text(derivation))
    assert not cache.exists()


def test_an_unwritable_directory_keeps_nothing_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "cache"))
    network = symgrad.article_network()
    derivation = symgrad.derive(network)
    assert not store_artifacts(network, None, 0, derivation, derivation_text(derivation))
    assert load_artifacts(network) is None


def test_an_empty_cache_dir_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    network = symgrad.article_network()
    derivation = symgrad.derive(network)
    assert artifact_key(network) is not None
    assert not store_artifacts(network, None, 0, derivation, derivation_text(derivation))
    assert load_artifacts(network) is None
    assert list(tmp_path.iterdir()) == []


def test_the_oldest_entries_go_beyond_the_limit(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "MAX_ENTRIES", 2)
    networks = [symgrad.network_from_spec(f"affine(2,{n}) > half-squared-error") for n in (1, 2, 3)]
    for age, network in enumerate(networks):
        _store(network)
        for path in cache.glob("*.json"):  # older files look older, whatever the clock's resolution
            stamp = path.stat().st_mtime - 10 * (len(networks) - age)
            os.utime(path, (stamp, stamp))
    assert len(list(cache.glob("*.json"))) == 2
    assert [load_artifacts(network) is not None for network in networks] == [False, True, True]


def test_the_command_path_imports_no_sympy() -> None:
    code = (
        "import sys, symgrad.cli, symgrad.network, symgrad.layers, symgrad.check.report, symgrad.numeric.staged, "
        "symgrad.render.reporttext, symgrad.derive.artifacts, symgrad.derive.derivation\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'mpmath')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


def test_a_stored_derivation_s_repr_names_its_title_and_gradients(cache: Path) -> None:
    network = symgrad.article_network()
    _store(network)
    assert repr(load_artifacts(network)) == "<StoredDerivation \"The article's network\": dE/d{w1, b1, w2, b2, x}>"


def test_an_entry_over_4_mb_is_not_read_even_when_it_parses(cache: Path) -> None:
    network = symgrad.article_network()
    _store(network)
    path = _entry(cache)
    text = path.read_text()
    path.write_text(text + " " * (4_000_000 - len(text.encode())))  # 4,000,000 bytes: read
    assert load_artifacts(network) is not None
    path.write_text(text + " " * (4_000_001 - len(text.encode())))  # one byte more: refused unread
    assert load_artifacts(network) is None


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no O_NOFOLLOW on this platform")
def test_an_entry_that_is_a_symbolic_link_is_not_followed(cache: Path) -> None:
    network = symgrad.article_network()
    _store(network)
    path = _entry(cache)
    target = path.with_name("elsewhere.data")
    path.rename(target)
    path.symlink_to(target)
    assert load_artifacts(network) is None


def test_sympy_s_version_read_from_its_release_file_is_the_imported_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # the key must not change with whether SymPy was imported yet (the command path does not import it)
    import sympy

    monkeypatch.setattr(artifacts, "_digests", {})
    monkeypatch.delitem(sys.modules, "sympy")
    assert artifacts._sympy_version() == sympy.__version__
