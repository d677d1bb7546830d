"""Composite layers: a forward written as a small graph of primitives, its backward derived by one sweep.

Batch norm is μ, x − μ, σ², √(σ²+ε), x̂, γx̂ + β; an LSTM cell is a matrix product,
four column slices, three sigmoids and two tanh. Each layer of this kind writes
its forward once, as a :class:`~symgrad.composite.graph.Graph` of the primitives in
:mod:`symgrad.composite.ops` (each primitive's forward beside its local rule),
and :func:`~symgrad.composite.graph.sweep` derives the backward: reverse
topological order, each value's gradient once, contributions summed where a
value feeds several consumers. The layer's ``matrix_forward`` and
``matrix_vjp`` read the result, so the chain rule, the three-way check and
``check_layer`` use the derived rule like any other. The proofs (each primitive
rule entrywise against ``sympy.diff``, the whole rule too) and the document's
steps are built on the derive floor (:mod:`symgrad.derive.compositesteps`).

Like :mod:`symgrad.index`, this sits below the layers; it imports SymPy, so the
layers import it inside their symbolic methods only.
"""

from symgrad.composite.graph import Graph, Value, collected, forward_values, sweep

__all__ = ["Graph", "Value", "collected", "forward_values", "sweep"]
