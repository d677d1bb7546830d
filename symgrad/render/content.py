"""What a derivation document says, independent of its format.

For a network: the network and its forward equations, the loss, the
computational graph, then for each parameter the chain rule with the named
upstream gradients, every step (with the elementary steps of each local
derivative nested under it), the result collected and in the inputs; then the
three-way check and the cost of finite differences. For a plain expression:
the function and each partial derivative with its elementary steps.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import Any

import sympy as sp

from symgrad.check import CheckReport, check
from symgrad.derive import Derivation, Step
from symgrad.errors import UnknownNameError
from symgrad.graph.network import GraphNetwork, describe_node
from symgrad.network import Network
from symgrad.render.checkcontent import check_blocks, cost_blocks, point_phrase, report_document, summary_line
from symgrad.render.document import (
    Block,
    Bullets,
    Document,
    Equation,
    Equations,
    Figure,
    Heading,
    Line,
    Mark,
    Math,
    Paragraph,
    Table,
    Text,
)
from symgrad.render.graph import graph_svg, graph_table, quantities
from symgrad.render.numbers import value_latex
from symgrad.render.options import Options
from symgrad.render.printer import latex_of, name_latex, shape_latex
from symgrad.render.text import expr_text, kink_note
from symgrad.render.values import PointValues, point_values

__all__ = ["build_document", "resolve_report", "with_values"]

_CHECKED_BY_DEFAULT = ("latex", "html", "markdown")


def resolve_report(obj: Derivation | CheckReport, options: Options, fmt: str) -> CheckReport | None:
    """The check report a document shows: given, computed, or none.

    Examples
    --------
    >>> import symgrad
    >>> from symgrad.render.options import Options
    >>> d = symgrad.derive(symgrad.article_network())
    >>> resolve_report(d, Options(), "html").seed, resolve_report(d, Options(), "json")
    (0, None)
    """
    if isinstance(obj, CheckReport):
        return obj
    network = obj.network
    if options.report is not None:
        _require_matching(obj, options.report)
        return options.report
    if options.values is not None:
        if options.check is False:
            msg = "values= is the point of the check, so it cannot go with check=False"
            raise UnknownNameError(msg)
        if network is None:
            msg = "values= needs the derivation of a network (symgrad.derive); an expression's gradient has no point"
            raise UnknownNameError(msg)
        return check(obj, options.values, seed=options.seed)
    wanted = options.check if options.check is not None else network is not None and fmt in _CHECKED_BY_DEFAULT
    if not wanted:
        return None
    if network is None:
        msg = "check=True needs the derivation of a network (symgrad.derive); an expression's gradient has no check"
        raise UnknownNameError(msg)
    return check(obj, seed=options.seed)


def _require_matching(derivation: Derivation, report: CheckReport) -> None:
    network = derivation.network
    if network is None or any(name not in report.values for name in network.names):
        msg = f"report= is a check of {report.title!r}, not of this derivation ({derivation.title!r})"
        raise UnknownNameError(msg)


def build_document(obj: Derivation | CheckReport, report: CheckReport | None, view: str = "sweep") -> Document:
    """The document for a Derivation (with its report, if any) or a CheckReport.

    Examples
    --------
    >>> import symgrad
    >>> document = build_document(symgrad.gradient("3*x + 4*y"), None)
    >>> document.title, [block.anchor for block in document.blocks if hasattr(block, "anchor")]
    ('f = 3·x + 4·y', ['function', 'gradient-x', 'gradient-y'])
    """
    if isinstance(obj, CheckReport):
        return report_document(obj)
    if obj.network is None:
        return _expression_document(obj)
    return _network_document(obj, report, view)


# -- equations --------------------------------------------------------------------


def _caption(step: Step, depth: int) -> Line:
    if depth > 0:
        return (Text("The outer derivative, in a fresh variable:"),)
    target = step.substeps[-1].lhs
    if step.substeps[-1].rule == "matrix form":  # the index-level derivation of a matrix rule
        return (Text("Entry by entry: "), Math(latex_of(target)), Text(", and why the matrix form follows."))
    return (Text("Step by step: "), Math(latex_of(target)), Text(", one elementary rule at a time."))


def equation(step: Step, *, shape: Any = None, depth: int = 0) -> Equation:
    """A Step as a row of an equation table, its substeps nested under it.

    Examples
    --------
    >>> import sympy as sp
    >>> from symgrad.derive.elementary import elementary_steps
    >>> x = sp.Symbol("x")
    >>> row = equation(elementary_steps(3 * x, x)[0])
    >>> print(row.lhs, "=", row.rhs)
    \\frac{\\partial}{\\partial x} \\left(3 x\\right) = 3 \\frac{\\partial}{\\partial x} x
    >>> row.rule, row.ok
    ('constant multiple rule', True)
    """
    detail = None
    if step.substeps:
        rows = tuple(equation(sub, depth=depth + 1) for sub in step.substeps)
        detail = Equations(rows, _caption(step, depth))
    shape_tex = shape_latex(shape) if shape is not None else ""
    return Equation(latex_of(step.lhs), latex_of(step.rhs), step.rule, step.verified, step.proof, shape_tex, detail)


def _count(step: Step) -> int:
    return 1 + sum(_count(sub) for sub in step.substeps)


def _verified_line(derivation: Derivation, view: str = "chains") -> Line:
    steps = [step for name in derivation.wrt for step in derivation.steps(name)]
    if view == "sweep":  # the steps the document shows: each gradient once, then each collected
        from symgrad.render.sweep import sweep_steps

        steps = [*sweep_steps(derivation), *(step for step in steps if step.rule.startswith("substitute the "))]
    total = sum(_count(step) for step in steps)
    if derivation.verified:
        return (Mark(True), Text(f" All {total} steps are proven against sympy.diff."))
    failed = sum(1 for step in steps if not step.verified)
    plural = "step" if failed == 1 else "steps"
    return (Mark(False), Text(f" {failed} {plural} could not be proven against sympy.diff."))


# -- a network --------------------------------------------------------------------


def _grad_tex(name: str) -> str:
    return rf"\frac{{\partial E}}{{\partial {name_latex(name)}}}"


def _shape(d: Derivation, step: Step) -> Any:
    return d.shapes.get(str(step.lhs)) if d.batched else None


def with_values(rows: list[Equation] | tuple[Equation, ...], steps: tuple[Step, ...],
                values: PointValues | None) -> tuple[Equation, ...]:
    """``rows`` with each step's value at the point, on the first row of each quantity."""
    if values is None:
        return tuple(rows)
    out = list(rows)
    offset = len(rows) - len(steps)  # a leading chain-rule row has no step
    previous = ""
    for index, step in enumerate(steps):
        name = str(step.lhs)
        quantity = values.gradient.get(name.removeprefix("dE/d")) if name.startswith("dE/d") else None
        if quantity is None and not name.startswith("dE/d"):
            quantity = values.forward.get(name)
        if quantity is not None and name != previous:
            out[index + offset] = replace(out[index + offset], value=value_latex(quantity))
        previous = name
    return tuple(out)


def _network_blocks(d: Derivation, values: PointValues | None = None, *, numbered: bool = False) -> tuple[Block, ...]:
    network = d.network
    assert network is not None
    shapes = d.batched
    graph = hasattr(network, "root")
    lead = "A graph network, one equation per value: " if graph else "Layers, then the loss: "
    intro: Line = (Text(lead), Text(network.describe(), "code"), Text("."))
    if shapes and graph:
        intro += (Text(" Batched: "), Math("N"), Text(" is the batch size."))
    elif shapes:
        intro += (Text(" Batched: each row of "), Math("x"), Text(" is one example and "), Math("N"))
        intro += (Text(" is the batch size."),)
    # Forward equations are definitions, not claims: no verified mark.
    rows = [replace(equation(step, shape=_shape(d, step)), ok=None) for step in d.forward[:-1]]
    rows_valued = with_values(rows, d.forward[:-1], values)
    loss = d.forward[-1]
    loss_row = Equation("E", latex_of(loss.rhs), loss.rule, None, shape=shape_latex(()) if shapes else "")
    if values is not None:
        loss_row = replace(loss_row, value=value_latex(values.forward["E"]))
    if numbered:  # the sweep view refers to the forward equations by number
        from symgrad.render.sweep import numbered_forward

        rows_valued, loss_row = numbered_forward(rows_valued, loss_row)
    shape_table = (_shape_table(d, network),) if shapes else ()
    symbols = notation(d)
    shape_note = _shape_note(d, network)
    return (
        Heading(2, (Text("The network"),), "network"),
        Paragraph(intro),
        *shape_table,
        *((shape_note,) if shape_note is not None else ()),
        Equations(rows_valued, (Text("The forward pass:"),), shapes),
        *((Paragraph((Text("Notation:"),)), symbols) if symbols is not None else ()),
        Heading(2, (Text("The loss"),), "loss"),
        Equations((loss_row,), (), shapes),
    )


def _all_latex(d: Derivation) -> str:
    """Every formula of the derivation's steps (substeps too), joined: to see which symbols it uses."""
    parts: list[str] = []

    def walk(step: Step) -> None:
        parts.extend((latex_of(step.lhs), latex_of(step.rhs)))
        for sub in step.substeps:
            walk(sub)

    for step in d.forward:
        walk(step)
    for name in d.wrt:
        for step in d.steps(name):
            walk(step)
    return " ".join(parts)


def _kink_text(kink: Any) -> str:
    return {0: "0", 1: "1"}.get(kink, "1/2") if kink in (0, 1) or kink == sp.Rational(1, 2) else str(kink)


def notation(d: Derivation) -> Bullets | None:
    r"""What each function symbol and operator the document uses means, or None when it uses none.

    Examples
    --------
    >>> import symgrad
    >>> d = symgrad.derive(symgrad.network_from_spec("affine(2,3) > relu > affine(3,1) > half-squared-error"))
    >>> [item[0].tex.split("=")[0].strip() for item in notation(d).items][:2]
    ['\\operatorname{relu}\\left(z\\right)', "\\operatorname{relu}'\\left(z\\right)"]
    """
    tex = _all_latex(d)
    items: list[Line] = []
    if r"\sigma" in tex:
        items.append((Math(r"\sigma\left(z\right) = \frac{1}{1 + e^{-z}}"), Text(": the sigmoid function.")))
    if r"\operatorname{relu}\left" in tex:
        items.append((Math(r"\operatorname{relu}\left(z\right) = \max\left(z, 0\right)"),
                      Text(": the rectified linear unit.")))
    if r"\operatorname{relu}'" in tex:
        items.append((Math(r"\operatorname{relu}'\left(z\right)"),
                      Text(f": its derivative, 1 where z > 0 and 0 where z < 0; at the kink z = 0 this document "
                           f"takes {_kink_text(getattr(d, 'kink', 0))}.")))
    if r"\operatorname{softmax}" in tex:
        items.append((Math(r"\operatorname{softmax}\left(y\right)_{ij} = \frac{e^{y_{ij}}}{\sum_{k} e^{y_{ik}}}"),
                      Text(": softmax of each row.")))
    if r"\circ" in tex:
        items.append((Math(r"A \circ B"), Text(": the entrywise (Hadamard) product.")))
    if r"\mathbf{1}" in tex:
        items.append((Math(r"\mathbf{1}_{N}"), Text(": a column of N ones (it copies a bias to every row).")))
    if r"\left[" in tex and d.batched:
        items.append((Math(r"\left[f\left(A\right)\right]"), Text(": f applied to each entry of A.")))
    return Bullets(tuple(items)) if items else None


def _shape_note(d: Derivation, network: Network) -> Paragraph | None:
    """Where the shapes cannot tell a student that a transpose is missing."""
    if not network.batched:
        return Paragraph((Text(
            "Every quantity here is a scalar, so the shapes cannot reveal a mistake such as a missing transpose "
            "(a 1×1 case passes either way); a network with layers of different widths can."
        ),))
    square = [name for name in network.params if len(d.shapes.get(name, ())) == 2
              and d.shapes[name][0] == d.shapes[name][1]]
    if not square:
        return None
    line: Line = (Text("Square weights ("),)
    for index, name in enumerate(square):
        line += ((Text(", ") if index else Text("")), Math(name_latex(name)))
    line += (Text(") keep their shape when transposed, so for them the shapes cannot reveal a missing transpose; "
                  "the values can."),)
    return Paragraph(line)


def _shape_table(d: Derivation, network: Network) -> Table:
    """Every quantity of a batched network with its shape and what it is."""
    what = {"x": "the input, one example per row", "t": "the target"}
    if isinstance(network, GraphNetwork):  # a graph network: each input, parameter and value by what computes it
        what = {name: "a loss's target" if name in network.targets else "an input" for name in network.input_shapes}
    for name in network.params:
        info = network.param(name)
        what[name] = f"{layer_name(network, info.layer_index)}'s {info.role}"
    if isinstance(network, GraphNetwork):
        for value in network.order:
            if value.args and value is not network.root:
                what[network.name_of(value)] = describe_node(network, value)
    else:
        for index, node in enumerate(network.nodes):
            what[node] = f"the output of {layer_name(network, index)}"
    rows = tuple(
        ((Math(name_latex(name)),), (Math(shape_latex(d.shapes[name])),), (Text(text),))
        for name, text in what.items()
        if name in d.shapes
    )
    header: tuple[Line, ...] = ((Text("Quantity"),), (Text("Shape"),), (Text("What it is"),))
    return Table(header, rows, (Text("Shapes, "), Math("N"), Text(" being the batch size:")))


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def layer_name(network: Network, index: int) -> str:
    """A layer as a reader names it: "the affine layer", or "the second affine layer" when there are several.

    Examples
    --------
    >>> import symgrad
    >>> net = symgrad.network_from_spec("affine(3,4) > sigmoid > affine(4,1) > half-squared-error")
    >>> layer_name(net, 0), layer_name(net, 1), layer_name(net, 2)
    ('the first affine layer', 'the sigmoid layer', 'the second affine layer')
    """
    kind = network.layers[index].kind
    same = [i for i, layer in enumerate(network.layers) if layer.kind == kind]
    if len(same) == 1:
        return f"the {kind} layer"
    position = same.index(index)
    ordinal = _ORDINALS[position] if position < len(_ORDINALS) else f"{position + 1}th"
    return f"the {ordinal} {kind} layer"


def _figure(d: Derivation, report: CheckReport | None) -> tuple[Block, ...]:
    network = d.network
    assert network is not None
    if hasattr(network, "root"):  # the figure draws a chain; a graph's structure is in its equations
        return ()
    values = point_values(network, report) if report is not None else None
    labels = quantities(network, dict(d.shapes), values)
    point = point_phrase(report) if report is not None else None
    if network.batched and values is not None:
        text = (f"Above each arrow the shape of a quantity and its norm at {point}, below them its gradient's "
                "(N is the batch; the norm is the square root of the sum of the squared entries; E by its value).")
        caption: Line = (Text(text),)
    elif network.batched:
        text = "Above each arrow the shape of a quantity, below it the shape of its gradient (N is the batch)."
        caption = (Text(text),)
    elif values is not None:
        text = f"Forward values above each arrow, gradients flowing back below it, at {point}."
        caption = (Text(text),)
    else:
        caption = (Text("Forward quantities above each arrow, their gradients below."),)
    svg = graph_svg(network, labels, point=point)
    if network.batched and values is not None:
        table_text = (f"Each quantity of the computational graph, its shape and norm and its gradient's, at {point} "
                      "(N is the batch):")
    elif network.batched:
        table_text = "Each quantity of the computational graph, its shape and its gradient's shape (N is the batch):"
    elif values is not None:
        table_text = f"Each quantity of the computational graph, its value and its gradient at {point}:"
    else:
        table_text = "Each quantity of the computational graph:"
    figure = Figure(svg, caption, graph_table(network, labels), (Text(table_text),))
    return (Heading(2, (Text("Computational graph"),), "graph"), figure)


def _upstream(step: Step) -> list[str]:
    found = {str(s) for s in step.rhs.atoms(sp.Symbol, sp.MatrixSymbol) if str(s).startswith("dE/d")}
    return [name.removeprefix("dE/d") for name in sorted(found)]


def _chain(path: tuple[Step, ...], name: str) -> list[str]:
    """The quantities the gradient flows through, loss side first, ending at ``name``.

    The path may also show side steps (a passed layer's own parameters); the
    chain follows only the upstream gradients that ``name``'s step uses.
    """
    by_name = {str(step.lhs).removeprefix("dE/d"): step for step in path}
    chain = [name]
    upstream = _upstream(by_name[name])
    while upstream and upstream[0] in by_name and upstream[0] not in chain:
        chain.insert(0, upstream[0])
        upstream = _upstream(by_name[upstream[0]])
    return chain


def _chain_row(chain: list[str]) -> Equation:
    """∂E/∂w1 = ∂E/∂y ∂y/∂h ∂h/∂w1, from the names along the chain."""
    factors = [_grad_tex(chain[0])]
    factors += [rf"\frac{{\partial {name_latex(a)}}}{{\partial {name_latex(b)}}}" for a, b in pairwise(chain)]
    return Equation(_grad_tex(chain[-1]), " ".join(factors), "chain rule", None)


def _gradient_blocks(d: Derivation, name: str, values: PointValues | None = None) -> tuple[Block, ...]:
    steps = d.steps(name)
    chain = _chain(tuple(s for s in steps if not s.rule.startswith("substitute the ")), name)
    flow: Line = (Text("The gradient flows back from "), Math("E"), Text(" through "))
    for index, node in enumerate(chain[:-1]):
        flow += ((Text(", ") if index else Text("")), Math(name_latex(node)))
    flow += (Text(": at each layer, the upstream gradient times the layer's local derivative."),)
    forks = any(step.rule.startswith("sum over") for step in steps)
    if forks:
        flow += (Text(" Where a value feeds several consumers, the contributions of its paths add."),)
    rows = [equation(step, shape=step.shape if d.batched else None) for step in steps]
    if not d.batched and len(chain) > 1 and not forks:
        rows.insert(0, _chain_row(chain))
    heading = Heading(2, (Text("The gradient with respect to "), Math(name_latex(name))), f"gradient-{name}")
    return (heading, Paragraph(flow), Equations(with_values(rows, steps, values), (), d.batched))


def _network_document(d: Derivation, report: CheckReport | None, view: str = "sweep") -> Document:
    lead = _verified_line(d, view)
    if report is not None:
        lead += (Text(" "), *summary_line(report))
    values = point_values(d.network, report) if report is not None and d.network is not None else None
    blocks: list[Block] = [*_network_blocks(d, values, numbered=view == "sweep"), *_figure(d, report)]
    if view == "sweep":  # one backward sweep, each gradient once (symgrad.render.sweep)
        from symgrad.render.sweep import sweep_blocks

        blocks += sweep_blocks(d, values)
    else:
        for name in d.wrt:
            blocks += _gradient_blocks(d, name, values)
    if report is not None:
        blocks += [*check_blocks(report), *cost_blocks(report)]
    return Document(d.title, lead, tuple(blocks))


# -- a plain expression ---------------------------------------------------------------


def _expression_document(d: Derivation) -> Document:
    function = d.forward[0]
    blocks: list[Block] = [
        Heading(2, (Text("The function"),), "function"),
        Equations((Equation(latex_of(function.lhs), latex_of(function.rhs), function.rule, None),)),
    ]
    symbols = notation(d)
    if symbols is not None:
        blocks += [Paragraph((Text("Notation:"),)), symbols]
    f = name_latex(str(function.lhs))
    for name in d.wrt:
        var = sp.Symbol(name)
        heading: Line = (Text("The partial derivative with respect to "), Math(latex_of(var)))
        blocks.append(Heading(2, heading, f"gradient-{name}"))
        rows = tuple(equation(step) for step in d.steps(name))
        caption: Line = (Text("Each elementary rule is proven against sympy.diff of "), Math(f), Text("."))
        blocks.append(Equations(rows, caption))
        blocks += [Paragraph((Text("Note: "), Text(kink_note(step)))) for step in d.steps(name) if kink_note(step)]
        blocks += [Paragraph((Text(sub.note),)) for step in d.steps(name) for sub in step.substeps
                   if sub.rule.startswith(VECTORISED)]  # an N-D layer's scatter-add / einsum, in words
    title = _expression_title(function)
    if getattr(d, "layer", None) is not None:  # one N-D layer (symgrad.derive.tensorlayer): its name first
        title = f"{d.title}: {title}"
    return Document(title, _verified_line(d), tuple(blocks))


#: The rules of an N-D layer's vectorised steps and its textbook form (convolution's), whose notes say them in words.
VECTORISED = ("scatter-add", "einsum", "closed form")


def _expression_title(function: Step) -> str:
    """``f = max(0, x)``, ``f = x^y``: the function in maths notation, in the canonical order.

    Examples
    --------
    >>> import symgrad
    >>> _expression_title(symgrad.gradient("Max(0, x) + x**y*3").forward[0])
    'f = 3·x^y + max(0, x)'
    """
    text = expr_text(function.rhs).replace("**", "^").replace("*", "·")
    return f"{expr_text(function.lhs)} = {text}"
