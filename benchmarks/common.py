"""What the benchmarks share: a fresh course to grade in, and their sections of BENCHMARKS.md."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from parcel_course.directory import Course  # noqa: E402


def fresh_course(base: Path, assignments) -> Course:
    """A new course in ``base`` with this checkout's config and sources of ``assignments``, released."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    for a in assignments:
        shutil.copytree(ROOT / "source" / a, base / "source" / a, ignore=shutil.ignore_patterns("*.src.py"))
    course = Course(base)
    course.generate(list(assignments))
    return course


def copy_reference(course: Course, student: str, assignment: str, blank: bool = False) -> None:
    """Hand in the reference solution (or, ``blank``, the release) of ``assignment`` as ``student``."""
    d = course.submitted / student / assignment
    d.mkdir(parents=True)
    for nb in ((course.release if blank else course.source) / assignment).glob("*.ipynb"):
        shutil.copy(nb, d)


def write_section(path: Path, text: str, name: str) -> None:
    """Replace one benchmark's section of BENCHMARKS.md (between its markers), or append it."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}{end}\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        new = head + block + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)
