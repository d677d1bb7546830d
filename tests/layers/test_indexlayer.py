"""symgrad.layer(): a layer from an index-notation string, through derive, check_layer and export."""

from __future__ import annotations

import json

import numpy as np
import pytest

import symgrad
from symgrad.errors import LayerError, ParseError, ShapeError, UnknownNameError

BILINEAR = "y[n,j] = sum(x[n,i]*A[i,j,k]*x[n,k], i, k)"


def _bilinear(name: str = "bilinear") -> symgrad.layers.IndexLayer:
    return symgrad.layer(BILINEAR, params={"A": (3, 2, 3)}, name=name)


class Bilinear:
    """A user's bilinear layer in the article's protocol (its backward written by hand)."""

    def __init__(self, A, wrong: bool = False):
        self.A, self.wrong, self.x, self.dA = A, wrong, None, None

    def forward(self, x):
        self.x = x
        return np.einsum("ni,ijk,nk->nj", x, self.A, x)

    def backward(self, dout):
        x, A = self.x, self.A
        self.dA = np.einsum("nj,ni,nk->ijk", dout, x, x)
        if self.wrong:  # forgets the second read of x: only A x, not Aᵀ x as well
            return np.einsum("nj,ijk,nk->ni", dout, A, x)
        return np.einsum("nj,ijk,nk->ni", dout, A, x) + np.einsum("nj,ijk,ni->nk", dout, A, x)


def test_the_bilinear_layer_derives_with_every_index_step_proven() -> None:
    d = symgrad.derive(_bilinear())
    assert d.wrt == ("x", "A")
    assert d.verified
    rules = [sub.rule for sub in d.steps("x")[0].substeps]
    assert rules[:3] == ["chain rule, entry by entry", "differentiate each entry", "eliminate the Kronecker deltas"]
    assert rules[-1] == "einsum"
    assert str(d.gradient("A")) == "Sum(G[n, q]*x[n, p]*x[n, r], (n, 0, N - 1))"


@pytest.mark.parametrize("seed", [0, 1])
def test_the_compiled_derivation_agrees_with_finite_differences_of_the_compiled_forward(seed) -> None:
    rng = np.random.default_rng(seed)
    layer = _bilinear()
    a, x = rng.normal(size=(3, 2, 3)), rng.normal(size=(4, 3)) + 0.5
    layer.set_params({"A": a})
    g = rng.normal(size=(4, 2))
    grads = symgrad.derive(layer).lambdify()(x=x, A=a, G=g)
    h = 1e-6
    for name, value in (("x", x), ("A", a)):
        numeric = np.zeros_like(value)
        for ix in np.ndindex(*value.shape):
            plus, minus = value.copy(), value.copy()
            plus[ix] += h
            minus[ix] -= h
            run = {"x": (lambda v: Bilinear(a).forward(v)), "A": (lambda v: Bilinear(v).forward(x))}[name]
            numeric[ix] = ((run(plus) - run(minus)) * g).sum() / (2 * h)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8)


def test_check_layer_with_the_string_layer_as_spec_passes_a_right_backward_and_catches_a_wrong_one() -> None:
    rng = np.random.default_rng(3)
    a, x = rng.normal(size=(3, 2, 3)), rng.normal(size=(5, 3))
    report = symgrad.check_layer(Bilinear(a), _bilinear(), x=x)
    assert report.ok, report
    wrong = symgrad.check_layer(Bilinear(a, wrong=True), _bilinear(), x=x)
    assert not wrong.ok
    text = str(wrong)
    assert "FAIL dx" in text
    assert "spec's rule" in text
    assert "dA" not in [line.split()[1] for line in text.splitlines() if line.startswith("FAIL")]


def test_the_layer_alone_checks_its_derivation_against_finite_differences() -> None:
    layer = _bilinear()
    layer.set_params({"A": np.random.default_rng(4).normal(size=(3, 2, 3))})
    report = symgrad.check_layer(layer, x=np.random.default_rng(5).normal(size=(4, 3)))
    assert report.ok, report
    assert "derived rules" in layer.reference_note


def test_export_writes_the_index_steps_and_the_vectorised_form_with_the_name_escaped(tmp_path) -> None:
    d = symgrad.derive(_bilinear(name="bi<l>&"))
    html = symgrad.export(d, tmp_path / "d.html").read_text()
    assert "bi&lt;l&gt;&amp;" in html
    assert "bi<l>" not in html
    assert "eliminate the Kronecker deltas" in html
    assert "one np.einsum" in html
    data = json.loads(symgrad.export(d, tmp_path / "d.json").read_text())
    assert data["title"] == "bi<l>&"
    tex = symgrad.export(d, tmp_path / "d.tex").read_text()
    assert "bi<l>" not in tex
    md = symgrad.export(d, tmp_path / "d.md").read_text()
    assert "bi\\<l\\>" in md
    assert d.to_html() == symgrad.derive(_bilinear(name="bi<l>&")).to_html()  # deterministic


@pytest.mark.parametrize(("text", "error", "words"), [
    ("y[n,j] = sum(x[n,i]*A[i,j] i)", ParseError, "column 28"),
    ("y[n] = x[n] +", ParseError, "found the end"),
    ("y[n] = __import__(x[n])", ParseError, "column 8"),
    ("y[n] = os.system(x[n])", ParseError, "unexpected character '.'"),
    ("y[n] = foo(x[n])", UnknownNameError, "unknown function 'foo'"),
    ("y[n,j] = sum(x[n,i]*A[i,j,k], i, k)", ShapeError, "A has 2 dimensions"),
    ("y[n] = x[n] * z", ParseError, "'z' at column 15 is neither"),
])
def test_bad_forwards_are_refused_naming_the_place_and_what_was_expected(text, error, words) -> None:
    with pytest.raises(error, match=None) as caught:
        symgrad.layer(text, params={"A": (3, 2)})
    assert words in str(caught.value)


def test_a_layer_with_unknown_params_or_a_bad_name_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="never reads"):
        symgrad.layer("y[n] = x[n]", params={"B": (2,)})
    with pytest.raises(UnknownNameError, match="not allowed"):
        symgrad.layer("y[n] = x[n]", name="\n")
    with pytest.raises(LayerError, match="N-D layer"):
        _bilinear()(symgrad.Input("x", 3))


def test_windowed_and_max_forwards_parse_into_layers_that_check() -> None:
    pool = symgrad.layer("y[n,c,i,j] = max(x[n,c,2*i+u,2*j+v], u, v)", sizes={"u": 2, "v": 2, "i": 2, "j": 2},
                         inputs={"x": ("N", "C", 4, 4)}, name="pool")
    x = np.random.default_rng(6).normal(size=(2, 3, 4, 4))
    ref = symgrad.MaxPool2d(2, 2)
    assert np.array_equal(pool.forward(x), ref.forward(x))
    report = symgrad.check_layer(symgrad.MaxPool2d(2, 2), pool, x=x)
    assert report.ok, report


def test_n_d_documents_and_generated_code_are_byte_identical_across_hash_seeds(tmp_path) -> None:
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, symgrad\n"
        "from symgrad.index.rules import derive_rule\n"
        "from symgrad.index.tensorform import rule_code\n"
        "h = hashlib.sha256()\n"
        "for L in (symgrad.MaxPool2d(2, 1), symgrad.Embedding(5, 3),\n"
        f"          symgrad.layer({BILINEAR!r}, params={{'A': (3, 2, 3)}})):\n"
        "    h.update(symgrad.derive(L).to_json().encode())\n"
        "conv = symgrad.Conv2d(2, 3, 3, stride=2, pad=1).tensor_forward()\n"
        "shapes = {'x': (2, 2, 5, 5), 'W': (3, 2, 3, 3), 'b': (3,), 'G': (2, 3, 3, 3)}\n"
        "h.update(rule_code(derive_rule(conv, 'x'), shapes).source.encode())\n"
        "print(h.hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SYMGRAD_CACHE_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip())
    assert len(digests) == 1
