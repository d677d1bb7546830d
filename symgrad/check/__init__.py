"""Checking: symbolic vs backward() vs finite differences, for networks and users' layers."""

from symgrad.check.layer import check_layer
from symgrad.check.report import CheckReport, CheckRow, check

__all__ = ["CheckReport", "CheckRow", "check", "check_layer"]
