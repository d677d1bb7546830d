"""LaTeX to well-formed MathML that Chromium lays out, through latex2mathml.

latex2mathml does the parsing; this module repairs what browsers and XML
parsers stumble on:

* every result is parsed as XML, so a malformed conversion never reaches a
  document (it falls back to the LaTeX source in an ``<mtext>``);
* ``\\operatorname{relu}`` comes out as an operator ``<mo>relu</mo>``; a
  multi-letter ``<mo>`` is turned back into an identifier ``<mi>``;
* Chromium honours ``mathvariant`` only as "normal", so bold
  (``\\mathbf{1}``) is written with Unicode's mathematical bold letters.

SymPy's own MathML printer is not used: it lowercases function names.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert

__all__ = ["MATHML_NS", "latex_to_mathml", "math_element"]

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

_BOLD_OFFSETS = ((ord("A"), ord("Z"), 0x1D400), (ord("a"), ord("z"), 0x1D41A), (ord("0"), ord("9"), 0x1D7CE))


def _bold(text: str) -> str:
    """``text`` in Unicode mathematical bold (letters and digits)."""
    out = []
    for char in text:
        code = ord(char)
        for low, high, start in _BOLD_OFFSETS:
            if low <= code <= high:
                char = chr(start + code - low)
                break
        out.append(char)
    return "".join(out)


def _repair(root: ET.Element) -> None:
    for element in root.iter():
        text = element.text or ""
        if element.tag == "mo" and len(text) > 1 and text.isalpha():
            element.tag = "mi"  # \operatorname{relu}: a function name, not an operator
        if element.attrib.get("mathvariant") == "bold":
            del element.attrib["mathvariant"]
            element.text = _bold(text)


def _fallback(tex: str) -> ET.Element:
    root = ET.Element("math")
    mtext = ET.SubElement(root, "mtext")
    mtext.text = tex
    return root


def math_element(tex: str, *, block: bool = False, displaystyle: bool = True) -> ET.Element:
    """A ``<math>`` element (tags without namespace prefix) for the LaTeX ``tex``.

    The element carries ``xmlns`` as a plain attribute, so that serialising it
    gives ``<math xmlns="http://www.w3.org/1998/Math/MathML" ...>``.
    """
    try:
        raw = convert(tex)
        # latex2mathml's own output, not a reader's file: no entities, no DTD.
        root = ET.fromstring(raw.replace(f' xmlns="{MATHML_NS}"', "", 1))  # noqa: S314
    except Exception:  # latex2mathml raises many kinds; the source text is the safe answer
        root = _fallback(tex)
    _repair(root)
    root.attrib.clear()
    root.set("xmlns", MATHML_NS)
    root.set("display", "block" if block else "inline")
    if displaystyle:
        root.set("displaystyle", "true")
    return root


@functools.lru_cache(maxsize=8192)
def latex_to_mathml(tex: str, *, block: bool = False, displaystyle: bool = True) -> str:
    """Well-formed MathML for the LaTeX ``tex``.

    Parameters
    ----------
    tex : str
        LaTeX math (no ``$``), as :func:`symgrad.render.printer.latex_of` writes it.
    block : bool
        ``display="block"`` (a centred formula of its own) instead of inline.
    displaystyle : bool
        Typeset fractions at full size even inline (as in a table of equations).

    Examples
    --------
    >>> latex_to_mathml(r"\\operatorname{relu}\\left(z\\right)", displaystyle=False)  # doctest: +ELLIPSIS
    '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow><mi>relu</mi>...'
    >>> "\\U0001d7cf" in latex_to_mathml(r"\\mathbf{1}_{N}")
    True
    """
    return ET.tostring(math_element(tex, block=block, displaystyle=displaystyle), encoding="unicode")
