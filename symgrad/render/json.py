"""JSON: the derivation's steps and the check's rows as data.

Expressions are LaTeX strings (as the other formats print them); arrays are
nested lists; floats are written by Python's ``repr`` (the shortest text that
reads back to the same float); NaN and infinities, which JSON has no word for,
become ``null``. Keys are sorted and the indentation is fixed, so the same
input gives the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import sympy as sp

from symgrad.check import CheckReport, CheckRow
from symgrad.derive import Derivation, Step
from symgrad.render.printer import latex_of

__all__ = ["FORMAT_VERSION", "derivation_data", "report_data", "write_json"]

#: Bumped when the layout of the JSON changes incompatibly.
FORMAT_VERSION = 1


def _plain(value: Any) -> Any:
    """NumPy and SymPy values as JSON values; non-finite floats as None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, complex):
        return _plain(value.real)
    if isinstance(value, sp.Integer):
        return int(value)
    if isinstance(value, sp.Basic):
        return str(value)
    return value


def _shape(shape: Any) -> Any:
    return None if shape is None else [_plain(dim) for dim in shape]


def step_data(step: Step) -> dict[str, Any]:
    """One step, its substeps nested."""
    return {
        "lhs": latex_of(step.lhs),
        "rhs": latex_of(step.rhs),
        "rule": step.rule,
        "verified": step.verified,
        "proof": step.proof,
        "note": step.note,
        "shape": _shape(step.shape),
        "substeps": [step_data(sub) for sub in step.substeps],
    }


def derivation_data(derivation: Derivation, report: CheckReport | None = None) -> dict[str, Any]:
    """A Derivation (and, if given, its check) as plain data."""
    network = derivation.network
    gradients = {
        name: {
            "result": latex_of(derivation.gradient(name)),
            "verified": all(step.verified for step in derivation.steps(name)),
            "steps": [step_data(step) for step in derivation.steps(name)],
        }
        for name in derivation.wrt
    }
    return {
        "symgrad": FORMAT_VERSION,
        "type": "derivation",
        "kind": "expression" if network is None else "network",
        "title": derivation.title,
        "network": None if network is None else network.describe(),
        "batched": derivation.batched,
        "kink": str(derivation.kink),
        "inputs": list(derivation.inputs),
        "wrt": list(derivation.wrt),
        "shapes": {name: _shape(shape) for name, shape in derivation.shapes.items()},
        "loss": latex_of(derivation.loss),
        "forward": [step_data(step) for step in derivation.forward],
        "gradients": gradients,
        "verified": derivation.verified,
        "check": None if report is None else report_data(report),
    }


def _row_data(row: CheckRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "shape": list(row.shape),
        "symbolic": _plain(np.asarray(row.symbolic, dtype=float)),
        "backward": _plain(np.asarray(row.backward, dtype=float)),
        "numeric": None if row.numeric is None else _plain(np.asarray(row.numeric, dtype=float)),
        "rel_error": _plain(row.rel_error),
        "elem_rel_error": _plain(row.elem_rel_error),
        "numeric_error": None if row.numeric_error is None else _plain(row.numeric_error),
        "abs_error": _plain(row.abs_error),
        "worst_index": _plain(row.worst_index),
        "worst_pair": row.worst_pair,
        "tolerances": _plain(dict(row.tolerances)),
        "status": row.status,
        "passed": row.passed,
        "message": row.message,
        "diagnosis": row.diagnosis,
    }


def report_data(report: CheckReport) -> dict[str, Any]:
    """A CheckReport as plain data."""
    direction = report.directional
    return {
        "symgrad": FORMAT_VERSION,
        "type": "check",
        "title": report.title,
        "ok": report.ok,
        "method": report.method,
        "mode": report.mode,
        "seed": report.seed,
        "point": "given" if report.given else "seeded",
        "evaluations": report.evaluations,
        "values": {name: _plain(np.asarray(value, dtype=float)) for name, value in report.values.items()},
        "rows": [_row_data(row) for row in report.rows],
        "messages": [row.message for row in report.rows if row.message],
        "notes": list(report.notes),
        "warnings": list(report.warnings),
        "dtype": report.dtype,
        "directional": None if direction is None else _plain({
            "directional": direction.directional, "claimed": direction.claimed, "abs_errors": direction.abs_errors,
            "rel_errors": direction.rel_errors, "evaluations": direction.evaluations, "method": direction.method,
        }),
    }


def write_json(obj: Derivation | CheckReport, report: CheckReport | None = None, *, indent: int = 2) -> str:
    """``obj`` as JSON text: sorted keys, no NaN, ending with a newline.

    Examples
    --------
    >>> import json, symgrad
    >>> text = write_json(symgrad.gradient("2*x"))
    >>> list(json.loads(text))[:4], text.endswith("}\\n")
    (['batched', 'check', 'forward', 'gradients'], True)
    """
    data = report_data(obj) if isinstance(obj, CheckReport) else derivation_data(obj, report)
    return json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
