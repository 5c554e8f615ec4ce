"""The web page in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Fill the form (student id, access code, file), upload a notebook, wait on the self-refreshing status page until the
graded table appears; the cookie set by the upload opens the page and the feedback, a browser without it gets the
"Нет доступа" page and its login form. Runs against the in-memory fake core (fast); test_web_e2e.py repeats the
browser flow on the real core.
Needs the Debian packages ``chromium`` and ``chromium-driver`` (/usr/bin/chromium, /usr/bin/chromedriver).
"""

import os

import pytest

from test_web_support import FakeService, fake_code, make_notebook, serve_app

from gradebot.core import errors
from gradebot.frontends.web import COOKIE_NAME, create_app

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def start_chromium(tmp_path):
    """A Selenium Chrome driver on Debian's Chromium; fails (not skips) when the packages are missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.path.exists(path), f"{path} missing: apt-get install -y chromium chromium-driver"
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager reach the network
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def fill_upload_form(driver, base, student_id, code, notebook_path):
    """Open the form, type the id and the code, choose the file and press the button (returns at once)."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    assert "Проверка ноутбуков" in driver.page_source
    driver.find_element(By.ID, "student_id").send_keys(student_id)
    driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "file").send_keys(str(notebook_path))
    driver.find_element(By.ID, "submit").click()


def read_table(driver):
    """{task: (points, max)} and the total cell text of the graded status page."""
    from selenium.webdriver.common.by import By

    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#results tr.task"):
        cells = row.find_elements(By.TAG_NAME, "td")
        rows[cells[0].text] = (float(cells[1].text), float(cells[2].text))
    return rows, driver.find_element(By.ID, "total").text


def upload_and_wait_for_table(driver, base, student_id, notebook_path, timeout=30, code=None):
    """Drive the page like a student; return {task: (points, max)} and the total cell text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    fill_upload_form(driver, base, student_id, fake_code(student_id) if code is None else code, notebook_path)
    WebDriverWait(driver, 10).until(EC.url_contains("/submissions/"))
    WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.ID, "total")))
    return read_table(driver)


@pytest.fixture
def driver(tmp_path):
    drv = start_chromium(tmp_path)
    try:
        yield drv
    finally:
        drv.quit()


def test_upload_form_shows_graded_table(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    fake = FakeService(errors, grade_delay=2.5)  # long enough to see at least one self-refresh
    nb = tmp_path / "hw.ipynb"
    nb.write_bytes(make_notebook([("code", "ANSWER = 42")]))
    with serve_app(lambda: create_app(fake, type("C", (), {"max_upload_bytes": 100_000})())) as base:
        rows, total = upload_and_wait_for_table(driver, base, "s1", nb)
        assert rows == {"t1": (2.0, 2.0), "t2": (0.0, 1.0)}
        assert total == "2.0"
        assert driver.find_element(By.ID, "status").text == "проверено"
        link = driver.find_element(By.ID, "feedback").get_attribute("href")
        assert link.endswith("/api/submissions/1/feedback")

        # a bad file comes back to the form with a Russian error message
        bad = tmp_path / "bad.ipynb"
        bad.write_bytes(b"not a notebook")
        fill_upload_form(driver, base, "s1", fake_code("s1"), bad)
        # click() may return before the POST's answer is rendered: wait for it (the element only exists on error)
        error = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "error")))
        assert error.text.startswith("Посылка не принята: файл не удалось принять как ноутбук")
        assert driver.find_element(By.ID, "student_id").get_attribute("value") == "s1"


def test_wrong_code_keeps_the_id_and_stores_nothing(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    fake = FakeService(errors)
    nb = tmp_path / "hw.ipynb"
    nb.write_bytes(make_notebook([("code", "ANSWER = 42")]))
    with serve_app(lambda: create_app(fake, type("C", (), {"max_upload_bytes": 100_000})())) as base:
        fill_upload_form(driver, base, "s1", fake_code("s2"), nb)
        error = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "error")))
        assert "Неверный номер студента или код доступа" in error.text and "преподаватель" in error.text
        assert driver.find_element(By.ID, "student_id").get_attribute("value") == "s1"
        assert driver.find_element(By.ID, "code").get_attribute("value") == ""  # the code is typed again
        assert driver.get_cookie(COOKIE_NAME) is None
        assert fake.subs == {}


def test_cookie_opens_own_pages_only_and_login_restores_access(driver, tmp_path):
    """The upload's cookie (HttpOnly, SameSite=Strict) opens the status page and the feedback; another student's
    page and a browser without the cookie get "Нет доступа", whose form logs the student in again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    fake = FakeService(errors, grade_delay=0.2)
    other = fake.submit("s2", "other.ipynb", make_notebook([("code", "ANSWER = 42")]))
    nb = tmp_path / "hw.ipynb"
    nb.write_bytes(make_notebook([("code", "ANSWER = 42")]))
    with serve_app(lambda: create_app(fake, type("C", (), {"max_upload_bytes": 100_000})())) as base:
        rows, total = upload_and_wait_for_table(driver, base, "s1", nb)
        assert total == "2.0"
        page = driver.current_url
        cookie = driver.get_cookie(COOKIE_NAME)
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["value"].startswith("s1:")

        driver.get(driver.find_element(By.ID, "feedback").get_attribute("href"))
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        assert "Feedback" in driver.find_element(By.TAG_NAME, "h1").text

        driver.get(f"{base}/submissions/{other.id}")  # s2's submission
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "denied")))
        assert "Нет доступа" in driver.page_source and "Feedback" not in driver.page_source

        driver.delete_all_cookies()
        driver.get(page)
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "login-form")))
        assert not driver.find_elements(By.ID, "total")
        driver.find_element(By.ID, "student_id").send_keys("s1")
        driver.find_element(By.ID, "code").send_keys(fake_code("s1").upper())
        driver.find_element(By.ID, "login").click()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "total")))
        assert driver.current_url == page and read_table(driver) == (rows, total)
