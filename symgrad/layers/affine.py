"""The affine layer: ``out = x W + b``, scalar (``w*x + b``) or batched; ``x W`` alone with ``bias=False``."""

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
    ``W1`` (3 x 4) and ``b1`` (4,). ``Affine(3, 4, bias=False)`` is ``x W1`` alone
    (DLFS2's MatMul; ``matmul(3, 4)`` in a spec). An input of more than two axes
    is flattened to (N, 3), each sample a row, as cs231n's ``affine_forward`` does.

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
    >>> Affine(2, 3, bias=False).roles
    ('W',)
    """

    kind = "affine"
    roles = ("W", "b")  # ("W",) for bias=False, set per instance

    def __init__(
        self,
        in_features: int | None = None,
        out_features: int | None = None,
        *,
        bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if (in_features is None) != (out_features is None):
            msg = "Affine takes both in_features and out_features, or neither (the scalar layer)"
            raise ShapeError(msg)
        if not isinstance(bias, (bool, np.bool_)):
            msg = f"Affine's bias must be True or False, got {bias!r}"
            raise ShapeError(msg)
        self.bias = bool(bias)
        if not self.bias:
            if in_features is None:
                msg = "Affine(bias=False) is a batched layer: give in_features and out_features (x W, DLFS2's MatMul)"
                raise ShapeError(msg)
            self.roles = ("W",)  # type: ignore[misc,assignment]  # this instance's roles: no b
        self.in_features = None if in_features is None else _check_features("in_features", in_features)
        self.out_features = None if out_features is None else _check_features("out_features", out_features)
        self.W: Any = None
        self.b: Any = None
        self.x: Any = None
        self.x_shape: tuple[int, ...] = ()
        self.dW: Any = None
        self.db: Any = None

    @property
    def batched(self) -> bool:
        return self.in_features is not None

    def describe(self) -> str:
        if self.in_features is None:
            return ""
        return f"{self.in_features}, {self.out_features}" + ("" if self.bias else ", bias=False")

    def spec_text(self) -> str:
        return super().spec_text() if self.bias else f"matmul({self.in_features}, {self.out_features})"

    def output_features(self, in_features: int | None) -> int | None:
        if in_features != self.in_features:
            msg = f"expects {self.in_features} input features, but its input has {in_features}"
            raise ShapeError(msg)
        return self.out_features

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        if self.in_features is None:
            return {"W": (), "b": ()}
        shapes = {"W": (self.in_features, self.out_features), "b": (self.out_features,)}
        return {role: shapes[role] for role in self.roles}

    def scalar_forward(self, x: sp.Expr, params: Mapping[str, sp.Expr]) -> sp.Expr:
        return params["W"] * x + params["b"]

    def index_forward(self) -> IndexForward:
        """``y[n,m] = Σ_d x[n,d] W[d,m] + b[m]`` (without ``b[m]`` for ``bias=False``): the rules
        (``matrix_forward``, ``matrix_vjp``) derive from it."""
        return _index_forward(self.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x W + b``; an input of more than two axes is flattened to the matrix the layer takes, as
        cs231n's ``affine_forward`` and DLFS1's Affine do (each sample a row), or, when only its last
        axis fits, every leading axis a row (a time-distributed layer, DLFS2's TimeAffine)."""
        self.x_shape = np.shape(x)
        x = self._as_matrix(x)
        self.x = x
        out = np.dot(x, self.W)
        if self.bias:
            out = out + self.b
        if len(self.x_shape) > 2 and x.shape[0] != self.x_shape[0]:  # time-distributed: (N, T, M)
            return out.reshape(*self.x_shape[:-1], out.shape[-1])  # type: ignore[no-any-return]
        return out  # type: ignore[no-any-return]

    def _as_matrix(self, x: np.ndarray) -> np.ndarray:
        if np.ndim(x) <= 2 or self.in_features is None:
            return x
        flat = int(np.prod(np.shape(x)[1:]))
        if flat != self.in_features and np.shape(x)[-1] == self.in_features:
            return np.reshape(x, (-1, self.in_features))
        return np.reshape(x, (np.shape(x)[0], flat))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        shape = self.x_shape or np.shape(self.x)
        dout = np.reshape(dout, (-1, np.shape(dout)[-1])) if len(shape) > 2 else dout
        dx = np.dot(dout, np.transpose(self.W))
        self.dW = np.dot(np.transpose(self.x), dout)
        if self.bias:
            self.db = np.sum(dout, axis=0) if np.ndim(dout) == 2 else dout
        return np.reshape(dx, shape) if len(shape) > 2 else dx  # type: ignore[no-any-return]


@functools.cache
def _index_forward(bias: bool = True) -> IndexForward:
    """The same for every affine layer: its sizes are symbols, bound when the rules are made."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m, d = indices("n m d")
    dim_d, dim_m = sp.Symbol("D", integer=True, positive=True), sp.Symbol("M", integer=True, positive=True)
    x, w, b = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("b")
    body = sp.Sum(x[n, d] * w[d, m], (d, 0, dim_d - 1))
    tensors: tuple[Tensor, ...] = (Tensor("x", (BATCH, dim_d)), Tensor("W", (dim_d, dim_m)))
    if bias:
        body, tensors = body + b[m], (*tensors, Tensor("b", (dim_m,)))
    return IndexForward("y", (n, m), body, tensors, ((n, BATCH), (m, dim_m), (d, dim_d)))
