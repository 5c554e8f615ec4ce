"""nbgrader integration of trusted grading (named in nbgrader_config.py; used by ``nbgrader autograde``, the bot
and ``python -m coursekit.examples`` alike).

- :class:`RebuildFromCourse` (sanitize step) never trusts the upload as a notebook: the graded notebook is the
  course's source notebook with hidden tests removed, in which each solution cell gets the *source text* of the
  student's cell with that grade id (or the release stub if there is none) and the cells the student added are
  put back as plain text after the course cell they followed. Metadata, tags, outputs, ids and kernelspec of
  the upload are dropped.
- :class:`TrustedExecute` (replaces nbgrader's Execute) runs the notebook's cells except tests in the sandbox
  (client.py/runner.py) and every test cell in this process (grader.py), and writes each test cell's output: the
  test's own lines, what the student's code printed (labelled, cut short) and, on failure, an error with the
  grader's message (never a grader traceback or test source).
- :class:`SaveTrustedGrades` (replaces SaveAutoGrades) scores a test cell with its points only if the trusted
  grader recorded a pass for it in this run (fail closed: outputs do not matter).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades
from traitlets import Float, Int

from coursekit import EXPECTED_STORE, subjects_of
from coursekit.trusted import grader
from coursekit.trusted.client import ChannelForged, SandboxGone, Session, StudentError
from gradebot.core.course_format import strip_hidden
from gradebot.core.kernel_needs import kernel_needs

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER, PROTOCOL = os.path.join(HERE, 'runner.py'), os.path.join(HERE, 'protocol.py')
# set by the bot: the job's sandbox (limits, uid, scratch), where to write the report, 'none' = no sandbox (opt-out)
from gradebot.core.nbexec import REPORT_ENV  # noqa: E402
from gradebot.core.sandbox import SPEC_ENV, sandbox_mode  # noqa: E402

RESOURCES_KEY = 'trusted_grades'


def course_root(preprocessor: NbGraderPreprocessor) -> str:
    root = preprocessor.config.CourseDirectory.get('root') if 'CourseDirectory' in preprocessor.config else None
    return str(root or os.getcwd())


def source_notebook(root: str, resources: Mapping[str, Any]) -> str:
    info = resources['nbgrader']
    return os.path.join(root, 'source', info['assignment'], info['notebook'] + '.ipynb')


# ------------------------------------------------------------------------------------------------ rebuild
def _grade_id(cell):
    meta = cell.get('metadata', {}).get('nbgrader', {})
    return meta.get('grade_id') if isinstance(meta, dict) else None


def _plain_cell(cell):
    """A fresh cell with only the text of an uploaded one (code or markdown; anything else becomes markdown)."""
    source = cell.get('source', '')
    source = ''.join(source) if isinstance(source, list) else str(source)
    if cell.get('cell_type') == 'code':
        return nbformat.v4.new_code_cell(source)
    return nbformat.v4.new_markdown_cell(source)


def rebuild(
    uploaded: nbformat.NotebookNode,
    source_nb: nbformat.NotebookNode,
    release_stub: Callable[[nbformat.NotebookNode], str],
) -> nbformat.NotebookNode:
    """The graded notebook: the course's cells, the student's solution texts and added cells (see module doc)."""
    solution_ids, known_ids, free_ids = set(), set(), {}
    for cell in source_nb.cells:
        gid = _grade_id(cell)
        if gid:
            known_ids.add(gid)
            if cell.metadata['nbgrader'].get('solution') and cell.cell_type == 'code':
                solution_ids.add(gid)
        elif cell.get('id'):
            free_ids[cell['id']] = cell.cell_type  # a cell the student may edit, matched by its id
    solutions, free_texts, added, anchor = {}, {}, {}, None
    for cell in uploaded.get('cells', []):
        gid = _grade_id(cell)
        if gid in solution_ids and gid not in solutions and cell.get('cell_type') == 'code':
            solutions[gid] = _plain_cell(cell).source
            anchor = gid
        elif gid in known_ids and gid not in solution_ids:
            anchor = gid  # the course's own version is used
        elif (
            not gid
            and cell.get('id') in free_ids
            and cell.get('id') not in free_texts
            and cell.get('cell_type') == free_ids[cell['id']]
        ):
            free_texts[cell['id']] = _plain_cell(cell).source
            anchor = cell['id']
        else:
            added.setdefault(anchor, []).append(_plain_cell(cell))
    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(source_nb.metadata))
    nb.cells.extend(added.get(None, []))
    for cell in source_nb.cells:
        new = copy.deepcopy(cell)
        if new.cell_type == 'code':
            new.outputs, new.execution_count = [], None
        gid = _grade_id(cell)
        if gid in solution_ids:
            new.source = solutions[gid] if gid in solutions else release_stub(cell)
        elif grader.is_test_cell(cell):
            new.source = strip_hidden(cell.source)
        elif not gid and cell.get('id') in free_texts:
            new.source = free_texts[cell['id']]
        nb.cells.append(new)
        nb.cells.extend(added.get(gid or cell.get('id'), []))
    used = set()
    for cell in nb.cells:  # unique cell ids (nbformat requires them)
        if 'id' not in cell or cell['id'] in used:
            cell['id'] = f'c{len(used)}'
        while cell['id'] in used:
            cell['id'] += 'x'
        used.add(cell['id'])
    return nb


class RebuildFromCourse(NbGraderPreprocessor):
    """Sanitize step: replace the uploaded notebook by the one rebuilt from the course (see :func:`rebuild`)."""

    def preprocess(
        self, nb: nbformat.NotebookNode, resources: dict[str, Any]
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        from coursekit.nbgrader_ext import ClearSolutionsWithStubs

        source_nb = nbformat.read(source_notebook(course_root(self), resources), as_version=4)
        clearer = ClearSolutionsWithStubs(config=self.config)

        def release_stub(cell: nbformat.NotebookNode) -> str:
            cell = copy.deepcopy(cell)
            clearer._replace_solution_region(cell, 'python')
            return cell.source

        return rebuild(nb, source_nb, release_stub), resources


# ------------------------------------------------------------------------------------------------ sandbox
def transform_magics(source: str) -> str:
    """IPython syntax (magics, !commands) -> plain Python calling ``get_ipython()`` (the runner's stand-in)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot parse is run as is (and reports its SyntaxError)
        return source


class Launcher(object):
    """Starts runner processes in the sandbox of this grading run (the bot's spec, or one made here)."""

    def __init__(self, files_dir: str, data: Mapping[str, str] | None = None, mode: str | None = None) -> None:
        """``data``: the course's read-only data dirs {variable: host dir}; default: the bot's spec's (the
        course's ``[kernel]`` declaration, see gradebot.core.kernel_needs), else none."""
        self.files_dir = files_dir
        self.mode = mode or sandbox_mode()
        self.slot = None
        self.own_scratch = None
        from gradebot.core import sandbox

        self.sandbox = sandbox
        spec_path = os.environ.get(SPEC_ENV)
        if spec_path:
            self.spec = sandbox.SandboxSpec.load(spec_path)
            self.mode = self.spec.mode
        else:
            self.own_scratch = tempfile.mkdtemp(prefix='numnet-sandbox-')
            os.chmod(self.own_scratch, 0o711)
            uid = None
            if os.geteuid() == 0:
                self.slot = sandbox.acquire_slot(500, 999)
                uid = 61000 + self.slot
            scratch = os.path.join(self.own_scratch, 's')
            self.spec = sandbox.SandboxSpec(
                mode=self.mode,
                scratch=scratch,
                uid=uid,
                cpu_seconds=600,
                memory_bytes=4 << 30,
                max_processes=64,
                env={},
            )
        data = dict(self.spec.data if data is None else data)
        env = {
            'HOME': f'{self.spec.scratch}/home',
            'TMPDIR': f'{self.spec.scratch}/tmp',
            'MPLBACKEND': 'Agg',
            'MPLCONFIGDIR': f'{self.spec.scratch}/mpl',
            'NUMNET_GRADING': '1',
            'LANG': 'C.UTF-8',
            'OMP_NUM_THREADS': '1',
            'OPENBLAS_NUM_THREADS': '1',
            'MKL_NUM_THREADS': '1',
        }
        for key in ('KERAS_BACKEND', 'KERAS_HOME', 'JAX_PLATFORMS', 'XLA_FLAGS', 'PATH', 'PYTHONNOUSERSITE', *data):
            self.spec.env.pop(key, None)  # the runner imports neither Keras nor JAX; data paths differ inside
        self.spec.env.update(env)
        # each data dir at /data/<variable, lower case> inside the bwrap sandbox (its host path without one)
        self.data_dirs = {var.lower(): host for var, host in data.items() if os.path.isdir(host)}
        for var, host in data.items():
            if var.lower() in self.data_dirs:
                self.spec.env[var] = f'/data/{var.lower()}' if self.mode == 'bwrap' else host

    def _prepare(self):
        self.sandbox.prepare_scratch(self.spec)
        work = os.path.join(self.spec.scratch, 'work')
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work, mode=0o700)
        for entry in os.listdir(self.files_dir):
            src = os.path.join(self.files_dir, entry)
            if os.path.isfile(src) and not entry.endswith('.ipynb') and not entry.startswith('.'):
                shutil.copy2(src, os.path.join(work, entry))
        self.sandbox.give_to_sandbox(self.spec, work)

    def __call__(self):
        self._prepare()
        if self.mode == 'bwrap':
            settings = {'workdir': '/sandbox/work', 'site': ['/site'], 'protocol': '/.numnet/protocol.py'}
            argv = self.sandbox.python_sandbox_argv(
                self.spec,
                {'/.numnet/runner.py': RUNNER, '/.numnet/protocol.py': PROTOCOL},
                ['/.numnet/runner.py', json.dumps(settings)],
                data=self.data_dirs,
            )
            env = None
        elif self.mode == 'none':
            site = os.path.join(self.spec.scratch, 'site')
            os.makedirs(site, exist_ok=True)
            packages = self.sandbox.site_packages_dir()
            for entry in self.sandbox.STUDENT_SITE:
                if os.path.exists(os.path.join(packages, entry)) and not os.path.exists(os.path.join(site, entry)):
                    os.symlink(os.path.join(packages, entry), os.path.join(site, entry))
            settings = {'workdir': os.path.join(self.spec.scratch, 'work'), 'site': [site], 'protocol': PROTOCOL}
            argv = [sys.executable, '-I', '-S', RUNNER, json.dumps(settings)]
            env = dict(self.spec.env, PATH='/usr/bin:/bin')
        else:
            raise RuntimeError(f'sandbox mode {self.mode!r}: refusing to run student code')
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            bufsize=0,
        )

    def close(self) -> None:
        if self.own_scratch:
            shutil.rmtree(self.own_scratch, ignore_errors=True)
        if self.slot is not None:
            self.sandbox.release_slot(self.slot)


class NotebookRun(object):
    """The notebook's non-test cells, run in a fresh runner on every (re)start. A cell that hangs or kills its
    process is skipped on the following starts, and so is one whose code wrote a forged frame on the channel."""

    LABEL = 'cell %d'  # Session.label while a cell runs (ChannelForged.source names it)

    def __init__(
        self, launcher: Launcher, cells: Sequence[tuple[int, str]], cell_timeout: float, start_timeout: float = 60
    ) -> None:
        self.launcher, self.cells = launcher, cells  # [(index, python source)]
        self.cell_timeout, self.start_timeout = cell_timeout, start_timeout
        self.results = {}  # index -> dict(status, out, total, error, trace)
        self.skip = set()
        self.starts = 0

    def session(self) -> Session:
        for _ in range(len(self.cells) + 2):
            self.starts += 1
            session = Session(self.launcher, grader.collaborator_types())
            session.start(self.start_timeout)
            try:
                for index, source in self.cells:
                    if index in self.skip:
                        continue
                    self._run_cell(session, index, source)
                return session
            except SandboxGone:
                session.close()
        raise SandboxGone('died (the notebook cannot be run)')

    def blame(self, label: str) -> None:
        """A forged frame made while a cell ran broke something later (a thread of the cell's): the cell is
        reported as ended by it and skipped on restarts."""
        for index, _ in self.cells:
            if label == self.LABEL % index:
                self.skip.add(index)
                self.results[index] = {'status': 'died', 'out': '', 'error': ChannelForged.MESSAGE}

    def _run_cell(self, session, index, source):
        session.deadline = time.monotonic() + self.cell_timeout
        session.label = self.LABEL % index
        first = index not in self.results
        try:
            try:
                session.request({'op': 'exec', 'src': source, 'name': f'<cell {index}>'})
                result = {'status': 'ok'}
            except StudentError as err:
                result = {'status': 'error', 'error': f'{err.kind}: {err.message}', 'trace': err.trace}
            session.settle()  # a second answer to the cell's request is this cell's doing (ChannelForged)
        except SandboxGone as err:
            session_output, session.output = _joined(session.output)[0], []
            if isinstance(err, ChannelForged) and err.source not in (None, session.label):
                self.blame(err.source)  # an earlier cell's frame (its thread wrote it later): that cell's doing
                raise
            self.skip.add(index)
            self.results[index] = {
                'status': 'timeout' if 'timeout' in str(err) else 'died',
                'out': session_output,
                'error': ChannelForged.MESSAGE if isinstance(err, ChannelForged) else str(err),
            }
            raise
        result['out'], result['total'] = _joined(session.output)
        session.output = []
        if first:
            self.results[index] = result


def _joined(output):
    return ''.join(t for t, _ in output)[: grader.STUDENT_OUTPUT_SHOWN], sum(n for _, n in output)


# ------------------------------------------------------------------------------------------------ outputs
def _stream(text):
    return nbformat.v4.new_output('stream', name='stdout', text=text if text.endswith('\n') else text + '\n')


def test_outputs(result: grader.TestResult) -> list[nbformat.NotebookNode]:
    """The outputs of a graded test cell (nbgrader's stderr rule does not matter: scores come from the record)."""
    outs = []
    if result.output.strip():
        outs.append(_stream(result.output))
    for label, text in result.student_output:
        outs.append(_stream(f'{label}:\n{text}'))
    if result.passed:
        outs.append(_stream(f'Тест пройден (в том числе скрытые проверки): {result.points:g} из {result.points:g}'))
        return outs
    where = '[скрытый тест] ' if result.hidden else ''
    message = where + result.message
    trace = [message] + ([result.trace] if result.trace else [])
    outs.append(
        nbformat.v4.new_output(
            'error',
            ename={'timeout': 'Timeout', 'died': 'Crash'}.get(result.kind, 'TestFailed'),
            evalue=message,
            traceback=trace,
        )
    )
    return outs


def cell_outputs(result: Mapping[str, Any]) -> list[nbformat.NotebookNode]:
    outs = []
    if result.get('out'):
        more = result.get('total', 0) - len(result['out'])
        outs.append(_stream(result['out'] + (f'\n[... ещё {more} символов не показано]' if more > 0 else '')))
    if result.get('status') in ('error', 'timeout', 'died'):
        text = result.get('error', '')
        if result['status'] == 'timeout':
            text = f'ячейка остановлена: превышено время ({text})'
        elif result['status'] == 'died':
            text = f'процесс с вашим кодом завершился в этой ячейке ({text})'
        outs.append(
            nbformat.v4.new_output(
                'error', ename=result['status'], evalue=text, traceback=[result.get('trace') or text]
            )
        )
    return outs


# ------------------------------------------------------------------------------------------------ nbgrader
class TrustedExecute(NbGraderPreprocessor):
    """Runs the notebook (student code in the sandbox) and the tests (here); see the module doc."""

    cell_timeout = Float(60.0, help='seconds a non-test cell of the notebook may run').tag(config=True)
    max_restarts = Int(6, help='restarts of the sandboxed process (after a crash or a hung test)').tag(config=True)

    def preprocess(
        self, nb: nbformat.NotebookNode, resources: dict[str, Any]
    ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        root = course_root(self)
        src_path = source_notebook(root, resources)
        files_dir = os.path.dirname(src_path)
        course = grader.Course.from_notebook(nbformat.read(src_path, as_version=4), files_dir)
        store = grader.ExpectedStore.load(os.path.join(root, EXPECTED_STORE))
        # the data dirs the course declares: the bot's spec has them; run by hand, the declaration is read here
        launcher = Launcher(files_dir, None if os.environ.get(SPEC_ENV) else kernel_needs(root).data)
        # the tests' data loads here while the sandbox starts and runs the notebook (both take about a second)
        loader = ThreadPoolExecutor(1)
        data = loader.submit(grader._Data.names, course.data, files_dir) if course.data else {}
        test_ids = {}
        cells = []
        for index, cell in enumerate(nb.cells):
            if grader.is_test_cell(cell):
                test_ids[_grade_id(cell)] = index
            elif cell.cell_type == 'code' and cell.source.strip():
                cells.append((index, transform_magics(cell.source)))
        run = NotebookRun(launcher, cells, self.cell_timeout)
        started = time.monotonic()
        try:
            results = grader.grade_tests(
                course, run.session, store, data, subjects_of, max_restarts=self.max_restarts, blame=run.blame
            )
        finally:
            launcher.close()
            loader.shutdown(wait=True)
        for index, result in run.results.items():
            nb.cells[index].outputs = cell_outputs(result)
        scores = {}
        for result in results:
            scores[result.grade_id] = result.score
            if result.grade_id in test_ids:
                nb.cells[test_ids[result.grade_id]].outputs = test_outputs(result)
        resources[RESOURCES_KEY] = scores
        report = {
            'seconds': round(time.monotonic() - started, 3),
            'starts': run.starts,
            'tests': [
                {
                    'grade_id': r.grade_id,
                    'points': r.points,
                    'score': r.score,
                    'passed': r.passed,
                    'kind': r.kind,
                    'hidden': r.hidden,
                    'message': r.message,
                    'seconds': round(r.seconds, 3),
                    'callbacks': r.callbacks,
                }
                for r in results
            ],
            'cells': [
                {'index': i, 'status': r['status'], 'error': r.get('error', '')} for i, r in sorted(run.results.items())
            ],
        }
        resources['trusted_report'] = report
        path = os.environ.get(REPORT_ENV)
        if path:
            with open(path, 'w') as f:
                json.dump(report, f, ensure_ascii=False)
        return nb, resources


class SaveTrustedGrades(SaveAutoGrades):
    """SaveAutoGrades that scores test cells from the trusted grader's record only (0 without one)."""

    def _add_score(self, cell, resources):
        grade = self.gradebook.find_grade(
            cell.metadata['nbgrader']['grade_id'], self.notebook_id, self.assignment_id, self.student_id
        )
        if grader.is_test_cell(cell):
            grade.auto_score = float(resources.get(RESOURCES_KEY, {}).get(grade.name, 0.0))
        else:
            from nbgrader import utils

            grade.auto_score, _ = utils.determine_grade(cell, self.log)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()
