"""The textbooks' forms of the N-D layers' gradients, shown after the index-level derivation.

Convolution's dW as a correlation of the zero-padded x with dout, and dx as a
full convolution of dout with the flipped kernel, stride and padding accounted:

* ``xpad[n, c, a, b] = x[n, c, a - P, b - P]`` (0 outside x: the padding);
* ``Gdil[n, f, a, b] = G[n, f, a/S, b/S]`` where S divides a and b, else 0 (dout
  dilated by the stride: S - 1 zeros between its entries);
* ``Gfull[n, f, a, b] = Gdil[n, f, a - (K - 1 - P), b - (K - 1 - P)]`` (the
  dilated dout padded by K - 1 - P: a "full" convolution);
* ``dW[f, c, u, v] = Σ_n Σ_a Σ_b Gdil[n, f, a, b] xpad[n, c, u + a, v + b]``;
* ``dx[n, c, h, w] = Σ_f Σ_u Σ_v Gfull[n, f, h + u, w + v] W[f, c, K - 1 - u, K - 1 - v]``.

Each is proven equal, entrywise on small shapes, to the derived rule (the index
steps' result, itself proven against ``sympy.diff``): the displayed expression
is written out with those three definitions put in, a proven simplification,
never a rule used for computing. Pooling's steps say in words where the
gradient goes (:func:`pool_words`).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import sympy as sp

from symgrad.derive.steps import Step
from symgrad.derive.tensorproof import _Context, _explicit, _write_out
from symgrad.derive.verify import prove_equal
from symgrad.index.contract import as_expr
from symgrad.index.ir import indices
from symgrad.index.rules import UPSTREAM, IndexRule

__all__ = ["conv_closed_steps", "pool_words"]

_RULE = "closed form (the textbook's)"


def pool_words(layer: Any) -> str:
    """What a pooling layer's gradient does, in words (empty for other layers).

    Examples
    --------
    >>> from symgrad.layers.conv import AvgPool2d, Conv2d
    >>> "G/4" in pool_words(AvgPool2d(2, 2)), pool_words(Conv2d(1, 1, 3))
    (True, '')
    """
    kind = getattr(layer, "kind", "")
    if kind == "max-pool2d":
        return (" Max pooling routes each window's upstream gradient to the window's argmax alone (the first "
                "maximum in row-major order on ties, as np.argmax gives it); every other entry of the window gets 0.")
    if kind == "avg-pool2d":
        k1, k2 = layer.kernel
        return (f" Average pooling spreads each window's upstream gradient evenly: G/{k1 * k2} (G/k², k = "
                f"{k1}x{k2}) to each entry of the window.")
    return ""


def conv_closed_steps(layer: Any, rule: IndexRule) -> tuple[Step, ...]:
    """The textbook form of a Conv2d gradient (``rule.wrt`` ``"x"`` or ``"W"``), proven equal to ``rule``.

    Examples
    --------
    >>> from symgrad.index.rules import derive_rule
    >>> from symgrad.layers.conv import Conv2d
    >>> layer = Conv2d(1, 1, 2)
    >>> (step,) = conv_closed_steps(layer, derive_rule(layer.tensor_forward(), "x"))
    >>> step.rhs, step.verified
    (Sum(Gfull[p, f, r + u, s + v]*W[f, q, 1 - u, 1 - v], (f, 0, F - 1), (u, 0, 1), (v, 0, 1)), True)
    """
    if getattr(layer, "kind", "") != "conv2d" or rule.wrt not in ("x", "W"):
        return ()
    form, note = _form(rule, tuple(layer.kernel), tuple(layer.stride), tuple(layer.pad))
    ok, how = _prove(rule, tuple(layer.kernel), tuple(layer.stride), tuple(layer.pad))
    return (Step(rule.steps[0].lhs, form, _RULE, ok, how, note),)


def _output_ranges(rule: IndexRule) -> tuple[Any, Any]:
    forward = rule.forward
    i, j = forward.indices[2], forward.indices[3]
    return forward.index_range(i), forward.index_range(j)


def _form(rule: IndexRule, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]
          ) -> tuple[Any, str]:
    g, x, w = sp.IndexedBase("Gdil"), sp.IndexedBase("xpad"), sp.IndexedBase("W")
    dims = {t.name: t.dims for t in rule.forward.tensors}
    (s1, s2), (k1, k2) = stride, kernel
    pads, gaps = _pair(*pad), _pair(s1 - 1, s2 - 1)
    if rule.wrt == "W":
        f, c, u, v = rule.at
        n, a, b = indices("n a b")
        out_h, out_w = _output_ranges(rule)
        form = sp.Sum(g[n, f, a, b] * x[n, c, u + a, v + b], (n, 0, dims["x"][0] - 1),
                      (a, 0, s1 * (out_h - 1)), (b, 0, s2 * (out_w - 1)))
        note = (f"dW is a correlation of x with dout: xpad is x with {pads} zeros around it (the padding), Gdil is "
                f"dout with {gaps} zeros between its entries (the stride); each dW[f, c, u, v] sums Gdil times "
                "the window of xpad shifted by (u, v). Proven equal to the derived rule, not used for computing.")
        return form, note
    n, c, h, wi = rule.at
    f, u, v = indices("f u v")
    full = sp.IndexedBase("Gfull")
    form = sp.Sum(full[n, f, h + u, wi + v] * w[f, c, k1 - 1 - u, k2 - 1 - v], (f, 0, dims["W"][0] - 1),
                  (u, 0, k1 - 1), (v, 0, k2 - 1))
    around = _pair(k1 - 1 - pad[0], k2 - 1 - pad[1])
    note = (f"dx is a full convolution of dout with the flipped kernel: Gfull is dout with {gaps} zeros between "
            f"its entries (the stride), then {around} around it (K - 1 - P: a full convolution, less the "
            "forward's padding); W[f, c, K - 1 - u, K - 1 - v] is the kernel turned by 180 degrees. Proven equal "
            "to the derived rule, not used for computing.")
    return form, note


def _pair(rows: int, cols: int) -> str:
    return str(rows) if rows == cols else f"{rows} (rows), {cols} (columns)"


@functools.cache
def _prove(rule: IndexRule, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]
           ) -> tuple[bool, str]:
    ctx = _Context(rule)
    form, _ = _form(rule, kernel, stride, pad)
    derived = as_expr(rule.terms)
    shape = ctx.dims[rule.wrt]
    (s1, s2), (k1, k2), (p1, p2) = stride, kernel, pad
    x, g = sp.IndexedBase("x"), sp.IndexedBase(UPSTREAM)

    def dilated(n: Any, f: Any, a: int, b: int) -> Any:
        if a % s1 or b % s2:
            return sp.S.Zero
        return ctx.leaf(g[n, f, sp.Integer(a // s1), sp.Integer(b // s2)])

    def resolve(read: sp.Indexed) -> Any:
        name, idx = str(read.base.label), read.indices
        if name == "xpad":
            return ctx.leaf(x[idx[0], idx[1], idx[2] - p1, idx[3] - p2])
        if name == "Gdil":
            return dilated(idx[0], idx[1], int(idx[2]), int(idx[3]))
        if name == "Gfull":
            return dilated(idx[0], idx[1], int(idx[2]) - (k1 - 1 - p1), int(idx[3]) - (k2 - 1 - p2))
        return read

    for entry in itertools.product(*(range(n) for n in shape)):
        at = dict(zip(rule.at, map(sp.Integer, entry), strict=True))
        stated = _write_out(form.xreplace(at).xreplace(ctx.sizes), ctx)
        stated = stated.replace(lambda e: isinstance(e, sp.Indexed) and str(e.base.label) in ("xpad", "Gdil", "Gfull"),
                                resolve)
        if not prove_equal(ctx.evaluate(stated), _explicit(derived.xreplace(at), ctx)):
            return False, f"the stated form is NOT equal to the derived rule at {rule.wrt}{list(entry)}"
    sizes = ", ".join(f"{s} = {v}" for s, v in sorted(ctx.sizes.items(), key=lambda kv: str(kv[0])))
    return True, (f"proven equal entrywise to the derived rule on small shapes ({sizes}; kernel {k1}x{k2}, "
                  f"stride {s1}, pad {p1})")
