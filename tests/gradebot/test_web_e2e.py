"""The web front end on the REAL core (tiny nbgrader course from conftest.py, bubblewrap sandbox).

* ``python -m gradebot serve`` as a subprocess, exercised through its JSON API over loopback HTTP;
* the web page in headless Chromium, against an in-process server over a real GradingService.

The tiny course: part1_add (2 points), part2_mul (3 points); an honest submission scores 5 of 5, the
unsolved one 0 of 5 (see gradebot/tinycourse.py).
"""
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_web_support import (config_env, free_port, gradebot_process, serve_app,  # noqa: E402
                              wait_http_ok)
from test_web_browser import start_chromium, upload_and_wait_for_table  # noqa: E402

from gradebot import tinycourse as tc  # noqa: E402
from gradebot.core.service import GradingService  # noqa: E402
from gradebot.frontends.web import create_app  # noqa: E402

GRADING_TIMEOUT = 180


def _post(base, student_id, data, filename="tiny.ipynb"):
    return httpx.post(f"{base}/api/submissions", data={"student_id": student_id},
                      files={"file": (filename, data, "application/x-ipynb+json")}, timeout=30)


def _poll(base, sub_id, timeout=GRADING_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/submissions/{sub_id}", timeout=10)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.5)
    raise AssertionError(f"submission {sub_id} not graded in {timeout}s")


@pytest.fixture
def served(make_config, roster_csv, tmp_path):
    """``python -m gradebot serve`` on a free port, 1 worker, 50 kB upload limit, at most 2 per student/hour."""
    config = make_config(workers=1, max_upload_bytes=50_000, rate_limit="2/60")
    GradingService(config).import_roster(roster_csv)
    port = free_port()
    env = config_env(config, web_host="127.0.0.1", web_port=port)
    log = tmp_path / "serve.log"
    with gradebot_process(["serve"], env, log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/healthz", proc, log)
        yield base, config
    assert proc.returncode == 0, log.read_text()  # SIGTERM -> clean shutdown (workers stopped)


def test_serve_api_end_to_end(served):
    base, config = served

    # rejected before storage (these do not count toward the rate limit)
    r = _post(base, "s1", b'{"not": "a notebook"}')
    assert r.status_code == 400 and r.json()["error"] == "bad_submission", r.text
    r = _post(base, "s1", b" " * 200_000)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = _post(base, "ghost", tc.submission())
    assert r.status_code == 404 and r.json()["error"] == "unknown_student"
    assert "ghost" in r.json()["message"]

    honest = _post(base, "s1", tc.submission())
    assert honest.status_code == 202 and set(honest.json()) == {"id", "status"}
    wrong = _post(base, "s1", tc.submission(solved=False), filename="attempt2.ipynb")
    assert wrong.status_code == 202
    limited = _post(base, "s1", tc.submission())
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 3601

    good = _poll(base, honest.json()["id"])
    assert good["status"] == "done", good
    assert good["result"]["tasks"] == {"part1_add": {"points": 2.0, "max": 2.0},
                                       "part2_mul": {"points": 3.0, "max": 3.0}}
    assert good["result"]["total"] == 5.0 and good["result"]["max"] == 5.0
    bad = _poll(base, wrong.json()["id"])
    assert bad["result"]["total"] == 0.0 and bad["filename"] == "attempt2.ipynb"

    fb = httpx.get(f"{base}{good['feedback_url']}", timeout=10)
    assert fb.status_code == 200 and fb.headers["content-type"].startswith("text/html")
    assert "visible test passed" in fb.text         # the student's own outputs are shown
    assert tc.HIDDEN_MARKER not in fb.text          # hidden tests never are

    listing = httpx.get(f"{base}/api/students/s1/submissions", timeout=10).json()["submissions"]
    assert sorted(s["id"] for s in listing) == sorted([honest.json()["id"], wrong.json()["id"]])
    assert httpx.get(f"{base}/api/submissions/999999", timeout=10).status_code == 404


def test_deadline_rejection_is_403(make_config, roster_csv):
    config = make_config(deadline="2000-01-01T00:00:00+00:00", late_policy="reject")
    svc = GradingService(config)  # not started: nothing is accepted, so no worker is needed
    svc.import_roster(roster_csv)
    with serve_app(lambda: create_app(svc, config)) as base:
        r = _post(base, "s2", tc.submission())
        assert r.status_code == 403 and r.json()["error"] == "deadline_missed"
        assert svc.list_submissions("s2") == []


def test_browser_upload_on_real_core(make_config, roster_csv, tmp_path):
    config = make_config(workers=1)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    svc.start()
    nb = tmp_path / "tiny.ipynb"
    nb.write_bytes(tc.submission())
    driver = start_chromium(tmp_path)
    try:
        with serve_app(lambda: create_app(svc, config)) as base:
            rows, total = upload_and_wait_for_table(driver, base, "s3", nb, timeout=GRADING_TIMEOUT)
            assert rows == {"part1_add": (2.0, 2.0), "part2_mul": (3.0, 3.0)}
            assert total == "5.0"
    finally:
        driver.quit()
        svc.stop()
