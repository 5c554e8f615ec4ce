"""Source code of numnet_ref objects with nbgrader solution regions around the bodies students write.

``object_source("dense.DenseLayer", regions={"forward": REQUIRED, "backward": "return super()..."})`` returns
the class' source exactly as written in numnet_ref, except that each named method's body (after its docstring)
sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. A region with a stub string is optional: its BEGIN
line carries ``# stub: <code>`` (see coursekit.nbgrader_ext), which is what the release shows instead; a stub
given as ``(code, reason)`` adds ``  # why: <reason>``, the release's note on why the method is optional.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

REQUIRED = None  # region whose release stub is nbgrader's default (raise NotImplementedError())
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "  # stub: "
WHY = "  # why: "


def _resolve(dotted):
    module_name, _, attr = dotted.partition(".")
    module = importlib.import_module("numnet_ref." + module_name)
    return getattr(module, attr) if attr else module


def begin_line(indent: str, stub: str | tuple[str, str] | None) -> str:
    if stub is REQUIRED:
        return indent + BEGIN
    code, why = (stub, None) if isinstance(stub, str) else stub
    return indent + BEGIN + STUB + code + ("" if why is None else WHY + why)


def _body_span(func, lines):
    """(first, last) 0-based line indexes of the body of `func` after its docstring, leading comments included."""
    body = func.body
    if (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        if len(body) == 1:
            raise ValueError(f"{func.name} has only a docstring: nothing to put in a solution region")
        doc_end = body[0].end_lineno  # 1-based last line of the docstring
        first = doc_end  # 0-based: the line after the docstring
    else:
        first = body[0].lineno - 1
        while first - 1 >= 0 and lines[first - 1].strip().startswith("#") and first - 1 >= func.lineno:
            first -= 1
    return first, func.end_lineno - 1


def with_regions(source: str, regions: dict[str, str | tuple[str, str] | None]) -> str:
    """`source` (a class or a function, not indented) with solution regions around the named bodies."""
    lines = source.split("\n")
    tree = ast.parse(source)
    node = tree.body[0]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        funcs = {node.name: node}
    else:
        funcs = {f.name: f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    unknown = set(regions) - set(funcs)
    if unknown:
        raise ValueError(f"no such methods for solution regions: {sorted(unknown)} (have {sorted(funcs)})")
    spans = sorted((_body_span(funcs[name], lines), name) for name in regions)
    out, pos = [], 0
    for (first, last), name in spans:
        while first < last and not lines[first].strip():  # blank line right after the docstring
            first += 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        out.extend(lines[pos:first])
        out.append(begin_line(indent, regions[name]))
        out.extend(lines[first : last + 1])
        out.append(indent + END)
        pos = last + 1
    out.extend(lines[pos:])
    return "\n".join(out)


def object_source(dotted: str, regions: dict[str, str | tuple[str, str] | None] | None = None) -> str:
    """Source of numnet_ref object `dotted` ("module.Name"), with solution regions (method name -> stub)."""
    source = textwrap.dedent(inspect.getsource(_resolve(dotted))).rstrip("\n")
    return with_regions(source, regions) if regions else source


def region_block(code: str, stub: str | tuple[str, str] | None) -> str:
    """A whole block (e.g. helper functions at module level) as one solution region."""
    return "\n".join([begin_line("", stub), code, END])


def module_imports(module_name: str) -> str:
    """The absolute imports of numnet_ref.<module_name> (relative ones are the notebook's other cells)."""
    module = _resolve(module_name)
    tree = ast.parse(inspect.getsource(module))
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level):
            out.append(ast.get_source_segment(inspect.getsource(module), node))
    return "\n".join(out)
