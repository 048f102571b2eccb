"""Worker seconds per 04_cnn submission: two reference submissions and a blank one, graded by `grading.grade_all` with 2 workers.

Usage: .venv/bin/python benchmarks/budget_04.py OUT.json. About 2 minutes on 2 cores; prints the
seconds and scores the README's "A training budget for 04" quotes, and writes them to OUT.json.

"""
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import copy_reference, fresh_course

from parcel_course import grading


def main():
    root = Path(tempfile.mkdtemp(prefix="m04-"))
    try:
        course = fresh_course(root, ["04_cnn"])
        for student in ("reference", "reference2", "blank"):
            copy_reference(course, student, "04_cnn", blank=student == "blank")
        t = time.time()
        res = grading.grade_all(course, ["04_cnn"], workers=2, progress=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = {"wall": round(time.time() - t, 1), "results": [
        {"student": r.student, "status": r.status, "score": r.score, "max": r.max_score, "seconds": round(r.seconds, 1),
         "execution_seconds": round(r.execution_seconds, 1), "flags": r.flags} for r in res]}
    print(json.dumps(out, indent=1))
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
