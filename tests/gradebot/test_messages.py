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
from gradebot.core import notes
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


# ------------------------------------------------------------------------------------ result notes (core/notes.py)
def _fields(form):
    return set(re.findall(r"\{(\w+)\}", form))


def test_every_note_kind_has_its_words_with_the_same_fields():
    """One Russian text per kind of note the core writes, using only the fields the English form carries."""
    assert set(msg.NOTE) == set(notes.FORMS) and set(msg.REASON) == set(notes.REASONS)
    for kind, form in {**notes.FORMS, **notes.REASONS}.items():
        words = msg.NOTE.get(kind) or msg.REASON[kind]
        assert _fields(words) <= _fields(form), kind


@pytest.mark.parametrize("kind", sorted(notes.FORMS))
def test_a_note_is_read_back_as_written(kind):
    fields = {name: f"v{i}" for i, name in enumerate(sorted(_fields(notes.FORMS[kind])))}
    if "gid" in fields:
        fields["gid"] = "part1_forward__relu"
    assert notes.parse(notes.make(kind, **fields)) == (kind, fields)


def test_notes_read_in_russian():
    assert (
        msg.note("late submission: 20% penalty applied to the total") == "посылка сдана после срока: штраф 20% от итога"
    )
    assert msg.note(notes.make("cell_memory", cell=5, mib=2048)) == "ячейка 5: не хватило памяти (предел 2048 МиБ)"
    assert msg.note(notes.make("not_json", error="Expecting value", line=1)) == (
        "файл не является корректным JSON (строка 1: Expecting value): загрузите .ipynb, сохранённый Jupyter"
    )
    stderr = notes.make("failed", gid="p1__relu", reason=notes.reason("stderr", detail=": DeprecationWarning"))
    assert (
        msg.note(stderr)
        == "p1__relu: не пройден (ячейка писала в stderr, а nbgrader считает это ошибкой: DeprecationWarning)"
    )
    hidden = "p1__softmax: failed ([hidden test] Softmax.forward: nan (2 из 10))"
    assert msg.note(hidden) == "p1__softmax: не пройден ([скрытый тест] Softmax.forward: nan (2 из 10))"
    assert msg.note("an older or the course's own text") == "an older or the course's own text"
    # the front ends list failed tests apart: the other notes, in order, in Russian
    assert msg.result_notes([hidden, notes.make("cell_stopped", cell=7), "x"]) == [
        "ячейка 7 прервана: превышено время выполнения",
        "x",
    ]
    deadline = notes.make("deadline_passed", deadline="2026-12-20T23:59:00+03:00")
    assert msg.refusal("deadline_missed", deadline) == (
        "Срок сдачи истёк, посылки больше не принимаются. Причина: срок сдачи — 20.12.2026 23:59 (UTC+03:00)"
    )
    assert msg.refusal("bad_submission", notes.make("not_notebook")) == (
        "Посылка не принята: файл не удалось принять как ноутбук Jupyter (.ipynb). Причина: файл — JSON, но не "
        "ноутбук Jupyter (нет полей «cells» и «nbformat»)"
    )


def test_the_core_writes_notes_only_through_their_forms():
    """Every note appended to a result's messages in the core is ``notes.make(...)``: a free-form English text
    would reach students untranslated."""
    for path in sorted((ROOT / "gradebot" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"):
                continue
            target = node.func.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name != "messages":
                continue
            arg = node.args[0]
            made = (
                isinstance(arg, ast.Call)
                and isinstance(arg.func, ast.Attribute)
                and arg.func.attr == "make"
                and getattr(arg.func.value, "id", "") == "notes"
            )
            assert made, f"{path.name}:{node.lineno}: a note not written by notes.make"
