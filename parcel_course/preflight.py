"""Grading refuses to start rather than grade wrong.

A sandbox that cannot import the student package grades every submission zero, each kernel failing at
its first import, and nothing says so (a new term's copy of the course graded with the venv an
editable install made in last term's checkout: the sandbox does not show the folder the install points
at).  So every graded kernel checks itself before the notebook's first cell runs: in the fresh kernel,
before any of the student's code (:class:`parcel_course.preprocessors.sandboxed_execute.SandboxedExecute`
runs :func:`check_code` there and hands what it printed to :func:`judge`), that

- the student package and every library the notebook imports load, and the kernel can read the inputs
  the grader wrote for the notebook's first attested check;
- the grader's own verification (in the grader's process) passes the reference's values of one cheap
  attested check of the assignment.

If not, :func:`judge` raises :class:`GradingUnavailable` with one sentence: what the kernel cannot see
and how to fix it.  The verdict is kept for the process, so every later notebook of the assignment
fails at once with the same sentence.  This holds on every grading path (``parcel-course grade``'s
workers, plain ``nbgrader autograde``, formgrader): the check is part of the sandboxed Execute they all
compose.  ``parcel-course grade`` stops its batch at the first refusal and merges nothing
(:func:`parcel_course.grading.schedule.grade_all`).  The check costs no kernel of its own: the imports
it makes are those the notebook makes next.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
from parcel_utils.attest import encode_value

from . import registry
from .directory import CourseError
from .sandbox import python_paths

__all__ = ["GradingUnavailable", "MARK", "assignment_imports", "notebook_imports", "check_code", "read_answer",
           "judge", "known"]

MARK = "parcel-preflight:"
_DONE: dict = {}


class GradingUnavailable(CourseError):
    """The sandboxed kernel cannot run what the assignment needs: grading would score everyone zero."""


def assignment_imports(source_dir, names=None) -> list[str]:
    """The top-level modules the code cells of the notebooks in ``source_dir`` (or only those ``names``)
    import, those this Python has; ``parcel_utils`` always.

    >>> d = tempfile.mkdtemp(); nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("import numpy as np\\nfrom parcel_utils.data import load_parcels\\n%time 1")]
    >>> nbformat.write(nb, Path(d) / "a.ipynb"); assignment_imports(d)
    ['numpy', 'parcel_utils']
    >>> shutil.rmtree(d)
    """
    found = {"parcel_utils"}
    paths = [Path(source_dir) / n for n in names] if names is not None else sorted(Path(source_dir).glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    found.discard("parcel_course")        # the instructor's: hidden from the kernel on purpose
    return sorted(m for m in found if importlib.util.find_spec(m) is not None)


def _kernel_code(modules, key) -> str:
    """The check cell: a function that leaves no name behind in the student's namespace, and imports with
    the kernel's working folder off ``sys.path`` (a submitted ``numpy.py`` there shadows nothing: the real
    modules are imported first, and a student's file cannot make the check fail)."""
    return f"""
def __parcel_preflight():
    import importlib, json, os, sys
    here = os.getcwd()
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != here]
    missing, cases = [], None
    try:
        for name in {list(modules)!r}:
            try:
                importlib.import_module(name)
            except BaseException as exc:
                missing.append(f"{{name}} ({{type(exc).__name__}}: {{exc}})")
        if {key!r}:
            try:
                from parcel_utils.attest import load_cases
                cases = len(load_cases({key!r}))
            except BaseException as exc:
                missing.append(f"the attested inputs ({{type(exc).__name__}}: {{exc}})")
    finally:
        sys.path[:] = saved
    print({MARK!r} + json.dumps({{"missing": missing, "cases": cases}}), flush=True)
try:
    __parcel_preflight()
finally:
    del __parcel_preflight
"""


def notebook_imports(path) -> list[str]:
    """The top-level modules one notebook's code cells import (those this Python has), ``parcel_utils`` always.

    The instructor's notebook (``source/<assignment>/<notebook>.ipynb``, hidden tests included) is read,
    never the submission: a student cannot make the check import something that is not there.

    >>> d = tempfile.mkdtemp(); nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("import numpy as np\\nfrom parcel_utils.data import load_parcels\\n%time 1")]
    >>> nbformat.write(nb, Path(d) / "a.ipynb"); notebook_imports(Path(d) / "a.ipynb")
    ['numpy', 'parcel_utils']
    >>> notebook_imports(Path(d) / "missing.ipynb")
    ['parcel_utils']
    >>> shutil.rmtree(d)
    """
    return assignment_imports(Path(path).parent, [Path(path).name])


def check_code(assignment: str, notebook: str, modules) -> str:
    """The cell a fresh graded kernel runs before the notebook: import ``modules``, read the inputs the
    grader wrote for the notebook's first value check (if it has one); it prints one line after
    :data:`MARK` that :func:`judge` reads."""
    keys = [c.key for c in registry.checks_of(assignment)
            if c.notebook == notebook and c.kind == "value"]
    return _kernel_code(list(modules), keys[0] if keys else "")


def read_answer(text: str, errors=()) -> dict:
    """What the check cell printed after :data:`MARK` (its ``stream`` text), or why there is nothing.

    >>> read_answer('noise\\nparcel-preflight:{"missing": [], "cases": 3}\\n')
    {'missing': [], 'cases': 3}
    >>> read_answer("", ["NameError: x"])
    {'missing': ['its own check (NameError: x)']}
    """
    for line in text.splitlines():
        if line.startswith(MARK):
            try:
                return json.loads(line[len(MARK):])
            except ValueError:
                break
    return {"missing": [f"its own check ({'; '.join(errors)[:300] or 'no answer'})"]}


def _reference_fails(assignment: str) -> str:
    """Why the grader's check of one cheap value check fails the reference's own values ('' : it passes)."""
    values = [c for c in registry.checks_of(assignment) if c.kind == "value" and c.compare != "verify"]
    if not values:
        return ""
    check = values[0]
    verdict = check.verify([encode_value(v) for v in check.expected()])
    if verdict:
        return (f"the grader's own check {check.key!r} of {assignment} fails the reference's values "
                f"({verdict[:300]}): the registry and the reference disagree; fix them before grading")
    return ""


def known(assignment: str, mode: str) -> None:
    """Raise at once if this process already refused ``assignment`` under sandbox ``mode``."""
    if _DONE.get((assignment, mode)):
        raise GradingUnavailable("refusing to grade: " + _DONE[(assignment, mode)])


def judge(assignment: str, mode: str, found: dict) -> None:
    """Decide from what a fresh kernel's check printed (:func:`read_answer`) whether ``assignment`` can be
    graded under sandbox ``mode``; raise :class:`GradingUnavailable` with one sentence if not.

    The reference's check runs once per process and assignment; a refusal is kept (:func:`known`).
    """
    ident = (assignment, mode)
    if found.get("missing"):
        _DONE[ident] = (f"the sandboxed grading kernel of {assignment} cannot load {', '.join(found['missing'])[:600]}; "
                        f"it sees only the Python environment ({', '.join(python_paths())}): install the student "
                        f"package into this environment from this course folder (`pip install -e ./student`, or "
                        f"`make install`), or set c.GradingLimits.sandbox = 'none' to grade without the sandbox")
    elif ident not in _DONE:
        _DONE[ident] = _reference_fails(assignment)
    known(assignment, mode)
