"""Tests of the pytest plugin, run as a user would: ``python -m pytest`` on a directory of
their own tests, with no conftest.py and no flag, the plugin enabled by installing symgrad.

Each test writes a user test file into a temporary directory and runs pytest on it in a
subprocess (the plugin must work on its own, without this project's configuration).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from symgrad.pytest_plugin import SymgradCheck, Tally

USER_TESTS = '''
import numpy as np
import symgrad
from symgrad.testing import assert_gradients_match, parametrize_layers


class Affine:
    """The article's Affine layer, verbatim."""

    def __init__(self, W, b) -> None:
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        dot = np.dot(self.x, self.W)
        out = dot + self.b
        return out

    def backward(self, dout):
        dx = np.dot(dout, self.W)  # A
        self.dW = np.dot(self.x, dout)  # B
        self.db = np.sum(dout, axis=0)
        return dx


class CorrectedAffine(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


def _square(cls):
    rng = np.random.default_rng(0)
    return cls(rng.standard_normal((3, 3)), rng.standard_normal(3)), rng.standard_normal((3, 3))


def test_article_affine(symgrad_check):
    layer, x = _square(Affine)
    symgrad_check.layer(layer, symgrad.Affine(3, 3), x=x)


def test_corrected_affine(symgrad_check):
    layer, x = _square(CorrectedAffine)
    assert symgrad_check.layer(layer, symgrad.Affine(3, 3), x=x).ok


def test_corrected_affine_with_the_assertion():
    layer, x = _square(CorrectedAffine)
    assert_gradients_match(layer, symgrad.Affine(3, 3), x=x)


def test_network(symgrad_check):
    symgrad_check.network("affine(3,4) > sigmoid > affine(4,1) > half-squared-error")


@parametrize_layers(seeds=range(2))
def test_builtin_layer(symgrad_check, case, seed):
    symgrad_check.case(case, seed)
'''


def _run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["COLUMNS"] = "200"  # the short summary is cut to the terminal's width
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "test_user_layers.py").write_text(textwrap.dedent(USER_TESTS), encoding="utf-8")
    assert not (tmp_path / "conftest.py").exists()
    return tmp_path


def _layer_cases() -> int:
    from symgrad.testing import LAYER_CASES

    return len(LAYER_CASES)


def test_the_plugin_is_registered_through_the_pytest11_entry_point():
    found = [point for point in entry_points(group="pytest11") if point.name == "symgrad"]
    assert [point.value for point in found] == ["symgrad.pytest_plugin"]


def test_the_plugin_imports_neither_numpy_nor_sympy():
    code = "import sys, symgrad.pytest_plugin; print(sorted(m for m in ('numpy', 'sympy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_fixture_and_assertions_work_with_no_conftest_and_no_flag(user_dir: Path):
    result = _run_pytest(user_dir)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    cases = _layer_cases()
    assert f"1 failed, {3 + 2 * cases} passed" in out
    assert "FAILED test_user_layers.py::test_article_affine - symgrad.testing.GradientMismatchError" in out
    # The failure message, as a newcomer sees it.
    assert "symgrad: your Affine against symgrad Affine(3, 3): 2 of 3 gradients FAIL" in out
    assert "dW is wrong:" in out
    assert re.search(r"worst element   dW\[\d, \d\]", out)
    assert re.search(r"symbolic\s+-?[\d.]+(e-?\d+)?\s+\(the spec's rule\)", out)
    assert "expected        dW = x.T @ dout, shape (3, 3)" in out
    assert "likely mistake  matches a missing transpose: dW = x @ dout; expected dW = x.T @ dout" in out
    # The plugin's own frames are hidden: the traceback points at the user's line.
    lines = textwrap.dedent(USER_TESTS).splitlines()
    line = lines.index("    symgrad_check.layer(layer, symgrad.Affine(3, 3), x=x)") + 1
    assert f"test_user_layers.py:{line}: GradientMismatchError" in out
    assert "pytest_plugin.py" not in out
    # The summary line counts what went through the fixture (the plain assertion is not counted).
    layers, gradients = 2 + 2 * cases, 3 + 3 + 5 + 2 * _gradients_per_case()
    assert f"symgrad: {layers} layers and 1 network checked, {gradients} gradients, 2 disagree" in out


def _gradients_per_case() -> int:
    from symgrad.testing import LAYER_CASES

    return sum(1 + len(case.spec.roles) for case in LAYER_CASES)


def test_summary_line_says_all_agree_when_they_do(user_dir: Path):
    result = _run_pytest(user_dir, "-k", "not test_article_affine")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"symgrad: \d+ layers and 1 network checked, \d+ gradients, all agree", result.stdout)


def test_no_summary_line_when_no_test_uses_the_fixture(tmp_path: Path):
    (tmp_path / "test_plain.py").write_text("def test_nothing():\n    assert True\n", encoding="utf-8")
    result = _run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "symgrad:" not in result.stdout


def test_collection_is_identical_across_processes(user_dir: Path):
    runs = []
    for hash_seed in ("1", "2"):
        env_seed = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q"],
            cwd=user_dir, env={k: v for k, v in env_seed.items() if not k.startswith("PYTEST_")},
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        runs.append([line for line in result.stdout.splitlines() if "::" in line])
    assert runs[0] == runs[1]
    assert len(runs[0]) == 4 + 2 * _layer_cases()
    assert not any(re.search(r"0x[0-9a-f]{6,}", line) for line in runs[0])


def test_sharded_over_two_xdist_workers(user_dir: Path):
    result = _run_pytest(user_dir, "-n", "2", "-k", "not test_article_affine")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "2 workers" in out
    assert "Different tests were collected" not in out
    # The workers' counts are added up on the controller.
    cases = _layer_cases()
    layers, gradients = 1 + 2 * cases, 3 + 5 + 2 * _gradients_per_case()
    assert f"symgrad: {layers} layers and 1 network checked, {gradients} gradients, all agree" in result.stdout


def test_a_failure_under_xdist_is_reported_with_its_message(user_dir: Path):
    result = _run_pytest(user_dir, "-n", "2", "-k", "article or network")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "likely mistake  matches a missing transpose" in result.stdout
    assert "symgrad: 1 layer and 1 network checked, 8 gradients, 2 disagree" in result.stdout


# -- the tally, in process ------------------------------------------------------------------------


def test_tally_counts_merges_and_reads_worker_data_defensively():
    tally = Tally()
    assert tally.summary() == ""
    tally.add("layer", gradients=3, failed=0)
    other = Tally.from_dict({"layer": 2, "network": 1, "gradients": 9, "failed": 1, "junk": 5})
    tally.merge(other)
    assert tally.summary() == "symgrad: 3 layers and 1 network checked, 12 gradients, 1 disagree"
    assert Tally.from_dict("garbage").summary() == ""
    assert Tally.from_dict({"layer": -4, "network": "x"}).summary() == ""


def test_the_fixture_fails_and_counts_a_vacuous_check():
    import numpy as np

    from symgrad.testing import GradientMismatchError

    class Centering:  # a batch statistic: on one sample its gradient is zero on every side
        def forward(self, x):
            return x - x.mean(axis=0)

        def backward(self, dout):
            return dout - dout.mean(axis=0)

    tally = Tally()
    check = SymgradCheck(tally)
    with pytest.raises(GradientMismatchError, match="single sample"):
        check.layer(Centering(), x=np.array([[0.5, -1.5, 2.0]]))
    assert tally.summary() == "symgrad: 1 layer checked, 1 gradient, 1 disagree"
    check.layer(Centering(), x=np.random.default_rng(0).standard_normal((4, 3)))
    assert tally.summary() == "symgrad: 2 layers checked, 2 gradients, 1 disagree"


def test_the_fixture_checks_second_order_and_counts_it():
    import numpy as np

    from symgrad.testing import GradientMismatchError

    class FirstCallTanh:  # caches its output on the first call only: a stale cache
        out = None

        def forward(self, x):
            if self.out is None:
                self.out = np.tanh(x)
            return np.tanh(x)

        def backward(self, dout):
            return dout * (1 - self.out**2)

    tally = Tally()
    fixture = SymgradCheck(tally)
    assert fixture.hessian("affine(3,4) > tanh > affine(4,2) > half-squared-error").ok
    assert tally.summary() == "symgrad: 1 network checked, 2 gradients, all agree"
    with pytest.raises(GradientMismatchError, match="stale cache"):
        fixture.hessian(FirstCallTanh(), x=np.random.default_rng(0).standard_normal((3, 4)))
    assert tally.summary() == "symgrad: 1 layer and 1 network checked, 3 gradients, 1 disagree"
