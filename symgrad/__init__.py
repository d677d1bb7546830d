"""symgrad: explain and verify backpropagation.

Derive every partial derivative of a network's loss by the chain rule, layer by
layer, with each step proven against a direct ``sympy.diff``; compile the result
to NumPy; and check it three ways against the layers' ``backward()`` and finite
differences.

Examples
--------
>>> import symgrad
>>> d = symgrad.derive(symgrad.article_network())
>>> d.gradient("w1")
w2*x*(b2 - t + w2*(b1 + w1*x))
>>> symgrad.check(symgrad.article_network()).ok
True
"""

from symgrad.check import CheckReport, CheckRow, check, check_layer
from symgrad.derive import Derivation, Step, derive, gradient
from symgrad.errors import (
    ComplexityError,
    DTypeError,
    LayerError,
    NonFiniteError,
    ParseError,
    ShapeError,
    SpecError,
    SymgradError,
    UnknownNameError,
    UnsafeExpressionError,
)
from symgrad.layers import Affine, HalfSquaredError, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from symgrad.network import Network, article_network
from symgrad.render import export

__version__ = "0.1.0"

__all__ = [
    "Affine",
    "CheckReport",
    "CheckRow",
    "ComplexityError",
    "DTypeError",
    "Derivation",
    "HalfSquaredError",
    "LayerError",
    "MeanSquaredError",
    "Network",
    "NonFiniteError",
    "ParseError",
    "ReLU",
    "ShapeError",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "SpecError",
    "Step",
    "SymgradError",
    "Tanh",
    "UnknownNameError",
    "UnsafeExpressionError",
    "article_network",
    "check",
    "check_layer",
    "derive",
    "export",
    "gradient",
]
