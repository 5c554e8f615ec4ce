"""The format of an nbgrader course as gradebot and coursekit both read it: the one definition of each rule.

- **Grade ids**: a graded cell's ``grade_id`` is ``<task>__<test>``; a task's points are the sum of its cells
  (:func:`task_of`; an id without ``__`` is its own task).
- **Hidden tests**: in a test cell, the lines between a line containing ``BEGIN HIDDEN TESTS`` and one containing
  ``END HIDDEN TESTS`` (nbgrader's own rule, ``ClearHiddenTests``: the marker lines belong to neither side).
  A region without its END runs to the end of the cell, so an unterminated region hides everything after its
  BEGIN line; a BEGIN inside a region is just a hidden line. :func:`split_hidden` gives the visible code and the
  hidden blocks (the trusted grader runs both), :func:`strip_hidden` the visible code only (the graded notebook,
  every feedback page), :func:`hidden_lines` the lines feedback must never show (gradebot's leak check).

The course's own facts (tasks, titles, maxima, what its kernel needs) are not here: the course declares them
(``coursekit/course.py``, written into the source notebook by the build; ``gradebot.course.toml`` ``[kernel]``)
and the bot reads them from the course (``gradebot.core.course``, ``gradebot.core.kernel_needs``).
"""

from __future__ import annotations

GRADE_ID_SEP = "__"

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"  # as a course writes the markers
HIDDEN_END = "### END HIDDEN TESTS"
_BEGIN_WORDS = "BEGIN HIDDEN TESTS"  # what a line must contain (nbgrader's ClearHiddenTests delimiters)
_END_WORDS = "END HIDDEN TESTS"


def task_of(grade_id: str) -> str:
    """``part1_forward__dense`` -> ``part1_forward``; a grade id without ``__`` is its own task."""
    return grade_id.split(GRADE_ID_SEP, 1)[0]


def has_hidden(source: str) -> bool:
    """Whether a cell source has a hidden-test region."""
    return any(_BEGIN_WORDS in line for line in source.split("\n"))


def _regions(source: str) -> list[tuple[str, str]]:
    """[(kind, line)] of a cell source; kind: 'visible', 'begin' (a BEGIN marker line), 'hidden', 'end'."""
    out, inside = [], False
    for line in source.split("\n"):
        if inside:
            if _END_WORDS in line and _BEGIN_WORDS not in line:
                out.append(("end", line))
                inside = False
            else:
                out.append(("hidden", line))
        elif _BEGIN_WORDS in line:
            out.append(("begin", line))
            inside = True
        elif _END_WORDS in line:
            out.append(("end", line))  # a stray END marker: a marker line, shown on neither side
        else:
            out.append(("visible", line))
    return out


def split_hidden(source: str) -> tuple[str, list[str]]:
    """(visible code, [hidden blocks]) of a test cell's source; the marker lines are in neither."""
    visible, blocks = [], []
    for kind, line in _regions(source):
        if kind == "visible":
            visible.append(line)
        elif kind == "begin":
            blocks.append([])
        elif kind == "hidden":
            blocks[-1].append(line)
    return "\n".join(visible), ["\n".join(block) for block in blocks]


def strip_hidden(source: str, note: str | None = None) -> str:
    """The source without its hidden-test regions; with ``note``, each region becomes that one line (indented
    like its BEGIN line)."""
    out = []
    for kind, line in _regions(source):
        if kind == "visible":
            out.append(line)
        elif kind == "begin" and note is not None:
            out.append(line[: len(line) - len(line.lstrip())] + note)
    return "\n".join(out)


def hidden_lines(source: str) -> list[str]:
    """The non-empty lines of the hidden regions, stripped (what feedback must never show)."""
    return [line.strip() for kind, line in _regions(source) if kind == "hidden" and line.strip()]
