"""The course's main nbgrader gradebook: which attempt counts, recording it, exporting the CSV.

Each job grades in a private gradebook copy; after a result is recorded, the student's *counted* attempt
(``config.counting``: latest or best) is written into the main gradebook (``config.main_gradebook_url()``, by
default ``<course_root>/gradebook.db``) under a file lock, so ``nbgrader export`` yields the grades CSV. Writing the
counted attempt (not "the attempt that just finished") makes this idempotent and order-independent; when no
attempt counts any more (a regrade of the only graded one failed) the student's entry is removed, so the export
never keeps a score the store no longer counts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot.core.errors import CourseError
from gradebot.core.models import Submission

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    from gradebot.config import Config
    from gradebot.core.store import Store

log = logging.getLogger("gradebot.gradebook")


def counted(submissions: list[Submission], counting: str) -> Submission | None:
    """The attempt that counts among a student's submissions: the latest graded one, or the best total
    (ties: the later one). Failed/ungraded attempts never count."""
    graded = [s for s in submissions if s.status == "done" and s.result is not None]
    if not graded:
        return None
    if counting == "best":
        return max(graded, key=lambda s: (s.result.total, s.id))
    return max(graded, key=lambda s: s.id)


_lock_factory = None


def set_lock(factory: Callable[[Config], AbstractContextManager] | None) -> None:
    """Let a backend serialize writers of the main gradebook its own way: ``factory(config)`` returns a context
    manager (the Celery backend takes a PostgreSQL advisory lock, as its workers share no filesystem).
    ``None`` restores the default, a file lock under ``data_dir`` (one machine)."""
    global _lock_factory
    _lock_factory = factory


def _locked(config):
    return (_lock_factory or file_lock)(config)


@contextmanager
def file_lock(config: Config) -> Iterator[None]:
    lock = config.data_path / "main_gradebook.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def record_counted(config: Config, store: Store, student_id: str) -> bool:
    """Make the main gradebook's entry of the student follow the store's counted attempt: write it (every grade
    cell of the notebook gets the result's points, 0 for a cell the result lacks, e.g. a refused notebook's), or,
    when no attempt counts any more (a regrade of the only graded one failed), remove the entry so no stale score
    is exported. Returns True if the gradebook was written or an entry removed; False if there was nothing to do
    or the gradebook lacks the assignment (run ``nbgrader generate_assignment`` in the course first)."""
    from nbgrader.api import Gradebook, MissingEntry

    sub = counted(store.list_submissions(student_id), config.counting)
    student = store.get_student(student_id)
    with _locked(config), warnings.catch_warnings(), Gradebook(config.main_gradebook_url()) as gb:
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy usage warns (SAWarning) on every update
        try:
            gb.find_assignment(config.assignment)
        except MissingEntry:
            if sub is not None:
                log.warning(
                    "main gradebook %s has no assignment %r; not recording",
                    config.main_gradebook_url(),
                    config.assignment,
                )
            return False
        if sub is None:
            try:
                gb.remove_submission(config.assignment, student_id)
            except MissingEntry:
                return False
            log.info("student %s has no counted attempt any more: removed from the course gradebook", student_id)
            return True
        first, _, last = (student.name if student else "").partition(" ")
        gb.update_or_create_student(student_id, first_name=first or None, last_name=last or None)
        gb.update_or_create_submission(config.assignment, student_id, timestamp=sub.created_at.replace(tzinfo=None))
        cells = {gid: float(pts) for gid, pts in sub.result.cells.items()}
        try:
            notebook = gb.find_submission_notebook(config.notebook_id, config.assignment, student_id)
        except MissingEntry:
            log.warning("notebook %s missing in the main gradebook", config.notebook_id)
            gb.db.commit()
            return True
        for grade in notebook.grades:
            grade.auto_score = cells.pop(grade.name, 0.0)
            grade.needs_manual_grade = False
        for gid in cells:
            log.warning("grade cell %s missing in the main gradebook", gid)
        # the late penalty (already taken off the result's total) as nbgrader's own field, so that
        # `nbgrader export` shows raw_score, late_submission_penalty and score like the bot does
        raw = sum(float(p) for p in sub.result.cells.values())
        notebook.late_submission_penalty = round(max(0.0, raw - sub.result.total), 6) if sub.late else 0.0
        gb.db.commit()
    return True


def export_grades_csv(config: Config, path: str | os.PathLike) -> Path:
    """``nbgrader export`` of the main gradebook to ``path`` (CSV, one row per student and assignment)."""
    out = Path(path).resolve()
    with _locked(config):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "export",
                f"--to={out}",
                f"--CourseDirectory.db_url={config.main_gradebook_url()}",
                f"--CourseDirectory.root={config.course_path}",
            ],
            cwd=config.course_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if proc.returncode != 0 or not out.is_file():
        raise CourseError(f"nbgrader export failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return out
