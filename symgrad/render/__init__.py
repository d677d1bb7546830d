"""Documents from derivations and check reports: LaTeX, MathML, Markdown, HTML and JSON.

Every :class:`~symgrad.Derivation` and :class:`~symgrad.CheckReport` renders
to each format; :func:`export` picks the format from a file's suffix. For the
derivation of a network the document shows the network and its forward
equations, the loss, a computational-graph figure with the values and
gradients at a seeded point, each parameter's chain rule with every step and
the elementary steps of each local derivative (each marked ✓ when proven
against ``sympy.diff``), the three-way check and the cost of finite
differences. The same input always gives the same bytes.

Options (keyword arguments; see :class:`symgrad.render.options.Options`):
``check`` (run the three-way check; by default yes for a network's
derivation in LaTeX, HTML and Markdown), ``seed``, ``report`` (a report
already computed), ``standalone`` and ``notebook`` (LaTeX), ``fragment``
(HTML), ``indent`` (JSON).

Examples
--------
>>> import symgrad
>>> d = symgrad.gradient("3*x + 4*y")
>>> print(to_markdown(d))  # doctest: +ELLIPSIS
# f = 3·x + 4·y
<BLANKLINE>
✓ All 14 steps are proven against sympy.diff.
...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symgrad.render.options import FORMATS

if TYPE_CHECKING:
    from symgrad.check import CheckReport
    from symgrad.derive import Derivation
    from symgrad.render.dispatch import SUFFIXES, export, render


# The writers (and latex2mathml) load on first use: the command's text output needs none of them.
def __getattr__(name: str) -> Any:
    if name in ("SUFFIXES", "export", "render"):
        from symgrad.render import dispatch

        value = getattr(dispatch, name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def _render(obj: Derivation | CheckReport, fmt: str, **options: Any) -> str:
    from symgrad.render.dispatch import render

    return render(obj, fmt, **options)

__all__ = ["FORMATS", "SUFFIXES", "export", "render", "to_html", "to_json", "to_latex", "to_markdown", "to_mathml"]


def to_latex(obj: Derivation | CheckReport, **options: Any) -> str:
    r"""``obj`` as LaTeX: by default a whole document that compiles with pdflatex.

    Options ``standalone=False`` give the body alone (it needs amsmath, amssymb
    and color); ``notebook=True`` gives one ``$$\begin{aligned}...$$`` block
    for Jupyter's MathJax.

    Examples
    --------
    >>> import symgrad
    >>> tex = to_latex(symgrad.gradient("3*x + 4*y"))
    >>> tex.startswith(r"\documentclass") and tex.endswith("\\end{document}\n")
    True
    >>> to_latex(symgrad.gradient("x"), notebook=True).startswith("$$")
    True
    """
    return _render(obj, "latex", **options)


def to_mathml(obj: Derivation | CheckReport, **options: Any) -> str:
    """``obj`` as one MathML ``<math>`` element (well-formed XML).

    Examples
    --------
    >>> import symgrad, xml.etree.ElementTree as ET
    >>> root = ET.fromstring(to_mathml(symgrad.gradient("3*x + 4*y")))
    >>> root.tag
    '{http://www.w3.org/1998/Math/MathML}math'
    """
    return _render(obj, "mathml", **options)


def to_markdown(obj: Derivation | CheckReport, **options: Any) -> str:
    """``obj`` as Markdown, math as GitHub renders it (``$...$``, ``$$...$$``).

    Examples
    --------
    >>> import symgrad
    >>> "| Step | Rule | Proven |" in to_markdown(symgrad.gradient("3*x + 4*y"))
    True
    """
    return _render(obj, "markdown", **options)


def to_html(obj: Derivation | CheckReport, **options: Any) -> str:
    """``obj`` as one self-contained HTML page (native MathML, inline CSS and SVG, no script).

    ``fragment=True`` gives a ``<div>`` to embed (what notebooks show).

    Examples
    --------
    >>> import symgrad
    >>> page = to_html(symgrad.gradient("3*x + 4*y"))
    >>> page.startswith("<!DOCTYPE html>") and "<script" not in page
    True
    """
    return _render(obj, "html", **options)


def to_json(obj: Derivation | CheckReport, **options: Any) -> str:
    """``obj`` as JSON: steps with LaTeX sides, rules and proofs; check rows with values as lists.

    Examples
    --------
    >>> import json, symgrad
    >>> data = json.loads(to_json(symgrad.gradient("3*x + 4*y")))
    >>> data["gradients"]["x"]["result"], data["gradients"]["x"]["verified"]
    ('3', True)
    """
    return _render(obj, "json", **options)
