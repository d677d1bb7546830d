"""Plain text for terminals: a derivation's steps (and, from :mod:`symgrad.render.reporttext`, a check report's table).

This is what the ``symgrad`` command prints and what ``str(report)`` shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import sympy as sp
from sympy.printing.str import StrPrinter

from symgrad.matrixexpr import ZETA, compact_matrix
from symgrad.render.canonical import negative_matrix_term, shown_product, shown_sum
from symgrad.render.reporttext import escape_text, report_text

if TYPE_CHECKING:
    from symgrad.derive.derivation import Derivation
    from symgrad.derive.steps import Step

__all__ = ["derivation_text", "escape_text", "expr_text", "kink_note", "report_text"]

MARK = {True: "proven", False: "NOT proven"}


class _TextPrinter(StrPrinter):  # type: ignore[misc]
    """SymPy's str printer, with NumPy-like matrix notation for symgrad's classes."""

    _default_settings: ClassVar[dict[str, Any]] = {**StrPrinter._default_settings, "order": "none"}

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        shown = shown_sum(expr)
        if isinstance(shown, sp.Mul):
            return str(self._print_Mul(shown))
        return str(super()._print_Add(shown, order=order))

    def _print_Mul(self, expr: sp.Mul) -> str:
        def entry(f: Any) -> bool:
            return isinstance(f, sp.Derivative) and isinstance(f.variables[0], sp.Indexed)

        if any(entry(f) for f in expr.args):  # G[n,m]*∂y[n,m]/∂W[p,q]: the derivative last, as written
            return "*".join(self.parenthesize(f, 50) for f in sorted(expr.args, key=entry))
        shown = shown_product(expr)
        if not isinstance(shown, sp.Mul):
            return str(self._print(shown))
        return str(super()._print_Mul(shown))

    def _print_Max(self, expr: Any) -> str:
        return f"max({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Min(self, expr: Any) -> str:
        return f"min({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        text = " @ ".join(self.parenthesize(f, 100) for f in factors)
        if len(factors) == 1:
            text = self._print(factors[0])
        if coeff == 1:
            return text
        wrap = len(factors) > 1 or isinstance(factors[0], sp.MatAdd)
        return f"({self._print(coeff)})*({text})" if wrap else f"({self._print(coeff)})*{text}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self.parenthesize(expr.arg, 100)}.T"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ∘ ".join(self.parenthesize(arg, 100) for arg in expr.args)

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"{self.parenthesize(expr.base, 100)}**{self._print(expr.exp)}"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return f"ones({self._print(expr.shape[0])}, {self._print(expr.shape[1])})"

    def _print_Elementwise(self, expr: Any) -> str:
        placeholder = sp.Symbol("SYMGRADARG")
        if isinstance(expr.body, sp.Function) and expr.body.args == (ZETA,):
            return self._print(expr.body.xreplace({ZETA: placeholder})).replace("SYMGRADARG", self._print(expr.arg))
        # A compound argument keeps its own parentheses: [(h - m)**2], not [h - m**2].
        arg = self._print(expr.arg) if compact_matrix(expr.arg) else f"({self._print(expr.arg)})"
        return f"[{self._print(expr.body.xreplace({ZETA: placeholder})).replace('SYMGRADARG', arg)}]"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        positive = [a for a in expr.args if not negative_matrix_term(a)]
        negative = [a for a in expr.args if negative_matrix_term(a)]
        text = " + ".join(self._print(a) for a in positive)
        for term in negative:
            text += f" - {self.parenthesize(-term, 40)}"
        return text

    def _print_RowSoftmax(self, expr: Any) -> str:
        return f"softmax({self._print(expr.args[0])})"

    def _print_ElementSum(self, expr: Any) -> str:
        return f"sum({self._print(expr.args[0])})"

    def _print_Sum(self, expr: Any) -> str:
        summed = ",".join(self._print(limit[0]) for limit in expr.limits)
        body = self._print(expr.function)
        return f"Σ_{summed} ({body})" if isinstance(expr.function, sp.Add) else f"Σ_{summed} {body}"

    def _print_KroneckerDelta(self, expr: Any) -> str:
        i, j = (self._print(arg) for arg in expr.args)
        return f"δ_{i}{j}" if len(i) == len(j) == 1 else f"δ({i}, {j})"

    def _print_MatrixElement(self, expr: Any) -> str:
        return f"({self._print(expr.parent)})[{self._print(expr.i)}, {self._print(expr.j)}]"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        if len(expr.variables) == 1 and isinstance(expr.variables[0], sp.Indexed):
            inner = self._print(expr.expr)
            if not (expr.expr.is_Atom or isinstance(expr.expr, sp.Indexed)):
                inner = f"[{inner}]"
            return f"∂{inner}/∂{self._print(expr.variables[0])}"
        variables = "".join(f"d{self._print(v)}" for v in expr.variables)
        return f"d/{variables}[{self._print(expr.expr)}]"

    def _print_relu_grad(self, expr: Any) -> str:
        return f"relu'({self._print(expr.args[0])})"


def expr_text(expr: sp.Basic) -> str:
    """An expression in plain text, products kept in the order they were built.

    Matrix products print as ``@``, entrywise products as ``∘``; elementwise
    functions print applied to their matrix, e.g. ``sigmoid(h1)``.

    Examples
    --------
    >>> w2, G = sp.symbols("w2 dE/dy")
    >>> expr_text(sp.Mul(G, w2, evaluate=False))
    'dE/dy*w2'
    >>> x = sp.Symbol("x")
    >>> expr_text(sp.Derivative(3*x, x))
    'd/dx[3*x]'
    """
    return escape_text(str(_TextPrinter().doprint(expr)))


def _step_lines(step: Step, width: int, *, lhs: str | None = None, indent: str = "  ") -> list[str]:
    left = expr_text(step.lhs) if lhs is None else lhs
    shape = f"  [{' x '.join(str(d) for d in step.shape)}]" if step.shape else ""
    return [
        f"{indent}{left:<{width}} = {expr_text(step.rhs)}{shape}",
        f"{indent}{'':<{width}}   ({step.rule}; {MARK[step.verified]})",
    ]


def kink_note(step: Step) -> str:
    """What a step's note says about a kink convention (max(x, 0) at 0), or "".

    Examples
    --------
    >>> import symgrad
    >>> kink_note(symgrad.gradient("max(x, 0)").steps("x")[0])[:46]
    'At the kink (where the argument of max is 0) s'
    >>> kink_note(symgrad.gradient("x**2").steps("x")[0])
    ''
    """
    _, _, rest = step.note.partition(". ")
    return rest.strip() if "kink" in rest else ""


def derivation_text(derivation: Derivation, *, elementary: bool = False, view: str = "sweep") -> str:
    """The derivation as text: forward equations, then the backward sweep (or the steps of each partial).

    ``view="sweep"`` (the default, for a network): the forward pass numbered, one
    backward sweep with each gradient once, numbered and referring back ("by (4)"),
    then each gradient collected. ``view="chains"``: each parameter's chain from E.

    Examples
    --------
    >>> from symgrad import derive, article_network
    >>> print(derivation_text(derive(article_network(), wrt=["w2"])))  # doctest: +NORMALIZE_WHITESPACE
    The article's network
      affine > affine > half-squared-error
    <BLANKLINE>
    Forward pass
      (1) h = b1 + w1*x
      (2) y = b2 + h*w2
      (3) E = (y - t)**2/2
    <BLANKLINE>
    Backward sweep: each gradient once, from E back to the inputs
      (4) dE/dy  = y - t
                   (loss derivative, by (3); proven)
      (5) dE/dw2 = dE/dy*h
                   (chain rule, by (4) and (2); proven)
    <BLANKLINE>
    Each gradient in one expression
      (6) dE/dw2 = h*(y - t)
                   (substitute the upstream gradients into (5); proven)
      (7)        = (b1 + w1*x)*(b2 + w2*(b1 + w1*x) - t)
                   (substitute the forward pass into (6); proven)
    >>> print(derivation_text(derive(article_network(), wrt=["w2"]), view="chains"))  # doctest: +NORMALIZE_WHITESPACE
    The article's network
      affine > affine > half-squared-error
    <BLANKLINE>
    Forward pass
      h = b1 + w1*x
      y = b2 + h*w2
      E = (y - t)**2/2
    <BLANKLINE>
    dE/dw2 by the chain rule
      dE/dy  = y - t
               (loss derivative; proven)
      dE/dw2 = dE/dy*h
               (chain rule; proven)
             = h*(y - t)
               (substitute the upstream gradients; proven)
             = (b1 + w1*x)*(b2 + w2*(b1 + w1*x) - t)
               (substitute the forward pass; proven)
    """
    lines = [derivation.title]
    if derivation.network is None:  # an expression: its title in the canonical order, max() not Max()
        function = derivation.forward[0]
        lines = [f"{expr_text(function.lhs)} = {expr_text(function.rhs)}"]
    if derivation.network is not None and derivation.network.describe() != derivation.title:
        lines.append(f"  {derivation.network.describe()}")
    if derivation.network is not None and view == "sweep":
        lines += _sweep_lines(derivation, elementary=elementary)
        return "\n".join(escape_text(line) for line in lines)
    lines += ["", "Forward pass"]
    lines += [f"  {expr_text(step.lhs)} = {expr_text(step.rhs)}" for step in derivation.forward]
    for name in derivation.wrt:
        steps = derivation.steps(name)
        width = max(len(expr_text(step.lhs)) for step in steps)
        lines += ["", f"{expr_text(steps[-1].lhs)} by the chain rule" if derivation.network else f"df/d{name}"]
        previous = None
        for step in steps:
            same = previous is not None and step.lhs == previous
            lines += _step_lines(step, width, lhs="" if same else None)
            if elementary:
                lines += _substep_lines(step.substeps, width, "      ")
            if kink_note(step):
                lines.append(f"  note: {kink_note(step)}")
            previous = step.lhs
    return "\n".join(escape_text(line) for line in lines)


def _sweep_lines(derivation: Derivation, *, elementary: bool) -> list[str]:
    """The sweep view (see :mod:`symgrad.render.sweep`): numbered forward pass, sweep, gradients collected."""
    from symgrad.render.sweep import collected_rows, sweep_references

    forward = derivation.forward
    lines = ["", "Forward pass"]
    lines += [f"  ({index}) {expr_text(step.lhs)} = {expr_text(step.rhs)}" for index, step in enumerate(forward, 1)]
    swept = sweep_references(derivation)
    collected = collected_rows(derivation, len(forward) + len(swept) + 1)
    numbered = [(number, step) for number, step, _ in swept] + [(number, step) for number, step, _, _ in collected]
    tag = len(f"({max(number for number, _ in numbered)}) ")
    width = max(len(expr_text(step.lhs)) for _, step in numbered)
    lines += ["", "Backward sweep: each gradient once, from E back to the inputs"]
    for number, step, rule in swept:
        lines += _numbered_lines(number, step, rule, width, tag, shown_lhs=True)
        if elementary:
            lines += _substep_lines(step.substeps, width, " " * (tag + 6))
        if kink_note(step):
            lines.append(f"  note: {kink_note(step)}")
    if collected:
        lines += ["", "Each gradient in one expression"]
    for number, step, rule, first in collected:
        lines += _numbered_lines(number, step, rule, width, tag, shown_lhs=first)
    return lines


def _numbered_lines(number: int, step: Step, rule: str, width: int, tag: int, *, shown_lhs: bool) -> list[str]:
    left = expr_text(step.lhs) if shown_lhs else ""
    shape = f"  [{' x '.join(str(d) for d in step.shape)}]" if step.shape else ""
    return [
        f"  {f'({number})':<{tag - 1}} {left:<{width}} = {expr_text(step.rhs)}{shape}",
        f"  {'':<{tag - 1}} {'':<{width}}   ({rule}; {MARK[step.verified]})",
    ]


def _substep_lines(steps: tuple[Step, ...], width: int, indent: str) -> list[str]:
    lines: list[str] = []
    for sub in steps:
        lines += _step_lines(sub, width, indent=indent)
        lines += _substep_lines(sub.substeps, width, indent + "    ")
    return lines
