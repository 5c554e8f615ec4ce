"""The Telegram bot end to end against a local Bot API stand-in, over an in-memory fake of the core.

aiogram really long-polls the stand-in on 127.0.0.1 (getUpdates), downloads files through
/file/bot<token>/<path> and sends messages/documents back; the fake core grades instantly.
The same flow against the real core is in test_telegram_e2e.py.
"""

import asyncio
import threading
import time
from contextlib import contextmanager

import pytest

from test_web_support import BotApiStub, FakeService, fake_code, make_notebook, serve_app

from gradebot.core import errors
from gradebot.frontends import telegram

TOKEN = "123456:TEST-token-for-the-stub"
ALICE, BOB = 1001, 1002


class _Cfg:
    max_upload_bytes = 20_000
    telegram_token = TOKEN
    telegram_api_base = None


class _OpenCfg(_Cfg):
    require_code = False


class BotRunner:
    """Runs the bot's polling loop in a background thread; ``stop()`` ends it cleanly."""

    def __init__(self, svc, config, poll_seconds=0.1):
        self.loop = asyncio.new_event_loop()
        self.dp = telegram.build_dispatcher(svc, config, poll_seconds=poll_seconds)
        self.bot = telegram.build_bot(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.dp.start_polling(self.bot, polling_timeout=1, handle_signals=False))
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.dp.stop_polling(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)
        assert self.task.done()
        error = self.task.exception()
        self.loop.close()
        assert error is None, error


@pytest.fixture
def fake():
    return FakeService(errors, roster=("s1", "s2"), rate_limit=2, grade_delay=0.2)


@contextmanager
def running_bot(fake, cfg_class=_Cfg):
    """The bot over ``fake`` against a fresh Bot API stand-in; yields the stand-in."""
    stub = BotApiStub(TOKEN)
    with serve_app(stub.app) as base:
        cfg = cfg_class()
        cfg.telegram_api_base = base
        runner = BotRunner(fake, cfg).start()
        try:
            yield stub
        finally:
            runner.stop()


@pytest.fixture
def env(fake):
    with running_bot(fake) as stub:
        yield stub, fake


def _register(sid):
    return f"/register {sid} {fake_code(sid)}"


def _sent_text(stub, chat, needle, timeout=20):
    return stub.wait_for(
        lambda m: m["method"] == "sendmessage" and m["chat_id"] == chat and needle in m["text"], timeout
    )["text"]


def test_start_register_submit_result_and_feedback(env):
    stub, fake = env
    stub.send_text(ALICE, "/start")
    greeting = _sent_text(stub, ALICE, "Здравствуйте")
    assert "/register" in greeting

    stub.send_document(ALICE, "hw.ipynb", make_notebook([("code", "ANSWER = 42")]))
    _sent_text(stub, ALICE, "Сначала зарегистрируйтесь")
    assert stub.downloads == []

    stub.send_text(ALICE, _register("s1"))
    _sent_text(stub, ALICE, "вы зарегистрированы как s1")
    assert fake.students["s1"].telegram_user_id == ALICE

    stub.send_document(ALICE, "hw.ipynb", make_notebook([("code", "ANSWER = 42")]))
    queued = _sent_text(stub, ALICE, "Получено, в очереди #")
    sub_id = int(queued.split("#")[1].split(".")[0])
    assert fake.subs[sub_id].student_id == "s1"

    result = _sent_text(stub, ALICE, f"Посылка #{sub_id} проверена")
    assert "t1: 2 из 2" in result and "t2: 0 из 1" in result and "Итого: 2 из 3" in result
    doc = stub.wait_for(lambda m: m["method"] == "senddocument" and m["chat_id"] == ALICE)
    assert doc["filename"] == f"feedback_{sub_id}.html"
    assert f"Feedback {sub_id}".encode() in doc["data"]

    stub.send_text(ALICE, "/status")
    status = _sent_text(stub, ALICE, "Ваши посылки")
    assert f"#{sub_id} hw.ipynb: проверено, 2 из 3" in status


def test_registration_errors(env):
    stub, fake = env
    stub.send_text(ALICE, "/register nobody abcd-2345")
    _sent_text(stub, ALICE, "Неверный номер студента или код доступа")
    stub.send_text(ALICE, "/register")
    _sent_text(stub, ALICE, "Укажите номер студента и код доступа")
    stub.send_text(ALICE, "/register s1")  # the code is missing
    _sent_text(stub, ALICE, "Укажите номер студента и код доступа: /register <номер> <код>")

    stub.send_text(ALICE, _register("s1"))
    _sent_text(stub, ALICE, "вы зарегистрированы как s1")
    stub.send_text(BOB, _register("s1"))
    _sent_text(stub, BOB, "уже привязан к другому аккаунту")
    stub.send_text(ALICE, _register("s2"))
    _sent_text(stub, ALICE, "уже привязан к номеру s1")
    stub.send_text(ALICE, _register("s1"))
    _sent_text(stub, ALICE, "Вы уже зарегистрированы как s1")
    assert fake.students["s1"].telegram_user_id == ALICE and fake.students["s2"].telegram_user_id is None


def test_register_needs_the_right_code(env):
    """A stranger who knows an id cannot take it: a wrong code (or another student's) links nothing, and the
    answer for a wrong code equals the one for an unknown id. The right code works, typed loosely."""
    stub, fake = env
    stub.send_text(BOB, "/register s1 abcd-2345")
    wrong = _sent_text(stub, BOB, "Неверный номер студента или код доступа")
    assert "преподаватель" in wrong
    stub.send_text(BOB, f"/register s1 {fake_code('s2')}")
    stub.send_text(BOB, "/register nobody abcd-2345")
    stub.wait_for(lambda m: stub.texts(BOB).count(wrong) == 3)
    assert fake.students["s1"].telegram_user_id is None and fake.student_by_telegram(BOB) is None

    loose = fake_code("s1").upper().replace("-", " ")  # "CODE S1 7K": spaces and case do not matter
    stub.send_text(ALICE, f"/register s1 {loose}")
    _sent_text(stub, ALICE, "вы зарегистрированы как s1")
    assert fake.students["s1"].telegram_user_id == ALICE
    # once linked, documents need no code
    stub.send_document(ALICE, "hw.ipynb", make_notebook([("code", "ANSWER = 42")]))
    _sent_text(stub, ALICE, "Получено, в очереди #")


def test_wrong_codes_are_throttled_per_id_and_per_account(make_config, roster_csv):
    """On the real core (not started, injected clock): after 5 wrong codes for an id, or 3 from one Telegram
    account (``login_client_attempts=3``), /register is refused with the wait in Russian - the right code too."""
    from test_web_support import Clock

    from gradebot.core.service import GradingService

    clock = Clock()
    svc = GradingService(make_config(login_client_attempts=3), clock=clock)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    locked = "Слишком много неверных кодов. Попробуйте снова через {} мин. До тех пор вход закрыт даже с верным кодом."

    def answers(user, n):
        stub.wait_for(lambda m: len(stub.texts(user)) >= n)
        return stub.texts(user)

    with running_bot(svc) as stub:
        for i, user in enumerate((2001, 2002, 2003, 2004, 2005)):  # five accounts guess s1's code
            stub.send_text(user, "/register s1 abcd-2345")
            assert answers(user, 1)[-1].startswith("Неверный номер" if i < 4 else "Слишком много")
        assert stub.texts(2005) == [locked.format(1)]
        stub.send_text(ALICE, f"/register s1 {codes['s1']}")  # the right code, while locked
        assert answers(ALICE, 1) == [locked.format(1)]
        assert svc.get_student("s1").telegram_user_id is None

        for n, sid in enumerate(("x1", "x2", "x3"), start=1):  # one account guesses several ids
            stub.send_text(BOB, f"/register {sid} abcd-2345")
            answers(BOB, n)
        assert stub.texts(BOB)[-1] == locked.format(1)
        stub.send_text(BOB, f"/register s2 {codes['s2']}")
        assert answers(BOB, 4)[-1] == locked.format(1)
        assert svc.get_student("s2").telegram_user_id is None

        clock.advance(61)
        stub.send_text(ALICE, f"/register s1 {codes['s1']}")
        assert "вы зарегистрированы как s1" in answers(ALICE, 2)[-1]
        stub.send_text(BOB, f"/register s2 {codes['s2']}")
        assert "вы зарегистрированы как s2" in answers(BOB, 5)[-1]
    assert svc.get_student("s1").telegram_user_id == ALICE and svc.get_student("s2").telegram_user_id == BOB


def test_help_names_the_code(env):
    stub, _ = env
    stub.send_text(ALICE, "/help")
    text = _sent_text(stub, ALICE, "/register <номер студента> <код доступа>")
    assert "выдаёт преподаватель" in text


def test_require_code_off_registers_with_the_id_alone(fake):
    with running_bot(fake, _OpenCfg) as stub:
        stub.send_text(ALICE, "/help")
        assert "<код доступа>" not in _sent_text(stub, ALICE, "/register <номер студента>")
        stub.send_text(ALICE, "/register nobody")
        _sent_text(stub, ALICE, "Студента с номером nobody нет в списке курса")
        stub.send_text(ALICE, "/register s1")
        _sent_text(stub, ALICE, "вы зарегистрированы как s1")
    assert fake.students["s1"].telegram_user_id == ALICE


def test_rejections_size_type_bad_notebook_rate_limit(env):
    stub, fake = env
    stub.send_text(ALICE, _register("s1"))
    _sent_text(stub, ALICE, "вы зарегистрированы")

    stub.send_document(ALICE, "big.ipynb", b"x" * 10, declared_size=50 * 2**20)
    _sent_text(stub, ALICE, "Файл слишком большой (50.0 МБ)")
    assert stub.downloads == []  # refused before download

    stub.send_document(ALICE, "hw.py", b"print(1)")
    _sent_text(stub, ALICE, "с расширением .ipynb")

    stub.send_document(ALICE, "broken.ipynb", b"not json")
    _sent_text(
        stub,
        ALICE,
        "Посылка не принята: файл не удалось принять как ноутбук Jupyter (.ipynb). Причина: not a valid .ipynb",
    )
    assert fake.subs == {}

    for _ in range(2):
        stub.send_document(ALICE, "hw.ipynb", make_notebook())
    stub.wait_for(lambda m: sum("Получено, в очереди #" in t for t in stub.texts(ALICE)) == 2)
    stub.send_document(ALICE, "hw.ipynb", make_notebook())
    _sent_text(stub, ALICE, "Слишком много посылок подряд. Следующую можно отправить через 2 мин.")
    assert len(fake.subs) == 2


def test_missing_token_is_a_clear_error():
    class NoToken(_Cfg):
        telegram_token = None

    with pytest.raises(SystemExit, match="GRADEBOT_TELEGRAM_TOKEN"):
        telegram.build_bot(NoToken())


def test_pending_submission_is_reported_after_restart(fake):
    """A Telegram submission still queued when the bot (re)starts is watched again and its result delivered."""
    fake.link_telegram("s2", BOB)
    fake.grade_delay = 1.0
    sub = fake.submit("s2", "old.ipynb", make_notebook([("code", "ANSWER = 42")]), source="telegram")
    stub = BotApiStub(TOKEN)
    with serve_app(stub.app) as base:
        cfg = _Cfg()
        cfg.telegram_api_base = base
        runner = BotRunner(fake, cfg).start()
        try:
            text = _sent_text(stub, BOB, f"Посылка #{sub.id} проверена")
            assert "Итого: 2 из 3" in text
            stub.wait_for(lambda m: m["method"] == "senddocument" and m["chat_id"] == BOB)
        finally:
            runner.stop()


def test_regrade_that_changes_the_score_is_announced(make_config, roster_csv):
    """On the real core (not started: results recorded with ``store.finish`` as a worker would): the instructor
    regrades the class; a linked student whose score changed is told before and after, with the new result and
    feedback; one whose score stayed is not bothered; a regrade whose grading failed says the score is gone and
    that the student has nothing to do (not "send again": the instructor started it). A
    regrade still pending when the bot starts is announced too."""
    import tinycourse as tc

    from gradebot.core.models import Result
    from gradebot.core.service import GradingService

    carol = 1003
    svc = GradingService(make_config())
    svc.import_roster(roster_csv)

    def result(add, mul):
        tasks = {"part1_add": {"points": add, "max": 2.0}, "part2_mul": {"points": mul, "max": 3.0}}
        return Result(total=add + mul, max=5.0, tasks=tasks, cells={"part1_add__visible": add})

    subs = {}
    for sid, user, (add, mul) in (("s1", ALICE, (2, 3)), ("s2", BOB, (2, 0)), ("s3", carol, (2, 3))):
        svc.link_telegram(sid, user)
        subs[sid] = svc.submit(sid, "tiny.ipynb", tc.submission(), source="web").id
        assert svc.store.finish(subs[sid], "done", result(add, mul), None, f"<p>feedback {sid}</p>")

    with running_bot(svc) as stub:
        time.sleep(0.5)  # the bot has started following the regrade log
        assert svc.regrade(everything=True)["total"] == 3
        assert svc.store.finish(subs["s1"], "done", result(2, 0), None, "<p>regraded s1</p>")  # 5 -> 2
        assert svc.store.finish(subs["s2"], "done", result(2, 0), None, "<p>regraded s2</p>")  # unchanged
        assert svc.store.finish(subs["s3"], "failed", None, "the kernel died", None)  # 5 -> no score
        text = _sent_text(stub, ALICE, "Преподаватель перепроверил")
        assert text.startswith(f"Преподаватель перепроверил посылку #{subs['s1']}: было 5 из 5, стало 2 из 5.")
        assert f"Посылка #{subs['s1']} проверена." in text and "Итого: 2 из 5" in text
        doc = stub.wait_for(lambda m: m["method"] == "senddocument" and m["chat_id"] == ALICE)
        assert doc["filename"] == f"feedback_{subs['s1']}.html" and b"regraded s1" in doc["data"]
        text = _sent_text(stub, carol, "Преподаватель перепроверил")
        assert f"посылку #{subs['s3']}: было 5 из 5, стало нет оценки." in text
        # the instructor started the regrade: the student is not told to send again
        assert f"Посылка #{subs['s3']}: перепроверка не удалась (the kernel died)." in text
        assert "Преподаватель знает об этом, вам ничего делать не нужно." in text
        assert "отправить ещё раз" not in text
        time.sleep(1.0)  # several polls of the bot
        assert stub.texts(BOB) == []

    # regraded while the bot is down, graded after it starts: still announced
    assert svc.regrade(student_id="s2")["total"] == 1
    with running_bot(svc) as stub:
        time.sleep(0.5)
        assert svc.store.finish(subs["s2"], "done", result(2, 3), None, "<p>regraded again</p>")
        text = _sent_text(stub, BOB, "Преподаватель перепроверил")
        assert text.startswith(f"Преподаватель перепроверил посылку #{subs['s2']}: было 2 из 5, стало 5 из 5.")
        time.sleep(1.0)
        assert len(stub.texts(BOB)) == 1 and stub.texts(ALICE) == []


def test_result_lists_failed_tests_with_one_line_reasons():
    """After the total: one line per failed test (grade id + the start of the grader's message), other notes after."""
    from datetime import datetime, timezone

    from test_web_support import FakeResult, FakeSubmission

    long_reason = (
        "Softmax.forward, вход формы (1, 10), значения до 1007 (нет ли переполнения?):\nв результате "
        + "есть nan или inf " * 20
    )
    res = FakeResult(
        44.0,
        45.0,
        {"part1_forward": {"points": 4.0, "max": 5.0}},
        messages=[
            f"part1_forward__softmax: failed ([hidden test] {long_reason})",
            "part2_grad_x__dense: failed (TestFailed: Dense.grad_x: форма (2, 3) вместо (2, 4))",
            "cell 7: stopped after the time limit",
        ],
    )
    text = telegram.format_result(FakeSubmission(5, "s1", "nb.ipynb", datetime.now(timezone.utc), "done", result=res))
    lines = text.split("\n")
    total = lines.index("Итого: 44 из 45")
    assert lines[total + 1] == "Не пройдены тесты (2):"
    first, second = lines[total + 2], lines[total + 3]
    assert first.startswith("✗ part1_forward__softmax: [скрытый тест] Softmax.forward, вход формы (1, 10)")
    assert len(first) < 160 and first.endswith("…") and "\n" not in first
    assert second == "✗ part2_grad_x__dense: TestFailed: Dense.grad_x: форма (2, 3) вместо (2, 4)"
    assert lines[total + 4 :] == ["Замечания:", "ячейка 7 прервана: превышено время выполнения"]  # the note in Russian


def test_result_names_tasks_and_failed_tests_as_the_real_course_does():
    """With the course's facts (read from its source notebook) the answer shows Russian task titles and test
    names; the grade id stays in brackets so a student can find the cell."""
    from datetime import datetime, timezone
    from pathlib import Path

    from coursekit import SOURCE_NOTEBOOK
    from gradebot.core.course import course_facts
    from test_web_support import FakeResult, FakeSubmission

    res = FakeResult(
        43.0,
        45.0,
        {"part1_forward": {"points": 4.0, "max": 5.0}, "part3_training": {"points": 9.0, "max": 10.0}},
        messages=[
            "part1_forward__softmax: failed (Softmax.forward при больших по модулю входах (до 1000): в результате "
            "3 nan и 0 inf из 9 чисел)",
            "part3_training__grad_w: failed ([hidden test] DenseLayer.grad_W (3 -> 4, batch 2): W вытянут по столбцам)",
        ],
    )
    sub = FakeSubmission(7, "s1", "nb.ipynb", datetime.now(timezone.utc), "done", result=res)
    lines = telegram.format_result(sub, course_facts(Path(SOURCE_NOTEBOOK))).split("\n")
    assert lines[1:3] == ["1. Прямой проход: 4 из 5", "3. Градиенты по параметрам и обучение: 9 из 10"]
    assert lines[4] == "Не пройдены тесты (2):"
    assert lines[5].startswith(
        "✗ Softmax: прямой проход, в том числе при больших входах (part1_forward__softmax): "
        "Softmax.forward при больших по модулю входах"
    )
    assert lines[6] == (
        "✗ DenseLayer.grad_W: якобиан по весам (part3_training__grad_w): [скрытый тест] "
        "DenseLayer.grad_W (3 -> 4, batch 2): W вытянут по столбцам"
    )


class _CountingStore:
    """The core's store, logging every method call (name and arguments) in :attr:`calls`."""

    def __init__(self, store):
        self._store = store
        self.calls = []

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def logged(*args, **kwargs):
            self.calls.append((name, args))
            return attr(*args, **kwargs)

        return logged

    def count(self, name):
        return sum(called == name for called, _ in self.calls)


class _RecordingBot:
    """Stands in for aiogram's Bot: records (chat, text or feedback file name)."""

    def __init__(self):
        self.sent = []

    async def send_message(self, chat_id, text):
        self.sent.append((chat_id, text))

    async def send_document(self, chat_id, document, caption=None):
        self.sent.append((chat_id, document.filename))


def test_a_class_regrade_is_polled_with_one_status_read_per_poll(make_config):
    """On the real core with ``n`` linked students: after a regrade of the class, every poll reads all awaited
    submissions with one store call (never one per submission), and a fresh upload awaited since the bot started
    shares that read. Each student still gets their own notice: a changed score announced with its feedback, an
    unchanged one not at all, the upload's plain result."""
    import tinycourse as tc

    from gradebot.core.models import Result, Student
    from gradebot.core.service import GradingService

    n = 40
    svc = GradingService(make_config())
    svc.store.upsert_students([Student(f"s{i}", f"Student {i}", "g1") for i in range(n)])

    def result(points):
        return Result(total=points, max=5.0, tasks={"part1_add": {"points": points, "max": 5.0}}, cells={})

    regraded = {}  # chat -> submission id
    for i in range(n):
        chat = 9000 + i
        svc.link_telegram(f"s{i}", chat)
        regraded[chat] = svc.submit(f"s{i}", "tiny.ipynb", tc.submission(), source="web").id
        assert svc.store.finish(regraded[chat], "done", result(5.0), None, f"<p>first {i}</p>")
    uploader = 9000 + n - 1
    upload = svc.submit(f"s{n - 1}", "fresh.ipynb", tc.submission(), source="telegram").id  # queued at the start
    store = svc.store = _CountingStore(svc.store)
    fe = telegram.TelegramFrontend(svc, _Cfg(), poll_seconds=0.02)
    polls = []
    poll_results = fe.poll_results

    async def counted_poll(bot):
        polls.append(store.count("get_submissions"))  # reads before this poll
        await poll_results(bot)

    fe.poll_results = counted_poll
    bot = _RecordingBot()
    changed = {chat for chat in regraded if chat % 2 == 0}
    assert uploader not in changed

    async def until(condition, what, timeout=30.0):
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"timed out waiting until {what}"
            await asyncio.sleep(0.02)

    async def scenario():
        await fe.resume(bot)
        assert svc.regrade(everything=True)["total"] == n  # the fresh upload is still queued: not regraded
        await until(
            lambda: any(name == "get_submissions" and len(args[0]) == n + 1 for name, args in store.calls),
            "one read asks for all n + 1 awaited submissions",
        )
        start = len(polls)
        await until(lambda: len(polls) >= start + 5, "5 more polls")  # while nothing is graded yet
        assert store.count("get_submission") == 0  # no read of one submission
        for chat, sub_id in regraded.items():
            assert svc.store.finish(sub_id, "done", result(2.0 if chat in changed else 5.0), None, f"<p>{chat}</p>")
        assert svc.store.finish(upload, "done", result(3.0), None, "<p>fresh</p>")
        await until(lambda: len(bot.sent) == 2 * (len(changed) + 1), "every notice is sent")
        start = len(polls)
        await until(lambda: len(polls) >= start + 5, "5 more polls")  # nothing awaited: polls read nothing
        await fe.shutdown()

    asyncio.run(scenario())
    reads_per_poll = [after - before for before, after in zip(polls, polls[1:])]
    assert len(reads_per_poll) >= 10 and max(reads_per_poll) == 1
    assert reads_per_poll[-4:] == [0, 0, 0, 0]
    assert store.count("get_submission") == store.count("feedback_html") == len(changed) + 1  # one per result sent
    for chat, sub_id in regraded.items():
        sent = [item for c, item in bot.sent if c == chat]
        if chat in changed:
            assert len(sent) == 2, sent
            assert sent[0].startswith(f"Преподаватель перепроверил посылку #{sub_id}: было 5 из 5, стало 2 из 5.")
            assert sent[1] == f"feedback_{sub_id}.html"
        elif chat != uploader:
            assert sent == []
    fresh = [item for c, item in bot.sent if c == uploader]  # the score of its regraded one stayed: not announced
    assert len(fresh) == 2, fresh
    assert fresh[0].startswith(f"Посылка #{upload} проверена.") and "Итого: 3 из 5" in fresh[0]
    assert fresh[1] == f"feedback_{upload}.html"
