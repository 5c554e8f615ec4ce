"""Facts about the nbgrader course, read from its files (never hard-coded), and the per-build template that every
grading job copies.

- :func:`course_facts` reads the source notebook: grade cells (grade_id, points), tasks (``task_of(grade_id)``)
  with their maxima, the lines of the hidden tests (to check feedback never shows them), and the titles
  students read (:func:`course_titles`). The rules for grade ids and hidden tests: ``gradebot.core.course_format``.
- :func:`course_build` makes, once per content of (nbgrader_config.py, source/<assignment>/), a template dir
  ``<data_dir>/builds/<hash>/`` with the course config, the source dir and a gradebook filled by
  ``nbgrader generate_assignment`` (run on the copy, so the real course is not touched).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from gradebot.core.course_format import hidden_lines, task_of
from gradebot.core.errors import CourseError
from gradebot.core.nbgrader_run import run_nbgrader

if TYPE_CHECKING:
    from gradebot.config import Config


@dataclass
class CourseFacts:
    cells: dict[str, float]  # grade_id -> max points (autograded/graded cells)
    tasks: dict[str, float]  # task -> max points (sum of its cells)
    hidden_lines: list[str] = field(default_factory=list)  # stripped lines of hidden-test blocks
    task_titles: dict[str, str] = field(default_factory=dict)  # task -> title students read (may be empty)
    test_names: dict[str, str] = field(default_factory=dict)  # grade_id -> test name students read

    @property
    def max_total(self) -> float:
        return float(sum(self.tasks.values()))

    def task_title(self, task: str) -> str:
        """The task's title as the course declares it, else the task id."""
        return self.task_titles.get(task) or task

    def test_name(self, grade_id: str) -> str:
        """The test's name as the course declares it, else its grade id."""
        return self.test_names.get(grade_id) or grade_id


def course_titles(nb: nbformat.NotebookNode) -> tuple[dict[str, str], dict[str, str]]:
    """({task: title}, {grade_id: name}) that a course declares in its source notebook's metadata
    ``{"gradebot": {"tasks": {...}, "tests": {...}}}`` (both empty for a course without them). Read only from the
    course's own notebook: a submitted notebook's metadata is the student's."""
    meta = nb.get("metadata", {}).get("gradebot", {})
    if not isinstance(meta, dict):
        raise CourseError("the source notebook's metadata 'gradebot' must be an object with 'tasks' and 'tests'")
    out = []
    for key in ("tasks", "tests"):
        value = meta.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise CourseError(f"the source notebook's metadata gradebot.{key} must map ids to strings")
        out.append(dict(value))
    return out[0], out[1]


def course_facts(source_notebook: Path) -> CourseFacts:
    if not Path(source_notebook).is_file():
        raise CourseError(
            f"source notebook {source_notebook} not found: check course_root/assignment/notebook in the gradebot config"
        )
    nb = nbformat.read(str(source_notebook), as_version=4)
    cells: dict[str, float] = {}
    hidden: list[str] = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cells[meta["grade_id"]] = float(meta.get("points", 0))
        hidden += hidden_lines(cell.source)
    if not cells:
        raise CourseError(f"{source_notebook} has no graded cells (nbgrader metadata 'grade': true)")
    tasks: dict[str, float] = {}
    for gid, pts in cells.items():
        tasks[task_of(gid)] = tasks.get(task_of(gid), 0.0) + pts
    task_titles, test_names = course_titles(nb)
    return CourseFacts(cells=cells, tasks=tasks, hidden_lines=hidden, task_titles=task_titles, test_names=test_names)


def _course_hash(config) -> str:
    h = hashlib.sha256()
    root = config.course_path
    cfg = root / "nbgrader_config.py"
    h.update(cfg.read_bytes() if cfg.is_file() else b"")
    src = root / "source" / config.assignment
    for p in sorted(src.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes() + b"\0")
    grading = root / "grading" / config.assignment  # a course's trusted-grading data (expected values)
    for p in sorted(grading.rglob("*")) if grading.is_dir() else []:
        if p.is_file():
            h.update(b"grading/" + str(p.relative_to(grading)).encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(config.assignment.encode())
    return h.hexdigest()[:16]


def job_config_text(course_config: str, root: Path, extra: str = "", course_root: Path | None = None) -> str:
    """The course's nbgrader_config.py plus gradebot's overrides pointing nbgrader at ``root``. The real course
    root goes first on sys.path so a config that imports course modules (e.g. coursekit) still works."""
    prefix = ""
    if course_root is not None:
        prefix = (
            f"import sys as _gb_sys\nif {str(course_root)!r} not in _gb_sys.path:\n"
            f"    _gb_sys.path.insert(0, {str(course_root)!r})\n# ---- the course's nbgrader_config.py:\n"
        )
    return (
        prefix + course_config + "\n\n# ---- appended by gradebot: this copy of the course is graded in isolation\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}\n" + extra
    )


def course_build(config: Config) -> Path:
    """The template dir for the course's current content (created on first use, under a file lock)."""
    root = config.course_path
    src = root / "source" / config.assignment
    if not (src / config.notebook).is_file():
        raise CourseError(f"{src / config.notebook} not found: the course source notebook is missing")
    digest = _course_hash(config)
    builds = Path(config.build_dir).resolve() if config.build_dir else config.data_path / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    target = builds / digest
    if (target / "READY").exists():
        return target
    with open(builds / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if (target / "READY").exists():
            return target
        tmp = builds / f".{digest}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(
            src, tmp / "source" / config.assignment, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
        if (root / "grading" / config.assignment).is_dir():
            shutil.copytree(root / "grading" / config.assignment, tmp / "grading" / config.assignment)
        course_cfg = (
            (root / "nbgrader_config.py").read_text()
            if (root / "nbgrader_config.py").is_file()
            else "c = get_config()\n"
        )
        (tmp / "nbgrader_config.course.py").write_text(course_cfg)
        (tmp / "nbgrader_config.py").write_text(job_config_text(course_cfg, tmp, course_root=root))
        (tmp / "course_root.txt").write_text(str(root))
        run = run_nbgrader(tmp, ["generate_assignment", config.assignment, "--force"], timeout=600)
        if not run.ok or not (tmp / "gradebook.db").is_file():
            raise CourseError(f"nbgrader generate_assignment failed for the course copy in {tmp}:\n{run.output}")
        shutil.rmtree(tmp / "release", ignore_errors=True)
        (tmp / "facts.json").write_text(json.dumps(course_facts(src / config.notebook).__dict__))
        (tmp / "READY").write_text(digest)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    return target


def load_build_facts(build: Path) -> CourseFacts:
    return CourseFacts(**json.loads((build / "facts.json").read_text()))
