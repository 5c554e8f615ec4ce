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
            f"cannot read the bot settings {name} ({exc}): the notebook's «{SECTION_TITLE}» section is made from it"
        ) from exc
    missing = [key for key in REQUIRED if raw.get(key) in (None, "")]
    if not any(raw.get(key) for key in CHANNELS):
        missing.append(" or ".join(CHANNELS))
    if missing:
        raise FactsError(
            f"{name} lacks {', '.join(missing)}: students must be told this in the notebook's «{SECTION_TITLE}» "
            f"section and in the release README. Set it in {name} (names and formats: gradebot/config.py), then run "
            "python -m coursekit.build again."
        )
    for key in REQUIRED + CHANNELS:
        if isinstance(raw.get(key), str) and PLACEHOLDER.search(raw[key]):
            raise FactsError(
                f"{name}: {key} = {raw[key]!r} looks like a placeholder; write the real value students will use"
            )
    try:
        return Config.from_env(environ={"GRADEBOT_CONFIG": path})
    except ConfigError as exc:
        raise FactsError(f"{name}: {exc}") from exc


# ---------------------------------------------------------------- Russian sentences


def format_deadline(config: Config) -> str:
    """'20.12.2026 23:59 (UTC+03:00)', in the deadline's own time zone (as on the bot's status page)."""
    dt = config.deadline_dt()
    offset = dt.strftime("%z")
    zone = "UTC" if offset in ("", "+0000") else f"UTC{offset[:3]}:{offset[3:]}"
    return f'{dt.strftime("%d.%m.%Y %H:%M")} ({zone})'


def late_text(config: Config) -> str:
    penalty = config.late_penalty()
    if config.late_policy == "reject":
        return "после срока посылки не принимаются"
    if penalty:
        percent = f"{penalty * 100:g}".replace(".", ",")
        return f"посылка после срока принимается, но её итог уменьшается на {percent} %"
    return "посылка после срока принимается без штрафа, с отметкой «сдано после срока»"


def _minutes(m):
    return f"{m:g}".replace(".", ",")


def rate_text(config: Config) -> str:
    rule = config.rate_limit_rule()
    if rule is None:
        return "число посылок не ограничено"
    n, window = rule
    minutes = window / 60
    per = "в час" if minutes == 60 else f"за {_minutes(minutes)} мин."
    left = "; сколько осталось, показывает веб-страница бота" if config.web_url else ""
    noun = "посылки" if n % 10 == 1 and n % 100 != 11 else "посылок"
    return f"не больше {n} {noun} {per} (считаются посылки за последние {_minutes(minutes)} мин.{left})"


def counting_text(config: Config) -> str:
    return {
        "latest": "последняя проверенная посылка, даже если раньше вы набрали больше",
        "best": "лучшая из проверенных посылок",
    }[config.counting]


def where_lines(config: Config) -> list[str]:
    """Markdown bullets: where to send the notebook (web page and/or Telegram bot)."""
    lines = []
    if config.web_url:
        code = "код доступа и " if config.require_code else ""
        lines.append(f"веб-страница бота <{config.web_url}>: номер студента, {code}файл `{NOTEBOOK_FILE}`")
    if config.telegram_bot:
        user = config.telegram_username()
        lines.append(f"Telegram-бот [@{user}](https://t.me/{user}): отправьте ему файл `{NOTEBOOK_FILE}` как документ")
    return lines


def code_text(config: Config) -> str:
    register = "`/register <номер студента> <код>`" if config.require_code else "`/register <номер студента>`"
    if not config.require_code:
        text = "Код доступа не нужен: достаточно номера студента."
        if config.telegram_bot:
            text += f" В Telegram один раз отправьте боту {register}."
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
        ) + f" один раз отправьте боту {register}, например `/register 20231234 k7m2-p9xq`"
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
            f"## {SECTION_TITLE}",
            "",
            f"Сдаётся один файл: этот ноутбук `{NOTEBOOK_FILE}` с вашим решением (сохраните его перед отправкой).",
            "",
            f"* **Куда.** {where_md}",
            f"* **Код доступа.** {code_text(config)}",
            f"* **Срок:** {format_deadline(config)}; {late_text(config)}.",
            f"* **Сколько попыток:** {rate_text(config)}. Поэтому сначала добейтесь `Test PASSED` под каждым тестом "
            "здесь, а потом отправляйте.",
            f"* **В зачёт идёт** {counting_text(config)}. Все посылки сохраняются; посылка, которую не удалось "
            "проверить, не считается.",
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
    lines = [f"Отправьте ноутбук `{NOTEBOOK_FILE}` боту:", ""]
    lines += ["* " + line[0].upper() + line[1:] + "." for line in where]
    if config.require_code:
        register = "; в Telegram один раз: `/register <номер студента> <код>`" if config.telegram_bot else ""
        lines.append(f"* Нужен личный код доступа от преподавателя{register}.")
    lines += [
        f"* Срок: {format_deadline(config)}; {late_text(config)}.",
        f'* Попыток: {rate_text(config).split(" (")[0]}; в зачёт идёт {counting_text(config)}.',
        "",
        f"Подробно (код доступа, что придёт в ответ) — раздел «{SECTION_TITLE}» в конце ноутбука.",
    ]
    return "\n".join(lines)
