"""Grading refuses to start rather than grade wrong.

A sandbox that cannot import the student package grades every submission zero, each kernel failing at
its first import, and nothing says so (a new term's copy of the course graded with the venv an
editable install made in last term's checkout: the sandbox does not show the folder the install points
at).  Before the first submission, on every grading path, :func:`preflight` starts one kernel the way a
graded one starts (the same kernel manager, sandbox, limits and environment) and checks that

- the student package and every library the assignment's notebooks import load in it, and it can read
  the inputs the grader writes for an attested check;
- the grader's own verification passes the reference's values of one cheap attested check.

If not, it raises :class:`GradingUnavailable` with one sentence: what the kernel cannot see and how to
fix it.  ``parcel-course grade`` runs it once in the instructor's process before the batch; plain
``nbgrader autograde`` and formgrader run it at the first notebook of each assignment in their process
(:class:`parcel_course.preprocessors.write_attest_inputs.WriteAttestInputs`), once per process.  Either
hands it the assignment's resolved limits (:class:`parcel_course.limits.Limits`): its kernel runs under
them, and gets the time a whole submission gets (``total_timeout``).
"""
from __future__ import annotations

import ast
import importlib.util
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from parcel_utils.attest import INPUTS_DIR, encode_value

from . import registry
from .directory import CourseError
from .limits import Limits
from .sandbox import SandboxedKernelManager, python_paths
from .scratch import SCRATCH_PREFIX

__all__ = ["GradingUnavailable", "preflight", "assignment_imports"]

MARK = "parcel-preflight:"
_DONE: dict = {}


class GradingUnavailable(CourseError):
    """The sandboxed kernel cannot run what the assignment needs: grading would score everyone zero."""


def assignment_imports(source_dir) -> list[str]:
    """The top-level modules the code cells of the notebooks in ``source_dir`` import (those this Python has).

    >>> d = tempfile.mkdtemp(); nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("import numpy as np\\nfrom parcel_utils.data import load_parcels\\n%time 1")]
    >>> nbformat.write(nb, Path(d) / "a.ipynb"); assignment_imports(d)
    ['numpy', 'parcel_utils']
    >>> shutil.rmtree(d)
    """
    found = {"parcel_utils"}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
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
    return f"""
import importlib, json
missing = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception as exc:
        missing.append(f"{{name}} ({{type(exc).__name__}}: {{exc}})")
cases = None
if {key!r}:
    from parcel_utils.attest import load_cases
    try:
        cases = len(load_cases({key!r}))
    except Exception as exc:
        missing.append(f"the attested inputs ({{type(exc).__name__}}: {{exc}})")
print({MARK!r} + json.dumps({{"missing": missing, "cases": cases}}))
"""


class _Client(NotebookClient):
    """nbclient's client whose (sandboxed) kernel manager receives ``limits`` (it owns and shuts the kernel down)."""

    limits: Limits | None = None

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.limits = self.limits
        return km


def _run_kernel(config, modules, key, cases, limits: Limits) -> dict:
    """Run the preflight cell in a kernel started as a graded one is, under ``limits``; what it printed
    after :data:`MARK`."""
    work = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        work.chmod(0o755)
        if key:
            (work / INPUTS_DIR).mkdir(parents=True)
            (work / INPUTS_DIR / f"{key}.pkl").write_bytes(pickle.dumps(cases, protocol=pickle.HIGHEST_PROTOCOL))
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(_kernel_code(modules, key))]
        client = _Client(nb, timeout=limits.total_timeout, kernel_name="python3", allow_errors=True, config=config,
                         kernel_manager_class=SandboxedKernelManager, resources={"metadata": {"path": str(work)}})
        client.limits = limits
        try:
            client.execute()
        except Exception as exc:  # noqa: BLE001 - the kernel did not even start: say why
            return {"missing": [f"a kernel ({type(exc).__name__}: {str(exc)[:300]})"]}
        text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in nb.cells[0].outputs if o.get("output_type") == "error"]
        for line in text.splitlines():
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        return {"missing": [f"its own check ({'; '.join(errors)[:300] or 'no answer'})"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def preflight(config, assignment: str, root, limits: Limits) -> None:
    """Check once per process that a graded kernel of ``assignment`` can run (see the module's docstring).

    ``config`` is the nbgrader configuration the kernel manager reads (its read-only paths), ``root`` the
    course directory, ``limits`` the assignment's resolved limits.  Raises :class:`GradingUnavailable`
    with one sentence if not; the verdict is kept, so every later notebook of the same assignment fails
    at once with the same sentence.
    """
    mode = limits.sandbox
    ident = (assignment, mode, str(Path(root).resolve()))
    if ident not in _DONE:
        modules = assignment_imports(Path(root) / "source" / assignment)
        values = [c for c in registry.checks_of(assignment) if c.kind == "value" and c.compare != "verify"]
        check = values[0] if values else None
        why = ""
        found = _run_kernel(config, modules, check.key if check else "", check.cases() if check else [], limits)
        if found.get("missing"):
            why = (f"the sandboxed grading kernel of {assignment} cannot load {', '.join(found['missing'])[:600]}; "
                   f"it sees only the Python environment ({', '.join(python_paths())}): install the student "
                   f"package into this environment from this course folder (`pip install -e ./student`, or "
                   f"`make install`), or set c.GradingLimits.sandbox = 'none' to grade without the sandbox")
        elif check is not None:
            verdict = check.verify([encode_value(v) for v in check.expected()])
            if verdict:
                why = (f"the grader's own check {check.key!r} of {assignment} fails the reference's values "
                       f"({verdict[:300]}): the registry and the reference disagree; fix them before grading")
        _DONE[ident] = why
    if _DONE[ident]:
        raise GradingUnavailable("refusing to grade: " + _DONE[ident])
