"""Benchmark: grading a whole class over the four assignments, and what it would take for 200 students.

A simulated class of ``--students`` (default 100) over every assignment, the
demo's kinds of students in these proportions (:data:`KINDS`): right, one
realistic mistake (:mod:`parcel_course.mistakes`), half done, blank, a kernel
crash (``os._exit`` in the first answer), late (right, submitted after the due
date) and missing (never submitted).  Each student has a kind per
assignment, drawn with a fixed seed.

Grading the whole class of 100 (about 360 submissions, 04 retraining its
networks in each) takes longer than the 30 minutes this benchmark may take on
2 cores, so by default it grades a sample: ``--per-kind`` submissions of each
kind of each assignment, all four assignments in one ``grading.grade_all`` run
with ``--workers`` workers, as ``parcel-course grade`` runs them.  ``--full``
grades every submission of the class instead.

From the graded submissions it writes to BENCHMARKS.md (its own section) and
``benchmarks/class_grading.json``:

- worker seconds per submission by assignment (median, 90th percentile) and by kind;
- the wall time of the graded run, against what the scheduling model below
  predicts for it (a check of the model);
- the wall time of the whole class on ``--workers`` workers, and of 200 students on
  2, 8 and 32 workers and on a Dask cluster of 32 workers: each submission of the
  class gets the worker seconds measured for a graded one of its assignment and kind,
  and the jobs go to the workers as ``grade_all`` hands them out (longest assignment
  first, each job to the first free worker);
- where the time goes (``GradeResult.phases``, :data:`parcel_course.grading.PHASES`).

    .venv/bin/python benchmarks/class_grading.py [--students 100] [--per-kind 3] [--full] [--workers 2]
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import ROOT, fresh_course, write_section

from parcel_course import grading
from parcel_course.demo import fill_in
from parcel_course.directory import Course
from parcel_course.mistakes import MISTAKES

#: The kinds of students and their share of a class (they add up to 1).
KINDS = {"right": 0.45, "mistake": 0.20, "half": 0.10, "blank": 0.05, "crash": 0.05, "late": 0.05, "missing": 0.10}
SECTION = "class-grading"
#: Seconds a fresh ``python -m nbgrader`` spends importing before it grades (BENCHMARKS.md, "Grading: serial
#: nbgrader against parcel-course grade"): what a Dask worker, which cannot fork, pays per submission.
FRESH_PROCESS_IMPORT_S = 2.0


def class_kinds(students: int, assignments, seed: int = 0) -> dict:
    """``{(student, assignment): kind}``: per assignment, the kinds in their proportions, shuffled.

    >>> sorted(set(class_kinds(10, ["a"]).values())) == sorted(set(KINDS) - {"missing"})
    True
    """
    rng = random.Random(seed)
    names = [f"s{i:03d}" for i in range(students)]
    out = {}
    for a in assignments:
        pool = []
        for kind, share in KINDS.items():
            pool += [kind] * max(1, round(share * students))     # every kind, even in a small class
        pool = (pool + ["right"] * students)[:students]
        rng.shuffle(pool)
        out.update({(s, a): k for s, k in zip(names, pool)})
    return out


def write_submission(course: Course, student: str, assignment: str, kind: str, due: datetime) -> None:
    d = course.submitted / student / assignment
    d.mkdir(parents=True, exist_ok=True)
    notebooks = sorted((course.release / assignment).glob("*.ipynb"))
    for i, rel in enumerate(notebooks):
        shutil.copy(rel, d / rel.name)
        mistake = MISTAKES.get(assignment) if kind == "mistake" else None
        fill_in(d / rel.name, course.source / assignment / rel.name,
                answer={"half": "half", "blank": "none"}.get(kind, "all"),
                mistake=mistake if mistake and mistake["notebook"] == rel.stem else None,
                crash=(kind == "crash" and i == 0))
    when = due + (timedelta(hours=2) if kind == "late" else -timedelta(days=1))
    (d / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))


def makespan(durations, workers: int) -> float:
    """Wall time of jobs handed, in this order, each to the first free worker."""
    free = [0.0] * workers
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def in_grading_order(jobs):
    """The seconds of ``(assignment, seconds)`` jobs in the order ``grade_all`` hands them out on a first run
    (``grading.longest_first``)."""
    tagged = [grading.GradeJob(str(i), a, {}, b"") for i, (a, _s) in enumerate(jobs)]
    return [jobs[int(j.student)][1] for j in grading.longest_first(tagged)]


def q90(v):
    return statistics.quantiles(v, n=10, method="inclusive")[-1] if len(v) > 1 else v[0]


def project(kinds: dict, measured: dict, students: int, per_sub_extra: dict | None = None) -> list:
    """``(assignment, seconds)`` for every submission of a class of ``students``: each gets, in turn, the
    worker seconds of the graded submissions of its assignment and kind (``measured[(a, kind)]``)."""
    per_sub_extra = per_sub_extra or {}
    scaled = class_kinds(students, sorted({a for _s, a in kinds}), seed=1)
    turn: dict = {}
    jobs = []
    for (s, a), kind in sorted(scaled.items()):
        if kind == "missing":
            continue
        values = measured[(a, kind)]
        i = turn.get((a, kind), 0)
        turn[(a, kind)] = i + 1
        jobs.append((a, values[i % len(values)] + per_sub_extra.get(a, 0.0)))
    return jobs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--per-kind", type=int, default=3, help="graded submissions per assignment and kind")
    p.add_argument("--full", action="store_true", help="grade every submission of the class")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--assignments", nargs="*", default=None)
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    a = p.parse_args(argv)
    assignments = a.assignments or sorted(x.name for x in (ROOT / "source").glob("0*"))
    base = Path(tempfile.mkdtemp(prefix="parcel-class-"))
    try:
        print(f"== {a.students} students, {', '.join(assignments)}: generating the release")
        course = fresh_course(base, assignments)
        due = datetime.now(timezone.utc).replace(microsecond=0)
        for x in assignments:
            course.nbgrader("db", "assignment", "add", x, f"--duedate={due.isoformat()}")
        kinds = class_kinds(a.students, assignments)
        handed_in = {k: v for k, v in kinds.items() if v != "missing"}
        graded, taken = {}, {}
        for (s, x), kind in sorted(handed_in.items()):
            if a.full or taken.get((x, kind), 0) < a.per_kind:
                taken[(x, kind)] = taken.get((x, kind), 0) + 1
                graded[(s, x)] = kind
                write_submission(course, s, x, kind, due)
        print(f"== grading {len(graded)} of the class's {len(handed_in)} submissions with {a.workers} workers")
        t0 = time.perf_counter()
        results = grading.grade_all(course, assignments, workers=a.workers)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(base, ignore_errors=True)

    rows = [dict(student=r.student, assignment=r.assignment, kind=graded[(r.student, r.assignment)],
                 status=r.status, score=r.score, max_score=r.max_score, seconds=round(r.seconds, 2),
                 phases=r.phases) for r in results]
    measured: dict = {}
    for r in rows:
        measured.setdefault((r["assignment"], r["kind"]), []).append(r["seconds"])
    model_wall = makespan(in_grading_order([(r["assignment"], r["seconds"]) for r in rows]), a.workers)
    class_jobs = project(kinds, measured, a.students)
    if a.full:
        class_jobs = [(r["assignment"], r["seconds"]) for r in rows]
    # a Dask worker runs threads, so it does not fork: a fresh nbgrader, and the reference computed per submission
    warm = {x: max([r["phases"].get("reference", 0.0) for r in rows if r["assignment"] == x] or [0.0])
            for x in assignments}
    dask_extra = {x: FRESH_PROCESS_IMPORT_S + warm[x] for x in assignments}
    projections = {}
    for w in (2, 8, 32):
        projections[f"{w} workers"] = makespan(in_grading_order(project(kinds, measured, 200)), w)
    projections["Dask, 32 workers"] = makespan(in_grading_order(project(kinds, measured, 200, dask_extra)), 32)

    by_assignment = {}
    for x in assignments:
        v = [r["seconds"] for r in rows if r["assignment"] == x]
        phases = {k: statistics.mean(r["phases"].get(k, 0.0) for r in rows if r["assignment"] == x)
                  for k in grading.PHASES}
        by_kind = {k: round(statistics.median(measured[(x, k)]), 1) for k in KINDS if (x, k) in measured}
        by_assignment[x] = dict(
            in_class=sum(1 for (s, y), k in handed_in.items() if y == x), graded=len(v),
            median=round(statistics.median(v), 1), p90=round(q90(v), 1), mean=round(statistics.mean(v), 1),
            by_kind=by_kind, phases={k: round(t, 2) for k, t in phases.items()},
            scores=sorted({(r["kind"], r["status"], r["score"], r["max_score"]) for r in rows if r["assignment"] == x}))
    result = dict(
        date=time.strftime("%Y-%m-%d"), machine=f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.system()}",
        students=a.students, kinds=KINDS, workers=a.workers, full=a.full, per_kind=a.per_kind,
        submissions_in_class=len(handed_in), graded=len(rows), graded_wall_s=round(wall, 1),
        graded_wall_model_s=round(model_wall, 1), class_wall_s=round(makespan(in_grading_order(class_jobs),
                                                                                   a.workers), 1),
        class_worker_s=round(sum(s for _x, s in class_jobs), 1),
        projections_200={k: round(v, 1) for k, v in projections.items()}, dask_extra_s=dask_extra,
        by_assignment=by_assignment, submissions=rows)
    (ROOT / "benchmarks" / "class_grading.json").write_text(json.dumps(result, indent=1, default=list) + "\n")
    write_section(Path(a.out), render(result, assignments), SECTION)
    print(render(result, assignments))


def _hm(s: float) -> str:
    return f"{s / 60:.0f} min" if s < 3600 else f"{int(s // 3600)} h {round(s % 3600 / 60):02d} min"


def render(r: dict, assignments) -> str:
    A = r["by_assignment"]
    graded = ("every submission of the class" if r["full"] else
              f"a sample of {r['graded']} of them: {r['per_kind']} per assignment and kind of student")
    lines = [
        f"## Grading a class: {r['students']} students, four assignments",
        "",
        f"Measured by `make bench-class` (`.venv/bin/python benchmarks/class_grading.py`) on {r['date']}, "
        f"{r['machine']}.",
        f"The class: {r['students']} students, each of one kind per assignment, in these shares: "
        + ", ".join(f"{k} {v:.0%}" for k, v in r["kinds"].items())
        + f"; {r['submissions_in_class']} submissions. Graded with `grading.grade_all(workers={r['workers']})`: "
        + f"{graded}, in one run of {r['graded_wall_s']:.0f} s.",
        "",
        "Worker seconds per submission (a worker's wall time for one submission, two workers sharing the cores):",
        "",
        "| assignment | in the class | graded | median | 90th percentile | " + " | ".join(
            k for k in r["kinds"] if k != "missing") + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for k in r["kinds"] if k != "missing") + " |",
    ]
    for x in assignments:
        a = A[x]
        lines.append(f"| {x} | {a['in_class']} | {a['graded']} | {a['median']} s | {a['p90']} s | " + " | ".join(
            f"{a['by_kind'].get(k, '')}" for k in r["kinds"] if k != "missing") + " |")
    proj = r["projections_200"]
    lines += [
        "",
        "(by kind: the median seconds of that kind's graded submissions.)",
        "",
        "Wall time. Each submission of a class gets the seconds measured for a graded submission of its "
        "assignment and kind; the jobs go to the workers as `grade_all` hands them out (the last assignment "
        "first, each job to the first free worker). The model against the run it comes from: "
        f"{r['graded_wall_model_s']:.0f} s predicted for the graded run, {r['graded_wall_s']:.0f} s measured.",
        "",
        "| class | workers | wall time |",
        "| --- | --- | ---: |",
        f"| {r['students']} students ({r['class_worker_s']:.0f} worker seconds) | {r['workers']} "
        f"{'(measured)' if r['full'] else '(projected)'} | {_hm(r['class_wall_s'])} |",
    ]
    for k, v in proj.items():
        lines.append(f"| 200 students | {k} | {_hm(v)} |")
    lines += [
        "",
        "8 and 32 workers assume a core per worker, as fast as these. A Dask worker runs threads, so it cannot "
        f"fork: each submission pays a fresh nbgrader's imports (about {FRESH_PROCESS_IMPORT_S:.0f} s) and the "
        "reference values a forking worker computes once ("
        + ", ".join(f"{x} {v - FRESH_PROCESS_IMPORT_S:.1f} s" for x, v in r["dask_extra_s"].items()) + ").",
        "",
        "Where the time goes, mean seconds per graded submission "
        "(`GradeResult.phases`, recorded in each ledger):",
        "",
        "| phase | " + " | ".join(assignments) + " | what |",
        "| --- | " + " | ".join("---:" for _ in assignments) + " | --- |",
    ]
    for k, what in grading.PHASES.items():
        lines.append(f"| {k} | " + " | ".join(f"{A[x]['phases'][k]:.2f}" for x in assignments) + f" | {what} |")
    lines += ["", "Raw figures, every graded submission with its phases: `benchmarks/class_grading.json`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
