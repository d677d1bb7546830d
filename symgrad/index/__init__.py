"""The one engine that derives every backward from a forward written in index notation.

``ir`` the notation (:class:`IndexForward`), ``differentiate`` each entry by
each input entry (Kronecker deltas), ``contract`` flattening sums and
eliminating deltas, ``vectorise`` recognising the matrix form, ``rules`` the
whole derivation with its index-level steps. It sits below the layers, beside
:mod:`symgrad.matrixexpr`: a layer's default ``matrix_vjp`` comes from here.
SymPy is imported by these modules, so the layers import them only inside
their symbolic methods.
"""

from symgrad.index.ir import IndexForward, RowSumsToOne, Tensor, index, indices
from symgrad.index.rules import IndexRule, IndexStep, derive_rule, matrix_form, matrix_rules, rule_steps

__all__ = [
    "IndexForward", "IndexRule", "IndexStep", "RowSumsToOne", "Tensor", "derive_rule", "index", "indices",
    "matrix_form", "matrix_rules", "rule_steps",
]
