"""The symgrad pytest plugin, registered through the ``pytest11`` entry point.

Installing symgrad enables it in every pytest run, with no flag and no
``conftest.py``. It adds one fixture, ``symgrad_check``, whose methods run the
assertions of :mod:`symgrad.testing` and count what they checked::

    def test_my_affine(symgrad_check):
        layer = MyAffine(W, b)
        symgrad_check.layer(layer, symgrad.Affine(3, 2), x=x)     # raises on a wrong gradient

    def test_my_network(symgrad_check):
        symgrad_check.network("affine(3,4) > sigmoid > affine(4,1) > half-squared-error")

and, when a test used it, one line at the end of the run:
``symgrad: 12 layers and 2 networks checked, 40 gradients, all agree``. Under
pytest-xdist the workers' counts are added up on the controller.

This module is imported by every pytest run of everyone who installs symgrad,
so it imports nothing heavy: symgrad itself (SymPy, NumPy) is imported by the
fixture, in the tests that use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from symgrad.check.hessian import HessianReport
    from symgrad.check.report import CheckReport

__all__ = ["SymgradCheck", "Tally", "symgrad_check"]

_TALLY_KEY = "symgrad"


class Tally:
    """Counts of the checks run through the fixture in one pytest process.

    Examples
    --------
    >>> tally = Tally()
    >>> tally.add("layer", gradients=3, failed=0)
    >>> tally.add("network", gradients=5, failed=1)
    >>> tally.summary()
    'symgrad: 1 layer and 1 network checked, 8 gradients, 1 disagree'
    >>> Tally.from_dict(tally.as_dict()).summary() == tally.summary()
    True
    """

    def __init__(self) -> None:
        self.counts = {"layer": 0, "network": 0, "gradients": 0, "failed": 0}

    def add(self, kind: str, *, gradients: int, failed: int) -> None:
        """Count one check of a ``"layer"`` or a ``"network"``."""
        self.counts[kind] += 1
        self.counts["gradients"] += gradients
        self.counts["failed"] += failed

    def merge(self, other: Tally) -> None:
        """Add another process's counts (an xdist worker's)."""
        for key, value in other.counts.items():
            self.counts[key] += value

    def as_dict(self) -> dict[str, int]:
        """The counts as plain data (sent from an xdist worker to the controller)."""
        return dict(self.counts)

    @classmethod
    def from_dict(cls, data: Any) -> Tally:
        """Counts sent by an xdist worker; anything malformed counts as nothing."""
        tally = cls()
        if isinstance(data, dict):
            for key in tally.counts:
                value = data.get(key, 0)
                tally.counts[key] = value if isinstance(value, int) and value >= 0 else 0
        return tally

    def summary(self) -> str:
        """The summary line, or "" when nothing was checked."""
        layers, networks = self.counts["layer"], self.counts["network"]
        if not layers and not networks:
            return ""
        parts = [_plural(layers, "layer")] * bool(layers) + [_plural(networks, "network")] * bool(networks)
        failed = self.counts["failed"]
        verdict = "all agree" if not failed else f"{failed} disagree"
        return f"symgrad: {' and '.join(parts)} checked, {_plural(self.counts['gradients'], 'gradient')}, {verdict}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class SymgradCheck:
    """What the ``symgrad_check`` fixture gives a test: assertions that also count.

    Each method takes the arguments of the :mod:`symgrad.testing` assertion it
    runs, returns the :class:`~symgrad.CheckReport` when everything agrees and
    raises :class:`symgrad.testing.GradientMismatchError` (an AssertionError) when
    something does not.
    """

    def __init__(self, tally: Tally) -> None:
        self._tally = tally
        #: Every report of this test, in order.
        self.reports: list[CheckReport] = []

    def layer(self, layer: Any, spec: Any = None, *, x: Any, **options: Any) -> CheckReport:
        """Check your layer: :func:`symgrad.testing.assert_gradients_match`."""
        __tracebackhide__ = True
        from symgrad.testing import assert_gradients_match

        return self._run("layer", assert_gradients_match, layer, spec, x=x, **options)

    def network(self, network: Any, values: Any = None, **options: Any) -> CheckReport:
        """Check a network three ways: :func:`symgrad.testing.assert_network_consistent`."""
        __tracebackhide__ = True
        from symgrad.testing import assert_network_consistent

        return self._run("network", assert_network_consistent, network, values, **options)

    def hessian(self, thing: Any, values: Any = None, **options: Any) -> HessianReport:
        """Check second order: :func:`symgrad.testing.assert_hessian_consistent` (a network, a spec, or
        your layer with ``x=...``); counted as a layer or a network, each gradient source a gradient."""
        __tracebackhide__ = True
        from symgrad.check.hessian import HessianReport
        from symgrad.testing import GradientMismatchError, assert_hessian_consistent

        kind = "layer" if "x" in options else "network"
        try:
            report = assert_hessian_consistent(thing, values, **options)
        except GradientMismatchError as failure:
            rows = failure.report.rows if isinstance(failure.report, HessianReport) else ()
            self._tally.add(kind, gradients=len(rows), failed=sum(not row.passed for row in rows))
            raise
        self._tally.add(kind, gradients=len(report.rows), failed=0)
        return report

    def case(self, case: Any, seed: int = 0) -> CheckReport:
        """Check a catalog case (:class:`symgrad.testing.LayerCase` or ``NetworkCase``) at ``seed``."""
        __tracebackhide__ = True
        from symgrad.testing import LayerCase, assert_case

        return self._run("layer" if isinstance(case, LayerCase) else "network", assert_case, case, seed)

    def _run(self, kind: str, assertion: Callable[..., CheckReport], *args: Any, **kwargs: Any) -> CheckReport:
        __tracebackhide__ = True
        from symgrad.testing import GradientMismatchError

        try:
            report = assertion(*args, **kwargs)
        except GradientMismatchError as failure:
            self._record(kind, failure.report)  # type: ignore[arg-type]  # these assertions raise with a CheckReport
            raise
        self._record(kind, report)
        return report

    def _record(self, kind: str, report: CheckReport) -> None:
        self.reports.append(report)
        # A vacuous check (report.warnings) failed the test too, with no failing row: count it once.
        self._tally.add(kind, gradients=len(report.rows), failed=len(report.failures) or int(bool(report.warnings)))


_tally_key = pytest.StashKey[Tally]()


def _tally(config: pytest.Config) -> Tally:
    if _tally_key not in config.stash:
        config.stash[_tally_key] = Tally()
    return config.stash[_tally_key]


@pytest.fixture
def symgrad_check(request: pytest.FixtureRequest) -> SymgradCheck:
    """Gradient checks that raise on failure: ``symgrad_check.layer(...)``, ``.network(...)``, ``.case(...)``."""
    return SymgradCheck(_tally(request.config))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand the counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_TALLY_KEY] = _tally(session.config).as_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller, add up a finished worker's counts."""
    data = getattr(node, "workeroutput", {}).get(_TALLY_KEY)
    if data is not None:
        _tally(node.config).merge(Tally.from_dict(data))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line, when a test used the fixture."""
    if getattr(config, "workeroutput", None) is not None:
        return
    line = _tally(config).summary()
    if line:
        terminalreporter.write_line(line)
