"""A catalog of layers in the article's protocol (Deep Learning from Scratch style), right and wrong.

Each wrong layer carries one mistake that people really make in a hand-written
backward pass, the spec to check it against, the gradient row that must fail
and a keyword the failing row's diagnosis (or message) must contain. The right
layers are written the way the book writes them, traps included: ``Relu``
writes into ``dout`` in place and ``SoftmaxWithLoss`` ignores ``dout`` (both
give right gradients, so the check notes them without failing).

Tests load this module by its path (there is no package under tests/); other
test files may do the same::

    spec = importlib.util.spec_from_file_location("wrong_layers", path)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import symgrad

# -- helpers, as in the book's common/functions.py and common/util.py ------------------------------


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]


# -- right layers --------------------------------------------------------------------------------


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0  # in place, as in the book: right gradient, noted by the check
        dx = dout
        return dx


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        out = sigmoid(x)
        self.out = out
        return out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Tanh:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out**2)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        return (self.y - self.t) / batch_size  # ignores dout, as in the book: noted by the check


class SquaredErrorLoss:
    """E = sum((y - t)**2) / 2, the article's loss."""

    def __init__(self):
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.y, self.t = x, t
        return 0.5 * np.sum((x - t) ** 2)

    def backward(self, dout=1):
        return dout * (self.y - self.t)


class MeanSquaredErrorLoss:
    def __init__(self):
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.y, self.t = x, t
        return np.mean((x - t) ** 2)

    def backward(self, dout=1):
        return dout * 2 * (self.y - self.t) / self.y.size


class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc**2, axis=0)
        std = np.sqrt(var + 10e-7)
        xn = xc / std
        self.batch_size = x.shape[0]
        self.xc = xc
        self.xn = xn
        self.std = std
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * xn + self.beta

    def backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = self.dgamma_of(dout)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx

    def dgamma_of(self, dout):
        return np.sum(self.xn * dout, axis=0)


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        FN, _, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x = x
        self.remember(col)
        self.col_W = col_W
        return out

    def remember(self, col):
        self.col = col

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout)
        self.dW = self.dW.transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        self.x = x
        self.arg_max = arg_max
        return out

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = self.route(dout, pool_size)
        dmax = dmax.reshape((*dout.shape, pool_size))
        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)

    def route(self, dout, pool_size):
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        return dmax


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


# -- wrong layers: one mistake each -------------------------------------------------------------------


class ArticleAffine(Affine):
    """The article's backward as printed: both transposes missing."""

    def backward(self, dout):
        dx = np.dot(dout, self.W)  # A
        self.dW = np.dot(self.x, dout)  # B
        self.db = np.sum(dout, axis=0)
        return dx


class AffineDxNoTranspose(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class AffineDWNoTranspose(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class AffineDWSwapped(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(dout.T, self.x)
        self.db = np.sum(dout, axis=0)
        return dx


class AffineDbAxis1(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=1)
        return dx


class AffineDbNoSum(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = dout
        return dx


class AffineDbMean(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.mean(dout, axis=0)
        return dx


class AffineDxSign(Affine):
    def backward(self, dout):
        dx = -np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class AffineStaleCache(Affine):
    def forward(self, x):
        if self.x is None:  # caches the first input only
            self.x = x
        return np.dot(x, self.W) + self.b


class AffineDWNotStored(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.db = np.sum(dout, axis=0)
        return dx


class AffineReturnsDW(Affine):
    def backward(self, dout):
        super().backward(dout)
        return self.dW  # meant dx


class AffineDWOnes(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, np.ones_like(dout))
        self.db = np.sum(dout, axis=0)
        return dx


class SigmoidUsesX(Sigmoid):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, dout):
        return dout * (1.0 - self.x) * self.x


class SigmoidIgnoresDout(Sigmoid):
    def backward(self, dout):
        return (1.0 - self.out) * self.out


class SigmoidInPlace(Sigmoid):
    def backward(self, dout):
        dout *= self.out  # writes into dout, then uses it again
        return dout * (1.0 - self.out) * self.out


class SigmoidStale(Sigmoid):
    def forward(self, x):
        out = sigmoid(x)
        if self.out is None:
            self.out = out
        return out


class TanhUsesX(Tanh):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, dout):
        return dout * (1.0 - self.x**2)


class ReluInvertedMask(Relu):
    def backward(self, dout):
        return dout * self.mask


class SoftmaxWithLossNoN(SoftmaxWithLoss):
    def backward(self, dout=1):
        return self.y - self.t


class SquaredErrorTwice(SquaredErrorLoss):
    def backward(self, dout=1):
        return dout * 2 * (self.y - self.t)


class MeanSquaredErrorNoTwo(MeanSquaredErrorLoss):
    def backward(self, dout=1):
        return dout * (self.y - self.t) / self.y.size


class BatchNormDgammaNoSum(BatchNormalization):
    def dgamma_of(self, dout):
        return self.xn * dout


class BatchNormDgammaSign(BatchNormalization):
    def dgamma_of(self, dout):
        return -np.sum(self.xn * dout, axis=0)


class ConvolutionStale(Convolution):
    def remember(self, col):
        if self.col is None:
            self.col = col


class PoolingSpread(Pooling):
    def route(self, dout, pool_size):
        return np.repeat(dout.reshape(-1, 1), pool_size, axis=1)  # every window element gets dout


def affine_backward_no_transpose(dout, cache):
    x, w, _ = cache
    return dout.dot(w), x.T.dot(dout), np.sum(dout, axis=0)


# -- the catalog -----------------------------------------------------------------------------------


#: ``make(rng) -> (layer, keyword arguments of check_layer)``
Make = Callable[[np.random.Generator], tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    """A layer to check: ``make(rng)`` gives ``(layer, keyword arguments of check_layer)``.

    For a wrong layer, ``row`` is the gradient row that must fail and ``keyword``
    a phrase its diagnosis or message must contain (None: it must fail, no
    usual mistake need match), found in the diagnosis or, when not
    ``diagnosed``, in the message. For a right layer, ``notes`` are phrases of
    the notes it must get, ``may_note`` of those it may get; no others.
    """

    name: str
    make: Make = field(repr=False)
    row: str = ""
    keyword: str | None = None
    notes: tuple[str, ...] = ()
    may_note: tuple[str, ...] = ()
    diagnosed: bool = True


def _affine(cls: type, n: int = 4, d: int = 3, m: int = 2) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        layer = cls(rng.standard_normal((d, m)) / np.sqrt(d), 0.5 * rng.standard_normal(m))
        return layer, {"spec": symgrad.Affine(d, m), "x": rng.standard_normal((n, d))}

    return make


def _activation(cls: type, spec: Any) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        return cls(), {"spec": spec, "x": rng.standard_normal((4, 3))}

    return make


def _loss(cls: type, spec: Any, *, one_hot: bool = False, **extra: Any) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        x = rng.standard_normal((4, 3))
        t = np.eye(3)[rng.integers(0, 3, size=4)] if one_hot else rng.standard_normal((4, 3))
        return cls(), {"spec": spec, "x": x, "t": t, **extra}

    return make


def _batchnorm(cls: type) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        layer = cls(1.0 + 0.5 * rng.standard_normal(3), 0.5 * rng.standard_normal(3))
        return layer, {"x": rng.standard_normal((4, 3))}

    return make


def _convolution(cls: type) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        layer = cls(0.5 * rng.standard_normal((2, 1, 2, 2)), 0.5 * rng.standard_normal(2))
        return layer, {"x": rng.standard_normal((2, 1, 4, 4))}

    return make


def _pooling(cls: type) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        return cls(2, 2, stride=2), {"x": rng.standard_normal((2, 2, 4, 4))}

    return make


def _pair(backward: Callable[..., Any], n: int = 4, d: int = 3, m: int = 2) -> Make:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        params = {"w": rng.standard_normal((d, m)) / np.sqrt(d), "b": 0.5 * rng.standard_normal(m)}
        x = rng.standard_normal((n, d))
        return (affine_forward, backward), {"spec": symgrad.Affine(d, m), "x": x, "params": params}

    return make


def _relu_pair(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    return (relu_forward, relu_backward), {"spec": symgrad.ReLU(), "x": rng.standard_normal((4, 3))}


SIGMOID, TANH, RELU = symgrad.Sigmoid(), symgrad.Tanh(), symgrad.ReLU()
SOFTMAX, HALF_SQUARED = symgrad.SoftmaxCrossEntropy(), symgrad.HalfSquaredError()
MEAN_SQUARED = symgrad.MeanSquaredError()
IN_PLACE = "wrote into its dout argument in place"
IGNORES_DOUT = "ignores dout"

RIGHT: tuple[Case, ...] = (
    Case("Affine", _affine(Affine)),
    Case("Affine, square", _affine(Affine, 3, 3, 3)),
    Case("Relu", _activation(Relu, RELU), notes=(IN_PLACE,)),
    Case("Sigmoid", _activation(Sigmoid, SIGMOID)),
    Case("Tanh", _activation(Tanh, TANH)),
    Case(
        "SoftmaxWithLoss",
        _loss(SoftmaxWithLoss, SOFTMAX, one_hot=True),
        notes=(IGNORES_DOUT,),
        may_note=("slightly different function",),  # the book's cross_entropy_error adds 1e-7 inside its log
    ),
    Case("SquaredErrorLoss", _loss(SquaredErrorLoss, HALF_SQUARED)),
    Case("MeanSquaredErrorLoss", _loss(MeanSquaredErrorLoss, MEAN_SQUARED)),
    Case("BatchNormalization, no spec", _batchnorm(BatchNormalization)),
    Case("Convolution, no spec", _convolution(Convolution)),
    Case("Pooling, no spec", _pooling(Pooling)),
    Case("affine pair", _pair(affine_backward)),
    Case("relu pair", _relu_pair),
)

WRONG: tuple[Case, ...] = (
    Case("article Affine, non-square: raises", _affine(ArticleAffine), "x", "missing transpose"),
    Case("article Affine, square", _affine(ArticleAffine, 3, 3, 3), "W", "missing transpose: dW = x @ dout"),
    Case("dx without transpose", _affine(AffineDxNoTranspose, 4, 3, 3), "x", "missing transpose: dx = dout @ W;"),
    Case("dW without transpose", _affine(AffineDWNoTranspose, 3, 3, 2), "W", "missing transpose: dW = x @ dout"),
    Case("dW operands swapped", _affine(AffineDWSwapped), "W", "swapped operands"),
    Case("db summed over axis=1", _affine(AffineDbAxis1), "b", "wrong axis: db = dout.sum(axis=1)"),
    Case("db not summed", _affine(AffineDbNoSum), "b", "no sum over the batch: db = dout;"),
    Case("db a mean", _affine(AffineDbMean), "b", "extra 1/N"),
    Case("dx sign flipped", _affine(AffineDxSign), "x", "flipped sign"),
    Case("stale cache", _affine(AffineStaleCache), "W", "stale cache"),
    Case("dW not stored", _affine(AffineDWNotStored), "W", "is None", diagnosed=False),
    Case("returns dW for dx", _affine(AffineReturnsDW), "x", "has shape (3, 2)", diagnosed=False),
    Case("dW ignores dout", _affine(AffineDWOnes), "W", "dout ignored"),
    Case("sigmoid with x for out", _activation(SigmoidUsesX, SIGMOID), "x", "input x where it needs the output"),
    Case("sigmoid ignores dout", _activation(SigmoidIgnoresDout, SIGMOID), "x", "dout ignored"),
    Case("sigmoid writes dout, then reuses it", _activation(SigmoidInPlace, SIGMOID), "x", "dout written in place"),
    Case("sigmoid stale cache", _activation(SigmoidStale, SIGMOID), "x", "stale cache"),
    Case("tanh with x for out", _activation(TanhUsesX, TANH), "x", "dx = dout * (1 - x**2)"),
    Case("relu inverted mask", _activation(ReluInvertedMask, RELU), "x", "inverted ReLU mask: dx = dout * (x <= 0)"),
    Case("softmax loss without 1/N", _loss(SoftmaxWithLossNoN, SOFTMAX, one_hot=True), "x", "missing 1/N"),
    Case(
        "softmax loss ignores a scaled dout",
        _loss(SoftmaxWithLoss, SOFTMAX, one_hot=True, dout=3.0),
        "x",
        "dout ignored",
    ),
    Case("squared error with an extra 2", _loss(SquaredErrorTwice, HALF_SQUARED), "x", "extra factor of 2"),
    Case("mean squared error without 2", _loss(MeanSquaredErrorNoTwo, MEAN_SQUARED), "x", "missing factor of 2"),
    Case("batch norm dgamma not summed", _batchnorm(BatchNormDgammaNoSum), "gamma", "no sum over the batch"),
    Case("batch norm dgamma sign", _batchnorm(BatchNormDgammaSign), "gamma", "flipped sign"),
    Case("convolution stale cache", _convolution(ConvolutionStale), "W", "stale cache"),
    Case("pooling spreads dout over the window", _pooling(PoolingSpread), "x", None),
    Case("affine pair without transpose", _pair(affine_backward_no_transpose, 4, 3, 3), "x", "missing transpose"),
)
