"""The notebook's test helpers (coursekit/cells/test_helpers.py): the NumPy-only check and the messages."""
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


def test_numpy_only_accepts_numpy_code(ns):
    define(ns, "import numpy as np\n"
               "def helper(x):\n    return np.maximum(x, 0)\n"
               "class ReLU:\n    def forward(self, x):\n        return helper(x)\n"
               "class Network:\n    def fit(self, x):\n        from sklearn.model_selection import train_test_split\n"
               "        return train_test_split(x)\n")
    ns["check_numpy_only"]("ReLU", "Network", "Missing")   # Network.fit may use sklearn (given code)


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
])
def test_numpy_only_rejects_other_libraries(ns, code, culprit):
    import types
    fake_jax = types.FunctionType((lambda v: v).__code__, {})
    fake_jax.__module__ = "jax.numpy"
    ns["jaxfn"] = fake_jax
    define(ns, code)
    with pytest.raises(AssertionError) as info:
        ns["check_numpy_only"]("DenseLayer")
    assert culprit in str(info.value)
    assert "только NumPy" in str(info.value)


def test_begin_test_checks_the_task_classes(ns):
    define(ns, "class Softmax:\n    def forward(self, x):\n        import torch\n        return x\n")
    with pytest.raises(AssertionError, match="Softmax.forward: import torch"):
        ns["begin_test"]("part1_forward")
    ns["begin_test"]("bonus_optimizer")      # Softmax is not a class of that task
    ns["_cancel_alarm"]()


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


def test_isolate_imports_drops_modules_from_the_notebook_folder(tmp_path):
    """In grading mode a keras/ package written next to the notebook (and already imported) gives way to the
    installed Keras; outside grading mode nothing changes. Runs in a subprocess: it edits sys.path/sys.modules."""
    import subprocess
    import sys
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("FAKE = True\n")
    (tmp_path / "mnist_loader.py").write_text("COURSE = True\n")
    script = (
        "import os, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import keras, mnist_loader\n"
        "assert getattr(keras, 'FAKE', False)\n"
        "ns = {'__name__': '__main__'}\n"
        "exec(compile(open(%r, encoding='utf-8').read(), 'helpers', 'exec'), ns)\n"
        "ns['begin_test']('part1_forward', seconds=5)\n"
        "import keras\n"
        "print('RESULT', getattr(keras, 'FAKE', False), 'site-packages' in keras.__file__,\n"
        "      'mnist_loader' in sys.modules, os.getcwd() in sys.path)\n" % HELPERS)
    env = dict(os.environ, KERAS_BACKEND="jax")
    for grading, expected in (("1", "False True True False"), ("0", "True False True True")):
        env["NUMNET_GRADING"] = grading
        env.pop("NBGRADER_EXECUTION", None)
        out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        # (in grading mode stderr joins stdout: library warnings may come before the result line)
        result = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        assert result == [expected.split()], (grading, out.stdout, out.stderr[-2000:])


def test_stderr_goes_to_stdout_in_grading_mode():
    """nbgrader scores a test cell 0 for any stderr output; in grading mode the helpers send Python's stderr,
    logging handlers bound to it and file descriptor 2 to stdout. Outside grading mode nothing changes."""
    import subprocess
    import sys
    script = (
        "import logging, os, sys, warnings\n"
        "handler = logging.StreamHandler()\n"                      # bound to sys.stderr now
        "logging.getLogger('lib').addHandler(handler)\n"
        "ns = {'__name__': '__main__'}\n"
        "exec(compile(open(%r, encoding='utf-8').read(), 'helpers', 'exec'), ns)\n"
        "ns['begin_test']('part1_forward', seconds=5)\n"
        "warnings.warn('python warning')\n"
        "logging.getLogger('lib').warning('logged warning')\n"
        "sys.stdout.flush()\n"
        "os.write(2, b'c-level write\\n')\n" % HELPERS)
    env = dict(os.environ, KERAS_BACKEND="jax")
    env.pop("NBGRADER_EXECUTION", None)
    for grading in ("1", "0"):
        env["NUMNET_GRADING"] = grading
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        texts = ("python warning", "logged warning", "c-level write")
        where = out.stdout if grading == "1" else out.stderr
        assert all(t in where for t in texts), (grading, out.stdout, out.stderr)
        if grading == "1":
            assert not any(t in out.stderr for t in texts), out.stderr
