"""coursekit.integrity: code in editable cells that tampers with the tests is found (and only such code), and
the autograde sanitizer turns a tampered notebook into a refusal. End to end: the `check_close_redefined`
example of test_autograde.py and tests/gradebot/test_real_course.py."""
import copy
import textwrap

import nbformat
import pytest

from course_util import cell
from coursekit import integrity
from coursekit.examples import EXAMPLES, build_submission, solved_notebook
from coursekit.nbgrader_ext import REFUSAL_CELL_ID, RefuseTamperedTests


@pytest.fixture(scope="module")
def solved(release_nb, source_nb):
    return solved_notebook(release_nb, source_nb)


def with_code(nb, code, where="new"):
    """`nb` with `code` in the optional demo solution cell, or in a new cell a student added at the end."""
    nb = copy.deepcopy(nb)
    code = textwrap.dedent(code).strip("\n")
    if where == "new":
        nb.cells.append(nbformat.v4.new_code_cell(code))
    else:
        cell(nb, where).source = code
    return nb


def rules(nb):
    return sorted({f.rule for f in integrity.check_notebook(nb)})


def test_reference_release_and_bundled_examples_are_clean(source_nb, release_nb, solved):
    # no false positive on the reference solution (the source notebook) or anything students get
    assert integrity.check_notebook(source_nb) == []
    assert integrity.check_notebook(release_nb) == []
    assert integrity.check_notebook(solved) == []
    for example in EXAMPLES:
        submission = build_submission(example, release_nb, source_nb)
        if example.name == "helpers_cell_deleted":      # the sanitizer runs after nbgrader restored the cell
            with pytest.raises(ValueError):
                integrity.check_notebook(submission)
            continue
        findings = integrity.check_notebook(submission)
        assert bool(findings) == (example.name == "check_close_redefined"), (example.name, findings)


def test_protected_names_come_from_the_helpers_cell(source_nb):
    names = integrity.protected_names(source_nb)
    assert {"check_close", "begin_test", "fail", "TestFailed", "GRADING", "check_grad", "test_layer",
            "numerical_jacobian", "np"} <= set(names)
    assert names["np"] == "numpy" and names["check_close"] is None
    assert "DenseLayer" not in names and "X_train" not in names          # students' and data names are free


TAMPERING = [
    ("def check_close(*args, **kwargs):\n    pass", "helper"),
    ("check_grad = lambda *a, **k: None", "helper"),
    ("class TestFailed(Exception):\n    pass", "helper"),
    ("GRADING = False", "helper"),
    ("from numpy import testing as fail", "helper"),
    ("for begin_test in [print]:\n    pass", "helper"),
    ("try:\n    1 / 0\nexcept ZeroDivisionError as fail:\n    pass", "helper"),
    ("del check_close", "helper"),
    ("def f():\n    global check_close\n    check_close = print", "helper"),
    ("len = lambda values: 0", "helper"),
    ("def isinstance(obj, cls):\n    return True", "helper"),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", "module"),
    ("np.random.seed = lambda seed: None", "module"),
    ("m = np\nr = m.testing\nr.assert_allclose = print", "module"),
    ("np.__dict__['abs'] = print", "module"),
    ("setattr(np, 'abs', print)", "module"),
    ("def patch():\n    np.isfinite = lambda x: True\npatch()", "module"),
    ("import keras\nkeras.layers.Conv2D = object", "module"),
    ("check_close.__code__ = print.__code__", "introspect"),
    ("globals()['check_close'] = print", "introspect"),
    ("g = vars()\ng['fail'] = print", "introspect"),
    ("exec('check_' + 'close = print')", "introspect"),
    ("get_ipython().user_ns['fail'] = print", "introspect"),
    ("import builtins\nbuiltins.len = lambda v: 0", "import"),
    ("import sys\nsys.modules['numpy'].abs = print", "import"),
    ("import gc", "import"),
    ("from inspect import currentframe\ncurrentframe().f_back.f_globals['fail'] = print", "import"),
    ("def g():\n    return getattr(check_close, '__globals__')", "introspect"),
    ("%run other.py", "magic"),
    ("%timeit -n 1 -r 1 globals()", "introspect"),
    ("%%time\nnp.allclose = print", "module"),
    ("for i in range(2):\n    %time np.zeros(3)\nnp.abs = print", "module"),     # a magic inside a block
    ("with open('cheat.py', 'w') as f:\n    f.write('import builtins')\nimport cheat", "import"),
    ("from my_helpers import fast_conv", "import"),
    ("w = np.load('weights.npy', allow_pickle=True)", "introspect"),
    ("spec = __spec__", "introspect"),
    ("np.__dict__.update(allclose=lambda *a, **k: True)", "module"),
    ("d = getattr(np.random, '__dict__')\nd['seed'] = print", "module"),
]


@pytest.mark.parametrize("code,rule", TAMPERING, ids=[c.split("\n")[-1][:40] for c, _ in TAMPERING])
@pytest.mark.parametrize("where", ["new", "deep_demo"])
def test_tampering_is_found(solved, code, rule, where):
    findings = integrity.check_notebook(with_code(solved, code, where))
    assert rule in {f.rule for f in findings}, findings
    finding = next(f for f in findings if f.rule == rule)
    assert finding.cell == ("deep_demo" if where == "deep_demo" else "ячейка %d" % (len(solved.cells) + 1))
    assert 1 <= finding.line <= code.count("\n") + 1
    assert finding.message and "`" in finding.message                    # names what to change, in Russian


LEGITIMATE = [
    "import numpy as np\nimport numpy\nfrom numpy.lib.stride_tricks import as_strided",
    "x = np.zeros(3)\nx[0] = 1\nx += 2",
    "class Mine:\n    def __init__(self):\n        self.W = np.zeros((2, 2))\n        self.W[np.arange(2), 0] = 1",
    "def f(values):\n    sum = 0\n    for v in values:\n        sum += v\n    return sum",
    "total = sum(v for v in range(3))\nresult = [all for all in range(2)]",
    "net = Network([DenseLayer(784, 10), Softmax()], loss=CrossEntropy())\nprint(np.allclose(1, 1))",
    "%matplotlib inline\n%timeit -n 1 -r 1 np.zeros(3)",
    "%%time\nx = np.ones(5)",
    "!ls",
    "X_small = X_train[:100]\nmy_check_close = 1",
    "import types, os\nimport os.path",
    "def broken(:\n    pass",           # a syntax error: the cell runs nothing, nothing to check
    "%load_ext autoreload\n%autoreload 2\n%pip install tqdm",
    "from tqdm import tqdm\nimport matplotlib.pyplot as plt\nfrom sklearn.model_selection import train_test_split",
    "w = np.load('weights.npy', allow_pickle=False)\nif __name__ == '__main__':\n    print(__doc__)",
    "from mnist_loader import load_data",
    "class Layer2:\n    def params(self):\n        return dict(self.__dict__)",
    "input = np.zeros(3)\nid = 1\nall = 2",      # builtins no read-only or test cell uses
]


@pytest.mark.parametrize("code", LEGITIMATE, ids=[c.split("\n")[0][:40] for c in LEGITIMATE])
def test_legitimate_code_is_not_flagged(solved, code):
    assert integrity.check_notebook(with_code(solved, code)) == []


def test_locked_and_test_cells_are_not_checked(solved):
    # the helpers cell itself binds the protected names; test cells use globals(): neither is student code
    nb = copy.deepcopy(solved)
    cell(nb, "part1_forward__dense").source += "\nglobals()"
    assert integrity.check_notebook(nb) == []


def test_not_a_course_notebook_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="test-helpers cell"):
        integrity.check_notebook(nb)


def test_sanitizer_refuses_a_tampered_notebook(solved):
    nb = with_code(solved, "def check_close(*args, **kwargs):\n    pass", "deep_demo")
    out, _ = RefuseTamperedTests().preprocess(copy.deepcopy(nb), {})
    assert out.cells[0].id == REFUSAL_CELL_ID and out.cells[0].cell_type == "markdown"
    assert "Работа не оценена" in out.cells[0].source and "check_close" in out.cells[0].source
    tests = [c for c in out.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) > 20
    assert all(c.source.startswith("raise RuntimeError(") and "deep_demo, строка 1" in c.source for c in tests)
    # the student's own cells are left as they were
    assert cell(out, "deep_demo").source == cell(nb, "deep_demo").source


def test_sanitizer_leaves_clean_and_foreign_notebooks_alone(solved):
    out, _ = RefuseTamperedTests().preprocess(copy.deepcopy(solved), {})
    assert out == solved
    foreign = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("globals()")])
    assert RefuseTamperedTests().preprocess(copy.deepcopy(foreign), {})[0] == foreign


def test_cli_reports_and_exits_nonzero(tmp_path, solved, capsys):
    clean, bad = tmp_path / "clean.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(solved, str(clean))
    nbformat.write(with_code(solved, "GRADING = False"), str(bad))
    assert integrity.main([str(clean)]) == 0
    assert integrity.main([str(clean), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "clean.ipynb: ok" in out and "bad.ipynb: 1 finding(s)" in out and "`GRADING`" in out
    (tmp_path / "junk.ipynb").write_text("not json")
    assert integrity.main([str(tmp_path / "junk.ipynb")]) == 2
