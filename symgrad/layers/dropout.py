"""Inverted dropout's textbook reference, with its mask frozen: Dropout.

Its forward in index notation (``index_forward``: ``y = x ∘ mask / (1 - p)``,
the mask an input that is not differentiated) gives its rule by derivation; its
NumPy reference (the article's protocol) is the check's second side. It is not
in spec strings (a spec's layer arguments are whole numbers, and a chain has no
place for the mask): use it as ``check_layer``'s spec, with the mask set on it.

A gradient check needs a deterministic layer, so the mask is an input of the
layer, drawn once and then frozen: not redrawn at each forward, as a training
loop's dropout is.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError, SpecError
from symgrad.layers.arguments import probability
from symgrad.layers.base import Layer

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from symgrad.index.ir import IndexForward

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout: ``out = x * mask / (1 - p)``, with a frozen boolean mask (True keeps).

    The mask is given in one of three ways, and is then kept for every later call:

    * ``draw_mask(shape, rng)`` draws it once, each unit kept with probability ``1 - p``;
    * ``set_mask(mask)`` sets it (booleans, or 0/1 numbers, of the input's shape);
    * ``forward(x, mask)`` passes it with the input, as a second input: give it
      as integers 0/1 to ``symgrad.check_layer``, which passes integer inputs
      through without differentiating them (it refuses boolean arrays).

    ``backward(dout)`` returns ``dout * mask / (1 - p)``: the same mask and the
    same 1/(1-p) scale as the forward. In eval mode (``Dropout(p, train=False)``
    or ``.eval()``) the layer is the identity: the scale is paid in training.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Dropout(0.5)
    >>> layer.set_mask(np.array([[True, False, True]]))
    >>> layer.forward(np.array([[1.0, 2.0, 3.0]]))
    array([[2., 0., 6.]])
    >>> layer.backward(np.array([[1.0, 1.0, 1.0]]))
    array([[2., 0., 2.]])
    >>> Dropout(0.2).draw_mask((2, 3), np.random.default_rng(0)).shape
    (2, 3)
    >>> Dropout(0.5).forward(np.ones(2))
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: Dropout has no mask: give one by draw_mask(shape, rng), set_mask(mask) or forward(x, mask)
    """

    kind = "dropout"

    def __init__(self, p: float, *, train: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        self.p = probability("Dropout", "p", p)
        self.train = bool(train)
        self.mask: Any = None

    def describe(self) -> str:
        return f"{self.p:g}" + ("" if self.train else ", train=False")

    def eval(self) -> Dropout:
        """Switch to eval mode (the identity); returns the layer."""
        self.train = False
        return self

    def draw_mask(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Draw the mask once (each unit kept with probability 1 - p), freeze it and return it."""
        self.mask = rng.random(shape) >= self.p
        return self.mask  # type: ignore[no-any-return]

    def set_mask(self, mask: Any) -> None:
        """Freeze the given mask: booleans, or numbers that are all 0 or 1 (True / 1 keeps the unit)."""
        array = np.asarray(mask)
        if array.dtype.kind != "b":
            if array.dtype.kind not in "iuf" or not np.all((array == 0) | (array == 1)):
                msg = f"Dropout's mask must hold booleans or 0/1 values (1 keeps a unit), got dtype {array.dtype}"
                raise SpecError(msg)
            array = array == 1
        self.mask = array.copy()

    # -- symbolic: y = x ∘ mask / (1 - p), the mask a constant input (never differentiated) ----
    def index_forward(self) -> IndexForward:
        """``y[n,m] = x[n,m] mask[n,m] / (1 - p)`` (``y[n,m] = x[n,m]`` in eval mode): its rule,
        derived, is ``G ∘ mask / (1 - p)``, the same mask and scale as the forward."""
        return _dropout_forward(sp_number(self.p), self.train)

    def matrix_forward(self, x: MatrixExpr, params: Mapping[str, MatrixExpr]) -> MatrixExpr:
        return super().matrix_forward(x, {**params, **self._mask_of(x)})

    def matrix_vjp(
        self, upstream: MatrixExpr, x: MatrixExpr, params: Mapping[str, MatrixExpr], *, kink: Any = 0
    ) -> dict[str, MatrixExpr]:
        rules = super().matrix_vjp(upstream, x, {**params, **self._mask_of(x)}, kink=kink)
        rules.pop("mask", None)  # the mask is an input of the layer, not differentiated
        return rules

    def _mask_of(self, x: MatrixExpr) -> dict[str, MatrixExpr]:
        import sympy as sp

        return {"mask": sp.MatrixSymbol("mask", *x.shape)} if self.train else {}

    def spec_constants(self, x_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The frozen mask as the 0/1 matrix the rules read, for ``check_layer(..., spec=Dropout(p))``."""
        if not self.train:
            return {}
        if self.mask is None:
            msg = ("the spec Dropout has no mask: give it the mask your layer uses, spec.set_mask(mask) "
                   "(the same mask on both sides, drawn once)")
            raise SpecError(msg)
        if int(np.prod(self.mask.shape)) != int(np.prod(x_shape)):
            msg = f"the spec Dropout's mask has shape {self.mask.shape}, but x has shape {tuple(x_shape)}"
            raise ShapeError(msg)
        rows = x_shape[0] if len(x_shape) else 1
        return {"mask": np.reshape(self.mask, (rows, -1)).astype(float)}

    def forward(self, x: np.ndarray, mask: Any = None) -> np.ndarray:
        if mask is not None:
            self.set_mask(mask)
        x = np.asarray(x)
        if not self.train:
            return x.copy()
        if self.mask is None:
            msg = "Dropout has no mask: give one by draw_mask(shape, rng), set_mask(mask) or forward(x, mask)"
            raise SpecError(msg)
        if self.mask.shape != x.shape:
            msg = f"Dropout's mask has shape {self.mask.shape}, but its input has shape {x.shape}"
            raise ShapeError(msg)
        return x * self.mask / (1.0 - self.p)  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = np.asarray(dout)
        if not self.train:
            return dout.copy()
        return dout * self.mask / (1.0 - self.p)  # type: ignore[no-any-return]


def sp_number(value: float) -> Any:
    """``value`` as an exact SymPy number (0.5 -> 1/2), so that 1/(1 - p) prints as a fraction."""
    import sympy as sp

    return sp.nsimplify(value, rational=True)


@functools.cache
def _dropout_forward(p: sp.Expr, train: bool) -> IndexForward:
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m = indices("n m")
    features = sp.Symbol("M", integer=True, positive=True)
    x, mask = sp.IndexedBase("x"), sp.IndexedBase("mask")
    if not train:
        return IndexForward("y", (n, m), x[n, m], (Tensor("x", (BATCH, features)),), ((n, BATCH), (m, features)))
    body = x[n, m] * mask[n, m] / (1 - p)
    tensors = (Tensor("x", (BATCH, features)), Tensor("mask", (BATCH, features)))
    return IndexForward("y", (n, m), body, tensors, ((n, BATCH), (m, features)))
