"""Plain data objects the core hands to front ends (see docs/gradebot_core_api.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gradebot.core import notes

VERDICTS = ("ok", "timeout", "memory", "output-limit", "sandbox-violation", "invalid-notebook", "refused", "error")
STATUSES = ("queued", "grading", "done", "failed")


def failed_tests(messages: list[str]) -> list[tuple[str, str]]:
    """[(grade_id, reason)] of the result messages that say a graded cell failed (``"<grade_id>: failed
    (<reason>)"``, the grader's message as the reason); other messages (time-outs, penalties) are left out."""
    out = []
    for m in messages or []:
        parsed = notes.parse(m)
        if parsed is not None and parsed[0] == "failed":
            out.append((parsed[1]["gid"], parsed[1]["reason"]))
    return out


@dataclass
class Student:
    student_id: str
    name: str
    group: str
    telegram_user_id: int | None = None
    # the access code's hash (gradebot.core.access.hash_code; None: no code issued yet); the code itself is never
    # stored. Kept out of repr() and logs all the same.
    code_hash: str | None = field(default=None, repr=False)


@dataclass
class Result:
    """Points of one graded attempt.

    ``tasks``: {task: {"points": float, "max": float}}, task = grade_id prefix before ``__``.
    ``total`` is the sum of task points (minus a late penalty, if any, which ``messages`` then mentions).
    ``cells`` (internal, not in :meth:`to_json`): {grade_id: points} as nbgrader scored each grade cell.
    """

    total: float
    max: float
    tasks: dict[str, dict]
    verdict: str = "ok"
    messages: list[str] = field(default_factory=list)
    cells: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "max": self.max,
            "tasks": {k: {"points": v["points"], "max": v["max"]} for k, v in self.tasks.items()},
            "verdict": self.verdict,
            "messages": list(self.messages),
        }

    def to_store(self) -> dict:
        d = self.to_json()
        d["cells"] = dict(self.cells)
        return d

    @classmethod
    def from_store(cls, d: dict[str, Any] | None) -> "Result | None":
        if d is None:
            return None
        return cls(
            total=float(d["total"]),
            max=float(d["max"]),
            tasks=d["tasks"],
            verdict=d.get("verdict", "ok"),
            messages=list(d.get("messages", [])),
            cells=dict(d.get("cells", {})),
        )


@dataclass
class Submission:
    id: int
    student_id: str
    filename: str
    created_at: datetime
    status: str  # queued | grading | done | failed
    late: bool
    result: Result | None
    error: str | None
    source: str = "cli"
    finished_at: datetime | None = None
    deliveries: int = 0  # how many times a worker claimed it (> 1 = redelivered after a crash)
