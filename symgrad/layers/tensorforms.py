"""The N-D layers' forwards in index notation: convolution, pooling, flatten, embedding.

Each layer in :mod:`symgrad.layers.conv` and :mod:`symgrad.layers.embedding`
writes its forward here, once; its backward is derived from it by
:mod:`symgrad.index` (Kronecker deltas, their elimination, the scatter-add of
each window or lookup) and compiled by :mod:`symgrad.index.tensorform`. The
textbook NumPy code in those modules stays the independent third side.
SymPy is imported inside the functions, never when this module is.

Conventions (NCHW, as the curricula): ``x[n, c, h, w]``; a read outside x is
0 (zero padding); pooling windows are ``kernel`` wide, ``stride`` apart;
max pooling's gradient goes to each window's first maximum (row-major), as
``np.argmax`` gives it in cs231n's and DLFS's code.

Examples
--------
>>> print(conv_forward((3, 3), (1, 1), (1, 1)).body)
b[f] + Sum(W[f, c, u, v]*x[n, c, i + u - 1, j + v - 1], (c, 0, C - 1), (u, 0, 2), (v, 0, 2))
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symgrad.index.ir import IndexForward

__all__ = ["attention_stages", "conv_forward", "embedding_forward", "flatten_forward", "pool_forward"]


def _dims() -> tuple[Any, ...]:
    import sympy as sp

    return tuple(sp.Symbol(name, integer=True, positive=True) for name in ("N", "C", "H", "Wx"))


def _out(size: Any, kernel: int, stride: int, pad: int) -> Any:
    import sympy as sp

    return sp.floor((size + 2 * pad - kernel) / sp.Integer(stride)) + 1


@functools.cache
def conv_forward(kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> IndexForward:
    """``y[n,f,i,j] = Σ_c,u,v W[f,c,u,v] x[n,c,S i + u - P, S j + v - P] + b[f]``."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices

    n, f, i, j, c, u, v = indices("n f i j c u v")
    big_n, big_c, h, w = _dims()
    big_f = sp.Symbol("F", integer=True, positive=True)
    x, weight, bias = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("b")
    read = x[n, c, stride[0] * i + u - pad[0], stride[1] * j + v - pad[1]]
    body = sp.Sum(weight[f, c, u, v] * read, (c, 0, big_c - 1), (u, 0, kernel[0] - 1), (v, 0, kernel[1] - 1)) + bias[f]
    tensors = (Tensor("x", (big_n, big_c, h, w)), Tensor("W", (big_f, big_c, *kernel)), Tensor("b", (big_f,)))
    ranges = ((n, big_n), (f, big_f), (i, _out(h, kernel[0], stride[0], pad[0])),
              (j, _out(w, kernel[1], stride[1], pad[1])), (c, big_c), (u, kernel[0]), (v, kernel[1]))
    # Two output rows (the stride shows) and two columns, padding included: small, so the proofs stay quick.
    examples = ((big_n, 1), (big_c, 2), (big_f, 2), (h, max(1, kernel[0] + stride[0] - 2 * pad[0])),
                (w, max(1, kernel[1] + stride[1] - 2 * pad[1])))
    return IndexForward("y", (n, f, i, j), body, tensors, ranges, examples=examples)


@functools.cache
def pool_forward(kind: str, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> IndexForward:
    """Max pooling ``y = max_u,v x[n,c,S i + u - P, S j + v - P]``, or average pooling (the mean)."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.index.reduce import MaxOver

    n, c, i, j, u, v = indices("n c i j u v")
    big_n, big_c, h, w = _dims()
    x = sp.IndexedBase("x")
    read = x[n, c, stride[0] * i + u - pad[0], stride[1] * j + v - pad[1]]
    limits = ((u, 0, kernel[0] - 1), (v, 0, kernel[1] - 1))
    body = MaxOver(read, *limits) if kind == "max" else sp.Sum(read, *limits) / (kernel[0] * kernel[1])
    ranges = ((n, big_n), (c, big_c), (i, _out(h, kernel[0], stride[0], pad[0])),
              (j, _out(w, kernel[1], stride[1], pad[1])), (u, kernel[0]), (v, kernel[1]))
    examples = ((big_n, 1), (big_c, 1), (h, max(1, kernel[0] + stride[0] - 2 * pad[0])),
                (w, max(1, kernel[1] + stride[1] - 2 * pad[1])))
    return IndexForward("y", (n, c, i, j), body, (Tensor("x", (big_n, big_c, h, w)),), ranges, examples=examples)


@functools.cache
def flatten_forward(ndim: int) -> IndexForward:
    """``y[n, k] = x[n, ...]`` with k running over the trailing axes in row-major order."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, index

    n, k = index("n"), index("k")
    dims = tuple(sp.Symbol(name, integer=True, positive=True) for name in ("N", "C", "H", "Wx")[: max(ndim, 2)])
    if ndim > 4 or ndim < 2:
        from symgrad.errors import ShapeError

        msg = f"Flatten takes an input of 2 to 4 dimensions (N, C, H, W); got {ndim}"
        raise ShapeError(msg)
    positions: list[Any] = []
    stride = sp.Integer(1)
    for dim in reversed(dims[1:]):
        positions.insert(0, sp.Mod(sp.floor(k / stride), dim) if stride != 1 else sp.Mod(k, dim))
        stride = stride * dim
    positions[0] = sp.floor(k / (stride / dims[1])) if len(dims) > 2 else k
    x = sp.IndexedBase("x")
    body = x[(n, *positions)]
    total = sp.Mul(*dims[1:])
    examples = tuple((d, 2) for d in dims)
    return IndexForward("y", (n, k), body, (Tensor("x", dims),), ((n, dims[0]), (k, total)), examples=examples)


@functools.cache
def embedding_forward(ndim: int) -> IndexForward:
    """``y[n, d] = W[idx[n], d]`` (or ``y[n, t, d] = W[idx[n, t], d]`` for sequences): a lookup."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices

    n, t, d = indices("n t d")
    big_n, big_t, vocab, dim = (sp.Symbol(s, integer=True, positive=True) for s in ("N", "T", "V", "D"))
    weight, idx = sp.IndexedBase("W"), sp.IndexedBase("idx")
    out: tuple[Any, ...] = (n, d) if ndim == 1 else (n, t, d)
    idx_dims: tuple[Any, ...] = (big_n,) if ndim == 1 else (big_n, big_t)
    body = weight[idx[out[:-1]], d]
    ranges = tuple((s, size) for s, size in ((n, big_n), (t, big_t), (d, dim)) if s in out)
    tensors = (Tensor("idx", idx_dims, integer=True), Tensor("W", (vocab, dim)))
    examples = ((big_n, 3), (big_t, 1), (vocab, 2), (dim, 2))
    return IndexForward("y", out, body, tensors, ranges, examples=examples)


@functools.cache
def attention_stages() -> tuple[IndexForward, ...]:
    """Scaled dot-product attention as three index forwards, each reading the ones before it:

    ``S[n,t,s] = Σ_i q[n,t,i] k[n,s,i] / √D`` (the scores), ``A[n,t,s] = exp(S[n,t,s]) / Σ_r
    exp(S[n,t,r])`` (the attention weights, a softmax over the keys s) and ``y[n,t,e] = Σ_s A[n,t,s]
    v[n,s,e]`` (the weighted sum of the values). The proofs' sizes are tiny (N = 1, T = S = D = E = 2).

    Examples
    --------
    >>> [str(stage.body) for stage in attention_stages()][1]
    'exp(S[n, t, s])/Sum(exp(S[n, t, r]), (r, 0, Sk - 1))'
    """
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices

    n, t, s, r, i, e = indices("n t s r i e")
    big_n, big_t, keys, dim, values = (sp.Symbol(name, integer=True, positive=True) for name in ("N", "T", "Sk", "D",
                                                                                               "E"))
    q, k, v, scores, weights = (sp.IndexedBase(name) for name in ("q", "k", "v", "S", "A"))
    examples = ((big_n, 1), (big_t, 2), (keys, 2), (dim, 2), (values, 2))
    score = IndexForward("S", (n, t, s), sp.Sum(q[n, t, i] * k[n, s, i], (i, 0, dim - 1)) / sp.sqrt(dim),
                         (Tensor("q", (big_n, big_t, dim)), Tensor("k", (big_n, keys, dim))),
                         ((n, big_n), (t, big_t), (s, keys), (i, dim)), examples=examples)
    softmax = IndexForward("A", (n, t, s), sp.exp(scores[n, t, s]) / sp.Sum(sp.exp(scores[n, t, r]), (r, 0, keys - 1)),
                           (Tensor("S", (big_n, big_t, keys)),), ((n, big_n), (t, big_t), (s, keys), (r, keys)),
                           examples=examples)
    weighted = IndexForward("y", (n, t, e), sp.Sum(weights[n, t, s] * v[n, s, e], (s, 0, keys - 1)),
                            (Tensor("A", (big_n, big_t, keys)), Tensor("v", (big_n, keys, values))),
                            ((n, big_n), (t, big_t), (e, values), (s, keys)), examples=examples)
    return (score, softmax, weighted)
