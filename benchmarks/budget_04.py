"""Worker seconds per 04_cnn submission: two reference submissions and a blank one, graded by `grading.grade_all` with 2 workers.

Usage: .venv/bin/python benchmarks/budget_04.py OUT.json. About 2 minutes on 2 cores; prints the
seconds and scores the README's "A training budget for 04" quotes, and writes them to OUT.json.

"""
import json, shutil, sys, tempfile, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
from parcel_course.directory import Course
from parcel_course import grading
def main():
    root = Path(tempfile.mkdtemp(prefix="m04-"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source", ignore=shutil.ignore_patterns("*.src.py"))
    course = Course(root); course.generate(["04_cnn"])
    for student in ("reference", "reference2", "blank"):
        d = course.submitted / student / "04_cnn"; d.mkdir(parents=True)
        src = root / ("release" if student == "blank" else "source") / "04_cnn"
        for nb in src.glob("*.ipynb"): shutil.copy(nb, d)
    t = time.time()
    res = grading.grade_all(course, ["04_cnn"], workers=2, progress=False)
    out = {"wall": round(time.time() - t, 1), "results": [
        {"student": r.student, "status": r.status, "score": r.score, "max": r.max_score, "seconds": round(r.seconds, 1),
         "execution_seconds": round(r.execution_seconds, 1), "flags": r.flags} for r in res]}
    print(json.dumps(out, indent=1))
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1))

if __name__ == '__main__':
    main()
