"""The affine layer: ``out = x W + b``, scalar (``w*x + b``) or batched."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.base import Layer

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp

    from symgrad.index.ir import IndexForward

__all__ = ["Affine"]


def _check_features(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"Affine {label} must be a positive integer, got {value!r}"
        raise ShapeError(msg)
    return int(value)


class Affine(Layer):
    """An affine layer.

    ``Affine(name="1")`` is the article's scalar layer ``F1(x) = w1*x + b1``;
    ``Affine(3, 4, name="1")`` maps a batch x (N x 3) to ``x W1 + b1`` with
    ``W1`` (3 x 4) and ``b1`` (4,).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Affine(2, 3)
    >>> layer.set_params({"W": np.ones((2, 3)), "b": np.zeros(3)})
    >>> layer.forward(np.array([[1.0, 2.0]]))
    array([[3., 3., 3.]])
    >>> layer.backward(np.ones((1, 3)))
    array([[3., 3.]])
    >>> layer.dW
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """

    kind = "affine"
    roles = ("W", "b")

    def __init__(
        self, in_features: int | None = None, out_features: int | None = None, *, name: str | None = None
    ) -> None:
        super().__init__(name)
        if (in_features is None) != (out_features is None):
            msg = "Affine takes both in_features and out_features, or neither (the scalar layer)"
            raise ShapeError(msg)
        self.in_features = None if in_features is None else _check_features("in_features", in_features)
        self.out_features = None if out_features is None else _check_features("out_features", out_features)
        self.W: Any = None
        self.b: Any = None
        self.x: Any = None
        self.dW: Any = None
        self.db: Any = None

    @property
    def batched(self) -> bool:
        return self.in_features is not None

    def describe(self) -> str:
        if self.in_features is None:
            return ""
        return f"{self.in_features}, {self.out_features}"

    def output_features(self, in_features: int | None) -> int | None:
        if in_features != self.in_features:
            msg = f"expects {self.in_features} input features, but its input has {in_features}"
            raise ShapeError(msg)
        return self.out_features

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        if self.in_features is None:
            return {"W": (), "b": ()}
        return {"W": (self.in_features, self.out_features), "b": (self.out_features,)}

    def scalar_forward(self, x: sp.Expr, params: Mapping[str, sp.Expr]) -> sp.Expr:
        return params["W"] * x + params["b"]

    def index_forward(self) -> IndexForward:
        """``y[n,m] = Σ_d x[n,d] W[d,m] + b[m]``: the rules (``matrix_forward``, ``matrix_vjp``) derive from it."""
        return _index_forward()


    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.W) + self.b  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, np.transpose(self.W))
        self.dW = np.dot(np.transpose(self.x), dout)
        self.db = np.sum(dout, axis=0) if np.ndim(dout) == 2 else dout
        return dx  # type: ignore[no-any-return]


@functools.cache
def _index_forward() -> IndexForward:
    """The same for every affine layer: its sizes are symbols, bound when the rules are made."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m, d = indices("n m d")
    dim_d, dim_m = sp.Symbol("D", integer=True, positive=True), sp.Symbol("M", integer=True, positive=True)
    x, w, b = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("b")
    body = sp.Sum(x[n, d] * w[d, m], (d, 0, dim_d - 1)) + b[m]
    tensors = (Tensor("x", (BATCH, dim_d)), Tensor("W", (dim_d, dim_m)), Tensor("b", (dim_m,)))
    return IndexForward("y", (n, m), body, tensors, ((n, BATCH), (m, dim_m), (d, dim_d)))
