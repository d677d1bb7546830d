"""N-D layers inside networks (issues 9 and 10): a small CNN (conv > relu > max-pool > flatten > affine >
softmax cross-entropy) as a chain, a graph and a spec string. It derives with each N-D layer's own derived rule
(its index-level steps reused, nothing written by hand), compiles, and agrees three ways; a textbook NumPy CNN
written here is a fourth, independent side; a convolution whose backward ignores its stride is caught inside the
network; spec keywords (stride=, pad=) parse, and bad ones are refused naming the keyword and what is expected."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import AvgPool2d, Conv2d, Flatten, Input, MaxPool2d, Network, ReLU, SoftmaxCrossEntropy, Tanh
from symgrad.check.points import sample_values
from symgrad.errors import LayerError, ShapeError, SpecError
from symgrad.network import network_from_spec
from symgrad.parse import parse_network_spec

SPEC = ("input(1,4,4) > conv2d(1,2,3,stride=1,pad=1) > relu > max-pool2d(2,2) > flatten > affine(8,3)"
        " > softmax-cross-entropy")


def small_cnn() -> Network:
    layers = [Conv2d(1, 2, 3, pad=1), ReLU(), MaxPool2d(2, 2), Flatten(), symgrad.Affine(2 * 2 * 2, 3)]
    return Network(layers, loss=SoftmaxCrossEntropy(), input_shape=(1, 4, 4))


# -- a textbook CNN, written here (cs231n / DLFS style loops), independent of symgrad's layers -----------------

def _textbook_gradients(v: dict[str, np.ndarray], stride: int = 1, pad: int = 1) -> dict[str, np.ndarray]:
    x, w1, b1, w2, b2, t = v["x"], v["W1"], v["b1"], v["W2"], v["b2"], v["t"]
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    f, _, kh, kw = w1.shape
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    conv = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            conv[:, :, i, j] = np.tensordot(window, w1, ([1, 2, 3], [1, 2, 3])) + b1
    relu = np.maximum(conv, 0.0)
    pooled = relu.reshape(n, f, oh // 2, 2, ow // 2, 2).max(axis=(3, 5))
    flat = pooled.reshape(n, -1)
    scores = flat @ w2 + b2
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dscores = (p - t) / n
    dflat = dscores @ w2.T
    dpooled = dflat.reshape(pooled.shape)
    drelu = np.zeros_like(relu)
    for i in range(oh // 2):
        for j in range(ow // 2):
            block = relu[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(n, f, 4)
            first = np.argmax(block, axis=2)
            mask = np.zeros_like(block)
            np.put_along_axis(mask, first[..., None], 1.0, axis=2)
            routed = (mask * dpooled[:, :, i, j][..., None]).reshape(n, f, 2, 2)
            drelu[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2] += routed
    dconv = drelu * (conv > 0)
    dxp, dw1 = np.zeros_like(xp), np.zeros_like(w1)
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            dw1 += np.tensordot(dconv[:, :, i, j], window, ([0], [0]))
            dxp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += np.tensordot(
                dconv[:, :, i, j], w1, ([1], [0]))
    return {"W1": dw1, "b1": dconv.sum(axis=(0, 2, 3)), "W2": flat.T @ dscores, "b2": dscores.sum(axis=0),
            "x": dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]}


# -- the chain -----------------------------------------------------------------------------------------------

def test_the_cnn_chain_propagates_its_shapes_and_names_its_values() -> None:
    net = small_cnn()
    assert net.params == ("W1", "b1", "W2", "b2")
    assert net.nodes == ("h1", "h2", "h3", "h4", "y")
    assert net.describe() == ("input(1, 4, 4) > conv2d(1, 2, 3, pad=1) > relu > max-pool2d(2, 2) > flatten > "
                              "affine(8, 3) > softmax-cross-entropy")
    assert net.param("W1").shape == (2, 1, 3, 3)
    assert net.sample_shape("x") == (1, 4, 4)


@pytest.mark.parametrize(("seed", "batch"), [(0, 2), (1, 3), (7, 5)])
def test_the_cnn_chain_agrees_three_ways_at_random_points(seed: int, batch: int) -> None:
    report = symgrad.check(small_cnn(), seed=seed, batch=batch)
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["W1", "b1", "W2", "b2", "x"]
    assert report.row("x").shape == (batch, 1, 4, 4)
    assert max(row.rel_error for row in report.rows) < 1e-8
    fast = symgrad.check(small_cnn(), seed=seed, batch=batch, mode="fast")
    assert fast.ok, str(fast)


@pytest.mark.parametrize("seed", [2, 3])
def test_the_compiled_gradient_equals_a_textbook_numpy_cnn_written_here(seed: int) -> None:
    net = small_cnn()
    values = sample_values(net, seed=seed, batch=4)
    values["t"] = np.eye(3)[np.random.default_rng(seed).integers(0, 3, size=4)]
    got = symgrad.derive(net).lambdify()(**values)
    want = _textbook_gradients(values)
    for name in (*net.params, "x"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_each_n_d_step_reuses_the_layers_own_derived_and_proven_rule() -> None:
    d = symgrad.derive(small_cnn())
    assert d.verified
    by_name: dict[str, symgrad.Step] = {}
    for step in d.steps("W1"):  # the sweep's step of each name (the collected forms follow)
        by_name.setdefault(str(step.lhs), step)
    conv = by_name["dE/dW1"]
    assert str(conv.rhs) == "(dconv2d/dW)^T[dE/dh1; x, W1, b1]"
    rules = [sub.rule for sub in conv.substeps]
    assert rules[:3] == ["chain rule, entry by entry", "differentiate each entry", "eliminate the Kronecker deltas"]
    assert rules[3:] == ["einsum", "closed form (the textbook's)"]  # dW: a correlation of x with G
    assert all(sub.verified for sub in conv.substeps)
    dx = next(step for step in d.steps("x") if str(step.lhs) == "dE/dx")
    assert [sub.rule for sub in dx.substeps][3] == "scatter-add (+= for every i, j, u, v)"
    pool = by_name["dE/dh2"]
    assert str(pool.rhs) == "(dmax-pool2d/dx)^T[dE/dh3; h2]"
    assert [sub.rule for sub in pool.substeps][-1].startswith("scatter-add")


def test_the_cnn_exports_its_derivation(tmp_path) -> None:
    d = symgrad.derive(small_cnn())
    for suffix in ("html", "tex", "md", "json"):
        path = tmp_path / f"cnn.{suffix}"
        symgrad.export(d, path)
        text = path.read_text(encoding="utf-8")
        assert "conv2d" in text
    assert "scatter-add" in (tmp_path / "cnn.html").read_text(encoding="utf-8")


# -- a wrong layer backward inside the network --------------------------------------------------------------

class StrideIgnoringConv(Conv2d):
    """A textbook loop convolution whose backward walks the windows at stride 1 (the mistake)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        s, p = self.stride[0], self.pad[0]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        f, _, kh, kw = self.W.shape
        oh, ow = (xp.shape[2] - kh) // s + 1, (xp.shape[3] - kw) // s + 1
        out = np.zeros((x.shape[0], f, oh, ow))
        for i in range(oh):
            for j in range(ow):
                out[:, :, i, j] = np.tensordot(xp[:, :, i * s : i * s + kh, j * s : j * s + kw], self.W,
                                               ([1, 2, 3], [1, 2, 3]))
        return out + self.b[None, :, None, None]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s, p = 1, self.pad[0]  # the mistake: the stride ignored
        xp = np.pad(self.x, ((0, 0), (0, 0), (p, p), (p, p)))
        dxp, self.dW = np.zeros_like(xp), np.zeros_like(self.W)
        _, _, kh, kw = self.W.shape
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                self.dW += np.tensordot(dout[:, :, i, j], xp[:, :, i * s : i * s + kh, j * s : j * s + kw], ([0], [0]))
                dxp[:, :, i * s : i * s + kh, j * s : j * s + kw] += np.tensordot(dout[:, :, i, j], self.W, ([1], [0]))
        self.db = dout.sum(axis=(0, 2, 3))
        return dxp[:, :, p : p + self.x.shape[2], p : p + self.x.shape[3]]


def _strided(conv: Conv2d) -> Network:
    return Network([conv, Tanh(), Flatten(), symgrad.Affine(2 * 3 * 3, 2)], loss=SoftmaxCrossEntropy(),
                   input_shape=(1, 5, 5))


def test_a_convolution_ignoring_its_stride_is_caught_in_the_network_check() -> None:
    right = symgrad.check(_strided(Conv2d(1, 2, 3, stride=2, pad=1)), seed=4, batch=2)
    assert right.ok, str(right)
    wrong = symgrad.check(_strided(StrideIgnoringConv(1, 2, 3, stride=2, pad=1)), seed=4, batch=2)
    assert not wrong.ok
    assert {row.name for row in wrong.failures} == {"W1", "x"}
    assert {row.name for row in wrong.rows if row.passed} == {"b1", "W2", "b2"}
    for row in wrong.failures:  # symbolic and finite differences agree: backward() is the odd one out
        np.testing.assert_allclose(row.symbolic, row.numeric, rtol=1e-6, atol=1e-9)
        assert not np.allclose(row.backward, row.symbolic)
    fast = symgrad.check(_strided(StrideIgnoringConv(1, 2, 3, stride=2, pad=1)), seed=4, batch=2, mode="fast")
    assert not fast.ok


# -- graph networks ------------------------------------------------------------------------------------------

def test_a_graph_with_a_residual_convolution_and_weight_decay_agrees_three_ways() -> None:
    x, t = Input("x", (1, 6, 6)), Input("t", 2)
    conv = Conv2d(1, 1, 3, pad=1)
    h = x + Tanh()(conv(x))
    y = symgrad.Affine(9, 2)(Flatten()(AvgPool2d(2, 2)(h)))
    net = Network(SoftmaxCrossEntropy()(y, t) + 0.01 * symgrad.sum_squares(conv.param("W")))
    assert x.shape == ("N", 1, 6, 6)
    assert h.shape == ("N", 1, 6, 6)
    report = symgrad.check(net, seed=5, batch=3)
    assert report.ok, str(report)
    assert max(row.rel_error for row in report.rows) < 1e-8
    sweep = next(step for step in symgrad.derive(net).steps("x") if str(step.lhs) == "dE/dx")
    assert sweep.rule == "sum over 2 paths (x feeds h1 and h3): multivariable chain rule"


def test_n_d_values_refuse_layers_that_take_rows_and_say_what_to_do() -> None:
    x = Input("x", (2, 4, 4))
    with pytest.raises(ShapeError, match=r"takes rows of features \(N, F\), but its input has N-D samples "
                                         r"\(2, 4, 4\): put Flatten\(\) before it \(it gives 32 features\)"):
        symgrad.Affine(32, 3)(x)
    with pytest.raises(ShapeError, match=r"expects an input \(C, H, W\) with C = 1, got \(2, 4, 4\)"):
        Conv2d(1, 2, 3)(x)
    with pytest.raises(LayerError, match="N-D layer"):  # an embedding's integer input has no place in a network yet
        symgrad.Embedding(5, 2)(Input("i", 3))


# -- spec strings --------------------------------------------------------------------------------------------

def test_spec_keywords_parse_and_the_spec_round_trips() -> None:
    specs = parse_network_spec(SPEC)
    assert specs[0].name == "input"
    assert specs[0].args == (1, 4, 4)
    assert specs[1].args == (1, 2, 3)
    assert specs[1].keywords == (("stride", 1), ("pad", 1))
    net = network_from_spec(SPEC)
    assert net.describe() == small_cnn().describe()
    assert network_from_spec(net.describe()).describe() == net.describe()
    strided = network_from_spec("input(3,8,8) > conv2d(3,4,3,stride=2,pad=1) > avg-pool2d(2,stride=2) > flatten "
                                "> affine(16,2) > softmax-cross-entropy")
    conv, pool = strided.layers[0], strided.layers[1]
    assert (conv.stride, conv.pad, pool.kernel, pool.stride) == ((2, 2), (1, 1), (2, 2), (2, 2))


def test_the_readme_cnn_spec_passes_the_fast_check() -> None:
    report = symgrad.check(network_from_spec(SPEC), mode="fast")
    assert report.ok


def test_a_residual_spec_on_images_is_a_graph_network() -> None:
    net = network_from_spec("input(1,6,6) > conv2d(1,1,3,pad=1) > residual(tanh > conv2d(1,1,3,pad=1)) > "
                            "avg-pool2d(2) > flatten > affine(9,2) > softmax-cross-entropy + weight-decay(0.01)")
    assert net.input_shapes["x"] == ("N", 1, 6, 6)
    assert symgrad.check(net, mode="fast", seed=1).ok


@pytest.mark.parametrize(("text", "error", "words"), [
    ("input(1,4,4) > conv2d(1,2,3,strde=1) > flatten > affine(8,3) > softmax-cross-entropy", SpecError,
     "conv2d at column 16 has no keyword 'strde'; its keywords are stride=n with n a whole number >= 1 "
     "(default 1); pad=n with n a whole number >= 0 (default 0)"),
    ("input(1,4,4) > max-pool2d(2, kernel=2) > flatten > affine(4,3) > softmax-cross-entropy", SpecError,
     "max-pool2d at column 16 has no keyword 'kernel'"),
    ("input(1,4,4) > affine(3,4,stride=2) > softmax-cross-entropy", SpecError,
     "affine at column 16 takes no keyword arguments, got stride=2"),
    ("input(1,4,4) > conv2d(1,2,3,1,stride=1) > flatten > affine(32,3) > softmax-cross-entropy", SpecError,
     "conv2d at column 16 is given stride twice (as argument 4 and as stride=1)"),
    ("input(1,4,4) > conv2d(1,2,3,pad=1,pad=2) > flatten > affine(32,3) > softmax-cross-entropy", SpecError,
     "keyword 'pad' is given twice in 'conv2d'"),
    ("input(1,4,4) > conv2d(1,2,3,pad=1,4) > flatten > affine(32,3) > softmax-cross-entropy", SpecError,
     "positional arguments come first"),
    ("input(1,4,4) > conv2d(1,2,3,pad=-1) > flatten > affine(8,3) > softmax-cross-entropy", SpecError,
     "keyword 'pad' of layer 'conv2d' must not be negative (got -1)"),
    ("input(1,4,4) > conv2d(1,2,3,stride=0) > flatten > affine(8,3) > softmax-cross-entropy", ShapeError,
     "conv2d at column 16: Conv2d stride must be an integer >= 1"),
    ("input(1,4,4) > conv2d(1,2) > flatten > affine(8,3) > softmax-cross-entropy", SpecError,
     "conv2d at column 16 takes conv2d(in_channels, out_channels, kernel, stride=..., pad=...); got 2"),
    ("conv2d(1,2,3,pad=1) > flatten > affine(32,3) > softmax-cross-entropy", ShapeError,
     "give one sample's shape as Network(..., input_shape=(C, H, W)), or input(C, H, W) first in a spec"),
    ("input(1,4,4) > conv2d(1,2,3,pad=1) > flatten > affine(31,3) > softmax-cross-entropy", ShapeError,
     "layer 3, Affine(31, 3), expects 31 input features, but its input has 32 (the Flatten before it makes "
     "each sample (2, 4, 4) into 2*4*4 = 32 features)"),
    ("input(1,4,4) > conv2d(1,2,3,pad=1) > affine(32,3) > softmax-cross-entropy", ShapeError,
     "put Flatten() before it (it gives 32 features)"),
    ("input(1,4,4) > conv2d(1,2,3) > softmax-cross-entropy", ShapeError,
     "the network's output has N-D samples (2, 2, 2), but a loss takes rows (N, M)"),
    ("input(1,2,2) > conv2d(1,2,3) > flatten > affine(8,3) > softmax-cross-entropy", ShapeError,
     "layer 1, Conv2d(1, 2, 3), a 3x3 window does not fit a 2x2 input padded by (0, 0)"),
    ("conv2d(1,2,3) > input(1,4,4) > flatten > affine(8,3) > softmax-cross-entropy", SpecError,
     "input(...) at column 17 may only come first"),
    ("input > conv2d(1,2,3) > flatten > affine(8,3) > softmax-cross-entropy", SpecError,
     "input(...) at column 1 takes one sample's shape"),
])
def test_bad_spec_keywords_and_shapes_are_refused_with_what_is_expected(text: str, error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        network_from_spec(text)
    assert words in str(caught.value)


def test_input_shape_is_checked() -> None:
    with pytest.raises(ShapeError, match=r"input_shape must be one sample's shape"):
        Network([Conv2d(1, 1, 1), Flatten(), symgrad.Affine(1, 1)], loss=SoftmaxCrossEntropy(), input_shape=(1, 0))
    with pytest.raises(ShapeError, match="tuple of them"):
        Input("x", (1, -2))
