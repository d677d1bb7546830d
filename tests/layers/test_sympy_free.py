"""The curriculum's textbook references import no SymPy: they are the check's NumPy side, which the
``symgrad`` command runs with no SymPy loaded (see tests/derive/test_artifacts.py for the command path)."""

from __future__ import annotations

import subprocess
import sys

REFERENCE_MODULES = (
    "symgrad.layers.arguments",
    "symgrad.layers.attention",
    "symgrad.layers.classify",
    "symgrad.layers.conv",
    "symgrad.layers.dropout",
    "symgrad.layers.embedding",
    "symgrad.layers.norm",
    "symgrad.layers.recurrent",
)


def test_the_reference_modules_import_no_sympy() -> None:
    code = (
        f"import {', '.join(REFERENCE_MODULES)}, sys\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'mpmath')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
