"""Inverted dropout's textbook reference, with its mask frozen: Dropout.

The NumPy reference side (the article's protocol) of a layer whose
index-notation forward comes with the derivation engine; exported from this
module only for now (not from ``symgrad``, the spec catalogue nor ``symgrad
--help``).

A gradient check needs a deterministic layer, so the mask is an input of the
layer, drawn once and then frozen: not redrawn at each forward, as a training
loop's dropout is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.errors import ShapeError, SpecError
from symgrad.layers.arguments import probability
from symgrad.layers.base import Layer

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
