"""HTTP front end of gradebot: a JSON API and a small Russian web page (aiohttp.web).

A thin adapter over :class:`gradebot.core.service.GradingService`: it parses requests, calls the core and
turns the core's answers and exceptions into HTTP responses. No grading, storage or policy lives here
(size limit, deadline, rate limit and notebook validation are the core's; this module only refuses to
*read* more than ``max_upload_bytes`` of a body, so a 50 MB upload is never buffered).

API (all errors are JSON ``{"error": <code>, "message": <text>}``)::

    POST /api/submissions                multipart: student_id, code, file  -> 202 {"id", "status"}
    GET  /api/submissions/<id>           -> 200 submission JSON (status, result, ...)
    GET  /api/submissions/<id>/feedback  -> 200 text/html (from the core; hidden tests removed there)
    GET  /api/students/<id>/submissions  -> 200 {"student_id", "submissions": [...], "quota": {deadline, left, ...}}
    GET  /healthz                        -> 200 {"status": "ok"}

Access (``config.require_code``, default on): submitting needs the student's access code (field ``code``); reading
a submission or a student's list needs the owner's code in the ``X-Gradebot-Code`` header, or the page cookie
below. A wrong code, an unknown student and a submission that is not the caller's - or does not exist - all get
the same 403 ``access_denied``, so neither ids nor submission numbers can be probed.

Wrong codes are throttled by the core per student id and per client address (``config.login_*``; the address is
the peer's, or - only for a peer in ``config.trusted_proxies`` - the one it names in ``X-Forwarded-For``; an IPv6
address counts by its /64): a locked id or address gets 429 ``too_many_attempts`` with ``Retry-After`` (seconds)
for every code, the right one too; the pages show the wait in Russian.

Web pages: ``GET /`` (upload form), ``POST /submit`` (form target, redirects to the status page),
``GET /submissions/<id>`` (refreshes itself until graded, then shows the per-task table), ``POST /login``
(student id + code, for a browser that has no cookie yet). A successful upload or login sets the cookie
``gradebot_student`` = ``<student_id>:<HMAC-SHA256(server key, student id + stored code hash)>`` (HttpOnly,
SameSite=Strict, 30 days): it proves the student without holding the code, and stops working when the code is
re-issued (a new code has a new hash: fresh salt).

Run it with ``python -m gradebot serve`` (or ``python -m gradebot.frontends.web``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gradebot import messages as msg
from gradebot.core import errors
from gradebot.core.models import failed_tests
from gradebot.frontends import cockpit
from gradebot.frontends.common import FINAL_STATUSES, CoreCaller, course_facts_of, inert_html

log = logging.getLogger("gradebot.web")

TEMPLATES_DIR = Path(__file__).with_name("templates")
# Room for the multipart framing and the small text fields around the notebook itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024
READ_CHUNK_BYTES = 64 * 1024
# How often the status page reloads itself while a submission is queued or being graded.
STATUS_REFRESH_SECONDS = 2
# Where a client puts the student's access code to read a submission through the API.
CODE_HEADER = "X-Gradebot-Code"
# The page cookie that proves which student this browser is (see the module docstring).
COOKIE_NAME = "gradebot_student"
COOKIE_MAX_AGE = 30 * 24 * 3600
SECRET_FILE = "web_secret"
# Where /login may send the browser afterwards (a local page, never another site).
NEXT_RE = re.compile(r"^/(submissions/\d+)?$")


def _ip(text: str | None) -> Any:
    try:
        return ipaddress.ip_address(str(text or "").strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: list[str], trusted: list) -> str:
    """The throttle client of a web request: ``web:<address>`` of the peer; if the peer is a trusted proxy (an
    address in one of the ``trusted`` networks), the right-most ``X-Forwarded-For`` address (``forwarded_for``: the
    header's values) that is not itself a trusted proxy. An IPv6 address counts by its /64 network (one host
    usually has the whole /64)."""
    addr = _ip(peer)
    if addr is not None and any(addr in net for net in trusted):
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break  # a malformed entry: trust nothing left of it
            addr = ip
            if not any(ip in net for net in trusted):
                break
    if addr is None:
        return f"web:{peer or 'unknown'}"
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.version == 6:
        return f"web:{ipaddress.ip_network(f'{addr}/64', strict=False)}"
    return f"web:{addr}"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default)


def submission_to_json(sub: Any) -> dict:
    """The public JSON form of a core ``Submission`` (``result`` is ``Result.to_json()`` or null)."""
    created = _get(sub, "created_at")
    result = _get(sub, "result")
    data = {
        "id": sub.id,
        "student_id": sub.student_id,
        "filename": sub.filename,
        "created_at": created.isoformat() if hasattr(created, "isoformat") else created,
        "status": sub.status,
        "late": bool(_get(sub, "late", False)),
        "result": result.to_json() if result is not None else None,
        "error": _get(sub, "error"),
    }
    if sub.status == "done":
        data["feedback_url"] = f"/api/submissions/{sub.id}/feedback"
    return data


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
class ApiError(Exception):
    """An error that becomes a JSON response (API) or a message on the form page (web)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
        self.student_id = ""  # set when known, so the form page can keep what the student typed


def _message(exc: BaseException) -> str:
    return str(exc) or exc.__class__.__name__


def core_error_to_api(exc: errors.GradebotError) -> ApiError:
    """Map a core exception to an HTTP status (the message is the core's own)."""
    if isinstance(exc, errors.RateLimited):
        retry = _get(exc, "retry_after_seconds") or _get(exc, "retry_after") or 60
        retry = max(1, int(math.ceil(float(retry))))
        return ApiError(429, "rate_limited", _message(exc), {"Retry-After": str(retry)})
    if isinstance(exc, errors.LoginThrottled):
        retry = max(1, int(math.ceil(exc.retry_after_seconds)))
        return ApiError(429, "too_many_attempts", _message(exc), {"Retry-After": str(retry)})
    if isinstance(exc, errors.AccessDenied):
        return ApiError(403, "access_denied", _message(exc))
    if isinstance(exc, errors.DeadlineMissed):
        return ApiError(403, "deadline_missed", _message(exc))
    if isinstance(exc, errors.UnknownStudent):
        return ApiError(404, "unknown_student", _message(exc))
    if isinstance(exc, errors.UnknownSubmission):
        return ApiError(404, "not_found", _message(exc))
    if isinstance(exc, errors.SubmissionRejected):
        return ApiError(400, "bad_submission", _message(exc))
    return ApiError(400, "rejected", _message(exc))


def json_error(err: ApiError) -> web.Response:
    return web.json_response({"error": err.code, "message": err.message}, status=err.status, headers=err.headers)


@web.middleware
async def api_errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every API/health error is JSON, including aiohttp's own 404/405 and unexpected failures."""
    is_api = request.path.startswith("/api/") or request.path == "/healthz"
    try:
        return await handler(request)
    except ApiError as err:
        if is_api:
            return json_error(err)
        raise
    except web.HTTPException as exc:
        if is_api and exc.status >= 400:
            return json_error(
                ApiError(
                    exc.status, exc.reason.lower().replace(" ", "_"), f"{exc.reason}: {request.method} {request.path}"
                )
            )
        raise
    except Exception:  # noqa: BLE001 - last resort: never leak a traceback page to a client
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api:
            return json_error(ApiError(500, "internal_error", "internal server error; see the server log"))
        raise


# ------------------------------------------------------------------------------------------------
# Reading an upload without buffering more than the limit
# ------------------------------------------------------------------------------------------------
@dataclass
class Upload:
    """What an upload request carried (``code`` is empty when the client sent none)."""

    student_id: str
    code: str
    filename: str
    data: bytes


async def read_upload(request: web.Request, max_bytes: int) -> Upload:
    """Stream a multipart body (fields ``student_id``, ``code``, ``file``) into an :class:`Upload`.

    Raises ApiError 413 as soon as the file part exceeds ``max_bytes`` (or the declared Content-Length
    cannot fit), 400 when ``student_id`` or ``file`` is missing or the body is not multipart.
    """
    limit_msg = f"file too large: the limit is {max_bytes} bytes ({max_bytes / 2**20:.1f} MiB)"
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise ApiError(413, "too_large", limit_msg)
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "bad_request", "send multipart/form-data with fields 'student_id', 'code' and 'file'")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from exc

    fields: dict[str, str] = {}
    filename: str | None = None
    data: bytes | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if part.name == "file":
            filename = part.filename or "submission.ipynb"
            buf = bytearray()
            while chunk := await part.read_chunk(READ_CHUNK_BYTES):
                buf += chunk
                if len(buf) > max_bytes:
                    raise ApiError(413, "too_large", limit_msg)
            data = bytes(buf)
        else:
            buf = bytearray()
            while chunk := await part.read_chunk(READ_CHUNK_BYTES):
                buf += chunk
                if len(buf) > MAX_FIELD_BYTES:
                    raise ApiError(400, "bad_request", f"field {part.name!r} is too long")
            if part.name in ("student_id", "code"):
                fields[part.name] = buf.decode("utf-8", "replace").strip()
    if not fields.get("student_id"):
        raise ApiError(400, "missing_field", "field 'student_id' is required")
    if data is None:
        raise ApiError(400, "missing_field", "field 'file' (the .ipynb notebook) is required")
    return Upload(fields["student_id"], fields.get("code", ""), filename, data)


# ------------------------------------------------------------------------------------------------
# The page cookie: proof of the student without the code
# ------------------------------------------------------------------------------------------------
def load_secret(config: Any) -> bytes:
    """The HMAC key of the student cookie: ``config.web_secret``, else ``<data_dir>/web_secret`` (created once,
    mode 0600, so cookies survive a restart), else - a config without a data dir - a key for this process only."""
    configured = _get(config, "web_secret")
    if configured:
        return str(configured).encode()
    data_path = _get(config, "data_path")
    if data_path is None:
        log.warning("no web_secret and no data_dir: student cookies last until this server stops")
        return secrets.token_bytes(32)
    return _read_or_create_secret(Path(data_path) / SECRET_FILE)


def _read_or_create_secret(path: Path) -> bytes:
    """Read the key file; create it first if missing (atomically: a concurrent creator's key wins, never a half-
    written file)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it meanwhile: use theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip().encode()


class StudentCookie:
    """Signs and checks the cookie value ``<student_id>:<hex HMAC-SHA256(key, student_id NUL stored code hash)>``.

    The stored hash of the student's code is part of the MAC, so the cookie stops working when the instructor
    re-issues the code (or sets another in the roster); the cookie contains neither the code nor its hash, and the
    server never needs the code itself to check it."""

    def __init__(self, key: bytes):
        self.key = key

    def _mac(self, student_id: str, code_hash: str | None) -> str:
        msg = f"gradebot-web-v2\0{student_id}\0{code_hash or ''}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def sign(self, student: Any) -> str:
        return f"{student.student_id}:{self._mac(student.student_id, student.code_hash)}"

    @staticmethod
    def claimed_id(value: str | None) -> str | None:
        """The student id the cookie claims (not yet verified)."""
        if not value or ":" not in value:
            return None
        return value.rsplit(":", 1)[0]

    def valid(self, value: str | None, student: Any) -> bool:
        """True if ``value`` is this student's cookie for their current code (constant-time comparison)."""
        if student is None or not _get(student, "code_hash") or self.claimed_id(value) != student.student_id:
            return False
        return hmac.compare_digest(value.encode(), self.sign(student).encode())


# ------------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------------
class WebFrontend:
    """Request handlers bound to one core service."""

    def __init__(self, svc: Any, config: Any):
        self.core = CoreCaller(svc)
        self.config = config
        self.max_upload_bytes = int(_get(config, "max_upload_bytes", 5 * 2**20) or 5 * 2**20)
        self.require_code = bool(_get(config, "require_code", True))
        self.cookie = StudentCookie(load_secret(config)) if self.require_code else None
        proxies = _get(config, "trusted_proxy_networks")
        self.trusted_proxies = proxies() if callable(proxies) else []
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=jinja2.select_autoescape(["html"]),
        )

    # -- core calls shared by the API and the pages ------------------------------------------------
    async def _submit(self, request: web.Request) -> tuple[Any, Any]:
        """Read the upload, check the student's code (when required) and submit. Returns (student, submission);
        the student is None when codes are not required."""
        up = await read_upload(request, self.max_upload_bytes)
        try:
            student = await self._authenticate(request, up.student_id, up.code) if self.require_code else None
            return student, await self.core("submit", up.student_id, up.filename, up.data, source="web")
        except ApiError as err:
            err.student_id = up.student_id
            raise
        except errors.GradebotError as exc:
            err = core_error_to_api(exc)
            err.student_id = up.student_id
            raise err from exc

    def client(self, request: web.Request) -> str:
        """The request's client for the throttle on wrong codes (see :func:`client_address`)."""
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)

    async def _authenticate(self, request: web.Request, student_id: str, code: str) -> Any:
        """The student, if ``code`` is theirs; ApiError 400 without a code, 429 ``too_many_attempts`` while the id
        or the client is locked, 403 ``access_denied`` otherwise."""
        if not code:
            raise ApiError(400, "missing_field", "field 'code' (the student's access code) is required")
        try:
            return await self.core("authenticate", student_id, code, client=self.client(request))
        except errors.GradebotError as exc:
            raise core_error_to_api(exc) from exc

    async def _proves(self, request: web.Request, student_id: str | None) -> bool:
        """Whether the request proves to be ``student_id``: the page cookie signed for them, or their code in the
        X-Gradebot-Code header (a guess: throttled, ApiError 429 while locked). Always True when codes are not
        required."""
        if not self.require_code:
            return True
        value = request.cookies.get(COOKIE_NAME)
        if student_id and StudentCookie.claimed_id(value) == student_id:
            if self.cookie.valid(value, await self.core("get_student", student_id)):
                return True
        code = request.headers.get(CODE_HEADER)
        if code:
            try:
                await self._authenticate(request, student_id or "", code)  # an unknown id costs the same
                return True
            except ApiError as err:
                if err.code != "access_denied":
                    raise
        return False

    async def _submission(self, request: web.Request) -> Any:
        """The submission named in the URL, if the request proves to be its owner. A submission that does not
        exist and one that is not the caller's both give 403 ``access_denied`` (404 without codes)."""
        raw = request.match_info["id"]
        try:
            sub_id = int(raw)
        except ValueError:
            raise ApiError(404, "not_found", f"no submission with id {raw!r}") from None
        try:
            sub = await self.core("get_submission", sub_id)
        except errors.UnknownSubmission as exc:
            if not self.require_code:
                raise core_error_to_api(exc) from exc
            sub = None
        except errors.GradebotError as exc:
            raise core_error_to_api(exc) from exc
        if not await self._proves(request, sub.student_id if sub is not None else None):
            raise ApiError(
                403,
                "access_denied",
                f"no access to submission {sub_id}: it is not yours or does not "
                f"exist; send its owner's access code in the {CODE_HEADER} header",
            )
        return sub

    def _set_cookie(self, request: web.Request, response: web.Response, student: Any) -> None:
        """Give this browser the proof that it is ``student`` (HttpOnly, SameSite=Strict; Secure over HTTPS)."""
        response.set_cookie(
            COOKIE_NAME,
            self.cookie.sign(student),
            max_age=COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )

    # -- JSON API ----------------------------------------------------------------------------------
    async def api_submit(self, request: web.Request) -> web.Response:
        _, sub = await self._submit(request)
        return web.json_response(
            {"id": sub.id, "status": sub.status}, status=202, headers={"Location": f"/api/submissions/{sub.id}"}
        )

    async def api_submission(self, request: web.Request) -> web.Response:
        return web.json_response(submission_to_json(await self._submission(request)))

    async def api_feedback(self, request: web.Request) -> web.Response:
        sub = await self._submission(request)
        if sub.status not in FINAL_STATUSES:
            raise ApiError(409, "not_ready", f"submission {sub.id} is {sub.status}; feedback appears when graded")
        html = await self.core("feedback_html", sub.id)
        if html is None:
            raise ApiError(404, "no_feedback", f"submission {sub.id} has no feedback ({sub.status})")
        return inert_html(html)  # the student's own outputs: an inert, script-less, uncached document

    async def api_student_submissions(self, request: web.Request) -> web.Response:
        student_id = request.match_info["student_id"]
        if not await self._proves(request, student_id):
            raise ApiError(
                403,
                "access_denied",
                f"no access to the submissions of {student_id!r}: send the "
                f"student's access code in the {CODE_HEADER} header",
            )
        student = await self.core("get_student", student_id)
        if student is None:
            raise ApiError(404, "unknown_student", f"student {student_id!r} is not in the course roster")
        subs = await self.core("list_submissions", student_id)
        data = {"student_id": student_id, "submissions": [submission_to_json(s) for s in subs]}
        try:
            quota = await self.core("submission_quota", student_id)
        except AttributeError:
            quota = None
        if quota is not None:
            data["quota"] = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in quota.items()}
        return web.json_response(data)

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness plus a store round trip (the queue length)."""
        try:
            queued = await self.core("queue_length")
        except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
            log.warning("health check failed: %s", exc)
            return web.json_response({"status": "error", "message": str(exc)}, status=503)
        return web.json_response({"status": "ok", "queue_length": queued})

    # -- HTML pages --------------------------------------------------------------------------------
    def _page(self, name: str, status: int = 200, headers: dict | None = None, **context: Any) -> web.Response:
        html = self.templates.get_template(name).render(**context)
        return web.Response(text=html, content_type="text/html", status=status, headers=headers)

    def _index(
        self, status: int = 200, error: str | None = None, student_id: str = "", headers: dict | None = None
    ) -> web.Response:
        return self._page(
            "index.html",
            status=status,
            headers=headers,
            error=error,
            student_id=student_id,
            require_code=self.require_code,
            max_size=msg.size(self.max_upload_bytes),
        )

    async def page_index(self, request: web.Request) -> web.Response:
        return self._index()

    def _error_ru(self, err: ApiError) -> str:
        """The refusal as the message catalog words it (the core's English detail in parentheses)."""
        return msg.refusal(
            err.code,
            err.message,
            limit=self.max_upload_bytes,
            require_code=self.require_code,
            retry_after_seconds=int(err.headers.get("Retry-After", "60")),
        )

    async def page_submit(self, request: web.Request) -> web.Response:
        try:
            student, sub = await self._submit(request)
        except ApiError as err:
            return self._index(err.status, self._error_ru(err), err.student_id, err.headers)
        response = web.Response(status=303, headers={"Location": f"/submissions/{sub.id}"})
        if student is not None:
            self._set_cookie(request, response, student)
        return response

    def _login_page(
        self,
        next_url: str,
        status: int = 403,
        error: str | None = None,
        student_id: str = "",
        headers: dict | None = None,
    ) -> web.Response:
        """The "who are you" page: why access was refused and a form for the student id and code."""
        return self._page(
            "login.html",
            status=status,
            headers=headers,
            error=error,
            student_id=student_id,
            next_url=next_url if NEXT_RE.match(next_url or "") else "/",
        )

    async def page_submission(self, request: web.Request) -> web.Response:
        try:
            sub = await self._submission(request)
        except ApiError as err:
            if err.code == "access_denied":
                return self._login_page(request.path)
            return self._index(err.status, self._error_ru(err))
        result = sub.result
        quota, history, tz = await self._student_overview(sub.student_id)
        facts = await course_facts_of(self.core) if result is not None else None
        failed = failed_tests(result.messages) if result is not None else []
        return self._page(
            "status.html",
            task_title=lambda task: msg.task_title(facts, task),
            failed=[(gid, msg.test_label(facts, gid), msg.failure_reason(reason)) for gid, reason in failed],
            notes=msg.result_notes(result.messages) if result is not None else [],
            quota=quota,
            history=history,
            fmt_time=lambda dt: msg.time(dt, tz),
            status_names=msg.STATUS,
            sub=sub,
            status_ru=msg.STATUS.get(sub.status, sub.status),
            final=sub.status in FINAL_STATUSES,
            refresh=STATUS_REFRESH_SECONDS,
            result=result,
            verdict_ru=msg.VERDICT.get(result.verdict, result.verdict) if result is not None else None,
        )

    async def _student_overview(self, student_id: str) -> tuple[dict | None, list, Any]:
        """For the status page: the deadline and submissions left (Russian lines), the student's submissions
        newest first, and the time zone to show times in (the deadline's; UTC without a deadline)."""
        try:
            quota = await self.core("submission_quota", student_id)
        except AttributeError:  # a core without it: the page just has no such block
            quota = None
        subs = sorted(await self.core("list_submissions", student_id), key=lambda s: s.id, reverse=True)
        deadline = quota.get("deadline") if quota is not None else None
        tz = deadline.tzinfo if deadline is not None else timezone.utc
        return (msg.quota_lines(quota) if quota is not None else None), subs, tz

    async def page_login(self, request: web.Request) -> web.Response:
        """Form target of the login page: a right id + code sets the cookie and goes back to ``next``."""
        form = await request.post()
        student_id = str(form.get("student_id", "")).strip()[:MAX_FIELD_BYTES]
        next_url = str(form.get("next", "/"))
        next_url = next_url if NEXT_RE.match(next_url) else "/"
        response = web.Response(status=303, headers={"Location": next_url})
        if not self.require_code:
            return response
        try:
            student = await self._authenticate(request, student_id, str(form.get("code", ""))[:MAX_FIELD_BYTES])
        except ApiError as err:
            return self._login_page(next_url, err.status, self._error_ru(err), student_id, err.headers)
        self._set_cookie(request, response, student)
        return response

    async def close(self, app: web.Application) -> None:
        self.core.close()


def create_app(svc: Any, config: Any) -> web.Application:
    """The aiohttp application over an already constructed (and started, for grading) service."""
    fe = WebFrontend(svc, config)
    app = web.Application(middlewares=[api_errors_middleware])
    app.add_routes(
        [
            web.post("/api/submissions", fe.api_submit),
            web.get("/api/submissions/{id}", fe.api_submission),
            web.get("/api/submissions/{id}/feedback", fe.api_feedback),
            web.get("/api/students/{student_id}/submissions", fe.api_student_submissions),
            web.get("/healthz", fe.healthz),
            web.get("/", fe.page_index),
            web.post("/submit", fe.page_submit),
            web.get("/submissions/{id}", fe.page_submission),
            web.post("/login", fe.page_login),
        ]
    )
    cockpit.register(app, fe)  # the instructor area: /instructor, /api/instructor/...
    app.on_cleanup.append(fe.close)
    return app


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gradebot serve", description="Run the gradebot web page and JSON API.")
    parser.add_argument("--host", help="address to listen on (default: config web_host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: config web_port)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, config: Any = None) -> int:
    """Start the core's workers and serve HTTP until interrupted (Ctrl+C / SIGTERM)."""
    from gradebot.config import Config
    from gradebot.core.service import GradingService

    if argv is not None and not isinstance(argv, (list, tuple)):  # called as main(config)
        argv, config = None, argv
    args = _parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config or Config.from_env()
    host = args.host or _get(config, "web_host") or "127.0.0.1"
    port = args.port or _get(config, "web_port") or 8080
    svc = GradingService(config)
    svc.start()
    try:
        app = create_app(svc, config)
        # the ~270k objects of the imported libraries never become garbage: keep them out of every full garbage
        # collection (halves the time of a large page such as the instructor's class table, benchmarks/)
        gc.freeze()
        web.run_app(app, host=host, port=int(port), print=lambda msg: log.info("%s", msg))
    finally:
        svc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
