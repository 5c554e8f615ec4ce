"""Conv2DLayer (Keras' Conv2D, channels_first) and Conv2DTrLayer (transposed convolution), via im2col.

Kernels are ``(k, k, input_channels, output_channels)`` for both layers, images NCHW. Both layers are built
from the same three primitives in ``im2col``: ``correlate`` (the convolution), ``correlate_transpose`` (its
adjoint) and ``kernel_grad``: the forward pass of one layer is the input gradient of the other.
"""

from __future__ import annotations

import numpy as np

from . import _checks
from .dense import glorot_uniform
from .im2col import correlate, correlate_transpose, kernel_grad, pad2d
from .layer import Layer, jacobian_from_backward, param_jacobians_from_backward


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """Дополнение ``padding='same'`` Keras/TensorFlow по одной оси: пара (до, после) — сколько нулевых пикселей
    добавить перед картинкой размера ``size`` и после неё, чтобы при ядре свёртки ``k`` и шаге свёртки ``stride``
    выход имел размер ``ceil(size / stride)``; если добавить нужно нечётное число, лишний пиксель идёт после
    (снизу/справа)."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def transpose_crop(padding: int | str, k: int, stride: int) -> tuple[int, int]:
    """Пара (до, после): сколько пикселей отрезать от полного выхода транспонированной свёртки с каждой стороны
    (отрицательное число — дописать столько нулевых пикселей).

    Целое p отрезает p пикселей с каждой стороны. 'valid' и 'same' — как ``Conv2DTranspose`` Keras (выход
    ``(H-1)*s + max(k, s)`` и ``H*s``)."""
    if padding == 'valid':
        return 0, min(0, k - stride)
    if padding == 'same':
        pad_len = stride + k - 2
        before = k - 1 - min(pad_len // 2 + pad_len % 2, k - 1)
        return before, k - stride - before
    return padding, padding


class _ConvBase(Layer):
    """Общая часть ``Conv2DLayer`` и ``Conv2DTrLayer``: параметры ``kernel`` (ядро свёртки
    ``(k, k, input_channels, output_channels)``) и ``bias`` (смещение, ``(output_channels,)``), проверка входа и
    якобианы. Без ``K_init``/``b_init`` — Glorot uniform и нули, как в Keras."""

    def __init__(
        self,
        name: str,
        kernel_size: int,
        input_channels: int,
        output_channels: int,
        stride: int,
        K_init: np.ndarray | None,
        b_init: np.ndarray | None,
    ):
        self.name = name
        self.kernel_size = _checks.positive_int(kernel_size, 'kernel_size')
        self.input_channels = _checks.positive_int(input_channels, 'input_channels')
        self.output_channels = _checks.positive_int(output_channels, 'output_channels')
        self.stride = _checks.positive_int(stride, 'stride')
        k = self.kernel_size
        shape = (k, k, self.input_channels, self.output_channels)
        if K_init is None:
            self.kernel = glorot_uniform(k * k * self.input_channels, k * k * self.output_channels, shape)
        else:
            self.kernel = _checks.float_array(K_init, shape, 'K_init')
        if b_init is None:
            self.bias = np.zeros(self.output_channels, self.kernel.dtype)
        else:
            self.bias = _checks.float_array(b_init, (self.output_channels,), 'b_init')

    @property
    def params(self) -> list[np.ndarray]:
        return [self.kernel, self.bias]

    def _input(self, input_data: np.ndarray) -> np.ndarray:
        """Вход слоя как массив; ValueError, если это не батч картинок NCHW с input_channels каналами."""
        return _checks.images(input_data, self.input_channels, type(self).__name__)

    # Якобианы (как в исходном задании) строятся из backward: один обратный проход на каждый выход. Можно вместо
    # этого написать их самим и оставить backward базовому классу Layer: нужно одно из двух.
    def grad_x(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан ``(B, C_out*Ho*Wo, C_in*H*W)`` (выход и вход каждого примера вытянуты по строкам)."""
        return jacobian_from_backward(self, input_data)

    def grad_param(self, input_data: np.ndarray) -> list[np.ndarray]:
        """Список ``[(B, C_out*Ho*Wo, kernel.size), (B, C_out*Ho*Wo, C_out)]``: якобианы по ядру свёртки (вытянутому
        по строкам, как ``kernel.reshape(-1)``) и по смещению."""
        return param_jacobians_from_backward(self, input_data)

    def grad_kernel(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан по ядру свёртки, первый элемент ``grad_param``."""
        return self.grad_param(input_data)[0]

    def grad_bias(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан по смещению, второй элемент ``grad_param``."""
        return self.grad_param(input_data)[1]

    def __repr__(self):
        return (
            f'{type(self).__name__}(kernel_size={self.kernel_size}, input_channels={self.input_channels}, '
            f'output_channels={self.output_channels}, padding={self.padding!r}, stride={self.stride})'
        )


class Conv2DLayer(_ConvBase):
    """Свёрточный слой ``(B, C_in, H, W)`` -> ``(B, C_out, Ho, Wo)``, в точности
    ``Conv2D(data_format='channels_first')`` Keras (взаимная корреляция, как в Keras: ядро свёртки не переворачивается).

    ``padding='valid'``: Ho = (H - k) // s + 1. ``padding='same'``: Ho = ceil(H / s), дополнение нулями как в Keras
    (лишняя строка или столбец — снизу или справа). Ширина Wo — так же."""

    def __init__(
        self,
        kernel_size: int = 3,
        input_channels: int = 2,
        output_channels: int = 3,
        padding: str = 'same',
        stride: int = 1,
        K_init: np.ndarray | None = None,
        b_init: np.ndarray | None = None,
    ):
        if padding not in ('same', 'valid'):
            raise ValueError(f"Conv2DLayer: padding должен быть 'same' или 'valid', а получено {padding!r}")
        self.padding = padding
        super().__init__('Conv2D', kernel_size, input_channels, output_channels, stride, K_init, b_init)

    def _pads(self, x: np.ndarray) -> tuple[int, int, int, int]:
        """Дополнение нулями (сверху, снизу, слева, справа) для входа x."""
        h, w = x.shape[2:]
        k = self.kernel_size
        if self.padding == 'same':
            return same_padding(h, k, self.stride) + same_padding(w, k, self.stride)
        if h < k or w < k:
            raise ValueError(
                f"Conv2DLayer с padding='valid': картинки input_data формы {x.shape} меньше ядра свёртки "
                f"kernel_size={k}"
            )
        return 0, 0, 0, 0

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        x = self._input(input_data)
        out = correlate(pad2d(x, *self._pads(x)), self.kernel, self.stride)
        out += self.bias[:, None, None]
        return out

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        x = self._input(input_data)
        top, bottom, left, right = self._pads(x)
        k, s = self.kernel_size, self.stride
        _checks.grad_output(
            grad_output,
            (
                len(x),
                self.output_channels,
                (x.shape[2] + top + bottom - k) // s + 1,
                (x.shape[3] + left + right - k) // s + 1,
            ),
            'Conv2DLayer',
        )
        grad_xp = correlate_transpose(grad_output, self.kernel, self.stride)  # by the padded input
        # cut the padding off; rows/columns of the padded input that no window reached get zero gradient
        h, w = x.shape[2:]
        grad_input = pad2d(grad_xp, -top, top + h - grad_xp.shape[2], -left, left + w - grad_xp.shape[3])
        return grad_input, self.backward_params(x, grad_output)

    def backward_params(self, input_data: np.ndarray, grad_output: np.ndarray) -> list[np.ndarray]:
        x = self._input(input_data)
        xp = pad2d(x, *self._pads(x))
        k, s = self.kernel_size, self.stride
        _checks.grad_output(
            grad_output,
            (len(x), self.output_channels, (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1),
            'Conv2DLayer',
        )
        return [kernel_grad(xp, grad_output, self.kernel_size, self.stride), grad_output.sum(axis=(0, 2, 3))]


class Conv2DTrLayer(_ConvBase):
    """Транспонированная свёртка: ``(B, C_in, H, W)`` -> ``(B, C_out, Ho, Wo)``.

    Каждый пиксель входа ``x[b, c, h, w]`` добавляет ``x[b, c, h, w] * kernel[:, :, c, :]`` в окно выхода
    размера k × k с левым верхним углом (h*stride, w*stride) (то есть вход «растягивается» в ``stride`` раз, и
    выполняется полная свёртка); затем целое ``padding`` отрезает столько пикселей с каждой стороны:
    Ho = (H - 1) * stride + kernel_size - 2 * padding. ``'same'`` и ``'valid'`` — в точности
    ``Conv2DTranspose(data_format='channels_first')`` Keras (Ho = H * stride и (H - 1) * stride + max(kernel_size,
    stride)). Keras хранит ядро свёртки как ``[k, k, out, in]``: наше — его ``transpose(0, 1, 3, 2)``."""

    def __init__(
        self,
        kernel_size: int = 3,
        input_channels: int = 2,
        output_channels: int = 3,
        padding: int | str = 0,
        stride: int = 1,
        K_init: np.ndarray | None = None,
        b_init: np.ndarray | None = None,
    ):
        if padding not in ('same', 'valid') and (
            isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0
        ):
            raise ValueError(
                f"Conv2DTrLayer: padding должен быть целым числом >= 0, 'same' или 'valid', а получено {padding!r}"
            )
        self.padding = padding if isinstance(padding, str) else int(padding)
        super().__init__('Conv2DTr', kernel_size, input_channels, output_channels, stride, K_init, b_init)
        self._crop = transpose_crop(self.padding, self.kernel_size, self.stride)

    def _check_size(self, x: np.ndarray, grad_output: np.ndarray | None = None) -> None:
        """Проверяет, что выход для входа x не пуст, и (если дан grad_output) что grad_output имеет форму выхода."""
        before, after = self._crop
        full = (np.array(x.shape[2:]) - 1) * self.stride + self.kernel_size
        if (full - before - after < 1).any():
            raise ValueError(
                f'Conv2DTrLayer: padding={self.padding!r} отрезает весь выход размера '
                f'(H-1)*stride+kernel_size={tuple(full)} для input_data формы {x.shape}'
            )
        if grad_output is not None:
            _checks.grad_output(
                grad_output,
                (len(x), self.output_channels) + tuple(int(n) for n in full - before - after),
                'Conv2DTrLayer',
            )

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        x = self._input(input_data)
        self._check_size(x)
        before, after = self._crop
        full = correlate_transpose(x, self.kernel.transpose(0, 1, 3, 2), self.stride)
        return pad2d(full, -before, -after, -before, -after) + self.bias[:, None, None]

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        x = self._input(input_data)
        self._check_size(x, grad_output)
        before, after = self._crop
        grad_full = pad2d(grad_output, before, after, before, after)
        kernel_t = self.kernel.transpose(0, 1, 3, 2)
        grad_input = correlate(grad_full, kernel_t, self.stride)
        return grad_input, self.backward_params(x, grad_output)

    def backward_params(self, input_data: np.ndarray, grad_output: np.ndarray) -> list[np.ndarray]:
        x = self._input(input_data)
        self._check_size(x, grad_output)
        before, after = self._crop
        grad_full = pad2d(grad_output, before, after, before, after)
        grad_kernel = kernel_grad(grad_full, x, self.kernel_size, self.stride).transpose(0, 1, 3, 2)
        return [grad_kernel, grad_output.sum(axis=(0, 2, 3))]
