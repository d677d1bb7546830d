"""symgrad/numeric/graphref.py: a graph network's reference side, by the layers' own backward() and
hand-written backward passes of the combinations (+, -, *, @, scaling, shifting, concat, total, sum_squares)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, Tanh
from symgrad.check.points import sample_values
from symgrad.numeric.graphref import graph_backward, graph_loss, graph_values, op_backward, op_forward

RNG = np.random.default_rng(17)
A, B = RNG.uniform(0.5, 1.5, (3, 4)), RNG.uniform(-1.5, -0.5, (3, 4))
COLUMNS, SQUARE = RNG.uniform(-1.0, 1.0, (3, 2)), RNG.uniform(-1.0, 1.0, (4, 5))

# kind, operands, constant, the value written another way (elementwise loops, not NumPy's operators)
CASES: list[tuple[str, list[np.ndarray], Any, Callable[..., Any]]] = [
    ("add", [A, B], None, lambda a, b: np.vectorize(lambda p, q: p + q)(a, b)),
    ("sub", [A, B], None, lambda a, b: np.vectorize(lambda p, q: p - q)(a, b)),
    ("mul", [A, B], None, lambda a, b: np.vectorize(lambda p, q: p * q)(a, b)),
    ("matmul", [A, SQUARE], None,
     lambda a, w: np.array([[sum(a[i, k] * w[k, j] for k in range(4)) for j in range(5)] for i in range(3)])),
    ("scale", [A], 0.3, lambda a: np.vectorize(lambda p: 0.3 * p)(a)),
    ("shift", [A], 2.5, lambda a: np.vectorize(lambda p: p + 2.5)(a)),
    ("concat", [A, COLUMNS], None, lambda a, c: np.array([list(a[i]) + list(c[i]) for i in range(3)])),
    ("total", [A], None, lambda a: sum(float(p) for p in a.ravel())),
    ("sum_squares", [B], None, lambda b: sum(float(p) ** 2 for p in b.ravel())),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("kind", "args", "const", "written_out"), CASES, ids=IDS)
def test_each_combination_computes_its_value(kind, args, const, written_out):
    got = op_forward(kind, [a.copy() for a in args], const)
    expected = written_out(*args)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("kind", "args", "const", "written_out"), CASES, ids=IDS)
def test_each_combination_s_backward_is_the_derivative_of_its_value(kind, args, const, written_out, seed):
    # <dout, op(args)> differentiated by central differences along each operand's elements, random dout
    rng = np.random.default_rng(seed)
    out = op_forward(kind, args, const)
    dout = rng.uniform(0.5, 1.5) * rng.choice([-1.0, 1.0]) if np.ndim(out) == 0 else rng.standard_normal(np.shape(out))
    grads = op_backward(kind, dout, args, const)
    assert len(grads) == len(args)
    h = 1e-6
    for i, arg in enumerate(args):
        numeric = np.zeros_like(arg)
        for idx in np.ndindex(arg.shape):
            up, down = [a.copy() for a in args], [a.copy() for a in args]
            up[i][idx] += h
            down[i][idx] -= h
            rise = np.sum(dout * op_forward(kind, up, const)) - np.sum(dout * op_forward(kind, down, const))
            numeric[idx] = rise / (2 * h)
        assert np.shape(grads[i]) == arg.shape
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-7, atol=1e-8)


def _every_combination() -> Network:
    """Each combination once, a value used twice (x feeds two consumers), and a layer applied twice."""
    x, t = Input("x", 3), Input("t", 2)
    first, shared = Affine(3, 2), Affine(2, 2)
    h = Tanh()(first(x))
    branch = symgrad.concat(h, 0.5 * Tanh()(shared(h)))  # (N, 4)
    mixed = Affine(4, 2)(branch) - h * shared(h) + 1.5
    loss = HalfSquaredError()(mixed, t)
    return Network(loss + 0.1 * symgrad.sum_squares(first.param("W")) + 0.01 * symgrad.total(x))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_reference_backprop_of_a_graph_matches_differences_of_its_loss(seed):
    net = _every_combination()
    values = sample_values(net, seed=seed, batch=3)
    names = tuple(net.names)
    wrt = tuple(name for name in names if name != "t")
    result = graph_backward(net, values, wrt)
    assert result.loss == pytest.approx(float(graph_loss(net, values)), rel=1e-15)
    h = 1e-6
    for name in wrt:
        numeric = np.zeros_like(np.asarray(values[name], dtype=float))
        for idx in np.ndindex(numeric.shape):
            up = {k: np.array(v, dtype=float, copy=True) for k, v in values.items()}
            down = {k: np.array(v, dtype=float, copy=True) for k, v in values.items()}
            up[name][idx] += h
            down[name][idx] -= h
            numeric[idx] = (float(graph_loss(net, up)) - float(graph_loss(net, down))) / (2 * h)
        np.testing.assert_allclose(result.gradients[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_every_named_value_and_its_gradient_are_shown():
    net = _every_combination()
    values = sample_values(net, seed=4, batch=3)
    forward, gradient = graph_values(net, values)
    assert forward[net.name_of(net.root)] == pytest.approx(float(graph_loss(net, values)))
    reference = graph_backward(net, values, tuple(name for name in net.names if name != "t"))
    for name, grad in reference.gradients.items():
        np.testing.assert_allclose(gradient[name], grad, rtol=1e-15)
