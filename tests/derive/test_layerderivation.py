"""derive(layer): a composite layer derived on its own (symgrad/derive/layerderivation.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import symgrad
from symgrad.errors import UnknownNameError
from symgrad.layers.recurrent import GRUCell, LSTMCell, RNNCell
from symgrad.matrixexpr import BATCH


def away(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.2, size=shape)


def _arguments(d, rng, n=5):
    return {name: away(rng, tuple(n if dim == BATCH else int(dim) for dim in d.shapes[name])) for name in d.inputs}


@pytest.mark.parametrize("layer", [LSTMCell(3, 4), GRUCell(3, 2), RNNCell(2, 3)], ids=repr)
def test_compiled_cell_gradient_agrees_with_the_textbook_backward(layer):
    d = symgrad.derive(layer)
    assert d.verified
    compiled = d.lambdify()
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        args = _arguments(d, rng)
        reference = type(layer)(layer.D, layer.H)
        reference.set_params({role: args[role].ravel() if role == "b" else args[role] for role in layer.roles})
        outs = reference.forward(*(args[name] for name in layer.inputs))
        douts = [args[name] for name in d.inputs[len(d.inputs) - len(outs if isinstance(outs, tuple) else (1,)):]]
        back = reference.backward(*douts)
        back = back if isinstance(back, tuple) else (back,)
        _, grads = compiled.evaluate(args)
        for name, expected in zip(layer.inputs, back, strict=True):
            np.testing.assert_allclose(grads[name], expected, rtol=1e-10, atol=1e-12)
        for role in layer.roles:
            np.testing.assert_allclose(np.ravel(grads[role]), np.ravel(getattr(reference, f"d{role}")), rtol=1e-10,
                                       atol=1e-12)


def test_lstm_derivation_names_its_four_gate_derivatives_and_the_paths_into_c():
    d = symgrad.derive(LSTMCell(3, 4))
    steps = {str(s.lhs): s for s in d.steps("x")}
    from symgrad.render.text import expr_text

    for gate, derivative in (("i", "sigmoid(Ai)*(1 - sigmoid(Ai))"), ("f", "sigmoid(Af)*(1 - sigmoid(Af))"),
                             ("o", "sigmoid(Ao)*(1 - sigmoid(Ao))"), ("g", "1 - tanh(Ag)**2")):
        step = steps[f"dE/dA{gate}"]
        assert step.rule.startswith(f"chain rule through {gate} = fn(A{gate}): entrywise function")
        assert expr_text(step.rhs) == f"dE/d{gate} ∘ [{derivative}]"
    assert steps["dE/dc"].rule == "sum over 2 paths (c feeds tc and the next step (its upstream gradient)): " \
                                  "multivariable chain rule"
    assert steps["dE/dA"].rule == "sum over 4 paths (A feeds Ai, Af, Ao and Ag): multivariable chain rule"
    assert steps["dE/dA"].note.startswith("A feeds Ai, Af, Ao and Ag, so its gradient is the slices' gradients side")
    assert d.wrt == ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
    assert d.inputs[-2:] == ("dh_next", "dc_next")


@pytest.mark.parametrize("layer", [LSTMCell(2, 3), symgrad.BatchNorm(3), symgrad.LayerNorm(3)], ids=repr)
def test_layer_derivations_export_in_every_format(layer, tmp_path):
    d = symgrad.derive(layer)
    for suffix in ("html", "tex", "md", "json"):
        path = symgrad.export(d, tmp_path / f"layer.{suffix}")
        text = path.read_text(encoding="utf-8")
        assert "multivariable chain rule" in text
    payload = json.loads((tmp_path / "layer.json").read_text(encoding="utf-8"))
    assert payload
    first = (tmp_path / "layer.html").read_bytes()
    symgrad.export(symgrad.derive(layer), tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == first  # deterministic


def test_batch_norm_on_its_own_ends_in_the_closed_form():
    d = symgrad.derive(symgrad.BatchNorm(4))
    assert d.steps("x")[-1].rule == "closed form (the textbook's)"
    assert d.steps("x")[-1].verified
    assert d.inputs == ("x", "gamma", "beta", "dout")


def test_derive_layer_takes_no_wrt():
    with pytest.raises(UnknownNameError, match="derive\\(layer\\) derives every input and parameter"):
        symgrad.derive(LSTMCell(2, 2), wrt=["x"])
