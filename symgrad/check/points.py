"""Seeded sample points for checks, kept away from ReLU kinks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from symgrad.errors import ComplexityError, ShapeError, UnknownNameError
from symgrad.graph.network import GraphNetwork
from symgrad.layers import SigmoidCrossEntropy, SoftmaxCrossEntropy, SVMLoss
from symgrad.network import Network
from symgrad.numeric.reference import relu_inputs

__all__ = ["ARRAYS_HELD", "KINK_MARGIN", "MAX_ELEMENTS", "sample_values"]

#: A sample point is redrawn while a ReLU input lies closer than this to 0.
KINK_MARGIN = 1e-3
#: The most numbers (x, t and every parameter) a sample point may hold: 800 MB of float64.
#: A check holds about three arrays the size of the point at once (the point, the symbolic
#: gradient and the layers' gradient; in fast mode the directional check's working copy stands
#: in for the layers' gradient until that is computed): about 2.4 GB at this limit.
MAX_ELEMENTS = 10**8
#: How many arrays the size of the point a check holds at most, as the guard's message says.
ARRAYS_HELD = 3


def sample_values(network: Network, *, seed: int = 0, batch: int = 4, avoid_kinks: bool = True) -> dict[str, Any]:
    """Random values for x, t and every parameter, from ``numpy.random.default_rng(seed)``.

    Weights are scaled by 1/sqrt(fan-in) so activations stay in their
    interesting range; with ``avoid_kinks`` the point is redrawn (up to 50
    times) until no ReLU input is within :data:`KINK_MARGIN` of 0.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> values = sample_values(article_network(), seed=0)
    >>> sorted(values)
    ['b1', 'b2', 't', 'w1', 'w2', 'x']
    >>> values == sample_values(article_network(), seed=0)
    True
    >>> sample_values(article_network(), seed=-1)
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: seed must be a non-negative integer, got -1
    """
    if not _is_count(seed, 0):
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise UnknownNameError(msg)
    if not _is_count(batch, 1):
        msg = f"batch must be a positive integer (the number of rows of x), got {batch!r}"
        raise ShapeError(msg)
    _refuse_huge(network, batch)
    rng = np.random.default_rng(seed)
    values = _draw(network, rng, batch)
    for _ in range(50):
        if not avoid_kinks or all(np.min(np.abs(z), initial=np.inf) > KINK_MARGIN
                                  for z in relu_inputs(network, values)):
            break
        values.clear()  # the rejected point goes before the next is drawn: one point in memory
        values = _draw(network, rng, batch)
    return values


def _refuse_huge(network: Network, batch: int) -> None:
    """Raise ComplexityError before allocating more than :data:`MAX_ELEMENTS` numbers."""
    if not network.batched:
        return
    if isinstance(network, GraphNetwork):  # a graph network: its inputs by name
        sizes = {name: batch * math.prod(network.sample_shape(name)) for name in network.input_shapes}
    else:
        sizes = {name: batch * math.prod(network.sample_shape(name)) for name in ("x", "t")}
    sizes.update({name: math.prod(int(d) for d in network.param(name).shape) for name in network.params})
    total = sum(sizes.values())
    if total > MAX_ELEMENTS:
        largest = max(sizes, key=lambda name: sizes[name])
        msg = (
            f"a sample point of this network has {total:,} numbers ({largest} alone {sizes[largest]:,}); "
            f"symgrad draws at most {MAX_ELEMENTS:,} ({MAX_ELEMENTS * 8 // 2**20:,} MiB), and a check holds "
            f"about {ARRAYS_HELD} arrays the size of the point (the point and two gradients: "
            f"{ARRAYS_HELD * total * 8 / 2**30:,.1f} GiB for this one): use smaller layers or a smaller batch"
        )
        raise ComplexityError(msg)


def _draw_graph(network: Any, rng: np.random.Generator, batch: int) -> dict[str, Any]:
    """A batched graph's point: its inputs (one-hot rows for a softmax loss's target), then its parameters."""
    one_hot = {node.args[1].name for node in network.order
               if getattr(node, "layer", None) is not None and isinstance(node.layer, (SoftmaxCrossEntropy, SVMLoss))}
    binary = {node.args[1].name for node in network.order
              if getattr(node, "layer", None) is not None and isinstance(node.layer, SigmoidCrossEntropy)}
    values: dict[str, Any] = {}
    for name in network.input_shapes:
        sample = network.sample_shape(name)
        features = int(sample[0])
        values[name] = (np.eye(features)[rng.integers(0, features, size=batch)] if name in one_hot
                        else rng.integers(0, 2, size=(batch, features)).astype(float) if name in binary
                        else rng.standard_normal((batch, *sample)))
    for name in network.params:
        info = network.param(name)
        values[name] = rng.standard_normal(info.shape)
        values[name] *= 1.0 / np.sqrt(info.shape[0]) if info.role == "W" else 0.5
    return values


def _is_count(value: object, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= least)


def _draw(network: Network, rng: np.random.Generator, batch: int) -> dict[str, Any]:
    if not network.batched:
        return {name: float(rng.uniform(-2.0, 2.0)) for name in network.names}
    if isinstance(network, GraphNetwork):
        return _draw_graph(network, rng, batch)
    values: dict[str, Any] = {"x": rng.standard_normal((batch, *network.sample_shape("x")))}
    for name in network.params:
        info = network.param(name)
        values[name] = rng.standard_normal(info.shape)
        values[name] *= 1.0 / np.sqrt(info.shape[0]) if info.role == "W" else 0.5  # in place: no second copy
    out = int(network.output_features or 1)
    if isinstance(network.loss, (SoftmaxCrossEntropy, SVMLoss)):  # one-hot rows: class labels
        values["t"] = np.eye(out)[rng.integers(0, out, size=batch)]
    elif isinstance(network.loss, SigmoidCrossEntropy):  # binary labels, 0 or 1
        values["t"] = rng.integers(0, 2, size=(batch, out)).astype(float)
    else:
        values["t"] = rng.standard_normal((batch, out))
    return {name: values[name] for name in network.names}
