"""Tampered nbgrader metadata: the ledger names the notebook and cell, and says what nbgrader did (#24).

A student can edit a notebook's JSON: raise a test cell's points, re-mark an
answer cell as a test cell, edit a locked test cell, change a cell's type.
nbgrader's ``OverwriteCells`` restores most of it from the gradebook (its log
says only "Attribute ... has changed!", for every test cell with hidden tests
too, so the log alone cannot tell tampering); an answer cell re-marked as a
test cell stops nbgrader on that notebook, which used to reach the ledger as
"the kernel did not start in the sandbox".  Each submission here is a release
copy of 01_convolution's lighter notebook with one change, graded in one batch
by ``parcel-course grade``; the reference and a blank copy raise no flag.
"""
import subprocess
import sys

import nbformat
import pytest

from parcel_course import grading
from parcel_course.directory import grading_env
from parcel_course.grading import GradeJob, _released_source, _tampered_cells
from test_integrity import A, BB, _reference, _release_copy, _temp_course

slow = pytest.mark.slow


def _remark(cell, meta):       # an answer cell made a test cell worth 5 points
    if meta.get("grade_id") == "conv_parameters":
        meta.update(grade=True, solution=False, points=5)


def _points(cell, meta):       # a test cell's points raised
    if meta.get("grade_id") == "test_relu":
        meta["points"] = 10


def _locked(cell, meta):       # a locked test cell emptied
    if meta.get("grade_id") == "test_sigmoid":
        cell.source = "pass"


def _cell_type(cell, meta):    # a test cell turned into markdown (it would not run)
    if meta.get("grade_id") == "test_max_pool2d":
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


TAMPER = {"remark": _remark, "points": _points, "locked": _locked, "celltype": _cell_type}
CELL = {"remark": "conv_parameters", "points": "test_relu", "locked": "test_sigmoid", "celltype": "test_max_pool2d"}


def _tamper(course, student, change):
    path = _release_copy(course, student, [BB]) / f"{BB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        change(cell, cell.metadata.get("nbgrader", {}))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    base, root, course = _temp_course(tmp_path_factory, "tamper", [A])
    _reference(course, "ada", [BB])
    _release_copy(course, "blank", [BB])
    for student, change in TAMPER.items():
        _tamper(course, student, change)
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    proc = subprocess.run([sys.executable, "-m", "parcel_course.cli", "--root", str(root), "grade", "--workers", "2",
                           "--timeout", "90", "--total-timeout", "300"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return course, proc, {led["student"]: led for led in grading.load_ledgers(course)}


def _metadata_flags(led):
    return [f for f in led["flags"] if f.get("kind") == "metadata"]


@slow
def test_honest_submissions_raise_no_tamper_flag(tampered):
    _, _, ledgers = tampered
    for student in ("ada", "blank"):
        assert ledgers[student]["status"] == "graded", ledgers[student]["reason"]
        assert _metadata_flags(ledgers[student]) == [], ledgers[student]["flags"]
        assert ledgers[student]["reason"] == ""
    assert ledgers["ada"]["score"] > ledgers["blank"]["score"]


@slow
@pytest.mark.parametrize("student", ["points", "locked", "celltype"])
def test_restored_cell_is_named_in_flag_and_reason(tampered, student):
    _, _, ledgers = tampered
    led = ledgers[student]
    assert led["status"] == "graded", led["reason"]
    flags = _metadata_flags(led)
    assert [(f["notebook"], f["cell"]) for f in flags] == [(BB, CELL[student])], led["flags"]
    assert "nbgrader restored" in flags[0]["reason"] and f"{BB}.ipynb" in flags[0]["reason"]
    assert CELL[student] in led["reason"] and "restored by nbgrader" in led["reason"]
    assert "sandbox" not in led["reason"]
    # restored means graded as released: the blank answers still score what a blank copy scores
    assert led["score"] == ledgers["blank"]["score"] and led["max_score"] == ledgers["blank"]["max_score"]


@slow
def test_points_flag_says_from_what_to_what(tampered):
    flag, = _metadata_flags(tampered[2]["points"])
    assert "from 1 to 10" in flag["reason"]


@slow
def test_refused_notebook_names_the_cell_not_the_sandbox(tampered):
    _, proc, ledgers = tampered
    led = ledgers["remark"]
    assert led["status"] == "error"
    assert "sandbox" not in led["reason"], led["reason"]
    assert "tampered" in led["reason"] and f"{BB}.ipynb cell conv_parameters" in led["reason"]
    flag, = _metadata_flags(led)
    assert flag["cell"] == "conv_parameters" and "re-marked as a test cell worth 5" in flag["reason"]
    assert led["score"] == 0
    assert "conv_parameters" in proc.stderr          # the instructor sees it at the end of the run too


def test_released_source_cuts_hidden_tests_and_ignores_trailing_space():
    src = "check(f(1))\n### BEGIN HIDDEN TESTS\nattest('f', f)\n### END HIDDEN TESTS\n"
    assert _released_source(src) == _released_source("check(f(1))   \n\n") == "check(f(1))"
    assert _released_source("pass") != _released_source(src)


def test_tampered_cells_without_grading(tmp_path_factory):
    """The comparison alone, against a generated gradebook: one flag per changed cell, none for a release copy."""
    _, _, course = _temp_course(tmp_path_factory, "tamper-unit", [A])
    release = (course.release / A / f"{BB}.ipynb").read_bytes()
    url = f"sqlite:///{course.root / 'gradebook.db'}"
    job = lambda data: GradeJob("x", A, {f"{BB}.ipynb": data}, b"")  # noqa: E731
    assert _tampered_cells(url, job(release)) == []
    nb = nbformat.reads(release.decode(), as_version=4)
    for cell in nb.cells:
        _points(cell, cell.metadata.get("nbgrader", {}))
        _locked(cell, cell.metadata.get("nbgrader", {}))
    flags = _tampered_cells(url, job(nbformat.writes(nb).encode()))
    assert sorted(f["cell"] for f in flags) == ["test_relu", "test_sigmoid"]
