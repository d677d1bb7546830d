"""Tests for symgrad.numeric.finite: accuracy, evaluation counts, copies, directional checks, errors.

Accuracy is measured as ``||numeric - exact||_inf / ||exact||_inf`` over the whole
gradient (all names together) against hand-derived NumPy gradients.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from symgrad.errors import (
    DTypeError,
    LayerError,
    NonFiniteError,
    ShapeError,
    SymgradError,
    UnknownNameError,
)
from symgrad.numeric.directional import DirectionalResult, directional_check
from symgrad.numeric.finite import (
    METHODS,
    FiniteResult,
    default_step,
    gradient,
    total_evaluations,
)

Values = dict[str, Any]
Grads = dict[str, np.ndarray]

# --- smooth test functions with their exact gradients ---------------------------------
# Each is written with operations that are analytic, so the complex step applies too.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _logsumexp(z: np.ndarray) -> Any:
    shift = np.max(z.real)  # the shift cancels; taking it from the real part keeps z analytic
    return np.log(np.sum(np.exp(z - shift))) + shift


def tanh_sum(v: Values) -> Any:
    return np.sum(np.tanh(v["x"]))


def tanh_sum_grad(v: Values) -> Grads:
    return {"x": 1 - np.tanh(v["x"]) ** 2}


def sigmoid_sum(v: Values) -> Any:
    return np.sum(_sigmoid(v["x"]))


def sigmoid_sum_grad(v: Values) -> Grads:
    s = _sigmoid(v["x"])
    return {"x": s * (1 - s)}


def logsumexp(v: Values) -> Any:
    return _logsumexp(v["x"])


def logsumexp_grad(v: Values) -> Grads:
    return {"x": np.exp(v["x"] - _logsumexp(v["x"]))}


def mlp_loss(v: Values) -> Any:
    """Mean half squared error of a 2-layer tanh network."""
    hidden = np.tanh(v["X"] @ v["W1"] + v["b1"])
    out = hidden @ v["W2"] + v["b2"]
    return 0.5 * np.sum((out - v["Y"]) ** 2) / v["X"].shape[0]


def mlp_loss_grad(v: Values) -> Grads:
    hidden = np.tanh(v["X"] @ v["W1"] + v["b1"])
    dout = (hidden @ v["W2"] + v["b2"] - v["Y"]) / v["X"].shape[0]
    dpre = (dout @ v["W2"].T) * (1 - hidden**2)
    return {"W1": v["X"].T @ dpre, "b1": dpre.sum(axis=0), "W2": hidden.T @ dout, "b2": dout.sum(axis=0)}


def mlp_values(seed: int = 0, hidden: int = 4) -> Values:
    rng = np.random.default_rng(seed)
    return {
        "X": rng.standard_normal((5, 3)),
        "Y": rng.standard_normal((5, 2)),
        "W1": rng.standard_normal((3, hidden)),
        "b1": 0.1 * rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, 2)),
        "b2": 0.1 * rng.standard_normal(2),
    }


MLP_PARAMS = ["W1", "b1", "W2", "b2"]


def x_values(shape: tuple[int, ...] = (2, 3), seed: int = 0) -> Values:
    return {"x": np.random.default_rng(seed).standard_normal(shape)}


Case = tuple[Callable[[Values], Any], Callable[[Values], Grads], Values, list[str]]
CASES: dict[str, Case] = {
    "tanh-sum": (tanh_sum, tanh_sum_grad, x_values(), ["x"]),
    "sigmoid-sum": (sigmoid_sum, sigmoid_sum_grad, x_values(), ["x"]),
    "logsumexp": (logsumexp, logsumexp_grad, x_values(), ["x"]),
    "mlp": (mlp_loss, mlp_loss_grad, mlp_values(), MLP_PARAMS),
}

# The bounds the three methods must meet on these smooth float64 functions.
BOUNDS = {"central": 2e-10, "richardson": 5e-12, "complex": 1e-15}


def relative_error(numeric: Grads, exact: Grads) -> float:
    worst = max(float(np.max(np.abs(numeric[k] - exact[k]))) for k in exact)
    scale = max(float(np.max(np.abs(exact[k]))) for k in exact)
    return worst / scale


def counting(f: Callable[[Values], Any]) -> tuple[Callable[[Values], Any], list[int]]:
    calls = [0]

    def wrapped(v: Values) -> Any:
        calls[0] += 1
        return f(v)

    return wrapped, calls


# --- accuracy -----------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_accuracy_on_smooth_functions(case: str, method: str) -> None:
    f, grad, values, wrt = CASES[case]
    result = gradient(f, values, wrt, method=method)
    error = relative_error(result.gradients, grad(values))
    assert error <= BOUNDS[method], f"{case} {method}: {error:.2e}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("x", [0.1, 0.7, -3.3, 1234.5678, -9.87e7, 1e-9])
def test_a_linear_function_gives_exactly_one(method: str, x: float) -> None:
    """The step is made exactly representable, so f(x) = x differentiates to exactly 1.

    Dividing by the requested 2h instead would be off by up to eps * |x| / h (about 4e-11).
    """
    result = gradient(lambda v: v["x"][0], {"x": np.array([x])}, ["x"], method=method)
    assert result.gradients["x"][0] == 1.0


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_steps_are_representable(method: str) -> None:
    values = {"x": np.array([0.1, 0.7, -3.3, 1234.5678])}
    result = gradient(tanh_sum, values, ["x"], method=method)
    h = result.steps["x"]
    x = values["x"]
    np.testing.assert_array_equal((x + h) - x, h)
    base = default_step(x, method, scale=abs(float(tanh_sum(values))))
    if method == "richardson":
        np.testing.assert_allclose(h, base, rtol=1e-9)
    else:  # chosen per element from the curvature, within 1/8 to 8 default steps
        assert np.all(h >= base / 8 * (1 - 1e-9))
        assert np.all(h <= 8 * base * (1 + 1e-9))


def test_richardson_beats_central_and_complex_beats_both() -> None:
    f, grad, values, wrt = CASES["mlp"]
    exact = grad(values)
    errors = {m: relative_error(gradient(f, values, wrt, method=m).gradients, exact) for m in METHODS}
    assert errors["complex"] < errors["richardson"] < errors["central"]


# --- evaluation counts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "per_element", "step"),
    [("central", 5, None), ("central", 3, 1e-5), ("richardson", 6, None), ("complex", 1, None)],
)
def test_evaluation_counts_are_exact(method: str, per_element: int, step: float | None) -> None:
    # Central at its default steps: a 3-point pilot and the pair at the chosen step; at a given step, 3.
    f, calls = counting(mlp_loss)
    values = mlp_values()
    size = sum(values[k].size for k in MLP_PARAMS)  # 12 + 4 + 8 + 2 = 26
    result = gradient(f, values, MLP_PARAMS, method=method, step=step)
    at_point = 0 if method == "complex" else 1  # f(v), for the step's scale and the rounding floor
    assert result.evaluations == calls[0] == per_element * size + at_point
    assert total_evaluations(values, MLP_PARAMS, method, step=step) == per_element * size + at_point
    assert result.method == method
    assert set(result.gradients) == set(MLP_PARAMS)


def test_only_the_named_entries_are_differentiated() -> None:
    f, calls = counting(mlp_loss)
    values = mlp_values()
    result = gradient(f, values, ["b2", "b1"])
    assert list(result.gradients) == ["b2", "b1"]
    assert calls[0] == 5 * (2 + 4) + 1
    exact = mlp_loss_grad(values)
    np.testing.assert_allclose(result.gradients["b1"], exact["b1"], rtol=1e-7, atol=1e-10)


def test_a_single_name_may_be_a_string_and_duplicates_count_once() -> None:
    values = x_values()
    assert gradient(tanh_sum, values, "x").evaluations == 5 * 6 + 1
    assert gradient(tanh_sum, values, ["x", "x"]).evaluations == 5 * 6 + 1
    assert total_evaluations(values, "x", "complex") == 6


def test_scalar_values() -> None:
    result = gradient(lambda v: np.sin(v["a"]) * v["b"] ** 2, {"a": 0.5, "b": 3}, ["a", "b"], method="complex")
    assert result.gradients["a"].shape == ()
    np.testing.assert_allclose(result.gradients["a"], np.cos(0.5) * 9, rtol=1e-15)
    np.testing.assert_allclose(result.gradients["b"], np.sin(0.5) * 6, rtol=1e-15)


# --- the caller's arrays are never written to -------------------------------------------------


def _frozen_copy(values: Values) -> tuple[Values, Values]:
    """Read-only originals (a write would raise) and copies to compare with afterwards."""
    originals = {k: np.array(v) for k, v in values.items()}
    for array in originals.values():
        array.flags.writeable = False
    return originals, {k: v.copy() for k, v in originals.items()}


@pytest.mark.parametrize("method", METHODS)
def test_callers_arrays_are_unchanged(method: str) -> None:
    originals, copies = _frozen_copy(mlp_values())
    originals["labels"] = np.array([0, 1, 1, 0, 1])  # a non-float entry, not differentiated
    copies["labels"] = originals["labels"].copy()
    gradient(mlp_loss, originals, MLP_PARAMS, method=method)
    directional_check(mlp_loss, originals, MLP_PARAMS, mlp_loss_grad(copies), directions=2, method=method)
    for key, copy in copies.items():
        np.testing.assert_array_equal(originals[key], copy, strict=True)
    assert not originals["W1"].flags.writeable


def test_f_sees_read_only_arrays_and_an_in_place_write_is_reported() -> None:
    values = {"x": np.array([1.0, 2.0]), "scale": np.array([3.0])}
    copies = {k: v.copy() for k, v in values.items()}

    def writes_into_input(v: Values) -> Any:
        v["x"] *= 2
        return np.sum(v["x"])

    with pytest.raises(LayerError, match="read-only arrays: copy before writing in place"):
        gradient(writes_into_input, values, ["x"])

    def writes_into_other(v: Values) -> Any:
        v["scale"][0] = 0.0
        return np.sum(v["x"])

    with pytest.raises(LayerError, match="read-only"):
        gradient(writes_into_other, values, ["x"])
    for key, copy in copies.items():
        np.testing.assert_array_equal(values[key], copy)
    assert values["x"].flags.writeable  # the caller's flags are untouched


def test_f_gets_a_fresh_dict_each_time() -> None:
    seen: list[int] = []

    def f(v: Values) -> Any:
        seen.append(id(v))
        v["extra"] = 1  # harmless: the next call gets a new dict
        return np.sum(v["x"] ** 2)

    values = {"x": np.array([1.0, 2.0])}
    result = gradient(f, values, ["x"])
    np.testing.assert_allclose(result.gradients["x"], [2.0, 4.0], rtol=1e-9)
    assert "extra" not in values


# --- steps -------------------------------------------------------------------------------


def test_default_step() -> None:
    eps = np.finfo(float).eps
    x = np.array([0.0, 0.5, -4.0])
    np.testing.assert_allclose(default_step(x, "central"), 1.5 * eps ** (1 / 3) * np.array([1, 1, 4]))
    np.testing.assert_allclose(default_step(x, "central", scale=-27.0), 4.5 * eps ** (1 / 3) * np.array([1, 1, 4]))
    np.testing.assert_allclose(default_step(x, "central", scale=0.1), default_step(x, "central"))
    np.testing.assert_allclose(default_step(x, "richardson"), 3.2 * eps ** (1 / 7) * np.array([1, 1, 4]))
    np.testing.assert_allclose(default_step(x, "complex", scale=1e6), 1e-30 * np.array([1, 1, 4]))
    np.testing.assert_allclose(default_step(x, "complex"), 1e-30 * np.array([1, 1, 4]))
    with pytest.raises(UnknownNameError, match="'central', 'richardson', 'complex'"):
        default_step(x, "forward")


def test_a_float_step_is_used_for_every_element() -> None:
    values = {"x": np.array([0.5, 2.0]), "y": np.array([1.0])}
    result = gradient(lambda v: np.sum(v["x"] ** 3) + v["y"][0], values, ["x", "y"], step=2.0**-10)
    np.testing.assert_array_equal(result.steps["x"], [2.0**-10, 2.0**-10])
    # (x+h)^3 - (x-h)^3 = 6 x^2 h + 2 h^3, so the quotient is 3 x^2 + h^2
    np.testing.assert_allclose(result.gradients["x"], 3 * values["x"] ** 2 + 2.0**-20, rtol=1e-12)


def test_a_dict_of_steps_sets_some_names() -> None:
    values = mlp_values()
    result = gradient(mlp_loss, values, ["W1", "b1"], step={"b1": np.full(4, 1e-4)})
    np.testing.assert_allclose(result.steps["b1"], 1e-4, rtol=1e-9)
    scale = abs(float(mlp_loss(values)))
    base = default_step(values["W1"], "central", scale=scale)  # W1's steps are its own choice around it
    assert np.all(result.steps["W1"] >= base / 8 * (1 - 1e-9))
    assert np.all(result.steps["W1"] <= 8 * base * (1 + 1e-9))
    assert result.evaluations == 5 * 12 + 3 * 4 + 1
    result = gradient(mlp_loss, values, ["W1"], step={"W1": [1e-5, 2e-5, 3e-5, 4e-5]})  # broadcast over rows
    np.testing.assert_allclose(result.steps["W1"][2], [1e-5, 2e-5, 3e-5, 4e-5], rtol=1e-9)


def test_complex_step_uses_the_given_step() -> None:
    result = gradient(tanh_sum, x_values(), ["x"], method="complex", step=1e-20)
    np.testing.assert_array_equal(result.steps["x"], np.full((2, 3), 1e-20))


@pytest.mark.parametrize(
    ("step", "error", "phrase"),
    [
        (-1e-6, SymgradError, "must be positive"),
        (0.0, SymgradError, "must be positive"),
        (float("nan"), NonFiniteError, "'step for x' is nan"),
        ({"x": np.ones(4)}, ShapeError, "it must fit 'x' of shape (2, 3)"),
        ({"z": 1e-6}, UnknownNameError, "step names 'z', which is not in wrt"),
        ("tiny", DTypeError, "string"),
        (1e-30, SymgradError, "too small to change its value"),
    ],
)
def test_bad_steps(step: Any, error: type[Exception], phrase: str) -> None:
    values = {"x": np.full((2, 3), 1e3)}
    with pytest.raises(error) as info:
        gradient(tanh_sum, values, ["x"], step=step)
    assert phrase in str(info.value)


# --- progress ----------------------------------------------------------------------------


def test_progress_is_reported_about_every_percent_and_at_the_end() -> None:
    reports: list[tuple[int, int]] = []
    values = {"x": np.linspace(-1, 1, 200)}
    gradient(tanh_sum, values, ["x"], progress=lambda done, total: reports.append((done, total)))
    total = 5 * 200 + 1  # a 3-point pilot and a pair per element, and f at the point itself
    assert all(t == total for _, t in reports)
    done = [d for d, _ in reports]
    assert done == sorted(set(done))
    assert done[-1] == total
    assert 90 <= len(reports) <= 101
    assert max(np.diff([0, *done])) <= total // 100


def test_progress_on_a_tiny_sweep() -> None:
    reports: list[tuple[int, int]] = []
    gradient(tanh_sum, {"x": np.array([0.3])}, ["x"], method="richardson", progress=lambda *a: reports.append(a))
    assert reports == [(k, 7) for k in range(1, 8)]  # f(v), then the table's six points


# --- the complex step refuses what it cannot trust -------------------------------------------


def test_complex_step_when_f_casts_to_float() -> None:
    def casts(v: Values) -> float:
        return float(np.sum(v["x"] ** 2))  # ComplexWarning: the imaginary part is dropped

    with pytest.raises(LayerError, match="complex step needs a forward pass that is analytic") as info:
        gradient(casts, {"x": np.array([1.0, 2.0])}, ["x"], method="complex")
    assert "ComplexWarning" in str(info.value)
    assert "x[0] + ih" in str(info.value)


def test_complex_step_when_f_raises_on_complex_input() -> None:
    def refuses(v: Values) -> Any:
        if np.iscomplexobj(v["x"]):
            msg = "real input only"
            raise TypeError(msg)
        return np.sum(v["x"])

    with pytest.raises(LayerError, match=r"complex step needs .* f raised TypeError: real input only"):
        gradient(refuses, {"x": np.array([1.0])}, ["x"], method="complex")


@pytest.mark.parametrize(
    "drops",
    [
        lambda v: np.sum(np.tanh(v["x"])).real,
        lambda v: np.sum(np.abs(v["x"]) ** 2),
        lambda v: np.sum(np.tanh(np.real(v["x"]))),
    ],
)
def test_complex_step_when_f_drops_the_imaginary_part(drops: Callable[[Values], Any]) -> None:
    with pytest.raises(SymgradError, match="dropping the imaginary part") as info:
        gradient(drops, {"x": np.array([0.5, 1.5])}, ["x"], method="complex")
    assert not isinstance(info.value, LayerError)
    with pytest.raises(SymgradError, match="dropping the imaginary part"):
        directional_check(drops, {"x": np.array([0.5, 1.5])}, ["x"], {"x": np.ones(2)}, method="complex")


def test_complex_step_when_f_ignores_an_input() -> None:
    """A real result is fine when f does not depend on the input at all: the gradient is 0."""
    values = {"x": np.array([0.5, 1.5]), "y": np.array([2.0])}
    f, calls = counting(lambda v: np.sum(np.tanh(v["x"])).real)  # ignores y, drops x's imaginary part
    result = gradient(f, values, ["y"], method="complex")
    np.testing.assert_array_equal(result.gradients["y"], [0.0])
    assert result.evaluations == calls[0] == 1 + 2  # the sweep, then a real probe that finds f constant in y


# --- errors from f and from arguments ----------------------------------------------------------


def test_unknown_method() -> None:
    with pytest.raises(UnknownNameError, match="unknown finite-difference method 'forward'; choose one of 'central'"):
        gradient(tanh_sum, x_values(), ["x"], method="forward")
    with pytest.raises(UnknownNameError, match="'central', 'richardson', 'complex'"):
        total_evaluations(x_values(), ["x"], "five-point")
    with pytest.raises(UnknownNameError, match="'complex'"):
        directional_check(tanh_sum, x_values(), ["x"], {"x": np.ones((2, 3))}, method="Central")


def test_unknown_name_in_wrt() -> None:
    with pytest.raises(UnknownNameError, match="unknown name 'W3' in wrt; the values are named: 'X', 'Y', 'W1'"):
        gradient(mlp_loss, mlp_values(), ["W1", "W3"])
    with pytest.raises(UnknownNameError, match="'W3'"):
        total_evaluations(mlp_values(), ["W3"], "central")
    with pytest.raises(UnknownNameError, match="wrt names nothing"):
        gradient(mlp_loss, mlp_values(), [])


def test_values_are_validated() -> None:
    with pytest.raises(DTypeError, match="parameter 'W1' has integer dtype int64"):
        gradient(mlp_loss, {**mlp_values(), "W1": np.ones((3, 4), dtype=np.int64)}, MLP_PARAMS)
    w1 = mlp_values()["W1"]
    w1[0, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"W1\[0, 2\] = nan"):
        gradient(mlp_loss, {**mlp_values(), "W1": w1}, MLP_PARAMS)
    with pytest.raises(DTypeError, match="complex"):
        gradient(tanh_sum, {"x": np.array([1j])}, ["x"], method="complex")


def test_f_must_return_one_finite_real_number() -> None:
    x = {"x": np.array([1.0, 2.0])}
    with pytest.raises(
        ShapeError, match=r"f must return a scalar; it returned an array of shape \(2,\) at the point"
    ):
        gradient(lambda v: v["x"] ** 2, x, ["x"])
    with pytest.raises(DTypeError, match="f must return a number"):
        gradient(lambda v: "1.0", x, ["x"])
    with pytest.raises(DTypeError, match="complex number"):
        gradient(lambda v: np.sum(v["x"]) * 1j, x, ["x"])
    with pytest.raises(NonFiniteError, match=r"f returned inf at x\[1\] - H \(pilot\)"):
        gradient(lambda v: np.inf if v["x"][1] < 2.0 else 1.0, x, ["x"])
    # complex with a zero imaginary part, 0-d arrays and 1-element arrays are numbers
    for out in (
        lambda v: np.sum(v["x"]) + 0j,
        lambda v: np.array(np.sum(v["x"])),
        lambda v: np.sum(v["x"], keepdims=True),
    ):
        np.testing.assert_allclose(gradient(out, x, ["x"]).gradients["x"], [1.0, 1.0], rtol=1e-9)


def test_exceptions_from_f() -> None:
    def broken(v: Values) -> Any:
        return 1 / 0

    with pytest.raises(LayerError, match=r"f raised ZeroDivisionError: division by zero \(at the point\)") as info:
        gradient(broken, {"x": np.ones(2)}, ["x"])
    assert isinstance(info.value.__cause__, ZeroDivisionError)

    def mistake(v: Values) -> Any:
        msg = "W1 has the wrong shape"
        raise ShapeError(msg)

    # symgrad's own errors inside f already speak to the user and pass through unchanged
    with pytest.raises(ShapeError, match="W1 has the wrong shape"):
        gradient(mistake, {"x": np.ones(2)}, ["x"])


def test_results_are_frozen() -> None:
    result = gradient(tanh_sum, x_values(), ["x"])
    assert isinstance(result, FiniteResult)
    with pytest.raises(FrozenInstanceError):
        result.evaluations = 0  # type: ignore[misc]
    check = directional_check(tanh_sum, x_values(), ["x"], tanh_sum_grad(x_values()))
    assert isinstance(check, DirectionalResult)
    with pytest.raises(FrozenInstanceError):
        check.seed = 1  # type: ignore[misc]


# --- directional check ------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_directional_check_agrees_with_the_exact_gradient(case: str, method: str) -> None:
    f, grad, values, wrt = CASES[case]
    result = directional_check(f, values, wrt, grad(values), directions=5, method=method)
    assert len(result.rel_errors) == len(result.directional) == len(result.claimed) == 5
    assert result.max_rel_error <= 1e-8, result.rel_errors
    assert result.method == method


def square_layer_values() -> Values:
    # W is square so that its transpose is a gradient of the right shape
    return mlp_values(seed=3, hidden=3)


@pytest.mark.parametrize("method", METHODS)
def test_directional_check_detects_wrong_gradients(method: str) -> None:
    values = square_layer_values()
    exact = mlp_loss_grad(values)
    assert not np.allclose(exact["W1"], exact["W1"].T)  # non-symmetric, so the transpose is wrong

    transposed = {**exact, "W1": exact["W1"].T}
    doubled = {k: 2 * g for k, g in exact.items()}
    one_wrong = {k: g.copy() for k, g in exact.items()}
    one_wrong["W2"][1, 0] += 0.5 * np.max(np.abs(exact["W2"]))
    for wrong in (transposed, doubled, one_wrong):
        result = directional_check(mlp_loss, values, MLP_PARAMS, wrong, method=method)
        assert result.rel_errors[0] > 1e-3
    doubled_result = directional_check(mlp_loss, values, MLP_PARAMS, doubled, method=method)
    assert doubled_result.rel_errors[0] == pytest.approx(0.5, abs=1e-8)  # |g.u - 2 g.u| / |2 g.u|


@pytest.mark.parametrize(("method", "per_direction"), [("central", 2), ("richardson", 4), ("complex", 1)])
def test_directional_check_evaluation_counts(method: str, per_direction: int) -> None:
    f, calls = counting(mlp_loss)
    values = mlp_values()
    result = directional_check(f, values, MLP_PARAMS, mlp_loss_grad(values), directions=3, method=method)
    assert result.evaluations == calls[0] == 3 * per_direction


def test_directional_check_is_deterministic_given_the_seed() -> None:
    values = mlp_values()
    claimed = mlp_loss_grad(values)
    first = directional_check(mlp_loss, values, MLP_PARAMS, claimed, directions=3, seed=7)
    again = directional_check(mlp_loss, values, MLP_PARAMS, claimed, directions=3, seed=7)
    other = directional_check(mlp_loss, values, MLP_PARAMS, claimed, directions=3, seed=8)
    assert first == again
    assert first.seed == 7
    assert first.claimed != other.claimed
    # the directions differ from one another
    assert len(set(first.claimed)) == 3


def test_directional_check_uses_unit_directions() -> None:
    """For f = <a, x> the directional derivative is <a, u>, at most ||a|| in size."""
    a = np.array([3.0, -4.0])
    result = directional_check(lambda v: a @ v["x"], {"x": np.zeros(2)}, ["x"], {"x": a}, directions=20)
    assert max(abs(d) for d in result.directional) <= 5.0 + 1e-9
    assert max(abs(d) for d in result.directional) > 4.0  # some direction lines up fairly well with a
    assert result.max_rel_error < 1e-12


def test_directional_relative_error_definition() -> None:
    zero = directional_check(lambda v: 1.0, {"x": np.ones(3)}, ["x"], {"x": np.zeros(3)})
    assert zero.rel_errors == (0.0,)
    assert zero.abs_errors == (0.0,)
    wrong = directional_check(lambda v: 1.0, {"x": np.ones(3)}, ["x"], {"x": np.ones(3)})
    assert wrong.rel_errors == (1.0,)


def test_directional_check_errors() -> None:
    values = mlp_values()
    claimed = mlp_loss_grad(values)
    with pytest.raises(UnknownNameError, match="no claimed gradient for 'b2'"):
        directional_check(mlp_loss, values, MLP_PARAMS, {k: claimed[k] for k in ["W1", "b1", "W2"]})
    with pytest.raises(ShapeError, match=r"'claimed gradient of W1' has shape \(4, 3\); expected \(3, 4\)"):
        directional_check(mlp_loss, values, MLP_PARAMS, {**claimed, "W1": claimed["W1"].T})
    with pytest.raises(NonFiniteError):
        directional_check(mlp_loss, values, MLP_PARAMS, {**claimed, "b2": np.array([np.nan, 0.0])})
    for directions in (0, -1, 1.5, True):
        with pytest.raises(SymgradError, match="directions must be a positive integer"):
            directional_check(mlp_loss, values, MLP_PARAMS, claimed, directions=directions)  # type: ignore[arg-type]


def test_directional_check_ignores_extra_claimed_names() -> None:
    values = mlp_values()
    result = directional_check(mlp_loss, values, ["W2"], mlp_loss_grad(values))
    assert result.max_rel_error < 1e-8


# --- property: central differences match analytic gradients ---------------------------------------

shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4)
elements = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@st.composite
def tanh_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    shape = draw(shapes)
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    a = draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.0, 2.0)))
    c = draw(st.floats(-1.0, 1.0))
    return x, a, c


@settings(max_examples=50, deadline=None, database=None)
@given(tanh_problems())
def test_central_matches_analytic_gradient_property(problem: tuple[np.ndarray, np.ndarray, float]) -> None:
    x, a, c = problem

    def f(v: Values) -> Any:
        return np.sum(np.tanh(a * v["x"])) + c * np.sum(v["x"])

    exact = a * (1 - np.tanh(a * x) ** 2) + c
    result = gradient(f, {"x": x}, ["x"])
    scale = max(1.0, float(np.max(np.abs(exact))))
    assert float(np.max(np.abs(result.gradients["x"] - exact))) <= 1e-8 * scale
    assert result.evaluations == 5 * x.size + 1


# --- error estimates -------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_value_carries_an_error_estimate_that_bounds_its_error(case: str, method: str) -> None:
    f, grad, values, wrt = CASES[case]
    result = gradient(f, values, wrt, method=method)
    exact = grad(values)
    assert all(result.errors[name].shape == result.gradients[name].shape for name in wrt)
    actual = np.concatenate([np.abs(result.gradients[name] - exact[name]).ravel() for name in wrt])
    estimate = np.concatenate([result.errors[name].ravel() for name in wrt])
    # An estimate, not a bound: nearly every element within it, and none far outside ...
    assert np.mean(actual <= estimate) >= 0.9
    assert np.all(actual <= 2 * estimate)
    # ... and not so loose that it says nothing.
    assert np.linalg.norm(estimate) <= 1e4 * max(float(np.linalg.norm(actual)), 1e-17)


@pytest.mark.parametrize(("method", "step"), [("central", 1e-4), ("richardson", 1e-3)])
def test_a_step_too_large_for_the_curvature_shows_in_the_estimate(method: str, step: float) -> None:
    """sin(300 x) curves on a scale of 1/300: these steps leave a truncation error the estimate sees."""
    x = np.array([0.2, -0.7, 1.1])
    f = lambda v: float(np.sum(np.sin(300 * v["x"])))  # noqa: E731
    result = gradient(f, {"x": x}, ["x"], method=method, step=step)
    actual = np.abs(result.gradients["x"] - 300 * np.cos(300 * x))
    assert np.all(actual > 1e-10)  # the step is too large ...
    assert np.all(actual <= 1.1 * result.errors["x"])  # ... and the estimate says how far off
    assert np.all(result.errors["x"] <= 50 * actual)  # without crying wolf


def test_other_errors_of_f_are_reported_without_the_read_only_hint() -> None:
    def raises(v: Values) -> Any:
        msg = "bad input"
        raise ValueError(msg)

    with pytest.raises(LayerError, match=r"f raised ValueError: bad input \(at ") as info:
        gradient(raises, {"x": np.array([1.0, 2.0])}, ["x"])
    assert "read-only" not in str(info.value)


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


@pytest.mark.parametrize(("failing_call", "where"), [(1, "v + s u"), (2, "v - s u")])
def test_a_failure_in_the_dropped_imaginary_probe_names_the_probe_point(failing_call: int, where: str) -> None:
    # f drops the imaginary part, so the complex step probes f along a real direction u, at v + s u
    # then v - s u; an f that fails there is reported at that point (the whole vector moved, no element)
    real_calls = []

    def drops_then_fails(v: Values) -> float:
        if not np.any(np.imag(v["x"])):
            real_calls.append(1)
            if len(real_calls) == failing_call:
                raise ValueError("not this point")
        return float(np.sum(np.real(v["x"]) ** 2))

    with pytest.raises(SymgradError, match=rf"\(at {re.escape(where)}\)$"):
        gradient(drops_then_fails, {"x": np.array([0.5, 1.5])}, ["x"], method="complex")


def test_a_directional_result_without_error_estimates_is_judged_on_rtol_alone() -> None:
    # results built by hand (or stored before the estimates existed) carry none: no slack is added
    close = DirectionalResult((1.0, 2.0), (1.0, 2.0 + 1e-9), (0.0, 1e-9), (0.0, 5e-10), 4, 0)
    far = DirectionalResult((1.0, 2.0), (1.0, 2.5), (0.0, 0.5), (0.0, 0.2), 4, 0)
    assert close.error_estimates == ()
    assert close.passed
    assert not far.passed


@pytest.mark.parametrize(("failing_call", "sign"), [(1, "+"), (2, "-")])
def test_a_failure_along_a_direction_names_the_step_it_was_taken_at(failing_call: int, sign: str) -> None:
    calls = []

    def fails_once(v: Values) -> float:
        calls.append(1)
        if len(calls) == failing_call:
            raise ValueError("not this point")
        return float(np.sum(v["x"] ** 2))

    with pytest.raises(LayerError, match=rf"\(at v \{sign} [0-9.e+-]+ u\)$"):
        directional_check(fails_once, {"x": np.array([0.5, 1.5])}, ["x"], {"x": np.array([1.0, 3.0])})


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_error_estimates_are_positive_even_for_a_gradient_that_is_exactly_zero(method):
    # an estimated absolute error is a bound: never negative, and not 0 (no method is exact)
    result = gradient(lambda v: 3.0 + 0.0 * np.sum(v["x"]), {"x": np.array([0.5, -1.0, 2.0])}, ["x"],
                      method=method)
    np.testing.assert_array_equal(result.gradients["x"], np.zeros(3))
    assert np.all(result.errors["x"] > 0)
