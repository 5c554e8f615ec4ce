"""The instructor area in headless Chromium on the REAL core (tiny course, bubblewrap sandbox, one worker).

The course starts with a broken hidden test (``mul(3, 4) == 13``), so an honest submission scores 2 of 5. A
student's browser is refused; the instructor logs in, sees the class, fixes the test, presses "Перепроверить
всё", watches the progress page and finds the new score (5 of 5) in the class table and in nbgrader's export of
the course gradebook, then opens the statistics page (its plots). Screenshots go to a temporary directory, or to
``$NUMNET_SCREENSHOTS`` when set: ``make screenshots`` writes docs/images/ (docs/instructor.md shows them), so an
ordinary test run leaves the tree as it was.
"""

import csv
import os
from pathlib import Path

import nbformat
import pytest

from test_web_browser import start_chromium
from test_web_support import serve_app

import tinycourse as tc
from gradebot.core.service import GradingService
from gradebot.frontends.web import create_app

PASSWORD = "teach-secret-42"
# [ids used twice, references (url(#id), href="#id") inside the plots, those not resolving in their own plot]
ID_CHECK = """
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
const duplicates = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
let references = 0;
const elsewhere = [];
for (const el of document.querySelectorAll('.gb-stats svg *')) {
  for (const attr of el.attributes) {
    const m = attr.value.match(/url\\(#([^)]+)\\)/) || (attr.name.endsWith('href') && attr.value.match(/^#(.+)$/));
    if (!m) continue;
    references++;
    const target = document.getElementById(m[1]);
    if (!target || target.closest('svg') !== el.closest('svg')) elsewhere.push(m[1]);
  }
}
return [duplicates, references, elsewhere];
"""
GRADING_TIMEOUT = 240


def write_course_notebook(config, mul_expected: int) -> None:
    """The tiny course's source notebook with the hidden test asserting ``mul(3, 4) == mul_expected``."""
    nb = tc.source_notebook()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "part2_mul__hidden":
            assert "mul(3, 4) == 12" in cell.source
            cell.source = cell.source.replace("mul(3, 4) == 12", f"mul(3, 4) == {mul_expected}")
    nbformat.write(nb, str(config.source_notebook))


def class_cells(driver, student_id):
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.CSS_SELECTOR, f'#class tr.student[data-student="{student_id}"]')
    return {cls: row.find_element(By.CSS_SELECTOR, f"td.{cls}").text for cls in ("counted", "best", "latest")}


@pytest.fixture
def course(make_config):
    config = make_config(workers=1, instructor_password=PASSWORD)
    write_course_notebook(config, 13)  # the broken test
    return config


def test_instructor_regrades_after_a_test_fix(course, roster_csv, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    config = course
    svc = GradingService(config)
    codes = {ic.student_id: ic.code for ic in svc.import_roster(roster_csv).issued}
    svc.start()
    images = Path(os.environ.get("NUMNET_SCREENSHOTS") or tmp_path / "images")
    images.mkdir(parents=True, exist_ok=True)
    driver = start_chromium(tmp_path)
    driver.set_window_size(1280, 800)
    try:
        honest = svc.submit("s1", "tiny.ipynb", tc.submission(), source="web")
        unsolved = svc.submit("s2", "tiny.ipynb", tc.submission(solved=False), source="web")
        assert svc.wait(honest.id, GRADING_TIMEOUT).result.total == 2.0  # the broken test fails it
        assert svc.wait(unsolved.id, GRADING_TIMEOUT).result.total == 0.0
        with serve_app(lambda: create_app(svc, config)) as base:
            # a student (logged in with their own code) is refused: the instructor login page, no class table
            driver.get(f"{base}/submissions/{honest.id}")
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "login-form")))
            driver.find_element(By.ID, "student_id").send_keys("s1")
            driver.find_element(By.ID, "code").send_keys(codes["s1"])
            driver.find_element(By.ID, "login").click()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "total")))
            driver.get(f"{base}/instructor/class")
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "instructor-login")))
            assert not driver.find_elements(By.ID, "class")
            driver.get(f"{base}/api/instructor/class")
            assert "login_required" in driver.page_source and "s2" not in driver.page_source
            driver.delete_all_cookies()

            # the instructor logs in and sees the class
            driver.get(f"{base}/instructor/class")
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "password")))
            driver.find_element(By.ID, "password").send_keys("wrong-password")
            driver.find_element(By.ID, "login").click()
            error = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "error")))
            assert "Неверный пароль" in error.text
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.save_screenshot(str(images / "instructor_login.png"))
            driver.find_element(By.ID, "login").click()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "class")))
            rows = driver.find_elements(By.CSS_SELECTOR, "#class tr.student")
            assert [r.get_attribute("data-student") for r in rows] == ["s1", "s2", "s3"]
            assert class_cells(driver, "s1") == {"counted": "2", "best": "2", "latest": "2"}
            assert class_cells(driver, "s2")["counted"] == "0" and class_cells(driver, "s3")["counted"] == "-"
            driver.find_element(By.CSS_SELECTOR, '#class tr.student[data-student="s1"] details summary').click()
            driver.save_screenshot(str(images / "instructor_class.png"))

            # fix the test, regrade everything, watch the progress page until it is complete
            write_course_notebook(config, 12)
            driver.find_element(By.ID, "regrade-all").click()
            WebDriverWait(driver, 10).until(EC.url_contains("/instructor/regrade/"))
            assert driver.find_element(By.ID, "progress").get_attribute("data-total") == "2"
            WebDriverWait(driver, 2 * GRADING_TIMEOUT).until(EC.presence_of_element_located((By.ID, "complete")))
            assert driver.find_element(By.ID, "progress").get_attribute("data-done") == "2"
            driver.save_screenshot(str(images / "instructor_regrade.png"))
            driver.find_element(By.ID, "to-class").click()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "class")))
            assert class_cells(driver, "s1") == {"counted": "5", "best": "5", "latest": "5"}
            assert class_cells(driver, "s2")["counted"] == "0"

            # the statistics page: four plots drawn on the server, the per-test table with the fixed test passed
            driver.get(f"{base}/instructor/stats")
            WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "gb-test-part2_mul__hidden")))
            assert len(driver.find_elements(By.CSS_SELECTOR, ".gb-stats svg")) == 4
            # as the browser resolves them: no id twice in the page, each plot's clip paths and markers in that plot
            duplicates, references, elsewhere = driver.execute_script(ID_CHECK)
            assert duplicates == [] and elsewhere == [] and references >= 8
            driver.execute_script("document.querySelector('.gb-stats svg').scrollIntoView()")  # the plots
            driver.save_screenshot(str(images / "instructor_stats.png"))

        # the counted attempt in the course gradebook followed the new result
        exported = {r["student_id"]: r for r in csv.DictReader(svc.export_grades_csv(tmp_path / "g.csv").open())}
        assert float(exported["s1"]["score"]) == 5.0 and float(exported["s2"]["score"]) == 0.0
        assert [h["result"].total for h in svc.regrade_history(honest.id)] == [2.0]
    finally:
        driver.quit()
        svc.stop()
