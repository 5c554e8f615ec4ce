"""The notebook's test helpers at home: the helpers cell (coursekit/cells/test_helpers.py: expect and friends,
the wrappers) with the module it imports (source/numnet/numnet_testing.py: the NumPy-only advice, the messages,
the self-check table)."""

import os

import numpy as np
import pytest

from course_util import helpers_namespace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELPERS = os.path.join(ROOT, "coursekit", "cells", "test_helpers.py")
COURSE_FOLDER = os.path.join(ROOT, "source", "numnet")  # numnet_testing.py, next to the notebook


@pytest.fixture()
def ns():
    """A fresh notebook-like namespace with the helpers defined (as the locked cell does in a student's kernel)."""
    with open(HELPERS, encoding="utf-8") as f:
        return helpers_namespace(f.read(), COURSE_FOLDER)


def define(ns, code):
    exec(compile(code, "student", "exec"), ns)


def test_numpy_only_accepts_numpy_code(ns, capsys):
    define(
        ns,
        "import numpy as np\n"
        "def helper(x):\n    return np.maximum(x, 0)\n"
        "class ReLU:\n    def forward(self, x):\n        return helper(x)\n",
    )
    assert ns["_testing"].check_numpy_only(ns, "ReLU", "Missing") == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "code, culprit",
    [
        (
            "class DenseLayer:\n    def forward(self, x):\n        import keras\n        return keras.ops.relu(x)\n",
            "import keras",
        ),
        (
            "import numpy\nfrom sklearn import preprocessing as pp\n"
            "def scale(x):\n    return pp.scale(x)\n"
            "class DenseLayer:\n    def forward(self, x):\n        return scale(x)\n",
            "pp (из sklearn)",
        ),
        (
            "import types\nfake_torch = types.ModuleType('torch.nn')\n"
            "class Base:\n    def helper(self):\n        return fake_torch\n"
            "class DenseLayer(Base):\n    def forward(self, x):\n        return x\n",
            "fake_torch (из torch)",
        ),
        (
            "class DenseLayer:\n    def forward(self, x):\n        f = lambda v: __import__('numpy') and jaxfn(v)\n"
            "        return f(x)\n",
            "jaxfn (из jax)",
        ),
        (
            "class DenseLayer:\n    def fit(self, x):\n        from sklearn.model_selection import train_test_split\n"
            "        return train_test_split(x)\n",
            "import sklearn.model_selection",
        ),
    ],
)
def test_numpy_only_warns_about_other_libraries(ns, capsys, code, culprit):
    """Advice, not a failure: grading runs the student's code without those libraries anyway."""
    import types

    fake_jax = types.FunctionType((lambda v: v).__code__, {})
    fake_jax.__module__ = "jax.numpy"
    ns["jaxfn"] = fake_jax
    define(ns, code)
    problems = ns["_testing"].check_numpy_only(ns, "DenseLayer")
    assert any(culprit in p for p in problems), problems
    out = capsys.readouterr().out
    assert culprit in out and "только NumPy" in out


def test_begin_test_warns_about_the_task_classes_and_seeds(ns, capsys):
    define(ns, "class Softmax:\n    def forward(self, x):\n        import torch\n        return x\n")
    ns["begin_test"]("part1_forward")
    ns["_testing"].cancel_alarm()
    assert "Softmax.forward: import torch" in capsys.readouterr().out
    first = np.random.random()
    ns["begin_test"]("bonus_optimizer")  # Softmax is not a class of that task
    ns["_testing"].cancel_alarm()
    assert capsys.readouterr().out == ""
    assert np.random.random() == first  # np.random seeded with 0 again


def test_home_versions_of_expect_accuracy_loss(ns):
    assert ns["expect"]("label", lambda: [1, np.ones(2)])[0] == 1

    class Net:
        def evaluate(self, x, y):
            return 0.75

        def calculate_loss(self, x, y):
            return np.array([1.0, 2.0])

    assert ns["accuracy_of"](Net(), None, None) == 0.75
    assert ns["loss_of"](Net(), None, None) == 1.5
    for name in ("isolate_imports", "stderr_to_stdout", "ALLOWED_METHODS", "_CHECKED_MODULES"):
        assert name not in ns


def test_validation_part_is_what_fit_holds_out(ns):
    from numnet_ref import train_test_split

    x = np.arange(60, dtype=float).reshape(30, 2)
    y = np.eye(3)[np.arange(30) % 3]
    for split in (0.25, 0.3, 0.5):
        val_x, val_y = ns["validation_part"](x, y, split)
        _, expected_x, _, expected_y = train_test_split(x, y, test_size=split, random_state=42)
        np.testing.assert_array_equal(val_x, expected_x)
        np.testing.assert_array_equal(val_y, expected_y)


def test_keras_layer_keeps_the_numpy_random_state(ns):
    np.random.seed(5)
    expected = np.random.get_state()[1].copy()
    layer = ns["keras_layer"]("MaxPooling2D", pool_size=2, data_format="channels_first")
    assert type(layer).__name__ == "MaxPooling2D"
    assert (np.random.get_state()[1] == expected).all()
    out = ns["keras_output"](layer, np.arange(16, dtype=float).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_check_close_reports_shape_and_largest_difference(ns, capsys):
    with pytest.raises(AssertionError, match=r"форма результата \(2,\), а должна быть \(3,\)"):
        ns["check_close"]("x", np.zeros(3), np.zeros(2))
    with pytest.raises(
        AssertionError,
        match=r"первое расхождение в позиции \(пример 0, признак 1\) \(ожидалось 0, "
        r"получено 0\.1\), наибольшее — в позиции \(пример 1, признак 0\)",
    ):
        ns["check_grad"]("grad", np.zeros((2, 2)), np.array([[0.0, 0.1], [0.5, 0.0]]))
    out = capsys.readouterr().out
    assert "Numerical grad is" in out and "Your gradient is" in out
    with pytest.raises(AssertionError, match="получено None"):
        ns["check_close"]("forward", np.zeros(2), None)
    ns["check_close"]("ok", np.ones(3), np.ones(3) + 1e-9)


def test_check_close_tells_nan_from_inf_and_where(ns):
    """nan and inf have different causes: the message counts each, names the first position and lists the
    causes of the kinds present (a division by zero is not an overflow)."""
    with pytest.raises(AssertionError) as nan_only:
        ns["check_close"]("Softmax.forward", np.zeros((2, 3)), np.array([[0.1, 0.2, 0.7], [np.nan, np.nan, 0.0]]))
    text = str(nan_only.value)
    assert "2 nan и 0 inf из 6 чисел, первое в позиции (пример 1, признак 0)" in text
    assert "inf / inf" in text and "деления на ноль" not in text
    with pytest.raises(AssertionError) as inf_only:
        ns["check_close"]("Adam: параметр 0", np.zeros(3), np.array([1.0, -np.inf, np.inf]))
    text = str(inf_only.value)
    assert "0 nan и 2 inf из 3 чисел, первое в позиции (элемент 1)" in text
    assert "деления на ноль" in text and "t = 0" in text and "0 / 0" not in text


def test_check_close_names_shape_mistakes(ns):
    check = ns["check_close"]
    with pytest.raises(
        AssertionError,
        match=r"форма результата \(2, 4, 3\), а должна быть \(2, 3, 4\): похоже, две "
        r"последние оси переставлены",
    ):
        check("DenseLayer.grad_x", np.zeros((2, 3, 4)), np.zeros((2, 4, 3)))
    with pytest.raises(AssertionError, match=r"\(3,\), а должна быть \(2, 3\): нет первой оси \(оси батча\)"):
        check("Softmax.forward", np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(AssertionError, match=r"\(2, 12\), а должна быть \(2, 3, 2, 2\): числа те же по количеству"):
        check("MaxPooling.backward", np.zeros((2, 3, 2, 2)), np.zeros((2, 12)))
    with pytest.raises(AssertionError, match=r"\(4, 1\), а должна быть \(4,\): лишняя или потерянная ось длины 1"):
        check("CrossEntropy.forward", np.zeros(4), np.zeros((4, 1)))


def test_check_grad_names_layout_mistakes_of_the_values(ns):
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(2, 3, 3))
    with pytest.raises(AssertionError, match="переставленными двумя последними осями"):
        ns["check_grad"]("ReLU.grad_x", jac, jac.transpose(0, 2, 1))
    # grad_W of a 3 -> 4 Dense layer: column i * 4 + j of the Jacobian is W[i, j]
    x = rng.normal(size=(2, 3))
    expected = np.zeros((2, 4, 12))
    for i in range(3):
        for j in range(4):
            expected[:, j, i * 4 + j] = x[:, i]
    column_major = np.zeros((2, 4, 12))
    for i in range(3):
        for j in range(4):
            column_major[:, j, j * 3 + i] = x[:, i]
    with pytest.raises(AssertionError) as err:
        ns["check_grad"]("DenseLayer.grad_W", expected, column_major, param=("W", (3, 4)))
    text = str(err.value)
    assert "W вытянут по столбцам, а нужно по строкам (как reshape(-1)): столбец i * 4 + j — это W[i, j]" in text
    assert "первое расхождение в позиции (пример 0, выход 0, столбец 1 = W[0, 1])" in text
    with pytest.raises(AssertionError, match="знак противоположный"):
        ns["check_grad"]("CrossEntropy.grad_x", jac, -jac)
    with pytest.raises(AssertionError, match=r"всё отличается в 0\.5 раза \(лишний или потерянный множитель"):
        ns["check_grad"]("Network.grad_x", jac, jac / 2)


def test_check_close_sees_an_image_shifted_by_a_pixel(ns):
    """The odd 'same' padding pixel on the wrong side shifts a stride-1 output by one pixel: said, with the first
    differing position in (batch, channel, row, col) terms."""
    image = np.random.default_rng(1).normal(size=(1, 2, 5, 6))
    shifted = np.roll(image, (1, 1), axis=(2, 3))
    with pytest.raises(AssertionError) as err:
        ns["check_close"]("Conv2DLayer.forward", image, shifted)
    text = str(err.value)
    assert "картинка сдвинута на пиксель вниз и вправо (у padding='same' лишний пиксель дополнения идёт снизу" in text
    assert "первое расхождение в позиции (пример 0, канал 0, строка 0, столбец 0)" in text
    with pytest.raises(AssertionError) as err:
        ns["check_close"]("ReLU.grad_x", np.zeros((1, 2, 2)), np.array([[[1.0, 0.0], [0.0, 0.0]]]))
    assert str(err.value) == (
        "ReLU.grad_x: не совпало 1 из 4 чисел; первое расхождение в позиции (пример 0, выход 0, "
        "вход 0) (ожидалось 0, получено 1)"
    )  # the largest is the first: said once


def test_time_limit_stops_an_infinite_loop(ns):
    import signal
    import time

    if not hasattr(signal, "SIGALRM"):
        pytest.fail("the time limit needs SIGALRM (POSIX)")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="дольше отведённого времени"):
        ns["begin_test"]("bonus_optimizer", seconds=0.5)
        while True:
            pass
    ns["_testing"].cancel_alarm()
    assert time.monotonic() - start < 5


def test_numerical_jacobian_matches_known_derivative(ns):
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    jac = ns["numerical_jacobian"](lambda v: v**2, x)
    expected = np.stack([np.diag(2 * row) for row in x])
    np.testing.assert_allclose(jac, expected, atol=1e-6)


def test_optimizer_bonus_counts_the_best_and_survives_absent_broken_and_hanging_ones(ns, capsys):
    """At home: RMSprop right, Adam wrong, SGD hangs, Adagrad absent -> passes with RMSprop only, each reason shown."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        pytest.fail("the time limit needs SIGALRM (POSIX)")
    import numnet_ref.optimizers as opt

    ns.update(Optimizer=opt.Optimizer, RMSprop=opt.RMSprop)
    define(
        ns,
        "class SGD(Optimizer):\n    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):\n"
        "        super().__init__(learning_rate)\n    def _update(self, params, grads):\n        while True:\n"
        "            pass\n"
        "class Adam(Optimizer):\n    def __init__(self, learning_rate=0.001, **kw):\n"
        "        super().__init__(learning_rate)\n    def _update(self, params, grads):\n"
        "        for p, g in zip(params, grads):\n            p -= self.learning_rate * g\n",
    )

    def check(name):
        rng = np.random.default_rng(0)
        class_name = {"SGD с моментом": "SGD", "SGD с моментом Нестерова": "SGD"}.get(name, name)
        ns["check_optimizer_steps"](class_name, {"learning_rate": 0.1}, [(3,)], 2, rng)

    try:
        assert ns["check_each_optimizer"](check, seconds=0.5) == ["RMSprop"]
    finally:
        ns["_testing"].cancel_alarm()
    out = capsys.readouterr().out
    assert "RMSprop: верно" in out and "Adagrad: не реализован (NameError)" in out
    assert "SGD с моментом: ошибка: ваш код выбросил TimeoutError" in out and "Adam: ошибка: Adam(" in out
    ns.pop("RMSprop")
    with pytest.raises(ns["TestFailed"], match="ни один оптимизатор"):
        try:
            ns["check_each_optimizer"](check, seconds=0.5, only=["RMSprop", "Adam"])
        finally:
            ns["_testing"].cancel_alarm()


def _notebook_with_tests(path, cells):
    """A notebook file like the course's: test cells (nbgrader grade=True) with the titles in metadata.gradebot."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["gradebot"] = {
        "tasks": {"part1_forward": "1. Прямой проход"},
        "tests": {gid: f'Тест «{gid.split("__")[1]}»' for gid, _, _ in cells},
    }
    nb.cells.append(nbformat.v4.new_code_cell("class Double:\n    def forward(self, x):\n        return 2 * x"))
    nb.cells[-1].metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "double", "locked": False}
    for gid, points, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {
            "grade": True,
            "solution": False,
            "grade_id": gid,
            "locked": True,
            "points": points,
        }
        nb.cells.append(cell)
    nbformat.write(nb, str(path))


SELF_CHECK_CELLS = [
    (
        "part1_forward__double",
        1,
        "begin_test('part1_forward', seconds=5)\n"
        "check_close('Double.forward', [2., 4.], Double().forward(np.array([1., 2.])))\n"
        "### BEGIN HIDDEN TESTS\nfail('a hidden part must not run at home')\n"
        "### END HIDDEN TESTS",
    ),
    ("part1_forward__triple", 0.5, "check_close('Triple.forward', [3., 6.], Triple().forward(np.array([1., 2.])))"),
    ("part1_forward__zero", 2, "check_close('Double.forward(0)', [0.], Double().forward(np.zeros(1)))"),
    ("part1_forward__missing", 1, "Missing().forward(1)"),
]


def test_self_check_runs_every_visible_test_and_tabulates(ns, tmp_path, monkeypatch, capsys):
    """One planted bug (Triple is off by one), one missing class: their rows fail with the reason, the others pass,
    the run does not stop at the first failure, hidden parts are not run, and the total counts passed points."""
    path = tmp_path / "numnet.ipynb"
    _notebook_with_tests(path, SELF_CHECK_CELLS)
    define(
        ns,
        "import numpy as np\nclass Double:\n    def forward(self, x):\n        return 2 * x\n"
        "class Triple:\n    def forward(self, x):\n        return 3 * x + 1\n",
    )
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)  # found as the one notebook with test cells in the folder
    ns["self_check"]()
    out = capsys.readouterr().out
    rows = ns["_testing"].run_visible_tests(str(path), ns)
    assert [(gid, ok) for _, _, gid, _, ok, _ in rows] == [
        ("part1_forward__double", True),
        ("part1_forward__triple", False),
        ("part1_forward__zero", True),
        ("part1_forward__missing", False),
    ]
    assert "Triple.forward: не совпало 2 из 2 чисел" in rows[1][5]
    assert rows[3][5] == "NameError: name 'Missing' is not defined"
    assert rows[0][:2] == ("1. Прямой проход", "Тест «double»")
    assert "\n1. Прямой проход: 3 из 4.5\n" in out
    assert "  ✗ 0.5   Тест «triple» (part1_forward__triple)\n          не пройден: Triple.forward: не совпало" in out
    assert "  ✓ 2     Тест «zero» (part1_forward__zero)\n" in out
    assert "\nИтого: 3 из 4.5" in out
    assert "Test" not in out.split("Самопроверка")[0]  # the tests' own output is not shown


def test_self_check_finds_the_notebook_or_asks_for_it(ns, tmp_path, monkeypatch, capsys):
    path = tmp_path / "work" / "mine.ipynb"
    path.parent.mkdir()
    _notebook_with_tests(path, SELF_CHECK_CELLS[:1])
    define(ns, "class Double:\n    def forward(self, x):\n        return 2 * x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ns["self_check"]()
    assert (
        "Не удалось найти файл ноутбука: сохраните его и вызовите self_check('путь/к/numnet.ipynb')"
        in capsys.readouterr().out
    )
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # what jupyter_server sets for the kernel
    ns["self_check"]()
    assert "  ✓ 1     Тест «double» (part1_forward__double)\n\nИтого: 1 из 1" in capsys.readouterr().out
    monkeypatch.delenv("JPY_SESSION_NAME")
    ns["self_check"](str(path))
    assert "Итого: 1 из 1" in capsys.readouterr().out
    ns["GRADING"] = True
    ns["self_check"]()
    assert capsys.readouterr().out == "Режим проверки: самопроверка пропущена (тесты проверяет бот)\n"
