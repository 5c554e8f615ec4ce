"""Fixtures for the gradebot core tests: a tiny nbgrader course (built once per session) and configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tinycourse
from gradebot.config import Config


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory) -> Path:
    return tinycourse.make_tiny_course(tmp_path_factory.mktemp("tinycourse"))


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("builds")


@pytest.fixture
def make_config(tiny_course, build_dir, tmp_path):
    """Config factory for the tiny course; every test gets its own data dir (store) and gradebook copy."""

    def make(**overrides) -> Config:
        course = tmp_path / "course"
        if not course.exists():  # own copy so the main gradebook of one test is not shared with another
            shutil.copytree(tiny_course, course)
        values = dict(
            data_dir=str(tmp_path / "data"),
            course_root=str(course),
            assignment=tinycourse.ASSIGNMENT,
            notebook=tinycourse.NOTEBOOK,
            build_dir=str(build_dir),
            workers=2,
            cell_timeout=8,
            wall_seconds=120,
            cpu_seconds=60,
            memory_bytes=1024**3,
            max_processes=64,
            max_output_bytes=64 * 1024,
            lease_seconds=6,
        )
        values.update(overrides)
        return Config.make(**values)

    return make


@pytest.fixture
def roster_csv() -> str:
    return "student_id,name,group\ns1,Ann Lee,g1\ns2,Bob Stone,g1\ns3,Chen Li,g2\n"
