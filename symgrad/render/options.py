"""The options every renderer takes, checked once: unknown names and wrong types are refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symgrad.check import CheckReport
from symgrad.derive import Derivation
from symgrad.errors import UnknownNameError

__all__ = ["FORMATS", "Options", "parse_options", "require_renderable"]

#: The formats and the options each accepts (beyond the common ones).
FORMATS: dict[str, tuple[str, ...]] = {
    "latex": ("standalone", "notebook", "view"),
    "mathml": ("view",),
    "markdown": ("view",),
    "html": ("fragment", "view"),
    "json": ("indent",),
}

_COMMON = ("check", "seed", "report", "values")


@dataclass(frozen=True)
class Options:
    """Rendering options.

    Attributes
    ----------
    check : bool or None
        Run the three-way check and include its table, figure values and cost.
        None (the default) means yes for a network's derivation in LaTeX,
        HTML and Markdown, no otherwise.
    seed : int
        Seed of the check's sample point.
    report : CheckReport or None
        A report already computed (then ``check``, ``seed`` and ``values`` are not needed).
    values : mapping or None
        The point to check at and to show each step's value at (x, t and every parameter),
        instead of the point drawn with ``seed``; the document names it as the given point.
    standalone : bool
        LaTeX: a complete document that compiles with pdflatex (default), or the body alone.
    notebook : bool
        LaTeX: math only, for Jupyter's MathJax (``_repr_latex_``).
    fragment : bool
        HTML: a ``<div>`` for embedding (``_repr_html_``) instead of a whole page.
    indent : int
        JSON: indentation (2 by default).
    view : str
        A network's derivation: ``"sweep"`` (the default) shows the forward pass, then one
        backward sweep from E to the inputs, each gradient derived once, numbered and
        referred to by later steps; ``"chains"`` shows each parameter's own chain from E.
        Not for JSON (it carries every step of every gradient).
    """

    check: bool | None = None
    seed: int = 0
    report: CheckReport | None = None
    values: Mapping[str, Any] | None = None
    standalone: bool = True
    notebook: bool = False
    fragment: bool = False
    indent: int = 2
    view: str = "sweep"


def _require(name: str, value: Any, kind: type | tuple[type, ...], expected: str) -> None:
    wrong_type = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong_type or (kind is int and value < 0):
        msg = f"option {name}={value!r} is not allowed: expected {expected}"
        raise UnknownNameError(msg)


def parse_options(fmt: str, options: Mapping[str, Any]) -> Options:
    """Check ``options`` for format ``fmt`` and return them as :class:`Options`.

    Examples
    --------
    >>> parse_options("html", {"fragment": True}).fragment
    True
    >>> parse_options("json", {"fragment": True})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: unknown option 'fragment' for json; the options are check, seed, report, ...
    """
    allowed = (*_COMMON, *FORMATS[fmt])
    for name in options:
        if name not in allowed:
            msg = f"unknown option {name!r} for {fmt}; the options are {', '.join(allowed)}"
            raise UnknownNameError(msg)
    for name in ("standalone", "notebook", "fragment"):
        if name in options:
            _require(name, options[name], bool, "True or False")
    if options.get("check") is not None:
        _require("check", options["check"], bool, "True, False or None")
    for name in ("seed", "indent"):
        if name in options:
            _require(name, options[name], int, "a non-negative integer")
    if "view" in options and options["view"] not in ("sweep", "chains"):
        msg = f"option view={options['view']!r} is not allowed: expected 'sweep' or 'chains'"
        raise UnknownNameError(msg)
    if options.get("values") is not None and not isinstance(options["values"], Mapping):
        msg = f"option values={options['values']!r} is not allowed: expected a mapping of name to value"
        raise UnknownNameError(msg)
    if options.get("report") is not None:
        _require("report", options["report"], CheckReport, "a CheckReport from symgrad.check()")
    return Options(**options)


def require_renderable(obj: object) -> Derivation | CheckReport:
    """``obj`` if it is a Derivation or a CheckReport, else UnknownNameError.

    Examples
    --------
    >>> require_renderable("f = x")
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: can only render a Derivation or a CheckReport, got str
    """
    if not isinstance(obj, (Derivation, CheckReport)):
        msg = f"can only render a Derivation or a CheckReport, got {type(obj).__name__}"
        raise UnknownNameError(msg)
    return obj
