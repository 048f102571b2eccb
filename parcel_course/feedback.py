"""Feedback for students: nbgrader's ``generate_feedback`` with hidden tests hidden.

nbgrader renders each autograded notebook to
``feedback/<student>/<assignment>/<notebook>.html``.  The autograded notebook
holds the instructor's version of every test cell, hidden tests included, and
an IPython traceback quotes the source line that failed, so plain nbgrader
feedback shows students the hidden tests.  :class:`HideHiddenTests` is one
more preprocessor in ``GenerateFeedback.preprocessors`` that removes them
before the HTML is written; :func:`write_feedback` runs the whole thing.
"""
from __future__ import annotations

from pathlib import Path

from .config import FEEDBACK_PREPROCESSORS
from .directory import Course, CourseError
from .grading.gradebook import LEDGER
from .late import LATENESS_NOTE
from .preprocessors.hide_hidden_tests import HideHiddenTests, hide_hidden_tests_in_source  # noqa: F401 - public here too

__all__ = ["HideHiddenTests", "write_feedback", "hide_hidden_tests_in_source"]


def _graded_pairs(course: Course, assignments, students) -> list[tuple[str, str]]:
    """(student, assignment) with an autograded notebook to give feedback on."""
    pairs = []
    for a in assignments:
        for d in sorted(course.autograded.glob(f"*/{a}")):
            if d.is_dir() and (not students or d.parent.name in students) and any(d.glob("*.ipynb")):
                pairs.append((d.parent.name, a))
    return pairs


def write_feedback(course: Course, assignments=None, students=None,
                   show_hidden_tests: bool = False) -> list[Path]:
    """Write HTML feedback for graded submissions, hidden tests hidden by default.

    Runs ``nbgrader generate_feedback`` once per assignment with
    :class:`HideHiddenTests` added to ``GenerateFeedback.preprocessors``.
    Submissions whose notebook never ran to the end (grading status error,
    timeout or killed leave no autograded notebook) get no feedback file;
    the instructor report lists them.

    Parameters
    ----------
    course : Course
    assignments : list of str, optional
        Default: every assignment of the course.
    students : list of str, optional
        Default: every student with an autograded submission.
    show_hidden_tests : bool, default False
        Keep the hidden tests and full tracebacks (an instructor's copy).

    Returns
    -------
    list of Path
        The HTML files written, ``feedback/<student>/<assignment>/<notebook>.html``.

    Example
    -------
    >>> write_feedback(Course("."), ["01_convolution"], students=["alice"])   # doctest: +SKIP
    [PosixPath('.../feedback/alice/01_convolution/convolution.html')]
    """
    if not isinstance(course, Course):
        raise TypeError(f"`course` should be a parcel_course.directory.Course, got {type(course).__name__}.")
    if isinstance(students, str):
        students = [students]
    if isinstance(assignments, str):
        assignments = [assignments]
    assignments = course.check_assignments(assignments)
    students = set(students) if students else None
    if students:
        known = {d.parent.name for a in assignments for d in course.autograded.glob(f"*/{a}") if d.is_dir()}
        unknown = sorted(students - known)
        if unknown:
            raise CourseError(f"No graded submission of {unknown} for {assignments}: check the student ids "
                              f"(graded: {sorted(known)}) or run `parcel-course grade` first.")
    written = []
    preprocessors = "[" + ",".join(repr(p) for p in [*FEEDBACK_PREPROCESSORS, LATENESS_NOTE]) + "]"
    for a in assignments:
        pairs = _graded_pairs(course, [a], students)
        if not pairs:
            continue
        wanted = {s for s, _ in pairs}
        others = sorted({d.parent.name for d in course.autograded.glob(f"*/{a}")} - wanted)
        args = ["generate_feedback", a, "--force",
                f"--GenerateFeedback.preprocessors={preprocessors}",
                f"--HideHiddenTests.show_hidden_tests={bool(show_hidden_tests)}"]
        if others:
            args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        proc = course.nbgrader(*args, check=False)
        done = []
        for s, _ in pairs:
            # nbgrader copies every other file of autograded/<s>/<a>/: not our grading ledger
            (course.feedback / s / a / LEDGER).unlink(missing_ok=True)
            files = sorted((course.feedback / s / a).glob("*.html"))
            if files:
                done.append(s)
                written.extend(files)
        if proc.returncode != 0:
            missing = sorted(wanted - set(done))
            raise CourseError(
                f"`nbgrader generate_feedback {a}` failed for {missing or 'some submissions'} "
                f"(feedback for {done} was written):\n" + (proc.stderr or proc.stdout)[-3000:])
    return written
