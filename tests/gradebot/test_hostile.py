"""Hostile notebooks graded through the service (2 workers, bubblewrap sandbox) against the tiny course.

All of them are submitted at once together with honest submissions; each must get its verdict and points while
the service keeps grading the honest ones. The tiny course: part1_add (2 points: visible + hidden tests),
part2_mul (3 points: hidden tests, including "no `import wave`")."""

from __future__ import annotations

import json
import os

import pytest

import tinycourse as tc
from gradebot.core.errors import SubmissionRejected
from gradebot.core.service import GradingService, grade_notebook_file

FULL = 5.0


def _cases(config):
    course = config.course_path
    store_db = config.data_path / "gradebot.sqlite3"
    gradebook = course / "gradebook.db"
    source_nb = course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK
    pwned = course / "PWNED"
    return {
        "honest": tc.submission(),
        "honest_wrong": tc.submission(solved=False),
        "infinite_loop": tc.submission(["while True:\n    pass"]),
        # bytes(n) comes from calloc: fresh zero pages, never written, so the 2 GiB address-space limit is hit in
        # milliseconds; bytearray(n) writes every page (~1.5 s for 2 GiB when idle), and on a loaded machine the
        # cell's 8 s timeout could come first (a "timeout" verdict: seen once in CI)
        "memory_bomb": tc.submission(["blocks = []\nwhile True:\n    blocks.append(bytes(50 * 2**20))"]),
        "fork_bomb": tc.submission(["import os\nfor _ in range(100000):\n    os.fork()"]),
        "network": tc.submission(["import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)"]),
        "dns": tc.submission(["import urllib.request\nurllib.request.urlopen('http://example.com', timeout=3)"]),
        "read_source": tc.submission([f"print(open({str(source_nb)!r}).read())"]),
        "read_gradebook": tc.submission([f"print(open({str(gradebook)!r}, 'rb').read(100))"]),
        "read_store": tc.submission([f"print(open({str(store_db)!r}, 'rb').read(100))"]),
        "write_outside": tc.submission([f"open({str(pwned)!r}, 'w').write('x')"]),
        "write_system": tc.submission(["open('/usr/lib/pwned', 'w').write('x')"]),
        "kill_parent": tc.submission(["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"]),
        "kill_all": tc.submission(["import os, signal\nos.kill(-1, signal.SIGKILL)"]),
        "huge_output": tc.submission(["print('x' * 100_000_000)"]),
        "deleted_test": tc.submission(drop_grade_ids=("part1_add__visible",)),
        "edited_tests": tc.submission(solved=False, edit={"part1_add__visible": "pass", "part2_mul__hidden": "pass"}),
        "forbidden_import": tc.submission(["import wave"]),
        "scratch_ok": tc.submission(
            ["open('notes.txt', 'w').write('ok')\nimport helper_module\nprint(helper_module.GREETING)"]
        ),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, tiny_course, build_dir):
    """Submit the whole corpus at once; wait for all results. Returns {case: Submission}, feedback, config."""
    from gradebot.config import Config
    import shutil

    tmp = tmp_path_factory.mktemp("hostile")
    course = tmp / "course"
    shutil.copytree(tiny_course, course)
    config = Config.make(
        data_dir=str(tmp / "data"),
        course_root=str(course),
        assignment=tc.ASSIGNMENT,
        notebook=tc.NOTEBOOK,
        build_dir=str(build_dir),
        workers=2,
        cell_timeout=8,
        wall_seconds=150,
        cpu_seconds=60,
        memory_bytes=2 * 1024**3,
        max_processes=64,
        max_output_bytes=64 * 1024,
        lease_seconds=10,
    )
    cases = _cases(config)
    svc = GradingService(config)
    svc.import_roster("student_id,name,group\n" + "".join(f"{name},{name},g\n" for name in cases))
    svc.start()
    try:
        ids = {name: svc.submit(name, f"{name}.ipynb", data).id for name, data in cases.items()}
        results = {name: svc.wait(sid, timeout=900) for name, sid in ids.items()}
        feedback = {name: svc.feedback_html(sid) for name, sid in ids.items()}
        workers_alive = len(svc.backend.worker_pids())
    finally:
        svc.stop()
    report = {
        n: {
            "status": s.status,
            "verdict": s.result.verdict if s.result else None,
            "total": s.result.total if s.result else None,
            "messages": s.result.messages if s.result else None,
            "error": s.error,
        }
        for n, s in results.items()
    }
    print(json.dumps(report, indent=1))
    out = os.environ.get("GRADEBOT_CORPUS_REPORT")
    if out:  # docs/gradebot.md's table is made from this
        with open(out, "w") as f:
            json.dump(report, f, indent=1)
    return results, feedback, config, workers_alive


def _r(graded, name):
    sub = graded[0][name]
    assert sub.status == "done", (name, sub.status, sub.error)
    return sub.result


def test_service_survives_and_grades_honest_work(graded):
    assert _r(graded, "honest").total == FULL and _r(graded, "honest").verdict == "ok"
    assert _r(graded, "honest_wrong").total == 0.0
    assert graded[3] == 2, "both workers must still be alive after the corpus"


def test_infinite_loop_times_out_but_other_cells_count(graded):
    r = _r(graded, "infinite_loop")
    assert r.verdict == "timeout"
    assert any("timed out" in m for m in r.messages)
    assert r.total == FULL  # the loop cell was interrupted; the tests after it still ran


def test_memory_bomb(graded):
    r = _r(graded, "memory_bomb")
    assert r.verdict == "memory"
    assert r.total == FULL


def test_fork_bomb_is_contained(graded):
    r = _r(graded, "fork_bomb")
    # the forks hit RLIMIT_NPROC (EAGAIN) and/or keep the cell busy until its timeout, whichever the kernel
    # reports first; either way the bomb stays inside the job's pid namespace and dies with it
    assert r.verdict in ("sandbox-violation", "timeout"), r.verdict
    assert any("process limit" in m or "timed out" in m for m in r.messages)


@pytest.mark.parametrize("case", ["network", "dns"])
def test_network_is_blocked(graded, case):
    r = _r(graded, case)
    assert r.verdict == "sandbox-violation"
    assert any("network" in m for m in r.messages)
    assert r.total == FULL


@pytest.mark.parametrize("case", ["read_source", "read_gradebook", "read_store"])
def test_course_gradebook_and_store_are_invisible(graded, case):
    r = _r(graded, case)
    assert r.verdict == "sandbox-violation"
    assert any("outside the sandbox" in m for m in r.messages)
    assert tc.HIDDEN_MARKER not in graded[1][case]
    assert "SQLite format" not in graded[1][case]


def test_writes_outside_scratch_fail(graded):
    config = graded[2]
    assert not (config.course_path / "PWNED").exists()
    assert not os.path.exists("/usr/lib/pwned")
    for case in ("write_outside", "write_system"):
        r = _r(graded, case)
        assert r.verdict == "sandbox-violation", case


def test_killing_the_parent_or_everything_harms_nobody(graded):
    # the kernel lives in its own pid namespace: its parent is the namespace's init, which it may not signal,
    # and kill(-1) reaches only its own processes; the grader is untouched and all tests still run
    r = _r(graded, "kill_parent")
    assert r.verdict == "sandbox-violation" and r.total == FULL
    r = _r(graded, "kill_all")
    assert r.verdict == "ok" and r.total == FULL


def test_huge_output_is_capped(graded):
    r = _r(graded, "huge_output")
    assert r.verdict == "output-limit"
    assert r.total == FULL
    assert len(graded[1]["huge_output"]) < 2_000_000


def test_deleted_and_edited_test_cells(graded):
    # a deleted graded cell scores 0; the other task still counts
    r = _r(graded, "deleted_test")
    assert r.tasks["part1_add"]["points"] == 0.0 and r.tasks["part2_mul"]["points"] == 3.0
    # edited tests are replaced by the originals (nbgrader overwrites test cells): a wrong solution still fails
    assert _r(graded, "edited_tests").total == 0.0


def test_forbidden_import_reported(graded):
    r = _r(graded, "forbidden_import")
    assert r.tasks["part2_mul"]["points"] == 0.0 and r.tasks["part1_add"]["points"] == 2.0
    assert any("forbidden import: wave" in m for m in r.messages)


def test_scratch_is_writable_and_helper_files_importable(graded):
    r = _r(graded, "scratch_ok")
    assert r.verdict == "ok" and r.total == FULL
    assert "hello from helper" in graded[1]["scratch_ok"]


def test_feedback_never_contains_hidden_tests(graded):
    for name, html in graded[1].items():
        assert html is not None, name
        assert tc.HIDDEN_MARKER not in html, name
        assert "assert mul(3, 4) == 12" not in html, name
    assert "visible test passed" in graded[1]["honest"]


# ------------------------------------------------------------------------------------- rejected at upload
def test_uploads_rejected_before_queueing(make_config, roster_csv):
    config = make_config(max_upload_bytes=5 * 2**20)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    with pytest.raises(SubmissionRejected, match="not valid JSON"):
        svc.submit("s1", "a.ipynb", b'{"cells": [')
    with pytest.raises(SubmissionRejected, match="not a .ipynb"):
        svc.submit("s1", "a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(SubmissionRejected, match="not text"):
        svc.submit("s1", "a.ipynb", b"\x89PNG\r\n\x1a\n\xff\xfe" + b"\0" * 100)
    with pytest.raises(SubmissionRejected, match="not a Jupyter notebook"):
        svc.submit("s1", "a.ipynb", b'{"hello": 1}')
    big = tc.submission(["x = '" + "a" * (50 * 2**20) + "'"])
    assert len(big) > 50 * 2**20
    with pytest.raises(SubmissionRejected, match="limit is 5.0 MiB"):
        svc.submit("s1", "big.ipynb", big)
    assert svc.list_submissions("s1") == []


def test_cli_grade_of_bad_files_gives_invalid_notebook(make_config, tmp_path):
    config = make_config()
    bad = tmp_path / "bad.ipynb"
    bad.write_bytes(b"not json at all")
    r = grade_notebook_file(bad, config)
    assert r.verdict == "invalid-notebook" and r.total == 0.0 and r.max == FULL
    big = tmp_path / "big.ipynb"
    big.write_bytes(b" " * (config.max_upload_bytes + 1))
    r = grade_notebook_file(big, config)
    assert r.verdict == "invalid-notebook" and "limit" in r.messages[0]
