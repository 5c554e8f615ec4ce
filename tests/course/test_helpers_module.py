"""The helpers module next to the notebook (source/numnet/numnet_testing.py, imported by the helpers cell) in the
trusted grader: always the course's copy, loaded from the course folder, fresh for every test namespace; whatever a
student ships, puts on sys.path or into sys.modules, or patches in their own process changes no verdict.

The sandbox side (a student's cell replacing or monkeypatching the module in their own process) is graded end to
end by the hostile corpus (coursekit/hostile.py: helpers_module_replaced, helpers_module_monkeypatched).
"""

import os
import sys
import types

import nbformat
import pytest

from coursekit import SOURCE_NOTEBOOK, subjects_of
from coursekit.trusted import grader

COURSE_FOLDER = os.path.dirname(SOURCE_NOTEBOOK)

# A pass-everything numnet_testing; importing it leaves a marker file, so an import of it cannot go unnoticed.
FAKE_MODULE = '''
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'FAKE_WAS_IMPORTED'), 'w').close()
GRADING = True
TASK_CLASSES = OPTIMIZER_FORMULAS = {}
OPTIMIZER_CHOICES = ()


class TestFailed(Exception):
    pass


def _passes(*args, **kwargs):
    print('Test PASSED')


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    return _passes
'''


class _NoBiasDense(object):
    """A student's DenseLayer that forgets the bias (what the grader's proxy would return, computed locally)."""

    def __init__(self, input_dim, output_dim, W_init=None, b_init=None):
        self.W, self.b = W_init, b_init

    def forward(self, x):
        return x @ self.W


@pytest.fixture()
def course():
    course = grader.Course.from_notebook(nbformat.read(SOURCE_NOTEBOOK, as_version=4), COURSE_FOLDER)
    grader._compile_course(course)
    return course


@pytest.fixture()
def hostile_process(tmp_path, monkeypatch):
    """The grader's process as a student would like it: a fake numnet_testing.py in the working directory and
    first on sys.path, and another fake already in sys.modules."""
    (tmp_path / "numnet_testing.py").write_text(FAKE_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = types.ModuleType("numnet_testing")
    fake.check_close = fake.check_grad = fake.fail = lambda *args, **kwargs: None
    monkeypatch.setitem(sys.modules, "numnet_testing", fake)
    return tmp_path, fake


def _dense_test(course):
    return next(t for t in course.tests if t.grade_id == "part1_forward__dense")


def test_grader_takes_the_course_copy_never_sys_path_or_sys_modules(course, hostile_process):
    folder, fake = hostile_process
    ns = grader.build_namespace(course, "part1_forward__dense", "record", subjects_of("part1_forward__dense"))
    module = ns["_testing"]
    assert module is not fake and module.__file__ == os.path.join(COURSE_FOLDER, "numnet_testing.py")
    assert ns["check_close"].__code__.co_filename == module.__file__
    assert ns["check_close"].__module__ == "numnet_testing" and ns["TestFailed"] is module.TestFailed
    with pytest.raises(ns["TestFailed"], match="не совпало 1 из 2 чисел"):
        ns["check_close"]("x", [1.0, 2.0], [1.0, 3.0])
    # the helpers cell's own functions are the grader's replacements; the wrappers reach them through ns
    assert ns["expect"].__module__ == grader.__name__ and ns["begin_test"].__module__ == grader.__name__
    assert ns["test_layer"].__globals__ is ns
    assert not (folder / "FAKE_WAS_IMPORTED").exists()
    assert sys.modules["numnet_testing"] is fake  # the grader neither used nor replaced it


def test_a_wrong_result_fails_with_fakes_around(course, hostile_process):
    """The verdict itself: the Dense forward test, run in the grader with a class that forgets the bias, fails with
    the course's message although a pass-everything module sits in the cwd, on sys.path and in sys.modules."""
    folder, _ = hostile_process
    ns = grader.build_namespace(course, "part1_forward__dense", "record", subjects_of("part1_forward__dense"))
    ns["DenseLayer"] = _NoBiasDense
    result = grader.run_test(_dense_test(course), ns)
    assert not result.passed and result.message.startswith("DenseLayer.forward: не совпало"), result.message
    ns = grader.build_namespace(course, "part1_forward__dense", "record", subjects_of("part1_forward__dense"))
    assert grader.run_test(_dense_test(course), ns).passed  # numnet_ref's DenseLayer passes
    assert not (folder / "FAKE_WAS_IMPORTED").exists()


def test_every_test_namespace_gets_a_fresh_module(course):
    """A test (or anything else in the grader) that changed the module would not reach the next test."""
    first = grader.build_namespace(course, "part1_forward__dense", "record", subjects_of("part1_forward__dense"))
    first["_testing"].check_close = lambda *args, **kwargs: None
    first["_testing"].TASK_CLASSES.clear()
    second = grader.build_namespace(course, "part1_forward__relu", "record", subjects_of("part1_forward__relu"))
    assert second["_testing"] is not first["_testing"]
    assert second["_testing"].TASK_CLASSES and second["check_close"].__code__.co_filename.endswith("numnet_testing.py")
    with pytest.raises(second["TestFailed"]):
        second["_testing"].check_close("x", [1.0], [2.0])


def test_course_without_its_helpers_module_is_refused(tmp_path):
    nb = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    with pytest.raises(ValueError, match="numnet_testing.py not found: the helpers cell imports it"):
        grader.Course.from_notebook(nb, str(tmp_path))


def test_shipped_module_and_loader_next_to_the_submission_change_nothing(mnist_dir, tmp_path):
    """nbgrader autograde with a pass-everything numnet_testing.py and a fake mnist_loader.py in the student's
    submission folder: the Softmax bug still costs exactly its cells (the course's copies are used)."""
    from coursekit.examples import Example, build_submission
    from coursekit.hostile import SOFTMAX_BROKEN, SOFTMAX_BUG

    nb = build_submission(Example("softmax_bug", "", (SOFTMAX_BUG,), SOFTMAX_BROKEN))
    fake_loader = "print('Test PASSED')\n\ndef load_data(*args, **kwargs):\n    raise SystemExit(0)\n"
    scores = _nbgrader_autograde(
        nb, {"numnet_testing.py": FAKE_MODULE, "mnist_loader.py": fake_loader}, tmp_path / "course"
    )
    assert scores == pytest.approx(SOFTMAX_BROKEN)
    assert not list((tmp_path / "course").rglob("FAKE_WAS_IMPORTED"))


def _nbgrader_autograde(nb, files, course_dir):
    """``nbgrader autograde`` in a copy of the course, as an instructor runs it on nbgrader's ``submitted/`` folder,
    where a submission may carry files beside the notebook (the bot accepts only the notebook)."""
    import shutil

    from coursekit import ASSIGNMENT, REPO_ROOT
    from coursekit.grading import NOTEBOOK_ID, copy_course, read_scores
    from gradebot.core.nbgrader_run import run_nbgrader

    copy_course(str(course_dir))
    shutil.copy(os.path.join(REPO_ROOT, "gradebot.course.toml"), course_dir)  # the [kernel] declaration
    run = run_nbgrader(course_dir, ["generate_assignment", ASSIGNMENT, "--force"])
    assert run.ok, run.output
    dest = course_dir / "submitted" / "shipper" / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, str(dest / (NOTEBOOK_ID + ".ipynb")))
    for name, text in files.items():
        (dest / name).write_text(text, encoding="utf-8")
    run = run_nbgrader(course_dir, ["autograde", ASSIGNMENT, "--create", "--force"])
    assert run.ok, run.output
    return read_scores(str(course_dir), ["shipper"])["shipper"]
