"""Losses: HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.base import Loss

if TYPE_CHECKING:  # the symbolic methods import SymPy when they run (see symgrad.layers.base)
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

__all__ = ["HalfSquaredError", "MeanSquaredError", "SoftmaxCrossEntropy"]


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

    def matrix_grad(self, y: MatrixExpr, t: MatrixExpr) -> MatrixExpr:
        return y - t

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

    def matrix_grad(self, y: MatrixExpr, t: MatrixExpr) -> MatrixExpr:
        from symgrad.matrixexpr import BATCH

        return (2 / (BATCH * y.shape[1])) * (y - t)

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        self.y, self.t = x, t
        return np.mean((x - t) ** 2)

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * 2.0 * (self.y - self.t) / np.size(self.y)  # type: ignore[no-any-return]


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, stable for large inputs (complex-step safe)."""
    shifted = x - np.max(np.real(x), axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))  # type: ignore[no-any-return]


class SoftmaxCrossEntropy(Loss):
    """Softmax then cross-entropy with one-hot targets, mean over the batch.

    The usual SoftmaxWithLoss layer; its backward is (softmax(y) - t) / N.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SoftmaxCrossEntropy()
    >>> round(float(loss.forward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))), 6)
    0.693147
    >>> loss.backward()
    array([[-0.5,  0.5]])
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

    def matrix_grad(self, y: MatrixExpr, t: MatrixExpr) -> MatrixExpr:
        from symgrad.matrixexpr import BATCH, RowSoftmax

        # Uses that each row of t sums to 1 (one-hot targets).
        return (1 / BATCH) * (RowSoftmax(y) - t)

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:
        self.y, self.t = np.exp(log_softmax(x)), t
        return -np.sum(t * log_softmax(x)) / x.shape[0]

    def backward(self, dout: Any = 1) -> np.ndarray:
        return dout * (self.y - self.t) / self.y.shape[0]  # type: ignore[no-any-return]
