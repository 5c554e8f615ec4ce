"""Argument checks shared by the layers: each raises ValueError naming the argument and the shapes."""
import numpy as np


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError('%s must be a positive integer, got %r' % (name, value))
    return int(value)


def int_pair(value, name):
    """An int or a pair of ints, each >= 1, returned as a tuple of two ints."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        raise ValueError('%s must be an int or a pair of ints, got %r' % (name, value)) from None
    if len(pair) != 2:
        raise ValueError('%s must be an int or a pair of ints, got %r' % (name, value))
    return tuple(positive_int(v, name) for v in pair)


def images(x, channels, layer):
    """Checks that ``x`` is an NCHW batch with ``channels`` channels and returns it as an array."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError('%s expects input_data of rank 4 [batch, channels, height, width], got shape %s'
                         % (layer, x.shape))
    if channels is not None and x.shape[1] != channels:
        raise ValueError('%s: input_data has %d channels (shape %s) but input_channels is %d'
                         % (layer, x.shape[1], x.shape, channels))
    return x


def float_array(value, shape, name):
    """A floating-point copy of ``value`` checked against ``shape`` (ints become float64)."""
    arr = np.array(value, copy=True)
    if arr.shape != tuple(shape):
        raise ValueError('%s must have shape %s, got %s' % (name, tuple(shape), arr.shape))
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr
