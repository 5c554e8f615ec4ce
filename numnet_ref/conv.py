"""Conv2DLayer (Keras' Conv2D, channels_first) and Conv2DTrLayer (transposed convolution), via im2col.

Kernels are ``(k, k, input_channels, output_channels)`` for both layers, images NCHW. Both layers are built
from the same three primitives in ``im2col``: ``correlate`` (the convolution), ``correlate_transpose`` (its
adjoint) and ``kernel_grad``: the forward pass of one layer is the input gradient of the other.
"""
import numpy as np

from . import _checks
from .dense import glorot_uniform
from .im2col import correlate, correlate_transpose, kernel_grad, pad2d
from .layer import Layer, jacobian_from_backward, param_jacobians_from_backward


def same_padding(size, k, stride):
    """Keras/TensorFlow 'same': output ceil(size / stride); the odd pixel of padding goes to the bottom/right."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def transpose_crop(padding, k, stride):
    """(before, after) pixels cropped from the full transposed convolution (negative: zeros appended).

    An int p crops p from each side. 'valid'/'same' follow keras' Conv2DTranspose (output (H-1)*s + max(k, s)
    and H*s)."""
    if padding == 'valid':
        return 0, min(0, k - stride)
    if padding == 'same':
        pad_len = stride + k - 2
        before = k - 1 - min(pad_len // 2 + pad_len % 2, k - 1)
        return before, k - stride - before
    return padding, padding


class _ConvBase(Layer):
    def __init__(self, name, kernel_size, input_channels, output_channels, stride, K_init, b_init):
        self.name = name
        self.kernel_size = _checks.positive_int(kernel_size, 'kernel_size')
        self.input_channels = _checks.positive_int(input_channels, 'input_channels')
        self.output_channels = _checks.positive_int(output_channels, 'output_channels')
        self.stride = _checks.positive_int(stride, 'stride')
        k = self.kernel_size
        shape = (k, k, self.input_channels, self.output_channels)
        if K_init is None:
            self.kernel = glorot_uniform(k * k * self.input_channels, k * k * self.output_channels, shape)
        else:
            self.kernel = _checks.float_array(K_init, shape, 'K_init')
        if b_init is None:
            self.bias = np.zeros(self.output_channels, self.kernel.dtype)
        else:
            self.bias = _checks.float_array(b_init, (self.output_channels,), 'b_init')

    @property
    def params(self):
        return [self.kernel, self.bias]

    def _input(self, input_data):
        return _checks.images(input_data, self.input_channels, self.name)

    # Jacobians (teaching API), built from backward: one pass per output unit. A layer may write them directly
    # instead and leave backward to Layer.backward: one of the two is needed.
    def grad_x(self, input_data):
        """(batch, C_out*Ho*Wo, C_in*H*W)."""
        return jacobian_from_backward(self, input_data)

    def grad_param(self, input_data):
        """[(batch, C_out*Ho*Wo, kernel.size), (batch, C_out*Ho*Wo, C_out)], kernel flattened row-major."""
        return param_jacobians_from_backward(self, input_data)

    def grad_kernel(self, input_data):
        return self.grad_param(input_data)[0]

    def grad_bias(self, input_data):
        return self.grad_param(input_data)[1]

    def __repr__(self):
        return '%s(kernel_size=%d, input_channels=%d, output_channels=%d, padding=%r, stride=%d)' % (
            type(self).__name__, self.kernel_size, self.input_channels, self.output_channels,
            self.padding, self.stride)


class Conv2DLayer(_ConvBase):
    """(N, C_in, H, W) -> (N, C_out, Ho, Wo), exactly Keras ``Conv2D(data_format='channels_first')``.

    'valid': Ho = (H - k) // s + 1. 'same': Ho = ceil(H / s), padded like Keras (extra row/column at the
    bottom/right)."""

    def __init__(self, kernel_size=3, input_channels=2, output_channels=3,
                 padding='same', stride=1, K_init=None, b_init=None):
        if padding not in ('same', 'valid'):
            raise ValueError("padding must be 'same' or 'valid', got %r" % (padding,))
        self.padding = padding
        super().__init__('Conv2D', kernel_size, input_channels, output_channels, stride, K_init, b_init)

    def _pads(self, x):
        """(top, bottom, left, right) zero padding for input x."""
        h, w = x.shape[2:]
        k = self.kernel_size
        if self.padding == 'same':
            return same_padding(h, k, self.stride) + same_padding(w, k, self.stride)
        if h < k or w < k:
            raise ValueError("Conv2D with padding='valid': input_data of shape %s is smaller than kernel_size %d"
                             % (x.shape, k))
        return 0, 0, 0, 0

    def forward(self, input_data):
        x = self._input(input_data)
        out = correlate(pad2d(x, *self._pads(x)), self.kernel, self.stride)
        out += self.bias[:, None, None]
        return out

    def backward(self, input_data, grad_output):
        x = self._input(input_data)
        top, _, left, _ = self._pads(x)
        grad_xp = correlate_transpose(grad_output, self.kernel, self.stride)   # by the padded input
        # cut the padding off; rows/columns of the padded input that no window reached get zero gradient
        h, w = x.shape[2:]
        grad_input = pad2d(grad_xp, -top, top + h - grad_xp.shape[2], -left, left + w - grad_xp.shape[3])
        return grad_input, self.backward_params(x, grad_output)

    def backward_params(self, input_data, grad_output):
        x = self._input(input_data)
        xp = pad2d(x, *self._pads(x))
        return [kernel_grad(xp, grad_output, self.kernel_size, self.stride), grad_output.sum(axis=(0, 2, 3))]


class Conv2DTrLayer(_ConvBase):
    """Transposed convolution: (N, C_in, H, W) -> (N, C_out, Ho, Wo).

    The input is dilated by ``stride`` (stride-1 zeros between pixels) and fully convolved with the kernel, i.e.
    each input pixel stamps ``kernel[:, :, c, :]`` at (h*stride, w*stride); an integer ``padding`` then crops
    that many pixels from each side: Ho = (H - 1) * stride + kernel_size - 2 * padding. ``'same'``/``'valid'``
    mean exactly Keras' ``Conv2DTranspose(data_format='channels_first')`` (Ho = H * stride and
    (H - 1) * stride + max(kernel_size, stride)). Keras stores that kernel as [k, k, out, in]: ours is its
    ``transpose(0, 1, 3, 2)``."""

    def __init__(self, kernel_size=3, input_channels=2, output_channels=3,
                 padding=0, stride=1, K_init=None, b_init=None):
        if padding not in ('same', 'valid') and (isinstance(padding, bool) or not isinstance(padding, (int, np.integer))
                                                 or padding < 0):
            raise ValueError("padding must be a non-negative int or 'same'/'valid', got %r" % (padding,))
        self.padding = padding if isinstance(padding, str) else int(padding)
        super().__init__('Conv2DTr', kernel_size, input_channels, output_channels, stride, K_init, b_init)
        self._crop = transpose_crop(self.padding, self.kernel_size, self.stride)

    def _check_size(self, x):
        before, after = self._crop
        full = (np.array(x.shape[2:]) - 1) * self.stride + self.kernel_size
        if (full - before - after < 1).any():
            raise ValueError('Conv2DTr: padding=%r crops everything of the (H-1)*stride+kernel_size=%s output '
                             'for input_data of shape %s' % (self.padding, tuple(full), x.shape))

    def forward(self, input_data):
        x = self._input(input_data)
        self._check_size(x)
        before, after = self._crop
        full = correlate_transpose(x, self.kernel.transpose(0, 1, 3, 2), self.stride)
        return pad2d(full, -before, -after, -before, -after) + self.bias[:, None, None]

    def backward(self, input_data, grad_output):
        x = self._input(input_data)
        self._check_size(x)
        before, after = self._crop
        grad_full = pad2d(grad_output, before, after, before, after)
        kernel_t = self.kernel.transpose(0, 1, 3, 2)
        grad_input = correlate(grad_full, kernel_t, self.stride)
        return grad_input, self.backward_params(x, grad_output)

    def backward_params(self, input_data, grad_output):
        x = self._input(input_data)
        self._check_size(x)
        before, after = self._crop
        grad_full = pad2d(grad_output, before, after, before, after)
        grad_kernel = kernel_grad(grad_full, x, self.kernel_size, self.stride).transpose(0, 1, 3, 2)
        return [grad_kernel, grad_output.sum(axis=(0, 2, 3))]
