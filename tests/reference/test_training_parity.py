"""Training parity with Keras 3: same initial weights, same 20 batches, same optimizer -> same weights.

Keras minimises the batch mean of the per-sample categorical crossentropy (probabilities clipped at 1e-7),
which is what ``Network.grad_param`` differentiates with ``CrossEntropy(eps=1e-7)``.
"""

import numpy as np
import pytest

from numnet_ref import (
    Adagrad,
    Adam,
    Conv2DLayer,
    CrossEntropy,
    DenseLayer,
    FlattenLayer,
    MaxPooling,
    Network,
    ReLU,
    RMSprop,
    SGD,
    Softmax,
)

N_STEPS, BATCH, CLASSES = 20, 8, 5
ATOL = 1e-4


def _keras_mlp(keras):
    return keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(16),
            keras.layers.ReLU(),
            keras.layers.Dense(CLASSES),
            keras.layers.Softmax(),
        ]
    )


def _our_mlp(weights):
    W1, b1, W2, b2 = weights
    return [DenseLayer(20, 16, W_init=W1, b_init=b1), ReLU(), DenseLayer(16, CLASSES, W_init=W2, b_init=b2), Softmax()]


def _keras_convnet(keras):
    cf = "channels_first"
    return keras.Sequential(
        [
            keras.Input((1, 8, 8)),
            keras.layers.Conv2D(4, 3, padding="same", data_format=cf),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(2, data_format=cf),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES),
            keras.layers.Softmax(),
        ]
    )


def _our_convnet(weights):
    K, kb, W, b = weights
    return [
        Conv2DLayer(3, 1, 4, padding="same", stride=1, K_init=K, b_init=kb),
        ReLU(),
        MaxPooling(),
        FlattenLayer(),
        DenseLayer(64, CLASSES, W_init=W, b_init=b),
        Softmax(),
    ]


# id -> (Keras model factory, numnet_ref layers factory from the 4 weight arrays, input shape)
MODELS = {"mlp": (_keras_mlp, _our_mlp, (20,)), "convnet": (_keras_convnet, _our_convnet, (1, 8, 8))}

# id -> (Keras optimizer factory, numnet_ref optimizer factory or None for plain SGD, learning rate for train_step)
OPTIMIZERS = {
    "sgd_plain_no_optimizer": (lambda k: k.optimizers.SGD(learning_rate=0.1), lambda: None, 0.1),
    "sgd_plain_optimizer": (lambda k: k.optimizers.SGD(learning_rate=0.1), lambda: SGD(learning_rate=0.1), 123.0),
    "sgd_momentum": (
        lambda k: k.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        lambda: SGD(learning_rate=0.05, momentum=0.9),
        123.0,
    ),
    "sgd_nesterov": (
        lambda k: k.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
        123.0,
    ),
    "rmsprop": (lambda k: k.optimizers.RMSprop(learning_rate=0.01), lambda: RMSprop(learning_rate=0.01), 123.0),
    "adagrad": (lambda k: k.optimizers.Adagrad(learning_rate=0.1), lambda: Adagrad(learning_rate=0.1), 123.0),
    "adam_lr1e-3": (lambda k: k.optimizers.Adam(), lambda: Adam(), 123.0),
    "adam_lr1e-2": (lambda k: k.optimizers.Adam(learning_rate=1e-2), lambda: Adam(learning_rate=1e-2), 123.0),
}


@pytest.mark.parametrize("opt_id", list(OPTIMIZERS))
@pytest.mark.parametrize("model_id", list(MODELS))
def test_weights_after_training_match_keras(keras, model_id, opt_id):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    make_keras, make_ours, in_shape = MODELS[model_id]
    keras_model = make_keras(keras)
    # Random non-zero weights (biases too), set identically in both.
    weights = [(0.3 * rng.standard_normal(w.shape)).astype(np.float32) for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    layers = make_ours([w.copy() for w in weights])

    keras_opt, our_opt, lr = OPTIMIZERS[opt_id]
    keras_model.compile(optimizer=keras_opt(keras), loss="categorical_crossentropy")
    net = Network(layers, loss=CrossEntropy(eps=1e-7), optimizer=our_opt())

    xs = rng.standard_normal((N_STEPS, BATCH) + in_shape).astype(np.float32)
    ys = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, (N_STEPS, BATCH))]
    for x, y in zip(xs, ys):
        keras_model.train_on_batch(x, y)
        net.train_step(x, y, lr)

    ours = [p for layer in layers for p in layer.params]
    theirs = keras_model.get_weights()
    assert len(ours) == len(theirs)
    moved = max(np.abs(t - w).max() for t, w in zip(theirs, weights))
    assert moved > 1e-2, "the weights hardly moved: the comparison would be meaningless"
    for name, o, t in zip(["W1/kernel", "b1", "W2", "b2"], ours, theirs):
        assert o.shape == t.shape, name
        np.testing.assert_allclose(o, t, rtol=0, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("opt_id", [k for k in OPTIMIZERS if k != "sgd_plain_no_optimizer"])
def test_optimizer_apply_matches_keras(keras, opt_id):
    """``opt.apply(params, grads)`` vs Keras ``apply_gradients`` on raw arrays: 6 steps, 3 params of various shapes."""
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (4,), (2, 2, 1, 3)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    keras_opt, our_opt, _ = OPTIMIZERS[opt_id]
    kopt = keras_opt(keras)
    kvars = [keras.Variable(p.copy()) for p in init]
    ours = [p.copy() for p in init]
    opt = our_opt()
    for _ in range(6):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        opt.apply(ours, [g.copy() for g in grads])
    for o, v, p0 in zip(ours, kvars, init):
        assert not np.allclose(o, p0)
        np.testing.assert_allclose(o, np.asarray(v.value), rtol=0, atol=1e-5)
