"""Nodes of a graph network: inputs, parameters, layer applications, combinations.

Nodes are plain immutable data built by calling things: ``Input("x", 3)``, a layer
instance called on nodes (``Affine(3, 4)(x)``), ``layer.param("W")``, and the
operators ``+ - * @`` with nodes or numbers, :func:`concat`, :func:`total` and
:func:`sum_squares`. Each node knows its shape when it is made, so a mismatch is
reported where it is written. A node is identified by the object itself (two
``Affine(3, 4)(x)`` calls are two applications), except inputs, which are one
input per name, and parameters, which are one per layer instance and role.

No SymPy and no NumPy here: the derivation (:mod:`symgrad.derive.graph`) and the
reference backprop (:mod:`symgrad.graph.reference`) read these nodes.

Examples
--------
>>> from symgrad.layers import Affine, HalfSquaredError, ReLU
>>> x, t = Input("x", 3), Input("t", 3)
>>> h = x + ReLU()(Affine(3, 3)(x))
>>> h.shape
('N', 3)
>>> HalfSquaredError()(h, t).shape
()
>>> x + Input("z", 2)
Traceback (most recent call last):
...
symgrad.errors.ShapeError: + needs operands of the same shape; got (N, 3) and (N, 2)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from symgrad.errors import ShapeError, SpecError, UnknownNameError

if TYPE_CHECKING:
    from symgrad.layers.base import Layer

__all__ = ["Apply", "Input", "Node", "Op", "Param", "apply_layer", "concat", "sum_squares", "total"]

#: The batch dimension in node shapes.
BATCH_DIM = "N"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
#: Combination operations: name -> how the documents write it.
OPS = {
    "add": "+", "sub": "-", "mul": "*", "matmul": "@", "scale": "a number times", "shift": "a number plus",
    "concat": "concat", "total": "total", "sum_squares": "sum_squares",
}


def format_shape(shape: tuple[Any, ...]) -> str:
    """``(N, 3)``, ``(4,)`` or ``()``."""
    return "()" if not shape else f"({', '.join(str(d) for d in shape)}{',' if len(shape) == 1 else ''})"


@dataclass(frozen=True, eq=False)
class Node:
    """A value of a graph network. Combine nodes with ``+ - * @`` and numbers."""

    @property
    def shape(self) -> tuple[Any, ...]:
        """``()`` for a scalar, ``("N", F)`` for a batch, ``(D, M)`` or ``(M,)`` for a parameter."""
        raise NotImplementedError

    @property
    def args(self) -> tuple[Node, ...]:
        """The nodes this one is computed from (none for inputs and parameters)."""
        return ()

    def __add__(self, other: object) -> Node:
        return _combine("add", self, other)

    def __radd__(self, other: object) -> Node:
        return _combine("add", other, self)

    def __sub__(self, other: object) -> Node:
        return _combine("sub", self, other)

    def __rsub__(self, other: object) -> Node:
        return _combine("sub", other, self)

    def __mul__(self, other: object) -> Node:
        return _combine("mul", self, other)

    def __rmul__(self, other: object) -> Node:
        return _combine("mul", other, self)

    def __truediv__(self, other: object) -> Node:
        if not _is_number(other) or other == 0:
            msg = f"a node can be divided only by a nonzero number, got {other!r}"
            raise SpecError(msg)
        return Op("scale", (self,), 1 / other)  # type: ignore[operator]

    def __neg__(self) -> Node:
        return Op("scale", (self,), -1)

    def __matmul__(self, other: object) -> Node:
        return _combine("matmul", self, other)

    def __rmatmul__(self, other: object) -> Node:
        return _combine("matmul", other, self)

    def __bool__(self) -> bool:
        msg = "a node has no truth value (it is a symbolic value of a graph network)"
        raise SpecError(msg)


@dataclass(frozen=True, eq=False)
class Input(Node):
    """An input of a graph network: a scalar (``features=None``, as in the article) or a batch N x features.

    Parameters
    ----------
    name : str
        Its name: a letter, then up to 31 letters, digits or ``_``.
    features : int or tuple of int, optional
        Columns of the batch; a tuple for N-D samples (``(1, 28, 28)``: a batch (N, 1, 28, 28) of
        images, NCHW); None for a scalar input.

    Examples
    --------
    >>> Input("x", 3).shape, Input("x").shape, Input("x", (1, 4, 4)).shape
    (('N', 3), (), ('N', 1, 4, 4))
    >>> Input("x y")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: input name 'x y' is not allowed: use a letter, then up to 31 letters, digits or '_'
    """

    name: str
    features: int | tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            msg = f"input name {self.name!r} is not allowed: use a letter, then up to 31 letters, digits or '_'"
            raise UnknownNameError(msg)
        sizes = self.features if isinstance(self.features, tuple) and self.features else (self.features,)
        if self.features is not None and not all(
            not isinstance(size, bool) and isinstance(size, int) and size >= 1 for size in sizes
        ):
            msg = (f"Input {self.name!r}: features must be a positive integer, a tuple of them (an image's "
                   f"(C, H, W)) or None (a scalar), got {self.features!r}")
            raise ShapeError(msg)

    @property
    def shape(self) -> tuple[Any, ...]:
        if self.features is None:
            return ()
        return (BATCH_DIM, *self.features) if isinstance(self.features, tuple) else (BATCH_DIM, self.features)


@dataclass(frozen=True, eq=False)
class Param(Node):
    """Parameter ``role`` of a layer instance, as made by ``layer.param(role)``."""

    layer: Layer
    role: str

    def __post_init__(self) -> None:
        if self.role not in self.layer.roles:
            roles = ", ".join(self.layer.roles) or "none"
            msg = f"{self.layer!r} has no parameter {self.role!r}; its parameters: {roles}"
            raise UnknownNameError(msg)

    @property
    def shape(self) -> tuple[Any, ...]:
        return tuple(self.layer.param_shapes(None)[self.role])


@dataclass(frozen=True, eq=False)
class Apply(Node):
    """A layer instance applied to nodes: ``layer(x)``, or a loss ``loss(y, t)``."""

    layer: Layer
    inputs: tuple[Node, ...]
    out_shape: tuple[Any, ...] = field(default=())
    #: Which output of a recurrent cell this node is (``"h"``, an LSTM's ``"c"``); None for other layers.
    output: str | None = None

    @property
    def shape(self) -> tuple[Any, ...]:
        return self.out_shape

    @property
    def args(self) -> tuple[Node, ...]:
        return self.inputs


@dataclass(frozen=True, eq=False)
class Op(Node):
    """A combination: ``kind`` (see :data:`OPS`) of ``operands``, with a number ``const`` for scale and shift."""

    kind: str
    operands: tuple[Node, ...]
    const: float | int | None = None
    out_shape: tuple[Any, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_shape", _op_shape(self.kind, self.operands))

    @property
    def shape(self) -> tuple[Any, ...]:
        return self.out_shape

    @property
    def args(self) -> tuple[Node, ...]:
        return self.operands


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _combine(kind: str, a: object, b: object) -> Node:
    symbol = OPS[kind]
    if isinstance(a, Node) and isinstance(b, Node):
        return Op(kind, (a, b))
    number, node = (a, b) if isinstance(b, Node) else (b, a)
    if not isinstance(node, Node) or not _is_number(number):
        msg = f"{symbol} combines nodes with nodes or finite numbers, got {type(number).__name__}: {number!r}"
        raise SpecError(msg)
    if kind == "mul":
        return Op("scale", (node,), number)  # type: ignore[arg-type]
    if kind == "add":
        return Op("shift", (node,), number)  # type: ignore[arg-type]
    if kind == "sub":  # node - c, or c - node
        return Op("shift", (node,), -number) if a is node else Op("shift", (Op("scale", (node,), -1),), number)  # type: ignore[operator, arg-type]
    msg = "@ multiplies two matrix nodes, not a node and a number (use * for that)"
    raise SpecError(msg)


def _op_shape(kind: str, args: tuple[Node, ...]) -> tuple[Any, ...]:
    if kind not in OPS:
        msg = f"unknown combination {kind!r}; known: {', '.join(OPS)}"
        raise SpecError(msg)
    for arg in args:
        if not isinstance(arg, Node):
            msg = f"{OPS[kind]} takes graph nodes, got {type(arg).__name__}: {arg!r}"
            raise SpecError(msg)
    shapes = [arg.shape for arg in args]
    if kind in ("add", "sub", "mul"):
        if shapes[0] != shapes[1]:
            got = f"{format_shape(shapes[0])} and {format_shape(shapes[1])}"
            msg = f"{OPS[kind]} needs operands of the same shape; got {got}"
            raise ShapeError(msg)
        return shapes[0]
    if kind in ("scale", "shift"):
        return shapes[0]
    if kind in ("total", "sum_squares"):
        return ()
    if kind == "matmul":
        if len(shapes[0]) != 2 or len(shapes[1]) != 2 or shapes[0][1] != shapes[1][0] or shapes[1][0] == BATCH_DIM:
            msg = (f"@ needs matrices (a, b) @ (b, c) with b a feature size; got {format_shape(shapes[0])} @ "
                   f"{format_shape(shapes[1])} (for scalars or entrywise products use *)")
            raise ShapeError(msg)
        return (shapes[0][0], shapes[1][1])
    # concat
    if len(args) < 2:
        msg = f"concat joins at least two batch nodes, got {len(args)}"
        raise ShapeError(msg)
    for shape in shapes:
        if len(shape) != 2 or shape[0] != BATCH_DIM:
            msg = (f"concat joins batch nodes (N, F) along their features; got shapes "
                   f"{', '.join(format_shape(s) for s in shapes)} (a scalar network has nothing to concatenate)")
            raise ShapeError(msg)
    return (BATCH_DIM, sum(shape[1] for shape in shapes))


def concat(*nodes: Node) -> Node:
    """The batch nodes side by side: (N, F1), (N, F2) -> (N, F1 + F2).

    Examples
    --------
    >>> concat(Input("a", 2), Input("b", 3)).shape
    ('N', 5)
    >>> concat(Input("a"), Input("b"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: concat joins batch nodes (N, F) along their features; got shapes (), () (...)
    """
    return Op("concat", tuple(nodes))


def total(node: Node) -> Node:
    """The sum of all entries of ``node``, a scalar node.

    Examples
    --------
    >>> total(Input("x", 3)).shape
    ()
    """
    return Op("total", (node,))


def sum_squares(node: Node) -> Node:
    """The sum of the squares of all entries of ``node`` (an L2 penalty), a scalar node.

    Examples
    --------
    >>> from symgrad.layers import Affine
    >>> sum_squares(Affine(3, 4).param("W")).shape
    ()
    """
    return Op("sum_squares", (node,))


def apply_layer(layer: Layer, inputs: tuple[Any, ...]) -> Apply:
    """``layer(*inputs)``: the node of a layer (one input) or a loss (output and target) applied to nodes."""
    from symgrad.graph.cells import apply_cell, is_cell
    from symgrad.layers.base import Loss

    if is_cell(layer):  # x and the states in, each output its own node
        return apply_cell(layer, inputs)  # type: ignore[return-value]
    where = f"{layer!r}"
    expected = 2 if isinstance(layer, Loss) else 1
    if len(inputs) != expected:
        what = "a loss takes two nodes, loss(y, t)" if expected == 2 else "a layer takes one node, layer(x)"
        msg = f"{where} was called on {len(inputs)} arguments: {what}"
        raise SpecError(msg)
    for value in inputs:
        if not isinstance(value, Node):
            msg = (f"{where} is called on graph nodes (symgrad.Input(...), or other layers' outputs), "
                   f"got {type(value).__name__}")
            raise SpecError(msg)
    shape = inputs[0].shape
    if callable(getattr(layer, "tensor_forward", None)) or len(shape) > 2:  # an N-D layer, or an N-D value
        from symgrad.layers.shapes import next_shape

        return Apply(layer, tuple(inputs), (BATCH_DIM, *next_shape(layer, shape[1:], where)))
    if isinstance(layer, Loss):
        return Apply(layer, tuple(inputs), _loss_shape(layer, inputs))
    if shape == ():
        if layer.batched:
            msg = f"{where} is batched, but its input is a scalar node; use Input(name, features)"
            raise ShapeError(msg)
        return Apply(layer, tuple(inputs), ())
    if len(shape) != 2 or shape[0] != BATCH_DIM:
        msg = f"{where} applies to a batch (N, F) or a scalar, but its input has shape {format_shape(shape)}"
        raise ShapeError(msg)
    if layer.batched is False:
        msg = f"{where} is a scalar layer, but its input is a batch {format_shape(shape)}; give it sizes"
        raise ShapeError(msg)
    try:
        out = layer.output_features(shape[1])
    except ShapeError as error:
        msg = f"{where} {error}"
        raise ShapeError(msg) from None
    return Apply(layer, tuple(inputs), (BATCH_DIM, out))


def _loss_shape(layer: Layer, inputs: tuple[Node, ...]) -> tuple[Any, ...]:
    y, t = inputs
    if y.shape != t.shape:
        got = f"{format_shape(y.shape)} and {format_shape(t.shape)}"
        msg = f"{layer!r}(y, t) needs y and t of the same shape; got {got}"
        raise ShapeError(msg)
    if not isinstance(t, Input):
        msg = f"{layer!r}(y, t): the target t must be an Input node (targets are data, not computed)"
        raise SpecError(msg)
    if y.shape and (len(y.shape) != 2 or y.shape[0] != BATCH_DIM):
        msg = f"{layer!r} takes a batch (N, M) or a scalar, got {format_shape(y.shape)}"
        raise ShapeError(msg)
    layer.check_output_features(y.shape[1] if y.shape else None)  # type: ignore[attr-defined]
    return ()
