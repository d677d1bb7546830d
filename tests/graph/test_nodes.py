"""Graph nodes and Network(E): names, shapes, order, and clear errors for bad graphs."""

from __future__ import annotations

import pytest

import symgrad
from symgrad import (
    Affine,
    HalfSquaredError,
    Input,
    Network,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    SpecError,
    Tanh,
    UnknownNameError,
)
from symgrad.graph import Op
from symgrad.graph.network import GraphNetwork


def test_network_of_a_node_is_a_graph_network_and_the_chain_is_unchanged() -> None:
    x, t = Input("x", 3), Input("t", 2)
    net = Network(HalfSquaredError()(Affine(3, 2)(x), t))
    assert isinstance(net, GraphNetwork)
    assert isinstance(net, Network)
    assert type(symgrad.article_network()) is Network
    assert net.names == ("x", "t", "W1", "b1")
    assert net.describe() == "h1 = affine(x); E = half-squared-error(h1, t)"
    assert Network(layers=net.root, title="by keyword").names == net.names


def test_names_and_order_are_deterministic() -> None:
    def build() -> Network:
        x, t = Input("x", 2), Input("t", 2)
        a, b = Affine(2, 2), Affine(2, 2, name="skip")
        return Network(HalfSquaredError()(Tanh()(a(x)) + b(x) - 0.5 * x, t))

    first, second = build(), build()
    assert first.describe() == second.describe()
    assert first.names == ("x", "t", "W1", "b1", "Wskip", "bskip")
    assert str(symgrad.derive(first).program) == str(symgrad.derive(second).program)


def test_a_shared_layer_has_one_set_of_parameters() -> None:
    x, t = Input("x", 3), Input("t", 3)
    shared = Affine(3, 3)
    net = Network(HalfSquaredError()(shared(shared(x)), t))
    assert net.params == ("W1", "b1")
    assert net.consumers()["W1"] == ["h1", "h2"]


def test_numbers_combine_with_nodes() -> None:
    x = Input("x", 2)
    assert [op.kind for op in (2 * x, x * 2, x + 1, 1 - x, x / 4, -x)] == [
        "scale", "scale", "shift", "shift", "scale", "scale"]
    assert (1 - x).const == 1
    assert (1 - x).args[0].const == -1


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: Network(Affine(3, 2)(Input("x", 3))), ShapeError, "needs a scalar node E"),
        (lambda: Input("x", 3) + Input("y", 2), ShapeError, "same shape; got (N, 3) and (N, 2)"),
        (lambda: Input("x", 3) @ Input("y", 3), ShapeError, "@ needs matrices"),
        (lambda: Affine(4, 2)(Input("x", 3)), ShapeError, "expects 4 input features, but its input has 3"),
        (lambda: Affine(3, 2)(Input("x")), ShapeError, "is batched, but its input is a scalar node"),
        (lambda: symgrad.concat(Input("a"), Input("b")), ShapeError, "a scalar network has nothing to concatenate"),
        (lambda: symgrad.concat(Input("a", 2)), ShapeError, "at least two"),
        (lambda: Input("x", 2) + "1", SpecError, "nodes with nodes or finite numbers"),
        (lambda: Input("x", 2) * float("nan"), SpecError, "finite numbers"),
        (lambda: Input("x", 2) / 0, SpecError, "nonzero number"),
        (lambda: Input("x", 0), ShapeError, "positive integer"),
        (lambda: Input("1x"), UnknownNameError, "input name '1x' is not allowed"),
        (lambda: Affine(3, 2).param("V"), UnknownNameError, "has no parameter 'V'; its parameters: W, b"),
        (lambda: Sigmoid()(Input("x", 2), Input("y", 2)), SpecError, "a layer takes one node"),
        (lambda: HalfSquaredError()(Input("x", 2)), SpecError, "a loss takes two nodes"),
        (lambda: Sigmoid()(3.0), SpecError, "is called on graph nodes"),
        (lambda: HalfSquaredError()(Input("x", 2), 2 * Input("t", 2)), SpecError, "must be an Input node"),
        (lambda: SoftmaxCrossEntropy()(Input("x", 1), Input("t", 1)), ShapeError, "at least 2 outputs"),
        (lambda: Network(HalfSquaredError()(Input("x", 2), Input("t", 2)), loss=HalfSquaredError()), SpecError,
         "takes no loss"),
    ],
)
def test_bad_graphs_are_refused_with_clear_messages(build, error, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as info:
        build()
    assert words in str(info.value)


def test_two_inputs_of_one_name_must_agree() -> None:
    loss = HalfSquaredError()(Input("x", 2) + Input("x", 2), Input("t", 2))
    assert Network(loss).names == ("x", "t")  # one name, one input
    x3 = symgrad.total(Input("x", 3))
    with pytest.raises(ShapeError, match="two inputs are named 'x' with different shapes"):
        Network(symgrad.total(Input("x", 2)) + x3)


def test_a_parameter_of_a_layer_the_graph_never_applies_is_from_another_graph() -> None:
    x, t = Input("x", 2), Input("t", 2)
    other = Affine(2, 2)
    with pytest.raises(UnknownNameError, match="a node from another graph"):
        Network(HalfSquaredError()(Affine(2, 2)(x), t) + symgrad.sum_squares(other.param("W")))


def test_a_cycle_is_refused() -> None:
    x = Input("x", 2)
    a = x + x
    b = a + x
    object.__setattr__(a, "operands", (b, x))  # immutable nodes cannot form a cycle unless forced
    with pytest.raises(SpecError, match="cycle"):
        Network(symgrad.total(b))


def test_mixed_and_conflicting_graphs_are_refused() -> None:
    with pytest.raises(ShapeError, match="mixes scalar inputs"):
        Network(symgrad.total(Input("a", 2)) + Input("b"))
    x, t = Input("x", 2), Input("t", 2)
    with pytest.raises(UnknownNameError, match="two layers are named 'a'"):
        Network(HalfSquaredError()(Affine(2, 2, name="a")(Affine(2, 2, name="a")(x)), t))
    with pytest.raises(UnknownNameError, match="the name 'h1' is used twice"):
        Network(HalfSquaredError()(Tanh()(Input("h1", 2)), t))
    with pytest.raises(SpecError, match="is a loss's target and is also used elsewhere"):
        Network(HalfSquaredError()(Tanh()(t), t))
    with pytest.raises(SpecError, match="no truth value"):
        bool(x)


def test_unknown_and_target_names_in_wrt() -> None:
    x, t = Input("x", 2), Input("t", 2)
    net = Network(HalfSquaredError()(Affine(2, 2)(x), t))
    with pytest.raises(UnknownNameError, match="'t' \\(a loss's target is data, not differentiated\\)"):
        symgrad.derive(net, wrt=["t"])
    with pytest.raises(UnknownNameError, match="cannot differentiate with respect to 'W9'"):
        symgrad.derive(net, wrt="W9")
    assert symgrad.derive(net, wrt=["b1"]).wrt == ("b1",)


def test_ops_are_plain_immutable_data() -> None:
    x = Input("x", 2)
    node = x + x
    assert isinstance(node, Op)
    assert node.args == (x, x)
    with pytest.raises(AttributeError):
        node.kind = "sub"  # type: ignore[misc]


def test_the_graph_floor_and_its_numpy_backprop_import_no_sympy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, symgrad\n"
        "from symgrad.numeric.graphref import graph_backward\n"
        "x, t = symgrad.Input('x', 2), symgrad.Input('t', 2)\n"
        "layer = symgrad.Affine(2, 2)\n"
        "net = symgrad.Network(symgrad.HalfSquaredError()(x + symgrad.Tanh()(layer(x)), t))\n"
        "values = {'x': np.ones((3, 2)), 't': np.zeros((3, 2)), 'W1': np.eye(2), 'b1': np.ones(2)}\n"
        "graph_backward(net, values, ('W1',))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'mpmath')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
