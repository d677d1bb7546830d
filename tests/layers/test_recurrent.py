"""RNNCell, LSTMCell and GRUCell references: backward against check_layer (several inputs and outputs),
forward against steps written from the equations, gate by gate."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import ShapeError
from symgrad.layers.recurrent import GRUCell, LSTMCell, RNNCell

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.25, 1]: away from zero, either sign, tanh and sigmoid unsaturated."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.25, 1.0, size=shape)


def sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))  # written differently from the layers' 1 / (1 + exp(-z))


def with_params(cell, rng):
    cell.set_params({role: away(rng, shape) for role, shape in cell.param_shapes(cell.D).items()})
    return cell


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_cell_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    cell = with_params(RNNCell(3, 4), rng)
    report = symgrad.check_layer(cell, x=(away(rng, (5, 3)), away(rng, (5, 4))), params=["Wx", "Wh", "b"], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x0", "x1", "Wx", "Wh", "b"]


@pytest.mark.parametrize("seed", SEEDS)
def test_lstm_cell_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    cell = with_params(LSTMCell(3, 2), rng)
    x = (away(rng, (4, 3)), away(rng, (4, 2)), away(rng, (4, 2)))
    report = symgrad.check_layer(cell, x=x, params=["Wx", "Wh", "b"], seed=seed)  # dout = (dh, dc), both random
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x0", "x1", "x2", "Wx", "Wh", "b"]


@pytest.mark.parametrize("seed", SEEDS)
def test_gru_cell_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    cell = with_params(GRUCell(3, 4), rng)
    report = symgrad.check_layer(cell, x=(away(rng, (5, 3)), away(rng, (5, 4))), params=["Wx", "Wh", "b"], seed=seed)
    assert report.ok, report


def test_rnn_cell_forward_is_the_equation():
    rng = np.random.default_rng(3)
    cell = with_params(RNNCell(3, 2), rng)
    x, h = away(rng, (4, 3)), away(rng, (4, 2))
    expected = np.tanh(np.einsum("nd,dh->nh", x, cell.Wx) + np.einsum("nk,kh->nh", h, cell.Wh) + cell.b)
    np.testing.assert_allclose(cell.forward(x, h), expected, rtol=1e-12)


def test_lstm_cell_forward_is_a_step_written_from_the_equations():
    rng = np.random.default_rng(4)
    cell = with_params(LSTMCell(3, 2), rng)
    x, h, c = away(rng, (4, 3)), away(rng, (4, 2)), away(rng, (4, 2))
    size = 2

    def gate(k):  # the k-th block of columns, i, f, o, g in that order
        cols = slice(k * size, (k + 1) * size)
        return x @ cell.Wx[:, cols] + h @ cell.Wh[:, cols] + cell.b[cols]

    i, f, o, g = sigmoid(gate(0)), sigmoid(gate(1)), sigmoid(gate(2)), np.tanh(gate(3))
    c_next = f * c + i * g
    h_next, c_out = cell.forward(x, h, c)
    np.testing.assert_allclose(c_out, c_next, rtol=1e-12)
    np.testing.assert_allclose(h_next, o * np.tanh(c_next), rtol=1e-12)


def test_lstm_gradient_from_the_next_step_reaches_c_prev_through_the_forget_gate():
    rng = np.random.default_rng(5)
    cell = with_params(LSTMCell(2, 3), rng)
    x, h, c = away(rng, (2, 2)), away(rng, (2, 3)), away(rng, (2, 3))
    cell.forward(x, h, c)
    dc = away(rng, (2, 3))
    _, _, dc_prev = cell.backward(np.zeros((2, 3)), dc)
    f = sigmoid(x @ cell.Wx[:, 3:6] + h @ cell.Wh[:, 3:6] + cell.b[3:6])
    np.testing.assert_allclose(dc_prev, dc * f, rtol=1e-12)


def test_lstm_backward_without_dc_is_the_last_step():
    rng = np.random.default_rng(7)
    cell = with_params(LSTMCell(2, 3), rng)
    cell.forward(away(rng, (2, 2)), away(rng, (2, 3)), away(rng, (2, 3)))
    dh = away(rng, (2, 3))
    last = cell.backward(dh)
    for given, zero in zip(last, cell.backward(dh, np.zeros((2, 3))), strict=True):
        np.testing.assert_array_equal(given, zero)
    assert np.any(last[2] != 0)


def test_gru_cell_forward_is_a_step_written_from_the_equations():
    rng = np.random.default_rng(6)
    cell = with_params(GRUCell(3, 2), rng)
    x, h = away(rng, (4, 3)), away(rng, (4, 2))
    Wxz, Wxr, Wxh = np.split(cell.Wx, 3, axis=1)
    Whz, Whr, Whh = np.split(cell.Wh, 3, axis=1)
    bz, br, bh = np.split(cell.b, 3)
    z = sigmoid(x @ Wxz + h @ Whz + bz)
    r = sigmoid(x @ Wxr + h @ Whr + br)
    h_hat = np.tanh(x @ Wxh + (r * h) @ Whh + bh)
    np.testing.assert_allclose(cell.forward(x, h), (1 - z) * h + z * h_hat, rtol=1e-12)


def test_shapes_and_description():
    assert LSTMCell(3, 5).param_shapes(3) == {"Wx": (3, 20), "Wh": (5, 20), "b": (20,)}
    assert GRUCell(3, 5).param_shapes(3)["Wh"] == (5, 15)
    assert RNNCell(3, 5).output_features(3) == 5
    assert repr(LSTMCell(3, 5)) == "LSTMCell(3, 5)"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: RNNCell(0, 3), ShapeError, "RNNCell D (input size) must be a positive integer, got 0"),
        (lambda: LSTMCell(3, None), ShapeError, "LSTMCell H (hidden size) must be a positive integer, got None"),
        (lambda: GRUCell(3, 2).forward(np.zeros((2, 4)), np.zeros((2, 2))), ShapeError,
         "expects x of shape (N, 3), got (2, 4)"),
        (lambda: LSTMCell(3, 2).forward(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((1, 2))), ShapeError,
         "expects c_prev of shape (2, 2), got (1, 2)"),
        (lambda: RNNCell(3, 2).output_features(4), ShapeError, "expects 3 input features"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)
