"""Checks of the textbook reference layers' constructor arguments and input shapes.

Shared by the curriculum's reference layers (:mod:`symgrad.layers.norm`,
:mod:`symgrad.layers.conv`, ...): each bad argument raises symgrad's own error
(:class:`~symgrad.errors.ShapeError` for a size or shape, :class:`~symgrad.errors.SpecError`
for any other value), naming the layer, the argument, what it got and what it expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.errors import DTypeError, ShapeError, SpecError

__all__ = ["check_ndim", "pair", "positive_float", "positive_int", "probability"]


def positive_int(owner: str, label: str, value: object) -> int:
    """``value`` as an int if it is a positive integer, else a ShapeError.

    Examples
    --------
    >>> positive_int("Conv2d", "in_channels", 3)
    3
    >>> positive_int("Conv2d", "in_channels", 0)
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: Conv2d in_channels must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"{owner} {label} must be a positive integer, got {value!r}"
        raise ShapeError(msg)
    return int(value)


def pair(owner: str, label: str, value: object, *, minimum: int = 1) -> tuple[int, int]:
    """A window size or stride: an int ``k`` (meaning ``(k, k)``) or a pair of ints, each >= ``minimum``.

    Examples
    --------
    >>> pair("MaxPool2d", "kernel", 2)
    (2, 2)
    >>> pair("Conv2d", "pad", (0, 1), minimum=0)
    (0, 1)
    >>> pair("MaxPool2d", "kernel", (2, 2, 2))
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: MaxPool2d kernel must be an integer >= 1 or a pair of them, got (2, 2, 2)
    """
    items = value if isinstance(value, (tuple, list)) and len(value) == 2 else (value, value)
    if not all(not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v >= minimum for v in items):
        msg = f"{owner} {label} must be an integer >= {minimum} or a pair of them, got {value!r}"
        raise ShapeError(msg)
    return int(items[0]), int(items[1])  # type: ignore[arg-type]


def probability(owner: str, label: str, value: object) -> float:
    """``value`` as a float in [0, 1), else a SpecError (a drop probability of 1 drops everything).

    Examples
    --------
    >>> probability("Dropout", "p", 0.5)
    0.5
    >>> probability("Dropout", "p", 1.0)
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: Dropout p must be a number in [0, 1) (the probability of dropping a unit), got 1.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= value < 1:
        msg = f"{owner} {label} must be a number in [0, 1) (the probability of dropping a unit), got {value!r}"
        raise SpecError(msg)
    return float(value)


def positive_float(owner: str, label: str, value: object) -> float:
    """``value`` as a float if it is a finite positive number, else a SpecError.

    Examples
    --------
    >>> positive_float("BatchNorm", "eps", 1e-5)
    1e-05
    >>> positive_float("BatchNorm", "eps", -1)
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: BatchNorm eps must be a positive number, got -1
    """
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer))
            or not np.isfinite(value) or value <= 0):
        msg = f"{owner} {label} must be a positive number, got {value!r}"
        raise SpecError(msg)
    return float(value)


def check_ndim(owner: str, label: str, value: Any, ndims: tuple[int, ...], layout: str) -> np.ndarray:
    """``value`` as an array if it has one of ``ndims`` dimensions and a number dtype, else a ShapeError.

    Examples
    --------
    >>> check_ndim("Conv2d", "x", np.zeros((2, 3)), (4,), "(N, C, H, W)")
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: Conv2d expects x of shape (N, C, H, W), got shape (2, 3)
    """
    array = np.asarray(value)
    if array.ndim not in ndims:
        msg = f"{owner} expects {label} of shape {layout}, got shape {array.shape}"
        raise ShapeError(msg)
    if array.dtype.kind not in "fc":
        msg = f"{owner} expects {label} as a float array, got dtype {array.dtype}"
        raise DTypeError(msg)
    return array
