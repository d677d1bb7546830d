"""Layers: each one's symbolic forward, local rules and NumPy reference, in one place."""

from symgrad.layers.activations import Activation, ReLU, Sigmoid, Tanh
from symgrad.layers.affine import Affine
from symgrad.layers.base import Layer, Loss
from symgrad.layers.catalog import CATALOG, LOSSES
from symgrad.layers.classify import SigmoidCrossEntropy, Softmax, SVMLoss
from symgrad.layers.dropout import Dropout
from symgrad.layers.formula import FormulaActivation, activation
from symgrad.layers.losses import HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy

__all__ = [
    "CATALOG",
    "LOSSES",
    "Activation",
    "Affine",
    "Dropout",
    "FormulaActivation",
    "HalfSquaredError",
    "Layer",
    "Loss",
    "MeanSquaredError",
    "ReLU",
    "SVMLoss",
    "Sigmoid",
    "SigmoidCrossEntropy",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "activation",
]
