"""The store (``gradebot.sqlstore``) and its claim protocol, each test on SQLite and on a real PostgreSQL server
(no grading: fast); databases of the stores before the unified one are adopted in place."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from gradebot.core import access
from gradebot.core.errors import ConfigError, RegistrationError, UnknownStudent
from gradebot.core.models import Result, Student
from gradebot.sqlstore import SqlStore, StoreUnavailable, normalize_url
from gradebot.sqlstore.tables import SCHEMA_VERSION

from . import legacy_schemas


@pytest.fixture
def store(db_url):
    s = SqlStore(db_url)
    s.upsert_students([Student("s1", "Ann Lee", "g1"), Student("s2", "Bob Ray", "g2")])
    yield s
    s.close()


def add(store, student="s1", data=b'{"cells": []}'):
    ref, sha = store.put_blob(data)
    return store.add_submission(student, "nb.ipynb", ref, sha, len(data), "web", False, datetime.now(timezone.utc))


def result(total=5.0):
    return Result(total=total, max=5.0, tasks={"t": {"points": total, "max": 5.0}}, cells={"t__a": total})


def test_url_spellings_and_errors():
    assert normalize_url("postgres://u:p@h:1/d") == ("postgresql://u:p@h:1/d", "postgresql+psycopg://u:p@h:1/d")
    assert normalize_url("postgresql+psycopg2://u@h/d")[0] == "postgresql://u@h/d"
    with pytest.raises(ConfigError, match="GRADEBOT_DB_URL"):
        normalize_url("")
    with pytest.raises(ConfigError, match="not a PostgreSQL URL") as exc:
        normalize_url("mysql://u:secret@h/d")
    assert "secret" not in str(exc.value)


def test_blob_bytes_roundtrip_in_database(store):
    data = bytes(range(256)) * 1000  # arbitrary binary content, 256 kB
    sub = add(store, data=data)
    ref = store.blob_path(sub.id)
    assert ref.startswith("dbblob:")
    assert store.get_blob(ref) == data
    # another connection (another machine) reads the same bytes: nothing is on a local disk
    other = SqlStore(store.url)
    assert other.get_blob(other.blob_path(sub.id)) == data


def test_submission_lifecycle_and_finish_is_compare_and_set(store):
    sub = add(store)
    assert sub.status == "queued" and sub.result is None and sub.created_at.tzinfo is not None
    assert store.unfinished_ids() == [sub.id]
    assert store.mark_grading(sub.id) == 1
    assert store.mark_grading(sub.id) == 2  # a redelivery counts
    assert store.finish(sub.id, "done", result(5.0), None, "<p>fb</p>") is True
    assert store.finish(sub.id, "done", result(1.0), None, "<p>other</p>") is False
    assert store.finish(sub.id, "failed", None, "late duplicate", None) is False
    got = store.get_submission(sub.id)
    assert got.status == "done" and got.result.total == 5.0 and got.result.cells == {"t__a": 5.0}
    assert store.feedback_html(sub.id) == "<p>fb</p>"
    assert store.result_count(sub.id) == 1
    assert store.mark_grading(sub.id) == 2  # finished: no more deliveries counted
    assert store.unfinished_ids() == []


def test_concurrent_finish_records_one_result(store):
    sub = add(store)
    outcomes = []
    barrier = threading.Barrier(8)

    def finish(i):
        barrier.wait()
        outcomes.append(store.finish(sub.id, "done", result(float(i % 5)), None, f"fb{i}"))

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 7 + [True]
    assert store.result_count(sub.id) == 1


def test_claim_excludes_others_until_lease_expires(store):
    sub = add(store)
    t1 = store.claim(sub.id, "hostA/1", lease_seconds=2)
    assert t1
    assert store.claim(sub.id, "hostB/2", lease_seconds=2) is None  # live claim: duplicate dropped
    assert store.heartbeat(sub.id, t1) is True
    time.sleep(2.5)  # hostA stops beating (it died)
    t2 = store.claim(sub.id, "hostB/2", lease_seconds=2)
    assert t2 and t2 != t1
    assert store.heartbeat(sub.id, t1) is False  # hostA's claim was taken over
    store.release(sub.id, t1, "done")  # a late release of A does nothing
    assert store.claim(sub.id, "hostC/3", lease_seconds=60) is None
    store.finish(sub.id, "done", result(), None, None)
    store.release(sub.id, t2, "done")
    log = store.attempts(sub.id)
    assert [(a["worker"], a["outcome"]) for a in log] == [("hostA/1", "lost"), ("hostB/2", "done")]
    assert store.claim(sub.id, "hostD/4", lease_seconds=2) is None  # finished: never claimed again


def test_leases_are_stamped_and_compared_with_the_database_clock(store, skew):
    """Workers on machines whose clocks disagree: a live lease stays live and a stale one expires by the
    database's clock, whatever the claiming, renewing or sweeping process' clock says."""
    sub = add(store)
    store.note_enqueued(sub.id)
    skew(timedelta(hours=-1))  # host A's clock is an hour behind
    t1 = store.claim(sub.id, "hostA/1", lease_seconds=60)
    assert t1
    skew(timedelta(0))  # host B's clock is right: A's claim is seconds old by the database, not an hour
    assert store.claim(sub.id, "hostB/2", lease_seconds=60) is None
    assert store.claim_next("hostB/2", lease_seconds=60) is None
    assert store.to_publish(60, broker_lost=True, min_age=0) == []
    skew(timedelta(hours=-1))
    assert store.heartbeat(sub.id, t1) is True  # A renews with its slow clock
    skew(timedelta(0))
    assert store.claim(sub.id, "hostB/2", lease_seconds=60) is None  # still live
    skew(timedelta(hours=1))  # host C's clock is an hour ahead
    assert store.claim(sub.id, "hostC/3", lease_seconds=60) is None
    assert store.claim_next("hostC/3", lease_seconds=60) is None
    assert store.to_publish(60, broker_lost=True, min_age=0) == []
    claimed_at = store.attempts(sub.id)[0]["started_at"]
    assert abs(claimed_at - datetime.now(timezone.utc)) < timedelta(minutes=5)  # the database's time, not A's


def test_leases_expire_by_the_database_clock(store, skew):
    sub = add(store)
    store.note_enqueued(sub.id)
    t1 = store.claim(sub.id, "hostA/1", lease_seconds=1)
    assert t1
    time.sleep(1.5)  # A stops beating; by the database its lease is over
    skew(timedelta(hours=-1))  # the sweeping and claiming hosts' clocks are an hour behind
    assert store.to_publish(1, broker_lost=True, min_age=0) == [sub.id]
    got = store.claim_next("hostB/2", lease_seconds=1)
    assert got is not None and got[0] == sub.id and got[1] != t1
    assert store.heartbeat(sub.id, t1) is False
    time.sleep(1.5)
    t3 = store.claim(sub.id, "hostC/3", lease_seconds=1)
    assert t3 and t3 != got[1]
    assert [a["outcome"] for a in store.attempts(sub.id)] == ["lost", "lost", None]


def test_same_worker_takes_its_abandoned_claim_back(store):
    sub = add(store)
    t1 = store.claim(sub.id, "hostA/7", lease_seconds=600)
    assert store.claim(sub.id, "hostB/8", lease_seconds=600) is None
    t2 = store.claim(sub.id, "hostA/7", lease_seconds=600)  # e.g. redelivered after a DB error
    assert t2 and t2 != t1
    assert [a["outcome"] for a in store.attempts(sub.id)] == ["lost", None]


def test_students_and_telegram_links(store):
    assert store.get_student("s1").name == "Ann Lee"
    store.upsert_students([Student("s1", "Ann Smith", "g9")])
    assert store.get_student("s1").group == "g9"
    assert store.link_telegram("s1", 111).telegram_user_id == 111
    assert store.link_telegram("s1", 111).telegram_user_id == 111  # same pair again: no-op
    with pytest.raises(RegistrationError, match="already linked to student 's1'"):
        store.link_telegram("s2", 111)
    with pytest.raises(RegistrationError, match="another Telegram account"):
        store.link_telegram("s1", 222)
    with pytest.raises(RegistrationError, match="unknown student"):
        store.link_telegram("nobody", 333)
    store.upsert_students([Student("s1", "Ann", "g1")])
    assert store.student_by_telegram(111).student_id == "s1"  # roster update keeps the link
    assert [s.student_id for s in store.list_students()] == ["s1", "s2"]
    with pytest.raises(UnknownStudent):
        add(store, student="nobody")


def test_code_hashes_kept_and_set(store):
    """The store keeps what the service gives it: a new student without a hash has no code (the service issues
    one), a re-import without a hash keeps the stored one (and the Telegram link), a given hash replaces it."""
    assert [st.code_hash for st in store.list_students()] == [None, None]
    store.upsert_students(
        [Student("s1", "Ann Lee", "g1", code_hash="scrypt$h1"), Student("s2", "Bob Ray", "g2", code_hash="scrypt$h2")]
    )
    assert "scrypt" not in repr(store.get_student("s1"))
    store.link_telegram("s2", 77)
    store.upsert_students(
        [
            Student("s1", "Ann Smith", "g9"),
            Student("s2", "Bob Ray", "g2"),
            Student("s3", "Cy", "g3", code_hash="scrypt$h3"),
        ]
    )
    assert store.get_student("s1").code_hash == "scrypt$h1"  # re-import keeps hashes...
    assert store.student_by_telegram(77).code_hash == "scrypt$h2"  # ...and links
    assert store.get_student("s3").code_hash == "scrypt$h3"
    store.upsert_students([Student("s1", "Ann Smith", "g9", code_hash="scrypt$new")])
    assert store.get_student("s1").code_hash == "scrypt$new"  # a given hash replaces the old one
    store.set_code_hash("s2", "scrypt$again")
    assert store.get_student("s2").code_hash == "scrypt$again"
    with pytest.raises(UnknownStudent):
        store.set_code_hash("nobody", "scrypt$x")


def test_login_failures_count_lock_and_expire(store):
    """The throttle's state in the database: counted per key, locks doubled, expired rows deleted."""
    rule = access.ThrottleRule(attempts=3, window=600.0, first_lock=60.0, max_lock=3600.0)
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    keys = {"student:s1": rule, "client:web:1.2.3.4": rule}
    assert [store.record_login_failure(keys, t0 + timedelta(seconds=i)) for i in range(3)] == [0.0, 0.0, 60.0]
    assert store.login_lock(["student:s1"], t0 + timedelta(seconds=12)) == 50.0
    assert store.login_lock(["client:web:1.2.3.4", "student:zz"], t0 + timedelta(seconds=62)) == 0.0
    assert store.record_login_failure({"student:s1": rule}, t0 + timedelta(seconds=70)) == 120.0
    store.clear_login_failures(["student:s1"])
    assert store.login_lock(["student:s1"], t0 + timedelta(seconds=71)) == 0.0
    assert store.record_login_failure({"student:s1": rule}, t0 + timedelta(seconds=72)) == 0.0  # counted afresh
    # a much later failure of another key deletes the rows that have expired (window after the last lock)
    store.record_login_failure({"client:web:9.9.9.9": rule}, t0 + timedelta(hours=2))
    import sqlalchemy as sa

    engine = sa.create_engine(store.sqlalchemy_url)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT key FROM gb_login_failures")).scalars().all() == ["client:web:9.9.9.9"]
    engine.dispose()


def test_concurrent_login_failures_are_all_counted(store):
    """Failures recorded at once by several threads (each its own connection) are counted exactly."""
    rule = access.ThrottleRule(attempts=100, window=600.0, first_lock=60.0, max_lock=3600.0)
    now = datetime.now(timezone.utc)
    barrier = threading.Barrier(6)

    def fail():
        barrier.wait()
        for _ in range(5):
            store.record_login_failure({"student:s1": rule}, now)

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # 30 recorded: 70 more make 100 and start the lock
    assert [store.record_login_failure({"student:s1": rule}, now) for _ in range(70)][-2:] == [0.0, 60.0]


OLD_STUDENTS = """
CREATE TABLE gb_students (student_id text PRIMARY KEY, name text NOT NULL DEFAULT '',
                          grp text NOT NULL DEFAULT '', telegram_user_id bigint UNIQUE);
INSERT INTO gb_students VALUES ('old1', 'Old One', 'g1', 555), ('old2', 'Old Two', 'g2', NULL);
"""


def test_old_database_is_migrated_on_open(fresh_pg_url):
    """A gb_students table from before access codes: the students keep their data and have no code until the
    instructor issues one (then shown once)."""
    import psycopg

    with psycopg.connect(fresh_pg_url, autocommit=True) as c:
        c.execute(OLD_STUDENTS)
    s = SqlStore(fresh_pg_url)
    try:
        students = {st.student_id: st for st in s.list_students()}
        assert students["old1"].telegram_user_id == 555 and students["old2"].name == "Old Two"
        assert [st.code_hash for st in students.values()] == [None, None]
        s.set_code_hash("old1", "scrypt$h1")
        again = SqlStore(fresh_pg_url)  # opening again changes nothing
        assert [(st.student_id, st.code_hash) for st in again.list_students()] == [
            ("old1", "scrypt$h1"),
            ("old2", None),
        ]
        again.close()
    finally:
        s.close()


def _columns(url: str, table: str) -> set[str]:
    import sqlalchemy as sa
    from gradebot.sqlstore.dialect import database_url

    engine = sa.create_engine(database_url(url))  # not a SqlStore: opening one would migrate
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_version_1_database_gets_its_plaintext_codes_hashed(db_url):
    """Schema step 2 on a version-1 database: every plaintext code is hashed (it keeps working, in any spelling),
    the plaintext column is dropped, a student without a code stays without one, nothing else changes."""
    import sqlalchemy as sa

    SqlStore(db_url).close()
    engine = sa.create_engine(SqlStore(db_url).sqlalchemy_url)
    with engine.begin() as c:
        for statement in legacy_schemas.V4_TO_V3 + legacy_schemas.V3_TO_V2 + legacy_schemas.V2_TO_V1:
            c.execute(sa.text(statement))
        c.execute(
            sa.text(
                "INSERT INTO gb_students (student_id, name, grp, telegram_user_id, access_code) VALUES "
                "('s1', 'Ann', 'g1', 555, 'k7m2-p9xq'), ('s2', 'Bob', 'g2', NULL, NULL), "
                "('s3', 'Cy', 'g3', NULL, 'Cy-Code-33')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO gb_submissions (student_id, filename, blob_path, sha256, size, source, late, "
                "created_at, status, deliveries) VALUES ('s1', 'a.ipynb', '/f/a.ipynb', 'aa', 1, 'web', "
                + ("0, 1700000000.0" if db_url.startswith("sqlite") else "false, '2023-11-14 22:13:20+00'")
                + ", 'queued', 0)"
            )
        )
    assert "access_code" in _columns(db_url, "gb_students")
    store = SqlStore(db_url)
    try:
        s1, s2, s3 = store.list_students()
        assert (s1.student_id, s1.name, s1.group, s1.telegram_user_id) == ("s1", "Ann", "g1", 555)
        assert access.verify_code(s1.code_hash, "K7M2 P9XQ") and not access.verify_code(s1.code_hash, "k7m2-p9xr")
        assert access.verify_code(s3.code_hash, "cycode33") and s2.code_hash is None
        assert [sub.filename for sub in store.list_submissions("s1")] == ["a.ipynb"]
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT version FROM gb_schema_version")).scalars().all() == [SCHEMA_VERSION]
            rows = c.execute(sa.text("SELECT * FROM gb_students")).all()
        assert "k7m2" not in repr(rows).lower() and "cycode33" not in repr(rows).lower().replace("-", "")
        assert _columns(db_url, "gb_students") == {"student_id", "name", "grp", "telegram_user_id", "code_hash"}
        assert (
            store.record_login_failure(
                {"student:s1": access.ThrottleRule(1, 60.0, 60.0, 60.0)}, datetime.now(timezone.utc)
            )
            == 60.0
        )  # the throttle table exists
    finally:
        store.close()
        engine.dispose()
    again = SqlStore(db_url)  # opening again changes nothing
    assert [st.code_hash for st in again.list_students()] == [s1.code_hash, None, s3.code_hash]
    again.close()


def test_submission_times_and_listing(store):
    a = add(store, "s1")
    b = add(store, "s2")
    c = add(store, "s1")
    assert [s.id for s in store.list_submissions()] == [a.id, b.id, c.id]
    assert [s.id for s in store.list_submissions("s1")] == [a.id, c.id]
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert len(store.submission_times_since("s1", since)) == 2
    assert store.submission_times_since("s1", datetime.now(timezone.utc) + timedelta(minutes=1)) == []


def test_many_submissions_read_together(store):
    """``get_submissions``: the ids that exist with their status and result (as ``get_submission`` gives them),
    unknown ids left out; more ids than one IN list holds (500) are all read."""
    a, b = add(store, "s1"), add(store, "s2")
    assert store.finish(a.id, "done", result(4.0), None, "<p>fb</p>")
    got = store.get_submissions([b.id, a.id, 999_999, a.id])
    assert sorted(got) == [a.id, b.id]
    assert got[a.id] == store.get_submission(a.id) and got[a.id].result.total == 4.0
    assert got[b.id].status == "queued" and got[b.id].result is None and got[b.id].student_id == "s2"
    assert store.get_submissions([]) == {}
    many = [add(store, "s1").id for _ in range(520)]
    assert sorted(store.get_submissions([*many, a.id])) == sorted([*many, a.id])


def test_to_publish_finds_never_published_and_lost(store):
    a = add(store)
    b = add(store)
    store.note_enqueued(a.id, published=True)
    store.note_enqueued(b.id, published=False)  # the broker was down
    c = add(store)  # front died before publishing
    assert store.to_publish(6, min_age=0) == [b.id, c.id]
    assert store.to_publish(6, min_age=3600) == [b.id]  # c may still be being submitted
    assert store.to_publish(6, broker_lost=True, min_age=0) == [a.id, b.id, c.id]
    token = store.claim(a.id, "w/1", 60)
    assert store.to_publish(6, broker_lost=True, min_age=0) == [b.id, c.id]  # a is being graded
    store.finish(a.id, "done", result(), None, None)
    store.release(a.id, token, "done")
    store.note_enqueued(b.id, published=True)
    store.note_enqueued(c.id, published=True)
    assert store.to_publish(6, min_age=0) == []


# ------------------------------------------------------------------------------------------------ the job queue
def test_claim_next_takes_each_job_once_and_respects_leases(store):
    a, b, c = add(store), add(store), add(store)
    for sub in (a, b, c):
        store.note_enqueued(sub.id)
    store.note_enqueued(a.id)  # enqueue is idempotent
    assert store.job_count() == 3
    sid1, t1 = store.claim_next("w1", lease_seconds=2)
    sid2, t2 = store.claim_next("w2", lease_seconds=2)
    assert (sid1, sid2) == (a.id, b.id)  # oldest first, each once
    store.finish(c.id, "done", result(), None, None)  # c finished by another path
    assert store.claim_next("w3", lease_seconds=2) is None  # its job is dropped, not claimed
    assert store.job_count() == 2
    sid3, t3 = store.claim_next("w3", 600, owner_dead=lambda w: w == "w1")
    assert (sid3, t3) == (a.id, store.attempts(a.id)[-1]["token"])
    assert [x["outcome"] for x in store.attempts(a.id)] == ["lost", None]  # w1 is dead: taken over at once
    assert store.heartbeat(a.id, t1) is False
    time.sleep(2.5)  # w2 stops beating, w3 goes on
    assert store.heartbeat(a.id, t3) is True
    got = store.claim_next("w4", lease_seconds=2)
    assert got is not None and got[0] == b.id and got[1] != t2
    store.release(b.id, t2, "error", dequeue=True)  # w2's late ack: w4 holds the job now
    assert store.job_count() == 2
    store.finish(b.id, "done", result(), None, None)
    store.release(b.id, got[1], "done", dequeue=True)
    assert store.job_count() == 1 and sorted(store.jobs()) == [a.id]
    assert store.active_claims() == [(a.id, "w3")]


def _claim_all(url: str, name: str, start, out) -> None:
    store = SqlStore(url)
    start.wait()
    got = []
    while True:
        job = store.claim_next(name, lease_seconds=600)
        if job is None:
            break
        got.append(job[0])
        time.sleep(0.002)  # "grading": lets the other processes in, as real workers would
    out.put((name, got))
    store.close()


def test_claim_next_from_many_processes_never_double_claims(store):
    """Four worker processes race for 120 queued jobs: every job is claimed by exactly one of them."""
    subs = [add(store) for _ in range(120)]
    for sub in subs:
        store.note_enqueued(sub.id)
    ctx = multiprocessing.get_context(
        "spawn"
    )  # fresh children (no fork of a process with JAX threads) open stores of their own
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(store.url, f"w{i}", start, out)) for i in range(4)]
    for p in procs:
        p.start()
    claimed = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
    everything = [sid for got in claimed.values() for sid in got]
    assert sorted(everything) == [s.id for s in subs]  # none twice, none missed
    assert len(store.active_claims()) == 120
    assert sum(1 for got in claimed.values() if got) >= 2  # the workers really raced


# ------------------------------------------------------------------------------------------------ old databases
def test_sqlite_database_of_the_old_store_is_adopted(tmp_path):
    """A database file written by the SQLite store and the embedded queue before the unified store: every row is
    kept (ids, times, results, feedback, queued jobs), codes kept or given, and new rows continue the ids."""
    db = tmp_path / "gradebot.sqlite3"
    with sqlite3.connect(db) as c:
        c.executescript(legacy_schemas.SQLITE_STORE + legacy_schemas.SQLITE_EMBEDDED_JOBS)
        c.execute("INSERT INTO students VALUES ('s1', 'Ann', 'g1', 555, 'code-ann-1'), ('s2', 'Bob', 'g2', NULL, NULL)")
        res = (
            '{"total": 4.0, "max": 5.0, "tasks": {"t": {"points": 4.0, "max": 5.0}}, "verdict": "ok", '
            '"messages": ["m"], "cells": {"t__a": 4.0}}'
        )
        c.execute(
            "INSERT INTO submissions VALUES (3, 's1', 'a.ipynb', '/data/a.ipynb', 'aa', 10, 'web', 1, "
            "1700000000.25, 'done', 1, ?, NULL, '<p>fb</p>', 1700000100.5)",
            (res,),
        )
        c.execute(
            "INSERT INTO submissions VALUES (7, 's2', 'b.ipynb', '/data/b.ipynb', 'bb', 20, 'telegram', 0, "
            "1700000200.0, 'failed', 4, NULL, 'grading was interrupted', NULL, 1700000300.0)"
        )
        c.execute(
            "INSERT INTO submissions VALUES (9, 's2', 'c.ipynb', '/data/c.ipynb', 'cc', 30, 'cli', 0, "
            "1700000400.0, 'grading', 2, NULL, NULL, NULL, NULL)"
        )
        c.execute("INSERT INTO jobs VALUES (9, 1700000400.5, 'host:123:1.0', 1700000500.0, 2)")
    store = SqlStore.in_file(db)
    try:
        s1, s2 = store.list_students()
        assert (s1.student_id, s1.name, s1.group, s1.telegram_user_id) == ("s1", "Ann", "g1", 555)
        assert access.verify_code(s1.code_hash, "code-ann-1")  # the old code, hashed, still works
        assert s2.telegram_user_id is None and s2.code_hash is None  # no code: the instructor issues one
        a, b, c = store.list_submissions()
        assert [a.id, b.id, c.id] == [3, 7, 9]
        assert (a.student_id, a.filename, a.source, a.late, a.status, a.deliveries) == (
            "s1",
            "a.ipynb",
            "web",
            True,
            "done",
            1,
        )
        assert a.created_at == datetime.fromtimestamp(1700000000.25, timezone.utc)
        assert a.finished_at == datetime.fromtimestamp(1700000100.5, timezone.utc)
        assert a.result == Result(
            total=4.0, max=5.0, tasks={"t": {"points": 4.0, "max": 5.0}}, messages=["m"], cells={"t__a": 4.0}
        )
        assert store.feedback_html(3) == "<p>fb</p>" and store.blob_path(3) == "/data/a.ipynb"
        assert (b.status, b.error, b.result, b.deliveries) == ("failed", "grading was interrupted", None, 4)
        assert store.result_count(7) == 1 and store.result_count(9) == 0
        assert store.unfinished_ids() == [9] and store.jobs() == {9: True}
        assert store.claim_next("w1", 60) is not None  # the old lease is not kept
        assert store.mark_grading(9) == 3
        new = store.add_submission("s1", "d.ipynb", "/data/d.ipynb", "dd", 1, "web", False, datetime.now(timezone.utc))
        assert new.id == 10
        with sqlite3.connect(db) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"students", "submissions", "jobs"}.isdisjoint(names) and "gb_submissions" in names
    finally:
        store.close()
    again = SqlStore.in_file(db)  # opening again changes nothing
    assert [s.code_hash for s in again.list_students()] == [s1.code_hash, None]
    assert [s.id for s in again.list_submissions()] == [3, 7, 9, 10]
    again.close()


def test_postgresql_database_of_the_old_store_is_adopted(fresh_pg_url):
    """A database written by the PostgreSQL store before the unified one: its rows are read back as they were,
    and a submission may now point at a file instead of a blob."""
    import psycopg

    with psycopg.connect(fresh_pg_url, autocommit=True) as c:
        c.execute(legacy_schemas.POSTGRES_STORE)
        c.execute(
            "INSERT INTO gb_students VALUES ('s1', 'Ann', 'g1', 555, 'code-ann-1'), ('s2', 'Bob', 'g2', NULL, NULL)"
        )
        c.execute("INSERT INTO gb_blobs(id, sha256, size, data) VALUES (1, 'aa', 3, %s)", (b"abc",))
        c.execute(
            "INSERT INTO gb_submissions(id, student_id, filename, blob_id, sha256, size, source, late, "
            "created_at, status, deliveries, finished_at) VALUES (1, 's1', 'a.ipynb', 1, 'aa', 3, 'web', true, "
            "'2026-01-02 03:04:05.25+00', 'done', 1, '2026-01-02 03:05:00+00'), "
            "(2, 's2', 'b.ipynb', 1, 'aa', 3, 'cli', false, '2026-01-03 00:00:00+00', 'grading', 1, NULL)"
        )
        c.execute("SELECT setval('gb_submissions_id_seq', 2)")
        c.execute(
            "INSERT INTO gb_results(submission_id, result, feedback_html, attempt_token) VALUES "
            "(1, '{\"total\": 4.0, \"max\": 5.0, \"tasks\": {}, \"cells\": {\"t__a\": 4.0}}', '<p>fb</p>', "
            "'00000000-0000-0000-0000-000000000001')"
        )
        c.execute(
            "INSERT INTO gb_attempts(token, submission_id, worker, outcome, ended_at) VALUES "
            "('00000000-0000-0000-0000-000000000001', 1, 'h/1', 'done', now()), "
            "('00000000-0000-0000-0000-000000000002', 2, 'h/2', NULL, NULL)"
        )
        c.execute(
            "INSERT INTO gb_claims(submission_id, token, worker) VALUES "
            "(2, '00000000-0000-0000-0000-000000000002', 'h/2')"
        )
        c.execute("INSERT INTO gb_jobs(submission_id, published, publishes) VALUES (1, true, 1), (2, true, 2)")
    store = SqlStore(fresh_pg_url)
    try:
        s1, s2 = store.list_students()
        assert s1.telegram_user_id == 555 and access.verify_code(s1.code_hash, "CODE ANN 1") and s2.code_hash is None
        a, _ = store.list_submissions()
        assert a.created_at == datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc) and a.late
        assert a.result.total == 4.0 and a.result.cells == {"t__a": 4.0} and store.feedback_html(1) == "<p>fb</p>"
        assert store.get_blob(store.blob_path(1)) == b"abc"
        assert [x["outcome"] for x in store.attempts()] == ["done", None]
        assert store.active_claims() == [(2, "h/2")] and store.jobs() == {1: True, 2: True}
        assert store.claim(2, "h/3", lease_seconds=600) is None  # the old live claim still counts
        new = store.add_submission("s2", "c.ipynb", "/files/c.ipynb", "cc", 1, "web", False, datetime.now(timezone.utc))
        assert new.id == 3 and store.blob_path(3) == "/files/c.ipynb"
    finally:
        store.close()


def test_unreachable_database_is_a_transient_store_error():
    """A store whose server does not answer raises StoreUnavailable (in ``transient_errors``: jobs are retried, not
    failed); the message names the cause, not the password."""
    with pytest.raises(StoreUnavailable, match="unavailable") as exc:
        SqlStore("postgresql://gb:secret-pw@127.0.0.1:1/nothing")
    assert isinstance(exc.value, SqlStore.transient_errors) and "secret-pw" not in str(exc.value)


def test_schema_version_is_recorded_and_a_newer_database_is_refused(db_url):
    import sqlalchemy as sa

    SqlStore(db_url).close()
    SqlStore(db_url).close()  # opening again: still one version row
    engine = sa.create_engine(SqlStore(db_url).sqlalchemy_url)
    with engine.begin() as c:
        assert c.execute(sa.text("SELECT version FROM gb_schema_version")).scalars().all() == [SCHEMA_VERSION]
        c.execute(sa.text("UPDATE gb_schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer than this gradebot"):
        SqlStore(db_url)


def test_claim_next_takes_new_submissions_before_regrades(store):
    """Both dialects: the queue gives new submissions first (students are waiting), then regrades; each oldest
    first. ``queued_regrades`` names the unfinished submissions a regrade queued (the Celery sweeper's priority)."""
    old = [add(store, "s1"), add(store, "s2")]
    for sub in old:
        assert store.finish(sub.id, "done", result(), None, None)
    assert store.requeue_for_regrade([(s.id, False) for s in old], "b1", "all") == [s.id for s in old]
    store.note_enqueued_many([s.id for s in old])
    new = add(store, "s2")
    store.note_enqueued(new.id)
    assert store.queued_regrades() == {s.id for s in old}
    order = []
    while (job := store.claim_next("w1", lease_seconds=600)) is not None:
        order.append(job[0])
        store.finish(job[0], "done", result(), None, None)
        store.release(job[0], job[1], "done", dequeue=True)
    assert order == [new.id] + [s.id for s in old]
    assert store.queued_regrades() == set()  # finished: no longer queued


def test_regrade_requeue_history_progress_and_extensions(store):
    """The instructor's store methods (migration step 3) on both dialects: a regrade logs the old result, puts the
    submission back to queued with the late flag given, and lets ``finish`` record a new result; skipped when
    unfinished. Per-student deadlines are set, replaced and removed."""
    done = add(store, "s1")
    pending = add(store, "s2")
    assert store.finish(done.id, "done", result(2.0), None, "<p>old</p>")
    assert store.requeue_for_regrade([(done.id, True), (pending.id, False), (99999, False)], "b1", "all") == [done.id]
    sub = store.get_submission(done.id)
    assert (sub.status, sub.result, sub.late, sub.deliveries) == ("queued", None, True, 0)
    assert store.feedback_html(done.id) is None and store.unfinished_ids() == [done.id, pending.id]
    [h] = store.regrade_history(done.id)
    assert (h["batch"], h["scope"], h["status"], h["late"], h["result"].total) == ("b1", "all", "done", False, 2.0)
    assert store.regrade_progress("b1")["total"] == 1 and store.regrade_progress("b1")["queued"] == 1
    assert store.regrade_progress("nope")["total"] == 0
    assert store.finish(done.id, "done", result(5.0), None, "<p>new</p>")
    assert store.get_submission(done.id).result.total == 5.0 and store.feedback_html(done.id) == "<p>new</p>"
    assert store.regrade_progress("b1")["done"] == 1 and store.regrade_counts() == {done.id: 1}
    [logged] = store.regrades_after(0)  # the regrade log front ends follow
    assert (logged["submission_id"], logged["student_id"], logged["status"]) == (done.id, "s1", "done")
    assert logged["result"].total == 2.0 and store.last_regrade() == logged["id"]
    assert store.regrades_after(logged["id"]) == []

    when = datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc)
    store.set_extension("s1", when)
    store.set_extension("s1", when + timedelta(days=1))
    assert store.extensions() == {"s1": when + timedelta(days=1)} and store.extension("s2") is None
    store.set_extension("s1", None)
    assert store.extensions() == {}
    with pytest.raises(UnknownStudent):
        store.set_extension("ghost", when)


def test_version_3_database_gets_the_revoked_sessions_and_logouts_are_shared(db_url):
    """Schema step 4: ``gb_revoked_sessions`` is created; a session revoked through one store object (one web
    process) is revoked for another; entries past their expiry are forgotten."""
    import sqlalchemy as sa

    SqlStore(db_url).close()
    engine = sa.create_engine(SqlStore(db_url).sqlalchemy_url)
    with engine.begin() as c:
        for statement in legacy_schemas.V4_TO_V3:
            c.execute(sa.text(statement))
    one, other = SqlStore(db_url), SqlStore(db_url)
    try:
        now = datetime.now(timezone.utc)
        assert other.session_revoked("n1") is False
        one.revoke_session("n1", now + timedelta(hours=12))
        one.revoke_session("n1", now + timedelta(hours=12))  # a second logout of the same session: no error
        one.revoke_session("gone", now - timedelta(seconds=1))  # already expired: forgotten at the next logout
        assert other.session_revoked("n1") and not other.session_revoked("n2")
        other.revoke_session("n2", now + timedelta(hours=12))
        assert one.session_revoked("n2") and not one.session_revoked("gone")
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT version FROM gb_schema_version")).scalars().all() == [SCHEMA_VERSION]
    finally:
        one.close()
        other.close()
        engine.dispose()
