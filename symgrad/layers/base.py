"""The layer abstraction: one object, a symbolic forward and a NumPy reference.

A layer knows three things and nothing else:

* its symbolic forward, scalar (``scalar_forward``) and batched
  (``matrix_forward``), from which the derivation takes every local derivative;
* its local gradient rules in matrix form (``matrix_vjp``: the gradient of E with
  respect to the layer's input and parameters, given the upstream gradient G of
  its output). A layer that writes its forward in index notation
  (``index_forward``, a loss ``index_loss``) writes no rule at all: the default
  ``matrix_forward``, ``matrix_vjp`` and ``matrix_grad`` here derive them with
  :mod:`symgrad.index`. In scalar form the local derivative is ``sympy.diff``
  of the scalar forward, so it is not written a second time either;
* a NumPy reference implementation in the article's protocol: ``forward(x)``
  and ``backward(dout)`` returning ``dx`` and storing ``dW``, ``db``.

The symbolic methods import SymPy when they run, never at import time: the
NumPy references are the check's second side, and the ``symgrad`` command runs
them with no SymPy loaded when its symbolic results are on disk
(:mod:`symgrad.derive.artifacts`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from symgrad.errors import UnknownNameError

if TYPE_CHECKING:
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from symgrad.index.ir import IndexForward

__all__ = ["Layer", "Loss"]

_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")


def check_layer_name(name: str) -> str:
    """Return ``name`` if it can name a layer's parameters, else raise.

    Examples
    --------
    >>> check_layer_name("1")
    '1'
    >>> check_layer_name("a b")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: layer name 'a b' is not allowed: use 1 to 32 letters, digits or '_'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        msg = f"layer name {name!r} is not allowed: use 1 to 32 letters, digits or '_'"
        raise UnknownNameError(msg)
    return name


def n_d_in_network(where: str) -> str:
    """The refusal of an N-D layer that networks do not take yet (an embedding, a symgrad.layer(...))."""
    return (f"{where} is an N-D layer that networks do not take yet (they take Conv2d, MaxPool2d, AvgPool2d and "
            "Flatten); "
            "derive it alone with symgrad.derive(layer), or check your own version with "
            "symgrad.check_layer(yours, spec=layer, x=...)")


class Layer:
    """Base of every symgrad layer (not of users' own layers)."""

    #: The name used in network specs, e.g. ``"affine"``.
    kind: ClassVar[str] = ""
    #: Parameter roles, e.g. ``("W", "b")``; attributes of the reference layer.
    roles: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str | None = None) -> None:
        self.name = None if name is None else check_layer_name(name)

    # -- shapes -------------------------------------------------------------
    @property
    def batched(self) -> bool | None:
        """True for a layer with declared feature sizes, False for a scalar
        one, None for a layer that works either way (activations)."""
        return None

    def output_features(self, in_features: int | None) -> int | None:
        """Feature count of the output given that of the input."""
        return in_features

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        """Shape of each parameter (by role); () in scalar form."""
        return {}

    def describe(self) -> str:
        """The layer's arguments for specs and repr, e.g. ``3, 4`` for ``affine(3, 4)``."""
        return ""

    def spec_text(self) -> str:
        """The layer in spec syntax, e.g. ``affine(3, 4)`` or ``sigmoid``."""
        return f"{self.kind}({self.describe()})" if self.describe() else self.kind

    # -- symbolic -----------------------------------------------------------
    def scalar_forward(self, x: sp.Expr, params: Mapping[str, sp.Expr]) -> sp.Expr:
        """The forward pass on scalars, as a SymPy expression."""
        raise NotImplementedError

    def index_forward(self) -> IndexForward | None:
        """The batched forward in index notation (its first tensor the input, then the roles), or None."""
        return None

    def _index_forward(self) -> IndexForward:
        forward = self.index_forward()
        if forward is None:
            raise NotImplementedError(f"{type(self).__name__} has no index_forward to derive its rules from")
        return forward

    def matrix_forward(self, x: MatrixExpr, params: Mapping[str, MatrixExpr]) -> MatrixExpr:
        """The forward pass on a batch ``x`` (N x D), as a matrix expression (by default
        the matrix form of ``index_forward``)."""
        from symgrad.index.rules import forward_matrix

        forward = self._index_forward()
        return forward_matrix(forward, {forward.tensors[0].name: x, **params})

    def matrix_vjp(
        self, upstream: MatrixExpr, x: MatrixExpr, params: Mapping[str, MatrixExpr], *, kink: Any = 0
    ) -> dict[str, MatrixExpr]:
        """Gradients of E with respect to the input (key ``"input"``) and each
        parameter role, given ``upstream`` = dE/d(output).

        By default derived from ``index_forward`` by :mod:`symgrad.index` (a forward
        with no kink, so ``kink`` is not read).
        """
        from symgrad.index.rules import UPSTREAM, matrix_rules

        forward = self._index_forward()
        first = forward.tensors[0].name
        rules = matrix_rules(forward, {first: x, **params, UPSTREAM: upstream})
        return {("input" if name == first else name): rule for name, rule in rules.items()}

    def spec_constants(self, x_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Values this layer holds that its rules read besides x and the parameters (a dropout's
        frozen mask), for :func:`symgrad.check_layer`'s spec side; none by default."""
        return {}

    # -- NumPy reference ----------------------------------------------------
    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Store parameter values by role (the reference layer's attributes)."""
        for role in self.roles:
            setattr(self, role, params[role])

    def fresh(self) -> Layer:
        """A copy with empty caches, so a check never disturbs the original."""
        cls = type(self)
        if cls.__reduce_ex__ is object.__reduce_ex__ and not hasattr(cls, "__copy__") and hasattr(self, "__dict__"):
            clone = cls.__new__(cls)  # what copy.copy does for a plain object, without its generic machinery
            clone.__dict__.update(self.__dict__)
            return clone
        return copy.copy(self)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Reference forward pass (the article's protocol)."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Reference backward pass: returns dx, stores d<role> attributes."""
        raise NotImplementedError

    # -- graph networks -----------------------------------------------------
    def __call__(self, *inputs: Any) -> Any:
        """This layer applied to graph nodes (see :mod:`symgrad.graph`); calling it twice shares its parameters."""
        from symgrad.graph.nodes import apply_layer  # plain data, no SymPy

        return apply_layer(self, inputs)

    def param(self, role: str) -> Any:
        """A graph node for this layer's parameter ``role`` (``"W"``, ``"b"``), e.g. for weight decay."""
        from symgrad.graph.nodes import Param

        return Param(self, role)

    def __repr__(self) -> str:
        arguments = [self.describe()] + ([] if self.name is None else [f"name={self.name!r}"])
        return f"{type(self).__name__}({', '.join(a for a in arguments if a)})"


class Loss(Layer):
    """A loss: E = loss(y, t), a scalar."""

    def scalar_loss(self, y: sp.Expr, t: sp.Expr) -> sp.Expr:
        """E for a scalar output y and target t."""
        raise NotImplementedError

    def matrix_loss(self, y: MatrixExpr, t: MatrixExpr) -> sp.Expr:
        """E for a batch of outputs y (N x M) and targets t."""
        raise NotImplementedError

    def index_loss(self) -> IndexForward | None:
        """E in index notation over the tensors ``y`` and ``t``, or None."""
        return None

    def matrix_grad(self, y: MatrixExpr, t: MatrixExpr) -> MatrixExpr:
        """dE/dy in matrix form, by default derived from ``index_loss`` by :mod:`symgrad.index`."""
        from symgrad.index.rules import derive_rule, matrix_form

        forward = self.index_loss()
        if forward is None:
            raise NotImplementedError(f"{type(self).__name__} has no index_loss to derive its gradient from")
        return matrix_form(derive_rule(forward, "y"), {"y": y, "t": t})

    def check_output_features(self, features: int | None) -> None:
        """Raise ShapeError if this loss cannot take outputs of this width."""

    def forward(self, x: np.ndarray, t: np.ndarray | None = None) -> Any:  # type: ignore[override]
        raise NotImplementedError

    def backward(self, dout: Any = 1) -> np.ndarray:
        raise NotImplementedError

