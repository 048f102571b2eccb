"""The two packages' layout (issue #28): the student package is a leaf, and no import cycle.

* the student package (``parcel_utils``) never imports the instructor's (``parcel_course``): no
  ``import`` of it anywhere in a file (lazy imports included), and no module name of it handed to
  ``importlib``/``__import__`` as a string; the instructor's own runs reach the registry through the
  entry point ``parcel_utils.registry`` that ``pyproject.toml`` registers;
* no import cycle in the graph of both packages' modules (an ``__init__`` importing its own
  submodules excepted), lazy imports included;
* one folder per assignment, named after it, holding its checks and its reference answers.
"""
from __future__ import annotations

import ast
import doctest
import re
from pathlib import Path

import pytest

from parcel_course import registry
from parcel_course.assignments import NAMES, PARTS, load

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("parcel_course", "parcel_utils")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set:
    """Modules that ``path`` imports, anywhere in the file (lazy imports included), as dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None)
                     in ("__import__", "import_module")):
            out.add(node.args[0].value)
    return out


def _files() -> dict:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _graph() -> dict:
    files = _files()
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def _cycles(graph: dict) -> list:
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(graph[m]):
            # a package's __init__ importing its own submodules is how packages work, not a cycle
            if m.startswith(n + ".") or n.startswith(m + "."):
                continue
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_cycle_across_both_packages():
    graph = _graph()
    assert len(graph) > 30 and any(m.startswith("parcel_utils") for m in graph)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    # the cycle this issue removed: attest -> registry -> attest
    assert _cycles({"parcel_utils.attest": {"parcel_course.registry"},
                    "parcel_course.registry": {"parcel_utils.attest"}}) != []


def test_the_student_package_is_a_leaf():
    hits = {}
    for path in (ROOT / "parcel_utils").rglob("*.py"):
        bad = sorted(i for i in _imports(path) if re.match(r"parcel_course(\.|$)", i))
        if bad:
            hits[str(path.relative_to(ROOT))] = bad
    assert hits == {}, f"the student package imports the instructor's: {hits}"


def test_the_leaf_check_sees_lazy_and_string_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    pkg = tmp_path / "parcel_utils"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from parcel_course import registry\n")
    (pkg / "b.py").write_text("import importlib\nM = importlib.import_module('parcel_course.registry')\n")
    assert "parcel_course" in _imports(pkg / "a.py")
    assert "parcel_course.registry" in _imports(pkg / "b.py")


def test_the_instructor_registers_its_registry_as_the_students_plugin():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."parcel_utils.registry"]' in text
    assert 'parcel_course = "parcel_course.registry"' in text
    from parcel_utils.attest import REGISTRY_ENTRY_POINT, _instructor
    assert REGISTRY_ENTRY_POINT == "parcel_utils.registry"
    registry = _instructor()          # installed here (make install): found through the entry point
    assert registry is not None and registry.find("correlate2d_valid").cell == "test_correlate2d_valid"


@pytest.mark.parametrize("assignment", NAMES)
def test_each_assignment_folder_holds_its_parts_and_its_examples_hold(assignment):
    """``checks.py`` and ``reference.py`` in ``parcel_course/assignments/<assignment>/``, its notebooks in
    ``source/<assignment>/``, every check of its ``CHECKS`` declared there, and the examples of both modules true
    (pytest's ``--doctest-modules`` cannot import a package whose name starts with a digit)."""
    folder = ROOT / "parcel_course" / "assignments" / assignment
    assert sorted(p.name for p in folder.glob("*.py")) == ["__init__.py", "checks.py", "reference.py"]
    assert list((ROOT / "source" / assignment).glob("*.src.py"))
    checks = load(assignment)
    assert checks.ASSIGNMENT == assignment and checks.CHECKS
    assert {c.key for c in checks.CHECKS} == {c.key for c in registry.checks_of(assignment)}
    for part in PARTS:
        module = load(assignment, part)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, f"{module.__name__}: {result.failed} failing example(s)"
        assert result.attempted > 0, f"{module.__name__} shows no example"


# ---------------------------------------------------------------- short functions, imports at the top (#28)

#: The longest a function of either package may be (lines, its decorators excluded, its docstring included).
MAX_FUNCTION_LINES = 80


def _long_functions(root: Path = None, limit: int = MAX_FUNCTION_LINES) -> list:
    """``"path:name (n lines)"`` of every function of both packages longer than ``limit`` lines."""
    root = ROOT if root is None else root
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > limit:
                        out.append(f"{path.relative_to(root).as_posix()}:{node.name} ({n} lines)")
    return out


def _unexplained_lazy_imports(root: Path = None) -> list:
    """``"path:line"`` of every import inside a function with no comment on its line or the line above.

    A module imports at its top; one that imports inside a function says why
    (``# lazy: <why>``: an optional or heavy dependency, a cycle avoided).
    """
    root = ROOT if root is None else root
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            lines = path.read_text().splitlines()
            seen = set()
            for fn in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in seen:
                        seen.add(node.lineno)
                        line, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
                        if "#" not in line and not above.strip().startswith("#"):
                            out.append(f"{path.relative_to(root).as_posix()}:{node.lineno}")
    return out


def test_no_function_over_80_lines():
    assert _long_functions() == [], (f"functions over {MAX_FUNCTION_LINES} lines: split them into named steps: "
                                     f"{_long_functions()}")


def test_every_import_inside_a_function_says_why():
    bad = _unexplained_lazy_imports()
    assert bad == [], ("imports inside a function without a comment: move them to the module's top, or say on "
                       f"the line (`# lazy: <why>`) why they stay: {bad}")


def test_the_layout_guards_find_a_long_function_and_a_silent_lazy_import(tmp_path):
    pkg = tmp_path / "parcel_course"
    pkg.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (pkg / "a.py").write_text(f"def long():\n{body}\n\ndef short():\n    return 1\n")
    (pkg / "b.py").write_text("import os\n\n\ndef f():\n    import json\n    import keras   # lazy: TensorFlow\n"
                              "    # lazy: scikit-learn is heavy\n    import sklearn\n    return json\n")
    assert _long_functions(tmp_path) == [f"parcel_course/a.py:long ({MAX_FUNCTION_LINES + 1} lines)"]
    assert _unexplained_lazy_imports(tmp_path) == ["parcel_course/b.py:5"]
