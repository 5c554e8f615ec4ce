"""How students submit: the notebook's «Как сдать» section and the release README, from the bot's settings.

The one source of truth is the course's bot settings file ``gradebot.course.toml`` (repository root): the same file
``make serve`` / ``make telegram`` hand to the bot as ``GRADEBOT_CONFIG``. It is read with
:class:`gradebot.config.Config` (the bot's own names, defaults and validation), from the file alone: ``GRADEBOT_*``
variables of the machine that builds the course never change what students read.

The facts a student needs must be written in the file (a default is not a decision): ``deadline``,
``late_policy``, ``counting``, ``rate_limit`` (``"none"`` = no limit) and at least one of ``web_url`` and
``telegram_bot``; ``require_code`` may stay at its default (true). A missing fact, an invalid value or a
placeholder (``example.org``, ``TODO``, ``<...>``) makes the build fail with :class:`FactsError` naming it, so no
release ever carries a placeholder.
"""

from __future__ import annotations

import os
import re
import tomllib

from coursekit import REPO_ROOT

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradebot.config import Config

BOT_CONFIG = os.path.join(REPO_ROOT, "gradebot.course.toml")
REQUIRED = ("deadline", "late_policy", "counting", "rate_limit")
CHANNELS = ("web_url", "telegram_bot")
PLACEHOLDER = re.compile(
    r"example\.(org|com|net)|\.example\b|\bTODO\b|\bTBD\b|\bXXX\b|CHANGE[ _-]?ME|<[^>]*>|\{\{", re.IGNORECASE
)
NOTEBOOK_FILE = "numnet.ipynb"
SECTION_TITLE = "Как сдать"


class FactsError(ValueError):
    """The bot settings file lacks a fact students must be told (or holds an invalid value or a placeholder)."""


def _rel(path):
    return os.path.relpath(path, REPO_ROOT) if os.path.abspath(path).startswith(REPO_ROOT) else path


def load_facts(path: str | os.PathLike = BOT_CONFIG) -> Config:
    """The :class:`gradebot.config.Config` of the settings file ``path`` alone; :class:`FactsError` when a fact is
    missing, invalid or a placeholder."""
    from gradebot.config import Config
    from gradebot.core.errors import ConfigError

    name = _rel(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FactsError(
            "cannot read the bot settings %s (%s): the notebook's «%s» section is made from it"
            % (name, exc, SECTION_TITLE)
        ) from exc
    missing = [key for key in REQUIRED if raw.get(key) in (None, "")]
    if not any(raw.get(key) for key in CHANNELS):
        missing.append(" or ".join(CHANNELS))
    if missing:
        raise FactsError(
            "%s lacks %s: students must be told this in the notebook's «%s» section and in the release "
            "README. Set it in %s (names and formats: gradebot/config.py), then run "
            "python -m coursekit.build again." % (name, ", ".join(missing), SECTION_TITLE, name)
        )
    for key in REQUIRED + CHANNELS:
        if isinstance(raw.get(key), str) and PLACEHOLDER.search(raw[key]):
            raise FactsError(
                "%s: %s = %r looks like a placeholder; write the real value students will use" % (name, key, raw[key])
            )
    try:
        return Config.from_env(environ={"GRADEBOT_CONFIG": path})
    except ConfigError as exc:
        raise FactsError("%s: %s" % (name, exc)) from exc


# ---------------------------------------------------------------- Russian sentences


def format_deadline(config: Config) -> str:
    """'20.12.2026 23:59 (UTC+03:00)', in the deadline's own time zone (as on the bot's status page)."""
    dt = config.deadline_dt()
    offset = dt.strftime("%z")
    zone = "UTC" if offset in ("", "+0000") else "UTC%s:%s" % (offset[:3], offset[3:])
    return "%s (%s)" % (dt.strftime("%d.%m.%Y %H:%M"), zone)


def late_text(config: Config) -> str:
    penalty = config.late_penalty()
    if config.late_policy == "reject":
        return "после срока посылки не принимаются"
    if penalty:
        return "посылка после срока принимается, но её итог уменьшается на %s %%" % ("%g" % (penalty * 100)).replace(
            ".", ","
        )
    return "посылка после срока принимается без штрафа, с отметкой «сдано после срока»"


def _minutes(m):
    return ("%g" % m).replace(".", ",")


def rate_text(config: Config) -> str:
    rule = config.rate_limit_rule()
    if rule is None:
        return "число посылок не ограничено"
    n, window = rule
    minutes = window / 60
    per = "в час" if minutes == 60 else "за %s мин." % _minutes(minutes)
    left = "; сколько осталось, показывает веб-страница бота" if config.web_url else ""
    return "не больше %d %s %s (считаются посылки за последние %s мин.%s)" % (
        n,
        "посылки" if n % 10 == 1 and n % 100 != 11 else "посылок",
        per,
        _minutes(minutes),
        left,
    )


def counting_text(config: Config) -> str:
    return {
        "latest": "последняя проверенная посылка, даже если раньше вы набрали больше",
        "best": "лучшая из проверенных посылок",
    }[config.counting]


def where_lines(config: Config) -> list[str]:
    """Markdown bullets: where to send the notebook (web page and/or Telegram bot)."""
    lines = []
    if config.web_url:
        lines.append(
            "веб-страница бота <%s>: номер студента, %sфайл `%s`"
            % (config.web_url, "код доступа и " if config.require_code else "", NOTEBOOK_FILE)
        )
    if config.telegram_bot:
        user = config.telegram_username()
        lines.append(
            "Telegram-бот [@%s](https://t.me/%s): отправьте ему файл `%s` как документ" % (user, user, NOTEBOOK_FILE)
        )
    return lines


def code_text(config: Config) -> str:
    register = "`/register <номер студента> <код>`" if config.require_code else "`/register <номер студента>`"
    if not config.require_code:
        text = "Код доступа не нужен: достаточно номера студента."
        if config.telegram_bot:
            text += " В Telegram один раз отправьте боту %s." % register
        return text
    text = (
        "Преподаватель выдаёт каждому личный код доступа (вида `k7m2-p9xq`). На веб-странице введите номер "
        "студента и код"
        if config.web_url
        else "Преподаватель выдаёт каждому личный код доступа (вида `k7m2-p9xq`)"
    )
    if config.telegram_bot:
        text += (
            "; в Telegram" if config.web_url else ". В Telegram"
        ) + " один раз отправьте боту %s, например `/register 20231234 k7m2-p9xq`" % register
    return text + ". Никому не передавайте код: с ним можно сдавать работу за вас и видеть ваши результаты."


def section_markdown(config: Config) -> str:
    """The body of the notebook's «Как сдать» cell."""
    where = where_lines(config)
    if len(where) == 1:
        where_md = where[0][0].upper() + where[0][1:] + "."
    else:
        where_md = "Любым из двух способов:\n" + ";\n".join("  * " + line for line in where) + "."
    return "\n".join(
        [
            "## %s" % SECTION_TITLE,
            "",
            "Сдаётся один файл: этот ноутбук `%s` с вашим решением (сохраните его перед отправкой)." % NOTEBOOK_FILE,
            "",
            "* **Куда.** %s" % where_md,
            "* **Код доступа.** %s" % code_text(config),
            "* **Срок:** %s; %s." % (format_deadline(config), late_text(config)),
            "* **Сколько попыток:** %s. Поэтому сначала добейтесь `Test PASSED` под каждым тестом здесь, а потом "
            "отправляйте." % rate_text(config),
            "* **В зачёт идёт** %s. Все посылки сохраняются; посылка, которую не удалось проверить, не считается."
            % counting_text(config),
            "* **Что придёт в ответ** (обычно через одну-две минуты): итог и баллы по частям, затем не прошедшие тесты "
            "с их именами и баллами, как в ноутбуке, и причиной, в том числе из скрытой части теста (её код не "
            "показывается), со ссылкой на ячейку; ниже проверенный ноутбук. Telegram-бот присылает итог, список не "
            "прошедших тестов с причинами и этот же отчёт файлом; веб-страница показывает ещё срок, сколько посылок "
            "осталось и все ваши прежние посылки с баллами.",
        ]
    )


def readme_submit_lines(config: Config) -> str:
    """The README's short «Как сдать» paragraph (details: the notebook's section)."""
    where = where_lines(config)
    lines = ["Отправьте ноутбук `%s` боту:" % NOTEBOOK_FILE, ""]
    lines += ["* " + line[0].upper() + line[1:] + "." for line in where]
    if config.require_code:
        lines.append(
            "* Нужен личный код доступа от преподавателя%s."
            % ("; в Telegram один раз: `/register <номер студента> <код>`" if config.telegram_bot else "")
        )
    lines += [
        "* Срок: %s; %s." % (format_deadline(config), late_text(config)),
        "* Попыток: %s; в зачёт идёт %s." % (rate_text(config).split(" (")[0], counting_text(config)),
        "",
        "Подробно (код доступа, что придёт в ответ) — раздел «%s» в конце ноутбука." % SECTION_TITLE,
    ]
    return "\n".join(lines)
