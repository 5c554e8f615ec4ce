"""One clock, the database's: fronts and workers whose Python clocks disagree with the database's (the ``skew``
fixture) still stamp, throttle and decide lateness alike. Each test on SQLite (the embedded backend) and on a real
PostgreSQL server (the Celery backend with its broker); no grading."""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

import tinycourse
from gradebot.config import Config
from gradebot.core.errors import DeadlineMissed, RateLimited
from gradebot.core.models import Result, Student
from gradebot.core.service import GradingService
from gradebot.sqlstore import SqlStore
from gradebot.sqlstore import tables as t
from gradebot.sqlstore.dialect import UtcTime

from .conftest import new_cluster

BEHIND, AHEAD = timedelta(minutes=-2), timedelta(minutes=2)
ROSTER = "student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Ray,g1\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def front(request, tiny_course, tmp_path):
    """``front(**config overrides)``: a GradingService (not started) with the roster s1, s2, on a store of each
    dialect; every front made in one test shares the store, as fronts on several machines do."""
    made = []
    if request.param == "postgresql":
        cluster = new_cluster(request.getfixturevalue("fresh_urls"), tiny_course, tmp_path)
        make_config = cluster.config
    else:
        course = tmp_path / "course"
        shutil.copytree(tiny_course, course)

        def make_config(**overrides):
            return Config.make(
                data_dir=str(tmp_path / "data"),
                course_root=str(course),
                assignment=tinycourse.ASSIGNMENT,
                notebook=tinycourse.NOTEBOOK,
                **overrides,
            )

    def make(**overrides) -> GradingService:
        svc = GradingService(make_config(**overrides))
        if not made:
            svc.import_roster(ROSTER)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop()
        svc.store.close()


def db_now(svc: GradingService) -> datetime:
    """The database's time, read without the store (so a store bug cannot hide)."""
    engine = sa.create_engine(svc.store.sqlalchemy_url)
    try:
        with engine.connect() as c:
            if engine.dialect.name == "sqlite":
                return datetime.fromtimestamp(
                    c.execute(sa.text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one(), timezone.utc
                )
            return c.execute(sa.text("SELECT statement_timestamp()")).scalar_one()
    finally:
        engine.dispose()


def near(a: datetime, b: datetime, seconds: float = 20.0) -> bool:
    return abs((a - b).total_seconds()) < seconds


def test_a_fresh_submission_of_a_slow_front_gets_its_grace(front, skew, monkeypatch):
    """``to_publish``'s ``min_age`` grace (a submit in progress is not raced) compares ``created_at`` with the
    database's time: a front whose clock is behind does not make its fresh submission look lost at once, and one
    whose clock is ahead does not make a lost one wait."""
    svc = front()
    monkeypatch.setattr(svc.backend, "enqueue", lambda *a, **k: None)  # the front dies between commit and publish
    skew(BEHIND)
    fresh = svc.submit("s1", "a.ipynb", tinycourse.submission())
    assert near(fresh.created_at, db_now(svc), 5)  # the database's time, not the front's (2 min behind)
    assert svc.store.to_publish(60, min_age=60) == []  # seconds old: still in its grace
    skew(AHEAD)
    lost = svc.submit("s2", "a.ipynb", tinycourse.submission())
    time.sleep(1.5)
    skew(timedelta(0))
    assert svc.store.to_publish(60, min_age=1) == [fresh.id, lost.id]  # both past a 1 s grace, not 2 min later


def test_the_rate_limit_counts_alike_on_every_front(front, skew):
    """2 submissions per 10 min: what one front accepted counts on another whose clock is 15 min ahead (its window
    would start after them) or behind (its wait would be 25 min), and both say when the next slot frees up."""
    right = front(rate_limit="2/10")
    first = right.submit("s1", "a.ipynb", tinycourse.submission())
    right.submit("s1", "a.ipynb", tinycourse.submission())
    for offset in (timedelta(minutes=15), timedelta(minutes=-15)):
        skew(offset)
        other = front(rate_limit="2/10")
        with pytest.raises(RateLimited) as exc:
            other.submit("s1", "a.ipynb", tinycourse.submission())
        assert 590 <= exc.value.retry_after_seconds <= 600
        quota = other.submission_quota("s1")
        assert quota["used"] == 2 and quota["left"] == 0
        assert quota["next_at"] == first.created_at + timedelta(minutes=10)
        assert other.submit("s2", "a.ipynb", tinycourse.submission()).created_at > first.created_at  # per student


@pytest.mark.parametrize("offset", [BEHIND, AHEAD])
def test_lateness_is_decided_by_the_database_clock(front, skew, offset):
    """A deadline 30 s ago (s1) and one 30 s ahead (s2): a front 2 min behind does not accept a late submission as
    on time nor one 2 min ahead an early one as late; ``created_at``, the late flag, the quota and a regrade agree."""
    svc = front(late_policy="accept")
    now = db_now(svc)
    svc.set_extension("s1", now - timedelta(seconds=30))
    svc.set_extension("s2", now + timedelta(seconds=30))
    skew(offset)
    late = svc.submit("s1", "a.ipynb", tinycourse.submission())
    early = svc.submit("s2", "a.ipynb", tinycourse.submission())
    assert late.late is True and early.late is False
    assert late.created_at > svc.deadline_for("s1") and early.created_at <= svc.deadline_for("s2")
    assert svc.submission_quota("s1")["deadline_passed"] and not svc.submission_quota("s2")["deadline_passed"]
    for sub in (late, early):
        svc.store.finish(sub.id, "done", Result(total=1.0, max=5.0, tasks={}), None, None)
    assert svc.regrade(everything=True)["total"] == 2
    assert svc.get_submission(late.id).late is True and svc.get_submission(early.id).late is False
    reject = front(late_policy="reject")
    with pytest.raises(DeadlineMissed):
        reject.submit("s1", "a.ipynb", tinycourse.submission())
    assert reject.submit("s2", "a.ipynb", tinycourse.submission()).late is False


def test_the_login_throttle_and_the_services_clock_are_the_databases(front, skew):
    """A lock started by a wrong code on one front holds on a front whose clock is an hour ahead."""
    from gradebot.core.errors import AccessDenied, LoginThrottled

    one = front(login_attempts=2)
    for _ in range(2):
        with pytest.raises((AccessDenied, LoginThrottled)):
            one.authenticate("s1", "wrong-code")
    skew(timedelta(hours=1))
    other = front(login_attempts=2)
    with pytest.raises(LoginThrottled) as exc:
        other.authenticate("s1", "wrong-code")
    assert exc.value.retry_after_seconds > 30
    assert near(other.now(), db_now(other), 5)


def test_every_stamp_the_store_writes_is_the_databases(db_url, skew):
    """With the process' clock an hour ahead, every time column the store fills itself (not the ones a caller
    passes: ``created_at``, deadlines, the throttle's times, a session's expiry) holds the database's time; and a
    revoked session past its expiry by the database's clock is forgotten."""
    store = SqlStore(db_url)
    try:
        store.upsert_students([Student("s1", "Ann Lee", "g1")])
        skew(timedelta(hours=1))
        ref, sha = store.put_blob(b"{}")
        sub = store.add_submission("s1", "nb.ipynb", ref, sha, 2, "web", False, store.now())
        store.note_enqueued(sub.id)
        store.note_enqueued_many([sub.id])
        token = store.claim(sub.id, "hostA/1", lease_seconds=60)
        store.heartbeat(sub.id, token)
        store.finish(sub.id, "done", Result(total=1.0, max=5.0, tasks={}), None, None)
        store.release(sub.id, token, "done")
        store.requeue_for_regrade([(sub.id, False)], "b1", "all")
        store.set_extension("s1", datetime(2030, 1, 1, tzinfo=timezone.utc))
        store.revoke_session("old", store.now() + timedelta(seconds=1))
        time.sleep(1.5)
        store.revoke_session("new", store.now() + timedelta(hours=12))  # forgets "old": expired by the database
        assert not store.session_revoked("old") and store.session_revoked("new")

        now = store.now()
        assert near(now, datetime.now(timezone.utc))  # the database's clock (this module's datetime is not skewed)
        given = {("gb_submissions", "created_at"), ("gb_extensions", "deadline"), ("gb_revoked_sessions", "expires_at")}
        given |= {("gb_login_failures", c.name) for c in t.login_failures.c}
        seen = set()
        with store._engine().connect() as c:
            for table in t.metadata.sorted_tables:
                for col in table.c:
                    if not isinstance(col.type, UtcTime) or (table.name, col.name) in given:
                        continue
                    for value in c.execute(sa.select(col).where(col.is_not(None))).scalars():
                        seen.add((table.name, col.name))
                        assert near(value, now), (table.name, col.name, value, now)
        assert {
            ("gb_blobs", "created_at"),
            ("gb_jobs", "enqueued_at"),
            ("gb_attempts", "started_at"),
            ("gb_attempts", "ended_at"),
            ("gb_regrades", "requested_at"),
            ("gb_regrades", "old_recorded_at"),
            ("gb_extensions", "granted_at"),
        } <= seen
    finally:
        store.close()
