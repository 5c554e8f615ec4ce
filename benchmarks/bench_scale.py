"""Throughput, latency and CPU cost of grading: the embedded backend vs. the celery backend, in one run.

    python benchmarks/bench_scale.py                       # tiny course, bursts of 100 (1 and 2 workers each)
    python benchmarks/bench_scale.py --burst 40 --throughput-burst 20     # quicker
    python benchmarks/bench_scale.py --course-root . --assignment numnet --notebook numnet.ipynb \\
        --submission path/to/solved.ipynb                  # the real course (slow: minutes per submission)

For each backend and worker count (1, 2) it posts a burst of submissions at once (from 8 threads, as a crowd of
web requests would) and waits for all results. Printed as a markdown table:

- subs/min: burst size / (last result - first submit) * 60
- latency p50/p95: seconds from a submission's commit to its result (created_at -> finished_at in the store),
  what a student waits in a burst; the p50/p95 columns of the 100-burst rows are the queue-latency figures
- worker CPU/sub: CPU seconds (user+sys) of the worker process trees (nbgrader, kernels and sandbox included, measured
  with a cpuacct cgroup; worker start-up and one warm-up submission per worker amortized) per submission; front CPU/sub:
  the submitting process (validation, store, publish)
- services CPU/sub: Redis + PostgreSQL server CPU per submission (celery only)

Celery workers here are separate processes on this machine with their own work dirs (each = one "host");
the machine has 2 cores and may be shared, so read the figures as this machine's, not as a law.
Needs: scripts/start_services.sh (Redis, PostgreSQL), bubblewrap (the sandbox).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "start_services.sh"
STATE = Path(os.environ.get("GRADEBOT_SERVICES_DIR", "/tmp/gradebot-services"))


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class TreeCPU:
    """CPU seconds of this process and everything it starts from now on.

    Uses a cgroup-v1 ``cpuacct`` group when it can make one (root): it counts every descendant, also those never
    waited for (the core's nbgrader fork server and its children, sandboxed kernels). Else falls back to
    RUSAGE_CHILDREN, which only sees waited-for children (then the figure is a lower bound: ``exact`` False)."""

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self):
        self.group = None
        try:
            g = self.ROOT / f"gradebot-bench-{uuid.uuid4().hex[:8]}"
            g.mkdir()
            (g / "cgroup.procs").write_text(str(os.getpid()))
            self.group = g
        except OSError:
            self.group = None
        self.exact = self.group is not None
        self.t0 = self._now()

    def _now(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime + self_cpu()

    def close(self) -> float:
        """CPU seconds since creation; moves this process back to the root group."""
        used = self._now() - self.t0
        if self.group is not None:
            (self.ROOT / "cgroup.procs").write_text(str(os.getpid()))
            try:
                self.group.rmdir()
            except OSError:
                pass  # a process that outlived its run is still inside; harmless
        return used


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def services_cpu() -> float:
    """CPU seconds used so far by the Redis server and the PostgreSQL cluster of scripts/start_services.sh."""
    import psutil

    total = 0.0
    pids = []
    for pidfile in (STATE / "redis" / "redis.pid", STATE / "pg" / "data" / "postmaster.pid"):
        try:
            pids.append(int(pidfile.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p] + p.children(recursive=True)
            for q in procs:
                t = q.cpu_times()
                total += t.user + t.system + (t.children_user + t.children_system if q is p else 0.0)
        except psutil.NoSuchProcess:
            pass
    return total


def start_services() -> dict[str, str]:
    out = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("GRADEBOT_"))


def fresh_db(urls: dict[str, str]) -> tuple[dict[str, str], str]:
    import psycopg
    import redis
    from gradebot.sqlstore import normalize_url

    name = "gbbench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(normalize_url(urls["GRADEBOT_DB_URL"])[0], autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    broker = urls["GRADEBOT_BROKER_URL"].rsplit("/", 1)[0] + "/15"
    redis.Redis.from_url(broker).flushdb()
    return {
        "GRADEBOT_BROKER_URL": broker,
        "GRADEBOT_DB_URL": urls["GRADEBOT_DB_URL"].rsplit("/", 1)[0] + "/" + name,
    }, name


def drop_db(urls: dict[str, str], name: str) -> None:
    import psycopg
    from gradebot.sqlstore import normalize_url

    with psycopg.connect(normalize_url(urls["GRADEBOT_DB_URL"])[0], autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def warm_up(svc, students: list[str], data: bytes, workers: int, timeout: float) -> None:
    """One submission per worker, waited for: course build, sandbox check and nbgrader start-up happen here, not
    in the measured burst (their CPU still counts in the worker CPU per submission, amortized)."""
    subs = [svc.submit(students[i], "nb.ipynb", data, source="web") for i in range(workers)]
    for s in subs:
        if svc.wait(s.id, timeout=timeout).status != "done":
            raise SystemExit(f"warm-up submission {s.id} was not graded")


def burst(svc, students: list[str], data: bytes, n: int, timeout: float) -> dict:
    """Post n submissions at once; wait for all; return timing figures."""
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        subs = list(ex.map(lambda i: svc.submit(students[i % len(students)], "nb.ipynb", data, source="web"), range(n)))
    deadline = time.monotonic() + timeout
    final = []
    for s in subs:
        final.append(svc.wait(s.id, timeout=max(1.0, deadline - time.monotonic())))
    bad = [(s.id, s.status, s.error) for s in final if s.status != "done"]
    if bad:
        raise SystemExit(f"not graded within {timeout:.0f} s: {bad[:5]}")
    lat = [(s.finished_at - s.created_at).total_seconds() for s in final]
    t_end = max(s.finished_at.timestamp() for s in final)
    return {"n": n, "span": t_end - t0, "lat": lat, "totals": {s.result.total for s in final}}


def base_env(args, course: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GRADEBOT_COURSE_ROOT=str(course),
        GRADEBOT_ASSIGNMENT=args.assignment,
        GRADEBOT_NOTEBOOK=args.notebook,
        GRADEBOT_WORKERS="1",
    )
    return env


def run_embedded(args, course: Path, workers: int, n: int, data: bytes, tmp: Path) -> dict:
    from gradebot.config import Config
    from gradebot.core.service import GradingService

    cfg = Config.from_env(
        base_env(args, course), backend="embedded", workers=workers, data_dir=str(tmp / f"emb{workers}-{n}")
    )
    svc = GradingService(cfg)
    students = [f"b{i:03d}" for i in range(20)]
    svc.import_roster("student_id,name,group\n" + "".join(f"{s},Bench {s},g\n" for s in students))
    tree, all0 = TreeCPU(), self_cpu()
    svc.start()
    try:
        warm_up(svc, students, data, workers, args.timeout)
        self0 = self_cpu()
        r = burst(svc, students, data, n, args.timeout)
        front = self_cpu() - self0
    finally:
        svc.stop()
        total = tree.close()
    r.update(worker_cpu=total - (self_cpu() - all0), front_cpu=front, services_cpu=None, warm=workers, exact=tree.exact)
    return r


def run_celery(args, course: Path, workers: int, n: int, data: bytes, tmp: Path, urls: dict) -> dict:
    from gradebot.config import Config
    from gradebot.core.service import GradingService

    db, dbname = fresh_db(urls)
    env = base_env(args, course)
    env.update(db)
    env.update(GRADEBOT_BACKEND="celery", GRADEBOT_SWEEP_INTERVAL="5")
    cfg = Config.from_env(env, data_dir=str(tmp / f"cel{workers}-{n}-front"))
    for k, v in db.items():  # the front reads the celery settings from its Config (or os.environ)
        setattr(cfg, k[len("GRADEBOT_") :].lower(), v)
    svc = GradingService(cfg)
    students = [f"b{i:03d}" for i in range(20)]
    svc.import_roster("student_id,name,group\n" + "".join(f"{s},Bench {s},g\n" for s in students))
    procs = []
    tree, all0 = TreeCPU(), self_cpu()
    for w in range(workers):
        host = tmp / f"cel{workers}-{n}-host{w}"
        (host / "work").mkdir(parents=True)
        wenv = dict(
            env,
            GRADEBOT_DATA_DIR=str(host / "data"),
            GRADEBOT_WORK_DIR=str(host / "work"),
            GRADEBOT_WORKER_NAME=f"bench{w}@{os.uname().nodename}",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gradebot.backends.celery_worker", "worker"],
                env=wenv,
                stdout=open(host / "worker.log", "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    # wait until every worker is consuming (start-up is not part of the burst's latency)
    deadline = time.monotonic() + 300
    while True:
        replies = svc.backend.app.control.ping(timeout=1.0) or []
        if len(replies) >= workers:
            break
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit("celery workers did not start; see their worker.log under " + str(tmp))
    svc.start()
    try:
        warm_up(svc, students, data, workers, args.timeout)
        svc_cpu0, self0 = services_cpu(), self_cpu()
        r = burst(svc, students, data, n, args.timeout)
        front = self_cpu() - self0
        services = services_cpu() - svc_cpu0
    finally:
        svc.stop()
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(120)
        svc.store.close()
        total = tree.close()
        drop_db(urls, dbname)
    r.update(
        worker_cpu=total - (self_cpu() - all0), front_cpu=front, services_cpu=services, warm=workers, exact=tree.exact
    )
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--burst", type=int, default=100, help="burst size for the latency rows (default 100)")
    ap.add_argument(
        "--throughput-burst", type=int, default=None, help="burst size for the 1-worker rows (default: same as --burst)"
    )
    ap.add_argument("--course-root", default=None, help="nbgrader course (default: a tiny course in a tmp dir)")
    ap.add_argument("--assignment", default=None)
    ap.add_argument("--notebook", default=None)
    ap.add_argument("--submission", default=None, help=".ipynb to submit (default: the tiny course's solution)")
    ap.add_argument("--backends", default="embedded,celery")
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args()
    from fixtures import load_tinycourse

    tinycourse = load_tinycourse()
    tmp = Path(tempfile.mkdtemp(prefix="gb-bench-scale-"))
    try:
        if args.course_root:
            course = Path(args.course_root).resolve()
            args.assignment = args.assignment or "numnet"
            args.notebook = args.notebook or "numnet.ipynb"
        else:
            course = tinycourse.make_tiny_course(tmp / "course")
            args.assignment, args.notebook = tinycourse.ASSIGNMENT, tinycourse.NOTEBOOK
        data = Path(args.submission).read_bytes() if args.submission else tinycourse.submission()
        urls = start_services() if "celery" in args.backends else {}
        n_small = args.throughput_burst or args.burst
        rows = []
        for backend in args.backends.split(","):
            for workers, n in ((1, n_small), (2, args.burst)):
                print(f"... {backend}, {workers} worker(s), burst of {n}", file=sys.stderr, flush=True)
                if backend == "embedded":
                    r = run_embedded(args, course, workers, n, data, tmp)
                else:
                    r = run_celery(args, course, workers, n, data, tmp, urls)
                rows.append((backend, workers, r))
        print(
            f"\nGrading throughput and latency ({course.name if args.course_root else 'tiny course'}, "
            f"{os.cpu_count()} cores, machine load at end {os.getloadavg()[0]:.1f})\n"
        )
        print(
            "| backend | workers | burst | subs/min | latency p50 (s) | latency p95 (s) | worker CPU/sub (s) "
            "| front CPU/sub (ms) | services CPU/sub (ms) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for backend, workers, r in rows:
            svc_ms = "-" if r["services_cpu"] is None else f"{1000 * r['services_cpu'] / r['n']:.0f}"
            cpu = f"{r['worker_cpu'] / (r['n'] + r['warm']):.2f}" + ("" if r["exact"] else " (waited children only)")
            print(
                f"| {backend} | {workers} | {r['n']} | {60 * r['n'] / r['span']:.1f} | "
                f"{percentile(r['lat'], 0.5):.1f} | {percentile(r['lat'], 0.95):.1f} | "
                f"{cpu} | {1000 * r['front_cpu'] / r['n']:.0f} | {svc_ms} |"
            )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
