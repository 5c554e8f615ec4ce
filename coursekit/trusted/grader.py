"""The trusted grader: runs each test cell of the course against the student's classes, outside the student's
process, and decides pass or fail.

One test definition, three transports. A test cell's source (visible part + hidden blocks, from the course's
source notebook) runs

- at HOME, in the student's notebook (all names are the student's own classes);
- in RECORD (:func:`record`, course build time): all classes are numnet_ref's, Keras is importable, and every
  ``expect(label, compute)`` value is computed and stored (:class:`ExpectedStore`);
- in GRADE (:func:`grade_tests`): the classes a cell checks (``SUBJECTS``) are proxies into the sandbox (see
  client.py), every other class is numnet_ref's known-good one (a "collaborator", seen in the sandbox as a stub
  when passed to the student's code), ``expect`` replays the stored value without computing anything, and
  ``accuracy_of``/``loss_of`` evaluate trained networks here from their layers. Keras is never imported.

The helpers cell (grade_id ``test_helpers``) defines those four functions and thin wrappers that pass them (and
the notebook's classes, looked up by name at call time) to the pure helpers of ``numnet_testing.py``, the module
shipped next to the notebook. Here both come from the course: the cell's text from the course notebook and the
module's source from the course notebook's folder, executed as a fresh module object per test namespace; the
namespace's ``__import__`` answers ``import numnet_testing`` with that object, so neither ``sys.path`` nor
``sys.modules`` (nor a file a student put anywhere) is ever consulted for it.

A test earns its points only if this module recorded a pass: :class:`TestResult` ``passed`` is False unless the
whole cell ran to its end here.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import io
import json
import os
import time
import types
from dataclasses import dataclass, field

import numpy as np

from gradebot.core.course_format import split_hidden

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from concurrent.futures import Future
    from typing import Any

    from nbformat import NotebookNode

    from coursekit.trusted.client import Session

HELPERS_ID = 'test_helpers'
HELPERS_MODULE = 'numnet_testing'  # imported by the helpers cell; a file next to the course notebook
STUDENT_OUTPUT_SHOWN = 1500  # characters of student output shown per test part


# ---------------------------------------------------------------------------------------------- the course
@dataclass
class TestCell:
    grade_id: str
    points: float
    visible: str
    hidden: list = field(default_factory=list)


def is_test_cell(cell: Mapping[str, Any]) -> bool:
    meta = cell.get('metadata', {}).get('nbgrader', {})
    return cell.get('cell_type') == 'code' and bool(meta.get('grade')) and not meta.get('solution')


@dataclass
class Course:
    """What the grader needs from the course: the tests, the helpers cell and the data cell of the source notebook,
    and the source of the helpers module next to it (``module_path``, the course's own copy)."""

    tests: list
    helpers: str
    data: str
    module: str  # the source of numnet_testing.py
    module_path: str

    @classmethod
    def from_notebook(cls, nb: NotebookNode, folder: str) -> Course:
        """The course of the source notebook ``nb`` whose folder (with numnet_testing.py) is ``folder``."""
        tests, helpers, data = [], None, ''
        for cell in nb.cells:
            meta = cell.get('metadata', {}).get('nbgrader', {})
            if is_test_cell(cell):
                visible, hidden = split_hidden(cell.source)
                tests.append(TestCell(meta['grade_id'], float(meta.get('points', 0)), visible, hidden))
            elif meta.get('grade_id') == HELPERS_ID:
                helpers = cell.source
            elif cell.cell_type == 'code' and meta.get('locked') and 'load_data(' in cell.source and not data:
                data = cell.source
        if helpers is None:
            raise ValueError(f'the course notebook has no test-helpers cell (grade_id {HELPERS_ID!r})')
        module_path = os.path.join(os.path.abspath(folder), HELPERS_MODULE + '.py')
        if not os.path.isfile(module_path):
            raise ValueError(
                f'{module_path} not found: the helpers cell imports it, ship it next to the course notebook'
            )
        with open(module_path, encoding='utf-8') as f:
            module = f.read()
        return cls(tests, helpers, data, module, module_path)


# ---------------------------------------------------------------------------------------------- expectations
class CourseError(Exception):
    """The course itself is inconsistent (e.g. expected values recorded for another version of the tests)."""


def _to_json(value, arrays):
    if isinstance(value, (np.ndarray, np.generic)):
        arrays.append(np.asarray(value))
        return {'A': len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        items = [_to_json(v, arrays) for v in value]
        return items if isinstance(value, list) else {'T': items}
    if isinstance(value, dict):
        return {'D': [[str(k), _to_json(v, arrays)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CourseError(f'expect() value of type {type(value).__name__} cannot be recorded')


def _from_json(value, arrays):
    if isinstance(value, list):
        return [_from_json(v, arrays) for v in value]
    if isinstance(value, dict):
        if 'A' in value:
            return arrays[f"a{value['A']}"].copy()
        if 'T' in value:
            return tuple(_from_json(v, arrays) for v in value['T'])
        if 'D' in value:
            return {k: _from_json(v, arrays) for k, v in value['D']}
    return value


class ExpectedStore(object):
    """Recorded ``expect`` values: {grade_id: [(label, value), ...]} in one .npz (no pickles)."""

    def __init__(self, entries: dict[str, list[tuple[str, Any]]] | None = None) -> None:
        self.entries = entries or {}

    def add(self, grade_id: str, label: str, value: Any) -> None:
        self.entries.setdefault(grade_id, []).append((label, value))

    def get(self, grade_id: str, index: int, label: str) -> Any:
        items = self.entries.get(grade_id, [])
        if index >= len(items) or items[index][0] != label:
            raise CourseError(
                f'no recorded value #{index} {label!r} for {grade_id}: rebuild the course (python -m coursekit.record)'
            )
        return copy.deepcopy(items[index][1])  # a value the test passes to student code stays ours

    def save(self, path: str | os.PathLike) -> None:
        arrays = []
        index = {
            gid: [[label, _to_json(value, arrays)] for label, value in items]
            for gid, items in sorted(self.entries.items())
        }
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        payload = {f'a{i}': a for i, a in enumerate(arrays)}
        payload['index'] = np.frombuffer(json.dumps(index, sort_keys=True).encode(), dtype=np.uint8)
        with open(path, 'wb') as f:
            np.savez_compressed(f, **payload)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExpectedStore:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        index = json.loads(arrays.pop('index').tobytes().decode())
        entries = {gid: [(label, _from_json(value, arrays)) for label, value in items] for gid, items in index.items()}
        return cls(entries)

    def same_as(self, other: ExpectedStore) -> bool:
        """True if both stores hold the same labels and the same values (to float32 rounding: Keras runs in float32)."""
        if sorted(self.entries) != sorted(other.entries):
            return False
        for gid, items in self.entries.items():
            theirs = other.entries[gid]
            if len(items) != len(theirs):
                return False
            for (la, va), (lb, vb) in zip(items, theirs):
                if la != lb or not _same(va, vb):
                    return False
        return True


def _same(a, b):
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return np.allclose(
            np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-6, atol=1e-7, equal_nan=True
        ) and np.shape(a) == np.shape(b)
    except (TypeError, ValueError):
        return a == b


# ---------------------------------------------------------------------------------------------- namespaces
def reference_classes() -> dict[str, Callable[..., Any]]:
    import numnet_ref
    from numnet_ref import layer, optimizers

    names = dict((n, getattr(numnet_ref, n)) for n in numnet_ref.__all__)
    names.update(
        Optimizer=optimizers.Optimizer,
        jacobian_from_backward=layer.jacobian_from_backward,
        param_jacobians_from_backward=layer.param_jacobians_from_backward,
    )
    return names


def collaborator_types() -> tuple[type, ...]:
    from numnet_ref import CrossEntropy, Layer, Network
    from numnet_ref.optimizers import Optimizer

    return (Layer, CrossEntropy, Network, Optimizer)


def _rng_neutral(cls):
    """numnet_ref's class whose constructor leaves the global NumPy RNG as it found it: in GRADE the student's
    objects are created in the sandbox, so in RECORD creating them must not move the grader's RNG either."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        state = np.random.get_state()
        try:
            cls.__init__(self, *args, **kwargs)
        finally:
            np.random.set_state(state)

    return type(
        cls.__name__, (cls,), {'__init__': __init__, '__module__': cls.__module__, '__qualname__': cls.__qualname__}
    )


class _Data(object):
    """MNIST as the notebook's data cell prepares it (loaded once per process, on first use)."""

    cache = {}

    @classmethod
    def names(cls, data_source: str, loader_dir: str | None) -> dict[str, np.ndarray]:
        key = (data_source, loader_dir)
        if key not in cls.cache:
            import sys

            ns = {'__name__': '__data__'}
            if loader_dir and loader_dir not in sys.path:
                sys.path.insert(0, loader_dir)
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(data_source, '<data>', 'exec'), ns)
            arrays = {k: ns[k] for k in ('X_train', 'Y_train', 'X_test', 'Y_test', 'y_train', 'y_test') if k in ns}
            for array in arrays.values():
                array.setflags(write=False)  # shared by every test of the process: never written back into
            cls.cache[key] = arrays
        return cls.cache[key]


def _trusted_network(net, ref):
    """A known-good Network over the layers of ``net`` (a student's Network in the sandbox, or one of ours)."""
    if isinstance(net, ref['Network']):
        return net
    layers = net.layers
    if not isinstance(layers, list) or not layers:
        raise ValueError('Network.layers должен быть непустым списком слоёв')
    if not all(isinstance(layer, ref['Layer']) for layer in layers):
        raise ValueError('Network.layers должен содержать слои, переданные сети в тесте')
    return ref['Network'](layers, loss=ref['CrossEntropy']())


def helpers_module(course: Course) -> types.ModuleType:
    """A fresh module object of the course's numnet_testing.py (never registered in ``sys.modules``)."""
    module = types.ModuleType(HELPERS_MODULE)
    module.__file__ = course.module_path
    with contextlib.redirect_stdout(io.StringIO()):
        exec(course.module_code, module.__dict__)
    return module


def course_builtins(module: types.ModuleType) -> dict[str, Any]:
    """The builtins of a test namespace: ``import numnet_testing`` (the helpers cell's, or a test's) gets ``module``;
    every other import is Python's own."""
    real_import = builtins.__import__

    def __import__(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name == HELPERS_MODULE:
            return module
        return real_import(name, globals, locals, fromlist, level)

    return dict(vars(builtins), __import__=__import__)


def build_namespace(
    course: Course,
    grade_id: str,
    mode: str,
    subjects: Collection[str],
    store: ExpectedStore | None = None,
    session: Session | None = None,
    data: Mapping[str, np.ndarray] | Future[dict[str, np.ndarray]] | None = None,
    on_expect: Callable[[str, str, Any], object] | None = None,
) -> dict[str, Any]:
    """The globals a test cell runs in. mode: 'record' or 'grade'."""
    from coursekit.trusted.client import RemoteClass

    ref = reference_classes()
    ns = {'__name__': '__test__', '__builtins__': course_builtins(helpers_module(course))}
    if hasattr(data, 'result'):  # a future: the data is still loading
        data = data.result()
    if data:
        ns.update(data)
    for name, obj in ref.items():
        if name in subjects:
            ns[name] = RemoteClass(session, name) if mode == 'grade' else _rng_neutral(obj)
        else:
            ns[name] = obj
    with contextlib.redirect_stdout(io.StringIO()):
        exec(course.helpers_code, ns)
    counter = [0]

    def expect(label: str, compute: Callable[[], Any]) -> Any:
        index = counter[0]
        counter[0] += 1
        if mode == 'grade':
            return store.get(grade_id, index, label)
        value = compute()
        if on_expect is not None:
            on_expect(grade_id, label, value)
        return value

    def begin_test(task: str, seconds: float = 30, seed: int = 0) -> np.random.Generator:
        np.random.seed(seed)
        if mode == 'grade':
            session.deadline = time.monotonic() + seconds
            session.request({'op': 'seed', 'seed': seed})
        return np.random.default_rng(seed)

    def accuracy_of(net: Any, x: np.ndarray, y: np.ndarray) -> float:
        if mode != 'grade':
            return float(net.evaluate(x, y))
        return float(_trusted_network(net, ref).evaluate(x, y))

    def loss_of(net: Any, x: np.ndarray, y: np.ndarray) -> float:
        if mode != 'grade':
            return float(np.mean(net.calculate_loss(x, y)))
        trusted = _trusted_network(net, ref)
        return float(np.mean(ref['CrossEntropy']().forward(trusted.predict(x, None), y)))

    ns.update(expect=expect, begin_test=begin_test, accuracy_of=accuracy_of, loss_of=loss_of, GRADING=True)
    return ns


# ---------------------------------------------------------------------------------------------- running tests
@dataclass
class TestResult:
    grade_id: str
    points: float
    passed: bool = False
    message: str = ''
    hidden: bool = False  # the failure happened in a hidden test
    kind: str = 'fail'  # 'pass', 'fail', 'error' (student code raised), 'timeout', 'died', 'course'
    output: str = ''  # what the visible part printed (test code), for the cell output
    student_output: list = field(default_factory=list)  # [(label, text)]
    trace: str = ''  # the student's frames when student code raised
    seconds: float = 0.0
    callbacks: int = 0  # calls of the student's code into the grader's known-good objects (stubs)
    forged_by: str | None = None  # a forged frame broke the test: the label of the test or cell that made it

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0


def _compile_course(course):
    course.module_code = compile(course.module, course.module_path, 'exec')
    course.helpers_code = compile(course.helpers, '<test_helpers>', 'exec')
    for test in course.tests:
        test.visible_code = compile(test.visible, f'<{test.grade_id}>', 'exec')
        test.hidden_code = [compile(block, f'<{test.grade_id} hidden>', 'exec') for block in test.hidden]


def _student_output(session, label):
    out = []
    total = sum(n for _, n in session.output)
    if total:
        text = ''.join(t for t, _ in session.output)
        shown = text[:STUDENT_OUTPUT_SHOWN]
        more = '' if total <= len(shown) else f'\n[... ещё {total - len(shown)} символов не показано]'
        out.append((label, shown + more))
    session.output = []
    return out


def run_test(test: TestCell, ns: dict[str, Any], session: Session | None = None) -> TestResult:
    """Run one test cell in ``ns``; never raises for anything the student's code did."""
    from coursekit.trusted.client import ChannelForged, SandboxGone, StudentError

    result = TestResult(test.grade_id, test.points)
    failed = ns['TestFailed']
    start = time.monotonic()
    callbacks = session.callbacks if session is not None else 0
    part = 'visible'
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(test.visible_code, ns)
        if session is not None:
            result.student_output += _student_output(session, 'Вывод вашего кода во время теста')
        part = 'hidden'
        with contextlib.redirect_stdout(io.StringIO()):
            for code in test.hidden_code:
                exec(code, ns)
        if session is not None:
            session.settle()  # a second answer to one of this test's requests fails this test (ChannelForged)
        result.passed, result.kind = True, 'pass'
    except failed as err:
        result.message = str(err)
    except StudentError as err:
        result.kind, result.trace = 'error', err.trace
        result.message = f'ваш код выбросил исключение {err.kind}: {err.message}'
        if err.kind == 'TimeoutError' and err.message.startswith('превышено время'):  # the runner's alarm
            result.kind, result.message = 'timeout', err.message
    except ChannelForged as err:
        result.kind, result.message, result.forged_by = 'died', ChannelForged.MESSAGE, err.source
    except SandboxGone as err:
        result.kind = 'timeout' if 'timeout' in str(err) else 'died'
        result.message = (
            'превышено время теста: код не ответил, процесс остановлен'
            if result.kind == 'timeout'
            else f"процесс с вашим кодом завершился во время теста ({str(err).replace('died ', '')}): нехватка памяти, "
            'os._exit или сбой'
        )
    except CourseError as err:
        result.kind, result.message = 'course', f'ошибка курса, а не ваша: {err}'
    except Exception as err:  # noqa: BLE001 - a student's result the test code could not use
        result.message = f'{type(err).__name__}: {str(err)[:500]}'
    finally:
        result.seconds = time.monotonic() - start
        if session is not None:
            result.callbacks = session.callbacks - callbacks
    result.hidden = not result.passed and part == 'hidden'
    result.output = buf.getvalue()[-6000:]
    if session is not None:
        label = 'Вывод вашего кода во время скрытых тестов' if part == 'hidden' else 'Вывод вашего кода во время теста'
        result.student_output += _student_output(session, label)
    return result


def record(
    course: Course, data: Mapping[str, np.ndarray] | None, subjects_of: Callable[[str], Collection[str]]
) -> tuple[ExpectedStore, list[TestResult]]:
    """RECORD: run every test cell against numnet_ref (Keras allowed); returns (ExpectedStore, [TestResult])."""
    _compile_course(course)
    store = ExpectedStore()
    results = []
    for test in course.tests:
        ns = build_namespace(
            course, test.grade_id, 'record', subjects_of(test.grade_id), data=data, on_expect=store.add
        )
        results.append(run_test(test, ns))
    return store, results


def grade_tests(
    course: Course,
    session_factory: Callable[[], Session],
    store: ExpectedStore,
    data: Mapping[str, np.ndarray] | Future[dict[str, np.ndarray]] | None,
    subjects_of: Callable[[str], Collection[str]],
    max_restarts: int = 6,
    on_result: Callable[[TestResult], object] | None = None,
    blame: Callable[[str], object] | None = None,
) -> list[TestResult]:
    """GRADE: every test cell against the student's classes in the sandbox. ``session_factory()`` returns a
    started :class:`~coursekit.trusted.client.Session` whose runner has executed the notebook.

    A forged frame made during another test or a notebook cell (a thread of the student's code may write it at
    any time) is not the fault of the test it breaks: ``blame(label)`` is told who made it (NotebookRun skips such
    a cell on restarts) and the test runs once more in a fresh process."""
    from coursekit.trusted.client import ChannelForged, SandboxGone

    _compile_course(course)
    results, state = [], {'session': None, 'restarts': 0}

    def ready(test):
        """(test namespace, None) in a live session reset for ``test``, or (None, why the test is not graded)."""
        failure = None
        for _ in range(2):  # a process that went bad between tests gets one fresh start
            session = state['session']
            if session is None or not session.alive():
                if state['restarts'] > max_restarts:
                    return None, 'не проверено: процесс с вашим кодом слишком часто падал'
                state['restarts'] += 1
                try:
                    session = state['session'] = session_factory()
                except SandboxGone as err:
                    state['session'] = None
                    return None, f'не проверено: процесс с вашим кодом не запустился ({err})'
            try:
                session.label = None
                session.deadline = time.monotonic() + 10  # for the reset; begin_test sets the test's own budget
                session.reset()
                session.label = test.grade_id
                return build_namespace(
                    course, test.grade_id, 'grade', subjects_of(test.grade_id), store=store, session=session, data=data
                ), None
            except SandboxGone as err:
                session.close()
                failure = f'не проверено: процесс с вашим кодом не отвечает ({err})'
                if isinstance(err, ChannelForged) and err.source is not None and blame is not None:
                    blame(err.source)
        return None, failure

    for test in course.tests:
        for attempt in range(2):
            ns, failure = ready(test)
            if failure is not None:
                result = TestResult(test.grade_id, test.points, kind='died', message=failure)
                break
            result = run_test(test, ns, state['session'])
            if attempt or result.forged_by in (None, test.grade_id):
                break
            if blame is not None:
                blame(result.forged_by)
        results.append(result)
        if on_result is not None:
            on_result(result)
    if state['session'] is not None:
        state['session'].close()
    return results
