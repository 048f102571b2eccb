"""grade_all merges nothing before a kernel of every assignment passed its check, and stops at a refusal.

Every graded kernel checks itself before its notebook's first cell (parcel_course.preflight; the worker
reports it as ``GradeResult.sandbox_checked``, or a ``refused`` status).  The executor and the jobs are
stand-ins (threads, no kernel): these tests are about the order of things in
:func:`parcel_course.grading.schedule.grade_all`, not about grading.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from parcel_course.grading import schedule
from parcel_course.grading.worker import GradeJob, GradeResult
from parcel_course.limits import Limits
from parcel_course.preflight import GradingUnavailable

JOBS = [GradeJob(s, a, {}, b"", limits=Limits(threads=1)) for a in ("01_convolution", "02_parameters")
        for s in ("ada", "ben", "cleo")]
REFUSAL = "refusing to grade: the sandboxed grading kernel of 02_parameters cannot load x"


@pytest.fixture()
def batch(monkeypatch):
    """grade_all with stand-ins; ``outcome[(student, assignment)]`` = (status, checked, seconds)."""
    log, lock, outcome = [], threading.Lock(), {}

    def note(what):
        with lock:
            log.append((time.monotonic(), what))

    def grade(job):
        status, checked, seconds = outcome.get((job.student, job.assignment), ("graded", True, 0.05))
        time.sleep(seconds)
        note(f"job {job.student}/{job.assignment}")
        return GradeResult(job.student, job.assignment, status, score=1, max_score=1, sandbox_checked=checked,
                           reason=REFUSAL if status == "refused" else "")
    monkeypatch.setattr(schedule, "collect_jobs", lambda *a, **k: list(JOBS))
    monkeypatch.setattr(schedule, "longest_first", lambda jobs, ledgers: list(jobs))
    monkeypatch.setattr(schedule, "already_graded", lambda course, job: False)
    monkeypatch.setattr(schedule, "load_ledgers", lambda course: [])
    monkeypatch.setattr(schedule, "grade_submission", grade)
    monkeypatch.setattr(schedule, "merge_result", lambda course, res: note(f"merge {res.student}/{res.assignment}"))
    monkeypatch.setattr(schedule, "apply_penalties", lambda course, assignments: note("penalties"))
    return dict(log=log, outcome=outcome)


def _run(batch):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return schedule.grade_all(object(), workers=2, progress=False, executor=pool, limits=Limits(threads=1))


def _events(batch):
    return [w for _, w in sorted(batch["log"])]


def test_results_wait_until_a_kernel_of_every_assignment_passed(batch):
    # 02's first two kernels never got as far as their check (their kernel did not start, say); its last one did
    batch["outcome"].update({("ada", "02_parameters"): ("error", False, 0.05),
                             ("ben", "02_parameters"): ("error", False, 0.05),
                             ("cleo", "02_parameters"): ("graded", True, 0.4)})
    results = _run(batch)
    assert sorted((r.student, r.assignment) for r in results) == sorted((j.student, j.assignment) for j in JOBS)
    events = _events(batch)
    merges = [i for i, w in enumerate(events) if w.startswith("merge")]
    assert len(merges) == len(JOBS)
    assert min(merges) > events.index("job cleo/02_parameters"), events
    assert events[-1] == "penalties"


def test_once_every_assignment_passed_results_merge_as_they_arrive(batch):
    batch["outcome"][("cleo", "02_parameters")] = ("graded", True, 0.6)      # the slowest, after the checks
    _run(batch)
    events = _events(batch)
    assert events.index("merge ada/01_convolution") < events.index("job cleo/02_parameters"), events


def test_a_refusal_stops_the_batch_and_merges_nothing(batch):
    batch["outcome"][("ada", "02_parameters")] = ("refused", False, 0.05)
    with pytest.raises(GradingUnavailable, match="refusing to grade: .* 02_parameters"):
        _run(batch)
    events = _events(batch)
    assert not [w for w in events if w.startswith(("merge", "penalties"))], events


def test_an_assignment_whose_kernels_never_reached_the_check_is_merged_at_the_end(batch):
    for s in ("ada", "ben", "cleo"):
        batch["outcome"][(s, "01_convolution")] = ("error", False, 0.05)
    results = _run(batch)
    assert len(results) == len(JOBS) and sum(r.status == "error" for r in results) == 3
    events = _events(batch)
    assert sum(w.startswith("merge") for w in events) == len(JOBS)
