"""Shared helpers for the numnet_ref tests: configurations, random data, numerical derivatives.

No Keras import here (Keras comes from the session fixture in tests/conftest.py).
"""

import numpy as np

# ----------------------------------------------------------------------------------------------
# Layer configurations shared by the gradient checks and the Keras parity tests
# ----------------------------------------------------------------------------------------------
# Conv2DLayer: (batch, in_ch, out_ch, H, W, kernel, stride, padding)
CONV_CONFIGS = [
    (1, 1, 1, 5, 5, 1, 1, "same"),
    (2, 3, 2, 7, 6, 3, 1, "same"),
    (2, 2, 3, 7, 6, 3, 1, "valid"),
    (1, 2, 2, 8, 8, 2, 2, "same"),  # even kernel, stride 2, even size (Keras: pad only after)
    (2, 2, 2, 7, 9, 2, 2, "same"),  # even kernel, stride 2, odd sizes
    (2, 1, 3, 9, 8, 4, 1, "same"),  # even kernel, stride 1: asymmetric padding 1 before / 2 after
    (1, 3, 2, 10, 7, 5, 3, "same"),
    (2, 2, 2, 11, 8, 5, 2, "valid"),
    (1, 2, 3, 9, 9, 3, 3, "valid"),
    (3, 1, 2, 6, 5, 4, 3, "same"),
    (2, 2, 1, 8, 7, 1, 2, "valid"),
    (2, 2, 2, 6, 7, 3, 2, "same"),  # odd kernel, stride 2, even/odd sizes
]

# Conv2DTrLayer: (batch, in_ch, out_ch, H, W, kernel, stride, padding)
CONVTR_CONFIGS = [
    (1, 1, 1, 3, 3, 1, 1, 0),
    (2, 2, 3, 4, 3, 3, 1, 0),
    (2, 3, 2, 3, 4, 3, 2, 1),
    (1, 2, 2, 4, 4, 4, 2, 1),
    (2, 2, 1, 3, 5, 5, 2, 2),
    (1, 1, 2, 3, 3, 2, 3, 0),  # stride > kernel
    (2, 2, 2, 3, 4, 5, 1, 2),
    (2, 2, 2, 4, 3, 3, 3, "same"),  # stride == kernel
    (1, 2, 3, 3, 4, 2, 3, "valid"),  # stride > kernel, 'valid'
    (2, 1, 2, 5, 4, 4, 2, "same"),  # even kernel
    (1, 2, 2, 3, 3, 3, 1, "same"),
    (2, 2, 2, 4, 5, 3, 2, "valid"),
    (1, 1, 1, 3, 4, 1, 2, "same"),  # stride > kernel, 'same'
    (2, 2, 1, 3, 3, 2, 3, "same"),  # stride > kernel, 'same', even kernel
    (1, 2, 2, 4, 3, 2, 2, "valid"),
]

# MaxPooling: (batch, channels, H, W, pool_size, strides)
POOL_CONFIGS = [
    (1, 1, 4, 4, 2, 2),
    (2, 3, 5, 7, 2, 2),  # odd tails dropped
    (2, 2, 6, 5, 3, 3),
    (1, 2, 5, 6, 3, 1),  # overlapping windows
    (2, 1, 6, 7, 2, 1),
    (2, 2, 9, 8, 3, 2),
    (1, 1, 8, 9, 2, 3),  # stride > pool
    (2, 2, 7, 8, (2, 3), (2, 3)),  # pairs
    (1, 2, 7, 7, (3, 2), (1, 2)),
    (2, 1, 8, 9, (2, 3), 2),
]

# DenseLayer: (batch, input_dim, output_dim)
DENSE_CONFIGS = [(1, 1, 1), (2, 3, 4), (5, 7, 3), (3, 10, 1), (1, 6, 9)]


def conv_id(cfg):
    b, ci, co, h, w, k, s, p = cfg
    return f"B{b}_c{ci}to{co}_{h}x{w}_k{k}_s{s}_p{p}"


def pool_id(cfg):
    b, c, h, w, pool, stride = cfg

    def fmt(v):
        return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

    return f"B{b}_c{c}_{h}x{w}_pool{fmt(pool)}_s{fmt(stride)}"


def dense_id(cfg):
    return f"B{cfg[0]}_{cfg[1]}to{cfg[2]}"


# ----------------------------------------------------------------------------------------------
# Random data
# ----------------------------------------------------------------------------------------------
def distinct_values(rng, shape, gap=0.05):
    """Random array whose entries are pairwise at least ``gap`` apart and at least ``gap / 2`` away from 0.

    Used for MaxPooling / ReLU so that finite differences never cross a tie or a kink.
    """
    n = int(np.prod(shape))
    vals = (rng.permutation(n) - n / 2 + 0.5) * gap + rng.uniform(-0.2, 0.2, n) * gap
    return vals.reshape(shape)


def away_from_zero(rng, shape, margin=0.05):
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def onehot(rng, batch, classes):
    return np.eye(classes)[rng.integers(0, classes, batch)]


def soft_labels(rng, batch, classes):
    return rng.dirichlet(np.ones(classes), size=batch)


# ----------------------------------------------------------------------------------------------
# Numerical derivatives (central differences, in place on the given array)
# ----------------------------------------------------------------------------------------------
EPS = 1e-6


def rel_error(a, n):
    """Relative error of two whole arrays: ||a - n|| / max(||a|| + ||n||, 1e-12)."""
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    assert a.shape == n.shape, f"shape mismatch: {a.shape} vs {n.shape}"
    return np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12)


def numerical_gradient(f, arr, eps=EPS):
    """d f() / d arr for a scalar function ``f`` that reads ``arr`` (perturbed in place and restored)."""
    grad = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        fp = f()
        arr[idx] = old - eps
        fm = f()
        arr[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def numerical_param_jacobian(forward, x, param, eps=EPS):
    """J[b, o, p] = d forward(x)[b].ravel()[o] / d param.ravel()[p]; ``param`` is perturbed in place."""
    B = x.shape[0]
    flat = param.reshape(-1)  # a view: parameters are contiguous arrays
    assert np.shares_memory(flat, param)
    cols = []
    for p in range(flat.size):
        old = flat[p]
        flat[p] = old + eps
        fp = forward(x).reshape(B, -1)
        flat[p] = old - eps
        fm = forward(x).reshape(B, -1)
        flat[p] = old
        cols.append((fp - fm) / (2 * eps))
    return np.stack(cols, axis=-1)


def numerical_input_jacobian(forward, x, eps=EPS):
    """J[b, o, i] = d forward(x)[b].ravel()[o] / d x[b].ravel()[i] (samples are independent)."""
    B = x.shape[0]
    xf = np.array(x, dtype=np.float64).reshape(B, -1)
    cols = []
    for i in range(xf.shape[1]):
        xp = xf.copy()
        xp[:, i] += eps
        xm = xf.copy()
        xm[:, i] -= eps
        fp = forward(xp.reshape(x.shape)).reshape(B, -1)
        fm = forward(xm.reshape(x.shape)).reshape(B, -1)
        cols.append((fp - fm) / (2 * eps))
    return np.stack(cols, axis=-1)


# ----------------------------------------------------------------------------------------------
# Independent NumPy oracles (loops, written for clarity, not speed)
# ----------------------------------------------------------------------------------------------
def conv_transpose_reference(x, kernel, bias, stride, crop):
    """Transposed convolution by scatter-add: every input pixel adds ``x * kernel`` to a k x k output patch.

    x: (B, Cin, H, W), kernel: (k, k, Cin, Cout), bias: (Cout,). Output before cropping:
    (B, Cout, (H-1)*stride + k, (W-1)*stride + k); ``crop`` pixels are removed from each side.
    """
    B, _, H, W = x.shape
    k, _, _, cout = kernel.shape
    out = np.zeros((B, cout, (H - 1) * stride + k, (W - 1) * stride + k))
    for i in range(H):
        for j in range(W):
            patch = np.einsum("bc,klco->bokl", x[:, :, i, j], kernel)
            out[:, :, i * stride : i * stride + k, j * stride : j * stride + k] += patch
    out += bias[None, :, None, None]
    h, w = out.shape[2:]
    return out[:, :, crop : h - crop, crop : w - crop]
