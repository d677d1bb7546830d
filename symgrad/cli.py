"""The ``symgrad`` command.

With no arguments it derives the article's network, prints the chain-rule steps
for every parameter, then the three-way check. Subcommands:

* ``symgrad derive [SPEC] [--format F] [-o FILE]``: a derivation document;
* ``symgrad check [SPEC] [--mode fast] [--method M]``: the three-way check;
* ``symgrad gradient EXPR``: the gradient of an expression, step by step.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from symgrad import __version__
from symgrad.errors import SymgradError, UnknownNameError

# SymPy and NumPy take most of a second to import: the parser and --help need neither, so each
# sub-command imports what it uses when it runs (tests/test_cli.py pins that --help stays light).
if TYPE_CHECKING:
    from pathlib import Path

    from symgrad.check.report import CheckReport
    from symgrad.derive.artifacts import StoredDerivation
    from symgrad.derive.derivation import Derivation
    from symgrad.network import Network

__all__ = ["main"]

#: ``symgrad gradient``'s default --time-limit: gradient()'s TIME_LIMIT, kept here so --help imports no SymPy.
GRADIENT_SECONDS = 5.0
FORMATS = ("text", "latex", "mathml", "markdown", "html", "json")
#: The format an output file's suffix names (render.SUFFIXES, less its import, plus plain text).
SUFFIX_FORMATS = {
    ".txt": "text",
    ".tex": "latex",
    ".md": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".xml": "mathml",
    ".mml": "mathml",
    ".mathml": "mathml",
}
FORMAT_HELP = "output format (default: from the suffix of -o FILE, else text)"
VALUES_HELP = (
    "the point to check at and to show each step's value at: name=value pairs "
    "(x=1.5,t=0.5,w1=0.8,...) or a .json or .npz file; default: a random point drawn with --seed"
)
SPEC_HELP = (
    'a network spec such as "affine(3,4) > sigmoid > affine(4,1) > half-squared-error" '
    "(layers: affine(in,out) or scalar affine, matmul(in,out) (affine without bias), sigmoid, tanh, relu, "
    "softmax, and your own activation as a formula "
    "in z: act(z*sigmoid(z)) or act(z*sigmoid(z), name=swish), with exp log sqrt sin cos tan sinh cosh tanh "
    "erf sigmoid relu; batch-norm(F) and layer-norm(F) on F features, derived through their own graph; "
    "on images (N, C, H, W): conv2d(in,out,kernel,stride=1,pad=0), max-pool2d(kernel,stride), "
    "avg-pool2d(kernel,stride) (both also take pad=), flatten, after input(C,H,W) first in the spec; "
    "losses: half-squared-error, mean-squared-error, softmax-cross-entropy, "
    "sigmoid-cross-entropy, svm-loss); "
    "residual(block) adds a skip connection x + block(x) around layers separated by '>', and "
    "'+ weight-decay(c)' after the loss adds c times the sum of squares of every weight matrix (both make "
    "a graph network); default: the article's network"
)
DESCRIPTION = """\
Explain and verify backpropagation.

With no arguments, symgrad takes the article's network
  F1(x) = w1*x + b1,  F2(h) = w2*h + b2,  E = (F2(F1(x)) - t)^2 / 2,
derives dE/dw1, dE/db1, dE/dw2, dE/db2 and dE/dx by the chain rule, printing
each step (every step proven against a direct sympy.diff), then checks the
gradients three ways: symbolic vs the layers' backward() vs finite differences.

'symgrad gradient EXPR' differentiates an expression step by step.

A network spec names layers joined by '>' and ends in a loss. Two combinators
make a graph network: residual(block) is x + block(x), the block's layers
joined by '>'; '+ weight-decay(c)' after the loss adds c times the sum of
squares of every weight matrix. Each fork's gradient is the sum of its paths'.
batch-norm(features) and layer-norm(features) are derived through their own
small graph (mean, variance, normalised x), whose forks are summed the same way.

A network on images starts with input(C,H,W), one sample's shape (x is then
N x C x H x W, NCHW). conv2d(in,out,kernel) takes keyword arguments stride=
and pad= (whole numbers, defaults 1 and 0); max-pool2d(kernel,stride) and
avg-pool2d(kernel,stride) take pad=; flatten makes each sample a row for the
affine layers after it. Each of these is derived from its forward in index
notation (scatter-adds over the windows, a mask for max), and its rule is
reused at every place it is applied."""

EXAMPLES = """\
examples:
  symgrad
  symgrad gradient "3*x + 4*y"
  symgrad derive "affine(3,4) > sigmoid > affine(4,1) > half-squared-error" --format html -o net.html
  symgrad check "affine(64,64) > tanh > affine(64,10) > softmax-cross-entropy" --mode fast
  symgrad check "affine(4,8) > residual(tanh > affine(8,8)) > affine(8,2) > half-squared-error + weight-decay(0.01)"
  symgrad check "affine(3,4) > act(z*(1 + erf(z/sqrt(2)))/2, name=gelu) > affine(4,1) > half-squared-error"
  symgrad derive "affine(4,6) > batch-norm(6) > relu > affine(6,2) > half-squared-error" -o bn.html
  symgrad check "input(1,4,4) > conv2d(1,2,3,pad=1) > max-pool2d(2,2) > flatten > affine(8,3) > half-squared-error"

exit status: 0 all gradients agree, 1 a check failed, 2 bad input"""

#: A full sweep of more evaluations than this announces itself and shows progress.
ANNOUNCE_EVALUATIONS = 2_000
#: ``symgrad derive`` checks in fast mode when a full sweep's work (evaluations x operations per
#: forward pass, as check.report.refuse_long_sweep counts it) exceeds this: a few seconds of NumPy.
DERIVE_FAST_WORK = 10**10



class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text wrapped at spaces only, so names such as ``weight-decay(c)`` and ``batch-norm(F)`` stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symgrad",
        formatter_class=_Formatter,
        description=DESCRIPTION,
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    parser.set_defaults(wrt=None, seed=0, kink="0", mode="full", method="central", batch=4)
    sub = parser.add_subparsers(dest="command", metavar="{derive,check,gradient}")
    derive_p = sub.add_parser(
        "derive", formatter_class=_Formatter, help="derive a network's gradients step by step and write a document"
    )
    derive_p.add_argument("spec", nargs="?", help=SPEC_HELP)
    _output_options(derive_p)
    derive_p.add_argument("--no-check", action="store_true", help="leave out the three-way check")
    derive_p.add_argument("--values", metavar="VALUES", help=VALUES_HELP)
    derive_p.add_argument("--mode", choices=("auto", "full", "fast"), default="auto",
                          help="the check's mode; auto (default): full unless the finite-difference sweep would "
                          "take more than a few seconds, then fast (one random direction)")
    derive_p.add_argument("--view", choices=("sweep", "chains"), default="sweep",
                          help="sweep (default): the forward pass, then one backward sweep from E to the inputs, "
                          "each gradient derived once, numbered and referred to by later steps; chains: each "
                          "parameter's own chain rule from E (every format but json)")
    _common(derive_p)
    check_p = sub.add_parser("check", formatter_class=_Formatter, help="check a network's gradients three ways")
    check_p.add_argument("spec", nargs="?", help=SPEC_HELP)
    check_p.add_argument("--mode", choices=("full", "fast"), default="full",
                         help="full: every element by finite differences; "
                         "fast: one random direction (a few forward passes)")
    check_p.add_argument("--method", choices=("central", "richardson", "complex"), default="central",
                         help="finite-difference method (default: central)")
    check_p.add_argument("--batch", type=int, default=4, help="batch size of the random point (default: 4)")
    check_p.add_argument("--hessian", action="store_true",
                         help="also check second order: Hessian-vector products of the symbolic gradient and of "
                         "the layers' backward() against the loss's curvature (text format)")
    check_p.add_argument("--format", choices=FORMATS, help=FORMAT_HELP)
    check_p.add_argument("-o", "--output", type=_path, help="write to FILE instead of standard output")
    check_p.add_argument("--values", metavar="VALUES", help=VALUES_HELP)
    _common(check_p)
    grad_p = sub.add_parser(
        "gradient", formatter_class=_Formatter, help='the gradient of an expression, e.g. symgrad gradient "3*x + 4*y"'
    )
    grad_p.add_argument("expression",
        help="a formula: numbers, names, + - * / ** and exp log sqrt sin cos tanh sigmoid relu max ...")
    grad_p.add_argument("--wrt", nargs="+", help="variables (default: all)")
    grad_p.add_argument("--time-limit", type=_seconds, default=GRADIENT_SECONDS, metavar="SECONDS",
        help=f"seconds of symbolic work before giving up, or 'none' (default: {GRADIENT_SECONDS:g})")
    _output_options(grad_p)
    # An expression's gradient is its elementary steps: shown unless asked not to.
    grad_p.add_argument("--brief", dest="elementary", action="store_false",
                        help="text format: leave out the elementary steps")
    grad_p.set_defaults(elementary=True)
    return parser


def _seconds(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        msg = f"expected a positive number of seconds or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def _path(text: str) -> Path:
    from pathlib import Path  # pathlib is a tenth of the parser's import time

    return Path(text)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, help=FORMAT_HELP)
    parser.add_argument("-o", "--output", type=_path, help="write to FILE instead of standard output")
    parser.add_argument("--elementary", action="store_true",
                        help="text format: also print the elementary steps (the default for gradient)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wrt", nargs="+",
        help="names to differentiate with respect to (default: every parameter and x)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check point (default: 0)")
    parser.add_argument("--kink", choices=("0", "1/2", "1"), default="0",
        help="derivative of ReLU taken at 0 (default: 0)")


def _format(args: argparse.Namespace) -> str:
    """--format if given, else the format the suffix of -o names, else text; an unknown suffix is an error."""
    output = args.output
    if output is None:
        return str(args.format or "text")
    by_suffix = SUFFIX_FORMATS.get(output.suffix.lower())
    if args.format is not None:
        if by_suffix is not None and by_suffix != args.format:
            msg = f"--format {args.format} but -o {output.name} names {by_suffix}; give one or make them agree"
            raise UnknownNameError(msg)
        return str(args.format)
    if by_suffix is None:
        shown = repr(output.suffix) if output.suffix else "no suffix"
        msg = (
            f"cannot tell the format of -o {output.name}: {shown}; use one of {', '.join(SUFFIX_FORMATS)} "
            "or give --format"
        )
        raise UnknownNameError(msg)
    return by_suffix


def _values(args: argparse.Namespace, network: Network) -> dict[str, Any] | None:
    if getattr(args, "values", None) is None:
        return None
    from symgrad.pointinput import read_values

    return read_values(args.values, network)


def _kink(text: str) -> Any:
    return {"0": 0, "1/2": 0.5, "1": 1}[text]


def _network(spec: str | None) -> Network:
    from symgrad.network import article_network, network_from_spec

    return article_network() if spec is None else network_from_spec(spec)


def _emit(text: str, output: Path | None, stdout: IO[str]) -> None:
    if output is None:
        stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8", newline="\n")


def _render(obj: Any, fmt: str, **options: Any) -> str:
    from symgrad.render import render  # the document renderers load only when asked for

    return render(obj, fmt, **options)


def _progress(stderr: IO[str]) -> Callable[[int, int], None] | None:
    if not stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        stderr.write(f"\rsymgrad: finite differences {done}/{total} evaluations ({100 * done // max(total, 1)}%)")
        if done >= total:
            stderr.write("\n")
        stderr.flush()

    return report


def _run_check(
    network: Network,
    args: argparse.Namespace,
    stderr: IO[str],
    derivation: Derivation | StoredDerivation | None = None,
    values: dict[str, Any] | None = None,
) -> CheckReport:
    import numpy as np

    from symgrad.check.report import cached_derivation, check, refuse_long_sweep
    from symgrad.numeric.finite import total_evaluations

    mode, method = getattr(args, "mode", "full"), getattr(args, "method", "central")
    if derivation is None:
        derivation = cached_derivation(network, args.wrt, _kink(args.kink))
    auto = mode == "auto"
    if auto:
        mode = _auto_mode(network, derivation.wrt, method, values, stderr)
    if mode == "full":
        batch = getattr(args, "batch", 4)
        # Zero-stride views: the shapes of the point, without allocating it.
        shapes = {name: np.broadcast_to(0.0, _shape(network, name, batch)) for name in network.names}
        if values is not None:
            shapes = {name: np.broadcast_to(0.0, np.shape(values[name])) for name in network.names}
        refuse_long_sweep(shapes, derivation.wrt, method, "use --mode fast (a random direction, a few forward "
                          "evaluations at any width) or check fewer gradients with --wrt")
        total = total_evaluations(shapes, derivation.wrt, method)
        if total >= ANNOUNCE_EVALUATIONS:
            stderr.write(
                f"symgrad: a full {method} finite-difference sweep takes {total} forward evaluations; "
                "--mode fast checks along a random direction in a few\n"
            )
    report = check(derivation, values, seed=args.seed, method=method, mode=mode, batch=getattr(args, "batch", 4),
                   progress=_progress(stderr))
    if auto and mode == "fast":
        from dataclasses import replace

        note = ("checked in fast mode, along one random direction: a full finite-difference sweep of every entry "
                "would take more than a few seconds at this size (symgrad check --mode full runs it)")
        report = replace(report, notes=(*report.notes, note))
    return report


def _auto_mode(
    network: Network, wrt: Sequence[str], method: str, values: dict[str, Any] | None, stderr: IO[str]
) -> str:
    """"full", or "fast" (said on stderr) when the full sweep would take more than a few seconds."""
    import numpy as np

    from symgrad.numeric.finite import total_evaluations

    batch = 4
    if values is not None and network.batched:
        batch = int(np.shape(values["x"])[0])
    shapes = {name: _shape(network, name, batch) for name in network.names}
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    per_forward = sum(size * (1 if name in ("x", "t") else batch) for name, size in sizes.items())
    evaluations = total_evaluations({n: np.broadcast_to(0.0, s) for n, s in shapes.items()}, wrt, method)
    if evaluations * per_forward <= DERIVE_FAST_WORK:
        return "full"
    stderr.write(
        f"symgrad: a full finite-difference sweep would take {evaluations:,} forward evaluations "
        f"(more than a few seconds); checking in fast mode instead, along one random direction "
        "(--mode full to sweep every entry)\n"
    )
    return "fast"


def _shape(network: Network, name: str, batch: int) -> tuple[int, ...]:
    if not network.batched:
        return ()
    if name in getattr(network, "input_shapes", {}) or name in ("x", "t"):  # inputs: one sample's shape
        return (batch, *network.sample_shape(name))
    return tuple(int(dim) for dim in network.param(name).shape)


def _cmd_default(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from symgrad.derive.artifacts import load_artifacts

    network = _network(None)
    # The derivation's text and compiled gradient from disk (symgrad.derive.artifacts), so that SymPy is not
    # loaded; the check runs for real. Any trouble on this path (a check that fails, an error) and the full
    # path below decides: it derives again, checks again, and prints exactly what a first run prints.
    stored = load_artifacts(network, None, 0)
    if stored is not None:
        try:
            report = _run_check(network, args, stderr, stored)
        except Exception:  # the full path raises what it raises
            report = None
        if report is not None and report.ok:
            stdout.write(stored.text + "\n\n" + str(report) + "\n")
            return 0
    return _default_derived(network, args, stdout, stderr)


def _default_derived(network: Network, args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """The default command with the symbolic work done here; what it derived is kept on disk for next time."""
    from symgrad.check.report import cached_derivation
    from symgrad.derive.artifacts import store_artifacts
    from symgrad.render.text import derivation_text

    derivation = cached_derivation(network, None, 0)
    text = derivation_text(derivation)
    report = _run_check(network, args, stderr, derivation)
    stdout.write(text + "\n\n" + str(report) + "\n")
    store_artifacts(network, None, 0, derivation, text)
    return 0 if report.ok and not _unproven(derivation, stderr) else 1


def _cmd_derive(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from symgrad.check.report import cached_derivation
    from symgrad.render.text import derivation_text

    fmt = _format(args)
    network = _network(args.spec)
    values = _values(args, network)
    if values is not None and args.no_check:
        stderr.write("symgrad: error: --values is the point of the check; it cannot go with --no-check\n")
        return 2
    derivation = cached_derivation(network, args.wrt, _kink(args.kink))
    report = None if args.no_check else _run_check(network, args, stderr, values=values)
    if fmt == "text":
        text = derivation_text(derivation, elementary=args.elementary, view=args.view)
        if report is not None:
            text += "\n\n" + str(report)
    else:
        options: dict[str, Any] = {"check": False} if report is None else {"report": report}
        if fmt != "json":
            options["view"] = args.view
        text = _render(derivation, fmt, **options)
    _emit(text, args.output, stdout)
    unproven = _unproven(derivation, stderr)
    return 0 if (report is None or report.ok) and not unproven else 1


def _cmd_check(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if args.batch < 1:
        stderr.write(f"symgrad: error: --batch must be at least 1, got {args.batch}\n")
        return 2
    fmt = _format(args)
    if args.hessian and fmt != "text":
        stderr.write(f"symgrad: error: --hessian writes its table as text, not {fmt}: leave out --format, or write "
                     "to a .txt file\n")
        return 2
    network = _network(args.spec)
    values = _values(args, network)
    report = _run_check(network, args, stderr, values=values)
    text = str(report) if fmt == "text" else _render(report, fmt)
    ok = report.ok
    if args.hessian:
        from symgrad.check.hessian import check_hessian

        second = check_hessian(network, values, seed=args.seed, batch=args.batch)
        text, ok = f"{text}\n\n{second}", ok and second.ok
    _emit(text, args.output, stdout)
    return 0 if ok else 1


def _cmd_gradient(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from symgrad.derive.expression import gradient
    from symgrad.render.text import derivation_text, expr_text

    fmt = _format(args)
    derivation = gradient(args.expression, args.wrt, time_limit=args.time_limit)
    if fmt == "text":
        lines = [derivation_text(derivation, elementary=args.elementary), ""]
        lines.append("gradient = (" + ", ".join(expr_text(derivation.gradient(n)) for n in derivation.wrt) + ")")
        text = "\n".join(lines)
    else:
        text = _render(derivation, fmt)
    _emit(text, args.output, stdout)
    return _unproven(derivation, stderr)


def _unproven(derivation: Derivation, stderr: IO[str]) -> int:
    """1 (and a message) if a step of the derivation could not be proven, else 0."""
    if derivation.verified:
        return 0
    stderr.write("symgrad: some steps are NOT proven equal to sympy.diff (marked in the output)\n")
    return 1


COMMANDS = {None: _cmd_default, "derive": _cmd_derive, "check": _cmd_check, "gradient": _cmd_gradient}


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the ``symgrad`` command; returns the exit status.

    0: everything agreed; 1: a check failed; 2: bad input (the message says what was wrong).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> main(["gradient", "3*x + 4*y"], stdout=out)
    0
    >>> out.getvalue().splitlines()[-1]
    'gradient = (3, 4)'
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, stdout, stderr)
    except SymgradError as error:
        stderr.write(f"symgrad: error: {error}\n")
        return 2
    except OSError as error:
        stderr.write(f"symgrad: error: cannot write {error.filename}: {error.strerror}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
