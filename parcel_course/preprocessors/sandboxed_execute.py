"""nbgrader's Execute preprocessor with the student's kernel in the sandbox (:mod:`parcel_course.sandbox`).

The course's autograde list uses :class:`~.guarded_execute.GuardedExecute`, which adds the output caps and
the flags to this one; this class alone is the sandbox, the per-cell timeout of the notebook's assignment,
and the check each fresh kernel passes before the notebook's first cell (:mod:`parcel_course.preflight`).
"""
from __future__ import annotations

import queue
from pathlib import Path

from nbclient.util import run_sync
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict

from .. import preflight
from ..sandbox import SandboxedKernelManager
from .common import course_root, notebook_limits

__all__ = ["SandboxedExecute"]


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor with the kernel in the sandbox.

    For each notebook it takes the notebook's limits (:func:`.common.notebook_limits`: resolved once
    for its assignment, then carried in ``resources``) as ``self.limits``: its per-cell timeout, and
    the kernel manager it creates receives them (sandbox, resource limits, the watcher's caps).

    Before the notebook's first cell, in the fresh kernel and before any of the student's code, it runs
    :func:`parcel_course.preflight.check_code` (the student package and the notebook's libraries load,
    the attested inputs can be read) and hands the answer to :func:`parcel_course.preflight.judge`,
    which raises :class:`~parcel_course.preflight.GradingUnavailable` rather than let every kernel fail
    at its first import and score zero.  ``self.sandbox_check`` says how it went ('passed', the refusal,
    or '' when no kernel got that far).

    Example
    -------
    In an nbgrader config (the course composes :class:`~.guarded_execute.GuardedExecute` instead):

    >>> c.Autograde.autograde_preprocessors = [   # doctest: +SKIP
    ...     "parcel_course.preprocessors.sandboxed_execute.SandboxedExecute", ...]
    """

    check_sandbox = Bool(True, help=(
        "Before a notebook's first cell, check in its fresh kernel that the student package and the "
        "notebook's libraries load and that the grader's check passes the reference (parcel_course.preflight); "
        "refuse to grade if not.")).tag(config=True)
    check_imports = Dict(help=(
        "notebook name -> the modules its kernel's check imports; a notebook not named here: those its "
        "instructor version source/<assignment>/<notebook>.ipynb imports (parcel-course grade's workers, "
        "which have no source notebook, receive them from the batch).")).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self.limits = None
        self.sandbox_check = ""
        self._checking = None           # (assignment, notebook) while preprocess runs with the check on

    def preprocess(self, nb, resources=None, km=None):
        resources = {} if resources is None else resources
        self.limits = notebook_limits(self.config, resources)
        self.timeout = self.limits.cell_timeout
        self.sandbox_check = ""
        info = resources.get("nbgrader") or {}
        self._checking = (info.get("assignment", ""), info.get("notebook", "")) if self.check_sandbox else None
        try:
            if self._checking:
                preflight.known(self._checking[0], self.limits.sandbox)    # refused before: at once, no kernel
            return super().preprocess(nb, resources, km)
        except preflight.GradingUnavailable as exc:
            self.sandbox_check = str(exc)
            raise

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.limits = self.limits             # the kernel manager reads no configuration of limits itself
        return km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if self._checking:
            try:
                await self._async_check_kernel()
            except BaseException:
                await self._async_cleanup_kernel()      # setup_kernel's own clean-up is not armed yet
                raise
            self.sandbox_check = "passed"
        return kc

    # nbclient binds its sync name to its own coroutine: bind it to this one (the sync and async paths alike)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _check_modules(self, assignment: str, notebook: str) -> list:
        if notebook in self.check_imports:
            return list(self.check_imports[notebook])
        return preflight.notebook_imports(Path(course_root(self.config)) / "source" / assignment / f"{notebook}.ipynb")

    async def _async_check_kernel(self):
        """Run the check cell in the fresh kernel (nothing of the student's has run) and judge its answer."""
        assignment, notebook = self._checking
        code = preflight.check_code(assignment, notebook, self._check_modules(assignment, notebook))
        msg_id = self.kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        text, errors = [], []
        while True:
            try:
                msg = await self.kc.get_iopub_msg(timeout=self.limits.cell_timeout)
            except queue.Empty:
                errors.append(f"no answer in {self.limits.cell_timeout} s")
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content.get("text", ""))
            elif kind == "error":
                errors.append(f"{content.get('ename')}: {content.get('evalue')}")
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        preflight.judge(assignment, self.limits.sandbox, preflight.read_answer("".join(text), errors))
