"""What the benchmarks measure: symgrad networks, and the code an engineer would write instead.

* :func:`mlp` builds the matrix-form MLP of the benchmarks: ``depth`` times
  ``Affine(width, width) > Sigmoid``, then the half squared error.
* :func:`hand_backward` is the hand-written NumPy forward and backward of the
  depth-2 MLP, written as an engineer would: store the activations, then
  ``x.T @ d`` and ``d @ W.T`` back down.
* :func:`symbol_per_weight` is the alternative to matrix form: a
  ``sympy.Matrix`` with a symbol per weight, differentiated entry by entry.
* :func:`smooth_cases` are the smooth float64 functions of the accuracy table,
  each with its exact gradient.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

import symgrad
from symgrad.check.points import sample_values
from symgrad.numeric.reference import reference_loss


def mlp(width: int, depth: int, *, title: str | None = None) -> symgrad.Network:
    """``depth`` x (Affine(width, width) > Sigmoid) > half squared error."""
    layers: list[Any] = []
    for _ in range(depth):
        layers += [symgrad.Affine(width, width), symgrad.Sigmoid()]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError(), title=title)


def derive_and_lambdify(width: int, depth: int) -> Any:
    """What section 1 times: build the network, derive, compile (none of it remembered from an earlier call)."""
    from symgrad.derive import chain
    from symgrad.numeric import compile as compiled_code

    # symgrad remembers layer rules and generated code in memory; section 1 times the work itself.
    chain._rules.clear()
    compiled_code._compiled.clear()
    return symgrad.derive(mlp(width, depth)).lambdify()


def hand_backward(
    x: np.ndarray,
    t: np.ndarray,
    W1: np.ndarray,  # noqa: N803  the network's own names
    b1: np.ndarray,
    W2: np.ndarray,  # noqa: N803
    b2: np.ndarray,
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and every gradient (W1, b1, W2, b2 and x) of the depth-2 sigmoid MLP, by hand."""
    h1 = 1.0 / (1.0 + np.exp(-(x @ W1 + b1)))
    y = 1.0 / (1.0 + np.exp(-(h1 @ W2 + b2)))
    r = y - t
    loss = 0.5 * float(np.sum(r * r))
    d2 = r * y * (1.0 - y)
    dW2, db2 = h1.T @ d2, d2.sum(axis=0)
    d1 = (d2 @ W2.T) * h1 * (1.0 - h1)
    dW1, db1 = x.T @ d1, d1.sum(axis=0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "x": d1 @ W1.T}


def gradient_case(width: int, batch: int, seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """The compiled symgrad gradient of the depth-2 MLP and a seeded point."""
    net = mlp(width, 2)
    return symgrad.derive(net).lambdify(), sample_values(net, seed=seed, batch=batch)


# --- symbol per weight ------------------------------------------------------------


def _symbols(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}"))


def symbol_per_weight(width: int) -> tuple[float, float]:
    """(derive seconds, lambdify seconds) of the depth-2 MLP with a symbol per weight.

    One input row x (1 x width), weights W1, W2 (width x width), biases b1, b2
    and target t (1 x width), the same sigmoid layers and half squared error;
    ``sympy.diff`` of E by every weight, bias and input, then one
    ``sympy.lambdify`` of E and all the gradients (default settings).
    """
    start = time.perf_counter()
    x, t = _symbols("x", 1, width), _symbols("t", 1, width)
    W1, b1 = _symbols("W1", width, width), _symbols("b1", 1, width)
    W2, b2 = _symbols("W2", width, width), _symbols("b2", 1, width)

    def sig(z: sp.Expr) -> sp.Expr:
        return 1 / (1 + sp.exp(-z))

    y = ((x * W1 + b1).applyfunc(sig) * W2 + b2).applyfunc(sig)
    loss = sp.Add(*[(e - s) ** 2 for e, s in zip(y, t, strict=True)]) / 2
    params = [*W1, *b1, *W2, *b2, *x]
    grads = [sp.diff(loss, p) for p in params]
    derived = time.perf_counter()
    sp.lambdify([*x, *t, *W1, *b1, *W2, *b2], [loss, *grads], "numpy")
    return derived - start, time.perf_counter() - derived


# --- smooth functions for the accuracy table -------------------------------------------


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


def _logsumexp(z: Any) -> Any:
    shift = np.max(np.real(z))
    return shift + np.log(np.sum(np.exp(z - shift)))


def smooth_cases(
    seed: int = 0,
) -> dict[str, tuple[Callable[[dict[str, Any]], Any], dict[str, Any], dict[str, np.ndarray]]]:
    """name -> (f(values), values, exact gradient); every f accepts complex input."""
    rng = np.random.default_rng(seed)
    cases: dict[str, tuple[Callable[[dict[str, Any]], Any], dict[str, Any], dict[str, np.ndarray]]] = {}
    # Two sizes: rounding limits differences to about eps |E| / h, and |E| grows with the number of terms.
    for size in (4, 64):
        z = rng.standard_normal(size)
        cases[f"sum tanh(z), {size} entries"] = (
            lambda v: np.sum(np.tanh(v["z"])), {"z": z}, {"z": 1 - np.tanh(z) ** 2}
        )
        cases[f"sum sigmoid(z), {size} entries"] = (
            lambda v: np.sum(_sigmoid(v["z"])),
            {"z": z},
            {"z": _sigmoid(z) * (1 - _sigmoid(z))},
        )
        cases[f"logsumexp(z), {size} entries"] = (
            lambda v: _logsumexp(v["z"]), {"z": z}, {"z": np.exp(z - _logsumexp(z))}
        )
    net = mlp(8, 2)
    values = sample_values(net, seed=seed, batch=4)
    _, exact = symgrad.derive(net).lambdify().evaluate(values)
    names = (*net.params, "x")
    cases["MLP loss, 2 x (affine(8, 8) > sigmoid), batch 4"] = (
        lambda v: reference_loss(net, v),
        values,
        {name: np.asarray(exact[name]) for name in names},
    )
    return cases


# --- torch -------------------------------------------------------------------------------


def torch_loss(torch: Any) -> Callable[..., Any]:
    """The depth-2 sigmoid MLP with the half squared error, in torch (float64 inputs)."""

    def loss(x: Any, W1: Any, b1: Any, W2: Any, b2: Any, t: Any) -> Any:  # noqa: N803
        h = torch.sigmoid(x @ W1 + b1)
        y = torch.sigmoid(h @ W2 + b2)
        return 0.5 * torch.sum((y - t) ** 2)

    return loss
