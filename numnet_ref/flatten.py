"""Flatten every sample: (batch, ...) -> (batch, prod(...)), row-major, like Keras' Flatten on NCHW arrays."""

from __future__ import annotations

import numpy as np

from . import _checks
from .layer import Layer


class FlattenLayer(Layer):
    """Вытягивает каждый пример в вектор: ``(B, ...)`` -> ``(B, n)`` по строкам (как ``reshape(B, -1)``), как
    ``Flatten`` Keras на массивах NCHW."""

    def __init__(self):
        self.name = 'Flatten'

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        x = np.asarray(input_data)
        if x.ndim < 2:
            raise ValueError(
                'FlattenLayer: у input_data должна быть ось батча и хотя бы одна ось примера, а '
                f'получена форма {x.shape}'
            )
        return x.reshape(len(x), -1)

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        _checks.grad_output(grad_output, (len(input_data), int(np.prod(np.shape(input_data)[1:]))), 'FlattenLayer')
        return np.reshape(grad_output, np.shape(input_data)), []

    def grad_x(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, n, n)``, n — размер одного примера."""
        x = np.asarray(input_data).reshape(len(input_data), -1)
        return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)
