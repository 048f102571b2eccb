"""Feedback, grade export and the instructor report.

Fast tests work on notebooks and ledgers built in memory; the slow ones
build a small course (one assignment, five students: a full solution, the
untouched release, a wrong answer that only the hidden tests catch, a
kernel that dies, a late submission), grade it once with the real parallel
nbgrader grader and check what students and the instructor get from it.
"""
import base64
import csv
import html
import json
import os
import re
import shutil
import sys
from datetime import datetime

import nbformat
import pytest

from parcel_course import report_plots as viz
from parcel_course import grading, report
from parcel_course.authoring import build_source
from parcel_course.directory import Course, CourseError
from parcel_course.feedback import HideHiddenTests, hide_hidden_tests_in_source, write_feedback
from conftest import ROOT

DEMO = '''"""A tiny assignment for the feedback and report tests."""
# %% [markdown]
# # Demo
# Implement `add` and `square`.
# %%
import numpy as np
# %% solution id=add
def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION
# %% tests id=test_add points=2
assert add(1, 2) == 3, "add(1, 2) should be 3"
### BEGIN HIDDEN TESTS
rng_hidden_secret = np.random.default_rng(0)
for _ in range(5):
    x_hidden, y_hidden = rng_hidden_secret.normal(size=2)
    assert np.isclose(add(x_hidden, y_hidden), x_hidden + y_hidden), "hidden check of add failed"
### END HIDDEN TESTS
# %% solution id=square
def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION
# %% tests id=test_square points=3
assert square(2) == 4, "square(2) should be 4"
### BEGIN HIDDEN TESTS
for value_hidden in [-3.5, 0.0, 7.25]:
    assert square(value_hidden) == value_hidden ** 2, "hidden check of square failed"
### END HIDDEN TESTS
# %% [markdown] manual id=explain points=1
# Explain why the square is never negative.
#
# YOUR ANSWER HERE
'''
A = "00_demo"
STUDENTS = ["alice", "bob", "carol", "dave", "erin"]


def _hidden_lines(source_nb):
    lines = []
    for cell in nbformat.read(source_nb, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [l.strip() for l in block.splitlines() if l.strip()]
    return lines


def _html_text(path):
    """The text a reader sees: no style/script blocks, no tags, entities decoded."""
    text = path.read_text()
    text = re.sub(r"<(style|script)\b.*?</\1>", "", text, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _edit(src, dst, grade_id, find, replace):
    nb = nbformat.read(src, as_version=4)
    cell = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id][0]
    assert find in cell.source
    cell.source = cell.source.replace(find, replace)
    nbformat.write(nb, dst)


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """A one-assignment course with five submissions, graded once (real nbgrader, 2 workers)."""
    from nbgrader.api import Gradebook
    root = tmp_path_factory.mktemp("demo-course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "source" / A).mkdir(parents=True)
    (root / "source" / A / "demo.src.py").write_text(DEMO)
    course = Course(root)
    course.build_source()
    course.generate([A])
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(A, duedate=datetime(2026, 1, 10, 12, 0))
    src, rel = root / "source" / A / "demo.ipynb", root / "release" / A / "demo.ipynb"
    sub = {s: course.submitted / s / A for s in STUDENTS}
    for d in sub.values():
        d.mkdir(parents=True)
    shutil.copy(src, sub["alice"] / "demo.ipynb")                                   # full marks
    (sub["alice"] / "timestamp.txt").write_text("2026-01-09 09:30:00.000000 UTC")
    shutil.copy(rel, sub["bob"] / "demo.ipynb")                                     # blank
    _edit(src, sub["carol"] / "demo.ipynb", "square", "return x * x", "return 2 * x")  # passes the visible test only
    _edit(src, sub["dave"] / "demo.ipynb", "add", "return a + b", "import os; os._exit(1)")  # kills the kernel
    shutil.copy(src, sub["erin"] / "demo.ipynb")                                    # late
    (sub["erin"] / "timestamp.txt").write_text("2026-01-12 09:30:00.000000 UTC")
    results = grading.grade_all(course, workers=2, progress=False)
    assert len(results) == len(STUDENTS)
    return course


# -- fast: the preprocessor -------------------------------------------------------------------

def _test_cell(source, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1,
                                 "locked": True, "schema_version": 3, "task": False}
    cell.outputs = [nbformat.v4.new_output("error", ename=o[0], evalue=o[1], traceback=o[2]) for o in outputs]
    return cell


TB = ["\x1b[0;31m-------\x1b[0m", "Cell In[7], line 4\n----> 4 assert secret_reference(x) == 1",
      "\x1b[0;31mAssertionError\x1b[0m: wrong"]


def test_hide_hidden_tests_replaces_region_and_shortens_traceback():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_test_cell("assert f(1) == 2\n    ### BEGIN HIDDEN TESTS\n    assert secret_reference(x) == 1\n"
                           "    ### END HIDDEN TESTS\nprint('done')", [("AssertionError", "wrong", TB)]),
                nbformat.v4.new_code_cell("# BEGIN HIDDEN TESTS is only text in an ordinary cell")]
    nb, _ = HideHiddenTests().preprocess(nb, {})
    src = nb.cells[0].source
    assert "secret_reference" not in src and "HIDDEN TESTS" not in src
    assert src.splitlines() == ["assert f(1) == 2", "    # (hidden tests ran here; their code is not shown)",
                                "print('done')"]
    assert nb.cells[0].outputs[0]["traceback"] == ["AssertionError: wrong"]
    assert nb.cells[1].source.startswith("# BEGIN HIDDEN TESTS"), "a cell that is not a test cell was changed"


def test_hide_hidden_tests_option_shows_everything():
    nb = nbformat.v4.new_notebook()
    source = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert secret_reference(x) == 1\n### END HIDDEN TESTS"
    nb.cells = [_test_cell(source, [("AssertionError", "wrong", TB)])]
    nb, _ = HideHiddenTests(show_hidden_tests=True).preprocess(nb, {})
    assert nb.cells[0].source == source
    assert nb.cells[0].outputs[0]["traceback"] == TB


@pytest.mark.parametrize("source", ["### BEGIN HIDDEN TESTS\nx = 1",
                                    "x = 1\n### END HIDDEN TESTS",
                                    "### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"])
def test_unbalanced_hidden_test_delimiters_are_refused(source):
    with pytest.raises(ValueError, match="HIDDEN TESTS"):
        hide_hidden_tests_in_source(source, "# hidden")


# -- fast: the report from ledgers alone ------------------------------------------------------

def _ledger(student, status="graded", score=2.0, flags=(), seconds=3.0, reason="", grades=None):
    return dict(student=student, assignment=A, status=status, reason=reason, score=score, max_score=5.0,
                grades=grades if grades is not None else [
                    dict(notebook="demo", grade_id="test_add", auto_score=2.0 if score >= 2 else 0.0,
                         max_score=2.0, needs_manual_grade=False, cell_type="code", failed=score < 2,
                         error="" if score >= 2 else "AssertionError: add(1, 2) should be 3"),
                    dict(notebook="demo", grade_id="test_square", auto_score=score - 2 if score > 2 else 0.0,
                         max_score=3.0, needs_manual_grade=False, cell_type="code", failed=score < 5,
                         error="" if score >= 5 else "AssertionError: hidden check of square failed")],
                comments=[], timestamp=None, seconds=seconds, execution_seconds=seconds - 1, sandbox="bwrap",
                flags=list(flags), digest="x", log="[AutogradeApp | ERROR] Traceback\n    nbclient.exceptions.DeadKernelError: Kernel died\n"
                if status == "killed" else "")


@pytest.fixture
def ledger_course(tmp_path):
    """A course directory with grading ledgers and no gradebook (the report must still work)."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    (tmp_path / "source" / A).mkdir(parents=True)
    (tmp_path / "source" / A / "demo.src.py").write_text(DEMO)
    build_source(tmp_path / "source")
    ledgers = [_ledger("ann", score=5.0), _ledger("ben", score=2.0, seconds=9.5),
               _ledger("cat", score=0.0, flags=[dict(notebook="demo", cell="square",
                                                     reason="reads the hidden reference from disk")]),
               _ledger("dan", status="killed", score=0.0, reason="the kernel died while the notebook ran",
                       grades=[])]
    for d in ledgers:
        p = tmp_path / "autograded" / d["student"] / A / grading.LEDGER
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(d))
    return Course(tmp_path)


def test_export_from_ledgers(ledger_course, tmp_path):
    path = report.export_grades(ledger_course, tmp_path / "out" / "g.csv")
    rows = {r["student"]: r for r in csv.DictReader(open(path))}
    assert set(rows) == {"ann", "ben", "cat", "dan"}
    assert (rows["ann"]["score"], rows["ann"]["max_score"], rows["ann"]["status"]) == ("5.0", "5.0", "graded")
    assert rows["cat"]["flagged"] == "True" and "square" in rows["cat"]["flags"]
    assert rows["dan"]["status"] == "killed" and "kernel died" in rows["dan"]["reason"]
    questions = list(csv.DictReader(open(tmp_path / "out" / "g-questions.csv")))
    ben_square = [q for q in questions if q["student"] == "ben" and q["question"] == "test_square"]
    assert ben_square[0]["passed"] == "False" and "hidden check" in ben_square[0]["error"]
    with pytest.raises(ValueError, match="`path`"):
        report.export_grades(ledger_course, tmp_path / "g.txt")


def test_report_from_ledgers_lists_flags_problems_and_worst_question(ledger_course):
    page = report.write_report(ledger_course)
    assert page == ledger_course.reports / "index.html"
    text = _html_text(page)
    assert "reads the hidden reference from disk" in text
    flagged = text.split("Flagged submissions")[1].split("All submissions")[0]
    assert "cat" in flagged and "square" in flagged and "demo" in flagged
    problems = text.split("timed out or were killed (1)")[1].split("Flagged submissions")[0]
    assert "dan" in problems and "the kernel died" in problems and "DeadKernelError: Kernel died" in problems
    failed = text.split("Questions the class failed")[1]
    assert failed.index("test_square") < failed.index("test_add"), "the worst question should come first"
    table = text.split("All submissions (4)")[1]
    for s in ("ann", "ben", "cat", "dan"):
        assert s in table


def test_summary_table_and_empty_course(ledger_course, tmp_path):
    table = report.summary_table(ledger_course)
    lines = table.splitlines()
    assert lines[0].split() == ["student", "assignment", "score", "status", "note"]
    assert len(lines) == 2 + 4
    assert any(l.split()[:4] == ["ann", A, "5/5", "graded"] for l in lines)
    assert any("flagged" in l for l in lines if l.startswith("cat"))
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", empty)
    assert "No graded submission" in report.summary_table(Course(empty))
    assert "No graded submission" in _html_text(report.write_report(Course(empty)))


# -- fast: why a test cell failed, what waits for a person, the template ------------------------

STDERR_TF = ("\x1b[0;31m2025-03-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on\n"
             "W0000 00:00:1740823200.5   4242 op_def_util.cc:412] NodeDef mentions attribute use_unbounded_threadpool "
             "which is not in the op definition\x1b[0m\n\n")


def _outputs_cell(*outputs):
    cell = _test_cell("f()")
    cell.outputs = [nbformat.v4.new_output(kind, **kw) for kind, kw in outputs]
    return cell


@pytest.mark.parametrize("outputs, reason", [
    ([("stream", dict(name="stderr", text=STDERR_TF))],
     "stderr: op_def_util.cc:412] NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition"),
    ([("stream", dict(name="stderr", text="/x/y.py:7: UserWarning: the mean of an empty slice\n  return a.mean()\n"))],
     "stderr: UserWarning: the mean of an empty slice"),
    ([("stream", dict(name="stderr", text="something went to stderr")),
      ("error", dict(ename="AssertionError", evalue="square(2) should be 4\nmore detail", traceback=[]))],
     "AssertionError: square(2) should be 4"),                  # the error first, wherever it comes
    ([("stream", dict(name="stdout", text="all good\n"))], ""),
    ([], ""),
])
def test_cell_failure_reason(outputs, reason):
    assert report.cell_failure_reason(_outputs_cell(*outputs)) == reason


def _add_submission(course, student, grades, outputs=None, status="graded"):
    """A ledger (grades: grade_id -> (score, error)) and, with ``outputs``, an autograded notebook."""
    ledger = _ledger(student, status=status, score=sum(v[0] for v in grades.values()), grades=[
        dict(notebook="demo", grade_id=g, auto_score=v[0], max_score={"test_add": 2.0, "test_square": 3.0}[g],
             needs_manual_grade=False, cell_type="code", failed=v[0] < {"test_add": 2.0, "test_square": 3.0}[g],
             error=v[1]) for g, v in grades.items()])
    out = course.autograded / student / A
    out.mkdir(parents=True, exist_ok=True)
    (out / grading.LEDGER).write_text(json.dumps(ledger))
    if outputs is not None:
        nb = nbformat.read(course.source / A / "demo.ipynb", as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in outputs:
                cell.outputs = [nbformat.v4.new_output(kind, **kw) for kind, kw in outputs[gid]]
        nbformat.write(nb, out / "demo.ipynb")


def test_a_failure_by_stderr_has_its_reason(ledger_course, tmp_path):
    # eve's test cells wrote to stderr (nbgrader: zero); the ledger has no error for them, the notebook has
    stderr = [("stream", dict(name="stderr", text=STDERR_TF.replace("oneDNN", "<b>oneDNN</b>")))]
    for student in ("eve", "fay"):
        _add_submission(ledger_course, student, {"test_add": (0.0, ""), "test_square": (3.0, "")},
                        outputs={"test_add": stderr})
    # gus: the error reached the notebook but not the ledger (graded by plain nbgrader, say)
    _add_submission(ledger_course, "gus", {"test_add": (2.0, ""), "test_square": (0.0, "")},
                    outputs={"test_square": [("error", dict(ename="ZeroDivisionError", evalue="division by zero",
                                                            traceback=[]))]})
    why = "stderr: op_def_util.cc:412] NodeDef mentions attribute use_unbounded_threadpool"
    q = {(r["student"], r["question"]): r for r in report.question_rows(ledger_course)}
    assert q[("eve", "test_add")]["passed"] is False and q[("eve", "test_add")]["error"].startswith(why)
    assert q[("eve", "test_square")]["error"] == "", "a cell with full marks has no failure reason"
    assert q[("gus", "test_square")]["error"] == "ZeroDivisionError: division by zero"
    assert q[("ben", "test_square")]["error"] == "AssertionError: hidden check of square failed"   # the ledger's
    path = report.export_grades(ledger_course, tmp_path / "g.csv")
    rows = {(r["student"], r["question"]): r for r in csv.DictReader(open(path.with_name("g-questions.csv")))}
    assert rows[("fay", "test_add")]["error"].startswith(why)
    page = report.write_report(ledger_course)
    failed = _html_text(page).split("Questions the class failed")[1].split("Grading time")[0]
    assert re.search(re.escape(why) + r".*\(x2\)", failed), "the stderr reason should be counted over students"
    assert "ZeroDivisionError: division by zero (x1)" in failed


def test_report_escapes_what_students_wrote(ledger_course):
    _add_submission(ledger_course, "eve", {"test_add": (0.0, "AssertionError: <script>alert(1)</script>")})
    raw = report.write_report(ledger_course).read_text()
    assert "<script>" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


def _gradebook(course, manual):
    """The course's gradebook for ann and ben, from their ledgers; ``manual``: student -> manual score or None."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.add_assignment(A)
        gb.add_notebook("demo", A)
        for name, points, kind in [("test_add", 2, "code"), ("test_square", 3, "code"), ("explain", 1, "markdown")]:
            gb.add_grade_cell(name, "demo", A, max_score=points, cell_type=kind)
        gb.add_solution_cell("explain", "demo", A)
        for student, auto in [("ann", (2.0, 3.0)), ("ben", (2.0, 0.0))]:
            gb.add_student(student)
            gb.add_submission(A, student)
            for name, score in zip(("test_add", "test_square"), auto):
                g = gb.find_grade(name, "demo", A, student)
                g.auto_score, g.needs_manual_grade = score, False
            g = gb.find_grade("explain", "demo", A, student)
            g.manual_score = manual.get(student)
            g.needs_manual_grade = g.manual_score is None
        gb.db.commit()


def _save_manual_grade(course, student, score):
    """What formgrader does when a grader saves a score."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url, course.course_id) as gb:
        g = gb.find_grade("explain", "demo", A, student)
        g.manual_score, g.needs_manual_grade = score, False
        gb.db.commit()


@pytest.mark.filterwarnings("ignore:.*not in session")     # nbgrader's own SQLAlchemy noise
def test_pending_manual_grades_per_student(ledger_course, tmp_path, monkeypatch):
    # nbgrader runs `alembic` when it creates a gradebook: the environment's bin/ on PATH, as `make` has it
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    _gradebook(ledger_course, {"ann": 1.0, "ben": None})
    pending = report.pending_manual_grades(ledger_course)
    assert pending == [dict(student="ben", assignment=A, notebook="demo", question="explain", kind="manual",
                            max_score=1.0, status="graded")]
    text = _html_text(report.write_report(ledger_course))
    section = text.split("Waiting for manual grading (1 cell, 1 student)")[1].split("Grade distribution")[0]
    assert re.search(rf"ben\s*1 point to grade\s*{A}\s*demo\s*explain\s*manual\s*1\s*graded", section)
    assert "ann" not in section
    grades = {r["student"]: r for r in csv.DictReader(open(report.export_grades(ledger_course, tmp_path / "g.csv")))}
    assert (grades["ann"]["score"], grades["ben"]["score"], grades["ben"]["needs_manual_grade"]) == ("6.0", "2.0", "True")

    _save_manual_grade(ledger_course, "ben", 0.5)          # a grader saves ben's score in formgrader
    assert report.pending_manual_grades(ledger_course) == []
    text = _html_text(report.write_report(ledger_course))
    assert "Waiting for manual grading (0 cells, 0 students)" in text and "every graded cell" in text
    grades = {r["student"]: r for r in csv.DictReader(open(report.export_grades(ledger_course, tmp_path / "g.csv")))}
    assert (grades["ben"]["score"], grades["ben"]["needs_manual_grade"]) == ("2.5", "False")


def test_report_template_ships_and_renders():
    from importlib.resources import files
    template = files("parcel_course") / "templates" / report.TEMPLATE
    assert template.is_file()
    page = report.render_report(dict(course_id="c<1>", root="/x", generated="now", rows=[]))
    assert "<title>c&lt;1&gt;: grading report</title>" in page and "No graded submission yet" in page
    import jinja2
    with pytest.raises(jinja2.UndefinedError):       # a section without its data fails, not renders blank
        report.render_report(dict(course_id="c", root="/x", generated="now", rows=[{"student": "a"}]))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'\[tool\.setuptools\.package-data\]\s*parcel_course = \[[^]]*"templates/\*"[^]]*\]', pyproject)


def test_feedback_needs_graded_students(ledger_course):
    with pytest.raises(CourseError, match="nobody"):
        write_feedback(ledger_course, students=["ann", "nobody"])
    # a submission whose notebook never ran (only its ledger) gets no feedback, without calling nbgrader
    assert write_feedback(ledger_course, students=["dan"]) == []


def test_report_functions_refuse_a_path_for_a_course(tmp_path):
    with pytest.raises(TypeError, match="`course`"):
        report.export_grades(str(tmp_path))


def test_report_figures_validate_their_input():
    with pytest.raises(ValueError, match="one entry per submission"):
        viz.plot_grade_distribution(["a"], [1, 2], [3, 3])
    with pytest.raises(ValueError, match="fractions"):
        viz.plot_pass_rates(["q"], [1.5])
    with pytest.raises(ValueError, match="empty"):
        viz.plot_runtimes([], [])


# -- slow: the real thing ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def feedback_texts(demo_course):
    """HTML text of every feedback file, hidden tests hidden; and carol's with the option."""
    shown = write_feedback(demo_course, students=["carol"], show_hidden_tests=True)
    assert [p.parent.parent.name for p in shown] == ["carol"]
    carol_shown = _html_text(shown[0])
    written = write_feedback(demo_course)                 # overwrites carol's with the student version
    hidden = {p.parent.parent.name: _html_text(p) for p in written}
    return hidden, carol_shown, written


@pytest.mark.slow
def test_feedback_hides_hidden_tests(demo_course, feedback_texts):
    hidden, carol_shown, written = feedback_texts
    lines = _hidden_lines(demo_course.source / A / "demo.ipynb")
    assert len(lines) >= 5
    for student, text in hidden.items():
        leaked = [l for l in lines if l in text]
        assert not leaked, f"the feedback of {student} shows hidden test code: {leaked}"
    carol = hidden["carol"]
    assert "assert square(2) == 4" in carol, "the visible test should stay"
    assert "hidden tests ran here" in carol
    assert "AssertionError: hidden check of square failed" in carol, "the failure message should stay"
    assert "Traceback" not in carol
    # the option shows them, which also proves the check above can see code in this HTML
    missing = [l for l in lines if l not in carol_shown]
    assert not missing, f"show_hidden_tests=True should show every hidden line, missing {missing}"


@pytest.mark.slow
def test_feedback_files(demo_course, feedback_texts):
    _, _, written = feedback_texts
    ran = {d["student"] for d in grading.load_ledgers(demo_course) if d["status"] == "graded"}
    assert {p.parent.parent.name for p in written} == ran
    assert all(p.name == "demo.html" and p.parent.name == A for p in written)
    assert not list(demo_course.feedback.rglob(grading.LEDGER)), "the grading ledger must not reach students"


@pytest.mark.slow
def test_export_grades(demo_course):
    path = report.export_grades(demo_course)
    assert path == demo_course.reports / "grades.csv"
    rows = {r["student"]: r for r in csv.DictReader(open(path))}
    ledgers = grading.load_ledgers(demo_course)
    assert set(rows) == {d["student"] for d in ledgers} == set(STUDENTS)
    expect = {"alice": "5.0", "bob": "0.0", "carol": "2.0", "erin": "5.0"}     # the manual point is pending
    assert {s: rows[s]["score"] for s in expect} == expect
    assert all(rows[s]["max_score"] == "6.0" for s in STUDENTS)
    assert rows["dave"]["status"] in report.PROBLEM_STATUSES and rows["dave"]["reason"]
    assert rows["erin"]["late"] == "True" and float(rows["erin"]["seconds_late"]) == pytest.approx(163800)
    assert rows["alice"]["late"] == "False"
    questions = list(csv.DictReader(open(path.with_name("grades-questions.csv"))))
    q = {(r["student"], r["question"]): r for r in questions}
    assert q[("carol", "test_square")]["passed"] == "False"
    assert "hidden check of square failed" in q[("carol", "test_square")]["error"]
    assert q[("carol", "test_add")]["passed"] == "True"
    assert q[("alice", "explain")]["kind"] == "manual" and q[("alice", "explain")]["passed"] == ""


@pytest.mark.slow
def test_write_report(demo_course):
    page = report.write_report(demo_course)
    raw = page.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", raw), "the report should be self-contained"
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", raw)
    assert len(images) == 3
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    text = _html_text(page)
    everything = text.split("All submissions (5)")[1]
    for d in grading.load_ledgers(demo_course):
        assert re.search(rf"{d['student']}\s*{A}", everything), f"{d['student']} is missing from the report"
    problems = text.split("Submissions that errored")[1].split("Flagged submissions")[0]
    assert "dave" in problems and "alice" not in problems
    failed = text.split("Questions the class failed")[1].split("Grading time")[0]
    assert failed.index("test_square") < failed.index("test_add")
    assert "2/4" in failed and "3/4" in failed          # over the four notebooks that ran
    # the hand-graded answers wait for a person (bob's untouched one got its 0 automatically); dave's
    # notebook died, so nbgrader left his cells to a person too
    pending = {(p["student"], p["question"]): p for p in report.pending_manual_grades(demo_course)}
    assert {s for s, q in pending if q == "explain"} == {"alice", "carol", "dave", "erin"}
    assert {p["status"] for p in pending.values() if p["student"] != "dave"} == {"graded"}
    waiting = text.split("Waiting for manual grading")[1].split("Grade distribution")[0]
    assert waiting.startswith(f" ({len(pending)} cells, 4 students)")
    for s in ("alice", "carol", "erin"):
        assert re.search(rf"{s}\s*1 point to grade\s*{A}\s*demo\s*explain\s*manual\s*1\s*graded", waiting)
    assert "bob" not in waiting
    summary = report.summary_table(demo_course)
    for s in STUDENTS:
        assert s in summary
    assert re.search(r"erin\s+00_demo\s+5/6\s+graded\s+late by", summary)
