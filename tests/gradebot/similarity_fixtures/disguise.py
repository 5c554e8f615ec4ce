"""Disguises of a copied notebook, as a student hiding a copy would make them: renamed variables, reordered
methods, changed comments. Used by tests/gradebot/test_similarity.py and benchmarks/bench_similarity.py."""

from __future__ import annotations

import ast
import copy
import io
import random
import tokenize

import nbformat

# local variable names of the reference solution -> other names (attributes and API names are left alone)
RENAMES = {
    "x": "inp",
    "grad": "delta",
    "current": "act",
    "inputs": "cache",
    "e": "ex",
    "p": "probs",
    "y": "target",
    "g": "gr",
    "n": "count",
    "eye": "ident",
    "views": "windows",
    "out": "res",
    "params": "weights",
    "grads": "gradients",
    "m": "mom",
    "v": "vel",
    "lr": "step",
    "k": "ksize",
    "h": "height",
    "w": "width",
    "param_grads": "pgrads",
    "layer": "lay",
    "loss": "crit",
}


def rename_variables(source: str, renames: dict[str, str] = RENAMES) -> str:
    """Rename NAME tokens (not attributes after '.', not keyword arguments) with ``renames``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source
    out, prev, depth = [], None, 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        keyword_arg = depth > 0 and nxt is not None and nxt.string == "=" and prev is not None and prev.string in ",("
        if (
            tok.type == tokenize.NAME
            and tok.string in renames
            and not (prev and prev.string == ".")
            and not keyword_arg
        ):
            tok = tok._replace(string=renames[tok.string])
        out.append(tok)
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok
    return tokenize.untokenize(out)


def reorder_methods(source: str, rng: random.Random | None = None) -> str:
    """Every class's methods in reversed (or, with ``rng``, shuffled) order; other lines stay where they are."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    for cls in sorted((n for n in tree.body if isinstance(n, ast.ClassDef)), key=lambda n: -n.lineno):
        methods = [n for n in cls.body if isinstance(n, ast.FunctionDef)]
        if len(methods) < 2:
            continue
        spans = []
        for k, node in enumerate(methods):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = (
                methods[k + 1].lineno - 1 - len(methods[k + 1].decorator_list)
                if k + 1 < len(methods)
                else _block_end(lines, node)
            )
            spans.append((start, end))
        blocks = [lines[s:e] for s, e in spans]
        blocks = [b + [""] if b and b[-1].strip() else b for b in blocks]
        order = list(range(len(blocks)))
        if rng is None:
            order.reverse()
        else:
            rng.shuffle(order)
        new = [line for k in order for line in blocks[k]]
        lines[spans[0][0] : spans[-1][1]] = new
    return "\n".join(lines)


def _block_end(lines: list[str], node: ast.FunctionDef) -> int:
    """The line after ``node``'s body, trailing comments at the body's indentation included."""
    end, indent = node.end_lineno, node.col_offset
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    while end > node.end_lineno and not lines[end - 1].strip():
        end -= 1
    return end


def change_comments(source: str, text: str = "мой комментарий") -> str:
    """Every comment replaced by ``text``, and a new comment line above every ``return``."""
    out = []
    for line in source.split("\n"):
        stripped = line.lstrip()
        code, hash_, _ = line.partition("#")
        if hash_ and "'" not in code and '"' not in code and "BEGIN" not in line and "END" not in line:
            line = code + "# " + text if code.strip() else code + "# " + text
        if stripped.startswith("return "):
            out.append(line[: len(line) - len(stripped)] + "# " + text)
        out.append(line)
    return "\n".join(out)


def disguise(
    nb: nbformat.NotebookNode,
    solution_ids: set[str],
    rng: random.Random | None = None,
    renames: dict[str, str] = RENAMES,
) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution cell disguised (variables renamed, methods reordered, comments
    changed)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in solution_ids:
            cell.source = change_comments(reorder_methods(rename_variables(cell.source, renames), rng))
    return nb
