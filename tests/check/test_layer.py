"""Tests of check_layer: users' own layers in the article's protocol and as function pairs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad
from symgrad.check.layer import check_layer
from symgrad.errors import DTypeError, LayerError, ShapeError, SpecError, UnknownNameError


def load_catalog() -> ModuleType:
    """tests/check/wrong_layers.py, loaded by its path (tests are not a package)."""
    path = Path(__file__).with_name("wrong_layers.py")
    spec = importlib.util.spec_from_file_location("symgrad_tests_wrong_layers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


catalog = load_catalog()
SEEDS = range(100)


def _report(case, seed=0, **extra):
    layer, kwargs = case.make(np.random.default_rng(seed))
    return check_layer(layer, seed=seed, **{**kwargs, **extra})


# -- the catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", catalog.RIGHT, ids=lambda case: case.name)
def test_right_layer_passes_at_100_points_without_false_alarms(case):
    for seed in SEEDS:
        report = _report(case, seed)
        assert report.ok, str(report)
        if report.warnings:  # only where the point makes a gradient exactly zero (every ReLU input negative)
            zero = [row.name for row in report.rows if not np.any(row.backward)]
            assert zero, (seed, report.warnings)
            assert all(f"d{name}" in report.warnings[0] for name in zero), (seed, report.warnings)
        for phrase in case.notes:
            assert any(phrase in note for note in report.notes), (seed, phrase, report.notes)
        unexpected = [n for n in report.notes if not any(p in n for p in (*case.notes, *case.may_note))]
        assert not unexpected, (seed, unexpected)


@pytest.mark.parametrize("case", catalog.WRONG, ids=lambda case: case.name)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wrong_layer_fails_with_the_right_diagnosis(case, seed):
    report = _report(case, seed)
    assert not report.ok
    row = report.row(case.row)
    assert row.status == "FAIL", str(report)
    if case.keyword is None:
        assert row.message, str(report)
    elif case.diagnosed:
        assert case.keyword in row.diagnosis, str(report)
    else:
        assert case.keyword in row.message, str(report)


def test_catalog_has_at_least_20_distinct_wrong_layers():
    assert len(catalog.WRONG) >= 20
    assert len({case.name for case in catalog.WRONG}) == len(catalog.WRONG)


# -- the article's Affine without transposes (regression) ---------------------------------------------


def test_article_affine_missing_transposes_non_square_reports_the_shape_error_and_expected_shapes():
    rng = np.random.default_rng(0)
    layer = catalog.ArticleAffine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert not report.ok
    assert [row.status for row in report.rows] == ["FAIL", "FAIL", "FAIL"]
    dx, dW, db = report.rows
    assert dx.message.startswith("dx: backward() raised ValueError: shapes (4,2) and (3,2) not aligned")
    assert "expected dx = dout @ W.T, shape (4, 3)" in dx.message
    assert "expected dW = x.T @ dout, shape (3, 2)" in dW.message
    assert "expected db = dout.sum(axis=0), shape (2,)" in db.message
    assert dx.diagnosis == (
        "the failing product matches a missing transpose: dx = dout @ W multiplies shapes (4, 2) and (3, 2); "
        "expected dx = dout @ W.T"
    )


def test_article_affine_missing_transposes_square_diagnosed_in_both_gradients():
    rng = np.random.default_rng(1)
    layer = catalog.ArticleAffine(rng.standard_normal((3, 3)), np.zeros(3))
    report = check_layer(layer, symgrad.Affine(3, 3), x=rng.standard_normal((3, 3)))
    assert report.row("x").diagnosis == "matches a missing transpose: dx = dout @ W; expected dx = dout @ W.T"
    assert report.row("W").diagnosis == "matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout"
    assert report.row("b").status == "ok"
    text = str(report)
    assert "diagnosis: matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout" in text


def test_article_affine_corrected_passes():
    rng = np.random.default_rng(2)
    layer = catalog.Affine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert report.ok
    assert [row.name for row in report.rows] == ["x", "W", "b"]
    assert report.notes == ()


# -- findings that are notes, not failures -----------------------------------------------------------


def test_relu_writing_dout_in_place_is_a_note_and_str_shows_it():
    x = np.array([[1.0, -2.0, 3.0], [-0.5, 0.25, -4.0]])
    report = check_layer(catalog.Relu(), symgrad.ReLU(), x=x)
    assert report.ok
    assert len(report.notes) == 1
    assert "backward() wrote into its dout argument in place" in report.notes[0]
    assert "note: backward() wrote into its dout argument in place" in str(report)


def test_loss_layer_ignoring_dout_is_a_note_with_the_default_dout_and_a_failure_with_another():
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((4, 3)), np.eye(3)[[0, 2, 1, 0]]
    report = check_layer(catalog.SoftmaxWithLoss(), symgrad.SoftmaxCrossEntropy(), x=x, t=t)
    assert report.ok
    assert any("backward() ignores dout" in note for note in report.notes)
    scaled = check_layer(catalog.SoftmaxWithLoss(), symgrad.SoftmaxCrossEntropy(), x=x, t=t, dout=2.0)
    assert not scaled.ok
    assert scaled.row("x").diagnosis.startswith("matches dout ignored")


def test_backward_changing_a_parameter_is_a_note():
    class SelfUpdating(catalog.Affine):
        def backward(self, dout):
            dx = super().backward(dout)
            self.W -= 0.1 * self.dW  # an optimizer step inside backward
            return dx

    rng = np.random.default_rng(4)
    report = check_layer(SelfUpdating(rng.standard_normal((3, 2)), np.zeros(2)), x=rng.standard_normal((4, 3)))
    assert report.ok
    assert any("changed the parameter W" in note for note in report.notes)


def test_a_parameter_without_gradient_is_a_failing_row_not_a_silent_pass():
    rng = np.random.default_rng(5)
    layer = catalog.AffineDWNotStored(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, x=rng.standard_normal((4, 3)))
    assert [row.name for row in report.rows] == ["x", "W", "b"]
    assert report.row("W").status == "FAIL"
    assert "the output depends on, so symgrad takes it for a parameter" in report.row("W").message
    assert [report.row(name).status for name in ("x", "b")] == ["ok", "ok"]


def test_an_array_attribute_the_output_does_not_depend_on_is_a_note():
    class Scaled(catalog.Sigmoid):
        def __init__(self):
            super().__init__()
            self.unused = np.ones(3)  # kept by forward, read by nothing

    report = check_layer(Scaled(), x=np.random.default_rng(5).standard_normal((4, 3)))
    assert report.ok
    assert [row.name for row in report.rows] == ["x"]
    assert any("unused is an array attribute of Scaled" in n and "does not depend on it" in n for n in report.notes)


def test_a_named_parameter_the_layer_lacks_is_a_clear_error():
    layer = catalog.Affine(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(UnknownNameError, match=r"has no attribute 'weight', which params= names as a parameter; "
                                               r"its float array attributes are W, b"):
        check_layer(layer, x=np.ones((4, 3)), params=["weight"])


def test_forward_writing_into_x_is_a_note():
    class Centering:
        def forward(self, x):
            x -= x.mean()  # in place
            return x * 1.0

        def backward(self, dout):
            return dout - dout.mean()

    report = check_layer(Centering(), x=np.arange(6.0).reshape(2, 3))
    assert report.ok
    assert "forward() wrote into its input x" in report.notes


# -- kinks ---------------------------------------------------------------------------------------


def test_relu_at_its_kink_is_a_subgradient_not_a_failure():
    x = np.array([[0.0, 1.5, -2.0], [0.3, 0.0, -0.7]])
    report = check_layer(catalog.Relu(), symgrad.ReLU(), x=x)
    row = report.row("x")
    assert row.status == "subgradient"
    assert report.ok
    assert "forward() has a kink here" in row.message
    assert "(1 more element likewise)" in row.message


@pytest.mark.parametrize("kink", [0, 0.5, 1])
def test_kink_setting_changes_the_spec_side_only_at_zero(kink):
    x = np.array([[0.0, 1.0, -1.0]])
    report = check_layer(catalog.Relu(), symgrad.ReLU(), x=x, kink=kink, dout=np.array([[2.0, 3.0, 5.0]]))
    row = report.row("x")
    assert row.symbolic[0, 0] == pytest.approx(2.0 * kink)
    assert row.symbolic[0, 1:].tolist() == [3.0, 0.0]
    assert row.status == "subgradient"


def test_max_pooling_ties_are_kinks():
    x = np.zeros((1, 1, 2, 2))
    report = check_layer(catalog.Pooling(2, 2), x=x, dout=np.ones((1, 1, 1, 1)))
    assert report.row("x").status == "subgradient", str(report)


# -- backward that breaks the protocol --------------------------------------------------------------


def test_backward_raising_any_exception_is_a_failing_report_with_the_expected_formulas():
    class Broken(catalog.Affine):
        def backward(self, dout):
            raise AttributeError("'Broken' object has no attribute 'cache'")

    rng = np.random.default_rng(6)
    report = check_layer(Broken(rng.standard_normal((3, 2)), np.zeros(2)), symgrad.Affine(3, 2), x=np.ones((4, 3)))
    assert not report.ok
    assert report.row("x").message.startswith("dx: backward() raised AttributeError: 'Broken' object has no attribute")
    assert report.row("W").message == (
        "dW: backward() raised before returning it (see dx); expected dW = x.T @ dout, shape (3, 2)"
    )
    assert all(row.diagnosis == "" for row in report.rows)


def test_backward_returning_none_fails_with_the_expected_shape():
    class ReturnsNothing(catalog.Sigmoid):
        def backward(self, dout):
            self.dx = dout * (1.0 - self.out) * self.out

    report = check_layer(ReturnsNothing(), symgrad.Sigmoid(), x=np.ones((2, 3)))
    row = report.row("x")
    assert row.status == "FAIL"
    assert row.message == (
        "dx (backward()'s return value) is None: backward() did not compute it; "
        "expected dx = dout * out * (1 - out), shape (2, 3)"
    )


def test_pair_returning_too_few_values_fails():
    def backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout  # db forgotten

    rng = np.random.default_rng(7)
    params = {"w": rng.standard_normal((3, 2)), "b": np.zeros(2)}
    report = check_layer((catalog.affine_forward, backward), symgrad.Affine(3, 2), x=np.ones((4, 3)), params=params)
    assert not report.ok
    assert "backward returned 2 values; expected 3: (dx, dw, db)" in report.row("x").message


def test_forward_raising_is_a_layer_error():
    class NoForward:
        def forward(self, x):
            raise RuntimeError("not implemented yet")

        def backward(self, dout):
            return dout

    with pytest.raises(LayerError, match=r"NoForward's forward raised RuntimeError: not implemented yet \(x has shape"):
        check_layer(NoForward(), x=np.ones((2, 2)))


def test_forward_that_differs_from_the_spec_is_a_finding_and_gradients_use_finite_differences():
    report = check_layer(_Softplus(), symgrad.ReLU(), x=np.array([[1.0, -1.0]]))
    assert not report.ok
    forward = report.row("forward")
    assert forward.status == "FAIL"
    assert forward.message.startswith("your forward() differs from the spec's (relu(x)) at element [0, ")
    assert report.row("x").status == "ok"
    assert report.row("x").symbolic is None


# -- parameters -----------------------------------------------------------------------------------------


def test_parameters_are_discovered_from_the_gradients_backward_stores():
    rng = np.random.default_rng(8)
    layer = catalog.BatchNormalization(np.ones(3), np.zeros(3))
    report = check_layer(layer, x=rng.standard_normal((5, 3)))
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]


@pytest.mark.parametrize("params", [["W", "b"], {"W": "dW", "b": "db"}, ("W",)])
def test_parameters_given_by_name(params):
    rng = np.random.default_rng(9)
    layer = catalog.Affine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, x=rng.standard_normal((4, 3)), params=params)
    assert [row.name for row in report.rows] == ["x", *params]
    assert report.ok


def test_parameters_with_other_names_map_to_the_spec_roles_in_order():
    class Linear:
        def __init__(self, weight, bias):
            self.weight, self.bias = weight, bias

        def forward(self, x):
            self.x = x
            return x @ self.weight + self.bias

        def backward(self, dout):
            self.grad_weight = self.x @ dout  # missing transpose
            self.grad_bias = dout.sum(axis=0)
            return dout @ self.weight.T

    rng = np.random.default_rng(10)
    layer = Linear(rng.standard_normal((3, 3)), np.zeros(3))
    params = {"weight": "grad_weight", "bias": "grad_bias"}
    report = check_layer(layer, symgrad.Affine(3, 3), x=rng.standard_normal((3, 3)), params=params)
    assert report.row("weight").diagnosis == (
        "matches a missing transpose: dweight = x @ dout; expected dweight = x.T @ dout"
    )


def test_params_mapping_to_values_overrides_the_attributes():
    rng = np.random.default_rng(11)
    layer = catalog.Affine(np.zeros((3, 2)), np.zeros(2))
    W = rng.standard_normal((3, 2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)), params={"W": W, "b": "db"})
    assert report.ok
    np.testing.assert_array_equal(report.values["W"], W)


# -- arguments -----------------------------------------------------------------------------------------


def test_integer_x_is_refused():
    with pytest.raises(DTypeError, match="integer dtype"):
        check_layer(catalog.Relu(), symgrad.ReLU(), x=np.ones((2, 2), dtype=int))


def test_integer_parameter_is_refused():
    layer = catalog.Affine(np.ones((3, 2), dtype=int), np.zeros(2))
    with pytest.raises(DTypeError, match="parameter 'W' has integer dtype"):
        check_layer(layer, symgrad.Affine(3, 2), x=np.ones((4, 3)))


def test_spec_shapes_must_fit_the_layer():
    layer = catalog.Affine(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ShapeError, match=r"the spec Affine\(4, 2\) has W of shape \(4, 2\); your layer's W has shape"):
        check_layer(layer, symgrad.Affine(4, 2), x=np.ones((4, 3)))


def test_loss_spec_needs_t_and_t_needs_a_loss_spec():
    with pytest.raises(SpecError, match="is a loss: pass the target t"):
        check_layer(catalog.SoftmaxWithLoss(), symgrad.SoftmaxCrossEntropy(), x=np.ones((2, 3)))
    with pytest.raises(SpecError, match="is not a loss"):
        check_layer(catalog.Sigmoid(), symgrad.Sigmoid(), x=np.ones((2, 3)), t=np.ones((2, 3)))


def softmax_loss(x, y):
    """cs231n's softmax_loss: integer labels y, returns (loss, dx) for dout = 1 and takes no dout."""
    y = np.asarray(y).astype(int)  # float labels work here; the spec's rule needs them as integers
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return -log_p[np.arange(n), y].mean(), dx / n


def test_a_loss_with_integer_class_labels_checks_against_the_spec_and_float_labels_are_refused():
    rng = np.random.default_rng(21)
    x, labels = rng.standard_normal((5, 3)), np.array([0, 2, 1, 0, 2])
    report = check_layer(softmax_loss, symgrad.SoftmaxCrossEntropy(), x=x, t=labels)
    assert report.ok, str(report)
    assert [row.status for row in report.rows] == ["ok"]
    with pytest.raises(ShapeError, match=r"takes t of the shape of x.* pass class labels as integers"):
        check_layer(softmax_loss, symgrad.SoftmaxCrossEntropy(), x=x, t=labels.astype(float))


def test_a_loss_that_takes_no_dout_accepts_dout_1_and_refuses_any_other():
    rng = np.random.default_rng(22)
    x, labels = rng.standard_normal((4, 3)), np.array([1, 0, 2, 1])
    assert check_layer(softmax_loss, x=x, t=labels).ok
    assert check_layer(softmax_loss, x=x, t=labels, dout=1.0).ok
    with pytest.raises(UnknownNameError, match=r"returns its own gradient \(for dout = 1\) and takes no dout"):
        check_layer(softmax_loss, x=x, t=labels, dout=2.0)


class TimeAffine:
    """DLFS2's TimeAffine: one affine map applied at every step of (N, T, D)."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        d = self.W.shape[0]
        self.dW = self.x.reshape(-1, d).T @ dout.reshape(-1, dout.shape[-1])
        self.db = dout.reshape(-1, dout.shape[-1]).sum(axis=0)
        return dout @ self.W.T


class FlatteningAffine:
    """DLFS1's Affine on images: each sample of (N, C, H, W) flattened to a row."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.shape)


@pytest.mark.parametrize("steps", [2, 3])
def test_a_time_distributed_affine_checks_against_the_affine_spec_row_by_row(steps):
    rng = np.random.default_rng(23)
    layer = TimeAffine(rng.standard_normal((4, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(4, 2), x=rng.standard_normal((3, steps, 4)))
    assert report.ok, str(report)
    assert [row.status for row in report.rows] == ["ok", "ok", "ok"]
    assert all(row.symbolic is not None for row in report.rows)


def test_an_affine_on_images_checks_against_the_affine_spec_with_each_sample_flattened():
    rng = np.random.default_rng(24)
    layer = FlatteningAffine(rng.standard_normal((2 * 2 * 3, 5)), rng.standard_normal(5))
    report = check_layer(layer, symgrad.Affine(12, 5), x=rng.standard_normal((3, 2, 2, 3)))
    assert report.ok, str(report)
    assert [row.status for row in report.rows] == ["ok", "ok", "ok"]


class Lookup:
    """out = x[idx] * 2: a float input and an integer one (indices, not differentiated)."""

    def forward(self, x, idx):
        self.x, self.idx = x, idx
        return x[idx] * 2.0

    def backward(self, dout):
        dx = np.zeros_like(self.x)
        np.add.at(dx, self.idx, 2.0 * dout)
        return dx, None


def test_an_integer_input_of_one_element_is_used_and_an_empty_one_refused():
    x = np.random.default_rng(25).standard_normal((3, 2))
    report = check_layer(Lookup(), x=(x, np.array([1])))
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == ["x0"]
    with pytest.raises(ShapeError, match="x1 is empty: a layer's input needs at least one element"):
        check_layer(Lookup(), x=(x, np.zeros(0, dtype=int)))


def test_spec_must_be_a_symgrad_layer_and_method_known():
    with pytest.raises(SpecError, match="spec must be a symgrad layer"):
        check_layer(catalog.Sigmoid(), catalog.Sigmoid(), x=np.ones((2, 3)))
    with pytest.raises(UnknownNameError, match="unknown method 'forward'"):
        check_layer(catalog.Sigmoid(), x=np.ones((2, 3)), method="forward")


def test_not_a_layer_is_a_layer_error():
    with pytest.raises(LayerError, match="check_layer takes a layer with forward"):
        check_layer(42, x=np.ones(2))


def test_spec_class_is_accepted():
    report = check_layer(catalog.Tanh(), symgrad.Tanh, x=np.ones((2, 2)))
    assert report.ok
    assert report.title == "your Tanh against symgrad Tanh()"


def test_complex_step_method():
    rng = np.random.default_rng(12)
    layer = catalog.Affine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)), method="complex")
    assert report.ok
    assert report.row("W").rel_error < 1e-12


# -- hygiene -------------------------------------------------------------------------------------------


def test_the_callers_layer_and_arrays_are_not_changed():
    rng = np.random.default_rng(13)
    W, b, x = rng.standard_normal((3, 2)), np.zeros(2), rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 2))
    layer = catalog.Affine(W, b)
    copies = (W.copy(), b.copy(), x.copy(), dout.copy())
    check_layer(layer, symgrad.Affine(3, 2), x=x, dout=dout)
    relu = catalog.Relu()
    check_layer(relu, symgrad.ReLU(), x=x, dout=dout[:, :1].repeat(3, axis=1))
    for before, after in zip(copies, (W, b, x, dout), strict=True):
        np.testing.assert_array_equal(before, after)
    assert layer.x is None
    assert layer.dW is None
    assert relu.mask is None


def test_same_seed_same_report_text():
    rng = np.random.default_rng(14)
    layer = catalog.AffineDxNoTranspose(rng.standard_normal((3, 3)), np.zeros(3))
    x = rng.standard_normal((4, 3))
    first = str(check_layer(layer, symgrad.Affine(3, 3), x=x, seed=5))
    assert first == str(check_layer(layer, symgrad.Affine(3, 3), x=x, seed=5))
    assert first != str(check_layer(layer, symgrad.Affine(3, 3), x=x, seed=6))


def test_dout_and_warm_up_input_do_not_repeat_a_default_rng_x():
    """Users draw x from default_rng(0): the check's own random values must come from other streams."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    report = check_layer(catalog.SigmoidStale(), symgrad.Sigmoid(), x=x, seed=0)
    assert not np.allclose(report.values["dout"], x)
    assert "stale cache" in report.row("x").diagnosis


def test_failing_report_reads_well():
    rng = np.random.default_rng(15)
    layer = catalog.SigmoidUsesX()
    report = check_layer(layer, symgrad.Sigmoid(), x=rng.standard_normal((2, 3)))
    lines = str(report).splitlines()
    assert lines[0] == "Three-way check of your SigmoidUsesX against symgrad Sigmoid(): 1 of 1 FAIL"
    fail = next(line for line in lines if line.startswith("FAIL dx["))
    for part in ("your backward() gives", "the spec's rule", "finite differences"):
        assert part in fail
    assert "backward() is wrong" in fail
    assert lines[-1] == (
        "     diagnosis: matches the derivative written with the input x where it needs the output out: "
        "dx = dout * x * (1 - x); expected dx = dout * out * (1 - out)"
    )


class _Softplus:
    """Not a ReLU, though its backward matches its own forward."""

    def forward(self, x):
        self.x = x
        return np.log1p(np.exp(x))

    def backward(self, dout):
        return dout / (1 + np.exp(-self.x))


class _Wide(catalog.Affine):
    def forward(self, x):
        return np.concatenate([super().forward(x)] * 2, axis=1)  # twice as many outputs as the spec's


@pytest.mark.parametrize("case", [*catalog.RIGHT, *catalog.WRONG], ids=lambda case: case.name)
def test_every_report_renders_in_every_format(case):
    report = _report(case)
    for render in (str, repr, lambda r: r.to_json(), lambda r: r.to_markdown(), lambda r: r.to_html(),
                   lambda r: r.to_latex(), lambda r: r.to_mathml()):
        assert render(report)


def test_forward_mismatch_reports_render():
    rng = np.random.default_rng(16)
    reports = [
        check_layer(_Softplus(), symgrad.ReLU(), x=np.array([[1.0, -1.0]])),
        check_layer(_Wide(rng.standard_normal((3, 2)), np.zeros(2)), symgrad.Affine(3, 2), x=np.ones((4, 3))),
    ]
    assert reports[1].row("forward").message.startswith(
        "your forward() returned shape (4, 4); the spec's (x @ W + b) gives (4, 2)"
    )
    for report in reports:
        assert not report.ok
        assert report.to_html()
        assert report.to_markdown()


# -- huge values: finite differences measured against their own rounding noise ----------------------


@pytest.mark.parametrize("magnitude", [1e100, 1e200, 1e250])
def test_a_correct_affine_at_huge_inputs_passes_regression_db_false_alarm(magnitude):
    """Regression: at x ~ 1e200 a correct Affine failed on db. A step of b (about 1e-5) is lost in
    rounding next to x W ~ 1e200, so finite differences gave db = 0; the comparison now measures
    them against their noise, eps * |value| / step, and a note says db rests on the spec's rule."""
    rng = np.random.default_rng(0)
    layer = catalog.Affine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=magnitude * rng.standard_normal((4, 3)))
    assert report.ok, str(report)
    assert [row.status for row in report.rows] == ["ok", "ok", "ok"]
    assert any(note.startswith("db: finite differences cannot resolve it") and "spec's rule alone" in note
               for note in report.notes), report.notes
    assert report.row("W").rel_error < 1e-6  # W and x are still resolved by finite differences


@pytest.mark.parametrize("wrong", ["AffineDbNoSum", "AffineDbMean", "AffineDxNoTranspose"])
def test_a_wrong_affine_at_huge_inputs_still_fails(wrong):
    rng = np.random.default_rng(0)
    layer = getattr(catalog, wrong)(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=1e200 * rng.standard_normal((4, 3)))
    assert not report.ok


def test_without_a_spec_an_unresolvable_gradient_is_named_in_a_note():
    rng = np.random.default_rng(0)
    layer = catalog.Affine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, x=1e200 * rng.standard_normal((4, 3)))
    assert any("db is checked by nothing: give a spec" in note for note in report.notes), report.notes


def test_no_noise_note_at_ordinary_values():
    rng = np.random.default_rng(0)
    layer = catalog.Affine(rng.standard_normal((3, 2)), np.zeros(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    assert report.ok
    assert not any("cannot resolve" in note for note in report.notes)


def test_backward_raising_only_for_a_doubled_dout_is_a_note_naming_the_error():
    class Clipping(catalog.Affine):
        def backward(self, dout):
            if np.max(np.abs(dout)) > 1.5:
                msg = "dout out of range"
                raise ValueError(msg)
            return super().backward(dout)

    rng = np.random.default_rng(4)
    layer = Clipping(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)), dout=np.ones((4, 2)))
    assert report.ok
    assert "backward(2 * dout) raised ValueError: dout out of range" in report.notes


def test_evaluations_count_the_forward_calls_of_the_kink_test_too():
    calls = []

    class Counting(catalog.Relu):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    counted = []
    for x in ([[0.3, 1.0, -2.0], [0.5, -0.7, 3.0]], [[0.0, 1.0, -2.0], [0.5, 0.0, 3.0]]):  # smooth, two kinks
        calls.clear()
        report = check_layer(Counting(), symgrad.ReLU(), x=np.array(x))
        assert report.ok
        counted.append((report.evaluations, len(calls)))
    (smooth, smooth_calls), (kinked, kinked_calls) = counted
    assert kinked - smooth == kinked_calls - smooth_calls > 0


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


class _Scale3:
    def __init__(self):
        self.w = np.array([0.5, -1.5, 2.0])
        self.x = None
        self.dw = None

    def forward(self, x):
        self.x = x
        return x * self.w

    def backward(self, dout):
        self.dw = np.sum(dout * self.x, axis=0)
        return dout * self.w


def test_check_layer_s_default_seed_is_0():
    x = np.random.default_rng(3).standard_normal((5, 3))
    default, zero, one = (check_layer(_Scale3(), x=x, **kw) for kw in ({}, {"seed": 0}, {"seed": 1}))
    assert default.seed == 0
    assert default.to_json() == zero.to_json() != one.to_json()  # the same dout and warm-up draws as seed 0
