"""The command-line front end, run as `python -m gradebot ...` subprocesses against the tiny course."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gradebot import tinycourse as tc

REPO = Path(__file__).resolve().parents[2]


def _run(config, *args, check=True):
    env = dict(os.environ)
    for k, v in config.to_dict().items():
        if v is not None:
            env["GRADEBOT_" + k.upper()] = str(v)
    proc = subprocess.run([sys.executable, "-m", "gradebot", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)
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
    assert "imported 2" in _run(config, "roster", "import", str(roster)).stdout
    nb = tmp_path / "s1.ipynb"
    nb.write_bytes(tc.submission())
    assert _run(config, "submit", "s1", str(nb)).returncode == 0
    bad = _run(config, "submit", "nobody", str(nb), check=False)
    assert bad.returncode == 2 and "unknown student" in bad.stderr
    worker = subprocess.Popen([sys.executable, "-m", "gradebot", "worker"], cwd=REPO, env={
        **os.environ,
        **{"GRADEBOT_" + k.upper(): str(v) for k, v in config.to_dict().items() if v is not None}},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def test_roster_codes_to_stdout_and_file(make_config, tmp_path):
    """`roster codes` prints student_id,name,group,code; --out writes the same CSV readable by its owner only;
    importing the roster again keeps the codes, a `code` column sets them."""
    config = make_config()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Stone,g2\n")
    _run(config, "roster", "import", str(roster))
    rows = list(csv.DictReader(_run(config, "roster", "codes").stdout.splitlines()))
    assert [(r["student_id"], r["name"], r["group"]) for r in rows] == [("s1", "Ann Lee", "g1"),
                                                                        ("s2", "Bob Stone", "g2")]
    codes = {r["student_id"]: r["code"] for r in rows}
    assert all(len(c.replace("-", "")) == 8 for c in codes.values()) and codes["s1"] != codes["s2"]

    _run(config, "roster", "import", str(roster))                   # re-import: codes unchanged
    out = tmp_path / "codes.csv"
    proc = _run(config, "roster", "codes", "--out", str(out))
    assert proc.stdout == "" and "2 student(s)" in proc.stderr
    assert (out.stat().st_mode & 0o777) == 0o600
    assert {r["student_id"]: r["code"] for r in csv.DictReader(out.open())} == codes

    roster.write_text("student_id,name,group,code\ns1,Ann Lee,g1,ann-secret-1\n")
    _run(config, "roster", "import", str(roster))
    rows = {r["student_id"]: r["code"] for r in csv.DictReader(_run(config, "roster", "codes").stdout.splitlines())}
    assert rows == {"s1": "ann-secret-1", "s2": codes["s2"]}


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
    result = Result(total=4.0, max=45.0, tasks={"part1_forward": {"points": 4.0, "max": 5.0}},
                    messages=["part1_forward__relu: failed (ReLU.forward: не совпало 1 из 6 чисел)", "late: -20%"])
    table = format_result(result, course_facts(Path(SOURCE_NOTEBOOK))).split("\n")
    assert table[1].split() == ["part1_forward", "(1.", "Прямой", "проход)", "4", "5"]
    assert table[0].split() == ["задание", "баллы", "макс."] and table[2].split() == ["ИТОГО", "4", "45"]
    assert table[3] == "итог проверки: проверено (ok)" and table[4] == "Не пройдены тесты (1):"
    assert "  - ReLU: прямой проход (part1_forward__relu): ReLU.forward: не совпало 1 из 6 чисел" in table
    assert "  - late: -20%" in table
    plain = format_result(result).split("\n")
    assert plain[1].split() == ["part1_forward", "4", "5"]
    assert "  - part1_forward__relu: ReLU.forward: не совпало 1 из 6 чисел" in plain
