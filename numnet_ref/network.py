"""A sequential network: forward pass, backpropagation, training loop."""

import numpy as np
from tqdm.auto import tqdm

from .activations import Softmax
from .losses import CrossEntropy


def train_test_split(x, y, test_size=0.25, random_state=42):
    """То же разбиение, что ``sklearn.model_selection.train_test_split(x, y, test_size=test_size,
    random_state=random_state)`` (только на NumPy): возвращает ``x_train, x_test, y_train, y_test``.

    ``test_size`` — доля из (0, 1) (в тестовую часть попадает ``ceil(test_size * n)`` примеров) или число примеров."""
    n = len(x)
    if len(y) != n:
        raise ValueError('train_test_split: в x и y разное число примеров: %d и %d' % (n, len(y)))
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        if not 0 < test_size < n:
            raise ValueError('train_test_split: test_size=%d должен быть от 1 до %d' % (test_size, n - 1))
        n_test = int(test_size)
    else:
        if not 0 < test_size < 1:
            raise ValueError(
                'train_test_split: test_size=%r должен быть долей из (0, 1) или числом примеров' % (test_size,)
            )
        n_test = int(np.ceil(test_size * n))
    n_train = n - n_test
    if n_train <= 0:
        raise ValueError('train_test_split: test_size=%r не оставляет обучающих примеров из %d' % (test_size, n))
    permutation = np.random.RandomState(random_state).permutation(n)
    test, train = permutation[:n_test], permutation[n_test : n_test + n_train]
    return x[train], x[test], y[train], y[test]


class Network(object):
    """Последовательная сеть ``Network(layers, loss=None, optimizer=None)``: список слоёв, функция потерь
    (например, ``CrossEntropy()``) и, по желанию, оптимизатор.

    Без оптимизатора параметры обновляются обычным SGD со скоростью обучения ``learning_rate`` из ``train_step``
    / ``fit``; с оптимизатором (``SGD``, ``Adam``...) используется его собственная скорость обучения."""

    def __init__(self, layers, loss=None, optimizer=None):
        self.name = 'Network'
        self.layers = list(layers)
        if not self.layers:
            raise ValueError('Network: в layers нужен хотя бы один слой, а получен пустой список')
        for i, layer in enumerate(self.layers):
            if isinstance(layer, type):
                raise ValueError(
                    'Network: layers[%d] — это класс %s, а нужен объект слоя: %s(...)'
                    % (i, layer.__name__, layer.__name__)
                )
            if not callable(getattr(layer, 'forward', None)):
                raise ValueError('Network: layers[%d] = %r — не слой (у него нет метода forward)' % (i, layer))
        self.loss = loss
        self.optimizer = optimizer

    def forward(self, input_data):
        """Прямой проход через все слои (то же, что ``predict`` без деления на части)."""
        return self.predict(input_data, batch_size=None)

    def predict(self, input_data, batch_size=1024):
        """Выход сети; с ``batch_size`` он вычисляется частями по столько примеров (чтобы не занять много памяти)."""
        if batch_size is not None and len(input_data) > batch_size:
            return np.concatenate(
                [self.predict(input_data[i : i + batch_size], None) for i in range(0, len(input_data), batch_size)]
            )
        current_input = input_data
        for layer in self.layers:
            current_input = layer.forward(current_input)
        return current_input

    def _require_loss(self):
        if self.loss is None:
            raise ValueError('у этой Network нет функции потерь: создайте её как Network(layers, loss=CrossEntropy())')
        return self.loss

    def calculate_loss(self, input_data, labels):
        """Потеря каждого примера, массив формы ``(B,)``."""
        return self._require_loss().forward(self.predict(input_data, batch_size=None), labels)

    def _backprop(self, input_data, labels, scale, need_input_grad=True):
        """Прямой проход, затем обратный от ``scale * dL_b/d(выход)``: возвращает (выход, dL/dx, градиенты параметров
        каждого слоя). Без ``need_input_grad`` первый слой вычисляет только градиенты параметров (dL/dx: None)."""
        loss = self._require_loss()
        inputs = []
        current = input_data
        for layer in self.layers:
            inputs.append(current)
            current = layer.forward(current)
        param_grads = [None] * len(self.layers)
        last = len(self.layers) - 1
        if type(self.layers[-1]) is Softmax and type(loss) is CrossEntropy and last > 0:
            # Softmax + CrossEntropy: the gradient by Softmax's input in one step, as Keras and PyTorch do. With
            # g = dL/dp (zero where p < eps) and sum_i g_i p_i = -s, s = sum of y over the unclipped classes,
            # p * (g - sum(g * p)) is p * s - y (y zeroed where p < eps): the two backward passes, fused.
            labels_kept = np.asarray(labels) * (current >= loss.eps)
            grad = (current * labels_kept.sum(axis=1, keepdims=True) - labels_kept) * scale
            param_grads[last], last = [], last - 1
        else:
            grad = loss.grad_x(current, labels) * scale
        for i in range(last, 0, -1):
            grad, param_grads[i] = self.layers[i].backward(inputs[i], grad)
        if need_input_grad:
            grad, param_grads[0] = self.layers[0].backward(inputs[0], grad)
        else:
            grad, param_grads[0] = None, self.layers[0].backward_params(inputs[0], grad)
        return current, grad, param_grads

    def grad_x(self, input_data, labels):
        """Градиент потери каждого примера b по его входу ``input_data[b]``: массив формы ``input_data``."""
        return self._backprop(input_data, labels, 1.0)[1]

    def grad_param(self, input_data, labels):
        """Список длиной в число слоёв: для каждого слоя список градиентов dL/dp по его параметрам (в порядке
        ``layer.params``, каждый формы p; у слоя без параметров — пустой список), где L — **средняя** по батчу потеря."""
        return self._backprop(input_data, labels, 1.0 / len(input_data), need_input_grad=False)[2]

    def update(self, grad_list, learning_rate):
        """Обновляет параметры всех слоёв по ``grad_list`` (то, что возвращает ``grad_param``).

        Без оптимизатора — шаг SGD каждого слоя (``layer.update_param`` со скоростью обучения ``learning_rate``).
        С оптимизатором — **один** вызов ``self.optimizer.apply(params, grads)`` со всеми параметрами сети (слой за
        слоем, в порядке ``layer.params``) и их градиентами; ``learning_rate`` тогда не используется."""
        if self.optimizer is not None:
            params = [p for layer in self.layers for p in layer.params]
            self.optimizer.apply(params, [g for grads in grad_list for g in grads])
            return
        for layer, grads in zip(self.layers, grad_list):
            if grads:
                layer.update_param(grads, learning_rate)

    def train_step(self, input_data, labels, learning_rate=0.001):
        """Одна итерация обучения на батче: градиенты средней по батчу потери (``grad_param``), затем ``update``."""
        grad_list = self.grad_param(input_data, labels)
        self.update(grad_list, learning_rate)

    def fit(
        self,
        trainX,
        trainY,
        validation_split=0.25,
        batch_size=1,
        nb_epoch=1,
        learning_rate=0.01,
        shuffle=False,
        seed=None,
        verbose=1,
    ):
        """Цикл обучения из задания: train_test_split (random_state=42, то же разбиение, что у sklearn) отделяет
        валидационную часть ``validation_split``, затем ``nb_epoch`` эпох по ``len(train) // batch_size`` батчей с
        индикатором хода и строкой 'N epoch: val ACC'. ``shuffle`` перемешивает обучающие примеры в каждой эпохе
        (seed — ``seed``).

        Возвращает историю ``{'loss', 'accuracy', 'val_loss', 'val_accuracy'}``: после каждой эпохи средняя потеря и
        точность на обучающей и на валидационной частях."""
        if len(trainX) != len(trainY):
            raise ValueError(
                'Network.fit: в trainX %d примеров, а в trainY %d: нужна метка для каждого примера'
                % (len(trainX), len(trainY))
            )
        if batch_size < 1 or nb_epoch < 0:
            raise ValueError(
                'Network.fit: batch_size должен быть >= 1 и nb_epoch >= 0, а получены %r и %r' % (batch_size, nb_epoch)
            )
        if validation_split:
            train_x, val_x, train_y, val_y = train_test_split(
                trainX, trainY, test_size=validation_split, random_state=42
            )
        else:
            train_x, train_y, val_x, val_y = trainX, trainY, None, None
        n_batches = len(train_x) // batch_size
        if n_batches == 0:
            raise ValueError(
                'Network.fit: batch_size=%d больше числа обучающих примеров (%d)' % (batch_size, len(train_x))
            )
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
        """Потеря каждого примера, вычисленная частями по ``batch_size`` примеров (чтобы не занять много памяти)."""
        return self._require_loss().forward(self.predict(input_data, batch_size), labels)

    def evaluate(self, testX, testY, batch_size=1024):
        """Точность (accuracy): доля примеров, у которых предсказанный класс (argmax выхода) совпадает с меткой."""
        y_pred = np.argmax(self.predict(testX, batch_size), axis=1)
        y_true = np.argmax(testY, axis=1)
        return float(np.sum(y_pred == y_true) / len(y_true))

    def __repr__(self):
        return 'Network([%s], loss=%r, optimizer=%r)' % (', '.join(map(repr, self.layers)), self.loss, self.optimizer)
