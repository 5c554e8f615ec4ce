"""``python -m gradebot telegram`` on the REAL core, against a local Bot API stand-in on 127.0.0.1.

The bot process long-polls the stand-in (``GRADEBOT_TELEGRAM_API_BASE``), downloads the notebook through
``/file/bot<token>/<path>``, queues it in the core (tiny nbgrader course, bubblewrap sandbox, 1 worker), and
sends back the per-task result and the feedback document.
"""

from test_web_support import BotApiStub, config_env, gradebot_process, serve_app

import tinycourse as tc
from gradebot.core.service import GradingService

TOKEN = "424242:E2E-test-token"
ALICE, MALLORY = 5001, 5002
GRADING_TIMEOUT = 180


def _text(stub, chat, needle, timeout=30):
    return stub.wait_for(
        lambda m: m["method"] == "sendmessage" and m["chat_id"] == chat and needle in m["text"], timeout
    )["text"]


def test_bot_process_end_to_end(make_config, roster_csv, tmp_path):
    config = make_config(workers=1)
    svc = GradingService(config)
    code = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}["s2"]
    stub = BotApiStub(TOKEN)
    with serve_app(stub.app) as api_base:
        env = config_env(config, telegram_token=TOKEN, telegram_api_base=api_base)
        log = tmp_path / "bot.log"
        with gradebot_process(["telegram"], env, log) as proc:
            stub.send_text(ALICE, "/start")
            assert "/register" in _text(stub, ALICE, "Здравствуйте", timeout=60)

            stub.send_text(MALLORY, "/register s2 abcd-2345")  # knows the id, not the code
            _text(stub, MALLORY, "Неверный номер студента или код доступа")
            assert svc.get_student("s2").telegram_user_id is None
            stub.send_text(ALICE, f"/register s2 {code}")
            _text(stub, ALICE, "вы зарегистрированы как s2 (Bob Stone)")
            assert svc.get_student("s2").telegram_user_id == ALICE
            stub.send_text(MALLORY, f"/register s2 {code}")  # even with the code: linked already
            _text(stub, MALLORY, "уже привязан к другому аккаунту")
            stub.send_text(MALLORY, "/register nobody abcd-2345")
            stub.wait_for(lambda m: sum("Неверный номер" in t for t in stub.texts(MALLORY)) == 2)

            stub.send_document(ALICE, "tiny.ipynb", tc.submission())
            queued = _text(stub, ALICE, "Получено, в очереди #")
            sub_id = int(queued.split("#")[1].split(".")[0])
            assert svc.get_submission(sub_id).student_id == "s2"

            result = _text(stub, ALICE, f"Посылка #{sub_id} проверена", timeout=GRADING_TIMEOUT)
            assert "part1_add: 2 из 2" in result and "part2_mul: 3 из 3" in result
            assert "Итого: 5 из 5" in result
            doc = stub.wait_for(lambda m: m["method"] == "senddocument" and m["chat_id"] == ALICE)
            assert doc["filename"] == f"feedback_{sub_id}.html"
            html = doc["data"].decode("utf-8")
            assert "visible test passed" in html and tc.HIDDEN_MARKER not in html

            stub.send_text(ALICE, "/status")
            assert f"#{sub_id} tiny.ipynb: проверено, 5 из 5" in _text(stub, ALICE, "Ваши посылки")
            assert proc.poll() is None, log.read_text()
        assert proc.returncode == 0, log.read_text()  # SIGTERM -> clean shutdown
    assert any(p.startswith("documents/") for p in stub.downloads)
