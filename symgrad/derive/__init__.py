"""Symbolic derivation: the chain rule across layers, elementary rules inside them, proofs."""

from symgrad.derive.chain import derive
from symgrad.derive.derivation import Derivation
from symgrad.derive.expression import gradient
from symgrad.derive.steps import Step

__all__ = ["Derivation", "Step", "derive", "gradient"]
