"""Start-up and first use (issue 13, part 5): the command, the rule proofs, the first check of a new network.

* :func:`startup` (section 5): wall time of fresh processes, ``symgrad --help``
  and ``symgrad`` on the article's network, cold (no cache) and warm (its
  symbolic results on disk), against ``python -c pass`` and against importing
  NumPy, SymPy and both alone;
* :func:`rule_proofs` (section 5): the first derivation in a fresh process,
  with the proof verdicts' disk cache empty and then filled;
* :func:`first_check` (section 6): the first ``check(mode='fast')`` of a new
  network against ``torch.autograd.gradcheck(fast_mode=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import models
from report import Section, Target, fmt, ms
from timing import commands_interleaved, interleaved, median, paired_ratio, run_command

import symgrad
from symgrad.check import report as check_report
from symgrad.check.points import sample_values
from symgrad.derive import chain
from symgrad.numeric import compile as compiled_code

PYTHON = sys.executable

__all__ = ["first_check", "forget_derivations", "rule_proofs", "startup"]


def forget_derivations() -> None:
    """Empty symgrad's in-process caches of layer rules, generated code and derivations (not the proofs)."""
    chain._rules.clear()
    compiled_code._compiled.clear()
    check_report._by_structure.clear()


# --- 5. the command ---------------------------------------------------------------------------------


COLD = "`symgrad` (no arguments), cold: no cache"
WARM = "`symgrad` (no arguments), warm: its symbolic results on disk"


def startup(quick: bool) -> Section:
    repeats = 3 if quick else 9
    cli = shutil.which("symgrad", path=str(Path(PYTHON).parent)) or shutil.which("symgrad")
    command = [cli] if cli is not None else [PYTHON, "-m", "symgrad.cli"]
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        'python -c "import numpy"': [PYTHON, "-c", "import numpy"],
        'python -c "import sympy"': [PYTHON, "-c", "import sympy"],
        'python -c "import sympy, numpy"': [PYTHON, "-c", "import sympy, numpy"],
        'python -c "import symgrad"': [PYTHON, "-c", "import symgrad"],
        "symgrad --help": [*command, "--help"],
        COLD: command,
        WARM: command,
    }
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-") as scratch:
        # Cold: SYMGRAD_CACHE_DIR empty, nothing read or written (the derivation and the rule proofs every
        # run, as on the first run after installing). Warm: a cache directory of this benchmark, filled once.
        envs = {COLD: {**os.environ, "SYMGRAD_CACHE_DIR": ""}, WARM: {**os.environ, "SYMGRAD_CACHE_DIR": scratch}}
        run_command(command, env=envs[WARM])  # fills the cache
        cold, warm_run = (run_command(command, env=envs[label])[1] for label in (COLD, WARM))
        if warm_run.returncode != 0 or (warm_run.stdout, warm_run.stderr) != (cold.stdout, cold.stderr):
            msg = "symgrad printed something else with its symbolic results on disk than without"
            raise RuntimeError(msg)
        times = commands_interleaved(commands, repeats, envs=envs)
        imports = _slowest_imports(envs[WARM])
    section = Section(
        5,
        "Start-up: import and the command, wall time of a fresh process",
        ["command", "time", "time / python -c pass", "time / import numpy", "time / import sympy, numpy"],
    )
    base, floor = median(times["python -c pass"]), median(times['python -c "import sympy, numpy"'])
    numpy_alone = median(times['python -c "import numpy"'])
    for name, samples in times.items():
        value = median(samples)
        label = name if name.startswith("`") else f"`{name}`"
        section.rows.append([label, f"{value:.3g} s", fmt(value / base), fmt(value / numpy_alone), fmt(value / floor)])
        section.data[name] = {
            "seconds": value, "ratio_to_python": value / base, "ratio_to_numpy": value / numpy_alone,
            "ratio_to_sympy_numpy": value / floor,
        }
    help_ratio = paired_ratio(times, "symgrad --help", "python -c pass")
    section.data["help_ratio"] = help_ratio
    section.data["warm_to_cold"] = paired_ratio(times, WARM, COLD)
    section.data["warm_to_numpy"] = paired_ratio(times, WARM, 'python -c "import numpy"')
    warm = median(times[WARM])
    section.targets += [
        Target("`symgrad --help` / `python -c pass`", help_ratio, 10.0),
        Target("`symgrad` (no arguments: the article's network) warm, end to end", warm, 0.4, " s"),
    ]
    section.notes += [
        f"Medians of {repeats} runs each, in turns; `{' '.join(command)}`; the ratios to `python -c pass` and "
        "to the imports are of medians, the help ratio the median of per-round ratios.",
        "Cold: `SYMGRAD_CACHE_DIR` empty, so nothing is read or written: every run derives the network with "
        "SymPy and proves each step, as the first run after installing does. Warm: the derivation's text, "
        "the generated NumPy source of its gradient and its names and shapes are on disk "
        "(`symgrad/derive/artifacts.py`, keyed by a hash of symgrad's source files, the SymPy, NumPy and "
        "Python versions, the network and the options), so the command imports no SymPy; the three-way "
        "check (the compiled gradient, the layers' backward(), finite differences, the comparison) runs for "
        "real in both. The benchmark checks first that both print the same bytes.",
        f"Warm / cold, median of per-round ratios: {fmt(section.data['warm_to_cold'])}; warm / "
        f"`import numpy`: {fmt(section.data['warm_to_numpy'])}. The parser and `--help` import neither SymPy "
        "nor NumPy; NumPy is the floor of any command that checks.",
        imports,
    ]
    return section


def _slowest_imports(env: Mapping[str, str]) -> str:
    code = "import io, symgrad.cli; symgrad.cli.main([], stdout=io.StringIO())"
    _, done = run_command([PYTHON, "-X", "importtime", "-c", code], env=env)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if name in ("numpy", "sympy") or name.startswith("symgrad"):
                rows.append((int(parts[1]), name))
    rows.sort(reverse=True)
    listed = ", ".join(f"{name} {us / 1e6:.3f} s" for us, name in rows[:5])
    return (
        f"Largest cumulative imports of the warm command (python -X importtime; nested, so the first symgrad "
        f"module to import NumPy carries its time): {listed}."
    )


# --- 5. the rule proofs -----------------------------------------------------------------------------

#: One of each rule symgrad proves for a batched network, so that the first derivation proves them all.
PROOF_SPEC = (
    "affine(16,16) > sigmoid > affine(16,16) > tanh > affine(16,16) > relu > affine(16,4) > softmax-cross-entropy"
)

_PROOF_CHILD = """
import json, time
import symgrad
from symgrad.check import report
from symgrad.derive import chain, verify
from symgrad.numeric import compile
proven = []
original = verify.prove_matrix_rule
def counting(kind, kink=0):
    proven.append(kind.__name__)
    return original(kind, kink)
verify.prove_matrix_rule = counting
start = time.perf_counter(); symgrad.derive(symgrad.network_from_spec({spec!r})).lambdify()
first = time.perf_counter() - start
chain._rules.clear(); compile._compiled.clear(); report._by_structure.clear()  # the derivation's own work again
start = time.perf_counter(); symgrad.derive(symgrad.network_from_spec({spec!r})).lambdify()
second = time.perf_counter() - start
print(json.dumps([first, second, len(proven)]))
"""


def _proof_child(cache: str) -> tuple[float, float, int]:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
    script = _PROOF_CHILD.format(spec=PROOF_SPEC)
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        msg = f"child process failed: {done.stderr.strip()[-800:]}"
        raise RuntimeError(msg)
    first, second, proofs = json.loads(done.stdout.strip().splitlines()[-1])
    return first, second, proofs


def rule_proofs(quick: bool) -> Section:
    runs = 2 if quick else 5
    section = Section(
        5,
        "Rule proofs: paid once per installation (first derive + lambdify in a fresh process)",
        ["proof verdicts on disk", "rules proven", "first derivation", "second derivation", "one-off cost"],
    )
    samples: dict[str, list[tuple[float, float, int]]] = {"none (cold)": [], "filled (warm)": []}
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-") as scratch:
        for run in range(runs):
            cache = str(Path(scratch) / f"cache{run}")
            samples["none (cold)"].append(_proof_child(cache))  # proves every rule and fills the cache
            samples["filled (warm)"].append(_proof_child(cache))  # reads the verdicts
    for label, rows in samples.items():
        first, second = median([r[0] for r in rows]), median([r[1] for r in rows])
        proofs = max(r[2] for r in rows)
        section.rows.append([label, str(proofs), ms(first), ms(second), ms(first - second)])
        section.data[label] = {"first_seconds": first, "second_seconds": second, "rules_proven": proofs}
    warm = section.data["filled (warm)"]
    cold = section.data["none (cold)"]
    section.targets.append(
        Target("rules proven again in a fresh process once the verdicts are on disk", float(warm["rules_proven"]), 0)
    )
    section.data["proofs_saved_seconds"] = cold["first_seconds"] - warm["first_seconds"]
    section.notes += [
        f"`{PROOF_SPEC}` (one of each layer rule and the softmax cross-entropy gradient); medians of {runs} "
        "pairs of fresh processes, each pair with its own empty `SYMGRAD_CACHE_DIR`. The second derivation in "
        "the same process empties symgrad's in-memory caches first, so it repeats the derivation's own work.",
        "The one-off cost that remains with the verdicts on disk is SymPy's first use (its first sum imports "
        "`sympy.tensor.tensor`) and hashing the rule sources that key the verdicts.",
    ]
    return section


# --- 6. first check of a new network -----------------------------------------------------------------


def _network(hidden: int, title: str | None = None) -> symgrad.Network:
    layers = [symgrad.Affine(16, hidden), symgrad.Sigmoid(), symgrad.Affine(hidden, 16), symgrad.Sigmoid()]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError(), title=title)


def first_check(quick: bool) -> Section:
    section = Section(
        6,
        "First check(mode='fast') of a new network vs torch.autograd.gradcheck(fast_mode=True) "
        "(depth 2, width 16, batch 4)",
        ["symgrad call", "time", "torch gradcheck fast_mode", "ratio"],
    )
    try:
        import torch
    except ImportError:
        section.notes.append("torch not installed: no comparison (pip install torch to run it).")
        section.targets.append(Target("first check of a new network of known layers / gradcheck fast_mode", None, 1))
        return section
    torch.set_num_threads(1)
    repeats, warmup = (40, 2) if quick else (200, 2)
    values = sample_values(models.mlp(16, 2), seed=0, batch=4)
    names = ("x", "W1", "b1", "W2", "b2")
    inputs = tuple(torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in names)
    target = torch.tensor(values["t"], dtype=torch.float64)
    loss = models.torch_loss(torch)

    def func(*args: Any) -> Any:
        return loss(*args, target)

    titles = iter(range(10**6))
    # Networks with a hidden width never seen in this process: every layer rule is built and printed anew.
    unseen = iter([(_network(h), sample_values(_network(h), seed=0, batch=4)) for h in range(17, 17 + repeats + 9)])

    def known_layers() -> Any:
        return symgrad.check(_network(16, title=f"new network {next(titles)}"), values, mode="fast")

    def nothing_remembered() -> Any:
        forget_derivations()
        return symgrad.check(_network(16, title=f"new network {next(titles)}"), values, mode="fast")

    def unseen_sizes() -> Any:
        net, point = next(unseen)
        return symgrad.check(net, point, mode="fast")

    calls: dict[str, Callable[[], Any]] = {
        "torch": lambda: torch.autograd.gradcheck(func, inputs, fast_mode=True),
        "known": known_layers,
        "unseen": unseen_sizes,
        "forgotten": nothing_remembered,
    }
    if not all(call().ok for name, call in calls.items() if name != "torch") or not calls["torch"]():
        msg = "a fast check failed on a correct network"
        raise RuntimeError(msg)
    times = interleaved(calls, repeats, warmup=warmup)
    labels = {
        "known": "a new Network of known layers (a distinct title each call)",
        "unseen": "a new hidden width each call (17, 18, ...): every layer rule built anew",
        "forgotten": "a distinct title, in-memory caches emptied before each call (proof verdicts kept)",
    }
    torch_time = median(times["torch"])
    section.data["torch_seconds"] = torch_time
    for key, label in labels.items():
        ratio = paired_ratio(times, key, "torch")
        section.rows.append([label, ms(median(times[key])), ms(torch_time), fmt(ratio)])
        section.data[key] = {"seconds": median(times[key]), "ratio": ratio}
    section.targets.append(
        Target("first check of a new network of known layers / gradcheck fast_mode", section.data["known"]["ratio"], 1)
    )
    section.notes += [
        f"torch {torch.__version__}, one thread; medians of {repeats} calls each, in turns (ABBA), ratios the "
        "median of per-round ratios. Every symgrad call builds a new Network, derives it and compiles it before "
        "checking: derive() composes each layer's matrix rule, remembered by layer type, sizes and symbols; "
        "the generated NumPy code is remembered by the program it was printed from; the steps of each gradient "
        "are collected when first read, which check() does not do.",
        "A network whose layer sizes were never seen in the process (second row) builds and prints every rule "
        "again; the third row is the cost with nothing remembered but the proof verdicts.",
    ]
    return section
