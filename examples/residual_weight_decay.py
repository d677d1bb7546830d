"""A residual block with L2 weight decay, as a graph network: derived, proven, checked three ways.

    h = x W1 + b1                      (an affine layer)
    r = h + affine(tanh(h))            (the residual block: h feeds two paths)
    E = |affine(r) - t|^2 / 2 + 0.01 (|W1|^2 + |W2|^2 + |W3|^2)    (each W feeds its layer and the penalty)

Where a value feeds two consumers its gradient is the sum of their contributions; the
steps below show that sum at each fork, and every step is proven.

Run: python examples/residual_weight_decay.py
"""

from __future__ import annotations

import symgrad
from symgrad import Affine, HalfSquaredError, Input, Network, Tanh


def main() -> None:
    x, t = Input("x", 4), Input("t", 2)
    first, inner, out = Affine(4, 8), Affine(8, 8), Affine(8, 2)
    h = first(x)
    r = h + inner(Tanh()(h))
    penalty = symgrad.sum_squares(first.param("W")) + symgrad.sum_squares(inner.param("W"))
    penalty = penalty + symgrad.sum_squares(out.param("W"))
    net = Network(HalfSquaredError()(out(r), t) + 0.01 * penalty, title="A residual block with weight decay")
    print("the graph:", net.describe())

    d = symgrad.derive(net)
    print("every step proven against sympy.diff:", d.verified)
    for name in ("W1", "h1"):
        step = next(step for step in d.steps("W1") if str(step.lhs) == f"dE/d{name}")
        print(f"{step.lhs} = {step.rhs}")
        print(f"    ({step.rule})")

    # The same network from a spec string.
    spec = "affine(4,8) > residual(tanh > affine(8,8)) > affine(8,2) > half-squared-error + weight-decay(0.01)"
    print("from the spec:", symgrad.network_from_spec(spec).describe() == net.describe())

    report = symgrad.check(net, batch=5, seed=3)
    print(report)


if __name__ == "__main__":
    main()
