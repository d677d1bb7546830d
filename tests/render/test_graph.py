"""The computational-graph figure (symgrad/render/graph.py and values.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

import symgrad
from symgrad.render.graph import BACKWARD_COLOUR, FORWARD_COLOUR, graph_svg, graph_table, quantities
from symgrad.render.numbers import format_number
from symgrad.render.values import point_values

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str, colour: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text") if el.get("fill") == colour]


def _article_svg(article, report):
    network = article.network
    labels = quantities(network, dict(article.shapes), point_values(network, report))
    return graph_svg(network, labels, seed=report.seed)


def test_forward_values_match_the_network_computed_by_hand(article, article_report):
    v = {name: float(value) for name, value in article_report.values.items()}
    h = v["w1"] * v["x"] + v["b1"]
    y = v["w2"] * h + v["b2"]
    loss = (y - v["t"]) ** 2 / 2
    forward = _texts(_article_svg(article, article_report), FORWARD_COLOUR)
    for name, value in {"x": v["x"], "w1": v["w1"], "h": h, "y": y, "E": loss}.items():
        assert f"{name} = {format_number(value, 4).replace('-', '−')}" in forward  # a true minus sign


def test_backward_gradients_match_the_chain_rule_by_hand(article, article_report):
    v = {name: float(value) for name, value in article_report.values.items()}
    h = v["w1"] * v["x"] + v["b1"]
    dy = v["w2"] * h + v["b2"] - v["t"]
    dh = dy * v["w2"]
    backward = _texts(_article_svg(article, article_report), BACKWARD_COLOUR)
    expected = {"y": dy, "h": dh, "w2": dy * h, "w1": dh * v["x"], "x": dh * v["w1"], "E": 1.0}
    for name, value in expected.items():
        assert f"∂E/∂{name} = {format_number(value, 4).replace('-', '−')}" in backward
    assert not any(text.startswith("∂E/∂t") for text in backward)  # t is not differentiated


def test_parameter_gradients_come_from_the_report(article, article_report):
    values = point_values(article.network, article_report)
    for row in article_report.rows:
        np.testing.assert_array_equal(values.gradient[row.name], row.symbolic)


def test_batched_graph_shows_shapes_not_values(batched):
    network = batched.network
    svg = graph_svg(network, quantities(network, dict(batched.shapes), None))
    forward = _texts(svg, FORWARD_COLOUR)
    assert "x : N×3" in forward
    assert "W1 : 3×4" in forward
    assert "h2 : N×4" in forward
    assert "E : scalar" in forward
    assert not any(" = " in text for text in forward)


def test_graph_draws_one_box_per_layer_and_the_loss(batched):
    network = batched.network
    root = ET.fromstring(graph_svg(network, quantities(network, dict(batched.shapes), None)))
    assert len(root.findall(f"{SVG}rect")) == len(network.layers) + 1
    titles = [el.text for el in root.iter(f"{SVG}text") if el.get("font-weight") == "bold"]
    assert titles == ["affine", "sigmoid", "affine", "half-squared-error"]


def test_graph_is_deterministic():
    network = symgrad.article_network()
    report = symgrad.check(network)
    labels = quantities(network, {}, point_values(network, report))
    assert graph_svg(network, labels, seed=0) == graph_svg(network, labels, seed=0)


def test_fallback_table_lists_every_quantity(article, article_report):
    network = article.network
    table = graph_table(network, quantities(network, {}, point_values(network, article_report)))
    assert len(table.rows) == len(network.names) + len(network.nodes) + 1
