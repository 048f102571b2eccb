"""Colab as a first-class route (issue 25).

- what a student writes while working, on Colab above all (shell escapes, ``%pip``, ``%matplotlib``,
  ``%time``, ``%%time``), raises no flag in the static scan; what touches IPython's hooks still does,
  and code run by ``%time`` is scanned as code;
- every release notebook opens with the setup cell, which installs the student wheel on Colab (Colab
  faked: a fake ``google.colab`` module, the installer replaced) and does nothing elsewhere;
- end to end (slow): a 01_convolution submission with the setup cell, ``%matplotlib inline`` and
  ``%time`` in answer cells and the reference answers gets full marks and no flag through
  ``parcel-course grade`` and through plain ``nbgrader autograde``.
"""
import io
import json
import os
import subprocess
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from parcel_course.scan import scan_cell, scan_notebook, instructor_cell_digests

ROOT = Path(__file__).resolve().parents[1]

# -- the scan ---------------------------------------------------------------------------------

WORKING = [
    "!pip install -q /content/parcel_utils-0.1.0-py3-none-any.whl",
    "!ls",
    "files = !ls",
    "%pip install -q tqdm ipywidgets",
    "%matplotlib inline",
    "%time maps = correlate2d(x, k)",
    "%timeit -n 3 -r 2 correlate2d(x, k)",
    "%%time\nout = correlate2d(x, k)\nprint(out.shape)",
    "%%timeit -n1 k = np.ones((3, 3))\ncorrelate2d(x, k)",
    "%config InlineBackend.figure_format = 'retina'",
    "correlate2d?",
    "%load_ext tensorboard",
    "if True:\n    %time y = 1\n    !nvidia-smi",
]


@pytest.mark.parametrize("source", WORKING)
def test_shell_escapes_and_common_magics_are_not_flagged(source):
    assert scan_cell(source, {"np": "numpy"}, {}) == []


HOOKED = {
    # the shell object bound, or its hooks touched: flagged as before
    "ip = get_ipython()\nip.input_transformers_post.append(lambda lines: lines)": "input transformer",
    "get_ipython().events.register('post_run_cell', print)": "event callback",
    "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)": "set_custom_exc",
    "get_ipython().displayhook.compute_format_data = lambda r: ({}, {})": "display hook",
    "ip = get_ipython()\nip.run_line_magic('time', 'x = 1')": "get_ipython",
    # code that %time / %%time / %timeit run is scanned as the cell itself
    "%time get_ipython().set_custom_exc((Exception,), None)": "set_custom_exc",
    "%%time\nimport os\nos._exit(0)": "os._exit",
    "%%timeit -n1 import builtins\nbuiltins.AssertionError = Warning": "builtins",
    "%time %time %time %time x = 1": "too deep",
    # magics that run unseen code, write modules or change the shell
    "%load_ext autoreload": "%load_ext",
    "%load_ext my_hooks": "%load_ext",
    "%run helper.py": "%run",
    "%%writefile numpy.py\nallclose = lambda *a, **k: True": "%%writefile",
    "%config InteractiveShell.ast_node_interactivity = 'all'": "%config",
    # shell commands that reach the kernel, read the course or change what the tests import
    "!kill -9 $PPID": "other processes",
    "!cat ../../gradebook.db": "course file",
    "!pip uninstall -y numpy": "installed packages",
    "%pip install --force-reinstall ./numpy-0.0.whl": "installed packages",
    "!{command}": "built when it runs",
    # the Python APIs for processes stay flagged (their command is usually built at run time)
    "import os\nos.system('ls')": "os.system",
}


@pytest.mark.parametrize("source, why", list(HOOKED.items()))
def test_what_touches_ipythons_hooks_is_still_flagged(source, why):
    reasons = scan_cell(source, {"os": "os"}, {})
    assert any(why in r for r in reasons), reasons


def test_code_run_by_time_is_checked_against_the_tests_names():
    protected = {"check_close": "parcel_utils.checks.check_close"}
    assert scan_cell("%time check_close = lambda *a, **k: None", {}, protected) == \
        ["rebinds 'check_close', which the tests call"]


# -- the setup cell ---------------------------------------------------------------------------

def _release_notebooks():
    return sorted((ROOT / "release").glob("*/*.ipynb"))


def _setup_cell(path):
    return nbformat.read(path, as_version=4).cells[0]


def test_every_release_notebook_opens_with_the_same_setup_cell():
    notebooks = _release_notebooks()
    assert len(notebooks) >= 5, notebooks
    cells = {p.relative_to(ROOT).as_posix(): _setup_cell(p) for p in notebooks}
    first = next(iter(cells.values()))
    for name, cell in cells.items():
        assert cell.cell_type == "code", name
        assert cell.metadata.get("nbgrader", {}).get("grade_id") == "colab_setup", name
        assert cell.metadata["nbgrader"].get("locked") and not cell.metadata["nbgrader"].get("grade"), name
        assert cell.source == first.source, f"{name}: the setup cell differs from the others'"
    assert "google.colab" in first.source and "pip" in first.source
    # the solutions (executed) and the source notebooks hold it too, and its output off Colab: none
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "source").glob("*/*.ipynb")):
        cell = _setup_cell(path)
        assert cell.source == first.source, path
        assert cell.get("outputs", []) == [], path


def _run_setup(source, cwd):
    """Execute the setup cell's code in a fresh namespace; (what it printed, the commands it ran)."""
    ran = []

    def fake_run(cmd, *args, **kwargs):
        ran.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)

    out = io.StringIO()
    old = os.getcwd()
    real_run = subprocess.run
    os.chdir(cwd)
    subprocess.run = fake_run        # the installer, faked: nothing is installed
    try:
        with redirect_stdout(out):
            exec(compile(source, "<setup cell>", "exec"), {"__name__": "__main__"})
    finally:
        subprocess.run = real_run
        os.chdir(old)
    return out.getvalue(), ran


@pytest.fixture
def setup_source():
    return _setup_cell(_release_notebooks()[0]).source


def test_setup_cell_does_nothing_off_colab(setup_source, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    for var in [v for v in os.environ if v.startswith("COLAB_")]:
        monkeypatch.delenv(var)
    (tmp_path / "parcel_utils-0.1.0-py3-none-any.whl").write_bytes(b"not installed here")
    printed, ran = _run_setup(setup_source, tmp_path)
    assert ran == []
    assert len(printed.splitlines()) <= 1, printed


def test_setup_cell_installs_the_uploaded_wheel_on_colab(setup_source, tmp_path, monkeypatch):
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    wheel = tmp_path / "parcel_utils-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"uploaded")
    printed, ran = _run_setup(setup_source, tmp_path)
    assert len(ran) == 1, ran
    cmd = ran[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"], cmd
    assert os.path.samefile(cmd[-1], wheel), cmd
    assert "parcel_utils" in printed, printed

    # no wheel uploaded yet: nothing runs, and one line says what to do
    wheel.unlink()
    printed, ran = _run_setup(setup_source, tmp_path)
    assert ran == []
    assert "Upload" in printed and "parcel_utils" in printed, printed


def test_setup_cell_is_detected_by_colabs_environment_too(setup_source, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00")
    (tmp_path / "parcel_utils-0.1.0-py3-none-any.whl").write_bytes(b"uploaded")
    _, ran = _run_setup(setup_source, tmp_path)
    assert len(ran) == 1 and ran[0][-1].endswith("parcel_utils-0.1.0-py3-none-any.whl"), ran


def test_the_setup_cell_raises_no_flag_in_a_submission():
    """As released, and copied by the student into a cell of its own (no nbgrader metadata): no flag."""
    src = ROOT / "source" / "01_convolution" / "convolution.ipynb"
    restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(src, as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("locked")}
    assert "colab_setup" in restored
    nb = nbformat.read(ROOT / "release" / "01_convolution" / "convolution.ipynb", as_version=4)
    assert scan_notebook(nb, "convolution", instructor_cell_digests(src), restored) == []
    nb.cells[0].metadata = {}
    assert scan_notebook(nb, "convolution", instructor_cell_digests(src), restored) == []


def test_the_student_readme_points_colab_students_at_the_setup_cell():
    from parcel_course.bundle import student_readme
    import tomllib
    version = tomllib.loads((ROOT / "student" / "pyproject.toml").read_text())["project"]["version"]
    wheel = f"parcel_utils-{version}-py3-none-any.whl"
    readme = student_readme(wheel, ["01_convolution/convolution.ipynb"])
    colab = readme.split("## In Google Colab", 1)[1].split("\n## ", 1)[0]
    assert "first cell" in colab and "Setup" in colab and "/content" in colab, colab
    assert f"!pip install -q /content/{wheel}" in colab
    assert "%matplotlib inline" in colab
    # the wheel the bundle hands out is the one the setup cell looks for
    import fnmatch
    source = _setup_cell(_release_notebooks()[0]).source
    assert '"/content/parcel_utils-*.whl"' in source and fnmatch.fnmatch(wheel, "parcel_utils-*.whl")


# -- end to end (slow): both grading paths --------------------------------------------------------

SETUP_OUTPUT = nbformat.v4.new_output("stream", name="stdout", text=(
    "parcel_utils is installed (from /content/parcel_utils-0.1.0-py3-none-any.whl).\n"))


def _colab_student(course, student):
    """A Colab student: reference answers, the setup cell run on Colab, magics and shell escapes in answer cells."""
    from test_integrity import A, BB, CONV, _reference
    d = _reference(course, student)
    for name in (CONV, BB):
        path = d / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].metadata["nbgrader"]["grade_id"] == "colab_setup"
        nb.cells[0].outputs = [SETUP_OUTPUT]
        nb.cells[0].execution_count = 1
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid == "correlate2d":
                c.source = ("%matplotlib inline\n" + c.source +
                            "\n\n%time _ = correlate2d(np.ones((6, 6)), np.ones((3, 3)))")
            elif gid == "output_size":
                c.source += "\n\n!ls\n%timeit -n 2 -r 1 output_size(28, 3)"
            elif gid == "conv_parameters":
                c.source = "%%time\n" + c.source
        # a cell of the student's own, as the README's old instruction had them add
        nb.cells.insert(1, nbformat.v4.new_code_cell(f"!pip install -q /content/parcel_utils-0.1.0-py3-none-any.whl"))
        nbformat.write(nb, path)
    return d


def _control_student(course, student):
    """A magic that changes the shell's configuration: flagged (so that 'no flag' above means something)."""
    from test_integrity import BB, _answer, _reference
    d = _reference(course, student, notebooks=(BB,))
    nb = nbformat.read(d / f"{BB}.ipynb", as_version=4)
    src = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_parameters")
    _answer(d / f"{BB}.ipynb", {"conv_parameters": "%config InteractiveShell.ast_node_interactivity = 'all'\n" + src})
    return d


def _wall_time_printed(course, student, notebook, grade_id):
    nb = nbformat.read(course.autograded / student / "01_convolution" / f"{notebook}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "Wall time" in "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


@pytest.mark.slow
def test_a_colab_submission_gets_full_marks_and_no_flag_through_parcel_course_grade(tmp_path_factory):
    from parcel_course import grading
    from parcel_course.directory import grading_env
    from test_integrity import A, BB, _temp_course
    base, root, course = _temp_course(tmp_path_factory, "colab-grade", [A])
    _colab_student(course, "colab")
    _control_student(course, "control")
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    proc = subprocess.run([sys.executable, "-m", "parcel_course.cli", "--root", str(root), "grade", "--workers", "2",
                           "--timeout", "120", "--total-timeout", "600"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ledgers = {led["student"]: led for led in grading.load_ledgers(course)}
    led = ledgers["colab"]
    assert led["status"] == "graded", led["reason"]
    assert led["score"] == led["max_score"] > 0, [g for g in led["grades"] if g["failed"]]
    assert led["flags"] == [], led["flags"]
    assert _wall_time_printed(course, "colab", "convolution", "correlate2d")       # %time ran in the grader
    assert _wall_time_printed(course, "colab", BB, "conv_parameters")             # and %%time
    control = [f["reason"] for f in ledgers["control"]["flags"]]
    assert len(control) == 1 and "%config" in control[0], control


@pytest.mark.slow
def test_a_colab_submission_gets_full_marks_and_no_flag_through_plain_nbgrader_autograde(tmp_path_factory):
    from nbgrader.api import Gradebook
    from parcel_course.directory import grading_env, nbgrader_executable
    from test_integrity import A, _temp_course
    base, root, course = _temp_course(tmp_path_factory, "colab-plain", [A])
    _colab_student(course, "colab")
    _control_student(course, "control")
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    env.pop("PARCEL_GRADING", None)           # nothing of the caller's: the course's nbgrader_config.py alone
    proc = subprocess.run([*nbgrader_executable(), "autograde", A, "--force", "--log-level=INFO"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Gradebook(course.db_url) as gb:
        submission = gb.find_submission(A, "colab")
        score, max_score = submission.score, submission.max_score
    assert score == max_score > 0, (score, max_score)
    assert _wall_time_printed(course, "colab", "convolution", "correlate2d")
    flags_file = root / "autograded" / "integrity-flags.jsonl"
    flags = [json.loads(line) for line in flags_file.read_text().splitlines()] if flags_file.exists() else []
    # the file has no student field: the one flag is the control's (its %config, in cnn_building_blocks)
    assert [(f["notebook"], f["cell"]) for f in flags] == [("cnn_building_blocks", "conv_parameters")], flags
    assert "%config" in flags[0]["reason"], flags
