"""The plain data a derivation is made of: :class:`Step`.

A step says ``lhs = rhs`` because of ``rule``, and whether symgrad proved it.
Steps are frozen; renderers read them and never compute math.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: a derivation restored from disk reads steps without SymPy
    import sympy as sp

__all__ = ["Step"]


@dataclass(frozen=True)
class Step:
    """One line of a derivation: ``lhs = rhs`` by ``rule``.

    Attributes
    ----------
    lhs, rhs : sympy.Basic
        The two sides. ``lhs`` is usually a gradient symbol such as
        ``dE/dw1`` or a ``sympy.Derivative``.
    rule : str
        The rule that justifies the step, in words ("chain rule",
        "product rule", ...).
    verified : bool
        True when ``rhs`` was proven equal to a direct ``sympy.diff``.
    proof : str
        How it was proven (or why it was not), in words.
    note : str
        A sentence for the reader explaining the step.
    substeps : tuple of Step
        Finer steps (elementary rules) that justify this one.
    shape : tuple or None
        The shape of ``rhs`` where it is a matrix, e.g. ``("N", 4)``.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> s = Step(sp.Derivative(x**2, x), 2*x, "power rule", verified=True)
    >>> s.rule, s.verified
    ('power rule', True)
    """

    lhs: sp.Basic
    rhs: sp.Basic
    rule: str
    verified: bool = False
    proof: str = ""
    note: str = ""
    substeps: tuple[Step, ...] = field(default=())
    shape: tuple[object, ...] | None = None
