"""Seeded sample points: reproducible, shaped like the network, away from ReLU kinks."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import (
    Affine,
    ComplexityError,
    HalfSquaredError,
    MeanSquaredError,
    Network,
    ReLU,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    UnknownNameError,
)
from symgrad.check import points
from symgrad.check.points import KINK_MARGIN, sample_values
from symgrad.numeric.reference import relu_inputs


def test_same_seed_same_values_other_seed_other_values():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    first, again, other = sample_values(net, seed=5), sample_values(net, seed=5), sample_values(net, seed=6)
    assert list(first) == list(net.names)
    for name in net.names:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["W1"], other["W1"])


def test_values_have_the_network_shapes():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    values = sample_values(net, seed=0, batch=7)
    assert values["x"].shape == (7, 3)
    assert values["t"].shape == (7, 2)
    assert values["W1"].shape == (3, 4)
    assert values["b1"].shape == (4,)
    assert all(np.asarray(v).dtype == np.float64 for v in values.values())


def test_scalar_network_values_are_floats():
    values = sample_values(symgrad.article_network(), seed=1)
    assert all(isinstance(v, float) for v in values.values())


def test_softmax_targets_are_one_hot():
    net = Network([Affine(3, 5)], loss=SoftmaxCrossEntropy())
    t = sample_values(net, seed=2, batch=20)["t"]
    assert set(np.unique(t)) <= {0.0, 1.0}
    np.testing.assert_array_equal(t.sum(axis=1), np.ones(20))


@pytest.mark.parametrize("seed", range(8))
def test_relu_inputs_keep_away_from_the_kink(seed):
    net = Network([Affine(2, 6), ReLU(), Affine(6, 6), ReLU(), Affine(6, 1)], loss=MeanSquaredError())
    values = sample_values(net, seed=seed, batch=6)
    for z in relu_inputs(net, values):
        assert np.min(np.abs(z)) > KINK_MARGIN


def test_scalar_relu_network_keeps_away_from_the_kink():
    net = Network([Affine(), ReLU(), Affine()], loss=HalfSquaredError())
    for seed in range(30):
        (z,) = relu_inputs(net, sample_values(net, seed=seed))
        assert abs(float(z)) > KINK_MARGIN


def test_avoid_kinks_false_takes_the_first_draw():
    # A ReLU input near 0 is redrawn only when avoiding kinks: find a seed whose first draw is near one.
    net = Network([Affine(), ReLU(), Affine()], loss=HalfSquaredError())
    near = next(seed for seed in range(10_000)
                if abs(float(relu_inputs(net, sample_values(net, seed=seed, avoid_kinks=False))[0])) <= KINK_MARGIN)
    raw = sample_values(net, seed=near, avoid_kinks=False)
    kept_away = sample_values(net, seed=near)
    assert raw != kept_away
    assert abs(float(relu_inputs(net, kept_away)[0])) > KINK_MARGIN


@pytest.mark.parametrize(("kwargs", "error"), [({"seed": -1}, UnknownNameError), ({"seed": "0"}, UnknownNameError),
                                               ({"batch": 0}, ShapeError), ({"batch": 3.0}, ShapeError)])
def test_bad_seed_or_batch(kwargs, error):
    with pytest.raises(error, match=r"(seed|batch) must be"):
        sample_values(symgrad.article_network(), **kwargs)


def test_the_default_point_is_seed_0_with_a_batch_of_4():
    net = Network([Affine(3, 2)], loss=HalfSquaredError())
    default = sample_values(net)
    assert np.shape(default["x"]) == (4, 3)
    for name, value in sample_values(net, seed=0, batch=4).items():
        np.testing.assert_array_equal(default[name], value)


def test_weights_are_scaled_by_one_over_sqrt_fan_in_and_biases_by_a_half():
    values = sample_values(Network([Affine(400, 900)], loss=HalfSquaredError()), seed=1)
    assert np.std(values["W1"]) == pytest.approx(1 / np.sqrt(400), rel=0.02)
    assert np.std(values["b1"]) == pytest.approx(0.5, rel=0.1)
    assert abs(np.mean(values["W1"])) < 0.01


def test_scalar_values_are_uniform_between_minus_2_and_2():
    drawn = np.array([list(sample_values(symgrad.article_network(), seed=seed).values()) for seed in range(40)])
    assert np.all(np.abs(drawn) <= 2.0)
    assert np.max(drawn) > 1.8
    assert np.min(drawn) < -1.8


def test_kinks_are_avoided_by_at_most_50_redraws(monkeypatch):
    draws = []
    original = points._draw

    def counting(network, rng, batch):
        draws.append(batch)
        return original(network, rng, batch)

    monkeypatch.setattr(points, "_draw", counting)
    monkeypatch.setattr(points, "KINK_MARGIN", np.inf)  # every draw is "near a kink"
    sample_values(Network([Affine(2, 3), ReLU(), Affine(3, 1)], loss=HalfSquaredError()), seed=0)
    assert len(draws) == 1 + 50


def test_a_point_too_large_to_draw_is_refused_before_allocating():
    net = Network([Affine(20_000, 15_000)], loss=HalfSquaredError())
    with pytest.raises(
        symgrad.ComplexityError,
        match=r"^a sample point of this network has 650,015,000 numbers \(W1 alone 300,000,000\); "
        r"symgrad draws at most 100,000,000 \(762 MiB\)",
    ):
        sample_values(net, batch=10_000)


def test_a_point_of_exactly_max_elements_is_drawn(monkeypatch):
    net = Network([Affine(3, 2)], loss=HalfSquaredError())  # x 4*3, t 4*2, W 3*2, b 2: 28 numbers
    monkeypatch.setattr(points, "MAX_ELEMENTS", 28)
    assert np.shape(sample_values(net)["W1"]) == (3, 2)
    monkeypatch.setattr(points, "MAX_ELEMENTS", 27)
    with pytest.raises(symgrad.ComplexityError, match="has 28 numbers"):
        sample_values(net)


def test_the_guard_says_what_a_check_holds_in_memory():
    net = symgrad.network_from_spec("affine(12000, 9000) > half-squared-error")
    with pytest.raises(ComplexityError) as caught:
        sample_values(net)
    message = str(caught.value)
    assert "symgrad draws at most 100,000,000 (762 MiB)" in message
    # 108,000,000 + 9,000 + 4 * 12,000 + 4 * 9,000 numbers, three arrays of them
    assert "a check holds about 3 arrays the size of the point (the point and two gradients: 2.4 GiB" in message


def test_softmax_targets_cover_every_class_the_first_included():
    net = Network([Affine(3, 4)], loss=SoftmaxCrossEntropy())
    t = sample_values(net, seed=3, batch=60)["t"]
    assert set(np.argmax(t, axis=1)) == {0, 1, 2, 3}


def test_a_graph_network_s_point_has_one_hot_targets_and_scaled_weights():
    x, t = symgrad.Input("x", 300), symgrad.Input("t", 5)
    net = Network(SoftmaxCrossEntropy()(Affine(300, 5)(x), t))
    values = sample_values(net, seed=4, batch=50)
    assert values["x"].shape == (50, 300)
    assert np.std(values["x"]) == pytest.approx(1.0, rel=0.05)  # the input is not a one-hot target
    assert values["t"].shape == (50, 5)
    np.testing.assert_array_equal(values["t"].sum(axis=1), np.ones(50))
    assert set(np.unique(values["t"])) == {0.0, 1.0}
    (weight,) = [name for name in net.params if net.param(name).role == "W"]
    (bias,) = [name for name in net.params if net.param(name).role == "b"]
    assert np.std(values[weight]) == pytest.approx(1 / np.sqrt(300), rel=0.1)
    assert np.std(values[bias]) < 1.0


def test_a_graph_network_with_a_squared_error_draws_real_valued_targets():
    x, t = symgrad.Input("x", 3), symgrad.Input("t", 4)
    net = Network(HalfSquaredError()(Affine(3, 4)(x), t))
    values = sample_values(net, seed=5, batch=30)
    assert values["t"].shape == (30, 4)
    assert len(np.unique(values["t"])) == values["t"].size  # not one-hot
