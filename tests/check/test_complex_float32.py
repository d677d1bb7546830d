"""The complex step for float32 layers (issue 11, part 2): in complex64, at float32's tolerance.

A float32 layer that computes without casts (float32 weights, NumPy's promotions) takes complex64
input and keeps float32's precision; one that casts to float32 drops the imaginary part, which is
reported with the alternative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import symgrad
from symgrad import check_layer
from symgrad.check.compare import TOLERANCES
from symgrad.errors import LayerError

SEEN: list[np.dtype[Any]] = []  # the dtypes forward() was called with (check_layer runs on copies)


class Affine32:
    """An affine layer with float32 weights, written as the books write it."""

    def __init__(self, W: np.ndarray, b: np.ndarray, *, wrong_db: bool = False) -> None:
        self.W, self.b, self.wrong_db = W, b, wrong_db

    def forward(self, x: np.ndarray) -> np.ndarray:
        SEEN.append(x.dtype)
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.mean(axis=0) if self.wrong_db else dout.sum(axis=0)
        return dout @ self.W.T


class CastingSigmoid:
    """A float32 sigmoid that casts its output to float32, as DLFS2's layers do."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = (1 / (1 + np.exp(-x))).astype(np.float32)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1 - self.out)


def _affine(seed: int, **kwargs: Any) -> tuple[Affine32, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    return Affine32(W, b, **kwargs), (rng.standard_normal((4, 3)) + 0.5).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_float32_layer_passes_the_complex_step_in_complex64(seed: int) -> None:
    layer, x = _affine(seed)
    SEEN.clear()
    report = check_layer(layer, symgrad.Affine(3, 2), x=x, method="complex", seed=seed)
    assert report.ok, str(report)
    assert report.dtype == "float32"
    assert {row.name for row in report.rows} == {"x", "W", "b"}
    assert np.dtype(np.complex64) in SEEN  # float32's precision, not complex128's
    assert np.dtype(np.complex128) not in SEEN
    for row in report.rows:
        assert row.tolerances["complex"] == TOLERANCES["float32"]["complex"]
        assert row.rel_error < 1e-5  # float32's last places, well inside the tolerance
    assert "relative tolerances for float32" in str(report)


def test_the_estimate_is_float32s_not_float64s() -> None:
    layer, x = _affine(3)
    report = check_layer(layer, symgrad.Affine(3, 2), x=x, method="complex")
    # complex64 values are good to a few float32 units, about 1e-7, not float64's 1e-16
    assert all(row.numeric_error > 2 * float(np.finfo(np.float32).eps) for row in report.rows)


def test_a_wrong_float32_backward_fails_the_complex_step() -> None:
    layer, x = _affine(4, wrong_db=True)
    report = check_layer(layer, symgrad.Affine(3, 2), x=x, method="complex")
    assert not report.ok
    assert report.row("b").status == "FAIL"
    assert report.row("W").status == "ok"


def test_a_float32_layer_that_casts_is_told_why_and_what_to_use() -> None:
    x = np.random.default_rng(5).standard_normal((3, 2)).astype(np.float32)
    with pytest.raises(LayerError, match=r"accepts complex input \(method='central' needs neither\): .*"
                                         r"discards the imaginary part"):
        check_layer(CastingSigmoid(), x=x, method="complex")
    assert check_layer(CastingSigmoid(), x=x).ok  # and central differences check it
