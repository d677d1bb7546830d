"""The compiled (staged NumPy) gradient: right numbers, checked inputs, no user text in the code."""

from __future__ import annotations

import ast
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import (
    Affine,
    DTypeError,
    HalfSquaredError,
    Network,
    NonFiniteError,
    ReLU,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    UnknownNameError,
)
from symgrad.check.points import sample_values
from symgrad.numeric.reference import reference_backward, reference_loss

x, t, w1, b1, w2, b2 = sp.symbols("x t w1 b1 w2 b2")
_h = w1 * x + b1
_y = w2 * _h + b2
CLOSED_FORMS = {
    "w1": w2 * x * (_y - t),
    "b1": w2 * (_y - t),
    "w2": _h * (_y - t),
    "b2": _y - t,
    "x": w1 * w2 * (_y - t),
}


@pytest.fixture(scope="module")
def article_gradient():
    return symgrad.derive(symgrad.article_network()).lambdify()


@pytest.fixture(scope="module")
def small_net():
    return Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())


@pytest.fixture(scope="module")
def small_gradient(small_net):
    return symgrad.derive(small_net).lambdify()


def test_article_gradient_matches_sympy_lambdify_of_the_closed_forms(article_gradient):
    symbols = (x, t, w1, b1, w2, b2)
    closed = {name: sp.lambdify(symbols, expr, "numpy") for name, expr in CLOSED_FORMS.items()}
    rng = np.random.default_rng(2024)
    for _ in range(20):
        point = dict(zip(("x", "t", "w1", "b1", "w2", "b2"), rng.uniform(-3, 3, size=6), strict=True))
        out = article_gradient(**point)
        assert set(out) == set(CLOSED_FORMS)
        for name, f in closed.items():
            assert isinstance(out[name], float)
            assert out[name] == pytest.approx(f(*point.values()), rel=1e-12, abs=1e-14)


def test_article_loss(article_gradient):
    assert article_gradient.loss(x=2.0, t=1.0, w1=0.5, b1=0.0, w2=3.0, b2=0.0) == pytest.approx(2.0)


@pytest.mark.parametrize("loss", [HalfSquaredError(), SoftmaxCrossEntropy()], ids=["half-squared", "softmax-ce"])
def test_batched_gradient_matches_reference_backward(loss):
    net = Network([Affine(3, 5), Tanh(), Affine(5, 4), ReLU(), Affine(4, 3)], loss=loss)
    grad = symgrad.derive(net).lambdify()
    for seed in range(3):
        values = sample_values(net, seed=seed, batch=6)
        value, out = grad.evaluate(values)
        reference = reference_backward(net, values, tuple(out))
        assert value == pytest.approx(reference_loss(net, values), rel=1e-13)
        for name, array in out.items():
            assert array.shape == np.shape(values[name])
            np.testing.assert_allclose(array, reference.gradients[name], rtol=1e-11, atol=1e-14)


def test_bias_gradient_has_the_bias_shape(small_net, small_gradient):
    out = small_gradient(**sample_values(small_net, seed=0))
    assert out["b1"].shape == (4,)
    assert out["W1"].shape == (3, 4)
    assert out["x"].shape == (4, 3)
    assert all(array.dtype == np.float64 for array in out.values())


def test_caller_arrays_are_not_modified(small_net, small_gradient):
    values = sample_values(small_net, seed=1)
    before = {name: np.array(value, copy=True) for name, value in values.items()}
    small_gradient(**values)
    for name, value in values.items():
        np.testing.assert_array_equal(value, before[name])


def test_float32_and_list_inputs_are_accepted(small_net, small_gradient):
    values = sample_values(small_net, seed=2)
    reference = small_gradient(**values)
    as_float32 = {name: np.asarray(value, dtype=np.float32) for name, value in values.items()}
    out = small_gradient(**as_float32)
    for name, array in out.items():
        assert array.dtype == np.float64
        np.testing.assert_allclose(array, reference[name], rtol=1e-5, atol=1e-6)
    as_lists = {name: np.asarray(value).tolist() for name, value in values.items()}
    np.testing.assert_allclose(small_gradient(**as_lists)["W1"], reference["W1"], rtol=1e-15)


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("W1", np.zeros((4, 3)), ShapeError, r"'W1' has shape \(4, 3\); expected \(3, 4\)"),
        ("b1", np.zeros((1, 4)), ShapeError, r"'b1' has shape \(1, 4\); expected \(4,\)"),
        ("x", np.zeros(3), ShapeError, r"'x' has shape \(3,\); expected \(N, 3\)"),
        ("x", np.zeros((2, 2, 3)), ShapeError, r"'x' has shape \(2, 2, 3\); expected \(N, 3\)"),
        ("x", np.zeros((4, 5)), ShapeError, r"'x' has shape \(4, 5\); expected \(4, 3\)"),
        ("t", np.zeros((5, 2)), ShapeError, r"'t' has shape \(5, 2\); expected \(4, 2\)"),
        ("x", [[1.0, 2.0, 3.0], [1.0]], ShapeError, "'x'"),
        ("W1", np.ones((3, 4), dtype=int), DTypeError, "W1.astype\\(float\\)"),
        ("W1", np.full((3, 4), np.nan), NonFiniteError, "'W1' has 12 non-finite"),
        ("b2", np.array([1.0, np.inf]), NonFiniteError, r"b2\[1\] = inf"),
        ("t", np.zeros((4, 2), dtype=complex), DTypeError, "complex"),
        ("t", "zeros", DTypeError, "string"),
    ],
)
def test_bad_values_raise_symgrad_errors_naming_the_value(small_net, small_gradient, name, value, error, match):
    values = sample_values(small_net, seed=0)
    values[name] = value
    with pytest.raises(error, match=match):
        small_gradient(**values)


def test_missing_and_unknown_values_are_unknown_name_errors(article_gradient):
    with pytest.raises(UnknownNameError, match="missing value for 'b2'"):
        article_gradient(x=1.0, t=1.0, w1=1.0, b1=1.0, w2=1.0)
    with pytest.raises(UnknownNameError, match="unknown input 'lr'"):
        article_gradient(x=1.0, t=1.0, w1=1.0, b1=1.0, w2=1.0, b2=1.0, lr=0.1)


def test_scalar_network_refuses_arrays(article_gradient):
    with pytest.raises(ShapeError, match=r"'x' has shape \(2,\); expected \(\)"):
        article_gradient(x=np.ones(2), t=1.0, w1=1.0, b1=1.0, w2=1.0, b2=1.0)


def test_user_names_reach_the_generated_source_only_as_string_literals():
    net = Network([Affine(2, 3, name="evil_name"), ReLU(name="relu_layer"), Affine(3, 2, name="dec")],
                  loss=HalfSquaredError())
    grad = symgrad.derive(net).lambdify()
    tree = ast.parse(grad.source)
    code_names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    code_names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    code_names |= {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments) for arg in node.args}
    assert not any(word in name for name in code_names for word in ("evil", "dec", "relu_layer"))
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert literals <= {"Wevil_name", "bevil_name", "Wdec", "bdec", "x"}  # the keys of the result
    out = grad(**sample_values(net, seed=0))
    assert set(out) == {"Wevil_name", "bevil_name", "Wdec", "bdec", "x"}


def test_regression_softmax_cross_entropy_stable_for_large_logits():
    """log(softmax(y)) was compiled as numpy.log(_softmax(y)): for large logits softmax underflows
    to 0, NumPy warned 'divide by zero encountered in log' and the loss came out inf or nan."""
    net = Network([Affine(2, 3)], loss=SoftmaxCrossEntropy())
    grad = symgrad.derive(net).lambdify()
    values = {"x": np.array([[1000.0, 0.0]]), "t": np.array([[0.0, 0.0, 1.0]]),
              "W1": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "b1": np.zeros(3)}
    value, out = grad.evaluate(values)  # filterwarnings = error: a RuntimeWarning fails the test
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(out["b1"], [1.0, 0.0, -1.0])
    assert value == pytest.approx(reference_loss(net, values))


def test_complex_inputs_give_an_analytic_loss(small_net, small_gradient):
    values = sample_values(small_net, seed=3)
    _, out = small_gradient.evaluate(values)
    stepped = dict(values)
    stepped["W2"] = values["W2"] + 0j
    stepped["W2"][1, 0] += 1e-30j
    value, _ = small_gradient.evaluate(stepped, allow_complex=True)
    assert value.imag / 1e-30 == pytest.approx(out["W2"][1, 0], rel=1e-13)


def test_a_complex_result_is_an_error_not_its_real_part():
    """Regression: lambdify() of sqrt(-1)*x returned 0.0, the real part of I. gradient() now refuses
    such an expression; a derivation that still carries a complex constant is refused at evaluation."""
    d = symgrad.gradient("x*y")
    lhs = d.program[0][0]
    carrying = replace(d, program=((lhs, sp.I * d.symbols["y"]), *d.program[1:]), _cache={})
    with pytest.raises(symgrad.UndefinedValueError, match="the gradient with respect to 'x' is complex"):
        carrying.lambdify()(x=1.0, y=2.0)
    assert d.lambdify()(x=1.0, y=2.0) == {"x": 2.0, "y": 1.0}


def test_positional_arguments_are_refused_by_name():
    """Regression: grad(1.0, 2.0) raised a raw TypeError."""
    grad = symgrad.gradient("x*y").lambdify()
    with pytest.raises(UnknownNameError, match=r"takes its inputs by name, got 2 positional arguments: call it as "
                                               r"grad\(x=\.\.\., y=\.\.\.\)"):
        grad(1.0, 2.0)
    assert grad.function(1.0, 2.0)[1] == {"x": 2.0, "y": 1.0}  # the unchecked function takes them by position


def test_values_outside_the_domain_are_named_not_returned():
    with pytest.raises(NonFiniteError, match="the function's value is nan at these values"):
        symgrad.gradient("log(x)").lambdify()(x=-1.0)  # the gradient 1/x is finite there; f is not
    with pytest.raises(NonFiniteError, match="the gradient with respect to 'x' is inf"):
        symgrad.gradient("sqrt(x)").lambdify()(x=0.0)


@pytest.mark.parametrize(
    ("batch", "rows", "cols"), [(4, 1024, 300), (4, 700, 1024), (3, 16, 16), (32, 600, 600), (1, 513, 512)]
)
def test_a_weight_gradient_in_blocks_of_rows_is_the_plain_product(batch, rows, cols):
    from symgrad.numeric.staged import _t_matmul

    rng = np.random.default_rng(batch + rows)
    a, b = rng.standard_normal((batch, rows)), rng.standard_normal((batch, cols))
    got = _t_matmul(a, b)
    assert got.shape == (rows, cols)
    np.testing.assert_allclose(got, a.T @ b, rtol=1e-14, atol=1e-14)
    complex_b = b + 1e-20j * rng.standard_normal(b.shape)  # the complex step passes complex arrays
    np.testing.assert_allclose(_t_matmul(a, complex_b), a.T @ complex_b, rtol=1e-14, atol=1e-14)


def test_a_batched_weight_gradient_is_printed_as_a_blocked_product():
    net = symgrad.network_from_spec("affine(3,4) > sigmoid > affine(4,2) > half-squared-error")
    source = symgrad.derive(net).lambdify().source
    assert source.count("_t_matmul(") == 2
    assert ".T @" not in source


# -- found by mutation testing (tools/mutate.py) -------------------------------------------------------


@pytest.mark.parametrize("name", ["x", "W1", "b1", "W2", "b2"])
def test_an_infinity_behind_a_saturating_activation_is_still_named(small_net, small_gradient, name):
    # sigmoid(inf) = 1 is finite: the loss alone cannot prove x, W1 and b1 finite, so a staged value
    # that carries them (x W1 + b1) must be checked instead
    values = sample_values(small_net, seed=1)
    values[name] = np.array(values[name], dtype=float, copy=True)
    values[name].flat[0] = np.inf
    with pytest.raises(NonFiniteError, match=rf"'{name}'|{name}\["):
        small_gradient(**values)


def test_an_expression_s_elementary_functions_compile_to_numpy_s():
    # exp, sin, log, sqrt are printed as numpy.<name>: the generated code's namespace holds numpy only
    grad = symgrad.gradient("exp(x)*sin(y) + log(x)*sqrt(y)").lambdify()
    rng = np.random.default_rng(11)
    for x, y in rng.uniform(0.5, 2.0, size=(3, 2)):
        out = grad(x=x, y=y)
        assert out["x"] == pytest.approx(np.exp(x) * np.sin(y) + np.sqrt(y) / x, rel=1e-12)
        assert out["y"] == pytest.approx(np.exp(x) * np.cos(y) + np.log(x) / (2 * np.sqrt(y)), rel=1e-12)


def test_the_batch_size_is_computed_only_where_the_gradient_uses_it():
    # half the squared error has no 1/N: its code needs no N (one numpy.shape call fewer per gradient)
    no_mean = symgrad.derive(symgrad.network_from_spec("affine(3,2) > half-squared-error")).lambdify()
    mean = symgrad.derive(symgrad.network_from_spec("affine(3,2) > mean-squared-error")).lambdify()
    assert "N = numpy.shape(" not in no_mean.source
    assert "    N = numpy.shape(v0)[0]\n" in mean.source


def test_a_bias_gradient_is_summed_straight_to_its_shape():
    # db = ones(1, N) @ G is computed as G.sum(axis=0), shape (M,): no (1, M) row reshaped afterwards
    source = symgrad.derive(symgrad.network_from_spec("affine(3,2) > half-squared-error")).lambdify().source
    assert "    v8 = v6.sum(axis=0)\n" in source
    assert "'b1': v8," in source
    assert "reshape" not in source
    assert "keepdims" not in source


@pytest.mark.parametrize(
    "spec", ["affine(3,2) > softmax-cross-entropy", "affine(3,4) > tanh > affine(4,2) > mean-squared-error"]
)
def test_the_validating_path_gives_the_fast_path_s_gradient(spec):
    # Lists are not float64 arrays: the compiled gradient validates and converts them on its other path,
    # which must compute what the fast path computes (the batch size N included).
    from symgrad.derive.chain import derive
    from symgrad.network import network_from_spec
    from symgrad.numeric.compile import compile_derivation

    net = network_from_spec(spec)
    grad = compile_derivation(derive(net))
    values = sample_values(net, seed=8, batch=5)
    fast = grad(**values)
    slow = grad(**{name: np.asarray(value).tolist() for name, value in values.items()})
    assert set(slow) == set(fast)
    for name in fast:
        np.testing.assert_allclose(slow[name], fast[name], rtol=1e-12, atol=1e-15)
