"""A graph network from a parsed spec: ``residual(block)`` and ``+ weight-decay(c)`` (see :mod:`symgrad.parse`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from symgrad.errors import ShapeError, SpecError
from symgrad.graph.nodes import Input, Node, format_shape, sum_squares
from symgrad.layers import LOSSES, Affine, Layer, Loss

if TYPE_CHECKING:
    from symgrad.network import Network
    from symgrad.parse import LayerSpec

__all__ = ["graph_from_specs"]


def graph_from_specs(specs: Sequence[LayerSpec], make: Callable[[LayerSpec], Layer],
                     input_shape: tuple[int, ...] | None = None) -> Network:
    """The graph network of ``specs``: x, through the layers and residual blocks, into the loss, plus weight decay.

    ``input_shape`` is one sample's shape of x (``input(1, 8, 8)`` in the spec); by default the first affine's.

    Examples
    --------
    >>> from symgrad.network import network_from_spec
    >>> net = network_from_spec("affine(3,3) > residual(tanh > affine(3,3)) > half-squared-error + weight-decay(0.01)")
    >>> for equation in net.describe().split("; "):
    ...     print(equation)
    h1 = affine(x)
    h2 = tanh(h1)
    h3 = affine(h2)
    h4 = h1 + h3
    h5 = half-squared-error(h4, t)
    h6 = sum_squares(W1)
    h7 = sum_squares(W2)
    h8 = h6 + h7
    h9 = 0.01 * h8
    E = h5 + h9
    """
    from symgrad.network import Network

    decay = specs[-1].value if specs[-1].name == "weight-decay" else None
    body = list(specs[:-1]) if decay is not None else list(specs)
    if body[-1].name not in LOSSES:
        msg = f"the last layer of a spec must be a loss ({', '.join(sorted(LOSSES))}), got {body[-1].name!r}"
        raise SpecError(msg)
    layers: list[Layer] = []
    first = _first_affine(body[:-1], make)
    if input_shape is not None:  # input(C, H, W) first in the spec
        x = Input("x", input_shape if len(input_shape) > 1 else input_shape[0])
    else:
        x = Input("x", first.in_features) if first is not None and first.batched else Input("x")
    y = _chain(x, body[:-1], make, layers)
    loss = make(body[-1])
    assert isinstance(loss, Loss)
    energy = loss(y, Input("t", y.shape[1]) if y.shape else Input("t"))
    if decay is not None:
        weights = [sum_squares(layer.param("W")) for layer in layers if "W" in layer.roles]
        if not weights:
            msg = "weight-decay(c) needs a layer with weights W (an affine) in the spec"
            raise SpecError(msg)
        penalty = weights[0]
        for term in weights[1:]:
            penalty = penalty + term
        energy = energy + decay * penalty
    return Network(energy)


def _first_affine(specs: Sequence[LayerSpec], make: Callable[[LayerSpec], Layer]) -> Affine | None:
    for spec in specs:
        if spec.body:
            found = _first_affine(spec.body, make)
            if found is not None:
                return found
        elif spec.name == "affine":
            layer = make(spec)
            assert isinstance(layer, Affine)
            return layer
    return None


def _chain(node: Node, specs: Sequence[LayerSpec], make: Callable[[LayerSpec], Layer], layers: list[Layer]) -> Any:
    for spec in specs:
        if spec.name in LOSSES:
            msg = f"{spec.name!r} at column {spec.column} is a loss; only the last layer may be one"
            raise SpecError(msg)
        if spec.body:
            block = _chain(node, spec.body, make, layers)
            if block.shape != node.shape:
                change = f"{format_shape(node.shape)} to {format_shape(block.shape)}"
                msg = (f"the residual block at column {spec.column} changes the shape {change}: "
                       "x + block(x) needs the block to keep the features")
                raise ShapeError(msg)
            node = node + block
        else:
            layer = make(spec)
            layers.append(layer)
            node = layer(node)
    return node
