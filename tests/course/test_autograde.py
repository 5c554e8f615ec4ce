"""End to end: `nbgrader autograde numnet` on the bundled submissions (coursekit.examples) gives exactly the
expected points per task; the feedback of the graded notebooks shows no hidden-test code.

All submissions are graded in one go: two nbgrader runs in parallel over two temporary course copies.
"""
import re
import shutil

import nbformat
import pytest

from course_util import cell
from coursekit import TASKS
from coursekit.examples import EXAMPLES, format_table, grade_examples
from coursekit.feedback import HIDDEN_NOTE, safe_feedback, sanitize, task_scores


@pytest.fixture(scope="module")
def graded(mnist_dir, request):
    rows, info = grade_examples(EXAMPLES, workers=2, keep=True)
    report = "\n%s\ngraded %d submissions in %.0f s" % (format_table(rows), len(rows), info["seconds"])
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:             # shown even when pytest captures output
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
    assert obtained == pytest.approx(expected), "%s: expected %s, obtained %s" % (name, expected, obtained)


def test_reference_full_and_release_zero(graded):
    assert sum(graded[0]["reference"][1].values()) == pytest.approx(45)
    assert sum(graded[0]["slow_jacobians"][1].values()) == pytest.approx(45)
    assert sum(graded[0]["release"][1].values()) == 0


def _hidden_lines(source_nb):
    """Distinctive code lines of the hidden tests of the source notebook (none that occur outside them)."""
    hidden, shown = set(), set()
    for c in source_nb.cells:
        inside = False
        for line in c.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            else:
                (hidden if inside else shown).add(line.strip())
    shown_text = "\n".join(shown)
    return {line for line in hidden if len(line) > 25 and line not in shown_text}


@pytest.mark.parametrize("name", ["reference", "softmax_no_max_shift", "release", "test_cell_deleted",
                                  "keras_in_dense_forward"])
def test_feedback_hides_hidden_tests(graded, source_nb, name):
    import html as html_lib
    path = graded[1]["autograded"][name.replace("_", "-")]
    nb = nbformat.read(path, as_version=4)
    hidden = _hidden_lines(source_nb)
    assert hidden and any(line in c.source for c in nb.cells for line in hidden), \
        "the autograded notebook should contain the hidden tests (nbgrader restores them)"
    page = html_lib.unescape(re.sub(r"<[^>]+>", "", safe_feedback(path)))
    leaked = [line for line in hidden if line in page]
    assert leaked == []
    assert HIDDEN_NOTE.lstrip("# ") in page
    # visible test code and its outputs stay
    assert "test_net(net)" in page and "keras_model = get_keras_model()" in page
    expected = graded[0][name][1]
    assert {t: v["points"] for t, v in task_scores(nb).items()} == pytest.approx(expected)


def test_feedback_keeps_error_message_not_traceback(graded):
    path = graded[1]["autograded"]["softmax-no-max-shift"]
    nb = nbformat.read(path, as_version=4)
    errors = [o for o in cell(nb, "part1_forward__softmax").outputs if o.output_type == "error"]
    assert errors and len(errors[0].traceback) > 1          # nbgrader keeps the full traceback
    clean = [o for o in cell(sanitize(nb), "part1_forward__softmax").outputs if o.output_type == "error"]
    assert clean[0].traceback == ["TestFailed: " + clean[0].evalue]
    assert "нет ли переполнения?" in clean[0].evalue            # the message of the failed hidden test
    text = re.sub(r"<[^>]+>", "", safe_feedback(path))
    assert "нет ли переполнения?" in text
    assert "check_close('Softmax.forward, вход формы" not in text


def test_tampered_submission_is_refused_with_a_reason(graded):
    # check_close redefined in a solution cell: without the refusal the overflowing Softmax would pass its
    # hidden tests (and any other bug would); with it, nbgrader scores every task 0 and the notebook says why
    nb = nbformat.read(graded[1]["autograded"]["check-close-redefined"], as_version=4)
    assert nb.cells[0].id == "grading-refused"
    assert "deep_demo, строка 1" in nb.cells[0].source and "`check_close`" in nb.cells[0].source
    errors = [o for o in cell(nb, "part1_forward__softmax").outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "RuntimeError" and "Работа не оценена" in errors[0].evalue
    page = re.sub(r"<[^>]+>", "", safe_feedback(nb))
    assert "Работа не оценена" in page


def test_deleted_helpers_cell_is_restored(graded):
    # nbgrader itself restores only test cells; without the helpers every test would fail with a NameError
    # (and a notebook could define no-op helpers of its own in their place)
    nb = nbformat.read(graded[1]["autograded"]["helpers-cell-deleted"], as_version=4)
    restored = cell(nb, "test_helpers")
    assert "была удалена" in restored.source and "def check_close(" in restored.source
    assert restored.metadata["nbgrader"]["locked"] is True
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.index("test_helpers") < ids.index("part1_forward__keras_mnist")


def test_fake_keras_written_by_the_notebook_is_not_used(graded):
    nb = nbformat.read(graded[1]["autograded"]["fake-keras-next-to-notebook"], as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any("fake keras" in str(o.get("evalue", "")) + str(o.get("text", "")) for o in outputs)
    assert cell(nb, "part1_forward__keras_mnist").outputs          # the Keras test ran (and printed)
