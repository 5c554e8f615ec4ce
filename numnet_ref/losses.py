"""Categorical cross-entropy on probabilities, per sample."""
import numpy as np


class CrossEntropy(object):
    """L(p, y) = -sum_i y_i log(max(p_i, eps)) for each sample: p, y ``(batch, classes)`` -> ``(batch,)``.

    ``p`` are probabilities (a Softmax output), ``y`` one-hot (or soft) labels. Below ``eps`` the logarithm is
    clipped, so its derivative there is 0."""

    def __init__(self, eps=0.00001):
        self.name = 'CrossEntropy'
        self.eps = eps

    @staticmethod
    def _check(input_data, labels):
        p, y = np.asarray(input_data), np.asarray(labels)
        if p.shape != y.shape or p.ndim != 2:
            raise ValueError('CrossEntropy expects input_data and labels of the same shape (batch, classes), '
                             'got %s and %s' % (p.shape, y.shape))
        return p, y

    def forward(self, input_data, labels):
        p, y = self._check(input_data, labels)
        return -np.sum(y * np.log(np.maximum(p, self.eps)), axis=1)

    def calculate_loss(self, input_data, labels):
        return self.forward(input_data, labels)

    def grad_x(self, input_data, labels):
        """(batch, classes): d L_b / d p_b = -y / p where p >= eps, else 0."""
        p, y = self._check(input_data, labels)
        return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)

    def grad_logits(self, input_data, labels):
        """(batch, classes): d L_b / d z_b for p_b = softmax(z_b), grad_x pushed back through the Softmax in one
        step: p * sum(y') - y', y' = y without the labels of p < eps (there the derivative is 0)."""
        p, y = self._check(input_data, labels)
        if p.min() < self.eps:
            y = np.where(p >= self.eps, y, 0)
        return p * y.sum(axis=1, keepdims=True) - y

    def __repr__(self):
        return 'CrossEntropy(eps=%r)' % (self.eps,)
