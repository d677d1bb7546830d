"""Special functions in plain NumPy for the formulas symgrad compiles: ``erf``.

NumPy has no error function and symgrad does not depend on SciPy. ``math.erf``
vectorised would be accurate but takes real numbers only, and symgrad's checks
feed forwards complex numbers (the complex step, :mod:`symgrad.numeric.finite`,
and the reference backward of an activation made from a formula, see
:mod:`symgrad.layers.formula`). So :func:`erf` is written with operations that
are analytic in their argument: a series of positive terms for ``|x| <= 2.5``
and a continued fraction for ``erfc`` beyond, each with a fixed number of terms,
so that ``erf(x + ih)`` carries ``h erf'(x)`` in its imaginary part without
ever being told the derivative. Both agree with ``math.erf`` to a few units in
the last place (``tests/test_special.py`` pins 2e-16 absolute and relative error
against ``mpmath`` on a dense grid, and the derivative through a complex step to 1e-15).

The module imports NumPy only: the layers (the lowest floor) use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["erf"]

#: Below this |x| the series, above it the continued fraction.
_SPLIT = 2.5
#: Terms of the series: at |x| = 2.5 the next term is below 1e-17 of the sum.
_SERIES_TERMS = 60
#: Depth of the continued fraction: at |x| = 2.5 it has converged to 1e-17.
_FRACTION_DEPTH = 60
#: Past this |x|, erfc(x) < 1e-44: erf is +-1 in double precision (and its derivative 0).
_SATURATE = 10.0
_TWO_OVER_SQRT_PI = 1.1283791670955126
_ONE_OVER_SQRT_PI = 0.5641895835477563


def erf(x: Any) -> Any:
    """The error function ``2/sqrt(pi) * integral of exp(-t**2) from 0 to x``, entrywise.

    Accepts real or complex arrays (complex with a small imaginary part, as a
    complex step makes: the formulas are analytic, so the imaginary part comes
    out as the derivative times the step).

    Examples
    --------
    >>> import math
    >>> values = erf(np.array([-1.0, 0.0, 0.5, 3.0]))
    >>> bool(np.all(np.abs(values - [math.erf(v) for v in (-1.0, 0.0, 0.5, 3.0)]) < 1e-15))
    True
    >>> step = erf(np.array([0.5 + 1e-30j])).imag / 1e-30   # erf'(0.5) = 2/sqrt(pi) exp(-0.25)
    >>> bool(abs(step[0] - 2 / math.sqrt(math.pi) * math.exp(-0.25)) < 1e-15)
    True
    """
    x = np.asarray(x)
    dtype = np.result_type(x, np.float64)
    real = np.real(x)
    sign = np.where(real < 0, -1.0, 1.0)
    a = np.where(np.abs(real) > _SATURATE, _SATURATE, sign * x).astype(dtype)  # |x|, analytically
    small = np.real(a) <= _SPLIT
    near = np.where(small, a, 0.0)
    far = np.where(small, _SPLIT + 1.0, a)
    with np.errstate(invalid="ignore"):  # NaN inputs give NaN, quietly, as math functions do
        result = np.where(small, _series(near), 1.0 - _fraction(far))
    return sign * result


def _series(a: np.ndarray) -> np.ndarray:
    """erf(a) = 2/sqrt(pi) exp(-a^2) sum_n (2a^2)^n a / (1*3*...*(2n+1)), every term positive."""
    square = 2.0 * a * a
    total = np.ones_like(a)
    for n in range(_SERIES_TERMS, 0, -1):  # Horner: 1 + 2a^2/3 (1 + 2a^2/5 (1 + ...))
        total = 1.0 + square / (2 * n + 1) * total
    return _TWO_OVER_SQRT_PI * np.exp(-a * a) * a * total  # type: ignore[no-any-return]


def _fraction(a: np.ndarray) -> np.ndarray:
    """erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), for a > 2.5."""
    tail = a
    for k in range(_FRACTION_DEPTH, 0, -1):
        tail = a + (k / 2) / tail
    return _ONE_OVER_SQRT_PI * np.exp(-a * a) / tail  # type: ignore[no-any-return]
