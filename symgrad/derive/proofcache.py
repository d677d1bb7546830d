"""The verdicts of the matrix-rule proofs, kept on disk so that they are paid once per installation.

Proving a layer type's matrix rule entrywise against ``sympy.diff`` (see
:func:`symgrad.derive.verify.prove_matrix_rule`) takes tens of milliseconds per
rule, which every new process used to pay on its first derivation. Each verdict
is stored in ``proofs.json`` in symgrad's cache directory under a key that hashes
everything the proof reads: symgrad's and SymPy's versions, the kink setting,
the source files of :mod:`symgrad.derive.verify`, :mod:`symgrad.functions`,
:mod:`symgrad.matrixexpr` and the index engine (:mod:`symgrad.index`), the source file of every class the layer type is
built from, and the source of each rule method the type actually resolves
(``matrix_vjp``, ``matrix_grad``, ``index_forward``, ...; a method patched onto the class counts
with its own source). Edit any of them and the key changes, so the rule is
proven again; nothing else invalidates an entry.

Only symgrad's own layer types are stored: a user's class may depend on state
its source does not show (a closure, a module-level setting). Each entry
carries a checksum of its key and verdict; a file that does not parse, an entry
of the wrong form or a wrong checksum is ignored, never read as "proven".

The directory is ``$SYMGRAD_CACHE_DIR`` when set (an empty value turns the disk
cache off), else ``$XDG_CACHE_HOME/symgrad``, else ``~/.cache/symgrad``. When it
cannot be created or written, verdicts stay in memory for the process, silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "fingerprint", "load_verdict", "module_hash", "store_verdict", "write_atomically"]

#: The file, inside :func:`cache_dir`, that holds the proof verdicts.
FILENAME = "proofs.json"
#: Bumped when the file's layout changes; files of another format are ignored.
FORMAT = 1
#: Methods a proof calls on a layer type: their resolved sources are part of the key.
RULE_METHODS = (
    "__init__", "matrix_forward", "matrix_vjp", "matrix_loss", "matrix_grad", "param_shapes", "output_features",
    "index_forward", "index_loss", "tensor_forward",
)
#: Modules every proof depends on, whatever the layer (the index engine derives the default rules).
_PROOF_MODULES = (
    "symgrad.derive.verify", "symgrad.functions", "symgrad.matrixexpr", "symgrad.index.ir",
    "symgrad.index.differentiate", "symgrad.index.contract", "symgrad.index.vectorise", "symgrad.index.rules",
    "symgrad.derive.indexproof", "symgrad.index.reduce", "symgrad.index.tensorform", "symgrad.derive.tensorproof",
    "symgrad.layers.tensorforms",
)

_files: dict[str, str | None] = {}  # module name -> sha256 of its source file (None: no file)
_memory: dict[str, Any] = {"path": None, "entries": {}}  # the file read in this process, and its entries


def cache_dir() -> Path | None:
    """symgrad's cache directory, or None when the disk cache is turned off.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.get("SYMGRAD_CACHE_DIR")
    >>> os.environ["SYMGRAD_CACHE_DIR"] = "/tmp/symgrad-elsewhere"
    >>> cache_dir().as_posix()
    '/tmp/symgrad-elsewhere'
    >>> os.environ["SYMGRAD_CACHE_DIR"] = ""  # off: verdicts stay in memory
    >>> cache_dir() is None
    True
    >>> os.environ.pop("SYMGRAD_CACHE_DIR") if saved is None else os.environ.update(SYMGRAD_CACHE_DIR=saved)
    """
    explicit = os.environ.get("SYMGRAD_CACHE_DIR")
    if explicit is not None:
        return Path(explicit) if explicit else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


def _module_hash(module_name: str) -> str | None:
    if module_name not in _files:
        module = sys.modules.get(module_name)
        path = getattr(module, "__file__", None)
        try:
            _files[module_name] = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
        except OSError:
            _files[module_name] = None
    return _files[module_name]


def module_hash(module_name: str) -> str | None:
    """The sha256 of a loaded module's source file (None: not loaded, or no file)."""
    return _module_hash(module_name)


def fingerprint(kind: Any, kink: Any) -> str | None:
    """The key of a layer type's proof verdict, or None when it may not be stored on disk.

    Examples
    --------
    >>> from symgrad.layers import Affine, Sigmoid
    >>> len(fingerprint(Affine, 0)), fingerprint(Affine, 0) == fingerprint(Sigmoid, 0)
    (64, False)
    >>> fingerprint(Affine, 0) == fingerprint(Affine, 1)
    False
    """
    import importlib

    import sympy

    import symgrad

    for name in _PROOF_MODULES:  # hashed below: a module not yet imported would make every key None
        importlib.import_module(name)

    parts = [f"symgrad {symgrad.__version__}", f"sympy {sympy.__version__}", f"kink {kink}",
             f"{kind.__module__}.{kind.__qualname__}", repr(getattr(kind, "roles", None)),
             repr(getattr(kind, "kind", None))]
    classes = [cls for cls in kind.__mro__ if cls is not object]
    modules = [*_PROOF_MODULES, *(cls.__module__ for cls in classes)]
    for name in RULE_METHODS:
        method = getattr(kind, name, None)
        function = getattr(method, "__func__", method)
        if function is None or function is object.__init__:
            continue
        # A closure's behaviour depends on values its source does not show (super() is the one exception).
        if not inspect.isfunction(function) or function.__code__.co_freevars not in ((), ("__class__",)):
            return None
        try:
            parts.append(f"{name}: {inspect.getsource(function)}")
        except (OSError, TypeError):
            return None
        modules.append(function.__module__)
    if not all(module == "symgrad" or module.startswith("symgrad.") for module in modules):
        return None
    for module in dict.fromkeys(modules):
        digest = _module_hash(module)
        if digest is None:
            return None
        parts.append(f"{module} {digest}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _checksum(key: str, ok: bool, how: str) -> str:
    return hashlib.sha256(json.dumps([key, ok, how]).encode()).hexdigest()[:16]


def _read(path: Path) -> dict[str, dict[str, Any]]:
    """The valid entries of the file at ``path``; anything unreadable or malformed counts as absent."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    entries = document.get("entries")
    if not isinstance(entries, dict):
        return {}
    valid = {}
    for key, entry in entries.items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("ok"), bool)
            and isinstance(entry.get("how"), str)
            and entry.get("check") == _checksum(key, entry["ok"], entry["how"])
        ):
            valid[key] = entry
    return valid


def _file() -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / FILENAME


def load_verdict(key: str) -> tuple[bool, str] | None:
    """(proven, how) stored under ``key``, or None."""
    path = _file()
    if path is None:
        return None
    if _memory["path"] != path:  # read once per process (again if the directory changes)
        _memory.update(path=path, entries=_read(path))
    entry = _memory["entries"].get(key)
    return None if entry is None else (entry["ok"], entry["how"])


def store_verdict(key: str, ok: bool, how: str) -> None:
    """Add a verdict to the file (merged with what other processes wrote); silent when it cannot be written."""
    path = _file()
    if path is None:
        return
    entry = {"ok": ok, "how": how, "check": _checksum(key, ok, how)}
    if _memory["path"] == path:
        _memory["entries"][key] = entry
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = {**_read(path), key: entry}
        text = json.dumps({"format": FORMAT, "entries": entries}, indent=1, sort_keys=True) + "\n"
        write_atomically(path, text)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` (mode 0600) and rename it over ``path``.

    A reader sees the old file or the new one, never half of either.
    """
    import tempfile  # only when something is written

    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
