"""The three-way check: symbolic (lambdified) vs the layers' backward() vs finite differences.

``check(network)`` evaluates the three at one point and says, for each
gradient, whether they agree, and when they do not, which side is the odd one
out, at which element, and why that is likely.
"""

from __future__ import annotations

import copy
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from symgrad.check import kinks
from symgrad.check.compare import Comparison, Lazy, compare, lazy_fields, noise_floor, tolerance
from symgrad.check.points import sample_values
from symgrad.derive.artifacts import StoredDerivation
from symgrad.derive.derivation import Derivation
from symgrad.documents import Documented
from symgrad.errors import ComplexityError, NonFiniteError, UnknownNameError
from symgrad.graph.network import GraphNetwork
from symgrad.layers import (
    Affine,
    HalfSquaredError,
    MeanSquaredError,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from symgrad.layers.classify import one_hot_labels
from symgrad.network import Network, requested_names
from symgrad.numeric import finite
from symgrad.numeric.directional import ESTIMATE_CAP, DirectionalResult, directional_check, stencil_ends
from symgrad.numeric.reference import reference_backward, reference_loss, relu_inputs
from symgrad.numeric.refine import refine

__all__ = ["CheckReport", "CheckRow", "check"]

MODES = ("full", "fast")

_derivations: weakref.WeakKeyDictionary[Network, dict[Any, Derivation]] = weakref.WeakKeyDictionary()


#: Layers whose derivation depends on nothing but their kind, sizes and name.
_STRUCTURAL = (Affine, Sigmoid, Tanh, ReLU, HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy)
#: The derivations of the last 64 network structures (of _STRUCTURAL layers only), least recent first.
_by_structure: OrderedDict[tuple[Any, ...], Derivation] = OrderedDict()


def _derive(network: Network, wrt: Sequence[str] | None, *, kink: Any) -> Derivation:
    """:func:`symgrad.derive.chain.derive`, imported when first needed: a check of a derivation restored
    from disk (:class:`~symgrad.derive.artifacts.StoredDerivation`) runs with no SymPy loaded."""
    from symgrad.derive.chain import derive as derive_network

    return derive_network(network, wrt, kink=kink)


def cached_derivation(network: Network, wrt: Sequence[str] | None, kink: Any) -> Derivation:
    """``derive(network, wrt, kink=kink)``, derived once per network and arguments.

    Networks of symgrad's own layers built alike (a test suite that builds the
    same Network in every test) share one derivation and compiled gradient.
    """
    requested = (wrt,) if isinstance(wrt, str) else wrt
    names_only = isinstance(requested, (list, tuple)) and all(isinstance(name, str) for name in requested)
    if requested is not None and not names_only:
        return _derive(network, wrt, kink=kink)  # not a list of names: derive() says what wrt should be
    key = (None if requested is None else tuple(requested), str(kink))
    per_network = _derivations.setdefault(network, {})
    if key not in per_network:
        per_network[key] = _derive_by_structure(network, wrt, kink, key)
    return per_network[key]


def _derive_by_structure(network: Network, wrt: Sequence[str] | None, kink: Any, key: tuple[Any, ...]) -> Derivation:
    parts = (*network.layers, network.loss)
    if type(network) is not Network or any(type(part) not in _STRUCTURAL for part in parts):
        return _derive(network, wrt, kink=kink)  # a user's layer class may hold more than its description
    structure = (network.title, key, *((type(part), part.describe(), part.name) for part in parts))
    known = _by_structure.get(structure)
    if known is None:
        known = _by_structure[structure] = _derive(network, wrt, kink=kink)
        if len(_by_structure) > 64:
            _by_structure.popitem(last=False)
        return known
    _by_structure.move_to_end(structure)
    shared = copy.copy(known)  # every field shared (the compiled gradient in _cache too), but the network
    object.__setattr__(shared, "network", network)
    return shared


@dataclass(frozen=True)
@lazy_fields("elem_rel_error")
class CheckRow:
    """One gradient checked three ways.

    ``symbolic``, ``backward`` and ``numeric`` are the three values (``numeric``
    is None in fast mode, where a random-direction check stands in for it).
    ``rel_error`` is the worst pair's error relative to the gradient's norm;
    ``worst_index`` and ``worst_pair`` say where and between which sides.
    ``status`` is "ok", "FAIL", "kink" (a finite-difference stencil straddled
    a ReLU kink, so the numeric value is not comparable there) or "subgradient"
    (at a kink, backward's value lies between the one-sided derivatives); only
    "FAIL" fails.
    """

    name: str
    shape: tuple[int, ...]
    symbolic: Any
    backward: Any
    numeric: Any
    rel_error: float
    elem_rel_error: float  # in fast mode computed when first read (see symgrad.check.compare.Lazy)
    abs_error: float
    worst_index: tuple[int, ...]
    worst_pair: str
    tolerances: Mapping[str, float]
    status: str
    message: str = ""
    diagnosis: str = ""
    #: The largest estimated error of the numeric values, relative to the gradient's largest
    #: element like ``rel_error`` (None where no finite-difference value was taken).
    numeric_error: float | None = None

    @property
    def passed(self) -> bool:
        """True unless the three sides disagree beyond the tolerance."""
        return self.status != "FAIL"


@dataclass(frozen=True)
class CheckReport(Documented):
    """The result of :func:`check`: a row per gradient, and how it was measured."""

    title: str
    rows: tuple[CheckRow, ...]
    method: str
    mode: str
    seed: int
    values: Mapping[str, Any]
    evaluations: int
    directional: DirectionalResult | None = None
    notes: tuple[str, ...] = field(default=())
    #: The dtype the checked code computes in, when it was measured (users' layers): steps and
    #: tolerances follow it.
    dtype: str | None = None
    #: Why the check could not fail (gradients zero on every side, nothing compared), and what to
    #: change; ``ok`` stays as the comparisons say, the pytest helpers fail on a warning.
    warnings: tuple[str, ...] = field(default=())
    #: True when the caller gave the point (``check(values=...)``); False when it was drawn with ``seed``.
    given: bool = False

    @property
    def ok(self) -> bool:
        """True when every row passed."""
        return all(row.passed for row in self.rows)

    def row(self, name: str) -> CheckRow:
        """The row of gradient ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        msg = f"no row {name!r}; the rows are {', '.join(r.name for r in self.rows)}"
        raise UnknownNameError(msg)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        """The rows that failed."""
        return tuple(row for row in self.rows if not row.passed)

    def __str__(self) -> str:
        from symgrad.render.reporttext import report_text  # rendering lives upstairs

        return report_text(self)

def check(
    network: Network | Derivation | StoredDerivation,
    values: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    method: str = "central",
    mode: str = "full",
    wrt: Sequence[str] | None = None,
    rtol: float | None = None,
    kink: Any = None,
    batch: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Check every gradient three ways: symbolic vs backward() vs finite differences.

    Parameters
    ----------
    network : Network or Derivation
        What to check; a Derivation reuses its compiled gradient.
    values : mapping, optional
        x, t and every parameter; seeded random values (away from ReLU kinks) by default.
    seed : int
        Seed of the random point (and of the random direction in fast mode).
    method : {"central", "richardson", "complex"}
        Finite-difference method.
    mode : {"full", "fast"}
        "full" sweeps every element (two forward passes each, for central
        differences); "fast" checks the gradient along one random direction
        (<u, grad E> against a directional difference): a few forward passes
        at any width. The difference estimates its own error (rounding, and
        Richardson levels when it disagrees at first), and a ReLU kink inside
        its stencil makes the row "kink", naming the layer, not "FAIL".
    wrt : sequence of str, optional
        The gradients to check (for a Derivation, a subset of its ``wrt``); all by default.
    rtol : float, optional
        Override the relative tolerances (see :data:`symgrad.check.compare.TOLERANCES`); a
        positive number, since finite differences are never exact (rtol=0 is refused).
        Gradients below the rounding noise of a method (exactly 0 at a stationary
        point, say) are measured against that noise (see
        :func:`symgrad.check.compare.noise_floor`).
    kink : 0, 1/2 or 1, optional
        relu'(0) for the symbolic side; 0 for a network, the derivation's own for a Derivation.
    batch : int
        Batch size of the random point (batched networks).
    progress : callable, optional
        ``progress(done, total)`` during a full finite-difference sweep.

    Notes
    -----
    A check holds about three arrays the size of the point at once: the point, the symbolic
    gradient and the layers' gradient, which the report keeps (in fast mode the directional
    check's working copy comes and goes before the layers' backward runs). A random point is
    refused above :data:`symgrad.check.points.MAX_ELEMENTS` numbers. Fast mode compares the
    layers' backward with the symbolic gradient element by element; each row's
    ``elem_rel_error`` is computed when first read.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> report = check(article_network())
    >>> report.ok, [row.name for row in report.rows]
    (True, ['w1', 'b1', 'w2', 'b2', 'x'])
    >>> report.row("w1").rel_error < 1e-9
    True
    """
    derivation = network if isinstance(network, (Derivation, StoredDerivation)) else None
    net = derivation.network if derivation is not None else network
    if not isinstance(net, Network):
        msg = f"check() takes a symgrad Network or a Derivation of one, got {type(network).__name__}"
        if getattr(network, "layer", None) is not None or callable(getattr(network, "tensor_forward", None)):
            msg += ("; an N-D layer is checked with check_layer(layer, x=...), or check_layer(yours, spec=layer, "
                    "x=...) for your own version")
        raise UnknownNameError(msg)
    if mode not in MODES:
        msg = f"unknown mode {mode!r}; choose 'full' or 'fast'"
        raise UnknownNameError(msg)
    check_options(seed, rtol, progress)
    if values is not None and not isinstance(values, Mapping):
        msg = f"values must be a mapping of name to value ({', '.join(net.names)}), got {type(values).__name__}"
        raise UnknownNameError(msg)
    if derivation is None:
        derivation = cached_derivation(net, wrt, 0 if kink is None else kink)
    elif kink is not None and _kink_value(kink) != derivation.kink:
        msg = (
            f"this derivation takes relu'(0) = {derivation.kink}, but check() was asked for kink={kink!r}; "
            "derive again with derive(network, kink=...) or check the network itself"
        )
        raise UnknownNameError(msg)
    point = dict(values) if values is not None else sample_values(net, seed=seed, batch=batch)
    if "t" in point and net.batched and getattr(net, "loss", None) is not None:  # class labels: one-hot rows
        point["t"] = one_hot_labels(net.loss, point["t"], net.output_features)
    # Overflow at a huge point shows as inf or NaN, which is reported by name below, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        compiled = derivation.lambdify()
        symbolic_loss, symbolic = compiled.evaluate(point)
        names = _rows(derivation, wrt)
        arrays = {name: np.asarray(point[name], dtype=float) for name in net.names}

        def objective(v: Mapping[str, Any]) -> Any:
            return reference_loss(net, v)

        if mode == "fast":  # the layers' backward after the directional check: one working copy less at once
            _require_finite(symbolic_loss, symbolic, ())  # the gradients: by the directional check's inner product
            report = _fast(derivation.title, net, objective, arrays, names, symbolic, method, seed, rtol, point)
            return _with_layer_notes(replace(_with_point_notes(report, net, arrays), given=values is not None), net)
        reference = reference_backward(net, arrays, names)
        backward, loss = reference.gradients, reference.loss
        _require_finite(loss, symbolic, names)
        refuse_long_sweep(arrays, names, method)
        result = finite.gradient(objective, arrays, names, method=method, progress=progress)
        rows = tuple(
            _full_row(name, symbolic[name], backward[name], result, rtol, net, arrays, loss, objective)
            for name in names
        )
        # Elements given a second look (see _refined) cost 6 evaluations each.
        refined = sum(int(np.count_nonzero(row.numeric != result.gradients[row.name])) for row in rows)
        report = CheckReport(derivation.title, rows, method, mode, seed, point, result.evaluations + 6 * refined)
        return _with_layer_notes(replace(_with_point_notes(report, net, arrays), given=values is not None), net)


def _with_layer_notes(report: CheckReport, net: Network) -> CheckReport:
    """What the layers say about their own reference side (an activation from a formula has no textbook one)."""
    notes = tuple(dict.fromkeys(note for layer in net.layers if (note := getattr(layer, "reference_note", ""))))
    return replace(report, notes=(*report.notes, *notes)) if notes else report


def _kink_value(kink: Any) -> Any:
    from symgrad.functions import kink_value  # SymPy, only when a kink is given with a derivation

    return kink_value(kink)


def _require_finite(loss: Any, symbolic: Mapping[str, Any], names: Sequence[str]) -> None:
    """Raise NonFiniteError when the loss or a symbolic gradient overflows at the point.

    (A backward() that returns NaN where these are finite is a wrong backward: a failing row.)
    """
    sides = [("the loss E", loss)] + [(f"the symbolic dE/d{n}", symbolic[n]) for n in names]
    for what, value in sides:
        # A finite sum (one pass, no temporary) means every element is finite.
        total = value.sum() if isinstance(value, np.ndarray) else value
        if not np.isfinite(total) and not np.all(np.isfinite(value)):
            msg = (
                f"{what} is not finite at this point (NaN or infinity): the values overflow the float64 range; "
                "check at smaller values"
            )
            raise NonFiniteError(msg)


#: A full sweep is refused when (forward evaluations) x (operations per forward pass) exceeds
#: this, about a minute of NumPy: fast mode checks the same gradients in a few evaluations.
MAX_SWEEP_WORK = 10**11


def refuse_long_sweep(
    arrays: Mapping[str, np.ndarray],
    names: Sequence[str],
    method: str,
    advice: str = "use mode='fast' (a random direction, a few forward evaluations at any width) "
    "or check fewer gradients with wrt=[...]",
) -> None:
    """Raise ComplexityError before a full finite-difference sweep that would run for hours."""
    evaluations = finite.total_evaluations(arrays, names, method)
    rows = arrays["x"] if "x" in arrays else next((a for a in arrays.values() if a.ndim == 2), np.zeros(()))
    batch = rows.shape[0] if rows.ndim == 2 else 1
    # A forward pass touches every parameter once per row of x (x W is batch * in * out operations).
    per_forward = sum(int(a.size) * (1 if name in ("x", "t") else batch) for name, a in arrays.items())
    if evaluations * per_forward <= MAX_SWEEP_WORK:
        return
    elements = sum(int(arrays[name].size) for name in names)
    msg = (
        f"a full {method} finite-difference sweep of {', '.join(names)} ({elements:,} elements) takes "
        f"{evaluations:,} forward evaluations of about {per_forward:,} operations each "
        f"({float(evaluations * per_forward):.1e} in all; the limit is {float(MAX_SWEEP_WORK):.0e}): {advice}"
    )
    raise ComplexityError(msg)


def _with_point_notes(report: CheckReport, net: Network, arrays: Mapping[str, Any]) -> CheckReport:
    """Add what is odd about the point itself to the report, and to the message of each failure."""
    notes = _point_notes(net, arrays)
    if not notes:
        return report
    # The point itself is the likely cause: say so instead of blaming one of the three sides.
    cause = "the likely cause is the point itself, not one of the three sides (see the report's notes)"
    rows = tuple(row if row.passed else replace(row, message=f"{row.message.split('. ', 1)[0]}. {cause}")
                 for row in report.rows)
    return replace(report, rows=rows, notes=(*report.notes, *notes))


def _point_notes(net: Network, arrays: Mapping[str, Any]) -> tuple[str, ...]:
    if not isinstance(net.loss, SoftmaxCrossEntropy) or "t" not in arrays:
        return ()
    sums = np.sum(arrays["t"], axis=-1)
    bad = np.flatnonzero(np.abs(sums - 1) > 1e-9)
    if bad.size == 0:
        return ()
    row = int(bad[0])
    return (
        "each row of t should sum to 1 for SoftmaxCrossEntropy (one-hot or soft labels): the rule "
        "dE/dy = (softmax(y) - t) / N, in the derivation and in the usual backward, assumes it; "
        f"row {row} of t sums to {sums[row]:.6g}",
    )


def _rows(derivation: Derivation | StoredDerivation, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    """The names to check: ``wrt`` (a subset of the derivation's), or all of them."""
    if wrt is None:
        return derivation.wrt
    return requested_names(wrt, derivation.wrt, action="check", listing="the derivation has gradients for")


def check_options(seed: Any, rtol: Any, progress: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise UnknownNameError(msg)
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating))
                             or not 0 < rtol < np.inf):
        # 0 is refused rather than taken as "exact": finite differences always carry rounding and
        # truncation error (about 1e-10 relative at best), so rtol=0 would fail every correct gradient.
        msg = (
            f"rtol must be a positive number (a relative tolerance such as 1e-6), got {rtol!r}; "
            "0 is not allowed: finite differences are never exact, so every check would fail"
        )
        raise UnknownNameError(msg)
    if progress is not None and not callable(progress):
        msg = f"progress must be a function progress(done, total), got {type(progress).__name__}"
        raise UnknownNameError(msg)


def _full_row(
    name: str, sym: Any, back: Any, result: finite.FiniteResult, rtol: float | None,
    net: Network, arrays: dict[str, Any], loss: Any = 0.0, objective: Callable[[Mapping[str, Any]], Any] | None = None,
) -> CheckRow:
    num, errors = result.gradients[name], result.errors[name]
    sym, back = np.asarray(sym, dtype=float), np.asarray(back, dtype=float)
    exact, numeric = tolerance("exact", override=rtol), tolerance(result.method, override=rtol)
    # Below the noise floors a gradient (0 at a stationary point, say) has no digits to be relative to.
    exact_floor = noise_floor("exact", float(np.real(loss)))
    # One floor per entry: a step per element (the adaptive sweep) raises only its own entry's floor.
    numeric_floor = np.broadcast_to(noise_floor(result.method, float(np.real(loss)),
                                                np.asarray(result.steps[name], dtype=float)), np.shape(sym))
    pairs = {
        "backward vs symbolic": (compare(back, sym, exact_floor), exact),
        "numeric vs symbolic": (compare(num, sym, numeric_floor), numeric),
        "numeric vs backward": (compare(num, back, numeric_floor), numeric),
    }
    failing = {pair: c for pair, (c, tol) in pairs.items() if not c.passes(tol)}
    worst_pair = max(pairs, key=lambda p: pairs[p][0].rel_error / pairs[p][1])
    worst = pairs[worst_pair][0]
    status, message = "ok", ""
    if failing:
        status, message = _explain(name, failing, sym, back, num, pairs[worst_pair], worst_pair)
        numeric_only = set(failing) <= {"numeric vs symbolic", "numeric vs backward"}
        if numeric_only and _straddles(net, arrays, name, worst, result):
            status = "kink"
            message = (
                f"{name}{_index(worst.worst_index)}: the finite-difference stencil straddles a ReLU kink, "
                "so the numeric value is not a derivative there; symbolic and backward agree"
            )
            if objective is not None:
                status, message = _at_kink(name, worst.worst_index, sym, back, objective, arrays, result, numeric)
        elif numeric_only and within_estimates(num, errors, sym, back, numeric, numeric_floor):
            status, message = "ok", ""  # each disagreement within the tolerance plus the value's error estimate
        elif numeric_only and objective is not None and (
            refined := _refined(objective, arrays, name, num, sym, back, result, numeric, numeric_floor)
        ) is not None:
            status, message, (num, errors) = "ok", "", refined
            worst = compare(num, sym, numeric_floor)
        elif any(np.any(z == 0) for z in relu_inputs(net, arrays)):
            message += (
                ". Note: a ReLU input is exactly 0 at this point, where relu'(0) is a convention; "
                "derive(kink=...) and a backward's mask may legitimately differ there."
            )
    tols = {"exact": exact, result.method: numeric}
    numeric_pairs = [pair for pair in ("numeric vs symbolic", "numeric vs backward") if pair in failing]
    if status == "FAIL" and numeric_pairs:
        at = failing[numeric_pairs[0]].worst_index
        message = message.rstrip(".") + "." + (
            f" The numeric value's own error there is estimated at {float(np.asarray(errors)[at]):.1e} "
            f"(its method's truncation plus rounding) beside a disagreement of "
            f"{float(np.abs(num - (sym if numeric_pairs[0] == 'numeric vs symbolic' else back))[at]):.1e}."
        )
    estimate = relative_estimate(errors, np.maximum(np.abs(sym), np.abs(back)), numeric_floor)
    return CheckRow(name, sym.shape, sym, back, num, worst.rel_error, worst.elem_rel_error, worst.abs_error,
                    worst.worst_index, worst_pair, tols, status, message, numeric_error=estimate)


#: At most this many elements of a gradient get a second look (6 evaluations each) in full mode.
MAX_REFINED = 32


def _allowed(sym: np.ndarray, back: np.ndarray, tol: float, floor: Any, errors: np.ndarray) -> np.ndarray:
    """Per element: the tolerance, plus the numeric value's error estimate (at most ESTIMATE_CAP tolerances).

    ``floor`` is a number or one per element (see :func:`symgrad.check.compare.noise_floor`)."""
    scale = max(float(np.max(np.abs(sym), initial=0.0)), float(np.max(np.abs(back), initial=0.0)))
    bound = tol * np.maximum(scale, floor)
    return bound + np.minimum(errors, ESTIMATE_CAP * bound)


def relative_estimate(errors: np.ndarray, claim: np.ndarray, floor: Any) -> float:
    """The largest estimated error of numeric values, relative to the gradient like ``rel_error``
    (each against its own floor when ``floor`` is one per element)."""
    if np.size(errors) == 0:
        return 0.0
    denominator = np.maximum(float(np.max(np.abs(claim), initial=0.0)), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.max(np.asarray(errors) / denominator, initial=0.0))


def within_estimates(
    num: np.ndarray, errors: np.ndarray, sym: np.ndarray, back: np.ndarray, tol: float, floor: Any
) -> bool:
    """True when every numeric value is within the tolerance plus its own error estimate of both claims."""
    allowed = _allowed(sym, back, tol, floor, errors)
    return all(bool(np.all(np.abs(num - claim) <= allowed)) for claim in (sym, back))


def _refined(
    objective: Callable[[Mapping[str, Any]], Any], arrays: dict[str, Any], name: str, num: np.ndarray,
    sym: np.ndarray, back: np.ndarray, result: finite.FiniteResult, tol: float, floor: Any,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``num`` and its error estimates with its disagreeing elements re-measured, when each then agrees
    within tol plus its error estimate.

    None when there are too many such elements, the method is the complex step, or one still disagrees.
    """
    if result.method == "complex":
        return None
    scale = max(float(np.max(np.abs(sym), initial=0.0)), float(np.max(np.abs(back), initial=0.0)))
    bounds = np.broadcast_to(tol * np.maximum(scale, floor), np.shape(num)).reshape(-1)
    error = np.maximum(np.abs(num - sym), np.abs(num - back)).reshape(-1)
    bad = np.flatnonzero(error > bounds)
    if bad.size == 0 or bad.size > MAX_REFINED:
        return None
    values, estimates = refine(objective, arrays, name, bad, np.asarray(result.steps[name]).reshape(-1)[bad])
    bound = bounds[bad]
    allowed = bound + np.minimum(estimates, ESTIMATE_CAP * bound)
    for claim in (sym, back):
        if np.any(np.abs(values - claim.reshape(-1)[bad]) > allowed):
            return None
    better, errors = np.array(num, dtype=float), np.array(result.errors[name], dtype=float)
    better.reshape(-1)[bad] = values
    errors.reshape(-1)[bad] = estimates
    return better, errors


def _at_kink(
    name: str, idx: tuple[int, ...], sym: np.ndarray, back: np.ndarray, objective: Callable[[Mapping[str, Any]], Any],
    arrays: dict[str, Any], result: finite.FiniteResult, tol: float,
) -> tuple[str, str]:
    """The worst element of a row whose stencil straddles a ReLU kink, against the one-sided derivatives there.

    Between them (symbolic and backward agree, numeric only is off) the row is a "subgradient". Outside
    them it stays a "kink", not a failure: where several ReLU inputs meet 0 at once, the chain rule
    through each mask's convention need not give a subgradient of the whole, though every layer is right.
    """
    step = float(np.broadcast_to(np.asarray(result.steps[name]), np.shape(sym))[idx])
    left, right = kinks.one_sided(objective, arrays, name, idx, step)
    value = float(np.asarray(back)[idx])
    scale = max(abs(left), abs(right), abs(value), float(np.max(np.abs(back), initial=0.0))) or 1.0
    where = (f"{name}{_index(idx)}: the finite-difference stencil straddles a ReLU kink; the one-sided derivatives "
             f"along this element are {left:.6g} (backward difference) and {right:.6g} (forward difference)")
    if kinks.between(value, left, right, tol * scale):
        return "subgradient", (f"{where}; symbolic and backward agree on {value:.6g}, which lies in "
                               f"{kinks.interval(left, right)}: a valid subgradient")
    return "kink", (f"{where}; symbolic and backward agree on {value:.6g}, outside {kinks.interval(left, right)}: "
                    "several ReLU inputs meet 0 here, where each mask's convention (relu'(0)) composed by the "
                    "chain rule need not be a subgradient of the whole; check at a point off the kink")


def _index(index: tuple[int, ...]) -> str:
    return "" if not index else "[" + ", ".join(str(i) for i in index) + "]"


def _explain(
    name: str, failing: dict[str, Comparison], sym: Any, back: Any, num: Any, worst: tuple[Comparison, float], pair: str
) -> tuple[str, str]:
    if "numeric vs symbolic" not in failing:
        culprit = (
            "backward() is the odd one out: it disagrees with both the symbolic derivation "
            "and finite differences, so the backward pass is wrong"
        )
    elif "numeric vs backward" not in failing:
        culprit = (
            "the symbolic derivation is the odd one out: it disagrees with backward() and finite differences, "
            "so the layer's forward does not match its symbolic forward"
        )
    elif "backward vs symbolic" not in failing:
        culprit = (
            "finite differences are the odd one out: they disagree with both, "
            "so the function is not smooth here, or the step is too large"
        )
    else:
        culprit = "all three disagree"
    comparison, tol = worst
    idx = comparison.worst_index
    at = _index(idx)
    value = lambda a: f"{float(np.asarray(a)[idx]):.10g}"  # noqa: E731
    text = (
        f"{name}{at}: symbolic {value(sym)}, backward {value(back)}, numeric {value(num)}; "
        f"{pair}: relative error {comparison.rel_error:.3g} > tolerance {tol:.0e}. {culprit}"
    )
    return "FAIL", text


def _straddles(net: Network, arrays: dict[str, Any], name: str, worst: Comparison, result: finite.FiniteResult) -> bool:
    """True when perturbing the worst element by its step flips a ReLU input's sign."""
    base = [z > 0 for z in relu_inputs(net, arrays)]
    if not base:
        return False
    idx = worst.worst_index
    step = float(np.asarray(result.steps[name])[idx]) if np.ndim(result.steps[name]) else float(result.steps[name])
    for sign in (-1.0, 1.0):
        moved = {k: np.array(v, dtype=float, copy=True) for k, v in arrays.items()}
        moved[name][idx] += sign * step
        if any(np.any((z > 0) != b) for z, b in zip(relu_inputs(net, moved), base, strict=True)):
            return True
    return False


def _fast(
    title: str, net: Network, objective: Callable[[Mapping[str, Any]], Any], arrays: dict[str, Any],
    names: tuple[str, ...], symbolic: dict[str, Any], method: str, seed: int, rtol: float | None,
    point: Mapping[str, Any],
) -> CheckReport:
    dtol, exact = tolerance("directional", override=rtol), tolerance("exact", override=rtol)
    try:
        direction = directional_check(objective, arrays, names, symbolic, seed=seed, method=method, rtol=dtol)
    except NonFiniteError:
        # <symbolic, u> is finite whenever every element is (NaN and infinity propagate): only
        # now is a pass over the gradients needed, to name the one that is not.
        _require_finite(0.0, symbolic, names)
        raise
    evaluations = direction.evaluations
    reference = reference_backward(net, arrays, names)
    backward, loss = reference.gradients, reference.loss
    _require_finite(loss, symbolic, ())
    rows = []
    floor, agreed = noise_floor("exact", float(np.real(loss))), direction.passed
    for name in names:
        sym, back = np.asarray(symbolic[name], dtype=float), np.asarray(backward[name], dtype=float)
        c = compare(back, sym, floor)
        status, message = "ok", ""
        if not c.passes(exact):
            status = "FAIL"
            message = (
                f"{name}{_index(c.worst_index)}: symbolic {float(sym[c.worst_index]):.10g}, "
                f"backward {float(back[c.worst_index]):.10g}; relative error {c.rel_error:.3g} > tolerance {exact:.0e}"
            )
        if not agreed:  # which gradient? Each alone along the same direction
            per_name = directional_check(objective, arrays, (name,), {name: sym}, seed=seed, method=method, rtol=dtol)
            evaluations += per_name.evaluations
            status, message = _directional_verdict(net, arrays, name, per_name, status, message)
        tols = {"exact": exact, "directional": dtol}
        elem = Lazy.unread(c, "elem_rel_error")
        rows.append(CheckRow(name, sym.shape, sym, back, None, c.rel_error, elem, c.abs_error,
                             c.worst_index, "backward vs symbolic", tols, status, message))
    return CheckReport(title, tuple(rows), method, "fast", seed, point, evaluations, direction)


def _directional_verdict(
    net: Network, arrays: dict[str, Any], name: str, found: DirectionalResult, status: str, message: str
) -> tuple[str, str]:
    """The status and message of row ``name`` after its own directional check ``found``."""
    if found.passed:
        return status, message
    kinks = _kinked_layers(net, arrays, name, found)
    if kinks and status == "ok":
        return "kink", (
            f"{name}: along a random direction the finite-difference stencil crosses a ReLU kink "
            f"(in {', '.join(kinks)}), so the numeric value is not a derivative there; symbolic and backward agree"
        )
    estimate = found.error_estimates[0] / max(abs(found.directional[0]), abs(found.claimed[0]), 1e-300)
    text = (
        f"along a random direction the symbolic gradient of {name} disagrees with finite differences "
        f"(relative error {found.max_rel_error:.3g} > tolerance {found.rtol:.0e} plus the difference's "
        f"estimated error {estimate:.1e})"
    )
    return "FAIL", (message + "; " if message else "") + text


def _kinked_layers(net: Network, arrays: dict[str, Any], name: str, found: DirectionalResult) -> list[str]:
    """The ReLU layers whose inputs change sign between the ends of the directional stencil and the point."""
    relus = [index for index, layer in enumerate(net.layers) if isinstance(layer, ReLU)]
    labels = {index: f"layer {index + 1} ({type(net.layers[index]).__name__})" for index in relus}
    if isinstance(net, GraphNetwork):  # a graph: one entry per ReLU application, named by its value
        applied = [n for n in net.order if isinstance(getattr(n, "layer", None), ReLU)]
        relus = list(range(len(applied)))
        labels = {index: f"the ReLU computing {net.name_of(node)}" for index, node in enumerate(applied)}
    if not relus:
        return []
    base = [z > 0 for z in relu_inputs(net, arrays)]
    kinked: set[int] = set()
    for end in stencil_ends(arrays, (name,), found.seed, found.step):
        for index, z, sign in zip(relus, relu_inputs(net, end), base, strict=True):
            if np.any((z > 0) != sign):
                kinked.add(index)
    return [labels[index] for index in sorted(kinked)]
