"""Batch norm, derived through its own small graph, then a wrong backward caught and named.

1. ``symgrad.BatchNorm(3)`` is written once, as its forward: μ, x - μ, (x - μ)², σ², σ = √(σ²+ε),
   x̂ = (x - μ)/σ, γx̂ + β. Its backward is one reverse sweep over that graph: x feeds x - μ and μ,
   so dE/dx is the sum of the two paths, and x - μ feeds x̂ and the squares, summed again. The
   steps are printed, each proven, ending in the textbook's closed form
   dx = γ/(Nσ)(N·dout - Σdout - x̂·Σ(dout·x̂)), proven equal to the sweep.
2. A DLFS-style BatchNormalization whose backward forgets the mean path (no ``dxc -= dmu / N``)
   is caught by ``check_layer`` with ``symgrad.BatchNorm`` as its spec, which names the path.
3. The corrected layer passes.

Run: python examples/batchnorm.py
"""

from __future__ import annotations

import numpy as np

import symgrad
from symgrad.render.text import expr_text


class BatchNormalization:
    """DLFS1's BatchNormalization (2-D input), train mode."""

    def __init__(self, gamma, beta, mean_path: bool = True) -> None:
        self.gamma, self.beta, self.mean_path = gamma, beta, mean_path

    def forward(self, x, train_flg=True):
        mu = x.mean(axis=0)
        self.xc = x - mu
        self.std = np.sqrt(np.mean(self.xc**2, axis=0) + 1e-5)
        self.xn = self.xc / self.std
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        if not self.mean_path:
            return dxc  # forgot: dx = dxc - dmu / N, the gradient through mu
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / n


def main() -> None:
    net = symgrad.network_from_spec("batch-norm(3) > half-squared-error")
    derivation = symgrad.derive(net)
    step = next(s for s in derivation.steps("x") if len(s.substeps) > 10)
    print("dE/dx through batch norm's graph:")
    for sub in step.substeps:
        mark = "proven" if sub.verified else "NOT proven"
        rule = sub.rule if sub.rule.startswith("forward") else sub.rule.split(": ")[0]
        print(f"  {expr_text(sub.lhs)} = {expr_text(sub.rhs)}\n      ({rule}; {mark})")
    print(f"every step proven against sympy.diff: {derivation.verified}")
    print(symgrad.check(derivation))
    print()

    rng = np.random.default_rng(0)
    gamma, beta, x = rng.uniform(0.5, 2.0, 3), rng.normal(size=3), rng.normal(size=(5, 3))
    report = symgrad.check_layer(BatchNormalization(gamma, beta, mean_path=False), symgrad.BatchNorm(3), x=x,
                                 params=["gamma", "beta"])
    print(report)
    print()
    report = symgrad.check_layer(BatchNormalization(gamma, beta), symgrad.BatchNorm(3), x=x, params=["gamma", "beta"])
    print(report)


if __name__ == "__main__":
    main()
