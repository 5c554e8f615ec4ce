"""The statistics as HTML and as files.

- :func:`stats_html`: an embeddable fragment (one ``<section class="gb-stats">`` with its own scoped style), in
  Russian, every text from the store escaped, the plots inline SVG. The web statistics page and the report page
  both show it.
- :func:`write_report`: ``python -m gradebot report --out DIR`` writes ``DIR/stats.json``
  (:meth:`ClassStats.to_json` plus a ``generator`` key), ``DIR/plots/<name>.svg`` and ``.png`` and
  ``DIR/index.html`` (a standalone page around the fragment). DIR must be new, empty, or an earlier report's
  directory (its ``stats.json`` says ``"generator": "gradebot report"``): only those files are (over)written,
  nothing is ever deleted.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Callable

from gradebot import messages as msg
from gradebot.cockpit import plots as plotting
from gradebot.cockpit.stats import ClassStats, Distribution
from gradebot.core.errors import GradebotError

GENERATOR = "gradebot report"

STYLE = """<style>
.gb-stats table{border-collapse:collapse;margin:.5em 0 1em}
.gb-stats th,.gb-stats td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
.gb-stats td.num{text-align:right;white-space:nowrap}
.gb-stats .plot svg{max-width:100%;height:auto}
.gb-stats .low{color:#b00020;font-weight:bold}
.gb-stats code{white-space:pre-wrap;word-break:break-word}
.gb-stats ol{margin:0;padding-left:1.2em}
</style>"""

PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><meta name="generator" content="{generator}">
<title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:75em}}</style></head>
<body><h1>{title}</h1>
{fragment}
</body></html>
"""


class ReportError(GradebotError):
    """The report directory cannot be used (not a directory, not writable, or holds other files)."""


# ---------------------------------------------------------------- HTML


def _num(x: float | None) -> str:
    return "—" if x is None else msg.points(x)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _span(a: float | None, b: float | None) -> str:
    return "—" if a is None else f"{msg.points(a)} – {msg.points(b)}"


def _svg_inline(svg: str) -> str:
    """SVG text without the XML declaration and DOCTYPE (not allowed inside HTML)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _row(cells, head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _summary(stats: ClassStats) -> str:
    t, names = stats.total, msg.ST_ROWS
    rows = [
        ("students", stats.students),
        ("submitting", stats.submitting),
        ("counted", stats.counted),
        ("submissions", stats.submissions),
        ("late", stats.late_submissions),
        ("deadline", msg.time(stats.deadline) if stats.deadline else msg.ST_NO_DEADLINE),
        ("counting", msg.ST_COUNTING[stats.counting]),
        ("mean", msg.ST_OF_T.format(x=_num(t.mean), max=_num(stats.max_total))),
        ("median", f"{_num(t.median)} ({_span(t.q1, t.q3)})"),
        ("full", _pct(t.full_share)),
    ]
    if stats.off_roster:
        rows.append(("off_roster", stats.off_roster))
    body = "".join(f"<tr><th>{html.escape(names[k])}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='gb-summary'>{body}</table>"


def _dist_cells(d: Distribution) -> str:
    return "".join(
        f"<td class='num'>{html.escape(v)}</td>"
        for v in (str(d.n), _num(d.mean), _num(d.median), _span(d.q1, d.q3), _span(d.low, d.high), _pct(d.full_share))
    )


def _tasks_table(stats: ClassStats) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(t.title)}<br><small>{html.escape(t.task)}</small></td>"
        f"<td class='num'>{_num(t.points.max_points)}</td>{_dist_cells(t.points)}</tr>"
        for t in stats.tasks
    )
    return f"<table class='gb-tasks'>{_row(msg.ST_TASK_COLUMNS, head=True)}{rows}</table>"


def _examples(ids: list[int], submission_url: Callable[[int], str] | None) -> str:
    if submission_url is None:
        return ", ".join(f"#{i}" for i in ids)
    return ", ".join(f"<a href='{html.escape(submission_url(i), quote=True)}'>#{i}</a>" for i in ids)


def _causes(cell, submission_url) -> str:
    if not cell.causes:
        return "—"
    items = []
    for c in cell.causes:
        text = (
            f"<code title='{html.escape(msg.failure_reason(c.sample), quote=True)}'>"
            f"{html.escape(msg.failure_reason(c.text))}</code>"
            if c.text
            else f"<i>{html.escape(msg.ST_NO_MESSAGE)}</i>"
        )
        items.append(
            "<li>"
            + msg.ST_CAUSE_T.format(text=text, count=c.count, examples=_examples(c.examples, submission_url))
            + "</li>"
        )
    return "<ol>" + "".join(items) + "</ol>"


def _tests_table(stats: ClassStats, submission_url) -> str:
    rows = []
    for c in stats.cells:
        low = " low" if c.pass_rate is not None and c.pass_rate < 0.5 else ""
        rows.append(
            f"<tr id='gb-test-{html.escape(c.grade_id, quote=True)}'><td>{html.escape(c.name)}<br>"
            f"<small>{html.escape(c.grade_id)}</small></td><td class='num'>{_num(c.max_points)}</td>"
            f"<td class='num{low}'>{_pct(c.pass_rate)}</td><td class='num'>{c.passed} / {c.attempts}</td>"
            f"<td>{_causes(c, submission_url)}</td></tr>"
        )
    return f"<table class='gb-tests'>{_row(msg.ST_TEST_COLUMNS, head=True)}{''.join(rows)}</table>"


def verdict_name(key: str) -> str:
    """The words for a key of ``ClassStats.verdicts``."""
    if key == "pending":
        return msg.ST_PENDING
    return msg.VERDICT.get(key) or msg.STATUS.get(key) or key


def _verdicts_table(stats: ClassStats) -> str:
    if not stats.verdicts:
        return f"<p>{html.escape(msg.ST_NO_SUBMISSIONS)}</p>"
    rows = "".join(
        f"<tr><td>{html.escape(verdict_name(k))} <small>({html.escape(k)})</small></td><td class='num'>{n}</td></tr>"
        for k, n in stats.verdicts.items()
    )
    return f"<table class='gb-verdicts'>{_row(msg.ST_VERDICT_COLUMNS, head=True)}{rows}</table>"


def _plot(name: str, plots: dict[str, str]) -> str:
    svg = plots.get(name)
    return f"<div class='plot gb-plot-{name}'>{_svg_inline(svg)}</div>" if svg else ""


def stats_html(stats: ClassStats, plots: dict[str, str], submission_url: Callable[[int], str] | None = None) -> str:
    """The statistics as one HTML fragment (Russian, words from ``gradebot.messages``). ``plots``: {name: SVG
    text} (:func:`plots.render_all`; missing plots are left out); ``submission_url(id)``: a link for the example
    submissions (plain ``#id`` without it)."""
    h = stats.histogram
    timeline = msg.ST_TIMELINE_T.format(unit=msg.ST_UNIT[stats.timeline.unit])
    return "\n".join(
        [
            "<section class='gb-stats'>",
            STYLE,
            f"<h2>{msg.ST_SUMMARY}</h2>",
            _summary(stats),
            f"<p><small>{html.escape(msg.ST_COUNTED_NOTE)}</small></p>",
            f"<h2>{msg.ST_HISTOGRAM}</h2>",
            _plot("histogram", plots),
            f"<p>{html.escape(msg.ST_NO_COUNTED_T.format(n=h.no_counted, none=h.no_submission))}</p>",
            f"<h2>{msg.ST_TASKS}</h2>",
            _plot("tasks", plots),
            _tasks_table(stats),
            f"<h2>{msg.ST_TESTS}</h2>",
            f"<p>{html.escape(msg.ST_TESTS_NOTE)}</p>",
            _plot("tests", plots),
            _tests_table(stats, submission_url),
            f"<h2>{msg.ST_VERDICTS}</h2>",
            _verdicts_table(stats),
            f"<h2>{html.escape(timeline)}</h2>",
            _plot("timeline", plots),
            "</section>",
        ]
    )


# ---------------------------------------------------------------- files


def _check_dir(out: Path) -> None:
    """Refuse a DIR that is a file, is not writable, or holds files and is not an earlier report."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out}: exists and is not a directory; give a new or empty directory")
    if not out.exists():
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise ReportError(
                f"--out {out}: cannot create the directory ({exc.strerror}); give a directory you can write to"
            ) from None
        return
    if not os.access(out, os.W_OK | os.X_OK):
        raise ReportError(f"--out {out}: the directory is not writable; give a directory you can write to")
    if any(out.iterdir()) and not _is_report(out / "stats.json"):
        raise ReportError(
            f"--out {out}: the directory is not empty and holds no earlier report (no stats.json "
            f"written by '{GENERATOR}'); give a new or empty directory, nothing there is changed"
        )


def _is_report(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _write(path: Path, data: str | bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(out_dir: str | os.PathLike, stats: ClassStats) -> list[Path]:
    """Write the report into ``out_dir`` (see the module docstring); returns the paths written. Raises
    :class:`ReportError` for a directory that cannot be used."""
    out = Path(out_dir)
    _check_dir(out)
    written = []
    try:
        (out / "plots").mkdir(exist_ok=True)
        svgs = {}
        for name, make in plotting.FIGURES.items():
            fig = make(stats)
            svgs[name] = plotting.to_svg(fig, name)
            for ext, data in (("svg", svgs[name]), ("png", plotting.to_png(fig))):
                _write(out / "plots" / f"{name}.{ext}", data)
                written.append(out / "plots" / f"{name}.{ext}")
        doc = {"generator": GENERATOR, **stats.to_json()}
        _write(out / "stats.json", json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        fragment = stats_html(stats, svgs)
        _write(out / "index.html", PAGE.format(generator=GENERATOR, title=msg.ST_PAGE_TITLE, fragment=fragment))
        written += [out / "stats.json", out / "index.html"]
    except OSError as exc:
        raise ReportError(
            f"--out {out}: writing {exc.filename or out} failed ({exc.strerror}); give a directory you can write to"
        ) from None
    return written
