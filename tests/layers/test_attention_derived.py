"""Attention's backward derived from its three index-notation stages (issue 10): proven, compiled, and
checked against the textbook reference and against central differences of its own forward."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import UnknownNameError
from symgrad.layers.attention import Attention


@pytest.fixture(scope="module")
def derivation():
    return symgrad.derive(Attention())


def _arrays(rng, n=2, t=3, s=4, d=5, e=3, scale=1.0):
    return {"q": scale * rng.normal(size=(n, t, d)), "k": rng.normal(size=(n, s, d)),
            "v": rng.normal(size=(n, s, e)), "G": rng.normal(size=(n, t, e))}


def test_every_step_is_proven(derivation):
    assert derivation.verified
    assert set(derivation.wrt) == {"q", "k", "v"}


def test_the_softmax_step_is_shown_in_its_closed_form(derivation):
    text = str(derivation)
    assert "rowsum" in text


def test_compiled_gradients_equal_the_textbook_backward(derivation):
    rng = np.random.default_rng(7)
    arrays = _arrays(rng)
    layer = Attention()
    layer.forward(arrays["q"], arrays["k"], arrays["v"])
    expected = dict(zip("qkv", layer.backward(arrays["G"].copy()), strict=True))
    got = derivation.lambdify()(**arrays)
    for name in "qkv":
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_compiled_gradients_equal_central_differences_of_the_forward(derivation):
    # The third side, independent of both backward passes: d<G, forward(q, k, v)> by central differences.
    rng = np.random.default_rng(11)
    arrays = _arrays(rng, n=2, t=2, s=3, d=2, e=2)
    got = derivation.lambdify()(**arrays)

    def loss(q, k, v):
        return float(np.sum(arrays["G"] * Attention().forward(q, k, v)))

    h = 1e-6
    for name in "qkv":
        numeric = np.zeros_like(arrays[name])
        for index in np.ndindex(*arrays[name].shape):
            plus = {key: arrays[key].copy() for key in "qkv"}
            minus = {key: arrays[key].copy() for key in "qkv"}
            plus[name][index] += h
            minus[name][index] -= h
            numeric[index] = (loss(**plus) - loss(**minus)) / (2 * h)
        np.testing.assert_allclose(got[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_large_scores_stay_finite(derivation):
    # Regression: a compiled softmax without the row max subtracted overflows exp at scores of a few hundred.
    rng = np.random.default_rng(3)
    arrays = _arrays(rng, scale=300.0)
    got = derivation.lambdify()(**arrays)
    assert all(np.isfinite(got[name]).all() for name in "qkv")


def test_a_missing_upstream_gradient_is_named(derivation):
    rng = np.random.default_rng(0)
    arrays = _arrays(rng)
    del arrays["G"]
    with pytest.raises(UnknownNameError, match="missing G"):
        derivation.lambdify()(**arrays)


@pytest.mark.parametrize("suffix", [".html", ".tex", ".md"])
def test_the_derivation_exports(derivation, tmp_path, suffix):
    path = tmp_path / f"attention{suffix}"
    symgrad.export(derivation, path)
    text = path.read_text(encoding="utf-8")
    assert len(text) > 1000
