"""Unit and integration tests of trusted grading (coursekit/trusted): the wire format, a real sandboxed session
(values, stubs, callbacks, deadlines, isolation), the rebuild of an upload from the course, fail-closed scoring
and the store of expected values. Fast: one shared sandbox for the harmless requests, fresh ones only where a
test kills its session."""

import copy
import io
import os
import struct
import threading
import time
import types

import nbformat
import numpy as np
import pytest

from coursekit.trusted import grader, protocol
from coursekit.trusted.client import BadValue, ChannelForged, Remote, SandboxGone, Session, StudentError
from coursekit.trusted.execute import RESOURCES_KEY, Launcher, SaveTrustedGrades, rebuild
from gradebot.core.course_format import strip_hidden

SECRET_ENV, SECRET_VALUE = 'GRADEBOT_TELEGRAM_TOKEN', 'secret-xyz-4711'
HOST_SECRET_FILE = '/etc/numnet-test-secret.toml'

# ------------------------------------------------------------------------------------------------ protocol


def _frame_reader(data):
    return io.BytesIO(data).read


def test_protocol_round_trip_nested_header_and_dtypes():
    arrays = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([True, False]),
        np.arange(4, dtype=np.int8),
        np.array(2**40, dtype=np.uint64),
        np.zeros((0, 3)),
        np.asfortranarray(np.eye(3)),
    ]
    header = {
        'op': 'call',
        'args': [{'A': 0}, {'T': [1, 2.5, None, 'тест']}],
        'kw': {'D': [['x', {'A': 1}], ['nested', [[{'A': 2}], {'A': 3}]]]},
        'nan': float('nan'),
    }
    read = _frame_reader(protocol.pack(header, arrays) + protocol.pack({'second': True}))
    got, raws = protocol.read_frame(read)
    assert got['args'][1] == {'T': [1, 2.5, None, 'тест']} and got['kw']['D'][1][0] == 'nested'
    assert np.isnan(got['nan'])
    assert len(raws) == len(arrays)
    for raw, want in zip(raws, arrays):
        back = protocol.load_array(raw)
        assert type(back) is np.ndarray and back.dtype == want.dtype and back.shape == want.shape
        np.testing.assert_array_equal(back, want)
    assert protocol.read_frame(read) == ({'second': True}, [])  # frames are self-delimiting
    with pytest.raises(EOFError):
        protocol.read_frame(read)


@pytest.mark.parametrize(
    'array',
    [
        np.zeros((16, 784)),
        np.arange(5, dtype='>i4'),
        np.array(2.5),
        np.zeros((0, 3), np.float32),
        np.eye(2, dtype=bool),
    ],
    ids=['matrix', 'big-endian', '0-d', 'empty', 'bool'],
)
def test_npy_bytes_are_np_save_bytes_read_without_numpy_header_parser(array, monkeypatch):
    raw = protocol.npy_bytes(array)
    assert raw == _npy(array)  # any .npy reader reads them
    monkeypatch.setattr(np.lib.format, 'read_array_header_1_0', None)  # the fast path never needs it
    back = protocol.load_array(raw)
    assert back.dtype == array.dtype and back.shape == array.shape and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_load_array_reads_fortran_order_and_other_npy_versions():
    want = np.arange(6.0).reshape(2, 3)
    fortran = _npy(np.asfortranarray(want))
    assert protocol._fast_header(fortran) is not None
    np.testing.assert_array_equal(protocol.load_array(fortran), want)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, want, version=(2, 0))  # a header the fast path leaves to numpy's reader
    assert protocol._fast_header(buf.getvalue()) is None
    np.testing.assert_array_equal(protocol.load_array(buf.getvalue()), want)


def _npy(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.mark.parametrize(
    'raw',
    [
        _npy(np.array([1, 'a', None], dtype=object), allow_pickle=True),  # a pickle inside .npy
        _npy(np.zeros(3, dtype=[('a', 'f8'), ('b', 'i4')])),  # structured dtype
        _npy(np.array(['ab', 'c'])),  # strings
        _npy(np.array([1 + 2j])),  # complex
        _npy(np.array(['2020-01-01'], dtype='datetime64[D]')),
        b'\x80\x04\x95garbage pickle',  # a bare pickle
        b'',
    ],
    ids=['object', 'structured', 'unicode', 'complex', 'datetime', 'pickle', 'empty'],
)
def test_load_array_refuses_non_numeric(raw):
    with pytest.raises(protocol.ProtocolError):
        protocol.load_array(raw)


def test_load_array_accepts_only_given_kinds():
    assert protocol.load_array(_npy(np.array([1.5])), kinds='f').dtype == np.float64
    with pytest.raises(protocol.ProtocolError):
        protocol.load_array(_npy(np.array([1])), kinds='f')


def test_read_frame_limits():
    with pytest.raises(protocol.ProtocolError, match='magic'):
        protocol.read_frame(_frame_reader(b'EVIL' + bytes(8)))
    big_header = protocol._HEAD.pack(protocol.MAGIC, 100, 0) + b'{}'
    with pytest.raises(protocol.ProtocolError, match='too large'):
        protocol.read_frame(_frame_reader(big_header), max_header=10)
    many = protocol._HEAD.pack(protocol.MAGIC, 2, 10**6) + b'{}'
    with pytest.raises(protocol.ProtocolError, match='too large'):
        protocol.read_frame(_frame_reader(many))
    # the announced array sizes are checked before anything is read (a lie about 2**60 bytes costs nothing)
    huge = protocol._HEAD.pack(protocol.MAGIC, 2, 1) + b'{}' + protocol._LEN.pack(1 << 60)
    with pytest.raises(protocol.ProtocolError, match='exceed'):
        protocol.read_frame(_frame_reader(huge))
    total = protocol.pack({}, [np.zeros(100), np.zeros(100)])
    with pytest.raises(protocol.ProtocolError, match='exceed'):
        protocol.read_frame(_frame_reader(total), max_bytes=1000)
    bad_json = protocol._HEAD.pack(protocol.MAGIC, 3, 0) + b'{x}'
    with pytest.raises(protocol.ProtocolError, match='header'):
        protocol.read_frame(_frame_reader(bad_json))
    bad_utf8 = protocol._HEAD.pack(protocol.MAGIC, 2, 0) + b'\xff\xfe'
    with pytest.raises(protocol.ProtocolError):
        protocol.read_frame(_frame_reader(bad_utf8))


# ------------------------------------------------------------------------------------------------ sandbox
STUDENT_CELL = r'''
import os
import sys
import time
import numpy as np

R = sys.modules['__main__']          # the runner: student code can reach all of it


def send_raw(header_bytes, raws=()):
    """A raw frame on the grader's channel; a JSON object header gets the id of the request being served (so the
    grader reads its content instead of refusing it for the id)."""
    import struct
    if header_bytes.startswith(b'{') and len(header_bytes) > 2:
        header_bytes = b'{"id": "%s", ' % serving()['id'].encode() + header_bytes[1:]
    data = struct.pack('<4sII', b'NNMF', len(header_bytes), len(raws)) + header_bytes
    for raw in raws:
        data += struct.pack('<Q', len(raw)) + raw
    os.write(R._OUT, data)


class Thing:
    def __init__(self, k, name='thing'):
        self.k = k
        self.name = name

    def add(self, x):
        return np.asarray(x) + self.k

    def pair(self):
        return (self.k, [np.arange(3), {'w': np.float32(1.5)}], None, 'text')

    def matrix(self):
        return np.matrix([[1.0, 2.0]])

    def objects(self):
        return np.array([1, 'a'], dtype=object)

    def generator(self):
        return (i for i in range(3))

    def strings(self):
        return np.array(['a', 'b'])

    def boom(self):
        return helper_that_fails(self.k)

    def double_in_place(self, x, y):
        x *= 2
        return float(np.sum(y))

    def chatty(self):
        print('hello from the student')
        os.write(1, b'raw bytes to fd 1')
        os.write(2, b'raw bytes to fd 2')
        return 7


def helper_that_fails(k):
    return k / 0


class Tools:
    def train_once(self, layer, x, lr):
        before = layer.forward(x)
        for p in layer.params:
            p -= lr                      # in place, as an SGD step would
        after = layer.forward(x)         # this callback carries the new params to the grader's twin
        return before, after

    def forward_three_times(self, layer, x):
        first = layer.forward(x)
        second = layer.forward(x)        # the stub's parameters did not change: the callback does not carry them
        layer.W -= 1.0                   # changed in place: the next callback carries them
        return first, second, layer.forward(x)

    def bad_handle(self):
        stub = R.Stub(999, 'DenseLayer', [], {}, {})
        try:
            stub.forward(np.zeros((1, 2)))
        except R.GraderError as err:
            return 'GraderError: %s' % err
        return 'no error'

    def bad_method(self, layer, method):
        try:
            R._stub_method(method)(layer, np.zeros((1, 3)))
        except R.GraderError as err:
            return 'GraderError: %s' % err
        return 'no error'

    def remote_as_argument(self, layer):
        try:
            layer.forward(self)          # the grader gets a proxy of a student object: must refuse
        except R.GraderError as err:
            return 'GraderError: %s' % err
        return 'no error'

    def modify_stub_and_array(self, layer, x):
        layer.W[...] = 123.0             # a stub's param changed in place (no callback)
        x += 1.0                          # a plain argument array changed in place
        return None

    def hang_after_callback(self, layer, rows):
        import signal
        import time
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        arrays = []
        x = np.zeros((rows, layer.W.shape[0]))
        R._send({'cb': layer._gb_handle, 'm': 'forward', 'args': R.encode([x], arrays), 'kw': {'D': []},
                 'p': R.encode(list(layer.params), arrays)}, arrays)
        while True:                       # never reads the grader's answer
            time.sleep(1)


class Forger:
    """Writes well-formed frames on the grader's channel (the runner's own pack, its output fd)."""

    def reply_without_id(self, x):
        os.write(R._OUT, R.pack({'r': 999, 'out': 'Test PASSED', 'n_out': 11}))
        return x + 1

    def reply_with_id(self, x):          # the id of the request being served, read from the runner's frames
        os.write(R._OUT, R.pack({'r': 999, 'id': serving()['id']}))
        return x + 1

    def reply_later(self, x, seconds, guess):   # a thread writes a reply after this request is answered
        import threading
        current = serving()['id']
        ids = {'same': current, 'next': hex(int(current, 16) + 1)[2:], 'none': None}[guess]
        data = R.pack({'r': 333, 'id': ids})
        threading.Thread(target=lambda: (time.sleep(seconds), os.write(R._OUT, data)), daemon=True).start()
        return x + 1

    def callback_nobody_made(self, layer, x):
        arrays = []
        header = {'cb': layer._gb_handle, 'm': 'forward', 'args': R.encode([x], arrays), 'kw': {'D': []},
                  'p': R.encode(list(layer.params), arrays), 'id': serving()['id']}
        os.write(R._OUT, R.pack(header, arrays))
        return 7


def serving():
    frame = sys._getframe()
    while frame.f_code.co_name != 'serve':
        frame = frame.f_back
    return frame.f_locals['header']


class Probe:
    def imports(self, names):
        ok = {}
        for name in names:
            try:
                __import__(name)
                ok[name] = True
            except BaseException:
                ok[name] = False
        return ok

    def readable(self, path):
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, 'rb') as f:
                    f.read(1)
            return True
        except OSError:
            return False

    def environment(self):
        texts = ['%s=%s' % kv for kv in os.environ.items()]
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    with open('/proc/%s/environ' % pid, 'rb') as f:
                        texts.append(f.read().decode('utf-8', 'replace'))
                except OSError:
                    pass
        return '\n'.join(texts)

    def identity(self):
        return [os.getuid(), os.getcwd(), sys.executable]
'''


@pytest.fixture(scope='module')
def launcher(tmp_path_factory):
    files = tmp_path_factory.mktemp('files')
    (files / 'tiny_module.py').write_text('VALUE = 41\n')
    (files / 'numnet.ipynb').write_text('{}')  # notebooks are never copied into the sandbox
    old = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = SECRET_VALUE  # a secret of the grader process
    with open(HOST_SECRET_FILE, 'w') as f:
        f.write(f'token = "{SECRET_VALUE}"\n')
    launch = Launcher(files_dir=str(files), data={}, mode='bwrap')
    try:
        yield launch
    finally:
        launch.close()
        os.remove(HOST_SECRET_FILE)
        if old is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = old


def new_session(launcher, cell=STUDENT_CELL, seconds=30):
    session = Session(launcher, grader.collaborator_types())
    session.start(30)
    session.deadline = time.monotonic() + seconds
    session.request({'op': 'exec', 'src': cell, 'name': '<cell 0>'})
    return session


@pytest.fixture(scope='module')
def shared(launcher):
    session = new_session(launcher)
    yield session
    session.close()


@pytest.fixture
def sess(shared):
    """The shared session, with a fresh deadline and no objects of earlier tests."""
    if not shared.alive():
        pytest.fail('the shared session died in an earlier test')
    shared.deadline = time.monotonic() + 30
    shared.reset()
    return shared


@pytest.fixture(scope='module')
def other_launcher(launcher, tmp_path_factory):
    """Sessions of one launcher share its scratch dir (a start wipes the work dir): the sessions that tests
    break get their own."""
    files = tmp_path_factory.mktemp('files2')
    (files / 'tiny_module.py').write_text('VALUE = 42\n')
    launch = Launcher(files_dir=str(files), data={}, mode='bwrap')
    yield launch
    launch.close()


@pytest.fixture
def fresh(other_launcher):
    """A session of its own, for tests that break it."""
    session = new_session(other_launcher)
    yield session
    session.close()


def cls(session, name):
    from coursekit.trusted.client import RemoteClass

    return RemoteClass(session, name)


def test_new_call_get_set_round_trip(sess):
    thing = cls(sess, 'Thing')(2.0, name='first')
    assert isinstance(thing, Remote)
    assert thing.k == 2.0 and thing.name == 'first'
    out = thing.add(np.arange(3))
    assert type(out) is np.ndarray and out.tolist() == [2.0, 3.0, 4.0]
    thing.k = np.array([10, 20, 30])
    out = thing.add(np.ones(3, dtype=np.float32))
    np.testing.assert_array_equal(out, [11, 21, 31])
    assert thing.pair()[0].tolist() == [10, 20, 30]
    k, (arange, d), none, text = thing.pair()
    assert arange.tolist() == [0, 1, 2] and d == {'w': 1.5} and none is None and text == 'text'
    assert isinstance(thing.pair(), tuple)
    other = cls(sess, 'Thing')(thing)  # a proxy goes back as the sandbox's own object
    assert isinstance(other.k, Remote) and other.k.name == 'first'
    with pytest.raises(StudentError, match='NameError'):
        cls(sess, 'NoSuchClass')()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):  # so getattr(obj, name, default) works
        thing.missing
    assert getattr(thing, 'missing', 'default') == 'default' and type(thing).__name__ == 'Thing'


@pytest.mark.parametrize(
    'method, what',
    [('matrix', 'подкласс ndarray'), ('objects', 'dtype=object'), ('strings', 'dtype=<U1'), ('generator', 'generator')],
)
def test_non_plain_values_fail_clearly(sess, method, what):
    value = getattr(cls(sess, 'Thing')(1), method)()
    assert isinstance(value, (BadValue, Remote))
    with pytest.raises(ValueError) as err:
        np.asarray(value, dtype=float)
    assert what in str(err.value) or what in repr(value)
    with pytest.raises((TypeError, ValueError)):
        len(value)
        list(value)


def test_student_exception_has_only_student_frames(sess):
    with pytest.raises(StudentError) as info:
        cls(sess, 'Thing')(3).boom()
    err = info.value
    assert err.kind == 'ZeroDivisionError' and 'division by zero' in err.message
    assert '<cell 0>' in err.trace and 'helper_that_fails' in err.trace and 'boom' in err.trace
    for leak in ('coursekit', 'runner.py', 'protocol.py', '/.numnet', '/work', 'site-packages'):
        assert leak not in err.trace


def test_in_place_argument_changes_are_copied_back(sess):
    x = np.arange(4.0)
    y = np.ones(3)
    assert cls(sess, 'Thing')(0).double_in_place(x, y) == 3.0
    np.testing.assert_array_equal(x, [0, 2, 4, 6])
    np.testing.assert_array_equal(y, [1, 1, 1])
    frozen = np.arange(4.0)
    frozen.setflags(write=False)  # read-only arrays of the grader are never written
    cls(sess, 'Thing')(0).double_in_place(frozen, y)
    np.testing.assert_array_equal(frozen, [0, 1, 2, 3])


def test_output_is_captured_per_request(sess):
    assert cls(sess, 'Thing')(0).chatty() == 7
    text = ''.join(t for t, _ in sess.output)
    assert 'hello from the student' in text
    assert 'raw bytes' not in text  # fds 1 and 2 are /dev/null, not the protocol


def test_stub_of_reference_layer_calls_back_and_syncs_params(sess):
    from numnet_ref import DenseLayer

    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    layer = DenseLayer(3, 2, W_init=W, b_init=b)
    x = rng.normal(size=(4, 3))
    before, after = cls(sess, 'Tools')().train_once(layer, x, 0.5)
    np.testing.assert_allclose(before, x @ W + b)
    np.testing.assert_allclose(layer.W, W - 0.5)  # the twin got the stub's in-place update
    np.testing.assert_allclose(layer.b, b - 0.5)
    np.testing.assert_allclose(after, DenseLayer(3, 2, W_init=W - 0.5, b_init=b - 0.5).forward(x))


def test_stub_sends_its_parameters_only_when_changed(sess, monkeypatch):
    from numnet_ref import DenseLayer

    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    layer = DenseLayer(3, 2, W_init=W, b_init=b)
    x = rng.normal(size=(4, 3))
    sent, real = [], sess._callback

    def spy(header, raws, request_id):
        sent.append(header.get('p') is not None)
        if len(sent) == 2:
            layer.W[...] = 99.0  # the grader's twin changed behind the stub's back: the stub's values still count
        return real(header, raws, request_id)

    monkeypatch.setattr(sess, '_callback', spy)
    first, second, third = cls(sess, 'Tools')().forward_three_times(layer, x)
    assert sent == [False, False, True]
    np.testing.assert_allclose(first, x @ W + b)
    np.testing.assert_allclose(second, x @ W + b)
    np.testing.assert_allclose(third, x @ (W - 1.0) + b)
    np.testing.assert_allclose(layer.W, W - 1.0)


def test_callbacks_refuse_unknown_handles_methods_and_proxies(sess):
    from numnet_ref import DenseLayer

    tools = cls(sess, 'Tools')()
    assert tools.bad_handle().startswith('GraderError')
    layer = DenseLayer(3, 2)
    W = layer.W.copy()
    for method in ('fit', '__init__', '__class__', 'params', '_check', 'evaluate'):
        assert tools.bad_method(layer, method).startswith('GraderError'), method
    assert tools.remote_as_argument(layer).startswith('GraderError')
    np.testing.assert_array_equal(layer.W, W)
    assert sess.alive()


def test_deadline_with_sigalrm_ignored_kills_the_session(fresh):
    fresh.deadline = time.monotonic() + 1.0
    start = time.monotonic()
    with pytest.raises(SandboxGone, match='timeout'):
        fresh.request(
            {
                'op': 'exec',
                'src': 'import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n',
                'name': '<cell 1>',
            }
        )
    assert time.monotonic() - start < 5
    assert not fresh.alive()
    with pytest.raises(SandboxGone):
        fresh.request({'op': 'seed', 'seed': 0})


def test_garbage_on_the_protocol_breaks_only_that_session(other_launcher, fresh):
    fresh.request({'op': 'exec', 'src': 'os.write(1, b"NNMF garbage on fd 1")', 'name': '<cell 1>'})
    assert fresh.alive()  # fd 1 is not the protocol
    with pytest.raises(SandboxGone):
        fresh.request({'op': 'exec', 'src': 'os.write(R._OUT, b"garbage bytes")', 'name': '<cell 2>'})
    assert not fresh.alive()
    other = new_session(other_launcher)
    try:
        assert cls(other, 'Thing')(1).add(1).tolist() == 2
    finally:
        other.close()


# ------------------------------------------------------------------------------------------------ forged frames
# The channel is the sandboxed process' own: what its code writes there is data bound to one request by the request's
# fresh random id. A frame with another id (none, a guessed one, an earlier request's) is never an answer: the session
# ends with ChannelForged. A frame with the current id is just an answer (the code could have returned that value);
# a second one for the same request is caught by the next request or by the round trip closing the test or cell.


def test_forged_reply_without_the_request_id_ends_the_session(fresh):
    with pytest.raises(ChannelForged):
        cls(fresh, 'Forger')().reply_without_id(1)
    assert not fresh.alive()


def test_a_second_answer_is_caught_by_the_next_round_trip(fresh):
    assert cls(fresh, 'Forger')().reply_with_id(1) == 999  # forged with the current id: an answer like a return
    with pytest.raises(ChannelForged):
        fresh.settle()  # the runner's own answer to that request comes first, under the old id
    assert not fresh.alive()


@pytest.mark.parametrize('guess', ['same', 'next', 'none'])
def test_a_frame_written_between_requests_is_not_the_next_answer(fresh, guess):
    forger = cls(fresh, 'Forger')()
    fresh.label = 'first test'
    assert forger.reply_later(1, 0.2, guess) == 2
    fresh.label = 'second test'
    time.sleep(1.0)  # the thread's frame (the last id, a guess of the next one, none) is in the pipe before the next
    with pytest.raises(ChannelForged) as info:
        forger.reply_later(10, 0, guess)
    assert not fresh.alive()
    assert info.value.source == ('first test' if guess == 'same' else None)  # who made it, when the frame says


LATE_WRITER = """
import sys
import threading
import time

R = sys.modules['__main__']


class DenseLayer:
    def later(self, seconds):          # a thread writes a reply with this request's id after it was answered
        data = R.pack({'r': 333, 'id': R._request_id[0]})
        threading.Thread(target=lambda: (time.sleep(seconds), R.os.write(R._OUT, data)), daemon=True).start()
        return 1

    def value(self):
        return 2
"""


def test_a_test_broken_by_an_earlier_tests_frame_runs_again(other_launcher):
    course = grader.Course(
        tests=[
            grader.TestCell('t1', 1.0, 'assert DenseLayer().later(0.3) == 1'),
            grader.TestCell('t2', 1.0, 'import time\ntime.sleep(1.0)\nassert DenseLayer().value() == 2'),
            grader.TestCell('t3', 1.0, 'assert DenseLayer().value() == 2'),
        ],
        helpers='class TestFailed(Exception):\n    pass\n',
        data='',
        module='',
        module_path='numnet_testing.py',
    )
    sessions, blamed = [], []

    def factory():
        sessions.append(new_session(other_launcher, cell=LATE_WRITER))
        return sessions[-1]

    results = grader.grade_tests(
        course, factory, grader.ExpectedStore(), None, lambda gid: {'DenseLayer'}, blame=blamed.append
    )
    assert [(r.grade_id, r.passed) for r in results] == [('t1', True), ('t2', True), ('t3', True)]
    assert blamed == ['t1'] and len(sessions) == 2  # t2 met t1's frame, and ran again in a fresh process


def test_a_callback_the_runner_never_made_ends_the_session(fresh):
    from numnet_ref import DenseLayer

    layer = DenseLayer(3, 2)
    W = layer.W.copy()
    assert cls(fresh, 'Forger')().callback_nobody_made(layer, np.zeros((1, 3))) == 7
    with pytest.raises(ChannelForged):  # the runner read the grader's answer as a request and answered it
        fresh.settle()
    np.testing.assert_array_equal(layer.W, W)


def test_sandbox_imports(sess):
    ok = cls(sess, 'Probe')().imports(
        [
            'numpy',
            'tqdm',
            'tiny_module',
            'keras',
            'scipy',
            'sklearn',
            'jax',
            'jaxlib',
            'tensorflow',
            'torch',
            'nbgrader',
            'coursekit',
            'numnet_ref',
            'gradebot',
        ]
    )
    assert ok.pop('numpy') and ok.pop('tqdm') and ok.pop('tiny_module')
    assert not any(ok.values()), ok


def test_sandbox_files_and_environment(sess):
    probe = cls(sess, 'Probe')()
    assert os.path.exists(HOST_SECRET_FILE)
    assert not probe.readable(HOST_SECRET_FILE)
    here = os.path.dirname(os.path.abspath(__file__))
    for path in ('/work', here, grader.__file__, '/etc/passwd', '/etc/shadow', '/root', '/home'):
        assert not probe.readable(path), path
    assert probe.readable('tiny_module.py')
    assert not probe.readable('numnet.ipynb')
    env = probe.environment()
    assert SECRET_VALUE not in env and SECRET_ENV not in env
    assert 'NUMNET_GRADING=1' in env
    uid, cwd, executable = probe.identity()
    assert uid != 0 and cwd == '/sandbox/work'


# ------------------------------------------------------------------------------------------------ known holes
def _hostile_reply(fresh, code):
    return fresh.request({'op': 'exec', 'src': code, 'name': '<cell 1>'})


HOSTILE_REPLIES = {
    'list_header': "send_raw(b'[1, 2, 3]')",
    'int_header': "send_raw(b'5')",
    'deep_nesting': "send_raw(b'{\"r\": ' + b'[' * 100000 + b']' * 100000 + b'}')",
    'huge_npy_shape': "import io\nb = io.BytesIO()\nnp.lib.format.write_array_header_1_0(b, {'descr': '<f8', "
    "'fortran_order': False, 'shape': (10 ** 13,)})\n"
    "send_raw(b'{\"r\": {\"A\": 0}}', [b.getvalue() + bytes(64)])",
    'back_not_list': "send_raw(b'{\"r\": null, \"back\": 5}')",
    'tuple_not_list': "send_raw(b'{\"r\": {\"T\": 5}}')",
    'dict_pairs_bad': "send_raw(b'{\"r\": {\"D\": [[1, 2, 3]]}}')",
    'unhashable_stub': "send_raw(b'{\"r\": {\"S\": [1]}}')",
}


@pytest.mark.parametrize('case', sorted(HOSTILE_REPLIES))
def test_malformed_reply_only_raises_sandbox_gone(fresh, case):
    if case == 'huge_npy_shape':
        # an .npy header whose shape does not match its bytes is refused before any allocation: the value is
        # a BadValue (the test using it fails with a message), the session goes on
        value = _hostile_reply(fresh, HOSTILE_REPLIES[case])
        assert isinstance(value, BadValue) and 'does not match' in value.what
        return
    with pytest.raises(SandboxGone) as info:
        _hostile_reply(fresh, HOSTILE_REPLIES[case])
    assert not isinstance(info.value, ChannelForged), 'refused for its id, its content was never read'


def test_sandbox_that_stops_reading_cannot_hang_the_grader(fresh):
    from numnet_ref import DenseLayer

    fresh.deadline = time.monotonic() + 1.0
    tools = cls(fresh, 'Tools')()
    layer = DenseLayer(3, 50)
    errors = []

    def run():
        try:
            tools.hang_after_callback(layer, 5000)  # the answer (5000 x 50 floats) overfills the pipe
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(6)
    hung = thread.is_alive()
    if hung:  # unblock the grader's write: kill the sandbox
        os.killpg(fresh.proc.pid, 9)
        thread.join(10)
    assert not hung, 'the grader was still writing 5 s after the deadline'
    assert errors and isinstance(errors[0], SandboxGone)


def test_write_back_with_stub_and_array_in_one_call(sess):
    from numnet_ref import DenseLayer

    layer = DenseLayer(2, 2, W_init=np.zeros((2, 2)), b_init=np.zeros(2))
    x = np.zeros((2, 2))
    cls(sess, 'Tools')().modify_stub_and_array(layer, x)
    assert not np.any(x == 123.0), 'the stub param change was written into x'
    np.testing.assert_array_equal(x, np.ones((2, 2)))


def test_shared_data_arrays_are_read_only():
    data = {'X_train': np.zeros((4, 1, 2, 2), dtype=np.float32), 'Y_train': np.eye(4, dtype=np.float32)}
    source = 'import numpy as np\nX_train = np.zeros((4, 1, 2, 2), "float32")\nY_train = np.eye(4, dtype="float32")\n'
    names = grader._Data.names(source, '')
    try:
        for key in data:
            assert not names[key].flags.writeable, key
            assert not names[key][:2].reshape(2, -1).flags.writeable
    finally:
        grader._Data.cache.pop((source, ''), None)


# ------------------------------------------------------------------------------------------------ rebuild
def _gid(cell):
    return cell.get('metadata', {}).get('nbgrader', {}).get('grade_id')


def test_rebuild_ignores_everything_but_solution_texts(source_nb, release_nb):
    from coursekit.examples import EXAMPLES, build_submission

    upload = build_submission(EXAMPLES[0], release_nb, source_nb)
    course = {_gid(c): c for c in source_nb.cells if _gid(c)}
    tests = [gid for gid, c in course.items() if grader.is_test_cell(c)]
    solutions = [gid for gid, c in course.items() if c.metadata.nbgrader.get('solution') and c.cell_type == 'code']
    assert tests and solutions
    by_id = {_gid(c): c for c in upload.cells if _gid(c)}
    sol_id, test_id = solutions[0], tests[0]
    # tampering: a solution cell claims to be a 100-point test, a test cell is emptied, outputs, kernelspec
    by_id[sol_id].metadata['nbgrader'].update(grade=True, points=100)
    by_id[sol_id].source += '\n# student marker 1'
    by_id[sol_id].outputs = [nbformat.v4.new_output('stream', name='stdout', text='Test PASSED\n')]
    by_id[sol_id].execution_count = 5
    by_id[test_id].source = 'pass'
    by_id[test_id].outputs = [nbformat.v4.new_output('stream', name='stdout', text='Test PASSED\n')]
    fake = nbformat.v4.new_code_cell('print("fake test")  # added cell')
    fake.metadata['nbgrader'] = dict(course[test_id].metadata['nbgrader'], grade_id='fake_test', points=50)
    fake.metadata['tags'] = ['raises-exception']
    upload.cells.insert(upload.cells.index(by_id[sol_id]) + 1, fake)
    dup = nbformat.v4.new_code_cell('print("duplicate of a course test")')
    dup.metadata['nbgrader'] = copy.deepcopy(course[test_id].metadata['nbgrader'])
    upload.cells.append(dup)
    upload.metadata['kernelspec'] = {'name': 'evil', 'display_name': 'evil', 'language': 'python'}
    upload.metadata['nbgrader'] = {'hacked': True}

    nb = rebuild(upload, source_nb, lambda cell: '# STUB\n')
    nbformat.validate(nb)
    assert nb.metadata == source_nb.metadata
    assert nb.metadata.get('kernelspec', {}).get('name') != 'evil'
    rebuilt = {_gid(c): c for c in nb.cells if _gid(c)}
    assert set(rebuilt) == set(course)
    for gid, cell in course.items():
        assert rebuilt[gid].metadata == cell.metadata, gid
        assert rebuilt[gid].cell_type == cell.cell_type
    for gid in tests:
        src = rebuilt[gid].source
        assert src == strip_hidden(course[gid].source)
        assert '### BEGIN HIDDEN TESTS' not in src and 'END HIDDEN' not in src
    assert rebuilt[test_id].source != 'pass'
    assert rebuilt[sol_id].source == by_id[sol_id].source
    assert rebuilt[sol_id].source.endswith('# student marker 1')
    assert not rebuilt[sol_id].metadata.nbgrader.get('grade') or course[sol_id].metadata.nbgrader.get('grade')
    for cell in nb.cells:
        if cell.cell_type == 'code':
            assert cell.outputs == [] and cell.execution_count is None
        assert 'duplicate of a course test' not in cell.source
    added = [c for c in nb.cells if 'fake test' in c.source]
    assert len(added) == 1 and 'nbgrader' not in added[0].metadata and 'tags' not in added[0].metadata
    assert added[0].cell_type == 'code'
    assert nb.cells.index(added[0]) == nb.cells.index(rebuilt[sol_id]) + 1
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    dumped = nbformat.writes(nb)
    assert 'hacked' not in dumped and 'fake_test' not in dumped and 'evil' not in dumped


def test_rebuild_uses_release_stub_for_missing_solutions(source_nb):
    upload = nbformat.v4.new_notebook()
    upload.cells.append(nbformat.v4.new_markdown_cell('just text'))
    nb = rebuild(upload, source_nb, lambda cell: f'# STUB {_gid(cell)}\n')
    for cell in source_nb.cells:
        meta = cell.get('metadata', {}).get('nbgrader', {})
        if meta.get('solution') and cell.cell_type == 'code':
            got = [c for c in nb.cells if _gid(c) == meta['grade_id']][0]
            assert got.source == f"# STUB {meta['grade_id']}\n"
    assert nb.cells[0].source == 'just text' and nb.cells[0].cell_type == 'markdown'


# ------------------------------------------------------------------------------------------------ fail closed
class _Failed(AssertionError):
    pass


def _test(visible, hidden=()):
    test = grader.TestCell('t1', 2.0, visible, list(hidden))
    test.visible_code = compile(visible, '<t1>', 'exec')
    test.hidden_code = [compile(h, '<t1 hidden>', 'exec') for h in hidden]
    return test


def test_test_result_defaults_to_not_passed():
    result = grader.TestResult('t', 5.0)
    assert result.passed is False and result.score == 0.0 and result.kind == 'fail'


def test_run_test_passes_only_when_every_part_ran():
    ns = lambda: {'TestFailed': _Failed, 'np': np}  # noqa: E731
    ok = grader.run_test(_test('x = 1\nprint("Test PASSED")', ['assert x == 1']), ns())
    assert ok.passed and ok.score == 2.0 and ok.kind == 'pass' and 'Test PASSED' in ok.output
    hidden = grader.run_test(_test('print("Test PASSED")', ['y = 1', 'raise RuntimeError("boom")']), ns())
    assert not hidden.passed and hidden.hidden and hidden.score == 0.0 and 'boom' in hidden.message
    failed = grader.run_test(_test('print("Test PASSED")', ['raise TestFailed("wrong")']), ns())
    assert not failed.passed and failed.hidden and failed.message == 'wrong'
    visible = grader.run_test(_test('raise TestFailed("visible")', ['pass']), ns())
    assert not visible.passed and not visible.hidden
    gone = grader.run_test(
        _test('from coursekit.trusted.client import SandboxGone\nraise SandboxGone("timeout")'), ns()
    )
    assert not gone.passed and gone.kind == 'timeout'
    student = grader.run_test(
        _test('from coursekit.trusted.client import StudentError\nraise StudentError("KeyError", "k", "tb")'), ns()
    )
    assert not student.passed and student.kind == 'error' and student.trace == 'tb'
    course = grader.run_test(_test('raise CourseError("x")'), dict(ns(), CourseError=grader.CourseError))
    assert not course.passed and course.kind == 'course'


def test_run_test_hidden_output_is_not_shown():
    result = grader.run_test(
        _test('print("visible line")', ['print("hidden secret input 42")']), {'TestFailed': _Failed}
    )
    assert result.passed and 'visible line' in result.output and 'hidden secret' not in result.output


def _score(resources, cell_meta, source='print("Test PASSED")', outputs=()):
    grade = types.SimpleNamespace(
        name=cell_meta['grade_id'], auto_score=None, manual_score=None, needs_manual_grade=None
    )
    commits = []
    book = types.SimpleNamespace(
        find_grade=lambda *a: grade, db=types.SimpleNamespace(commit=lambda: commits.append(1))
    )
    saver = SaveTrustedGrades()
    saver.gradebook, saver.notebook_id, saver.assignment_id, saver.student_id = book, 'nb', 'a', 's'
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata['nbgrader'] = dict(cell_meta)
    cell.outputs = list(outputs)
    saver._add_score(cell, resources)
    assert commits
    return grade


def test_save_trusted_grades_is_fail_closed():
    meta = {'grade': True, 'solution': False, 'grade_id': 'part1_forward__dense', 'points': 3, 'locked': True}
    passed_output = [nbformat.v4.new_output('stream', name='stdout', text='Test PASSED\n')]
    assert _score({}, meta, outputs=passed_output).auto_score == 0.0
    assert _score({RESOURCES_KEY: {}}, meta, outputs=passed_output).auto_score == 0.0
    assert _score({RESOURCES_KEY: {'other': 3.0}}, meta).auto_score == 0.0
    grade = _score({RESOURCES_KEY: {'part1_forward__dense': 3.0}}, meta)
    assert grade.auto_score == 3.0 and grade.needs_manual_grade is False


# ------------------------------------------------------------------------------------------------ expected store
def test_expected_store_round_trip(tmp_path):
    store = grader.ExpectedStore()
    value = [
        np.arange(6.0).reshape(2, 3),
        (np.float32(1.5), [np.eye(2, dtype=np.int64), 2.5]),
        {'a': np.zeros(0), 'b': (1, 'label')},
        None,
        True,
    ]
    store.add('g1', 'first', value)
    store.add('g1', 'second', 0.25)
    store.add('g2', 'only', (np.ones((1, 2, 3), dtype=np.float32),))
    path = tmp_path / 'sub' / 'expected.npz'
    store.save(str(path))
    back = grader.ExpectedStore.load(str(path))
    assert store.same_as(back) and back.same_as(store)
    got = back.get('g1', 0, 'first')
    assert isinstance(got, list) and isinstance(got[1], tuple) and isinstance(got[2], dict)
    np.testing.assert_array_equal(got[0], value[0])
    assert got[1][1][0].dtype == np.int64 and got[2]['b'] == (1, 'label') and got[3] is None and got[4] is True
    assert back.get('g1', 1, 'second') == 0.25
    assert back.get('g2', 0, 'only')[0].dtype == np.float32
    with np.load(str(path), allow_pickle=False) as data:  # no pickles anywhere in the file
        assert all(data[k].dtype != object for k in data.files)
    with pytest.raises(grader.CourseError):
        back.get('g1', 0, 'wrong label')
    with pytest.raises(grader.CourseError):
        back.get('g1', 2, 'second')
    with pytest.raises(grader.CourseError):
        back.get('nope', 0, 'first')
    other = grader.ExpectedStore.load(str(path))
    other.entries['g1'][1] = ('second', 0.25 + 1e-6)
    assert not back.same_as(other)
    with pytest.raises(grader.CourseError):
        grader.ExpectedStore({'g': [('x', object())]}).save(str(tmp_path / 'bad.npz'))


def test_read_frame_survives_struct_garbage():
    # a frame shorter than its own header: EOFError, which the session turns into SandboxGone
    with pytest.raises(EOFError):
        protocol.read_frame(_frame_reader(struct.pack('<4sI', b'NNMF', 5)))


DATA_PROBE = '''
import os


class DataProbe:
    def info(self):
        where = os.environ.get('COURSE_DATA', '')
        try:
            open(os.path.join(where, 'new.txt'), 'w').write('x')
            wrote = 'yes'
        except OSError as exc:
            wrote = exc.errno
        return where, open(os.path.join(where, 'labels.txt')).read(), wrote
'''


def test_declared_data_dirs_are_mounted_read_only(tmp_path):
    """The course's data dirs ({variable: host dir}, from its [kernel] declaration) appear read-only at
    /data/<variable in lower case>, the variable pointing there."""
    files, data = tmp_path / 'files', tmp_path / 'data'
    files.mkdir()
    data.mkdir()
    (data / 'labels.txt').write_text('0 1 2')
    launch = Launcher(files_dir=str(files), data={'COURSE_DATA': str(data)}, mode='bwrap')
    try:
        session = new_session(launch, cell=DATA_PROBE)
        try:
            where, text, wrote = cls(session, 'DataProbe')().info()
        finally:
            session.close()
    finally:
        launch.close()
    assert (where, text, wrote) == ('/data/course_data', '0 1 2', 30)  # EROFS
    assert not (data / 'new.txt').exists()
