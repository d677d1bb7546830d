"""``Network``: a composition of layers and a loss, checked at construction.

The network fixes the names everything else uses: the input ``x``, the target
``t``, each layer's parameters (``w1``, ``b1`` for the scalar ``Affine(name="1")``,
``W1``, ``b1`` for a batched one) and each layer's output (``h`` or ``h1``,
``h2``, ..., and ``y`` for the last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from symgrad.errors import ComplexityError, LayerError, ShapeError, SpecError, SymgradError, UnknownNameError
from symgrad.layers import CATALOG, LOSSES, Affine, HalfSquaredError, Layer, Loss

if TYPE_CHECKING:
    from symgrad.parse import LayerSpec

__all__ = ["MAX_LAYERS", "Network", "ParamInfo", "article_network", "network_from_spec", "requested_names"]


#: The deepest network symgrad derives (layers before the loss). Deriving takes about a
#: second at 16 scalar or 50 batched layers, and grows faster than the depth beyond.
MAX_LAYERS = 32


@dataclass(frozen=True)
class ParamInfo:
    """Where a parameter lives: its layer (by position) and role there."""

    name: str
    layer_index: int
    role: str
    shape: tuple[Any, ...]


class Network:
    """Layers applied in order, then a loss; or, ``Network(E)``, the graph that ends in the scalar node E.

    Parameters
    ----------
    layers : sequence of Layer, or a graph node
        symgrad layers (Affine, Sigmoid, Tanh, ReLU), applied first to last. A scalar graph node
        E (see :mod:`symgrad.graph`) gives a :class:`~symgrad.graph.network.GraphNetwork` instead.
    loss : Loss
        The loss, e.g. ``HalfSquaredError()`` (a chain only).

    Examples
    --------
    >>> from symgrad.layers import Affine, Sigmoid
    >>> net = Network([Affine(3, 4), Sigmoid(), Affine(4, 1)], loss=HalfSquaredError())
    >>> net.params
    ('W1', 'b1', 'W2', 'b2')
    >>> net.nodes
    ('h1', 'h2', 'y')
    >>> Network([Affine(3, 4), Affine(5, 1)], loss=HalfSquaredError())
    Traceback (most recent call last):
    ...
    symgrad.errors.ShapeError: layer 2, Affine(5, 1), expects 5 input features, but its input has 4
    """

    def __new__(cls, layers: Any = None, loss: Any = None, *, title: str | None = None,
                input_shape: Any = None) -> Network:
        """``Network(E)`` with E a graph node gives a :class:`symgrad.graph.GraphNetwork`."""
        if cls is Network and _is_node(layers):
            from symgrad.graph.network import GraphNetwork  # the graph floor, beside this one

            return object.__new__(GraphNetwork)
        return object.__new__(cls)

    def __init__(self, layers: Sequence[Layer], loss: Loss | None = None, *, title: str | None = None,
                 input_shape: Sequence[int] | None = None) -> None:
        self.layers = _check_layers(layers)
        if not isinstance(loss, Loss):
            msg = f"loss must be a symgrad loss such as HalfSquaredError(), got {loss!r}"
            raise SpecError(msg)
        self.loss = loss
        if title is not None and not isinstance(title, str):
            msg = f"title must be a str, got {type(title).__name__}"
            raise SpecError(msg)
        self.title = title
        self.batched = _mode(self.layers)
        self.layer_names = _layer_names(self.layers)
        self.input_shape = _input_shape(self.layers, self.batched, input_shape)
        #: Whether samples are N-D somewhere in the network (images): shapes are then walked whole.
        self.n_d = self.input_shape is not None and (len(self.input_shape) > 1 or _has_n_d(self.layers))
        if self.n_d and self.input_shape is not None:  # (n_d implies a shape; the test narrows the type)
            self.input_features, self.output_features = _propagate_n_d(self.layers, self.input_shape)
        else:
            self.input_features, self.output_features = _propagate(self.layers, self.batched)
            if self.input_features is not None:
                self.input_shape = (int(self.input_features),)
        loss.check_output_features(self.output_features)
        self._params = self._collect_params()
        self.params: tuple[str, ...] = tuple(self._params)
        n = len(self.layers)
        self.nodes: tuple[str, ...] = ("h",) * (n == 2) + tuple(f"h{i}" for i in range(1, n) if n > 2) + ("y",)
        self.names: tuple[str, ...] = ("x", "t", *self.params)

    def _collect_params(self) -> dict[str, ParamInfo]:
        found: dict[str, ParamInfo] = {}
        features = self.input_features
        after_n_d = False
        for index, layer in enumerate(self.layers):
            shapes = layer.param_shapes(features)
            for role in layer.roles:
                prefix = role if self.batched else role.lower()
                name = f"{prefix}{self.layer_names[index]}"
                if name in found:
                    msg = f"two layers are named {self.layer_names[index]!r}: parameter {name} would be ambiguous"
                    raise UnknownNameError(msg)
                found[name] = ParamInfo(name, index, role, shapes[role])
            # After an N-D layer the shapes are _propagate_n_d's; before it (and in a scalar network, whose
            # features are None: Softmax refuses those) each layer says its output features.
            after_n_d = after_n_d or callable(getattr(layer, "output_shape", None))
            features = None if after_n_d else layer.output_features(features)
        return found

    def param(self, name: str) -> ParamInfo:
        """Where parameter ``name`` lives; UnknownNameError if there is none."""
        if name not in self._params:
            msg = f"unknown parameter {name!r}; this network has {', '.join(self.params) or 'no parameters'}"
            raise UnknownNameError(msg)
        return self._params[name]

    def sample_shape(self, name: str) -> tuple[int, ...]:
        """One sample's shape of input ``name`` of a batched network, the batch left out: ``(3,)`` for x of
        ``affine(3, 4) > ...``, ``(1, 28, 28)`` for images."""
        if name == "x":
            return tuple(self.input_shape or (int(self.input_features or 1),))
        return (int(self.output_features or 1),)

    def input_node(self, index: int) -> str:
        """Name of the input of layer ``index``."""
        return "x" if index == 0 else self.nodes[index - 1]

    def describe(self) -> str:
        """The network in spec syntax, e.g. ``affine(3, 4) > sigmoid > ...``; ``input(1, 4, 4) > conv2d(...)
        > ...`` when its input is N-D."""
        parts = [layer.spec_text() for layer in self.layers]
        if self.n_d and self.input_shape is not None:
            parts.insert(0, f"input({', '.join(map(str, self.input_shape))})")
        return " > ".join([*parts, self.loss.kind])

    def __repr__(self) -> str:
        return f"Network({self.describe()!r})"


def _is_node(value: object) -> bool:
    from symgrad.graph.nodes import Node

    return isinstance(value, Node)


def _check_layers(layers: Sequence[Layer]) -> tuple[Layer, ...]:
    if isinstance(layers, Layer) or not isinstance(layers, (list, tuple)):
        msg = f"layers must be a list of symgrad layers, got {type(layers).__name__}"
        raise SpecError(msg)
    if not layers:
        msg = "a network needs at least one layer before its loss"
        raise SpecError(msg)
    if len(layers) > MAX_LAYERS:
        msg = (
            f"a network of {len(layers)} layers is deeper than symgrad derives: at most {MAX_LAYERS} layers "
            "before the loss (the symbolic derivation and its proofs grow faster than the depth)"
        )
        raise ComplexityError(msg)
    for index, layer in enumerate(layers, 1):
        if callable(getattr(layer, "tensor_forward", None)) and not callable(getattr(layer, "output_shape", None)):
            from symgrad.layers.base import n_d_in_network  # an embedding, a user's index-notation layer

            raise LayerError(n_d_in_network(f"layer {index}, {layer!r},"))
        if isinstance(layer, Loss):
            msg = f"layer {index} is a loss ({layer.kind}); pass it as loss=..., not in the layer list"
            raise SpecError(msg)
        if not isinstance(layer, Layer):
            msg = f"layer {index} is {layer!r}, not a symgrad layer (Affine, Sigmoid, Tanh, ReLU)"
            raise SpecError(msg)
    return tuple(layers)


def _mode(layers: tuple[Layer, ...]) -> bool:
    modes = {layer.batched for layer in layers} - {None}
    if len(modes) > 1:
        msg = "a network mixes scalar Affine() layers with batched Affine(in, out) layers; use one kind"
        raise ShapeError(msg)
    return modes == {True}


def _layer_names(layers: tuple[Layer, ...]) -> tuple[str, ...]:
    names, count = [], 0
    for layer in layers:
        if layer.roles:
            count += 1
        names.append(layer.name if layer.name is not None else str(count))
    return tuple(names)


def _propagate(layers: tuple[Layer, ...], batched: bool) -> tuple[int | None, int | None]:
    if not batched:
        return None, None
    first: Any = next(layer for layer in layers if getattr(layer, "in_features", None) is not None)
    features = first.in_features
    for index, layer in enumerate(layers, 1):
        try:
            features = layer.output_features(features)
        except ShapeError as error:
            msg = f"layer {index}, {layer!r}, {error}"
            raise ShapeError(msg) from None
    return first.in_features, features


def _has_n_d(layers: tuple[Layer, ...]) -> bool:
    return any(callable(getattr(layer, "output_shape", None)) for layer in layers)


def _input_shape(layers: tuple[Layer, ...], batched: bool, given: Sequence[int] | None) -> tuple[int, ...] | None:
    """One sample's shape of x: ``input_shape`` as given (checked), or None where the layers fix it."""
    if given is None:
        if _has_n_d(layers) and getattr(next(iter(layers)), "in_features", None) is None:
            msg = (f"layer 1, {layers[0]!r}, works on N-D samples (images (N, C, H, W)): give one sample's shape "
                   "as Network(..., input_shape=(C, H, W)), or input(C, H, W) first in a spec")
            raise ShapeError(msg)
        return None
    sizes = tuple(given) if isinstance(given, (tuple, list)) else None
    if not sizes or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in sizes):
        msg = f"input_shape must be one sample's shape, a tuple of positive integers such as (1, 28, 28); got {given!r}"
        raise ShapeError(msg)
    if not batched:
        msg = "input_shape is for batched networks (Affine(in, out), Conv2d, ...); a scalar network takes scalars"
        raise ShapeError(msg)
    return sizes


def _propagate_n_d(layers: tuple[Layer, ...], shape: tuple[int, ...]) -> tuple[int | None, int | None]:
    """Each sample's shape through the layers (see :mod:`symgrad.layers.shapes`); the output features."""
    from symgrad.layers.shapes import format_sample, next_shape

    first = shape[0] if len(shape) == 1 else None
    flattened: tuple[int, ...] | None = None  # what the Flatten just before made into rows
    for index, layer in enumerate(layers, 1):
        try:
            after = next_shape(layer, shape, f"layer {index}, {layer!r},")
        except ShapeError as error:
            if flattened is None or len(flattened) < 2:
                raise
            features = "*".join(map(str, flattened))
            msg = (f"{error} (the Flatten before it makes each sample {format_sample(flattened)} into "
                   f"{features} = {shape[0]} features)")
            raise ShapeError(msg) from None
        flattened = shape if getattr(layer, "kind", "") == "flatten" else None
        shape = after
    if len(shape) != 1:
        msg = (f"the network's output has N-D samples {format_sample(shape)}, but a loss takes rows (N, M): "
               "end with Flatten() (and an Affine(...))")
        raise ShapeError(msg)
    return first, shape[0]


def article_network() -> Network:
    """The article's network: F1(x) = w1*x + b1, F2(h) = w2*h + b2, E = (y - t)^2 / 2.

    Examples
    --------
    >>> net = article_network()
    >>> net.names
    ('x', 't', 'w1', 'b1', 'w2', 'b2')
    >>> net.nodes
    ('h', 'y')
    """
    return Network([Affine(name="1"), Affine(name="2")], loss=HalfSquaredError(), title="The article's network")


def network_from_spec(text: str) -> Network:
    """Build a Network from a spec such as ``"affine(3,4) > sigmoid > affine(4,1) > half-squared-error"``.

    The spec is parsed by a small grammar (:func:`symgrad.parse.parse_network_spec`),
    never evaluated. The last layer must be a loss; ``affine`` takes two sizes
    or none (the scalar layer).

    Examples
    --------
    >>> network_from_spec("affine > affine > half-squared-error").params
    ('w1', 'b1', 'w2', 'b2')
    >>> network_from_spec("affine(3,4) > maxout > half-squared-error")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.SpecError: unknown layer 'maxout' at column 15; known layers: affine, sigmoid, tanh, ...
    """
    from symgrad.parse import parse_network_spec  # the spec grammar loads when a spec is given

    specs = parse_network_spec(text)
    input_shape = None
    if specs[0].name == "input":  # input(C, H, W): one sample's shape
        if not specs[0].args or specs[0].keywords or len(specs) == 1:
            msg = ("input(...) at column 1 takes one sample's shape, such as input(1, 28, 28) for images, "
                   "and comes before the layers")
            raise SpecError(msg)
        input_shape, specs = specs[0].args, specs[1:]
    for spec in _all_specs(specs):
        if spec.name == "input":
            msg = f"input(...) at column {spec.column} may only come first, before every layer"
            raise SpecError(msg)
    if any(spec.body or spec.value is not None for spec in specs):
        from symgrad.graph.spec import graph_from_specs  # residual blocks or weight decay: a graph network

        return graph_from_specs(specs, _layer_from_spec, input_shape)
    layers = [_layer_from_spec(spec) for spec in specs]
    if specs[-1].name not in LOSSES:
        msg = f"the last layer of a spec must be a loss ({', '.join(sorted(LOSSES))}), got {specs[-1].name!r}"
        raise SpecError(msg)
    for spec in specs[:-1]:
        if spec.name in LOSSES:
            msg = f"{spec.name!r} at column {spec.column} is a loss; only the last layer may be one"
            raise SpecError(msg)
    return Network(layers[:-1], loss=cast(Loss, layers[-1]), input_shape=input_shape)


def _all_specs(specs: Sequence[LayerSpec]) -> list[LayerSpec]:
    return [inner for spec in specs for inner in (spec, *_all_specs(spec.body))]


#: Layers that take keyword arguments in a spec: positional names in order, then each keyword and what it takes.
_SPEC_ARGUMENTS: dict[str, tuple[tuple[str, ...], int, dict[str, str]]] = {
    "conv2d": (("in_channels", "out_channels", "kernel", "stride", "pad"), 3,
               {"stride": "a whole number >= 1 (default 1)", "pad": "a whole number >= 0 (default 0)"}),
    "max-pool2d": (("kernel", "stride", "pad"), 1,
                   {"stride": "a whole number >= 1 (default: the kernel)", "pad": "a whole number >= 0 (default 0)"}),
    "avg-pool2d": (("kernel", "stride", "pad"), 1,
                   {"stride": "a whole number >= 1 (default: the kernel)", "pad": "a whole number >= 0 (default 0)"}),
}


def _n_d_layer_from_spec(spec: LayerSpec, cls: Any) -> Layer:
    """conv2d(in, out, kernel, stride=1, pad=0), max-pool2d(kernel, stride), avg-pool2d(kernel, stride)."""
    names, least, keywords = _SPEC_ARGUMENTS[spec.name]
    where = f"{spec.name} at column {spec.column}"
    usage = f"{spec.name}({', '.join(names[:least])}{''.join(f', {k}=...' for k in keywords)})"
    if not least <= len(spec.args) <= len(names):
        msg = f"{where} takes {usage}; got {len(spec.args)} positional arguments"
        raise SpecError(msg)
    given = dict(zip(names, spec.args, strict=False))
    for key, value in spec.keywords:
        if key not in keywords:
            expected = "; ".join(f"{k}=n with n {what}" for k, what in keywords.items())
            msg = f"{where} has no keyword {key!r}; its keywords are {expected}"
            raise SpecError(msg)
        if key in given:
            msg = f"{where} is given {key} twice (as argument {names.index(key) + 1} and as {key}={value})"
            raise SpecError(msg)
        given[key] = value
    try:
        return cast(Layer, cls(**given))
    except SymgradError as error:
        msg = f"{where}: {error}"
        raise type(error)(msg) from None


def _layer_from_spec(spec: LayerSpec) -> Layer:
    if spec.formula is not None:  # act(<formula>): an activation from a formula (symgrad.layers.formula)
        from symgrad.layers.formula import layer_from_spec

        return layer_from_spec(spec.formula, spec.label, spec.column)
    if spec.name == "matmul":  # Affine without its bias (DLFS2's MatMul)
        if len(spec.args) != 2:
            msg = f"matmul at column {spec.column} takes two sizes, matmul(in, out); got {len(spec.args)}"
            raise SpecError(msg)
        return Affine(*spec.args, bias=False)
    cls = CATALOG.get(spec.name)
    if cls is None:
        msg = f"unknown layer {spec.name!r} at column {spec.column}; known layers: {', '.join([*CATALOG, 'matmul'])}"
        raise SpecError(msg)
    if spec.name in _SPEC_ARGUMENTS:
        return _n_d_layer_from_spec(spec, cls)
    if spec.keywords:
        key, value = spec.keywords[0]
        msg = (f"{spec.name} at column {spec.column} takes no keyword arguments, got {key}={value} "
               f"(keywords are for {', '.join(_SPEC_ARGUMENTS)}: stride=, pad=)")
        raise SpecError(msg)
    if cls is Affine:
        if len(spec.args) not in (0, 2):
            msg = f"affine at column {spec.column} takes two sizes, affine(in, out), or none; got {len(spec.args)}"
            raise SpecError(msg)
        return Affine(*spec.args)
    if spec.name in ("batch-norm", "layer-norm"):
        if len(spec.args) != 1:
            msg = (f"{spec.name} at column {spec.column} takes its feature count, {spec.name}(features); "
                   f"got {len(spec.args)} arguments")
            raise SpecError(msg)
        return cls(*spec.args)  # type: ignore[arg-type]
    if spec.args:
        msg = f"{spec.name} at column {spec.column} takes no arguments; got {len(spec.args)}"
        raise SpecError(msg)
    return cls()


def requested_names(
    wrt: Sequence[str] | str, allowed: Sequence[str], *, action: str, listing: str, why: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """``wrt`` (a name or a list of names) as a tuple without repeats, each checked against ``allowed``.

    ``action`` and ``listing`` word the error: "cannot {action} 'z': {listing} x, W1, ...";
    ``why`` adds a reason for particular names.

    Examples
    --------
    >>> requested_names(["W1", "x", "W1"], ("x", "W1"), action="differentiate with respect to",
    ...                 listing="the network's names are")
    ('W1', 'x')
    >>> requested_names("z", ("x",), action="check", listing="the derivation has gradients for")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: cannot check 'z': the derivation has gradients for x
    """
    if not isinstance(wrt, (str, list, tuple)):
        msg = f"wrt must be a name or a list of names, got {type(wrt).__name__}"
        raise UnknownNameError(msg)
    requested = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in requested:
        if not isinstance(name, str) or name not in allowed:
            extra = (why or {}).get(name, "") if isinstance(name, str) else ""
            msg = f"cannot {action} {name!r}{extra}: {listing} {', '.join(allowed)}"
            raise UnknownNameError(msg)
    if not requested:
        msg = f"wrt is empty; name at least one of {', '.join(allowed)}"
        raise UnknownNameError(msg)
    return tuple(dict.fromkeys(requested))
