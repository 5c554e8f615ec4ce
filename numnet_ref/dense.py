"""Fully connected layer: ``out = x @ W + b``."""
import numpy as np

from . import _checks
from .layer import Layer


def glorot_uniform(fan_in, fan_out, shape, dtype=np.float32):
    """Keras' default kernel initialiser: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)); uses np.random."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.uniform(-limit, limit, size=shape).astype(dtype)


class DenseLayer(Layer):
    """x ``(batch, input_dim)`` -> ``x @ W + b`` ``(batch, output_dim)``; W ``(input_dim, output_dim)``, b ``(output_dim,)``.

    Without ``W_init``/``b_init``: Glorot-uniform float32 W and zero b (Keras' defaults). Given arrays are copied.
    """

    def __init__(self, input_dim, output_dim, W_init=None, b_init=None):
        self.name = 'Dense'
        self.input_dim = _checks.positive_int(input_dim, 'input_dim')
        self.output_dim = _checks.positive_int(output_dim, 'output_dim')
        shape = (self.input_dim, self.output_dim)
        if W_init is None:
            self.W = glorot_uniform(self.input_dim, self.output_dim, shape)
        else:
            self.W = _checks.float_array(W_init, shape, 'W_init')
        if b_init is None:
            self.b = np.zeros(self.output_dim, self.W.dtype)
        else:
            self.b = _checks.float_array(b_init, (self.output_dim,), 'b_init')

    @property
    def params(self):
        return [self.W, self.b]

    def _check(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError('Dense expects input_data of shape (batch, input_dim=%d), got %s'
                             % (self.input_dim, x.shape))
        return x

    def forward(self, input_data):
        return self._check(input_data) @ self.W + self.b

    def backward(self, input_data, grad_output):
        return grad_output @ self.W.T, self.backward_params(input_data, grad_output)

    def backward_params(self, input_data, grad_output):
        if type(self).backward is not DenseLayer.backward:     # a subclass' own backward gives its parameter half
            return super().backward_params(input_data, grad_output)
        x = self._check(input_data)
        return [x.T @ grad_output, grad_output.sum(axis=0)]

    # Jacobians (teaching API)
    def grad_x(self, input_data):
        """(batch, output_dim, input_dim): every sample's Jacobian is W.T."""
        x = self._check(input_data)
        return np.repeat(self.W.T[None], len(x), axis=0)

    def grad_W(self, input_data):
        """(batch, output_dim, input_dim*output_dim): d out[o] / d W[i, j] = x[i] if j == o (W flattened row-major)."""
        x = self._check(input_data)
        eye = np.eye(self.output_dim, dtype=self.W.dtype)
        return (eye[None, :, None, :] * x[:, None, :, None]).reshape(len(x), self.output_dim, -1)

    def grad_b(self, input_data):
        """(batch, output_dim, output_dim): the identity for every sample."""
        x = self._check(input_data)
        return np.repeat(np.eye(self.output_dim, dtype=self.b.dtype)[None], len(x), axis=0)

    def grad_param(self, input_data):
        return [self.grad_W(input_data), self.grad_b(input_data)]

    def update_W(self, grad, learning_rate):
        self.W -= learning_rate * np.reshape(grad, self.W.shape)

    def update_b(self, grad, learning_rate):
        self.b -= learning_rate * np.reshape(grad, self.b.shape)

    def update_param(self, params_grad, learning_rate):
        self.update_W(params_grad[0], learning_rate)
        self.update_b(params_grad[1], learning_rate)

    def __repr__(self):
        return 'DenseLayer(%d, %d)' % (self.input_dim, self.output_dim)
