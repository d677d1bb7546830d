"""The entry of the chain rule, ``derive(network) -> Derivation``, and what its one sweep shares.

A chain ``Network(layers, loss=...)`` is a graph (x through each layer, then the
loss): :func:`derive` builds that graph (:func:`symgrad.graph.network.chain_as_graph`)
and derives it by the one backward sweep of :mod:`symgrad.derive.graph`, as it
does ``Network(E)``. Here too: the memo of the layers' matrix rules (:func:`_rule`),
the index-level steps that explain a derived rule, and the lazy steps of a
:class:`~symgrad.derive.derivation.Derivation`.
"""

from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sympy as sp

from symgrad.derive.derivation import Derivation
from symgrad.derive.elementary import elementary_steps
from symgrad.derive.indexproof import index_substeps
from symgrad.derive.steps import Step
from symgrad.errors import UnknownNameError
from symgrad.functions import kink_value
from symgrad.network import Network, requested_names

__all__ = ["derive", "grad_symbol"]


def grad_symbol(name: str, shape: tuple[Any, ...] = ()) -> sp.Basic:
    """The symbol standing for dE/d(name): a Symbol, or a MatrixSymbol."""
    label = f"dE/d{name}"
    return sp.Symbol(label) if shape == () else sp.MatrixSymbol(label, *shape)


def _symbolic_shape(shape: tuple[Any, ...]) -> tuple[Any, Any]:
    # Vectors (b) are rows, so that ones(N, 1) * b broadcasts over the batch. An N-D value (an image
    # batch, a convolution's kernel) is a matrix of its trailing axes flattened, for the symbols only.
    if len(shape) == 1:
        return (1, shape[0])
    return (shape[0], functools.reduce(lambda a, b: a * b, shape[1:], 1))


#: Methods a layer's matrix rules are built from; a layer whose resolved methods are all symgrad's own is pure.
_RULE_METHODS = (
    "matrix_forward", "matrix_vjp", "matrix_loss", "matrix_grad", "function", "index_forward", "index_loss",
)
#: The matrix rules of symgrad's own layers, by layer, rule and symbols (the last 1024, least recent first):
#: SymPy takes tens of microseconds per matrix product, and a new network mostly repeats known layers.
_rules: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _rule(layer: Any, method: str, *args: Any, params: Mapping[str, sp.Basic] | None = None, **options: Any) -> Any:
    """``layer.<method>(*args, [params], **options)``, remembered for symgrad's own layer types."""
    kind = type(layer)
    methods = tuple(getattr(kind, name, None) for name in _RULE_METHODS)
    call = getattr(layer, method)
    arguments = args if params is None else (*args, params)
    own = all(
        getattr(m, "__module__", "symgrad.").startswith("symgrad.") for m in (kind, *methods) if m is not None
    )
    if not own or any(name in vars(layer) for name in _RULE_METHODS):
        return call(*arguments, **options)  # a user's class may hold more than its description shows
    key = (method, kind, methods, layer.describe(), args, None if params is None else tuple(params.items()),
           tuple(sorted(options.items())))
    known = _rules.get(key)
    if known is None:
        known = _rules[key] = call(*arguments, **options)
        if len(_rules) > 1024:
            _rules.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have just evicted it
            _rules.move_to_end(key)
    return dict(known) if isinstance(known, dict) else known


def derive(network: Network, wrt: Sequence[str] | str | None = None, *, kink: Any = 0) -> Derivation:
    """Derive dE/d(name) for every name in ``wrt`` by the chain rule, layer by layer.

    Parameters
    ----------
    network : Network
        The network, e.g. :func:`symgrad.article_network`; or a layer written as a graph
        (``symgrad.BatchNorm(4)``, ``LSTMCell(3, 4)``), derived on its own with E any loss of its outputs.
    wrt : sequence of str, optional
        Names to differentiate with respect to; every parameter and ``x`` by default.
    kink : 0, 1/2 or 1
        The derivative of ReLU taken at 0.

    Returns
    -------
    Derivation

    Raises
    ------
    UnknownNameError
        If a name in ``wrt`` is not an input or parameter of the network.

    Examples
    --------
    >>> from symgrad.network import article_network
    >>> d = derive(article_network())
    >>> d.wrt
    ('w1', 'b1', 'w2', 'b2', 'x')
    >>> d.gradient("w1")
    w2*x*(b2 - t + w2*(b1 + w1*x))
    >>> for step in d.steps("w1"):
    ...     print(step.lhs, "=", step.rhs)
    dE/dy = -t + y
    dE/dh = dE/dy*w2
    dE/dw1 = dE/dh*x
    dE/dw1 = w2*x*(-t + y)
    dE/dw1 = w2*x*(b2 - t + w2*(b1 + w1*x))
    >>> d.verified
    True
    >>> derive(article_network(), wrt=["w3"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: cannot differentiate with respect to 'w3': ... x, w1, b1, w2, b2
    """
    from symgrad.derive.graph import derive_graph  # the same floor: the one backward sweep
    from symgrad.graph.network import GraphNetwork, chain_as_graph

    if callable(getattr(network, "tensor_forward", None)):  # one N-D layer (convolution, a symgrad.layer(...))
        from symgrad.derive.tensorlayer import derive_tensor_layer

        return derive_tensor_layer(network, wrt)
    if callable(getattr(network, "tensor_stages", None)):  # a layer written as index-notation stages (attention)
        from symgrad.derive.tensorstages import derive_staged_layer

        return derive_staged_layer(network, wrt)
    if isinstance(network, GraphNetwork):
        return derive_graph(network, wrt, kink=kink_value(kink))
    from symgrad.layers.composite import CompositeLayer

    if isinstance(network, CompositeLayer):  # a layer written as a graph: its own derivation, E given by its outputs
        from symgrad.derive.layerderivation import derive_layer

        if wrt is not None:
            msg = "derive(layer) derives every input and parameter of the layer; leave wrt out"
            raise UnknownNameError(msg)
        return derive_layer(network)
    if not isinstance(network, Network):
        msg = f"derive() takes a symgrad Network, got {type(network).__name__}; for an expression use gradient()"
        raise UnknownNameError(msg)
    names = _resolve_wrt(network, wrt)
    # A chain is a graph: x through each layer, then the loss. One path derives both.
    return derive_graph(chain_as_graph(network), names, kink=kink_value(kink), chain=network)


def _resolve_wrt(network: Network, wrt: Sequence[str] | str | None) -> tuple[str, ...]:
    if wrt is None:
        return (*network.params, "x")
    allowed = ("x", *network.params)
    return requested_names(wrt, allowed, action="differentiate with respect to", listing="the network's names are")


def _index_steps(
    layer: Any, role: str, binding: dict[str, sp.Basic], proven: tuple[bool, str], *, kink: Any = 0
) -> tuple[Step, ...]:
    """The index-level steps that derive ``layer``'s rule for ``role`` (none for a rule written by hand);
    for an elementwise activation, its derivative f'(z) by elementary steps (the rule is G ∘ f'(Z))."""
    from symgrad.layers import Loss
    from symgrad.layers.activations import Activation
    from symgrad.layers.composite import CompositeLayer

    if isinstance(layer, CompositeLayer):  # its own graph's sweep, each step proven, then its closed form
        from symgrad.derive.compositesteps import composite_substeps

        return composite_substeps(layer, role, binding, proven)
    if isinstance(layer, Activation) and role == "input" and type(layer).matrix_vjp is Activation.matrix_vjp:
        z = sp.Symbol("z")
        return tuple(elementary_steps(layer.function(z), z, kink=kink))
    if _overrides_rule(layer):
        return ()
    method = getattr(layer, "index_loss" if isinstance(layer, Loss) else "index_forward", None)
    if method is None:
        return ()
    forward = method()
    if forward is None:
        return ()
    first = forward.tensors[0].name
    renamed = {"input": first, "output": forward.output}
    if len(forward.tensors) > 1:  # a loss's target
        renamed["target"] = forward.tensors[1].name
    names = {renamed.get(key, key): value for key, value in binding.items()}
    return index_substeps(type(layer), forward, first if role == "input" else role, names, proven)


def _overrides_rule(layer: Any) -> bool:
    """Whether the layer's rule is its own rather than derived (then the index steps would not explain it)."""
    from symgrad.layers import Layer, Loss

    name, default = ("matrix_grad", Loss.matrix_grad) if isinstance(layer, Loss) else ("matrix_vjp", Layer.matrix_vjp)
    return name in vars(layer) or getattr(type(layer), name, None) is not default


class _Gradients:
    """The steps and results of a derivation, computed on first use.

    ``check()`` needs only the staged program (what the compiled gradient runs);
    collecting each batched gradient into one expression of the inputs is a
    third of the derivation's time, so it waits until someone reads a step.
    """

    def __init__(self, compute: Callable[[], tuple[dict[str, Any], dict[str, Any]]], names: tuple[str, ...]) -> None:
        self._compute: Callable[[], tuple[dict[str, Any], dict[str, Any]]] | None = compute
        self.names = names

    @functools.cached_property
    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self._compute is not None
        parts = self._compute()
        self._compute = None  # the builder it holds is no longer needed
        return parts


class _Part(Mapping[str, Any]):
    """One of :class:`_Gradients`' two mappings (0: steps, 1: results), read-only."""

    def __init__(self, gradients: _Gradients, index: int) -> None:
        self._gradients, self._index = gradients, index

    def __getitem__(self, name: str) -> Any:
        return self._gradients.parts[self._index][name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._gradients.names)

    def __len__(self) -> int:
        return len(self._gradients.names)


