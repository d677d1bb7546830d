"""Bad input, catalogued: each mistake a user can make gets one of symgrad's exceptions (a
subclass of SymgradError) whose message names the problem and what was expected.

Every case asserts the exception type AND a key phrase of the message, and finishes in under
2 seconds (nothing hangs: size and time guards stop hostile input early). While the catalog
runs, eval, exec, compile and SymPy's string parser are watched: a user's text reaching any of
them fails the test (every user string in the catalog carries the marker ``zqmark``).
"""

from __future__ import annotations

import ast
import builtins
import io
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
import sympy.parsing.sympy_parser

import symgrad
from symgrad.check.points import sample_values
from symgrad.cli import main
from symgrad.errors import (
    ComplexityError,
    DTypeError,
    LayerError,
    NonFiniteError,
    ParseError,
    ShapeError,
    SpecError,
    SymgradError,
    UndefinedValueError,
    UnknownNameError,
    UnsafeExpressionError,
)
from symgrad.network import network_from_spec
from symgrad.testing import GradientMismatchError, assert_gradients_match

MARK = "zqmark"
SECONDS = 10.0  # a hang guard (the work must stop), not a speed target: these take milliseconds


class ReachedEval(BaseException):  # a BaseException, so no `except Exception` in symgrad can hide it
    """A user's string reached eval, exec, compile or sympify."""


def _text_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [a for a in (*args, *kwargs.values()) if isinstance(a, (str, bytes))]
    return " ".join(p.decode("latin-1") if isinstance(p, bytes) else p for p in parts)


@pytest.fixture(autouse=True)
def no_user_text_reaches_eval(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Watch eval, exec, compile (except ast.parse) and SymPy's parse_expr for the marker."""
    seen: list[str] = []

    def watch(name: str, original: Callable[..., Any], *, ast_ok: bool = False) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
            only_ast = ast_ok and isinstance(flags, int) and bool(flags & ast.PyCF_ONLY_AST)
            if MARK in _text_of(args, kwargs) and not only_ast:
                seen.append(name)
                raise ReachedEval(f"user text reached {name}: {_text_of(args, kwargs)[:80]!r}")
            return original(*args, **kwargs)

        return watched

    monkeypatch.setattr(builtins, "eval", watch("eval", builtins.eval))
    monkeypatch.setattr(builtins, "exec", watch("exec", builtins.exec))
    monkeypatch.setattr(builtins, "compile", watch("compile", builtins.compile, ast_ok=True))
    parser = sympy.parsing.sympy_parser
    monkeypatch.setattr(parser, "parse_expr", watch("sympify", parser.parse_expr))
    return seen


def test_the_watch_is_on():
    with pytest.raises(ReachedEval):
        sympy.sympify(f"{MARK} + 1")
    with pytest.raises(ReachedEval):
        eval(f"{MARK}")
    assert ast.parse(f"{MARK} + 1", mode="eval")  # the safe parser may read it
    assert symgrad.check(symgrad.article_network()).ok  # symgrad's own generated code still runs


# -- the catalog ------------------------------------------------------------------------------------

NET = "affine(3,4) > sigmoid > affine(4,2) > half-squared-error"


def _net() -> symgrad.Network:
    return network_from_spec(NET)


def _good() -> dict[str, Any]:
    return sample_values(_net(), seed=0)


def _with(**changes: Any) -> Callable[[], Any]:
    return lambda: symgrad.check(_net(), {**_good(), **changes})


class Affine:
    """A correct user layer in the article's protocol."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.W, self.b = rng.standard_normal((3, 2)), np.zeros(2)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T


class ForwardRaises(Affine):
    def forward(self, x):
        raise KeyError("boom")


class BackwardExits(Affine):
    def backward(self, dout):
        raise SystemExit(3)


class ForwardExitsLater(Affine):
    """Exits in a forward pass of the finite-difference sweep, after the first calls succeeded."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 4:
            raise SystemExit("bye")
        return super().forward(x)


X = np.random.default_rng(1).standard_normal((4, 3))
SPEC = symgrad.Affine(3, 2)


def _layer(**kwargs: Any) -> Callable[[], Any]:
    return lambda: symgrad.check_layer(Affine(), SPEC, **{"x": X, **kwargs})


def _big_affine(n: int) -> symgrad.Network:
    return symgrad.Network([symgrad.Affine(n, n)], loss=symgrad.HalfSquaredError())


# small and parseable; the elementary steps of max() grow ~1.25x per variable: hours at 50
SLOW = "max(" + ", ".join(f"{MARK}{i}" for i in range(50)) + ")"

def _graph() -> symgrad.Network:
    x, t = symgrad.Input("x", 3), symgrad.Input("t", 3)
    return symgrad.Network(symgrad.HalfSquaredError()(x + symgrad.Affine(3, 3)(x), t))


CATALOG = [
    # unknown names
    pytest.param(lambda: symgrad.derive(_net(), wrt=[f"W{MARK}"]), UnknownNameError,
                 f"cannot differentiate with respect to 'W{MARK}': the network's names are x, W1", id="derive-wrt"),
    pytest.param(_with(**{MARK: 1.0}), UnknownNameError, f"unknown input '{MARK}'; this derivation takes x, t",
                 id="check-values-unknown"),
    pytest.param(lambda: symgrad.check(_net(), {k: v for k, v in _good().items() if k != "W1"}), UnknownNameError,
                 "missing value for 'W1'", id="check-values-missing"),
    pytest.param(lambda: symgrad.check(_net(), wrt=[MARK]), UnknownNameError,
                 f"cannot differentiate with respect to '{MARK}'", id="check-wrt"),
    pytest.param(lambda: symgrad.derive(_net()).lambdify()(**_good(), **{MARK: 1.0}), UnknownNameError,
                 f"unknown input '{MARK}'", id="lambdify-kwargs"),
    pytest.param(lambda: symgrad.derive(_net()).lambdify()(1.0, 2.0), UnknownNameError,
                 "a compiled gradient takes its inputs by name, got 2 positional arguments: call it as grad(x=..., ",
                 id="lambdify-positional"),  # was a raw TypeError
    pytest.param(lambda: symgrad.gradient("3*x + 4*y").lambdify()(1.0, y=2.0), UnknownNameError,
                 "got 1 positional argument: call it as grad(x=..., y=...)", id="gradient-lambdify-positional"),
    pytest.param(lambda: symgrad.gradient("3*x + 4*y").lambdify()(x=1.0, y=2.0, z=3.0), UnknownNameError,
                 "unknown input 'z'; this derivation takes x, y", id="gradient-lambdify-kwargs"),
    pytest.param(lambda: symgrad.gradient("3*x + 4*y", wrt=[MARK]), UnknownNameError,
                 "the expression's variables are x, y", id="gradient-wrt"),
    pytest.param(lambda: symgrad.check(symgrad.article_network()).row(MARK), UnknownNameError,
                 f"no row '{MARK}'; the rows are w1, b1", id="report-row"),
    pytest.param(lambda: symgrad.derive(_net()).steps(MARK), UnknownNameError,
                 f"no gradient with respect to '{MARK}'", id="derivation-steps"),
    pytest.param(lambda: symgrad.check_layer(Affine(), x=X, params=[MARK]), UnknownNameError,
                 f"has no attribute '{MARK}', which params= names", id="check-layer-params"),
    pytest.param(lambda: symgrad.derive(_net(), wrt=5), UnknownNameError,
                 "wrt must be a name or a list of names, got int", id="derive-wrt-int"),
    pytest.param(lambda: symgrad.check(_net(), wrt=5), UnknownNameError, "wrt must be a name or a list of names",
                 id="check-wrt-int"),
    pytest.param(lambda: symgrad.gradient("x*y", wrt=5), UnknownNameError, "wrt must be a name or a list of names",
                 id="gradient-wrt-int"),
    pytest.param(lambda: symgrad.check_layer(Affine(), x=X, params=5), UnknownNameError,
                 "params must name the parameters (['W', 'b'])", id="check-layer-params-int"),
    pytest.param(lambda: symgrad.Affine(3, 4, name=f"<script>{MARK}"), UnknownNameError,
                 "use 1 to 32 letters, digits or '_'", id="layer-name"),
    # options
    pytest.param(lambda: symgrad.check(_net(), seed=-1), UnknownNameError, "seed must be a non-negative integer",
                 id="check-seed"),
    pytest.param(lambda: symgrad.check(_net(), rtol=MARK), UnknownNameError, "rtol must be a positive number",
                 id="check-rtol"),
    pytest.param(lambda: symgrad.check(_net(), rtol=0), UnknownNameError,
                 "0 is not allowed: finite differences are never exact", id="check-rtol-zero"),  # was ZeroDivisionError
    pytest.param(lambda: symgrad.check(_net(), rtol=0.0, mode="fast"), UnknownNameError, "rtol must be a positive",
                 id="check-fast-rtol-zero"),
    pytest.param(lambda: symgrad.check(_net(), mode=MARK), UnknownNameError, "choose 'full' or 'fast'",
                 id="check-mode"),
    pytest.param(lambda: symgrad.check(_net(), method=MARK), UnknownNameError, "choose one of 'central'",
                 id="check-method"),
    pytest.param(lambda: symgrad.check(_net(), kink=MARK), UnknownNameError, "kink must be 0, 1/2 or 1",
                 id="check-kink"),
    pytest.param(lambda: symgrad.check(_net(), [1, 2]), UnknownNameError, "values must be a mapping", id="values-list"),
    pytest.param(lambda: symgrad.check(NET), UnknownNameError, "takes a symgrad Network", id="check-string"),
    pytest.param(lambda: symgrad.derive(NET), UnknownNameError, "for an expression use gradient()", id="derive-string"),
    pytest.param(_layer(seed="a"), UnknownNameError, "seed must be a non-negative integer", id="check-layer-seed"),
    pytest.param(_layer(rtol=MARK), UnknownNameError, "rtol must be a positive number", id="check-layer-rtol"),
    pytest.param(_layer(rtol=0), UnknownNameError, "0 is not allowed: finite differences are never exact",
                 id="check-layer-rtol-zero"),  # was a raw ZeroDivisionError
    pytest.param(lambda: symgrad.gradient("x*y", time_limit=-1), UnknownNameError,
                 "time_limit must be a positive number", id="gradient-time-limit"),
    # shapes that do not match
    pytest.param(_with(x=np.ones((4, 5))), ShapeError, "'x' has shape (4, 5); expected (4, 3)", id="x-features"),
    pytest.param(_with(x=np.ones(3)), ShapeError, "'x' has shape (3,); expected (N, 3)", id="x-1d"),
    pytest.param(_with(W1=np.ones((4, 3))), ShapeError, "'W1' has shape (4, 3); expected (3, 4)", id="W-shape"),
    pytest.param(_with(b1=np.ones((1, 4))), ShapeError, "'b1' has shape (1, 4); expected (4,)", id="b-shape"),
    pytest.param(_with(t=np.ones((4, 3))), ShapeError, "'t' has shape (4, 3); expected (4, 2)", id="t-shape"),
    pytest.param(lambda: symgrad.check(symgrad.article_network(), {"x": np.ones(2), "t": 1.0, "w1": 1.0, "b1": 0.0,
                                                                  "w2": 1.0, "b2": 0.0}),
                 ShapeError, "'x' has shape (2,); expected ()", id="scalar-network-array"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=np.ones((4, 5))), ShapeError,
                 "the spec Affine(3, 2) takes x of shape (N, 3); x has shape (4, 5)", id="check-layer-x-features"),
    pytest.param(lambda: symgrad.check_layer(Affine(), symgrad.Affine(3, 4), x=X), ShapeError,
                 "the spec Affine(3, 4) has W of shape (3, 4); your layer's W has shape (3, 2)", id="check-layer-W"),
    pytest.param(lambda: symgrad.check_layer(symgrad.HalfSquaredError(), symgrad.HalfSquaredError(), x=np.ones((2, 2)),
                                             t=np.ones((3, 3))),
                 ShapeError, "takes t of the shape of x, (2, 2); t has shape (3, 3)", id="check-layer-t-shape"),
    pytest.param(_layer(dout=np.ones((4, 3))), ShapeError, "'dout' has shape (4, 3); expected (4, 2)",
                 id="check-layer-dout"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=[[1.0, 2.0, 3.0], [1.0]]), ShapeError,
                 "'x' cannot be made into an array", id="check-layer-ragged"),
    pytest.param(lambda: symgrad.Affine(3.5, 4), ShapeError, "in_features must be a positive integer, got 3.5",
                 id="affine-float"),
    pytest.param(lambda: network_from_spec("affine(3,4) > affine(5,2) > half-squared-error"), ShapeError,
                 "layer 2, Affine(5, 2), expects 5 input features, but its input has 4", id="network-mismatch"),
    pytest.param(lambda: network_from_spec("affine(3,1) > softmax-cross-entropy"), ShapeError,
                 "at least 2 outputs", id="softmax-one-output"),
    # dtypes
    pytest.param(_with(x=np.ones((4, 3), dtype=int)), DTypeError, "integer dtype int64", id="x-int"),
    pytest.param(_with(W1=np.ones((3, 4)) + 1j), DTypeError, "complex dtype complex128; pass real floats",
                 id="W-complex"),
    pytest.param(_with(W1=np.ones((3, 4)).astype(object)), DTypeError, "object dtype", id="W-object"),
    pytest.param(_with(x=np.full((4, 3), MARK)), DTypeError, "string dtype", id="x-string"),
    pytest.param(lambda: symgrad.derive(_net()).lambdify()(**{**_good(), "W1": np.ones((3, 4), dtype=np.int32)}),
                 DTypeError, "pass W1.astype(float)", id="lambdify-int"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=np.ones((4, 3), dtype=np.int16)), DTypeError,
                 "integer dtype int16", id="check-layer-x-int"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=X + 0j), DTypeError, "complex dtype",
                 id="check-layer-x-complex"),
    # NaN and infinity
    pytest.param(_with(x=np.full((4, 3), np.nan)), NonFiniteError, "the first is x[0, 0] = nan", id="x-nan"),
    pytest.param(_with(W1=np.full((3, 4), np.inf)), NonFiniteError, "the first is W1[0, 0] = inf", id="W-inf"),
    pytest.param(lambda: symgrad.gradient("3*x + 4*y").lambdify()(x=float("nan"), y=2.0), NonFiniteError,
                 "'x' is nan; expected a finite number", id="gradient-nan"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=np.full((2, 3), -np.inf)), NonFiniteError,
                 "non-finite", id="check-layer-x-inf"),
    pytest.param(lambda: symgrad.check(symgrad.article_network(), {"x": 1e200, "t": 1.0, "w1": 1e200, "b1": 0.0,
                                                                  "w2": 1.0, "b2": 0.0}),
                 NonFiniteError, "the loss E is not finite at this point", id="check-overflow"),
    pytest.param(_layer(dout=np.full((4, 2), np.nan)), NonFiniteError, "'dout' has 8 non-finite",
                 id="check-layer-dout-nan"),
    # empty arrays and a batch of zero
    pytest.param(_with(x=np.ones((0, 3)), t=np.ones((0, 2))), ShapeError, "'x' is empty (shape (0, 3))",
                 id="x-batch-zero"),
    pytest.param(lambda: symgrad.check(_net(), batch=0), ShapeError, "batch must be a positive integer",
                 id="check-batch-zero"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=np.ones((0, 3))), ShapeError,
                 "'x' is empty (shape (0, 3))", id="check-layer-batch-zero"),
    pytest.param(lambda: symgrad.check_layer(Affine(), x=[]), ShapeError, "is empty", id="check-layer-empty"),
    # layers that break the protocol (a backward that raises is reported, see below)
    pytest.param(lambda: symgrad.check_layer(ForwardRaises(), SPEC, x=X), LayerError,
                 "ForwardRaises's forward raised KeyError: 'boom' (x has shape (4, 3))", id="forward-raises"),
    pytest.param(lambda: symgrad.check_layer(BackwardExits(), SPEC, x=X), LayerError,
                 "your layer BackwardExits's backward() raised SystemExit(3) during the check", id="backward-exits"),
    pytest.param(lambda: symgrad.check_layer(ForwardExitsLater(), SPEC, x=X), LayerError,
                 "your layer ForwardExitsLater's forward() or backward() raised SystemExit('bye')",
                 id="forward-exits-in-sweep"),
    pytest.param(lambda: symgrad.check_layer(object(), SPEC, x=X), LayerError,
                 "takes a layer with forward(x) and backward(dout) methods", id="not-a-layer"),
    pytest.param(lambda: symgrad.check_layer(Affine(), MARK, x=X), SpecError, "spec must be a symgrad layer",
                 id="spec-string"),
    pytest.param(lambda: symgrad.check_layer((lambda x: x, lambda dout, cache: dout), x=X), LayerError,
                 "must return (out, cache)", id="pair-forward"),
    # network specs
    pytest.param(lambda: network_from_spec(f"affine(3,4) > {MARK} > half-squared-error"), SpecError,
                 f"unknown layer '{MARK}' at column 15; known layers: affine, sigmoid", id="spec-unknown-layer"),
    pytest.param(lambda: network_from_spec("affine(3,4 > half-squared-error"), SpecError,
                 "expected ',' or ')' in the arguments of 'affine' at column 12", id="spec-syntax"),
    pytest.param(lambda: network_from_spec(f"__import__('{MARK}')"), SpecError, "unexpected character '_' at column 1",
                 id="spec-python"),
    pytest.param(lambda: network_from_spec(""), SpecError, "the network spec is empty", id="spec-empty"),
    pytest.param(lambda: network_from_spec("affine(3,4) > sigmoid"), SpecError,
                 "the last layer of a spec must be a loss", id="spec-no-loss"),
    pytest.param(lambda: network_from_spec("affine(99999999,2) > half-squared-error"), SpecError,
                 "is above the limit of 1000000", id="spec-huge-size"),
    pytest.param(lambda: network_from_spec("sigmoid > " * 10_000 + "half-squared-error"), ComplexityError,
                 "the limit is 10000", id="spec-100kB"),
    pytest.param(lambda: network_from_spec("tanh > " * 40 + "affine > half-squared-error"), ComplexityError,
                 "a network of 41 layers is deeper than symgrad derives: at most 32", id="spec-too-deep"),
    pytest.param(lambda: symgrad.Network([symgrad.Sigmoid()] * 10_000, loss=symgrad.HalfSquaredError()),
                 ComplexityError, "a network of 10000 layers", id="network-10000-layers"),
    pytest.param(lambda: symgrad.Network([symgrad.Affine()], loss=symgrad.HalfSquaredError(), title=7), SpecError,
                 "title must be a str, got int", id="network-title"),
    pytest.param(lambda: symgrad.Network([symgrad.Affine], loss=symgrad.HalfSquaredError()), SpecError,
                 "not a symgrad layer", id="network-layer-class"),
    # expression strings
    pytest.param(lambda: symgrad.gradient(f"__import__('os').system('{MARK}')"), UnsafeExpressionError,
                 "attribute access is not allowed", id="expr-import-system"),
    pytest.param(lambda: symgrad.gradient(f"__import__('{MARK}')"), UnsafeExpressionError,
                 "names starting with '_' are not allowed", id="expr-import"),
    pytest.param(lambda: symgrad.gradient(f"{MARK}.real"), UnsafeExpressionError, "attribute access is not allowed",
                 id="expr-attribute"),
    pytest.param(lambda: symgrad.gradient(f"(lambda: {MARK})()"), UnsafeExpressionError, "lambda is not allowed",
                 id="expr-lambda"),
    pytest.param(lambda: symgrad.gradient(f"eval('{MARK}')"), UnsafeExpressionError, "function 'eval' is not allowed",
                 id="expr-eval"),
    pytest.param(lambda: symgrad.gradient(f"'{MARK}'*x"), UnsafeExpressionError, "string literal",
                 id="expr-string-literal"),
    pytest.param(lambda: symgrad.gradient(f"{MARK}; import os"), ParseError, "invalid expression", id="expr-statement"),
    pytest.param(lambda: symgrad.gradient(f"{MARK} + " * 12_500 + "x"), ComplexityError,
                 "characters long; the limit is 10000", id="expr-100kB"),
    pytest.param(lambda: symgrad.gradient("(" * 500 + MARK + ")" * 500), ComplexityError, "too many nested",
                 id="expr-deep-parentheses"),
    pytest.param(lambda: symgrad.gradient("sin(" * 200 + MARK + ")" * 200), ComplexityError,
                 "nested more than 100 deep", id="expr-deep-calls"),
    pytest.param(lambda: symgrad.gradient(f"{MARK}**9**9**9"), ComplexityError, "is too large; the limit is 1000",
                 id="expr-huge-power"),
    pytest.param(lambda: symgrad.gradient("+".join(f"{MARK}{i}" for i in range(1000))), ComplexityError,
                 "1000 variables to differentiate with respect to; symgrad derives at most 100",
                 id="expr-many-variables"),
    pytest.param(lambda: symgrad.gradient(SLOW, time_limit=0.3), ComplexityError,
                 "the gradient took more than 0.3 s of symbolic work", id="expr-time-limit"),
    pytest.param(lambda: symgrad.gradient(f"((({MARK}**1000)**1000)**1000)"), ComplexityError,
                 f"makes {MARK} to the power 1000000, which is too large (powers of powers multiply",
                 id="expr-nested-powers"),  # each exponent was within the limit; their product was not checked
    pytest.param(lambda: symgrad.gradient(f"{MARK}**1000 * {MARK}**1000"), ComplexityError,
                 f"makes {MARK} to the power 2000", id="expr-product-of-powers"),
    # undefined and complex values: never a result such as zoo, nor a complex value dropped to its real part
    pytest.param(lambda: symgrad.gradient(f"{MARK}/0"), ParseError, "division by 0 is undefined; expected a nonzero",
                 id="expr-divide-by-zero"),  # returned zoo
    pytest.param(lambda: symgrad.gradient(f"{MARK} - {MARK}/(1 - 1)"), ParseError, "division by 0 is undefined",
                 id="expr-minus-divide-by-zero"),  # lambdify() raised a raw KeyError: 'ComplexInfinity'
    pytest.param(lambda: symgrad.gradient(sympy.Symbol("x") / 0), UndefinedValueError,
                 "the expression f = zoo*x has no real value: it contains zoo, complex infinity (a division by zero)",
                 id="sympy-divide-by-zero"),
    pytest.param(lambda: symgrad.gradient(sympy.Symbol("x") - sympy.Symbol("x") / 0), UndefinedValueError,
                 "contains zoo", id="sympy-minus-divide-by-zero"),
    pytest.param(lambda: symgrad.gradient(sympy.oo * sympy.Symbol("x")), UndefinedValueError,
                 "contains oo, an infinity", id="sympy-infinity"),
    pytest.param(lambda: symgrad.gradient(f"sqrt(-1)*{MARK}"), UndefinedValueError,
                 f"f = I*{MARK} has no real value: it contains the complex number I; expected an expression that",
                 id="expr-sqrt-minus-one"),  # gave I symbolically, then 0.0 from lambdify()
    pytest.param(lambda: symgrad.gradient(f"log(-1)*{MARK}"), UndefinedValueError, "the complex number I",
                 id="expr-log-minus-one"),
    pytest.param(lambda: symgrad.gradient(sympy.Rational(-1) ** sympy.Rational(1, 3) * sympy.Symbol("x")),
                 UndefinedValueError, "the complex number (-1)**(1/3)", id="sympy-cube-root-minus-one"),
    pytest.param(lambda: symgrad.gradient("sqrt(x)").lambdify()(x=-1.0), NonFiniteError,
                 "the function's value is nan at these values", id="lambdify-outside-domain"),
    pytest.param(lambda: symgrad.gradient("1/x").lambdify()(x=0.0), NonFiniteError,
                 "is inf at these values", id="lambdify-pole"),
    pytest.param(lambda: symgrad.gradient(None), ParseError, "takes an expression string or a SymPy expression",
                 id="expr-none"),
    # sizes that would allocate or run for hours
    pytest.param(lambda: symgrad.check(_big_affine(100_000)), ComplexityError,
                 "symgrad draws at most 100,000,000", id="check-huge-parameters"),
    pytest.param(lambda: symgrad.check(_net(), batch=10**9), ComplexityError, "x alone 3,000,000,000",
                 id="check-huge-batch"),
    pytest.param(lambda: symgrad.check(_big_affine(2000)), ComplexityError,
                 "use mode='fast' (a random direction", id="check-full-sweep-too-long"),
    pytest.param(lambda: symgrad.check_layer(Affine(), SPEC, x=np.ones((10**6, 3))), ComplexityError,
                 "check the layer on a smaller x", id="check-layer-sweep-too-long"),
    # graph networks (symgrad.Input, layers called on nodes, Network(E))
    pytest.param(lambda: symgrad.Input(f"{MARK} x", 3), UnknownNameError,
                 f"input name '{MARK} x' is not allowed", id="graph-input-name"),
    pytest.param(lambda: symgrad.derive(_graph(), wrt=[MARK]), UnknownNameError,
                 f"cannot differentiate with respect to '{MARK}': the network's names are W1, b1, x", id="graph-wrt"),
    pytest.param(lambda: symgrad.Network(symgrad.Input(MARK, 3)), ShapeError,
                 "Network(E) needs a scalar node E", id="graph-not-scalar"),
    pytest.param(lambda: symgrad.Input(MARK, 3) + symgrad.Input("x", 2), ShapeError,
                 "+ needs operands of the same shape; got (N, 3) and (N, 2)", id="graph-shapes"),
    pytest.param(lambda: symgrad.concat(symgrad.Input(MARK), symgrad.Input("x")), ShapeError,
                 "a scalar network has nothing to concatenate", id="graph-concat-scalars"),
    pytest.param(lambda: symgrad.Network(_graph().root + symgrad.sum_squares(symgrad.Affine(3, 2).param("W"))),
                 UnknownNameError, "a node from another graph", id="graph-foreign-node"),
    pytest.param(lambda: symgrad.Input(MARK, 3) + MARK, SpecError, "combines nodes with nodes or finite numbers",
                 id="graph-string-operand"),
    pytest.param(lambda: network_from_spec(f"affine(3,3) > residual({MARK}) > half-squared-error"), SpecError,
                 f"unknown layer '{MARK}'", id="graph-spec-unknown-layer"),
    pytest.param(lambda: network_from_spec("affine(3,3) > residual(affine(3,2)) > half-squared-error"), ShapeError,
                 "x + block(x) needs the block to keep the features", id="graph-spec-residual-shape"),
]


@pytest.mark.parametrize(("call", "error", "phrase"), CATALOG)
def test_bad_input_raises_a_symgrad_error_naming_the_problem(call, error, phrase):
    start = time.perf_counter()
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, SymgradError)
    assert phrase in str(caught.value)
    assert time.perf_counter() - start < SECONDS


def test_the_catalog_covers_every_kind_of_symgrad_error():
    kinds = {param.values[1] for param in CATALOG}
    assert kinds == {ComplexityError, DTypeError, LayerError, NonFiniteError, ParseError, ShapeError, SpecError,
                     UndefinedValueError, UnknownNameError, UnsafeExpressionError}


def test_a_huge_layer_is_built_and_derived_but_never_sampled():
    net = _big_affine(10**7)  # 10**14 weights: nothing is allocated until a point is drawn
    start = time.perf_counter()
    assert symgrad.derive(net).wrt == ("W1", "b1", "x")
    with pytest.raises(ComplexityError, match="W1 alone 100,000,000,000,000"):
        symgrad.check(net, mode="fast")
    assert time.perf_counter() - start < SECONDS


def test_fast_mode_is_not_refused_where_a_full_sweep_is():
    report = symgrad.check(_big_affine(300), mode="fast")
    assert report.ok
    with pytest.raises(ComplexityError):
        symgrad.check(_big_affine(2000))


def test_a_keyboard_interrupt_in_a_users_backward_still_propagates():
    class Interrupted(Affine):
        def backward(self, dout):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        symgrad.check_layer(Interrupted(), SPEC, x=X)


def test_python_integers_are_numbers_not_integer_arrays():
    # Plain Python ints are exact numbers (not an integer array, where a perturbation would round away).
    values = {"x": 1, "t": 1, "w1": 1, "b1": 0, "w2": 2, "b2": 0}
    assert symgrad.check(symgrad.article_network(), values).ok
    assert symgrad.derive(symgrad.article_network()).lambdify()(**values)["w1"] == 2.0


# -- users' layers that misbehave in backward: reported, never a crash ---------------------------------


class BackwardRaises(Affine):
    def backward(self, dout):
        raise ZeroDivisionError("bad")


class BackwardReturnsNone(Affine):
    def backward(self, dout):
        super().backward(dout)


class BackwardWrongShape(Affine):
    def backward(self, dout):
        super().backward(dout)
        return dout


class BackwardNoDW(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        del self.dW
        return dx


class BackwardNaN(Affine):
    def backward(self, dout):
        super().backward(dout)
        return np.full(self.x.shape, np.nan)


class BackwardComplex(Affine):
    def backward(self, dout):
        return super().backward(dout) + 1j


class BackwardComplexDW(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW.astype(complex)  # an imaginary part of 0 still says the arithmetic went complex
        return dx


MISBEHAVING = [
    pytest.param(BackwardRaises, "x", "dx: backward() raised ZeroDivisionError: bad; expected dx = dout @ W.T",
                 id="backward-raises"),
    pytest.param(BackwardReturnsNone, "x", "is None: backward() did not compute it", id="backward-none"),
    pytest.param(BackwardWrongShape, "x", "has shape (4, 2); expected dx = dout @ W.T, shape (4, 3)",
                 id="backward-wrong-shape"),
    pytest.param(BackwardNoDW, "W", "backward() did not store it", id="backward-no-dW"),
    pytest.param(BackwardNaN, "x", "holds NaN or infinity", id="backward-nan"),
    # Regression: the imaginary part was dropped with a ComplexWarning and the row passed.
    pytest.param(BackwardComplex, "x", "dx (backward()'s return value) is complex (complex128): backward() must return "
                 "real values", id="backward-complex"),
    pytest.param(BackwardComplexDW, "W", "dW (self.dW) is complex", id="backward-complex-dW"),
]


@pytest.mark.parametrize(("cls", "row", "phrase"), MISBEHAVING)
def test_a_misbehaving_backward_is_reported_not_raised(cls, row, phrase):
    start = time.perf_counter()
    report = symgrad.check_layer(cls(), SPEC, x=X)
    assert not report.ok
    failing = report.row(row)
    assert failing.status == "FAIL"
    assert phrase in failing.message
    with pytest.raises(GradientMismatchError) as caught:  # through the assertion: a test failure, with the reason
        assert_gradients_match(cls(), SPEC, x=X)
    assert phrase in str(caught.value)
    assert time.perf_counter() - start < SECONDS


# -- the command line: exit 2 and "symgrad: error: ..." ---------------------------------------------

CLI = [
    pytest.param(["derive", f"affine(3,4) > {MARK} > half-squared-error"], f"unknown layer '{MARK}'",
                 id="derive-unknown-layer"),
    pytest.param(["derive", "affine(3,4 > half-squared-error"], "expected ',' or ')'", id="derive-syntax"),
    pytest.param(["derive", "tanh > " * 40 + "affine > half-squared-error"], "at most 32 layers", id="derive-deep"),
    pytest.param(["check", "affine(2000,2000) > half-squared-error"], "use --mode fast", id="check-full-too-long"),
    pytest.param(["check", "affine(1000000,1000000) > half-squared-error", "--mode", "fast"],
                 "symgrad draws at most 100,000,000", id="check-huge-fast"),
    pytest.param(["check", "affine(3,3) > half-squared-error", "--batch", "1000000000"], "use --mode fast",
                 id="check-huge-batch"),
    pytest.param(["check", "--seed", "-1"], "seed must be a non-negative integer", id="check-seed"),
    pytest.param(["gradient", f"__import__('os').system('{MARK}')"], "attribute access is not allowed",
                 id="gradient-import"),
    pytest.param(["gradient", f"(lambda: {MARK})()"], "lambda is not allowed", id="gradient-lambda"),
    pytest.param(["gradient", f"{MARK} + " * 12_500 + "x"], "the limit is 10000", id="gradient-100kB"),
    pytest.param(["gradient", "(" * 500 + MARK + ")" * 500], "too many nested", id="gradient-deep"),
    pytest.param(["gradient", "*".join(f"{MARK}{i}" for i in range(150))], "at most 100", id="gradient-variables"),
    pytest.param(["gradient", f"{MARK}/0"], "division by 0 is undefined", id="gradient-divide-by-zero"),  # exited 1
    pytest.param(["gradient", f"sqrt(-1)*{MARK}"], "contains the complex number I", id="gradient-complex"),
    pytest.param(["gradient", "3*x", "--wrt", MARK], f"cannot differentiate with respect to '{MARK}'",
                 id="gradient-wrt"),
]


@pytest.mark.parametrize(("argv", "phrase"), CLI)
def test_cli_bad_input_exits_2_with_a_message(argv, phrase):
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    status = main(argv, stdout=stdout, stderr=stderr)
    assert status == 2
    assert stderr.getvalue().startswith("symgrad: error: ")
    assert phrase in stderr.getvalue()
    assert stdout.getvalue() == ""
    assert time.perf_counter() - start < SECONDS


def test_the_installed_command_reports_bad_input_without_a_traceback():
    command = Path(sys.executable).with_name("symgrad")
    result = subprocess.run(
        [str(command), "gradient", f"__import__('os').system('echo {MARK}')"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("symgrad: error: attribute access is not allowed in an expression")
    assert "Traceback" not in result.stderr
    assert MARK not in result.stdout


# -- user text in exported documents is escaped ---------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_title() -> symgrad.Derivation:
    title = "<script>alert(1)</script> & \\input{/etc/passwd} $x$"
    net = symgrad.Network(
        [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)], loss=symgrad.HalfSquaredError(), title=title
    )
    return symgrad.derive(net)


def test_a_layer_name_cannot_carry_markup():
    with pytest.raises(UnknownNameError, match="is not allowed"):
        symgrad.Sigmoid(name="<script>")


def test_the_title_is_escaped_in_html(hostile_title):
    for html in (hostile_title.to_html(), hostile_title._repr_html_(), symgrad.check(hostile_title).to_html()):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html


def test_the_title_is_escaped_in_latex_mathml_and_markdown(hostile_title):
    latex = hostile_title.to_latex()
    assert "\\input{" not in latex
    assert "\\textbackslash{}input\\{/etc/passwd\\}" in latex
    mathml = hostile_title.to_mathml()
    assert "<script>" not in mathml
    assert "&lt;script&gt;" in mathml
    assert "<script>" not in hostile_title.to_markdown()
