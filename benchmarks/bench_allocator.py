#!/usr/bin/env python
"""Page faults and seconds per epoch of model c's training in a plain process, with glibc's default allocator
settings and with the course kernel's (gradebot.course.toml, [kernel] env: MALLOC_*). Prints figures.

Not a test. Each setting runs in its own fresh process (the settings are read at process start): a script that
builds model c of bench_training.py (Conv2D(1->8,3,same)+ReLU+MaxPool(2)+Flatten+Dense(1568,10)+Softmax), trains 8
warm-up batches, then 3 epochs of 187 batches of 32 random images, and reports the minor page faults per train step
(``resource.getrusage``) and the seconds of each epoch. With glibc's defaults a process like this gives the ~1 MB
arrays of every step back to the OS and faults them in again in the next step (what a student's or the grader's
process does depends on its earlier allocations; bench_training.py's workers happen not to).

Usage: python benchmarks/bench_allocator.py [--threads 1]
"""

import argparse
import os
import subprocess
import sys

from fixtures import malloc_env

CHILD = """
import resource, time
import numpy as np
import numnet_ref as nr

np.random.seed(0)
B, STEPS = 32, 187
x = np.random.rand(STEPS * B, 1, 28, 28).astype(np.float32)
y = np.eye(10, dtype=np.float32)[np.random.randint(0, 10, STEPS * B)]
net = nr.Network(
    [nr.Conv2DLayer(kernel_size=3, input_channels=1, output_channels=8, padding='same'), nr.ReLU(), nr.MaxPooling(2),
     nr.FlattenLayer(), nr.DenseLayer(1568, 10), nr.Softmax()],
    loss=nr.CrossEntropy(),
)
for i in range(8):
    net.train_step(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B], 0.01)
for epoch in range(3):
    before, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for i in range(STEPS):
        net.train_step(x[i * B:(i + 1) * B], y[i * B:(i + 1) * B], 0.01)
    seconds = time.perf_counter() - t0
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / STEPS
    print(f"{seconds:.4f} {faults:.0f}")
"""


def run(env):
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True).stdout
    return [tuple(float(v) for v in line.split()) for line in out.split("\n") if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="OPENBLAS/OMP/MKL threads (default 1, as the grader)")
    args = p.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    base.update({n: str(args.threads) for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    tuned = malloc_env()
    print(f"model c, 187 steps of batch 32 per epoch, {args.threads} BLAS thread(s); load {os.getloadavg()[0]:.2f}")
    print()
    print("| allocator | s/epoch (3 epochs) | minor page faults per step |")
    print("|---|---|---|")
    for label, env in (
        ("glibc's defaults", base),
        ("course kernel's: " + " ".join(f"{k}={v}" for k, v in tuned.items()), dict(base, **tuned)),
    ):
        rows = run(env)
        print(f"| {label} | {', '.join(f'{s:.3f}' for s, _ in rows)} | {', '.join(f'{f:.0f}' for _, f in rows)} |")


if __name__ == "__main__":
    main()
