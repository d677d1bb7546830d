"""Sections 7-9 of the benchmark (issue 13, part 5): the fast check's cost, against torch, and its memory.

7. the whole ``check(net, values, mode="fast")`` in forward-pass equivalents, depth 2, widths 16
   to 1024, batch 4 and 32 (target: at most 10 at width >= 256);
8. the same call against ``torch.autograd.gradcheck(..., fast_mode=True)`` at widths 16, 64, 256
   and 1024 (target: at most 0.25 at every width);
9. the peak memory of a fast check of ``affine(9000, 9000) > half-squared-error`` (``--quick``:
   ``affine(3000, 3000)``), measured in a fresh interpreter with ``tracemalloc``, against what the
   sampling guard promises (a check holds about :data:`symgrad.check.points.ARRAYS_HELD` arrays the
   size of the point; target: at most 2x).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import models
from report import Section, Target, fmt, ms
from timing import interleaved, median, paired_ratio

import symgrad
from symgrad.check.points import ARRAYS_HELD, MAX_ELEMENTS, sample_values
from symgrad.numeric.directional import directional_check
from symgrad.numeric.reference import reference_backward, reference_loss

HERE = Path(__file__).resolve().parent
NAMES = ("x", "W1", "b1", "W2", "b2")


# --- 7. the whole fast check in forward passes -------------------------------------------------------


def fast_check_cost(quick: bool) -> Section:
    plan = {16: 100, 256: 40} if quick else {16: 400, 64: 300, 256: 150, 1024: 40}
    section = Section(
        7,
        "The whole fast check in forward-pass equivalents (depth 2, batch 4 and 32)",
        ["batch", "width", "one forward", "check(mode='fast')", "the same among its parts", "its symbolic gradient",
         "its layers' backward", "its directional check", "the three together"],
    )
    for batch in (4, 32):
        for width, repeats in plan.items():
            net = models.mlp(width, 2)
            values = sample_values(net, seed=0, batch=batch)
            compiled = symgrad.derive(net).lambdify()
            symbolic = compiled.evaluate(values)[1]
            if not symgrad.check(net, values, mode="fast").ok:
                msg = f"the fast check failed on a correct network (width {width}, batch {batch})"
                raise RuntimeError(msg)
            forward = lambda net=net, values=values: reference_loss(net, values)  # noqa: E731
            fast = lambda net=net, values=values: symgrad.check(net, values, mode="fast")  # noqa: E731
            alone = interleaved({"forward": forward, "fast": fast}, repeats, warmup=2)
            times = interleaved(
                {
                    "forward": forward,
                    "fast": fast,
                    "symbolic": lambda compiled=compiled, values=values: compiled.evaluate(values),
                    "backward": lambda net=net, values=values: reference_backward(net, values, NAMES),
                    "directional": lambda net=net, values=values, symbolic=symbolic: directional_check(
                        lambda v, net=net: reference_loss(net, v), values, NAMES, symbolic
                    ),
                },
                repeats,
                warmup=2,
            )
            parts = ("symbolic", "backward", "directional")
            row = {side: paired_ratio(times, side, "forward") for side in parts}
            row["fast"] = paired_ratio(alone, "fast", "forward")
            row["fast_among_parts"] = paired_ratio(times, "fast", "forward")
            row["parts"] = row["symbolic"] + row["backward"] + row["directional"]
            row["forward_seconds"] = median(alone["forward"])
            section.data[f"batch{batch}_width{width}"] = row
            columns = ("fast", "fast_among_parts", *parts, "parts")
            section.rows.append([str(batch), str(width), ms(row["forward_seconds"]), *(fmt(row[c]) for c in columns)])
            if width >= 256:
                what = f"whole check(mode='fast') in forward passes, batch {batch}, width {width}"
                section.targets.append(Target(what, row["fast"], 10.0))
    section.notes += [
        "A forward-pass equivalent is the time of one reference forward pass (the layers' NumPy forward and the "
        "loss) at the same point; each ratio is the median of per-round ratios against a forward run in the "
        "same round (ABBA order), on a network checked before (derivation and compiled gradient cached). "
        "`check(mode='fast')` (the target) runs in turns with the forward pass alone; `the same among its parts` "
        "is the same call timed in turns with the forward pass and the three parts (which allocate and free "
        "arrays of the same sizes): the two columns differ by the machine's noise and the allocator's state.",
        "The fast check runs the compiled symbolic gradient, the directional check of it (2 forward passes at "
        "v + h u and v - h u, each after writing the working copy of every parameter, and one inner product), "
        "then the layers' backward, and compares the two gradients element by element (one pass over both). "
        "The three middle columns time these alone, on warm memory; `the three together` is their sum, a floor "
        "for the whole call, which adds the comparisons and pays for keeping both gradients alive at once.",
        "Why 10 forward passes is out of reach at batch 4: the forward pass reads each weight once (x W with 4 "
        "rows), while the symbolic gradient and the layers' backward each read the weights twice and write a "
        "gradient as large (x.T G), and the directional check writes two working copies besides its 2 forward "
        "passes. Arrays of a few hundred KiB (width 256) that the check must return fresh (both gradients) are "
        "mapped and zeroed by the kernel in every call, which alone costs about a forward pass each here.",
    ]
    return section


# --- 8. against torch's fast gradcheck ---------------------------------------------------------------


def fast_vs_torch(quick: bool) -> Section:
    widths = {16: 40, 256: 20} if quick else {16: 200, 64: 150, 256: 80, 1024: 20}
    section = Section(
        8,
        "check(mode='fast') vs torch.autograd.gradcheck(fast_mode=True) (depth 2, batch 4, float64)",
        ["width", "torch fast gradcheck", "symgrad, new equal Network", "ratio", "symgrad, same Network", "ratio"],
    )
    try:
        import torch
    except ImportError:
        section.notes.append("torch not installed: no comparison (pip install torch to run it).")
        section.targets += [Target(f"fast check / torch fast gradcheck, width {w}", None, 0.25) for w in widths]
        return section
    torch.set_num_threads(1)
    loss = models.torch_loss(torch)
    for width, repeats in widths.items():
        net = models.mlp(width, 2)
        values = sample_values(net, seed=0, batch=4)
        inputs = tuple(torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in NAMES)
        target = torch.tensor(values["t"], dtype=torch.float64)

        def func(*args: Any, target: Any = target) -> Any:
            return loss(*args, target)

        if not (symgrad.check(net, values, mode="fast").ok and torch.autograd.gradcheck(func, inputs, fast_mode=True)):
            msg = f"a fast check failed on a correct network (width {width})"
            raise RuntimeError(msg)
        fresh = iter([models.mlp(width, 2) for _ in range(repeats + 2)])  # built beforehand, as torch's func is
        times = interleaved(
            {
                "torch": lambda func=func, inputs=inputs: torch.autograd.gradcheck(func, inputs, fast_mode=True),
                "equal": lambda fresh=fresh, values=values: symgrad.check(next(fresh), values, mode="fast"),
                "same": lambda net=net, values=values: symgrad.check(net, values, mode="fast"),
            },
            repeats,
            warmup=2,
        )
        row = {"torch_seconds": median(times["torch"])}
        for side in ("equal", "same"):
            row[f"{side}_seconds"] = median(times[side])
            row[f"{side}_ratio"] = paired_ratio(times, side, "torch")
        section.data[f"width{width}"] = row
        section.rows.append(
            [str(width), ms(row["torch_seconds"]), ms(row["equal_seconds"]), fmt(row["equal_ratio"]),
             ms(row["same_seconds"]), fmt(row["same_ratio"])]
        )
        section.targets.append(Target(f"fast check / torch fast gradcheck, width {width}", row["equal_ratio"], 0.25))
    section.notes += [
        f"torch {torch.__version__}, one thread; gradcheck checks the loss with respect to x, W1, b1, W2, b2 "
        "(symgrad the same five, and it also compares each with the layers' backward()).",
        "`new equal Network` checks a new Network object in every call, built beforehand as torch's function is "
        "(its derivation and compiled gradient are found by structure); `same Network` checks one Network again.",
    ]
    return section


# --- 9. peak memory -----------------------------------------------------------------------------------

_MEMORY = """
import json, resource, sys, tracemalloc
import symgrad
from symgrad.check.points import sample_values
net = symgrad.network_from_spec("affine({n}, {n}) > half-squared-error")
values = sample_values(net, seed=0, batch=4)
point = sum(v.nbytes for v in values.values())
symgrad.check(symgrad.network_from_spec("affine(8, 8) > half-squared-error"), mode="fast")  # imports, rules
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
ok = symgrad.check(net, values, mode="fast").ok
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"ok": ok, "point": point, "peak": peak, "rss_before": before, "rss": rss}}))
"""


def fast_check_memory(quick: bool) -> Section:
    n = 3000 if quick else 9000
    section = Section(
        9,
        f"Peak memory of a fast check of affine({n}, {n}) > half-squared-error (batch 4)",
        ["sample point", "allocated during the check (peak)", "point + check", "the guard's promise", "ratio"],
    )
    script = f"import sys; sys.path.insert(0, {str(HERE)!r})\n" + _MEMORY.format(n=n)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        msg = f"memory child failed: {done.stderr.strip()[-800:]}"
        raise RuntimeError(msg)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if not found["ok"]:
        msg = "the fast check failed on a correct network (memory section)"
        raise RuntimeError(msg)
    promise = ARRAYS_HELD * found["point"]
    total = found["point"] + found["peak"]
    ratio, per_point = total / promise, found["peak"] / found["point"]
    section.data.update(found | {"promise": promise, "ratio": ratio, "peak_per_point": per_point})
    section.rows.append([_mib(found["point"]), _mib(found["peak"]), _mib(total), _mib(promise), fmt(ratio)])
    section.targets.append(Target(f"fast check of affine({n}, {n}): (point + peak) / guard's promise", ratio, 2.0))
    section.notes += [
        "Measured in a fresh interpreter with tracemalloc (NumPy reports its arrays to it): the peak of what the "
        f"check allocates on top of the sample point, {fmt(per_point)} times the point. The process's maximum "
        f"resident size rose from {_mib(found['rss_before'])} to {_mib(found['rss'])} (ru_maxrss).",
        f"The guard (symgrad.check.points) refuses a sample point of more than {MAX_ELEMENTS:,} float64 numbers "
        f"({_mib(MAX_ELEMENTS * 8)}) and says that a check holds about {ARRAYS_HELD} arrays the size of the point: "
        "the promise measured here, for this network's point. A fast check holds the point, the symbolic "
        "gradient and the layers' gradient (which the report keeps); the directional check's working copy is "
        "given up before the layers' backward runs, so it never adds a fourth array. Fewer is not possible "
        "while the report keeps both gradients and compares them element by element.",
    ]
    return section


def _mib(count: float) -> str:
    return f"{count / 2**20:,.0f} MiB"
