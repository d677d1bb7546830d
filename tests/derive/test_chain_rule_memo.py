"""The memo of matrix rules in symgrad/derive/chain.py: symgrad's own layers only (found by mutation testing)."""

from __future__ import annotations

import pytest

import symgrad
from symgrad.derive import chain


class UsersAffine(symgrad.Affine):
    """A user's subclass: it may hold state its description does not show, so its rules are never memoized."""


@pytest.fixture
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "_rules", type(chain._rules)())


def _kinds() -> set[type]:
    return {key[1] for key in chain._rules}


def test_symgrad_s_own_layers_rules_are_memoized(fresh_memo: None) -> None:
    symgrad.derive(symgrad.Network([symgrad.Affine(3, 5), symgrad.Sigmoid()], loss=symgrad.HalfSquaredError()))
    assert {symgrad.Affine, symgrad.Sigmoid} <= _kinds()


def test_a_users_subclass_is_not_memoized(fresh_memo: None) -> None:
    symgrad.derive(symgrad.Network([UsersAffine(3, 5)], loss=symgrad.HalfSquaredError()))
    assert UsersAffine not in _kinds()
    assert symgrad.HalfSquaredError in _kinds()


def test_a_layer_with_a_rule_method_set_on_the_instance_is_not_memoized(fresh_memo: None) -> None:
    layer = symgrad.Affine(3, 5)
    layer.matrix_forward = layer.matrix_forward  # the instance's own attribute, as a user's patch would be
    symgrad.derive(symgrad.Network([layer], loss=symgrad.HalfSquaredError()))
    assert symgrad.Affine not in _kinds()
