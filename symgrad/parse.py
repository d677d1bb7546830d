"""Turn user text into SymPy expressions and network specs, safely.

Expressions come from users, so they are never handed to ``eval``, ``exec``,
``sympify`` or ``parse_expr``. :func:`parse_expression` lets Python's own
parser (``ast.parse``) build a syntax tree, walks it against a whitelist
(numbers, names, ``+ - * / **``, a short list of functions) and builds the
SymPy objects itself. Size guards (length, nesting depth, node count, number
of digits, exponents) keep hostile input from hanging SymPy.

:func:`parse_network_spec` reads the small layer language used to describe a
network, ``"affine(3,4) > sigmoid > affine(4,1) > half-squared-error"``, into
:class:`LayerSpec` records, with a tokenizer and a recursive-descent parser.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import sympy as sp

from symgrad.errors import (
    ComplexityError,
    ParseError,
    SpecError,
    SymgradError,
    UnsafeExpressionError,
)
from symgrad.functions import relu, sigmoid

__all__ = ["FORMULA_LAYER", "LayerSpec", "parse_expression", "parse_network_spec"]

_MAX_DIGITS = 100  # longest integer literal or exact numeric result
_NUMBER_LIMIT = 10**_MAX_DIGITS
_MAX_EXPONENT = 1000
_MAX_LAYER_ARG = 1_000_000
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# E is not Euler's number here: in symgrad E names the loss, and a user's "E + t" means a variable E.
# Euler's number is exp(1).
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi}
_UNDEFINED = frozenset({sp.nan, sp.zoo, sp.oo, sp.S.NegativeInfinity})
# name -> (SymPy callable, fewest arguments, most arguments or None for no limit)
_FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int | None]] = {
    **{n: (getattr(sp, n), 1, 1) for n in ("exp", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "erf")},
    "log": (sp.log, 1, 2), "abs": (sp.Abs, 1, 1), "Abs": (sp.Abs, 1, 1),
    "sigmoid": (sigmoid, 1, 1), "relu": (relu, 1, 1),
    "max": (sp.Max, 2, None), "Max": (sp.Max, 2, None), "min": (sp.Min, 2, None), "Min": (sp.Min, 2, None),
}  # fmt: skip
_CONSTRUCTS: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "list comprehension", ast.SetComp: "set comprehension", ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression", ast.JoinedStr: "f-string", ast.Starred: "starred expression",
    ast.Compare: "comparison", ast.BoolOp: "'and'/'or'", ast.IfExp: "conditional expression",
    ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set", ast.Await: "await",
    ast.NamedExpr: "assignment expression (':=')", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.FloorDiv: "'//' (floor division)", ast.Mod: "'%' (modulo)", ast.MatMult: "'@' (matrix product)",
    ast.LShift: "'<<'", ast.RShift: "'>>'", ast.BitOr: "'|'", ast.BitAnd: "'&'", ast.Invert: "'~'",
    ast.Not: "'not'",
}  # fmt: skip
_GROUPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*", ast.Pow: "**"
}  # fmt: skip


def _pointer(text: str, offset: int) -> str:
    """Return ``text`` (a window of it if long) and a caret under ``offset``."""
    start = max(0, min(offset - 40, len(text) - 72))
    shown = "".join(c if c.isprintable() else " " for c in text[start : start + 72])
    return f"    {shown}\n    {' ' * (offset - start)}^"


def check_text(text: object, max_length: int, what: str, error: type[SymgradError], *, example: str = "",
               limit_argument: str | None = "max_length") -> str:
    """``text`` when it is a str of at most ``max_length`` characters; else ``error`` (not a str) or
    ComplexityError (too long), naming ``what`` and, where the caller has one, the argument that sets the limit.

    Examples
    --------
    >>> check_text("x", 10, "expression", ParseError)
    'x'
    >>> check_text(3, 10, "forward", ParseError, example=" such as 'y[n] = x[n]'")
    Traceback (most recent call last):
    ...
    symgrad.errors.ParseError: the forward must be a str such as 'y[n] = x[n]', got int
    >>> check_text("xx", 1, "forward", ParseError, limit_argument=None)
    Traceback (most recent call last):
    ...
    symgrad.errors.ComplexityError: the forward is 2 characters long; the limit is 1
    """
    if not isinstance(text, str):
        msg = f"the {what} must be a str{example}, got {type(text).__name__}"
        raise error(msg)
    if len(text) > max_length:
        see = f" (see {limit_argument})" if limit_argument else ""
        msg = f"the {what} is {len(text)} characters long; the limit is {max_length}{see}"
        raise ComplexityError(msg)
    return text


class _Source:
    """The user's text, the Python source made from it, and columns between them."""

    def __init__(self, text: str) -> None:
        self.text = re.sub(r"\s", " ", text)  # one line, so every offset is a column
        for i, char in enumerate(self.text):
            if not " " <= char <= "~":
                msg = f"character {char!r} at column {i + 1} is not allowed; write expressions in ASCII"
                raise ParseError(f"{msg}\n{_pointer(self.text, i)}")
        self.indent = len(self.text) - len(self.text.lstrip())
        self.carets = [i for i, char in enumerate(self.text) if char == "^"]
        self.python = self.text.lstrip().replace("^", "**")

    def offset(self, python_offset: int) -> int:
        """Map a 0-based offset into ``python`` back to one into ``text``."""
        original = python_offset + self.indent
        for caret in self.carets:  # each '^' became two characters
            if caret >= original:
                break
            original -= 1
        return max(0, original)

    def fail(self, error: type[SymgradError], message: str, python_offset: int) -> NoReturn:
        at = self.offset(python_offset)
        msg = f"{message} (column {at + 1})\n{_pointer(self.text, at)}"
        raise error(msg)

    def parse(self) -> ast.expr:
        try:
            return ast.parse(self.python, mode="eval").body
        except SyntaxError as exc:
            complex_ = any(hint in exc.msg for hint in ("too many nested", "Exceeds the limit"))
            where = exc.offset - 1 if exc.offset and exc.offset > 0 else len(self.python)
            self.fail(ComplexityError if complex_ else ParseError, f"invalid expression: {exc.msg}", where)
        except (RecursionError, MemoryError, ValueError) as exc:
            msg = f"expression is too deeply nested or too long for Python's parser ({type(exc).__name__})"
            raise ComplexityError(msg) from None


class _Builder:
    """Walks a whitelisted Python syntax tree and builds the SymPy expression."""

    def __init__(self, source: _Source, max_depth: int, max_nodes: int) -> None:
        self.source, self.max_depth, self.max_nodes, self.nodes = source, max_depth, max_nodes, 0

    def fail(self, error: type[SymgradError], message: str, node: ast.expr) -> NoReturn:
        self.source.fail(error, message, node.col_offset)

    def refuse(self, construct: ast.AST, node: ast.expr) -> NoReturn:
        what = _CONSTRUCTS.get(type(construct), type(construct).__name__)
        self.fail(UnsafeExpressionError, f"{what} is not allowed in an expression", node)

    def tick(self, count: int, node: ast.expr) -> None:
        self.nodes += count
        if self.nodes > self.max_nodes:
            self.fail(ComplexityError, f"expression has more than {self.max_nodes} nodes", node)

    def build(self, node: ast.expr, depth: int) -> sp.Expr:
        self.tick(1, node)
        if depth > self.max_depth:
            self.fail(ComplexityError, f"expression is nested more than {self.max_depth} deep", node)
        if isinstance(node, ast.Constant):
            result = self.constant(node)
        elif isinstance(node, ast.Name):
            name = self.check_name(node, called=False)
            result = _CONSTANTS[name] if name in _CONSTANTS else sp.Symbol(name)
        elif isinstance(node, ast.BinOp):
            result = self.binop(node, depth)
        elif isinstance(node, ast.UnaryOp):
            result = self.unary(node, depth)
        elif isinstance(node, ast.Call):
            result = self.call(node, depth)
        else:
            self.refuse(node, node)
        if isinstance(result, sp.Rational) and max(abs(result.p), result.q) >= _NUMBER_LIMIT:
            self.fail(ComplexityError, f"a number here has more than {_MAX_DIGITS} digits", node)
        if result in _UNDEFINED:
            self.fail(ParseError, f"this part is undefined or infinite ({result}); a division by zero?", node)
        if isinstance(result, (sp.Pow, sp.Mul)):
            self.check_exponents(result, node)
        return result

    def check_exponents(self, result: sp.Expr, node: ast.expr) -> None:
        """Powers of powers and products of powers multiply or add their exponents: (x**1000)**1000 is
        x**1000000, past the limit that each literal exponent keeps."""
        for part in (result, *result.args) if isinstance(result, sp.Mul) else (result,):
            if isinstance(part, sp.Pow) and part.exp.is_Number and abs(part.exp) > _MAX_EXPONENT:
                msg = (
                    f"this part makes {sp.sstr(part.base)} to the power {part.exp}, which is too large "
                    f"(powers of powers multiply exponents, products of powers add them); the limit is {_MAX_EXPONENT}"
                )
                self.fail(ComplexityError, msg, node)

    def constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {bool: "boolean", str: "string", bytes: "bytes", complex: "complex"}.get(type(value), "")
            what = f"{kind} literal {value!r:.30}".lstrip()
            self.fail(UnsafeExpressionError, f"{what} is not allowed in an expression", node)
        if isinstance(value, int):
            if abs(value) >= _NUMBER_LIMIT:
                msg = f"integer literal has {len(str(value))} digits; the limit is {_MAX_DIGITS}"
                self.fail(ComplexityError, msg, node)
            return sp.Integer(value)
        if not math.isfinite(value):
            self.fail(ParseError, "float literal is too large (it overflows to infinity)", node)
        return sp.Float(value)

    def check_name(self, node: ast.Name, *, called: bool) -> str:
        name = node.id
        if name.startswith("_") or not _NAME.match(name):
            self.fail(UnsafeExpressionError, f"names starting with '_' are not allowed: {name!r}", node)
        if called and name not in _FUNCTIONS:
            msg = f"function {name!r} is not allowed; the functions are {', '.join(_FUNCTIONS)}"
            self.fail(UnsafeExpressionError, msg, node)
        if not called and name in _FUNCTIONS:
            self.fail(ParseError, f"{name!r} is a function; call it as {name}(...)", node)
        return name

    def unary(self, node: ast.UnaryOp, depth: int) -> sp.Expr:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            self.refuse(node.op, node)
        operand = self.build(node.operand, depth + 1)
        return -operand if isinstance(node.op, ast.USub) else operand

    def binop(self, node: ast.BinOp, depth: int) -> sp.Expr:
        group = _GROUPS.get(type(node.op))
        if group is None:
            self.refuse(node.op, node)
        if group == "**":
            return self.power(self.build(node.left, depth + 1), self.build(node.right, depth + 1), node)
        chain: list[tuple[ast.operator, ast.expr]] = []  # a + b - c + ... is flat, not deep
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and _GROUPS.get(type(current.op)) == group:
            chain.append((current.op, current.right))
            current = current.left
        self.tick(len(chain) - 1, node)
        first = self.build(current, depth + 1)
        rest = [(op, self.build(operand, depth + 1)) for op, operand in reversed(chain)]
        if group == "+":
            return sp.Add(first, *(-term if isinstance(op, ast.Sub) else term for op, term in rest))
        factors = [first]
        for (op, term), (_, operand) in zip(rest, reversed(chain), strict=True):
            factor = sp.Pow(term, -1) if isinstance(op, ast.Div) else term
            if factor in _UNDEFINED:  # x/0 makes zoo*x, which the check of each node's result misses
                self.fail(ParseError, f"division by {term} is undefined; expected a nonzero divisor", operand)
            factors.append(factor)
        return sp.Mul(*factors)

    def power(self, base: sp.Expr, exponent: sp.Expr, node: ast.BinOp) -> sp.Expr:
        if exponent.is_Number and abs(exponent) > _MAX_EXPONENT:
            msg = f"exponent {exponent} is too large; the limit is {_MAX_EXPONENT}"
            self.fail(ComplexityError, msg, node.right)
        exact = isinstance(base, sp.Rational) and isinstance(exponent, sp.Rational) and base != 0
        if exact and float(abs(exponent)) * math.log10(max(abs(base.p), base.q)) > _MAX_DIGITS:
            self.fail(ComplexityError, f"{base}**{exponent} would have more than {_MAX_DIGITS} digits", node)
        return sp.Pow(base, exponent)

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            if type(node.func) in _CONSTRUCTS:
                self.refuse(node.func, node.func)
            self.fail(UnsafeExpressionError, "only functions called by name are allowed", node)
        name = self.check_name(node.func, called=True)
        function, least, most = _FUNCTIONS[name]
        if node.keywords:
            self.fail(UnsafeExpressionError, f"keyword arguments are not allowed in {name}()", node)
        if not least <= len(node.args) <= (most or len(node.args)):
            expected = f"at least {least}" if most is None else " or ".join(map(str, range(least, most + 1)))
            self.fail(ParseError, f"{name}() takes {expected} argument(s), got {len(node.args)}", node)
        args = [self.build(arg, depth + 1) for arg in node.args]
        try:
            return function(*args)
        except (TypeError, ValueError, ArithmeticError) as exc:
            self.fail(ParseError, f"{name}() cannot take these arguments: {exc}", node)


def parse_expression(
    text: str, *, max_length: int = 10_000, max_depth: int = 100, max_nodes: int = 5_000
) -> sp.Expr:
    """Parse a formula written by a user into a SymPy expression, without ``eval``.

    Parameters
    ----------
    text : str
        A formula in Python syntax: numbers, names, ``+ - * / **`` and calls of
        ``exp log sqrt sin cos tan sinh cosh tanh erf abs sigmoid relu max min``
        (``log`` takes an optional base; ``max``/``min`` two or more arguments).
        ``^`` means power, with the precedence of ``**`` (``2*x^2 + 1`` is
        ``2*x**2 + 1``). ``pi`` is the one constant (write Euler's number as ``exp(1)``: ``E`` is
        a variable, as symgrad names the loss E); every other name is
        a plain ``sympy.Symbol`` without assumptions, so results compare equal
        to ``sympy.symbols(...)``. Integers stay exact; floats become ``Float``.
    max_length, max_depth, max_nodes : int
        Limits on characters, nesting depth and syntax-tree nodes.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    UnsafeExpressionError
        For anything outside the whitelist (attributes, subscripts, lambdas,
        strings, names starting with ``_``, unknown functions, ...).
    ParseError
        For text that is not a valid expression, or is undefined (``1/0``).
    ComplexityError
        For text over one of the limits, exponents above 1000 in magnitude (also where
        powers of powers or products of powers combine them: ``(x**1000)**1000``) and
        numbers of more than 100 digits.

    Examples
    --------
    >>> parse_expression("w2*(w1*x + b1) + b2")
    b2 + w2*(b1 + w1*x)
    >>> parse_expression("2*x^2 + max(0, y)")
    2*x**2 + Max(0, y)
    >>> parse_expression("__import__('os').system('ls')")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnsafeExpressionError: attribute access is not allowed in an expression (column 1)
        __import__('os').system('ls')
        ^
    """
    source = _Source(check_text(text, max_length, "expression", ParseError))
    if not source.python.strip():
        msg = "the expression is empty"
        raise ParseError(msg)
    tree = source.parse()
    try:
        return _Builder(source, max_depth, max_nodes).build(tree, 1)
    except SymgradError:
        raise
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:  # SymPy refusing its arguments
        msg = f"SymPy could not build the expression: {exc}"
        raise ParseError(msg) from exc


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network spec, as written (the parser knows no layer catalog).

    Attributes
    ----------
    name : str
        Lower-case name with ``-`` between words (``"half-squared-error"``).
    args : tuple of int
        The positive integers in parentheses, ``()`` when there are none.
    keywords : tuple of (str, int)
        Keyword arguments after them, ``stride=2``: a name, ``=``, a whole number (0 allowed).
    column : int
        1-based column of the name in the spec, for error messages.
    body : tuple of LayerSpec
        The block of ``residual(...)``; ``()`` for a layer.
    value : float or None
        The factor of ``weight-decay(c)``; None for a layer.
    formula, label : str or None
        For an activation written as a formula, ``act(z*sigmoid(z), name=swish)``: the
        formula's text and the name (None when not given); None for every other layer.
    """

    name: str
    args: tuple[int, ...]
    column: int
    body: tuple[LayerSpec, ...] = ()
    value: float | None = None
    #: ``act(<formula>[, name=<label>])``: the formula's text (parsed later, never evaluated) and its name.
    formula: str | None = None
    label: str | None = None
    #: ``conv2d(1, 2, 3, stride=2, pad=1)``: the keyword arguments as written, (name, value) in order.
    keywords: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        extra = f", keywords={self.keywords!r}" if self.keywords else ""
        extra += f", body={self.body!r}" if self.body else ""
        extra += f", value={self.value!r}" if self.value is not None else ""
        extra += f", formula={self.formula!r}, label={self.label!r}" if self.formula is not None else ""
        return f"LayerSpec(name={self.name!r}, args={self.args!r}, column={self.column!r}{extra})"


#: The combinators of a graph spec: ``residual(...)`` (x + block(x)) and ``+ weight-decay(c)`` after the loss.
GRAPH_WORDS = ("residual", "weight-decay")

_SPEC_TOKEN = re.compile(
    r"\s*(?:(?P<arrow>->|>)|(?P<name>[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*)"
    r"|(?P<float>[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)"
    r"|(?P<int>[+-]?[0-9]+)|(?P<punct>[(),+=])|(?P<end>\Z)|(?P<bad>.))",
    re.DOTALL,
)


#: The spec word of an activation written as a formula: ``act(z*sigmoid(z))``, ``act(z*sigmoid(z), name=swish)``.
FORMULA_LAYER = "act"
_FORMULA_NAME = re.compile(r",\s*name\s*=\s*([A-Za-z][A-Za-z0-9_-]{0,39})\s*\Z")


class _SpecParser:
    """Recursive descent over ``spec := layer (('>' | '->') layer)*``.

    ``layer := name ['(' int (',' int)* ')'] | 'act' '(' formula [',' 'name' '=' name] ')'``; the tokens are
    (kind, text, start, end).
    """

    def __init__(self, text: str) -> None:
        self.text, self.index = text, 0
        self.tokens: list[tuple[str, str, int, int]] = []
        while not self.tokens or self.tokens[-1][0] != "end":
            match = _SPEC_TOKEN.match(text, self.tokens[-1][3] if self.tokens else 0)
            kind = match.lastgroup if match else None
            if match is None or kind is None or kind == "bad":
                bad = match.start("bad") if match else len(text)
                self.fail(f"unexpected character {text[bad:bad + 1]!r}", bad)
            self.tokens.append((kind, match.group(kind), match.start(kind), match.end()))
            if kind == "name" and match.group(kind).lower() == FORMULA_LAYER:
                self.formula_token(match.end())

    def formula_token(self, start: int) -> None:
        """After ``act``, its parenthesised formula as one token (the formula grammar is not the spec's)."""
        opening = re.compile(r"\s*\(").match(self.text, start)
        if opening is None:
            self.fail(f"expected '(' and a formula in z after {FORMULA_LAYER!r}, as in act(z*sigmoid(z))", start)
        depth, index = 0, opening.end() - 1
        for index in range(opening.end() - 1, len(self.text)):
            depth += {"(": 1, ")": -1}.get(self.text[index], 0)
            if depth == 0:
                break
        if depth:
            self.fail(f"the '(' of {FORMULA_LAYER!r} is never closed", opening.end() - 1)
        self.tokens.append(("formula", self.text[opening.end() : index], opening.end(), index + 1))

    def fail(self, message: str, offset: int, tail: str = "") -> NoReturn:
        msg = f"{message} at column {offset + 1}{tail}\n{_pointer(self.text, offset)}"
        raise SpecError(msg)

    def take(self, kind: str, expected: str, value: str | None = None) -> tuple[str, int]:
        token_kind, token, offset, _ = self.tokens[self.index]
        if token_kind != kind or (value is not None and token != value):
            found = "the end of the spec" if token_kind == "end" else repr(token[:30])  # noqa: S105  a token kind, not a password
            self.fail(f"expected {expected}", offset, f", found {found}")
        self.index += 1
        return token, offset

    def skip(self, value: str) -> bool:
        """Consume the next token if it is the punctuation or arrow ``value``."""
        kind, token = self.tokens[self.index][:2]
        if kind not in ("punct", "arrow") or token != value:
            return False
        self.index += 1
        return True

    def spec(self) -> tuple[LayerSpec, ...]:
        layers = self.chain(0)
        if self.skip("+"):
            raw, offset = self.take("name", "'weight-decay' after '+'")
            if raw.lower().replace("_", "-") != "weight-decay":
                self.fail("only weight-decay(c) may be added to the loss", offset, f", found {raw[:30]!r}")
            self.take("punct", "'(' after 'weight-decay'", "(")
            number, at = self.tokens[self.index][1], self.tokens[self.index][2]
            if self.tokens[self.index][0] not in ("float", "int") or not 0 < float(number) < 1e6:
                self.fail("expected a positive number such as 0.01 in weight-decay(...)", at)
            self.index += 1
            self.take("punct", "')' after the weight-decay factor", ")")
            layers.append(LayerSpec("weight-decay", (), offset + 1, (), float(number)))
        self.take("end", f"'>' or the end of the spec after layer {layers[-1].name!r}")
        return tuple(layers)

    def chain(self, depth: int) -> list[LayerSpec]:
        if depth > 8:
            self.fail("residual blocks nest deeper than 8", self.tokens[self.index][2])
        layers = [self.layer("a layer name", depth)]
        while self.tokens[self.index][0] == "arrow":
            arrow, _ = self.take("arrow", "'>'")
            layers.append(self.layer(f"a layer name after {arrow!r}", depth))
        return layers

    def layer(self, expected: str, depth: int = 0) -> LayerSpec:
        raw, offset = self.take("name", expected)
        name = raw.lower().replace("_", "-")
        if name == "residual":
            self.take("punct", "'(' after 'residual': residual(block), the block's layers separated by '>'", "(")
            body = self.chain(depth + 1)
            self.take("punct", "'>' or ')' closing the residual block", ")")
            return LayerSpec(name, (), offset + 1, tuple(body))
        if name == FORMULA_LAYER:
            return self.formula_layer(offset)
        args: list[int] = []
        keywords: list[tuple[str, int]] = []
        if self.skip("("):
            after = "'('"
            while True:
                if self.tokens[self.index][0] == "name":  # keyword=value
                    keywords.append(self.keyword(name, {key for key, _ in keywords}))
                elif keywords:
                    self.fail(f"expected a keyword argument such as stride=2 after a keyword argument in {name!r} "
                              "(positional arguments come first)", self.tokens[self.index][2])
                else:
                    args.append(self.integer(name, len(args) + 1, f"a positive integer or keyword=value after {after}"))
                after = "','"
                if not self.skip(","):
                    break
            self.take("punct", f"',' or ')' in the arguments of {name!r}", ")")
        return LayerSpec(name, tuple(args), offset + 1, keywords=tuple(keywords))

    def keyword(self, layer: str, seen: set[str]) -> tuple[str, int]:
        """``name=value`` in a layer's arguments: a whole number (0 allowed, as in pad=0)."""
        raw, offset = self.take("name", "a keyword")
        key = raw.lower()
        if key in seen:
            self.fail(f"keyword {key!r} is given twice in {layer!r}", offset)
        self.take("punct", f"'=' after keyword {key!r}, as in {key}=1", "=")
        digits, at = self.take("int", f"a whole number after '{key}='")
        value = int(digits) if len(digits.lstrip("+-0")) <= 7 else _MAX_LAYER_ARG + 1
        if not 0 <= value <= _MAX_LAYER_ARG:
            problem = "must not be negative" if value < 0 else f"is above the limit of {_MAX_LAYER_ARG}"
            self.fail(f"keyword {key!r} of layer {layer!r} {problem} (got {digits})", at)
        return key, value

    def formula_layer(self, offset: int) -> LayerSpec:
        text, start = self.take("formula", "a formula")
        named = _FORMULA_NAME.search(text)
        label = None
        if named is not None:
            text, label = text[: named.start()], named.group(1)
        elif (bad := re.search(r",\s*name\s*=", text)) is not None:
            self.fail("the name of an activation is 1 to 40 letters, digits, '_' or '-', starting with a letter, "
                      "as in act(z*sigmoid(z), name=swish)", start + bad.start())
        if not text.strip():
            self.fail(f"{FORMULA_LAYER}() needs a formula in z, as in act(z*sigmoid(z))", start)
        return LayerSpec(FORMULA_LAYER, (), offset + 1, formula=text.strip(), label=label)

    def integer(self, layer: str, position: int, expected: str) -> int:
        digits, offset = self.take("int", expected)
        value = int(digits) if len(digits.lstrip("+-0")) <= 7 else _MAX_LAYER_ARG + 1
        if not 0 < value <= _MAX_LAYER_ARG:
            problem = "must be positive" if value <= 0 else f"is above the limit of {_MAX_LAYER_ARG}"
            self.fail(f"argument {position} of layer {layer!r} {problem} (got {digits})", offset)
        return value


def parse_network_spec(text: str, *, max_length: int = 10_000) -> tuple[LayerSpec, ...]:
    """Parse a network spec such as ``"affine(3,4) > sigmoid > half-squared-error"``.

    Layers are separated by ``>`` (or ``->``); each is a name made of letters,
    digits, ``-`` and ``_``, optionally followed by positive integers in
    parentheses, then keyword arguments ``name=value`` (whole numbers:
    ``conv2d(1, 2, 3, stride=2, pad=1)``). Whitespace is free. Names are
    lower-cased and ``_`` becomes ``-``. Whether a name is a known layer is checked elsewhere. An activation
    written as a formula in ``z`` is ``act(<formula>)`` or ``act(<formula>,
    name=<name>)``; its formula is kept as text (``LayerSpec.formula``), for
    :func:`parse_expression`.

    Two combinators make a graph rather than a chain: ``residual(block)``, whose
    block is layers separated by ``>`` (its output is ``x + block(x)``), and
    ``+ weight-decay(c)`` after the loss (E plus c times the sum of squares of
    every weight matrix W).

    Parameters
    ----------
    text : str
        The spec.
    max_length : int
        Longest spec accepted, in characters.

    Returns
    -------
    tuple of LayerSpec

    Raises
    ------
    SpecError
        When the spec breaks the grammar or an argument is not in 1..1000000;
        the message gives the column and points at it.
    ComplexityError
        When the spec is longer than ``max_length``.

    Examples
    --------
    >>> for layer in parse_network_spec("affine(3,4) -> Half_Squared_Error"):
    ...     print(layer)
    LayerSpec(name='affine', args=(3, 4), column=1)
    LayerSpec(name='half-squared-error', args=(), column=16)
    >>> graph = "residual(affine(2,2) > tanh) > mean-squared-error + weight-decay(0.1)"
    >>> [spec.name for spec in parse_network_spec(graph)]
    ['residual', 'mean-squared-error', 'weight-decay']
    >>> parse_network_spec("input(1,4,4) > conv2d(1, 2, 3, stride=2, pad=1)")[1]
    LayerSpec(name='conv2d', args=(1, 2, 3), column=16, keywords=(('stride', 2), ('pad', 1)))
    >>> parse_network_spec("act(z*sigmoid(z), name=swish) > half-squared-error")[0]
    LayerSpec(name='act', args=(), column=1, formula='z*sigmoid(z)', label='swish')
    >>> parse_network_spec("affine(3,4) >")
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: expected a layer name after '>' at column 14, found the end of the spec
        affine(3,4) >
                     ^
    """
    text = check_text(text, max_length, "network spec", SpecError)
    if not text.strip():
        msg = "the network spec is empty: expected a layer name at column 1"
        raise SpecError(msg)
    return _SpecParser(text).spec()
