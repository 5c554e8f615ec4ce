"""Speed of the course's grading: autograding one submission.

    python benchmarks/bench_grading.py                # both figures
    python benchmarks/bench_grading.py --only grade   # just the reference submission's figure (grade | slow)

Figures (wall seconds on this machine):
- grade: ``nbgrader autograde`` of the reference submission alone (the trusted pipeline: rebuild, sandbox start,
  the notebook's cells, every visible and hidden test through the proxies; generate_assignment in the temporary
  course copy not included), with the trusted grader's own breakdown. Target: <= 8 s.
- slow:  the same for the correct-but-slow submission (Jacobians only, no backward). Target: <= 30 s.
"Run all" of the notebook at home (solved and Jacobian-only, time and memory) and the cells' own costs in grading
mode: benchmarks/bench_notebook.py.
Needs NUMNET_MNIST_DIR (KERAS_BACKEND defaults to jax).
"""
import argparse
import json
import os
import shutil
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from coursekit.examples import EXAMPLES, build_submission  # noqa: E402
from coursekit.grading import autograde_notebooks  # noqa: E402


def bench_grade(name):
    example = next(ex for ex in EXAMPLES if ex.name == name)
    workdir = tempfile.mkdtemp(prefix="numnet_bench_")
    report_path = os.path.join(workdir, "report.json")
    try:
        env = dict(os.environ, GRADEBOT_REPORT=report_path)
        scores, info = autograde_notebooks({"bench": build_submission(example)}, workers=1, workdir=workdir,
                                           env=env)
        with open(report_path) as f:
            report = json.load(f)
        log = os.path.join(workdir, "generate.log")
        generate_seconds = os.path.getmtime(log) - os.path.getctime(os.path.join(workdir, "base"))
        total = sum(scores["bench"].values())
        autograded = info["autograded"]["bench"]
        # autograde time = from the submitted copy to the autograded notebook's last write
        start = os.path.getmtime(os.path.join(workdir, "course0", "submitted", "bench", "numnet", "numnet.ipynb"))
        seconds = os.path.getmtime(autograded) - start
        return seconds, total, info["seconds"], generate_seconds, report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def print_report(report):
    tests = sorted(report["tests"], key=lambda t: -t["seconds"])
    print("  trusted grader: %.1f s in TrustedExecute (sandbox starts: %d; tests: %.1f s); slowest tests: %s"
          % (report["seconds"], report["starts"], sum(t["seconds"] for t in report["tests"]),
             ", ".join("%s %.2f s" % (t["grade_id"], t["seconds"]) for t in tests[:4])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["grade", "slow"])
    args = parser.parse_args()
    print("machine: %d cores; KERAS_BACKEND=%s" % (os.cpu_count(), os.environ.get("KERAS_BACKEND", "jax")))
    if args.only in (None, "grade"):
        seconds, total, overall, _, report = bench_grade("reference")
        print("autograde reference submission: %.1f s (target <= 8 s), %g/45 points; whole call incl. course copy "
              "and generate_assignment %.1f s" % (seconds, total, overall))
        print_report(report)
    if args.only in (None, "slow"):
        seconds, total, overall, _, report = bench_grade("slow_jacobians")
        print("autograde slow (Jacobians only) submission: %.1f s (target <= 30 s), %g/45 points" % (seconds, total))
        print_report(report)


if __name__ == "__main__":
    main()
