"""A tiny nbgrader course for tests and benchmarks (not for students): a test fixture, imported as ``tinycourse``
(``tests/`` is on sys.path under pytest; benchmarks/bench_scale.py loads it by path).

:func:`make_tiny_course(root)` writes ``root/nbgrader_config.py`` and ``root/source/tiny/tiny.ipynb`` (a solution
cell defining ``add`` and ``mul``, a graded test cell ``part1_add__visible`` (2 points) with visible and hidden
tests, a graded cell ``part2_mul__hidden`` (3 points) with hidden tests only) and runs
``nbgrader generate_assignment``. :func:`submission` builds student notebooks from it, optionally with extra
(hostile) code cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradebot.core.course_format import has_hidden, strip_hidden
from gradebot.core.nbgrader_run import run_nbgrader

ASSIGNMENT = "tiny"
NOTEBOOK = "tiny.ipynb"
HIDDEN_MARKER = "HIDDEN_SECRET_4711"  # appears only inside hidden tests: feedback must never contain it
TASK_MAX = {"part1_add": 2.0, "part2_mul": 3.0}

SOLUTION = '''def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION

def mul(a, b):
    ### BEGIN SOLUTION
    return a * b
    ### END SOLUTION'''

TEST_ADD = f'''assert add(1, 2) == 3
print("visible test passed")
### BEGIN HIDDEN TESTS
# {HIDDEN_MARKER} (add)
assert add(-1, 1) == 0
### END HIDDEN TESTS'''

TEST_MUL = f'''### BEGIN HIDDEN TESTS
# {HIDDEN_MARKER} (mul)
import sys
assert "wave" not in sys.modules, "forbidden import: wave"
assert mul(3, 4) == 12
### END HIDDEN TESTS'''


def _meta(grade_id: str, *, solution=False, grade=False, points=0, locked=False) -> dict:
    m = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked, "schema_version": 3}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def source_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("# Tiny assignment\nImplement `add` and `mul`."),
        new_code_cell(SOLUTION, metadata=_meta("solution_funcs", solution=True)),
        new_code_cell(TEST_ADD, metadata=_meta("part1_add__visible", grade=True, points=2, locked=True)),
        new_code_cell(TEST_MUL, metadata=_meta("part2_mul__hidden", grade=True, points=3, locked=True)),
    ]
    return nb


def make_tiny_course(root: Path | str, *, generate: bool = True) -> Path:
    """Create the course under ``root`` and run ``nbgrader generate_assignment``; returns ``root``."""
    root = Path(root)
    (root / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "tiny"\n'
        f'c.CourseDirectory.db_assignments = [dict(name="{ASSIGNMENT}")]\n'
    )
    (root / "source" / ASSIGNMENT / "helper_module.py").write_text("GREETING = 'hello from helper'\n")
    nbformat.write(source_notebook(), str(root / "source" / ASSIGNMENT / NOTEBOOK))
    if generate:
        run = run_nbgrader(root, ["generate_assignment", ASSIGNMENT, "--force"])
        if not run.ok:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{run.output}")
    return root


def submission(
    extra_cells: list[str] | None = None,
    *,
    solved: bool = True,
    position: int = 2,
    drop_grade_ids: tuple[str, ...] = (),
    edit: dict[str, str] | None = None,
) -> bytes:
    """A student notebook (the released one with solutions filled in, or wrong ones if ``solved=False``), with
    ``extra_cells`` (code) inserted at ``position``, cells whose grade_id is in ``drop_grade_ids`` deleted and
    cells named in ``edit`` ({grade_id: new source}) edited. Returns the .ipynb bytes."""
    nb = source_notebook()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "solution_funcs":
            cell.source = SOLUTION if solved else "def add(a, b):\n    return 0\n\ndef mul(a, b):\n    return 0"
        elif gid and has_hidden(cell.source):  # the released version has no hidden tests
            cell.source = strip_hidden(cell.source).rstrip()
        if edit and gid in edit:
            cell.source = edit[gid]
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in drop_grade_ids]
    for i, src in enumerate(extra_cells or []):
        nb.cells.insert(position + i, new_code_cell(src))
    return json.dumps(nb).encode()
