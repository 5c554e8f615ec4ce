"""The course build: one source of truth, fresh committed notebooks, points, the released skeleton."""

import inspect
import os
import re
import textwrap

import nbformat
import pytest

from course_util import cell, helpers_namespace
from coursekit import RELEASE_DIR, REPO_ROOT, TASKS
from coursekit.build import FALLBACK_BACKWARD, REGIONS, TemplateError, build_notebook, normalized, points_text
from coursekit.course import TASK_TITLES, TEST_NAMES
from coursekit.examples import use_fallbacks
from coursekit.extract import _resolve, with_regions
from coursekit.grading import copy_course, task_maxima
from coursekit.nbgrader_ext import ClearSolutionsWithStubs
from coursekit.release import differences, generate


def test_committed_source_notebook_equals_a_fresh_build(source_nb):
    fresh = normalized(build_notebook())
    committed = normalized(source_nb)
    assert len(fresh) == len(committed), "source notebook is stale: run python -m coursekit.build"
    for i, (a, b) in enumerate(zip(fresh, committed)):
        assert a == b, f"cell {i} of source/numnet/numnet.ipynb is stale: run python -m coursekit.build"


def test_committed_release_equals_a_fresh_generate_assignment(tmp_path):
    copy_course(str(tmp_path))
    problems = differences(generate(str(tmp_path)), os.path.join(REPO_ROOT, "release", "numnet"))
    assert problems == [], f"release/ is stale (python -m coursekit.release): {problems}"


def _without_markers(source):
    return "\n".join(
        line for line in source.split("\n") if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


@pytest.mark.parametrize("dotted", sorted(REGIONS))
def test_solution_code_is_numnet_ref_code(source_nb, dotted):
    """Each object's code in the notebook, markers removed, is numnet_ref's source verbatim."""
    reference = textwrap.dedent(inspect.getsource(_resolve(dotted))).rstrip("\n")
    code = "\n".join(_without_markers(c.source) for c in source_nb.cells if c.cell_type == "code")
    assert reference in code


def test_every_region_method_is_inside_a_region(source_nb):
    code = "\n".join(c.source for c in source_nb.cells if c.cell_type == "code")
    for dotted, methods in REGIONS.items():
        for method, stub in methods.items():
            bodies = [
                code[_signature_end(code, m.end() - 1) :] for m in re.finditer(rf"def {re.escape(method)}\(", code)
            ]
            region = re.compile(r"(?:\s+(?:\"\"\"[\s\S]*?\"\"\"|#[^\n]*)\n)*\s+### BEGIN SOLUTION")
            assert any(region.match(body) for body in bodies), f"{dotted}.{method} has no solution region"


def _signature_end(code, paren):
    """The index after the line that closes the signature whose '(' is at ``paren`` (ruff format may wrap a long
    signature over several lines)."""
    depth = 0
    for i in range(paren, len(code)):
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        if depth == 0:
            return code.index("\n", i) + 1
    raise AssertionError(f"unclosed signature at {code[paren - 20 : paren + 40]!r}")


def test_task_points(source_nb):
    assert task_maxima(source_nb) == TASKS
    assert sum(TASKS.values()) == 45
    assert cell(source_nb, "part2_grad_x__network").metadata["nbgrader"]["points"] == 4
    for c in source_nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade"):
            assert re.fullmatch(rf'({"|".join(TASKS)})__[a-z0-9_]+', meta["grade_id"]), meta["grade_id"]
            assert meta["locked"] and not meta["solution"]
            assert "### BEGIN HIDDEN TESTS" in c.source, f'{meta["grade_id"]} has no hidden tests'
            first, second = c.source.split("\n")[:2]
            assert (
                first == f'# Тест {meta["grade_id"]} — {TEST_NAMES[meta["grade_id"]]} ({points_text(meta["points"])})'
            )
            assert second.startswith(f"begin_test('{meta['grade_id'].split('__')[0]}'")
        elif "grade_id" in meta:
            assert "__" not in meta["grade_id"], "only graded cells may look like <task>__<name>"


def test_release_is_the_skeleton(release_nb, source_nb):
    release_code = "\n".join(c.source for c in release_nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "# stub:"):
        assert marker not in release_code
    # solution bodies are gone (the reference's fused Softmax + CrossEntropy gradient too), docstrings and given
    # code stay
    source_code = "\n".join(c.source for c in source_nb.cells)
    for line in (
        "return np.maximum(input_data, out, out=out)",
        "e = np.exp(x - x.max(axis=1, keepdims=True))",
        "return self._check(input_data) @ self.W + self.b",
        "def correlate(",
        "p += mu * m - lr * g if self.nesterov else m",
        "labels_kept = np.asarray(labels) * (current >= loss.eps)",
    ):
        assert line in source_code and line not in release_code, line
    dense = cell(release_nb, "dense").source
    assert dense.count("raise NotImplementedError()") == 4  # forward, grad_x, grad_W, grad_b
    assert dense.count(FALLBACK_BACKWARD) == 1  # the optional backward falls back
    assert "def update_param(self, params_grad: list[np.ndarray], learning_rate: float) -> None:" in dense  # given
    assert "``(B, output_dim, input_dim*output_dim)``" in dense  # docstrings stay, with the layout
    assert "``[b, o, i*output_dim + j]``" in dense
    for gid in ("relu", "softmax", "flatten", "maxpooling", "conv2d", "conv2dtr"):
        assert cell(release_nb, gid).source.count(FALLBACK_BACKWARD) == 1, gid
    # explanations and tests are read-only in the release
    for c in release_nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("locked"):
            assert c.metadata.get("editable") is False and c.metadata.get("deletable") is False
    visible = cell(release_nb, "part1_forward__keras_mnist").source
    assert "keras_mnist_model(X_check" in visible and "Dense-ReLU-Dense" not in visible


def test_every_test_cell_starts_with_its_name_and_points(release_nb):
    """What the student sees: the release's test cells carry the course's Russian name and the points."""
    firsts = {
        c.metadata["nbgrader"]["grade_id"]: c.source.split("\n")[0]
        for c in release_nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert set(firsts) == set(TEST_NAMES)
    assert firsts["part1_forward__dense"] == "# Тест part1_forward__dense — DenseLayer: прямой проход (1 балл)"
    assert firsts["part1_forward__relu"].endswith("(0,5 балла)")
    assert firsts["part2_grad_x__network"].endswith(" — Network.grad_x: производная потери по входу (4 балла)")


def test_points_table_near_the_top(release_nb):
    """A markdown table before the first code cell: every test with its task title, name, id and points, the
    task sums and the total 45."""
    first_code = next(i for i, c in enumerate(release_nb.cells) if c.cell_type == "code")
    (table,) = [c for c in release_nb.cells if "| Задание | Тест | Идентификатор | Баллы |" in c.source]
    assert release_nb.cells.index(table) < first_code and table.cell_type == "markdown"
    rows = [r for r in table.source.split("\n") if r.startswith("| ")]
    assert rows[0] == "| Задание | Тест | Идентификатор | Баллы |"
    assert "| **1. Прямой проход** | DenseLayer: прямой проход | `part1_forward__dense` | 1 |" in rows
    assert "|  | ReLU: прямой проход | `part1_forward__relu` | 0,5 |" in rows
    assert sum(f"`{gid}`" in table.source for gid in TEST_NAMES) == len(TEST_NAMES) == 27
    assert [r for r in rows if "всего за задание" in r] == [
        f"| | *всего за задание* | | **{p:g}** |" for p in TASKS.values()
    ]
    assert rows[-1] == "| **Итого** | | | **45** |"
    assert "Основная часть — 20 баллов, дополнительные задания — 25 баллов." in table.source


def test_notebook_metadata_declares_titles_for_the_bot(source_nb, release_nb):
    for nb in (source_nb, release_nb):
        assert nb.metadata["gradebot"] == {"tasks": TASK_TITLES, "tests": TEST_NAMES}


def test_build_fails_for_a_test_without_a_name_or_a_name_without_a_test(tmp_path, monkeypatch):
    from coursekit import build

    with open(build.TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    renamed = tmp_path / "renamed.nbt"
    renamed.write_text(template.replace("#%% test part1_forward__relu 0.5", "#%% test part1_forward__relu_new 0.5"))
    with pytest.raises(
        TemplateError,
        match=r"without a name in coursekit/course.py TEST_NAMES: "
        r"part1_forward__relu_new",
    ):
        build_notebook(str(renamed))
    monkeypatch.setitem(TEST_NAMES, "part1_forward__extra", "Лишний тест")
    with pytest.raises(TemplateError, match="TEST_NAMES without a test cell: part1_forward__extra"):
        build_notebook()


def test_points_text():
    assert [points_text(p) for p in (1, 0.5, 0.25, 2, 4, 5, 21)] == [
        "1 балл",
        "0,5 балла",
        "0,25 балла",
        "2 балла",
        "4 балла",
        "5 баллов",
        "21 балл",
    ]


def test_helpers_cell_is_collapsed(release_nb, source_nb):
    for nb in (release_nb, source_nb):
        assert cell(nb, "test_helpers").metadata["jupyter"] == {"source_hidden": True}
        assert sum("source_hidden" in str(c.metadata) for c in nb.cells) == 1


HELPERS_CELL_MAX_LINES = 80  # issue 10 item 10: the helpers cell is short; the pure helpers are numnet_testing.py


def test_helpers_cell_is_short_and_its_module_is_shipped(release_nb, source_nb):
    """The helpers cell keeps only what must live in the notebook's namespace (expect, begin_test, accuracy_of,
    loss_of, which the grader replaces, and the wrappers that look them up there); everything else is imported from
    numnet_testing.py, which the release ships next to the notebook, byte for byte the course's."""
    for nb in (release_nb, source_nb):
        source = cell(nb, "test_helpers").source
        assert len(source.splitlines()) <= HELPERS_CELL_MAX_LINES, len(source.splitlines())
        assert "import numnet_testing as _testing" in source
    with open(os.path.join(REPO_ROOT, "source", "numnet", "numnet_testing.py"), "rb") as f:
        course_module = f.read()
    with open(os.path.join(RELEASE_DIR, "numnet_testing.py"), "rb") as f:
        assert f.read() == course_module
    assert len(course_module.decode().splitlines()) > 400  # the bulk really moved (not deleted)
    ns = helpers_namespace(cell(release_nb, "test_helpers").source, RELEASE_DIR)
    for name in (
        "expect",
        "begin_test",
        "accuracy_of",
        "loss_of",
        "check_close",
        "check_grad",
        "fail",
        "TestFailed",
        "numerical_grad",
        "numerical_jacobian",
        "keras_layer",
        "test_layer",
        "test_grad_W",
        "small_mnist",
        "check_each_optimizer",
        "new_optimizer",
        "OPTIMIZER_FORMULAS",
        "self_check",
        "GRADING",
    ):
        assert name in ns, name
    # the functions the grader replaces are the cell's own (module functions would keep calling their own)
    for name in ("expect", "begin_test", "accuracy_of", "loss_of"):
        assert ns[name].__module__ == "__main__" and ns[name].__globals__ is ns, name


def test_release_says_why_a_method_is_optional(release_nb):
    """Every optional stub says why; the private helpers of the reference are optional, the conv layers need their
    Jacobians or backward."""
    code = "\n".join(c.source for c in release_nb.cells if c.cell_type == "code")
    notes = re.findall(r"# ВАШ КОД ЗДЕСЬ \(необязательно(.*)\)\n", code)
    assert notes and all(note.startswith(": ") for note in notes), notes
    for gid, method in [
        ("network", "_backprop"),
        ("maxpooling", "_offsets"),
        ("conv2d", "_pads"),
        ("conv_base", "same_padding"),
        ("conv_base", "grad_x"),
        ("conv_base", "grad_param"),
        ("conv2d", "backward"),
        ("conv2dtr", "backward"),
    ]:
        source = cell(release_nb, gid).source
        paren = source.index(f"def {method}(") + len(f"def {method}")
        body = source[_signature_end(source, paren) :]
        assert re.match(r"(?:\s+(?:\"\"\"[\s\S]*?\"\"\"|#[^\n]*)\n)*?\s+# ВАШ КОД ЗДЕСЬ \(необязательно: ", body), (
            gid,
            method,
        )
    assert re.search(
        r'def grad_kernel\(self, input_data: np\.ndarray\) -> np\.ndarray:\n(?:\s+"""[^\n]*"""\n)?'
        r'\s+return self\.grad_param\(input_data\)\[0\]',
        code,
    )  # given


def test_conv_layer_with_neither_jacobians_nor_backward_says_what_to_implement(source_nb):
    """The released conv stubs (Jacobians from backward, backward from the Jacobians) with a written forward:
    grad_x and backward raise the one-sentence error at once, not a RecursionError."""
    import numpy as np
    from coursekit.examples import EXAMPLES, build_submission

    nb = build_submission(next(ex for ex in EXAMPLES if ex.name == "conv_neither"))
    ns = _exec_cells(nb, ["checks", "layer", "dense", "conv_helpers", "conv_base", "conv2d"])
    layer = ns["Conv2DLayer"](3, 1, 2)
    x = np.ones((1, 1, 4, 4))
    assert layer.forward(x).shape == (1, 2, 4, 4)
    for call, args in [("grad_x", (x,)), ("backward", (x, np.ones((1, 2, 4, 4))))]:
        with pytest.raises(
            NotImplementedError,
            match=r"^Conv2DLayer: реализуйте grad_x \(и grad_param\) или "
            r"backward — сейчас каждый из них вычисляется через другой$",
        ):
            getattr(layer, call)(*args)


def _exec_cells(nb, ids):
    namespace = {"__name__": "__main__"}
    for gid in ids:
        exec(compile(cell(nb, gid).source, gid, "exec"), namespace)
    return namespace


def test_released_backward_falls_back_to_the_jacobians(release_nb, source_nb):
    import numpy as np

    # untouched release: backward goes to Layer.backward, which asks for the (unwritten) Jacobian
    ns = _exec_cells(release_nb, ["checks", "layer", "dense"])
    layer = ns["DenseLayer"](3, 2)
    with pytest.raises(NotImplementedError) as info:
        layer.backward(np.ones((1, 3)), np.ones((1, 2)))
    assert [frame.name for frame in info.traceback][-2:] == ["backward", "grad_x"]
    # a student who wrote only the Jacobians (release stub of backward kept) gets a working backward
    solved = cell(source_nb, "dense").source
    ns = _exec_cells(release_nb, ["checks", "layer"])
    exec(compile(use_fallbacks(solved), "dense", "exec"), ns)
    rng = np.random.default_rng(0)
    layer = ns["DenseLayer"](3, 2, W_init=rng.normal(size=(3, 2)), b_init=rng.normal(size=2))
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    grad_x, (grad_W, grad_b) = layer.backward(x, g)
    np.testing.assert_allclose(grad_x, g @ layer.W.T)
    np.testing.assert_allclose(grad_W, x.T @ g)
    np.testing.assert_allclose(grad_b, g.sum(axis=0))


def test_custom_stub_regions():
    source = (
        "class A(B):\n    def f(self, x):\n        \"\"\"Doc.\"\"\"\n        ### BEGIN SOLUTION\n        return 1\n"
        "        ### END SOLUTION\n\n    def backward(self, x, g):\n"
        "        ### BEGIN SOLUTION  # stub: return super().backward(x, g)\n        return 2\n"
        "        ### END SOLUTION\n"
    )
    c = nbformat.v4.new_code_cell(source)
    pre = ClearSolutionsWithStubs()
    pre.code_stub = {"python": "# ВАШ КОД ЗДЕСЬ\nraise NotImplementedError()"}
    assert pre._replace_solution_region(c, "python")
    assert c.source == (
        "class A(B):\n    def f(self, x):\n        \"\"\"Doc.\"\"\"\n        # ВАШ КОД ЗДЕСЬ\n"
        "        raise NotImplementedError()\n\n    def backward(self, x, g):\n"
        "        # ВАШ КОД ЗДЕСЬ (необязательно)\n        return super().backward(x, g)\n"
    )


def test_with_regions_keeps_docstring_and_comments_outside():
    source = (
        'class C:\n    def m(self, x):\n        """Doc."""\n\n        # comment\n        y = x\n'
        '        return y\n\n    def n(self):\n        return 0\n'
    )
    out = with_regions(source, {"m": None})
    assert out == (
        'class C:\n    def m(self, x):\n        """Doc."""\n\n        ### BEGIN SOLUTION\n'
        '        # comment\n        y = x\n        return y\n        ### END SOLUTION\n\n'
        '    def n(self):\n        return 0\n'
    )
    with pytest.raises(ValueError, match="no such methods"):
        with_regions(source, {"missing": None})


def test_committed_expected_values_equal_a_fresh_recording(mnist_dir):
    # every test cell runs on numnet_ref (and Keras) in the grader's RECORD transport: the reference passes all of
    # them, and the committed store (what grading replays) equals what the tests compute today
    import os

    from coursekit import EXPECTED_STORE, REPO_ROOT, SUBJECTS
    from coursekit.record import record_course
    from coursekit.trusted.grader import ExpectedStore

    store, results = record_course()
    assert [r.grade_id for r in results if not r.passed] == []
    assert {r.grade_id for r in results} == set(SUBJECTS)
    assert ExpectedStore.load(os.path.join(REPO_ROOT, EXPECTED_STORE)).same_as(store), (
        "grading/numnet/expected.npz is stale: run python -m coursekit.record"
    )


# ---------------------------------------------------------------- «Как сдать» and the students' README


def _bot_settings(tmp_path, drop=(), **values):
    """A copy of gradebot.course.toml without the keys `drop` and with `values` changed."""
    import tomllib
    from coursekit.submit import BOT_CONFIG

    with open(BOT_CONFIG, "rb") as f:
        settings = tomllib.load(f)
    for key in drop:
        settings.pop(key, None)
    settings.update(values)
    path = tmp_path / "gradebot.toml"
    toml = {k: ("true" if v else "false") if isinstance(v, bool) else f'"{v}"' for k, v in settings.items()}
    path.write_text("".join(f"{k} = {v}\n" for k, v in toml.items()), encoding="utf-8")
    return str(path)


def test_committed_readme_equals_a_fresh_build():
    from coursekit.build import build_readme

    for folder in ("source", "release"):
        with open(os.path.join(REPO_ROOT, folder, "numnet", "README.md"), encoding="utf-8") as f:
            assert f.read() == build_readme(), (
                f"{folder}/numnet/README.md is stale: run python -m coursekit.build && python -m coursekit.release"
            )


def test_release_tells_how_to_submit_with_the_bots_facts(release_nb):
    """The released notebook and README carry the facts of the bot's course settings, and no placeholder."""
    from coursekit.submit import format_deadline, load_facts

    facts = load_facts()
    section = cell(release_nb, "how_to_submit")
    assert section is release_nb.cells[-1] and section.cell_type == "markdown"
    assert section.source.startswith("## Как сдать\n")
    with open(os.path.join(REPO_ROOT, "release", "numnet", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    n, window = facts.rate_limit_rule()
    penalty = f"{facts.late_penalty() * 100:g} %"
    telegram = (
        ["@" + facts.telegram_username(), "https://t.me/" + facts.telegram_username()] if facts.telegram_bot else []
    )
    assert facts.web_url or telegram
    for text in (section.source, readme):
        for fact in [
            facts.web_url or telegram[0],
            *telegram,
            format_deadline(facts),
            "на " + penalty,
            f"не больше {n} посылок в час",
            "последняя проверенная посылка",
        ]:
            assert fact in text, (fact, text)
    assert ("/register <номер студента> <код>" in section.source) == bool(facts.telegram_bot)
    assert (n, window, facts.counting, facts.late_policy) == (5, 3600.0, "latest", "penalty:0.2")
    assert "Что придёт в ответ" in section.source and "код доступа" in section.source
    for word in (
        "pip install numpy tqdm matplotlib ipywidgets jupyterlab \"keras==3.*\" \"jax[cpu]\"",
        "Python 3.11",
        "KERAS_BACKEND=jax",
        "NUMNET_MNIST_DIR",
        "./data/mnist",
        "Test PASSED",
        "раздел «Как сдать» в конце ноутбука",
    ):
        assert word in readme, word
    assert "«Как сдать»" in cell(release_nb, "cell-02").source  # the notes point to the section
    everything = readme + "".join(c.source for c in release_nb.cells)
    assert not re.search(r"\{\{\w+(:[^}]*)?\}\}", everything)
    assert not re.search(r"example\.(org|com)|TODO|CHANGEME", everything)


@pytest.mark.parametrize(
    "drop", [("deadline",), ("late_policy",), ("counting",), ("rate_limit",), ("web_url", "telegram_bot")]
)
def test_build_fails_when_a_fact_is_missing(tmp_path, capsys, drop):
    from coursekit import build
    from coursekit.submit import FactsError

    path = _bot_settings(tmp_path, drop=drop)
    with pytest.raises(FactsError, match=rf'gradebot\.toml lacks {" or ".join(drop)}: students must be told'):
        build.build_notebook(bot_config=path)
    out = tmp_path / "out" / "numnet.ipynb"
    assert build.main(["--bot-config", path, "--output", str(out)]) == 2
    assert f'lacks {" or ".join(drop)}' in capsys.readouterr().err
    assert not out.parent.exists()  # nothing written


@pytest.mark.parametrize(
    "values, message",
    [
        ({"web_url": "https://bot.example.org/numnet/"}, "looks like a placeholder"),
        ({"telegram_bot": "TODO"}, "looks like a placeholder"),
        ({"late_policy": "sometimes"}, "late_policy='sometimes'"),
        ({"deadline": "20 декабря"}, "not an ISO datetime"),
        ({"telegram_bot": "numnet grader"}, "telegram_bot='numnet grader'"),
    ],
)
def test_build_fails_on_a_placeholder_or_an_invalid_fact(tmp_path, values, message):
    from coursekit.build import build_readme
    from coursekit.submit import FactsError

    with pytest.raises(FactsError, match=re.escape(message)):
        build_readme(bot_config=_bot_settings(tmp_path, **values))


def test_section_follows_the_settings(tmp_path):
    from coursekit.submit import load_facts, section_markdown

    text = section_markdown(
        load_facts(
            _bot_settings(
                tmp_path,
                drop=("web_url",),
                late_policy="reject",
                counting="best",
                rate_limit="3/30",
                require_code=False,
                telegram_bot="numnet_grader_bot",
            )
        )
    )
    assert "после срока посылки не принимаются" in text and "лучшая из проверенных посылок" in text
    assert "не больше 3 посылок за 30 мин." in text and "веб-страниц" not in text.split("Что придёт")[0]
    assert "Код доступа не нужен" in text and "`/register <номер студента>`" in text
    text = section_markdown(
        load_facts(_bot_settings(tmp_path, drop=("telegram_bot",), late_policy="accept", rate_limit="none"))
    )
    assert "Telegram-бот [" not in text and "число посылок не ограничено" in text and "без штрафа" in text


# ------------------------------------------------------------------------- the text students read (issue 10, item 9)
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# Avoided terms of docs/glossary.md: regex -> the term to use instead.
AVOIDED_TERMS = {
    r"(?<!Python-)\bпакет": "батч (пакет — только Python-пакет)",
    r"\bлосс": "функция потерь / потеря",
    r"\b(?:прям|обратн)\w* вывод": "прямой / обратный проход",
    r"\bвывода? (?:нейрон|сет)": "прямой проход сети",
    r"\bстрайд|\bпаддинг": "шаг свёртки (stride) / дополнение (padding)",
    r"\bшаг обучения": "скорость обучения (learning_rate) или шаг оптимизатора",
    r"\bядр[а-яё]*(?![а-яё])(?! свёрт| Jupyter)": "ядро свёртки / ядро Jupyter",
}
GLOSSARY_CELL = "### Словарь терминов"


def _prose(markdown):
    """Markdown without code blocks, inline code and formulas (where '-' is a minus) and without list markers."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"`[^`\n]*`", " ", text)
    return re.sub(r"(?m)^\s*(?:[-*+]|\d+\.) ", "", text)


def _avoided_terms(text):
    return [
        f"{m.group()!r} (вместо него: {use})"
        for pattern, use in AVOIDED_TERMS.items()
        for m in re.finditer(pattern, text, flags=re.I)
    ]


def _skeleton_cells(nb):
    """Code cells a student reads as part of the assignment: solutions and given code, not tests or helpers."""
    return [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and not c.metadata.get("nbgrader", {}).get("grade")
        and c.metadata.get("nbgrader", {}).get("grade_id") != "test_helpers"
    ]


def test_avoided_terms_pattern_examples():
    """The checks below can fail: each avoided term is found, the allowed forms are not."""
    bad = [
        "градиент средней по пакету потери",
        "лосс сети",
        "Реализация прямого вывода",
        "обратный вывод",
        "страйд 2",
        "шаг обучения 0.1",
        "ядро перезапустите",
        "ядро имеет форму",
    ]
    assert all(_avoided_terms(text) for text in bad), [t for t in bad if not _avoided_terms(t)]
    good = [
        "батч из B примеров",
        "собственного Python-пакета",
        "ядро свёртки",
        "ядром свёртки",
        "ядро Jupyter",
        "функция потерь",
        "прямой проход",
        "формулы, которые вы выводите сами",
        "шаг оптимизатора",
    ]
    assert not any(_avoided_terms(text) for text in good), [t for t in good if _avoided_terms(t)]
    assert " - " in _prose("баллы задания - сумма") and " - " not in _prose("- пункт\n`a - b` и $x - y$")


def test_markdown_uses_the_glossary_and_dashes(release_nb):
    problems = []
    readme = os.path.join(REPO_ROOT, "release", "numnet", "README.md")
    with open(readme, encoding="utf-8") as f:
        texts = [("README.md", f.read())]
    texts += [(f"ячейка {i}", c.source) for i, c in enumerate(release_nb.cells) if c.cell_type == "markdown"]
    for where, text in texts:
        prose = _prose(text)
        for line in prose.split("\n"):
            if " - " in line:
                problems.append(f"{where}: дефис вместо тире: {line.strip()!r}")
        if GLOSSARY_CELL not in text:  # the glossary itself names the avoided terms
            problems += [f"{where}: {term}" for term in _avoided_terms(prose)]
    assert problems == []


def test_glossary_cell_near_the_start(release_nb):
    index = next(i for i, c in enumerate(release_nb.cells) if GLOSSARY_CELL in c.source)
    first_code = next(i for i, c in enumerate(release_nb.cells) if c.cell_type == "code")
    assert index < first_code
    glossary = release_nb.cells[index].source
    for term in (
        "батч",
        "прямой проход",
        "обратный проход",
        "функция потерь",
        "ядро свёртки",
        "ядро Jupyter",
        "скорость обучения",
        "шаг оптимизатора",
    ):
        assert term in glossary, term
    with open(os.path.join(REPO_ROOT, "docs", "glossary.md"), encoding="utf-8") as f:
        doc = f.read()
    for term in ("батч", "прямой проход", "функция потерь", "ядро свёртки", "скорость обучения"):
        assert term in doc, term


def test_skeleton_docstrings_and_messages_are_russian(release_nb):
    """Every docstring and every error message of the code a student is given is Russian and uses the glossary."""
    import ast

    problems, docstrings, messages = [], 0, 0
    for c in _skeleton_cells(release_nb):
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        tree = ast.parse(c.source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc is not None:
                    docstrings += 1
                    if not CYRILLIC.search(doc):
                        problems.append(f"{gid}: {node.name}: docstring на английском: {doc[:60]!r}")
                    problems += [f"{gid}: {node.name}: {t}" for t in _avoided_terms(doc)]
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                texts = [
                    n.value
                    for n in ast.walk(node.exc.args[0])
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
                if texts:
                    messages += 1
                    if not any(CYRILLIC.search(t) for t in texts):
                        problems.append(f"{gid}: сообщение на английском: {texts[0][:60]!r}")
                    problems += [f"{gid}: {t}" for t in _avoided_terms(" ".join(texts))]
    assert docstrings > 40 and messages > 25
    assert problems == []


def test_no_derivative_formulas_in_the_skeleton(release_nb):
    """Docstrings give shapes and layouts; the derivations are in docs/derivations.md (instructors only)."""
    code = "\n".join(c.source for c in _skeleton_cells(release_nb))
    for answer in ["W.T", "delta_ij", "p_i (", "-y / p", "diag(", "the identity", "1 where an output"]:
        assert answer not in code, answer
    assert "``[b, o, i*output_dim + j]``" in code  # the layout of grad_W is a contract


# ------------------------------------------------------------------- the advice to check gradients (item 6)
def _gradient_recipe(nb):
    advice = next(
        c.source for c in nb.cells if c.cell_type == "markdown" and "проверьте градиенты численно" in c.source
    )
    (code,) = re.findall(r"```python\n(.*?)```", advice, flags=re.S)
    return advice, code


def _recipe_namespace(nb, **overrides):
    """The release's helpers cell as written (with the release's numnet_testing.py), and the reference classes
    (the solution's cells are numnet_ref)."""
    import numpy as np
    import numnet_ref

    namespace = helpers_namespace(cell(nb, "test_helpers").source, RELEASE_DIR)
    namespace["np"] = np
    namespace.update({name: getattr(numnet_ref, name) for name in numnet_ref.__all__})
    namespace.update(overrides)
    return namespace


def test_gradient_check_advice_passes_on_the_reference_and_catches_a_bug(release_nb, capsys):
    import numnet_ref

    advice, code = _gradient_recipe(release_nb)
    for words in ("float64", "центральные разности", "numerical_grad", "numerical_jacobian", "10^{-6}"):
        assert words in advice, words
    exec(compile(code, "recipe", "exec"), _recipe_namespace(release_nb))
    assert "градиенты совпадают с численными" in capsys.readouterr().out

    class MeanBias(numnet_ref.DenseLayer):
        """A planted bug: dL/db averaged over the batch instead of summed (off by the factor B = 6)."""

        def backward_params(self, input_data, grad_output):  # DenseLayer.backward takes its half from here
            grad_W, grad_b = super().backward_params(input_data, grad_output)
            return [grad_W, grad_b / len(input_data)]

    with pytest.raises(AssertionError, match=r"слой 0, параметр 1: относительная ошибка 0\.8"):
        exec(compile(code, "recipe", "exec"), _recipe_namespace(release_nb, DenseLayer=MeanBias))

    class SoftmaxTransposed(numnet_ref.Softmax):
        """A subtler planted bug: the Softmax Jacobian product with the wrong axis."""

        def backward(self, input_data, grad_output):
            p = self.forward(input_data)
            return p * (grad_output - (grad_output * p).sum(axis=0, keepdims=True)), []

    with pytest.raises(AssertionError, match="относительная ошибка"):
        exec(compile(code, "recipe", "exec"), _recipe_namespace(release_nb, Softmax=SoftmaxTransposed))


def test_why_the_advice_says_float64(release_nb):
    """The same check on float32 weights (the layers' default dtype) fails on the correct reference: the advice to
    use float64 is needed, not decoration."""
    import numpy as np
    import numnet_ref

    _, code = _gradient_recipe(release_nb)

    class Float32Dense(numnet_ref.DenseLayer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.W, self.b = self.W.astype(np.float32), self.b.astype(np.float32)

    with pytest.raises(AssertionError, match="относительная ошибка"):
        exec(compile(code, "recipe", "exec"), _recipe_namespace(release_nb, DenseLayer=Float32Dense))


def test_released_classes_have_readable_reprs(release_nb):
    """Plot titles and messages show e.g. SGD(learning_rate=0.01, ...), never <__main__.SGD object at 0x...>: the
    reprs are given code, so even an untouched release has them."""
    ns = _exec_cells(
        release_nb,
        [
            "checks",
            "layer",
            "network",
            "dense",
            "relu",
            "softmax",
            "flatten",
            "maxpooling",
            "conv_helpers",
            "conv_base",
            "conv2d",
            "conv2dtr",
            "crossentropy",
            "optimizers",
        ],
    )
    objects = [
        ns["DenseLayer"](3, 2),
        ns["ReLU"](),
        ns["Softmax"](),
        ns["FlattenLayer"](),
        ns["MaxPooling"](),
        ns["Conv2DLayer"](3, 1, 2),
        ns["Conv2DTrLayer"](3, 1, 2, padding=1, stride=2),
        ns["CrossEntropy"](),
        ns["SGD"](momentum=0.9, nesterov=True),
        ns["RMSprop"](),
        ns["Adagrad"](),
        ns["Adam"](),
    ]
    objects.append(ns["Network"](objects[:2], loss=ns["CrossEntropy"](), optimizer=ns["Adam"]()))
    for obj in objects:
        text = repr(obj)
        assert " object at 0x" not in text and text.startswith(type(obj).__name__ + "("), text
    assert repr(objects[8]) == "SGD(learning_rate=0.01, momentum=0.9, nesterov=True)"


def test_advice_threshold_holds_for_jacobians_too(release_nb):
    """The advice names numerical_jacobian with the same eps and threshold: they hold for every reference layer's
    grad_x in float64 (including Softmax at large logits) and catch a transposed Dense Jacobian."""
    import numpy as np
    import numnet_ref

    ns = _recipe_namespace(release_nb)
    rng = np.random.default_rng(1)

    def relative_error(layer, x):
        numerical = ns["numerical_jacobian"](layer.forward, x, eps=1e-6)
        return np.max(np.abs(layer.grad_x(x) - numerical)) / max(np.max(np.abs(numerical)), 1e-8)

    layers = [
        (numnet_ref.DenseLayer(4, 3, W_init=rng.normal(size=(4, 3)), b_init=rng.normal(size=3)), (5, 4)),
        (numnet_ref.ReLU(), (3, 6)),
        (numnet_ref.Softmax(), (4, 5)),
        (numnet_ref.FlattenLayer(), (2, 2, 3)),
        (numnet_ref.MaxPooling(), (2, 1, 4, 4)),
        (
            numnet_ref.Conv2DLayer(
                3, 2, 2, padding="same", stride=2, K_init=rng.normal(size=(3, 3, 2, 2)), b_init=rng.normal(size=2)
            ),
            (1, 2, 5, 4),
        ),
    ]
    for layer, shape in layers:
        assert relative_error(layer, rng.normal(size=shape)) < 1e-6, layer
    assert relative_error(numnet_ref.Softmax(), rng.normal(size=(3, 4)) * 30 + 500) < 1e-6

    class TransposedDense(numnet_ref.DenseLayer):
        def grad_x(self, input_data):
            return np.repeat(self.W[None], len(input_data), axis=0)  # W instead of W.T

    bad = TransposedDense(3, 3, W_init=rng.normal(size=(3, 3)), b_init=np.zeros(3))
    assert relative_error(bad, rng.normal(size=(2, 3))) > 1e-2
