"""Argument checks shared by the layers: each raises ValueError naming the argument and the shapes (in Russian:
the messages reach the students)."""

from __future__ import annotations

import numpy as np


def positive_int(value: int, name: str) -> int:
    """``value`` как целое число; ValueError, если это не целое число >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{name} должен быть целым числом не меньше 1, а получено {value!r}')
    return int(value)


def int_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """Целое число или пара целых чисел (каждое >= 1) в виде кортежа из двух целых чисел."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        raise ValueError(f'{name} должен быть целым числом или парой целых чисел, а получено {value!r}') from None
    if len(pair) != 2:
        raise ValueError(f'{name} должен быть целым числом или парой целых чисел, а получено {value!r}')
    return tuple(positive_int(v, name) for v in pair)


def images(x: np.ndarray, channels: int | None, layer: str) -> np.ndarray:
    """Проверяет, что ``x`` — батч картинок NCHW с ``channels`` каналами, и возвращает его как массив."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f'{layer}: input_data должен быть массивом ранга 4 [батч, каналы, высота, ширина], а получена '
            f'форма {x.shape}'
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f'{layer}: у input_data {x.shape[1]} каналов (форма {x.shape}), а input_channels равно {channels}'
        )
    return x


def float_array(value: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Копия ``value`` с плавающей точкой формы ``shape`` (целые числа становятся float64)."""
    arr = np.array(value, copy=True)
    if arr.shape != tuple(shape):
        raise ValueError(f'{name} должен иметь форму {tuple(shape)}, а получена форма {arr.shape}')
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def grad_output(value: np.ndarray, shape: tuple[int, ...], layer: str) -> None:
    """Проверяет, что ``grad_output`` метода ``backward`` имеет форму выхода слоя ``shape``."""
    if np.shape(value) != tuple(shape):
        raise ValueError(
            f'{layer}.backward: grad_output должен иметь форму выхода слоя {tuple(shape)}, а получена форма '
            f'{np.shape(value)}'
        )
