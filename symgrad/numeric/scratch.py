"""Scratch arrays kept between checks, so that a check of a mid-sized network does not page-fault.

An array of a few hundred KiB is above the C allocator's threshold for returning memory to
the system: allocated afresh in every check, its pages are mapped and zeroed by the kernel
each time, which for a network of width 256 costs more than a forward pass. The working
copies of the directional check and the chunk buffers of the comparisons are therefore
borrowed from a small per-thread pool and given back afterwards. Only :data:`KEPT_BYTES`
are kept in all; larger arrays come and go as before (the kernel maps those in huge pages,
cheaply), so a check of a large network holds nothing between calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["KEPT_BYTES", "borrow", "give_back"]

#: At most this many bytes of scratch arrays are kept per thread between calls.
KEPT_BYTES = 4 << 20


class _Pool(threading.local):
    def __init__(self) -> None:
        self.free: dict[tuple[tuple[int, ...], str], list[np.ndarray]] = {}
        self.bytes = 0


_POOL = _Pool()


def borrow(shape: tuple[int, ...] | int, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """An uninitialised C-ordered array: one given back earlier, or a new one.

    Examples
    --------
    >>> a = borrow(3)
    >>> give_back([a])
    >>> borrow(3) is a, borrow(3) is a  # lent once, until it is given back
    (True, False)
    """
    key = ((shape,) if isinstance(shape, int) else tuple(shape), np.dtype(dtype).str)
    kept = _POOL.free.get(key)
    if kept:
        array = kept.pop()
        _POOL.bytes -= array.nbytes
        return array
    return np.empty(key[0], dtype=key[1])


def give_back(arrays: Iterable[np.ndarray]) -> None:
    """Keep ``arrays`` for the next :func:`borrow` while the pool stays under :data:`KEPT_BYTES`.

    The caller must hold no other reference that it still uses. Views and arrays that would
    take the pool past its limit are not kept.

    Examples
    --------
    >>> big = np.empty(KEPT_BYTES // 8 + 1)
    >>> give_back([big])
    >>> borrow(big.shape) is big
    False
    """
    for array in arrays:
        if _POOL.bytes + array.nbytes > KEPT_BYTES or not array.flags.c_contiguous or array.base is not None:
            continue
        _POOL.free.setdefault((array.shape, array.dtype.str), []).append(array)
        _POOL.bytes += array.nbytes
