"""The trusted side of the channel to the sandboxed runner: a session (one sandboxed process that ran the
notebook's cells), proxies for the student's classes and objects, and the grader's known-good objects that the
sandbox sees as stubs.

Every answer from the sandbox is data: JSON and .npy arrays read with ``allow_pickle=False`` and numeric dtypes
only. Anything else becomes a value that fails the test with a clear message when a test uses it. The session
never raises anything but :class:`StudentError`, :class:`SandboxGone` and ``TestFailed``-like errors to the test
code, whatever the sandbox sends.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import select
import signal
import time

import numpy as np

from coursekit.trusted import protocol

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any


PIPE_BYTES = 1 << 20  # the channel's pipes (Linux default 64 KiB; unprivileged processes may ask up to 1 MiB)


class SandboxGone(Exception):
    """The sandboxed process died, broke the protocol or ran out of time; the session must be restarted."""


class ChannelForged(SandboxGone):
    """The sandbox sent a frame that answers no request in flight: a forged frame, or a second answer to a request
    already answered (bytes the student's code wrote on the channel). The session is closed.

    ``source``: the label (:attr:`Session.label`) under which the request the frame names was sent, when the frame
    names one of this session's requests: the test or cell during which the frame was made (a thread may write it
    much later); None when it names none.
    """

    MESSAGE = (
        'ваш код записал в канал связи с проверяющей программой посторонние данные (поддельный или лишний ответ): '
        'ответ не принят, процесс с вашим кодом остановлен'
    )

    def __init__(self, detail: str, source: str | None = None) -> None:
        super().__init__(f'died (forged frame: {detail})')
        self.source = source


class StudentError(Exception):
    """Student code raised an exception (``kind``: its type; ``trace``: the student's frames only)."""

    def __init__(self, kind: str, message: str, trace: str = '') -> None:
        super().__init__(f'{kind}: {message}')
        self.kind, self.message, self.trace = kind, message, trace


class BadValue(object):
    """A value the sandbox could not send as plain data (its description says what it was)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __array__(self, *args, **kwargs):
        raise ValueError(f'получено не число и не массив: {self.what}')

    def __repr__(self):
        return f'<{self.what}>'


class Remote(object):
    """An object living in the sandbox. Attribute reads, writes and method calls are requests."""

    __slots__ = ('_gb_session', '_gb_handle', '_gb_class')

    def __init__(self, session: Session, handle: int, class_name: str) -> None:
        object.__setattr__(self, '_gb_session', session)
        object.__setattr__(self, '_gb_handle', handle)
        object.__setattr__(self, '_gb_class', class_name)

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        session = self._gb_session
        if (self._gb_class, name) in session.methods:  # a method seen before: no round trip to look it up
            return RemoteMethod(session, self._gb_handle, name, self._gb_class)
        try:
            value = session.request({'op': 'get', 'h': self._gb_handle, 'a': name})
        except StudentError as err:
            if err.kind == 'AttributeError':
                raise AttributeError(err.message) from None
            raise
        if isinstance(value, RemoteMethod):
            value.class_name = self._gb_class
            session.methods.add((self._gb_class, name))
        return value

    def __setattr__(self, name, value):
        self._gb_session.request({'op': 'set', 'h': self._gb_handle, 'a': name, 'v': value})

    def __array__(self, *args, **kwargs):
        raise ValueError(f'получен объект класса {self._gb_class}, а не массив NumPy')

    def __iter__(self):
        raise TypeError(f'получен объект класса {self._gb_class}, а нужен список или массив')

    def __len__(self):
        raise TypeError(f'получен объект класса {self._gb_class}, а нужен список или массив')

    def __repr__(self):
        return f'<{self._gb_class} из вашего ноутбука>'


_REMOTE_TYPES = {}


def remote_class(name: str) -> type[Remote]:
    """A Remote subclass named like the student's class, so that messages using ``type(obj).__name__`` name it."""
    if name not in _REMOTE_TYPES:
        if not name.isidentifier():
            name = 'object'
        _REMOTE_TYPES.setdefault(name, type(name, (Remote,), {'__slots__': ()}))
    return _REMOTE_TYPES[name]


class RemoteMethod(object):
    def __init__(self, session: Session, handle: int, name: str, class_name: str) -> None:
        self.session, self.handle, self.name, self.class_name = session, handle, name, class_name
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self.session.request({'op': 'call', 'h': self.handle, 'm': self.name, 'args': list(args), 'kw': kwargs})

    def __repr__(self):
        return f'<метод {self.class_name}.{self.name} из вашего ноутбука>'


class RemoteClass(object):
    """A class of the student's notebook: calling it creates an instance in the sandbox."""

    def __init__(self, session: Session, name: str) -> None:
        self.session, self.__name__ = session, name

    def __call__(self, *args, **kwargs):
        return self.session.request({'op': 'new', 'cls': self.__name__, 'args': list(args), 'kw': kwargs})

    def __repr__(self):
        return f'<класс {self.__name__} из вашего ноутбука>'


def _param_aliases(obj):
    """{attribute name: index in obj.params} for attributes that are the parameter arrays themselves."""
    params = list(getattr(obj, 'params', []) or [])
    aliases = {}
    for name, value in vars(obj).items():
        for i, p in enumerate(params):
            if value is p:
                aliases[name] = i
    return aliases if len(set(aliases.values())) == len(params) else {}


class Session(object):
    """One sandboxed runner. ``launch()`` -> a started ``subprocess.Popen`` with the protocol on its pipes.

    Limits: ``max_bytes`` of arrays per answer; every request has a deadline (``deadline``, set per test by the
    grader) after which the process is killed and :class:`SandboxGone` raised.
    """

    def __init__(
        self,
        launch: Callable[[], subprocess.Popen[bytes]],
        collaborator_types: Iterable[type] = (),
        max_bytes: int = 1 << 30,
        output_keep: int = 4000,
    ) -> None:
        self._launch = launch
        self.collaborator_types = tuple(collaborator_types)
        self.max_bytes = max_bytes
        self.output_keep = output_keep
        self.proc = None
        self.deadline = None
        self.output = []  # (text, total length) printed by student code, per request, since reset
        self.methods = set()  # (class name, attribute) known to be methods
        self.callbacks = 0  # callbacks served (a figure for the grading report and benchmarks)
        self.label = None  # what the requests are sent for (a test's grade id, a cell), named by ChannelForged
        self._labels = {}  # request id -> label when it was sent
        self._twins = {}  # handle -> known-good object seen in the sandbox as a stub
        self._twin_ids = {}
        self._synced = {}  # handle -> copies of the parameter values the stub and its twin last agreed on
        self._buf = bytearray()

    # -------------------------------------------------------------------------------------- process
    def start(self, timeout: float = 60) -> None:
        self.close()
        self.proc = self._launch()
        self._buf = bytearray()
        for pipe in (self.proc.stdin, self.proc.stdout):  # a callback's arrays in one write, not 64 KiB at a time
            try:
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except (OSError, AttributeError):
                pass  # the system's limit (fs.pipe-max-size) is lower: pipes keep their size
        self.deadline = time.monotonic() + timeout
        header, _ = self._recv()
        if not header.get('ready'):
            raise SandboxGone('the runner did not start')

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None

    def exit_status(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    # -------------------------------------------------------------------------------------- framing
    def _remaining(self):
        return self.deadline - time.monotonic() if self.deadline else 3600.0

    def _read(self, n):
        while len(self._buf) < n:
            remaining = self._remaining()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _recv(self):
        try:
            header, raws = protocol.read_frame(self._read, max_bytes=self.max_bytes)
        except TimeoutError:
            self.close()
            raise SandboxGone('timeout')
        except (EOFError, protocol.ProtocolError, ValueError, OSError, RecursionError, MemoryError) as err:
            status = self.exit_status()
            self.close()
            raise SandboxGone(f'died ({status if status is not None else type(err).__name__})')
        if not isinstance(header, dict):
            self.close()
            raise SandboxGone('died (malformed reply)')
        return header, raws

    def _send(self, header, arrays):
        """Write one frame, never blocking past the deadline (a sandbox that stops reading cannot hang us)."""
        try:
            data = memoryview(protocol.pack(header, arrays))
            fd = self.proc.stdin.fileno()
            os.set_blocking(fd, False)
            while data:
                remaining = self._remaining()
                if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                    self.close()
                    raise SandboxGone('timeout')
                try:
                    data = data[os.write(fd, data) :]
                except BlockingIOError:
                    continue
        except (OSError, ValueError) as err:
            self.close()
            raise SandboxGone(f'died ({err})')

    # -------------------------------------------------------------------------------------- values
    def encode(self, value: Any, arrays: list[np.ndarray], originals: dict[int, np.ndarray]) -> Any:
        """A value of the grader -> JSON for the sandbox; arrays go by reference."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.ndarray):
            return value if type(value) in (int, float) else value.item()
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if isinstance(value, np.ndarray):
            arrays.append(np.ascontiguousarray(value))
            originals[len(arrays) - 1] = value
            return {'A': len(arrays) - 1}
        if isinstance(value, Remote):
            return {'R': value._gb_handle}
        if isinstance(value, list):
            return [self.encode(v, arrays, originals) for v in value]
        if isinstance(value, tuple):
            return {'T': [self.encode(v, arrays, originals) for v in value]}
        if isinstance(value, dict):
            return {'D': [[str(k), self.encode(v, arrays, originals)] for k, v in value.items()]}
        if isinstance(value, self.collaborator_types):
            return self._stub_spec(value, arrays, originals)
        raise TypeError(f'cannot send {type(value).__name__!r} to the sandbox')

    def _stub_spec(self, obj, arrays, originals):
        handle = self._twin_ids.get(id(obj))
        params = list(getattr(obj, 'params', []) or [])
        if handle is None:  # the sandbox makes the stub from this first spec (later ones name the same stub)
            handle = len(self._twins) + 1
            self._twins[handle] = obj
            self._twin_ids[id(obj)] = handle
            self._synced[handle] = [p.copy() for p in params]
        attrs = {
            k: v
            for k, v in vars(obj).items()
            if isinstance(v, (int, float, str, bool, tuple)) and not k.startswith('_')
        }
        return {
            'S': handle,
            'k': type(obj).__name__,
            'p': self.encode([p.copy() for p in params], arrays, {}),
            'a': _param_aliases(obj),
            'n': self.encode(attrs, arrays, {}),
        }

    def decode(self, value: Any, arrays: Sequence[bytes]) -> Any:
        """JSON + raw arrays from the sandbox -> values the test code may use (never trusted objects)."""
        if isinstance(value, list):
            return [self.decode(v, arrays) for v in value]
        if not isinstance(value, dict):
            if isinstance(value, str) and len(value) > 10000:
                return value[:10000]
            return value
        if 'A' in value:
            try:
                return protocol.load_array(arrays[value['A']])
            except (protocol.ProtocolError, IndexError, TypeError) as err:
                return BadValue(str(err))
        if 'T' in value:
            return tuple(self.decode(v, arrays) for v in value['T'])
        if 'D' in value:
            return {str(k): self.decode(v, arrays) for k, v in value['D']}
        if 'R' in value:
            name = str(value.get('c', 'object'))[:100]
            return remote_class(name)(self, value['R'], name)
        if 'S' in value:
            twin = self._twins.get(value['S'])
            if twin is None:
                return BadValue('неизвестный объект')
            self._sync_twin(value['S'], self.decode(value.get('p', []), arrays))
            return twin
        if 'M' in value:
            return None
        if 'X' in value:
            return BadValue(str(value['X'])[:300])
        return BadValue('непонятное значение')

    def _sync_twin(self, handle, params=None):
        """Give a known-good object the parameter values its stub has in the sandbox: ``params`` sent by the
        stub, or (None: the stub says they did not change) the values the two last agreed on."""
        twin = self._twins[handle]
        current = list(getattr(twin, 'params', []) or [])
        if params is None:
            params = self._synced[handle]
        if not isinstance(params, list) or len(params) != len(current):
            raise ValueError(
                f"слой получил {len(params) if isinstance(params, list) else 'не список'} параметров "
                f'вместо {len(current)}'
            )
        for p, new in zip(current, params):
            if not isinstance(new, np.ndarray) or new.shape != p.shape:
                raise ValueError(f"параметр формы {p.shape} заменён на {getattr(new, 'shape', type(new))}")
            np.copyto(p, new, casting='unsafe')
        self._synced[handle] = [p.copy() for p in current]

    # -------------------------------------------------------------------------------------- requests
    def request(self, header: Mapping[str, Any]) -> Any:
        """Send a request (values in 'args', 'kw', 'v' are encoded here), serve callbacks, return the value.
        Raises only StudentError (the student's code raised) or SandboxGone (anything else went wrong there)."""
        if not self.alive():
            raise SandboxGone('not running')
        arrays, originals = [], {}
        header = dict(header)
        for key in ('args', 'kw', 'v'):
            if key in header:
                header[key] = self.encode(header[key], arrays, originals)
        # The sandbox's own alarm fires a little before our deadline: a plain infinite loop then comes back as the
        # student's TimeoutError and the session lives on (code that ignores the alarm is killed at the deadline).
        remaining = self._remaining() if self.deadline else 60.0
        header['timeout'] = max(0.05, remaining - min(0.5, 0.1 * remaining))
        # A fresh unguessable id: every frame of this request's exchange must carry it, so that no frame written
        # before the request (by a thread, or a second answer to an earlier request) is ever taken for its answer.
        header['id'] = request_id = secrets.token_hex(8)
        self._labels[request_id] = self.label
        self._send(header, arrays)
        while True:
            reply, raws = self._recv()
            if reply.get('id') != request_id:
                self.close()
                named = reply.get('id')
                source = self._labels.get(named) if isinstance(named, str) else None
                raise ChannelForged('a frame that answers no request in flight', source)
            if 'cb' in reply:
                self._callback(reply, raws, request_id)
                continue
            break
        try:
            return self._finish(header, reply, raws, originals)
        except (StudentError, SandboxGone):
            raise
        except Exception as err:  # noqa: BLE001 - any malformed reply ends the session
            self.close()
            raise SandboxGone(f'died (malformed reply: {type(err).__name__})')

    def _finish(self, header, reply, raws, originals):
        text = reply.get('out', '')
        text = text if isinstance(text, str) else ''
        total = reply.get('n_out', len(text))
        if text or total:
            self.output.append((text[: self.output_keep], total if isinstance(total, int) else len(text)))
        if 'e' in reply:
            err = reply['e'] if isinstance(reply['e'], dict) else {}
            raise StudentError(
                str(err.get('type', 'Error'))[:100], str(err.get('msg', ''))[:2000], str(err.get('tb', ''))[:4000]
            )
        back = reply.get('back') or []
        if not isinstance(back, list):
            raise ValueError('bad write-back list')
        for index, value in back:
            new = self.decode(value, raws)
            target = originals.get(index) if isinstance(index, int) else None
            if (
                target is not None
                and isinstance(new, np.ndarray)
                and new.shape == target.shape
                and target.flags.writeable
            ):
                np.copyto(target, new, casting='unsafe')
        result = reply.get('r')
        if isinstance(result, dict) and 'M' in result:
            return RemoteMethod(self, header['h'], str(result['M'])[:100], '')
        return self.decode(result, raws)

    CALLBACK_METHODS = protocol.LAYER_METHODS

    MAX_CALLBACK_BYTES = 64 << 20  # arrays a stub may send with one call
    MAX_JACOBIAN_ELEMENTS = 30_000_000  # a Jacobian the grader agrees to build for a stub
    JACOBIAN_METHODS = ('grad_x', 'grad_param', 'grad_W', 'grad_b')

    def _jacobian_size(self, twin, method, args):
        if len(args) > 1:  # a loss: grad_x(p, y) is shaped like p
            return np.size(args[0])
        x = np.asarray(args[0])
        batch = max(1, len(x)) if x.ndim else 1
        per = x.size // batch
        out = np.asarray(twin.forward(x[:1])).size if x.ndim and len(x) else 0
        params = sum(np.size(p) for p in getattr(twin, 'params', []) or [])
        return batch * out * (per if method == 'grad_x' else max(params, 1))

    def _callback(self, header, raws, request_id):
        """A stub in the sandbox asks its known-good object to compute something. The answer is computed here
        on bounded inputs, within the test's deadline; anything wrong becomes an error inside the sandbox."""
        if self._remaining() <= 0:
            self.close()
            raise SandboxGone('timeout')
        self.callbacks += 1
        out_arrays = []
        try:
            handle = header.get('cb')
            twin = self._twins.get(handle) if isinstance(handle, int) else None
            method = header.get('m')
            if twin is None or method not in self.CALLBACK_METHODS or not hasattr(twin, method):
                raise ValueError('такого метода у эталонного объекта нет')
            if sum(len(r) for r in raws) > self.MAX_CALLBACK_BYTES:
                raise ValueError('слишком большие аргументы')
            params = header.get('p')
            self._sync_twin(handle, None if params is None else self.decode(params, raws))
            args = self.decode(header.get('args', []), raws)
            kwargs = self.decode(header.get('kw', {'D': []}), raws)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ValueError('неверные аргументы')
            if (
                method in self.JACOBIAN_METHODS
                and args
                and self._jacobian_size(twin, method, args) > self.MAX_JACOBIAN_ELEMENTS
            ):
                raise ValueError('якобиан такого размера эталонный слой не строит')
            before = [p.copy() for p in getattr(twin, 'params', []) or []]
            result = getattr(twin, method)(*args, **kwargs)
            after = list(getattr(twin, 'params', []) or [])
            changed = any(not np.array_equal(a, b) for a, b in zip(before, after))
            if changed:
                self._synced[handle] = [p.copy() for p in after]
            reply = {
                'r': self.encode(result, out_arrays, {}),
                'p': self.encode(self._synced[handle], out_arrays, {}) if changed else None,
            }
        except Exception as err:  # noqa: BLE001 - whatever the student sent, answer with an error message
            out_arrays = []
            reply = {'e': f'{type(err).__name__}: {str(err)[:500]}'}
        reply['id'] = request_id
        if self._remaining() <= 0:
            self.close()
            raise SandboxGone('timeout')
        self._send(reply, out_arrays)

    def settle(self) -> None:
        """One empty round trip: proves that nothing else was sent for the requests before it (a second answer to
        one of them is read here, before this one's, and raises :class:`ChannelForged`)."""
        self.request({'op': 'ping'})

    def reset(self) -> None:
        """Forget the objects of the previous test (here and in the sandbox)."""
        self._twins.clear()
        self._twin_ids.clear()
        self._synced.clear()
        self.output = []
        if self.alive():
            self.request({'op': 'reset'})
            self.output = []
