"""Categorical cross-entropy on probabilities, per sample."""

from __future__ import annotations

import numpy as np


class CrossEntropy(object):
    """Перекрёстная энтропия для каждого примера: ``L(p, y) = -sum_i y_i log(max(p_i, eps))``;
    p, y ``(B, classes)`` -> ``(B,)``.

    ``p`` — вероятности (выход Softmax), ``y`` — метки в унарной кодировке (one-hot) или любые неотрицательные
    веса классов. Вероятности меньше ``eps`` заменяются на ``eps``: там потеря постоянна и её производная равна 0."""

    def __init__(self, eps: float = 0.00001):
        self.name = 'CrossEntropy'
        self.eps = eps

    @staticmethod
    def _check(input_data: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, y = np.asarray(input_data), np.asarray(labels)
        if p.shape != y.shape or p.ndim != 2:
            raise ValueError(
                'CrossEntropy: input_data и labels должны иметь одну и ту же форму (B, classes), а '
                f'получены формы {p.shape} и {y.shape}'
            )
        return p, y

    def forward(self, input_data: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Потеря каждого примера батча, массив формы ``(B,)``."""
        p, y = self._check(input_data, labels)
        return -np.sum(y * np.log(np.maximum(p, self.eps)), axis=1)

    def calculate_loss(self, input_data: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """То же, что ``forward``."""
        return self.forward(input_data, labels)

    def grad_x(self, input_data: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Массив ``(B, classes)``: элемент ``[b, i]`` — производная потери ``L_b`` примера b по ``p[b, i]``
        (там, где ``p < eps``, она равна 0, см. описание класса)."""
        p, y = self._check(input_data, labels)
        return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)

    def __repr__(self):
        return f'CrossEntropy(eps={self.eps!r})'
