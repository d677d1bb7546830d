"""Staged NumPy code from a Derivation: one assignment per layer quantity.

``lambdify`` of the expanded gradients repeats the forward pass inside every
gradient and its NumPy printer cannot print elementwise matrix functions, so
symgrad prints the derivation's own program instead: the forward quantities
(h1, h2, ..., y), then each upstream gradient once, as a hand-written backward
would. The generated source names every value ``v0, v1, ...``; no text from a
user reaches it.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.matrixexpr import BATCH, ZETA
from symgrad.numeric.validate import as_float_array

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation

__all__ = ["CompiledGradient", "compile_derivation"]


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(np.real(x), axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=-1, keepdims=True)  # type: ignore[no-any-return]


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
            text = f"numpy.sum({self._print(factors[1])}, axis=0, keepdims=True)"
        else:
            text = " @ ".join(self._wrap(f) for f in factors)
        return text if coeff == 1 else f"({self._print(coeff)})*({text})"

    def _wrap(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        return text if isinstance(expr, (sp.MatrixSymbol, sp.Transpose)) else f"({text})"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        return "(" + " + ".join(self._print(arg) for arg in expr.args) + ")"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._wrap(expr.arg)}.T"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return "(" + " * ".join(self._wrap(arg) for arg in expr.args) + ")"

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"({self._wrap(expr.base)}**{self._print(expr.exp)})"

    def _print_Elementwise(self, expr: Any) -> str:
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

    def _print_RowSoftmax(self, expr: Any) -> str:
        return f"_softmax({self._print(expr.args[0])})"

    def _print_ElementSum(self, expr: Any) -> str:
        return f"numpy.sum({self._print(expr.args[0])})"


class CompiledGradient:
    """The NumPy gradient of a Derivation; call it with the inputs by keyword.

    Attributes
    ----------
    source : str
        The generated Python source, for reading.
    """

    def __init__(self, derivation: Derivation, source: str, function: Callable[..., Any]) -> None:
        self.derivation = derivation
        self.source = source
        self._function = function

    def __call__(self, **values: Any) -> dict[str, Any]:
        return self.evaluate(values)[1]

    def loss(self, **values: Any) -> Any:
        """E at ``values``."""
        return self.evaluate(values)[0]

    def evaluate(self, values: Mapping[str, Any], *, allow_complex: bool = False) -> tuple[Any, dict[str, Any]]:
        """(E, {name: gradient}) at ``values``; inputs are validated first."""
        arrays = _validate(self.derivation, values, allow_complex=allow_complex)
        try:
            loss, grads = self._function(*(arrays[name] for name in self.derivation.inputs))
        except (ValueError, TypeError) as error:
            msg = f"could not evaluate the gradient at these values: {error}"
            raise ShapeError(msg) from None
        out = {name: _like(grads[name], arrays[name], allow_complex) for name in self.derivation.wrt}
        return loss, {name: (value.item() if np.ndim(value) == 0 else value) for name, value in out.items()}


def _like(value: Any, template: np.ndarray, allow_complex: bool) -> np.ndarray:
    """``value`` shaped like ``template``: b's (1, M) row becomes (M,), a constant is broadcast."""
    array = np.asarray(value)
    if array.size == template.size:
        array = np.reshape(array, template.shape)
    else:
        array = np.broadcast_to(array, template.shape)
    if allow_complex and np.iscomplexobj(array):
        return np.array(array, dtype=complex)
    return np.array(np.real(array), dtype=float)


def _validate(derivation: Derivation, values: Mapping[str, Any], *, allow_complex: bool) -> dict[str, np.ndarray]:
    missing = [name for name in derivation.inputs if name not in values]
    unknown = [name for name in values if name not in derivation.inputs]
    if unknown:
        msg = f"unknown input {unknown[0]!r}; this derivation takes {', '.join(derivation.inputs)}"
        raise UnknownNameError(msg)
    if missing:
        msg = f"missing value for {', '.join(repr(m) for m in missing)}; this derivation takes {', '.join(derivation.inputs)}"
        raise UnknownNameError(msg)
    arrays = {}
    for name in derivation.inputs:
        shape = _expected_shape(derivation, name, values)
        arrays[name] = as_float_array(name, values[name], allow_complex=allow_complex, expected_shape=shape)
    return arrays


def _expected_shape(derivation: Derivation, name: str, values: Mapping[str, Any]) -> tuple[int, ...] | None:
    shape = derivation.shapes.get(name)
    if shape is None:
        return None
    if not derivation.batched:
        return ()
    batch = np.shape(values["x"])[0] if np.ndim(values["x"]) == 2 else None
    return tuple(batch if dim == BATCH else int(dim) for dim in shape) if batch is not None else None


def _identifier(index: int) -> str:
    name = f"v{index}"
    return name if not keyword.iskeyword(name) else f"{name}_"


def generate_source(derivation: Derivation) -> str:
    """The Python source of the staged gradient function (see :class:`CompiledGradient`)."""
    names: dict[sp.Basic, str] = {BATCH: "N"}
    params = []
    for index, name in enumerate(derivation.inputs):
        names[derivation.symbols[name]] = _identifier(index)
        params.append(_identifier(index))
    printer = _StagedPrinter(names)
    lines = [f"def _gradient({', '.join(params)}):"]
    if derivation.batched:
        lines.append(f"    N = numpy.shape({names[derivation.symbols['x']]})[0]")
    for offset, (target, rhs) in enumerate(derivation.program, start=len(names)):
        text = printer.doprint(rhs)
        names[target] = _identifier(offset)
        printer.remember(target, rhs)
        lines.append(f"    {names[target]} = {text}")
    loss = printer.doprint(derivation.loss_value)
    items = ", ".join(f"{name!r}: {printer.doprint(derivation.outputs[name])}" for name in derivation.wrt)
    lines.append(f"    return {loss}, {{{items}}}")
    return "\n".join(lines) + "\n"


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
    source = generate_source(derivation)
    namespace: dict[str, Any] = {"numpy": np, "_softmax": _softmax}
    exec(compile(source, "<symgrad-generated>", "exec"), namespace)  # noqa: S102  generated from symbols only
    return CompiledGradient(derivation, source, namespace["_gradient"])
