"""The web front end on the REAL core (tiny nbgrader course from conftest.py, bubblewrap sandbox).

* ``python -m gradebot serve`` as a subprocess, exercised through its JSON API over loopback HTTP;
* the web page in headless Chromium, against an in-process server over a real GradingService;
* access codes on the real store (no grading needed: the service is not started).

The tiny course: part1_add (2 points), part2_mul (3 points); an honest submission scores 5 of 5, the
unsolved one 0 of 5 (see tests/tinycourse.py).
"""

import time

import httpx
import pytest

from test_web_support import config_env, free_port, gradebot_process, serve_app, wait_http_ok
from test_web_browser import start_chromium, upload_and_wait_for_table

import tinycourse as tc
from gradebot.core.service import GradingService
from gradebot.frontends.web import COOKIE_NAME, create_app

GRADING_TIMEOUT = 180


def _post(base, student_id, data, code, filename="tiny.ipynb"):
    return httpx.post(
        f"{base}/api/submissions",
        data={"student_id": student_id, "code": code},
        files={"file": (filename, data, "application/x-ipynb+json")},
        timeout=30,
    )


def _poll(base, sub_id, code, timeout=GRADING_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/submissions/{sub_id}", headers={"X-Gradebot-Code": code}, timeout=10)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.5)
    raise AssertionError(f"submission {sub_id} not graded in {timeout}s")


@pytest.fixture
def served(make_config, roster_csv, tmp_path):
    """``python -m gradebot serve`` on a free port, 1 worker, 50 kB upload limit, at most 2 per student/hour."""
    config = make_config(workers=1, max_upload_bytes=50_000, rate_limit="2/60")
    svc = GradingService(config)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    svc.store.close()
    port = free_port()
    env = config_env(config, web_host="127.0.0.1", web_port=port)
    log = tmp_path / "serve.log"
    with gradebot_process(["serve"], env, log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/healthz", proc, log)
        yield base, codes
    assert proc.returncode == 0, log.read_text()  # SIGTERM -> clean shutdown (workers stopped)


def test_serve_api_end_to_end(served):
    base, codes = served
    code = codes["s1"]
    auth = {"X-Gradebot-Code": code}

    # rejected before storage (these do not count toward the rate limit)
    r = _post(base, "s1", b'{"not": "a notebook"}', code)
    assert r.status_code == 400 and r.json()["error"] == "bad_submission", r.text
    r = _post(base, "s1", b" " * 200_000, code)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = _post(base, "ghost", tc.submission(), code)
    assert r.status_code == 403 and r.json()["error"] == "access_denied"
    r = _post(base, "s1", tc.submission(), codes["s2"])
    assert r.status_code == 403 and r.json()["error"] == "access_denied"

    honest = _post(base, "s1", tc.submission(), code.upper())
    assert honest.status_code == 202 and set(honest.json()) == {"id", "status"}
    wrong = _post(base, "s1", tc.submission(solved=False), code, filename="attempt2.ipynb")
    assert wrong.status_code == 202
    limited = _post(base, "s1", tc.submission(), code)
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 3601

    good = _poll(base, honest.json()["id"], code)
    assert good["status"] == "done", good
    assert good["result"]["tasks"] == {
        "part1_add": {"points": 2.0, "max": 2.0},
        "part2_mul": {"points": 3.0, "max": 3.0},
    }
    assert good["result"]["total"] == 5.0 and good["result"]["max"] == 5.0
    bad = _poll(base, wrong.json()["id"], code)
    assert bad["result"]["total"] == 0.0 and bad["filename"] == "attempt2.ipynb"

    fb = httpx.get(f"{base}{good['feedback_url']}", headers=auth, timeout=10)
    assert fb.status_code == 200 and fb.headers["content-type"].startswith("text/html")
    assert "visible test passed" in fb.text  # the student's own outputs are shown
    assert tc.HIDDEN_MARKER not in fb.text  # hidden tests never are
    other = {"X-Gradebot-Code": codes["s2"]}
    assert httpx.get(f"{base}{good['feedback_url']}", headers=other, timeout=10).status_code == 403

    listing = httpx.get(f"{base}/api/students/s1/submissions", headers=auth, timeout=10).json()["submissions"]
    assert sorted(s["id"] for s in listing) == sorted([honest.json()["id"], wrong.json()["id"]])
    assert httpx.get(f"{base}/api/students/s1/submissions", headers=other, timeout=10).status_code == 403
    assert httpx.get(f"{base}/api/submissions/999999", headers=auth, timeout=10).status_code == 403


def test_deadline_rejection_is_403(make_config, roster_csv):
    config = make_config(deadline="2000-01-01T00:00:00+00:00", late_policy="reject")
    svc = GradingService(config)  # not started: nothing is accepted, so no worker is needed
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    with serve_app(lambda: create_app(svc, config)) as base:
        r = _post(base, "s2", tc.submission(), codes["s2"])
        assert r.status_code == 403 and r.json()["error"] == "deadline_missed"
        assert svc.list_submissions("s2") == []


def test_access_codes_on_the_real_store(make_config, roster_csv):
    """Wrong code: 403 and nothing stored; right code: stored, readable with it or the page cookie, not with
    another student's code. The service is not started (submissions stay queued)."""
    config = make_config()
    svc = GradingService(config)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    code1, code2 = codes["s1"], codes["s2"]
    with serve_app(lambda: create_app(svc, config)) as base:
        r = _post(base, "s1", tc.submission(), code2)
        assert r.status_code == 403 and r.json()["error"] == "access_denied"
        assert svc.list_submissions("s1") == []
        r = _post(base, "s1", tc.submission(), " " + code1.replace("-", " ").upper())
        assert r.status_code == 202
        sub_id = r.json()["id"]
        assert [s.id for s in svc.list_submissions("s1")] == [sub_id]
        url = f"{base}/api/submissions/{sub_id}"
        assert httpx.get(url, headers={"X-Gradebot-Code": code1}).json()["status"] == "queued"
        assert httpx.get(url, headers={"X-Gradebot-Code": code2}).status_code == 403
        assert httpx.get(url).status_code == 403

        form = httpx.post(
            f"{base}/submit", data={"student_id": "s2", "code": code2}, files={"file": ("tiny.ipynb", tc.submission())}
        )
        assert form.status_code == 303
        cookie = {COOKIE_NAME: form.cookies[COOKIE_NAME]}
        assert httpx.get(f"{base}{form.headers['location']}", cookies=cookie).status_code == 200
        assert httpx.get(f"{base}/submissions/{sub_id}", cookies=cookie).status_code == 403  # s1's
    assert (config.data_path / "web_secret").stat().st_mode & 0o777 == 0o600


def test_require_code_off_on_the_real_store(make_config, roster_csv):
    """``require_code = false`` (trials on a closed network): the id alone submits and reads, as before codes."""
    config = make_config(require_code=False)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    with serve_app(lambda: create_app(svc, config)) as base:
        r = httpx.post(
            f"{base}/api/submissions", data={"student_id": "s3"}, files={"file": ("tiny.ipynb", tc.submission())}
        )
        assert r.status_code == 202
        assert httpx.get(f"{base}/api/submissions/{r.json()['id']}").json()["student_id"] == "s3"
        r = httpx.post(
            f"{base}/api/submissions", data={"student_id": "ghost"}, files={"file": ("tiny.ipynb", tc.submission())}
        )
        assert r.status_code == 404 and r.json()["error"] == "unknown_student"
    assert not (config.data_path / "web_secret").exists()


def test_browser_upload_on_real_core(make_config, roster_csv, tmp_path):
    config = make_config(workers=1)
    svc = GradingService(config)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    svc.start()
    nb = tmp_path / "tiny.ipynb"
    nb.write_bytes(tc.submission())
    driver = start_chromium(tmp_path)
    try:
        with serve_app(lambda: create_app(svc, config)) as base:
            rows, total = upload_and_wait_for_table(driver, base, "s3", nb, timeout=GRADING_TIMEOUT, code=codes["s3"])
            assert rows == {"part1_add": (2.0, 2.0), "part2_mul": (3.0, 3.0)}
            assert total == "5.0"
    finally:
        driver.quit()
        svc.stop()
