"""symgrad.activation: users' elementwise layers from a formula in z (symgrad/layers/formula.py).

Swish, softplus and GELU derive (every step proven), compile to NumPy accurately, and check three
ways (symbolic vs the complex-step reference backward vs finite differences) at random points; a
hand-written swish with a wrong derivative is caught by check_layer with the formula as its spec.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad.derive.verify import matrix_rule_proof, prove_equal
from symgrad.errors import ComplexityError, ParseError, SpecError, SymgradError, UnknownNameError
from symgrad.functions import sigmoid
from symgrad.layers.formula import FormulaActivation

_erf = np.vectorize(math.erf)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


#: name -> (formula, textbook f, textbook f'), written out by hand, independently of symgrad.
FORMULAS = {
    "swish": ("z*sigmoid(z)", lambda x: x * _sig(x), lambda x: _sig(x) + x * _sig(x) * (1 - _sig(x))),
    "softplus": ("log(1 + exp(z))", lambda x: np.log1p(np.exp(x)), _sig),
    "gelu": (
        "z*(1 + erf(z/sqrt(2)))/2",
        lambda x: x * (1 + _erf(x / math.sqrt(2))) / 2,
        lambda x: (1 + _erf(x / math.sqrt(2))) / 2 + x * np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi),
    ),
}


def _network(name: str) -> symgrad.Network:
    layers = [symgrad.Affine(3, 5), symgrad.activation(FORMULAS[name][0], name=name), symgrad.Affine(5, 2)]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError())


def _random_values(net: symgrad.Network, seed: int, batch: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {"x": rng.normal(size=(batch, net.input_features)), "t": rng.normal(size=(batch, net.output_features))}
    for name in net.params:
        values[name] = rng.normal(size=net.param(name).shape) * 0.8
    return values


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- derive -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_a_formula_derives_with_every_step_proven_and_its_rule_is_the_derivative(name):
    net = _network(name)
    d = symgrad.derive(net)
    assert d.verified
    step = next(s for s in d.steps("W1") if str(s.lhs) == "dE/dh1")
    (elementwise,) = [a for a in step.rhs.args if type(a).__name__ == "Elementwise"]
    z = sp.Symbol("zeta")
    assert prove_equal(elementwise.body, sp.diff(net.layers[1].function(z), z))
    ok, how = matrix_rule_proof(net.layers[1], 0)
    assert ok
    assert "proven entrywise" in how


def test_a_scalar_network_shows_the_derivative_of_the_formula_by_elementary_steps():
    swish = symgrad.activation("z*sigmoid(z)", name="swish")
    net = symgrad.Network([symgrad.Affine(name="1"), swish, symgrad.Affine(name="2")], loss=symgrad.HalfSquaredError())
    d = symgrad.derive(net)
    assert d.verified
    step = next(s for s in d.steps("w1") if str(s.lhs) == "dE/dh1")
    rules = {sub.rule for sub in step.substeps}
    assert "product rule" in " ".join(rules).lower() or any("product" in sub.note.lower() for sub in step.substeps)
    assert any("sigmoid rule" in sub.rule for sub in _all_substeps(step))
    w1, b1, w2, b2, x, t = sp.symbols("w1 b1 w2 b2 x t")
    h = w1 * x + b1
    direct = sp.diff((w2 * h * sigmoid(h) + b2 - t) ** 2 / 2, w1)
    assert prove_equal(d.gradient("w1"), direct)


def _all_substeps(step):
    for sub in step.substeps:
        yield sub
        yield from _all_substeps(sub)


# -- compile ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_the_compiled_forward_and_derivative_match_the_textbook_formulas(name):
    formula, f, fprime = FORMULAS[name]
    layer = symgrad.activation(formula, name=name)
    x = np.random.default_rng(1).normal(size=(50, 4)) * 2.5
    assert _rel(layer.forward(x), f(x)) <= 1e-14
    # The compiled gradient of E = sum(G o f(x)) with respect to x is G o f'(x): the derived rule as compiled.
    net = symgrad.Network([symgrad.Affine(4, 4), layer, symgrad.Affine(4, 1)], loss=symgrad.HalfSquaredError())
    values = _random_values(net, 2, batch=50)
    values["W1"], values["b1"] = np.eye(4), np.zeros(4)
    grads = symgrad.derive(net, wrt=["x"]).lambdify()(**values)
    upstream = (x_out := (f(values["x"]) @ values["W2"] + values["b2"]) - values["t"]) @ values["W2"].T
    assert x_out.shape == (50, 1)
    assert _rel(grads["x"], upstream * fprime(values["x"])) <= 1e-12


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_the_reference_backward_is_the_derivative_to_rounding(name):
    formula, _, fprime = FORMULAS[name]
    layer = symgrad.activation(formula, name=name)
    rng = np.random.default_rng(4)
    x, dout = rng.normal(size=(7, 3)) * 2, rng.normal(size=(7, 3))
    layer.forward(x)
    assert _rel(layer.backward(dout), dout * fprime(x)) <= 1e-14


# -- check three ways -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("seed", [0, 1])
def test_a_formula_network_agrees_three_ways_at_random_points(name, seed):
    net = _network(name)
    report = symgrad.check(net, _random_values(net, seed))
    assert report.ok
    assert {row.name for row in report.rows} == {"W1", "b1", "W2", "b2", "x"}
    for row in report.rows:
        assert _rel(row.symbolic, row.backward) <= 1e-14  # compiled derivative vs complex step: exact sides
        assert _rel(row.symbolic, row.numeric) <= 1e-8  # vs central differences
    assert any("complex-step" in note for note in report.notes)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_a_formula_network_checks_with_the_complex_step_and_its_hessian(name):
    net = _network(name)
    report = symgrad.check(net, method="complex", seed=5)
    assert report.ok
    assert max(_rel(row.symbolic, row.numeric) for row in report.rows) <= 1e-13
    assert symgrad.check_hessian(net).ok


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_a_formula_network_passes_the_fast_check(name):
    report = symgrad.check(_network(name), mode="fast", seed=3)
    assert report.ok
    assert len(report.rows) == 5


def test_a_wrong_elementwise_rule_fails_its_proof_and_the_check(monkeypatch):
    # Mutation: G o f(x) where the rule needs G o f'(x). The proof (keyed by the rule methods, not only by
    # the formula, so the earlier verdict is not reused) and the three-way check must both fail.
    import symgrad.layers.activations as activations

    def wrong_vjp(self, upstream, x, params, *, kink=0):
        from symgrad.matrixexpr import ZETA, Elementwise

        return {"input": sp.HadamardProduct(upstream, Elementwise(self.function(ZETA), x))}

    net = _network("swish")
    assert matrix_rule_proof(net.layers[1], 0)[0]
    monkeypatch.setattr(activations.Activation, "matrix_vjp", wrong_vjp)
    assert not matrix_rule_proof(net.layers[1], 0)[0]
    d = symgrad.derive(net)
    assert not d.verified
    report = symgrad.check(d)
    assert {row.name for row in report.failures} == {"W1", "b1", "x"}


# -- check_layer: a user's hand-written swish ----------------------------------------------------


class HandSwish:
    """A swish layer written by hand, DLFS style, with an optional mistake in its backward."""

    def __init__(self, mistake: str | None = None) -> None:
        self.mistake = mistake
        self.x = self.s = None

    def forward(self, x):
        self.x, self.s = x, 1.0 / (1.0 + np.exp(-x))
        return x * self.s

    def backward(self, dout):
        x, s = self.x, self.s
        derivative = {
            None: s + x * s * (1 - s),
            "no product rule": x * s * (1 - s),  # only (x*s)' with x taken as a constant
            "first term only": s,
            "forward for derivative": x * s,
            "sign": s - x * s * (1 - s),
        }[self.mistake]
        return dout * derivative


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_correct_hand_written_swish_passes_against_the_formula(mode):
    x = np.random.default_rng(5).normal(size=(4, 3)) * 2
    report = symgrad.check_layer(HandSwish(), symgrad.activation("z*sigmoid(z)", name="swish"), x=x, mode=mode)
    assert report.ok
    assert not report.warnings


def test_a_correct_hand_written_swish_passes_in_float32():
    x = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32) * 2
    report = symgrad.check_layer(HandSwish(), symgrad.activation("z*sigmoid(z)"), x=x)
    assert report.ok
    assert report.dtype == "float32"


@pytest.mark.parametrize(
    ("mistake", "cause"),
    [
        ("no product rule", "matches a term of the derivative left out: dx = dout * x * (1 - sigmoid(x)) * sigmoid(x)"),
        ("first term only", "matches a term of the derivative left out: dx = dout * sigmoid(x)"),
        ("forward for derivative", "matches the activation's value where its derivative belongs"),
        ("sign", "matches a term of the derivative with the wrong sign"),
    ],
)
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_wrong_swish_derivative_is_caught_and_its_cause_named(mistake, cause, mode):
    x = np.random.default_rng(7).normal(size=(5, 3)) * 2
    spec = symgrad.activation("z*sigmoid(z)", name="swish")
    report = symgrad.check_layer(HandSwish(mistake), spec, x=x, mode=mode)
    assert not report.ok
    (row,) = report.rows
    assert row.status == "FAIL"
    assert row.diagnosis.startswith(cause)
    assert "expected dx = dout * (x*(1 - sigmoid(x))*sigmoid(x) + sigmoid(x))" in row.diagnosis


def test_a_gelu_layer_checks_against_its_formula():
    class HandGelu:
        def forward(self, x):
            self.x = x
            return x * (1 + _erf(x / math.sqrt(2))) / 2

        def backward(self, dout):
            return dout * FORMULAS["gelu"][2](self.x)

    x = np.random.default_rng(8).normal(size=(4, 3)) * 2
    report = symgrad.check_layer(HandGelu(), symgrad.activation(FORMULAS["gelu"][0], name="gelu"), x=x)
    assert report.ok
    assert _rel(report.rows[0].symbolic, report.rows[0].backward) <= 1e-13


# -- specs --------------------------------------------------------------------------------------------


def test_a_spec_takes_a_formula_named_or_not():
    net = symgrad.network_from_spec("affine(3,4) > act(z*sigmoid(z)) > act(log(1 + exp(z)), name=softplus) "
                                    "> affine(4,2) > half-squared-error")
    first, second = net.layers[1], net.layers[2]
    assert isinstance(first, FormulaActivation)
    assert isinstance(second, FormulaActivation)
    assert (first.kind, first.formula, second.kind, second.formula) == ("act", "z*sigmoid(z)", "softplus",
                                                                        "log(exp(z) + 1)")
    assert symgrad.check(net, mode="fast").ok


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        ("affine(3,4) > act > half-squared-error", SpecError, "expected '(' and a formula in z after 'act'"),
        ("affine(3,4) > act(z*(z) > half-squared-error", SpecError, "is never closed"),
        ("affine(3,4) > act() > half-squared-error", SpecError, "needs a formula in z"),
        ("affine(3,4) > act(z*q) > half-squared-error", ParseError, "in the formula of act at column 15: "
                                                                    "the activation formula uses q"),
        ("affine(3,4) > act(__import__('os')) > half-squared-error", ParseError, "at column 15"),
        ("affine(3,4) > act(abs(z)) > half-squared-error", ParseError, "write abs(z) as relu(z) + relu(-z)"),
    ],
)
def test_a_bad_formula_in_a_spec_is_a_symgrad_error_naming_where(spec, error, text):
    with pytest.raises(error, match=None) as info:
        symgrad.network_from_spec(spec)
    assert text in str(info.value)


# -- hostile input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "error", "text"),
    [
        ("__import__('os').system('echo pwned')", ParseError, "not allowed"),
        ("z.real", ParseError, "attribute access"),
        ("y*z", ParseError, "uses y; its only variable is z"),
        ("exp(x)", ParseError, "uses x"),
        ("abs(z)", ParseError, "Abs"),
        ("max(z, 0)", ParseError, "Max"),
        ("sigmoid(z, 2)", ParseError, "takes 1 argument"),
        ("3", ParseError, "does not depend on z"),
        ("z - z", ParseError, "does not depend on z"),
        ("foo(z)", ParseError, "function 'foo' is not allowed"),
        ("z" + "*z" * 6000, ComplexityError, "characters long"),
        ("", ParseError, "empty"),
    ],
)
def test_a_hostile_or_unusable_string_formula_is_refused(formula, error, text):
    with pytest.raises(error) as info:
        symgrad.activation(formula)
    assert text in str(info.value)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (sp.Symbol("z") * sp.Symbol("w"), "uses w"),
        (sp.Abs(sp.Symbol("z")), "Abs"),
        (sp.Function("f")(sp.Symbol("z")), "holds f"),
        (sp.Symbol("z") + sp.I, "holds I, which symgrad cannot use"),
        (sp.Symbol("z") + sp.oo, "not a finite real number"),
        (sp.Piecewise((sp.Symbol("z"), sp.Symbol("z") > 0), (0, True)), "Piecewise"),
        (sp.Integral(sp.Symbol("z"), sp.Symbol("z")), "Integral"),
        (sp.Matrix([sp.Symbol("z")]), "got MutableDenseMatrix"),
        (sp.Eq(sp.Symbol("z"), 1), "scalar SymPy expression"),
        (3.5, "a str or a SymPy expression"),
    ],
)
def test_a_sympy_formula_is_validated(expr, text):
    with pytest.raises(SymgradError) as info:
        symgrad.activation(expr)
    assert text in str(info.value)


def test_a_sympy_formula_may_use_any_symbol_named_z():
    z = sp.Symbol("z", real=True)
    layer = symgrad.activation(z * sp.tanh(sp.log(1 + sp.exp(z))), name="mish")
    assert layer.formula == "z*tanh(log(exp(z) + 1))"
    assert symgrad.check(symgrad.Network([symgrad.Affine(2, 3), layer, symgrad.Affine(3, 1)],
                                         loss=symgrad.HalfSquaredError())).ok


@pytest.mark.parametrize("name", ["", "a\nb", "\x1b[2J", "u\u202ev", "x" * 41, 7, None])
def test_a_name_that_would_garble_a_report_is_refused(name):
    if name is None:
        assert symgrad.activation("z", name=None).kind == "act"
        return
    with pytest.raises(UnknownNameError, match="printable characters"):
        symgrad.activation("z", name=name)


def test_no_user_text_reaches_the_generated_code():
    layer = symgrad.activation("z*sigmoid(z)", name="'); import os; ('")
    assert "import" not in layer._source
    assert layer._source == "def _f(z):\n    return z*(0.5 + 0.5*numpy.tanh(0.5*(z)))\n"


# -- plain layer behaviour --------------------------------------------------------------------------


def test_a_formula_layer_pickles_and_copies():
    layer = symgrad.activation("z*(1 + erf(z/sqrt(2)))/2", name="gelu")
    again = pickle.loads(pickle.dumps(layer))
    x = np.linspace(-2, 2, 7)
    assert np.array_equal(again.forward(x), layer.forward(x))
    assert (again.kind, repr(again)) == ("gelu", repr(layer))
    assert np.array_equal(layer.fresh().forward(x), layer.forward(x))


def test_two_formulas_do_not_share_a_cached_rule_or_proof():
    # Regression guard: the rule and proof caches of symgrad's own layers are keyed by type; formula layers
    # share one type, so each must be keyed by its formula.
    first = symgrad.derive(_network("swish"))
    second = symgrad.derive(_network("softplus"))
    assert "sigmoid" in str(first.program)
    assert "log" not in str(first.program)
    assert "exp" in str(second.program)
    assert symgrad.check(_network("softplus")).ok


def test_the_same_formula_gives_byte_identical_documents():
    texts = []
    for _ in range(2):
        d = symgrad.derive(_network("gelu"))
        texts.append((symgrad.render.to_html(d), symgrad.render.to_latex(d), symgrad.render.to_json(d)))
    assert texts[0] == texts[1]


def test_documents_call_the_layer_by_its_name():
    d = symgrad.derive(_network("gelu"))
    assert d.forward[1].rule == "forward: gelu"
    assert "gelu(z*(erf(sqrt(2)*z/2) + 1)/2)" in d.title
    text = symgrad.render.to_markdown(d)
    assert "the output of the gelu layer" in text
    assert "forward: gelu" in text
