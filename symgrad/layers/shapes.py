"""Shapes through a network with N-D values: what each layer makes of a sample's shape.

A network of matrices tracks feature counts (``Layer.output_features``); a
network with convolutions tracks each sample's whole shape, ``(C, H, W)``
through a convolution or a pooling, ``(C*H*W,)`` after a flatten. Elementwise
activations keep the shape; any other layer takes rows of features, and an N-D
value must be flattened first. Each refusal says what the layer expected.

Examples
--------
>>> from symgrad.layers import Affine, Conv2d, Flatten, MaxPool2d, ReLU
>>> shape = (1, 4, 4)
>>> for layer in (Conv2d(1, 2, 3, pad=1), ReLU(), MaxPool2d(2, 2), Flatten(), Affine(8, 3)):
...     shape = next_shape(layer, shape, repr(layer))
...     print(shape)
(2, 4, 4)
(2, 4, 4)
(2, 2, 2)
(8,)
(3,)
>>> next_shape(Affine(7, 3), (8,), "layer 5, Affine(7, 3),")
Traceback (most recent call last):
...
symgrad.errors.ShapeError: layer 5, Affine(7, 3), expects 7 input features, but its input has 8
>>> next_shape(Affine(8, 3), (2, 2, 2), "layer 4, Affine(8, 3),")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
symgrad.errors.ShapeError: layer 4, Affine(8, 3), takes rows of features (N, F), but its input has N-D samples...
"""

from __future__ import annotations

import math
import re

from symgrad.errors import LayerError, ShapeError
from symgrad.layers.activations import Activation
from symgrad.layers.base import Layer, Loss, n_d_in_network

__all__ = ["format_sample", "next_shape"]


def format_sample(shape: tuple[int, ...]) -> str:
    """``(2, 2, 2)``, or ``(8,)``."""
    return f"({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"


def next_shape(layer: Layer, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The shape of one sample of ``layer``'s output, given one sample of its input (the batch left out).

    ``where`` names the layer in messages (``"layer 2, Conv2d(1, 2, 3),"``).
    """
    if not shape:
        msg = f"{where} takes a batch, but its input is a scalar"
        raise ShapeError(msg)
    if isinstance(layer, Loss):
        if len(shape) > 1:
            msg = (f"{where} takes rows of outputs (N, M), but its input has N-D samples {format_sample(shape)}: "
                   f"put Flatten() and an Affine(...) before it")
            raise ShapeError(msg)
        return ()
    output_shape = getattr(layer, "output_shape", None)
    if callable(output_shape):  # convolution, pooling, flatten
        try:
            return tuple(int(d) for d in output_shape(tuple(shape)))
        except ShapeError as error:
            text = re.sub(rf"^{type(layer).__name__}:?\s*", "", str(error))
            msg = f"{where} {text}"
            raise ShapeError(msg) from None
    if callable(getattr(layer, "tensor_forward", None)):  # an embedding, a user's index-notation layer
        raise LayerError(n_d_in_network(where))
    if isinstance(layer, Activation):  # elementwise: any shape
        return tuple(shape)
    if len(shape) > 1:
        msg = (f"{where} takes rows of features (N, F), but its input has N-D samples {format_sample(shape)}: "
               f"put Flatten() before it (it gives {math.prod(shape)} features)")
        raise ShapeError(msg)
    try:
        out = layer.output_features(shape[0])
    except ShapeError as error:
        msg = f"{where} {error}"
        raise ShapeError(msg) from None
    return (shape[0],) if out is None else (int(out),)
