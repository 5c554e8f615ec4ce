"""The instructor's area of the web front end (``/instructor``, ``/api/instructor/...``): the class table, regrades
with progress, deadline extensions, grade exports. Registered by :func:`gradebot.frontends.web.create_app`.

Access: the instructor's password from the configuration (``instructor_password``, env
``GRADEBOT_INSTRUCTOR_PASSWORD``: as typed, or a ``pbkdf2_sha256$...`` hash made by
``python -m gradebot.frontends.cockpit hash-password``). Without one the area is disabled (every page says so, 403).
A student's access code never opens it.

- Session: after ``POST /instructor/login`` the cookie ``gradebot_instructor`` =
  ``<expiry>.<nonce>.<HMAC-SHA256(key, expiry, nonce, password fingerprint)>`` (HttpOnly, SameSite=Strict, Secure
  over HTTPS, :data:`SESSION_SECONDS`). The key is derived from the web secret (:func:`gradebot.frontends.web.
  load_secret`) for this purpose only, so a student cookie can never pass as an instructor's; changing the password
  ends every session. ``POST /instructor/logout`` clears the cookie and revokes its nonce in the store
  (:meth:`gradebot.core.store.Store.revoke_session`), which every web process checks on every instructor request:
  the session ends everywhere at once (the instructor's other sessions go on). The expiry is signed and checked
  with the core's clock (the database's, :meth:`gradebot.core.service.GradingService.now`), the one the store
  forgets revoked sessions by: web processes on machines whose clocks disagree end a session at the same moment.
- CSRF: every POST needs the session's token (``HMAC(key, "csrf", nonce)``): the hidden form field ``csrf`` on the
  pages, the header ``X-CSRF-Token`` (or the field) on the API. A script may instead send
  ``Authorization: Bearer <instructor password>`` (not sent by browsers on their own, so no CSRF token needed).
- Refusals: a page without a session redirects to the login page (303); the API answers JSON 401
  ``login_required``, 403 ``csrf_failed``. Wrong passwords (login form and bearer header alike) are throttled per
  client address (:data:`LOGIN_FAILURES` per :data:`LOGIN_WINDOW_SECONDS`, then 429 with the wait). A hashed
  password is checked off the event loop.

Pages (Russian)::

    GET  /instructor                              -> the class table
    GET  /instructor/login, POST /instructor/login, POST /instructor/logout
    GET  /instructor/class?group=&status=         every roster student, their submissions, best/latest/counted
    GET  /instructor/students/<id>                one student: submissions, regrade history, deadline, buttons
    GET  /instructor/submissions/<id>/feedback    the feedback page (inert: CSP sandbox)
    GET  /instructor/submissions/<id>/notebook    the submitted .ipynb (download)
    POST /instructor/regrade                      scope=submission|student|all (+ submission_id / student_id)
    GET  /instructor/regrade/<batch>              progress (refreshes itself until every one is graded)
    POST /instructor/students/<id>/extension      until=<ISO time> | days=<N> | clear=1
    POST /instructor/students/<id>/reissue-code   a new access code, shown on the answer page once
    GET  /instructor/export/grades.csv            nbgrader export columns (gradebot.core.classbook)
    GET  /instructor/export/tasks.csv, /instructor/export/tests.csv
    GET  /instructor/stats                        statistics: histogram, tasks, tests, submissions over time
    GET  /api/instructor/stats                    the same numbers as JSON (ClassStats.to_json)

API (JSON)::

    GET  /api/instructor/class?group=&status=     {"tasks", "tests", "groups", "rows": [...]}
    GET  /api/instructor/students/<id>            one row of the class table
    POST /api/instructor/regrade                  {"submission_id": N} | {"student_id": S} | {"all": true}
                                                  -> 202 {"batch", "total", "skipped", "progress_url"}
    GET  /api/instructor/regrade/<batch>          {"total", "queued", "grading", "done", "failed", ...}
    POST /api/instructor/students/<id>/extension  {"until": ISO time | null} | {"days": N}
    POST /api/instructor/students/<id>/reissue-code  -> {"student_id", "code"} (the code is not stored: shown once)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup

from gradebot import messages as msg
from gradebot.core import classbook, errors
from gradebot.frontends.common import inert_html

COOKIE_NAME = "gradebot_instructor"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_FAILURES = 5
LOGIN_WINDOW_SECONDS = 300
PBKDF2_PREFIX = "pbkdf2_sha256"
PBKDF2_ITERATIONS = 600_000
REGRADE_REFRESH_SECONDS = 2
MAX_FIELD = 200
# where the login page may send the browser afterwards: a page of this area, never another site
NEXT_RE = re.compile(r"^/instructor(/[A-Za-z0-9_.\-/]*)?(\?[A-Za-z0-9_.\-=&%]*)?$")
SCOPES = ("submission", "student", "all")


# ------------------------------------------------------------------------------------------------ the password
def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<digest>`` (base64) of ``password``, for ``instructor_password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join(
        (PBKDF2_PREFIX, str(iterations), base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    )


def password_matches(configured: str | None, typed: str | None) -> bool:
    """Whether ``typed`` is the configured instructor password (a hash or the password itself); constant time.
    Nothing matches when no password is configured or nothing was typed."""
    if not configured or not typed:
        return False
    if configured.startswith(PBKDF2_PREFIX + "$"):
        try:
            _, rounds, salt, digest = configured.split("$")
            want = base64.b64decode(digest)
            got = hashlib.pbkdf2_hmac("sha256", typed.encode(), base64.b64decode(salt), int(rounds))
        except ValueError:
            return False
        return hmac.compare_digest(want, got)
    return hmac.compare_digest(hashlib.sha256(configured.encode()).digest(), hashlib.sha256(typed.encode()).digest())


# ------------------------------------------------------------------------------------------------ sessions
class InstructorSessions:
    """Signs and checks the instructor's session cookie and derives its CSRF token (see the module docstring)."""

    def __init__(self, web_secret: bytes, password: str):
        self.key = hmac.new(web_secret, b"gradebot-instructor-session-v1", hashlib.sha256).digest()
        self.fingerprint = hashlib.sha256(password.encode()).hexdigest()

    def _mac(self, expires: int, nonce: str) -> str:
        msg = f"instructor\0{expires}\0{nonce}\0{self.fingerprint}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def new(self, now: float) -> str:
        """A session cookie value; ``now``: the core's clock (epoch seconds)."""
        expires = int(now + SESSION_SECONDS)
        nonce = secrets.token_hex(16)
        return f"{expires}.{nonce}.{self._mac(expires, nonce)}"

    def nonce(self, value: str | None, now: float) -> str | None:
        """The session's nonce if ``value`` is a valid session cookie unexpired at ``now`` (the core's clock, epoch
        seconds), else None (whether a logout revoked it is the store's to say: :meth:`Cockpit._session`)."""
        parts = (value or "").split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac.encode(), self._mac(expires, nonce).encode()):
            return None
        if expires < now:
            return None
        return nonce

    def csrf(self, nonce: str) -> str:
        return hmac.new(self.key, f"csrf\0{nonce}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(nonce).encode(), str(token).encode())


class LoginThrottle:
    """At most :data:`LOGIN_FAILURES` wrong passwords per client address per :data:`LOGIN_WINDOW_SECONDS`."""

    def __init__(self, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW_SECONDS):
        self.failures, self.window = failures, window
        self._seen: dict[str, deque] = {}

    def wait_seconds(self, address: str, now: float | None = None) -> float:
        """0 if ``address`` may try now, else how long it must wait."""
        now = now or time.monotonic()
        q = self._seen.get(address)
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q or len(q) < self.failures:
            return 0.0
        return q[0] + self.window - now

    def failed(self, address: str, now: float | None = None) -> None:
        if len(self._seen) > 10_000:  # forget old addresses rather than grow without bound
            self._seen.clear()
        self._seen.setdefault(address, deque()).append(now or time.monotonic())


# ------------------------------------------------------------------------------------------------ helpers
class NeedLogin(Exception):
    """No valid instructor session (pages: redirect to the login page; API: 401)."""


def parse_deadline(text: str, tz: Any) -> datetime:
    """An ISO time typed by the instructor; a time without a zone is taken in ``tz`` (the course deadline's)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date and time: write e.g. 2026-12-27T23:59 or 2026-12-27T23:59+03:00"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=tz or timezone.utc)


def redirect(location: str) -> web.Response:
    """303 See Other to ``location`` (a local path)."""
    return web.Response(status=303, headers={"Location": location})


def time_formatter(tz: Any) -> Callable[[Any], str]:
    """``fmt(dt)`` -> '20.12.2026 23:59 (UTC+03:00)' in ``tz`` ('-' for None): :func:`gradebot.messages.time` with
    the zone's name worked out once (a page has thousands of times)."""
    suffix = msg.time(datetime(2000, 1, 1, tzinfo=tz))[16:]

    def fmt(dt: Any) -> str:
        if dt is None:
            return "-"
        if not hasattr(dt, "astimezone"):
            return str(dt)
        return dt.astimezone(tz).strftime("%d.%m.%Y %H:%M") + suffix

    return fmt


def _fmt_points(v: Any) -> str:
    return "-" if v is None else msg.points(float(v))


class Cockpit:
    """Request handlers of the instructor area, over the web front end's core caller and templates."""

    def __init__(self, fe: Any):
        from gradebot.frontends import web as webmod

        self.web = webmod
        self.fe = fe
        self.core = fe.core
        self.templates = fe.templates
        self.config = fe.config
        self.password = getattr(fe.config, "instructor_password", None) or None
        self.sessions = InstructorSessions(webmod.load_secret(fe.config), self.password) if self.password else None
        self.throttle = LoginThrottle()
        self._verified: list[bytes] = []  # SHA-256 digests of passwords already checked right

    # -- access ------------------------------------------------------------------------------------
    def _disabled(self, request: web.Request) -> web.Response:
        if request.path.startswith("/api/"):
            return web.json_response(
                {
                    "error": "instructor_disabled",
                    "message": "the instructor area is disabled: "
                    "set instructor_password (GRADEBOT_INSTRUCTOR_PASSWORD)",
                },
                status=403,
            )
        return self._page("instructor_disabled.html", status=403, message=msg.IN_DISABLED)

    async def _password_ok(self, typed: str) -> bool:
        """Whether ``typed`` is the instructor password. A hashed password costs PBKDF2's rounds (a fraction of a
        second): checked off the event loop, and a bearer token once verified is remembered by its digest."""
        digest = hashlib.sha256(typed.encode()).digest()
        if any(hmac.compare_digest(digest, ok) for ok in self._verified):
            return True
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, password_matches, self.password, typed):
            return False
        self._verified = (self._verified + [digest])[-4:]
        return True

    async def _session(self, request: web.Request) -> str | None:
        """The session nonce of the request's cookie, "bearer" for a right ``Authorization: Bearer <password>``
        header, else None. Wrong bearer passwords count toward the login throttle (429 once it is reached)."""
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            address = self.fe.client(request)
            wait = self.throttle.wait_seconds(address)
            if wait > 0:
                raise self.web.ApiError(
                    429,
                    "too_many_attempts",
                    f"too many wrong passwords: try again in {int(wait) + 1} s",
                    {"Retry-After": str(int(wait) + 1)},
                )
            if await self._password_ok(auth[7:].strip()[:1000]):
                return "bearer"
            self.throttle.failed(address)
            return None
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie:
            return None
        nonce = self.sessions.nonce(cookie, (await self.core("now")).timestamp())
        if nonce is None or await self.core("session_revoked", nonce):
            return None  # revoked: a logout in any web process on this store
        return nonce

    async def _check(self, request: web.Request, form: Any = None) -> str:
        """The session nonce; raises NeedLogin without one, ApiError 403 for a POST without the right CSRF token."""
        nonce = await self._session(request)
        if nonce is None:
            raise NeedLogin()
        if request.method == "POST" and nonce != "bearer":
            token = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form is not None else None)
            if not self.sessions.csrf_ok(nonce, token):
                raise self.web.ApiError(
                    403,
                    "csrf_failed",
                    f"missing or wrong CSRF token: reload the page and try again (API: send the {CSRF_HEADER} header)",
                )
        return nonce

    def guarded(
        self, handler: Callable[[web.Request, str, Any], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a handler: disabled area, login and CSRF checks, core errors -> HTTP errors."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            if self.sessions is None:
                return self._disabled(request)
            is_api = request.path.startswith("/api/")
            form = None
            if request.method == "POST" and not is_api:
                form = await request.post()
            try:
                nonce = await self._check(request, form)
                return await handler(request, nonce, form)
            except NeedLogin:
                if is_api:
                    raise self.web.ApiError(
                        401,
                        "login_required",
                        "log in at /instructor/login (instructor session cookie) or send Authorization: Bearer",
                    )
                return redirect(f"/instructor/login?next={quote(request.path_qs, safe='/?=&')}")
            except self.web.ApiError as err:
                if is_api:
                    raise
                return self._page("instructor_error.html", status=err.status, message=self._error_ru(err), csrf=None)
            except errors.GradebotError as exc:
                err = self.web.core_error_to_api(exc)
                if is_api:
                    raise err from exc
                return self._page(
                    "instructor_error.html", status=err.status, message=msg.refusal(err.code, err.message), csrf=None
                )

        return wrapped

    @staticmethod
    def _error_ru(err: Any) -> str:
        return msg.IN_CSRF if err.code == "csrf_failed" else err.message

    # -- rendering ---------------------------------------------------------------------------------
    def _page(self, name: str, status: int = 200, **context: Any) -> web.Response:
        html = self.templates.get_template(name).render(**context)
        return web.Response(
            text=html,
            content_type="text/html",
            status=status,
            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
        )

    def _tz(self) -> Any:
        deadline = self.config.deadline_dt() if hasattr(self.config, "deadline_dt") else None
        return deadline.tzinfo if deadline is not None else timezone.utc

    def render_class(
        self,
        table: classbook.ClassTable,
        rows: list[dict],
        *,
        group: str = "",
        status: str = "",
        csrf: str | None = None,
        error: str | None = None,
    ) -> str:
        """The class page's HTML (also what the benchmark times)."""
        tz = self._tz()
        return self.templates.get_template("instructor_class.html").render(
            table=table,
            rows=rows,
            group=group,
            status=status,
            csrf=csrf,
            error=error,
            status_filters=msg.IN_STATUS_FILTER,
            status_ru=msg.STATUS,
            verdict_ru=msg.VERDICT,
            fmt_time=time_formatter(tz),
            pts=_fmt_points,
            counting=getattr(self.config, "counting", "latest"),
        )

    # -- login -------------------------------------------------------------------------------------
    async def page_login(self, request: web.Request) -> web.Response:
        if self.sessions is None:
            return self._disabled(request)
        next_url = request.query.get("next", "/instructor/class")
        return self._page(
            "instructor_login.html",
            next_url=next_url if NEXT_RE.match(next_url) else "/instructor/class",
            error=None,
            csrf=None,
        )

    async def post_login(self, request: web.Request) -> web.Response:
        if self.sessions is None:
            return self._disabled(request)
        form = await request.post()
        next_url = str(form.get("next", "/instructor/class"))
        next_url = next_url if NEXT_RE.match(next_url) else "/instructor/class"
        address = self.fe.client(request)
        wait = self.throttle.wait_seconds(address)
        if wait > 0:
            return self._page(
                "instructor_login.html",
                status=429,
                next_url=next_url,
                csrf=None,
                error=msg.IN_THROTTLED_T.format(minutes=msg.wait_minutes(wait)),
            )
        if not await self._password_ok(str(form.get("password", ""))[:1000]):
            self.throttle.failed(address)
            return self._page(
                "instructor_login.html", status=403, next_url=next_url, csrf=None, error=msg.IN_WRONG_PASSWORD
            )
        response = redirect(next_url)
        response.set_cookie(
            COOKIE_NAME,
            self.sessions.new((await self.core("now")).timestamp()),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        return response

    async def post_logout(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        if nonce != "bearer":
            until = await self.core("now") + timedelta(seconds=SESSION_SECONDS)  # the cookie expires by then
            await self.core("revoke_session", nonce, until)
        response = redirect("/instructor/login")
        response.del_cookie(COOKIE_NAME, path="/")
        return response

    # -- class table -------------------------------------------------------------------------------
    async def page_root(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        return redirect("/instructor/class")

    @staticmethod
    def _filters(request: web.Request) -> tuple[str, str]:
        group = request.query.get("group", "")[:MAX_FIELD]
        status = request.query.get("status", "")[:MAX_FIELD]
        if status and status not in classbook.STATUS_FILTERS:
            raise ValueError(f"status={status!r}: use one of {', '.join(classbook.STATUS_FILTERS)}")
        return group, status

    async def page_class(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        table = await self.core("class_table")
        error = None
        try:
            group, status = self._filters(request)
        except ValueError as exc:
            group, status, error = "", "", msg.IN_BAD_FILTER_T.format(detail=exc)
        html = self.render_class(
            table,
            table.filtered(group, status),
            group=group,
            status=status,
            csrf=self.sessions.csrf(nonce) if nonce != "bearer" else None,
            error=error,
        )
        return web.Response(
            text=html,
            content_type="text/html",
            status=400 if error else 200,
            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
        )

    async def api_class(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        try:
            group, status = self._filters(request)
        except ValueError as exc:
            raise self.web.ApiError(400, "bad_filter", str(exc)) from None
        table = await self.core("class_table")
        return web.json_response(
            {
                "tasks": [{"task": t, "title": title, "max": m} for t, title, m in table.tasks],
                "tests": [{"grade_id": g, "max": m} for g, m in table.tests],
                "groups": table.groups,
                "max_total": table.max_total,
                "rows": [classbook.row_to_json(r) for r in table.filtered(group, status)],
            }
        )

    async def _student_row(self, student_id: str) -> tuple[Any, dict]:
        table = await self.core("class_table", student_id)
        return table, table.rows[0]

    async def api_student(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        _, row = await self._student_row(request.match_info["student_id"])
        return web.json_response(classbook.row_to_json(row))

    async def page_student(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        table, row = await self._student_row(request.match_info["student_id"])
        history = {}
        for s in row["submissions"]:
            if s["regrades"]:
                history[s["id"]] = await self.core("regrade_history", s["id"])
        tz = self._tz()
        return self._page(
            "instructor_student.html",
            table=table,
            row=row,
            history=history,
            csrf=self.sessions.csrf(nonce) if nonce != "bearer" else None,
            course_deadline=self.config.deadline_dt(),
            status_ru=msg.STATUS,
            verdict_ru=msg.VERDICT,
            pts=_fmt_points,
            fmt_time=time_formatter(tz),
            message=request.query.get("msg", "")[:MAX_FIELD],
        )

    # -- one submission ------------------------------------------------------------------------------
    @staticmethod
    def _sub_id(request: web.Request) -> int:
        try:
            return int(request.match_info["id"])
        except ValueError:
            raise errors.UnknownSubmission(f"no submission #{request.match_info['id']}") from None

    async def page_feedback(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        sub_id = self._sub_id(request)
        html = await self.core("feedback_html", sub_id)
        if html is None:
            sub = await self.core("get_submission", sub_id)
            html = (
                "<!doctype html><meta charset='utf-8'><p>"
                + msg.IN_NO_FEEDBACK_T.format(id=sub_id, status=msg.STATUS.get(sub.status, sub.status))
                + "</p>"
            )
        return inert_html(html)

    async def page_notebook(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        sub_id = self._sub_id(request)
        filename, data = await self.core("submission_notebook", sub_id)
        sub = await self.core("get_submission", sub_id)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{sub.student_id}-{sub_id}-{filename}")
        return web.Response(
            body=data,
            content_type="application/x-ipynb+json",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    # -- regrade -------------------------------------------------------------------------------------
    async def _regrade(self, scope: str, submission_id: Any, student_id: Any) -> dict:
        if scope == "submission":
            try:
                sid = int(str(submission_id))
            except ValueError:
                raise self.web.ApiError(
                    400, "bad_request", f"submission_id {submission_id!r} is not a number"
                ) from None
            return await self.core("regrade", submission_id=sid)
        if scope == "student":
            if not student_id:
                raise self.web.ApiError(400, "bad_request", "student_id is required for scope=student")
            return await self.core("regrade", student_id=str(student_id))
        if scope == "all":
            return await self.core("regrade", everything=True)
        raise self.web.ApiError(400, "bad_request", f"scope {scope!r}: use one of {', '.join(SCOPES)}")

    async def post_regrade(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        batch = await self._regrade(str(form.get("scope", "")), form.get("submission_id"), form.get("student_id"))
        return redirect(f"/instructor/regrade/{batch['batch']}?skipped={batch['skipped']}")

    async def api_regrade(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        body = await self._json(request)
        if body.get("all") is True:
            scope = "all"
        elif "student_id" in body:
            scope = "student"
        elif "submission_id" in body:
            scope = "submission"
        else:
            raise self.web.ApiError(
                400, "bad_request", 'send {"submission_id": N}, {"student_id": "..."} or {"all": true}'
            )
        batch = await self._regrade(scope, body.get("submission_id"), body.get("student_id"))
        url = f"/api/instructor/regrade/{batch['batch']}"
        return web.json_response({**batch, "progress_url": url}, status=202, headers={"Location": url})

    async def _progress(self, request: web.Request) -> dict:
        batch = request.match_info["batch"]
        if not re.fullmatch(r"[0-9a-f]{32}", batch):
            raise self.web.ApiError(404, "not_found", f"no regrade batch {batch!r}")
        progress = await self.core("regrade_progress", batch)
        progress["finished"] = progress["done"] + progress["failed"]
        progress["complete"] = progress["finished"] >= progress["total"]
        return progress

    async def page_progress(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        progress = await self._progress(request)
        skipped = request.query.get("skipped", "0")
        tz = self._tz()
        return self._page(
            "instructor_regrade.html",
            p=progress,
            refresh=REGRADE_REFRESH_SECONDS,
            skipped=int(skipped) if skipped.isdigit() else 0,
            csrf=self.sessions.csrf(nonce) if nonce != "bearer" else None,
            fmt_time=time_formatter(tz),
        )

    async def api_progress(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        progress = await self._progress(request)
        if progress["requested_at"] is not None:
            progress["requested_at"] = progress["requested_at"].isoformat()
        return web.json_response(progress)

    # -- deadline extension --------------------------------------------------------------------------
    def _new_deadline(self, until: Any, days: Any) -> datetime | None:
        """The student's own deadline from ``until`` (ISO time) or ``days`` after the course deadline."""
        if until not in (None, ""):
            return parse_deadline(str(until)[:MAX_FIELD], self._tz())
        if days not in (None, ""):
            try:
                n = float(str(days))
            except ValueError:
                raise ValueError(f"days={days!r} is not a number of days") from None
            base = self.config.deadline_dt()
            if base is None:
                raise ValueError("the course has no deadline to extend: give the new deadline as a date and time")
            if not 0 < n <= 366:
                raise ValueError(f"days={days!r}: give 1 to 366 days")
            return base + timedelta(days=n)
        raise ValueError("give the new deadline (until) or the number of days (days)")

    async def post_extension(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        student_id = request.match_info["student_id"]
        try:
            deadline = None if form.get("clear") else self._new_deadline(form.get("until"), form.get("days"))
        except ValueError as exc:
            raise self.web.ApiError(400, "bad_request", msg.IN_BAD_EXTENSION_T.format(detail=exc)) from None
        await self.core("set_extension", student_id, deadline)
        done = "extension-cleared" if deadline is None else "extension-set"
        return redirect(f"/instructor/students/{quote(student_id)}?msg={done}")

    async def api_extension(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        student_id = request.match_info["student_id"]
        body = await self._json(request)
        try:
            if "until" in body and body["until"] is None:
                deadline = None
            else:
                deadline = self._new_deadline(body.get("until"), body.get("days"))
        except ValueError as exc:
            raise self.web.ApiError(400, "bad_request", str(exc)) from None
        await self.core("set_extension", student_id, deadline)
        own = (await self.core("extensions")).get(student_id)
        return web.json_response({"student_id": student_id, "extension": own.isoformat() if own else None})

    # -- access code re-issue ----------------------------------------------------------------------
    async def post_reissue(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        """A fresh access code for the student, shown on this page once (the store keeps only its hash)."""
        student_id = request.match_info["student_id"]
        code = await self.core("reissue_code", student_id)
        student = await self.core("get_student", student_id)
        return self._page(
            "instructor_code.html",
            student=student,
            code=code,
            csrf=self.sessions.csrf(nonce) if nonce != "bearer" else None,
        )

    async def api_reissue(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        student_id = request.match_info["student_id"]
        code = await self.core("reissue_code", student_id)
        return web.json_response({"student_id": student_id, "code": code}, headers={"Cache-Control": "no-store"})

    async def _json(self, request: web.Request) -> dict:
        try:
            body = json.loads(await request.text() or "{}")
        except json.JSONDecodeError as exc:
            raise self.web.ApiError(400, "bad_request", f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise self.web.ApiError(400, "bad_request", "the body must be a JSON object")
        return body

    # -- exports -----------------------------------------------------------------------------------
    async def export_csv(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        kind = request.match_info["kind"]
        table = await self.core("class_table")
        if kind == "grades":
            text = classbook.grades_csv(table, self.config)
        elif kind == "tasks":
            text = classbook.tasks_csv(table)
        else:
            text = classbook.tests_csv(table)
        name = f"{getattr(self.config, 'assignment', 'grades')}-{kind}.csv"
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    # -- statistics (gradebot.cockpit: the same numbers and plots as `python -m gradebot report`) -----------
    async def _stats(self) -> Any:
        """The class statistics, read through the core's thread (the store is the core's)."""
        from gradebot.cockpit import service_stats

        return await self.core.run(service_stats, self.core.svc)

    async def page_stats(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        from gradebot.cockpit import plots, report

        stats = await self._stats()

        def render() -> str:  # matplotlib: ~0.2 s of CPU, off the event loop and off the core's thread
            return report.stats_html(
                stats, plots.render_all(stats, "svg"), submission_url=lambda i: f"/instructor/submissions/{i}/feedback"
            )

        fragment = await asyncio.get_running_loop().run_in_executor(None, render)
        return self._page(
            "instructor_stats.html",
            fragment=Markup(fragment),
            csrf=self.sessions.csrf(nonce) if nonce != "bearer" else None,
        )

    async def api_stats(self, request: web.Request, nonce: str, form: Any) -> web.Response:
        return web.json_response((await self._stats()).to_json(), headers={"Cache-Control": "no-store"})


def register(app: web.Application, fe: Any) -> Cockpit:
    """Add the instructor area's routes to ``app`` (over the web front end ``fe``'s core and templates)."""
    c = Cockpit(fe)
    g = c.guarded
    app.add_routes(
        [
            web.get("/instructor", g(c.page_root)),
            web.get("/instructor/login", c.page_login),
            web.post("/instructor/login", c.post_login),
            web.post("/instructor/logout", g(c.post_logout)),
            web.get("/instructor/class", g(c.page_class)),
            web.get("/instructor/students/{student_id}", g(c.page_student)),
            web.post("/instructor/students/{student_id}/extension", g(c.post_extension)),
            web.post("/instructor/students/{student_id}/reissue-code", g(c.post_reissue)),
            web.get("/instructor/submissions/{id}/feedback", g(c.page_feedback)),
            web.get("/instructor/submissions/{id}/notebook", g(c.page_notebook)),
            web.post("/instructor/regrade", g(c.post_regrade)),
            web.get("/instructor/regrade/{batch}", g(c.page_progress)),
            web.get(r"/instructor/export/{kind:(grades|tasks|tests)}.csv", g(c.export_csv)),
            web.get("/instructor/stats", g(c.page_stats)),
            web.get("/api/instructor/class", g(c.api_class)),
            web.get("/api/instructor/stats", g(c.api_stats)),
            web.get("/api/instructor/students/{student_id}", g(c.api_student)),
            web.post("/api/instructor/students/{student_id}/extension", g(c.api_extension)),
            web.post("/api/instructor/students/{student_id}/reissue-code", g(c.api_reissue)),
            web.post("/api/instructor/regrade", g(c.api_regrade)),
            web.get("/api/instructor/regrade/{batch}", g(c.api_progress)),
        ]
    )
    return c


def main(argv: list[str] | None = None) -> int:
    """``python -m gradebot.frontends.cockpit hash-password``: print the hash of a password typed twice (or read
    from stdin when it is not a terminal), to put into ``instructor_password``."""
    parser = argparse.ArgumentParser(prog="python -m gradebot.frontends.cockpit")
    parser.add_argument("command", choices=["hash-password"])
    parser.parse_args(argv)
    if sys.stdin.isatty():
        pw = getpass.getpass("instructor password: ")
        if getpass.getpass("again: ") != pw:
            print("the two passwords differ; nothing printed", file=sys.stderr)
            return 1
    else:
        pw = sys.stdin.readline().rstrip("\n")
    if len(pw) < 10:
        print("use at least 10 characters", file=sys.stderr)
        return 1
    print(hash_password(pw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
