"""numnet_ref: the reference solution of the numnet course, a small neural-network package in NumPy only.

Layers take and return NumPy arrays; images are NCHW; conv kernels are (k, k, input_channels, output_channels).
See docs/numnet_ref_api.md for the contract."""

from .layer import Layer
from .dense import DenseLayer
from .activations import ReLU, Softmax
from .flatten import FlattenLayer
from .pooling import MaxPooling
from .conv import Conv2DLayer, Conv2DTrLayer
from .losses import CrossEntropy
from .network import Network, train_test_split
from .optimizers import SGD, RMSprop, Adagrad, Adam

__all__ = [
    'Layer',
    'DenseLayer',
    'ReLU',
    'Softmax',
    'FlattenLayer',
    'MaxPooling',
    'Conv2DLayer',
    'Conv2DTrLayer',
    'CrossEntropy',
    'Network',
    'SGD',
    'RMSprop',
    'Adagrad',
    'Adam',
    'train_test_split',
]
