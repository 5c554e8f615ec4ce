"""Command-line front end: ``python -m gradebot <command>``.

Commands
    grade FILE.ipynb [--json]      grade one notebook now (no store, no queue) and print points per task
    serve                          the web front end (gradebot.frontends.web:main)
    telegram                       the Telegram bot (gradebot.frontends.telegram:main)
    worker                         run the configured backend's workers in the foreground
    roster import FILE.csv [--out CODES.csv]
                                   import/update students (columns student_id,name,group[,code]); the codes it
                                   issues (students without one) are written as CSV student_id,name,group,code -
                                   shown this once: the store keeps only their hashes
    roster reissue-code STUDENT_ID... | --all-missing [--out CODES.csv]
                                   a fresh code for these students (or for every student without one), printed
                                   once as the same CSV; the old code and its web cookies stop working
    submit STUDENT_ID FILE.ipynb [--wait] [--json]   queue a submission (graded by running workers)
    grades [--json]                the counted attempt of every student
    export-grades OUT.csv          nbgrader export of the course gradebook
    export-notebooks --out DIR [--which counted|latest]
                                   each student's notebook as DIR/<student_id>.ipynb (for similarity, archives)
    similarity NOTEBOOK|DIR... [--against DIR] [--json] [--out report.html]
                                   similarity report of the students' code (honor code; gradebot/similarity.py)
    report --out DIR [--unit auto|hour|day]
                                   class statistics as stats.json, plots/*.svg|png and index.html (gradebot/cockpit)

Settings come from ``GRADEBOT_*`` env vars / ``GRADEBOT_CONFIG`` (see gradebot/config.py); the global options
``--config --data-dir --course-root --assignment --notebook --workers --sandbox`` override them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot.core.errors import GradebotError

if TYPE_CHECKING:
    from gradebot.core.course import CourseFacts
    from gradebot.core.models import Result

OVERRIDES = ("data_dir", "course_root", "assignment", "notebook", "workers", "sandbox")
CODES_OUT_HELP = (
    "new CSV file for the issued codes (created readable by its owner only; an existing file is never "
    "overwritten); default: stdout"
)
SHOWN_ONCE = (
    "They are shown only now: the store keeps their hashes, so they cannot be printed again. Hand them "
    "out and keep or delete the file; a lost code is replaced with "
    "`python -m gradebot roster reissue-code STUDENT_ID`."
)
CODES_REMOVED = (
    "`roster codes` is gone: access codes are stored hashed and cannot be printed. Codes are printed "
    "once, when issued: `roster import FILE.csv` (students without a code) or "
    "`roster reissue-code STUDENT_ID... | --all-missing`."
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gradebot", description="numnet grading bot")
    p.add_argument("--config", help="TOML config file (same as GRADEBOT_CONFIG)")
    for name in OVERRIDES:
        p.add_argument("--" + name.replace("_", "-"), dest=name)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one notebook synchronously")
    g.add_argument("file")
    g.add_argument("--json", action="store_true")
    for name, text in (("serve", "run the web front end"), ("telegram", "run the Telegram bot")):
        sub.add_parser(name, help=text + " (further arguments are passed to it)")
    sub.add_parser("worker", help="run the backend's workers in the foreground")
    r = sub.add_parser("roster", help="roster commands")
    rsub = r.add_subparsers(dest="roster_command", required=True)
    ri = rsub.add_parser(
        "import", help="import students from CSV (student_id,name,group[,code]); prints the codes it issues, once"
    )
    ri.add_argument("file")
    ri.add_argument("--out", help=CODES_OUT_HELP)
    rr = rsub.add_parser("reissue-code", help="issue fresh access codes and print them, once")
    rr.add_argument("student_ids", nargs="*", metavar="STUDENT_ID")
    rr.add_argument("--all-missing", action="store_true", help="every student who has no code yet")
    rr.add_argument("--out", help=CODES_OUT_HELP)
    rsub.add_parser("codes", help="(removed: codes are stored hashed; use 'import' or 'reissue-code')")
    s = sub.add_parser("submit", help="queue a notebook for a student")
    s.add_argument("student_id")
    s.add_argument("file")
    s.add_argument("--wait", action="store_true", help="wait for the result (workers must be running)")
    s.add_argument("--json", action="store_true")
    gr = sub.add_parser("grades", help="show the counted attempt of every student")
    gr.add_argument("--json", action="store_true")
    e = sub.add_parser("export-grades", help="export the course gradebook to CSV (nbgrader export)")
    e.add_argument("out")
    en = sub.add_parser(
        "export-notebooks", help="write each student's counted (or latest) notebook as DIR/<student_id>.ipynb"
    )
    en.add_argument("--out", required=True, metavar="DIR", help="directory (created; existing files are kept)")
    en.add_argument(
        "--which",
        choices=("counted", "latest"),
        default="counted",
        help="counted: the attempt the grades use (default); latest: the newest submission",
    )
    sm = sub.add_parser("similarity", help="which submissions share long, specific code (honor code)")
    sm.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="notebooks, or directories of notebooks")
    sm.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="DIR",
        help="archive of earlier notebooks (directory or file; repeatable): compared with the current ones only",
    )
    sm.add_argument("--json", action="store_true", help='print {"pairs": [{"a", "b", "score", "flagged"}, ...]}')
    sm.add_argument("--out", metavar="HTML", help="write the report page (flagged pairs side by side)")
    sm.add_argument(
        "--boilerplate",
        metavar="NOTEBOOK",
        help="the notebook the students started from (default: the course's release notebook)",
    )
    sm.add_argument("--threshold", type=float, help="flag pairs with score >= this (default 0.5)")
    rp = sub.add_parser("report", help="write the class statistics (JSON, plots, one HTML page) into a directory")
    rp.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="new or empty directory, or an earlier report's (only the report's files are written)",
    )
    rp.add_argument(
        "--unit",
        choices=("auto", "hour", "day"),
        default="auto",
        help="bucket of the submissions-over-time plot (default: hourly up to 3 days, else daily)",
    )
    return p


def _config(args):
    from gradebot.config import Config

    if args.config:
        os.environ["GRADEBOT_CONFIG"] = args.config
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k, None) is not None}
    return Config.from_env(**overrides)


def format_result(result: Result, facts: CourseFacts | None = None) -> str:
    """The result as a table in the words of the message catalog; with the course's ``facts`` the tasks and
    failed tests carry the course's titles (and their ids, which scripts and the gradebook use)."""
    from gradebot import messages as msg
    from gradebot.core.models import failed_tests

    width = max([24] + [len(_title(facts, t)) for t in result.tasks])
    lines = [f"{msg.TABLE_TASK:<{width}} {msg.TABLE_POINTS:>8} {msg.TABLE_MAX:>6}"]
    for task, v in result.tasks.items():
        lines.append(f"{_title(facts, task):<{width}} {msg.points(v['points']):>8} {msg.points(v['max']):>6}")
    lines.append(f"{msg.TABLE_TOTAL:<{width}} {msg.points(result.total):>8} {msg.points(result.max):>6}")
    lines.append(f"{msg.TABLE_VERDICT}: {msg.VERDICT.get(result.verdict, result.verdict)} ({result.verdict})")
    failed = dict(failed_tests(result.messages))
    if failed:
        lines.append(msg.FAILED_HEAD_T.format(n=len(failed)))
    for gid, reason in failed.items():
        lines.append(f"  - {msg.test_label(facts, gid)}: {msg.failure_reason(reason)}")
    notes = msg.result_notes(result.messages)
    if notes:
        lines.append(msg.NOTES_HEAD)
    lines.extend(f"  - {m}" for m in notes)
    return "\n".join(lines)


def _title(facts, task: str) -> str:
    return task if facts is None or facts.task_title(task) == task else f"{task} ({facts.task_title(task)})"


def _facts(config):
    """The course's facts for the table's titles, or None if the source notebook cannot be read."""
    from gradebot.core.course import course_facts
    from gradebot.core.errors import CourseError

    try:
        return course_facts(config.source_notebook)
    except (CourseError, OSError, ValueError):
        return None


def _front_end(name: str, config, rest: list[str]) -> int:
    """Run ``gradebot.frontends.<name>:main(argv, config=...)`` (imported only now)."""
    main = getattr(importlib.import_module(f"gradebot.frontends.{name}"), "main")
    return int(main(rest, config=config) or 0)


def _open_codes_file(out: str | None):
    """The file for issued codes, opened before anything is issued: a new file, mode 0600 (the codes are secrets),
    never an existing one (its codes could not be printed again). None: stdout."""
    if out is None:
        return None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise GradebotError(
            f"{out} exists: the codes in it cannot be printed again, so it is not overwritten; "
            "choose another --out file"
        ) from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _write_codes(f, out: str | None, issued) -> None:
    """Write the issued codes as CSV to ``f`` (stdout if None) and say on stderr that they are shown once."""
    from gradebot.core.service import codes_csv

    if f is None:
        sys.stdout.write(codes_csv(issued))
        sys.stdout.flush()
        where = "above (stdout)"
    else:
        with f:
            f.write(codes_csv(issued))
        where = f"to {out}"
    print(f"wrote {len(issued)} new access code(s) {where}. {SHOWN_ONCE}", file=sys.stderr)


def _discard(f, out: str | None) -> None:
    if f is not None:
        f.close()
        os.unlink(out)


def _roster_import(svc, path: str, out: str | None) -> int:
    """``roster import``: import, then write the codes issued to students who had none (once)."""
    f = _open_codes_file(out)
    try:
        done = svc.import_roster(Path(path))
    except BaseException:
        _discard(f, out)
        raise
    print(f"imported {done.count} student(s)", file=sys.stderr)
    if done.issued:
        _write_codes(f, out, done.issued)
    else:
        _discard(f, out)
        print(
            "no new access codes: every student already has one (codes given in the CSV are not repeated)",
            file=sys.stderr,
        )
    return 0


def _reissue(svc, student_ids: list[str], all_missing: bool, out: str | None) -> int:
    """``roster reissue-code``: fresh codes for the named students (all checked first) or those without one."""
    from gradebot.core.service import IssuedCode

    if bool(student_ids) == bool(all_missing):
        raise GradebotError("name the students (roster reissue-code STUDENT_ID...) or give --all-missing, not both")
    students = {st.student_id: st for st in svc.list_students()}
    unknown = [sid for sid in student_ids if sid not in students]
    if unknown:
        raise GradebotError(
            f"unknown student id(s): {', '.join(unknown)} - not in the roster (import them with "
            "`roster import`); no code was changed"
        )
    f = _open_codes_file(out)
    try:
        if all_missing:
            issued = svc.issue_missing_codes()
        else:
            issued = [
                IssuedCode(sid, students[sid].name, students[sid].group, svc.reissue_code(sid))
                for sid in dict.fromkeys(student_ids)
            ]
    except BaseException:
        _discard(f, out)
        raise
    if not issued:
        _discard(f, out)
        print("every student has an access code: nothing issued", file=sys.stderr)
        return 0
    _write_codes(f, out, issued)
    return 0


def _similarity(args, config) -> int:
    """``similarity``: the report as JSON or text on stdout, optionally as HTML; skipped files on stderr."""
    from gradebot import similarity

    boilerplate = args.boilerplate or config.course_path / "release" / config.assignment / config.notebook
    try:
        settings = similarity.Settings() if args.threshold is None else similarity.Settings(threshold=args.threshold)
    except ValueError as exc:
        print(f"error: --threshold: {exc}", file=sys.stderr)
        return 2
    try:
        report = similarity.similarity_report(args.notebooks, boilerplate, args.against, settings)
    except similarity.SimilarityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for message in report.errors:
        print(f"error: {message} (skipped)", file=sys.stderr)
    if len(report.documents) < 2:
        print(f"error: {len(report.documents)} readable notebook(s): nothing to compare", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(similarity.render_html(report), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(f"{len(report.documents)} notebooks, {sum(p.flagged for p in report.pairs)} flagged pair(s)")
        for p in report.pairs[:50]:
            print(f"{p.score:6.3f} {'FLAGGED' if p.flagged else '       '} {p.a}  {p.b}")
    return 1 if report.errors else 0


def _export_notebooks(svc, out: str, which: str) -> int:
    """``export-notebooks``: the students' notebooks as ``<out>/<student_id>.ipynb`` (e.g. for the similarity report
    or next year's archive). A file that is already there is never overwritten: the command stops before writing."""
    from gradebot.core import gradebook

    by_student: dict[str, list] = {}
    for sub in svc.store.list_submissions():  # one query, oldest first
        by_student.setdefault(sub.student_id, []).append(sub)
    chosen = []
    for st in svc.list_students():
        subs = by_student.get(st.student_id, [])
        sub = gradebook.counted(subs, svc.config.counting) if which == "counted" else (subs[-1] if subs else None)
        if sub is not None:
            chosen.append((st.student_id, sub.id))
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise GradebotError(f"--out {out}: is a file, not a directory")
    clash = [sid for sid, _ in chosen if (directory / f"{sid}.ipynb").exists()]
    if clash:
        raise GradebotError(
            f"--out {out}: {len(clash)} file(s) already there (e.g. {clash[0]}.ipynb); "
            "nothing written: use a new directory"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for sid, sub_id in chosen:
        (directory / f"{sid}.ipynb").write_bytes(svc.submission_notebook(sub_id)[1])
    print(f"wrote {len(chosen)} notebook(s) ({which} attempts) to {out}", file=sys.stderr)
    return 0


def _report(svc, args) -> int:
    """``report``: the statistics of the store's class written into ``--out`` (gradebot/cockpit/report.py)."""
    from gradebot.cockpit import report, service_stats

    stats = service_stats(svc, unit=args.unit)
    written = report.write_report(args.out, stats)
    print(
        f"wrote {len(written)} files to {args.out}: index.html, stats.json, plots/ "
        f"({stats.students} students, {stats.submissions} submissions)",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in ("serve", "telegram"):
        parser.error("unrecognized arguments: " + " ".join(rest))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = _config(args)
        if args.command == "grade":
            from gradebot.core.service import grade_notebook_file

            result = grade_notebook_file(args.file, config)
            print(
                json.dumps(result.to_json(), indent=2, ensure_ascii=False)
                if args.json
                else format_result(result, _facts(config))
            )
            return 0
        if args.command in ("serve", "telegram"):
            return _front_end("web" if args.command == "serve" else "telegram", config, rest)
        if args.command == "similarity":
            return _similarity(args, config)
        if args.command == "worker":
            from gradebot.backends import load_backend

            backend = load_backend(config)
            backend.open_store()
            backend.run_workers()
            return 0
        from gradebot.core.service import GradingService

        svc = GradingService(config)
        if args.command == "report":
            return _report(svc, args)
        if args.command == "roster" and args.roster_command == "codes":
            raise GradebotError(CODES_REMOVED)
        if args.command == "roster" and args.roster_command == "reissue-code":
            return _reissue(svc, args.student_ids, args.all_missing, args.out)
        if args.command == "roster":
            return _roster_import(svc, args.file, args.out)
        if args.command == "submit":
            sub = svc.submit(args.student_id, Path(args.file).name, Path(args.file).read_bytes(), source="cli")
            print(f"submission #{sub.id} queued", file=sys.stderr)
            if args.wait:
                sub = svc.wait(sub.id)
            if args.json:
                print(
                    json.dumps(
                        {
                            "id": sub.id,
                            "status": sub.status,
                            "error": sub.error,
                            "result": sub.result.to_json() if sub.result else None,
                        },
                        ensure_ascii=False,
                    )
                )
            elif sub.result:
                print(format_result(sub.result, _facts(config)))
            return 0 if sub.status != "failed" else 1
        if args.command == "grades":
            rows = svc.grades()
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            else:
                for r in rows:
                    total = "-" if r["total"] is None else f"{r['total']:g}/{r['max']:g}"
                    print(f"{r['student_id']:<16} {r['name']:<28} {r['group']:<8} {total:>10} attempts={r['attempts']}")
            return 0
        if args.command == "export-notebooks":
            return _export_notebooks(svc, args.out, args.which)
        if args.command == "export-grades":
            out = svc.export_grades_csv(args.out)
            print(f"wrote {out}")
            return 0
    except GradebotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2
