"""Public names of a package loaded from their modules on first use (PEP 562).

The command's start-up pays only for what it touches: ``symgrad.check`` loads
``check_layer``'s diagnoses, and ``symgrad.derive`` the expression parser, only when asked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``table`` maps a name to its submodule.

    A name is imported on first access and then kept in ``namespace`` (the package's globals),
    so later lookups are plain attribute reads.

    >>> getattr_, dir_ = lazy_exports("json", {"JSONDecoder": "decoder"}, {})
    >>> getattr_("JSONDecoder")().decode("[1, 2]")
    [1, 2]
    >>> "JSONDecoder" in dir_()
    True
    """

    def attribute(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(f"{package}.{table[name]}"), name)
            namespace[name] = value
            return value
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)

    def listing() -> list[str]:
        return sorted({*namespace, *table})

    return attribute, listing
