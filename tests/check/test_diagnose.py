"""Tests of symgrad.check.diagnose: each usual mistake is named when (and only when) it matches."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.check.diagnose import HYPOTHESES, Evidence, diagnose, diagnose_error, matches
from symgrad.check.rules import evaluate, spec_rules

N, D, M = 3, 3, 3  # square, so that transposed products fit


@pytest.fixture
def affine():
    rng = np.random.default_rng(0)
    env = {"x": rng.standard_normal((N, D)), "W": rng.standard_normal((D, M)), "b": rng.standard_normal(M),
           "dout": rng.standard_normal((N, M))}
    rules = spec_rules(symgrad.Affine(D, M), x_shape=(N, D), param_shapes={"W": (D, M), "b": (M,)})
    return rules, env


def _evidence(rules, env, name, got, **extra):
    expected = np.asarray(evaluate(rules.grads[name], env), dtype=float)
    if name == "b":
        expected = expected.ravel()
    return Evidence(name, np.asarray(got, dtype=float), expected, env, rules, **extra)


@pytest.mark.parametrize(
    ("name", "wrong", "text"),
    [
        ("x", lambda e: e["dout"] @ e["W"], "matches a missing transpose: dx = dout @ W; expected dx = dout @ W.T"),
        ("W", lambda e: e["x"] @ e["dout"], "matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout"),
        ("W", lambda e: e["dout"] @ e["x"].T, "matches swapped operands: dW = dout @ x.T; expected dW = x.T @ dout"),
        (
            "W",
            lambda e: e["dout"].T @ e["x"],
            "matches swapped operands (which gives the transpose of the gradient): dW = dout.T @ x; "
            "expected dW = x.T @ dout",
        ),
        ("b", lambda e: e["dout"], "matches no sum over the batch: db = dout; expected db = dout.sum(axis=0)"),
        (
            "b",
            lambda e: e["dout"].sum(axis=1),
            "matches a sum over the wrong axis: db = dout.sum(axis=1); expected db = dout.sum(axis=0)",
        ),
        ("x", lambda e: -(e["dout"] @ e["W"].T), "matches a flipped sign: dx = -dout @ W.T; expected dx = dout @ W.T"),
        (
            "W",
            lambda e: 2 * e["x"].T @ e["dout"],
            "matches an extra factor of 2: dW = 2 * x.T @ dout; expected dW = x.T @ dout",
        ),
        (
            "b",
            lambda e: e["dout"].mean(axis=0),
            "matches an extra 1/N (a division by the batch size N too many): db = dout.sum(axis=0) / N; "
            "expected db = dout.sum(axis=0)",
        ),
        (
            "W",
            lambda e: e["x"].T @ np.ones_like(e["dout"]),
            "matches dout ignored: backward() returns the gradient for dout = 1 (all ones); expected dW = x.T @ dout",
        ),
    ],
    ids=["dx-transpose", "dW-transpose", "dW-swapped", "dW-swapped-T", "db-no-sum", "db-axis", "sign", "two", "mean",
         "ones"],
)
def test_affine_mistakes_are_named(affine, name, wrong, text):
    rules, env = affine
    assert diagnose(_evidence(rules, env, name, wrong(env))) == text


def test_stale_cache_needs_the_earlier_input(affine):
    rules, env = affine
    x_warm = np.random.default_rng(1).standard_normal((N, D))
    got = x_warm.T @ env["dout"]
    assert diagnose(_evidence(rules, env, "W", got)) == ""
    text = diagnose(_evidence(rules, env, "W", got, x_warm=x_warm))
    assert text.startswith("matches a stale cache: backward() used values kept from an earlier forward() call")


def test_dout_written_in_place_needs_the_changed_dout(affine):
    rules, env = affine
    after = env["dout"] * 0.5
    got = env["x"].T @ after
    assert diagnose(_evidence(rules, env, "W", got, dout_after=after)).startswith("matches dout written in place")


def test_a_hypothesis_equal_to_the_right_value_is_not_reported(affine):
    rules, env = affine
    # dx does not depend on x, so a "stale" x gives the right dx: the wrong value below is no such thing.
    x_warm = np.random.default_rng(2).standard_normal((N, D))
    got = env["dout"] @ env["W"].T + 1.0
    assert diagnose(_evidence(rules, env, "x", got, x_warm=x_warm)) == ""


def test_no_matching_mistake_gives_an_empty_diagnosis(affine):
    rules, env = affine
    got = np.random.default_rng(3).standard_normal((N, M))
    assert diagnose(_evidence(rules, env, "W", got)) == ""
    assert diagnose(Evidence("W", None, got, env, rules)) == ""


@pytest.mark.parametrize(
    ("spec", "wrong", "text"),
    [
        (
            symgrad.Sigmoid(),
            lambda x, d: d * x * (1 - x),
            "matches the derivative written with the input x where it needs the output out: dx = dout * x * (1 - x); "
            "expected dx = dout * out * (1 - out)",
        ),
        (
            symgrad.Tanh(),
            lambda x, d: d * (1 - x**2),
            "matches the derivative written with the input x where it needs the output out: dx = dout * (1 - x**2); "
            "expected dx = dout * (1 - out**2)",
        ),
        (
            symgrad.ReLU(),
            lambda x, d: d * (x <= 0),
            "matches an inverted ReLU mask: dx = dout * (x <= 0); expected dx = dout * (x > 0)",
        ),
    ],
    ids=["sigmoid", "tanh", "relu"],
)
def test_activation_derivative_mistakes_are_named(spec, wrong, text):
    rng = np.random.default_rng(4)
    env = {"x": rng.standard_normal((4, 3)), "dout": rng.standard_normal((4, 3))}
    rules = spec_rules(spec, x_shape=(4, 3), param_shapes={})
    expected = evaluate(rules.grads["x"], env)
    assert diagnose(Evidence("x", wrong(env["x"], env["dout"]), expected, env, rules)) == text


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize(
    ("wrong", "cause"),
    [
        (lambda x, s: s - x * s * (1 - s), "matches a term of the derivative with the wrong sign"),
        (lambda x, s: -s + x * s * (1 - s), "matches a term of the derivative with the wrong sign"),
        (lambda x, s: s, "matches a term of the derivative left out"),
        (lambda x, s: x * s * (1 - s), "matches a term of the derivative left out"),
    ],
    ids=["second-term-negated", "first-term-negated", "second-term-dropped", "first-term-dropped"],
)
def test_a_formula_activation_s_sign_and_product_rule_slips_are_told_apart(wrong, cause):
    # swish' = s + z s (1 - s): one term negated is a sign slip, one term left out a forgotten product rule.
    rng = np.random.default_rng(11)
    env = {"x": 2 * rng.standard_normal((4, 3)), "dout": rng.standard_normal((4, 3))}
    rules = spec_rules(symgrad.activation("z*sigmoid(z)", name="swish"), x_shape=(4, 3), param_shapes={})
    expected = evaluate(rules.grads["x"], env)
    got = env["dout"] * wrong(env["x"], _sigmoid(env["x"]))
    assert diagnose(Evidence("x", got, expected, env, rules)).startswith(cause)


def test_loss_missing_one_over_n():
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((4, 3)), np.eye(3)[[0, 1, 2, 0]]
    env = {"x": x, "t": t, "dout": 1.0}
    rules = spec_rules(symgrad.SoftmaxCrossEntropy(), x_shape=(4, 3), param_shapes={})
    expected = evaluate(rules.grads["x"], env)
    text = diagnose(Evidence("x", expected * 4, expected, env, rules))
    assert text == (
        "matches a missing 1/N (no division by the batch size N): dx = dout * (softmax(x) - t); "
        "expected dx = dout * (softmax(x) - t) / N"
    )


@pytest.mark.parametrize(
    ("got", "start"),
    [
        (lambda e, d: -e, "matches a flipped sign: backward() gave -1 times the right dgamma"),
        (lambda e, d: 0.5 * e, "matches a missing factor of 2: backward() gave 0.5 times the right dgamma"),
        (lambda e, d: e.T, "matches a transposed result: backward() gave the transpose of the right dgamma"),
        (lambda e, d: np.zeros_like(e), "matches a gradient of zeros: backward() gave all zeros for dgamma"),
        (lambda e, d: d * e / d.sum(axis=0), "matches no sum over the batch: backward() gave dgamma for each sample"),
    ],
    ids=["sign", "half", "transposed", "zeros", "per-sample"],
)
def test_without_a_spec_generic_mistakes_are_named_with_the_fix(got, start):
    rng = np.random.default_rng(6)
    dout = rng.standard_normal((4, 3))
    expected = rng.standard_normal((3, 3))[0]
    if start.startswith("matches a transposed"):
        expected = rng.standard_normal((3, 2))
    env = {"x": rng.standard_normal((4, 3)), "dout": dout}
    text = diagnose(Evidence("gamma", got(expected, dout), expected, env))
    assert text.startswith(start)
    assert text.endswith(")")  # the fix, in parentheses


def test_without_a_spec_a_bias_left_unsummed():
    rng = np.random.default_rng(7)
    dout = rng.standard_normal((4, 2))
    env = {"x": rng.standard_normal((4, 3)), "dout": dout}
    text = diagnose(Evidence("beta", dout.sum(axis=1), dout.sum(axis=0), env))
    assert text == (
        "matches no sum over the batch, or the wrong axis: dbeta = dout.sum(axis=1) (sum dout over axis=0, the batch)"
    )


def test_dout_ignored_without_a_spec_asks_for_the_right_value_with_ones():
    rng = np.random.default_rng(8)
    x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    env = {"x": x, "dout": dout}

    def right_with(changes):
        return np.cos(changes.get("x", x)) * changes.get("dout", dout)

    got = np.cos(x)
    text = diagnose(Evidence("x", got, right_with({}), env, expected_with=right_with))
    assert text.startswith("matches dout ignored")


def test_error_shapes_from_np_dot_and_matmul_are_matched(affine):
    rng = np.random.default_rng(9)
    env = {"x": rng.standard_normal((4, 3)), "W": rng.standard_normal((3, 2)), "b": np.zeros(2),
           "dout": rng.standard_normal((4, 2))}
    rules = spec_rules(symgrad.Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
    names = {"x": "x", "W": "W", "b": "b"}
    for product in (np.dot, np.matmul):
        with pytest.raises(ValueError) as caught:  # noqa: PT011  NumPy's own message is the input here
            product(env["x"], env["dout"])
        name, text = diagnose_error(caught.value, rules, env, names)
        assert name == "W"
        assert text.startswith("the failing product matches a missing transpose: dW = x @ dout multiplies shapes")
        assert "(4, 3) and (4, 2); expected dW = x.T @ dout" in text


def test_error_without_shapes_is_not_diagnosed(affine):
    rules, env = affine
    assert diagnose_error(KeyError("cache"), rules, env, {"x": "x"}) is None


def test_matches_ignores_singleton_axes_only():
    assert matches(np.ones((1, 3)), np.ones(3), 1e-12)
    assert not matches(np.ones((3, 1)), np.ones((1, 3)) * 2, 1e-12)
    assert not matches(np.ones((2, 3)), np.ones((3, 2)), 1e-12)
    assert not matches(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), 1e-12)


def test_every_hypothesis_names_a_mistake_and_a_fix():
    for hypothesis in HYPOTHESES:
        assert hypothesis.mistake
        assert hypothesis.fix


@pytest.mark.parametrize(
    ("got", "candidate"),
    [([np.inf, 1.0], [np.inf, 1.0]), ([np.inf, 1.0], [2.0, 1.0]), ([2.0, 1.0], [-np.inf, 1.0])],
    ids=["both-infinite", "got-infinite", "candidate-infinite"],
)
def test_non_finite_values_never_match(got, candidate):
    assert not matches(np.array(got), np.array(candidate), 1e-9)
