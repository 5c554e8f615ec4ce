"""coursekit.feedback on a small synthetic autograded notebook, and the page of real graded notebooks (the
reference solution and a broken one, graded by nbgrader here): one summary, failed tests first with links to their
cells, small, no hidden-test code."""

import html as html_lib
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from course_util import hidden_lines as _hidden_lines
from coursekit.feedback import HIDDEN_NOTE, TASK_TITLES, safe_feedback, sanitize, task_scores

SECRET = "secret_case = check_conv_keras(7, 3, 2, 'same', 3, (1, 3, 13, 11))"


def _notebook():
    test = nbformat.v4.new_code_cell(
        "begin_test('bonus_conv')\ncheck_conv_keras(3, 2, 3, 'same', 1, (2, 2, 7, 7))\nprint('Test PASSED')\n"
        f"### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "bonus_conv__forward",
        "locked": True,
        "points": 3,
        "solution": False,
        "schema_version": 3,
        "task": False,
    }
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="Test PASSED\n"),
        nbformat.v4.new_output(
            "error",
            ename="TestFailed",
            evalue="\x1b[0;31mConv2DLayer(...stride=3): форма (1, 2, 4, 3)",
            traceback=[
                "\x1b[0;31m---------\x1b[0m",
                "Cell In[5], line 5\n----> 5 " + SECRET,
                "TestFailed: Conv2DLayer(...)",
            ],
        ),
    ]
    plain = nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nnot a test cell\n### END HIDDEN TESTS")
    passed = nbformat.v4.new_code_cell("begin_test('bonus_conv')\nprint('ok')")
    passed.metadata["nbgrader"] = dict(test.metadata["nbgrader"], grade_id="bonus_conv__grad_x", points=2)
    return nbformat.v4.new_notebook(cells=[plain, test, passed])


def test_sanitize_removes_hidden_code_and_tracebacks():
    nb = sanitize(_notebook())
    test = nb.cells[1]
    assert SECRET not in test.source and HIDDEN_NOTE in test.source
    assert "check_conv_keras(3, 2, 3, 'same', 1, (2, 2, 7, 7))" in test.source
    error = test.outputs[1]
    assert error.traceback == ["TestFailed: Conv2DLayer(...stride=3): форма (1, 2, 4, 3)"]
    assert test.outputs[0].text == "Test PASSED\n"
    assert "not a test cell" in nb.cells[0].source  # only graded test cells are touched


def test_task_scores_follow_nbgraders_rule():
    assert task_scores(_notebook()) == {"bonus_conv": {"points": 2.0, "max": 5.0}}


def test_safe_feedback_html(tmp_path):
    path = tmp_path / "numnet.ipynb"
    nbformat.write(_notebook(), str(path))
    page = safe_feedback(str(path))
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "secret_case" not in page and "(7, 3, 2, &#x27;same&#x27;" not in page
    assert "Результат проверки: 2 из 5" in page
    assert "форма (1, 2, 4, 3)" in page
    assert "Результат проверки: 4 из 5" in safe_feedback(str(path), scores={"bonus_conv": 4})
    # one summary, then the failed test (points, message, link to its cell), then the passed one, then the notebook
    assert page.count("Результат проверки") == 1 and "4. Дополнительно: свёрточный слой" in page
    failed, passed = page.index("Не пройдены тесты: 1"), page.index("Пройдены тесты: 1")
    link = page.index('href="#test-bonus_conv__forward"')
    assert failed < link < passed < page.index("Ноутбук после проверки")
    assert 'id="test-bonus_conv__forward"' in page and "баллы: 0 из 3" in page
    # the course's Russian test name, in the failed list and in the head of the test's cell
    assert '<a href="#test-bonus_conv__forward">Conv2DLayer: прямой проход, сравнение с Keras</a>' in page
    assert "<code>bonus_conv__forward</code> — Conv2DLayer: прямой проход, сравнение с Keras: 0 из 3" in page


def test_summary_from_the_bot(tmp_path):
    """gradebot passes its result: the total after a late penalty, the verdict in Russian, its notes."""
    path = tmp_path / "numnet.ipynb"
    nbformat.write(_notebook(), str(path))
    page = safe_feedback(
        str(path),
        summary={
            "total": 1.6,
            "max": 5,
            "verdict": "timeout",
            "cells": {"bonus_conv__grad_x": 2.0},
            "messages": ["cell 3: stopped after the time limit", "bonus_conv__forward: failed (TestFailed: x)"],
        },
    )
    assert "Результат проверки: 1.6 из 5" in page and "превышено время выполнения" in page
    assert "cell 3: stopped after the time limit" in page
    assert "TestFailed: x" not in page  # the failed test's own message (from the notebook) is shown instead


def test_points_are_formatted_by_the_catalog_only():
    """The page formats points with gradebot.messages.points, the one formatter, not a local alias of it."""
    from coursekit import feedback

    assert not hasattr(feedback, "_points")
    with open(feedback.__file__, encoding="utf-8") as f:
        assert "msg.points(" in f.read()


def test_images_only_from_the_students_cells(tmp_path):
    nb = _notebook()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    course = nbformat.v4.new_code_cell("plot_demo()")
    course.metadata["nbgrader"] = {
        "grade": False,
        "locked": True,
        "solution": False,
        "grade_id": "demo",
        "schema_version": 3,
    }
    course.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png + "COURSE"})]
    own = nbformat.v4.new_code_cell("plt.plot(x)")
    own.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    nb.cells += [course, own]
    page = safe_feedback(nb)
    assert png + "COURSE" not in page and "data:image/png;base64," + png in page
    assert "рисунок не включён в отзыв" in page


def test_student_html_is_sanitized():
    nb = _notebook()
    cell = nbformat.v4.new_code_cell("display(HTML(...))")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": "<script>alert(1)</script><b>bold</b><img src=x onerror=alert(2)>"}
        )
    ]
    nb.cells.append(cell)
    page = safe_feedback(nb)
    assert "<script>alert(1)" not in page and "onerror" not in page and "<b>bold</b>" in page


@pytest.fixture(scope="module")
def graded_pages(mnist_dir):
    """The reference solution and `softmax_no_max_shift`, graded as the bot grades them (about 40 s)."""
    from coursekit.examples import EXAMPLES, build_submission
    from coursekit.grading import grade_notebooks

    names = ("reference", "softmax_no_max_shift")
    subs = {ex.name: build_submission(ex) for ex in EXAMPLES if ex.name in names}
    scores, info = grade_notebooks(subs, workers=2, keep=True)
    try:
        yield {name: (info["autograded"][name], scores[name]) for name in names}
    finally:
        shutil.rmtree(info["workdir"], ignore_errors=True)


@pytest.mark.parametrize("name", ["reference", "softmax_no_max_shift"])
def test_real_feedback_page(graded_pages, source_nb, name):
    path, scores = graded_pages[name]
    page = safe_feedback(path, scores=None)
    size = len(page.encode("utf-8"))
    print(f"{name}: feedback page {size} bytes")
    assert size < 200 * 1024, size
    total = sum(scores.values())
    assert page.count("Результат проверки") == 1 and f"Результат проверки: {total:g} из 45" in page
    assert all(title in page for title in TASK_TITLES.values())
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    assert [line for line in _hidden_lines(source_nb) if line in text] == []
    assert text.index("Ноутбук после проверки") > text.index("Результат проверки")
    if name == "reference":
        assert "Все тесты пройдены" in page and "Не пройдены тесты" not in page
    else:
        link = page.index('href="#test-part1_forward__softmax"')
        assert page.index("Не пройдены тесты: 1") < link < page.index("Пройдены тесты:")
        assert 'id="test-part1_forward__softmax"' in page  # the anchor of the cell below
        # the grader's message next to the link: the visible large-logit test (caught at home) with the cause
        assert "Softmax.forward при больших по модулю входах (до 1000): в результате" in page[: link + 2000]
        assert "inf / inf" in page[: link + 2000]
        assert page[link:].startswith(
            'href="#test-part1_forward__softmax">Softmax: прямой проход, в том числе при больших входах</a>'
        )
        assert "баллы: 0 из 1" in page


def test_cli_writes_html(tmp_path):
    path = tmp_path / "numnet.ipynb"
    nbformat.write(_notebook(), str(path))
    out = tmp_path / "fb.html"
    result = subprocess.run(
        [sys.executable, "-m", "coursekit.feedback", str(path), "-o", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "secret_case" not in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "coursekit.feedback", str(tmp_path / "missing.ipynb")], capture_output=True, text=True
    )
    assert bad.returncode != 0
