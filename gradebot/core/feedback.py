"""Feedback HTML for a graded notebook: visible-test output yes, hidden-test code never.

The course provides ``coursekit.feedback.safe_feedback(nb_or_path, scores=..., summary=...) -> html``; it is
imported lazily. A renderer that accepts ``summary`` (the result: total, max, verdict, messages, per-cell points)
writes the one summary of the page itself, marked by an element with ``id="feedback-summary"`` at its top; gradebot
then adds nothing. An older renderer (only ``scores``) gets gradebot's summary on top. Until the course has one
(or if it fails) gradebot renders its own: every cell with a hidden-test region (``gradebot.core.course_format``)
loses that region and its outputs (a traceback would quote hidden lines), replaced by a note with the cell's
points. Whatever produced the HTML, a final check refuses it if any hidden-test line (from
the course source) appears in it without appearing in the student's own upload; then only a summary is shown.
"""

from __future__ import annotations

import copy
import html as htmlmod
import importlib
import inspect
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot import messages as msg
from gradebot.core.course_format import has_hidden, strip_hidden

if TYPE_CHECKING:
    import nbformat

    from gradebot.core.course import CourseFacts
    from gradebot.core.models import Result

log = logging.getLogger("gradebot.feedback")


def _summary_html(result, facts=None) -> str:
    """The result's table; task titles from the course's ``facts`` (its source notebook), else the task ids."""
    title = facts.task_title if facts is not None and hasattr(facts, "task_title") else str
    rows = "".join(
        f"<tr><td>{htmlmod.escape(title(t))}</td><td>{msg.points(v['points'])}</td><td>{msg.points(v['max'])}</td></tr>"
        for t, v in result.tasks.items()
    )
    msgs = "".join(f"<li>{htmlmod.escape(msg.note(m))}</li>" for m in result.messages)
    head = msg.FB_HEAD_T.format(points=msg.points(result.total), max=msg.points(result.max))
    verdict = msg.FB_VERDICT_T.format(verdict=msg.VERDICT_EXPLAINED.get(result.verdict, result.verdict))
    return (
        f"<div class='gradebot-summary'><h2>{htmlmod.escape(head)}</h2><p>{htmlmod.escape(verdict)}</p>"
        f"<table border='1'><tr><th>{msg.FB_TASK}</th><th>{msg.FB_POINTS}</th><th>{msg.FB_MAX}</th></tr>"
        f"{rows}</table>{'<ul>' + msgs + '</ul>' if msgs else ''}</div>"
    )


_BODY_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


def _with_summary(html: str, result, facts=None) -> str:
    """``html`` with the result summary at the top of its body (after <!DOCTYPE> and <head>)."""
    match = _BODY_TAG.search(html)
    if match is None:
        return "<!DOCTYPE html><html><body>" + _summary_html(result, facts) + html + "</body></html>"
    return html[: match.end()] + _summary_html(result, facts) + html[match.end() :]


def without_hidden_tests(
    nb: nbformat.NotebookNode, result: Result | None = None, facts: CourseFacts | None = None
) -> nbformat.NotebookNode:
    """A copy of ``nb`` with hidden-test code and the outputs of cells that ran it removed (the note names the
    test as the course's ``facts`` do)."""
    nb = copy.deepcopy(nb)
    cells_pts = result.cells if result is not None else {}
    for cell in nb.cells:
        if has_hidden(cell.get("source", "")):
            cell.source = strip_hidden(cell.source, note=msg.FB_HIDDEN_CODE)
            if cell.cell_type == "code":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                pts = cells_pts.get(gid)
                name = facts.test_name(gid) if facts is not None and hasattr(facts, "test_name") and gid else gid
                label = gid if name == gid else f"{gid} ({name})"
                note = (
                    msg.FB_HIDDEN_POINTS_T.format(test=label, points=msg.points(pts))
                    if pts is not None
                    else msg.FB_HIDDEN_RAN
                )
                cell.outputs = [{"output_type": "stream", "name": "stdout", "text": note + "\n"}]
        # nbgrader's checksums etc. are of no use to a student
        cell.metadata.pop("nbgrader", None) if cell.cell_type == "markdown" else None
    return nb


def _own_html(nb, result, facts=None) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="classic", sanitize_html=True)  # student outputs may carry HTML/JS
    body, _ = exporter.from_notebook_node(without_hidden_tests(nb, result, facts))
    return _with_summary(body, result, facts)


SUMMARY_MARKERS = ('id="feedback-summary"', "id='feedback-summary'")
SUMMARY_WITHIN = 20000  # characters: the course's summary heads the page (after its <head>)


def has_own_summary(html: str) -> bool:
    """Whether the course's page already starts with a summary of the result."""
    head = html[:SUMMARY_WITHIN]
    return any(m in head for m in SUMMARY_MARKERS)


def _summary_for_course(result) -> dict:
    return {
        "total": result.total,
        "max": result.max,
        "verdict": result.verdict,
        "messages": list(result.messages),
        "cells": dict(getattr(result, "cells", {}) or {}),
    }


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _course_html(
    path: Path, scores: dict | None = None, course_root: Path | None = None, summary: dict | None = None
) -> str | None:
    """``coursekit.feedback.safe_feedback`` of the course (looked up on sys.path, then in the course root)."""
    try:
        mod = importlib.import_module("coursekit.feedback")
    except ImportError:
        if course_root is None or not (Path(course_root) / "coursekit").is_dir():
            return None
        sys.path.insert(0, str(course_root))
        try:
            mod = importlib.import_module("coursekit.feedback")
        except ImportError:
            return None
    fn = getattr(mod, "safe_feedback", None)
    if fn is None:
        return None
    try:
        if summary is not None and _accepts(fn, "summary"):
            return fn(str(path), scores=scores, summary=summary)
        try:
            return fn(str(path), scores=scores)
        except TypeError:
            return fn(str(path))
    except Exception as exc:  # noqa: BLE001 - fall back to our own rendering
        log.warning("coursekit.feedback.safe_feedback failed (%s); using gradebot's own feedback", exc)
        return None


MIN_HIDDEN_LINE = 8  # characters: shorter hidden lines (``pass``, ``x = 1``) say nothing and occur anywhere


def leaked_hidden_lines(text: str, facts: CourseFacts, student_data: bytes = b"") -> list[str]:
    """The hidden-test lines of the course (``facts.hidden_lines``) that ``text`` quotes and the student's own
    upload does not contain: the one leak check, for feedback pages and the bot's messages alike."""
    student_text = student_data.decode("utf-8", errors="replace")
    return [h for h in facts.hidden_lines if len(h) >= MIN_HIDDEN_LINE and h in text and h not in student_text]


def feedback_html(
    nb: nbformat.NotebookNode,
    path: Path | None,
    result: Result,
    facts: CourseFacts | None,
    student_data: bytes,
    course_root: Path | None = None,
) -> str:
    html = _course_html(path, result.tasks, course_root, _summary_for_course(result)) if path is not None else None
    if html is not None:
        if not has_own_summary(html):
            html = _with_summary(html, result, facts)
    else:
        html = _own_html(nb, result, facts)
    leaks = leaked_hidden_lines(html, facts, student_data)
    if leaks:
        log.error("feedback would show %d hidden-test line(s); sending the summary only", len(leaks))
        return "<html><body>" + _summary_html(result, facts) + "<p>Detailed feedback is unavailable.</p></body></html>"
    return html
