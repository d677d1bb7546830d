"""Network: names, shapes, and the errors of a badly built network."""

from __future__ import annotations

import pytest

import symgrad
from symgrad import (
    Affine,
    HalfSquaredError,
    MeanSquaredError,
    Network,
    ReLU,
    ShapeError,
    Sigmoid,
    SoftmaxCrossEntropy,
    SpecError,
    Tanh,
    UnknownNameError,
)


def test_article_network_names_match_the_article():
    net = symgrad.article_network()
    assert net.params == ("w1", "b1", "w2", "b2")
    assert net.nodes == ("h", "y")
    assert net.names == ("x", "t", "w1", "b1", "w2", "b2")
    assert net.batched is False
    assert net.describe() == "affine > affine > half-squared-error"


def test_batched_affine_parameter_shapes():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    assert net.params == ("W1", "b1", "W2", "b2")
    assert net.param("W1").shape == (3, 4)
    assert net.param("b1").shape == (4,)
    assert net.param("W2").shape == (4, 2)
    assert net.param("b2").shape == (2,)
    assert (net.input_features, net.output_features) == (3, 2)
    assert net.nodes == ("h1", "h2", "y")
    assert net.param("W2").layer_index == 2
    assert net.describe() == "affine(3, 4) > sigmoid > affine(4, 2) > half-squared-error"


def test_activations_do_not_consume_parameter_numbers():
    net = Network([Affine(2, 3), ReLU(), Affine(3, 3), Tanh(), Affine(3, 1)], loss=MeanSquaredError())
    assert net.params == ("W1", "b1", "W2", "b2", "W3", "b3")


def test_named_layers_name_their_parameters():
    net = Network([Affine(2, 3, name="enc"), ReLU(), Affine(3, 1, name="dec")], loss=MeanSquaredError())
    assert net.params == ("Wenc", "benc", "Wdec", "bdec")


def test_shape_mismatch_names_layer_and_both_sizes():
    with pytest.raises(ShapeError) as info:
        Network([Affine(3, 4), Affine(5, 1)], loss=HalfSquaredError())
    message = str(info.value)
    assert "layer 2" in message
    assert "5" in message
    assert "4" in message


def test_shape_mismatch_after_an_activation_counts_the_activation():
    with pytest.raises(ShapeError, match="layer 3"):
        Network([Affine(3, 4), Sigmoid(), Affine(2, 1)], loss=HalfSquaredError())


def test_mixing_scalar_and_batched_affine_is_a_shape_error():
    with pytest.raises(ShapeError, match="mixes scalar"):
        Network([Affine(3, 4), Affine()], loss=HalfSquaredError())


def test_loss_inside_layer_list_is_a_spec_error():
    with pytest.raises(SpecError, match="layer 2 is a loss"):
        Network([Affine(3, 4), HalfSquaredError()], loss=HalfSquaredError())


@pytest.mark.parametrize("loss", [None, HalfSquaredError, Sigmoid(), "half-squared-error"])
def test_loss_must_be_a_symgrad_loss(loss):
    with pytest.raises(SpecError, match="loss must be"):
        Network([Affine(3, 4)], loss=loss)


@pytest.mark.parametrize("layers", [[], Affine(3, 4), "affine(3, 4)", [Affine(3, 4), "sigmoid"]])
def test_layers_must_be_a_nonempty_list_of_layers(layers):
    with pytest.raises(SpecError):
        Network(layers, loss=HalfSquaredError())


def test_duplicate_layer_names_are_refused():
    with pytest.raises(UnknownNameError, match="two layers are named 'a'"):
        Network([Affine(3, 4, name="a"), Sigmoid(), Affine(4, 1, name="a")], loss=HalfSquaredError())


def test_a_name_that_repeats_an_automatic_number_is_refused():
    with pytest.raises(UnknownNameError, match="ambiguous"):
        Network([Affine(3, 4), Sigmoid(), Affine(4, 1, name="1")], loss=HalfSquaredError())


def test_softmax_cross_entropy_on_scalar_network_is_a_shape_error():
    with pytest.raises(ShapeError, match="scalar"):
        Network([Affine(), Affine()], loss=SoftmaxCrossEntropy())


def test_softmax_cross_entropy_on_one_output_is_a_shape_error():
    with pytest.raises(ShapeError, match="at least 2 outputs"):
        Network([Affine(3, 1)], loss=SoftmaxCrossEntropy())


@pytest.mark.parametrize("name", ["a b", "<script>", "", "x" * 33, "a-b", "é", 1, 3.5])
def test_bad_layer_names_are_refused(name):
    with pytest.raises(UnknownNameError, match="not allowed"):
        Sigmoid(name=name)
    with pytest.raises(UnknownNameError, match="not allowed"):
        Affine(3, 4, name=name)


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 3), "in_features"), ((2, -1), "out_features"), ((2.0, 3), "in_features"), ((True, 3), "in_features"),
     ((2, None), "both")],
)
def test_affine_sizes_must_be_positive_integers(args, match):
    with pytest.raises(ShapeError, match=match):
        Affine(*args)


def test_unknown_parameter_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="w1, b1, w2, b2"):
        symgrad.article_network().param("w3")


def test_repr_and_layer_repr():
    net = Network([Affine(3, 4, name="enc"), Sigmoid()], loss=HalfSquaredError())
    assert repr(net) == "Network('affine(3, 4) > sigmoid > half-squared-error')"
    assert repr(net.layers[0]) == "Affine(3, 4, name='enc')"
    assert repr(Affine()) == "Affine()"


def test_network_input_nodes():
    net = Network([Affine(3, 4), Sigmoid(), Affine(4, 2)], loss=HalfSquaredError())
    assert [net.input_node(i) for i in range(3)] == ["x", "h1", "h2"]
