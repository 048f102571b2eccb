"""Scheduling the grading of a course: the jobs, the order, the executor, the merge as results arrive.

:func:`grade_all` collects one :class:`~.worker.GradeJob` per submission
(:func:`collect_jobs`, with the limits resolved once per assignment: each job and
each check receives its assignment's :class:`~parcel_course.limits.Limits`), hands the jobs,
longest first, to any ``concurrent.futures`` executor (local processes by
default, a Dask cluster given its address: :func:`make_executor`), and merges
each result into the course as it arrives (:func:`.gradebook.merge_result`).
Every graded kernel checks itself before its notebook's first cell
(:mod:`parcel_course.preflight`); no result is merged before a kernel of each
assignment of the batch passed that check, and a refusal (the sandbox cannot
run what the assignment needs) cancels the batch: nothing is merged unless
every assignment's check had passed first.
"""
from __future__ import annotations

import multiprocessing
import statistics
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from .. import intake
from ..directory import Course, CourseError
from ..late import apply_penalties
from ..limits import Limits, assignment_limits, threads_per_worker
from ..preflight import GradingUnavailable, notebook_imports
from ..scan import instructor_cell_digests
from .gradebook import already_graded, gradebook_snapshot, load_ledgers, merge_result
from .worker import GradeJob, GradeResult, digest_files, grade_submission

__all__ = ["collect_jobs", "longest_first", "make_executor", "grade_all", "read_tree"]


def read_tree(path: Path, ignore=(".ipynb_checkpoints", "__pycache__")) -> dict:
    """The regular files under ``path`` (an instructor's folder), never following a link (:mod:`.intake`).

    Anything intake refuses there (a link, a FIFO, a file over the caps) is an error the instructor must fix.
    """
    got = intake.read_submission(path, ignore=ignore, hard_links=True)
    if got.refused:
        raise CourseError(f"{path}: " + "; ".join(r.line() for r in got.refused)
                          + ": replace links with copies of the files")
    return got.files


def collect_jobs(course: Course, assignments=None, students=None, limits: Limits | None = None) -> list[GradeJob]:
    """One job per submitted/<student>/<assignment>/ of the course."""
    assignments = course.check_assignments(assignments)
    base = limits or course.limits()      # timeouts of 0 derived per assignment from its reference run
    per_assignment = {a: assignment_limits(base, a, course.root) for a in assignments}
    course.ensure_in_gradebook(assignments)
    gradebook = gradebook_snapshot(course)
    settings = intake.Intake.of(course)
    collected = intake.collected_flags(course.submitted)   # what `parcel-course collect` flagged per submission
    jobs = []
    for a in assignments:
        extra = {k: v for k, v in read_tree(course.source / a).items()
                 if not k.endswith((".ipynb", ".src.py"))}
        known = {p.stem: instructor_cell_digests(p) for p in course.notebooks(a)}
        imports = {p.stem: notebook_imports(p) for p in course.notebooks(a)}     # what each kernel's check loads
        for sdir in sorted(course.submitted.glob(f"*/{a}")):
            student = sdir.parent.name
            if students and student not in students:
                continue
            # regular files only, no link followed (issue 24); what was refused reaches the result's flags
            got = intake.read_submission(sdir, within=course.submitted, settings=settings)
            flags = collected.get((student, a), []) + intake.refused_flags(got.refused)
            jobs.append(GradeJob(student, a, got.files, gradebook, extra, per_assignment[a],
                                 digest=digest_files(got.files), instructor_cells=known, intake_flags=flags,
                                 check_imports=imports))
    return jobs


def longest_first(jobs: list[GradeJob], ledgers=()) -> list[GradeJob]:
    """The jobs in the order to hand them to the pool: the longest expected first.

    With a few workers, a long notebook started last keeps one worker busy
    while the others sit idle; starting the long ones first evens the end of
    the run out (longest-processing-time scheduling). A job's expected length
    is the median execution time recorded for its assignment in earlier
    ledgers; an assignment never graded before counts by its position in the
    course (the later assignments train networks, the first ones do not), and
    ahead of the timed ones, since it may be the longest of all.

    >>> a = GradeJob("s", "01_convolution", {}, b"")
    >>> b = GradeJob("s", "04_cnn", {}, b"")
    >>> [j.assignment for j in longest_first([a, b])]
    ['04_cnn', '01_convolution']
    >>> past = [dict(assignment="01_convolution", execution_seconds=9.0),
    ...         dict(assignment="04_cnn", execution_seconds=250.0)]
    >>> [j.assignment for j in longest_first([b, a, b], past)]
    ['04_cnn', '04_cnn', '01_convolution']
    """
    seen: dict[str, list] = {}
    for led in ledgers:
        if led.get("execution_seconds"):
            seen.setdefault(led["assignment"], []).append(float(led["execution_seconds"]))
    timed = {a: statistics.median(v) for a, v in seen.items()}
    order = sorted({j.assignment for j in jobs})

    def key(job):
        if job.assignment in timed:
            return (0, -timed[job.assignment])
        return (-1, -order.index(job.assignment))
    return sorted(jobs, key=key)    # stable: students keep their order within an assignment


def _result(fut: Future, job: GradeJob) -> GradeResult:
    """The job's result, or an error result when the worker itself died."""
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - the worker itself died
        return GradeResult(job.student, job.assignment, "error",
                           reason=f"grading worker failed: {type(exc).__name__}: {exc}", digest=job.digest)


def make_executor(workers: int = 2, scheduler: str | None = None) -> tuple[Executor, object]:
    """A concurrent.futures executor: local processes, or a Dask cluster at ``scheduler``."""
    if scheduler:
        from distributed import Client   # optional (the dask extra), only for a cluster
        client = Client(scheduler)
        return client.get_executor(pure=False), client
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")), None


def grade_all(course: Course, assignments=None, students=None, workers: int = 2,
              scheduler: str | None = None, limits: Limits | None = None, force: bool = False,
              progress: bool = True, executor: Executor | None = None) -> list[GradeResult]:
    """Grade every collected submission in parallel; results are merged as they arrive.

    Returns the results of this run (skipped, already-graded submissions are
    not re-run unless ``force``; they stay in the gradebook).
    """
    limits = limits or course.limits()
    if limits.threads == 0 and executor is None and not scheduler:    # local workers share this machine
        limits = limits.replace(threads=threads_per_worker(workers))
    jobs = collect_jobs(course, assignments, students, limits)
    todo = longest_first([j for j in jobs if force or not already_graded(course, j)],
                         load_ledgers(course))
    skipped = len(jobs) - len(todo)
    results = []
    if not todo:
        if progress:
            print(f"Nothing to grade: {skipped} submission(s) already graded (use --force to regrade).")
        return results
    own = executor is None
    client = None
    if own:
        executor, client = make_executor(workers, scheduler)
    bar = tqdm(total=len(todo), desc="grading", unit="sub", disable=not progress,
               postfix={"skipped": skipped} if skipped else None)
    try:
        futures = {executor.submit(grade_submission, j): j for j in todo}
        # refuse to grade rather than grade everyone zero: each kernel checks itself before its notebook
        # (parcel_course.preflight); results wait until a kernel of every assignment passed, and a
        # refusal stops the batch (before then: with nothing merged)
        waiting = {j.assignment for j in todo}
        held = []

        def merge(res):
            merge_result(course, res)
            results.append(res)
            bar.set_postfix_str(f"{res.student}/{res.assignment}: {res.status} {res.score:g}/{res.max_score:g}")
            bar.update()
        for fut in as_completed(futures):
            res = _result(fut, futures[fut])
            if res.status == "refused":
                raise GradingUnavailable(res.reason)
            if res.sandbox_checked:
                waiting.discard(res.assignment)
            held.append(res)
            if not waiting:
                for r in held:
                    merge(r)
                held.clear()
        for r in held:                    # assignments none of whose kernels got as far as the check
            merge(r)
    finally:
        bar.close()
        if own:
            try:
                executor.shutdown(wait=True, cancel_futures=True)
            except TypeError:  # distributed's ClientExecutor has no cancel_futures
                executor.shutdown(wait=True)
            if client is not None:
                client.close()
    if results:   # the workers' gradebooks lack the course's extensions: penalties are set here, once
        apply_penalties(course, sorted({r.assignment for r in results}))
    return results
