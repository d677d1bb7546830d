"""The recurrent cells' own mistakes (issue 10 part 3), each injected into a textbook-style cell written here
and named by ``check_layer`` with the formula it expected.

One RNN step has a single output h: the gradient from the next step (dh_next) reaches it already summed with
the output's own (DLFS2's TimeRNN: ``dh = dhs[:, t] + dh``), so a step cannot tell which part of dh a backward
dropped; dropping dh altogether gives zeros, named as such. The step-level mistakes are the derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.layers.recurrent import GRUCell, RNNCell

SEEDS = (0, 1)


def away(rng, shape):
    """Magnitudes in [0.3, 1.2], either sign: away from zero, gates not saturated."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.2, size=shape)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


class DLFS2RNN:
    """DLFS2 common/time_layers.py RNN, with ``mistake`` injected into its backward."""

    def __init__(self, Wx, Wh, b, mistake=""):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.mistake = mistake

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _b = self.params
        x, h_prev, h_next = self.cache
        slope = h_next * (1 - h_next) if self.mistake == "sigmoid'" else 1 - h_next**2
        dt = dh_next * slope
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = np.sum(dt, axis=0)
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


class DLFS2GRU:
    """DLFS2's GRU (h = (1 - z) h_prev + z h~, blocks z, r, h), with ``mistake`` injected into its backward."""

    def __init__(self, Wx, Wh, b, mistake=""):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.mistake = mistake

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        z = _sigmoid(x @ Wx[:, :H] + h_prev @ Wh[:, :H] + b[:H])
        r = _sigmoid(x @ Wx[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + b[H:2 * H])
        h_hat = np.tanh(x @ Wx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + b[2 * H:])
        self.cache = (x, h_prev, z, r, h_hat)
        return (1 - z) * h_prev + z * h_hat

    def backward(self, dh_next):
        Wx, Wh, _b = self.params
        H = Wh.shape[0]
        x, h_prev, z, r, h_hat = self.cache
        dh_prev = dh_next * (1 - z)
        slope = h_hat * (1 - h_hat) if self.mistake == "sigmoid'" else 1 - h_hat**2
        dt_h = dh_next * z * slope
        dhr = dt_h @ Wh[:, 2 * H:].T
        dh_prev = dh_prev + r * dhr
        dz = dh_next * h_prev - dh_next * h_hat if self.mistake == "sign" else dh_next * h_hat - dh_next * h_prev
        dt_z = dz * z * (1 - z)
        dr = dhr * h_prev
        dt_r = dr * r * (1 - r)
        dt = np.hstack((dt_z, dt_r, dt_h))
        self.grads[0][...] = x.T @ dt
        self.grads[1][...] = np.hstack((h_prev.T @ dt_z, h_prev.T @ dt_r, (r * h_prev).T @ dt_h))
        self.grads[2][...] = dt.sum(axis=0)
        dh_prev = dh_prev + dt_z @ Wh[:, :H].T + dt_r @ Wh[:, H:2 * H].T
        return dt @ Wx.T, dh_prev


def _check(cls, spec, gates, mistake, seed=0):
    rng = np.random.default_rng(seed)
    n, d, h = 4, 3, 2
    layer = cls(away(rng, (d, gates * h)), away(rng, (h, gates * h)), away(rng, (gates * h,)), mistake)
    x = {"x": away(rng, (n, d)), "h_prev": away(rng, (n, h))}
    return symgrad.check_layer(layer, spec(d, h), x=x, params=["Wx", "Wh", "b"], seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("cls", "spec", "gates"), [(DLFS2RNN, RNNCell, 1), (DLFS2GRU, GRUCell, 3)])
def test_the_textbook_cells_without_a_mistake_pass(cls, spec, gates, seed):
    report = _check(cls, spec, gates, "", seed)
    assert report.ok, report
    assert max(row.rel_error for row in report.rows) <= 1e-8


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_sigmoid_derivative_for_tanh_is_named_with_the_expected_formula(seed):
    report = _check(DLFS2RNN, RNNCell, 1, "sigmoid'", seed)
    for name in ("x", "h_prev", "Wx", "Wh", "b"):
        diagnosis = report.row(name).diagnosis
        assert diagnosis.startswith("matches a mistake in the layer's graph: sigmoid' used for tanh: h * (1 - h) "
                                    "where tanh' is 1 - h**2; fix: h = tanh(A): dA = dh * (1 - h**2)"), diagnosis
    assert report.row("Wh").diagnosis.endswith("expected dWh = h_prev.T @ dA, dA = dh * (1 - h**2)")


@pytest.mark.parametrize("seed", SEEDS)
def test_gru_update_gate_derivative_with_the_wrong_sign_is_named(seed):
    report = _check(DLFS2GRU, GRUCell, 3, "sign", seed)
    diagnosis = report.row("Wx").diagnosis
    assert diagnosis.startswith("matches a mistake in the layer's graph: the update gate's derivative with the "
                                "wrong sign: dh * (h_prev - h~) where h = (1 - z) * h_prev + z * h~ gives "
                                "dh * (h~ - h_prev)"), diagnosis
    assert "fix: dz = dh * (h_hat - h_prev) * z * (1 - z)" in diagnosis
    assert diagnosis.endswith("expected dWx = x.T @ dA"), diagnosis


@pytest.mark.parametrize("seed", SEEDS)
def test_gru_sigmoid_derivative_for_the_tanh_candidate_is_named(seed):
    report = _check(DLFS2GRU, GRUCell, 3, "sigmoid'", seed)
    diagnosis = report.row("h_prev").diagnosis
    assert diagnosis.startswith("matches a mistake in the layer's graph: sigmoid' used for the tanh candidate h~"), \
        diagnosis
    assert diagnosis.endswith("expected dh_prev = dh * (1 - z) + (dt @ Wh_h.T) * r + hstack((dz, dr)) @ Wh_zr.T"), \
        diagnosis

