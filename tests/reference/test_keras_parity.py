"""Forward parity with Keras 3 (the oracle), float32, every configuration of the gradient checks.

Keras layers are built, given random weights with ``set_weights`` and called eagerly on NumPy input; numnet_ref
gets the same weights (Keras' Conv2DTranspose kernel is [k, k, out, in], ours is [k, k, in, out]).
"""

import numpy as np
import pytest

from numnet_ref import Conv2DLayer, Conv2DTrLayer, DenseLayer, FlattenLayer, MaxPooling, ReLU, Softmax

from .helpers import (
    CONV_CONFIGS,
    CONVTR_CONFIGS,
    DENSE_CONFIGS,
    POOL_CONFIGS,
    conv_id,
    conv_transpose_reference,
    dense_id,
    distinct_values,
    pool_id,
)

RTOL = ATOL = 1e-5
F32 = np.float32


@pytest.fixture
def rng(request):
    return np.random.default_rng([ord(ch) for ch in request.node.name])


def assert_close(ours, theirs):
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, f"output shape {ours.shape}, Keras gives {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def keras_layer(layer, input_shape, weights=None):
    layer.build((None,) + tuple(input_shape))
    if weights is not None:
        layer.set_weights(weights)
    return layer


@pytest.mark.parametrize("cfg", DENSE_CONFIGS, ids=dense_id)
def test_dense(keras, rng, cfg):
    b, i, o = cfg
    W, bias, x = (rng.standard_normal(s).astype(F32) for s in [(i, o), (o,), (b, i)])
    theirs = keras_layer(keras.layers.Dense(o), (i,), [W, bias])(x)
    ours = DenseLayer(i, o, W_init=W, b_init=bias).forward(x)
    assert ours.dtype == F32
    assert_close(ours, theirs)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 4, 5)], ids=lambda s: "x".join(map(str, s)))
def test_relu(keras, rng, shape):
    x = rng.standard_normal(shape).astype(F32)
    assert_close(ReLU().forward(x), keras.layers.ReLU()(x))
    assert_close(ReLU().forward(x), keras.layers.Activation("relu")(x))


@pytest.mark.parametrize("shape", [(1, 4), (3, 10), (5, 2)], ids=lambda s: "x".join(map(str, s)))
def test_softmax(keras, rng, shape):
    x = (5 * rng.standard_normal(shape)).astype(F32)
    x[0, 0] = 80.0  # large logits: needs the max shift
    assert_close(Softmax().forward(x), keras.layers.Softmax()(x))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 28, 28), (3, 2, 1, 7)], ids=lambda s: "x".join(map(str, s)))
def test_flatten(keras, rng, shape):
    x = rng.standard_normal(shape).astype(F32)
    assert_close(FlattenLayer().forward(x), keras.layers.Flatten()(x))


@pytest.mark.parametrize("cfg", POOL_CONFIGS, ids=pool_id)
def test_maxpooling(keras, rng, cfg):
    b, c, h, w, pool, stride = cfg
    x = distinct_values(rng, (b, c, h, w)).astype(F32)
    theirs = keras.layers.MaxPooling2D(pool_size=pool, strides=stride, padding="valid", data_format="channels_first")(x)
    assert_close(MaxPooling(pool_size=pool, strides=stride).forward(x), theirs)


def test_maxpooling_defaults(keras, rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(F32)
    theirs = keras.layers.MaxPooling2D(pool_size=(2, 2), data_format="channels_first")(x)
    assert_close(MaxPooling().forward(x), theirs)


def _conv_pair(keras, rng, cfg):
    b, ci, co, h, w, k, s, p = cfg
    K = rng.standard_normal((k, k, ci, co)).astype(F32)
    bias = rng.standard_normal(co).astype(F32)
    x = rng.standard_normal((b, ci, h, w)).astype(F32)
    theirs = keras_layer(
        keras.layers.Conv2D(co, k, strides=s, padding=p, data_format="channels_first"), (ci, h, w), [K, bias]
    )
    ours = Conv2DLayer(kernel_size=k, input_channels=ci, output_channels=co, padding=p, stride=s, K_init=K, b_init=bias)
    return ours, theirs, x


@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=conv_id)
def test_conv2d(keras, rng, cfg):
    ours, theirs, x = _conv_pair(keras, rng, cfg)
    assert_close(ours.forward(x), theirs(x))


def _convtr_pair(keras, rng, cfg, keras_padding):
    b, ci, co, h, w, k, s, p = cfg
    K = rng.standard_normal((k, k, ci, co)).astype(F32)
    bias = rng.standard_normal(co).astype(F32)
    x = rng.standard_normal((b, ci, h, w)).astype(F32)
    theirs = keras_layer(
        keras.layers.Conv2DTranspose(co, k, strides=s, padding=keras_padding, data_format="channels_first"),
        (ci, h, w),
        [K.transpose(0, 1, 3, 2), bias],
    )
    ours = Conv2DTrLayer(
        kernel_size=k, input_channels=ci, output_channels=co, padding=p, stride=s, K_init=K, b_init=bias
    )
    return ours, theirs, x


@pytest.mark.parametrize("cfg", CONVTR_CONFIGS, ids=conv_id)
def test_conv2d_transpose(keras, rng, cfg):
    b, ci, co, h, w, k, s, p = cfg
    if isinstance(p, str):
        ours, theirs, x = _convtr_pair(keras, rng, cfg, p)
        assert_close(ours.forward(x), theirs(x))
    else:
        # Integer padding: Keras 'valid' computes the full transposed convolution, (H-1)*s + k (plus, when
        # s > k, s - k trailing rows/columns holding only the bias); ours crops p pixels from each side of it.
        ours, theirs, x = _convtr_pair(keras, rng, cfg, "valid")
        full_h, full_w = (h - 1) * s + k, (w - 1) * s + k
        expected = np.asarray(theirs(x))[:, :, p : full_h - p, p : full_w - p]
        out = ours.forward(x)
        assert out.shape == (b, co, full_h - 2 * p, full_w - 2 * p)
        assert_close(out, expected)


@pytest.mark.parametrize("cfg", [c for c in CONVTR_CONFIGS if not isinstance(c[-1], str)], ids=conv_id)
def test_conv2d_transpose_integer_padding_numpy_oracle(rng, cfg):
    """Integer padding against an independent scatter-add implementation (float64)."""
    b, ci, co, h, w, k, s, p = cfg
    K, bias, x = rng.standard_normal((k, k, ci, co)), rng.standard_normal(co), rng.standard_normal((b, ci, h, w))
    ours = Conv2DTrLayer(
        kernel_size=k, input_channels=ci, output_channels=co, padding=p, stride=s, K_init=K, b_init=bias
    ).forward(x)
    expected = conv_transpose_reference(x, K, bias, s, p)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_default_init_like_keras():
    """Default init: float32, zero bias, Glorot-uniform bound sqrt(6 / (fan_in + fan_out))."""
    dense = DenseLayer(300, 100)
    W, b = dense.params
    assert W.dtype == np.float32 and b.dtype == np.float32 and not b.any()
    limit = np.sqrt(6 / 400)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.9 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.05 * limit
    conv = Conv2DLayer(kernel_size=3, input_channels=4, output_channels=8)
    K, kb = conv.params
    assert K.shape == (3, 3, 4, 8) and K.dtype == np.float32 and kb.shape == (8,) and not kb.any()
    limit = np.sqrt(6 / (9 * 4 + 9 * 8))
    assert np.abs(K).max() <= limit and np.abs(K).max() > 0.8 * limit


def test_init_arrays_are_copied():
    W = np.ones((3, 2))
    b = np.zeros(2)
    dense = DenseLayer(3, 2, W_init=W, b_init=b)
    dense.update_param([np.ones((3, 2)), np.ones(2)], 0.5)
    np.testing.assert_array_equal(W, 1.0)
    np.testing.assert_array_equal(b, 0.0)
    assert dense.params[0].dtype == np.float64
    K = np.ones((2, 2, 1, 1), dtype=np.float32)
    conv = Conv2DLayer(2, 1, 1, K_init=K, b_init=np.zeros(1, np.float32))
    assert conv.params[0].dtype == np.float32 and not np.shares_memory(conv.params[0], K)


# ----------------------------------------------------------------------------------------------
# Input-gradient parity via jax.vjp of the Keras layer
# ----------------------------------------------------------------------------------------------
def _keras_vjp(layer, x, g):
    import jax

    _, vjp = jax.vjp(lambda inp: layer(inp), x)
    return np.asarray(vjp(g)[0])


@pytest.mark.parametrize("cfg", [CONV_CONFIGS[3], CONV_CONFIGS[6], CONV_CONFIGS[8]], ids=conv_id)
def test_conv2d_input_gradient(keras, rng, cfg):
    ours, theirs, x = _conv_pair(keras, rng, cfg)
    g = rng.standard_normal(ours.forward(x).shape).astype(F32)
    assert_close(ours.backward(x, g)[0], _keras_vjp(theirs, x, g))


@pytest.mark.parametrize("cfg", [CONVTR_CONFIGS[7], CONVTR_CONFIGS[8], CONVTR_CONFIGS[9]], ids=conv_id)
def test_conv2d_transpose_input_gradient(keras, rng, cfg):
    ours, theirs, x = _convtr_pair(keras, rng, cfg, cfg[-1])
    g = rng.standard_normal(ours.forward(x).shape).astype(F32)
    assert_close(ours.backward(x, g)[0], _keras_vjp(theirs, x, g))


@pytest.mark.parametrize("cfg", [POOL_CONFIGS[3], POOL_CONFIGS[7]], ids=pool_id)
def test_maxpooling_input_gradient(keras, rng, cfg):
    b, c, h, w, pool, stride = cfg
    x = distinct_values(rng, (b, c, h, w)).astype(F32)
    ours = MaxPooling(pool_size=pool, strides=stride)
    theirs = keras.layers.MaxPooling2D(pool_size=pool, strides=stride, data_format="channels_first")
    g = rng.standard_normal(ours.forward(x).shape).astype(F32)
    assert_close(ours.backward(x, g)[0], _keras_vjp(theirs, x, g))
