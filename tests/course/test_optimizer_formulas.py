"""The optimizer tests (keras_*_steps of the helpers module, source/numnet/numnet_testing.py) compute the expected
steps with their own formulas: check those against Keras, and numnet_ref's optimizers against both."""

import importlib.util
import os

import numpy as np
import pytest

from coursekit import SOURCE_NOTEBOOK


def _function(name):
    """A function of the course's helpers module (loaded from its file, as the grader does)."""
    path = os.path.join(os.path.dirname(SOURCE_NOTEBOOK), "numnet_testing.py")
    spec = importlib.util.spec_from_file_location("_course_numnet_testing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _keras_steps(optimizer, params, grads_seq):
    import keras

    variables = [keras.Variable(p.astype("float32")) for p in params]
    for grads in grads_seq:
        optimizer.apply([g.astype("float32") for g in grads], variables)
    return [np.asarray(v.value, dtype=np.float64) for v in variables]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=0.1, momentum=0.9),
        dict(learning_rate=0.05, momentum=0.8, nesterov=True),
        dict(learning_rate=0.3),
        dict(momentum=0.5, nesterov=True),
        {},
    ],
)
def test_sgd_formula_matches_keras(kwargs):
    import keras

    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads_seq = [[rng.normal(size=p.shape) for p in params] for _ in range(5)]
    ours = _function("keras_sgd_steps")(
        params, grads_seq, kwargs.get("learning_rate", 0.01), kwargs.get("momentum", 0.0), kwargs.get("nesterov", False)
    )
    theirs = _keras_steps(keras.optimizers.SGD(**kwargs), params, grads_seq)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # keras computes in float32


@pytest.mark.parametrize("args", [(0.01,), (0.001, 0.9, 0.999, 1e-7), (0.1, 0.5, 0.9, 1e-3)])
def test_adam_formula_matches_keras(args):
    import keras

    rng = np.random.default_rng(1)
    params = [rng.normal(size=(2, 5)), rng.normal(size=1)]
    grads_seq = [[rng.normal(size=p.shape) for p in params] for _ in range(6)]
    ours = _function("keras_adam_steps")(params, grads_seq, *args)
    names = ["learning_rate", "beta_1", "beta_2", "epsilon"]
    theirs = _keras_steps(keras.optimizers.Adam(**dict(zip(names, args))), params, grads_seq)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # keras computes in float32


@pytest.mark.parametrize("kwargs", [{}, dict(learning_rate=0.01), dict(learning_rate=0.05, rho=0.5, epsilon=1e-3)])
def test_rmsprop_formula_matches_keras_and_numnet_ref(kwargs):
    import keras
    from numnet_ref import RMSprop

    _compare("keras_rmsprop_steps", keras.optimizers.RMSprop(**kwargs), RMSprop(**kwargs), kwargs, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(learning_rate=0.1),
        dict(learning_rate=0.5, initial_accumulator_value=0.0, epsilon=1e-3),
        dict(learning_rate=0.2, initial_accumulator_value=1.0),
    ],
)
def test_adagrad_formula_matches_keras_and_numnet_ref(kwargs):
    import keras
    from numnet_ref import Adagrad

    _compare("keras_adagrad_steps", keras.optimizers.Adagrad(**kwargs), Adagrad(**kwargs), kwargs, 3)


def _compare(formula, keras_optimizer, ours, kwargs, seed):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads_seq = [[rng.normal(size=p.shape) for p in params] for _ in range(5)]
    by_formula = _function(formula)(params, grads_seq, **kwargs)
    theirs = _keras_steps(keras_optimizer, params, grads_seq)
    mine = [p.copy() for p in params]
    for grads in grads_seq:
        ours.apply(mine, grads)
    for a, b, c in zip(by_formula, theirs, mine):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # keras computes in float32
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)
