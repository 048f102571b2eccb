"""What the grader's preprocessors share: the notebook's limits, and where flags and timings go."""
from __future__ import annotations

import json
import os

from ..limits import Limits, resolve_limits

__all__ = ["notebook_limits", "course_root", "append_flags", "append_timing", "append_sandbox_check", "LIMITS_KEY"]

#: Where a notebook's resolved :class:`~parcel_course.limits.Limits` travel along nbgrader's resources.
LIMITS_KEY = "parcel_limits"


def course_root(config) -> str:
    """The course directory of an nbgrader ``config`` (``c.CourseDirectory.root``; '.' when unset)."""
    return (config.get("CourseDirectory") or {}).get("root") or "."


def notebook_limits(config, resources: dict) -> Limits:
    """The grading limits of the notebook being graded, resolved for its assignment once, then carried.

    The first of the course's preprocessors that needs them for a notebook resolves them
    (:func:`parcel_course.limits.resolve_limits`: ``c.GradingLimits`` and its ``per_assignment``
    overrides, timeouts derived from the reference run) and leaves them in ``resources``; the later
    ones, and everything they call, receive that one object.

    Example
    -------
    >>> from traitlets.config import Config
    >>> c = Config(); c.GradingLimits.per_assignment = {"01_convolution": {"memory_mb": 900}}
    >>> res = {"nbgrader": {"assignment": "01_convolution"}}
    >>> lim = notebook_limits(c, res); lim.memory_mb, res[LIMITS_KEY] is lim
    (900, True)
    """
    limits = resources.get(LIMITS_KEY)
    if limits is None:
        assignment = (resources.get("nbgrader") or {}).get("assignment", "")
        limits = resources[LIMITS_KEY] = resolve_limits(config, assignment, course_root(config))
    return limits


def append_flags(path: str, flags: list) -> None:
    """Append flags (dicts: notebook, cell, reason) to ``path`` as JSON lines ('' : nowhere)."""
    if path and flags:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)   # a course never graded: no autograded/ yet
        with open(path, "a") as fh:
            for f in flags:
                fh.write(json.dumps(f) + "\n")


def append_timing(path: str, notebook: str, **seconds) -> None:
    """Append where a notebook's grading time went (``phase=seconds``) to ``path`` as one JSON line ('' : nowhere).

    ``parcel-course grade`` reads them into the ledger (``GradeResult.phases``); the benchmark sums them.
    """
    _append_line(path, dict(notebook=notebook, **{k: round(float(v), 3) for k, v in seconds.items()}))


def append_sandbox_check(path: str, notebook: str, verdict: str) -> None:
    """Append how a notebook's kernel check went ('passed', or the refusal's sentence) to the timings file
    ``path`` ('' : nowhere): the grader's process writes it, where the kernel cannot, and ``parcel-course
    grade`` reads it (a refusal stops the batch; a pass lets its results be merged)."""
    if verdict:
        _append_line(path, dict(notebook=notebook, sandbox_check=verdict))


def _append_line(path: str, record: dict) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
