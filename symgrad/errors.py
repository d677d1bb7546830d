"""Exceptions raised by symgrad, one type per kind of user mistake.

Every error a user can provoke with bad input is a :class:`SymgradError`, so
``except symgrad.SymgradError`` catches them all. Each subclass also derives
from the matching built-in (``ValueError``, ``TypeError``, ...), so code
written against the built-ins keeps working.
"""

from __future__ import annotations

__all__ = [
    "ComplexityError",
    "DTypeError",
    "LayerError",
    "NonFiniteError",
    "ParseError",
    "ShapeError",
    "SpecError",
    "SymgradError",
    "UndefinedValueError",
    "UnknownNameError",
    "UnsafeExpressionError",
]


class SymgradError(Exception):
    """Base class of every error symgrad raises on bad input."""


class ParseError(SymgradError, ValueError):
    """An expression string could not be parsed."""


class UnsafeExpressionError(ParseError):
    """An expression string uses a construct that symgrad refuses to evaluate."""


class SpecError(SymgradError, ValueError):
    """A network spec names an unknown layer or breaks the spec grammar."""


class UnknownNameError(SymgradError, ValueError):
    """A name (parameter, variable, layer, format) is not one symgrad knows."""


class ShapeError(SymgradError, ValueError):
    """An array or a layer has a shape other than the one expected."""


class DTypeError(SymgradError, TypeError):
    """An array has a dtype symgrad cannot differentiate (integer, object, ...)."""


class NonFiniteError(SymgradError, ValueError):
    """A value is NaN or infinite."""


class UndefinedValueError(SymgradError, ValueError):
    """A result has no real value: complex infinity (a division by zero), an infinity, NaN,
    or a complex number from real inputs."""


class LayerError(SymgradError):
    """A user's layer broke the forward/backward protocol or raised."""


class ComplexityError(SymgradError):
    """Symbolic work exceeded symgrad's size or time guard."""
