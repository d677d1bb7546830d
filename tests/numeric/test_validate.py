"""Tests for symgrad.numeric.validate: what may be differentiated, and the errors for the rest."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from symgrad.errors import DTypeError, NonFiniteError, ShapeError, SymgradError
from symgrad.numeric.validate import as_float_array, check_finite

# --- accepted --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, np.array(3.0)),
        (2.5, np.array(2.5)),
        (np.float64(1.5), np.array(1.5)),
        (np.int64(4), np.array(4.0)),
        ([1, 2, 3], np.array([1.0, 2.0, 3.0])),
        ([[1.0, 2], [3, 4.5]], np.array([[1.0, 2.0], [3.0, 4.5]])),
        ((0.5, -0.5), np.array([0.5, -0.5])),
        (np.array([1.0, -2.0]), np.array([1.0, -2.0])),
    ],
)
def test_numbers_and_lists_become_float64(value: object, expected: np.ndarray) -> None:
    result = as_float_array("x", value)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_arrays_are_upcast_to_float64(dtype: type) -> None:
    value = np.array([[0.5, 1.25], [-2.0, 3.0]], dtype=dtype)
    result = as_float_array("W1", value)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, value.astype(np.float64))


def test_result_is_a_copy() -> None:
    value = np.array([1.0, 2.0, 3.0])
    result = as_float_array("x", value)
    assert not np.shares_memory(result, value)
    result[0] = 100.0
    assert value[0] == 1.0


def test_read_only_input_is_accepted_and_result_is_writeable() -> None:
    value = np.array([1.0, 2.0])
    value.flags.writeable = False
    result = as_float_array("x", value)
    assert result.flags.writeable
    result[1] = 5.0
    np.testing.assert_array_equal(value, [1.0, 2.0])


def test_non_contiguous_input() -> None:
    value = np.arange(12.0).reshape(3, 4)[:, ::2].T
    result = as_float_array("x", value)
    np.testing.assert_array_equal(result, value)
    assert not np.shares_memory(result, value)


def test_expected_shape_that_matches() -> None:
    result = as_float_array("W1", np.zeros((2, 3)), expected_shape=(2, 3))
    assert result.shape == (2, 3)


def test_complex_allowed_when_asked() -> None:
    value = np.array([1 + 2j, 3 - 1j])
    result = as_float_array("z", value, allow_complex=True)
    assert result.dtype == np.complex128
    np.testing.assert_array_equal(result, value)
    assert not np.shares_memory(result, value)
    # real input stays float64 even when complex would be allowed
    assert as_float_array("x", [1.0], allow_complex=True).dtype == np.float64


# --- refused: the catalog ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "phrases"),
    [
        pytest.param(
            np.arange(6).reshape(3, 2),
            DTypeError,
            ["parameter 'W1' has integer dtype int64", "finite differences need floats", "pass W1.astype(float)"],
            id="int64",
        ),
        pytest.param(np.zeros(3, dtype=np.int32), DTypeError, ["integer dtype int32"], id="int32"),
        pytest.param(np.zeros(3, dtype=np.uint8), DTypeError, ["integer dtype uint8"], id="uint8"),
        pytest.param(np.array(3), DTypeError, ["integer dtype"], id="0-d int array"),
        pytest.param(np.array([True, False]), DTypeError, ["boolean dtype bool"], id="bool array"),
        pytest.param(True, DTypeError, ["boolean"], id="python bool"),
        pytest.param(np.array([1.0, None]), DTypeError, ["object dtype"], id="object array"),
        pytest.param([1.0, "a"], DTypeError, ["string dtype"], id="list with str"),
        pytest.param(np.array(["1.0", "2.0"]), DTypeError, ["string dtype"], id="str array"),
        pytest.param(np.array([b"ab"]), DTypeError, ["bytes dtype"], id="bytes array"),
        pytest.param(np.array([1 + 1j, 2]), DTypeError, ["complex dtype complex128", "pass real floats"], id="complex"),
        pytest.param(1j, DTypeError, ["complex dtype"], id="python complex"),
        pytest.param(
            np.array(["2024-01-01"], dtype="datetime64[D]"), DTypeError, ["datetime dtype datetime64[D]"], id="datetime"
        ),
        pytest.param(np.array([datetime.timedelta(1)], dtype="m8[s]"), DTypeError, ["timedelta"], id="timedelta"),
        pytest.param(
            np.array([(1.0, 2)], dtype=[("a", "f8"), ("b", "i4")]), DTypeError, ["structured"], id="structured"
        ),
        pytest.param(
            np.array([1.0, np.nan, 3.0]),
            NonFiniteError,
            ["1 non-finite element", "the first is W1[1] = nan"],
            id="nan",
        ),
        pytest.param(
            np.array([[1.0, 2.0], [np.inf, np.nan]]),
            NonFiniteError,
            ["2 non-finite elements", "the first is W1[1, 0] = inf"],
            id="inf and nan",
        ),
        pytest.param(np.array([0.0, -np.inf]), NonFiniteError, ["W1[1] = -inf"], id="-inf"),
        pytest.param(float("nan"), NonFiniteError, ["'W1' is nan"], id="python nan"),
        pytest.param(
            np.zeros((0, 3)),
            ShapeError,
            ["'W1' is empty (shape (0, 3)); a gradient needs at least one element"],
            id="empty",
        ),
        pytest.param([], ShapeError, ["is empty (shape (0,))"], id="empty list"),
        pytest.param([[1.0, 2.0], [3.0]], ShapeError, ["cannot be made into an array"], id="ragged"),
    ],
)
def test_refused(value: object, error: type[SymgradError], phrases: list[str]) -> None:
    with pytest.raises(error) as info:
        as_float_array("W1", value)
    for phrase in phrases:
        assert phrase in str(info.value)


def test_shape_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"'W1' has shape \(3, 2\); expected \(2, 3\)"):
        as_float_array("W1", np.zeros((3, 2)), expected_shape=(2, 3))


def test_shape_mismatch_of_a_scalar() -> None:
    with pytest.raises(ShapeError, match=r"'b' has shape \(\); expected \(1,\)"):
        as_float_array("b", 1.0, expected_shape=(1,))


def test_errors_derive_from_builtins_and_symgrad_error() -> None:
    """Code written against ValueError/TypeError keeps working; SymgradError catches all."""
    with pytest.raises(TypeError):
        as_float_array("x", np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="non-finite"):
        as_float_array("x", [np.nan])
    with pytest.raises(ValueError, match="empty"):
        as_float_array("x", np.zeros(0))
    for bad in (np.zeros(2, dtype=int), [np.nan], np.zeros(0), np.array(["a"])):
        with pytest.raises(SymgradError):
            as_float_array("x", bad)


def test_refused_input_is_left_alone() -> None:
    value = np.array([1.0, np.nan])
    with pytest.raises(NonFiniteError):
        as_float_array("x", value)
    assert value[0] == 1.0
    assert np.isnan(value[1])


# --- check_finite -------------------------------------------------------------------


def test_check_finite_passes_finite_values() -> None:
    check_finite("loss", 0.25)
    check_finite("dW", np.ones((2, 3)))
    check_finite("z", np.array([1 + 1j]))
    check_finite("n", np.array([1, 2]))


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        (
            np.array([[0.0, 1.0], [-np.inf, 2.0]]),
            "'dW' has 1 non-finite element (NaN or infinity); the first is dW[1, 0] = -inf",
        ),
        (np.array([np.nan, np.nan, 1.0]), "'dW' has 2 non-finite elements (NaN or infinity); the first is dW[0] = nan"),
        (np.float64("inf"), "'dW' is inf; expected a finite number"),
        (np.array([1.0, complex(np.nan, 0.0)]), "the first is dW[1]"),
    ],
)
def test_check_finite_names_the_first_bad_element(value: object, phrase: str) -> None:
    with pytest.raises(NonFiniteError) as info:
        check_finite("dW", value)
    assert phrase in str(info.value)


def test_check_finite_refuses_non_numbers() -> None:
    with pytest.raises(DTypeError, match="expected numbers"):
        check_finite("out", np.array(["a"]))


def test_without_copy_a_float64_array_is_returned_itself_and_others_are_converted():
    rng = np.random.default_rng(2)
    same = rng.standard_normal((3, 2))
    assert as_float_array("W", same, copy=False) is same
    assert as_float_array("W", same) is not same
    for other in (same.astype(np.float32), same.astype(np.float16)):
        converted = as_float_array("W", other, copy=False)
        assert converted.dtype == np.float64
        np.testing.assert_array_equal(converted, other)
    with pytest.raises(NonFiniteError, match="'W'"):
        as_float_array("W", np.array([1.0, np.nan]), copy=False)
