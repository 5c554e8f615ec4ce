"""The grading job every backend's workers run: :func:`process_submission` (idempotent, see backends/base.py)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot.core import gradebook, notes
from gradebot.core.errors import CourseError, SandboxUnavailable
from gradebot.core.grading import grade_notebook, invalid

if TYPE_CHECKING:
    from collections.abc import Callable

    from gradebot.config import Config
    from gradebot.core.store import Store

log = logging.getLogger("gradebot.jobs")


def process_submission(
    config: Config,
    store: Store,
    submission_id: int,
    slot: int = 0,
    read_blob: Callable[[str], bytes] | None = None,
) -> str:
    """Grade one stored submission and record the outcome once. Returns the final status."""
    sub = store.get_submission(submission_id)
    if sub is None:
        log.error("job for unknown submission %s dropped", submission_id)
        return "missing"
    if sub.status in ("done", "failed"):
        return sub.status  # redelivered after it was recorded: nothing to do
    deliveries = store.mark_grading(submission_id)
    if deliveries > config.max_deliveries:
        msg = notes.make("gave_up", times=deliveries - 1)
        from gradebot.core.course import course_facts

        try:
            tasks = course_facts(config.source_notebook).tasks
        except CourseError:
            tasks = {}
        _finish(config, store, sub, "failed", invalid(tasks, msg, verdict="error"), msg, None)
        return "failed"
    try:
        path = store.blob_path(submission_id)
        data = read_blob(path) if read_blob else Path(path).read_bytes()
        outcome = grade_notebook(data, config, slot=slot, late=sub.late)
    except store.transient_errors:
        raise  # database outage: the backend retries the job, nothing recorded
    except (SandboxUnavailable, CourseError) as exc:
        log.error("submission %s cannot be graded: %s", submission_id, exc)
        _finish(config, store, sub, "failed", None, f"grading is unavailable: {exc}", None)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker
        log.error("submission %s: internal error\n%s", submission_id, traceback.format_exc())
        _finish(config, store, sub, "failed", None, f"internal error while grading: {exc}", None)
        return "failed"
    _finish(config, store, sub, "done", outcome.result, None, outcome.feedback_html)
    return "done"


def _finish(config, store, sub, status: str, result, error: str | None, feedback_html: str | None) -> None:
    """Record the outcome (once: ``store.finish`` is compare-and-set) and, if this call recorded it, write the
    student's counted attempt into the course gradebook: a new result may change which attempt counts, and so may
    a failure (a regraded attempt that fails no longer counts)."""
    if not store.finish(sub.id, status, result, error, feedback_html):
        return
    try:
        gradebook.record_counted(config, store, sub.student_id)
    except Exception as exc:  # noqa: BLE001 - the result is stored; the CSV export can be redone
        log.error("could not record submission %s in the course gradebook: %s", sub.id, exc)
