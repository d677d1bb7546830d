"""The derivation of one N-D layer (convolution, pooling, embedding, a user's index-notation layer).

``symgrad.derive(Conv2d(3, 16, 3, pad=1))`` gives, for each differentiable
input of the layer's forward (its ``tensor_forward``), the index-level steps
(the chain rule entry by entry, the Kronecker deltas, their elimination) and
the vectorised form: a scatter-add ``dx[p, q, i + u - 1, j + v - 1] += Σ_f
G[p,f,i,j] W[f,q,u,v]`` for every window a read came from, an einsum for the
rest. Every step is proven entrywise against ``sympy.diff``
(:mod:`symgrad.derive.tensorproof`). ``lambdify()`` compiles the rules to
NumPy (:mod:`symgrad.numeric.tensorcompile`).

In a network, each application of an N-D layer reuses this derivation
(:mod:`symgrad.derive.tensorgraph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad.derive.convform import conv_closed_steps, pool_words
from symgrad.derive.derivation import Derivation
from symgrad.derive.steps import Step
from symgrad.derive.tensorproof import proven_tensor_steps
from symgrad.errors import UnknownNameError
from symgrad.index.contract import Term, as_expr
from symgrad.index.rules import UPSTREAM, IndexRule, derive_rule
from symgrad.index.tensorform import _split, scatter_terms
from symgrad.network import requested_names

__all__ = ["TensorDerivation", "derive_tensor_layer", "is_tensor_layer"]


def is_tensor_layer(obj: Any) -> bool:
    """Whether ``obj`` is a symgrad layer with an N-D forward in index notation."""
    return callable(getattr(obj, "tensor_forward", None))


@dataclass(frozen=True, eq=False)
class TensorDerivation(Derivation):
    """A :class:`Derivation` of one N-D layer; ``lambdify()`` compiles its rules for given arrays."""

    layer: Any = None

    def lambdify(self) -> Callable[..., dict[str, np.ndarray]]:  # type: ignore[override]
        """``f(G=..., x=..., W=...)`` -> ``{name: gradient}``, compiled for the shapes it is called with."""
        forward = self.layer.tensor_forward()
        wrt = self.wrt

        def gradients(**arrays: Any) -> dict[str, np.ndarray]:
            from symgrad.numeric.tensorcompile import compiled_layer

            needed = [t.name for t in forward.tensors] + [UPSTREAM]
            missing = [name for name in needed if name not in arrays]
            if missing:
                msg = f"the layer's gradient needs {', '.join(needed)}; missing {', '.join(missing)}"
                raise UnknownNameError(msg)
            values = {name: np.asarray(arrays[name]) for name in needed}
            shapes = tuple((t.name, values[t.name].shape) for t in forward.tensors)
            compiled = compiled_layer(forward, shapes)
            return {name: compiled.grads[name](values) for name in wrt}

        return gradients


def _vectorised_steps(rule: IndexRule, verdict: tuple[bool, str], words: str = "") -> tuple[Step, ...]:
    """One step per term of the rule: a scatter-add where a delta ties the entry to a window or a lookup,
    an einsum (a sum of products of reads) otherwise."""
    steps = []
    for statement in scatter_terms(rule):
        over = ", ".join(map(str, statement.over))
        steps.append(Step(statement.lhs, statement.value, f"scatter-add (+= for every {over})", *verdict,
                          f"Vectorised: {statement.words()}.{words}"))
    lhs = rule.steps[0].lhs
    for term in rule.terms:
        positions, _, _ = _split(term, rule.at)
        if tuple(positions) != tuple(rule.at):
            continue
        summed = ", ".join(map(str, term.summed()))
        how = (f"one np.einsum over the reads, summed over {summed}" if summed
               else "entrywise (broadcast), no sum left")
        steps.append(Step(lhs, Term(term.factor, term.sums).as_expr(), "einsum", *verdict,
                          f"Vectorised: {how}; a sum inside a nonlinear function is computed once, as an array "
                          "over its own free indices."))
    return tuple(steps)


def derive_tensor_layer(layer: Any, wrt: Sequence[str] | str | None = None, *,
                        forward: Any = None) -> TensorDerivation:
    """Derive every differentiable input of ``layer``'s forward (see the module); ``forward``: the layer's
    forward for a given input (a Flatten's for 2-D input), by default ``layer.tensor_forward()``."""
    forward = layer.tensor_forward() if forward is None else forward
    names = tuple(t.name for t in forward.tensors if not t.integer)
    names = names if wrt is None else requested_names(wrt, names, action="differentiate with respect to",
                                                     listing="the layer's tensors are")
    kind: Any = type(layer) if type(layer).__module__.startswith("symgrad.layers.") and not hasattr(
        layer, "source") else None
    steps: dict[str, tuple[Step, ...]] = {}
    results: dict[str, sp.Basic] = {}
    for name in names:
        rule = derive_rule(forward, name)
        verdicts = proven_tensor_steps(kind, rule)
        sub = tuple(Step(s.lhs, s.rhs, s.rule, ok, how, s.note)
                    for s, (ok, how) in zip(rule.steps, verdicts, strict=False))
        sub += _vectorised_steps(rule, verdicts[-1], pool_words(layer))
        sub += conv_closed_steps(layer, rule)  # the textbook's form, proven equal, last
        result = as_expr(rule.terms)
        ok = all(v for v, _ in verdicts)
        note = (f"The gradient of E with respect to each entry of {name}, derived from the forward in index "
                "notation, then vectorised.")
        steps[name] = (Step(rule.steps[0].lhs, result, "index notation", ok, verdicts[-1][1], note, sub),)
        results[name] = result
    output = sp.IndexedBase(forward.output)[forward.indices]
    definition = Step(output, forward.body, "definition", True, "definition",
                      f"The forward of {getattr(layer, 'kind', '') or type(layer).__name__} in index notation; "
                      f"{UPSTREAM} = dE/d{forward.output} is the upstream gradient.")
    symbols: Mapping[str, Any] = {t.name: sp.IndexedBase(t.name) for t in forward.tensors}
    return TensorDerivation(
        title=str(getattr(layer, "kind", "")) if hasattr(layer, "source") else repr(layer),
        loss=sp.Symbol("E"),
        wrt=names,
        inputs=(*(t.name for t in forward.tensors), UPSTREAM),
        forward=(definition,),
        symbols=symbols,
        shapes={t.name: tuple(t.dims) for t in forward.tensors},
        program=(),
        outputs={},
        loss_value=sp.Symbol("E"),
        _steps=steps,
        _results=results,
        layer=layer,
    )
