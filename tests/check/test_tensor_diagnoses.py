"""N-D layers as check_layer specs, and the usual mistakes of their textbook backward named (issue 10, part 3).

Each test writes a layer as DLFS or cs231n does, injects one mistake, and checks that the report names it
with the formula expected."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad


class Embedding:
    """DLFS2's Embedding (params/grads lists); ``assign=True`` writes ``dW[idx] = dout`` (the mistake)."""

    def __init__(self, W, assign=False):
        self.params, self.grads, self.idx, self.assign = [W], [np.zeros_like(W)], None, assign

    def forward(self, idx):
        (W,) = self.params
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        (dW,) = self.grads
        dW[...] = 0
        if self.assign:
            dW[self.idx] = dout
        else:
            np.add.at(dW, self.idx, dout)


def max_pool_forward_naive(x, pool_param):
    k, s = pool_param["pool_height"], pool_param["stride"]
    n, c, h, w = x.shape
    oh, ow = 1 + (h - k) // s, 1 + (w - k) // s
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s : i * s + k, j * s : j * s + k].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache, *, ties=False, assign=False):
    """cs231n's loop; ``ties`` sends dout to every maximum, ``assign`` uses = for overlapping windows."""
    x, pool_param = cache
    k, s = pool_param["pool_height"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s : i * s + k, j * s : j * s + k]
                    mask = np.zeros_like(window)
                    if ties:
                        mask = (window == window.max()).astype(float)
                    else:
                        mask[np.unravel_index(np.argmax(window), window.shape)] = 1.0
                    if assign:
                        dx[n, c, i * s : i * s + k, j * s : j * s + k] = mask * dout[n, c, i, j]
                    else:
                        dx[n, c, i * s : i * s + k, j * s : j * s + k] += mask * dout[n, c, i, j]
    return dx


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    f, _, hh, ww = w.shape
    oh, ow = 1 + (x.shape[2] + 2 * p - hh) // s, 1 + (x.shape[3] + 2 * p - ww) // s
    out = np.zeros((x.shape[0], f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.tensordot(xp[:, :, i * s : i * s + hh, j * s : j * s + ww], w, ([1, 2, 3], [1, 2, 3]))
    return out + b[None, :, None, None], (x, w, b, conv_param)


def conv_backward_naive(dout, cache, *, stride=None, crop_at_zero=False):
    """cs231n's loop; ``stride`` overrides the stride (the mistake of ignoring it), ``crop_at_zero`` cuts the
    padded gradient at [0:H] instead of [pad:pad+H] (the padding ignored)."""
    x, w, _b, conv_param = cache
    s, p = conv_param["stride"] if stride is None else stride, conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    _, _, hh, ww = w.shape
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * s : i * s + hh, j * s : j * s + ww]
            dw += np.tensordot(dout[:, :, i, j], window, ([0], [0]))
            dxp[:, :, i * s : i * s + hh, j * s : j * s + ww] += np.tensordot(dout[:, :, i, j], w, ([1], [0]))
    h, wd = x.shape[2:]
    dx = dxp[:, :, :h, :wd] if crop_at_zero else dxp[:, :, p : p + h, p : p + wd]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _diagnoses(report) -> str:
    return "\n".join(line for line in str(report).splitlines() if "diagnosis" in line)


@pytest.mark.parametrize("seed", [0, 1])
def test_textbook_conv_passes_against_the_derived_spec(seed) -> None:
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    report = symgrad.check_layer((conv_forward_naive, conv_backward_naive), symgrad.Conv2d(3, 4, 3, stride=2, pad=1),
                                 x=x, params={"w": w, "b": b, "conv_param": {"stride": 2, "pad": 1}})
    assert report.ok, report


def test_embedding_written_with_assignment_is_named() -> None:
    rng = np.random.default_rng(2)
    W = rng.normal(size=(6, 3))
    idx = np.array([[1, 4, 1], [0, 1, 5]])
    good = symgrad.check_layer(Embedding(W.copy()), symgrad.Embedding(6, 3), x=idx)
    assert good.ok, good
    bad = symgrad.check_layer(Embedding(W.copy(), assign=True), symgrad.Embedding(6, 3), x=idx)
    assert not bad.ok
    text = _diagnoses(bad)
    assert "repeated indices lost" in text
    assert "np.add.at" in text
    assert "dW[idx[n, t], q] += dout[n, t, q]" in text  # the expected formula


def test_max_pooling_to_every_tied_maximum_is_named() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 2, 4, 4)).astype(float) + 0.5  # small integers: windows tie often
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    right = symgrad.check_layer((max_pool_forward_naive, max_pool_backward_naive), symgrad.MaxPool2d(2, 2), x=x,
                                params={"pool_param": param})
    assert right.ok, right  # the first maximum: a subgradient at every tie, alone and together
    wrong = symgrad.check_layer((max_pool_forward_naive, lambda d, c: max_pool_backward_naive(d, c, ties=True)),
                                symgrad.MaxPool2d(2, 2), x=x, params={"pool_param": param})
    assert not wrong.ok
    assert "every tied maximum" in _diagnoses(wrong)


def test_overlapping_pooling_windows_assigned_with_equals_are_named() -> None:
    x = np.random.default_rng(4).normal(size=(2, 2, 5, 5))
    param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    right = symgrad.check_layer((max_pool_forward_naive, max_pool_backward_naive), symgrad.MaxPool2d(2, 1), x=x,
                                params={"pool_param": param})
    assert right.ok, right
    wrong = symgrad.check_layer((max_pool_forward_naive, lambda d, c: max_pool_backward_naive(d, c, assign=True)),
                                symgrad.MaxPool2d(2, 1), x=x, params={"pool_param": param})
    assert not wrong.ok
    text = _diagnoses(wrong)
    assert "overlapping windows assigned with = instead of +=" in text
    assert "dx[p, q, i + u, j + v] +=" in text


def test_convolution_ignoring_its_stride_is_named_for_dx_and_dw() -> None:
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    wrong = symgrad.check_layer((conv_forward_naive, lambda d, c: conv_backward_naive(d, c, stride=1)),
                                symgrad.Conv2d(3, 4, 3, stride=2, pad=1), x=x,
                                params={"w": w, "b": b, "conv_param": {"stride": 2, "pad": 1}})
    text = _diagnoses(wrong)
    assert text.count("the stride ignored") == 2
    assert "expected dx: dx[p, q, 2*i + u - 1, 2*j + v - 1] +=" in text


def test_convolution_ignoring_its_padding_is_named() -> None:
    rng = np.random.default_rng(6)
    x, w, b = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    wrong = symgrad.check_layer((conv_forward_naive, lambda d, c: conv_backward_naive(d, c, crop_at_zero=True)),
                                symgrad.Conv2d(2, 3, 3, pad=1), x=x,
                                params={"w": w, "b": b, "conv_param": {"stride": 1, "pad": 1}})
    text = _diagnoses(wrong)
    assert "the padding ignored" in text
    assert "dx[p, q, i + u, j + v] +=" in text


@pytest.mark.parametrize(("make", "shape"), [
    (lambda: symgrad.Conv2d(2, 3, 3, stride=2, pad=1), (2, 2, 6, 5)),
    (lambda: symgrad.Conv2d(2, 2, (2, 3)), (2, 2, 4, 5)),
    (lambda: symgrad.MaxPool2d(2, 1), (2, 2, 4, 4)),
    (lambda: symgrad.AvgPool2d(3, 2), (2, 2, 7, 5)),
    (lambda: symgrad.Flatten(), (2, 3, 2, 2)),
], ids=["conv-stride-pad", "conv-rect", "max-overlap", "avg", "flatten"])
def test_the_textbook_layers_agree_three_ways_with_their_derived_rules(make, shape) -> None:
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        layer = make()
        layer.set_params({role: rng.normal(size=s) for role, s in layer.param_shapes(None).items()})
        report = symgrad.check_layer(layer, make(), x=rng.normal(size=shape), seed=seed)
        assert report.ok, report
        assert all(row.status == "ok" for row in report.rows), report


def test_the_textbook_embedding_agrees_with_its_derived_rule_for_both_index_ranks() -> None:
    rng = np.random.default_rng(8)
    for idx in (np.array([2, 0, 2, 4]), np.array([[1, 1], [3, 0]])):
        layer = symgrad.Embedding(5, 3)
        layer.set_params({"W": rng.normal(size=(5, 3))})
        report = symgrad.check_layer(layer, symgrad.Embedding(5, 3), x=idx)
        assert report.ok, report
        assert [row.name for row in report.rows] == ["W"]
