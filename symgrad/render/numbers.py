"""Numbers and shapes as documents print them: short, stable, never locale-dependent."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["format_array", "format_number", "format_shape", "format_value", "number_latex", "value_latex"]


def format_number(value: Any, digits: int = 6) -> str:
    """A float with ``digits`` significant digits (``nan``, ``inf`` spelt out).

    Examples
    --------
    >>> format_number(-0.7633321345), format_number(1e-11, 3), format_number(float("nan"))
    ('-0.763332', '1e-11', 'nan')
    >>> format_number(-0.0)
    '0'
    """
    number = float(np.real(value))
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = f"{number:.{digits}g}"
    return "0" if text == "-0" else text


def format_shape(shape: tuple[Any, ...] | None) -> str:
    """A shape as ``N×4``; a scalar is ``scalar``.

    Examples
    --------
    >>> import sympy as sp
    >>> format_shape((sp.Symbol("N"), 4)), format_shape((4,)), format_shape(())
    ('N×4', '4', 'scalar')
    """
    if not shape:
        return "scalar"
    return "×".join(str(dim) for dim in shape)


def format_array(value: Any, digits: int = 4, limit: int = 4) -> str:
    """The first ``limit`` entries of an array, row-major, then ``…`` and the count.

    Examples
    --------
    >>> format_array([[1.0, 2.0], [3.0, 4.0]])
    '[1, 2, 3, 4]'
    >>> format_array([0.5, 0.25, 0.125, 1 / 3, 0.2, 0.1])
    '[0.5, 0.25, 0.125, 0.3333, … 6 entries]'
    """
    flat = np.asarray(value, dtype=float).ravel()
    shown = ", ".join(format_number(v, digits) for v in flat[:limit])
    if flat.size > limit:
        return f"[{shown}, … {flat.size} entries]"
    return f"[{shown}]"


def format_value(value: Any, digits: int = 6) -> str:
    """A scalar as a number, an array by :func:`format_array`.

    Examples
    --------
    >>> format_value(0.5), format_value([0.5, 1.5])
    ('0.5', '[0.5, 1.5]')
    """
    if np.ndim(value) == 0:
        return format_number(value, digits)
    return format_array(value, min(digits, 4))


def number_latex(value: Any, digits: int = 6) -> str:
    r"""A number as LaTeX math: ``1.84\times10^{-10}`` rather than ``1.84e-10`` (the minus is math's).

    Examples
    --------
    >>> number_latex(1.84e-10, 3), number_latex(-0.25), number_latex(3e20), number_latex(float("inf"))
    ('1.84\\times10^{-10}', '-0.25', '3\\times10^{20}', '\\infty')
    """
    text = format_number(value, digits)
    if text in ("nan", "inf", "-inf"):
        return {"nan": r"\mathrm{NaN}", "inf": r"\infty", "-inf": r"-\infty"}[text]
    mantissa, sep, exponent = text.partition("e")
    if not sep:
        return mantissa
    return rf"{mantissa}\times10^{{{int(exponent)}}}"


def value_latex(value: Any, digits: int = 4) -> str:
    r"""A step's value at a point, with its relation: ``= 0.5``, ``\approx 0.4213``; an array's norm.

    Examples
    --------
    >>> value_latex(0.5), value_latex(2 / 3), value_latex([[3.0, 4.0]]), value_latex(0.8 * 1.5 - 0.3)
    ('= 0.5', '\\approx 0.6667', '\\lVert\\cdot\\rVert = 5', '= 0.9')
    """
    array = np.asarray(value, dtype=float)
    prefix = ""
    if array.ndim:
        prefix = r"\lVert\cdot\rVert "
        array = np.asarray(np.linalg.norm(array))
    number = float(array)
    shown = format_number(number, digits)
    # 0.8 * 1.5 - 0.3 is 0.9000000000000001: "= 0.9", not "≈ 0.9" (rounding of the arithmetic, not of the shown digits).
    exact = shown not in ("nan", "inf", "-inf") and abs(float(shown) - number) <= 1e-12 * max(1.0, abs(number))
    relation = "=" if exact else r"\approx"
    return f"{prefix}{relation} {number_latex(number, digits)}"
