"""``render(obj, fmt)`` and ``export(obj, path)``: one entry point for every format."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from symgrad.check import CheckReport
from symgrad.derive import Derivation
from symgrad.errors import UnknownNameError
from symgrad.render.content import build_document, resolve_report
from symgrad.render.document import Document
from symgrad.render.html import write_html
from symgrad.render.json import write_json
from symgrad.render.latex import write_latex
from symgrad.render.markdown import write_markdown
from symgrad.render.mathml import write_mathml
from symgrad.render.notebook import write_notebook_latex
from symgrad.render.options import FORMATS, Options, parse_options, require_renderable

__all__ = ["SUFFIXES", "export", "render"]

#: File suffix -> format, for :func:`export`.
SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".tex": "latex",
    ".md": "markdown",
    ".json": "json",
    ".mml": "mathml",
    ".mathml": "mathml",
    ".xml": "mathml",
}


def _latex(document: Document, options: Options) -> str:
    if options.notebook:
        return write_notebook_latex(document)
    return write_latex(document, standalone=options.standalone)


_WRITERS: dict[str, Callable[[Document, Options], str]] = {
    "latex": _latex,
    "mathml": lambda document, options: write_mathml(document),
    "markdown": lambda document, options: write_markdown(document),
    "html": lambda document, options: write_html(document, fragment=options.fragment),
}


def render(obj: Derivation | CheckReport, fmt: str, **options: Any) -> str:
    """``obj`` as text in format ``fmt`` (latex, mathml, markdown, html or json).

    Parameters
    ----------
    obj : Derivation or CheckReport
        What to render.
    fmt : str
        One of :data:`symgrad.render.options.FORMATS`.
    **options
        See :class:`symgrad.render.options.Options`.

    Raises
    ------
    UnknownNameError
        For an unknown format or option, or an object that cannot be rendered.

    Examples
    --------
    >>> import symgrad
    >>> text = render(symgrad.gradient("3*x + 4*y"), "markdown")
    >>> text.splitlines()[0]
    '# f = 3·x + 4·y'
    >>> render(symgrad.gradient("x"), "pdf")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: unknown format 'pdf'; the formats are latex, mathml, markdown, html, json
    """
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}"
        raise UnknownNameError(msg)
    target = require_renderable(obj)
    parsed = parse_options(fmt, options)
    report = resolve_report(target, parsed, fmt)
    if fmt == "json":
        return write_json(target, report, indent=parsed.indent)
    return _WRITERS[fmt](build_document(target, report, parsed.view), parsed)


def export(obj: Derivation | CheckReport, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write ``obj`` to ``path`` in the format its suffix names; UTF-8, ``\\n`` newlines.

    Parameters
    ----------
    obj : Derivation or CheckReport
        What to write.
    path : str or path-like
        Its suffix picks the format: .html/.htm, .tex, .md, .json, .mml/.xml (MathML).
    **options
        Passed to the renderer (see :class:`symgrad.render.options.Options`).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    UnknownNameError
        If the suffix names no format.

    Examples
    --------
    >>> import symgrad, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> export(symgrad.gradient("3*x + 4*y"), folder / "f.json").name
    'f.json'
    >>> export(symgrad.gradient("x"), folder / "f.pdf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: cannot export to 'f.pdf': unknown suffix '.pdf'; use one of .html, .htm, ...
    """
    if not isinstance(path, (str, os.PathLike)):
        msg = f"export() needs a file path (str or pathlib.Path), got {type(path).__name__}"
        raise UnknownNameError(msg)
    target = Path(path)
    fmt = SUFFIXES.get(target.suffix.lower())
    if fmt is None:
        shown = repr(target.suffix) if target.suffix else "(none)"
        msg = f"cannot export to {target.name!r}: unknown suffix {shown}; use one of {', '.join(SUFFIXES)}"
        raise UnknownNameError(msg)
    text = render(obj, fmt, **options)
    with target.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return target
