"""The command-line front end, run as `python -m gradebot ...` subprocesses against the tiny course."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tinycourse as tc

REPO = Path(__file__).resolve().parents[2]


def _run(config, *args, check=True):
    env = dict(os.environ)
    for k, v in config.to_dict().items():
        if v is not None:
            env["GRADEBOT_" + k.upper()] = str(v)
    proc = subprocess.run(
        [sys.executable, "-m", "gradebot", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_grade_json_and_table(make_config, tmp_path):
    config = make_config()
    good = tmp_path / "good.ipynb"
    good.write_bytes(tc.submission(["import wave"]))
    out = json.loads(_run(config, "grade", str(good), "--json").stdout)
    assert out["total"] == 2.0 and out["max"] == 5.0
    assert out["tasks"] == {"part1_add": {"points": 2.0, "max": 2.0}, "part2_mul": {"points": 0.0, "max": 3.0}}
    assert out["verdict"] == "ok" and any("forbidden import: wave" in m for m in out["messages"])
    from gradebot.core.models import Result
    from gradebot.frontends.cli import format_result

    table = format_result(Result(**{k: v for k, v in out.items()}))
    assert "part2_mul" in table and "ИТОГО" in table and "forbidden import: wave" in table


def test_roster_submit_worker_grades_export(make_config, tmp_path):
    config = make_config(workers=1)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Stone,g2\n")
    assert "imported 2" in _run(config, "roster", "import", str(roster)).stderr
    nb = tmp_path / "s1.ipynb"
    nb.write_bytes(tc.submission())
    assert _run(config, "submit", "s1", str(nb)).returncode == 0
    bad = _run(config, "submit", "nobody", str(nb), check=False)
    assert bad.returncode == 2 and "unknown student" in bad.stderr
    worker = subprocess.Popen(
        [sys.executable, "-m", "gradebot", "worker"],
        cwd=REPO,
        env={**os.environ, **{"GRADEBOT_" + k.upper(): str(v) for k, v in config.to_dict().items() if v is not None}},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from gradebot.core.service import GradingService

        svc = GradingService(config)
        sub = svc.wait(1, timeout=300)
        assert sub.status == "done" and sub.result.total == 5.0
        # the job leaves the queue once its result is in the gradebook too (a moment after "done")
        deadline = time.monotonic() + 60
        while svc.queue_length() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert svc.queue_length() == 0
    finally:
        worker.terminate()
        worker.wait(60)
    grades = json.loads(_run(config, "grades", "--json").stdout)
    assert [(g["student_id"], g["total"]) for g in grades] == [("s1", 5.0), ("s2", None)]
    out = tmp_path / "grades.csv"
    _run(config, "export-grades", str(out))
    rows = list(csv.DictReader(out.open()))
    s1 = [r for r in rows if r["student_id"] == "s1"]
    assert len(s1) == 1 and float(s1[0]["score"]) == 5.0 and float(s1[0]["max_score"]) == 5.0


def _codes(text: str) -> dict[str, str]:
    return {r["student_id"]: r["code"] for r in csv.DictReader(text.splitlines())}


def test_roster_import_shows_new_codes_once(make_config, tmp_path):
    """`roster import` prints the codes it issues as CSV (stdout or a new 0600 --out file) with a note that they
    cannot be shown again; the database holds no trace of them; a re-import issues none; `roster codes` is gone."""
    from gradebot.core.service import GradingService

    config = make_config()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Stone,g2\n")
    proc = _run(config, "roster", "import", str(roster))
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    assert [(r["student_id"], r["name"], r["group"]) for r in rows] == [
        ("s1", "Ann Lee", "g1"),
        ("s2", "Bob Stone", "g2"),
    ]
    codes = _codes(proc.stdout)
    assert all(len(c.replace("-", "")) == 8 for c in codes.values()) and codes["s1"] != codes["s2"]
    assert "imported 2 student(s)" in proc.stderr and "cannot be printed again" in proc.stderr
    svc = GradingService(config)
    assert svc.authenticate("s1", codes["s1"]).student_id == "s1"  # the printed code logs in
    svc.store.close()
    files = list(config.data_path.glob("gradebot.sqlite3*"))
    stored = b"".join(f.read_bytes() for f in files)
    for code in codes.values():
        assert code.encode() not in stored and code.replace("-", "").encode() not in stored

    again = _run(config, "roster", "import", str(roster), "--out", str(tmp_path / "none.csv"))
    assert again.stdout == "" and "no new access codes" in again.stderr  # re-import: codes unchanged, none shown
    assert not (tmp_path / "none.csv").exists()
    roster.write_text("student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Stone,g2\ns3,Cy,g3\n")
    out = tmp_path / "codes.csv"
    proc = _run(config, "roster", "import", str(roster), "--out", str(out))
    assert proc.stdout == "" and f"to {out}" in proc.stderr
    assert (out.stat().st_mode & 0o777) == 0o600 and list(_codes(out.read_text())) == ["s3"]
    refused = _run(config, "roster", "import", str(roster), "--out", str(out), check=False)
    assert refused.returncode == 2 and "exists" in refused.stderr  # never overwrites earlier codes
    assert list(_codes(out.read_text())) == ["s3"]

    gone = _run(config, "roster", "codes", check=False)
    assert gone.returncode == 2 and "stored hashed" in gone.stderr and "reissue-code" in gone.stderr
    assert gone.stdout == ""


def test_reissue_code_prints_the_new_code_once(make_config, tmp_path):
    from gradebot.core.errors import AccessDenied
    from gradebot.core.models import Student
    from gradebot.core.service import GradingService

    config = make_config()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,group,code\ns1,Ann Lee,g1,ann-code-1\ns2,Bob Stone,g2,bob-code-2\n")
    assert _run(config, "roster", "import", str(roster)).stdout == ""  # codes given in the CSV: not echoed
    proc = _run(config, "roster", "reissue-code", "s1")
    new = _codes(proc.stdout)
    assert list(new) == ["s1"] and "cannot be printed again" in proc.stderr
    svc = GradingService(config)
    assert svc.authenticate("s1", new["s1"]).student_id == "s1"
    with pytest.raises(AccessDenied):
        svc.authenticate("s1", "ann-code-1")  # the old code is dead

    bad = _run(config, "roster", "reissue-code", "ghost", "s2", check=False)
    assert bad.returncode == 2 and "unknown student id(s): ghost" in bad.stderr and bad.stdout == ""
    assert svc.authenticate("s2", "bob-code-2").student_id == "s2"  # nothing changed
    assert _run(config, "roster", "reissue-code", check=False).returncode == 2

    svc.store.upsert_students([Student("s3", "Cy", "g3")])  # a student without a code
    out = tmp_path / "missing.csv"
    proc = _run(config, "roster", "reissue-code", "--all-missing", "--out", str(out))
    missing = _codes(out.read_text())
    assert list(missing) == ["s3"] and proc.stdout == "" and (out.stat().st_mode & 0o777) == 0o600
    assert svc.authenticate("s3", missing["s3"]).student_id == "s3"
    assert "nothing issued" in _run(config, "roster", "reissue-code", "--all-missing").stderr


def test_frontends_are_dispatched_lazily(make_config, monkeypatch):
    """`serve`/`telegram` import gradebot.frontends.web/telegram only when asked and pass argv + config."""
    import types
    from gradebot.frontends import cli

    calls = []
    fake = types.ModuleType("gradebot.frontends.fakefe")
    fake.main = lambda argv=None, config=None: calls.append((argv, config.assignment)) or 0
    monkeypatch.setitem(sys.modules, "gradebot.frontends.web", fake)
    monkeypatch.setitem(sys.modules, "gradebot.frontends.telegram", fake)
    config = make_config()
    monkeypatch.setenv("GRADEBOT_COURSE_ROOT", str(config.course_root))
    monkeypatch.setenv("GRADEBOT_ASSIGNMENT", "tiny")
    monkeypatch.setenv("GRADEBOT_NOTEBOOK", "tiny.ipynb")
    assert cli.main(["serve", "--port", "9"]) == 0
    assert cli.main(["telegram"]) == 0
    assert calls == [(["--port", "9"], "tiny"), ([], "tiny")]


def test_table_names_tasks_and_failed_tests_as_the_real_course_does():
    from pathlib import Path

    from coursekit import SOURCE_NOTEBOOK
    from gradebot.core.course import course_facts
    from gradebot.core.models import Result
    from gradebot.frontends.cli import format_result

    result = Result(
        total=4.0,
        max=45.0,
        tasks={"part1_forward": {"points": 4.0, "max": 5.0}},
        messages=["part1_forward__relu: failed (ReLU.forward: не совпало 1 из 6 чисел)", "late: -20%"],
    )
    table = format_result(result, course_facts(Path(SOURCE_NOTEBOOK))).split("\n")
    assert table[1].split() == ["part1_forward", "(1.", "Прямой", "проход)", "4", "5"]
    assert table[0].split() == ["задание", "баллы", "макс."] and table[2].split() == ["ИТОГО", "4", "45"]
    assert table[3] == "итог проверки: проверено (ok)" and table[4] == "Не пройдены тесты (1):"
    assert "  - ReLU: прямой проход (part1_forward__relu): ReLU.forward: не совпало 1 из 6 чисел" in table
    assert "  - late: -20%" in table
    plain = format_result(result).split("\n")
    assert plain[1].split() == ["part1_forward", "4", "5"]
    assert "  - part1_forward__relu: ReLU.forward: не совпало 1 из 6 чисел" in plain


def test_export_notebooks_writes_counted_or_latest_and_never_overwrites(make_config, tmp_path, roster_csv):
    """s1 submits twice (the first scores 5, the second 2), s2 never: with counting=best the counted notebook is the
    first, the latest is the second; a second export into the same directory stops before writing anything."""
    from gradebot.core.models import Result
    from gradebot.core.service import GradingService

    config = make_config(counting="best")
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    first, second = tc.submission(), tc.submission(solved=False)
    for data, total in ((first, 5.0), (second, 2.0)):
        sub = svc.submit("s1", "tiny.ipynb", data)
        svc.store.finish(sub.id, "done", Result(total=total, max=5.0, tasks={}), None, None)
    out = tmp_path / "counted"
    proc = _run(config, "export-notebooks", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["s1.ipynb"] and (out / "s1.ipynb").read_bytes() == first
    assert "wrote 1 notebook(s) (counted attempts)" in proc.stderr
    _run(config, "export-notebooks", "--out", str(tmp_path / "latest"), "--which", "latest")
    assert (tmp_path / "latest" / "s1.ipynb").read_bytes() == second
    (out / "s1.ipynb").write_bytes(b"instructor's notes")
    again = _run(config, "export-notebooks", "--out", str(out), "--which", "latest", check=False)
    assert again.returncode == 2 and "already there" in again.stderr
    assert (out / "s1.ipynb").read_bytes() == b"instructor's notes"
