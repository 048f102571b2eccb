"""Last before the grades are saved: a test cell's score is the grader's verdict, never the kernel's text.

nbgrader scores a graded test cell from its outputs (``nbgrader.utils.determine_grade``): an error
scores zero, but the first ``execute_result`` found before any error is read as the score itself (a
number as partial credit, anything else as full marks).  A student's code runs in the kernel while a
test cell runs, so it can emit an ``execute_result`` there (``sys.displayhook(1.0)``, a display
hook of its own, a value returned by a patched function) and turn a failing cell into full marks:
the grader's own ``AttestationError`` appended after it changes nothing.

The course's rule, on every grading path: **a graded test cell scores full marks when it holds no
error output (the kernel raised none, the kernel did not report the cell failed, and, where the cell
attests, the grader's check outside the kernel passed); otherwise zero.**  This preprocessor runs
after :class:`.verify_attestations.VerifyAttestations` and :class:`.keep_warnings.WarningsKeepPoints`
and turns every ``execute_result`` of a graded test cell into ``display_data`` with the same content:
still shown, never read as a score.  Answer cells (graded by hand) are left as they are.
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

__all__ = ["ScoreFromVerdict", "scores_from_verdict"]


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def scores_from_verdict(cell) -> int:
    """Turn each ``execute_result`` of a graded test cell into ``display_data``; how many there were.

    Example
    -------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("f()")
    >>> cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 3}
    >>> cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "3.0"}, execution_count=1),
    ...                 nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    >>> scores_from_verdict(cell), [o.output_type for o in cell.outputs]
    (1, ['display_data', 'error'])
    >>> from nbgrader.utils import determine_grade
    >>> determine_grade(cell)
    (0, 3.0)
    """
    if not _is_test_cell(cell):
        return 0
    n = 0
    for i, out in enumerate(cell.get("outputs", [])):
        if out.get("output_type") == "execute_result":
            out["output_type"] = "display_data"
            out.pop("execution_count", None)
            n += 1
    return n


class ScoreFromVerdict(NbGraderPreprocessor):
    """No output of the kernel's awards points: see the module's docstring for the rule."""

    def preprocess_cell(self, cell, resources, index):
        n = scores_from_verdict(cell)
        if n:
            self.log.info("%s: %d execute_result(s) in a test cell kept as display data (not a score)",
                          cell.metadata["nbgrader"].get("grade_id"), n)
        return cell, resources
