"""The article, retold end to end with symgrad.

1. The gradient of F(x, y) = 3x + 4y is (3, 4).
2. The chain rule for w1 in F2(F1(x)) with E = (y - t)^2 / 2, step by step, each step proven.
3. The article's numerical_gradient next to backprop, with the forward evaluations each needs.
4. The three-way agreement: symbolic vs the layers' backward() vs finite differences.

Run: python examples/article_backprop.py
"""

from __future__ import annotations

import numpy as np

import symgrad
from symgrad.render.text import derivation_text, expr_text


def numerical_gradient(f, x):  # type: ignore[no-untyped-def]
    """The article's numerical gradient, verbatim (central differences, h = 1e-4)."""
    h = 1e-4  # 0.0001
    grad = np.zeros_like(x)

    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)

        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
        grad[idx] = (fxh1 - fxh2) / (2 * h)

        x[idx] = tmp_val  # 还原值
        it.iternext()
    return grad


def part1() -> None:
    print("1. F(x, y) = 3x + 4y")
    d = symgrad.gradient("3*x + 4*y")
    print(f"   grad F = ({d.gradient('x')}, {d.gradient('y')})")
    for step in d.steps("x")[0].substeps:
        print(f"     {expr_text(step.lhs)} = {expr_text(step.rhs)}   ({step.rule})")


def part2() -> symgrad.Derivation:
    print("\n2. The chain rule for w1")
    derivation = symgrad.derive(symgrad.article_network())
    print("   " + derivation_text(derivation, elementary=False).split("dE/db1 by")[0].replace("\n", "\n   ").rstrip())
    print(f"   every step proven against sympy.diff: {derivation.verified}")
    return derivation


def part3(derivation: symgrad.Derivation) -> None:
    print("\n3. numerical_gradient (the article's) next to backprop")
    net = symgrad.article_network()
    point = {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.3, "w2": 1.7, "b2": 0.2}
    names = list(net.params)
    evaluations = 0

    def loss(params: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        w1, b1, w2, b2 = params
        y = w2 * (w1 * point["x"] + b1) + b2
        return float((y - point["t"]) ** 2 / 2)

    numeric = numerical_gradient(loss, np.array([point[n] for n in names], dtype=float))
    backprop = derivation.lambdify()(**point)
    for name, value in zip(names, numeric, strict=True):
        print(f"   dE/d{name}: numerical {value: .10f}   backprop {backprop[name]: .10f}")
    print(
        f"   forward evaluations: numerical_gradient {evaluations} (2 per parameter); "
        "backprop 1 forward + 1 backward"
    )


def part4() -> bool:
    print("\n4. Three ways: symbolic vs backward() vs finite differences")
    report = symgrad.check(symgrad.article_network(), seed=0)
    print("   " + str(report).replace("\n", "\n   "))
    return report.ok


def main() -> int:
    part1()
    derivation = part2()
    part3(derivation)
    return 0 if part4() else 1


if __name__ == "__main__":
    raise SystemExit(main())
