"""nbgrader extension used by nbgrader_config.py: solution regions that name their own release stub, and the
refusal of notebooks whose editable cells tamper with the tests (RefuseTamperedTests, see coursekit.integrity).

A region opened with ``### BEGIN SOLUTION`` becomes nbgrader's ``ClearSolutions.code_stub`` in the release, as
usual. A region opened with ``### BEGIN SOLUTION  # stub: <python line>`` becomes

    # ВАШ КОД ЗДЕСЬ (необязательно)
    <python line>

instead. The course uses it for optional methods: the released ``backward`` of a layer is
``return super().backward(input_data, grad_output)``, so a student who only writes the Jacobians still gets a
working layer (the base ``Layer.backward`` derives the product from them).
"""
import re

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.preprocessors import (
    CheckCellMetadata,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    SaveCells,
)

from coursekit import integrity

STUB_MARK = "# stub:"
OPTIONAL_NOTE = "# ВАШ КОД ЗДЕСЬ (необязательно)"
_CUSTOM = re.compile(r"^(?P<indent>\s*)###\s*BEGIN SOLUTION\s*" + re.escape(STUB_MARK) + r"\s*(?P<stub>.+?)\s*$")


def split_custom_stub(line):
    """Return (indent, stub code) if `line` opens a region with its own stub, else None."""
    match = _CUSTOM.match(line)
    if match is None:
        return None
    return match.group("indent"), match.group("stub")


class ClearSolutionsWithStubs(ClearSolutions):
    """ClearSolutions that honours ``### BEGIN SOLUTION  # stub: <code>`` (see the module docstring)."""

    def _replace_solution_region(self, cell, language):
        if cell.cell_type != "code" or STUB_MARK not in cell.source:
            return super()._replace_solution_region(cell, language)
        # nbgrader's own algorithm (0.9.6), with the stub chosen per region
        default = self.code_stub[language].split("\n")
        new_lines, in_solution, replaced = [], False, False
        for line in cell.source.split("\n"):
            if self.begin_solution_delimeter in line:
                if in_solution:
                    raise RuntimeError("encountered nested begin solution statements")
                in_solution = replaced = True
                custom = split_custom_stub(line)
                indent = re.match(r"\s*", line).group(0)
                stub = default if custom is None else [OPTIONAL_NOTE, custom[1]]
                new_lines.extend(indent + stub_line for stub_line in stub)
            elif self.end_solution_delimeter in line:
                in_solution = False
            elif not in_solution:
                new_lines.append(line)
        if in_solution:
            raise RuntimeError("no end solution statement found")
        cell.source = "\n".join(new_lines)
        return replaced


class OverwriteCellsKeepingOrder(OverwriteCells):
    """OverwriteCells whose ``add_missing_cells`` works after read-only cells and also restores deleted
    read-only code cells.

    nbgrader 0.9.6 puts a deleted test cell back after the source cell just before it, but looks that cell up
    among the submitted grade/solution cells only: when a read-only (locked) cell precedes the test cell, the
    lookup raises KeyError and the whole submission fails to grade. Here the cell goes after the nearest
    earlier source cell of any kind that the submission still has (or first, if none).

    nbgrader never restores a deleted read-only cell that is not a test. For code cells that matters: a
    submission without the test-helpers cell could define no-op helpers of its own. They are put back too."""

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = list(source_nb.source_cells)
        source_ids = [cell.name for cell in source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        max_scores = {cell.name: cell.max_score for cell in source_nb.grade_cells}
        for source_cell in source_cells:
            is_grade = source_cell.name in max_scores
            if not (is_grade or (source_cell.locked and source_cell.cell_type == "code")):
                continue
            present = {cell.metadata["nbgrader"].get("grade_id"): i for i, cell in enumerate(nb.cells)
                       if "nbgrader" in cell.metadata}
            if source_cell.name in present:
                continue
            self.log.warning("Missing %s cell %s encountered, adding to notebook",
                             "grade" if is_grade else "read-only", source_cell.name)
            index = source_ids.index(source_cell.name)
            if is_grade:
                cell = self.missing_cell_transform(source_cell, max_scores[source_cell.name],
                                                   is_solution=source_cell.name in solution_ids)
            else:
                cell = self._restored_locked_cell(source_cell, {c.get("id") for c in nb.cells})
            position = 0
            for previous in reversed(source_ids[:index]):
                if previous in present:
                    position = present[previous] + 1
                    break
            nb.cells.insert(position, cell)
        return nb, resources

    def _restored_locked_cell(self, source_cell, taken_ids):
        note = self.missing_cell_notification.format(cell_id=source_cell.name)
        cell = nbformat.v4.new_code_cell("# " + note + source_cell.source)
        cell.metadata = {"deletable": False, "editable": False,
                         "nbgrader": {"grade": False, "grade_id": source_cell.name, "locked": True,
                                      "schema_version": 3, "solution": False}}
        cell_id, n = source_cell.name.replace("_", "-"), 1
        while cell_id in taken_ids:                  # nbformat requires unique cell ids
            cell_id, n = "%s-restored-%d" % (source_cell.name.replace("_", "-"), n), n + 1
        cell.id = cell_id
        return cell


REFUSAL_CELL_ID = "grading-refused"   # a markdown cell with this id heads a refused notebook (gradebot reads it)


class RefuseTamperedTests(NbGraderPreprocessor):
    """Runs after the test cells are restored: if a cell the student may edit tampers with the tests
    (coursekit.integrity), every test cell is replaced by a ``raise`` with the findings, so the notebook scores 0
    and says why, and a markdown cell with the same text (id ``grading-refused``) is put first."""

    def preprocess(self, nb, resources):
        try:
            findings = integrity.check_notebook(nb)
        except ValueError:          # not a course notebook with the test-helpers cell: nothing to check against
            return nb, resources
        if not findings:
            return nb, resources
        message = integrity.refusal_message(findings)
        self.log.warning("refusing to grade: %d tampering finding(s)\n%s", len(findings), message)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.source = "raise RuntimeError(%r)" % message
        title, _, details = message.partition("\n")
        notice = nbformat.v4.new_markdown_cell("**%s**\n\n```\n%s\n```" % (title, details))
        notice.id = REFUSAL_CELL_ID
        nb.cells.insert(0, notice)
        return nb, resources


AUTOGRADE_SANITIZE_PREPROCESSORS = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCellsKeepingOrder,
    RefuseTamperedTests,
    CheckCellMetadata,
]

GENERATE_ASSIGNMENT_PREPROCESSORS = [
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    ClearSolutionsWithStubs,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    SaveCells,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
]
