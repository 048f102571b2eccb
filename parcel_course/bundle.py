"""The student bundle: what an instructor hands out, and all a student needs.

A student never gets this repository (it holds ``source/``, with the hidden
tests, and ``solutions/``).  :func:`write_bundle` writes one folder, and a zip
of it::

    <out>/README.md                               how to install and open it: local Jupyter, Colab
    <out>/parcel_utils-<version>-py3-none-any.whl the student package (student/pyproject.toml)
    <out>/<assignment>/<name>.ipynb               the release notebooks (release/, made by nbgrader)
    <out>.zip                                     the same, in one file

``parcel-course bundle [--out DIR]`` and ``make bundle`` call it.

Example
-------
>>> from parcel_course.directory import Course
>>> paths = write_bundle(Course("."), "dist/bundle")     # doctest: +SKIP
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .directory import Course, CourseError

__all__ = ["build_student_wheel", "write_bundle", "student_readme", "STUDENT_PROJECT", "DEFAULT_OUT"]

#: The student distribution's project folder, inside the course directory.
STUDENT_PROJECT = "student"
#: Where ``parcel-course bundle`` writes without ``--out`` (ignored by git, like dist/).
DEFAULT_OUT = os.path.join("dist", "bundle")
# What nbgrader puts into the student version of a notebook only if something went wrong.
_ANSWER_MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")
_README_MARK = "<!-- parcel-course student bundle -->"
#: The size of a student's first install (``pip install <wheel> jupyterlab`` in a fresh venv), as
#: ``benchmarks/student_install.py`` measured it (``benchmarks/results/student_install.json``:
#: ``venv_bytes``, ``download_bytes``); tests/test_numbers_in_text.py keeps the two in step.
FIRST_INSTALL = ("about 2.8 GB on disk in `.venv`, about 770 MB to download (133 packages; TensorFlow "
                 "alone is 2.0 GB installed; measured on Linux with Python 3.11)")


def build_student_wheel(root: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Build the student wheel (``pip wheel --no-deps ./student``) into ``out_dir``; return its path.

    setuptools' ``build/`` folder is removed before and after, so that a module
    deleted from ``parcel_utils/`` cannot linger there and ship in the wheel.
    """
    project = Path(root).resolve() / STUDENT_PROJECT
    if not (project / "pyproject.toml").is_file():
        raise CourseError(f"{project} has no pyproject.toml: the student package is built from "
                          f"{STUDENT_PROJECT}/ of the course repository.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.rmtree(project / "build", ignore_errors=True)
        try:
            proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                                   "--wheel-dir", tmp, str(project)],
                                  capture_output=True, text=True)
        finally:
            shutil.rmtree(project / "build", ignore_errors=True)
        wheels = sorted(Path(tmp).glob("parcel_utils-*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise CourseError(f"pip could not build the student wheel from {project}:\n{tail}")
        target = out_dir / wheels[0].name
        shutil.copyfile(wheels[0], target)
    return target


def _readme_contents(wheel: str, listing: str) -> str:
    """What the bundle holds, and where the dataset comes from."""
    return f"""{_README_MARK}
# CNN course: the assignments

This folder is all you need for the assignments:

- `{wheel}`: the Python package the notebooks import (`parcel_utils`: the
  parcel depth-map dataset, the figures, a pretrained backbone, the visible
  tests). Installing it also installs TensorFlow, Keras, NumPy, SciPy,
  scikit-image, scikit-learn and Matplotlib where they are missing.
- the notebooks, one folder per assignment:

{listing}

Nothing downloads anything while you work: the dataset is generated on your
machine the first time a notebook asks for it (kept in `~/.cache/parcel-course`,
or in the folder that the environment variable `PARCEL_DATA_DIR` names).

"""


def _readme_python() -> str:
    """Getting Python 3.11-3.13 on macOS, Windows and Linux."""
    return """## On your own computer (Jupyter)

### Python 3.11, 3.12 or 3.13

Check in a terminal: `python3 --version` (Windows: `py --list`). You need
3.11, 3.12 or 3.13: TensorFlow publishes no packages for 3.14 or newer yet, so
`pip install` fails there with "No matching distribution found for
tensorflow". If yours is older, newer, or missing:

- **macOS.** The `python3` that Apple's Command Line Tools install is 3.9: too
  old. Either download the macOS installer of Python 3.12 or 3.13 from
  <https://www.python.org/downloads/macos/> and run it (it adds
  `python3.12` or `python3.13` to the terminal), or with Homebrew:
  `brew install python@3.12`. Then write `python3.12` where the commands
  below say `python3`. On an Intel Mac take 3.11 or 3.12: TensorFlow's last
  release for Intel Macs (2.16) has no packages for 3.13.
- **Windows.** Download the Windows installer of Python 3.12 or 3.13 from
  <https://www.python.org/downloads/windows/> and run it; it installs the
  Python launcher `py`. Then write `py -3.12` where the commands below say
  `python3` (for example `py -3.12 -m venv .venv`). A Windows without
  Python opens the Microsoft Store when you type `python` or `python3` (an
  "app execution alias"): the launcher `py` avoids it, and Settings > Apps >
  Advanced app settings > App execution aliases turns the aliases off.
- **Linux.** Your distribution's Python where it is 3.11-3.13 (Debian 12:
  3.11, Ubuntu 24.04: 3.12, Fedora: `sudo dnf install python3.12`); on
  Debian and Ubuntu also install the venv module:
  `sudo apt install python3-venv`. For another version: on Ubuntu the
  deadsnakes PPA (`sudo add-apt-repository ppa:deadsnakes/ppa`, then
  `sudo apt install python3.12 python3.12-venv`), anywhere pyenv
  (`pyenv install 3.12`), without root.

"""


def _readme_install(wheel: str) -> str:
    """Installing the wheel into a venv and starting JupyterLab."""
    return f"""### Install and start

In a terminal, in this folder (with your Python in place of `python3`):

```bash
python3 -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
pip install {wheel} jupyterlab
jupyter lab
```

then open an assignment's notebook in JupyterLab and run it from the top.
This installs TensorFlow, which runs on the CPU: enough for every assignment.
With an NVIDIA GPU on Linux, install `"{wheel}[gpu]"` instead (it adds
NVIDIA's CUDA libraries). VS Code works too: pick `.venv` as the kernel.

The first install is large: {FIRST_INSTALL}. Install once, into this one
`.venv`, for all four assignments.

Progress bars: generating the dataset and other long steps show a text
progress bar in the notebook. `pip install ipywidgets` turns it into a
graphical one; without it nothing is missing and nothing warns.

"""


def _readme_colab(wheel: str) -> str:
    """The Colab route: upload, the setup cell, what stays allowed."""
    return f"""## In Google Colab

1. Open the notebook: File > Upload notebook, and choose it from this folder.
2. Upload the wheel: in the Files panel (the folder icon on the left), Upload, and
   choose `{wheel}`.
3. Run the notebook's first cell (Setup). On Colab it installs the wheel you
   uploaded (it looks for it in `/content`, where the Files panel puts it);
   anywhere else it does nothing. It does what this line would do, which you
   may run instead:

   ```python
   !pip install -q /content/{wheel}
   ```

   Colab's own TensorFlow and Keras are kept as they are; pip adds only what
   is missing. Files uploaded to Colab are gone when its runtime is recycled:
   then upload the wheel again and rerun the setup cell. For 04_cnn, Runtime >
   Change runtime type > GPU makes the training faster (optional).

   Shell commands (`!pip ...`, `!ls`) and magics such as `%matplotlib inline`,
   `%time` and `%%time` are fine in the notebook you hand in.

"""


def _readme_handing_in() -> str:
    """Visible tests, hidden tests, and what to hand in."""
    return """## Working and handing in

Each exercise says what to write and is followed by a visible test: run it,
and fix your code until it passes. Hidden tests grade the exercise after you
hand it in. Keep the notebook's name and its cells (add cells if you like, but
do not delete or change the test cells), save it, and hand in the `.ipynb` file
as your instructor tells you.
"""


def student_readme(wheel: str, notebooks: list[str]) -> str:
    """The student README of a bundle: install the wheel, open a notebook (local Jupyter or Colab)."""
    listing = "\n".join(f"- `{nb}`" for nb in notebooks)
    return (_readme_contents(wheel, listing) + _readme_python() + _readme_install(wheel)
            + _readme_colab(wheel) + _readme_handing_in())


def _release_notebooks(course: Course) -> list[Path]:
    release = course.release
    notebooks = sorted(p for p in release.glob("*/*.ipynb")) if release.is_dir() else []
    if not notebooks:
        raise CourseError(f"{release} has no release notebooks: run `parcel-course generate` "
                          "(or `make release`) first; the bundle hands out the notebooks of release/.")
    for nb in notebooks:
        text = nb.read_text(encoding="utf-8")
        for marker in _ANSWER_MARKERS:
            if marker in text:
                raise CourseError(f"{nb.relative_to(course.root)} still holds {marker!r}: it is not a "
                                  "student version; run `parcel-course generate` to make release/ again.")
    return notebooks


def _prepare_out(out: Path) -> None:
    """An empty folder, or the previous bundle there (removed); refuse anything else."""
    if out.is_file():
        raise CourseError(f"--out {out} is a file; give a folder for the bundle.")
    if out.is_dir() and any(out.iterdir()):
        readme = out / "README.md"
        if not (readme.is_file() and readme.read_text(encoding="utf-8").startswith(_README_MARK)):
            raise CourseError(f"--out {out} is a folder that is not empty and holds no bundle; "
                              "give a new or empty folder.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def write_bundle(course: Course, out: str | os.PathLike | None = None, make_zip: bool = True) -> list[Path]:
    """Write the student bundle into ``out`` (default ``dist/bundle``); return the paths written.

    The wheel is built from ``student/``, the notebooks are copied from
    ``release/<assignment>/`` (with any other file nbgrader released beside
    them), and a README says how to install and open them. Refuses, with one
    sentence, when ``release/`` is missing or a release notebook still holds
    solutions or hidden tests; a previous bundle in ``out`` is replaced.
    """
    notebooks = _release_notebooks(course)
    out = Path(out) if out is not None else course.root / DEFAULT_OUT
    out = out.resolve()
    if out == course.root or course.root.is_relative_to(out) or (
            out.is_relative_to(course.root) and out.relative_to(course.root).parts[0] in
            {"source", "release", "solutions", "student", "parcel_utils", "parcel_course"}):
        raise CourseError(f"--out {out} would write into the course's own folders; give another folder.")
    _prepare_out(out)
    written = [build_student_wheel(course.root, out)]
    for assignment in sorted({nb.parent for nb in notebooks}):
        for src in sorted(assignment.rglob("*")):
            rel = src.relative_to(course.release)
            if not src.is_file() or any(part.startswith(".") for part in rel.parts):
                continue   # .ipynb_checkpoints and the like
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            written.append(dest)
    readme = out / "README.md"
    readme.write_text(student_readme(written[0].name,
                                     [nb.relative_to(course.release).as_posix() for nb in notebooks]),
                      encoding="utf-8")
    written.insert(1, readme)
    if make_zip:
        archive = out.with_name(out.name + ".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in written:
                zf.write(path, Path(out.name) / path.relative_to(out))
        written.append(archive)
    return written
