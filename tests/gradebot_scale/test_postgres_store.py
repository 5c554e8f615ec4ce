"""PostgresStore and the claim protocol against a real PostgreSQL server (no grading: fast)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from gradebot.backends.postgres_store import PostgresStore, normalize_url
from gradebot.core import access
from gradebot.core.errors import ConfigError, RegistrationError, UnknownStudent
from gradebot.core.models import Result, Student


@pytest.fixture
def store(fresh_pg_url):
    s = PostgresStore(fresh_pg_url)
    s.upsert_students([Student("s1", "Ann Lee", "g1"), Student("s2", "Bob Ray", "g2")])
    yield s
    s.close()


def add(store, student="s1", data=b'{"cells": []}'):
    ref, sha = store.put_blob(data)
    return store.add_submission(student, "nb.ipynb", ref, sha, len(data), "web", False,
                                datetime.now(timezone.utc))


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
    data = bytes(range(256)) * 1000          # arbitrary binary content, 256 kB
    sub = add(store, data=data)
    ref = store.blob_path(sub.id)
    assert ref.startswith("pgblob:")
    assert store.get_blob(ref) == data
    # another connection (another machine) reads the same bytes: nothing is on a local disk
    other = PostgresStore(store.url)
    assert other.get_blob(other.blob_path(sub.id)) == data


def test_submission_lifecycle_and_finish_is_compare_and_set(store):
    sub = add(store)
    assert sub.status == "queued" and sub.result is None and sub.created_at.tzinfo is not None
    assert store.unfinished_ids() == [sub.id]
    assert store.mark_grading(sub.id) == 1
    assert store.mark_grading(sub.id) == 2            # a redelivery counts
    assert store.finish(sub.id, "done", result(5.0), None, "<p>fb</p>") is True
    assert store.finish(sub.id, "done", result(1.0), None, "<p>other</p>") is False
    assert store.finish(sub.id, "failed", None, "late duplicate", None) is False
    got = store.get_submission(sub.id)
    assert got.status == "done" and got.result.total == 5.0 and got.result.cells == {"t__a": 5.0}
    assert store.feedback_html(sub.id) == "<p>fb</p>"
    assert store.result_count(sub.id) == 1
    assert store.mark_grading(sub.id) == 2            # finished: no more deliveries counted
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
    assert store.claim(sub.id, "hostB/2", lease_seconds=2) is None      # live claim: duplicate dropped
    assert store.heartbeat(sub.id, t1) is True
    time.sleep(2.5)                                                     # hostA stops beating (it died)
    t2 = store.claim(sub.id, "hostB/2", lease_seconds=2)
    assert t2 and t2 != t1
    assert store.heartbeat(sub.id, t1) is False                         # hostA's claim was taken over
    store.release(sub.id, t1, "done")                                   # a late release of A does nothing
    assert store.claim(sub.id, "hostC/3", lease_seconds=60) is None
    store.finish(sub.id, "done", result(), None, None)
    store.release(sub.id, t2, "done")
    log = store.attempts(sub.id)
    assert [(a["worker"], a["outcome"]) for a in log] == [("hostA/1", "lost"), ("hostB/2", "done")]
    assert store.claim(sub.id, "hostD/4", lease_seconds=2) is None      # finished: never claimed again


def test_same_worker_takes_its_abandoned_claim_back(store):
    sub = add(store)
    t1 = store.claim(sub.id, "hostA/7", lease_seconds=600)
    assert store.claim(sub.id, "hostB/8", lease_seconds=600) is None
    t2 = store.claim(sub.id, "hostA/7", lease_seconds=600)               # e.g. redelivered after a DB error
    assert t2 and t2 != t1
    assert [a["outcome"] for a in store.attempts(sub.id)] == ["lost", None]


def test_students_and_telegram_links(store):
    assert store.get_student("s1").name == "Ann Lee"
    store.upsert_students([Student("s1", "Ann Smith", "g9")])
    assert store.get_student("s1").group == "g9"
    assert store.link_telegram("s1", 111).telegram_user_id == 111
    assert store.link_telegram("s1", 111).telegram_user_id == 111       # same pair again: no-op
    with pytest.raises(RegistrationError, match="already linked to student 's1'"):
        store.link_telegram("s2", 111)
    with pytest.raises(RegistrationError, match="another Telegram account"):
        store.link_telegram("s1", 222)
    with pytest.raises(RegistrationError, match="unknown student"):
        store.link_telegram("nobody", 333)
    store.upsert_students([Student("s1", "Ann", "g1")])
    assert store.student_by_telegram(111).student_id == "s1"            # roster update keeps the link
    assert [s.student_id for s in store.list_students()] == ["s1", "s2"]
    with pytest.raises(UnknownStudent):
        add(store, student="nobody")


def test_access_codes_generated_kept_and_set(store):
    codes = {st.student_id: st.access_code for st in store.list_students()}
    assert all(len(access.normalize(c)) == access.CODE_LENGTH for c in codes.values())
    assert codes["s1"] != codes["s2"] and "access_code" not in repr(store.get_student("s1"))
    store.link_telegram("s2", 77)
    store.upsert_students([Student("s1", "Ann Smith", "g9"), Student("s2", "Bob Ray", "g2"),
                           Student("s3", "Cy", "g3", access_code="cy-code-33")])
    assert store.get_student("s1").access_code == codes["s1"]            # re-import keeps codes...
    assert store.student_by_telegram(77).access_code == codes["s2"]      # ...and links
    assert store.get_student("s3").access_code == "cy-code-33"
    store.upsert_students([Student("s1", "Ann Smith", "g9", access_code="new-code-11")])
    assert store.get_student("s1").access_code == "new-code-11"          # a given code replaces the old one


OLD_STUDENTS = """
CREATE TABLE gb_students (student_id text PRIMARY KEY, name text NOT NULL DEFAULT '',
                          grp text NOT NULL DEFAULT '', telegram_user_id bigint UNIQUE);
INSERT INTO gb_students VALUES ('old1', 'Old One', 'g1', 555), ('old2', 'Old Two', 'g2', NULL);
"""


def test_old_database_is_migrated_on_open(fresh_pg_url):
    """A gb_students table from before access codes gets the column and a code for every student."""
    import psycopg
    with psycopg.connect(fresh_pg_url, autocommit=True) as c:
        c.execute(OLD_STUDENTS)
    s = PostgresStore(fresh_pg_url)
    try:
        students = {st.student_id: st for st in s.list_students()}
        assert students["old1"].telegram_user_id == 555 and students["old2"].name == "Old Two"
        codes = {sid: st.access_code for sid, st in students.items()}
        assert all(codes.values()) and codes["old1"] != codes["old2"]
        again = PostgresStore(fresh_pg_url)                              # opening again changes nothing
        assert {st.student_id: st.access_code for st in again.list_students()} == codes
        again.close()
    finally:
        s.close()


def test_submission_times_and_listing(store):
    a = add(store, "s1")
    b = add(store, "s2")
    c = add(store, "s1")
    assert [s.id for s in store.list_submissions()] == [a.id, b.id, c.id]
    assert [s.id for s in store.list_submissions("s1")] == [a.id, c.id]
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert len(store.submission_times_since("s1", since)) == 2
    assert store.submission_times_since("s1", datetime.now(timezone.utc) + timedelta(minutes=1)) == []


def test_to_publish_finds_never_published_and_lost(store):
    a = add(store)
    b = add(store)
    store.note_enqueued(a.id, published=True)
    store.note_enqueued(b.id, published=False)                          # the broker was down
    c = add(store)                                                      # front died before publishing
    assert store.to_publish(6, min_age=0) == [b.id, c.id]
    assert store.to_publish(6, min_age=3600) == [b.id]                  # c may still be being submitted
    assert store.to_publish(6, broker_lost=True, min_age=0) == [a.id, b.id, c.id]
    token = store.claim(a.id, "w/1", 60)
    assert store.to_publish(6, broker_lost=True, min_age=0) == [b.id, c.id]   # a is being graded
    store.finish(a.id, "done", result(), None, None)
    store.release(a.id, token, "done")
    store.note_enqueued(b.id, published=True)
    store.note_enqueued(c.id, published=True)
    assert store.to_publish(6, min_age=0) == []
