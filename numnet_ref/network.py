"""A sequential network: forward pass, backpropagation, training loop."""
import numpy as np
from tqdm.auto import tqdm

from .activations import Softmax
from .losses import CrossEntropy


def train_test_split(x, y, test_size=0.25, random_state=42):
    """The same split as ``sklearn.model_selection.train_test_split(x, y, test_size=test_size,
    random_state=random_state)`` (NumPy only): returns ``x_train, x_test, y_train, y_test``.

    ``test_size``: a share in (0, 1) (the test part gets ``ceil(test_size * n)`` samples) or a number of samples."""
    n = len(x)
    if len(y) != n:
        raise ValueError('x and y have different numbers of samples: %d and %d' % (n, len(y)))
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        if not 0 < test_size < n:
            raise ValueError('test_size=%d should be between 1 and %d' % (test_size, n - 1))
        n_test = int(test_size)
    else:
        if not 0 < test_size < 1:
            raise ValueError('test_size=%r should be a share in (0, 1) or a number of samples' % (test_size,))
        n_test = int(np.ceil(test_size * n))
    n_train = n - n_test
    if n_train <= 0:
        raise ValueError('test_size=%r leaves no training samples out of %d' % (test_size, n))
    permutation = np.random.RandomState(random_state).permutation(n)
    test, train = permutation[:n_test], permutation[n_test:n_test + n_train]
    return x[train], x[test], y[train], y[test]


class Network(object):
    """``Network(layers, loss=None, optimizer=None)``.

    Without an optimizer, parameters are updated by plain SGD with the ``learning_rate`` given to ``train_step``
    / ``fit``; with one (``SGD``, ``Adam``), the optimizer's own learning rate is used."""

    def __init__(self, layers, loss=None, optimizer=None):
        self.name = 'Network'
        self.layers = list(layers)
        if not self.layers:
            raise ValueError('Network needs at least one layer in `layers`, got an empty list')
        self.loss = loss
        self.optimizer = optimizer

    def forward(self, input_data):
        return self.predict(input_data, batch_size=None)

    def predict(self, input_data, batch_size=1024):
        """The network's output; with ``batch_size``, computed in chunks of that many samples (bounded memory)."""
        if batch_size is not None and len(input_data) > batch_size:
            return np.concatenate([self.predict(input_data[i:i + batch_size], None)
                                   for i in range(0, len(input_data), batch_size)])
        current_input = input_data
        for layer in self.layers:
            current_input = layer.forward(current_input)
        return current_input

    def _require_loss(self):
        if self.loss is None:
            raise ValueError('this Network has no loss: create it as Network(layers, loss=CrossEntropy())')
        return self.loss

    def calculate_loss(self, input_data, labels):
        """Per-sample losses, shape (batch,)."""
        return self._require_loss().forward(self.predict(input_data, batch_size=None), labels)

    def _backprop(self, input_data, labels, scale, need_input_grad=True):
        """Forward, then backward from ``scale * dL_b/d(output)``: returns (output, dL/dx, per-layer parameter
        grads). Without ``need_input_grad`` the first layer computes only its parameter gradients (dL/dx: None)."""
        inputs = []
        current = input_data
        for layer in self.layers:
            inputs.append(current)
            current = layer.forward(current)
        n, grad = self._output_grad(current, labels, scale)
        param_grads = [[] for _ in self.layers]
        for i in reversed(range(n)):
            if i == 0 and not need_input_grad:
                grad, param_grads[0] = None, self.layers[0].backward_params(inputs[0], grad)
            else:
                grad, param_grads[i] = self.layers[i].backward(inputs[i], grad)
        return current, grad, param_grads

    def _output_grad(self, output, labels, scale):
        """(n, g): backpropagation goes on through ``layers[:n]`` from g = scale * dL_b/d(output of layers[n - 1]).
        The loss' gradient, or, after a last Softmax, CrossEntropy.grad_logits: the same chain in one step."""
        loss = self._require_loss()
        if type(self.layers[-1]) is Softmax and type(loss) is CrossEntropy:
            return len(self.layers) - 1, loss.grad_logits(output, labels) * scale
        return len(self.layers), loss.grad_x(output, labels) * scale

    def grad_x(self, input_data, labels):
        """d(loss of sample b) / d(input of sample b) for every b: shaped like ``input_data``."""
        return self._backprop(input_data, labels, 1.0)[1]

    def grad_param(self, input_data, labels):
        """For every layer, the list of dL/dp of its params, L = the batch mean of the per-sample losses."""
        return self._backprop(input_data, labels, 1.0 / len(input_data), need_input_grad=False)[2]

    def update(self, grad_list, learning_rate):
        if self.optimizer is not None:
            params = [p for layer in self.layers for p in layer.params]
            self.optimizer.apply(params, [g for grads in grad_list for g in grads])
            return
        for layer, grads in zip(self.layers, grad_list):
            if grads:
                layer.update_param(grads, learning_rate)

    def train_step(self, input_data, labels, learning_rate=0.001):
        """One step of training on a batch: the gradients of the batch-mean loss, then the update."""
        grad_list = self.grad_param(input_data, labels)
        self.update(grad_list, learning_rate)

    def fit(self, trainX, trainY, validation_split=0.25, batch_size=1, nb_epoch=1, learning_rate=0.01,
            shuffle=False, seed=None, verbose=1):
        """The assignment's loop: train_test_split (random_state=42, the same split as sklearn's) holds out
        ``validation_split``, then ``nb_epoch`` passes over ``len(train) // batch_size`` batches with a progress bar
        and the line 'N epoch: val ACC'. ``shuffle`` reorders the training samples every epoch (seeded by ``seed``).

        Returns the history ``{'loss', 'accuracy', 'val_loss', 'val_accuracy'}``: after every epoch, the mean loss
        and the accuracy on the training part and on the validation part."""
        if batch_size < 1 or nb_epoch < 0:
            raise ValueError('batch_size must be >= 1 and nb_epoch >= 0, got %r and %r' % (batch_size, nb_epoch))
        if validation_split:
            train_x, val_x, train_y, val_y = train_test_split(trainX, trainY, test_size=validation_split,
                                                              random_state=42)
        else:
            train_x, train_y, val_x, val_y = trainX, trainY, None, None
        n_batches = len(train_x) // batch_size
        if n_batches == 0:
            raise ValueError('batch_size=%d is larger than the %d training samples' % (batch_size, len(train_x)))
        rng = np.random.default_rng(seed)
        history = {'loss': [], 'accuracy': [], 'val_loss': [], 'val_accuracy': []}
        for epoch in range(nb_epoch):
            order = rng.permutation(len(train_x)) if shuffle else None
            for i in tqdm(range(n_batches), disable=not verbose, desc='epoch %d' % (epoch + 1)):
                batch = slice(i * batch_size, (i + 1) * batch_size)
                if order is not None:
                    batch = order[batch]
                self.train_step(train_x[batch], train_y[batch], learning_rate)
            history['loss'].append(float(np.mean(self.calculate_loss_batched(train_x, train_y))))
            history['accuracy'].append(self.evaluate(train_x, train_y))
            if val_x is not None:
                history['val_loss'].append(float(np.mean(self.calculate_loss_batched(val_x, val_y))))
                history['val_accuracy'].append(self.evaluate(val_x, val_y))
                if verbose:
                    print('%d epoch: val %.2f' % (epoch + 1, history['val_accuracy'][-1]))
        return history

    def calculate_loss_batched(self, input_data, labels, batch_size=1024):
        """Per-sample losses computed in chunks (bounded memory)."""
        return self._require_loss().forward(self.predict(input_data, batch_size), labels)

    def evaluate(self, testX, testY, batch_size=1024):
        """Accuracy: the share of samples whose predicted class (argmax) is the labelled one."""
        y_pred = np.argmax(self.predict(testX, batch_size), axis=1)
        y_true = np.argmax(testY, axis=1)
        return float(np.sum(y_pred == y_true) / len(y_true))

    def __repr__(self):
        return 'Network([%s], loss=%r, optimizer=%r)' % (', '.join(map(repr, self.layers)), self.loss,
                                                         self.optimizer)
