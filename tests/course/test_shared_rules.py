"""The course's rules are defined once (gradebot.core.course_format, coursekit/course.py) and every reader agrees:
nbgrader's release, the trusted grader, the feedback page and the bot's leak check see the same hidden tests; the
bot's task maxima are the course's."""

import html as html_lib
import os
import re

from coursekit import SOURCE_NOTEBOOK, course
from coursekit.feedback import HIDDEN_NOTE, safe_feedback, sanitize
from coursekit.trusted import grader
from coursekit.trusted.execute import rebuild
from gradebot.core.course import course_facts
from gradebot.core.course_format import split_hidden, strip_hidden, task_of
from gradebot.core.feedback import leaked_hidden_lines, without_hidden_tests


def _tests(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if grader.is_test_cell(c)}


def test_release_graded_notebook_and_grader_see_the_same_visible_code(source_nb, release_nb):
    """nbgrader's ClearHiddenTests (the release), the rebuilt notebook that is graded and the grader's visible
    part are the same text for every test cell."""
    released = _tests(release_nb)
    graded = _tests(rebuild(release_nb, source_nb, lambda cell: cell.source))
    tests = grader.Course.from_notebook(source_nb, os.path.dirname(SOURCE_NOTEBOOK)).tests
    assert len(tests) == len(released) == 27
    for test in tests:
        source = _tests(source_nb)[test.grade_id].source
        assert test.hidden, test.grade_id
        assert strip_hidden(source) == released[test.grade_id].source == graded[test.grade_id].source
        assert test.visible == split_hidden(source)[0] == released[test.grade_id].source


def test_feedback_and_leak_check_agree_on_the_source_notebook(source_nb):
    """Every line the bot's leak check guards (course_facts.hidden_lines) is gone from what the course's feedback
    and the bot's own fallback show, and the leak check finds nothing in the course's feedback page."""
    from coursekit import SOURCE_NOTEBOOK

    facts = course_facts(SOURCE_NOTEBOOK)
    assert len(facts.hidden_lines) > 50
    shown_by_feedback = "\n".join(c.source for c in sanitize(source_nb).cells)
    shown_by_fallback = "\n".join(c.source for c in without_hidden_tests(source_nb).cells)
    visible = "\n".join(strip_hidden(c.source) for c in source_nb.cells)
    for line in facts.hidden_lines:
        if line in visible:  # e.g. `net = Network(...)`: also a visible line of some cell
            continue
        assert line not in shown_by_feedback and line not in shown_by_fallback, line
    assert shown_by_feedback.count(HIDDEN_NOTE) == sum(1 for c in source_nb.cells if grader.is_test_cell(c))
    page = html_lib.unescape(re.sub(r"<[^>]+>", "", safe_feedback(source_nb)))
    # the reference's own code (what a student may write) is the "upload": lines in it are not leaks
    assert leaked_hidden_lines(page, facts, visible.encode()) == []
    # the check does fire on a page that quotes a hidden line (it would otherwise prove nothing)
    secret = next(line for line in facts.hidden_lines if len(line) >= 20 and line not in visible)
    assert leaked_hidden_lines(page + secret, facts, visible.encode()) == [secret]


def test_tasks_titles_and_maxima_have_one_definition(source_nb):
    """The bot's tasks and maxima (read from the source notebook) are coursekit/course.py's, titles included."""
    from coursekit import SOURCE_NOTEBOOK

    facts = course_facts(SOURCE_NOTEBOOK)
    assert facts.tasks == {t: float(m) for t, m in course.TASKS.items()}
    assert facts.task_titles == course.TASK_TITLES and facts.test_names == course.TEST_NAMES
    assert list(course.TASKS) == list(course.TASK_TITLES)
    assert {task_of(gid) for gid in course.TEST_NAMES} == set(course.TASKS)
