"""Layers: each one's symbolic forward, local rules and NumPy reference, in one place."""

from symgrad.layers.activations import Activation, ReLU, Sigmoid, Tanh
from symgrad.layers.affine import Affine
from symgrad.layers.base import Layer, Loss
from symgrad.layers.catalog import CATALOG, LOSSES
from symgrad.layers.formula import FormulaActivation, activation
from symgrad.layers.losses import HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy
from symgrad.layers.norm import BatchNorm, LayerNorm

__all__ = [
    "CATALOG",
    "LOSSES",
    "Activation",
    "Affine",
    "BatchNorm",
    "FormulaActivation",
    "HalfSquaredError",
    "Layer",
    "LayerNorm",
    "Loss",
    "MeanSquaredError",
    "ReLU",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "activation",
]
