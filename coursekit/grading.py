"""Grade notebooks exactly as the bot grades a student's upload, and read points per task.

    scores, info = grade_notebooks({"alice": nb_or_path, "bob": ...}, workers=2)
    # scores -> {"alice": {"part1_forward": 5.0, ...}, ...}; info["autograded"]["alice"]: the graded notebook

Every notebook goes through ``gradebot.core.grading.grade_notebook``, the pipeline of a real submission: a
private copy of the course build, ``nbgrader autograde`` with trusted grading, the student's code in the bwrap
sandbox with the bot's limits, the course's ``[kernel]`` declaration (gradebot.course.toml). ``workers`` processes
grade in parallel. The bot's settings come from :func:`grading_config` (never the course's gradebook, never
``GRADEBOT_CONFIG``). Points of a task are the sum of its test cells (``gradebot.core.course_format.task_of``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import nbformat

from coursekit import ASSIGNMENT, REPO_ROOT
from gradebot.core.course_format import task_of

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from gradebot.config import Config

NOTEBOOK_ID = "numnet"


class GradingError(RuntimeError):
    pass


def task_maxima(nb: nbformat.NotebookNode) -> dict[str, float]:
    """{task: max points} from a notebook's graded cells (the source or release notebook)."""
    maxima = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            task = task_of(meta["grade_id"])
            maxima[task] = maxima.get(task, 0) + meta.get("points", 0)
    return maxima


def copy_course(dest: str | os.PathLike, course_root: str | os.PathLike = REPO_ROOT) -> None:
    """Copy what nbgrader needs of the course (config, coursekit, source, grading) to `dest`."""
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(course_root, "nbgrader_config.py"), dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(os.path.join(course_root, "coursekit"), os.path.join(dest, "coursekit"), ignore=ignore)
    shutil.copytree(os.path.join(course_root, "source"), os.path.join(dest, "source"), ignore=ignore)
    shutil.copytree(os.path.join(course_root, "grading"), os.path.join(dest, "grading"), ignore=ignore)


def read_scores(course_dir: str, students: Iterable[str]) -> dict[str, dict[str, float]]:
    """{student: {task: points}} from the gradebook of `course_dir`."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook("sqlite:///" + os.path.join(course_dir, "gradebook.db")) as gb:
        for student in students:
            try:
                submission = gb.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            except MissingEntry:
                raise GradingError(f"no graded notebook for {student!r} in {course_dir} (see the nbgrader log)")
            tasks = {}
            for grade in submission.grades:
                task = task_of(grade.name)
                tasks[task] = round(tasks.get(task, 0.0) + float(grade.score or 0.0), 6)
            scores[student] = tasks
    return scores


def grading_config(workdir: str, workers: int = 2, course_root: str = REPO_ROOT) -> Config:
    """The bot's settings for grading the course at ``course_root`` with everything private to ``workdir``."""
    from gradebot.config import Config

    return Config.make(
        data_dir=os.path.join(workdir, "data"),
        build_dir=os.path.join(workdir, "builds"),
        course_root=course_root,
        workers=workers,
        assignment=ASSIGNMENT,
        notebook=NOTEBOOK_ID + ".ipynb",
        gradebook_url="sqlite:///" + os.path.join(workdir, "gradebook.db"),
    )


def _grade_one(job):
    """In a worker process: grade one notebook with the bot's pipeline; writes the graded notebook."""
    name, data, settings, out_path = job
    from gradebot.config import Config
    from gradebot.core.grading import grade_notebook
    from gradebot.core.sandbox import acquire_slot, release_slot

    slot = acquire_slot()
    try:
        outcome = grade_notebook(data, Config.make(**settings), slot=slot)
    finally:
        release_slot(slot)
    if outcome.notebook is not None:
        nbformat.write(outcome.notebook, out_path)
    result = outcome.result
    return name, {
        "tasks": {t: round(v["points"], 6) for t, v in result.tasks.items()},
        "total": result.total,
        "verdict": result.verdict,
        "messages": list(result.messages),
    }


def grade_notebooks(
    submissions: Mapping[str, nbformat.NotebookNode | str | os.PathLike],
    workers: int = 2,
    workdir: str | None = None,
    course_root: str = REPO_ROOT,
    keep: bool = False,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Grade {name: notebook (NotebookNode or path)}; returns ({name: {task: points}}, info dict).

    ``info``: ``seconds``, ``workdir``, ``autograded`` ({name: path of the graded notebook}) and ``results``
    ({name: {"tasks", "total", "verdict", "messages"}}). `workdir` (default: a new temporary directory, removed
    unless `keep`) holds the course build, the bot's data dir and the graded notebooks."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="numnet_grading_")
    started = time.monotonic()
    try:
        settings = grading_config(workdir, workers, course_root).to_dict()
        out_dir = os.path.join(workdir, "autograded")
        os.makedirs(out_dir, exist_ok=True)
        jobs = []
        for name, nb in submissions.items():
            if not isinstance(nb, nbformat.NotebookNode):
                nb = nbformat.read(nb, as_version=4)
            jobs.append((name, nbformat.writes(nb).encode("utf-8"), settings, os.path.join(out_dir, name + ".ipynb")))
        # spawned, not forked: the workers start nbgrader and sandboxes of their own
        with ProcessPoolExecutor(
            max(1, min(workers, len(jobs))), mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            results = dict(pool.map(_grade_one, jobs))
        scores = {name: r["tasks"] for name, r in results.items()}
        info = {
            "seconds": time.monotonic() - started,
            "workdir": workdir,
            "results": results,
            "autograded": {name: path for name, _, _, path in jobs if os.path.isfile(path)},
        }
        return scores, info
    finally:
        if own_dir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m coursekit.grading [--course DIR]``: points per task of every graded student, as CSV."""
    import argparse
    import csv

    from nbgrader.api import Gradebook

    from coursekit import TASKS

    parser = argparse.ArgumentParser(description="Points per task of every autograded student (CSV on stdout).")
    parser.add_argument("--course", default=REPO_ROOT, help="course root (has gradebook.db)")
    args = parser.parse_args(argv)
    db = os.path.join(args.course, "gradebook.db")
    if not os.path.exists(db):
        parser.error(f"no gradebook at {db}: run nbgrader generate_assignment/autograde there first")
    with Gradebook("sqlite:///" + db) as gb:
        students = [s.id for s in gb.students if any(sub.assignment.name == ASSIGNMENT for sub in s.submissions)]
    scores = read_scores(args.course, students)
    writer = csv.writer(sys.stdout)
    writer.writerow(["student_id"] + list(TASKS) + ["total"])
    for student in students:
        row = [scores[student].get(task, 0.0) for task in TASKS]
        writer.writerow([student] + [f"{v:g}" for v in row] + [f"{sum(row):g}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
