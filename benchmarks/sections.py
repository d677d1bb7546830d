"""The six sections of the benchmark (issue 6), each a function returning a :class:`Section`."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import models
import numpy as np
from report import Section, Target, fmt, ms
from timing import interleaved, median, once, paired_ratio, run_command

import symgrad
from symgrad.check.points import sample_values
from symgrad.numeric import finite
from symgrad.numeric.directional import directional_check
from symgrad.numeric.reference import reference_backward, reference_loss

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def _child(code: str, *, timeout: float) -> Any:
    """Run ``code`` in a fresh interpreter (with benchmarks/ importable) and return its last line as JSON."""
    script = f"import sys; sys.path.insert(0, {str(HERE)!r})\n{code}"
    _, done = run_command([PYTHON, "-c", script], timeout=timeout)
    if done.returncode != 0:
        msg = f"child process failed: {done.stderr.strip()[-800:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- 1. derive + lambdify -------------------------------------------------------------------

_COLD = """
import json, time
from models import derive_and_lambdify
start = time.perf_counter(); derive_and_lambdify({width}, {depth}); cold = time.perf_counter() - start
start = time.perf_counter(); derive_and_lambdify({width}, {depth}); warm = time.perf_counter() - start
print(json.dumps([cold, warm]))
"""


def derive_scaling(quick: bool) -> Section:
    widths, depths = (8, 32, 128, 512, 1024), (2, 4)
    repeats = 5 if quick else 15
    models.derive_and_lambdify(8, 2)  # prove the per-layer rules once (cached per process)
    fns = {(d, w): partial(models.derive_and_lambdify, w, d) for d in depths for w in widths}
    times = interleaved({f"{d}/{w}": fn for (d, w), fn in fns.items()}, repeats)
    section = Section(1, "Derive + lambdify, matrix form (warm)", ["depth", "width", "time", "time / time at width 8"])
    for d in depths:
        for w in widths:
            ratio = paired_ratio(times, f"{d}/{w}", f"{d}/8")
            section.rows.append([str(d), str(w), ms(median(times[f"{d}/{w}"])), fmt(ratio)])
            section.data[f"depth{d}_width{w}"] = {"seconds": median(times[f"{d}/{w}"]), "ratio_to_width8": ratio}
        ratio = section.data[f"depth{d}_width1024"]["ratio_to_width8"]
        section.targets.append(Target(f"derive+lambdify depth {d}: time at width 1024 / width 8", ratio, 1.3))
    section.targets.append(
        Target("derive+lambdify depth 4, width 1024 (warm)", section.data["depth4_width1024"]["seconds"], 0.3, " s")
    )
    cold = [_child(_COLD.format(width=1024, depth=4), timeout=300) for _ in range(1 if quick else 3)]
    first, second = median([c[0] for c in cold]), median([c[1] for c in cold])
    section.data["cold"] = {"first_seconds": first, "second_seconds": second, "runs": len(cold)}
    section.notes += [
        "Warm: the per-layer matrix rules (Affine, Sigmoid, the loss) are proven against sympy.diff once per "
        "process and cached; the table times a new Network, derive() and lambdify() after that.",
        f"Cold, once per process: the first derive+lambdify of depth 4, width 1024 in a fresh interpreter "
        f"(after `import symgrad`) took {ms(first)}, the second {ms(second)}: the one-off cost of the rule "
        f"proofs and SymPy's first use is about {ms(first - second)} (median of {len(cold)} processes).",
    ]
    return section


# --- 1b. symbol per weight -------------------------------------------------------------------

_PER_WEIGHT = """
import json
from models import symbol_per_weight
print(json.dumps(symbol_per_weight({width})))
"""


def symbol_per_weight(quick: bool) -> Section:
    widths, limit = ((2,) if quick else (2, 4, 8)), 60.0
    section = Section(
        1,
        "For reference: a symbol per weight (explicit sympy.Matrix), depth 2",
        ["width", "weights + biases + inputs", "sympy.diff", "sympy.lambdify", "total", "total / symgrad matrix form"],
    )
    measured: list[tuple[int, float]] = []
    for width in widths:
        predicted = _predict(measured, width)
        if predicted is not None and predicted > limit:
            section.notes.append(f"width {width} not run: predicted {predicted:.0f} s > {limit:.0f} s")
            break
        try:
            diff_s, lambdify_s = _child(_PER_WEIGHT.format(width=width), timeout=limit * 1.5)
        except subprocess.TimeoutExpired:
            section.notes.append(f"width {width} stopped after {limit * 1.5:.0f} s")
            break
        total = diff_s + lambdify_s
        matrix = median(interleaved({"m": partial(models.derive_and_lambdify, width, 2)}, 5)["m"])
        count = 2 * width * width + 3 * width
        section.rows.append(
            [str(width), str(count), f"{diff_s:.3g} s", f"{lambdify_s:.3g} s", f"{total:.3g} s", fmt(total / matrix)]
        )
        section.data[f"width{width}"] = {
            "diff_seconds": diff_s,
            "lambdify_seconds": lambdify_s,
            "matrix_form_seconds": matrix,
        }
        measured.append((width, total))
        if total > limit:
            break
    section.notes.append(
        "Each width runs in a fresh interpreter; the work grows with the number of weights and the size of each "
        "expanded gradient, while matrix form does the same work at every width (section 1)."
    )
    return section


def _predict(measured: list[tuple[int, float]], width: int) -> float | None:
    """The next width's time: the last growth factor again (or the growth in weight count, from one point)."""
    if not measured:
        return None
    last_w, last_t = measured[-1]
    if len(measured) == 1:
        return last_t * (width / last_w) ** 2
    growth = last_t / measured[-2][1]
    return last_t * growth


# --- 2. staged gradient vs hand-written -------------------------------------------------------


def gradient_speed(quick: bool) -> Section:
    plan = {64: 300, 256: 60} if quick else {64: 3000, 256: 600, 1024: 80}
    section = Section(
        2,
        "Lambdified gradient vs a hand-written NumPy backward (depth 2, batch 32)",
        ["width", "hand-written", "symgrad lambdify()", "ratio", "staged function alone", "ratio"],
    )
    for width, repeats in plan.items():
        grad, values = models.gradient_case(width, batch=32)
        agreement = _agreement(grad, values)
        args = [values[name] for name in grad.derivation.inputs]
        times = interleaved(
            {
                "hand": lambda values=values: models.hand_backward(**values),
                "symgrad": lambda grad=grad, values=values: grad(**values),
                "staged": lambda grad=grad, args=args: grad.function(*args),
            },
            repeats,
            warmup=3,
        )
        ratio, staged = paired_ratio(times, "symgrad", "hand"), paired_ratio(times, "staged", "hand")
        section.rows.append(
            [
                str(width),
                ms(median(times["hand"])),
                ms(median(times["symgrad"])),
                fmt(ratio),
                ms(median(times["staged"])),
                fmt(staged),
            ]
        )
        section.data[f"width{width}"] = {
            "hand_seconds": median(times["hand"]),
            "symgrad_seconds": median(times["symgrad"]),
            "staged_seconds": median(times["staged"]),
            "ratio": ratio,
            "staged_ratio": staged,
            "repeats": repeats,
            "max_rel_difference": agreement,
        }
        section.targets.append(Target(f"lambdify() gradient / hand-written, width {width}", ratio, 1.05))
    section.notes += [
        "Both sides return the loss and every gradient (W1, b1, W2, b2 and x) and agree to "
        f"{fmt(max(d['max_rel_difference'] for d in section.data.values()), 2)} relative.",
        "`symgrad lambdify()` is the documented call `derive(net).lambdify()(**values)`, which checks the "
        "inputs' names, dtypes, shapes and finiteness; `staged function alone` is "
        "`CompiledGradient.function`, the generated NumPy code without those checks.",
        "Runs alternate hand / symgrad / staged in ABBA order; the ratio is the median of per-round ratios.",
    ]
    return section


def _agreement(grad: Any, values: dict[str, Any]) -> float:
    loss, grads = grad.evaluate(values)
    hand_loss, hand = models.hand_backward(**values)
    worst = abs(loss - hand_loss) / abs(hand_loss)
    for name, value in grads.items():
        worst = max(worst, float(np.linalg.norm(value - hand[name]) / np.linalg.norm(hand[name])))
    if worst > 1e-10:
        msg = f"symgrad and the hand-written backward disagree ({worst:.3g} relative)"
        raise RuntimeError(msg)
    return worst


# --- 3. check cost ------------------------------------------------------------------------------


def check_cost(quick: bool) -> Section:
    plan = {16: 200, 64: 100} if quick else {16: 400, 64: 200, 256: 60, 1024: 20}
    full_budget = 2.0 if quick else 20.0
    section = Section(
        3,
        "Cost of a check, in forward-pass equivalents (depth 2, batch 4 and 32)",
        [
            "batch",
            "width",
            "parameters",
            "one forward",
            "one backward",
            "random-direction check",
            "check(mode='fast')",
            "check(mode='full')",
        ],
    )
    for batch, (width, repeats) in ((b, item) for b in (4, 32) for item in plan.items()):
        row = _check_row(width, repeats, full_budget, batch)
        section.data[f"batch{batch}_width{width}"] = row
        full = row["full_fwd"]
        full_text = fmt(full) if full is not None else f"not run (~{row['full_evaluations']:,} evaluations)"
        section.rows.append(
            [
                str(batch),
                str(width),
                f"{row['parameters']:,}",
                ms(row["forward_seconds"]),
                fmt(row["backward_fwd"]),
                fmt(row["directional_fwd"]),
                fmt(row["fast_fwd"]),
                full_text,
            ]
        )
        where = f"batch {batch}, width {width}"
        section.targets.append(
            Target(f"fast mode's numeric side (random-direction check) in forward passes, {where}",
                   row["directional_fwd"], 5.0)
        )
        whole = f"whole check(mode='fast') call in forward passes, {where}"
        section.targets.append(Target(whole, row["fast_fwd"], 5.0))
    section.notes += [
        "A forward-pass equivalent is the time of one reference forward pass (the layers' NumPy forward and the "
        "loss) at the same point; each ratio is the median of per-round ratios against a forward run in the same "
        "round.",
        "check(mode='fast') is the whole call `symgrad.check(net, values, mode='fast')` on a network it has seen "
        "before (its derivation and compiled gradient are cached per network object): the symbolic gradient, the "
        "layers' backward, their comparison, and the random-direction check (2 forward passes) of the gradient.",
        "check(mode='full') sweeps every parameter and input with central differences (5 forward passes each: a "
        "pilot for the step and the pair); it is run only where it is predicted to finish in a few seconds.",
        "The whole fast call cannot reach 5 forward passes: it runs the compiled gradient and the layers' backward "
        "(each about 3 to 4 forward passes, as the 'one backward' column shows) before its 2 directional forward "
        "passes. At batch 4 every pass over the parameters (drawing the direction, stepping along it, the inner "
        "product) costs about as much as the forward pass itself, which reads each weight once.",
    ]
    first = section.data[f"batch4_width{max(plan)}"]["first_call_fwd"]
    section.notes.append(
        f"The first check of a new network also derives and compiles: at width {max(plan)} that call cost "
        f"{fmt(first)} forward passes."
    )
    return section


def _check_row(width: int, repeats: int, full_budget: float, batch: int = 4) -> dict[str, Any]:
    net = models.mlp(width, 2)
    values = sample_values(net, seed=0, batch=batch)
    wrt = (*net.params, "x")
    first, _ = once(lambda: symgrad.check(models.mlp(width, 2, title=f"first {width} {batch}"), values, mode="fast"))
    _, symbolic = symgrad.derive(net).lambdify().evaluate(values)

    def objective(v: dict[str, Any]) -> Any:
        return reference_loss(net, v)

    times = interleaved(
        {
            "forward": lambda: reference_loss(net, values),
            "backward": lambda: reference_backward(net, values, wrt),
            "directional": lambda: directional_check(objective, values, wrt, symbolic),
            "fast": lambda: symgrad.check(net, values, mode="fast"),
        },
        repeats,
        warmup=2,
    )
    forward = median(times["forward"])
    evaluations = finite.total_evaluations(values, wrt, "central")
    row: dict[str, Any] = {
        "parameters": sum(int(np.size(values[name])) for name in net.params),
        "forward_seconds": forward,
        "backward_fwd": paired_ratio(times, "backward", "forward"),
        "directional_fwd": paired_ratio(times, "directional", "forward"),
        "fast_fwd": paired_ratio(times, "fast", "forward"),
        "first_call_fwd": first / forward,
        "full_evaluations": evaluations,
        "full_fwd": None,
    }
    if evaluations * forward * 1.5 < full_budget:
        full_times = interleaved(
            {"forward": lambda: reference_loss(net, values), "full": lambda: symgrad.check(net, values)}, 3, warmup=0
        )
        row["full_fwd"] = median(full_times["full"]) / median(full_times["forward"])
    return row


# --- 4. finite-difference accuracy ----------------------------------------------------------------

_ACCURACY_LIMITS = {"central": 2e-10, "richardson": 2e-12, "complex": 1e-15}
#: Steps tried for "the best step": 2**(j/4) times the default, j = -12 .. 12 (1/8 to 8 times).
_STEP_GRID = tuple(2.0 ** (j / 4) for j in range(-12, 13))


def fd_accuracy(quick: bool) -> Section:
    section = Section(
        4,
        "Finite-difference accuracy on smooth float64 functions (|g_fd - g| / |g|, default steps)",
        ["function", "E / largest gradient entry", *finite.METHODS, "central / best step", "richardson / best step",
         "estimated / actual error: central", "richardson", "complex"],
    )
    cases = models.smooth_cases()
    worst = dict.fromkeys(finite.METHODS, 0.0)
    worst_ratio = dict.fromkeys(("central", "richardson"), 0.0)
    calibration: dict[str, list[float]] = {method: [] for method in finite.METHODS}
    for name, (f, values, exact) in cases.items():
        ratio = abs(float(np.real(f(values)))) / max(float(np.max(np.abs(g))) for g in exact.values())  # |E| / |g|
        row, data = [name, fmt(ratio, 2)], section.data.setdefault(name, {})
        results = {method: finite.gradient(f, values, tuple(exact), method=method) for method in finite.METHODS}
        for method, result in results.items():
            error = _relative(result.gradients, exact)
            worst[method] = max(worst[method], error)
            row.append(fmt(error, 2))
            data[method] = error
        for method in ("central", "richardson"):
            best, k, which = _best_step(f, values, exact, method, results[method])
            data[f"{method}_best"], data[f"{method}_best_factor"] = best, k
            worst_ratio[method] = max(worst_ratio[method], data[method] / best)
            row.append(f"{fmt(data[method] / best, 3)} (best at {fmt(k, 2)}x {which})")
        for method, result in results.items():
            estimated = _calibration(result, exact)
            calibration[method].append(estimated)
            data[f"{method}_estimated_over_actual"] = estimated
            row.append(fmt(estimated, 2))
        section.rows.append(row)
    for method, limit in _ACCURACY_LIMITS.items():
        section.targets.append(Target(f"{method} differences, worst relative error", worst[method], limit))
    section.targets.append(
        Target("default central differences, worst error / error at the best step", worst_ratio["central"], 1.5)
    )
    draws = _central_over_draws(2 if quick else _DRAWS)
    section.data["central_over_draws"] = draws
    section.targets.append(Target(f"default central / best step, worst over {draws['cases']} draws (seeds 0-"
                                  f"{draws['seeds'] - 1})", draws["worst"], 1.5))
    section.targets.append(Target(f"default central / best step, worst over the {draws['large_cases']} draws of "
                                  "64 entries or the MLP", draws["worst_large"], 1.5))
    section.notes += [
        "Each elementwise function is summed over a seeded vector z of 4 or 64 standard-normal entries; "
        "the MLP loss is taken at the check's default point. The error is the 2-norm of the difference over all "
        "gradients, relative to the 2-norm of the exact gradient.",
        "Default steps: central, chosen per element: a pilot third difference on -H, 0, H, 2H (H = 8 h, "
        "h = 1.5 eps^(1/3) max(1, |v|) max(1, |E|)^(1/3), the former fixed step) estimates the third "
        "derivative T and the central "
        "difference is taken at 0.9 (eps max(1, |E|) / |T|)^(1/3), clipped to [h/8, H] (Stepleman-Winarsky); "
        "Richardson, a three-level table (h, h/2, h/4), 3.2 eps^(1/7) max(1, |v|) max(1, |E|)^(1/7). Costs: "
        "central 5 evaluations per element + 1 (3 for the pilot, which also bounds the error, and the pair; "
        "was 3 + 1 with the fixed step, 3 + 1 still at a given step), Richardson 6 + 1, complex 1.",
        "Best step: the smallest error over steps 2^(j/4) times the former fixed step (1/8 to 8 times, the same "
        "factor for every element; 'fixed' in the column) and 2^(j/4) times the chosen steps ('chosen'), 50 "
        "steps in all; at 4 entries its error is partly rounding luck, a step whose rounding errors happen to "
        "cancel.",
        f"Over {draws['cases']} draws (the 7 functions at seeds 0-{draws['seeds'] - 1}): default central / best "
        f"step median {fmt(draws['median'], 3)}, worst {fmt(draws['worst'], 3)} ({draws['worst_case']}), "
        f"{draws['above']} above 1.5; the former fixed step: median {fmt(draws['fixed_median'], 3)}, worst "
        f"{fmt(draws['fixed_worst'], 3)}, {draws['fixed_above']} above 1.5. On the 64-entry functions and the MLP "
        f"only: worst {fmt(draws['worst_large'], 3)} (fixed step {fmt(draws['fixed_worst_large'], 3)}). "
        "The misses are 4-entry sums, whose best step is the luckiest of 50.",
        "Estimated / actual error: the 2-norm of FiniteResult.errors over the 2-norm of the actual error "
        "(> 1: the estimate covers the error). Central: the pilot's third derivative times h^2 / 6 (or the "
        "pilot's own central difference's distance, scaled by h^2 / H^2, where larger), plus the rounding "
        "floor; Richardson: the spread of the table's last column, plus rounding; complex: "
        "4 eps (|g_i| + max |g|). Over all cases, median "
        + ", ".join(f"{method} {fmt(float(np.median(values)), 2)}" for method, values in calibration.items())
        + ".",
    ]
    return section


def _best_step(
    f: Any, values: dict[str, Any], exact: dict[str, np.ndarray], method: str, default: finite.FiniteResult
) -> tuple[float, float, str]:
    """The smallest error over the step grids, the factor that reached it and times which steps.

    The grids are multiples of the fixed rule's steps (:func:`finite.default_step`) and, where the
    method chose its own steps per element (central), multiples of those.
    """
    scale = abs(float(np.real(f(values))))
    bases = {"fixed": {n: finite.default_step(values[n], method, scale=scale) for n in exact}}
    if method == "central":
        bases["chosen"] = default.steps
    best, factor, which = np.inf, 1.0, "fixed"
    for label, base in bases.items():
        for k in _STEP_GRID:
            step = {n: k * base[n] for n in exact}
            error = _relative(finite.gradient(f, values, tuple(exact), method=method, step=step).gradients, exact)
            if error < best:
                best, factor, which = error, k, label
    return float(best), factor, which


#: Seeds of the functions for the central step rule's figures over draws.
_DRAWS = 8


def _central_over_draws(seeds: int) -> dict[str, Any]:
    """Default central / best step over the smooth cases at seeds 0 .. seeds - 1, and the fixed rule's."""
    ratios, fixed_ratios, large, fixed_large, names = [], [], [], [], []
    for seed in range(seeds):
        for name, (f, values, exact) in models.smooth_cases(seed).items():
            result = finite.gradient(f, values, tuple(exact))
            best, _, _ = _best_step(f, values, exact, "central", result)
            scale = abs(float(np.real(f(values))))
            fixed = {n: finite.default_step(values[n], "central", scale=scale) for n in exact}
            fixed_error = _relative(finite.gradient(f, values, tuple(exact), step=fixed).gradients, exact)
            ratios.append(_relative(result.gradients, exact) / best)
            fixed_ratios.append(fixed_error / best)
            names.append(f"{name}, seed {seed}")
            if "64" in name or "MLP" in name:
                large.append(ratios[-1])
                fixed_large.append(fixed_ratios[-1])
    worst = int(np.argmax(ratios))
    return {
        "seeds": seeds, "cases": len(ratios), "large_cases": len(large),
        "median": float(np.median(ratios)), "worst": float(ratios[worst]), "worst_case": names[worst],
        "above": int(np.sum(np.array(ratios) > 1.5)), "worst_large": float(max(large)),
        "fixed_median": float(np.median(fixed_ratios)), "fixed_worst": float(max(fixed_ratios)),
        "fixed_above": int(np.sum(np.array(fixed_ratios) > 1.5)), "fixed_worst_large": float(max(fixed_large)),
    }


def _calibration(result: finite.FiniteResult, exact: dict[str, np.ndarray]) -> float:
    estimated = np.sqrt(sum(float(np.sum(result.errors[n] ** 2)) for n in exact))
    actual = np.sqrt(sum(float(np.sum((result.gradients[n] - exact[n]) ** 2)) for n in exact))
    return float(estimated / max(actual, 1e-300))


def _relative(found: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> float:
    diff = np.sqrt(sum(float(np.sum((found[n] - exact[n]) ** 2)) for n in exact))
    norm = np.sqrt(sum(float(np.sum(exact[n] ** 2)) for n in exact))
    return float(diff / norm)


# --- 5. import and the command: see startup.py --------------------------------------------------


# --- 6. torch.autograd.gradcheck ------------------------------------------------------------------


def torch_side_by_side(quick: bool) -> Section:
    section = Section(
        6,
        "symgrad.check vs torch.autograd.gradcheck (depth 2, width 16, batch 4, float64)",
        [
            "mode",
            "torch gradcheck",
            "symgrad, same Network",
            "ratio",
            "symgrad, new equal Network each call",
            "ratio",
            "symgrad, first check of a new structure",
            "ratio",
        ],
    )
    try:
        import torch
    except ImportError:
        section.notes.append("torch not installed: no comparison (pip install torch to run it).")
        section.targets += [
            Target("symgrad full check / gradcheck slow mode", None, 1.0),
            Target("symgrad fast check / gradcheck fast_mode", None, 1.0),
        ]
        return section
    torch.set_num_threads(1)
    net = models.mlp(16, 2)
    values = sample_values(net, seed=0, batch=4)
    names = ("x", "W1", "b1", "W2", "b2")
    inputs = tuple(torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in names)
    target = torch.tensor(values["t"], dtype=torch.float64)
    loss = models.torch_loss(torch)

    def func(*args: Any) -> Any:
        return loss(*args, target)

    titles = iter(range(10**6))
    repeats = {"full": 5 if quick else 15, "fast": 40 if quick else 200}
    for mode, torch_fast in (("full", False), ("fast", True)):
        if not (
            symgrad.check(net, values, mode=mode).ok and torch.autograd.gradcheck(func, inputs, fast_mode=torch_fast)
        ):
            msg = f"a {mode} check failed on a correct network"
            raise RuntimeError(msg)
        times = interleaved(
            {
                "torch": lambda torch_fast=torch_fast: torch.autograd.gradcheck(func, inputs, fast_mode=torch_fast),
                "same": lambda mode=mode: symgrad.check(net, values, mode=mode),
                "equal": lambda mode=mode: symgrad.check(models.mlp(16, 2), values, mode=mode),
                "new": lambda mode=mode: symgrad.check(
                    models.mlp(16, 2, title=f"structure {next(titles)}"), values, mode=mode
                ),
            },
            repeats[mode],
            warmup=2,
        )
        row = ["full: central differences / slow mode" if mode == "full" else "fast: random direction / fast_mode"]
        row.append(ms(median(times["torch"])))
        section.data[mode] = {"torch_seconds": median(times["torch"])}
        for side in ("same", "equal", "new"):
            ratio = paired_ratio(times, side, "torch")
            row += [ms(median(times[side])), fmt(ratio)]
            section.data[mode][f"{side}_seconds"] = median(times[side])
            section.data[mode][f"{side}_ratio"] = ratio
        section.rows.append(row)
        gc_name = "slow mode" if mode == "full" else "fast_mode"
        ratio = section.data[mode]["equal_ratio"]
        section.targets.append(Target(f"symgrad {mode} check / gradcheck {gc_name} (new equal Network)", ratio, 1.0))
    section.notes += [
        f"torch {torch.__version__}, one thread. gradcheck checks the same loss with respect to x, W1, b1, W2, b2 "
        "(symgrad checks the same five) and symgrad also compares each with the layers' backward().",
        "check() derives and compiles a network once: per Network object, and per structure for networks of "
        "symgrad's own layers, so a test suite that builds the same network in every test pays it once. "
        "`first check of a new structure` pays derive() and lambdify() in every call (a distinct title each "
        "time); torch has no such one-off cost.",
        "The full sweep takes 5 forward passes per element (central differences at a step chosen per element "
        "from a pilot third difference, which also bounds their error), torch's slow mode 2; with one fixed "
        "step and 3 per element this ratio was 0.87 (same machine, load about 9).",
    ]
    return section
