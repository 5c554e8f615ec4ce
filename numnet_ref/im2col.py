"""Helpers of the image layers: padding and convolution as one matrix product over strided windows.

All images are NCHW; kernels are ``(k, k, C_in, C_out)``. ``windows`` is a zero-copy view (``as_strided`` via
``sliding_window_view``); ``np.tensordot`` then copies it into the im2col matrix and does one BLAS product.
The transposed direction (col2im) is one product followed by k*k shifted additions.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad2d(x, top, bottom, left, right):
    """Zero-pads (positive amounts) or crops (negative amounts) the last two axes of ``x``."""
    h, w = x.shape[-2:]
    x = x[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return x
    out = np.zeros(x.shape[:-2] + (x.shape[-2] + top + bottom, x.shape[-1] + left + right), dtype=x.dtype)
    out[..., top:top + x.shape[-2], left:left + x.shape[-1]] = x
    return out


def windows(x, k, stride):
    """View (N, C, Ho, Wo, k, k) of the k x k windows of ``x`` taken every ``stride`` pixels (no padding)."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def correlate(x, kernel, stride):
    """Valid strided cross-correlation. x (N, C, H, W), kernel (k, k, C, O) -> (N, O, Ho, Wo),
    out[n, o, h, w] = sum_{c, i, j} x[n, c, h*s + i, w*s + j] * kernel[i, j, c, o]."""
    # kernel first: tensordot lays the im2col matrix out as (C, k, k, N, Ho, Wo), copying whole image rows
    out = np.tensordot(kernel, windows(x, kernel.shape[0], stride), axes=([2, 0, 1], [1, 4, 5]))
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))


def correlate_transpose(g, kernel, stride):
    """The adjoint of ``correlate`` by its input (col2im): every pixel of g stamps the kernel at (h*s, w*s).
    g (N, O, Ho, Wo), kernel (k, k, C, O) -> (N, C, (Ho-1)*s + k, (Wo-1)*s + k).

    One matrix product gives every pixel's stamp; the k*k shifted, strided additions then place them."""
    n, _, ho, wo = g.shape
    k, c = kernel.shape[0], kernel.shape[2]
    stamps = np.tensordot(kernel, g, axes=([3], [1]))          # (k, k, C, N, Ho, Wo)
    out = np.zeros((c, n, (ho - 1) * stride + k, (wo - 1) * stride + k), dtype=stamps.dtype)
    for i in range(k):                                         # a loop over kernel offsets, not over pixels
        for j in range(k):
            out[:, :, i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride] += stamps[i, j]
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))


def kernel_grad(x, g, k, stride):
    """d/d kernel of sum(g * correlate(x, kernel, stride)). x (N, C, H, W), g (N, O, Ho, Wo) -> (k, k, C, O)."""
    win = windows(x, k, stride)[:, :, :g.shape[2], :g.shape[3]]
    return np.tensordot(win, g, axes=([0, 2, 3], [0, 2, 3])).transpose(1, 2, 0, 3)
