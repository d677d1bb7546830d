"""Issue 10's 2-D layers, each written once as its forward in index notation, backward derived.

Softmax, SigmoidCrossEntropy, SoftmaxCrossEntropy (one-hot or integer labels),
Affine(bias=False) and on N-D input, Dropout: three-way agreement at seeded
float64 points, the derived rule's closed form, specs, exports, and
``check_layer`` on textbook-style layers written here (DLFS / cs231n
conventions), with the diagnoses of issue 10 part 3 injected into them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.check.findings import FRESH_BACKWARD
from symgrad.check.rules import evaluate, spec_rules, to_text
from symgrad.errors import DTypeError, ShapeError, SpecError
from symgrad.layers import classify
from symgrad.layers.dropout import Dropout
from symgrad.numeric.finite import gradient as finite_gradient

SEEDS = (0, 1, 2)


def away(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values with magnitudes in [0.5, 2]: away from zero, either sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def evaluate_rule(layer, x: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """The derived matrix rule dE/dx of ``layer``, evaluated with NumPy (as ``check_layer``'s spec side)."""
    rules = spec_rules(layer, x_shape=x.shape, param_shapes={})
    return np.asarray(evaluate(rules.grads["x"], {"x": x, "dout": upstream}), dtype=float)


# -- Softmax: y ∘ (G - rowsum(G ∘ y)) --------------------------------------------------


def test_softmax_rule_is_derived_as_the_jacobian_vector_product():
    x, g = sp.MatrixSymbol("x", 4, 3), sp.MatrixSymbol("G", 4, 3)
    rule = classify.Softmax().matrix_vjp(g, x, {})["input"]
    y = symgrad.matrixexpr.RowSoftmax(x)
    rowsum = sp.HadamardProduct(g, y) * sp.OneMatrix(3, 3)
    assert sp.simplify(rule - (sp.HadamardProduct(g, y) - sp.HadamardProduct(rowsum, y))) == sp.ZeroMatrix(4, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_layer_checks_against_its_spec(seed):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(classify.Softmax(), symgrad.Softmax(), x=away(rng, (4, 3)), params=[], seed=seed)
    assert report.ok, report
    assert report.rows[0].rel_error <= 1e-8


def test_softmax_spec_rule_reads_as_numpy():
    rules = spec_rules(symgrad.Softmax(), x_shape=(4, 3), param_shapes={})
    text = to_text(rules.grads["x"])
    assert text == "dout * softmax(x) - (dout * softmax(x)).sum(axis=1, keepdims=True) * softmax(x)"


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_three_ways(seed):
    rng = np.random.default_rng(seed)
    x, upstream = away(rng, (3, 4)), away(rng, (3, 4))
    layer = classify.Softmax()
    layer.forward(x)
    backward = layer.backward(upstream)
    symbolic = evaluate_rule(classify.Softmax(), x, upstream)
    numeric = finite_gradient(lambda v: float(np.sum(classify.Softmax().forward(v["x"]) * upstream)), {"x": x},
                              ["x"]).gradients["x"]
    np.testing.assert_allclose(symbolic, backward, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(numeric, backward, rtol=1e-8, atol=1e-10)


# -- networks from spec strings: derived, proven, three ways ----------------------------

SPECS = [
    "affine(4,3) > softmax > half-squared-error",
    "affine(4,3) > sigmoid-cross-entropy",
    "matmul(4,3) > tanh > affine(3,3) > softmax-cross-entropy",
    "affine(4,3) > softmax > matmul(3,2) > sigmoid-cross-entropy",
]


@pytest.mark.parametrize("spec", SPECS)
def test_spec_networks_derive_proven_and_agree_three_ways(spec):
    derivation = symgrad.derive(symgrad.network_from_spec(spec))
    summary = derivation.to_markdown().splitlines()[2]
    assert summary.startswith("✓ All "), summary
    assert "steps are proven against sympy.diff" in summary, summary
    for seed in (3, 4):
        report = symgrad.check(derivation, seed=seed)
        assert report.ok, report
        for row in report.rows:
            assert row.rel_error <= 1e-8, row


def test_sigmoid_cross_entropy_document_shows_sigma_minus_t_over_n():
    derivation = symgrad.derive(symgrad.network_from_spec("affine(3,2) > sigmoid-cross-entropy"))
    latex = derivation.to_latex()
    assert r"\frac{1}{N} \left(\sigma\left(y\right) - t\right)" in latex


def test_softmax_cross_entropy_document_simplifies_to_p_minus_y_over_n():
    derivation = symgrad.derive(symgrad.network_from_spec("affine(3,2) > softmax-cross-entropy"))
    markdown = derivation.to_markdown()
    assert "assume each row of t sums to 1" in markdown
    assert r"\frac{1}{N} \left(\operatorname{softmax}\left(y\right) - t\right)" in markdown


@pytest.mark.parametrize("fmt", ["html", "latex", "markdown", "json"])
def test_new_layers_export_in_every_format(fmt):
    derivation = symgrad.derive(symgrad.network_from_spec("matmul(3,3) > softmax > sigmoid-cross-entropy"))
    text = getattr(derivation, f"to_{fmt}")()
    assert text == getattr(symgrad.derive(symgrad.network_from_spec("matmul(3,3) > softmax > sigmoid-cross-entropy")),
                           f"to_{fmt}")()  # deterministic
    if fmt == "json":
        assert json.loads(text)["network"] == "matmul(3, 3) > softmax > sigmoid-cross-entropy"
    else:
        assert "softmax" in text


def test_matmul_spec_round_trips_and_has_no_bias():
    net = symgrad.network_from_spec("matmul(4,3) > softmax-cross-entropy")
    assert net.params == ("W1", "x") or "b1" not in net.params
    assert net.describe() == "matmul(4, 3) > softmax-cross-entropy"
    assert symgrad.network_from_spec(net.describe()).describe() == net.describe()
    with pytest.raises(SpecError, match="matmul at column 1 takes two sizes"):
        symgrad.network_from_spec("matmul(4) > softmax-cross-entropy")


def test_softmax_refuses_a_scalar_network():
    with pytest.raises(ShapeError, match="Softmax needs a batched input"):
        symgrad.network_from_spec("affine > softmax > half-squared-error")


def test_cli_help_lists_the_new_layers(capsys):
    from symgrad.cli import main

    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = "".join(capsys.readouterr().out.split())
    for name in ("matmul(in,out)", "softmax", "sigmoid-cross-entropy"):
        assert name in out


def test_cli_checks_a_chain_with_the_new_layers(capsys):
    from symgrad.cli import main

    code = main(["check", "affine(4,3) > softmax > matmul(3,2) > sigmoid-cross-entropy"])
    assert code == 0, capsys.readouterr().out


# -- SoftmaxCrossEntropy: one layer, integer labels or one-hot --------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_takes_integer_labels_as_one_hot(seed):
    rng = np.random.default_rng(seed)
    x, labels = away(rng, (5, 4)), rng.integers(0, 4, 5)
    by_label, by_one_hot = symgrad.SoftmaxCrossEntropy(), symgrad.SoftmaxCrossEntropy()
    reference = classify.SoftmaxCrossEntropy()  # the textbook one, label indexing: the third side
    assert by_label.forward(x, labels) == pytest.approx(reference.forward(x, labels), rel=1e-12)
    assert by_one_hot.forward(x, np.eye(4)[labels]) == pytest.approx(reference.forward(x, labels), rel=1e-12)
    np.testing.assert_allclose(by_label.backward(), reference.backward(), rtol=1e-12)
    np.testing.assert_allclose(by_one_hot.backward(), reference.backward(), rtol=1e-12)


def test_softmax_cross_entropy_refuses_float_labels_and_out_of_range_ones():
    x = np.zeros((2, 3))
    with pytest.raises(DTypeError, match="integer class labels"):
        symgrad.SoftmaxCrossEntropy().forward(x, np.array([0.0, 1.0]))
    with pytest.raises(ShapeError, match="class label 3 is out of range"):
        symgrad.SoftmaxCrossEntropy().forward(x, np.array([0, 3]))


class SoftmaxWithLoss:
    """DLFS1's SoftmaxWithLoss, integer labels (as the book writes it, written again here)."""

    def __init__(self, *, batch_mean: bool = True):
        self.batch_mean = batch_mean

    def forward(self, x, t):
        self.t = t
        shifted = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-300)) / n

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n if self.batch_mean else dx


def softmax_loss(x, y):
    """cs231n's softmax_loss(x, y) -> (loss, dx)."""
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = x.shape[0]
    loss = -np.sum(log_probs[np.arange(n), y]) / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer", [SoftmaxWithLoss(), softmax_loss], ids=["dlfs1", "cs231n"])
def test_textbook_softmax_losses_pass_with_integer_labels(layer, seed):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(layer, symgrad.SoftmaxCrossEntropy(), x=away(rng, (6, 4)),
                                 t=rng.integers(0, 4, 6), seed=seed)
    assert report.ok, report


def test_softmax_cross_entropy_missing_one_over_n_is_named():
    rng = np.random.default_rng(5)
    report = symgrad.check_layer(SoftmaxWithLoss(batch_mean=False), symgrad.SoftmaxCrossEntropy(),
                                 x=away(rng, (6, 4)), t=rng.integers(0, 4, 6))
    assert not report.ok
    assert "matches a missing 1/N" in report.rows[0].diagnosis
    assert "expected dx = dout * (softmax(x) - t) / N" in report.rows[0].diagnosis


# -- SigmoidCrossEntropy -----------------------------------------------------------------


def sigmoid_loss(x, t):
    """A textbook binary cross-entropy with logits, (loss, dx) as cs231n's loss functions."""
    y = 1 / (1 + np.exp(-x))
    n = x.shape[0]
    loss = -np.sum(t * np.log(y) + (1 - t) * np.log(1 - y)) / n
    return loss, (y - t) / n


@pytest.mark.parametrize("seed", SEEDS)
def test_sigmoid_cross_entropy_three_ways_as_a_spec(seed):
    rng = np.random.default_rng(seed)
    x, t = away(rng, (5, 3)), rng.integers(0, 2, (5, 3)).astype(float)
    assert symgrad.check_layer(sigmoid_loss, symgrad.SigmoidCrossEntropy(), x=x, t=t, seed=seed).ok
    assert symgrad.check_layer(classify.SigmoidCrossEntropy(), symgrad.SigmoidCrossEntropy(), x=x, t=t,
                               params=[], seed=seed).ok


# -- Affine(bias=False) and N-D input -----------------------------------------------------


class MatMul:
    """DLFS2's MatMul: parameters and gradients in lists."""

    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]

    def forward(self, x):
        self.x = x
        return x @ self.params[0]

    def backward(self, dout):
        self.grads[0][...] = self.x.T @ dout
        return dout @ self.params[0].T


@pytest.mark.parametrize("seed", SEEDS)
def test_dlfs2_matmul_passes_against_affine_without_bias(seed):
    rng = np.random.default_rng(seed)
    report = symgrad.check_layer(MatMul(away(rng, (4, 3))), symgrad.Affine(4, 3, bias=False), x=away(rng, (5, 4)),
                                 seed=seed)
    assert report.ok, report
    assert sorted(row.name for row in report.rows) == ["params[0]", "x"]


def test_matmul_spec_rejects_a_layer_with_a_bias():
    rng = np.random.default_rng(0)

    class WithBias:
        def __init__(self):
            self.W, self.b = away(rng, (4, 3)), away(rng, 3)

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, dout):
            self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
            return dout @ self.W.T

    with pytest.raises(symgrad.errors.SymgradError):
        symgrad.check_layer(WithBias(), symgrad.Affine(4, 3, bias=False), x=away(rng, (5, 4)), params=["W", "b"])


def affine_forward(x, w, b):
    """cs231n's affine_forward: each sample flattened to a row."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    return dx, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(4, 2, 3), (3, 2, 2, 3)])
def test_cs231n_affine_on_nd_input_against_affine(seed, shape):
    rng = np.random.default_rng(seed)
    features = int(np.prod(shape[1:]))
    report = symgrad.check_layer((affine_forward, affine_backward), symgrad.Affine(features, 5),
                                 x=away(rng, shape), params={"w": away(rng, (features, 5)), "b": away(rng, 5)},
                                 seed=seed)
    assert report.ok, report


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_reference_flattens_nd_input_as_cs231n(seed):
    rng = np.random.default_rng(seed)
    x, w, b, dout = away(rng, (3, 2, 2, 2)), away(rng, (8, 4)), away(rng, 4), away(rng, (3, 4))
    layer = symgrad.Affine(8, 4)
    layer.set_params({"W": w, "b": b})
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(layer.forward(x), out, rtol=1e-12)
    dx, dw, db = affine_backward(dout, cache)
    np.testing.assert_allclose(layer.backward(dout), dx, rtol=1e-12)
    np.testing.assert_allclose(layer.dW, dw, rtol=1e-12)
    np.testing.assert_allclose(layer.db, db, rtol=1e-12)
    assert symgrad.check_layer(symgrad.Affine(8, 4), symgrad.Affine(8, 4), x=x, params={"W": w, "b": b}).ok


def test_keepdims_db_is_a_shape_finding_not_a_missing_sum():
    """Regression (issue 11): db of shape (1, M) from keepdims=True was named "no sum over the batch"."""
    rng = np.random.default_rng(7)

    class KeepdimsAffine:
        def __init__(self):
            self.W, self.b = away(rng, (4, 3)), away(rng, 3)

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, dout):
            self.dW, self.db = self.x.T @ dout, dout.sum(axis=0, keepdims=True)
            return dout @ self.W.T

    report = symgrad.check_layer(KeepdimsAffine(), symgrad.Affine(4, 3), x=away(rng, (5, 4)))
    row = next(row for row in report.rows if row.name == "b")
    assert not row.passed
    text = str(report)
    assert "(1, 3)" in text
    assert "values are right" in text
    assert "no sum over the batch" not in text


# -- Dropout: the mask an input, drawn once, frozen --------------------------------------


class DLFSDropout:
    """DLFS-style Dropout with train_flg, made inverted (1/(1 - p)) and its mask frozen, as a check needs."""

    def __init__(self, p, mask, *, scale_backward=True, fresh_backward=False):
        self.p, self.mask = p, mask
        self.scale_backward, self.fresh_backward = scale_backward, fresh_backward

    def forward(self, x, train_flg=True):
        return x * self.mask / (1 - self.p) if train_flg else x

    def backward(self, dout):
        mask = np.random.default_rng().random(dout.shape) >= self.p if self.fresh_backward else self.mask
        return dout * mask / (1 - self.p) if self.scale_backward else dout * mask


def frozen(p: float, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, Dropout]:
    spec = Dropout(p)
    mask = spec.draw_mask(shape, np.random.default_rng(seed))
    return mask, spec


def test_dropout_rule_is_derived_with_the_same_mask_and_scale():
    x, g = sp.MatrixSymbol("x", 4, 3), sp.MatrixSymbol("G", 4, 3)
    rules = Dropout(0.2).matrix_vjp(g, x, {})
    assert set(rules) == {"input"}  # the mask is not differentiated
    assert str(rules["input"]) == "(5/4)*(HadamardProduct(G, mask))"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_three_ways(p, seed):
    rng = np.random.default_rng(seed)
    x = away(rng, (5, 4))
    mask, spec = frozen(p, x.shape, seed)
    report = symgrad.check_layer(DLFSDropout(p, mask), spec, x=x, params=[], seed=seed)
    assert report.ok, report
    assert report.rows[0].rel_error <= 1e-8
    reference = Dropout(p)
    reference.set_mask(mask)
    assert symgrad.check_layer(reference, spec, x=x, params=[], seed=seed).ok


def test_dropout_spec_without_a_mask_says_how_to_give_it():
    x = away(np.random.default_rng(0), (3, 2))
    with pytest.raises(SpecError, match=r"spec.set_mask\(mask\)"):
        symgrad.check_layer(DLFSDropout(0.5, np.ones((3, 2), bool)), Dropout(0.5), x=x, params=[])


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_missing_its_scale_is_named(p):
    rng = np.random.default_rng(11)
    x = away(rng, (5, 4))
    mask, spec = frozen(p, x.shape, 11)
    report = symgrad.check_layer(DLFSDropout(p, mask, scale_backward=False), spec, x=x, params=[])
    assert not report.ok
    keep = sp.nsimplify(1 - p)
    scale = sp.nsimplify(1 / keep)
    diagnosis = report.rows[0].diagnosis
    assert "matches a missing 1/(1 - p) scale" in diagnosis
    assert "dx = dout * mask;" in diagnosis
    assert f"expected dx = {sp.numer(scale)} * dout * mask" in diagnosis


def test_dropout_drawing_a_fresh_mask_in_backward_is_named():
    rng = np.random.default_rng(12)
    x = away(rng, (6, 5))
    mask, spec = frozen(0.5, x.shape, 12)
    report = symgrad.check_layer(DLFSDropout(0.5, mask, fresh_backward=True), spec, x=x, params=[])
    assert not report.ok
    assert report.rows[0].diagnosis == FRESH_BACKWARD
    assert not any("ignores dout" in note for note in report.notes)  # issue 11: a false note before


def test_dlfs_dropout_drawing_its_mask_in_forward_is_nondeterministic_with_the_fix():
    class BookDropout:
        def __init__(self, p):
            self.p = p

        def forward(self, x, train_flg=True):
            self.mask = np.random.default_rng().random(x.shape) > self.p
            return x * self.mask

        def backward(self, dout):
            return dout * self.mask

    report = symgrad.check_layer(BookDropout(0.5), x=away(np.random.default_rng(0), (5, 4)), params=[])
    assert not report.ok
    assert "nondeterministic" in str(report)
    assert "pass the mask" in str(report)


# -- SVMLoss: cs231n's multiclass hinge ----------------------------------------------------


def svm_loss(x, y, *, batch_mean=True):
    """cs231n's vectorised svm_loss(x, y) -> (loss, dx), written again here."""
    n = x.shape[0]
    correct = x[np.arange(n), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(n), y] = 0
    positive = (margins > 0).astype(float)
    dx = positive.copy()
    dx[np.arange(n), y] -= positive.sum(axis=1)
    return margins.sum() / n, dx / n if batch_mean else dx


@pytest.mark.parametrize("seed", SEEDS)
def test_cs231n_svm_loss_passes_with_integer_labels(seed):
    rng = np.random.default_rng(seed)
    x, labels = away(rng, (6, 4)), rng.integers(0, 4, 6)
    report = symgrad.check_layer(svm_loss, symgrad.SVMLoss(), x=x, t=labels, seed=seed)
    assert report.ok, report
    assert report.rows[0].rel_error <= 1e-8
    assert symgrad.check_layer(classify.SVMLoss(), symgrad.SVMLoss(), x=x, t=labels, params=[], seed=seed).ok


def test_svm_rule_takes_an_exact_zero_margin_as_inactive_as_cs231n():
    """The kink convention: relu'(0) = 0, so a margin of exactly 0 adds nothing (cs231n's margins > 0)."""
    x = np.array([[1.0, 0.0, 3.0], [0.5, 2.0, -1.0]])  # row 0: class 1's margin 0 - 1 + 1 = 0 exactly
    labels = np.array([0, 1])
    rules = spec_rules(symgrad.SVMLoss(), x_shape=x.shape, param_shapes={})
    derived = evaluate(rules.grads["x"], {"x": x, "t": np.eye(3)[labels], "dout": 1.0})
    np.testing.assert_array_equal(derived, svm_loss(x, labels)[1])
    assert derived[0, 1] == 0.0


def test_svm_loss_missing_one_over_n_is_named():
    rng = np.random.default_rng(8)
    report = symgrad.check_layer(lambda x, y: svm_loss(x, y, batch_mean=False), symgrad.SVMLoss(),
                                 x=away(rng, (6, 4)), t=rng.integers(0, 4, 6))
    assert not report.ok
    assert "matches a missing 1/N" in report.rows[0].diagnosis


def test_svm_document_is_proven_and_shows_the_hinge_mask():
    derivation = symgrad.derive(symgrad.network_from_spec("affine(4,3) > svm-loss"))
    markdown = derivation.to_markdown()
    assert markdown.splitlines()[2].startswith("✓ All ")
    assert r"\operatorname{relu}'" in markdown
    assert r"\left(t \circ y\right) \mathbf{1}_{3 \times 3}" in markdown  # the true class's score, per row


# -- integer labels through the network API and the command -------------------------------


@pytest.mark.parametrize("loss", ["softmax-cross-entropy", "svm-loss"])
def test_network_check_takes_integer_labels_as_one_hot(loss):
    rng = np.random.default_rng(9)
    derivation = symgrad.derive(symgrad.network_from_spec(f"affine(4,3) > tanh > matmul(3,3) > {loss}"))
    values = {"x": away(rng, (5, 4)), "t": rng.integers(0, 3, 5), "W1": away(rng, (4, 3)), "b1": away(rng, 3),
              "W2": away(rng, (3, 3))}
    by_label = symgrad.check(derivation, values=values)
    by_one_hot = symgrad.check(derivation, values={**values, "t": np.eye(3)[values["t"]]})
    assert by_label.ok, by_label
    for a, b in zip(by_label.rows, by_one_hot.rows, strict=True):
        np.testing.assert_array_equal(a.symbolic, b.symbolic)


def test_cli_values_file_takes_integer_labels(tmp_path, capsys):
    from symgrad.cli import main

    rng = np.random.default_rng(10)
    values = {"x": away(rng, (5, 4)).tolist(), "t": [0, 2, 1, 1, 0], "W1": away(rng, (4, 3)).tolist(),
              "b1": away(rng, 3).tolist()}
    path = tmp_path / "point.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    assert main(["check", "affine(4,3) > softmax-cross-entropy", "--values", str(path)]) == 0
    assert "all 3 gradients agree" in capsys.readouterr().out
    path.write_text(json.dumps({**values, "t": [0, 3, 1, 1, 0]}), encoding="utf-8")
    assert main(["check", "affine(4,3) > softmax-cross-entropy", "--values", str(path)]) == 2
    assert "class label 3 is out of range for 3 classes" in capsys.readouterr().err


def test_a_dlfs1_dropout_that_is_not_inverted_is_named_as_such():
    rng = np.random.default_rng(13)
    x = away(rng, (5, 4))
    mask, spec = frozen(0.2, x.shape, 13)

    class BookDropout:  # DLFS1: x * mask in training, x * (1 - p) at test time (its mask frozen here)
        def __init__(self):
            self.mask = mask

        def forward(self, x, train_flg=True):
            return x * self.mask if train_flg else x * (1.0 - 0.2)

        def backward(self, dout):
            return dout * self.mask

    report = symgrad.check_layer(BookDropout(), spec, x=x, params=[])
    assert not report.ok
    assert "yours is 0.8 = 1 - p times the spec's everywhere: your dropout is not inverted" in str(report)
    assert report.row("x").passed  # its backward is right for its own forward


def test_affine_without_bias_derives_no_bias_rule():
    x, w, g = sp.MatrixSymbol("x", 5, 4), sp.MatrixSymbol("W", 4, 3), sp.MatrixSymbol("G", 5, 3)
    layer = symgrad.Affine(4, 3, bias=False)
    assert layer.matrix_forward(x, {"W": w}) == x * w
    assert layer.matrix_vjp(g, x, {"W": w}) == {"input": g * w.T, "W": x.T * g}
    assert layer.param_shapes(4) == {"W": (4, 3)}
    assert repr(layer) == "Affine(4, 3, bias=False)"
    with pytest.raises(ShapeError, match=r"Affine\(bias=False\) is a batched layer"):
        symgrad.Affine(bias=False)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_reference_is_time_distributed_when_only_the_last_axis_fits(seed):
    rng = np.random.default_rng(seed)
    x, w, b = away(rng, (2, 5, 4)), away(rng, (4, 3)), away(rng, 3)
    layer = symgrad.Affine(4, 3)
    layer.set_params({"W": w, "b": b})
    np.testing.assert_allclose(layer.forward(x), x @ w + b, rtol=1e-12)
    assert symgrad.check_layer(symgrad.Affine(4, 3), symgrad.Affine(4, 3), x=x, params={"W": w, "b": b},
                               seed=seed).ok
