"""How :func:`symgrad.check_layer` calls a user's layer: one class per calling convention.

Each convention is taken as users write it, with no wrapper:

* an object with ``forward`` and ``backward`` (the article's and DLFS1's
  protocol): parameters are attributes (``self.W``), ``backward(dout)`` returns
  ``dx`` and stores ``self.dW``;
* an object whose parameters and gradients are lists (DLFS2):
  ``self.params = [W, b]``, ``self.grads = [dW, db]``, which ``backward``
  fills (``self.grads[0][...] = dW``);
* a pair of functions (cs231n): ``forward(x, w, b, ...) -> (out, cache)`` and
  ``backward(dout, cache) -> (dx, dw, db)``;
* a loss function (cs231n): ``softmax_loss(x, y) -> (loss, dx)``.

Any of them may take several inputs (``forward(x, h_prev, c_prev)``) and give
several outputs (``(h, c)``, with ``backward(dh, dc)``); integer inputs (class
labels, indices) are passed through and not differentiated. A runner calls the
user's code on copies, in the dtype each value came in, and hands back raw
results; judging them is :mod:`symgrad.check.verdicts`'s work.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.errors import LayerError, UnknownNameError
from symgrad.layers import Layer
from symgrad.numeric.validate import as_float_array

__all__: list[str] = []  # check_layer's parts, not an interface of their own

MISSING = object()
RESERVED = ("x", "t", "dout")


@dataclass
class Run:
    """What one warm-up forward, forward(x) and backward(dout) observed.

    ``outs`` is the tuple of the forward's outputs; ``dinputs`` maps each
    differentiable input to what backward gave for it, ``grads`` each parameter.
    """

    outs: tuple[Any, ...]
    dinputs: dict[str, Any] = field(default_factory=dict)
    grads: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    dout_after: Any = None
    writes: list[str] = field(default_factory=list)
    state: Any = None

    def gradient(self, name: str) -> Any:
        return self.dinputs[name] if name in self.dinputs else self.grads.get(name, MISSING)


@dataclass
class Point:
    """The inputs of the check: the layer's inputs as given (their dtypes kept) and the target."""

    inputs: dict[str, np.ndarray]  # in call order; integer ones are passed through
    t: Any = None

    @property
    def differentiable(self) -> tuple[str, ...]:
        return tuple(name for name, value in self.inputs.items() if value.dtype.kind in "fc")


class Runner:
    """Calls one convention; subclasses know how."""

    label = "layer"
    kind = "layer"
    names: tuple[str, ...] | None  # parameter names
    roles: dict[str, str]  # parameter name -> the spec's role
    where: dict[str, str]  # parameter name -> where backward puts its gradient, in words
    dtypes: dict[str, np.dtype[Any]]  # parameter name -> its dtype as given
    takes_dout = True  # False for a loss function, which returns its gradient itself

    def new(self) -> Any:
        raise NotImplementedError

    def call_forward(self, state: Any, inputs: Sequence[Any], t: Any, params: Mapping[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def call_backward(self, state: Any, douts: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def values(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def resolve(self, point: Point, douts: tuple[Any, ...]) -> list[str]:
        return []

    def start_values(self) -> dict[str, np.ndarray]:
        return {}

    def current(self, state: Any, name: str, params_in: Mapping[str, np.ndarray]) -> Any:
        return params_in[name]

    # -- shared --
    def cast(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameters in the dtype the user gave them (float32 stays float32)."""
        return {name: in_dtype(value, self.dtypes.get(name, np.dtype(np.float64))) for name, value in params.items()}

    def forward(self, state: Any, point: Point, params: Mapping[str, np.ndarray]) -> tuple[Any, ...]:
        """The outputs, as a tuple (one entry for a layer with one output)."""
        inputs = [v.copy() for v in point.inputs.values()]
        out = self.call_forward(state, inputs, copy_value(point.t), self.cast(params))
        return out if isinstance(out, tuple) else (out,)

    def first_outputs(self, point: Point) -> tuple[Any, ...]:
        try:
            return self.forward(self.new(), point, self.start_values())
        except LayerError:
            raise
        except Exception as error:
            shapes = ", ".join(f"{name} has shape {v.shape}" for name, v in point.inputs.items())
            msg = f"{self.label}'s forward raised {type(error).__name__}: {error} ({shapes})"
            if isinstance(error, IndexError) and isinstance(point.t, np.ndarray) and point.t.dtype.kind == "f":
                msg += f"; t is a float array ({point.t.dtype}): class labels index, so pass them as integers"
            raise LayerError(msg) from error

    def run(self, point: Point, values: Mapping[str, np.ndarray], douts: tuple[Any, ...],
            warm: Point | None, *, state: Any = None) -> Run:
        """Warm-up forward on ``warm``, then forward and backward, all on copies."""
        if state is None:
            state = self.new()
            if warm is not None:
                try:
                    self.forward(state, warm, values)
                except Exception:  # the warm-up input may be outside the layer's domain: skip the warm-up
                    state = self.new()
        given = [v.copy() for v in point.inputs.values()]
        params_in = self.cast(values)
        out = self.call_forward(state, given, copy_value(point.t), params_in)
        outs = out if isinstance(out, tuple) else (out,)
        writes = [f"forward() wrote into its input {name}" for name, mine, theirs
                  in zip(point.inputs, given, point.inputs.values(), strict=True) if not np.array_equal(mine, theirs)]
        before = [v.copy() for v in given]
        douts_in = tuple(copy_value(d) for d in douts)
        try:
            raw, grads = self.call_backward(state, douts_in)
            dinputs = self.split_inputs(raw, point)
        except SystemExit as exc:
            raise exit_error(self.label, "backward()", exc) from None
        except Exception as error:
            return Run(outs, error=error, state=state)
        writes += [f"backward() wrote into the {name} that forward() received" for name, now, then
                   in zip(point.inputs, given, before, strict=True) if not np.array_equal(now, then)]
        changed = [name for name in values if not same(self.current(state, name, params_in), values[name])]
        writes += [f"{self.label} changed the parameter {name} during forward/backward" for name in changed]
        dout_after = None if all(same(a, b) for a, b in zip(douts_in, douts, strict=True)) else douts_in
        return Run(outs, {k: copy_value(v) for k, v in dinputs.items()}, {k: copy_value(v) for k, v in grads.items()},
                   None, dout_after, writes, state)

    def split_inputs(self, raw: Any, point: Point) -> dict[str, Any]:
        """backward()'s return value, one entry per differentiable input."""
        wanted = point.differentiable
        if not wanted:
            return {}
        if len(point.inputs) == 1:
            return {wanted[0]: raw}
        parts = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        if len(parts) == len(point.inputs):  # a gradient (or None) for every input, integer ones included
            return {name: part for name, part in zip(point.inputs, parts, strict=True) if name in wanted}
        if len(parts) == len(wanted):
            return dict(zip(wanted, parts, strict=True))
        want = ", ".join(f"d{name}" for name in wanted)
        msg = f"backward() returned {len(parts)} values; expected one per input: ({want})"
        raise LayerError(msg)


class ObjectRunner(Runner):
    """A layer object in the article's protocol: parameters are attributes, gradients ``self.d<name>``."""

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
        self.named = params is not None
        self.roles = roles(self.names or (), spec)
        self.where = {name: f"self.{attr}" for name, attr in self.grad_attr.items()}
        self.dtypes = {}
        self.unstored: set[str] = set()

    def new(self) -> Any:
        try:
            return copy.deepcopy(self.layer)
        except Exception:  # an object that cannot be deep-copied: a shallow copy, parameters set afresh each run
            return copy.copy(self.layer)

    def start_values(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(value) for name, value in self.given.items()}

    def call_forward(self, state: Any, inputs: Sequence[Any], t: Any, params: Mapping[str, np.ndarray]) -> Any:
        for name, value in params.items():
            setattr(state, name, value)
        return state.forward(*inputs) if t is None else state.forward(*inputs, t)

    def call_backward(self, state: Any, douts: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        dx = state.backward(*douts)
        return dx, {name: getattr(state, attr, MISSING) for name, attr in self.grad_attr.items()}

    def current(self, state: Any, name: str, params_in: Mapping[str, np.ndarray]) -> Any:
        return getattr(state, name, None)

    def values(self) -> dict[str, np.ndarray]:
        found = {}
        for name in self.names or ():
            value = self.given.get(name, getattr(self.layer, name, MISSING))
            if value is MISSING:
                floats = sorted(k for k, v in attributes(self.layer).items() if is_float_array(v))
                has = f"its float array attributes are {', '.join(floats)}" if floats else "it has no float array"
                how = "params= names" if self.named else "the spec's roles name"
                msg = f"your layer {self.label} has no attribute {name!r}, which {how} as a parameter; {has}"
                raise UnknownNameError(msg)
            found[name] = as_float_array(name, value)
            self.dtypes[name] = np.asarray(value).dtype
        return found

    def resolve(self, point: Point, douts: tuple[Any, ...]) -> list[str]:
        """Find the parameters (when not given): float arrays that backward gives a gradient of."""
        if self.names is not None:
            return []
        state = self.new()
        before = attributes(state)
        self.forward(state, point, {})
        current = attributes(state)  # parameters are the float arrays forward() did not replace
        kept = {k: v for k, v in before.items() if is_float_array(v) and k in current and current[k] is v}
        try:
            state.backward(*(copy_value(d) for d in douts))
        except Exception:  # reported by the checked run; the parameters are then the arrays forward kept
            self.grad_attr = {name: f"d{name}" for name in kept}
        else:
            after: dict[str, Any] = attributes(state)
            self.grad_attr = {
                name: f"d{name}"
                for name in kept
                if is_float_array(after.get(f"d{name}")) and after[f"d{name}"] is not before.get(f"d{name}")
            }
        # A float array the output depends on, with no gradient stored, is a parameter left unchecked:
        # a failing row (backward() did not store it), never a silent pass.
        self.unstored = {name for name in kept if name not in self.grad_attr
                         and self.moves_output(point, douts, name, np.asarray(kept[name]))}
        self.grad_attr = {name: f"d{name}" for name in kept if name in self.grad_attr or name in self.unstored}
        self.names = tuple(self.grad_attr)
        self.roles = {name: name for name in self.names}
        self.where = {name: f"self.{attr}" for name, attr in self.grad_attr.items()}
        return [
            f"{name} is an array attribute of {self.label} but backward() stored no d{name} of its shape, and the "
            f"output does not depend on it here: if {name} is a parameter, store its gradient in self.d{name} (or "
            "name it in params=)"
            for name in kept
            if name not in self.grad_attr
        ]

    def moves_output(self, point: Point, douts: tuple[Any, ...], name: str, value: np.ndarray) -> bool:
        """Does E = sum(out * dout) move when the attribute ``name`` moves (along a seeded direction)?"""
        direction = np.random.default_rng(0).standard_normal(value.shape)
        step = 1e-3 * max(1.0, float(np.max(np.abs(value), initial=0.0)))
        energies = []
        for sign in (1.0, -1.0):
            try:
                outs = self.forward(self.new(), point, {name: value + sign * step * direction})
                energies.append(sum(float(np.sum(np.asarray(o, dtype=float) * np.asarray(d, dtype=float)))
                                    for o, d in zip(outs, douts, strict=True)))
            except Exception:  # the layer does not take the moved value: no evidence it is a parameter
                return False
        scale = sum(abs(e) for e in energies)
        return abs(energies[0] - energies[1]) > 1e-6 * scale and np.isfinite(scale)


class ListRunner(Runner):
    """A DLFS2 layer: ``self.params = [W, b]`` and ``self.grads = [dW, db]``, filled by backward."""

    kind = "params/grads lists"

    def __init__(self, layer: Any, params: Any, spec: Layer | None) -> None:
        self.layer = layer
        self.label = type(layer).__name__
        count = len(layer.params)
        if params is None:
            self.names = tuple(f"params[{i}]" for i in range(count))
        elif isinstance(params, (list, tuple)) and len(params) == count and all(isinstance(p, str) for p in params):
            self.names = tuple(params)
        else:
            msg = (
                f"your layer {self.label} keeps its {count} parameters in the list self.params (and their gradients "
                f"in self.grads): params= may only name them, in order, as a list of {count} names, got {params!r:.80}"
            )
            raise UnknownNameError(msg)
        self.roles = roles(self.names, spec)
        self.where = {name: f"self.grads[{i}]" for i, name in enumerate(self.names)}
        self.dtypes = {name: np.asarray(p).dtype for name, p in zip(self.names, layer.params, strict=True)}

    def new(self) -> Any:
        return copy.deepcopy(self.layer)

    def values(self) -> dict[str, np.ndarray]:
        return {name: as_float_array(name, p) for name, p in zip(self.names or (), self.layer.params, strict=True)}

    def call_forward(self, state: Any, inputs: Sequence[Any], t: Any, params: Mapping[str, np.ndarray]) -> Any:
        for i, name in enumerate(self.names or ()):
            if name in params:
                state.params[i][...] = params[name]  # in place: the layer may hold other references to it
        return state.forward(*inputs) if t is None else state.forward(*inputs, t)

    def call_backward(self, state: Any, douts: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        for grad in state.grads:  # what backward does not write stays NaN, and is named
            if isinstance(grad, np.ndarray) and grad.dtype.kind == "f":
                grad[...] = np.nan
        dx = state.backward(*douts)
        grads = {}
        for i, name in enumerate(self.names or ()):
            grad = state.grads[i] if i < len(state.grads) else MISSING
            unwritten = isinstance(grad, np.ndarray) and grad.dtype.kind == "f" and np.all(np.isnan(grad))
            grads[name] = MISSING if unwritten else grad
        return dx, grads

    def current(self, state: Any, name: str, params_in: Mapping[str, np.ndarray]) -> Any:
        return state.params[(self.names or ()).index(name)]


class PairRunner(Runner):
    """cs231n's pair: ``forward(x, w, b, ...) -> (out, cache)``, ``backward(dout, cache) -> (dx, dw, db)``.

    ``params`` maps names to the values ``forward`` takes after the inputs, in
    order; float arrays are parameters (backward returns a gradient for each),
    anything else (``conv_param``, ``bn_param``) is passed as it is, a fresh copy
    at every call.
    """

    kind = "(forward, backward) pair"

    def __init__(self, pair: tuple[Callable[..., Any], Callable[..., Any]], params: Any, spec: Layer | None) -> None:
        self.pair = pair
        self.label = f"({function_name(pair[0])}, {function_name(pair[1])})"
        self.given, self.constants = pair_arguments(params, "a (forward, backward) pair")
        self.names = tuple(name for name in self.given if name not in self.constants)
        self.roles = roles(self.names, spec)
        self.where = {name: f"{function_name(pair[1])}'s return value for {name}" for name in self.names}
        self.dtypes = {name: np.asarray(self.given[name]).dtype for name in self.names}

    def new(self) -> Any:
        return {}

    def start_values(self) -> dict[str, np.ndarray]:
        return self.values()

    def values(self) -> dict[str, np.ndarray]:
        return {name: as_float_array(name, self.given[name]) for name in self.names or ()}

    def arguments(self, params: Mapping[str, np.ndarray]) -> list[Any]:
        return [params[name] if name in params else copy.deepcopy(self.given[name]) for name in self.given]

    def call_forward(self, state: Any, inputs: Sequence[Any], t: Any, params: Mapping[str, np.ndarray]) -> Any:
        args = [*inputs] if t is None else [*inputs, t]
        result = self.pair[0](*args, *self.arguments(params))
        if not (isinstance(result, tuple) and len(result) >= 2):
            msg = f"{function_name(self.pair[0])} must return (out, cache); it returned {type(result).__name__}"
            raise LayerError(msg)
        state["cache"] = result[-1]
        return result[0] if len(result) == 2 else tuple(result[:-1])

    def call_backward(self, state: Any, douts: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        return split_returned(self.pair[1](*douts, state["cache"]), state, self.names or (), self.pair[1])

    def split_inputs(self, raw: Any, point: Point) -> dict[str, Any]:
        wanted = point.differentiable
        parts = raw
        if len(parts) != len(wanted):
            names = (*wanted, *(self.names or ()))
            got = len(parts) + len(self.names or ())
            want = ", ".join(f"d{name}" for name in names)
            msg = f"{function_name(self.pair[1])} returned {got} values; expected {len(names)}: ({want})"
            raise LayerError(msg)
        return dict(zip(wanted, parts, strict=True))


class LossFunctionRunner(PairRunner):
    """cs231n's loss function: ``softmax_loss(x, y) -> (loss, dx)``: the gradient comes with the loss."""

    kind = "loss function"
    takes_dout = False

    def __init__(self, function: Callable[..., Any], params: Any, spec: Layer | None) -> None:
        self.function = function
        self.pair = (function, function)
        self.label = function_name(function)
        self.given, self.constants = pair_arguments(params, "a loss function")
        self.names = tuple(name for name in self.given if name not in self.constants)
        self.roles = roles(self.names, spec)
        self.where = {name: f"{self.label}'s return value for {name}" for name in self.names}
        self.dtypes = {name: np.asarray(self.given[name]).dtype for name in self.names}

    def call_forward(self, state: Any, inputs: Sequence[Any], t: Any, params: Mapping[str, np.ndarray]) -> Any:
        args = [*inputs] if t is None else [*inputs, t]
        result = self.function(*args, *self.arguments(params))
        if not (isinstance(result, tuple) and len(result) >= 2):
            msg = f"{self.label} must return (loss, dx); it returned {type(result).__name__}"
            raise LayerError(msg)
        state["grads"] = result[1:]
        return result[0]

    def call_backward(self, state: Any, douts: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        returned = state["grads"]
        return split_returned(returned if len(returned) > 1 else returned[0], state, self.names or (), self.function)


def split_returned(result: Any, state: Any, names: Sequence[str], function: Any) -> tuple[Any, dict[str, Any]]:
    """(dinputs..., dparams...) as returned by a function: the inputs' part, and the parameters' by name."""
    parts = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(parts) < len(names):
        want = ", ".join(f"d{name}" for name in names)
        msg = f"{function_name(function)} returned {len(parts)} values; expected the inputs' gradients, then ({want})"
        raise LayerError(msg)
    cut = len(parts) - len(names)
    state["returned"] = len(parts)
    return parts[:cut], dict(zip(names, parts[cut:], strict=True))


def pair_arguments(params: Any, what: str) -> tuple[dict[str, Any], set[str]]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        msg = f"for {what}, params must map each argument after the inputs to its value: {{'w': w, 'b': b}}"
        raise UnknownNameError(msg)
    constants = {name for name, value in params.items()
                 if not (isinstance(value, np.ndarray) and value.dtype.kind == "f")}
    return dict(params), constants


def make_runner(layer: Any, params: Any, spec: Layer | None) -> Runner:
    """The runner of ``layer``'s convention."""
    runner: Runner
    if isinstance(layer, (tuple, list)) and len(layer) == 2 and all(callable(f) for f in layer):
        runner = PairRunner((layer[0], layer[1]), params, spec)
    elif callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None)):
        _refuse_uneven_lists(layer)
        runner = ListRunner(layer, params, spec) if has_lists(layer) else ObjectRunner(layer, params, spec)
    elif callable(layer) and not isinstance(layer, type):
        runner = LossFunctionRunner(layer, params, spec)
    else:
        msg = (
            "check_layer takes a layer with forward(x) and backward(dout) methods, a pair "
            f"(forward, backward) of functions, or a loss function returning (loss, dx); got {type(layer).__name__}"
        )
        raise LayerError(msg)
    for name in runner.names or ():
        if name in RESERVED:
            msg = f"a parameter cannot be named {name!r} (x, t and dout name the input, target and upstream gradient)"
            raise UnknownNameError(msg)
    return runner


def _refuse_uneven_lists(layer: Any) -> None:
    """A DLFS2 layer whose ``grads`` list is shorter or longer than ``params``: some parameter's gradient
    has no place, so the check could not look at it (it used to fall back to the attribute protocol and
    check x alone, a silent pass)."""
    params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
    if not (isinstance(params, (list, tuple)) and isinstance(grads, (list, tuple))) or len(params) == len(grads):
        return
    if not any(isinstance(p, np.ndarray) and p.dtype.kind in "fc" for p in params):
        return
    msg = (
        f"{type(layer).__name__}.params holds {len(params)} arrays but .grads holds {len(grads)}: a DLFS2 layer keeps "
        "one gradient array per parameter, in the same order (self.grads = [np.zeros_like(W) for W in self.params]), "
        "so symgrad cannot check the parameters without one"
    )
    raise LayerError(msg)


def has_lists(layer: Any) -> bool:
    """DLFS2's convention: ``params`` and ``grads`` lists of arrays, of the same length."""
    params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
    return (isinstance(params, (list, tuple)) and isinstance(grads, (list, tuple)) and len(params) == len(grads)
            and all(isinstance(p, np.ndarray) for p in (*params, *grads)))


def roles(names: Sequence[str], spec: Layer | None) -> dict[str, str]:
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


def exit_error(label: str, method: str, exc: SystemExit) -> LayerError:
    msg = (
        f"your layer {label}'s {method} raised SystemExit({exc.code!r}) during the check: a layer must not "
        "exit the process; raise an exception instead (one raised by backward() is reported as a failing row)"
    )
    return LayerError(msg)


def in_dtype(value: Any, dtype: np.dtype[Any]) -> np.ndarray:
    """A copy of ``value`` in the dtype the user gave it; float64 stays as it is.

    A complex step into a float32 value becomes complex64, so that the layer computes in float32's
    precision as it does for real input (complex128 would check it in float64's).
    """
    value = np.asarray(value)
    if value.dtype.kind == "c":
        return np.array(value, dtype=np.complex64) if np.dtype(dtype) == np.float32 else np.array(value)
    if dtype == np.float64 or np.dtype(dtype).kind != "f":
        return np.array(value)
    return np.array(value, dtype=dtype)


def function_name(function: Any) -> str:
    return str(getattr(function, "__name__", type(function).__name__))


def attributes(state: Any) -> dict[str, Any]:
    try:
        return dict(vars(state))
    except TypeError:
        msg = f"cannot list the attributes of {type(state).__name__} (no __dict__): pass params=['W', 'b', ...]"
        raise LayerError(msg) from None


def is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def copy_value(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def same(a: Any, b: Any) -> bool:
    try:
        return np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False
