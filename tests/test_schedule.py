"""grade_all checks each assignment's sandbox beside the first jobs, and merges nothing before the check passed.

The executor, the jobs and the preflight are stand-ins (threads, no kernel): these tests are about
the order of things in :func:`parcel_course.grading.schedule.grade_all`, not about grading.
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
        for s in ("ada", "ben")]


@pytest.fixture()
def batch(monkeypatch):
    """grade_all with stand-ins; returns the log of events ('job', 'merge', 'preflight <a>', ...)."""
    log, lock = [], threading.Lock()

    def note(what):
        with lock:
            log.append((time.monotonic(), what))
    started = threading.Event()

    def grade(job):
        started.set()
        time.sleep(0.05)
        note(f"job {job.student}/{job.assignment}")
        return GradeResult(job.student, job.assignment, "graded", score=1, max_score=1)
    monkeypatch.setattr(schedule, "collect_jobs", lambda *a, **k: list(JOBS))
    monkeypatch.setattr(schedule, "already_graded", lambda course, job: False)
    monkeypatch.setattr(schedule, "load_ledgers", lambda course: [])
    monkeypatch.setattr(schedule, "grade_submission", grade)
    monkeypatch.setattr(schedule, "merge_result", lambda course, res: note(f"merge {res.student}/{res.assignment}"))
    monkeypatch.setattr(schedule, "apply_penalties", lambda course, assignments: note("penalties"))
    return dict(log=log, note=note, started=started)


def _run(monkeypatch, batch, preflight):
    monkeypatch.setattr(schedule, "preflight_course", preflight)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return schedule.grade_all(object(), workers=2, progress=False, executor=pool, limits=Limits(threads=1))


def test_preflight_runs_beside_the_jobs_and_merges_wait_for_it(monkeypatch, batch):
    def preflight(course, assignment, limits):
        # the first jobs are already running while the sandbox is checked (the old code checked first)
        assert batch["started"].wait(5), "no job started while the preflight ran: the check was serial"
        time.sleep(0.3)          # every job finishes before the checks pass
        batch["note"](f"preflight {assignment}")
    results = _run(monkeypatch, batch, preflight)
    assert sorted((r.student, r.assignment) for r in results) == sorted((j.student, j.assignment) for j in JOBS)
    events = [w for _, w in sorted(batch["log"])]
    last_check = max(i for i, w in enumerate(events) if w.startswith("preflight"))
    merges = [i for i, w in enumerate(events) if w.startswith("merge")]
    assert len(merges) == len(JOBS)
    assert min(merges) > last_check, events
    assert [w for w in events if w.startswith("preflight")] == ["preflight 01_convolution", "preflight 02_parameters"]
    assert events[-1] == "penalties"


def test_a_failed_preflight_merges_nothing(monkeypatch, batch):
    def preflight(course, assignment, limits):
        assert batch["started"].wait(5)
        time.sleep(0.2)
        if assignment == "02_parameters":
            raise GradingUnavailable("refusing to grade: the sandboxed grading kernel of 02_parameters cannot load x")
    with pytest.raises(GradingUnavailable, match="refusing to grade: .* 02_parameters"):
        _run(monkeypatch, batch, preflight)
    events = [w for _, w in batch["log"]]
    assert not [w for w in events if w.startswith(("merge", "penalties"))], events


def test_a_preflight_that_passes_while_jobs_run_lets_later_results_merge_at_once(monkeypatch, batch):
    def preflight(course, assignment, limits):
        batch["note"](f"preflight {assignment}")          # quick: passes before most jobs finish
    results = _run(monkeypatch, batch, preflight)
    assert len(results) == len(JOBS)
    events = [w for _, w in sorted(batch["log"])]
    assert sum(w.startswith("merge") for w in events) == len(JOBS)
