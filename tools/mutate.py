"""Mutation testing for symgrad: do the tests notice when the code is changed by one token?

Run from the repository root (inside the project's venv):

    python tools/mutate.py                         # symgrad/layers, derive, numeric, check; 20 per module
    python tools/mutate.py symgrad/numeric/reference.py --sample 0      # every mutant of one module
    python tools/mutate.py --list symgrad/check    # the mutants, without running anything

Each mutant is one AST-level change (an operator swapped, a comparison flipped, a constant
changed, a ``not`` removed, a return value replaced by None, ...). It is written into a private
copy of the repository (never into the working tree), and the tests are run there in tiers: the
tests that mirror the module (``tests/<pkg>/test_<mod>*.py`` and the module's doctests), then,
if it survives, the whole suite with ``-x``, each run in one process with a time limit (a mutant
that hangs counts as killed, noted as a timeout). The score of a package is the share of its
mutants killed, not counting those judged equivalent in ``tools/mutants_equivalent.txt``.

A script of ours rather than mutmut: it runs pytest in a throwaway copy of the tree (so a crash
or Ctrl-C never leaves a mutant behind), it chooses tests by the mirror layout this project
follows, samples deterministically per module, and keeps the judged-equivalent list in
the repository in a form that survives line shifts (function and text, not line numbers).
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue

DEFAULT_PATHS = ("symgrad/layers", "symgrad/derive", "symgrad/numeric", "symgrad/check")
EQUIVALENT_FILE = Path(__file__).with_name("mutants_equivalent.txt")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
    "*.egg-info", "build", "dist", "out",
)
PYTEST = ("-x", "-q", "-p", "no:cacheprovider", "--no-header", "-rfE")
# The second tier: the whole suite, less the tests that exercise only Chromium, pdflatex and the
# benchmarks' own runs (render and benchmarks are not mutated), with hypothesis's seed fixed.
DEFAULT_WIDE = '-m "not browser and not latex and not slow" --hypothesis-seed=0'


BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}
COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}


@dataclass(frozen=True)
class Mutant:
    """One single-token change of one file."""

    path: str  # relative to the repository root, with forward slashes
    line: int
    col: int
    scope: str  # the enclosing function or class, dotted; "<module>" at top level
    original: str
    mutated: str
    source: str  # the whole mutated file
    occurrence: int = 1  # the same change in the same scope, counted in source order

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def change(self) -> str:
        return f"{_short(self.original)} -> {_short(self.mutated)}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    @property
    def key(self) -> str:
        """What identifies the mutant across line shifts: file, scope and the change itself."""
        suffix = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.path}::{self.scope}: {self.change}{suffix}"


@dataclass(frozen=True)
class Outcome:
    """What the tests made of one mutant."""

    status: str  # "killed", "timeout" or "survived"
    tier: str  # the tier that decided it ("mirror" or "all"); "" when it survived
    seconds: float
    killer: str = ""  # the first test that failed, as pytest names it


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


# --- generating mutants ---------------------------------------------------------------------

class _Collector(ast.NodeVisitor):
    """Walks a module and records (node, replacement text) pairs for every mutation it allows."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.AST, str, bool, str]] = []  # node, replacement, is_statement, scope
        self.scope: list[str] = []

    def _add(self, node: ast.AST, replacement: ast.AST, statement: bool = False) -> None:
        ast.fix_missing_locations(replacement)
        text = ast.unparse(replacement)
        self.found.append((node, text if statement else f"({text})", statement, ".".join(self.scope) or "<module>"))

    # contexts that are not behaviour: skipped whole
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:  # f-strings: messages
        return

    def visit_Assert(self, node: ast.Assert) -> None:  # internal invariants and type narrowing
        return

    def visit_Raise(self, node: ast.Raise) -> None:  # the exception and its message
        return

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if any(name.startswith("__") and name.endswith("__") for name in names):  # __all__, __slots__
            return
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        if any(ast.unparse(d).split(".")[-1] == "overload" for d in node.decorator_list):
            return  # a typing stub: never run
        for decorator in node.decorator_list:
            self.visit(decorator)
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                self.visit(base)
        else:
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self.visit(default)
        self.scope.append(node.name)
        for child in node.body:
            self.visit(child)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_scope(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_scope(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_scope(node)

    # the mutations
    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = BINARY_SWAPS.get(type(node.op))
        if swap is not None:
            mutated = copy.deepcopy(node)
            mutated.op = swap()
            self._add(node, mutated)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swap = BINARY_SWAPS.get(type(node.op))
        if swap is not None:
            mutated = copy.deepcopy(node)
            mutated.op = swap()
            self._add(node, mutated, statement=True)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, (ast.Not, ast.USub)):  # `not x` -> `x`, `-x` -> `x`
            self._add(node, copy.deepcopy(node.operand))
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap is not None:
                mutated = copy.deepcopy(node)
                mutated.ops[index] = swap()
                self._add(node, mutated)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        mutated = copy.deepcopy(node)
        mutated.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, mutated)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add(node, ast.Constant(not value))
        elif isinstance(value, int):
            self._add(node, ast.Constant(1 if value == 0 else 0 if value == 1 else value + 1))
        elif isinstance(value, float):
            self._add(node, ast.Constant(1.0 if value == 0.0 else value + 1.0))

    def visit_Return(self, node: ast.Return) -> None:
        # `return False` -> `return None` is left out: falsy either way, and the flip to True is made
        if node.value is not None and not (
            isinstance(node.value, ast.Constant) and (node.value.value is None or node.value.value is False)
        ):
            self._add(node, ast.Return(ast.Constant(None)), statement=True)
        self.generic_visit(node)


def generate(source: str, path: str = "<string>") -> list[Mutant]:
    """Every mutant of ``source``, in source order, each a valid and distinct module."""
    tree = ast.parse(source)
    collector = _Collector()
    collector.visit(tree)
    # ast's column offsets count UTF-8 bytes; work in bytes so non-ASCII text does not shift them
    data = source.encode()
    starts = _line_starts(data)
    original_dump = ast.dump(tree)
    mutants, seen = [], set()
    for node, replacement, statement, scope in collector.found:
        start = starts[node.lineno] + node.col_offset  # type: ignore[attr-defined]
        end = starts[node.end_lineno] + node.end_col_offset  # type: ignore[attr-defined]
        mutated_source = (data[:start] + replacement.encode() + data[end:]).decode()
        try:
            mutated_dump = ast.dump(ast.parse(mutated_source))
        except SyntaxError:
            continue
        if mutated_dump == original_dump or mutated_source in seen:
            continue
        seen.add(mutated_source)
        original = data[start:end].decode()
        mutants.append(Mutant(path, node.lineno, node.col_offset, scope, original,  # type: ignore[attr-defined]
                              replacement if statement else replacement[1:-1], mutated_source))
    counts: dict[tuple[str, str], int] = {}
    numbered = []
    for m in sorted(mutants, key=lambda m: (m.line, m.col)):
        n = counts[m.scope, m.change] = counts.get((m.scope, m.change), 0) + 1
        numbered.append(dataclasses.replace(m, occurrence=n))
    return numbered


def _line_starts(data: bytes) -> list[int]:
    """Byte offset of the start of each line (1-based line numbers index it directly)."""
    starts = [0, 0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def modules(paths: Sequence[str], root: Path) -> list[Path]:
    """The Python files under ``paths``, sorted, without empty ``__init__`` files."""
    found: set[Path] = set()
    for entry in paths:
        target = (root / entry).resolve()
        files = [target] if target.is_file() else sorted(target.rglob("*.py"))
        found.update(f for f in files if "__pycache__" not in f.parts)
    return sorted(found)


def sample(mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """A deterministic sample of ``size`` mutants of one file (all of them when ``size`` is 0)."""
    if size <= 0 or len(mutants) <= size:
        return mutants
    rng = random.Random(f"{seed}:{mutants[0].path}")  # noqa: S311 (a reproducible sample, not a secret)
    return sorted(rng.sample(mutants, size), key=lambda m: (m.line, m.col))


# --- running the tests ----------------------------------------------------------------------

def mirror_tests(path: str, root: Path) -> list[str]:
    """``symgrad/<pkg>/<mod>.py`` -> its doctests and ``tests/<pkg>/test_<mod>.py``, ``test_<mod>_*.py``.

    A module without test files of its own (``layers/affine.py`` is tested by ``tests/layers/``
    as a whole) gets its package's test folder; [] when there is none.
    """
    parts = Path(path).parts
    stem = Path(path).stem
    tests_dir = root / "tests" / Path(*parts[1:-1]) if len(parts) > 2 else root / "tests"
    names = sorted(tests_dir.glob(f"test_{stem}.py")) + sorted(tests_dir.glob(f"test_{stem}_*.py"))
    if not names and tests_dir != root / "tests" and tests_dir.is_dir():
        names = [tests_dir]
    # the doctests last: collected first, the module would be imported before its package (twice)
    return [*(p.relative_to(root).as_posix() for p in names), path] if names else []


def _run_pytest(args: Sequence[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Exit status of pytest in ``cwd`` (None when it ran past ``timeout``) and the first failing test."""
    env = dict(os.environ, PYTHONPATH=str(cwd), PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "pytest", *PYTEST, *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        output, code = "", None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    failed = [line.split(" - ")[0] for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return code, failed[0] if failed else ""


@dataclass
class Runner:
    """Runs mutants in private copies of the repository, one copy per parallel job."""

    root: Path
    wide: tuple[str, ...] | None  # None: the mirror tier only
    timeout_factor: float = 4.0
    min_timeout: float = 20.0

    def tiers(self, mutant: Mutant, tree: Path | None = None) -> list[tuple[str, list[str]]]:
        """The tiers of ``mutant``, with the mirroring tests found in ``tree`` (the copy it runs in: a
        test file added to the working tree during a run is not in the copies)."""
        mirror = mirror_tests(mutant.path, self.root if tree is None else tree)
        wide = [] if self.wide is None else [("all", list(self.wide))]
        return [("mirror", mirror)] * bool(mirror) + wide

    def baseline(self, workdir: Path, tiers: Sequence[tuple[str, list[str]]]) -> dict[str, float]:
        """The time of each tier on the unmutated copy; the tests must pass there."""
        times = {}
        for _name, args in tiers:
            start = time.perf_counter()
            code, failed = _run_pytest(args, workdir, timeout=3600)
            if code != 0:
                msg = f"the unmutated tests fail (pytest {shlex.join(args)} exited {code}: {failed}); fix them first"
                raise SystemExit(msg)
            times[shlex.join(args)] = time.perf_counter() - start
        return times

    def run(self, mutant: Mutant, workdir: Path, times: dict[str, float]) -> Outcome:
        target = workdir / mutant.path
        original = target.read_bytes()
        start = time.perf_counter()
        try:
            target.write_text(mutant.source, encoding="utf-8")
            for name, args in self.tiers(mutant, workdir):
                limit = max(self.min_timeout, self.timeout_factor * times.get(shlex.join(args), 60.0))
                code, failed = _run_pytest(args, workdir, limit)
                if code is None:
                    return Outcome("timeout", name, time.perf_counter() - start)
                if code in (4, 5):  # usage error, nothing collected: a fault of the tool, not a kill
                    msg = f"pytest {shlex.join(args)} exited {code} for {mutant.where}"
                    raise RuntimeError(msg)
                if code != 0:
                    return Outcome("killed", name, time.perf_counter() - start, failed)
            return Outcome("survived", "", time.perf_counter() - start)
        finally:
            target.write_bytes(original)


def make_copy(root: Path, into: Path) -> Path:
    """A copy of the repository to mutate, without VCS data, caches or the venv."""
    workdir = into / "repo"
    shutil.copytree(root, workdir, ignore=COPY_IGNORE)
    return workdir


def run_all(
    mutants: list[Mutant], runner: Runner, jobs: int, log: bool = True, results: dict[Mutant, Outcome] | None = None
) -> dict[Mutant, Outcome]:
    """Every mutant's outcome, added to ``results`` as each ends (so an interrupted run keeps the finished
    ones); temporary copies are removed however this ends (Ctrl-C included)."""
    results = {} if results is None else results
    if not mutants:
        return results
    with tempfile.TemporaryDirectory(prefix="symgrad-mutants-") as tmp:
        copies: Queue[Path] = Queue()
        for index in range(max(1, jobs)):
            copies.put(make_copy(runner.root, Path(tmp) / str(index)))
        probe = copies.get()
        tiers = sorted({(n, tuple(a)) for m in mutants for n, a in runner.tiers(m, probe)},
                       key=lambda t: t[0] != "mirror")
        times = runner.baseline(probe, [(n, list(a)) for n, a in tiers])
        copies.put(probe)
        done = [0]

        def one(mutant: Mutant) -> None:
            workdir = copies.get()
            try:
                outcome = runner.run(mutant, workdir, times)
            finally:
                copies.put(workdir)
            results[mutant] = outcome
            done[0] += 1
            if log:
                tier = f" ({outcome.tier}: {outcome.killer or 'no failure named'})" if outcome.tier else ""
                print(f"[{done[0]}/{len(mutants)}] {outcome.status}{tier} {outcome.seconds:.0f}s "
                      f"{mutant.where}: {mutant.change}", file=sys.stderr, flush=True)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, m) for m in mutants]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return results


# --- reporting ------------------------------------------------------------------------------

def read_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """Judged-equivalent mutants: ``key  # reason`` lines; blank lines and ``#`` lines ignored."""
    judged: dict[str, str] = {}
    if path.exists():
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                key, _, reason = line.partition("  # ")
                judged[key.strip()] = reason.strip()
    return judged


def package_of(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def summarize(results: dict[Mutant, Outcome], judged: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per package and per file: mutants, killed, timeouts, survivors, equivalents and the score."""
    table: dict[str, dict[str, float]] = {}
    for mutant, outcome in results.items():
        for group in (package_of(mutant.path), mutant.path):
            row = table.setdefault(group, dict.fromkeys(("mutants", "killed", "timeout", "survived", "equivalent"), 0))
            row["mutants"] += 1
            if outcome.status == "survived":
                row["equivalent" if mutant.key in judged else "survived"] += 1
            else:
                row["killed"] += 1
                row["timeout"] += outcome.status == "timeout"
    for row in table.values():
        counted = row["mutants"] - row["equivalent"]
        row["score"] = 100.0 * row["killed"] / counted if counted else 100.0
    return table


def _label(m: Mutant) -> str:
    """The mutant's function, and its number when the same change occurs more than once there."""
    return m.scope + (f" #{m.occurrence}" if m.occurrence > 1 else "")


def report(results: dict[Mutant, Outcome], judged: dict[str, str]) -> str:
    table = summarize(results, judged)
    lines = ["", f"{'package / module':<40} {'mutants':>7} {'killed':>6} {'timeout':>7} {'equiv':>5} "
             f"{'alive':>5} {'score':>6}"]
    for group in sorted(table, key=lambda g: (package_of(g) if g.endswith(".py") else g, g.endswith(".py"), g)):
        row = table[group]
        label = f"  {group}" if group.endswith(".py") else group
        lines.append(f"{label:<40} {row['mutants']:>7.0f} {row['killed']:>6.0f} {row['timeout']:>7.0f} "
                     f"{row['equivalent']:>5.0f} {row['survived']:>5.0f} {row['score']:>5.1f}%")
    survivors = sorted((m for m, o in results.items() if o.status == "survived"), key=lambda m: (m.path, m.line, m.col))
    alive = [m for m in survivors if m.key not in judged]
    lines += ["", f"Surviving mutants ({len(alive)}):"] + [f"  {m.where}: {m.change}   [{_label(m)}]" for m in alive]
    equivalent = [m for m in survivors if m.key in judged]
    if equivalent:
        lines += ["", f"Judged equivalent ({len(equivalent)}):"]
        lines += [f"  {m.where}: {m.change}   ({judged[m.key]})" for m in equivalent]
    timeouts = [m for m, o in results.items() if o.status == "timeout"]
    if timeouts:
        lines += ["", f"Killed by timeout ({len(timeouts)}):"] + [f"  {m.where}: {m.change}" for m in sorted(
            timeouts, key=lambda m: (m.path, m.line))]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS), help="files or folders to mutate")
    parser.add_argument("--sample", type=int, default=20, help="mutants per module, 0 for all (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-module sample (default 0)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    parser.add_argument("--wide", default=DEFAULT_WIDE, help=f"pytest arguments of the second tier ({DEFAULT_WIDE})")
    parser.add_argument("--mirror-only", action="store_true", help="run only the mirroring tests (a quick survey)")
    parser.add_argument("--rerun", type=Path, help="a previous --json file: its killed mutants are not run again")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--json", type=Path, help="also write every outcome to this file")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 if a package scores below this")
    return parser.parse_args(argv)


def _previous_kills(path: Path) -> dict[tuple[str, str], Outcome]:
    """Killed mutants of an earlier run, by key and digest of the mutated file (the same mutant, same code)."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {(r["key"], r["digest"]): Outcome(r["status"], f"{r['tier']}, earlier run", r["seconds"], r["killer"])
            for r in rows if r["status"] != "survived"}


def _write_json(path: Path, results: dict[Mutant, Outcome]) -> None:
    rows = [{**asdict(m), "source": None, "key": m.key, "digest": m.digest, **asdict(o)}
            for m, o in sorted(results.items(), key=lambda item: (item[0].path, item[0].line, item[0].col))]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


def collect(paths: Sequence[str], root: Path, size: int, seed: int) -> Iterator[Mutant]:
    for file in modules(paths, root):
        rel = file.relative_to(root).as_posix()
        yield from sample(generate(file.read_text(encoding="utf-8"), rel), size, seed)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    mutants = list(collect(args.paths, root, args.sample, args.seed))
    if args.list:
        for m in mutants:
            print(f"{m.where}: {m.change}   [{_label(m)}]")
        print(f"{len(mutants)} mutants", file=sys.stderr)
        return 0
    runner = Runner(root, None if args.mirror_only else tuple(shlex.split(args.wide)))
    previous = _previous_kills(args.rerun) if args.rerun else {}
    results = {m: previous[(m.key, m.digest)] for m in mutants if (m.key, m.digest) in previous}
    start = time.perf_counter()
    try:
        run_all([m for m in mutants if m not in results], runner, args.jobs, results=results)
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt):
            if args.json:  # the finished ones, so that --rerun can go on from there
                _write_json(args.json, results)
            raise
        print("interrupted: the working tree was never touched; temporary copies removed", file=sys.stderr)
        print(report(results, read_equivalent()))
        print(f"\ninterrupted after {len(results)} of {len(mutants)} mutants")
        if args.json:  # the finished ones, so that --rerun can go on from there
            _write_json(args.json, results)
        return 130
    judged = read_equivalent()
    print(report(results, judged))
    print(f"\n{len(mutants)} mutants in {time.perf_counter() - start:.0f} s "
          f"(sample {args.sample or 'all'} per module, seed {args.seed}, {args.jobs} job(s))")
    if args.json:
        _write_json(args.json, results)
    table = summarize(results, judged)
    low = [g for g, row in table.items() if not g.endswith(".py") and row["score"] < args.fail_under]
    return 1 if low else 0


if __name__ == "__main__":
    raise SystemExit(main())
