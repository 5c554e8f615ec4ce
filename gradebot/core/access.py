"""Per-student access codes: generating, normalizing, hashing and checking them, and the throttle on wrong guesses.

A code proves that whoever types a student id is that student (web upload, reading results, Telegram
``/register``). The instructor sees a code once, when it is issued (``python -m gradebot roster import`` for new
students, ``python -m gradebot roster reissue-code`` later), and hands it out; the store keeps only its hash.

* Generated codes are 8 random characters (``secrets``) from an alphabet without the look-alikes 0/O/1/l/I,
  shown in two groups: ``k7m2-p9xq`` (31**8, about 2**40 possibilities).
* Typing is forgiving: case, spaces and dashes do not matter (``K7M2 P9XQ`` is the same code); the normalized form
  is what gets hashed.
* Stored form (:func:`hash_code`): ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key base64), from
  :func:`hashlib.scrypt` with a random 16-byte salt per code and n=2**15, r=8, p=1 (32 MiB and roughly 0.1 s per
  hash on one core of a 2020s server). Codes are short, so the hash is slow on purpose: a stolen database costs
  an attacker 0.1 core-second per guess per student. The parameters are part of the stored string, so they can be
  raised later without invalidating stored codes.
* Checking (:func:`verify_code`) recomputes the hash with the stored salt and parameters and compares with
  :func:`hmac.compare_digest`; a student without a code costs the same time as a wrong code.
* A process remembers the codes it verified (:class:`VerifiedCodes`: the last 1024 (student id, stored hash, code)
  triples, the code as a keyed digest), so a client polling with its code pays the slow hash once. The stored
  hash is part of the key: a re-issued code is checked afresh. Wrong codes are never remembered.
* Wrong guesses are throttled (:class:`ThrottleRule`, :func:`lock_seconds`): after ``attempts`` wrong codes for
  one key (a student id, or a client: a web address, a Telegram account) the key is locked for ``first_lock``
  seconds, doubled for every further wrong code, at most ``max_lock``; the count is forgotten after ``window``
  seconds without a wrong code (counted from the end of the lock). The core keeps the counts in the store
  (:meth:`gradebot.core.service.GradingService.authenticate`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: nothing to confuse when copying by hand
CODE_LENGTH = 8
GROUP = 4
# what an instructor may put in the roster's ``code`` column (after normalization)
CODE_RE = re.compile(r"^[a-z0-9]{6,32}$")
_SEPARATORS = re.compile(r"[\s\-_]+")

# scrypt cost: n (CPU/memory, a power of 2), r (block size), p (parallelism); memory = 128 * n * r bytes
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
SCHEME = "scrypt"


def new_code() -> str:
    """A fresh random code, grouped for reading: ``k7m2-p9xq``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalize(code: str | None) -> str:
    """The comparable form of a typed code: lower case, without spaces, dashes and underscores."""
    return _SEPARATORS.sub("", str(code or "")).lower()


def check_format(code: str) -> str:
    """``code`` stripped, if it is acceptable as a roster code (6-32 letters/digits once normalized); else
    ValueError with the reason."""
    code = str(code).strip()
    if not CODE_RE.match(normalize(code)):
        raise ValueError(f"access code {code!r} must have 6-32 letters or digits (spaces and dashes allowed)")
    return code


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(normalized: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(normalized.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r)


def hash_code(code: str) -> str:
    """The stored form of ``code`` (normalized first): ``scrypt$n$r$p$<salt b64>$<key b64>``, a fresh salt each
    call. ValueError for a code that is empty once normalized."""
    normalized = normalize(code)
    if not normalized:
        raise ValueError("an empty access code cannot be stored")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(normalized, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return "$".join((SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no typed code matches, checked instead of a missing one (same cost as a real check)."""
    return hash_code(secrets.token_hex(16))


def _parse(stored: str) -> tuple[bytes, int, int, int, bytes] | None:
    parts = str(stored).split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if n < 2 or n & (n - 1) or not (1 <= r <= 64 and 1 <= p <= 16) or not salt or not key:
        return None
    return salt, n, r, p, key


def is_hash(stored: str | None) -> bool:
    """True if ``stored`` is a code hash made by :func:`hash_code` (not a plaintext code)."""
    return stored is not None and _parse(stored) is not None


def verify_code(stored: str | None, typed: str | None) -> bool:
    """True if ``typed`` is the code whose hash is ``stored`` (constant-time comparison). A missing or malformed
    hash, or an empty typed code, never matches - after the same amount of work as a real check."""
    parsed = _parse(stored) if stored else None
    real = parsed is not None
    salt, n, r, p, key = parsed if real else _parse(_dummy_hash())
    typed_norm = normalize(typed)
    got = _scrypt(typed_norm or "-", salt, n, r, p, len(key))
    return hmac.compare_digest(got, key) and real and bool(typed_norm)


class VerifiedCodes:
    """:func:`verify_code` with a memory of recent successes (LRU, at most ``size`` entries, thread-safe): a code
    that matched ``stored`` for ``student_id`` matches again without the hash. The key holds the stored hash, so a
    re-issued code (a new hash) is verified afresh, and an HMAC of the typed code under a random per-process key,
    not the code. Failures are not remembered: every wrong code costs the full hash."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[tuple[str, str, bytes], None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, student_id: str, stored: str | None, typed: str | None) -> bool:
        typed_norm = normalize(typed)
        entry = None
        if stored and typed_norm:
            digest = hmac.new(self._key, typed_norm.encode("utf-8"), hashlib.sha256).digest()
            entry = (str(student_id), stored, digest)
            with self._lock:
                if entry in self._seen:
                    self._seen.move_to_end(entry)
                    return True
        if not verify_code(stored, typed):
            return False
        if entry is not None:
            with self._lock:
                self._seen[entry] = None
                while len(self._seen) > self.size:
                    self._seen.popitem(last=False)
        return True


# ---------------------------------------------------------------------------------------------- throttling
@dataclass(frozen=True)
class ThrottleRule:
    """After ``attempts`` wrong codes the key is locked for ``first_lock`` s, doubled with every further wrong
    code up to ``max_lock`` s; wrong codes are forgotten after ``window`` s without one (counted from the end of
    the lock). ``attempts == 0`` turns throttling off."""

    attempts: int
    window: float
    first_lock: float
    max_lock: float

    @property
    def enabled(self) -> bool:
        return self.attempts > 0


def lock_seconds(failures: int, rule: ThrottleRule) -> float:
    """How long a key is locked after its ``failures``-th wrong code in a row (0: not locked)."""
    if not rule.enabled or failures < rule.attempts:
        return 0.0
    return float(min(rule.max_lock, rule.first_lock * 2.0 ** min(failures - rule.attempts, 32)))


def student_key(student_id: str) -> str:
    """The throttle key of a typed student id (known or not: an unknown id is throttled alike, so ids cannot be
    probed)."""
    return "student:" + str(student_id)[:100]


def client_key(client: str) -> str:
    """The throttle key of a client (``web:<address>``, ``telegram:<user id>``)."""
    return "client:" + str(client)[:100]
