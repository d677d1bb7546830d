"""The fast path of the compiled gradient: float64 arrays go to the generated code uncopied.

Finiteness is then proven from a few batch-sized values (the pre-activations
``x W + b`` and the loss) rather than by a pass over every weight; these tests
pin that every input is still covered, including through saturating
activations, and that the results equal the validating path's bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import (
    Affine,
    HalfSquaredError,
    MeanSquaredError,
    Network,
    NonFiniteError,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from symgrad.check.points import sample_values
from symgrad.numeric.compile import generate_source

NETWORKS = {
    "sigmoid-hse": lambda: Network([Affine(3, 4), Sigmoid(), Affine(4, 2), Sigmoid()], loss=HalfSquaredError()),
    "tanh-mse": lambda: Network([Affine(3, 4), Tanh(), Affine(4, 2)], loss=MeanSquaredError()),
    "relu-softmax": lambda: Network([Affine(3, 5), ReLU(), Affine(5, 3)], loss=SoftmaxCrossEntropy()),
    "activation-first": lambda: Network([Sigmoid(), Affine(3, 2), Tanh()], loss=HalfSquaredError()),
}


@pytest.fixture(params=sorted(NETWORKS))
def case(request):
    net = NETWORKS[request.param]()
    return net, symgrad.derive(net).lambdify()


def test_fast_path_equals_the_validating_path_exactly(case):
    net, grad = case
    values = sample_values(net, seed=4, batch=5)
    assert grad._trusted(values) is not None  # float64 arrays take the fast path
    fast_loss, fast = grad.evaluate(values)
    slow_loss, slow = grad.evaluate({name: np.asarray(value).tolist() for name, value in values.items()})
    assert fast_loss == slow_loss
    for name, array in slow.items():
        assert fast[name].shape == array.shape == np.shape(values[name])
        assert fast[name].dtype == np.float64
        np.testing.assert_array_equal(fast[name], array)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_every_non_finite_input_is_reported_by_name(case, bad):
    """A saturating activation hides an infinity (sigmoid(inf) = 1): the check must not rely on the output."""
    net, grad = case
    values = sample_values(net, seed=5, batch=3)
    for name in net.names:
        if name == "t" and isinstance(net.loss, SoftmaxCrossEntropy):
            continue  # one-hot targets: a non-finite label is its own error, tested below
        broken = {key: np.array(value, copy=True) for key, value in values.items()}
        broken[name].flat[1] = bad
        with pytest.raises(NonFiniteError, match=f"'{name}'"):
            grad(**broken)


def test_a_non_finite_one_hot_target_is_reported():
    net = NETWORKS["relu-softmax"]()
    values = sample_values(net, seed=0, batch=2)
    values["t"] = np.array(values["t"], copy=True)
    values["t"][0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="'t'"):
        symgrad.derive(net).lambdify()(**values)


def test_results_share_no_memory_with_inputs_or_each_other(case):
    net, grad = case
    values = sample_values(net, seed=6, batch=4)
    out = grad(**values)
    arrays = [*values.values(), *out.values()]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: np.asarray(a, dtype=np.float32),
        lambda a: np.asfortranarray(a),
        lambda a: np.asarray(a, dtype=">f8"),
    ],
    ids=["float32", "fortran-order", "big-endian"],
)
def test_other_arrays_give_the_same_gradient(case, convert):
    net, grad = case
    values = sample_values(net, seed=7, batch=3)
    expected = grad(**values)
    out = grad(**{name: convert(value) for name, value in values.items()})
    for name, array in expected.items():
        np.testing.assert_allclose(out[name], array, rtol=1e-5, atol=1e-6)


class _Tagged(np.ndarray):
    """A subclass may redefine operators (np.matrix makes * a matrix product)."""


def test_an_ndarray_subclass_takes_the_validating_path():
    net = NETWORKS["sigmoid-hse"]()
    grad = symgrad.derive(net).lambdify()
    values = sample_values(net, seed=8, batch=3)
    tagged = {**values, "W1": values["W1"].view(_Tagged), "x": values["x"].view(_Tagged)}
    assert grad._trusted(tagged) is None
    out = grad(**tagged)
    np.testing.assert_array_equal(out["W1"], grad(**values)["W1"])
    assert type(out["W1"]) is np.ndarray


def test_an_empty_batch_is_refused_by_the_validating_path():
    net = NETWORKS["sigmoid-hse"]()
    grad = symgrad.derive(net).lambdify()
    values = sample_values(net, seed=0, batch=2)
    values["x"], values["t"] = values["x"][:0], values["t"][:0]
    with pytest.raises(symgrad.ShapeError, match="empty"):
        grad(**values)


def test_the_loss_reuses_the_output_gradient():
    """E = sum((y - t)**2) / 2 and dE/dy = y - t: the staged code computes y - t once."""
    net = NETWORKS["sigmoid-hse"]()
    source = symgrad.derive(net).lambdify().source
    assert source.count(" - v1)") == 1  # v1 is t
    assert "numpy.sum" not in source
    assert "(-1)*" not in source


def test_only_batched_derivations_have_a_checked_variant():
    derivation = symgrad.derive(symgrad.article_network())
    with pytest.raises(symgrad.ShapeError, match="batched"):
        generate_source(derivation, checked=True)
    assert "return None" in generate_source(symgrad.derive(NETWORKS["tanh-mse"]()), checked=True)


def test_an_unknown_or_missing_name_leaves_the_fast_path_and_is_refused(case):
    net, grad = case
    values = sample_values(net, seed=9, batch=3)
    with pytest.raises(symgrad.UnknownNameError, match="unknown input 'lr'"):
        grad(**values, lr=np.ones(2))
    missing = dict(values)
    del missing["x"]
    with pytest.raises(symgrad.UnknownNameError, match="missing value for 'x'"):
        grad(**missing)
