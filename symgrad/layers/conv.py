"""Convolution and pooling textbook references (NCHW): Conv2d, MaxPool2d, AvgPool2d, Flatten.

The NumPy reference side (the article's protocol) of layers whose
index-notation forward comes with the derivation engine; exported from this
module only for now (not from ``symgrad``, the spec catalogue nor ``symgrad
--help``). Convolution and pooling go through :func:`im2col` / :func:`col2im`, as
DLFS does: im2col reads every window of the padded input into a row, so the
convolution is one matrix product; col2im is its adjoint, adding each window's
gradient back where the window was read (``+=``: windows overlap when the stride
is smaller than the kernel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.arguments import check_ndim, pair, positive_int
from symgrad.layers.base import Layer
from symgrad.layers.tensorforms import conv_forward, flatten_forward, pool_forward

if TYPE_CHECKING:
    from symgrad.index.ir import IndexForward

__all__ = ["AvgPool2d", "Conv2d", "Flatten", "MaxPool2d", "col2im", "im2col", "output_size"]


def output_size(owner: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                pad: tuple[int, int]) -> tuple[int, int]:
    """(OH, OW) = (H + 2 pad - KH) // stride + 1, ...; a ShapeError when the window does not fit.

    Examples
    --------
    >>> output_size("Conv2d", (32, 32), (3, 3), (1, 1), (1, 1))
    (32, 32)
    >>> output_size("Conv2d", (2, 2), (3, 3), (1, 1), (0, 0))
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: Conv2d: a 3x3 window does not fit a 2x2 input padded by (0, 0)
    """
    high, wide = (size[axis] + 2 * pad[axis] - kernel[axis] for axis in (0, 1))
    if high < 0 or wide < 0:
        msg = (f"{owner}: a {kernel[0]}x{kernel[1]} window does not fit a {size[0]}x{size[1]} input "
               f"padded by {pad}")
        raise ShapeError(msg)
    return high // stride[0] + 1, wide // stride[1] + 1


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    """Every window of the padded x (N, C, H, W), as rows (N*OH*OW, C*KH*KW).

    Row ``(n, i, j)`` holds the window whose top-left corner is at ``(i*stride,
    j*stride)`` of the padded image, channel-major.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, (2, 2), (1, 1), (0, 0))
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    n, c, h, w = x.shape
    out_h, out_w = output_size("im2col", (h, w), kernel, stride, pad)
    padded = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    cols = np.zeros((n, c, kernel[0], kernel[1], out_h, out_w), dtype=x.dtype)
    for i in range(kernel[0]):  # one strided slice per kernel offset, not one per window
        rows = slice(i, i + stride[0] * out_h, stride[0])
        for j in range(kernel[1]):
            cols[:, :, i, j] = padded[:, :, rows, j : j + stride[1] * out_w : stride[1]]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(cols: np.ndarray, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
           pad: tuple[int, int]) -> np.ndarray:
    """The adjoint of :func:`im2col`: each row added back into the window it was read from.

    Overlapping windows add up (``+=``), and the padding is cut off.

    Examples
    --------
    >>> col2im(np.ones((4, 4)), (1, 1, 3, 3), (2, 2), (1, 1), (0, 0))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    n, c, h, w = shape
    out_h, out_w = output_size("col2im", (h, w), kernel, stride, pad)
    windows = cols.reshape(n, out_h, out_w, c, kernel[0], kernel[1]).transpose(0, 3, 4, 5, 1, 2)
    padded = np.zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]), dtype=cols.dtype)
    for i in range(kernel[0]):
        rows = slice(i, i + stride[0] * out_h, stride[0])
        for j in range(kernel[1]):
            padded[:, :, rows, j : j + stride[1] * out_w : stride[1]] += windows[:, :, i, j]
    return padded[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w]


class _Spatial(Layer):
    """A layer on NCHW images: its output has no single feature count."""

    @property
    def batched(self) -> bool:
        return True

    def output_features(self, in_features: int | None) -> int | None:
        msg = (f"{type(self).__name__} works on images (N, C, H, W), not on a number of features: "
               "use output_shape((C, H, W))")
        raise ShapeError(msg)

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """The per-sample output shape for a per-sample input shape (C, H, W)."""
        raise NotImplementedError


class Conv2d(_Spatial):
    """A 2-D convolution (cross-correlation, as every curriculum computes it), NCHW.

    ``out[n, f, i, j] = sum_{c, a, b} W[f, c, a, b] * xpad[n, c, i*stride + a, j*stride + b] + b[f]``
    with W (out_channels, in_channels, KH, KW) and b (out_channels,). ``kernel``,
    ``stride`` and ``pad`` are an int or a (height, width) pair; the output is
    (N, out_channels, OH, OW) with OH = (H + 2 pad - KH) // stride + 1 (rows the
    stride does not reach are not read, and get a zero gradient).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Conv2d(1, 1, 2)
    >>> layer.set_params({"W": np.ones((1, 1, 2, 2)), "b": np.zeros(1)})
    >>> layer.forward(np.arange(9.0).reshape(1, 1, 3, 3))
    array([[[[ 8., 12.],
             [20., 24.]]]])
    >>> layer.backward(np.ones((1, 1, 2, 2)))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> layer.db
    array([4.])
    >>> Conv2d(3, 16, 3, pad=1).output_shape((3, 32, 32))
    (16, 32, 32)
    """

    kind = "conv2d"
    roles = ("W", "b")

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int], stride: Any = 1,
                 pad: Any = 0, *, name: str | None = None) -> None:
        super().__init__(name)
        self.in_channels = positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = positive_int("Conv2d", "out_channels", out_channels)
        self.kernel = pair("Conv2d", "kernel", kernel)
        self.stride = pair("Conv2d", "stride", stride)
        self.pad = pair("Conv2d", "pad", pad, minimum=0)
        self.W: Any = None
        self.b: Any = None
        self.x_shape: Any = None
        self.col: Any = None
        self.col_W: Any = None
        self.dW: Any = None
        self.db: Any = None

    def describe(self) -> str:
        def one(value: tuple[int, int]) -> str:
            return str(value[0]) if value[0] == value[1] else str(value)

        extra = "" if self.stride == (1, 1) else f", stride={one(self.stride)}"
        extra += "" if self.pad == (0, 0) else f", pad={one(self.pad)}"
        return f"{self.in_channels}, {self.out_channels}, {one(self.kernel)}{extra}"

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        return {"W": (self.out_channels, self.in_channels, *self.kernel), "b": (self.out_channels,)}

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, ...]:
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            msg = f"Conv2d expects an input (C, H, W) with C = {self.in_channels}, got {in_shape}"
            raise ShapeError(msg)
        return (self.out_channels, *output_size("Conv2d", in_shape[1:], self.kernel, self.stride, self.pad))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_ndim("Conv2d", "x", x, (4,), "(N, C, H, W)")
        _, out_h, out_w = self.output_shape(x.shape[1:])
        self.x_shape = x.shape
        self.col = im2col(x, self.kernel, self.stride, self.pad)
        self.col_W = np.reshape(self.W, (self.out_channels, -1)).T
        out = self.col @ self.col_W + self.b
        return out.reshape(x.shape[0], out_h, out_w, -1).transpose(0, 3, 1, 2)  # type: ignore[no-any-return]

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """The forward in index notation, from which symgrad derives the backward
        (see :mod:`symgrad.layers.tensorforms`)."""
        return conv_forward(self.kernel, self.stride, self.pad)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = np.asarray(dout).transpose(0, 2, 3, 1).reshape(-1, self.out_channels)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(np.shape(self.W))
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x_shape, self.kernel, self.stride, self.pad)


class _Pool(_Spatial):
    """Pooling windows of ``kernel`` moved by ``stride`` (the kernel by default) over each channel."""

    def __init__(self, kernel: int | tuple[int, int], stride: Any = None, pad: Any = 0, *,
                 name: str | None = None) -> None:
        super().__init__(name)
        owner = type(self).__name__
        self.kernel = pair(owner, "kernel", kernel)
        self.stride = self.kernel if stride is None else pair(owner, "stride", stride)
        self.pad = pair(owner, "pad", pad, minimum=0)
        self.x_shape: Any = None

    def describe(self) -> str:
        def one(value: tuple[int, int]) -> str:
            return str(value[0]) if value[0] == value[1] else str(value)

        extra = "" if self.pad == (0, 0) else f", pad={one(self.pad)}"
        return f"{one(self.kernel)}, {one(self.stride)}{extra}"

    def output_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, ...]:
        if len(in_shape) != 3:
            msg = f"{type(self).__name__} expects an input (C, H, W), got {in_shape}"
            raise ShapeError(msg)
        return (in_shape[0], *output_size(type(self).__name__, in_shape[1:], self.kernel, self.stride, self.pad))

    def windows(self, x: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        """Each window of each channel as a row (N*OH*OW*C, KH*KW), and the output shape (N, C, OH, OW)."""
        x = check_ndim(type(self).__name__, "x", x, (4,), "(N, C, H, W)")
        channels, out_h, out_w = self.output_shape(x.shape[1:])
        self.x_shape = x.shape
        col = im2col(x, self.kernel, self.stride, self.pad).reshape(-1, self.kernel[0] * self.kernel[1])
        return col, (x.shape[0], channels, out_h, out_w)

    def unwindows(self, dcol: np.ndarray) -> np.ndarray:
        """Window gradients (N*OH*OW*C, KH*KW) back to the input: col2im."""
        rows = dcol.reshape(-1, self.x_shape[1] * self.kernel[0] * self.kernel[1])
        return col2im(rows, self.x_shape, self.kernel, self.stride, self.pad)

    @staticmethod
    def rows(dout: Any) -> np.ndarray:
        """dout (N, C, OH, OW) in the windows' row order (n, i, j, c)."""
        return np.asarray(dout).transpose(0, 2, 3, 1).reshape(-1)

    @staticmethod
    def image(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        n, c, out_h, out_w = shape
        return values.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)


class MaxPool2d(_Pool):
    """Max pooling: each output is the largest entry of its window (NCHW).

    The backward routes each upstream gradient to the position of its window's
    maximum (the first one, on a tie) and adds where windows overlap.

    Examples
    --------
    >>> import numpy as np
    >>> layer = MaxPool2d(2, 2)
    >>> x = np.array([[[[1.0, 2.0, 0.0, 1.0], [4.0, 3.0, 5.0, 2.0]]]])
    >>> layer.forward(x)
    array([[[[4., 5.]]]])
    >>> layer.backward(np.array([[[[10.0, 20.0]]]]))
    array([[[[ 0.,  0.,  0.,  0.],
             [10.,  0., 20.,  0.]]]])
    """

    kind = "max-pool2d"

    def __init__(self, kernel: int | tuple[int, int], stride: Any = None, pad: Any = 0, *,
                 name: str | None = None) -> None:
        super().__init__(kernel, stride, pad, name=name)
        self.arg_max: Any = None
        self.out_shape: Any = None

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """The max of each window in index notation (gradient to the first maximum; see
        :mod:`symgrad.layers.tensorforms`)."""
        return pool_forward("max", self.kernel, self.stride, self.pad)

    def forward(self, x: np.ndarray) -> np.ndarray:
        col, self.out_shape = self.windows(x)
        self.arg_max = np.argmax(col, axis=1)
        return self.image(np.max(col, axis=1), self.out_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        flat = self.rows(dout)
        dcol = np.zeros((flat.size, self.kernel[0] * self.kernel[1]), dtype=flat.dtype)
        dcol[np.arange(flat.size), self.arg_max] = flat
        return self.unwindows(dcol)


class AvgPool2d(_Pool):
    """Average pooling: each output is the mean of its window (NCHW; padding counts as zeros).

    The backward spreads each upstream gradient evenly, 1/(KH*KW) to each entry of its window.

    Examples
    --------
    >>> import numpy as np
    >>> layer = AvgPool2d(2, 2)
    >>> layer.forward(np.array([[[[1.0, 2.0, 0.0, 1.0], [4.0, 3.0, 5.0, 2.0]]]]))
    array([[[[2.5, 2. ]]]])
    >>> layer.backward(np.array([[[[4.0, 8.0]]]]))
    array([[[[1., 1., 2., 2.],
             [1., 1., 2., 2.]]]])
    """

    kind = "avg-pool2d"

    def __init__(self, kernel: int | tuple[int, int], stride: Any = None, pad: Any = 0, *,
                 name: str | None = None) -> None:
        super().__init__(kernel, stride, pad, name=name)
        self.out_shape: Any = None

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """The mean of each window in index notation (see :mod:`symgrad.layers.tensorforms`)."""
        return pool_forward("avg", self.kernel, self.stride, self.pad)

    def forward(self, x: np.ndarray) -> np.ndarray:
        col, self.out_shape = self.windows(x)
        return self.image(np.mean(col, axis=1), self.out_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        flat = self.rows(dout)
        size = self.kernel[0] * self.kernel[1]
        dcol = np.repeat(flat[:, None] / size, size, axis=1)
        return self.unwindows(dcol)


class Flatten(Layer):
    """(N, ...) to (N, features): the reshape between convolutions and affine layers.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Flatten()
    >>> layer.forward(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    >>> layer.backward(np.ones((2, 60))).shape
    (2, 3, 4, 5)
    """

    kind = "flatten"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.x_shape: Any = None

    @property
    def batched(self) -> bool:
        return True

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """``y[n, k] = x[n, ...]`` in index notation, for an input of ``ndim`` (2 to 4) dimensions."""
        return flatten_forward(4 if ndim is None else ndim)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample output shape: (C*H*W,) for (C, H, W)."""
        return (int(np.prod(in_shape)),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            msg = f"Flatten expects a batch (N, ...) of at least 2 dimensions, got shape {x.shape}"
            raise ShapeError(msg)
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(dout).reshape(self.x_shape)
