"""Grades out of the course: CSV export, the instructor report, a terminal summary.

Two sources are combined:

- the nbgrader gradebook (``course.db_url``): scores, including any manual
  grading done afterwards in formgrader, due dates and lateness;
- the grading ledgers (:func:`.grading.gradebook.load_ledgers`): how each submission's
  grading went (status, reason, run time, flags of suspicious code, errors of
  the test cells).

:func:`export_grades` writes ``reports/grades.csv`` (one row per student and
assignment) and ``reports/grades-questions.csv`` (one row per student and
question); :func:`write_report` writes ``reports/index.html``, one
self-contained page with its figures embedded, from the Jinja2 template
``templates/report.html.j2``; :func:`summary_table` is the plain-text table
``parcel-course`` prints.  :func:`pending_manual_grades` lists the cells that
still wait for a person (formgrader's manual grading), and
:func:`cell_failure_reason` says why a test cell got no points.
"""
from __future__ import annotations

import base64
import csv
import io
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import jinja2

from .directory import Course
from .grading.gradebook import load_ledgers
from .intake import report_rows
from .late import _describe_plugin, course_plugin, late_rows
from .similarity import STATEMENT, report_sections

__all__ = ["submission_rows", "question_rows", "pending_manual_grades", "cell_failure_reason", "export_grades",
           "write_report", "summary_table"]

SUBMISSION_FIELDS = ["student", "assignment", "score", "max_score", "percent", "status", "reason",
                     "late", "seconds_late", "late_penalty", "flagged", "flags", "needs_manual_grade",
                     "timestamp", "grading_seconds", "execution_seconds"]
QUESTION_FIELDS = ["student", "assignment", "notebook", "question", "kind", "score", "max_score",
                   "passed", "needs_manual_grade", "status", "error"]
PROBLEM_STATUSES = ("error", "timeout", "killed")
_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# the prefix a logger puts before its message: "2024-05-01 12:00:00.123456: " or absl's "W0000 00:00:1712.3  123 "
_LOG_PREFIX = re.compile(r"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?:?\s+|[IWEF]\d{4}\s+[\d:.]+\s+\d+\s+)")
_WARNING_LINE = re.compile(r"^\S.*?:\d+: ([A-Za-z_]\w*(?:Warning|Error)\b.*)$")   # path.py:12: UserWarning: msg


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


def _stderr_reason(text: str) -> str:
    """``stderr: <last line>`` of what a cell wrote to stderr, without colours and logger prefixes.

    Indented lines (the source line Python prints under a warning, a
    traceback's frames) give way to the last line that is not indented.
    """
    lines = [line.rstrip() for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    top = [line for line in lines if not line[0].isspace()]
    line = _LOG_PREFIX.sub("", (top or lines)[-1].strip())
    m = _WARNING_LINE.match(line)
    return "stderr: " + (m.group(1) if m else line)[:200]


def cell_failure_reason(cell) -> str:
    """Why nbgrader gave a test cell no points, from its outputs; empty when they say nothing.

    The error the cell raised (``AssertionError: message``, first line of the
    message), else the last line the cell wrote to stderr, as ``stderr: ...``:
    nbgrader scores a test cell with any stderr output zero, so a warning
    or a library's log line costs the points as surely as a failed assert.

    Example
    -------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("f()")
    >>> cell.outputs = [nbformat.v4.new_output("stream", name="stderr",
    ...                 text="2025-01-01 10:00:00.1: I tf/core/x.cc:12] NodeDef mentions attribute\\n")]
    >>> cell_failure_reason(cell)
    'stderr: I tf/core/x.cc:12] NodeDef mentions attribute'
    """
    outputs = cell.get("outputs", []) if hasattr(cell, "get") else []
    for o in outputs:
        if o.get("output_type") == "error":
            message = str(o.get("evalue", "")).strip().splitlines()
            return (str(o.get("ename", "")) + (": " + message[0] if message else ""))[:300]
    return _stderr_reason("".join(str(o.get("text", "")) for o in outputs
                                  if o.get("output_type") == "stream" and o.get("name") == "stderr"))


def _notebook_failure_reasons(course: Course, student: str, assignment: str) -> dict:
    """(notebook, grade_id) -> :func:`cell_failure_reason` of each test cell of the autograded notebooks."""
    out = {}
    for p in sorted((course.autograded / student / assignment).glob("*.ipynb")):
        try:
            nb = nbformat.read(p, as_version=4)
        except Exception:          # an unreadable autograded notebook only loses the reasons
            continue
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                out[(p.stem, meta.get("grade_id"))] = cell_failure_reason(cell)
    return out


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
    from nbgrader.api import Gradebook   # nbgrader: heavy (its apps import the notebook stack)
    out = {}
    if not course.has_gradebook():
        return out
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                if sub.timestamp is None and sub.extension is not None and not any(
                        g.auto_score is not None or g.manual_score is not None for nb in sub.notebooks
                        for g in nb.grades):
                    continue       # only holds an extension granted before the student handed in (late.py)
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
    a manual grade is pending); ``error``, for a test cell without full
    marks, is why (:func:`cell_failure_reason`): the error it raised, from the
    grading ledger or else the autograded notebook, or ``stderr: <last line>``
    when it only wrote to stderr.
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
        reasons = None             # read from the autograded notebooks only when the ledger has no error
        for g in grades:
            qk = (g["notebook"], g["grade_id"])
            manual = qk in answers or (qk not in order and g["cell_type"] == "markdown")
            pending = bool(g["needs_manual_grade"]) or g["score"] is None
            if pending and g.get("manual_score") is None and g.get("auto_score") is None:
                score = None         # nobody has graded it yet: no number rather than a 0
            else:
                score = None if g["score"] is None else float(g["score"])
            passed = "" if pending else bool(score is not None and score >= float(g["max_score"] or 0) - 1e-9)
            error = errors.get(qk, "") or ""
            if not error and passed is False and not manual:
                if reasons is None:
                    reasons = _notebook_failure_reasons(course, *key)
                error = reasons.get(qk, "")
            rows.append(dict(
                student=key[0], assignment=key[1], notebook=g["notebook"], question=g["grade_id"],
                kind="manual" if manual else "autograded",
                score=score, max_score=float(g["max_score"] or 0),
                passed=passed,
                needs_manual_grade=bool(g["needs_manual_grade"]),
                status=led.get("status", "graded"),
                error=re.sub(r":\s*$", "", error),
            ))
    return rows


def pending_manual_grades(course: Course, qrows: list[dict] | None = None) -> list[dict]:
    """The cells still waiting for a person, one dict per student x cell, by student.

    A cell waits when its gradebook grade needs a manual grade (nbgrader's
    ``needs_manual_grade``) or has neither an automatic nor a manual score:
    the answers graded by hand (the reports), until a grader saves a score
    in formgrader; and the test cells of a notebook that did not run to the
    end, which nbgrader leaves to a person (their ``status`` says so).  Keys: student, assignment, notebook, question (the
    cell's grade id), kind, max_score (its points), status (how grading of
    the submission went).  ``qrows``: :func:`question_rows`, when already
    computed.

    Example
    -------
    >>> [(p["student"], p["question"], p["max_score"])
    ...  for p in pending_manual_grades(Course("."))]     # doctest: +SKIP
    [('alice', 'report', 6.0), ('bob', 'my_feature', 3.0), ...]
    """
    _check_course(course)
    rows = question_rows(course) if qrows is None else qrows
    keys = ("student", "assignment", "notebook", "question", "kind", "max_score", "status")
    pending = [{k: q[k] for k in keys} for q in rows if q["passed"] == ""]
    return sorted(pending, key=lambda p: (p["student"], p["assignment"]))   # stable: notebook order kept


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
            notes.append(f"late by {_duration(r['seconds_late'])}"
                         + (f", penalty -{_fmt(r['late_penalty'])}" if r["late_penalty"] else ""))
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

TEMPLATE = "report.html.j2"


def _png(fig) -> str:
    import matplotlib.pyplot as plt   # matplotlib: heavy
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


def _template_env():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=False, lstrip_blocks=False)
    env.filters["fmt"] = lambda v: "" if v is None else _fmt(v)
    return env


def render_report(context: dict) -> str:
    """The report's HTML from the context :func:`write_report` builds (``templates/report.html.j2``)."""
    return _template_env().get_template(TEMPLATE).render(**context)


def _report_context(course: Course) -> dict:
    """Everything the template shows, figures included (as PNG data URIs)."""
    rows = submission_rows(course)
    ctx = dict(course_id=course.course_id, root=str(course.root), rows=rows,
               generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if not rows:
        return ctx
    from . import report_plots as viz   # matplotlib: imported only when a report has figures to draw
    qrows = question_rows(course)
    stats = _question_stats(qrows)
    problems = [r for r in rows if r["status"] in PROBLEM_STATUSES]
    pending = pending_manual_grades(course, qrows)

    summary = []
    for a in sorted({r["assignment"] for r in rows}):
        rs = [r for r in rows if r["assignment"] == a]
        pct = [r["percent"] for r in rs]
        st = Counter(r["status"] for r in rs)
        summary.append([a, len(rs), st.get("graded", 0), st.get("error", 0), st.get("timeout", 0),
                        st.get("killed", 0), sum(r["flagged"] for r in rs), sum(r["late"] for r in rs),
                        sum(r["needs_manual_grade"] for r in rs), f"{max(r['max_score'] for r in rs):g}",
                        f"{statistics.mean(pct):.1f}", f"{statistics.median(pct):.1f}",
                        f"{min(pct):.1f}", f"{max(pct):.1f}"])

    figures = dict(distribution=_png(viz.plot_grade_distribution(
        [r["assignment"] for r in rows], [r["score"] for r in rows],
        [r["max_score"] for r in rows], [r["status"] for r in rows])))
    if stats:
        figures["pass_rates"] = _png(viz.plot_pass_rates(
            [f"{s['assignment']} / {s['question']}" for s in stats],
            [s["rate"] for s in stats], counts=[(s["passed"], s["n"]) for s in stats]))
    timed = [r for r in rows if r["grading_seconds"] is not None]
    timing = None
    if timed:
        figures["runtimes"] = _png(viz.plot_runtimes(
            [r["assignment"] for r in timed], [r["grading_seconds"] for r in timed],
            [r["status"] for r in timed], [r["execution_seconds"] or 0 for r in timed]))
        secs = sorted(r["grading_seconds"] for r in timed)
        timing = dict(median=secs[len(secs) // 2], max=secs[-1], total=sum(secs),
                      slowest=sorted(timed, key=lambda r: -r["grading_seconds"])[:5])

    flagged = [(r, f) for r in rows for f in r["flag_list"]]
    manual = Counter((q["assignment"], q["question"]) for q in qrows if q["kind"] == "manual" and q["passed"] == "")
    ctx.update(
        figures=figures, summary=summary, stats=stats, timing=timing, problems=problems,
        cards=[("submissions", len(rows)), ("students", len({r["student"] for r in rows})),
               ("graded", sum(r["status"] == "graded" for r in rows)),
               ("errored / timed out / killed", len(problems)),
               ("flagged", sum(r["flagged"] for r in rows)), ("late", sum(r["late"] for r in rows)),
               ("cells to grade by hand", len(pending))],
        n_problem=len(problems),
        n_ran=len({(q["student"], q["assignment"]) for q in qrows if q["status"] == "graded"}),
        question_table=[[s["assignment"], s["notebook"], s["question"], f"{s['passed']}/{s['n']}",
                         f"{100 * s['rate']:.0f}%", f"{s['mean']:.2f}", f"{s['max_score']:g}", s["error"]]
                        for s in stats],
        manual_counts=sorted(manual.items()),
        pending=pending, pending_students=len({p["student"] for p in pending}),
        pending_points=sum(p["max_score"] for p in pending),
        problem_table=[[r["student"], r["assignment"], r["status"], r["reason"], r["detail"],
                        f"{r['score']:g}/{r['max_score']:g}", r["grading_seconds"]] for r in problems],
        n_flagged=len({(r["student"], r["assignment"]) for r, _ in flagged}),
        flag_table=[[r["student"], r["assignment"], f.get("notebook", ""), f.get("cell", ""), f.get("reason", "")]
                    for r, f in flagged],
        all_table=[[r["student"], r["assignment"], f"{r['score']:g}", f"{r['max_score']:g}", f"{r['percent']:.1f}",
                    r["status"], (_duration(r["seconds_late"]) + (f", -{r['late_penalty']:g}" if r["late_penalty"] else "")
                                  if r["late"] else ""), "yes" if r["flagged"] else "",
                    "yes" if r["needs_manual_grade"] else "", r["grading_seconds"], r["execution_seconds"],
                    r["sandbox"], r["reason"]] for r in rows],
    )
    ctx.update(late_rule=_describe_plugin(course_plugin(course)), late_rows=late_rows(course),
               similarity=report_sections(course), similarity_statement=STATEMENT)
    ctx.update(intake_table=report_rows(course.submitted))    # refused or flagged at collection (issue 24)
    return ctx


def write_report(course: Course, out_dir=None) -> Path:
    """Write the instructor report, ``reports/index.html``, one self-contained page.

    It shows, from the top: a summary table per assignment; what still waits
    for manual grading, per student (assignment, notebook, cell, points); the
    grade distribution of each assignment; the pass rate of every autograded
    question, worst first, with the most common reason of a failure (the
    error the cell raised, else the last line it wrote to stderr); the
    grading time of every submission; the submissions that errored, timed
    out or were killed, and why; the flagged submissions with the notebook,
    cell and reason; and every submission in one table.  Figures are PNG
    embedded in the page (base64), so the file can be mailed or archived
    alone.  The page is the Jinja2 template ``parcel_course/templates/report.html.j2``.

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
    _check_course(course)
    out_dir = Path(out_dir) if out_dir is not None else course.reports
    return _write_html(out_dir, render_report(_report_context(course)))


def _write_html(out_dir: Path, text: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = path.with_name("index.html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
