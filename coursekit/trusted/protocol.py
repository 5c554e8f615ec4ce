"""The wire format between the trusted grader and the sandboxed runner (standard library + NumPy only: this file
is also loaded inside the sandbox).

A message is one frame::

    b'NNMF' | uint32 header length | uint32 array count | header (UTF-8 JSON) | (uint64 length | .npy bytes)*

Values inside the header are JSON, with tagged objects for what JSON cannot say:

    {"A": i}                      the i-th array of the frame (any NumPy array or scalar; never pickled)
    {"T": [...]}                  a tuple
    {"D": [[key, value], ...]}    a dict with string keys
    {"R": handle, "c": "Class"}   an object living in the sandbox (the grader sees a proxy)
    {"S": handle, ...}            a known-good object of the grader, seen in the sandbox as a stub
    {"M": name}                   a bound method (the grader calls it through the proxy)
    {"X": "what"}                 something that is not a plain value (an ndarray subclass, an object array...)

Arrays are read with ``allow_pickle=False``; the reading side decides which dtypes it accepts.

Every request of the grader carries ``"id"``, a fresh random string; every frame of its exchange carries the same id:
the runner's reply, the runner's callbacks (``"cb"``) and the grader's answers to them. The grader takes no frame
with another id (see client.py: a frame that answers no request in flight closes the session). The id does not
authenticate the runner (student code runs in its process and can read it); it binds each frame to one request,
so that nothing written before a request (by a thread, or a second answer to an earlier one) is taken for its answer.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct

import numpy as np

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

MAGIC = b'NNMF'
_HEAD = struct.Struct('<4sII')
_LEN = struct.Struct('<Q')
NUMERIC_KINDS = 'biuf'  # bool, signed, unsigned, float: what the course's arrays may be
# The layer and network methods a stub in the sandbox forwards to its known-good twin in the grader (runner.py's
# Stub), and the only ones the grader answers (client.py): one list for both sides.
LAYER_METHODS = (
    'forward',
    'backward',
    'backward_params',
    'grad_x',
    'grad_param',
    'grad_W',
    'grad_b',
    'update_param',
    'update_W',
    'update_b',
    'calculate_loss',
    'predict',
)
_save = np.save  # bound at import: in the sandbox, before student code could patch np.save
_frombuffer, _ndarray, _dtype = np.frombuffer, np.ndarray, np.dtype
# .npy version 1.0, as np.save writes it for a plain array; written and read here without numpy's header code (which
# formats and parses the header as a Python literal: ~50 us per array, most of a small array's cost)
_NPY_MAGIC = b'\x93NUMPY\x01\x00'
_NPY_HEADER = re.compile(
    r"\{'descr': '([<>|][biuf][0-9]{1,2})', 'fortran_order': (False|True), 'shape': \(([0-9, ]*)\), \} *\n"
)
_DTYPES = {}  # descr -> dtype, for the descrs the fast path has seen


class ProtocolError(Exception):
    """A malformed frame: the other side broke the protocol (or was made to)."""


def _read_exact(fd_read, n):
    chunks, got = [], 0
    while got < n:
        chunk = fd_read(n - got)
        if not chunk:
            raise EOFError('the other side closed the channel')
        chunks.append(chunk)
        got += len(chunk)
    return b''.join(chunks)


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy bytes of an array (as ``np.save`` writes them; never a pickle: object arrays raise ValueError)."""
    dtype = array.dtype
    if type(array) is not _ndarray or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        buf = io.BytesIO()
        _save(buf, array, allow_pickle=False)
        return buf.getvalue()
    head = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': {tuple(array.shape)!r}, }}"
    head += ' ' * (63 - (len(head) + 10) % 64) + '\n'  # magic, length and header: a multiple of 64 bytes
    return b''.join((_NPY_MAGIC, struct.pack('<H', len(head)), head.encode('latin-1'), array.tobytes()))


def pack(header: Any, arrays: Sequence[np.ndarray] = ()) -> bytes:
    """One frame as bytes."""
    head = json.dumps(header, ensure_ascii=False, allow_nan=True).encode('utf-8')
    parts = [_HEAD.pack(MAGIC, len(head), len(arrays)), head]
    for array in arrays:
        data = npy_bytes(array)
        parts += [_LEN.pack(len(data)), data]
    return b''.join(parts)


def read_frame(
    fd_read: Callable[[int], bytes], max_header: int = 8 << 20, max_arrays: int = 100000, max_bytes: int = 1 << 30
) -> tuple[Any, list[bytes]]:
    """Read one frame with ``fd_read(n) -> bytes``; returns (header, [raw .npy bytes]). Limits bound what a
    hostile sender can make the reader allocate."""
    magic, n_head, n_arrays = _HEAD.unpack(_read_exact(fd_read, _HEAD.size))
    if magic != MAGIC:
        raise ProtocolError(f'bad frame magic {magic!r}')
    if n_head > max_header or n_arrays > max_arrays:
        raise ProtocolError(f'frame too large (header {n_head} bytes, {n_arrays} arrays)')
    try:
        header = json.loads(_read_exact(fd_read, n_head).decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ProtocolError(f'bad frame header: {err}')
    raws, total = [], 0
    for _ in range(n_arrays):
        (n,) = _LEN.unpack(_read_exact(fd_read, _LEN.size))
        total += n
        if total > max_bytes:
            raise ProtocolError(f'frame arrays exceed {max_bytes} bytes')
        raws.append(_read_exact(fd_read, n))
    return header, raws


def _fast_header(raw):
    """(shape, fortran, dtype, offset) of the header np.save and npy_bytes write, or None for any other header."""
    if raw[:8] != _NPY_MAGIC or len(raw) < 10:
        return None
    end = 10 + int.from_bytes(raw[8:10], 'little')
    match = _NPY_HEADER.fullmatch(raw[10:end].decode('latin-1'))
    if match is None:
        return None
    descr, fortran, dims = match.groups()
    dtype = _DTYPES.get(descr)
    if dtype is None:
        dtype = _DTYPES[descr] = _dtype(descr)
    shape = tuple(int(d) for d in dims.split(',') if d.strip())
    return shape, fortran == 'True', dtype, end


def load_array(raw: bytes, kinds: str = NUMERIC_KINDS) -> np.ndarray:
    """A plain ndarray from .npy bytes (never pickled). Raises ProtocolError for other dtypes."""
    parsed = _fast_header(raw)
    if parsed is not None:
        shape, fortran, dtype, offset = parsed
    else:
        f = io.BytesIO(raw)
        try:  # the header first: shape and dtype must match the bytes that follow (no huge allocation)
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
        except (ValueError, EOFError, OSError, TypeError) as err:
            raise ProtocolError(f'not an .npy array: {err}')
        offset = f.tell()
    if dtype.kind not in kinds or dtype.fields is not None or dtype.hasobject:
        raise ProtocolError(f'array of dtype {dtype}')
    if math.prod(shape) * dtype.itemsize != len(raw) - offset:
        raise ProtocolError(f'array of shape {shape} does not match its data')
    flat = _frombuffer(raw, dtype=dtype, offset=offset)  # plain numbers: nothing to unpickle
    array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return array.copy(order='K')  # writable, owns its data
