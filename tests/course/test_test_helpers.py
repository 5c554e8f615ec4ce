"""The notebook's test helpers (coursekit/cells/test_helpers.py): expect and friends, the NumPy-only advice and
the messages."""
import os

import numpy as np
import pytest

HELPERS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "coursekit", "cells", "test_helpers.py")


@pytest.fixture()
def ns():
    """A fresh notebook-like namespace with the helpers defined (as the locked cell does)."""
    namespace = {"__name__": "__main__"}
    with open(HELPERS, encoding="utf-8") as f:
        exec(compile(f.read(), "test_helpers", "exec"), namespace)
    return namespace


def define(ns, code):
    exec(compile(code, "student", "exec"), ns)


def test_numpy_only_accepts_numpy_code(ns, capsys):
    define(ns, "import numpy as np\n"
               "def helper(x):\n    return np.maximum(x, 0)\n"
               "class ReLU:\n    def forward(self, x):\n        return helper(x)\n")
    assert ns["check_numpy_only"]("ReLU", "Missing") == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("code, culprit", [
    ("class DenseLayer:\n    def forward(self, x):\n        import keras\n        return keras.ops.relu(x)\n",
     "import keras"),
    ("import numpy\nfrom sklearn import preprocessing as pp\n"
     "def scale(x):\n    return pp.scale(x)\n"
     "class DenseLayer:\n    def forward(self, x):\n        return scale(x)\n", "pp (из sklearn)"),
    ("import types\nfake_torch = types.ModuleType('torch.nn')\n"
     "class Base:\n    def helper(self):\n        return fake_torch\n"
     "class DenseLayer(Base):\n    def forward(self, x):\n        return x\n", "fake_torch (из torch)"),
    ("class DenseLayer:\n    def forward(self, x):\n        f = lambda v: __import__('numpy') and jaxfn(v)\n"
     "        return f(x)\n", "jaxfn (из jax)"),
    ("class DenseLayer:\n    def fit(self, x):\n        from sklearn.model_selection import train_test_split\n"
     "        return train_test_split(x)\n", "import sklearn.model_selection"),
])
def test_numpy_only_warns_about_other_libraries(ns, capsys, code, culprit):
    """Advice, not a failure: grading runs the student's code without those libraries anyway."""
    import types
    fake_jax = types.FunctionType((lambda v: v).__code__, {})
    fake_jax.__module__ = "jax.numpy"
    ns["jaxfn"] = fake_jax
    define(ns, code)
    problems = ns["check_numpy_only"]("DenseLayer")
    assert any(culprit in p for p in problems), problems
    out = capsys.readouterr().out
    assert culprit in out and "только NumPy" in out


def test_begin_test_warns_about_the_task_classes_and_seeds(ns, capsys):
    define(ns, "class Softmax:\n    def forward(self, x):\n        import torch\n        return x\n")
    ns["begin_test"]("part1_forward")
    ns["_cancel_alarm"]()
    assert "Softmax.forward: import torch" in capsys.readouterr().out
    first = np.random.random()
    ns["begin_test"]("bonus_optimizer")      # Softmax is not a class of that task
    ns["_cancel_alarm"]()
    assert capsys.readouterr().out == ""
    assert np.random.random() == first       # np.random seeded with 0 again


def test_home_versions_of_expect_accuracy_loss(ns):
    assert ns["expect"]("label", lambda: [1, np.ones(2)])[0] == 1

    class Net:
        def evaluate(self, x, y):
            return 0.75

        def calculate_loss(self, x, y):
            return np.array([1.0, 2.0])
    assert ns["accuracy_of"](Net(), None, None) == 0.75
    assert ns["loss_of"](Net(), None, None) == 1.5
    for name in ("isolate_imports", "stderr_to_stdout", "ALLOWED_METHODS", "_CHECKED_MODULES"):
        assert name not in ns


def test_validation_part_is_what_fit_holds_out(ns):
    from numnet_ref import train_test_split
    x = np.arange(60, dtype=float).reshape(30, 2)
    y = np.eye(3)[np.arange(30) % 3]
    for split in (0.25, 0.3, 0.5):
        val_x, val_y = ns["validation_part"](x, y, split)
        _, expected_x, _, expected_y = train_test_split(x, y, test_size=split, random_state=42)
        np.testing.assert_array_equal(val_x, expected_x)
        np.testing.assert_array_equal(val_y, expected_y)


def test_keras_layer_keeps_the_numpy_random_state(ns):
    np.random.seed(5)
    expected = np.random.get_state()[1].copy()
    layer = ns["keras_layer"]("MaxPooling2D", pool_size=2, data_format="channels_first")
    assert type(layer).__name__ == "MaxPooling2D"
    assert (np.random.get_state()[1] == expected).all()
    out = ns["keras_output"](layer, np.arange(16, dtype=float).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_check_close_reports_shape_and_largest_difference(ns, capsys):
    with pytest.raises(AssertionError, match=r"форма \(2,\), а должна быть \(3,\)"):
        ns["check_close"]("x", np.zeros(3), np.zeros(2))
    with pytest.raises(AssertionError, match=r"наибольшее расхождение 0\.5 в позиции \(1, 0\)"):
        ns["check_grad"]("grad", np.zeros((2, 2)), np.array([[0.0, 0.1], [0.5, 0.0]]))
    out = capsys.readouterr().out
    assert "Numerical grad is" in out and "Your gradient is" in out
    with pytest.raises(AssertionError, match="nan или inf"):
        ns["check_close"]("softmax", np.zeros(2), np.array([np.nan, 0.0]))
    with pytest.raises(AssertionError, match="получено None"):
        ns["check_close"]("forward", np.zeros(2), None)
    ns["check_close"]("ok", np.ones(3), np.ones(3) + 1e-9)


def test_time_limit_stops_an_infinite_loop(ns):
    import signal
    import time
    if not hasattr(signal, "SIGALRM"):
        pytest.fail("the time limit needs SIGALRM (POSIX)")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="дольше отведённого времени"):
        ns["begin_test"]("bonus_optimizer", seconds=0.5)
        while True:
            pass
    ns["_cancel_alarm"]()
    assert time.monotonic() - start < 5


def test_numerical_jacobian_matches_known_derivative(ns):
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    jac = ns["numerical_jacobian"](lambda v: v ** 2, x)
    expected = np.stack([np.diag(2 * row) for row in x])
    np.testing.assert_allclose(jac, expected, atol=1e-6)


def test_optimizer_bonus_counts_the_best_and_survives_absent_broken_and_hanging_ones(ns, capsys):
    """At home: RMSprop right, Adam wrong, SGD hangs, Adagrad absent -> passes with RMSprop only, each reason shown."""
    import signal
    if not hasattr(signal, "SIGALRM"):
        pytest.fail("the time limit needs SIGALRM (POSIX)")
    import numnet_ref.optimizers as opt
    ns.update(Optimizer=opt.Optimizer, RMSprop=opt.RMSprop)
    define(ns, "class SGD(Optimizer):\n    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):\n"
               "        super().__init__(learning_rate)\n    def _update(self, params, grads):\n        while True:\n"
               "            pass\n"
               "class Adam(Optimizer):\n    def __init__(self, learning_rate=0.001, **kw):\n"
               "        super().__init__(learning_rate)\n    def _update(self, params, grads):\n"
               "        for p, g in zip(params, grads):\n            p -= self.learning_rate * g\n")

    def check(name):
        rng = np.random.default_rng(0)
        class_name = {"SGD с моментом": "SGD", "SGD с моментом Нестерова": "SGD"}.get(name, name)
        ns["check_optimizer_steps"](class_name, {"learning_rate": 0.1}, [(3,)], 2, rng)

    try:
        assert ns["check_each_optimizer"](check, seconds=0.5) == ["RMSprop"]
    finally:
        ns["_cancel_alarm"]()
    out = capsys.readouterr().out
    assert "RMSprop: верно" in out and "Adagrad: не реализован (NameError)" in out
    assert "SGD с моментом: ошибка: ваш код выбросил TimeoutError" in out and "Adam: ошибка: Adam(" in out
    ns.pop("RMSprop")
    with pytest.raises(ns["TestFailed"], match="ни один оптимизатор"):
        try:
            ns["check_each_optimizer"](check, seconds=0.5, only=["RMSprop", "Adam"])
        finally:
            ns["_cancel_alarm"]()
