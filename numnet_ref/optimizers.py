"""SGD (with momentum / Nesterov), RMSprop, Adagrad and Adam with Keras 3's update rules and defaults.

``apply(params, grads)`` updates the parameter arrays in place; the state is kept per position in the list, so
always pass all of a network's parameters, the same arrays in the same order, in one call (``Network`` does).
Another list while the first one's arrays are alive (e.g. one call per layer) raises ``ValueError``."""
import weakref

import numpy as np


class Optimizer(object):
    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError('learning_rate must be positive, got %r' % (learning_rate,))
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = None
        self._owner = None          # weak references to the arrays of the last step
        self._before = None         # ... and to those of the step before the arrays last changed

    def _state(self, params, n_slots, initial=0.0):
        """Per-parameter slots (e.g. momentum) filled with ``initial`` (zeros by default), created on the first step."""
        if self._slots is None:
            self._slots = [[np.full_like(p, initial) for p in params] for _ in range(n_slots)]
        elif [s.shape for s in self._slots[0]] != [p.shape for p in params]:
            raise ValueError('%s was used with parameters of shapes %s and now %s: use one optimizer per network'
                             % (type(self).__name__, [s.shape for s in self._slots[0]], [p.shape for p in params]))
        return self._slots

    def __repr__(self):
        return '%s(learning_rate=%r)' % (type(self).__name__, self.learning_rate)

    @staticmethod
    def _same_arrays(refs, params):
        """Whether ``refs`` (weak references) point to exactly the arrays of ``params``, in order."""
        return refs is not None and len(refs) == len(params) and all(r() is p for r, p in zip(refs, params))

    def _check_owner(self, params):
        """One optimizer serves one list of parameter arrays. Calls that go back to an earlier list after another
        one (one call per layer: A, B, A...) would share its moments between layers: that raises. New arrays that
        replace the old ones for good (copies, views, a rebuilt list) are simply the parameters from then on."""
        if self._same_arrays(self._owner, params):
            return
        if self._same_arrays(self._before, params):
            raise ValueError('%r.apply got the parameter arrays of an earlier call after other ones: pass all of '
                             "the network's parameters in one apply call (not one call per layer), and use one "
                             'optimizer per network' % self)
        try:
            self._before, self._owner = self._owner, [weakref.ref(p) for p in params]
        except TypeError:           # not weak-referenceable (e.g. lists): nothing to check
            self._before = self._owner = None

    def apply(self, params, grads):
        """One step: updates every array of ``params`` in place by its gradient in ``grads`` (same shapes)."""
        if len(params) != len(grads):
            raise ValueError('apply got %d params but %d grads' % (len(params), len(grads)))
        self._check_owner(params)
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

    def __repr__(self):
        return 'SGD(learning_rate=%r, momentum=%r, nesterov=%r)' % (self.learning_rate, self.momentum, self.nesterov)

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


class RMSprop(Optimizer):
    """Keras 3 (without momentum, not centered): v = rho * v + (1 - rho) * g^2; p -= lr * g / sqrt(v + epsilon)."""

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        if not 0 <= rho < 1:
            raise ValueError('rho must be in [0, 1), got %r' % (rho,))
        self.rho, self.epsilon = rho, epsilon

    def __repr__(self):
        return 'RMSprop(learning_rate=%r, rho=%r, epsilon=%r)' % (self.learning_rate, self.rho, self.epsilon)

    def _update(self, params, grads):
        (velocities,) = self._state(params, 1)
        for p, g, v in zip(params, grads, velocities):
            v *= self.rho
            v += (1 - self.rho) * g * g
            p -= self.learning_rate * g / np.sqrt(v + self.epsilon)


class Adagrad(Optimizer):
    """Keras 3: a = initial_accumulator_value at the start; a += g^2; p -= lr * g / sqrt(a + epsilon)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
        super().__init__(learning_rate)
        if not initial_accumulator_value >= 0:
            raise ValueError('initial_accumulator_value must be >= 0, got %r' % (initial_accumulator_value,))
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def __repr__(self):
        return 'Adagrad(learning_rate=%r, initial_accumulator_value=%r, epsilon=%r)' % (
            self.learning_rate, self.initial_accumulator_value, self.epsilon)

    def _update(self, params, grads):
        (accumulators,) = self._state(params, 1, self.initial_accumulator_value)
        for p, g, a in zip(params, grads, accumulators):
            a += g * g
            p -= self.learning_rate * g / np.sqrt(a + self.epsilon)


class Adam(Optimizer):
    """Keras 3: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    p -= m * lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + epsilon), t = step number from 1."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def __repr__(self):
        return 'Adam(learning_rate=%r, beta_1=%r, beta_2=%r, epsilon=%r)' % (
            self.learning_rate, self.beta_1, self.beta_2, self.epsilon)

    def _update(self, params, grads):
        m_slots, v_slots = self._state(params, 2)
        t = self.iterations + 1
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for p, g, m, v in zip(params, grads, m_slots, v_slots):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            p -= m * alpha / (np.sqrt(v) + self.epsilon)
