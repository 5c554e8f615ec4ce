"""Unit tests of the core without grading: config, store, roster, policy, counting, course facts, feedback."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import nbformat
import pytest

import tinycourse as tc
from test_web_support import Clock

from gradebot.config import Config
from gradebot.core import access, gradebook
from gradebot.core.course import course_facts
from gradebot.core.errors import (
    AccessDenied,
    ConfigError,
    CourseError,
    DeadlineMissed,
    GradebotError,
    LoginThrottled,
    RateLimited,
    RegistrationError,
    UnknownStudent,
    UnknownSubmission,
)
from gradebot.core.feedback import feedback_html, without_hidden_tests
from gradebot.core.grading import trusted_verdict
from gradebot.core.models import Result, Submission
from gradebot.core.service import GradingService


# ------------------------------------------------------------------------------------------------ config
def test_config_from_env_and_toml(tmp_path):
    toml = tmp_path / "gb.toml"
    toml.write_text('workers = 3\ncounting = "best"\nrate_limit = "5/60"\ndeadline = "2030-01-01T00:00:00"\n')
    cfg = Config.from_env(
        {"GRADEBOT_CONFIG": str(toml), "GRADEBOT_WORKERS": "4", "GRADEBOT_LATE_POLICY": "penalty:0.25"}
    )
    assert cfg.workers == 4  # env beats TOML
    assert cfg.counting == "best"
    assert cfg.rate_limit_rule() == (5, 3600.0)
    assert cfg.late_penalty() == 0.25
    assert cfg.deadline_dt() == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert Config.from_env({}, workers=1).workers == 1
    assert Config.from_env({}).sandbox == "bwrap"  # sandboxed unless the instructor opts out


def test_require_code_setting(tmp_path):
    assert Config.from_env({}).require_code is True  # codes unless the instructor turns them off
    for word, value in (("false", False), ("0", False), ("no", False), ("True", True), ("on", True)):
        assert Config.from_env({"GRADEBOT_REQUIRE_CODE": word}).require_code is value
    toml = tmp_path / "gb.toml"
    toml.write_text("require_code = false\n")
    assert Config.from_env({"GRADEBOT_CONFIG": str(toml)}).require_code is False
    assert Config.from_env({"GRADEBOT_CONFIG": str(toml), "GRADEBOT_REQUIRE_CODE": "yes"}).require_code is True


@pytest.mark.parametrize(
    "bad",
    [
        dict(counting="worst"),
        dict(late_policy="penalty:2"),
        dict(rate_limit="lots"),
        dict(deadline="tomorrow"),
        dict(sandbox="docker"),
        dict(workers="x"),
        dict(memory_bytes=1000),
        dict(require_code="maybe"),
        dict(require_code=2),
        dict(web_secret="short"),
        dict(login_attempts=-1),
        dict(login_lock_minutes=0),
        dict(login_lock_minutes=10, login_max_lock_minutes=5),
        dict(trusted_proxies="10.0.0.0/8, proxy.local"),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        Config.make(**bad)


def test_unknown_setting_is_named():
    with pytest.raises(ConfigError, match="colour"):
        Config.from_env({}, colour="red")


# ------------------------------------------------------------------------------------------------ roster
def test_roster_import_and_telegram_linking(make_config, roster_csv, tmp_path):
    svc = GradingService(make_config())
    assert svc.import_roster(roster_csv).count == 3
    f = tmp_path / "roster.csv"
    f.write_text("student_id,name,group\ns1,Ann Lee-Smith,g9\n")
    assert svc.import_roster(str(f)).count == 1
    assert svc.get_student("s1").name == "Ann Lee-Smith" and svc.get_student("s1").group == "g9"
    assert svc.get_student("nobody") is None
    st = svc.link_telegram("s1", 111)
    assert st.telegram_user_id == 111 and svc.student_by_telegram(111).student_id == "s1"
    svc.link_telegram("s1", 111)  # same pair again: fine
    with pytest.raises(RegistrationError, match="already linked to student 's1'"):
        svc.link_telegram("s2", 111)  # one student per Telegram account
    with pytest.raises(RegistrationError, match="another Telegram account"):
        svc.link_telegram("s1", 222)
    with pytest.raises(RegistrationError, match="unknown student id"):
        svc.link_telegram("zz", 333)
    svc.import_roster(roster_csv)  # re-import keeps the link
    assert svc.student_by_telegram(111).student_id == "s1"


@pytest.mark.parametrize(
    "text,msg",
    [
        ("id,name\n1,a\n", "student_id"),
        ("student_id,name,group\nbad id,a,b\n", "line 2"),
        ("student_id,name,group\ns1,a,b\ns1,c,d\n", "twice"),
        ("student_id,name,group,code\ns1,a,b,abc\n", "line 2: access code"),
        ("student_id,name,group,code\ns1,a,b,ab!c5678\n", "6-32 letters"),
    ],
)
def test_roster_errors(make_config, text, msg):
    svc = GradingService(make_config())
    with pytest.raises(GradebotError, match=msg):
        svc.import_roster(text)


# ------------------------------------------------------------------------------------------------ access codes
def test_generated_codes_are_random_typable_and_forgiving():
    codes = {access.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert set(code.replace("-", "")) <= set(access.ALPHABET)
        assert not set(code) & set("0o1liIOL")
    stored = access.hash_code("k7m2-p9xq")
    assert access.verify_code(stored, "K7M2 P9XQ") and access.verify_code(stored, " k7m2p9xq ")
    assert not access.verify_code(stored, "k7m2-p9xr") and not access.verify_code(stored, "")
    assert not access.verify_code(None, "") and not access.verify_code(None, "k7m2-p9xq")
    assert not access.verify_code("k7m2-p9xq", "k7m2-p9xq")  # a plaintext value is not a hash
    with pytest.raises(ValueError):
        access.hash_code(" - ")


def test_code_hash_is_salted_scrypt_with_the_documented_parameters():
    """The stored form is recomputed here with hashlib.scrypt itself: n=2**15, r=8, p=1, a 16-byte salt, 32 bytes
    of key over the normalized code; two hashes of one code differ (fresh salt)."""
    import base64
    import hashlib

    stored = access.hash_code("K7M2 p9xq")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    salt, key = base64.b64decode(salt), base64.b64decode(key)
    assert len(salt) == 16 and len(key) == 32
    assert hashlib.scrypt(b"k7m2p9xq", salt=salt, n=2**15, r=8, p=1, dklen=32, maxmem=2**26) == key
    assert access.hash_code("k7m2p9xq") != stored and "k7m2" not in stored.lower()


def _issued(done) -> dict[str, str]:
    return {ic.student_id: ic.code for ic in done.issued}


def test_verified_codes_remember_successes_only_and_are_bounded(monkeypatch):
    codes = {sid: access.new_code() for sid in ("a", "b", "c")}
    stored = {sid: access.hash_code(code) for sid, code in codes.items()}
    calls = []
    real_scrypt = access._scrypt
    monkeypatch.setattr(access, "_scrypt", lambda *a: calls.append(a[0]) or real_scrypt(*a))
    seen = access.VerifiedCodes(size=2)
    assert seen.verify("a", stored["a"], codes["a"]) and len(calls) == 1
    assert seen.verify("a", stored["a"], codes["a"].upper()) and len(calls) == 1  # remembered, normalized
    assert seen.verify("b", stored["a"], codes["a"]) and len(calls) == 2  # the student id is part of the key
    assert not seen.verify("a", stored["b"], codes["a"]) and len(calls) == 3  # so is the stored hash
    assert not seen.verify("a", stored["a"], "abcd-2345") and not seen.verify("a", stored["a"], "abcd-2345")
    assert len(calls) == 5  # wrong codes: hashed every time
    assert not seen.verify("a", None, codes["a"]) and not seen.verify("a", stored["a"], "")
    calls.clear()
    assert seen.verify("b", stored["b"], codes["b"]) and seen.verify("c", stored["c"], codes["c"])  # "a" evicted
    assert seen.verify("a", stored["a"], codes["a"]) and len(calls) == 3


def test_roster_issues_codes_once_and_reimport_keeps_them(make_config, roster_csv):
    svc = GradingService(make_config())
    done = svc.import_roster(roster_csv)
    codes = _issued(done)
    assert done.count == 3 and set(codes) == {"s1", "s2", "s3"} and len(set(codes.values())) == 3
    assert [(ic.name, ic.group) for ic in done.issued] == [("Ann Lee", "g1"), ("Bob Stone", "g1"), ("Chen Li", "g2")]
    assert all(len(access.normalize(c)) == access.CODE_LENGTH for c in codes.values())
    for sid, code in codes.items():  # the printed code is the one that works
        assert svc.authenticate(sid, code).student_id == sid
    assert "code" not in repr(svc.get_student("s1")).replace("Student(", "")  # neither code nor hash printed
    assert codes["s1"] not in repr(done.issued[0])
    svc.link_telegram("s2", 42)
    again = svc.import_roster(roster_csv + "s4,Dan,g2\n")  # re-import: same codes, links kept
    assert list(_issued(again)) == ["s4"] and _issued(again)["s4"] not in codes.values()
    for sid, code in codes.items():
        assert svc.authenticate(sid, code).student_id == sid
    assert svc.authenticate("s4", _issued(again)["s4"]).student_id == "s4"
    assert svc.student_by_telegram(42).student_id == "s2"


def test_codes_are_stored_hashed_not_in_plaintext(make_config, roster_csv):
    """The database row holds a scrypt hash; no column holds the code in any spelling."""
    config = make_config()
    svc = GradingService(config)
    codes = _issued(svc.import_roster(roster_csv))
    svc.import_roster("student_id,name,group,code\ns9,Eve,g3,eve-code-9\n")  # a code given in the CSV
    codes["s9"] = "eve-code-9"
    with sqlite3.connect(config.data_path / "gradebot.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        rows = {r["student_id"]: dict(r) for r in conn.execute("SELECT * FROM gb_students")}
    assert set(rows) == {"s1", "s2", "s3", "s9"}
    for sid, row in rows.items():
        assert set(row) == {"student_id", "name", "grp", "telegram_user_id", "code_hash"}
        assert row["code_hash"].startswith("scrypt$")
        dump = " ".join(str(v).lower() for v in row.values())
        assert codes[sid] not in dump and access.normalize(codes[sid]) not in dump
        assert access.verify_code(row["code_hash"], codes[sid])


def test_roster_code_column_sets_and_replaces_codes(make_config, roster_csv):
    svc = GradingService(make_config())
    old = _issued(svc.import_roster(roster_csv))
    svc.link_telegram("s1", 7)
    done = svc.import_roster(
        "student_id,name,group,code\ns1,Ann Lee,g1,Mine-2024\ns2,Bob Stone,g1,\ns9,Eve,g3,eve-code-9\n"
    )
    assert done.count == 3 and done.issued == []  # given codes are not repeated back
    assert svc.authenticate("s1", "mine2024").student_id == "s1"  # the CSV's new code replaces the old one
    assert svc.get_student("s1").telegram_user_id == 7
    with pytest.raises(AccessDenied):
        svc.authenticate("s1", old["s1"])
    assert svc.authenticate("s2", old["s2"]).student_id == "s2"  # empty cell: kept
    assert svc.authenticate("s9", "EVE code 9").student_id == "s9"  # a new student with a given code


def test_reissue_code_replaces_the_old_code(make_config, roster_csv):
    svc = GradingService(make_config())
    old = _issued(svc.import_roster(roster_csv))
    new = svc.reissue_code("s2")
    assert new != old["s2"] and len(access.normalize(new)) == access.CODE_LENGTH
    assert svc.authenticate("s2", new).student_id == "s2"
    with pytest.raises(AccessDenied):
        svc.authenticate("s2", old["s2"])
    assert svc.authenticate("s1", old["s1"]).student_id == "s1"  # the others keep theirs
    with pytest.raises(UnknownStudent, match="no student with id 'ghost' in the roster"):
        svc.reissue_code("ghost")
    assert svc.issue_missing_codes() == []  # everyone has a code


def test_authenticate_same_error_for_unknown_id_and_wrong_code(make_config, roster_csv):
    svc = GradingService(make_config(login_attempts=0, login_client_attempts=0))
    code = _issued(svc.import_roster(roster_csv))["s1"]
    assert svc.authenticate("s1", code.upper().replace("-", " ")).student_id == "s1"
    assert svc.authenticate(" s1 ", code).student_id == "s1"
    errors = []
    for sid, typed in (("s1", "wrong-code"), ("s1", ""), ("s1", None), ("ghost", code), ("s2", code), ("", code)):
        with pytest.raises(AccessDenied) as exc:
            svc.authenticate(sid, typed)
        errors.append(str(exc.value))
    assert len(set(errors)) == 1 and "access code" in errors[0] and "instructor" in errors[0]
    assert isinstance(exc.value, GradebotError)


# ------------------------------------------------------------------------------------------------ throttling
def _wrong(svc, sid, client=None):
    """One wrong code; returns None (plain refusal) or the seconds of the lock it started/met."""
    try:
        svc.authenticate(sid, "wrong-code-1", client=client)
    except LoginThrottled as exc:
        return exc.retry_after_seconds
    except AccessDenied:
        return None
    raise AssertionError("a wrong code was accepted")


def test_wrong_codes_lock_the_student_id_with_exponential_backoff(make_config, roster_csv):
    clock = Clock()
    svc = GradingService(make_config(), clock=clock)  # defaults: 5 wrong codes, 1 min lock, doubled, 15 min
    codes = _issued(svc.import_roster(roster_csv))
    code = codes["s1"]
    assert [_wrong(svc, "s1", client=f"web:10.0.0.{i}") for i in range(5)] == [None] * 4 + [60.0]
    clock.advance(20)
    with pytest.raises(LoginThrottled) as exc:  # the right code is refused while locked...
        svc.authenticate("s1", code, client="web:10.0.1.1")
    assert exc.value.retry_after_seconds == 40.0 and "even the right code" in str(exc.value)
    assert svc.authenticate("s2", codes["s2"]).student_id == "s2"  # another student is not affected
    clock.advance(41)
    assert _wrong(svc, "s1") == 120.0  # ...the next wrong code after the lock: doubled
    clock.advance(121)
    assert _wrong(svc, "s1") == 240.0
    assert "try again in 4 min" in str(LoginThrottled(240.0))
    clock.advance(241)
    assert svc.authenticate("s1", code).student_id == "s1"  # after the lock the right code works and resets
    assert [_wrong(svc, "s1") for _ in range(5)] == [None] * 4 + [60.0]


def test_wrong_codes_are_forgotten_after_the_window(make_config, roster_csv):
    clock = Clock()
    svc = GradingService(make_config(), clock=clock)
    svc.import_roster(roster_csv)
    assert [_wrong(svc, "s2") for _ in range(4)] == [None] * 4
    clock.advance(15 * 60 + 1)  # 15 min without a wrong code
    assert [_wrong(svc, "s2") for _ in range(4)] == [None] * 4
    assert _wrong(svc, "s2") == 60.0
    assert [_wrong(svc, "ghost") for _ in range(5)] == [None] * 4 + [60.0]  # unknown ids alike: no probing


def test_wrong_codes_lock_the_client_across_ids(make_config, roster_csv):
    clock = Clock()
    svc = GradingService(make_config(login_client_attempts=8), clock=clock)
    codes = _issued(svc.import_roster(roster_csv))
    guesser = "web:203.0.113.9"
    assert svc.authenticate("s3", codes["s3"], client=guesser).student_id == "s3"  # one's own code first
    assert [_wrong(svc, f"x{i}", client=guesser) for i in range(8)] == [None] * 7 + [60.0]
    with pytest.raises(LoginThrottled):  # every id is refused from that address...
        svc.authenticate("s1", codes["s1"], client=guesser)
    assert svc.authenticate("s1", codes["s1"], client="web:198.51.100.7").student_id == "s1"  # ...not elsewhere
    clock.advance(61)
    assert svc.authenticate("s3", codes["s3"], client=guesser).student_id == "s3"
    assert _wrong(svc, "x9", client=guesser) == 120.0  # a right code did not reset the client's count


def test_throttle_state_is_shared_through_the_store(make_config, roster_csv):
    """Two services on one store (two web workers): a lock set by one holds in the other; a re-issued code
    clears the student's count."""
    clock = Clock()
    config = make_config()
    one = GradingService(config, clock=clock)
    one.import_roster(roster_csv)
    two = GradingService(config, clock=clock)
    for _ in range(3):
        _wrong(one, "s1")
    assert _wrong(two, "s1") is None and _wrong(one, "s1") == 60.0
    with pytest.raises(LoginThrottled):
        two.authenticate("s1", "whatever")
    new = two.reissue_code("s1")  # the instructor hands out a new code
    assert one.authenticate("s1", new).student_id == "s1"


def test_throttling_can_be_turned_off(make_config, roster_csv):
    svc = GradingService(make_config(login_attempts=0, login_client_attempts=0), clock=Clock())
    code = _issued(svc.import_roster(roster_csv))["s1"]
    assert [_wrong(svc, "s1", client="web:1.2.3.4") for _ in range(12)] == [None] * 12
    assert svc.authenticate("s1", code, client="web:1.2.3.4").student_id == "s1"


OLD_SCHEMA = """
CREATE TABLE students (student_id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', grp TEXT NOT NULL DEFAULT '',
                       telegram_user_id INTEGER UNIQUE);
CREATE TABLE submissions (id INTEGER PRIMARY KEY AUTOINCREMENT,
    student_id TEXT NOT NULL REFERENCES students(student_id), filename TEXT NOT NULL, blob_path TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, source TEXT NOT NULL, late INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'queued', deliveries INTEGER NOT NULL DEFAULT 0,
    result_json TEXT, error TEXT, feedback_html TEXT, finished_at REAL);
INSERT INTO students VALUES ('old1', 'Old One', 'g1', 555), ('old2', 'Old Two', 'g2', NULL);
INSERT INTO submissions(student_id, filename, blob_path, sha256, size, source, created_at)
    VALUES ('old1', 'a.ipynb', '/nowhere', 'x', 1, 'web', 1700000000.0);
"""


def test_old_sqlite_database_is_migrated_on_open(make_config):
    """A store from before access codes: its students have no code until one is issued (and shown); nothing else
    changes."""
    config = make_config()
    config.data_path.mkdir(parents=True)
    db = config.data_path / "gradebot.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
    svc = GradingService(config)
    students = {st.student_id: st for st in svc.list_students()}
    assert set(students) == {"old1", "old2"}
    assert students["old1"].telegram_user_id == 555 and students["old2"].name == "Old Two"
    assert [st.code_hash for st in students.values()] == [None, None]
    with pytest.raises(AccessDenied):
        svc.authenticate("old2", "")
    codes = {ic.student_id: ic.code for ic in svc.issue_missing_codes()}
    assert set(codes) == {"old1", "old2"} and codes["old1"] != codes["old2"]
    assert svc.authenticate("old2", codes["old2"]).student_id == "old2"
    assert [s.filename for s in svc.list_submissions("old1")] == ["a.ipynb"]
    hashes = {st.student_id: st.code_hash for st in svc.list_students()}
    svc.store.close()
    again = GradingService(config)  # opening again changes nothing
    assert {st.student_id: st.code_hash for st in again.list_students()} == hashes
    assert again.issue_missing_codes() == []
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(gb_students)")}
    assert "code_hash" in columns and "access_code" not in columns


# ------------------------------------------------------------------------------------------------ submit policy
def test_submit_checks_student_and_stores(make_config, roster_csv):
    svc = GradingService(make_config())
    svc.import_roster(roster_csv)
    with pytest.raises(UnknownStudent):
        svc.submit("ghost", "a.ipynb", tc.submission())
    sub = svc.submit("s1", "a.ipynb", tc.submission(), source="web")
    assert sub.status == "queued" and not sub.late and sub.source == "web"
    assert svc.queue_length() == 1
    assert [s.id for s in svc.list_submissions("s1")] == [sub.id]
    with pytest.raises(UnknownSubmission):
        svc.get_submission(9999)
    assert svc.wait(sub.id, timeout=0.3).status == "queued"  # no workers: times out, returns state


def test_rate_limit(make_config, roster_csv):
    svc = GradingService(make_config(rate_limit="2/10"))
    svc.import_roster(roster_csv)
    svc.submit("s1", "a.ipynb", tc.submission())
    svc.submit("s1", "a.ipynb", tc.submission())
    with pytest.raises(RateLimited) as exc:
        svc.submit("s1", "a.ipynb", tc.submission())
    assert 0 < exc.value.retry_after_seconds <= 600
    svc.submit("s2", "a.ipynb", tc.submission())  # per student


def test_rate_limit_holds_across_fronts_submitting_at_once(make_config, roster_csv):
    """Two fronts (two services, as two processes would be, on one store) take a student's last slot at the same
    moment: one is accepted, the other refused. Storing the file is slowed down so that both would have counted
    the student's submissions before either stored its own, without the lock across processes."""
    fronts = [GradingService(make_config(rate_limit="1/10")) for _ in range(2)]
    fronts[0].import_roster(roster_csv)
    for svc in fronts:
        write_blob = svc.backend.write_blob

        def slow_write(data, write_blob=write_blob):
            time.sleep(0.3)
            return write_blob(data)

        svc.backend.write_blob = slow_write
    start, outcomes = threading.Barrier(2), []

    def submit(svc):
        start.wait()
        try:
            outcomes.append(svc.submit("s1", "a.ipynb", tc.submission()).id)
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(svc,)) for svc in fronts]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert sorted(outcomes, key=str).count("refused") == 1 and len(outcomes) == 2, outcomes
    assert len(fronts[1].list_submissions("s1")) == 1


def test_submission_quota_follows_the_rate_limit_and_deadline(make_config, roster_csv):
    svc = GradingService(
        make_config(
            rate_limit="2/10", deadline="2030-01-01T00:00:00+03:00", late_policy="penalty:0.25", counting="best"
        )
    )
    svc.import_roster(roster_csv)
    q = svc.submission_quota("s1")
    assert q["left"] == 2 and q["limit"] == 2 and q["window_minutes"] == 10 and q["used"] == 0
    assert q["deadline"] == datetime(2029, 12, 31, 21, 0, tzinfo=timezone.utc) and not q["deadline_passed"]
    assert q["late_penalty"] == 0.25 and q["counting"] == "best" and q["next_at"] is None
    first = svc.submit("s1", "a.ipynb", tc.submission())
    svc.submit("s1", "a.ipynb", tc.submission())
    q = svc.submission_quota("s1")
    assert q["left"] == 0 and q["used"] == 2
    assert abs((q["next_at"] - (first.created_at + timedelta(minutes=10))).total_seconds()) < 1
    assert svc.submission_quota("s2")["left"] == 2  # per student
    # after the window the slots are free again; after the deadline it says so
    later = datetime.now(timezone.utc) + timedelta(minutes=11)
    assert svc.submission_quota("s1", now=later)["left"] == 2
    assert svc.submission_quota("s1", now=datetime(2030, 1, 2, tzinfo=timezone.utc))["deadline_passed"]
    assert GradingService(make_config()).submission_quota("s1")["left"] is None  # no limit configured


def test_deadline_policies(make_config, roster_csv):
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    svc = GradingService(make_config(deadline=past, late_policy="reject"))
    svc.import_roster(roster_csv)
    with pytest.raises(DeadlineMissed):
        svc.submit("s1", "a.ipynb", tc.submission())
    svc2 = GradingService(make_config(deadline=past, late_policy="accept"))
    assert svc2.submit("s1", "a.ipynb", tc.submission()).late is True
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    svc3 = GradingService(make_config(deadline=future, late_policy="reject"))
    assert svc3.submit("s1", "a.ipynb", tc.submission()).late is False


def test_deadline_rule_extension_first_late_only_after_it():
    from gradebot.core.deadlines import deadline_of, is_late

    course = datetime(2030, 1, 1, tzinfo=timezone.utc)
    own = datetime(2030, 1, 5, tzinfo=timezone.utc)
    assert deadline_of(own, course) == own and deadline_of(None, course) == course and deadline_of(None, None) is None
    earlier = datetime(2029, 12, 20, tzinfo=timezone.utc)
    assert deadline_of(earlier, course) == earlier  # the student's own deadline even when it is earlier
    assert deadline_of(own, None) == own
    assert not is_late(course, course)  # at the deadline: on time
    assert is_late(course + timedelta(microseconds=1), course)
    assert not is_late(datetime(2999, 1, 1, tzinfo=timezone.utc), None)  # no deadline: never late


def test_submit_quota_deadline_for_and_regrade_share_the_deadline_rule(make_config, roster_csv, monkeypatch):
    """One rule (gradebot.core.deadlines): replacing it changes what every caller decides."""
    from gradebot.core import deadlines

    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    svc = GradingService(make_config(deadline=past, late_policy="accept"))
    svc.import_roster(roster_csv)
    svc.set_extension("s1", datetime(2999, 1, 1, tzinfo=timezone.utc))
    sub = svc.submit("s1", "a.ipynb", tc.submission())
    assert not sub.late and svc.deadline_for("s1") == datetime(2999, 1, 1, tzinfo=timezone.utc)
    svc.store.finish(sub.id, "done", Result(total=1.0, max=5.0, tasks={}), None, None)
    # a rule that ignores extensions: every caller follows it
    monkeypatch.setattr(deadlines, "deadline_of", lambda own, course: course)
    assert svc.deadline_for("s1") == svc.config.deadline_dt()
    assert svc.submission_quota("s1")["deadline_passed"] is True
    assert svc.submit("s1", "a.ipynb", tc.submission()).late is True
    assert svc.regrade(submission_id=sub.id)["total"] == 1
    assert svc.get_submission(sub.id).late is True
    assert svc.class_table("s1").rows[0]["deadline"] == svc.config.deadline_dt()


def test_late_penalty_applies_to_total(make_config):
    from gradebot.core.grading import apply_late_penalty

    cfg = make_config(late_policy="penalty:0.2")
    r = apply_late_penalty(Result(total=5.0, max=5.0, tasks={}), True, cfg)
    assert r.total == 4.0 and "20%" in r.messages[-1]
    assert apply_late_penalty(Result(total=5.0, max=5.0, tasks={}), False, cfg).total == 5.0


def _sub(i, total, status="done"):
    return Submission(
        id=i,
        student_id="s",
        filename="a",
        created_at=datetime.now(timezone.utc),
        status=status,
        late=False,
        result=Result(total=total, max=5, tasks={}) if status == "done" else None,
        error=None,
    )


def test_counted_attempt_latest_or_best():
    subs = [_sub(1, 4.0), _sub(2, 5.0), _sub(3, 1.0), _sub(4, 0, status="failed")]
    assert gradebook.counted(subs, "latest").id == 3
    assert gradebook.counted(subs, "best").id == 2
    assert gradebook.counted([_sub(1, 3.0), _sub(2, 3.0)], "best").id == 2
    assert gradebook.counted([_sub(4, 0, status="queued")], "latest") is None


def test_store_finish_is_compare_and_set(make_config, roster_csv):
    svc = GradingService(make_config())
    svc.import_roster(roster_csv)
    sub = svc.submit("s1", "a.ipynb", tc.submission())
    r = Result(total=1.0, max=5.0, tasks={"t": {"points": 1.0, "max": 5.0}}, cells={"t__a": 1.0})
    assert svc.store.mark_grading(sub.id) == 1
    assert svc.store.finish(sub.id, "done", r, None, "<p>fb</p>") is True
    assert svc.store.finish(sub.id, "done", Result(total=5.0, max=5.0, tasks={}), None, "x") is False
    got = svc.get_submission(sub.id)
    assert got.result.total == 1.0 and got.result.cells == {"t__a": 1.0}
    assert svc.feedback_html(sub.id) == "<p>fb</p>"
    assert svc.store.mark_grading(sub.id) == 1  # finished: no more deliveries counted


class _Outage(Exception):
    """Stands for a database outage (psycopg.OperationalError for the PostgreSQL store)."""


@pytest.mark.parametrize("transient", [True, False])
def test_store_outage_is_retried_not_recorded_as_failure(make_config, roster_csv, monkeypatch, transient):
    from gradebot.core.jobs import process_submission

    svc = GradingService(make_config())
    svc.import_roster(roster_csv)
    sub = svc.submit("s1", "a.ipynb", tc.submission())
    store = svc.store

    def unreachable(submission_id):
        raise _Outage("connection to the database lost")

    monkeypatch.setattr(store, "blob_path", unreachable)
    monkeypatch.setattr(store, "transient_errors", (_Outage,) if transient else ())
    if transient:
        # the backend gets the error (Celery puts the job back in the queue); nothing is recorded
        with pytest.raises(_Outage):
            process_submission(svc.config, store, sub.id)
        assert store.get_submission(sub.id).status == "grading"
    else:
        # anything else that breaks while grading is this submission's failure, with the reason
        assert process_submission(svc.config, store, sub.id) == "failed"
        got = store.get_submission(sub.id)
        assert got.status == "failed" and "connection to the database lost" in got.error


def test_backend_can_supply_the_gradebook_lock(make_config, roster_csv, monkeypatch):
    from contextlib import contextmanager

    taken = []

    @contextmanager
    def lock(config):
        taken.append(config.assignment)
        yield

    svc = GradingService(make_config())
    svc.import_roster(roster_csv)
    sub = svc.submit("s1", "a.ipynb", tc.submission())
    svc.store.mark_grading(sub.id)
    svc.store.finish(sub.id, "done", Result(total=1.0, max=5.0, tasks={}), None, None)
    monkeypatch.setattr(gradebook, "_lock_factory", None)  # restored after the test
    gradebook.set_lock(lock)
    assert gradebook.record_counted(svc.config, svc.store, "s1") is True
    assert taken == [tc.ASSIGNMENT]
    gradebook.set_lock(None)
    gradebook.record_counted(svc.config, svc.store, "s1")
    assert taken == [tc.ASSIGNMENT]  # the default file lock again
    assert (svc.config.data_path / "main_gradebook.lock").exists()


def test_late_penalty_reaches_the_nbgrader_export(make_config, roster_csv, tmp_path):
    import csv
    from gradebot.core.grading import apply_late_penalty

    config = make_config(late_policy="penalty:0.2")
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    for student, late in (("s1", True), ("s2", False)):
        sub = svc.store.add_submission(
            student, "a.ipynb", "blob", "0" * 64, 10, "web", late, datetime.now(timezone.utc)
        )
        svc.store.mark_grading(sub.id)
        result = Result(total=5.0, max=5.0, tasks={}, cells={"part1_add__visible": 2.0, "part2_mul__hidden": 3.0})
        svc.store.finish(sub.id, "done", apply_late_penalty(result, late, config), None, None)
        assert gradebook.record_counted(config, svc.store, student) is True
    rows = {r["student_id"]: r for r in csv.DictReader(gradebook.export_grades_csv(config, tmp_path / "g.csv").open())}
    assert float(rows["s1"]["raw_score"]) == 5.0 and float(rows["s1"]["late_submission_penalty"]) == 1.0
    assert float(rows["s1"]["score"]) == 4.0
    assert float(rows["s2"]["late_submission_penalty"]) == 0.0 and float(rows["s2"]["score"]) == 5.0


def test_verdict_explains_points_lost_to_stderr_and_refusals(tiny_course, make_config):
    from gradebot.core.grading import _verdict

    facts = course_facts(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK)
    config = make_config()

    def graded_cell(gid, *outputs):
        cell = nbformat.v4.new_code_cell("check()", outputs=list(outputs))
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": gid, "points": 1}
        return cell

    warn = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful with overflow\n")
    err = nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong sum", traceback=[])
    nb = nbformat.v4.new_notebook(
        cells=[graded_cell("part1_add__visible", warn), graded_cell("part2_mul__hidden", warn, err)]
    )
    scores = {"part1_add__visible": 0.0, "part2_mul__hidden": 0.0}
    verdict, messages = _verdict([], nb, facts, False, 0, 1.0, config, "", scores)
    assert verdict == "ok"  # a warning is not a broken sandbox wall
    assert messages == [
        "part1_add__visible: failed (the cell wrote to stderr, which nbgrader counts as an "
        "error: UserWarning: careful with overflow)",
        "part2_mul__hidden: failed (AssertionError: wrong sum)",
    ]


def test_trusted_verdict_from_a_report(make_config):
    config = make_config()
    report = {
        "tests": [
            {"grade_id": "a__x", "passed": True, "kind": "pass", "message": ""},
            {"grade_id": "a__y", "passed": False, "kind": "fail", "hidden": True, "message": "Softmax.forward: nan"},
            {"grade_id": "b__z", "passed": False, "kind": "timeout", "message": "time"},
        ],
        "cells": [{"index": 3, "status": "ok"}, {"index": 5, "status": "error", "error": "MemoryError: x"}],
    }
    verdict, messages = trusted_verdict(report, False, config)
    assert verdict == "timeout"
    assert messages == [
        f"cell 5: out of memory (limit {config.memory_bytes // 2**20} MiB)",
        "a__y: failed ([hidden test] Softmax.forward: nan)",
        "b__z: failed (time)",
    ]
    assert trusted_verdict({"tests": [], "cells": []}, False, config) == ("ok", [])


def test_notes_name_a_cell_by_its_first_line(make_config):
    """Jupyter shows no cell numbers: a note about a cell quotes its first line of code (long ones cut)."""
    from gradebot import messages as msg

    config = make_config()
    long_line = "losses = network.fit(x_train, y_train, epochs=100, batch_size=1, learning_rate=0.001)"
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Задание")]
        + [nbformat.v4.new_code_cell(f"x = {i}") for i in range(1, 5)]
        + [nbformat.v4.new_code_cell("\n  class ReLU(Layer):  \n    pass"), nbformat.v4.new_code_cell(long_line)]
    )
    report = {
        "tests": [],
        "cells": [
            {"index": 5, "status": "error", "error": "MemoryError: x"},
            {"index": 6, "status": "timeout"},
            {"index": 9, "status": "died"},  # not in the notebook: the index alone
        ],
    }
    verdict, messages = trusted_verdict(report, False, config, nb)
    mib = config.memory_bytes // 2**20
    assert messages == [
        f"cell 5 «class ReLU(Layer):»: out of memory (limit {mib} MiB)",
        "cell 6 «losses = network.fit(x_train, y_train, epochs=100…»: stopped after the time limit",  # 49 + …
        "cell 9: the process running it died",
    ]
    assert msg.note(messages[0]) == f"ячейка 5 «class ReLU(Layer):»: не хватило памяти (предел {mib} МиБ)"


# ------------------------------------------------------------------------------------------------ course facts
def test_course_facts_from_source_metadata(tiny_course):
    facts = course_facts(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK)
    assert facts.tasks == tc.TASK_MAX
    assert facts.cells == {"part1_add__visible": 2.0, "part2_mul__hidden": 3.0}
    assert any(tc.HIDDEN_MARKER in line for line in facts.hidden_lines)


def test_course_titles_come_from_the_source_notebooks_metadata(tiny_course, tmp_path):
    """A course declares titles as data in its own source notebook; without them (the tiny course) the ids show."""
    source = tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK
    plain = course_facts(source)
    assert plain.task_titles == {} and plain.test_names == {}
    assert plain.task_title("part1_add") == "part1_add" and plain.test_name("part2_mul__hidden") == "part2_mul__hidden"
    nb = nbformat.read(str(source), as_version=4)
    nb.metadata["gradebot"] = {"tasks": {"part1_add": "1. Сложение"}, "tests": {"part1_add__visible": "add: видимый"}}
    named_path = tmp_path / "named.ipynb"
    nbformat.write(nb, str(named_path))
    named = course_facts(named_path)
    assert named.task_title("part1_add") == "1. Сложение" and named.task_title("part2_mul") == "part2_mul"
    assert named.test_name("part1_add__visible") == "add: видимый"
    r = Result(total=2.0, max=5.0, tasks={"part1_add": {"points": 2.0, "max": 2.0}})
    from gradebot.core.feedback import _summary_html

    assert "<td>1. Сложение</td>" in _summary_html(r, named) and "<td>part1_add</td>" in _summary_html(r, plain)
    nb.metadata["gradebot"] = {"tasks": {"part1_add": 1}}
    nbformat.write(nb, str(named_path))
    with pytest.raises(CourseError, match="metadata gradebot.tasks must map ids to strings"):
        course_facts(named_path)


def test_own_feedback_strips_hidden_tests(tiny_course, monkeypatch):
    import gradebot.core.feedback as fbmod

    monkeypatch.setattr(fbmod, "_course_html", lambda *a, **k: None)  # gradebot's own fallback
    nb = nbformat.read(str(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK), as_version=4)
    nb.cells[2].outputs = [
        nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="", traceback=[f"assert add(-1, 1) == 0  # {tc.HIDDEN_MARKER}"]
        )
    ]
    stripped = without_hidden_tests(nb)
    text = str(stripped)
    assert tc.HIDDEN_MARKER not in text and "assert add(1, 2) == 3" in text
    facts = course_facts(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK)
    r = Result(
        total=2.0,
        max=5.0,
        tasks={"part1_add": {"points": 2.0, "max": 2.0}, "part2_mul": {"points": 0.0, "max": 3.0}},
        cells={"part1_add__visible": 2.0, "part2_mul__hidden": 0.0},
    )
    html = feedback_html(nb, None, r, facts, tc.submission())
    assert tc.HIDDEN_MARKER not in html and "part2_mul" in html


def test_feedback_guard_refuses_leaking_html(tiny_course, monkeypatch):
    """Whatever renders the feedback (the course's safe_feedback too), hidden lines never get out."""
    import gradebot.core.feedback as fbmod

    facts = course_facts(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK)
    leaky = "<html><body><pre>assert mul(3, 4) == 12</pre></body></html>"
    monkeypatch.setattr(fbmod, "_course_html", lambda *a, **k: leaky)
    r = Result(total=0.0, max=5.0, tasks={"part2_mul": {"points": 0.0, "max": 3.0}})
    html = fbmod.feedback_html(None, "x.ipynb", r, facts, tc.submission())
    assert "assert mul(3, 4)" not in html and "unavailable" in html


def test_own_feedback_sanitizes_student_html():
    from gradebot.core.feedback import _own_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>alert(1)</script><b>bold</b>"})]
    nb.cells = [cell]
    html = _own_html(nb, Result(total=0.0, max=1.0, tasks={}))
    assert "<script>alert(1)" not in html and "<b>bold</b>" in html


def test_course_summary_is_the_only_summary(tiny_course, monkeypatch):
    """A course renderer that takes the result (``summary=``) heads the page itself: gradebot adds no second
    summary; an older renderer (``scores`` only) still gets gradebot's on top."""
    import gradebot.core.feedback as fbmod

    facts = course_facts(tiny_course / "source" / tc.ASSIGNMENT / tc.NOTEBOOK)
    r = Result(
        total=2.0,
        max=5.0,
        tasks={"part1_add": {"points": 2.0, "max": 2.0}},
        verdict="timeout",
        messages=["part2_mul__hidden: failed (AssertionError)"],
        cells={"part1_add__visible": 2.0},
    )
    seen = {}

    class NewCourse:
        @staticmethod
        def safe_feedback(path, scores=None, summary=None):
            seen.update(summary)
            return "<!DOCTYPE html><html><body><section id=\"feedback-summary\">Итого</section></body></html>"

    class OldCourse:
        @staticmethod
        def safe_feedback(path, scores=None):
            return "<html><body><p>old</p></body></html>"

    for mod, own in ((NewCourse, False), (OldCourse, True)):
        monkeypatch.setattr(fbmod.importlib, "import_module", lambda name, m=mod: m)
        html = fbmod.feedback_html(None, "x.ipynb", r, facts, tc.submission())
        assert ("gradebot-summary" in html) is own, html
    assert seen["total"] == 2.0 and seen["verdict"] == "timeout" and seen["cells"] == {"part1_add__visible": 2.0}
    assert seen["messages"] == ["part2_mul__hidden: failed (AssertionError)"]
