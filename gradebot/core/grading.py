"""Grade one notebook: a private copy of the course, ``nbgrader autograde`` of one student, scores per task.

nbgrader cannot autograde in parallel (one SQLite gradebook, nbgrader issue #174), so every job gets its own
temporary course copy (config + source + the gradebook of the course build), puts the notebook at
``submitted/student/<assignment>/<notebook>``, runs ``nbgrader autograde <assignment> --student student`` in a
child process (outside the sandbox; only its kernel runs inside, see ``gradebot.core.sandbox``), reads the score
of every grade cell from that copy's gradebook and sums them per task. The whole job has a wall-clock limit.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from gradebot.core import feedback as fb
from gradebot.core import notes
from gradebot.core.course import course_build, job_config_text, load_build_facts
from gradebot.core.course_format import task_of
from gradebot.core.kernel_needs import kernel_needs
from gradebot.core.models import Result
from gradebot.core.nbgrader_run import die_with_parent, run_nbgrader
from gradebot.core.nbexec import EVENTS_ENV, MAX_OUTPUT_ENV, REPORT_ENV
from gradebot.core.sandbox import SANDBOX_MODE_ENV, SPEC_ENV, check_sandbox, make_spec

if TYPE_CHECKING:
    from gradebot.config import Config

log = logging.getLogger("gradebot.grading")
JOB_STUDENT = "student"  # the student id inside a job's private course copy

# error text in a cell output -> verdict (student code that hit a wall of the sandbox)
VIOLATION_PATTERNS = [
    (
        re.compile(
            r"Network is unreachable|Temporary failure in name resolution|Name or service not known|"
            r"\[Errno -3\]|\[Errno 101\]"
        ),
        "cell_network",
    ),
    (re.compile(r"Read-only file system|\[Errno 30\]"), "cell_read_only"),
    (re.compile(r"Permission denied|Operation not permitted|\[Errno 13\]|\[Errno 1\]"), "cell_denied"),
    (re.compile(r"Resource temporarily unavailable|\[Errno 11\]|can't start new thread"), "cell_processes"),
    (re.compile(r"File too large|\[Errno 27\]"), "cell_file_size"),
]


@dataclass
class GradeOutcome:
    result: Result
    feedback_html: str | None
    notebook: nbformat.NotebookNode | None = None  # the graded notebook (None if nbgrader wrote none)
    report: dict | None = None  # a trusted-grading course's report (tests, seconds)


def invalid(facts_tasks: dict[str, float], message: str, verdict: str = "invalid-notebook") -> Result:
    return Result(
        total=0.0,
        max=float(sum(facts_tasks.values())),
        tasks={t: {"points": 0.0, "max": m} for t, m in facts_tasks.items()},
        verdict=verdict,
        messages=[message],
    )


def validate_notebook(data: bytes) -> nbformat.NotebookNode:
    """Parse and validate .ipynb bytes; raises ValueError with a message a student understands."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(notes.make("not_utf8")) from None
    except json.JSONDecodeError as exc:
        raise ValueError(notes.make("not_json", error=exc.msg, line=exc.lineno)) from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise ValueError(notes.make("not_notebook"))
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types
        raise ValueError(notes.make("bad_schema", error=str(exc).splitlines()[0][:300])) from None
    return nb


# nbgrader 0.9.6's Autograde.autograde_preprocessors with Execute replaced by gradebot's SandboxExecute
AUTOGRADE_PREPROCESSORS = [
    "gradebot.core.nbexec.SandboxExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def _preprocessors_config() -> str:
    """Kernel-in-the-sandbox autograding (SandboxExecute), unless the course configures its own autograde
    preprocessors without nbgrader's plain Execute (a course with trusted grading runs student code in the
    sandbox itself, from ``$GRADEBOT_SANDBOX_SPEC``, and its tests outside it)."""
    return (
        "_gb_own = c.Autograde.get('autograde_preprocessors') if 'Autograde' in c else None\n"
        "if not _gb_own or any(getattr(p, '__name__', str(p)).split('.')[-1] == 'Execute' for p in _gb_own):\n"
        f"    c.Autograde.autograde_preprocessors = {AUTOGRADE_PREPROCESSORS!r}\n"
    )


def _refusing_kernelspecs(jupyter_dir: Path) -> None:
    """Defence in depth: if nbgrader ever started a kernel the ordinary way (e.g. the job config failed to
    load and nbgrader fell back to its defaults), the 'python3' kernelspec it finds first refuses to run."""
    for name in ("python3", "python"):
        d = jupyter_dir / "kernels" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        sys.executable,
                        "-I",
                        "-c",
                        "import sys; sys.exit('gradebot: refusing to start a kernel outside the sandbox')",
                        "{connection_file}",
                    ],
                    "display_name": "refused",
                    "language": "python",
                }
            )
        )


class _NbgraderServer:
    """Client of this process' nbgrader fork server (gradebot.core._autograde_child), started on first use.
    Replies are read from the raw pipe with select (no buffered reader that could hide a line from select)."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self._buf = b""

    def _readline(self, timeout: float) -> bytes | None:
        """One line from the server, or None after ``timeout`` seconds; b"" if the server exited."""
        import select

        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _ensure(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self._buf = b""
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gradebot.core._autograde_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                preexec_fn=die_with_parent,
            )
            ready = self._readline(300)
            if not ready or b'"ready"' not in ready:
                self.drop()
                raise RuntimeError("the nbgrader fork server did not start")
        return self.proc

    def drop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, course: Path, env: dict, argv: list[str], log_path: Path, wall_seconds: float) -> tuple[int, bool]:
        proc = self._ensure()
        req = json.dumps({"course": str(course), "env": env, "argv": argv, "log": str(log_path)}) + "\n"
        proc.stdin.write(req.encode())
        proc.stdin.flush()
        line = self._readline(60)
        if not line:
            self.drop()
            raise RuntimeError("the nbgrader fork server did not start the job")
        pid = json.loads(line)["pid"]
        line = self._readline(wall_seconds)
        if line is None:  # wall-clock limit of the whole job
            try:
                os.killpg(pid, signal.SIGKILL)  # nbgrader; its sandbox dies with it (--die-with-parent)
            except ProcessLookupError:
                pass
            line = self._readline(30)
            if not line:
                self.drop()
            return -9, True
        if line == b"":
            self.drop()
            raise RuntimeError("the nbgrader fork server died during a job")
        return json.loads(line)["rc"], False


_server = _NbgraderServer()


def _run_autograde(course: Path, env: dict, argv: list[str], log_path: Path, wall_seconds: float):
    """Run ``nbgrader <argv>`` in ``course`` with ``env`` as a process of its own (forked from the worker's
    nbgrader fork server, or a fresh interpreter if GRADEBOT_FORKSERVER=0 or the server fails), killed with its
    process group after ``wall_seconds``. Returns (exit code, wall_hit)."""
    if os.environ.get("GRADEBOT_FORKSERVER", "1") != "0":
        try:
            return _server.run(course, env, argv, log_path, wall_seconds)
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            log.warning("nbgrader fork server unusable (%s); starting nbgrader directly", exc)
            _server.drop()
    run = run_nbgrader(course, argv, env=env, log_path=log_path, timeout=wall_seconds)
    return run.returncode, run.timed_out


def cleanup_stale_jobs(work_dir: str | None) -> int:
    """Remove job dirs left by grading processes that died (kill -9 skips their cleanup). A job dir is named
    ``gb-<pid>-*``; it is stale when that pid no longer runs. Returns the number removed."""
    import psutil

    n = 0
    for d in Path(work_dir or tempfile.gettempdir()).glob("gb-*-*"):
        m = re.fullmatch(r"gb-(\d+)-\w+", d.name)
        if m and d.is_dir() and not psutil.pid_exists(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n


def apply_late_penalty(result: Result, late: bool, config: Config) -> Result:
    """``result`` with the configured late penalty taken off its total (and said in its messages) if ``late``."""
    penalty = config.late_penalty()
    if late and penalty:
        result.total = round(result.total * (1.0 - penalty), 6)
        result.messages.append(notes.make("late", penalty=f"{penalty:.0%}"))
    return result


def grade_notebook(data: bytes, config: Config, slot: int = 0, late: bool = False) -> GradeOutcome:
    """Grade ``data`` (.ipynb bytes) against the configured course. Never raises for bad student input;
    raises SandboxUnavailable/CourseError when grading cannot happen at all. ``late``: the submission came after
    the deadline; the late penalty is applied before the feedback page is rendered, so the page shows the total
    that counts."""
    build = course_build(config)
    facts = load_build_facts(build)
    try:
        validate_notebook(data)
    except ValueError as exc:
        return GradeOutcome(invalid(facts.tasks, str(exc)), None)
    needs = kernel_needs(config.course_path)
    check_sandbox(config, config.work_dir)
    job = Path(tempfile.mkdtemp(prefix=f"gb-{os.getpid()}-", dir=config.work_dir))
    os.chmod(job, 0o711)  # the sandbox uid must traverse to its scratch dir (contents stay private)
    try:
        return _grade_in(job, build, facts, data, config, slot, late, needs)
    finally:
        if not os.environ.get("GRADEBOT_KEEP_JOBS"):  # debugging aid: keep the job dir
            shutil.rmtree(job, ignore_errors=True)


def _grade_in(job: Path, build: Path, facts, data: bytes, config, slot: int, late: bool, needs) -> GradeOutcome:
    course = job / "c"
    course.mkdir(mode=0o700)
    shutil.copytree(build / "source", course / "source")
    if (build / "grading").is_dir():
        shutil.copytree(build / "grading", course / "grading")
    shutil.copy2(build / "gradebook.db", course / "gradebook.db")
    course_cfg = (build / "nbgrader_config.course.py").read_text()
    timeout = f"c.Execute.timeout = {int(config.cell_timeout)}\n" if config.cell_timeout else ""
    (course / "nbgrader_config.py").write_text(
        job_config_text(
            course_cfg,
            course,
            course_root=config.course_path,
            extra=timeout
            + "c.Execute.execute_retries = 0\nc.Execute.interrupt_on_timeout = True\n"
            + _preprocessors_config(),
        )
    )
    sub = course / "submitted" / JOB_STUDENT / config.assignment
    sub.mkdir(parents=True)
    (sub / config.notebook).write_bytes(data)

    spec = make_spec(config, job / "s", slot, needs)
    spec.save(job / "sandbox.json")
    events_path = job / "events.jsonl"
    report_path = job / "report.json"
    env = dict(os.environ)
    env.update(needs.env)  # nbgrader's process (where trusted tests run) sees the course's environment
    env.update(needs.data)  # and its data dirs, as the kernel does
    env.update(
        {
            SPEC_ENV: str(job / "sandbox.json"),
            EVENTS_ENV: str(events_path),
            MAX_OUTPUT_ENV: str(config.max_output_bytes),
            SANDBOX_MODE_ENV: config.sandbox,
            REPORT_ENV: str(report_path),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if config.sandbox == "none":
        # opt-out: the kernel runs as the grader; still give it the course environment
        env.update({k: v for k, v in spec.env.items() if k not in ("PATH", "HOME", "TMPDIR")})
    if config.sandbox != "none":
        _refusing_kernelspecs(job / "jupyter")
        env["JUPYTER_PATH"] = str(job / "jupyter")
    argv = ["autograde", config.assignment, "--student", JOB_STUDENT, "--force"]
    t0 = time.monotonic()
    rc, wall_hit = _run_autograde(course, env, argv, job / "nbgrader.log", config.wall_seconds)
    elapsed = time.monotonic() - t0
    events = []
    if events_path.exists():
        events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
    log_file = job / "nbgrader.log"
    nb_log = log_file.read_bytes()[-20000:].decode(errors="replace") if log_file.exists() else ""

    cell_scores = _read_scores(course, config)
    autograded = course / "autograded" / JOB_STUDENT / config.assignment / config.notebook
    nb = None
    if autograded.is_file():
        try:
            nb = nbformat.read(str(autograded), as_version=4)
        except Exception:  # noqa: BLE001 - a broken output notebook only costs the feedback
            nb = None

    tasks = {t: {"points": 0.0, "max": m} for t, m in facts.tasks.items()}
    cells = {}
    for gid, maxpts in facts.cells.items():
        pts = float(cell_scores.get(gid, 0.0) or 0.0)
        pts = max(0.0, min(pts, maxpts))
        cells[gid] = pts
        tasks[task_of(gid)]["points"] += pts
    total = float(sum(t["points"] for t in tasks.values()))
    report = None
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except ValueError:
            report = None
    if report is not None:
        verdict, messages = trusted_verdict(report, wall_hit, config, nb)
    else:
        verdict, messages = _verdict(
            events, nb, facts, wall_hit, rc, elapsed, config, nb_log, cell_scores, scratch=str(job / "s")
        )
    result = Result(
        total=round(total, 6), max=facts.max_total, tasks=tasks, verdict=verdict, messages=messages, cells=cells
    )
    result = apply_late_penalty(result, late, config)
    html = (
        fb.feedback_html(nb, autograded, result, facts, data, course_root=config.course_path)
        if nb is not None
        else None
    )
    return GradeOutcome(result, html, nb, report)


def _read_scores(course: Path, config) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, float] = {}
    try:
        with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            try:
                snb = gb.find_submission_notebook(config.notebook_id, config.assignment, JOB_STUDENT)
            except MissingEntry:
                return scores
            warnings.simplefilter("ignore")
            for grade in snb.grades:
                scores[grade.name] = float(grade.score or 0.0)
    except Exception as exc:  # noqa: BLE001
        log.error("cannot read the job gradebook: %s", exc)
    return scores


def _error_texts(nb) -> list[tuple[int, str, str, str]]:
    """(cell index, grade_id or '', ename, evalue) of every error output."""
    out = []
    if nb is None:
        return out
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = (
            cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.metadata.get("nbgrader", {}).get("grade")
            else ""
        )
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append((i, gid, o.get("ename", ""), str(o.get("evalue", ""))))
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                txt = o.get("text", "")
                if gid or "Traceback" in txt or "Error" in txt:
                    out.append((i, gid, "stderr", txt[-500:]))
    return out


def _leaks_hidden(text: str, facts) -> bool:
    return bool(fb.leaked_hidden_lines(text, facts))


_QUOTED_PATH = re.compile(r"'(/[^']+)'")


def _hidden_host_path(evalue: str, scratch: str) -> bool:
    """True if the error names an absolute path that exists on the host but is not visible in the sandbox
    (e.g. FileNotFoundError for the course source): student code tried to reach outside."""
    for p in _QUOTED_PATH.findall(evalue):
        if p.startswith(scratch) or p.startswith(("/usr", "/etc", "/proc", "/dev")):
            continue
        parent = os.path.dirname(p.rstrip("/"))
        if os.path.exists(p) or (parent not in ("", "/") and os.path.isdir(parent)):
            return True  # the file, or the dir it was to be written in, exists outside
    return False


CELL_LINE_CHARS = 50  # of a cell's first line in a note


def cell_name(nb: nbformat.NotebookNode | None, index: object) -> str:
    """A notebook cell as a student finds it in notes: its index, and the first line of its code (Jupyter shows no
    cell numbers), e.g. ``7 «class ReLU(Layer):»``; the index alone if the notebook does not have that cell."""
    try:
        line = next(ln.strip() for ln in nb.cells[int(index)].source.splitlines() if ln.strip())
    except (AttributeError, IndexError, StopIteration, TypeError, ValueError):
        return str(index)
    return f"{index} «{line if len(line) <= CELL_LINE_CHARS else line[: CELL_LINE_CHARS - 1] + '…'}»"


def _verdict(events, nb, facts, wall_hit, rc, elapsed, config, nb_log, cell_scores, scratch=""):
    messages: list[str] = []
    found: list[str] = []
    if wall_hit:
        found.append("timeout")
        messages.append(notes.make("job_time_limit", seconds=config.wall_seconds))
    for ev in events:
        if ev["event"] == "timeout":
            found.append("timeout")
            messages.append(notes.make("cell_timeout", cell=cell_name(nb, ev["cell"]), seconds=ev["seconds"]))
        elif ev["event"] == "output-limit":
            found.append("output-limit")
            messages.append(notes.make("cell_output_limit", cell=cell_name(nb, ev["cell"]), limit=ev["limit"]))
        elif ev["event"] == "kernel-died":
            code = ev.get("returncode")
            sig = code - 128 if isinstance(code, int) and code > 128 else None
            if sig == signal.SIGXCPU:
                found.append("timeout")
                messages.append(
                    notes.make("cell_cpu_limit", cell=cell_name(nb, ev["cell"]), seconds=config.cpu_seconds)
                )
            elif sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
                found.append("memory")
                messages.append(notes.make("cell_crashed", cell=cell_name(nb, ev["cell"]), signal=sig))
            else:
                found.append("error")
                messages.append(notes.make("cell_died", cell=cell_name(nb, ev["cell"]), code=code))
    errors = _error_texts(nb)
    for i, gid, ename, evalue in errors:
        if ename == "stderr" and "Traceback" not in evalue and "Error" not in evalue:
            continue  # a warning of a test cell, not a sign of a broken wall
        text = f"{ename}: {evalue}"
        if (
            ename == "MemoryError"
            or "MemoryError" in evalue
            or "Cannot allocate memory" in evalue
            or "std::bad_alloc" in evalue
        ):
            found.append("memory")
            messages.append(notes.make("cell_memory", cell=cell_name(nb, i), mib=config.memory_bytes // 2**20))
            continue
        for pat, kind in VIOLATION_PATTERNS:
            if pat.search(text):
                found.append("sandbox-violation")
                messages.append(notes.make(kind, cell=cell_name(nb, i), error=ename))
                break
        else:
            if _hidden_host_path(evalue, scratch):
                found.append("sandbox-violation")
                messages.append(notes.make("cell_outside_file", cell=cell_name(nb, i), error=ename))
    # which graded cells lost points, and the error each raised (hidden-test code never shown)
    raised = {gid for _, gid, ename, _ in errors if ename != "stderr"}
    for i, gid, ename, evalue in errors:
        if gid and cell_scores.get(gid, 0.0) < facts.cells.get(gid, 0.0):
            if ename == "stderr":
                if gid in raised:
                    continue  # the exception says more
                # nbgrader scores any stderr output of a test cell 0, even a mere warning: say so
                detail = "" if _leaks_hidden(evalue, facts) else ": " + evalue.strip()[-200:]
                messages.append(notes.make("failed", gid=gid, reason=notes.reason("stderr", detail=detail)))
                continue
            detail = f"{ename}: {evalue}".strip().rstrip(":")
            if _leaks_hidden(detail, facts):
                detail = ename
            messages.append(notes.make("failed", gid=gid, reason=detail[:300]))
    if nb is None and not wall_hit:
        found.append("error")
        tail = [ln for ln in nb_log.splitlines() if "ERROR" in ln or "Error" in ln][-3:]
        messages.append(notes.make("nbgrader_failed", detail=": " + " | ".join(tail)[:500] if tail else ""))
    order = ["invalid-notebook", "timeout", "memory", "output-limit", "sandbox-violation", "error"]
    verdict = next((v for v in order if v in found), "ok")
    seen, uniq = set(), []
    for m in messages:
        if m not in seen:
            seen.add(m)
            uniq.append(m)
    return verdict, uniq[:50]


def trusted_verdict(
    report: dict, wall_hit: bool, config: Config, nb: nbformat.NotebookNode | None = None
) -> tuple[str, list[str]]:
    """Verdict and messages from a trusted-grading report: one line per failed test (the grader's message, which
    never contains test code), plus cells of the notebook that failed to run."""
    found, messages = [], []
    if wall_hit:
        found.append("timeout")
        messages.append(notes.make("job_time_limit", seconds=config.wall_seconds))
    for cell in report.get("cells", []):
        status = cell.get("status")
        if status in ("timeout", "died"):
            found.append("timeout" if status == "timeout" else "error")
            kind = "cell_stopped" if status == "timeout" else "cell_process_died"
            messages.append(notes.make(kind, cell=cell_name(nb, cell.get("index"))))
        elif status == "error" and "MemoryError" in str(cell.get("error", "")):
            found.append("memory")
            messages.append(
                notes.make("cell_memory", cell=cell_name(nb, cell.get("index")), mib=config.memory_bytes // 2**20)
            )
    for test in report.get("tests", []):
        if test.get("passed"):
            continue
        kind, text = test.get("kind"), str(test.get("message", ""))
        if kind == "timeout":
            found.append("timeout")
        elif "MemoryError" in text:
            found.append("memory")
        elif kind == "course":
            found.append("error")
        hidden = "[hidden test] " if test.get("hidden") else ""
        messages.append(notes.make("failed", gid=test.get("grade_id"), reason=f"{hidden}{text[:300]}"))
    order = ["timeout", "memory", "error"]
    verdict = next((v for v in order if v in found), "ok")
    return verdict, messages[:50]
