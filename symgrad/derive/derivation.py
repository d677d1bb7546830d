"""``Derivation``: the result of :func:`symgrad.derive` and :func:`symgrad.gradient`.

Plain data: the loss, the steps of every partial derivative, and the staged
program (one assignment per layer quantity) that the numeric stage compiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symgrad.derive.steps import Step
from symgrad.documents import Documented
from symgrad.errors import UnknownNameError

if TYPE_CHECKING:  # annotations only: check() imports this module, and need not load SymPy
    import sympy as sp

    from symgrad.network import Network
    from symgrad.numeric.compile import CompiledGradient

__all__ = ["Derivation"]


@dataclass(frozen=True, eq=False)
class Derivation(Documented):
    """Every partial derivative of a loss, derived step by step.

    Attributes
    ----------
    loss : sympy.Basic
        E as an expression of the inputs (x, t and the parameters).
    wrt : tuple of str
        The names differentiated with respect to.
    inputs : tuple of str
        The names the numeric function takes, in order.
    forward : tuple of Step
        The forward equations (``h = w1*x + b1``, ..., ``E = ...``).
    symbols : mapping
        Every name (inputs, layer outputs, gradients) to its SymPy symbol.
    shapes : mapping
        Every name to its shape (``()`` for a scalar; ``N`` is the batch).
    program : tuple of (symbol, expression)
        The staged computation: forward quantities, then gradients.
    outputs : mapping
        Each name in ``wrt`` to the symbol of its gradient in ``program``.
    """

    title: str
    loss: sp.Basic
    wrt: tuple[str, ...]
    inputs: tuple[str, ...]
    forward: tuple[Step, ...]
    symbols: Mapping[str, sp.Basic]
    shapes: Mapping[str, tuple[Any, ...]]
    program: tuple[tuple[sp.Basic, sp.Basic], ...]
    outputs: Mapping[str, sp.Basic]
    loss_value: sp.Basic
    batched: bool = False
    kink: Any = 0
    network: Network | None = None
    _steps: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    _results: Mapping[str, sp.Basic] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _check_name(self, name: str) -> str:
        if name not in self.wrt:
            msg = f"no gradient with respect to {name!r}; this derivation has {', '.join(self.wrt)}"
            raise UnknownNameError(msg)
        return name

    def gradient(self, name: str) -> sp.Basic:
        """dE/d(name) as an expression of the inputs."""
        return self._results[self._check_name(name)]

    def steps(self, name: str) -> tuple[Step, ...]:
        """The steps that derive dE/d(name), first to last."""
        return self._steps[self._check_name(name)]

    @property
    def verified(self) -> bool:
        """True when every step of every partial derivative was proven."""
        return all(step.verified for name in self.wrt for step in self.steps(name))

    def lambdify(self) -> CompiledGradient:
        """A NumPy function taking the inputs by keyword, returning {name: gradient}.

        Compiled once per derivation and cached.
        """
        if "gradient" not in self._cache:
            from symgrad.numeric.compile import compile_derivation  # upper floor, imported on use

            self._cache["gradient"] = compile_derivation(self)
        return self._cache["gradient"]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<Derivation {self.title!r}: dE/d{{{', '.join(self.wrt)}}}>"
