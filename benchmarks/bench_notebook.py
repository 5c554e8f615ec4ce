"""Speed and memory of the workbook's "Run all": the notebook executed top to bottom as a student runs it.

    python benchmarks/bench_notebook.py                        # solved, jacobians_only and the source notebook
    python benchmarks/bench_notebook.py --only jacobians_only  # one of them
    python benchmarks/bench_notebook.py --cells 10             # show the 10 slowest cells (default 6)
    python benchmarks/bench_notebook.py --grading              # grading mode: demos skipped (the tests' own cost)

Each notebook runs in normal mode (NUMNET_GRADING=0: demos included, as after "Run all" in Jupyter) with nbclient
in a fresh kernel, in a temporary folder with the release's files (mnist_loader.py). Figures:
- wall seconds of the whole run (kernel start included) and of the slowest cells (nbclient's timing metadata);
- the kernel's peak memory: the high-water mark of its resident set (VmHWM in /proc/<pid>/status, read after
  every cell; on systems without /proc, the largest RSS psutil saw after a cell);
- cells with errors and test cells without "Test PASSED" (a figure of a broken run means nothing).
Notebooks:
- solved:          the release with the reference solution filled in (coursekit.examples "reference").
- jacobians_only:  the release with a correct solution that writes every derivative as a Jacobian and no backward
                   (coursekit.examples "jacobians_only"). Targets (issue 10): <= 90 s and <= 2 GiB on 2 cores.
- source:          the solved source notebook (hidden tests included), as tests/course/test_notebook_runs.py runs.
Needs NUMNET_MNIST_DIR (KERAS_BACKEND defaults to jax). The figures depend on the machine and its load.
"""

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from coursekit import NOTEBOOK, RELEASE_DIR, SOURCE_NOTEBOOK  # noqa: E402
from coursekit.examples import EXAMPLES, build_submission  # noqa: E402
from gradebot.core.kernel_needs import kernel_needs  # noqa: E402

TARGETS = {  # name: (seconds, MiB) or None
    "solved": None,
    "jacobians_only": (90, 2048),
    "source": None,
}
NOTEBOOKS = list(TARGETS)


def notebook(name):
    """(the notebook, the folder whose files go next to it)."""
    if name == "source":
        return nbformat.read(SOURCE_NOTEBOOK, as_version=4), os.path.dirname(SOURCE_NOTEBOOK)
    example = next(ex for ex in EXAMPLES if ex.name == ("reference" if name == "solved" else name))
    return build_submission(example), RELEASE_DIR


def peak_rss_mib(pid):
    """The process' peak resident set so far (MiB): VmHWM from /proc, else its current RSS from psutil."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2.0**20
    except Exception:  # psutil missing or the process gone
        return None


def cpu_seconds(pid):
    """User + system CPU seconds of the process so far (None without psutil)."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except Exception:  # psutil missing or the process gone
        return None


def run_notebook(nb, folder, grading=False, blas_threads=None):
    """Execute `nb` top to bottom in a temporary copy of `folder`; returns (seconds, executed nb, {"mib": peak MiB,
    "cell": cell index where the peak was reached, "cpu": the kernel's CPU seconds}, why the run stopped early or
    None)."""
    stats = {"mib": None, "cell": None, "cpu": None}

    def on_cell_executed(cell, cell_index, **_):
        pid = client.km.provisioner.pid
        mib = peak_rss_mib(pid)
        if mib is not None and (stats["mib"] is None or mib > stats["mib"]):
            stats.update(mib=mib, cell=cell_index)
        stats["cpu"] = cpu_seconds(pid)

    needs = kernel_needs(ROOT)  # the environment and data dirs the course declares for its kernel
    env = dict(os.environ, **needs.env, **needs.data)
    if blas_threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(blas_threads)
    with tempfile.TemporaryDirectory(prefix="numnet_run_") as tmp:
        for name in os.listdir(folder):
            src = os.path.join(folder, name)
            if os.path.isfile(src) and name != NOTEBOOK:
                shutil.copy(src, tmp)
        old = dict(os.environ)
        os.environ.update(env)
        os.environ["NUMNET_GRADING"] = "1" if grading else "0"
        os.environ.pop("NBGRADER_EXECUTION", None)
        try:
            client = NotebookClient(
                nb,
                timeout=900,
                kernel_name="python3",
                resources={"metadata": {"path": tmp}},
                record_timing=True,
                allow_errors=True,
                on_cell_executed=on_cell_executed,
            )
            start = time.monotonic()
            try:
                client.execute()
            except Exception as err:  # a dead kernel or a cell over the timeout: report, keep the figures
                died = f"{type(err).__name__}: {err}"
            else:
                died = None
            seconds = time.monotonic() - start
        finally:
            os.environ.clear()
            os.environ.update(old)
    return seconds, nb, stats, died


def describe(cell, index):
    gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
    if gid and not gid.startswith("cell-"):  # a named cell (nbgrader names the others cell-<n>)
        return f"cell {index} {gid}"
    lines = [line.strip() for line in cell.source.strip().split("\n")]
    networks = [line for line in lines if "Network([" in line]  # a demo: the network it trains
    return f"cell {index} {(networks or lines)[0][:70]!r}"


def cell_times(nb):
    """[(seconds, cell index)] of the executed code cells, slowest first."""

    def ts(value):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))

    out = []
    for i, c in enumerate(nb.cells):
        timing = c.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            out.append(((ts(timing["shell.execute_reply"]) - ts(timing["iopub.execute_input"])).total_seconds(), i))
    return sorted(out, reverse=True)


def problems(nb):
    """Cells with errors, and test cells that did not print "Test PASSED"."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        text = "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
        errors = [o.ename for o in c.outputs if o.output_type == "error"]
        if errors:
            out.append(f'{describe(c, i)}: {", ".join(errors)}')
        elif c.metadata.get("nbgrader", {}).get("grade") and "Test PASSED" not in text:
            out.append(f"{describe(c, i)}: no 'Test PASSED'")
    return out


def bench(name, n_cells, grading=False, blas_threads=None):
    nb, folder = notebook(name)
    seconds, nb, stats, died = run_notebook(nb, folder, grading, blas_threads)
    target = None if grading else TARGETS[name]
    mib = stats["mib"]
    mode = "grading mode (demos skipped)" if grading else "Run all"
    cpu = f"{stats['cpu']:.1f} s" if stats["cpu"] is not None else "n/a"
    memory = f"{mib:.0f} MiB" if mib is not None else "n/a"
    time_target = f" (target <= {target[0]} s)" if target else ""
    memory_target = f" (target <= {target[1]} MiB)" if target else ""
    print(
        f"{name:<15} {mode} {seconds:6.1f} s{time_target} (kernel CPU {cpu}); "
        f"kernel peak memory {memory}{memory_target}"
    )
    if stats["cell"] is not None:
        print(f'  peak reached by {describe(nb.cells[stats["cell"]], stats["cell"])}')
    for s, i in cell_times(nb)[:n_cells]:
        print(f"  {s:6.2f} s  {describe(nb.cells[i], i)}")
    bad = problems(nb) + (["the run stopped: " + died] if died else [])
    if bad:
        print("  PROBLEMS (figures of a broken run): " + "; ".join(bad))
    return seconds, mib, bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=NOTEBOOKS, action="append", help="only this notebook (repeatable)")
    parser.add_argument("--cells", type=int, default=6, help="how many of the slowest cells to show")
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="OPENBLAS/OMP/MKL_NUM_THREADS for the kernel (default: the library's own, as a student)",
    )
    parser.add_argument(
        "--grading",
        action="store_true",
        help="run in grading mode (NUMNET_GRADING=1: demos skipped), i.e. what the cells other than "
        "the demos cost, the test cells above all",
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {os.cpu_count()} cores, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
        f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'jax')}; BLAS threads: {args.blas_threads or 'default'}"
    )
    failed = False
    for name in args.only or NOTEBOOKS:
        _, _, bad = bench(name, args.cells, args.grading, args.blas_threads)
        failed = failed or bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
