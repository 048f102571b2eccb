"""The course's rule for stderr: a graded test cell is scored from its errors only.

``WarningsKeepPoints`` (parcel_course/preprocessors/keep_warnings.py) runs
after the kernel, before nbgrader's SaveAutoGrades.  On small notebooks and a
real gradebook: a test cell with only stderr keeps its points (the text stays
visible, as a stdout note), a test cell with stderr and an error still scores
zero, answer cells, manually graded cells and ungraded cells are untouched.
One slow test grades a tiny course end to end (``grading.grade_all``, what
``parcel-course grade`` runs).
"""
import copy
import os
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade

from parcel_course.preprocessors import autograde_preprocessors
from parcel_course.preprocessors.keep_warnings import DEFAULT_NOTE, WarningsKeepPoints, keep_warnings

A, NB = "00_rule", "rule"
v4 = nbformat.v4


def _stderr(text):
    return v4.new_output("stream", name="stderr", text=text)


def _stdout(text):
    return v4.new_output("stream", name="stdout", text=text)


def _error(ename="AssertionError", evalue="wrong"):
    return v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _cell(gid, outputs, grade=False, solution=False, points=1):
    c = v4.new_code_cell("pass")
    c.outputs = outputs
    if gid:
        c.metadata["nbgrader"] = dict(grade=grade, solution=solution, locked=not solution, grade_id=gid,
                                      points=points, schema_version=3)
    return c


WARN = "/site-packages/numpy/_core/_methods.py:147: RuntimeWarning: Mean of empty slice\n"
TF = "oneDNN custom operations are on. You may see slightly different numerical results\n"


def _notebook():
    return v4.new_notebook(cells=[
        _cell("answer", [_stderr(TF)], solution=True),                                  # an answer cell
        _cell("test_warns", [_stdout("before\n"), _stderr(WARN), _stderr("more\n"), _stdout("after\n")],
              grade=True),
        _cell("test_warns_and_fails", [_stderr(WARN), _error()], grade=True),
        _cell("test_attestation_failed", [_stderr(TF), _error("AttestationError", "the grader's own check failed")],
              grade=True),
        _cell("test_clean", [_stdout("ok\n")], grade=True),
        _cell("manual", [_stderr(WARN)], grade=True, solution=True, points=3),          # graded by hand
        _cell(None, [_stderr(TF)]),                                                     # no grade id
        _cell("test_not_in_gradebook", [_stderr(WARN)], grade=True),                    # unknown to the gradebook
    ])


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    """A gradebook that knows the notebook's cells (read only by the tests: built once)."""
    db_url = "sqlite:///" + str(tmp_path_factory.mktemp("keep-warnings") / "gradebook.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))  # alembic
        gb = Gradebook(db_url)
        gb.add_assignment(A)
        gb.add_notebook(NB, A)
        for gid in ("test_warns", "test_warns_and_fails", "test_attestation_failed", "test_clean"):
            gb.add_grade_cell(gid, NB, A, max_score=1, cell_type="code")
        gb.add_solution_cell("answer", NB, A)
        gb.add_grade_cell("manual", NB, A, max_score=3, cell_type="code")
        gb.add_solution_cell("manual", NB, A)
        gb.close()
    return {"nbgrader": {"notebook": NB, "assignment": A, "db_url": db_url}}


def _by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def test_warning_alone_keeps_the_points_and_stays_visible(resources):
    nb = _notebook()
    assert determine_grade(_by_id(nb)["test_warns"])[0] == 0         # nbgrader's own rule
    nb, _ = WarningsKeepPoints().preprocess(nb, resources)
    cell = _by_id(nb)["test_warns"]
    assert determine_grade(cell) == (1, 1)
    assert [(o.output_type, o.name) for o in cell.outputs] == [("stream", "stdout")] * 3
    texts = [o.text for o in cell.outputs]
    assert texts == ["before\n", DEFAULT_NOTE + WARN + "more\n", "after\n"]   # one note per run, in place


@pytest.mark.parametrize("gid", ["test_warns_and_fails", "test_attestation_failed"])
def test_warning_and_error_still_score_zero(resources, gid):
    nb, _ = WarningsKeepPoints().preprocess(_notebook(), resources)
    cell = _by_id(nb)[gid]
    assert determine_grade(cell) == (0, 1)
    assert [o.output_type for o in cell.outputs] == ["stream", "error"]
    assert cell.outputs[0].name == "stdout" and cell.outputs[0].text.startswith(DEFAULT_NOTE)


def test_answer_manual_and_ungraded_cells_are_untouched(resources):
    before = _notebook()
    nb, _ = WarningsKeepPoints().preprocess(copy.deepcopy(before), resources)
    for i, (old, new) in enumerate(zip(before.cells, nb.cells)):
        gid = old.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ("answer", "manual", None, "test_not_in_gradebook", "test_clean"):
            assert new.outputs == old.outputs, (i, gid)
    assert _by_id(nb)["manual"].outputs[0].name == "stderr"


def test_the_note_is_configurable_and_the_rule_can_be_switched_off(resources):
    from traitlets.config import Config
    c = Config()
    c.WarningsKeepPoints.note = "[stderr] "
    nb, _ = WarningsKeepPoints(config=c).preprocess(_notebook(), resources)
    assert _by_id(nb)["test_warns"].outputs[1].text == "[stderr] " + WARN + "more\n"
    c.WarningsKeepPoints.enabled = False                          # nbgrader's own rule back
    nb, _ = WarningsKeepPoints(config=c)(_notebook(), resources)
    assert determine_grade(_by_id(nb)["test_warns"])[0] == 0
    assert WarningsKeepPoints.class_traits()["note"].help


def test_keep_warnings_on_outputs():
    out, n = keep_warnings([_stderr("a"), _error(), _stderr("b"), _stderr("c")], note="! ")
    assert n == 2
    assert [(o.output_type, o.get("name"), o.get("text")) for o in out] == [
        ("stream", "stdout", "! a"), ("error", None, None), ("stream", "stdout", "! bc")]
    assert keep_warnings([], note="! ") == ([], 0)


def test_placed_after_the_verification_and_before_the_scores():
    names = [p.__name__ for p in autograde_preprocessors()]
    i = names.index("WarningsKeepPoints")
    assert names[i - 1] == "VerifyAttestations"
    assert i < names.index("AssignmentLimitOutput") < names.index("SaveAutoGrades")


@pytest.mark.slow
def test_tiny_course_end_to_end(tmp_path, monkeypatch):
    """Real nbgrader, real kernel: a right answer that warns keeps its points; a wrong one that warns does not."""
    from minicourse import make_course, submit_dir
    from parcel_course import grading
    monkeypatch.setenv("PARCEL_EXCHANGE", str(tmp_path / "exchange"))
    course = make_course(tmp_path / "course")
    warn = "import sys, warnings\n"
    submit_dir(course, "warns", square=warn + "def square(x):\n    warnings.warn('careful')\n    return x * x",
               halve=warn + "def halve(x):\n    print('stderr too', file=sys.stderr)\n    return x / 2")
    submit_dir(course, "wrong", square=warn + "def square(x):\n    warnings.warn('careful')\n    return x + x",
               halve="def halve(x):\n    return x / 2")
    results = {r.student: r for r in grading.grade_all(course, workers=2, progress=False)}
    assert (results["warns"].status, results["warns"].score) == ("graded", 3), results["warns"].reason
    assert (results["wrong"].status, results["wrong"].score) == ("graded", 1), results["wrong"].reason
    nb = nbformat.read(course.autograded / "warns" / "00_tiny" / "tiny.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in _by_id(nb)["test_square"].outputs)
    assert DEFAULT_NOTE in text and "careful" in text, _by_id(nb)["test_square"].outputs
