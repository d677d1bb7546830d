"""Scaled dot-product attention's textbook reference: Attention.

The NumPy reference side (the article's protocol, three inputs:
``forward(q, k, v)``, ``backward(dout)`` returning ``(dq, dk, dv)``) of a layer
whose index-notation forward comes with the derivation engine; exported from
this module only for now (not from ``symgrad``, the spec catalogue nor ``symgrad
--help``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.arguments import check_ndim
from symgrad.layers.base import Layer

__all__ = ["Attention"]


class Attention(Layer):
    """Scaled dot-product attention, no parameters: ``out = softmax(q kᵀ / sqrt(d)) v``.

    q is (..., T, d), k is (..., S, d), v is (..., S, dv), with any leading batch
    axes (N, or N and heads); the softmax is over the S keys. The attention weights
    are kept in ``self.weights`` (..., T, S). ``backward(dout)`` returns ``(dq, dk,
    dv)`` through the weighted sum, the softmax Jacobian and the scaled product.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Attention()
    >>> q, k = np.zeros((1, 1, 4)), np.zeros((1, 2, 4))
    >>> v = np.array([[[1.0, 0.0], [3.0, 2.0]]])
    >>> layer.forward(q, k, v)  # equal scores: the mean of the values
    array([[[2., 1.]]])
    >>> layer.weights
    array([[[0.5, 0.5]]])
    >>> dq, dk, dv = layer.backward(np.ones((1, 1, 2)))
    >>> dv
    array([[[0.5, 0.5],
            [0.5, 0.5]]])
    """

    kind = "attention"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.q: Any = None
        self.k: Any = None
        self.v: Any = None
        self.weights: Any = None
        self.scale: Any = None

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:  # type: ignore[override]
        layouts = {"q": "(..., T, d)", "k": "(..., S, d)", "v": "(..., S, dv)"}
        q, k, v = (check_ndim("Attention", name, value, (2, 3, 4), layouts[name])
                   for name, value in (("q", q), ("k", k), ("v", v)))
        if q.shape[-1] != k.shape[-1] or k.shape[:-1] != v.shape[:-1] or q.shape[:-2] != k.shape[:-2]:
            msg = (f"Attention expects q (..., T, d), k (..., S, d), v (..., S, dv) with the same batch axes, "
                   f"got q {q.shape}, k {k.shape}, v {v.shape}")
            raise ShapeError(msg)
        self.q, self.k, self.v = q, k, v
        self.scale = 1 / np.sqrt(q.shape[-1])
        scores = (q @ np.swapaxes(k, -1, -2)) * self.scale
        shifted = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
        self.weights = shifted / np.sum(shifted, axis=-1, keepdims=True)
        return self.weights @ v  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[override]
        a = self.weights
        dv = np.swapaxes(a, -1, -2) @ dout
        da = dout @ np.swapaxes(self.v, -1, -2)
        dscores = a * (da - np.sum(da * a, axis=-1, keepdims=True)) * self.scale  # softmax Jacobian, row by row
        dq = dscores @ self.k
        dk = np.swapaxes(dscores, -1, -2) @ self.q
        return dq, dk, dv
