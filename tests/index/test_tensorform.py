"""The N-D vectorised forms (einsum, staged sums, windows, scatter-add, max mask) against finite
differences with random upstream gradients, and against the textbook NumPy layers."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symgrad.index.ir import IndexForward, Tensor, indices
from symgrad.index.rules import derive_rule
from symgrad.index.tensorform import forward_code, rule_code, scatter_terms
from symgrad.layers.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from symgrad.layers.embedding import Embedding
from symgrad.layers.tensorforms import conv_forward, embedding_forward, flatten_forward, pool_forward
from symgrad.numeric.tensorrun import compile_source, scatter_add, window


def _compiled(forward: IndexForward, arrays: dict[str, np.ndarray]):
    shapes = {k: v.shape for k, v in arrays.items()}
    code = forward_code(forward, shapes)
    run = compile_source(code.source, code.name)
    grads = {}
    for tensor in forward.tensors:
        if tensor.integer:
            continue
        rule = rule_code(derive_rule(forward, tensor.name), {**shapes, "G": code.shape})
        grads[tensor.name] = compile_source(rule.source, rule.name)
    return run, grads


def _finite(run, arrays, name, g, h=1e-6):
    num = np.zeros_like(arrays[name])
    for ix in np.ndindex(*num.shape):
        plus = {**arrays, name: arrays[name].copy()}
        plus[name][ix] += h
        minus = {**arrays, name: arrays[name].copy()}
        minus[name][ix] -= h
        num[ix] = ((run(plus) - run(minus)) * g).sum() / (2 * h)
    return num


def _fd_agrees(forward, make, seeds=(0, 1)):
    for seed in seeds:
        rng = np.random.default_rng(seed)
        arrays = make(rng)
        run, grads = _compiled(forward, arrays)
        g = rng.normal(size=run(arrays).shape) + 0.5
        for name, rule in grads.items():
            derived = rule({**arrays, "G": g})
            assert derived.shape == arrays[name].shape
            np.testing.assert_allclose(derived, _finite(run, arrays, name, g), rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(("kernel", "stride", "pad"), [((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 1), (1, 0)),
                                                      ((2, 2), (2, 2), (0, 0))])
def test_convolution_rules_agree_with_finite_differences_and_the_textbook_layer(kernel, stride, pad) -> None:
    forward = conv_forward(kernel, stride, pad)
    make = lambda rng: {"x": rng.normal(size=(2, 2, 5, 6)), "W": rng.normal(size=(3, 2, *kernel)),  # noqa: E731
                        "b": rng.normal(size=3)}
    _fd_agrees(forward, make)
    rng = np.random.default_rng(5)
    arrays = make(rng)
    run, grads = _compiled(forward, arrays)
    ref = Conv2d(2, 3, kernel, stride=stride, pad=pad)
    ref.set_params({"W": arrays["W"], "b": arrays["b"]})
    out = ref.forward(arrays["x"])
    np.testing.assert_allclose(run(arrays), out, rtol=1e-12, atol=1e-12)
    g = rng.normal(size=out.shape)
    dx = ref.backward(g)
    for name, want in (("x", dx), ("W", ref.dW), ("b", ref.db)):
        np.testing.assert_allclose(grads[name]({**arrays, "G": g}), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("kernel", "stride"), [((2, 2), (1, 1)), ((2, 2), (2, 2)), ((3, 2), (2, 1))])
def test_pooling_rules_agree_with_finite_differences_and_the_textbook_layers(kernel, stride) -> None:
    for kind, ref in (("max", MaxPool2d(kernel, stride)), ("avg", AvgPool2d(kernel, stride))):
        forward = pool_forward(kind, kernel, stride, (0, 0))
        _fd_agrees(forward, lambda rng: {"x": rng.normal(size=(2, 2, 5, 5))})
        rng = np.random.default_rng(3)
        x = rng.normal(size=(2, 3, 6, 5))
        run, grads = _compiled(forward, {"x": x})
        out = ref.forward(x)
        np.testing.assert_allclose(run({"x": x}), out, rtol=1e-12)
        g = rng.normal(size=out.shape)
        np.testing.assert_allclose(grads["x"]({"x": x, "G": g}), ref.backward(g), rtol=1e-10, atol=1e-12)


def test_max_pooling_sends_a_tied_window_s_gradient_to_its_first_maximum_only() -> None:
    x = np.zeros((1, 1, 2, 2))  # every entry ties
    _, grads = _compiled(pool_forward("max", (2, 2), (2, 2), (0, 0)), {"x": x})
    dx = grads["x"]({"x": x, "G": np.full((1, 1, 1, 1), 3.0)})
    assert dx.tolist() == [[[[3.0, 0.0], [0.0, 0.0]]]]


def test_embedding_rule_adds_repeated_indices_like_np_add_at() -> None:
    for ndim, idx in ((1, np.array([3, 0, 3, 3])), (2, np.array([[1, 1], [4, 1], [0, 2]]))):
        rng = np.random.default_rng(ndim)
        w = rng.normal(size=(5, 3))
        run, grads = _compiled(embedding_forward(ndim), {"idx": idx, "W": w})
        ref = Embedding(5, 3)
        ref.set_params({"W": w})
        np.testing.assert_array_equal(run({"idx": idx, "W": w}), ref.forward(idx))
        g = rng.normal(size=ref.forward(idx).shape)
        ref.backward(g)
        np.testing.assert_allclose(grads["W"]({"idx": idx, "W": w, "G": g}), ref.dW, rtol=1e-12)
        _fd_agrees(embedding_forward(ndim), lambda rng, idx=idx: {"idx": idx, "W": rng.normal(size=(5, 3))})


def test_flatten_rule_is_the_reshape_back() -> None:
    _fd_agrees(flatten_forward(4), lambda rng: {"x": rng.normal(size=(2, 2, 3, 2))})
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    run, grads = _compiled(flatten_forward(4), {"x": x})
    np.testing.assert_array_equal(run({"x": x}), Flatten().forward(x))
    g = np.arange(24.0).reshape(2, 12) + 1
    np.testing.assert_array_equal(grads["x"]({"x": x, "G": g}), g.reshape(x.shape))


def test_bilinear_and_nonlinear_bodies_agree_with_finite_differences() -> None:
    n, i, j, k = indices("n i j k")
    x, a = sp.IndexedBase("x"), sp.IndexedBase("A")
    big_n, big_d = sp.symbols("N D", integer=True, positive=True)
    bilinear = IndexForward("y", (n, j), sp.Sum(x[n, i] * a[i, j, k] * x[n, k], (i, 0, big_d - 1), (k, 0, big_d - 1)),
                            (Tensor("x", (big_n, big_d)), Tensor("A", (big_d, 2, big_d))),
                            ((n, big_n), (j, 2), (i, big_d), (k, big_d)))
    _fd_agrees(bilinear, lambda rng: {"x": rng.normal(size=(4, 3)), "A": rng.normal(size=(3, 2, 3))})
    staged = IndexForward("y", (n, j), sp.tanh(x[n, j]) * sp.exp(x[n, j]) / sp.Sum(sp.exp(x[n, k]), (k, 0, big_d - 1)),
                          (Tensor("x", (big_n, big_d)),), ((n, big_n), (j, big_d), (k, big_d)))
    _fd_agrees(staged, lambda rng: {"x": rng.normal(size=(4, 3))})
    code = rule_code(derive_rule(staged, "x"), {"x": (4, 3), "G": (4, 3)}).source
    assert code.count("np.einsum('ab->a'") == 1  # the softmax denominator is computed once, over n alone


def test_convolution_scatter_statement_names_the_window() -> None:
    (term,) = scatter_terms(derive_rule(conv_forward((3, 3), (2, 2), (1, 1)), "x"))
    assert str(term) == ("dx[p, q, 2*i + u - 1, 2*j + v - 1] += Sum(G[p, f, i, j]*W[f, q, u, v], (f, 0, F - 1)) "
                         "for every i, j, u, v")
    assert "add up" in term.words()


def test_runtime_window_reads_zero_outside_and_scatter_adds_overlaps() -> None:
    x = np.arange(1.0, 4.0)
    view = window(x, ((-1, ((0, 1), (1, 1))),), (3, 3))  # x[i + u - 1]: padded by one on each side
    assert view.tolist() == [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 0.0]]
    back = scatter_add((3,), np.ones((3, 3)), ((-1, ((0, 1), (1, 1))),))
    assert back.tolist() == [2.0, 3.0, 2.0]  # the reads outside are dropped
    lookup = scatter_add((2, 2), np.ones((3, 2)), (np.array([[1], [1], [0]]), (0, ((1, 1),))))
    assert lookup.tolist() == [[1.0, 1.0], [2.0, 2.0]]


def test_the_np_add_at_path_of_a_scatter_gives_what_the_strided_slices_give(monkeypatch) -> None:
    from symgrad.numeric import tensorrun

    rng = np.random.default_rng(7)
    value = rng.normal(size=(2, 3, 4, 3))
    positions = ((0, ((0, 1),)), (-1, ((1, 2), (3, 1))), (0, ((2, 1),)))  # out[a, 2*b + d - 1, c]
    sliced = scatter_add((2, 7, 4), value, positions)
    monkeypatch.setattr(tensorrun, "MAX_SLICE_LOOPS", 0)
    assert tensorrun._slice_plan(positions, value.shape) is None
    np.testing.assert_allclose(scatter_add((2, 7, 4), value, positions), sliced, rtol=1e-14)
    looped = np.zeros((2, 7, 4))
    for a, b, c, d in np.ndindex(*value.shape):
        if 0 <= 2 * b + d - 1 < 7:
            looped[a, 2 * b + d - 1, c] += value[a, b, c, d]
    np.testing.assert_allclose(sliced, looped, rtol=1e-14)


def test_a_float_tensor_in_an_index_position_is_refused() -> None:
    from symgrad.errors import ShapeError

    n, d = indices("n d")
    w, v = sp.IndexedBase("W"), sp.IndexedBase("v")
    forward = IndexForward("y", (n, d), w[v[n], d], (Tensor("v", (3,)), Tensor("W", (4, 2))), ((n, 3), (d, 2)))
    with pytest.raises(ShapeError, match="only an integer tensor can give indices"):
        forward.validate()
    lookup = IndexForward("y", (n,), v[n], (Tensor("v", (3,), integer=True),), ((n, 3),))
    with pytest.raises(ShapeError, match="holds integer indices"):
        lookup.validate()
