"""Shared pytest configuration for the whole test tree.

* Keras (the test oracle) runs on the JAX backend with a private, temporary ``KERAS_HOME`` so that
  nothing is read from or written to the user's home directory.  These variables must be set before
  ``keras`` is imported anywhere, hence at module import time of this conftest.
* MNIST is read offline from ``NUMNET_MNIST_DIR`` (the four standard IDX ``.gz`` files).
* Keras itself is only imported inside the session-scoped ``keras`` fixture, so collection stays fast.
"""

import atexit
import gzip
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("KERAS_BACKEND", "jax")
if "KERAS_HOME" not in os.environ:
    os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="numnet_keras_home_")
    atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)
os.environ.setdefault("NUMNET_MNIST_DIR", "/work/shared/data/mnist")
# JAX: keep the oracle on the CPU and quiet.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running learning tests (minutes); still run in CI, deselect with -m 'not slow'"
    )
    # Keras 3.15 + NumPy 2.4: Keras' own Variable.__array__ triggers this on every get_weights(); not ours.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def keras():
    """The Keras 3 module (JAX backend), imported lazily once per session."""
    import keras as _keras

    assert _keras.backend.backend() == "jax", "tests expect KERAS_BACKEND=jax"
    return _keras


# ----------------------------------------------------------------------------------------------
# MNIST
# ----------------------------------------------------------------------------------------------
_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _load_idx(path):
    """Read one gzip-compressed IDX file into a uint8 array shaped by its header."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _local_load_data():
    """Fallback MNIST reader: ``((x_train, y_train), (x_test, y_test))`` like keras.datasets.mnist."""
    root = Path(os.environ["NUMNET_MNIST_DIR"])
    missing = [name for name in _MNIST_FILES.values() if not (root / name).is_file()]
    if missing:
        pytest.fail(f"MNIST files {missing} not found in NUMNET_MNIST_DIR={root}")
    arrays = {key: _load_idx(root / name) for key, name in _MNIST_FILES.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _project_load_data():
    """The course's own loader (source/numnet/mnist_loader.py) when it exists and imports, else None."""
    path = REPO_ROOT / "source" / "numnet" / "mnist_loader.py"
    if not path.is_file():
        return None
    try:
        spec = importlib.util.spec_from_file_location("_numnet_course_mnist_loader", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.load_data
    except Exception:  # a broken loader is tested by its owner; fall back to the local reader here
        return None


@pytest.fixture(scope="session")
def mnist_raw():
    """Raw MNIST: ``((x_train uint8 (60000,28,28), y_train), (x_test (10000,28,28), y_test))``."""
    load_data = _project_load_data() or _local_load_data
    (x_train, y_train), (x_test, y_test) = load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    return (np.asarray(x_train), np.asarray(y_train)), (np.asarray(x_test), np.asarray(y_test))


@pytest.fixture(scope="session")
def mnist(mnist_raw):
    """MNIST prepared as in the assignment: X (N, 1, 28, 28) float32 in [0, 1], Y one-hot (N, 10) float32."""
    (x_train, y_train), (x_test, y_test) = mnist_raw
    X_train = x_train.reshape(x_train.shape[0], 1, 28, 28).astype("float32") / 255
    X_test = x_test.reshape(x_test.shape[0], 1, 28, 28).astype("float32") / 255
    Y_train = np.eye(10, dtype="float32")[y_train]
    Y_test = np.eye(10, dtype="float32")[y_test]
    return X_train, Y_train, X_test, Y_test
