"""What a student's kernel may use while it is graded: defined once, configured like nbgrader, resolved once.

:class:`GradingLimits` is a traitlets ``Configurable``: the course's
``nbgrader_config.py`` sets ``c.GradingLimits.cell_timeout = ...``.  It is
read in two places only: :meth:`parcel_course.directory.Course.limits` (the
instructor's reading, which ``parcel-course grade`` resolves per assignment
with :func:`assignment_limits` and hands each job) and :func:`resolve_limits`
(an nbgrader process grading a notebook: plain ``nbgrader autograde``,
formgrader, a worker's nbgrader).  What they return is a :class:`Limits`, a
frozen snapshot *resolved for one assignment* (its ``per_assignment``
overrides applied, timeouts of 0 derived from its reference run), and that
one object is what every lower layer receives as a parameter: the sandboxed
kernel manager and its watcher, the guarded Execute's output caps, nbgrader's
``LimitOutput``, the verification of attested models and its checker
processes, ``parcel-course grade``'s watcher.  None of them
has a default of its own.

Example
-------
>>> Limits().cell_timeout == GradingLimits().cell_timeout
True
>>> lim = assignment_limits(Limits(per_assignment={"a": {"memory_mb": 900}}), "a", "no_course")
>>> lim.memory_mb, lim.per_assignment, lim.cell_timeout == Limits().fallback_cell_timeout
(900, {}, True)
"""
from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import asdict, make_dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from traitlets import Bool, Dict, Enum, Float, Integer
from traitlets.config import Configurable

# GRADING_BUDGET: the training budget a graded kernel runs at ($PARCEL_BUDGET, read by
# ``parcel_utils.checks.training_budget``, which names it): heavy notebooks (04_cnn) train their
# graded networks for fewer epochs and skip what grades nothing; their accuracy bars are the
# reference's at this budget, recorded by ``make solutions`` (``Course.execute_solutions``).
from parcel_utils.checks import GRADING_BUDGET

__all__ = ["GradingLimits", "Limits", "thread_caps", "threads_per_worker", "THREAD_VARIABLES",
           "reference_timings", "assignment_limits", "resolve_limits"]


class GradingLimits(Configurable):
    """Limits of a graded kernel (``c.GradingLimits.<name>`` in ``nbgrader_config.py``)."""

    cell_timeout = Integer(0, help="Seconds a cell may run while graded; 0: derived per assignment from its "
                                   "reference run (timeout_factor x the slowest cell of solutions/<assignment>/, "
                                   "at least min_cell_timeout).").tag(config=True)
    total_timeout = Integer(0, help="Seconds for grading a whole submission (parcel-course grade); 0: derived per "
                                    "assignment (timeout_factor x the reference run's total, at least "
                                    "min_total_timeout).").tag(config=True)
    memory_mb = Integer(6144, help="Resident memory of nbgrader, the kernel and its children, MB "
                                   "(watched every 0.25 s; the kernel is killed past it).").tag(config=True)
    max_processes = Integer(512, help="RLIMIT_NPROC of the kernel's user (threads count; not enforced "
                                      "for root).").tag(config=True)
    max_kernel_processes = Integer(64, help="Processes under the grader (watched; the kernel is killed "
                                            "past it).").tag(config=True)
    max_file_mb = Integer(512, help="Largest file the kernel may write, MB (RLIMIT_FSIZE).").tag(config=True)
    max_open_files = Integer(1024, help="Files the kernel may hold open at once (RLIMIT_NOFILE).").tag(config=True)
    max_cpu_seconds = Integer(0, help="CPU seconds for the whole kernel (RLIMIT_CPU; 0: no limit).").tag(config=True)
    max_disk_mb = Integer(2048, help="All files written in the grading directory, MB (watched; killed "
                                     "past it).").tag(config=True)
    tmp_mb = Integer(512, help="Size of the sandboxed kernel's private /tmp, MB.").tag(config=True)
    max_output_lines = Integer(1000, help="Lines of output kept per cell (nbgrader's LimitOutput).").tag(config=True)
    max_output_mb = Integer(10, help="Output kept per cell, MB (errors are always kept).").tag(config=True)
    max_notebook_output_mb = Integer(100, help="Output kept per notebook, MB.").tag(config=True)
    sandbox = Enum(["auto", "bwrap", "none"], "auto",
                   help="Kernel isolation: 'bwrap' (bubblewrap), 'none', or 'auto' (bwrap where it "
                        "works).").tag(config=True)
    threads = Integer(0, help="Compute threads per kernel (OpenMP, BLAS, TensorFlow); 0: no cap.").tag(config=True)
    preload = Bool(True, help="parcel-course grade: nbgrader runs in a fork of a worker that imported it "
                              "once.").tag(config=True)

    timeout_factor = Float(5.0, help="Derived timeouts: this many times the reference run's (the grading "
                                     "kernel may get fewer cores than the reference run had).").tag(config=True)
    min_cell_timeout = Integer(30, help="Derived per-cell timeout: at least this many seconds.").tag(config=True)
    min_total_timeout = Integer(180, help="Derived total timeout: at least this many seconds (kernel start, "
                                          "verification).").tag(config=True)
    fallback_cell_timeout = Integer(600, help="Per-cell timeout of an assignment without a reference run in "
                                              "solutions/.").tag(config=True)
    per_assignment = Dict(help="Overrides per assignment: {'04_cnn': {'cell_timeout': 900}, ...} (any limit's "
                               "name).").tag(config=True)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.class_trait_names(config=True)}


#: A frozen, picklable snapshot of :class:`GradingLimits` (same names, same defaults), carried by a grading job.
Limits = make_dataclass(
    "Limits",
    [(name, dict, field(default_factory=dict)) if isinstance(trait, Dict) else
     (name, type(trait.default_value), field(default=trait.default_value))
     for name, trait in sorted(GradingLimits.class_traits(config=True).items())],
    frozen=True,
    namespace={"__doc__": "What a student's kernel may use while it is graded: see GradingLimits.",
               "replace": lambda self, **kw: type(self)(**{**asdict(self), **kw})})
Limits.__module__ = __name__


def reference_timings(solutions_dir) -> dict:
    """``{"slowest_cell": s, "total": s}`` of an executed assignment (nbclient's timings in its cells), or {}.

    ``make solutions`` executes every notebook of ``source/<a>/`` into
    ``solutions/<a>/`` with its outputs and nbclient's timing metadata: that
    run is the reference for how long a right answer takes.
    """
    slowest = total = 0.0
    found = False
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            t = (cell.get("metadata") or {}).get("execution") or {}
            start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
            if not (start and end):
                continue
            try:
                s = (datetime.fromisoformat(end.replace("Z", "+00:00")) -
                     datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            except ValueError:
                continue
            found = True
            slowest, total = max(slowest, s), total + max(s, 0.0)
    return {"slowest_cell": slowest, "total": total} if found else {}


def assignment_limits(limits, assignment: str, root) -> "Limits":
    """``limits`` (a :class:`Limits` or :class:`GradingLimits`) resolved for one assignment of the course at ``root``.

    ``per_assignment``'s overrides for ``assignment`` are applied first (a
    ``timeout_factor`` there counts), then a timeout of 0 is derived from the
    assignment's reference run (``solutions/<assignment>/``).  The result has
    positive timeouts and an empty ``per_assignment``: resolving it again,
    for any assignment, gives it back (a ``parcel-course grade`` worker's
    nbgrader, handed resolved limits, resolves nothing a second time).

    Example
    -------
    >>> lim = assignment_limits(Limits(), "no_such_assignment", ".")
    >>> lim.cell_timeout == Limits().fallback_cell_timeout
    True
    >>> assignment_limits(lim, "another", ".") == lim
    True
    """
    values = dict(limits.to_dict() if isinstance(limits, GradingLimits) else asdict(limits))
    values.update((values.pop("per_assignment", None) or {}).get(assignment, {}))
    values["per_assignment"] = {}
    if not (values["cell_timeout"] and values["total_timeout"]):
        ref = reference_timings(Path(root) / "solutions" / assignment)
        factor = values["timeout_factor"]
        if not values["cell_timeout"]:
            values["cell_timeout"] = (max(values["min_cell_timeout"], math.ceil(factor * ref["slowest_cell"]))
                                      if ref else values["fallback_cell_timeout"])
        if not values["total_timeout"]:
            values["total_timeout"] = (max(values["min_total_timeout"], math.ceil(factor * ref["total"])) if ref
                                       else 3 * values["cell_timeout"])
    return Limits(**values)


def resolve_limits(config, assignment: str, root) -> "Limits":
    """The limits of ``assignment`` that an nbgrader process grades with: ``config``'s ``c.GradingLimits``
    resolved by :func:`assignment_limits`, once per process (cached on the configured values, the
    assignment and the course's folder).

    The one place where a grading process reads ``c.GradingLimits``; everything below receives the result.

    Example
    -------
    >>> from traitlets.config import Config
    >>> c = Config(); c.GradingLimits.per_assignment = {"01_convolution": {"max_output_mb": 2}}
    >>> lim = resolve_limits(c, "01_convolution", "no_course")
    >>> lim.max_output_mb, resolve_limits(c, "02_parameters", "no_course").max_output_mb
    (2, 10)
    >>> resolve_limits(c, "01_convolution", "no_course") is lim
    True
    """
    configured = json.dumps(GradingLimits(config=config).to_dict(), sort_keys=True)
    return _resolved(configured, assignment, os.path.abspath(str(root)))


@functools.lru_cache(maxsize=64)
def _resolved(configured: str, assignment: str, root: str) -> "Limits":
    return assignment_limits(Limits(**json.loads(configured)), assignment, root)


#: Environment variables that cap the compute threads of NumPy's BLAS, OpenMP and TensorFlow.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")


def thread_caps(threads: int) -> dict:
    """The environment that caps a process at ``threads`` compute threads (nothing for 0: no cap)."""
    return {v: str(threads) for v in THREAD_VARIABLES} if threads > 0 else {}


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Compute threads each of ``workers`` concurrent kernels gets: the cores shared out, at least 1.

    Two kernels that each start one thread per core oversubscribe the machine
    (TensorFlow and OpenBLAS spin while they wait), which costs more than it gains.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, int(workers)))
