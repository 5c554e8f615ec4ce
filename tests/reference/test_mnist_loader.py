"""Tests of source/numnet/mnist_loader.py (the MNIST loader shipped next to the course notebook).

The real-data tests read the read-only copy named by NUMNET_MNIST_DIR (default /work/shared/data/mnist);
the expected figures come from that copy's README (published label counts, first labels, SHA256 sums).
Everything else uses small IDX files written here, so nothing is downloaded: keras is replaced by a fake
module wherever the fallback could be reached.
"""

import gzip
import hashlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LOADER_PATH = ROOT / "source" / "numnet" / "mnist_loader.py"
REAL_DIR = os.environ.get("NUMNET_MNIST_DIR", "/work/shared/data/mnist")


def _import_loader():
    spec = importlib.util.spec_from_file_location("mnist_loader_under_test", LOADER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ml = _import_loader()

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# ---------------------------------------------------------------- helpers (independent of the loader)


def idx_bytes(array, magic=None):
    """IDX encoding of a uint8 array: big-endian magic 0x000008<ndim>, big-endian dims, raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_file(directory, name, content, compress):
    filename = Path(directory) / (name + ".gz" if compress else name)
    if compress:
        with gzip.open(filename, "wb") as f:
            f.write(content)
    else:
        filename.write_bytes(content)
    return filename


def make_arrays(n_train=7, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def write_dataset(directory, arrays, compress=True, skip=()):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        if key not in skip:
            write_file(directory, NAMES[key], idx_bytes(array), compress)
    return directory


def assert_same(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, key in (
        (x_train, "train_images"),
        (y_train, "train_labels"),
        (x_test, "test_images"),
        (y_test, "test_labels"),
    ):
        assert got.dtype == np.uint8
        assert got.shape == arrays[key].shape
        np.testing.assert_array_equal(got, arrays[key])


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty current directory and an empty 'module directory': only what a test adds."""
    monkeypatch.delenv(ml.ENV_VAR, raising=False)
    cwd = tmp_path / "cwd"
    here = tmp_path / "module_dir"
    cwd.mkdir()
    here.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(ml, "_HERE", here)
    return types.SimpleNamespace(root=tmp_path, cwd=cwd, here=here)


class FakeKeras:
    """Stands in for the keras module: records calls of keras.datasets.mnist.load_data()."""

    def __init__(self, result=None, error=None):
        self.calls = 0
        self.result, self.error = result, error
        self.datasets = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=self.load_data))

    def load_data(self, *args, **kwargs):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.result


# ---------------------------------------------------------------- the real MNIST copy


@pytest.fixture(scope="module")
def real_mnist():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ml.ENV_VAR, REAL_DIR)
        return ml.load_data()


def test_real_shapes_and_dtypes(real_mnist):
    (x_train, y_train), (x_test, y_test) = real_mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert x_train.flags.writeable and x_train.flags.owndata  # like the arrays np.load gives keras


def test_real_labels(real_mnist):
    (_, y_train), (_, y_test) = real_mnist
    assert np.bincount(y_train, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_real_pixels(real_mnist):
    (x_train, _), (x_test, _) = real_mnist
    assert x_train.mean(dtype=np.float64) / 255 == pytest.approx(0.130660, abs=5e-6)
    assert x_train.std(dtype=np.float64) / 255 == pytest.approx(0.308108, abs=5e-6)
    assert x_test.mean(dtype=np.float64) / 255 == pytest.approx(0.132515, abs=5e-6)
    assert x_train.min() == 0 and x_train.max() == 255


def test_real_content_matches_published_sha256(real_mnist):
    """Re-encoding the arrays as IDX gives byte-for-byte the official uncompressed MNIST files."""
    (x_train, y_train), (x_test, y_test) = real_mnist
    expected = {
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db": x_train,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5": y_train,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7": x_test,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": y_test,
    }
    for sha, array in expected.items():
        assert hashlib.sha256(idx_bytes(array)).hexdigest() == sha


# ---------------------------------------------------------------- synthetic files: round trips and search order


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_round_trip_from_path(isolated, compress):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, compress=compress)
    before = sorted(p.name for p in directory.iterdir())
    assert_same(ml.load_data(path=directory), arrays)
    assert_same(ml.load_data(path=str(directory)), arrays)
    assert sorted(p.name for p in directory.iterdir()) == before  # nothing written


def test_round_trip_mixed_compression(isolated):
    arrays = make_arrays(n_train=3, n_test=2, seed=1)
    directory = write_dataset(
        isolated.root / "data", {k: arrays[k] for k in ("train_images", "test_labels")}, compress=True
    )
    write_dataset(directory, {k: arrays[k] for k in ("train_labels", "test_images")}, compress=False)
    assert_same(ml.load_data(path=directory), arrays)


def test_env_var_is_used(isolated, monkeypatch):
    arrays = make_arrays(seed=2)
    directory = write_dataset(isolated.root / "env", arrays)
    monkeypatch.setenv(ml.ENV_VAR, str(directory))
    assert_same(ml.load_data(), arrays)


def test_path_argument_wins_over_env_var(isolated, monkeypatch):
    from_path, from_env = make_arrays(seed=3), make_arrays(seed=4)
    monkeypatch.setenv(ml.ENV_VAR, str(write_dataset(isolated.root / "env", from_env)))
    assert_same(ml.load_data(path=write_dataset(isolated.root / "arg", from_path)), from_path)


def test_default_dir_relative_to_current_dir(isolated, monkeypatch):
    arrays = make_arrays(seed=5)
    write_dataset(isolated.cwd / "data" / "mnist", arrays)
    fake = FakeKeras(error=AssertionError("keras must not be used when local files exist"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    assert_same(ml.load_data(), arrays)
    assert fake.calls == 0


def test_default_dir_next_to_module(isolated, monkeypatch):
    arrays = make_arrays(seed=6)
    write_dataset(isolated.here / "data" / "mnist", arrays, compress=False)
    monkeypatch.setitem(sys.modules, "keras", FakeKeras(error=AssertionError("keras must not be used")))
    assert_same(ml.load_data(), arrays)


def test_current_dir_wins_over_module_dir(isolated):
    in_cwd, in_module_dir = make_arrays(seed=7), make_arrays(seed=8)
    write_dataset(isolated.cwd / "data" / "mnist", in_cwd)
    write_dataset(isolated.here / "data" / "mnist", in_module_dir)
    assert_same(ml.load_data(), in_cwd)


# ---------------------------------------------------------------- corrupt files give a clear error naming the file


def _assert_clear(excinfo, *fragments):
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in error message: {message}"
    assert ml.ENV_VAR in message  # says how to fix it


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_wrong_magic_in_images(isolated, compress):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, compress=compress, skip=("train_images",))
    bad = write_file(directory, NAMES["train_images"], idx_bytes(arrays["train_images"], magic=0x00000903), compress)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "magic", "0x00000903", "0x00000803")


def test_labels_and_images_swapped(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, skip=("test_images", "test_labels"))
    write_file(directory, NAMES["test_images"], idx_bytes(arrays["test_labels"]), True)
    write_file(directory, NAMES["test_labels"], idx_bytes(arrays["test_images"]), True)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(directory / (NAMES["test_images"] + ".gz")), "0x00000801", "0x00000803")


def test_truncated_plain_file(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, compress=False, skip=("test_images",))
    bad = write_file(directory, NAMES["test_images"], idx_bytes(arrays["test_images"])[:-100], False)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "truncated")


def test_truncated_header(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, compress=False, skip=("train_labels",))
    bad = write_file(directory, NAMES["train_labels"], idx_bytes(arrays["train_labels"])[:6], False)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "truncated")


def test_truncated_gzip_stream(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, skip=("train_images",))
    good = gzip.compress(idx_bytes(arrays["train_images"]))
    bad = directory / (NAMES["train_images"] + ".gz")
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "corrupt or truncated")


def test_not_gzip_at_all(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, skip=("test_labels",))
    bad = directory / (NAMES["test_labels"] + ".gz")
    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "corrupt or truncated")


def test_extra_bytes(isolated):
    arrays = make_arrays()
    directory = write_dataset(isolated.root / "data", arrays, compress=False, skip=("train_labels",))
    bad = write_file(directory, NAMES["train_labels"], idx_bytes(arrays["train_labels"]) + b"\0", False)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(bad), "longer than its header says")


def test_mismatched_counts(isolated):
    arrays = make_arrays(n_train=7)
    arrays["train_labels"] = arrays["train_labels"][:6]
    directory = write_dataset(isolated.root / "data", arrays)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, NAMES["train_images"], NAMES["train_labels"], "7 images", "6 labels")


def test_wrong_image_size(isolated):
    arrays = make_arrays()
    arrays["test_images"] = arrays["test_images"][:, :20, :20]
    directory = write_dataset(isolated.root / "data", arrays)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, NAMES["test_images"], "20x20", "28x28")


def test_label_out_of_range(isolated):
    arrays = make_arrays()
    arrays["train_labels"][3] = 12
    directory = write_dataset(isolated.root / "data", arrays)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, NAMES["train_labels"], "12")


# ---------------------------------------------------------------- missing directories and files


def test_missing_path_dir(isolated, monkeypatch):
    fake = FakeKeras(result="must not be returned")
    monkeypatch.setitem(sys.modules, "keras", fake)
    missing = isolated.root / "no_such_dir"
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=missing)
    _assert_clear(excinfo, str(missing), "does not exist")
    assert fake.calls == 0  # an explicit location is never silently replaced by a download


def test_missing_env_dir(isolated, monkeypatch):
    fake = FakeKeras(result="must not be returned")
    monkeypatch.setitem(sys.modules, "keras", fake)
    missing = isolated.root / "no_such_dir"
    monkeypatch.setenv(ml.ENV_VAR, str(missing))
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data()
    _assert_clear(excinfo, str(missing), "environment variable")
    assert fake.calls == 0


def test_missing_file_in_given_dir(isolated):
    directory = write_dataset(isolated.root / "data", make_arrays(), skip=("test_labels",))
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data(path=directory)
    _assert_clear(excinfo, str(directory), NAMES["test_labels"] + ".gz", "lacks")
    assert NAMES["train_images"] not in str(excinfo.value).split("lacks")[1].split("How to fix")[0]


def test_partial_default_dir_is_an_error_not_a_download(isolated, monkeypatch):
    fake = FakeKeras(result="must not be returned")
    monkeypatch.setitem(sys.modules, "keras", fake)
    write_dataset(isolated.cwd / "data" / "mnist", make_arrays(), skip=("train_images",))
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data()
    _assert_clear(excinfo, NAMES["train_images"] + ".gz", str(isolated.cwd / "data" / "mnist"))
    assert fake.calls == 0


# ---------------------------------------------------------------- keras fallback


def test_keras_fallback_used_when_no_dir_has_files(isolated, monkeypatch):
    sentinel = (
        (np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8)),
        (np.ones((1, 28, 28), np.uint8), np.ones(1, np.uint8)),
    )
    fake = FakeKeras(result=sentinel)
    monkeypatch.setitem(sys.modules, "keras", fake)
    (isolated.cwd / "data" / "mnist").mkdir(parents=True)  # exists but empty: skipped
    assert ml.load_data() is sentinel
    assert fake.calls == 1


def test_keras_missing_gives_clear_error(isolated, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # makes `import keras` raise ImportError
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data()
    _assert_clear(
        excinfo, str(isolated.cwd / "data" / "mnist"), str(isolated.here / "data" / "mnist"), "keras", "internet"
    )
    assert isinstance(excinfo.value.__cause__, ImportError)


def test_keras_download_failure_gives_clear_error(isolated, monkeypatch):
    fake = FakeKeras(error=Exception("URL fetch failure on https://storage.googleapis.com/...: None"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data()
    _assert_clear(
        excinfo,
        str(isolated.cwd / "data" / "mnist"),
        "URL fetch failure",
        "internet",
        "./data/mnist",
        "could not download",
    )
    assert "install" not in str(excinfo.value)  # keras is installed: the advice is local files or internet
    assert fake.calls == 1


def test_keras_missing_says_install_keras_and_jax(isolated, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ml.MnistDataError) as excinfo:
        ml.load_data()
    _assert_clear(excinfo, "keras is not installed", 'pip install "keras==3.*" "jax[cpu]"', "./data/mnist")


def test_keras_installed_but_its_backend_missing(isolated, monkeypatch, tmp_path):
    """Keras importable but its backend not (e.g. KERAS_BACKEND=tensorflow without TensorFlow): the advice is the
    backend, never "install keras"."""
    fake_site = tmp_path / "site"
    (fake_site / "keras").mkdir(parents=True)
    (fake_site / "keras" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n"
    )
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.syspath_prepend(str(fake_site))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    try:
        with pytest.raises(ml.MnistDataError) as excinfo:
            ml.load_data()
    finally:
        sys.modules.pop("keras", None)
    message = str(excinfo.value)
    _assert_clear(
        excinfo,
        "keras is installed but could not be imported with KERAS_BACKEND='tensorflow'",
        "No module named 'tensorflow'",
        "KERAS_BACKEND=jax",
        'pip install "jax[cpu]"',
        "restart the kernel",
        "./data/mnist",
    )
    assert "keras is not installed" not in message and 'pip install "keras' not in message
    assert isinstance(excinfo.value.__cause__, ModuleNotFoundError)


@pytest.mark.parametrize("preset", [None, "torch"])
def test_loader_sets_the_keras_backend_default(monkeypatch, preset):
    """Importing the loader makes KERAS_BACKEND=jax unless the student chose a backend."""
    if preset is None:
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", preset)
    _import_loader()
    assert os.environ["KERAS_BACKEND"] == (preset or "jax")
    source = LOADER_PATH.read_text()
    assert source.index('os.environ.setdefault("KERAS_BACKEND", "jax")') < source.index("import keras")


def test_loader_does_not_import_keras_when_files_exist(isolated, monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    write_dataset(isolated.cwd / "data" / "mnist", make_arrays())
    ml.load_data()
    assert "keras" not in sys.modules
