"""SGD (with momentum / Nesterov), RMSprop, Adagrad and Adam with Keras 3's update rules and defaults.

``apply(params, grads)`` updates the parameter arrays in place; the state is kept per position in the list, so
always pass all of a network's parameters, the same arrays in the same order, in one call (``Network`` does).
Another list while the first one's arrays are alive (e.g. one call per layer) raises ``ValueError``."""

from __future__ import annotations

import weakref

import numpy as np


class Optimizer(object):
    """Общая часть оптимизаторов: ``apply(params, grads)`` делает один шаг оптимизатора, меняя массивы ``params``
    на месте. Состояние (моменты, накопленные квадраты градиентов) хранится для каждой позиции списка ``params``,
    поэтому все параметры сети передаются одним вызовом, одни и те же массивы в одном порядке (так делает
    ``Network.update``); ``iterations`` — число сделанных шагов."""

    def __init__(self, learning_rate: float):
        if not learning_rate > 0:
            raise ValueError(
                f'{type(self).__name__}: learning_rate должен быть положительным, а получено {learning_rate!r}'
            )
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = None
        self._owner = None  # слабые ссылки на массивы последнего шага
        self._before = None  # ... и на массивы шага до последней смены массивов

    def _state(self, params: list[np.ndarray], n_slots: int, initial: float = 0.0) -> list[list[np.ndarray]]:
        """``n_slots`` списков массивов состояния (например, моментов), по одному массиву формы p на каждый параметр,
        заполненных ``initial`` (по умолчанию нулями); создаются на первом шаге."""
        if self._slots is None:
            self._slots = [[np.full_like(p, initial) for p in params] for _ in range(n_slots)]
        elif [s.shape for s in self._slots[0]] != [p.shape for p in params]:
            raise ValueError(
                f'{type(self).__name__}: раньше параметры имели формы {[s.shape for s in self._slots[0]]}, '
                f'а теперь {[p.shape for p in params]}: нужен отдельный оптимизатор для каждой сети'
            )
        return self._slots

    def __repr__(self):
        return f'{type(self).__name__}(learning_rate={self.learning_rate!r})'

    @staticmethod
    def _same_arrays(refs: list[weakref.ref] | None, params: list[np.ndarray]) -> bool:
        """Указывают ли слабые ссылки ``refs`` ровно на массивы ``params``, в том же порядке."""
        return refs is not None and len(refs) == len(params) and all(r() is p for r, p in zip(refs, params))

    def _check_owner(self, params: list[np.ndarray]) -> None:
        """Один оптимизатор обслуживает один список массивов параметров. Вызов, который после другого списка
        возвращается к прежнему (вызов для каждого слоя: A, B, A...), смешал бы моменты разных слоёв: это ошибка.
        Новые массивы, насовсем заменившие старые (копии, новый список), просто становятся параметрами."""
        if self._same_arrays(self._owner, params):
            return
        if self._same_arrays(self._before, params):
            raise ValueError(
                f'{self!r}.apply снова получил массивы параметров из более раннего вызова после других: '
                'передавайте все параметры сети одним вызовом apply (а не отдельным вызовом для '
                'каждого слоя) и используйте отдельный оптимизатор для каждой сети'
            )
        try:
            self._before, self._owner = self._owner, [weakref.ref(p) for p in params]
        except TypeError:  # на объекты без слабых ссылок (например, списки) проверки нет
            self._before = self._owner = None

    def apply(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Один шаг оптимизатора: меняет на месте каждый массив ``params`` по его градиенту из ``grads`` (той же
        формы)."""
        if len(params) != len(grads):
            raise ValueError(f'{self!r}.apply: в params {len(params)} массивов, а в grads {len(grads)}')
        for i, (p, g) in enumerate(zip(params, grads)):
            if np.shape(p) != np.shape(g):
                raise ValueError(
                    f'{self!r}.apply: grads[{i}] имеет форму {np.shape(g)}, а params[{i}] — форму {np.shape(p)}: '
                    'градиент должен иметь форму своего параметра'
                )
        self._check_owner(params)
        self._update(params, grads)
        self.iterations += 1


class SGD(Optimizer):
    """``keras.optimizers.SGD(learning_rate, momentum, nesterov)`` Keras 3, те же значения по умолчанию.

    Шаг (g — градиент, m — момент, в начале 0): ``m = momentum * m - learning_rate * g``; затем ``p += m``, а с
    ``nesterov=True`` — ``p += momentum * m - learning_rate * g``. При ``momentum=0``: ``p -= learning_rate * g``."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError(f'SGD: momentum должен быть из [0, 1], а получено {momentum!r}')
        self.momentum, self.nesterov = momentum, nesterov

    def __repr__(self):
        return f'SGD(learning_rate={self.learning_rate!r}, momentum={self.momentum!r}, nesterov={self.nesterov!r})'

    def _update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        lr, mu = self.learning_rate, self.momentum
        if mu == 0:
            for p, g in zip(params, grads):
                p -= lr * g
            return
        (moments,) = self._state(params, 1)
        for p, g, m in zip(params, grads, moments):
            m *= mu
            m -= lr * g
            p += mu * m - lr * g if self.nesterov else m


class RMSprop(Optimizer):
    """``keras.optimizers.RMSprop(learning_rate, rho, epsilon)`` Keras 3 (без момента, не центрированный), те же
    значения по умолчанию.

    Шаг (v в начале 0): ``v = rho * v + (1 - rho) * g**2``; ``p -= learning_rate * g / sqrt(v + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        if not 0 <= rho < 1:
            raise ValueError(f'RMSprop: rho должен быть из [0, 1), а получено {rho!r}')
        self.rho, self.epsilon = rho, epsilon

    def __repr__(self):
        return f'RMSprop(learning_rate={self.learning_rate!r}, rho={self.rho!r}, epsilon={self.epsilon!r})'

    def _update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        (velocities,) = self._state(params, 1)
        for p, g, v in zip(params, grads, velocities):
            v *= self.rho
            v += (1 - self.rho) * g * g
            p -= self.learning_rate * g / np.sqrt(v + self.epsilon)


class Adagrad(Optimizer):
    """``keras.optimizers.Adagrad(learning_rate, initial_accumulator_value, epsilon)`` Keras 3, те же значения по
    умолчанию.

    Шаг (a в начале равно initial_accumulator_value): ``a += g**2``; ``p -= learning_rate * g / sqrt(a + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        if not initial_accumulator_value >= 0:
            raise ValueError(
                f'Adagrad: initial_accumulator_value должен быть >= 0, а получено {initial_accumulator_value!r}'
            )
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def __repr__(self):
        return (
            f'Adagrad(learning_rate={self.learning_rate!r}, '
            f'initial_accumulator_value={self.initial_accumulator_value!r}, epsilon={self.epsilon!r})'
        )

    def _update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        (accumulators,) = self._state(params, 1, self.initial_accumulator_value)
        for p, g, a in zip(params, grads, accumulators):
            a += g * g
            p -= self.learning_rate * g / np.sqrt(a + self.epsilon)


class Adam(Optimizer):
    """``keras.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon)`` Keras 3 (без amsgrad), те же значения по
    умолчанию.

    Шаг номер t (t = 1 на первом шаге; m и v в начале 0): ``m += (g - m) * (1 - beta_1)``;
    ``v += (g**2 - v) * (1 - beta_2)``;
    ``p -= learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def __repr__(self):
        return (
            f'Adam(learning_rate={self.learning_rate!r}, beta_1={self.beta_1!r}, beta_2={self.beta_2!r}, '
            f'epsilon={self.epsilon!r})'
        )

    def _update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        m_slots, v_slots = self._state(params, 2)
        t = self.iterations + 1
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        for p, g, m, v in zip(params, grads, m_slots, v_slots):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            p -= m * alpha / (np.sqrt(v) + self.epsilon)
