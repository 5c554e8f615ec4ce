"""The hostile corpus (coursekit.hostile) and the bundled examples (coursekit.examples) graded through the bot's
CLI against the real course (test_autograde.py grades the examples through ``coursekit.grading``, which calls the
same ``grade_notebook``: both must give the same points).

Every entry is written to a temp dir and graded with ``python -m gradebot grade FILE --json`` (2 at a time, in a
module-scoped fixture); then one test per entry checks
  (a) the points per task are the ones its honest code deserves (``Hostile.expected_points``),
  (b) the CLI output never shows hidden-test code (a line of a ``### BEGIN/END HIDDEN TESTS`` block of the
      source notebook, stripped, >= 12 characters, that appears nowhere else in the course or the submission)
      nor a traceback through the grader's own files (coursekit/trusted, gradebot/).
"""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from coursekit import REPO_ROOT, SOURCE_NOTEBOOK, TASKS
from coursekit.examples import EXAMPLES, build_submission
from coursekit.hostile import HOSTILE, build_hostile, write_notebook

WORKERS = 2
TIMEOUT = 900  # s per notebook (the grader's own wall-clock limit is far below)
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
GRADER_FILE = re.compile(r'(coursekit/trusted|gradebot/)')
TRACEBACK = "Traceback (most recent call last)"

pytestmark = pytest.mark.skipif(
    not os.path.isfile(SOURCE_NOTEBOOK), reason="the real course (source/numnet/numnet.ipynb) is not built yet"
)


def _hidden_and_visible_lines(source_nb):
    hidden, visible = set(), set()
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif line.strip():
                (hidden if inside else visible).add(line.strip())
    return hidden, visible


@pytest.fixture(scope="module")
def hidden_lines():
    hidden, visible = _hidden_and_visible_lines(nbformat.read(SOURCE_NOTEBOOK, as_version=4))
    lines = {line for line in hidden - visible if len(line) >= 12}
    assert lines, f"no hidden-test lines found in {SOURCE_NOTEBOOK}"
    return lines


def _selected(session):
    """Names of the entries whose tests this run selected (``-k forged`` grades only those: the corpus is slow)."""
    names = set()
    for item in session.items:
        example = getattr(item, "callspec", None) and item.callspec.params.get("example")
        if item.module.__name__ == __name__ and example is not None:
            names.add(example.name if item.originalname == "test_hostile_submission" else "example-" + example.name)
    return names


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory, mnist_dir):
    """{entry name: (CompletedProcess, submitted notebook text)} for the entries this run selected."""
    selected = _selected(request.session)
    tmp = tmp_path_factory.mktemp("hostile_course")
    env = dict(os.environ)
    env.update(
        GRADEBOT_DATA_DIR=str(tmp / "data"),
        GRADEBOT_COURSE_ROOT=REPO_ROOT,
        GRADEBOT_BUILD_DIR=str(tmp / "builds"),
        GRADEBOT_WORKERS="1",
        NUMNET_MNIST_DIR=mnist_dir,
        GRADEBOT_GRADEBOOK_URL=f"sqlite:///{tmp / 'gradebook.db'}",
    )  # never the repo's gradebook
    env.pop("GRADEBOT_CONFIG", None)
    paths = {}
    for ex in HOSTILE:
        if ex.name in selected:
            path = tmp / "submissions" / ex.name / "numnet.ipynb"
            path.parent.mkdir(parents=True)
            write_notebook(build_hostile(ex), str(path))
            paths[ex.name] = path
    for ex in EXAMPLES:
        if "example-" + ex.name in selected:
            path = tmp / "submissions" / ("example-" + ex.name) / "numnet.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(build_submission(ex), str(path))
            paths["example-" + ex.name] = path

    def grade(name):
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "gradebot", "grade", str(paths[name]), "--json"],
                cwd=str(tmp),
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            proc = subprocess.CompletedProcess(exc.cmd, -1, exc.stdout or "", f"timed out after {TIMEOUT} s")
        return name, (proc, paths[name].read_text(encoding="utf-8"))

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(grade, list(paths)))


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _grader_tracebacks(text):
    """Tracebacks (from their first line to the end of the text block) that go through the grader's files."""
    found = []
    start = text.find(TRACEBACK)
    while start != -1:
        end = text.find("\n\n", start)
        block = text[start:] if end == -1 else text[start:end]
        if GRADER_FILE.search(block):
            found.append(block[:1500])
        start = text.find(TRACEBACK, start + 1)
    return found


@pytest.mark.parametrize("example", HOSTILE, ids=[ex.name for ex in HOSTILE])
def test_hostile_submission(graded, hidden_lines, example):
    proc, submitted = graded[example.name]
    assert proc.returncode == 0, f"grade failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout)
    texts = list(_strings(result))

    # (b) no hidden-test code (lines the student wrote themselves do not count), no grader tracebacks
    own = {line.strip() for cell in json.loads(submitted)["cells"] for line in "".join(cell["source"]).splitlines()}
    leaked = sorted(line for line in hidden_lines - own if any(line in t for t in texts))
    assert not leaked, f"hidden-test code in the output: {leaked[:5]}"
    grader_tb = [tb for t in texts for tb in _grader_tracebacks(t)]
    assert not grader_tb, f"traceback through the grader's files:\n{grader_tb[0]}"
    frames = [t for t in texts if re.search(r'File "[^"]*(coursekit/trusted|gradebot/)', t)]
    assert not frames, f"grader stack frames in the output: {frames[0][:1500]}"

    # (a) the points the honest code deserves
    expected = example.expected_points()
    got = {task: v["points"] for task, v in result["tasks"].items()}
    assert set(got) == set(TASKS), got
    wrong = {t: (got[t], expected[t]) for t in TASKS if abs(got[t] - expected[t]) > 1e-6}
    assert not wrong, f'{example.name}: (obtained, expected) {wrong}; messages: {result.get("messages")}'


@pytest.mark.parametrize("example", EXAMPLES, ids=[ex.name for ex in EXAMPLES])
def test_bundled_example_through_the_bot(graded, example):
    proc, _ = graded["example-" + example.name]
    assert proc.returncode == 0, f"grade failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout)
    got = {task: v["points"] for task, v in result["tasks"].items()}
    expected = example.expected_points()
    assert got == pytest.approx(expected), (
        f'{example.name}: obtained {got}, expected {expected}; messages: {result.get("messages")}'
    )
