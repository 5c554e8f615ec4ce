"""Speed of the course: autograding one submission, and running the solved notebook top to bottom.

    python benchmarks/bench_grading.py                # all figures
    python benchmarks/bench_grading.py --only grade   # just the autograde figure (grade | slow | run | cells)

Figures (wall seconds on this machine):
- grade: ``nbgrader autograde`` of the reference submission alone (the trusted pipeline: rebuild, sandbox start,
  the notebook's cells, every visible and hidden test through the proxies; generate_assignment in the temporary
  course copy not included), with the trusted grader's own breakdown. Target: <= 8 s.
- slow:  the same for the correct-but-slow submission (Jacobians only, no backward). Target: <= 30 s.
- run:   the solved source notebook executed top to bottom in normal mode (demos included). Budget: 180 s.
- cells: the slowest cells of the grading-mode run (from nbclient's timing metadata).
Needs NUMNET_MNIST_DIR (KERAS_BACKEND defaults to jax).
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from coursekit import SOURCE_NOTEBOOK  # noqa: E402
from coursekit.examples import EXAMPLES, build_submission  # noqa: E402
from coursekit.grading import autograde_notebooks, grading_env  # noqa: E402


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


def run_notebook(grading):
    env = grading_env()
    with tempfile.TemporaryDirectory(prefix="numnet_run_") as tmp:
        for name in os.listdir(os.path.dirname(SOURCE_NOTEBOOK)):
            src = os.path.join(os.path.dirname(SOURCE_NOTEBOOK), name)
            if os.path.isfile(src):
                shutil.copy(src, tmp)
        nb = nbformat.read(os.path.join(tmp, "numnet.ipynb"), as_version=4)
        old = dict(os.environ)
        os.environ.update(env)
        os.environ["NUMNET_GRADING"] = "1" if grading else "0"
        try:
            start = time.monotonic()
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}},
                           record_timing=True).execute()
            seconds = time.monotonic() - start
        finally:
            os.environ.clear()
            os.environ.update(old)
    errors = [c.metadata.get("nbgrader", {}).get("grade_id", "?") for c in nb.cells
              if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
    return seconds, errors, nb


def cell_times(nb):
    def ts(value):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    out = []
    for c in nb.cells:
        timing = c.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            seconds = (ts(timing["shell.execute_reply"]) - ts(timing["iopub.execute_input"])).total_seconds()
            out.append((seconds, c.metadata.get("nbgrader", {}).get("grade_id", "?")))
    return sorted(out, reverse=True)


def print_report(report):
    tests = sorted(report["tests"], key=lambda t: -t["seconds"])
    print("  trusted grader: %.1f s in TrustedExecute (sandbox starts: %d; tests: %.1f s); slowest tests: %s"
          % (report["seconds"], report["starts"], sum(t["seconds"] for t in report["tests"]),
             ", ".join("%s %.2f s" % (t["grade_id"], t["seconds"]) for t in tests[:4])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["grade", "slow", "run", "cells"])
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
    if args.only in (None, "run"):
        seconds, errors, _ = run_notebook(grading=False)
        print("solved notebook, Run all (normal mode): %.1f s (budget 180 s), cells with errors: %s"
              % (seconds, errors or "none"))
    if args.only in (None, "cells"):
        seconds, errors, nb = run_notebook(grading=True)
        print("solved notebook, grading mode (nbclient, no nbgrader): %.1f s; slowest cells:" % seconds)
        for s, name in cell_times(nb)[:8]:
            print("  %6.2f s  %s" % (s, name))


if __name__ == "__main__":
    main()
