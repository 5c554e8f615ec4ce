"""Throughput of the gradebot core: N submissions posted at once, drained by the embedded backend's workers.

    python benchmarks/bench_gradebot.py                 # 100 submissions of the tiny course, workers = cores
    python benchmarks/bench_gradebot.py -n 20 --workers 2
    python benchmarks/bench_gradebot.py --course real -n 200 --workers 2    # the real course's reference, a burst
    python benchmarks/bench_gradebot.py --course real -n 10 --sequential    # turnaround: one submission at a time

Prints a markdown table: time to drain the queue, p50/p95 latency from upload to result, throughput, and CPU
utilisation over the drain (from /proc/stat: the whole machine, so other load on a shared host counts too; the
gradebot-only share is measured with psutil over the service's process tree).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import psutil  # noqa: E402

from fixtures import load_tinycourse  # noqa: E402
from gradebot.config import Config  # noqa: E402
from gradebot.core.service import GradingService  # noqa: E402

tc = load_tinycourse()


def _proc_stat() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


class TreeCpu(threading.Thread):
    """Sums CPU seconds of this process' descendants (workers, nbgrader, kernels) by sampling."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self):
        me = psutil.Process()
        while not self.stop.wait(0.5):
            for p in me.children(recursive=True):
                try:
                    t = p.cpu_times()
                    self.seen[p.pid] = t.user + t.system + t.children_user + t.children_system
                except psutil.Error:
                    pass

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def _scores(done) -> dict:
    counts: dict = {}
    for d in done:
        total = d.result.total if getattr(d, "result", None) is not None else None
        counts[total] = counts.get(total, 0) + 1
    return counts


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100, help="number of submissions (default 100)")
    ap.add_argument("--course", choices=["tiny", "real"], default="tiny")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="submit one at a time, waiting for each result (latency = the bot's turnaround)",
    )
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="gbbench-"))
    if args.course == "tiny":
        course = tc.make_tiny_course(tmp / "course")
        cfg = dict(course_root=str(course), assignment=tc.ASSIGNMENT, notebook=tc.NOTEBOOK, memory_bytes=2 * 1024**3)
        payloads = [tc.submission(), tc.submission(solved=False)]
    else:
        src = REPO / "source" / "numnet" / "numnet.ipynb"
        if not src.is_file():
            print("the real course is not built (source/numnet/numnet.ipynb missing)", file=sys.stderr)
            return 2
        cfg = dict(
            course_root=str(REPO), gradebook_url=f"sqlite:///{tmp / 'gradebook.db'}"
        )  # not the course's own gradebook
        payloads = [src.read_bytes()]
    config = Config.make(data_dir=str(tmp / "data"), workers=args.workers, **cfg)
    svc = GradingService(config)
    svc.import_roster("student_id,name,group\n" + "".join(f"b{i},Bench {i},g\n" for i in range(args.n)))

    # build the course template before timing (done once per course version in production too)
    from gradebot.core.course import course_build

    t_build = time.monotonic()
    course_build(config)
    build_s = time.monotonic() - t_build

    svc.start()
    time.sleep(2)  # workers up
    tree = TreeCpu()
    tree.start()
    busy0, total0 = _proc_stat()
    t0 = time.monotonic()
    if args.sequential:
        done = [
            svc.wait(svc.submit(f"b{i}", "nb.ipynb", payloads[i % len(payloads)], source="cli").id)
            for i in range(args.n)
        ]
        t_submitted = float("nan")
    else:
        subs = [svc.submit(f"b{i}", "nb.ipynb", payloads[i % len(payloads)], source="cli") for i in range(args.n)]
        t_submitted = time.monotonic() - t0
        done = [svc.wait(s.id) for s in subs]
    drain = time.monotonic() - t0
    busy1, total1 = _proc_stat()
    tree.stop.set()
    tree.join()
    svc.stop()

    lat = [(d.finished_at - d.created_at).total_seconds() for d in done]
    statuses = {}
    for d in done:
        statuses[d.status] = statuses.get(d.status, 0) + 1
    ncpu = os.cpu_count() or 1
    machine_util = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
    own_util = 100.0 * tree.seconds / (drain * ncpu)
    rows = [
        ("course", args.course),
        ("submissions", args.n),
        ("workers", args.workers),
        ("cores", ncpu),
        ("mode", "one at a time" if args.sequential else "all at once"),
        ("scores", ", ".join(f"{k}: {v}" for k, v in sorted(_scores(done).items()))),
        ("statuses", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))),
        ("course build (once, s)", f"{build_s:.1f}"),
        ("time to accept all uploads (s)", f"{t_submitted:.2f}"),
        ("time to drain (s)", f"{drain:.1f}"),
        ("throughput (submissions/min)", f"{60.0 * args.n / drain:.1f}"),
        ("latency p50 (s)", f"{statistics.median(lat):.1f}"),
        ("latency p95 (s)", f"{percentile(lat, 0.95):.1f}"),
        ("latency max (s)", f"{max(lat):.1f}"),
        ("CPU busy, whole machine (%)", f"{machine_util:.0f}"),
        ("CPU used by gradebot's process tree (% of all cores)", f"{own_util:.0f}"),
        ("load average (1 min) at end", f"{os.getloadavg()[0]:.1f}"),
    ]
    print("| metric | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"\ndata kept in {tmp}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
