"""The per-student deadline rule, in one place: the student's own deadline (an extension the instructor set) if
any, else the course's; a submission is late when it was received after that deadline (not at it).

Pure functions (no store, no clock): :meth:`GradingService.submit`, ``submission_quota``, ``deadline_for``,
``regrade`` (batched over one read of the extensions) and the class table all apply the rule through them. The
times they are given are of one clock, the database's (the service's clock, which also stamps a submission's
``created_at``): a regrade recomputes from ``created_at`` exactly what submit decided, on whichever machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


def deadline_of(own: datetime | None, course: datetime | None) -> datetime | None:
    """The deadline that applies to a student: ``own`` (their extension) if set, else ``course`` (None: none)."""
    return own if own is not None else course


def is_late(at: datetime, deadline: datetime | None) -> bool:
    """Whether something received ``at`` is late for ``deadline`` (never without a deadline)."""
    return deadline is not None and at > deadline
