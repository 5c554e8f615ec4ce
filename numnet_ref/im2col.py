"""Helpers of the image layers: padding and convolution as matrix products over strided windows.

All images are NCHW; kernels are ``(k, k, C_in, C_out)``. ``windows`` is a zero-copy view (``as_strided`` via
``sliding_window_view``); ``im2col`` copies it into one ``(C*k*k, Ho*Wo)`` matrix per sample, and ``np.matmul``
multiplies all samples' matrices by the kernel matrix in one call. (One product per sample, rather than one big
product over N*Ho*Wo columns: OpenBLAS is several times faster on these shapes, and the result is NCHW already.)
The transposed direction (col2im) is one batched product followed by k*k shifted additions.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad2d(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Zero-pads (positive amounts) or crops (negative amounts) the last two axes of ``x``."""
    h, w = x.shape[-2:]
    x = x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return x
    out = np.zeros(x.shape[:-2] + (x.shape[-2] + top + bottom, x.shape[-1] + left + right), dtype=x.dtype)
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


def windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """View (N, C, Ho, Wo, k, k) of the k x k windows of ``x`` taken every ``stride`` pixels (no padding)."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def im2col(win: np.ndarray) -> np.ndarray:
    """Windows (N, C, Ho, Wo, k, k) -> (N, C*k*k, Ho*Wo): per sample, one column per output pixel (a copy)."""
    n, c, ho, wo, k, _ = win.shape
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, ho * wo)


def correlate(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Valid strided cross-correlation. x (N, C, H, W), kernel (k, k, C, O) -> (N, O, Ho, Wo),
    out[n, o, h, w] = sum_{c, i, j} x[n, c, h*s + i, w*s + j] * kernel[i, j, c, o]."""
    k, _, c, o = kernel.shape
    win = windows(x, k, stride)
    n, _, ho, wo = win.shape[:4]
    out = np.matmul(kernel.transpose(3, 2, 0, 1).reshape(o, c * k * k), im2col(win))  # (N, O, Ho*Wo)
    return out.reshape(n, o, ho, wo)


def correlate_transpose(g: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The adjoint of ``correlate`` by its input (col2im): every pixel of g stamps the kernel at (h*s, w*s).
    g (N, O, Ho, Wo), kernel (k, k, C, O) -> (N, C, (Ho-1)*s + k, (Wo-1)*s + k).

    One batched product gives every pixel's stamp; the k*k shifted, strided additions then place them."""
    n, o, ho, wo = g.shape
    k, c = kernel.shape[0], kernel.shape[2]
    stamps = np.matmul(kernel.reshape(k * k * c, o), g.reshape(n, o, ho * wo)).reshape(n, k, k, c, ho, wo)
    out = np.zeros((n, c, (ho - 1) * stride + k, (wo - 1) * stride + k), dtype=stamps.dtype)
    for i in range(k):  # a loop over kernel offsets, not over pixels
        for j in range(k):
            out[:, :, i : i + (ho - 1) * stride + 1 : stride, j : j + (wo - 1) * stride + 1 : stride] += stamps[:, i, j]
    return out


def kernel_grad(x: np.ndarray, g: np.ndarray, k: int, stride: int) -> np.ndarray:
    """d/d kernel of sum(g * correlate(x, kernel, stride)). x (N, C, H, W), g (N, O, Ho, Wo) -> (k, k, C, O)."""
    n, o, ho, wo = g.shape
    cols = im2col(windows(x, k, stride)[:, :, :ho, :wo])  # (N, C*k*k, Ho*Wo)
    grad = np.matmul(g.reshape(n, o, ho * wo), cols.transpose(0, 2, 1)).sum(axis=0)  # (O, C*k*k)
    return grad.reshape(o, x.shape[1], k, k).transpose(2, 3, 1, 0)
