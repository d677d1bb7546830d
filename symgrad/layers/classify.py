"""Classification layers: Softmax, SigmoidCrossEntropy, SVMLoss (derived), and a textbook reference.

:class:`Softmax`, :class:`SigmoidCrossEntropy` and :class:`SVMLoss` carry their forward in index
notation (``index_forward``, ``index_loss``), from which their rules are derived
(:mod:`symgrad.index`), beside their NumPy reference in the article's protocol
(``forward(x)`` / ``backward(dout)``, ``forward(x, t)`` / ``backward(dout=1)``
for a loss): the check's second side, written by hand, independent of the
derivation. They are in the spec catalogue and ``symgrad``'s public API.

:class:`SVMLoss` (cs231n's multiclass hinge) is derived too, its forward over
one-hot rows. :class:`SoftmaxCrossEntropy` here is DLFS's ``SoftmaxWithLoss`` written with
label indexing (``dx[rows, labels] -= 1``), kept as an independent third side
for tests of :class:`symgrad.layers.losses.SoftmaxCrossEntropy`, which is the
one catalogue layer and takes integer labels and one-hot targets alike.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import DTypeError, ShapeError
from symgrad.layers.base import Layer, Loss

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from symgrad.index.ir import IndexForward

__all__ = ["SVMLoss", "SigmoidCrossEntropy", "Softmax", "SoftmaxCrossEntropy", "class_labels", "one_hot_labels"]


def _softmax(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, shifted by the row maximum so that exp never overflows."""
    shifted = np.exp(x - np.max(np.real(x), axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)  # type: ignore[no-any-return]


def class_labels(owner: str, t: Any, scores: np.ndarray) -> np.ndarray:
    """Integer labels (N,) from integer labels (N,) or one-hot rows (N, C) for scores (N, C).

    Examples
    --------
    >>> class_labels("SVMLoss", np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros((2, 2)))
    array([1, 0])
    >>> class_labels("SVMLoss", np.array([2, 0]), np.zeros((2, 2)))
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: SVMLoss: class label 2 is out of range for 2 classes (0..1)
    """
    t = np.asarray(t)
    if scores.ndim != 2:
        msg = f"{owner} expects scores of shape (N, C), got shape {scores.shape}"
        raise ShapeError(msg)
    n, classes = scores.shape
    if t.shape == scores.shape and t.dtype.kind in "iuf":
        if not (np.all((t == 0) | (t == 1)) and np.all(t.sum(axis=1) == 1)):
            msg = f"{owner}: a target of the scores' shape {t.shape} must be one-hot (one 1 per row, else 0)"
            raise ShapeError(msg)
        return np.argmax(t, axis=1)
    if t.shape != (n,):
        msg = f"{owner} takes integer labels of shape ({n},) or one-hot targets of shape {scores.shape}, got {t.shape}"
        raise ShapeError(msg)
    if t.dtype.kind not in "iu":
        msg = f"{owner} takes integer class labels, got dtype {t.dtype}"
        raise DTypeError(msg)
    wrong = t[(t < 0) | (t >= classes)]
    if wrong.size:
        msg = f"{owner}: class label {int(wrong[0])} is out of range for {classes} classes (0..{classes - 1})"
        raise ShapeError(msg)
    return t


def one_hot_labels(loss: Any, t: Any, classes: int | None) -> Any:
    """``t`` as one-hot rows (N, classes) when it holds integer class labels (N,) for a loss over
    class scores (softmax cross-entropy, the hinge); anything else is returned as given.

    Labels are not differentiated: the derivations of these losses read one-hot rows
    of t (each summing to 1, their stated assumption), which is what labels are.

    Examples
    --------
    >>> from symgrad.layers.losses import SoftmaxCrossEntropy
    >>> one_hot_labels(SoftmaxCrossEntropy(), np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    from symgrad.layers.losses import SoftmaxCrossEntropy

    array = np.asarray(t)
    if not isinstance(loss, (SoftmaxCrossEntropy, SVMLoss)) or classes is None or array.dtype.kind not in "iu":
        return t
    if array.ndim != 1:
        return t
    labels = class_labels(type(loss).__name__, array, np.zeros((array.shape[0], classes)))
    return np.eye(classes)[labels]


class Softmax(Layer):
    """Softmax along the last axis, as a layer: ``out[n, i] = exp(x[n, i]) / sum_j exp(x[n, j])``.

    ``backward(dout)`` applies the softmax Jacobian ``diag(y) - y yᵀ`` row by row:
    ``dx = y * (dout - sum(dout * y))``, the sum along the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Softmax()
    >>> layer.forward(np.array([[0.0, 0.0]]))
    array([[0.5, 0.5]])
    >>> layer.backward(np.array([[1.0, 0.0]]))
    array([[ 0.25, -0.25]])
    """

    kind = "softmax"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.out: Any = None

    def output_features(self, in_features: int | None) -> int | None:
        if in_features is None or in_features < 2:
            got = "scalar inputs" if in_features is None else f"{in_features} feature"
            msg = f"Softmax needs a batched input with at least 2 features (got {got})"
            raise ShapeError(msg)
        return in_features

    def index_forward(self) -> IndexForward:
        """``y[n,m] = exp(x[n,m]) / Σ_k exp(x[n,k])``: its rule, derived, is ``y ∘ (G - rowsum(G ∘ y))``."""
        return _softmax_forward()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = _softmax(np.asarray(x))
        return self.out  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dot = np.sum(dout * self.out, axis=-1, keepdims=True)
        return self.out * (dout - dot)  # type: ignore[no-any-return]


class SoftmaxCrossEntropy(Loss):
    """Softmax then cross-entropy, mean over the batch; labels as integers (N,) or one-hot (N, C).

    ``E = -(1/N) sum_n log softmax(x)[n, t_n]``; ``backward(dout=1)`` returns
    ``dout * (softmax(x) - onehot(t)) / N``.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SoftmaxCrossEntropy()
    >>> round(float(loss.forward(np.zeros((2, 2)), np.array([0, 1]))), 6)
    0.693147
    >>> loss.backward()
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """

    kind = "softmax-cross-entropy"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.y: Any = None
        self.labels: Any = None

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        x = np.asarray(x)
        self.labels = class_labels("SoftmaxCrossEntropy", t, x)
        rows = np.arange(x.shape[0])
        shifted = x - np.max(np.real(x), axis=1, keepdims=True)
        log_norm = np.log(np.sum(np.exp(shifted), axis=1))
        self.y = _softmax(x)
        return -np.sum(shifted[rows, self.labels] - log_norm) / x.shape[0]

    def backward(self, dout: Any = 1) -> np.ndarray:
        count = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(count), self.labels] -= 1
        return dout * dx / count  # type: ignore[no-any-return]


class SVMLoss(Loss):
    """The multiclass hinge (SVM) loss of cs231n, margin 1, mean over the batch.

    ``E = (1/N) sum_n sum_{j != t_n} max(0, x[n, j] - x[n, t_n] + 1)``; labels as
    integers (N,) or one-hot (N, C). ``backward(dout=1)``: each positive margin
    gives +1 to its class j and -1 to the true class, all over N.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SVMLoss()
    >>> float(loss.forward(np.array([[3.0, 2.5, 0.0]]), np.array([0])))
    0.5
    >>> loss.backward()
    array([[-1.,  1.,  0.]])
    """

    kind = "svm-loss"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.margins: Any = None
        self.labels: Any = None

    def check_output_features(self, features: int | None) -> None:
        if features is None or features < 2:
            msg = f"SVMLoss needs a batched network with at least 2 outputs (got {features or 'scalar outputs'})"
            raise ShapeError(msg)

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        import sympy as sp

        from symgrad.functions import relu
        from symgrad.matrixexpr import BATCH, ZETA, ElementSum, Elementwise

        ones = sp.OneMatrix(*y.shape)
        correct = sp.HadamardProduct(t, y) * sp.OneMatrix(y.shape[1], y.shape[1])
        return ElementSum(sp.HadamardProduct(ones - t, Elementwise(relu(ZETA), y - correct + ones))) / BATCH

    def index_loss(self) -> IndexForward:
        """``E = (1/N) Σ_n Σ_m (1 - t_nm) relu(y_nm - Σ_k t_nk y_nk + 1)`` over one-hot rows t.

        ``Σ_k t_nk y_nk`` is the true class's score when t's rows are one-hot
        (integer labels become one-hot rows); ``1 - t_nm`` leaves the true class
        out of the sum. The derivative holds for any t, so no assumption is used.
        Kink convention: a margin of exactly 0 counts as inactive (relu's
        derivative at 0 is 0, as cs231n's ``margins > 0``).
        """
        return _svm_forward()

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        x = np.asarray(x)
        self.labels = class_labels("SVMLoss", t, x)
        rows = np.arange(x.shape[0])
        correct = x[rows, self.labels][:, None]
        self.margins = np.maximum(0, x - correct + 1.0)
        self.margins[rows, self.labels] = 0
        return np.sum(self.margins) / x.shape[0]

    def backward(self, dout: Any = 1) -> np.ndarray:
        count = self.margins.shape[0]
        dx = (self.margins > 0).astype(self.margins.dtype)
        dx[np.arange(count), self.labels] -= dx.sum(axis=1)
        return dout * dx / count  # type: ignore[no-any-return]


class SigmoidCrossEntropy(Loss):
    """Sigmoid then binary cross-entropy, summed over outputs and averaged over the batch.

    ``E = -(1/N) sum (t log y + (1 - t) log(1 - y))`` with ``y = sigmoid(x)`` and
    targets t in [0, 1] of x's shape (N,) or (N, M) (0/1 labels, integer or float);
    ``backward(dout=1)`` returns ``dout * (y - t) / N``. The log terms are computed
    as ``-log(1 + exp(-x))`` and ``-log(1 + exp(x))``, finite for any x.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SigmoidCrossEntropy()
    >>> round(float(loss.forward(np.array([0.0, 0.0]), np.array([1, 0]))), 6)
    0.693147
    >>> loss.backward()
    array([-0.25,  0.25])
    """

    kind = "sigmoid-cross-entropy"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name)
        self.y: Any = None
        self.t: Any = None

    def check_output_features(self, features: int | None) -> None:
        if features is None:
            msg = "SigmoidCrossEntropy needs a batched network (outputs of shape (N, M))"
            raise ShapeError(msg)

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        import sympy as sp

        from symgrad.functions import softplus
        from symgrad.matrixexpr import BATCH, ZETA, ElementSum, Elementwise

        return ElementSum(Elementwise(softplus(ZETA), y) - sp.HadamardProduct(t, y)) / BATCH

    def index_loss(self) -> IndexForward:
        """``E = (1/N) Σ_n Σ_m (softplus(y_nm) - t_nm y_nm)``: ``matrix_grad`` derives ``(σ(y) - t)/N``.

        ``-t log σ(y) - (1 - t) log(1 - σ(y))`` is ``softplus(y) - t y`` for any t
        (``log(1 - σ(y)) = log σ(y) - y``), so no assumption about t is needed.
        """
        return _sigmoid_cross_entropy()

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        x, t = np.asarray(x), np.asarray(t)
        if t.shape != x.shape or x.ndim not in (1, 2):
            msg = f"SigmoidCrossEntropy takes targets of the scores' shape (N,) or (N, M): x {x.shape}, t {t.shape}"
            raise ShapeError(msg)
        if t.dtype.kind not in "iuf" or np.any((t < 0) | (t > 1)):
            msg = "SigmoidCrossEntropy takes targets in [0, 1] (0/1 labels or probabilities)"
            raise ShapeError(msg)
        log_y, log_one_minus_y = -np.logaddexp(0, -x), -np.logaddexp(0, x)
        self.y = np.exp(log_y)
        self.t = t
        return -np.sum(t * log_y + (1 - t) * log_one_minus_y) / x.shape[0]

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * (self.y - self.t) / self.y.shape[0]  # type: ignore[no-any-return]


@functools.cache
def _softmax_forward() -> IndexForward:
    import sympy as sp

    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m, k = indices("n m k")
    features = sp.Symbol("M", integer=True, positive=True)
    x = sp.IndexedBase("x")
    body = sp.exp(x[n, m]) / sp.Sum(sp.exp(x[n, k]), (k, 0, features - 1))
    return IndexForward("y", (n, m), body, (Tensor("x", (BATCH, features)),),
                        ((n, BATCH), (m, features), (k, features)))


@functools.cache
def _sigmoid_cross_entropy() -> IndexForward:
    from symgrad.functions import softplus
    from symgrad.layers.losses import loss_forward

    return loss_forward(lambda y, t, _: softplus(y) - t * y, lambda n, m: 1 / n)


@functools.cache
def _svm_forward() -> IndexForward:
    """``E = (1/N) Σ_n Σ_m (1 - t_nm) relu(y_nm - Σ_k t_nk y_nk + 1)`` over one-hot t."""
    import sympy as sp

    from symgrad.functions import relu
    from symgrad.index.ir import IndexForward, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m, k = indices("n m k")
    classes = sp.Symbol("M", integer=True, positive=True)
    y, t = sp.IndexedBase("y"), sp.IndexedBase("t")
    correct = sp.Sum(t[n, k] * y[n, k], (k, 0, classes - 1))  # the true class's score, read through one-hot t
    margin = (1 - t[n, m]) * relu(y[n, m] - correct + 1)
    body = sp.Sum(margin, (n, 0, BATCH - 1), (m, 0, classes - 1)) / BATCH
    tensors = (Tensor("y", (BATCH, classes)), Tensor("t", (BATCH, classes)))
    return IndexForward("E", (), body, tensors, ((n, BATCH), (m, classes), (k, classes)))
