"""Autograde notebooks with nbgrader in throw-away copies of the course, and read points per task.

    scores = autograde_notebooks({"alice": nb_or_path, "bob": ...}, workers=2)
    # -> {"alice": {"part1_forward": 5.0, ...}, ...}

The course (nbgrader_config.py, coursekit/, source/) is copied to a temporary directory, ``nbgrader
generate_assignment`` fills a fresh gradebook there, the submissions go to ``submitted/<id>/numnet/`` and
``nbgrader autograde numnet`` grades them; with ``workers=2`` the students are split over two course copies
graded in parallel (one kernel per copy at a time). Points of a task are the sum of its test cells
(grade_id ``<task>__<name>``).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat

from coursekit import ASSIGNMENT, REPO_ROOT

NOTEBOOK_ID = "numnet"


class GradingError(RuntimeError):
    pass


def task_of(grade_id):
    """'part1_forward__dense' -> 'part1_forward'."""
    task, sep, _ = grade_id.partition("__")
    if not sep:
        raise ValueError("grade_id %r is not <task>__<name>" % grade_id)
    return task


def task_maxima(nb):
    """{task: max points} from a notebook's graded cells (the source or release notebook)."""
    maxima = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            task = task_of(meta["grade_id"])
            maxima[task] = maxima.get(task, 0) + meta.get("points", 0)
    return maxima


def grading_env(base=None):
    """The environment nbgrader (and the kernel it starts) needs; NUMNET_MNIST_DIR must point to MNIST."""
    env = dict(os.environ if base is None else base)
    env.setdefault("KERAS_BACKEND", "jax")
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "numnet_keras_home"))
    if not env.get("NUMNET_MNIST_DIR"):
        raise GradingError("set NUMNET_MNIST_DIR to the directory with the four MNIST .gz files "
                           "(e.g. export NUMNET_MNIST_DIR=/path/to/mnist) before grading")
    env["PYTHONHASHSEED"] = "0"
    return env


def _nbgrader(args, cwd, env, log):
    cmd = [sys.executable, "-m", "nbgrader"] + args
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def copy_course(dest, course_root=REPO_ROOT):
    """Copy what nbgrader needs of the course (config, coursekit, source, grading) to `dest`."""
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(course_root, "nbgrader_config.py"), dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(os.path.join(course_root, "coursekit"), os.path.join(dest, "coursekit"), ignore=ignore)
    shutil.copytree(os.path.join(course_root, "source"), os.path.join(dest, "source"), ignore=ignore)
    shutil.copytree(os.path.join(course_root, "grading"), os.path.join(dest, "grading"), ignore=ignore)


def read_scores(course_dir, students):
    """{student: {task: points}} from the gradebook of `course_dir`."""
    from nbgrader.api import Gradebook, MissingEntry
    scores = {}
    with Gradebook("sqlite:///" + os.path.join(course_dir, "gradebook.db")) as gb:
        for student in students:
            try:
                submission = gb.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            except MissingEntry:
                raise GradingError("no graded notebook for %r in %s (see the nbgrader log)" % (student, course_dir))
            tasks = {}
            for grade in submission.grades:
                task = task_of(grade.name)
                tasks[task] = round(tasks.get(task, 0.0) + float(grade.score or 0.0), 6)
            scores[student] = tasks
    return scores


def autograde_notebooks(submissions, workers=2, workdir=None, course_root=REPO_ROOT, env=None, keep=False,
                        files=None):
    """Grade {student_id: notebook (NotebookNode or path)}; returns ({student: {task: points}}, info dict).

    `workers` course copies are graded in parallel (students split round-robin). `workdir` (default: a new
    temporary directory, removed unless `keep`) holds the copies and the nbgrader logs. `files`
    ({student_id: {file name: text}}) are put next to that student's notebook, as a submission may ship them."""
    env = grading_env(env)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="numnet_grading_")
    started = time.monotonic()
    try:
        base = os.path.join(workdir, "base")
        copy_course(base, course_root)
        log = os.path.join(workdir, "generate.log")
        proc = _nbgrader(["generate_assignment", ASSIGNMENT, "--force"], base, env, log)
        if proc.wait() != 0:
            raise GradingError("nbgrader generate_assignment failed, see %s:\n%s" % (log, _tail(log)))
        students = list(submissions)
        shards = [students[i::workers] for i in range(max(1, min(workers, len(students))))]
        procs = []
        for i, shard in enumerate(shards):
            course = os.path.join(workdir, "course%d" % i)
            shutil.copytree(base, course)
            for student in shard:
                nb = submissions[student]
                if not isinstance(nb, nbformat.NotebookNode):
                    nb = nbformat.read(nb, as_version=4)
                dest = os.path.join(course, "submitted", student, ASSIGNMENT)
                os.makedirs(dest, exist_ok=True)
                nbformat.write(nb, os.path.join(dest, NOTEBOOK_ID + ".ipynb"))
                for name, text in (files or {}).get(student, {}).items():
                    with open(os.path.join(dest, name), "w", encoding="utf-8") as f:
                        f.write(text)
            log = os.path.join(workdir, "autograde%d.log" % i)
            procs.append((course, shard, log, _nbgrader(["autograde", ASSIGNMENT, "--create", "--force"],
                                                        course, env, log)))
        scores = {}
        for course, shard, log, proc in procs:
            if proc.wait() != 0:
                raise GradingError("nbgrader autograde failed, see %s:\n%s" % (log, _tail(log)))
            scores.update(read_scores(course, shard))
        info = {"seconds": time.monotonic() - started, "workdir": workdir,
                "autograded": {s: os.path.join(c, "autograded", s, ASSIGNMENT, NOTEBOOK_ID + ".ipynb")
                               for c, shard, _, _ in procs for s in shard}}
        return scores, info
    finally:
        if own_dir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _tail(path, n=40):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def main(argv=None):
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
        parser.error("no gradebook at %s: run nbgrader generate_assignment/autograde there first" % db)
    with Gradebook("sqlite:///" + db) as gb:
        students = [s.id for s in gb.students
                    if any(sub.assignment.name == ASSIGNMENT for sub in s.submissions)]
    scores = read_scores(args.course, students)
    writer = csv.writer(sys.stdout)
    writer.writerow(["student_id"] + list(TASKS) + ["total"])
    for student in students:
        row = [scores[student].get(task, 0.0) for task in TASKS]
        writer.writerow([student] + ["%g" % v for v in row] + ["%g" % sum(row)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
