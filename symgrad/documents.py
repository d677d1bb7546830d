"""``Documented``: the doors from symgrad's plain data to its documents.

Derivations and check reports are plain data on the lower floors; the renderers
live upstairs in :mod:`symgrad.render`. These methods import the renderers only
when called, so the data classes never depend on them at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Documented"]


class Documented:
    """Mixin giving ``to_latex``, ``to_mathml``, ``to_markdown``, ``to_html``, ``to_json`` and notebook reprs."""

    __slots__ = ()

    def _document_source(self) -> Any:
        # The renderers take a Derivation or a CheckReport: the subclasses of this mixin.
        return self

    def to_latex(self, **options: Any) -> str:
        """A LaTeX document (see :func:`symgrad.render.to_latex`)."""
        from symgrad.render import to_latex

        return to_latex(self._document_source(), **options)

    def to_mathml(self, **options: Any) -> str:
        """MathML (see :func:`symgrad.render.to_mathml`)."""
        from symgrad.render import to_mathml

        return to_mathml(self._document_source(), **options)

    def to_markdown(self, **options: Any) -> str:
        """Markdown with GitHub math (see :func:`symgrad.render.to_markdown`)."""
        from symgrad.render import to_markdown

        return to_markdown(self._document_source(), **options)

    def to_html(self, **options: Any) -> str:
        """One self-contained HTML page (see :func:`symgrad.render.to_html`)."""
        from symgrad.render import to_html

        return to_html(self._document_source(), **options)

    def to_json(self, **options: Any) -> str:
        """JSON (see :func:`symgrad.render.to_json`)."""
        from symgrad.render import to_json

        return to_json(self._document_source(), **options)

    def export(self, path: Any, **options: Any) -> Any:
        """Write to ``path`` in the format its suffix names (see :func:`symgrad.render.export`).

        Examples
        --------
        >>> import symgrad, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> symgrad.gradient("3*x").export(folder / "f.md").name
        'f.md'
        """
        from symgrad.render import export

        return export(self._document_source(), path, **options)

    def _repr_latex_(self) -> str:
        from symgrad.render import to_latex

        return to_latex(self._document_source(), standalone=False, notebook=True)

    def _repr_html_(self) -> str:
        from symgrad.render import to_html

        return to_html(self._document_source(), fragment=True)
