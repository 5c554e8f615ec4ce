"""Max pooling over NCHW images, 'valid' like Keras' MaxPooling2D (an incomplete last window is dropped)."""

from __future__ import annotations

import numpy as np

from . import _checks
from .layer import Layer, jacobian_from_backward


class MaxPooling(Layer):
    """Пулинг (подвыборка максимумом), как ``MaxPooling2D(padding='valid', data_format='channels_first')`` Keras:
    ``(B, C, H, W)`` -> ``(B, C, (H - ph) // sh + 1, (W - pw) // sw + 1)``, неполное последнее окно отбрасывается.

    ``pool_size`` = (ph, pw) и ``strides`` = (sh, sw) — целые числа или пары (высота, ширина); ``strides=None``
    означает ``pool_size``. Если в окне несколько равных максимумов, выход зависит от первого из них (в порядке
    строк окна): только он получает градиент."""

    def __init__(self, pool_size: int | tuple[int, int] = (2, 2), strides: int | tuple[int, int] | None = 2):
        self.name = 'MaxPooling'
        self.pool_size = _checks.int_pair(pool_size, 'pool_size')
        self.strides = self.pool_size if strides is None else _checks.int_pair(strides, 'strides')

    def _offsets(
        self, input_data: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, tuple[slice, slice, slice, slice]]]]:
        """Вход и для каждого сдвига (i, j) внутри окна (по строкам окна) пара: массив ``(B, C, Ho, Wo)``
        ``x[:, :, i + h*sh, j + w*sw]`` и его индекс во входе (цикл по сдвигам в окне, а не по пикселям)."""
        x = _checks.images(input_data, None, 'MaxPooling')
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        if x.shape[2] < ph or x.shape[3] < pw:
            raise ValueError(f'MaxPooling: картинки input_data формы {x.shape} меньше окна pool_size={self.pool_size}')
        ho, wo = (x.shape[2] - ph) // sh + 1, (x.shape[3] - pw) // sw + 1
        index = [
            (slice(None), slice(None), slice(i, i + (ho - 1) * sh + 1, sh), slice(j, j + (wo - 1) * sw + 1, sw))
            for i in range(ph)
            for j in range(pw)
        ]
        return x, [(x[ix], ix) for ix in index]

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        views = [v for v, _ in self._offsets(input_data)[1]]
        out = views[0].copy()
        for view in views[1:]:
            np.maximum(out, view, out=out)  # in place, one view at a time: no array of all the views
        return out

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        x, offsets = self._offsets(input_data)
        views = np.array([v for v, _ in offsets])  # one copy: the comparisons below run on contiguous arrays
        out = views.max(axis=0)
        _checks.grad_output(grad_output, out.shape, 'MaxPooling')
        grad_input = np.zeros(x.shape, dtype=np.result_type(grad_output, x))
        taken = np.zeros(out.shape, dtype=bool)  # the first max of each window takes the gradient
        disjoint = all(s >= p for s, p in zip(self.strides, self.pool_size))
        for view, (_, ix) in zip(views, offsets):
            hit = (view == out) & ~taken
            taken |= hit
            if disjoint:  # windows don't overlap: each pixel is written once
                np.multiply(grad_output, hit, out=grad_input[ix])
            else:
                grad_input[ix] += grad_output * hit
        return grad_input, []

    def grad_x(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, C*Ho*Wo, C*H*W)`` (выход и вход каждого примера вытянуты по строкам)."""
        return jacobian_from_backward(self, input_data)

    def __repr__(self):
        return f'MaxPooling(pool_size={self.pool_size}, strides={self.strides})'
