"""The HTTP JSON API over real loopback HTTP, against an in-memory fake of the core (fast adapter tests).

Access codes are required (the default) unless a test says otherwise; FakeService's codes are
``fake_code(student_id)``. The same flows against the real core live in test_web_e2e.py.
"""

import http.client
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from test_web_support import FakeService, fake_code, make_notebook, serve_app

from gradebot.core import errors
from gradebot.frontends.web import COOKIE_NAME, create_app


class _Cfg:
    max_upload_bytes = 20_000


class _OpenCfg(_Cfg):
    require_code = False


GOOD = make_notebook([("markdown", "# Задание"), ("code", "ANSWER = 42")])
WRONG = make_notebook([("code", "ANSWER = 0")])


@pytest.fixture
def fake():
    return FakeService(errors, rate_limit=3)


@pytest.fixture
def base(fake):
    with serve_app(lambda: create_app(fake, _Cfg())) as url:
        yield url


def _post(base, student_id, data, filename="hw.ipynb", code=None):
    """Upload as ``student_id`` with their code (``code=""`` sends none)."""
    code = fake_code(student_id) if code is None else code
    fields = {"student_id": student_id, **({"code": code} if code else {})}
    files = {"file": (filename, data, "application/x-ipynb+json")}
    return httpx.post(f"{base}/api/submissions", data=fields, files=files, timeout=10)


def _auth(student_id):
    return {"X-Gradebot-Code": fake_code(student_id)}


def _poll(base, sub_id, timeout=10, student_id="s1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/submissions/{sub_id}", headers=_auth(student_id))
        assert r.status_code == 200
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"submission {sub_id} not graded in {timeout}s")


def test_upload_poll_result_and_feedback(base, fake):
    r = _post(base, "s1", GOOD)
    assert r.status_code == 202
    body = r.json()
    assert set(body) == {"id", "status"} and body["status"] == "queued"
    # 202 comes only after the core accepted (stored) the submission
    assert fake.subs[body["id"]].filename == "hw.ipynb"

    done = _poll(base, body["id"])
    assert done["student_id"] == "s1" and done["status"] == "done"
    assert done["result"]["tasks"]["t1"] == {"points": 2.0, "max": 2.0}
    assert done["result"]["total"] == 2.0 and done["result"]["max"] == 3.0
    fb = httpx.get(f"{base}{done['feedback_url']}", headers=_auth("s1"))
    assert fb.status_code == 200 and fb.headers["content-type"].startswith("text/html")
    assert f"Feedback {body['id']}" in fb.text
    # the student's outputs, inert: no scripts or same-origin access, no type sniffing, not kept in a cache
    assert fb.headers["content-security-policy"] == "sandbox"
    assert fb.headers["x-content-type-options"] == "nosniff" and fb.headers["cache-control"] == "no-store"

    listing = httpx.get(f"{base}/api/students/s1/submissions", headers=_auth("s1")).json()
    assert [s["id"] for s in listing["submissions"]] == [body["id"]]


def test_wrong_answer_gets_zero(base):
    sub_id = _post(base, "s2", WRONG).json()["id"]
    assert _poll(base, sub_id, student_id="s2")["result"]["tasks"]["t1"]["points"] == 0.0


def test_feedback_before_grading_is_409(base, fake):
    fake.grade_delay = 2.0
    sub_id = _post(base, "s1", GOOD).json()["id"]
    r = httpx.get(f"{base}/api/submissions/{sub_id}/feedback", headers=_auth("s1"))
    assert r.status_code == 409 and r.json()["error"] == "not_ready"


@pytest.mark.parametrize("payload", [b"this is not json", b'{"cells": []}', b"\xff\xfe"])
def test_bad_notebook_is_400(base, payload):
    r = _post(base, "s1", payload)
    assert r.status_code == 400
    assert r.json()["error"] == "bad_submission" and "ipynb" in r.json()["message"]


def test_missing_fields_are_400(base):
    r = httpx.post(f"{base}/api/submissions", files={"file": ("a.ipynb", GOOD)})
    assert r.status_code == 400 and "student_id" in r.json()["message"]
    r = httpx.post(f"{base}/api/submissions", data={"student_id": "s1"}, files={"other": ("a", b"x")})
    assert r.status_code == 400 and "file" in r.json()["message"]
    r = _post(base, "s1", GOOD, code="")
    assert r.status_code == 400 and r.json()["error"] == "missing_field" and "code" in r.json()["message"]
    r = httpx.post(f"{base}/api/submissions", json={"student_id": "s1"})
    assert r.status_code == 400 and "multipart" in r.json()["message"]


def test_oversize_with_content_length_is_413(base, fake):
    r = _post(base, "s1", b"x" * 100_000)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert "20000" in r.json()["message"]
    assert fake.subs == {}


def test_oversize_chunked_is_413_while_streaming(base, fake):
    """No Content-Length: the limit is enforced while reading the multipart stream."""
    boundary = "XyZbOuNdArY"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"student_id\"\r\n\r\ns1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.ipynb\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"y" * 60_000
        + f"\r\n--{boundary}--\r\n".encode()
    )
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
    conn.request(
        "POST",
        "/api/submissions",
        body=chunks,
        encode_chunked=True,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    assert fake.subs == {}


def test_unknown_student_is_denied_like_a_wrong_code(base, fake):
    """With codes, an unknown id gets the very answer a wrong code gets: ids cannot be probed."""
    unknown = _post(base, "nobody", GOOD, code="abcd-2345")
    wrong = _post(base, "s1", GOOD, code="abcd-2345")
    assert unknown.status_code == wrong.status_code == 403
    assert unknown.json() == wrong.json() and unknown.json()["error"] == "access_denied"
    r = httpx.get(f"{base}/api/students/nobody/submissions", headers={"X-Gradebot-Code": "abcd-2345"})
    assert r.status_code == 403 and r.json()["error"] == "access_denied"
    assert fake.subs == {}


def test_rate_limit_is_429_with_retry_after(base):
    for _ in range(3):
        assert _post(base, "s3", GOOD).status_code == 202
    r = _post(base, "s3", GOOD)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "120"
    assert r.json()["error"] == "rate_limited"


def test_deadline_is_403(base, fake):
    fake.deadline_passed = True
    r = _post(base, "s1", GOOD)
    assert r.status_code == 403 and r.json()["error"] == "deadline_missed"


def test_unknown_submission_is_403_and_route_is_json_404(base):
    for path in ("/api/submissions/999", "/api/submissions/999/feedback"):  # same answer as someone else's
        r = httpx.get(f"{base}{path}", headers=_auth("s1"))
        assert r.status_code == 403 and r.json()["error"] == "access_denied", path
    for path in ("/api/submissions/abc", "/api/nope"):
        r = httpx.get(f"{base}{path}")
        assert r.status_code == 404, path
        assert r.json()["message"], path
    r = httpx.delete(f"{base}/api/submissions/1")
    assert r.status_code == 405 and "error" in r.json()


def test_healthz(base):
    r = httpx.get(f"{base}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "queue_length": 0}


def _form_post(base, student_id, data, code=None):
    code = fake_code(student_id) if code is None else code
    return httpx.post(
        f"{base}/submit", data={"student_id": student_id, "code": code}, files={"file": ("hw.ipynb", data)}
    )


def test_status_page_refreshes_then_shows_table(base, fake):
    fake.grade_delay = 1.0
    r = _form_post(base, "s1", GOOD)
    assert r.status_code == 303
    page = r.headers["location"]
    cookies = {COOKIE_NAME: r.cookies[COOKIE_NAME]}
    first = httpx.get(f"{base}{page}", cookies=cookies).text
    assert 'http-equiv="refresh"' in first and "в очереди" in first
    sub_id = int(page.rsplit("/", 1)[1])
    _poll(base, sub_id)
    final = httpx.get(f"{base}{page}", cookies=cookies).text
    assert 'http-equiv="refresh"' not in final
    assert "Итого" in final and 'id="total">2.0<' in final
    assert f"/api/submissions/{sub_id}/feedback" in final


@pytest.mark.parametrize(
    "student_id, code, data, status, text",
    [
        (
            "s1",
            None,
            b"garbage",
            400,
            "Посылка не принята: файл не удалось принять как ноутбук Jupyter (.ipynb). Причина: ",
        ),
        ("ghost", "abcd-2345", GOOD, 403, "Неверный номер студента или код доступа. Код доступа у каждого"),
        ("s1", "abcd-2345", GOOD, 403, "Неверный номер студента или код доступа. Код доступа у каждого"),
        ("s1", "", GOOD, 400, "Заполните номер студента, код доступа и выберите файл."),
        ("s1", None, b"x" * 100_000, 413, "Файл слишком большой; предел 20 КБ. Очистите вывод ячеек"),
    ],
)
def test_form_errors_are_shown_in_russian(base, fake, student_id, code, data, status, text):
    r = _form_post(base, student_id, data, code=code)
    assert r.status_code == status
    assert 'role="alert">' + text in r.text and 'id="upload-form"' in r.text
    assert COOKIE_NAME not in r.cookies and fake.subs == {}


def test_form_rate_limit_in_minutes(base):
    for _ in range(3):
        assert _post(base, "s3", GOOD).status_code == 202
    r = _form_post(base, "s3", GOOD)
    assert r.status_code == 429 and "Следующую можно отправить через 2 мин." in r.text


# ------------------------------------------------------------------------------------------------ access codes
def test_wrong_code_is_403_and_nothing_is_stored(base, fake):
    r = _post(base, "s1", GOOD, code=fake_code("s2"))  # another student's code
    assert r.status_code == 403
    assert r.json()["error"] == "access_denied" and "access code" in r.json()["message"]
    assert fake.subs == {}


def test_code_is_case_space_and_dash_insensitive(base, fake):
    typed = " " + fake_code("s1").upper().replace("-", " ") + " "
    assert _post(base, "s1", GOOD, code=typed).status_code == 202
    assert [s.student_id for s in fake.subs.values()] == ["s1"]


def test_other_students_submission_is_unreadable(base, fake):
    sub_id = _post(base, "s1", GOOD).json()["id"]
    _poll(base, sub_id)
    for headers in ({}, _auth("s2"), {"X-Gradebot-Code": "wrong"}):
        for path in (
            f"/api/submissions/{sub_id}",
            f"/api/submissions/{sub_id}/feedback",
            "/api/students/s1/submissions",
        ):
            r = httpx.get(f"{base}{path}", headers=headers)
            assert r.status_code == 403 and r.json()["error"] == "access_denied", (path, headers)
    # the answer for someone else's submission equals the one for a submission that does not exist
    mine = httpx.get(f"{base}/api/submissions/{sub_id}", headers=_auth("s2")).json()
    none = httpx.get(f"{base}/api/submissions/{sub_id + 1000}", headers=_auth("s2")).json()
    assert mine["message"].replace(str(sub_id), "N") == none["message"].replace(str(sub_id + 1000), "N")
    assert httpx.get(f"{base}/api/students/s2/submissions", headers=_auth("s2")).json()["submissions"] == []


def test_cookie_after_form_upload_proves_the_student(base, fake):
    r = _form_post(base, "s1", GOOD)
    assert r.status_code == 303
    header = r.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    value = r.cookies[COOKIE_NAME]
    assert value.startswith("s1:") and "code" not in value  # the code itself is not in the cookie
    page = r.headers["location"]
    sub_id = int(page.rsplit("/", 1)[1])
    _poll(base, sub_id)

    ok = httpx.get(f"{base}{page}", cookies={COOKIE_NAME: value})
    assert ok.status_code == 200 and 'id="total"' in ok.text
    fb = httpx.get(f"{base}/api/submissions/{sub_id}/feedback", cookies={COOKIE_NAME: value})
    assert fb.status_code == 200 and f"Feedback {sub_id}" in fb.text
    listing = httpx.get(f"{base}/api/students/s1/submissions", cookies={COOKIE_NAME: value})
    assert listing.status_code == 200

    forged = "s1:" + "0" * 64
    for cookies in ({}, {COOKIE_NAME: forged}, {COOKIE_NAME: value.replace("s1:", "s2:")}):
        denied = httpx.get(f"{base}{page}", cookies=cookies)
        assert denied.status_code == 403, cookies
        assert "Нет доступа" in denied.text and 'id="login-form"' in denied.text
        assert 'id="total"' not in denied.text
    # s2's cookie does not open s1's page
    other = _form_post(base, "s2", GOOD)
    assert httpx.get(f"{base}{page}", cookies={COOKIE_NAME: other.cookies[COOKIE_NAME]}).status_code == 403
    # a new code (re-issued by the instructor) invalidates the old cookie
    fake.reissue_code("s1")
    assert httpx.get(f"{base}{page}", cookies={COOKIE_NAME: value}).status_code == 403


def test_login_form_sets_the_cookie(base, fake):
    sub_id = _post(base, "s1", GOOD).json()["id"]
    page = f"/submissions/{sub_id}"
    denied = httpx.get(f"{base}{page}")
    assert denied.status_code == 403 and f'value="{page}"' in denied.text  # the form returns here
    # a page that does not exist looks the same
    missing = f"/submissions/{sub_id + 1000}"
    assert httpx.get(f"{base}{missing}").text.replace(missing, "PAGE") == denied.text.replace(page, "PAGE")

    bad = httpx.post(f"{base}/login", data={"student_id": "s1", "code": "abcd-2345", "next": page})
    assert bad.status_code == 403 and "Неверный номер студента или код доступа" in bad.text
    assert 'value="s1"' in bad.text and COOKIE_NAME not in bad.cookies

    good = httpx.post(f"{base}/login", data={"student_id": "s1", "code": fake_code("s1"), "next": page})
    assert good.status_code == 303 and good.headers["location"] == page
    assert httpx.get(f"{base}{page}", cookies={COOKIE_NAME: good.cookies[COOKIE_NAME]}).status_code == 200

    # never sends the browser to another site
    away = httpx.post(
        f"{base}/login", data={"student_id": "s1", "code": fake_code("s1"), "next": "https://evil.example/"}
    )
    assert away.status_code == 303 and away.headers["location"] == "/"


def test_without_require_code_the_old_behaviour_stays(fake):
    """``require_code = false``: no code asked, results readable by id, unknown ids answered 404 as before."""
    with serve_app(lambda: create_app(fake, _OpenCfg())) as base:
        assert 'id="code"' not in httpx.get(f"{base}/").text
        r = _post(base, "s1", GOOD, code="")
        assert r.status_code == 202
        sub_id = r.json()["id"]
        assert httpx.get(f"{base}/api/submissions/{sub_id}").status_code == 200
        assert httpx.get(f"{base}/api/students/s1/submissions").status_code == 200
        assert httpx.get(f"{base}/api/submissions/999").status_code == 404
        r = _post(base, "nobody", GOOD, code="")
        assert r.status_code == 404 and r.json()["error"] == "unknown_student"
        assert httpx.get(f"{base}/api/students/nobody/submissions").status_code == 404
        form = httpx.post(f"{base}/submit", data={"student_id": "s2"}, files={"file": ("hw.ipynb", GOOD)})
        assert form.status_code == 303 and COOKIE_NAME not in form.cookies
        assert httpx.get(f"{base}{form.headers['location']}").status_code == 200


def test_status_page_shows_deadline_submissions_left_and_history(base, fake):
    """The student's page: the deadline (in its own time zone), how many submissions are left in the window, and
    their earlier submissions with scores, newest first (links to their pages)."""
    from datetime import datetime, timedelta, timezone

    fake.deadline = datetime(2026, 12, 20, 23, 59, tzinfo=timezone(timedelta(hours=3)))
    first = _form_post(base, "s1", GOOD)
    cookies = {COOKIE_NAME: first.cookies[COOKIE_NAME]}
    _poll(base, int(first.headers["location"].rsplit("/", 1)[1]))
    _post(base, "s2", GOOD)  # someone else's: not in s1's list
    second = _form_post(base, "s1", WRONG)
    page_url = second.headers["location"]
    second_id = int(page_url.rsplit("/", 1)[1])
    _poll(base, second_id)
    page = httpx.get(f"{base}{page_url}", cookies=cookies).text
    assert "Срок сдачи: 20.12.2026 23:59 (UTC+03:00)." in page
    assert "штрафом 20%" in page
    assert 'data-left="1"' in page and "Осталось посылок: 1 из 3 (не больше 3 за 60 мин.)" in page
    rows = re.findall(r'<tr class="past[^"]*" data-id="(\d+)">(.*?)</tr>', page, re.S)
    assert [int(i) for i, _ in rows] == [second_id, 1]  # newest first, only s1's
    assert "(эта)" in rows[0][1] and "0.0 из 3.0" in rows[0][1]
    assert 'href="/submissions/1"' in rows[1][1] and "2.0 из 3.0" in rows[1][1]
    # the last allowed submission: none left, and when the next one is possible
    third = _form_post(base, "s1", GOOD)
    page = httpx.get(f"{base}{third.headers['location']}", cookies=cookies).text
    assert 'data-left="0"' in page and "следующую можно отправить после 01.01.2030 12:30 (UTC+03:00)" in page
    # the same through the API
    api = httpx.get(f"{base}/api/students/s1/submissions", headers=_auth("s1")).json()
    assert api["quota"]["left"] == 0 and api["quota"]["deadline"] == "2026-12-20T23:59:00+03:00"


def test_status_page_without_deadline_or_limit(fake):
    fake.rate_limit = 10**9
    fake.submission_quota = lambda student_id, now=None: {
        "deadline": None,
        "deadline_passed": False,
        "late_policy": "accept",
        "late_penalty": None,
        "counting": "best",
        "limit": None,
        "window_minutes": None,
        "used": 0,
        "left": None,
        "next_at": None,
    }
    with serve_app(lambda: create_app(fake, _Cfg())) as url:
        r = _form_post(url, "s1", GOOD)
        page = httpx.get(f"{url}{r.headers['location']}", cookies={COOKIE_NAME: r.cookies[COOKIE_NAME]}).text
    assert "Срок сдачи не задан." in page and "Число посылок не ограничено." in page
    assert "В зачёт идёт лучшая из проверенных посылок." in page


def test_status_page_names_tasks_and_failed_tests_as_the_course_does(fake):
    """The real course declares its task titles and test names in its source notebook: the status page shows
    them, failed tests with their reasons apart from other notes; a core that cannot say shows the ids."""
    from coursekit import SOURCE_NOTEBOOK
    from gradebot.core.course import course_facts
    from test_web_support import FakeResult

    result = FakeResult(
        44.0,
        45.0,
        {"part1_forward": {"points": 4.0, "max": 5.0}, "bonus_conv": {"points": 10.0, "max": 10.0}},
        messages=[
            "part1_forward__softmax: failed ([hidden test] Softmax.forward: в результате nan)",
            "cell 7: stopped after the time limit",
        ],
    )
    pages = []
    for facts in (lambda: course_facts(Path(SOURCE_NOTEBOOK)), None):
        if facts is not None:
            fake.course_facts = facts
        else:
            del fake.course_facts
        with serve_app(lambda: create_app(fake, _Cfg())) as url:
            r = _form_post(url, "s1", GOOD)
            sub_id = int(r.headers["location"].rsplit("/", 1)[1])
            _poll(url, sub_id)
            with fake.lock:
                fake.subs[sub_id].result = result
            pages.append(httpx.get(f"{url}{r.headers['location']}", cookies={COOKIE_NAME: r.cookies[COOKIE_NAME]}).text)
    named, plain = pages
    assert "<td>1. Прямой проход</td>" in named and "<td>4. Дополнительно: свёрточный слой</td>" in named
    assert (
        '<li class="failed-test" data-test="part1_forward__softmax"><b>Softmax: прямой проход, в том числе при '
        'больших входах (part1_forward__softmax)</b>: [скрытый тест] Softmax.forward: в результате nan</li>'
    ) in named
    assert re.search(r'<ul id="messages"><li>ячейка 7 прервана: превышено время выполнения</li></ul>', named)
    assert "<td>part1_forward</td>" in plain and "<b>part1_forward__softmax</b>: [скрытый тест]" in plain


# ------------------------------------------------------------------------------------------------ real core: codes
class _RealCfg:
    """What create_app reads, over a real (not started) core: nothing is graded."""


def _real(make_config, roster_csv, **overrides):
    """A real GradingService (not started) on the tiny course with an injected clock, and the issued codes."""
    from test_web_support import Clock

    from gradebot.core.service import GradingService

    config = make_config(**overrides)
    clock = Clock()
    svc = GradingService(config, clock=clock)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    return svc, config, clock, codes


def test_printed_code_logs_in_and_reissue_invalidates_code_and_cookie(make_config, roster_csv):
    svc, config, _, codes = _real(make_config, roster_csv)
    with serve_app(lambda: create_app(svc, config)) as base:
        up = _post(base, "s1", GOOD, code=codes["s1"])  # the code printed at import works
        assert up.status_code == 202
        page = f"/submissions/{up.json()['id']}"
        login = httpx.post(f"{base}/login", data={"student_id": "s1", "code": codes["s1"], "next": page})
        assert login.status_code == 303
        cookie = {COOKIE_NAME: login.cookies[COOKIE_NAME]}
        assert httpx.get(f"{base}{page}", cookies=cookie).status_code == 200
        assert svc.get_student("s1").code_hash not in cookie[COOKIE_NAME]  # the cookie holds a MAC only

        new = svc.reissue_code("s1")
        assert httpx.get(f"{base}{page}", cookies=cookie).status_code == 403  # old cookie: dead
        assert _post(base, "s1", GOOD, code=codes["s1"]).status_code == 403  # old code: dead
        again = httpx.post(f"{base}/login", data={"student_id": "s1", "code": new, "next": page})
        assert again.status_code == 303
        assert httpx.get(f"{base}{page}", cookies={COOKIE_NAME: again.cookies[COOKIE_NAME]}).status_code == 200


def test_polling_with_the_code_header_hashes_the_code_once(make_config, roster_csv, monkeypatch):
    """An API client polling with X-Gradebot-Code pays the slow scrypt check once, not per request: the process
    remembers the verified (student, stored hash, code). A re-issued code (a new stored hash) is checked afresh:
    the old one is refused. Wrong codes are never remembered."""
    from gradebot.core import access

    svc, config, _, codes = _real(make_config, roster_csv)
    calls = []
    real_scrypt = access._scrypt

    def counting_scrypt(*args):
        calls.append(args[0])
        return real_scrypt(*args)

    monkeypatch.setattr(access, "_scrypt", counting_scrypt)
    with serve_app(lambda: create_app(svc, config)) as base:

        def read(code):
            return httpx.get(f"{base}/api/students/s1/submissions", headers={"X-Gradebot-Code": code}).status_code

        assert read(codes["s1"]) == 200 and len(calls) == 1
        assert read(codes["s1"]) == 200 and read(codes["s1"].upper()) == 200 and len(calls) == 1
        assert read("abcd-2345") == 403 and read("abcd-2345") == 403 and len(calls) == 3  # each wrong one hashed
        new = svc.reissue_code("s1")
        calls.clear()
        assert read(codes["s1"]) == 403 and len(calls) == 1  # the old code: checked against the new hash
        assert read(new) == 200 and read(new) == 200 and len(calls) == 2
        assert read(codes["s1"]) == 403


def test_wrong_codes_for_one_id_get_429_with_retry_after(make_config, roster_csv):
    svc, config, clock, codes = _real(make_config, roster_csv)
    with serve_app(lambda: create_app(svc, config)) as base:
        statuses = [_post(base, "s2", GOOD, code="abcd-2345").status_code for _ in range(5)]
        assert statuses == [403] * 4 + [429]
        clock.advance(30)
        right = _post(base, "s2", GOOD, code=codes["s2"])  # the right code, while locked
        assert right.status_code == 429 and right.headers["Retry-After"] == "30"
        assert right.json()["error"] == "too_many_attempts" and "even the right code" in right.json()["message"]
        read = httpx.get(f"{base}/api/students/s2/submissions", headers={"X-Gradebot-Code": codes["s2"]})
        assert read.status_code == 429 and read.headers["Retry-After"] == "30"  # reading with a code: the same
        assert _post(base, "s1", GOOD, code=codes["s1"]).status_code == 202  # another id is not locked
        clock.advance(31)
        assert _post(base, "s2", GOOD, code=codes["s2"]).status_code == 202
        assert svc.list_submissions("s2") != []


def test_throttle_pages_say_how_long_to_wait_in_russian(make_config, roster_csv):
    svc, config, clock, codes = _real(make_config, roster_csv, login_attempts=2)
    with serve_app(lambda: create_app(svc, config)) as base:
        for _ in range(2):
            httpx.post(f"{base}/login", data={"student_id": "s3", "code": "abcd-2345", "next": "/"})
        clock.advance(61)  # after the 1-min lock
        assert _post(base, "s3", GOOD, code="abcd-2345").status_code == 429  # 3rd wrong code: lock doubled, 2 min
        clock.advance(1)
        for r in (
            httpx.post(f"{base}/login", data={"student_id": "s3", "code": codes["s3"], "next": "/"}),
            _form_post(base, "s3", GOOD, code=codes["s3"]),
        ):
            assert r.status_code == 429 and r.headers["Retry-After"] == "119"
            assert (
                "Слишком много неверных кодов. Попробуйте снова через 2 мин. До тех пор вход закрыт даже с "
                "верным кодом."
            ) in r.text
            assert 'value="s3"' in r.text and COOKIE_NAME not in r.cookies
        assert svc.list_submissions("s3") == []


def test_wrong_codes_from_one_address_lock_it_for_every_id(make_config, roster_csv):
    """Per client address: behind a trusted proxy the address in X-Forwarded-For counts; from anyone else the
    header is ignored (a guesser cannot dodge the lock by sending it)."""
    svc, config, clock, codes = _real(make_config, roster_csv, login_client_attempts=3, trusted_proxies="127.0.0.1")

    def post(sid, code, forwarded):
        return httpx.post(
            f"{base}/api/submissions",
            data={"student_id": sid, "code": code},
            files={"file": ("hw.ipynb", GOOD)},
            headers={"X-Forwarded-For": forwarded},
        )

    with serve_app(lambda: create_app(svc, config)) as base:
        guesser = "203.0.113.5"
        assert [post(sid, "abcd-2345", guesser).status_code for sid in ("x1", "x2", "x3")] == [403, 403, 429]
        assert post("s1", codes["s1"], guesser).status_code == 429  # a right code from there: refused
        assert post("s1", codes["s1"], f"{guesser}, 198.51.100.7").status_code == 202  # the proxy's client
        assert post("s2", codes["s2"], "198.51.100.8").status_code == 202

    svc2, config2, _, codes2 = _real(
        make_config, roster_csv, login_client_attempts=3, data_dir=str(Path(config.data_dir).parent / "data-noproxy")
    )
    with serve_app(lambda: create_app(svc2, config2)) as base:
        spoofed = [post(sid, "abcd-2345", f"10.9.9.{i}").status_code for i, sid in enumerate(("x1", "x2", "x3"))]
        assert spoofed == [403, 403, 429]  # no trusted proxy: the peer counts
        assert post("s1", codes2["s1"], "10.9.9.99").status_code == 429
