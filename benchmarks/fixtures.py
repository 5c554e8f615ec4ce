"""What the benchmarks share with the tests: the tiny nbgrader course (a test fixture, ``tests/tinycourse.py``).

The benchmarks run as scripts (``python benchmarks/<name>.py``), so this module is importable as ``fixtures``."""

import importlib.util
from pathlib import Path

TINYCOURSE = Path(__file__).resolve().parents[1] / "tests" / "tinycourse.py"


def load_tinycourse():
    """The ``tests/tinycourse.py`` module, loaded from its file (``tests/`` is no package)."""
    spec = importlib.util.spec_from_file_location("tinycourse", TINYCOURSE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
