"""Symbolic derivation: the chain rule across layers, elementary rules inside them, proofs."""

# Imported on first use (PEP 562): deriving a network needs neither the expression parser nor gradient().
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symgrad.derive.chain import derive
    from symgrad.derive.derivation import Derivation
    from symgrad.derive.expression import gradient
    from symgrad.derive.steps import Step

__all__ = ["Derivation", "Step", "derive", "gradient"]

_LAZY = {"Derivation": "derivation", "Step": "steps", "derive": "chain", "gradient": "expression"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
