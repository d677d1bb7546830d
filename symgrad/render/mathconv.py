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


#: A formula longer than this (in LaTeX characters) is cut into pieces the browser may wrap between.
WRAP_AFTER = 60

_OPERATORS = ("+", "-", r"\circ", r"\cdot", r"\odot", r"\times")
_FENCES = {r"\left(": "(", r"\left[": "[", r"\left\{": r"\{", r"\left.": "",
           r"\right)": ")", r"\right]": "]", r"\right\}": r"\}", r"\right.": ""}


def _scan(tex: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Break points (before an operator outside any brace group) and the spans of \\left...\\right pairs."""
    breaks: list[int] = []
    pairs: list[tuple[int, int]] = []
    opened: list[int] = []
    depth, index, previous = 0, 0, ""  # previous: the last token outside spaces
    while index < len(tex):
        char = tex[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "\\":
            word = tex[index + 1:index + 2]
            end = index + 2
            while word.isalpha() and end < len(tex) and tex[end].isalpha():
                end += 1
            token = tex[index:end]
            if token in (r"\left", r"\right") and end < len(tex):
                token = tex[index:end + (2 if tex[end] == "\\" else 1)]
                end = index + len(token)
            if depth == 0 and token.startswith(r"\left"):
                if previous in ("}", r"\right)", r"\right]"):
                    breaks.append(index)
                opened.append(index)
            elif depth == 0 and token.startswith(r"\right") and opened:
                pairs.append((opened.pop(), index))
            elif depth == 0 and token in _OPERATORS and previous not in ("", "(", "[", *_OPERATORS) \
                    and not previous.startswith(r"\left"):
                breaks.append(index)
            previous = token
            index = end
            continue
        if depth == 0 and char in "+-" and previous not in ("", "(", "[", "{", *_OPERATORS) \
                and not previous.startswith(r"\left"):
            breaks.append(index)
        if not char.isspace():
            previous = char
        index += 1
    return breaks, pairs


def wrap_pieces(tex: str, limit: int = WRAP_AFTER) -> list[str]:
    r"""``tex`` cut before its operators, for a browser to wrap a long formula between the pieces.

    Cuts fall outside brace groups (a fraction, a subscript stays whole); a ``\left(...\right)``
    pair that a cut crosses becomes plain parentheses. A formula of at most ``limit`` characters
    stays whole.

    Examples
    --------
    >>> wrap_pieces(r"x^{T} \left(a + \frac{b + c}{2}\right) - d", limit=10)
    ['x^{T}', '(a', '+ \\frac{b + c}{2})', '- d']
    >>> wrap_pieces(r"\sigma\left(- t + y\right)", limit=10)
    ['\\sigma(- t', '+ y)']
    >>> wrap_pieces("a + b")
    ['a + b']
    """
    if len(tex) <= limit:
        return [tex]
    breaks, pairs = _scan(tex)
    if not breaks:
        return [tex]
    crossed = {position for left, right in pairs if any(left < cut < right for cut in breaks)
               for position in (left, right)}
    pieces, start = [], 0
    for cut in [*breaks, len(tex)]:
        piece = tex[start:cut]
        for position in sorted((p for p in crossed if start <= p < cut), reverse=True):
            offset = position - start
            for fence, plain in _FENCES.items():
                if piece.startswith(fence, offset) and (position in crossed):
                    piece = piece[:offset] + plain + piece[offset + len(fence):]
                    break
        if piece.strip():
            pieces.append(piece.strip())
        start = cut
    return pieces
