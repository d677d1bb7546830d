"""``Derivation.export(path)``: a thin door to :func:`symgrad.export` (issue 12)."""

from __future__ import annotations

import symgrad


def test_the_export_method_writes_what_symgrad_export_writes(tmp_path):
    derivation = symgrad.gradient("3*x + 4*y")
    written = derivation.export(tmp_path / "a.html")
    symgrad.export(derivation, tmp_path / "b.html")
    assert written == tmp_path / "a.html"
    assert written.read_bytes() == (tmp_path / "b.html").read_bytes()
