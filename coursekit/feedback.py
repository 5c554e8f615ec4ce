"""Feedback HTML for a student without the code of hidden tests (nbgrader's own feedback shows it).

    from coursekit.feedback import safe_feedback
    html = safe_feedback("autograded/alice/numnet/numnet.ipynb")      # or a NotebookNode

    python -m coursekit.feedback autograded/alice/numnet/numnet.ipynb -o alice.html

In every graded test cell the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are replaced
by a short note (in Russian); errors raised in such cells keep only ``ExceptionType: message`` (a traceback would
quote hidden lines). Visible test code and all outputs stay. A summary table of points per task heads the page:
a test cell earns its points when it ran without an error, which is how nbgrader scores code test cells (pass
``scores`` to show the gradebook's numbers instead).
"""
import argparse
import copy
import html
import re
import sys

import nbformat

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_NOTE = "# ... скрытые тесты: их код не показывается, результат - в выводе ячейки ниже ..."
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

TASK_TITLES = {
    "part1_forward": "1. Прямой проход",
    "part2_grad_x": "2. Производные по входу",
    "part3_training": "3. Градиенты по параметрам и обучение",
    "bonus_conv": "Бонус: свёрточный слой",
    "bonus_conv_tr": "Бонус: транспонированная свёртка",
    "bonus_optimizer": "Бонус: оптимизаторы",
}


def _is_test_cell(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def strip_hidden(source):
    """(source without hidden-test regions, whether there were any)."""
    out, hidden, found = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            if hidden:
                raise ValueError("nested hidden-test regions")
            hidden = found = True
            out.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            out.append(line)
    # an unterminated region hides everything after its BEGIN line (hidden code is never shown)
    return "\n".join(out), found


def cell_points(nb):
    """[(grade_id, points earned, max points)] for the test cells, by nbgrader's rule (no error = full points)."""
    rows = []
    for cell in nb.cells:
        if _is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            failed = any(out.get("output_type") == "error" for out in cell.get("outputs", []))
            maximum = float(meta.get("points", 0))
            rows.append((meta["grade_id"], 0.0 if failed else maximum, maximum))
    return rows


def task_scores(nb):
    """{task: {"points": .., "max": ..}} from the outputs of an autograded notebook."""
    tasks = {}
    for grade_id, points, maximum in cell_points(nb):
        task = grade_id.split("__")[0]
        entry = tasks.setdefault(task, {"points": 0.0, "max": 0.0})
        entry["points"] += points
        entry["max"] += maximum
    return tasks


def sanitize(nb):
    """A copy of `nb` with hidden-test code removed and the tracebacks of those cells cut to one line."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if not _is_test_cell(cell):
            continue
        cell.source, had_hidden = strip_hidden(cell.source)
        if not had_hidden:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename, evalue = _ANSI.sub("", out.get("ename", "")), _ANSI.sub("", out.get("evalue", ""))
                out["ename"], out["evalue"] = ename, evalue
                out["traceback"] = ["%s: %s" % (ename, evalue)]
    return nb


def test_rows(nb):
    """[(grade_id, points earned, max, message or '')] of the test cells, failed tests first. The message is the
    grader's (the error output's text); the trusted grader writes an error output exactly when a test failed."""
    rows = []
    for cell in nb.cells:
        if _is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            message = _ANSI.sub("", str(errors[0].get("evalue", ""))) if errors else ""
            maximum = float(meta.get("points", 0))
            rows.append((meta["grade_id"], 0.0 if errors else maximum, maximum, message))
    return sorted(rows, key=lambda r: r[1] >= r[2])


def _tests_html(nb):
    rows = "".join("<tr><td><code>%s</code></td><td style='text-align:right'>%g / %g</td><td>%s</td><td>%s</td></tr>"
                   % (html.escape(gid), got, maximum, "пройден" if got >= maximum else "не пройден",
                      html.escape(message[:600]))
                   for gid, got, maximum, message in test_rows(nb))
    return ("<h3>Тесты</h3><table><tr><th>Тест</th><th>Баллы</th><th>Итог</th><th>Сообщение проверяющей "
            "программы</th></tr>%s</table>" % rows)


def _summary_html(tasks):
    rows = []
    for task, entry in tasks.items():
        rows.append("<tr><td>%s</td><td style='text-align:right'>%g / %g</td></tr>"
                    % (html.escape(TASK_TITLES.get(task, task)), entry["points"], entry["max"]))
    total = sum(e["points"] for e in tasks.values())
    maximum = sum(e["max"] for e in tasks.values())
    return ("<h2>Результат проверки: %g из %g</h2><table><tr><th>Задание</th><th>Баллы</th></tr>%s</table>"
            "<p>Код скрытых тестов не показывается; что именно не прошло - в сообщениях об ошибках.</p>"
            % (total, maximum, "".join(rows)))


def safe_feedback(notebook, scores=None, title="Обратная связь: numnet"):
    """HTML feedback for an autograded notebook (path or NotebookNode) without hidden-test code.

    `scores` ({task: {"points", "max"}} or {task: points}) overrides the table computed from the outputs."""
    from nbconvert import HTMLExporter

    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    tasks = task_scores(notebook)
    if scores:
        for task, value in scores.items():
            entry = tasks.setdefault(task, {"points": 0.0, "max": 0.0})
            if isinstance(value, dict):
                entry.update({k: float(v) for k, v in value.items() if k in ("points", "max")})
            else:
                entry["points"] = float(value)
    nb = sanitize(notebook)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(_summary_html(tasks) + _tests_html(notebook)))
    nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def main(argv=None):
    parser = argparse.ArgumentParser(description="Feedback HTML without hidden-test code.")
    parser.add_argument("notebook", help="an autograded notebook, e.g. autograded/<student>/numnet/numnet.ipynb")
    parser.add_argument("-o", "--output", help="HTML file to write (default: print to stdout)")
    args = parser.parse_args(argv)
    try:
        page = safe_feedback(args.notebook)
    except (OSError, nbformat.reader.NotJSONError) as err:
        parser.error("cannot read the notebook %s: %s" % (args.notebook, err))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
        print("wrote %s" % args.output)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
