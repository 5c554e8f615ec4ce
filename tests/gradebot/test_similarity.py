"""The similarity report (gradebot/similarity.py, ``python -m gradebot similarity``) on the course's notebooks:
the reference (coursekit.examples' solved notebook), a disguised copy of it, an independently written correct
solution (similarity_fixtures/independent.ipynb: 45/45 points) and the untouched release."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.examples import solved_notebook
from gradebot import similarity
from gradebot.frontends import cli
from tests.gradebot.similarity_fixtures.disguise import disguise

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / "release" / "numnet" / "numnet.ipynb"
FIXTURES = Path(__file__).resolve().parent / "similarity_fixtures"
INDEPENDENT = FIXTURES / "independent.ipynb"


def _solution_ids(nb) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    """reference, copy (disguised reference), independent, release: paths in a temporary directory."""
    root = tmp_path_factory.mktemp("similarity")
    release = nbformat.read(str(RELEASE), as_version=4)
    reference = solved_notebook()
    paths = {name: root / f"{name}.ipynb" for name in ("reference", "copy", "independent", "release")}
    nbformat.write(reference, str(paths["reference"]))
    nbformat.write(disguise(reference, _solution_ids(release)), str(paths["copy"]))
    shutil.copy(INDEPENDENT, paths["independent"])
    shutil.copy(RELEASE, paths["release"])
    return paths


def _pairs(report) -> dict[frozenset, similarity.Pair]:
    return {frozenset((Path(p.a).stem, Path(p.b).stem)): p for p in report.pairs}


@pytest.fixture(scope="module")
def cohort_report(notebooks):
    return similarity.similarity_report(
        [notebooks[n] for n in ("reference", "copy", "independent", "release")], RELEASE
    )


def test_the_copy_is_disguised(notebooks):
    """The copy really differs in text: renamed variables, methods in another order, other comments."""
    release = nbformat.read(str(RELEASE), as_version=4)
    ref = similarity.student_code(json.loads(notebooks["reference"].read_text()), release)
    cp = similarity.student_code(json.loads(notebooks["copy"].read_text()), release)
    assert "e = np.exp(x - x.max(axis=1, keepdims=True))" in ref
    assert "e = np.exp(x" not in cp and "ex = np.exp(inp - inp.max(axis=1, keepdims=True))" in cp
    softmax = _cell(nbformat.read(str(notebooks["copy"]), as_version=4), "softmax").source
    assert softmax.index("def grad_x") < softmax.index("def forward")  # reversed method order
    assert "# мой комментарий" in cp and "мой комментарий" not in ref
    assert ref != cp


def test_disguised_copy_is_flagged(cohort_report):
    pair = _pairs(cohort_report)[frozenset(("reference", "copy"))]
    assert pair.flagged and pair.score >= 0.5
    assert pair.shared >= cohort_report.settings.full_length


def test_independent_correct_solution_is_not_flagged(cohort_report):
    pairs = _pairs(cohort_report)
    for other in ("reference", "copy"):
        pair = pairs.get(frozenset(("independent", other)))
        assert pair is None or (not pair.flagged and pair.score < 0.1), pair


def test_boilerplate_alone_is_not_flagged(notebooks, tmp_path):
    """The release shares only the skeleton with everyone: no pair with it; two untouched releases share all of
    their text, all of it boilerplate: no pair either."""
    pairs = _pairs(similarity.similarity_report([notebooks["release"], notebooks["reference"]], RELEASE))
    assert frozenset(("release", "reference")) not in pairs
    second = tmp_path / "release2.ipynb"
    shutil.copy(RELEASE, second)
    report = similarity.similarity_report([notebooks["release"], second], RELEASE)
    assert len(report.documents) == 2 and report.pairs == []


def test_what_counts_is_the_students_code(notebooks):
    """Solution cells and added cells count; test cells and the given helpers never do, even when edited."""
    release = nbformat.read(str(RELEASE), as_version=4)
    nb = nbformat.read(str(notebooks["reference"]), as_version=4)
    _cell(nb, "part1_forward__relu").source = "STUDENT_EDITED_TEST = 1"
    _cell(nb, "test_helpers").source += "\nSTUDENT_EDITED_HELPER = 1"
    nb.cells.insert(5, nbformat.v4.new_code_cell("STUDENT_ADDED_CELL = 1"))
    code = similarity.student_code(json.loads(nbformat.writes(nb)), release)
    assert "STUDENT_ADDED_CELL" in code
    assert "return np.maximum(input_data, out, out=out)" in code  # a solution region
    assert "STUDENT_EDITED_TEST" not in code and "STUDENT_EDITED_HELPER" not in code
    assert "def check_close" not in code  # the course's helper cell


def _code(seed: int, lines: int = 40) -> str:
    """Distinct code: random arithmetic (numbers survive tokenization, names do not)."""
    rng = random.Random(seed)
    body = "\n".join(
        f"    v{i} = v{i - 1} * {rng.randint(2, 999)} + {rng.randint(2, 999)} - w[{rng.randint(0, 99)}]"
        for i in range(1, lines)
    )
    return f"def f{seed}(v0, w):\n{body}\n    return v{lines - 1}\n"


SHARED = _code(10_000, lines=60)


def _docs(texts: list[str]) -> list[similarity.Document]:
    return [similarity.Document(f"s{i}.ipynb", text, archive=False) for i, text in enumerate(texts)]


def test_rarity_common_code_does_not_count():
    """A long passage two students share is flagged; the same passage in half of the cohort counts for no pair
    (it is how many wrote it)."""
    two = similarity.compare(_docs([_code(i) + SHARED if i < 2 else _code(i) for i in range(10)]), "")
    assert [(p.a, p.b, p.flagged) for p in two.pairs] == [("s0.ipynb", "s1.ipynb", True)]
    many = _docs([_code(i) + SHARED if i < 5 else _code(i) for i in range(10)])
    assert similarity.compare(many, "").pairs == []
    no_rarity = similarity.Settings(common_share=1.0, common_min=10)
    assert len([p for p in similarity.compare(many, "", no_rarity).pairs if p.flagged]) == 10  # 5 choose 2


def test_length_short_shared_code_does_not_count():
    """Two students sharing one short layer (a few lines) beside their own code are not a pair at all."""
    relu = "class ReLU(Layer):\n    def forward(self, x):\n        return np.maximum(x, 0)\n"
    report = similarity.compare(_docs([_code(1) + relu, _code(2) + relu]), "")
    assert report.pairs == []
    report = similarity.compare(_docs([_code(1) + relu, _code(2) + relu]), "", similarity.Settings(min_passage=25))
    assert [p.flagged for p in report.pairs] == [False]  # seen without the minimum length, not flagged
    # ... while a whole copied function is
    report = similarity.compare(_docs([_code(1) + relu, _code(2) + _code(1)]), "")
    assert [p.flagged for p in report.pairs] == [True]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["similarity", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_shape_and_order(notebooks, capsys):
    code, out, _ = _cli(
        capsys,
        notebooks["reference"],
        notebooks["copy"],
        notebooks["independent"],
        notebooks["release"],
        "--boilerplate",
        RELEASE,
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"pairs"}
    given = {str(notebooks[n]) for n in ("reference", "copy", "independent", "release")}
    scores = [p["score"] for p in data["pairs"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 2
    for p in data["pairs"]:
        assert {"a", "b", "score", "flagged"} <= set(p)
        assert p["a"] in given and p["b"] in given and p["a"] != p["b"]
        assert 0 <= p["score"] <= 1 and isinstance(p["flagged"], bool)
    top = data["pairs"][0]
    assert {Path(top["a"]).stem, Path(top["b"]).stem} == {"reference", "copy"} and top["flagged"]
    assert [p["flagged"] for p in data["pairs"]].count(True) == 1


def test_cli_default_boilerplate_is_the_course_release(notebooks):
    """Run as ``python -m gradebot similarity`` with the course root: the release notebook is the boilerplate."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gradebot",
            "--course-root",
            str(REPO),
            "similarity",
            str(notebooks["reference"]),
            str(notebooks["copy"]),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p["flagged"] for p in json.loads(proc.stdout)["pairs"]] == [True]


def test_cli_bad_input_named_and_the_rest_compared(notebooks, tmp_path, capsys):
    bad_json = tmp_path / "broken.ipynb"
    bad_json.write_text("{not json")
    not_nb = tmp_path / "other.ipynb"
    not_nb.write_text('{"hello": 1}')
    binary = tmp_path / "binary.ipynb"
    binary.write_bytes(b"\xff\xfe\x00")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = _cli(
        capsys,
        notebooks["reference"],
        bad_json,
        not_nb,
        binary,
        empty,
        tmp_path / "missing.ipynb",
        notebooks["copy"],
        "--boilerplate",
        RELEASE,
        "--json",
    )
    assert code == 1
    assert f"{bad_json}: not a notebook (invalid JSON" in err
    assert f"{not_nb}: not a notebook (JSON without a list of cells)" in err
    assert f"{binary}: not a notebook (not UTF-8 text)" in err
    assert f"{empty}: a directory without notebooks" in err
    assert f"{tmp_path / 'missing.ipynb'}: no such file or directory" in err
    data = json.loads(out)
    assert [(Path(p["a"]).stem, Path(p["b"]).stem, p["flagged"]) for p in data["pairs"]] == [
        ("reference", "copy", True)
    ]
    assert len(data["errors"]) == 5


def test_cli_bad_boilerplate_and_nothing_to_compare(notebooks, tmp_path, capsys):
    broken = tmp_path / "release.ipynb"
    broken.write_text("nope")
    code, _, err = _cli(capsys, notebooks["reference"], notebooks["copy"], "--boilerplate", broken)
    assert code == 2 and f"{broken}: the boilerplate is not a readable notebook" in err
    code, _, err = _cli(capsys, notebooks["reference"], "--boilerplate", RELEASE)
    assert code == 2 and "nothing to compare" in err
    code, _, err = _cli(capsys, notebooks["reference"], notebooks["copy"], "--threshold", "2")
    assert code == 2 and "error: --threshold: " in err and "threshold in [0, 1]" in err


def test_cli_against_archive_pairs_current_with_archive_only(notebooks, tmp_path, capsys):
    archive = tmp_path / "archive"
    (archive / "2025").mkdir(parents=True)
    shutil.copy(notebooks["reference"], archive / "2025" / "old_a.ipynb")
    shutil.copy(notebooks["reference"], archive / "2025" / "old_b.ipynb")  # a copy inside the archive
    code, out, _ = _cli(
        capsys, notebooks["copy"], notebooks["independent"], "--against", archive, "--boilerplate", RELEASE, "--json"
    )
    assert code == 0
    pairs = [(Path(p["a"]).stem, Path(p["b"]).stem, p["flagged"]) for p in json.loads(out)["pairs"]]
    assert ("old_a", "old_b") not in {(a, b) for a, b, _ in pairs} and ("old_b", "old_a") not in {
        (a, b) for a, b, _ in pairs
    }
    assert {(a, b) for a, b, f in pairs if f} == {("copy", "old_a"), ("copy", "old_b")}  # current side first


def test_html_report_side_by_side_and_escaped(notebooks, tmp_path, capsys):
    """Student code is hostile: a copied cell with </pre><script> appears escaped, inside the highlighted match."""
    nb = nbformat.read(str(notebooks["reference"]), as_version=4)
    cell = _cell(nb, "relu")
    cell.source = cell.source.replace(
        "return np.maximum(input_data, out, out=out)",
        "s = '</pre><script>alert(1)</script>' + \"<img src=x onerror=alert(2)>\"\n        "
        "return np.maximum(input_data, out, out=out)",
    )
    a, b = tmp_path / "a<b>.ipynb", tmp_path / "b.ipynb"
    nbformat.write(nb, str(a))
    nbformat.write(disguise(nb, _solution_ids(nb)), str(b))
    out = tmp_path / "report.html"
    code, _, _ = _cli(capsys, a, b, notebooks["independent"], "--boilerplate", RELEASE, "--out", out)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page and "a<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a&lt;b&gt;.ipynb" in page
    assert "Отчёт о схожести решений" in page and "Подозрительные пары" in page
    assert page.count("<div class='side'>") == 1  # the one flagged pair
    assert page.count('<mark class="a">') >= 1 and page.count('<mark class="b">') >= 1
    marked = page[page.index('<mark class="a">') :]
    assert "return np.maximum(input_data, " in page and "</mark>" in marked  # the copy renames `out`


def test_independent_fixture_is_built_from_the_current_release():
    """independent.ipynb is make_independent.py applied to today's release (else: run that script, and grade the
    result again: it scored 45/45 when committed)."""
    from tests.gradebot.similarity_fixtures.make_independent import build

    built, committed = build(), nbformat.read(str(INDEPENDENT), as_version=4)
    ids = _solution_ids(built)
    assert len(ids) >= 10
    assert {g: _cell(built, g).source for g in ids} == {g: _cell(committed, g).source for g in ids}, (
        "run: python tests/gradebot/similarity_fixtures/make_independent.py"
    )


def test_committed_independent_solution_is_fresh():
    """independent.ipynb is the independent bodies filled into today's release; after a release change it must be
    regenerated (python tests/gradebot/similarity_fixtures/make_independent.py), or this report compares a stale
    skeleton with today's."""
    from tests.gradebot.similarity_fixtures.make_independent import build

    fresh, committed = build(str(RELEASE)), nbformat.read(INDEPENDENT, as_version=4)
    assert [(c.cell_type, c.source) for c in fresh.cells] == [(c.cell_type, c.source) for c in committed.cells], (
        "stale: run python tests/gradebot/similarity_fixtures/make_independent.py"
    )
