"""The notes of a result (``Result.messages``) and the details of a refused submission: one stable English form
per kind, made and read here.

The core writes its notes in these forms; they are what the store, the JSON API and the logs keep. What students
and instructors read is the Russian text of the same kind in the message catalog (``gradebot.messages.NOTE``,
rendered by :func:`gradebot.messages.note`), so a wording changes in the catalog alone and results stored before
it read in the new words. A note that matches no form (a course's own text, an older wording) is shown as it is.

A form is a ``str.format`` template; :func:`parse` reads its fields back (as strings). Forms are tried in order, so
a form that another one's text could also match comes after the more specific one.
"""

from __future__ import annotations

import re
from functools import cache

FORMS: dict[str, str] = {
    # a graded cell lost points; ``reason`` is the test's message (the course's words) or one of REASONS
    "failed": "{gid}: failed ({reason})",
    "late": "late submission: {penalty} penalty applied to the total",
    "job_time_limit": "grading stopped after the job time limit of {seconds} s",
    "cell_timeout": "cell {cell} timed out after {seconds} s and was interrupted",
    "cell_stopped": "cell {cell}: stopped after the time limit",
    "cell_output_limit": "cell {cell}: output limit of {limit} bytes reached; the rest was dropped",
    "cell_cpu_limit": "cell {cell}: CPU time limit of {seconds} s exceeded, the kernel was stopped",
    "cell_crashed": "cell {cell}: the kernel crashed (signal {signal}; often memory exhaustion)",
    "cell_died": "cell {cell}: the kernel died (exit status {code}); later cells were not run",
    "cell_process_died": "cell {cell}: the process running it died",
    "cell_memory": "cell {cell}: out of memory (limit {mib} MiB)",
    "cell_network": "cell {cell}: network access blocked ({error})",
    "cell_read_only": "cell {cell}: write outside the scratch dir blocked ({error})",
    "cell_denied": "cell {cell}: access denied by the sandbox ({error})",
    "cell_processes": "cell {cell}: process limit reached ({error})",
    "cell_file_size": "cell {cell}: file size limit reached ({error})",
    "cell_outside_file": "cell {cell}: access to a file outside the sandbox was blocked ({error})",
    "nbgrader_failed": "nbgrader could not grade the notebook{detail}",
    "gave_up": "grading was interrupted {times} times (the worker crashed or was killed); giving up on this submission",
    "not_utf8": "the file is not text (UTF-8): upload the .ipynb notebook itself",
    "not_json": "the file is not valid JSON ({error} at line {line}): upload the .ipynb saved by Jupyter",
    "not_notebook": "the file is JSON but not a Jupyter notebook (no 'cells'/'nbformat')",
    "bad_schema": "the notebook does not follow the nbformat schema: {error}",
    "too_large": "the file is {size} MiB; the limit is {limit} MiB (clear the outputs and upload again)",
    # why a submission was refused (the detail a front shows after the refusal's own words)
    "not_ipynb": "{filename} is not a .ipynb file: upload the notebook itself",
    "deadline_passed": "the deadline ({deadline}) has passed; submissions are closed",
}

# Reasons of a "failed" note that are the core's own words (not the course's test message).
REASONS: dict[str, str] = {
    "stderr": "the cell wrote to stderr, which nbgrader counts as an error{detail}",
}


def make(kind: str, **fields: object) -> str:
    """The note of ``kind`` with ``fields`` (KeyError for an unknown kind or a missing field)."""
    return FORMS[kind].format(**fields)


def reason(kind: str, **fields: object) -> str:
    """A failed cell's reason of ``kind`` (one of REASONS) with ``fields``."""
    return REASONS[kind].format(**fields)


# What a field may hold when it is not free text (grade ids are nbgrader's: letters, digits, '_', '.', '-').
_FIELD = {"gid": r"[A-Za-z0-9_.-]+"}


@cache
def _pattern(form: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", form)  # literal, name, literal, name, ..., literal
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_FIELD.get(p, '.*?')})" for i, p in enumerate(parts))
    return re.compile(regex + r"\Z", re.DOTALL)


def _match(forms: dict[str, str], text: str) -> tuple[str, dict[str, str]] | None:
    for kind, form in forms.items():
        m = _pattern(form).match(text)
        if m:
            return kind, m.groupdict()
    return None


def parse(text: str) -> tuple[str, dict[str, str]] | None:
    """(kind, fields) of a note written by :func:`make`, or None for any other text."""
    return _match(FORMS, text)


def parse_reason(text: str) -> tuple[str, dict[str, str]] | None:
    """(kind, fields) of a failed cell's reason written by :func:`reason`, or None (the course's own message)."""
    return _match(REASONS, text)
