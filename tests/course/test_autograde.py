"""End to end: the bundled submissions (coursekit.examples), graded through the bot's pipeline
(gradebot.core.grading.grade_notebook, sandbox included), get exactly the expected points per task; the feedback
of the graded notebooks shows no hidden-test code.

All submissions are graded in one go, two at a time.
"""

import re
import shutil

import nbformat
import pytest

from course_util import cell, hidden_lines as _hidden_lines
from coursekit import TASKS
from coursekit.examples import EXAMPLES, format_table, grade_examples
from coursekit.feedback import safe_feedback, task_scores


@pytest.fixture(scope="module")
def graded(mnist_dir, request):
    rows, info = grade_examples(EXAMPLES, workers=2, keep=True)
    report = f"\n{format_table(rows)}\ngraded {len(rows)} submissions in {info['seconds']:.0f} s"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # shown even when pytest captures output
        with capture.global_and_fixture_disabled():
            print(report)
    else:
        print(report)
    yield {name: (expected, obtained) for name, expected, obtained in rows}, info
    shutil.rmtree(info["workdir"], ignore_errors=True)


def test_at_least_twelve_broken_submissions():
    broken = [ex for ex in EXAMPLES if ex.name not in ("reference", "release", "slow_jacobians")]
    assert len(broken) >= 12
    assert {ex.name for ex in EXAMPLES} >= {"reference", "release", "slow_jacobians"}


@pytest.mark.parametrize("name", [ex.name for ex in EXAMPLES])
def test_points_per_task(graded, name):
    expected, obtained = graded[0][name]
    assert set(obtained) == set(TASKS)
    assert obtained == pytest.approx(expected), f"{name}: expected {expected}, obtained {obtained}"


def test_reference_full_and_release_zero(graded):
    assert sum(graded[0]["reference"][1].values()) == pytest.approx(45)
    assert sum(graded[0]["slow_jacobians"][1].values()) == pytest.approx(45)
    assert sum(graded[0]["release"][1].values()) == 0


@pytest.mark.parametrize(
    "name",
    [
        "reference",
        "softmax_no_max_shift",
        "release",
        "test_cell_deleted",
        "keras_in_dense_forward",
        "check_close_redefined",
    ],
)
def test_graded_notebook_and_feedback_have_no_hidden_tests(graded, source_nb, name):
    import html as html_lib

    path = graded[1]["autograded"][name]
    nb = nbformat.read(path, as_version=4)
    hidden = _hidden_lines(source_nb)
    assert hidden
    # the graded notebook is rebuilt from the course without hidden blocks: nothing to hide afterwards
    assert not any(line in c.source for c in nb.cells for line in hidden)
    assert not any("BEGIN HIDDEN TESTS" in c.source for c in nb.cells)
    page = html_lib.unescape(re.sub(r"<[^>]+>", "", safe_feedback(path)))
    assert [line for line in hidden if line in page] == []
    # visible test code and its outputs stay
    assert "test_net(net" in page and "get_our_model(" in page
    expected = graded[0][name][1]
    assert {t: v["points"] for t, v in task_scores(nb).items()} == pytest.approx(expected)


def test_failed_test_shows_the_graders_message_not_a_traceback(graded):
    path = graded[1]["autograded"]["softmax_no_max_shift"]
    nb = nbformat.read(path, as_version=4)
    errors = [o for o in cell(nb, "part1_forward__softmax").outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "TestFailed"
    # the visible large-logit test catches it (at home too), and the message names what produced the nan
    assert errors[0].evalue.startswith("Softmax.forward при больших по модулю входах (до 1000): в результате ")
    assert "inf / inf" in errors[0].evalue
    assert errors[0].traceback == [errors[0].evalue]  # the grader's message only
    text = re.sub(r"<[^>]+>", "", safe_feedback(path))
    assert "Softmax.forward при больших по модулю входах (до 1000)" in text
    assert "check_close('Softmax.forward, вход формы" not in text and "coursekit/trusted" not in text


def test_redefined_check_close_changes_nothing(graded):
    # the tests run outside the student's process: a `def check_close(...): pass` in a solution cell only
    # replaces the student's own copy, and the overflowing Softmax still fails its large-logit test
    nb = nbformat.read(graded[1]["autograded"]["check_close_redefined"], as_version=4)
    errors = [o for o in cell(nb, "part1_forward__softmax").outputs if o.output_type == "error"]
    assert errors and "Softmax.forward при больших по модулю входах" in errors[0].evalue
    assert not any(o.output_type == "error" for o in cell(nb, "part1_forward__dense").outputs)


def test_deleted_cells_come_back_from_the_course(graded, source_nb):
    nb = nbformat.read(graded[1]["autograded"]["helpers_cell_deleted"], as_version=4)
    assert cell(nb, "test_helpers").source == cell(source_nb, "test_helpers").source
    nb = nbformat.read(graded[1]["autograded"]["test_cell_deleted"], as_version=4)
    assert cell(nb, "part3_training__fit_mnist").outputs
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == [c.metadata.get("nbgrader", {}).get("grade_id") for c in source_nb.cells]


def test_fake_keras_written_by_the_notebook_changes_nothing(graded):
    nb = nbformat.read(graded[1]["autograded"]["fake_keras_next_to_notebook"], as_version=4)
    assert not any(o.output_type == "error" for o in cell(nb, "part1_forward__keras_mnist").outputs)
