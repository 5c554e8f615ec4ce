"""Static check of the cells a student may edit: code that tampers with the tests is refused before it runs.

The test cells run in the same kernel as the student's code, so a solution cell could make every test pass
without an implementation: rebind a test helper (``def check_close(*a): pass``), shadow a builtin the tests use
(``all = lambda x: True``), patch a module (``np.allclose = ...``) or reach into the interpreter (``globals()``,
frames, ``builtins``). Before grading, every cell a student can edit (solution cells and cells they added) is
parsed and checked against the rules below; a notebook with findings is not graded (all its tests fail with a
message naming the cell, the line and what to change).

Rules (each finding names one):

    helper      a module-level binding (assignment, def, class, import, for/with/except target, del, or
                ``global`` in a function) of a name the test-helpers cell defines, or of a builtin that the
                read-only and test cells use
    module      assignment, augmented assignment or del of an attribute or item of an imported module (or of a
                plain alias of one: ``m = np``), or setattr/delattr on one
    import      importing a module that reaches into the interpreter (sys, builtins, gc, inspect, ...), or one
                that is neither standard library nor an installed package (a .py file the notebook wrote itself)
    introspect  globals/vars/locals/exec/eval/compile/__import__/get_ipython, other dunder names, frame/code
                attributes (``__globals__``, ``__code__``, ``f_back``, ...), ``allow_pickle=True``
    magic       an IPython magic other than matplotlib/time/timeit/precision/pip/autoreload (the Python code of
                %time/%timeit is checked too)

The test helpers add a run-time guard the static check cannot give: in grading mode every test cell first drops
from ``sys.path`` and ``sys.modules`` whatever is not the standard library or an installed package, so a
``keras/`` folder the notebook wrote next to itself never stands in for the Keras oracle.

It is a deny list against the known ways, not a proof: strings built at run time (``getattr(f, '__glob' +
'als__')``) get through. The sandbox still contains what gets through; instructors can run
``python -m coursekit.integrity NOTEBOOK.ipynb`` on any notebook.

    python -m coursekit.integrity submitted/*/numnet/numnet.ipynb    # print findings, exit 1 if any
"""
import argparse
import ast
import builtins
import sys
from dataclasses import dataclass

import nbformat

HELPERS_CELL = "test_helpers"   # grade_id of the read-only cell that defines the test helpers

ESCAPE_MODULES = frozenset({
    "builtins", "sys", "gc", "inspect", "importlib", "ctypes", "signal", "dis", "marshal", "runpy", "code",
    "codeop", "IPython", "ipykernel", "__main__", "traitlets", "pickle", "threading", "_thread",
})
INTROSPECTION_NAMES = frozenset({
    "globals", "vars", "locals", "exec", "eval", "compile", "__import__", "get_ipython", "__builtins__",
    "breakpoint",
})
INTERNAL_ATTRIBUTES = frozenset({
    "__globals__", "__code__", "__builtins__", "__subclasses__", "__closure__", "__defaults__",
    "__kwdefaults__", "__setattr__", "__delattr__", "__self__", "__func__", "__wrapped__",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "gi_frame", "cr_frame", "ag_frame",
})
SAFE_MAGICS = frozenset({"matplotlib", "time", "timeit", "precision", "pylab", "autoreload", "pip"})
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__file__", "__class__", "__debug__"})
COURSE_MODULES = frozenset({"mnist_loader"})    # shipped next to the notebook
BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def importable_modules():
    """Top-level names a student may import: the standard library, installed distributions, course modules.
    A module of the student's own (a .py file written next to the notebook) could run code no check sees."""
    import importlib.metadata
    return (frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
            | frozenset(importlib.metadata.packages_distributions()) | COURSE_MODULES)


@dataclass(frozen=True)
class Finding:
    cell: str       # grade_id of the cell, or "cell N" for a cell without nbgrader metadata
    line: int       # line in the cell, 1-based
    rule: str
    message: str    # Russian: what is wrong and what to do

    def __str__(self):
        return "%s, строка %d: %s" % (self.cell, self.line, self.message)


# ------------------------------------------------------------------------------------------------ names
def top_level_bindings(tree):
    """Names a module-level piece of code binds in the global namespace (not inside defs or classes)."""
    names = set()
    for node in _walk_module_scope(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(_import_binding(alias) for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def imported_names(tree):
    """Names bound by import statements anywhere in the code: {bound name: what it is bound to}."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound[_import_binding(alias)] = _import_target(node, alias)
    return bound


def _import_binding(alias):
    return alias.asname or alias.name.split(".")[0]


def _import_target(node, alias):
    """`import a.b` binds a (module a); `import a.b as c` binds module a.b; `from a import b` binds a.b."""
    if isinstance(node, ast.Import):
        return alias.name if alias.asname else alias.name.split(".")[0]
    return "%s.%s" % (node.module or "", alias.name)


def module_names(trees, known=()):
    """Imported names plus their plain aliases (``m = np``, ``r = np.random``) across all `trees`."""
    modules = set(known)
    for tree in trees:
        modules.update(imported_names(tree))
    assignments = [node for tree in trees for node in ast.walk(tree)
                   if isinstance(node, ast.Assign) and _is_plain_chain(node.value)]
    changed = True
    while changed:
        changed = False
        for node in assignments:
            if _base(node.value).id in modules:
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in modules:
                        modules.add(target.id)
                        changed = True
    return modules


def _walk_module_scope(tree):
    """ast.walk that does not enter function, class, lambda or comprehension bodies (their names are local)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _base(node):
    """The object an attribute/item chain hangs from: ``a.b[c].d`` -> Name a; ``getattr(m, 'x').y`` -> Name m."""
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "getattr" and node.args:
                node = node.args[0]
            else:
                node = func
        else:
            return node


def _is_plain_chain(node):
    """``m``, ``np.random``, ``sys.modules['numpy']``: names, attributes and items, no calls."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name)


# ------------------------------------------------------------------------------------------------ checking
class _Checker:
    def __init__(self, cell, protected, modules, used_builtins):
        self.cell, self.protected, self.findings = cell, protected, []
        self.modules, self.used_builtins = set(modules), used_builtins

    def add(self, node, rule, message):
        self.findings.append(Finding(self.cell, getattr(node, "lineno", 1), rule, message))

    def check(self, tree):
        self.modules = module_names([tree], self.modules)
        self._check_bindings(tree)
        for node in ast.walk(tree):
            self._check_node(node)
        return self.findings

    def _check_bindings(self, tree):
        for node in _walk_module_scope(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._binding(node, node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    name = _import_binding(alias)
                    if self.protected.get(name) != _import_target(node, alias):  # `import numpy as np` is fine
                        self._binding(node, name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self._binding(node, node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self._binding(node, node.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                for name in node.names:
                    self._binding(node, name)

    def _binding(self, node, name):
        if name in self.protected:
            self.add(node, "helper", "имя `%s` занято вспомогательными функциями тестов; назовите свою "
                                     "переменную или функцию иначе" % name)
        elif name in self.used_builtins:
            self.add(node, "helper", "имя `%s` - встроенная функция Python, которой пользуются тесты; не "
                                     "переопределяйте её на уровне ячейки, выберите другое имя" % name)

    def _check_node(self, node):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            for part in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                if isinstance(part, (ast.Attribute, ast.Subscript)):
                    self._module_mutation(node, part)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("setattr", "delattr") and node.args:
                base = _base(node.args[0])
                if isinstance(base, ast.Name) and (base.id in self.modules or base.id in self.protected):
                    self.add(node, "module", "`%s(%s, ...)` меняет модуль или функцию тестов; уберите этот вызов"
                             % (node.func.id, base.id))
            if node.func.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in INTERNAL_ATTRIBUTES:
                self._internal(node, node.args[1].value)
        if isinstance(node, ast.Call) and any(k.arg == "allow_pickle" and not (
                isinstance(k.value, ast.Constant) and not k.value.value) for k in node.keywords):
            self.add(node, "introspect", "`allow_pickle` загружает объекты, способные выполнить любой код; "
                                         "сохраняйте и загружайте массивы без него")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.level:
                modules = ["." * node.level + (node.module or "")]
            else:
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for module in modules:
                root = module.split(".")[0]
                if root in ESCAPE_MODULES:
                    self.add(node, "import", "модуль `%s` не нужен для задания (он даёт доступ к внутренностям "
                                             "интерпретатора и тестов); уберите импорт" % module)
                elif root not in _importable():
                    self.add(node, "import", "модуля `%s` нет ни в Python, ни среди установленных пакетов: при "
                                             "проверке есть только ноутбук, свои .py-файлы не используются; "
                                             "перенесите этот код в ноутбук" % module)
        elif isinstance(node, ast.Name) and node.id in INTROSPECTION_NAMES:
            self.add(node, "introspect", "`%s` не нужен для задания (он позволяет менять тесты); уберите его"
                     % node.id)
        elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id.endswith("__") \
                and node.id not in ALLOWED_DUNDER_NAMES:
            self.add(node, "introspect", "`%s` - служебное имя интерпретатора, заданию оно не нужно; уберите "
                                         "обращение к нему" % node.id)
        elif isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            self._internal(node, node.attr)
        elif isinstance(node, ast.Attribute) and node.attr == "__dict__" and self._is_module_rooted(node.value):
            self.add(node, "module", "`%s` открывает модуль или функцию тестов для изменений; уберите это "
                                     "обращение" % ast.unparse(node))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and node.args[1].value == "__dict__" and self._is_module_rooted(node.args[0]):
            self.add(node, "module", "`%s` открывает модуль или функцию тестов для изменений; уберите это "
                                     "обращение" % ast.unparse(node))

    def _is_module_rooted(self, node):
        base = _base(node)
        return isinstance(base, ast.Name) and (base.id in self.modules or base.id in self.protected)

    def _module_mutation(self, node, target):
        if self._is_module_rooted(target):
            self.add(node, "module", "присваивание в `%s`: менять модули (numpy, keras, ...) и функции тестов "
                                     "нельзя; храните свои данные в своих переменных" % ast.unparse(target))

    def _internal(self, node, attr):
        self.add(node, "introspect", "`%s` - внутренность интерпретатора, заданию она не нужна; уберите "
                                     "обращение к ней" % attr)


_IMPORTABLE = None


def _importable():
    global _IMPORTABLE
    if _IMPORTABLE is None:
        _IMPORTABLE = importable_modules()
    return _IMPORTABLE


def _ipython_to_python(source):
    """(python source, magic findings) for a cell that may contain IPython magics and shell escapes."""
    from IPython.core.inputtransformer2 import TransformerManager

    own = "_numnet_students_get_ipython_"        # the student's own get_ipython, told apart from the magics'
    python = TransformerManager().transform_cell(source.replace("get_ipython", own))
    if "get_ipython()" not in python:
        return python.replace(own, "get_ipython"), [], []
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return python.replace(own, "get_ipython"), [], []
    bad, bodies = [], []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == "get_ipython"):
            continue
        method = node.func.attr
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if method in ("system", "getoutput"):
            pass                                   # !shell: runs in the sandbox, cannot touch the kernel's state
        elif method == "run_line_magic" and args[:2] == ["load_ext", "autoreload"]:
            pass
        elif method in ("run_line_magic", "run_cell_magic") and args and args[0] in SAFE_MAGICS:
            if args[0] in ("time", "timeit"):
                line = _strip_magic_options(args[1] or "") if len(args) > 1 else ""
                bodies.append((node.lineno, line.replace(own, "get_ipython")))
                if method == "run_cell_magic" and len(args) > 2 and args[2]:
                    bodies.append((node.lineno, args[2].replace(own, "get_ipython")))
        else:
            name = args[0] if args and method.startswith("run_") else method
            bad.append((node.lineno, name))
    stripped = "\n".join(line if "get_ipython()" not in line else line[:len(line) - len(line.lstrip())] + "pass"
                         for line in python.split("\n"))          # same indentation: parses iff IPython's does
    return stripped.replace(own, "get_ipython"), bad, bodies


def _strip_magic_options(line):
    """`-n 10 -r 3 f(x)` -> `f(x)` (the options of %time/%timeit)."""
    words = line.split()
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in ("-n", "-r", "-p") and words:
            words.pop(0)
    return " ".join(words)


def check_source(source, cell="cell", protected=None, modules=(), used_builtins=BUILTIN_NAMES):
    """Findings for one cell's source. `protected`: {helper name: module path or None} (see protected_names);
    `used_builtins`: the builtins the tests use (rebinding another one, like `input`, harms nobody)."""
    protected = protected or {}
    python, bad_magics, bodies = _ipython_to_python(source)
    findings = [Finding(cell, line, "magic", "магическая команда `%%%s` при проверке запрещена (разрешены "
                                             "%s); уберите её" % (name, ", ".join(sorted(SAFE_MAGICS))))
                for line, name in bad_magics]
    for text, offset in [(python, 0)] + [(body, line - 1) for line, body in bodies]:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue                   # a cell with a syntax error runs nothing at all
        for f in _Checker(cell, protected, modules, used_builtins).check(tree):
            findings.append(Finding(f.cell, f.line + offset, f.rule, f.message))
    return sorted(set(findings), key=lambda f: (f.line, f.rule, f.message))


# ------------------------------------------------------------------------------------------------ notebooks
def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_student_cell(cell):
    """Code cells a student may change: solution cells and cells without nbgrader metadata (added by them)."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and not meta.get("locked") and not meta.get("grade")


def protected_names(nb):
    """{name: module path for imports, None otherwise} for every global the test-helpers cell binds."""
    for cell in nb.cells:
        if cell.cell_type == "code" and _nbgrader(cell).get("grade_id") == HELPERS_CELL:
            tree = ast.parse(cell.source)
            imports = imported_names(tree)
            return {name: imports.get(name) for name in top_level_bindings(tree)}
    raise ValueError("the notebook has no test-helpers cell (grade_id %r); is it the course notebook?"
                     % HELPERS_CELL)


def check_notebook(nb):
    """Findings for every student-editable code cell of a course notebook (nbformat v4 node)."""
    protected = protected_names(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    trees = []
    for cell in code_cells:
        try:
            trees.append(ast.parse(_ipython_to_python(cell.source)[0]))
        except SyntaxError:
            trees.append(None)
    modules = module_names([t for t in trees if t is not None])        # notebook-wide: `m = np` in one cell, `m.x = ...` in another
    used_builtins = frozenset(
        node.id for cell, tree in zip(code_cells, trees) if tree is not None and not is_student_cell(cell)
        for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in BUILTIN_NAMES)
    findings = []
    for index, cell in enumerate(nb.cells):
        if is_student_cell(cell):
            name = _nbgrader(cell).get("grade_id") or "ячейка %d" % (index + 1)
            findings.extend(check_source(cell.source, name, protected, modules, used_builtins))
    return findings


def refusal_message(findings):
    """The Russian text a refused notebook shows (in the first cell and in every test cell)."""
    lines = ["Работа не оценена: код в ячейках решения меняет тесты или их окружение.",
             "Исправьте указанные места и сдайте ноутбук снова:"]
    lines += ["  - %s" % f for f in findings]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
            findings = check_notebook(nb)
        except (OSError, ValueError) as exc:
            print("%s: cannot check: %s" % (path, exc))
            status = 2
            continue
        print("%s: %s" % (path, "ok" if not findings else "%d finding(s)" % len(findings)))
        for finding in findings:
            print("  [%s] %s" % (finding.rule, finding))
        if findings and status == 0:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
