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


def helpers_namespace(cell_source, folder):
    """A notebook-like namespace after the helpers cell ``cell_source`` ran in it, with ``numnet_testing`` imported
    from ``folder`` as in a student's kernel (the notebook's folder first on sys.path, a fresh import); sys.path and
    sys.modules are left as they were."""
    import sys

    saved = sys.modules.pop("numnet_testing", None)
    sys.path.insert(0, folder)
    try:
        namespace = {"__name__": "__main__"}
        exec(compile(cell_source, "test_helpers", "exec"), namespace)
    finally:
        sys.path.remove(folder)
        sys.modules.pop("numnet_testing", None)
        if saved is not None:
            sys.modules["numnet_testing"] = saved
    return namespace
