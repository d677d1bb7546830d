"""Proofs: a step's result against a direct ``sympy.diff``.

Scalar steps are proven exactly: the difference simplifies to 0. A matrix rule
(a layer's ``matrix_vjp`` or a loss's ``matrix_grad``) is proven entrywise: on
small shapes with a symbol per entry, each entry of the rule equals
``sympy.diff`` of the scalar sum(G o forward) (or of the loss) with respect to
that entry. A rule is proven once per layer type and kink setting: the verdict is kept in
memory, and for symgrad's own layers on disk (:mod:`symgrad.derive.proofcache`).
"""

from __future__ import annotations

import functools
from typing import Any

import sympy as sp
from sympy.matrices.exceptions import ShapeError as SympyShapeError

from symgrad.derive import proofcache
from symgrad.errors import LayerError
from symgrad.functions import with_kink
from symgrad.layers import Layer, Loss
from symgrad.layers.composite import CompositeLayer
from symgrad.matrixexpr import BATCH

__all__ = ["matrix_rule_proof", "prove_equal", "prove_layer_rule", "prove_matrix_rule"]

#: Shapes of the entrywise proofs: batch, input features, output features.
PROOF_SHAPES = (2, 3, 2)


def prove_equal(a: sp.Basic, b: sp.Basic) -> bool:
    """True when ``a - b`` simplifies to 0.

    Examples
    --------
    >>> x = sp.Symbol("x")
    >>> prove_equal(sp.sin(x)**2 + sp.cos(x)**2, 1), prove_equal(x, 2*x)
    (True, False)
    """
    difference = sp.expand(a - b)
    if difference == 0:
        return True
    return bool(sp.simplify(difference.rewrite(sp.exp)) == 0)


def matrix_rule_proof(layer: Layer, kink: Any) -> tuple[bool, str]:
    """Prove ``layer``'s matrix rule (cached): (proven, how it was proven or why it failed).

    A verdict is kept for the process, and for symgrad's own layer types on disk
    (see :mod:`symgrad.derive.proofcache`), so a rule is proven once per installation.
    """
    kind: Any = type(layer)
    if isinstance(layer, CompositeLayer):  # its rule depends on the instance (train or eval mode, eps)
        key = (kind, layer.rule_key(), sp.sympify(kink))
        if key not in _composite_verdicts:
            _composite_verdicts[key] = _prove_composite(kind, key[1], key[2], layer)
        return _composite_verdicts[key]
    rule_key = getattr(layer, "rule_key", None)
    if rule_key is not None:  # a layer made from a formula (symgrad.activation): its rule is its instance's
        methods = tuple(getattr(kind, name, None) for name in (*proofcache.RULE_METHODS, "derivative"))
        return _prove_formula((rule_key(), methods), sp.sympify(kink), layer)
    # The resolved rule methods are part of the key: a method patched onto the class is proven anew.
    methods = tuple(getattr(kind, name, None) for name in proofcache.RULE_METHODS)
    return _prove_cached(kind, sp.sympify(kink), methods)


@functools.cache
def _prove_cached(kind: Any, kink: sp.Expr, methods: tuple[Any, ...]) -> tuple[bool, str]:
    key = proofcache.fingerprint(kind, kink)
    known = None if key is None else proofcache.load_verdict(key)
    if known is not None:
        return known
    ok, how = prove_matrix_rule(kind, kink)
    if key is not None:
        proofcache.store_verdict(key, ok, how)
    return ok, how


#: Composite layers' verdicts by (type, rule key, kink), in memory (and on disk, see composite_verdict).
_composite_verdicts: dict[tuple[Any, ...], tuple[bool, str]] = {}


def _prove_composite(kind: Any, key: Any, kink: sp.Expr, layer: CompositeLayer) -> tuple[bool, str]:
    # A composite layer's derived rule, on a copy at the proof's small sizes (the sweep is the same at any size).
    return composite_verdict(kind, key, kink, lambda: prove_layer_rule(layer.for_proof(PROOF_SHAPES[1]), kink,
                                                                     f"{kind.__name__}'s derived"))


def composite_verdict(kind: Any, key: Any, kink: Any, prove: Any) -> tuple[bool, str]:
    """A composite layer's proof verdict, from disk when known (keyed by its type's fingerprint, the
    instance's ``rule_key`` and the sweep's own modules), else ``prove()`` and stored."""
    import hashlib

    import symgrad.composite.graph
    import symgrad.composite.ops
    import symgrad.derive.compositesteps  # noqa: F401  (its source is part of the key)

    base = proofcache.fingerprint(kind, kink)
    modules = ("symgrad.composite.graph", "symgrad.composite.ops", "symgrad.derive.compositesteps")
    sweep = [proofcache.module_hash(name) for name in modules]
    disk = None if base is None or None in sweep else hashlib.sha256(f"{base} {key!r} {sweep}".encode()).hexdigest()
    known = None if disk is None else proofcache.load_verdict(disk)
    if known is not None:
        return known
    ok, how = prove()
    if disk is not None:
        proofcache.store_verdict(disk, ok, how)
    return ok, how


#: Verdicts of formula layers' rules by (formula, rule methods, kink), in memory only (the last 256).
_formula_verdicts: dict[tuple[Any, ...], tuple[bool, str]] = {}


def _prove_formula(key: Any, kink: sp.Expr, layer: Layer) -> tuple[bool, str]:
    known = _formula_verdicts.get((key, kink))
    if known is None:
        known = _formula_verdicts[(key, kink)] = prove_layer_rule(layer, kink, "the activation's")
        if len(_formula_verdicts) > 256:
            del _formula_verdicts[next(iter(_formula_verdicts))]
    return known


def _entries(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}"))


def _explicit(expr: sp.Basic, mapping: dict[sp.Basic, sp.Basic]) -> Any:
    value = expr.xreplace(mapping).subs(BATCH, PROOF_SHAPES[0]).doit()
    return value.as_explicit() if hasattr(value, "as_explicit") else value


def prove_matrix_rule(kind: Any, kink: Any = 0) -> tuple[bool, str]:
    """Prove a layer type's matrix rule entrywise against ``sympy.diff``.

    Returns (ok, how). Examples
    --------
    >>> from symgrad.layers import Affine, Sigmoid
    >>> prove_matrix_rule(Affine)[0], prove_matrix_rule(Sigmoid)[0]
    (True, True)
    """
    n, d, m = PROOF_SHAPES
    try:
        layer = kind(d, m) if "W" in kind.roles else kind()
    except (TypeError, ValueError) as error:  # a subclass with its own constructor
        shape = f"({d}, {m})" if "W" in kind.roles else "()"
        return False, f"could not build {kind.__name__}{shape} to prove its rule on small shapes: {error}"
    if isinstance(layer, Loss):
        return _prove_loss(layer, n, m)
    return prove_layer_rule(layer, kink, kind.__name__)


def prove_layer_rule(layer: Layer, kink: Any, title: str) -> tuple[bool, str]:
    """Prove one layer's matrix rule entrywise against ``sympy.diff`` (see :func:`prove_matrix_rule`)."""
    n, d, m = PROOF_SHAPES
    out = m if layer.roles else d
    x = sp.MatrixSymbol("x", BATCH, d)
    params = {"W": sp.MatrixSymbol("W", d, m), "b": sp.MatrixSymbol("b", 1, m)} if layer.roles else {}
    if isinstance(layer, CompositeLayer):  # its own parameters (gamma and beta, a cell's Wx, Wh, b)
        out = layer.output_features(d) or d
        params = {role: sp.MatrixSymbol(role, *_as_matrix(shape)) for role, shape in layer.param_shapes(d).items()}
    upstream = sp.MatrixSymbol("G", BATCH, out)
    mapping = {x: _entries("x", n, d), upstream: _entries("G", n, out)}
    mapping.update({p: _entries(str(p), *p.shape) for p in params.values()})
    forward = _explicit(layer.matrix_forward(x, params), mapping)
    scalar = sp.Add(*sp.matrix_multiply_elementwise(mapping[upstream], forward))
    try:
        rules = layer.matrix_vjp(upstream, x, params, kink=kink)
    except (SympyShapeError, LayerError) as error:  # a rule whose matrices do not fit is no rule
        return False, f"{title}'s rules could not be built on small shapes: {error}"
    targets = {"input": x, **params}
    for role, rule in rules.items():
        claimed = _explicit(rule, mapping)
        entries = mapping[targets[role]]
        if getattr(claimed, "shape", None) != entries.shape:
            got: Any = getattr(claimed, "shape", None)
            return False, f"{title} rule for {role} has shape {got}, not {entries.shape}"
        for (i, j), value in zip(_indices(entries), claimed, strict=True):
            direct = with_kink(sp.diff(scalar, entries[i, j]), kink)
            if not prove_equal(value, direct):
                return False, f"{title} rule for {role} disagrees with sympy.diff at entry ({i}, {j})"
    return True, f"{title} rule proven entrywise against sympy.diff (batch {n}, {d} -> {out} features)"


def _as_matrix(shape: tuple[Any, ...]) -> tuple[Any, Any]:
    return (1, shape[0]) if len(shape) == 1 else (shape[0], shape[1])


def _indices(matrix: sp.ImmutableMatrix) -> list[tuple[int, int]]:
    return [(i, j) for i in range(matrix.rows) for j in range(matrix.cols)]


def _prove_loss(loss: Loss, n: int, m: int) -> tuple[bool, str]:
    y, t = sp.MatrixSymbol("y", BATCH, m), sp.MatrixSymbol("t", BATCH, m)
    entries = _entries("y", n, m)
    # One-hot targets: SoftmaxCrossEntropy's rule relies on rows summing to 1.
    if loss.kind == "softmax-cross-entropy":
        targets = sp.ImmutableMatrix(n, m, lambda i, j: 1 if j == i % m else 0)
    else:
        targets = _entries("t", n, m)
    mapping = {y: entries, t: targets}
    value = _explicit(loss.matrix_loss(y, t), mapping)
    claimed = _explicit(loss.matrix_grad(y, t), mapping)
    for (i, j), entry in zip(_indices(entries), claimed, strict=True):
        if not prove_equal(entry, sp.diff(value, entries[i, j])):
            return False, f"{type(loss).__name__} gradient disagrees with sympy.diff at entry ({i}, {j})"
    return True, f"{type(loss).__name__} gradient proven entrywise against sympy.diff (batch {n}, {m} outputs)"
