"""Property-based tests: random compositions of layers agree three ways.

Hypothesis builds networks of 1 to 5 affine layers, each optionally followed by a
Sigmoid, Tanh or ReLU, widths 1 to 6, with a random loss (SoftmaxCrossEntropy only
with at least 2 outputs), and checks them at random seeded points: the symbolic
derivation, the layers' backward() and finite differences must agree (status "ok", or
"kink" where a finite-difference stencil straddles a ReLU kink). A shrunk failing
example is a bug to fix in symgrad, never a case to filter out.

A last property draws networks with the generator of ``benchmarks/false_alarms.py`` at
points on ReLU kinks (values rounded to multiples of 0.5) and at large points (N(0, 10^2)):
a correct network must pass in both modes there (no false alarms; that script counts them).

At least 200 examples run per property: the "ci" profile (loaded when the CI
environment variable is set) and the developer profile both ask for 200.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path
from types import ModuleType

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


# --- false alarms at kinks and at large points (issue 13): the generator of benchmarks/false_alarms.py ---


def _load_false_alarms() -> ModuleType:
    """benchmarks/false_alarms.py, whose generator and points this property shares (loaded by path)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "false_alarms.py"
    spec = importlib.util.spec_from_file_location("false_alarms", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FALSE_ALARMS = _load_false_alarms()


@st.composite
def hard_cases(draw: st.DrawFn) -> tuple[symgrad.Network, str, int, int]:
    """A random correct network and a point on ReLU kinks (multiples of 0.5) or a large one (N(0, 10^2))."""
    network = FALSE_ALARMS.random_network(lambda low, high: draw(st.integers(low, high)))
    return network, draw(st.sampled_from(FALSE_ALARMS.KINDS)), draw(st.integers(0, 2**31 - 1)), draw(st.integers(1, 5))


@PROFILE
@given(case=hard_cases())
def test_no_false_alarms_at_kinks_or_large_points(case):
    """Every network here is correct: neither mode may fail it ("kink" rows are not failures).

    ``python benchmarks/false_alarms.py`` counts the alarms of each mode over 1,000 networks of each kind.
    """
    network, kind, seed, batch = case
    values = FALSE_ALARMS.point(network, kind, seed, batch)
    fast_alarm, full_alarm = FALSE_ALARMS.alarms(network, values, seed)
    assert not fast_alarm, str(symgrad.check(network, values, mode="fast", seed=seed))
    assert not full_alarm, str(symgrad.check(network, values, seed=seed))
