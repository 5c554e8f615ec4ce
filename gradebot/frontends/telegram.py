"""Telegram front end of gradebot: an aiogram 3 bot (long polling), messages in Russian.

A thin adapter over :class:`gradebot.core.service.GradingService`:

* ``/start``, ``/help`` - greeting and instructions;
* ``/register <student_id> <code>`` - links this Telegram account to a roster entry (``svc.authenticate`` checks
  the student's access code, then ``svc.link_telegram``; with ``require_code = false`` the code is not asked for).
  Once linked, the account sends notebooks without a code. Wrong codes are throttled per student id and per
  Telegram account (the core's ``authenticate``, ``client="telegram:<user id>"``): a locked one is told in Russian
  how many minutes to wait, and that until then even the right code is refused;
* a ``.ipynb`` document - size-checked from the message metadata *before* download, downloaded,
  handed to ``svc.submit(..., source="telegram")``, answered with "получено, в очереди #N"; once graded, the
  per-task result and the feedback HTML (``svc.feedback_html``) as a document follow;
* ``/status`` - the student's recent submissions;
* regrades (the instructor's, from the web cockpit): the bot follows the store's regrade log
  (``svc.regrades_after``) and, once a regraded submission of a linked student is graded again, tells the student
  if the score changed (before and after, then the new result and feedback); an unchanged score is not announced.

Every submission whose result the bot waits for (uploads, regrades) is polled together: one ``svc.get_submissions``
call every ``poll_seconds`` however many there are (:meth:`TelegramFrontend.poll_results`), so a regrade of the
whole class costs one store read per poll, not one per student.

Grading runs in the core's workers; every core call here runs in a dedicated thread (see
:class:`gradebot.frontends.common.CoreCaller`), so the event loop never blocks.

Run it with ``python -m gradebot telegram``; the token comes from ``GRADEBOT_TELEGRAM_TOKEN`` and the Bot API
base URL can be overridden with the config key ``telegram_api_base`` (tests point it at a local stand-in).
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import BufferedInputFile, Message

from gradebot.core import errors
from gradebot.core.models import failed_tests
from gradebot import messages as msg
from gradebot.frontends.common import FINAL_STATUSES, CoreCaller, course_facts_of

if TYPE_CHECKING:
    from collections.abc import Coroutine

log = logging.getLogger("gradebot.telegram")

DEFAULT_POLL_SECONDS = 2.0

MAX_FAILED_LINES = 15  # failed tests listed in the result message (all of them are in the feedback)
FAILED_REASON_CHARS = 120  # characters of each failed test's reason


def format_result(sub: Any, facts: Any = None) -> str:
    """The result message of a finished submission: per-task points, the total and the failed tests with one-line
    reasons; task titles and test names from ``facts`` (the course's :class:`CourseFacts`), else the ids."""
    if sub.status != "done" or sub.result is None:
        return msg.RESULT_FAILED_T.format(id=sub.id, reason=sub.error or msg.UNKNOWN_ERROR)
    res = sub.result
    lines = [msg.RESULT_HEAD_T.format(id=sub.id)]
    if res.verdict != "ok":
        lines.append(msg.VERDICT_LINE_T.format(verdict=msg.VERDICT.get(res.verdict, res.verdict)))
    for task, t in res.tasks.items():
        lines.append(
            msg.TASK_LINE_T.format(
                title=msg.task_title(facts, task), points=msg.points(t["points"]), max=msg.points(t["max"])
            )
        )
    lines.append(msg.TOTAL_LINE_T.format(points=msg.points(res.total), max=msg.points(res.max)))
    if sub.late:
        lines.append(msg.LATE_LINE)
    failed = failed_tests(res.messages)
    if failed:
        lines.append(msg.FAILED_HEAD_T.format(n=len(failed)))
        for gid, reason in failed[:MAX_FAILED_LINES]:
            lines.append(f"✗ {msg.test_label(facts, gid)}: {_one_line(reason)}")
        if len(failed) > MAX_FAILED_LINES:
            lines.append(msg.FAILED_MORE_T.format(n=len(failed) - MAX_FAILED_LINES))
    others = msg.result_notes(res.messages)
    if others:
        lines.append(msg.NOTES_HEAD)
        lines.extend(others)
    return "\n".join(lines)


def score_of(status: str, result: Any) -> tuple[float, float] | None:
    """(points, max) a submission counts with (done with a result), else None (failed or not graded)."""
    if status != "done" or result is None:
        return None
    return round(float(result.total), 6), float(result.max)


def format_regrade(sub: Any, before: tuple[float, float] | None, facts: Any = None) -> str:
    """The message for a regrade that changed the score: before and after, then the new result (or, if its
    grading failed, why, without asking the student to send again: the instructor started the regrade)."""

    def text(score: tuple[float, float] | None) -> str:
        return (
            msg.TG_NO_SCORE
            if score is None
            else msg.TG_SCORE_T.format(points=msg.points(score[0]), max=msg.points(score[1]))
        )

    after = score_of(sub.status, sub.result)
    head = msg.TG_REGRADED_T.format(id=sub.id, before=text(before), after=text(after))
    if after is None:
        return head + "\n\n" + msg.TG_REGRADE_FAILED_T.format(id=sub.id, reason=sub.error or msg.UNKNOWN_ERROR)
    return head + "\n\n" + format_result(sub, facts)


def _one_line(reason: str, limit: int = FAILED_REASON_CHARS) -> str:
    """The start of the grader's message on one line (hidden tests marked in Russian)."""
    reason = " ".join(msg.failure_reason(reason).split())
    return reason if len(reason) <= limit else reason[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Awaited:
    """Who waits for a submission's result: the chat to tell, and whether it is a regrade (announced only if the
    score is not ``before``, the ``(points, max)`` the student last saw, or None) or the student's own upload."""

    chat_id: int
    regrade: bool = False
    before: tuple[float, float] | None = None


class TelegramFrontend:
    """Handlers of the bot, bound to one core service."""

    def __init__(self, svc: Any, config: Any, poll_seconds: float = DEFAULT_POLL_SECONDS):
        self.core = CoreCaller(svc)
        self.config = config
        self.max_upload_bytes = int(getattr(config, "max_upload_bytes", 0) or 5 * 2**20)
        self.require_code = bool(getattr(config, "require_code", True))
        self.poll_seconds = poll_seconds
        self._tasks: set[asyncio.Task] = set()  # background tasks: the poll loop, deliveries of results
        self._awaited: dict[int, Awaited] = {}  # submission id -> who waits for its result, and why
        self.router = Router(name="gradebot")
        self.router.message.register(self.on_start, CommandStart())
        self.router.message.register(self.on_help, Command("help"))
        self.router.message.register(self.on_register, Command("register"))
        self.router.message.register(self.on_status, Command("status"))
        self.router.message.register(self.on_document, F.document)
        self.router.message.register(self.on_other)

    @property
    def help_text(self) -> str:
        register = msg.TG_REGISTER_WITH_CODE if self.require_code else msg.TG_REGISTER_WITHOUT_CODE
        return msg.TG_HELP_T.format(register=register, max_size=msg.size(self.max_upload_bytes))

    # -- commands ----------------------------------------------------------------------------------
    async def on_start(self, message: Message) -> None:
        await message.answer(msg.TG_GREETING + self.help_text)

    async def on_help(self, message: Message) -> None:
        await message.answer(self.help_text)

    async def on_other(self, message: Message) -> None:
        await message.answer(msg.TG_NOT_UNDERSTOOD + self.help_text)

    def _register_hint(self) -> str:
        return msg.TG_REGISTER_HINT_WITH_CODE if self.require_code else msg.TG_REGISTER_HINT_WITHOUT_CODE

    def _register_usage(self) -> str:
        return msg.TG_REGISTER_USAGE_WITH_CODE if self.require_code else msg.TG_REGISTER_USAGE_WITHOUT_CODE

    async def _registration_target(self, message: Message, args: str | None) -> Any:
        """The student that ``/register <args>`` names, after checking the access code (when required); None (and
        the student told why) if the arguments are incomplete or the id/code are wrong."""
        words = (args or "").split()
        if not words or (self.require_code and len(words) < 2) or (not self.require_code and len(words) != 1):
            await message.answer(self._register_usage())
            return None
        student_id = words[0]
        if self.require_code:
            try:  # the code may be typed with spaces ("k7m2 p9xq"): everything after the id is the code
                return await self.core(
                    "authenticate", student_id, "".join(words[1:]), client=f"telegram:{message.from_user.id}"
                )
            except errors.LoginThrottled as exc:
                log.info("telegram user %s: /register refused, too many wrong codes", message.from_user.id)
                await message.answer(msg.throttled(exc.retry_after_seconds))
                return None
            except errors.AccessDenied:
                log.info("telegram user %s: wrong id or code for /register", message.from_user.id)
                await message.answer(msg.TG_WRONG_CODE)
                return None
        student = await self.core("get_student", student_id)
        if student is None:
            await message.answer(msg.TG_UNKNOWN_STUDENT_T.format(student_id=student_id))
        return student

    async def on_register(self, message: Message, command: CommandObject) -> None:
        student = await self._registration_target(message, command.args)
        if student is None:
            return
        student_id = student.student_id
        user_id = message.from_user.id
        current = await self.core("student_by_telegram", user_id)
        if current is not None and current.student_id == student_id:
            await message.answer(msg.TG_ALREADY_REGISTERED_T.format(student_id=student_id))
            return
        if current is not None:
            await message.answer(msg.TG_ACCOUNT_TAKEN_T.format(student_id=current.student_id))
            return
        if student.telegram_user_id is not None and student.telegram_user_id != user_id:
            await message.answer(msg.TG_ID_TAKEN_T.format(student_id=student_id))
            return
        try:
            student = await self.core("link_telegram", student_id, user_id)
        except errors.GradebotError as exc:  # e.g. a concurrent registration won the race
            await message.answer(msg.TG_REGISTER_FAILED_T.format(detail=exc))
            return
        name = f" ({student.name})" if getattr(student, "name", "") else ""
        await message.answer(msg.TG_REGISTERED_T.format(student_id=student_id, name=name))

    async def on_status(self, message: Message) -> None:
        student = await self.core("student_by_telegram", message.from_user.id)
        if student is None:
            await message.answer(msg.TG_NOT_REGISTERED_T.format(hint=self._register_hint()))
            return
        subs = await self.core("list_submissions", student.student_id)
        if not subs:
            await message.answer(msg.TG_NO_SUBMISSIONS)
            return
        lines = [msg.TG_HISTORY_HEAD_T.format(student_id=student.student_id)]
        for sub in sorted(subs, key=lambda s: s.id, reverse=True)[:10]:
            line = msg.TG_HISTORY_LINE_T.format(
                id=sub.id, filename=sub.filename, status=msg.STATUS.get(sub.status, sub.status)
            )
            if sub.result is not None:
                line += msg.TG_HISTORY_POINTS_T.format(
                    points=msg.points(sub.result.total), max=msg.points(sub.result.max)
                )
            lines.append(line)
        await message.answer("\n".join(lines))

    # -- submissions -------------------------------------------------------------------------------
    def _too_large(self, size: int) -> str:
        return msg.too_large(self.max_upload_bytes, size)

    async def on_document(self, message: Message, bot: Bot) -> None:
        doc = message.document
        student = await self.core("student_by_telegram", message.from_user.id)
        if student is None:
            await message.answer(msg.TG_REGISTER_FIRST_T.format(hint=self._register_hint()))
            return
        filename = doc.file_name or "submission.ipynb"
        if not filename.lower().endswith(".ipynb"):
            await message.answer(msg.TG_NOT_IPYNB)
            return
        if doc.file_size is not None and doc.file_size > self.max_upload_bytes:
            await message.answer(self._too_large(doc.file_size))
            return
        buf = io.BytesIO()
        try:
            await bot.download(doc, destination=buf)
        except Exception as exc:  # noqa: BLE001 - network/Bot API failure: tell the student, log details
            log.warning("download of %s failed: %s", doc.file_id, exc)
            await message.answer(msg.TG_DOWNLOAD_FAILED)
            return
        data = buf.getvalue()
        if len(data) > self.max_upload_bytes:
            await message.answer(self._too_large(len(data)))
            return
        try:
            sub = await self.core("submit", student.student_id, filename, data, source="telegram")
        except errors.RateLimited as exc:
            await message.answer(msg.rate_limited(getattr(exc, "retry_after_seconds", None)))
            return
        except errors.DeadlineMissed as exc:
            await message.answer(msg.refusal("deadline_missed", str(exc)))
            return
        except errors.SubmissionRejected as exc:
            await message.answer(msg.refusal("bad_submission", str(exc)))
            return
        except errors.GradebotError as exc:
            await message.answer(msg.refusal("rejected", str(exc)))
            return
        await message.answer(msg.TG_QUEUED_T.format(id=sub.id))
        self._await(sub.id, Awaited(message.chat.id))

    # -- results: every awaited submission polled with one core call -------------------------------
    def _await(self, submission_id: int, awaited: Awaited) -> None:
        """Wait for the submission's result (:meth:`poll_results`). A submission already awaited keeps what it
        was awaited for: regraded again meanwhile, the score the student last saw; regraded before its first
        result reached the student, that result is sent as a plain result."""
        self._awaited.setdefault(submission_id, awaited)

    async def _poll_loop(self, bot: Bot, after: int | None) -> None:
        """Every ``poll_seconds`` until the bot stops: the regrade log after the request with id ``after``
        (:meth:`read_regrade_log`; None: regrades are not followed), then the awaited submissions
        (:meth:`poll_results`)."""
        while True:
            if after is not None:
                try:
                    after = await self.read_regrade_log(after)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a transient store error: try again at the next poll
                    log.exception("reading the regrade log failed")
            try:
                await self.poll_results(bot)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a transient store error: try again at the next poll
                log.exception("polling the awaited submissions failed")
            await asyncio.sleep(self.poll_seconds)

    async def poll_results(self, bot: Bot) -> None:
        """One poll: every awaited submission read in one core call (``get_submissions``, however many there
        are); each graded one is no longer awaited and its student is told (:meth:`deliver`, a task of its own, so
        a slow Bot API does not hold up the next poll)."""
        if not self._awaited:
            return
        ids = list(self._awaited)  # more may be awaited while the core reads these
        subs = await self.core("get_submissions", ids)
        for submission_id in [i for i in ids if i not in subs]:
            log.warning("submission %s is not in the store any more: its result is not awaited", submission_id)
            del self._awaited[submission_id]
        finished = [sub for sub in subs.values() if sub.status in FINAL_STATUSES and sub.id in self._awaited]
        if not finished:
            return
        facts = await course_facts_of(self.core)
        for sub in finished:
            self._spawn(self.deliver(bot, sub, self._awaited.pop(sub.id), facts))

    async def deliver(self, bot: Bot, sub: Any, awaited: Awaited, facts: Any = None) -> None:
        """Tell the student about a graded submission: its result; for a regrade, the score before and after and
        the new result, or nothing if the score stayed as it was."""
        try:
            if not awaited.regrade:
                text = format_result(sub, facts)
            elif score_of(sub.status, sub.result) == awaited.before:
                log.info("regrade of submission %s left its score as it was: not announced", sub.id)
                return
            else:
                text = format_regrade(sub, awaited.before, facts)
            await self._send_result(bot, awaited.chat_id, sub, text)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - e.g. the Bot API refused the message; nothing else to tell
            log.exception("could not deliver the result of submission %s to chat %s", sub.id, awaited.chat_id)

    async def _send_result(self, bot: Bot, chat_id: int, sub: Any, text: str) -> None:
        """``text`` (the result message), then the feedback page as a document if the submission was graded."""
        submission_id = sub.id
        await bot.send_message(chat_id, text)
        if sub.status == "done":
            html = await self.core("feedback_html", submission_id)
            if html:
                await bot.send_document(
                    chat_id,
                    BufferedInputFile(html.encode("utf-8"), filename=f"feedback_{submission_id}.html"),
                    caption=msg.FEEDBACK_CAPTION_T.format(id=submission_id),
                )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task:
        """Run ``coro`` as a background task that ``shutdown`` cancels (kept in ``_tasks`` until it ends)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- regrades ----------------------------------------------------------------------------------
    async def read_regrade_log(self, after: int) -> int:
        """One read of the regrade log after the request with id ``after``: each new regrade of a linked
        student's submission is awaited (announced by :meth:`poll_results`). Returns the id to read after next."""
        rows = await self.core("regrades_after", after)
        if not rows:
            return after
        chats = {st.student_id: st.telegram_user_id for st in await self.core("list_students")}
        for row in rows:
            chat_id = chats.get(row["student_id"])
            if chat_id is not None:
                before = score_of(row["status"], row["result"])
                self._await(row["submission_id"], Awaited(chat_id, regrade=True, before=before))
        return rows[-1]["id"]

    async def resume(self, bot: Bot) -> None:
        """On startup: start the poll loop (:meth:`_poll_loop`: the regrade log from its current end, the awaited
        submissions), then await again the Telegram submissions still queued/grading (e.g. after a bot restart),
        so their results still reach the students; a pending regrade of a linked student's submission is awaited
        as a regrade."""
        try:
            after = await self.core("last_regrade")
        except AttributeError:  # a core without regrades
            after = None
        except Exception:  # noqa: BLE001 - resuming is best effort; the bot itself must start
            log.exception("could not read the regrade log; regrades are not announced")
            after = None
        self._spawn(self._poll_loop(bot, after))
        try:
            students = await self.core("list_students")
        except Exception:  # noqa: BLE001 - resuming is best effort; the bot itself must start
            log.exception("could not list students to resume result notifications")
            students = []
        resumed = 0
        for student in students:
            if student.telegram_user_id is None:
                continue
            for sub in await self.core("list_submissions", student.student_id):
                if sub.status in FINAL_STATUSES:
                    continue
                history = await self.core("regrade_history", sub.id) if after else []
                if history:
                    before = score_of(history[-1]["status"], history[-1]["result"])
                    self._await(sub.id, Awaited(student.telegram_user_id, regrade=True, before=before))
                    resumed += 1
                elif getattr(sub, "source", "telegram") == "telegram":
                    self._await(sub.id, Awaited(student.telegram_user_id))
                    resumed += 1
        if resumed:
            log.info("resumed result notifications for %d pending submission(s)", resumed)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.core.close()


def build_bot(config: Any) -> Bot:
    """An aiogram Bot for ``config.telegram_token``, talking to ``config.telegram_api_base`` if set."""
    token = getattr(config, "telegram_token", None)
    if not token:
        raise SystemExit("gradebot telegram: no bot token; set GRADEBOT_TELEGRAM_TOKEN (from @BotFather)")
    base = getattr(config, "telegram_api_base", None)
    session = AiohttpSession(api=TelegramAPIServer.from_base(base)) if base else AiohttpSession()
    return Bot(token=token, session=session)


def build_dispatcher(svc: Any, config: Any, poll_seconds: float = DEFAULT_POLL_SECONDS) -> Dispatcher:
    """A Dispatcher with the gradebot router; its shutdown stops the poll loop and the deliveries in flight."""
    fe = TelegramFrontend(svc, config, poll_seconds=poll_seconds)
    dp = Dispatcher()
    dp.include_router(fe.router)
    dp.startup.register(fe.resume)
    dp.shutdown.register(fe.shutdown)
    dp["gradebot_frontend"] = fe
    return dp


async def run(
    svc: Any,
    config: Any,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    polling_timeout: int = 30,
    handle_signals: bool = True,
) -> None:
    """Long-poll the Bot API until stopped (SIGINT/SIGTERM or ``Dispatcher.stop_polling``)."""
    bot = build_bot(config)
    dp = build_dispatcher(svc, config, poll_seconds=poll_seconds)
    await dp.start_polling(bot, polling_timeout=polling_timeout, handle_signals=handle_signals)


def main(argv: list[str] | None = None, config: Any = None) -> int:
    """Start the core's workers and run the bot until interrupted."""
    from gradebot.config import Config
    from gradebot.core.service import GradingService

    if argv is not None and not isinstance(argv, (list, tuple)):  # called as main(config)
        config = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config or Config.from_env()
    bot_check = build_bot(config)  # fail fast on a missing token, before starting workers
    asyncio.run(bot_check.session.close())
    svc = GradingService(config)
    svc.start()
    try:
        asyncio.run(run(svc, config))
    finally:
        svc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
