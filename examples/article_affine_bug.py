"""The article's Affine layer, checked: its backward drops both transposes.

The article prints this backward pass (comments A and B are the article's):

    dx = np.dot(dout, self.W)       # A: should be np.dot(dout, self.W.T)
    self.dW = np.dot(self.x, dout)  # B: should be np.dot(self.x.T, dout)

1. With non-square shapes (a batch of 4, 3 inputs, 2 outputs) the products do
   not fit and backward() raises; symgrad.check_layer reports the error with
   the shapes and formulas it expected, and names the missing transpose.
2. With square shapes (everything 3 x 3) the products fit and the values are
   silently wrong; the check catches them and says which mistake they match.
3. The corrected layer (the transposes put back) passes.

Run: python examples/article_affine_bug.py
"""

from __future__ import annotations

import numpy as np

import symgrad


class Affine:
    def __init__(self, W, b) -> None:
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        dot = np.dot(self.x, self.W)
        out = dot + self.b  # Boardcasting...

        return out

    def backward(self, dout):
        dx = np.dot(dout, self.W)  # A
        self.dW = np.dot(self.x, dout)  # B
        self.db = np.sum(dout, axis=0)

        return dx


class CorrectedAffine(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)  # A, with the transpose
        self.dW = np.dot(self.x.T, dout)  # B, with the transpose
        self.db = np.sum(dout, axis=0)

        return dx


def section(title: str) -> None:
    print(f"\n== {title} ==\n")


def main() -> int:
    rng = np.random.default_rng(0)

    section("1. The article's Affine, non-square: x is 4 x 3, W is 3 x 2")
    layer = Affine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = symgrad.check_layer(layer, symgrad.Affine(3, 2), x=rng.standard_normal((4, 3)))
    print(report)
    shape_error_caught = not report.ok and "missing transpose" in report.row("x").diagnosis

    section("2. The article's Affine, square: x and W are 3 x 3")
    layer = Affine(rng.standard_normal((3, 3)), rng.standard_normal(3))
    report = symgrad.check_layer(layer, symgrad.Affine(3, 3), x=rng.standard_normal((3, 3)))
    print(report)
    values_caught = not report.ok and all("missing transpose" in report.row(n).diagnosis for n in ("x", "W"))

    section("3. The corrected Affine, non-square and square")
    for n, d, m in ((4, 3, 2), (3, 3, 3)):
        layer = CorrectedAffine(rng.standard_normal((d, m)), rng.standard_normal(m))
        report = symgrad.check_layer(layer, symgrad.Affine(d, m), x=rng.standard_normal((n, d)))
        print(report, end="\n\n")
        if not report.ok:
            return 1

    print(f"shape error diagnosed: {shape_error_caught}; wrong values diagnosed: {values_caught}")
    return 0 if shape_error_caught and values_caught else 1


if __name__ == "__main__":
    raise SystemExit(main())
