"""A tiny course for end-to-end tests of the workflow: real nbgrader, seconds per submission."""
import shutil
from pathlib import Path

import nbformat

from parcel_course.directory import Course

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = '''# %% [markdown]
# # A tiny assignment
# %% solution id=square
def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION
# %% tests id=test_square points=2
assert square(3) == 9
### BEGIN HIDDEN TESTS
assert square(-7) == 49, "hidden: square(-7)"
### END HIDDEN TESTS
# %% solution id=halve
def halve(x):
    ### BEGIN SOLUTION
    return x / 2
    ### END SOLUTION
# %% tests id=test_halve points=1
assert halve(4) == 2
### BEGIN HIDDEN TESTS
assert halve(3) == 1.5
### END HIDDEN TESTS
# %% [markdown] manual id=explain points=1
# Explain what you did.
'''


def make_course(root: Path) -> Course:
    """A course directory at ``root`` with one assignment, generated (gradebook filled)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "source" / "00_tiny").mkdir(parents=True)
    (root / "source" / "00_tiny" / "tiny.src.py").write_text(SCRIPT)
    course = Course(root)
    course.build_source()
    course.generate()
    return course


def answer(nb_path: Path, **cells) -> None:
    """Replace answer cells (by grade id) of a notebook with the given code."""
    nb = nbformat.read(nb_path, as_version=4)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in cells:
            c.source = cells[gid]
    nbformat.write(nb, nb_path)


RIGHT = dict(square="def square(x):\n    return x * x", halve="def halve(x):\n    return x / 2")


def submit_dir(course: Course, student: str, assignment="00_tiny", **cells) -> Path:
    """Put a submission straight into submitted/ (what `collect` would do)."""
    d = course.submitted / student / assignment
    d.mkdir(parents=True, exist_ok=True)
    target = d / "tiny.ipynb"
    shutil.copy(course.release / assignment / "tiny.ipynb", target)
    if cells:
        answer(target, **cells)
    return target
