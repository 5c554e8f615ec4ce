"""What a course's kernel needs is the course's declaration ([kernel] in gradebot.course.toml at its root); the bot
core adds no course facts of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradebot.core import sandbox as sb
from gradebot.core.errors import CourseError
from gradebot.core.kernel_needs import kernel_needs

REPO = Path(__file__).resolve().parents[2]


def _course(tmp_path: Path, text: str) -> Path:
    (tmp_path / "gradebot.course.toml").write_text(text)
    return tmp_path


def test_a_course_without_a_declaration_needs_nothing_and_gets_no_course_variables(make_config, tmp_path):
    config = make_config()
    assert kernel_needs(config.course_path) == kernel_needs(tmp_path)
    assert kernel_needs(tmp_path).env == {} and kernel_needs(tmp_path).data == {}
    spec = sb.make_spec(config, tmp_path / "s", slot=0, needs=kernel_needs(config.course_path))
    assert spec.data == {}
    assert not [k for k in spec.env if k.startswith(("KERAS", "NUMNET", "JAX", "XLA"))], spec.env


def test_data_dirs_come_from_the_machine_else_the_declared_default(tmp_path):
    (tmp_path / "course").mkdir()
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    course = _course(tmp_path / "course", '[kernel]\nenv = { A_B = "1" }\ndata = { MY_DATA = "../data/mnist" }\n')
    needs = kernel_needs(course, environ={})
    assert needs.env == {"A_B": "1"} and needs.data == {"MY_DATA": str((tmp_path / "data" / "mnist").resolve())}
    assert kernel_needs(course, environ={"MY_DATA": str(tmp_path / "elsewhere")}).data == {
        "MY_DATA": str((tmp_path / "elsewhere").resolve())
    }
    spec = sb.make_spec(
        type(
            "C",
            (),
            dict(
                sandbox="bwrap",
                sandbox_uid_base=61000,
                cpu_seconds=1,
                memory_bytes=1,
                max_processes=1,
                max_file_bytes=1,
                kernel_threads=1,
            ),
        )(),
        tmp_path / "s",
        slot=0,
        needs=needs,
    )
    assert spec.env["A_B"] == "1" and spec.env["MY_DATA"] == needs.data["MY_DATA"]
    assert needs.data["MY_DATA"] in spec.ro_binds and spec.data == needs.data


@pytest.mark.parametrize(
    "text, message",
    [
        ('[kernel]\ndata = { MY_DATA = "missing" }\n', "needs the data dir MY_DATA"),
        ('[kernel]\nenv = { PATH = "/evil" }\n', "'PATH' is not a variable a course may set"),
        ('[kernel]\nenv = { lower = "x" }\n', "'lower' is not a variable"),
        ('[kernel]\nenv = { A = 1 }\n', "env must be a table of VARIABLE"),
        ('[kernel]\nmounts = {}\n', "may only have 'env' and 'data'"),
        ('[kernel\n', "cannot read the course declaration"),
    ],
)
def test_a_bad_declaration_is_a_clear_course_error(tmp_path, text, message):
    with pytest.raises(CourseError, match=message.replace("(", r"\(")):
        kernel_needs(_course(tmp_path, text), environ={})


def test_the_numnet_course_declares_keras_and_mnist(tmp_path):
    (tmp_path / "mnist").mkdir()
    needs = kernel_needs(REPO, environ={"NUMNET_MNIST_DIR": str(tmp_path / "mnist")})
    assert needs.env["KERAS_BACKEND"] == "jax" and needs.env["NUMNET_GRADING"] == "1"
    assert needs.data == {"NUMNET_MNIST_DIR": str((tmp_path / "mnist").resolve())}
