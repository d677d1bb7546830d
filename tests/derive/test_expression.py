"""gradient(): the partial derivatives of a plain expression, and that user text is never evaluated."""

from __future__ import annotations

import builtins
import importlib
import re

import numpy as np
import pytest
import sympy as sp
import sympy.parsing.sympy_parser

import symgrad
from symgrad import ComplexityError, ParseError, Step, UnknownNameError, UnsafeExpressionError
from symgrad.derive import elementary
from symgrad.derive.expression import MAX_VARIABLES


def test_article_first_example_gives_3_and_4():
    d = symgrad.gradient("3*x + 4*y")
    assert d.wrt == ("x", "y")
    assert (d.gradient("x"), d.gradient("y")) == (3, 4)
    assert d.verified
    for name in d.wrt:
        (step,) = d.steps(name)
        assert isinstance(step, Step)
        assert step.verified
        assert step.substeps, "the elementary rules behind the partial derivative"
        assert all(sub.verified for sub in step.substeps)
        assert step.substeps[-1].rhs == d.gradient(name)


def test_sympy_expression_input():
    x, y = sp.symbols("x y")
    d = symgrad.gradient(3 * x + 4 * y)
    assert (d.gradient("x"), d.gradient("y")) == (3, 4)


def test_gradient_equals_sympy_diff_and_its_numbers():
    d = symgrad.gradient("sin(x)*exp(y) + x**2/y")
    x, y = sp.symbols("x y")
    f = sp.sin(x) * sp.exp(y) + x**2 / y
    for name, var in (("x", x), ("y", y)):
        assert sp.simplify(d.gradient(name) - sp.diff(f, var)) == 0
    out = d.lambdify()(x=0.7, y=1.3)
    assert out["x"] == pytest.approx(np.cos(0.7) * np.exp(1.3) + 2 * 0.7 / 1.3, rel=1e-14)
    assert out["y"] == pytest.approx(np.sin(0.7) * np.exp(1.3) - 0.7**2 / 1.3**2, rel=1e-14)


def test_wrt_selects_and_orders():
    d = symgrad.gradient("x*y*z", wrt=["z", "x"])
    assert d.wrt == ("z", "x")
    assert d.gradient("z") == sp.Symbol("x") * sp.Symbol("y")
    with pytest.raises(UnknownNameError, match="no gradient with respect to 'y'"):
        d.gradient("y")


@pytest.mark.parametrize("wrt", ["z", ["x", "q"], [1]])
def test_unknown_wrt_name(wrt):
    with pytest.raises(UnknownNameError, match="cannot differentiate with respect to"):
        symgrad.gradient("3*x + 4*y", wrt=wrt)


def test_constant_expression_has_nothing_to_differentiate():
    with pytest.raises(UnknownNameError, match="no variables"):
        symgrad.gradient("3")


@pytest.mark.parametrize("thing", [3, None, b"x", sp.MatrixSymbol("A", 2, 2)])
def test_non_expressions_are_parse_errors(thing):
    with pytest.raises(ParseError, match="gradient\\(\\) takes"):
        symgrad.gradient(thing)


@pytest.mark.parametrize("kink", [0, 0.5, 1])
def test_relu_kink_reaches_the_gradient(kink):
    assert symgrad.gradient("relu(x)", kink=kink).lambdify()(x=0.0)["x"] == float(kink)


@pytest.fixture
def no_evaluation(monkeypatch):
    """Make every way of evaluating text raise, to prove gradient() uses none of them."""
    calls = []

    def refuse(name):
        def _refuse(*args, **kwargs):
            calls.append((name, args[:1]))
            raise AssertionError(f"{name} was called with {args[:1]!r}")
        return _refuse

    original_sympify = sp.sympify

    def sympify_without_strings(value, *args, **kwargs):
        if isinstance(value, str):
            return refuse("sympify")(value)
        return original_sympify(value, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", refuse("eval"))
    monkeypatch.setattr(builtins, "exec", refuse("exec"))
    monkeypatch.setattr(sp, "sympify", sympify_without_strings)
    monkeypatch.setattr(importlib.import_module("sympy.core.sympify"), "sympify", sympify_without_strings)
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", refuse("parse_expr"))
    monkeypatch.setattr(sympy.parsing.sympy_parser, "eval_expr", refuse("eval_expr"))
    return calls


def test_safe_text_is_parsed_without_eval(no_evaluation):
    d = symgrad.gradient("3*x + 4*y")
    assert (d.gradient("x"), d.gradient("y")) == (3, 4)
    assert no_evaluation == []


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo pwned')",
        "__import__",
        "x.__class__",
        "(lambda: 1)()",
        "open('/etc/passwd')",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "eval('1')",
        "x; import os",
    ],
)
def test_hostile_text_is_refused_before_any_evaluation(no_evaluation, text):
    with pytest.raises(ParseError) as info:
        symgrad.gradient(text)
    assert no_evaluation == []
    if "__" in text or "lambda" in text:
        assert isinstance(info.value, UnsafeExpressionError)


def test_the_guard_itself_catches_evaluation_of_text(no_evaluation):
    with pytest.raises(AssertionError, match="sympify"):
        sp.sympify("3*x")
    with pytest.raises(AssertionError, match="eval"):
        eval("1")  # the point: the guard catches it
    assert [name for name, _ in no_evaluation] == ["sympify", "eval"]


def test_variables_named_like_the_generated_code_do_not_collide():
    d = symgrad.gradient("numpy*N + v0**2 + zeta")
    out = d.lambdify()(numpy=2.0, N=3.0, v0=1.5, zeta=1.0)
    assert out == {"N": 2.0, "numpy": 3.0, "v0": 3.0, "zeta": 1.0}


def test_regression_abs_differentiates_as_a_real_function_not_in_re_and_im():
    # With SymPy's default complex symbols d|x|/dx came out as
    # (re(x)*d re(x)/dx + im(x)*d im(x)/dx)*sign(x)/x, NOT proven, while the steps said sign(x).
    x = sp.Symbol("x")
    d = symgrad.gradient("abs(x)")
    assert d.gradient("x") == sp.sign(x)
    assert d.verified
    assert symgrad.gradient(sp.Abs(x) * x).gradient("x") == sp.expand(sp.sign(x) * x + sp.Abs(x))


def test_regression_E_is_a_variable_not_eulers_number():
    d = symgrad.gradient("E + t")
    assert d.wrt == ("E", "t")
    assert d.gradient("E") == 1


@pytest.mark.parametrize(
    ("expr", "phrase"),
    [
        (sp.Symbol("x") / 0, "contains zoo, complex infinity (a division by zero)"),
        (-sp.oo * sp.Symbol("x"), "contains -oo, an infinity"),
        (sp.I * sp.pi * sp.Symbol("x"), "contains the complex number I"),
        (sp.Integer(-2) ** sp.Rational(1, 3) * sp.Symbol("x"), "contains the complex number (-2)**(1/3)"),
    ],
)
def test_an_expression_with_no_real_value_is_refused(expr, phrase):
    with pytest.raises(symgrad.UndefinedValueError, match=r"^the expression f = .* has no real value") as caught:
        symgrad.gradient(expr)
    assert phrase in str(caught.value)


def test_real_constants_pass_the_check():
    d = symgrad.gradient(sp.sqrt(2) * sp.pi * sp.exp(1) * sp.Symbol("x") + sp.Rational(1, 3))
    assert d.gradient("x") == sp.sqrt(2) * sp.pi * sp.E


def test_an_undefined_partial_is_named(monkeypatch):
    # No expression SymPy builds has a finite value and a zoo derivative; stand in for one.
    expression = importlib.import_module("symgrad.derive.expression")
    monkeypatch.setattr(expression, "_real_diff", lambda expr, var: sp.zoo * var if var.name == "y" else sp.S.One)
    with pytest.raises(symgrad.UndefinedValueError, match=r"^the partial derivative df/dy = zoo\*y has no real value"):
        symgrad.gradient("x + y")


def test_exactly_max_variables_are_derived_and_one_more_is_refused():
    names = [f"v{i}" for i in range(MAX_VARIABLES)]
    d = symgrad.gradient(" + ".join(names), time_limit=None)  # 2-3 s of work: no wall-clock limit in a test
    assert d.wrt == tuple(sorted(names, key=lambda n: sp.default_sort_key(sp.Symbol(n))))
    assert d.gradient("v7") == 1
    with pytest.raises(ComplexityError, match=f"has {MAX_VARIABLES + 1} variables"):
        symgrad.gradient(" + ".join([*names, "extra"]))


def test_the_result_is_proven_only_when_the_elementary_steps_reach_sympy_diff(monkeypatch):
    right = symgrad.gradient("exp(3*x)")
    (step,) = right.steps("x")
    assert (step.verified, step.proof) == (True, "equal to sympy.diff (the difference simplifies to 0)")
    assert right.forward[0].verified
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: 2 * sp.exp(u)))
    (wrong,) = symgrad.gradient("exp(3*x)").steps("x")
    assert (wrong.verified, wrong.proof) == (False, "the elementary steps do not reach sympy.diff")
    assert sp.simplify(wrong.rhs - 3 * sp.exp(3 * sp.Symbol("x"))) == 0  # the result itself is sympy.diff's


def test_a_long_undefined_expression_is_shortened_to_120_characters_in_the_error():
    names = sp.symbols("x0:40")
    long_expression = sp.Add(*names) / 0  # zoo*(x0 + x1 + ...): its text is far over 120 characters
    with pytest.raises(symgrad.UndefinedValueError) as caught:
        symgrad.gradient(long_expression)
    text = sp.sstr(long_expression)
    assert str(caught.value).startswith(f"the expression f = {text[:117]}... has no real value")
    for length in (120, 121):  # zoo*aaa...: 120 characters are written whole, 121 shortened
        text = sp.sstr(sp.Symbol("a" * (length - 4)) / 0)
        assert len(text) == length
        shown = text if length == 120 else text[:117] + "..."
        with pytest.raises(symgrad.UndefinedValueError, match=re.escape(f"f = {shown} has no real value")):
            symgrad.gradient(sp.Symbol("a" * (length - 4)) / 0)


def test_symbolic_work_past_the_time_limit_is_a_complexity_error_naming_the_limit():
    slow = "max(" + ", ".join(f"x{i}" for i in range(50)) + ")"  # hours of simplification
    with pytest.raises(symgrad.ComplexityError, match=r"^the gradient took more than 0\.25 s of symbolic work, "
                       r"the limit \(time_limit=\): simplify the expression"):
        symgrad.gradient(slow, time_limit=0.25)
