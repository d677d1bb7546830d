"""The computational graph of a network as an inline SVG figure, drawn as textbooks draw it.

Left to right: the input x, one box per layer, the loss box and E. Parameters
(and the target t) come down into their boxes from above. Every arrow carries
the forward value that flows along it (above, in blue) and the gradient
dE/d(quantity) that flows back along it (below, in red), at the check's
seeded point. For batched networks the arrows carry shapes instead (N is the
batch) and, when the document has a point, each array's norm there (the square
root of the sum of its squared entries). No scripts, no external references:
plain SVG 1.1 elements.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sympy.printing.conventions import split_super_sub

from symgrad.network import Network
from symgrad.render.document import Line, Math, Table, Text
from symgrad.render.escape import escape_xml
from symgrad.render.numbers import format_number, format_shape
from symgrad.render.printer import name_latex
from symgrad.render.values import PointValues

__all__ = ["BACKWARD_COLOUR", "FORWARD_COLOUR", "Quantity", "graph_svg", "graph_table", "quantities"]

FORWARD_COLOUR = "#0550ae"
BACKWARD_COLOUR = "#c4321c"
_INK = "#1f2328"

# Layout, in SVG user units (px at scale 1).
_LEFT, _TOP = 24, 18
_LINE = 17  # text line height
_BOX_W, _BOX_H = 150, 58  # the smallest box
_CHAR = 7.6  # average width of a character of the 13px label font
_DROP = 62  # length of the arrows coming down into a box


@dataclass(frozen=True)
class _Layout:
    """Arrow lengths wide enough for the longest label (values are wider than shapes)."""

    gap: float  # arrow between two boxes, and into the first and out of the last
    spread: float  # horizontal distance between two labels above a box
    box: float  # width of every box, enough for the longest layer name


def _layout(network: Network, labels: dict[str, Quantity]) -> _Layout:
    def width(names: list[str]) -> float:
        return max((_label_width(labels[name]) for name in names), default=0.0)

    edges = ["x", *network.nodes, "E"]
    drops = [*network.params, "t"]
    spread = max(110.0, width(drops) + 18)
    kinds = [layer.kind for layer in (*network.layers, network.loss)]
    box = max(_BOX_W, 8.4 * max(len(kind) for kind in kinds) + 20)  # bold title, a little wider per character
    # Two boxes' parameter labels must not meet: a column holds two labels' widths.
    gap = max(130.0, width(edges) + 28, 2 * spread - box - 18)
    return _Layout(gap=round(gap), spread=round(spread), box=round(box))


def _label_width(quantity: Quantity) -> float:
    forward = len(quantity.name) + 3 + len(quantity.forward)
    backward = len(quantity.name) + 7 + len(quantity.backward) if quantity.backward else 0
    return _CHAR * max(forward, backward)


@dataclass(frozen=True)
class Quantity:
    """One labelled quantity of the graph: its name, forward text and gradient text."""

    name: str
    forward: str
    backward: str


def quantities(
    network: Network, shapes: dict[str, tuple[object, ...]], values: PointValues | None
) -> dict[str, Quantity]:
    """The label of every quantity: values at the point, or shapes when batched (with norms at a point).

    Examples
    --------
    >>> import symgrad
    >>> net = symgrad.article_network()
    >>> q = quantities(net, {}, None)
    >>> q["w1"]
    Quantity(name='w1', forward='', backward='')
    >>> net = symgrad.network_from_spec("affine(3,2) > sigmoid > affine(2,1) > half-squared-error")
    >>> q = quantities(net, {"W1": (3, 2)}, None)
    >>> q["W1"]
    Quantity(name='W1', forward='3×2', backward='3×2')
    """
    names = [*network.names, *network.nodes, "E"]
    out = {}
    for name in names:
        if network.batched:
            shape = format_shape(tuple(shapes.get(name, ()))) if name != "E" else "scalar"
            forward, back = shape, shape if name != "t" else ""
            if values is not None:  # a summary of each array at the point: its shape and its norm
                if name in values.forward:
                    forward = _summary(shape, values.forward[name], name == "E")
                if back and name in values.gradient:  # the gradient has the value's shape: its norm alone
                    back = _summary("", values.gradient[name], name == "E")
            out[name] = Quantity(name, forward, back)
        elif values is None:
            out[name] = Quantity(name, "", "")
        else:
            forward = format_number(values.forward[name], 4) if name in values.forward else ""
            back = format_number(values.gradient[name], 4) if name in values.gradient and name != "t" else ""
            out[name] = Quantity(name, forward, back)
    return out


def _with_norms(labels: dict[str, Quantity]) -> bool:
    return any(", norm " in quantity.forward for quantity in labels.values())


def _summary(shape: str, value: object, scalar: bool) -> str:
    """``N×4, norm 2.31``: an array by its shape and Frobenius norm; a scalar (E) by its value."""
    array = np.asarray(value, dtype=float)
    if scalar or array.ndim == 0:
        return format_number(array, 4)
    norm = f"norm {format_number(np.linalg.norm(array), 3)}"
    return f"{shape}, {norm}" if shape else norm


def _name_svg(name: str) -> str:
    """``w1`` as ``w`` with a subscript ``1`` (SymPy's convention for names)."""
    base, supers, subs = split_super_sub(name)
    text = f'<tspan font-style="italic">{escape_xml(base)}</tspan>'
    if subs:
        text += f'<tspan baseline-shift="sub" font-size="75%">{escape_xml(",".join(subs))}</tspan>'
    if supers:
        text += f'<tspan baseline-shift="super" font-size="75%">{escape_xml(",".join(supers))}</tspan>'
    return text


def _text(x: float, y: float, body: str, *, colour: str = _INK, anchor: str = "middle", weight: str = "") -> str:
    bold = ' font-weight="bold"' if weight else ""
    return f'<text x="{x:g}" y="{y:g}" fill="{colour}" text-anchor="{anchor}"{bold}>{body}</text>'


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{_INK}" '
        'stroke-width="1.4" marker-end="url(#symgrad-arrowhead)"/>'
    )


def _box(x: float, y: float, width: float, title: str, subtitle: str) -> Iterator[str]:
    yield (
        f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{_BOX_H}" rx="8" '
        f'fill="#f6f8fa" stroke="{_INK}" stroke-width="1.4"/>'
    )
    middle = x + width / 2
    yield _text(middle, y + 24, escape_xml(title), weight="bold")
    yield _text(middle, y + 43, escape_xml(subtitle), colour="#57606a")


def _horizontal(x1: float, x2: float, cy: float, quantity: Quantity, *, shapes: bool) -> Iterator[str]:
    yield _arrow(x1, cy, x2 - 2, cy)
    middle = (x1 + x2) / 2
    yield _text(middle, cy - 8, _edge_text(quantity, backward=False, shapes=shapes), colour=FORWARD_COLOUR)
    below = _edge_text(quantity, backward=True, shapes=shapes)
    if below:
        yield _text(middle, cy + 20, below, colour=BACKWARD_COLOUR)


def _edge_text(quantity: Quantity, *, backward: bool, shapes: bool) -> str:
    text = quantity.backward if backward else quantity.forward
    name = _name_svg(quantity.name)
    if backward:
        if not text:
            return ""
        name = f"∂E/∂{name}"
    if not text:
        return name
    shown = text if shapes else text.replace("-", "−")  # a value's minus sign, not a hyphen
    return f"{name}{' : ' if shapes else ' = '}{escape_xml(shown)}"


def _drops(cx: float, box_top: float, names: list[Quantity], layout: _Layout, *, shapes: bool) -> Iterator[str]:
    count = len(names)
    for index, quantity in enumerate(names):
        offset = index - (count - 1) / 2
        top_x, bottom_x = cx + offset * layout.spread, cx + offset * 0.3 * layout.box
        start = box_top - _DROP
        yield _arrow(top_x, start, bottom_x, box_top - 2)
        above = _edge_text(quantity, backward=False, shapes=shapes)
        yield _text(top_x, start - 6 - _LINE, above, colour=FORWARD_COLOUR)
        below = _edge_text(quantity, backward=True, shapes=shapes)
        if below:
            yield _text(top_x, start - 6, below, colour=BACKWARD_COLOUR)


def _box_inputs(network: Network, index: int) -> list[str]:
    if index == len(network.layers):
        return ["t"]
    return [name for name in network.params if network.param(name).layer_index == index]


def _defs() -> str:
    return (
        '<defs><marker id="symgrad-arrowhead" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_INK}"/></marker></defs>'
    )


def _legend(y: float, *, shapes: bool, point: str | None) -> Iterator[str]:
    what = "shape (N is the batch)" if shapes else "forward value"
    if shapes and point is not None:
        what = "shape and norm"
    where = "" if point is None else f" at {point}"
    yield _text(_LEFT, y, f"■ {what}{where}", colour=FORWARD_COLOUR, anchor="start")
    yield _text(_LEFT + 420, y, "■ gradient ∂E/∂· flowing back", colour=BACKWARD_COLOUR, anchor="start")


def graph_svg(
    network: Network, labels: dict[str, Quantity], *, seed: int | None = None, point: str | None = None
) -> str:
    """The computational graph as an ``<svg>`` element (a string), deterministic.

    The legend names the point of the values: ``point`` (a phrase such as "the given point"),
    else the point drawn with ``seed``.

    Examples
    --------
    >>> import symgrad
    >>> net = symgrad.article_network()
    >>> svg = graph_svg(net, quantities(net, {}, None))
    >>> svg.startswith("<svg") and "<script" not in svg
    True
    """
    shapes = network.batched
    layout = _layout(network, labels)
    boxes = len(network.layers) + 1
    width = round(2 * _LEFT + (boxes + 1) * layout.gap + boxes * layout.box)
    box_top = _TOP + 2 * _LINE + 6 + _DROP
    cy = box_top + _BOX_H / 2
    height = box_top + _BOX_H + 2 * _LINE + 40
    parts = [_defs()]
    x = _LEFT + layout.gap
    parts += _horizontal(_LEFT, x, cy, labels["x"], shapes=shapes)
    for index in range(boxes):
        is_loss = index == len(network.layers)
        layer = network.loss if is_loss else network.layers[index]
        parts += _box(x, box_top, layout.box, layer.kind, "loss E" if is_loss else f"layer {index + 1}")
        inputs = [labels[name] for name in _box_inputs(network, index)]
        parts += _drops(x + layout.box / 2, box_top, inputs, layout, shapes=shapes)
        out = "E" if is_loss else network.nodes[index]
        parts += _horizontal(x + layout.box, x + layout.box + layout.gap, cy, labels[out], shapes=shapes)
        x += layout.box + layout.gap
    if point is None and seed is not None:
        point = f"the point drawn with seed {seed}"
    parts += _legend(height - 14, shapes=shapes, point=point)
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="symgrad-graph" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13" '
        f'role="img" aria-label="Computational graph of the network">{body}</svg>'
    )


def graph_table(network: Network, labels: dict[str, Quantity]) -> Table:
    """The figure's numbers as a table, for formats that cannot show SVG.

    Examples
    --------
    >>> import symgrad
    >>> net = symgrad.article_network()
    >>> len(graph_table(net, quantities(net, {}, None)).rows)  # x, t, four parameters, h, y, E
    9
    """
    shapes = network.batched
    header: tuple[Line, ...] = (
        (Text("Quantity"),),
        (Text(("Shape, norm" if _with_norms(labels) else "Shape") if shapes else "Forward value"),),
        (Text("Gradient "), Math(r"\partial E / \partial \cdot")),
    )
    rows = []
    for name in [*network.names, *network.nodes, "E"]:
        q = labels[name]
        rows.append(((Math(name_latex(name)),), (Text(q.forward, "num"),), (Text(q.backward, "num"),)))
    return Table(header, tuple(rows), numeric=(False, True, True))
