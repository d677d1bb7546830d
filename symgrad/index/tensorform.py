"""The vectorised N-D form of a forward or a derived rule: einsum, staged sums, scatter-add, mask.

Where :mod:`symgrad.index.vectorise` finds a matrix form (``xᵀG``) for 2-D
tensors, this module takes any :class:`~symgrad.index.ir.IndexForward` and any
derived :class:`~symgrad.index.rules.IndexRule` and prints NumPy source for
concrete sizes, run by :mod:`symgrad.numeric.tensorrun`:

* a product of reads under a sum is one ``np.einsum`` (multilinear terms);
* a sum inside a nonlinear position (a softmax's denominator) is computed once,
  as an array over its own free indices, and the expression around it is
  evaluated entrywise by broadcasting (staged evaluation, never a grid over
  all indices at once);
* a read at affine positions (a window ``x[n, c, 2*i + u, 2*j + v]``) is a
  strided view, zero outside the tensor; a read at a lookup ``W[idx[n], d]``
  a gather;
* a term of a rule whose deltas tie an entry's index to an expression,
  ``δ(r, 2*i + u)``, is a **scatter-add**: ``dx[p, q, 2*i + u, 2*j + v] += C``
  for every i, j, u, v, so that overlapping windows and repeated lookups add
  (:func:`scatter_terms` gives it symbolically, for the steps);
* a max's derivative is a mask of each window's first maximum.

Examples
--------
>>> import sympy as sp
>>> from symgrad.index.ir import IndexForward, Tensor, indices
>>> from symgrad.index.rules import derive_rule
>>> n, i, u = indices("n i u")
>>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
>>> conv = IndexForward("y", (n, i), sp.Sum(w[u] * x[n, i + u], (u, 0, 1)),
...                     (Tensor("x", (2, 4)), Tensor("w", (2,))), ((n, 2), (i, 3), (u, 2)))
>>> [str(t) for t in scatter_terms(derive_rule(conv, "x"))]
['dx[p, i + u] += G[p, i]*w[u] for every i, u']
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad.errors import LayerError, ShapeError
from symgrad.functions import relu, relu_grad, sigmoid
from symgrad.index.contract import Term
from symgrad.index.ir import IndexForward
from symgrad.index.reduce import FirstArgMax, MaxOver
from symgrad.index.rules import IndexRule

__all__ = ["ScatterTerm", "TensorCode", "forward_code", "rule_code", "scatter_terms", "sizes_for"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FUNCTIONS: dict[Any, str] = {
    sp.exp: "np.exp", sp.log: "np.log", sp.tanh: "np.tanh", sp.sin: "np.sin", sp.cos: "np.cos",
    sp.Abs: "np.abs", sp.sign: "np.sign", sp.erf: "_erf", sigmoid: "_sigmoid", sp.cosh: "np.cosh",
    sp.sinh: "np.sinh",
}


@dataclass(frozen=True)
class TensorCode:
    """NumPy source of one function ``name(T)`` taking a mapping of arrays by tensor name."""

    name: str
    source: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ScatterTerm:
    """``d<wrt>[positions] += value`` for every index in ``over`` (one term of a rule)."""

    wrt: str
    positions: tuple[sp.Expr, ...]
    value: sp.Expr
    over: tuple[sp.Symbol, ...]

    @property
    def lhs(self) -> sp.Indexed:
        return sp.IndexedBase(f"d{self.wrt}")[self.positions]

    def __str__(self) -> str:
        return f"{self.lhs} += {self.value} for every {', '.join(map(str, self.over))}"

    def words(self) -> str:
        """The statement said in words."""
        return (f"for every {', '.join(map(str, self.over))}, add {self.value} into d{self.wrt} at "
                f"[{', '.join(map(str, self.positions))}]; where several of them land on one entry "
                "(overlapping windows, a repeated index) the contributions add up (np.add.at, or += of strided "
                "slices), never overwrite")


# -- the scatter analysis (symbolic) ------------------------------------------------------------------


def _split(term: Term, at: tuple[sp.Symbol, ...]) -> tuple[list[sp.Expr], sp.Expr, tuple[Any, ...]]:
    """(position of each entry index, the factor without the deltas used, the sums) for one term."""
    factors = list(sp.Mul.make_args(term.factor))
    positions: list[sp.Expr] = list(at)
    summed = set(term.summed())
    for k, p in enumerate(at):
        for delta in factors:
            if not isinstance(delta, sp.KroneckerDelta) or p not in delta.args:
                continue
            other = delta.args[1] if delta.args[0] == p else delta.args[0]
            if other.free_symbols & set(at) or (isinstance(other, sp.Symbol) and other in summed):
                continue
            factors.remove(delta)
            positions[k] = other
            factors = [f.subs(p, other) for f in factors]
            break
    return positions, sp.Mul(*factors), term.sums


def _index_symbols(expr: sp.Expr, known: set[Any]) -> set[Any]:
    return {s for s in expr.free_symbols if s in known}


def scatter_terms(rule: IndexRule) -> tuple[ScatterTerm, ...]:
    """The terms of ``rule`` that scatter (a delta ties an entry index to an expression), as statements."""
    result = []
    for term in rule.terms:
        positions, factor, sums = _split(term, rule.at)
        if tuple(positions) == rule.at:
            continue
        summed = [limit[0] for limit in sums]
        keep = set().union(*(_index_symbols(p, set(summed)) for p in positions))
        inner = [limit for limit in sums if limit[0] not in keep]
        value = sp.Sum(factor, *inner) if inner else factor
        over = tuple(s for s in summed if s in keep)
        result.append(ScatterTerm(rule.wrt, tuple(positions), value, over))
    return tuple(result)


# -- sizes ----------------------------------------------------------------------------------------------


def sizes_for(forward: IndexForward, shapes: Mapping[str, tuple[int, ...]]) -> dict[Any, int]:
    """Each dimension symbol of ``forward`` -> its size in ``shapes`` (a ShapeError when they disagree)."""
    sizes: dict[Any, int] = {}
    for tensor in forward.tensors:
        shape = shapes.get(tensor.name)
        if shape is None:
            continue
        if len(shape) != len(tensor.dims):
            msg = f"{tensor.name} has {len(tensor.dims)} dimensions in {forward.output}'s forward; got shape {shape}"
            raise ShapeError(msg)
        for dim, size in zip(tensor.dims, shape, strict=True):
            if isinstance(dim, sp.Symbol):
                sizes.setdefault(dim, int(size))
    for tensor in forward.tensors:
        shape = shapes.get(tensor.name)
        for dim, size in zip(tensor.dims, shape or (), strict=False):
            want = _sized(sp.sympify(dim), sizes)
            if want.is_number and int(want) != size:
                names = ", ".join(str(d) for d in tensor.dims)
                msg = f"{tensor.name} should have shape ({names}) = {_shape(tensor.dims, sizes)}; got {shape}"
                raise ShapeError(msg)
    return sizes


def _shape(dims: tuple[Any, ...], sizes: Mapping[Any, int]) -> tuple[Any, ...]:
    return tuple(_sized(sp.sympify(d), sizes) for d in dims)


def _ranges(forward: IndexForward, sizes: Mapping[Any, int]) -> dict[Any, int]:
    ranges = {}
    for symbol, size in forward.ranges:
        value = _sized(sp.sympify(size), sizes)
        if value.is_number:
            ranges[symbol] = int(value)
    return ranges


# -- code generation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    code: str
    axes: tuple[Any, ...]


class _Gen:
    """Prints one function: each intermediate a named array over its own indices (sorted in one order)."""

    def __init__(self, ranges: Mapping[Any, int], first: tuple[Any, ...] = ()) -> None:
        self.sizes: dict[Any, int] = dict(ranges)
        self.lines: list[str] = []
        self.memo: dict[sp.Basic, _Value] = {}
        self.order: list[Any] = list(dict.fromkeys((*first, *ranges)))

    def sort(self, axes: Any) -> tuple[Any, ...]:
        axes = set(axes)
        self.order += sorted((a for a in axes if a not in self.order), key=str)  # deterministic, not set order
        return tuple(sorted(axes, key=self.order.index))

    def temp(self, code: str, axes: tuple[Any, ...]) -> _Value:
        name = f"t{len(self.lines)}"
        self.lines.append(f"    {name} = {code}")
        return _Value(name, axes)

    def expand(self, value: _Value, target: tuple[Any, ...]) -> str:
        if value.axes == target or not value.axes:
            return value.code
        return f"{value.code}[{', '.join(':' if a in value.axes else 'None' for a in target)}]"

    def full(self, value: _Value, target: tuple[Any, ...]) -> str:
        """``value`` as an array of exactly the axes ``target`` (in that order), broadcast where it is constant."""
        ordered = self.sort(target)
        code = self.expand(value, ordered)
        if ordered != target:
            code = f"np.transpose({code}, {tuple(ordered.index(a) for a in target)})"
        return f"np.broadcast_to({code}, {tuple(self.sizes[a] for a in target)})"

    def limits(self, limits: Any) -> list[Any]:
        symbols = []
        for symbol, low, high in limits:
            if low != 0 or not sp.sympify(high).is_number:
                msg = f"a sum or max over {symbol} from {low} to {high}: symgrad vectorises sums from 0 to a size"
                raise LayerError(msg)
            self.sizes[symbol] = int(high) + 1
            symbols.append(symbol)
        return symbols

    # -- expressions ---------------------------------------------------------------------------------

    def value(self, expr: sp.Expr) -> _Value:
        if expr in self.memo:
            return self.memo[expr]
        result = self._value(expr)
        if result.axes and not result.code.isidentifier():
            result = self.temp(result.code, result.axes)
        self.memo[expr] = result
        return result

    def _value(self, expr: sp.Expr) -> _Value:
        if expr.is_Integer:
            return _Value(str(int(expr)), ())
        if expr.is_number:
            return _Value(repr(float(expr)), ())
        if isinstance(expr, sp.Symbol):
            if expr not in self.sizes:
                msg = f"{expr} has no size here: symgrad cannot vectorise it"
                raise LayerError(msg)
            return _Value(f"np.arange({self.sizes[expr]})", (expr,))
        if isinstance(expr, sp.Indexed):
            return self.read(expr)
        if isinstance(expr, sp.Sum):
            return self.contract(expr.function, self.limits(expr.limits))
        if isinstance(expr, MaxOver):
            return self.maximum(expr)
        if isinstance(expr, FirstArgMax):
            return self.mask(expr)
        if isinstance(expr, (sp.Add, sp.Mul)):
            operator = " + " if isinstance(expr, sp.Add) else " * "
            parts = [self.value(arg) for arg in sorted(expr.args, key=sp.default_sort_key)]
            target = self.sort(a for p in parts for a in p.axes)
            return _Value("(" + operator.join(self.expand(p, target) for p in parts) + ")", target)
        if isinstance(expr, sp.Pow):
            base, exp = self.value(expr.base), self.value(expr.exp)
            target = self.sort((*base.axes, *exp.axes))
            if expr.exp == -1:
                return _Value(f"(1.0 / {self.expand(base, target)})", target)
            return _Value(f"({self.expand(base, target)} ** {self.expand(exp, target)})", target)
        if isinstance(expr, sp.floor):
            num, den = sp.fraction(sp.together(expr.args[0]))
            top, bottom = self.value(num), self.value(den)
            target = self.sort((*top.axes, *bottom.axes))
            return _Value(f"({self.expand(top, target)} // {self.expand(bottom, target)})", target)
        if isinstance(expr, sp.Mod):
            top, bottom = self.value(expr.args[0]), self.value(expr.args[1])
            target = self.sort((*top.axes, *bottom.axes))
            return _Value(f"({self.expand(top, target)} % {self.expand(bottom, target)})", target)
        if isinstance(expr, sp.KroneckerDelta):
            left, right = (self.value(arg) for arg in expr.args)
            target = self.sort((*left.axes, *right.axes))
            return _Value(f"({self.expand(left, target)} == {self.expand(right, target)}).astype(float)", target)
        return self.function(expr)

    def function(self, expr: sp.Expr) -> _Value:
        args = [self.value(arg) for arg in expr.args]
        target = self.sort(a for p in args for a in p.axes)
        shown = [self.expand(p, target) for p in args]
        if type(expr) in _FUNCTIONS and len(args) == 1:
            return _Value(f"{_FUNCTIONS[type(expr)]}({shown[0]})", target)
        if isinstance(expr, relu):
            return _Value(f"np.maximum({shown[0]}, 0.0)", target)
        if isinstance(expr, relu_grad):
            return _Value(f"np.heaviside({shown[0]}, {shown[1]})", target)
        if isinstance(expr, sp.Heaviside):
            return _Value(f"np.heaviside({shown[0]}, 0.5)", target)
        if isinstance(expr, (sp.Max, sp.Min)):
            name = "np.maximum" if isinstance(expr, sp.Max) else "np.minimum"
            return _Value(functools.reduce(lambda a, b: f"{name}({a}, {b})", shown), target)
        msg = f"symgrad cannot vectorise {type(expr).__name__} (in {expr})"
        raise LayerError(msg)

    def read(self, read: sp.Indexed) -> _Value:
        name = str(read.base.label)
        array = f"T[{name!r}]"
        positions = read.indices
        plain = all(isinstance(p, sp.Symbol) and p in self.sizes for p in positions)
        if plain and len(set(positions)) == len(positions):
            axes = self.sort(positions)
            if axes == tuple(positions):
                return _Value(array, axes)
            return _Value(f"np.transpose({array}, {tuple(positions.index(a) for a in axes)})", axes)
        affine = [_affine(p, self.sizes) for p in positions]
        if all(a is not None for a in affine):
            axes = self.sort(s for a in affine for s, _ in a[1])  # type: ignore[index]
            spec = tuple((const, tuple((axes.index(s), c) for s, c in terms)) for const, terms in affine)  # type: ignore[misc]
            return _Value(f"_window({array}, {spec}, {tuple(self.sizes[a] for a in axes)})", axes)
        values = [self.value(p) for p in positions]
        axes = self.sort(a for v in values for a in v.axes)
        shown = ", ".join(self.expand(v, axes) for v in values)
        return _Value(f"_gather({array}, ({shown},))", axes)

    def contract(self, body: sp.Expr, summed: list[Any]) -> _Value:
        """``Σ_summed body``: a sum of products, each product one einsum."""
        if isinstance(body, sp.Add):
            parts = [self.contract(arg, summed) for arg in body.args]
            target = self.sort(a for p in parts for a in p.axes)
            return _Value("(" + " + ".join(self.expand(p, target) for p in parts) + ")", target)
        factors = list(sp.Mul.make_args(body))
        coefficient = sp.Mul(*(f for f in factors if f.is_number))
        operands = [self.value(f) for f in sorted(factors, key=sp.default_sort_key) if not f.is_number]
        present = {a for op in operands for a in op.axes}
        for symbol in summed:
            if symbol not in present:
                coefficient *= self.sizes[symbol]
        out = self.sort(a for a in present if a not in summed)
        if not operands:
            return _Value(repr(float(coefficient)), ())
        if len(operands) == 1 and operands[0].axes == out:
            code = operands[0].code
            return _Value(code if coefficient == 1 else f"({float(coefficient)!r} * {code})", out)
        letters = {a: _LETTERS[k] for k, a in enumerate(self.sort(present))}
        spec = ",".join("".join(letters[a] for a in op.axes) for op in operands)
        spec += "->" + "".join(letters[a] for a in out)
        code = f"np.einsum({spec!r}, {', '.join(op.code for op in operands)}, optimize=True)"
        if coefficient != 1:
            code = f"{float(coefficient)!r} * {code}"
        return _Value(code, out)

    def maximum(self, expr: MaxOver) -> _Value:
        reduced = self.limits(expr.limits)
        inner = self.value(expr.function)
        axes = tuple(inner.axes.index(s) for s in reduced if s in inner.axes)
        if not axes:
            return inner
        return _Value(f"np.max({inner.code}, axis={axes})", tuple(a for a in inner.axes if a not in reduced))

    def mask(self, expr: FirstArgMax) -> _Value:
        for primed, (low, high) in zip(expr.primed, expr.bounds, strict=True):
            self.limits(((primed, low, high),))
        if not all(isinstance(p, sp.Symbol) for p in expr.point) or len(set(expr.point)) != len(expr.point):
            msg = f"symgrad cannot vectorise the mask {expr}: its point is not a list of distinct indices"
            raise LayerError(msg)
        body = self.value(expr.body)
        target = self.sort((*body.axes, *expr.primed))
        full = self.temp(self.full(body, target), target)
        mask = self.temp(f"_argmax_mask({full.code}, {tuple(target.index(p) for p in expr.primed)})", target)
        renamed = tuple(dict(zip(expr.primed, expr.point, strict=True)).get(a, a) for a in target)
        for primed, point in zip(expr.primed, expr.point, strict=True):
            self.sizes[point] = self.sizes[primed]
        axes = self.sort(renamed)
        code = mask.code if axes == renamed else f"np.transpose({mask.code}, {tuple(renamed.index(a) for a in axes)})"
        return _Value(code, axes)

    def source(self, name: str, result: str) -> str:
        return "\n".join([f"def {name}(T):", *self.lines, f"    return {result}", ""])


def _affine(position: sp.Expr, sizes: Mapping[Any, int]) -> tuple[int, tuple[tuple[Any, int], ...]] | None:
    """``position`` as (constant, ((index, integer coefficient), ...)), or None if it is not affine."""
    symbols = sorted(position.free_symbols, key=str)
    if any(s not in sizes for s in symbols):
        return None
    try:
        poly = sp.Poly(position, *symbols) if symbols else None
    except sp.PolynomialError:
        return None
    if poly is None:
        return (int(position), ()) if position.is_Integer else None
    if poly.total_degree() > 1:
        return None
    terms = []
    for s in symbols:
        coef = poly.coeff_monomial(s)  # an integer, or no window
        if not coef.is_Integer:
            return None
        if coef != 0:
            terms.append((s, int(coef)))
    const = poly.coeff_monomial(1)
    return (int(const), tuple(terms)) if const.is_Integer else None


def forward_code(forward: IndexForward, shapes: Mapping[str, tuple[int, ...]]) -> TensorCode:
    """The forward of ``forward`` as NumPy source, for inputs of these shapes."""
    sizes = sizes_for(forward, shapes)
    gen = _Gen(_ranges(forward, sizes), forward.indices)
    body = _sized(forward.body, sizes)
    value = gen.value(body)
    shape = tuple(gen.sizes[i] for i in forward.indices)
    result = gen.full(value, forward.indices) if forward.indices else f"np.sum({value.code})"
    if forward.indices:
        result = f"np.array({result})"
    return TensorCode("_forward", gen.source("_forward", result), shape)


def _sized(expr: sp.Expr, sizes: Mapping[Any, int]) -> sp.Expr:
    return expr.xreplace({k: sp.Integer(v) for k, v in sizes.items()})


def rule_code(rule: IndexRule, shapes: Mapping[str, tuple[int, ...]]) -> TensorCode:
    """dE/d(rule.wrt) as NumPy source (arguments: the forward's tensors and G), for these shapes."""
    forward = rule.forward
    sizes = sizes_for(forward, shapes)
    ranges = _ranges(forward, sizes)
    wrt = forward.tensor(rule.wrt)
    dims = tuple(int(_sized(sp.sympify(d), sizes)) for d in wrt.dims)
    gen = _Gen(ranges, rule.at)
    for symbol, size in zip(rule.at, dims, strict=True):
        gen.sizes[symbol] = size
    parts = []
    for term in rule.terms:
        limits = tuple((s, lo, _sized(sp.sympify(hi), sizes)) for s, lo, hi in term.sums)
        sized = Term(_sized(term.factor, sizes), limits)
        parts.append(_term_code(gen, sized, rule.at, dims))
    if len(parts) == 1 and gen.lines[-1].lstrip().startswith(f"{parts[0]} = _scatter_add("):
        result = parts[0]  # a fresh array already: no copy
    else:
        result = f"np.array({' + '.join(parts)})" if parts else f"np.zeros({dims})"
    return TensorCode(f"_d_{rule.wrt}", gen.source(f"_d_{rule.wrt}", result), dims)


def _term_code(gen: _Gen, term: Term, at: tuple[Any, ...], dims: tuple[int, ...]) -> str:
    positions, factor, sums = _split(term, at)
    summed = gen.limits(sums)
    if tuple(positions) == tuple(at):  # no scatter: a sum of products over the entry's indices
        value = gen.contract(factor, summed)
        return gen.temp(gen.full(value, tuple(at)), tuple(at)).code
    keep = set().union(*(_index_symbols(p, set(gen.sizes)) for p in positions))
    value = gen.contract(factor, [s for s in summed if s not in keep])
    axes = gen.sort(keep)
    contribution = gen.temp(gen.full(value, axes), axes)
    specs = []
    for position in positions:
        affine = _affine(position, gen.sizes)
        if affine is not None:
            specs.append(repr((affine[0], tuple((axes.index(s), c) for s, c in affine[1]))))
        else:
            specs.append(gen.expand(gen.value(position), axes))
    return gen.temp(f"_scatter_add({dims}, {contribution.code}, ({', '.join(specs)},))", tuple(at)).code
