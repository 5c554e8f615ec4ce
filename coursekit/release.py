"""Regenerate (or check) release/numnet with ``nbgrader generate_assignment numnet``.

    python -m coursekit.release            # nbgrader generate_assignment numnet --force in the course root
    python -m coursekit.release --check    # generate in a temporary copy; exit 1 if release/ differs

The comparison is normalised: cell types, sources and nbgrader/lock metadata of the notebook, and the bytes of
every other released file.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile

import nbformat

from coursekit import ASSIGNMENT, NOTEBOOK, REPO_ROOT
from coursekit.build import normalized
from coursekit.grading import copy_course
from gradebot.core.nbgrader_run import run_nbgrader

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def generate(course_root: str) -> str:
    """Run nbgrader generate_assignment in `course_root`; returns the release directory."""
    run = run_nbgrader(course_root, ["generate_assignment", ASSIGNMENT, "--force"])
    if not run.ok:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{run.output[-4000:]}")
    return os.path.join(course_root, "release", ASSIGNMENT)


def differences(expected_dir: str, actual_dir: str) -> list[str]:
    """Human-readable differences between two release directories (empty list: the same)."""
    problems = []
    expected = sorted(os.listdir(expected_dir)) if os.path.isdir(expected_dir) else []
    actual = sorted(os.listdir(actual_dir)) if os.path.isdir(actual_dir) else []
    expected = [f for f in expected if f != "__pycache__"]
    actual = [f for f in actual if f != "__pycache__"]
    if expected != actual:
        problems.append(f"files differ: fresh {expected}, committed {actual}")
    for name in set(expected) & set(actual):
        a, b = os.path.join(expected_dir, name), os.path.join(actual_dir, name)
        if name.endswith(".ipynb"):
            na, nb = normalized(nbformat.read(a, as_version=4)), normalized(nbformat.read(b, as_version=4))
            if na != nb:
                index = next((i for i, (x, y) in enumerate(zip(na, nb)) if x != y), min(len(na), len(nb)))
                problems.append(f"{name} differs (first at cell {index})")
        elif not filecmp.cmp(a, b, shallow=False):
            problems.append(f"{name} differs")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    committed = os.path.join(REPO_ROOT, "release", ASSIGNMENT)
    if not args.check:
        # nbgrader removes the release dir when generate_assignment fails: keep a copy to put back
        backup = tempfile.mkdtemp(prefix="numnet_release_backup_")
        if os.path.isdir(committed):
            shutil.copytree(committed, os.path.join(backup, ASSIGNMENT))
        try:
            generate(REPO_ROOT)
        except RuntimeError as err:
            if not os.path.isdir(committed) and os.path.isdir(os.path.join(backup, ASSIGNMENT)):
                shutil.copytree(os.path.join(backup, ASSIGNMENT), committed)
            hint = ""
            if "there are submissions associated with it" in str(err):
                hint = (
                    f"\nThe course gradebook ({os.path.join(REPO_ROOT, 'gradebook.db')}) holds graded submissions of "
                    "this notebook, so nbgrader will "
                    "not change its cells there. Regenerate with an empty gradebook (move gradebook.db away "
                    "first), or keep the current release."
                )
            print(f"{err}{hint}\nrelease/{ASSIGNMENT} was left as it was.", file=sys.stderr)
            return 1
        finally:
            shutil.rmtree(backup, ignore_errors=True)
        print(f"wrote {os.path.join(committed, NOTEBOOK)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="numnet_release_") as tmp:
        copy_course(tmp)
        problems = differences(generate(tmp), committed)
    if problems:
        listing = "\n  ".join(problems)
        print(f"release/{ASSIGNMENT} is stale (run python -m coursekit.release):\n  {listing}")
        return 1
    print(f"release/{ASSIGNMENT} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
