"""Each notebook states its points, and they are what it grades (issue 16).

THE FORMAT of the points table (every source notebook, all assignments)
-----------------------------------------------------------------------
The FIRST markdown cell of the notebook (the header of ``source/<a>/<name>.src.py``)
holds a markdown table whose header row has a column named ``points``::

    | exercise | what | points |
    |---|---|---|
    | 1 | `correlate2d` with padding and stride | 5 |
    | 7 | a feature of your own design (graded by hand) | 3 + 2 |
    | | **total** | **12** |

* the column is found by its header, ``points`` (case-insensitive; ``**`` and backticks
  are ignored), so other columns may come and go;
* each exercise row's points cell is a number or a sum of numbers (``3 + 2``), bold or not;
* the LAST row is the total row: one of its other cells reads ``total`` (bold allowed) and
  its points cell is one number;
* the exercise rows add up to the total, and the total is what the notebook grades: the
  sum of ``points`` of its graded cells (nbgrader ``grade: true``: autograded test cells
  and cells graded by hand), which is the maximum score nbgrader's gradebook records for
  the notebook (checked by letting nbgrader's own ``SaveCells`` fill a scratch gradebook).

If the first markdown cell has several tables, the first one with a ``points`` column is
the points table.

Blank-but-one (slow, opt-in: ``PARCEL_BLANK_BUT_ONE=1``, about a minute per notebook run):
for each answer cell of 01 and 02, the solution notebook with that one answer left as the
student gets it (``raise NotImplementedError()`` in each solution region) runs to the end,
no ordinary cell fails (figures of an unfinished exercise say so), and exactly the test
cells of that exercise and of those its text says need it fail.
``PARCEL_BLANK_BUT_ONE=cell`` replaces the whole answer cell instead (the names it defines
are then missing).
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from parcel_course.authoring import script_to_notebook

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "source").glob("*/*.src.py"))


def _id(script):
    return f"{script.parent.name}/{script.name[:-len('.src.py')]}"


def _notebook(script):
    return script_to_notebook(script.read_text(), name=str(script))


def _clean(cell):
    return re.sub(r"[*`]", "", cell).strip()


def _number(text, where):
    text = _clean(text)
    parts = [p.strip() for p in text.split("+")]
    if not text or not all(re.fullmatch(r"\d+(\.\d+)?", p) for p in parts):
        raise AssertionError(f"{where}: the points cell {text!r} is not a number or a sum of numbers")
    return sum(float(p) for p in parts)


def points_table(markdown):
    """``(rows, total)`` of the first table with a ``points`` column: rows as ``(cells, points)``."""
    lines = markdown.splitlines() + [""]
    table, tables = [], []
    for line in lines:
        if line.strip().startswith("|"):
            row = line.strip()[1:]
            table.append([c.strip() for c in (row[:-1] if row.endswith("|") else row).split("|")])
        elif table:
            tables.append(table)
            table = []
    for table in tables:
        header = [_clean(c).lower() for c in table[0]]
        if "points" not in header:
            continue
        col = header.index("points")
        body = [r for r in table[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r if c)]
        assert body, "the points table has no rows"
        *rows, last = body
        assert any(_clean(c).lower() == "total" for i, c in enumerate(last) if i != col), \
            f"the last row of the points table should be the total row (a cell reading 'total'), got {last}"
        assert not any(_clean(c).lower() == "total" for r in rows for c in r), "only the last row may be a total"
        total = _number(last[col], "the total row")
        assert "+" not in last[col], "the total row's points cell should be one number"
        return [(r, _number(r[col], f"row {r}")) for r in rows], total
    raise AssertionError("no markdown table with a 'points' column")


def _header(nb):
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    assert first is not None, "the notebook has no markdown cell"
    return first.source


def graded_points(nb):
    return sum(float(c.metadata["nbgrader"]["points"]) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def test_the_table_parser_reads_the_format():
    rows, total = points_table("intro\n\n| exercise | what | **Points** |\n|---|---|---|\n| 1 | `f` | 2 |\n"
                               "| 2 | by hand | 3 + 2 |\n| | **total** | **7** |\n\nafter")
    assert [p for _, p in rows] == [2, 5] and total == 7
    with pytest.raises(AssertionError, match="total row"):
        points_table("| exercise | points |\n|---|---|\n| 1 | 2 |\n")
    with pytest.raises(AssertionError, match="no markdown table"):
        points_table("| a | b |\n|---|---|\n| 1 | 2 |\n")
    with pytest.raises(AssertionError, match="not a number"):
        points_table("| exercise | points |\n|---|---|\n| 1 | two |\n| total | 2 |\n")
    rows, total = points_table("| exercise | what | points |\n|--|--|--:|\n|| `f` | 4 |\n|| Total | 4 |")
    assert [r for r, _ in rows] == [["", "`f`", "4"]] and total == 4


@pytest.mark.parametrize("script", SCRIPTS, ids=_id)
def test_the_points_table_adds_up_to_what_the_notebook_grades(script):
    nb = _notebook(script)
    rows, total = points_table(_header(nb))
    assert sum(p for _, p in rows) == total, \
        f"{_id(script)}: the exercises of the points table add up to {sum(p for _, p in rows):g}, its total says {total:g}"
    assert graded_points(nb) == total, \
        f"{_id(script)}: the header says {total:g} points, the graded cells give {graded_points(nb):g}"


@pytest.mark.parametrize("script", SCRIPTS, ids=_id)
def test_the_gradebook_maximum_is_what_the_header_says(script, tmp_path, monkeypatch):
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveCells

    # nbgrader runs `alembic` when it creates a gradebook: the environment's bin/ on PATH, as `make` has it
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    nb = _notebook(script)
    _, total = points_table(_header(nb))
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assignment, name = script.parent.name, script.name[:-len(".src.py")]
    with Gradebook(url) as gb:
        gb.add_assignment(assignment)
    SaveCells().preprocess(nb, {"nbgrader": {"db_url": url, "assignment": assignment, "notebook": name}})
    with Gradebook(url) as gb:
        assert gb.find_notebook(name, assignment).max_score == total


# -- blank-but-one (opt-in) ---------------------------------------------------------------------

#: answer cell -> the test cells that fail when it is left blank: its own, and those of the exercises
#: whose text says they need it.
NEEDS = {
    "01_convolution/convolution": {
        "correlate2d": {"test_correlate2d_valid", "test_correlate2d_padding", "test_correlate2d_stride",
                        "test_convolve2d"},                                    # exercise 2 needs exercise 1
        "convolve2d": {"test_convolve2d"},
        "output_size": {"test_output_size"},
        "conv_layer": {"test_conv_layer"},
    },
    "01_convolution/cnn_building_blocks": {
        "conv_parameters": {"test_conv_parameters"},
        "receptive_field": {"test_receptive_field"},
        "vgg_comparison": {"test_vgg_comparison"},
        "activations": {"test_relu", "test_sigmoid", "test_tanh_identity"},
        "max_pool2d": {"test_max_pool2d"},
    },
    "02_parameters/parameters": {
        "conv2d_params": {"test_conv2d_params", "test_dense_params", "test_mlp_rgb"},   # exercise 4 needs 1
        "output_shapes": {"test_output_shapes"},
        "build_lenet5": {"test_lenet5_structure", "test_lenet5_counts"},
        "mlp_rgb": {"test_mlp_rgb"},
        "dense_share": {"test_dense_share"},
        "separable_params": {"test_separable_params"},
        "mult_adds": {"test_mult_adds"},
        "cost_ratio": {"test_cost_ratio"},
        "activation_count": {"test_activation_count"},
    },
}
BLANK = os.environ.get("PARCEL_BLANK_BUT_ONE", "")
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)


def blank(source, whole_cell=False):
    """An answer cell as the student gets it (each solution region a ``raise NotImplementedError()``)."""
    if whole_cell:
        return "raise NotImplementedError()"
    return SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source)


def test_blank_leaves_the_rest_of_the_cell():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\ny = 1"
    assert blank(src) == "def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = 1"


def _cases():
    for nb_id, answers in NEEDS.items():
        for answer in answers:
            yield pytest.param(nb_id, answer, id=f"{nb_id}:{answer}")


@pytest.mark.slow
@pytest.mark.skipif(not BLANK, reason="opt-in: PARCEL_BLANK_BUT_ONE=1 (stub) or =cell (whole cell); minutes")
@pytest.mark.parametrize("nb_id, answer", list(_cases()))
def test_blank_but_one(nb_id, answer, monkeypatch):
    from nbconvert.preprocessors import ExecutePreprocessor

    script = ROOT / "source" / f"{nb_id}.src.py"
    nb = _notebook(script)
    ids = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    assert set(NEEDS[nb_id]) == {g for g, c in ids.items() if c.metadata["nbgrader"].get("solution")}
    ids[answer].source = blank(ids[answer].source, whole_cell=BLANK == "cell")
    monkeypatch.setenv("PYTHONHASHSEED", "0")           # as nbval and the grader run them
    ExecutePreprocessor(timeout=600, allow_errors=True, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(script.parent)}})
    failed, broken = set(), []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code" or not any(o.output_type == "error" for o in c.outputs):
            continue
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            failed.add(meta["grade_id"])
        elif not (meta.get("solution") and NEEDS[nb_id][meta["grade_id"]] <= NEEDS[nb_id][answer]):
            # an answer cell may fail only where its exercise needs the blank one (and loses its tests with it)
            err = next(o for o in c.outputs if o.output_type == "error")
            broken.append(f"cell {i} ({meta.get('grade_id', 'ordinary')}): {err.ename}: {err.evalue[:120]}")
    assert not broken, f"with {answer} blank, cells that are not its tests fail: {broken}"
    assert failed == NEEDS[nb_id][answer], f"with {answer} blank: failed {sorted(failed)}"
