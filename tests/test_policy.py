"""Course policy (issue 27): late penalties by the day, extensions, on every grading path.

The rule itself (:class:`parcel_course.late.LatePenalty`) at each boundary; the course's nbgrader_config.py
configures it; penalties recomputed in the gradebook with extensions (a student with no submission too);
then real grading: the exchange route through ``parcel-course grade``, plain ``nbgrader autograde`` (the
config alone), an LMS-style hand-placed ``timestamp.txt``, feedback and report, and one real submission of
01_convolution.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from minicourse import RIGHT, answer, make_course
from parcel_course import exchange
from parcel_course.cli import main as cli
from parcel_course.directory import Course, grading_env, nbgrader_executable
from parcel_course.late import LatePenalty, apply_penalties, course_plugin, grant_extension, list_extensions

DAY, HOUR, MIN = 86400, 3600, 60
RULE = dict(percent=10, unit="day", grace_minutes=15, max_percent=50, zero_after_days=7)


# -- the rule ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds_late, percent", [
    (0, 0),                       # on time
    (-5 * MIN, 0),                # early
    (10 * MIN, 0),                # within the grace period
    (15 * MIN, 0),                # at its end
    (15 * MIN + 1, 10),           # just past it: one started day
    (DAY, 10),                    # exactly one day
    (DAY + 1, 20),                # a second day started
    (4 * DAY + 1, 50),            # 5 started days: 50%, the cap
    (6 * DAY + 1, 50),            # past the cap: stays at the cap
    (7 * DAY, 50),                # the last date itself
    (7 * DAY + 1, 100),           # past the last date: zero
])
def test_rule_at_each_boundary(seconds_late, percent):
    rule = LatePenalty(**RULE)
    assert rule.penalty_percent(seconds_late) == percent
    assert rule.late_submission_penalty("ann", 12.0, seconds_late) == pytest.approx(12.0 * percent / 100)


def test_rule_by_the_hour_and_without_last_date():
    rule = LatePenalty(percent=2, unit="hour", max_percent=100, zero_after_days=0)
    assert [rule.penalty_percent(s) for s in (1, HOUR, HOUR + 1, 30 * DAY)] == [2, 2, 4, 100]
    assert LatePenalty(percent=0, zero_after_days=0).penalty_percent(3 * DAY) == 0
    assert "per started hour" in rule.describe()


def test_course_config_sets_the_rule_with_help_strings(root):
    plugin = course_plugin(Course(root))
    assert isinstance(plugin, LatePenalty)
    config = Course(root).config()
    assert config.AssignLatePenalties.plugin_class == "parcel_course.late.LatePenalty"
    for name in ("percent", "unit", "grace_minutes", "max_percent", "zero_after_days"):
        assert getattr(plugin, name) == config.LatePenalty[name], name
        assert LatePenalty.class_traits()[name].help, f"LatePenalty.{name} has no help string"
    assert "parcel_course.late.LatenessNote" in config.GenerateFeedback.preprocessors


# -- the gradebook: penalties, extensions, a student without a submission --------------------------

@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("PARCEL_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.delenv("PARCEL_DB_URL", raising=False)
    return make_course(tmp_path / "course")


def _graded(course, student, timestamp, points):
    """A submission in the gradebook as grading leaves it: a timestamp and auto scores."""
    with course.gradebook() as gb:
        gb.update_or_create_student(student)
        sub = gb.add_submission("00_tiny", student, timestamp=timestamp)
        left = points
        for nb in sub.notebooks:
            for g in nb.grades:
                if g.cell_type == "code":
                    g.auto_score = min(left, g.max_score)
                    g.needs_manual_grade = False
                    left -= g.auto_score
        gb.db.commit()


def _penalty(course, student):
    with course.gradebook() as gb:
        return gb.find_submission("00_tiny", student).late_submission_penalty


def test_penalties_follow_extensions_and_skip_who_did_not_submit(course):
    due = datetime(2026, 3, 1, 12, 0)
    course.nbgrader("db", "assignment", "add", "00_tiny", "--duedate=2026-03-01 12:00:00 UTC")
    _graded(course, "ontime", due - timedelta(hours=1), 3)
    _graded(course, "grace", due + timedelta(minutes=10), 3)
    _graded(course, "oneday", due + timedelta(hours=20), 3)
    _graded(course, "capped", due + timedelta(days=6), 3)
    _graded(course, "tooLate", due + timedelta(days=8), 3)
    _graded(course, "extended", due + timedelta(days=1, hours=3), 3)
    got = apply_penalties(course)
    assert {s: round(p, 4) for (s, _), p in got.items()} == {
        "ontime": 0, "grace": 0, "oneday": 0.3, "capped": 1.5, "tooLate": 3.0, "extended": 0.6}

    # an extension of two days: on time; of one day: three hours late, one started day
    row = grant_extension(course, "extended", "00_tiny", days=2)
    assert row["extension"] == "2 days" and row["late"] == "" and row["penalty"] == 0
    assert _penalty(course, "extended") == 0
    assert grant_extension(course, "extended", "00_tiny", days=1)["penalty"] == pytest.approx(0.3)
    assert grant_extension(course, "extended", "00_tiny", days=0)["extension"] == ""   # removed
    assert _penalty(course, "extended") == pytest.approx(0.6)
    grant_extension(course, "extended", "00_tiny", hours=30)

    # a student with no submission: the extension waits for them, no penalty, no row in the report
    row = grant_extension(course, "nosub", "00_tiny", days=3)
    assert row["submitted"] == "" and row["penalty"] == 0 and row["due"] == "2026-03-04 12:00 UTC"
    assert apply_penalties(course, students=["nosub"]) == {("nosub", "00_tiny"): 0.0}
    from parcel_course.report import submission_rows
    rows = {r["student"]: r for r in submission_rows(course)}
    assert "nosub" not in rows
    assert rows["capped"]["late_penalty"] == pytest.approx(1.5) and rows["ontime"]["late_penalty"] == 0
    listed = {r["student"]: r for r in list_extensions(course)}
    assert sorted(listed) == ["extended", "nosub"] and listed["extended"]["extension"] == "1 day 6 h"


def test_extension_needs_a_due_date_and_a_known_assignment(course, capsys):
    from parcel_course.directory import CourseError
    with pytest.raises(CourseError, match="no due date"):
        grant_extension(course, "ann", "00_tiny", days=1)
    with pytest.raises(CourseError):
        grant_extension(course, "ann", "no_such_assignment", days=1)
    assert cli(["--root", str(course.root), "extend", "ann", "00_tiny", "--days", "-1"]) == 2
    assert "cannot be negative" in capsys.readouterr().err


# -- real grading ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_exchange_route_grade_extend_feedback_report(course, tmp_path, capsys):
    """Exchange submissions two days after the due date: penalties by the course's rule through
    `parcel-course grade`, extensions granted before and after grading, feedback and report say so."""
    exchange.release(course, ["00_tiny"])
    due = datetime.now(timezone.utc) - timedelta(days=2)
    course.nbgrader("db", "assignment", "add", "00_tiny", f"--duedate={due.isoformat()}")
    root = str(course.root)
    assert cli(["--root", root, "extend", "ann", "00_tiny", "--days", "3"]) == 0    # before she hands in
    for student in ("ann", "bob", "cat"):
        folder = exchange.student_fetch(course, "00_tiny", tmp_path / "homes" / student)
        answer(folder / "tiny.ipynb", **RIGHT)
        exchange.student_submit(course, "00_tiny", student, tmp_path / "homes" / student)
    exchange.collect(course, ["00_tiny"])
    assert cli(["--root", root, "extend", "dan", "00_tiny", "--days", "1"]) == 0    # never hands in
    assert cli(["--root", root, "grade", "--workers", "2"]) == 0
    # 2 days and some seconds late: 3 started days, 30% of 3 points; ann's extension makes her on time
    assert _penalty(course, "ann") == 0
    assert _penalty(course, "bob") == pytest.approx(0.9)
    assert cli(["--root", root, "extend", "cat", "00_tiny", "--days", "1"]) == 0    # after grading
    assert _penalty(course, "cat") == pytest.approx(0.6)
    capsys.readouterr()
    assert cli(["--root", root, "extensions"]) == 0
    listing = capsys.readouterr().out
    assert "dan" in listing and "not yet" in listing and "10% of the points earned" in listing

    from parcel_course.feedback import write_feedback
    from parcel_course.report import submission_rows, write_report
    write_feedback(course, ["00_tiny"])
    bob = (course.feedback / "bob" / "00_tiny" / "tiny.html").read_text()
    assert "Late by 2 days" in bob and "Penalty on this notebook: -0.9 points" in bob
    assert "Late submission penalty" in bob                 # nbgrader's own line, score after the penalty
    assert "Late by" not in (course.feedback / "ann" / "00_tiny" / "tiny.html").read_text()
    assert {r["student"] for r in submission_rows(course)} == {"ann", "bob", "cat"}
    assert cli(["--root", root, "similarity"]) == 0
    html = write_report(course).read_text()
    assert "Similarity of answers" in html and "not a verdict" in html and "00_tiny: 0 pairs flagged of 3" in html
    assert "Late submissions and extensions (4)" in html and "10% of the points earned per started day" in html


@pytest.mark.slow
def test_plain_nbgrader_autograde_and_an_lms_timestamp(course):
    """The LMS route leaves submitted/<student>/<assignment>/timestamp.txt; plain `nbgrader autograde`
    reads the course's nbgrader_config.py alone and applies the same rule, with the extension."""
    course.nbgrader("db", "assignment", "add", "00_tiny", "--duedate=2026-03-01 12:00:00 UTC")
    for student, when in (("eve", "2026-03-02 13:00:00.000000 UTC"), ("fin", "2026-03-02 13:00:00.000000 UTC")):
        d = course.submitted / student / "00_tiny"
        d.mkdir(parents=True)
        shutil.copy(course.release / "00_tiny" / "tiny.ipynb", d)
        answer(d / "tiny.ipynb", **RIGHT)
        (d / "timestamp.txt").write_text(when)
    grant_extension(course, "fin", "00_tiny", days=2)
    env = grading_env()
    env.pop("PARCEL_DB_URL", None)
    proc = subprocess.run([*nbgrader_executable(), "autograde", "00_tiny", "--force", "--log-level=INFO"],
                          cwd=course.root, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with course.gradebook() as gb:
        eve, fin = gb.find_submission("00_tiny", "eve"), gb.find_submission("00_tiny", "fin")
        assert eve.score == 3 and fin.score == 3, (eve.score, fin.score, proc.stderr[-2000:])
        assert eve.total_seconds_late == DAY + HOUR and fin.total_seconds_late == 0
        assert eve.late_submission_penalty == pytest.approx(0.6)   # 2 started days, 20% of 3 points
        assert fin.late_submission_penalty == 0


@pytest.mark.slow
def test_one_real_01_convolution_submission_late(tmp_path, monkeypatch, root):
    """The reference answers of 01_convolution handed in a day and two hours late, graded for real."""
    import sys
    sys.path.insert(0, str(root / "benchmarks"))
    from common import copy_reference, fresh_course
    monkeypatch.delenv("PARCEL_DB_URL", raising=False)
    course = fresh_course(tmp_path / "course", ["01_convolution"])
    course.nbgrader("db", "assignment", "add", "01_convolution", "--duedate=2026-03-01 12:00:00 UTC")
    copy_reference(course, "late", "01_convolution")
    (course.submitted / "late" / "01_convolution" / "timestamp.txt").write_text("2026-03-02 14:00:00.000000 UTC")
    t0 = time.perf_counter()
    assert cli(["--root", str(course.root), "grade", "01_convolution", "--workers", "1"]) == 0
    with course.gradebook() as gb:
        sub = gb.find_submission("01_convolution", "late")
        assert sub.score == sub.max_score > 0
        assert sub.late_submission_penalty == pytest.approx(0.2 * sub.score)   # 2 started days
    print(f"graded one 01_convolution submission in {time.perf_counter() - t0:.1f} s")
