"""Feedback HTML for a student without the code of hidden tests (nbgrader's own feedback shows it).

    from coursekit.feedback import safe_feedback
    html = safe_feedback("autograded/alice/numnet/numnet.ipynb")      # or a NotebookNode

    python -m coursekit.feedback autograded/alice/numnet/numnet.ipynb -o alice.html

In every graded test cell the hidden-test regions (the rule: ``gradebot.core.course_format``) are replaced
by a short note (in Russian); errors raised in such cells keep only ``ExceptionType: message`` (a traceback would
quote hidden lines). Visible test code and all outputs stay. A summary table of points per task heads the page:
a test cell earns its points when it ran without an error, which is how nbgrader scores code test cells (pass
``scores`` to show the gradebook's numbers instead).
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import sys

import nbformat

from coursekit.course import TASK_TITLES, TEST_NAMES
from coursekit.trusted.grader import is_test_cell
from gradebot import messages as msg
from gradebot.core.course_format import has_hidden, strip_hidden, task_of
from gradebot.core.models import failed_tests

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence
    from typing import Any

HIDDEN_NOTE = msg.FB_HIDDEN_CODE
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cell_points(nb: nbformat.NotebookNode) -> list[tuple[str, float, float]]:
    """[(grade_id, points earned, max points)] for the test cells, by nbgrader's rule (no error = full points)."""
    rows = []
    for cell in nb.cells:
        if is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            failed = any(out.get("output_type") == "error" for out in cell.get("outputs", []))
            maximum = float(meta.get("points", 0))
            rows.append((meta["grade_id"], 0.0 if failed else maximum, maximum))
    return rows


def task_scores(nb: nbformat.NotebookNode) -> dict[str, dict[str, float]]:
    """{task: {"points": .., "max": ..}} from the outputs of an autograded notebook."""
    tasks = {}
    for grade_id, points, maximum in cell_points(nb):
        task = task_of(grade_id)
        entry = tasks.setdefault(task, {"points": 0.0, "max": 0.0})
        entry["points"] += points
        entry["max"] += maximum
    return tasks


def sanitize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with hidden-test code removed and the tracebacks of those cells cut to one line."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        if not has_hidden(cell.source):
            continue
        cell.source = strip_hidden(cell.source, note=HIDDEN_NOTE)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename, evalue = _ANSI.sub("", out.get("ename", "")), _ANSI.sub("", out.get("evalue", ""))
                out["ename"], out["evalue"] = ename, evalue
                out["traceback"] = [f"{ename}: {evalue}"]
    return nb


SUMMARY_ID = "feedback-summary"  # gradebot adds no summary of its own to a page that has this id at the top
MAX_OUTPUT_CHARS = 10000  # text output kept per output (start and end)
MAX_HTML_OUTPUT_CHARS = 50000
LONG_COURSE_CELL = 40  # lines: longer locked course cells (helpers) are not shown
_IMAGE = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0}th,td{border:1px solid #bbb;padding:.25rem .7rem;text-align:left}
td.num{text-align:right}tr.total td{font-weight:bold}
.verdict{padding:.4rem .6rem;border-radius:4px;background:#e8f4e8}.verdict.bad{background:#fde8e8}
ol.failed li{margin:.5rem 0}.msg{white-space:pre-wrap;background:#fff4f4;border-left:3px solid #d33;
padding:.3rem .6rem;margin-top:.2rem;font-family:ui-monospace,monospace;font-size:.9em}
.passed a{margin-right:.6rem}.note{color:#666;font-size:.9rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font-size:.85em}
pre.src{background:#f6f7f9;border:1px solid #e1e4e8;padding:.4rem .6rem}
.cell{margin:.6rem 0}.output_area pre{padding:.2rem .6rem}.output_error pre{background:#fff4f4;color:#900}
.test-head{margin-top:1.2rem;padding:.3rem .6rem;font-weight:bold;border-radius:4px;background:#e8f4e8}
.test-head.failed{background:#fde8e8}.test-head:target{outline:3px solid #f90}
img{max-width:100%}
"""

# nbconvert's classic cell markup without its CSS, prompts or syntax highlighting (the page stays small)
_TEMPLATE = """{%- extends 'classic/base.html.j2' -%}
{% block in_prompt %}{% endblock in_prompt %}
{% block empty_in_prompt %}{% endblock empty_in_prompt %}
{% block codecell %}{{ cell.metadata.get('feedback_head', '') }}{{ super() }}{%- endblock codecell %}
{% block input %}<pre class="src">{{ cell.source | escape_html }}</pre>{%- endblock input %}
"""


def test_rows(
    nb: nbformat.NotebookNode, cells: Mapping[str, float] | None = None
) -> list[tuple[str, float, float, str, str]]:
    """[(grade_id, points earned, max, message or '', cell id)] of the test cells, failed tests first (in notebook
    order). The message is the grader's (the error output's text); the trusted grader writes an error output
    exactly when a test failed. `cells` ({grade_id: points}, e.g. from the gradebook) overrides nbgrader's rule."""
    rows = []
    for cell in nb.cells:
        if is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            message = _ANSI.sub("", str(errors[0].get("evalue", "") or errors[0].get("ename", ""))) if errors else ""
            maximum = float(meta.get("points", 0))
            got = 0.0 if errors else maximum
            if cells and meta["grade_id"] in cells:
                got = float(cells[meta["grade_id"]])
            rows.append((meta["grade_id"], got, maximum, message, cell.get("id", "")))
    return sorted(rows, key=lambda r: r[1] >= r[2])


def _anchor(grade_id):
    return "test-" + re.sub(r"[^A-Za-z0-9_.-]", "_", grade_id)


def _summary_html(tasks, summary=None):
    summary = summary or {}
    rows = []
    for task, entry in tasks.items():
        title = html.escape(TASK_TITLES.get(task, task))
        rows.append(
            f'<tr><td>{title}</td><td class="num">{msg.points(entry["points"])}</td>'
            f'<td class="num">{msg.points(entry["max"])}</td></tr>'
        )
    total = summary.get("total", sum(e["points"] for e in tasks.values()))
    maximum = summary.get("max", sum(e["max"] for e in tasks.values()))
    rows.append(
        f'<tr class="total"><td>{msg.FB_TOTAL}</td><td class="num">{msg.points(total)}</td>'
        f'<td class="num">{msg.points(maximum)}</td></tr>'
    )
    verdict = summary.get("verdict")
    head = f"<h1>{msg.FB_HEAD_T.format(points=msg.points(total), max=msg.points(maximum))}</h1>"
    if verdict:
        bad = "" if verdict == "ok" else " bad"
        text = html.escape(msg.FB_VERDICT_T.format(verdict=msg.VERDICT_EXPLAINED.get(verdict, verdict)))
        head += f'<p class="verdict{bad}">{text}</p>'
    failed = {gid for gid, _ in failed_tests(summary.get("messages", []))}
    notes = [m for m in summary.get("messages", []) if m.split(": failed (", 1)[0] not in failed]
    items = "".join(f"<li>{html.escape(m)}</li>" for m in notes)
    notes_html = f'<p>{msg.FB_NOTES}</p><ul class="notes">{items}</ul>' if notes else ""
    return (
        f'<section id="{SUMMARY_ID}">{head}<table class="tasks">'
        f"<tr><th>{msg.FB_TASK}</th><th>{msg.FB_POINTS}</th><th>{msg.FB_MAX}</th></tr>{''.join(rows)}"
        f"</table>{notes_html}</section>"
    )


def _tests_html(rows, summary=None):
    """Failed tests first (points, the grader's message, a link to the cell), then the passed ones."""
    bot_messages = {}
    for gid, text in failed_tests((summary or {}).get("messages", [])):
        bot_messages.setdefault(gid, text)
    failed = [r for r in rows if r[1] < r[2]]
    passed = [r for r in rows if r[1] >= r[2]]
    parts = []
    if failed:
        items = []
        for gid, got, maximum, message, _ in failed:
            task = task_of(gid)
            text = msg.failure_reason(message or bot_messages.get(gid, "") or msg.FB_CELL_DID_NOT_RUN)
            name, title = html.escape(TEST_NAMES.get(gid, gid)), html.escape(TASK_TITLES.get(task, task))
            score = msg.FB_FAILED_ITEM_T.format(points=msg.points(got), max=msg.points(maximum))
            items.append(
                f'<li><a href="#{_anchor(gid)}">{name}</a> <code>{html.escape(gid)}</code> ({title}), {score}'
                f'<div class="msg">{html.escape(text[:1500])}</div></li>'
            )
        parts.append(
            f'<section id="failed-tests"><h2>{msg.FB_FAILED_HEAD_T.format(n=len(failed))}</h2>'
            f'<ol class="failed">{"".join(items)}</ol></section>'
        )
    else:
        parts.append(f'<section id="failed-tests"><h2>{msg.FB_ALL_PASSED}</h2></section>')
    if passed:
        links = "".join(
            f'<a href="#{_anchor(gid)}">{html.escape(TEST_NAMES.get(gid, gid))}&nbsp;({msg.points(got)})</a> '
            for gid, got, _, _, _ in passed
        )
        parts.append(
            f'<section id="passed-tests"><h2>{msg.FB_PASSED_HEAD_T.format(n=len(passed))}</h2>'
            f'<p class="passed">{links}</p></section>'
        )
    parts.append(f'<p class="note">{msg.FB_HIDDEN_NOTE}</p>')
    return "".join(parts)


def _shorten(text, limit):
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + msg.FB_OUTPUT_CUT_T.format(n=len(text) - 2 * half) + text[-half:]


def _is_students_cell(cell):
    """A cell the student wrote: a solution cell or one they added (not a locked cell of the course)."""
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("solution", False) or not meta


def _prepare_cells(nb, rows):
    """Heads of the test cells (with their anchors), long course helper cells shortened to a note, outputs
    trimmed: no images from the course's own cells, long text cut in the middle."""
    by_gid = {r[0]: r for r in rows}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if is_test_cell(cell) and meta.get("grade_id") in by_gid:
            gid, got, maximum, _, _ = by_gid[meta["grade_id"]]
            ok = got >= maximum
            head = msg.FB_TEST_HEAD_T.format(
                gid=f"<code>{html.escape(gid)}</code>",
                name=html.escape(TEST_NAMES.get(gid, gid)),
                points=msg.points(got),
                max=msg.points(maximum),
                state=msg.FB_PASSED if ok else msg.FB_NOT_PASSED,
            )
            failed = "" if ok else " failed"
            cell.metadata["feedback_head"] = f'<div class="test-head{failed}" id="{_anchor(gid)}">{head}</div>'
        elif not _is_students_cell(cell) and not meta.get("grade", False):
            lines = cell.source.count("\n") + 1
            if lines > LONG_COURSE_CELL:
                cell.source = msg.FB_COURSE_CELL_HIDDEN_T.format(n=lines)
        own = _is_students_cell(cell)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = _shorten(out.get("text", ""), MAX_OUTPUT_CHARS)
            elif out.get("output_type") in ("display_data", "execute_result"):
                data = out.get("data", {})
                for key in list(data):
                    if key in _IMAGE and not own:
                        del data[key]
                    elif key == "text/html" and len(data[key]) > MAX_HTML_OUTPUT_CHARS:
                        del data[key]
                    elif key == "text/plain":
                        data[key] = _shorten(data[key], MAX_OUTPUT_CHARS)
                if not data:
                    data["text/plain"] = msg.FB_IMAGE_LEFT_OUT
            elif out.get("output_type") == "error":
                out["traceback"] = [_shorten("\n".join(out.get("traceback", [])), MAX_OUTPUT_CHARS)]
    return nb


def _notebook_html(nb):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="classic",
        template_file="numnet_feedback.html.j2",
        extra_loaders=[DictLoader({"numnet_feedback.html.j2": _TEMPLATE})],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return _clean(_ANCHOR_LINK.sub("", body))


_ANCHOR_LINK = re.compile(r'<a class="anchor-link" href="[^"]*">¶</a>')
_TAGS = [
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
]


def _clean(body):
    """The notebook's HTML without scripts, styles, forms or event handlers (students' outputs and markdown may
    carry any HTML; nbconvert's own sanitizer also escapes headings and paragraphs)."""
    import bleach

    return bleach.clean(
        body,
        tags=_TAGS,
        protocols=["http", "https", "mailto", "data"],
        attributes={
            "*": ["class", "id", "title"],
            "a": ["href", "title"],
            "img": ["src", "alt", "width", "height"],
            "td": ["colspan", "rowspan"],
            "th": ["colspan", "rowspan"],
        },
    )


def safe_feedback(
    notebook: nbformat.NotebookNode | str | os.PathLike,
    scores: Mapping[str, float | Mapping[str, float]] | None = None,
    title: str = msg.FB_TITLE,
    summary: Mapping[str, Any] | None = None,
) -> str:
    """HTML feedback for an autograded notebook (path or NotebookNode) without hidden-test code: one summary
    (total, points per task, verdict), the failed tests with their points, the grader's message and a link to their
    cell, the passed tests, then the notebook (code without highlighting, no images from the course's own cells).

    `scores` ({task: {"points", "max"}} or {task: points}) overrides the table computed from the outputs.
    `summary` (gradebot's result: {"total", "max", "verdict", "messages", "cells"}) gives the total (after a late
    penalty), the verdict, notes of the grading program and per-test points; the page then is the whole report."""
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    tasks = task_scores(notebook)
    if scores:
        for task, value in scores.items():
            entry = tasks.setdefault(task, {"points": 0.0, "max": 0.0})
            if isinstance(value, dict):
                entry.update({k: float(v) for k, v in value.items() if k in ("points", "max")})
            else:
                entry["points"] = float(value)
    rows = test_rows(notebook, (summary or {}).get("cells"))
    nb = _prepare_cells(sanitize(notebook), rows)
    return (
        '<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title><style>{_CSS}</style>'
        f"</head><body>{_summary_html(tasks, summary)}{_tests_html(rows, summary)}"
        f'<h2 id="notebook">{msg.FB_NOTEBOOK}</h2><main class="notebook">{_notebook_html(nb)}</main></body></html>\n'
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Feedback HTML without hidden-test code.")
    parser.add_argument("notebook", help="an autograded notebook, e.g. autograded/<student>/numnet/numnet.ipynb")
    parser.add_argument("-o", "--output", help="HTML file to write (default: print to stdout)")
    args = parser.parse_args(argv)
    try:
        page = safe_feedback(args.notebook)
    except (OSError, nbformat.reader.NotJSONError) as err:
        parser.error(f"cannot read the notebook {args.notebook}: {err}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
