"""nbgrader's Execute preprocessor with the student's kernel in the sandbox (:mod:`parcel_course.sandbox`).

The course's autograde list uses :class:`~.guarded_execute.GuardedExecute`, which adds the output caps and
the flags to this one; this class alone is the sandbox and the per-cell timeout of the notebook's assignment.
"""
from __future__ import annotations

from nbgrader.preprocessors import Execute

from ..sandbox import SandboxedKernelManager, resolved_limits

__all__ = ["SandboxedExecute"]


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor with the kernel in the sandbox.

    Example
    -------
    In an nbgrader config (the course composes :class:`~.guarded_execute.GuardedExecute` instead):

    >>> c.Autograde.autograde_preprocessors = [   # doctest: +SKIP
    ...     "parcel_course.preprocessors.sandboxed_execute.SandboxedExecute", ...]
    """

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        # the per-cell timeout of this assignment (c.GradingLimits, derived from its reference run when 0)
        self.timeout = resolved_limits(self.config, resources).cell_timeout
        return super().preprocess(nb, resources, km)
