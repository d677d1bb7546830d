"""Graph networks (issue 9, parts 1 and 2): a residual block, weight decay, an unrolled RNN, two branches merged
by concat. Each derives with every step proven, agrees three ways (symbolic, the layers' backward() composed by
backprop over the graph, finite differences) to 1e-9 at random points, and shows the sum at each fork."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.numeric import finite
from symgrad.numeric.reference import reference_backward, reference_loss, relu_inputs


def residual() -> Network:
    x, t = Input("x", 4), Input("t", 4)
    inner = Affine(4, 4)(Tanh()(Affine(4, 4)(x)))
    return Network(HalfSquaredError()(x + inner, t))


def weight_decay() -> Network:
    x, t = Input("x", 3), Input("t", 2)
    first, second = Affine(3, 4), Affine(4, 2)
    data = HalfSquaredError()(second(Sigmoid()(first(x))), t)
    return Network(data + 0.05 * symgrad.sum_squares(first.param("W")) + 0.05 * symgrad.sum_squares(second.param("W")))


def rnn() -> Network:
    """h_t = tanh(x_t Wx + bx + h_{t-1} Wh + bh), three steps, Wx and Wh shared; E on an affine read-out of h3."""
    xs = [Input(f"x{step}", 3) for step in (1, 2, 3)]
    t = Input("t", 2)
    into, across = Affine(3, 4, name="x"), Affine(4, 4, name="h")
    h = Tanh()(into(xs[0]))
    for x in xs[1:]:
        h = Tanh()(into(x) + across(h))
    return Network(HalfSquaredError()(Affine(4, 2, name="out")(h), t))


def two_branches() -> Network:
    x, t = Input("x", 3), Input("t", 3)
    left = Tanh()(Affine(3, 4)(x))
    right = ReLU()(Affine(3, 2)(x))
    return Network(SoftmaxCrossEntropy()(Affine(6, 3)(symgrad.concat(left, right)), t))


NETWORKS: dict[str, Callable[[], Network]] = {
    "residual": residual, "weight-decay": weight_decay, "rnn": rnn, "two-branches": two_branches,
}


def _point(net: Network, seed: int, batch: int) -> dict[str, np.ndarray]:
    """Random values away from zero (|v| in [0.3, 1.3], random signs), one-hot targets for softmax,
    redrawn until no ReLU input is within 0.05 of its kink."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        values = {}
        for name in net.names:
            shape = (batch, net.input_shapes[name][1]) if name in net.input_shapes else net.param(name).shape
            values[name] = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.3, size=shape)
        if any(isinstance(node.layer, SoftmaxCrossEntropy) for node in net.order if hasattr(node, "layer")):
            values["t"] = np.eye(3)[rng.integers(0, 3, size=batch)]
        if all(np.min(np.abs(z)) > 0.05 for z in relu_inputs(net, values)):
            return values
    raise AssertionError("no point away from the ReLU kinks")


@pytest.mark.parametrize("build", NETWORKS.values(), ids=NETWORKS.keys())
def test_every_step_is_proven(build: Callable[[], Network]) -> None:
    d = symgrad.derive(build())
    assert d.verified
    for name in d.wrt:
        for step in d.steps(name):
            assert step.verified, (name, step.lhs, step.proof)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("build", NETWORKS.values(), ids=NETWORKS.keys())
def test_three_ways_agree_to_1e9(build: Callable[[], Network], seed: int) -> None:
    net = build()
    values = _point(net, seed, batch=3)
    d = symgrad.derive(net)
    loss, symbolic = d.lambdify().evaluate(values)
    reference = reference_backward(net, values, d.wrt)
    numeric = finite.gradient(lambda v: reference_loss(net, v), values, d.wrt, method="richardson")
    assert abs(loss - reference.loss) <= 1e-12 * max(1.0, abs(loss))
    for name in d.wrt:
        scale = max(1e-3, float(np.max(np.abs(symbolic[name]))))
        assert np.max(np.abs(symbolic[name] - reference.gradients[name])) <= 1e-12 * scale, name
        assert np.max(np.abs(symbolic[name] - numeric.gradients[name])) <= 1e-9 * scale, name


@pytest.mark.parametrize("build", NETWORKS.values(), ids=NETWORKS.keys())
def test_check_passes_full_and_fast(build: Callable[[], Network]) -> None:
    net = build()
    assert symgrad.check(net, batch=3, seed=4).ok
    assert symgrad.check(net, batch=3, seed=4, mode="fast").ok


@pytest.mark.parametrize("build", NETWORKS.values(), ids=NETWORKS.keys())
def test_each_fork_is_a_sum_of_its_consumers(build: Callable[[], Network]) -> None:
    net = build()
    d = symgrad.derive(net)
    steps = {str(step.lhs): step for name in d.wrt for step in d.steps(name) if not step.rule.startswith("substitute")}
    forks = {name: users for name, users in net.consumers().items() if len(users) > 1 and name not in net.targets}
    assert forks
    for name, users in forks.items():
        step = steps[f"dE/d{name}"]
        assert step.rule.startswith(f"sum over {len(users)} paths ({name} feeds "), step.rule
        assert isinstance(step.rhs, (sp.MatAdd, sp.Add))
        assert len(step.rhs.args) == len(users)
        assert {str(atom)[4:] for atom in step.rhs.atoms(sp.MatrixSymbol, sp.Symbol)
                if str(atom).startswith("dE/d")} <= set(users)


def test_the_forks_of_the_rnn_are_its_shared_weights_and_hidden_states() -> None:
    net = rnn()
    forks = {name: users for name, users in net.consumers().items() if len(users) > 1}
    assert set(forks) == {"Wx", "bx", "Wh", "bh"}  # the weights of the three steps: the input, twice, the state
    assert [len(forks[name]) for name in ("Wx", "Wh")] == [3, 2]


def test_each_gradient_is_derived_once_and_reused() -> None:
    d = symgrad.derive(rnn())
    targets = [str(lhs) for lhs, _ in d.program if str(lhs).startswith("dE/d")]
    assert len(targets) == len(set(targets))
    # dE/dWx is built from the same upstream gradients as dE/dx1: they appear once in the program
    assert targets.index("dE/dWx") > targets.index("dE/dh1")


def test_weight_decay_adds_its_term_to_the_gradient() -> None:
    net = weight_decay()
    values = _point(net, 0, batch=2)
    without = Network(HalfSquaredError()(net.root.args[0].args[0].args[0], Input("t", 2)))
    grad = symgrad.derive(net).lambdify()(**values)["W1"]
    plain = symgrad.derive(without).lambdify()(**{k: values[k] for k in without.names})["W1"]
    np.testing.assert_allclose(grad - plain, 2 * 0.05 * values["W1"], rtol=1e-12, atol=1e-14)


def test_scalar_graphs_are_proven_against_the_composed_loss() -> None:
    x, t = Input("x"), Input("t")
    layer = Affine(name="1")
    net = Network(HalfSquaredError()(layer(layer(x)) + x, t) + 0.5 * symgrad.sum_squares(layer.param("W")))
    d = symgrad.derive(net)
    assert d.verified
    w, b, xs, ts = sp.symbols("w1 b1 x t")
    direct = sp.diff(((w * (w * xs + b) + b + xs) - ts) ** 2 / 2 + w**2 / 2, w)
    assert sp.simplify(d.gradient("w1") - direct) == 0
    fork = next(step for step in d.steps("w1") if str(step.lhs) == "dE/dw1")
    assert fork.rule.startswith("sum over 3 paths (w1 feeds h1, h2 and h5)")
    assert symgrad.check(net).ok


def test_a_chain_as_a_graph_gives_the_chain_s_gradients() -> None:
    chain = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    x, t = Input("x", 3), Input("t", 2)
    graph = Network(HalfSquaredError()(Affine(4, 2)(Sigmoid()(Affine(3, 4)(x))), t))
    assert graph.names == chain.names
    values = _point(graph, 3, batch=4)
    got = symgrad.derive(graph).lambdify()(**values)
    want = symgrad.derive(chain).lambdify()(**values)
    for name in chain.params:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-13)


def every_combination() -> Network:
    """-, * (entrywise), numbers (shift, scale, divide, negate), @ with a parameter, concat, total,
    sum_squares of a bias, and a loss: each combination's rule and hand-written backward in one graph."""
    from symgrad import MeanSquaredError

    x, t = Input("x", 3), Input("t", 2)
    a, b = Affine(3, 3), Affine(3, 2)
    h = Sigmoid()(a(x))
    g = (h - x) * (1 - h) / 2 + (-x) + 0.5
    out = Affine(5, 2)(symgrad.concat(b(g), x))
    return Network(MeanSquaredError()(out, t) + 0.1 * symgrad.total(h * h)
                   + 0.01 * symgrad.sum_squares(a.param("b")) - 0.2 * symgrad.total(x @ a.param("W")))


@pytest.mark.parametrize("seed", [5, 6])
def test_every_combination_agrees_three_ways(seed: int) -> None:
    net = every_combination()
    assert {node.kind for node in net.order if hasattr(node, "kind")} == {
        "sub", "mul", "shift", "scale", "add", "concat", "total", "sum_squares", "matmul"}
    d = symgrad.derive(net)
    assert d.verified
    values = _point(net, seed, batch=4)
    _, symbolic = d.lambdify().evaluate(values)
    reference = reference_backward(net, values, d.wrt)
    numeric = finite.gradient(lambda v: reference_loss(net, v), values, d.wrt, method="richardson")
    for name in d.wrt:
        scale = max(1e-3, float(np.max(np.abs(symbolic[name]))))
        assert np.max(np.abs(symbolic[name] - reference.gradients[name])) <= 1e-12 * scale, name
        assert np.max(np.abs(symbolic[name] - numeric.gradients[name])) <= 1e-9 * scale, name


def test_a_scalar_graph_with_products_and_numbers() -> None:
    x, t = Input("x"), Input("t")
    layer = Affine(name="1")
    h = Tanh()(layer(x))
    net = Network(HalfSquaredError()(h * x - 2 * h + 1, t) + symgrad.total(h) + symgrad.sum_squares(layer.param("b")))
    d = symgrad.derive(net)
    assert d.verified
    fork = next(step for step in d.steps("b1") if str(step.lhs) == "dE/db1")
    assert fork.rule.startswith("sum over 2 paths (b1 feeds h1 and ")
    assert symgrad.check(net, seed=3).ok
