"""The gradebook on a database server (PostgreSQL): configuration, the workers' snapshot, the merge.

A throwaway server comes from conftest's ``postgres_server`` (Debian's
``postgresql`` package; skipped with the reason when it is not installed).
The end-to-end workflow tests run on it too (tests/test_workflow.py,
parametrized over both gradebooks).  Here: ``PARCEL_DB_URL`` reaches
nbgrader and ``Course``; a worker's private gradebook built from the
server holds the course and no student; merging autograde results never
writes what a person saved in formgrader, on SQLite as on PostgreSQL; and
``parcel-course grade`` with two workers while a grader saves manual grades
into the same server loses nothing.
"""
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook, MissingEntry

from minicourse import RIGHT, ROOT, make_course, submit_dir
from parcel_course import grading
from parcel_course.directory import Course

A, NB = "00_tiny", "tiny"


def test_db_url_comes_from_the_course_config(tmp_path, monkeypatch):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    monkeypatch.delenv("PARCEL_DB_URL", raising=False)
    course = Course(tmp_path)
    assert course.db_url == "sqlite:///" + str(tmp_path / "gradebook.db")
    assert not course.server_db and course.db_path == tmp_path / "gradebook.db"
    assert not course.has_gradebook()
    url = "postgresql+psycopg://grader:secret@db.example:5432/parcel"
    monkeypatch.setenv("PARCEL_DB_URL", url)
    course = Course(tmp_path)
    assert course.db_url == url and course.server_db and course.db_path is None and course.has_gradebook()
    # nbgrader itself reads the same line of the same file
    from nbgrader.coursedir import CourseDirectory
    assert CourseDirectory(config=course.config()).db_url == url
    # a config without the line: nbgrader's default, the SQLite file in the course directory
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert Course(tmp_path).db_url == "sqlite:///" + str(tmp_path / "gradebook.db")


def _tiny(backend, tmp_path_factory, postgres_server=None):
    """The minicourse, generated (no grading), its gradebook on ``backend``."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp(f"tiny-{backend}")
    mp.setenv("PARCEL_EXCHANGE", str(root / "exchange"))
    mp.delenv("PARCEL_DB_URL", raising=False)
    if backend == "postgresql":
        mp.setenv("PARCEL_DB_URL", postgres_server[1]())
    try:
        course = make_course(root / "course")
        assert course.server_db == (backend == "postgresql"), course.db_url   # read while the variable is set
    finally:
        mp.undo()
    return course


@pytest.fixture(scope="module")
def sqlite_tiny(tmp_path_factory):
    return _tiny("sqlite", tmp_path_factory)


@pytest.fixture(scope="module")
def postgresql_tiny(tmp_path_factory, postgres_server):
    return _tiny("postgresql", tmp_path_factory, postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def tiny(request):
    """The minicourse on each gradebook, made once per module and backend."""
    return request.getfixturevalue(f"{request.param}_tiny")


def test_worker_snapshot_has_the_course_and_no_student(tiny):
    def merge_one(student):
        grading.merge_result(tiny, grading.GradeResult(student, A, "graded", grades=[
            dict(notebook=NB, grade_id="test_square", auto_score=2.0, needs_manual_grade=False)]))
    merge_one("snap_ann")
    snapshot = grading.gradebook_snapshot(tiny)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gradebook.db"
        db.write_bytes(snapshot)
        con = sqlite3.connect(db)
        try:
            assert con.execute("select count(*) from student").fetchone() == (0,)
            assert con.execute("select count(*) from grade").fetchone() == (0,)
            assert con.execute("select count(*) from alembic_version").fetchone() == (1,)
        finally:
            con.close()
        with Gradebook("sqlite:///" + str(db), tiny.course_id) as gb:
            nb = gb.find_notebook(NB, A)
            assert sorted(c.name for c in nb.grade_cells) == ["explain", "test_halve", "test_square"]
            assert gb.find_graded_cell("test_square", NB, A).max_score == 2
            # the locked cells nbgrader restores, and the integrity scan compares, came along
            assert "square(-7)" in gb.find_source_cell("test_square", NB, A).source


def _save_manual(gb, student, grade_id, score, comment=None):
    """What formgrader's GradeHandler.put and CommentHandler.put do (nbgrader 0.9), on its one Gradebook."""
    try:
        grade = gb.find_grade(grade_id, NB, A, student)
        grade.manual_score = score
        grade.extra_credit = None
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.db.commit()
        if comment is not None:
            c = gb.find_comment(grade_id, NB, A, student)
            c.manual_comment = comment
            gb.db.commit()
    except BaseException:
        gb.db.rollback()
        raise


def _state(course, student):
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        grades = {g.name: (g.auto_score, g.manual_score, bool(g.needs_manual_grade))
                  for nb in sub.notebooks for g in nb.grades}
        comments = {c.name: (c.auto_comment, c.manual_comment) for nb in sub.notebooks for c in nb.comments}
        return float(sub.score), grades, comments, sub.timestamp


def test_merge_writes_only_what_the_autograder_owns(tiny):
    def result(ts, halve=1.0):
        return grading.GradeResult("zoe", A, "graded", timestamp=ts, grades=[
            dict(notebook=NB, grade_id="test_square", auto_score=2.0, needs_manual_grade=False),
            dict(notebook=NB, grade_id="test_halve", auto_score=halve, needs_manual_grade=False),
            dict(notebook=NB, grade_id="explain", auto_score=None, needs_manual_grade=True)],
            comments=[dict(notebook=NB, grade_id="explain", auto_comment=None),
                      dict(notebook=NB, grade_id="square", auto_comment="No response.")])
    first = "2026-01-09T09:30:00"
    grading.merge_result(tiny, result(first))
    score, grades, comments, _ = _state(tiny, "zoe")
    assert score == 3 and grades["explain"] == (None, None, True) and comments["square"] == ("No response.", None)

    # a grader scores the written answer; the same submission is autograded again: their grade stands
    with tiny.gradebook() as gb:
        _save_manual(gb, "zoe", "explain", 1.0, "clear and short")
    grading.merge_result(tiny, result(first))
    score, grades, comments, _ = _state(tiny, "zoe")
    assert score == 4 and grades["explain"] == (None, 1.0, False)
    assert comments["explain"] == (None, "clear and short")

    # a grader overrides an automatic score: it stands; if the automatic score changes, the cell asks for a look
    with tiny.gradebook() as gb:
        _save_manual(gb, "zoe", "test_halve", 0.5)
    grading.merge_result(tiny, result(first))
    assert _state(tiny, "zoe")[1]["test_halve"] == (1.0, 0.5, False)
    grading.merge_result(tiny, result(first, halve=0.0))
    score, grades, _, _ = _state(tiny, "zoe")
    assert grades["test_halve"] == (0.0, 0.5, True) and score == 3.5

    # another version of the submission: what a person graded asks for a look again, their scores kept
    grading.merge_result(tiny, result("2026-01-10T08:00:00"))
    score, grades, comments, ts = _state(tiny, "zoe")
    assert grades["explain"] == (None, 1.0, True) and grades["test_halve"] == (1.0, 0.5, True)
    assert comments["explain"] == (None, "clear and short") and ts.isoformat() == "2026-01-10T08:00:00"


def test_two_workers_and_a_grader_at_the_same_time_lose_nothing(postgresql_tiny, monkeypatch):
    """``parcel-course grade --workers 2`` twice (the second --force) while a grader saves manual grades.

    The grader (a thread here, formgrader's own calls) scores the written answer
    of every submission it finds in the gradebook, over and over, until both
    runs end.  Afterwards every autograde result and the grader's last score
    and comment are there, the written answer still marked as graded.
    """
    course = postgresql_tiny
    monkeypatch.setenv("PARCEL_EXCHANGE", str(course.root.parent / "exchange"))
    monkeypatch.setenv("PARCEL_DB_URL", course.db_url)      # what the instructor's shell has
    no_url = 'import os\nassert "PARCEL_DB_URL" not in os.environ, "the kernel sees the server"\n'
    why = "I multiplied x by itself and divided by two."
    submit_dir(course, "ann", square=no_url + RIGHT["square"], halve=RIGHT["halve"], explain=why)
    submit_dir(course, "bob", square="def square(x):\n    return x + x", halve=RIGHT["halve"], explain=why)
    submit_dir(course, "dan")                                # the written answer left blank
    students = {"ann": 3, "bob": 1, "dan": 0}
    stop, last, saves, errors = threading.Event(), {}, [], []
    phase = {"run": 0}

    def grader():
        n = 0
        with course.gradebook() as gb:
            while not stop.is_set():
                for s in students:
                    n += 1
                    score, comment = (n % 2 + 1) / 2, f"{s}: round {n}"
                    try:
                        _save_manual(gb, s, "explain", score, comment)
                    except MissingEntry:
                        continue                      # not merged yet
                    except Exception as exc:          # noqa: BLE001 - the test fails on any
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    last[s] = (score, comment)
                    saves.append((phase["run"], s))
                time.sleep(0.1)

    thread = threading.Thread(target=grader, daemon=True)
    thread.start()
    cli = [str(Path(sys.executable).parent / "parcel-course"), "--root", str(course.root), "grade",
           "--workers", "2", "--timeout", "60"]
    try:
        for phase["run"], extra in ((1, []), (2, ["--force"])):
            out = subprocess.run(cli + extra, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0 and "graded 3 submission(s), 0 with problems" in out.stdout, \
                out.stdout + out.stderr[-3000:]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors[:5]
    # the grader saved into every submission while the second run was grading and merging
    assert {s for run, s in saves if run == 2} == set(students), saves
    for s, auto in students.items():
        score, grades, comments, _ = _state(course, s)
        manual, comment = last[s]
        # answered: no automatic score, the grader's stands as graded; left blank: nbgrader's 0 ("No response.")
        assert grades["explain"] == (0.0 if s == "dan" else None, manual, False), (s, grades)
        assert comments["explain"][1] == comment, (s, comments)
        assert sum(a for a, _, _ in grades.values() if a is not None) == auto, (s, grades)
        assert score == auto + manual, (s, score, grades)
        assert (course.autograded / s / A / grading.LEDGER).exists()
