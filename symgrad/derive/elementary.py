"""Textbook differentiation, one elementary rule at a time, each step verified.

:func:`elementary_steps` differentiates a SymPy expression with respect to one
symbol the way a textbook does: it names the outermost rule (sum, product,
quotient, chain, ...), then works out the derivatives that rule needs, and
finally puts them together. Every step is checked against ``sympy.diff``.

Step shape
----------
Every step has ``lhs = sympy.Derivative(sub, var)`` (unevaluated) for the
sub-expression ``sub`` being differentiated. Steps come in pre-order:

* A rule that needs no inner derivative ("constant", "variable", or an
  elementary rule such as "exp rule" applied directly to ``var``) gives **one**
  step whose ``rhs`` is the derivative.
* A rule that needs inner derivatives gives **two** steps around the steps of
  those inner derivatives:

  1. the rule applied, with ``sympy.Derivative(inner, var)`` placeholders in
     ``rhs`` for the derivatives it needs;
  2. the steps for each inner derivative (recursively, in the order of the
     rule's operands);
  3. the same ``lhs`` again, with the inner derivatives substituted: ``rhs``
     holds no placeholder. (The derivative of an undefined function ``F`` at
     ``g`` stays ``Subs(Derivative(F(xi), xi), xi, g)``: that is the answer.
     Its bound variable is SymPy's own ``Dummy('xi_1')``, so results print the
     same whatever SymPy's cache holds; ``Subs`` compares equal under renaming,
     so it also equals ``Subs(Derivative(F(u), u), u, g)``.)

So the first step is the outermost rule and the last step is always the final
result ``Derivative(expr, var) = result``. A sub-expression that was already
differentiated earlier in the tuple is not derived again.

A "chain rule" step carries, in ``substeps``, one step for the outer
derivative in a fresh symbol ``u`` (for example ``d/du sigmoid(u) =
sigmoid(u)*(1 - sigmoid(u))`` by the "sigmoid rule"); that substep is verified
the same way, with respect to ``u``.

Rules
-----
A product first has its factors free of ``var`` pulled out ("constant multiple
rule"); the remaining factors use the generalised "product rule" (one term per
factor), except quotients ``a * b**-n`` (``n`` a positive integer, ``a``
depending on ``var``), which use the "quotient rule"; a lone ``b**-n`` uses the
power rule. A quotient ``exp(z_i) / (exp(z_1) + ... + exp(z_k))`` is
recognised before anything else and uses the "softmax rule"
``s_i * (z_i' - sum_j s_j z_j')`` (also when ``z_i`` is free of ``var``). ``Max(0, u)`` and ``relu(u)`` use the
"relu rule" with ``relu_grad(u, kink)``; other ``Max``/``Min`` use the "max
rule" (SymPy's ``Heaviside`` form). Functions without a rule of their own
(``cosh``, ``atan``, ...) are differentiated by the "chain rule" with SymPy's
derivative as the outer derivative. ``Piecewise``, ``Derivative``,
``Integral`` and other non-elementary nodes raise
:class:`~symgrad.errors.UnknownNameError`.

Verification
------------
A step is ``verified`` when its ``rhs`` minus the reference is proven 0, where
the reference is ``with_kink(sympy.diff(sub, var), kink)`` computed with every
``Max(0, u)`` read as ``relu(u)`` (so that SymPy's ``Heaviside(u)`` becomes
``relu_grad(u, kink)``), and any ``Subs`` evaluated with ``.doit()``. For a
placeholder step the placeholders are replaced by the references of the inner
expressions (this checks the rule itself). The proof tries, in order: exact
cancellation after expanding products, a numeric reject at two fixed rational
points, and ``sympy.simplify``. Expressions containing ``Abs``, ``sign``,
``re``, ``im``, ``arg`` or ``conjugate`` are verified for real values of
their symbols (SymPy's complex derivative of ``Abs`` is not the textbook one).
"""

from __future__ import annotations

import cmath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sympy as sp

from symgrad.derive.steps import Step
from symgrad.errors import ComplexityError, UnknownNameError
from symgrad.functions import relu, relu_grad, sigmoid, with_kink

__all__ = ["MAX_NODES", "elementary_steps"]

#: Expressions with more nodes than this are refused (ComplexityError).
MAX_NODES = 2000

_Expr = Any  # SymPy's own annotations are too loose to be useful here.
_Diff = Callable[[_Expr], _Expr]
_Outer = Callable[[_Expr, _Expr], _Expr]

#: Outer derivatives of one-argument functions: class -> (rule, f'(u) given u and kink).
_OUTER_RULES: dict[type, tuple[str, _Outer]] = {
    sp.exp: ("exp rule", lambda u, kink: sp.exp(u)),
    sp.log: ("log rule", lambda u, kink: 1 / u),
    sp.tanh: ("tanh rule", lambda u, kink: 1 - sp.tanh(u) ** 2),
    sigmoid: ("sigmoid rule", lambda u, kink: sigmoid(u) * (1 - sigmoid(u))),
    relu: ("relu rule", lambda u, kink: relu_grad(u, kink)),
    sp.sin: ("sin rule", lambda u, kink: sp.cos(u)),
    sp.cos: ("cos rule", lambda u, kink: -sp.sin(u)),
    sp.Abs: ("abs rule", lambda u, kink: sp.sign(u)),
    sp.erf: ("erf rule", lambda u, kink: 2 * sp.exp(-(u**2)) / sp.sqrt(sp.pi)),
}

#: Functions whose SymPy derivative is only the textbook one for real arguments.
_REAL_ONLY = (sp.Abs, sp.sign, sp.re, sp.im, sp.arg, sp.conjugate)

#: Coordinates of the numeric reject test (fixed, so results are deterministic).
_PROBES = tuple(sp.Rational(p, q) for p, q in [(3, 7), (-5, 11), (7, 13), (-2, 17), (11, 19), (-13, 23)])

_PLACEHOLDER_PROOF = "rule checked with each Derivative placeholder replaced by sympy.diff of its argument: "


@dataclass(frozen=True)
class _Application:
    """A rule applied to one sub-expression, before its operands are derived."""

    rule: str
    note: str
    children: tuple[_Expr, ...]
    combine: Callable[[_Diff], _Expr]
    substeps: tuple[Step, ...] = ()


def elementary_steps(expr: sp.Expr, var: sp.Symbol, *, kink: object = 0) -> tuple[Step, ...]:
    """Differentiate ``expr`` with respect to ``var`` one elementary rule at a time.

    Parameters
    ----------
    expr : sympy.Expr
        The expression to differentiate (at most :data:`MAX_NODES` nodes).
    var : sympy.Symbol
        The symbol to differentiate with respect to.
    kink : {0, 1/2, 1}, optional
        The derivative of ReLU at 0, used by the "relu rule".

    Returns
    -------
    tuple of Step
        The steps in reading order: the outermost rule first (with
        ``Derivative`` placeholders for the derivatives it needs), then the
        steps of those derivatives, and last ``Derivative(expr, var) =
        result``. See the module docstring for the exact shape.

    Raises
    ------
    UnknownNameError
        If ``var`` is not a Symbol, ``expr`` is not a SymPy expression or
        contains a node with no elementary rule, or ``kink`` is not allowed.
    ComplexityError
        If ``expr`` has more than :data:`MAX_NODES` nodes.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> steps = elementary_steps(3*x + 4*y, x)
    >>> [s.rule for s in steps]  # doctest: +NORMALIZE_WHITESPACE
    ['sum rule', 'constant multiple rule', 'variable',
     'constant multiple rule', 'constant', 'sum rule']
    >>> steps[0].rhs
    Derivative(3*x, x) + Derivative(4*y, x)
    >>> steps[-1].rhs, all(s.verified for s in steps)
    (3, True)
    >>> w1, w2, b1, b2 = sp.symbols("w1 w2 b1 b2")
    >>> elementary_steps(w2*(w1*x + b1) + b2, w1)[-1].rhs
    w2*x
    """
    root, kink_value = _validate(expr, var, kink)
    deriver = _Deriver(root, var, kink_value)
    deriver.derive(root)
    return tuple(deriver.steps)


def _validate(expr: object, var: object, kink: object) -> tuple[_Expr, _Expr]:
    if not isinstance(var, sp.Symbol):
        kind = type(var).__name__
        msg = f"can only differentiate with respect to a sympy.Symbol, got {kind} {var!r}"
        raise UnknownNameError(msg)
    if not isinstance(expr, sp.Expr):
        try:
            expr = sp.sympify(expr, strict=True)  # numbers only, never text
        except sp.SympifyError:
            expr = None
        if not isinstance(expr, sp.Expr):
            kind = type(expr).__name__
            msg = f"expected a SymPy expression to differentiate, got {kind}"
            raise UnknownNameError(msg)
    for count, _node in enumerate(sp.preorder_traversal(expr), start=1):
        if count > MAX_NODES:
            msg = (
                f"expression has more than {MAX_NODES} nodes; step-by-step derivation "
                "is limited to expressions of that size"
            )
            raise ComplexityError(msg)
    try:
        kink_value = sp.sympify(kink, strict=True)
    except sp.SympifyError:
        kink_value = kink
    # with_kink validates the value (UnknownNameError unless 0, 1/2 or 1).
    kink_value = with_kink(relu_grad(sp.Symbol("z"), 0), kink_value).args[1]
    return expr, kink_value


def _fresh_symbol(root: _Expr, *avoid: sp.Symbol) -> sp.Symbol:
    taken = {s.name for s in root.free_symbols} | {s.name for s in avoid}
    name, n = "u", 0
    while name in taken:
        n += 1
        name = f"u_{n}"
    return sp.Symbol(name)


def _real_map(root: _Expr, extra: tuple[sp.Symbol, ...]) -> dict[_Expr, _Expr]:
    if not root.has(*_REAL_ONLY):
        return {}
    symbols = sorted(root.free_symbols | set(extra), key=sp.default_sort_key)
    return {s: sp.Symbol(s.name, real=True) for s in symbols if s.is_real is None}


def _relu_form(expr: _Expr) -> _Expr:
    """Read every ``Max(0, u)`` as ``relu(u)``."""
    return expr.replace(_is_relu_max, lambda m: relu(_relu_operand(m)))


def _is_relu_max(expr: _Expr) -> bool:
    return isinstance(expr, sp.Max) and len(expr.args) == 2 and sp.S.Zero in expr.args


def _relu_operand(expr: _Expr) -> _Expr:
    return expr.args[1] if expr.args[0] == 0 else expr.args[0]


def _doit_subs(expr: _Expr) -> _Expr:
    if not expr.has(sp.Subs):
        return expr
    return expr.replace(lambda e: isinstance(e, sp.Subs), lambda e: e.doit())


def _is_reciprocal(factor: _Expr) -> bool:
    exp = factor.exp if factor.is_Pow else None
    return bool(exp is not None and exp.is_Integer and exp.is_negative)


def _slot_dummy(index: int, point: _Expr) -> sp.Dummy:
    """The bound variable of ``Subs(..., xi, point)``, named exactly as SymPy does.

    ``Subs`` compares equal up to renaming its variable, so SymPy's cache may hand
    back an earlier, equal ``Subs``; using SymPy's own ``Dummy`` (same name, same
    ``dummy_index``) keeps results identical however the cache was filled.
    """
    return sp.Dummy(f"xi_{index + 1}", dummy_index=hash(point))


def _product_term(factors: tuple[_Expr, ...], index: int, d: _Diff) -> _Expr:
    others = factors[:index] + factors[index + 1 :]
    return sp.Mul(*others) * d(factors[index])


class _Deriver:
    """Derives one expression, collecting steps; ``_rule_<Class>`` apply rules."""

    def __init__(self, root: _Expr, var: sp.Symbol, kink: _Expr) -> None:
        self.var = var
        self.kink = kink
        self.u = _fresh_symbol(root, var)
        self.hole = _fresh_symbol(root, var, self.u)
        self.real_map = _real_map(root, (var, self.u))
        self.steps: list[Step] = []
        self._results: dict[_Expr, _Expr] = {}
        self._refs: dict[tuple[_Expr, _Expr], _Expr] = {}

    # -- driving -------------------------------------------------------------

    def derive(self, sub: _Expr) -> _Expr:
        """Append the steps of ``d sub / d var`` and return the derivative."""
        if sub in self._results:
            return self._results[sub]
        lhs = sp.Derivative(sub, self.var)
        app = self.apply(sub)
        if not app.children:
            rhs = app.combine(self._no_child)
            verified, proof = self.verify(rhs, sub, self.var)
            self.steps.append(Step(lhs, rhs, app.rule, verified, proof, app.note, app.substeps))
        else:
            placeholder = app.combine(lambda c: sp.Derivative(c, self.var))
            verified, proof = self.verify(app.combine(self.reference), sub, self.var)
            proof = _PLACEHOLDER_PROOF + proof
            self.steps.append(Step(lhs, placeholder, app.rule, verified, proof, app.note, app.substeps))
            found = {child: self.derive(child) for child in app.children}
            rhs = app.combine(found.__getitem__)
            verified, proof = self.verify(rhs, sub, self.var)
            note = f"Substituting the derivatives found above into the {app.rule}."
            self.steps.append(Step(lhs, rhs, app.rule, verified, proof, note))
        self._results[sub] = rhs
        return rhs

    def _no_child(self, child: _Expr) -> _Expr:
        raise AssertionError(f"rule without operands asked for d/d{self.var} {child}")  # pragma: no cover

    def apply(self, sub: _Expr) -> _Application:
        """Choose and apply the rule for ``sub`` (dispatch on its class)."""
        var = self.var
        if var not in sub.free_symbols:
            note = f"{sub} does not depend on {var}, so its derivative is 0."
            return _Application("constant", note, (), lambda d: sp.S.Zero)
        if sub == var:
            return _Application(
                "variable",
                f"The derivative of {var} with respect to itself is 1.",
                (),
                lambda d: sp.S.One,
            )
        for cls in type(sub).__mro__:
            method = cast(
                "Callable[[_Expr], _Application] | None",
                getattr(self, f"_rule_{cls.__name__}", None),
            )
            if method is not None:
                return method(sub)
        msg = f"no elementary differentiation rule for {type(sub).__name__} ({sub})"
        raise UnknownNameError(msg)

    # -- rules: one ``_rule_<SymPy class name>`` per node class (hence noqa: N802) --

    def _rule_Add(self, sub: _Expr) -> _Application:  # noqa: N802
        terms = sub.args
        note = "The derivative of a sum is the sum of the derivatives of its terms."
        return _Application("sum rule", note, terms, lambda d: sp.Add(*[d(t) for t in terms]))

    def _rule_Mul(self, sub: _Expr) -> _Application:  # noqa: N802
        softmax = self._softmax(sub)
        if softmax is not None:
            return softmax
        var = self.var
        constant = [f for f in sub.args if var not in f.free_symbols]
        factors = tuple(f for f in sub.args if var in f.free_symbols)
        if constant:
            c, u = sp.Mul(*constant), sp.Mul(*factors)
            note = f"{c} does not depend on {var}, so it multiplies the derivative of {u}."
            return _Application("constant multiple rule", note, (u,), lambda d: c * d(u))
        numerator = [f for f in factors if not _is_reciprocal(f)]
        denominator = [f.base ** (-f.exp) for f in factors if _is_reciprocal(f)]
        if numerator and denominator:
            return self._quotient(sp.Mul(*numerator), sp.Mul(*denominator))
        note = (
            f"Product rule: differentiate one factor at a time, keeping the others, and add the {len(factors)} terms."
        )
        return _Application(
            "product rule",
            note,
            factors,
            lambda d: sp.Add(*[_product_term(factors, i, d) for i in range(len(factors))]),
        )

    def _quotient(self, top: _Expr, bottom: _Expr) -> _Application:
        note = f"Quotient rule: (a/b)' = (a'*b - a*b')/b**2 with a = {top} and b = {bottom}."
        return _Application(
            "quotient rule",
            note,
            (top, bottom),
            lambda d: (d(top) * bottom - top * d(bottom)) / bottom**2,
        )

    def _softmax(self, sub: _Expr) -> _Application | None:
        """Recognise ``exp(z_i) / sum_j exp(z_j)``; None if ``sub`` is not one."""
        if len(sub.args) != 2:
            return None
        top, recip = sub.args if isinstance(sub.args[0], sp.exp) else sub.args[::-1]
        total = recip.base if recip.is_Pow and recip.exp == -1 else None
        if not (isinstance(top, sp.exp) and isinstance(total, sp.Add) and top in total.args):
            return None
        if not all(isinstance(t, sp.exp) for t in total.args):
            return None
        z_i = top.args[0]
        zs = tuple(t.args[0] for t in total.args)

        def combine(d: _Diff) -> _Expr:
            weighted = sp.Add(*[sp.exp(z) / total * d(z) for z in zs])
            return sub * (d(z_i) - weighted)

        note = (
            "Softmax rule: for s_i = exp(z_i)/sum_j exp(z_j), "
            "s_i' = s_i*(z_i' - sum_j s_j*z_j'), "
            f"here with z_i = {z_i}."
        )
        return _Application("softmax rule", note, zs, combine)

    def _rule_Pow(self, sub: _Expr) -> _Application:  # noqa: N802
        base, exponent = sub.args
        var = self.var
        if var not in exponent.free_symbols:
            return self._chain(
                "power rule",
                lambda u: u**exponent,
                lambda u: exponent * u ** (exponent - 1),
                base,
                hole=True,
            )
        if var not in base.free_symbols:
            return self._chain(
                "exp rule",
                lambda u: base**u,
                lambda u: base**u * sp.log(base),
                exponent,
            )
        note = (
            "General power rule (f**g = exp(g*log(f))): "
            "(f**g)' = f**g*(g'*log(f) + g*f'/f) "
            f"with f = {base} and g = {exponent}."
        )
        return _Application(
            "power rule",
            note,
            (base, exponent),
            lambda d: sub * (d(exponent) * sp.log(base) + exponent * d(base) / base),
        )

    def _rule_MinMaxBase(self, sub: _Expr) -> _Application:  # noqa: N802
        if _is_relu_max(sub):
            return self._chain(
                "relu rule",
                lambda u: sp.Max(0, u),
                lambda u: relu_grad(u, self.kink),
                _relu_operand(sub),
            )
        kind = "max" if isinstance(sub, sp.Max) else "min"
        note = (
            f"Max rule: the derivative of {kind}(a, b, ...) is the derivative of the "
            "argument that attains it, selected by Heaviside steps (SymPy's "
            "convention at ties)."
        )
        return self._multi(sub, "max rule", note, lambda i: sub.fdiff(i + 1))

    def _rule_AppliedUndef(self, sub: _Expr) -> _Application:  # noqa: N802
        func = sub.func
        if len(sub.args) == 1:
            return self._chain(
                "undefined function",
                func,
                lambda g: self._undefined_outer(func, g),
                sub.args[0],
            )
        note = (
            f"Chain rule for the undefined function {func}: sum over its arguments "
            "of the partial derivative at the arguments times the derivative of "
            "the argument."
        )
        return self._multi(sub, "chain rule", note, lambda i: self._partial(sub, i))

    def _undefined_outer(self, func: Callable[..., _Expr], g: _Expr) -> _Expr:
        if isinstance(g, sp.Symbol):
            return sp.Derivative(func(g), g)
        xi = _slot_dummy(0, g)
        return sp.Subs(sp.Derivative(func(xi), xi), xi, g)

    def _rule_Function(self, sub: _Expr) -> _Application:  # noqa: N802
        if not all(isinstance(a, sp.Expr) for a in sub.args):
            msg = f"no elementary differentiation rule for {type(sub).__name__} ({sub})"
            raise UnknownNameError(msg)
        entry = next((_OUTER_RULES[c] for c in type(sub).__mro__ if c in _OUTER_RULES), None)
        if entry is not None and len(sub.args) == 1:
            name, outer = entry
            return self._chain(name, sub.func, lambda g: outer(g, self.kink), sub.args[0])
        note = (
            f"Chain rule for {sub.func}, which has no elementary rule of its own: "
            "SymPy's derivative of it at its arguments times the derivative of each "
            "argument."
        )
        return self._multi(sub, "chain rule", note, lambda i: self._partial(sub, i))

    # -- rule helpers --------------------------------------------------------

    def _chain(
        self,
        name: str,
        func: Callable[[_Expr], _Expr],
        outer: Callable[[_Expr], _Expr],
        inner: _Expr,
        *,
        hole: bool = False,
    ) -> _Application:
        """``func(inner)``: rule ``name`` if ``inner`` is ``var``, else the chain rule.

        With ``hole``, ``outer(inner) * d(inner)`` is built as ``outer(h) * d(inner)``
        and ``h`` replaced by ``inner`` afterwards, so that SymPy does not distribute
        a number over a sum (``2*(y - t)`` becoming ``2*y - 2*t``) before the inner
        derivative joins the product.
        """
        var, u = self.var, self.u
        kink_note = ""
        if name == "relu rule":
            kink_note = f" relu'(u) is 0 for u < 0 and 1 for u > 0; at the kink u = 0 it is taken as {self.kink}."
        if inner == var:
            note = f"{name.capitalize()}: d/d{var} {func(var)} = {outer(var)}.{kink_note}"
            return _Application(name, note, (), lambda d: outer(var))
        substep = self._outer_step(name, func, outer, kink_note)
        note = (
            f"Chain rule: the outer derivative d/d{u} {func(u)} = {outer(u)} ({name}) "
            f"at {u} = {inner}, "
            f"times the derivative of the inner expression {inner}.{kink_note}"
        )
        if hole:
            h = self.hole

            def combine(d: _Diff) -> _Expr:
                return (outer(h) * d(inner)).xreplace({h: inner})

        else:

            def combine(d: _Diff) -> _Expr:
                return outer(inner) * d(inner)

        return _Application("chain rule", note, (inner,), combine, (substep,))

    def _outer_step(
        self,
        name: str,
        func: Callable[[_Expr], _Expr],
        outer: Callable[[_Expr], _Expr],
        kink_note: str,
    ) -> Step:
        u = self.u
        rhs = outer(u)
        verified, proof = self.verify(rhs, func(u), u)
        note = f"{name.capitalize()}: d/d{u} {func(u)} = {rhs}.{kink_note}"
        return Step(sp.Derivative(func(u), u), rhs, name, verified, proof, note)

    def _multi(self, sub: _Expr, rule: str, note: str, partial: Callable[[int], _Expr]) -> _Application:
        """Several arguments: sum of partial derivative times argument derivative."""
        indices = [i for i, a in enumerate(sub.args) if self.var in a.free_symbols]
        partials = [partial(i) for i in indices]
        children = tuple(sub.args[i] for i in indices)
        return _Application(
            rule,
            note,
            children,
            lambda d: sp.Add(*[p * d(a) for p, a in zip(partials, children, strict=True)]),
        )

    def _partial(self, sub: _Expr, index: int) -> _Expr:
        """SymPy's partial derivative of ``sub.func`` in slot ``index``, at its args."""
        arg = sub.args[index]
        others = sub.args[:index] + sub.args[index + 1 :]
        if isinstance(arg, sp.Symbol) and not any(arg in o.free_symbols for o in others):
            return sp.diff(sub, arg)
        xi = _slot_dummy(index, arg)
        slot = sub.func(*sub.args[:index], xi, *sub.args[index + 1 :])
        outer = sp.diff(slot, xi)
        if outer.has(sp.Derivative, sp.Subs):
            return sp.Subs(outer, xi, arg)
        return outer.xreplace({xi: arg})

    # -- verification --------------------------------------------------------

    def reference(self, sub: _Expr, var: _Expr = None) -> _Expr:
        """``with_kink(sympy.diff(sub, var))`` with ``Max(0, u)`` read as relu."""
        var = self.var if var is None else var
        key = (sub, var)
        if key not in self._refs:
            real = self.real_map
            derivative = sp.diff(_relu_form(sub).xreplace(real), var.xreplace(real))
            self._refs[key] = _doit_subs(with_kink(derivative, self.kink))
        return self._refs[key]

    def verify(self, claim: _Expr, sub: _Expr, var: _Expr) -> tuple[bool, str]:
        """Prove ``claim == d sub / d var``; return (verified, proof)."""
        where = " for real values of the symbols" if self.real_map else ""
        ref = self.reference(sub, var)
        claim = _doit_subs(sp.sympify(claim).xreplace(self.real_map))
        difference = claim - ref
        if difference == 0 or sp.expand_mul(difference) == 0:
            return (
                True,
                f"equal to sympy.diff{where} (identical after expanding products)",
            )
        mismatch = _numeric_mismatch(claim, ref)
        if mismatch:
            return False, f"NOT equal to sympy.diff{where}: {mismatch}"
        simplified = sp.simplify(difference)
        if simplified == 0:
            return True, f"equal to sympy.diff{where} (difference simplifies to 0)"
        why = f"the difference simplifies to {simplified}"
        return False, f"not proven equal to sympy.diff{where}: {why}"


def _numeric_mismatch(claim: _Expr, ref: _Expr) -> str:
    """Evaluate both sides at fixed rational points; describe a mismatch, else ''."""
    symbols = sorted(claim.free_symbols | ref.free_symbols, key=sp.default_sort_key)
    for shift in range(2):
        point = {s: _PROBES[(i + shift) % len(_PROBES)] for i, s in enumerate(symbols)}
        a, b = _number(claim.xreplace(point)), _number(ref.xreplace(point))
        if a is None or b is None:
            continue
        if abs(a - b) > 1e-8 * max(1.0, abs(a), abs(b)):
            where = ", ".join(f"{s}={v}" for s, v in point.items())
            return f"at {where} the step gives {a:.6g} but sympy.diff gives {b:.6g}"
    return ""


def _tower_depth(expr: _Expr) -> int:
    """How deeply powers are stacked in exponents (x**x**x is 2)."""
    if isinstance(expr, sp.Pow):
        return 1 + _tower_depth(expr.exp) if not expr.exp.is_Number else _tower_depth(expr.base)
    return max((_tower_depth(arg) for arg in expr.args), default=0)


def _number(expr: _Expr) -> complex | None:
    # mpmath evaluates a tower of powers with integers of astronomical size, inside C calls
    # that no time limit can interrupt: skip the quick numeric filter for those.
    if _tower_depth(expr) > 2:
        return None
    try:
        value = complex(sp.N(expr, 20))
    except (TypeError, ValueError, AttributeError):
        return None
    return value if cmath.isfinite(value) else None
