"""Tests for the symgrad command (symgrad/cli.py)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symgrad.cli import main


class _Terminal(io.StringIO):
    """A stderr that claims to be a terminal, so progress is shown."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_no_arguments_derives_the_article_network_and_checks_it() -> None:
    code, out, err = run()
    assert code == 0, err
    # The sweep view: each gradient once, from E back to the inputs, numbered, then each collected.
    sweep = out.split("Backward sweep")[1].split("Each gradient in one expression")[0]
    expected = ("(4)  dE/dy  = y - t", "(5)  dE/dw2 = dE/dy*h", "(7)  dE/dh  = dE/dy*w2", "(8)  dE/dw1 = dE/dh*x",
                "(10) dE/dx  = dE/dh*w1")
    positions = [sweep.index(text) for text in expected]
    assert positions == sorted(positions)
    assert sweep.count("dE/dy  =") == 1
    assert sweep.count("dE/dh  =") == 1
    collected = out.split("Each gradient in one expression")[1]
    assert "(11) dE/dw1 = w2*x*(y - t)" in collected
    assert "NOT proven" not in out
    assert "Three-way check of The article's network: all 5 gradients agree" in out


def test_gradient_of_the_articles_first_example() -> None:
    code, out, _ = run("gradient", "3*x + 4*y")
    assert code == 0
    assert out.strip().endswith("gradient = (3, 4)")


def test_gradient_elementary_steps_are_printed_on_request() -> None:
    _, out, _ = run("gradient", "sigmoid(w*x + b)", "--wrt", "w", "--elementary")
    assert "chain rule" in out
    assert "sigmoid rule" in out


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (("derive", "affine(3,4) > maxout > half-squared-error"), "unknown layer 'maxout' at column 15"),
        (("derive", "affine(3,4) >"), "expected a layer name"),
        (("check", "affine(3,4) > affine(5,1) > half-squared-error"), "expects 5 input features, but its input has 4"),
        (("gradient", "__import__('os')"), "names starting with '_' are not allowed"),
        (("gradient", "__import__('os').system('true')"), "attribute access is not allowed"),
        (("gradient", "x.__class__"), "attribute access"),
        (("gradient", "(lambda: 1)()"), "lambda"),
        (("gradient", "x" + "+x" * 60_000), "the limit is"),
        (("derive", "--wrt", "w9"), "cannot differentiate with respect to 'w9'"),
    ],
)
def test_bad_input_exits_2_with_a_message_not_a_traceback(argv: tuple[str, ...], phrase: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert err.startswith("symgrad: error: ")
    assert phrase in err
    assert "Traceback" not in err + out


def test_check_fast_mode_on_a_batched_network() -> None:
    code, out, _ = run("check", "affine(8,6) > tanh > affine(6,3) > softmax-cross-entropy", "--mode", "fast")
    assert code == 0
    assert "random direction" in out
    assert "all 5 gradients agree" in out


def test_check_reports_richardson_and_complex_methods() -> None:
    for method in ("richardson", "complex"):
        code, out, _ = run("check", "--method", method)
        assert code == 0
        assert f"{method} differences" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "derivation.txt"
    code, out, _ = run("derive", "affine > tanh > affine > half-squared-error", "-o", str(target))
    assert code == 0
    assert out == ""
    text = target.read_text(encoding="utf-8")
    assert "h2 = tanh(h1)" in text
    assert "all 5 gradients agree" in text


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("derive", "-o", str(tmp_path / "missing" / "out.txt"))
    assert code == 2
    assert "cannot write" in err


def test_a_large_sweep_announces_itself_and_shows_progress_on_a_terminal() -> None:
    terminal = _Terminal()
    code, _, _ = run("check", "affine(40,40) > tanh > affine(40,10) > half-squared-error", stderr=terminal)
    assert code == 0
    err = terminal.getvalue()
    assert "takes 11051 forward evaluations" in err  # 5 per element (pilot and pair) x 2210, and f(v)
    assert "--mode fast" in err
    assert "finite differences 11051/11051 evaluations (100%)" in err


def test_progress_is_quiet_when_stderr_is_not_a_terminal() -> None:
    code, _, err = run("check", "affine(40,40) > tanh > affine(40,10) > half-squared-error")
    assert code == 0
    assert "evaluations (" not in err  # no progress lines, only the up-front note
    assert "takes 11051 forward evaluations" in err


def test_help_explains_the_default_and_the_subcommands() -> None:
    command = [sys.executable, "-m", "symgrad.cli", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for word in ("the article's network", "F1(x) = w1*x + b1", "symgrad derive", "symgrad check", "symgrad gradient"):
        assert word in result.stdout


def test_help_and_the_parser_import_neither_sympy_nor_numpy() -> None:
    # Start-up (issue 13): --help must not pay for the heavy imports; each command imports what it uses.
    code = (
        "import sys, contextlib, io\n"
        "import symgrad.cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    symgrad.cli.main(['--help'])\n"
        "symgrad.cli._parser().parse_args(['check', 'affine(2,2) > half-squared-error', '-o', 'x.txt'])\n"
        "print(sorted(m for m in ('sympy', 'numpy', 'symgrad.check', 'symgrad.render') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_installed_console_script_runs() -> None:
    script = shutil.which("symgrad", path=str(Path(sys.executable).parent))
    assert script is not None, "the symgrad console script is not installed next to this Python"
    result = subprocess.run([script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "all 5 gradients agree" in result.stdout


@pytest.mark.parametrize("fmt", ["html", "latex", "markdown", "json", "mathml"])
def test_derive_writes_every_document_format(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"article.{fmt}"
    code, _, err = run("derive", "--format", fmt, "-o", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert "w_{1}" in text or "w<sub>1</sub>" in text or "<mi>w</mi>" in text or '"w1"' in text


def test_derive_html_is_deterministic(tmp_path: Path) -> None:
    spec = "affine(3,4) > sigmoid > affine(4,1) > half-squared-error"
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    assert run("derive", spec, "--format", "html", "-o", str(first))[0] == 0
    assert run("derive", spec, "--format", "html", "-o", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert "<script" not in first.read_text(encoding="utf-8")


def test_check_json_output_parses() -> None:
    import json

    code, out, _ = run("check", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert "rows" in json.dumps(data)


def test_gradient_time_limit_option_stops_hostile_input_with_exit_2():
    from symgrad.cli import GRADIENT_SECONDS
    from symgrad.derive.expression import TIME_LIMIT

    assert GRADIENT_SECONDS == TIME_LIMIT
    err = io.StringIO()
    slow = "max(" + ", ".join(f"x{i}" for i in range(50)) + ")"  # hours of elementary steps
    assert main(["gradient", slow, "--time-limit", "0.3"], stdout=io.StringIO(), stderr=err) == 2
    assert "took more than 0.3 s of symbolic work" in err.getvalue()
    out = io.StringIO()
    assert main(["gradient", "x*y", "--time-limit", "none"], stdout=out, stderr=io.StringIO()) == 0
    assert "gradient = (y, x)" in out.getvalue()


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "inf", "nan"])
def test_gradient_time_limit_option_rejects_bad_values(bad, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["gradient", "x*y", "--time-limit", bad])
    assert exited.value.code == 2
    assert "expected a positive number of seconds or 'none'" in capsys.readouterr().err


def test_fast_check_of_the_article_network_regression_scalar_parameters():
    """Regression: the fast check refused the article's scalar parameters ("'claimed gradient of w1'
    has shape (); expected (1,)"): np.ascontiguousarray had turned each 0-d value into shape (1,)."""
    out = io.StringIO()
    assert main(["check", "--mode", "fast"], stdout=out, stderr=io.StringIO()) == 0
    assert "all 5 gradients agree" in out.getvalue()


def test_check_with_hessian_adds_the_second_order_table() -> None:
    code, out, err = run("check", "affine(3,4) > tanh > affine(4,2) > half-squared-error", "--hessian", "--seed", "2")
    assert code == 0, err
    first, second = out.split("\n\nHessian-vector check of ")
    assert "symbolic" in first
    assert second.startswith("affine(3,4)") or "agree with the loss's curvature" in second
    assert second.count(" ok") == 8  # four products for each of the two gradient sources


def test_check_with_hessian_refuses_a_format_it_cannot_write() -> None:
    code, out, err = run("check", "affine(3,4) > tanh > affine(4,2) > half-squared-error", "--hessian",
                         "--format", "json")
    assert code == 2
    assert out == ""
    assert "--hessian writes its table as text" in err


# -- activations written as formulas ------------------------------------------------------------------

GELU_SPEC = "affine(3,4) > act(z*(1 + erf(z/sqrt(2)))/2, name=gelu) > affine(4,1) > half-squared-error"


def test_help_documents_the_activation_formula_syntax() -> None:
    command = [sys.executable, "-m", "symgrad.cli", "check", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "act(z*sigmoid(z))" in text
    assert "act(z*sigmoid(z), name=swish)" in text


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_check_a_network_with_a_formula_activation(mode: str) -> None:
    code, out, err = run("check", GELU_SPEC, "--mode", mode)
    assert code == 0, err
    assert "gelu(z*(erf(sqrt(2)*z/2) + 1)/2)" in out
    assert "all 5 gradients agree" in out
    assert "complex-step derivative of its forward" in out


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("act(__import__('os').system('true')) > half-squared-error", "in the formula of act at column 1"),
        ("affine(2,2) > act(exp(y)) > half-squared-error", "its only variable is z"),
        ("affine(2,2) > act(z > half-squared-error", "is never closed"),
    ],
)
def test_a_bad_formula_exits_2(spec: str, phrase: str) -> None:
    code, out, err = run("derive", spec)
    assert code == 2
    assert phrase in err
    assert "Traceback" not in err + out


def test_a_formula_network_document_is_byte_identical_across_processes(tmp_path: Path) -> None:
    # Different hash seeds: nothing in the document may depend on set or dict iteration of hashed keys.
    pages = []
    for seed in ("1", "2"):
        target = tmp_path / f"gelu{seed}.html"
        command = [sys.executable, "-m", "symgrad.cli", "derive", GELU_SPEC, "--format", "html", "-o", str(target)]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        assert result.returncode == 0, result.stderr
        pages.append(target.read_bytes())
    assert pages[0] == pages[1]
    assert b"gelu" in pages[0]
