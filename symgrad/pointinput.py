"""A point given by a user: ``--values`` on the command line, read safely and checked against a network.

Three spellings: ``name=value`` pairs separated by commas (numbers only, read with ``float``),
a JSON file (an object of name to number or nested lists of numbers) or a NumPy ``.npz``
archive (read without pickles). Every name must be one of the network's and every one of them
must be given; shapes are checked against the network (a scalar network takes numbers, a
batched one arrays whose shapes follow the layers). Nothing is evaluated: no ``eval``, no
``sympify``, no pickles.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.network import Network

__all__ = ["parse_pairs", "read_values"]

_SUFFIXES = (".json", ".npz")


def parse_pairs(text: str) -> dict[str, float]:
    """``"x=1.5, t=0.5"`` as ``{"x": 1.5, "t": 0.5}``: numbers only, each name once.

    Examples
    --------
    >>> parse_pairs("x=1.5, t=-0.5")
    {'x': 1.5, 't': -0.5}
    >>> parse_pairs("x=2*3")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: --values: 'x=2*3' does not give a number ('2*3'); write name=number, e.g. x=1.5
    """
    values: dict[str, float] = {}
    for pair in text.split(","):
        name, sep, number = (part.strip() for part in pair.partition("="))
        if not sep or not name:
            msg = f"--values: {pair.strip()!r} is not name=value; write pairs such as x=1.5,t=0.5"
            raise UnknownNameError(msg)
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            msg = f"--values: {pair.strip()!r} does not give a number ({number!r}); write name=number, e.g. x=1.5"
            raise UnknownNameError(msg)
        if name in values:
            msg = f"--values: {name!r} is given twice"
            raise UnknownNameError(msg)
        values[name] = value
    return values


def _json_array(name: str, value: Any) -> np.ndarray:
    def numbers_only(item: Any) -> bool:
        if isinstance(item, list):
            return all(numbers_only(entry) for entry in item)
        return isinstance(item, (int, float)) and not isinstance(item, bool)

    if not numbers_only(value):
        msg = f"--values: {name!r} must be a number or nested lists of numbers, got {json.dumps(value)[:60]}"
        raise UnknownNameError(msg)
    def whole(item: Any) -> bool:
        return all(whole(entry) for entry in item) if isinstance(item, list) else isinstance(item, int)

    try:  # all whole numbers stay integers (class labels for t); the point is made float after
        return np.asarray(value, dtype=np.int64 if whole(value) and value != [] else float)
    except (ValueError, OverflowError) as error:  # ragged lists
        msg = f"--values: {name!r} is not a rectangular array ({error})"
        raise ShapeError(msg) from None


def _read_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            msg = f"--values: {path.name} is not valid JSON ({error})"
            raise UnknownNameError(msg) from None
        if not isinstance(data, dict):
            msg = f"--values: {path.name} must hold a JSON object of name to value, got {type(data).__name__}"
            raise UnknownNameError(msg)
        return {str(name): _json_array(str(name), value) for name, value in data.items()}
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: np.asarray(archive[name]) for name in archive.files}
    except (ValueError, OSError) as error:
        msg = f"--values: {path.name} is not a NumPy .npz archive of arrays ({error})"
        raise UnknownNameError(msg) from None


def _expected_shape(network: Network, name: str, given: np.ndarray) -> tuple[int, ...] | None:
    """The shape ``name`` must have (the batch of x and t follows what was given); None if free."""
    if not network.batched:
        return ()
    if name in ("x", "t"):
        sample = network.sample_shape(name)
        batch = given.shape[0] if given.ndim == len(sample) + 1 else 1
        return (batch, *sample)
    return tuple(int(dim) for dim in network.param(name).shape)


def _checked(network: Network, values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [name for name in values if name not in network.names]
    if unknown:
        msg = f"--values: unknown name {unknown[0]!r}; this network's names are {', '.join(network.names)}"
        raise UnknownNameError(msg)
    missing = [name for name in network.names if name not in values]
    if missing:
        msg = (
            f"--values: no value for {', '.join(missing)}; give every one of {', '.join(network.names)} "
            "(name=value pairs, or a JSON or .npz file for arrays)"
        )
        raise UnknownNameError(msg)
    point: dict[str, Any] = {}
    for name in network.names:
        given = values[name]
        if name == "t" and network.batched and not isinstance(network.loss, type(None)):
            from symgrad.layers.classify import one_hot_labels  # integer class labels: one-hot rows

            given = one_hot_labels(network.loss, given, network.output_features)
        array = np.asarray(given, dtype=float)
        expected = _expected_shape(network, name, array)
        if expected is not None and array.shape != expected:
            shown = "a number" if not expected else "×".join(map(str, expected))
            if name in ("x", "t"):
                shown = f"N×{expected[-1]} (one example per row)"
            got = "a number" if not array.shape else "×".join(map(str, array.shape))
            msg = f"--values: {name!r} is {got}; this network needs {shown}"
            raise ShapeError(msg)
        point[name] = float(array) if array.ndim == 0 else array
    return point


def read_values(text: str, network: Network) -> dict[str, Any]:
    """The point that ``--values TEXT`` names, checked against ``network``.

    ``TEXT`` is a ``.json`` or ``.npz`` file, or ``name=value`` pairs.

    Raises
    ------
    UnknownNameError
        A name the network does not have, a name left out, or something other than numbers.
    ShapeError
        A value whose shape the network cannot take.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> read_values("x=1.5,t=0.5,w1=0.8,b1=-0.3,w2=1.7,b2=0.2", article_network())["b1"]
    -0.3
    >>> read_values("x=1.5,z=2", article_network())
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: --values: unknown name 'z'; this network's names are x, t, w1, b1, w2, b2
    """
    stripped = text.strip()
    if stripped.lower().endswith(_SUFFIXES):
        path = Path(stripped)
        if not path.is_file():
            msg = f"--values: no such file {stripped!r}"
            raise UnknownNameError(msg)
        return _checked(network, _read_file(path))
    if "=" not in stripped:
        msg = f"--values: {stripped!r} is neither name=value pairs nor a .json or .npz file"
        raise UnknownNameError(msg)
    return _checked(network, parse_pairs(stripped))
