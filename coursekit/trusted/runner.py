"""The sandboxed side of trusted grading: the only process that runs student code.

Started by the grader inside the sandbox as ``python -I -S runner.py SETTINGS_JSON`` with the protocol on its
standard input/output. It runs the notebook's cells (the given code and the student's, never tests) when asked,
then answers requests: create an instance of a class of the notebook, call a method, read or set an attribute.
Everything it sends back is plain data (JSON and .npy arrays, see protocol.py); the grader checks it.

Nothing here is trusted: the student's code runs in this process and may change any of it. That is fine by
design: no expected value, tolerance, test code or verdict ever comes here, and the grader validates every
answer. The checks below only give honest mistakes clear messages.

Known-good objects of the grader (e.g. the layers given to a student's ``Network``) arrive as *stubs*: their
methods send a callback to the grader, which computes the answer with its own object, and their parameters are
local arrays the student's code may update in place (a callback carries them when they changed since the grader's
twin last had them).

Every frame sent while a request is served carries that request's id (protocol.py). The channel's fds are
reachable by student code like everything here: what it writes on them is judged by the grader like any answer.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

SETTINGS = json.loads(sys.argv[1])
sys.path[:] = [SETTINGS['workdir']] + [p for p in sys.path if p] + SETTINGS.get('site', [])
os.chdir(SETTINGS['workdir'])

_protocol = {}
with open(SETTINGS['protocol'], encoding='utf-8') as _f:
    exec(compile(_f.read(), 'protocol.py', 'exec'), _protocol)
pack, read_frame, load_array = _protocol['pack'], _protocol['read_frame'], _protocol['load_array']

import numpy as np  # noqa: E402  (after sys.path is set)

# NumPy functions the runner itself uses, bound before any student code runs (a notebook that patches np.* for
# its own reasons must not break how its answers are sent)
_ndarray, _generic, _asarray, _copyto, _array_equal = np.ndarray, np.generic, np.asarray, np.copyto, np.array_equal

# The protocol uses the process' original stdin/stdout; what student code prints is captured per request.
_IN = os.dup(0)
_OUT = os.dup(1)
_null = os.open(os.devnull, os.O_RDWR)
for _fd in (0, 1, 2):
    os.dup2(_null, _fd)
sys.stdin = open(os.devnull)
OUTPUT_KEEP = int(SETTINGS.get('output_keep', 20000))
STUB_METHODS = _protocol['LAYER_METHODS']
NAMESPACE = {'__name__': '__main__', '__builtins__': builtins}
_objects = {}
_stubs = {}
_request_id = [None]  # the id of the request being served: every frame sent for it carries it (see protocol.py)


def _read(n):
    return os.read(_IN, n)


def _send(header, arrays=()):
    header['id'] = _request_id[0]
    data = pack(header, arrays)
    while data:
        data = data[os.write(_OUT, data) :]


class Capture(io.TextIOBase):
    """sys.stdout/sys.stderr during a request: keeps the first OUTPUT_KEEP characters, counts the rest."""

    def __init__(self) -> None:
        self.parts, self.kept, self.total = [], 0, 0

    def write(self, text: object) -> int:
        text = str(text)
        self.total += len(text)
        if self.kept < OUTPUT_KEEP:
            piece = text[: OUTPUT_KEEP - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return 'utf-8'

    def text(self) -> str:
        return ''.join(self.parts)


# ------------------------------------------------------------------------------------------------ values
def encode(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """A value of student code -> JSON with array references (see protocol.py)."""
    if depth > 32:
        return {'X': 'слишком глубоко вложенные списки'}
    if value is None or type(value) in (bool, int, str):
        return value if type(value) is not str else value[:10000]
    if isinstance(value, float) and type(value) is float:
        return value
    if type(value) is _ndarray:
        if value.dtype.kind not in 'biuf' or value.dtype.fields is not None:
            return {'X': f'массив NumPy с dtype={value.dtype} (нужны числа)'}
        arrays.append(value)
        return {'A': len(arrays) - 1}
    if isinstance(value, _ndarray):
        return {'X': f'подкласс ndarray ({type(value).__name__}), а не обычный массив NumPy'}
    if isinstance(value, _generic):
        return encode(_asarray(value), arrays, depth + 1)
    if isinstance(value, Stub):
        return {'S': value._gb_handle, 'p': encode(list(value.params), arrays, depth + 1)}
    if type(value) in (list, tuple):
        items = [encode(v, arrays, depth + 1) for v in value]
        return items if type(value) is list else {'T': items}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            return {'X': 'словарь с ключами не-строками'}
        return {'D': [[k, encode(v, arrays, depth + 1)] for k, v in value.items()]}
    handle = len(_objects) + 1
    _objects[handle] = value
    return {'R': handle, 'c': type(value).__name__}


def decode(value: Any, arrays: Sequence[np.ndarray]) -> Any:
    """JSON from the grader -> Python values (arrays are writable copies; objects from the table)."""
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if 'A' in value:
        return arrays[value['A']]
    if 'T' in value:
        return tuple(decode(v, arrays) for v in value['T'])
    if 'D' in value:
        return {k: decode(v, arrays) for k, v in value['D']}
    if 'R' in value:
        return _objects[value['R']]
    if 'S' in value:
        stub = _stubs.get(value['S'])
        if stub is None:
            stub = _stubs[value['S']] = make_stub(value, arrays)
        return stub
    raise ValueError(f'unknown value tag {sorted(value)!r}')


def _load(raws):
    return [load_array(raw, 'biufcUSmM') for raw in raws]  # any dtype but objects and records


# ------------------------------------------------------------------------------------------------ stubs
class GraderError(Exception):
    """The grader's known-good object refused a call (its message says why)."""


class Stub(object):
    """A known-good object of the grader (e.g. a layer given to your Network in a test)."""

    def __init__(
        self, handle: int, kind: str, params: list[np.ndarray], aliases: dict[str, int], attrs: dict[str, Any]
    ) -> None:
        self._gb_handle, self._gb_kind, self._gb_aliases = handle, kind, aliases
        self._gb_params = params
        self._gb_synced = [p.copy() for p in params]  # the values the grader's twin has (see _stub_method)
        for name, index in aliases.items():
            self.__dict__[name] = params[index]
        for name, value in attrs.items():
            self.__dict__[name] = value

    @property
    def params(self) -> list[np.ndarray]:
        if self._gb_aliases:
            by_index = {i: self.__dict__[n] for n, i in self._gb_aliases.items()}
            return [by_index[i] for i in range(len(by_index))]
        return self._gb_params

    @params.setter
    def params(self, arrays: Iterable[np.ndarray]) -> None:
        arrays = list(arrays)
        for name, index in self._gb_aliases.items():
            self.__dict__[name] = arrays[index]
        self._gb_params = arrays

    def __repr__(self):
        return f'{self._gb_kind}() (эталонный слой проверяющей программы)'


def _same_values(params, synced):
    return len(params) == len(synced) and all(
        type(a) is _ndarray and a.shape == b.shape and a.dtype == b.dtype and _array_equal(a, b)
        for a, b in zip(params, synced)
    )


def _stub_method(name):
    def method(self: Stub, *args: Any, **kwargs: Any) -> Any:
        arrays = []
        params = list(self.params)
        unchanged = _same_values(params, self._gb_synced)
        header = {
            'cb': self._gb_handle,
            'm': name,
            'args': encode(list(args), arrays),
            'kw': encode(dict(kwargs), arrays),
            # the parameters only when changed since the grader's twin last had them (None: it has them)
            'p': None if unchanged else encode(params, arrays),
        }
        _send(header, arrays)
        reply, raws = read_frame(_read)
        got = _load(raws)
        if reply.get('id') != _request_id[0]:
            raise GraderError('канал связи с проверяющей программой рассинхронизирован (ответ не на этот вызов)')
        if 'e' in reply:
            raise GraderError(reply['e'])
        if reply.get('p') is not None:
            new = decode(reply['p'], got)
            current = self.params
            if len(new) == len(current) and all(np.shape(a) == np.shape(b) for a, b in zip(current, new)):
                for a, b in zip(current, new):
                    _copyto(a, b)
            else:
                self.params = new
        if not unchanged or reply.get('p') is not None:
            self._gb_synced = [p.copy() for p in self.params]
        return decode(reply['r'], got)

    method.__name__ = name
    return method


for _name in STUB_METHODS:
    setattr(Stub, _name, _stub_method(_name))


def make_stub(spec: Mapping[str, Any], arrays: Sequence[np.ndarray]) -> Stub:
    params = decode(spec.get('p', []), arrays)
    cls = type(str(spec.get('k', 'Stub')), (Stub,), {})
    return cls(spec['S'], spec.get('k', 'Stub'), params, spec.get('a', {}), decode(spec.get('n', {}), arrays))


# ------------------------------------------------------------------------------------------------ IPython
class _Events(object):
    def register(self, *args: Any, **kwargs: Any) -> None:
        pass

    unregister = register


class _Shell(object):
    """``get_ipython()`` for cells whose magics the grader translated: harmless magics run their code once,
    the rest are ignored; event hooks are accepted and never called."""

    events = _Events()

    def run_line_magic(self, name: str, line: str, *args: Any, **kwargs: Any) -> None:
        if name in ('time', 'timeit') and line.strip():
            exec(compile(line, '<magic>', 'exec'), NAMESPACE)
        else:
            print(f'[проверка: %{name} пропущена]')

    def run_cell_magic(self, name: str, line: str, cell: str, *args: Any, **kwargs: Any) -> None:
        if name in ('time', 'timeit', 'capture'):
            exec(compile(cell, '<magic>', 'exec'), NAMESPACE)
        else:
            print(f'[проверка: %%{name} пропущена]')

    def system(self, *args: Any, **kwargs: Any) -> None:
        print('[проверка: команды оболочки не выполняются]')

    getoutput = system

    def __getattr__(self, name):
        raise AttributeError(f'при проверке get_ipython().{name} недоступен')


_SHELL = _Shell()
builtins.get_ipython = lambda: _SHELL
builtins.display = lambda *objects, **kwargs: print(*objects)


# ------------------------------------------------------------------------------------------------ requests
def _on_alarm(signum, frame):
    raise TimeoutError('превышено время, отведённое тесту (бесконечный цикл или очень медленный код?)')


def _student_traceback(err):
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith('<cell')]
    lines = traceback.format_list(frames[-8:])
    return ''.join(lines) + ''.join(traceback.format_exception_only(type(err), err))


def handle(header: Mapping[str, Any], arrays: list[np.ndarray]) -> tuple[Any, list[Any]]:
    op = header.get('op')
    if op == 'ping':
        return None, []
    if op == 'exec':
        exec(compile(header['src'], header.get('name', '<cell>'), 'exec'), NAMESPACE)
        return None, []
    if op == 'seed':
        np.random.seed(header['seed'])
        return None, []
    if op == 'reset':
        _objects.clear()
        _stubs.clear()
        return None, []
    if op == 'classes':
        return {name: isinstance(NAMESPACE.get(name), type) for name in header['names']}, []
    args = decode(header.get('args', []), arrays)
    kwargs = decode(header.get('kw', {'D': []}), arrays)
    if op == 'new':
        cls = NAMESPACE.get(header['cls'])
        if not isinstance(cls, type):
            raise NameError(f"в ноутбуке нет класса {header['cls']} (ячейка с ним не выполнилась?)")
        return cls(*args, **kwargs), [args, kwargs]
    obj = _objects[header['h']]
    if op == 'call':
        return getattr(obj, header['m'])(*args, **kwargs), [args, kwargs]
    if op == 'get':
        value = getattr(obj, header['a'])
        if callable(value) and not isinstance(value, (type, _ndarray)):
            return {'__method__': header['a']}, []
        return value, []
    if op == 'set':
        setattr(obj, header['a'], decode(header['v'], arrays))
        return None, []
    raise ValueError(f'unknown request {op!r}')


def _changed_args(received, pristine):
    """Indexes (into the request's arrays) of argument arrays the call changed in place."""
    return [
        i
        for i, (a, b) in enumerate(zip(received, pristine))
        if a.shape != b.shape or not _array_equal(a, b, equal_nan=True)
    ]


def serve() -> None:
    while True:
        try:
            header, raws = read_frame(_read)
        except EOFError:
            return
        arrays = _load(raws)
        _request_id[0] = header.get('id')
        pristine = [a.copy() for a in arrays] if header.get('op') in ('call', 'new') else []
        capture = Capture()
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(header.get('timeout', 60)))
        out_arrays, reply = [], {}
        try:
            result = handle(header, arrays)[0]  # the call's arguments die here (optimizers check that)
            if isinstance(result, dict) and '__method__' in result:
                reply['r'] = {'M': result['__method__']}
            else:
                reply['r'] = encode(result, out_arrays)
            changed = _changed_args(arrays, pristine)
            if changed:
                reply['back'] = [[i, encode(arrays[i], out_arrays)] for i in changed]
        except BaseException as err:  # noqa: BLE001 - student code may raise anything, SystemExit included
            reply = {'e': {'type': type(err).__name__, 'msg': str(err)[:2000], 'tb': _student_traceback(err)}}
            out_arrays = []
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = old
        reply['out'] = capture.text()
        reply['n_out'] = capture.total
        try:
            _send(reply, out_arrays)
        except (ValueError, TypeError) as err:  # e.g. an array np.save refuses: say so instead of dying
            _send(
                {
                    'e': {'type': 'ValueError', 'msg': f'ответ нельзя передать: {err}', 'tb': ''},
                    'out': reply['out'],
                    'n_out': reply['n_out'],
                }
            )


if __name__ == '__main__':
    _send({'ready': True})
    serve()
