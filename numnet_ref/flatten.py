"""Flatten every sample: (batch, ...) -> (batch, prod(...)), row-major, like Keras' Flatten on NCHW arrays."""
import numpy as np

from .layer import Layer


class FlattenLayer(Layer):
    def __init__(self):
        self.name = 'Flatten'

    def forward(self, input_data):
        x = np.asarray(input_data)
        if x.ndim < 2:
            raise ValueError('Flatten expects input_data with a batch axis, got shape %s' % (x.shape,))
        return x.reshape(len(x), -1)

    def backward(self, input_data, grad_output):
        return np.reshape(grad_output, np.shape(input_data)), []

    def grad_x(self, input_data):
        """(batch, n, n): the identity, n the flattened sample size."""
        x = np.asarray(input_data).reshape(len(input_data), -1)
        return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)
