"""The message catalog (gradebot/messages.py): every state and verdict has its words, the front ends take their
words from it (no Russian text left in their code), and its texts follow the notebook's typography."""

import ast
import io
import re
import tokenize
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gradebot import messages as msg
from gradebot.core.models import STATUSES, VERDICTS

ROOT = Path(__file__).resolve().parents[2]
CYRILLIC = re.compile("[А-Яа-яЁё]")
# Modules whose texts students and instructors read: their words must come from the catalog.
FRONT_ENDS = [
    "gradebot/frontends/web.py",
    "gradebot/frontends/telegram.py",
    "gradebot/frontends/cli.py",
    "gradebot/frontends/common.py",
    "gradebot/frontends/cockpit.py",
    "coursekit/feedback.py",
    *sorted(str(p.relative_to(ROOT)) for d in ("core", "cockpit") for p in (ROOT / "gradebot" / d).glob("*.py")),
]


def _catalog_texts():
    for name in dir(msg):
        value = getattr(msg, name)
        if name.isupper() and isinstance(value, str):
            yield name, value
        elif name.isupper() and isinstance(value, dict):
            yield from ((f"{name}[{k}]", v) for k, v in value.items())


def test_every_status_and_verdict_has_words():
    assert set(msg.STATUS) == set(STATUSES)
    assert set(msg.VERDICT) == set(VERDICTS) == set(msg.VERDICT_EXPLAINED)


@pytest.mark.parametrize("path", FRONT_ENDS)
def test_front_ends_take_their_words_from_the_catalog(path):
    """String literals (not docstrings or comments) with Russian text in a front end would be a second catalog."""
    source = (ROOT / path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    doc_lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) in docstrings:
            doc_lines.update(range(node.lineno, node.end_lineno + 1))
    found = [
        (tok.start[0], tok.string[:60])
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.STRING and CYRILLIC.search(tok.string) and tok.start[0] not in doc_lines
    ]
    assert found == [], f"{path}: Russian text outside gradebot/messages.py: {found}"


def test_catalog_typography():
    """Dashes are em dashes, quotes are «ёлочки», ellipses one character; templates' fields are named."""
    for name, text in _catalog_texts():
        assert " - " not in text, f"{name}: spaced hyphen instead of a dash: {text!r}"
        assert '"' not in text and "..." not in text, f"{name}: {text!r}"
        assert "{}" not in text, f"{name}: positional field"


def test_refusals_say_what_to_do_and_keep_access_denied_uninformative():
    assert msg.refusal("access_denied", "unknown student s9") == msg.ACCESS_DENIED  # id and code look alike
    assert msg.refusal("bad_submission", "not JSON") == (
        "Посылка не принята: файл не удалось принять как ноутбук Jupyter (.ipynb). Причина: not JSON"
    )
    assert msg.refusal("something-new", "x") == "Посылка не принята. Причина: x"
    assert msg.refusal("missing_field", require_code=True) == "Заполните номер студента, код доступа и выберите файл."
    assert msg.refusal("too_large", limit=20 * 1024, actual=50 * 2**20) == (
        "Файл слишком большой (50.0 МБ); предел 20 КБ. Очистите вывод ячеек (Kernel → Restart & Clear Output) и "
        "пришлите снова."
    )
    assert msg.rate_limited(61) == "Слишком много посылок подряд. Следующую можно отправить через 2 мин."
    assert msg.rate_limited(120) == msg.rate_limited(119.5) == msg.rate_limited(61)
    assert msg.rate_limited(None) == "Слишком много посылок подряд. Следующую можно отправить позже."


def test_points_sizes_and_times():
    assert [msg.points(x) for x in (4.0, 4.5, 0.25, 44.75, 0.125)] == ["4", "4.5", "0.25", "44.75", "0.12"]
    assert msg.size(5 * 2**20) == "5.0 МБ" and msg.size(100) == "1 КБ"
    msk = timezone(timedelta(hours=3))
    when = datetime(2026, 12, 20, 20, 59, tzinfo=timezone.utc)
    assert msg.time(when, msk) == "20.12.2026 23:59 (UTC+03:00)" and msg.time(when) == "20.12.2026 20:59 (UTC)"


def test_quota_lines_of_a_late_penalty_course():
    lines = msg.quota_lines(
        {
            "deadline": datetime(2026, 12, 20, 23, 59, tzinfo=timezone(timedelta(hours=3))),
            "deadline_passed": True,
            "late_policy": "penalty",
            "late_penalty": 0.2,
            "limit": 5,
            "left": 0,
            "window_minutes": 60,
            "counting": "best",
            "next_at": datetime(2026, 12, 21, 9, 0, tzinfo=timezone.utc),
        }
    )
    assert lines["deadline"] == "Срок сдачи: 20.12.2026 23:59 (UTC+03:00) — срок прошёл."
    assert lines["late"] == "Посылка после срока принимается со штрафом 20% от итога."
    assert lines["left"] == (
        "Осталось посылок: 0 из 5 (не больше 5 за 60 мин.); следующую можно отправить после "
        "21.12.2026 12:00 (UTC+03:00)."
    )
    assert lines["counting"] == "В зачёт идёт лучшая из проверенных посылок."


def test_hidden_test_tag_is_translated_once():
    assert (
        msg.failure_reason("[hidden test] Softmax: nan; [hidden test] x") == "[скрытый тест] Softmax: nan; "
        "[hidden test] x"
    )
