"""A spec layer's matrix rules as small trees that evaluate, print and mutate.

:func:`symgrad.check_layer` needs three things from a symgrad layer used as a
spec: the value of its rules at a point (the symbolic side of the check), the
rules as plain text for messages (``dW = x.T @ dout``), and the same rules
with a typical mistake put in (``dW = x @ dout``) to name what a wrong
backward did. SymPy's matrix expressions cannot hold the mistakes (a product
of mismatched shapes refuses to exist), so :func:`spec_rules` converts the
layer's ``matrix_forward``, ``matrix_vjp`` (or, for a loss, ``matrix_loss`` and
``matrix_grad``) once into the frozen nodes below; nothing here differentiates,
the rules stay written once, in the layer.

The names in the trees are ``x`` (the layer's input), the parameter roles
(``W``, ``b``), ``dout`` (the upstream gradient) and ``t`` (a loss's target);
an activation's own output ``f(x)`` prints as ``out``.

Examples
--------
>>> import numpy as np
>>> from symgrad.layers import Affine
>>> rules = spec_rules(Affine(3, 2), x_shape=(4, 3), param_shapes={"W": (3, 2), "b": (2,)})
>>> [f"d{name} = {to_text(node, rules)}" for name, node in rules.grads.items()]
['dx = dout @ W.T', 'dW = x.T @ dout', 'db = dout.sum(axis=0)']
>>> env = {"x": np.ones((4, 3)), "W": np.ones((3, 2)), "b": np.zeros(2), "dout": np.ones((4, 2))}
>>> evaluate(rules.grads["b"], env)
array([[4., 4.]])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from symgrad.errors import LayerError, ShapeError
from symgrad.functions import kink_value, relu_grad
from symgrad.layers import Activation, Layer, Loss
from symgrad.layers.composite import CompositeLayer
from symgrad.matrixexpr import BATCH, ZETA, ElementSum, Elementwise, RowSoftmax
from symgrad.special import erf

__all__ = [
    "Apply",
    "Columns",
    "Compiled",
    "Constant",
    "Formula",
    "HStack",
    "Hadamard",
    "MatMul",
    "Node",
    "OperandShapes",
    "Plus",
    "Power",
    "Scale",
    "Softmax",
    "SpecRules",
    "Sum",
    "Sym",
    "Total",
    "Transpose",
    "evaluate",
    "rebuild",
    "scaled",
    "spec_rules",
    "to_text",
]


class Node:
    """A node of a rule tree (plain, frozen data)."""


@dataclass(frozen=True)
class Sym(Node):
    """A named value: ``x``, ``W``, ``b``, ``dout``, ``t``."""

    name: str


@dataclass(frozen=True)
class Ones(Node):
    """A matrix of ones beside other matrices (``1 - t``): NumPy's scalar 1 broadcasts to it."""


@dataclass(frozen=True)
class Transpose(Node):
    arg: Node


@dataclass(frozen=True)
class MatMul(Node):
    """The matrix product of two or more factors, left to right."""

    factors: tuple[Node, ...]


@dataclass(frozen=True)
class Scale(Node):
    """A scalar coefficient (a SymPy number, possibly with the batch size N) times ``arg``."""

    coeff: sp.Expr
    arg: Node


@dataclass(frozen=True)
class Sum(Node):
    """``arg.sum(axis=axis)`` (the ones-row product ``1 @ G`` is ``axis=0``)."""

    arg: Node
    axis: int = 0
    #: A row sum broadcast back over the columns (``A @ ones(M, Q)``), printed with keepdims=True.
    keep: bool = False


@dataclass(frozen=True)
class Plus(Node):
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Hadamard(Node):
    """The entrywise product of its factors."""

    factors: tuple[Node, ...]


@dataclass(frozen=True)
class Power(Node):
    """``base ** exp`` entrywise."""

    base: Node
    exp: sp.Expr


@dataclass(frozen=True)
class Apply(Node):
    """The scalar SymPy expression ``body`` of ``ZETA`` applied to each entry of ``arg``."""

    body: sp.Expr
    arg: Node


@dataclass(frozen=True)
class Softmax(Node):
    """Softmax of each row (the last axis)."""

    arg: Node


@dataclass(frozen=True)
class Total(Node):
    """The sum of all entries (a scalar)."""

    arg: Node


@dataclass(frozen=True)
class Compiled(Node):
    """A rule of an N-D layer, compiled to NumPy (:mod:`symgrad.check.tensorrules`): ``fn(env)`` is its
    value, ``text`` the formula it prints as; ``variants`` its usual mistakes, each (mistake, fix, Compiled)."""

    text: str
    fn: Callable[[Mapping[str, Any]], Any] = field(compare=False, repr=False)
    variants: tuple[tuple[str, str, Compiled], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Columns(Node):
    """``arg[:, start:stop]``: a block of columns (an LSTM's gate)."""

    arg: Node
    start: int
    stop: int


@dataclass(frozen=True)
class HStack(Node):
    """``np.hstack(parts)``: blocks of columns side by side (the gates' gradients)."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Constant(Node):
    """A matrix of numbers (a layer's constants, such as eval mode's running statistics)."""

    name: str
    values: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Formula(Node):
    """A composite layer's derived rule ``arg``, printed as its closed form ``text`` (the textbook's formula).

    It evaluates as ``arg`` (the derived tree); it prints as ``text``, which
    the layer's tests prove equal to ``arg`` at seeded points. The tree inside is
    no place for the generic mutants (a transpose dropped deep in batch norm's
    sweep names nothing a reader wrote); the layer's own mistakes are its
    ``variants``.
    """

    text: str
    arg: Node


@dataclass(frozen=True)
class SpecRules:
    """A spec layer's rules as trees.

    ``forward`` is the output (for a loss, the scalar E); ``grads`` maps
    ``"x"`` and each parameter role to the tree of its gradient (a loss's
    ``"x"`` gradient is already multiplied by the scalar ``dout``);
    ``output`` is the activation's own output ``f(ZETA)`` (printed ``out``),
    if the spec is an activation.
    """

    title: str
    loss: bool
    roles: tuple[str, ...]
    forward: Node
    grads: Mapping[str, Node]
    output: sp.Expr | None = None
    #: Values the spec itself holds, by the name its rules read them (a dropout's frozen ``mask``).
    constants: Mapping[str, Any] = field(default_factory=dict)
    #: A dropout spec's drop probability p (its inverted scale is 1/(1 - p)), for the diagnosis.
    drop: Any = None
    #: A composite layer's mistakes: (what was left out, the fix, the gradients such a backward computes).
    variants: tuple[tuple[str, str, Mapping[str, Node]], ...] = ()
    #: The spec's inputs and the names of its outputs' upstream gradients, in the order a layer takes them.
    inputs: tuple[str, ...] = ("x",)
    upstreams: tuple[str, ...] = ("dout",)


# -- from SymPy -----------------------------------------------------------------


def spec_rules(
    spec: Layer, *, x_shape: tuple[int, ...], param_shapes: Mapping[str, tuple[int, ...]], kink: Any = 0
) -> SpecRules:
    """The rules of ``spec`` at these shapes (the batch stays the symbol N).

    Raises
    ------
    ShapeError
        ``x`` or a parameter has a shape the spec cannot take.
    """
    key = (tuple(x_shape), tuple(sorted((k, tuple(v)) for k, v in param_shapes.items())), str(kink_value(kink)))
    rules = _cached_rules(spec, key)
    constants = spec.spec_constants(x_shape)  # read at each call: a dropout's mask may be set again
    return replace(rules, constants=constants, drop=getattr(spec, "p", None)) if constants else rules


@functools.lru_cache(maxsize=256)
def _cached_rules(spec: Layer, key: tuple[Any, ...]) -> SpecRules:
    x_shape, shapes, kink = key[0], dict(key[1]), sp.sympify(key[2])
    features = int(np.prod(x_shape[1:])) if len(x_shape) > 1 else 1
    x = sp.MatrixSymbol("x", BATCH, features)
    params = {role: sp.MatrixSymbol(role, *_matrix_shape(shapes[role])) for role in spec.roles}
    try:
        if isinstance(spec, Loss):
            t = sp.MatrixSymbol("t", BATCH, features)
            forward = _node(spec.matrix_loss(x, t))
            grads: dict[str, Node] = {"x": Hadamard((Sym("dout"), _node(spec.matrix_grad(x, t))))}
        elif isinstance(spec, CompositeLayer) and len(spec.inputs) > 1:
            return _cell_rules(spec, params)
        elif isinstance(spec, CompositeLayer):
            return _composite_rules(spec, x, params)
        else:
            out = spec.matrix_forward(x, params)
            upstream = sp.MatrixSymbol("dout", BATCH, out.shape[1])
            forward = _node(out)
            vjp = spec.matrix_vjp(upstream, x, params, kink=kink)
            grads = {"x": _node(vjp["input"]), **{role: _node(vjp[role]) for role in spec.roles}}
    except (sp.ShapeError, ValueError, TypeError) as error:
        shown = ", ".join(f"{role} {shapes[role]}" for role in spec.roles)
        msg = f"the spec {spec!r} cannot take x of shape {x_shape}" + (f" with {shown}" if shown else "") + f": {error}"
        raise ShapeError(msg) from None
    output = spec.function(ZETA) if isinstance(spec, Activation) else None
    return SpecRules(repr(spec), isinstance(spec, Loss), tuple(spec.roles), forward, grads, output)


def _composite_rules(spec: CompositeLayer, x: Any, params: Mapping[str, Any]) -> SpecRules:
    """A composite layer's derived rules, each printed as its closed form; its mistakes as variants."""
    out = spec.matrix_forward(x, params)
    upstream = sp.MatrixSymbol("dout", BATCH, out.shape[1])
    texts = spec.rule_texts()

    def trees(vjp: Mapping[str, Any]) -> dict[str, Node]:
        return {("x" if key == "input" else key): _node(rule) for key, rule in vjp.items()}

    grads = {name: Formula(texts[name], tree) for name, tree in trees(spec.matrix_vjp(upstream, x, params)).items()}
    variants = tuple(
        (m.mistake, m.fix, trees(spec.matrix_vjp(upstream, x, params, cut=m.cut))) for m in spec.mistakes
    )
    forward = Formula(texts["out"], _node(out))
    return SpecRules(repr(spec), False, tuple(spec.roles), forward, grads, None, variants=variants)


def _cell_rules(spec: CompositeLayer, params: Mapping[str, Any]) -> SpecRules:
    """A layer of several inputs and outputs (a recurrent cell): its rules by input name, its upstream
    gradients named d<output> (``dout`` when there is one output)."""
    graph = spec.graph()
    sizes = spec.input_sizes()
    env = {name: sp.MatrixSymbol(name, BATCH, sizes[name]) for name in spec.inputs}
    env.update(params)
    outputs = graph.outputs
    names = ("dout",) if len(outputs) == 1 else tuple(f"d{out}" for out in outputs)
    from symgrad.composite.graph import forward_values

    forward = forward_values(graph, {**env, **spec.constants()})[outputs[0]]
    upstream = {out: sp.MatrixSymbol(name, BATCH, sizes.get(out, forward.shape[1]))
                for out, name in zip(outputs, names, strict=True)}
    texts = spec.rule_texts()

    def where(text: str) -> str:
        extra = [f"{name} = {texts[name]}" for name in ("dA", "ds") if name in texts and name in text]
        if "dA" in text and "ds" in texts and "ds" not in text and "ds" in texts.get("dA", ""):
            extra.append(f"ds = {texts['ds']}")
        return text + "".join(f", {part}" for part in extra)

    def trees(grads: Mapping[str, Any]) -> dict[str, Node]:
        return {name: _node(grad) for name, grad in grads.items()}

    grads = {name: Formula(where(texts[name]), tree) for name, tree in trees(spec.cell_vjp(upstream, env)).items()}
    variants = tuple((m.mistake, m.fix, trees(spec.cell_vjp(upstream, env, mistake=m))) for m in spec.mistakes)
    shown = Formula(texts.get("out", outputs[0]), _node(forward))
    return SpecRules(repr(spec), False, tuple(spec.roles), shown, grads, None,
                     variants=variants, inputs=tuple(spec.inputs), upstreams=names)


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """A parameter's shape as a matrix: a vector (M,) is the row (1, M)."""
    if len(shape) == 1:
        return (1, shape[0])
    if len(shape) == 2:
        return (shape[0], shape[1])
    msg = f"a parameter of shape {shape} cannot be a spec layer's parameter (vectors and matrices only)"
    raise ShapeError(msg)


def _node(expr: Any) -> Node:
    """Convert one SymPy (matrix) expression; unknown kinds are a bug in symgrad, not the user's."""
    if isinstance(expr, sp.MatrixSymbol):
        return Sym(str(expr.name))
    if isinstance(expr, sp.OneMatrix):
        return Ones()
    if isinstance(expr, sp.Transpose):
        return Transpose(_node(expr.arg))
    if isinstance(expr, sp.MatMul):
        return _matmul(expr)
    if isinstance(expr, sp.MatAdd):
        return _plus([_node(arg) for arg in expr.args])
    if isinstance(expr, sp.HadamardProduct):
        return Hadamard(tuple(_node(arg) for arg in expr.args))
    if isinstance(expr, sp.HadamardPower):
        return Power(_node(expr.base), expr.exp)
    if isinstance(expr, Elementwise):
        return Apply(expr.body, _node(expr.arg))
    if isinstance(expr, RowSoftmax):
        return Softmax(_node(expr.args[0]))
    if isinstance(expr, ElementSum):
        return Total(_node(expr.args[0]))
    if isinstance(expr, sp.MatrixSlice):
        cols = expr.colslice
        return Columns(_node(expr.parent), int(cols[0]), int(cols[1]))
    if isinstance(expr, sp.BlockMatrix):
        return HStack(tuple(_node(block) for block in expr.blocks[0, :]))
    if isinstance(expr, sp.ImmutableMatrix):  # a composite layer's constants (eval mode's running statistics)
        return Constant("running", tuple(tuple(float(v) for v in row) for row in expr.tolist()))
    if isinstance(expr, sp.Mul):
        coeff = sp.Mul(*[a for a in expr.args if not a.has(ElementSum)])
        rest = [a for a in expr.args if a.has(ElementSum)]
        if len(rest) == 1:
            return scaled(coeff, _node(rest[0]))
    msg = f"symgrad cannot yet use {type(expr).__name__} in a layer check (from {expr})"
    raise LayerError(msg)


def _matmul(expr: sp.MatMul) -> Node:
    coeff, matrices = expr.as_coeff_matrices()
    factors = list(matrices)
    if factors and isinstance(factors[0], sp.OneMatrix):
        ones, factors = factors[0], factors[1:]
        inner = _product([_node(f) for f in factors])
        # ones(N, 1) @ b broadcasts a row over the batch (NumPy does it alone); ones(1, N) @ G sums over it.
        node = inner if ones.shape[1] == 1 else Sum(inner, 0)
    elif factors and isinstance(factors[-1], sp.OneMatrix) and len(factors) > 1:
        # A @ ones(M, Q): each row's sum, repeated in every column (NumPy broadcasts the (N, 1) sums).
        node = Sum(_product([_node(f) for f in factors[:-1]]), 1, keep=True)
    else:
        node = _product([_node(f) for f in factors])
    return scaled(coeff, node)


def _product(factors: list[Node]) -> Node:
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


def _plus(terms: list[Node]) -> Node:
    # Positive terms first, so that "-t + x" reads "x - t".
    ordered = sorted(terms, key=lambda n: isinstance(n, Scale) and bool(sp.sympify(n.coeff).could_extract_minus_sign()))
    return Plus(tuple(ordered))


def scaled(coeff: Any, node: Node) -> Node:
    """``coeff * node``, folding coefficients together (into a product's scaled factor, if any).

    Examples
    --------
    >>> import sympy as sp
    >>> to_text(scaled(BATCH, Scale(1 / BATCH, Sym("g"))))
    'g'
    >>> to_text(scaled(-1, Hadamard((Sym("dout"), Scale(1 / BATCH, Sym("g"))))))
    '-dout * g / N'
    """
    coeff = sp.sympify(coeff)
    if coeff == 1:
        return node
    if isinstance(node, Scale):
        return scaled(coeff * node.coeff, node.arg)
    if isinstance(node, Hadamard):
        for i, factor in enumerate(node.factors):
            if isinstance(factor, Scale):
                return Hadamard((*node.factors[:i], scaled(coeff, factor), *node.factors[i + 1 :]))
    return Scale(coeff, node)


# -- evaluation -------------------------------------------------------------------


class OperandShapes(Exception):  # noqa: N818  (a finding, not an error of the caller's)
    """A product in a rule tree met operands of these shapes, which do not multiply."""

    def __init__(self, left: tuple[int, ...], right: tuple[int, ...], text: str) -> None:
        super().__init__(left, right, text)
        self.left, self.right, self.text = tuple(left), tuple(right), text

    def __str__(self) -> str:
        return f"{self.text}: shapes {self.left} and {self.right} do not multiply"


def evaluate(node: Node, env: Mapping[str, Any]) -> Any:
    """The value of ``node`` with NumPy, the names taken from ``env``.

    Raises
    ------
    OperandShapes
        A product's operands do not fit (a mutated rule, usually).
    ValueError
        Any other shape mismatch.
    """
    batch = np.shape(env["x"])[0] if np.ndim(env["x"]) else 1
    return _eval(node, env, batch)


def _eval(node: Node, env: Mapping[str, Any], batch: int) -> Any:
    if isinstance(node, Compiled):
        return node.fn(env)
    if isinstance(node, Sym):
        return env[node.name]
    if isinstance(node, Ones):
        return 1.0
    if isinstance(node, Transpose):
        return np.transpose(_eval(node.arg, env, batch))
    if isinstance(node, MatMul):
        value = _eval(node.factors[0], env, batch)
        for left, factor in zip(node.factors, node.factors[1:], strict=False):
            right = _eval(factor, env, batch)
            if np.ndim(value) < 1 or np.ndim(right) < 1 or np.shape(value)[-1] != np.shape(right)[0]:
                raise OperandShapes(np.shape(value), np.shape(right), f"{to_text(left)} @ {to_text(factor)}")
            value = value @ right
        return value
    if isinstance(node, Scale):
        return float(node.coeff.subs(BATCH, batch)) * _eval(node.arg, env, batch)
    if isinstance(node, Sum):
        return np.sum(_eval(node.arg, env, batch), axis=node.axis, keepdims=True)
    if isinstance(node, Plus):
        return functools.reduce(np.add, [_eval(term, env, batch) for term in node.terms])
    if isinstance(node, Hadamard):
        return functools.reduce(np.multiply, [_eval(factor, env, batch) for factor in node.factors])
    if isinstance(node, Power):
        return _eval(node.base, env, batch) ** float(node.exp)
    if isinstance(node, Apply):
        arg = np.asarray(_eval(node.arg, env, batch), dtype=float)
        return np.broadcast_to(_scalar_function(node.body)(arg), arg.shape) * 1.0
    if isinstance(node, Softmax):
        arg = _eval(node.arg, env, batch)
        exps = np.exp(arg - np.max(arg, axis=-1, keepdims=True))
        return exps / np.sum(exps, axis=-1, keepdims=True)
    if isinstance(node, Total):
        return np.sum(_eval(node.arg, env, batch))
    if isinstance(node, Formula):
        return _eval(node.arg, env, batch)
    if isinstance(node, Columns):
        return _eval(node.arg, env, batch)[:, node.start : node.stop]
    if isinstance(node, HStack):
        return np.hstack([_eval(part, env, batch) for part in node.parts])
    if isinstance(node, Constant):
        return np.asarray(node.values, dtype=float)
    msg = f"cannot evaluate a {type(node).__name__}"
    raise LayerError(msg)


@functools.lru_cache(maxsize=256)
def _scalar_function(body: sp.Expr) -> Callable[[np.ndarray], Any]:
    # The body comes from a symgrad layer's own rule (never from a user's string).
    return sp.lambdify(ZETA, body, modules=[{"erf": erf}, "numpy"])  # type: ignore[no-any-return]


# -- plain text -------------------------------------------------------------------

_LEVEL = {Plus: 10, Formula: 10, Scale: 20, Hadamard: 20, MatMul: 30, Power: 40}


def to_text(node: Node, rules: SpecRules | None = None, names: Mapping[str, str] | None = None) -> str:
    """``node`` as plain Python-like text: ``dout @ W.T``, ``dout * (x > 0)``.

    Examples
    --------
    >>> to_text(Plus((Sym("x"), Scale(-1, Sym("t")))))
    'x - t'
    >>> to_text(Apply(relu_grad(ZETA, 0), Sym("x")))
    '(x > 0)'
    """
    output = rules.output if rules is not None else None
    return _text(node, _Context(output, dict(names or {})))


@dataclass(frozen=True)
class _Context:
    """What printing needs besides the tree: the activation's own output (printed ``out``),
    and the user's names for the spec's roles."""

    output: sp.Expr | None
    names: dict[str, str]


def _level(node: Node) -> int:
    if isinstance(node, Scale) and node.coeff == -1:
        return 25
    if isinstance(node, Apply) and isinstance(node.body, sp.Mul):
        return 20
    return _LEVEL.get(type(node), 50)


def _wrapped(node: Node, ctx: _Context, level: int) -> str:
    text = _text(node, ctx)
    return f"({text})" if _level(node) < level else text


def _text(node: Node, ctx: _Context) -> str:
    if isinstance(node, Compiled):
        return node.text
    if isinstance(node, Sym):
        return ctx.names.get(node.name, node.name)
    if isinstance(node, Ones):
        return "1"
    if isinstance(node, Transpose):
        return f"{_wrapped(node.arg, ctx, 50)}.T"
    if isinstance(node, MatMul):
        return " @ ".join(_wrapped(f, ctx, 31) for f in node.factors)
    if isinstance(node, Scale):
        return _scale_text(node, ctx)
    if isinstance(node, Sum):
        keep = ", keepdims=True" if node.keep else ""
        return f"{_wrapped(node.arg, ctx, 50)}.sum(axis={node.axis}{keep})"
    if isinstance(node, Plus):
        return _plus_text(node, ctx)
    if isinstance(node, Hadamard):
        return _hadamard_text(node, ctx)
    if isinstance(node, Power):
        return f"{_wrapped(node.base, ctx, 50)}**{node.exp}"
    if isinstance(node, Apply):
        return _apply_text(node, ctx)
    if isinstance(node, Softmax):
        return f"softmax({_text(node.arg, ctx)})"
    if isinstance(node, Total):
        return f"{_wrapped(node.arg, ctx, 50)}.sum()"
    if isinstance(node, Formula):
        return node.text
    if isinstance(node, Columns):
        return f"{_wrapped(node.arg, ctx, 50)}[:, {node.start}:{node.stop}]"
    if isinstance(node, HStack):
        return f"np.hstack(({', '.join(_text(part, ctx) for part in node.parts)}))"
    if isinstance(node, Constant):
        return node.name
    return type(node).__name__


def _scale_text(node: Scale, ctx: _Context) -> str:
    if node.coeff == -1:
        return f"-{_wrapped(node.arg, ctx, 21)}"
    numer, denom = sp.fraction(sp.sympify(node.coeff))
    sign = "-" if numer.could_extract_minus_sign() else ""
    numer = -numer if sign else numer
    text = _wrapped(node.arg, ctx, 20)
    if numer != 1:
        text = f"{_wrapped_number(numer)} * {text}"
    if denom != 1:
        text = f"{text} / {_wrapped_number(denom)}"
    return sign + text


def _hadamard_text(node: Hadamard, ctx: _Context) -> str:
    # A minus sign inside a factor is written once, in front: "-dout * g / N".
    sign, factors = "", []
    for factor in node.factors:
        if isinstance(factor, Scale) and sp.sympify(factor.coeff).could_extract_minus_sign():
            sign, factor = ("" if sign else "-"), scaled(-1, factor)
        factors.append(_wrapped(factor, ctx, 20))
    return sign + " * ".join(factors)


def _wrapped_number(value: sp.Expr) -> str:
    text = _PLAIN.doprint(value)
    return text if value.is_Atom else f"({text})"


def _plus_text(node: Plus, ctx: _Context) -> str:
    parts = []
    for i, term in enumerate(node.terms):
        if i and isinstance(term, Scale) and sp.sympify(term.coeff).could_extract_minus_sign():
            parts.append(f"- {_wrapped(scaled(-1, term), ctx, 11)}")
        else:
            parts.append(("+ " if i else "") + _wrapped(term, ctx, 11))
    return " ".join(parts)


def _apply_text(node: Apply, ctx: _Context) -> str:
    arg = sp.Symbol(_wrapped(node.arg, ctx, 50))
    body = node.body
    if ctx.output is not None and isinstance(node.arg, Sym) and node.arg.name == "x":
        body = body.xreplace({ctx.output: sp.Symbol("out")})
    body = body.xreplace({ZETA: arg})
    if isinstance(body, sp.Mul):
        return " * ".join(_PLAIN.parenthesize(factor, 50) for factor in sp.Mul.make_args(body))
    text = _PLAIN.doprint(body)
    return text if body.is_Atom or body.is_Function or text.startswith("(") else f"({text})"


class _PlainPrinter(StrPrinter):  # type: ignore[misc]
    """SymPy's str printer, with relu' written as the mask a layer computes."""

    def _print_relu_grad(self, expr: relu_grad) -> str:
        arg, kink = expr.args
        negated = arg.could_extract_minus_sign()
        inner = self._print(-arg if negated else arg)
        if kink == sp.S.Half:
            return f"heaviside({'-' if negated else ''}{inner}, 0.5)"
        op = {(False, 0): ">", (False, 1): ">=", (True, 0): "<", (True, 1): "<="}[(bool(negated), int(kink))]
        return f"({inner} {op} 0)"


_PLAIN = _PlainPrinter()


# -- mutations ----------------------------------------------------------------------


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (MatMul, Hadamard)):
        return node.factors
    if isinstance(node, Plus):
        return node.terms
    if isinstance(node, (Transpose, Scale, Sum, Apply, Softmax, Total, Columns)):
        return (node.arg,)
    if isinstance(node, HStack):
        return node.parts
    if isinstance(node, Power):
        return (node.base,)
    return ()


def rebuild(node: Node, change: Callable[[Node], Node | None]) -> Iterator[Node]:
    """Every tree obtained by replacing exactly one node ``n`` of ``node`` with ``change(n)``
    (where ``change`` returns a node rather than None): the mutants of a rule.

    Examples
    --------
    >>> tree = MatMul((Transpose(Sym("x")), Sym("dout")))
    >>> [to_text(t) for t in rebuild(tree, lambda n: n.arg if isinstance(n, Transpose) else None)]
    ['x @ dout']
    """
    own = change(node)
    if own is not None:
        yield own
    for i, child in enumerate(_children(node)):
        for new in rebuild(child, change):
            yield _with_child(node, i, new)


def _with_child(node: Node, index: int, child: Node) -> Node:
    if isinstance(node, (MatMul, Hadamard)):
        return replace(node, factors=(*node.factors[:index], child, *node.factors[index + 1 :]))
    if isinstance(node, Plus):
        return replace(node, terms=(*node.terms[:index], child, *node.terms[index + 1 :]))
    if isinstance(node, HStack):
        return replace(node, parts=(*node.parts[:index], child, *node.parts[index + 1 :]))
    if isinstance(node, Power):
        return replace(node, base=child)
    return replace(cast(Any, node), arg=child)  # type: ignore[no-any-return]
