"""The one definition of the course format (gradebot.core.course_format): grade ids and hidden-test regions."""

from __future__ import annotations

from gradebot.core.course_format import has_hidden, hidden_lines, split_hidden, strip_hidden, task_of

CELL = (
    "begin_test('t')\n"
    "check(1)\n"
    "    ### BEGIN HIDDEN TESTS\n"
    "    secret_one()\n"
    "    ### END HIDDEN TESTS\n"
    "after_the_region()\n"
    "### BEGIN HIDDEN TESTS\n"
    "secret_two()\n"
    "### END HIDDEN TESTS"
)


def test_task_of_is_the_prefix_before_the_double_underscore():
    assert task_of("part1_forward__dense") == "part1_forward"
    assert task_of("bonus_conv__grad_x__extra") == "bonus_conv"
    assert task_of("solo") == "solo"


def test_split_gives_visible_code_and_each_hidden_block_without_marker_lines():
    visible, blocks = split_hidden(CELL)
    assert visible == "begin_test('t')\ncheck(1)\nafter_the_region()"
    assert blocks == ["    secret_one()", "secret_two()"]
    compile(visible, "<visible>", "exec")
    for block in blocks:
        compile(block.strip(), "<hidden>", "exec")


def test_strip_keeps_code_after_a_region_and_can_leave_a_note_indented_like_the_marker():
    assert strip_hidden(CELL) == split_hidden(CELL)[0]
    assert strip_hidden(CELL, note="# hidden") == (
        "begin_test('t')\ncheck(1)\n    # hidden\nafter_the_region()\n# hidden"
    )
    assert strip_hidden("a\nb") == "a\nb" and not has_hidden("a\nb") and has_hidden(CELL)


def test_an_unterminated_region_hides_the_rest_of_the_cell():
    assert strip_hidden("shown()\n### BEGIN HIDDEN TESTS\nsecret()\nmore_secret()") == "shown()"
    assert split_hidden("x\n### BEGIN HIDDEN TESTS\ny\nz") == ("x", ["y\nz"])
    assert hidden_lines("x\n### BEGIN HIDDEN TESTS\ny\nz") == ["y", "z"]


def test_a_begin_inside_a_region_stays_hidden_and_hidden_lines_are_what_strip_removes():
    source = "a\n### BEGIN HIDDEN TESTS\nb = 1\n### BEGIN HIDDEN TESTS\nc = 2\n### END HIDDEN TESTS\nd"
    assert strip_hidden(source) == "a\nd"
    assert hidden_lines(source) == ["b = 1", "### BEGIN HIDDEN TESTS", "c = 2"]
    shown = strip_hidden(CELL, note="# hidden")
    assert hidden_lines(CELL) == ["secret_one()", "secret_two()"]
    assert not any(line in shown for line in hidden_lines(CELL))
