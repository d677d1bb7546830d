"""The base of layers whose forward is a small graph (batch norm, layer norm, recurrent cells).

A :class:`CompositeLayer` writes :meth:`graph` (its forward as primitives of
:mod:`symgrad.composite.ops`) and nothing else symbolic: ``matrix_forward`` and
``matrix_vjp`` here compose the graph and run its one backward sweep. A layer
may also name its usual mistakes as paths left out (:attr:`mistakes`): the
same sweep with a value cut (treated as a constant) gives the gradient such a
backward computes, which :func:`symgrad.check_layer` matches against a wrong
gradient to name it. SymPy is imported inside the methods only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from symgrad.layers.base import Layer

if TYPE_CHECKING:
    from sympy.matrices.expressions.matexpr import MatrixExpr

    from symgrad.composite.graph import Graph

__all__ = ["CompositeLayer", "Mistake"]


def _sigmoid_derivative() -> Any:
    from symgrad.functions import sigmoid
    from symgrad.matrixexpr import ZETA

    return sigmoid(ZETA) * (1 - sigmoid(ZETA))


def _tanh_as_sigmoid() -> Any:  # sigmoid's derivative written with tanh's output: g (1 - g)
    import sympy as sp

    from symgrad.matrixexpr import ZETA

    return sp.tanh(ZETA) * (1 - sp.tanh(ZETA))


def _negated_sigmoid_derivative() -> Any:  # the right derivative with the wrong sign (GRU's update gate)
    return -_sigmoid_derivative()


#: Derivative bodies in zeta that a mistake may put in place of the right one, by name.
_DERIVATIVES: Any = {"sigmoid' on tanh's output": _tanh_as_sigmoid, "sigmoid'": _sigmoid_derivative,
                     "-sigmoid'": _negated_sigmoid_derivative}


@dataclass(frozen=True)
class Mistake:
    """A usual mistake as a path left out: ``cut`` are the values a backward forgets to differentiate,
    ``mistake`` names it, ``fix`` says what to add."""

    mistake: str
    fix: str
    cut: tuple[str, ...] = ()
    #: Values whose local derivative is replaced: (name, derivative's name) (e.g. sigmoid' for the tanh gate).
    swap: tuple[tuple[str, str], ...] = ()
    #: Outputs whose upstream gradient the backward ignores (dc from the next step).
    drop: tuple[str, ...] = ()


class CompositeLayer(Layer):
    """A layer whose forward is :meth:`graph`; its rule is derived by :func:`symgrad.composite.sweep`."""

    #: The usual mistakes of this layer, as paths left out of its derived rule.
    mistakes: tuple[Mistake, ...] = ()

    def graph(self) -> Graph:
        """The forward as a graph: leaves (the input first, then the roles, then constants), values, outputs."""
        raise NotImplementedError

    def rule_key(self) -> tuple[Any, ...]:
        """What the derived rule depends on besides the class (a proof is kept per key)."""
        return (self.describe(),)

    def for_proof(self, features: int) -> CompositeLayer:
        """A copy of this layer at ``features`` input features, for the entrywise proof on small shapes."""
        raise NotImplementedError

    def rule_texts(self) -> dict[str, str]:
        """The closed forms of the forward (key ``"out"``) and of each gradient (``"x"``, each role) as plain
        text, as the textbooks print them: how a check names the rule it expected."""
        raise NotImplementedError

    def closed_forms(self, values: Mapping[str, Any], upstream: Any) -> dict[str, Any]:
        """The textbooks' closed form of some gradients (by ``"input"`` or role), in the graph's ``values``
        (symbols or composed expressions, by name) and the upstream gradient; shown and proven, never computed."""
        return {}

    def constants(self) -> dict[str, Any]:
        """Values of the graph's constant leaves (running statistics) as SymPy matrices."""
        return {}

    #: The graph's leaves that are inputs (the rest of the leaves: roles, then constants).
    inputs: tuple[str, ...] = ("x",)

    def input_sizes(self) -> dict[str, int]:
        """Each input's features (the batch is N)."""
        return {self.inputs[0]: self.in_features}  # type: ignore[attr-defined]

    def cell_vjp(
        self, upstream: Mapping[str, Any], env: Mapping[str, Any], *, mistake: Mistake | None = None
    ) -> dict[str, Any]:
        """dE/d(leaf) for every input and role, given each output's upstream gradient and every leaf's value
        (``mistake``: the gradients a backward making it computes)."""
        from symgrad.composite.graph import collected, forward_values

        graph = self.graph()
        values = forward_values(graph, {**env, **self.constants()})
        wanted = (*self.inputs, *self.roles)
        if mistake is None:
            return collected(graph, values, upstream, wanted)
        kept = {name: grad for name, grad in upstream.items() if name not in mistake.drop}
        swap = {name: _DERIVATIVES[kind]() for name, kind in mistake.swap}
        return collected(graph, values, kept, wanted, cut=mistake.cut, swap=swap)

    def _env(self, x: Any, params: Mapping[str, Any], graph: Graph) -> dict[str, Any]:
        env = {graph.leaves[0]: x, **{role: params[role] for role in self.roles}}
        env.update(self.constants())
        return env

    def matrix_forward(self, x: MatrixExpr, params: Mapping[str, MatrixExpr]) -> MatrixExpr:
        """The graph's output composed from x and the parameters."""
        from symgrad.composite.graph import forward_values

        graph = self.graph()
        return forward_values(graph, self._env(x, params, graph))[graph.outputs[0]]  # type: ignore[no-any-return]

    def matrix_vjp(
        self, upstream: MatrixExpr, x: MatrixExpr, params: Mapping[str, MatrixExpr], *, kink: Any = 0,
        cut: Sequence[str] = (),
    ) -> dict[str, MatrixExpr]:
        """dE/dx (key ``"input"``) and dE/d(role), derived by one sweep over :meth:`graph` (``cut``: values
        treated as constants, for the mistakes)."""
        from symgrad.composite.graph import collected, forward_values

        graph = self.graph()
        values = forward_values(graph, self._env(x, params, graph))
        first = graph.leaves[0]
        wanted = (first, *self.roles)
        grads = collected(graph, values, {graph.outputs[0]: upstream}, wanted, cut=cut)
        return {("input" if name == first else name): grad for name, grad in grads.items()}
