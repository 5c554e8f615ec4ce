"""Misuse that would fail silently or obscurely gets a clear error; every student-facing class has a readable repr."""

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
from numnet_ref.layer import jacobian_from_backward, param_jacobians_from_backward


class NeitherConv(Conv2DLayer):
    """A student's Conv2DLayer with neither Jacobians nor backward: both come from the other (the release stubs)."""

    def backward(self, input_data, grad_output):
        return Layer.backward(self, input_data, grad_output)

    def backward_params(self, input_data, grad_output):
        return Layer.backward_params(self, input_data, grad_output)


class NeitherDense(DenseLayer):
    """A student's DenseLayer whose Jacobians come from backward and whose backward and backward_params are the
    release stubs (the base class')."""

    def grad_x(self, input_data):
        return jacobian_from_backward(self, input_data)

    def grad_param(self, input_data):
        return param_jacobians_from_backward(self, input_data)

    def backward(self, input_data, grad_output):
        return Layer.backward(self, input_data, grad_output)

    def backward_params(self, input_data, grad_output):
        return Layer.backward_params(self, input_data, grad_output)


@pytest.mark.parametrize("call", ["grad_x", "grad_param", "backward", "backward_params"])
@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: NeitherConv(3, 1, 2, K_init=np.ones((3, 3, 1, 2)), b_init=np.zeros(2)), np.ones((2, 1, 4, 4))),
        (lambda: NeitherDense(3, 2, W_init=np.ones((3, 2)), b_init=np.zeros(2)), np.ones((2, 3))),
    ],
    ids=["conv", "dense"],
)
def test_neither_jacobians_nor_backward_is_one_clear_error(make, x, call):
    layer = make()
    args = (x,) if call.startswith("grad") else (x, np.ones_like(layer.forward(x)))
    with pytest.raises(NotImplementedError) as info:
        getattr(layer, call)(*args)
    message = str(info.value)
    assert message.startswith(type(layer).__name__ + ": реализуйте grad_x (и grad_param) или backward")
    assert message.count(".") == 0 and "\n" not in message  # one sentence
    assert len(info.traceback) < 12  # at once, not after 1000 recursions
    assert not Layer._deriving  # the guard is released


class BackwardViaParams(Conv2DLayer):
    """backward written like the reference's (it asks backward_params), backward_params left to the base class."""

    def backward_params(self, input_data, grad_output):
        return Layer.backward_params(self, input_data, grad_output)


def test_backward_and_backward_params_from_each_other_is_one_clear_error():
    layer = BackwardViaParams(3, 1, 2)
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="^BackwardViaParams: .*backward_params") as info:
        layer.backward(x, np.ones((1, 2, 4, 4)))
    assert len(info.traceback) < 12 and not Layer._deriving


def test_jacobians_only_and_backward_only_still_work():
    rng = np.random.default_rng(0)
    W, b, x, g = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    jacobians_only = DenseLayer(3, 2, W_init=W, b_init=b)
    jacobians_only.backward = lambda x_, g_: Layer.backward(jacobians_only, x_, g_)
    grad_input, (grad_W, grad_b) = jacobians_only.backward(x, g)
    np.testing.assert_allclose(grad_input, g @ W.T)
    np.testing.assert_allclose(grad_W, x.T @ g)
    conv = Conv2DTrLayer(2, 1, 2, stride=2, K_init=rng.normal(size=(2, 2, 1, 2)), b_init=np.zeros(2))
    xc = rng.normal(size=(1, 1, 2, 2))
    jac = conv.grad_x(xc)  # built from backward, nested Layer.backward never runs
    assert jac.shape == (1, 2 * 4 * 4, 4)
    assert [j.shape for j in conv.grad_param(xc)] == [(1, 32, 8), (1, 32, 2)]
    np.testing.assert_array_equal(conv.grad_kernel(xc), conv.grad_param(xc)[0])


def _net(optimizer):
    rng = np.random.default_rng(1)
    return Network(
        [
            DenseLayer(4, 4, W_init=rng.normal(size=(4, 4)), b_init=np.zeros(4)),
            ReLU(),
            DenseLayer(4, 4, W_init=rng.normal(size=(4, 4)), b_init=np.zeros(4)),
            Softmax(),
        ],
        loss=CrossEntropy(),
        optimizer=optimizer,
    )


@pytest.mark.parametrize(
    "make", [lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9), lambda: RMSprop(), lambda: Adagrad(), lambda: Adam()]
)
def test_optimizer_applied_per_layer_is_an_error(make):
    """Two layers of the same shapes: per-layer apply calls would silently share the moments."""
    optimizer = make()
    net = _net(optimizer)
    x, y = np.ones((2, 4)), np.eye(4)[:2]
    grads = net.grad_param(x, y)
    optimizer.apply(net.layers[0].params, grads[0])
    optimizer.apply(net.layers[2].params, grads[2])
    with pytest.raises(ValueError, match="одним вызовом apply"):  # back to the first layer's arrays
        optimizer.apply(net.layers[0].params, grads[0])


def test_optimizer_with_fresh_arrays_while_old_ones_are_kept():
    # a caller that keeps every array it was given (a debugging log, a grader's transport) is not per-layer use
    optimizer, kept = SGD(0.1, momentum=0.9), []
    for step in range(4):
        params = [np.ones(3) * step]
        kept.append(params)
        optimizer.apply(params, [np.ones(3)])
    assert optimizer.iterations == 4


def test_optimizer_with_whole_network_and_fresh_arrays():
    optimizer = Adam(0.01)
    net = _net(optimizer)
    x, y = np.ones((2, 4)), np.eye(4)[:2]
    for _ in range(3):
        net.train_step(x, y)
    assert optimizer.iterations == 3
    # arrays that died since the last step (copies sent by a transport, views) are simply the new parameters
    optimizer = SGD(0.1, momentum=0.9)
    for step in range(3):
        params = [np.ones(3) * step]
        optimizer.apply(params, [np.ones(3)])
        del params


def test_reprs():
    assert (
        repr(SGD(learning_rate=0.05, momentum=0.9, nesterov=True))
        == 'SGD(learning_rate=0.05, momentum=0.9, nesterov=True)'
    )
    assert repr(Adam(learning_rate=0.003)) == 'Adam(learning_rate=0.003, beta_1=0.9, beta_2=0.999, epsilon=1e-07)'
    assert repr(RMSprop()) == 'RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-07)'
    assert repr(Adagrad(0.1)) == 'Adagrad(learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-07)'
    assert repr(DenseLayer(784, 10)) == 'DenseLayer(784, 10)'
    assert repr(ReLU()) == 'ReLU()' and repr(Softmax()) == 'Softmax()' and repr(FlattenLayer()) == 'FlattenLayer()'
    assert repr(MaxPooling()) == 'MaxPooling(pool_size=(2, 2), strides=(2, 2))'
    assert (
        repr(Conv2DLayer(3, 1, 8))
        == "Conv2DLayer(kernel_size=3, input_channels=1, output_channels=8, padding='same', stride=1)"
    )
    assert repr(Conv2DTrLayer(3, 1, 8, padding=1, stride=2)).startswith('Conv2DTrLayer(kernel_size=3')
    assert repr(CrossEntropy()) == 'CrossEntropy(eps=1e-05)'
    assert (
        repr(Network([DenseLayer(2, 3), Softmax()], loss=CrossEntropy(), optimizer=SGD()))
        == 'Network([DenseLayer(2, 3), Softmax()], loss=CrossEntropy(eps=1e-05), '
        'optimizer=SGD(learning_rate=0.01, momentum=0.0, nesterov=False))'
    )
    for obj in [SGD(), RMSprop(), Adagrad(), Adam(), CrossEntropy(), MaxPooling(), Conv2DTrLayer()]:
        assert ' object at 0x' not in repr(obj)
