"""Shared setup of the course tests: environment for Keras/MNIST."""

import os
import tempfile

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "numnet_keras_home"))


@pytest.fixture(scope="session")
def mnist_dir():
    path = os.environ.get("NUMNET_MNIST_DIR")
    if not path or not os.path.isdir(path):
        pytest.fail(f"set NUMNET_MNIST_DIR to the directory with the four MNIST .gz files (got {path!r})")
    return path


@pytest.fixture(scope="session")
def source_nb():
    import nbformat
    from coursekit import SOURCE_NOTEBOOK

    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)


@pytest.fixture(scope="session")
def release_nb():
    import nbformat
    from coursekit import NOTEBOOK, RELEASE_DIR

    return nbformat.read(os.path.join(RELEASE_DIR, NOTEBOOK), as_version=4)
