"""Tests for symgrad.derive.elementary: textbook derivations, each step verified."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sympy as sp

from symgrad.derive import elementary
from symgrad.derive.elementary import MAX_NODES, elementary_steps
from symgrad.derive.steps import Step
from symgrad.errors import ComplexityError, UnknownNameError
from symgrad.functions import relu, relu_grad, sigmoid, with_kink

x, y, w, b, a, c, t = sp.symbols("x y w b a c t")
w1, w2, b1, b2 = sp.symbols("w1 w2 b1 b2")
xr, wr = sp.symbols("x w", real=True)
F, G = sp.Function("F"), sp.Function("G")
HALF = sp.Rational(1, 2)

#: The one-hidden-unit network of the docs: y = w2*(w1*x + b1) + b2.
NET = w2 * (w1 * x + b1) + b2


@dataclass(frozen=True)
class Case:
    id: str
    expr: sp.Expr
    var: sp.Symbol
    rules: frozenset[str]
    kink: sp.Expr = sp.S.Zero


def case(id: str, expr: sp.Expr, var: sp.Symbol, *rules: str, kink: sp.Expr = sp.S.Zero) -> Case:
    return Case(id, expr, var, frozenset(rules), kink)


CATALOG = [
    case("polynomial", 3 * x**2 + 2 * x + 1, x, "sum rule", "power rule", "constant"),
    case("polynomial-2-vars", x**3 * y + y**2 - 7, x, "constant multiple rule"),
    case("constant", 5 * y + sp.exp(y), x, "constant"),
    case("variable", x, x, "variable"),
    case("product-3", x * sp.sin(x) * sp.exp(x), x, "product rule", "sin rule"),
    case("product-3-chain", (x + 1) * sp.cos(x) * sp.log(x), x, "product rule"),
    case("quotient", sp.sin(x) / x, x, "quotient rule"),
    case("quotient-polys", (x**2 + 1) / (x - 1) ** 2, x, "quotient rule"),
    case("reciprocal", 1 / (1 + sp.exp(-x)), x, "chain rule", "power rule"),
    case("nested-chain", sp.exp(sp.sin(x**2)), x, "chain rule", "exp rule", "sin rule"),
    case("softplus", sp.log(1 + sp.exp(w * x)), w, "chain rule", "log rule", "exp rule"),
    case("tanh", sp.tanh(w * x + b), w, "chain rule", "tanh rule"),
    case("sigmoid-affine", sigmoid(w * x + b), w, "chain rule", "sigmoid rule"),
    case("sigmoid", sigmoid(x), x, "sigmoid rule"),
    case("relu-kink-0", relu(w * x + b), w, "chain rule", "relu rule"),
    case("relu-kink-half", relu(w * x + b), w, "relu rule", kink=HALF),
    case("relu-kink-1", relu(w * x + b), w, "relu rule", kink=sp.S.One),
    case("relu-direct", relu(x), x, "relu rule", kink=HALF),
    case("max0", sp.Max(0, x), x, "relu rule"),
    case("max0-affine-kink-1", sp.Max(0, w * x + b), w, "relu rule", kink=sp.S.One),
    case("max-general", sp.Max(a * x, b), x, "max rule"),
    case("min-general", sp.Min(x**2, y), x, "max rule"),
    case("abs", sp.Abs(xr), xr, "abs rule"),
    case("abs-affine", sp.Abs(wr * xr + 1), wr, "chain rule", "abs rule"),
    case("squared-error", (NET - t) ** 2 / 2, w1, "chain rule", "power rule"),
    case("x-to-the-x", x**x, x, "power rule"),
    case("exponential", 2 ** (3 * x), x, "exp rule", "chain rule"),
    case("sqrt", sp.sqrt(x**2 + 1), x, "power rule"),
    case("softmax-own", sp.exp(a) / (sp.exp(a) + sp.exp(b)), a, "softmax rule"),
    case("softmax-other", sp.exp(a) / (sp.exp(a) + sp.exp(b)), b, "softmax rule"),
    case(
        "softmax-3",
        sp.exp(w * x) / (sp.exp(w * x) + sp.exp(b) + sp.exp(c * w)),
        w,
        "softmax rule",
    ),
    case("undefined-F(wx)", F(w * x), w, "chain rule", "undefined function"),
    case("undefined-F(G(w))", F(G(w)), w, "chain rule", "undefined function"),
    case("undefined-2-args", F(w * x, w), w, "chain rule"),
    case("cross-entropy", -t * sp.log(sigmoid(w * x + b)), w, "log rule", "sigmoid rule"),
    case("generic-cosh", sp.cosh(x**2), x, "chain rule"),
]

IDS = [k.id for k in CATALOG]


def _relu_form(expr: sp.Expr) -> sp.Expr:
    """Read Max(0, u) as relu(u), as the module does."""

    def is_relu(e: sp.Basic) -> bool:
        return isinstance(e, sp.Max) and len(e.args) == 2 and sp.S.Zero in e.args

    return expr.replace(is_relu, lambda m: relu(m.args[1] if m.args[0] == 0 else m.args[0]))


def reference(expr: sp.Expr, var: sp.Symbol, kink: sp.Expr = sp.S.Zero) -> sp.Expr:
    return with_kink(sp.diff(_relu_form(expr), var), kink)


def same(left: sp.Expr, right: sp.Expr) -> bool:
    return sp.simplify((left - right).doit()) == 0


def all_steps(steps: tuple[Step, ...]) -> list[Step]:
    """The steps and, depth first, their substeps."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        out.extend(all_steps(step.substeps))
    return out


def placeholders(expr: sp.Expr, var: sp.Symbol) -> list[sp.Derivative]:
    """Derivative placeholders d/dvar of something other than an undefined function."""
    return [
        d
        for d in expr.atoms(sp.Derivative)
        if var in d.variables and not isinstance(d.expr, sp.core.function.AppliedUndef)
    ]


@pytest.fixture(scope="module")
def derived() -> dict[str, tuple[Step, ...]]:
    return {k.id: elementary_steps(k.expr, k.var, kink=k.kink) for k in CATALOG}


def test_catalog_is_large_enough() -> None:
    assert len(CATALOG) >= 25
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("k", CATALOG, ids=IDS)
def test_final_result_equals_sympy_diff(k: Case, derived: dict) -> None:
    steps = derived[k.id]
    final = steps[-1]
    assert final.lhs == sp.Derivative(k.expr, k.var)
    assert same(final.rhs, reference(k.expr, k.var, k.kink))


@pytest.mark.parametrize("k", CATALOG, ids=IDS)
def test_every_step_is_verified(k: Case, derived: dict) -> None:
    for step in all_steps(derived[k.id]):
        assert step.verified, (step, step.proof)
        assert "equal to sympy.diff" in step.proof


@pytest.mark.parametrize("k", CATALOG, ids=IDS)
def test_expected_rules_present(k: Case, derived: dict) -> None:
    rules = {s.rule for s in all_steps(derived[k.id])}
    assert k.rules <= rules, rules
    assert rules <= {
        "constant", "variable", "sum rule", "constant multiple rule", "product rule",
        "quotient rule", "power rule", "chain rule", "exp rule", "log rule", "tanh rule",
        "sigmoid rule", "relu rule", "max rule", "abs rule", "sin rule", "cos rule",
        "softmax rule", "undefined function",
    }  # fmt: skip


@pytest.mark.parametrize("k", CATALOG, ids=IDS)
def test_step_shape(k: Case, derived: dict) -> None:
    steps = derived[k.id]
    assert all(isinstance(s, Step) for s in steps)
    assert steps[0].lhs == steps[-1].lhs == sp.Derivative(k.expr, k.var)
    for step in steps:
        assert isinstance(step.lhs, sp.Derivative)
        assert step.lhs.variables == (k.var,)
        assert step.note
    # The final result holds no placeholder; each lhs is derived at most once
    # (one step, or a placeholder step and an evaluated step).
    assert placeholders(steps[-1].rhs, k.var) == []
    lhss = [s.lhs for s in steps]
    assert all(lhss.count(lhs) <= 2 for lhs in lhss)
    for i, step in enumerate(steps):
        if lhss.count(step.lhs) == 2 and lhss.index(step.lhs) == i:  # placeholder step
            later = next(s for s in steps[i + 1 :] if s.lhs == step.lhs)
            assert later.rule == step.rule
            assert placeholders(later.rhs, k.var) == []


@pytest.mark.parametrize("k", CATALOG, ids=IDS)
def test_deterministic(k: Case, derived: dict) -> None:
    again = elementary_steps(k.expr, k.var, kink=k.kink)
    assert again == derived[k.id]
    assert [str(s) for s in again] == [str(s) for s in derived[k.id]]


@pytest.mark.parametrize("expr", [F(w * x), F(w * x, w), F(G(w)) * sp.exp(w)])
def test_deterministic_whatever_sympy_cached(expr: sp.Expr) -> None:
    """Subs compares equal under renaming; printing must not depend on the cache."""
    sp.core.cache.clear_cache()
    first = [str(s) for s in elementary_steps(expr, w)]
    sp.diff(expr, w)
    sp.diff(expr * x, w)
    second = [str(s) for s in elementary_steps(expr, w)]
    assert first == second


def test_docstring_examples() -> None:
    steps = elementary_steps(3 * x + 4 * y, x)
    assert [s.rule for s in steps] == [
        "sum rule",
        "constant multiple rule",
        "variable",
        "constant multiple rule",
        "constant",
        "sum rule",
    ]
    assert steps[0].rhs == sp.Derivative(3 * x, x) + sp.Derivative(4 * y, x)
    assert steps[-1].rhs == 3
    assert elementary_steps(NET, w1)[-1].rhs == w2 * x


def test_constant_is_one_step_without_recursion() -> None:
    steps = elementary_steps(sp.exp(y) * sp.sin(y**2), x)
    assert len(steps) == 1
    assert steps[0].rule == "constant"
    assert steps[0].rhs == 0
    assert steps[0].verified


def test_chain_rule_shows_placeholder_then_result_with_outer_substep() -> None:
    inner = w * x + b
    steps = elementary_steps(sigmoid(inner), w)
    first = steps[0]
    assert first.rule == "chain rule"
    assert first.rhs == sigmoid(inner) * (1 - sigmoid(inner)) * sp.Derivative(inner, w)
    (outer,) = first.substeps
    u = outer.lhs.variables[0]
    assert outer.rule == "sigmoid rule"
    assert outer.lhs == sp.Derivative(sigmoid(u), u)
    assert outer.rhs == sigmoid(u) * (1 - sigmoid(u))
    assert outer.verified
    assert steps[-1].rhs == x * sigmoid(inner) * (1 - sigmoid(inner))


def test_squared_error_of_the_net_reads_like_the_textbook() -> None:
    steps = elementary_steps((NET - t) ** 2 / 2, w1)
    assert steps[0].rule == "constant multiple rule"
    assert steps[-1].rhs == w2 * x * (NET - t)


def test_product_of_three_factors_has_three_terms() -> None:
    steps = elementary_steps(x * sp.sin(x) * sp.exp(x), x)
    assert steps[0].rule == "product rule"
    assert len(steps[0].rhs.args) == 3


def test_quotient_only_with_a_nontrivial_numerator() -> None:
    assert elementary_steps(sp.sin(x) / x, x)[0].rule == "quotient rule"
    lone = elementary_steps(1 / (x**2 + 1), x)
    assert lone[0].rule == "chain rule"
    assert lone[0].substeps[0].rule == "power rule"


@pytest.mark.parametrize("kink", [sp.S.Zero, HALF, sp.S.One])
def test_relu_rule_uses_and_mentions_the_kink(kink: sp.Expr) -> None:
    for expr in (relu(w * x + b), sp.Max(0, w * x + b)):
        steps = elementary_steps(expr, w, kink=kink)
        assert steps[-1].rhs == x * relu_grad(w * x + b, kink)
        relu_steps = [s for s in all_steps(steps) if s.rule == "relu rule"]
        assert relu_steps
        assert all(str(kink) in s.note for s in relu_steps)
        assert str(kink) in steps[0].note


def test_abs_of_a_plain_symbol_is_verified_for_real_values() -> None:
    (step,) = elementary_steps(sp.Abs(x), x)
    assert step.rule == "abs rule"
    assert step.rhs == sp.sign(x)
    assert step.verified
    assert "real" in step.proof


def test_repeated_subexpression_is_derived_once() -> None:
    steps = elementary_steps(sp.exp(x) / (sp.exp(x) + 1), x)
    lhss = [s.lhs for s in steps]
    assert lhss.count(sp.Derivative(sp.exp(x), x)) == 1
    assert all(s.verified for s in steps)


# -- regressions: SymPy Gamma's diffsteps bugs, which this module must not copy --------


def test_gamma_bug_undefined_function_keeps_inner_factor() -> None:
    """Gamma gives d/dw F(w*x) without the factor x."""
    u = sp.Symbol("u")
    result = elementary_steps(F(w * x), w)[-1].rhs
    expected = x * sp.Subs(sp.Derivative(F(u), u), u, w * x)
    assert result == expected
    assert same(result, expected)
    assert same(result, sp.diff(F(w * x), w))
    assert result.doit() == sp.diff(F(w * x), w).doit()


def test_gamma_bug_nested_undefined_functions_keep_inner_derivative() -> None:
    """Gamma gives d/dw F(G(w)) without G'(w)."""
    result = elementary_steps(F(G(w)), w)[-1].rhs
    assert result.has(sp.Derivative(G(w), w))
    assert same(result, sp.diff(F(G(w)), w))


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        (sp.tanh(w * x), "tanh rule"),
        (sp.Max(0, w * x), "relu rule"),
        (sp.Max(w * x, b), "max rule"),
        (sp.Abs(wr * xr), "abs rule"),
        (relu(w * x), "relu rule"),
        (sigmoid(w * x), "sigmoid rule"),
    ],
)
def test_gamma_bug_tanh_max_abs_relu_sigmoid_work(expr: sp.Expr, rule: str) -> None:
    """Gamma raises on tanh, Max and Abs."""
    var = wr if expr.has(wr) else w
    steps = elementary_steps(expr, var)
    assert rule in {s.rule for s in all_steps(steps)}
    assert all(s.verified for s in all_steps(steps))
    assert same(steps[-1].rhs, reference(expr, var))


# -- verification catches wrong rules -----------------------------------------------


def test_wrong_rule_is_marked_unverified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: 2 * sp.exp(u)))
    expr = sp.exp(sp.sin(x**2))
    steps = elementary_steps(expr, x)
    final = steps[-1]
    assert not final.verified
    assert "NOT equal" in final.proof or "not proven" in final.proof
    assert not same(final.rhs, sp.diff(expr, x))
    wrong = [s for s in all_steps(steps) if s.rule == "exp rule"]
    assert wrong
    assert not any(s.verified for s in wrong)
    assert not steps[0].verified  # the rule itself, with exact inner derivatives
    # Steps that do not use the exp rule are still verified.
    assert all(s.verified for s in steps if not s.lhs.expr.has(sp.exp))


def test_wrong_leaf_rule_is_marked_unverified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: sp.exp(-u)))
    (step,) = elementary_steps(sp.exp(x), x)
    assert step.rule == "exp rule"
    assert not step.verified


def test_a_wrong_rule_the_probes_miss_is_left_unproven(monkeypatch: pytest.MonkeyPatch) -> None:
    # Max(0, u - 100) vanishes at every numeric probe (all within (-1, 1)), and simplify keeps it.
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: sp.exp(u) + sp.Max(0, u - 100)))
    (step,) = elementary_steps(sp.exp(x), x)
    assert not step.verified
    assert step.proof == "not proven equal to sympy.diff: the difference simplifies to Max(0, x - 100)"


# -- guards ------------------------------------------------------------------------


def test_huge_expression_raises_complexity_error() -> None:
    huge = sp.Add(*sp.symbols("z0:3000"))
    with pytest.raises(ComplexityError, match=str(MAX_NODES)):
        elementary_steps(huge, sp.Symbol("z0"))


def test_a_wrong_rule_with_a_stray_symbol_is_caught_at_numeric_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    stray = sp.Symbol("stray")
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: sp.exp(u) * (1 + stray)))
    (step,) = elementary_steps(sp.exp(x), x)
    assert not step.verified
    assert step.proof.startswith("NOT equal to sympy.diff: at stray=3/7, x=-5/11 the step gives ")


def test_an_expression_of_exactly_max_nodes_is_derived() -> None:
    terms = sp.symbols(f"z0:{MAX_NODES - 1}")
    largest = sp.Add(*terms)  # the sum and its MAX_NODES - 1 terms
    assert sum(1 for _ in sp.preorder_traversal(largest)) == MAX_NODES
    assert elementary_steps(largest, terms[1])[-1].rhs == 1
    with pytest.raises(ComplexityError, match=str(MAX_NODES)):
        elementary_steps(largest + sp.Symbol("extra"), terms[1])


@pytest.mark.parametrize("var", [x + 1, "x", F(x), 3])
def test_non_symbol_var_raises(var: object) -> None:
    with pytest.raises(UnknownNameError, match="Symbol"):
        elementary_steps(x**2, var)  # type: ignore[arg-type]


def test_bad_kink_raises() -> None:
    with pytest.raises(UnknownNameError, match="kink"):
        elementary_steps(relu(x), x, kink=2)


def test_non_elementary_node_raises() -> None:
    with pytest.raises(UnknownNameError, match="Piecewise"):
        elementary_steps(sp.Piecewise((x, x > 0), (x**2, True)), x)


def test_non_expression_raises() -> None:
    with pytest.raises(UnknownNameError, match="SymPy expression"):
        elementary_steps("x**2", x)  # type: ignore[arg-type]


def test_numbers_are_constants() -> None:
    (step,) = elementary_steps(3, x)  # type: ignore[arg-type]
    assert step.rule == "constant"
    assert step.rhs == 0


def test_small_network_steps_are_verified() -> None:
    xs, ws, vs = sp.symbols("x1:5"), sp.symbols("W1:13"), sp.symbols("V1:4")
    hidden = [sigmoid(sum(ws[3 * i + j] * xs[i] for i in range(4))) for j in range(3)]
    loss = (sigmoid(sum(v * h for v, h in zip(vs, hidden, strict=True))) - t) ** 2 / 2
    steps = elementary_steps(loss, ws[0])
    assert all(s.verified for s in all_steps(steps))
    assert same(steps[-1].rhs, sp.diff(loss, ws[0]))


def test_erf_has_its_own_elementary_rule_proven_like_the_others():
    x = sp.Symbol("x")
    steps = elementary_steps(sp.erf(2 * x) * x, x)
    flat = list(_walk(steps))
    erf_steps = [s for s in flat if s.rule == "erf rule"]
    assert erf_steps
    assert all(s.verified for s in flat)
    assert sp.simplify(steps[-1].rhs - sp.diff(sp.erf(2 * x) * x, x)) == 0


def _walk(steps):
    for step in steps:
        yield step
        yield from _walk(step.substeps)


def test_the_numeric_probes_tolerate_a_relative_difference_below_1e_8_and_leave_it_to_simplify(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # exp(50 x) is about 2e9 at the first probe: the probes compare relative to the values (an
    # absolute 1e-8 there would be below float64's resolution, and round-off would read as "NOT
    # equal"); a rule wrong by one part in 1e12 is then refused by simplify, which names the difference.
    scale = 1 + sp.Rational(1, 10**12)
    monkeypatch.setitem(elementary._OUTER_RULES, sp.exp, ("exp rule", lambda u, kink: sp.exp(u) * scale))
    step = elementary_steps(sp.exp(50 * x), x)[-1]  # the chain rule through exp, the last step
    assert step.rule == "chain rule"
    assert not step.verified
    assert step.proof == "not proven equal to sympy.diff: the difference simplifies to exp(50*x)/20000000000"
