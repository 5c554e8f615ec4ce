"""Build source/numnet/numnet.ipynb from the notebook template and numnet_ref (the one source of solution code).

    python -m coursekit.build            # write the source notebook
    python -m coursekit.build --check    # exit 1 if the committed notebook differs from a fresh build

Template (coursekit/template/numnet.nbt): cells start with a header line

    #%% md [free]                 markdown, read-only ("locked") unless `free`
    #%% code [free | <id>]        code, read-only unless `free`; <id> names a read-only cell (else cell-NN)
    #%% solution <id>             a student's cell (nbgrader "Autograded answer")
    #%% test <task>__<name> <pts> a graded test cell (nbgrader "Autograder tests", read-only); the build writes
                                 its first line, "# Тест <task>__<name> — <Russian name> (<pts> балл...)",
                                 the name from coursekit.course.TEST_NAMES

and these lines inside a cell are expanded:

    {{code:module.Name}}   the source of numnet_ref.module.Name, method bodies in solution regions (REGIONS)
    {{imports:module}}     the absolute imports of numnet_ref.module
    {{block:module}}       every function of numnet_ref.module, as one optional solution region
    {{checks}}             numnet_ref._checks' functions, bound to the name `_checks` as in numnet_ref
    {{file:path}}          a file of coursekit, verbatim
    {{submit}}             the «Как сдать» section, from the bot's course settings (coursekit/submit.py)
    {{points_table}}       the table of tasks, tests and points (markdown), from the template's test cells

The build fails when a test cell has no name in coursekit.course.TEST_NAMES, a name has no cell, or a task's
points differ from coursekit.course.TASKS. The notebook's metadata ``gradebot`` carries the task titles and test names
for the bot (coursekit.course.gradebot_metadata).

It also writes source/numnet/README.md (the students' README, copied into the release by nbgrader) from
coursekit/template/README.md, where {{submit:readme}} is the short «Как сдать» paragraph. The build fails
(coursekit.submit.FactsError) when gradebot.course.toml lacks a fact students must be told.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys

import nbformat

from coursekit import SOURCE_NOTEBOOK, TASKS
from coursekit import submit
from coursekit.course import TASK_TITLES, TEST_NAMES, gradebot_metadata, task_of
from coursekit.extract import REQUIRED, module_imports, object_source, region_block, _resolve

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "template", "numnet.nbt")
README_TEMPLATE = os.path.join(HERE, "template", "README.md")
README = "README.md"  # written next to the source notebook; nbgrader copies it into the release

# Release stubs of optional methods: the base class' method (Layer.backward derives it from the Jacobians,
# Layer.backward_params takes it from backward), with the one-line reason the release shows (see extract.begin_line).
FALLBACK_BACKWARD = "return super().backward(input_data, grad_output)"
FALLBACK_BACKWARD_PARAMS = "return super().backward_params(input_data, grad_output)"
BACKWARD = (FALLBACK_BACKWARD, "без него backward считается через ваши якобианы, медленнее")
CONV_BACKWARD = (FALLBACK_BACKWARD, "нужен он или якобианы grad_x и grad_param, см. _ConvBase")
BACKWARD_PARAMS = (FALLBACK_BACKWARD_PARAMS, "без него градиенты параметров берутся из backward")
CONV_GRAD_X = (
    "return jacobian_from_backward(self, input_data)",
    "без него якобиан строится из вашего backward; нужен он или backward",
)
CONV_GRAD_PARAM = (
    "return param_jacobians_from_backward(self, input_data)",
    "без него якобианы строятся из вашего backward; нужен он или backward",
)
# Private helpers of the reference: no test calls them, the student may write the required methods without them.
HELPER = ("raise NotImplementedError()", "вспомогательный метод эталона, тесты его не вызывают")
NETWORK_HELPER = ("raise NotImplementedError()", "вспомогательный метод: grad_x и grad_param можно написать без него")

# Which bodies students write, per numnet_ref object. Everything else is given code (as in the assignment).
REGIONS = {
    "network.Network": {"_backprop": NETWORK_HELPER, "grad_x": REQUIRED, "grad_param": REQUIRED, "update": REQUIRED},
    "dense.DenseLayer": {
        "forward": REQUIRED,
        "backward": BACKWARD,
        "backward_params": BACKWARD_PARAMS,
        "grad_x": REQUIRED,
        "grad_W": REQUIRED,
        "grad_b": REQUIRED,
    },
    "activations.ReLU": {"forward": REQUIRED, "backward": BACKWARD, "grad_x": REQUIRED},
    "activations.Softmax": {"forward": REQUIRED, "backward": BACKWARD, "grad_x": REQUIRED},
    "flatten.FlattenLayer": {"forward": REQUIRED, "backward": BACKWARD, "grad_x": REQUIRED},
    "pooling.MaxPooling": {"_offsets": HELPER, "forward": REQUIRED, "backward": BACKWARD, "grad_x": REQUIRED},
    "conv.same_padding": {
        "same_padding": ("raise NotImplementedError()", "вспомогательная функция эталона, тесты её не вызывают")
    },
    "conv._ConvBase": {"grad_x": CONV_GRAD_X, "grad_param": CONV_GRAD_PARAM},
    "conv.Conv2DLayer": {
        "_pads": HELPER,
        "forward": REQUIRED,
        "backward": CONV_BACKWARD,
        "backward_params": BACKWARD_PARAMS,
    },
    "conv.Conv2DTrLayer": {"forward": REQUIRED, "backward": CONV_BACKWARD, "backward_params": BACKWARD_PARAMS},
    "losses.CrossEntropy": {"forward": REQUIRED, "grad_x": REQUIRED},
    "optimizers.SGD": {"_update": REQUIRED},
    "optimizers.RMSprop": {"_update": REQUIRED},
    "optimizers.Adagrad": {"_update": REQUIRED},
    "optimizers.Adam": {"_update": REQUIRED},
}
# A whole module of helpers as one region: the release keeps nothing of it (students may write their own).
BLOCK_STUB = ("pass", "свёртки можно написать и без этих функций")
HELPERS_CELL = "test_helpers"  # collapsed in Jupyter (jupyter.source_hidden)


def points_text(points: float) -> str:
    """'1 балл', '0,5 балла', '4 балла' (points of a test cell, in Russian)."""
    if float(points).is_integer():
        n = int(points)
        word = (
            "балл"
            if n % 10 == 1 and n % 100 != 11
            else ("балла" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "баллов")
        )
        return f"{n} {word}"
    return f"{_points_number(points)} балла"


def test_first_line(grade_id: str, points: float) -> str:
    """'# Тест part1_forward__dense — DenseLayer: прямой проход (1 балл)': the first line of a test cell."""
    return f"# Тест {grade_id} — {TEST_NAMES[grade_id]} ({points_text(points)})"


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "name": "python",
    "pygments_lexer": "ipython3",
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "nbconvert_exporter": "python",
    "codemirror_mode": {"name": "ipython", "version": 3},
}


class TemplateError(ValueError):
    pass


def _points_number(points):
    return f"{points:g}".replace(".", ",")


def points_table(tests: list[tuple[str, float]]) -> str:
    """Markdown table of every test (task title, test name, grade id, points), task sums and the total.
    ``tests``: [(grade_id, points)] in notebook order."""
    sums = {}
    for grade_id, points in tests:
        sums[task_of(grade_id)] = sums.get(task_of(grade_id), 0.0) + points
    rows = ["| Задание | Тест | Идентификатор | Баллы |", "|---|---|---|---:|"]
    for task in sums:
        first = True
        for grade_id, points in tests:
            if task_of(grade_id) == task:
                title = f"**{TASK_TITLES[task]}**" if first else ""
                rows.append(f"| {title} | {TEST_NAMES[grade_id]} | `{grade_id}` | {_points_number(points)} |")
                first = False
        rows.append(f"| | *всего за задание* | | **{_points_number(sums[task])}** |")
    main = sum(p for t, p in sums.items() if not t.startswith("bonus_"))
    bonus = sum(p for t, p in sums.items() if t.startswith("bonus_"))
    rows.append(f"| **Итого** | | | **{_points_number(main + bonus)}** |")
    return (
        "Баллы по заданиям и тестам (идентификатор и название теста стоят в первой строке его ячейки и в "
        "отчёте бота):\n\n"
        + "\n".join(rows)
        + f"\n\nОсновная часть — {points_text(main)}, дополнительные задания — {points_text(bonus)}."
    )


def check_names(tests: list[tuple[str, float]]) -> None:
    """Every test cell has a name and every name a cell; the tasks' points are coursekit.course.TASKS."""
    ids = [grade_id for grade_id, _ in tests]
    unnamed = [g for g in ids if g not in TEST_NAMES]
    if unnamed:
        raise TemplateError(f'test cells without a name in coursekit/course.py TEST_NAMES: {", ".join(unnamed)}')
    orphans = [g for g in TEST_NAMES if g not in ids]
    if orphans:
        raise TemplateError(f'names in coursekit/course.py TEST_NAMES without a test cell: {", ".join(orphans)}')
    untitled = sorted({task_of(g) for g in ids} - set(TASK_TITLES))
    if untitled:
        raise TemplateError(f'tasks without a title in coursekit/course.py TASK_TITLES: {", ".join(untitled)}')
    sums = {}
    for grade_id, points in tests:
        sums[task_of(grade_id)] = sums.get(task_of(grade_id), 0.0) + points
    if sums != {t: float(p) for t, p in TASKS.items()}:
        raise TemplateError(f"points per task of the test cells {sums} differ from coursekit.course.TASKS {TASKS}")


def _expand(line, facts=None, tests=None):
    match = re.fullmatch(r"\{\{(\w+)(?::(.+))?\}\}", line.strip())
    if match is None:
        return line
    kind, arg = match.groups()
    if kind == "points_table" and arg is None and tests is not None:
        return points_table(tests)
    if kind == "submit":
        if facts is None:
            raise TemplateError(f"{line.strip()} needs the bot's course settings")
        if arg is None:
            return submit.section_markdown(facts)
        if arg == "readme":
            return submit.readme_submit_lines(facts)
        raise TemplateError(f"unknown template directive {line.strip()!r}")
    if kind == "code":
        return object_source(arg, REGIONS.get(arg))
    if kind == "imports":
        return module_imports(arg)
    if kind == "block":
        module = _resolve(arg)
        funcs = [obj for _, obj in inspect.getmembers(module, inspect.isfunction) if obj.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        return region_block("\n\n\n".join(inspect.getsource(f).rstrip("\n") for f in funcs), BLOCK_STUB)
    if kind == "checks":
        module = _resolve("_checks")
        funcs = [obj for _, obj in inspect.getmembers(module, inspect.isfunction) if obj.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        body = "\n\n\n".join(inspect.getsource(f).rstrip("\n") for f in funcs)
        names = ", ".join(f"{f.__name__}={f.__name__}" for f in funcs)
        # `import types` for the namespace below, after the module's `from __future__` import (which must come first)
        imports = module_imports("_checks").split("\n")
        future = [line for line in imports if line.startswith("from __future__ ")]
        imports = "\n".join(future + ["import types"] + [line for line in imports if line not in future])
        return f"{imports}\n\n{body}\n\n\n_checks = types.SimpleNamespace({names})"
    if kind == "file":
        with open(os.path.join(HERE, arg), encoding="utf-8") as f:
            return f.read().rstrip("\n")
    raise TemplateError(f"unknown template directive {line.strip()!r}")


def parse_template(text: str) -> list[tuple[list[str], str]]:
    """[(header words, source)] for every cell of the template."""
    cells, header, lines = [], None, []
    for line in text.split("\n"):
        if line.startswith("#%% "):
            if header is not None:
                cells.append((header, "\n".join(lines).strip("\n")))
            header, lines = line[4:].split(), []
        elif header is None:
            if line.strip():
                raise TemplateError(f"text before the first cell header: {line!r}")
        else:
            lines.append(line)
    if header is not None:
        cells.append((header, "\n".join(lines).strip("\n")))
    return cells


def _nbgrader(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def _no_directive_left(text, where):
    left = re.search(r"\{\{\w+(?::[^}]*)?\}\}", text)
    if left:
        raise TemplateError(f"{where}: {left.group()} was not filled in (no placeholder may reach a release)")


def build_notebook(
    template_path: str | os.PathLike = TEMPLATE, bot_config: str | os.PathLike = submit.BOT_CONFIG
) -> nbformat.NotebookNode:
    """The source notebook; the «Как сдать» section is filled from the bot settings file ``bot_config``."""
    facts = submit.load_facts(bot_config)
    with open(template_path, encoding="utf-8") as f:
        parsed = parse_template(f.read())
    tests = [(header[1], float(header[2])) for header, _ in parsed if header[0] == "test" and len(header) == 3]
    check_names(tests)
    cells, seen_ids = [], set()
    for index, (header, raw) in enumerate(parsed):
        kind, args = header[0], header[1:]
        source = "\n".join(_expand(line, facts, tests) for line in raw.split("\n"))
        _no_directive_left(source, f"template cell {index}")
        auto_id = f"cell-{index:02d}"
        if kind in ("md", "code"):
            new = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
            cell = new(source)
            if args != ["free"]:
                if len(args) > 1 or (args and not re.fullmatch(r"[a-z][a-z0-9_]*", args[0])):
                    raise TemplateError(f"cell {index}: unknown options {args}")
                cell.metadata["nbgrader"] = _nbgrader(args[0] if args else auto_id, locked=True)
                cell.metadata["editable"] = False
                cell.metadata["deletable"] = False
                if args == [HELPERS_CELL]:
                    cell.metadata["jupyter"] = {"source_hidden": True}
        elif kind == "solution":
            (grade_id,) = args
            cell = nbformat.v4.new_code_cell(source)
            cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True)
        elif kind == "test":
            grade_id, points = args
            if not re.fullmatch(r"[a-z0-9_]+__[a-z0-9_]+", grade_id):
                raise TemplateError(f"test cell {grade_id!r}: grade_id must be <task>__<name>")
            points = float(points)
            cell = nbformat.v4.new_code_cell(test_first_line(grade_id, points) + "\n" + source)
            cell.metadata["nbgrader"] = _nbgrader(
                grade_id, grade=True, locked=True, points=int(points) if points.is_integer() else points
            )
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
        else:
            raise TemplateError(f"cell {index}: unknown cell kind {kind!r}")
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", auto_id)
        if grade_id in seen_ids:
            raise TemplateError(f"duplicate cell id {grade_id!r}")
        seen_ids.add(grade_id)
        cell.id = grade_id.replace("_", "-")
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO, "gradebot": gradebot_metadata()}
    nbformat.validate(nb)
    return nb


def build_readme(
    template_path: str | os.PathLike = README_TEMPLATE, bot_config: str | os.PathLike = submit.BOT_CONFIG
) -> str:
    """The students' README (source/numnet/README.md, released as release/numnet/README.md)."""
    facts = submit.load_facts(bot_config)
    with open(template_path, encoding="utf-8") as f:
        text = "\n".join(_expand(line, facts) for line in f.read().rstrip("\n").split("\n")) + "\n"
    _no_directive_left(text, template_path)
    return text


def dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def normalized(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The parts of a notebook that matter for comparisons: cell types, sources, nbgrader/lock metadata."""
    out = []
    for cell in nb.cells:
        meta = {k: cell.metadata[k] for k in ("nbgrader", "editable", "deletable", "jupyter") if k in cell.metadata}
        out.append({"cell_type": cell.cell_type, "source": cell.source, "metadata": json.loads(json.dumps(meta))})
    out.append({"notebook_metadata": json.loads(json.dumps(nb.metadata.get("gradebot")))})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed notebook, write nothing")
    parser.add_argument("--output", default=SOURCE_NOTEBOOK)
    parser.add_argument(
        "--bot-config", default=submit.BOT_CONFIG, help="the bot's course settings (TOML) with the facts of «Как сдать»"
    )
    args = parser.parse_args(argv)
    try:
        nb = build_notebook(bot_config=args.bot_config)
        readme = build_readme(bot_config=args.bot_config)
    except submit.FactsError as exc:
        print(f"coursekit.build: {exc}", file=sys.stderr)
        return 2
    readme_path = os.path.join(os.path.dirname(args.output), README)
    if args.check:
        stale = []
        if not os.path.exists(args.output):
            print(f"{args.output} does not exist: run python -m coursekit.build")
            return 1
        committed = nbformat.read(args.output, as_version=4)
        if normalized(committed) != normalized(nb):
            stale.append(args.output)
        if not os.path.exists(readme_path) or open(readme_path, encoding="utf-8").read() != readme:
            stale.append(readme_path)
        if stale:
            print(f'{" and ".join(stale)} stale: run python -m coursekit.build (then python -m coursekit.release)')
            return 1
        print(f"{args.output} and {readme_path} are up to date")
        return 0
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(dumps(nb))
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(readme)
    print(f"wrote {args.output} ({len(nb.cells)} cells) and {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
