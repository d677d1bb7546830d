"""Spec names to layer classes: the one place a network spec's words are looked up."""

from __future__ import annotations

from symgrad.layers.activations import ReLU, Sigmoid, Tanh
from symgrad.layers.affine import Affine
from symgrad.layers.base import Layer
from symgrad.layers.classify import SigmoidCrossEntropy, Softmax, SVMLoss
from symgrad.layers.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from symgrad.layers.losses import HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy
from symgrad.layers.norm import BatchNorm, LayerNorm

__all__ = ["CATALOG", "LOSSES"]

#: Every layer by its spec name.
CATALOG: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Affine, Sigmoid, Tanh, ReLU, HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy)
}
# Derived from their index forwards (issue 10): appended, so the order above stays.
CATALOG.update({cls.kind: cls for cls in (Softmax, SigmoidCrossEntropy, SVMLoss)})
#: Composite layers (forward a small graph, rule derived by its sweep), each spec'd by its feature count.
CATALOG.update({cls.kind: cls for cls in (BatchNorm, LayerNorm)})
#: N-D layers (NCHW images): conv2d(in, out, kernel, stride=1, pad=0), max-pool2d(kernel, stride),
#: avg-pool2d(kernel, stride), flatten; a spec that uses them starts with input(C, H, W).
CATALOG.update({cls.kind: cls for cls in (Conv2d, MaxPool2d, AvgPool2d, Flatten)})
#: The spec names that are losses.
LOSSES = frozenset(
    {"half-squared-error", "mean-squared-error", "softmax-cross-entropy", "sigmoid-cross-entropy", "svm-loss"}
)
