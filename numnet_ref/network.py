"""A sequential network: forward pass, backpropagation, training loop."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .activations import Softmax
from .layer import Layer
from .losses import CrossEntropy
from .optimizers import Optimizer


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_size: float | int = 0.25, random_state: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """То же разбиение, что ``sklearn.model_selection.train_test_split(x, y, test_size=test_size,
    random_state=random_state)`` (только на NumPy): возвращает ``x_train, x_test, y_train, y_test``.

    ``test_size`` — доля из (0, 1) (в тестовую часть попадает ``ceil(test_size * n)`` примеров) или число примеров."""
    n = len(x)
    if len(y) != n:
        raise ValueError(f'train_test_split: в x и y разное число примеров: {n} и {len(y)}')
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        if not 0 < test_size < n:
            raise ValueError(f'train_test_split: test_size={test_size} должен быть от 1 до {n - 1}')
        n_test = int(test_size)
    else:
        if not 0 < test_size < 1:
            raise ValueError(
                f'train_test_split: test_size={test_size!r} должен быть долей из (0, 1) или числом примеров'
            )
        n_test = int(np.ceil(test_size * n))
    n_train = n - n_test
    if n_train <= 0:
        raise ValueError(f'train_test_split: test_size={test_size!r} не оставляет обучающих примеров из {n}')
    permutation = np.random.RandomState(random_state).permutation(n)
    test, train = permutation[:n_test], permutation[n_test : n_test + n_train]
    return x[train], x[test], y[train], y[test]


class Network(object):
    """Последовательная сеть ``Network(layers, loss=None, optimizer=None)``: список слоёв, функция потерь
    (например, ``CrossEntropy()``) и, по желанию, оптимизатор.

    Без оптимизатора параметры обновляются обычным SGD со скоростью обучения ``learning_rate`` из ``train_step``
    / ``fit``; с оптимизатором (``SGD``, ``Adam``...) используется его собственная скорость обучения."""

    def __init__(self, layers: list[Layer], loss: CrossEntropy | None = None, optimizer: Optimizer | None = None):
        self.name = 'Network'
        self.layers = list(layers)
        if not self.layers:
            raise ValueError('Network: в layers нужен хотя бы один слой, а получен пустой список')
        for i, layer in enumerate(self.layers):
            if isinstance(layer, type):
                raise ValueError(
                    f'Network: layers[{i}] — это класс {layer.__name__}, а нужен объект слоя: {layer.__name__}(...)'
                )
            if not callable(getattr(layer, 'forward', None)):
                raise ValueError(f'Network: layers[{i}] = {layer!r} — не слой (у него нет метода forward)')
        self.loss = loss
        self.optimizer = optimizer

    def forward(self, input_data: np.ndarray) -> np.ndarray:
        """Прямой проход через все слои (то же, что ``predict`` без деления на части)."""
        return self.predict(input_data, batch_size=None)

    def predict(self, input_data: np.ndarray, batch_size: int | None = 1024) -> np.ndarray:
        """Выход сети; с ``batch_size`` он вычисляется частями по столько примеров (чтобы не занять много памяти)."""
        if batch_size is not None and len(input_data) > batch_size:
            return np.concatenate(
                [self.predict(input_data[i : i + batch_size], None) for i in range(0, len(input_data), batch_size)]
            )
        current_input = input_data
        for layer in self.layers:
            current_input = layer.forward(current_input)
        return current_input

    def _require_loss(self) -> CrossEntropy:
        if self.loss is None:
            raise ValueError('у этой Network нет функции потерь: создайте её как Network(layers, loss=CrossEntropy())')
        return self.loss

    def calculate_loss(self, input_data: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Потеря каждого примера, массив формы ``(B,)``."""
        return self._require_loss().forward(self.predict(input_data, batch_size=None), labels)

    def _backprop(
        self, input_data: np.ndarray, labels: np.ndarray, scale: float, need_input_grad: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, list[list[np.ndarray]]]:
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

    def grad_x(self, input_data: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Градиент потери каждого примера b по его входу ``input_data[b]``: массив формы ``input_data``."""
        return self._backprop(input_data, labels, 1.0)[1]

    def grad_param(self, input_data: np.ndarray, labels: np.ndarray) -> list[list[np.ndarray]]:
        """Список длиной в число слоёв: для каждого слоя список градиентов dL/dp по его параметрам (в порядке
        ``layer.params``, каждый формы p; у слоя без параметров — пустой список), где L — **средняя** по батчу
        потеря."""
        return self._backprop(input_data, labels, 1.0 / len(input_data), need_input_grad=False)[2]

    def update(self, grad_list: list[list[np.ndarray]], learning_rate: float) -> None:
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

    def train_step(self, input_data: np.ndarray, labels: np.ndarray, learning_rate: float = 0.001) -> None:
        """Одна итерация обучения на батче: градиенты средней по батчу потери (``grad_param``), затем ``update``."""
        grad_list = self.grad_param(input_data, labels)
        self.update(grad_list, learning_rate)

    def fit(
        self,
        trainX: np.ndarray,
        trainY: np.ndarray,
        validation_split: float = 0.25,
        batch_size: int = 1,
        nb_epoch: int = 1,
        learning_rate: float = 0.01,
        shuffle: bool = False,
        seed: int | None = None,
        verbose: int = 1,
    ) -> dict[str, list[float]]:
        """Цикл обучения из задания: train_test_split (random_state=42, то же разбиение, что у sklearn) отделяет
        валидационную часть ``validation_split``, затем ``nb_epoch`` эпох по ``len(train) // batch_size`` батчей с
        индикатором хода и строкой 'N epoch: val ACC'. ``shuffle`` перемешивает обучающие примеры в каждой эпохе
        (seed — ``seed``).

        Возвращает историю ``{'loss', 'accuracy', 'val_loss', 'val_accuracy'}``: после каждой эпохи средняя потеря и
        точность на обучающей и на валидационной частях."""
        if len(trainX) != len(trainY):
            raise ValueError(
                f'Network.fit: в trainX {len(trainX)} примеров, а в trainY {len(trainY)}: '
                'нужна метка для каждого примера'
            )
        if batch_size < 1 or nb_epoch < 0:
            raise ValueError(
                f'Network.fit: batch_size должен быть >= 1 и nb_epoch >= 0, а получены {batch_size!r} и {nb_epoch!r}'
            )
        if validation_split:
            train_x, val_x, train_y, val_y = train_test_split(
                trainX, trainY, test_size=validation_split, random_state=42
            )
        else:
            train_x, train_y, val_x, val_y = trainX, trainY, None, None
        n_batches = len(train_x) // batch_size
        if n_batches == 0:
            raise ValueError(f'Network.fit: batch_size={batch_size} больше числа обучающих примеров ({len(train_x)})')
        rng = np.random.default_rng(seed)
        history = {'loss': [], 'accuracy': [], 'val_loss': [], 'val_accuracy': []}
        for epoch in range(nb_epoch):
            order = rng.permutation(len(train_x)) if shuffle else None
            for i in tqdm(range(n_batches), disable=not verbose, desc=f'epoch {epoch + 1}'):
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
                    print(f"{epoch + 1} epoch: val {history['val_accuracy'][-1]:.2f}")
        return history

    def calculate_loss_batched(self, input_data: np.ndarray, labels: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Потеря каждого примера, вычисленная частями по ``batch_size`` примеров (чтобы не занять много памяти)."""
        return self._require_loss().forward(self.predict(input_data, batch_size), labels)

    def evaluate(self, testX: np.ndarray, testY: np.ndarray, batch_size: int = 1024) -> float:
        """Точность (accuracy): доля примеров, у которых предсказанный класс (argmax выхода) совпадает с меткой."""
        y_pred = np.argmax(self.predict(testX, batch_size), axis=1)
        y_true = np.argmax(testY, axis=1)
        return float(np.sum(y_pred == y_true) / len(y_true))

    def __repr__(self):
        return f"Network([{', '.join(map(repr, self.layers))}], loss={self.loss!r}, optimizer={self.optimizer!r})"
