"""Learning on MNIST (marked slow) and the contract of Network.fit / predict / evaluate (fast, synthetic data)."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from numnet_ref import (
    Adam,
    Conv2DLayer,
    Conv2DTrLayer,
    CrossEntropy,
    DenseLayer,
    FlattenLayer,
    MaxPooling,
    Network,
    ReLU,
    Softmax,
)


class MSE(object):
    """Mean squared error per sample (not part of numnet_ref): forward -> (B,), grad_x -> like p."""

    def forward(self, p, y):
        return np.mean((p - y) ** 2, axis=tuple(range(1, p.ndim)))

    def grad_x(self, p, y):
        return 2 * (p - y) / np.prod(p.shape[1:])


# ----------------------------------------------------------------------------------------------
# MNIST learning (slow)
# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_assignment_3_3_dense_softmax(mnist):
    """The assignment's 3.3: Dense(784, 10) + Softmax, plain SGD, 5 epochs on a third of MNIST."""
    X_train, Y_train, _, _ = mnist
    np.random.seed(123)
    net = Network([DenseLayer(784, 10), Softmax()], loss=CrossEntropy())
    trainX = X_train.reshape(len(X_train), -1)
    history = net.fit(
        trainX[::3], Y_train[::3], validation_split=0.25, batch_size=16, nb_epoch=5, learning_rate=0.01, verbose=0
    )
    assert len(history["val_accuracy"]) == 5
    assert history["val_accuracy"][-1] >= 0.85
    assert history["val_accuracy"][-1] > history["val_accuracy"][0] - 0.01
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.slow
def test_small_convnet_reaches_95_percent(mnist):
    """Conv2D(1->8, 3, 'same') -> ReLU -> MaxPooling -> Flatten -> Dense(8*14*14, 10) -> Softmax with Adam:
    2 epochs on 20,000 images (about half a minute on 2 cores) give >= 95% on the 10,000 test images."""
    X_train, Y_train, X_test, Y_test = mnist
    np.random.seed(0)
    net = Network(
        [
            Conv2DLayer(kernel_size=3, input_channels=1, output_channels=8, padding="same"),
            ReLU(),
            MaxPooling(),
            FlattenLayer(),
            DenseLayer(8 * 14 * 14, 10),
            Softmax(),
        ],
        loss=CrossEntropy(),
        optimizer=Adam(learning_rate=3e-3),
    )
    history = net.fit(
        X_train[:20000],
        Y_train[:20000],
        validation_split=0.1,
        batch_size=32,
        nb_epoch=2,
        shuffle=True,
        seed=0,
        verbose=0,
    )
    assert history["val_accuracy"][-1] >= 0.93
    assert net.evaluate(X_test, Y_test) >= 0.95


@pytest.mark.slow
def test_conv_transpose_autoencoder_halves_its_loss(mnist):
    """Conv2D stride 2 (28 -> 14) -> ReLU -> Conv2DTr(k=4, stride 2, padding 1) (14 -> 28), MSE, Adam."""
    X_train, _, X_test, _ = mnist
    np.random.seed(0)
    net = Network(
        [
            Conv2DLayer(kernel_size=3, input_channels=1, output_channels=8, padding="same", stride=2),
            ReLU(),
            Conv2DTrLayer(kernel_size=4, input_channels=8, output_channels=1, padding=1, stride=2),
        ],
        loss=MSE(),
        optimizer=Adam(learning_rate=1e-2),
    )
    held_out = X_test[:500]
    assert net.predict(held_out).shape == held_out.shape
    before = net.calculate_loss(held_out, held_out).mean()
    history = net.fit(X_train[:2000], X_train[:2000], validation_split=0.1, batch_size=32, nb_epoch=2, verbose=0)
    after = net.calculate_loss(held_out, held_out).mean()
    assert after <= 0.5 * before
    assert history["loss"][-1] < history["loss"][0]


# ----------------------------------------------------------------------------------------------
# fit / predict / evaluate contract (fast)
# ----------------------------------------------------------------------------------------------
def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    y = np.eye(3)[np.argmax(x[:, :3] + 0.3 * x[:, 3:4], axis=1)]
    return x, y


def _net(seed=0, optimizer=None):
    rng = np.random.default_rng(seed)
    return Network(
        [
            DenseLayer(5, 8, W_init=rng.standard_normal((5, 8)) * 0.5, b_init=np.zeros(8)),
            ReLU(),
            DenseLayer(8, 3, W_init=rng.standard_normal((8, 3)) * 0.5, b_init=np.zeros(3)),
            Softmax(),
        ],
        loss=CrossEntropy(),
        optimizer=optimizer,
    )


def _weights(net):
    return [p.copy() for layer in net.layers for p in layer.params]


def test_fit_history_lengths_and_values():
    x, y = _data()
    history = _net().fit(x, y, validation_split=0.25, batch_size=8, nb_epoch=3, learning_rate=0.1, verbose=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in history:
        assert len(history[key]) == 3, key
        assert all(np.isfinite(history[key])), key
    assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
    assert history["loss"][-1] < history["loss"][0]


def test_fit_is_the_assignment_loop():
    """shuffle=False: fit == train_test_split(random_state=42) + train_step on consecutive batches."""
    x, y = _data(83)
    net_fit, net_manual = _net(), _net()
    history = net_fit.fit(x, y, validation_split=0.25, batch_size=8, nb_epoch=2, learning_rate=0.05, verbose=0)

    train_x, val_x, train_y, val_y = train_test_split(x, y, test_size=0.25, random_state=42)
    for _ in range(2):
        for i in range(len(train_x) // 8):
            net_manual.train_step(train_x[i * 8 : (i + 1) * 8], train_y[i * 8 : (i + 1) * 8], 0.05)
    for a, b in zip(_weights(net_fit), _weights(net_manual)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert history["val_accuracy"][-1] == pytest.approx(net_fit.evaluate(val_x, val_y))
    assert history["val_loss"][-1] == pytest.approx(np.mean(net_fit.calculate_loss(val_x, val_y)))


def test_fit_training_figures_are_measured_after_the_epoch():
    """history's loss/accuracy are those of the whole training part after the epoch (like val_* on validation)."""
    x, y = _data(70)
    net = _net()
    history = net.fit(x, y, validation_split=0.2, batch_size=5, nb_epoch=1, learning_rate=0.1, verbose=0)
    train_x, val_x, train_y, val_y = train_test_split(x, y, test_size=0.2, random_state=42)
    assert history["loss"][0] == pytest.approx(np.mean(net.calculate_loss(train_x, train_y)))
    assert history["accuracy"][0] == pytest.approx(net.evaluate(train_x, train_y))
    assert history["val_loss"][0] == pytest.approx(np.mean(net.calculate_loss(val_x, val_y)))
    assert history["val_accuracy"][0] == pytest.approx(net.evaluate(val_x, val_y))


def test_train_step_is_grad_param_then_update():
    """The assignment's contract: a network whose grad_param/update are overridden trains through them."""
    calls = []

    class Recording(Network):
        def grad_param(self, input_data, labels):
            calls.append("grad_param")
            return super().grad_param(input_data, labels)

        def update(self, grad_list, learning_rate):
            calls.append("update")
            super().update(grad_list, learning_rate)

    x, y = _data(20)
    base = _net()
    net = Recording(base.layers, loss=base.loss)
    net.fit(x, y, validation_split=0, batch_size=10, nb_epoch=1, verbose=0)
    assert calls == ["grad_param", "update"] * 2


def test_fit_shuffle_seed_reproducible():
    x, y = _data()
    runs = []
    for seed in [5, 5, 6]:
        net = _net(optimizer=Adam(learning_rate=0.01))
        h = net.fit(x, y, batch_size=4, nb_epoch=2, shuffle=True, seed=seed, verbose=0)
        runs.append((_weights(net), h))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]
    assert any(not np.allclose(a, c) for a, c in zip(runs[0][0], runs[2][0]))
    # ... and shuffling really changes the order compared with shuffle=False.
    net = _net(optimizer=Adam(learning_rate=0.01))
    net.fit(x, y, batch_size=4, nb_epoch=2, shuffle=False, verbose=0)
    assert any(not np.allclose(a, c) for a, c in zip(runs[0][0], _weights(net)))


def test_fit_verbose_prints_epoch_lines(capsys):
    x, y = _data()
    _net().fit(x, y, batch_size=8, nb_epoch=2, verbose=1)
    out = capsys.readouterr().out
    assert "1 epoch: val " in out and "2 epoch: val " in out
    _net().fit(x, y, batch_size=8, nb_epoch=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_in_chunks_equals_unbatched():
    rng = np.random.default_rng(2)
    net = Network(
        [
            Conv2DLayer(
                3, 1, 2, padding="same", K_init=rng.standard_normal((3, 3, 1, 2)), b_init=rng.standard_normal(2)
            ),
            ReLU(),
            MaxPooling(),
            FlattenLayer(),
            DenseLayer(18, 4, W_init=rng.standard_normal((18, 4)), b_init=rng.standard_normal(4)),
            Softmax(),
        ]
    )
    x = rng.standard_normal((23, 1, 6, 7))
    full = net.predict(x)
    assert full.shape == (23, 4)
    for bs in [1, 5, 23, 100]:
        np.testing.assert_allclose(net.predict(x, batch_size=bs), full, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.forward(x), full, rtol=1e-12, atol=1e-15)


def test_evaluate_is_argmax_accuracy():
    x, y = _data(50)
    net = _net()
    expected = np.mean(np.argmax(net.predict(x), 1) == np.argmax(y, 1))
    assert 0 < expected < 1
    assert net.evaluate(x, y) == pytest.approx(expected)
    assert net.evaluate(x, y, batch_size=7) == pytest.approx(expected)
    assert net.evaluate(x, np.eye(3)[np.argmax(net.predict(x), 1)]) == 1.0
