"""Per-student access codes: generating, normalizing and comparing them.

A code proves that whoever types a student id is that student (web upload, reading results, Telegram
``/register``). The instructor hands each student their code (``python -m gradebot roster codes``).

* Generated codes are 8 random characters (``secrets``) from an alphabet without the look-alikes 0/O/1/l/I,
  shown in two groups: ``k7m2-p9xq`` (31**8, about 2**40 possibilities).
* Typing is forgiving: case, spaces and dashes do not matter (``K7M2 P9XQ`` is the same code).
* Comparison is constant time (:func:`hmac.compare_digest` of SHA-256 digests of the normalized forms).
* Codes are stored as given (the instructor must be able to print them again), not hashed.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"   # no 0/o, 1/l/i: nothing to confuse when copying by hand
CODE_LENGTH = 8
GROUP = 4
# what an instructor may put in the roster's ``code`` column (after normalization)
CODE_RE = re.compile(r"^[a-z0-9]{6,32}$")
_SEPARATORS = re.compile(r"[\s\-_]+")


def new_code() -> str:
    """A fresh random code, grouped for reading: ``k7m2-p9xq``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


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


def codes_match(stored: str | None, typed: str | None) -> bool:
    """True if ``typed`` is the ``stored`` code (normalized, constant time). A missing code never matches."""
    a, b = normalize(stored), normalize(typed)
    # digests of equal length: the comparison time reveals neither the code nor its length
    ok = hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())
    return ok and bool(a)
