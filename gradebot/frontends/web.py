"""HTTP front end of gradebot: a JSON API and a small Russian web page (aiohttp.web).

A thin adapter over :class:`gradebot.core.service.GradingService`: it parses requests, calls the core and
turns the core's answers and exceptions into HTTP responses. No grading, storage or policy lives here
(size limit, deadline, rate limit and notebook validation are the core's; this module only refuses to
*read* more than ``max_upload_bytes`` of a body, so a 50 MB upload is never buffered).

API (all errors are JSON ``{"error": <code>, "message": <text>}``)::

    POST /api/submissions                multipart: student_id, file  -> 202 {"id", "status"}
    GET  /api/submissions/<id>           -> 200 submission JSON (status, result, ...)
    GET  /api/submissions/<id>/feedback  -> 200 text/html (from the core; hidden tests removed there)
    GET  /api/students/<id>/submissions  -> 200 {"student_id", "submissions": [...]}
    GET  /healthz                        -> 200 {"status": "ok"}

Web pages: ``GET /`` (upload form), ``POST /submit`` (form target, redirects to the status page),
``GET /submissions/<id>`` (refreshes itself until graded, then shows the per-task table).

Run it with ``python -m gradebot serve`` (or ``python -m gradebot.frontends.web``).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import math
from pathlib import Path
from typing import Any, Callable

import jinja2
from aiohttp import web

from gradebot.core import errors

log = logging.getLogger("gradebot.web")

TEMPLATES_DIR = Path(__file__).with_name("templates")
# Room for the multipart framing and the small text fields around the notebook itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024
READ_CHUNK_BYTES = 64 * 1024
# How often the status page reloads itself while a submission is queued or being graded.
STATUS_REFRESH_SECONDS = 2

STATUS_RU = {
    "queued": "в очереди",
    "grading": "проверяется",
    "done": "проверено",
    "failed": "ошибка проверки",
}
VERDICT_RU = {
    "ok": "проверено",
    "timeout": "превышено время выполнения",
    "memory": "превышен лимит памяти",
    "output-limit": "слишком большой вывод",
    "sandbox-violation": "нарушение ограничений песочницы",
    "invalid-notebook": "некорректный ноутбук",
    "refused": "работа не оценена: код решения меняет тесты",
    "error": "ошибка при проверке",
}
FINAL_STATUSES = ("done", "failed")


# ------------------------------------------------------------------------------------------------
# Calling the core off the event loop
# ------------------------------------------------------------------------------------------------
class CoreCaller:
    """Runs blocking core calls in one dedicated thread, so the event loop never blocks on SQLite/fsync.

    One thread (not a pool) keeps the service single-threaded from its own point of view; the core's
    worker processes do the grading, so this thread only does short store look-ups and submits.
    """

    def __init__(self, svc: Any):
        self.svc = svc
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebot-core")

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        func: Callable[..., Any] = getattr(self.svc, method)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: func(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def format_size(n: float) -> str:
    """A byte count for Russian UI text: '5.0 МБ' or '20 КБ'."""
    return f"{n / 2**20:.1f} МБ" if n >= 2**20 else f"{max(1, round(n / 1024))} КБ"


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
async def api_errors_middleware(request: web.Request, handler):
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
            return json_error(ApiError(exc.status, exc.reason.lower().replace(" ", "_"),
                                       f"{exc.reason}: {request.method} {request.path}"))
        raise
    except Exception:  # noqa: BLE001 - last resort: never leak a traceback page to a client
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api:
            return json_error(ApiError(500, "internal_error", "internal server error; see the server log"))
        raise


# ------------------------------------------------------------------------------------------------
# Reading an upload without buffering more than the limit
# ------------------------------------------------------------------------------------------------
async def read_upload(request: web.Request, max_bytes: int) -> tuple[str, str, bytes]:
    """Stream a multipart body; return ``(student_id, filename, data)``.

    Raises ApiError 413 as soon as the file part exceeds ``max_bytes`` (or the declared Content-Length
    cannot fit), 400 when a field is missing or the body is not multipart.
    """
    limit_msg = f"file too large: the limit is {max_bytes} bytes ({max_bytes / 2**20:.1f} MiB)"
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise ApiError(413, "too_large", limit_msg)
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "bad_request", "send multipart/form-data with fields 'student_id' and 'file'")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from exc

    student_id: str | None = None
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
            if part.name == "student_id":
                student_id = buf.decode("utf-8", "replace").strip()
    if not student_id:
        raise ApiError(400, "missing_field", "field 'student_id' is required")
    if data is None:
        raise ApiError(400, "missing_field", "field 'file' (the .ipynb notebook) is required")
    return student_id, filename, data


# ------------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------------
class WebFrontend:
    """Request handlers bound to one core service."""

    def __init__(self, svc: Any, config: Any):
        self.core = CoreCaller(svc)
        self.config = config
        self.max_upload_bytes = int(_get(config, "max_upload_bytes", 5 * 2**20) or 5 * 2**20)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=jinja2.select_autoescape(["html"]),
        )

    # -- core calls shared by the API and the pages ------------------------------------------------
    async def _submit(self, request: web.Request) -> Any:
        student_id, filename, data = await read_upload(request, self.max_upload_bytes)
        try:
            return await self.core("submit", student_id, filename, data, source="web")
        except errors.GradebotError as exc:
            err = core_error_to_api(exc)
            err.student_id = student_id
            raise err from exc

    async def _submission(self, request: web.Request) -> Any:
        raw = request.match_info["id"]
        try:
            sub_id = int(raw)
        except ValueError:
            raise ApiError(404, "not_found", f"no submission with id {raw!r}") from None
        try:
            return await self.core("get_submission", sub_id)
        except errors.GradebotError as exc:
            raise core_error_to_api(exc) from exc

    # -- JSON API ----------------------------------------------------------------------------------
    async def api_submit(self, request: web.Request) -> web.Response:
        sub = await self._submit(request)
        return web.json_response({"id": sub.id, "status": sub.status}, status=202,
                                 headers={"Location": f"/api/submissions/{sub.id}"})

    async def api_submission(self, request: web.Request) -> web.Response:
        return web.json_response(submission_to_json(await self._submission(request)))

    async def api_feedback(self, request: web.Request) -> web.Response:
        sub = await self._submission(request)
        if sub.status not in FINAL_STATUSES:
            raise ApiError(409, "not_ready", f"submission {sub.id} is {sub.status}; feedback appears when graded")
        html = await self.core("feedback_html", sub.id)
        if html is None:
            raise ApiError(404, "no_feedback", f"submission {sub.id} has no feedback ({sub.status})")
        # The feedback shows the student's own outputs: serve it as an inert, script-less document.
        return web.Response(text=html, content_type="text/html", headers={
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
        })

    async def api_student_submissions(self, request: web.Request) -> web.Response:
        student_id = request.match_info["student_id"]
        student = await self.core("get_student", student_id)
        if student is None:
            raise ApiError(404, "unknown_student", f"student {student_id!r} is not in the course roster")
        subs = await self.core("list_submissions", student_id)
        return web.json_response({"student_id": student_id,
                                  "submissions": [submission_to_json(s) for s in subs]})

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness plus a store round trip (the queue length)."""
        try:
            queued = await self.core("queue_length")
        except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
            log.warning("health check failed: %s", exc)
            return web.json_response({"status": "error", "message": str(exc)}, status=503)
        return web.json_response({"status": "ok", "queue_length": queued})

    # -- HTML pages --------------------------------------------------------------------------------
    def _page(self, name: str, status: int = 200, **context: Any) -> web.Response:
        html = self.templates.get_template(name).render(**context)
        return web.Response(text=html, content_type="text/html", status=status)

    async def page_index(self, request: web.Request) -> web.Response:
        return self._page("index.html", max_size=format_size(self.max_upload_bytes))

    def _error_ru(self, err: ApiError) -> str:
        """A Russian sentence for the form page; the core's (English) detail follows in parentheses."""
        if err.code == "too_large":
            return f"файл слишком большой, предел {format_size(self.max_upload_bytes)}"
        if err.code == "rate_limited":
            minutes = -(-int(err.headers.get("Retry-After", "60")) // 60)
            return f"слишком много посылок подряд; следующую можно отправить через {minutes} мин."
        prefix = {
            "bad_submission": "файл не принят как ноутбук Jupyter (.ipynb)",
            "unknown_student": "такого номера студента нет в списке курса",
            "deadline_missed": "срок сдачи истёк, посылки больше не принимаются",
            "missing_field": "заполните номер студента и выберите файл",
            "not_found": "посылка не найдена",
        }.get(err.code, "посылка не принята")
        return f"{prefix} ({err.message})"

    async def page_submit(self, request: web.Request) -> web.Response:
        try:
            sub = await self._submit(request)
        except ApiError as err:
            return self._page("index.html", status=err.status, error=self._error_ru(err),
                              student_id=err.student_id,
                              max_size=format_size(self.max_upload_bytes))
        raise web.HTTPSeeOther(f"/submissions/{sub.id}")

    async def page_submission(self, request: web.Request) -> web.Response:
        try:
            sub = await self._submission(request)
        except ApiError as err:
            return self._page("index.html", status=err.status, error=self._error_ru(err),
                              max_size=format_size(self.max_upload_bytes))
        result = sub.result
        return self._page(
            "status.html",
            sub=sub,
            status_ru=STATUS_RU.get(sub.status, sub.status),
            final=sub.status in FINAL_STATUSES,
            refresh=STATUS_REFRESH_SECONDS,
            result=result,
            verdict_ru=VERDICT_RU.get(result.verdict, result.verdict) if result is not None else None,
        )

    async def close(self, app: web.Application) -> None:
        self.core.close()


def create_app(svc: Any, config: Any) -> web.Application:
    """The aiohttp application over an already constructed (and started, for grading) service."""
    fe = WebFrontend(svc, config)
    app = web.Application(middlewares=[api_errors_middleware])
    app.add_routes([
        web.post("/api/submissions", fe.api_submit),
        web.get("/api/submissions/{id}", fe.api_submission),
        web.get("/api/submissions/{id}/feedback", fe.api_feedback),
        web.get("/api/students/{student_id}/submissions", fe.api_student_submissions),
        web.get("/healthz", fe.healthz),
        web.get("/", fe.page_index),
        web.post("/submit", fe.page_submit),
        web.get("/submissions/{id}", fe.page_submission),
    ])
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
        web.run_app(create_app(svc, config), host=host, port=int(port),
                    print=lambda msg: log.info("%s", msg))
    finally:
        svc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
