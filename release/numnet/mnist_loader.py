"""Load MNIST from local IDX files, with the same result as ``keras.datasets.mnist.load_data()``.

Usage (next to the course notebook)::

    from mnist_loader import load_data
    (x_train, y_train), (x_test, y_test) = load_data()

Returns ``((x_train, y_train), (x_test, y_test))``: uint8 arrays of shapes
``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)`` (pixels 0..255, labels 0..9).

Where the data is looked for, in this order:

1. ``path``, if given: only that directory (no fallback);
2. else the directory in the environment variable ``NUMNET_MNIST_DIR``, if set: only that directory
   (no fallback);
3. else the default directories ``./data/mnist`` (relative to the current directory, i.e. the notebook's),
   then ``data/mnist`` next to this module, then the directory of this module itself;
   the first one that holds the files is used;
4. if none of the default directories holds any of the files, ``keras.datasets.mnist.load_data()``
   (imported only then; it downloads MNIST into ``~/.keras/datasets`` on a machine with internet access).

Keras is only the course's test oracle and runs on JAX: importing this module sets ``KERAS_BACKEND=jax`` unless
the variable is already set (Keras' own default, TensorFlow, is not installed in the course's environment).

A directory holds the data if it has the four standard files, gzip-compressed or not:
``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
``t10k-labels-idx1-ubyte[.gz]``. Files are validated (IDX magic number, dimensions, exact length, matching
image/label counts, labels 0..9); a missing, corrupt or truncated file raises :class:`MnistDataError`
naming the file and saying how to fix it. This module never writes anything.

Depends on the standard library and numpy only.
"""

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# Before anything imports keras (the fallback below, the notebook's tests): Keras 3 reads the backend once, at import.
os.environ.setdefault("KERAS_BACKEND", "jax")

__all__ = ["load_data", "read_idx", "MnistDataError", "ENV_VAR", "FILES"]

ENV_VAR = "NUMNET_MNIST_DIR"

# (split, kind) -> standard file name without ".gz"
FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

_IMAGE_MAGIC = 0x00000803  # unsigned byte data, 3 dimensions
_LABEL_MAGIC = 0x00000801  # unsigned byte data, 1 dimension
_IMAGE_SIDE = 28
_KIND = {_IMAGE_MAGIC: "an MNIST image file in IDX format", _LABEL_MAGIC: "an MNIST label file in IDX format"}

_HERE = Path(__file__).resolve().parent

_FILES_TEXT = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
)
_LOCAL_FIX = (
    f"put the four MNIST files ({_FILES_TEXT}) into ./data/mnist next to the notebook, "
    f"or set the environment variable {ENV_VAR} to the directory that holds them "
    f"(e.g. os.environ['{ENV_VAR}'] = '/path/to/mnist' before calling load_data()), "
    "or call load_data(path='/path/to/mnist')"
)
_HOW_TO_FIX = "How to fix: " + _LOCAL_FIX + "."


class MnistDataError(RuntimeError):
    """MNIST could not be loaded: the message says which directory/file was wrong and how to fix it."""


def _default_dirs():
    """Default directories searched when neither ``path`` nor ``NUMNET_MNIST_DIR`` is given."""
    dirs = [Path.cwd() / "data" / "mnist", _HERE / "data" / "mnist", _HERE]
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find_file(directory, name):
    """Path of ``name.gz`` or ``name`` inside ``directory`` (the .gz one if both exist), else None."""
    for candidate in (directory / (name + ".gz"), directory / name):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(filename):
    """Whole (decompressed if ``.gz``) content of ``filename``."""
    try:
        if filename.suffix == ".gz":
            with gzip.open(filename, "rb") as f:
                return f.read()
        return filename.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise MnistDataError(
            f"MNIST file {filename} is corrupt or truncated and cannot be read ({type(exc).__name__}: {exc}). "
            f"Replace it with an intact copy (compare with the published SHA256 sums). {_HOW_TO_FIX}"
        ) from exc


def read_idx(filename, expected_magic=None):
    """Read one IDX file (``.gz`` or uncompressed) of unsigned bytes into a uint8 array of its dimensions.

    ``expected_magic``: 0x00000803 for images ``(N, rows, cols)``, 0x00000801 for labels ``(N,)``;
    None accepts any unsigned-byte IDX file. Raises :class:`MnistDataError` naming the file when the
    magic number is wrong or the length does not match the header.
    """
    filename = Path(filename)
    data = _read_bytes(filename)
    if len(data) < 4:
        raise MnistDataError(
            f"MNIST file {filename} is truncated: {len(data)} bytes, shorter than the 4-byte IDX magic number. "
            f"Replace it with an intact copy. {_HOW_TO_FIX}"
        )
    magic = int.from_bytes(data[:4], "big")
    if (
        data[0] != 0
        or data[1] != 0
        or data[2] != 0x08
        or not 1 <= data[3] <= 3
        or (expected_magic is not None and magic != expected_magic)
    ):
        want = f"0x{expected_magic:08x}" if expected_magic is not None else "0x0000080N (N = 1..3)"
        raise MnistDataError(
            f"MNIST file {filename} has the wrong IDX magic number 0x{magic:08x} (expected {want}): "
            f"it is not {_KIND.get(expected_magic, 'an unsigned-byte IDX file')}. "
            f"Check that the file names were not swapped and the file is not corrupt. {_HOW_TO_FIX}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistDataError(
            f"MNIST file {filename} is truncated inside its header ({len(data)} bytes, header needs {header}). "
            f"Replace it with an intact copy. {_HOW_TO_FIX}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_len = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_len:
        problem = "truncated" if len(data) < expected_len else "longer than its header says"
        raise MnistDataError(
            f"MNIST file {filename} is {problem}: the header says dimensions {dims} "
            f"({expected_len} bytes in all) but the file has {len(data)} bytes. "
            f"Replace it with an intact copy. {_HOW_TO_FIX}"
        )
    # .copy(): a writable array that owns its memory, like the arrays keras returns
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _load_split(files, split):
    """(images, labels) of one split from the located files, validated."""
    images_file, labels_file = files[(split, "images")], files[(split, "labels")]
    images = read_idx(images_file, _IMAGE_MAGIC)
    labels = read_idx(labels_file, _LABEL_MAGIC)
    if images.shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE):
        raise MnistDataError(
            f"MNIST file {images_file} holds images of {images.shape[1]}x{images.shape[2]} pixels, "
            f"expected {_IMAGE_SIDE}x{_IMAGE_SIDE}. It is not the MNIST file. {_HOW_TO_FIX}"
        )
    if images.shape[0] != labels.shape[0]:
        raise MnistDataError(
            f"MNIST {split} files do not match: {images_file} has {images.shape[0]} images but "
            f"{labels_file} has {labels.shape[0]} labels. One of them is from another data set or "
            f"was cut; replace both with intact copies. {_HOW_TO_FIX}"
        )
    if labels.size and labels.max() > 9:
        raise MnistDataError(
            f"MNIST file {labels_file} holds label {int(labels.max())}, but MNIST labels are 0..9. "
            f"Replace it with an intact copy. {_HOW_TO_FIX}"
        )
    return images, labels


def _locate(directory):
    """(found, missing): the files of ``directory`` keyed like FILES, and the names not found there."""
    found, missing = {}, []
    for key, name in FILES.items():
        filename = _find_file(directory, name)
        if filename is None:
            missing.append(name + ".gz")
        else:
            found[key] = filename
    return found, missing


def _load_from(directory, origin):
    """Load both splits from ``directory`` (``origin`` says where that directory came from, for errors)."""
    if not directory.is_dir():
        raise MnistDataError(
            f"MNIST directory {directory} ({origin}) does not exist or is not a directory. {_HOW_TO_FIX}"
        )
    found, missing = _locate(directory)
    if missing:
        raise MnistDataError(
            f"MNIST directory {directory} ({origin}) lacks the file(s) {', '.join(missing)} "
            f"(the uncompressed name without .gz is accepted too). {_HOW_TO_FIX}"
        )
    return _load_split(found, "train"), _load_split(found, "test")


def _keras_import_advice(exc):
    """What to do when ``import keras`` raised ``exc``: install Keras only if it is really missing."""
    if isinstance(exc, ModuleNotFoundError) and exc.name == "keras":
        return (
            f"keras is not installed ({type(exc).__name__}: {exc}). How to fix: {_LOCAL_FIX}; "
            "or install the course's test oracle (pip install \"keras==3.*\" \"jax[cpu]\"), connect to the "
            "internet and run again, so that keras.datasets.mnist.load_data() downloads MNIST."
        )
    backend = os.environ.get("KERAS_BACKEND", "")
    return (
        f"keras is installed but could not be imported with KERAS_BACKEND={backend!r} ({type(exc).__name__}: {exc}). "
        "How to fix: the course runs Keras on JAX: install it (pip install \"jax[cpu]\"), set "
        "KERAS_BACKEND=jax (export KERAS_BACKEND=jax before starting Jupyter, or "
        "os.environ['KERAS_BACKEND'] = 'jax' in the first cell) and restart the kernel; "
        f"or use local files: {_LOCAL_FIX}."
    )


def _load_with_keras(tried):
    """``keras.datasets.mnist.load_data()``; a clear MnistDataError if keras is missing, fails to import or
    cannot download."""
    tried_text = "; ".join(f"{d} ({why})" for d, why in tried)
    try:
        import keras  # lazy: students without keras can still use local files

        keras_load = keras.datasets.mnist.load_data
    except Exception as exc:  # ImportError, or keras failing to import its backend
        raise MnistDataError(
            f"MNIST files were not found in any of these directories: {tried_text}; "
            f"and the fallback keras.datasets.mnist.load_data() is unavailable: {_keras_import_advice(exc)}"
        ) from exc
    try:
        return keras_load()
    except Exception as exc:  # no internet, bad cache, ...
        raise MnistDataError(
            f"MNIST files were not found in any of these directories: {tried_text}; "
            f"and the fallback keras.datasets.mnist.load_data() could not download MNIST "
            f"({type(exc).__name__}: {exc}). How to fix: {_LOCAL_FIX} "
            f"(on a machine without internet access, copy the files from one that has it); "
            f"or connect to the internet and run again."
        ) from exc


def load_data(path=None):
    """Load MNIST: ``((x_train, y_train), (x_test, y_test))``, like ``keras.datasets.mnist.load_data()``.

    x_train: uint8 (60000, 28, 28); y_train: uint8 (60000,); x_test: uint8 (10000, 28, 28);
    y_test: uint8 (10000,). ``path``: directory with the four IDX files (``.gz`` or not). Without it,
    ``$NUMNET_MNIST_DIR``, then ``./data/mnist``, then next to this module, then keras (see the module
    docstring). Raises :class:`MnistDataError` with the directories tried and how to fix it.
    """
    if path is not None:
        return _load_from(Path(os.fspath(path)).expanduser(), "given as load_data(path=...)")
    env_dir = os.environ.get(ENV_VAR)
    if env_dir:
        return _load_from(Path(env_dir).expanduser(), f"from the environment variable {ENV_VAR}")

    tried = []
    for directory in _default_dirs():
        found, missing = _locate(directory) if directory.is_dir() else ({}, None)
        if found:  # a directory with some of the files is meant to hold them: use it or say what is missing
            return _load_from(directory, "default location")
        tried.append((directory, "no MNIST files" if missing is not None else "does not exist"))
    return _load_with_keras(tried)
