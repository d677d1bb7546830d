"""Shared fixtures for the renderer tests: derivations, reports and external tools."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

import symgrad

MATHML = "{http://www.w3.org/1998/Math/MathML}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def _sigmoid_network(title: str | None = None) -> symgrad.Network:
    layers = [symgrad.Affine(3, 4), symgrad.Sigmoid(), symgrad.Affine(4, 1)]
    return symgrad.Network(layers, loss=symgrad.HalfSquaredError(), title=title)


@pytest.fixture(scope="session")
def article() -> symgrad.Derivation:
    return symgrad.derive(symgrad.article_network())


@pytest.fixture(scope="session")
def article_report(article: symgrad.Derivation) -> symgrad.CheckReport:
    return symgrad.check(article)


@pytest.fixture(scope="session")
def batched() -> symgrad.Derivation:
    return symgrad.derive(_sigmoid_network())


@pytest.fixture(scope="session")
def batched_report(batched: symgrad.Derivation) -> symgrad.CheckReport:
    return symgrad.check(batched)


@pytest.fixture(scope="session")
def expression() -> symgrad.Derivation:
    return symgrad.gradient("sigmoid(w*x)*exp(x) + relu(y)")


@pytest.fixture(scope="session")
def hostile() -> symgrad.Derivation:
    """A network whose free-text title tries HTML, LaTeX and Markdown injection."""
    title = "<script>alert(1)</script> & 50% $x$ #1 \\input{/etc/passwd} {_^~} *bold* [a](b) ☃"
    return symgrad.derive(_sigmoid_network(title))


@pytest.fixture(scope="session")
def parse_page() -> Callable[[str], ET.Element]:
    """Parse an HTML page as XML (after its doctype line), as the page promises."""

    def parse(page: str) -> ET.Element:
        assert page.startswith("<!DOCTYPE html>\n")
        return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))

    return parse


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed; install it with `apt-get install {package}`"
        if os.environ.get("CI"):
            pytest.fail(f"{msg} (CI is set, so this test may not be skipped)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str, str], str]:
    """The skip-or-fail lookup the tool fixtures use, for testing it."""
    return _tool


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium; skipped (or, with CI set, failed) when missing."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return _tool(name, "chromium")
    return _tool("chromium", "chromium")


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """Path of pdflatex; skipped (or, with CI set, failed) when missing."""
    return _tool("pdflatex", "texlive-latex-base")
