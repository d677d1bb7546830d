"""Elementwise activations: the generic :class:`Activation`, and Sigmoid, Tanh, ReLU.

An activation is written once, as its scalar function (``function``). Nothing
else about it is written by hand on the symbolic side: its local derivative is
``sympy.diff`` of that function (:meth:`Activation.derivative`), and its matrix
rule is the one rule every elementwise map shares, dE/dx = G o f'(x), built from
that derivative and proven entrywise against ``sympy.diff`` like every rule
(:mod:`symgrad.derive.verify`). Sigmoid, Tanh and ReLU only name their function
and keep their textbook NumPy reference (``forward``/``backward``), the
independent side of a check; a user's formula (:func:`symgrad.activation`,
:mod:`symgrad.layers.formula`) is the same layer with a function of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.layers.base import Layer

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

__all__ = ["Activation", "ReLU", "Sigmoid", "Tanh"]


class Activation(Layer):
    """An elementwise activation ``out = f(x)``."""

    def function(self, z: sp.Expr) -> sp.Expr:
        """The scalar function f as a SymPy expression of ``z``."""
        raise NotImplementedError

    def scalar_forward(self, x: sp.Expr, params: Mapping[str, sp.Expr]) -> sp.Expr:
        return self.function(x)

    def matrix_forward(self, x: MatrixExpr, params: Mapping[str, MatrixExpr]) -> MatrixExpr:
        from symgrad.matrixexpr import ZETA, Elementwise

        return Elementwise(self.function(ZETA), x)

    def derivative(self, z: sp.Symbol, *, kink: Any = 0) -> sp.Expr:
        """f'(z): ``sympy.diff`` of ``function``, with ReLU's derivative at 0 taken as ``kink``."""
        import sympy as sp

        from symgrad.functions import with_kink

        return with_kink(sp.diff(self.function(z), z), kink)  # type: ignore[no-any-return]

    def matrix_vjp(
        self, upstream: MatrixExpr, x: MatrixExpr, params: Mapping[str, MatrixExpr], *, kink: Any = 0
    ) -> dict[str, MatrixExpr]:
        """dE/dx = G o f'(x): the chain rule entrywise, the same for every elementwise layer."""
        import sympy as sp

        from symgrad.matrixexpr import ZETA, Elementwise

        return {"input": sp.HadamardProduct(upstream, Elementwise(self.derivative(ZETA, kink=kink), x))}


class Sigmoid(Activation):
    """The logistic sigmoid, with the usual reference layer.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Sigmoid()
    >>> layer.forward(np.array([0.0]))
    array([0.5])
    >>> layer.backward(np.array([1.0]))
    array([0.25])
    """

    kind = "sigmoid"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.out: Any = None

    def function(self, z: sp.Expr) -> sp.Expr:
        from symgrad.functions import sigmoid

        return sigmoid(z)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = 0.5 + 0.5 * np.tanh(0.5 * x)  # 1 / (1 + exp(-x)), without overflow for large -x
        return self.out  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out  # type: ignore[no-any-return]


class Tanh(Activation):
    """The hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Tanh()
    >>> layer.forward(np.array([0.0]))
    array([0.])
    >>> layer.backward(np.array([2.0]))
    array([2.])
    """

    kind = "tanh"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.out: Any = None

    def function(self, z: sp.Expr) -> sp.Expr:
        import sympy as sp

        return sp.tanh(z)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out**2)  # type: ignore[no-any-return]


class ReLU(Activation):
    """The rectifier; its reference backward takes relu'(0) = 0 (the mask).

    Examples
    --------
    >>> import numpy as np
    >>> layer = ReLU()
    >>> layer.forward(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> layer.backward(np.array([5.0, 5.0]))
    array([0., 5.])
    """

    kind = "relu"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.mask: Any = None

    def function(self, z: sp.Expr) -> sp.Expr:
        from symgrad.functions import relu

        return relu(z)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = np.real(x) <= 0
        return np.where(self.mask, 0.0, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # A copy: the reference never writes into the caller's dout.
        return np.where(self.mask, 0.0, dout)
