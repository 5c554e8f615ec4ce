"""Argument checks shared by the layers: each raises ValueError naming the argument and the shapes (in Russian:
the messages reach the students)."""

import numpy as np


def positive_int(value, name):
    """``value`` как целое число; ValueError, если это не целое число >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError('%s должен быть целым числом не меньше 1, а получено %r' % (name, value))
    return int(value)


def int_pair(value, name):
    """Целое число или пара целых чисел (каждое >= 1) в виде кортежа из двух целых чисел."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        raise ValueError('%s должен быть целым числом или парой целых чисел, а получено %r' % (name, value)) from None
    if len(pair) != 2:
        raise ValueError('%s должен быть целым числом или парой целых чисел, а получено %r' % (name, value))
    return tuple(positive_int(v, name) for v in pair)


def images(x, channels, layer):
    """Проверяет, что ``x`` — батч картинок NCHW с ``channels`` каналами, и возвращает его как массив."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            '%s: input_data должен быть массивом ранга 4 [батч, каналы, высота, ширина], а получена '
            'форма %s' % (layer, x.shape)
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            '%s: у input_data %d каналов (форма %s), а input_channels равно %d' % (layer, x.shape[1], x.shape, channels)
        )
    return x


def float_array(value, shape, name):
    """Копия ``value`` с плавающей точкой формы ``shape`` (целые числа становятся float64)."""
    arr = np.array(value, copy=True)
    if arr.shape != tuple(shape):
        raise ValueError('%s должен иметь форму %s, а получена форма %s' % (name, tuple(shape), arr.shape))
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def grad_output(value, shape, layer):
    """Проверяет, что ``grad_output`` метода ``backward`` имеет форму выхода слоя ``shape``."""
    if np.shape(value) != tuple(shape):
        raise ValueError(
            '%s.backward: grad_output должен иметь форму выхода слоя %s, а получена форма %s'
            % (layer, tuple(shape), np.shape(value))
        )
