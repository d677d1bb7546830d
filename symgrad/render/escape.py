r"""Escaping user-supplied text (names, titles, messages) for HTML, SVG and MathML.

Each output format has one escaping function, which every writer of that format uses for every
piece of text it did not write itself:

* LaTeX text: :func:`symgrad.render.printer.escape_latex_text`; LaTeX math (any name SymPy
  prints: symbols, functions, matrix symbols): :func:`symgrad.render.printer.escape_latex_name`,
  through :class:`~symgrad.render.printer.TexPrinter`, which MathML and HTML math start from too;
* Markdown: :func:`symgrad.render.markdown.escape_markdown`, and
  :func:`symgrad.render.markdown.escape_markdown_math` between ``$`` delimiters;
* HTML, SVG and MathML: :func:`escape_xml` (here);
* terminal text: :func:`symgrad.render.reporttext.escape_text`; JSON: ``json.dumps``.
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["escape_xml"]

# Characters XML 1.0 does not allow at all (a parser stops at them), even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def escape_xml(text: str, *, quote: bool = True) -> str:
    """``text`` as XML/HTML character data (or an attribute value, with ``quote``).

    ``& < >`` (and with ``quote`` ``" '``) become references; characters that XML forbids
    (control characters other than tab, newline and carriage return) are written as ``?``,
    so a name holding an ANSI escape still gives a well-formed document.

    Examples
    --------
    >>> escape_xml("<script>alert('x')</script> & \\x1b[2J")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; ?[2J'
    """
    return escape(_NOT_XML.sub("?", text), quote=quote)
