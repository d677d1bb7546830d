"""Symbolic derivation: the chain rule across layers, elementary rules inside them, proofs."""

# Imported on first use (PEP 562): deriving a network needs neither the expression parser nor gradient().
from typing import TYPE_CHECKING

from symgrad._lazy import lazy_exports

if TYPE_CHECKING:
    from symgrad.derive.chain import derive
    from symgrad.derive.derivation import Derivation
    from symgrad.derive.expression import gradient
    from symgrad.derive.steps import Step

__all__ = ["Derivation", "Step", "derive", "gradient"]

_LAZY = {"Derivation": "derivation", "Step": "steps", "derive": "chain", "gradient": "expression"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
