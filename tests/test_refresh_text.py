"""`parcel-course solutions --text-only`: an executed solution takes its source's text, keeps its outputs,
and refuses when a code cell changed (parcel_course.authoring.refresh_text)."""
from __future__ import annotations

import nbformat
import pytest

from parcel_course.authoring import AuthoringError, refresh_text, script_to_notebook

SCRIPT = "# %% [markdown]\n# Old text.\n\n# %% id=a\nx = 1\n\n# %% [markdown]\n# More.\n\n# %% id=b\nprint(x)\n"


def _pair(tmp_path, script):
    src = script_to_notebook(script)
    sol = nbformat.from_dict(src)
    for c in sol.cells:
        if c.cell_type == "code":
            c.outputs = [nbformat.v4.new_output("stream", text=f"out of {c.id}")]
            c.execution_count = 7
            c.metadata["execution"] = {"iopub.execute_input": "2026-12-02T12:33:20Z"}   # the limits read these
    (tmp_path / "src.ipynb").write_text(nbformat.writes(src))
    (tmp_path / "sol.ipynb").write_text(nbformat.writes(sol))
    return tmp_path / "src.ipynb", tmp_path / "sol.ipynb"


def test_text_changed_added_and_removed_outputs_kept(tmp_path):
    src_path, sol_path = _pair(tmp_path, SCRIPT)
    new = script_to_notebook(SCRIPT.replace("# Old text.", "# New text.").replace("# %% [markdown]\n# More.\n\n", "")
                             + "\n# %% [markdown]\n# An added note.\n")
    src_path.write_text(nbformat.writes(new))
    assert refresh_text(src_path, sol_path) >= 2          # one changed, one removed, one added
    sol = nbformat.read(sol_path, as_version=4)
    assert [c.source for c in sol.cells] == ["New text.", "x = 1", "print(x)", "An added note."]
    assert [c.outputs[0].text for c in sol.cells if c.cell_type == "code"] == ["out of a", "out of b"]
    assert all(c.execution_count == 7 and c.metadata["execution"] for c in sol.cells if c.cell_type == "code")


@pytest.mark.parametrize("change", [
    lambda s: s.replace("x = 1", "x = 2"),                        # a code cell edited
    lambda s: s + "\n# %% id=c\ny = 3\n",                          # a code cell added
    lambda s: s.replace("# %% id=b\nprint(x)\n", ""),              # a code cell removed
])
def test_a_code_change_is_refused_and_nothing_written(tmp_path, change):
    src_path, sol_path = _pair(tmp_path, SCRIPT)
    before = sol_path.read_bytes()
    src_path.write_text(nbformat.writes(script_to_notebook(change(SCRIPT))))
    with pytest.raises(AuthoringError, match="make solutions"):
        refresh_text(src_path, sol_path)
    assert sol_path.read_bytes() == before
