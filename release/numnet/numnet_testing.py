"""Вспомогательные функции тестов ноутбука numnet.ipynb (положите этот файл рядом с ноутбуком и не меняйте его).

Ноутбук импортирует их в свёрнутой ячейке «Вспомогательные функции тестов». Здесь лежит всё, что не зависит от
пространства имён ноутбука: сравнение чисел и сообщения об ошибках (check_close, check_grad), численные
производные, формулы оптимизаторов Keras на NumPy, вызовы Keras (только дома, внутри expect), таблица
самопроверки, совет «только NumPy», лимит времени. Функции, которые проверяющая сторона подменяет своими (expect,
begin_test, accuracy_of, loss_of), и функции, которые обращаются к ним или к классам ноутбука по имени, определены
в самой ячейке: там они передают сюда то, что взяли из ноутбука.

При проверке ботом этот файл берётся из курса, а не из вашей папки: изменения в нём ничего не меняют.
"""

import dis
import os
import signal
import types

import numpy as np

os.environ.setdefault('KERAS_BACKEND', 'jax')  # Keras нужен только дома для ожидаемых значений; с JAX быстрее

# Режим проверки (NUMNET_GRADING=1 или nbgrader autograde): демонстрационные ячейки с долгим обучением пропускаются.
GRADING = (
    os.environ.get('NUMNET_GRADING', '0').lower() not in ('', '0', 'false', 'no')
    or os.environ.get('NBGRADER_EXECUTION') == 'autograde'
)

FORBIDDEN_MODULES = (
    'torch',
    'tensorflow',
    'keras',
    'jax',
    'jaxlib',
    'sklearn',
    'scipy',
    'theano',
    'cupy',
    'numba',
    'mxnet',
    'flax',
    'optax',
    'tf_keras',
)

# Классы каждого задания (для напоминания «только NumPy»).
TASK_CLASSES = {
    'part1_forward': ['Layer', 'DenseLayer', 'ReLU', 'Softmax', 'FlattenLayer', 'MaxPooling', 'Network'],
    'part2_grad_x': ['Layer', 'DenseLayer', 'ReLU', 'Softmax', 'CrossEntropy', 'Network'],
    'part3_training': ['Layer', 'DenseLayer', 'ReLU', 'Softmax', 'CrossEntropy', 'Network'],
    'bonus_conv': ['Conv2DLayer', 'MaxPooling', 'FlattenLayer'],
    'bonus_conv_tr': ['Conv2DTrLayer'],
    'bonus_optimizer': ['SGD', 'RMSprop', 'Adagrad', 'Adam'],
}


class TestFailed(AssertionError):
    """Тест не пройден: в сообщении сказано, что именно не так."""


def fail(message):
    raise TestFailed(message)


# ------------------------------------------------------------------------------ ожидаемые значения
def validation_part(x, y, validation_split, random_state=42):
    """Валидационная часть, которую отделяет Network.fit: то же разбиение, что у
    sklearn.model_selection.train_test_split(x, y, test_size=validation_split, random_state=42)."""
    n_test = int(np.ceil(validation_split * len(x)))
    test = np.random.RandomState(random_state).permutation(len(x))[:n_test]
    return x[test], y[test]


def import_keras():
    """import keras (только внутри expect: при проверке Keras нет). Импорт сдвигает генератор np.random — его
    состояние восстанавливается, чтобы случайные данные теста не зависели от того, импортирован ли уже Keras."""
    numpy_state = np.random.get_state()
    import keras

    np.random.set_state(numpy_state)
    return keras


def keras_layer(class_name, **kwargs):
    """keras.layers.<class_name>(**kwargs) (только внутри expect)."""
    return getattr(import_keras().layers, class_name)(**kwargs)


# ------------------------------------------------------------------------------------------ самопроверка
def _notebook_path(namespace):
    """Файл этого ноутбука: от Jupyter (JPY_SESSION_NAME), VS Code или единственный ноутбук с тестами в папке."""
    for path in (os.environ.get('JPY_SESSION_NAME'), namespace.get('__vsc_ipynb_file__')):
        if path and path.endswith('.ipynb') and os.path.isfile(path):
            return path
    found = []
    for name in sorted(os.listdir('.')):
        if name.endswith('.ipynb'):
            with open(name, encoding='utf-8') as f:
                if '"grade": true' in f.read():
                    found.append(name)
    return found[0] if len(found) == 1 else None


def _visible_tests(path):
    """[(номер теста, название, баллы, задание, код видимой части)] тестовых ячеек ноутбука path."""
    import json

    with open(path, encoding='utf-8') as f:
        nb = json.load(f)
    names = nb.get('metadata', {}).get('gradebot', {})
    tests = []
    for cell in nb['cells']:
        meta = cell.get('metadata', {}).get('nbgrader', {})
        if cell['cell_type'] == 'code' and meta.get('grade') and not meta.get('solution'):
            source = ''.join(cell['source'])
            begin, end = '### BEGIN ' + 'HIDDEN TESTS', '### END ' + 'HIDDEN TESTS'  # (не маркеры nbgrader)
            while begin in source:  # в выданном ноутбуке скрытых частей нет
                before, _, after = source.partition(begin)
                source = before + after.partition(end)[2]
            gid = meta['grade_id']
            task = gid.split('__')[0]
            tests.append(
                (
                    gid,
                    names.get('tests', {}).get(gid, gid),
                    float(meta.get('points', 0)),
                    names.get('tasks', {}).get(task, task),
                    source,
                )
            )
    return tests


def run_visible_tests(path, namespace):
    """[(задание, тест, номер, баллы, пройден ли, причина)]: видимые части тестов ноутбука path, каждый в копии
    пространства имён namespace (ноутбука); ошибка одного теста не останавливает остальные."""
    import contextlib
    import io

    rows = []
    for gid, name, points, task, source in _visible_tests(path):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f'<тест {gid}>', 'exec'), dict(namespace))
            ok, reason = True, ''
        except Exception as err:  # noqa: BLE001 - таблица показывает любую ошибку теста
            ok = False
            reason = str(err) if isinstance(err, TestFailed) else f'{type(err).__name__}: {err}'
        finally:
            cancel_alarm()
        rows.append((task, name, gid, points, ok, ' '.join(reason.split())[:400]))
    return rows


def self_check(namespace, path=None):
    """Запускает видимые части всех тестов ноутбука (не останавливаясь на первой ошибке) в копии его пространства
    имён namespace и печатает таблицу: тест, баллы, результат, причина. path — файл ноутбука, если его не удалось
    найти самому."""
    if namespace.get('GRADING', GRADING):
        print('Режим проверки: самопроверка пропущена (тесты проверяет бот)')
        return
    path = path or _notebook_path(namespace)
    if path is None:
        print('Не удалось найти файл ноутбука: сохраните его и вызовите self_check(\'путь/к/numnet.ipynb\').')
        return
    rows = run_visible_tests(path, namespace)
    print('Самопроверка: только видимые части тестов (при проверке бот добавит скрытые части)')
    tasks = dict.fromkeys(r[0] for r in rows)
    for task in tasks:
        mine = [r for r in rows if r[0] == task]
        print(f'\n{task}: {sum(r[3] for r in mine if r[4]):g} из {sum(r[3] for r in mine):g}')
        for _, name, gid, points, ok, reason in mine:
            mark = '✓' if ok else '✗'
            note = '' if ok else '\n          не пройден: ' + reason
            print(f'  {mark} {points:<5g} {name} ({gid}){note}')
    print(f'\nИтого: {sum(r[3] for r in rows if r[4]):g} из {sum(r[3] for r in rows):g}')


# ---------------------------------------------------------------------------------------------- время
def cancel_alarm(*args):
    """Снимает лимит времени теста (после каждой ячейки Jupyter и после каждого теста самопроверки)."""
    if hasattr(signal, 'SIGALRM'):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum, frame):
    raise TimeoutError('ячейка работает дольше отведённого времени (бесконечный цикл или очень медленный код?)')


def start_alarm(seconds):
    """Лимит времени ячейки: через seconds секунд TimeoutError (в Windows нет SIGALRM: там лимита нет)."""
    if hasattr(signal, 'SIGALRM'):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)


def _cancel_alarm_after_each_cell():
    try:
        from IPython import get_ipython  # в Jupyter; при проверке IPython нет
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.events.register('post_run_cell', cancel_alarm)


_cancel_alarm_after_each_cell()


# --------------------------------------------------------------------------------------------- только NumPy
def _forbidden(obj):
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        name = getattr(obj, '__module__', None) or getattr(type(obj), '__module__', '') or ''
    root = str(name).split('.')[0]
    return root if root in FORBIDDEN_MODULES else None


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _functions_of(cls):
    for klass in cls.__mro__:
        if klass is object or getattr(klass, '__module__', None) != cls.__module__:
            continue
        for name, value in vars(klass).items():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                for part, f in (('getter', value.fget), ('setter', value.fset)):
                    if f is not None:
                        yield klass.__name__, name, f
            elif isinstance(value, types.FunctionType):
                yield klass.__name__, name, value


def _scan_function(func, where, seen, problems):
    if func in seen:
        return
    seen.add(func)
    for code in _code_objects(func.__code__):
        for ins in dis.get_instructions(code):
            if ins.opname == 'IMPORT_NAME' and str(ins.argval).split('.')[0] in FORBIDDEN_MODULES:
                problems.append(f'{where}: import {ins.argval}')
            elif ins.opname in ('LOAD_GLOBAL', 'LOAD_NAME') and ins.argval in func.__globals__:
                obj = func.__globals__[ins.argval]
                root = _forbidden(obj)
                if root:
                    problems.append(f'{where}: {ins.argval} (из {root})')
                elif isinstance(obj, types.FunctionType) and obj.__module__ == func.__module__:
                    _scan_function(obj, f'{where} -> {obj.__name__}', seen, problems)
                elif isinstance(obj, type) and obj.__module__ == func.__module__ and obj not in seen:
                    seen.add(obj)
                    for cls_name, name, f in _functions_of(obj):
                        _scan_function(f, f'{where} -> {cls_name}.{name}', seen, problems)


def check_numpy_only(namespace, *class_names):
    """Совет, а не проверка: печатает предупреждение, если методы классов class_names из пространства имён namespace
    (или функции, которые они вызывают) обращаются к запрещённым библиотекам. При проверке таких библиотек нет, и
    этот код просто не заработает."""
    problems, seen = [], set()
    for class_name in class_names:
        cls = namespace.get(class_name)
        if not isinstance(cls, type):
            continue  # класса нет: его собственные тесты скажут об этом
        for owner, name, func in _functions_of(cls):
            _scan_function(func, f'{owner}.{name}', seen, problems)
    if problems:
        print(
            'Внимание: реализация должна использовать только NumPy, а найдено:\n  '
            + '\n  '.join(problems)
            + '\nПри проверке этих библиотек нет: такой код там не заработает.'
        )
    return problems


# ------------------------------------------------------------------------------------------ сравнение чисел
def _show(array):
    return np.array2string(np.asarray(array), precision=5, threshold=60, edgeitems=3, suppress_small=True)


AXES = {
    1: ('элемент',),
    2: ('пример', 'признак'),
    3: ('пример', 'выход', 'вход'),
    4: ('пример', 'канал', 'строка', 'столбец'),
}


def _where(index, shape, param=None):
    """Позиция index словами: оси по числу измерений; param=(имя, форма): последняя ось якобиана нумерует
    элементы параметра, вытянутого по строкам (столбец i * n + j — это W[i, j])."""
    names = AXES.get(len(shape), ())
    if param is not None and names:
        names = names[:-1] + ('столбец',)
    text = (
        ', '.join(f'{n} {i}' for n, i in zip(names, index))
        if len(names) == len(index)
        else ', '.join(str(int(i)) for i in index)
    )
    if param is not None:
        name, pshape = param
        text += f" = {name}[{', '.join(str(int(i)) for i in np.unravel_index(index[-1], pshape))}]"
    return f'({text})'


def _shape_hint(expected, actual):
    e, a = expected.shape, actual.shape
    if len(e) >= 2 and a == e[:-2] + (e[-1], e[-2]):
        return ': похоже, две последние оси переставлены (транспонирование?)'
    if a == e[1:]:
        return ': нет первой оси (оси батча)'
    if tuple(n for n in a if n != 1) == tuple(n for n in e if n != 1):
        return ': лишняя или потерянная ось длины 1 (keepdims, reshape?)'
    if actual.size == expected.size:
        return ': числа те же по количеству, но форма другая (проверьте reshape и порядок осей)'
    return ''


def _value_hint(expected, actual, close, param=None):
    """Узнаваемая ошибка раскладки, знака, множителя или сдвига, если она объясняет всё расхождение."""
    if expected.ndim >= 2 and expected.shape[-1] == expected.shape[-2] and close(np.swapaxes(expected, -1, -2)):
        return 'это ожидаемый массив с переставленными двумя последними осями (транспонирование?)'
    if param is not None and len(param[1]) >= 2 and expected.shape[-1] == int(np.prod(param[1])):
        order = np.arange(expected.shape[-1]).reshape(param[1]).ravel(order='F')
        if close(expected[..., order]):
            return (
                f'{param[0]} вытянут по столбцам, а нужно по строкам (как reshape(-1)): столбец i * {param[1][-1]} + j '
                f'— это {param[0]}[i, j]'
            )
    if close(-expected):
        return 'знак противоположный'
    nonzero = np.abs(expected) > 1e-8
    if nonzero.sum() > 1:
        ratio = actual[nonzero] / expected[nonzero]
        if np.ptp(ratio) <= 1e-6 * max(1.0, np.abs(ratio).max()) and close(expected * ratio[0]):
            return f'всё отличается в {ratio[0]:.6g} раза (лишний или потерянный множитель, например размер батча?)'
    if expected.ndim == 4 and min(expected.shape[2:]) > 2:
        inner = (Ellipsis, slice(1, -1), slice(1, -1))
        for rows, cols, word in (
            (1, 0, 'вниз'),
            (-1, 0, 'вверх'),
            (0, 1, 'вправо'),
            (0, -1, 'влево'),
            (1, 1, 'вниз и вправо'),
            (-1, -1, 'вверх и влево'),
        ):
            if np.allclose(actual[inner], np.roll(expected, (rows, cols), axis=(2, 3))[inner], atol=1e-4, rtol=1e-4):
                return (
                    f'картинка сдвинута на пиксель {word} (у padding=\'same\' лишний пиксель дополнения идёт '
                    'снизу/справа)'
                )
    return ''


def _not_finite(what, actual, actual_name, param=None):
    nan, inf = np.isnan(actual), np.isinf(actual)
    first = np.unravel_index(np.argmax(nan | inf), actual.shape)
    causes = []
    if nan.any():
        causes.append(
            'nan получается из 0 / 0, inf / inf (например, exp большого числа, делённое на такое же), '
            'inf - inf, 0 * inf, логарифма или корня отрицательного числа'
        )
    if inf.any():
        causes.append(
            'inf — из деления на ноль (например, 1 - beta ** t при t = 0: шаги оптимизатора '
            'считаются с t = 1), логарифма нуля (-inf) или переполнения exp большого числа'
        )
    fail(
        f'{what}: в результате {nan.sum()} nan и {inf.sum()} inf из {actual.size} чисел, первое в позиции '
        f"{_where(first, actual.shape, param)}. {'; '.join(causes)}.\n{actual_name}:\n{_show(actual)}"
    )


def check_close(
    what, expected, actual, atol=1e-6, rtol=1e-5, expected_name='Ожидалось', actual_name='Получено', param=None
):
    """Сравнивает массивы; при расхождении печатает обе стороны и падает с сообщением: где и как числа
    различаются. param=(имя, форма): последняя ось — элементы параметра этой формы, вытянутого по строкам."""
    if actual is None:
        fail(f'{what}: получено None (метод ничего не возвращает?)')
    expected = np.asarray(expected, dtype=np.float64)
    try:
        actual = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError) as err:
        fail(f'{what}: результат нельзя превратить в числовой массив ({err})')
    if actual.shape != expected.shape:
        fail(f'{what}: форма результата {actual.shape}, а должна быть {expected.shape}{_shape_hint(expected, actual)}')
    if not np.all(np.isfinite(actual)):
        _not_finite(what, actual, actual_name, param)

    def close(candidate):
        return np.allclose(actual, candidate, rtol, atol)

    diff = np.abs(actual - expected)
    bad = diff > atol + rtol * np.abs(expected)
    if bad.any():
        index = np.unravel_index(np.argmax(diff - rtol * np.abs(expected)), diff.shape)
        first = np.unravel_index(np.argmax(bad), bad.shape)
        hint = _value_hint(expected, actual, close, param)
        print('Something went wrong!')
        print(f'{expected_name}:\n{_show(expected)}')
        print(f'{actual_name}:\n{_show(actual)}')
        largest = (
            ''
            if index == first
            else f', наибольшее — в позиции {_where(index, diff.shape, param)} (ожидалось {expected[index]:.6g}, '
            f'получено {actual[index]:.6g})'
        )
        fail(
            f"{what}: не совпало {bad.sum()} из {bad.size} чисел{': ' + hint if hint else ''}; первое расхождение в "
            f'позиции {_where(first, diff.shape, param)} (ожидалось {expected[first]:.6g}, получено '
            f'{actual[first]:.6g}){largest}'
        )


def check_grad(what, numerical, analytic, atol=1e-5, rtol=1e-4, param=None):
    check_close(
        what,
        numerical,
        analytic,
        atol=atol,
        rtol=rtol,
        expected_name='Numerical grad is',
        actual_name='Your gradient is',
        param=param,
    )


# --------------------------------------------------------------------------------- численные производные
def numerical_jacobian(f, x, eps=1e-5):
    """(batch, out, in): центральные разности f по каждому признаку каждого примера (примеры независимы)."""
    x = np.array(x, dtype=np.float64)
    batch = len(x)
    flat = x.reshape(batch, -1)
    columns = []
    for i in range(flat.shape[1]):
        delta = np.zeros_like(flat)
        delta[:, i] = eps
        plus = np.asarray(f((flat + delta).reshape(x.shape)), dtype=np.float64).reshape(batch, -1)
        minus = np.asarray(f((flat - delta).reshape(x.shape)), dtype=np.float64).reshape(batch, -1)
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=-1)


def numerical_grad(scalar_f, array, eps=1e-5):
    """Градиент скалярной функции scalar_f() по массиву array (массив меняется на месте и восстанавливается)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float(scalar_f())
        flat[i] = old - eps
        minus = float(scalar_f())
        flat[i] = old
        out[i] = (plus - minus) / (2 * eps)
    return grad


def check_layer_gradients(expect, name, layer, x, g):
    """Сверяет с численными производными grad_x (якобиан) и backward по входу; g — dL/d(выход) (формы выхода);
    expect — функция ноутбука (при проверке — проверяющей стороны)."""
    x = np.asarray(x, dtype=np.float64)
    check_grad(
        f'{name}.grad_x, x формы {x.shape}',
        expect('численный якобиан', lambda: numerical_jacobian(layer.forward, x)),
        layer.grad_x(x),
    )
    expected = expect(
        'численный dL/dx',
        lambda: numerical_grad(lambda: float(np.sum(np.asarray(layer.forward(x), dtype=np.float64) * g)), x),
    )
    result = layer.backward(x, g)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f'{name}.backward должен возвращать пару (grad_input, [градиенты параметров])')
    check_grad(f'{name}.backward: dL/dx, x формы {x.shape}', expected, result[0])


def numerical_jacobian_param(layer, x, p, eps=1e-5):
    """(batch, out, p.size): производные выхода слоя по параметру p (p меняется на месте и восстанавливается)."""
    flat = p.reshape(-1)
    columns = []
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = np.asarray(layer.forward(x), dtype=np.float64).reshape(len(x), -1)
        flat[i] = old - eps
        minus = np.asarray(layer.forward(x), dtype=np.float64).reshape(len(x), -1)
        flat[i] = old
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=-1)


# ---------------------------------------------------------------------- тесты из исходного задания (2.x, 3.1)
# Первый аргумент — expect ноутбука (при проверке — проверяющей стороны), у test_grad_* ещё класс DenseLayer.
def numerical_diff_net(net, x, labels):
    eps = 0.00001
    right_answer = []
    for i in range(len(x[0])):
        delta = np.zeros(len(x[0]))
        delta[i] = eps
        diff = (net.calculate_loss(x + delta, labels) - net.calculate_loss(x - delta, labels)) / (2 * eps)
        right_answer.append(diff)
    return np.array(right_answer).T


def test_net(expect, net, x=None, labels=None):
    if x is None:
        x = np.array([[1, 2, 3], [2, 3, 4]])
        labels = np.array([[0.3, 0.2, 0.5], [0.3, 0.2, 0.5]])
    num_grad = expect('numerical grad_x', lambda: numerical_diff_net(net, x, labels))
    grad = net.grad_x(x, labels)
    check_grad(f'{type(net).__name__}.grad_x', num_grad, grad, atol=1e-4, rtol=1e-3)
    print('Test PASSED')


def numerical_diff_layer(layer, x):
    eps = 0.00001
    right_answer = []
    for i in range(len(x[0])):
        delta = np.zeros(len(x[0]))
        delta[i] = eps
        diff = (layer.forward(x + delta) - layer.forward(x - delta)) / (2 * eps)
        right_answer.append(diff.T)
    return np.array(right_answer).T


def test_layer(expect, layer, x=None):
    if x is None:
        x = np.array([[1, 2, 3], [2, -3, 4]])
    num_grad = expect('numerical grad_x', lambda: numerical_diff_layer(layer, x))
    grad = layer.grad_x(x)
    check_grad(f'{type(layer).__name__}.grad_x', num_grad, grad, atol=1e-4, rtol=1e-3)
    print('Test PASSED')


def numerical_grad_b(DenseLayer, input_size, output_size, b, W, x):
    eps = 0.00001
    right_answer = []
    for i in range(len(b)):
        delta = np.zeros(b.shape)
        delta[i] = eps
        dense1 = DenseLayer(input_size, output_size, W_init=W, b_init=b + delta)
        dense2 = DenseLayer(input_size, output_size, W_init=W, b_init=b - delta)
        diff = (dense1.forward(x) - dense2.forward(x)) / (2 * eps)
        right_answer.append(diff.T)
    return np.array(right_answer).T


def test_grad_b(expect, DenseLayer, input_size=3, output_size=4, batch=2):
    W_init = np.random.random((input_size, output_size))
    b_init = np.random.random((output_size,))
    x = np.random.random((batch, input_size))
    dense = DenseLayer(input_size, output_size, W_init, b_init)
    num_grad = expect(
        'numerical grad_b', lambda: numerical_grad_b(DenseLayer, input_size, output_size, b_init, W_init, x)
    )
    grad = dense.grad_b(x)
    check_grad(f'DenseLayer.grad_b ({input_size} -> {output_size}, batch {batch})', num_grad, grad)
    print('Test PASSED')


def numerical_grad_W(DenseLayer, input_size, output_size, b, W, x):
    eps = 0.00001
    right_answer = []
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            delta = np.zeros(W.shape)
            delta[i, j] = eps
            dense1 = DenseLayer(input_size, output_size, W_init=W + delta, b_init=b)
            dense2 = DenseLayer(input_size, output_size, W_init=W - delta, b_init=b)
            diff = (dense1.forward(x) - dense2.forward(x)) / (2 * eps)
            right_answer.append(diff.T)
    return np.array(right_answer).T


def test_grad_W(expect, DenseLayer, input_size=3, output_size=4, batch=2):
    W_init = np.random.random((input_size, output_size))
    b_init = np.random.random((output_size,))
    x = np.random.random((batch, input_size))
    dense = DenseLayer(input_size, output_size, W_init, b_init)
    num_grad = expect(
        'numerical grad_W', lambda: numerical_grad_W(DenseLayer, input_size, output_size, b_init, W_init, x)
    )
    grad = dense.grad_W(x)
    check_grad(
        f'DenseLayer.grad_W ({input_size} -> {output_size}, batch {batch})',
        num_grad,
        grad,
        param=('W', W_init.shape),
    )
    print('Test PASSED')


# ------------------------------------------------------------------------------------------- данные и Keras
def small_mnist(X_train, Y_train, n, size=14):
    """Первые n картинок MNIST (X_train, Y_train ячейки с данными) для быстрых тестов: size x size
    (прореживание), метки one-hot."""
    step = 28 // size
    return X_train[:n, :, ::step, ::step].astype(np.float64), Y_train[:n].astype(np.float64)


def conv_output_shape(c_out, kernel_size, padding, stride, shape):
    """Форма выхода Conv2DLayer: 'same' — ceil(H / stride), 'valid' — (H - kernel_size) // stride + 1."""
    size = [-(-n // stride) if padding == 'same' else (n - kernel_size) // stride + 1 for n in shape[2:]]
    return (shape[0], c_out) + tuple(size)


def conv_tr_output_shape(c_out, kernel_size, padding, stride, shape):
    """Форма выхода Conv2DTrLayer: (H - 1) * stride + kernel_size - 2 * padding; 'valid' — как padding=0, но не
    меньше (H - 1) * stride + stride."""
    if padding == 'valid':
        return (shape[0], c_out) + tuple((n - 1) * stride + max(kernel_size, stride) for n in shape[2:])
    size = [(n - 1) * stride + kernel_size - 2 * padding for n in shape[2:]]
    return (shape[0], c_out) + tuple(size)


def keras_output(layer, x, weights=None):
    """Выход слоя Keras на x (NumPy); weights — список весов для layer.set_weights. Только внутри expect."""
    layer.build(x.shape)
    if weights is not None:
        layer.set_weights(weights)
    return np.asarray(layer(x.astype(np.float32)), dtype=np.float64)


def plot_history(history, title=''):
    """Точность на валидации по эпохам (history — словарь, который возвращает Network.fit)."""
    import textwrap
    import matplotlib.pyplot as plt

    if not isinstance(history, dict) or not history.get('val_accuracy'):
        print('fit не вернул history с val_accuracy: нечего рисовать')
        return
    epochs = range(1, len(history['val_accuracy']) + 1)
    plt.figure(figsize=(5, 3))
    plt.plot(epochs, history['val_accuracy'], 'o-', label='val accuracy')
    if history.get('accuracy'):
        plt.plot(epochs, history['accuracy'], 's--', label='train accuracy')
    plt.xlabel('эпоха')
    plt.ylabel('точность')
    plt.title(textwrap.fill(title, 60), fontsize=9)
    plt.grid(True)
    plt.legend()
    plt.show()


# ------------------------------------------------------------------------------------------------ оптимизаторы
def check_optimizer(make, expected_steps, shapes, steps, rng, what):
    """Оптимизатор make() делает steps шагов apply на случайных параметрах и градиентах; параметры после шагов
    сравниваются с expected_steps(параметры, градиенты) (формулы Keras на NumPy)."""
    params = [rng.normal(size=s) for s in shapes]
    grads_seq = [[rng.normal(size=s) for s in shapes] for _ in range(steps)]
    expected = expected_steps([p.copy() for p in params], grads_seq)
    optimizer = make()
    ours = [p.copy() for p in params]
    for grads in grads_seq:
        optimizer.apply(ours, grads)
    for i, (e, a) in enumerate(zip(expected, ours)):
        check_close(f'{what}: параметр {i} после {steps} шагов', e, a, atol=1e-9, rtol=1e-7)


# Формулы Keras 3 (keras/src/optimizers/*.py) на NumPy: параметры после шагов по последовательности градиентов.
def keras_sgd_steps(params, grads_seq, learning_rate=0.01, momentum=0.0, nesterov=False):
    params, moments = [p.copy() for p in params], [np.zeros_like(p) for p in params]
    for grads in grads_seq:
        for p, g, m in zip(params, grads, moments):
            if momentum == 0:
                p -= learning_rate * g
                continue
            m[...] = m * momentum - learning_rate * g
            p += (m * momentum - learning_rate * g) if nesterov else m
    return params


def keras_rmsprop_steps(params, grads_seq, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    params, vs = [p.copy() for p in params], [np.zeros_like(p) for p in params]
    for grads in grads_seq:
        for p, g, v in zip(params, grads, vs):
            v[...] = rho * v + (1 - rho) * g * g
            p -= learning_rate * g / np.sqrt(v + epsilon)
    return params


def keras_adagrad_steps(params, grads_seq, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    params = [p.copy() for p in params]
    accumulators = [np.full_like(p, initial_accumulator_value) for p in params]
    for grads in grads_seq:
        for p, g, a in zip(params, grads, accumulators):
            a += g * g
            p -= learning_rate * g / np.sqrt(a + epsilon)
    return params


def keras_adam_steps(params, grads_seq, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    params = [p.copy() for p in params]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_seq, start=1):
        alpha = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for p, g, m, v in zip(params, grads, ms, vs):
            m += (g - m) * (1 - beta_1)
            v += (g * g - v) * (1 - beta_2)
            p -= m * alpha / (np.sqrt(v) + epsilon)
    return params


# Бонус «оптимизатор»: засчитывается лучший из реализованных, то есть хватает одного правильного.
OPTIMIZER_CHOICES = ('SGD с моментом', 'SGD с моментом Нестерова', 'RMSprop', 'Adagrad', 'Adam')


def _why_not(err):
    """Причина, по которой оптимизатор не засчитан (при проверке ошибка вашего кода приходит с полем kind)."""
    kind = getattr(err, 'kind', type(err).__name__)
    message = getattr(err, 'message', str(err))
    if kind in ('NotImplementedError', 'NameError'):
        return f'не реализован ({kind})'
    if isinstance(err, TestFailed):
        return f'ошибка: {message}'
    return f'ошибка: ваш код выбросил {kind}: {message}'


def check_each_optimizer(begin_test, check, seconds, only=None):
    """check(name) проверяет оптимизатор name из OPTIMIZER_CHOICES (падает, если он неверен или не реализован).
    Каждый проверяется в своём лимите времени seconds (его ставит begin_test — функция ноутбука, при проверке —
    проверяющей стороны): ошибка или зависание одного не мешает остальным. only — проверять только этих.
    Возвращает список прошедших; если не прошёл ни один, тест не пройден."""
    passed, report = [], []
    for name in OPTIMIZER_CHOICES:
        if only is not None and name not in only:
            continue
        try:
            begin_test('bonus_optimizer', seconds=seconds)
            check(name)
        except Exception as err:  # noqa: BLE001 - каждый оптимизатор проверяется отдельно
            if type(err).__name__ == 'CourseError':
                raise
            report.append(f'{name}: {_why_not(err)}')
        else:
            passed.append(name)
            report.append(f'{name}: верно')
    print('\n'.join(report))
    if not passed:
        fail('ни один оптимизатор из списка не прошёл проверку (достаточно одного):\n' + '\n'.join(report))
    return passed


OPTIMIZER_FORMULAS = {
    'SGD': keras_sgd_steps,
    'RMSprop': keras_rmsprop_steps,
    'Adagrad': keras_adagrad_steps,
    'Adam': keras_adam_steps,
}


def describe_optimizer(class_name, kwargs):
    args = ', '.join(f'{name}={value!r}' for name, value in kwargs.items())
    return f'{class_name}({args})'


def new_optimizer(namespace, class_name, kwargs):
    """Ваш оптимизатор class_name(**kwargs) из пространства имён namespace (ноутбука); NameError, если такого
    класса в ноутбуке нет."""
    cls = namespace.get(class_name)
    if cls is None:
        raise NameError(f'в ноутбуке нет класса {class_name}')
    return cls(**kwargs)


def check_optimizer_steps(namespace, class_name, kwargs, shapes, steps, rng):
    """Шаги вашего class_name(**kwargs) (класс из namespace) на случайных параметрах и градиентах против формул
    Keras."""
    check_optimizer(
        lambda: new_optimizer(namespace, class_name, kwargs),
        lambda p, g: OPTIMIZER_FORMULAS[class_name](p, g, **kwargs),
        shapes,
        steps,
        rng,
        describe_optimizer(class_name, kwargs),
    )
