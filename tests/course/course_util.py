"""Small helpers of the course tests."""


def cell(nb, grade_id):
    """The cell of `nb` whose nbgrader grade_id is `grade_id`."""
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def hidden_lines(source_nb):
    """Distinctive code lines of the hidden tests of the source notebook (none that occur outside them)."""
    hidden, shown = set(), set()
    for c in source_nb.cells:
        inside = False
        for line in c.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            else:
                (hidden if inside else shown).add(line.strip())
    shown_text = "\n".join(shown)
    return {line for line in hidden if len(line) > 25 and line not in shown_text}
