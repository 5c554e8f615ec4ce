"""Bundled example submissions (the reference, the untouched release, typical student bugs) and their grades.

    python -m coursekit.examples             # grade every example as the bot does, print expected vs obtained points
    python -m coursekit.examples --list      # print the examples without grading
    python -m coursekit.examples softmax_no_max_shift reference   # only these

Each broken submission is the solved notebook (the release with the solution cells of the source notebook) with ONE
typical bug applied as a find/replace in one cell (`Edit`), and the points per task the grader must give it. They are
graded through the pipeline of a real submission (gradebot's ``grade_notebook``, sandbox included: coursekit.grading).
The solution code comes from numnet_ref through the source notebook, so a find string that no longer matches numnet_ref
fails loudly (MutationError) instead of silently testing nothing.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field

import nbformat

from coursekit import RELEASE_DIR, NOTEBOOK, SOURCE_NOTEBOOK, TASKS
from coursekit.nbgrader_ext import split_custom_stub

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from typing import Any


class MutationError(ValueError):
    pass


@dataclass(frozen=True)
class Edit:
    """Replace `find` (must occur exactly once) by `replace` in the cell with grade_id `target`.

    `find=None`: replace the whole cell source; `replace=None` with `find=None`: delete the cell."""

    target: str
    find: str = None
    replace: str = None


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    edits: tuple = ()
    expected: dict = field(default_factory=dict)  # tasks not listed: full points
    base: str = "solved"  # "solved" or "release"
    fallbacks: tuple = ()  # "cell" or "cell:method": optional regions (all, or that method's) left as released
    stubs: tuple = ()  # "cell:Class.method": that method's required region left as released (not implemented)

    def expected_points(self) -> dict[str, float]:
        if self.base == "release":
            return {task: self.expected.get(task, 0) for task in TASKS}
        return {task: self.expected.get(task, maximum) for task, maximum in TASKS.items()}


SLOW_MAXPOOL_GRAD_X = """x = np.asarray(input_data)
        n, c, h, w = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        ho, wo = (h - ph) // sh + 1, (w - pw) // sw + 1
        jac = np.zeros((n, c * ho * wo, c * h * w))
        for b in range(n):
            for ch in range(c):
                for i in range(ho):
                    for j in range(wo):
                        window = x[b, ch, i * sh:i * sh + ph, j * sw:j * sw + pw]
                        di, dj = np.unravel_index(np.argmax(window), window.shape)
                        jac[b, (ch * ho + i) * wo + j, (ch * h + i * sh + di) * w + j * sw + dj] = 1
        return jac"""

FAST_MAXPOOL_GRAD_X = """x = np.asarray(input_data)
        n, c, h, w = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        ho, wo = (h - ph) // sh + 1, (w - pw) // sw + 1
        # pix[window, entry]: the pixel (index within one channel) of each entry of each window, row-major
        pix = ((np.arange(ho)[:, None, None, None] * sh + np.arange(ph)[None, None, :, None]) * w
               + np.arange(wo)[None, :, None, None] * sw + np.arange(pw)[None, None, None, :]).reshape(ho * wo, -1)
        windows = x.reshape(n, c, h * w)[:, :, pix]                          # (n, c, ho * wo, ph * pw)
        first_max = pix[np.arange(ho * wo), windows.argmax(axis=3)]          # argmax: the first maximum
        columns = (np.arange(c)[:, None] * h * w + first_max).reshape(n, -1, 1)
        jac = np.zeros((n, c * ho * wo, c * h * w), dtype=x.dtype)
        np.put_along_axis(jac, columns, 1, axis=2)
        return jac"""

# The conv layers' Jacobians written directly (no backward anywhere): both layers are linear in x once the bias
# is dropped, and linear in the kernel with output channel o using only kernel[..., o]; so Jacobian columns are
# forward passes of the same kind of layer on basis inputs / with an identity kernel (exact, no differences).
CONV_GRAD_X = """
        # without its bias the layer is linear in x: column i of every sample's Jacobian is the output of the
        # unbiased layer for the i-th basis image
        x = self._input(input_data)
        n_in = int(np.prod(x.shape[1:]))
        unbiased = type(self)(self.kernel_size, self.input_channels, self.output_channels, padding=self.padding,
                              stride=self.stride, K_init=self.kernel, b_init=np.zeros_like(self.bias))
        basis = np.eye(n_in, dtype=np.result_type(x, self.kernel)).reshape((n_in,) + x.shape[1:])
        columns = unbiased.forward(basis).reshape(n_in, -1)                  # (in, out)
        return np.repeat(columns.T[None], len(x), axis=0)"""

CONV_GRAD_PARAM = """
        # out[o] = sum over (p, q, c) of kernel[p, q, c, o] * patch[p, q, c] (the same patches for every o): a
        # layer with one output channel per kernel entry (p, q, c) and the identity kernel outputs those patches
        x = self._input(input_data)
        k, c_in, c_out = self.kernel_size, self.input_channels, self.output_channels
        m = k * k * c_in
        patcher = type(self)(k, c_in, m, padding=self.padding, stride=self.stride,
                             K_init=np.eye(m, dtype=self.kernel.dtype).reshape(k, k, c_in, m),
                             b_init=np.zeros(m, dtype=self.kernel.dtype))
        patches = patcher.forward(x).reshape(len(x), m, -1)                  # (batch, m, Ho * Wo)
        eye = np.eye(c_out, dtype=patches.dtype)
        # d out[o, h] / d kernel[m, c] = patches[m, h] if o == c (kernel flattened row-major: index m * c_out + c)
        jac_kernel = np.einsum('bmh,oc->bohmc', patches, eye).reshape(len(x), -1, m * c_out)
        jac_bias = np.repeat(eye[:, None, :], patches.shape[2], axis=1).reshape(1, -1, c_out)
        return [jac_kernel, np.repeat(jac_bias, len(x), axis=0)]"""

FAKE_KERAS = """import os
os.makedirs('keras', exist_ok=True)
with open(os.path.join('keras', '__init__.py'), 'w') as f:
    f.write("def __getattr__(name):\\n    raise ImportError('fake keras from the notebook folder')\\n")
import keras


"""

EXAMPLES = [
    Example("reference", "the reference solution (numnet_ref)"),
    Example("release", "the untouched release: nothing implemented", base="release"),
    Example(
        "slow_jacobians",
        "correct but slow: no backward anywhere in Dense/ReLU/Softmax/Flatten/MaxPooling (the base class "
        "derives it from the Jacobians), MaxPooling's Jacobian built by explicit loops",
        edits=(Edit("maxpooling", "return jacobian_from_backward(self, input_data)", SLOW_MAXPOOL_GRAD_X),),
        fallbacks=("dense", "relu", "softmax", "flatten", "maxpooling:backward"),
    ),
    Example(
        "conv_backward_only",
        "the conv layers implement only forward and backward: _ConvBase's grad_x/grad_param left as released "
        "(Jacobians built from backward), no conv Jacobian code; full marks",
        fallbacks=("conv_base:grad_x", "conv_base:grad_param"),
    ),
    Example(
        "jacobians_only",
        "correct, every layer's derivatives only as Jacobians (grad_x / grad_param), no backward or "
        "backward_params anywhere (the base class derives them): MaxPooling's Jacobian by fancy indexing, the "
        "conv layers' from forward passes on basis images / an identity kernel; full marks, and 'Run all' "
        "within the budget of benchmarks/bench_notebook.py",
        edits=(
            Edit("maxpooling", "return jacobian_from_backward(self, input_data)", FAST_MAXPOOL_GRAD_X),
            Edit("conv_base", "\n        return jacobian_from_backward(self, input_data)", CONV_GRAD_X),
            Edit("conv_base", "\n        return param_jacobians_from_backward(self, input_data)", CONV_GRAD_PARAM),
        ),
        fallbacks=(
            "dense",
            "relu",
            "softmax",
            "flatten",
            "maxpooling:backward",
            "conv2d:backward",
            "conv2d:backward_params",
            "conv2dtr:backward",
            "conv2dtr:backward_params",
        ),
    ),
    Example(
        "conv_neither",
        "Conv2DLayer implements forward but neither its Jacobians nor backward (both left as released): its "
        "gradient and training cells fail at once with the one-sentence error saying what to implement "
        "(no RecursionError); its forward cell, MaxPooling's and every other class keep their points",
        fallbacks=("conv_base:grad_x", "conv_base:grad_param", "conv2d:backward", "conv2d:backward_params"),
        expected={"bonus_conv": 4},
    ),
    Example(
        "softmax_no_max_shift",
        "Softmax without subtracting the max: overflows on large inputs",
        (Edit("softmax", "e = np.exp(x - x.max(axis=1, keepdims=True))", "e = np.exp(x)"),),
        {"part1_forward": 4},
    ),
    Example(
        "dense_grad_w_transposed",
        "DenseLayer.grad_W laid out for W transposed (column-major flattening)",
        (
            Edit(
                "dense",
                "(eye[None, :, None, :] * x[:, None, :, None])",
                "(eye[None, :, :, None] * x[:, None, None, :])",
            ),
        ),
        {"part3_training": 9},
    ),
    Example(
        "relu_grad_negative",
        "ReLU.backward lets the gradient through at negative inputs",
        (Edit("relu", "grad_output * (np.asarray(input_data) > 0)", "grad_output * (np.asarray(input_data) != 0)"),),
        {"part2_grad_x": 4.75},
    ),
    Example(
        "maxpool_ignores_strides",
        "MaxPooling uses pool_size as the stride, whatever strides is",
        (
            Edit(
                "maxpooling",
                "(ph, pw), (sh, sw) = self.pool_size, self.strides",
                "(ph, pw), (sh, sw) = self.pool_size, self.pool_size",
            ),
        ),
        {"part1_forward": 4, "bonus_conv": 9},
    ),
    Example(
        "conv_same_symmetric",
        "Conv2D 'same' padding k // 2 on every side instead of Keras' rule",
        (Edit("conv_base", "return total // 2, total - total // 2", "return k // 2, k // 2"),),
        {"bonus_conv": 3},
    ),
    Example(
        "conv_same_odd_pixel_top_left",
        "Conv2D 'same' puts the odd padding pixel at the top/left instead of Keras' bottom/right: caught at home "
        "by the visible forward and gradient tests (odd padding), the training cell (even padding) passes",
        (Edit("conv_base", "return total // 2, total - total // 2", "return total - total // 2, total // 2"),),
        {"bonus_conv": 3},
    ),
    Example(
        "relu_grad_one_at_zero",
        "ReLU's derivative taken as 1 at x = 0 (x >= 0) in backward and grad_x, against the convention of "
        "Keras/JAX and the notebook (0 at 0): the visible ReLU gradient test fails at home",
        (
            Edit("relu", "grad_output * (np.asarray(input_data) > 0)", "grad_output * (np.asarray(input_data) >= 0)"),
            Edit("relu", "(x > 0)[:, :, None] * np.eye(x.shape[1])", "(x >= 0)[:, :, None] * np.eye(x.shape[1])"),
        ),
        {"part2_grad_x": 4.75},
    ),
    Example(
        "maxpool_grad_every_tied_max",
        "MaxPooling.backward sends the gradient to every tied maximum of a window instead of the first one "
        "(Keras' rule): the visible ties test of the pooling gradient cell fails at home",
        (Edit("maxpooling", "hit = (view == out) & ~taken", "hit = (view == out)"),),
        {"bonus_conv": 9},
    ),
    Example(
        "conv_tr_kernel_not_flipped",
        "Conv2DTr forward correlates with the kernel instead of convolving (backward is right): the forward "
        "cell fails, the gradient cells pass (fixed expected values), the network does not learn",
        (
            Edit(
                "conv2dtr",
                "correlate_transpose(x, self.kernel.transpose(0, 1, 3, 2), self.stride)",
                "correlate_transpose(x, self.kernel[::-1, ::-1].transpose(0, 1, 3, 2), self.stride)",
            ),
        ),
        {"bonus_conv_tr": 4},
    ),
    Example(
        "nesterov_old_momentum",
        "Nesterov step taken with the momentum from before its update (p += mu*m_old - lr*g), "
        "i.e. classical momentum instead of Keras' Nesterov; the other optimizers are right, and one correct "
        "optimizer earns the whole bonus",
        (
            Edit(
                "optimizers",
                "            m *= mu\n            m -= lr * g\n"
                "            p += mu * m - lr * g if self.nesterov else m",
                "            p += mu * m - lr * g\n            m *= mu\n            m -= lr * g",
            ),
        ),
    ),
    Example(
        "crossentropy_mean",
        "CrossEntropy.forward returns the batch mean instead of per-sample losses",
        (
            Edit(
                "crossentropy",
                "return -np.sum(y * np.log(np.maximum(p, self.eps)), axis=1)",
                "return -np.mean(np.sum(y * np.log(np.maximum(p, self.eps)), axis=1))",
            ),
        ),
        {"part2_grad_x": 4.75},
    ),
    Example(
        "test_cell_replaced_by_pass",
        "a locked test cell replaced by `pass` (tests come from the course)",
        (Edit("part2_grad_x__network", None, "pass"),),
    ),
    Example(
        "test_cell_deleted",
        "a test cell deleted (the graded notebook is rebuilt from the course)",
        (Edit("part3_training__fit_mnist", None, None),),
    ),
    Example(
        "keras_in_dense_forward",
        "DenseLayer.forward calls keras: Keras is not importable where student code runs at grading, so "
        "DenseLayer.forward fails (its own cell and the whole-network Keras comparison); nothing else is lost",
        (
            Edit(
                "dense",
                "return self._check(input_data) @ self.W + self.b",
                "import keras\n        return np.asarray(keras.ops.matmul(self._check(input_data), self.W)) + self.b",
            ),
        ),
        {"part1_forward": 3},
    ),
    Example(
        "sgd_infinite_loop",
        "SGD without momentum loops forever (while without i += 1): the hang is stopped "
        "in the sandbox and costs only 'SGD с моментом' (checked at momentum=0, Keras' default); the other "
        "optimizers are right, so the bonus is whole",
        (
            Edit(
                "optimizers",
                "            for p, g in zip(params, grads):\n                p -= lr * g\n            return",
                "            i = 0\n            while i < len(params):\n                params[i] -= lr * grads[i]\n"
                "            return",
            ),
        ),
    ),
    Example(
        "rmsprop_only",
        "only RMSprop implemented among the optimizers (SGD, Adagrad, Adam left as released): "
        "one correct optimizer earns the whole bonus",
        stubs=("optimizers:SGD._update", "optimizers:Adagrad._update", "optimizers:Adam._update"),
    ),
    Example(
        "adagrad_wrong",
        "only Adagrad implemented (SGD, RMSprop, Adam left as released), and wrongly: its "
        "accumulator starts at 0 instead of initial_accumulator_value; no correct optimizer, no bonus",
        (Edit("optimizers", "self._state(params, 1, self.initial_accumulator_value)", "self._state(params, 1)"),),
        {"bonus_optimizer": 0},
        stubs=("optimizers:SGD._update", "optimizers:RMSprop._update", "optimizers:Adam._update"),
    ),
    Example(
        "check_close_redefined",
        "Softmax overflows, and a later cell redefines the test helper check_close to pass everything: "
        "tests never run in the student's process, so the redefinition changes nothing (Softmax loses its "
        "point)",
        (
            Edit("softmax", "e = np.exp(x - x.max(axis=1, keepdims=True))", "e = np.exp(x)"),
            Edit("deep_demo", None, "def check_close(*args, **kwargs):   # теперь все тесты проходят\n    pass"),
        ),
        {"part1_forward": 4},
    ),
    Example(
        "fake_keras_next_to_notebook",
        "a solution cell writes a keras/ package next to the notebook (every attribute raises) and imports it: "
        "it shadows nothing the tests use (they run outside the student's process, expected values fixed)",
        (Edit("flatten", "class FlattenLayer(Layer):", FAKE_KERAS + "class FlattenLayer(Layer):"),),
    ),
    Example(
        "helpers_cell_deleted",
        "the read-only test-helpers cell deleted (read-only cells come from the course)",
        (Edit("test_helpers", None, None),),
    ),
    Example(
        "stderr_warnings",
        "correct, but Softmax.forward issues a Python warning and fit always shows its tqdm bar: both go to "
        "stderr, which nbgrader alone counts as a failed test cell; scores come from the trusted record",
        (
            Edit(
                "softmax",
                "e = np.exp(x - x.max(axis=1, keepdims=True))",
                "import warnings\n        warnings.warn('Softmax: проверьте устойчивость')\n"
                "        e = np.exp(x - x.max(axis=1, keepdims=True))",
            ),
            Edit("network", "disable=not verbose", "disable=False"),
        ),
    ),
    Example(
        "relu_forward_leaky",
        "ReLU.forward leaks negative inputs (0.01 * x) while its gradients are right: only the cells that "
        "check ReLU.forward lose points (its own and the whole-network Keras comparison, whose hidden network "
        "has a ReLU); the Network tests use known-good layers",
        (
            Edit(
                "relu",
                "return np.maximum(input_data, out, out=out)",
                "return np.where(input_data > 0, input_data, 0.01 * input_data)",
            ),
        ),
        {"part1_forward": 3.5},
    ),
    Example(
        "dense_no_bias",
        "DenseLayer.forward forgets the bias (x @ W): Dense's forward cell and the Keras "
        "comparison lose points, its gradient cells and every Network cell do not",
        (Edit("dense", "return self._check(input_data) @ self.W + self.b", "return self._check(input_data) @ self.W"),),
        {"part1_forward": 3},
    ),
    Example(
        "average_pooling",
        "MaxPooling.forward averages the window instead of taking its maximum: "
        "MaxPooling's forward cell and the Keras comparison lose points; the conv bonus trains with a "
        "known-good MaxPooling",
        (
            Edit("maxpooling", "out = views[0].copy()", "out = views[0] / len(views)"),
            Edit("maxpooling", "np.maximum(out, view, out=out)", "np.add(out, view / len(views), out=out)"),
        ),
        {"part1_forward": 3},
    ),
    Example(
        "network_subclass",
        "a correct Network written as a subclass: class Network(NetworkBase) whose grad_x calls the parent's "
        "(the given fit is reached through the parent class); full marks",
        (
            Edit("network", "class Network(object):", "class NetworkBase(object):"),
            Edit(
                "network",
                "optimizer={self.optimizer!r})\"",
                "optimizer={self.optimizer!r})\"\n\n\n"
                "class Network(NetworkBase):\n    def grad_x(self, input_data, labels):\n"
                "        return super().grad_x(input_data, labels)",
            ),
        ),
    ),
    Example(
        "relu_cell_syntax_error",
        "a syntax error in the ReLU cell: ReLU is undefined, other classes work",
        (Edit("relu", "return np.maximum(input_data, out, out=out)", "return np.maximum(input_data, out, out=out"),),
        {"part1_forward": 3.5, "part2_grad_x": 4.75},
    ),
]


def _cells_by_id(nb):
    return {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}


def use_fallbacks(source: str, methods: Collection[str] | None = None) -> str:
    """Replace every optional solution region (``### BEGIN SOLUTION  # stub: ...``) by its stub (with `methods`,
    only the regions of the functions of those names)."""
    out, skipping, current = [], False, None
    for line in source.split("\n"):
        custom = split_custom_stub(line)
        match = re.match(r"\s*def (\w+)\(", line)
        if match:
            current = match.group(1)
        if custom is not None and (methods is None or current in methods):
            out.append(custom[0] + custom[1])
            skipping = True
        elif skipping and "### END SOLUTION" in line:
            skipping = False
        elif not skipping:
            out.append(line)
    return "\n".join(out)


RELEASED_STUB = "# ВАШ КОД ЗДЕСЬ\nraise NotImplementedError()"


def use_stubs(source: str, methods: Collection[str]) -> str:
    """Replace the solution region of each ``Class.method`` in `methods` by the release's stub."""
    out, skipping, cls, current, done = [], False, None, None, set()
    for line in source.split("\n"):
        match = re.match(r"class (\w+)", line)
        if match:
            cls = match.group(1)
        match = re.match(r"\s*def (\w+)\(", line)
        if match:
            current = f"{cls}.{match.group(1)}"
        if "### BEGIN SOLUTION" in line and current in methods:
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + stub for stub in RELEASED_STUB.split("\n")]
            skipping = True
            done.add(current)
        elif skipping and "### END SOLUTION" in line:
            skipping = False
        elif not skipping:
            out.append(line)
    if done != set(methods):
        raise MutationError(
            f"no solution region in {', '.join(sorted(set(methods) - done))}: numnet_ref changed? update "
            "coursekit/examples.py"
        )
    return "\n".join(out)


def solved_notebook(
    release_nb: nbformat.NotebookNode | None = None, source_nb: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled in from the source notebook."""
    release_nb = copy.deepcopy(release_nb or nbformat.read(f"{RELEASE_DIR}/{NOTEBOOK}", as_version=4))
    source_nb = source_nb or nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    solutions = {
        gid: c.source for gid, c in _cells_by_id(source_nb).items() if gid and c.metadata["nbgrader"].get("solution")
    }
    for gid, cell in _cells_by_id(release_nb).items():
        if gid in solutions:
            cell.source = solutions[gid]
    return release_nb


def apply_edit(nb: nbformat.NotebookNode, edit: Edit) -> None:
    cells = _cells_by_id(nb)
    if edit.target not in cells:
        raise MutationError(f"no cell with grade_id {edit.target!r}")
    cell = cells[edit.target]
    if edit.find is None:
        if edit.replace is None:
            nb.cells.remove(cell)
        else:
            cell.source = edit.replace
        return
    count = cell.source.count(edit.find)
    if count != 1:
        raise MutationError(
            f"cell {edit.target!r}: {edit.find!r} occurs {count} times (expected once): numnet_ref changed? update "
            "coursekit/examples.py"
        )
    cell.source = cell.source.replace(edit.find, edit.replace)


def build_submission(
    example: Example, release_nb: nbformat.NotebookNode | None = None, source_nb: nbformat.NotebookNode | None = None
) -> nbformat.NotebookNode:
    if example.base == "release":
        nb = copy.deepcopy(release_nb or nbformat.read(f"{RELEASE_DIR}/{NOTEBOOK}", as_version=4))
    else:
        nb = solved_notebook(release_nb, source_nb)
    cells = _cells_by_id(nb)
    targets = {}
    for target in example.fallbacks:
        cell_id, _, method = target.partition(":")
        targets.setdefault(cell_id, set()).add(method or None)
    for cell_id, methods in targets.items():
        cells[cell_id].source = use_fallbacks(cells[cell_id].source, None if None in methods else methods)
    stubs = {}
    for target in example.stubs:
        cell_id, _, method = target.partition(":")
        stubs.setdefault(cell_id, set()).add(method)
    for cell_id, methods in stubs.items():
        cells[cell_id].source = use_stubs(cells[cell_id].source, methods)
    for edit in example.edits:
        apply_edit(nb, edit)
    return nb


def format_table(rows: Sequence[tuple[str, Mapping[str, float], Mapping[str, float]]]) -> str:
    """rows: [(name, expected {task: pts}, obtained {task: pts})] -> a text table with a verdict per row."""
    tasks = list(TASKS)
    short = {t: t.replace("part", "p").replace("bonus_", "b_") for t in tasks}
    width = max(len(r[0]) for r in rows) + 2
    head = f"{'submission':<{width}}" + "".join(f"{short[t]:>16}" for t in tasks) + f"{'total':>13}  ok"
    lines = [head, "-" * len(head)]
    for name, expected, obtained in rows:
        cells = []
        for t in tasks:
            e, o = expected.get(t, 0), obtained.get(t, 0)
            cells.append(f"{f'{o:g}' if abs(e - o) < 1e-6 else f'{o:g} (exp {e:g})':>16}")
        ok = all(abs(expected.get(t, 0) - obtained.get(t, 0)) < 1e-6 for t in tasks)
        total = f"{sum(obtained.values()):g}/{sum(TASKS.values()):g}"
        lines.append(f"{name:<{width}}" + "".join(cells) + f"{total:>13}  {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def grade_examples(
    examples: Sequence[Example] = EXAMPLES, workers: int = 2, keep: bool = False
) -> tuple[list[tuple[str, dict[str, float], dict[str, float]]], dict[str, Any]]:
    """Grade the examples as the bot grades a student's upload (coursekit.grading.grade_notebooks)."""
    from coursekit.grading import grade_notebooks

    scores, info = grade_notebooks({ex.name: build_submission(ex) for ex in examples}, workers=workers, keep=keep)
    rows = [(ex.name, ex.expected_points(), scores[ex.name]) for ex in examples]
    return rows, info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Autograde the bundled example submissions.")
    parser.add_argument("names", nargs="*", help="only these examples (default: all)")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    parser.add_argument("--workers", type=int, default=2, help="notebooks graded in parallel")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (course build, graded notebooks)")
    args = parser.parse_args(argv)
    chosen = [ex for ex in EXAMPLES if not args.names or ex.name in args.names]
    unknown = set(args.names) - {ex.name for ex in EXAMPLES}
    if unknown:
        parser.error(f'unknown examples: {", ".join(sorted(unknown))} (see --list)')
    if args.list:
        for ex in chosen:
            print(f"{ex.name:<28} {ex.description}")
        return 0
    from gradebot.core.errors import CourseError, SandboxUnavailable

    try:
        rows, info = grade_examples(chosen, workers=args.workers, keep=args.keep)
    except (CourseError, SandboxUnavailable) as exc:
        parser.exit(2, f"cannot grade the examples: {exc}\n")
    print(format_table(rows))
    print(
        f"graded {len(rows)} submissions in {info['seconds']:.0f} s"
        + (f" (kept in {info['workdir']})" if args.keep else "")
    )
    return 0 if all(abs(e.get(t, 0) - o.get(t, 0)) < 1e-6 for _, e, o in rows for t in TASKS) else 1


if __name__ == "__main__":
    sys.exit(main())
