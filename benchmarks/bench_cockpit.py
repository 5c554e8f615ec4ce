"""Time of the instructor's statistics page data and render (gradebot/cockpit) for a synthetic class.

    python benchmarks/bench_cockpit.py                  # 500 students x 5 submissions, 5 repetitions
    python benchmarks/bench_cockpit.py --store          # also read them from a SQLite SqlStore first
    python benchmarks/bench_cockpit.py -n 100 -k 3 --out /tmp/rep   # smaller; keep the report files

The class: every student has an ability; each of their attempts passes each grade cell of the real course
(``source/numnet/numnet.ipynb``, read with ``course_facts``) with a probability from that ability, the cell's
difficulty and the attempt's number (later attempts are better), and a failing cell carries one of a few typical
messages with random numbers in them (shapes, errors), hidden tests marked as the grader marks them. About 4% of
attempts time out, 1% run out of memory, 1% fail to grade, 1% are still queued; submission times spread over the
two weeks before the deadline, crowding towards it, some after it (late, 20% penalty).

Printed: the time of each phase (``class_stats``, the four plots as SVG, the HTML fragment; with ``--store`` the store
read) as the median and minimum wall time and the median CPU time of this process over the repetitions after one warm-up
run, and their total: what one view of the statistics page costs (target <= 1 s). The plots are drawn uncached here;
``plots.render_all`` keeps recent results, which is printed apart. The first run in a fresh process (imports, font
cache, first draw) is printed apart. The machine may be shared: read the figures as this machine's at that time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradebot.core.course import course_facts  # noqa: E402
from gradebot.core.course_format import task_of  # noqa: E402
from gradebot.core.models import Result, Student, Submission  # noqa: E402

MSK = timezone(timedelta(hours=3))
DEADLINE = datetime(2026, 12, 20, 23, 59, tzinfo=MSK)
MESSAGES = [
    "AssertionError: the output differs from Keras: max abs error {f:.4g} > {tol:g}",
    "ValueError: shapes ({a}, {b}) and ({c},) not aligned: {b} (dim 1) != {c} (dim 0)",
    "AssertionError: expected shape ({a}, {b}), got ({b}, {a})",
    "NotImplementedError",
    "AttributeError: 'DenseLayer' object has no attribute 'W'",
    "[hidden test] AssertionError: the Jacobian differs from the numerical one: relative error {f:.3g}",
    "RuntimeWarning: overflow encountered in exp at 0x{addr:x}",
    "[hidden test] AssertionError: accuracy after training {f:.3f} < 0.85",
]


def synthetic_class(facts, n_students: int, k: int, seed: int = 0) -> tuple[list[Student], list[Submission]]:
    rng = random.Random(seed)
    difficulty = {gid: rng.uniform(0.0, 0.5) for gid in facts.cells}
    usual = {gid: rng.sample(range(len(MESSAGES)), 3) for gid in facts.cells}
    students = [Student(f"st{i:04d}", f"Студент {i}", f"g{i % 6 + 1}") for i in range(n_students)]
    subs: list[Submission] = []
    for st in students:
        ability = rng.betavariate(5, 2)
        times = sorted(DEADLINE - timedelta(hours=rng.expovariate(1 / 60) - 6) for _ in range(k))
        for attempt, at in enumerate(times):
            subs.append(
                _attempt(rng, facts, len(subs) + 1, st.student_id, at, ability + 0.05 * attempt, difficulty, usual)
            )
    return students, subs


def _attempt(rng, facts, sid, student, at, ability, difficulty, usual) -> Submission:
    late = at > DEADLINE
    roll = rng.random()
    if roll < 0.01:
        return Submission(sid, student, "numnet.ipynb", at, "failed", late, None, "grading failed")
    if roll < 0.02:
        return Submission(sid, student, "numnet.ipynb", at, "queued", late, None, None)
    verdict = "timeout" if roll < 0.06 else "memory" if roll < 0.07 else "ok"
    cells, messages = {}, []
    for i, (gid, maximum) in enumerate(facts.cells.items()):
        stopped = verdict != "ok" and i > len(facts.cells) * 0.6  # the cells after a time-out never ran
        if not stopped and rng.random() < ability - difficulty[gid]:
            cells[gid] = maximum
            continue
        cells[gid] = 0.0
        if not stopped:
            text = MESSAGES[rng.choice(usual[gid])].format(
                f=rng.random(),
                tol=1e-5,
                a=rng.randint(1, 64),
                b=rng.randint(1, 784),
                c=rng.randint(1, 784),
                addr=rng.getrandbits(40),
            )
            messages.append(f"{gid}: failed ({text})")
    if verdict == "timeout":
        messages.append("grading stopped after the job time limit of 1200 s")
    tasks = {t: {"points": 0.0, "max": m} for t, m in facts.tasks.items()}
    for gid, pts in cells.items():
        tasks[task_of(gid)]["points"] += pts
    total = sum(cells.values())
    if late:
        total = round(total * 0.8, 6)
        messages.append("late submission: 20% penalty applied to the total")
    result = Result(total=total, max=facts.max_total, tasks=tasks, verdict=verdict, messages=messages, cells=cells)
    return Submission(sid, student, "numnet.ipynb", at, "done", late, result, None)


def fill_store(path: Path, students, subs):
    """A SQLite SqlStore holding the class (as the service would have written it)."""
    from gradebot.sqlstore import SqlStore

    store = SqlStore.in_file(path)
    store.upsert_students(students)
    for s in subs:
        row = store.add_submission(s.student_id, s.filename, "blob", "0" * 64, 10, "web", s.late, s.created_at)
        if s.status in ("done", "failed"):
            store.finish(row.id, s.status, s.result, s.error, None)
    return store


CPU = {}  # phase -> CPU seconds of this process in the last page() (the wall times suffer from other load)


def timed(fn, phase=None):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if phase:
        CPU[phase] = time.process_time() - c0
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--students", type=int, default=500)
    ap.add_argument("-k", "--submissions", type=int, default=5, help="submissions per student")
    ap.add_argument("-r", "--repeat", type=int, default=5)
    ap.add_argument("--store", action="store_true", help="also time reading the class from a SQLite store")
    ap.add_argument("--out", help="also write the report (JSON, SVG+PNG, HTML) into this directory")
    args = ap.parse_args(argv)

    facts = course_facts(ROOT / "source" / "numnet" / "numnet.ipynb")
    students, subs = synthetic_class(facts, args.students, args.submissions)
    print(
        f"class: {len(students)} students, {len(subs)} submissions, {len(facts.cells)} grade cells, "
        f"{len(facts.tasks)} tasks"
    )
    store = None
    if args.store:
        tmp = tempfile.TemporaryDirectory()
        store, t = timed(lambda: fill_store(Path(tmp.name) / "store.db", students, subs))
        print(f"store filled in {t:.1f} s (not part of the page)")

    t_first = time.perf_counter()
    from gradebot.cockpit import plots, report
    from gradebot.cockpit.stats import class_stats

    def page():
        times = {}
        CPU.clear()
        rows = subs
        if store is not None:
            (rows, roster), times["store read"] = timed(
                lambda: (store.list_submissions(), store.list_students()), "store read"
            )
        else:
            roster = students
        stats, times["stats"] = timed(
            lambda: class_stats(roster, rows, facts, counting="latest", deadline=DEADLINE), "stats"
        )
        svgs = {}
        for name, make in plots.FIGURES.items():  # what plots.render_all(stats) does (uncached), per plot
            fig, t_fig = timed(lambda: make(stats), "figure")
            svgs[name], t_svg = timed(lambda: plots.to_svg(fig, name), "svg")
            times[f"plot {name}"] = t_fig + t_svg
            CPU[f"plot {name}"] = CPU.pop("figure") + CPU.pop("svg")
        html, times["html"] = timed(lambda: report.stats_html(stats, svgs), "html")
        times["total"] = sum(times.values())
        CPU["total"] = sum(CPU.values())
        return stats, html, times, dict(CPU)

    stats, html, _, _ = page()
    print(f"first run in this process (imports, fonts, first draw): {time.perf_counter() - t_first:.2f} s")
    results = [page() for _ in range(args.repeat)]
    runs, cpus = [r[2] for r in results], [r[3] for r in results]
    print(
        f"{'phase':<18} {'wall median s':>13} {'wall min s':>10} {'CPU median s':>12}   "
        f"({args.repeat} runs after a warm-up)"
    )
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"{key:<18} {statistics.median(values):13.3f} {min(values):10.3f} "
            f"{statistics.median(c[key] for c in cpus):12.3f}"
        )
    plots.render_all(stats)
    _, t_cached = timed(lambda: plots.render_all(stats))
    print(f"plots.render_all of unchanged statistics (cached): {t_cached:.3f} s")
    plot_share = statistics.median(sum(v for k, v in r.items() if k.startswith("plot")) / r["total"] for r in runs)
    print(
        f"plots are {plot_share:.0%} of the total; HTML fragment {len(html) / 1024:.0f} KiB; "
        f"counted {stats.counted}/{stats.students}, median total {stats.total.median:.2f}/{stats.max_total:g}"
    )
    if args.out:
        written = report.write_report(args.out, stats)
        print(f"wrote {len(written)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
