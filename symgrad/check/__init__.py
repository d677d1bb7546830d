"""Checking: symbolic vs backward() vs finite differences, for networks and users' layers."""

# Imported on first use (PEP 562): the command checks a network without loading check_layer's
# diagnoses (symgrad.check.layer and symgrad.check.diagnose), a fifth of its start-up.
from typing import TYPE_CHECKING

from symgrad._lazy import lazy_exports

if TYPE_CHECKING:
    from symgrad.check.layer import check_layer
    from symgrad.check.report import CheckReport, CheckRow, check

__all__ = ["CheckReport", "CheckRow", "check", "check_layer"]

_LAZY = {"CheckReport": "report", "CheckRow": "report", "check": "report", "check_layer": "layer"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
