"""The network evaluated by its layers' NumPy reference implementations.

This is the second of the three sides of a check: fresh copies of the layers,
``forward`` through them and the loss, then ``backward`` from ``dout = 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from symgrad.errors import LayerError, SymgradError
from symgrad.layers import Loss, ReLU
from symgrad.network import Network

__all__ = ["ReferenceResult", "reference_backward", "reference_loss", "relu_inputs"]


@dataclass(frozen=True)
class ReferenceResult:
    """Loss and gradients from the layers' reference forward and backward."""

    loss: float
    gradients: dict[str, Any]


def _layers(network: Network, values: Mapping[str, Any]) -> list[Any]:
    layers = []
    for index, layer in enumerate(network.layers):
        copy = layer.fresh()
        params = {}
        for role in layer.roles:
            name = f"{role if network.batched else role.lower()}{network.layer_names[index]}"
            params[role] = values[name]
        copy.set_params(params)
        layers.append(copy)
    return layers


def _run(layer: Any, index: int, method: str, *args: Any) -> Any:
    """``layer.<method>(*args)``, with any error turned into a LayerError naming the layer."""
    try:
        return getattr(layer, method)(*args)
    except SymgradError:
        raise
    except Exception as error:
        where = "the loss" if index < 0 else f"layer {index + 1}"
        msg = f"{where}, {layer!r}, raised in {method}(): {type(error).__name__}: {error}"
        raise LayerError(msg) from error


def _forward(network: Network, values: Mapping[str, Any]) -> tuple[Any, list[Any], Any, list[tuple[int, ...]]]:
    layers = _layers(network, values)
    out, shapes = values["x"], []
    for index, layer in enumerate(layers):
        shapes.append(np.shape(out))
        out = _run(layer, index, "forward", out)
    loss = cast(Loss, network.loss.fresh())
    return _run(loss, -1, "forward", out, values["t"]), layers, loss, shapes


def _graph(network: Network) -> Any:
    """The graph backprop module when ``network`` is a graph network (``Network(E)``), else None."""
    if not hasattr(network, "root"):
        return None
    from symgrad.numeric import graphref

    return graphref


def reference_loss(network: Network, values: Mapping[str, Any]) -> Any:
    """E at ``values`` by the reference forward passes (complex-safe)."""
    graph = _graph(network)
    if graph is not None:
        return graph.graph_loss(network, values)
    return _forward(network, values)[0]


def reference_backward(network: Network, values: Mapping[str, Any], wrt: tuple[str, ...]) -> ReferenceResult:
    """E and dE/d(name) for ``wrt`` by the layers' reference backward passes."""
    graph = _graph(network)
    if graph is not None:
        return graph.graph_backward(network, values, wrt)  # type: ignore[no-any-return]
    value, layers, loss, shapes = _forward(network, values)
    dout = _run(loss, -1, "backward", 1.0)
    grads: dict[str, Any] = {"x": None}
    for index in reversed(range(len(layers))):
        dout = _run(layers[index], index, "backward", dout)
        for role in network.layers[index].roles:
            name = f"{role if network.batched else role.lower()}{network.layer_names[index]}"
            grads[name] = _stored(layers[index], index, role, values[name])
        _require_shape(layers[index], index, "dx", dout, shapes[index], "its input")
    grads["x"] = dout
    return ReferenceResult(float(np.real(value)), {name: np.asarray(grads[name], dtype=float) for name in wrt})


def _stored(layer: Any, index: int, role: str, param: Any) -> Any:
    """The gradient ``d<role>`` that ``layer.backward`` stored, checked against the parameter's shape."""
    grad = getattr(layer, f"d{role}", None)
    if grad is None:
        msg = f"layer {index + 1}, {layer!r}, did not store d{role} in backward() (expected an array like {role})"
        raise LayerError(msg)
    _require_shape(layer, index, f"d{role}", grad, np.shape(param), role)
    return grad


def _require_shape(layer: Any, index: int, what: str, grad: Any, shape: tuple[int, ...], of: str) -> None:
    reason = ""
    try:
        array = np.asarray(grad)  # no copy of an array
    except ValueError as error:  # ragged
        array = np.asarray(None)
        reason = str(error)
    if array.dtype.kind not in "biufc":
        reason = reason or f"dtype {array.dtype}"  # built only for the error: formatting a dtype is slow
        msg = f"layer {index + 1}, {layer!r}: backward() gave {what} that is not an array of numbers ({reason})"
        raise LayerError(msg)
    if array.shape != tuple(shape) and not (array.size == 1 and int(np.prod(shape)) == 1):
        msg = (
            f"layer {index + 1}, {layer!r}: backward() gave {what} with shape {array.shape}; "
            f"expected {tuple(shape)}, the shape of {of}"
        )
        raise LayerError(msg)


def relu_inputs(network: Network, values: Mapping[str, Any]) -> list[np.ndarray]:
    """The inputs of every ReLU layer at ``values`` (to keep away from kinks)."""
    graph = _graph(network)
    if graph is not None:
        return graph.graph_relu_inputs(network, values)  # type: ignore[no-any-return]
    layers = _layers(network, values)
    out, seen = values["x"], []
    for index, layer in enumerate(layers):
        if isinstance(layer, ReLU):
            seen.append(np.real(np.asarray(out)))
        out = _run(layer, index, "forward", out)
    return seen
