"""The random directions of the fast check: cheap to draw, never stored whole when long.

:func:`direction_times_h` gives direction ``index`` for one array, times the step ``h``: the same
for a name checked alone or among others (its seed includes the name), and remembered for the next
check of the same point.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

__all__ = ["CHUNK", "FULL", "IID", "SERIAL", "Direction", "direction_times_h", "serial_dot"]

FloatArray = npt.NDArray[np.float64]

#: Elements stepped at a time: 256 KiB of float64, which stays in cache.
CHUNK = 1 << 15
#: Vectors up to this long get independent random entries; longer ones a cheaper construction.
IID = 4096
#: Directions up to this long are kept whole (2 MiB), longer ones formed a chunk at a time.
FULL = 1 << 18
#: Elements per BLAS dot in :func:`serial_dot`: OpenBLAS runs a dot of more than 10,000 elements on
#: several threads, and on a busy machine waking them took 25-45 ms where the dot itself takes 0.03 ms.
SERIAL = 8192


def serial_dot(a: FloatArray, b: FloatArray) -> float:
    """``a . b`` of two flat arrays, in BLAS calls short enough that BLAS keeps them on this thread.

    Examples
    --------
    >>> a = np.arange(20000.0)
    >>> serial_dot(a, a) == float(np.dot(a, a))
    True
    """
    size = a.size
    if size <= SERIAL:
        return float(np.dot(a, b))
    return math.fsum(float(np.dot(a[i : i + SERIAL], b[i : i + SERIAL])) for i in range(0, size, SERIAL))


class Direction:
    """``h d``: entries of ``d`` i.i.d. on [-1/2, 1/2), or for a long vector a sum of two such, repeated.

    Drawing a random number costs several times a pass over the parameters, so for more than
    :data:`IID` entries two short random vectors ``r1``, ``r2`` of prime lengths ``p1 < p2``
    (both above ``sqrt(size)``) are added, repeated: ``d[i] = r1[i % p1] + r2[i % p2]``. By the
    Chinese remainder theorem no two entries share both parts, and a fixed error ``e != 0`` is
    missed only if its sums over every residue class modulo ``p1`` and modulo ``p2`` vanish:
    with probability 0 for continuous ``r1``, ``r2`` unless ``e`` has that structure, which no
    shape of a layer gives it. ``h`` is applied once, when the direction is drawn.
    """

    def __init__(self, rng: np.random.Generator, size: int, h: float) -> None:
        self.periods: tuple[int, int] = (0, 0)
        self.tiles: tuple[FloatArray, FloatArray] | None = None
        if size <= IID:
            self.full = rng.random(size)
            self.full -= 0.5
            self.full *= h
            self.norm2 = serial_dot(self.full, self.full)
            return
        p1 = _prime_at_least(int(1.5 * math.sqrt(size)) + 7)
        p2 = _prime_at_least(p1 + 1)
        length = size if size <= FULL else CHUNK  # a direction up to FULL long is kept whole
        parts = []
        for p in (p1, p2):
            r = rng.random(p)
            r -= 0.5
            r *= h
            parts.append(np.resize(r, length + p))  # repeated, so any window is a slice
        if size <= FULL:
            self.full = parts[0][:size] + parts[1][:size]
            self.norm2 = serial_dot(self.full, self.full)
            return
        self.periods, self.tiles, self.full = (p1, p2), (parts[0], parts[1]), np.empty(0)
        out = np.empty(CHUNK)
        self.norm2 = 0.0
        for start in range(0, size, CHUNK):
            chunk = self.chunk(start, min(start + CHUNK, size), out)
            self.norm2 += serial_dot(chunk, chunk)

    def chunk(self, start: int, stop: int, out: FloatArray) -> FloatArray:
        """Entries ``start:stop`` (at most :data:`CHUNK` of them): a view, or written into ``out``."""
        if self.tiles is None:
            return self.full[start:stop]
        p1, p2 = self.periods
        a, b = start % p1, start % p2
        return np.add(self.tiles[0][a : a + stop - start], self.tiles[1][b : b + stop - start], out=out[: stop - start])


#: Directions drawn lately, by (seed, index, name, size, h): checking the same point again draws nothing.
_DIRECTIONS: OrderedDict[tuple[int, int, str, int, float], Direction] = OrderedDict()


def direction_times_h(seed: int, index: int, name: str, size: int, h: float) -> Direction:
    """Direction ``index`` for ``name``, times ``h``: the same for a name alone or among others.

    Examples
    --------
    >>> u = direction_times_h(0, 0, "W1", 10, 0.5)
    >>> u is direction_times_h(0, 0, "W1", 10, 0.5), bool(np.all(np.abs(u.full) <= 0.25))
    (True, True)
    >>> bool(np.all(u.full == direction_times_h(0, 0, "W2", 10, 0.5).full))  # each name its own
    False
    """
    key = (seed, index, name, size, h)
    found = _DIRECTIONS.get(key)
    if found is None:
        rng = np.random.default_rng([seed, index, zlib.crc32(name.encode())])
        found = _DIRECTIONS[key] = Direction(rng, size, h)
        while len(_DIRECTIONS) > 8:  # each at most about 6 MiB
            _DIRECTIONS.popitem(last=False)
    else:
        _DIRECTIONS.move_to_end(key)
    return found


def _prime_at_least(n: int) -> int:
    candidate = max(n, 2)
    while any(candidate % k == 0 for k in range(2, math.isqrt(candidate) + 1)):
        candidate += 1
    return candidate
