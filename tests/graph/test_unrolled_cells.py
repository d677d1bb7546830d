"""Recurrent cells unrolled over time in graph networks, their weights shared (issue 10): derived through the
graph sweep (the shared weights' gradient a sum over the steps), checked three ways, and a wrong cell
backward caught."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.graph.cells import unroll
from symgrad.graph.nodes import Input, sum_squares
from symgrad.layers.recurrent import GRUCell, LSTMCell, RNNCell


def _network(cell, steps=3):
    xs = [Input(f"x{t}", 3) for t in range(1, steps + 1)]
    h0 = Input("h0", 4)
    states = (h0, Input("c0", 4)) if isinstance(cell, LSTMCell) else (h0,)
    hs = unroll(cell, xs, *states)
    return symgrad.Network(sum_squares(hs[-1]))


@pytest.mark.parametrize("make", [RNNCell, GRUCell, pytest.param(LSTMCell, marks=pytest.mark.slow)],
                         ids=["rnn", "gru", "lstm"])
def test_an_unrolled_cell_is_derived_and_checked_three_ways(make):
    net = _network(make(3, 4))
    derivation = symgrad.derive(net)
    assert derivation.verified
    report = symgrad.check(net, seed=4, batch=3)
    assert report.ok, str(report)
    assert {"x1", "x2", "x3", "h0"} <= {row.name for row in report.rows}


def test_the_shared_weights_gradient_is_the_sum_over_the_steps():
    net = _network(RNNCell(3, 4))
    derivation = symgrad.derive(net)
    weight = next(name for name in derivation.wrt if name.startswith("Wx"))
    text = " ".join(f"{step.rule} {step.note}" for step in derivation.steps(weight))
    assert "sum over 3 paths" in text


class _NoGradientFromTheNextStep(RNNCell):
    """A cell whose backward forgets the gradient it passes to the previous step (dh_prev = 0)."""

    def backward(self, dh):
        dx, dh_prev = super().backward(dh)
        return dx, np.zeros_like(dh_prev)


def test_a_cell_backward_that_drops_dh_prev_fails_over_time():
    # Over one step h0's gradient would be the only sign; over three, the shared weights' gradients are wrong too.
    net = _network(_NoGradientFromTheNextStep(3, 4))
    report = symgrad.check(net, seed=4, batch=3)
    assert not report.ok
    failed = {row.name for row in report.rows if row.status != "ok"}
    assert "h0" in failed
    assert any(name.startswith("Wh") for name in failed)
    assert "x3" not in failed  # the last step's input gets its gradient straight from E: right


def test_a_cell_called_on_too_few_nodes_is_refused():
    with pytest.raises(symgrad.errors.SpecError, match="a cell takes cell"):
        RNNCell(3, 4)(Input("x1", 3))
