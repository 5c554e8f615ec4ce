"""Max pooling over NCHW images, 'valid' like Keras' MaxPooling2D (an incomplete last window is dropped)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _checks
from .layer import Layer, jacobian_from_backward


class MaxPooling(Layer):
    """(N, C, H, W) -> (N, C, (H - ph) // sh + 1, (W - pw) // sw + 1); the gradient goes to each window's first max.

    ``pool_size`` and ``strides`` are ints or (height, width) pairs; ``strides=None`` means ``pool_size``."""

    def __init__(self, pool_size=(2, 2), strides=2):
        self.name = 'MaxPooling'
        self.pool_size = _checks.int_pair(pool_size, 'pool_size')
        self.strides = self.pool_size if strides is None else _checks.int_pair(strides, 'strides')

    def _windows(self, input_data):
        x = _checks.images(input_data, None, 'MaxPooling')
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        if x.shape[2] < ph or x.shape[3] < pw:
            raise ValueError('MaxPooling: input_data of shape %s is smaller than pool_size %s'
                             % (x.shape, self.pool_size))
        return x, sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::sh, ::sw]

    def forward(self, input_data):
        return self._windows(input_data)[1].max(axis=(4, 5))

    def backward(self, input_data, grad_output):
        x, win = self._windows(input_data)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        n, c, ho, wo = win.shape[:4]
        first_max = win.reshape(n, c, ho, wo, ph * pw).argmax(axis=4)
        grad_input = np.zeros(x.shape, dtype=np.result_type(grad_output, x))
        for i in range(ph):          # a loop over the window's offsets, not over pixels
            for j in range(pw):
                grad_input[:, :, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw] += \
                    grad_output * (first_max == i * pw + j)
        return grad_input, []

    def grad_x(self, input_data):
        """(batch, C*Ho*Wo, C*H*W): 1 where an output is its window's (first) max input."""
        return jacobian_from_backward(self, input_data)

    def __repr__(self):
        return 'MaxPooling(pool_size=%s, strides=%s)' % (self.pool_size, self.strides)
