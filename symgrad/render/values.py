"""The numbers a figure shows: every quantity of a network and its gradient at one point.

The computational-graph figure labels each arrow with the forward value that
flows along it and, under it, the gradient dE/d(quantity) that flows back.
The point is the check report's seeded point; parameters' gradients come from
the report's rows (the symbolic side), and the intermediate quantities (h, y)
from the layers' reference forward and backward passes, on fresh copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from symgrad.check import CheckReport
from symgrad.graph.network import GraphNetwork
from symgrad.layers import Layer, Loss
from symgrad.network import Network
from symgrad.numeric.graphref import graph_values

__all__ = ["PointValues", "point_values"]


@dataclass(frozen=True)
class PointValues:
    """Forward values and gradients by name (``x``, ``t``, parameters, nodes, ``E``)."""

    forward: Mapping[str, Any]
    gradient: Mapping[str, Any]


def _params_of(network: Network, index: int) -> list[str]:
    return [name for name in network.params if network.param(name).layer_index == index]


def _layer_params(network: Network, index: int, point: Mapping[str, Any]) -> dict[str, Any]:
    return {network.param(name).role: np.asarray(point[name], dtype=float) for name in _params_of(network, index)}


def point_values(network: Network, report: CheckReport) -> PointValues:
    """Values and gradients of every quantity at ``report``'s point.

    Examples
    --------
    >>> import symgrad
    >>> net = symgrad.article_network()
    >>> values = point_values(net, symgrad.check(net))
    >>> sorted(values.forward)
    ['E', 'b1', 'b2', 'h', 't', 'w1', 'w2', 'x', 'y']
    >>> float(values.gradient["E"])
    1.0
    """
    forward: dict[str, Any] = {name: np.asarray(report.values[name], dtype=float) for name in network.names}
    if isinstance(network, GraphNetwork):  # a graph: textbook backprop over its nodes
        forward, gradient = graph_values(network, forward)
    else:
        layers, loss = _forward_pass(network, forward)
        gradient = _backward_pass(network, layers, loss)
    for row in report.rows:
        gradient[row.name] = np.asarray(row.symbolic, dtype=float)
    return PointValues(forward, gradient)


def _forward_pass(network: Network, forward: dict[str, Any]) -> tuple[list[Layer], Loss]:
    """Fresh layers run forward from ``forward["x"]``; records every node and E in ``forward``."""
    layers = []
    out = forward["x"]
    for index, layer in enumerate(network.layers):
        copy = layer.fresh()
        copy.set_params(_layer_params(network, index, forward))
        out = copy.forward(out)
        forward[network.nodes[index]] = np.asarray(out, dtype=float)
        layers.append(copy)
    loss = cast(Loss, network.loss.fresh())
    forward["E"] = np.asarray(np.real(loss.forward(out, forward["t"])), dtype=float)
    return layers, loss


def _backward_pass(network: Network, layers: list[Layer], loss: Loss) -> dict[str, Any]:
    """dE/d(quantity) for E, every node, every parameter and x, by the layers' backward()."""
    gradient: dict[str, Any] = {"E": np.asarray(1.0)}
    dout = loss.backward(1.0)
    for index in reversed(range(len(layers))):
        gradient[network.nodes[index]] = np.asarray(dout, dtype=float)
        dout = layers[index].backward(dout)
        for name in _params_of(network, index):
            gradient[name] = np.asarray(getattr(layers[index], f"d{network.param(name).role}"), dtype=float)
    gradient["x"] = np.asarray(dout, dtype=float)
    return gradient
