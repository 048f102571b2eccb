"""Parallel, isolated autograding (nbgrader issue #174), split where its processes split.

- :mod:`.worker`: runs in a worker process; one submission graded by the real ``nbgrader autograde`` in a
  private temporary course directory, the kernel in the sandbox, watched from outside.
- :mod:`.gradebook`: the instructor's process; the gradebook snapshot each job carries, each result merged
  into the course gradebook and ``autograded/`` as it arrives, the ledgers.
- :mod:`.schedule`: the instructor's process; the jobs, their order and the executor (local processes, or a
  Dask cluster), the batch stopped at a kernel's refusal (:mod:`parcel_course.preflight`).

The names below are those the rest of the course imported from ``parcel_course.grading`` before the split
(the command line, the demo, the tests, the benchmarks); new code imports from the module that owns a name.
"""
from ..directory import CourseError, grading_env
from ..limits import Limits, threads_per_worker
from .gradebook import LEDGER, already_graded, gradebook_snapshot, load_ledgers, merge_result
from .schedule import collect_jobs, grade_all, longest_first, make_executor, read_tree
from .worker import (PHASES, GradeJob, GradeResult, _released_source, _start_nbgrader, _tampered_cells,
                     digest_files, grade_submission)

__all__ = ["Limits", "GradeJob", "GradeResult", "grade_submission", "grade_all", "collect_jobs", "load_ledgers",
           "merge_result", "gradebook_snapshot", "longest_first", "make_executor", "LEDGER", "PHASES"]
