"""Build nbgrader source notebooks from plain-text "percent" scripts.

Instructors write each notebook as ``source/<assignment>/<name>.src.py``: a
Python file cut into cells by ``# %%`` header lines.  Text files diff and
review well; :func:`build_source` turns every script into the
``source/<assignment>/<name>.ipynb`` that nbgrader works on, with the nbgrader
cell metadata filled in.  ``make source`` runs it; a test checks that the
committed notebooks are current.

Cell headers
------------
``# %% [markdown]``
    Text.  Every following line loses its leading ``# `` (or ``#``).
``# %%`` or ``# %% code``
    Ordinary code the student runs but is not graded on.
``# %% solution id=NAME``
    An autograded answer cell: code between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION`` is replaced by a stub in the student version.
``# %% tests id=NAME points=N``
    An autograder test cell (locked).  Code between ``### BEGIN HIDDEN TESTS``
    and ``### END HIDDEN TESTS`` is removed from the student version.
``# %% manual id=NAME points=N`` / ``# %% [markdown] manual id=NAME points=N``
    An answer graded by hand (code or written text).
``# %% readonly id=NAME`` / ``# %% [markdown] readonly id=NAME``
    A cell the student may not change.

Any header may also carry ``tags=a,b``: ``nbval-check-output`` marks a code
cell whose output nbval compares (the output must be deterministic), and
``nbval-skip`` a cell nbval does not run.  ``include=NAME`` fills an empty code
cell with ``parcel_course/templates/NAME.py``, a cell every notebook shares
(``# %% readonly id=colab_setup include=colab_setup``: the Colab setup cell).

Example
-------
>>> text = '''# %% [markdown]
... # # Title
... # %% solution id=square
... def square(x):
...     ### BEGIN SOLUTION
...     return x * x
...     ### END SOLUTION
... # %% tests id=test_square points=1
... assert square(3) == 9
... '''
>>> nb = script_to_notebook(text)
>>> [c.cell_type for c in nb.cells]
['markdown', 'code', 'code']
>>> nb.cells[2].metadata["nbgrader"]["points"]
1
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from importlib.resources import files

import nbformat

HEADER = re.compile(r"^# %%(?P<rest>.*)$")
KINDS = {"code", "solution", "tests", "manual", "readonly"}

__all__ = ["script_to_notebook", "build_source", "AuthoringError"]


class AuthoringError(ValueError):
    """A source script that cannot be turned into a notebook."""


def _parse_header(rest: str, where: str) -> tuple[str, str, dict]:
    words = shlex.split(rest.strip())
    cell_type = "code"
    if words and words[0] == "[markdown]":
        cell_type = "markdown"
        words = words[1:]
    kind = "code"
    if words and "=" not in words[0]:
        kind = words.pop(0)
    if kind not in KINDS:
        raise AuthoringError(f"{where}: unknown cell kind {kind!r}; use one of {sorted(KINDS)}.")
    opts = {}
    for w in words:
        if "=" not in w:
            raise AuthoringError(f"{where}: expected key=value in the cell header, got {w!r}.")
        k, v = w.split("=", 1)
        opts[k] = v
    unknown = set(opts) - {"id", "points", "tags", "include"}
    if unknown:
        raise AuthoringError(f"{where}: unknown header keys {sorted(unknown)}; allowed: id, points, tags, include.")
    if kind != "code" and "id" not in opts:
        raise AuthoringError(f"{where}: a {kind!r} cell needs id=NAME (its nbgrader grade id).")
    if kind in {"tests", "manual"} and "points" not in opts:
        raise AuthoringError(f"{where}: a {kind!r} cell needs points=N.")
    if cell_type == "markdown" and kind in {"solution", "tests"}:
        raise AuthoringError(f"{where}: a markdown cell cannot be a {kind!r} cell.")
    return cell_type, kind, opts


def _nbgrader_meta(kind: str, opts: dict) -> dict | None:
    if kind == "code":
        return None
    flags = {
        "solution": (False, True, False),
        "tests": (True, False, True),
        "manual": (True, True, False),
        "readonly": (False, False, True),
    }[kind]
    grade, solution, locked = flags
    meta = {"grade": grade, "grade_id": opts["id"], "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}
    if grade:
        p = float(opts["points"])
        meta["points"] = int(p) if p.is_integer() else p
    return meta


def _included(snippet: str, lines: list, where: str) -> str:
    """The code of ``parcel_course/templates/<snippet>.py``, for a cell whose script body is empty."""
    if lines:
        raise AuthoringError(f"{where}: a cell with include={snippet} takes its code from the snippet; "
                             "leave its body empty.")
    path = files("parcel_course") / "templates" / f"{snippet}.py"
    if not path.is_file():
        raise AuthoringError(f"{where}: no snippet {snippet!r} (parcel_course/templates/{snippet}.py).")
    return path.read_text(encoding="utf-8").rstrip("\n")


def script_to_notebook(text: str, name: str = "<script>") -> nbformat.NotebookNode:
    """Turn the text of a ``.src.py`` script into an nbformat v4 notebook.

    Parameters
    ----------
    text : str
        The script.  Lines before the first ``# %%`` header are ignored
        (use them for a module docstring or comments to authors).
    name : str
        Used in error messages.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    cells: list[tuple[str, str, dict, list[str], int]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = HEADER.match(line)
        if m:
            cells.append((*_parse_header(m.group("rest"), f"{name}:{lineno}"), [], lineno))
        elif cells:
            cells[-1][3].append(line)
    seen = set()
    for i, (cell_type, kind, opts, lines, lineno) in enumerate(cells):
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if cell_type == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", l) if l.startswith("#") else l for l in lines)
            cell = nbformat.v4.new_markdown_cell(body)
        elif "include" in opts:
            cell = nbformat.v4.new_code_cell(_included(opts["include"], lines, f"{name}:{lineno}"))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        meta = _nbgrader_meta(kind, opts)
        if meta:
            if meta["grade_id"] in seen:
                raise AuthoringError(f"{name}:{lineno}: grade id {meta['grade_id']!r} is used twice.")
            seen.add(meta["grade_id"])
            cell.metadata["nbgrader"] = meta
        if "tags" in opts:
            cell.metadata["tags"] = [t for t in opts["tags"].split(",") if t]
        cell.id = opts.get("id", f"cell-{i:03d}").replace("_", "-")
        nb.cells.append(cell)
    return nb


def build_source(source_dir: str | Path = "source", out_dir: str | Path | None = None) -> list[Path]:
    """Write ``<name>.ipynb`` beside (or under ``out_dir``) every ``<name>.src.py``.

    Returns the notebooks written.  ``out_dir`` keeps the assignment folders,
    which lets a test build into a temporary directory and compare.
    """
    source_dir = Path(source_dir)
    written = []
    for script in sorted(source_dir.glob("*/*.src.py")):
        nb = script_to_notebook(script.read_text(), name=str(script))
        target_dir = script.parent if out_dir is None else Path(out_dir) / script.parent.name
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / (script.name[: -len(".src.py")] + ".ipynb")
        nbformat.validate(nb)
        target.write_text(nbformat.writes(nb) + "\n")
        written.append(target)
    return written


SOLUTION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def solution_text(source: str) -> str:
    """The source cell as a student who solved it would write it (markers removed)."""
    return SOLUTION.sub(lambda m: m.group(1), source).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")


def refresh_text(source_nb: str | Path, solution_nb: str | Path) -> int:
    r"""Give an executed solution the text cells of its source notebook, when no code changed.

    ``make solutions`` executes a notebook to change its outputs; a change of
    its markdown alone (a sentence, a corrected number quoted from an output)
    changes no output, and 04 takes minutes to execute.  This takes every cell
    of ``source_nb`` (text cells added, changed or removed), with the outputs
    and execution counts of the code cells of ``solution_nb``, matched in
    order, which must hold the same code.  Raises :class:`AuthoringError`,
    writing nothing, when a code cell is new, removed or changed: execute it
    then.  Returns how many text cells changed (a count by position: an
    inserted cell counts the cells after it).

    Example
    -------
    >>> import tempfile, nbformat
    >>> d = Path(tempfile.mkdtemp())
    >>> src = script_to_notebook("# %% [markdown]\n# Old.\n\n# %%\nx = 1\n")
    >>> sol = nbformat.from_dict(src); sol.cells[1].outputs = [nbformat.v4.new_output("stream", text="1")]
    >>> _ = (d / "sol.ipynb").write_text(nbformat.writes(sol))
    >>> src.cells[0].source = "New."; _ = (d / "src.ipynb").write_text(nbformat.writes(src))
    >>> refresh_text(d / "src.ipynb", d / "sol.ipynb")
    1
    >>> [c.source for c in nbformat.read(d / "sol.ipynb", 4).cells], nbformat.read(d / "sol.ipynb", 4).cells[1].outputs[0].text
    (['New.', 'x = 1'], '1')
    """
    src, sol = nbformat.read(source_nb, as_version=4), nbformat.read(solution_nb, as_version=4)
    src_code = [c for c in src.cells if c.cell_type == "code"]
    executed = [c for c in sol.cells if c.cell_type == "code"]
    # code cells are matched in order and must be the same code (text cells may shift their ids)
    changed = [f"code cell {i + 1}" for i, (a, b) in enumerate(zip(src_code, executed)) if a.source != b.source]
    if len(src_code) != len(executed):
        changed.append(f"{len(src_code)} code cells against {len(executed)} executed")
    if changed:
        raise AuthoringError(f"{solution_nb}: code changed ({', '.join(changed)[:300]}): execute the "
                             "solutions (make solutions), a text refresh cannot give them outputs.")
    before = [c.source for c in sol.cells if c.cell_type != "code"]
    after = [c.source for c in src.cells if c.cell_type != "code"]
    n = sum(1 for a, b in zip(before, after) if a != b) + abs(len(before) - len(after))
    runs = iter(executed)
    cells = []
    for c in src.cells:
        if c.cell_type == "code":
            ran = next(runs)          # its outputs and its metadata (the execution timings the limits read)
            ran.id = c.id
            c = ran
        cells.append(c)
    sol.cells = cells
    nbformat.validate(sol)
    Path(solution_nb).write_text(nbformat.writes(sol) + "\n")
    return n
