"""What the benchmarks share: the tiny nbgrader course (a test fixture, ``tests/tinycourse.py``), and the course
kernel's allocator settings.

The benchmarks run as scripts (``python benchmarks/<name>.py``), so this module is importable as ``fixtures``."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINYCOURSE = ROOT / "tests" / "tinycourse.py"


def load_tinycourse():
    """The ``tests/tinycourse.py`` module, loaded from its file (``tests/`` is no package)."""
    spec = importlib.util.spec_from_file_location("tinycourse", TINYCOURSE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def malloc_env():
    """The allocator settings of the course's kernel (gradebot.course.toml, [kernel] env: MALLOC_*).

    glibc's malloc gives blocks above its (dynamic) mmap threshold back to the OS when they are freed and trims the
    heap's free top; a train step that frees a few arrays of ~1 MB then page-faults them back in the next step
    (model c: ~960 faults per step, up to 3x slower, depending on the process' earlier allocations: see
    bench_allocator.py). With these settings freed memory is kept for reuse."""
    from gradebot.core.kernel_needs import kernel_needs

    return {k: v for k, v in kernel_needs(ROOT).env.items() if k.startswith("MALLOC_")}
