"""Exceptions of the gradebot core. Every one carries a human-readable message (``str(exc)``)."""

from __future__ import annotations


class GradebotError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigError(GradebotError):
    """The configuration is invalid (the message names the setting and what to do)."""


class RegistrationError(GradebotError):
    """Linking a Telegram account failed (unknown id, id linked elsewhere, account already linked)."""


class UnknownStudent(GradebotError):
    """The student id is not in the roster."""

    def __init__(self, student_id: str, message: str | None = None):
        self.student_id = student_id
        super().__init__(message or f"unknown student id {student_id!r}: ask the instructor to add you to the roster")


class SubmissionRejected(GradebotError):
    """The upload is not acceptable (too large, not a notebook, ...). ``reason`` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class RateLimited(GradebotError):
    """Too many submissions; try again after ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: float, message: str | None = None):
        self.retry_after_seconds = float(retry_after_seconds)
        super().__init__(message or f"too many submissions: try again in {int(retry_after_seconds + 0.999)} s")


class DeadlineMissed(GradebotError):
    """The deadline has passed and the late policy is ``reject``."""


class AccessDenied(GradebotError):
    """The student id is unknown or the access code is wrong (one error for both, so ids cannot be probed)."""

    def __init__(self, message: str | None = None):
        super().__init__(
            message or "wrong student id or access code: each student gets their own access code from the instructor"
        )


class LoginThrottled(GradebotError):
    """Too many wrong access codes for this student id or from this client: every code, the right one too, is
    refused for ``retry_after_seconds`` (see :mod:`gradebot.core.access`)."""

    def __init__(self, retry_after_seconds: float):
        self.retry_after_seconds = float(retry_after_seconds)
        minutes = max(1, -(-int(self.retry_after_seconds + 0.999) // 60))
        super().__init__(
            f"too many wrong access codes: try again in {minutes} min (until then even the right code is refused)"
        )


class UnknownSubmission(GradebotError):
    """No submission with this id."""


class SandboxUnavailable(GradebotError):
    """The sandbox cannot start; grading fails closed (no student code runs unsandboxed)."""


class CourseError(GradebotError):
    """The nbgrader course is missing or broken (no config, no source notebook, generate_assignment failed)."""
