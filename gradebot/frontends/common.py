"""What the asynchronous front ends (web, Telegram) share: calling the core off the event loop, the course's facts.

Words students read are not here: they are in the message catalog, :mod:`gradebot.messages`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any, Callable

log = logging.getLogger("gradebot.frontends")

# Submission states after which nothing changes any more (the status page stops refreshing, Telegram answers).
FINAL_STATUSES = ("done", "failed")

# A feedback page shows the student's own outputs (any HTML their code printed): browsers get it as an inert
# document (CSP sandbox: no scripts, no same-origin access to the site's cookies or pages), never sniffed into
# another type, never kept in a cache (a shared computer's next user).
INERT_HTML_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def inert_html(html: str) -> Any:
    """``html`` as an aiohttp response with :data:`INERT_HTML_HEADERS` (the student's and the instructor's
    feedback pages)."""
    from aiohttp import web

    return web.Response(text=html, content_type="text/html", headers=INERT_HTML_HEADERS)


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

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` in the core's thread (for helpers that read the service, e.g. class statistics)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: func(*args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


async def course_facts_of(core: Any) -> Any:
    """The course's facts (task titles, test names) through the core, or None when the core cannot say (a core
    without ``course_facts``, a course notebook that cannot be read): messages then show the ids."""
    try:
        return await core("course_facts")
    except AttributeError:  # a core without it
        return None
    except Exception:  # noqa: BLE001 - titles are a nicety: a message with ids is still right
        log.warning("course facts unavailable; messages show task and test ids", exc_info=True)
        return None
