"""A network's symbolic results, kept on disk so that the ``symgrad`` command runs without SymPy.

``symgrad`` with no arguments prints the article network's derivation, then
checks its gradients three ways. Importing SymPy alone takes most of the time
that command may take, and everything symbolic in it is deterministic. So the
symbolic results are kept, one JSON file per network structure and options,
in ``derivations/`` under symgrad's cache directory
(:func:`symgrad.derive.proofcache.cache_dir`):

* the derivation as the command prints it, each step with its proof verdict;
* the NumPy source generated for the compiled gradient (and, for a batched
  network, its checked variant): the code ``lambdify()`` runs;
* the names and shapes that gradient takes and returns.

The check itself is never kept: on a hit the compiled gradient is rebuilt from
its source (:func:`symgrad.numeric.staged.compiled_from_source`) and compared,
at a fresh point, with the layers' own ``backward()`` and finite differences.

An entry's key hashes everything its contents depend on: the source of every
module of symgrad (every ``.py`` file of the installed package, so any edit
misses), SymPy's version (read from its release file, not imported), NumPy's
and Python's versions, the network's structure (title, each layer's type,
sizes and name, the loss) and the options (``wrt``, ``kink``). Only networks
of symgrad's own layers are kept (a user's class may hold more than its sizes
say), and only derivations whose every step was proven.

An entry is used only when its file belongs to the user and nobody else may
write it (it holds code that is run), parses, carries this format and its own
key, matches its checksum, and agrees with the network (names, shapes,
batching). Anything else reads as absent: the caller derives again and writes
the entry anew. A directory that cannot be written keeps nothing, silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symgrad.derive.proofcache import cache_dir, write_atomically

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation
    from symgrad.network import Network
    from symgrad.numeric.staged import CompiledGradient

__all__ = ["StoredDerivation", "artifact_key", "load_artifacts", "store_artifacts"]

#: Bumped when an entry's layout changes; entries of another format are ignored.
FORMAT = 1
#: The subdirectory of the cache directory that holds the entries, one file each.
SUBDIRECTORY = "derivations"
#: Entries kept at most; the least recently written go first.
MAX_ENTRIES = 32
#: A larger file is not read (the article network's entry is about 3 kB).
MAX_BYTES = 4_000_000

_digests: dict[str, str | None] = {}  # "symgrad": hash of its sources; "sympy-file": the version in its release file


@dataclass(frozen=True, eq=False)
class StoredDerivation:
    """What the command needs of a derivation, restored from disk: its text and its compiled gradient.

    It holds no SymPy expression. :func:`symgrad.check` takes it as it takes a
    :class:`~symgrad.derive.derivation.Derivation`: ``lambdify()`` gives the
    compiled gradient, rebuilt from its generated source.

    Attributes
    ----------
    title, wrt, inputs, batched, kink, network
        As in :class:`~symgrad.derive.derivation.Derivation` (``kink`` as a float).
    shapes : mapping
        Each input's shape, the batch size N as None.
    text : str
        The derivation as :func:`symgrad.render.text.derivation_text` printed it.
    source, checked_source : str, str or None
        The generated gradient code (see :mod:`symgrad.numeric.compile`).
    """

    title: str
    network: Network
    wrt: tuple[str, ...]
    inputs: tuple[str, ...]
    shapes: Mapping[str, tuple[int | None, ...]]
    batched: bool
    kink: float
    text: str
    source: str
    checked_source: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verified(self) -> bool:
        """Always True: only derivations whose every step was proven are stored."""
        return True

    def lambdify(self) -> CompiledGradient:
        """The compiled gradient, built from its stored source once."""
        if "gradient" not in self._cache:
            from symgrad.numeric.staged import GradientSignature, compiled_from_source  # upper floor, on use

            signature = GradientSignature(self.inputs, self.wrt, self.shapes, self.batched)
            self._cache["gradient"] = compiled_from_source(signature, self.source, self.checked_source)
        return self._cache["gradient"]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<StoredDerivation {self.title!r}: dE/d{{{', '.join(self.wrt)}}}>"


def artifact_key(network: Network, wrt: Sequence[str] | None = None, kink: Any = 0) -> str | None:
    """The key of ``network``'s entry for these options, or None when it may not be stored.

    Parameters
    ----------
    network : Network
        The network; only a ``Network`` of symgrad's own layer types has a key.
    wrt, kink
        The options it is derived with, as given to :func:`symgrad.derive`.

    Returns
    -------
    str or None
        A sha256 hex digest (see the module's docstring for what it covers), or
        None when an entry may not be kept (a user's layer class, an unreadable
        source file of symgrad, SymPy's version not found).

    Examples
    --------
    >>> from symgrad.network import article_network, network_from_spec
    >>> len(artifact_key(article_network()))
    64
    >>> artifact_key(article_network()) == artifact_key(article_network(), kink=1)
    False
    >>> artifact_key(network_from_spec("affine(3,4) > half-squared-error")) == artifact_key(
    ...     network_from_spec("affine(3,5) > half-squared-error"))
    False
    """
    structure = _structure(network)
    versions = (_source_digest(), _sympy_version(), _numpy_version())
    if structure is None or None in versions:
        return None
    options = ("all" if wrt is None else list(wrt), str(kink))
    parts = [f"format {FORMAT}", sys.implementation.cache_tag, *map(str, versions), structure, json.dumps(options)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _structure(network: Network) -> str | None:
    from symgrad.layers import CATALOG
    from symgrad.network import Network

    parts = (*network.layers, network.loss)
    if type(network) is not Network or any(type(part) not in CATALOG.values() for part in parts):
        return None  # a subclass may hold more than its type, sizes and name say
    if any(callable(getattr(part, "tensor_forward", None)) for part in parts):
        return None  # an N-D layer's compiled rules are found by key in this process only
    if any(getattr(part, "train", True) is False for part in parts):
        return None  # eval mode's running statistics are part of the rule, and no description holds them
    described = [(type(part).__qualname__, part.describe(), part.name) for part in parts]
    return json.dumps([network.title, described])


def _source_digest() -> str | None:
    """sha256 over every .py file of the symgrad package (path and bytes), or None when one cannot be read."""
    if "symgrad" not in _digests:
        import symgrad

        root = Path(symgrad.__file__).parent
        digest = hashlib.sha256()
        try:
            for path in sorted(root.rglob("*.py")):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            _digests["symgrad"] = None
        else:
            _digests["symgrad"] = digest.hexdigest()
    return _digests["symgrad"]


def _sympy_version() -> str | None:
    """SymPy's version without importing it (that is what this cache saves), or None."""
    if "sympy" in sys.modules:
        return str(sys.modules["sympy"].__version__)
    if "sympy-file" not in _digests:
        from importlib.util import find_spec

        version = None
        with contextlib.suppress(ImportError, ValueError, OSError, AttributeError, TypeError):
            spec = find_spec("sympy")
            release = Path(spec.origin).parent / "release.py"  # type: ignore[union-attr, arg-type]
            found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", release.read_text("utf-8"), re.M)
            version = None if found is None else found.group(1)
        _digests["sympy-file"] = version
    return _digests["sympy-file"]


def _numpy_version() -> str:
    import numpy as np

    return str(np.__version__)


def _path(key: str) -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / SUBDIRECTORY / f"{key}.json"


def _checksum(key: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps([key, payload], sort_keys=True).encode()).hexdigest()


def load_artifacts(network: Network, wrt: Sequence[str] | None = None, kink: Any = 0) -> StoredDerivation | None:
    """``network``'s stored derivation for these options, or None (absent, off, or anything in doubt).

    Parameters
    ----------
    network : Network
        The network, as it will be checked: the entry must agree with its names and shapes.
    wrt, kink
        The options it was derived with (see :func:`artifact_key`).

    Returns
    -------
    StoredDerivation or None
        None unless the entry's file is the user's and no one else may write it, it
        parses, carries this format and its own key, matches its checksum, agrees
        with ``network`` and its code compiles.

    Examples
    --------
    >>> import os, tempfile
    >>> from symgrad.derive.chain import derive
    >>> from symgrad.network import article_network
    >>> from symgrad.render.text import derivation_text
    >>> saved, scratch = os.environ.get("SYMGRAD_CACHE_DIR"), tempfile.TemporaryDirectory()
    >>> os.environ["SYMGRAD_CACHE_DIR"] = scratch.name
    >>> net = article_network()
    >>> load_artifacts(net) is None
    True
    >>> d = derive(net)
    >>> store_artifacts(net, None, 0, d, derivation_text(d))
    True
    >>> stored = load_artifacts(net)
    >>> stored.text == derivation_text(d), stored.lambdify()(x=2.0, t=1.0, w1=0.5, b1=0.0, w2=3.0, b2=0.0)["w1"]
    (True, 12.0)
    >>> os.environ.pop("SYMGRAD_CACHE_DIR") if saved is None else os.environ.update(SYMGRAD_CACHE_DIR=saved)
    >>> scratch.cleanup()
    """
    key = artifact_key(network, wrt, kink)
    path = None if key is None else _path(key)
    if key is None or path is None:
        return None
    document = _read(path)
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("key") != key
        or not isinstance(document.get("payload"), dict)
        or document.get("check") != _checksum(key, document["payload"])
    ):
        return None
    stored = _restore(document["payload"], network)
    if stored is None:
        return None
    try:
        stored.lambdify()  # source that does not compile, or defines no _gradient, is no entry
    except Exception:  # anything wrong with stored code means: derive again
        return None
    return stored


def _read(path: Path) -> Any:
    """The parsed file, or None when it is absent, unreadable, too large, or writable by someone else."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(handle, "rb") as stream:
            if not _trusted(os.fstat(stream.fileno())):
                return None
            data = stream.read(MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_BYTES:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError
        return None


def _trusted(info: os.stat_result) -> bool:
    """A regular file of this user that no one else may write: the entry holds code that is run."""
    if not stat.S_ISREG(info.st_mode):
        return False
    if not hasattr(os, "getuid"):  # Windows: no POSIX owner or mode bits to read
        return True
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _restore(payload: Mapping[str, Any], network: Network) -> StoredDerivation | None:
    """The payload as a StoredDerivation of ``network``, or None unless every field is as expected."""
    names: Any = payload.get("inputs")
    wrt: Any = payload.get("wrt")
    shapes: Any = payload.get("shapes")
    title: Any = payload.get("title")
    text: Any = payload.get("text")
    source: Any = payload.get("source")
    checked: Any = payload.get("checked_source")
    kink: Any = payload.get("kink")
    if (
        not _names(names) or not _names(wrt) or not isinstance(shapes, dict)
        or not all(isinstance(value, str) for value in (title, text, source))
        or payload.get("batched") is not network.batched
        or not (checked is None if not network.batched else isinstance(checked, str))
        or isinstance(kink, bool) or kink not in (0, 0.5, 1)
    ):
        return None
    if sorted(names) != sorted(network.names) or not set(wrt) <= set(names) or set(shapes) != set(names):
        return None
    expected = {name: _expected_shape(network, name) for name in names}
    if {name: tuple(shape) if isinstance(shape, list) else None for name, shape in shapes.items()} != expected:
        return None
    return StoredDerivation(
        title, network, tuple(wrt), tuple(names), expected, network.batched, float(kink), text, source, checked
    )


def _names(value: Any) -> bool:
    """A non-empty list of distinct names."""
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        return False
    return len(set(value)) == len(value)


def _expected_shape(network: Network, name: str) -> tuple[int | None, ...]:
    """An input's shape as the compiled gradient states it: () when scalar, the batch size N as None."""
    if not network.batched:
        return ()
    if name in ("x", "t"):
        return (None, *network.sample_shape(name))
    return tuple(int(dim) for dim in network.param(name).shape)


def store_artifacts(
    network: Network, wrt: Sequence[str] | None, kink: Any, derivation: Derivation, text: str
) -> bool:
    """Keep ``derivation`` of ``network`` (derived with these options) and its ``text``; True when written.

    Parameters
    ----------
    network : Network
        The network that was derived.
    wrt, kink
        The options it was derived with, as the next :func:`load_artifacts` will give them.
    derivation : Derivation
        ``derive(network, wrt, kink=kink)``; its compiled gradient's source is stored.
    text : str
        The derivation as the command prints it.

    Returns
    -------
    bool
        False, and nothing written, for a derivation with an unproven step, a
        network that may not be stored (see :func:`artifact_key`), or a cache that
        is off or cannot be written.

    Examples
    --------
    >>> import os
    >>> from symgrad.derive.chain import derive
    >>> from symgrad.network import article_network
    >>> saved = os.environ.get("SYMGRAD_CACHE_DIR")
    >>> os.environ["SYMGRAD_CACHE_DIR"] = ""  # off
    >>> net = article_network()
    >>> store_artifacts(net, None, 0, derive(net), "text")
    False
    >>> os.environ.pop("SYMGRAD_CACHE_DIR") if saved is None else os.environ.update(SYMGRAD_CACHE_DIR=saved)
    """
    key = artifact_key(network, wrt, kink)
    path = None if key is None else _path(key)
    if key is None or path is None or not derivation.verified:
        return False
    compiled = derivation.lambdify()
    signature = compiled.signature
    payload = {
        "title": derivation.title,
        "wrt": list(signature.wrt),
        "inputs": list(signature.inputs),
        "shapes": {name: list(shape) for name, shape in signature.shapes.items()},
        "batched": signature.batched,
        "kink": float(derivation.kink),
        "text": text,
        "source": compiled.source,
        "checked_source": compiled.checked_source,
    }
    document = {"format": FORMAT, "key": key, "payload": payload, "check": _checksum(key, payload)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(document, sort_keys=True, indent=1) + "\n")
    except OSError:
        return False
    _prune(path.parent)
    return True


def _prune(directory: Path) -> None:
    """Remove the least recently written entries beyond MAX_ENTRIES (left by other versions of symgrad)."""
    with contextlib.suppress(OSError):
        entries = sorted(directory.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        for stale in entries[MAX_ENTRIES:]:
            stale.unlink(missing_ok=True)
