# Вспомогательные функции тестов (ячейка только для чтения; при проверке она и numnet_testing.py берутся из курса).
# Общие функции лежат в numnet_testing.py рядом с ноутбуком; здесь — то, что проверяющая сторона подменяет своим
# (expect, begin_test, accuracy_of, loss_of), и обёртки, которые берут их и классы ноутбука по имени при вызове.
import numpy as np

import numnet_testing as _testing
from numnet_testing import (GRADING, OPTIMIZER_CHOICES, OPTIMIZER_FORMULAS, TASK_CLASSES, TestFailed,  # noqa: F401
                            check_close, check_grad, conv_output_shape, conv_tr_output_shape, describe_optimizer,
                            fail, import_keras, keras_layer, keras_output, numerical_grad, numerical_jacobian,
                            numerical_jacobian_param, plot_history, validation_part)


def expect(label, compute):
    """Ожидаемое значение для сравнения: дома — compute() (эталонные формулы, численные производные, Keras); при
    проверке — значение, записанное заранее для этой ячейки (compute не вызывается)."""
    return compute()


def begin_test(task, seconds=30, seed=0):
    """Начало оцениваемой ячейки: seed, напоминание «только NumPy» для задания task, лимит времени seconds."""
    np.random.seed(seed)
    _testing.check_numpy_only(globals(), *TASK_CLASSES[task])
    _testing.start_alarm(seconds)


def accuracy_of(net, x, y):
    """Точность сети net на (x, y); при проверке её считает проверяющая сторона по слоям сети."""
    return net.evaluate(x, y)


def loss_of(net, x, y):
    """Средняя потеря сети net на (x, y); при проверке её считает проверяющая сторона по слоям сети."""
    return float(np.mean(net.calculate_loss(x, y)))


def check_layer_gradients(name, layer, x, g):
    return _testing.check_layer_gradients(expect, name, layer, x, g)


def test_net(net, x=None, labels=None):
    return _testing.test_net(expect, net, x, labels)


def test_layer(layer, x=None):
    return _testing.test_layer(expect, layer, x)


def test_grad_b(input_size=3, output_size=4, batch=2):
    return _testing.test_grad_b(expect, DenseLayer, input_size, output_size, batch)


def test_grad_W(input_size=3, output_size=4, batch=2):
    return _testing.test_grad_W(expect, DenseLayer, input_size, output_size, batch)


def small_mnist(n, size=14):
    return _testing.small_mnist(X_train, Y_train, n, size)


def check_each_optimizer(check, seconds, only=None):
    return _testing.check_each_optimizer(begin_test, check, seconds, only)


def new_optimizer(class_name, kwargs):
    return _testing.new_optimizer(globals(), class_name, kwargs)


def check_optimizer_steps(class_name, kwargs, shapes, steps, rng):
    return _testing.check_optimizer_steps(globals(), class_name, kwargs, shapes, steps, rng)


def self_check(path=None):
    """Видимые части всех тестов ноутбука и таблица результатов (path — файл ноутбука, если он не нашёлся сам)."""
    return _testing.self_check(globals(), path)
