"""Fully connected layer: ``out = x @ W + b``."""

from __future__ import annotations

import numpy as np

from . import _checks
from .layer import Layer


def glorot_uniform(fan_in: int, fan_out: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """Начальные веса по умолчанию, как в Keras (Glorot uniform): равномерно на [-l, l],
    l = sqrt(6 / (fan_in + fan_out)); случайные числа берутся из np.random."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.uniform(-limit, limit, size=shape).astype(dtype)


class DenseLayer(Layer):
    """Полносвязный слой: x ``(B, input_dim)`` -> ``x @ W + b`` ``(B, output_dim)``; веса W ``(input_dim, output_dim)``,
    смещение b ``(output_dim,)``.

    Без ``W_init``/``b_init``: W из Glorot uniform (float32) и нулевое b, как в Keras. Переданные массивы копируются.
    """

    def __init__(
        self, input_dim: int, output_dim: int, W_init: np.ndarray | None = None, b_init: np.ndarray | None = None
    ):
        self.name = 'Dense'
        self.input_dim = _checks.positive_int(input_dim, 'input_dim')
        self.output_dim = _checks.positive_int(output_dim, 'output_dim')
        shape = (self.input_dim, self.output_dim)
        if W_init is None:
            self.W = glorot_uniform(self.input_dim, self.output_dim, shape)
        else:
            self.W = _checks.float_array(W_init, shape, 'W_init')
        if b_init is None:
            self.b = np.zeros(self.output_dim, self.W.dtype)
        else:
            self.b = _checks.float_array(b_init, (self.output_dim,), 'b_init')

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W, self.b]

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f'DenseLayer: input_data должен иметь форму (B, input_dim) = (B, {self.input_dim}), а получена форма '
                f'{x.shape}'
            )
        return x

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        return self._check(input_data) @ self.W + self.b

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        param_grads = self.backward_params(input_data, grad_output)  # checks the shapes first
        return grad_output @ self.W.T, param_grads

    def backward_params(self, input_data: np.ndarray, grad_output: np.ndarray) -> list[np.ndarray]:
        x = self._check(input_data)
        _checks.grad_output(grad_output, (len(x), self.output_dim), 'DenseLayer')
        return [x.T @ grad_output, grad_output.sum(axis=0)]

    # Якобианы (как в исходном задании)
    def grad_x(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, output_dim, input_dim)``: элемент ``[b, o, i]`` — производная ``out[b, o]`` по ``x[b, i]``."""
        x = self._check(input_data)
        return np.repeat(self.W.T[None], len(x), axis=0)

    def grad_W(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, output_dim, input_dim*output_dim)``: W вытянута по строкам (как ``W.reshape(-1)``), поэтому
        элемент ``[b, o, i*output_dim + j]`` — производная ``out[b, o]`` по ``W[i, j]``."""
        x = self._check(input_data)
        eye = np.eye(self.output_dim, dtype=self.W.dtype)
        return (eye[None, :, None, :] * x[:, None, :, None]).reshape(len(x), self.output_dim, -1)

    def grad_b(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, output_dim, output_dim)``: элемент ``[b, o, j]`` — производная ``out[b, o]`` по ``b[j]``."""
        x = self._check(input_data)
        return np.repeat(np.eye(self.output_dim, dtype=self.b.dtype)[None], len(x), axis=0)

    def grad_param(self, input_data: np.ndarray) -> list[np.ndarray]:
        return [self.grad_W(input_data), self.grad_b(input_data)]

    def update_W(self, grad: np.ndarray, learning_rate: float) -> None:
        """Шаг SGD для W: ``W -= learning_rate * grad`` (grad формы W или вытянутый в вектор)."""
        self.W -= learning_rate * np.reshape(grad, self.W.shape)

    def update_b(self, grad: np.ndarray, learning_rate: float) -> None:
        """Шаг SGD для b: ``b -= learning_rate * grad``."""
        self.b -= learning_rate * np.reshape(grad, self.b.shape)

    def update_param(self, params_grad: list[np.ndarray], learning_rate: float) -> None:
        """Шаг SGD для обоих параметров: ``params_grad = [dL/dW, dL/db]``."""
        self.update_W(params_grad[0], learning_rate)
        self.update_b(params_grad[1], learning_rate)

    def __repr__(self):
        return f'DenseLayer({self.input_dim}, {self.output_dim})'
