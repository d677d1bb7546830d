"""Conv2d, MaxPool2d, AvgPool2d and Flatten references: backward against check_layer (strides,
padding, overlapping windows), forward against explicit loops."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.errors import DTypeError, ShapeError
from symgrad.layers.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d, col2im, im2col

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def conv_by_loops(x, W, b, stride, pad):
    """out[n, f, i, j] = sum_{c,a,b} W[f, c, a, b] xpad[n, c, i*sh + a, j*sw + b] + b[f], one entry at a time."""
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.zeros((n, x.shape[1], h + 2 * pad[0], w + 2 * pad[1]))
    xp[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    oh, ow = (h + 2 * pad[0] - kh) // stride[0] + 1, (w + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for s in range(n):
        for k in range(f):
            for i in range(oh):
                for j in range(ow):
                    window = xp[s, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
                    out[s, k, i, j] = np.sum(window * W[k]) + b[k]
    return out


def pool_by_loops(x, kernel, stride, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride[0] : i * stride[0] + kernel[0], j * stride[1] : j * stride[1] + kernel[1]]
            out[:, :, i, j] = reduce(window.reshape(n, c, -1), axis=2)
    return out


CONV_CASES = [  # (in, out, kernel, stride, pad, x shape)
    (2, 3, 3, 1, 0, (2, 2, 5, 5)),
    (2, 3, 3, 2, 1, (2, 2, 5, 5)),
    (1, 2, (2, 3), (2, 1), (1, 0), (3, 1, 5, 6)),
    (3, 2, 3, 2, 0, (2, 3, 6, 6)),  # the stride does not reach the last row and column
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("cin", "cout", "kernel", "stride", "pad", "shape"), CONV_CASES)
def test_conv_backward_agrees_with_finite_differences(seed, cin, cout, kernel, stride, pad, shape):
    rng = np.random.default_rng(seed)
    layer = Conv2d(cin, cout, kernel, stride, pad)
    layer.set_params({role: away(rng, shape_) for role, shape_ in layer.param_shapes(None).items()})
    report = symgrad.check_layer(layer, x=away(rng, shape), params=["W", "b"], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x", "W", "b"]


@pytest.mark.parametrize(("cin", "cout", "kernel", "stride", "pad", "shape"), CONV_CASES)
def test_conv_forward_is_the_loop_convolution(cin, cout, kernel, stride, pad, shape):
    rng = np.random.default_rng(3)
    layer = Conv2d(cin, cout, kernel, stride, pad)
    W, b = away(rng, layer.param_shapes(None)["W"]), away(rng, (cout,))
    layer.set_params({"W": W, "b": b})
    x = away(rng, shape)
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv_by_loops(x, W, b, layer.stride, layer.pad), rtol=1e-12)
    assert out.shape[1:] == layer.output_shape(shape[1:])


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> = <x, col2im(c)> for any x and c: the backward of a read is a scatter-add."""
    rng = np.random.default_rng(4)
    x = away(rng, (2, 3, 5, 4))
    cols = im2col(x, (3, 2), (1, 2), (1, 1))
    c = away(rng, cols.shape)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * col2im(c, x.shape, (3, 2), (1, 2), (1, 1))), rel=1e-12)


POOL_CASES = [  # (kernel, stride, x shape): non-overlapping, overlapping, unreached rows, rectangular
    (2, 2, (2, 3, 4, 4)),
    (3, 1, (2, 2, 5, 5)),
    (2, 3, (1, 2, 7, 6)),
    ((2, 3), (1, 2), (2, 1, 4, 7)),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("kernel", "stride", "shape"), POOL_CASES)
@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
def test_pool_backward_agrees_with_finite_differences(seed, pool, kernel, stride, shape):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.linspace(-2.0, 2.0, int(np.prod(shape)))).reshape(shape)  # distinct: no ties
    report = symgrad.check_layer(pool(kernel, stride), x=x, params=[], seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
def test_padded_pool_backward_agrees_with_finite_differences(seed, pool):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.linspace(0.5, 2.5, 2 * 2 * 5 * 5)).reshape(2, 2, 5, 5)
    report = symgrad.check_layer(pool(3, 2, pad=1), x=x, params=[], seed=seed)
    assert report.ok, report


@pytest.mark.parametrize(("kernel", "stride", "shape"), POOL_CASES)
def test_pool_forwards_are_the_loop_max_and_mean(kernel, stride, shape):
    rng = np.random.default_rng(5)
    x = away(rng, shape)
    for pool, reduce in ((MaxPool2d, np.max), (AvgPool2d, np.mean)):
        layer = pool(kernel, stride)
        expected = pool_by_loops(x, layer.kernel, layer.stride, reduce)
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
        assert expected.shape[1:] == layer.output_shape(shape[1:])


def test_max_pool_routes_each_gradient_to_its_window_maximum_and_adds_where_windows_overlap():
    x = np.array([[[[1.0, 2.0, 0.0], [0.5, 9.0, 3.0], [4.0, 0.2, 0.1]]]])
    layer = MaxPool2d(2, 1)  # every window holds the 9
    layer.forward(x)
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 0.0]]]])


def test_stride_defaults_to_the_kernel():
    assert MaxPool2d(2).stride == (2, 2)
    assert repr(AvgPool2d(3, 1)) == "AvgPool2d(3, 1)"
    assert repr(Conv2d(3, 16, 3, pad=1)) == "Conv2d(3, 16, 3, pad=1)"


@pytest.mark.parametrize("seed", SEEDS)
def test_flatten_backward_agrees_with_finite_differences(seed):
    rng = np.random.default_rng(seed)
    layer = Flatten()
    x = away(rng, (2, 3, 2, 2))
    assert layer.forward(x).shape == (2, 12)
    np.testing.assert_array_equal(layer.forward(x)[1], x[1].ravel())
    assert layer.output_shape((3, 2, 2)) == (12,)
    np.testing.assert_array_equal(layer.forward(x[:, :, 0, 0]), x[:, :, 0, 0])  # (N, D) is flat already
    assert symgrad.check_layer(layer, x=x, params=[], seed=seed).ok


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: Conv2d(0, 2, 3), ShapeError, "Conv2d in_channels must be a positive integer, got 0"),
        (lambda: Conv2d(1, 2, 3, stride=0), ShapeError, "Conv2d stride must be an integer >= 1"),
        (lambda: Conv2d(1, 2, 3, pad=-1), ShapeError, "Conv2d pad must be an integer >= 0"),
        (lambda: Conv2d(1, 2, (3, 3, 3)), ShapeError, "Conv2d kernel must be an integer >= 1 or a pair"),
        (lambda: MaxPool2d(0), ShapeError, "MaxPool2d kernel must be an integer >= 1"),
        (lambda: AvgPool2d(2, 1.5), ShapeError, "AvgPool2d stride must be an integer >= 1"),
        (lambda: Conv2d(2, 2, 3).forward(np.zeros((1, 3, 5, 5))), ShapeError, "with C = 2, got (3, 5, 5)"),
        (lambda: Conv2d(1, 2, 3).forward(np.zeros((1, 5, 5))), ShapeError, "expects x of shape (N, C, H, W)"),
        (lambda: Conv2d(1, 2, 3).forward(np.zeros((1, 1, 2, 5))), ShapeError, "window does not fit a 2x5 input"),
        (lambda: MaxPool2d(2).forward(np.zeros((1, 1, 4, 4), dtype=int)), DTypeError, "as a float array"),
        (lambda: Conv2d(1, 2, 3).output_features(4), ShapeError, "use output_shape((C, H, W))"),
        (lambda: Flatten().forward(np.zeros(3)), ShapeError, "at least 2 dimensions"),
    ],
)
def test_bad_arguments_raise_symgrad_errors(make, error, words):
    with pytest.raises(error) as caught:
        make()
    assert words in str(caught.value)
