"""Checks on the arrays symgrad differentiates, before any arithmetic runs.

Finite differences go quietly wrong on the wrong kind of array: perturbing an
integer array by ``1e-6`` changes nothing, a boolean array cannot be perturbed
at all, an empty array has no gradient, and a NaN anywhere makes every
difference NaN. :func:`as_float_array` turns each of these into an error that
names the array and says what to do, and otherwise hands back a float64
*copy*, so that whatever symgrad does to it never reaches the caller's data.
:func:`check_finite` is the same NaN/inf test for values symgrad computes
(outputs of a forward pass, finished gradients).
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from symgrad.errors import DTypeError, NonFiniteError, ShapeError

__all__ = ["as_float_array", "check_finite"]

# dtype kinds that cannot hold a number to differentiate, and why, in words.
_REFUSED_KINDS = {
    "b": "boolean",
    "O": "object",
    "U": "string",
    "S": "bytes",
    "M": "datetime",
    "m": "timedelta",
    "V": "structured (void)",
}


@overload
def as_float_array(
    name: str,
    value: object,
    *,
    allow_complex: Literal[False] = False,
    expected_shape: tuple[int, ...] | None = None,
    copy: bool = True,
) -> npt.NDArray[np.float64]: ...


@overload
def as_float_array(
    name: str,
    value: object,
    *,
    allow_complex: bool,
    expected_shape: tuple[int, ...] | None = None,
    copy: bool = True,
) -> npt.NDArray[np.float64] | npt.NDArray[np.complex128]: ...


def as_float_array(
    name: str,
    value: object,
    *,
    allow_complex: bool = False,
    expected_shape: tuple[int, ...] | None = None,
    copy: bool = True,
) -> npt.NDArray[np.float64] | npt.NDArray[np.complex128]:
    """Return ``value`` as a new float64 array, refusing what cannot be differentiated.

    With ``copy=False`` an array that is already float64 (complex128 where
    allowed) is returned as it is, for callers that only read it: at large
    widths each copy costs about as much as a forward pass.

    Python numbers (``3``, ``2.5``), NumPy scalars and nested lists of numbers
    are accepted; float16/float32 arrays are upcast to float64. The result is
    always a fresh copy that shares no memory with ``value``.

    Parameters
    ----------
    name : str
        The name of the array, used in error messages (``"W1"``, ``"x"``).
    value : object
        An array, a list of numbers or a number.
    allow_complex : bool, optional
        Accept complex input and return complex128 (used internally by the
        complex-step method). Default False.
    expected_shape : tuple of int, optional
        When given, the shape ``value`` must have.

    Returns
    -------
    numpy.ndarray
        A float64 copy of ``value`` (complex128 when ``allow_complex`` and
        ``value`` is complex).

    Raises
    ------
    DTypeError
        A NumPy array of integer dtype (perturbing it silently does nothing),
        or a boolean, object, string, datetime or (unless ``allow_complex``)
        complex value.
    ShapeError
        ``value`` is ragged, empty, or not of ``expected_shape``.
    NonFiniteError
        ``value`` holds NaN or an infinity.

    Examples
    --------
    >>> import numpy as np
    >>> as_float_array("x", [1, 2.5])
    array([1. , 2.5])
    >>> as_float_array("lr", 3)
    array(3.)
    >>> as_float_array("h", np.ones(2, dtype=np.float32)).dtype
    dtype('float64')
    >>> as_float_array("W1", np.zeros((2, 2), dtype=np.int64))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    symgrad.errors.DTypeError: parameter 'W1' has integer dtype int64; ...: pass W1.astype(float)
    >>> as_float_array("W1", np.zeros((3, 2)), expected_shape=(2, 3))
    Traceback (most recent call last):
        ...
    symgrad.errors.ShapeError: 'W1' has shape (3, 2); expected (2, 3)
    >>> as_float_array("x", [1.0, float("nan"), float("inf")])
    Traceback (most recent call last):
        ...
    symgrad.errors.NonFiniteError: 'x' has 2 non-finite elements (NaN or infinity); the first is x[1] = nan
    """
    arr = _to_array(name, value)
    kind = arr.dtype.kind
    if kind in "iu" and isinstance(value, np.ndarray):
        msg = (
            f"parameter {name!r} has integer dtype {arr.dtype}; finite differences "
            f"need floats: pass {name}.astype(float)"
        )
        raise DTypeError(msg)
    if kind in _REFUSED_KINDS:
        msg = (
            f"{name!r} has {_REFUSED_KINDS[kind]} dtype {arr.dtype}; symgrad "
            "differentiates arrays of real floating-point numbers only"
        )
        raise DTypeError(msg)
    if kind == "c" and not allow_complex:
        msg = (
            f"{name!r} has complex dtype {arr.dtype}; pass real floats (the complex-step "
            "method adds its own imaginary part)"
        )
        raise DTypeError(msg)
    if kind not in "iufc":
        msg = f"{name!r} has dtype {arr.dtype}, which symgrad cannot differentiate"
        raise DTypeError(msg)
    if expected_shape is not None and arr.shape != tuple(expected_shape):
        msg = f"{name!r} has shape {arr.shape}; expected {tuple(expected_shape)}"
        raise ShapeError(msg)
    if arr.size == 0:
        msg = f"{name!r} is empty (shape {arr.shape}); a gradient needs at least one element"
        raise ShapeError(msg)
    # np.array(..., copy=True) always allocates, even when arr is already float64.
    result: npt.NDArray[np.float64] | npt.NDArray[np.complex128]
    if not copy and arr.dtype in (np.float64, np.complex128):
        check_finite(name, arr)
        return arr
    if kind == "c":
        result = np.array(arr, dtype=np.complex128, copy=True)
    else:
        result = np.array(arr, dtype=np.float64, copy=True)
    check_finite(name, result)
    return result


def check_finite(name: str, arr: npt.ArrayLike) -> None:
    """Raise :class:`NonFiniteError` if ``arr`` holds NaN or an infinity.

    The message names the first bad element by its index and counts them all.

    Parameters
    ----------
    name : str
        What ``arr`` is, for the message (``"loss"``, ``"dW1"``).
    arr : array_like
        Real or complex numbers.

    Raises
    ------
    NonFiniteError
        Some element is NaN, ``inf`` or ``-inf``.
    DTypeError
        ``arr`` does not hold numbers.

    Examples
    --------
    >>> import numpy as np
    >>> check_finite("loss", 0.25)
    >>> check_finite("dW", np.array([[0.0, 1.0], [-np.inf, 2.0]]))
    Traceback (most recent call last):
        ...
    symgrad.errors.NonFiniteError: 'dW' has 1 non-finite element (NaN or infinity); the first is dW[1, 0] = -inf
    """
    values = np.asarray(arr)
    if values.dtype.kind not in "biufc":
        msg = f"{name!r} has dtype {values.dtype}; expected numbers"
        raise DTypeError(msg)
    if values.dtype.kind in "fc" and np.isfinite(values.sum()):
        return  # one pass, no temporary: a NaN or infinity anywhere would make the sum non-finite
    bad = ~np.isfinite(values)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return
    if values.ndim == 0:
        msg = f"{name!r} is {values.item()}; expected a finite number"
        raise NonFiniteError(msg)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    index = ", ".join(str(i) for i in first)
    plural = "element" if count == 1 else "elements"
    msg = f"{name!r} has {count} non-finite {plural} (NaN or infinity); the first is {name}[{index}] = {values[first]}"
    raise NonFiniteError(msg)


def _to_array(name: str, value: object) -> np.ndarray:
    """``np.asarray(value)``, with NumPy's own errors turned into symgrad's."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        msg = f"{name!r} cannot be made into an array: {exc}"
        raise ShapeError(msg) from exc
    except TypeError as exc:
        msg = f"{name!r} cannot be made into an array of numbers: {exc}"
        raise DTypeError(msg) from exc
