"""Grades out of the course: CSV export, the instructor report, a terminal summary.

Two sources are combined:

- the nbgrader gradebook (``course.db_url``): scores, including any manual
  grading done afterwards in formgrader, due dates and lateness;
- the grading ledgers (:func:`.grading.load_ledgers`): how each submission's
  grading went (status, reason, run time, flags of suspicious code, errors of
  the test cells).

:func:`export_grades` writes ``reports/grades.csv`` (one row per student and
assignment) and ``reports/grades-questions.csv`` (one row per student and
question); :func:`write_report` writes ``reports/index.html``, one
self-contained page with its figures embedded; :func:`summary_table` is the
plain-text table ``parcel-course`` prints.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .directory import Course
from .grading import load_ledgers

__all__ = ["submission_rows", "question_rows", "export_grades", "write_report", "summary_table"]

SUBMISSION_FIELDS = ["student", "assignment", "score", "max_score", "percent", "status", "reason",
                     "late", "seconds_late", "late_penalty", "flagged", "flags", "needs_manual_grade",
                     "timestamp", "grading_seconds", "execution_seconds"]
QUESTION_FIELDS = ["student", "assignment", "notebook", "question", "kind", "score", "max_score",
                   "passed", "needs_manual_grade", "status", "error"]
PROBLEM_STATUSES = ("error", "timeout", "killed")
_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$")


def _check_course(course) -> Course:
    if not isinstance(course, Course):
        raise TypeError(f"`course` should be a parcel_course.directory.Course, got {type(course).__name__}.")
    return course


def _last_exception(log: str) -> str:
    """The last ``SomeError: message`` line of a grading log (what actually went wrong)."""
    found = ""
    for line in (log or "").splitlines():
        m = _EXC_LINE.match(line)
        if m:
            found = line.strip()
    return found[:300]


def _question_order(course: Course, assignment: str) -> dict:
    """(notebook, grade_id) -> position in the source notebook, and the answer cells' ids."""
    order, answers = {}, set()
    for nb_path in course.notebooks(assignment):
        try:
            nb = nbformat.read(nb_path, as_version=4)
        except Exception:          # an unreadable source notebook only loses the ordering
            continue
        for i, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                order[(nb_path.stem, meta["grade_id"])] = (nb_path.stem, i)
                if meta.get("solution"):
                    answers.add((nb_path.stem, meta["grade_id"]))
    return {"order": order, "answers": answers}


def _gradebook_records(course: Course) -> dict:
    """(student, assignment) -> what the gradebook holds about that submission."""
    from nbgrader.api import Gradebook
    out = {}
    if not course.db_path.exists():
        return out
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                grades = []
                for nb in sub.notebooks:
                    for g in nb.grades:
                        grades.append(dict(notebook=nb.name, grade_id=g.name, score=g.score,
                                           max_score=float(g.max_score or 0), cell_type=g.cell_type,
                                           needs_manual_grade=bool(g.needs_manual_grade),
                                           auto_score=g.auto_score, manual_score=g.manual_score))
                late = float(sub.total_seconds_late or 0)
                out[(sub.student.id, assignment.name)] = dict(
                    score=float(sub.score or 0), max_score=float(sub.max_score or 0),
                    seconds_late=late, late_penalty=float(sub.late_submission_penalty or 0),
                    timestamp=sub.timestamp.isoformat() if sub.timestamp else None,
                    needs_manual_grade=bool(sub.needs_manual_grade), grades=grades)
    return out


def _records(course: Course):
    """Ledgers and gradebook, joined on (student, assignment)."""
    ledgers = {(d["student"], d["assignment"]): d for d in load_ledgers(course)}
    gradebook = _gradebook_records(course)
    return ledgers, gradebook, sorted(set(ledgers) | set(gradebook), key=lambda k: (k[1], k[0]))


def submission_rows(course: Course) -> list[dict]:
    """One dict per submission (student x assignment), the rows of ``grades.csv``.

    Scores come from the gradebook (they include manual grades), how grading
    went from the ledger.  A submission graded by plain ``nbgrader autograde``
    (no ledger) appears with status ``graded``; one with a ledger but missing
    from the gradebook keeps the ledger's score.

    Example
    -------
    >>> rows = submission_rows(Course("."))                   # doctest: +SKIP
    >>> rows[0]["student"], rows[0]["status"]                 # doctest: +SKIP
    ('alice', 'graded')
    """
    _check_course(course)
    ledgers, gradebook, keys = _records(course)
    rows = []
    for key in keys:
        led, gb = ledgers.get(key, {}), gradebook.get(key)
        score = gb["score"] if gb else float(led.get("score") or 0)
        max_score = gb["max_score"] if gb else float(led.get("max_score") or 0)
        flags = led.get("flags") or []
        seconds_late = gb["seconds_late"] if gb else 0.0
        rows.append(dict(
            student=key[0], assignment=key[1],
            score=round(score, 4), max_score=round(max_score, 4),
            percent=round(100 * score / max_score, 1) if max_score else 0.0,
            status=led.get("status", "graded"),
            reason=led.get("reason", "") or "",
            detail=_last_exception(led.get("log", "")) if led.get("status") in PROBLEM_STATUSES else "",
            late=seconds_late > 0, seconds_late=round(seconds_late, 1),
            late_penalty=gb["late_penalty"] if gb else 0.0,
            flagged=bool(flags),
            flags="; ".join(f"{f.get('notebook', '')}/{f.get('cell', '')}: {f.get('reason', '')}" for f in flags),
            flag_list=flags,
            needs_manual_grade=gb["needs_manual_grade"] if gb else any(
                g.get("needs_manual_grade") for g in led.get("grades", [])),
            timestamp=(gb or {}).get("timestamp") or led.get("timestamp"),
            grading_seconds=round(float(led["seconds"]), 2) if "seconds" in led else None,
            execution_seconds=round(float(led["execution_seconds"]), 2) if "execution_seconds" in led else None,
            sandbox=led.get("sandbox", ""),
            in_ledger=bool(led),
        ))
    return rows


def question_rows(course: Course) -> list[dict]:
    """One dict per student x graded cell, the rows of ``grades-questions.csv``.

    ``kind`` is ``autograded`` for a test cell and ``manual`` for an answer
    graded by hand; ``passed`` is whether the cell got full marks (empty while
    a manual grade is pending); ``error`` is the error the test cell raised.
    """
    _check_course(course)
    ledgers, gradebook, keys = _records(course)
    info = {a: _question_order(course, a) for a in {k[1] for k in keys}}
    rows = []
    for key in keys:
        led, gb = ledgers.get(key, {}), gradebook.get(key)
        errors = {(g["notebook"], g["grade_id"]): g.get("error", "") for g in led.get("grades", [])}
        grades = gb["grades"] if gb else [dict(g, score=g.get("auto_score")) for g in led.get("grades", [])]
        order, answers = info[key[1]]["order"], info[key[1]]["answers"]
        grades = sorted(grades, key=lambda g: order.get((g["notebook"], g["grade_id"]), (g["notebook"], 10**6)))
        for g in grades:
            qk = (g["notebook"], g["grade_id"])
            manual = qk in answers or (qk not in order and g["cell_type"] == "markdown")
            pending = bool(g["needs_manual_grade"]) or g["score"] is None
            if pending and g.get("manual_score") is None and g.get("auto_score") is None:
                score = None         # nobody has graded it yet: no number rather than a 0
            else:
                score = None if g["score"] is None else float(g["score"])
            rows.append(dict(
                student=key[0], assignment=key[1], notebook=g["notebook"], question=g["grade_id"],
                kind="manual" if manual else "autograded",
                score=score, max_score=float(g["max_score"] or 0),
                passed="" if pending else bool(score is not None and score >= float(g["max_score"] or 0) - 1e-9),
                needs_manual_grade=bool(g["needs_manual_grade"]),
                status=led.get("status", "graded"),
                error=re.sub(r":\s*$", "", errors.get(qk, "") or ""),
            ))
    return rows


def _write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    tmp.replace(path)


def export_grades(course: Course, path=None) -> Path:
    """Write the grades as CSV: one row per student and assignment, and one per question.

    Parameters
    ----------
    course : Course
    path : str or Path, optional
        The per-submission CSV; default ``reports/grades.csv``.  The
        per-question CSV goes beside it, ``<stem>-questions.csv``.

    Returns
    -------
    Path
        The per-submission CSV.  Its columns: student, assignment, score,
        max_score, percent, status (graded, error, timeout, killed), reason,
        late, seconds_late, late_penalty, flagged, flags, needs_manual_grade,
        timestamp, grading_seconds, execution_seconds.

    Example
    -------
    >>> export_grades(Course("."))                        # doctest: +SKIP
    PosixPath('.../reports/grades.csv')
    """
    _check_course(course)
    path = Path(path) if path is not None else course.reports / "grades.csv"
    if path.suffix.lower() != ".csv":
        raise ValueError(f"`path` should name a .csv file, got {str(path)!r}.")
    _write_csv(path, submission_rows(course), SUBMISSION_FIELDS)
    _write_csv(path.with_name(path.stem + "-questions.csv"), question_rows(course), QUESTION_FIELDS)
    return path


# -- the terminal table --------------------------------------------------------------------

def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary_table(course: Course) -> str:
    """A plain-text table of every submission: student, assignment, score/max, status.

    A last column notes what the instructor should look at: late, flagged,
    awaiting manual grading, or why grading failed.

    Example
    -------
    >>> print(summary_table(Course(".")))                 # doctest: +SKIP
    student  assignment      score  status  note
    -------  --------------  -----  ------  ----
    alice    01_convolution  10/12  graded  manual grading pending
    """
    rows = submission_rows(course)
    if not rows:
        return "No graded submission yet: run `parcel-course grade` first."
    out = []
    for r in rows:
        notes = []
        if r["status"] != "graded":
            notes.append(r["reason"][:70] or r["status"])
        if r["late"]:
            notes.append(f"late by {_duration(r['seconds_late'])}")
        if r["flagged"]:
            notes.append("flagged: " + r["flags"][:60])
        if r["needs_manual_grade"] and r["status"] == "graded":
            notes.append("manual grading pending")
        out.append([r["student"], r["assignment"], f"{_fmt(r['score'])}/{_fmt(r['max_score'])}",
                    r["status"], "; ".join(notes)])
    return _text_table(["student", "assignment", "score", "status", "note"], out)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- the HTML report -----------------------------------------------------------------------

def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    esc = lambda v: html.escape("" if v is None else _fmt(v))
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _question_stats(qrows: list[dict]) -> list[dict]:
    """Pass rate of each autograded question over submissions whose notebook ran."""
    acc = defaultdict(lambda: dict(n=0, passed=0, points=0.0, max_score=0.0, errors=Counter()))
    for q in qrows:
        if q["kind"] != "autograded" or q["status"] != "graded" or q["passed"] == "":
            continue
        s = acc[(q["assignment"], q["notebook"], q["question"])]
        s["n"] += 1
        s["passed"] += bool(q["passed"])
        s["points"] += q["score"] or 0.0
        s["max_score"] = q["max_score"]
        if q["error"]:
            s["errors"][q["error"]] += 1
    stats = []
    for (a, nb, qid), s in acc.items():
        stats.append(dict(assignment=a, notebook=nb, question=qid, n=s["n"], passed=s["passed"],
                          rate=s["passed"] / s["n"], mean=s["points"] / s["n"], max_score=s["max_score"],
                          error="; ".join(f"{e} (x{k})" for e, k in s["errors"].most_common(2))))
    stats.sort(key=lambda s: (s["rate"], s["assignment"]))
    return stats


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
     padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:0.1em} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:0.2em}
.meta{color:#666;font-size:0.9em}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.85em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #eee}
.caption{color:#555;font-size:0.85em;max-width:850px}
.ok{color:#2a7a2a} .bad{color:#b02a2a}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:0.5em 1em;min-width:8em}
.card b{display:block;font-size:1.5em}
"""


def write_report(course: Course, out_dir=None) -> Path:
    """Write the instructor report, ``reports/index.html``, one self-contained page.

    It shows, from the top: a summary table per assignment; the grade
    distribution of each assignment; the pass rate of every autograded
    question, worst first, with the most common error; the grading time of
    every submission; the submissions that errored, timed out or were killed,
    and why; the flagged submissions with the notebook, cell and reason; and
    every submission in one table.  Figures are PNG embedded in the page
    (base64), so the file can be mailed or archived alone.

    Parameters
    ----------
    course : Course
    out_dir : str or Path, optional
        Default ``course.reports``.

    Returns
    -------
    Path
        ``<out_dir>/index.html``.

    Example
    -------
    >>> write_report(Course("."))                         # doctest: +SKIP
    PosixPath('.../reports/index.html')
    """
    from parcel_utils import viz
    _check_course(course)
    out_dir = Path(out_dir) if out_dir is not None else course.reports
    rows = submission_rows(course)
    qrows = question_rows(course)
    stats = _question_stats(qrows)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{course.course_id}: grading report</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(course.course_id)}: grading report</h1>",
             f"<p class='meta'>Generated {now} from {html.escape(str(course.root))} "
             f"(gradebook and grading ledgers).</p>"]
    if not rows:
        parts.append("<p>No graded submission yet: run <code>parcel-course grade</code> first.</p></body></html>")
        return _write_html(out_dir, "".join(parts))

    # -- summary --------------------------------------------------------------------------
    n_problem = sum(r["status"] in PROBLEM_STATUSES for r in rows)
    cards = [("submissions", len(rows)), ("students", len({r["student"] for r in rows})),
             ("graded", sum(r["status"] == "graded" for r in rows)), ("errored / timed out / killed", n_problem),
             ("flagged", sum(r["flagged"] for r in rows)), ("late", sum(r["late"] for r in rows))]
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'><b>{v}</b>{html.escape(k)}</div>" for k, v in cards) + "</div>")
    summary = []
    for a in sorted({r["assignment"] for r in rows}):
        rs = [r for r in rows if r["assignment"] == a]
        pct = sorted(r["percent"] for r in rs)
        st = Counter(r["status"] for r in rs)
        summary.append([a, len(rs), st.get("graded", 0), st.get("error", 0), st.get("timeout", 0),
                        st.get("killed", 0), sum(r["flagged"] for r in rs), sum(r["late"] for r in rs),
                        sum(r["needs_manual_grade"] for r in rs), f"{max(r['max_score'] for r in rs):g}",
                        f"{sum(pct) / len(pct):.1f}", f"{pct[len(pct) // 2] if len(pct) % 2 else (pct[len(pct) // 2 - 1] + pct[len(pct) // 2]) / 2:.1f}",
                        f"{pct[0]:.1f}", f"{pct[-1]:.1f}"])
    parts.append("<h2>Summary</h2>")
    parts.append(_table(["assignment", "submissions", "graded", "error", "timeout", "killed", "flagged", "late",
                         "manual grading pending", "max points", "mean %", "median %", "min %", "max %"], summary))

    # -- grade distribution -----------------------------------------------------------------
    parts.append("<h2>Grade distribution</h2>")
    fig = viz.plot_grade_distribution([r["assignment"] for r in rows], [r["score"] for r in rows],
                                      [r["max_score"] for r in rows], [r["status"] for r in rows])
    parts.append(f"<img alt='grade distribution' src='{_png(fig)}'>")
    parts.append("<p class='caption'>Points per submission, one panel per assignment; the dashed line is "
                 "the mean.  Bars are coloured by grading status: a submission whose notebook could not run "
                 "to the end gets no credit for the tests after the failure.  Manual grades count once "
                 "they are entered in formgrader (re-run the report).</p>")

    # -- per-question pass rates -----------------------------------------------------------
    parts.append("<h2>Questions the class failed</h2>")
    if stats:
        fig = viz.plot_pass_rates([f"{s['assignment']} / {s['question']}" for s in stats],
                                  [s["rate"] for s in stats], counts=[(s["passed"], s["n"]) for s in stats])
        parts.append(f"<img alt='pass rate per question' src='{_png(fig)}'>")
        n_ran = len({(q["student"], q["assignment"]) for q in qrows if q["status"] == "graded"})
        shown = "" if len(stats) <= 40 else f" (the worst 40 of {len(stats)} in the figure, all in the table)"
        parts.append(f"<p class='caption'>Share of submissions with full marks on each autograded test cell, "
                     f"worst first{shown}, over the {n_ran} submission(s) whose notebook ran; the {n_problem} "
                     "that errored, timed out or were killed are left out here and listed below.</p>")
        parts.append(_table(["assignment", "notebook", "question", "passed", "pass rate", "mean points",
                             "max points", "most common errors"],
                            [[s["assignment"], s["notebook"], s["question"], f"{s['passed']}/{s['n']}",
                              f"{100 * s['rate']:.0f}%", f"{s['mean']:.2f}", f"{s['max_score']:g}", s["error"]]
                             for s in stats]))
    else:
        parts.append("<p>No autograded question of a submission whose notebook ran.</p>")
    manual = Counter((q["assignment"], q["question"]) for q in qrows if q["kind"] == "manual" and q["passed"] == "")
    if manual:
        parts.append("<p>Awaiting manual grading (formgrader): " + ", ".join(
            f"{html.escape(a)} / {html.escape(q)} ({n})" for (a, q), n in sorted(manual.items())) + ".</p>")

    # -- runtime ------------------------------------------------------------------------------
    parts.append("<h2>Grading time per submission</h2>")
    timed = [r for r in rows if r["grading_seconds"] is not None]
    if timed:
        fig = viz.plot_runtimes([r["assignment"] for r in timed], [r["grading_seconds"] for r in timed],
                                [r["status"] for r in timed], [r["execution_seconds"] or 0 for r in timed])
        parts.append(f"<img alt='grading time per submission' src='{_png(fig)}'>")
        secs = sorted(r["grading_seconds"] for r in timed)
        slow = sorted(timed, key=lambda r: -r["grading_seconds"])[:5]
        parts.append(f"<p class='caption'>Wall time of each submission's grading (dots; the grey tick is the "
                     f"time nbgrader ran the notebook, the gap is the grader's overhead).  Median "
                     f"{secs[len(secs) // 2]:.1f} s, max {secs[-1]:.1f} s, {sum(secs):.0f} s of worker time in "
                     f"all.  Slowest: " + ", ".join(
                         f"{html.escape(r['student'])}/{html.escape(r['assignment'])} ({r['grading_seconds']:.1f} s)"
                         for r in slow) + ".</p>")
    else:
        parts.append("<p>No grading time recorded (these submissions were graded outside parcel-course).</p>")

    # -- problems -----------------------------------------------------------------------------
    problems = [r for r in rows if r["status"] in PROBLEM_STATUSES]
    parts.append(f"<h2>Submissions that errored, timed out or were killed ({len(problems)})</h2>")
    if problems:
        parts.append(_table(["student", "assignment", "status", "reason", "last exception in the log",
                             "score", "grading s"],
                            [[r["student"], r["assignment"], r["status"], r["reason"], r["detail"],
                              f"{r['score']:g}/{r['max_score']:g}", r["grading_seconds"]] for r in problems]))
        parts.append("<p class='caption'>Their code cells got no credit and they are flagged in the gradebook "
                     "for a person to look at; the full log is in "
                     "<code>autograded/&lt;student&gt;/&lt;assignment&gt;/parcel-grade.json</code>.</p>")
    else:
        parts.append("<p class='ok'>None: every notebook ran to the end.</p>")

    # -- flags --------------------------------------------------------------------------------
    flagged = [(r, f) for r in rows for f in r["flag_list"]]
    parts.append(f"<h2>Flagged submissions ({len({(r['student'], r['assignment']) for r, _ in flagged})})</h2>")
    if flagged:
        parts.append(_table(["student", "assignment", "notebook", "cell", "reason"],
                            [[r["student"], r["assignment"], f.get("notebook", ""), f.get("cell", ""),
                              f.get("reason", "")] for r, f in flagged]))
    else:
        parts.append("<p class='ok'>None.</p>")

    # -- everything -----------------------------------------------------------------------------
    parts.append(f"<h2>All submissions ({len(rows)})</h2>")
    parts.append(_table(["student", "assignment", "score", "max", "%", "status", "late", "flagged",
                         "manual pending", "grading s", "execution s", "sandbox", "reason"],
                        [[r["student"], r["assignment"], f"{r['score']:g}", f"{r['max_score']:g}",
                          f"{r['percent']:.1f}", r["status"],
                          _duration(r["seconds_late"]) if r["late"] else "", "yes" if r["flagged"] else "",
                          "yes" if r["needs_manual_grade"] else "", r["grading_seconds"], r["execution_seconds"],
                          r["sandbox"], r["reason"]] for r in rows], cls="all"))
    parts.append("</body></html>")
    return _write_html(out_dir, "\n".join(parts))


def _write_html(out_dir: Path, text: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = path.with_name("index.html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
