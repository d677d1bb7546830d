"""Safe parsing of a layer's forward in index notation: ``y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)``.

A tokenizer and a recursive-descent parser of its own (never ``eval``,
``exec`` or ``sympify``) turn the text into an
:class:`~symgrad.index.ir.IndexForward`. The grammar::

    forward  := NAME '[' index (',' index)* ']' '=' expr
    expr     := term (('+' | '-') term)*
    term     := unary (('*' | '/') unary)*
    unary    := ('-' | '+') unary | power
    power    := atom ('**' unary)?
    atom     := NUMBER | NAME '[' position (',' position)* ']' | NAME '(' arguments ')' | '(' expr ')'
    position := an expression of indices, integers, + - * and reads of integer tensors (idx[n])

Functions: ``exp log tanh sigmoid sqrt abs erf relu``; ``sum(expr, i, ...)``
and ``max(expr, i, ...)`` reduce over the named indices. The sizes: each
index read plainly at a parameter's dimension takes that size; ``sizes=``
gives any other (an int, or a name for a free size); an index no parameter
and no ``sizes=`` sizes is a free size named by its upper case (the batch
``n`` runs over ``N``). Errors name the column and what was expected.

Examples
--------
>>> f = parse_index_forward("y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)", {"A": (3, 2, 3)})
>>> f.body
Sum(A[i, j, k]*x[n, i]*x[n, k], (i, 0, 2), (k, 0, 2))
>>> [(t.name, t.dims) for t in f.tensors]
[('x', (N, 3)), ('A', (3, 2, 3))]
>>> parse_index_forward("y[n] = sum(x[n, i] i)", {})
Traceback (most recent call last):
...
symgrad.errors.ParseError: expected ',' and the indices sum runs over, as in sum(x[n, i], i) at column 20, found 'i'
    y[n] = sum(x[n, i] i)
                       ^
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad.errors import ComplexityError, ParseError, ShapeError, UnknownNameError
from symgrad.functions import relu, sigmoid
from symgrad.index.ir import IndexForward, Tensor
from symgrad.index.reduce import MaxOver
from symgrad.parse import _pointer, check_text

__all__ = ["FUNCTIONS", "parse_index_forward"]

#: The functions a forward may call (one argument each); ``sum`` and ``max`` are reductions.
FUNCTIONS: dict[str, Any] = {
    "exp": sp.exp, "log": sp.log, "tanh": sp.tanh, "sigmoid": sigmoid, "sqrt": sp.sqrt, "abs": sp.Abs,
    "erf": sp.erf, "relu": relu,
}
MAX_LENGTH = 2_000
MAX_DEPTH = 40
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/()\[\],=]))")
_MAX_NAME = 32


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            column = position + len(text[position:]) - len(text[position:].lstrip())
            msg = f"unexpected character {text[column]!r} at column {column + 1}\n{_pointer(text, column)}"
            raise ParseError(msg)
        kind = match.lastgroup or "op"
        column = match.start(kind)
        if kind == "name" and len(match.group(kind)) > _MAX_NAME:
            msg = f"the name at column {column + 1} is longer than {_MAX_NAME} characters\n{_pointer(text, column)}"
            raise ParseError(msg)
        tokens.append(_Token(kind, match.group(kind), column))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the tokens; collects every tensor read and every index."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0
        self.reads: list[tuple[str, tuple[Any, ...], int, bool]] = []  # name, positions, column, in a position
        self.summed: dict[sp.Symbol, int] = {}  # index -> column where a reduction names it
        self.in_position = 0

    # -- tokens ---------------------------------------------------------------------------------
    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def fail(self, expected: str, token: _Token | None = None) -> ParseError:
        token = token or self.peek()
        found = "the end" if token.kind == "end" else repr(token.text)
        msg = f"expected {expected} at column {token.column + 1}, found {found}\n{_pointer(self.text, token.column)}"
        return ParseError(msg)

    def expect(self, op: str, expected: str | None = None) -> _Token:
        token = self.peek()
        if token.kind != "op" or token.text != op:
            raise self.fail(expected or repr(op))
        return self.take()

    def accept(self, op: str) -> bool:
        token = self.peek()
        if token.kind == "op" and token.text == op:
            self.at += 1
            return True
        return False

    # -- grammar --------------------------------------------------------------------------------
    def forward(self) -> tuple[str, tuple[sp.Symbol, ...], sp.Expr]:
        name = self.take()
        if name.kind != "name":
            raise self.fail("the output's name, as in y[n, j] = ...", name)
        self.expect("[", "'[' and the output's indices, as in y[n, j]")
        out = [self.index_name()]
        while self.accept(","):
            out.append(self.index_name())
        self.expect("]", "',' or ']'")
        self.expect("=")
        body = self.expr()
        if self.peek().kind != "end":
            raise self.fail("an operator or the end")
        if len(set(out)) != len(out):
            msg = f"the output {name.text}[{', '.join(map(str, out))}] repeats an index"
            raise ParseError(msg)
        return name.text, tuple(out), body

    def index_name(self) -> sp.Symbol:
        token = self.take()
        if token.kind != "name" or token.text in FUNCTIONS or token.text in ("sum", "max"):
            raise self.fail("an index name", token)
        return sp.Symbol(token.text, integer=True)

    def expr(self) -> sp.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            msg = f"the forward is nested more than {MAX_DEPTH} levels deep"
            raise ComplexityError(msg)
        value = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-" and self.peek().text:
            op = self.take().text
            right = self.term()
            value = value + right if op == "+" else value - right
        self.depth -= 1
        return value

    def term(self) -> sp.Expr:
        value = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.take().text
            right = self.unary()
            value = value * right if op == "*" else value / right
        return value

    def unary(self) -> sp.Expr:
        if self.accept("-"):
            return -self.unary()
        if self.accept("+"):
            return self.unary()
        return self.power()

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.accept("**"):
            exponent = self.unary()
            if self.in_position:
                raise self.fail("+, - or * in an index position (no powers)")
            return base**exponent  # type: ignore[no-any-return]
        return base

    def atom(self) -> sp.Expr:
        token = self.take()
        if token.kind == "number":
            return sp.Integer(int(token.text)) if token.text.isdigit() else sp.Float(token.text)
        if token.kind == "op" and token.text == "(":
            value = self.expr()
            self.expect(")", "')'")
            return value
        if token.kind != "name":
            raise self.fail("a number, a tensor read such as x[n, i], a function or '('", token)
        if self.accept("["):
            return self.read(token)
        if self.accept("("):
            return self.call(token)
        if self.in_position:
            return sp.Symbol(token.text, integer=True)  # an index inside a read's position
        msg = (f"{token.text!r} at column {token.column + 1} is neither a tensor read (write {token.text}[...]) "
               f"nor a function call\n{_pointer(self.text, token.column)}")
        raise ParseError(msg)

    def read(self, name: _Token) -> sp.Expr:
        self.in_position += 1
        positions = [self.expr()]
        while self.accept(","):
            positions.append(self.expr())
        self.in_position -= 1
        self.expect("]", "',' or ']'")
        self.reads.append((name.text, tuple(positions), name.column, self.in_position > 0))
        return sp.IndexedBase(name.text)[tuple(positions)]

    def call(self, name: _Token) -> sp.Expr:
        if self.in_position:
            raise self.fail("an index expression (no function calls in an index position)", name)
        if name.text in ("sum", "max"):
            body = self.expr()
            if not self.accept(","):
                raise self.fail(f"',' and the indices {name.text} runs over, as in {name.text}(x[n, i], i)")
            over = [self.index_name()]
            while self.accept(","):
                over.append(self.index_name())
            self.expect(")", "',' or ')'")
            for symbol in over:
                self.summed.setdefault(symbol, name.column)
            limits = [(s, 0, sp.Symbol(f"\0{s}")) for s in over]  # sizes put in once every read is known
            return sp.Sum(body, *limits) if name.text == "sum" else MaxOver(body, *limits)
        function = FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join([*FUNCTIONS, "sum", "max"])
            msg = (f"unknown function {name.text!r} at column {name.column + 1}; the functions are {known}\n"
                   f"{_pointer(self.text, name.column)}")
            raise UnknownNameError(msg)
        argument = self.expr()
        self.expect(")", "')' (the functions take one argument)")
        return function(argument)  # type: ignore[no-any-return]


def _dimension(value: Any, what: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        msg = f"{what} must be a positive int or a name, got {value!r}"
        raise ShapeError(msg)
    if isinstance(value, int):
        if value < 1:
            msg = f"{what} must be positive, got {value}"
            raise ShapeError(msg)
        return sp.Integer(value)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", value):
        msg = f"{what} {value!r} is not a name (letters, digits, '_')"
        raise ShapeError(msg)
    return sp.Symbol(value, integer=True, positive=True)


def parse_index_forward(text: str, params: Mapping[str, Any], sizes: Mapping[str, Any] | None = None,
                        inputs: Mapping[str, Any] | None = None) -> IndexForward:
    """The forward ``text`` as an :class:`IndexForward` (see the module); ``params`` gives each parameter's
    shape, ``inputs`` (optional) an input's shape where its reads do not say it (a window)."""
    text = check_text(text, MAX_LENGTH, "forward", ParseError, example=" such as 'y[n,j] = sum(x[n,i]*W[i,j], i)'",
                      limit_argument=None)
    text = re.sub(r"\s", " ", text)
    parser = _Parser(text)
    output, out, body = parser.forward()
    shapes = {name: tuple(_dimension(d, f"dimension {k} of {name}") for k, d in enumerate(_tuple(name, shape)))
              for name, shape in params.items()}
    ranges: dict[sp.Symbol, Any] = {sp.Symbol(k, integer=True): _dimension(v, f"the size of {k}")
                                    for k, v in (sizes or {}).items()}
    names = list(dict.fromkeys(name for name, *_ in parser.reads))
    declared = {name: tuple(_dimension(d, f"dimension {k} of {name}") for k, d in enumerate(_tuple(name, shape)))
                for name, shape in (inputs or {}).items()}
    clash = sorted(set(declared) & set(shapes))
    if clash:
        msg = f"{clash[0]!r} is given both in params and in inputs"
        raise UnknownNameError(msg)
    unknown = [name for name in [*params, *declared] if name not in names]
    if unknown:
        msg = (f"params names {', '.join(map(repr, unknown))}, which the forward never reads; "
               f"it reads {', '.join(names)}")
        raise UnknownNameError(msg)
    if output in names:
        msg = f"the output {output!r} is also read in the forward: name it differently from its inputs"
        raise ParseError(msg)
    integer = {name for name, _, _, inner in parser.reads if inner}
    for name, positions, column, _ in parser.reads:  # sizes from the parameters' plain positions
        shape = shapes.get(name, declared.get(name))
        if shape is not None and len(shape) != len(positions):
            msg = (f"{name} has {len(shape)} dimensions (declared) but is read with {len(positions)} indices at column "
                   f"{column + 1}\n{_pointer(text, column)}")
            raise ShapeError(msg)
        for position, dim in zip(positions, shape or (), strict=False):
            if isinstance(position, sp.Symbol):
                _agree(ranges, position, dim, name, text, column)
    for _, positions, _, _ in parser.reads:  # an index no parameter sizes: a free size, named by its upper case
        for position in positions:
            for symbol in sorted(position.free_symbols - set(ranges), key=str):
                if isinstance(symbol, sp.Symbol) and str(symbol) not in names:
                    ranges[symbol] = sp.Symbol(str(symbol).upper(), integer=True, positive=True)
    for symbol in out:
        if symbol not in ranges:
            msg = f"the output index {symbol} is read by no tensor: give its size with sizes={{'{symbol}': ...}}"
            raise UnknownNameError(msg)
    tensors = []
    for name in names:
        if name in shapes or name in declared:
            tensors.append(Tensor(name, shapes.get(name, declared.get(name, ())), integer=name in integer))
            continue
        reads = [positions for read, positions, _, _ in parser.reads if read == name]
        dims = []
        for k, position in enumerate(reads[0]):
            if not isinstance(position, sp.Symbol):
                msg = (f"the input {name} is read at {position} in dimension {k}: its size is unknown; declare it "
                       f"with inputs={{{name!r}: (...)}}")
                raise ShapeError(msg)
            dims.append(ranges[position])
        tensors.append(Tensor(name, tuple(dims), integer=name in integer))
    placeholders = {sp.Symbol(f"\0{s}"): ranges[s] - 1 for s in parser.summed if s in ranges}
    missing = [s for s in parser.summed if s not in ranges]
    if missing:
        msg = f"the summed index {missing[0]} is read at no sized position: give its size with sizes="
        raise UnknownNameError(msg)
    body = body.xreplace(placeholders)
    read_inputs = [t for t in tensors if t.name not in shapes]
    ordered = (*read_inputs, *(t for t in tensors if t.name in shapes))
    used = {s for s in ranges if s in body.atoms(sp.Symbol) or s in out}
    forward = IndexForward(output, out, body, ordered, tuple((s, ranges[s]) for s in ranges if s in used or s in out))
    return forward.validate()


def _tuple(name: str, shape: Any) -> tuple[Any, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        return (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        msg = f"params[{name!r}] must be a shape such as (3, 2), got {shape!r}"
        raise ShapeError(msg)
    return tuple(shape)


def _agree(ranges: dict[sp.Symbol, Any], symbol: sp.Symbol, dim: Any, name: str, text: str, column: int) -> None:
    known = ranges.setdefault(symbol, dim)
    if known != dim:
        msg = (f"index {symbol} runs over {known} values but {name} (column {column + 1}) has {dim} there\n"
               f"{_pointer(text, column)}")
        raise ShapeError(msg)
