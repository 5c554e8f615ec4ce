"""Speed of the course's grading: one submission through the bot's pipeline (gradebot.core.grading).

    python benchmarks/bench_grading.py                # both figures
    python benchmarks/bench_grading.py --only grade   # just the reference submission's figure (grade | slow)

Figures (wall seconds on this machine):
- grade: ``grade_notebook`` of the reference submission, as the bot grades an upload (the job's course copy,
  ``nbgrader autograde`` with the trusted pipeline: rebuild, sandbox start, the notebook's cells, every visible and
  hidden test through the proxies; the feedback page; the course build, made once beforehand, not included), with
  the trusted grader's own breakdown. Target: <= 8 s.
- slow:  the same for the correct-but-slow submission (Jacobians only, no backward). Target: <= 30 s.
"Run all" of the notebook at home (solved and Jacobian-only, time and memory) and the cells' own costs in grading
mode: benchmarks/bench_notebook.py.
Needs NUMNET_MNIST_DIR (KERAS_BACKEND defaults to jax).
"""

import argparse
import os
import shutil
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from coursekit.examples import EXAMPLES, build_submission  # noqa: E402
from coursekit.grading import grading_config  # noqa: E402


def bench_grade(name):
    """(seconds of grade_notebook, points, seconds of the course build, the trusted report)."""
    import nbformat

    from gradebot.core.course import course_build
    from gradebot.core.grading import grade_notebook
    from gradebot.core.sandbox import acquire_slot, release_slot

    example = next(ex for ex in EXAMPLES if ex.name == name)
    workdir = tempfile.mkdtemp(prefix="numnet_bench_")
    slot = acquire_slot()
    try:
        config = grading_config(workdir, workers=1)
        data = nbformat.writes(build_submission(example)).encode("utf-8")
        start = time.monotonic()
        course_build(config)
        build_seconds = time.monotonic() - start
        start = time.monotonic()
        outcome = grade_notebook(data, config, slot=slot)
        seconds = time.monotonic() - start
        return seconds, outcome.result.total, build_seconds, outcome.report
    finally:
        release_slot(slot)
        shutil.rmtree(workdir, ignore_errors=True)


def print_report(report):
    tests = sorted(report["tests"], key=lambda t: -t["seconds"])
    print(
        f"  trusted grader: {report['seconds']:.1f} s in TrustedExecute (sandbox starts: {report['starts']}; "
        f"tests: {sum(t['seconds'] for t in report['tests']):.1f} s); slowest tests: "
        + ", ".join(f"{t['grade_id']} {t['seconds']:.2f} s" for t in tests[:4])
    )
    calls = sorted(report["tests"], key=lambda t: -t.get("callbacks", 0))
    print(
        f"  callbacks (stub -> grader): {sum(t.get('callbacks', 0) for t in report['tests'])} in all; most: "
        + ", ".join(f"{t['grade_id']} {t.get('callbacks', 0)}" for t in calls[:4])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["grade", "slow"])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'jax')}")
    if args.only in (None, "grade"):
        seconds, total, build, report = bench_grade("reference")
        print(
            f"grade reference submission: {seconds:.1f} s (target <= 8 s), {total:g}/45 points; the course build "
            f"beforehand (generate_assignment) {build:.1f} s"
        )
        print_report(report)
    if args.only in (None, "slow"):
        seconds, total, _, report = bench_grade("slow_jacobians")
        print(f"grade slow (Jacobians only) submission: {seconds:.1f} s (target <= 30 s), {total:g}/45 points")
        print_report(report)


if __name__ == "__main__":
    main()
