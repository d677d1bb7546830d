"""Running N-D rules compiled from index notation: windows, gathers, scatter-adds, no SymPy.

:mod:`symgrad.index.tensorform` prints an N-D forward or backward rule as
Python source that calls the helpers here; :func:`compile_source` turns that
source into a function. The helpers are the three array operations index
notation needs beyond ``np.einsum``:

* :func:`window`: the read ``x[n, c, 2*i + u, 2*j + v]`` (each position affine
  in the indices) as a strided view of x, zero-padded where a position falls
  outside x (a read outside a tensor is 0: zero padding). No copy is made.
* :func:`gather`: a read at positions that are arrays (a lookup ``W[idx[n], d]``).
* :func:`scatter_add`: the adjoint of both, ``out[pos(s)] += value[s]`` for
  every s. Positions that repeat or overlap add up: affine positions go
  through strided slices, one ``+=`` per value of the small indices (a
  convolution's kernel offsets); other positions through ``np.add.at``.

Examples
--------
>>> x = np.arange(5.0)
>>> window(x, ((0, ((0, 1), (1, 1))),), (4, 2))   # x[i + u] for i < 4, u < 2
array([[0., 1.],
       [1., 2.],
       [2., 3.],
       [3., 4.]])
>>> scatter_add((5,), np.ones((4, 2)), ((0, ((0, 1), (1, 1))),))   # the adjoint: overlaps add
array([1., 2., 2., 2., 1.])
>>> scatter_add((3,), np.ones(4), (np.array([0, 2, 0, 0]),))        # a lookup: repeats add
array([3., 0., 1.])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symgrad.errors import SymgradError
from symgrad.special import erf

__all__ = ["compile_source", "gather", "scatter_add", "window"]

#: An affine position: (constant, ((axis of the value, coefficient), ...)).
Affine = tuple[int, tuple[tuple[int, int], ...]]
#: Most ``+=`` of strided slices before a scatter goes through ``np.add.at`` instead.
MAX_SLICE_LOOPS = 4096


def _bounds(position: Affine, shape: Sequence[int]) -> tuple[int, int]:
    const, terms = position
    low = const + sum(min(0, c * (shape[a] - 1)) for a, c in terms)
    high = const + sum(max(0, c * (shape[a] - 1)) for a, c in terms)
    return low, high


def _pads(positions: Sequence[Affine], shape: Sequence[int], dims: Sequence[int]) -> list[tuple[int, int]]:
    pads = []
    for position, dim in zip(positions, dims, strict=True):
        low, high = _bounds(position, shape)
        pads.append((max(0, -low), max(0, high - (dim - 1))))
    return pads


def window(a: np.ndarray, positions: Sequence[Affine], shape: Sequence[int]) -> np.ndarray:
    """The view ``v[s] = a[pos_0(s), pos_1(s), ...]`` of shape ``shape``, each position affine in s.

    Positions outside ``a`` read 0 (``a`` is zero-padded first, only if needed).
    """
    a = np.asarray(a)
    pads = _pads(positions, shape, a.shape)
    if any(low or high for low, high in pads):
        a = np.pad(a, pads)
    a = np.ascontiguousarray(a)
    start = tuple(const + low for (const, _), (low, _) in zip(positions, pads, strict=True))
    strides = [0] * len(shape)
    for k, (_, terms) in enumerate(positions):
        for axis, coef in terms:
            strides[axis] += coef * a.strides[k]
    offset = sum(s * st for s, st in zip(start, a.strides, strict=True))
    first = a.reshape(-1)[offset // a.itemsize :]
    return np.lib.stride_tricks.as_strided(first, tuple(shape), tuple(strides), writeable=False)


def gather(a: np.ndarray, positions: Sequence[Any]) -> np.ndarray:
    """``a[pos_0, pos_1, ...]`` with integer arrays (broadcast together); out-of-range reads are 0."""
    arrays = np.broadcast_arrays(*(np.asarray(p) for p in positions))
    inside = np.ones(arrays[0].shape, dtype=bool)
    for p, dim in zip(arrays, a.shape, strict=True):
        inside &= (p >= 0) & (p < dim)
    if inside.all():
        return a[tuple(arrays)]  # type: ignore[no-any-return]
    clipped = tuple(np.clip(p, 0, dim - 1) for p, dim in zip(arrays, a.shape, strict=True))
    return np.where(inside, a[clipped], 0)


def scatter_add(shape: Sequence[int], value: np.ndarray, positions: Sequence[Any]) -> np.ndarray:
    """``out = zeros(shape); out[pos(s)] += value[s]`` for every index s of ``value``: repeats add.

    Each position is affine in value's axes (:data:`Affine`) or an integer array
    broadcastable to value (a lookup). Positions outside ``out`` are dropped
    (the adjoint of reading 0 there).
    """
    value = np.asarray(value)
    if all(isinstance(p, tuple) for p in positions):
        plan = _slice_plan(positions, value.shape)
        if plan is not None:
            return _scatter_slices(shape, value, positions, plan)
    rows = _rows(shape, value, positions)
    if rows is not None:
        return rows
    grids = np.indices(value.shape, sparse=True)
    positions = [p[0] + sum((c * grids[a] for a, c in p[1]), np.zeros((1,) * value.ndim, dtype=np.intp))
                 if isinstance(p, tuple) else p for p in positions]
    arrays = np.broadcast_arrays(*(np.asarray(p) for p in positions), value)
    indices, flat = arrays[:-1], arrays[-1]
    inside = np.ones(flat.shape, dtype=bool)
    for p, dim in zip(indices, shape, strict=True):
        inside &= (p >= 0) & (p < dim)
    out = np.zeros(tuple(shape), dtype=value.dtype)
    np.add.at(out, tuple(p[inside] for p in indices), flat[inside])
    return out


def _rows(shape: Sequence[int], value: np.ndarray, positions: Sequence[Any]) -> np.ndarray | None:
    """A lookup whose trailing positions each run over a whole axis (``dW[idx[n, t], d]``): one ``np.add.at``
    of whole rows, as the textbook embedding does; None for any other form."""
    lead = 0
    while lead < len(positions) and not isinstance(positions[lead], tuple):
        lead += 1
    trailing = positions[lead:]
    whole = [isinstance(p, tuple) and p[0] == 0 and len(p[1]) == 1 and p[1][0][1] == 1 for p in trailing]
    if not lead or not all(whole):
        return None
    axes: list[int] = [int(p[1][0][0]) for p in trailing]
    if len(set(axes)) != len(axes) or any(value.shape[a] != shape[lead + k] for k, a in enumerate(axes)):
        return None
    others = [a for a in range(value.ndim) if a not in axes]
    moved = np.transpose(value, [*others, *axes])
    indices: list[np.ndarray] = []
    for p in positions[:lead]:
        given = np.asarray(p)
        if given.ndim != value.ndim:
            return None
        array = np.transpose(np.broadcast_to(given, value.shape), [*others, *axes])
        array = array[(Ellipsis, *([0] * len(axes)))]  # type: ignore[arg-type]
        if array.size and (array.min() < 0 or array.max() >= shape[len(indices)]):
            return None  # positions outside: the general path drops them
        indices.append(array)
    out = np.zeros(tuple(shape), dtype=value.dtype)
    np.add.at(out, tuple(indices), moved)
    return out


def _slice_plan(positions: Sequence[Affine], shape: Sequence[int]) -> list[int | None] | None:
    """For each position, the axis it runs along as a strided slice (None: fixed per loop), or None
    when the loops over the remaining axes would be too many (or a slice would not be one-to-one)."""
    uses: dict[int, int] = {}
    for _, terms in positions:
        for axis, coef in terms:
            if coef:
                uses[axis] = uses.get(axis, 0) + 1
    plan: list[int | None] = []
    taken: set[int] = set()
    for _, terms in positions:
        choices = [a for a, c in terms if c and uses[a] == 1 and a not in taken]
        best = max(choices, key=lambda a: (shape[a], -a), default=None)
        plan.append(best)
        if best is not None:
            taken.add(best)
    loops = math.prod(n for a, n in enumerate(shape) if a not in taken)
    return plan if loops <= MAX_SLICE_LOOPS else None


def _scatter_slices(shape: Sequence[int], value: np.ndarray, positions: Sequence[Affine],
                    plan: Sequence[int | None]) -> np.ndarray:
    pads = _pads(positions, value.shape, shape)
    padded = np.zeros(tuple(d + lo + hi for d, (lo, hi) in zip(shape, pads, strict=True)), dtype=value.dtype)
    sliced = [a for a in plan if a is not None]
    loop_axes = [a for a in range(value.ndim) if a not in sliced]
    order = sorted(sliced, key=plan.index)  # value's sliced axes in the order of the output's positions
    for fixed in np.ndindex(*(value.shape[a] for a in loop_axes)):
        at = dict(zip(loop_axes, fixed, strict=True))
        target: list[Any] = []
        for (const, terms), axis, (low, _) in zip(positions, plan, pads, strict=True):
            start = const + low + sum(c * at[a] for a, c in terms if a != axis)
            if axis is None:
                target.append(start)
                continue
            step = dict(terms)[axis]
            stop = start + step * value.shape[axis]
            target.append(slice(start, None if stop < 0 else stop, step))
        piece = value[tuple(at.get(a, slice(None)) for a in range(value.ndim))]
        remaining = [a for a in range(value.ndim) if a in sliced]
        piece = np.transpose(piece, [remaining.index(a) for a in order])
        padded[tuple(target)] += piece
    return padded[tuple(slice(lo, lo + d) for d, (lo, _) in zip(shape, pads, strict=True))]


def scatter_assign(shape: Sequence[int], value: np.ndarray, positions: Sequence[Any]) -> np.ndarray:
    """``out[pos(s)] = value[s]`` in row-major order of s: where positions repeat or overlap the last
    write wins. Not a rule of symgrad's: the mistake (``=`` for ``+=`` or ``np.add.at``) that
    :mod:`symgrad.check.tensorrules` compares a wrong backward with."""
    value = np.asarray(value)
    grids = np.indices(value.shape, sparse=True)
    arrays = [p[0] + sum((c * grids[a] for a, c in p[1]), np.zeros((1,) * value.ndim, dtype=np.intp))
              if isinstance(p, tuple) else p for p in positions]
    *indices, flat = (a.reshape(-1) for a in np.broadcast_arrays(*arrays, value))
    inside = np.ones(flat.shape, dtype=bool)
    for p, dim in zip(indices, shape, strict=True):
        inside &= (p >= 0) & (p < dim)
    out = np.zeros(tuple(shape), dtype=value.dtype)
    out[tuple(p[inside] for p in indices)] = flat[inside]
    return out


def ties_mask(body: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """1 at every maximum of ``body`` over ``axes`` (all ties), not only the first: the mistake of a max
    pooling that sends the gradient to every tied entry."""
    return (body == np.max(body, axis=tuple(axes), keepdims=True)).astype(body.dtype)  # type: ignore[no-any-return]


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


def first_argmax_mask(body: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """1 where ``body`` is at its first maximum over ``axes`` (row-major order in a window), else 0."""
    moved = np.moveaxis(body, list(axes), list(range(body.ndim - len(axes), body.ndim)))
    outer = moved.shape[: body.ndim - len(axes)]
    flat = moved.reshape(*outer, -1)
    best = np.argmax(flat, axis=-1)
    mask = np.zeros(flat.shape, dtype=body.dtype)
    np.put_along_axis(mask, best[..., None], 1, axis=-1)
    return np.moveaxis(mask.reshape(moved.shape), list(range(body.ndim - len(axes), body.ndim)), list(axes))


#: What generated code may call, beside NumPy.
NAMESPACE: dict[str, Any] = {
    "np": np, "_window": window, "_gather": gather, "_scatter_add": scatter_add, "_sigmoid": _sigmoid,
    "_erf": erf, "_argmax_mask": first_argmax_mask, "_scatter_assign": scatter_assign, "_ties_mask": ties_mask,
}


def compile_source(source: str, name: str) -> Callable[..., Any]:
    """The function ``name`` defined by ``source`` (printed by symgrad from a checked tree, never user text)."""
    namespace = dict(NAMESPACE)
    try:
        exec(compile(source, f"<symgrad-{name}>", "exec"), namespace)  # noqa: S102  printed from a checked tree
    except SyntaxError as error:  # pragma: no cover - a printer bug, not the user's input
        msg = f"symgrad could not compile its N-D rule {name}: {error}"
        raise SymgradError(msg) from error
    return namespace[name]  # type: ignore[no-any-return]
