"""End to end on the real course: its reference solution (= the source notebook itself) gets full marks through
the sandboxed pipeline. Skipped only while source/numnet/numnet.ipynb does not exist (the course is built
separately). Slow: it runs the whole notebook (training included) once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradebot.config import Config
from gradebot.core.course import course_facts
from gradebot.core.service import grade_notebook_file

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "source" / "numnet" / "numnet.ipynb"


@pytest.mark.skipif(not SOURCE.is_file(), reason="the real course (source/numnet/numnet.ipynb) is not built yet")
def test_reference_solution_gets_full_marks(tmp_path):
    config = Config.make(
        data_dir=str(tmp_path / "data"),
        course_root=str(REPO),
        workers=1,
        gradebook_url=f"sqlite:///{tmp_path / 'gradebook.db'}",
    )  # never the repo's gradebook
    facts = course_facts(SOURCE)
    result = grade_notebook_file(SOURCE, config)
    assert result.max == facts.max_total == 45.0
    assert set(result.tasks) == {
        "part1_forward",
        "part2_grad_x",
        "part3_training",
        "bonus_conv",
        "bonus_conv_tr",
        "bonus_optimizer",
    }
    assert result.total == result.max, (result.tasks, result.messages)
    assert result.verdict == "ok", result.messages


def _example(tmp_path, name):
    """A bundled example written to tmp_path, and a config grading the real course with its own gradebook."""
    import nbformat

    from coursekit.examples import EXAMPLES, build_submission

    path = tmp_path / "numnet.ipynb"
    nbformat.write(build_submission(next(ex for ex in EXAMPLES if ex.name == name)), str(path))
    return path, Config.make(
        data_dir=str(tmp_path / "data"),
        course_root=str(REPO),
        workers=1,
        gradebook_url=f"sqlite:///{tmp_path / 'gradebook.db'}",
    )  # never the repo's gradebook


@pytest.mark.skipif(not SOURCE.is_file(), reason="the real course (source/numnet/numnet.ipynb) is not built yet")
def test_notebook_that_redefines_a_test_helper_gains_nothing(tmp_path):
    path, config = _example(tmp_path, "check_close_redefined")
    result = grade_notebook_file(path, config)
    assert result.total == 44 and result.max == 45.0, (result.tasks, result.messages)
    assert result.tasks["part1_forward"]["points"] == 4
    assert result.verdict == "ok", result.messages
    assert len(result.messages) == 1 and result.messages[0].startswith(
        "part1_forward__softmax: failed (Softmax.forward при больших по модулю входах (до 1000)"
    )  # caught at home


@pytest.mark.skipif(not SOURCE.is_file(), reason="the real course (source/numnet/numnet.ipynb) is not built yet")
def test_same_notebook_same_score_and_messages(tmp_path):
    # trusted grading is deterministic: seeds on both sides, expected values fixed at build time
    path, config = _example(tmp_path, "relu_forward_leaky")
    first, second = grade_notebook_file(path, config), grade_notebook_file(path, config)
    assert first.total == second.total == 43.5
    assert first.cells == second.cells and first.messages == second.messages and first.verdict == second.verdict
    assert len(first.messages) == 2, first.messages
