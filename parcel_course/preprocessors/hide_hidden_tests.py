"""Hidden tests hidden from feedback: one more preprocessor in nbgrader's ``GenerateFeedback``.

The autograded notebook holds the instructor's version of every test cell,
hidden tests included, and an IPython traceback quotes the source line that
failed, so plain nbgrader feedback would show students the hidden tests.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Unicode

__all__ = ["HideHiddenTests", "hide_hidden_tests_in_source"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def hide_hidden_tests_in_source(source: str, placeholder: str,
                                begin: str = "BEGIN HIDDEN TESTS",
                                end: str = "END HIDDEN TESTS") -> tuple[str, bool]:
    """Replace every hidden-test region of a cell's source by one comment line.

    Parameters
    ----------
    source : str
        The source of a test cell.
    placeholder : str
        The line put where each region was (indented like its BEGIN line).
    begin, end : str
        The delimiters, as in nbgrader's ``ClearHiddenTests``.

    Returns
    -------
    source : str
    removed : bool
        Whether a region was found.

    Example
    -------
    >>> src = "assert f(1) == 2\\n### BEGIN HIDDEN TESTS\\nassert f(7) == 14\\n### END HIDDEN TESTS"
    >>> hide_hidden_tests_in_source(src, "# hidden tests ran here")
    ('assert f(1) == 2\\n# hidden tests ran here', True)
    """
    out, inside, removed = [], False, False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"nested {begin!r} in a test cell: close the first region with {end!r}.")
            inside, removed = True, True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + placeholder)
        elif end in line:
            if not inside:
                raise ValueError(f"{end!r} without a {begin!r} before it in a test cell.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"a test cell opens {begin!r} and never closes it with {end!r}.")
    return "\n".join(out), removed


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test code and long tracebacks from test cells before feedback.

    In every test cell (an nbgrader grade cell that is not an answer), the
    code between the hidden-test delimiters becomes one comment line, and an
    error's traceback (which quotes the failing source line, often a hidden
    one) is cut to its last line, ``ename: evalue``.  The assertion message
    written by the instructor stays: that is what the student should read.
    Nothing happens with ``show_hidden_tests = True``.

    Configure it like any nbgrader preprocessor, e.g. on the command line
    ``--HideHiddenTests.show_hidden_tests=True``.

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> cell = nbformat.v4.new_code_cell("assert f(1) == 2\\n### BEGIN HIDDEN TESTS\\nassert f(7) == 14\\n### END HIDDEN TESTS")
    >>> cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    >>> nb.cells.append(cell)
    >>> nb, _ = HideHiddenTests().preprocess(nb, {})
    >>> print(nb.cells[0].source)
    assert f(1) == 2
    # (hidden tests ran here; their code is not shown)
    """

    show_hidden_tests = Bool(
        False, help="Show the hidden tests and full tracebacks (for instructors).").tag(config=True)
    shorten_tracebacks = Bool(
        True, help="Cut the traceback of an error in a test cell to its last line.").tag(config=True)
    begin_delimiter = Unicode("BEGIN HIDDEN TESTS", help="Marks the start of hidden tests.").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS", help="Marks the end of hidden tests.").tag(config=True)
    placeholder = Unicode("# (hidden tests ran here; their code is not shown)",
                          help="The line shown instead of each hidden-test region.").tag(config=True)

    @staticmethod
    def is_test_cell(cell) -> bool:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")

    def preprocess_cell(self, cell, resources, index):
        if self.show_hidden_tests or not self.is_test_cell(cell):
            return cell, resources
        cell.source, _ = hide_hidden_tests_in_source(
            cell.source, self.placeholder, self.begin_delimiter, self.end_delimiter)
        if self.shorten_tracebacks:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    evalue = _ANSI.sub("", str(out.get("evalue", "")))
                    ename = _ANSI.sub("", str(out.get("ename", "Error")))
                    out["traceback"] = [f"{ename}: {evalue}" if evalue else ename]
        return cell, resources
