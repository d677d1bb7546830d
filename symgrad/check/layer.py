"""Checking a user's own layer, in whatever convention it is written.

:func:`check_layer` takes a layer as users write it (the conventions are in
:mod:`symgrad.check.conventions`: the article's and DLFS1's objects, DLFS2's
``params`` / ``grads`` lists, cs231n's function pairs and loss functions; one
or several inputs and outputs; integer inputs passed through) and checks its
backward pass at one point:

* against finite differences of the layer's own forward, always: the scalar
  checked is ``E = sum(forward(x) * dout)`` for a fixed, seeded random ``dout``
  (so one check covers the whole Jacobian, ``dout``'s inner product with it;
  summed over the outputs of a layer with several), or ``E = forward(x, t) *
  dout`` for a loss layer (``dout = 1`` by default). Steps and tolerances follow
  the dtype the layer computes in (float32 needs larger steps and looser
  tolerances than float64), and the report names it;
* against a *spec*, when given: a symgrad layer (``symgrad.Affine(3, 2)``,
  ``symgrad.ReLU()``, ``symgrad.SoftmaxCrossEntropy()``) whose matrix rules are
  the symbolic truth (:mod:`symgrad.check.rules`). The spec's forward is checked
  against the layer's first: gradients of two different functions cannot be
  compared, so a forward that differs is a failing row of its own.

Before any gradient is compared, forward() is called twice on the same input:
a forward that is not deterministic (an unseeded dropout) is reported as such.
The verdict on each gradient is :mod:`symgrad.check.verdicts`'s; the likely
mistake, the notes, re-entry and vacuous checks are :mod:`symgrad.check.findings`'s:

* a wrong gradient is a failing row whose ``diagnosis`` names the usual mistake;
  right values in the wrong shape (``keepdims=True``) are a shape finding;
* a backward that raises, returns None or an array of the wrong shape gives
  failing rows (the check itself never raises on a misbehaving backward); a
  forward that raises raises :class:`LayerError`;
* findings that leave the gradients right are ``report.notes``; a check that
  cannot fail (gradients zero on every side, nothing compared) is in
  ``report.warnings``, which the pytest helpers turn into failures.

``mode="fast"`` checks each gradient along one random direction instead of
every element (:mod:`symgrad.check.fast`); either check is predicted first, in
forward passes times the measured time of one, and refused past a minute
(:mod:`symgrad.check.cost`).

Every call to the user's code gets fresh copies, so the caller's objects are
never changed; before the checked ``forward`` the layer first runs ``forward``
on another, seeded input, so that a backward that uses a stale cache is caught,
and after the checked ``backward`` it runs ``backward`` again, which must give
the same gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from symgrad.check.conventions import Point, Runner, exit_error, make_runner
from symgrad.check.cost import MAX_SECONDS, predict, progress_on_terminal, refuse_long, timed
from symgrad.check.findings import nondeterminism
from symgrad.check.report import CheckReport, check_options
from symgrad.check.rules import SpecRules, spec_rules
from symgrad.check.tensorrules import is_tensor_spec, tensor_spec_rules
from symgrad.check.verdicts import SLIGHTLY_OTHER, LayerCheck
from symgrad.errors import DTypeError, LayerError, ShapeError, SpecError, UnknownNameError
from symgrad.functions import kink_value
from symgrad.layers import Layer, Loss
from symgrad.numeric import finite
from symgrad.numeric.validate import as_float_array

__all__ = ["SLIGHTLY_OTHER", "check_layer"]

_DOUT_STREAM, _WARM_STREAM = 1, 2


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
    mode: str = "full",
) -> CheckReport:
    """Check the backward pass of your own layer, against finite differences and a spec.

    Parameters
    ----------
    layer : object, (callable, callable) or callable
        The layer as you wrote it, in one of these conventions:

        * an object with ``forward(x)`` (``forward(x, t)`` for a loss) and
          ``backward(dout)`` returning ``dx`` and storing ``self.d<name>`` for
          each parameter attribute ``self.<name>`` (the article, DLFS1);
        * an object with lists ``self.params`` and ``self.grads`` that
          ``backward`` fills (DLFS2): every entry is checked, as ``params[i]``;
        * a pair ``(forward, backward)`` with ``forward(x, *params) -> (out,
          cache)`` and ``backward(dout, cache) -> (dx, *dparams)`` (cs231n);
        * a loss function ``f(x, t, *params) -> (loss, dx, *dparams)`` (cs231n's
          ``softmax_loss``).

        Several inputs come as a tuple ``x=``; several outputs are returned as a
        tuple (``forward`` returns ``(h, c)``, ``backward(dh, dc)`` takes one
        upstream gradient per output and returns one gradient per float input).
    spec : symgrad layer, optional
        The layer it should implement, e.g. ``symgrad.Affine(3, 2)``; its rules
        are the symbolic side. Without it, backward is checked against finite
        differences alone (any layer: convolution, batch norm, pooling, LSTM).
    x : array_like, tuple or mapping
        The input; a tuple ``(x, h, c)`` (rows ``x0``, ``x1``, ``x2``) or a
        mapping ``{"x": x, "h": h}`` (rows named by its keys) for several. Float
        inputs keep their dtype and are differentiated; integer ones (indices,
        labels) are passed as they are and are not.
    t : array_like, optional
        The target (float, or integer class labels); giving it makes the layer a loss.
    seed : int
        Seed of the random ``dout`` and of the earlier input of the stale-cache
        test (drawn from streams of their own, never ``default_rng(seed)``
        itself, from which an ``x`` is often drawn).
    params : mapping or sequence of str, optional
        The parameters. For an object: their attribute names (``["W", "b"]``) or
        a mapping to the gradient attribute (``{"W": "dW"}``) or to a value to
        use; by default the spec's roles, or else every float array attribute
        that forward keeps and the output depends on (one without a stored
        ``d<name>`` is a failing row, never a silent pass). For DLFS2 lists:
        names for the entries of ``self.params``, in order. With a spec, the
        names are matched to its roles in order. For a pair or a loss function:
        the arguments after the inputs, in order (``{"w": w, "b": b,
        "conv_param": {...}}``): float arrays are parameters, anything else is
        passed as it is.
    method : {"central", "richardson", "complex"}
        Finite-difference method; its steps follow the dtype the layer
        computes in (complex only for float64).
    rtol : float, optional
        Override the relative tolerances (by default those of the layer's dtype in
        :data:`symgrad.check.compare.TOLERANCES`); a positive number, since
        finite differences are never exact (rtol=0 is refused).
    kink : 0, 1/2 or 1
        The spec's derivative of ReLU at 0.
    dout : array_like, float or tuple, optional
        The upstream gradient (a tuple, one per output); seeded standard normal
        by default (1 for a loss). A constant one can hide a wrong backward: the
        report warns when the gradients it leaves are zero.
    mode : {"full", "fast"}
        ``"full"``: finite differences of every element (2 forward passes per
        element, central). ``"fast"``: each gradient along one seeded random
        direction, ``<backward(), u>`` against a directional difference (a few
        forward passes at any size), and against the spec entrywise. Either
        check is refused (ComplexityError, with the estimate) when it would take
        over a minute at the measured time of your forward(); a long one shows
        its progress on stderr when stderr is a terminal.

    Returns
    -------
    CheckReport
        A row per gradient checked (each float input, then each parameter);
        ``report.ok`` is False when a gradient is wrong, and each failing row's
        ``diagnosis`` names the likely mistake. ``report.dtype`` is the dtype
        the layer computes in, whose tolerances were used. ``report.notes``
        holds findings that leave the gradients right (dout written in place,
        ...); ``report.warnings`` says why a check could not fail (gradients
        zero on every side, nothing compared) and what to change.

    Raises
    ------
    DTypeError, ShapeError, NonFiniteError
        ``x``, ``t``, ``dout`` or a parameter is not a usable float array, or
        does not fit the spec.
    LayerError
        ``layer`` does not follow either protocol, or its forward raised.
    SpecError, UnknownNameError
        ``spec`` is not a symgrad layer, or a loss spec without ``t`` (or the
        other way round); an unknown method, mode or kink; a parameter name missing.
    ComplexityError
        The check would take over a minute (forward passes times the measured
        time of one): the message gives the estimate and points to ``mode="fast"``.

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

    A DLFS2 layer in float32, its gradients in a list:

    >>> class MatMul:
    ...     def __init__(self, W):
    ...         self.params, self.grads = [W], [np.zeros_like(W)]
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x @ self.params[0]
    ...     def backward(self, dout):
    ...         self.grads[0][...] = self.x.T @ dout
    ...         return dout @ self.params[0].T
    >>> W32, x32 = rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    >>> report = check_layer(MatMul(W32), x=x32)
    >>> report.ok, report.dtype, [row.name for row in report.rows]
    (True, 'float32', ['x', 'params[0]'])

    A cs231n pair, its parameters passed in the order forward takes them:

    >>> def affine_forward(x, w, b):
    ...     return x @ w + b, (x, w)
    >>> def affine_backward(dout, cache):
    ...     x, w = cache
    ...     return dout @ w.T, x.T @ dout, dout.sum(axis=0)
    >>> params = {"w": rng.normal(size=(3, 2)), "b": np.zeros(2)}
    >>> check_layer((affine_forward, affine_backward), x=rng.normal(size=(4, 3)), params=params).ok
    True

    Fast mode checks each gradient along one random direction, in a few forward passes:

    >>> report = check_layer(layer, symgrad.Affine(3, 2), x=rng.normal(size=(4, 3)), mode="fast")
    >>> report.ok, report.mode, report.evaluations < 20
    (True, 'fast', True)
    """
    if method not in finite.METHODS:
        msg = f"unknown method {method!r}; choose one of {', '.join(finite.METHODS)}"
        raise UnknownNameError(msg)
    if mode not in ("full", "fast"):
        msg = f"unknown mode {mode!r}; choose 'full' (every element) or 'fast' (one random direction per gradient)"
        raise UnknownNameError(msg)
    kink_value(kink)
    check_options(seed, rtol, None)
    spec = _as_spec(spec, loss=t is not None)
    point = Point(_inputs(x), None if t is None else _target(t))
    if params is not None and not (
        isinstance(params, (Mapping, str))
        or (isinstance(params, (list, tuple)) and all(isinstance(name, str) for name in params))
    ):
        msg = f"params must name the parameters (['W', 'b']) or map them ({{'W': 'dW'}}), got {params!r:.80}"
        raise UnknownNameError(msg)
    _fits_spec(spec, point)
    runner = make_runner(layer, params, spec)
    with _exit_refused(runner.label):  # a layer calling sys.exit() must not end the caller's process
        outs, forward_seconds = timed(lambda: _first_outputs(runner, point, spec))
        loss = point.t is not None or not runner.takes_dout
        douts = _upstream(dout, outs, loss, runner, np.random.default_rng([seed, _DOUT_STREAM]))
        known = runner.values() if runner.names is not None else runner.start_values()
        floats = {name: np.asarray(value) for name, value in {**point.inputs, **known}.items()
                  if (name in point.differentiable or name in known) and np.asarray(value).dtype.kind == "f"}
        if floats:  # what is known already: refused before forward() runs again at that size
            given = {name: 1.0 for name, value in floats.items() if value.dtype != np.float64}  # float32's steps
            _guard(floats, tuple(floats), method, mode, runner, point, forward_seconds, given)
        unsteady = nondeterminism(runner, point, known)  # before any gradient is compared
        if unsteady is not None:
            dtype = _computing_dtype(point, runner, known, outs, method)
            return LayerCheck(runner, None, point, known, douts, None, method, rtol, seed, dtype, [],
                              mode=mode).build([unsteady])
        notes = runner.resolve(point, douts)  # the parameters, when neither params= nor a spec names them
        values = runner.values()
        dtype = _computing_dtype(point, runner, values, outs, method)
        rules = _rules(spec, point, values, runner.roles, kink)
        check = LayerCheck(runner, rules, point, values, douts, _warm(point, seed), method, rtol, seed, dtype, notes,
                           given_dout=dout is not None, mode=mode,
                           view=None if spec is None or is_tensor_spec(spec) else _view(spec, point))
        if check.names:
            arrays = {**check.inputs, **check.values}
            check.progress = _guard(arrays, check.names, method, mode, runner, point, forward_seconds,
                                    check.steps(arrays))
        return check.report()


def _guard(
    arrays: Mapping[str, np.ndarray], names: Sequence[str], method: str, mode: str, runner: Runner, point: Point,
    forward_seconds: float, steps: Mapping[str, Any] | None = None,
) -> Callable[[int, int], None] | None:
    """Refuse a check predicted to take over a minute; a progress report on a terminal for a long one."""
    cost = predict(arrays, names, method, mode, forward_seconds, steps)
    if cost.seconds > MAX_SECONDS:  # time forward() again: the first call may have paid a one-off cost
        _, again = timed(lambda: runner.first_outputs(point))
        cost = predict(arrays, names, method, mode, min(forward_seconds, again), steps)
    refuse_long(cost, arrays, names, method, mode)
    return progress_on_terminal(cost)


# -- arguments ----------------------------------------------------------------------


@contextmanager
def _exit_refused(label: str) -> Iterator[None]:
    """SystemExit raised by the user's layer becomes a LayerError; KeyboardInterrupt still propagates."""
    try:
        yield
    except SystemExit as exc:
        raise exit_error(label, "forward() or backward()", exc) from None


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


def _inputs(x: Any) -> dict[str, np.ndarray]:
    """The layer's inputs by name: ``x``; a tuple ``(x, h, c)`` as ``x0, x1, x2``; or a dict's own names.

    Float inputs keep their dtype (float32 stays float32) and are differentiated;
    integer ones (class labels, indices) are passed as they are and are not.
    """
    if isinstance(x, Mapping):
        items = list(x.items())
        for name, _ in items:
            if not isinstance(name, str) or not name.isidentifier() or name in ("t", "dout"):
                msg = f"the inputs in x= must be named by identifiers other than t and dout, got {name!r}"
                raise UnknownNameError(msg)
    elif isinstance(x, tuple):
        items = [(f"x{i}", value) for i, value in enumerate(x)]
    else:
        items = [("x", x)]
    if not items:
        msg = "x= is empty: pass the layer's input (or a tuple of its inputs)"
        raise ShapeError(msg)
    inputs = {}
    for name, value in items:
        array = np.asarray(value) if isinstance(value, (np.ndarray, np.generic)) else None
        if array is not None and array.dtype.kind in "iu":
            if array.size == 0:
                msg = f"{name} is empty: a layer's input needs at least one element"
                raise ShapeError(msg)
            inputs[name] = array.copy()
            continue
        checked = as_float_array(name, value)  # refuses booleans, strings, NaN, ... by name
        kind = array.dtype if array is not None and array.dtype.kind == "f" else np.dtype(np.float64)
        inputs[name] = checked.astype(kind)
    return inputs


def _target(t: Any) -> np.ndarray:
    """The target as given: float targets are checked, integer labels kept (they are never differentiated)."""
    array = np.asarray(t) if isinstance(t, (np.ndarray, np.generic)) else None
    if array is not None and array.dtype.kind in "iu":
        return array.copy()
    checked = as_float_array("t", t)
    return checked.astype(array.dtype) if array is not None and array.dtype.kind == "f" else checked


def _fits_spec(spec: Layer | None, point: Point) -> None:
    if spec is None:
        return
    if is_tensor_spec(spec):
        _fits_tensor_spec(spec, point)
        return
    taken = tuple(getattr(spec, "inputs", ("x",)))
    if len(point.inputs) != len(taken):
        what = "one input x" if len(taken) == 1 else f"{len(taken)} inputs ({', '.join(taken)}), in that order"
        msg = f"the spec {spec!r} takes {what}; the layer was given {len(point.inputs)}: check it without a spec"
        if len(taken) > 1:
            msg = f"the spec {spec!r} takes {what}; the layer was given {len(point.inputs)}: pass x={{...}} with each"
        raise SpecError(msg)
    if not point.differentiable:
        msg = (
            f"x has integer dtype {point.inputs['x'].dtype}, but the spec {spec!r} takes a float input: pass "
            "x.astype(float), or check a layer that takes integer inputs (labels, indices) without a spec"
        )
        raise DTypeError(msg)


def _fits_tensor_spec(spec: Layer, point: Point) -> None:
    """An N-D spec takes one input, integer where its forward reads indices (an embedding), float otherwise."""
    if len(point.inputs) != 1:
        msg = f"the spec {spec!r} takes one input x; the layer was given {len(point.inputs)}: check it without a spec"
        raise SpecError(msg)
    x = point.inputs["x"]
    integer = spec.tensor_forward(x.ndim).tensors[0].integer  # type: ignore[attr-defined]
    if integer and x.dtype.kind not in "iu":
        msg = f"the spec {spec!r} takes integer indices x; x has dtype {x.dtype}: pass x.astype(int)"
        raise DTypeError(msg)
    if not integer and x.dtype.kind != "f":
        msg = f"x has integer dtype {x.dtype}, but the spec {spec!r} takes a float input: pass x.astype(float)"
        raise DTypeError(msg)


def _first_outputs(runner: Runner, point: Point, spec: Layer | None) -> tuple[Any, ...]:
    try:
        return runner.first_outputs(point)
    except LayerError:  # a shape that does not fit the spec is the likely reason
        x = next(iter(point.inputs.values()))
        in_features = getattr(spec, "in_features", None)
        if in_features is not None and (x.ndim < 2 or int(np.prod(x.shape[1:])) != in_features):
            msg = f"the spec {spec!r} takes x of shape (N, {in_features}); x has shape {x.shape}"
            raise ShapeError(msg) from None
        t = point.t
        if isinstance(spec, Loss) and t is not None and t.dtype.kind == "f" and t.shape != x.shape:
            msg = f"the spec {spec!r} takes t of the shape of x, {x.shape}; t has shape {t.shape}"
            raise ShapeError(msg) from None
        raise


def _upstream(
    dout: Any, outs: tuple[Any, ...], loss: bool, runner: Runner, rng: np.random.Generator
) -> tuple[Any, ...]:
    """One upstream gradient per output: seeded standard normal unless given (1 for a loss)."""
    if loss:
        if len(outs) != 1 or (np.ndim(outs[0]) != 0 and np.size(outs[0]) != 1):
            shapes = ", ".join(str(np.shape(out)) for out in outs)
            msg = f"a loss layer's forward must return one number; it returned shape {shapes}"
            raise LayerError(msg)
        value = 1.0 if dout is None else float(as_float_array("dout", dout, expected_shape=()))
        if not runner.takes_dout and value != 1.0:
            msg = f"{runner.label} returns its own gradient (for dout = 1) and takes no dout; leave dout out"
            raise UnknownNameError(msg)
        return (value,)
    for out in outs:
        if not isinstance(out, (np.ndarray, np.generic, float, int)) or np.asarray(out).dtype.kind not in "fc":
            msg = (f"{runner.label}'s forward must return a float array (or a tuple of them); "
                   f"it returned {type(out).__name__}" + (f" of dtype {out.dtype}" if hasattr(out, "dtype") else ""))
            raise LayerError(msg)
    if dout is None:
        return tuple(rng.standard_normal(np.shape(out)) for out in outs)
    given = dout if isinstance(dout, tuple) else (dout,)
    if len(given) != len(outs):
        msg = f"dout must give one upstream gradient per output: forward returned {len(outs)}, dout has {len(given)}"
        raise ShapeError(msg)
    label = "dout" if len(outs) == 1 else "dout[{}]"
    return tuple(as_float_array(label.format(k), d, expected_shape=np.shape(out))
                 for k, (d, out) in enumerate(zip(given, outs, strict=True)))


def _computing_dtype(point: Point, runner: Runner, values: Mapping[str, np.ndarray], outs: tuple[Any, ...],
                     method: str) -> str:
    """The least precise float dtype among the inputs, the parameters and the outputs."""
    kinds = [point.inputs[name].dtype for name in point.differentiable]
    kinds += [runner.dtypes.get(name, np.dtype(np.float64)) for name in values]
    kinds += [np.asarray(out).dtype for out in outs if np.asarray(out).dtype.kind == "f"]
    floats = [np.dtype(k) for k in kinds if np.dtype(k).kind == "f"] or [np.dtype(np.float64)]
    dtype = max(floats, key=lambda k: float(np.finfo(k).eps)).name
    if dtype not in ("float64", "float32", "float16"):
        dtype = "float64"  # longdouble: at least float64's precision
    if method == "complex" and dtype == "float16":
        msg = ("the complex step cannot check a layer that computes in float16: NumPy has no complex float16, and "
               "complex64 would compute in float32's precision instead of your layer's: use method='central' (its "
               "steps and tolerances follow the dtype)")
        raise DTypeError(msg)
    return dtype


def _warm(point: Point, seed: int) -> Point:
    """The earlier input of the stale-cache test: seeded, from a stream of its own (not default_rng(seed),
    which users often draw x from too); integer inputs stay as they are."""
    rng = np.random.default_rng([seed, _WARM_STREAM])
    inputs = {name: (rng.standard_normal(value.shape).astype(value.dtype) if name in point.differentiable else value)
              for name, value in point.inputs.items()}
    return Point(inputs, point.t)


def _rules(
    spec: Layer | None, point: Point, values: Mapping[str, np.ndarray], roles: Mapping[str, str], kink: Any
) -> SpecRules | None:
    if spec is None:
        return None
    x = point.inputs["x"]
    if is_tensor_spec(spec):
        return _tensor_rules(spec, x, values, roles)
    view = _view(spec, point)
    features = view[1] if x.ndim >= 2 else None
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
    if isinstance(spec, Loss):
        _fits_loss(spec, x, point.t)
    return spec_rules(spec, x_shape=view if x.ndim > 2 else x.shape, param_shapes=shapes, kink=kink)


def _tensor_rules(spec: Layer, x: np.ndarray, values: Mapping[str, np.ndarray], roles: Mapping[str, str]) -> SpecRules:
    declared = spec.param_shapes(None)
    shapes = {}
    for name, role in roles.items():
        shapes[role] = values[name].shape
        want = declared.get(role)
        if want and tuple(want) != values[name].shape:
            msg = f"the spec {spec!r} has {role} of shape {tuple(want)}; your layer's {name} has shape {shapes[role]}"
            raise ShapeError(msg)
    missing = [role for role in spec.roles if role not in shapes]
    if missing:
        msg = f"the spec {spec!r} has parameters {', '.join(spec.roles)}; your layer's are not all found ({missing})"
        raise SpecError(msg)
    return tensor_spec_rules(spec, x, shapes)


def _view(spec: Layer, point: Point) -> tuple[int, int]:
    """x as the matrix the spec takes: (N, features) with each sample flattened (DLFS1's Affine on
    images), or, when the last axis alone fits the spec, every leading axis a row (a time-distributed
    layer on (N, T, D), as DLFS2's TimeAffine)."""
    x = point.inputs["x"]
    if x.ndim < 2:
        return (x.shape[0] if x.ndim else 1, 1)
    flat = int(np.prod(x.shape[1:]))
    in_features = getattr(spec, "in_features", None)
    if x.ndim > 2 and in_features is not None and flat != in_features and x.shape[-1] == in_features:
        return (int(np.prod(x.shape[:-1])), in_features)
    return (x.shape[0], flat)


def _fits_loss(spec: Loss, x: np.ndarray, t: np.ndarray) -> None:
    """A loss spec takes t of x's shape, or integer class labels, one per row of x."""
    if t.shape == x.shape:
        return
    labels = t.dtype.kind in "iu" and x.ndim == 2 and t.shape == x.shape[:1]
    if labels and t.size and int(t.min()) >= 0 and int(t.max()) < x.shape[1]:
        return
    if labels:
        msg = (
            f"the class labels in t must lie in 0 .. {x.shape[1] - 1} (x has {x.shape[1]} columns); "
            f"t holds {t.min()} .. {t.max()}"
        )
        raise ShapeError(msg)
    advice = ": pass class labels as integers (t.astype(int))" if t.dtype.kind == "f" and t.shape == x.shape[:1] else ""
    msg = (
        f"the spec {spec!r} takes t of the shape of x, {x.shape}, or integer class labels of shape {x.shape[:1]}; "
        f"t has shape {t.shape} and dtype {t.dtype}{advice}"
    )
    raise ShapeError(msg)
