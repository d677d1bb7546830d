"""check() derives a network once: per network object, and per structure for symgrad's own layers.

A test suite typically builds the same Network in every test; deriving and
compiling it again each time cost more than the fast check itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import sympy as sp

import symgrad
from symgrad import Affine, HalfSquaredError, Network, Sigmoid, Tanh
from symgrad.check import report
from symgrad.check.report import cached_derivation


def build(width: int = 3, *, name: str | None = None, activation: Any = Sigmoid) -> Network:
    return Network([Affine(2, width, name=name), activation(), Affine(width, 1)], loss=HalfSquaredError())


def test_equal_networks_share_the_compiled_gradient_but_keep_their_own_network():
    first, second = build(), build()
    a, b = cached_derivation(first, None, 0), cached_derivation(second, None, 0)
    assert a.network is first
    assert b.network is second
    assert b.lambdify() is a.lambdify()
    assert cached_derivation(second, None, 0) is b  # and per object, as before


def test_different_structures_are_derived_apart():
    base = cached_derivation(build(), None, 0)
    for other in (build(width=4), build(name="enc"), build(activation=Tanh)):
        assert cached_derivation(other, None, 0).lambdify() is not base.lambdify()
    assert cached_derivation(build(), ("W1",), 0).wrt == ("W1",)
    assert cached_derivation(build(), None, sp.Rational(1, 2)).kink == sp.Rational(1, 2)


class _Steep(Sigmoid):
    """A user's layer: same kind and description as Sigmoid, different function."""

    def function(self, z: sp.Expr) -> sp.Expr:
        return super().function(2 * z)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return super().forward(2 * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return 2 * super().backward(dout)


def test_a_subclassed_layer_is_not_mistaken_for_the_builtin_one():
    plain, steep = build(), build(activation=_Steep)
    assert cached_derivation(steep, None, 0).lambdify() is not cached_derivation(plain, None, 0).lambdify()
    assert symgrad.check(steep).ok
    assert symgrad.check(steep, mode="fast").ok


def test_the_structure_cache_evicts_the_least_recently_used_of_64(monkeypatch):
    monkeypatch.setattr(report, "_by_structure", OrderedDict())
    kept = cached_derivation(build(width=1), None, 0)
    for width in range(2, 65):  # 64 structures: all kept
        cached_derivation(build(width=width), None, 0)
    assert cached_derivation(build(width=1), None, 0).lambdify() is kept.lambdify()  # used again: now the newest
    newest = cached_derivation(build(width=65), None, 0)  # 65 structures: the least recently used (width 2) goes
    assert len(report._by_structure) == 64
    assert cached_derivation(build(width=65), None, 0).lambdify() is newest.lambdify()
    assert cached_derivation(build(width=1), None, 0).lambdify() is kept.lambdify()
    assert [key[2][1] for key in report._by_structure][:2] == ["2, 3", "2, 4"]  # the first layer: Affine(2, width)
