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


class Float32OutSigmoid(UserSigmoid):
    """Takes float64 x, computes and returns float32 (a layer with float32 weights does this)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return super().forward(np.asarray(x, dtype=np.float32))


def test_a_layer_returning_float32_from_float64_input_is_checked_at_float32_precision() -> None:
    report = symgrad.check_hessian(Float32OutSigmoid(), x=X)
    assert report.dtype == "float32"
    assert report.ok, str(report)


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


# --- piecewise-linear layers: a zero Hessian, and kinks inside the stencils ------------------------------


class BookRelu:
    """ReLU as the DLFS book writes it: the mask kept by forward, dout zeroed in place by backward."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class StaleMaskRelu(BookRelu):
    """Keeps the mask of its first forward: right at that point, wrong once an input changes sign."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "mask"):
            self.mask = x <= 0
        return np.maximum(x, 0)


def _away_from_zero(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(4, 5)) * rng.uniform(0.3, 2.0, size=(4, 5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_relu_away_from_its_kinks_passes(seed: int) -> None:
    # Regression: the Hessian of <dout, relu(x)> is zero there, so both sides were rounding noise
    # (about 1e-10) and their relative difference, measured against that noise, was about 1: FAIL.
    report = symgrad.check_hessian(BookRelu(), x=_away_from_zero(seed), seed=seed)
    assert report.ok, str(report)
    assert report.rows[0].status == "ok"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_relu_with_inputs_within_the_stencil_of_zero_gets_the_kink_status(seed: int) -> None:
    x = _away_from_zero(seed)
    x[1, 2], x[3, 0] = 1e-4, -2e-4  # the loss stencils (about 5e-3 long) cross 0 here
    report = symgrad.check_hessian(BookRelu(), x=x, seed=seed)
    (row,) = report.rows
    assert row.status == "kink", str(report)
    assert report.ok
    assert "kink" in row.message
    assert "not comparable at a kink" in str(report).splitlines()[0]


def test_a_smooth_layer_with_a_stale_cache_is_not_excused_as_a_kink() -> None:
    x = X.copy()
    x[0, 0] = 1e-4  # near zero, where a ReLU would have a kink: a sigmoid has none
    report = symgrad.check_hessian(FirstCallSigmoid(), x=x)
    assert report.rows[0].status == "FAIL"


def test_a_relu_with_a_stale_mask_is_not_called_wrong_where_no_input_changes_sign() -> None:
    # A stale mask gives right gradients wherever no input changed sign since the first forward, so
    # along the small stencils it is right; the second-order check has nothing to see (zero Hessian both
    # ways) and says so by passing. This pins that it does not call the layer wrong for it.
    report = symgrad.check_hessian(StaleMaskRelu(), x=_away_from_zero(4))
    assert report.ok


def test_kink_detection_on_its_own() -> None:
    from symgrad.numeric.hessian import _kinked

    direction = {"x": np.array([1.0])}

    def at(d: Any, step: float) -> dict[str, Any]:
        return {"x": np.array([0.7]) + step * d["x"]}

    s = 1e-2
    for kink in (0.7 + s / 3, 0.7 - s / 5, 0.7 + 0.9 * s):  # s / 3: the two-level test's blind spot
        def bent(v: dict[str, Any], kink: float = kink) -> float:
            return float(abs(v["x"][0] - kink) * 3.0 + v["x"][0] ** 2)

        assert _kinked(bent, at, direction, s, bent(at(direction, 0.0)), 2.2e-16), kink
    smooth = lambda v: float(np.sin(3 * v["x"][0]) * 5)  # noqa: E731
    assert not _kinked(smooth, at, direction, s, smooth(at(direction, 0.0)), 2.2e-16)
    far = lambda v: float(abs(v["x"][0] - 0.7 - 2 * s))  # noqa: E731  # the kink outside every stencil
    assert not _kinked(far, at, direction, s, far(at(direction, 0.0)), 2.2e-16)


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


def _relu_point(offset: float) -> tuple[symgrad.Network, dict[str, Any]]:
    """A ReLU network at a point where sample 0's first hidden unit has the input ``offset``."""
    from symgrad.check.points import sample_values

    net = symgrad.network_from_spec("affine(2,3) > relu > affine(3,1) > half-squared-error")
    values = sample_values(net, seed=0, batch=4)
    z = values["x"] @ values["W1"] + values["b1"]
    values["b1"] = values["b1"] - z[0] + np.array([offset, 0.5, -0.5])
    return net, values


@pytest.mark.parametrize(
    ("u", "w", "crosses"),
    [
        (0.3, 0.3, True),  # only u + w, stepped backwards, reaches the kink at -0.5 s
        (0.3, -0.3, True),  # only u - w does
        (-0.6, 0.0, True),  # u itself, stepped forwards
        (0.3, 0.1, False),  # no stencil end reaches it
    ],
)
def test_a_relu_input_changing_sign_at_any_end_of_any_loss_stencil_is_a_kink(u: float, w: float, crosses: bool) -> None:
    # The stencils of the second differences go along u, w, u + w and u - w, each both ways, by the loss step s.
    from symgrad.check.hessian import _near_kink
    from symgrad.numeric.hessian import HessianResult

    s = 1e-3
    net = Network([Affine(1, 1), symgrad.ReLU()], loss=HalfSquaredError())
    arrays = {"x": np.ones((1, 1)), "t": np.zeros((1, 1)), "W1": np.ones((1, 1)), "b1": np.array([-1.0 + 0.5 * s])}
    zero = {"W1": np.zeros((1, 1)), "b1": np.zeros(1)}
    result = HessianResult((), {**zero, "W1": np.full((1, 1), u)}, {**zero, "W1": np.full((1, 1), w)}, {}, {}, s,
                           0, 0, 1e-6)
    assert _near_kink(net, arrays, result) is crosses


def test_a_hessian_check_whose_stencil_crosses_a_relu_kink_is_reported_as_a_kink_not_a_failure() -> None:
    net, values = _relu_point(1e-7)
    report = symgrad.check_hessian(net, values)
    assert [row.status for row in report.rows] == ["kink", "kink"]
    assert report.rows[0].message == (
        "symbolic: a second-difference stencil crosses a kink (a point where the function is not smooth, such as "
        "ReLU's at 0), where the second derivative is not defined; not comparable at this point (try another point "
        "or seed)"
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


def test_a_failed_comparison_pays_six_loss_evaluations_per_direction_looked_at_for_a_kink() -> None:
    x = _away_from_zero(0)
    x[1, 2] = 1e-4
    kinked = symgrad.check_hessian(BookRelu(), x=x)
    assert kinked.rows[0].status == "kink"
    # a third Richardson level first (the kink's estimate is wide: 24 more); the search stops at the first kink
    assert kinked.loss_calls in (41 + 6, 41 + 12, 41 + 18, 41 + 24)
    assert symgrad.check_hessian(BookRelu(), x=_away_from_zero(0)).loss_calls == 17  # nothing failed: no search


def test_rounding_of_a_large_loss_is_not_taken_for_a_kink() -> None:
    from symgrad.numeric.hessian import _kinked

    direction = {"x": np.array([1.0])}

    def at(d: Any, step: float) -> dict[str, Any]:
        return {"x": np.array([0.7]) + step * d["x"]}

    def smooth(v: dict[str, Any]) -> float:  # |f| = 1e6: its second differences at s/4 = 2.5e-6 are mostly rounding
        return float(1e6 + np.sin(3 * v["x"][0]))

    assert not _kinked(smooth, at, direction, 1e-5, smooth(at(direction, 0.0)), 2.2e-16)


def test_check_hessian_s_default_seed_is_0_as_check_s_and_check_layer_s() -> None:
    net = symgrad.network_from_spec("affine(3,2) > tanh > affine(2,1) > half-squared-error")
    default, zero = symgrad.check_hessian(net), symgrad.check_hessian(net, seed=0)
    assert default.seed == 0
    assert str(default) == str(zero)


class SteepSine:
    """y = sin(k x) / k^2, its backward right."""

    def __init__(self, k: float) -> None:
        self.k = k

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.sin(self.k * x) / self.k**2

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * np.cos(self.k * self.x) / self.k


@pytest.mark.parametrize("seed", range(4))
def test_a_steep_correct_layer_is_not_failed_by_a_capped_estimate(seed: int) -> None:
    """Regression (bug: the Hessian check capped its error estimate at 10 rtol and FAILed correct steep
    functions); far too steep for any step, the verdict is "not comparable", never "FAIL"."""
    x = 2 * np.random.default_rng(seed).standard_normal((2, 2))
    assert symgrad.check_hessian(SteepSine(100.0), x=x, seed=seed).ok
    assert symgrad.check_hessian(SteepSine(3000.0), x=x, seed=seed).rows[0].status != "FAIL"


def test_an_unresolved_row_says_the_differences_did_not_converge() -> None:
    from symgrad.check.hessian import HessianReport, _row
    from symgrad.numeric.hessian import hessian_vector_check

    x = {"x": 2 * np.random.default_rng(2).standard_normal(4)}
    result = hessian_vector_check(lambda v: float(np.sum(np.sin(1000 * v["x"]))) / 1e6,
                                  lambda v: {"x": np.cos(1000 * v["x"]) / 1000}, x, ["x"], seed=2)
    row = _row("backward()", result, kink=False)
    assert row.status == "unresolved"
    assert row.passed
    assert "did not converge as the step was halved" in row.message
    report = HessianReport("f", (row,), ("x",), 2, 1e-6, result.gradient_calls, result.loss_calls)
    assert "backward() not verified (differences did not converge)" in str(report)
