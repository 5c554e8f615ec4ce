"""Bad arguments raise ValueError naming the argument (matched loosely on a key word) and the shapes."""
import numpy as np
import pytest

from numnet_ref import (Conv2DLayer, Conv2DTrLayer, CrossEntropy, DenseLayer, MaxPooling, Network, Softmax)


@pytest.mark.parametrize("kwargs,word", [
    (dict(padding="full"), "padding"),
    (dict(padding=1), "padding"),          # Conv2D takes only 'same' / 'valid'
    (dict(stride=0), "stride"),
    (dict(stride=-2), "stride"),
    (dict(kernel_size=0), "kernel_size"),
    (dict(input_channels=0), "input_channels"),
    (dict(output_channels=0), "output_channels"),
], ids=lambda v: str(v) if isinstance(v, dict) else v)
def test_conv2d_bad_constructor_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Conv2DLayer(**kwargs)


@pytest.mark.parametrize("kwargs,word", [
    (dict(padding="full"), "padding"),
    (dict(padding=-1), "padding"),
    (dict(stride=0), "stride"),
    (dict(kernel_size=-1), "kernel_size"),
    (dict(input_channels=0), "input_channels"),
], ids=lambda v: str(v) if isinstance(v, dict) else v)
def test_conv2d_transpose_bad_constructor_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Conv2DTrLayer(**kwargs)


def test_conv2dtr_padding_larger_than_output():
    layer = Conv2DTrLayer(kernel_size=2, input_channels=1, output_channels=1, padding=2, stride=1)
    with pytest.raises(ValueError, match="padding"):
        layer.forward(np.zeros((1, 1, 2, 2)))   # output (2-1)*1 + 2 - 4 = -1


@pytest.mark.parametrize("cls", [Conv2DLayer, Conv2DTrLayer])
def test_conv_kernel_init_shape(cls):
    with pytest.raises(ValueError, match=r"K_init|kernel") as err:
        cls(kernel_size=3, input_channels=2, output_channels=3, K_init=np.zeros((3, 3, 3, 2)),
            b_init=np.zeros(3))
    assert "(3, 3, 2, 3)" in str(err.value) or "(3, 3, 3, 2)" in str(err.value)
    with pytest.raises(ValueError, match=r"b_init|bias"):
        cls(kernel_size=3, input_channels=2, output_channels=3, K_init=np.zeros((3, 3, 2, 3)), b_init=np.zeros(2))


@pytest.mark.parametrize("cls", [Conv2DLayer, Conv2DTrLayer])
@pytest.mark.parametrize("shape", [(2, 8, 8), (8, 8), (1, 2, 8, 8, 1)], ids=lambda s: f"rank{len(s)}")
def test_conv_wrong_input_rank(cls, shape):
    layer = cls(kernel_size=3, input_channels=2, output_channels=3)
    with pytest.raises(ValueError, match=r"rank|4") as err:
        layer.forward(np.zeros(shape))
    assert str(shape) in str(err.value)


@pytest.mark.parametrize("cls", [Conv2DLayer, Conv2DTrLayer])
def test_conv_channel_mismatch(cls):
    layer = cls(kernel_size=3, input_channels=2, output_channels=3)
    with pytest.raises(ValueError, match="input_channels") as err:
        layer.forward(np.zeros((1, 3, 5, 5)))
    assert "(1, 3, 5, 5)" in str(err.value)
    with pytest.raises(ValueError, match="input_channels"):
        layer.backward(np.zeros((1, 3, 5, 5)), np.zeros((1, 3, 5, 5)))


def test_conv_valid_input_smaller_than_kernel():
    layer = Conv2DLayer(kernel_size=5, input_channels=1, output_channels=1, padding="valid")
    with pytest.raises(ValueError, match=r"kernel_size|smaller|small"):
        layer.forward(np.zeros((1, 1, 3, 8)))


@pytest.mark.parametrize("kwargs,word", [
    (dict(pool_size=0), "pool_size"),
    (dict(pool_size=(2, 2, 2)), "pool_size"),
    (dict(strides=0), "stride"),
    (dict(strides=(1, -1)), "stride"),
], ids=lambda v: str(v) if isinstance(v, dict) else v)
def test_maxpooling_bad_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MaxPooling(**kwargs)


def test_maxpooling_wrong_rank_and_too_small():
    with pytest.raises(ValueError, match=r"rank|4"):
        MaxPooling().forward(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"pool_size|small"):
        MaxPooling(pool_size=3).forward(np.zeros((1, 1, 2, 5)))


def test_dense_init_shape_mismatch():
    with pytest.raises(ValueError, match=r"W_init") as err:
        DenseLayer(3, 4, W_init=np.zeros((4, 3)), b_init=np.zeros(4))
    assert "(3, 4)" in str(err.value) and "(4, 3)" in str(err.value)
    with pytest.raises(ValueError, match=r"b_init"):
        DenseLayer(3, 4, W_init=np.zeros((3, 4)), b_init=np.zeros(3))


def test_dense_input_width_mismatch():
    layer = DenseLayer(3, 4)
    with pytest.raises(ValueError, match=r"input_dim|input") as err:
        layer.forward(np.zeros((2, 5)))
    assert "5" in str(err.value) and "3" in str(err.value)
    with pytest.raises(ValueError, match=r"input_dim|input"):
        layer.backward(np.zeros((2, 5)), np.zeros((2, 4)))


def test_crossentropy_shape_mismatch():
    with pytest.raises(ValueError, match=r"labels|shape"):
        CrossEntropy().forward(np.full((2, 3), 1 / 3), np.zeros((2, 4)))


def test_network_without_loss():
    net = Network([Softmax()])
    with pytest.raises(ValueError, match="loss"):
        net.grad_param(np.zeros((1, 3)), np.eye(3)[:1])


def test_network_without_layers():
    with pytest.raises(ValueError, match="at least one layer"):
        Network([], loss=CrossEntropy())
