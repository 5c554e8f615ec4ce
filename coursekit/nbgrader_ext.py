"""nbgrader extension used by nbgrader_config.py: solution regions that name their own release stub, and the
trusted-grading preprocessors for autograding (coursekit.trusted.execute).

A region opened with ``### BEGIN SOLUTION`` becomes nbgrader's ``ClearSolutions.code_stub`` in the release, as
usual. A region opened with ``### BEGIN SOLUTION  # stub: <python line>`` becomes

    # ВАШ КОД ЗДЕСЬ (необязательно)
    <python line>

instead. The course uses it for optional methods: the released ``backward`` of a layer is
``return super().backward(input_data, grad_output)``, so a student who only writes the Jacobians still gets a
working layer (the base ``Layer.backward`` derives the product from them). ``# stub: <line>  # why: <reason>``
puts the reason into the note: ``# ВАШ КОД ЗДЕСЬ (необязательно: <reason>)``.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import (
    CheckCellMetadata,
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

from nbgrader.preprocessors import AssignLatePenalties, LimitOutput

from coursekit.trusted.execute import RebuildFromCourse, SaveTrustedGrades, TrustedExecute

STUB_MARK = "# stub:"
OPTIONAL_NOTE = "# ВАШ КОД ЗДЕСЬ (необязательно)"
WHY_MARK = "# why:"
_CUSTOM = re.compile(
    r"^(?P<indent>\s*)###\s*BEGIN SOLUTION\s*" + re.escape(STUB_MARK) + r"\s*(?P<stub>.+?)"
    r"(?:\s*" + re.escape(WHY_MARK) + r"\s*(?P<why>.+?))?\s*$"
)


def split_custom_stub(line: str) -> tuple[str, str] | None:
    """Return (indent, stub code) if `line` opens a region with its own stub, else None."""
    match = _CUSTOM.match(line)
    if match is None:
        return None
    return match.group("indent"), match.group("stub")


def optional_note(line: str) -> str:
    """The release's comment above the stub of the optional region opened by `line`."""
    why = _CUSTOM.match(line).group("why")
    return OPTIONAL_NOTE if why is None else OPTIONAL_NOTE[:-1] + ": " + why + ")"


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
                stub = default if custom is None else [optional_note(line), custom[1]]
                new_lines.extend(indent + stub_line for stub_line in stub)
            elif self.end_solution_delimeter in line:
                in_solution = False
            elif not in_solution:
                new_lines.append(line)
        if in_solution:
            raise RuntimeError("no end solution statement found")
        cell.source = "\n".join(new_lines)
        return replaced


AUTOGRADE_SANITIZE_PREPROCESSORS = [RebuildFromCourse, CheckCellMetadata]

# nbgrader 0.9.6's Autograde.autograde_preprocessors with Execute and SaveAutoGrades replaced by the trusted ones
AUTOGRADE_PREPROCESSORS = [TrustedExecute, LimitOutput, SaveTrustedGrades, AssignLatePenalties, CheckCellMetadata]

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
