"""LaTeX of derivation expressions, written the way a textbook writes them.

A small subclass of SymPy's ``LatexPrinter``:

* gradient symbols ``dE/dw1`` (Symbol or MatrixSymbol) print as
  ``\\frac{\\partial E}{\\partial w_{1}}``;
* the unevaluated ``Mul(G, local)`` of a chain-rule step keeps its order
  (upstream gradient first), with ``\\cdot`` before a numeric factor;
* ``Derivative(expr, x)`` prints as ``\\frac{\\partial}{\\partial x}\\left(expr\\right)``;
* SymPy's ``OneMatrix`` (the broadcast of a bias over the batch) prints as a
  bold one, ``\\mathbf{1}_{N}``;
* sums and products in the canonical order of :mod:`symgrad.render.canonical`
  (``y - t``, ``2 (y - t)``, ``\\sigma(z) (1 - \\sigma(z))``), as the text printer shows them.

Everything here is a pure function of the expression, so documents are
byte-identical from run to run.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symgrad.render.canonical import negative_matrix_term, shown_product, shown_sum

__all__ = ["TexPrinter", "escape_latex_name", "escape_latex_text", "latex_of", "name_latex"]

#: "dE/dw1", "df/dx": the name of a gradient symbol (the variable's name is escaped like any other).
_GRADIENT = re.compile(r"d([A-Za-z])/d(.+)", re.DOTALL)

#: Names that SymPy's printer may typeset itself (w1 -> w_{1}, alpha -> \alpha): it emits only
#: its own commands for them. Every other name goes through :func:`escape_latex_name`.
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

#: Math-mode LaTeX for the characters of a name that TeX, MathJax, KaTeX or latex2mathml would
#: read as markup; each is understood alike by all four. Letters, digits and harmless punctuation
#: are kept; "<" and ">" are plain relations in TeX (the Markdown writer spells them \lt, \gt).
_MATH_ESCAPES = {
    "\\": r"\backslash ",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\hat{}",
    "~": r"\sim ",
    "|": r"\vert ",
    "`": r"\grave{}",
    " ": r"\ ",
}

#: Text-mode LaTeX for characters that are special to TeX.
_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"$\times$",
    "−": r"$-$",  # a true minus sign, not a hyphen (issue 12)
    "…": r"\ldots{}",
    "\u201c": "``",  # typographic quotes and dashes: pdflatex printed "?by (4)?" (issue 12)
    "\u201d": "''",
    "\u2018": "`",
    "\u2019": "'",
    "\u2013": "--",
    "\u2014": "---",
    "✓": r"$\checkmark$",
    "✗": r"$\times$",
    "∂": r"$\partial$",
    "→": r"$\to$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    # Index notation and the curriculum's layers in titles and notes (Conv2d's "Σ_c,u,v W·x", batch
    # norm's σ and μ): without these pdflatex printed "?".
    "Σ": r"$\Sigma$",
    "∑": r"$\sum$",
    "·": r"$\cdot$",
    "∘": r"$\circ$",
    "δ": r"$\delta$",
    "σ": r"$\sigma$",
    "μ": r"$\mu$",
    "γ": r"$\gamma$",
    "β": r"$\beta$",
    "ε": r"$\varepsilon$",
    "√": r"$\surd$",
    "≈": r"$\approx$",
    "²": r"$^{2}$",
    "ᵀ": r"$^{\mathsf{T}}$",
    "′": r"$'$",
}


class TexPrinter(LatexPrinter):  # type: ignore[misc]
    """SymPy's LaTeX printer with symgrad's notation (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__({"order": "none"})

    def _deal_with_super_sub(self, string: str, style: str = "plain") -> str:
        # Every name SymPy prints (symbols, functions, matrix symbols) passes through here.
        if _PLAIN_NAME.match(string) is None:
            return escape_latex_name(string)
        return super()._deal_with_super_sub(string, style=style)  # type: ignore[no-any-return]

    def _print_Str(self, expr: Any) -> str:
        return self._deal_with_super_sub(str(expr.name))

    def _print_Symbol(self, expr: Any, style: str = "plain") -> str:
        match = _GRADIENT.fullmatch(expr.name)
        if match is not None:
            top, bottom = match.groups()
            return rf"\frac{{\partial {top}}}{{\partial {name_latex(bottom)}}}"
        return super()._print_Symbol(expr, style=style)  # type: ignore[no-any-return]

    def _print_MatrixSymbol(self, expr: Any) -> str:
        return self._print_Symbol(expr)

    def _print_Pow(self, expr: Any) -> str:
        if _is_gradient(expr.base):  # a fraction needs parentheses under an exponent
            return rf"\left({self._print(expr.base)}\right)^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)  # type: ignore[no-any-return]

    def _print_Transpose(self, expr: Any) -> str:
        if _is_gradient(expr.arg):
            return rf"\left({self._print(expr.arg)}\right)^{{T}}"
        return super()._print_Transpose(expr)  # type: ignore[no-any-return]

    def _print_Add(self, expr: Any, order: Any = None) -> str:
        shown = shown_sum(expr)
        if isinstance(shown, sp.Mul):
            return self._print_Mul(shown)
        return super()._print_Add(shown, order=order)  # type: ignore[no-any-return]

    def _print_MatAdd(self, expr: Any) -> str:
        # Positive terms first, then each negative one after a minus sign (as the text printer does):
        # y - t, and h - \frac{1}{N} 1 h, never - t + y or h + - \frac{1}{N} 1 h.
        def shown(term: Any) -> str:
            text = self._print(term)
            return rf"\left({text}\right)" if isinstance(term, sp.MatAdd) else text  # type: ignore[no-any-return]

        text = " + ".join(shown(term) for term in expr.args if not negative_matrix_term(term))
        for term in (term for term in expr.args if negative_matrix_term(term)):
            text = f"{text} - {shown(-term)}" if text else f"-{shown(-term)}"
        return text

    def _print_Mul(self, expr: Any) -> str:
        if isinstance(expr, sp.Mul):
            shown = shown_product(expr)
            if not isinstance(shown, sp.Mul):
                return self._print(shown)  # type: ignore[no-any-return]
            expr = shown
        factors = expr.args
        if isinstance(expr, sp.Mul) and any(_entry_derivative(f) for f in factors):  # G_nm ∂y_nm/∂W_pq
            ordered = sorted(factors, key=_entry_derivative)
            return " ".join(self._print(f) if _entry_derivative(f) else self.parenthesize(f, PRECEDENCE["Mul"])
                            for f in ordered)
        # SymPy's _print_Pow hands x**-1 to _print_Mul too: only a real product is reordered.
        if isinstance(expr, sp.Mul) and len(factors) > 1 and any(f.is_Number for f in factors[1:]):
            return r" \cdot ".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors)
        return super()._print_Mul(expr)  # type: ignore[no-any-return]

    def _print_Sum(self, expr: Any) -> str:
        # Index notation: the range of each index is the size of the dimension it reads, so only the index is shown.
        summed = ",".join(self._print(limit[0]) for limit in expr.limits)
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = rf"\left({body}\right)"
        return rf"\sum_{{{summed}}} {body}"

    def _print_KroneckerDelta(self, expr: Any, exp: Any = None) -> str:
        if all(arg.is_Atom for arg in expr.args):
            return rf"\delta_{{{self._print(expr.args[0])}{self._print(expr.args[1])}}}"
        return rf"\delta_{{{self._print(expr.args[0])},\,{self._print(expr.args[1])}}}"  # a window: 2 i + u, r

    def _print_Derivative(self, expr: Any) -> str:
        if _entry_derivative(expr):
            return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(expr.variables[0])}}}"
        variables = []
        for var, count in expr.variable_count:
            power = "" if count == 1 else f"^{{{self._print(count)}}}"
            variables.append(rf"\partial {self._print(var)}{power}")
        order = sum(count for _, count in expr.variable_count)
        top = r"\partial" if order == 1 else rf"\partial^{{{order}}}"
        operator = rf"\frac{{{top}}}{{{' '.join(variables)}}}"
        inner = self._print(expr.expr)
        if not (expr.expr.is_Atom or isinstance(expr.expr, sp.Function)):
            inner = rf"\left({inner}\right)"
        return f"{operator} {inner}"

    def _print_OneMatrix(self, expr: Any) -> str:
        rows, cols = expr.shape
        if cols == 1:
            return rf"\mathbf{{1}}_{{{self._print(rows)}}}"
        if rows == 1:
            return rf"\mathbf{{1}}_{{{self._print(cols)}}}^{{T}}"
        return rf"\mathbf{{1}}_{{{self._print(rows)} \times {self._print(cols)}}}"


def _entry_derivative(expr: Any) -> bool:
    """``∂E/∂W[p,q]`` or ``∂y[n,m]/∂W[p,q]``: a derivative by one entry, in index notation."""
    return (
        isinstance(expr, sp.Derivative)
        and len(expr.variables) == 1
        and isinstance(expr.variables[0], sp.Indexed)
        and (expr.expr.is_Atom or isinstance(expr.expr, sp.Indexed))
    )


def _is_gradient(expr: Any) -> bool:
    return isinstance(expr, (sp.Symbol, sp.MatrixSymbol)) and _GRADIENT.fullmatch(expr.name) is not None


@functools.lru_cache(maxsize=4096)
def latex_of(expr: sp.Basic) -> str:
    """The LaTeX of a SymPy expression in symgrad's notation.

    Examples
    --------
    >>> import sympy as sp
    >>> latex_of(sp.Symbol("dE/dw1"))
    '\\\\frac{\\\\partial E}{\\\\partial w_{1}}'
    >>> latex_of(sp.Mul(sp.Symbol("dE/dh"), sp.Symbol("b2"), evaluate=False))
    '\\\\frac{\\\\partial E}{\\\\partial h} b_{2}'
    >>> latex_of(sp.Derivative(3 * sp.Symbol("x"), sp.Symbol("x")))
    '\\\\frac{\\\\partial}{\\\\partial x} \\\\left(3 x\\\\right)'
    """
    return TexPrinter().doprint(expr)  # type: ignore[no-any-return]


def name_latex(name: str) -> str:
    """The LaTeX of a variable name (``w1`` -> ``w_{1}``).

    Examples
    --------
    >>> name_latex("W1"), name_latex("h_out")
    ('W_{1}', 'h_{out}')
    """
    return latex_of(sp.Symbol(name))


def shape_latex(shape: tuple[Any, ...] | None) -> str:
    """A shape as LaTeX, ``N \\times 4``; a scalar is ``\\text{scalar}``.

    Examples
    --------
    >>> import sympy as sp
    >>> shape_latex((sp.Symbol("N"), 4)), shape_latex(())
    ('N \\\\times 4', '\\\\text{scalar}')
    """
    if not shape:
        return r"\text{scalar}"
    return r" \times ".join(_dim_latex(dim) for dim in shape)


def _dim_latex(dim: Any) -> str:
    if isinstance(dim, str):
        return name_latex(dim)  # a name such as "N", never parsed
    if isinstance(dim, sp.Basic):
        return latex_of(dim)
    return str(int(dim))


def escape_latex_name(name: str) -> str:
    r"""Any name as inert LaTeX math: ``\mathrm{...}`` with TeX's special characters spelled out.

    A plain name (letters, digits, ``_``) is typeset by SymPy's rules instead (``w1`` as
    ``w_{1}``, see :func:`name_latex`); this is for the rest, such as a SymPy symbol named
    ``\input{file}``, which must print as text, never run as a command. Control characters
    are dropped and other non-ASCII characters reduced to ASCII (``?`` when they have none),
    so the result compiles with a plain ``pdflatex`` and converts with latex2mathml.

    Examples
    --------
    >>> print(escape_latex_name(r"\input{/etc/passwd}"))
    \mathrm{\backslash input\{/etc/passwd\}}
    >>> print(escape_latex_name("a$b_c 100%"))
    \mathrm{a\$b\_c\ 100\%}
    """
    out = []
    for char in name:
        if char in _MATH_ESCAPES:
            out.append(_MATH_ESCAPES[char])
        elif char.isspace():
            out.append(r"\ ")
        elif not char.isprintable():
            continue
        elif ord(char) > 127:
            plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
            out.append("".join(_MATH_ESCAPES.get(c, c) for c in plain if c.isalnum()) or "?")
        else:
            out.append(char)
    return rf"\mathrm{{{''.join(out)}}}"


def escape_latex_text(text: str) -> str:
    """``text`` made safe for LaTeX text mode (and for pdflatex's input encoding).

    Accented Latin letters are kept; any other non-ASCII character becomes its
    ASCII decomposition, or ``?`` when it has none, so that any title compiles
    with a plain ``pdflatex``.

    Examples
    --------
    >>> escape_latex_text("50% of <b> & x_1 {ok}")
    '50\\\\% of \\\\textless{}b\\\\textgreater{} \\\\& x\\\\_1 \\\\{ok\\\\}'
    >>> escape_latex_text("Café ≥ 1 ☃")
    'Café $\\\\ge$ 1 ?'
    """
    out = []
    for char in text:
        if char in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[char])
        elif char.isspace():
            out.append(" ")
        elif ord(char) < 32 or ord(char) == 127:
            continue
        elif ord(char) > 127 and not _accented_latin(char):
            out.append(_ascii_fallback(char))
        else:
            out.append(char)
    return "".join(out)


def _accented_latin(char: str) -> bool:
    """True for a Latin-1 letter that is an ASCII letter plus accents (é, ü, ñ)."""
    parts = unicodedata.normalize("NFD", char)
    return ord(char) <= 0xFF and len(parts) > 1 and parts[0].isascii() and parts[0].isalpha()


def _ascii_fallback(char: str) -> str:
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    plain = "".join(c for c in plain if c.isprintable())
    return escape_latex_text(plain) if plain else "?"
