"""The network evaluated by its layers' NumPy reference implementations.

This is the second of the three sides of a check: fresh copies of the layers,
``forward`` through them and the loss, then ``backward`` from ``dout = 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

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


def _forward(network: Network, values: Mapping[str, Any]) -> tuple[Any, list[Any], Any]:
    layers = _layers(network, values)
    out = values["x"]
    for layer in layers:
        out = layer.forward(out)
    loss = cast(Loss, network.loss.fresh())
    return loss.forward(out, values["t"]), layers, loss


def reference_loss(network: Network, values: Mapping[str, Any]) -> Any:
    """E at ``values`` by the reference forward passes (complex-safe)."""
    return _forward(network, values)[0]


def reference_backward(network: Network, values: Mapping[str, Any], wrt: tuple[str, ...]) -> ReferenceResult:
    """E and dE/d(name) for ``wrt`` by the layers' reference backward passes."""
    value, layers, loss = _forward(network, values)
    dout = loss.backward(1.0)
    grads: dict[str, Any] = {"x": None}
    for index in reversed(range(len(layers))):
        dout = layers[index].backward(dout)
        for role in network.layers[index].roles:
            name = f"{role if network.batched else role.lower()}{network.layer_names[index]}"
            grads[name] = getattr(layers[index], f"d{role}")
    grads["x"] = dout
    return ReferenceResult(float(np.real(value)), {name: np.asarray(grads[name], dtype=float) for name in wrt})


def relu_inputs(network: Network, values: Mapping[str, Any]) -> list[np.ndarray]:
    """The inputs of every ReLU layer at ``values`` (to keep away from kinks)."""
    layers = _layers(network, values)
    out, seen = values["x"], []
    for layer in layers:
        if isinstance(layer, ReLU):
            seen.append(np.real(np.asarray(out)))
        out = layer.forward(out)
    return seen
