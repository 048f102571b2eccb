"""The nbgrader exchange, driven as instructors and students use it.

The instructor releases and collects with the course's nbgrader_config.py;
a student fetches and submits from a directory of their own, naming their id
explicitly (``--student``), as on a shared JupyterHub or in tests.
"""
from __future__ import annotations

import os
from pathlib import Path

from .directory import Course

__all__ = ["release", "collect", "student_fetch", "student_submit"]


def release(course: Course, assignments=None) -> list[str]:
    """Generate (from source/) and release each assignment to the exchange."""
    assignments = course.check_assignments(assignments)
    course.generate(assignments)
    Path(exchange_root(course)).mkdir(parents=True, exist_ok=True)
    for a in assignments:
        course.nbgrader("release_assignment", a, "--force")
    return assignments


def collect(course: Course, assignments=None, update: bool = True) -> list[str]:
    """Collect every submission of each assignment from the exchange into submitted/."""
    assignments = course.check_assignments(assignments)
    for a in assignments:
        args = ["collect", a]
        if update:
            args.append("--update")
        course.nbgrader(*args)
    return assignments


def exchange_root(course: Course) -> str:
    return os.environ.get("PARCEL_EXCHANGE", str(course.root / "exchange"))


def _student_app(kind: str, course: Course, assignment: str, student_dir: Path, student: str | None = None):
    """An nbgrader exchange app (FetchAssignment, Submit) as a student's nbgrader would build it.

    Run in this process (not a new ``nbgrader`` process per call): a class of
    students fetching and submitting is dozens of calls.
    """
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory
    from traitlets.config import Config
    cfg = Config()
    cfg.CourseDirectory.course_id = course.course_id
    cfg.CourseDirectory.root = str(student_dir)
    cfg.CourseDirectory.assignment_id = assignment
    if student:
        cfg.CourseDirectory.student_id = student
    cfg.Exchange.root = exchange_root(course)
    cfg.Exchange.path_includes_course = True
    cfg.Exchange.assignment_dir = str(student_dir)
    coursedir = CourseDirectory(config=cfg)
    app = getattr(ExchangeFactory(config=cfg), kind)(
        coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
    app.start()
    return app


def student_fetch(course: Course, assignment: str, student_dir: str | os.PathLike) -> Path:
    """What a student's ``nbgrader fetch_assignment`` does, in ``student_dir``; returns the folder."""
    student_dir = Path(student_dir).resolve()
    student_dir.mkdir(parents=True, exist_ok=True)
    _student_app("FetchAssignment", course, assignment, student_dir)
    return student_dir / course.course_id / assignment  # path_includes_course


def student_submit(course: Course, assignment: str, student: str, student_dir: str | os.PathLike) -> None:
    """What a student's ``nbgrader submit --student=ID`` does."""
    _student_app("Submit", course, assignment, Path(student_dir).resolve(), student=student)
