"""Your own activation from a formula: swish, derived, checked, and used as the spec of your layer.

1. ``symgrad.activation("z*sigmoid(z)", name="swish")`` is a layer whose derivative is
   ``sympy.diff`` of the formula; a network with it derives (every step proven) and checks three ways.
2. A hand-written swish whose backward forgets the product rule (``dout * sigmoid(x)``) is
   caught by ``check_layer`` with the formula as its spec, which names the mistake.
3. The corrected layer passes.

Run: python examples/own_activation.py
"""

from __future__ import annotations

import numpy as np

import symgrad
import symgrad.render.text


class Swish:
    """Swish written by hand, DLFS style: forward caches what backward needs."""

    def __init__(self, product_rule: bool = True) -> None:
        self.product_rule = product_rule
        self.x = self.s = None

    def forward(self, x):
        self.x, self.s = x, 1.0 / (1.0 + np.exp(-x))
        return x * self.s

    def backward(self, dout):
        if not self.product_rule:
            return dout * self.s  # forgot the second term of (x * s(x))'
        return dout * (self.s + self.x * self.s * (1.0 - self.s))


def main() -> None:
    swish = symgrad.activation("z*sigmoid(z)", name="swish")
    net = symgrad.network_from_spec("affine(3,4) > act(z*sigmoid(z), name=swish) > affine(4,1) > half-squared-error")
    derivation = symgrad.derive(net)
    text = symgrad.render.text.derivation_text(derivation)
    line = next(line for line in text.splitlines() if "dE/dh1 = dE/dh2" in line)  # its step in the backward sweep
    print(line[line.index("dE/dh1"):])
    print(f"every step proven against sympy.diff: {derivation.verified}")
    print(symgrad.check(derivation))
    print()

    x = np.random.default_rng(0).normal(size=(4, 3))
    report = symgrad.check_layer(Swish(product_rule=False), swish, x=x)
    print(report)
    print()
    print(symgrad.check_layer(Swish(), swish, x=x))


if __name__ == "__main__":
    main()
