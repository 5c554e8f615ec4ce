"""The solved source notebook runs top to bottom ("Run all", normal mode: demos included) without errors."""

import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit import SOURCE_NOTEBOOK


@pytest.fixture(scope="module")
def executed(mnist_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run_all")
    folder = os.path.dirname(SOURCE_NOTEBOOK)
    for name in os.listdir(folder):
        if os.path.isfile(os.path.join(folder, name)):
            shutil.copy(os.path.join(folder, name), tmp)
    nb = nbformat.read(str(tmp / "numnet.ipynb"), as_version=4)
    old = os.environ.get("NUMNET_GRADING")
    os.environ["NUMNET_GRADING"] = "0"
    os.environ.pop("NBGRADER_EXECUTION", None)
    try:
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp)}}, allow_errors=True
        ).execute()
    finally:
        if old is None:
            os.environ.pop("NUMNET_GRADING", None)
        else:
            os.environ["NUMNET_GRADING"] = old
    return nb


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_no_cell_fails(executed):
    failed = [
        (c.metadata.get("nbgrader", {}).get("grade_id"), o.ename, o.evalue)
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert failed == []


def test_every_test_cell_passes(executed):
    tests = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade")]
    from coursekit import SUBJECTS

    assert {c.metadata["nbgrader"]["grade_id"] for c in tests} == set(SUBJECTS)  # every test cell of the course
    for c in tests:
        assert "Test PASSED" in _text(c), c.metadata["nbgrader"]["grade_id"]


def test_demos_train_and_plot(executed):
    demos = [
        c
        for c in executed.cells
        if c.cell_type == "code" and "history = net.fit(" in c.source and "plot_history(" in c.source
    ]
    assert len(demos) >= 5
    for c in demos:
        assert "Режим проверки" not in _text(c)
        assert "1 epoch: val" in _text(c)
        assert any("image/png" in o.get("data", {}) for o in c.outputs), c.source[:80]


def test_self_check_finds_the_notebook_and_every_visible_test_passes(executed):
    """The last cell finds the notebook file itself (the one with test cells in the working directory) and prints
    a row per test with the course's names: all passed on the reference, 45 of 45."""
    from coursekit.course import TEST_NAMES

    (cell,) = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "self_check"]
    out = _text(cell)
    assert "✗" not in out and out.count("✓") == len(TEST_NAMES)
    assert "  ✓ 1     DenseLayer: прямой проход (part1_forward__dense)\n" in out
    assert out.rstrip().endswith("Итого: 45 из 45")
    assert executed.cells.index(cell) == max(i for i, c in enumerate(executed.cells) if c.cell_type == "code")
