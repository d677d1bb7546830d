"""Scaled dot-product attention (DLFS2 ch. 8): Attention, derived from its stages, and its textbook reference.

The layer's one fact is its forward in index notation, three stages
(:func:`symgrad.layers.tensorforms.attention_stages`): the scores ``S = q kᵀ/√D``,
the weights ``A = softmax(S)`` over the keys and the output ``y = A v``. Its
backward is derived from them (``symgrad.derive(Attention())``), proven entrywise,
compiled (:mod:`symgrad.numeric.tensorstages`), and serves as the spec of
``check_layer(yours, spec=symgrad.Attention(), x=(q, k, v))``. The NumPy
``forward(q, k, v)`` / ``backward(dout) -> (dq, dk, dv)`` below is written by hand,
as the textbooks write it: the independent third side of the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.arguments import check_ndim
from symgrad.layers.base import Layer
from symgrad.layers.tensorforms import attention_stages

if TYPE_CHECKING:
    from symgrad.index.ir import IndexForward

__all__ = ["Attention"]

#: The usual mistakes of an attention backward, each (what it is, the fix, the changes to the derived rules):
#: a change is (stage output, input, "drop-sum" | "unscaled" | "transpose", the size or tensor it touches).
MISTAKES: tuple[tuple[str, str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("the softmax Jacobian's Σ term left out (dS = A ∘ dA, not A ∘ (dA − rowsum(dA ∘ A)))",
     "subtract each row's sum of dA ∘ A from dA before multiplying by A", (("A", "S", "drop-sum", ""),)),
    ("the 1/√d scale left out in backward (the forward divides the scores by √d)",
     "multiply the scores' gradient by 1/√d, as the forward scales the scores",
     (("S", "q", "unscaled", "D"), ("S", "k", "unscaled", "D"))),
    ("a missing transpose: dq computed with kᵀ (dS @ kᵀ) instead of k", "dq = dS @ k", (("S", "q", "transpose", "k"),)),
    ("a missing transpose: dk computed from the untransposed scores' gradient (dS @ q) instead of dSᵀ @ q",
     "dk = dSᵀ @ q", (("S", "k", "transpose", "G"),)),
    ("a missing transpose: dv computed with the untransposed weights (A @ dout) instead of Aᵀ @ dout",
     "dv = Aᵀ @ dout", (("y", "v", "transpose", "A"),)),
)


class Attention(Layer):
    """Scaled dot-product attention, no parameters: ``out = softmax(q kᵀ / sqrt(d)) v``.

    q is (..., T, d), k is (..., S, d), v is (..., S, dv), with any leading batch
    axes (N, or N and heads) in this reference; the derived spec takes (N, T, d),
    (N, S, d), (N, S, dv). The softmax is over the S keys. The attention weights
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
    #: The inputs, in the order forward takes them (a check passes them as x=(q, k, v)).
    inputs = ("q", "k", "v")
    mistakes = MISTAKES

    @property
    def batched(self) -> bool:
        return True

    def tensor_stages(self) -> tuple[IndexForward, ...]:
        """The forward in index notation, as three stages (scores, weights, output; see the module)."""
        return attention_stages()

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
