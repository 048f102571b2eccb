"""After the kernel: a warning in a graded test cell costs no points (the course's rule for stderr).

nbgrader scores a test cell zero when its outputs hold an error *or any text
on stderr* (``nbgrader.utils.determine_grade``).  Correct work prints on
stderr for reasons that are no mistake: NumPy's "Mean of empty slice" when an
answer maps the empty case afterwards, Keras 3's UserWarning for
``Conv2D(..., input_shape=...)`` written as in the lecture, a library's
FutureWarning, and TensorFlow's import notices ("oneDNN custom operations are
on", "Could not find cuda drivers"), which ipykernel forwards late, into
whichever cell runs next.  Under nbgrader's rule each of them costs the cell
its points, although the grader's own out-of-kernel check
(:class:`.verify_attestations.VerifyAttestations`) passed.

The course's rule: **a graded test cell is scored from its errors only.**
This preprocessor runs after ``VerifyAttestations`` and before
``SaveAutoGrades``; in each graded test cell (a graded cell of the gradebook
that is not an answer cell) it turns every stderr stream output into a stdout
note that keeps the text, prefixed by :attr:`WarningsKeepPoints.note`.  A cell
that really fails still scores zero: a failed check raises in the kernel (an
error output), a killed kernel leaves an error, and a failed out-of-kernel
check appends an ``AttestationError``.  Answer cells, manually graded cells
and ungraded cells are left as they are, and nothing changes in a student's
kernel: warnings still show while they work.

``c.WarningsKeepPoints.enabled = False`` in ``nbgrader_config.py`` restores
nbgrader's own rule.
"""
from __future__ import annotations

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

__all__ = ["WarningsKeepPoints", "keep_warnings", "DEFAULT_NOTE"]

DEFAULT_NOTE = "warning (printed on stderr; it costs no points):\n"


def _is_stderr(output) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def keep_warnings(outputs: list, note: str = DEFAULT_NOTE) -> tuple[list, int]:
    """The outputs with each run of consecutive stderr streams turned into one stdout note.

    Parameters
    ----------
    outputs : list
        A code cell's outputs (nbformat output nodes).
    note : str
        Put before the text of each run of stderr outputs.

    Returns
    -------
    outputs : list
        Every other output unchanged and in its place.
    converted : int
        How many runs of stderr outputs became notes.

    Example
    -------
    >>> out = [nbformat.v4.new_output("stream", name="stderr", text="careful\\n")]
    >>> new, n = keep_warnings(out, note="note: ")
    >>> (new[0].name, new[0].text, n)
    ('stdout', 'note: careful\\n', 1)
    """
    new, converted, run = [], 0, None
    for o in outputs:
        if _is_stderr(o):
            if run is None:
                run = []
            run.append(o.get("text", ""))
            continue
        if run is not None:
            new.append(nbformat.v4.new_output("stream", name="stdout", text=note + "".join(run)))
            converted, run = converted + 1, None
        new.append(o)
    if run is not None:
        new.append(nbformat.v4.new_output("stream", name="stdout", text=note + "".join(run)))
        converted += 1
    return new, converted


class WarningsKeepPoints(NbGraderPreprocessor):
    """In graded test cells, stderr becomes a visible stdout note: only errors cost points.

    See the module's docstring for the rule and why.  Which cells are graded
    test cells comes from the gradebook (not from the submitted metadata).
    """

    note = Unicode(DEFAULT_NOTE, help=(
        "Text put before what a graded test cell printed on stderr, once the stderr output has been turned "
        "into a stdout note (so that nbgrader scores the cell from its error outputs only).")).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        notebook, assignment = info["notebook"], info["assignment"]
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.cell_type != "code" or not gid or not any(_is_stderr(o) for o in cell.get("outputs", [])):
                    continue
                try:
                    gb.find_graded_cell(gid, notebook, assignment)
                except MissingEntry:
                    continue                     # not graded: nbgrader does not score it
                try:
                    gb.find_solution_cell(gid, notebook, assignment)
                    continue                     # an answer cell (graded by hand): left as it is
                except MissingEntry:
                    pass
                cell.outputs, n = keep_warnings(cell.outputs, self.note)
                self.log.info("%s/%s: %d stderr output(s) kept as a note; scored from its errors", notebook, gid, n)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):   # pragma: no cover - preprocess does the work
        return cell, resources
