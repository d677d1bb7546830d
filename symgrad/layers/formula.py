"""Users' own elementwise layers, from a formula in ``z``: :func:`activation`.

``symgrad.activation("z*sigmoid(z)", name="swish")`` is a layer like
:class:`~symgrad.layers.activations.Sigmoid`: the formula is its one fact (its
``function``); its derivative is ``sympy.diff`` of it, its matrix rule
``G o f'(Z)`` is the generic one of :class:`~symgrad.layers.activations.Activation`,
proven entrywise like every other rule, and compiled to NumPy.

Its NumPy reference (the second side of a check) cannot be a textbook's: nobody
wrote one for a user's formula. ``forward`` runs the formula printed to NumPy (the
same expression the symbolic side compiles); ``backward`` is ``dout * f'(x)`` with
``f'(x)`` taken by a **complex step** of that forward, ``Im f(x + ih) / h`` with
``h = 1e-30``: exact to rounding (no difference is taken), computed for every
entry at once (the layer is elementwise), and independent of ``sympy.diff`` and
of the printed derivative, which are what the check tests. It is not
independent of the forward; neither are finite differences, and a wrong
forward is not what a gradient check can catch. Every function a formula may
contain prints to NumPy code that is analytic in its argument (``erf`` too, see
:mod:`symgrad.special`), so the complex step is valid wherever f is smooth.

A string formula is parsed by :func:`symgrad.parse.parse_expression` (never
evaluated); a SymPy expression is checked to hold only ``z``, real numbers and
the functions below. SymPy is imported when a formula is made, never when this
module is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ComplexityError, ParseError, SymgradError, UnknownNameError
from symgrad.layers.activations import Activation
from symgrad.special import erf

if TYPE_CHECKING:
    import sympy as sp

__all__ = ["FUNCTIONS", "FormulaActivation", "activation", "layer_from_spec"]

#: The functions a formula may contain (by SymPy class name): each differentiable wherever it is
#: smooth, printed to NumPy code that is analytic (so a complex step goes through it).
FUNCTIONS = ("exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "erf", "sigmoid", "relu")
#: Most operations (sympy.count_ops) of a SymPy expression given as a formula (a string has parse_expression's limits).
MAX_NODES = 500
_MAX_NAME = 40
#: The complex step of the reference backward (see the module docstring).
_STEP = 1e-30


class FormulaActivation(Activation):
    """An elementwise layer ``out = f(x)`` with ``f`` a user's formula in ``z``.

    Made by :func:`activation`; ``kind`` is the name it was given (``"act"``
    when none was), ``formula`` the formula as text.
    """

    def __init__(self, expression: sp.Expr, name: str, source: str) -> None:
        super().__init__(None)
        self.expression = expression  # in the symbol z (see _z)
        self.formula = _plain(expression)
        # The spec word of a layer is a class attribute elsewhere; here each instance is its own kind.
        vars(self)["kind"] = name
        # An instance attribute: symgrad's rule caches (derive's, check's) treat the layer as one of a kind.
        vars(self)["function"] = _Function(expression)
        self._source = source
        self._compiled = _compile(source)
        self.x: Any = None
        self.out: Any = None

    def describe(self) -> str:
        return self.formula

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if key != "_compiled"}  # a function made by exec

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self._compiled = _compile(self._source)

    def __repr__(self) -> str:
        return f"activation({self.formula!r}, name={self.kind!r})"

    def rule_key(self) -> tuple[str, str]:
        """What the layer's rule depends on: its formula (``srepr``, exact) and its kind's class."""
        import sympy as sp

        return (type(self).__qualname__, sp.srepr(self.expression))

    @property
    def reference_note(self) -> str:
        """What a check's backward() side is for this layer (shown in the check's notes)."""
        return (
            f"backward() of the activation {self.formula} made from a formula is dout times a complex-step "
            "derivative of its forward, Im f(x + ih)/h: no textbook backward exists for a formula; it is "
            "independent of the symbolic side's sympy.diff, not of the forward"
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.out = self._compiled(x)
        return self.out  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = np.asarray(self.x)
        real = np.real(x).astype(np.float64)
        derivative = np.imag(self._compiled(real + 1j * _STEP)) / _STEP
        result = dout * derivative
        kind = np.result_type(dout, x)
        return result.astype(kind) if kind.kind == "f" else result  # type: ignore[no-any-return]


class _Function:
    """``f`` as a callable of a SymPy argument (what ``Activation.function`` is for built-in layers)."""

    def __init__(self, expression: sp.Expr) -> None:
        self.expression = expression

    def __call__(self, z: sp.Expr) -> sp.Expr:
        return self.expression.xreplace({_z(): z})  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<formula {_plain(self.expression)}>"


def _z() -> sp.Symbol:
    import sympy as sp

    return sp.Symbol("z")


def _plain(expression: sp.Expr) -> str:
    import sympy as sp

    return sp.sstr(expression, order="lex")  # type: ignore[no-any-return]


def activation(expr: Any, name: str | None = None) -> FormulaActivation:
    """An elementwise layer from a scalar formula in ``z``.

    Parameters
    ----------
    expr : str or sympy.Expr
        The formula: numbers, ``z``, ``+ - * / **`` and the functions ``exp log
        sqrt sin cos tan sinh cosh tanh erf sigmoid relu``, e.g. swish
        ``"z*sigmoid(z)"``, softplus ``"log(1 + exp(z))"``, GELU
        ``"z*(1 + erf(z/sqrt(2)))/2"``. A string is parsed, never evaluated; a SymPy
        expression may hold no symbol but one named ``z``.
    name : str, optional
        What derivations, reports and documents call the layer (escaped in every
        output format): 1 to 40 printable characters (no control characters, newlines or
        bidirectional overrides, which would garble a terminal's report); ``"act"`` by default.

    Returns
    -------
    FormulaActivation
        A layer for :class:`~symgrad.network.Network`, :func:`symgrad.derive`,
        :func:`symgrad.check` and as the spec of :func:`symgrad.check_layer`.

    Raises
    ------
    ParseError
        The formula does not parse, or holds a name other than ``z``, does not depend
        on ``z``, or uses a function outside the list.
    UnsafeExpressionError
        The string holds anything outside the grammar (attributes, ``__import__``, ...).
    UnknownNameError
        ``name`` is not 1 to 40 printable characters.

    Examples
    --------
    >>> import numpy as np
    >>> swish = activation("z*sigmoid(z)", name="swish")
    >>> swish
    activation('z*sigmoid(z)', name='swish')
    >>> swish.forward(np.array([0.0, 1.0])).round(6)
    array([0.      , 0.731059])
    >>> swish.backward(np.array([1.0, 1.0])).round(6)   # sigmoid(z) + z sigmoid(z) (1 - sigmoid(z))
    array([0.5     , 0.927671])
    >>> activation("y*z")
    Traceback (most recent call last):
    ...
    symgrad.errors.ParseError: the activation formula uses y; its only variable is z (e.g. 'z*sigmoid(z)')
    """
    label = _check_name("act" if name is None else name)
    expression = _expression(expr)
    return FormulaActivation(expression, label, _numpy_source(expression))


def layer_from_spec(formula: str, label: str | None, column: int) -> FormulaActivation:
    """The layer of ``act(<formula>[, name=<label>])`` in a network spec; errors say where it is.

    Examples
    --------
    >>> layer_from_spec("z*sigmoid(z)", "swish", 15).kind
    'swish'
    >>> layer_from_spec("z*q", None, 15)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ParseError: in the formula of act at column 15: the activation formula uses q; ...
    """
    try:
        return activation(formula, name=label)
    except SymgradError as error:
        msg = f"in the formula of act at column {column}: {error}"
        raise type(error)(msg) from None


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= _MAX_NAME or not name.isprintable() or not name.strip():
        shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else f"{name[:60]!r}..."
        msg = f"activation name {shown} is not allowed: use 1 to {_MAX_NAME} printable characters"
        raise UnknownNameError(msg)
    return name


def _expression(expr: Any) -> sp.Expr:
    import sympy as sp

    from symgrad.parse import parse_expression

    if isinstance(expr, str):
        parsed = parse_expression(expr)
    elif isinstance(expr, sp.Basic):
        parsed = _from_sympy(expr)
    else:
        msg = f"an activation formula is a str or a SymPy expression in z, got {type(expr).__name__}"
        raise ParseError(msg)
    _validate(parsed)
    return parsed


def _from_sympy(expr: sp.Basic) -> sp.Expr:
    """A user's SymPy expression with its symbol z (whatever its assumptions) as the plain ``z``."""
    import sympy as sp

    if not isinstance(expr, sp.Expr):
        msg = f"an activation formula must be a scalar SymPy expression, got {type(expr).__name__}"
        raise ParseError(msg)
    if sp.count_ops(expr, visual=False) > MAX_NODES:
        msg = f"the activation formula has more than {MAX_NODES} operations"
        raise ComplexityError(msg)
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    others = [str(s) for s in symbols if not (isinstance(s, sp.Symbol) and s.name == "z")]
    if others:
        _refuse_names(others)
    return expr.xreplace({s: _z() for s in symbols})  # type: ignore[no-any-return]


def _refuse_names(names: list[str]) -> None:
    msg = f"the activation formula uses {', '.join(names)}; its only variable is z (e.g. 'z*sigmoid(z)')"
    raise ParseError(msg)


def _validate(expression: sp.Expr) -> None:
    import sympy as sp

    from symgrad.functions import relu, sigmoid

    allowed = {sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh, sp.erf, sigmoid, relu}
    others = sorted({str(s) for s in expression.free_symbols} - {"z"})
    if others:
        _refuse_names(others)
    for node in sp.preorder_traversal(expression):
        if node == _z() or isinstance(node, (sp.Add, sp.Mul, sp.Pow)):
            continue
        if isinstance(node, sp.Number) or node in (sp.pi, sp.E):
            if not (node.is_real and node.is_finite):
                msg = f"the activation formula holds {node}, which is not a finite real number"
                raise ParseError(msg)
            continue
        if isinstance(node, sp.Function) and type(node) in allowed and len(node.args) == 1:
            continue
        what = type(node).__name__ if isinstance(node, sp.Function) else sp.sstr(node)
        msg = (
            f"the activation formula holds {what}, which symgrad cannot use in an activation; "
            f"its functions are {', '.join(FUNCTIONS)} (and sqrt, powers)"
        )
        if isinstance(node, sp.Function) and type(node) in (sp.Abs, sp.Max, sp.Min):
            msg += "; write abs(z) as relu(z) + relu(-z), a leaky ReLU as relu(z) - 0.01*relu(-z)"
        raise ParseError(msg)
    if _z() not in expression.free_symbols:
        msg = f"the activation formula {_plain(expression)} does not depend on z: its gradient would be 0 everywhere"
        raise ParseError(msg)


def _numpy_source(expression: sp.Expr) -> str:
    """``def _f(z): return <f printed to NumPy>``: printed from the validated SymPy tree, never from text."""
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):  # type: ignore[misc]
        def _print_erf(self, expr: Any) -> str:
            return f"_erf({self._print(expr.args[0])})"

    text = Printer({"fully_qualified_modules": True, "strict": True}).doprint(expression)
    return f"def _f(z):\n    return {text}\n"


def _compile(source: str) -> Any:
    namespace: dict[str, Any] = {"numpy": np, "_erf": erf}
    try:
        exec(compile(source, "<symgrad-activation>", "exec"), namespace)  # noqa: S102  printed from a checked tree
    except SyntaxError as error:  # pragma: no cover - a printer bug, not the user's input
        msg = f"symgrad could not compile the activation formula: {error}"
        raise SymgradError(msg) from error
    return namespace["_f"]

