"""Checking: symbolic vs backward() vs finite differences, for networks and users' layers."""

# Imported on first use (PEP 562): the command checks a network without loading check_layer's
# diagnoses (symgrad.check.layer and symgrad.check.diagnose), a fifth of its start-up.
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symgrad.check.layer import check_layer
    from symgrad.check.report import CheckReport, CheckRow, check

__all__ = ["CheckReport", "CheckRow", "check", "check_layer"]

_LAZY = {"CheckReport": "report", "CheckRow": "report", "check": "report", "check_layer": "layer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
