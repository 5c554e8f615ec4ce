"""Cost of one callback of trusted grading: the student's code calls a method of a known-good layer of the grader (a
stub in the sandbox, coursekit/trusted/runner.py), the runner sends the call to the grader, which computes it with its
own object and sends the answer back (client.py: Session._callback).

    python benchmarks/bench_callbacks.py            # the callback figures, then the share of grading the reference
    python benchmarks/bench_callbacks.py --quick    # the callback figures only

Figures (this machine, bubblewrap sandbox; wall microseconds per call, median of 5 rounds):
- stub call: ``layer.forward(x)`` / ``layer.backward(x, g)`` / ``layer.update_param(grads, lr)`` of a
  ``DenseLayer(784, 10)`` called N times in a row by code in the sandbox, per call; beside it the same method called
  directly in the grader (what the call itself costs): the difference is the transport (both processes, two frames);
- share: grading the reference submission (benchmarks/bench_grading.py's figure), the callbacks it made (the
  trusted report counts them per test) times the transport cost above, as a part of the time of its tests.
Needs bubblewrap; the share needs NUMNET_MNIST_DIR (KERAS_BACKEND defaults to jax).
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

CELL = """
import time


class Caller:  # calls a method of a stub n times; returns (wall seconds, CPU seconds of this process)

    def forward(self, layer, x, n):
        return self._timed(lambda: layer.forward(x), n)

    def backward(self, layer, x, g, n):
        return self._timed(lambda: layer.backward(x, g), n)

    def update_param(self, layer, grads, n):
        return self._timed(lambda: layer.update_param(grads, 0.0), n)    # a step of size 0: nothing changes

    def _timed(self, call, n):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            call()
        return time.perf_counter() - wall, time.process_time() - cpu
"""


def _direct(call, n):
    start = time.perf_counter()
    for _ in range(n):
        call()
    return time.perf_counter() - start


def _stub_round(stub):
    """(wall, CPU of both processes) of one round of stub calls."""
    cpu = time.process_time()
    wall, sandbox_cpu = stub()
    return wall, sandbox_cpu + time.process_time() - cpu


def bench_callbacks(n=500, rounds=5):
    """{(method, batch): (us per stub call, CPU us per stub call in both processes, us per direct call)}."""
    from coursekit.trusted import grader
    from coursekit.trusted.client import RemoteClass, Session
    from coursekit.trusted.execute import Launcher
    from numnet_ref import DenseLayer

    files = tempfile.mkdtemp(prefix="numnet_bench_cb_")
    launcher = Launcher(files, data={}, mode=os.environ.get("GRADEBOT_SANDBOX_MODE", "bwrap"))
    session = Session(launcher, grader.collaborator_types())
    figures = {}
    try:
        session.start(60)
        session.deadline = time.monotonic() + 3600
        session.request({"op": "exec", "src": CELL, "name": "<cell 0>"})
        caller = RemoteClass(session, "Caller")()
        rng = np.random.default_rng(0)
        for batch in (16, 1):
            layer = DenseLayer(784, 10)
            x, g = rng.random((batch, 784)), rng.random((batch, 10))
            grads = [np.zeros_like(p) for p in layer.params]
            cases = {
                "forward": (lambda: caller.forward(layer, x, n), lambda: layer.forward(x)),
                "backward": (lambda: caller.backward(layer, x, g, n), lambda: layer.backward(x, g)),
                "update_param": (lambda: caller.update_param(layer, grads, n), lambda: layer.update_param(grads, 0.0)),
            }
            for method, (stub, direct) in cases.items():
                stub()  # warm up (method lookups, first frames)
                walls, cpus = zip(*(_stub_round(stub) for _ in range(rounds)))
                plain = statistics.median(_direct(direct, n) for _ in range(rounds)) / n * 1e6
                figures[(method, batch)] = (
                    statistics.median(walls) / n * 1e6,
                    statistics.median(cpus) / n * 1e6,
                    plain,
                )
    finally:
        session.close()
        launcher.close()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the callback figures only")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    figures = bench_callbacks()
    for (method, batch), (stubbed, cpu, plain) in figures.items():
        print(
            f"DenseLayer(784, 10).{method:<12} batch {batch:2d}: {stubbed:5.0f} us per stub call ({cpu:4.0f} us CPU "
            f"in both processes), {plain:3.0f} us direct: transport {stubbed - plain:5.0f} us"
        )
    if args.quick:
        return
    from bench_grading import bench_grade

    transport = statistics.mean(stubbed - plain for stubbed, _, plain in figures.values())
    seconds, total, _, report = bench_grade("reference")
    calls = sum(t.get("callbacks", 0) for t in report["tests"])
    tests = sum(t["seconds"] for t in report["tests"])
    print(
        f"grading the reference: {seconds:.1f} s ({total:g}/45), its tests {tests:.1f} s, {calls} callbacks; "
        f"x {transport:.0f} us (mean transport above) = {calls * transport / 1e6:.2f} s, "
        f"{100 * calls * transport / 1e6 / tests:.0f}% of the tests' time"
    )


if __name__ == "__main__":
    main()
