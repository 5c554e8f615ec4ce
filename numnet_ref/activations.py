"""Element-wise ReLU and the row-wise Softmax."""
import numpy as np

from .layer import Layer


class ReLU(Layer):
    """max(x, 0) on any shape; the derivative at 0 is taken as 0 (as in Keras)."""

    def __init__(self):
        self.name = 'ReLU'

    def forward(self, input_data):
        return np.maximum(input_data, 0)

    def backward(self, input_data, grad_output):
        return grad_output * (np.asarray(input_data) > 0), []

    def grad_x(self, input_data):
        """(batch, n, n): diag(x > 0) per sample, n the flattened sample size."""
        x = np.asarray(input_data).reshape(len(input_data), -1)
        return (x > 0)[:, :, None] * np.eye(x.shape[1])


class Softmax(Layer):
    """x ``(batch, classes)`` -> exp(x - max) / sum(exp(x - max)) along axis 1."""

    def __init__(self):
        self.name = 'Softmax'

    def forward(self, input_data):
        x = np.asarray(input_data)
        if x.ndim != 2:
            raise ValueError('Softmax expects input_data of shape (batch, classes), got %s' % (x.shape,))
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def backward(self, input_data, grad_output):
        p = self.forward(input_data)
        return p * (grad_output - (grad_output * p).sum(axis=1, keepdims=True)), []

    def grad_x(self, input_data):
        """(batch, classes, classes): J[b, i, j] = p_i (delta_ij - p_j)."""
        p = self.forward(input_data)
        return p[:, :, None] * (np.eye(p.shape[1]) - p[:, None, :])
