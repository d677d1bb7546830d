"""BatchNorm and LayerNorm derived through their own graph: three-way agreement, specs, documents, mistakes.

The derived rule (symgrad/layers/composite.py, one sweep over symgrad/composite) is the spec; the
textbook references in symgrad/layers/norm.py and the DLFS / cs231n layers written here are the
backward side; finite differences the third.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.check.rules import evaluate, spec_rules
from symgrad.errors import SpecError
from symgrad.layers.norm import BatchNorm, LayerNorm

SEEDS = (0, 1, 2)
EPS = 1e-5


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def reference(cls, features, rng, **options):
    layer = cls(features, **options)
    layer.set_params({"gamma": away(rng, (features,)), "beta": away(rng, (features,))})
    return layer


# -- three ways ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", [BatchNorm, LayerNorm])
def test_derived_rule_agrees_three_ways_with_the_reference_and_finite_differences(cls, seed):
    rng = np.random.default_rng(seed)
    layer = reference(cls, 4, rng)
    x = away(rng, (6, 4)) * 2.0 + 0.5
    report = symgrad.check_layer(layer, cls(4), x=x, seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]
    assert max(row.rel_error for row in report.rows) <= 1e-8


@pytest.mark.parametrize("seed", SEEDS)
def test_eval_mode_derives_with_the_running_statistics_as_constants(seed):
    rng = np.random.default_rng(seed)
    layer = reference(BatchNorm, 3, rng, train=False)
    layer.running_mean, layer.running_var = away(rng, (3,)), rng.uniform(0.5, 2.0, 3)
    spec = BatchNorm(3, train=False)
    spec.running_mean, spec.running_var = layer.running_mean.copy(), layer.running_var.copy()
    report = symgrad.check_layer(layer, spec, x=away(rng, (5, 3)), seed=seed)
    assert report.ok, report
    assert max(row.rel_error for row in report.rows) <= 1e-8
    # The rule is gamma / sqrt(running_var + eps) entrywise: no batch statistics in it.
    rules = spec_rules(spec, x_shape=(5, 3), param_shapes={"gamma": (3,), "beta": (3,)})
    env = {"x": away(rng, (5, 3)), "gamma": layer.gamma, "beta": layer.beta, "dout": away(rng, (5, 3))}
    expected = env["dout"] * layer.gamma / np.sqrt(layer.running_var + EPS)
    np.testing.assert_allclose(evaluate(rules.grads["x"], env), expected, rtol=1e-12)


def test_eval_mode_rule_differs_from_train_mode():
    # The proofs and rules are kept per mode: an eval layer must not reuse the train layer's rule.
    env = {"x": np.arange(12.0).reshape(4, 3) ** 1.5, "gamma": np.ones(3), "beta": np.zeros(3),
           "dout": np.linspace(-1, 2, 12).reshape(4, 3)}
    shapes = {"gamma": (3,), "beta": (3,)}
    train = evaluate(spec_rules(BatchNorm(3), x_shape=(4, 3), param_shapes=shapes).grads["x"], env)
    frozen = evaluate(spec_rules(BatchNorm(3, train=False), x_shape=(4, 3), param_shapes=shapes).grads["x"], env)
    assert not np.allclose(train, frozen)
    np.testing.assert_allclose(train.sum(axis=0), 0, atol=1e-10)  # a shift of a batch column changes nothing


@pytest.mark.parametrize("cls", [BatchNorm, LayerNorm])
def test_closed_form_texts_evaluate_to_the_derived_rule(cls):
    # The closed forms a report prints as "expected dx = ..." are the derived rule, at seeded points.
    rng = np.random.default_rng(7)
    spec = cls(4)
    rules = spec_rules(spec, x_shape=(5, 4), param_shapes={"gamma": (4,), "beta": (4,)})
    axis = 0 if cls is BatchNorm else 1
    for _ in range(3):
        x, gamma, dout = away(rng, (5, 4)), away(rng, (4,)), away(rng, (5, 4))
        env = {"x": x, "gamma": gamma, "beta": away(rng, (4,)), "dout": dout}
        mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
        sigma = np.sqrt(var + EPS)
        names = {"np": np, "x": x, "gamma": gamma, "dout": dout, "xhat": (x - mu) / sigma, "sigma": sigma,
                 "N": 5, "D": 4, "dxhat": dout * gamma}
        texts = spec.rule_texts()
        for role in ("x", "gamma", "beta"):
            text = texts[role].split(", dxhat =")[0]
            if axis == 1:
                text = text.replace("sum(axis=1)", "sum(axis=1, keepdims=True)")
            closed = eval(text, names)
            np.testing.assert_allclose(np.squeeze(evaluate(rules.grads[role], env)), closed, rtol=1e-10)


# -- users' layers as the curricula write them ------------------------------------------------


class DLFSBatchNormalization:
    """DLFS1 common/layers.py BatchNormalization (2-D input), with one path optionally left out."""

    def __init__(self, gamma, beta, momentum=0.9, leave_out=""):
        self.gamma, self.beta, self.momentum, self.leave_out = gamma, beta, momentum, leave_out
        self.running_mean = self.running_var = None

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc**2, axis=0)
            std = np.sqrt(var + 10e-7)
            xn = xc / std
            self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 10e-7)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        if self.leave_out != "variance":
            dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc if self.leave_out == "mean" else dxc - dmu / self.batch_size
        self.dgamma, self.dbeta = dgamma, dbeta
        return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """cs231n assignment 2: the train-mode forward, returning (out, cache)."""
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, gamma, std, xc, bn_param.get("leave_out", ""))


def batchnorm_backward_alt(dout, cache):
    """cs231n's one-line closed form (or, with leave_out, the same through the staged paths)."""
    xhat, gamma, std, xc, leave_out = cache
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    if not leave_out:
        return gamma / (n * std) * (n * dout - dbeta - xhat * dgamma), dgamma, dbeta
    dxhat = dout * gamma
    dxc = dxhat / std
    if leave_out != "variance":
        dvar = -0.5 * np.sum(dxhat * xc, axis=0) / std**3
        dxc = dxc + 2.0 * xc * dvar / n
    dx = dxc if leave_out == "mean" else dxc - dxc.mean(axis=0)
    return dx, dgamma, dbeta


@pytest.mark.parametrize("seed", SEEDS)
def test_dlfs_batch_normalization_checks_against_the_spec(seed):
    rng = np.random.default_rng(seed)
    layer = DLFSBatchNormalization(away(rng, (4,)), away(rng, (4,)))
    spec = BatchNorm(4, eps=10e-7)
    report = symgrad.check_layer(layer, spec, x=away(rng, (6, 4)) + 1.0, params=["gamma", "beta"], seed=seed)
    assert report.ok, report
    assert max(row.rel_error for row in report.rows) <= 1e-8


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_batchnorm_pair_checks_against_the_spec(seed):
    rng = np.random.default_rng(seed)
    params = {"gamma": away(rng, (4,)), "beta": away(rng, (4,)), "bn_param": {"mode": "train"}}
    report = symgrad.check_layer((batchnorm_forward, batchnorm_backward_alt), BatchNorm(4), x=away(rng, (6, 4)),
                                 params=params, seed=seed)
    assert report.ok, report
    assert [row.name for row in report.rows] == ["x", "gamma", "beta"]


CLOSED = "expected dx = gamma / (N * sigma) * (N * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))"


@pytest.mark.parametrize(("leave_out", "named"), [
    ("mean",
     "matches a mistake in the layer's graph: the mean path left out (no gradient through mu, as if it were "
     "a constant)"),
    ("variance",
     "matches a mistake in the layer's graph: the variance path left out (no gradient through var, as if it were "
     "a constant)"),
])
def test_dlfs_batch_norm_missing_a_path_is_named_with_the_expected_formula(leave_out, named):
    rng = np.random.default_rng(3)
    layer = DLFSBatchNormalization(away(rng, (4,)), away(rng, (4,)), leave_out=leave_out)
    report = symgrad.check_layer(layer, BatchNorm(4, eps=10e-7), x=away(rng, (6, 4)), params=["gamma", "beta"])
    assert not report.ok
    diagnosis = report.row("x").diagnosis
    assert diagnosis.startswith(named), diagnosis
    assert diagnosis.endswith(CLOSED), diagnosis
    assert report.row("gamma").passed
    assert report.row("beta").passed


@pytest.mark.parametrize("leave_out", ["mean", "variance"])
def test_cs231n_batch_norm_missing_a_path_is_named(leave_out):
    rng = np.random.default_rng(4)
    params = {"gamma": away(rng, (5,)), "beta": away(rng, (5,)), "bn_param": {"leave_out": leave_out}}
    report = symgrad.check_layer((batchnorm_forward, batchnorm_backward_alt), BatchNorm(5), x=away(rng, (7, 5)),
                                 params=params)
    assert f"the {leave_out} path left out" in report.row("x").diagnosis


def test_layer_norm_missing_the_mean_path_is_named():
    rng = np.random.default_rng(5)

    class LayerNormNoMean(LayerNorm):
        def backward(self, dout):
            self.dbeta, self.dgamma = dout.sum(axis=0), np.sum(dout * self.xn, axis=0)
            dxhat = dout * self.gamma
            d = self.features
            # the variance path kept, the mean path (- dxhat.sum / D) forgotten
            return (d * dxhat - self.xn * np.sum(dxhat * self.xn, axis=-1, keepdims=True)) / (d * self.std)

    layer = reference(LayerNormNoMean, 4, rng)
    report = symgrad.check_layer(layer, LayerNorm(4), x=away(rng, (5, 4)), params=["gamma", "beta"])
    assert "the mean path left out (no gradient through mu" in report.row("x").diagnosis


# -- networks, specs, documents ------------------------------------------------------------------


def test_spec_strings_build_and_check_networks_with_the_norms():
    for spec in ("affine(4,6) > batch-norm(6) > relu > affine(6,2) > half-squared-error",
                 "affine(3,5) > layer-norm(5) > tanh > affine(5,2) > mean-squared-error"):
        net = symgrad.network_from_spec(spec)
        report = symgrad.check(net)
        assert report.ok, report
        assert max(row.rel_error for row in report.rows) <= 1e-8


@pytest.mark.parametrize(("spec", "message"), [
    ("batch-norm > half-squared-error", "batch-norm at column 1 takes its feature count"),
    ("affine(3,3) > layer-norm(3, 4) > half-squared-error", "takes its feature count, layer-norm(features); got 2"),
    ("affine(3,3) > batch-norm(4) > half-squared-error", "expects 4 input features, but its input has 3"),
])
def test_bad_norm_specs_say_what_was_expected(spec, message):
    with pytest.raises((SpecError, symgrad.ShapeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        symgrad.network_from_spec(spec)


def test_batch_norm_document_shows_the_forks_summed_and_the_closed_form():
    d = symgrad.derive(symgrad.Network([BatchNorm(3)], loss=symgrad.HalfSquaredError()))
    step = next(s for s in d.steps("x") if s.substeps and len(s.substeps) > 10)
    rules = [sub.rule for sub in step.substeps]
    assert "sum over 2 paths (x feeds mu and xc): multivariable chain rule" in rules
    assert "sum over 2 paths (xc feeds sq and xhat): multivariable chain rule" in rules
    assert rules[-1] == "closed form (the textbook's)"
    assert all(sub.verified for sub in step.substeps)
    assert step.substeps[-1].proof.startswith("closed form proven equal entrywise")
    markdown = d.to_markdown()
    assert "x feeds mu and xc" in markdown
    assert "closed form" in markdown
    payload = d.to_json()
    assert "x feeds mu and xc" in payload
    assert "closed form" in d.to_latex()
    assert "closed form" in d.to_html()


def test_batch_norm_in_a_graph_network_shows_its_sweep_under_the_fork():
    x, t = symgrad.Input("x", 3), symgrad.Input("t", 3)
    bn = BatchNorm(3)
    net = symgrad.Network(symgrad.HalfSquaredError()(bn(x) + x, t))
    d = symgrad.derive(net)
    fork = next(s for s in d.steps("x") if s.rule.startswith("sum over 2 paths (x feeds"))
    assert any(sub.rule.startswith("sum over 2 paths (x feeds mu and xc)") for sub in fork.substeps)
    report = symgrad.check(net)
    assert report.ok, report
