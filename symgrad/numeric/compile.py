"""Staged NumPy code from a Derivation: one assignment per layer quantity.

``lambdify`` of the expanded gradients repeats the forward pass inside every
gradient and its NumPy printer cannot print elementwise matrix functions, so
symgrad prints the derivation's own program instead: the forward quantities
(h1, h2, ..., y), then each upstream gradient once, as a hand-written backward
would. The generated source names every value ``v0, v1, ...``; no text from a
user reaches it. :mod:`symgrad.numeric.staged` runs it, and needs no SymPy.
"""

from __future__ import annotations

import contextlib
import keyword
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.matrixexpr import BATCH, ZETA, ElementSum, RowSoftmax
from symgrad.numeric.staged import CompiledGradient, GradientSignature, _exec

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation

__all__ = ["CompiledGradient", "compile_derivation"]


class _StagedPrinter(NumPyPrinter):  # type: ignore[misc]
    """NumPy printer for symgrad's matrix expressions, with names mapped to v0, v1, ..."""

    def __init__(self, names: dict[sp.Basic, str]) -> None:
        super().__init__({"fully_qualified_modules": True, "strict": True})
        self.names = names
        # (argument, scalar function) -> the forward node that already holds f(argument)
        self.known: dict[tuple[sp.Basic, sp.Basic], sp.Symbol] = {}

    def remember(self, target: sp.Basic, rhs: sp.Basic) -> None:
        """Let later f'(h) reuse the forward value f(h) (sigmoid, tanh), as hand-written code does."""
        if type(rhs).__name__ == "Elementwise":
            placeholder = sp.Dummy(f"reuse{len(self.known)}")
            self.names[placeholder] = self.names[target]
            self.known[(rhs.args[1], rhs.args[0])] = placeholder

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr in self.names:
            return self.names[expr]
        msg = f"the expression uses {expr}, which is not an input of the derivation"
        raise UnknownNameError(msg)

    _print_MatrixSymbol = _print_Symbol
    _print_Dummy = _print_Symbol

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        factors = list(factors)
        if len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].shape[1] == 1:
            text = self._print(factors[1])  # ones(N, 1) * b: NumPy broadcasts b over the batch
        elif len(factors) == 2 and isinstance(factors[0], sp.OneMatrix):
            text = f"{self._wrap(factors[1])}.sum(axis=0, keepdims=True)"  # the method: less call overhead
        elif len(factors) == 2 and isinstance(factors[0], sp.Transpose) and factors[0].shape[1] == BATCH:
            text = f"_t_matmul({self._print(factors[0].arg)}, {self._print(factors[1])})"  # x.T G, a weight's gradient
        else:
            text = " @ ".join(self._wrap(f) for f in factors)
        return text if coeff == 1 else f"({self._print(coeff)})*({text})"

    def _wrap(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        return text if isinstance(expr, (sp.MatrixSymbol, sp.Transpose)) else f"({text})"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        # y - t rather than (-1)*(t) + y: one array operation instead of two.
        plus = [arg for arg in expr.args if not _negated(arg)]
        minus = [-arg for arg in expr.args if _negated(arg)]
        text = " + ".join(self._print(arg) for arg in plus) if plus else f"-{self._wrap(minus.pop(0))}"
        return "(" + text + "".join(f" - {self._wrap(arg)}" for arg in minus) + ")"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._wrap(expr.arg)}.T"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return "(" + " * ".join(self._wrap(arg) for arg in expr.args) + ")"

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"({self._wrap(expr.base)}**{self._print(expr.exp)})"

    def _print_Elementwise(self, expr: Any) -> str:
        if isinstance(expr.arg, RowSoftmax) and expr.body == sp.log(ZETA):
            # log(softmax(y)) as one stable step: softmax underflows to 0 for large logits.
            return f"_log_softmax({self._print(expr.arg.args[0])})"
        body = expr.body.xreplace({f: node for (arg, f), node in self.known.items() if arg == expr.arg})
        saved = self.names.get(ZETA)
        self.names[ZETA] = self._wrap(expr.arg)
        try:
            return f"({self._print(body)})"
        finally:
            if saved is None:
                del self.names[ZETA]
            else:
                self.names[ZETA] = saved

    def _print_erf(self, expr: Any) -> str:
        return f"_erf({self._print(expr.args[0])})"  # NumPy has no erf: symgrad.special's, analytic

    def _print_RowSoftmax(self, expr: Any) -> str:
        return f"_softmax({self._print(expr.args[0])})"

    def _print_ElementSum(self, expr: Any) -> str:
        return f"{self._wrap(expr.args[0])}.sum()"

    def _print_TensorCall(self, expr: Any) -> str:
        # An N-D layer's compiled forward or derived rule (symgrad.index.tensorop), by its forward's key.
        operands = ", ".join(self._print(arg) for arg in expr.operands)
        return f"_nd({expr.key!r}, {expr.which!r}, {operands})"

    def _print_Trace(self, expr: Any) -> str:
        return f"numpy.trace({self._print(expr.arg)})"


def _negated(term: sp.Basic) -> bool:
    """True for a matrix term with a negative numeric coefficient, such as -t or -2*X."""
    if not isinstance(term, sp.MatMul):
        return False
    coeff = term.as_coeff_mmul()[0]
    return bool(coeff.is_Number and coeff < 0)


def _identifier(index: int) -> str:
    name = f"v{index}"
    return name if not keyword.iskeyword(name) else f"{name}_"


def generate_source(derivation: Derivation, *, checked: bool = False) -> str:
    """The Python source of the staged gradient function (see :class:`CompiledGradient`).

    A value computed once is reused: a later expression that contains an earlier
    right-hand side (the loss contains ``y - t``, which is dE/dy) uses its name.

    ``checked`` (batched derivations only) gives the variant behind the fast
    path of :meth:`CompiledGradient.evaluate`: it returns None unless every
    input is a float64 array of its expected shape, every result has its
    expected shape, and a few batch-sized values are finite, which they are
    only if every input is (see :func:`_finiteness_witnesses`); None sends the
    caller to the validating path, which names the problem.
    """
    plain, fast = _sources(derivation)
    if checked and fast is None:
        msg = "only a batched derivation has a checked variant"
        raise ShapeError(msg)
    return fast if checked and fast is not None else plain


def _sources(derivation: Derivation) -> tuple[str, str | None]:
    """The plain source and (batched derivations) the checked one, printed from one staging."""
    names: dict[sp.Basic, str] = {BATCH: "N"}
    params = []
    for index, name in enumerate(derivation.inputs):
        names[derivation.symbols[name]] = _identifier(index)
        params.append(_identifier(index))
    printer = _StagedPrinter(names)
    body: list[str] = []
    seen: dict[sp.Basic, sp.Basic] = {}  # right-hand side -> the name holding its value
    staged: dict[sp.Basic, sp.Basic] = {}  # name -> right-hand side, as printed
    flat = _flat_rows(derivation)
    for offset, (target, original) in enumerate(derivation.program, start=len(names)):
        rhs = original.xreplace(seen) if seen else original
        operand = _row_sum_operand(rhs) if target in flat else None
        # A bias gradient used nowhere else is summed straight to b's shape (M,), not (1, M).
        text = printer.doprint(rhs) if operand is None else f"{printer._wrap(operand)}.sum(axis=0)"
        names[target] = _identifier(offset)
        printer.remember(target, rhs)
        body.append(f"    {names[target]} = {text}")
        staged[target] = rhs
        if not original.is_Atom:
            seen[original] = target
    loss_expr = derivation.loss_value.xreplace(seen)
    loss = printer.doprint(loss_expr)
    outputs = {name: _output(printer, staged, derivation, name, flat) for name in derivation.wrt}
    head = [f"def _gradient({', '.join(params)}):"]
    plain = [f"    return {loss}, {{{', '.join(f'{name!r}: {text}' for name, text in outputs.items())}}}"]
    if derivation.batched and any(re.search(r"\bN\b", line) for line in body + plain):
        plain.insert(0, f"    N = numpy.shape({names[derivation.symbols[batch_input(derivation)]]})[0]")
    source = "\n".join(head + plain[:-1] + body + plain[-1:]) + "\n"
    if not derivation.batched:
        return source, None
    witnesses = _finiteness_witnesses(derivation, staged, loss_expr)
    checked = head + _guard(derivation, params) + body + _checked_tail(derivation, printer, loss, outputs, witnesses)
    return source, "\n".join(checked) + "\n"


def batch_input(derivation: Derivation) -> str:
    """The input whose rows are the batch: ``x`` in a chain, the first batched input of a graph."""
    return next((name for name in derivation.inputs if BATCH in derivation.shapes[name][:1]), "x")


def _shape_text(shape: tuple[Any, ...]) -> str:
    dims = ["N" if dim == BATCH else str(int(dim)) for dim in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _guard(derivation: Derivation, params: list[str]) -> list[str]:
    """Lines returning None unless every input is a float64 array of its shape, with N >= 1."""
    pairs = zip(params, derivation.inputs, strict=True)
    shapes = " or ".join(f"{v}.shape != {_shape_text(derivation.shapes[n])}" for v, n in pairs)
    return [
        f"    if not ({' and '.join(f'type({v}) is _ndarray' for v in params)}):",
        "        return None",
        f"    if not ({' and '.join(f'{v}.dtype == _float64' for v in params)}):",
        "        return None",
        f"    N = {params[derivation.inputs.index(batch_input(derivation))]}.shape[0]",
        f"    if N == 0 or {shapes}:",
        "        return None",
    ]


def _checked_tail(
    derivation: Derivation, printer: _StagedPrinter, loss: str, outputs: dict[str, str], witnesses: list[sp.Basic]
) -> list[str]:
    total = " + ".join([*(f"_total({printer.doprint(w)}, None)" for w in witnesses), "_loss"])
    lines = [f"    _loss = {loss}", f"    if not _isfinite({total}):", "        return None"]
    results = {name: f"_g{index}" for index, name in enumerate(outputs)}
    lines += [f"    {results[name]} = {text}" for name, text in outputs.items()]
    # With float64 array inputs every array result is float64; a constant has no .shape (AttributeError).
    wrong = " or ".join(f"{g}.shape != {_shape_text(derivation.shapes[name])}" for name, g in results.items())
    lines += [f"    if {wrong}:", "        return None"]
    return [*lines, f"    return _loss, {{{', '.join(f'{name!r}: {g}' for name, g in results.items())}}}"]


def _flat_rows(derivation: Derivation) -> set[sp.Basic]:
    """Gradients of vectors (b) that nothing else uses, which may therefore be computed as (M,)."""
    used = set(derivation.loss_value.free_symbols).union(*(rhs.free_symbols for _, rhs in derivation.program))
    return {
        derivation.outputs[name]
        for name in derivation.wrt
        if len(derivation.shapes.get(name) or ()) == 1 and derivation.outputs[name] not in used
    }


def _row_sum_operand(rhs: sp.Basic) -> sp.Basic | None:
    """X when ``rhs`` is ones(1, N) * X (the sum over the batch), else None."""
    if not isinstance(rhs, sp.MatMul):
        return None
    coeff, factors = rhs.as_coeff_matrices()
    if coeff == 1 and len(factors) == 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].shape[0] == 1:
        return factors[1]
    return None


def _output(
    printer: _StagedPrinter,
    staged: Mapping[sp.Basic, sp.Basic],
    derivation: Derivation,
    name: str,
    flat: set[sp.Basic],
) -> str:
    """The gradient of ``name`` as returned: shaped like ``name`` (b's (1, M) row as (M,)), and copied
    when its value is another array (an input, or a view of one), so that no two results share memory."""
    output = derivation.outputs[name]
    rhs = staged.get(output)
    aliased = rhs is not None and (rhs.is_Atom or (isinstance(rhs, sp.Transpose) and rhs.arg.is_Atom))
    text = printer.doprint(output)
    if aliased:
        text = f"numpy.array({text})"
    flattened = output in flat and _row_sum_operand(rhs) is not None
    vector = len(derivation.shapes.get(name) or ()) == 1 and getattr(output, "shape", (None,))[0] == 1
    return f"{text}.reshape(-1)" if vector and not flattened else text


# Operations through which a NaN or an infinity always reaches the result (IEEE arithmetic:
# inf * 0 and inf - inf are NaN); elementwise functions such as the sigmoid can saturate
# (sigmoid(inf) = 1), so they are not in the list.
_CARRIERS = (sp.MatAdd, sp.MatMul, sp.HadamardProduct, sp.Transpose, sp.Add, sp.Mul, ElementSum)


def _carried(
    expr: sp.Basic, inputs: frozenset[sp.Basic], nodes: Mapping[sp.Basic, frozenset[sp.Basic]]
) -> frozenset[sp.Basic]:
    """The inputs whose NaN or infinity would make ``expr`` non-finite as well."""
    if expr in inputs:
        return frozenset({expr})
    if expr in nodes:
        return nodes[expr]
    if isinstance(expr, (sp.HadamardPower, sp.Pow)):
        power = expr.exp
        return _carried(expr.base, inputs, nodes) if power.is_Integer and power > 0 else frozenset()
    if isinstance(expr, _CARRIERS):
        return frozenset().union(*(_carried(arg, inputs, nodes) for arg in expr.args))
    return frozenset()


def _finiteness_witnesses(
    derivation: Derivation, staged: Mapping[sp.Basic, sp.Basic], loss: sp.Basic
) -> list[sp.Basic]:
    """Values whose finiteness, with the loss's, proves every input finite.

    Checking a weight matrix costs a pass over it; checking ``x W + b`` (batch
    x width) proves x, W and b finite at a fraction of that. Each input is
    covered by the first batch-sized (or scalar) staged value that carries it,
    or else checked itself.
    """
    inputs = frozenset(derivation.symbols[name] for name in derivation.inputs)
    nodes: dict[sp.Basic, frozenset[sp.Basic]] = {}
    for target, rhs in staged.items():
        nodes[target] = _carried(rhs, inputs, nodes)
    covered = set(_carried(loss, inputs, nodes))
    witnesses: list[sp.Basic] = []
    for name in derivation.inputs:
        symbol = derivation.symbols[name]
        if symbol in covered:
            continue
        cheap = [t for t in staged if symbol in nodes[t] and (not hasattr(t, "shape") or BATCH in t.shape)]
        witnesses.append(cheap[0] if cheap else symbol)
        covered |= nodes[cheap[0]] if cheap else {symbol}
    return witnesses


def compile_derivation(derivation: Derivation) -> CompiledGradient:
    """Compile ``derivation`` to a :class:`CompiledGradient`.

    Examples
    --------
    >>> from symgrad.derive.chain import derive
    >>> from symgrad.network import article_network
    >>> grad = compile_derivation(derive(article_network()))
    >>> grad(x=2.0, t=1.0, w1=0.5, b1=0.0, w2=3.0, b2=0.0)["w1"]
    12.0
    """
    key = _structure(derivation)
    known = _compiled.get(key)
    if known is None:
        source, checked = _sources(derivation)
        known = _compiled[key] = (source, checked, _exec(source), None if checked is None else _exec(checked))
        if len(_compiled) > 256:
            _compiled.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have just evicted it
            _compiled.move_to_end(key)
    source, checked_source, function, checked_function = known
    return CompiledGradient(
        signature_of(derivation), source, function, checked_function,
        checked_source=checked_source, derivation=derivation,
    )


def signature_of(derivation: Derivation) -> GradientSignature:
    """The names and shapes of ``derivation``'s compiled gradient, as plain data (N, the batch, as None).

    Examples
    --------
    >>> from symgrad.derive.chain import derive
    >>> from symgrad.network import network_from_spec
    >>> signature = signature_of(derive(network_from_spec("affine(3,2) > half-squared-error")))
    >>> signature.inputs, signature.shapes["x"], signature.shapes["b1"]
    (('x', 't', 'W1', 'b1'), (None, 3), (2,))
    """
    shapes = {  # a size given by name (matrix calculus, "n") is free, as the batch is
        name: tuple(None if dim == BATCH or not sp.sympify(dim).is_Integer else int(dim)
                    for dim in derivation.shapes[name])
        for name in derivation.inputs
    }
    return GradientSignature(derivation.inputs, derivation.wrt, shapes, derivation.batched, batch_input(derivation))


#: Generated code by the structure it was printed from (the last 256, least recent first): the source,
#: the checked variant's source (batched only) and both functions. A new network of known layers (a test
#: suite builds one per test) reuses the printed code.
_compiled: OrderedDict[
    tuple[Any, ...], tuple[str, str | None, Callable[..., Any], Callable[..., Any] | None]
] = OrderedDict()


def _structure(derivation: Derivation) -> tuple[Any, ...]:
    """Everything :func:`_sources` reads from a derivation (SymPy expressions compare by structure)."""
    return (
        derivation.batched,
        derivation.inputs,
        derivation.wrt,
        tuple(derivation.symbols[name] for name in derivation.inputs),
        derivation.program,
        derivation.loss_value,
        tuple(derivation.outputs[name] for name in derivation.wrt),
        tuple(sorted(derivation.shapes.items())),
    )
