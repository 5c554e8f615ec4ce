"""Bad arguments raise ValueError naming the argument and the value or shapes, in Russian (students read them)."""

import re

import numpy as np
import pytest

from numnet_ref import (
    Adagrad,
    Adam,
    Conv2DLayer,
    Conv2DTrLayer,
    CrossEntropy,
    DenseLayer,
    FlattenLayer,
    Layer,
    MaxPooling,
    Network,
    ReLU,
    RMSprop,
    SGD,
    Softmax,
)


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(padding="full"), "padding"),
        (dict(padding=1), "padding"),  # Conv2D takes only 'same' / 'valid'
        (dict(stride=0), "stride"),
        (dict(stride=-2), "stride"),
        (dict(kernel_size=0), "kernel_size"),
        (dict(input_channels=0), "input_channels"),
        (dict(output_channels=0), "output_channels"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else v,
)
def test_conv2d_bad_constructor_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Conv2DLayer(**kwargs)


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(padding="full"), "padding"),
        (dict(padding=-1), "padding"),
        (dict(stride=0), "stride"),
        (dict(kernel_size=-1), "kernel_size"),
        (dict(input_channels=0), "input_channels"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else v,
)
def test_conv2d_transpose_bad_constructor_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Conv2DTrLayer(**kwargs)


def test_conv2dtr_padding_larger_than_output():
    layer = Conv2DTrLayer(kernel_size=2, input_channels=1, output_channels=1, padding=2, stride=1)
    with pytest.raises(ValueError, match="padding"):
        layer.forward(np.zeros((1, 1, 2, 2)))  # output (2-1)*1 + 2 - 4 = -1


@pytest.mark.parametrize("cls", [Conv2DLayer, Conv2DTrLayer])
def test_conv_kernel_init_shape(cls):
    with pytest.raises(ValueError, match=r"K_init|kernel") as err:
        cls(kernel_size=3, input_channels=2, output_channels=3, K_init=np.zeros((3, 3, 3, 2)), b_init=np.zeros(3))
    assert "(3, 3, 2, 3)" in str(err.value) or "(3, 3, 3, 2)" in str(err.value)
    with pytest.raises(ValueError, match=r"b_init|bias"):
        cls(kernel_size=3, input_channels=2, output_channels=3, K_init=np.zeros((3, 3, 2, 3)), b_init=np.zeros(2))


@pytest.mark.parametrize("cls", [Conv2DLayer, Conv2DTrLayer])
@pytest.mark.parametrize("shape", [(2, 8, 8), (8, 8), (1, 2, 8, 8, 1)], ids=lambda s: f"rank{len(s)}")
def test_conv_wrong_input_rank(cls, shape):
    layer = cls(kernel_size=3, input_channels=2, output_channels=3)
    with pytest.raises(ValueError, match=r"input_data должен быть массивом ранга 4") as err:
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
    with pytest.raises(ValueError, match=r"меньше ядра свёртки kernel_size=5"):
        layer.forward(np.zeros((1, 1, 3, 8)))


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(pool_size=0), "pool_size"),
        (dict(pool_size=(2, 2, 2)), "pool_size"),
        (dict(strides=0), "stride"),
        (dict(strides=(1, -1)), "stride"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else v,
)
def test_maxpooling_bad_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MaxPooling(**kwargs)


def test_maxpooling_wrong_rank_and_too_small():
    with pytest.raises(ValueError, match=r"ранга 4 .*\(2, 8, 8\)"):
        MaxPooling().forward(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"меньше окна pool_size=\(3, 3\)"):
        MaxPooling(pool_size=3).forward(np.zeros((1, 1, 2, 5)))


def test_dense_init_shape_mismatch():
    with pytest.raises(ValueError, match=r"W_init") as err:
        DenseLayer(3, 4, W_init=np.zeros((4, 3)), b_init=np.zeros(4))
    assert "(3, 4)" in str(err.value) and "(4, 3)" in str(err.value)
    with pytest.raises(ValueError, match=r"b_init"):
        DenseLayer(3, 4, W_init=np.zeros((3, 4)), b_init=np.zeros(3))


def test_dense_input_width_mismatch():
    layer = DenseLayer(3, 4)
    with pytest.raises(ValueError, match=r"input_data должен иметь форму \(B, input_dim\)") as err:
        layer.forward(np.zeros((2, 5)))
    assert "5" in str(err.value) and "3" in str(err.value)
    with pytest.raises(ValueError, match=r"input_dim|input"):
        layer.backward(np.zeros((2, 5)), np.zeros((2, 4)))


def test_crossentropy_shape_mismatch():
    with pytest.raises(ValueError, match=r"input_data и labels .* формы \(2, 3\) и \(2, 4\)"):
        CrossEntropy().forward(np.full((2, 3), 1 / 3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"формы \(2, 3\) и \(3,\)"):
        CrossEntropy().grad_x(np.full((2, 3), 1 / 3), np.zeros(3))


def test_network_without_loss():
    net = Network([Softmax()])
    with pytest.raises(ValueError, match="нет функции потерь.*loss=CrossEntropy"):
        net.grad_param(np.zeros((1, 3)), np.eye(3)[:1])


def test_network_without_layers():
    with pytest.raises(ValueError, match="хотя бы один слой"):
        Network([], loss=CrossEntropy())


def test_constructor_messages_name_the_argument_and_the_value():
    with pytest.raises(ValueError, match=r"^stride должен быть целым числом не меньше 1, а получено 0$"):
        Conv2DLayer(stride=0)
    with pytest.raises(
        ValueError,
        match=r"^pool_size должен быть целым числом или парой целых чисел, а получено "
        r"\(2, 2, 2\)$",
    ):
        MaxPooling(pool_size=(2, 2, 2))
    with pytest.raises(ValueError, match=r"^W_init должен иметь форму \(3, 4\), а получена форма \(4, 3\)$"):
        DenseLayer(3, 4, W_init=np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"^Conv2DLayer: padding должен быть 'same' или 'valid', а получено 1$"):
        Conv2DLayer(padding=1)
    with pytest.raises(
        ValueError,
        match=r"^Conv2DTrLayer: у input_data 3 каналов \(форма \(1, 3, 5, 5\)\), а "
        r"input_channels равно 2$",
    ):
        Conv2DTrLayer(3, 2, 1).forward(np.zeros((1, 3, 5, 5)))


# Wrong grad_output shapes: every layer's backward (and backward_params) names grad_output, the expected output
# shape and the shape it got, instead of broadcasting silently or failing deep inside NumPy.
WRONG_GRAD_OUTPUT = [
    (lambda: DenseLayer(3, 4), (2, 3), (2, 4), (2, 3)),
    (lambda: DenseLayer(3, 4), (2, 3), (2, 4), (1, 4)),
    (lambda: ReLU(), (2, 5), (2, 5), (2, 1)),  # (2, 1) would broadcast silently
    (lambda: Softmax(), (2, 5), (2, 5), (5,)),
    (lambda: FlattenLayer(), (2, 3, 2, 2), (2, 12), (2, 3, 4)),
    (lambda: MaxPooling(), (1, 2, 4, 4), (1, 2, 2, 2), (1, 2, 4, 4)),
    (lambda: MaxPooling(pool_size=3, strides=1), (1, 1, 5, 4), (1, 1, 3, 2), (1, 1, 2, 2)),
    (lambda: Conv2DLayer(3, 1, 2, padding="valid", stride=2), (1, 1, 7, 7), (1, 2, 3, 3), (1, 2, 4, 4)),
    (lambda: Conv2DLayer(3, 1, 2, padding="same", stride=2), (2, 1, 5, 6), (2, 2, 3, 3), (2, 1, 3, 3)),
    (lambda: Conv2DTrLayer(3, 1, 2, padding=1, stride=2), (1, 1, 3, 3), (1, 2, 5, 5), (1, 2, 6, 6)),
    (lambda: Conv2DTrLayer(2, 1, 2, padding="valid", stride=3), (1, 1, 2, 2), (1, 2, 6, 6), (1, 2, 5, 5)),
]


@pytest.mark.parametrize(
    "make, x_shape, out_shape, g_shape",
    WRONG_GRAD_OUTPUT,
    ids=[
        "dense",
        "dense-batch",
        "relu",
        "softmax",
        "flatten",
        "pool",
        "pool-stride1",
        "conv-valid",
        "conv-same",
        "convtr-1",
        "convtr-valid",
    ],
)
def test_backward_with_a_wrong_grad_output_shape(make, x_shape, out_shape, g_shape):
    layer = make()
    x = np.ones(x_shape)
    assert layer.forward(x).shape == out_shape  # the message's shape is the real output's
    message = (
        rf"^{type(layer).__name__}\.backward: grad_output должен иметь форму выхода слоя {re.escape(str(out_shape))}, "
        rf"а получена форма {re.escape(str(g_shape))}$"
    )
    with pytest.raises(ValueError, match=message):
        layer.backward(x, np.ones(g_shape))
    if type(layer).backward_params is not Layer.backward_params:
        with pytest.raises(ValueError, match=message):
            layer.backward_params(x, np.ones(g_shape))
    layer.backward(x, np.ones(out_shape))  # the right shape still works


def test_layer_backward_from_jacobians_checks_grad_output_and_the_jacobian():
    class JacobianDense(DenseLayer):
        backward = Layer.backward

    layer = JacobianDense(3, 2)
    with pytest.raises(
        ValueError,
        match=r"^JacobianDense\.backward: grad_output должен иметь форму выхода слоя "
        r"\(4 примеров по 2 чисел\), а получена форма \(4, 3\)$",
    ):
        layer.backward(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"форма \(3, 2\)$"):
        layer.backward(np.ones((4, 3)), np.ones((3, 2)))

    class FlatJacobian(DenseLayer):
        backward = Layer.backward

        def grad_x(self, input_data):
            return np.zeros((len(input_data), 6))

    with pytest.raises(
        ValueError,
        match=r"^FlatJacobian\.grad_x должен возвращать якобиан формы \(B, out, in\) "
        r"с B = 4, а вернул массив формы \(4, 6\)$",
    ):
        FlatJacobian(3, 2).backward(np.ones((4, 3)), np.ones((4, 2)))


def test_forward_with_a_wrong_input_rank():
    with pytest.raises(
        ValueError,
        match=r"^Softmax: input_data должен иметь форму \(B, classes\), а получена форма "
        r"\(2, 3, 4\)$",
    ):
        Softmax().forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"^FlattenLayer: .* а получена форма \(5,\)$"):
        FlattenLayer().forward(np.zeros(5))
    with pytest.raises(
        ValueError,
        match=r"^DenseLayer: input_data должен иметь форму \(B, input_dim\) = \(B, 3\), а "
        r"получена форма \(3,\)$",
    ):
        DenseLayer(3, 2).forward(np.zeros(3))


def test_network_with_something_that_is_not_a_layer():
    with pytest.raises(
        ValueError, match=r"^Network: layers\[1\] — это класс ReLU, а нужен объект слоя: ReLU\(\.\.\.\)$"
    ):
        Network([DenseLayer(2, 3), ReLU, Softmax()])
    with pytest.raises(ValueError, match=r"^Network: layers\[0\] = 'dense' — не слой \(у него нет метода forward\)$"):
        Network(["dense"])


def test_fit_with_different_numbers_of_samples_and_labels():
    net = Network([DenseLayer(2, 2), Softmax()], loss=CrossEntropy())
    for split in (0.25, 0):
        with pytest.raises(ValueError, match=r"^Network\.fit: в trainX 10 примеров, а в trainY 9"):
            net.fit(np.zeros((10, 2)), np.eye(2)[np.zeros(9, int)], validation_split=split, verbose=0)


@pytest.mark.parametrize(
    "make",
    [lambda: SGD(), lambda: SGD(momentum=0.9), lambda: RMSprop(), lambda: Adagrad(), lambda: Adam()],
    ids=["sgd", "momentum", "rmsprop", "adagrad", "adam"],
)
def test_optimizer_apply_with_wrong_gradients(make):
    optimizer = make()
    params = [np.zeros((3, 4)), np.zeros(4)]
    with pytest.raises(
        ValueError,
        match=r"\.apply: grads\[0\] имеет форму \(12,\), а params\[0\] — форму "
        r"\(3, 4\)",
    ):
        optimizer.apply(params, [np.zeros(12), np.zeros(4)])
    with pytest.raises(ValueError, match=r"\.apply: grads\[1\] имеет форму \(4, 1\)"):  # would broadcast
        optimizer.apply(params, [np.zeros((3, 4)), np.zeros((4, 1))])
    with pytest.raises(ValueError, match=r"\.apply: в params 2 массивов, а в grads 1"):
        optimizer.apply(params, [np.zeros((3, 4))])
    assert optimizer.iterations == 0 and not params[0].any()  # nothing was changed
    with pytest.raises(
        ValueError, match=rf"^{type(optimizer).__name__}: learning_rate должен быть положительным, а получено 0$"
    ):
        type(optimizer)(learning_rate=0)
