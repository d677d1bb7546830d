"""The verdict on each gradient of a user's layer: compared three ways, at the layer's own precision.

:class:`LayerCheck` holds one point (the inputs, parameters and upstream
gradients of :func:`symgrad.check_layer`) and turns what the layer's backward
gave into rows: against finite differences of the layer's forward (in the
dtype the layer computes in, with that dtype's steps and tolerances), against
the spec's rule when there is one. A gradient of the right values but the
wrong shape is a shape finding; at a kink (a stencil across it) backward() is
judged against the one-sided derivatives ("subgradient" between them, FAIL
outside); what the
likely mistake is, and what else the run showed, is :mod:`symgrad.check.findings`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from symgrad.check import fast, kinks
from symgrad.check import findings as found
from symgrad.check.compare import Comparison, compare, tolerance
from symgrad.check.conventions import MISSING, Point, Run, Runner, in_dtype
from symgrad.check.findings import (
    at,
    failed,
    index_text,
    largest,
)
from symgrad.check.kinks import between as one_sided_between
from symgrad.check.report import CheckReport, CheckRow, relative_estimate, within_estimates
from symgrad.check.rules import SpecRules, evaluate, to_text
from symgrad.numeric import finite

__all__ = ["SLIGHTLY_OTHER"]  # LayerCheck is check_layer's, not an interface of its own

#: When backward() equals the spec's rule exactly and finite differences of the layer's forward()
#: disagree with both by at most this (relative), the forward computes a slightly different function
#: (the book's cross_entropy_error adds 1e-7 inside its log): a note, not a failure.
SLIGHTLY_OTHER = 1e-3

#: Finite-difference step factors by the dtype a layer computes in (times max(1, |v|)): eps^(1/3)
#: for central differences, eps^(1/5) for Richardson (see symgrad.numeric.finite).
_STEP_FACTORS = {
    name: {"central": float(np.finfo(name).eps) ** (1 / 3), "richardson": float(np.finfo(name).eps) ** (1 / 5)}
    for name in ("float32", "float16")
}
# The complex step in complex64: no subtraction, so any step far below float32's resolution of v and far
# above its underflow (1e-38, reached by h times a small derivative) serves.
_STEP_FACTORS["float32"]["complex"] = 1e-15


@dataclass
class LayerCheck:
    """One check of a user's layer at one point."""

    runner: Runner
    rules: SpecRules | None
    point: Point
    values: dict[str, np.ndarray]  # the parameters, float64
    douts: tuple[Any, ...]
    warm: Point | None
    method: str
    rtol: float | None
    seed: int
    dtype: str
    notes: list[str]
    warnings: list[str] = field(default_factory=list)
    given_dout: bool = False
    view: tuple[int, int] | None = None  # x as the matrix the spec takes
    mode: str = "full"  # "fast": each gradient along one random direction (symgrad.check.fast)
    progress: Callable[[int, int], None] | None = None  # of the full sweep
    evaluations: int = 0
    slightly_other: float = SLIGHTLY_OTHER
    numeric_cache: dict[str, Any] = field(default_factory=dict)

    # -- the point --
    @property
    def inputs(self) -> dict[str, np.ndarray]:
        """The differentiable inputs, float64."""
        return {name: np.asarray(self.point.inputs[name], dtype=float) for name in self.point.differentiable}

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.point.differentiable, *self.values)

    @property
    def x(self) -> np.ndarray:
        return next(iter(self.point.inputs.values()))

    @property
    def dout(self) -> Any:
        return self.douts[0] if len(self.douts) == 1 else self.douts

    @property
    def t(self) -> Any:
        return self.point.t

    def tolerance(self, kind: str) -> float:
        return tolerance(kind, self.dtype, override=self.rtol)

    def report(self) -> CheckReport:
        main = self.runner.run(self.point, self.values, self.douts, self.warm)
        if not self.names:  # integer inputs only, and no parameter: nothing to compare
            self.notes += found.findings(self, main)
            self.warnings += found.vacuous(self, [], None, main)
            return self.build([])
        numeric = self.numeric(self.inputs, self.douts, self.progress) if self.mode == "full" else None
        forward_row = self.forward_row(main.outs)
        symbolic = self.symbolic() if forward_row is None else {}
        self.notes += found.findings(self, main)
        errors = found.error_diagnoses(self, main.error)
        rows = [self.row(name, symbolic.get(name), main, numeric, errors.get(name, "")) for name in self.names]
        rows = found.reentered(self, rows, main)
        rows = found.stale(self, rows, main)
        self.warnings += found.vacuous(self, rows, numeric, main)
        if forward_row is not None:
            rows.insert(0, forward_row)
        return self.build(rows)

    def build(self, rows: list[CheckRow]) -> CheckReport:
        upstream = {"dout": self.dout} if len(self.douts) == 1 else {f"dout{k}": d for k, d in enumerate(self.douts)}
        point: dict[str, Any] = {**self.point.inputs, **self.values, **upstream}
        if self.t is not None:
            point["t"] = self.t
        return CheckReport(
            self.title(), tuple(rows), self.method, self.mode, self.seed, point, self.evaluations,
            notes=tuple(self.notes), dtype=self.dtype, warnings=tuple(self.warnings),
        )

    def title(self) -> str:
        against = f"symgrad {self.rules.title}" if self.rules is not None else "finite differences"
        return f"your {self.runner.label} against {against}"

    # -- the three sides --
    def objective(self, douts: tuple[Any, ...]) -> Callable[[Mapping[str, Any]], Any]:
        state = self.runner.new()
        casts = {name: self.point.inputs[name].dtype for name in self.point.differentiable}

        def energy(v: Mapping[str, Any]) -> Any:
            inputs = {name: in_dtype(v[name], casts[name]) if name in casts else value
                      for name, value in self.point.inputs.items()}
            params = {name: np.array(v[name]) for name in self.values}
            outs = self.runner.forward(state, Point(inputs, self.t), params)
            return sum(np.sum(_wide(out) * dout) for out, dout in zip(outs, douts, strict=True))

        return energy

    def numeric(self, inputs: Mapping[str, np.ndarray], douts: tuple[Any, ...],
                progress: Callable[[int, int], None] | None = None) -> finite.FiniteResult:
        point = {**inputs, **self.values}
        result = finite.gradient(self.objective(douts), point, self.names, method=self.method, step=self.steps(point),
                                 progress=progress)
        self.evaluations += result.evaluations
        if self.method == "complex" and self.dtype == "float32":  # computed in complex64: float32's last places
            widen = float(np.finfo(np.float32).eps / np.finfo(np.float64).eps)
            result = replace(result, errors={name: error * widen for name, error in result.errors.items()})
        return result

    def steps(self, point: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Steps for the precision each value is used in: float32 needs far larger steps than float64."""
        steps = {}
        for name in self.names:
            factors = self.step_factors(name)
            if factors is not None and self.method in factors:
                steps[name] = factors[self.method] * np.maximum(1.0, np.abs(point[name]))
        return steps or None

    def step_factors(self, name: str) -> dict[str, float] | None:
        """The step factors of the precision ``name`` is used in; None for float64 (the default steps)."""
        kind = (self.point.inputs[name] if name in self.point.inputs else self.runner_dtype(name))
        return _STEP_FACTORS.get(np.dtype(kind.dtype if isinstance(kind, np.ndarray) else kind).name)

    def runner_dtype(self, name: str) -> Any:
        return self.runner.dtypes.get(name, np.float64)

    def env(self, **changes: Any) -> dict[str, Any]:
        x = np.asarray(self.x, dtype=float)
        env: dict[str, Any] = {"x": self.spec_x(x), "dout": self.spec_dout(self.dout), "t": _spec_target(self.t, x)}
        if self.rules is not None:
            env.update(self.rules.constants)
        env.update({self.runner.roles[name]: value for name, value in self.values.items()})
        if self.rules is not None and len(self.rules.inputs) > 1:  # a cell: each input and upstream by its name
            given = (np.asarray(v, dtype=float) for v in self.point.inputs.values())
            env.update(zip(self.rules.inputs, given, strict=True))
            env.update(zip(self.rules.upstreams, self.douts, strict=True))
        env.update(changes)
        return env

    def spec_x(self, x: Any) -> Any:
        """An array of x's shape as the matrix the spec takes (see :attr:`view`)."""
        if self.view is None or x is None or np.ndim(x) <= 2 or np.size(x) != self.view[0] * self.view[1]:
            return x
        return np.reshape(x, self.view)

    def spec_dout(self, dout: Any) -> Any:
        """dout as the spec takes it: a row per row of :meth:`spec_x`."""
        if self.view is None or dout is None or np.ndim(dout) <= 2:
            return dout
        return np.reshape(dout, (self.view[0], -1))

    def symbolic(self) -> dict[str, np.ndarray]:
        if self.rules is None:
            return {}
        grads = {}
        for name in self.names:
            value = np.asarray(evaluate(self.rules.grads[self.role(name)], self.env()), dtype=float)
            grads[name] = value.reshape(self.shape(name))
        return grads

    def role(self, name: str) -> str:
        if name in self.point.inputs and self.rules is not None and len(self.rules.inputs) > 1:
            return self.rules.inputs[list(self.point.inputs).index(name)]  # a cell's inputs, in the order taken
        return "x" if name in self.point.inputs else self.runner.roles[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.point.inputs[name].shape if name in self.point.inputs else self.values[name].shape

    def formula(self, name: str) -> str:
        if self.rules is None:
            return ""
        return f"d{name} = {to_text(self.rules.grads[self.role(name)], self.rules, self.user_names())}"

    def user_names(self) -> dict[str, str]:
        """The user's name of each spec role (``weight`` for ``W``)."""
        return {role: name for name, role in self.runner.roles.items()}

    def expected(self, name: str) -> str:
        formula = self.formula(name)
        return f"expected {formula}, shape {self.shape(name)}" if formula else f"expected shape {self.shape(name)}"

    # -- rows --
    def forward_row(self, outs: tuple[Any, ...]) -> CheckRow | None:
        if self.rules is None:
            return None
        spec_out = np.asarray(evaluate(self.rules.forward, self.env()), dtype=float)
        out = _wide(outs[0])
        tol = self.tolerance(self.method)
        formula = to_text(self.rules.forward)
        same_shape = np.squeeze(spec_out).shape == np.squeeze(out).shape or self.x.ndim > 2
        if len(outs) == len(self.rules.upstreams) and spec_out.size == out.size and same_shape:
            c = compare(out.reshape(spec_out.shape), spec_out)
            if c.passes(tol):
                return None
            where = index_text(c.worst_index)
            mine, theirs = at(out.reshape(spec_out.shape), c.worst_index, 10), at(spec_out, c.worst_index, 10)
            place = f"at element {where}" if where else "in value"
            text = f"your forward() differs from the spec's ({formula}) {place}: yours {mine}, the spec's {theirs}"
            text += _not_inverted(self.rules, out.reshape(spec_out.shape), spec_out)
            if c.rel_error <= SLIGHTLY_OTHER:
                self.notes.append(
                    f"{text} (relative difference {c.rel_error:.2g}): a slightly different function (a small constant "
                    "such as 1e-7 inside a log does this); gradients are compared with the spec's all the same"
                )
                return None
        else:
            c = Comparison(float("inf"), float("inf"), float("inf"), largest(spec_out))
            shapes = ", ".join(str(np.shape(o)) for o in outs)
            text = f"your forward() returned shape {shapes}; the spec's ({formula}) gives {spec_out.shape}"
        message = (
            f"{text}. Gradients of two different functions cannot be compared, so the gradient rows below "
            "compare backward() with finite differences of your forward() only"
        )
        shown = out if c.rel_error != float("inf") else None
        return CheckRow("forward", spec_out.shape, spec_out, shown, None, c.rel_error, c.elem_rel_error, c.abs_error,
                        c.worst_index, "forward vs spec", {"forward": tol}, "FAIL", message)

    def row(self, name: str, sym: Any, main: Run, numeric: finite.FiniteResult | None,
            error_diagnosis: str) -> CheckRow:
        num = None if numeric is None else numeric.gradients[name]
        shown = num if num is not None else (sym if sym is not None else np.zeros(self.shape(name)))
        if main.error is not None:
            error = main.error
            first = self.names[0]
            raised = f"d{name}: backward() raised before returning it (see d{first})"
            if name == first:
                raised = f"d{name}: backward() raised {type(error).__name__}: {error}"
            return failed(name, self.shape(name), sym, num, f"{raised}; {self.expected(name)}", error_diagnosis,
                          largest_of=shown)
        got, problem = self.valid(name, main.gradient(name))
        if problem:
            shape_finding = self.shape_finding(name, got, num)
            if shape_finding:
                return failed(name, self.shape(name), sym, num, f"{problem}; {self.expected(name)}", shape_finding,
                              largest_of=shown)
            diagnosis = ""
            if got is not None and (num is not None or sym is not None):
                diagnosis = found.diagnosis(self, name, got, sym, num, main)
            return failed(name, self.shape(name), sym, num, f"{problem}; {self.expected(name)}", diagnosis, got,
                          largest_of=shown)
        assert got is not None
        if numeric is None:
            return fast.fast_row(self, name, sym, got, main)
        return self.compared(name, sym, got, shown, main, numeric)

    def valid(self, name: str, raw: Any) -> tuple[np.ndarray | None, str]:
        where = self.where(name)
        what = f"d{name} ({where})"
        unstored = ""
        if name in getattr(self.runner, "unstored", ()):
            unstored = (f" ({name} is a float array attribute that the output depends on, so symgrad takes it for a "
                        f"parameter: store its gradient in self.d{name}, or name the parameters with params=[...] "
                        f"if {name} is a constant)")
        if raw is MISSING and self.runner.kind == "params/grads lists" and name in self.values:
            return None, (
                f"d{name}: backward() did not write {where}: symgrad fills self.grads with NaN before backward(), "
                f"and {where} is NaN still; write the gradient ({where}[...] = d{name}) rather than add to it with +="
            )
        if raw is MISSING:
            return None, f"d{name}: backward() did not store it: the layer has no {where} after backward(){unstored}"
        if raw is None:
            return None, f"{what} is None: backward() did not compute it{unstored}"
        try:
            if np.iscomplexobj(raw):  # np.array(..., dtype=float) would drop the imaginary part with a warning
                return None, f"{what} is complex ({np.asarray(raw).dtype}): backward() must return real values"
            got = np.array(raw, dtype=float)
        except (TypeError, ValueError):
            return None, f"{what} is a {type(raw).__name__}, not an array of numbers"
        if got.shape != self.shape(name):
            return got, f"{what} has shape {got.shape}"
        if not np.all(np.isfinite(got)):
            text = f"{what} holds NaN or infinity"
            if self.runner.kind == "params/grads lists" and name in self.values:
                text += (" (symgrad fills self.grads with NaN before backward(), so that one not written shows: "
                         "write the gradient, self.grads[i][...] = dW, rather than add to it with +=)")
            return None, text
        return got, ""

    def where(self, name: str) -> str:
        if name not in self.point.inputs:
            return self.runner.where[name]
        if len(self.point.differentiable) == 1:
            return "backward()'s return value"
        return f"backward()'s return value for {name}"

    def shape_finding(self, name: str, got: np.ndarray | None, num: np.ndarray | None) -> str:
        """A diagnosis when the values are right and only the shape is not (keepdims=True, say)."""
        want = self.shape(name)
        if got is None or got.size != int(np.prod(want)) or got.shape == want:
            return ""
        if num is None:  # fast mode: the reshaped values along the random direction
            if not fast.agrees(self, name, got.reshape(want)):
                return ""
        elif not compare(got.reshape(want), num, self.numeric_floor_value(num)).passes(self.tolerance(self.method)):
            return ""
        squeezed = tuple(d for d in want if d != 1)
        cause = ("a sum with keepdims=True" if np.squeeze(got).shape == squeezed and got.ndim > len(want)
                 else "a missing reshape")
        try:  # a flattened gradient, (12,) for (4, 3), does not broadcast at all
            effect = f"would otherwise broadcast {name} to shape {np.broadcast_shapes(want, got.shape)}"
        except ValueError:
            effect = f"would otherwise fail: shapes {want} and {got.shape} do not broadcast"
        return (
            f"a shape mismatch, not a wrong value: d{name} has shape {got.shape} where {name} has shape {want}, "
            f"and its values are right (they match finite differences once reshaped); likely {cause}: "
            f"return an array of {name}'s shape (np.sum(dout, axis=0) without keepdims, or .reshape({name}.shape)); "
            f"an update such as {name} -= lr * d{name} {effect}"
        )

    def numeric_floor_value(self, num: np.ndarray) -> float:
        return 1e-12 * max(1.0, float(np.max(np.abs(num), initial=0.0)))

    def compared(
        self, name: str, sym: Any, got: np.ndarray, num: np.ndarray, main: Run, numeric: finite.FiniteResult
    ) -> CheckRow:
        exact, ntol = self.tolerance("exact"), self.tolerance(self.method)
        floor = self.numeric_floor(name, got, main, numeric)
        pairs: dict[str, tuple[Comparison, float]] = {"numeric vs backward": (compare(num, got, floor), ntol)}
        if sym is not None:
            pairs = {
                "backward vs symbolic": (compare(got, sym), exact),
                "numeric vs symbolic": (compare(num, sym, floor), ntol),
                **pairs,
            }
        failing = {pair for pair, (c, tol) in pairs.items() if not c.passes(tol)}
        worst_pair = max(pairs, key=lambda p: pairs[p][0].rel_error / pairs[p][1])
        worst, tol = pairs[worst_pair]
        status, message, diagnosis = "ok", "", ""
        if failing:
            kink = self.kink(name, sym, got, num, numeric)
            if kink is not None:
                status, message = kink
                if status == "FAIL" and sym is not None and "backward vs symbolic" in failing:
                    diagnosis = found.diagnosis(self, name, got, sym, num, main)  # e.g. every tied maximum
            elif failing <= {"numeric vs symbolic", "numeric vs backward"} and within_estimates(
                num, numeric.errors[name], got if sym is None else sym, got, ntol, floor
            ):
                pass  # each disagreement within the tolerance plus the numeric value's own error estimate
            elif self.slightly_other_function(failing, pairs):
                self.notes.append(
                    f"d{name}: finite differences of your forward() differ from the spec's rule by "
                    f"{worst.rel_error:.2g} (relative; tolerance {tol:.0e}), while backward() matches the spec "
                    "exactly: your forward() computes a slightly different function from the spec's (a small "
                    "constant such as 1e-7 inside a log does this); backward() is right for the spec's function"
                )
            else:
                status = "FAIL"
                message = self.explain(name, failing, sym, got, num, worst, tol, worst_pair)
                diagnosis = found.diagnosis(self, name, got, sym, num, main)
                if not diagnosis and self.rules is None:
                    message += found.spec_hint(self, main)
        tols = {"exact": exact, self.method: ntol} if sym is not None else {self.method: ntol}
        return CheckRow(name, got.shape, sym, got, num, worst.rel_error, worst.elem_rel_error, worst.abs_error,
                        worst.worst_index, worst_pair, tols, status, message, diagnosis,
                        numeric_error=relative_estimate(numeric.errors[name], got, floor))

    def magnitude(self, outs: tuple[Any, ...]) -> float:
        """sum |out * dout|: the scale of E, which sets the rounding noise of its differences."""
        try:
            return float(sum(np.sum(np.abs(_wide(o) * np.asarray(d, dtype=float)))
                             for o, d in zip(outs, self.douts, strict=True)))
        except (TypeError, ValueError):
            return float("inf")

    def noise(self, name: str, outs: tuple[Any, ...], numeric: finite.FiniteResult) -> float:
        """The absolute rounding noise of the finite-difference gradient of ``name``."""
        if numeric.method == "complex":  # no subtraction, no cancellation
            return 0.0
        magnitude = self.magnitude(outs)
        if not np.isfinite(magnitude):
            return 0.0
        step = float(np.min(numeric.steps[name]))
        return 10 * float(np.finfo(self.dtype).eps) * max(1.0, magnitude) / step

    def numeric_floor(self, name: str, got: np.ndarray, main: Run, numeric: finite.FiniteResult) -> Any:
        """The gradient scale below which finite differences of this forward are rounding noise.

        A step that moves a parameter by 1e-5 moves the layer's value by about that much, which
        is lost when the values are around 1e200 (b at x ~ 1e200): the difference quotient then
        has an error of eps * |value| / step, far above the gradient. Errors are measured
        against that noise, as :func:`symgrad.check.compare.noise_floor` says; such a gradient
        is then checked by backward vs the spec's rule alone, and a note says so.
        """
        noise = self.noise(name, main.outs, numeric)
        magnitude = self.magnitude(main.outs)
        unresolved = noise > float(np.max(np.abs(got), initial=0.0)) and self.dtype == "float64"
        if magnitude > 1 and unresolved and not self.negligible([got, numeric.gradients[name]], noise):
            checked = "against the spec's rule alone" if self.rules is not None else "by nothing: give a spec"
            self.notes.append(
                f"d{name}: finite differences cannot resolve it at this point: the layer's values are so large "
                f"(about {magnitude:.3g}) that a step of d{name} is lost in rounding (noise about {noise:.3g}); "
                f"d{name} is checked {checked}"
            )
        steps = np.asarray(numeric.steps[name], dtype=float)
        if noise > 0 and steps.size > 1 and numeric.method != "complex":
            # One floor per entry: noise is eps |E| / h at the smallest step; each entry has its own h.
            return noise * float(np.min(steps)) / steps / self.tolerance(self.method)
        return noise / self.tolerance(self.method)

    def negligible(self, sides: list[Any], noise: float) -> bool:
        """Every side is zero: below the finite-difference noise, and at rounding level next to dout."""
        scale = max(1.0, max(float(np.max(np.abs(np.asarray(d, dtype=float)), initial=0.0)) for d in self.douts))
        limit = min(noise, float(np.sqrt(np.finfo(self.dtype).eps)) * scale)
        return all(side is None or float(np.max(np.abs(np.asarray(side, dtype=float)), initial=0.0)) <= limit
                   for side in sides)

    def slightly_other_function(self, failing: set[str], pairs: Mapping[str, tuple[Comparison, float]]) -> bool:
        """Backward equals the spec's rule, and finite differences of forward() are only slightly off both."""
        if "backward vs symbolic" in failing or "backward vs symbolic" not in pairs:
            return False
        return all(pairs[pair][0].rel_error <= SLIGHTLY_OTHER for pair in failing)

    def explain(
        self, name: str, failing: set[str], sym: Any, got: np.ndarray, num: np.ndarray, worst: Comparison, tol: float,
        pair: str,
    ) -> str:
        idx = worst.worst_index
        sides = [f"your backward() gives {at(got, idx)}"]
        if sym is not None:
            sides.append(f"the spec's rule {at(sym, idx)}")
        sides.append(f"finite differences {at(num, idx)}")
        formula = self.formula(name)
        if sym is None:
            culprit = "backward() disagrees with finite differences of your forward(): the backward pass is wrong"
        elif "numeric vs symbolic" not in failing:
            culprit = (
                f"backward() disagrees with both the spec's rule ({formula}) and finite differences: "
                "backward() is wrong"
            )
        elif "backward vs symbolic" not in failing:
            culprit = "finite differences disagree with both: forward() is not smooth here, or not deterministic"
        elif "numeric vs backward" not in failing:
            culprit = f"the spec's rule ({formula}) disagrees with your backward() and with finite differences"
        else:
            culprit = "all three disagree"
        return (
            f"d{name}{index_text(idx)}: {', '.join(sides)} ({pair}: relative error {worst.rel_error:.3g} > tolerance "
            f"{tol:.0e}, {self.dtype}). {culprit}"
        )

    def kink(
        self, name: str, sym: Any, got: np.ndarray, num: np.ndarray, numeric: finite.FiniteResult
    ) -> tuple[str, str] | None:
        """The verdict when every disagreeing element sits on a kink of forward(), else None.

        At a kink the derivative does not exist, but the one-sided derivatives along the element
        (a backward and a forward difference) do; a backward() value between them is a valid
        subgradient (ReLU's mask gives 0 or 1 at 0, both right) and passes as "subgradient";
        one outside them fails, naming the interval.
        """
        ntol = self.tolerance(self.method)
        sides = [got] + ([sym] if sym is not None else [])
        scale = max(float(np.max(np.abs(a), initial=0.0)) for a in [num, *sides]) or 1.0
        bad = np.zeros(got.shape, dtype=bool)
        for side in sides:
            bad |= np.abs(num - side) > ntol * scale
        if sym is not None:
            bad |= np.abs(got - sym) > self.tolerance("exact") * scale
        indices = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)]
        if not indices or len(indices) > 1000:
            return None
        return self.kink_at(name, indices, got, sym, np.asarray(numeric.steps[name]))

    def kink_at(self, name: str, indices: list[tuple[int, ...]], got: np.ndarray, sym: Any,
                steps: np.ndarray) -> tuple[str, str] | None:
        """The kink verdict at these elements (one-sided differences with their steps), None if one is smooth."""
        sides = [got] + ([sym] if sym is not None else [])
        scale = max(float(np.max(np.abs(a), initial=0.0)) for a in sides) or 1.0
        energy = self.objective(self.douts)
        base = {**self.inputs, **self.values}
        steps = np.broadcast_to(steps, got.shape)
        measured = [(idx, *self.one_sided(energy, base, name, idx, float(steps[idx]))) for idx in indices]
        scale = max(scale, *(max(abs(left), abs(right)) for _, left, right in measured))
        # Extrapolated one-sided derivatives of a smooth element agree to O(h^2): a gap of the tolerance is a kink.
        if any(abs(right - left) <= self.tolerance(self.method) * scale for _, left, right in measured):
            return None  # smooth there: not a kink, an ordinary disagreement
        verdict = _kink_verdict(name, measured, got, sym, self.tolerance(self.method) * scale)
        if verdict[0] == "subgradient" and len(indices) > 1 and sym is not None:
            return self.jointly(name, indices, got, sym, energy, base, float(np.max(steps)), scale) or verdict
        return verdict

    def jointly(self, name: str, indices: list[tuple[int, ...]], got: np.ndarray, sym: Any,
                energy: Callable[[Mapping[str, Any]], Any], base: Mapping[str, np.ndarray], h: float,
                scale: float) -> tuple[str, str] | None:
        """FAIL when values that are subgradients element by element are not one together: along all the
        kink elements at once (e.g. a window's tied maxima) backward()'s sum must lie between the one-sided
        derivatives too. Only with a spec whose own sum lies there (the derived rule vouches for the joint
        measurement: a separable kink, ReLU's, lets each element pick its side on its own). None otherwise."""
        direction = np.zeros(got.shape)
        for idx in indices:
            direction[idx] = 1.0
        self.evaluations += kinks.EVALUATIONS
        left, right = kinks.one_sided_along(energy, base, name, direction, h)
        slack = self.tolerance(self.method) * scale * len(indices)
        total = float(np.sum(got * direction))
        if one_sided_between(total, left, right, slack):
            return None
        if not one_sided_between(float(np.sum(sym * direction)), left, right, slack):
            return None  # the spec disagrees with the joint measurement too: no verdict from it
        spec = f" (the spec's rule gives {float(np.sum(sym * direction)):.6g})"
        return "FAIL", (f"d{name}: at {len(indices)} kink elements each value of backward() is a subgradient on its "
                        f"own, but not together: along all of them at once the one-sided derivatives are "
                        f"{kinks.interval(left, right)} and backward()'s values add up to {total:.6g}{spec}; a max "
                        "that sends its gradient to every tied entry does this")

    def one_sided(self, energy: Callable[[Mapping[str, Any]], Any], base: Mapping[str, np.ndarray], name: str,
                  idx: tuple[int, ...], h: float) -> tuple[float, float]:
        self.evaluations += kinks.EVALUATIONS
        return kinks.one_sided(energy, base, name, idx, h)


def _kink_verdict(
    name: str, found: list[tuple[tuple[int, ...], float, float]], got: np.ndarray, sym: Any, slack: float
) -> tuple[str, str]:
    """"subgradient" when backward() (and the spec) lie between the one-sided derivatives at every kink, else FAIL."""

    def between(value: float, left: float, right: float) -> bool:
        return one_sided_between(value, left, right, slack)

    outside = [(idx, left, right) for idx, left, right in found if not between(float(got[idx]), left, right)]
    spec_outside = [] if sym is None else [k for k in found if not between(float(sym[k[0]]), k[1], k[2])]
    idx, left, right = (outside or spec_outside or found)[0]
    interval = kinks.interval(left, right)
    where = (f"d{name}{index_text(idx)}: forward() has a kink here (the finite-difference stencil straddles it): "
             f"the one-sided derivatives along this element are {left:.6g} (backward difference) and "
             f"{right:.6g} (forward difference)")
    more = len(outside or spec_outside or found) - 1
    likewise = f" ({more} more element{'s' if more > 1 else ''} likewise)" if more else ""
    if outside:
        return "FAIL", (f"{where}; backward() gives {at(got, idx)}, outside {interval}: not a subgradient, so "
                        f"backward() is wrong at this kink{likewise}")
    if spec_outside:
        return "FAIL", (f"{where}; the spec's rule gives {at(sym, idx)}, outside {interval}, while backward()'s "
                        f"{at(got, idx)} lies inside{likewise}")
    spec = f" and the spec's {at(sym, idx)}" if sym is not None else ""
    return "subgradient", (f"{where}; backward()'s {at(got, idx)}{spec} lie in {interval}: a valid subgradient "
                           f"(any value in the interval is right at a kink){likewise}")


def _wide(out: Any) -> np.ndarray:
    """An output in float64 (complex kept), for summing E without the layer's own rounding on top."""
    array = np.asarray(out)
    return array if array.dtype.kind == "c" else np.asarray(array, dtype=float)


def _not_inverted(rules: SpecRules, out: np.ndarray, spec_out: np.ndarray) -> str:
    """A dropout whose forward is (1 - p) times the inverted one's: scaled at test time, not in training."""
    if rules.drop is None:
        return ""
    keep = 1.0 - float(rules.drop)
    if compare(out, keep * spec_out).passes(1e-9):
        return (f"; yours is {keep:g} = 1 - p times the spec's everywhere: your dropout is not inverted (it "
                "keeps x * mask in training and scales by 1 - p at test time, as DLFS1's does); Dropout(p) is "
                "inverted dropout, x * mask / (1 - p) in training and the identity at test time")
    return ""


def _spec_target(t: Any, x: np.ndarray) -> Any:
    """A spec's target: integer class labels become the one-hot rows a symgrad loss takes."""
    if t is None:
        return None
    t = np.asarray(t)
    if t.dtype.kind in "iu" and t.ndim == 1 and x.ndim == 2 and t.shape[0] == x.shape[0]:
        return np.eye(x.shape[1])[t]
    return np.asarray(t, dtype=float)
