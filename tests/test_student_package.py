"""The student distribution: its wheel, what pip does with it, and the notebooks in a venv that has only it.

Students get the bundle (``parcel-course bundle``): the wheel built from
``student/pyproject.toml`` and the release notebooks, never this repository.

Fast:
- the wheel holds ``parcel_utils`` and nothing else (no instructor package, no
  ``source/`` or ``solutions/``, no stale module), with its data; its size;
- its requirements are a notebook's (no nbgrader, JupyterLab, Dask,
  ``tensorflow-cpu``), and the two distributions agree on their version;
- pip's own report (``pip install --dry-run --report``) in this venv, which has
  TensorFlow and Keras installed as Colab has: it would install neither.

Slow:
- the same report in a venv holding the TensorFlow and Keras versions of an
  older Colab image (metadata-only stand-ins: pip decides from metadata alone);
- a fresh venv (``python -m venv``, nothing else) installs the wheel from the
  package index (timed), imports ``parcel_utils`` and cannot import
  ``parcel_course``; each solution notebook, with its hidden tests stripped by
  nbgrader's ``ClearHiddenTests`` and its solutions kept, runs top to bottom in
  a kernel of that venv, every visible test passing (timed). 04_cnn trains
  networks for minutes: set ``PARCEL_TEST_HEAVY=1`` to include it.

The helpers :func:`student_notebook`, :func:`make_student_venv` and
:func:`execute_notebook` are meant to be reused.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT_PACKAGE = ROOT / "parcel_utils"
LIGHT = ("01_convolution", "02_parameters", "03_handcrafted")
HEAVY = ("04_cnn",)
KERNEL_NAME = "parcel-student"
#: What the student wheel must never ask for: the instructor's tools, and a second TensorFlow.
NOT_FOR_STUDENTS = {"parcel-course", "nbgrader", "jupyterlab", "notebook", "distributed", "dask",
                    "tensorflow-cpu", "tensorflow-intel", "tf-keras", "nbval", "pytest"}
#: A notebook's needs (the wheel asks for these).
NOTEBOOK_NEEDS = {"tensorflow", "keras", "numpy", "scipy", "scikit-image", "scikit-learn", "matplotlib",
                  "tqdm", "ipython", "ipykernel"}
TF_DISTRIBUTIONS = {"tensorflow", "tensorflow-cpu", "tensorflow-intel", "keras", "tf-keras"}
#: Colab's preinstalled TensorFlow and Keras in early 2025 (2.19.0 and 3.10.0 later): the oldest a
#: student meets there. The wheel must leave them as they are.
COLAB_VERSIONS = {"tensorflow": "2.18.0", "keras": "3.8.0"}
MAX_WHEEL_MB = 10


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(cmd, timeout=1200, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc


def _clean_env(**extra) -> dict:
    """The environment of a student's process: nothing of this checkout on its paths."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JUPYTER_PATH", "PYTHONSTARTUP"}}
    env.update({"PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    env.update(extra)
    return env


# -- reusable helpers -------------------------------------------------------------------------------

def student_notebook(src: Path):
    """The solution notebook as a student who solved every exercise has it: hidden tests removed.

    Built from ``source/<assignment>/<name>.src.py`` (so it does not depend on
    the committed ``.ipynb`` being current), then nbgrader's own
    ``ClearHiddenTests`` preprocessor, as ``nbgrader generate_assignment``
    applies it; the solutions are kept.
    """
    from nbgrader.preprocessors import ClearHiddenTests
    from parcel_course.authoring import script_to_notebook

    nb = script_to_notebook(Path(src).read_text(encoding="utf-8"))
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    for cell in nb.cells:
        assert "HIDDEN TESTS" not in cell.source, f"{src}: a hidden test is left in a cell"
    return nb


def make_student_venv(path: Path, wheel: Path) -> dict:
    """A fresh venv with only ``wheel`` installed (from the package index), and a kernel of it registered.

    Returns ``python`` (the venv's interpreter), ``jupyter_path`` (for
    ``JUPYTER_PATH``: the venv's ``share/jupyter``, where the kernel
    ``parcel-student`` is), ``install_s`` (seconds ``pip install <wheel>``
    took) and ``size_mb`` (the venv on disk).
    """
    path = Path(path)
    env = _clean_env()
    _run([sys.executable, "-m", "venv", path], env=env)
    python = path / "bin" / "python"
    t0 = time.perf_counter()
    _run([python, "-m", "pip", "install", "--quiet", wheel], env=env, cwd=path)
    install_s = time.perf_counter() - t0
    # what a student's JupyterLab does for the venv it runs in; here the kernel is found through JUPYTER_PATH
    _run([python, "-m", "ipykernel", "install", "--prefix", path, "--name", KERNEL_NAME,
          "--display-name", "parcel course (student venv)"], env=env, cwd=path)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return {"python": python, "jupyter_path": path / "share" / "jupyter", "install_s": install_s,
            "size_mb": size / 2**20}


def execute_notebook(nb, workdir: Path, jupyter_path: Path, kernel_name: str = KERNEL_NAME,
                     timeout: int = 900, env: dict | None = None) -> float:
    """Run ``nb`` top to bottom in ``workdir`` with the kernel ``kernel_name`` found on ``jupyter_path``.

    Raises nbclient's ``CellExecutionError`` (the cell and its traceback) when a
    cell fails; returns the seconds it took. The kernel starts with
    :func:`_clean_env` (``env`` added), so that nothing of this checkout is on
    its paths.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    ksm = KernelSpecManager(kernel_dirs=[str(Path(jupyter_path) / "kernels")])
    km = KernelManager(kernel_name=kernel_name, kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    client.execute(env=_clean_env(**(env or {})), cwd=str(workdir))
    return time.perf_counter() - t0


# -- the wheel ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_wheel(tmp_path_factory):
    from parcel_course.bundle import build_student_wheel
    return build_student_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


def _requirements(wheel: Path) -> dict:
    """``{name: requirement}`` of the wheel's dependencies (extras left out)."""
    from packaging.requirements import Requirement
    reqs = [Requirement(r) for r in _metadata(wheel).get_all("Requires-Dist") or []]
    return {_canon(r.name): r for r in reqs if not (r.marker and "extra" in str(r.marker))}


def test_wheel_holds_the_student_package_only(student_wheel):
    with zipfile.ZipFile(student_wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"parcel_utils", student_wheel.name.split("-py3")[0] + ".dist-info"}, tops
    # every module of the package, and no other (a stale copy of a module that left it would ship)
    shipped = {n[len("parcel_utils/"):] for n in names if n.startswith("parcel_utils/")}
    modules = {p.relative_to(STUDENT_PACKAGE).as_posix() for p in STUDENT_PACKAGE.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {n for n in shipped if n.endswith(".py")} == modules
    # its data: the backbone's weights and card, the metrics and feature files the notebooks read
    data = {p.relative_to(STUDENT_PACKAGE).as_posix() for pattern in ("*.json", "*.npz", "*.md", "weights/*")
            for p in STUDENT_PACKAGE.glob(pattern) if p.is_file()}
    assert data <= shipped, f"package data missing from the wheel: {sorted(data - shipped)}"
    assert any(n.startswith("weights/") and n.endswith(".h5") for n in shipped)
    for forbidden in ("parcel_course", "source/", "solutions/", "release/", "tests/", "hidden_inputs",
                      "parcel_utils/convolution.py", "parcel_utils/features.py", "parcel_utils/models.py"):
        assert not any(forbidden in n for n in names), f"{forbidden} in the student wheel"
    size_mb = student_wheel.stat().st_size / 2**20
    print(f"\nstudent wheel {student_wheel.name}: {size_mb:.2f} MiB, {len(names)} files")
    assert size_mb < MAX_WHEEL_MB


def test_wheel_asks_for_what_a_notebook_needs_only(student_wheel):
    reqs = _requirements(student_wheel)
    assert NOTEBOOK_NEEDS <= set(reqs), f"missing: {sorted(NOTEBOOK_NEEDS - set(reqs))}"
    assert not (set(reqs) & NOT_FOR_STUDENTS), sorted(set(reqs) & NOT_FOR_STUDENTS)
    for name, version in COLAB_VERSIONS.items():   # lower bounds only, which Colab's versions meet
        assert reqs[name].specifier.contains(version), f"{reqs[name]} excludes Colab's {name} {version}"
        assert not any(s.operator in {"<", "<=", "==", "~=", "==="} for s in reqs[name].specifier), reqs[name]


def test_the_two_distributions_agree():
    import parcel_utils
    student = tomllib.loads((ROOT / "student" / "pyproject.toml").read_text())["project"]
    instructor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert student["name"] == "parcel-utils" and instructor["name"] == "parcel-course"
    assert student["version"] == instructor["version"] == parcel_utils.__version__
    assert f"parcel-utils=={student['version']}" in instructor["dependencies"]
    # the instructor's distribution ships its own package only; the student package comes from student/
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["parcel_course*"]


def _dry_run(python: Path, wheel: Path, tmp_path: Path, **kw) -> list[tuple[str, str]]:
    """pip's own report of what ``pip install <wheel>`` would install with ``python``: [(name, version)]."""
    report = tmp_path / "report.json"
    _run([python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", report, wheel], **kw)
    return [(_canon(i["metadata"]["name"]), i["metadata"]["version"])
            for i in json.loads(report.read_text())["install"]]


def test_a_venv_with_tensorflow_and_keras_installs_neither(student_wheel, tmp_path):
    """This venv has TensorFlow and Keras (as Colab has): pip's report names neither, nor tensorflow-cpu."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        have = {name: version(name) for name in ("tensorflow", "keras")}
    except PackageNotFoundError as exc:
        pytest.fail(f"this venv should hold TensorFlow and Keras (make install): {exc}")
    installs = _dry_run(Path(sys.executable), student_wheel, tmp_path, cwd=tmp_path)
    print(f"\nwith {have} installed, pip would install: {installs}")
    assert not {n for n, _ in installs} & TF_DISTRIBUTIONS
    assert {n for n, _ in installs} <= {"parcel-utils"}   # everything else is here already


# -- the bundle ------------------------------------------------------------------------------------

def test_bundle_writes_the_wheel_the_release_notebooks_and_a_readme(tmp_path, capsys):
    from parcel_course.cli import main
    out = tmp_path / "bundle"
    assert main(["--root", str(ROOT), "bundle", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    wheels = list(out.glob("parcel_utils-*-py3-none-any.whl"))
    assert len(wheels) == 1 and wheels[0].name in printed
    release = sorted(p.relative_to(ROOT / "release") for p in (ROOT / "release").glob("*/*.ipynb"))
    assert release and sorted(p.relative_to(out) for p in out.glob("*/*.ipynb")) == release
    readme = (out / "README.md").read_text()
    assert f"pip install {wheels[0].name}" in readme and "Colab" in readme
    assert "git+" not in readme
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        names = set(zf.namelist())
    assert {f"bundle/{p.as_posix()}" for p in release} | {"bundle/README.md", f"bundle/{wheels[0].name}"} == names
    assert not any(part in n for n in names for part in ("source/", "solutions/", "parcel_course", ".src.py"))
    # a second run replaces the bundle; a folder that holds something else is refused
    assert main(["--root", str(ROOT), "bundle", "--out", str(out), "--no-zip"]) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["--root", str(ROOT), "bundle", "--out", str(tmp_path / "other")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def _course_dir(tmp_path, notebook_text=None):
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    if notebook_text is not None:
        (root / "release" / "01_x").mkdir(parents=True)
        (root / "release" / "01_x" / "x.ipynb").write_text(notebook_text)
    return root


def test_bundle_refuses_without_release(tmp_path, capsys):
    from parcel_course.cli import main
    assert main(["--root", str(_course_dir(tmp_path)), "bundle", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "release" in err and "parcel-course generate" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_bundle_refuses_a_release_notebook_with_solutions(tmp_path, capsys):
    from parcel_course.cli import main
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION")])
    root = _course_dir(tmp_path, nbformat.writes(nb))
    assert main(["--root", str(root), "bundle", "--out", str(tmp_path / "b")]) == 2
    assert "BEGIN SOLUTION" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


# -- slow: other venvs -------------------------------------------------------------------------------

def _stub_wheel(folder: Path, name: str, version: str) -> Path:
    """A wheel of ``name==version`` holding metadata only: in pip's eyes, that distribution installed."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: stub\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
    return path


@pytest.mark.slow
def test_colab_tensorflow_and_keras_versions_are_kept(student_wheel, tmp_path):
    """pip keeps an older Colab image's TensorFlow and Keras (both stand-ins: pip decides from metadata)."""
    env = _clean_env()
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", venv], env=env)
    python = venv / "bin" / "python"
    stubs = [_stub_wheel(tmp_path, n, v) for n, v in COLAB_VERSIONS.items()]
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", *stubs], env=env)
    installs = _dry_run(python, student_wheel, tmp_path, env=env, cwd=tmp_path)
    print(f"\nwith {COLAB_VERSIONS} installed, pip would install: {installs}")
    assert not {n for n, _ in installs} & TF_DISTRIBUTIONS
    assert ("parcel-utils", "0.1.0") in installs


@pytest.fixture(scope="module")
def student_venv(student_wheel, tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "venv"
    venv = make_student_venv(path, student_wheel)
    print(f"\nfresh venv: pip install {student_wheel.name} took {venv['install_s']:.0f} s, "
          f"the venv holds {venv['size_mb']:.0f} MiB")
    venv["data_dir"] = tmp_path_factory.mktemp("parcel-data")   # the dataset is generated afresh, as a student's
    yield venv
    shutil.rmtree(path, ignore_errors=True)   # 2-3 GB (TensorFlow); pytest keeps its last three temporary folders


@pytest.mark.slow
def test_fresh_venv_has_the_student_package_and_not_the_instructors(student_venv, tmp_path):
    code = ("import importlib.util, parcel_utils, keras, tensorflow as tf\n"
            "print(parcel_utils.__file__)\n"
            "print(keras.backend.backend(), tf.__version__)\n"
            "print([m for m in ('parcel_course', 'nbgrader', 'jupyterlab', 'distributed')"
            " if importlib.util.find_spec(m) is not None])\n")
    out = _run([student_venv["python"], "-c", code], env=_clean_env(), cwd=tmp_path).stdout.splitlines()
    assert Path(out[0]).is_relative_to(student_venv["python"].parents[1]), out[0]   # the wheel's, not the checkout's
    assert out[1].startswith("tensorflow ")
    assert out[2] == "[]", f"instructor-side packages in the student venv: {out[2]}"
    proc = subprocess.run([str(student_venv["python"]), "-c", "import parcel_course"], capture_output=True,
                          text=True, env=_clean_env(), cwd=tmp_path)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def _solution_notebooks():
    heavy = os.environ.get("PARCEL_TEST_HEAVY") == "1"
    params = []
    for src in sorted(ROOT.glob("source/*/*.src.py")):
        assignment = src.parent.name
        marks = [pytest.mark.slow]
        if assignment in HEAVY and not heavy:
            marks.append(pytest.mark.skip(reason=f"{assignment} trains networks for minutes: PARCEL_TEST_HEAVY=1"))
        params.append(pytest.param(src, id=f"{assignment}/{src.name[:-len('.src.py')]}", marks=marks))
    return params


CHECK_CELL = """\
# added by tests/test_student_package.py: this kernel is the student venv's, without the instructor's package
import importlib.util, sys, parcel_utils
assert importlib.util.find_spec("parcel_course") is None, "parcel_course is importable in the student kernel"
assert sys.prefix == {prefix!r}, sys.prefix
assert parcel_utils.__file__.startswith({prefix!r}), parcel_utils.__file__
"""


@pytest.mark.parametrize("src", _solution_notebooks())
def test_solution_notebook_runs_in_the_student_venv(src, student_venv, tmp_path):
    nb = student_notebook(src)
    prefix = str(student_venv["python"].parents[1])
    nb.cells.insert(0, nbformat.v4.new_code_cell(CHECK_CELL.format(prefix=prefix)))
    for extra in src.parent.iterdir():   # anything a notebook reads beside it (none today)
        if extra.is_file() and extra.suffix not in {".py", ".ipynb"}:
            shutil.copy(extra, tmp_path)
    seconds = execute_notebook(nb, tmp_path, student_venv["jupyter_path"],
                               env={"PARCEL_DATA_DIR": str(student_venv["data_dir"])})
    nbformat.write(nb, tmp_path / "executed.ipynb")   # outputs in, to look at
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a code cell did not run"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    tests = sum(1 for c in code if c.metadata.get("nbgrader", {}).get("grade"))
    print(f"\n{src.parent.name}/{src.name}: {len(code)} code cells, {tests} test cells, "
          f"ran in the student venv in {seconds:.0f} s")
