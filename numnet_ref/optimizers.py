"""SGD (with momentum / Nesterov) and Adam with Keras 3's update rules and defaults.

``apply(params, grads)`` updates the parameter arrays in place; the state is kept per position in the list, so
always pass the same parameters in the same order (``Network`` does)."""
import numpy as np


class Optimizer(object):
    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError('learning_rate must be positive, got %r' % (learning_rate,))
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = None

    def _state(self, params, n_slots):
        """Zero-initialised per-parameter slots (e.g. momentum), created on the first step."""
        if self._slots is None:
            self._slots = [[np.zeros_like(p) for p in params] for _ in range(n_slots)]
        elif [s.shape for s in self._slots[0]] != [p.shape for p in params]:
            raise ValueError('%s was used with parameters of shapes %s and now %s: use one optimizer per network'
                             % (type(self).__name__, [s.shape for s in self._slots[0]], [p.shape for p in params]))
        return self._slots

    def apply(self, params, grads):
        if len(params) != len(grads):
            raise ValueError('apply got %d params but %d grads' % (len(params), len(grads)))
        self._update(params, grads)
        self.iterations += 1


class SGD(Optimizer):
    """Keras 3: m = momentum * m - lr * g; p += m (or, with nesterov, p += momentum * m - lr * g).
    Without momentum: p -= lr * g."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError('momentum must be in [0, 1], got %r' % (momentum,))
        self.momentum, self.nesterov = momentum, nesterov

    def _update(self, params, grads):
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


class Adam(Optimizer):
    """Keras 3: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    p -= m * lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + epsilon), t = step number from 1."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _update(self, params, grads):
        m_slots, v_slots = self._state(params, 2)
        t = self.iterations + 1
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for p, g, m, v in zip(params, grads, m_slots, v_slots):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            p -= m * alpha / (np.sqrt(v) + self.epsilon)
