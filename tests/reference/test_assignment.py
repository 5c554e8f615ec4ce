"""The assignment's own tests, reproduced verbatim and turned into assertions.

The helper functions ``numerical_diff_net``, ``numerical_diff_layer``, ``numerical_grad_b`` and
``numerical_grad_W`` are copied exactly from the assignment; each ``test_*`` of the assignment keeps its body
but asserts on the same criterion ``np.sum(np.abs(num_grad - grad)) < 0.01`` instead of printing.
The Keras forward test uses the assignment's ``get_keras_model`` model, ported to the Keras 3 API.
"""

import numpy as np
import pytest

from numnet_ref import CrossEntropy, DenseLayer, FlattenLayer, MaxPooling, Network, ReLU, Softmax


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(123)  # as at the top of the assignment: for reproducibility


# ---------------------------------------------------------------------------------- 2.2, 2.5
def numerical_diff_net(net, x, labels):
    eps = 0.00001
    right_answer = []
    for i in range(len(x[0])):
        delta = np.zeros(len(x[0]))
        delta[i] = eps
        diff = (net.calculate_loss(x + delta, labels) - net.calculate_loss(x - delta, labels)) / (2 * eps)
        right_answer.append(diff)
    return np.array(right_answer).T


def check_net(net):
    """The assignment's ``test_net`` with the print replaced by an assertion."""
    x = np.array([[1, 2, 3], [2, 3, 4]])
    labels = np.array([[0.3, 0.2, 0.5], [0.3, 0.2, 0.5]])
    num_grad = numerical_diff_net(net, x, labels)
    grad = net.grad_x(x, labels)
    assert np.sum(np.abs(num_grad - grad)) < 0.01, (
        f'Something went wrong!\nNumerical grad is\n{num_grad}\nYour gradiend is \n{grad}'
    )


def test_net_crossentropy():
    loss = CrossEntropy()
    check_net(loss)


def test_net_network():
    net = Network([DenseLayer(3, 10), ReLU(), DenseLayer(10, 3), Softmax()], loss=CrossEntropy())
    check_net(net)


# ---------------------------------------------------------------------------------- 2.3, 2.4
def numerical_diff_layer(layer, x):
    eps = 0.00001
    right_answer = []
    for i in range(len(x[0])):
        delta = np.zeros(len(x[0]))
        delta[i] = eps
        diff = (layer.forward(x + delta) - layer.forward(x - delta)) / (2 * eps)
        right_answer.append(diff.T)
    return np.array(right_answer).T


def check_layer(layer):
    """The assignment's ``test_layer`` with the print replaced by an assertion."""
    x = np.array([[1, 2, 3], [2, -3, 4]])
    num_grad = numerical_diff_layer(layer, x)
    grad = layer.grad_x(x)
    assert np.sum(np.abs(num_grad - grad)) < 0.01, (
        f'Something went wrong!\nNumerical grad is\n{num_grad}\nYour gradiend is \n{grad}'
    )


def test_layer_softmax():
    layer = Softmax()
    check_layer(layer)


def test_layer_relu():
    layer = ReLU()
    check_layer(layer)


def test_layer_dense():
    layer = DenseLayer(3, 4)
    check_layer(layer)


# ---------------------------------------------------------------------------------- 3.1
def numerical_grad_b(input_size, output_size, b, W, x):
    eps = 0.00001
    right_answer = []
    for i in range(len(b)):
        delta = np.zeros(b.shape)
        delta[i] = eps
        dense1 = DenseLayer(input_size, output_size, W_init=W, b_init=b + delta)
        dense2 = DenseLayer(input_size, output_size, W_init=W, b_init=b - delta)
        diff = (dense1.forward(x) - dense2.forward(x)) / (2 * eps)
        right_answer.append(diff.T)
    return np.array(right_answer).T


def test_grad_b():
    input_size = 3
    output_size = 4
    W_init = np.random.random((input_size, output_size))
    b_init = np.random.random((output_size,))
    x = np.random.random((2, input_size))

    dense = DenseLayer(input_size, output_size, W_init, b_init)
    grad = dense.grad_b(x)

    num_grad = numerical_grad_b(input_size, output_size, b_init, W_init, x)
    assert np.sum(np.abs(num_grad - grad)) < 0.01, (
        f'Something went wrong!\nNumerical grad is\n{num_grad}\nYour gradiend is \n{grad}'
    )


def numerical_grad_W(input_size, output_size, b, W, x):
    eps = 0.00001
    right_answer = []
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            delta = np.zeros(W.shape)
            delta[i, j] = eps
            dense1 = DenseLayer(input_size, output_size, W_init=W + delta, b_init=b)
            dense2 = DenseLayer(input_size, output_size, W_init=W - delta, b_init=b)
            diff = (dense1.forward(x) - dense2.forward(x)) / (2 * eps)
            right_answer.append(diff.T)
    return np.array(right_answer).T


def test_grad_W():
    input_size = 3
    output_size = 4
    W_init = np.random.random((input_size, output_size))
    b_init = np.random.random((4,))
    x = np.random.random((2, input_size))

    dense = DenseLayer(input_size, output_size, W_init, b_init)
    grad = dense.grad_W(x)

    num_grad = numerical_grad_W(input_size, output_size, b_init, W_init, x)
    assert np.sum(np.abs(num_grad - grad)) < 0.01, (
        f'Something went wrong!\nNumerical grad is\n{num_grad}\nYour gradiend is \n{grad}'
    )


# ---------------------------------------------------------------------------------- 1.4 (Keras)
def get_keras_model(keras, X_train, Y_train):
    """The assignment's model in the Keras 3 API, trained briefly (a slice of MNIST, one epoch)."""
    from keras.models import Model
    from keras.layers import Dense, Flatten, Input, MaxPooling2D
    from keras.optimizers import SGD

    keras.utils.set_random_seed(123)
    input_image = Input(shape=(1, 28, 28))
    pool1 = MaxPooling2D(pool_size=(2, 2), data_format='channels_first')(input_image)
    flatten = Flatten()(pool1)
    dense1 = Dense(10, activation='softmax')(flatten)
    model = Model(inputs=input_image, outputs=dense1)

    sgd = SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])

    model.fit(X_train, Y_train, validation_split=0.25, batch_size=32, epochs=1, verbose=0)
    return model


def get_our_model(keras_model):
    maxpool = MaxPooling()
    flatten = FlattenLayer()
    dense = DenseLayer(196, 10, W_init=keras_model.get_weights()[0], b_init=keras_model.get_weights()[1])
    softmax = Softmax()
    net = Network([maxpool, flatten, dense, softmax])
    return net


def test_keras_forward(keras, mnist_raw):
    (X_train, y_train), (X_test, y_test) = mnist_raw
    X_train = X_train.reshape(X_train.shape[0], 1, 28, 28)
    X_test = X_test.reshape(X_test.shape[0], 1, 28, 28)
    X_train = X_train.astype('float32')
    X_test = X_test.astype('float32')
    X_train /= 255
    X_test /= 255
    Y_train = keras.utils.to_categorical(y_train, 10)
    Y_test = keras.utils.to_categorical(y_test, 10)

    keras_model = get_keras_model(keras, X_train[:4000], Y_train[:4000])
    our_model = get_our_model(keras_model)
    # The model was really trained (the test is not about an untrained, near-uniform softmax).
    assert keras_model.evaluate(X_test[:2000], Y_test[:2000], verbose=0)[1] > 0.7

    keras_prediction = keras_model.predict(X_test, verbose=0)
    our_model_prediction = our_model.predict(X_test)
    assert our_model_prediction.shape == (10000, 10)
    assert np.sum(np.abs(keras_prediction - our_model_prediction)) < 0.01
