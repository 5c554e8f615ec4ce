"""Time to render the instructor's class table (``GET /instructor/class``) for a large class, in process.

    python benchmarks/bench_class_table.py                  # 500 students x 5 submissions
    python benchmarks/bench_class_table.py -n 100 -k 3      # smaller

A fresh store (SQLite, the embedded backend's) is filled with ``-n`` roster students in 10 groups and ``-k``
graded submissions each, with results shaped like the real course's (its tasks and grade cells, from
source/numnet/numnet.ipynb; random points). Then, ``--repeat`` times: the data (``GradingService.class_table``:
students, every submission with its result, extensions, regrade counts, the counted attempt per student) and the
page (``Cockpit.render_class``: the Jinja template), as the request handler does; and the JSON API's body for
comparison. ``gradebot serve`` freezes the objects of its imports out of the garbage collector before serving
(``gc.freeze()``); the script does the same, and also prints the page's time without it. Printed: each phase's median
and best time, the page size. Target: data + page <= 1 s. The machine may be shared: read the figures as this machine's
at that time (the phases' ratios are steadier).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from gradebot.config import Config
from gradebot.core import classbook
from gradebot.core.course import course_facts
from gradebot.core.service import GradingService
from gradebot.frontends.cockpit import Cockpit
from gradebot.frontends.web import WebFrontend
from gradebot.sqlstore import tables as t

ROOT = Path(__file__).resolve().parent.parent


def fill(svc: GradingService, n: int, k: int, seed: int = 0) -> None:
    """``n`` students with ``k`` graded submissions each, written in one transaction (setup, not timed)."""
    rng = random.Random(seed)
    facts = course_facts(svc.config.source_notebook)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    engine = svc.store._engine()
    with engine.begin() as c:
        c.execute(
            sa.insert(t.students),
            [dict(student_id=f"st{i:04d}", name=f"Имя{i} Фамилия{i}", grp=f"g{i % 10}") for i in range(n)],
        )
        subs, results = [], []
        sid = 0
        for i in range(n):
            for j in range(k):
                sid += 1
                created = start + timedelta(minutes=i + 37 * j)
                subs.append(
                    dict(
                        id=sid,
                        student_id=f"st{i:04d}",
                        filename="numnet.ipynb",
                        blob_path="/nowhere",
                        sha256="0" * 64,
                        size=100_000,
                        source="web",
                        late=rng.random() < 0.1,
                        created_at=created,
                        status="done",
                        deliveries=1,
                        finished_at=created,
                    )
                )
                cells = {gid: rng.choice((0.0, m)) for gid, m in facts.cells.items()}
                tasks: dict[str, dict] = {}
                for gid, pts in cells.items():
                    task = gid.split("__", 1)[0]
                    entry = tasks.setdefault(task, {"points": 0.0, "max": facts.tasks[task]})
                    entry["points"] += pts
                total = sum(cells.values())
                results.append(
                    dict(
                        submission_id=sid,
                        recorded_at=created,
                        feedback_html="<p>feedback</p>",
                        result={
                            "total": total,
                            "max": facts.max_total,
                            "tasks": tasks,
                            "verdict": "ok",
                            "messages": [],
                            "cells": cells,
                        },
                    )
                )
        c.execute(sa.insert(t.submissions), subs)
        c.execute(sa.insert(t.results), results)


def timed(fn, repeat: int) -> tuple[list[tuple[float, float]], object]:
    """[(wall s, CPU s of this process)] of ``repeat`` calls, and the last call's value."""
    times, out = [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500, help="students (default 500)")
    ap.add_argument("-k", type=int, default=5, help="submissions per student (default 5)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.make(
            data_dir=tmp,
            course_root=str(ROOT),
            workers=1,
            instructor_password="bench-password-1",
            deadline="2026-12-20T23:59:00+03:00",
        )
        svc = GradingService(config)
        t0 = time.perf_counter()
        fill(svc, args.n, args.k)
        print(
            f"store: {args.n} students x {args.k} submissions written in {time.perf_counter() - t0:.1f} s "
            f"({len(course_facts(config.source_notebook).tasks)} tasks, "
            f"{len(course_facts(config.source_notebook).cells)} tests per result)"
        )
        fe = WebFrontend(svc, config)
        cockpit = Cockpit(fe)
        _page(svc, cockpit)  # warm-up: template compiled, course facts cached
        unfrozen, _ = timed(lambda: _page(svc, cockpit), args.repeat)
        gc.freeze()  # as `gradebot serve` does before serving

        data_times, table = timed(svc.class_table, args.repeat)
        page_times, html = timed(lambda: cockpit.render_class(table, table.rows, csrf="x"), args.repeat)
        both_times, _ = timed(lambda: _page(svc, cockpit), args.repeat)
        json_times, body = timed(lambda: json.dumps([classbook.row_to_json(r) for r in table.rows]), args.repeat)
        group_times, _ = timed(lambda: _page(svc, cockpit, group="g3"), args.repeat)
        fe.core.close()
        svc.store.close()

    def fmt(name, ts):
        wall, cpu = [w for w, _ in ts], [c for _, c in ts]
        print(
            f"{name:<46} wall median {statistics.median(wall) * 1000:6.0f} ms, best {min(wall) * 1000:6.0f} ms; "
            f"CPU median {statistics.median(cpu) * 1000:6.0f} ms"
        )

    print(
        f"rows: {len(table.rows)}; page: {len(html.encode()) / 1024:.0f} KiB; JSON: {len(body) / 1024:.0f} KiB; "
        f"repeat {args.repeat}; load average {os.getloadavg()[0]:.1f}"
    )
    fmt("data (GradingService.class_table)", data_times)
    fmt("page render (instructor_class.html)", page_times)
    fmt("data + page (what GET /instructor/class does)", both_times)
    fmt("data + page, without gc.freeze()", unfrozen)
    fmt("data + page, one group (?group=g3)", group_times)
    fmt("JSON body (GET /api/instructor/class rows)", json_times)
    wall, cpu = statistics.median(w for w, _ in both_times), statistics.median(c for _, c in both_times)
    print(
        f"target data + page <= 1 s: wall median {wall:.2f} s ({'meets' if wall <= 1.0 else 'MISSES'} it), CPU "
        f"median {cpu:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (on a busy "
        "machine the wall time includes waiting for a core)"
    )


def _page(svc: GradingService, cockpit: Cockpit, group: str = "") -> str:
    table = svc.class_table()
    return cockpit.render_class(table, table.filtered(group, ""), group=group, csrf="x")


if __name__ == "__main__":
    main()
