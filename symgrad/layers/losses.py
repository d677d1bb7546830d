"""Losses: HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.base import Loss

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from symgrad.index.ir import IndexForward

__all__ = ["HalfSquaredError", "MeanSquaredError", "SoftmaxCrossEntropy"]


def loss_forward(entry: Any, scale: Any, *, softmax: bool = False) -> IndexForward:
    """``E = scale * Σ_n Σ_m entry(y[n,m], t[n,m], n)`` over y and t (N x M) in index notation."""
    import sympy as sp

    from symgrad.index.ir import IndexForward, RowSumsToOne, Tensor, indices
    from symgrad.matrixexpr import BATCH

    n, m, k = indices("n m k")
    outputs = sp.Symbol("M", integer=True, positive=True)
    y, t = sp.IndexedBase("y"), sp.IndexedBase("t")
    log_sum = sp.log(sp.Sum(sp.exp(y[n, k]), (k, 0, outputs - 1)))
    body = scale(BATCH, outputs) * sp.Sum(entry(y[n, m], t[n, m], log_sum), (n, 0, BATCH - 1), (m, 0, outputs - 1))
    tensors = (Tensor("y", (BATCH, outputs)), Tensor("t", (BATCH, outputs)))
    assumptions = (RowSumsToOne("t"),) if softmax else ()
    return IndexForward("E", (), body, tensors, ((n, BATCH), (m, outputs), (k, outputs)), assumptions)


class HalfSquaredError(Loss):
    """E = sum((y - t)**2) / 2, the article's loss.

    Examples
    --------
    >>> import numpy as np
    >>> loss = HalfSquaredError()
    >>> float(loss.forward(np.array([[3.0]]), np.array([[1.0]])))
    2.0
    >>> loss.backward()
    array([[2.]])
    """

    kind = "half-squared-error"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.y: Any = None
        self.t: Any = None

    def scalar_loss(self, y: sp.Expr, t: sp.Expr) -> sp.Expr:
        return (y - t) ** 2 / 2

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        import sympy as sp

        from symgrad.matrixexpr import ElementSum

        return ElementSum(sp.HadamardPower(y - t, 2)) / 2

    def index_loss(self) -> IndexForward:
        """``E = Σ_n Σ_m (y_nm - t_nm)² / 2``: ``matrix_grad`` derives from it."""
        return _half_squared()

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        self.y, self.t = x, t
        return 0.5 * np.sum((x - t) ** 2)

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * (self.y - self.t)  # type: ignore[no-any-return]


class MeanSquaredError(Loss):
    """E = mean((y - t)**2) over every element (N * M of them).

    Examples
    --------
    >>> import numpy as np
    >>> loss = MeanSquaredError()
    >>> float(loss.forward(np.array([[3.0, 1.0]]), np.array([[1.0, 1.0]])))
    2.0
    >>> loss.backward()
    array([[2., 0.]])
    """

    kind = "mean-squared-error"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.y: Any = None
        self.t: Any = None

    def scalar_loss(self, y: sp.Expr, t: sp.Expr) -> sp.Expr:
        return (y - t) ** 2

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        import sympy as sp

        from symgrad.matrixexpr import BATCH, ElementSum

        return ElementSum(sp.HadamardPower(y - t, 2)) / (BATCH * y.shape[1])

    def index_loss(self) -> IndexForward:
        """``E = Σ_n Σ_m (y_nm - t_nm)² / (N M)``: ``matrix_grad`` derives from it."""
        return _mean_squared()

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        self.y, self.t = x, t
        return np.mean((x - t) ** 2)

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * 2.0 * (self.y - self.t) / np.size(self.y)  # type: ignore[no-any-return]


@functools.cache
def _half_squared() -> IndexForward:
    import sympy as sp

    return loss_forward(lambda y, t, _: (y - t) ** 2, lambda n, m: 1 / sp.Integer(2))


@functools.cache
def _mean_squared() -> IndexForward:
    return loss_forward(lambda y, t, _: (y - t) ** 2, lambda n, m: 1 / (n * m))


@functools.cache
def _cross_entropy() -> IndexForward:
    return loss_forward(lambda y, t, log_sum: t * (y - log_sum), lambda n, m: -1 / n, softmax=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, stable for large inputs (complex-step safe)."""
    shifted = x - np.max(np.real(x), axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))  # type: ignore[no-any-return]


class SoftmaxCrossEntropy(Loss):
    """Softmax then cross-entropy, mean over the batch; targets one-hot (N, C) or integer labels (N,).

    The usual SoftmaxWithLoss layer; its backward is (softmax(y) - t) / N. Integer
    class labels are a non-differentiable input: they are turned into one-hot
    rows, and the derivation's assumption (each row of t sums to 1) holds for them.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SoftmaxCrossEntropy()
    >>> round(float(loss.forward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))), 6)
    0.693147
    >>> loss.backward()
    array([[-0.5,  0.5]])
    >>> round(float(loss.forward(np.zeros((2, 2)), np.array([0, 1]))), 6)
    0.693147
    >>> loss.backward()
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """

    kind = "softmax-cross-entropy"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.y: Any = None
        self.t: Any = None

    def check_output_features(self, features: int | None) -> None:
        if features is None or features < 2:
            msg = (
                "SoftmaxCrossEntropy needs a batched network with at least 2 outputs "
                f"(got {'scalar outputs' if features is None else features})"
            )
            raise ShapeError(msg)

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        import sympy as sp

        from symgrad.matrixexpr import BATCH, ZETA, ElementSum, Elementwise, RowSoftmax

        log_probs = Elementwise(sp.log(ZETA), RowSoftmax(y))
        return -ElementSum(sp.HadamardProduct(t, log_probs)) / BATCH

    def index_loss(self) -> IndexForward:
        """``E = -(1/N) Σ_n Σ_m t_nm (y_nm - log Σ_k exp(y_nk))``, log-softmax written out.

        The derived gradient is ``(softmax(y) ∘ (t 1 1ᵀ) - t) / N``, a row sum of t in
        it; the forward declares that each row of t sums to 1 (one-hot targets, as
        the reference layer and every textbook assume), and the step that uses it
        says so, giving ``(softmax(y) - t) / N``. Without it there is no short
        matrix form to show, and the checks feed one-hot targets anyway.
        """
        return _cross_entropy()

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        """E for scores x (N, C) and targets t: one-hot (or probability) rows (N, C), or integer class
        labels (N,), which are not differentiated: they become the one-hot rows the derivation assumes."""
        x = np.asarray(x)
        target = np.asarray(t)
        if target.shape != x.shape or target.dtype.kind not in "fc":
            from symgrad.layers.classify import class_labels  # classify imports this module's helpers lazily too

            target = np.eye(x.shape[-1] if x.ndim == 2 else 1)[class_labels("SoftmaxCrossEntropy", target, x)]
        self.y, self.t = np.exp(log_softmax(x)), target
        return -np.sum(target * log_softmax(x)) / x.shape[0]

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * (self.y - self.t) / self.y.shape[0]  # type: ignore[no-any-return]
