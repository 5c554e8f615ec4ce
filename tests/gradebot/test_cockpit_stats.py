"""Class statistics (gradebot/cockpit): numbers of a small hand-made class checked against values computed by hand,
the plots, the HTML fragment, and ``python -m gradebot report`` end to end on the tiny course's store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_web_support import check_page_ids

from gradebot import messages as msg
from gradebot.cockpit import plots, report
from gradebot.cockpit.stats import class_stats, nice_width, normalise_message
from gradebot.core.course import CourseFacts
from gradebot.core.models import Result, Student, Submission

REPO = Path(__file__).resolve().parents[2]
MSK = timezone(timedelta(hours=3))
DEADLINE = datetime(2026, 12, 20, 12, 0, tzinfo=MSK)  # = 09:00 UTC

# 4 grade cells in 3 tasks, 8 points in all
FACTS = CourseFacts(
    cells={"p1__a": 1.0, "p1__b": 1.0, "p2__c": 2.0, "p3__d": 4.0},
    tasks={"p1": 2.0, "p2": 2.0, "p3": 4.0},
    task_titles={"p1": "1. Сложение и вычитание", "p2": "2. Умножение"},
    test_names={"p1__a": "Сложение", "p1__b": "Вычитание", "p2__c": "Умножение", "p3__d": "Матрицы <b>&"},
)
MAXIMA = FACTS.cells


def _sub(sid, student, hh_mm, cells=None, msgs=(), *, verdict="ok", status="done", late=False, factor=1.0):
    """Submission #sid received on 2026-12-20 at hh:mm UTC; ``cells``: letters of the grade cells at full marks
    (others 0); ``factor``: the late penalty's share kept of the total."""
    h, m = map(int, hh_mm.split(":"))
    at = datetime(2026, 12, 20, h, m, tzinfo=timezone.utc)
    result = None
    if status == "done":
        points = {gid: (MAXIMA[gid] if gid.split("__")[1] in cells else 0.0) for gid in MAXIMA}
        tasks = {
            t: {"points": sum(p for g, p in points.items() if g.startswith(t + "__")), "max": mx}
            for t, mx in FACTS.tasks.items()
        }
        result = Result(
            total=round(sum(points.values()) * factor, 6),
            max=8.0,
            tasks=tasks,
            verdict=verdict,
            messages=list(msgs),
            cells=points,
        )
    return Submission(
        id=sid,
        student_id=student,
        filename="a.ipynb",
        created_at=at,
        status=status,
        late=late,
        result=result,
        error="crashed" if status == "failed" else None,
    )


STUDENTS = [Student(f"s{i}", f"Student {i}", "g1" if i < 4 else "g2") for i in range(1, 7)]
NP = "NameError: name 'np' is not defined"
SUBMISSIONS = [
    _sub(
        1,
        "s1",
        "07:10",
        "ab",
        [
            "p2__c: failed (AssertionError: expected 3, got 4)",
            "p3__d: failed (ValueError: shapes (2, 3) and (4,) not aligned)",
        ],
    ),
    _sub(
        2,
        "s2",
        "07:40",
        "ac",
        [
            "p1__b: failed (AssertionError: expected 5, got 7)",
            "p3__d: failed (ValueError: shapes (5, 1) and (3,) not aligned)",
        ],
    ),
    _sub(3, "s4", "07:55", "", [f"{g}: failed ({NP})" for g in MAXIMA], verdict="error"),
    _sub(4, "s3", "08:05", "abc", ["p3__d: failed (ValueError: shapes (1, 1) and (2,) not aligned)"]),
    _sub(5, "s1", "08:20", "abcd"),
    _sub(6, "s3", "08:30", "a", ["grading stopped after the job time limit of 1200 s"], verdict="timeout"),
    _sub(7, "s2", "08:50", status="failed"),
    _sub(8, "s4", "09:30", "abcd", ["late submission: 20% penalty applied to the total"], late=True, factor=0.8),
    _sub(
        9,
        "s4",
        "10:15",
        "ab",
        [
            "p2__c: failed (AssertionError: expected 11, got 12)",
            "p3__d: failed (ValueError: shapes (7, 2) and (9,) not aligned)",
            "late submission: 20% penalty applied to the total",
        ],
        late=True,
        factor=0.8,
    ),
    _sub(10, "s6", "10:40", status="queued", late=True),
    _sub(11, "ghost", "10:50", "abcd"),  # not on the roster
]
# s5 never submitted; s6's only submission is still queued; s2's last one failed to grade.
# Counted (latest): s1 #5 = 8, s2 #2 = 3, s3 #6 = 1 (timeout), s4 #9 = 2 * 0.8 = 1.6.


@pytest.fixture(scope="module")
def latest():
    return class_stats(STUDENTS, SUBMISSIONS, FACTS, counting="latest", deadline=DEADLINE)


def test_counts_and_verdicts(latest):
    s = latest
    assert (s.students, s.submitting, s.counted, s.submissions, s.late_submissions, s.off_roster) == (6, 5, 4, 10, 3, 1)
    assert s.max_total == 8.0
    assert list(s.verdicts.items()) == [("ok", 6), ("timeout", 1), ("error", 1), ("failed", 1), ("pending", 1)]


def test_total_distribution_and_histogram(latest):
    t = latest.total  # totals 1, 1.6, 3, 8
    assert t.n == 4
    assert t.mean == pytest.approx(3.4)
    assert t.median == pytest.approx(2.3)  # halfway between 1.6 and 3
    assert t.q1 == pytest.approx(1.45)  # position 0.75: 1 + 0.75 * 0.6
    assert t.q3 == pytest.approx(4.25)  # position 2.25: 3 + 0.25 * 5
    assert (t.low, t.high, t.full_share) == (1.0, 8.0, 0.25)
    h = latest.histogram  # 8 points: bins of 0.5
    assert h.width == 0.5 and len(h.counts) == 16 and h.edges[0] == 0.0 and h.edges[-1] == 8.0
    assert {i: c for i, c in enumerate(h.counts) if c} == {2: 1, 3: 1, 6: 1, 15: 1}
    assert (h.no_counted, h.no_submission) == (2, 1)
    wide = class_stats(STUDENTS, SUBMISSIONS, FACTS, bin_width=2).histogram
    assert wide.edges == [0.0, 2.0, 4.0, 6.0, 8.0] and wide.counts == [2, 1, 0, 1]


def test_nice_width():
    assert [nice_width(m) for m in (45, 5, 100, 8, 10)] == [5, 0.5, 5, 0.5, 0.5]


def test_task_distributions(latest):
    p1, p2, p3 = latest.tasks
    assert (p1.task, p1.title, p3.title) == ("p1", "1. Сложение и вычитание", "p3")
    # p1 points 2, 1, 1, 2
    assert (p1.points.mean, p1.points.median, p1.points.q1, p1.points.q3, p1.points.full_share) == (
        1.5,
        1.5,
        1.0,
        2.0,
        0.5,
    )
    # p2 points 2, 2, 0, 0
    assert (p2.points.median, p2.points.q1, p2.points.q3, p2.points.low, p2.points.high) == (1.0, 0.0, 2.0, 0, 2)
    # p3 points 4, 0, 0, 0
    assert (p3.points.max_points, p3.points.mean, p3.points.median, p3.points.q1, p3.points.q3) == (
        4.0,
        1.0,
        0.0,
        0.0,
        1.0,
    )
    assert p3.points.full_share == 0.25


def test_pass_rates_and_failure_causes(latest):
    cells = {c.grade_id: c for c in latest.cells}
    assert list(cells) == ["p1__a", "p1__b", "p2__c", "p3__d"]
    assert [(c.passed, c.attempts, c.pass_rate) for c in cells.values()] == [
        (4, 4, 1.0),
        (2, 4, 0.5),
        (2, 4, 0.5),
        (1, 4, 0.25),
    ]
    assert cells["p1__a"].causes == [] and cells["p3__d"].name == "Матрицы <b>&"
    top = cells["p3__d"].causes[0]  # #2 and #9: one cause although their shapes differ
    assert (top.text, top.count, top.examples) == ("ValueError: shapes (N, N) and (N,) not aligned", 2, [2, 9])
    assert top.sample == "ValueError: shapes (5, 1) and (3,) not aligned"
    no_message = cells["p3__d"].causes[1]  # #6 timed out before the cell: no message of its own
    assert (no_message.text, no_message.count, no_message.examples) == ("", 1, [6])
    c = cells["p2__c"].causes
    assert [(x.text, x.count, x.examples) for x in c] == [("AssertionError: expected N, got N", 1, [9]), ("", 1, [6])]
    assert c[0].sample == "AssertionError: expected 11, got 12"


def test_best_counting_takes_the_best_graded_attempt():
    best = class_stats(STUDENTS, SUBMISSIONS, FACTS, counting="best", deadline=DEADLINE)
    # s1 #5 = 8, s2 #2 = 3 (#7 failed), s3 #4 = 4, s4 #8 = 8 * 0.8 = 6.4
    assert best.counted == 4
    assert best.total.mean == pytest.approx(5.35) and best.total.median == pytest.approx(5.2)
    assert {c.grade_id: c.passed for c in best.cells} == {"p1__a": 4, "p1__b": 3, "p2__c": 4, "p3__d": 2}
    with pytest.raises(ValueError, match="counting"):
        class_stats(STUDENTS, SUBMISSIONS, FACTS, counting="first")


def test_timeline_buckets_in_the_deadlines_time_zone(latest):
    tl = latest.timeline  # 10:10-13:40 Moscow time with the deadline at 12:00: hourly
    assert tl.unit == "hour" and tl.deadline == DEADLINE
    assert [(b.start.isoformat(), b.on_time, b.late) for b in tl.buckets] == [
        ("2026-12-20T10:00:00+03:00", 3, 0),
        ("2026-12-20T11:00:00+03:00", 4, 0),
        ("2026-12-20T12:00:00+03:00", 0, 1),
        ("2026-12-20T13:00:00+03:00", 0, 2),
    ]
    daily = class_stats(STUDENTS, SUBMISSIONS, FACTS, deadline=DEADLINE, unit="day").timeline
    assert [(b.start.isoformat(), b.on_time, b.late) for b in daily.buckets] == [("2026-12-20T00:00:00+03:00", 7, 3)]
    far = class_stats(STUDENTS, SUBMISSIONS, FACTS, deadline=DEADLINE + timedelta(days=5)).timeline
    assert far.unit == "day" and len(far.buckets) == 6 and far.buckets[-1].on_time == 0


def test_normalise_message():
    assert (
        normalise_message("AttributeError: <numnet.Dense object at 0x7f3a2b10> has no attribute 'W1'")
        == "AttributeError: <numnet.Dense object at 0x…> has no attribute 'W1'"
    )
    assert (
        normalise_message("max error 1.5e-05 > tol 1e-6 (float64,\n  conv2d)")
        == "max error N > tol N (float64, conv2d)"
    )
    assert normalise_message("expected -3 got +4.25") == "expected N got N"


def test_empty_class():
    s = class_stats(STUDENTS, [], FACTS)
    assert (s.counted, s.total.n, s.total.mean, s.histogram.no_submission, s.timeline.buckets) == (0, 0, None, 6, [])
    assert all(c.pass_rate is None for c in s.cells)
    html = report.stats_html(s, plots.render_all(s))
    assert msg.ST_NO_DATA in html and msg.ST_NO_SUBMISSIONS in html


def test_to_json(latest):
    doc = json.loads(json.dumps(latest.to_json()))
    assert doc["deadline"] == "2026-12-20T12:00:00+03:00" and doc["counting"] == "latest"
    assert doc["cells"][3]["causes"][0]["examples"] == [2, 9]
    assert doc["timeline"]["buckets"][0] == {"start": "2026-12-20T10:00:00+03:00", "on_time": 3, "late": 0}
    assert doc["total"]["q1"] == 1.45 and doc["histogram"]["counts"][15] == 1


def _referenced_ids(svg: str) -> set[str]:
    """Ids an SVG refers to (clip paths, markers): in one HTML page they must not resolve into another plot."""
    return {a or b for a, b in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)}


def test_plots_are_deterministic_svg_with_the_names(latest):
    first = plots.render_all(latest)
    assert list(first) == ["histogram", "tasks", "tests", "timeline"]
    for name, make in plots.FIGURES.items():  # drawn again from scratch (render_all keeps its results)
        assert plots.to_svg(make(latest), name) == first[name], name
    best = class_stats(STUDENTS, SUBMISSIONS, FACTS, counting="best", deadline=DEADLINE)
    assert plots.render_all(best)["tests"] != first["tests"]  # other statistics, other plots
    assert plots.render_all(latest) == first
    assert all(svg.lstrip().startswith("<?xml") and "<svg" in svg for svg in first.values())
    assert "Вычитание" in first["tests"] and "Матрицы &lt;b&gt;&amp;" in first["tests"]
    assert "1. Сложение и вычитание" in first["tasks"]
    assert "срок сдачи 20.12 12:00" in first["timeline"]
    assert "<dc:date>" not in first["histogram"]
    refs = {name: _referenced_ids(svg) for name, svg in first.items()}
    assert all(refs.values())
    names = list(first)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not refs[a] & refs[b], (a, b)
    png = plots.render_all(latest, "png")
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in png.values())


def test_stats_html_fragment(latest):
    html = report.stats_html(latest, plots.render_all(latest), submission_url=lambda i: f"/teacher/sub/{i}?x=1&y")
    assert html.startswith("<section class='gb-stats'>") and html.rstrip().endswith("</section>")
    assert "<?xml" not in html and "<!DOCTYPE" not in html and html.count("<svg") == 4
    assert "Матрицы &lt;b&gt;&amp;" in html and "Матрицы <b>" not in html
    row = re.search(r"<tr id='gb-test-p3__d'>.*?</tr>", html, re.S).group(0)
    assert "25%" in row and "1 / 4" in row and "ValueError: shapes (N, N) and (N,) not aligned</code> — 2" in row
    assert "<a href='/teacher/sub/2?x=1&amp;y'>#2</a>, <a href='/teacher/sub/9?x=1&amp;y'>#9</a>" in row
    assert "title='ValueError: shapes (5, 1) and (3,) not aligned'" in row
    plain = report.stats_html(latest, {})
    assert "<svg" not in plain and "например #2, #9" in plain


def test_every_id_of_the_page_is_unique_and_resolves_in_its_own_plot(latest, monkeypatch):
    """The four plots inlined in one page share no id (HTML wants unique ids), and every clip path and marker
    reference of a plot points into that plot. matplotlib alone numbers each file's groups afresh (figure_1,
    axes_1, patch_1...): without the plots' prefixes the page has duplicates."""
    page = report.stats_html(latest, plots.render_all(latest))
    svgs, refs = check_page_ids(page)
    assert svgs == 4 and refs >= 8  # clip paths and tick markers in every plot
    assert 'id="gb-histogram-figure_1"' in page and 'clip-path="url(#gb-tests-p' in page

    monkeypatch.setattr(plots, "scope_ids", lambda svg, prefix: svg)
    unscoped = {name: plots.to_svg(make(latest), name) for name, make in plots.FIGURES.items()}
    with pytest.raises(AssertionError, match="figure_1"):
        check_page_ids(report.stats_html(latest, unscoped))


def test_scope_ids_prefixes_ids_and_references_in_tags_only():
    svg = (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><defs><path id="m1" d="M 0 0"/>'
        '<clipPath id="p2"><rect x="0"/></clipPath></defs>'
        '<g id="axes_1" clip-path="url(#p2)"><use xlink:href="#m1" x="1"/><a href="#m1"/>'
        '<text style="fill: url(#p2)">id="m1" url(#p2) href="#m1"</text></g></svg>'
    )
    assert plots.scope_ids(svg, "gb-x-") == (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><defs><path id="gb-x-m1" d="M 0 0"/>'
        '<clipPath id="gb-x-p2"><rect x="0"/></clipPath></defs>'
        '<g id="gb-x-axes_1" clip-path="url(#gb-x-p2)"><use xlink:href="#gb-x-m1" x="1"/><a href="#gb-x-m1"/>'
        '<text style="fill: url(#gb-x-p2)">id="m1" url(#p2) href="#m1"</text></g></svg>'
    )


# ---------------------------------------------------------------- the CLI on a real store


def _run(config, *args):
    env = dict(os.environ)
    for k, v in config.to_dict().items():
        if v is not None:
            env["GRADEBOT_" + k.upper()] = str(v)
    return subprocess.run(
        [sys.executable, "-m", "gradebot", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _graded(svc, student, when, cells, messages, late=False):
    sub = svc.store.add_submission(student, "a.ipynb", "blob", "0" * 64, 10, "web", late, when)
    svc.store.mark_grading(sub.id)
    tasks = {"part1_add": {"points": cells[0], "max": 2.0}, "part2_mul": {"points": cells[1], "max": 3.0}}
    result = Result(
        total=float(sum(cells)),
        max=5.0,
        tasks=tasks,
        messages=messages,
        cells={"part1_add__visible": cells[0], "part2_mul__hidden": cells[1]},
    )
    assert svc.store.finish(sub.id, "done", result, None, None)
    return sub


def test_report_cli_end_to_end(make_config, roster_csv, tmp_path):
    from gradebot.core.service import GradingService

    config = make_config(deadline="2026-12-20T23:59:00+03:00")
    svc = GradingService(config)
    svc.import_roster(roster_csv)  # s1, s2, s3
    day = datetime(2026, 12, 15, 10, 0, tzinfo=timezone.utc)
    _graded(svc, "s1", day, (2.0, 0.0), ["part2_mul__hidden: failed ([hidden test] AssertionError: wrong product)"])
    _graded(svc, "s1", day + timedelta(hours=30), (2.0, 3.0), [])
    _graded(
        svc,
        "s2",
        day + timedelta(hours=2),
        (0.0, 0.0),
        [
            "part1_add__visible: failed (NameError: name 'add' is not defined)",
            "part2_mul__hidden: failed ([hidden test] NameError: name 'mul' is not defined)",
        ],
    )
    out = tmp_path / "new" / "rep"
    proc = _run(config, "report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "index.html",
        "plots",
        *[f"plots/{n}.{e}" for n in ("histogram", "tasks", "tests", "timeline") for e in ("png", "svg")],
        "stats.json",
    ]
    doc = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert doc["generator"] == "gradebot report"
    assert (doc["students"], doc["submitting"], doc["counted"], doc["submissions"]) == (3, 2, 2, 3)
    assert doc["histogram"]["counts"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # totals 0 and 5 in bins of 0.5
    assert doc["total"]["median"] == 2.5
    add, mul = doc["cells"]
    assert (add["grade_id"], add["passed"], add["attempts"], add["pass_rate"]) == ("part1_add__visible", 1, 2, 0.5)
    assert mul["causes"] == [
        {
            "text": "[hidden test] NameError: name 'mul' is not defined",
            "count": 1,
            "examples": [3],
            "sample": "[hidden test] NameError: name 'mul' is not defined",
        }
    ]
    assert doc["timeline"]["unit"] == "day" and [b["on_time"] for b in doc["timeline"]["buckets"]] == [2, 1, 0, 0, 0, 0]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<table class='gb-tests'>" in page and page.count("<svg") == 4
    svgs, refs = check_page_ids(page)
    assert svgs == 4 and refs >= 8
    assert "part2_mul__hidden" in page and "NameError: name &#x27;mul&#x27; is not defined" in page
    assert (out / "plots" / "tests.png").read_bytes().startswith(b"\x89PNG")
    # again into the same directory: the report is rewritten, a file of the instructor's is left alone
    (out / "notes.txt").write_text("mine")
    assert _run(config, "report", "--out", str(out)).returncode == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_report_cli_refuses_bad_directories(make_config, tmp_path):
    config = make_config()
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    proc = _run(config, "report", "--out", str(a_file))
    assert proc.returncode == 2 and "is not a directory" in proc.stderr
    proc = _run(config, "report", "--out", str(a_file / "sub"))
    assert proc.returncode == 2 and "cannot create the directory" in proc.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("not ours")
    proc = _run(config, "report", "--out", str(other))
    assert proc.returncode == 2 and "not empty and holds no earlier report" in proc.stderr
    assert (other / "index.html").read_text() == "not ours" and sorted(os.listdir(other)) == ["index.html"]
    assert a_file.read_text() == "keep"
