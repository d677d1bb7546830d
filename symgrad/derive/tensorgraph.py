"""An N-D layer (convolution, pooling, flatten) applied inside a network: its forward and its rules.

The graph sweep (:mod:`symgrad.derive.graph`) asks each layer application for
its forward and, given the upstream gradient, for its contribution to each
operand's gradient. For an N-D layer both come from the layer's own
derivation (:func:`symgrad.derive.tensorlayer.derive_tensor_layer`: its forward
in index notation, each rule derived through Kronecker deltas, vectorised and
proven entrywise): the forward and each rule enter the network's program as a
:class:`~symgrad.index.tensorop.TensorCall`, and the step of each contribution
carries that derivation's index-level steps. No rule is written here.

Examples
--------
>>> import sympy as sp
>>> from symgrad.layers import Conv2d
>>> x, G = sp.MatrixSymbol("x", sp.Symbol("N"), 16), sp.MatrixSymbol("G", sp.Symbol("N"), 32)
>>> W, b = sp.MatrixSymbol("W1", 2, 9), sp.MatrixSymbol("b1", 1, 2)
>>> layer = Conv2d(1, 2, 3, pad=1)
>>> print(tensor_forward_expr(layer, 4, x, {"W": W, "b": b}, 32))
conv2d(x, W1, b1)
>>> [(str(expr), proof[0]) for expr, proof, _ in tensor_rules(layer, 4, G, x, {"W": W, "b": b}, {"W": W})]
[('(dconv2d/dW)^T[G; x, W1, b1]', True)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from symgrad.derive.steps import Step
from symgrad.derive.tensorlayer import TensorDerivation, derive_tensor_layer
from symgrad.errors import LayerError
from symgrad.index.tensorop import TensorCall, forward_key

__all__ = ["tensor_forward_expr", "tensor_rules"]


def _forward(layer: Any, ndim: int) -> Any:
    forward = layer.tensor_forward(ndim)
    extra = [tensor.name for tensor in forward.tensors[1:]]
    if tuple(extra) != tuple(layer.roles) or any(tensor.integer for tensor in forward.tensors):
        msg = (f"{layer!r} reads {', '.join(t.name for t in forward.tensors)}: a layer in a network reads its "
               f"input and its parameters ({', '.join(layer.roles) or 'none'}) only")
        raise LayerError(msg)
    return forward


def _operands(layer: Any, x: Any, params: Mapping[str, Any]) -> tuple[Any, ...]:
    return (x, *(params[role] for role in layer.roles))


def tensor_forward_expr(layer: Any, ndim: int, x: Any, params: Mapping[str, Any], features: Any) -> TensorCall:
    """``layer`` applied to ``x`` (a value of ``ndim`` axes, batch first) as one node of the program."""
    return TensorCall.of(_forward(layer, ndim), "forward", layer.kind, _operands(layer, x, params), features)


def tensor_rules(layer: Any, ndim: int, upstream: Any, x: Any, params: Mapping[str, Any],
                 targets: Mapping[str, Any]) -> list[tuple[Any, tuple[bool, str], Callable[[], tuple[Step, ...]]]]:
    """For each target (``"input"`` or a role, to its symbol): the derived rule applied to ``upstream``,
    the rule's proof verdict, and the maker of its index-level steps (the layer's own derivation)."""
    forward = _forward(layer, ndim)
    derivation = _derivation(layer, forward)
    operands = (*_operands(layer, x, params), upstream)
    found: list[tuple[Any, tuple[bool, str], Callable[[], tuple[Step, ...]]]] = []
    for key, symbol in targets.items():
        name = forward.tensors[0].name if key == "input" else key
        top = derivation.steps(name)[0]
        expr = TensorCall(forward_key(forward), name, layer.kind, tuple(symbol.shape), operands)
        found.append((expr, (top.verified, top.proof), functools.partial(_substeps, top)))
    return found


def _substeps(top: Step) -> tuple[Step, ...]:
    return top.substeps


#: Derivations of symgrad's own N-D layers by (type, sizes, forward): a network repeats known layers.
_DERIVED: dict[tuple[Any, ...], TensorDerivation] = {}


def _derivation(layer: Any, forward: Any) -> TensorDerivation:
    if not type(layer).__module__.startswith("symgrad.layers."):  # a user's class may hold more than its sizes
        return derive_tensor_layer(layer, forward=forward)
    key = (type(layer), layer.describe(), forward)
    if key not in _DERIVED:
        if len(_DERIVED) >= 64:
            _DERIVED.pop(next(iter(_DERIVED)))
        _DERIVED[key] = derive_tensor_layer(layer, forward=forward)
    return _DERIVED[key]
