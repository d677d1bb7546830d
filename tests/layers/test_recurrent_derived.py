"""RNNCell, LSTMCell, GRUCell derived through their graphs: three ways, as specs of users' cells, mistakes named.

The derived rules (one sweep over each cell's graph, symgrad/layers/recurrent.py) are the spec;
the textbook references in the same module and the cs231n / DLFS2-style cells written here are the
backward side; finite differences the third.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import SpecError
from symgrad.layers.recurrent import GRUCell, LSTMCell, RNNCell

SEEDS = (0, 1)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.3, 1.2]: away from zero, either sign, gates not saturated."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.2, size=shape)


def reference(cls, d, h, rng):
    cell = cls(d, h)
    shapes = cell.param_shapes(None)
    cell.set_params({role: away(rng, shape) for role, shape in shapes.items()})
    return cell


def inputs_of(cell, n, rng):
    return {name: away(rng, (n, size)) for name, size in cell.input_sizes().items()}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell])
def test_derived_cell_agrees_three_ways_with_the_reference_and_finite_differences(cls, seed):
    rng = np.random.default_rng(seed)
    cell = reference(cls, 3, 2, rng)
    report = symgrad.check_layer(cell, cls(3, 2), x=inputs_of(cell, 4, rng), seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == [*cell.inputs, "Wx", "Wh", "b"]
    assert max(row.rel_error for row in report.rows) <= 1e-8


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b, mistake):
    """cs231n assignment 3's LSTM step: (next_h, next_c, cache)."""
    h = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sigmoid(a[:, :h]), _sigmoid(a[:, h:2 * h]), _sigmoid(a[:, 2 * h:3 * h]), np.tanh(a[:, 3 * h:])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c, mistake)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c, mistake = cache
    tc = np.tanh(next_c)
    ds = dnext_h * o * (1 - tc**2) + (0 if mistake == "dc_next" else dnext_c)
    dgate = g * (1 - g) if mistake == "sigmoid'" else 1 - g**2
    da = np.hstack((ds * g * i * (1 - i), ds * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o), ds * i * dgate))
    return da @ Wx.T, da @ Wh.T, ds * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _lstm_check(mistake, seed=0):
    rng = np.random.default_rng(seed)
    n, d, h = 4, 3, 2
    x = {"x": away(rng, (n, d)), "prev_h": away(rng, (n, h)), "prev_c": away(rng, (n, h))}
    params = {"Wx": away(rng, (d, 4 * h)), "Wh": away(rng, (h, 4 * h)), "b": away(rng, (4 * h,)), "mistake": mistake}
    return symgrad.check_layer((lstm_step_forward, lstm_step_backward), LSTMCell(d, h), x=x, params=params, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_lstm_step_checks_against_the_spec(seed):
    report = _lstm_check("", seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]


def test_lstm_dropping_dc_next_is_named_with_the_expected_formula():
    report = _lstm_check("dc_next")
    diagnosis = report.row("prev_c").diagnosis
    assert diagnosis.startswith("matches a mistake in the layer's graph: the gradient from the next step, dc_next, "
                                "left out (dc ignored); fix: add it where both paths into c meet"), diagnosis
    assert diagnosis.endswith("expected dprev_c = ds * f, ds = dc + dh * o * (1 - tanh(c)**2)"), diagnosis


def test_lstm_sigmoid_derivative_for_the_tanh_gate_is_named():
    report = _lstm_check("sigmoid'")
    diagnosis = report.row("Wx").diagnosis
    assert diagnosis.startswith("matches a mistake in the layer's graph: sigmoid' used for the tanh gate g: "
                                "g * (1 - g) where tanh' is 1 - g**2"), diagnosis
    assert "expected dWx = x.T @ dA, dA = hstack((ds * g * i * (1 - i), ds * c_prev * f * (1 - f), " in diagnosis
    assert report.row("prev_c").passed  # c_prev's gradient does not go through g


class DLFS2RNN:
    """DLFS2 common/time_layers.py RNN: params and grads lists, backward(dh_next) -> (dx, dh_prev)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _b = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = np.sum(dt, axis=0)
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


def test_dlfs2_rnn_checks_against_the_spec():
    rng = np.random.default_rng(2)
    layer = DLFS2RNN(away(rng, (3, 2)), away(rng, (2, 2)), away(rng, (2,)))
    report = symgrad.check_layer(layer, RNNCell(3, 2), x={"x": away(rng, (4, 3)), "h_prev": away(rng, (4, 2))},
                                 params=["Wx", "Wh", "b"])
    assert report.ok, report
    assert max(row.rel_error for row in report.rows) <= 1e-8


def test_a_cell_spec_with_the_wrong_number_of_inputs_says_what_it_takes():
    rng = np.random.default_rng(3)
    with pytest.raises(SpecError, match=r"takes 3 inputs \(x, h_prev, c_prev\), in that order; the layer was given 1"):
        symgrad.check_layer(reference(LSTMCell, 3, 2, rng), LSTMCell(3, 2), x=away(rng, (4, 3)))
