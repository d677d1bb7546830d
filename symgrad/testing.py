"""Assertions and test catalogs for checking gradients in your own test suite.

Two assertions run symgrad's checks and raise :class:`GradientMismatchError` (an
``AssertionError``, so any test runner reports it as a failure) with a message
a newcomer can act on: which layer, which gradient, the worst element and its
index, the three values there (symbolic, your ``backward()``, finite
differences), the tolerance, the formula that was expected and the likely
mistake:

* :func:`assert_gradients_match` checks one layer of your own (in any convention
  :func:`symgrad.check_layer` takes: the article's, DLFS2's lists, cs231n's pairs
  and loss functions) and fails on a wrong gradient or on a check that could not
  fail (``report.warnings``);
* :func:`assert_network_consistent` checks a whole :class:`~symgrad.Network`
  with :func:`symgrad.check`.

:func:`parametrize_layers` and :func:`parametrize_networks` turn a catalog of
cases (:class:`LayerCase`, :class:`NetworkCase`) and seeds into a
``pytest.mark.parametrize`` decorator with stable test ids, so a large suite
shards over cores with ``pytest -n auto`` (pytest-xdist). The default catalogs
hold every built-in layer at a few shapes and the example networks.

Installing symgrad also installs a pytest plugin (:mod:`symgrad.pytest_plugin`)
whose ``symgrad_check`` fixture runs the same assertions and counts them for a
summary line at the end of the run.

Examples
--------
>>> import numpy as np
>>> import symgrad
>>> from symgrad.testing import assert_gradients_match
>>> layer = symgrad.Affine(3, 2)   # symgrad's own layers follow the protocol too
>>> layer.set_params({"W": np.ones((3, 2)), "b": np.zeros(2)})
>>> assert_gradients_match(layer, symgrad.Affine(3, 2), x=np.ones((4, 3))).ok
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.check import CheckReport, CheckRow, check, check_layer
from symgrad.check.hessian import HessianReport, check_hessian
from symgrad.check.report import cached_derivation
from symgrad.check.rules import spec_rules, to_text
from symgrad.derive.derivation import Derivation
from symgrad.errors import SpecError, SymgradError, UnknownNameError
from symgrad.layers import (
    Affine,
    BatchNorm,
    HalfSquaredError,
    Layer,
    LayerNorm,
    Loss,
    MeanSquaredError,
    ReLU,
    Sigmoid,
    SigmoidCrossEntropy,
    Softmax,
    SoftmaxCrossEntropy,
    SVMLoss,
    Tanh,
)
from symgrad.network import Network, article_network, network_from_spec
from symgrad.render.text import expr_text

if TYPE_CHECKING:
    from _pytest.mark.structures import MarkDecorator

__all__ = [
    "LAYER_CASES",
    "NETWORK_CASES",
    "N_D_KINDS",
    "GradientMismatchError",
    "LayerCase",
    "NetworkCase",
    "assert_case",
    "assert_gradients_match",
    "assert_hessian_consistent",
    "assert_network_consistent",
    "failure_message",
    "parametrize_layers",
    "parametrize_networks",
]


class GradientMismatchError(AssertionError):
    """A gradient check failed; ``report`` is the :class:`~symgrad.CheckReport` behind the message
    (a :class:`~symgrad.check.hessian.HessianReport` from :func:`assert_hessian_consistent`)."""

    def __init__(self, message: str, report: CheckReport | HessianReport) -> None:
        super().__init__(message)
        self.report = report


# -- the assertions ---------------------------------------------------------------------


def assert_gradients_match(
    layer: Any,
    spec: Layer | type[Layer] | None = None,
    *,
    x: Any,
    t: Any = None,
    seed: int = 0,
    params: Mapping[str, Any] | Sequence[str] | None = None,
    method: str = "central",
    rtol: float | None = None,
    kink: Any = 0,
    dout: Any = None,
    mode: str = "full",
) -> CheckReport:
    """Assert that a layer's ``backward()`` agrees with finite differences (and with ``spec``'s rules).

    Takes the arguments of :func:`symgrad.check_layer` and runs it (``mode="fast"``: each
    gradient along one random direction, for layers too large for a full sweep).

    Returns
    -------
    CheckReport
        The report, when every gradient agrees (rows with status ``"subgradient"``,
        at a kink a value between the one-sided derivatives, count as agreeing) and the
        check could have failed (no ``report.warnings``).

    Raises
    ------
    GradientMismatchError
        An ``AssertionError`` naming, for each wrong gradient, the worst element,
        the three values there, the tolerance, the expected formula and the
        likely mistake (see :func:`failure_message`); also when the check was
        vacuous (gradients zero on every side, nothing compared), with what to change.
    SymgradError
        Bad arguments (an integer ``x``, a spec that does not fit, a forward
        that raises): these are errors in the test, not failed checks.

    Examples
    --------
    >>> import numpy as np
    >>> import symgrad
    >>> class Affine:  # the article's layer, transposes missing
    ...     def __init__(self, W, b):
    ...         self.W, self.b = W, b
    ...     def forward(self, x):
    ...         self.x = x
    ...         return np.dot(x, self.W) + self.b
    ...     def backward(self, dout):
    ...         dx = np.dot(dout, self.W)
    ...         self.dW = np.dot(self.x, dout)
    ...         self.db = np.sum(dout, axis=0)
    ...         return dx
    >>> rng = np.random.default_rng(0)
    >>> layer = Affine(rng.standard_normal((3, 3)), np.zeros(3))
    >>> assert_gradients_match(layer, symgrad.Affine(3, 3), x=rng.standard_normal((3, 3)))
    Traceback (most recent call last):
    ...
    symgrad.testing.GradientMismatchError: symgrad: your Affine against symgrad Affine(3, 3): 2 of 3 gradients FAIL ...
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this one
    report = check_layer(
        layer, spec, x=x, t=t, seed=seed, params=params, method=method, rtol=rtol, kink=kink, dout=dout, mode=mode
    )
    if not report.ok or report.warnings:
        raise GradientMismatchError(failure_message(report, spec=spec), report)
    return report


def assert_network_consistent(
    network: Network | Derivation | str,
    values: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    method: str = "central",
    mode: str = "full",
    wrt: Sequence[str] | None = None,
    rtol: float | None = None,
    kink: Any = None,
    batch: int = 4,
) -> CheckReport:
    """Assert that a network's gradients agree three ways: symbolic, ``backward()``, finite differences.

    Takes the arguments of :func:`symgrad.check` and runs it; ``network`` may
    also be a spec string (``"affine(3,4) > sigmoid > affine(4,1) > half-squared-error"``).

    Raises
    ------
    GradientMismatchError
        An ``AssertionError`` naming each gradient that disagrees (see :func:`failure_message`).

    Examples
    --------
    >>> from symgrad.testing import assert_network_consistent
    >>> assert_network_consistent("affine(3,4) > tanh > affine(4,2) > mean-squared-error", seed=1).ok
    True
    """
    __tracebackhide__ = True
    if isinstance(network, str):
        network = network_from_spec(network)
    report = check(network, values, seed=seed, method=method, mode=mode, wrt=wrt, rtol=rtol, kink=kink, batch=batch)
    if not report.ok:
        net = network.network if isinstance(network, Derivation) else network
        used = network.kink if isinstance(network, Derivation) else (0 if kink is None else kink)
        raise GradientMismatchError(failure_message(report, network=net, kink=used), report)
    return report


def assert_hessian_consistent(
    thing: Network | Derivation | str | Any,
    values: Mapping[str, Any] | None = None,
    *,
    x: Any = None,
    t: Any = None,
    params: Mapping[str, Any] | Sequence[str] | None = None,
    dout: Any = None,
    seed: int = 0,
    rtol: float | None = None,
    batch: int = 4,
) -> HessianReport:
    """Assert that gradients change with the point as the loss curves (second order).

    Takes the arguments of :func:`symgrad.check_hessian` and runs it: a network (or a
    spec string) has its compiled symbolic gradient and its layers' ``backward()``
    differentiated along random directions against second differences of the loss;
    a layer of your own (``x=...``, any convention :func:`symgrad.check_layer`
    takes) has its ``backward()`` checked the same way. It catches what a first-order
    check at one point cannot: a value cached at another point (a stale cache).
    A stencil across a kink (status ``"kink"``) is not a failure.

    Raises
    ------
    GradientMismatchError
        An ``AssertionError`` with the report's table and the failing product.

    Examples
    --------
    >>> import numpy as np
    >>> from symgrad.testing import assert_hessian_consistent
    >>> assert_hessian_consistent("affine(3,4) > tanh > affine(4,2) > half-squared-error").ok
    True
    >>> class Sigmoid:  # caches its output on the first call only
    ...     out = None
    ...     def forward(self, x):
    ...         if self.out is None:
    ...             self.out = 1 / (1 + np.exp(-x))
    ...         return 1 / (1 + np.exp(-x))
    ...     def backward(self, dout):
    ...         return dout * self.out * (1 - self.out)
    >>> assert_hessian_consistent(Sigmoid(), x=np.random.default_rng(0).standard_normal((2, 3)))
    Traceback (most recent call last):
    ...
    symgrad.testing.GradientMismatchError: Hessian-vector check of your Sigmoid: 1 of 1 FAIL...
    """
    __tracebackhide__ = True
    if isinstance(thing, str):
        thing = network_from_spec(thing)
    report = check_hessian(thing, values, x=x, t=t, params=params, dout=dout, seed=seed, rtol=rtol, batch=batch)
    if not report.ok:
        raise GradientMismatchError(str(report), report)
    return report


# -- the message ------------------------------------------------------------------------------


def failure_message(
    report: CheckReport, *, spec: Layer | type[Layer] | None = None, network: Network | None = None, kink: Any = 0
) -> str:
    """The text of a :class:`GradientMismatchError`: each failing gradient, then the whole report.

    Pass the ``spec`` of a :func:`symgrad.check_layer` report, or the ``network``
    of a :func:`symgrad.check` report, to have the expected formula of each
    gradient spelled out (``dW = x.T @ dout``, ``dE/dW1 = x.T @ dE/dh1``).

    Examples
    --------
    >>> import symgrad
    >>> report = symgrad.check(symgrad.article_network())
    >>> print(failure_message(report))
    symgrad: The article's network: all 5 gradients agree (seed 0; numeric side: central differences)
    """
    failures = report.failures
    verdict = f"{len(failures)} of {len(report.rows)} gradients FAIL" if failures else (
        f"all {len(report.rows)} gradients agree")
    if not failures and report.warnings:
        verdict = "the check could not fail (see the warning)"
    how = "finite differences along a random direction" if report.mode == "fast" else f"{report.method} differences"
    dtype = "" if report.dtype is None else f"; computed in {report.dtype}"
    point = "at the given point" if report.given else f"seed {report.seed}"
    lines = [f"symgrad: {report.title}: {verdict} ({point}; numeric side: {how}{dtype})"]
    if report.dtype is not None:
        checked = ", ".join(_gradient_label(row.name, True) for row in report.rows if row.name != "forward")
        lines.append(f"gradients checked: {checked or 'none'}")
    lines += [f"warning: {warning}" for warning in report.warnings]
    formulas = _formulas(report, spec, network, kink)
    for row in failures:
        lines += ["", *_row_lines(row, report, formulas.get(row.name, ""), network)]
    if report.notes:
        lines += ["", *(f"note: {note}" for note in report.notes)]
    if failures:
        layer_report = _is_layer_report(report, network)
        lines += ["", "All gradients:", *_table(report, layer_report)]
        if layer_report and any(np.ndim(v) for k, v in report.values.items() if k.startswith("dout")):
            lines += ["", f"(dout, the upstream gradient, was drawn at random from seed {report.seed}; "
                          "pass dout=... to choose it)"]
    return "\n".join(lines)


def _table(report: CheckReport, layer_report: bool) -> list[str]:
    cells = [
        (_gradient_label(row.name, layer_report), "x".join(str(d) for d in row.shape) or "scalar", row.status,
         f"relative error {row.rel_error:.1e}" if np.isfinite(row.rel_error) else "no value to compare")
        for row in report.rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return ["  " + "  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cells]


def _row_lines(row: CheckRow, report: CheckReport, formula: str, network: Network | None) -> list[str]:
    layer_report = _is_layer_report(report, network)
    label = _gradient_label(row.name, layer_report)
    lines = [f"{label} is wrong{_where(row.name, network)}:"]
    index = row.worst_index
    values = {side: _value_at(getattr(row, side), index) for side in ("symbolic", "backward", "numeric")}
    shown = (row.name != "forward" and len(index) == len(row.shape)  # a row checked along a direction has no element
             and bool(values["backward"]) and any(values.values()))
    if shown:
        lines.append(f"  worst element   {label}{_index(index)}")
        sources = _sources(report, layer_report)
        lines += [f"  {_SIDE_LABEL[side]:<15} {value:<16} {sources[side]}" for side, value in values.items() if value]
        tolerance = _tolerance(row)
        lines.append(f"  relative error  {row.rel_error:.3g} ({row.worst_pair}); tolerance {tolerance}")
        verdict = _odd_one_out(row, layer_report)
        if verdict:
            lines.append(f"  verdict         {verdict}")
        elif row.message:  # fast mode: no numeric value per element; the message says what the direction found
            lines.append(f"  details         {row.message}")
    else:
        lines.append(f"  problem         {row.message}")
    if formula and formula not in row.message:
        lines.append(f"  expected        {formula}")
    if row.diagnosis:
        lines.append(f"  likely mistake  {row.diagnosis}")
    elif shown and "(give the spec " in row.message:
        hint = row.message.split("(give the spec ", 1)[1].rsplit(")", 1)[0]
        lines.append(f"  hint            give the spec {hint}")
    return lines


def _is_layer_report(report: CheckReport, network: Network | None) -> bool:
    return network is None and ("dout" in report.values or report.dtype is not None)


def _odd_one_out(row: CheckRow, layer_report: bool) -> str:
    """Which of the three sides disagrees with the other two at the worst element, in words."""
    yours = "your backward()" if layer_report else "the layers' backward()"
    if row.symbolic is None and row.numeric is not None and row.backward is not None:
        forward = "your forward()" if layer_report else "the forward pass"
        return f"{yours} disagrees with finite differences of {forward}: the backward pass is wrong"
    if row.symbolic is None or row.numeric is None or row.backward is None:
        return ""
    try:
        sym, back, num = (float(np.asarray(getattr(row, side), dtype=float)[row.worst_index])
                          for side in ("symbolic", "backward", "numeric"))
    except (IndexError, ValueError, TypeError):
        return ""
    tol = max(row.tolerances.values(), default=1e-6)
    scale = max(abs(sym), abs(back), abs(num), 1e-300)

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= max(tol, 1e-6) * scale

    if close(sym, num) and not close(back, sym):
        return f"{yours} is the odd one out: the backward pass is wrong"
    if close(back, num) and not close(sym, back):
        if layer_report:
            return "the spec's rule is the odd one out: your forward() computes another function than the spec's"
        return "the symbolic derivation is the odd one out: a layer's forward() is not its symbolic forward"
    if close(sym, back) and not close(num, sym):
        return "finite differences are the odd one out: the function is not smooth here, or the step is too large"
    return "all three disagree"


_SIDE_LABEL = {"symbolic": "symbolic", "backward": "backward()", "numeric": "numeric"}


def _sources(report: CheckReport, layer_report: bool) -> dict[str, str]:
    numeric = (
        "(finite differences along a random direction)" if report.mode == "fast" else f"({report.method} differences"
        + (" of your forward())" if layer_report else " of the loss)")
    )
    if layer_report:
        return {"symbolic": "(the spec's rule)", "backward": "(your backward())", "numeric": numeric}
    return {"symbolic": "(the chain-rule derivation)", "backward": "(the layers' backward())", "numeric": numeric}


def _gradient_label(name: str, layer_report: bool) -> str:
    if name == "forward":
        return "forward()"
    return f"d{name}" if layer_report else f"dE/d{name}"


def _where(name: str, network: Network | None) -> str:
    if network is None or name == "x" or name not in network.params:
        return ""
    index = network.param(name).layer_index
    return f" (layer {index + 1}, {network.layers[index]!r})"


def _value_at(value: Any, index: tuple[int, ...]) -> str:
    if value is None:
        return ""
    array = np.asarray(value, dtype=float)
    try:
        return f"{float(array[index] if index else array.reshape(-1)[0] if array.size == 1 else np.nan):.10g}"
    except (IndexError, ValueError):
        return ""


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _tolerance(row: CheckRow) -> str:
    if row.worst_pair == "backward vs symbolic" and "exact" in row.tolerances:
        return f"{row.tolerances['exact']:.0e}"
    others = [value for key, value in row.tolerances.items() if key != "exact"]
    return f"{others[0]:.0e}" if others else "-"


def _formulas(report: CheckReport, spec: Any, network: Network | None, kink: Any) -> dict[str, str]:
    """The expected formula of each gradient, in plain text; {} when none can be had."""
    try:
        if network is not None:
            return _network_formulas(report, network, kink)
        if spec is not None:
            return _spec_formulas(report, spec, kink)
    except SymgradError:  # a formula is a courtesy; the failure is reported without it
        return {}
    return {}


def _network_formulas(report: CheckReport, network: Network, kink: Any) -> dict[str, str]:
    derivation = cached_derivation(network, None, kink)
    found = {}
    for name in derivation.wrt:
        lhs = f"dE/d{name}"
        steps = [step for step in derivation.steps(name) if expr_text(step.lhs) == lhs]
        if not steps:
            continue
        texts = [f"{lhs} = {expr_text(steps[0].rhs)}"]
        if len(steps) > 1 and len(expr_text(steps[1].rhs)) <= 160:
            texts.append(expr_text(steps[1].rhs))
        found[name] = " = ".join(texts)
    return found


def _spec_formulas(report: CheckReport, spec: Any, kink: Any) -> dict[str, str]:
    layer = spec() if isinstance(spec, type) else spec
    if not isinstance(layer, Layer):
        return {}
    point = report.values
    names = [row.name for row in report.rows if row.name not in ("x", "forward")]
    roles = dict(zip(names, layer.roles, strict=False)) if set(names) != set(layer.roles) else {n: n for n in names}
    shapes = {role: np.shape(point[name]) for name, role in roles.items() if name in point}
    rules = spec_rules(layer, x_shape=np.shape(point["x"]), param_shapes=shapes, kink=kink)
    users = {role: name for name, role in roles.items()}
    found = {}
    for name in ("x", *names):
        role = "x" if name == "x" else roles.get(name, "")
        if role in rules.grads:
            shape = np.shape(point[name]) if name in point else ()
            found[name] = f"d{name} = {to_text(rules.grads[role], rules, users)}, shape {shape}"
    return found


# -- catalogs ---------------------------------------------------------------------------------------


def _normal_target(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _one_hot_target(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    classes = shape[-1]
    return np.eye(classes)[rng.integers(0, classes, size=shape[:-1])]


def _binary_target(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(float)


_TARGETS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "normal": _normal_target,
    "one-hot": _one_hot_target,
    "binary": _binary_target,
}


@dataclass(frozen=True)
class LayerCase:
    """One layer to check: how to build it, the spec it should implement, the shape of its input.

    Attributes
    ----------
    id : str
        The test id (letters, digits, ``-``, ``_``, ``.``, ``(``, ``)``, ``,``);
        ids must be unique in a catalog and stable from run to run.
    layer_factory : callable
        ``layer_factory(rng)`` returns a fresh layer with its parameters set,
        drawing them from the ``numpy.random.Generator`` it is given.
    spec : symgrad layer, optional
        The layer it should implement (``symgrad.Affine(3, 2)``); None checks
        against finite differences only.
    x_shape : tuple of int
        Shape of the input ``x``, drawn standard normal.
    target : "normal", "one-hot", "binary", callable or None
        For a loss layer, how to draw the target ``t``: standard normal, one-hot
        rows, 0/1 labels (``"binary"``), or ``target(rng, x_shape)``. None for a layer that is not a loss.
    """

    id: str
    layer_factory: Callable[[np.random.Generator], Any]
    spec: Layer | None = None
    x_shape: tuple[int, ...] = (4, 3)
    target: str | Callable[[np.random.Generator, tuple[int, ...]], np.ndarray] | None = None

    def arguments(self, seed: int) -> dict[str, Any]:
        """The arguments of :func:`assert_gradients_match` at ``seed``: layer, spec, x, t, seed.

        Everything is drawn from ``numpy.random.default_rng(seed)``, so a case and
        a seed always give the same layer and point.

        Examples
        --------
        >>> case = LAYER_CASES[0]
        >>> args = case.arguments(0)
        >>> sorted(args), args["x"].shape == case.x_shape
        (['layer', 'seed', 'spec', 't', 'x'], True)
        """
        rng = np.random.default_rng(seed)
        layer = self.layer_factory(rng)
        x = rng.standard_normal(self.x_shape)
        if isinstance(self.spec, ReLU) and not np.any(x > 0):
            x = -x  # every ReLU input negative makes the gradient zero on every side: a check that cannot fail
        target = _TARGETS.get(self.target) if isinstance(self.target, str) else self.target
        if isinstance(self.target, str) and target is None:
            msg = f"case {self.id!r}: unknown target {self.target!r}; use 'normal', 'one-hot', 'binary' or a function"
            raise UnknownNameError(msg)
        t = None if target is None else np.asarray(target(rng, self.x_shape), dtype=float)
        return {"layer": layer, "spec": self.spec, "x": x, "t": t, "seed": seed}


@dataclass(frozen=True)
class NetworkCase:
    """One network to check: how to build it, and how to check it.

    Attributes
    ----------
    id : str
        The test id, unique in a catalog.
    network_factory : callable or str
        ``network_factory()`` returns the Network; a string is a network spec.
    mode : {"full", "fast"}
        ``"fast"`` for wide networks (a random-direction check, a few forward passes).
    batch : int
        Rows of the random ``x``.
    """

    id: str
    network_factory: Callable[[], Network] | str
    mode: str = "full"
    batch: int = 4

    def network(self) -> Network:
        """A fresh network.

        Examples
        --------
        >>> NetworkCase("mini", "affine > affine > half-squared-error").network().params
        ('w1', 'b1', 'w2', 'b2')
        """
        if isinstance(self.network_factory, str):
            return network_from_spec(self.network_factory)
        return self.network_factory()


def _affine(inputs: int, outputs: int) -> Callable[[np.random.Generator], Affine]:
    def make(rng: np.random.Generator) -> Affine:
        layer = Affine(inputs, outputs)
        scale = 1.0 / np.sqrt(inputs)
        layer.set_params({"W": scale * rng.standard_normal((inputs, outputs)), "b": 0.5 * rng.standard_normal(outputs)})
        return layer

    return make


def _matmul(i: int, o: int) -> Callable[[np.random.Generator], Layer]:
    def make(rng: np.random.Generator) -> Layer:
        layer = Affine(i, o, bias=False)
        layer.set_params({"W": rng.standard_normal((i, o))})
        return layer

    return make


def _plain(cls: type[Layer]) -> Callable[[np.random.Generator], Layer]:
    def make(rng: np.random.Generator) -> Layer:
        return cls()

    return make


def _norm(cls: type[Layer], features: int) -> Callable[[np.random.Generator], Layer]:
    def make(rng: np.random.Generator) -> Layer:
        layer = cls(features)  # type: ignore[arg-type]
        layer.set_params({"gamma": rng.uniform(0.5, 1.5, features), "beta": 0.5 * rng.standard_normal(features)})
        return layer

    return make


def _layer_cases() -> tuple[LayerCase, ...]:
    cases = [
        LayerCase(f"affine({i},{o})-x{n}x{i}", _affine(i, o), Affine(i, o), (n, i))
        for n, i, o in ((1, 1, 1), (4, 3, 2), (3, 3, 3), (2, 5, 4))
    ]
    for cls in (Sigmoid, Tanh, ReLU):
        cases += [LayerCase(f"{cls.kind}-x{n}x{d}", _plain(cls), cls(), (n, d)) for n, d in ((1, 1), (4, 3), (2, 6))]
    norms: tuple[tuple[type[Layer], tuple[tuple[int, int], ...]], ...] = (
        (BatchNorm, ((4, 3), (6, 2))), (LayerNorm, ((4, 3), (3, 5))),  # derived through their own graph
    )
    for norm, sizes in norms:
        cases += [LayerCase(f"{norm.kind}-x{n}x{d}", _norm(norm, d), norm(d), (n, d))  # type: ignore[arg-type]
                  for n, d in sizes]
    loss_shapes: dict[type[Loss], tuple[tuple[int, int], ...]] = {
        HalfSquaredError: ((1, 1), (4, 2), (3, 5)),
        MeanSquaredError: ((1, 1), (4, 2), (3, 5)),
        SoftmaxCrossEntropy: ((1, 2), (4, 3), (3, 5)),
    }
    for loss, shapes in loss_shapes.items():
        target = "one-hot" if loss is SoftmaxCrossEntropy else "normal"
        cases += [LayerCase(f"{loss.kind}-x{n}x{d}", _plain(loss), loss(), (n, d), target) for n, d in shapes]
    # Derived from index forwards (issue 10): softmax needs two features; the hinge one-hot rows, BCE 0/1 labels.
    cases += [LayerCase(f"softmax-x{n}x{d}", _plain(Softmax), Softmax(), (n, d)) for n, d in ((1, 2), (4, 3), (2, 6))]
    cases += [LayerCase(f"matmul({i},{o})-x{n}x{i}", _matmul(i, o), Affine(i, o, bias=False), (n, i))
              for n, i, o in ((1, 1, 1), (4, 3, 2))]
    cases += [LayerCase(f"sigmoid-cross-entropy-x{n}x{d}", _plain(SigmoidCrossEntropy), SigmoidCrossEntropy(),
                        (n, d), "binary") for n, d in ((1, 2), (4, 3), (3, 5))]
    # The hinge: several samples and classes, so that some margin is active (else dx = 0, a vacuous check).
    cases += [LayerCase(f"svm-loss-x{n}x{d}", _plain(SVMLoss), SVMLoss(), (n, d), "one-hot")
              for n, d in ((4, 3), (3, 5), (6, 4))]
    return tuple(cases)


#: Every built-in layer at a few shapes, each checked against itself as the spec.
LAYER_CASES: tuple[LayerCase, ...] = _layer_cases()

#: The example networks: the article's, the README's, one per layer kind and loss.
NETWORK_CASES: tuple[NetworkCase, ...] = (
    NetworkCase("article", article_network),
    NetworkCase("scalar-sigmoid", "affine > sigmoid > affine > half-squared-error"),
    NetworkCase("scalar-tanh-relu", "affine > tanh > affine > relu > affine > mean-squared-error"),
    NetworkCase("readme-sigmoid", "affine(3,4) > sigmoid > affine(4,1) > half-squared-error"),
    NetworkCase("tanh-mse", "affine(3,5) > tanh > affine(5,2) > mean-squared-error"),
    NetworkCase("relu-softmax", "affine(4,6) > relu > affine(6,3) > softmax-cross-entropy"),
    NetworkCase(
        "deep-mixed",
        "affine(3,4) > sigmoid > affine(4,4) > tanh > affine(4,3) > relu > affine(3,2) > softmax-cross-entropy",
    ),
    NetworkCase("batch-norm", "affine(3,4) > batch-norm(4) > tanh > affine(4,2) > half-squared-error"),
    NetworkCase("layer-norm", "affine(3,5) > layer-norm(5) > relu > affine(5,2) > mean-squared-error"),
    NetworkCase("readme-mnist", "affine(784,128) > relu > affine(128,10) > softmax-cross-entropy", mode="fast"),
    NetworkCase("readme-cli", "affine(64,64) > tanh > affine(64,10) > softmax-cross-entropy", mode="fast"),
    NetworkCase("softmax-bce", "affine(4,3) > softmax > matmul(3,2) > sigmoid-cross-entropy"),
    NetworkCase("matmul-svm", "matmul(4,5) > tanh > affine(5,3) > svm-loss"),
    NetworkCase("cnn-max-pool", "input(1,4,4) > conv2d(1,2,3,stride=1,pad=1) > relu > max-pool2d(2,2) > flatten"
                                " > affine(8,3) > softmax-cross-entropy"),
    NetworkCase("cnn-avg-pool", "input(2,5,5) > conv2d(2,2,3,stride=2,pad=1) > tanh > avg-pool2d(2,1) > flatten"
                                " > affine(8,2) > half-squared-error"),
)

#: The N-D layer kinds (images in NCHW): networks cover them (NETWORK_CASES); as single-layer cases they
#: need textbook image layers, which the layer cases do not have yet.
N_D_KINDS = frozenset({"conv2d", "max-pool2d", "avg-pool2d", "flatten"})


def parametrize_layers(cases: Iterable[LayerCase] | None = None, seeds: Iterable[int] = range(3)) -> MarkDecorator:
    """A ``pytest.mark.parametrize`` over layer cases and seeds, as arguments ``case`` and ``seed``.

    Test ids are ``<case id>-seed<seed>``: deterministic, so pytest-xdist
    workers collect the same tests.

    Parameters
    ----------
    cases : iterable of LayerCase, optional
        :data:`LAYER_CASES` (every built-in layer at a few shapes) by default.
    seeds : iterable of int
        The seeds each case is checked at.

    Examples
    --------
    >>> from symgrad.testing import parametrize_layers
    >>> @parametrize_layers(seeds=range(2))
    ... def test_layer(symgrad_check, case, seed):
    ...     symgrad_check.case(case, seed)
    >>> [mark.args[0] for mark in test_layer.pytestmark]
    [('case', 'seed')]
    """
    import pytest  # only where a test suite asks for it

    chosen = tuple(LAYER_CASES if cases is None else cases)
    return pytest.mark.parametrize(("case", "seed"), _params(pytest, chosen, seeds, LayerCase))


def parametrize_networks(cases: Iterable[NetworkCase] | None = None, seeds: Iterable[int] = range(3)) -> MarkDecorator:
    """A ``pytest.mark.parametrize`` over network cases and seeds, as arguments ``case`` and ``seed``.

    Parameters
    ----------
    cases : iterable of NetworkCase, optional
        :data:`NETWORK_CASES` (the example networks) by default.
    seeds : iterable of int
        The seeds of the random points.

    Examples
    --------
    >>> marker = parametrize_networks(seeds=[0])
    >>> [param.id for param in marker.args[1]][:2]
    ['article-seed0', 'scalar-sigmoid-seed0']
    """
    import pytest

    chosen = tuple(NETWORK_CASES if cases is None else cases)
    return pytest.mark.parametrize(("case", "seed"), _params(pytest, chosen, seeds, NetworkCase))


def _params(pytest: Any, cases: tuple[Any, ...], seeds: Iterable[int], kind: type[Any]) -> list[Any]:
    seeds = tuple(seeds)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            msg = f"seeds must be non-negative integers, got {seed!r}"
            raise UnknownNameError(msg)
    seen: set[str] = set()
    for case in cases:
        if not isinstance(case, kind):
            msg = f"cases must be {kind.__name__} objects, got {type(case).__name__}"
            raise SpecError(msg)
        if not isinstance(case.id, str) or not case.id or case.id in seen:
            problem = "is used twice" if case.id in seen else "is not a non-empty string"
            msg = f"case id {case.id!r} {problem}: test ids must be unique and stable (no addresses, no random parts)"
            raise SpecError(msg)
        seen.add(case.id)
    return [pytest.param(case, int(seed), id=f"{case.id}-seed{int(seed)}") for case in cases for seed in seeds]


def assert_case(case: LayerCase | NetworkCase, seed: int = 0) -> CheckReport:
    """Run the assertion a catalog case calls for at ``seed``.

    Examples
    --------
    >>> assert_case(NETWORK_CASES[0], seed=1).ok
    True
    """
    __tracebackhide__ = True
    if isinstance(case, LayerCase):
        return assert_gradients_match(**case.arguments(seed))
    if isinstance(case, NetworkCase):
        return assert_network_consistent(case.network(), seed=seed, mode=case.mode, batch=case.batch)
    msg = f"assert_case takes a LayerCase or a NetworkCase, got {type(case).__name__}"
    raise SpecError(msg)
