"""Tests of symgrad.testing: the assertions, their failure messages, the catalogs and the parametrize helpers."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad
from symgrad.errors import DTypeError, LayerError, SpecError, UnknownNameError
from symgrad.layers import CATALOG, LOSSES
from symgrad.network import network_from_spec
from symgrad.testing import (
    LAYER_CASES,
    N_D_KINDS,
    NETWORK_CASES,
    GradientMismatchError,
    LayerCase,
    NetworkCase,
    assert_case,
    assert_gradients_match,
    assert_network_consistent,
    failure_message,
    parametrize_layers,
    parametrize_networks,
)


def _square(cls, seed=0):
    rng = np.random.default_rng(seed)
    return cls(rng.standard_normal((3, 3)), rng.standard_normal(3)), rng.standard_normal((3, 3))


def _load_wrong_layers() -> ModuleType:
    """tests/check/wrong_layers.py (the checker's catalog of wrong backward passes), loaded by path."""
    path = Path(__file__).parent / "check" / "wrong_layers.py"
    spec = importlib.util.spec_from_file_location("symgrad_tests_wrong_layers_for_testing", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


wrong_layers = _load_wrong_layers()
ArticleAffine = wrong_layers.ArticleAffine  # the article's backward, both transposes missing
CorrectAffine = wrong_layers.Affine


# -- assert_gradients_match ---------------------------------------------------------------------------


def test_correct_affine_passes_and_returns_the_report():
    layer, x = _square(CorrectAffine)
    report = assert_gradients_match(layer, symgrad.Affine(3, 3), x=x)
    assert report.ok
    assert [row.name for row in report.rows] == ["x", "W", "b"]


def test_article_affine_fails_with_an_actionable_message():
    layer, x = _square(ArticleAffine)
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(layer, symgrad.Affine(3, 3), x=x)
    message = str(caught.value)
    report = caught.value.report
    assert isinstance(caught.value, AssertionError)
    assert message.startswith("symgrad: your ArticleAffine against symgrad Affine(3, 3): 2 of 3 gradients FAIL")
    # The worst element of dW, found independently: x @ dout (what the article computes) vs x.T @ dout.
    dout = report.values["dout"]
    wrong, right = x @ dout, x.T @ dout
    i, j = np.unravel_index(np.argmax(np.abs(wrong - right)), wrong.shape)
    block = message.split("dW is wrong:")[1].split("\n\n")[0]
    assert f"worst element   dW[{i}, {j}]" in block
    assert re.search(rf"symbolic\s+{re.escape(f'{right[i, j]:.10g}')}\s+\(the spec's rule\)", block)
    assert re.search(rf"backward\(\)\s+{re.escape(f'{wrong[i, j]:.10g}')}\s+\(your backward\(\)\)", block)
    assert "numeric " in block
    assert "(central differences of your forward())" in block
    assert "tolerance 1e-09" in block
    assert "expected        dW = x.T @ dout, shape (3, 3)" in block
    assert "likely mistake  matches a missing transpose: dW = x @ dout" in block
    assert "your backward() is the odd one out" in block
    assert "dx is wrong:" in message
    assert "expected        dx = dout @ W.T" in message
    assert "db is wrong" not in message  # db is right in the article
    assert re.search(r"^  db\s+3\s+ok", message, re.MULTILINE)


def test_article_affine_non_square_reports_the_exception_and_the_formula():
    rng = np.random.default_rng(1)
    layer = ArticleAffine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    message = str(caught.value)
    assert "dx: backward() raised ValueError" in message
    assert "expected dx = dout @ W.T, shape (4, 3)" in message
    assert "missing transpose" in message
    assert "expected dW = x.T @ dout, shape (3, 2)" in message


def test_loss_layer_with_wrong_gradient_fails_with_the_loss_formula():
    class HalfSquared:
        def forward(self, y, t):
            self.y, self.t = y, t
            return 0.5 * np.sum((y - t) ** 2)

        def backward(self, dout=1):
            return dout * 2 * (self.y - self.t)  # an extra factor of 2

    rng = np.random.default_rng(0)
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(
            HalfSquared(), symgrad.HalfSquaredError(), x=rng.standard_normal((4, 2)), t=rng.standard_normal((4, 2))
        )
    message = str(caught.value)
    assert "dx is wrong:" in message
    assert "expected        dx = dout * (x - t)" in message
    assert "extra factor of 2" in message
    assert "drawn at random" not in message  # a loss's dout is 1, not random


def test_layer_without_spec_fails_against_finite_differences_alone():
    class Doubling:
        def forward(self, x):
            return 2 * x

        def backward(self, dout):
            return dout  # forgot the 2

    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(Doubling(), x=np.ones((2, 2)))
    message = str(caught.value)
    assert "symgrad: your Doubling against finite differences: 1 of 1 gradients FAIL" in message
    assert "your backward() disagrees with finite differences of your forward()" in message
    assert "symbolic " not in message  # no spec, no symbolic side
    assert "expected " not in message  # and no formula
    assert "drawn at random from seed 0" in message


def test_layer_without_spec_and_without_a_known_mistake_gets_a_hint():
    class Cosine:
        def forward(self, x):
            self.x = x
            return np.sin(x)

        def backward(self, dout):
            return dout * np.sin(self.x)  # should be cos

    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(Cosine(), x=np.linspace(0.1, 1.2, 6).reshape(2, 3))
    assert "give the spec" not in str(caught.value)  # no symgrad layer computes sin: no spec is named


def test_a_hint_names_the_spec_whose_forward_matches_the_layer():
    class NoBatchSum(CorrectAffine):
        def backward(self, dout):
            dx = super().backward(dout)
            self.db = dout[0] * 2.0  # neither a sum nor any mistake symgrad knows
            return dx

    rng = np.random.default_rng(3)
    layer = NoBatchSum(rng.standard_normal((3, 2)), rng.standard_normal(2))
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(layer, x=rng.standard_normal((4, 3)))
    assert "give the spec symgrad.Affine(3, 2), whose forward() matches yours" in str(caught.value)


def test_bad_arguments_raise_symgrad_errors_not_assertion_errors():
    layer, x = _square(CorrectAffine)
    with pytest.raises(DTypeError, match="integer dtype"):
        assert_gradients_match(layer, symgrad.Affine(3, 3), x=np.ones((3, 3), dtype=int))

    class Broken:
        def forward(self, x):
            raise RuntimeError("boom")

        def backward(self, dout):
            return dout

    with pytest.raises(LayerError, match="forward raised RuntimeError: boom"):
        assert_gradients_match(Broken(), x=x)


@pytest.mark.parametrize("case", wrong_layers.WRONG, ids=lambda case: case.name)
def test_every_wrong_layer_of_the_checker_catalog_fails_through_the_assertion(case):
    layer, kwargs = case.make(np.random.default_rng(0))
    with pytest.raises(GradientMismatchError) as caught:
        assert_gradients_match(layer, **kwargs)
    message = str(caught.value)
    assert f"d{case.row} is wrong" in message
    if case.keyword is not None:
        assert case.keyword in message


@pytest.mark.parametrize("case", wrong_layers.RIGHT, ids=lambda case: case.name)
def test_every_right_layer_of_the_checker_catalog_passes_the_assertion(case):
    layer, kwargs = case.make(np.random.default_rng(0))
    assert assert_gradients_match(layer, **kwargs).ok


# -- assert_network_consistent ---------------------------------------------------------------------


class HalfDW(symgrad.Affine):
    """A symgrad Affine whose backward halves dW."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = 0.5 * self.dW
        return dx


def test_network_assertion_passes_on_a_spec_string_and_a_derivation():
    assert assert_network_consistent("affine(2,3) > relu > affine(3,2) > softmax-cross-entropy", seed=3).ok
    derivation = symgrad.derive(symgrad.article_network())
    assert assert_network_consistent(derivation, seed=1).ok
    relu = symgrad.derive(network_from_spec("affine(2,3) > relu > affine(3,1) > half-squared-error"), kink=1)
    assert assert_network_consistent(relu, seed=2).ok  # the derivation's own relu'(0)


def test_network_assertion_names_the_layer_gradient_and_chain_rule_step():
    net = symgrad.Network([HalfDW(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 2)], loss=symgrad.HalfSquaredError())
    with pytest.raises(GradientMismatchError) as caught:
        assert_network_consistent(net)
    message = str(caught.value)
    report = caught.value.report
    assert "1 of 5 gradients FAIL" in message
    assert "dE/dW1 is wrong (layer 1, HalfDW(3, 4)):" in message
    row = report.row("W1")
    index = ", ".join(str(i) for i in row.worst_index)
    assert f"worst element   dE/dW1[{index}]" in message
    assert "(the chain-rule derivation)" in message
    assert "(the layers' backward())" in message
    assert "expected        dE/dW1 = x.T @ dE/dh1" in message
    assert "the layers' backward() is the odd one out" in message
    np.testing.assert_allclose(row.backward, 0.5 * row.symbolic)


def test_network_assertion_in_fast_mode_says_what_the_direction_found():
    net = symgrad.Network([HalfDW(3, 4), symgrad.Tanh(), symgrad.Affine(4, 2)], loss=symgrad.MeanSquaredError())
    with pytest.raises(GradientMismatchError) as caught:
        assert_network_consistent(net, mode="fast")
    message = str(caught.value)
    assert "finite differences along a random direction" in message
    assert "dE/dW1 is wrong (layer 1, HalfDW(3, 4)):" in message


def test_failure_message_of_a_passing_report_says_so():
    report = symgrad.check(symgrad.article_network())
    assert failure_message(report) == (
        "symgrad: The article's network: all 5 gradients agree (seed 0; numeric side: central differences)"
    )


# -- catalogs and parametrize helpers -------------------------------------------------------------------


def test_layer_catalog_covers_every_built_in_layer():
    # The N-D kinds are covered by the network cases (test below), not as single layers yet.
    assert {case.spec.kind for case in LAYER_CASES} == set(CATALOG) - N_D_KINDS


def test_network_catalog_covers_every_layer_kind_and_loss():
    kinds = set()
    for case in NETWORK_CASES:
        net = case.network()
        kinds |= {layer.kind for layer in net.layers} | {net.loss.kind}
    assert kinds == set(CATALOG)
    assert kinds >= LOSSES


def test_layer_case_arguments_are_deterministic():
    case = next(case for case in LAYER_CASES if case.target == "one-hot")
    first, second = case.arguments(7), case.arguments(7)
    np.testing.assert_array_equal(first["x"], second["x"])
    np.testing.assert_array_equal(first["t"], second["t"])
    assert np.all(first["t"].sum(axis=1) == 1)
    assert not np.array_equal(first["x"], case.arguments(8)["x"])


def test_layer_case_with_unknown_target_kind():
    case = LayerCase("odd", lambda rng: symgrad.HalfSquaredError(), symgrad.HalfSquaredError(), (2, 2), "uniform")
    with pytest.raises(UnknownNameError, match="unknown target 'uniform'"):
        case.arguments(0)


def test_parametrize_ids_are_stable_and_free_of_addresses():
    marker = parametrize_layers(seeds=range(2))
    ids = [param.id for param in marker.args[1]]
    assert ids == [param.id for param in parametrize_layers(seeds=range(2)).args[1]]
    assert len(ids) == len(set(ids)) == 2 * len(LAYER_CASES)
    assert ids[:2] == ["affine(1,1)-x1x1-seed0", "affine(1,1)-x1x1-seed1"]
    assert not any(re.search(r"0x[0-9a-f]+", i) for i in ids)
    assert marker.args[0] == ("case", "seed")
    network_ids = [param.id for param in parametrize_networks(seeds=[5]).args[1]]
    assert network_ids == [f"{case.id}-seed5" for case in NETWORK_CASES]


def test_parametrize_refuses_duplicate_ids_bad_seeds_and_other_objects():
    case = LAYER_CASES[0]
    with pytest.raises(SpecError, match="is used twice"):
        parametrize_layers([case, case])
    with pytest.raises(UnknownNameError, match="non-negative integers"):
        parametrize_layers(seeds=[-1])
    with pytest.raises(SpecError, match="must be LayerCase objects"):
        parametrize_layers([NETWORK_CASES[0]])


def test_assert_case_runs_both_kinds_and_refuses_others():
    assert assert_case(LAYER_CASES[0], seed=2).ok
    assert assert_case(NetworkCase("mini", "affine > tanh > affine > half-squared-error"), seed=2).ok
    with pytest.raises(SpecError, match="takes a LayerCase or a NetworkCase"):
        assert_case("affine > half-squared-error")  # type: ignore[arg-type]


def test_network_case_from_a_factory():
    case = NetworkCase("built", lambda: network_from_spec("affine(2,2) > sigmoid > affine(2,1) > half-squared-error"))
    assert case.network().params == ("W1", "b1", "W2", "b2")


def test_a_failure_at_a_given_point_names_that_point_not_a_seed():
    # Regression: the message said "seed 0" although the values were the user's own.
    from symgrad.testing import failure_message

    net = symgrad.article_network()
    values = {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.3, "w2": 1.7, "b2": 0.2}
    first = failure_message(symgrad.check(net, values), network=net).splitlines()[0]
    assert "(at the given point;" in first
    assert "seed" not in first
    assert "(seed 0;" in failure_message(symgrad.check(net), network=net).splitlines()[0]
