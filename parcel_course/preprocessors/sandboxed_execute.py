"""nbgrader's Execute preprocessor with the student's kernel in the sandbox (:mod:`parcel_course.sandbox`).

The course's autograde list uses :class:`~.guarded_execute.GuardedExecute`, which adds the output caps and
the flags to this one; this class alone is the sandbox and the per-cell timeout of the notebook's assignment.
"""
from __future__ import annotations

from nbgrader.preprocessors import Execute

from ..sandbox import SandboxedKernelManager
from .common import notebook_limits

__all__ = ["SandboxedExecute"]


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor with the kernel in the sandbox.

    For each notebook it takes the notebook's limits (:func:`.common.notebook_limits`: resolved once
    for its assignment, then carried in ``resources``) as ``self.limits``: its per-cell timeout, and
    the kernel manager it creates receives them (sandbox, resource limits, the watcher's caps).

    Example
    -------
    In an nbgrader config (the course composes :class:`~.guarded_execute.GuardedExecute` instead):

    >>> c.Autograde.autograde_preprocessors = [   # doctest: +SKIP
    ...     "parcel_course.preprocessors.sandboxed_execute.SandboxedExecute", ...]
    """

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self.limits = None

    def preprocess(self, nb, resources=None, km=None):
        resources = {} if resources is None else resources
        self.limits = notebook_limits(self.config, resources)
        self.timeout = self.limits.cell_timeout
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.limits = self.limits             # the kernel manager reads no configuration of limits itself
        return km
