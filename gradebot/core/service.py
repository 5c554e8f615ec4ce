"""GradingService: the one interface every front end uses (docs/gradebot_core_api.md)."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot.backends import load_backend
from gradebot.config import Config
from gradebot.core import access, classbook, deadlines, gradebook, notes
from gradebot.core.errors import (
    AccessDenied,
    DeadlineMissed,
    GradebotError,
    LoginThrottled,
    RateLimited,
    SubmissionRejected,
    UnknownStudent,
    UnknownSubmission,
)
from gradebot.core.grading import grade_notebook, invalid, validate_notebook
from gradebot.core.models import Result, Student, Submission

if TYPE_CHECKING:
    from gradebot.core.course import CourseFacts

log = logging.getLogger("gradebot.service")
STUDENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SOURCES = ("cli", "web", "telegram")
CODES_CSV_FIELDS = ("student_id", "name", "group", "code")


@dataclass(frozen=True)
class IssuedCode:
    """A freshly issued access code: shown to the instructor this once (the store keeps only its hash)."""

    student_id: str
    name: str
    group: str
    code: str = field(repr=False)


@dataclass
class RosterImport:
    """What :meth:`GradingService.import_roster` did: ``count`` rows imported, and the codes it issued (students
    without a code: new ones, and existing ones that had none; codes given in the CSV are not repeated)."""

    count: int
    issued: list[IssuedCode]


def codes_csv(issued: list[IssuedCode]) -> str:
    """``student_id,name,group,code`` CSV of issued codes (to hand out)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CODES_CSV_FIELDS)
    for ic in issued:
        writer.writerow((ic.student_id, ic.name, ic.group, ic.code))
    return out.getvalue()


class GradingService:
    """Opens the store on construction; :meth:`start` starts the backend's workers.

    ``clock``: the current time as an aware UTC datetime. It is the store's (:meth:`Store.now`, the database's
    clock), so every front (web, Telegram, CLI, on any machine) stamps, throttles and decides lateness alike; tests
    inject another to simulate time (the throttle on wrong access codes, the rate limit, deadlines)."""

    def __init__(self, config: Config | None = None, clock: Callable[[], datetime] | None = None):
        self.config = config or Config.from_env()
        self.config.validate()
        self.backend = load_backend(self.config)
        self.store = self.backend.open_store()
        self.clock: Callable[[], datetime] = clock or self.store.now
        self._submit_lock = threading.Lock()
        self._verified = access.VerifiedCodes()  # codes checked in this process: a polling client hashes once

    def now(self) -> datetime:
        """The current time by :attr:`clock` (the database's unless a test injected another): what a front compares
        its own time stamps with (e.g. the instructor session's expiry)."""
        return self.clock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the workers and resume every queued/interrupted submission."""
        self.backend.start()

    def stop(self) -> None:
        self.backend.stop()

    def __enter__(self) -> "GradingService":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ roster
    def import_roster(self, csv_text_or_path: str | Path) -> RosterImport:
        """Import ``student_id,name,group[,code]`` rows (header required); existing students are updated (their
        Telegram link is kept). A non-empty ``code`` sets the student's access code; every other student without a
        code (a new one, or one from before codes) is issued a fresh one, returned in ``issued`` - the only time
        it can be read: the store keeps hashes only. An existing student's code is kept."""
        text = _read_text_or_path(csv_text_or_path)
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "student_id" not in fields:
            raise GradebotError(
                f"roster CSV needs a header with columns student_id,name,group (found: {reader.fieldnames})"
            )
        rows, seen = [], set()
        for lineno, row in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            sid = row.get("student_id", "")
            if not sid and not any(row.values()):
                continue
            if not STUDENT_ID_RE.match(sid):
                raise GradebotError(
                    f"roster line {lineno}: student_id {sid!r} must be 1-64 letters, digits, '_', '.' or '-'"
                )
            if sid in seen:
                raise GradebotError(f"roster line {lineno}: student_id {sid!r} appears twice")
            seen.add(sid)
            rows.append((sid, row.get("name", ""), row.get("group", ""), _roster_code(row.get("code", ""), lineno)))
        has_code = {st.student_id for st in self.store.list_students() if st.code_hash}
        students, issued = [], []
        if rows:
            log.info("roster: hashing the access codes of up to %d student(s) (about 0.1 s each)", len(rows))
        for sid, name, group, code in rows:
            if code is None and sid not in has_code:
                code = access.new_code()
                issued.append(IssuedCode(sid, name, group, code))
            students.append(
                Student(
                    student_id=sid,
                    name=name,
                    group=group,
                    code_hash=access.hash_code(code) if code is not None else None,
                )
            )
        count = self.store.upsert_students(students)
        return RosterImport(count=count, issued=issued)

    def reissue_code(self, student_id: str) -> str:
        """Give the student a fresh access code and return it (shown this once). The old code stops working at
        once, and so do the web cookies signed for it; the student's wrong-code count is cleared. UnknownStudent
        if the id is not in the roster."""
        sid = str(student_id or "").strip()
        if self.store.get_student(sid) is None:
            raise UnknownStudent(
                sid,
                f"no student with id {sid!r} in the roster: check the id, or add the student "
                "with a roster import (which issues their code)",
            )
        code = access.new_code()
        self.store.set_code_hash(sid, access.hash_code(code))
        self.store.clear_login_failures([access.student_key(sid)])
        log.info("access code of student %s re-issued", sid)
        return code

    def issue_missing_codes(self) -> list[IssuedCode]:
        """A fresh code for every student who has none (e.g. from a database from before codes)."""
        return [
            IssuedCode(st.student_id, st.name, st.group, self.reissue_code(st.student_id))
            for st in self.store.list_students()
            if not st.code_hash
        ]

    def authenticate(self, student_id: str, code: str | None, client: str | None = None) -> Student:
        """The student whose id and access code these are; AccessDenied if the id is unknown or the code wrong
        (the same error for both, so ids cannot be probed). Case, spaces and dashes in the code do not matter.

        Wrong codes are throttled per student id and per ``client`` (``web:<address>``, ``telegram:<user id>``;
        config ``login_*``): LoginThrottled (with the seconds to wait) when the id or the client is locked - even
        for the right code - or when this wrong code starts a lock. A right code clears the id's count (not the
        client's: one's own code must not buy more guesses at others)."""
        sid = str(student_id or "").strip()
        student_rule, client_rule = self.config.login_rules()
        keys = {}
        if sid and student_rule.enabled:
            keys[access.student_key(sid)] = student_rule
        if client and client_rule.enabled:
            keys[access.client_key(client)] = client_rule
        now = self.clock() if keys else None  # no throttle: no time needed
        if keys:
            wait = self.store.login_lock(list(keys), now)
            if wait > 0:
                raise LoginThrottled(wait)
        student = self.store.get_student(sid) if sid else None
        # check even for an unknown id (against a dummy hash), so the answer takes as long either way; a code this
        # process verified for the same stored hash is not hashed again
        if not self._verified.verify(sid, student.code_hash if student is not None else None, code) or student is None:
            if keys:
                wait = self.store.record_login_failure(keys, now)
                if wait > 0:
                    raise LoginThrottled(wait)
            raise AccessDenied()
        if student_rule.enabled:
            self.store.clear_login_failures([access.student_key(sid)])
        return student

    def get_student(self, student_id: str) -> Student | None:
        return self.store.get_student(student_id)

    def list_students(self) -> list[Student]:
        return self.store.list_students()

    def link_telegram(self, student_id: str, telegram_user_id: int) -> Student:
        return self.store.link_telegram(student_id.strip(), int(telegram_user_id))

    def student_by_telegram(self, telegram_user_id: int) -> Student | None:
        return self.store.student_by_telegram(int(telegram_user_id))

    # ------------------------------------------------------------------ submissions
    def submit(self, student_id: str, filename: str, data: bytes, source: str = "cli") -> Submission:
        """Validate, apply deadline and rate limit, store durably, enqueue. See the API doc for errors."""
        if source not in SOURCES:
            raise GradebotError(f"source={source!r}: use one of {SOURCES}")
        if self.store.get_student(student_id) is None:
            raise UnknownStudent(student_id)
        limit = self.config.max_upload_bytes
        if len(data) > limit:
            raise SubmissionRejected(
                notes.make("too_large", size=f"{len(data) / 2**20:.1f}", limit=f"{limit / 2**20:.1f}")
            )
        if not str(filename).lower().endswith(".ipynb"):
            raise SubmissionRejected(notes.make("not_ipynb", filename=repr(filename)))
        try:
            validate_notebook(data)
        except ValueError as exc:
            raise SubmissionRejected(str(exc)) from None
        rule = self.config.rate_limit_rule()
        # Under a rate limit one submit at a time: in this process (threads) and across the fronts' processes and
        # machines (the store's named lock), so two fronts cannot both take a student's last slot.
        everywhere = self.store.lock("submit") if rule is not None else contextlib.nullcontext()
        with self._submit_lock, everywhere:
            now = self.clock()  # the database's: created_at (in id order), the lateness and the rate-limit window
            deadline = self.deadline_for(student_id)  # the course's, or the student's own (an extension)
            late = deadlines.is_late(now, deadline)
            if late and self.config.late_policy == "reject":
                raise DeadlineMissed(notes.make("deadline_passed", deadline=deadline.isoformat()))
            if rule is not None:
                n, window = rule
                recent = self.store.submission_times_since(student_id, now - timedelta(seconds=window))
                if len(recent) >= n:
                    retry = (recent[-n] + timedelta(seconds=window) - now).total_seconds()
                    raise RateLimited(
                        max(1.0, retry),
                        f"at most {n} submissions per {window / 60:g} min: try again in {int(max(1.0, retry)) + 1} s",
                    )
            path, sha = self.backend.write_blob(data)  # fsync'd file
            sub = self.store.add_submission(
                student_id, Path(str(filename)).name[:200], path, sha, len(data), source, late, now
            )  # committed row
        self.backend.enqueue(sub.id)
        log.info(
            "submission %s from %s (%s, %d bytes) queued%s",
            sub.id,
            student_id,
            source,
            len(data),
            " (late)" if late else "",
        )
        return sub

    def get_submission(self, submission_id: int) -> Submission:
        sub = self.store.get_submission(int(submission_id))
        if sub is None:
            raise UnknownSubmission(f"no submission #{submission_id}")
        return sub

    def get_submissions(self, submission_ids: list[int]) -> dict[int, Submission]:
        """{id: submission} of the ids that exist (unknown ones are left out), in one store read: the Telegram
        front end polls every result it waits for with one call."""
        return self.store.get_submissions([int(i) for i in submission_ids])

    def wait(self, submission_id: int, timeout: float | None = None) -> Submission:
        """Block until the submission is done/failed or ``timeout`` seconds passed; returns its latest state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.1
        while True:
            sub = self.get_submission(submission_id)
            if sub.status in ("done", "failed"):
                return sub
            if deadline is not None and time.monotonic() >= deadline:
                return sub
            time.sleep(delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 1.0)

    def list_submissions(self, student_id: str) -> list[Submission]:
        return self.store.list_submissions(student_id)

    def submission_quota(self, student_id: str, now: datetime | None = None) -> dict:
        """What the student may still do: ``{"deadline": datetime|None, "deadline_passed": bool, "late_policy",
        "late_penalty": fraction|None, "counting", "limit": N|None, "window_minutes": M|None, "used": n in the
        current window, "left": N - n (None without a limit), "next_at": when the next slot frees up (datetime, only
        when none is left)}``. The same rule as :meth:`submit` applies (a sliding window of M minutes); the deadline
        is the student's own when the instructor extended it."""
        now = now or self.clock()
        deadline = self.deadline_for(student_id)
        quota = {
            "deadline": deadline,
            "deadline_passed": deadlines.is_late(now, deadline),
            "late_policy": self.config.late_policy,
            "late_penalty": self.config.late_penalty(),
            "counting": self.config.counting,
            "limit": None,
            "window_minutes": None,
            "used": 0,
            "left": None,
            "next_at": None,
        }
        rule = self.config.rate_limit_rule()
        if rule is not None:
            n, window = rule
            recent = self.store.submission_times_since(student_id, now - timedelta(seconds=window))
            quota.update(limit=n, window_minutes=window / 60, used=len(recent), left=max(0, n - len(recent)))
            if len(recent) >= n:
                quota["next_at"] = recent[-n] + timedelta(seconds=window)
        return quota

    def course_facts(self) -> CourseFacts:
        """:class:`~gradebot.core.course.CourseFacts` of the course's source notebook (task titles and test names
        for messages; re-read when the notebook changes)."""
        from gradebot.core.course import course_facts

        path = Path(self.config.source_notebook)
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        cached = getattr(self, "_facts_cache", None)
        if cached is None or cached[0] != stamp:
            cached = self._facts_cache = (stamp, course_facts(path))
        return cached[1]

    def feedback_html(self, submission_id: int) -> str | None:
        self.get_submission(submission_id)
        return self.store.feedback_html(int(submission_id))

    def queue_length(self) -> int:
        return self.backend.queue_length()

    # ------------------------------------------------------------------ grades
    def grades(self) -> list[dict]:
        """One row per roster student: the counted attempt (``config.counting``) or None values."""
        by_student: dict[str, list[Submission]] = {}
        for s in self.store.list_submissions():
            by_student.setdefault(s.student_id, []).append(s)
        rows = []
        for st in self.store.list_students():
            subs = by_student.get(st.student_id, [])
            c = gradebook.counted(subs, self.config.counting)
            rows.append(
                {
                    "student_id": st.student_id,
                    "name": st.name,
                    "group": st.group,
                    "attempts": len(subs),
                    "submission_id": c.id if c else None,
                    "total": c.result.total if c else None,
                    "max": c.result.max if c else None,
                    "tasks": c.result.to_json()["tasks"] if c else {},
                    "verdict": c.result.verdict if c else None,
                    "late": c.late if c else None,
                    "submitted_at": c.created_at.isoformat() if c else None,
                }
            )
        return rows

    def export_grades_csv(self, path: str | Path) -> Path:
        """``nbgrader export`` of the course's main gradebook (every counted attempt is recorded there)."""
        return gradebook.export_grades_csv(self.config, path)

    # ------------------------------------------------------------------ instructor (gradebot/frontends/cockpit.py)
    def deadline_for(self, student_id: str) -> datetime | None:
        """The deadline that applies to the student: their own (an extension the instructor set) or the course's."""
        return deadlines.deadline_of(self.store.extension(student_id), self.config.deadline_dt())

    def set_extension(self, student_id: str, deadline: datetime | None) -> None:
        """Give the student their own deadline (aware datetime; None removes it). Submissions from then on are late
        only after it; a regrade recomputes the late flag of earlier ones."""
        if deadline is not None and deadline.tzinfo is None:
            raise GradebotError(f"deadline {deadline.isoformat()} has no time zone: give one (e.g. +03:00)")
        self.store.set_extension(student_id, deadline.astimezone(timezone.utc) if deadline is not None else None)

    def extensions(self) -> dict[str, datetime]:
        return self.store.extensions()

    def regrade(
        self, *, submission_id: int | None = None, student_id: str | None = None, everything: bool = False
    ) -> dict:
        """Grade finished submissions again with the course as it is now (after a test fix): one submission, all
        of a student's, or ``everything``. Each one's result is moved to the regrade history and it goes back to the
        queue; the workers grade it through the usual job, and the counted attempt and the gradebook follow the new
        result. The late flag is recomputed with the student's deadline now in force. Returns ``{"batch", "total",
        "skipped"}``: the batch id for :meth:`regrade_progress`, how many were requeued, and how many were not
        (still queued or being graded)."""
        if sum((submission_id is not None, student_id is not None, bool(everything))) != 1:
            raise GradebotError("regrade: give exactly one of submission_id, student_id, everything=True")
        if submission_id is not None:
            subs, scope = [self.get_submission(submission_id)], f"submission:{int(submission_id)}"
        elif student_id is not None:
            if self.store.get_student(student_id) is None:
                raise UnknownStudent(student_id)
            subs, scope = self.store.list_submissions(student_id), f"student:{student_id}"
        else:
            subs, scope = self.store.list_submissions(), "all"
        finished = [s for s in subs if s.status in ("done", "failed")]
        course_deadline, own = self.config.deadline_dt(), self.store.extensions()  # one read for the whole batch
        late = [
            (s.id, deadlines.is_late(s.created_at, deadlines.deadline_of(own.get(s.student_id), course_deadline)))
            for s in finished
        ]
        batch = uuid.uuid4().hex
        ids = self.store.requeue_for_regrade(late, batch, scope)
        self.backend.enqueue_many(ids)
        log.info("regrade %s (%s): %d submission(s) queued, %d skipped", batch, scope, len(ids), len(subs) - len(ids))
        return {"batch": batch, "total": len(ids), "skipped": len(subs) - len(ids)}

    def revoke_session(self, nonce: str, expires_at: datetime) -> None:
        """End the instructor session ``nonce`` in every process that uses this store (a logout)."""
        self.store.revoke_session(nonce, expires_at)

    def session_revoked(self, nonce: str) -> bool:
        """Whether the instructor session ``nonce`` was ended by a logout (in any process)."""
        return self.store.session_revoked(nonce)

    def regrade_progress(self, batch: str) -> dict:
        """How far a regrade batch is: ``{"total", "queued", "grading", "done", "failed", "scope", ...}``."""
        return self.store.regrade_progress(batch)

    def regrade_history(self, submission_id: int) -> list[dict]:
        """The results a submission had before each of its regrades, oldest first."""
        self.get_submission(submission_id)
        return self.store.regrade_history(int(submission_id))

    def regrades_after(self, after: int) -> list[dict]:
        """Regrade requests after the one with id ``after``, oldest first (at most 1000 a call): ``{"id",
        "submission_id", "student_id", "status", "result"}`` with what the submission had before. The Telegram
        front end follows them to tell students whose score a regrade changed."""
        return self.store.regrades_after(int(after))

    def last_regrade(self) -> int:
        """The id of the latest regrade request (0 if none): the starting point of :meth:`regrades_after`."""
        return self.store.last_regrade()

    def submission_notebook(self, submission_id: int) -> tuple[str, bytes]:
        """(file name, bytes) of the notebook a student submitted."""
        sub = self.get_submission(submission_id)
        return sub.filename, self.backend.read_blob(self.store.blob_path(sub.id))

    def class_table(self, student_id: str | None = None) -> classbook.ClassTable:
        """Every roster student (or only ``student_id``; UnknownStudent if not in the roster) with their submissions,
        best/latest score and the counted attempt's points."""
        try:
            facts = self.course_facts()
        except GradebotError:
            facts = None
        if student_id is None:
            students, subs = self.store.list_students(), self.store.list_submissions()
        else:
            student = self.store.get_student(student_id)
            if student is None:
                raise UnknownStudent(student_id)
            students, subs = [student], self.store.list_submissions(student_id)
        return classbook.build(students, subs, self.store.extensions(), self.store.regrade_counts(), self.config, facts)


def _roster_code(value: str, lineno: int) -> str | None:
    """The ``code`` cell of a roster row: None when empty (keep/generate), else the checked code."""
    if not value:
        return None
    try:
        return access.check_format(value)
    except ValueError as exc:
        raise GradebotError(f"roster line {lineno}: {exc}") from None


def _read_text_or_path(v: str | Path) -> str:
    if isinstance(v, Path):
        return v.read_text(encoding="utf-8")
    if "\n" not in v and "," not in v and Path(v).is_file():
        return Path(v).read_text(encoding="utf-8")
    if "\n" not in v and Path(v).suffix.lower() == ".csv":
        if not Path(v).is_file():
            raise GradebotError(f"roster file {v!r} not found")
        return Path(v).read_text(encoding="utf-8")
    return v


def grade_notebook_file(path: str | Path, config: Config | None = None) -> Result:
    """Grade one notebook file synchronously (no store, no queue): the CLI's ``grade``."""
    from gradebot.core.course import course_build, load_build_facts
    from gradebot.core.sandbox import acquire_slot, release_slot

    config = config or Config.from_env()
    p = Path(path)
    if not p.is_file():
        raise GradebotError(f"{p} does not exist")
    size = p.stat().st_size
    if size > config.max_upload_bytes:
        facts = load_build_facts(course_build(config))
        return invalid(
            facts.tasks,
            notes.make("too_large", size=f"{size / 2**20:.1f}", limit=f"{config.max_upload_bytes / 2**20:.1f}"),
        )
    slot = acquire_slot()
    try:
        return grade_notebook(p.read_bytes(), config, slot=slot).result
    finally:
        release_slot(slot)
