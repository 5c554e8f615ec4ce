"""The layer interface of the assignment, plus the vector-Jacobian product that training uses.

Every layer has two ways to give its derivatives:

* Jacobians (the assignment's teaching API): ``grad_x(x)`` is ``(batch, out, in)`` with ``in``/``out`` the
  per-sample sizes flattened, and ``grad_param(x)`` is a list of ``(batch, out, param.size)`` Jacobians.
* ``backward(x, grad_output)``: the vector-Jacobian product ``(dL/dx, [dL/dp for p in params])`` for a scalar
  ``L`` whose gradient by the layer's output is ``grad_output``. The base class derives it from the Jacobians
  (slow but always right); the reference layers override it with direct formulas that never build a Jacobian.
* ``backward_params(x, grad_output)``: only ``[dL/dp ...]``. Training asks the first layer for this alone, since
  nobody needs the gradient by the network's input; the base class takes it from ``backward``, and layers whose
  input gradient is costly (the convolutions) override it.

A layer must implement one of the two: ``Layer.backward`` asks for the Jacobians, ``jacobian_from_backward`` asks
for ``backward``, and a layer with neither raises ``NotImplementedError`` at once instead of recursing.
"""

from __future__ import annotations

import numpy as np


class Layer(object):
    """Базовый класс слоя: прямой проход ``forward`` и производные (якобианы или ``backward``).

    Все методы принимают батч: первая ось ``input_data`` — номер примера, ``B`` примеров."""

    _deriving = set()  # слои внутри Layer.backward / backward_params: повторный вход — это цикл замен

    def __init__(self):
        self.name = 'Layer'

    @property
    def params(self) -> list[np.ndarray]:
        """Список массивов параметров слоя (их на месте меняют ``update_param`` и оптимизаторы).

        Слои с параметрами переопределяют это свойство; можно и просто присвоить ``self.params = [...]``."""
        return self.__dict__.get('_params', [])

    @params.setter
    def params(self, arrays: list[np.ndarray]) -> None:
        self._params = list(arrays)

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        """Прямой проход: выход слоя для батча ``input_data``."""
        raise NotImplementedError

    def backward(self, input_data: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Обратный проход: по ``grad_output`` = dL/d(выход) (форма выхода) возвращает пару
        ``(dL/dx, [dL/dp для каждого p из params])``: dL/dx имеет форму ``input_data``, dL/dp — форму p.

        Здесь, в базовом классе, он вычисляется через якобианы ``grad_x`` и ``grad_param``; если и якобианы
        вычисляются через ``backward`` (не реализовано ни то, ни другое), сразу выбрасывается NotImplementedError.
        Внутри ``backward_params`` (там dL/dx не нужен) якобиан ``grad_x`` не строится, а вместо dL/dx — None."""
        if id(self) in Layer._deriving:
            raise NotImplementedError(
                f'{type(self).__name__}: реализуйте grad_x (и grad_param) или backward — сейчас каждый из них '
                'вычисляется через другой'
            )
        Layer._deriving.add(id(self))
        try:
            x = np.asarray(input_data)
            g = np.asarray(grad_output)
            if ('backward_params', id(self)) in Layer._deriving:  # нужны только градиенты параметров
                jacobian, n_out = None, None
            else:
                jacobian = np.asarray(self.grad_x(x))
                if jacobian.ndim != 3 or len(jacobian) != len(x):
                    raise ValueError(
                        f'{type(self).__name__}.grad_x должен возвращать якобиан формы (B, out, in) с B = {len(x)}, '
                        f'а вернул массив формы {jacobian.shape}'
                    )
                n_out = jacobian.shape[1]
            if g.ndim == 0 or len(g) != len(x) or (n_out is not None and g.size != len(x) * n_out):
                raise ValueError(
                    f'{type(self).__name__}.backward: grad_output должен иметь форму выхода слоя ({len(x)} примеров'
                    f'{"" if n_out is None else f" по {n_out} чисел"}), а получена форма {g.shape}'
                )
            g = g.reshape(len(x), -1)
            grad_input = None if jacobian is None else np.einsum('bo,boi->bi', g, jacobian).reshape(x.shape)
            param_grads = [
                np.einsum('bo,bop->p', g, jac).reshape(p.shape) for jac, p in zip(self.grad_param(x), self.params)
            ]
        finally:
            Layer._deriving.discard(id(self))
        return grad_input, param_grads

    def backward_params(self, input_data: np.ndarray, grad_output: np.ndarray) -> list[np.ndarray]:
        """Только градиенты параметров ``[dL/dp для каждого p из params]`` (вторая половина ``backward``).

        Здесь они берутся из ``backward``; базовый ``backward`` (и вызванный через ``super()``) тогда не строит
        якобиан ``grad_x``. Если и ``backward`` берёт их отсюда, выбрасывается NotImplementedError."""
        key = ('backward_params', id(self))
        if key in Layer._deriving:
            raise NotImplementedError(
                f'{type(self).__name__}: backward вызывает backward_params, а тот — backward; реализуйте '
                'backward_params или вычислите градиенты параметров в самом backward'
            )
        Layer._deriving.add(key)
        try:
            return self.backward(input_data, grad_output)[1]
        finally:
            Layer._deriving.discard(key)

    def grad_x(self, input_data: np.ndarray) -> np.ndarray:
        """Якобиан выхода по входу, ``(B, out, in)``: ``out``/``in`` — размеры одного примера на выходе и на входе,
        вытянутые в вектор (как ``reshape(B, -1)``)."""
        raise NotImplementedError

    def grad_param(self, input_data: np.ndarray) -> list[np.ndarray]:
        """Список якобианов выхода по каждому параметру, ``(B, out, p.size)``, параметр вытянут по строкам
        (как ``p.reshape(-1)``). У слоя без параметров — пустой список."""
        return []

    def update_param(self, grads: list[np.ndarray], learning_rate: float) -> None:
        """Шаг обычного SGD: ``p -= learning_rate * dL/dp`` для каждого параметра (градиент формы p или
        приводимый к ней через ``reshape``)."""
        for p, g in zip(self.params, grads):
            p -= learning_rate * np.reshape(g, p.shape)

    def __repr__(self):
        return f'{type(self).__name__}()'


def jacobian_from_backward(layer: Layer, input_data: np.ndarray) -> np.ndarray:
    """Якобиан ``(B, out, in)`` слоя ``layer``, построенный по столбцам из его ``backward``.

    Нужен слоям для картинок, у которых якобианы служат только для обучения и тестов: один обратный проход на
    каждый выход.
    """
    x = np.asarray(input_data)
    out_shape = layer.forward(x).shape
    n_out = int(np.prod(out_shape[1:]))
    jac = np.empty((len(x), n_out, int(np.prod(x.shape[1:]))), dtype=np.result_type(x, np.float32))
    for o in range(n_out):
        g = np.zeros((len(x), n_out), dtype=jac.dtype)
        g[:, o] = 1
        grad_input, _ = layer.backward(x, g.reshape(out_shape))
        jac[:, o, :] = grad_input.reshape(len(x), -1)
    return jac


def param_jacobians_from_backward(layer: Layer, input_data: np.ndarray) -> list[np.ndarray]:
    """Якобианы ``(B, out, p.size)`` выхода по каждому параметру, построенные из ``backward``.

    ``backward`` суммирует градиенты параметров по батчу, поэтому каждый пример проходит через слой отдельно.
    """
    x = np.asarray(input_data)
    out_shape = layer.forward(x[:1]).shape
    n_out = int(np.prod(out_shape[1:]))
    jacs = [np.empty((len(x), n_out, p.size), dtype=np.result_type(x, p)) for p in layer.params]
    for b in range(len(x)):
        for o in range(n_out):
            g = np.zeros((1, n_out))
            g[0, o] = 1
            _, pgs = layer.backward(x[b : b + 1], g.reshape(out_shape))
            for jac, pg in zip(jacs, pgs):
                jac[b, o] = pg.ravel()
    return jacs
