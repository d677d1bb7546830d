"""The second-order check: Hessian-vector products of gradients against the loss's curvature."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import symgrad
from symgrad import Affine, HalfSquaredError, Network, Sigmoid
from symgrad.errors import DTypeError, LayerError, ShapeError, UnknownNameError
from symgrad.numeric.hessian import hessian_vector_check


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "spec",
    [
        "affine(3,4) > sigmoid > affine(4,2) > half-squared-error",
        "affine(4,5) > tanh > affine(5,3) > softmax-cross-entropy",
        "affine(3,6) > relu > affine(6,2) > softmax-cross-entropy",
    ],
)
def test_correct_networks_pass(spec: str, seed: int) -> None:
    report = symgrad.check_hessian(symgrad.network_from_spec(spec), seed=seed)
    assert report.ok, str(report)
    assert [row.source for row in report.rows] == ["symbolic", "backward()"]
    for row in report.rows:
        assert [c.what for c in row.comparisons] == ["<w, H u>", "<u, H w>", "<u, H u>", "<w, H w>"]
        assert all(c.rel_error < 1e-6 for c in row.comparisons)
    assert (report.gradient_calls, report.loss_calls) == (16, 34)  # whatever the width


def test_the_article_network_passes_and_its_derivation_too() -> None:
    net = symgrad.article_network()
    assert symgrad.check_hessian(net).ok
    assert symgrad.check_hessian(symgrad.derive(net)).ok


class StaleSigmoid(Sigmoid):
    """A reference backward whose activation is cached at the first forward ever (shared by copies)."""

    first: ClassVar[dict[str, Any]] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = super().forward(x)
        self.out = StaleSigmoid.first.setdefault("out", out)
        return out


def test_a_backward_right_at_the_point_but_stale_elsewhere_fails_the_second_order_check() -> None:
    StaleSigmoid.first.clear()
    net = Network([Affine(3, 4), StaleSigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    assert symgrad.check(net).ok  # first order: the cache holds this very point
    report = symgrad.check_hessian(net)
    assert not report.ok
    symbolic, backward = report.rows
    assert symbolic.status == "ok"  # the derived gradient is right; only the layers' backward is stale
    assert backward.status == "FAIL"
    assert "stale cache" in backward.message
    assert max(c.rel_error for c in backward.comparisons) > 1e-3
    text = str(report)
    assert text.startswith("Hessian-vector check of ")
    assert "1 of 2 FAIL" in text.splitlines()[0]
    assert "FAIL backward(): " in text


class UserSigmoid:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1 - self.out)


class FirstCallSigmoid(UserSigmoid):
    """y * (1 - y) with y from the first point ever seen."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = 1 / (1 + np.exp(-x))
        if not hasattr(self, "out"):
            self.out = out
        return out


class UserAffine:
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class StaleWeightGradientAffine(UserAffine):
    """dW from the x of the first forward: right there, so its dependence on x is lost."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "x"):
            self.x = x
        return x @ self.W + self.b


def _affine(cls: type[UserAffine]) -> UserAffine:
    rng = np.random.default_rng(3)
    return cls(rng.standard_normal((3, 2)), rng.standard_normal(2))


X = np.random.default_rng(0).standard_normal((4, 3))


@pytest.mark.parametrize("layer", [UserSigmoid(), _affine(UserAffine)], ids=["sigmoid", "affine"])
def test_correct_users_layers_pass(layer: Any) -> None:
    report = symgrad.check_hessian(layer, x=X)
    assert report.ok, str(report)
    assert report.names == (("x",) if isinstance(layer, UserSigmoid) else ("x", "W", "b"))
    assert "backward() agrees with the loss's curvature" in str(report).splitlines()[0]


def test_a_cs231n_pair_passes() -> None:
    def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        return np.tanh(x @ w + b), (x, w, b)

    def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, w, b = cache
        da = dout * (1 - np.tanh(x @ w + b) ** 2)
        return da @ w.T, x.T @ da, da.sum(axis=0)

    rng = np.random.default_rng(1)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    assert symgrad.check_hessian((affine_forward, affine_backward), x=X, params=params).ok


@pytest.mark.parametrize(
    "layer", [FirstCallSigmoid(), _affine(StaleWeightGradientAffine)], ids=["sigmoid", "affine-dW"]
)
def test_a_users_backward_with_a_stale_cache_fails(layer: Any) -> None:
    report = symgrad.check_hessian(layer, x=X)
    assert not report.ok
    (row,) = report.rows
    assert row.status == "FAIL"
    assert "stale cache" in row.message


def test_the_report_is_deterministic() -> None:
    net = symgrad.network_from_spec("affine(3,4) > tanh > affine(4,2) > half-squared-error")
    assert str(symgrad.check_hessian(net, seed=5)) == str(symgrad.check_hessian(net, seed=5))
    assert str(symgrad.check_hessian(net, seed=5)) != str(symgrad.check_hessian(net, seed=6))


def test_bad_arguments() -> None:
    with pytest.raises(UnknownNameError, match="x="):
        symgrad.check_hessian(UserSigmoid())
    with pytest.raises(UnknownNameError, match="seed"):
        symgrad.check_hessian(symgrad.article_network(), seed=-1)


def test_the_core_refuses_a_gradient_of_the_wrong_shape() -> None:
    def f(v: dict[str, Any]) -> float:
        return float(np.sum(v["x"] ** 2))

    with pytest.raises(ShapeError, match="the gradient of x has shape"):
        hessian_vector_check(f, lambda v: {"x": np.zeros(3)}, {"x": np.ones(2)}, ["x"])


def test_a_symmetric_but_wrong_hessian_is_still_caught_by_the_loss() -> None:
    """2x the true gradient: H u and H w are symmetric, yet twice the loss's curvature."""

    def f(v: dict[str, Any]) -> float:
        return float(np.sum(np.sin(v["x"])))

    result = hessian_vector_check(f, lambda v: {"x": 2 * np.cos(v["x"])}, {"x": np.array([0.3, 1.0, -2.0])}, ["x"])
    assert not result.ok
    w_hu, u_hw = result.comparisons[:2]
    assert w_hu.from_gradient == pytest.approx(u_hw.from_gradient, rel=1e-8)
    assert w_hu.from_gradient == pytest.approx(2 * w_hu.from_loss, rel=1e-6)


def test_a_float32_layer_is_checked_at_its_precision_and_float16_is_refused() -> None:
    x32 = X.astype(np.float32)
    report = symgrad.check_hessian(UserSigmoid(), x=x32)
    assert report.ok, str(report)
    assert report.dtype == "float32"
    assert report.rtol == 1e-2
    assert "computed in float32" in str(report)
    assert not symgrad.check_hessian(FirstCallSigmoid(), x=x32).ok  # still catches the stale cache
    with pytest.raises(DTypeError, match="computes in float16, where second differences keep no digits"):
        symgrad.check_hessian(UserSigmoid(), x=X.astype(np.float16))


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


def _relu_point(offset: float) -> tuple[symgrad.Network, dict[str, Any]]:
    """A ReLU network at a point where sample 0's first hidden unit has the input ``offset``."""
    from symgrad.check.points import sample_values

    net = symgrad.network_from_spec("affine(2,3) > relu > affine(3,1) > half-squared-error")
    values = sample_values(net, seed=0, batch=4)
    z = values["x"] @ values["W1"] + values["b1"]
    values["b1"] = values["b1"] - z[0] + np.array([offset, 0.5, -0.5])
    return net, values


def test_a_hessian_check_whose_stencil_crosses_a_relu_kink_is_reported_as_a_kink_not_a_failure() -> None:
    net, values = _relu_point(1e-7)
    report = symgrad.check_hessian(net, values)
    assert [row.status for row in report.rows] == ["kink", "kink"]
    assert report.rows[0].message == (
        "symbolic: a second-difference stencil crosses a ReLU kink, where the second derivative is not defined; "
        "not comparable at this point (try another seed)"
    )


def test_a_hessian_check_of_a_relu_network_away_from_its_kinks_passes() -> None:
    net, values = _relu_point(0.3)
    assert [row.status for row in symgrad.check_hessian(net, values).rows] == ["ok", "ok"]


def test_a_stale_backward_in_a_relu_network_away_from_its_kinks_still_fails() -> None:
    # the kink test looks for a ReLU input changing sign along the stencils: none does here, so FAIL stands
    StaleSigmoid.first.clear()
    net = Network([Affine(3, 4), StaleSigmoid(), Affine(4, 4), symgrad.ReLU(), Affine(4, 2)], loss=HalfSquaredError())
    report = symgrad.check_hessian(net, seed=1)
    assert [row.status for row in report.rows] == ["ok", "FAIL"]


class ForgetsDw:
    """y = x @ W; backward() returns dx but stores no dW."""

    def __init__(self) -> None:
        self.W = np.random.default_rng(2).standard_normal((3, 2))
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout @ self.W.T


def test_a_users_layer_storing_no_gradient_is_a_clear_error_in_the_hessian_check() -> None:
    with pytest.raises(LayerError, match=r"ForgetsDw's backward gave no gradient for W; check_layer says more"):
        symgrad.check_hessian(ForgetsDw(), x=np.random.default_rng(3).standard_normal((4, 3)))
