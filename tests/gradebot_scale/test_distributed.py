"""The celery backend end to end, with real Redis and PostgreSQL servers and three worker processes that share no
directories (as separate hosts would):

* 60 submissions posted at once are each graded exactly once and recorded, while one worker is killed with
  SIGKILL in the middle of a job and the broker is killed and restarted mid-run;
* the nbgrader gradebook totals (PostgreSQL) equal those of the embedded backend for the same submissions.

Expected points come from the tiny course's definition (tinycourse.TASK_MAX), not from the code under test.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import time

import pytest

import tinycourse

from .conftest import SCRIPT, fresh_database, new_cluster, wait_until

ADD_OK = "def add(a, b):\n    return a + b\n"
MUL_OK = "def mul(a, b):\n    return a * b\n"
ADD_BAD = "def add(a, b):\n    return a - b\n"
MUL_BAD = "def mul(a, b):\n    return a + b\n"
# variant -> (solution source, tasks it solves)
VARIANTS = {
    "solved": (ADD_OK + "\n" + MUL_OK, ("part1_add", "part2_mul")),
    "add_wrong": (ADD_BAD + "\n" + MUL_OK, ("part2_mul",)),
    "mul_wrong": (ADD_OK + "\n" + MUL_BAD, ("part1_add",)),
    "nothing": (ADD_BAD + "\n" + MUL_BAD, ()),
}
ORDER = list(VARIANTS)
N_STUDENTS = 20
ATTEMPTS = 3


def expected_points(variant: str) -> float:
    return float(sum(tinycourse.TASK_MAX[t] for t in VARIANTS[variant][1]))


def workload() -> list[tuple[str, str, bytes]]:
    """60 (student_id, variant, notebook bytes): 20 students x 3 attempts with different variants."""
    out = []
    for attempt in range(ATTEMPTS):
        for i in range(N_STUDENTS):
            variant = ORDER[(i + attempt) % len(ORDER)]
            nb = tinycourse.submission(edit={"solution_funcs": VARIANTS[variant][0]})
            out.append((f"st{i:02d}", variant, nb))
    return out


ROSTER = "student_id,name,group\n" + "".join(f"st{i:02d},Student {i:02d},g{i % 3}\n" for i in range(N_STUDENTS))


def expected_counted() -> dict[str, float]:
    """counting=latest: the points of each student's last attempt."""
    last = {}
    for sid, variant, _ in workload():
        last[sid] = expected_points(variant)
    return last


def gradebook_totals(url: str) -> dict[str, float]:
    """Per-student score of the tiny assignment in an nbgrader gradebook (nbgrader's own API)."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return {s.student.id: float(s.score) for s in gb.assignment_submissions(tinycourse.ASSIGNMENT)}


def post_all(svc, items) -> list:
    """Submit everything at once from 8 threads (as a burst of web requests would)."""
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(lambda it: svc.submit(it[0], "tiny.ipynb", it[2], source="web"), items))


@pytest.fixture(scope="module")
def celery_run(services, tiny_course, tmp_path_factory):
    """Grade the workload on 3 celery workers; kill one mid-job and the broker mid-run. Returns what happened."""
    from gradebot.core.service import GradingService

    root = tmp_path_factory.mktemp("celery_run")
    with fresh_database(services) as urls:
        cluster = new_cluster(urls, tiny_course, root)
        svc = GradingService(cluster.config())
        try:
            svc.import_roster(ROSTER)
            svc.start()
            for name in ("w1", "w2", "w3"):
                cluster.start_worker(name)
            items = workload()
            t0 = time.monotonic()
            subs = post_all(svc, items)
            store = svc.store

            # 1. SIGKILL worker w2 while it holds a claim (mid-grading)
            def w2_claim():
                cluster.check_alive()
                rows = [sid for sid, worker in store.active_claims() if worker.startswith("w2@")]
                return rows[0] if rows else None

            victim = wait_until(w2_claim, 300, 0.2, "worker w2 to start grading")
            time.sleep(1.0)  # well inside the job (nbgrader + kernel take seconds)
            assert store.get_submission(victim).status == "grading"
            cluster.kill_worker("w2")
            killed_at = time.monotonic()

            # 2. kill the broker (SIGKILL: a crash) after some more results, then start it again
            done_before = sum(1 for s in store.list_submissions() if s.status == "done")
            cluster.check_alive("w1", "w3")
            wait_until(
                lambda: sum(1 for s in store.list_submissions() if s.status == "done") >= done_before + 4,
                300,
                0.5,
                "more results after the worker kill",
            )
            subprocess.run(["bash", str(SCRIPT), "kill-redis"], check=True, timeout=60)
            time.sleep(3)
            restarted = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
            assert restarted.returncode == 0, restarted.stderr
            unfinished_at_restart = len(store.unfinished_ids())

            # 3. everything finishes
            wait_until(
                lambda: cluster.check_alive("w1", "w3") or not store.unfinished_ids(),
                900,
                1.0,
                "all 60 submissions to finish",
            )
            elapsed = time.monotonic() - t0
            # the last claims are released just after the results are committed
            wait_until(lambda: store.active_claims() == [], 60, 0.2, "the workers to release their claims")
            final = [store.get_submission(s.id) for s in subs]
            return dict(
                items=items,
                subs=subs,
                final=final,
                victim=victim,
                store_attempts=store.attempts(),
                result_counts={s.id: store.result_count(s.id) for s in subs},
                totals=gradebook_totals(svc.config.main_gradebook_url()),
                unfinished_at_restart=unfinished_at_restart,
                elapsed=elapsed,
                killed_after=killed_at - t0,
                alive={n: p.poll() is None for n, p in cluster.workers.items()},
                log_w1=cluster.log("w1"),
                log_w3=cluster.log("w3"),
                csv=svc.export_grades_csv(root / "grades.csv").read_text(),
            )
        finally:
            svc.stop()
            cluster.stop_all()
            svc.store.close()


def test_sixty_submissions_each_graded_exactly_once(celery_run):
    r = celery_run
    assert len(r["final"]) == 60
    wrong = [(s.id, s.status, s.error) for s in r["final"] if s.status != "done"]
    assert not wrong, f"not graded: {wrong}"
    for (sid, variant, _), sub in zip(r["items"], r["final"]):
        assert sub.student_id == sid
        assert sub.result.verdict == "ok", (sub.id, sub.result.messages)
        assert sub.result.total == expected_points(variant), (sub.id, variant, sub.result.to_json())
    # exactly one stored result per submission, and exactly one attempt that recorded it
    assert set(r["result_counts"].values()) == {1}
    done_attempts: dict[int, int] = {}
    for a in r["store_attempts"]:
        if a["outcome"] == "done":
            done_attempts[a["submission_id"]] = done_attempts.get(a["submission_id"], 0) + 1
    assert done_attempts == {s.id: 1 for s in r["final"]}
    # the three "hosts" really shared the work (w2 until it was killed)
    workers = {a["worker"].split("@")[0] for a in r["store_attempts"]}
    assert workers == {"w1", "w2", "w3"}


def test_worker_killed_mid_grading_loses_nothing(celery_run):
    r = celery_run
    assert r["alive"] == {"w1": True, "w2": False, "w3": True}
    victim = r["victim"]
    attempts = [a for a in r["store_attempts"] if a["submission_id"] == victim]
    # the killed worker's attempt was taken over (logged as lost) and another worker finished the job
    assert [a["outcome"] for a in attempts] == ["lost", "done"], attempts
    assert attempts[0]["worker"].startswith("w2@")
    assert not attempts[1]["worker"].startswith("w2@")
    sub = next(s for s in r["final"] if s.id == victim)
    assert sub.status == "done" and sub.deliveries == 2


def test_broker_restart_mid_run_loses_nothing(celery_run):
    r = celery_run
    # the broker died while work was still queued, and all of it was graded afterwards
    assert r["unfinished_at_restart"] > 0
    assert all(s.status == "done" for s in r["final"])
    # the surviving workers reconnected on their own
    for log in (r["log_w1"], r["log_w3"]):
        assert log.count("Connected to redis") >= 2, log[-3000:]


def test_gradebook_totals_equal_embedded_backend(celery_run, tiny_course, tmp_path):
    """Same 60 submissions through the embedded backend: nbgrader's gradebook totals must be identical."""
    import shutil

    from gradebot.config import Config
    from gradebot.core.service import GradingService

    expected = expected_counted()
    assert r_totals(celery_run) == expected
    course = tmp_path / "course"
    shutil.copytree(tiny_course, course)
    cfg = Config.make(
        data_dir=str(tmp_path / "data"),
        course_root=str(course),
        assignment=tinycourse.ASSIGNMENT,
        notebook=tinycourse.NOTEBOOK,
        workers=2,
        cell_timeout=20,
        wall_seconds=120,
        cpu_seconds=60,
        memory_bytes=1024**3,
        max_output_bytes=64 * 1024,
        lease_seconds=6,
    )
    svc = GradingService(cfg)
    try:
        svc.import_roster(ROSTER)
        svc.start()
        subs = post_all(svc, celery_run["items"])
        for s in subs:
            assert svc.wait(s.id, timeout=900).status == "done"
        # a job leaves the queue after its result is also in the gradebook (a moment after "done")
        wait_until(lambda: svc.queue_length() == 0, 60, 0.2, "the embedded queue to empty")
        embedded = gradebook_totals(cfg.main_gradebook_url())
    finally:
        svc.stop()
    assert embedded == expected
    assert embedded == r_totals(celery_run)
    # and per submission, the same points
    for a, b in zip(celery_run["final"], [svc.store.get_submission(s.id) for s in subs]):
        assert a.result.tasks == b.result.tasks
    # the CSV that nbgrader exports from the PostgreSQL gradebook has every student's counted total
    lines = celery_run["csv"].strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:]]
    assert {row["student_id"]: float(row["score"]) for row in rows} == expected


def r_totals(run) -> dict[str, float]:
    return run["totals"]
