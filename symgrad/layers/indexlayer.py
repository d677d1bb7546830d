"""Users' own layers from a forward in index notation: :func:`layer`.

``symgrad.layer("y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)", params={"A": (3, 2, 3)})``
is a layer whose one fact is that forward, parsed safely
(:mod:`symgrad.parseindex`, never evaluated). Its backward is derived by the
index engine (:mod:`symgrad.index`) and compiled to NumPy
(:mod:`symgrad.numeric.tensorcompile`); :func:`symgrad.derive` shows the
index steps, and it serves as the spec of :func:`symgrad.check_layer`.

Shapes: each parameter's shape is given in ``params``; an input's shape
follows from the reads (an index read at a parameter's dimension takes its
size, the batch ``n`` is a free size ``N``), or is given in ``inputs=`` where a
read does not say it (a window ``x[n, 2*i + u]``); ``sizes=`` gives any
index's size. The first tensor read that is not a parameter is the input ``x``
of the article's protocol; a tensor read inside another read's index
(``W[idx[n], d]``) holds integer indices.

Its NumPy side in the article's protocol (``forward(x)``, ``backward(dout)``
storing ``d<param>``) runs the compiled forward and the compiled **derived**
rules: there is no textbook backward for a user's formula. So checking this
layer on its own (``check_layer(layer, x=...)``) compares the derivation with
finite differences of its compiled forward; the third side is your own layer,
``check_layer(yours, spec=layer, x=...)``. The compiled code is imported from
the numeric floor when the layer runs (as :class:`~symgrad.derive.Derivation`'s
``lambdify`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError, UnknownNameError
from symgrad.layers.base import Layer

if TYPE_CHECKING:
    from symgrad.index.ir import IndexForward

__all__ = ["IndexLayer", "layer"]

_MAX_NAME = 40


class IndexLayer(Layer):
    """A layer ``out = forward(x, params)`` written in index notation (made by :func:`layer`)."""

    def __init__(self, forward: IndexForward, source: str, name: str) -> None:
        super().__init__(None)
        self.index = forward
        self.source = source
        vars(self)["kind"] = name  # each instance is its own kind, as a formula activation
        vars(self)["roles"] = tuple(t.name for t in forward.tensors[1:])
        for role in self.roles:
            setattr(self, role, None)
            setattr(self, f"d{role}", None)
        self.x: Any = None

    @property
    def batched(self) -> bool:
        return True

    def describe(self) -> str:
        return repr(self.source)

    def __repr__(self) -> str:
        return f"layer({self.source!r}, name={self.kind!r})"

    def tensor_forward(self, ndim: int | None = None) -> IndexForward:
        """The forward in index notation."""
        return self.index

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        return {t.name: tuple(int(d) for d in t.dims) for t in self.index.tensors[1:]}

    @property
    def reference_note(self) -> str:
        """What a check's backward() side is for this layer."""
        return (f"backward() of the layer {self.kind} made from index notation runs its derived rules compiled: "
                "checked alone it compares the derivation with finite differences of its compiled forward; "
                "pass your own layer with spec= for the third side")

    def _compiled(self, x: Any) -> Any:
        from symgrad.numeric.tensorcompile import compiled_layer  # the numeric floor, on use

        arrays = {self.index.tensors[0].name: np.asarray(x), **{r: np.asarray(getattr(self, r)) for r in self.roles}}
        missing = [r for r in self.roles if getattr(self, r) is None]
        if missing:
            msg = f"{self!r} has no value for {', '.join(missing)}: call set_params first"
            raise UnknownNameError(msg)
        shapes = tuple((name, tuple(a.shape)) for name, a in arrays.items())
        return compiled_layer(self.index, shapes), arrays

    def forward(self, x: np.ndarray) -> np.ndarray:
        compiled, arrays = self._compiled(x)
        self.x = np.asarray(x)
        return compiled.forward(arrays)  # type: ignore[no-any-return]

    def backward(self, dout: np.ndarray) -> np.ndarray | None:  # type: ignore[override]
        compiled, arrays = self._compiled(self.x)
        dout = np.asarray(dout, dtype=float)
        if dout.shape != compiled.output_shape:
            msg = f"dout has shape {dout.shape}; the output of {self.kind} has shape {compiled.output_shape}"
            raise ShapeError(msg)
        grads = {name: fn({**arrays, "G": dout}) for name, fn in compiled.grads.items()}
        for role in self.roles:
            if role in grads:
                setattr(self, f"d{role}", grads[role])
        return grads.get(self.index.tensors[0].name)


def layer(forward: str, params: Mapping[str, Any] | None = None, name: str | None = None, *,
          inputs: Mapping[str, Any] | None = None, sizes: Mapping[str, Any] | None = None) -> IndexLayer:
    """A layer from its forward in index notation; its backward is derived.

    Parameters
    ----------
    forward : str
        ``out[indices] = expression``, e.g. a bilinear ``"y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)"``:
        tensor reads ``x[n, i]`` (an index position may be ``2*i + u`` or ``idx[n]``; a read outside
        a tensor is 0), numbers, ``+ - * / **``, ``exp log tanh sigmoid sqrt abs erf relu`` and the
        reductions ``sum(expr, i, ...)`` and ``max(expr, i, ...)``. Parsed, never evaluated.
    params : mapping
        Each parameter's shape, e.g. ``{"A": (3, 2, 3)}``; every other tensor is an input.
    name : str, optional
        What derivations, reports and documents call it (escaped in every format); ``"layer"`` by default.
    inputs : mapping, optional
        An input's shape where its reads do not say it (ints, or names for free sizes such as ``"N"``).
    sizes : mapping, optional
        An index's size (an int or a name) where no parameter gives it.

    Returns
    -------
    IndexLayer

    Raises
    ------
    ParseError
        The text does not parse (the message names the column and what was expected).
    UnknownNameError, ShapeError
        A name or a shape does not fit the forward.

    Examples
    --------
    >>> import numpy as np
    >>> bilinear = layer("y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)", params={"A": (3, 2, 3)}, name="bilinear")
    >>> bilinear.set_params({"A": np.ones((3, 2, 3))})
    >>> bilinear.forward(np.ones((4, 3)))[0]
    array([9., 9.])
    >>> bilinear.backward(np.ones((4, 2)))[0]          # dx = Σ_j G (A + Aᵀ) x
    array([12., 12., 12.])
    >>> layer("y[n] = x[n] +* 2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.ParseError: expected a number, a tensor read such as x[n, i], ... at column 14, found '*'
        y[n] = x[n] +* 2
                     ^
    """
    from symgrad.parseindex import parse_index_forward

    label = "layer" if name is None else name
    if not isinstance(label, str) or not 1 <= len(label) <= _MAX_NAME or not label.isprintable() or not label.strip():
        msg = f"layer name {label!r:.60} is not allowed: use 1 to {_MAX_NAME} printable characters"
        raise UnknownNameError(msg)
    parsed = parse_index_forward(forward, params or {}, sizes, inputs)
    if not parsed.indices:
        msg = "a layer's output needs indices (y[n, j] = ...); a scalar is a loss"
        raise ShapeError(msg)
    if parsed.tensors[0].name in (params or {}):
        msg = "the forward reads no input: every tensor it reads is a parameter"
        raise UnknownNameError(msg)
    return IndexLayer(parsed, " ".join(forward.split()), label)
