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


def _student_args(course: Course) -> list[str]:
    return [f"--course={course.course_id}", f"--Exchange.root={exchange_root(course)}",
            "--Exchange.path_includes_course=True"]


def student_fetch(course: Course, assignment: str, student_dir: str | os.PathLike) -> Path:
    """What a student's ``nbgrader fetch_assignment`` does, in ``student_dir``; returns the folder."""
    student_dir = Path(student_dir)
    student_dir.mkdir(parents=True, exist_ok=True)
    course.nbgrader("fetch_assignment", assignment, *_student_args(course), cwd=student_dir)
    return student_dir / course.course_id / assignment  # path_includes_course


def student_submit(course: Course, assignment: str, student: str, student_dir: str | os.PathLike) -> None:
    """What a student's ``nbgrader submit`` does, with an explicit student id."""
    course.nbgrader("submit", assignment, f"--student={student}", *_student_args(course),
                    cwd=Path(student_dir))
