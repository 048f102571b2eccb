"""What a student's kernel may use while it is graded: defined once, configured like nbgrader.

:class:`GradingLimits` is a traitlets ``Configurable``: the course's
``nbgrader_config.py`` sets ``c.GradingLimits.cell_timeout = ...`` and every
part of the grader reads the same values (the sandboxed kernel manager, the
guarded Execute, the verification of attested models, ``parcel-course
grade``'s watcher).  :class:`Limits` is a plain snapshot of them that a
grading job carries to its worker.

Example
-------
>>> Limits().cell_timeout == GradingLimits().cell_timeout
True
"""
from __future__ import annotations

from dataclasses import asdict, fields, make_dataclass, field

from traitlets import Bool, Enum, Integer
from traitlets.config import Configurable

__all__ = ["GradingLimits", "Limits", "limits_config", "thread_caps", "threads_per_worker", "THREAD_VARIABLES"]


class GradingLimits(Configurable):
    """Limits of a graded kernel (``c.GradingLimits.<name>`` in ``nbgrader_config.py``)."""

    cell_timeout = Integer(600, help="Seconds a cell may run while graded.").tag(config=True)
    total_timeout = Integer(1800, help="Seconds for grading a whole submission (parcel-course grade).").tag(config=True)
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

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.class_trait_names(config=True)}


#: A picklable snapshot of :class:`GradingLimits` (same names, same defaults), carried by a grading job.
Limits = make_dataclass(
    "Limits",
    [(name, type(trait.default_value), field(default=trait.default_value))
     for name, trait in sorted(GradingLimits.class_traits(config=True).items())],
    namespace={"__doc__": "What a student's kernel may use while it is graded: see GradingLimits.",
               "replace": lambda self, **kw: type(self)(**{**asdict(self), **kw})})
Limits.__module__ = __name__


def limits_config(limits) -> str:
    """Lines of an nbgrader config that set ``GradingLimits`` to ``limits``."""
    return "\n".join(f"c.GradingLimits.{f.name} = {getattr(limits, f.name)!r}" for f in fields(limits))


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
    import os
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, int(workers)))
