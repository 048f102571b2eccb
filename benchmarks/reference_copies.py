"""Worker seconds per submission of one assignment: N copies of its reference solution, graded in one run.

Usage: .venv/bin/python benchmarks/reference_copies.py ASSIGNMENT [N=4] [WORKERS=2] [OUT.json]

Grades N copies of the reference solution with ``grading.grade_all`` (a fresh
temporary course, as ``parcel-course grade`` runs) and prints, per submission,
its status, score, worker seconds and where they went (``GradeResult.phases``,
where this version of the grader records them), then the medians. The closing
notes of issue 18 quote its before/after figures: run it on two checkouts.
"""
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import copy_reference, fresh_course

from parcel_course import grading


def main(argv):
    assignment = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 4
    workers = int(argv[2]) if len(argv) > 2 else 2
    root = Path(tempfile.mkdtemp(prefix="parcel-copies-"))
    try:
        course = fresh_course(root, [assignment])
        for i in range(n):
            copy_reference(course, f"copy{i:02d}", assignment)
        t0 = time.perf_counter()
        res = grading.grade_all(course, [assignment], workers=workers, progress=False)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [dict(student=r.student, status=r.status, score=r.score, max_score=r.max_score,
                 seconds=round(r.seconds, 1), execution_seconds=round(r.execution_seconds, 1),
                 phases=getattr(r, "phases", {})) for r in res]
    for r in rows:
        print(r)
    phases = sorted({k for r in rows for k in r["phases"]})
    out = dict(assignment=assignment, copies=n, workers=workers, wall=round(wall, 1),
               median_seconds=round(statistics.median(r["seconds"] for r in rows), 1),
               median_phases={k: round(statistics.median(r["phases"].get(k, 0.0) for r in rows), 2) for k in phases},
               submissions=rows)
    print(json.dumps({k: v for k, v in out.items() if k != "submissions"}, indent=1))
    if len(argv) > 3:
        Path(argv[3]).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
