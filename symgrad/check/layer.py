"""Checking a user's own layer: the article's protocol, or a pair of functions.

:func:`check_layer` takes a layer written the way the article (and *Deep
Learning from Scratch*) writes them -- parameters as attributes, ``forward(x)``
caching what ``backward(dout)`` needs, ``backward`` returning ``dx`` and storing
``dW``, ``db`` -- or a pair ``(forward, backward)`` of functions, and checks its
backward pass at one point:

* against finite differences of the layer's own forward, always: the scalar
  checked is ``E = sum(forward(x) * dout)`` for a fixed, seeded random ``dout``
  (so one check covers the whole Jacobian, ``dout``'s inner product with it),
  or ``E = forward(x, t) * dout`` for a loss layer (``dout = 1`` by default);
* against a *spec*, when given: a symgrad layer (``symgrad.Affine(3, 2)``,
  ``symgrad.ReLU()``, ``symgrad.SoftmaxCrossEntropy()``) whose matrix rules are
  the symbolic truth. The rules are not re-derived through a one-layer
  :class:`~symgrad.network.Network` (which would need a made-up loss);
  :mod:`symgrad.check.rules` reads the spec's ``matrix_vjp`` (for a loss,
  ``matrix_grad``) once into small trees, evaluates them at the point, and
  prints them for messages (``dW = x.T @ dout``). The spec's forward is checked
  against the layer's forward first: gradients of two different functions
  cannot be compared, so a forward that differs is a failing row of its own and
  the gradients are then compared with finite differences only.

What the check reports, and how:

* a wrong gradient is a failing row (``report.ok`` is False) whose
  ``diagnosis`` names the usual mistake the wrong value matches
  (:mod:`symgrad.check.diagnose`): a missing transpose, a missing sum over the
  batch, a stale cache, ...;
* a backward that raises, returns None or an array of the wrong shape gives
  failing rows whose message carries the exception and the expected formula and
  shape (``dW = x.T @ dout, shape (3, 2)``); the check itself never raises on a
  misbehaving backward. A forward that raises does raise :class:`LayerError`
  (there is nothing to check without an output);
* findings that leave the gradients right are *notes* (``report.notes``), not
  failures: ``backward`` writing into ``dout`` or ``x`` in place (the
  article's ReLU does), ``backward`` changing a parameter, a loss layer's
  ``backward`` that ignores ``dout``, an array attribute without a gradient,
  a forward that differs from the spec's only slightly (by at most
  :data:`SLIGHTLY_OTHER`, relative: the book's ``cross_entropy_error`` adds
  ``1e-7`` inside its log), so that finite differences of it miss the spec's
  gradient by about as much while backward matches the spec exactly;
* a gradient element where the finite-difference stencil straddles a kink of
  the forward (one-sided differences disagree, and backward's value lies
  between them) gets status ``"kink"``, not ``"FAIL"``.

Every call to the user's code gets fresh copies (of the layer, of ``x``,
``dout`` and the parameters), so the caller's objects are never changed; before
the checked ``forward(x)`` the layer first runs ``forward`` on another, seeded
input, so that a backward that uses a stale cache is caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.check.compare import TOLERANCES, Comparison, compare, noise_floor, tolerance
from symgrad.check.diagnose import MATCH_RTOL, Evidence, diagnose, diagnose_error
from symgrad.check.report import CheckReport, CheckRow, check_options, refuse_long_sweep
from symgrad.check.rules import SpecRules, evaluate, spec_rules, to_text
from symgrad.errors import LayerError, ShapeError, SpecError, UnknownNameError
from symgrad.functions import kink_value
from symgrad.layers import Layer, Loss
from symgrad.numeric import finite
from symgrad.numeric.validate import as_float_array

__all__ = ["check_layer"]

#: When backward() equals the spec's rule exactly and finite differences of the layer's forward()
#: disagree with both by at most this (relative), the forward computes a slightly different function
#: (the book's cross_entropy_error adds 1e-7 inside its log): a note, not a failure.
SLIGHTLY_OTHER = 1e-3

_MISSING = object()
_DOUT_STREAM, _WARM_STREAM = 1, 2
_RESERVED = ("x", "t", "dout")


def check_layer(
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
) -> CheckReport:
    """Check the backward pass of your own layer, against finite differences and a spec.

    Parameters
    ----------
    layer : object or (callable, callable)
        A layer in the article's protocol: ``forward(x)`` (``forward(x, t)`` for a
        loss) and ``backward(dout)`` returning ``dx`` and storing ``d<name>`` for
        each parameter ``<name>``; or a pair ``(forward, backward)`` with
        ``forward(x, *params) -> (out, cache)`` (``forward(x, t, *params)`` for a
        loss) and ``backward(dout, cache) -> (dx, *dparams)`` (or just ``dx``).
    spec : symgrad layer, optional
        The layer it should implement, e.g. ``symgrad.Affine(3, 2)``; its rules
        are the symbolic side. Without it, backward is checked against finite
        differences alone (any layer: convolution, batch norm, pooling).
    x : array_like
        The input (a float array; integer arrays are refused).
    t : array_like, optional
        The target; giving it makes the layer a loss layer.
    seed : int
        Seed of the random ``dout`` and of the earlier input of the stale-cache
        test (drawn from streams of their own, never ``default_rng(seed)``
        itself, from which an ``x`` is often drawn).
    params : mapping or sequence of str, optional
        The parameters. For an object: their attribute names (``["W", "b"]``) or
        a mapping to the gradient attribute (``{"W": "dW"}``) or to a value to
        use; by default the spec's roles, or else every float array attribute
        (set before forward and kept by it) for which backward stores a
        ``d<name>`` (of another shape, that is a failing row). With a spec, the
        names are matched to its roles in order. For a pair: the values, in the
        order ``forward`` takes them (``{"W": W, "b": b}``).
    method : {"central", "richardson", "complex"}
        Finite-difference method.
    rtol : float, optional
        Override the relative tolerances (see :data:`symgrad.check.compare.TOLERANCES`); a
        positive number, since finite differences are never exact (rtol=0 is refused).
    kink : 0, 1/2 or 1
        The spec's derivative of ReLU at 0.
    dout : array_like or float, optional
        The upstream gradient; seeded standard normal by default (1 for a loss).

    Returns
    -------
    CheckReport
        A row per gradient (``x``, then each parameter); ``report.ok`` is False
        when a gradient is wrong, and each failing row's ``diagnosis`` names the
        likely mistake. ``report.notes`` holds findings that leave the gradients
        right (dout written in place, ...).

    Raises
    ------
    DTypeError, ShapeError, NonFiniteError
        ``x``, ``t``, ``dout`` or a parameter is not a usable float array, or
        does not fit the spec.
    LayerError
        ``layer`` does not follow either protocol, or its forward raised.
    SpecError, UnknownNameError
        ``spec`` is not a symgrad layer, or a loss spec without ``t`` (or the
        other way round); an unknown method or kink; a parameter name missing.

    Examples
    --------
    >>> import numpy as np
    >>> import symgrad
    >>> class Affine:  # the article's layer, with the transposes it needs
    ...     def __init__(self, W, b):
    ...         self.W, self.b = W, b
    ...     def forward(self, x):
    ...         self.x = x
    ...         return np.dot(x, self.W) + self.b
    ...     def backward(self, dout):
    ...         self.dW = np.dot(self.x.T, dout)
    ...         self.db = np.sum(dout, axis=0)
    ...         return np.dot(dout, self.W.T)
    >>> rng = np.random.default_rng(0)
    >>> layer = Affine(rng.normal(size=(3, 2)), np.zeros(2))
    >>> report = check_layer(layer, symgrad.Affine(3, 2), x=rng.normal(size=(4, 3)))
    >>> report.ok, [row.name for row in report.rows]
    (True, ['x', 'W', 'b'])

    A backward that forgets a transpose is caught and named:

    >>> class Wrong(Affine):
    ...     def backward(self, dout):
    ...         self.dW = np.dot(self.x, dout)  # missing .T
    ...         self.db = np.sum(dout, axis=0)
    ...         return np.dot(dout, self.W.T)
    >>> square = Wrong(rng.normal(size=(3, 3)), np.zeros(3))
    >>> report = check_layer(square, symgrad.Affine(3, 3), x=rng.normal(size=(3, 3)))
    >>> report.ok, report.row("W").diagnosis
    (False, 'matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout')
    """
    if method not in finite.METHODS:
        msg = f"unknown method {method!r}; choose one of {', '.join(finite.METHODS)}"
        raise UnknownNameError(msg)
    kink_value(kink)
    check_options(seed, rtol, None)
    spec = _as_spec(spec, loss=t is not None)
    x = as_float_array("x", x)
    target = None if t is None else as_float_array("t", t)
    if params is not None and not (
        isinstance(params, (Mapping, str))
        or (isinstance(params, (list, tuple)) and all(isinstance(name, str) for name in params))
    ):
        msg = f"params must name the parameters (['W', 'b']) or map them ({{'W': 'dW'}}), got {params!r:.80}"
        raise UnknownNameError(msg)
    runner = _runner(layer, params, spec)
    with _exit_refused(runner.label):  # a layer calling sys.exit() must not end the caller's process
        # Streams of their own (not default_rng(seed) itself, which users often draw x from too).
        x_warm = np.random.default_rng([seed, _WARM_STREAM]).standard_normal(x.shape)
        try:
            out = runner.first_output(x, target)
        except LayerError:  # a shape that does not fit the spec is the likely reason
            in_features = getattr(spec, "in_features", None)
            if in_features is not None and (x.ndim != 2 or x.shape[1] != in_features):
                msg = f"the spec {spec!r} takes x of shape (N, {in_features}); x has shape {x.shape}"
                raise ShapeError(msg) from None
            if isinstance(spec, Loss) and target is not None and target.shape != x.shape:
                msg = f"the spec {spec!r} takes t of the shape of x, {x.shape}; t has shape {target.shape}"
                raise ShapeError(msg) from None
            raise
        upstream = _upstream(dout, out, target is not None, np.random.default_rng([seed, _DOUT_STREAM]))
        notes = runner.resolve(x, target, upstream)
        values = runner.values()
        rules = _rules(spec, x, values, runner.roles, kink)
        refuse_long_sweep({"x": x, **values}, ("x", *values), method, "check the layer on a smaller x (a few rows do)")
        return _Check(runner, rules, x, target, values, upstream, x_warm, method, rtol, seed, notes).report()


# -- arguments ----------------------------------------------------------------------


@contextmanager
def _exit_refused(label: str) -> Iterator[None]:
    """SystemExit raised by the user's layer becomes a LayerError; KeyboardInterrupt still propagates."""
    try:
        yield
    except SystemExit as exc:
        raise _exit_error(label, "forward() or backward()", exc) from None


def _exit_error(label: str, method: str, exc: SystemExit) -> LayerError:
    msg = (
        f"your layer {label}'s {method} raised SystemExit({exc.code!r}) during the check: a layer must not "
        "exit the process; raise an exception instead (one raised by backward() is reported as a failing row)"
    )
    return LayerError(msg)


def _as_spec(spec: Any, *, loss: bool) -> Layer | None:
    if spec is None:
        return None
    if isinstance(spec, type) and issubclass(spec, Layer):
        spec = spec()
    if not isinstance(spec, Layer):
        msg = f"spec must be a symgrad layer such as symgrad.Affine(3, 2) or symgrad.ReLU(), got {spec!r}"
        raise SpecError(msg)
    if isinstance(spec, Loss) and not loss:
        msg = f"the spec {spec!r} is a loss: pass the target t, as in check_layer(layer, spec, x=x, t=t)"
        raise SpecError(msg)
    if loss and not isinstance(spec, Loss):
        msg = f"t was given, which makes the layer a loss, but the spec {spec!r} is not a loss"
        raise SpecError(msg)
    return spec


def _upstream(dout: Any, out: Any, loss: bool, rng: np.random.Generator) -> Any:
    if loss:
        if np.ndim(out) != 0 and np.size(out) != 1:
            msg = f"a loss layer's forward(x, t) must return one number; it returned shape {np.shape(out)}"
            raise LayerError(msg)
        return 1.0 if dout is None else float(as_float_array("dout", dout, expected_shape=()))
    shape = np.shape(out)
    if dout is None:
        return rng.standard_normal(shape)
    return as_float_array("dout", dout, expected_shape=shape)


def _rules(
    spec: Layer | None, x: np.ndarray, values: Mapping[str, np.ndarray], roles: Mapping[str, str], kink: Any
) -> SpecRules | None:
    if spec is None:
        return None
    features = x.shape[1] if x.ndim == 2 else None
    declared = spec.param_shapes(features) if spec.batched else {}
    shapes = {}
    for name, role in roles.items():
        shapes[role] = values[name].shape
        want = declared.get(role)
        if want and tuple(want) != values[name].shape:
            mine = values[name].shape
            msg = f"the spec {spec!r} has {role} of shape {tuple(want)}; your layer's {name} has shape {mine}"
            raise ShapeError(msg)
    if getattr(spec, "in_features", None) is not None and features != spec.in_features:  # type: ignore[attr-defined]
        msg = f"the spec {spec!r} takes x of shape (N, {spec.in_features}); x has shape {x.shape}"  # type: ignore[attr-defined]
        raise ShapeError(msg)
    return spec_rules(spec, x_shape=x.shape, param_shapes=shapes, kink=kink)


# -- calling the user's code --------------------------------------------------------------


@dataclass
class _Run:
    """What one warm-up forward, forward(x) and backward(dout) observed."""

    out: Any
    dx: Any = None
    grads: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    dout_after: Any = None
    writes: list[str] = field(default_factory=list)


class _Runner:
    """Calls one protocol; subclasses know how."""

    label = "layer"
    names: tuple[str, ...] | None
    roles: dict[str, str]  # parameter name -> the spec's role
    where: dict[str, str]  # parameter name -> where backward puts its gradient, in words

    def new(self) -> Any:
        raise NotImplementedError

    def forward(self, state: Any, x: np.ndarray, t: Any, params: Mapping[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def backward(self, state: Any, dout: Any) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def values(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def resolve(self, x: np.ndarray, t: Any, dout: Any) -> list[str]:
        return []

    def first_output(self, x: np.ndarray, t: Any) -> Any:
        state = self.new()
        try:
            return np.asarray(self.forward(state, x.copy(), _copy(t), self.start_values()))
        except LayerError:
            raise
        except Exception as error:
            msg = f"{self.label}'s forward raised {type(error).__name__}: {error} (x has shape {x.shape})"
            raise LayerError(msg) from error

    def start_values(self) -> dict[str, np.ndarray]:
        return {}

    def run(self, x: np.ndarray, t: Any, values: Mapping[str, np.ndarray], dout: Any, x_warm: np.ndarray) -> _Run:
        """Warm-up forward on ``x_warm``, then forward(x) and backward(dout), all on copies."""
        state = self.new()
        try:
            self.forward(state, x_warm.copy(), _copy(t), _copies(values))
        except Exception:  # the warm-up input may be outside the layer's domain: skip the warm-up
            state = self.new()
        x_in, params_in, dout_in = x.copy(), _copies(values), _copy(dout)
        out = np.asarray(self.forward(state, x_in, _copy(t), params_in))
        writes = ["forward() wrote into its input x"] if not np.array_equal(x_in, x) else []
        x_before = x_in.copy()
        try:
            dx, grads = self.backward(state, dout_in)
        except SystemExit as exc:
            raise _exit_error(self.label, "backward()", exc) from None
        except Exception as error:
            return _Run(out, error=error)
        if not np.array_equal(x_in, x_before):
            writes.append("backward() wrote into the x that forward() received")
        changed = [name for name in values if not _same(self.current(state, name, params_in), values[name])]
        writes += [f"{self.label} changed the parameter {name} during forward/backward" for name in changed]
        dout_after = None if _same(dout_in, dout) else np.array(dout_in, dtype=float)
        return _Run(out, _copy(dx), {k: _copy(v) for k, v in grads.items()}, None, dout_after, writes)

    def current(self, state: Any, name: str, params_in: Mapping[str, np.ndarray]) -> Any:
        return params_in[name]


class _ObjectRunner(_Runner):
    """A layer object in the article's protocol."""

    def __init__(self, layer: Any, params: Mapping[str, Any] | Sequence[str] | None, spec: Layer | None) -> None:
        self.layer = layer
        self.label = type(layer).__name__
        self.given: dict[str, Any] = {}
        self.grad_attr: dict[str, str] = {}
        if isinstance(params, Mapping):
            for name, item in params.items():
                self.grad_attr[name] = item if isinstance(item, str) else f"d{name}"
                if not isinstance(item, str):
                    self.given[name] = item
        elif params is not None:
            if isinstance(params, str):
                params = [params]
            self.grad_attr = {name: f"d{name}" for name in params}
        elif spec is not None:
            self.grad_attr = {role: f"d{role}" for role in spec.roles}
        self.names = tuple(self.grad_attr) if (params is not None or spec is not None) else None
        self.roles = _roles(self.names or (), spec)
        self.where = {name: f"self.{attr}" for name, attr in self.grad_attr.items()}

    def new(self) -> Any:
        try:
            return copy.deepcopy(self.layer)
        except Exception:  # an object that cannot be deep-copied: a shallow copy, parameters set afresh each run
            return copy.copy(self.layer)

    def start_values(self) -> dict[str, np.ndarray]:
        return {name: np.array(value, dtype=float) for name, value in self.given.items()}

    def forward(self, state: Any, x: np.ndarray, t: Any, params: Mapping[str, np.ndarray]) -> Any:
        for name, value in params.items():
            setattr(state, name, value)
        return state.forward(x) if t is None else state.forward(x, t)

    def backward(self, state: Any, dout: Any) -> tuple[Any, dict[str, Any]]:
        dx = state.backward(dout)
        return dx, {name: getattr(state, attr, _MISSING) for name, attr in self.grad_attr.items()}

    def current(self, state: Any, name: str, params_in: Mapping[str, np.ndarray]) -> Any:
        return getattr(state, name, None)

    def values(self) -> dict[str, np.ndarray]:
        found = {}
        for name in self.names or ():
            value = self.given.get(name, getattr(self.layer, name, _MISSING))
            if value is _MISSING:
                msg = f"your layer {self.label} has no attribute {name!r}; pass params= naming its parameters"
                raise UnknownNameError(msg)
            found[name] = as_float_array(name, value)
        return found

    def resolve(self, x: np.ndarray, t: Any, dout: Any) -> list[str]:
        """Find the parameters (when not given): float arrays that backward gives a gradient of."""
        if self.names is not None:
            return []
        state = self.new()
        before = _attributes(state)
        self.forward(state, x.copy(), _copy(t), {})
        current = _attributes(state)  # parameters are the float arrays forward() did not replace
        kept = {k: v for k, v in before.items() if _is_float_array(v) and k in current and current[k] is v}
        try:
            state.backward(_copy(dout))
        except Exception:  # reported by the checked run; the parameters are then the arrays forward kept
            self.grad_attr = {name: f"d{name}" for name in kept}
        else:
            after: dict[str, Any] = _attributes(state)
            self.grad_attr = {
                name: f"d{name}"
                for name in kept
                if _is_float_array(after.get(f"d{name}")) and after[f"d{name}"] is not before.get(f"d{name}")
            }
        self.names = tuple(self.grad_attr)
        self.roles = {name: name for name in self.names}
        self.where = {name: f"self.{attr}" for name, attr in self.grad_attr.items()}
        return [
            f"{name} is an array attribute of {self.label} but backward() stored no d{name} of its shape: "
            f"if {name} is a parameter, store its gradient in self.d{name} (or name it in params=)"
            for name in kept
            if name not in self.grad_attr
        ]


class _PairRunner(_Runner):
    """A pair of functions ``forward(x, *params) -> (out, cache)``, ``backward(dout, cache) -> (dx, *dparams)``."""

    def __init__(self, pair: tuple[Callable[..., Any], Callable[..., Any]], params: Any, spec: Layer | None) -> None:
        self.pair = pair
        self.label = f"({_name(pair[0])}, {_name(pair[1])})"
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            msg = "for a (forward, backward) pair, params must map each parameter's name to its value: {'W': W, 'b': b}"
            raise UnknownNameError(msg)
        self.given = dict(params)
        self.names = tuple(self.given)
        self.roles = _roles(self.names, spec)
        self.where = {name: f"backward's return value {i + 2}" for i, name in enumerate(self.names)}

    def new(self) -> Any:
        return {}

    def start_values(self) -> dict[str, np.ndarray]:
        return self.values()

    def values(self) -> dict[str, np.ndarray]:
        return {name: as_float_array(name, value) for name, value in self.given.items()}

    def forward(self, state: Any, x: np.ndarray, t: Any, params: Mapping[str, np.ndarray]) -> Any:
        args = (x,) if t is None else (x, t)
        result = self.pair[0](*args, *params.values())
        if not (isinstance(result, tuple) and len(result) == 2):
            msg = f"{_name(self.pair[0])} must return (out, cache); it returned {type(result).__name__}"
            raise LayerError(msg)
        state["cache"] = result[1]
        return result[0]

    def backward(self, state: Any, dout: Any) -> tuple[Any, dict[str, Any]]:
        result = self.pair[1](dout, state["cache"])
        parts = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        if len(parts) != 1 + len(self.given):
            want = ", ".join(["dx", *(f"d{name}" for name in self.given)])
            msg = f"{_name(self.pair[1])} returned {len(parts)} values; expected {1 + len(self.given)}: ({want})"
            raise LayerError(msg)
        return parts[0], dict(zip(self.given, parts[1:], strict=True))


def _runner(layer: Any, params: Any, spec: Layer | None) -> _Runner:
    if isinstance(layer, (tuple, list)) and len(layer) == 2 and all(callable(f) for f in layer):
        runner: _Runner = _PairRunner((layer[0], layer[1]), params, spec)
    elif callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None)):
        runner = _ObjectRunner(layer, params, spec)
    else:
        msg = (
            "check_layer takes a layer with forward(x) and backward(dout) methods, or a pair "
            f"(forward, backward) of functions; got {type(layer).__name__}"
        )
        raise LayerError(msg)
    for name in runner.names or ():
        if name in _RESERVED:
            msg = f"a parameter cannot be named {name!r} (x, t and dout name the input, target and upstream gradient)"
            raise UnknownNameError(msg)
    return runner


def _roles(names: Sequence[str], spec: Layer | None) -> dict[str, str]:
    """Each parameter's role in the spec: by name when the names are the roles, else in order."""
    if spec is None:
        return {name: name for name in names}
    if set(names) == set(spec.roles):
        return {name: name for name in names}
    if len(names) != len(spec.roles):
        msg = (
            f"the spec {spec!r} has parameters {', '.join(spec.roles) or '(none)'}; "
            f"the layer's are {', '.join(names) or '(none)'}"
        )
        raise UnknownNameError(msg)
    return dict(zip(names, spec.roles, strict=True))


def _name(function: Any) -> str:
    return str(getattr(function, "__name__", type(function).__name__))


def _attributes(state: Any) -> dict[str, Any]:
    try:
        return dict(vars(state))
    except TypeError:
        msg = f"cannot list the attributes of {type(state).__name__} (no __dict__): pass params=['W', 'b', ...]"
        raise LayerError(msg) from None


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def _copy(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _copies(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: value.copy() for name, value in values.items()}


def _same(a: Any, b: Any) -> bool:
    try:
        return np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


# -- the check ----------------------------------------------------------------------------


@dataclass
class _Check:
    runner: _Runner
    rules: SpecRules | None
    x: np.ndarray
    t: np.ndarray | None
    values: dict[str, np.ndarray]
    dout: Any
    x_warm: np.ndarray
    method: str
    rtol: float | None
    seed: int
    notes: list[str]
    evaluations: int = 0
    _numeric_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return ("x", *self.values)

    def report(self) -> CheckReport:
        main = self.runner.run(self.x, self.t, self.values, self.dout, self.x_warm)
        numeric = self.numeric(self.x, self.dout)
        forward_row = self.forward_row(main.out)
        symbolic = self.symbolic() if forward_row is None else {}
        self.notes += self.findings(main)
        errors = self.error_diagnoses(main.error)
        rows = [self.row(name, symbolic.get(name), main, numeric, errors.get(name, "")) for name in self.names]
        if forward_row is not None:
            rows.insert(0, forward_row)
        point = {"x": self.x, **self.values, "dout": self.dout, **({} if self.t is None else {"t": self.t})}
        return CheckReport(
            self.title(), tuple(rows), self.method, "full", self.seed, point, self.evaluations, notes=tuple(self.notes)
        )

    def title(self) -> str:
        against = f"symgrad {self.rules.title}" if self.rules is not None else "finite differences"
        return f"your {self.runner.label} against {against}"

    # -- the three sides --
    def objective(self, dout: Any) -> Callable[[Mapping[str, Any]], Any]:
        state = self.runner.new()

        def energy(v: Mapping[str, Any]) -> Any:
            params = {name: np.array(v[name]) for name in self.values}
            out = self.runner.forward(state, np.array(v["x"]), _copy(self.t), params)
            return np.sum(np.asarray(out) * dout)

        return energy

    def numeric(self, x: np.ndarray, dout: Any) -> finite.FiniteResult:
        result = finite.gradient(self.objective(dout), {"x": x, **self.values}, self.names, method=self.method)
        self.evaluations += result.evaluations
        return result

    def env(self, **changes: Any) -> dict[str, Any]:
        env: dict[str, Any] = {"x": self.x, "dout": self.dout, "t": self.t}
        env.update({self.runner.roles[name]: value for name, value in self.values.items()})
        env.update(changes)
        return env

    def symbolic(self) -> dict[str, np.ndarray]:
        if self.rules is None:
            return {}
        grads = {}
        for name in self.names:
            value = np.asarray(evaluate(self.rules.grads[self.role(name)], self.env()), dtype=float)
            grads[name] = value.reshape(self.shape(name))
        return grads

    def role(self, name: str) -> str:
        return "x" if name == "x" else self.runner.roles[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.x.shape if name == "x" else self.values[name].shape

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
    def forward_row(self, out: Any) -> CheckRow | None:
        if self.rules is None:
            return None
        spec_out = np.asarray(evaluate(self.rules.forward, self.env()), dtype=float)
        out = np.asarray(out, dtype=float)
        tol = tolerance(self.method, override=self.rtol)
        formula = to_text(self.rules.forward)
        if spec_out.size == out.size and np.squeeze(spec_out).shape == np.squeeze(out).shape:
            c = compare(out.reshape(spec_out.shape), spec_out)
            if c.passes(tol):
                return None
            at = _index(c.worst_index)
            mine, theirs = _at(out.reshape(spec_out.shape), c.worst_index, 10), _at(spec_out, c.worst_index, 10)
            where = f"at element {at}" if at else "in value"
            text = f"your forward() differs from the spec's ({formula}) {where}: yours {mine}, the spec's {theirs}"
            if c.rel_error <= SLIGHTLY_OTHER:
                self.notes.append(
                    f"{text} (relative difference {c.rel_error:.2g}): a slightly different function (a small constant "
                    "such as 1e-7 inside a log does this); gradients are compared with the spec's all the same"
                )
                return None
        else:
            c = Comparison(float("inf"), float("inf"), float("inf"), _largest(spec_out))
            text = f"your forward() returned shape {out.shape}; the spec's ({formula}) gives {spec_out.shape}"
            out = None
        message = (
            f"{text}. Gradients of two different functions cannot be compared, so the gradient rows below "
            "compare backward() with finite differences of your forward() only"
        )
        return CheckRow("forward", spec_out.shape, spec_out, out, None, c.rel_error, c.elem_rel_error, c.abs_error,
                        c.worst_index, "forward vs spec", {"forward": tol}, "FAIL", message)

    def row(self, name: str, sym: Any, main: _Run, numeric: finite.FiniteResult, error_diagnosis: str) -> CheckRow:
        num = numeric.gradients[name]
        if main.error is not None:
            error = main.error
            raised = f"d{name}: backward() raised before returning it (see dx)"
            if name == "x":
                raised = f"dx: backward() raised {type(error).__name__}: {error}"
            return _failed(name, self.shape(name), sym, num, f"{raised}; {self.expected(name)}", error_diagnosis)
        raw = main.dx if name == "x" else main.grads.get(name, _MISSING)
        got, problem = self.valid(name, raw)
        if problem:
            diagnosis = self.diagnosis(name, got, sym, num, main) if got is not None else ""
            return _failed(name, self.shape(name), sym, num, f"{problem}; {self.expected(name)}", diagnosis, got)
        return self.compared(name, sym, got, num, main, numeric)  # type: ignore[arg-type]

    def valid(self, name: str, raw: Any) -> tuple[np.ndarray | None, str]:
        where = "backward()'s return value" if name == "x" else self.runner.where[name]
        what = f"d{name} ({where})"
        if raw is _MISSING:
            return None, f"d{name}: backward() did not store it: the layer has no {where} after backward()"
        if raw is None:
            return None, f"{what} is None: backward() did not compute it"
        try:
            if np.iscomplexobj(raw):  # np.array(..., dtype=float) would drop the imaginary part with a warning
                return None, f"{what} is complex ({np.asarray(raw).dtype}): backward() must return real values"
            got = np.array(raw, dtype=float)
        except (TypeError, ValueError):
            return None, f"{what} is a {type(raw).__name__}, not an array of numbers"
        if got.shape != self.shape(name):
            return got, f"{what} has shape {got.shape}"
        if not np.all(np.isfinite(got)):
            return None, f"{what} holds NaN or infinity"
        return got, ""

    def compared(
        self, name: str, sym: Any, got: np.ndarray, num: np.ndarray, main: _Run, numeric: finite.FiniteResult
    ) -> CheckRow:
        exact, ntol = tolerance("exact", override=self.rtol), tolerance(self.method, override=self.rtol)
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
            if kink:
                status, message = "kink", kink
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
                diagnosis = self.diagnosis(name, got, sym, num, main)
                if not diagnosis and self.rules is None:
                    message += " (give a spec such as symgrad.Affine(3, 2) to have the likely mistake named)"
        tols = {"exact": exact, self.method: ntol} if sym is not None else {self.method: ntol}
        return CheckRow(name, got.shape, sym, got, num, worst.rel_error, worst.elem_rel_error, worst.abs_error,
                        worst.worst_index, worst_pair, tols, status, message, diagnosis)

    def numeric_floor(self, name: str, got: np.ndarray, main: _Run, numeric: finite.FiniteResult) -> float:
        """The gradient scale below which finite differences of this forward are rounding noise.

        A step that moves a parameter by 1e-5 moves the layer's value by about that much, which
        is lost when the values are around 1e200 (b at x ~ 1e200): the difference quotient then
        has an error of eps * |value| / step, far above the gradient. Errors are measured
        against that noise, as :func:`symgrad.check.compare.noise_floor` says; such a gradient
        is then checked by backward vs the spec's rule alone, and a note says so.
        """
        if numeric.method == "complex":  # no subtraction, no cancellation
            return 0.0
        magnitude = float(np.sum(np.abs(np.asarray(main.out, dtype=float) * np.asarray(self.dout, dtype=float))))
        if not np.isfinite(magnitude):
            return 0.0
        step = float(np.min(numeric.steps[name]))
        noise = noise_floor(numeric.method, magnitude, step) * TOLERANCES["float64"][numeric.method]
        if magnitude > 1 and noise > float(np.max(np.abs(got), initial=0.0)):
            checked = "against the spec's rule alone" if self.rules is not None else "by nothing: give a spec"
            self.notes.append(
                f"d{name}: finite differences cannot resolve it at this point: the layer's values are so large "
                f"(about {magnitude:.3g}) that a step of d{name} is lost in rounding (noise about {noise:.3g}); "
                f"d{name} is checked {checked}"
            )
        return noise / tolerance(self.method, override=self.rtol)

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
        sides = [f"your backward() gives {_at(got, idx)}"]
        if sym is not None:
            sides.append(f"the spec's rule {_at(sym, idx)}")
        sides.append(f"finite differences {_at(num, idx)}")
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
            f"d{name}{_index(idx)}: {', '.join(sides)} ({pair}: relative error {worst.rel_error:.3g} > tolerance "
            f"{tol:.0e}). {culprit}"
        )

    def kink(self, name: str, sym: Any, got: np.ndarray, num: np.ndarray, numeric: finite.FiniteResult) -> str:
        """A message when every disagreeing element sits on a kink of forward(), else ""."""
        ntol = tolerance(self.method, override=self.rtol)
        sides = [got] + ([sym] if sym is not None else [])
        scale = max(float(np.max(np.abs(a), initial=0.0)) for a in [num, *sides]) or 1.0
        bad = np.zeros(got.shape, dtype=bool)
        for side in sides:
            bad |= np.abs(num - side) > ntol * scale
        if sym is not None:
            bad |= np.abs(got - sym) > tolerance("exact", override=self.rtol) * scale
        indices = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)]
        if not indices or len(indices) > 1000:
            return ""
        energy = self.objective(self.dout)
        base = {"x": self.x, **self.values}
        steps = numeric.steps[name]
        first = ""
        for idx in indices:
            left, right = self.one_sided(energy, base, name, idx, float(np.asarray(steps)[idx]))
            lo, hi = min(left, right) - ntol * scale, max(left, right) + ntol * scale
            if abs(right - left) <= 1e-3 * scale or not all(lo <= float(side[idx]) <= hi for side in sides):
                return ""
            if not first:
                first = (
                    f"d{name}{_index(idx)}: forward() has a kink here (the finite-difference stencil straddles it): "
                    f"one-sided differences give {left:.6g} and {right:.6g}, and backward()'s {_at(got, idx)}"
                    + (f" and the spec's {_at(sym, idx)}" if sym is not None else "")
                    + " lie between them, so no derivative can be checked there"
                )
        more = len(indices) - 1
        return first + (f" ({more} more element{'s' if more > 1 else ''} likewise)" if more else "")

    def one_sided(self, energy: Callable[[Mapping[str, Any]], Any], base: Mapping[str, np.ndarray], name: str,
                  idx: tuple[int, ...], h: float) -> tuple[float, float]:
        values = []
        for sign in (-1.0, 0.0, 1.0):
            moved = {k: v.copy() for k, v in base.items()}
            moved[name][idx] += sign * h
            values.append(float(np.real(energy(moved))))
        self.evaluations += 3
        return (values[1] - values[0]) / h, (values[2] - values[1]) / h

    # -- diagnosis and notes --
    def diagnosis(self, name: str, got: np.ndarray | None, sym: Any, num: np.ndarray, main: _Run) -> str:
        exact = sym is not None
        evidence = Evidence(
            name,
            got,
            np.asarray(sym if exact else num, dtype=float),
            self.env(),
            self.rules if exact else None,
            expected_with=None if exact else (lambda changes: self.numeric_with(name, changes)),
            x_warm=self.x_warm,
            dout_after=main.dout_after,
            rtol=MATCH_RTOL if exact else tolerance(self.method, override=self.rtol),
            role=self.role(name),
            names=self.user_names(),
        )
        return diagnose(evidence)

    def numeric_with(self, name: str, changes: Mapping[str, Any]) -> np.ndarray | None:
        key = repr([(k, np.asarray(v).tobytes()) for k, v in sorted(changes.items())])
        if key not in self._numeric_cache:
            x = np.asarray(changes.get("x", self.x), dtype=float)
            dout = changes.get("dout", self.dout)
            try:
                self._numeric_cache[key] = self.numeric(x, dout).gradients
            except Exception:  # the layer may not take the changed input; then no candidate
                self._numeric_cache[key] = {}
        return self._numeric_cache[key].get(name)  # type: ignore[no-any-return]

    def error_diagnoses(self, error: BaseException | None) -> dict[str, str]:
        if error is None or self.rules is None:
            return {}
        names = {name: self.role(name) for name in self.names}
        found = diagnose_error(error, self.rules, self.env(), names, self.user_names())
        return {} if found is None else {found[0]: found[1]}

    def findings(self, main: _Run) -> list[str]:
        notes = list(main.writes)
        if main.dout_after is not None:
            before, after = np.asarray(self.dout, dtype=float), np.asarray(main.dout_after, dtype=float)
            changed: Any = np.argwhere(before != after) if before.shape == after.shape and before.ndim else []
            idx = tuple(int(i) for i in changed[0]) if len(changed) else ()
            change = f" (dout{_index(idx)} was {_at(before, idx)}, is now {_at(after, idx)})" if idx else ""
            notes.append(
                f"backward() wrote into its dout argument in place{change}: the caller's array changes under it. "
                "Compute a new array instead of writing into dout (dx = np.where(self.mask, 0, dout) rather than "
                "dout[self.mask] = 0; dx = dout * y rather than dout *= y), or copy first: dout = dout.copy()"
            )
        if main.error is None:
            notes += self.ignored_dout(main)
        return notes

    def ignored_dout(self, main: _Run) -> list[str]:
        """Scaling dout by 2 must scale every gradient by 2."""
        twice = self.runner.run(self.x, self.t, self.values, _doubled(self.dout), self.x_warm)
        if twice.error is not None:
            return [f"backward(2 * dout) raised {type(twice.error).__name__}: {twice.error}"]
        same, off = True, []
        for name in self.names:
            one, two = _as_floats(_gradient(main, name)), _as_floats(_gradient(twice, name))
            if one is None or two is None or one.shape != two.shape or not one.size:
                continue
            if not compare(two, 2 * one).passes(1e-9):
                off.append(f"d{name}")
                same = same and _same(one, two)
        if not off:
            return []
        effect = "returned the same" if same else "did not return twice the"
        text = f"backward() ignores dout: backward(2 * dout) {effect} {', '.join(off)}"
        if self.t is not None:
            text += "; right for a loss called with dout=1, but a scaled loss (dout != 1) gets a wrong gradient"
        return [text + ": multiply by dout (the chain rule)"]


def _doubled(dout: Any) -> Any:
    return 2.0 * np.asarray(dout, dtype=float) if np.ndim(dout) else 2.0 * float(dout)


def _gradient(run: _Run, name: str) -> Any:
    return run.dx if name == "x" else run.grads.get(name)


def _as_floats(value: Any) -> np.ndarray | None:
    if value is None or value is _MISSING or np.iscomplexobj(value):
        return None
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _failed(
    name: str, shape: tuple[int, ...], sym: Any, num: Any, message: str, diagnosis: str, got: Any = None
) -> CheckRow:
    """A row with no comparable backward value: its errors are infinite, ``backward`` is None unless
    it has the row's shape, and the worst index is the right gradient's largest element."""
    inf = float("inf")
    got = got if got is not None and np.shape(got) == shape else None
    worst = _largest(num)
    return CheckRow(name, shape, sym, got, num, inf, inf, inf, worst, "backward", {}, "FAIL", message, diagnosis)


def _largest(array: Any) -> tuple[int, ...]:
    values = np.abs(np.asarray(array, dtype=float))
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape)) if values.ndim else ()


def _index(index: tuple[int, ...]) -> str:
    return "" if not index else "[" + ", ".join(str(i) for i in index) + "]"


def _at(array: Any, index: tuple[int, ...], digits: int = 6) -> str:
    return f"{float(np.asarray(array, dtype=float)[index]) + 0.0:.{digits}g}"  # + 0.0: no "-0"
