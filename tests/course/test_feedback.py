"""coursekit.feedback on a small synthetic autograded notebook (the real ones: test_autograde.py)."""
import subprocess
import sys

import nbformat
import pytest

from coursekit.feedback import HIDDEN_NOTE, safe_feedback, sanitize, strip_hidden, task_scores

SECRET = "secret_case = check_conv_keras(7, 3, 2, 'same', 3, (1, 3, 13, 11))"


def _notebook():
    test = nbformat.v4.new_code_cell(
        "begin_test('bonus_conv')\ncheck_conv_keras(3, 2, 3, 'same', 1, (2, 2, 7, 7))\nprint('Test PASSED')\n"
        "### BEGIN HIDDEN TESTS\n%s\n### END HIDDEN TESTS" % SECRET)
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus_conv__forward", "locked": True, "points": 3,
                                 "solution": False, "schema_version": 3, "task": False}
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="Test PASSED\n"),
        nbformat.v4.new_output("error", ename="TestFailed", evalue="\x1b[0;31mConv2DLayer(...stride=3): форма (1, 2, 4, 3)",
                               traceback=["\x1b[0;31m---------\x1b[0m", "Cell In[5], line 5\n----> 5 " + SECRET,
                                          "TestFailed: Conv2DLayer(...)"]),
    ]
    plain = nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nnot a test cell\n### END HIDDEN TESTS")
    passed = nbformat.v4.new_code_cell("begin_test('bonus_conv')\nprint('ok')")
    passed.metadata["nbgrader"] = dict(test.metadata["nbgrader"], grade_id="bonus_conv__grad_x", points=2)
    return nbformat.v4.new_notebook(cells=[plain, test, passed])


def test_strip_hidden():
    source, found = strip_hidden("a\n    ### BEGIN HIDDEN TESTS\n    b\n    ### END HIDDEN TESTS\nc")
    assert found and source == "a\n    %s\nc" % HIDDEN_NOTE
    assert strip_hidden("a\nb") == ("a\nb", False)
    assert strip_hidden("a\n### BEGIN HIDDEN TESTS\nsecret") == ("a\n" + HIDDEN_NOTE, True)


def test_sanitize_removes_hidden_code_and_tracebacks():
    nb = sanitize(_notebook())
    test = nb.cells[1]
    assert SECRET not in test.source and HIDDEN_NOTE in test.source
    assert "check_conv_keras(3, 2, 3, 'same', 1, (2, 2, 7, 7))" in test.source
    error = test.outputs[1]
    assert error.traceback == ["TestFailed: Conv2DLayer(...stride=3): форма (1, 2, 4, 3)"]
    assert test.outputs[0].text == "Test PASSED\n"
    assert "not a test cell" in nb.cells[0].source          # only graded test cells are touched


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


def test_cli_writes_html(tmp_path):
    path = tmp_path / "numnet.ipynb"
    nbformat.write(_notebook(), str(path))
    out = tmp_path / "fb.html"
    result = subprocess.run([sys.executable, "-m", "coursekit.feedback", str(path), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "secret_case" not in out.read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "coursekit.feedback", str(tmp_path / "missing.ipynb")],
                         capture_output=True, text=True)
    assert bad.returncode != 0
