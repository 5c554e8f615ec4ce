"""The instructor's view of the class: one row per roster student, and the grade exports built from it.

:func:`build` turns the store's students, submissions, deadline extensions and regrade counts into a
:class:`ClassTable` (pure: no store, no I/O, so it can be timed and tested alone); the cockpit's class page, its
JSON API and the CSV exports all read that one structure. Which attempt counts is
:func:`gradebot.core.gradebook.counted` (``config.counting``), the same rule the course gradebook uses.

CSV exports (every roster student, one row each; a student without a counted attempt gets zeros):

- :func:`grades_csv`: the columns of ``nbgrader export`` (:data:`NBGRADER_COLUMNS`), with the same arithmetic as
  the bot's gradebook entries: ``raw_score`` = the sum of the grade cells' points, ``late_submission_penalty`` =
  what the late penalty took off, ``score = raw_score - penalty``;
- :func:`tasks_csv`: points per task of the counted attempt; :func:`tests_csv`: points per test (grade cell).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gradebot.core import deadlines, gradebook
from gradebot.core.models import Student, Submission

# the header `nbgrader export` writes (nbgrader.plugins.export.CsvExportPlugin)
NBGRADER_COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)
# what the status filter accepts: the status of the student's latest submission, "none" (nothing submitted) and
# "late" (the counted attempt came after the student's deadline)
STATUS_FILTERS = ("none", "queued", "grading", "done", "failed", "late")


@dataclass
class ClassTable:
    """``tasks``: [(task, title, max points)] in course order; ``tests``: [(grade id, max points)];
    ``rows``: one dict per roster student (see :func:`student_row`); ``groups``: the groups, sorted."""

    tasks: list[tuple[str, str, float]]
    tests: list[tuple[str, float]]
    rows: list[dict]
    groups: list[str] = field(default_factory=list)
    max_total: float | None = None

    def filtered(self, group: str | None = None, status: str | None = None) -> list[dict]:
        """The rows of ``group`` (any if empty) whose status is ``status`` (any if empty; see STATUS_FILTERS)."""
        if status and status not in STATUS_FILTERS:
            raise ValueError(f"status {status!r}: use one of {', '.join(STATUS_FILTERS)}")
        out = []
        for row in self.rows:
            if group and row["group"] != group:
                continue
            if status == "late":
                if not (row["counted"] and row["counted"]["late"]):
                    continue
            elif status and row["status"] != status:
                continue
            out.append(row)
        return out


def _score(sub: Submission | None) -> dict | None:
    if sub is None or sub.result is None:
        return None
    return {"id": sub.id, "total": sub.result.total, "max": sub.result.max}


def student_row(
    st: Student,
    subs: list[Submission],
    deadline: datetime | None,
    extension: datetime | None,
    regrades: dict[int, int],
    counting: str,
) -> dict:
    """One student's row: ``student_id, name, group, deadline`` (the one that applies), ``extension`` (their own,
    or None), ``status`` (of the latest submission; "none"), ``attempts``, ``latest``/``best`` (``{"id", "total",
    "max"}`` of the latest graded and the best graded attempt, or None), ``counted`` (the attempt that counts:
    ``{"id", "total", "max", "late", "verdict", "tasks": {task: points}, "tests": {grade id: points}}`` or None)
    and ``submissions`` (newest first: ``id, created_at, late, status, verdict, total, max, tasks`` (the result's
    ``{task: {"points", "max"}}``), ``error, regrades, counted, filename``). Results are referenced, not copied
    (a class of 500 has thousands)."""
    graded = [s for s in subs if s.status == "done" and s.result is not None]
    latest = max(graded, key=lambda s: s.id) if graded else None
    best = max(graded, key=lambda s: (s.result.total, s.id)) if graded else None
    c = gradebook.counted(subs, counting)
    counted = None
    if c is not None:
        counted = {
            "id": c.id,
            "total": c.result.total,
            "max": c.result.max,
            "late": c.late,
            "verdict": c.result.verdict,
            "tasks": {task: float(v["points"]) for task, v in c.result.tasks.items()},
            "tests": c.result.cells,
            "submitted_at": c.created_at,
        }
    history = []
    for s in sorted(subs, key=lambda s: s.id, reverse=True):
        history.append(
            {
                "id": s.id,
                "created_at": s.created_at,
                "late": s.late,
                "status": s.status,
                "verdict": s.result.verdict if s.result is not None else None,
                "total": s.result.total if s.result is not None else None,
                "max": s.result.max if s.result is not None else None,
                "tasks": s.result.tasks if s.result is not None else {},
                "error": s.error,
                "regrades": regrades.get(s.id, 0),
                "counted": c is not None and s.id == c.id,
                "filename": s.filename,
            }
        )
    return {
        "student_id": st.student_id,
        "name": st.name,
        "group": st.group,
        "deadline": deadline,
        "extension": extension,
        "status": history[0]["status"] if history else "none",
        "attempts": len(subs),
        "latest": _score(latest),
        "best": _score(best),
        "counted": counted,
        "submissions": history,
    }


def build(
    students: list[Student],
    submissions: list[Submission],
    extensions: dict[str, datetime],
    regrades: dict[int, int],
    config: Any,
    facts: Any = None,
) -> ClassTable:
    """The class table of the roster ``students`` (``submissions`` of everyone, any order). ``facts``: the course's
    :class:`~gradebot.core.course.CourseFacts` for task order, titles and maxima (None: taken from the results)."""
    by_student: dict[str, list[Submission]] = {}
    for s in submissions:
        by_student.setdefault(s.student_id, []).append(s)
    course_deadline = config.deadline_dt()
    rows = [
        student_row(
            st,
            by_student.get(st.student_id, []),
            deadlines.deadline_of(extensions.get(st.student_id), course_deadline),
            extensions.get(st.student_id),
            regrades,
            config.counting,
        )
        for st in students
    ]
    if facts is not None:
        tasks = [(task, facts.task_title(task), float(m)) for task, m in facts.tasks.items()]
        tests = [(gid, float(m)) for gid, m in facts.cells.items()]
        max_total = facts.max_total
    else:  # no course facts: what the results say
        task_max: dict[str, float] = {}
        test_ids: dict[str, None] = {}
        for s in submissions:
            if s.result is not None:
                for task, v in s.result.tasks.items():
                    task_max.setdefault(task, float(v["max"]))
                test_ids.update(dict.fromkeys(s.result.cells))
        tasks = [(task, task, m) for task, m in task_max.items()]
        tests = [(gid, float("nan")) for gid in test_ids]
        max_total = sum(task_max.values()) if task_max else None
    groups = sorted({st.group for st in students})
    return ClassTable(tasks=tasks, tests=tests, rows=rows, groups=groups, max_total=max_total)


# ------------------------------------------------------------------------------------------------ JSON
def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def row_to_json(row: dict) -> dict:
    """A row with its times as ISO 8601 strings."""
    out = {k: _iso(v) for k, v in row.items() if k not in ("submissions", "counted")}
    out["counted"] = None if row["counted"] is None else {k: _iso(v) for k, v in row["counted"].items()}
    out["submissions"] = [{k: _iso(v) for k, v in s.items()} for s in row["submissions"]]
    return out


# ------------------------------------------------------------------------------------------------ CSV
def _naive_utc(dt: datetime | None) -> str:
    """A time as nbgrader writes it (naive UTC, ``str(datetime)``); empty for None."""
    return "" if dt is None else str(dt.astimezone(timezone.utc).replace(tzinfo=None))


def _csv(header: list[str] | tuple[str, ...], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def grades_csv(table: ClassTable, config: Any) -> str:
    """The grades with the columns of ``nbgrader export`` (see the module docstring)."""
    rows = []
    for row in table.rows:
        first, _, last = (row["name"] or "").partition(" ")
        c = row["counted"]
        if c is None:
            timestamp, raw, penalty = "", 0.0, 0.0
        else:
            raw = float(sum(c["tests"].values())) if c["tests"] else float(sum(c["tasks"].values()))
            penalty = round(max(0.0, raw - c["total"]), 6) if c["late"] else 0.0
            timestamp = _naive_utc(c["submitted_at"])
        max_score = table.max_total if table.max_total is not None else (c["max"] if c else 0.0)
        rows.append(
            [
                config.assignment,
                _naive_utc(config.deadline_dt()),
                timestamp,
                row["student_id"],
                last,
                first,
                "",
                str(raw),
                str(penalty),
                str(max(0.0, raw - penalty)),
                str(float(max_score)),
            ]
        )
    return _csv(NBGRADER_COLUMNS, rows)


def tasks_csv(table: ClassTable) -> str:
    """Per task: ``student_id, name, group, submission_id, timestamp, late, <task>..., total, max``."""
    header = (
        ["student_id", "name", "group", "submission_id", "timestamp", "late"]
        + [t for t, _, _ in table.tasks]
        + ["total", "max"]
    )
    rows = []
    for row in table.rows:
        c = row["counted"]
        points = [float(c["tasks"].get(t, 0.0)) if c else 0.0 for t, _, _ in table.tasks]
        rows.append(
            [
                row["student_id"],
                row["name"],
                row["group"],
                c["id"] if c else "",
                _naive_utc(c["submitted_at"]) if c else "",
                int(bool(c and c["late"])),
            ]
            + points
            + [float(c["total"]) if c else 0.0, table.max_total if table.max_total is not None else ""]
        )
    return _csv(header, rows)


def tests_csv(table: ClassTable) -> str:
    """Per test (grade cell): ``student_id, name, group, submission_id, <grade id>..., total``."""
    header = ["student_id", "name", "group", "submission_id"] + [g for g, _ in table.tests] + ["total"]
    rows = []
    for row in table.rows:
        c = row["counted"]
        rows.append(
            [row["student_id"], row["name"], row["group"], c["id"] if c else ""]
            + [float(c["tests"].get(g, 0.0)) if c else 0.0 for g, _ in table.tests]
            + [float(c["total"]) if c else 0.0]
        )
    return _csv(header, rows)
