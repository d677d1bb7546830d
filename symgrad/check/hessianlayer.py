"""A user's layer as the two functions the second-order check differentiates.

``L(v) = sum_k <dout_k, forward(v)_k>`` with a fixed, seeded ``dout`` (1 for a
loss), and its gradient as the layer's ``backward(dout)`` gives it (``forward``
then ``backward`` on one layer object, as a training loop calls it) through :mod:`symgrad.check.conventions`,
so every convention :func:`symgrad.check_layer` takes is taken here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from symgrad.check.conventions import MISSING, Point, Runner, in_dtype, make_runner
from symgrad.check.layer import _DOUT_STREAM, _first_outputs, _inputs, _target, _upstream
from symgrad.errors import LayerError

__all__ = ["layer_functions"]


def layer_functions(
    layer: Any, *, x: Any, t: Any, params: Mapping[str, Any] | Sequence[str] | None, dout: Any, seed: int
) -> tuple[str, Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], dict[str, Any]], dict[str, Any],
           tuple[str, ...], np.dtype[Any]]:
    """(title, L, its gradient by backward, the point, the names differentiated, the dtype computed in)."""
    point = Point(_inputs(x), None if t is None else _target(t))
    runner = make_runner(layer, params, None)
    outs = _first_outputs(runner, point, None)
    loss = point.t is not None or not runner.takes_dout
    douts = _upstream(dout, outs, loss, runner, np.random.default_rng([seed, _DOUT_STREAM]))
    runner.resolve(point, douts)
    values = {name: np.asarray(value, dtype=float) for name, value in runner.values().items()}
    names = (*point.differentiable, *values)
    if not names:
        msg = f"{runner.label} has no float input or parameter to differentiate"
        raise LayerError(msg)
    at = _point_at(runner, point, values)
    state = runner.new()  # one layer for every call, as a user's training loop keeps one: a stale cache shows

    def energy(v: dict[str, Any]) -> Any:
        inputs, params = at(v)
        outs = runner.forward(runner.new(), inputs, params)
        return sum(np.sum(np.asarray(out, dtype=float) * d) for out, d in zip(outs, douts, strict=True))

    def gradient(v: dict[str, Any]) -> dict[str, Any]:
        inputs, params = at(v)
        run = runner.run(inputs, params, douts, None, state=state)
        if run.error is not None:
            msg = f"{runner.label}'s backward raised {type(run.error).__name__}: {run.error} near the point"
            raise LayerError(msg) from run.error
        found = {name: run.gradient(name) for name in names}
        missing = [name for name, value in found.items() if value is MISSING or value is None]
        if missing:
            msg = f"{runner.label}'s backward gave no gradient for {', '.join(missing)}; check_layer says more"
            raise LayerError(msg)
        return found

    start = {**{name: np.asarray(point.inputs[name], dtype=float) for name in point.differentiable}, **values}
    kinds = [point.inputs[name].dtype for name in point.differentiable]
    kinds += [np.dtype(runner.dtypes.get(name, np.float64)) for name in values]
    kinds += [np.asarray(out).dtype for out in outs if np.asarray(out).dtype.kind == "f"]
    dtype = max(kinds, key=lambda kind: np.finfo(kind).eps)  # the least precise
    return f"your {runner.label}", energy, gradient, start, names, dtype


def _point_at(
    runner: Runner, point: Point, values: Mapping[str, np.ndarray]
) -> Callable[[Mapping[str, Any]], tuple[Point, dict[str, np.ndarray]]]:
    """The layer's inputs and parameters at ``v``, in the dtypes the layer was given."""
    casts = {name: point.inputs[name].dtype for name in point.differentiable}

    def at(v: Mapping[str, Any]) -> tuple[Point, dict[str, np.ndarray]]:
        inputs = {name: in_dtype(v[name], casts[name]) if name in casts else value
                  for name, value in point.inputs.items()}
        return Point(inputs, point.t), {name: np.array(v[name]) for name in values}

    return at
