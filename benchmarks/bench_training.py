#!/usr/bin/env python
"""Seconds per training epoch of the same small models in numnet_ref, Keras and plain PyTorch (prints figures).

Not a test. Every framework runs in its own worker process (the Keras backend is fixed at import, and this
keeps thread pools apart); the parent drives them one at a time and prints markdown tables. The timed epochs
are interleaved (round r runs one epoch in every framework, starting with a different one each round), so that
load from other users of a shared machine hits all frameworks alike.

Models (same MNIST images, batches, plain SGD and learning rate in every framework; float32 everywhere):
  a  Dense(784,10)+Softmax                         15,000 images (every 4th training image), batch 16, lr 0.01
  b  Dense(784,20)+ReLU+Dense(20,10)+Softmax       10,000 images (the first ones), batch 16, lr 0.001
  c  Conv2D(1->8,3,'same')+ReLU+MaxPooling(2)+Flatten+Dense(1568,10)+Softmax
                                                   6,000 images (the first ones, 1x28x28), batch 32, lr 0.01
Sample counts are cut down to whole batches (15000 -> 14992, 6000 -> 5984), so all frameworks run the same batches.

Timing, per framework and model: one untimed warm-up epoch on a slice of 8 batches (JIT/compilation excluded),
then ``--reps`` (3) timed epochs of the same model; the tables give the best (used for the ratios) and all runs.
  numnet_ref: ``Network.train_step`` in a plain loop over the batches (what ``fit`` does, without tqdm).
  Keras:      ``model.fit(x, y, epochs=1, batch_size=..., shuffle=False, verbose=0)``, SGD, categorical
              cross-entropy on one-hot labels, Keras' default data format (channels_last).
  PyTorch:    nn.Sequential, CrossEntropyLoss on logits, torch.optim.SGD, tensors made beforehand, batches
              sliced by hand (no DataLoader).
The floor (numnet_ref's worker, right after each of its timed epochs, same batches, arrays, dtypes and threads):
the time of the bare matrix products each ``train_step`` needs, nothing else: for every batch the layers' real
inputs and weights are prepared untimed (a forward pass) with a fixed random float32 gradient per layer output,
then only the ``np.matmul`` calls are timed, in the shapes and layouts numnet_ref uses.
  Dense (x (B, in), W (in, out), gradient d (B, out)):  x @ W,  x.T @ d,  and d @ W.T unless it is the first layer
  Conv2D (im2col matrix cols (B, C*k*k, Ho*Wo), kernel matrix (O, C*k*k), gradient (B, O, Ho*Wo)):
      forward  K @ cols,  kernel gradient  g @ cols^T  (per sample),  and the input gradient K^T @ g unless first
  a: 2 products, b: 5, c: 2 (conv) + 3 (dense). ratio = numnet_ref s/epoch / floor s/epoch (best of each).
Straight-line NumPy (models a and b, right after the floor): the same epoch written as one loop of NumPy calls
on copies of the weights, with no layers, checks or calls in between, Softmax and the loss gradient fused and the
learning rate folded into the gradient: the least any NumPy train step of these models does, next to the floor.
Allocator: every worker runs with the course kernel's MALLOC_* settings (``fixtures.malloc_env``) unless
``--malloc default``.
Also the forward+backward GFLOP/s of a conv layer (numnet_ref Conv2DLayer and torch.nn.Conv2d), counting
2*N*Ho*Wo*k*k*Cin*Cout per conv product and 3 products (forward, input gradient, kernel gradient).

Usage:
  python benchmarks/bench_training.py [--quick] [--models a,b,c] [--keras-backend torch] [--reps 3]
                                      [--frameworks numnet,keras,pytorch] [--threads 2] [--profile] [--clock cpu]
                                      [--malloc default]
OMP/MKL/OPENBLAS_NUM_THREADS and torch.set_num_threads are all set to --threads (default 2).
``--clock cpu`` times with the CPU seconds of each worker process (all its threads) instead of wall-clock seconds:
steadier on a shared machine, comparable across frameworks only with ``--threads 1`` (idle threads may spin).
"""

import argparse
import functools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from fixtures import malloc_env

ROOT = Path(__file__).resolve().parents[1]
LOADER_DIR = ROOT / "source" / "numnet"
DEFAULT_MNIST_DIR = "/work/shared/data/mnist"
REPLY_TAG = "BENCH_REPLY_JSON:"

MODELS = {
    "a": dict(name="a: Dense(784,10)+Softmax", n=15000, pick="every4", batch=16, lr=0.01, quick_n=480),
    "b": dict(
        name="b: Dense(784,20)+ReLU+Dense(20,10)+Softmax", n=10000, pick="first", batch=16, lr=0.001, quick_n=480
    ),
    "c": dict(
        name="c: Conv2D(1->8,3,same)+ReLU+MaxPool(2)+Flatten+Dense(1568,10)+Softmax",
        n=6000,
        pick="first",
        batch=32,
        lr=0.01,
        quick_n=256,
    ),
}
WARMUP_BATCHES = 8
EVAL_SAMPLES = 2000

# conv micro-benchmark shapes: (label, N, Cin, Cout, H=W, k)
CONV_CASES = [
    ("model c's conv: N=32, 1->8, 28x28, k=3", 32, 1, 8, 28, 3),
    ("wider conv: N=32, 8->16, 28x28, k=3", 32, 8, 16, 28, 3),
]


# ------------------------------------------------------------------------------------------- shared helpers


def thread_env(threads):
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}


@functools.lru_cache(maxsize=1)
def load_mnist():
    """MNIST as the loader gives it: uint8 images (N, 28, 28) and uint8 labels, train and test."""
    sys.path.insert(0, str(LOADER_DIR))
    from mnist_loader import load_data

    return load_data()


def model_data(key, quick):
    """Arrays of one model: x (N, 784) or NCHW (N, 1, 28, 28) float32 in [0, 1], y int64 labels, and the same for
    the first EVAL_SAMPLES test images."""
    import numpy as np

    spec = MODELS[key]
    (x_train, y_train), (x_test, y_test) = load_mnist()
    n = spec["quick_n"] if quick else spec["n"]
    if spec["pick"] == "every4":
        x, y = x_train[::4][:n], y_train[::4][:n]
    else:
        x, y = x_train[:n], y_train[:n]
    n = len(x) // spec["batch"] * spec["batch"]  # whole batches only: every framework sees the same batches
    x, y = x[:n], y[:n]
    xe, ye = x_test[:EVAL_SAMPLES], y_test[:EVAL_SAMPLES]
    shape = (1, 28, 28) if key == "c" else (784,)

    def prep(a):
        return np.ascontiguousarray(a.reshape((len(a),) + shape), dtype=np.float32) / np.float32(255)

    return prep(x), y.astype(np.int64), prep(xe), ye.astype(np.int64)


def one_hot(y):
    import numpy as np

    out = np.zeros((len(y), 10), dtype=np.float32)
    out[np.arange(len(y)), y] = 1
    return out


CLOCK = time.perf_counter  # time.process_time with --clock cpu (set in the worker)


def timed(fn):
    t0 = CLOCK()
    fn()
    return CLOCK() - t0


def conv_flops(n, cin, cout, hw, k):
    """FLOPs of forward + backward of a stride-1 'same' conv: 3 products of 2*N*Ho*Wo*k*k*Cin*Cout."""
    return 3 * 2 * n * hw * hw * k * k * cin * cout


def best_rate(fn, flops, min_time=0.3, reps=3):
    """(GFLOP/s, seconds per call) of ``fn``: best of ``reps`` runs of enough calls to last ~min_time/3 s."""
    fn()
    calls = 1
    while timed(lambda: [fn() for _ in range(calls)]) < min_time / 3 and calls < 1 << 16:
        calls *= 2
    best = min(timed(lambda: [fn() for _ in range(calls)]) / calls for _ in range(reps))
    return flops / best / 1e9, best


# ------------------------------------------------------------------------------------------- framework runners
# Each runner: prepare(key) -> {"warmup": s, "n": samples}; epoch(key) -> seconds; finish(key) -> {"acc": ...};
# conv() -> [{"label", "gflops", "ms"}] (optional); info() -> dict printed in the header.


class NumnetRunner:
    def __init__(self, args):
        import numnet_ref

        self.nr, self.args, self.state, self.gradients, self.faults = numnet_ref, args, {}, {}, {}

    def info(self):
        from threadpoolctl import threadpool_info

        return {
            "blas": [
                {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                for i in threadpool_info()
            ]
        }

    def build(self, key):
        nr = self.nr
        if key == "a":
            layers = [nr.DenseLayer(784, 10), nr.Softmax()]
        elif key == "b":
            layers = [nr.DenseLayer(784, 20), nr.ReLU(), nr.DenseLayer(20, 10), nr.Softmax()]
        else:
            layers = [
                nr.Conv2DLayer(kernel_size=3, input_channels=1, output_channels=8, padding="same"),
                nr.ReLU(),
                nr.MaxPooling(2),
                nr.FlattenLayer(),
                nr.DenseLayer(1568, 10),
                nr.Softmax(),
            ]
        return nr.Network(layers, loss=nr.CrossEntropy())

    @staticmethod
    def run_epoch(net, x, y, batch, lr):
        for i in range(len(x) // batch):
            net.train_step(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch], learning_rate=lr)

    def prepare(self, key):
        import numpy as np

        np.random.seed(0)
        spec = MODELS[key]
        x, y, xe, ye = model_data(key, self.args.quick)
        net, yh, w = self.build(key), one_hot(y), WARMUP_BATCHES * spec["batch"]
        self.state[key] = (net, x, yh, xe, ye)
        return {"warmup": timed(lambda: self.run_epoch(net, x[:w], yh[:w], spec["batch"], spec["lr"])), "n": len(x)}

    def epoch(self, key):
        import resource

        net, x, yh, _, _ = self.state[key]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        seconds = timed(lambda: self.run_epoch(net, x, yh, MODELS[key]["batch"], MODELS[key]["lr"]))
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        self.faults.setdefault(key, []).append(faults / (len(x) // MODELS[key]["batch"]))
        return seconds

    def floor_products(self, net, x):
        """(a, b) pairs for ``np.matmul``: the products one train_step on batch ``x`` needs (see the module doc)."""
        from numnet_ref.im2col import im2col, pad2d, windows

        pairs = []
        for i, layer in enumerate(net.layers):
            out = layer.forward(x)
            g = self.gradient(out.shape)
            if isinstance(layer, self.nr.DenseLayer):
                pairs += [(x, layer.W), (x.T, g)] + ([(g, layer.W.T)] if i else [])
            elif isinstance(layer, self.nr.Conv2DLayer):
                k, c, o = layer.kernel_size, layer.input_channels, layer.output_channels
                cols = im2col(windows(pad2d(x, *layer._pads(x)), k, layer.stride))
                g = g.reshape(len(x), o, -1)
                pairs += [
                    (layer.kernel.transpose(3, 2, 0, 1).reshape(o, c * k * k), cols),
                    (g, cols.transpose(0, 2, 1)),
                ] + ([(layer.kernel.reshape(k * k * c, o), g)] if i else [])
            elif not isinstance(layer, (self.nr.ReLU, self.nr.MaxPooling, self.nr.FlattenLayer, self.nr.Softmax)):
                raise TypeError(f"no floor products known for {layer!r}")
            x = out
        return pairs

    def gradient(self, shape):
        """A fixed random float32 array of ``shape`` (the gradient arriving at a layer's output in the floor)."""
        import numpy as np

        if shape not in self.gradients:
            self.gradients[shape] = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        return self.gradients[shape]

    def floor(self, key):
        """Seconds of the bare matrix products of one epoch of ``key`` (only the np.matmul calls are timed)."""
        import numpy as np

        net, x, _, _, _ = self.state[key]
        batch, total = MODELS[key]["batch"], 0.0
        for i in range(len(x) // batch):
            pairs = self.floor_products(net, x[i * batch : (i + 1) * batch])
            t0 = CLOCK()
            for a, b in pairs:
                np.matmul(a, b)
            total += CLOCK() - t0
        return total

    def straight(self, key):
        """Seconds of one epoch of model a or b written as straight-line NumPy (None for c): the same products and
        element-wise arithmetic on copies of the weights, with no layers, checks or calls in between, Softmax and
        the loss gradient fused (one-hot labels, no clipping), the learning rate folded into the gradient. What any
        NumPy train step of these models must at least do."""
        import numpy as np

        if key not in ("a", "b"):
            return None
        net, x, yh, _, _ = self.state[key]
        params = [p.copy() for layer in net.layers if isinstance(layer, self.nr.DenseLayer) for p in layer.params]
        batch = MODELS[key]["batch"]
        scale = np.float32(MODELS[key]["lr"] / batch)

        def softmax_grad(z, yb):  # z: logits -> (softmax(z) - y) * lr / B, in place
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z -= yb
            z *= scale
            return z

        t0 = CLOCK()
        for i in range(len(x) // batch):
            xb, yb = x[i * batch : (i + 1) * batch], yh[i * batch : (i + 1) * batch]
            if key == "a":
                w, b = params
                z = xb @ w
                z += b
                g = softmax_grad(z, yb)
                w -= xb.T @ g
                b -= g.sum(axis=0)
            else:
                w1, b1, w2, b2 = params
                h = xb @ w1
                h += b1
                r = np.maximum(h, 0)
                z = r @ w2
                z += b2
                g = softmax_grad(z, yb)
                gr = g @ w2.T
                gr *= h > 0
                w2 -= r.T @ g
                b2 -= g.sum(axis=0)
                w1 -= xb.T @ gr
                b1 -= gr.sum(axis=0)
        return CLOCK() - t0

    def finish(self, key):
        import numpy as np

        net, x, yh, xe, ye = self.state.pop(key)
        out = {"acc": float(np.mean(net.predict(xe, batch_size=500).argmax(1) == ye))}
        out["faults_per_step"] = min(self.faults.pop(key, [float("nan")]))  # minor page faults, best epoch
        if self.args.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.runcall(self.run_epoch, net, x, yh, MODELS[key]["batch"], MODELS[key]["lr"])
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(16)
            out["profile"] = text.getvalue()
        return out

    def conv(self):
        import numpy as np

        rng = np.random.default_rng(0)
        out = []
        for label, n, cin, cout, hw, k in CONV_CASES:
            layer = self.nr.Conv2DLayer(kernel_size=k, input_channels=cin, output_channels=cout, padding="same")
            x = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
            g = rng.standard_normal((n, cout, hw, hw)).astype(np.float32)

            def step():
                layer.forward(x)
                layer.backward(x, g)

            gflops, sec = best_rate(step, conv_flops(n, cin, cout, hw, k))
            out.append(dict(label=label, gflops=gflops, ms=sec * 1e3))
        return out


class TorchRunner:
    def __init__(self, args):
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        self.torch, self.args, self.state = torch, args, {}

    def info(self):
        return {
            "torch_threads": self.torch.get_num_threads(),
            "torch_interop_threads": self.torch.get_num_interop_threads(),
        }

    @staticmethod
    def build(key):
        from torch import nn

        if key == "a":
            return nn.Sequential(nn.Linear(784, 10))
        if key == "b":
            return nn.Sequential(nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10))
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1568, 10)
        )

    def prepare(self, key):
        torch, spec = self.torch, MODELS[key]
        x, y, xe, ye = model_data(key, self.args.quick)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        model = self.build(key)
        loss_fn = torch.nn.CrossEntropyLoss()  # on logits: log-softmax + NLL in one op
        opt = torch.optim.SGD(model.parameters(), lr=spec["lr"])
        batch = spec["batch"]

        def run_epoch(xs, ys):
            model.train()
            for i in range(len(xs) // batch):
                xb, yb = xs[i * batch : (i + 1) * batch], ys[i * batch : (i + 1) * batch]
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()

        w = WARMUP_BATCHES * batch
        self.state[key] = (model, lambda: run_epoch(xt, yt), xe, ye)
        return {"warmup": timed(lambda: run_epoch(xt[:w], yt[:w])), "n": len(x)}

    def epoch(self, key):
        return timed(self.state[key][1])

    def finish(self, key):
        model, _, xe, ye = self.state.pop(key)
        with self.torch.no_grad():
            return {"acc": float((model(self.torch.from_numpy(xe)).argmax(1).numpy() == ye).mean())}

    def conv(self):
        import numpy as np

        torch = self.torch
        rng = np.random.default_rng(0)
        out = []
        for label, n, cin, cout, hw, k in CONV_CASES:
            layer = torch.nn.Conv2d(cin, cout, k, padding=k // 2)
            x = torch.from_numpy(rng.standard_normal((n, cin, hw, hw)).astype(np.float32)).requires_grad_()
            g = torch.from_numpy(rng.standard_normal((n, cout, hw, hw)).astype(np.float32))

            def step():
                x.grad = None
                layer.zero_grad(set_to_none=True)
                layer(x).backward(g)

            gflops, sec = best_rate(step, conv_flops(n, cin, cout, hw, k))
            out.append(dict(label=label, gflops=gflops, ms=sec * 1e3))
        return out


class KerasRunner:
    def __init__(self, args):
        import keras

        self.keras, self.args, self.state = keras, args, {}
        if keras.backend.backend() == "torch":
            import torch

            torch.set_num_threads(args.threads)
        keras.utils.set_random_seed(0)

    def info(self):
        out = {"backend": self.keras.backend.backend()}
        if out["backend"] == "torch":
            import torch

            out["torch_threads"] = torch.get_num_threads()
        return out

    def build(self, key, lr):
        keras, layers = self.keras, self.keras.layers
        if key == "a":
            model = keras.Sequential([keras.Input((784,)), layers.Dense(10), layers.Softmax()])
        elif key == "b":
            model = keras.Sequential(
                [keras.Input((784,)), layers.Dense(20), layers.ReLU(), layers.Dense(10), layers.Softmax()]
            )
        else:
            model = keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Conv2D(8, 3, padding="same"),
                    layers.ReLU(),
                    layers.MaxPooling2D(2),
                    layers.Flatten(),
                    layers.Dense(10),
                    layers.Softmax(),
                ]
            )
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="categorical_crossentropy")
        return model

    def prepare(self, key):
        spec = MODELS[key]
        x, y, xe, ye = model_data(key, self.args.quick)
        if key == "c":  # Keras' default data format: NHWC
            x, xe = x.transpose(0, 2, 3, 1).copy(), xe.transpose(0, 2, 3, 1).copy()
        yh = one_hot(y)
        model = self.build(key, spec["lr"])
        batch = spec["batch"]

        def run_epoch(xs, ys):
            model.fit(xs, ys, epochs=1, batch_size=batch, shuffle=False, verbose=0)
            self.keras.ops.convert_to_numpy(model.weights[0])  # be sure all (async) work has finished

        w = WARMUP_BATCHES * batch
        self.state[key] = (model, lambda: run_epoch(x, yh), xe, ye)
        return {"warmup": timed(lambda: run_epoch(x[:w], yh[:w])), "n": len(x)}

    def epoch(self, key):
        return timed(self.state[key][1])

    def finish(self, key):
        import numpy as np

        model, _, xe, ye = self.state.pop(key)
        return {"acc": float(np.mean(model.predict(xe, batch_size=500, verbose=0).argmax(1) == ye))}


RUNNERS = {"numnet": NumnetRunner, "pytorch": TorchRunner, "keras": KerasRunner}


def worker_main(args):
    """Serve JSON commands {"op": ..., "args": [...]} from stdin, one reply line each (tagged) on stdout."""

    def reply(obj):
        print(REPLY_TAG + json.dumps(obj), flush=True)

    try:
        runner = RUNNERS[args.worker](args)
        reply({"ok": runner.info()})
    except Exception:
        reply({"error": traceback.format_exc()})
        return
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            return
        try:
            reply({"ok": getattr(runner, cmd["op"])(*cmd.get("args", []))})
        except Exception:
            reply({"error": traceback.format_exc()})


# ------------------------------------------------------------------------------------------- parent: drive and print

FRAMEWORKS = {  # column -> (worker, extra environment)
    "numnet_ref": ("numnet", {}),
    "Keras (jax)": ("keras", {"KERAS_BACKEND": "jax"}),
    "Keras (torch)": ("keras", {"KERAS_BACKEND": "torch"}),
    "PyTorch": ("pytorch", {}),
}


class Worker:
    """A framework's worker process; ``call`` sends one command and waits for its reply."""

    def __init__(self, column, args):
        worker, extra = FRAMEWORKS[column]
        env = dict(os.environ, **thread_env(args.threads), **extra)
        for name in list(env):
            if name.startswith("MALLOC_"):
                del env[name]
        if args.malloc == "tuned":
            env.update(malloc_env())
        env.setdefault("KERAS_HOME", tempfile.gettempdir() + "/keras_home_bench")
        env.setdefault("NUMNET_MNIST_DIR", DEFAULT_MNIST_DIR)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", worker, "--threads", str(args.threads)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--profile"] if args.profile else []
        cmd += ["--clock", args.clock]
        self.column, self.error = column, None
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1
        )
        self.info = self._reply()

    def _reply(self):
        for line in self.proc.stdout:
            if line.startswith(REPLY_TAG):
                reply = json.loads(line[len(REPLY_TAG) :])
                if "error" in reply:
                    self.error = reply["error"].strip().splitlines()[-1]
                    print(f"# {self.column}: {reply['error']}", file=sys.stderr)
                return reply.get("ok")
        self.stderr.seek(0)
        tail = " / ".join(self.stderr.read().strip().splitlines()[-3:])
        self.error = f"worker exited with code {self.proc.wait()}: {tail}"
        return None

    def call(self, op, *args):
        if self.proc.poll() is not None:
            return None
        self.proc.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait()
        self.stderr.close()


def measure(columns, args):
    """{column: {"info", "error", "models": {key: {warmup, n, times, floor_times, acc[, profile]}}, "conv"}}."""
    results = {c: {"models": {}} for c in columns}
    workers = {}
    try:
        for c in columns:
            print(f"# starting {c} ...", file=sys.stderr, flush=True)
            workers[c] = Worker(c, args)
        live = [c for c in columns if workers[c].error is None]
        for key in args.models:
            print(f"# model {key}: warm-up, then {args.reps} interleaved rounds", file=sys.stderr, flush=True)
            ready = []
            for c in live:
                prep = workers[c].call("prepare", key)
                if prep is not None:
                    results[c]["models"][key] = dict(prep, times=[], floor_times=[], straight_times=[])
                    ready.append(c)
            for r in range(args.reps):
                for c in ready[r % len(ready) :] + ready[: r % len(ready)]:  # a different framework starts each round
                    t = workers[c].call("epoch", key)
                    if t is not None:
                        results[c]["models"][key]["times"].append(t)
                    if c == "numnet_ref":  # its floor right after its epoch: the same load conditions
                        t = workers[c].call("floor", key)
                        if t is not None:
                            results[c]["models"][key]["floor_times"].append(t)
                        t = workers[c].call("straight", key)
                        if t is not None:
                            results[c]["models"][key]["straight_times"].append(t)
            for c in ready:
                results[c]["models"][key].update(workers[c].call("finish", key) or {})
        for c in live:
            if c in ("numnet_ref", "PyTorch"):
                print(f"# {c}: conv GFLOP/s", file=sys.stderr, flush=True)
                results[c]["conv"] = workers[c].call("conv")
    finally:
        for c, w in workers.items():
            results[c]["info"], results[c]["error"] = w.info, w.error
            w.close()
    return results


def best_of(results, column, key, times="times"):
    r = results.get(column, {}).get("models", {}).get(key)
    return min(r[times]) if r and r[times] else None


def fmt(seconds):
    return "—" if seconds is None else f"{seconds:.4f}"


def ratio(num, den):
    return "—" if num is None or den is None else f"{num / den:.2f}"


def version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def met(ok):
    return "—" if ok is None else ("met" if ok else "NOT met")


def target_text(key, ours, floor, torch_t):
    """The targets of issue 11 (on a quiet 2-core machine): MLPs at most 1.5x their floor and at least 3x faster
    than PyTorch, the conv net no slower than PyTorch."""
    vs_torch = None if ours is None or torch_t is None else torch_t / ours
    if key in ("a", "b"):
        near_floor = None if ours is None or floor is None else ours <= 1.5 * floor
        return (
            f"≤1.5x floor: {met(near_floor)}; "
            f"≥3x faster than PyTorch: {met(None if vs_torch is None else vs_torch >= 3)}"
        )
    return f"no slower than PyTorch: {met(None if vs_torch is None else vs_torch >= 1)}"


def print_report(results, columns, args, started, load_start, load_end):
    print("## numnet_ref training benchmark" + (" (--quick: tiny sizes, figures not meaningful)" if args.quick else ""))
    print()
    print(f"- command: `{' '.join(shlex.quote(a) for a in [Path(sys.executable).name] + sys.argv)}`")
    print(
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {cpu_model()}, {os.cpu_count()} logical CPUs; "
        f"1-min load average at start/end: {load_start:.2f} / {load_end:.2f} (shared machine: other jobs ran too)"
    )
    print(
        f"- python {platform.python_version()}; numpy {version('numpy')}; keras {version('keras')}; "
        f"jax {version('jax')}; torch {version('torch')}"
    )
    torch_info = results.get("PyTorch", {}).get("info") or {}
    print(
        f"- threads: OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS={args.threads}; "
        f"torch.set_num_threads({args.threads}) (PyTorch reports {torch_info.get('torch_threads', '?')} intra-op, "
        f"{torch_info.get('torch_interop_threads', '?')} inter-op threads); jax/XLA: its default CPU thread pool "
        f"(one per CPU; XLA has no reliable thread limit, see jax-ml/jax#1539); "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    blas = (results.get("numnet_ref", {}).get("info") or {}).get("blas")
    if blas:
        print(
            "- numpy BLAS (threadpoolctl, in the numnet_ref worker): "
            + "; ".join(
                f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)" for b in blas
            )
        )
    print(
        f"- every framework in its own worker process; per model: 1 untimed warm-up epoch on {WARMUP_BATCHES} "
        f"batches, then {args.reps} timed epochs interleaved across frameworks; s/epoch = best of {args.reps}; "
        f"ratios = other's best / numnet_ref's best (> 1 means numnet_ref is faster)"
    )
    print(
        "- allocator: "
        + (
            " ".join(f"{k}={v}" for k, v in malloc_env().items())
            + " in every worker, as in the course's kernel (glibc keeps freed memory)"
            if args.malloc == "tuned"
            else "glibc's defaults (--malloc default)"
        )
    )
    if args.clock == "cpu":
        print("- **clock: CPU seconds** of each worker process (all its threads), not wall-clock seconds")
    for c in columns:
        if results[c].get("error"):
            print(f"- **{c} failed**: {results[c]['error']}")
    print()

    print(
        "numnet_ref against its floor (the bare matrix products of its train steps, measured in its worker right "
        "after each of its epochs) and against plain PyTorch (s/epoch, best of each; ratio = numnet_ref / floor; "
        "speed-up = PyTorch / numnet_ref):"
    )
    print()
    print(
        "| model | numnet_ref s/epoch | floor s/epoch | ratio | straight-line NumPy s/epoch (ratio to floor) | "
        "PyTorch s/epoch | speed-up vs PyTorch | targets |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in args.models:
        ours, torch_t = best_of(results, "numnet_ref", key), best_of(results, "PyTorch", key)
        floor = best_of(results, "numnet_ref", key, "floor_times")
        straight = best_of(results, "numnet_ref", key, "straight_times")
        straight_text = "—" if straight is None else f"{fmt(straight)} ({ratio(straight, floor)})"
        print(
            f"| {MODELS[key]['name']} | {fmt(ours)} | {fmt(floor)} | {ratio(ours, floor)} | {straight_text} | "
            f"{fmt(torch_t)} | {ratio(torch_t, ours)} | {target_text(key, ours, floor, torch_t)} |"
        )
    print()
    print(
        "(straight-line NumPy: the same epoch of the MLPs with no layers, checks or calls between the operations, "
        "Softmax and the loss gradient fused, the learning rate folded into the gradient; the least any NumPy train "
        "step of these models does, measured right after the floor.)"
    )
    print()

    keras_cols = [c for c in columns if c.startswith("Keras")]
    head = (
        ["model", "samples / batch"]
        + [f"{c} s/epoch" for c in columns]
        + ["PyTorch / numnet"]
        + [f"{c} / numnet" for c in keras_cols]
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in args.models:
        n = next((r["models"][key]["n"] for r in results.values() if key in r.get("models", {})), "?")
        ours, torch_t = best_of(results, "numnet_ref", key), best_of(results, "PyTorch", key)
        row = [MODELS[key]["name"], f"{n} / {MODELS[key]['batch']}"]
        row += [fmt(best_of(results, c, key)) for c in columns] + [ratio(torch_t, ours)]
        row += [ratio(best_of(results, c, key), ours) for c in keras_cols]
        print("| " + " | ".join(row) + " |")
    print()

    print(
        f"All runs (seconds; warm-up = the {WARMUP_BATCHES}-batch warm-up epoch, with compilation; acc = accuracy "
        f"on the first {EVAL_SAMPLES} test images after all epochs, a check that the same model was trained):"
    )
    print()
    print("| model | framework | warm-up | timed epochs in order | best | median | acc |")
    print("|---|---|---|---|---|---|---|")
    for key in args.models:
        for c in columns:
            r = results[c]["models"].get(key)
            if r and r["times"]:
                print(
                    f"| {key} | {c} | {r['warmup']:.3f} | {', '.join(f'{t:.3f}' for t in r['times'])} | "
                    f"{min(r['times']):.3f} | {statistics.median(r['times']):.3f} | {r.get('acc', float('nan')):.3f} |"
                )
            for extra, label in (("floor_times", "floor"), ("straight_times", "straight-line NumPy")):
                if r and r.get(extra):
                    ft = r[extra]
                    print(
                        f"| {key} | {c} {label} | — | {', '.join(f'{t:.3f}' for t in ft)} | {min(ft):.3f} | "
                        f"{statistics.median(ft):.3f} | — |"
                    )
    print()

    faults = [
        f"{key} {results['numnet_ref']['models'][key]['faults_per_step']:.0f}"
        for key in args.models
        if "faults_per_step" in results.get("numnet_ref", {}).get("models", {}).get(key, {})
    ]
    if faults:
        print(f"numnet_ref's minor page faults per train step (fewest of its timed epochs): {', '.join(faults)}")
        print()

    conv_cols = [c for c in ("numnet_ref", "PyTorch") if results.get(c, {}).get("conv")]
    if conv_cols:
        print("Conv layer forward+backward, float32, 'same', stride 1 (FLOPs = 3 x 2*N*Ho*Wo*k*k*Cin*Cout; best of 3):")
        print()
        print("| case | " + " | ".join(f"{c} GFLOP/s (ms per fwd+bwd)" for c in conv_cols) + " |")
        print("|---|" + "---|" * len(conv_cols))
        for i, case in enumerate(CONV_CASES):
            cells = [f"{results[c]['conv'][i]['gflops']:.2f} ({results[c]['conv'][i]['ms']:.2f})" for c in conv_cols]
            print(f"| {case[0]} | " + " | ".join(cells) + " |")
        print()
    for key in args.models:
        text = results.get("numnet_ref", {}).get("models", {}).get(key, {}).get("profile")
        if text:
            print(f"cProfile of one more numnet_ref epoch, model {key} (sorted by own time):")
            print("```")
            print(text.strip())
            print("```")


def main(args):
    os.environ.update(thread_env(args.threads))
    columns = ["numnet_ref", "Keras (jax)"] + (["Keras (torch)"] if "torch" in args.keras_backend else [])
    columns.append("PyTorch")
    if args.frameworks:
        wanted = {f.strip() for f in args.frameworks.split(",")}
        columns = [c for c in columns if FRAMEWORKS[c][0] in wanted]
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()[0]
    results = measure(columns, args)
    print_report(results, columns, args, started, load_start, os.getloadavg()[0])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run (figures not meaningful)")
    p.add_argument("--models", default="a,b,c", help="comma-separated subset of a,b,c (default: a,b,c)")
    p.add_argument(
        "--keras-backend",
        default="jax",
        help="'torch' also runs Keras with the torch backend (own process) besides jax",
    )
    p.add_argument("--frameworks", default="", help="comma-separated subset of numnet,keras,pytorch (default all)")
    p.add_argument("--reps", type=int, default=3, help="timed epochs per framework and model (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS/OpenMP/torch (default 2)")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of one numnet_ref epoch per model")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="'cpu': CPU seconds of each worker process instead of wall-clock seconds (see above)",
    )
    p.add_argument(
        "--malloc",
        choices=("tuned", "default"),
        default="tuned",
        help="'tuned' (default): the course kernel's MALLOC_* settings in every worker; 'default': glibc's defaults",
    )
    p.add_argument("--worker", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.models or any(m not in MODELS for m in args.models):
        p.error(f"--models: expected a comma-separated subset of a,b,c, got {','.join(args.models)!r}")
    if args.reps < 1 or args.threads < 1:
        p.error("--reps and --threads must be at least 1")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        os.environ.update(thread_env(arguments.threads))  # set by the parent already; kept for direct runs
        CLOCK = time.process_time if arguments.clock == "cpu" else time.perf_counter
        worker_main(arguments)
    else:
        main(arguments)
