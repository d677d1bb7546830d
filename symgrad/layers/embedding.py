"""The embedding lookup's textbook reference: Embedding.

The NumPy reference side (the article's protocol) of a layer whose
index-notation forward (``out[n, d] = W[idx[n], d]``, an indexed read) comes with
the derivation engine; exported from this module only for now (not from
``symgrad``, the spec catalogue nor ``symgrad --help``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import DTypeError, ShapeError
from symgrad.layers.arguments import positive_int
from symgrad.layers.base import Layer
from symgrad.layers.tensorforms import embedding_forward

if TYPE_CHECKING:
    from symgrad.index.ir import IndexForward

__all__ = ["Embedding"]


class Embedding(Layer):
    """Rows of W (vocab x dim) looked up by integer indices: ``out[..., :] = W[idx[...], :]``.

    ``forward(idx)`` takes an integer array of any shape (a batch (N,), or (N, T)
    for sequences) and returns ``idx.shape + (dim,)``. The indices are not
    differentiable: ``backward(dout)`` stores ``dW`` and returns None. An index
    that appears several times reads the same row several times, so its
    gradients add up: ``np.add.at``, never ``dW[idx] = dout`` (which keeps only
    the last).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Embedding(4, 2)
    >>> layer.set_params({"W": np.arange(8.0).reshape(4, 2)})
    >>> layer.forward(np.array([3, 0, 3]))
    array([[6., 7.],
           [0., 1.],
           [6., 7.]])
    >>> layer.backward(np.ones((3, 2))) is None
    True
    >>> layer.dW
    array([[1., 1.],
           [0., 0.],
           [0., 0.],
           [2., 2.]])
    """

    kind = "embedding"
    roles = ("W",)

    def __init__(self, vocab: int, dim: int, *, name: str | None = None) -> None:
        super().__init__(name)
        self.vocab = positive_int("Embedding", "vocab", vocab)
        self.dim = positive_int("Embedding", "dim", dim)
        self.W: Any = None
        self.idx: Any = None
        self.dW: Any = None

    @property
    def batched(self) -> bool:
        return True

    def describe(self) -> str:
        return f"{self.vocab}, {self.dim}"

    def output_features(self, in_features: int | None) -> int | None:
        return self.dim

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        return {"W": (self.vocab, self.dim)}

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """``y[n, d] = W[idx[n], d]`` (``ndim`` 1) or ``y[n, t, d] = W[idx[n, t], d]`` (2, the default)."""
        return embedding_forward(2 if ndim is None else ndim)

    def forward(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            msg = f"Embedding takes integer indices into its {self.vocab} rows, got dtype {idx.dtype}"
            raise DTypeError(msg)
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab):
            bad = idx[(idx < 0) | (idx >= self.vocab)].flat[0]
            msg = f"Embedding index {int(bad)} is out of range: indices must be in 0..{self.vocab - 1} (vocab)"
            raise ShapeError(msg)
        self.idx = idx
        return self.W[idx]  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> None:  # type: ignore[override]
        dout = np.asarray(dout)
        self.dW = np.zeros(np.shape(self.W), dtype=np.result_type(self.W, dout))
        np.add.at(self.dW, self.idx, dout)  # repeated indices add up
