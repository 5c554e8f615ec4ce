"""What students and instructors read from the bot, in Russian: the one message catalog of every front end.

The web pages and the API's ``message`` texts, the Telegram answers, the CLI's result table and the feedback page
take their words from here, so one thing has one name everywhere (посылка, проверка, код доступа, номер студента)
and a wording is changed in one place. Logs, exceptions' internal details and code stay English.

- Plain texts are constants; texts with fields are ``str.format`` templates named ``*_T`` (``X_T.format(...)``).
- Texts that need logic (sizes, dates, plurals, a refusal with the core's detail) are the small functions below.
- Typography: «ёлочки» for quotes, an em dash (—) between words, a non-breaking space is not used.

Course facts (task titles, test names) are not here: they come from the course (:mod:`coursekit.course`, read by
:func:`gradebot.core.course.course_facts`); :func:`task_title` and :func:`test_label` fall back to the ids.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Any

from gradebot.core import notes

# ---------------------------------------------------------------------------------------------- states
STATUS = {
    "queued": "в очереди",
    "grading": "проверяется",
    "done": "проверено",
    "failed": "ошибка проверки",
}

# One short phrase per verdict of a graded attempt (gradebot.core.models.VERDICTS).
VERDICT = {
    "ok": "проверено",
    "timeout": "превышено время выполнения",
    "memory": "превышен лимит памяти",
    "output-limit": "слишком большой вывод",
    "sandbox-violation": "нарушение ограничений песочницы",
    "invalid-notebook": "некорректный ноутбук",
    "refused": "работа не оценена: код решения меняет тесты",
    "error": "ошибка при проверке",
}

# The same verdicts explained, for the feedback page's summary.
VERDICT_EXPLAINED = {
    "ok": "ноутбук выполнен, баллы выставлены по тестам",
    "timeout": "превышено время выполнения (ячейка прервана)",
    "memory": "превышен лимит памяти",
    "output-limit": "слишком большой вывод (лишнее отброшено)",
    "sandbox-violation": "код обратился к запрещённому (сеть, файлы вне рабочей папки, процессы)",
    "invalid-notebook": "файл не является ноутбуком Jupyter",
    "refused": "работа не оценена: код решения меняет тесты",
    "error": "ошибка при проверке",
}

HIDDEN_TEST_TAG = "[скрытый тест]"  # replaces the grader's "[hidden test]" in every message students read

# ---------------------------------------------------------------------------------------------- refusals
ACCESS_DENIED = (
    "Неверный номер студента или код доступа. Код доступа у каждого студента свой, его выдаёт преподаватель."
)

# Why a submission (or a request) was not accepted, by the error code of the web API (gradebot.frontends.web).
# Web and Telegram both show these; the core's English detail may follow in parentheses (see :func:`refusal`).
REFUSAL = {
    "access_denied": ACCESS_DENIED,
    "unknown_student": "Такого номера студента нет в списке курса. Проверьте номер или обратитесь к преподавателю.",
    "deadline_missed": "Срок сдачи истёк, посылки больше не принимаются.",
    "bad_submission": "Посылка не принята: файл не удалось принять как ноутбук Jupyter (.ipynb).",
    "not_found": "Посылка не найдена.",
    "rejected": "Посылка не принята.",
    "missing_field": "Заполните номер студента и выберите файл.",
    "missing_field_code": "Заполните номер студента, код доступа и выберите файл.",
}
DETAIL_T = "Причина: {detail}"  # the core's own (English) words after a refusal
TOO_LARGE_T = (
    "Файл слишком большой{size}; предел {limit}. Очистите вывод ячеек (Kernel → Restart & Clear Output) и пришлите "
    "снова."
)
THROTTLED_T = (
    "Слишком много неверных кодов. Попробуйте снова через {minutes} мин. До тех пор вход закрыт даже с верным кодом."
)
RATE_LIMITED_T = "Слишком много посылок подряд. Следующую можно отправить {when}."

# ---------------------------------------------------------------------------------------------- result
RESULT_HEAD_T = "Посылка #{id} проверена."
RESULT_FAILED_T = "Посылка #{id}: проверка не удалась ({reason}). Попробуйте отправить ещё раз."
UNKNOWN_ERROR = "неизвестная ошибка"
VERDICT_LINE_T = "Итог проверки: {verdict}."
TASK_LINE_T = "{title}: {points} из {max}"
TOTAL_LINE_T = "Итого: {points} из {max}"
LATE_LINE = "Посылка сдана после срока."
FAILED_HEAD_T = "Не пройдены тесты ({n}):"
FAILED_MORE_T = "… и ещё {n} (все — в подробном отзыве)"
NOTES_HEAD = "Замечания:"

# The result's notes (gradebot.core.notes.FORMS: the core writes them in English, by kind): what students and
# instructors read for each kind, rendered by :func:`note`. Fields are the form's, as written there.
NOTE = {
    "failed": "{gid}: не пройден ({reason})",
    "late": "посылка сдана после срока: штраф {penalty} от итога",
    "job_time_limit": "проверка остановлена: работа не уложилась в общий предел времени {seconds} с",
    "cell_timeout": "ячейка {cell} выполнялась дольше {seconds} с и была прервана",
    "cell_stopped": "ячейка {cell} прервана: превышено время выполнения",
    "cell_output_limit": "ячейка {cell}: вывод превысил {limit} байт, остальное отброшено",
    "cell_cpu_limit": "ячейка {cell}: превышен предел процессорного времени {seconds} с, ядро остановлено",
    "cell_crashed": "ячейка {cell}: ядро аварийно завершилось (сигнал {signal}; часто это нехватка памяти)",
    "cell_died": "ячейка {cell}: ядро завершилось (код {code}); следующие ячейки не выполнялись",
    "cell_process_died": "ячейка {cell}: процесс, который её выполнял, завершился",
    "cell_memory": "ячейка {cell}: не хватило памяти (предел {mib} МиБ)",
    "cell_network": "ячейка {cell}: доступ к сети запрещён ({error})",
    "cell_read_only": "ячейка {cell}: запись вне рабочей папки запрещена ({error})",
    "cell_denied": "ячейка {cell}: доступ запрещён песочницей ({error})",
    "cell_processes": "ячейка {cell}: достигнут предел числа процессов ({error})",
    "cell_file_size": "ячейка {cell}: достигнут предел размера файла ({error})",
    "cell_outside_file": "ячейка {cell}: доступ к файлу вне песочницы заблокирован ({error})",
    "nbgrader_failed": "nbgrader не смог проверить ноутбук{detail}",
    "gave_up": "проверка прерывалась {times} раз (сбой проверяющего процесса); больше эта посылка не проверяется",
    "not_utf8": "файл не текстовый (не UTF-8): загрузите сам ноутбук .ipynb",
    "not_json": "файл не является корректным JSON (строка {line}: {error}): загрузите .ipynb, сохранённый Jupyter",
    "not_notebook": "файл — JSON, но не ноутбук Jupyter (нет полей «cells» и «nbformat»)",
    "bad_schema": "ноутбук не соответствует формату nbformat: {error}",
    "too_large": "файл занимает {size} МиБ, а предел — {limit} МиБ (очистите вывод ячеек и пришлите снова)",
    "not_ipynb": "{filename} — не файл .ipynb: пришлите сам ноутбук",
    "deadline_passed": "срок сдачи — {deadline}",
}
# A failed cell's reason when it is the core's (gradebot.core.notes.REASONS), not the course's test message.
REASON = {
    "stderr": "ячейка писала в stderr, а nbgrader считает это ошибкой{detail}",
}
FEEDBACK_CAPTION_T = "Подробный отзыв по посылке #{id}"

# The CLI's table (instructors): column heads and the total row.
TABLE_TASK, TABLE_POINTS, TABLE_MAX, TABLE_TOTAL, TABLE_VERDICT = "задание", "баллы", "макс.", "ИТОГО", "итог проверки"

# ---------------------------------------------------------------------------------------------- quota (status page)
NO_DEADLINE = "Срок сдачи не задан."
DEADLINE_T = "Срок сдачи: {when}{passed}."
DEADLINE_PASSED = " — срок прошёл"
LATE_REJECTED = "После срока посылки не принимаются."
LATE_PENALTY_T = "Посылка после срока принимается со штрафом {penalty:.0%} от итога."
LATE_MARKED = "Посылка после срока принимается с отметкой «сдано после срока»."
LEFT_T = "Осталось посылок: {left} из {limit} (не больше {limit} за {window:g} мин.)"
NEXT_AT_T = "; следующую можно отправить после {when}"
NO_LIMIT = "Число посылок не ограничено."
COUNTING = {
    "latest": "В зачёт идёт последняя проверенная посылка.",
    "best": "В зачёт идёт лучшая из проверенных посылок.",
}

# ---------------------------------------------------------------------------------------------- Telegram
TG_HELP_T = (
    "Я проверяю ноутбуки курса numnet.\n\n"
    "1. Зарегистрируйтесь один раз: {register}.\n"
    "2. Пришлите файл ноутбука .ipynb как документ (не больше {max_size}).\n"
    "3. Я отвечу «получено, в очереди #N», а после проверки пришлю баллы по заданиям и подробный отзыв.\n\n"
    "Команды: /status — ваши посылки, /help — эта справка."
)
TG_GREETING = "Здравствуйте! "
TG_NOT_UNDERSTOOD = "Не понимаю это сообщение. "
TG_REGISTER_WITH_CODE = (
    "/register <номер студента> <код доступа> (номер из списка курса, личный код доступа выдаёт "
    "преподаватель), например /register 20231234 k7m2-p9xq"
)
TG_REGISTER_WITHOUT_CODE = "/register <номер студента> (номер из списка курса)"
TG_REGISTER_HINT_WITH_CODE = "/register <номер студента> <код доступа>"
TG_REGISTER_HINT_WITHOUT_CODE = "/register <номер студента>"
TG_REGISTER_USAGE_WITH_CODE = (
    "Укажите номер студента и код доступа: /register <номер> <код>, например "
    "/register 20231234 k7m2-p9xq. Код выдаёт преподаватель."
)
TG_REGISTER_USAGE_WITHOUT_CODE = "Укажите номер студента: /register <номер>, например /register 20231234"
TG_WRONG_CODE = ACCESS_DENIED + " Проверьте оба и отправьте снова: /register <номер> <код>."
TG_UNKNOWN_STUDENT_T = (
    "Студента с номером {student_id} нет в списке курса. Проверьте номер или обратитесь к преподавателю."
)
TG_ALREADY_REGISTERED_T = "Вы уже зарегистрированы как {student_id}. Присылайте ноутбук .ipynb."
TG_ACCOUNT_TAKEN_T = (
    "Этот аккаунт Telegram уже привязан к номеру {student_id}. "
    "Один аккаунт — один студент; для смены обратитесь к преподавателю."
)
TG_ID_TAKEN_T = (
    "Номер {student_id} уже привязан к другому аккаунту Telegram. Если это ошибка, обратитесь к преподавателю."
)
TG_REGISTER_FAILED_T = "Не удалось зарегистрироваться: {detail}"
TG_REGISTERED_T = "Готово: вы зарегистрированы как {student_id}{name}. Теперь пришлите ноутбук .ipynb документом."
TG_NOT_REGISTERED_T = "Вы ещё не зарегистрированы: {hint}."
TG_REGISTER_FIRST_T = "Сначала зарегистрируйтесь: {hint}."
TG_NO_SUBMISSIONS = "Посылок пока нет. Пришлите ноутбук .ipynb документом."
TG_HISTORY_HEAD_T = "Ваши посылки ({student_id}), последние сверху:"
TG_HISTORY_LINE_T = "#{id} {filename}: {status}"
TG_HISTORY_POINTS_T = ", {points} из {max}"
TG_NOT_IPYNB = "Пришлите файл ноутбука с расширением .ipynb."
TG_DOWNLOAD_FAILED = "Не удалось скачать файл из Telegram, попробуйте отправить ещё раз."
TG_QUEUED_T = "Получено, в очереди #{id}. Пришлю результат, когда проверка закончится."
# a regrade (instructor) changed the score of a submission; the new result follows
TG_REGRADED_T = "Преподаватель перепроверил посылку #{id}: было {before}, стало {after}."
# the grading of a regrade failed: the instructor started it and sees it, so the student is not asked to send again
TG_REGRADE_FAILED_T = (
    "Посылка #{id}: перепроверка не удалась ({reason}). Преподаватель знает об этом, вам ничего делать не нужно."
)
TG_SCORE_T = "{points} из {max}"
TG_NO_SCORE = "нет оценки"


# ---------------------------------------------------------------------------------------------- instructor area
# gradebot/frontends/cockpit.py (the /instructor pages; their fixed texts are in the instructor_*.html templates).
IN_STATUS_FILTER = {"none": "нет посылок", **STATUS, "late": "засчитана посылка после срока"}
IN_DISABLED = (
    "Раздел преподавателя отключён: пароль преподавателя не задан. Задайте instructor_password в файле "
    "настроек или переменную окружения GRADEBOT_INSTRUCTOR_PASSWORD и перезапустите сервер."
)
IN_WRONG_PASSWORD = "Неверный пароль преподавателя."
IN_THROTTLED_T = "Слишком много неверных попыток входа. Попробуйте снова через {minutes} мин."
IN_CSRF = "Форма устарела или отправлена не со страницы преподавателя. Обновите страницу и повторите."
IN_BAD_FILTER_T = "Неизвестный фильтр. Причина: {detail}"
IN_BAD_EXTENSION_T = (
    "Срок не изменён: укажите новый срок датой и временем (например 2026-12-27T23:59) или числом "
    "дней от 1 до 366 после срока курса. Причина: {detail}"
)
IN_NO_FEEDBACK_T = "У посылки №{id} нет отзыва (статус: {status})."


# ---------------------------------------------------------------------------------------------- statistics (instructor)
# gradebot/cockpit: the statistics fragment (report.py: the web statistics page and `gradebot report`) and its plots.
ST_PAGE_TITLE = "Статистика курса"
ST_SUMMARY = "Итоги"
ST_ROWS = {
    "students": "Студентов в списке",
    "submitting": "Присылали работы",
    "counted": "С зачтённой посылкой",
    "submissions": "Посылок всего",
    "late": "Из них после срока",
    "deadline": "Срок сдачи",
    "counting": "В зачёт идёт",
    "mean": "Средний балл",
    "median": "Медиана (квартили)",
    "full": "Полный балл",
    "off_roster": "Посылки студентов не из списка (не учтены)",
}
ST_COUNTING = {"latest": "последняя проверенная посылка", "best": "лучшая из проверенных посылок"}
ST_NO_DEADLINE = "не задан"
ST_OF_T = "{x} из {max}"
ST_COUNTED_NOTE = (
    "Зачтённая посылка — та, что идёт в оценку. Посылки, которые не удалось проверить или которые ещё "
    "в очереди, не засчитываются. Баллы, задания и тесты — по зачтённым посылкам, итоги проверки и "
    "время — по всем посылкам."
)
ST_HISTOGRAM = "Распределение баллов"
ST_NO_COUNTED_T = "Без зачтённой посылки: {n} (из них ничего не присылали: {none})."
ST_TASKS = "Баллы по заданиям"
ST_TASK_COLUMNS = ("Задание", "Макс.", "Посылок", "Среднее", "Медиана", "Квартили", "Мин. — макс.", "Полный балл")
ST_TESTS = "Тесты"
ST_TESTS_NOTE = (
    "Тест пройден, если ячейка получила полный балл (видимые и скрытые проверки ячейки вместе). "
    "Одинаковые причины провала объединены: числа заменены на N, адреса на 0x…; наведите указатель на "
    "сообщение, чтобы увидеть пример целиком."
)
ST_TEST_COLUMNS = ("Тест", "Баллы", "Прошли", "Прошли / посылок", "Частые причины провала (посылок; примеры)")
ST_CAUSE_T = "{text} — {count}; например {examples}"
ST_NO_MESSAGE = "без сообщения: тест не выполнялся (время, память или ошибка раньше)"
ST_VERDICTS = "Итоги проверки"
ST_VERDICT_COLUMNS = ("Итог проверки", "Посылок")
ST_PENDING = "в очереди или проверяется"
ST_NO_SUBMISSIONS = "Посылок нет."
ST_TIMELINE_T = "Посылки по времени (за {unit})"
ST_UNIT = {"hour": "час", "day": "день"}
# the plots (gradebot/cockpit/plots.py)
ST_NO_DATA = "Нет данных"
ST_PLOT_HISTOGRAM_T = "Баллы зачтённых посылок (студентов: {n}; без зачтённой посылки: {none})"
ST_PLOT_POINTS_T = "баллы (из {max})"
ST_PLOT_STUDENTS = "студентов"
ST_PLOT_TASKS = "Баллы по заданиям, % от максимума (зачтённые посылки)"
ST_PLOT_TASK_LABEL_T = "{title} (макс. {max})"
ST_PLOT_TASK_AXIS = "% от максимума задания"
ST_PLOT_TESTS = "Доля зачтённых посылок, прошедших тест"
ST_PLOT_ON_TIME, ST_PLOT_LATE = "в срок", "после срока"
ST_PLOT_DEADLINE_T = "срок сдачи {when}"
ST_PLOT_SUBMISSIONS = "посылок"


# ---------------------------------------------------------------------------------------------- functions
def points(x: float) -> str:
    """Points as students read them: ``4``, ``4.5``, ``0.25`` (no trailing zeros)."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def size(n: float) -> str:
    """A byte count: ``5.0 МБ`` or ``20 КБ``."""
    return f"{n / 2**20:.1f} МБ" if n >= 2**20 else f"{max(1, round(n / 1024))} КБ"


def time(dt: Any, tz: tzinfo | None = None) -> str:
    """``20.12.2026 23:59 (UTC+03:00)``: in ``tz`` (the deadline's zone) when given, else the time's own zone."""
    if not hasattr(dt, "strftime"):
        return str(dt)
    if tz is not None:
        dt = dt.astimezone(tz)
    offset = dt.strftime("%z")
    zone = "UTC" if offset in ("", "+0000") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{dt.strftime('%d.%m.%Y %H:%M')} ({zone})"


def wait_minutes(seconds: float | None) -> int | None:
    """Whole minutes to wait, rounded up (at least 1); None when unknown."""
    if not seconds:
        return None
    return max(1, math.ceil(float(seconds) / 60))


def too_large(limit: int, actual: int | None = None) -> str:
    """The file is over the upload limit (and how big it is, when known)."""
    return TOO_LARGE_T.format(size=f" ({size(actual)})" if actual else "", limit=size(limit))


def rate_limited(retry_after_seconds: float | None) -> str:
    """Too many submissions in the window; when the next one is allowed."""
    minutes = wait_minutes(retry_after_seconds)
    return RATE_LIMITED_T.format(when=f"через {minutes} мин" if minutes else "позже")


def throttled(retry_after_seconds: float | None) -> str:
    """Too many wrong access codes for this student id or from this client: how long the login stays closed."""
    return THROTTLED_T.format(minutes=wait_minutes(retry_after_seconds) or 1)


def refusal(code: str, detail: str | None = None, **fields: Any) -> str:
    """Why a request was refused (``code`` as the web API names it), with the core's detail in parentheses when
    it adds something (``Причина: ...``; never for ``access_denied``: it must not tell a wrong id from a wrong code)."""
    if code == "too_large":
        return too_large(fields["limit"], fields.get("actual"))
    if code == "rate_limited":
        return rate_limited(fields.get("retry_after_seconds"))
    if code == "too_many_attempts":
        return throttled(fields.get("retry_after_seconds"))
    if code == "missing_field":
        return REFUSAL["missing_field_code" if fields.get("require_code") else "missing_field"]
    text = REFUSAL.get(code, REFUSAL["rejected"])
    if code == "access_denied" or not detail:
        return text
    return f"{text} {DETAIL_T.format(detail=note(detail))}"


def failure_reason(reason: str) -> str:
    """A failed test's reason as students read it: the core's own reasons (REASON) in Russian, the grader's
    hidden-test tag in Russian; the course's test message as it is."""
    parsed = notes.parse_reason(reason)
    if parsed is not None:
        return REASON[parsed[0]].format(**parsed[1])
    return reason.replace("[hidden test]", HIDDEN_TEST_TAG, 1)


def note(text: str) -> str:
    """One note of a result (``Result.messages``) as students and instructors read it: the catalog's words for
    its kind (NOTE), a failed test's reason through :func:`failure_reason`; a text of no known kind as it is."""
    return _note_words(text, notes.parse(text))


def _note_words(text: str, parsed: tuple[str, dict[str, str]] | None) -> str:
    """:func:`note` of ``text`` already parsed (``notes.parse``)."""
    if parsed is None:
        return text
    kind, fields = parsed
    if kind == "failed":
        fields = {**fields, "reason": failure_reason(fields["reason"])}
    if kind == "deadline_passed":
        try:
            fields = {**fields, "deadline": time(datetime.fromisoformat(fields["deadline"]))}
        except ValueError:
            pass  # not ISO: shown as written
    return NOTE[kind].format(**fields)


def result_notes(messages: list[str] | None) -> list[str]:
    """The notes of a result other than its failed tests (the front ends list those apart, by test), in the
    catalog's words: time limits, memory, the sandbox, the late penalty..."""
    parsed = [(m, notes.parse(m)) for m in messages or []]
    return [_note_words(m, p) for m, p in parsed if p is None or p[0] != "failed"]


def task_title(facts: Any, task: str) -> str:
    """The task's title the course declares, else the task id."""
    return facts.task_title(task) if facts is not None else task


def test_label(facts: Any, grade_id: str) -> str:
    """``Softmax: прямой проход (part1_forward__softmax)`` for a named test, else the grade id."""
    name = facts.test_name(grade_id) if facts is not None else grade_id
    return grade_id if name == grade_id else f"{name} ({grade_id})"


def quota_lines(quota: dict) -> dict:
    """The core's ``submission_quota`` as sentences for the status page: ``deadline``, ``late``, ``left``,
    ``counting`` (each a string or None) and ``left_count``."""
    deadline: datetime | None = quota.get("deadline")
    tz = deadline.tzinfo if deadline is not None else None
    lines: dict = {"deadline": None, "late": None, "left": None, "left_count": quota.get("left"), "counting": None}
    if deadline is None:
        lines["deadline"] = NO_DEADLINE
    else:
        lines["deadline"] = DEADLINE_T.format(
            when=time(deadline), passed=DEADLINE_PASSED if quota.get("deadline_passed") else ""
        )
        policy, penalty = quota.get("late_policy"), quota.get("late_penalty")
        if policy == "reject":
            lines["late"] = LATE_REJECTED
        elif penalty:
            lines["late"] = LATE_PENALTY_T.format(penalty=penalty)
        else:
            lines["late"] = LATE_MARKED
    if quota.get("limit") is not None:
        lines["left"] = LEFT_T.format(left=quota["left"], limit=quota["limit"], window=quota.get("window_minutes") or 0)
        if not quota["left"] and quota.get("next_at") is not None:
            lines["left"] += NEXT_AT_T.format(when=time(quota["next_at"], tz))
        lines["left"] += "."
    else:
        lines["left"] = NO_LIMIT
    lines["counting"] = COUNTING.get(quota.get("counting"))
    return lines


# ---------------------------------------------------------------------------------------------- feedback page
# coursekit.feedback renders the page; HTML around these texts is escaped there.
FB_TITLE = "Обратная связь: numnet"
FB_HEAD_T = "Результат проверки: {points} из {max}"
FB_VERDICT_T = "Итог проверки: {verdict}"
FB_TASK, FB_POINTS, FB_MAX, FB_TOTAL = "Задание", "Баллы", "Максимум", "Итого"
FB_NOTES = "Замечания проверяющей программы:"
FB_CELL_DID_NOT_RUN = "ячейка теста не выполнилась (см. вывод ячейки)"
FB_FAILED_ITEM_T = "баллы: {points} из {max}"
FB_FAILED_HEAD_T = "Не пройдены тесты: {n}"
FB_ALL_PASSED = "Все тесты пройдены"
FB_PASSED_HEAD_T = "Пройдены тесты: {n}"
FB_HIDDEN_NOTE = (
    "Код скрытых тестов не показывается: что именно не прошло, сказано в сообщении проверяющей "
    "программы выше и в выводе ячейки теста. Ссылка с названием теста ведёт к его ячейке в ноутбуке "
    "ниже."
)
FB_HIDDEN_CODE = "# … скрытые тесты: их код не показывается, результат — в выводе ячейки ниже …"
FB_HIDDEN_POINTS_T = "Тест {test} вместе со скрытой частью: {points} б."  # gradebot's own page (no course renderer)
FB_HIDDEN_RAN = "Скрытая часть теста выполнена."
FB_TEST_HEAD_T = "Тест {gid} — {name}: {points} из {max}, {state}"
FB_PASSED, FB_NOT_PASSED = "пройден", "не пройден"
FB_COURSE_CELL_HIDDEN_T = "# Служебный код курса ({n} строк) здесь не показан: он такой же, как в выданном ноутбуке."
FB_OUTPUT_CUT_T = "\n… (вывод сокращён: пропущено {n} символов) …\n"
FB_IMAGE_LEFT_OUT = "[рисунок не включён в отзыв]"
FB_NOTEBOOK = "Ноутбук после проверки"
