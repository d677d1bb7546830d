"""Every script in examples/ runs to the end (exit code 0) and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

#: Lines (or parts of lines) each script's output must contain. A script without an
#: entry is only required to exit with 0 and print something.
KEY_LINES: dict[str, tuple[str, ...]] = {
    "article_affine_bug.py": (
        "Three-way check of your Affine against symgrad Affine(3, 2): 3 of 3 FAIL",
        "dx: backward() raised ValueError: shapes (4,2) and (3,2) not aligned",
        "diagnosis: the failing product matches a missing transpose: dx = dout @ W multiplies shapes (4, 2) and (3, 2)",
        "diagnosis: matches a missing transpose: dx = dout @ W; expected dx = dout @ W.T",
        "diagnosis: matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout",
        "Three-way check of your CorrectedAffine against symgrad Affine(3, 2): all 3 gradients agree",
        "Three-way check of your CorrectedAffine against symgrad Affine(3, 3): all 3 gradients agree",
        "shape error diagnosed: True; wrong values diagnosed: True",
    ),
    "own_activation.py": (
        "dE/dh1 = dE/dh2 ∘ [h1*sigmoid(h1)*(1 - sigmoid(h1)) + sigmoid(h1)]",
        "every step proven against sympy.diff: True",
        "Three-way check of affine(3, 4) > swish(z*sigmoid(z)) > affine(4, 1) > half-squared-error: all 5 gradients",
        "complex-step derivative of its forward",
        "Three-way check of your Swish against symgrad activation('z*sigmoid(z)', name='swish'): 1 of 1 FAIL",
        "diagnosis: matches a term of the derivative left out: dx = dout * sigmoid(x)",
        "Three-way check of your Swish against symgrad activation('z*sigmoid(z)', name='swish'): all 1 gradients agree",
    ),
    "article_backprop.py": (
        "grad F = (3, 4)",
        "= w2*x*(b2 + w2*(b1 + w1*x) - t)",  # the canonical order: positive terms first (issue 12)
        "every step proven against sympy.diff: True",
        "Three-way check of The article's network: all 5 gradients agree",
    ),
    "convolution.py": (
        "[scatter-add (+= for every i, j, u, v)] dx[p, q, 2*i + u - 1, 2*j + v - 1] = Sum(G[p, f, i, j]*W[f, q, u, v]",
        "every step proven against sympy.diff: True",
        "against symgrad Conv2d(3, 4, 3, stride=2, pad=1): all 3 gradients agree",
        "diagnosis: matches the stride ignored (windows placed at i + u, not stride*i + u)",
    ),
    "batchnorm.py": (
        "dE/dxc = dE/dsq ∘ [2*xc] + dE/dxhat ∘ (ones(N, 1) @ [1/sigma])",
        "(sum over 2 paths (xc feeds sq and xhat); proven)",
        "dE/dx = (1/N)*(ones(N, 1) @ dE/dmu) + dE/dxc",
        "(sum over 2 paths (x feeds mu and xc); proven)",
        "(closed form (the textbook's); proven)",
        "every step proven against sympy.diff: True",
        "Three-way check of batch-norm(3) > half-squared-error: all 3 gradients agree",
        "Three-way check of your BatchNormalization against symgrad BatchNorm(3): 1 of 3 FAIL",
        "diagnosis: matches a mistake in the layer's graph: the mean path left out (no gradient through mu, as if it "
        "were a constant); fix: add the gradient through mu: dx -= dxc.mean(axis=0), the mean of the centred gradient; "
        "expected dx = gamma / (N * sigma) * (N * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))",
        "Three-way check of your BatchNormalization against symgrad BatchNorm(3): all 3 gradients agree",
    ),
    "residual_weight_decay.py": (
        "every step proven against sympy.diff: True",
        "(sum over 2 paths (W1 feeds h1 and h7): multivariable chain rule)",
        "(sum over 2 paths (h1 feeds h2 and h4): multivariable chain rule)",
        "from the spec: True",
        "Three-way check of A residual block with weight decay: all 7 gradients agree",
    ),
}


def test_there_are_examples():
    assert SCRIPTS, f"no scripts in {EXAMPLES}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs_and_prints_its_key_lines(script):
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=EXAMPLES.parent, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the script printed nothing"
    for line in KEY_LINES.get(script.name, ()):
        assert line in result.stdout, f"{line!r} not in the output of {script.name}:\n{result.stdout[-3000:]}"
