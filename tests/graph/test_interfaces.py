"""Graph networks through the interfaces: spec strings, the command, documents, the pytest helpers."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, ShapeError, SpecError, Tanh
from symgrad.cli import main
from symgrad.parse import parse_network_spec
from symgrad.testing import GradientMismatchError, assert_network_consistent

SPEC = "affine(3,3) > residual(tanh > affine(3,3)) > half-squared-error + weight-decay(0.05)"


def test_a_spec_with_a_residual_block_and_weight_decay_is_the_graph_written_by_hand() -> None:
    x, t = Input("x", 3), Input("t", 3)
    first, inner = Affine(3, 3), Affine(3, 3)
    h = first(x)
    by_hand = Network(HalfSquaredError()(h + inner(Tanh()(h)), t)
                      + 0.05 * (symgrad.sum_squares(first.param("W")) + symgrad.sum_squares(inner.param("W"))))
    assert symgrad.network_from_spec(SPEC).describe() == by_hand.describe()


def test_spec_grammar() -> None:
    specs = parse_network_spec("residual(affine(2,2) > residual(tanh)) > mean-squared-error + weight-decay(1e-3)")
    assert [s.name for s in specs] == ["residual", "mean-squared-error", "weight-decay"]
    assert [s.name for s in specs[0].body] == ["affine", "residual"]
    assert specs[-1].value == 1e-3
    assert parse_network_spec("affine(3,4) > tanh")[0].body == ()  # a chain spec parses as before


@pytest.mark.parametrize(
    ("spec", "error", "words"),
    [
        ("affine(3,3) > residual(affine(3,2)) > half-squared-error", ShapeError, "changes the shape (N, 3) to (N, 2)"),
        ("affine(3,3) > half-squared-error + weight-decay(0)", SpecError, "a positive number such as 0.01"),
        ("affine(3,3) > half-squared-error + tanh", SpecError, "only weight-decay(c) may be added"),
        ("residual(tanh > half-squared-error", SpecError, "closing the residual block"),
        ("residual(tanh) > half-squared-error + weight-decay(0.1)", SpecError, "needs a layer with weights W"),
        ("affine(3,3) > residual(half-squared-error) > half-squared-error", SpecError, "is a loss; only the last"),
        ("affine(3,3) > residual(maxout) > half-squared-error", SpecError, "unknown layer 'maxout'"),
    ],
)
def test_bad_graph_specs(spec: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=None) as info:
        symgrad.network_from_spec(spec)
    assert words in str(info.value)


def test_the_command_checks_and_derives_a_graph_spec() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", SPEC], stdout=out, stderr=err) == 0
    assert "all 5 gradients agree" in out.getvalue()
    out = io.StringIO()
    assert main(["derive", "affine > residual(affine > tanh) > half-squared-error"], stdout=out, stderr=err) == 0
    # The sweep view: the fork's step once, numbered, naming the two gradients and equations it uses.
    assert re.search(r"\(\d+\) +dE/dh1 = dE/dh2\*w2 \+ dE/dh4\n", out.getvalue())
    rule = (r"\(sum over 2 paths \(h1 feeds h2 and h4\): multivariable chain rule, "
            r"by \(\d+\), \(\d+\), \(2\) and \(4\); proven\)")
    assert re.search(rule, out.getvalue())
    assert main(["check", "affine(3,3) > residual(affine(3,2)) > half-squared-error"], stdout=out, stderr=err) == 2


@pytest.mark.parametrize("command", [["--help"], ["check", "--help"], ["derive", "--help"]])
def test_the_help_documents_the_graph_syntax(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(command)
    text = " ".join(capsys.readouterr().out.split())
    assert "residual(block)" in text
    assert "weight-decay(c)" in text


def test_a_graph_derivation_exports_deterministically(tmp_path: Path) -> None:
    d = symgrad.derive(symgrad.network_from_spec(SPEC))
    first = symgrad.export(d, tmp_path / "a.md").read_bytes()
    second = symgrad.export(symgrad.derive(symgrad.network_from_spec(SPEC)), tmp_path / "b.md").read_bytes()
    assert first == second
    text = first.decode()
    assert "A graph network, one equation per value" in text
    assert "sum over 2 paths (W1 feeds h1 and h6): multivariable chain rule" in text
    assert "its gradient is the sum of their contributions" in text  # the sweep view's introduction
    chains = symgrad.render.to_markdown(d, check=False, view="chains")
    assert "the contributions of its paths add" in chains
    for suffix in ("html", "tex", "json", "mml"):
        assert symgrad.export(d, tmp_path / f"d.{suffix}").stat().st_size > 0


def test_the_pytest_helper_takes_a_graph_and_catches_a_wrong_backward() -> None:
    assert assert_network_consistent(symgrad.network_from_spec(SPEC), seed=1).ok

    class NoSkipGradient(Affine):
        """An affine whose backward gives dx with the wrong sign."""

        def backward(self, dout):  # type: ignore[no-untyped-def]
            return -super().backward(dout)

    x, t = Input("x", 3), Input("t", 3)
    wrong = Network(HalfSquaredError()(x + NoSkipGradient(3, 3)(Tanh()(Affine(3, 3)(x))), t))
    with pytest.raises(GradientMismatchError, match="W1"):
        assert_network_consistent(wrong, seed=1)


def test_check_hessian_takes_a_graph() -> None:
    assert symgrad.check_hessian(symgrad.network_from_spec(SPEC)).ok
    x, t = Input("x"), Input("t")
    shared = Affine(name="1")
    assert symgrad.check_hessian(Network(HalfSquaredError()(shared(shared(x)) + x, t))).ok


def _branches_on_a_kink() -> tuple[Network, dict[str, object]]:
    from symgrad.check.points import sample_values

    x, t = Input("x", 3), Input("t", 3)
    left = Tanh()(Affine(3, 4)(x))
    right = symgrad.ReLU()(Affine(3, 2)(x))
    net = Network(HalfSquaredError()(Affine(6, 3)(symgrad.concat(left, right)), t))
    values = sample_values(net, seed=1, batch=3)
    values["W2"][:] = 0  # every input of the ReLU is exactly 0
    values["b2"][:] = 0
    return net, values


def test_a_relu_kink_in_a_graph_is_named_by_its_value_in_fast_mode() -> None:
    net, values = _branches_on_a_kink()
    report = symgrad.check(net, values=values, mode="fast")
    assert report.row("W2").status == "kink"
    assert "in the ReLU computing h4" in report.row("W2").message
    assert report.row("W1").status == "ok"


def test_a_relu_kink_in_a_graph_is_a_subgradient_in_full_mode() -> None:
    net, values = _branches_on_a_kink()
    report = symgrad.check(net, values=values)
    assert report.ok
    assert report.row("b2").status == "subgradient"


def test_documents_are_byte_identical_across_processes(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys, symgrad\n"
        "from symgrad import Affine, HalfSquaredError, Input, Network, Tanh, concat, sum_squares\n"
        "x, t = Input('x', 3), Input('t', 2)\n"
        "a, b, out = Affine(3, 2), Affine(3, 2), Affine(4, 2)\n"
        "E = HalfSquaredError()(out(concat(Tanh()(a(x)), b(x))), t) + 0.1 * sum_squares(a.param('W'))\n"
        "symgrad.export(symgrad.derive(Network(E)), sys.argv[1])\n"
    )
    outputs = []
    for seed in ("1", "2"):
        path = tmp_path / f"doc{seed}.html"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, capture_output=True)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]
    assert b"sum over 2 paths (x feeds h1 and h3)" in outputs[0]


def test_a_graph_document_shows_each_steps_value_at_the_given_point():
    # Regression (merge of the graph core with worked numbers): the values beside the steps came from a
    # chain's forward pass, which fed x to every layer in turn and failed on a graph (shapes not aligned).
    from symgrad import Affine, HalfSquaredError, Input, Network
    from symgrad.render.dispatch import render

    x, t = Input("x"), Input("t")
    first, second = Affine(name="1"), Affine(name="2")
    h = first(x)
    d = symgrad.derive(Network(HalfSquaredError()(second(h) + h, t)))
    values = {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.3, "w2": 1.7, "b2": 0.2}
    page = render(d, "markdown", values=values)
    # h = 0.9, y = 1.7 h + 0.2 + h = 2.63: dE/d(sum) = 2.13, and dE/dh = 2.13 (1.7 + 1) = 5.751 over two paths.
    assert "$= 2.13$" in page
    assert "$= 5.751$" in page
