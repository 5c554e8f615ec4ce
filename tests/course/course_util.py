"""Small helpers of the course tests."""


def cell(nb, grade_id):
    """The cell of `nb` whose nbgrader grade_id is `grade_id`."""
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)
