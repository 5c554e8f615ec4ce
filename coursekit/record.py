"""Record the expected values of every test (visible and hidden) against the reference, at course build time.

    python -m coursekit.record            # write grading/numnet/expected.npz
    python -m coursekit.record --check    # exit 1 if the committed store differs from a fresh recording

Every test cell of the source notebook runs in the grader's RECORD transport (coursekit.trusted.grader): the
classes are numnet_ref's, Keras is importable, and each ``expect(label, compute)`` value is stored. Grading
replays them (no Keras, nothing computed from student code). The reference must pass every test here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import nbformat

from coursekit import EXPECTED_STORE, REPO_ROOT, SOURCE_NOTEBOOK, subjects_of
from coursekit.trusted import grader

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def record_course(source_notebook: str = SOURCE_NOTEBOOK) -> tuple[grader.ExpectedStore, list[grader.TestResult]]:
    folder = os.path.dirname(source_notebook)  # numnet_testing.py and mnist_loader.py are read from there
    course = grader.Course.from_notebook(nbformat.read(source_notebook, as_version=4), folder)
    data = grader._Data.names(course.data, folder) if course.data else {}
    store, results = grader.record(course, data, subjects_of)
    failed = [r for r in results if not r.passed]
    if failed:
        raise SystemExit(
            'the reference fails tests while recording:\n' + '\n'.join(f'  {r.grade_id}: {r.message}' for r in failed)
        )
    return store, results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='compare with the committed store instead')
    args = parser.parse_args(argv)
    path = os.path.join(REPO_ROOT, EXPECTED_STORE)
    start = time.monotonic()
    store, results = record_course()
    n = sum(len(v) for v in store.entries.values())
    if args.check:
        if not os.path.exists(path) or not grader.ExpectedStore.load(path).same_as(store):
            print(f'{EXPECTED_STORE} is stale: run python -m coursekit.record')
            return 1
        print(f'{EXPECTED_STORE} is up to date ({n} values, {len(results)} tests, {time.monotonic() - start:.0f} s)')
        return 0
    store.save(path)
    print(f'wrote {EXPECTED_STORE}: {n} values for {len(results)} tests ({time.monotonic() - start:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
