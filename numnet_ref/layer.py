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
import numpy as np


class Layer(object):
    _deriving = set()      # layers inside Layer.backward / backward_params: a re-entry is a cycle of fallbacks

    def __init__(self):
        self.name = 'Layer'

    @property
    def params(self):
        """The layer's parameter arrays (updated in place by ``update_param`` and the optimizers).

        Layers with parameters override this property; a layer may also simply assign ``self.params = [...]``."""
        return self.__dict__.get('_params', [])

    @params.setter
    def params(self, arrays):
        self._params = list(arrays)

    def forward(self, input_data):
        raise NotImplementedError

    def backward(self, input_data, grad_output):
        """dL/dx and dL/dp from the Jacobians: ``grad_output`` is dL/d(output), shaped like the output.

        Inside ``backward_params`` (which needs no dL/dx) ``grad_x`` is not built and dL/dx is None. Raises
        NotImplementedError when the Jacobians themselves come from this method (neither is implemented)."""
        if id(self) in Layer._deriving:
            raise NotImplementedError('%s: реализуйте grad_x (и grad_param) или backward — сейчас каждый из них '
                                      'вычисляется через другой' % type(self).__name__)
        Layer._deriving.add(id(self))
        try:
            x = np.asarray(input_data)
            g = np.reshape(grad_output, (len(x), -1))
            if ('backward_params', id(self)) in Layer._deriving:      # only the parameter gradients are wanted
                grad_input = None
            else:
                grad_input = np.einsum('bo,boi->bi', g, self.grad_x(x)).reshape(x.shape)
            param_grads = [np.einsum('bo,bop->p', g, jac).reshape(p.shape)
                           for jac, p in zip(self.grad_param(x), self.params)]
        finally:
            Layer._deriving.discard(id(self))
        return grad_input, param_grads

    def backward_params(self, input_data, grad_output):
        """Only the parameter gradients ``[dL/dp for p in params]`` (the second half of ``backward``).

        Calls ``backward``; when that is the base class' (directly or through ``super()``), only the parameter
        Jacobians are built, not ``grad_x``. Raises NotImplementedError when ``backward`` itself takes the parameter
        gradients from this method."""
        key = ('backward_params', id(self))
        if key in Layer._deriving:
            raise NotImplementedError('%s: backward вызывает backward_params, а тот — backward; реализуйте '
                                      'backward_params или вычислите градиенты параметров в самом backward'
                                      % type(self).__name__)
        Layer._deriving.add(key)
        try:
            return self.backward(input_data, grad_output)[1]
        finally:
            Layer._deriving.discard(key)

    def grad_x(self, input_data):
        raise NotImplementedError

    def grad_param(self, input_data):
        return []

    def update_param(self, grads, learning_rate):
        """Plain SGD: ``p -= learning_rate * dL/dp`` for each parameter (grads shaped like, or reshapeable to, p)."""
        for p, g in zip(self.params, grads):
            p -= learning_rate * np.reshape(g, p.shape)

    def __repr__(self):
        return '%s()' % type(self).__name__


def jacobian_from_backward(layer, input_data):
    """The Jacobian ``(batch, out, in)`` of ``layer`` built column by column from its ``backward``.

    Used by the image layers, whose Jacobians are only for teaching and tests: one backward pass per output unit.
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


def param_jacobians_from_backward(layer, input_data):
    """Jacobians ``(batch, out, p.size)`` of the output by each parameter, built from ``backward``.

    ``backward`` sums parameter gradients over the batch, so each sample is pushed through on its own.
    """
    x = np.asarray(input_data)
    out_shape = layer.forward(x[:1]).shape
    n_out = int(np.prod(out_shape[1:]))
    jacs = [np.empty((len(x), n_out, p.size), dtype=np.result_type(x, p)) for p in layer.params]
    for b in range(len(x)):
        for o in range(n_out):
            g = np.zeros((1, n_out))
            g[0, o] = 1
            _, pgs = layer.backward(x[b:b + 1], g.reshape(out_shape))
            for jac, pg in zip(jacs, pgs):
                jac[b, o] = pg.ravel()
    return jacs
