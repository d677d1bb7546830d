"""The derivation of a layer written as index-notation stages (scaled dot-product attention).

``symgrad.derive(Attention())`` gives, for each input (q, k, v), the chain of
stage rules that reaches it, the last stage first, as backprop runs:
``∂E/∂A = Σ_e G v`` through the weighted sum, ``∂E/∂S = A ∘ (dA − rowsum(dA ∘ A))``
through the softmax (derived, then recognised as the closed form the textbooks
print), ``∂E/∂q = Σ_s dS k / √D`` through the scores. Each stage rule comes from
the index engine (:func:`symgrad.index.staged.stage_rules`), its index steps and
its vectorised form proven entrywise against ``sympy.diff``
(:mod:`symgrad.derive.tensorproof`); the chain as a whole is proven too: every
entry of dq, dk, dv, computed through the stages, against ``sympy.diff`` of the
composed forward, on tiny shapes (N = 1, T = S = D = E = 2), the verdict kept on disk.
``lambdify()`` compiles the chain (:mod:`symgrad.numeric.tensorstages`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad.derive import proofcache
from symgrad.derive.derivation import Derivation
from symgrad.derive.steps import Step
from symgrad.derive.tensorlayer import _vectorised_steps
from symgrad.derive.tensorproof import proven_tensor_steps
from symgrad.derive.verify import prove_equal
from symgrad.errors import UnknownNameError
from symgrad.index.contract import as_expr
from symgrad.index.ir import IndexForward
from symgrad.index.rules import UPSTREAM
from symgrad.index.staged import StageRule, stage_rules
from symgrad.network import requested_names

__all__ = ["StagedDerivation", "derive_staged_layer", "prove_chain"]


def gradient_name(stages: tuple[IndexForward, ...], value: str) -> str:
    """What the steps call dE/d(value): G for the layer's output, d<value> for a stage's."""
    return UPSTREAM if value == stages[-1].output else f"d{value}"


def _shown(expr: Any, stages: tuple[IndexForward, ...], stage: IndexForward) -> Any:
    """A stage rule's expression with its upstream G named as the gradient of that stage's output."""
    return sp.sympify(expr).xreplace({sp.IndexedBase(UPSTREAM): sp.IndexedBase(gradient_name(stages, stage.output))})


@dataclass(frozen=True, eq=False)
class StagedDerivation(Derivation):
    """A :class:`Derivation` of a staged layer; ``lambdify()`` compiles its chain for given arrays."""

    layer: Any = None

    def lambdify(self) -> Callable[..., dict[str, np.ndarray]]:  # type: ignore[override]
        """``f(q=..., k=..., v=..., G=...)`` -> ``{name: gradient}``, compiled for the shapes it is called with."""
        stages = self.layer.tensor_stages()
        inputs = tuple(self.layer.inputs)
        wrt = self.wrt

        def gradients(**arrays: Any) -> dict[str, np.ndarray]:
            from symgrad.numeric.tensorstages import compiled_stages

            missing = [name for name in (*inputs, UPSTREAM) if name not in arrays]
            if missing:
                msg = f"the layer's gradient needs {', '.join((*inputs, UPSTREAM))}; missing {', '.join(missing)}"
                raise UnknownNameError(msg)
            values = {name: np.asarray(arrays[name], dtype=float) for name in (*inputs, UPSTREAM)}
            shapes = tuple((name, values[name].shape) for name in inputs)
            grads = compiled_stages(stages, stage_rules(stages), shapes).backward(values)
            return {name: grads[name] for name in wrt}

        return gradients


def _needed(rules: tuple[StageRule, ...], stages: tuple[IndexForward, ...], name: str) -> list[StageRule]:
    """The stage rules that dE/d(name) is computed from, in the order backprop runs them."""
    wanted = {name}
    for staged in reversed(rules):  # from the input back up to the output
        if staged.wrt in wanted and staged.stage.output != stages[-1].output:
            wanted.add(staged.stage.output)
    return [staged for staged in rules if staged.wrt in wanted]


def _stage_step(staged: StageRule, stages: tuple[IndexForward, ...], verdicts: tuple[tuple[bool, str], ...],
                chain: tuple[bool, str] | None) -> Step:
    stage = staged.stage
    upstream = gradient_name(stages, stage.output)
    sub = tuple(Step(_shown(s.lhs, stages, stage), _shown(s.rhs, stages, stage), s.rule, ok, how, s.note)
                for s, (ok, how) in zip(staged.steps, verdicts, strict=False))
    sub += tuple(Step(s.lhs, _shown(s.rhs, stages, stage), s.rule, s.verified, s.proof, s.note)
                 for s in _vectorised_steps(staged.rule, verdicts[-1]))
    ok = all(v for v, _ in verdicts) and (chain is None or chain[0])
    how = verdicts[-1][1] + ("" if chain is None else f"; the whole chain: {chain[1]}")
    reads = ", ".join(t.name for t in stage.tensors)
    note = (f"{staged.wrt} is read by the stage {stage.output}[{', '.join(map(str, stage.indices))}] = "
            f"{stage.body} (it reads {reads}); {upstream} = dE/d{stage.output} is that stage's upstream gradient, "
            f"so dE/d{staged.wrt} = Σ {upstream} ∂{stage.output}/∂{staged.wrt}, derived in index notation.")
    rule = f"chain rule through {stage.output} (index notation)"
    if len(staged.steps) > 3 and staged.steps[-1].rule.startswith("recognise"):
        rule = f"chain rule through {stage.output} = softmax({staged.wrt}): {stage.output} ∘ ({upstream} − " \
               f"rowsum({upstream} ∘ {stage.output}))"
    return Step(staged.steps[0].lhs, _shown(as_expr(staged.rule.terms), stages, stage), rule, ok, how, note, sub)


def derive_staged_layer(layer: Any, wrt: Sequence[str] | str | None = None) -> StagedDerivation:
    """Derive every input of ``layer``'s stages (see the module)."""
    stages = tuple(layer.tensor_stages())
    rules = stage_rules(stages)
    inputs = tuple(layer.inputs)
    names = inputs if wrt is None else requested_names(wrt, inputs, action="differentiate with respect to",
                                                       listing="the layer's inputs are")
    kind: Any = type(layer)
    verdicts = {staged: proven_tensor_steps(kind, staged.rule) for staged in rules}
    chain = prove_chain(kind, stages)
    steps: dict[str, tuple[Step, ...]] = {}
    results: dict[str, sp.Basic] = {}
    for name in names:
        path = _needed(rules, stages, name)
        steps[name] = tuple(_stage_step(s, stages, verdicts[s], chain if s.wrt == name else None) for s in path)
        results[name] = steps[name][-1].rhs
    definitions = tuple(
        Step(sp.IndexedBase(stage.output)[stage.indices], stage.body, "definition", True, "definition",
             f"Stage {k} of {len(stages)} of the forward in index notation"
             + ("; G = dE/dy is the upstream gradient." if k == len(stages) else "."))
        for k, stage in enumerate(stages, 1))
    tensors = {t.name: t for stage in stages for t in stage.tensors}
    return StagedDerivation(
        title=repr(layer),
        loss=sp.Symbol("E"),
        wrt=names,
        inputs=(*inputs, UPSTREAM),
        forward=definitions,
        symbols={name: sp.IndexedBase(name) for name in (*inputs, UPSTREAM)},
        shapes={name: tuple(tensors[name].dims) for name in inputs},
        program=(),
        outputs={},
        loss_value=sp.Symbol("E"),
        _steps=steps,
        _results=results,
        layer=layer,
    )


# -- the whole chain, proven ------------------------------------------------------------------------------


def _written(expr: sp.Basic, tables: Mapping[str, Mapping[tuple[int, ...], Any]]) -> sp.Basic:
    """``expr`` with its sums written out and every read looked up in ``tables`` (integer positions)."""
    if isinstance(expr, sp.Sum):
        values = [expr.function]
        for symbol, low, high in reversed(expr.limits):
            values = [v.xreplace({symbol: sp.Integer(k)}) for v in values for k in range(int(low), int(high) + 1)]
        return sp.Add(*(_written(v, tables) for v in values))
    if isinstance(expr, sp.Indexed):
        return tables[str(expr.base.label)][tuple(int(i) for i in expr.indices)]  # type: ignore[no-any-return]
    if not expr.args:
        return expr
    return expr.func(*(_written(arg, tables) for arg in expr.args))


def _prove_chain(stages: tuple[IndexForward, ...]) -> tuple[bool, str]:
    sizes = dict(stages[0].examples)
    produced = {stage.output for stage in stages}
    tensors = {t.name: t for stage in stages for t in stage.tensors if t.name not in produced}

    def dims(shape: Sequence[Any]) -> tuple[int, ...]:
        return tuple(int(sp.sympify(d).xreplace(sizes)) for d in shape)

    def entries(name: str, shape: tuple[int, ...]) -> dict[tuple[int, ...], Any]:
        return {e: sp.Symbol(f"{name}_{''.join(map(str, e))}", real=True)
                for e in itertools.product(*(range(n) for n in shape))}

    tables: dict[str, Any] = {name: entries(name, dims(t.dims)) for name, t in tensors.items()}
    for stage in stages:
        body = stage.body.xreplace(sizes)
        tables[stage.output] = {e: _written(body.xreplace(dict(zip(stage.indices, map(sp.Integer, e), strict=True))),
                                            tables) for e in itertools.product(*(range(n) for n in
                                                                                 dims(stage.output_dims())))}
    output = stages[-1]
    upstream = entries(UPSTREAM, dims(output.output_dims()))
    energy = sp.Add(*(g * tables[output.output][e] for e, g in upstream.items()))
    grads: dict[str, dict[tuple[int, ...], Any]] = {output.output: upstream}
    for staged in stage_rules(stages):
        expr = as_expr(staged.rule.terms).xreplace(sizes)
        local = {**tables, UPSTREAM: grads[staged.stage.output]}
        shape = dims(staged.stage.tensor(staged.wrt).dims)
        part = {e: _written(expr.xreplace(dict(zip(staged.rule.at, map(sp.Integer, e), strict=True))), local)
                for e in itertools.product(*(range(n) for n in shape))}
        previous = grads.get(staged.wrt)
        grads[staged.wrt] = part if previous is None else {e: previous[e] + part[e] for e in part}
    for name in tensors:
        for entry, symbol in tables[name].items():
            if not prove_equal(grads[name][entry], sp.diff(energy, symbol)):
                return False, f"the chain of stage rules disagrees with sympy.diff at d{name}{list(entry)}"
    shown = ", ".join(f"{s} = {v}" for s, v in sorted(sizes.items(), key=lambda kv: str(kv[0])))
    return True, (f"every entry of {', '.join('d' + n for n in tensors)} through the stages proven against sympy.diff "
                  f"of the composed forward ({shown})")


@functools.cache
def prove_chain(kind: Any, stages: tuple[IndexForward, ...]) -> tuple[bool, str]:
    """The whole chain proven (see the module); the verdict kept on disk for symgrad's own layer types."""
    import symgrad.index.staged  # noqa: F401  (its source is part of the key)

    base = proofcache.fingerprint(kind, 0)
    modules = [proofcache.module_hash(name) for name in ("symgrad.index.staged", __name__)]
    key = None if base is None or None in modules else hashlib.sha256(
        f"{base} staged chain {sp.srepr(stages)} {modules}".encode()).hexdigest()
    known = None if key is None else proofcache.load_verdict(key)
    if known is not None:
        return known
    ok, how = _prove_chain(stages)
    if key is not None:
        proofcache.store_verdict(key, ok, how)
    return ok, how
