"""Parallel, isolated autograding (nbgrader issue #174): the grader, moved into a package to be split."""
from ..directory import CourseError, grading_env
from ..limits import Limits, threads_per_worker
from .worker import (LEDGER, PHASES, GradeJob, GradeResult, _released_source, _start_nbgrader, _tampered_cells,
                     already_graded, collect_jobs, digest_files, grade_all, grade_submission, gradebook_snapshot,
                     load_ledgers, longest_first, make_executor, merge_result, preflight_course, read_tree)

__all__ = ["Limits", "GradeJob", "GradeResult", "grade_submission", "grade_all", "collect_jobs"]
