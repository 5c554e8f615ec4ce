"""Similarity report (honor code): which submissions share long, specific passages of the students' own code.

Course-agnostic: the caller gives the boilerplate notebook (the release the students started from; the CLI
defaults to the course's ``release/<assignment>/<notebook>``) and the submitted notebooks.

What counts (:func:`student_code`): the text of the solution cells and of the cells a student may edit or added,
as the trusted grader sees them (``coursekit.trusted.execute.rebuild`` decides which cells are the student's:
it is the one place that matches uploaded cells to the course's). The given skeleton, helpers and tests never
count: the course's own cells are not read from the upload at all, and every k-gram of the boilerplate
notebook's code is removed from the students' fingerprints (copydetect's boilerplate filter).

Scoring (:class:`Settings`, docs/gradebot.md "Similarity report"): copydetect tokenizes the code (names -> V/F/O,
strings -> S, comments and whitespace dropped), fingerprints it by k-grams (``noise`` tokenized characters; winnowing
guarantees matches of ``guarantee``) and matches fingerprints between two documents. Then, to not flag
correct solutions for being correct:

- rarity: a fingerprint found in more than ``common_share`` of all documents (and in more than ``common_min``)
  is what many wrote alike: it counts for no pair;
- length: a matched passage shorter than ``min_passage`` tokens does not count (one-line layers such as ReLU are
  the same everywhere);
- score of a pair: the larger of the two shares of a notebook's specific code (``cov``: the part of its
  code in fingerprints that are not common) that lies in counted passages, reduced when the counted length
  ``shared`` is short: ``max(cov_a, cov_b) * min(1, shared / full_length)``; flagged when ``score >= threshold``.

Pairs: every two current submissions, and every current submission with every archive one (archive notebooks,
e.g. earlier years, are never compared with each other).
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Iterable

import nbformat
import numpy as np
from copydetect import CodeFingerprint
from copydetect.utils import get_copied_slices, highlight_overlap

NOTEBOOK_SUFFIX = ".ipynb"


class SimilarityError(ValueError):
    """Bad input: the message names the file and says what was wrong."""


@dataclasses.dataclass(frozen=True)
class Settings:
    noise: int = 25  # k-gram length in tokenized characters: shorter matches are never seen
    guarantee: int = 25  # matches of this length are always found (winnowing window = guarantee - noise
    #                               + 1; equal to noise: every k-gram is kept, so results do not depend on the
    #                               per-process string hash that decides which k-grams winnowing keeps)
    min_passage: int = 80  # a matched passage shorter than this (tokenized characters) does not count
    common_share: float = 0.2  # a fingerprint in more than this share of the documents counts for no pair ...
    common_min: int = 3  # ... if it is also in more than this many documents (small cohorts)
    full_length: int = 600  # shared tokenized characters from which the score is not damped for length
    threshold: float = 0.5  # flagged when score >= threshold

    def __post_init__(self) -> None:
        if not 1 <= self.noise <= self.guarantee:
            raise ValueError(f"need 1 <= noise <= guarantee, got noise={self.noise}, guarantee={self.guarantee}")
        if not 0 < self.common_share <= 1 or not 0 <= self.threshold <= 1:
            raise ValueError("common_share must be in (0, 1] and threshold in [0, 1]")


@dataclasses.dataclass
class Document:
    path: str
    code: str
    archive: bool
    fingerprint: Any = None  # Prints


@dataclasses.dataclass
class Pair:
    a: str
    b: str
    score: float
    flagged: bool
    shared: int  # tokenized characters in counted passages (the smaller side's count)
    coverage: tuple[float, float]
    slices: tuple[np.ndarray, np.ndarray]  # 2xN [start, end) offsets into each side's code text

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "score": round(float(self.score), 4),
            "flagged": bool(self.flagged),
            "shared": int(self.shared),
            "coverage": [round(float(c), 4) for c in self.coverage],
        }


@dataclasses.dataclass
class Report:
    documents: list[Document]
    pairs: list[Pair]  # highest score first; pairs sharing no counted passage are left out
    errors: list[str]  # one message per file that was skipped
    settings: Settings

    def to_json(self) -> dict[str, Any]:
        return {"pairs": [p.to_json() for p in self.pairs], "documents": len(self.documents), "errors": self.errors}


# ------------------------------------------------------------------------------------------------ input
def read_notebook_json(path: str | Path) -> dict:
    """The upload as plain JSON (never trusted as a notebook: :func:`student_code` reads only cell texts)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimilarityError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SimilarityError(f"{path}: not a notebook (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise SimilarityError(f"{path}: not a notebook (invalid JSON at line {exc.lineno}: {exc.msg})") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("cells"), list)
        or not all(isinstance(c, dict) for c in data["cells"])
    ):
        raise SimilarityError(f"{path}: not a notebook (JSON without a list of cells)")
    return data


def read_boilerplate(path: str | Path) -> nbformat.NotebookNode:
    """The notebook the students started from (the release), with nbgrader's cell metadata."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except OSError as exc:
        raise SimilarityError(
            f"{path}: cannot read the boilerplate notebook ({exc.strerror or exc}); give the "
            "release notebook the students started from (--boilerplate)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a broken file
        raise SimilarityError(f"{path}: the boilerplate is not a readable notebook ({exc})") from None
    if not any(_grade_id(c) for c in nb.cells):
        raise SimilarityError(
            f"{path}: the boilerplate notebook has no nbgrader cells: give the release notebook "
            "(with its grade ids), not a student's copy without metadata"
        )
    return nb


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def boilerplate_code(boilerplate: nbformat.NotebookNode) -> str:
    """Every code cell's text of the boilerplate notebook (skeleton, helpers, tests, release stubs)."""
    return "\n\n".join(c.source for c in boilerplate.cells if c.cell_type == "code")


def student_code(uploaded: dict, boilerplate: nbformat.NotebookNode) -> str:
    """The student's code: solution cells, editable cells and added cells, in the course's order.

    ``coursekit.trusted.execute.rebuild`` puts the upload's texts into the boilerplate notebook exactly as the
    grader does; its solution cells (nbgrader ``solution``) and cells without a grade id (editable or added) are
    the student's, every other cell is the course's own."""
    from coursekit.trusted.execute import rebuild

    solution_ids = {_grade_id(c) for c in boilerplate.cells if _grade_id(c) and c.metadata["nbgrader"].get("solution")}
    rebuilt = rebuild(uploaded, boilerplate, lambda cell: cell.source)
    texts = [
        c.source for c in rebuilt.cells if c.cell_type == "code" and (_grade_id(c) in solution_ids or not _grade_id(c))
    ]
    return "\n\n".join(t for t in texts if t.strip())


def notebook_paths(arg: str | Path) -> list[Path]:
    """A notebook path as given, or the notebooks under a directory (recursively, sorted)."""
    path = Path(arg)
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*" + NOTEBOOK_SUFFIX) if p.is_file() and ".ipynb_checkpoints" not in p.parts
        )
        if not found:
            raise SimilarityError(f"{arg}: a directory without notebooks (*.ipynb)")
        return found
    if not path.exists():
        raise SimilarityError(f"{arg}: no such file or directory")
    return [path]


# ------------------------------------------------------------------------------------------------ comparison
@dataclasses.dataclass
class Prints:
    """What the comparison needs of a ``copydetect.CodeFingerprint``, as arrays (quick to pickle and compare)."""

    k: int
    positions: np.ndarray  # positions of the kept k-grams in the tokenized code (sorted) ...
    hashes: np.ndarray  # ... and their hashes
    offsets: np.ndarray  # tokenized position -> characters removed before it (copydetect's offsets)

    @property
    def unique(self) -> np.ndarray:
        return np.unique(self.hashes)


def fingerprint(doc: Document, settings: Settings, boilerplate_hashes: np.ndarray) -> Prints:
    fp = CodeFingerprint(
        doc.path,
        settings.noise,
        settings.guarantee - settings.noise + 1,
        boilerplate=boilerplate_hashes,
        language="python",
        fp=io.StringIO(doc.code),
    )
    pos = [(int(i), int(h)) for h, ix in fp.hash_idx.items() for i in ix]
    arr = np.array(sorted(pos), dtype=np.int64).reshape(-1, 2)
    return Prints(fp.k, arr[:, 0].copy(), arr[:, 1].copy(), fp.offsets)


_JOB: dict[str, Any] = {}  # what forked fingerprint workers inherit (settings, boilerplate hashes, hash check)


def _fingerprint_job(doc: Document) -> Prints:
    if hash("gradebot.similarity") != _JOB["hash"]:  # copydetect hashes k-grams with hash(): same process family
        raise RuntimeError("fingerprint worker has another string hash seed than its parent")
    return fingerprint(doc, _JOB["settings"], _JOB["boilerplate"])


def fingerprint_all(documents: list[Document], settings: Settings, bp: np.ndarray, workers: int = 1) -> None:
    """Set every document's fingerprint; with ``workers`` > 1, in forked processes (tokenizing is the cost).

    Only "fork" keeps the parent's string hash seed, which copydetect's k-gram hashes depend on; without it (or
    for a few documents) the work is done in this process."""
    if workers > 1 and len(documents) >= 8 and "fork" in multiprocessing.get_all_start_methods():
        _JOB.update(settings=settings, boilerplate=bp, hash=hash("gradebot.similarity"))
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                fps = pool.map(_fingerprint_job, documents, chunksize=max(1, len(documents) // (4 * workers)))
        finally:
            _JOB.clear()
        for doc, fp in zip(documents, fps):
            doc.fingerprint = fp
        return
    for doc in documents:
        doc.fingerprint = fingerprint(doc, settings, bp)


def boilerplate_hashes(code: str, settings: Settings) -> np.ndarray:
    """Every k-gram hash of the boilerplate (window 1, as copydetect's own boilerplate filter)."""
    fp = CodeFingerprint("boilerplate.py", settings.noise, 1, language="python", fp=io.StringIO(code))
    return np.unique(np.fromiter(fp.hashes, dtype=np.int64, count=len(fp.hashes)))


def _covered(positions: np.ndarray, k: int) -> int:
    """Tokenized characters inside the k-grams at ``positions`` (sorted): the union of their spans."""
    if not len(positions):
        return 0
    return int(np.minimum(np.diff(positions), k).sum()) + k


def _passages(
    fp: Prints, by_hash: tuple[np.ndarray, np.ndarray], shared: np.ndarray, settings: Settings
) -> tuple[np.ndarray, int]:
    """Slices of ``fp``'s tokenized code made of the k-grams ``shared`` (sorted) -- counted passages only: at least
    ``min_passage`` long -- and their total length. ``by_hash``: fp's (hashes, positions) sorted by hash."""
    hashes, positions = by_hash
    found = positions[_ranges(np.searchsorted(hashes, shared, "left"), np.searchsorted(hashes, shared, "right"))]
    slices = get_copied_slices(found, fp.k)
    if slices.shape[1]:
        slices = slices[:, slices[1] - slices[0] >= settings.min_passage]
    return slices.astype(np.int64), int(np.sum(slices[1] - slices[0])) if slices.shape[1] else 0


def _common_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values of the sorted array ``a`` that are in the sorted array ``b``."""
    if not len(a) or not len(b):
        return a[:0]
    at = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[at] == a]


def _raw(fp: Prints, slices: np.ndarray) -> np.ndarray:
    """Tokenized positions -> positions in the raw code (as copydetect's compare_files)."""
    if slices.shape[1] and len(fp.offsets):
        slices = (
            slices + fp.offsets[:, 1][np.clip(np.searchsorted(fp.offsets[:, 0], slices), 0, fp.offsets.shape[0] - 1)]
        )
    return slices


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for every pair (vectorized)."""
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + shift


def compare(
    documents: list[Document],
    boilerplate_text: str,
    settings: Settings = Settings(),
    errors: list[str] | None = None,
    workers: int = 1,
) -> Report:
    """Fingerprint every document and score every pair (current-current, current-archive)."""
    fingerprint_all(documents, settings, boilerplate_hashes(boilerplate_text, settings), workers)
    n = len(documents)
    unique = [doc.fingerprint.unique for doc in documents]
    # rarity: fingerprints in more than `limit` documents count for no pair
    limit = max(settings.common_min, settings.common_share * n)
    values, df = np.unique(np.concatenate(unique + [np.zeros(0, dtype=np.int64)]), return_counts=True)
    common = values[df > limit]
    rare = [u[~np.isin(u, common, assume_unique=True)] for u in unique]
    # index: every (rare fingerprint, document), sorted by fingerprint
    index_hash = np.concatenate(rare + [np.zeros(0, dtype=np.int64)])
    index_doc = np.repeat(np.arange(n), [len(r) for r in rare])
    order = np.argsort(index_hash, kind="stable")
    index_hash, index_doc = index_hash[order], index_doc[order]
    # a counted passage of min_passage tokenized characters holds this many k-grams (all kept when noise ==
    # guarantee; winnowing keeps at least one per window): pairs sharing fewer are not looked at further
    window = settings.guarantee - settings.noise + 1
    least = max(1, (settings.min_passage - settings.noise + 1) // window)
    candidates = []
    for i in range(n):
        others = index_doc[
            _ranges(np.searchsorted(index_hash, rare[i], "left"), np.searchsorted(index_hash, rare[i], "right"))
        ]
        counts = np.bincount(others, minlength=n)
        for j in np.nonzero(counts[i + 1 :] >= least)[0] + i + 1:
            if not (documents[i].archive and documents[j].archive):
                candidates.append((i, int(j)))
    by_hash, own = {}, {}
    for i in {i for pair in candidates for i in pair}:
        fp = documents[i].fingerprint
        order = np.argsort(fp.hashes, kind="stable")
        by_hash[i] = (fp.hashes[order], fp.positions[order])
        own[i] = _covered(fp.positions[np.isin(fp.hashes, rare[i])], fp.k)
    pairs = []
    for i, j in candidates:
        if documents[i].archive:  # the current submission first
            i, j = j, i
        shared = _common_values(rare[i], rare[j])
        fa, fb = documents[i].fingerprint, documents[j].fingerprint
        slices_a, len_a = _passages(fa, by_hash[i], shared, settings)
        if not len_a:
            continue
        slices_b, len_b = _passages(fb, by_hash[j], shared, settings)
        length = min(len_a, len_b)
        if length == 0:
            continue
        cov_a, cov_b = min(1.0, len_a / own[i]), min(1.0, len_b / own[j])
        score = float(max(cov_a, cov_b) * min(1.0, length / settings.full_length))
        pairs.append(
            Pair(
                documents[i].path,
                documents[j].path,
                score,
                score >= settings.threshold,
                length,
                (cov_a, cov_b),
                (_raw(fa, slices_a), _raw(fb, slices_b)),
            )
        )
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return Report(documents, pairs, list(errors or []), settings)


def load_documents(
    notebooks: Iterable[str | Path],
    boilerplate: nbformat.NotebookNode,
    archive: bool,
    errors: list[str],
    seen: set[Path],
) -> list[Document]:
    """Documents for the given notebooks/directories; a bad one adds a message to ``errors`` and is skipped."""
    docs = []
    for arg in notebooks:
        try:
            paths = notebook_paths(arg)
        except SimilarityError as exc:
            errors.append(str(exc))
            continue
        for path in paths:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                code = student_code(read_notebook_json(path), boilerplate)
            except SimilarityError as exc:
                errors.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - hostile JSON that passed the shape check
                errors.append(f"{path}: not a notebook the course can read ({type(exc).__name__}: {exc})")
                continue
            docs.append(Document(str(path), code, archive))
    return docs


def similarity_report(
    notebooks: Iterable[str | Path],
    boilerplate_path: str | Path,
    against: Iterable[str | Path] = (),
    settings: Settings = Settings(),
    workers: int | None = None,
) -> Report:
    """Read the notebooks (and the archive), compare them, return the report (bad files listed in ``errors``).
    ``workers``: processes that tokenize (default: the number of cores)."""
    boilerplate = read_boilerplate(boilerplate_path)
    errors: list[str] = []
    seen: set[Path] = set()
    docs = load_documents(notebooks, boilerplate, False, errors, seen)
    docs += load_documents(against, boilerplate, True, errors, seen)
    return compare(docs, boilerplate_code(boilerplate), settings, errors, workers or os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------------ HTML
CONTEXT_LINES = 12  # lines shown around each highlighted passage (the rest becomes "...")


def _highlighted(code: str, slices: np.ndarray, css: str) -> str:
    """The code as escaped HTML, the counted passages wrapped in ``<mark class=css>``."""
    if not slices.shape[1]:
        return html.escape(code)
    text, _ = highlight_overlap(
        code, slices, f'<mark class="{css}">', "</mark>", truncate=CONTEXT_LINES, escape_html=True
    )
    return text


PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Отчёт о схожести решений</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table.pairs td, table.pairs th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; }}
table.pairs {{ border-collapse: collapse; }}
.side {{ display: flex; gap: 1em; }}
.side > div {{ flex: 1; min-width: 0; }}
pre {{ background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }}
mark.a, mark.b {{ background: #ffd27a; }}
.flag {{ color: #b00; font-weight: bold; }}
</style></head><body>
<h1>Отчёт о схожести решений</h1>
<p>Сравнено работ: {n_current} (текущие){archive}. Пар выше порога {threshold:g}: <b>{n_flagged}</b>.
Считается только код студентов (ячейки решений и добавленные ячейки); код задания, вспомогательные функции и тесты
не учитываются. Код сравнивается в нормализованном виде (имена, строки и комментарии не важны). Балл пары: доля
кода работы в общих фрагментах длиной не меньше {min_passage} знаков нормализованного кода, с поправкой на общую
длину (полный вес с {full_length} знаков); фрагменты, которые встречаются больше чем у {limit} работ, не
считаются. Высокий балл — повод посмотреть пару, а не решение.</p>
{errors}
<h2>Пары по убыванию балла</h2>
{table}
<h2>Подозрительные пары</h2>
{flagged}
</body></html>
"""


def render_html(report: Report, top: int = 200) -> str:
    """One page: the pairs table (the ``top`` highest) and every flagged pair side by side, matches marked."""
    s = report.settings
    docs = {d.path: d for d in report.documents}
    n_archive = sum(d.archive for d in report.documents)
    rows = [
        "<table class='pairs'><tr><th>Работа A</th><th>Работа B</th><th>Балл</th><th>Общий код (знаков)</th>"
        "<th>Доля A / B</th><th>Подозрение</th></tr>"
    ]
    for i, p in enumerate(report.pairs[:top]):
        name = f"<a href='#pair-{i}'>{html.escape(p.a)}</a>" if p.flagged else html.escape(p.a)
        rows.append(
            f"<tr><td>{name}</td><td>{html.escape(p.b)}</td><td>{p.score:.2f}</td><td>{p.shared}</td>"
            f"<td>{p.coverage[0]:.0%} / {p.coverage[1]:.0%}</td>"
            f"<td>{'<span class=flag>да</span>' if p.flagged else 'нет'}</td></tr>"
        )
    rows.append("</table>")
    if len(report.pairs) > top:
        rows.append(f"<p>Показаны {top} пар из {len(report.pairs)}.</p>")
    if not report.pairs:
        rows = ["<p>Общих фрагментов нет.</p>"]
    flagged = []
    for i, p in enumerate(report.pairs):
        if not p.flagged:
            continue
        a, b = docs[p.a], docs[p.b]
        flagged.append(
            f"<section id='pair-{i}'><h3>{html.escape(p.a)} — {html.escape(p.b)}: балл {p.score:.2f}</h3>"
            f"<div class='side'><div><h4>{html.escape(p.a)}{' (архив)' if a.archive else ''}</h4>"
            f"<pre>{_highlighted(a.code, p.slices[0], 'a')}</pre></div>"
            f"<div><h4>{html.escape(p.b)}{' (архив)' if b.archive else ''}</h4>"
            f"<pre>{_highlighted(b.code, p.slices[1], 'b')}</pre></div></div></section>"
        )
    errors = ""
    if report.errors:
        errors = (
            "<h2>Пропущенные файлы</h2><ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in report.errors) + "</ul>"
        )
    return PAGE.format(
        n_current=len(report.documents) - n_archive,
        archive=f", из архива: {n_archive}" if n_archive else "",
        threshold=s.threshold,
        n_flagged=sum(p.flagged for p in report.pairs),
        min_passage=s.min_passage,
        full_length=s.full_length,
        limit=int(max(s.common_min, s.common_share * len(report.documents))),
        errors=errors,
        table="\n".join(rows),
        flagged="\n".join(flagged) or "<p>Нет.</p>",
    )
