"""check(): symbolic vs backward() vs finite differences, and what it says when they disagree."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import (
    Affine,
    CheckReport,
    CheckRow,
    DTypeError,
    HalfSquaredError,
    MeanSquaredError,
    Network,
    NonFiniteError,
    ReLU,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    UnknownNameError,
)
from symgrad.check import report
from symgrad.check.compare import compare, noise_floor
from symgrad.check.points import sample_values
from symgrad.numeric import finite
from symgrad.numeric.reference import relu_inputs

ARTICLE_NAMES = ["w1", "b1", "w2", "b2", "x"]


def mlp(width: int, loss, inputs: int = 3, outputs: int = 3) -> Network:
    return Network(
        [Affine(inputs, width), Sigmoid(), Affine(width, width), Tanh(), Affine(width, width), ReLU(),
         Affine(width, outputs)],
        loss=loss,
    )


LOSSES = [SoftmaxCrossEntropy, HalfSquaredError, MeanSquaredError]


def pairwise_max_error(row: CheckRow) -> float:
    sides = [row.symbolic, row.backward, row.numeric]
    return max(compare(a, b).rel_error for i, a in enumerate(sides) for b in sides[i + 1:])


@pytest.mark.parametrize("seed", range(6))
def test_article_agrees_three_ways_with_central_differences(seed):
    report = symgrad.check(symgrad.article_network(), seed=seed)
    assert isinstance(report, CheckReport)
    assert report.ok
    assert [row.name for row in report.rows] == ARTICLE_NAMES
    for row in report.rows:
        assert row.status == "ok"
        assert row.rel_error <= 1e-9
        assert pairwise_max_error(row) <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_article_agrees_to_1e_13_with_the_complex_step(seed):
    report = symgrad.check(symgrad.article_network(), seed=seed, method="complex")
    assert report.ok
    assert report.method == "complex"
    for row in report.rows:
        assert pairwise_max_error(row) <= 1e-13


@pytest.mark.parametrize("seed", range(3))
def test_article_agrees_with_richardson(seed):
    report = symgrad.check(symgrad.article_network(), seed=seed, method="richardson")
    assert report.ok
    assert max(pairwise_max_error(row) for row in report.rows) <= 1e-10


def test_report_values_are_the_seeded_point():
    report = symgrad.check(symgrad.article_network(), seed=4)
    assert report.values == sample_values(symgrad.article_network(), seed=4)
    assert report.seed == 4
    assert report.evaluations == 5 * 5 + 1  # central: a 3-point pilot and a pair per element, f(v)


class DoubledWeightGradientAffine(Affine):
    """A reference backward with a bug: dW twice too large."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = 2 * self.dW
        return dx


def test_a_wrong_backward_fails_and_names_the_parameter():
    net = Network([Affine(3, 4), Sigmoid(), DoubledWeightGradientAffine(4, 2)], loss=HalfSquaredError())
    report = symgrad.check(net)
    assert not report.ok
    (row,) = report.failures
    assert row.name == "W2"
    assert row.status == "FAIL"
    assert not row.passed
    assert row.worst_pair == "backward vs symbolic"
    assert row.message.startswith("W2[")
    assert "backward() is the odd one out" in row.message
    assert report.row("W1").passed
    assert report.row("x").passed


def test_a_wrong_scalar_backward_fails_and_names_the_parameter():
    class WrongBias(Affine):
        def backward(self, dout):
            dx = super().backward(dout)
            self.db = -self.db
            return dx

    net = Network([Affine(name="1"), WrongBias(name="2")], loss=HalfSquaredError())
    report = symgrad.check(net, seed=1)
    assert [row.name for row in report.failures] == ["b2"]
    assert "b2" in report.row("b2").message
    assert "backward() is the odd one out" in report.row("b2").message


class DoubledRuleAffine(Affine):
    """A symbolic rule with a bug (its reference backward is right)."""

    def matrix_vjp(self, upstream, x, params, *, kink=0):
        rules = super().matrix_vjp(upstream, x, params, kink=kink)
        return {**rules, "W": 2 * rules["W"]}


def test_a_wrong_symbolic_rule_is_the_odd_one_out():
    net = Network([DoubledRuleAffine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    report = symgrad.check(net)
    assert [row.name for row in report.failures] == ["W1"]
    assert "the symbolic derivation is the odd one out" in report.row("W1").message


@pytest.fixture(scope="module")
def small_net():
    return Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())


def with_value(net, name, value):
    values = sample_values(net, seed=0)
    values[name] = value
    return values


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("W1", np.full((3, 4), np.nan), NonFiniteError, "W1"),
        ("x", np.array([[1.0, np.inf, 0.0]] * 4), NonFiniteError, r"x\[0, 1\] = inf"),
        ("W1", np.ones((3, 4), dtype=np.int64), DTypeError, "W1"),
        ("W1", np.zeros((4, 3)), ShapeError, r"'W1' has shape \(4, 3\); expected \(3, 4\)"),
        ("b1", np.zeros((1, 4)), ShapeError, r"'b1' has shape \(1, 4\); expected \(4,\)"),
        ("x", np.zeros(3), ShapeError, r"'x' has shape \(3,\); expected \(N, 3\)"),
        ("W3", np.zeros((2, 2)), UnknownNameError, "unknown input 'W3'"),
    ],
)
def test_bad_values_raise_symgrad_errors(small_net, name, value, error, match):
    with pytest.raises(error, match=match):
        symgrad.check(small_net, with_value(small_net, name, value))


def test_missing_value_is_an_unknown_name_error(small_net):
    values = sample_values(small_net, seed=0)
    del values["b2"]
    with pytest.raises(UnknownNameError, match="missing value for 'b2'"):
        symgrad.check(small_net, values)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"method": "forward"}, "unknown finite-difference method"), ({"mode": "quick"}, "unknown mode"),
     ({"wrt": ["W9"]}, "cannot differentiate with respect to 'W9'"), ({"kink": 2}, "kink must be"),
     ({"values": [1.0, 2.0]}, "values must be a mapping"), ({"seed": -1}, "seed must be"),
     ({"seed": 1.5}, "seed must be"),
     ({"rtol": -1e-3}, "rtol must be"), ({"rtol": "1e-3"}, "rtol must be"), ({"progress": 3}, "progress must be")],
)
def test_bad_arguments_raise_unknown_name_errors(small_net, kwargs, match):
    with pytest.raises(UnknownNameError, match=match):
        symgrad.check(small_net, **kwargs)


@pytest.mark.parametrize("thing", ["affine(3, 4) > half-squared-error", None, symgrad.gradient("3*x + 4*y")])
def test_check_takes_networks_and_their_derivations(thing):
    with pytest.raises(UnknownNameError, match="check\\(\\) takes a symgrad Network"):
        symgrad.check(thing)


@pytest.mark.parametrize("batch", [0, -1, 2.5, True])
def test_bad_batch_is_a_shape_error(small_net, batch):
    with pytest.raises(ShapeError, match="batch must be a positive integer"):
        symgrad.check(small_net, batch=batch)


def test_float32_values_are_checked(small_net):
    values = {name: np.asarray(v, dtype=np.float32) for name, v in sample_values(small_net, seed=3).items()}
    assert symgrad.check(small_net, values).ok


def test_rtol_override_tightens_and_loosens():
    slightly_wrong = Network([Affine(3, 4), Sigmoid(), _ScaledWeightGradient(4, 2)], loss=HalfSquaredError())
    assert not symgrad.check(slightly_wrong).ok
    assert symgrad.check(slightly_wrong, rtol=1e-4).ok
    tight = symgrad.check(symgrad.article_network(), rtol=1e-30)
    assert not tight.ok
    assert all(row.tolerances["exact"] == 1e-30 for row in tight.rows)


class _ScaledWeightGradient(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW * (1 + 1e-6)
        return dx


def test_check_a_derivation_and_a_subset():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    d = symgrad.derive(net, wrt=["W1", "x"])
    report = symgrad.check(d)
    assert [row.name for row in report.rows] == ["W1", "x"]
    assert report.ok
    assert [row.name for row in symgrad.check(net, wrt=["b2"]).rows] == ["b2"]
    subset = symgrad.check(symgrad.derive(net), wrt="b2")
    assert [row.name for row in subset.rows] == ["b2"]
    assert subset.evaluations == 5 * 2 + 1  # only b2 is swept
    with pytest.raises(UnknownNameError, match="cannot check 'b2'"):
        symgrad.check(d, wrt=["b2"])


def kink_network_values():
    """Values with one ReLU input 1e-7 from 0: well inside a finite-difference step."""
    net = Network([Affine(2, 3), ReLU(), Affine(3, 1)], loss=HalfSquaredError())
    values = sample_values(net, seed=0, batch=2)
    z = values["x"] @ values["W1"] + values["b1"]
    values["b1"] = values["b1"] - z[0] + np.array([1e-7, 0.3, -0.2])
    return net, values


def test_a_stencil_across_a_relu_kink_is_answered_with_the_one_sided_derivatives_not_fail():
    net, values = kink_network_values()
    assert np.min(np.abs(relu_inputs(net, values)[0])) < 1e-6
    report = symgrad.check(net, values)
    assert report.ok
    kinks = [row for row in report.rows if row.status in ("kink", "subgradient")]
    assert report.row("b1").status == "subgradient", str(report)
    assert "a valid subgradient" in report.row("b1").message
    for row in kinks:
        assert row.passed
        assert "straddles a ReLU kink; the one-sided derivatives along this element are " in row.message
        # symbolic and backward still agree exactly
        assert compare(row.symbolic, row.backward).rel_error <= 1e-12


def test_a_relu_input_exactly_at_zero_is_mentioned_when_conventions_differ():
    net, values = kink_network_values()
    z = values["x"] @ values["W1"] + values["b1"]
    values["b1"] = values["b1"] - z[0] + np.array([0.0, 0.3, -0.2])
    assert symgrad.check(net, values).ok  # kink=0 is the reference ReLU's own convention
    report = symgrad.check(net, values, kink=0.5)
    assert not report.row("b1").passed
    assert "exactly 0" in report.row("b1").message


def test_regression_zero_gradient_at_a_stationary_point_is_not_a_failure():
    """At y == t every gradient is exactly 0 and central differences return rounding noise
    (~5e-17); relative to 0 that was an error of 1, and check() failed b1 and b2."""
    values = {"x": 1, "t": 1, "w1": 1, "b1": 0, "w2": 1, "b2": 0}
    report = symgrad.check(symgrad.article_network(), values)
    assert report.ok, [row.message for row in report.failures]
    # A wrong backward is still caught there.
    class Wrong(Affine):
        def backward(self, dout):
            dx = super().backward(dout)
            self.db = self.db + 1e-6
            return dx

    wrong = symgrad.check(Network([Affine(name="1"), Wrong(name="2")], loss=HalfSquaredError()), values)
    assert [row.name for row in wrong.failures] == ["b2"]


def test_check_twice_with_the_same_seed_gives_identical_rows():
    net = mlp(3, SoftmaxCrossEntropy())
    first, second = symgrad.check(net, seed=11), symgrad.check(net, seed=11)
    assert [repr(row) for row in first.rows] == [repr(row) for row in second.rows]
    other = symgrad.check(net, seed=12)
    assert repr(other.rows[0]) != repr(first.rows[0])


@pytest.mark.parametrize("loss", LOSSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("method", ["central", "complex"])
def test_depth4_mlp_full_sweep_agrees(loss, method):
    report = symgrad.check(mlp(4, loss()), seed=1, batch=3, method=method)
    assert report.ok, [row.message for row in report.failures]
    assert [row.name for row in report.rows] == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4", "x"]
    for row in report.rows:
        assert compare(row.symbolic, row.backward).rel_error <= 1e-9
        assert row.symbolic.shape == row.shape


@pytest.mark.parametrize("loss", LOSSES, ids=lambda cls: cls.__name__)
def test_depth4_mlp_fast_mode_at_width_64(loss):
    report = symgrad.check(mlp(64, loss()), seed=2, mode="fast")
    assert report.ok, [row.message for row in report.failures]
    assert report.mode == "fast"
    assert report.directional is not None
    assert report.directional.max_rel_error <= 1e-6
    assert report.evaluations < 50  # a few forward passes, not two per element
    assert all(row.numeric is None for row in report.rows)


def test_fast_mode_catches_a_wrong_backward_and_a_wrong_rule():
    layers = [Affine(8, 64), Sigmoid(), DoubledWeightGradientAffine(64, 4)]
    report = symgrad.check(Network(layers, loss=SoftmaxCrossEntropy()), mode="fast")
    assert [row.name for row in report.failures] == ["W2"]
    wrong_rule = Network([DoubledRuleAffine(8, 64), Sigmoid(), Affine(64, 4)], loss=SoftmaxCrossEntropy())
    report = symgrad.check(wrong_rule, mode="fast")
    assert "W1" in [row.name for row in report.failures]
    assert "along a random direction" in report.row("W1").message


def test_progress_is_reported_up_to_the_total():
    seen = []
    symgrad.check(symgrad.article_network(), progress=lambda done, total: seen.append((done, total)))
    assert seen
    assert seen[-1] == (26, 26)  # 5 per element (pilot and chosen pair), 1 at the point


def test_report_accessors_and_printing():
    report = symgrad.check(symgrad.article_network())
    assert report.failures == ()
    assert report.row("w2").name == "w2"
    with pytest.raises(UnknownNameError, match="no row 'w9'"):
        report.row("w9")
    assert "CheckRow(name='w1'" in repr(report.rows[0])
    assert repr(report).startswith("CheckReport(")
    assert "w1" in str(report)


def test_softmax_targets_whose_rows_do_not_sum_to_one_are_named_as_the_cause():
    # (softmax(y) - t) / N assumes each row of t sums to 1; with other targets symbolic and
    # backward agree with each other and not with finite differences, which alone would blame
    # the finite differences.
    net = Network([Affine(3, 4)], loss=SoftmaxCrossEntropy())
    values = sample_values(net, seed=0)
    assert symgrad.check(net, values).notes == ()
    values["t"] = np.full((4, 4), 0.5)  # rows sum to 2
    for mode in ("full", "fast"):
        report = symgrad.check(net, values, mode=mode)
        assert not report.ok
        assert any("row 0 of t sums to 2" in note for note in report.notes)
        assert all("the likely cause is the point itself" in row.message for row in report.failures)
        assert all("odd one out" not in row.message for row in report.failures)
    soft = values | {"t": np.full((4, 4), 0.25)}  # soft labels are fine
    assert symgrad.check(net, soft).ok


def test_scalar_depth4_network_checks():
    net = Network([Affine(), Sigmoid(), Affine(), Tanh(), Affine(), ReLU(), Affine()], loss=HalfSquaredError())
    for seed in range(3):
        report = symgrad.check(net, seed=seed)
        assert report.ok, [row.message for row in report.failures]
        assert [row.name for row in report.rows] == ["w1", "b1", "w2", "b2", "w3", "b3", "w4", "b4", "x"]


def test_each_row_shows_the_numeric_values_estimated_error():
    report = symgrad.check(symgrad.article_network())
    for row in report.rows:
        # relative like rel_error: the central differences' error at the default step, about 1e-11
        assert row.numeric_error is not None
        assert 1e-14 < row.numeric_error < 1e-8
        assert row.rel_error <= row.tolerances["central"]
    (header,) = [line for line in str(report).splitlines() if line.startswith("  name")]
    assert header.split() == ["name", "shape", "symbolic", "backward()", "numeric", "numeric", "±", "rel", "error",
                              "status"]
    assert "numeric ±: the finite differences' estimated error" in str(report)


def test_a_failure_against_finite_differences_says_how_far_off_they_could_be():
    net = Network([Affine(3, 4), Sigmoid(), DoubledRuleAffine(4, 2)], loss=HalfSquaredError())
    row = symgrad.check(net).row("W2")
    assert row.status == "FAIL"
    assert "The numeric value's own error there is estimated at" in row.message
    assert "beside a disagreement of" in row.message
    assert row.numeric_error is not None
    assert row.numeric_error < 1e-6 < row.rel_error


def test_a_users_layer_rows_carry_the_numeric_error_estimate_too():
    class MyAffine:
        def __init__(self, W, b):
            self.W, self.b = W, b

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, dout):
            self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
            return dout @ self.W.T

    rng = np.random.default_rng(0)
    layer = MyAffine(rng.standard_normal((3, 2)), np.zeros(2))
    report = symgrad.check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert report.ok
    for row in report.rows:
        assert row.numeric_error is not None
        assert 1e-14 < row.numeric_error < 1e-8


def test_the_sweep_cost_counts_each_parameter_once_per_row_of_x(monkeypatch):
    rng = np.random.default_rng(5)
    arrays = {"x": rng.standard_normal((4, 3)), "t": rng.standard_normal((4, 2)),
              "W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
    names = ("x", "W1", "b1")
    evaluations = finite.total_evaluations(arrays, names, "central")
    per_forward = 4 * 3 + 4 * 2 + 4 * (3 * 2) + 4 * 2  # x and t once; W and b once per row
    monkeypatch.setattr(report, "MAX_SWEEP_WORK", evaluations * per_forward)
    report.refuse_long_sweep(arrays, names, "central")  # exactly at the limit: allowed
    monkeypatch.setattr(report, "MAX_SWEEP_WORK", evaluations * per_forward - 1)
    with pytest.raises(symgrad.ComplexityError, match=f"{evaluations:,} forward evaluations of about {per_forward:,} "
                                                      "operations each"):
        report.refuse_long_sweep(arrays, names, "central")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"], ids=repr)
@pytest.mark.parametrize("mode", ["fast", "full"])
def test_a_bad_seed_is_refused_with_given_values_too(small_net, seed, mode):
    values = sample_values(small_net, seed=0)
    with pytest.raises(UnknownNameError, match=f"seed must be a non-negative integer, got {seed!r}"):
        symgrad.check(small_net, values, seed=seed, mode=mode)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fast_mode_names_a_symbolic_gradient_that_is_not_finite(monkeypatch, bad):
    # Fast mode learns that a symbolic gradient is finite from the directional check's inner
    # product; one that is not is still named, as in full mode.
    from symgrad.numeric.compile import CompiledGradient

    original = CompiledGradient.evaluate

    def spoiled(self, values, **kwargs):
        loss, grads = original(self, values, **kwargs)
        grads = dict(grads, W2=np.array(grads["W2"]))
        grads["W2"][1, 0] = bad
        return loss, grads

    monkeypatch.setattr(CompiledGradient, "evaluate", spoiled)
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError(), title="spoiled")
    with pytest.raises(NonFiniteError, match=r"the symbolic dE/dW2 is not finite"):
        symgrad.check(net, mode="fast")


def test_fast_mode_computes_the_element_relative_error_when_read():
    net = Network([Affine(300, 200), Sigmoid(), Affine(200, 3)], loss=HalfSquaredError())
    report = symgrad.check(net, mode="fast")
    row = report.row("W1")
    assert callable(row.__dict__["_lazy_elem_rel_error"])  # W1 has more elements than a chunk
    expected = compare(row.backward, row.symbolic).elem_rel_error
    assert row.elem_rel_error == expected
    assert row.__dict__["_lazy_elem_rel_error"] == expected  # computed once, then kept


@pytest.mark.parametrize(("wrt", "said"), [(5, "wrt must be a name or a list of names, got int"),
                                          (["W1", 3], "cannot differentiate with respect to 3")])
def test_a_wrt_that_is_not_a_list_of_names_is_refused_by_name(wrt, said):
    net = symgrad.network_from_spec("affine(3,2) > sigmoid > affine(2,1) > half-squared-error")
    with pytest.raises(symgrad.UnknownNameError, match=said):
        symgrad.check(net, wrt=wrt)


def test_a_report_cannot_be_changed_after_the_check():
    import dataclasses

    found = symgrad.check(symgrad.network_from_spec("affine(2,2) > tanh > affine(2,1) > half-squared-error"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.rows = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.rows[0].status = "FAIL"  # type: ignore[misc]


# -- the noise floor per entry --------------------------------------------------------------------------


def _row_with_one_small_step(error: float) -> report.CheckRow:
    """A W1 row whose numeric gradient is off by ``error`` at [0, 1], while entry [1, 1] took a step 8x smaller
    than the default (as the adaptive sweep does where f''' is large). Gradients of about 1e-4 sit below the
    noise floor, so the floor decides."""
    net = Network([Affine(2, 2), Tanh(), Affine(2, 1)], loss=HalfSquaredError())
    arrays = sample_values(net, seed=0)
    rng = np.random.default_rng(5)
    sym = 1e-4 * rng.uniform(0.5, 1.5, size=(2, 2)) * rng.choice([-1.0, 1.0], size=(2, 2))
    num = sym.copy()
    num[0, 1] += error
    steps = np.full((2, 2), 6e-6)
    steps[1, 1] = 6e-6 / 8
    result = finite.FiniteResult({"W1": num}, 0, "central", {"W1": steps}, {"W1": np.zeros((2, 2))})
    return report._full_row("W1", sym, sym.copy(), result, None, net, arrays, loss=0.5)


def test_noise_floor_per_entry_does_not_hide_a_wrong_entry_behind_another_entrys_small_step():
    """Regression (bug: the numeric noise floor of a whole array came from its smallest step; since central
    differences choose a step per element, one step 8x smaller than the default raised every entry's floor
    8x and hid this 1e-9 disagreement, 2.7 tolerances against its own floor, 0.34 against the raised one)."""
    row = _row_with_one_small_step(1e-9)
    assert row.status == "FAIL", row.message
    assert row.worst_index == (0, 1)
    assert row.rel_error == pytest.approx(1e-9 / noise_floor("central", 0.5, 6e-6), rel=1e-6)
    assert _row_with_one_small_step(0.0).status == "ok"
    assert _row_with_one_small_step(1e-10).status == "ok"  # within its own entry's floor
