"""The HTTP JSON API over real loopback HTTP, against an in-memory fake of the core (fast adapter tests).

The same flows against the real core live in test_web_e2e.py.
"""
import http.client
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_web_support import FakeService, make_notebook, serve_app  # noqa: E402

from gradebot.core import errors  # noqa: E402
from gradebot.frontends.web import create_app  # noqa: E402


class _Cfg:
    max_upload_bytes = 20_000


GOOD = make_notebook([("markdown", "# Задание"), ("code", "ANSWER = 42")])
WRONG = make_notebook([("code", "ANSWER = 0")])


@pytest.fixture
def fake():
    return FakeService(errors, rate_limit=3)


@pytest.fixture
def base(fake):
    with serve_app(lambda: create_app(fake, _Cfg())) as url:
        yield url


def _post(base, student_id, data, filename="hw.ipynb"):
    files = {"file": (filename, data, "application/x-ipynb+json")}
    return httpx.post(f"{base}/api/submissions", data={"student_id": student_id}, files=files, timeout=10)


def _poll(base, sub_id, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/submissions/{sub_id}")
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
    fb = httpx.get(f"{base}{done['feedback_url']}")
    assert fb.status_code == 200 and fb.headers["content-type"].startswith("text/html")
    assert f"Feedback {body['id']}" in fb.text
    assert fb.headers["content-security-policy"] == "sandbox"

    listing = httpx.get(f"{base}/api/students/s1/submissions").json()
    assert [s["id"] for s in listing["submissions"]] == [body["id"]]


def test_wrong_answer_gets_zero(base):
    sub_id = _post(base, "s2", WRONG).json()["id"]
    assert _poll(base, sub_id)["result"]["tasks"]["t1"]["points"] == 0.0


def test_feedback_before_grading_is_409(base, fake):
    fake.grade_delay = 2.0
    sub_id = _post(base, "s1", GOOD).json()["id"]
    r = httpx.get(f"{base}/api/submissions/{sub_id}/feedback")
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
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"student_id\"\r\n\r\ns1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.ipynb\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + b"y" * 60_000 + \
        f"\r\n--{boundary}--\r\n".encode()
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
    conn.request("POST", "/api/submissions", body=chunks, encode_chunked=True,
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    assert fake.subs == {}


def test_unknown_student_is_404(base):
    r = _post(base, "nobody", GOOD)
    assert r.status_code == 404 and r.json()["error"] == "unknown_student"
    r = httpx.get(f"{base}/api/students/nobody/submissions")
    assert r.status_code == 404 and r.json()["error"] == "unknown_student"


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


def test_unknown_submission_and_route_are_json_404(base):
    for path in ("/api/submissions/999", "/api/submissions/abc", "/api/submissions/999/feedback", "/api/nope"):
        r = httpx.get(f"{base}{path}")
        assert r.status_code == 404, path
        assert r.json()["message"], path
    r = httpx.delete(f"{base}/api/submissions/1")
    assert r.status_code == 405 and "error" in r.json()


def test_healthz(base):
    r = httpx.get(f"{base}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "queue_length": 0}


def test_status_page_refreshes_then_shows_table(base, fake):
    fake.grade_delay = 1.0
    r = httpx.post(f"{base}/submit", data={"student_id": "s1"}, files={"file": ("hw.ipynb", GOOD)})
    assert r.status_code == 303
    page = r.headers["location"]
    first = httpx.get(f"{base}{page}").text
    assert 'http-equiv="refresh"' in first and "в очереди" in first
    sub_id = int(page.rsplit("/", 1)[1])
    _poll(base, sub_id)
    final = httpx.get(f"{base}{page}").text
    assert 'http-equiv="refresh"' not in final
    assert "Итого" in final and 'id="total">2.0<' in final
    assert f"/api/submissions/{sub_id}/feedback" in final


@pytest.mark.parametrize("student_id, data, status, text", [
    ("s1", b"garbage", 400, "файл не принят как ноутбук Jupyter (.ipynb)"),
    ("ghost", GOOD, 404, "такого номера студента нет в списке курса"),
    ("s1", b"x" * 100_000, 413, "файл слишком большой, предел 20 КБ"),
])
def test_form_errors_are_shown_in_russian(base, student_id, data, status, text):
    r = httpx.post(f"{base}/submit", data={"student_id": student_id}, files={"file": ("hw.ipynb", data)})
    assert r.status_code == status
    assert "Ошибка" in r.text and text in r.text and 'id="upload-form"' in r.text


def test_form_rate_limit_in_minutes(base):
    for _ in range(3):
        assert _post(base, "s3", GOOD).status_code == 202
    r = httpx.post(f"{base}/submit", data={"student_id": "s3"}, files={"file": ("hw.ipynb", GOOD)})
    assert r.status_code == 429 and "следующую можно отправить через 2 мин." in r.text
