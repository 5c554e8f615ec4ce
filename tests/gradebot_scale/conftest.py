"""Fixtures for the distributed backend's tests: real Redis and PostgreSQL servers (started by
``scripts/start_services.sh``), a fresh database and Redis db per test, the core's tiny nbgrader course, and a
pool of Celery worker processes that behave like separate hosts (own scratch/work dirs, own course build), and a
skewed Python clock (a front or worker on a machine whose clock disagrees with the database's).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import tinycourse

REPO = Path(__file__).resolve().parents[2]

SCRIPT = REPO / "scripts" / "start_services.sh"


def parse_urls(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and line.startswith("GRADEBOT_"):
            k, v = line.strip().split("=", 1)
            out[k] = v
    return out


@pytest.fixture(scope="session")
def services():
    """Start (or reuse) Redis and PostgreSQL through the project's script; stop them at the end if this session
    started them. Yields {"GRADEBOT_BROKER_URL": ..., "GRADEBOT_DB_URL": ...}."""
    was_running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    proc = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"scripts/start_services.sh failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    urls = parse_urls(proc.stdout)
    assert set(urls) == {"GRADEBOT_BROKER_URL", "GRADEBOT_DB_URL"}, proc.stdout
    yield urls
    if not was_running:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


@pytest.fixture
def skew(monkeypatch):
    """Make this process' clock disagree with the database's: ``skew(offset)`` shifts ``datetime.now`` /
    ``utcnow`` / ``today`` by ``offset`` in every loaded ``gradebot`` module (each call is another machine's
    clock; the database and its clock stay the same). ``isinstance`` with the replaced class still holds for real
    datetimes."""
    import gradebot.core.service  # noqa: F401  (the front's clock: patched below)

    offset = [timedelta(0)]

    class _Meta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, datetime)

        def __subclasscheck__(cls, sub):
            return issubclass(sub, datetime)

    class SkewedDatetime(datetime, metaclass=_Meta):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + offset[0]

        @classmethod
        def utcnow(cls):
            return datetime.utcnow() + offset[0]

        @classmethod
        def today(cls):
            return datetime.today() + offset[0]

    patched = [
        name
        for name, mod in sorted(sys.modules.items())
        if name.split(".")[0] == "gradebot" and getattr(mod, "datetime", None) is datetime
    ]
    assert "gradebot.core.service" in patched, patched  # the front's clock is among them
    for name in patched:
        monkeypatch.setattr(sys.modules[name], "datetime", SkewedDatetime)
    return lambda by: offset.__setitem__(0, by)


_redis_db = iter(range(1, 16))


@contextlib.contextmanager
def fresh_pg_database(services):
    """A new, empty PostgreSQL database (no Redis involved); yields its URL and drops the database afterwards."""
    import psycopg
    from gradebot.sqlstore import normalize_url

    base = services["GRADEBOT_DB_URL"]
    name = "gbtest_" + uuid.uuid4().hex[:10]
    admin = normalize_url(base)[0]
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def fresh_database(services):
    """A new PostgreSQL database and an empty Redis db number; the database is dropped afterwards."""
    import redis

    with fresh_pg_database(services) as db_url:
        n = next(_redis_db)
        broker = services["GRADEBOT_BROKER_URL"].rsplit("/", 1)[0] + f"/{n}"
        redis.Redis.from_url(broker).flushdb()
        yield {"GRADEBOT_BROKER_URL": broker, "GRADEBOT_DB_URL": db_url}


@pytest.fixture
def fresh_urls(services):
    with fresh_database(services) as urls:
        yield urls


@pytest.fixture
def fresh_pg_url(services):
    """The URL of a new, empty PostgreSQL database (for store tests that need no broker)."""
    with fresh_pg_database(services) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database of each dialect (PostgreSQL: started by scripts/start_services.sh)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebot.sqlite3'}"
    return request.getfixturevalue("fresh_pg_url")


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory) -> Path:
    """The core's tiny nbgrader course (tests/tinycourse.py), built once per session."""
    return tinycourse.make_tiny_course(tmp_path_factory.mktemp("tinycourse"))


# settings small enough for tiny notebooks, shared by the front and the workers of a test
FAST = dict(
    GRADEBOT_CELL_TIMEOUT="20",
    GRADEBOT_WALL_SECONDS="120",
    GRADEBOT_CPU_SECONDS="60",
    GRADEBOT_MEMORY_BYTES=str(1024**3),
    GRADEBOT_MAX_OUTPUT_BYTES=str(64 * 1024),
    GRADEBOT_VISIBILITY_TIMEOUT="30",
    GRADEBOT_CLAIM_LEASE="6",
    GRADEBOT_SWEEP_INTERVAL="3",
    GRADEBOT_UNACKED_RESTORE_INTERVAL="2",
    GRADEBOT_LEASE_SECONDS="6",
)


CELERY_KEYS = (
    "GRADEBOT_BROKER_URL",
    "GRADEBOT_DB_URL",
    "GRADEBOT_VISIBILITY_TIMEOUT",
    "GRADEBOT_CLAIM_LEASE",
    "GRADEBOT_SWEEP_INTERVAL",
    "GRADEBOT_UNACKED_RESTORE_INTERVAL",
)


def new_cluster(urls: dict, tiny_course: Path, root: Path) -> "Cluster":
    """Environment for a front end and workers of the celery backend on a private copy of the tiny course."""
    course = root / "course"
    shutil.copytree(tiny_course, course)
    env = dict(os.environ)
    env.update(FAST)
    env.update(urls)
    env.update(
        GRADEBOT_BACKEND="celery",
        GRADEBOT_COURSE_ROOT=str(course),
        GRADEBOT_ASSIGNMENT=tinycourse.ASSIGNMENT,
        GRADEBOT_NOTEBOOK=tinycourse.NOTEBOOK,
        GRADEBOT_WORKERS="1",
    )
    return Cluster(env, root)


@pytest.fixture
def cluster(fresh_urls, tiny_course, tmp_path):
    """A :class:`Cluster` for one test; its workers are stopped afterwards."""
    c = new_cluster(fresh_urls, tiny_course, tmp_path)
    yield c
    c.stop_all()


class Cluster:
    def __init__(self, env: dict, root: Path):
        self.env = env
        self.root = root
        self.workers: dict[str, subprocess.Popen] = {}

    def config(self, **overrides):
        """The front end's Config (data_dir of its own), built from the cluster environment."""
        from gradebot.config import Config

        cfg = Config.from_env(self.env, data_dir=str(self.root / "front"), **overrides)
        # the celery settings are not Config fields (yet): the backend reads them from the Config if present,
        # else from os.environ; this process' os.environ is not the cluster's, so attach them
        for key in CELERY_KEYS:
            if key in self.env:
                setattr(cfg, key[len("GRADEBOT_") :].lower(), self.env[key])
        return cfg

    def start_worker(self, name: str) -> subprocess.Popen:
        host = self.root / f"host-{name}"  # what would be another machine's local disk
        (host / "work").mkdir(parents=True, exist_ok=True)
        env = dict(
            self.env,
            GRADEBOT_DATA_DIR=str(host / "data"),
            GRADEBOT_WORK_DIR=str(host / "work"),
            GRADEBOT_WORKER_NAME=f"{name}@test",
        )
        log = open(host / "worker.log", "wb")
        p = subprocess.Popen(
            [sys.executable, "-m", "gradebot.backends.celery_worker", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=host,
        )
        self.workers[name] = p
        return p

    def check_alive(self, *names: str) -> None:
        """Fail at once (with the log) if a worker that should run has exited."""
        for name in names or tuple(self.workers):
            p = self.workers[name]
            if p.poll() is not None:
                raise AssertionError(f"worker {name} exited with {p.returncode}:\n{self.log(name)[-4000:]}")

    def log(self, name: str) -> str:
        return (self.root / f"host-{name}" / "worker.log").read_text(errors="replace")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (main process and pool processes), like a machine dying."""
        p = self.workers[name]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)

    def stop_all(self) -> None:
        for p in self.workers.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for p in self.workers.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_until(pred, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
