"""Run symgrad's benchmarks (issue 6): ``python benchmarks/run.py [--quick] [--json PATH]``.

Prints a Markdown table per section and a summary of the targets, writes the
raw figures as JSON (default ``benchmarks/results/latest.json``) and the tables
to ``latest.md`` beside it. Sections:

1. derive + lambdify of MLPs of depth 2 and 4, widths 8 to 1024 (and, for
   reference, a symbol per weight at widths 2, 4, 8);
2. the lambdified gradient against a hand-written NumPy backward;
3. the cost of a check (full, fast, one backward) in forward-pass equivalents;
4. the accuracy of central, Richardson and complex-step differences;
5. ``import symgrad`` and the ``symgrad`` command, end to end; the rule proofs
   in a fresh process, with their verdicts on disk and without (``startup.py``);
6. symgrad.check against torch.autograd.gradcheck (when torch is installed),
   and the first check of a new network against gradcheck's fast mode (``startup.py``);
7. the whole fast check in forward passes, widths 16 to 1024 (``fastcheck.py``);
8. the fast check against torch's fast gradcheck at widths 16 to 1024;
9. the peak memory of a fast check against the sampling guard's promise;
10. ``check_layer(mode="fast")`` at a conv layer of CIFAR size, in forward passes (``layercheck.py``);
11. derive + compile of a 32-layer chain and of an RNN unrolled 16 steps, warm (``depth.py``);
12. the N-D layers: each derivation warm, and the compiled derived backward against the textbook layer
    (conv 32x3x32x32, embedding vocab 10000) (``ndlayers.py``).
13. layers derived through their own graph: derivation warm, compiled backward vs textbook (``composite.py``).

``--quick`` runs a small configuration of every section in well under 30 s (for
the smoke test); its figures are noisier and cover fewer widths.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# One BLAS thread (unless the caller says otherwise), set before NumPy loads it: on a shared 2-core
# machine a second thread mostly measures the neighbours, and both sides of every ratio run alike.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script, benchmarks/ is already first on sys.path
    sys.path.insert(0, str(HERE))

import composite  # noqa: E402
import depth  # noqa: E402
import fastcheck  # noqa: E402
import layercheck  # noqa: E402
import ndlayers  # noqa: E402
import sections  # noqa: E402
import startup  # noqa: E402
from report import Section, machine, markdown, today, write_json  # noqa: E402

DEFAULT_JSON = HERE / "results" / "latest.json"

SECTIONS: tuple[Callable[[bool], Section], ...] = (
    sections.derive_scaling,
    sections.symbol_per_weight,
    sections.gradient_speed,
    sections.check_cost,
    sections.fd_accuracy,
    startup.startup,
    startup.rule_proofs,
    sections.torch_side_by_side,
    startup.first_check,
    fastcheck.fast_check_cost,
    fastcheck.fast_vs_torch,
    fastcheck.fast_check_memory,
    layercheck.layer_check_cost,
    depth.depth_scaling,
    ndlayers.nd_layers,
    composite.composite_layers,
)
SECTION_NUMBERS = (1, 1, 2, 3, 4, 5, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small configuration (under 30 s), for smoke tests")
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the JSON (default {DEFAULT_JSON.relative_to(HERE.parent)})",
    )
    parser.add_argument(
        "--only", type=int, action="append", metavar="N", help="run only section N (repeatable), for profiling"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    np.random.seed(0)  # nothing should draw from the global generator; if something does, it is seeded
    results = []
    for number, run in zip(SECTION_NUMBERS, SECTIONS, strict=True):
        if args.only and number not in args.only:
            continue
        start = time.perf_counter()
        section = run(args.quick)
        print(
            f"[section {section.number}: {section.title}: {time.perf_counter() - start:.1f} s]",
            file=sys.stderr,
            flush=True,
        )
        results.append(section)
    info, date = machine(), today()
    text = markdown(results, info, quick=args.quick, date=date)
    print(text)
    write_json(args.json, results, info, quick=args.quick, date=date)
    args.json.with_suffix(".md").write_text(text)
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
