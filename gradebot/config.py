"""Configuration of gradebot: one dataclass, :class:`Config`.

Sources, later ones win: the defaults below < a TOML file (path in ``GRADEBOT_CONFIG``, keys = field names) <
environment variables ``GRADEBOT_<FIELD>`` (upper case) < keyword arguments of :meth:`Config.from_env`.

Example TOML::

    course_root = "/srv/numnet"
    deadline = "2026-12-20T23:59:00+03:00"
    late_policy = "penalty:0.2"      # accept | reject | penalty:<fraction>
    counting = "latest"              # latest | best
    rate_limit = "5/60"              # at most 5 submissions per student per 60 minutes
    workers = 2
    require_code = true              # web/Telegram ask for the student's access code (false: trials only)
    login_attempts = 5               # wrong codes per student id before a lock (then 1, 2, 4, ... min, at most 60)
    trusted_proxies = "127.0.0.1"    # the web server is behind this reverse proxy: trust its X-Forwarded-For
    web_url = "https://bot.example.org/numnet/"   # public facts, shown to students (not used for serving)
    instructor_password = "pbkdf2_sha256$..."     # the /instructor area (or env GRADEBOT_INSTRUCTOR_PASSWORD)
    telegram_bot = "numnet_grader_bot"

The course's own file is ``gradebot.course.toml`` at the repository root (``make serve`` / ``make telegram`` use it);
``python -m coursekit.build`` writes its public facts into the notebook (docs/course.md, "Как сдать"). Its
``[kernel]`` table is not a setting: it says what the course's kernel needs (``gradebot.core.kernel_needs``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradebot.core.errors import ConfigError

if TYPE_CHECKING:
    from gradebot.core.access import ThrottleRule

GiB = 1024**3
MiB = 1024**2


def _default_course_root() -> str:
    # the repository root (the nbgrader course lives there): gradebot/ is one level below it
    return str(Path(__file__).resolve().parent.parent)


@dataclass
class Config:
    """All settings of the bot. Paths are strings; see the module docstring for how they are loaded."""

    data_dir: str = "./var/gradebot"  # store: SQLite database + submitted files
    course_root: str = dataclasses.field(default_factory=_default_course_root)  # has nbgrader_config.py
    assignment: str = "numnet"
    notebook: str = "numnet.ipynb"
    gradebook_url: str | None = None  # the course's main gradebook; None = sqlite:///<course_root>/gradebook.db
    backend: str = "embedded"  # queue backend name (see gradebot.backends)
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    deadline: str | None = None  # ISO datetime; naive = UTC
    late_policy: str = "accept"  # accept | reject | penalty:<fraction>
    counting: str = "latest"  # latest | best
    rate_limit: str | None = None  # "N/M": at most N submissions per student per M minutes
    max_upload_bytes: int = 5 * MiB
    sandbox: str = "bwrap"  # bwrap | none (instructor opt-out, logged loudly)
    # limits for one grading job
    cpu_seconds: int = 900  # RLIMIT_CPU of each process in the sandbox
    wall_seconds: int = 1200  # whole job (nbgrader autograde + kernel), wall clock
    cell_timeout: int | None = None  # nbgrader's per-cell timeout (Execute.timeout), s; None = course's
    memory_bytes: int = 4 * GiB  # RLIMIT_AS of each sandboxed process (jax needs >= 2 GiB)
    max_processes: int = 128  # RLIMIT_NPROC of the sandbox user
    max_output_bytes: int = 1 * MiB  # cell outputs kept per notebook; the rest is dropped
    max_file_bytes: int = 256 * MiB  # RLIMIT_FSIZE: largest file student code may write in scratch
    sandbox_uid_base: int = 61000  # sandbox user ids (when the service runs as root): base + slot
    lease_seconds: int = 30  # embedded queue: a claimed job is re-delivered if not renewed
    max_deliveries: int = 3  # a job that kills its worker this many times is marked failed
    work_dir: str | None = None  # where per-job temporary course copies go (None = system tmp)
    build_dir: str | None = None  # course build templates (None = <data_dir>/builds)
    kernel_threads: int = 1  # OMP/OPENBLAS threads in the kernel (workers already use the cores)
    # distributed backend (backend = "celery": gradebot/backends/celery_backend.py, docs/gradebot_scale.md)
    broker_url: str | None = None  # redis://host:port/db (Celery broker)
    db_url: str | None = None  # postgresql://...: store, notebook bytes, results, gradebook
    visibility_timeout: int | None = None  # s a job may run before Redis redelivers it (None: wall_seconds + 600)
    claim_lease: int | None = None  # s without a heartbeat before another worker takes a claim over
    sweep_interval: int | None = None  # s between re-publishing jobs the broker lost
    unacked_restore_interval: int | None = None
    queue: str | None = None  # Celery queue name (None: "gradebot")

    # front ends
    # require_code: the web page/API need the student's access code to submit and to read results, and Telegram's
    # /register needs it. False = anyone who knows a student id may act as that student (trials on a closed
    # network only).
    require_code: bool = True
    # throttling of wrong access codes (gradebot.core.access): after login_attempts wrong codes for one student id,
    # or login_client_attempts from one client (a web address - an IPv6 address counts by its /64 - or a Telegram
    # account), every code from it is refused for login_lock_minutes, doubled with each further wrong code up to
    # login_max_lock_minutes; wrong codes are forgotten after login_window_minutes without one. The client limit is
    # higher because a class may share one address (NAT). login_attempts = 0 turns throttling off.
    login_attempts: int = 5
    login_client_attempts: int = 20
    login_window_minutes: float = 15.0
    login_lock_minutes: float = 1.0
    login_max_lock_minutes: float = 60.0
    # addresses/networks of reverse proxies in front of the web server (comma-separated, e.g. "127.0.0.1,
    # 10.0.0.0/8"): a request from one of them is attributed to the address it names in X-Forwarded-For. Unset: the
    # peer address is the client (a header sent by anyone else is ignored).
    trusted_proxies: str | None = None
    # key of the web page's student cookie (HMAC); None = a random key kept in <data_dir>/web_secret. Give every
    # web front end of one course the same value when several serve it behind one address.
    web_secret: str | None = None
    # the instructor area of the web front end (/instructor, gradebot/frontends/cockpit.py): its password, as typed
    # or as a hash made by `python -m gradebot.frontends.cockpit hash-password` (pbkdf2_sha256$...). None = the area
    # is disabled. Never a student's access code.
    instructor_password: str | None = None
    telegram_token: str | None = None
    telegram_api_base: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    # public facts for students (coursekit.build writes them into the notebook's "Как сдать" and the release README)
    web_url: str | None = None  # the web page's address as students open it, https://...
    telegram_bot: str | None = None  # the Telegram bot's username (with or without the leading @)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Config":
        """Defaults < TOML file ``$GRADEBOT_CONFIG`` < ``GRADEBOT_*`` env vars < ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = env.get("GRADEBOT_CONFIG")
        if path:
            try:
                with open(path, "rb") as f:
                    values.update(tomllib.load(f))
                # the course's declaration of what its kernel needs, read from the course root by
                # gradebot.core.kernel_needs (not a setting of the bot)
                values.pop("kernel", None)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read GRADEBOT_CONFIG={path!r}: {exc}") from exc
        for f in dataclasses.fields(cls):
            key = "GRADEBOT_" + f.name.upper()
            if key in env:
                values[f.name] = env[key]
        values.update({k: v for k, v in overrides.items()})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown gradebot setting(s): {sorted(unknown)}; see gradebot/config.py")
        return cls.make(**values)

    @classmethod
    def make(cls, **values: Any) -> "Config":
        """Build from (possibly string) values, converting types and validating."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            v = values[f.name]
            kwargs[f.name] = _convert(f.name, f.type, v)
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.counting not in ("latest", "best"):
            raise ConfigError(f"counting={self.counting!r}: use 'latest' or 'best'")
        self.late_penalty()  # raises on a bad late_policy
        self.deadline_dt()
        self.rate_limit_rule()
        if self.sandbox not in ("bwrap", "none"):
            raise ConfigError(f"sandbox={self.sandbox!r}: use 'bwrap' (default) or 'none' (explicit opt-out)")
        if self.workers < 1:
            raise ConfigError(f"workers={self.workers}: need at least 1")
        if self.memory_bytes < 256 * MiB:
            raise ConfigError(f"memory_bytes={self.memory_bytes} is too small to start a kernel (>= 256 MiB)")
        if not isinstance(self.require_code, bool):
            raise ConfigError(f"require_code={self.require_code!r}: use true or false")
        if self.web_url is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.web_url):
            raise ConfigError(f"web_url={self.web_url!r}: use the page's full address, e.g. https://bot.example.org/")
        if self.telegram_bot is not None and not re.fullmatch(
            r"@?[A-Za-z][A-Za-z0-9_]{3,30}[Bb][Oo][Tt]", self.telegram_bot
        ):
            raise ConfigError(
                f"telegram_bot={self.telegram_bot!r}: use the bot's username (5-32 letters, digits, "
                "_; it ends in 'bot'), e.g. numnet_grader_bot"
            )
        if (
            self.instructor_password is not None
            and not self.instructor_password.startswith("pbkdf2_sha256$")
            and len(self.instructor_password) < 10
        ):
            raise ConfigError(
                "instructor_password is too short: use at least 10 characters, or a hash made by "
                "`python -m gradebot.frontends.cockpit hash-password` (or leave it unset: no "
                "instructor area)"
            )
        if self.login_attempts < 0 or self.login_client_attempts < 0:
            raise ConfigError("login_attempts / login_client_attempts must be >= 0 (0 turns throttling off)")
        for name in ("login_window_minutes", "login_lock_minutes", "login_max_lock_minutes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: use a positive number of minutes")
        if self.login_max_lock_minutes < self.login_lock_minutes:
            raise ConfigError("login_max_lock_minutes must be >= login_lock_minutes")
        self.trusted_proxy_networks()
        if self.web_secret is not None and len(self.web_secret) < 16:
            raise ConfigError("web_secret is too short: use at least 16 random characters (or leave it unset)")

    # ------------------------------------------------------------------ derived values
    def telegram_username(self) -> str | None:
        """The bot's username without the leading @ (None when not set)."""
        return self.telegram_bot.lstrip("@") if self.telegram_bot else None

    @property
    def course_path(self) -> Path:
        return Path(self.course_root).resolve()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def source_notebook(self) -> Path:
        return self.course_path / "source" / self.assignment / self.notebook

    @property
    def notebook_id(self) -> str:
        return Path(self.notebook).stem

    def main_gradebook_url(self) -> str:
        return self.gradebook_url or f"sqlite:///{self.course_path / 'gradebook.db'}"

    def deadline_dt(self) -> datetime | None:
        if not self.deadline:
            return None
        try:
            dt = datetime.fromisoformat(str(self.deadline))
        except ValueError as exc:
            raise ConfigError(
                f"deadline={self.deadline!r} is not an ISO datetime (e.g. 2026-12-20T23:59:00+03:00)"
            ) from exc
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)

    def late_penalty(self) -> float | None:
        """None for accept/reject, else the fraction taken off a late submission's total."""
        p = self.late_policy
        if p in ("accept", "reject"):
            return None
        m = re.fullmatch(r"penalty:([0-9.]+)", p or "")
        if not m or not 0.0 <= float(m.group(1)) <= 1.0:
            raise ConfigError(f"late_policy={p!r}: use 'accept', 'reject' or 'penalty:<fraction 0..1>'")
        return float(m.group(1))

    def rate_limit_rule(self) -> tuple[int, float] | None:
        """(N, window_seconds) or None. Format: "N/M" = at most N submissions per M minutes."""
        if self.rate_limit in (None, "", "none"):
            return None
        m = re.fullmatch(r"\s*(\d+)\s*/\s*([0-9.]+)\s*(?:m|min|minutes)?\s*", str(self.rate_limit))
        if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
            raise ConfigError(f"rate_limit={self.rate_limit!r}: use 'N/M' (at most N submissions per M minutes)")
        return int(m.group(1)), float(m.group(2)) * 60.0

    def login_rules(self) -> tuple[ThrottleRule, ThrottleRule]:
        """(per student id, per client) :class:`gradebot.core.access.ThrottleRule` of wrong access codes."""
        from gradebot.core.access import ThrottleRule

        times = dict(
            window=self.login_window_minutes * 60.0,
            first_lock=self.login_lock_minutes * 60.0,
            max_lock=self.login_max_lock_minutes * 60.0,
        )
        return ThrottleRule(self.login_attempts, **times), ThrottleRule(self.login_client_attempts, **times)

    def trusted_proxy_networks(self) -> list:
        """``trusted_proxies`` as a list of :mod:`ipaddress` networks (empty when unset)."""
        import ipaddress

        out = []
        for item in str(self.trusted_proxies or "").split(","):
            if item.strip():
                try:
                    out.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise ConfigError(
                        f"trusted_proxies: {item.strip()!r} is not an IP address or network "
                        "(e.g. 127.0.0.1 or 10.0.0.0/8)"
                    ) from None
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _convert_bool(name: str, v: Any) -> bool:
    """A boolean setting from TOML (bool) or the environment (true/false, yes/no, on/off, 1/0)."""
    if isinstance(v, bool):
        return v
    word = str(v).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"setting {name}={v!r}: expected true or false")


def _convert(name: str, typ: Any, v: Any) -> Any:
    t = str(typ)
    if v is None:
        return None
    if t.startswith("bool"):
        return _convert_bool(name, v)
    if isinstance(v, str) and v.strip().lower() in ("", "none", "null") and "None" in t:
        return None
    try:
        if t.startswith("int"):
            return int(v)
        if t.startswith("float"):
            return float(v)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}={v!r}: expected a number") from exc
    if t.startswith("str") and not isinstance(v, str):
        return str(v)
    return v
