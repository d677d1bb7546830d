"""The textbook forms of the N-D layers' gradients (symgrad/derive/convform.py): convolution's dW as a
correlation and dx as a full convolution with the flipped kernel, each proven equal to the derived rule;
pooling's steps saying where the gradient goes."""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad
from symgrad.derive import convform
from symgrad.index.rules import derive_rule
from symgrad.layers.conv import AvgPool2d, Conv2d, MaxPool2d

CONVS = [Conv2d(2, 2, 3, stride=2, pad=1), Conv2d(1, 2, 3, pad=1), Conv2d(2, 1, 2, stride=1, pad=0),
         Conv2d(1, 1, 3, stride=2, pad=2)]


@pytest.mark.parametrize("layer", CONVS, ids=repr)
@pytest.mark.parametrize("wrt", ["x", "W"])
def test_conv_document_ends_in_the_proven_textbook_form(layer, wrt):
    step = symgrad.derive(layer).steps(wrt)[0]
    last = step.substeps[-1]
    assert last.rule == "closed form (the textbook's)"
    assert last.verified, last.proof
    assert last.proof.startswith("proven equal entrywise to the derived rule on small shapes")
    assert [s.rule for s in step.substeps[:3]] == ["chain rule, entry by entry", "differentiate each entry",
                                                   "eliminate the Kronecker deltas"]  # the index steps come first
    reads = {str(r.base.label) for r in last.rhs.atoms(sp.Indexed)}
    assert reads == ({"Gfull", "W"} if wrt == "x" else {"Gdil", "xpad"})


def test_dx_form_reads_the_kernel_flipped():
    last = symgrad.derive(Conv2d(1, 1, 3)).steps("x")[0].substeps[-1]
    (read,) = [r for r in last.rhs.atoms(sp.Indexed) if str(r.base.label) == "W"]
    u, v = sp.Symbol("u", integer=True), sp.Symbol("v", integer=True)
    assert tuple(read.indices[2:]) == (2 - u, 2 - v)
    assert "full convolution of dout with the flipped kernel" in last.note


def test_dw_form_is_a_correlation_with_the_dilated_dout():
    last = symgrad.derive(Conv2d(1, 1, 3, stride=2, pad=1)).steps("W")[0].substeps[-1]
    assert "correlation of x with dout" in last.note
    assert "1 zeros between its entries (the stride)" in last.note


def test_an_unflipped_kernel_is_not_proven(monkeypatch):
    # The proof must be able to fail: dx stated with the kernel as it is, not turned by 180 degrees.
    rule = derive_rule(Conv2d(1, 1, 3, stride=2, pad=1).tensor_forward(), "x")
    right = convform._form
    u, v = sp.Symbol("u", integer=True), sp.Symbol("v", integer=True)

    def unflipped(*args):
        form, note = right(*args)
        return form.xreplace({2 - u: u, 2 - v: v}), note

    monkeypatch.setattr(convform, "_form", unflipped)
    ok, how = convform._prove.__wrapped__(rule, (3, 3), (2, 2), (1, 1))
    assert not ok
    assert "NOT equal to the derived rule" in how


@pytest.mark.parametrize("wrt", ["x", "W"])
@pytest.mark.parametrize(("stride", "pad"), [((2, 2), (0, 0)), ((1, 1), (1, 1))], ids=["padding", "stride"])
def test_a_form_ignoring_padding_or_stride_is_not_proven(wrt, stride, pad):
    # xpad, Gdil and Gfull are defined from the stated stride and padding; stating them wrong (0 padding, or stride 1
    # for a stride-2 layer) must fail the proof against the layer's derived rule.
    rule = derive_rule(Conv2d(1, 1, 3, stride=2, pad=1).tensor_forward(), wrt)
    assert convform._prove(rule, (3, 3), (2, 2), (1, 1))[0]
    ok, how = convform._prove(rule, (3, 3), stride, pad)
    assert not ok
    assert "NOT equal to the derived rule" in how


@pytest.mark.parametrize(("layer", "words"), [
    (MaxPool2d(2, 2), "routes each window's upstream gradient to the window's argmax alone (the first maximum"),
    (MaxPool2d(3, 1), "every other entry of the window gets 0"),
    (AvgPool2d(2, 2), "spreads each window's upstream gradient evenly: G/4 (G/k², k = 2x2)"),
    (AvgPool2d(3, 1), "G/9 (G/k², k = 3x3)"),
])
def test_pooling_steps_say_where_the_gradient_goes(layer, words):
    step = symgrad.derive(layer).steps("x")[0]
    (scatter,) = [s for s in step.substeps if s.rule.startswith("scatter-add")]
    assert words in scatter.note
    assert scatter.verified


def test_conv_documents_are_deterministic():
    layer = Conv2d(2, 2, 3, stride=2, pad=1)
    assert symgrad.derive(layer).to_latex() == symgrad.derive(Conv2d(2, 2, 3, stride=2, pad=1)).to_latex()
    assert symgrad.derive(layer).to_html() == symgrad.derive(Conv2d(2, 2, 3, stride=2, pad=1)).to_html()
