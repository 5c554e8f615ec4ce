"""Time of the similarity report (gradebot/similarity.py) for a cohort of generated notebooks.

    python benchmarks/bench_similarity.py                 # 300 notebooks, the full report with HTML
    python benchmarks/bench_similarity.py -n 60 --keep    # smaller; keep the generated notebooks

The cohort: every notebook starts from one of the two correct solutions (coursekit.examples' solved reference or
tests/gradebot/similarity_fixtures/independent.ipynb), takes each solution cell from either of them at random,
disguises it (renamed variables, shuffled methods, other comments: tests/.../disguise.py) and adds code of its own
(a random helper per solution cell: statements with random constants and operators, as students' own lines differ
from everyone else's); ``--planted`` of them are disguised copies of another notebook of the cohort. Printed: the
time of each phase and of the whole report (``similarity_report`` + ``render_html``, what ``python -m gradebot
similarity DIR --out report.html`` does), pairs compared and flagged, planted copies found. Target: <= 120 s for
300 notebooks on 2 cores. The machine may be shared: read the figures as this machine's at that time.
"""

from __future__ import annotations

import argparse
import os
import importlib.util
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit.examples import solved_notebook
from gradebot import similarity

ROOT = Path(__file__).resolve().parent.parent


def _fixture(name):
    """A module of the test fixtures (tests/ is not a package to import from a script)."""
    path = ROOT / "tests" / "gradebot" / "similarity_fixtures" / (name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENAMES, disguise = _fixture("disguise").RENAMES, _fixture("disguise").disguise

RELEASE = ROOT / "release" / "numnet" / "numnet.ipynb"
INDEPENDENT = ROOT / "tests" / "gradebot" / "similarity_fixtures" / "independent.ipynb"
OPS = ["+", "-", "*"]


def own_code(rng: random.Random, tag: str) -> str:
    """A helper only this student wrote: a few statements with random constants and operators."""
    lines = [f"def _helper_{tag}(a, b):", f"    t = a {rng.choice(OPS)} {rng.randint(2, 999)}"]
    for _ in range(rng.randint(3, 8)):
        lines.append(f"    t = t {rng.choice(OPS)} b[{rng.randint(0, 63)}] {rng.choice(OPS)} {rng.randint(2, 999)}")
    lines.append(f"    return t {rng.choice(OPS)} {rng.randint(2, 999)}")
    return "\n".join(lines)


def vary_lines(source: str, rng: random.Random, share: float = 0.5) -> str:
    """After ``share`` of the statement lines inside functions, a line of the student's own (no two students
    write a solution line for line alike)."""
    out = []
    for line in source.split("\n"):
        out.append(line)
        body = (
            line.startswith("        ")
            and not line.strip().startswith(("#", "\"\"\"", "'", "@"))
            and not line.rstrip().endswith((",", "(", "[", "\\", ":"))
            and line.count("(") == line.count(")")
        )
        if body and rng.random() < share:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}_chk = {rng.randint(2, 99)} {rng.choice(OPS)} {rng.randint(2, 999)}")
    return "\n".join(out)


def cohort(n: int, planted: int, seed: int = 1) -> tuple[list[nbformat.NotebookNode], list[tuple[int, int]]]:
    rng = random.Random(seed)
    release = nbformat.read(str(RELEASE), as_version=4)
    ids = {c.metadata["nbgrader"]["grade_id"] for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")}
    bases = [solved_notebook(), nbformat.read(str(INDEPENDENT), as_version=4)]
    by_id = [{c.metadata.get("nbgrader", {}).get("grade_id"): c for c in b.cells} for b in bases]
    notebooks = []
    for i in range(n - planted):
        nb = nbformat.read(str(RELEASE), as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in ids:
                cell.source = (
                    vary_lines(by_id[rng.randrange(2)][gid].source, rng) + "\n\n\n" + own_code(rng, f"{i}_{gid}")
                )
        renames = {k: v + rng.choice(["", "_", "2", "_val"]) for k, v in RENAMES.items()}
        notebooks.append(disguise(nb, ids, rng, renames))
    copies = []
    for source in rng.sample(range(len(notebooks)), planted):  # distinct originals: no copy of a copy
        notebooks.append(disguise(notebooks[source], ids, rng))
        copies.append((source, len(notebooks) - 1))
    return notebooks, copies


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=300, help="notebooks in the cohort (default 300)")
    parser.add_argument("--planted", type=int, default=6, help="disguised copies among them (default 6)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="tokenizing processes (default: cores)")
    parser.add_argument("--keep", action="store_true", help="keep the generated notebooks and report")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_similarity_"))
    try:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        notebooks, copies = cohort(args.n, args.planted)
        paths = []
        for i, nb in enumerate(notebooks):
            paths.append(work / "cohort" / f"student{i:03d}.ipynb")
            paths[-1].parent.mkdir(exist_ok=True)
            nbformat.write(nb, str(paths[-1]))
        print(f"generated {len(paths)} notebooks ({args.planted} planted copies) in {time.perf_counter() - t0:.1f} s")

        t1, cpu1 = time.perf_counter(), _cpu()
        boilerplate = similarity.read_boilerplate(RELEASE)
        errors: list[str] = []
        docs = similarity.load_documents([work / "cohort"], boilerplate, False, errors, set())
        t2 = time.perf_counter()
        report = similarity.compare(docs, similarity.boilerplate_code(boilerplate), errors=errors, workers=args.workers)
        t3 = time.perf_counter()
        page = similarity.render_html(report)
        (work / "report.html").write_text(page, encoding="utf-8")
        t4, cpu4 = time.perf_counter(), _cpu()

        flagged = {(Path(p.a).name, Path(p.b).name) for p in report.pairs if p.flagged}
        planted = {tuple(sorted((paths[a].name, paths[b].name))) for a, b in copies}
        found = {tuple(sorted(pair)) for pair in flagged} & planted
        n = len(docs)
        print(f"read + extract student code: {t2 - t1:6.1f} s")
        print(
            f"fingerprint + compare:        {t3 - t2:6.1f} s   ({n * (n - 1) // 2} pairs, "
            f"{len(report.pairs)} share a counted passage)"
        )
        print(f"HTML report:                  {t4 - t3:6.1f} s   ({len(page) / 1e6:.1f} MB)")
        print(
            f"TOTAL report for {n} notebooks: {t4 - t1:.1f} s wall (target <= 120 s), {cpu4 - cpu1:.1f} s CPU "
            f"(this process and its {args.workers} tokenizing workers), load average before: {load:.1f}"
        )
        print(
            f"flagged pairs: {len(flagged)}; planted copies flagged: {len(found)} of {len(planted)}; "
            f"other flagged: {len(flagged) - len(found)}"
        )
        if report.errors:
            print("errors:", *report.errors, sep="\n  ")
    finally:
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
