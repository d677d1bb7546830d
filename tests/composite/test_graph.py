"""The composite graph's sweep (symgrad/composite/graph.py) and its primitives (ops.py)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symgrad.composite import ops
from symgrad.composite.graph import Contribution, Graph, Value, collected, combine, forward_values, sweep
from symgrad.matrixexpr import ZETA


def _numeric(expr, env):
    return np.array(expr.subs(env).doit().as_explicit(), dtype=float)


def _matrix(name, rng, rows, cols):
    return sp.ImmutableMatrix(rng.uniform(0.5, 2.0, (rows, cols)) * rng.choice([-1, 1], (rows, cols)))


def test_a_value_used_twice_gets_the_sum_of_both_paths():
    # y = x * mean(x): x feeds y directly and through mu; its gradient is both terms.
    graph = Graph(("x",), (Value("mu", "mean_rows", ("x",)), Value("y", "mul", ("x", "mu"))), ("y",))
    x, g = sp.MatrixSymbol("x", 3, 2), sp.MatrixSymbol("G", 3, 2)
    values = forward_values(graph, {"x": x}, symbols=True)
    formed = sweep(graph, values, {"y": g}, ("x",),
                   lambda name, parts: sp.MatrixSymbol(f"d{name}", *values[name].shape))
    assert [p.consumer for p in formed["x"]] == ["y", "mu"]
    rng = np.random.default_rng(0)
    xv, gv = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    grad = _numeric(collected(graph, forward_values(graph, {"x": x}), {"y": g}, ("x",))["x"],
                    {x: sp.ImmutableMatrix(xv), g: sp.ImmutableMatrix(gv)})
    expected = gv * xv.mean(axis=0) + (gv * xv).sum(axis=0) / 3  # by hand: d(x_ij * mean_j)/dx_kj
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


def test_a_cut_value_passes_no_gradient():
    graph = Graph(("x",), (Value("mu", "mean_rows", ("x",)), Value("y", "sub", ("x", "mu"))), ("y",))
    x, g = sp.MatrixSymbol("x", 3, 2), sp.MatrixSymbol("G", 3, 2)
    values = forward_values(graph, {"x": x})
    assert collected(graph, values, {"y": g}, ("x",), cut=("mu",))["x"] == g
    assert collected(graph, values, {"y": g}, ("x",))["x"] != g


def test_slices_that_tile_their_matrix_are_put_side_by_side():
    a, b = sp.MatrixSymbol("a", 2, 2), sp.MatrixSymbol("b", 2, 1)
    parts = [Contribution("second", b, (2, 3)), Contribution("first", a, (0, 2))]
    assert combine(parts, 3) == sp.BlockMatrix([[a, b]])
    gap = combine([Contribution("first", a, (0, 2))], 3)  # a slice alone is padded with zeros
    assert gap == sp.BlockMatrix([[a, sp.ZeroMatrix(2, 1)]])


def test_constants_get_no_gradient_and_unused_leaves_get_zero():
    graph = Graph(("x", "m", "unused"), (Value("y", "sub", ("x", "m")),), ("y",), constants=("m",))
    x, m, u = sp.MatrixSymbol("x", 3, 2), sp.MatrixSymbol("m", 1, 2), sp.MatrixSymbol("unused", 3, 2)
    g = sp.MatrixSymbol("G", 3, 2)
    grads = collected(graph, forward_values(graph, {"x": x, "m": m, "unused": u}), {"y": g}, ("x", "m", "unused"))
    assert grads["x"] == g
    assert grads["m"] == sp.ZeroMatrix(1, 2)
    assert grads["unused"] == sp.ZeroMatrix(3, 2)


@pytest.mark.parametrize(("kind", "shapes", "const"), [
    ("add", ((3, 2), (1, 2)), None), ("sub", ((3, 2), (3, 1)), None), ("mul", ((1, 2), (3, 2)), None),
    ("add", ((3, 1), (3, 2)), None),  # a column first: the output takes its columns from the other operand
    ("div", ((3, 2), (1, 2)), None), ("scale", ((3, 2),), 3), ("matmul", ((3, 2), (2, 4)), None),
    ("fn", ((3, 2),), sp.tanh(ZETA)), ("mean_rows", ((3, 2),), None), ("mean_cols", ((3, 2),), None),
    ("cols", ((3, 5),), (1, 3)),
])
def test_each_primitive_rule_matches_central_differences(kind, shapes, const):
    rng = np.random.default_rng(1)
    symbols = [sp.MatrixSymbol(f"a{i}", *s) for i, s in enumerate(shapes)]
    values = [rng.uniform(0.5, 2.0, s) for s in shapes]
    out = ops.forward(kind, symbols, const)
    g = sp.MatrixSymbol("G", *out.shape)
    gv = rng.normal(size=out.shape)
    env = {**{s: sp.ImmutableMatrix(v) for s, v in zip(symbols, values, strict=True)}, g: sp.ImmutableMatrix(gv)}

    def energy(point):
        local = {**env, **{s: sp.ImmutableMatrix(v) for s, v in zip(symbols, point, strict=True)}}
        return float(np.sum(gv * _numeric(out, local)))

    for position, rule in enumerate(ops.vjp(kind, g, symbols, const)):
        got = _numeric(rule, env)
        numeric = np.zeros(shapes[position])
        for index in np.ndindex(*shapes[position]):
            plus = [v.copy() for v in values]
            minus = [v.copy() for v in values]
            plus[position][index] += 1e-6
            minus[position][index] -= 1e-6
            numeric[index] = (energy(plus) - energy(minus)) / 2e-6
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_broadcast_refuses_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match="cannot broadcast a 2 x 3 operand to 4 x 3"):
        ops.broadcast(sp.MatrixSymbol("a", 2, 3), (4, 3))
    with pytest.raises(ValueError, match="unknown primitive 'sqrt'"):
        ops.forward("sqrt", [sp.MatrixSymbol("a", 2, 3)])
