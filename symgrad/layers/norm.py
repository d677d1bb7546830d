"""Normalisation layers' textbook references: BatchNorm and LayerNorm.

These are the NumPy reference side (the article's protocol: ``forward(x)``,
``backward(dout)`` returning ``dx`` and storing ``dgamma``, ``dbeta``) of layers
whose index-notation forward is still to come with the derivation engine. Until
then they are exported from this module only: not from ``symgrad``, not in the
spec catalogue nor in ``symgrad --help``. :func:`symgrad.check_layer` checks
them against finite differences (no spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError, SpecError
from symgrad.layers.arguments import check_ndim, positive_float, positive_int
from symgrad.layers.composite import CompositeLayer, Mistake

if TYPE_CHECKING:
    from symgrad.composite.graph import Graph

__all__ = ["BatchNorm", "LayerNorm"]


class _Normalization(CompositeLayer):
    """gamma and beta of ``features`` entries, and the shape checks both norms share."""

    roles = ("gamma", "beta")

    def __init__(self, features: int, *, eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(name)
        owner = type(self).__name__
        self.features = positive_int(owner, "features", features)
        self.eps = positive_float(owner, "eps", eps)
        self.gamma: Any = np.ones(self.features)
        self.beta: Any = np.zeros(self.features)
        self.dgamma: Any = None
        self.dbeta: Any = None

    @property
    def batched(self) -> bool:
        return True

    @property
    def in_features(self) -> int:
        """The features of its input (and output)."""
        return self.features

    def output_features(self, in_features: int | None) -> int | None:
        if in_features != self.features:
            msg = f"{type(self).__name__} expects {self.features} input features, but its input has {in_features}"
            raise ShapeError(msg)
        return in_features

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        return {"gamma": (self.features,), "beta": (self.features,)}

    def rule_key(self) -> tuple[Any, ...]:
        return (getattr(self, "train", True), self.eps)

    def _eps(self) -> Any:
        """eps as the documents show it (a float); exact (a rational) in the entrywise proofs, where a float's
        rounding would leave a difference that does not simplify to 0."""
        import sympy as sp

        return sp.Rational(str(self.eps)) if getattr(self, "_exact", False) else sp.Float(self.eps)

    def for_proof(self, features: int) -> _Normalization:
        small: Any = self.fresh()
        small.features = features
        small._exact = True
        if hasattr(small, "running_mean"):  # eval mode's constants: generic values at the small size
            small.running_mean = np.linspace(-0.5, 0.5, features)
            small.running_var = np.linspace(1.0, 2.0, features)
        return small

    def _graph(self, mean: str, statistics: bool) -> Graph:
        """μ, x - μ, (x - μ)², σ², σ = √(σ² + ε), x̂ = (x - μ)/σ, γ x̂, out = γ x̂ + β: ``mean`` over the batch
        rows or the feature columns; without ``statistics`` μ and σ² are constants (eval mode)."""
        import sympy as sp

        from symgrad.composite.graph import Graph, Value
        from symgrad.matrixexpr import ZETA

        over = "over the batch (each feature)" if mean == "mean_rows" else "over the features (each sample)"
        values = [
            Value("mu", mean, ("x",), what=f"the mean {over}"),
            Value("xc", "sub", ("x", "mu"), what="x centred: x - mu"),
            Value("sq", "fn", ("xc",), ZETA**2, what="the squares (x - mu)^2"),
            Value("var", mean, ("sq",), what=f"the variance {over}"),
        ] if statistics else [Value("xc", "sub", ("x", "mu"), what="x centred by the running mean")]
        values += [
            Value("sigma", "fn", ("var",), sp.sqrt(ZETA + self._eps()), what="sigma = sqrt(var + eps)"),
            Value("xhat", "div", ("xc", "sigma"), what="the normalised x: (x - mu) / sigma"),
            Value("z", "mul", ("xhat", "gamma"), what="scaled by gamma"),
            Value("out", "add", ("z", "beta"), what="shifted by beta"),
        ]
        constants = () if statistics else ("mu", "var")
        return Graph(("x", "gamma", "beta", *constants), tuple(values), ("out",), constants)


class BatchNorm(_Normalization):
    """Batch normalisation over the batch axis, ``out = gamma * (x - mu) / sqrt(var + eps) + beta``.

    ``BatchNorm(features)`` is in train mode: mu and var are the batch's mean and
    (biased) variance, and forward updates the running statistics
    (``running = momentum * running + (1 - momentum) * batch``). In eval mode
    (``BatchNorm(features, train=False)``, or ``.eval()``) the running statistics
    are constants and the layer is an elementwise affine map. Input is (N, D), or
    (N, C, H, W) for the spatial form (statistics per channel over N, H, W, as
    cs231n's spatial batch norm). The backward goes through the forward's own
    stages (xc, std, xn), as DLFS writes it.

    Examples
    --------
    >>> import numpy as np
    >>> layer = BatchNorm(2)
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> np.round(layer.forward(x), 4)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> layer.backward(np.array([[1.0, 0.0], [0.0, 0.0]])).shape
    (2, 2)
    >>> layer.dbeta
    array([1., 0.])
    >>> layer.eval().forward(np.array([[0.0, 0.0]])).shape
    (1, 2)
    """

    kind = "batch-norm"
    mistakes = (
        Mistake("the mean path left out (no gradient through mu, as if it were a constant)",
                "add the gradient through mu: dx -= dxc.mean(axis=0), the mean of the centred gradient", ("mu",)),
        Mistake("the variance path left out (no gradient through var, as if it were a constant)",
                "add the gradient through var: dvar = -0.5 * sum(dxhat * xc, axis=0) / sigma**3, "
                "dxc += 2 * xc * dvar / N", ("var",)),
    )

    def __init__(
        self, features: int, *, train: bool = True, momentum: float = 0.9, eps: float = 1e-5, name: str | None = None
    ) -> None:
        super().__init__(features, eps=eps, name=name)
        if not isinstance(momentum, (int, float, np.floating)) or isinstance(momentum, bool) or not 0 <= momentum < 1:
            msg = f"BatchNorm momentum must be a number in [0, 1), got {momentum!r}"
            raise SpecError(msg)
        self.train = bool(train)
        self.momentum = float(momentum)
        self.running_mean: Any = np.zeros(self.features)
        self.running_var: Any = np.ones(self.features)
        self.shape: Any = None
        self.xc: Any = None
        self.std: Any = None
        self.xn: Any = None

    def describe(self) -> str:
        eps = "" if self.eps == 1e-5 else f", eps={self.eps!r}"
        return f"{self.features}{eps}" + ("" if self.train else ", train=False")

    def graph(self) -> Graph:
        """Train mode: the batch's mean and variance; eval mode: the running ones, as constants."""
        return self._graph("mean_rows", self.train)

    def rule_texts(self) -> dict[str, str]:
        grads = {"gamma": "(dout * xhat).sum(axis=0)", "beta": "dout.sum(axis=0)"}
        if not self.train:
            return {"out": "gamma * (x - running_mean) / sqrt(running_var + eps) + beta",
                    "x": "dout * gamma / sqrt(running_var + eps)", **grads}
        return {"out": "gamma * xhat + beta, xhat = (x - x.mean(axis=0)) / sqrt(x.var(axis=0) + eps)",
                "x": "gamma / (N * sigma) * (N * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))",
                **grads}

    def closed_forms(self, values: Mapping[str, Any], upstream: Any) -> dict[str, Any]:
        """dx = γ/(Nσ) (N G - 1 1ᵀG - x̂ ∘ 1 1ᵀ(G ∘ x̂)) in train mode (σ = std; 1 the ones column)."""
        if not self.train:
            return {}
        import sympy as sp

        from symgrad.matrixexpr import ZETA, Elementwise

        g, xhat, gamma, std = upstream, values["xhat"], values["gamma"], values["sigma"]
        rows = g.shape[0]
        ones, ones_t = sp.OneMatrix(rows, 1), sp.OneMatrix(1, rows)
        scale = ones * sp.HadamardProduct(gamma, Elementwise(1 / ZETA, std))
        column_sums = ones * (ones_t * sp.HadamardProduct(g, xhat))
        inner = sp.MatAdd(rows * g, -ones * (ones_t * g), -sp.HadamardProduct(xhat, column_sums))
        return {"input": sp.HadamardProduct(scale, inner) / rows}

    def constants(self) -> dict[str, Any]:
        if self.train:
            return {}
        import sympy as sp

        def row(values: Any) -> Any:
            return sp.ImmutableMatrix([[sp.Float(float(v)) for v in np.ravel(values)]])

        return {"mu": row(self.running_mean), "var": row(self.running_var)}

    def eval(self) -> BatchNorm:
        """Switch to eval mode (running statistics as constants); returns the layer."""
        self.train = False
        return self

    def training(self) -> BatchNorm:
        """Switch back to train mode (batch statistics); returns the layer."""
        self.train = True
        return self

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """x as rows of ``features`` entries: (N, D) as it is, (N, C, H, W) as (N*H*W, C)."""
        if x.shape[1] != self.features:
            msg = f"BatchNorm expects {self.features} features (axis 1), got input of shape {x.shape}"
            raise ShapeError(msg)
        return x if x.ndim == 2 else x.transpose(0, 2, 3, 1).reshape(-1, self.features)

    def _unrows(self, rows: np.ndarray) -> np.ndarray:
        if len(self.shape) == 2:
            return rows
        n, c, h, w = self.shape
        return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_ndim("BatchNorm", "x", x, (2, 4), "(N, D) or (N, C, H, W)")
        self.shape = x.shape
        rows = self._rows(x)
        if self.train:
            mu = rows.mean(axis=0)
            self.xc = rows - mu
            var = np.mean(self.xc**2, axis=0)
            self.std = np.sqrt(var + self.eps)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            self.xc = rows - self.running_mean
            self.std = np.sqrt(self.running_var + self.eps)
        self.xn = self.xc / self.std
        return self._unrows(self.gamma * self.xn + self.beta)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = self._rows(np.asarray(dout))
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        if self.train:  # mu and std depend on x: their paths add to the direct one
            count = dout.shape[0]
            dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
            dvar = 0.5 * dstd / self.std
            dxc = dxc + (2.0 / count) * self.xc * dvar
            dmu = np.sum(dxc, axis=0)
            dxc = dxc - dmu / count
        return self._unrows(dxc)


class LayerNorm(_Normalization):
    """Layer normalisation over each sample's features, ``out = gamma * (x - mu) / sqrt(var + eps) + beta``.

    mu and var are each row's mean and (biased) variance over its ``features``
    entries (the last axis); gamma and beta are per feature. There is no train or
    eval difference. Input is (..., D).

    Examples
    --------
    >>> import numpy as np
    >>> layer = LayerNorm(2)
    >>> np.round(layer.forward(np.array([[1.0, 3.0], [5.0, -5.0]])), 4)
    array([[-1.,  1.],
           [ 1., -1.]])
    >>> layer.backward(np.ones((2, 2)))  # a shift of every entry of a row changes nothing
    array([[0., 0.],
           [0., 0.]])
    >>> layer.dbeta
    array([2., 2.])
    """

    kind = "layer-norm"
    mistakes = (
        Mistake("the mean path left out (no gradient through mu, as if it were a constant)",
                "add the gradient through mu: dx -= dxc.mean(axis=1, keepdims=True)", ("mu",)),
        Mistake("the variance path left out (no gradient through var, as if it were a constant)",
                "add the gradient through var: dx -= xhat * (dxhat * xhat).mean(axis=1, keepdims=True) / sigma",
                ("var",)),
    )

    def __init__(self, features: int, *, eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(features, eps=eps, name=name)
        self.xn: Any = None
        self.std: Any = None

    def describe(self) -> str:
        return f"{self.features}" + ("" if self.eps == 1e-5 else f", eps={self.eps!r}")

    def graph(self) -> Graph:
        """Each sample's mean and variance over its features."""
        return self._graph("mean_cols", True)

    def rule_texts(self) -> dict[str, str]:
        return {"out": "gamma * xhat + beta, xhat = (x - x.mean(axis=1)) / sqrt(x.var(axis=1) + eps)",
                "x": "(D * dxhat - dxhat.sum(axis=1) - xhat * (dxhat * xhat).sum(axis=1)) / (D * sigma), "
                     "dxhat = dout * gamma",
                "gamma": "(dout * xhat).sum(axis=0)", "beta": "dout.sum(axis=0)"}

    def closed_forms(self, values: Mapping[str, Any], upstream: Any) -> dict[str, Any]:
        """dx = 1/(Dσ) ∘ (D Ĝ - Ĝ 1 1ᵀ - x̂ ∘ (Ĝ ∘ x̂) 1 1ᵀ) per row, Ĝ = G ∘ γ (σ = each row's std; 1 the ones
        column of the features): batch norm's form with the sums along each row. γ varies along the summed
        axis, so it stays inside the sums (as dx̂ = dout * γ), not in front as batch norm's does."""
        import sympy as sp

        from symgrad.matrixexpr import ZETA, Elementwise

        g, xhat, gamma, std = upstream, values["xhat"], values["gamma"], values["sigma"]
        rows, count = g.shape
        ones_n, ones_d, ones_dt = sp.OneMatrix(rows, 1), sp.OneMatrix(count, 1), sp.OneMatrix(1, count)
        ghat = sp.HadamardProduct(g, ones_n * gamma)
        row_sums = (ghat * ones_d) * ones_dt
        inner = sp.MatAdd(count * ghat, -row_sums, -sp.HadamardProduct(xhat, (sp.HadamardProduct(ghat, xhat)
                                                                                * ones_d) * ones_dt))
        scale = Elementwise(1 / ZETA, std) * ones_dt
        return {"input": sp.HadamardProduct(scale, inner) / count}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_ndim("LayerNorm", "x", x, (2, 3, 4), "(..., D)")
        if x.shape[-1] != self.features:
            msg = f"LayerNorm expects {self.features} features (last axis), got input of shape {x.shape}"
            raise ShapeError(msg)
        mu = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        self.std = np.sqrt(var + self.eps)
        self.xn = (x - mu) / self.std
        return self.gamma * self.xn + self.beta

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = np.asarray(dout)
        batch_axes = tuple(range(dout.ndim - 1))
        self.dbeta = dout.sum(axis=batch_axes)
        self.dgamma = np.sum(dout * self.xn, axis=batch_axes)
        dxn = dout * self.gamma
        count = self.features
        # The closed form: each row is a batch norm of its own, transposed.
        return (count * dxn - dxn.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]
                - self.xn * np.sum(dxn * self.xn, axis=-1, keepdims=True)) / (count * self.std)
