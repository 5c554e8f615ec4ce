"""Helpers of the image layers: padding, dilation, and convolution as one matrix product over strided windows.

All images are NCHW; kernels are ``(k, k, C_in, C_out)``. ``windows`` is a zero-copy view (``as_strided`` via
``sliding_window_view``); ``np.tensordot`` then copies it into the im2col matrix and does one BLAS product.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad2d(x, top, bottom, left, right):
    """Zero-pads (positive amounts) or crops (negative amounts) the last two axes of ``x``."""
    h, w = x.shape[-2:]
    x = x[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    pads = [(0, 0)] * (x.ndim - 2) + [(max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))]
    return np.pad(x, pads) if any(p != (0, 0) for p in pads) else x


def dilate(x, stride):
    """Inserts ``stride - 1`` zeros between neighbouring pixels: (N, C, H, W) -> (N, C, (H-1)*s+1, (W-1)*s+1)."""
    if stride == 1:
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1), dtype=x.dtype)
    out[:, :, ::stride, ::stride] = x
    return out


def windows(x, k, stride):
    """View (N, C, Ho, Wo, k, k) of the k x k windows of ``x`` taken every ``stride`` pixels (no padding)."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def correlate(x, kernel, stride):
    """Valid strided cross-correlation. x (N, C, H, W), kernel (k, k, C, O) -> (N, O, Ho, Wo),
    out[n, o, h, w] = sum_{c, i, j} x[n, c, h*s + i, w*s + j] * kernel[i, j, c, o]."""
    out = np.tensordot(windows(x, kernel.shape[0], stride), kernel, axes=([1, 4, 5], [2, 0, 1]))
    return out.transpose(0, 3, 1, 2)


def correlate_transpose(g, kernel, stride):
    """The adjoint of ``correlate`` by its input: every pixel of g stamps the kernel at (h*s, w*s).
    g (N, O, Ho, Wo), kernel (k, k, C, O) -> (N, C, (Ho-1)*s + k, (Wo-1)*s + k).

    Computed as a stride-1 correlation of the dilated, (k-1)-padded g with the flipped kernel."""
    k = kernel.shape[0]
    g = pad2d(dilate(g, stride), k - 1, k - 1, k - 1, k - 1)
    return correlate(g, kernel[::-1, ::-1].transpose(0, 1, 3, 2), 1)


def kernel_grad(x, g, k, stride):
    """d/d kernel of sum(g * correlate(x, kernel, stride)). x (N, C, H, W), g (N, O, Ho, Wo) -> (k, k, C, O)."""
    win = windows(x, k, stride)[:, :, :g.shape[2], :g.shape[3]]
    return np.tensordot(win, g, axes=([0, 2, 3], [0, 2, 3])).transpose(1, 2, 0, 3)
