"""Class statistics for the instructor: pure functions from the roster, the submissions and the course's facts to
one :class:`ClassStats` (JSON via :meth:`ClassStats.to_json`). Only :func:`service_stats` reads anything (the
store and the course, through a :class:`~gradebot.core.service.GradingService`).

What counts. The *counted attempt* of a student is the one the grades use (:func:`gradebot.core.gradebook.counted`
with the course's ``counting``: the latest graded attempt, or the best total): only submissions with status
``done`` and a result count. A submission whose grading failed (status ``failed``: the bot could not grade it,
not "the tests failed") or that is still queued/grading never counts; a student whose attempts are all such has
no counted attempt, like a student who never submitted. Scores, task points and pass rates are over counted
attempts (one per student); verdict counts and the timeline are over every submission.

The class is the roster: submissions of ids no longer on it are left out (``ClassStats.off_roster`` counts them).
Totals are the result's ``total`` (after a late penalty); task points are the result's task points (before it).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from gradebot.core.course import CourseFacts
from gradebot.core.course_format import task_of
from gradebot.core.gradebook import counted
from gradebot.core.models import VERDICTS, Student, Submission, failed_tests

if TYPE_CHECKING:
    from gradebot.core.service import GradingService

EPS = 1e-9  # points within this of the maximum are full marks
MAX_CAUSES = 5  # failure causes kept per grade cell (the most frequent)
MAX_EXAMPLES = 3  # example submission ids kept per cause
HOURLY_SPAN = timedelta(days=3)  # unit "auto": hourly buckets up to this span, daily beyond


# ---------------------------------------------------------------- data


@dataclass
class Distribution:
    """Points of one quantity (a task, or the total) over the counted attempts.

    ``n``: counted attempts; ``mean``; ``median``, ``q1``, ``q3``: quartiles by linear interpolation between the
    sorted values (value at position p*(n-1), numpy's default); ``low``/``high``: smallest/largest value;
    ``full_share``: share of the n attempts at the maximum ``max_points``. All None when n == 0."""

    max_points: float
    n: int
    mean: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    low: float | None = None
    high: float | None = None
    full_share: float | None = None


@dataclass
class TaskStats:
    task: str  # grade-id prefix before "__"
    title: str  # the title students read (CourseFacts.task_title)
    points: Distribution


@dataclass
class Histogram:
    """Totals of the counted attempts in bins of ``width`` points: bin i is [edges[i], edges[i+1]), the last one
    closed (it holds the maximum). ``no_counted``: roster students without a counted attempt (not in any bin), of
    whom ``no_submission`` never submitted (the others' attempts all failed or are still pending)."""

    width: float
    edges: list[float]
    counts: list[int]
    no_counted: int
    no_submission: int


@dataclass
class FailureCause:
    """One reason a grade cell failed. ``text``: the failure message with numbers replaced by ``N`` and memory
    addresses by ``0x…`` (so that "expected 3, got 4" and "expected 5, got 2" are one cause); "" when the cell lost
    points without a message of its own (e.g. the notebook timed out before it). ``count``: counted attempts that
    failed the cell with this cause; ``examples``: up to 3 of their submission ids (lowest first); ``sample``: the
    message of the first example as written."""

    text: str
    count: int
    examples: list[int]
    sample: str


@dataclass
class CellStats:
    """One grade cell (visible and hidden tests of a cell together). It *passes* in an attempt when its points
    equal its maximum. ``attempts``: counted attempts; ``passed``: of them, those passing; ``pass_rate``:
    passed / attempts (None without attempts); ``causes``: the 5 most frequent failure causes, most frequent first
    (ties: with a message before without, then alphabetical). An attempt failing a cell counts once per cause."""

    grade_id: str
    name: str  # the test's name students read (CourseFacts.test_name)
    task: str
    max_points: float
    attempts: int
    passed: int
    pass_rate: float | None
    causes: list[FailureCause] = field(default_factory=list)


@dataclass
class TimeBucket:
    start: datetime  # bucket start in the deadline's time zone (UTC without a deadline)
    on_time: int  # submissions in [start, start + unit) not marked late
    late: int  # submissions marked late when received (after the deadline or the student's extension)


@dataclass
class Timeline:
    """Every submission of the class by the time it was received, in consecutive buckets of one ``unit`` (hour or
    day) from the first submission to the last, stretched to include the deadline's bucket."""

    unit: str
    buckets: list[TimeBucket]
    deadline: datetime | None


@dataclass
class ClassStats:
    """Everything the statistics page and ``gradebot report`` show (see the module docstring for what counts).

    ``students``: roster size; ``submitting``: students with a submission; ``counted``: students with a counted
    attempt; ``submissions``/``late_submissions``: every submission of roster students / of them marked late;
    ``off_roster``: submissions of ids not on the roster (left out); ``verdicts``: every submission by outcome —
    the result's verdict (ok, timeout, memory, ...) when graded, ``failed`` when grading failed, ``pending`` while
    queued or grading."""

    counting: str
    deadline: datetime | None
    max_total: float
    students: int
    submitting: int
    counted: int
    submissions: int
    late_submissions: int
    off_roster: int
    total: Distribution
    histogram: Histogram
    tasks: list[TaskStats]
    cells: list[CellStats]
    verdicts: dict[str, int]
    timeline: Timeline

    def to_json(self) -> dict:
        """Plain JSON types: datetimes as ISO strings, floats rounded to 6 digits."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


# ---------------------------------------------------------------- computing


def class_stats(
    students: list[Student],
    submissions: list[Submission],
    facts: CourseFacts,
    *,
    counting: str = "latest",
    deadline: datetime | None = None,
    unit: str = "auto",
    bin_width: float | None = None,
) -> ClassStats:
    """The class's statistics. ``counting``: latest | best (the config's); ``deadline``: the config's
    (``Config.deadline_dt()``), drawn on the timeline and setting its time zone; ``unit``: auto | hour | day for the
    timeline; ``bin_width``: histogram bin width in points (default: :func:`nice_width`)."""
    if counting not in ("latest", "best"):
        raise ValueError(f"counting={counting!r}: use 'latest' or 'best'")
    roster = {s.student_id for s in students}
    mine = [s for s in submissions if s.student_id in roster]
    by_student: dict[str, list[Submission]] = {}
    for s in mine:
        by_student.setdefault(s.student_id, []).append(s)
    attempts = [c for c in (counted(subs, counting) for subs in by_student.values()) if c is not None]
    attempts.sort(key=lambda s: s.id)
    max_total = facts.max_total
    return ClassStats(
        counting=counting,
        deadline=deadline,
        max_total=max_total,
        students=len(roster),
        submitting=len(by_student),
        counted=len(attempts),
        submissions=len(mine),
        late_submissions=sum(bool(s.late) for s in mine),
        off_roster=len(submissions) - len(mine),
        total=distribution([a.result.total for a in attempts], max_total),
        histogram=histogram(
            [a.result.total for a in attempts],
            max_total,
            no_counted=len(roster) - len(attempts),
            no_submission=len(roster) - len(by_student),
            width=bin_width,
        ),
        tasks=task_stats(attempts, facts),
        cells=cell_stats(attempts, facts),
        verdicts=verdict_counts(mine),
        timeline=timeline(mine, deadline, unit),
    )


def quantile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation at position p*(n-1) of the sorted values (numpy's default method)."""
    pos = p * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


def distribution(values: list[float], max_points: float) -> Distribution:
    """:class:`Distribution` of ``values`` (points out of ``max_points``)."""
    if not values:
        return Distribution(max_points=max_points, n=0)
    v = sorted(float(x) for x in values)
    return Distribution(
        max_points=max_points,
        n=len(v),
        mean=sum(v) / len(v),
        median=quantile(v, 0.5),
        q1=quantile(v, 0.25),
        q3=quantile(v, 0.75),
        low=v[0],
        high=v[-1],
        full_share=sum(x >= max_points - EPS for x in v) / len(v),
    )


def nice_width(max_total: float, max_bins: int = 20) -> float:
    """The smallest bin width of the form 1, 2 or 5 times a power of ten giving at most ``max_bins`` bins over
    0..max_total (45 points -> 5, 5 points -> 0.5, 100 points -> 5)."""
    if max_total <= 0:
        return 1.0
    exponent = math.floor(math.log10(max_total / max_bins))
    for e in (exponent, exponent + 1):
        for m in (1, 2, 5):
            width = m * 10.0**e
            if max_total / width <= max_bins + EPS:
                return width
    return 10.0 ** (exponent + 2)


def histogram(
    totals: list[float], max_total: float, *, no_counted: int, no_submission: int, width: float | None = None
) -> Histogram:
    """:class:`Histogram` of ``totals`` over 0..max_total (values outside are put in the first/last bin)."""
    width = float(width or nice_width(max_total))
    n_bins = max(1, math.ceil(max_total / width - EPS))
    counts = [0] * n_bins
    for t in totals:
        counts[min(max(math.floor(t / width + EPS), 0), n_bins - 1)] += 1
    return Histogram(
        width=width,
        edges=[round(i * width, 9) for i in range(n_bins + 1)],
        counts=counts,
        no_counted=no_counted,
        no_submission=no_submission,
    )


def task_stats(attempts: list[Submission], facts: CourseFacts) -> list[TaskStats]:
    """Per task of the course (its order): the distribution of the task's points over the counted attempts (a task
    missing from a result counts 0)."""
    return [
        TaskStats(
            task=task,
            title=facts.task_title(task),
            points=distribution([_task_points(a, task) for a in attempts], maximum),
        )
        for task, maximum in facts.tasks.items()
    ]


def _task_points(sub: Submission, task: str) -> float:
    return float((sub.result.tasks.get(task) or {}).get("points", 0.0))


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_SPACE = re.compile(r"\s+")


def normalise_message(text: str) -> str:
    """A failure message with what differs between identical causes taken out: memory addresses -> ``0x…``,
    numbers (not digits inside names such as ``float64``) -> ``N``, runs of white space -> one space."""
    text = _ADDRESS.sub("0x…", text)
    text = _NUMBER.sub("N", text)
    return _SPACE.sub(" ", text).strip()[:300]


def cell_stats(attempts: list[Submission], facts: CourseFacts) -> list[CellStats]:
    """Per grade cell of the course (its order): pass rate over the counted attempts and the failure causes."""
    failures: dict[str, dict[str, list[tuple[int, str]]]] = {gid: {} for gid in facts.cells}
    passed = Counter()
    for a in attempts:
        reasons: dict[str, list[str]] = {}
        for gid, text in failed_tests(a.result.messages):
            reasons.setdefault(gid, []).append(text)
        for gid, maximum in facts.cells.items():
            if float(a.result.cells.get(gid, 0.0)) >= maximum - EPS:
                passed[gid] += 1
                continue
            by_cause: dict[str, str] = {}
            for text in reasons.get(gid, []):
                by_cause.setdefault(normalise_message(text), text)
            for cause, sample in (by_cause or {"": ""}).items():
                failures[gid].setdefault(cause, []).append((a.id, sample))
    out = []
    for gid, maximum in facts.cells.items():
        causes = [
            FailureCause(
                text=cause, count=len(hits), examples=sorted(i for i, _ in hits)[:MAX_EXAMPLES], sample=min(hits)[1]
            )
            for cause, hits in failures[gid].items()
        ]
        causes.sort(key=lambda c: (-c.count, not c.text, c.text))  # ties: causes with a message first
        n = len(attempts)
        out.append(
            CellStats(
                grade_id=gid,
                name=facts.test_name(gid),
                task=task_of(gid),
                max_points=maximum,
                attempts=n,
                passed=passed[gid],
                pass_rate=passed[gid] / n if n else None,
                causes=causes[:MAX_CAUSES],
            )
        )
    return out


def verdict_counts(submissions: list[Submission]) -> dict[str, int]:
    """Every submission by outcome (see :class:`ClassStats`), in the order of ``VERDICTS`` then failed, pending;
    outcomes that did not occur are left out."""
    counts = Counter()
    for s in submissions:
        if s.status == "done" and s.result is not None:
            counts[s.result.verdict] += 1
        elif s.status == "failed":
            counts["failed"] += 1
        else:
            counts["pending"] += 1
    order = list(VERDICTS) + sorted(set(counts) - set(VERDICTS) - {"failed", "pending"}) + ["failed", "pending"]
    return {k: counts[k] for k in order if counts[k]}


def _floor(dt: datetime, unit: str) -> datetime:
    dt = dt.replace(minute=0, second=0, microsecond=0)
    return dt.replace(hour=0) if unit == "day" else dt


def timeline(submissions: list[Submission], deadline: datetime | None, unit: str = "auto") -> Timeline:
    """:class:`Timeline` of the submissions; ``unit`` auto = hourly buckets when the span (with the deadline) is at
    most 3 days, daily otherwise."""
    if unit not in ("auto", "hour", "day"):
        raise ValueError(f"unit={unit!r}: use auto, hour or day")
    tz = deadline.tzinfo if deadline is not None and deadline.tzinfo is not None else timezone.utc
    times = [s.created_at.astimezone(tz) for s in submissions]
    if not times:
        return Timeline(unit="day" if unit == "auto" else unit, buckets=[], deadline=deadline)
    ends = times + ([deadline.astimezone(tz)] if deadline is not None else [])
    first, last = min(ends), max(ends)
    if unit == "auto":
        unit = "hour" if last - first <= HOURLY_SPAN else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    start = _floor(first, unit)
    n = int((_floor(last, unit) - start) / step) + 1
    buckets = [TimeBucket(start=start + i * step, on_time=0, late=0) for i in range(n)]
    for s, t in zip(submissions, times):
        b = buckets[int((_floor(t, unit) - start) / step)]
        if s.late:
            b.late += 1
        else:
            b.on_time += 1
    return Timeline(unit=unit, buckets=buckets, deadline=deadline)


def service_stats(service: GradingService, unit: str = "auto") -> ClassStats:
    """:func:`class_stats` of a :class:`~gradebot.core.service.GradingService`'s store, course and config."""
    config = service.config
    return class_stats(
        service.list_students(),
        service.store.list_submissions(),
        service.course_facts(),
        counting=config.counting,
        deadline=config.deadline_dt(),
        unit=unit,
    )
