"""``make demo``: a whole course run on a simulated class.

Release every assignment to the exchange; six simulated students fetch,
fill in (from the reference solutions, with realistic mistakes) and submit
with explicit ids; the instructor collects, grades in parallel in the
sandbox, writes feedback, exports grades and the report.

The class:

========  ==============================================================
ada       every answer right
ben       one realistic mistake per assignment; submits twice (blank first)
cleo      answered the first half of the questions only
dan       submitted the release untouched
eve       right, but one answer cell kills the kernel (``os._exit``)
fay       right, but submits after the due date (late: her collected
          submissions are dated a day and two hours later, so that the
          course's late rule, nbgrader_config.py, takes 20% off)
gil       hands in 01_convolution only: ada's, copied (her correlate2d,
          which she wrote her own way, renamed, re-laid out and commented)
========  ==============================================================

In 04_cnn, whose notebook trains networks for minutes, only ada, ben and
dan hand in (the others never submit it), which keeps the demo within
about 15 minutes on two cores.  ``parcel-course similarity`` then flags
ada and gil on 01_convolution's correlate2d (the report's similarity section).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat

from . import exchange
from .authoring import solution_text as _solution_text
from .directory import Course
from .mistakes import MISTAKES
from .feedback import write_feedback
from .grading.schedule import grade_all
from .report import export_grades, summary_table, write_report
from .similarity import similarity_all

STUDENTS = ["ada", "ben", "cleo", "dan", "eve", "gil", "fay"]   # fay last: the due date passes before she submits
NOT_HANDED_IN = {"02_parameters": {"gil"}, "03_handcrafted": {"gil"}, "04_cnn": {"cleo", "eve", "fay", "gil"}}
#: fay's collected submissions are dated this much later (the demo runs in minutes, lateness takes days)
FAY_LATE = (1, 2)   # days, hours
#: answers a student wrote their own way (a fairness-suite alternative): student -> (notebook, cell) -> code
OWN_ANSWERS = {"ada": {("convolution", "correlate2d"): '''def correlate2d(image, kernel, padding="valid", stride=1):
    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    kh, kw = kernel.shape
    half = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    widths = {"valid": ((0, 0), (0, 0)), "full": ((kh - 1, kh - 1), (kw - 1, kw - 1)),
              "same": half, "symmetric": half}[padding]
    padded = np.pad(image, widths, mode="symmetric" if padding == "symmetric" else "constant")
    H, W = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((H, W))
    for u in range(kh):
        for v in range(kw):
            out += kernel[u, v] * padded[u:u + H, v:v + W]
    return out[::stride, ::stride]
'''}}
OWN_ANSWERS["gil"] = {("convolution", "correlate2d"): '''def correlate2d(image, kernel, padding="valid", stride=1):
    # correlation: slide the kernel over the image
    img = np.asarray(image, dtype=float)
    w = np.asarray(kernel, dtype=float)
    n_rows, n_cols = w.shape

    # how much to pad on each side
    h2 = (((n_rows - 1) // 2, n_rows // 2), ((n_cols - 1) // 2, n_cols // 2))
    pads = {
        "valid": ((0, 0), (0, 0)),
        "full": ((n_rows - 1, n_rows - 1), (n_cols - 1, n_cols - 1)),
        "same": h2,
        "symmetric": h2,
    }[padding]
    p = np.pad(img, pads, mode="symmetric" if padding == "symmetric" else "constant")
    out_h, out_w = p.shape[0] - n_rows + 1, p.shape[1] - n_cols + 1
    result = np.zeros((out_h, out_w))
    for i in range(n_rows):      # every filter row
        for j in range(n_cols):  # and column
            result += w[i, j] * p[i:i + out_h, j:j + out_w]
    return result[::stride, ::stride]
'''}


def fill_in(release_nb: Path, source_nb: Path, answer: str = "all", mistake: dict | None = None,
            crash: bool = False, own: dict | None = None) -> None:
    """Write the student's answers into their copy of a notebook.

    answer: 'all', 'half' (the first half of the answer cells) or 'none'.
    """
    nb = nbformat.read(release_nb, as_version=4)
    src = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(source_nb, as_version=4).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    answer_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    n = {"all": len(answer_cells), "half": len(answer_cells) // 2, "none": 0}[answer]
    for i, cell in enumerate(answer_cells):
        gid = cell.metadata["nbgrader"]["grade_id"]
        if i >= n or gid not in src:
            continue
        cell.source = (own or {}).get((release_nb.stem, gid)) or _solution_text(src[gid].source)
        if mistake and mistake["cell"] == gid:
            assert mistake["find"] in cell.source, f"mistake {mistake} does not apply"
            cell.source = cell.source.replace(mistake["find"], mistake["replace"])
    if crash and answer_cells:
        code = [c for c in answer_cells if c.cell_type == "code"]
        if code:
            code[0].source = "import os\nos._exit(1)  # the kernel dies here\n" + code[0].source
    nbformat.write(nb, release_nb)


def persona(student: str, assignment: str, notebook: str, first_assignment: str) -> dict:
    """How a simulated student fills in one notebook: the keyword arguments of :func:`fill_in`."""
    mistake = MISTAKES.get(assignment) if student == "ben" else None
    return dict(answer={"cleo": "half", "dan": "none"}.get(student, "all"),
                mistake=mistake if mistake and mistake["notebook"] == notebook else None,
                crash=(student == "eve" and assignment == first_assignment),
                **({"own": OWN_ANSWERS[student]} if student in OWN_ANSWERS else {}))


def _date_later(course: Course, student: str, assignments, days: int, hours: int) -> None:
    """Move the collected submissions' timestamps of ``student`` later (the demo's late student)."""
    from nbgrader.utils import parse_utc   # nbgrader: heavy (its apps import the notebook stack)
    for a in assignments:
        p = course.submitted / student / a / "timestamp.txt"
        if p.exists():
            later = parse_utc(p.read_text().strip()) + timedelta(days=days, hours=hours)
            p.write_text(later.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))


def run_demo(course: Course, workers: int = 2, assignments=None, out=print) -> dict:
    """Run the whole demo; returns timings of each stage."""
    t = {}
    t0 = time.perf_counter()
    assignments = course.check_assignments(assignments)
    out(f"== parcel-course demo: {len(assignments)} assignment(s), {len(STUDENTS)} students, {workers} workers")
    out("-- cleaning the previous run (exchange, submitted, autograded, gradebook, feedback, reports)")
    course.clean_outputs()
    shutil.rmtree(exchange.exchange_root(course), ignore_errors=True)

    out("-- release (nbgrader generate_assignment + release_assignment)")
    course.build_source()
    exchange.release(course, assignments)
    t["release"] = time.perf_counter() - t0

    homes = Path(tempfile.mkdtemp(prefix="parcel-demo-students-"))
    try:
        out("-- students fetch, work and submit")
        late_due = None
        for student in STUDENTS:
            for a in assignments:
                if student in NOT_HANDED_IN.get(a, ()):
                    continue
                home = homes / student
                folder = exchange.student_fetch(course, a, home)
                if student == "fay" and late_due is None:
                    # the due date passes just before fay submits: her submissions are late
                    late_due = datetime.now(timezone.utc)
                    for aa in assignments:
                        course.nbgrader("db", "assignment", "add", aa, f"--duedate={late_due.isoformat()}")
                    time.sleep(1.1)
                if student == "ben":      # a first, blank submission; the second one counts
                    exchange.student_submit(course, a, student, home)
                    time.sleep(1.1)       # nbgrader timestamps have a resolution of one second
                for nb_path in sorted(folder.glob("*.ipynb")):
                    fill_in(nb_path, course.source / a / nb_path.name,
                            **persona(student, a, nb_path.stem, assignments[0]))
                exchange.student_submit(course, a, student, home)
        t["students"] = time.perf_counter() - t0 - t["release"]

        out("-- collect")
        exchange.collect(course, assignments)
        _date_later(course, "fay", assignments, *FAY_LATE)
        out(f"-- grade in parallel ({workers} workers, sandbox)")
        t1 = time.perf_counter()
        grade_all(course, assignments, workers=workers)
        t["grade"] = time.perf_counter() - t1
        out("-- similarity (parcel-course similarity)")
        similarity_all(course, assignments, workers=workers)
        out("-- feedback, export, report")
        fb = write_feedback(course, assignments)
        csv = export_grades(course)
        report = write_report(course)
    finally:
        shutil.rmtree(homes, ignore_errors=True)
    t["total"] = time.perf_counter() - t0
    out("")
    out(summary_table(course))
    out("")
    out(f"feedback: {len(fb)} file(s) under {course.feedback}")
    out(f"grades:   {csv}")
    out(f"report:   {report}")
    out(f"time:     {t['total']:.0f} s (grading {t['grade']:.0f} s)")
    return t
