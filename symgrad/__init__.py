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

# The names below are imported on first use (PEP 562), so that ``import symgrad``
# and the pytest plugin (loaded in every pytest run of everyone who installs
# symgrad) stay cheap: SymPy and NumPy load when something needs them.
import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from symgrad.errors import (
    ComplexityError,
    DTypeError,
    LayerError,
    NonFiniteError,
    ParseError,
    ShapeError,
    SpecError,
    SymgradError,
    UndefinedValueError,
    UnknownNameError,
    UnsafeExpressionError,
)

if TYPE_CHECKING:
    from symgrad.check import CheckReport, CheckRow, HessianReport, check, check_hessian, check_layer
    from symgrad.derive import Derivation, Step, derive, gradient
    from symgrad.graph import Input, concat, sum_squares, total
    from symgrad.layers import (
        Affine,
        AvgPool2d,
        BatchNorm,
        Conv2d,
        Dropout,
        Embedding,
        Flatten,
        HalfSquaredError,
        LayerNorm,
        MaxPool2d,
        MeanSquaredError,
        ReLU,
        Sigmoid,
        SigmoidCrossEntropy,
        Softmax,
        SoftmaxCrossEntropy,
        Tanh,
        activation,
        layer,
    )
    from symgrad.network import Network, article_network, network_from_spec
    from symgrad.render import export

#: Where each lazily imported public name lives.
_LAZY = {
    **dict.fromkeys(
        ("CheckReport", "CheckRow", "HessianReport", "check", "check_hessian", "check_layer"), "symgrad.check"
    ),
    **dict.fromkeys(("Derivation", "Step", "derive", "gradient"), "symgrad.derive"),
    **dict.fromkeys(
        ("Affine", "HalfSquaredError", "MeanSquaredError", "ReLU", "Sigmoid", "SoftmaxCrossEntropy", "Tanh",
         "activation", "BatchNorm", "LayerNorm"),
        "symgrad.layers",
    ),
    **dict.fromkeys(("Dropout", "SigmoidCrossEntropy", "Softmax", "SVMLoss"), "symgrad.layers"),
    **dict.fromkeys(("Network", "article_network", "network_from_spec"), "symgrad.network"),
    "export": "symgrad.render",
    **dict.fromkeys(("AvgPool2d", "Conv2d", "Embedding", "Flatten", "MaxPool2d", "layer"), "symgrad.layers"),
    **dict.fromkeys(("Input", "concat", "sum_squares", "total"), "symgrad.graph"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:  # a submodule, e.g. symgrad.layers after a bare ``import symgrad``
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``symgrad.check`` the function when the subpackage of the same name is imported.

    Importing ``symgrad.check`` (the subpackage) makes Python set the package
    attribute ``check`` to that module; with lazy imports that can happen after
    (or before) the function was looked up, so the module is kept out.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__version__ = "0.1.0"

__all__ = [
    "Affine",
    "AvgPool2d",
    "BatchNorm",
    "CheckReport",
    "CheckRow",
    "ComplexityError",
    "Conv2d",
    "DTypeError",
    "Derivation",
    "Dropout",
    "Embedding",
    "Flatten",
    "HalfSquaredError",
    "HessianReport",
    "Input",
    "LayerError",
    "LayerNorm",
    "MaxPool2d",
    "MeanSquaredError",
    "Network",
    "NonFiniteError",
    "ParseError",
    "ReLU",
    "SVMLoss",
    "ShapeError",
    "Sigmoid",
    "SigmoidCrossEntropy",
    "Softmax",
    "SoftmaxCrossEntropy",
    "SpecError",
    "Step",
    "SymgradError",
    "Tanh",
    "UndefinedValueError",
    "UnknownNameError",
    "UnsafeExpressionError",
    "activation",
    "article_network",
    "check",
    "check_hessian",
    "check_layer",
    "concat",
    "derive",
    "export",
    "gradient",
    "layer",
    "network_from_spec",
    "sum_squares",
    "total",
]
