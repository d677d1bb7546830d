"""Tests for symgrad.parse: safe expression parsing and network specs."""

from __future__ import annotations

import builtins
import dataclasses
import time
from typing import Any

import pytest
import sympy as sp
import sympy.parsing.sympy_parser

import symgrad
from symgrad.errors import ComplexityError, ParseError, SpecError, UnsafeExpressionError
from symgrad.functions import relu, sigmoid
from symgrad.parse import LayerSpec, parse_expression, parse_network_spec

x, y, z, w1, w2, b1, b2 = sp.symbols("x y z w1 w2 b1 b2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3*x + 4*y", 3 * x + 4 * y),
        ("w2*(w1*x+b1)+b2", w2 * (w1 * x + b1) + b2),
        ("sigmoid(z)", sigmoid(z)),
        ("relu(x) * 2", 2 * relu(x)),
        ("x^2", x**2),
        ("2*x^2 + 1", 2 * x**2 + 1),
        ("x**2", x**2),
        ("-x**2", -(x**2)),
        ("exp(-x)/(1+exp(-x))", sp.exp(-x) / (1 + sp.exp(-x))),
        ("max(0, x)", sp.Max(0, x)),
        ("Min(x, y, z)", sp.Min(x, y, z)),
        ("log(x, 2)", sp.log(x, 2)),
        ("abs(x) + Abs(y)", sp.Abs(x) + sp.Abs(y)),
        ("sqrt(x) + tanh(y)", sp.sqrt(x) + sp.tanh(y)),
        ("pi * E * e", sp.pi * sp.Symbol("E") * sp.Symbol("e")),  # E is a variable (symgrad's loss), not Euler's
        ("1/2", sp.Rational(1, 2)),
        ("x - y - z", x - y - z),
        ("x / y / z", x / y / z),
        ("  x\n + y", x + y),
        ("+x", x),
        ("x ** 1000", x**1000),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_valid_expressions(text: str, expected: sp.Expr) -> None:
    assert parse_expression(text) == expected


def test_symbols_have_no_assumptions() -> None:
    result = parse_expression("x")
    assert result == sp.Symbol("x")
    assert result.assumptions0 == sp.Symbol("x").assumptions0


def test_integers_exact_and_floats_float() -> None:
    assert parse_expression("12345678901234567890") == sp.Integer(12345678901234567890)
    assert isinstance(parse_expression("0.5"), sp.Float)


def test_long_flat_sum_is_not_too_deep() -> None:
    terms = [f"a{i}" for i in range(500)]
    assert parse_expression(" + ".join(terms)) == sp.Add(*sp.symbols(terms))


REFUSED = [
    ("import", "__import__('os').system('ls')", UnsafeExpressionError, "attribute access"),
    ("dunder-call", "__import__('os')", UnsafeExpressionError, "names starting with '_'"),
    ("underscore-name", "_x + 1", UnsafeExpressionError, "names starting with '_'"),
    ("attribute", "x.__class__", UnsafeExpressionError, "attribute access"),
    ("bases", "().__class__.__bases__", UnsafeExpressionError, "attribute access"),
    ("lambda", "lambda: 1", UnsafeExpressionError, "lambda"),
    ("comprehension", "[x for x in y]", UnsafeExpressionError, "list comprehension"),
    ("generator", "sum(i for i in x)", UnsafeExpressionError, "function 'sum'"),
    ("subscript", "x[0]", UnsafeExpressionError, "subscript"),
    ("string", '"a"', UnsafeExpressionError, "string literal"),
    ("bytes", "b'a'", UnsafeExpressionError, "bytes literal"),
    ("complex", "1j", UnsafeExpressionError, "complex literal"),
    ("fstring", "f'{x}'", UnsafeExpressionError, "f-string"),
    ("open", "open('f')", UnsafeExpressionError, "function 'open' is not allowed"),
    ("eval", "eval('1')", UnsafeExpressionError, "function 'eval' is not allowed"),
    ("keyword-unknown", "f(x=1)", UnsafeExpressionError, "function 'f'"),
    ("keyword", "exp(x=1)", UnsafeExpressionError, "keyword arguments"),
    ("call-result", "f(x)(y)", UnsafeExpressionError, "called by name"),
    ("ternary", "x if y else z", UnsafeExpressionError, "conditional expression"),
    ("compare", "x < y", UnsafeExpressionError, "comparison"),
    ("boolop", "x and y", UnsafeExpressionError, "'and'/'or'"),
    ("not", "not x", UnsafeExpressionError, "'not'"),
    ("invert", "~x", UnsafeExpressionError, "'~'"),
    ("floordiv", "x // y", UnsafeExpressionError, "floor division"),
    ("mod", "x % y", UnsafeExpressionError, "modulo"),
    ("matmul", "x @ y", UnsafeExpressionError, "matrix product"),
    ("shift", "x << y", UnsafeExpressionError, "'<<'"),
    ("tuple", "x, y", UnsafeExpressionError, "tuple"),
    ("walrus", "(x := 1)", UnsafeExpressionError, "assignment expression"),
    ("starred", "*x", ParseError, "invalid expression"),
    ("starred-arg", "exp(*x)", UnsafeExpressionError, "starred expression"),
    ("none", "None", UnsafeExpressionError, "literal None"),
    ("true", "True", UnsafeExpressionError, "boolean literal True"),
    ("statement", "x = 1", ParseError, "invalid expression"),
    ("two-statements", "x; y", ParseError, "invalid expression"),
    ("syntax", "x +* y", ParseError, "column 4"),
    ("unclosed", "(x", ParseError, "never closed"),
    ("non-ascii", "x + \u00e9", ParseError, "ASCII"),
    ("null-byte", "x\x00", ParseError, "not allowed"),
    ("bare-function", "exp", ParseError, "is a function"),
    ("arity-exp", "exp(x, y)", ParseError, "exp() takes 1 argument"),
    ("arity-log", "log(x, 2, 3)", ParseError, "log() takes 1 or 2"),
    ("arity-max", "max(x)", ParseError, "max() takes at least 2"),
    ("division-by-zero", "1/0", ParseError, "undefined"),
    ("log-zero", "log(0)", ParseError, "undefined"),
    ("float-overflow", "1e999", ParseError, "too large"),
    ("empty", "", ParseError, "empty"),
    ("whitespace", "   \n\t", ParseError, "empty"),
    ("too-long", "x" * 100_000, ComplexityError, "100000 characters long; the limit is 10000"),
    ("deep-parens", "(" * 1000 + "x" + ")" * 1000, ComplexityError, "nested"),
    ("deep-minus", "-" * 5000 + "x", ComplexityError, "nested"),
    ("minus-over-depth", "-" * 150 + "x", ComplexityError, "nested more than 100"),
    ("power-tower", "2**10**10", ComplexityError, "exponent 10000000000 is too large"),
    ("caret-tower", "2^10^10", ComplexityError, "too large"),
    ("nine-tower", "9**9**9", ComplexityError, "too large"),
    ("big-exponent", "10**1000000", ComplexityError, "too large"),
    ("symbolic-exponent", "x**1001", ComplexityError, "too large"),
    ("big-power", "2**400", ComplexityError, "more than 100 digits"),
    ("big-product", "*".join(["9" * 99] * 3), ComplexityError, "more than 100 digits"),
    ("big-int", "1" * 200, ComplexityError, "200 digits; the limit is 100"),
]


@pytest.mark.parametrize(("text", "error", "phrase"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_expressions(text: str, error: type[Exception], phrase: str) -> None:
    start = time.perf_counter()
    with pytest.raises(error) as info:
        parse_expression(text)
    assert phrase in str(info.value)
    assert time.perf_counter() - start < 10.0  # a hang guard (2**10**10 must not be computed), not a speed target


@pytest.mark.parametrize("value", [3, None, b"x", ["x"]], ids=["int", "None", "bytes", "list"])
def test_non_str_input(value: object) -> None:
    with pytest.raises(ParseError, match=type(value).__name__):
        parse_expression(value)  # type: ignore[arg-type]


def test_error_points_at_column() -> None:
    with pytest.raises(UnsafeExpressionError) as info:
        parse_expression("x + y.real")
    message = str(info.value)
    assert "column 5" in message
    assert message.splitlines()[-1].index("^") == message.splitlines()[-2].index("y")


def test_columns_count_carets_as_written() -> None:
    with pytest.raises(UnsafeExpressionError, match="column 7"):
        parse_expression("x^2 + y[0]")


def test_limits_are_parameters() -> None:
    with pytest.raises(ComplexityError, match="the limit is 5"):
        parse_expression("x + y + z", max_length=5)
    with pytest.raises(ComplexityError, match="nested more than 2"):
        parse_expression("exp(exp(x))", max_depth=2)
    with pytest.raises(ComplexityError, match="more than 3 nodes"):
        parse_expression("a + b + c + d", max_nodes=3)


def test_refusals_are_parse_errors_and_value_errors() -> None:
    with pytest.raises(ValueError, match="attribute access"):
        parse_expression("x.y")
    assert issubclass(UnsafeExpressionError, ParseError)


def test_no_eval_exec_or_sympify(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        msg = "must not be called"
        raise AssertionError(msg)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", forbidden)
    expected = sp.exp(-x) / (1 + sp.exp(-x)) + 3 * sigmoid(y) ** 2 + sp.Max(0, z) + sp.log(x, 2)
    assert parse_expression("exp(-x)/(1+exp(-x)) + 3*sigmoid(y)^2 + max(0, z) + log(x, 2)") == expected


# ---------------------------------------------------------------- network specs


def test_spec_with_arguments() -> None:
    layers = parse_network_spec("affine(3,4) > sigmoid > affine(4,1) > half-squared-error")
    assert layers == (
        LayerSpec("affine", (3, 4), 1),
        LayerSpec("sigmoid", (), 15),
        LayerSpec("affine", (4, 1), 25),
        LayerSpec("half-squared-error", (), 39),
    )


def test_spec_scalar_layers() -> None:
    assert [layer.name for layer in parse_network_spec("affine > affine > half-squared-error")] == [
        "affine",
        "affine",
        "half-squared-error",
    ]
    assert all(layer.args == () for layer in parse_network_spec("affine > affine > half-squared-error"))


def test_spec_normalises_names_arrows_and_whitespace() -> None:
    layers = parse_network_spec("Affine ( 3 , 4 )->ReLU -> Softmax_Cross_Entropy")
    assert [(layer.name, layer.args) for layer in layers] == [
        ("affine", (3, 4)),
        ("relu", ()),
        ("softmax-cross-entropy", ()),
    ]


def test_layer_spec_is_frozen() -> None:
    layer = LayerSpec("affine", (1, 2), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.name = "other"  # type: ignore[misc]


BAD_SPECS = [
    ("unfinished-args", "affine(3,", "expected a positive integer or keyword=value after ',' at column 10"),
    ("trailing-arrow", "affine(3,4) >", "expected a layer name after '>' at column 14"),
    ("leading-arrow", "> sigmoid", "expected a layer name at column 1"),
    ("zero", "affine(0,1)", "layer 'affine' must be positive (got 0) at column 8"),
    ("negative", "affine(3,-4)", "argument 2 of layer 'affine' must be positive"),
    ("huge", "affine(3,10000000)", "above the limit of 1000000"),
    ("letter-arg", "affine(a)", "expected '=' after keyword 'a', as in a=1 at column 9"),
    ("empty-args", "affine()", "column 8"),
    ("unclosed", "affine(3,4", "expected ',' or ')'"),
    ("space-in-name", "sig moid", "expected '>' or the end of the spec after layer 'sig' at column 5"),
    ("empty", "", "column 1"),
    ("blank", "   ", "column 1"),
    ("injection", "affine(3,4) ; rm -rf", "unexpected character ';' at column 13"),
    ("double-arrow", "affine >> relu", "column 9"),
    ("underscore-start", "_affine", "column 1"),
]


@pytest.mark.parametrize(("text", "phrase"), [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS])
def test_bad_specs(text: str, phrase: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_network_spec(text)
    assert phrase in str(info.value)
    assert "column" in str(info.value)


def test_spec_error_has_caret_line() -> None:
    with pytest.raises(SpecError) as info:
        parse_network_spec("affine(3,4) > ")
    lines = str(info.value).splitlines()
    assert lines[-1].strip() == "^"
    assert lines[-1].index("^") == lines[-2].index("affine") + len("affine(3,4) > ")


def test_spec_limits_and_types() -> None:
    with pytest.raises(ComplexityError, match="the limit is 10000"):
        parse_network_spec("affine>" * 5000)
    with pytest.raises(SpecError, match="int"):
        parse_network_spec(3)  # type: ignore[arg-type]


# -- formulas in specs (symgrad.activation), erf ----------------------------------------------------


def test_a_spec_keeps_an_activation_formula_as_text_with_its_name():
    specs = parse_network_spec("affine(3,4) > act( z*sigmoid(z) ) > ACT(z*(1 + erf(z/sqrt(2)))/2, name = gelu)"
                               " > half-squared-error")
    assert specs[1] == LayerSpec("act", (), 15, formula="z*sigmoid(z)", label=None)
    assert specs[2] == LayerSpec("act", (), 37, formula="z*(1 + erf(z/sqrt(2)))/2", label="gelu")
    assert [spec.name for spec in specs] == ["affine", "act", "act", "half-squared-error"]


def test_an_activation_formula_with_nested_parentheses_ends_at_its_own_parenthesis():
    (spec, loss) = parse_network_spec("act(log(1 + exp((z)))) > half-squared-error")
    assert (spec.formula, loss.name) == ("log(1 + exp((z)))", "half-squared-error")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("act > half-squared-error", "after 'act', as in act(z*sigmoid(z)) at column 4"),
        ("act(z*(z > half-squared-error", "the '(' of 'act' is never closed at column 4"),
        ("act(   ) > half-squared-error", "act() needs a formula in z"),
        ("act(z, name=) > half-squared-error", "the name of an activation is 1 to 40 letters"),
        ("act(z, name=<b>) > half-squared-error", "at column 6"),
    ],
)
def test_a_malformed_activation_in_a_spec_is_a_spec_error(text, message):
    with pytest.raises(SpecError) as info:
        parse_network_spec(text)
    assert message in str(info.value)


def test_erf_is_in_the_grammar():
    x = sp.Symbol("x")
    assert parse_expression("erf(x/sqrt(2))") == sp.erf(x / sp.sqrt(2))
    with pytest.raises(ParseError, match="erf"):
        parse_expression("erf")


# One check_text for parse, parsematrix and parseindex (symgrad.layer): each names its own argument.
@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: parse_expression(3), ParseError, "the expression must be a str, got int"),
    (lambda: parse_expression("x" * 30, max_length=20), ComplexityError,
     "the expression is 30 characters long; the limit is 20 (see max_length)"),
    (lambda: symgrad.layer(3, params={"W": (2, 2)}), ParseError,
     "the forward must be a str such as 'y[n,j] = sum(x[n,i]*W[i,j], i)', got int"),
    (lambda: symgrad.layer("y[n] = x[n]" + " " * 20_000, params={}), ComplexityError,
     "the forward is 20011 characters long"),
])
def test_check_text_messages(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value)
    if "forward is" in message:
        assert "max_length" not in str(caught.value)
