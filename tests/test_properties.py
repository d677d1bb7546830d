"""Property-based tests: random compositions of layers agree three ways.

Hypothesis builds networks of 1 to 5 affine layers, each optionally followed by a
Sigmoid, Tanh or ReLU, widths 1 to 6, with a random loss (SoftmaxCrossEntropy only
with at least 2 outputs), and checks them at random seeded points: the symbolic
derivation, the layers' backward() and finite differences must agree (status "ok", or
"kink" where a finite-difference stencil straddles a ReLU kink). A shrunk failing
example is a bug to fix in symgrad, never a case to filter out.

At least 200 examples run per property: the "ci" profile (loaded when the CI
environment variable is set) and the developer profile both ask for 200.
"""

from __future__ import annotations

import itertools
import os

import hypothesis.strategies as st
from hypothesis import given, settings

import symgrad
from symgrad.layers import Layer, Loss

settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None)
#: Applied to each property here (not loaded globally, so other test modules keep their own settings).
PROFILE = settings.get_profile("ci" if os.environ.get("CI") else "dev")

ACTIVATIONS: tuple[type[Layer] | None, ...] = (None, symgrad.Sigmoid, symgrad.Tanh, symgrad.ReLU)
LOSSES: tuple[type[Loss], ...] = (symgrad.HalfSquaredError, symgrad.MeanSquaredError, symgrad.SoftmaxCrossEntropy)
SCALAR_LOSSES: tuple[type[Loss], ...] = (symgrad.HalfSquaredError, symgrad.MeanSquaredError)


@st.composite
def batched_networks(draw: st.DrawFn) -> symgrad.Network:
    depth = draw(st.integers(1, 5))
    loss = draw(st.sampled_from(LOSSES))
    widths = [draw(st.integers(1, 6)) for _ in range(depth)]
    widths.append(draw(st.integers(2 if loss is symgrad.SoftmaxCrossEntropy else 1, 6)))
    layers: list[Layer] = []
    if draw(st.booleans()):
        layers.append(draw(st.sampled_from(ACTIVATIONS[1:]))())  # an activation may come first
    for inputs, outputs in itertools.pairwise(widths):
        layers.append(symgrad.Affine(inputs, outputs))
        activation = draw(st.sampled_from(ACTIVATIONS))
        if activation is not None:
            layers.append(activation())
    return symgrad.Network(layers, loss=loss())


@st.composite
def scalar_networks(draw: st.DrawFn) -> symgrad.Network:
    layers: list[Layer] = []
    for _ in range(draw(st.integers(1, 5))):
        layers.append(symgrad.Affine())
        activation = draw(st.sampled_from(ACTIVATIONS))
        if activation is not None:
            layers.append(activation())
    return symgrad.Network(layers, loss=draw(st.sampled_from(SCALAR_LOSSES))())


SEEDS = st.integers(0, 2**32 - 1)


def _agree(report: symgrad.CheckReport, net: symgrad.Network) -> None:
    assert report.ok, str(report)
    assert {row.status for row in report.rows} <= {"ok", "kink"}
    if not any(isinstance(layer, symgrad.ReLU) for layer in net.layers):
        # "kink" is for ReLU only: a smooth network has no kink to straddle.
        assert all(row.status == "ok" for row in report.rows), str(report)


@PROFILE
@given(net=batched_networks(), seed=SEEDS, batch=st.integers(1, 5))
def test_batched_compositions_agree_three_ways(net, seed, batch):
    _agree(symgrad.check(net, seed=seed, batch=batch), net)


@PROFILE
@given(net=scalar_networks(), seed=SEEDS)
def test_scalar_compositions_agree_three_ways(net, seed):
    _agree(symgrad.check(net, seed=seed), net)


@PROFILE
@given(net=batched_networks(), seed=SEEDS, batch=st.integers(1, 5))
def test_batched_compositions_agree_along_a_random_direction(net, seed, batch):
    report = symgrad.check(net, seed=seed, batch=batch, mode="fast")
    assert report.ok, str(report)
    assert report.directional is not None
