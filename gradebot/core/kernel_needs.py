"""What a course's kernel needs, as the course declares it: :func:`kernel_needs`.

The bot core knows no course facts (no Keras, no MNIST). A course that needs environment variables or read-only
data in the sandbox declares them in the ``[kernel]`` table of ``gradebot.course.toml`` at its root::

    [kernel]
    env = { KERAS_BACKEND = "jax" }                   # set in the student's process (and nbgrader's)
    data = { NUMNET_MNIST_DIR = "../data/mnist" }     # read-only dirs: variable -> default host dir

Each ``data`` entry is a directory mounted read-only in the sandbox, whose path the student's process finds in that
variable. The host dir is the machine's own value of the variable when it is set (a machine setting, like the
bot's ``GRADEBOT_*``), else the declared default (relative to the course root); it must exist. The table is read
from the course root whatever ``GRADEBOT_CONFIG`` names (the bot's settings file may be another one); a course
without the file or the table needs nothing.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gradebot.core.errors import CourseError

DECLARATION = "gradebot.course.toml"
TABLE = "kernel"
_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")
# variables the sandbox sets itself (paths, the interpreter's own settings): a course cannot replace them
RESERVED = (
    "PATH",
    "HOME",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "GRADEBOT_SANDBOX_SPEC",
)


@dataclass
class KernelNeeds:
    env: dict[str, str] = field(default_factory=dict)  # variable -> value
    data: dict[str, str] = field(default_factory=dict)  # variable -> existing host dir (absolute), read-only


def _table(course_root: Path) -> dict:
    path = course_root / DECLARATION
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f).get(TABLE, {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read the course declaration {path}: {exc}") from exc
    if not isinstance(table, dict) or set(table) - {"env", "data"}:
        raise CourseError(f"{path}: [{TABLE}] may only have 'env' and 'data' (tables of variable = string)")
    return table


def _strings(path: Path, key: str, value) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CourseError(f"{path}: [{TABLE}] {key} must be a table of VARIABLE = \"string\"")
    for var in value:
        if not _VAR.fullmatch(var) or var in RESERVED:
            raise CourseError(
                f"{path}: [{TABLE}] {key}: {var!r} is not a variable a course may set "
                f"(upper case, not one of {', '.join(RESERVED)})"
            )
    return dict(value)


def kernel_needs(course_root: str | Path, environ: dict[str, str] | None = None) -> KernelNeeds:
    """The ``[kernel]`` declaration of the course at ``course_root``, with each data dir resolved on this machine
    (``environ``, default ``os.environ``, overrides the declared default). Raises CourseError when the declaration
    is malformed or a data dir does not exist."""
    root = Path(course_root).resolve()
    env_of = os.environ if environ is None else environ
    table = _table(root)
    path = root / DECLARATION
    needs = KernelNeeds(env=_strings(path, "env", table.get("env", {})))
    for var, default in _strings(path, "data", table.get("data", {})).items():
        host = env_of.get(var) or str(root / default)
        if not os.path.isdir(host):
            raise CourseError(
                f"the course needs the data dir {var} (read-only in the sandbox), but {host} is not "
                f"a directory: set {var} to it on this machine, or fix the default in {path}"
            )
        needs.data[var] = os.path.realpath(host)
    overlap = set(needs.env) & set(needs.data)
    if overlap:
        raise CourseError(f"{path}: [{TABLE}] {sorted(overlap)} both in env and data")
    return needs
