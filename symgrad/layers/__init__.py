"""Layers: each one's symbolic forward, local rules and NumPy reference, in one place."""

from symgrad.layers.activations import Activation, ReLU, Sigmoid, Tanh
from symgrad.layers.affine import Affine
from symgrad.layers.base import Layer, Loss
from symgrad.layers.catalog import CATALOG, LOSSES
from symgrad.layers.classify import SigmoidCrossEntropy, Softmax, SVMLoss
from symgrad.layers.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from symgrad.layers.dropout import Dropout
from symgrad.layers.embedding import Embedding
from symgrad.layers.formula import FormulaActivation, activation
from symgrad.layers.indexlayer import IndexLayer, layer
from symgrad.layers.losses import HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy
from symgrad.layers.norm import BatchNorm, LayerNorm

__all__ = [
    "CATALOG",
    "LOSSES",
    "Activation",
    "Affine",
    "AvgPool2d",
    "BatchNorm",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "FormulaActivation",
    "HalfSquaredError",
    "IndexLayer",
    "Layer",
    "LayerNorm",
    "Loss",
    "MaxPool2d",
    "MeanSquaredError",
    "ReLU",
    "SVMLoss",
    "Sigmoid",
    "SigmoidCrossEntropy",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "activation",
    "layer",
]
