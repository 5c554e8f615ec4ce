"""Numerical gradient checks (central differences, float64) of every layer, the loss and the Network.

Each layer is checked through both gradient APIs of the contract:
* the Jacobians ``grad_x(x)`` -> (B, out, in) and ``grad_param(x)`` -> [(B, out, p.size)], and
* the vector-Jacobian product ``backward(x, grad_output)`` -> (dL/dx, [dL/dp]) with a random ``grad_output``,
and the two are checked to agree with each other. Criterion: relative error of the whole array < 1e-6.
"""

import numpy as np
import pytest

from numnet_ref import (
    Conv2DLayer,
    Conv2DTrLayer,
    CrossEntropy,
    DenseLayer,
    FlattenLayer,
    Layer,
    MaxPooling,
    Network,
    ReLU,
    Softmax,
)

from .helpers import (
    CONV_CONFIGS,
    CONVTR_CONFIGS,
    DENSE_CONFIGS,
    POOL_CONFIGS,
    away_from_zero,
    conv_id,
    dense_id,
    distinct_values,
    numerical_gradient,
    numerical_input_jacobian,
    numerical_param_jacobian,
    onehot,
    pool_id,
    rel_error,
    soft_labels,
)

TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# Cases: (id, factory(rng) -> (layer, x))
# ----------------------------------------------------------------------------------------------
def _dense(cfg):
    def make(rng):
        b, i, o = cfg
        layer = DenseLayer(i, o, W_init=rng.standard_normal((i, o)), b_init=rng.standard_normal(o))
        return layer, rng.standard_normal((b, i))

    return make


def _relu(shape):
    return lambda rng: (ReLU(), away_from_zero(rng, shape))


def _softmax(shape):
    return lambda rng: (Softmax(), 2 * rng.standard_normal(shape))


def _flatten(shape):
    return lambda rng: (FlattenLayer(), rng.standard_normal(shape))


def _pool(cfg):
    def make(rng):
        b, c, h, w, pool, stride = cfg
        return MaxPooling(pool_size=pool, strides=stride), distinct_values(rng, (b, c, h, w))

    return make


def _conv(cfg):
    def make(rng):
        b, ci, co, h, w, k, s, p = cfg
        layer = Conv2DLayer(
            kernel_size=k,
            input_channels=ci,
            output_channels=co,
            padding=p,
            stride=s,
            K_init=rng.standard_normal((k, k, ci, co)),
            b_init=rng.standard_normal(co),
        )
        return layer, rng.standard_normal((b, ci, h, w))

    return make


def _convtr(cfg):
    def make(rng):
        b, ci, co, h, w, k, s, p = cfg
        layer = Conv2DTrLayer(
            kernel_size=k,
            input_channels=ci,
            output_channels=co,
            padding=p,
            stride=s,
            K_init=rng.standard_normal((k, k, ci, co)),
            b_init=rng.standard_normal(co),
        )
        return layer, rng.standard_normal((b, ci, h, w))

    return make


CASES = (
    [pytest.param(_dense(c), id="Dense_" + dense_id(c)) for c in DENSE_CONFIGS]
    + [pytest.param(_relu(s), id="ReLU_" + "x".join(map(str, s))) for s in [(1, 5), (3, 7), (2, 3, 4, 5)]]
    + [pytest.param(_softmax(s), id="Softmax_" + "x".join(map(str, s))) for s in [(1, 4), (3, 6), (2, 1)]]
    + [pytest.param(_flatten(s), id="Flatten_" + "x".join(map(str, s))) for s in [(1, 2, 3, 4), (3, 1, 5, 2)]]
    + [pytest.param(_pool(c), id="MaxPool_" + pool_id(c)) for c in POOL_CONFIGS]
    + [pytest.param(_conv(c), id="Conv2D_" + conv_id(c)) for c in CONV_CONFIGS]
    + [pytest.param(_convtr(c), id="Conv2DTr_" + conv_id(c)) for c in CONVTR_CONFIGS]
)
PARAM_CASES = [c for c in CASES if c.id.startswith(("Dense", "Conv2D"))]


@pytest.fixture
def rng(request):
    # A distinct, reproducible stream per test id.
    return np.random.default_rng([ord(ch) for ch in request.node.name])


# ----------------------------------------------------------------------------------------------
# Jacobian API
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", CASES)
def test_grad_x_jacobian(make, rng):
    layer, x = make(rng)
    x_before = x.copy()
    jac = layer.grad_x(x)
    np.testing.assert_array_equal(x, x_before)  # the input is not modified
    num = numerical_input_jacobian(layer.forward, x)
    assert jac.shape == num.shape, f"grad_x shape {jac.shape}, expected (B, out, in) = {num.shape}"
    assert rel_error(jac, num) < TOL


@pytest.mark.parametrize("make", PARAM_CASES)
def test_grad_param_jacobian(make, rng):
    layer, x = make(rng)
    jacs = layer.grad_param(x)
    assert len(jacs) == len(layer.params) == 2
    for jac, p in zip(jacs, layer.params):
        num = numerical_param_jacobian(layer.forward, x, p)
        assert jac.shape == num.shape, f"grad_param shape {jac.shape}, expected (B, out, p.size) = {num.shape}"
        assert rel_error(jac, num) < TOL


@pytest.mark.parametrize("make", [c for c in PARAM_CASES if c.id.startswith("Dense")])
def test_dense_grad_W_grad_b(make, rng):
    layer, x = make(rng)
    W, b = layer.params
    assert W.shape == (layer.input_dim, layer.output_dim) and b.shape == (layer.output_dim,)
    assert rel_error(layer.grad_W(x), numerical_param_jacobian(layer.forward, x, W)) < TOL
    assert rel_error(layer.grad_b(x), numerical_param_jacobian(layer.forward, x, b)) < TOL


# ----------------------------------------------------------------------------------------------
# Vector-Jacobian product API
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", CASES)
def test_backward(make, rng):
    layer, x = make(rng)
    out = layer.forward(x)
    g = rng.standard_normal(out.shape)
    x_before = x.copy()
    params_before = [p.copy() for p in layer.params]
    grad_input, param_grads = layer.backward(x, g)
    np.testing.assert_array_equal(x, x_before)
    for p, p0 in zip(layer.params, params_before):
        np.testing.assert_array_equal(p, p0)  # backward does not update

    assert grad_input.shape == x.shape
    xw = x.copy()
    num_x = numerical_gradient(lambda: np.sum(layer.forward(xw) * g), xw)
    assert rel_error(grad_input, num_x) < TOL

    assert len(param_grads) == len(layer.params)
    for pg, p in zip(param_grads, layer.params):
        assert pg.shape == p.shape
        num_p = numerical_gradient(lambda: np.sum(layer.forward(x) * g), p)
        assert rel_error(pg, num_p) < TOL


@pytest.mark.parametrize("make", CASES)
def test_jacobians_agree_with_backward(make, rng):
    layer, x = make(rng)
    out = layer.forward(x)
    g = rng.standard_normal(out.shape)
    grad_input, param_grads = layer.backward(x, g)
    gf = g.reshape(len(x), -1)
    via_jac = np.einsum("bo,boi->bi", gf, layer.grad_x(x)).reshape(x.shape)
    assert rel_error(grad_input, via_jac) < 1e-10
    for pg, jac in zip(param_grads, layer.grad_param(x)):
        assert rel_error(pg, np.einsum("bo,bop->p", gf, jac).reshape(pg.shape)) < 1e-10


@pytest.mark.parametrize("make", CASES)
def test_backward_params_is_the_second_half_of_backward(make, rng):
    layer, x = make(rng)
    g = rng.standard_normal(layer.forward(x).shape)
    only_params = layer.backward_params(x, g)
    _, param_grads = layer.backward(x, g)
    assert len(only_params) == len(param_grads) == len(layer.params)
    for a, b in zip(only_params, param_grads):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_base_layer_backward_from_jacobians():
    """A layer that only defines forward and Jacobians gets a correct backward from the base class."""

    class Scale(Layer):
        """out = tanh(x) * a, with a parameter a of shape (n,)."""

        def __init__(self, a):
            super().__init__()
            self.a = a

        @property
        def params(self):
            return [self.a]

        def forward(self, x):
            return np.tanh(x) * self.a

        def grad_x(self, x):
            return np.einsum("bi,ij->bij", (1 - np.tanh(x) ** 2) * self.a, np.eye(x.shape[1]))

        def grad_param(self, x):
            return [np.einsum("bi,ij->bij", np.tanh(x), np.eye(x.shape[1]))]

    rng = np.random.default_rng(7)
    layer = Scale(rng.standard_normal(4))
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    grad_input, (grad_a,) = layer.backward(x, g)
    xw = x.copy()
    assert rel_error(grad_input, numerical_gradient(lambda: np.sum(layer.forward(xw) * g), xw)) < TOL
    assert rel_error(grad_a, numerical_gradient(lambda: np.sum(layer.forward(x) * g), layer.a)) < TOL

    # ... and trains inside a Network (plain SGD through update_param).
    net = Network([layer, Softmax()], loss=CrossEntropy())
    y = onehot(rng, 3, 4)
    a_before = layer.a.copy()
    expected = a_before - 0.1 * net.grad_param(x, y)[0][0]
    net.train_step(x, y, 0.1)
    np.testing.assert_allclose(layer.a, expected, rtol=1e-12)
    assert not np.allclose(layer.a, a_before)


@pytest.mark.parametrize("stub", [False, True], ids=["no_backward", "backward_is_the_released_stub"])
def test_base_backward_params_builds_no_input_jacobian(stub):
    """The first layer of a training network is asked for backward_params only: a Jacobian-only layer (no
    backward, or the release's stub ``return super().backward(...)``) then builds its parameter Jacobians but not
    grad_x, and gets the same parameter gradients as backward gives; backward itself still uses grad_x."""
    calls = []

    class JacobianOnlyDense(Layer):
        def __init__(self, W, b):
            super().__init__()
            self.W, self.b = W, b

        @property
        def params(self):
            return [self.W, self.b]

        def forward(self, input_data):
            return input_data @ self.W + self.b

        if stub:

            def backward(self, input_data, grad_output):
                return super().backward(input_data, grad_output)

        def grad_x(self, input_data):
            calls.append("grad_x")
            return np.repeat(self.W.T[None], len(input_data), axis=0)

        def grad_param(self, input_data):  # d out[o] / d W[i, j] = x[i] if j == o; d out[o] / d b[j] = (j == o)
            calls.append("grad_param")
            eye = np.eye(len(self.b))
            return [
                np.einsum("bi,oj->boij", input_data, eye).reshape(len(input_data), len(self.b), -1),
                np.repeat(eye[None], len(input_data), axis=0),
            ]

    rng = np.random.default_rng(8)
    layer = JacobianOnlyDense(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    only_params = layer.backward_params(x, g)
    assert calls == ["grad_param"] and not Layer._deriving
    grad_input, param_grads = layer.backward(x, g)
    assert calls[1:] == ["grad_x", "grad_param"]
    np.testing.assert_allclose(grad_input, g @ layer.W.T, rtol=1e-12)
    for a, b, exact in zip(only_params, param_grads, [x.T @ g, g.sum(axis=0)]):
        np.testing.assert_allclose(a, exact, rtol=1e-12)
        np.testing.assert_allclose(b, exact, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch,classes,kind", [(1, 3, "onehot"), (4, 5, "soft"), (3, 2, "onehot")])
def test_crossentropy(batch, classes, kind):
    rng = np.random.default_rng(batch * 100 + classes)
    p = rng.dirichlet(np.ones(classes), size=batch) * 0.9 + 0.1 / classes  # well above eps
    y = onehot(rng, batch, classes) if kind == "onehot" else soft_labels(rng, batch, classes)
    loss = CrossEntropy()
    values = loss.forward(p, y)
    assert values.shape == (batch,)
    np.testing.assert_allclose(values, -np.sum(y * np.log(p), axis=1), rtol=1e-12)
    grad = loss.grad_x(p, y)
    assert grad.shape == (batch, classes)
    pw = p.copy()
    assert rel_error(grad, numerical_gradient(lambda: np.sum(loss.forward(pw, y)), pw)) < TOL


def test_crossentropy_clips_at_eps():
    loss = CrossEntropy(eps=1e-3)
    p = np.array([[0.0, 1.0], [1e-5, 1 - 1e-5]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(loss.forward(p, y), [-np.log(1e-3), -np.log(1e-3)])
    assert np.all(np.isfinite(loss.grad_x(p, y)))


# ----------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------
def _mlp(rng):
    layers = [
        DenseLayer(6, 5, W_init=rng.standard_normal((6, 5)), b_init=rng.standard_normal(5)),
        ReLU(),
        DenseLayer(5, 4, W_init=rng.standard_normal((5, 4)), b_init=rng.standard_normal(4)),
        Softmax(),
    ]
    return layers, (6,), 4


def _convnet(rng):
    layers = [
        Conv2DLayer(
            3,
            2,
            3,
            padding="same",
            stride=1,
            K_init=rng.standard_normal((3, 3, 2, 3)) * 0.5,
            b_init=rng.standard_normal(3) * 0.1,
        ),
        ReLU(),
        MaxPooling(),
        FlattenLayer(),
        DenseLayer(27, 4, W_init=rng.standard_normal((27, 4)) * 0.5, b_init=rng.standard_normal(4)),
        Softmax(),
    ]
    return layers, (2, 6, 7), 4


def _convtrnet(rng):
    layers = [
        Conv2DTrLayer(
            3,
            1,
            2,
            padding=1,
            stride=2,
            K_init=rng.standard_normal((3, 3, 1, 2)) * 0.5,
            b_init=rng.standard_normal(2) * 0.1,
        ),
        ReLU(),
        Conv2DLayer(
            2,
            2,
            2,
            padding="valid",
            stride=2,
            K_init=rng.standard_normal((2, 2, 2, 2)) * 0.5,
            b_init=rng.standard_normal(2) * 0.1,
        ),
        FlattenLayer(),
        DenseLayer(12, 3, W_init=rng.standard_normal((12, 3)), b_init=rng.standard_normal(3)),
        Softmax(),
    ]
    return layers, (1, 3, 4), 3  # 1x3x4 -> Conv2DTr 2x5x7 -> Conv2D valid stride 2: 2x2x3 = 12


NETS = [
    pytest.param(_mlp, id="mlp"),
    pytest.param(_convnet, id="conv_relu_pool_dense"),
    pytest.param(_convtrnet, id="convtr_relu_conv_dense"),
]


@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"B{b}")
@pytest.mark.parametrize("build", NETS)
def test_network_grad_x(build, batch):
    rng = np.random.default_rng(11 + batch)
    layers, shape, classes = build(rng)
    net = Network(layers, loss=CrossEntropy())
    x = rng.standard_normal((batch,) + shape)
    y = soft_labels(rng, batch, classes)
    grad = net.grad_x(x, y)
    assert grad.shape == x.shape
    xw = x.copy()
    num = numerical_gradient(lambda: np.sum(net.calculate_loss(xw, y)), xw)  # each loss depends on its own x
    assert rel_error(grad, num) < TOL


@pytest.mark.parametrize("batch", [1, 3], ids=lambda b: f"B{b}")
@pytest.mark.parametrize("build", NETS)
def test_network_grad_param(build, batch):
    rng = np.random.default_rng(23 + batch)
    layers, shape, classes = build(rng)
    net = Network(layers, loss=CrossEntropy())
    x = rng.standard_normal((batch,) + shape)
    y = onehot(rng, batch, classes)
    grads = net.grad_param(x, y)
    assert len(grads) == len(layers)
    for layer, layer_grads in zip(layers, grads):
        assert len(layer_grads) == len(layer.params)
        for g, p in zip(layer_grads, layer.params):
            assert g.shape == p.shape
            num = numerical_gradient(lambda: np.mean(net.calculate_loss(x, y)), p)
            assert rel_error(g, num) < TOL


def test_grad_param_asks_the_first_layer_for_parameter_gradients_only():
    """Nobody needs dL/d(network input) in training: grad_param calls backward_params on the first layer (the
    convolution skips its costliest product there); grad_x still asks it for backward."""
    calls = []

    class Spy(Conv2DLayer):
        def backward(self, input_data, grad_output):
            calls.append("backward")
            return super().backward(input_data, grad_output)

        def backward_params(self, input_data, grad_output):
            calls.append("backward_params")
            return super().backward_params(input_data, grad_output)

    rng = np.random.default_rng(5)
    spy = Spy(3, 1, 2, padding="same")
    net = Network([spy, FlattenLayer(), DenseLayer(2 * 5 * 5, 3), Softmax()], loss=CrossEntropy())
    x, y = rng.standard_normal((2, 1, 5, 5)), onehot(rng, 2, 3)
    grads = net.grad_param(x, y)
    assert calls == ["backward_params"]
    via_backward = Network(
        [Conv2DLayer(3, 1, 2, padding="same", K_init=spy.kernel, b_init=spy.bias)] + net.layers[1:], loss=CrossEntropy()
    ).grad_param(x, y)
    for a, b in zip(grads[0], via_backward[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    calls.clear()
    net.grad_x(x, y)
    assert calls[:1] == ["backward"]  # (Conv2DLayer.backward then gets its parameter half from backward_params)


@pytest.mark.parametrize("labels", ["onehot", "soft"])
def test_softmax_crossentropy_fused_gradient_equals_the_two_backward_passes(labels, monkeypatch):
    """Network._backprop takes the gradient by Softmax's input in one step when the last layer is a Softmax and the
    loss a CrossEntropy. It must give what CrossEntropy.grad_x followed by Softmax.backward give, also where the
    loss clips probabilities below eps (zero gradient there) and for soft labels. A Softmax subclass keeps the
    two-step path (it might override backward), which makes the comparison."""

    class ChainedSoftmax(Softmax):
        pass

    rng = np.random.default_rng(7)
    loss = CrossEntropy(eps=0.05)  # large: some probabilities of 5 classes fall below it
    w, b = rng.standard_normal((4, 5)) * 2, rng.standard_normal(5)
    x = rng.standard_normal((6, 4))
    y = onehot(rng, 6, 5) if labels == "onehot" else soft_labels(rng, 6, 5)
    p = Softmax().forward(x @ w + b)
    assert (p < loss.eps).any() and (p >= loss.eps).any()
    chained = Network([DenseLayer(4, 5, w, b), ChainedSoftmax()], loss=loss)
    expected_x, expected_params = chained.grad_x(x, y), chained.grad_param(x, y)

    def no_call(*args):
        raise AssertionError("Softmax.backward called: the fused path was not taken")

    monkeypatch.setattr(Softmax, "backward", no_call)
    fused = Network([DenseLayer(4, 5, w, b), Softmax()], loss=loss)
    np.testing.assert_allclose(fused.grad_x(x, y), expected_x, rtol=1e-10, atol=1e-15)
    got = fused.grad_param(x, y)
    assert got[1] == [] and expected_params[1] == []
    for g, e in zip(got[0], expected_params[0]):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-15)


def test_train_step_plain_sgd_is_p_minus_lr_grad():
    rng = np.random.default_rng(5)
    layers, shape, classes = _convnet(rng)
    net = Network(layers, loss=CrossEntropy())
    x = rng.standard_normal((4,) + shape)
    y = onehot(rng, 4, classes)
    grads = net.grad_param(x, y)
    expected = [[p - 0.05 * g for p, g in zip(layer.params, lg)] for layer, lg in zip(layers, grads)]
    net.train_step(x, y, learning_rate=0.05)
    for layer, exp in zip(layers, expected):
        for p, e in zip(layer.params, exp):
            np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Points where the derivative is a convention of the contract
# ----------------------------------------------------------------------------------------------
def test_maxpooling_ties_gradient_goes_to_first_max():
    x = np.array([[[[1.0, 3.0, 0.0, 0.0], [3.0, 2.0, 0.0, 0.0]]]])  # window 1: tie (0,1)/(1,0); window 2: all equal
    layer = MaxPooling()
    np.testing.assert_array_equal(layer.forward(x), [[[[3.0, 0.0]]]])
    grad_input, params = layer.backward(x, np.array([[[[10.0, 20.0]]]]))
    assert params == []
    np.testing.assert_array_equal(grad_input, [[[[0, 10, 20, 0], [0, 0, 0, 0]]]])
    jac = layer.grad_x(x)
    np.testing.assert_array_equal(jac, [[[0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]]])


def test_maxpooling_overlapping_windows_accumulate():
    x = np.array([[[[0.0, 5.0, 1.0]]]])  # pool (1, 2), stride 1: both windows pick the 5
    layer = MaxPooling(pool_size=(1, 2), strides=1)
    grad_input, _ = layer.backward(x, np.array([[[[1.5, 2.0]]]]))
    np.testing.assert_array_equal(grad_input, [[[[0.0, 3.5, 0.0]]]])


def test_relu_gradient_zero_at_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ReLU().grad_x(x), [np.diag([0.0, 0.0, 1.0])])
    np.testing.assert_array_equal(ReLU().backward(x, np.ones((1, 3)))[0], [[0.0, 0.0, 1.0]])


def test_softmax_large_inputs_stay_finite():
    x = np.array([[1000.0, 1000.0, -1000.0], [-800.0, 0.0, 800.0]])
    out = Softmax().forward(x)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-12)
    assert np.all(np.isfinite(Softmax().grad_x(x)))
    assert np.all(np.isfinite(Softmax().backward(x, np.ones_like(x))[0]))


def test_dense_update_methods_plain_sgd():
    W, b = np.ones((2, 3)), np.zeros(3)
    layer = DenseLayer(2, 3, W_init=W, b_init=b)
    gW, gb = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0, 2.0])
    layer.update_W(gW, 0.5)
    layer.update_b(gb, 0.1)
    np.testing.assert_allclose(layer.W, 1 - 0.5 * gW)
    np.testing.assert_allclose(layer.b, -0.1 * gb)
    layer.update_param([gW, gb], 1.0)
    np.testing.assert_allclose(layer.params[0], 1 - 1.5 * gW)
    np.testing.assert_allclose(layer.params[1], -1.1 * gb)
    assert layer.params[0] is layer.W and layer.params[1] is layer.b
