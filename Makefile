# numnet: two commands do everything on a fresh machine (Python 3.11, Debian):
#   make run    set up, build the course (source notebook from numnet_ref, student release, recorded expected
#               values) and autograde the bundled example submissions, printing the grade table
#   make test   set up and run every test
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Keras is only the test oracle; the jax backend imports fastest. KERAS_HOME keeps it out of ~/.keras.
export KERAS_BACKEND ?= jax
export KERAS_HOME ?= $(CURDIR)/.keras
# The verified offline MNIST copy beside the repo, when there is one (else the loader falls back to Keras' download).
export NUMNET_MNIST_DIR ?= $(abspath $(wildcard $(CURDIR)/../shared/data/mnist))
export PYTHONDONTWRITEBYTECODE := 1
# nbgrader runs the `alembic` command, and the bot runs `nbgrader`/`jupyter`: the venv's bin must be on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run course examples lint test bench screenshots serve telegram clean

setup: $(STAMP)

# The pinned environment, then this project (pyproject.toml) in editable mode: numnet_ref, coursekit and gradebot
# import from any directory and in every process the bot starts, with no path set by hand.
$(STAMP): requirements.txt requirements.lock pyproject.toml scripts/install_system_deps.sh
	bash scripts/install_system_deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

course: setup
	$(PY) -m coursekit.build
	$(PY) -m coursekit.release
	$(PY) -m coursekit.record

examples: course
	$(PY) -m coursekit.examples

run: examples

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check source/numnet/numnet.ipynb

test: lint
	$(PY) -m pytest -q

# The instructor area's screenshots in docs/images/ (docs/instructor.md), made by its browser test.
screenshots: setup
	NUMNET_SCREENSHOTS=$(CURDIR)/docs/images $(PY) -m pytest -q tests/gradebot/test_cockpit_browser.py

bench: course
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_grading.py
	$(PY) benchmarks/bench_notebook.py
	$(PY) benchmarks/bench_gradebot.py

# The grading bot (embedded default: SQLite + local worker processes). The course's settings file
# gradebot.course.toml (the facts the notebook's «Как сдать» tells students) unless GRADEBOT_CONFIG names another;
# secrets and machine settings: GRADEBOT_* (docs/gradebot.md).
BOT_CONFIG = $${GRADEBOT_CONFIG:-$(CURDIR)/gradebot.course.toml}
serve: course
	GRADEBOT_CONFIG=$(BOT_CONFIG) $(PY) -m gradebot serve

telegram: course
	GRADEBOT_CONFIG=$(BOT_CONFIG) $(PY) -m gradebot telegram

clean:
	rm -rf $(VENV) .keras .pytest_cache
