"""What a check of a user's layer finds besides the gradients' values.

* the likely mistake behind a wrong gradient (:mod:`symgrad.check.diagnose`),
  and, without a spec, the spec to give where one of symgrad's fits;
* notes that leave the gradients right: ``dout`` or ``x`` written in place, a
  parameter changed, a loss that ignores ``dout``;
* a forward that is not deterministic (an unseeded dropout), found before any
  gradient is compared;
* re-entry: a second ``backward`` after the same ``forward`` must give the same
  gradients (a stale cache, the other re-entry mistake, is caught by the
  forward at another point that precedes every checked one);
* vacuous checks: gradients zero on every side, which no check can fail, and
  what made them so (a constant ``dout``, a batch of one sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.check.compare import compare
from symgrad.check.conventions import Point, Run, Runner, copy_value, same
from symgrad.check.diagnose import MATCH_RTOL, Evidence, diagnose, diagnose_error
from symgrad.check.report import CheckRow
from symgrad.errors import SymgradError

if TYPE_CHECKING:
    from symgrad.check.verdicts import LayerCheck
    from symgrad.layers import Layer
    from symgrad.numeric.finite import FiniteResult

__all__: list[str] = []  # check_layer's parts, not an interface of their own


# -- the likely mistake --
def diagnosis(check: LayerCheck, name: str, got: np.ndarray | None, sym: Any, num: np.ndarray | None, main: Run) -> str:
    exact = sym is not None
    single = len(check.point.differentiable) == 1 and len(check.douts) == 1
    warm = None if check.warm is None or not single else np.asarray(check.warm.inputs[check.names[0]], dtype=float)
    dout_after = main.dout_after[0] if main.dout_after is not None and single else None
    expected = np.asarray(sym if exact else num, dtype=float)
    if exact and name in check.point.inputs and got is not None and got.shape == expected.shape:
        got, expected = check.spec_x(got), check.spec_x(expected)  # compared as the spec's rules compute them
    evidence = Evidence(
        name,
        got,
        expected,
        check.env(),
        check.rules if exact else None,
        expected_with=None if exact or not single else (lambda changes: numeric_with(check, name, changes)),
        x_warm=check.spec_x(warm) if exact else warm,
        dout_after=None if dout_after is None else check.spec_dout(np.asarray(dout_after, dtype=float)),
        rtol=MATCH_RTOL if exact else check.tolerance(check.method),
        role=check.role(name),
        names=check.user_names(),
    )
    found = diagnose(evidence)
    if not found and unsteady_backward(check, main, name):
        return FRESH_BACKWARD
    return found


#: The likely mistake when backward() gives other values each time it is called (a dropout drawing its mask there).
FRESH_BACKWARD = (
    "matches a backward() that is not deterministic: a second backward(dout) after the same forward() gave "
    "other values, as when backward() draws a fresh random mask (a dropout) or changes what it reads; for a "
    "dropout use the mask forward() drew and stored (dx = dout * self.mask / (1 - p), the same mask and the "
    "same 1/(1 - p) scale as the forward)"
)


def unsteady_backward(check: LayerCheck, main: Run, name: str) -> bool:
    """Whether a second backward(dout) after the same forward() gives other values for ``name``."""
    if main.error is not None or main.state is None:
        return False
    try:
        raw, grads = check.runner.call_backward(main.state, tuple(copy_value(d) for d in check.douts))
        again = Run(main.outs, check.runner.split_inputs(raw, check.point), grads)
    except Exception:  # reentered() reports a backward that raises on a second call
        return False
    first, second = _as_floats(main.gradient(name)), _as_floats(again.gradient(name))
    return (first is not None and second is not None and first.shape == second.shape
            and not compare(second, first).passes(check.tolerance("exact")))

def numeric_with(check: LayerCheck, name: str, changes: Mapping[str, Any]) -> np.ndarray | None:
    key = repr([(k, np.asarray(v).tobytes()) for k, v in sorted(changes.items())])
    if key not in check.numeric_cache:
        first = check.point.differentiable[0]
        inputs = {first: np.asarray(changes.get("x", check.inputs[first]), dtype=float)}
        dout = changes.get("dout", check.dout)
        try:
            check.numeric_cache[key] = check.numeric(inputs, (dout,)).gradients
        except Exception:  # the layer may not take the changed input; then no candidate
            check.numeric_cache[key] = {}
    found: np.ndarray | None = check.numeric_cache[key].get(name)
    return found

def error_diagnoses(check: LayerCheck, error: BaseException | None) -> dict[str, str]:
    if error is None or check.rules is None:
        return {}
    names = {name: check.role(name) for name in check.names}
    found = diagnose_error(error, check.rules, check.env(), names, check.user_names())
    return {} if found is None else {found[0]: found[1]}

def spec_hint(check: LayerCheck, main: Run) -> str:
    """Where one of symgrad's layers computes what this layer's forward() does, name it."""
    spec = matching_spec(check, main)
    if spec is None:
        return ""
    return f" (give the spec symgrad.{spec!r}, whose forward() matches yours, to have the likely mistake named)"

# -- notes --
def findings(check: LayerCheck, main: Run) -> list[str]:
    notes = list(main.writes)
    if main.dout_after is not None:
        for k, (before_raw, after_raw) in enumerate(zip(check.douts, main.dout_after, strict=True)):
            before, after = np.asarray(before_raw, dtype=float), np.asarray(after_raw, dtype=float)
            if same(before, after):
                continue
            changed: Any = np.argwhere(before != after) if before.shape == after.shape and before.ndim else []
            idx = tuple(int(i) for i in changed[0]) if len(changed) else ()
            label = "dout" if len(check.douts) == 1 else f"dout {k}"
            change = f" ({label}{index_text(idx)} was {at(before, idx)}, is now {at(after, idx)})" if idx else ""
            notes.append(
                f"backward() wrote into its {label} argument in place{change}: the caller's array changes under "
                "it. Compute a new array instead of writing into dout (dx = np.where(check.mask, 0, dout) rather "
                "than dout[check.mask] = 0; dx = dout * y rather than dout *= y), or copy first: dout = dout.copy()"
            )
    if main.error is None and check.runner.takes_dout:
        ignored = ignored_dout(check, main)
        # A backward that gives other values at every call (a fresh mask) fails backward(2 * dout) too, but
        # not for ignoring dout: its rows say so (FRESH_BACKWARD). Asked only then: it calls backward() again.
        if ignored and not any(unsteady_backward(check, main, name) for name in check.names):
            notes += ignored
    return notes

def ignored_dout(check: LayerCheck, main: Run) -> list[str]:
    """Scaling dout by 2 must scale every gradient by 2."""
    twice = check.runner.run(check.point, check.values, tuple(_doubled(d) for d in check.douts), check.warm)
    if twice.error is not None:
        return [f"backward(2 * dout) raised {type(twice.error).__name__}: {twice.error}"]
    same_values, off = True, []
    for name in check.names:
        one, two = _as_floats(main.gradient(name)), _as_floats(twice.gradient(name))
        if one is None or two is None or one.shape != two.shape or not one.size:
            continue
        if not compare(two, 2 * one).passes(max(1e-9, check.tolerance("exact"))):
            off.append(f"d{name}")
            same_values = same_values and same(one, two)
    if not off:
        return []
    effect = "returned the same" if same_values else "did not return twice the"
    text = f"backward() ignores dout: backward(2 * dout) {effect} {', '.join(off)}"
    if check.t is not None:
        text += "; right for a loss called with dout=1, but a scaled loss (dout != 1) gets a wrong gradient"
    return [text + ": multiply by dout (the chain rule)"]

# -- re-entry --
def reentered(check: LayerCheck, rows: list[CheckRow], main: Run) -> list[CheckRow]:
    """A second backward(dout) after the same forward() must give the same gradients."""
    if main.error is not None or main.state is None or not rows:
        return rows
    if any("changed the parameter" in write for write in main.writes):
        return rows  # backward() updated a parameter (a note says so): a second call sees another layer
    try:
        raw, grads = check.runner.call_backward(main.state, tuple(copy_value(d) for d in check.douts))
        again = Run(main.outs, check.runner.split_inputs(raw, check.point), grads)
    except Exception as error:
        first = rows[0]
        message = (
            f"a second backward(dout) after the same forward() raised {type(error).__name__}: {error}; "
            "backward() must leave what forward() cached as it found it, so that it can be called again"
        )
        return [_refailed(first, message), *rows[1:]]
    result = []
    for row in rows:
        first_value, second = _as_floats(main.gradient(row.name)), _as_floats(again.gradient(row.name))
        if (row.passed and first_value is not None and second is not None and first_value.shape == second.shape
                and not compare(second, first_value).passes(check.tolerance("exact"))):
            c = compare(second, first_value)
            idx = c.worst_index
            row = _refailed(row, (
                f"d{row.name}{index_text(idx)}: a second backward(dout) after the same forward() gave "
                f"{at(second, idx)}, the first {at(first_value, idx)}: backward() changes what it reads (it adds "
                "into a stored gradient with +=, or writes into its cache); each call must give the same gradients"
            ))
        result.append(row)
    return result

#: The likely mistake when a fresh layer gets a gradient right that the warmed-up one gets wrong.
STALE = ("matches a stale cache: backward() used values kept from an earlier forward() call (store what "
         "backward() needs in forward() on every call, not only on the first)")


def stale(check: LayerCheck, rows: list[CheckRow], main: Run) -> list[CheckRow]:
    """Name a stale cache wherever a fresh layer gets right what the warmed-up layer got wrong.

    Every check calls forward() once at another point before the checked forward(x) and
    backward(dout). A failing gradient that a fresh copy of the layer (no earlier forward)
    gets right came from something kept from that earlier call, whatever the number of
    inputs and outputs; the spec-based hypothesis covers one input and one output only.
    """
    failing = [row for row in rows if row.status == "FAIL" and not row.diagnosis]
    if check.warm is None or main.error is not None or not failing:
        return rows
    try:
        fresh = check.runner.run(check.point, check.values, check.douts, None)
    except Exception:  # the fresh run raising is not evidence of a stale cache
        return rows
    if fresh.error is not None:
        return rows
    named = set()
    for row in failing:
        reference = row.symbolic if row.symbolic is not None else row.numeric
        expected, warmed, cold = (_as_floats(v) for v in (reference, main.gradient(row.name), fresh.gradient(row.name)))
        if expected is None and check.mode == "fast" and cold is not None and row.backward is not None:
            if cold.size != np.size(row.backward):
                continue
            from symgrad.check.fast import Line  # fast mode, no spec: the fresh gradient along the random direction

            if Line(check, row.name).test(cold.reshape(np.shape(row.backward))).passed:
                named.add(row.name)
            continue
        if expected is None or warmed is None or cold is None or cold.size != expected.size:
            continue
        tol = check.tolerance(check.method if row.symbolic is None else "exact")
        cold = cold.reshape(expected.shape)
        if compare(cold, expected).passes(tol) and not compare(cold, warmed.reshape(expected.shape)).passes(tol):
            named.add(row.name)
    from dataclasses import replace

    return [replace(row, diagnosis=STALE) if row.name in named else row for row in rows]


# -- vacuous checks --
def vacuous(check: LayerCheck, rows: list[CheckRow], numeric: FiniteResult | None, main: Run) -> list[str]:
    """Warnings for a check that cannot fail: nothing compared, or gradients zero on every side."""
    if not rows:
        return [
            f"the check compared nothing: {check.runner.label} has no float input and symgrad found no parameter "
            "with a gradient; pass params= naming the parameters (or give a float input)"
        ]
    zero = [row.name for row in rows if row.status == "ok" and zero_everywhere(check, row, numeric, main)]
    if not zero:
        return []
    sides = "backward(), finite differences" + (" and the spec's rule" if check.rules is not None else "")
    listed = ", ".join(f"d{name}" for name in zero)
    every = " (every gradient: the check compared nothing)" if len(zero) == len(rows) else ""
    return [
        f"{listed} {'is' if len(zero) == 1 else 'are'} zero on every side ({sides}){every}: a gradient that is "
        f"zero everywhere cannot fail the check, so nothing was verified. {zero_cause(check)}"
    ]

def zero_everywhere(check: LayerCheck, row: CheckRow, numeric: FiniteResult | None, main: Run) -> bool:
    # fast mode has no finite-difference gradient: zero is then zero next to dout alone
    noise = float("inf") if numeric is None else max(check.noise(row.name, main.outs, numeric), 1e-300)
    return check.negligible([row.backward, row.numeric, row.symbolic], noise)

def zero_cause(check: LayerCheck) -> str:
    if check.given_dout and any(np.size(d) > 1 and np.ptp(np.asarray(d, dtype=float)) == 0 for d in check.douts):
        return (
            "The dout you passed is the same number everywhere: for a layer whose output does not move when all "
            "its entries move together (a softmax, a normalisation such as batch norm), a constant upstream "
            "gradient makes the gradients zero. Leave dout out (symgrad draws a random one) or pass a random one"
        )
    first = check.x
    if first.ndim >= 2 and first.shape[0] == 1:
        return (
            f"The input has a single sample (shape {first.shape}): a batch statistic (the mean and variance of "
            "batch norm) is then the sample itself, x - mean(x) = 0, and its gradients vanish. Check with a batch "
            "of several samples (4 or more)"
        )
    return "Check at another point (another x or seed), where the gradients are not zero"


def nondeterminism(runner: Runner, point: Point, values: Mapping[str, np.ndarray]) -> CheckRow | None:
    """A failing row when forward() gives different outputs for the same input (an unseeded dropout)."""
    state = runner.new()
    first = runner.forward(state, point, values)
    try:
        copies = runner.forward(runner.new(), point, values)
        again = runner.forward(state, point, values)
    except Exception as error:  # any exception of the user's code is the finding
        message = (
            f"forward() raised {type(error).__name__} when called again with the same input: {error}. No gradient "
            "was compared: finite differences call forward() many times, so it must accept being called again"
        )
        shape = np.shape(first[0])
        return CheckRow("forward", shape, None, None, None, float("inf"), float("inf"), float("inf"), (), "forward",
                        {}, "FAIL", message)
    for carried, outs in ((False, copies), (True, again)):
        for k, (a, b) in enumerate(zip(first, outs, strict=True)):
            if not same(a, b):
                return _unsteady(first, k, np.asarray(a, dtype=float), np.asarray(b, dtype=float), carried=carried)
    return None


def _unsteady(first: tuple[Any, ...], k: int, a: np.ndarray, b: np.ndarray, *, carried: bool) -> CheckRow:
    diff = np.abs(a - b) if a.shape == b.shape else np.ones(1)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.ndim else ()
    which = "" if len(first) == 1 else f" (output {k})"
    values_at = f" {at(a, idx)} then {at(b, idx)} at element {index_text(idx) or '()'}" if a.shape == b.shape else ""
    if carried:  # two copies agree, one object called twice does not: state kept from call to call
        how = "twice on the same layer object"
        cause = (
            "forward() keeps state from call to call: a random generator the layer holds (a dropout drawing from "
            "its own np.random.default_rng) or a carried hidden state (a stateful RNN). For a generator: seed it "
            "in forward() (create np.random.default_rng(seed) there), or pass the mask (set it on the layer and "
            "skip drawing it); for a hidden state: reset it, or check with stateful=False"
        )
    else:
        how = "on two copies of the layer"
        cause = (
            "A random mask drawn at every call (an unseeded dropout) does this: seed it (draw the mask from "
            "np.random.default_rng(seed) created in forward()), or pass the mask (set it on the layer and skip "
            "drawing it), or check the layer in test mode"
        )
    message = (
        f"forward() is nondeterministic: called {how} with the same input it gave different outputs{which}:"
        f"{values_at}. No gradient was compared: finite differences compare forward() at nearby points and would "
        f"measure that, not the derivative. {cause}"
    )
    return CheckRow("forward", a.shape, None, a, b if a.shape == b.shape else None, float("inf"), float("inf"),
                    float(np.max(diff)), idx, "forward vs forward", {}, "FAIL", message,
                    "a nondeterministic forward(): seed its randomness, or pass the mask")


def matching_spec(check: LayerCheck, main: Run) -> Layer | None:
    """One of symgrad's layers whose forward computes what the layer's does at this point, if any."""
    from symgrad.check.rules import evaluate, spec_rules
    from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh

    if len(check.point.inputs) != 1 or len(main.outs) != 1 or not check.point.differentiable or check.x.ndim != 2:
        return None
    x = np.asarray(check.x, dtype=float)
    shapes = [value.shape for value in check.values.values()]
    candidates: list[Any] = []
    if check.t is not None:
        candidates = [SoftmaxCrossEntropy(), HalfSquaredError(), MeanSquaredError()]
    elif not shapes:
        candidates = [ReLU(), Sigmoid(), Tanh()]
    elif len(shapes) == 2 and len(shapes[0]) == 2 and shapes[0][0] == x.shape[1] and shapes[1] == shapes[0][1:]:
        candidates = [Affine(*shapes[0])]
    out = np.asarray(main.outs[0], dtype=float)
    for spec in candidates:
        roles = dict(zip(spec.roles, check.values.values(), strict=True))
        try:
            rules = spec_rules(spec, x_shape=x.shape, param_shapes={r: v.shape for r, v in roles.items()})
            env = {**check.env(), **roles}
            theirs = np.asarray(evaluate(rules.forward, env), dtype=float)
        except (SymgradError, ValueError, TypeError, KeyError):
            continue
        if theirs.size == out.size and compare(out.reshape(theirs.shape), theirs).passes(1e-3):
            return spec  # type: ignore[no-any-return]
    return None


def _refailed(row: CheckRow, message: str) -> CheckRow:
    from dataclasses import replace

    return replace(row, status="FAIL", message=f"{row.message}; {message}" if row.message else message)


def _doubled(dout: Any) -> Any:
    return 2.0 * np.asarray(dout, dtype=float) if np.ndim(dout) else 2.0 * float(dout)


def _as_floats(value: Any) -> np.ndarray | None:
    numbers = (np.ndarray, np.generic, float, int, list, tuple)
    if value is None or np.iscomplexobj(value) or not isinstance(value, numbers):
        return None
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def failed(
    name: str, shape: tuple[int, ...], sym: Any, num: Any, message: str, diagnosis: str, got: Any = None,
    *, largest_of: Any = None,
) -> CheckRow:
    """A row with no comparable backward value: its errors are infinite, ``backward`` is None unless
    it has the row's shape, and the worst index is the right gradient's largest element."""
    inf = float("inf")
    got = got if got is not None and np.shape(got) == shape else None
    worst = largest(num if largest_of is None else largest_of)
    return CheckRow(name, shape, sym, got, num, inf, inf, inf, worst, "backward", {}, "FAIL", message, diagnosis)


def largest(array: Any) -> tuple[int, ...]:
    values = np.abs(np.asarray(array, dtype=float))
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape)) if values.ndim else ()


def index_text(index: tuple[int, ...]) -> str:
    return "" if not index else "[" + ", ".join(str(i) for i in index) + "]"


def at(array: Any, index: tuple[int, ...], digits: int = 6) -> str:
    return f"{float(np.asarray(array, dtype=float)[index]) + 0.0:.{digits}g}"  # + 0.0: no "-0"
