"""Helpers shared by the front-end tests (no tests here).

* :class:`Clock` - an injected clock for the core's throttle on wrong codes;
* :class:`FakeService` - a small in-memory stand-in of ``GradingService`` for fast adapter tests;
* :func:`serve_app` - runs an aiohttp application on a free 127.0.0.1 port in a background thread;
* :class:`BotApiStub` - a local HTTP stand-in of the Telegram Bot API (getMe, getUpdates long poll fed with
  scripted updates, sendMessage, getFile + file download, sendDocument) that records what the bot sent;
* :func:`make_notebook` - tiny nbformat-4 notebooks;
* :func:`check_page_ids` - an HTML page's ids are unique and each reference resolves within its own inline SVG.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from html.parser import HTMLParser

from aiohttp import web

from gradebot.core import access


# ------------------------------------------------------------------------------------------------
# Time
# ------------------------------------------------------------------------------------------------
class Clock:
    """An injected clock (``GradingService(config, clock=...)``): ``clock()`` is now, ``advance(seconds)`` moves
    it - throttling is tested without sleeping."""

    def __init__(self):
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


# ------------------------------------------------------------------------------------------------
# Notebooks
# ------------------------------------------------------------------------------------------------
def make_notebook(cells: list[tuple[str, str]] | None = None) -> bytes:
    """An nbformat 4 notebook; ``cells`` are ``(cell_type, source)`` pairs."""
    cells = cells or [("code", "x = 1")]
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {
                "cell_type": t,
                "id": f"c{i}",
                "metadata": {},
                "source": s,
                **({"outputs": [], "execution_count": None} if t == "code" else {}),
            }
            for i, (t, s) in enumerate(cells)
        ],
    }
    return json.dumps(nb).encode()


# ------------------------------------------------------------------------------------------------
# In-memory fake of the core (documented interface of gradebot.core.service.GradingService)
# ------------------------------------------------------------------------------------------------
def fake_code(student_id: str) -> str:
    """The access code FakeService gives ``student_id`` (the real core generates random ones)."""
    return f"code-{student_id}-7k"


@lru_cache(maxsize=None)
def fake_code_hash(student_id: str) -> str:
    """The stored hash of :func:`fake_code` (computed once per id: the hash is slow on purpose)."""
    return access.hash_code(fake_code(student_id))


@dataclass
class FakeStudent:
    student_id: str
    name: str
    group: str
    telegram_user_id: int | None = None
    code_hash: str | None = None


@dataclass
class FakeResult:
    total: float
    max: float
    tasks: dict
    verdict: str = "ok"
    messages: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "max": self.max,
            "tasks": self.tasks,
            "verdict": self.verdict,
            "messages": list(self.messages),
        }


@dataclass
class FakeSubmission:
    id: int
    student_id: str
    filename: str
    created_at: datetime
    status: str
    late: bool = False
    result: FakeResult | None = None
    error: str | None = None
    source: str = "cli"


class FakeService:
    """Grades instantly in a background thread: 2 points for task ``t1`` when the notebook contains
    ``ANSWER = 42``, else 0; ``t2`` is always 0 of 1. Enforces size, JSON validity, a per-student
    rate limit (``rate_limit`` submissions, then RateLimited(retry_after=120)) and a deadline flag. Student ``s``
    has the access code :func:`fake_code` ``(s)``; :meth:`authenticate` checks it like the core does (without
    throttling: the front ends' throttling tests use the real core)."""

    def __init__(
        self,
        errors,
        roster=("s1", "s2", "s3"),
        max_bytes=5 * 2**20,
        rate_limit=100,
        deadline_passed=False,
        grade_delay=0.3,
    ):
        self.errors = errors
        self.students = {s: FakeStudent(s, f"Student {s}", "g1", code_hash=fake_code_hash(s)) for s in roster}
        self.subs: dict[int, FakeSubmission] = {}
        self.feedback: dict[int, str] = {}
        self.ids = itertools.count(1)
        self.max_bytes, self.rate_limit = max_bytes, rate_limit
        self.deadline_passed, self.grade_delay = deadline_passed, grade_delay
        self.lock = threading.Lock()

    def list_students(self):
        return list(self.students.values())

    def get_student(self, student_id):
        return self.students.get(student_id)

    def authenticate(self, student_id, code, client=None):
        s = self.students.get(str(student_id).strip())
        if not access.verify_code(s.code_hash if s is not None else None, code) or s is None:
            raise self.errors.AccessDenied()
        return s

    def reissue_code(self, student_id):
        code = access.new_code()
        self.students[student_id].code_hash = access.hash_code(code)
        return code

    def student_by_telegram(self, user_id):
        return next((s for s in self.students.values() if s.telegram_user_id == user_id), None)

    def link_telegram(self, student_id, user_id):
        s = self.students.get(student_id)
        if s is None:
            raise self.errors.RegistrationError(f"unknown student {student_id}")
        if s.telegram_user_id not in (None, user_id) or self.student_by_telegram(user_id) not in (None, s):
            raise self.errors.RegistrationError("already linked")
        s.telegram_user_id = user_id
        return s

    def submit(self, student_id, filename, data, source="cli"):
        if student_id not in self.students:
            raise self.errors.UnknownStudent(student_id)
        if self.deadline_passed:
            raise self.errors.DeadlineMissed("the deadline has passed")
        if len(data) > self.max_bytes:
            raise self.errors.SubmissionRejected(f"notebook larger than {self.max_bytes} bytes")
        try:
            nb = json.loads(data)
            assert nb["nbformat"] == 4
        except Exception:
            raise self.errors.SubmissionRejected("not a valid .ipynb (nbformat 4 JSON) file") from None
        with self.lock:
            if sum(s.student_id == student_id for s in self.subs.values()) >= self.rate_limit:
                raise self.errors.RateLimited(120)
            sub = FakeSubmission(
                next(self.ids), student_id, filename, datetime.now(timezone.utc), "queued", source=source
            )
            self.subs[sub.id] = sub
        text = data.decode()
        threading.Thread(target=self._grade, args=(sub, "ANSWER = 42" in text), daemon=True).start()
        return FakeSubmission(**{**sub.__dict__})

    def _grade(self, sub, correct):
        time.sleep(self.grade_delay)
        with self.lock:
            sub.result = FakeResult(
                2.0 if correct else 0.0,
                3.0,
                {"t1": {"points": 2.0 if correct else 0.0, "max": 2.0}, "t2": {"points": 0.0, "max": 1.0}},
            )
            self.feedback[sub.id] = f"<html><body><h1>Feedback {sub.id}</h1></body></html>"
            sub.status = "done"

    def get_submission(self, sub_id):
        with self.lock:
            sub = self.subs.get(sub_id)
            if sub is None:
                raise self.errors.UnknownSubmission(f"no submission #{sub_id}")
            return FakeSubmission(**{**sub.__dict__})

    def get_submissions(self, sub_ids):
        with self.lock:
            return {i: FakeSubmission(**{**self.subs[i].__dict__}) for i in sub_ids if i in self.subs}

    def queue_length(self):
        with self.lock:
            return sum(s.status == "queued" for s in self.subs.values())

    def list_submissions(self, student_id):
        with self.lock:
            return [FakeSubmission(**{**s.__dict__}) for s in self.subs.values() if s.student_id == student_id]

    def submission_quota(self, student_id, now=None):
        """Like the core's: a deadline (``deadline``, default none), ``rate_limit`` submissions in all (the fake's
        window never ends)."""
        with self.lock:
            used = sum(s.student_id == student_id for s in self.subs.values())
        deadline = getattr(self, "deadline", None)
        return {
            "deadline": deadline,
            "deadline_passed": self.deadline_passed,
            "late_policy": "penalty:0.2",
            "late_penalty": 0.2,
            "counting": "latest",
            "limit": self.rate_limit,
            "window_minutes": 60.0,
            "used": used,
            "left": max(0, self.rate_limit - used),
            "next_at": datetime(2030, 1, 1, 9, 30, tzinfo=timezone.utc) if used >= self.rate_limit else None,
        }

    def feedback_html(self, sub_id):
        self.get_submission(sub_id)
        return self.feedback.get(sub_id)


# ------------------------------------------------------------------------------------------------
# HTML pages
# ------------------------------------------------------------------------------------------------
class _IdsAndRefs(HTMLParser):
    """Every ``id`` of a page and every reference to one (``url(#id)`` in any attribute, ``href``/``xlink:href``
    ``="#id"``), each with the number of the outermost inline <svg> it is in (None: outside every <svg>)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.svgs, self.depth, self.svg = 0, 0, None
        self.ids: list[tuple[str, int | None]] = []
        self.refs: list[tuple[str, int | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            if self.depth == 0:
                self.svg, self.svgs = self.svgs, self.svgs + 1
            self.depth += 1
        for name, value in attrs:
            value = value or ""
            if name == "id":
                self.ids.append((value, self.svg))
            elif name in ("href", "xlink:href") and value.startswith("#"):
                self.refs.append((value[1:], self.svg))
            self.refs.extend((ref, self.svg) for ref in re.findall(r"url\(#([^)]+)\)", value))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "svg" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self.svg = None


def check_page_ids(page: str) -> tuple[int, int]:
    """Assert that no two elements of the HTML ``page`` share an id and that every reference inside an inline <svg>
    points to an element of the same <svg> (outside: to one of the page). Returns (inline SVGs, references
    inside them) so a caller can check that there was something to check."""
    parser = _IdsAndRefs()
    parser.feed(page)
    parser.close()
    counts = Counter(i for i, _ in parser.ids)
    assert not [i for i, n in counts.items() if n > 1], sorted(i for i, n in counts.items() if n > 1)[:20]
    where = dict(parser.ids)
    unresolved = [(ref, svg) for ref, svg in parser.refs if ref not in where or svg is not None and where[ref] != svg]
    assert not unresolved, unresolved[:20]
    return parser.svgs, sum(svg is not None for _, svg in parser.refs)


# ------------------------------------------------------------------------------------------------
# Running aiohttp apps in a background thread
# ------------------------------------------------------------------------------------------------
class _LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def serve_app(app_factory):
    """Run ``app_factory()`` (called inside the server loop) on 127.0.0.1:<free port>; yield the base URL."""
    lt = _LoopThread()

    async def start():
        runner = web.AppRunner(app_factory(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return runner, port

    runner, port = lt.run(start())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        lt.run(runner.cleanup())
        lt.close()


# ------------------------------------------------------------------------------------------------
# Telegram Bot API stand-in
# ------------------------------------------------------------------------------------------------
class BotApiStub:
    """A local Bot API: feed updates with :meth:`send_text` / :meth:`send_document`, read what the bot
    sent from :attr:`sent` (dicts with ``method``, ``chat_id``, ``text`` or ``filename``/``data``)."""

    BOT_ID = 777000

    def __init__(self, token: str):
        self.token = token
        self.updates: list[dict] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.sent: list[dict] = []
        self.calls: list[str] = []
        self.downloads: list[str] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._cond: asyncio.Condition | None = None
        self._lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- scripting (called from the test thread) ----------------------------------------------------
    def _user(self, user_id):
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def _push(self, message: dict) -> None:
        async def add():
            async with self._cond:
                self.updates.append({"update_id": next(self._update_ids), "message": message})
                self._cond.notify_all()

        asyncio.run_coroutine_threadsafe(add(), self.loop).result(5)

    def _message(self, user_id: int, **extra) -> dict:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self._user(user_id),
            **extra,
        }

    def send_text(self, user_id: int, text: str) -> None:
        extra = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self._push(self._message(user_id, **extra))

    def send_document(self, user_id: int, filename: str, data: bytes, declared_size: int | None = None) -> str:
        file_id = f"file{len(self.files) + 1}"
        with self._lock:
            self.files[file_id] = (f"documents/{file_id}_{filename}", data)
        self._push(
            self._message(
                user_id,
                document={
                    "file_id": file_id,
                    "file_unique_id": f"u{file_id}",
                    "file_name": filename,
                    "mime_type": "application/x-ipynb+json",
                    "file_size": len(data) if declared_size is None else declared_size,
                },
            )
        )
        return file_id

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        """The first recorded outgoing call matching ``predicate`` (polls the record)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for item in self.sent:
                    if predicate(item):
                        return item
            time.sleep(0.05)
        with self._lock:
            raise AssertionError(f"bot did not send the expected message in {timeout}s; sent: {self.sent}")

    def texts(self, chat_id: int) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if m["method"] == "sendmessage" and m["chat_id"] == chat_id]

    # -- the HTTP side ------------------------------------------------------------------------------
    def app(self) -> web.Application:
        self.loop = asyncio.get_event_loop()
        self._cond = asyncio.Condition()
        app = web.Application()
        app.add_routes(
            [
                web.route("*", "/bot{token}/{method}", self._method),
                web.get("/file/bot{token}/{path:.+}", self._file),
            ]
        )
        return app

    def _ok(self, result) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        form = await request.post()
        self.calls.append(method)
        if method == "getme":
            return self._ok(
                {"id": self.BOT_ID, "is_bot": True, "first_name": "Gradebot", "username": "gradebot_test_bot"}
            )
        if method == "getupdates":
            offset = int(form.get("offset", 0) or 0)
            timeout = min(float(form.get("timeout", 0) or 0), 1.0)
            async with self._cond:
                pending = [u for u in self.updates if u["update_id"] >= offset]
                if not pending and timeout > 0:
                    try:
                        await asyncio.wait_for(self._cond.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
                    pending = [u for u in self.updates if u["update_id"] >= offset]
            return self._ok(pending)
        if method == "getfile":
            file_id = form["file_id"]
            with self._lock:
                path, data = self.files[file_id]
            return self._ok(
                {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}
            )
        chat_id = int(form.get("chat_id", 0) or 0)
        base = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": self.BOT_ID, "is_bot": True, "first_name": "Gradebot"},
        }
        if method == "sendmessage":
            with self._lock:
                self.sent.append({"method": method, "chat_id": chat_id, "text": form["text"]})
            return self._ok({**base, "text": form["text"]})
        if method == "senddocument":
            doc = form["document"]
            if isinstance(doc, str) and doc.startswith("attach://"):  # aiogram uploads as attach://<name>
                doc = form[doc[len("attach://") :]]
            data = doc.file.read()
            with self._lock:
                self.sent.append(
                    {
                        "method": method,
                        "chat_id": chat_id,
                        "filename": doc.filename,
                        "data": data,
                        "caption": form.get("caption"),
                    }
                )
            return self._ok(
                {**base, "document": {"file_id": "out1", "file_unique_id": "uout1", "file_name": doc.filename}}
            )
        return self._ok(True)

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        with self._lock:
            match = [data for p, data in self.files.values() if p == path]
            self.downloads.append(path)
        if request.match_info["token"] != self.token or not match:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=match[0], content_type="application/octet-stream")


# ------------------------------------------------------------------------------------------------
# Running the real front ends as `python -m gradebot ...` subprocesses
# ------------------------------------------------------------------------------------------------
REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_env(config, **extra) -> dict:
    """The environment that makes ``Config.from_env()`` in a child process equal ``config`` (+ ``extra``)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEBOT_")}
    values = {**config.to_dict(), **extra}
    for key, value in values.items():
        if value is not None:
            env["GRADEBOT_" + key.upper()] = str(value)
    return env


@contextmanager
def gradebot_process(args: list[str], env: dict, log_path):
    """Run ``python -m gradebot <args>``; on exit send SIGTERM and wait (SIGKILL after 30 s)."""
    import signal
    import subprocess
    import sys

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gradebot", *args], cwd=str(REPO_ROOT), env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def wait_http_ok(url: str, proc, log_path, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{open(log_path).read()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not up in {timeout}s:\n{open(log_path).read()}")
