"""The course gradebook, seen from the grader: the snapshot each job carries, the merge of each result, the ledgers.

Each job carries :func:`gradebook_snapshot` (the course's assignments,
notebooks and cells, no student), so that a worker sees no other student's
data.  The instructor's process merges each :class:`~.worker.GradeResult`
into the course gradebook as it arrives (:func:`merge_result`), with its
autograded notebooks and a ledger (``autograded/<student>/<assignment>/``
:data:`LEDGER`): an interrupted run loses nothing and a rerun skips what is
already graded (:func:`already_graded`).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

from nbgrader.api import Base, Comment, Grade, Gradebook, MissingEntry, SubmittedAssignment, SubmittedNotebook
from sqlalchemy import Boolean, Float, bindparam, case, create_engine, inspect, select, text, update

from ..directory import Course
from .worker import GradeJob, GradeResult

__all__ = ["LEDGER", "gradebook_snapshot", "merge_result", "already_graded", "load_ledgers"]

LEDGER = "parcel-grade.json"


def gradebook_snapshot(course: Course) -> bytes:
    """The course gradebook without any student, as the bytes of an SQLite file.

    Assignments, notebooks and cells only: each worker starts from it, so
    that it sees no other student's data and no grade of an earlier run of
    the same student.  A worker always grades into a private SQLite
    gradebook; with the course's gradebook on a server (``PARCEL_DB_URL``)
    the file is built from the server's rows (:func:`_structure_to_sqlite`).
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gradebook.db"
        if course.server_db:
            _structure_to_sqlite(course.db_url, db)
            return db.read_bytes()
        shutil.copy(course.db_path, db)
        with Gradebook("sqlite:///" + str(db), course.course_id) as gb:
            for student in list(gb.students):
                gb.remove_student(student.id)
        return db.read_bytes()


#: nbgrader's tables that hold students and what they submitted: never in a worker's gradebook.
STUDENT_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def _structure_to_sqlite(db_url: str, target: Path) -> None:
    """Copy the course structure of the gradebook at ``db_url`` into a new SQLite gradebook ``target``.

    nbgrader's own SQLAlchemy metadata creates the tables; every row of the
    tables that are not about students (:data:`STUDENT_TABLES`) is copied in
    dependency order, in one consistent read of the server, and the schema
    version (``alembic_version``) with them.
    """
    source = create_engine(db_url)
    sink = create_engine("sqlite:///" + str(target))
    try:
        Base.metadata.create_all(sink)
        present = set(inspect(source).get_table_names())
        with source.connect().execution_options(isolation_level="REPEATABLE READ") as src, sink.begin() as dst:
            for table in Base.metadata.sorted_tables:
                if table.name in STUDENT_TABLES or table.name not in present:
                    continue
                rows = [dict(r._mapping) for r in src.execute(select(table))]
                if rows:
                    dst.execute(table.insert(), rows)
            if "alembic_version" in present:
                dst.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                for (version,) in src.execute(text("SELECT version_num FROM alembic_version")):
                    dst.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
    finally:
        source.dispose()
        sink.dispose()


def _ledger_path(course: Course, student: str, assignment: str) -> Path:
    return course.autograded / student / assignment / LEDGER


def already_graded(course: Course, job: GradeJob) -> bool:
    p = _ledger_path(course, job.student, job.assignment)
    if not p.exists():
        return False
    try:
        return json.loads(p.read_text()).get("digest") == job.digest
    except (OSError, ValueError):
        return False


def merge_result(course: Course, res: GradeResult) -> None:
    """Write one worker's result into the course: gradebook, autograded/, ledger.

    Only what the autograder owns is written: each grade's ``auto_score`` and
    ``needs_manual_grade``, each comment's ``auto_comment``, the notebooks'
    ``flagged`` and the submission's timestamp, by row id in one short
    transaction.  What a person saves in formgrader (``manual_score``,
    ``extra_credit``, ``manual_comment``) is never written, so a manual grade
    saved while the workers ran, or before, stays.  ``needs_manual_grade`` of
    a cell a person has scored stays as they left it, unless this is another
    version of the submission (a new timestamp) or the automatic score of
    that cell changed: then the cell asks for a look again, as nbgrader's own
    autograde does.  The same code serves SQLite and a server
    (``Course.db_url``); on a server each statement sees what other
    graders committed last.
    """
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy noise
    t0 = time.perf_counter()
    out = course.autograded / res.student / res.assignment
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, text in res.notebooks.items():
        (out / f"{name}.ipynb").write_text(text)
    ts = datetime.fromisoformat(res.timestamp) if res.timestamp else None
    with course.gradebook() as gb:
        gb.update_or_create_student(res.student)
        try:
            sub = gb.find_submission(res.assignment, res.student)
            resubmitted = ts is not None and sub.timestamp != ts.replace(tzinfo=None)
        except MissingEntry:     # nbgrader creates its grade and comment rows, empty
            sub = gb.add_submission(res.assignment, res.student, **({"timestamp": ts} if ts else {}))
            resubmitted = False
        recorded = {(g["notebook"], g["grade_id"]): g for g in res.grades}
        auto_comments = {(c["notebook"], c["grade_id"]): c["auto_comment"] for c in res.comments}
        grades, comments = [], []
        for nb in sub.notebooks:
            for g in nb.grades:
                r = recorded.get((nb.name, g.name))
                if r is not None:
                    grades.append(dict(gid=g.id, auto=r["auto_score"], needs=bool(r["needs_manual_grade"])))
                elif g.cell_type == "code":
                    # the notebook never ran (error, timeout, killed): no credit, flagged for a person
                    grades.append(dict(gid=g.id, auto=0.0, needs=False))
            comments += [dict(cid=c.id, text=auto_comments[(nb.name, c.name)]) for c in nb.comments
                         if (nb.name, c.name) in auto_comments]
        sub_id = sub.id
        gb.db.commit()                       # end the reads; the writes below are one short transaction
        G, C, N, S = (Grade.__table__, Comment.__table__, SubmittedNotebook.__table__,
                      SubmittedAssignment.__table__)
        auto = bindparam("auto", type_=Float())
        needs = case((G.c.manual_score.is_(None), bindparam("needs", type_=Boolean())),
                     (bindparam("again", type_=Boolean()) | G.c.auto_score.is_distinct_from(auto), True),
                     else_=G.c.needs_manual_grade)
        try:
            if grades:
                gb.db.execute(update(G).where(G.c.id == bindparam("gid")).values(auto_score=auto,
                              needs_manual_grade=needs), [dict(g, again=resubmitted) for g in grades])
            if comments:
                gb.db.execute(update(C).where(C.c.id == bindparam("cid")).values(auto_comment=bindparam("text")),
                              comments)
            gb.db.execute(update(N).where(N.c.assignment_id == sub_id).values(
                flagged=bool(res.flags) or res.status != "graded"))
            if resubmitted:
                gb.db.execute(update(S).where(S.c.id == sub_id).values(timestamp=ts.replace(tzinfo=None)))
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        gb.db.expire_all()
        res.score = float(gb.find_submission(res.assignment, res.student).score or 0)
    res.phases["merge"] = round(time.perf_counter() - t0, 3)
    (out / LEDGER).write_text(json.dumps(res.summary(), indent=1, default=str))


def load_ledgers(course: Course) -> list[dict]:
    """Every grading result recorded in autograded/ (for reports and exports)."""
    return [json.loads(p.read_text()) for p in sorted(course.autograded.glob(f"*/*/{LEDGER}"))]
