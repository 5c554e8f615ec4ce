"""The instructor area (gradebot/frontends/cockpit.py) over real loopback HTTP, on the real store and service.

The service is not started: results are recorded with ``store.finish`` as a worker would, so these tests need no
grading (the browser test, test_cockpit_browser.py, regrades through the real pipeline). The tiny course: part1_add
(2 points), part2_mul (3 points).
"""

import csv
import io
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from test_web_support import check_page_ids, serve_app

import tinycourse as tc
from gradebot.core import classbook, errors, gradebook
from gradebot.core.models import Result
from gradebot.core.service import GradingService
from gradebot.frontends import cockpit
from gradebot.frontends.web import COOKIE_NAME, create_app
from gradebot.sqlstore.tables import SCHEMA_VERSION

PASSWORD = "teach-secret-42"
PAST = "2000-01-01T00:00:00+00:00"


def _result(add: float, mul: float, penalty: float = 0.0) -> Result:
    raw = add + mul
    return Result(
        total=round(raw * (1 - penalty), 6),
        max=5.0,
        tasks={"part1_add": {"points": add, "max": 2.0}, "part2_mul": {"points": mul, "max": 3.0}},
        cells={"part1_add__visible": add, "part2_mul__hidden": mul},
        messages=["late submission: 20% penalty applied to the total"] if penalty else [],
    )


def _graded(svc, student_id, add, mul, penalty=0.0, data=None):
    """A stored submission with a recorded result (as a worker records it)."""
    sub = svc.submit(student_id, "tiny.ipynb", data or tc.submission())
    assert svc.store.finish(
        sub.id, "done", _result(add, mul, penalty if sub.late else 0.0), None, f"<p>feedback {sub.id}</p>"
    )
    return svc.get_submission(sub.id)


@pytest.fixture
def make_served(make_config, roster_csv):
    """serve(**config overrides) -> (base URL, service); the roster is s1, s2 (group g1) and s3 (g2), their access
    codes in ``serve.codes``."""
    servers = []

    def serve(**overrides):
        overrides.setdefault("instructor_password", PASSWORD)
        config = make_config(**overrides)
        svc = GradingService(config)
        serve.codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
        ctx = serve_app(lambda: create_app(svc, config))
        base = ctx.__enter__()
        servers.append(ctx)
        return base, svc

    yield serve
    for ctx in servers:
        ctx.__exit__(None, None, None)


def _login(base, password=PASSWORD) -> tuple[httpx.Client, str]:
    """A client holding the instructor's session cookie, and the session's CSRF token (from a page's form)."""
    client = httpx.Client(base_url=base, timeout=20)
    r = client.post("/instructor/login", data={"password": password, "next": "/instructor/class"})
    assert r.status_code == 303 and r.headers["location"] == "/instructor/class", r.text
    page = client.get("/instructor/class")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    return client, token


# ------------------------------------------------------------------------------------------------ access
def test_password_hash_and_plain_compare():
    hashed = cockpit.hash_password("correct horse battery", iterations=1000)
    assert hashed.startswith("pbkdf2_sha256$1000$") and "correct" not in hashed
    assert cockpit.password_matches(hashed, "correct horse battery")
    assert not cockpit.password_matches(hashed, "correct horse batterY")
    assert cockpit.password_matches("plain-password", "plain-password")
    assert not cockpit.password_matches("plain-password", "plain-passwor")
    assert not cockpit.password_matches(None, "") and not cockpit.password_matches("plain-password", "")


def test_area_is_disabled_without_a_password(make_served):
    base, svc = make_served(instructor_password=None)
    for path in ("/instructor/class", "/instructor/login", "/instructor/stats"):
        r = httpx.get(base + path)
        assert (
            r.status_code == 403
            and "Раздел преподавателя отключён" in r.text
            and "GRADEBOT_INSTRUCTOR_PASSWORD" in r.text
        )
    r = httpx.post(base + "/instructor/login", data={"password": ""})
    assert r.status_code == 403 and "отключён" in r.text
    r = httpx.get(base + "/api/instructor/class")
    assert r.status_code == 403 and r.json()["error"] == "instructor_disabled"


def test_anonymous_and_students_are_refused(make_served):
    base, svc = make_served()
    sub = _graded(svc, "s1", 2, 3)
    code = make_served.codes["s1"]
    # a student with their own valid page cookie
    student = httpx.Client(base_url=base, timeout=20)
    assert student.post("/login", data={"student_id": "s1", "code": code, "next": "/"}).status_code == 303
    assert student.cookies.get(COOKIE_NAME)
    for client in (httpx.Client(base_url=base, timeout=20), student):
        for path in (
            "/instructor/class",
            "/instructor/students/s1",
            f"/instructor/submissions/{sub.id}/notebook",
            f"/instructor/submissions/{sub.id}/feedback",
            "/instructor/export/grades.csv",
        ):
            r = client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/instructor/login?next=/instructor/")
        r = client.get("/api/instructor/class")
        assert r.status_code == 401 and r.json()["error"] == "login_required"
        r = client.post("/api/instructor/regrade", json={"all": True})
        assert r.status_code == 401
    # the student cookie's value under the instructor cookie's name is no session either
    forged = httpx.get(base + "/api/instructor/class", cookies={cockpit.COOKIE_NAME: student.cookies[COOKIE_NAME]})
    assert forged.status_code == 401
    # a student's code is not the instructor's password
    r = httpx.post(base + "/instructor/login", data={"password": code})
    assert r.status_code == 403 and "Неверный пароль" in r.text and cockpit.COOKIE_NAME not in r.cookies
    assert svc.get_submission(sub.id).status == "done"  # nothing was requeued on the way


def test_session_cookie_flags_logout_and_bearer(make_served):
    base, _ = make_served()
    r = httpx.post(base + "/instructor/login", data={"password": PASSWORD})
    header = r.headers["set-cookie"]
    assert cockpit.COOKIE_NAME in header and "HttpOnly" in header and "SameSite=Strict" in header
    client, token = _login(base)
    old = client.cookies[cockpit.COOKIE_NAME]
    assert client.get("/api/instructor/class").status_code == 200
    assert client.post("/instructor/logout", data={"csrf": token}).status_code == 303
    r = httpx.get(base + "/api/instructor/class", cookies={cockpit.COOKIE_NAME: old})
    assert r.status_code == 401  # the old cookie no longer works
    # scripts: the password as a bearer token (no CSRF token needed), a wrong one refused
    assert httpx.get(base + "/api/instructor/class", headers={"Authorization": f"Bearer {PASSWORD}"}).status_code == 200
    assert (
        httpx.get(base + "/api/instructor/class", headers={"Authorization": "Bearer wrong-password"}).status_code == 401
    )


def test_logout_ends_the_session_in_every_web_process(make_served):
    """Two web processes on one store (the same secret): a session cookie works on both until the instructor logs
    out on one; then the other refuses it too. Other sessions and new logins are not affected."""
    base1, _ = make_served()
    base2, _ = make_served()
    client, token = _login(base1)
    cookie = {cockpit.COOKIE_NAME: client.cookies[cockpit.COOKIE_NAME]}
    elsewhere, _ = _login(base2)  # another browser's session
    assert httpx.get(base2 + "/api/instructor/class", cookies=cookie).status_code == 200
    assert client.post("/instructor/logout", data={"csrf": token}).status_code == 303
    assert httpx.get(base2 + "/api/instructor/class", cookies=cookie).status_code == 401
    page = httpx.get(base2 + "/instructor/class", cookies=cookie)
    assert page.status_code == 303 and page.headers["location"].startswith("/instructor/login")
    assert httpx.get(base1 + "/api/instructor/class", cookies=cookie).status_code == 401
    assert elsewhere.get("/api/instructor/class").status_code == 200
    again, _ = _login(base2)
    assert again.get("/api/instructor/class").status_code == 200


def test_the_session_expires_by_the_cores_clock(make_served):
    """The cookie's expiry is signed and checked with the core's clock (the database's, shared by every web
    process on any machine), not the web process' own: moving the core's clock moves the expiry."""
    base, svc = make_served()
    real, offset = svc.clock, [timedelta(0)]
    svc.clock = lambda: real() + offset[0]
    offset[0] = timedelta(days=-3)  # the cookie is signed at the core's time (three days ago)
    client, _ = _login(base)
    offset[0] = timedelta(days=-3, seconds=cockpit.SESSION_SECONDS - 60)
    assert client.get("/api/instructor/class").status_code == 200
    offset[0] = timedelta(days=-3, seconds=cockpit.SESSION_SECONDS + 60)
    assert client.get("/api/instructor/class").status_code == 401  # expired by the core's clock
    page = client.get("/instructor/class")
    assert page.status_code == 303 and page.headers["location"].startswith("/instructor/login")


def test_wrong_passwords_are_throttled(make_served):
    base, _ = make_served(instructor_password=cockpit.hash_password(PASSWORD, iterations=1000))  # a hashed one
    assert httpx.get(base + "/api/instructor/class", headers={"Authorization": f"Bearer {PASSWORD}"}).status_code == 200
    for _ in range(cockpit.LOGIN_FAILURES - 1):
        assert httpx.post(base + "/instructor/login", data={"password": "nope-nope-nope"}).status_code == 403
    r = httpx.get(base + "/api/instructor/class", headers={"Authorization": "Bearer nope-nope-nope"})
    assert r.status_code == 401  # wrong bearer passwords count too
    r = httpx.post(base + "/instructor/login", data={"password": PASSWORD})  # even the right one must wait
    assert r.status_code == 429 and "Слишком много неверных попыток" in r.text and "мин." in r.text
    r = httpx.get(base + "/api/instructor/class", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert r.status_code == 429 and r.json()["error"] == "too_many_attempts" and int(r.headers["retry-after"]) > 0


def test_posts_without_the_csrf_token_are_refused(make_served):
    base, svc = make_served()
    sub = _graded(svc, "s1", 2, 3)
    client, token = _login(base)
    other, other_token = _login(base)  # another session's token does not fit
    for data in ({"scope": "all"}, {"scope": "all", "csrf": "0" * 64}, {"scope": "all", "csrf": other_token}):
        r = client.post("/instructor/regrade", data=data)
        assert r.status_code == 403 and "Форма устарела" in r.text
    r = client.post("/api/instructor/regrade", json={"all": True})
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    r = client.post("/instructor/students/s1/extension", data={"days": "3"})
    assert r.status_code == 403
    assert svc.get_submission(sub.id).status == "done" and svc.extensions() == {}
    r = client.post("/api/instructor/regrade", json={"all": True}, headers={cockpit.CSRF_HEADER: token})
    assert r.status_code == 202 and r.json()["total"] == 1
    assert svc.get_submission(sub.id).status == "queued"


# ------------------------------------------------------------------------------------------------ class table
def test_class_api_lists_every_student_with_best_latest_and_counted(make_served):
    base, svc = make_served()
    first = _graded(svc, "s1", 2, 3)
    second = _graded(svc, "s1", 2, 0)
    broken = svc.submit("s2", "broken.ipynb", tc.submission())
    svc.store.finish(broken.id, "failed", None, "internal error while grading: boom", None)
    client, _ = _login(base)
    data = client.get("/api/instructor/class").json()
    assert [t["task"] for t in data["tasks"]] == ["part1_add", "part2_mul"]
    assert [(t["grade_id"], t["max"]) for t in data["tests"]] == [
        ("part1_add__visible", 2.0),
        ("part2_mul__hidden", 3.0),
    ]
    assert data["groups"] == ["g1", "g2"] and data["max_total"] == 5.0
    rows = {r["student_id"]: r for r in data["rows"]}
    assert list(rows) == ["s1", "s2", "s3"]
    s1 = rows["s1"]
    assert s1["attempts"] == 2 and s1["status"] == "done"
    assert s1["latest"] == {"id": second.id, "total": 2.0, "max": 5.0}
    assert s1["best"] == {"id": first.id, "total": 5.0, "max": 5.0}
    # counting = latest (the default): the second attempt counts, with its per-task points
    assert s1["counted"]["id"] == second.id and s1["counted"]["tasks"] == {"part1_add": 2.0, "part2_mul": 0.0}
    assert [s["id"] for s in s1["submissions"]] == [second.id, first.id]
    assert s1["submissions"][1]["total"] == 5.0 and s1["submissions"][1]["verdict"] == "ok"
    assert rows["s2"]["status"] == "failed" and rows["s2"]["counted"] is None
    assert rows["s2"]["submissions"][0]["error"] == "internal error while grading: boom"
    assert rows["s3"]["status"] == "none" and rows["s3"]["attempts"] == 0 and rows["s3"]["best"] is None

    def ids(query):
        return [r["student_id"] for r in client.get("/api/instructor/class" + query).json()["rows"]]

    assert ids("?group=g1") == ["s1", "s2"] and ids("?group=g2") == ["s3"]
    assert ids("?status=none") == ["s3"] and ids("?status=failed") == ["s2"] and ids("?group=g1&status=done") == ["s1"]
    r = client.get("/api/instructor/class?status=bogus")
    assert r.status_code == 400 and r.json()["error"] == "bad_filter"
    one = client.get("/api/instructor/students/s1").json()
    assert one["counted"]["id"] == second.id
    assert client.get("/api/instructor/students/ghost").status_code == 404


def test_class_page_filters_without_javascript_and_links(make_served):
    base, svc = make_served()
    data = tc.submission()
    sub = _graded(svc, "s1", 2, 3, data=data)
    client, _ = _login(base)
    page = client.get("/instructor/class").text
    assert re.findall(r'data-student="([^"]+)"', page) == ["s1", "s2", "s3"]
    assert f'href="/instructor/submissions/{sub.id}/feedback"' in page
    assert f'href="/instructor/submissions/{sub.id}/notebook"' in page
    page = client.get("/instructor/class", params={"group": "g1", "status": "none"}).text
    assert re.findall(r'data-student="([^"]+)"', page) == ["s2"]
    assert client.get("/instructor/class?status=bogus").status_code == 400
    nb = client.get(f"/instructor/submissions/{sub.id}/notebook")
    assert nb.status_code == 200 and nb.content == data
    assert (
        "attachment" in nb.headers["content-disposition"]
        and f"s1-{sub.id}-tiny.ipynb" in nb.headers["content-disposition"]
    )
    fb = client.get(f"/instructor/submissions/{sub.id}/feedback")
    assert fb.status_code == 200 and f"feedback {sub.id}" in fb.text
    assert fb.headers["content-security-policy"] == "sandbox"
    assert fb.headers["x-content-type-options"] == "nosniff" and fb.headers["cache-control"] == "no-store"


# ------------------------------------------------------------------------------------------------ regrade
def test_regrade_requeues_keeps_the_old_result_in_history_and_reports_progress(make_served):
    base, svc = make_served()
    a = _graded(svc, "s1", 2, 3)
    b = _graded(svc, "s2", 0, 0)
    pending = svc.submit("s3", "tiny.ipynb", tc.submission())  # not graded yet: not regraded
    client, token = _login(base)
    r = client.post("/instructor/regrade", data={"csrf": token, "scope": "submission", "submission_id": str(a.id)})
    assert r.status_code == 303 and r.headers["location"].startswith("/instructor/regrade/")
    batch = r.headers["location"].split("/")[-1].split("?")[0]
    requeued = svc.get_submission(a.id)
    assert requeued.status == "queued" and requeued.result is None and requeued.deliveries == 0
    assert svc.store.jobs().get(a.id) is True  # handed to the queue again
    assert svc.get_submission(b.id).status == "done"
    history = svc.regrade_history(a.id)
    assert len(history) == 1 and history[0]["result"].total == 5.0 and history[0]["status"] == "done"
    page = client.get(f"/instructor/regrade/{batch}")
    assert 'data-done="0" data-total="1"' in page.text and 'http-equiv="refresh"' in page.text
    # the worker records the new result: the batch is complete, the page stops refreshing
    assert svc.store.finish(a.id, "done", _result(2, 0), None, "<p>new</p>")
    progress = client.get(f"/api/instructor/regrade/{batch}").json()
    assert progress["total"] == 1 and progress["done"] == 1 and progress["complete"] is True
    page = client.get(f"/instructor/regrade/{batch}")
    assert 'data-done="1" data-total="1"' in page.text and 'http-equiv="refresh"' not in page.text
    row = client.get("/api/instructor/students/s1").json()
    assert row["counted"]["total"] == 2.0 and row["submissions"][0]["regrades"] == 1
    student_page = client.get("/instructor/students/s1").text
    assert "до перепроверки" in student_page and "5 из 5" in student_page

    r = client.post("/api/instructor/regrade", json={"all": True}, headers={cockpit.CSRF_HEADER: token})
    body = r.json()
    assert r.status_code == 202 and body["total"] == 2 and body["skipped"] == 1  # the pending one skipped
    assert svc.get_submission(pending.id).status == "queued" and svc.regrade_history(pending.id) == []
    r = client.post("/api/instructor/regrade", json={"student_id": "ghost"}, headers={cockpit.CSRF_HEADER: token})
    assert r.status_code == 404
    assert client.get("/api/instructor/regrade/" + "0" * 32).json()["total"] == 0
    assert client.get("/api/instructor/regrade/not-a-batch").status_code == 404


def test_new_submissions_are_claimed_before_queued_regrades(make_config, roster_csv):
    """Embedded queue: a regrade of the whole class must not hold up the students who submit meanwhile. The
    workers claim through ``store.claim_next``: new submissions first, then the regrades, each oldest first."""
    svc = GradingService(make_config())
    svc.import_roster(roster_csv)
    graded = [_graded(svc, sid, 2, 3) for sid in ("s1", "s2", "s3")]
    assert svc.regrade(everything=True)["total"] == 3
    new = [svc.submit("s2", "tiny.ipynb", tc.submission()), svc.submit("s1", "tiny.ipynb", tc.submission())]
    order = []
    while (job := svc.store.claim_next("w1", lease_seconds=600)) is not None:
        order.append(job[0])
        svc.store.release(job[0], job[1], "done", dequeue=True)
    assert order == [new[0].id, new[1].id] + [g.id for g in graded]


# ------------------------------------------------------------------------------------------------ extensions
def test_extension_changes_the_late_flag(make_served):
    base, svc = make_served(deadline=PAST, late_policy="penalty:0.2")
    before = svc.submit("s1", "tiny.ipynb", tc.submission())
    assert before.late
    client, token = _login(base)
    r = client.post("/instructor/students/s1/extension", data={"csrf": token, "until": "2999-01-01T12:00"})
    assert r.status_code == 303 and r.headers["location"] == "/instructor/students/s1?msg=extension-set"
    assert svc.extensions() == {"s1": datetime(2999, 1, 1, 12, tzinfo=timezone.utc)}  # no zone: the deadline's
    after = svc.submit("s1", "tiny.ipynb", tc.submission())
    assert not after.late
    assert svc.submission_quota("s1")["deadline"] == datetime(2999, 1, 1, 12, tzinfo=timezone.utc)
    assert svc.submit("s2", "tiny.ipynb", tc.submission()).late  # others keep the course's
    # a regrade recomputes the late flag of the earlier submission with the deadline now in force
    svc.store.finish(before.id, "done", _result(2, 3, penalty=0.2), None, None)
    client.post("/instructor/regrade", data={"csrf": token, "scope": "submission", "submission_id": str(before.id)})
    assert svc.get_submission(before.id).late is False
    assert svc.regrade_history(before.id)[0]["late"] is True

    r = client.post("/api/instructor/students/s2/extension", json={"days": 3}, headers={cockpit.CSRF_HEADER: token})
    assert r.status_code == 200 and r.json()["extension"] == "2000-01-04T00:00:00+00:00"
    r = client.post(
        "/api/instructor/students/s2/extension", json={"until": "tomorrow"}, headers={cockpit.CSRF_HEADER: token}
    )
    assert r.status_code == 400 and "2026-12-27T23:59" in r.json()["message"]
    r = client.post("/instructor/students/s1/extension", data={"csrf": token, "days": "-2"})
    assert r.status_code == 400 and "Срок не изменён" in r.text and "1 to 366" in r.text
    r = client.post("/instructor/students/s1/extension", data={"csrf": token, "clear": "1"})
    assert r.status_code == 303 and "s1" not in svc.extensions()
    assert svc.submit("s1", "tiny.ipynb", tc.submission()).late  # back to the course's
    r = client.post("/api/instructor/students/ghost/extension", json={"days": 1}, headers={cockpit.CSRF_HEADER: token})
    assert r.status_code == 404


# ------------------------------------------------------------------------------------------------ exports
def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_exports_have_nbgrader_columns_and_match_nbgrader_export(make_served, tmp_path):
    base, svc = make_served(deadline=PAST, late_policy="penalty:0.2")
    svc.set_extension("s2", datetime(2999, 1, 1, tzinfo=timezone.utc))
    late = _graded(svc, "s1", 2, 3, penalty=0.2)  # raw 5, total 4 after the 20% late penalty
    on_time = _graded(svc, "s2", 2, 0)
    for sid in ("s1", "s2"):
        assert gradebook.record_counted(svc.config, svc.store, sid)
    client, _ = _login(base)
    r = client.get("/instructor/export/grades.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == ",".join(classbook.NBGRADER_COLUMNS)
    ours = {row["student_id"]: row for row in _rows(r.text)}
    assert set(ours) == {"s1", "s2", "s3"}
    assert (ours["s1"]["raw_score"], ours["s1"]["late_submission_penalty"], ours["s1"]["score"]) == (
        "5.0",
        "1.0",
        "4.0",
    )
    assert (ours["s2"]["raw_score"], ours["s2"]["late_submission_penalty"], ours["s2"]["score"]) == (
        "2.0",
        "0.0",
        "2.0",
    )
    assert ours["s3"]["score"] == "0.0" and ours["s3"]["timestamp"] == ""
    assert ours["s1"]["first_name"] == "Ann" and ours["s1"]["last_name"] == "Lee"
    # the same numbers as nbgrader's own export of the course gradebook
    theirs = {row["student_id"]: row for row in _rows(svc.export_grades_csv(tmp_path / "nb.csv").read_text())}
    for sid in ("s1", "s2"):
        for key in ("assignment", "timestamp", "first_name", "last_name"):
            assert ours[sid][key] == theirs[sid][key], (sid, key)
        for key in ("raw_score", "late_submission_penalty", "score", "max_score"):
            assert float(ours[sid][key]) == float(theirs[sid][key]), (sid, key)

    tasks = _rows(client.get("/instructor/export/tasks.csv").text)
    assert list(tasks[0]) == [
        "student_id",
        "name",
        "group",
        "submission_id",
        "timestamp",
        "late",
        "part1_add",
        "part2_mul",
        "total",
        "max",
    ]
    assert [(t["student_id"], t["part1_add"], t["part2_mul"], t["total"], t["late"]) for t in tasks] == [
        ("s1", "2.0", "3.0", "4.0", "1"),
        ("s2", "2.0", "0.0", "2.0", "0"),
        ("s3", "0.0", "0.0", "0.0", "0"),
    ]
    assert tasks[0]["submission_id"] == str(late.id) and tasks[1]["submission_id"] == str(on_time.id)
    tests = _rows(client.get("/instructor/export/tests.csv").text)
    assert list(tests[0]) == [
        "student_id",
        "name",
        "group",
        "submission_id",
        "part1_add__visible",
        "part2_mul__hidden",
        "total",
    ]
    assert [(t["part1_add__visible"], t["part2_mul__hidden"]) for t in tests] == [
        ("2.0", "3.0"),
        ("2.0", "0.0"),
        ("0.0", "0.0"),
    ]


# ------------------------------------------------------------------------------------------------ store step 3
def test_a_version_2_store_gets_the_instructor_tables(make_config):
    from gradebot.sqlstore import SqlStore

    config = make_config()
    config.data_path.mkdir(parents=True)
    db = config.data_path / "gradebot.sqlite3"
    SqlStore.in_file(db).close()
    with sqlite3.connect(db) as conn:  # back to a database of schema version 2
        conn.execute("DROP TABLE gb_regrades")
        conn.execute("DROP TABLE gb_extensions")
        conn.execute("UPDATE gb_schema_version SET version = 2")
    store = SqlStore.in_file(db)
    assert store.extensions() == {} and store.regrade_counts() == {}
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM gb_schema_version").fetchall() == [(SCHEMA_VERSION,)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"gb_regrades", "gb_extensions"} <= names


def test_the_gradebook_follows_a_regrade_that_fails(make_config, roster_csv):
    """A regraded attempt whose new grading fails no longer counts: the course gradebook gets the attempt that
    counts now (here the earlier one). The failure comes from the job itself (max_deliveries=0: given up at once)."""
    from nbgrader.api import Gradebook

    from gradebot.core.jobs import process_submission

    config = make_config(max_deliveries=0)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    first = _graded(svc, "s1", 2, 3)
    second = _graded(svc, "s1", 2, 0)  # counting = latest: this one counts
    assert gradebook.record_counted(config, svc.store, "s1")

    def gradebook_score():
        with Gradebook(config.main_gradebook_url()) as gb:
            return gb.find_submission(config.assignment, "s1").score

    assert gradebook_score() == 2.0
    assert svc.regrade(submission_id=second.id)["total"] == 1
    assert process_submission(config, svc.store, second.id) == "failed"
    assert svc.class_table("s1").rows[0]["counted"]["id"] == first.id
    assert gradebook_score() == 5.0


def _main_gradebook(config, student_id):
    """(score, {grade cell: auto score}) of the student's entry in the course gradebook, or None without one."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(config.main_gradebook_url()) as gb:
        try:
            sub = gb.find_submission(config.assignment, student_id)
        except MissingEntry:
            return None
        [nb] = sub.notebooks
        return sub.score, {g.name: g.auto_score for g in nb.grades}


def test_a_failed_regrade_of_the_only_attempt_leaves_no_stale_score(make_config, roster_csv, tmp_path):
    """Nothing counts any more (the regrade of the student's only graded attempt failed): the student's entry
    for the assignment leaves the course gradebook, so `nbgrader export` shows no score, as for a student who
    never submitted - not the old one."""
    from gradebot.core.jobs import process_submission

    config = make_config(max_deliveries=0)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    only = _graded(svc, "s1", 2, 3)
    _graded(svc, "s2", 2, 0)
    for sid in ("s1", "s2"):
        assert gradebook.record_counted(config, svc.store, sid)
    assert _main_gradebook(config, "s1")[0] == 5.0
    assert svc.regrade(submission_id=only.id)["total"] == 1
    assert process_submission(config, svc.store, only.id) == "failed"
    assert svc.class_table("s1").rows[0]["counted"] is None
    assert _main_gradebook(config, "s1") is None
    assert _main_gradebook(config, "s2")[0] == 2.0  # the others keep theirs
    exported = {row["student_id"]: row for row in _rows(svc.export_grades_csv(tmp_path / "nb.csv").read_text())}
    assert float(exported["s1"]["score"]) == 0.0 and exported["s1"]["timestamp"] == ""
    assert float(exported["s2"]["score"]) == 2.0
    # a student with no entry and no counted attempt: nothing to do
    assert gradebook.record_counted(config, svc.store, "s3") is False


def test_a_regrade_that_refuses_the_notebook_zeroes_the_gradebook_entry(make_config, roster_csv, monkeypatch):
    """A regrade whose result has no grade cells (the notebook refused or invalid: total 0) counts as it is: the
    gradebook's cells of the earlier result must not survive under the new attempt's timestamp."""
    from gradebot.core import jobs
    from gradebot.core.grading import GradeOutcome, invalid

    config = make_config()
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    only = _graded(svc, "s1", 2, 3)
    assert gradebook.record_counted(config, svc.store, "s1")
    assert _main_gradebook(config, "s1") == (5.0, {"part1_add__visible": 2.0, "part2_mul__hidden": 3.0})
    refused = invalid({"part1_add": 2.0, "part2_mul": 3.0}, "the notebook is not valid", verdict="refused")
    monkeypatch.setattr(jobs, "grade_notebook", lambda *a, **k: GradeOutcome(refused, None))
    assert svc.regrade(submission_id=only.id)["total"] == 1
    assert jobs.process_submission(config, svc.store, only.id) == "done"
    assert svc.class_table("s1").rows[0]["counted"]["total"] == 0.0
    assert _main_gradebook(config, "s1") == (0.0, {"part1_add__visible": 0.0, "part2_mul__hidden": 0.0})


def test_reissue_code_shows_the_new_code_once_and_the_old_one_stops_working(make_served):
    base, svc = make_served()
    old = make_served.codes["s1"]
    student = httpx.Client(base_url=base, timeout=20)
    assert student.post("/login", data={"student_id": "s1", "code": old, "next": "/"}).status_code == 303
    client, token = _login(base)
    assert client.post("/instructor/students/s1/reissue-code", data={}).status_code == 403  # no CSRF token
    assert svc.authenticate("s1", old).student_id == "s1"
    page = client.post("/instructor/students/s1/reissue-code", data={"csrf": token})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    new = re.search(r'<code id="new-code">([^<]+)</code>', page.text).group(1)
    assert new != old and svc.authenticate("s1", new).student_id == "s1"
    with pytest.raises(errors.AccessDenied):
        svc.authenticate("s1", old)
    r = client.post("/api/instructor/students/s2/reissue-code", headers={cockpit.CSRF_HEADER: token})
    assert r.status_code == 200 and svc.authenticate("s2", r.json()["code"]).student_id == "s2"
    assert (
        client.post("/api/instructor/students/ghost/reissue-code", headers={cockpit.CSRF_HEADER: token}).status_code
        == 404
    )


def test_statistics_page_and_api_show_the_class_numbers(make_served):
    """Three roster students: s1 counted 2 of 5 (latest; earlier 5 of 5), s2 counted 5 of 5, s3 none. By hand:
    counted 2, mean total 3.5, part2_mul passed by 1 of 2 counted attempts, part1_add by 2 of 2."""
    base, svc = make_served()
    _graded(svc, "s1", 2, 3)
    latest = _graded(svc, "s1", 2, 0)
    _graded(svc, "s2", 2, 3)
    client, _ = _login(base)
    data = client.get("/api/instructor/stats").json()
    assert (data["students"], data["submitting"], data["counted"], data["submissions"]) == (3, 2, 2, 3)
    assert data["total"]["mean"] == 3.5 and data["total"]["low"] == 2.0 and data["total"]["high"] == 5.0
    cells = {c["grade_id"]: c for c in data["cells"]}
    assert (cells["part1_add__visible"]["passed"], cells["part1_add__visible"]["attempts"]) == (2, 2)
    assert (cells["part2_mul__hidden"]["passed"], cells["part2_mul__hidden"]["pass_rate"]) == (1, 0.5)
    assert cells["part2_mul__hidden"]["causes"][0]["examples"] == [latest.id]

    page = client.get("/instructor/stats")
    assert page.status_code == 200 and page.text.count("<svg") == 4  # histogram, tasks, tests, timeline
    svgs, refs = check_page_ids(page.text)  # unique ids; each plot's clip paths and markers point into it
    assert svgs == 4 and refs >= 8
    assert 'id="gb-test-part2_mul__hidden"' in page.text.replace("'", '"')
    assert f'/instructor/submissions/{latest.id}/feedback' in page.text  # the example links to its feedback
    student = httpx.Client(base_url=base, timeout=20)
    assert student.get("/api/instructor/stats").status_code == 401
    assert "<svg" not in student.get("/instructor/stats").text
