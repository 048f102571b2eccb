"""Hostile submissions: grading that a student's code cannot subvert.

Each submission is built from the RELEASE notebooks of 01_convolution the way
a student would write it: blank answers (or right ones) plus one hostile piece
of code in an answer cell.  All of them are graded in ONE batch through the
real ``parcel-course grade --workers 2`` (a temporary copy of the course, the
real sandbox where bubblewrap works), then each is checked: zero where it
cheated, flagged with the reason (notebook and cell), the batch went on and
every submission is in the export.  Most attacks use only the lighter
notebook (cnn_building_blocks) to keep the batch at a few minutes; a missing
notebook scores zero, as nbgrader does.  A second, smaller batch does the same
for the attested pure functions of 02_parameters and 03_handcrafted: the
reference answers raise no flag, and a student who hides every failure in the
kernel scores zero on every attested test cell.

What each attack would get from plain nbgrader: the in-kernel tests of the
cells it targets pass (no error output), which is full marks; the
``tampering`` flags below are raised exactly when the kernel's outputs said
"pass" and the grader's own, out-of-process check said "fail".
"""
import csv
import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from parcel_course import grading
from parcel_course.directory import Course, grading_env, nbgrader_executable
from parcel_course.scan import instructor_cell_digests, scan_notebook
from parcel_course.sandbox import sandbox_available
from wrong_answers import HIDE_FAILURES

slow = pytest.mark.slow      # the batch tests; the static ones below run in the fast suite too

ROOT = Path(__file__).resolve().parents[1]
A = "01_convolution"
BB, CONV = "cnn_building_blocks", "convolution"
SANDBOX = sandbox_available()
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="bubblewrap is not available here: no file-system "
                                                       "or network isolation to test")
ACCURACY_KEY = "scratch_model"             # the registry's check of the scratch CNN's test accuracy (04_cnn)
BB_TESTS = ["test_conv_parameters", "test_receptive_field", "test_vgg_comparison", "test_relu", "test_sigmoid",
            "test_tanh_identity", "test_max_pool2d"]

WRONG_FUNCS = '''
def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    return 0
'''

# student -> {notebook: {answer cell grade id: code}}; the code replaces the cell (blank elsewhere)
ATTACKS = {
    # IPython input transformer: every later cell that runs a check becomes `pass`
    "transformer": {BB: {"conv_parameters": '''
ip = get_ipython()
ip.input_transformers_post.append(
    lambda lines: ["pass\\n"] if any("check_" in l or "attest" in l for l in lines) else lines)
'''}},
    # a custom exception handler that swallows every error of later cells, and the
    # execution result cleaned so that the kernel's reply says "ok"
    "custom_exc": {BB: {"conv_parameters": '''
ip = get_ipython()
ip.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)
ip.events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
'''}},
    # traceback display patched away, and every execution reported a success
    "showtraceback": {BB: {"conv_parameters": '''
from IPython.core.interactiveshell import InteractiveShell, ExecutionResult
InteractiveShell.showtraceback = lambda self, *args, **kwargs: None
ExecutionResult.success = property(lambda self: True)
''' + WRONG_FUNCS}},
    # numpy's comparison monkeypatched so that check_close passes on wrong values
    "numpy_patch": {BB: {"activations": '''
import numpy
numpy.isclose = lambda a, b, **kw: numpy.ones(numpy.broadcast(numpy.asarray(a), numpy.asarray(b)).shape, bool)
numpy.testing.assert_allclose = lambda *a, **kw: None
def relu(x):
    return numpy.zeros_like(numpy.asarray(x, dtype=float))
def leaky_relu(x, alpha=0.01):
    return numpy.zeros_like(numpy.asarray(x, dtype=float))
def sigmoid(x):
    return numpy.zeros_like(numpy.asarray(x, dtype=float))
def tanh_from_sigmoid(x):
    return 2 * sigmoid(2 * numpy.asarray(x, dtype=float)) - 1
'''}},
    # the test helpers replaced, in the module and in the notebook's namespace
    "checks_patch": {BB: {"conv_parameters": '''
import parcel_utils.checks as checks
checks.check_close = checks.check_equal = checks.check_shape = checks.compare_attested = lambda *a, **k: None
check_close = check_equal = check_shape = check_type = lambda *a, **k: None
''' + WRONG_FUNCS}},
    # the attestations themselves silenced (attest and attest_model do nothing), a forged record of
    # wrong values published after every cell by a hook, the test helpers patched and errors swallowed
    "attest_patch": {BB: {"conv_parameters": '''
import parcel_utils.checks as checks
import parcel_utils.attest as attesting
from IPython.display import publish_display_data
attesting.attest = attesting.attest_model = lambda *a, **k: None
checks.check_close = checks.check_equal = checks.check_shape = lambda *a, **k: None
check_close = check_equal = check_shape = check_type = lambda *a, **k: None
ip = get_ipython()
ip.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)   # the blank answers' errors
ip.events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
ip.events.register("post_run_cell", lambda result: publish_display_data(
    {attesting.ATTEST_MIME: {"key": "relu", "values": []}, "text/plain": ""}))
''' + WRONG_FUNCS}},
    # the instructor's package imported: its reference answers bound to the exercises' names
    "instructor_import": {BB: {"conv_parameters": '''
from parcel_course.assignments import load
conv_parameters = load("01_convolution", "reference").conv_parameters
''', "activations": '''
from parcel_course.assignments import load
answers = load("01_convolution", "reference")
relu, leaky_relu, sigmoid = answers.relu, answers.leaky_relu, answers.sigmoid
def tanh_from_sigmoid(x):
    return 2 * sigmoid(2 * x) - 1
'''}},
    # builtins: AssertionError replaced
    "builtins_patch": {BB: {"conv_parameters": '''
import builtins
builtins.AssertionError = type("AssertionError", (Warning,), {})
''' + WRONG_FUNCS}},
    # the kernel exits as soon as a hidden test starts (right answers before, to keep their points)
    "os_exit": {BB: {"conv_parameters": '''
import os
get_ipython().events.register("pre_run_cell", lambda info: os._exit(0) if "attest(" in info.raw_cell else None)
def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return kh * kw * in_channels * filters + (filters if use_bias else 0)
'''}},
    # a fork bomb, slowed a little so as not to starve the other users of this machine
    "forkbomb": {BB: {"conv_parameters": '''
import os, time
while True:
    if os.fork() == 0:
        time.sleep(300)
        os._exit(0)
    time.sleep(0.005)
'''}},
    "memory_hog": {BB: {"conv_parameters": '''
import numpy as np
hog = [np.ones(10**8) for _ in range(40)]
'''}},
    # files: 3 GB in 300 MB pieces (each under the file-size rlimit), and a forged notebook
    "disk_hog": {BB: {"conv_parameters": '''
import json
json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, open("convolution.ipynb", "w"))
block = b"x" * 2**20
for i in range(10):
    with open(f"fill{i}.bin", "wb") as fh:
        for _ in range(300):
            fh.write(block)
'''}},
    "huge_output": {BB: {"conv_parameters": '''
for _ in range(150):
    print("x" * 10**6)
''' + WRONG_FUNCS}},
}


def _reader(course_root):
    return '''
import glob, json, os, sys
seen = []
for p in [%r, %r, %r, "../../../gradebook.db", "../../../nbgrader_config.py", "../../../source", "../../../submitted",
          "/etc/shadow", os.path.expanduser("~/.ssh")]:
    try:
        (open(p, "rb").read(1) if os.path.isfile(p) else os.listdir(p)) and seen.append(p)
    except OSError:
        pass
here = os.path.basename(os.getcwd())      # its own scratch folder, alone in the sandbox's /tmp
others = [p for p in glob.glob("../*") if os.path.basename(p) != here      # beside it: the kernel's own
          and not os.path.basename(p).startswith(("parcel-kernel-", "mpl", "keras"))    # sockets and caches
          and not (sys.prefix + "/").startswith(os.path.abspath(p) + "/")]      # a checkout in /tmp: its venv
course = {"gradebook.db", "nbgrader_config.py", "submitted", "autograded"}
system = ("/proc", "/sys", "/dev", "/usr", "/lib", "/bin", "/sbin", "/etc")
for top, dirs, files in os.walk("/"):     # nothing of the course, nor another student, anywhere it can see
    if top.count("/") > 6 or top.startswith(system):
        dirs[:] = []
        continue
    others += [os.path.join(top, n) for n in dirs + files if n in course]
print("SEEN", json.dumps(seen), "OTHERS", json.dumps(others))
''' % (str(course_root / "source" / A / f"{BB}.ipynb"), str(course_root / "gradebook.db"),
       str(course_root / "submitted"))


def _writer(course_root):
    return '''
import sqlite3
wrote = []
for p in [%r, "../../../pwned", "../pwned", %r]:
    try:
        open(p, "w").write("pwned")
        wrote.append(p)
    except OSError:
        pass
try:  # every grade of the private gradebook to full marks
    db = sqlite3.connect("../../../gradebook.db"); db.execute("update grade set auto_score = 99"); db.commit()
    wrote.append("gradebook")
except Exception:
    pass
print("WROTE", wrote)
''' % (str(course_root / "pwned"), str(course_root.parent / "pwned-outside"))


def _network(port):
    return '''
import socket, urllib.request
reached = []
for host, p in [("127.0.0.1", %d), ("pypi.org", 443), ("1.1.1.1", 53)]:
    try:
        socket.create_connection((host, p), timeout=2).close()
        reached.append(host)
    except OSError:
        pass
print("REACHED", reached)
''' % port


def _release_copy(course, student, notebooks) -> Path:
    d = course.submitted / student / A
    d.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy(course.release / A / f"{nb}.ipynb", d / f"{nb}.ipynb")
    return d


def _answer(path: Path, cells: dict) -> None:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in cells:
            c.source = cells[gid].strip("\n")
    nbformat.write(nb, path)


def _reference(course, student, notebooks=(BB, CONV)):
    """A student who answers with the reference solution (the demo's filling)."""
    from parcel_course.demo import fill_in
    d = _release_copy(course, student, notebooks)
    for nb in notebooks:
        fill_in(d / f"{nb}.ipynb", course.source / A / f"{nb}.ipynb")
    return d


def _temp_course(tmp_path_factory, name, assignments):
    """A temporary course with these assignments, built and generated: (base folder, root, Course)."""
    base = tmp_path_factory.mktemp(name)
    root = base / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for a in assignments:
        shutil.copytree(ROOT / "source" / a, root / "source" / a,
                        ignore=shutil.ignore_patterns("*.ipynb_checkpoints", "__pycache__"))
    course = Course(root)
    course.build_source()
    course.generate(list(assignments))
    return base, root, course


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    """Grade every hostile submission in one batch; returns what the tests look at."""
    base, root, course = _temp_course(tmp_path_factory, "integrity", [A])

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                pass
    stop = threading.Event()
    threading.Thread(target=accept, daemon=True).start()

    _reference(course, "ada")
    _release_copy(course, "blank", [BB])
    attacks = dict(ATTACKS)
    attacks["reader"] = {BB: {"conv_parameters": _reader(root)}}
    attacks["writer"] = {BB: {"conv_parameters": _writer(root)}}
    attacks["network"] = {BB: {"conv_parameters": _network(port)}}
    for student, notebooks in attacks.items():
        d = _release_copy(course, student, list(notebooks))
        for nb, cells in notebooks.items():
            _answer(d / f"{nb}.ipynb", cells)

    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    cmd = [sys.executable, "-m", "parcel_course.cli", "--root", str(root), "grade", "--workers", "2",
           "--timeout", "90", "--total-timeout", "400", "--memory-mb", "2000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    stop.set()
    export = subprocess.run([sys.executable, "-m", "parcel_course.cli", "--root", str(root), "export"],
                            capture_output=True, text=True, env=env)
    ledgers = {led["student"]: led for led in grading.load_ledgers(course)}
    return dict(course=course, root=root, proc=proc, export=export, ledgers=ledgers, port=port,
                connections=connections, students=["ada", "blank", *attacks])


def _scores(led, notebook=None):
    return {g["grade_id"]: g["auto_score"] for g in led["grades"]
            if g["cell_type"] == "code" and not g["needs_manual_grade"] and (notebook is None or g["notebook"] == notebook)}


def _reasons(led, cell=None):
    return [f["reason"] for f in led["flags"] if cell is None or f.get("cell") == cell]


def _output(course, student, notebook, cell_id):
    nb = nbformat.read(course.autograded / student / A / f"{notebook}.ipynb", as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id:
            return "".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
    raise KeyError(cell_id)


# -- the batch as a whole ----------------------------------------------------------------

@slow
def test_batch_goes_on_and_every_submission_is_exported(batch):
    assert batch["proc"].returncode == 0, batch["proc"].stderr[-3000:]
    assert sorted(batch["ledgers"]) == sorted(batch["students"])
    assert batch["export"].returncode == 0, batch["export"].stderr
    with open(batch["root"] / "reports" / "grades.csv") as fh:
        exported = {row["student"] for row in csv.DictReader(fh)}
    assert exported >= set(batch["students"]), exported


@slow
def test_reference_solution_full_marks_and_no_flag(batch):
    led = batch["ledgers"]["ada"]
    assert led["status"] == "graded", led["reason"]
    assert led["flags"] == []
    assert led["score"] == led["max_score"] > 0, [g for g in led["grades"] if g["failed"]]


@slow
def test_blank_submission_zero_and_no_flag(batch):
    led = batch["ledgers"]["blank"]
    assert led["status"] == "graded" and led["flags"] == [] and led["score"] == 0


# -- hooks of IPython, monkeypatching ---------------------------------------------------------

def _tampered(led, cells):
    """Each cell scored zero and carries a 'tampering' flag (the kernel said pass, the grader did not)."""
    scores = _scores(led, BB)
    for cell in cells:
        assert scores[cell] == 0, (cell, scores)
        assert any(r.startswith("tampering") for r in _reasons(led, cell)), (cell, led["flags"])


@slow
@pytest.mark.parametrize("student", ["transformer", "custom_exc"])
def test_ipython_hooks_score_zero_and_are_flagged(batch, student):
    led = batch["ledgers"][student]
    assert led["status"] == "graded", led["reason"]
    assert led["score"] == 0, _scores(led)
    _tampered(led, BB_TESTS)           # every test cell "passed" in the kernel; none did
    scan = _reasons(led, "conv_parameters")
    assert any("get_ipython" in r for r in scan), scan
    assert any(("input transformer" if student == "transformer" else "set_custom_exc") in r for r in scan), scan


@slow
def test_patched_showtraceback_scores_zero_and_is_flagged(batch):
    led = batch["ledgers"]["showtraceback"]
    assert led["score"] == 0, _scores(led)
    _tampered(led, BB_TESTS)
    assert any("showtraceback" in r for r in _reasons(led, "conv_parameters")), led["flags"]


@slow
def test_monkeypatched_numpy_scores_zero_and_is_flagged(batch):
    led = batch["ledgers"]["numpy_patch"]
    assert led["score"] == 0, _scores(led)
    _tampered(led, ["test_relu", "test_sigmoid"])   # check_close passed on zeros in the kernel
    assert any("changes the imported module numpy" in r for r in _reasons(led, "activations")), led["flags"]


@slow
def test_monkeypatched_checks_score_zero_and_are_flagged(batch):
    led = batch["ledgers"]["checks_patch"]
    assert led["score"] == 0, _scores(led)
    _tampered(led, ["test_conv_parameters"])
    scan = _reasons(led, "conv_parameters")
    assert any("changes the imported module checks (parcel_utils.checks)" in r for r in scan), scan
    assert any("rebinds 'check_close'" in r for r in scan), scan


@slow
def test_silenced_attest_and_forged_records_score_zero_and_are_flagged(batch):
    led = batch["ledgers"]["attest_patch"]
    assert led["status"] == "graded", led["reason"]
    assert led["score"] == 0, _scores(led)
    _tampered(led, BB_TESTS)           # every test cell passed in the kernel, and none published a value
    why = {f["cell"]: f["reason"] for f in led["flags"] if f["reason"].startswith("tampering")}
    assert "no attested value" in why["test_conv_parameters"], why
    # the forged record lands in every test cell: where the cell makes no check "relu", it is named as such
    assert "values attested for checks this cell does not make: relu" in why["test_conv_parameters"], why
    assert "relu: malformed attestation" in why["test_relu"], why
    scan = _reasons(led, "conv_parameters")
    assert any("changes the imported module checks (parcel_utils.checks)" in r for r in scan), scan


@slow
@needs_sandbox
def test_importing_the_instructor_package_loses_the_points(batch):
    """The sandbox does not show parcel_course to the kernel: the import fails, those exercises score zero."""
    led = batch["ledgers"]["instructor_import"]
    assert led["status"] == "graded", led["reason"]
    scores = _scores(led, BB)
    for cell in ["test_conv_parameters", "test_relu", "test_sigmoid", "test_tanh_identity"]:
        assert scores[cell] == 0, (cell, scores)
    nb = nbformat.read(batch["course"].autograded / "instructor_import" / A / f"{BB}.ipynb", as_version=4)
    errors = [o.get("ename") for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in
              ("conv_parameters", "activations") for o in c.outputs if o.get("output_type") == "error"]
    assert errors == ["ModuleNotFoundError", "ModuleNotFoundError"], errors
    scan = _reasons(led)
    assert any("imports the instructor's package" in r for r in scan), led["flags"]


@slow
def test_patched_builtins_score_zero_and_are_flagged(batch):
    led = batch["ledgers"]["builtins_patch"]
    assert led["score"] == 0, _scores(led)
    assert any("builtins" in r for r in _reasons(led, "conv_parameters")), led["flags"]


@slow
def test_exit_at_the_right_moment_scores_zero_after_it(batch):
    led = batch["ledgers"]["os_exit"]
    assert led["status"] == "killed", (led["status"], led["reason"])
    assert led["score"] == 0
    tests = [g for g in led["grades"] if g["grade_id"].startswith("test_")]
    assert tests and all(not g["auto_score"] for g in tests), tests     # 0, or none: left to a person
    scan = _reasons(led, "conv_parameters")
    assert any("os._exit" in r for r in scan) and any("event" in r for r in scan), scan
    assert any("did not reach the last cell" in r for r in _reasons(led)), led["flags"]


# -- the sandbox: files, network, processes, memory, output ----------------------------------

@slow
@needs_sandbox
def test_cannot_read_the_course(batch):
    led = batch["ledgers"]["reader"]
    assert led["status"] == "graded", led["reason"]
    out = _output(batch["course"], "reader", BB, "conv_parameters")
    line = next(x for x in out.splitlines() if x.startswith("SEEN"))
    seen, others = line.split(" OTHERS ")
    assert json.loads(seen[len("SEEN "):]) == [], line
    assert json.loads(others) == [], line           # no other student, no course files around it
    assert any("course file" in r for r in _reasons(led, "conv_parameters")), led["flags"]


@slow
@needs_sandbox
def test_cannot_write_outside_its_directory(batch):
    led = batch["ledgers"]["writer"]
    root = batch["root"]
    assert not (root / "pwned").exists() and not (root.parent / "pwned-outside").exists()
    assert not list(root.rglob("pwned")), list(root.rglob("pwned"))
    out = _output(batch["course"], "writer", BB, "conv_parameters")
    assert "gradebook" not in out.split("WROTE", 1)[1], out
    assert led["score"] == 0, _scores(led)                       # the gradebook was not rewritten
    assert any("sqlite3" in r for r in _reasons(led, "conv_parameters")), led["flags"]


@slow
@needs_sandbox
def test_no_network(batch):
    out = _output(batch["course"], "network", BB, "conv_parameters")
    assert "REACHED []" in out, out
    assert batch["connections"] == []
    assert any("network" in r for r in _reasons(batch["ledgers"]["network"], "conv_parameters"))


@slow
def test_fork_bomb_is_stopped(batch):
    led = batch["ledgers"]["forkbomb"]
    assert led["status"] in ("killed", "timeout"), (led["status"], led["reason"])
    assert led["score"] == 0
    assert any("fork" in r for r in _reasons(led, "conv_parameters")), led["flags"]
    assert any("did not reach the last cell" in r for r in _reasons(led)), led["flags"]


@slow
def test_memory_hog_is_stopped(batch):
    led = batch["ledgers"]["memory_hog"]
    assert led["status"] == "killed" and "MB" in led["reason"], (led["status"], led["reason"])
    assert led["score"] == 0


@slow
def test_disk_hog_is_stopped_and_forged_notebooks_ignored(batch):
    led = batch["ledgers"]["disk_hog"]
    assert led["status"] == "killed" and "MB of files" in led["reason"], (led["status"], led["reason"])
    assert led["score"] == 0
    assert not (batch["course"].autograded / "disk_hog" / A / f"{CONV}.ipynb").exists()


@slow
def test_huge_output_is_capped(batch):
    led = batch["ledgers"]["huge_output"]
    assert led["status"] == "graded", led["reason"]
    assert led["score"] == 0, _scores(led)
    size = (batch["course"].autograded / "huge_output" / A / f"{BB}.ipynb").stat().st_size
    assert size < 15 * 2**20, size                     # 150 MB printed, at most 10 MB kept per cell
    out = _output(batch["course"], "huge_output", BB, "conv_parameters")
    assert "output dropped" in out and out.startswith("x" * 1000), out[:100]   # the beginning is kept
    assert any("printed more than" in r for r in _reasons(led, "conv_parameters")), led["flags"]


# -- plain `nbgrader autograde` grades as `parcel-course grade` does ------------------------------
# The course's nbgrader_config.py composes the same integrity (parcel_course.config.configure_grading):
# the same hostile submissions, graded by plain nbgrader in the course directory itself (not a private
# copy), score what they score in the batch above, and reach nothing.

PLAIN = ["ada", "blank", "transformer", "attest_patch", "reader", "writer", "instructor_import"]


@pytest.fixture(scope="session")
def plain_batch(tmp_path_factory):
    base, root, course = _temp_course(tmp_path_factory, "plain-nbgrader", [A])
    _reference(course, "ada")
    _release_copy(course, "blank", [BB])
    attacks = {**ATTACKS, "reader": {BB: {"conv_parameters": _reader(root)}},
               "writer": {BB: {"conv_parameters": _writer(root)}}}
    for student in PLAIN[2:]:
        d = _release_copy(course, student, list(attacks[student]))
        for nb, cells in attacks[student].items():
            _answer(d / f"{nb}.ipynb", cells)
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    env.pop("PARCEL_GRADING", None)           # nothing of the caller's: the config alone makes it safe
    proc = subprocess.run([*nbgrader_executable(), "autograde", A, "--force", "--log-level=INFO"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=1500)
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        scores = {s: gb.find_submission(A, s).score for s in PLAIN}
    flags_file = root / "autograded" / "integrity-flags.jsonl"
    flags = [json.loads(line) for line in flags_file.read_text().splitlines()] if flags_file.exists() else []
    return dict(course=course, root=root, proc=proc, scores=scores, flags=flags)


@slow
@needs_sandbox
def test_plain_nbgrader_autograde_scores_what_parcel_course_grade_scores(plain_batch, batch):
    assert plain_batch["proc"].returncode == 0, plain_batch["proc"].stderr[-3000:]
    assert "parcel-sandbox: kernel started in bwrap" in plain_batch["proc"].stderr
    for student in PLAIN:
        assert plain_batch["scores"][student] == batch["ledgers"][student]["score"], \
            (student, plain_batch["scores"], {s: batch["ledgers"][s]["score"] for s in PLAIN})
    ledger = batch["ledgers"]["ada"]
    assert plain_batch["scores"]["ada"] == ledger["max_score"] > 0
    assert all(plain_batch["scores"][s] == 0 for s in PLAIN[1:]), plain_batch["scores"]
    # the same flags: tampering found by the out-of-kernel checks, and the static scan
    reasons = [f["reason"] for f in plain_batch["flags"]]
    assert any(r.startswith("tampering") for r in reasons), reasons
    assert any("input transformer" in r for r in reasons), reasons
    assert any("the instructor's package" in r for r in reasons), reasons


@slow
@needs_sandbox
def test_plain_nbgrader_autograde_reaches_nothing(plain_batch):
    root = plain_batch["root"]
    out = _output(plain_batch["course"], "reader", BB, "conv_parameters")
    line = next(x for x in out.splitlines() if x.startswith("SEEN"))
    assert json.loads(line.split(" OTHERS ")[0][len("SEEN "):]) == [], line   # not source/, nor the gradebook
    assert not list(root.rglob("pwned")), list(root.rglob("pwned"))
    out = _output(plain_batch["course"], "writer", BB, "conv_parameters")
    assert "gradebook" not in out.split("WROTE", 1)[1], out               # the course's own gradebook, untouched


# -- no false alarm ---------------------------------------------------------------------------

def test_no_flag_on_reference_solutions_nor_on_the_demo_class(tmp_path):
    """Static scan of every source notebook's answers and of the demo's simulated students."""
    from parcel_course.demo import fill_in
    from parcel_course.mistakes import MISTAKES
    course = Course(ROOT)
    for a in course.assignments():
        for src in course.notebooks(a):
            nb = nbformat.read(src, as_version=4)
            restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                        if c.metadata.get("nbgrader", {}).get("locked")}
            known = instructor_cell_digests(src)
            assert scan_notebook(nb, src.stem, known, restored) == [], src
            release = course.release / a / src.name
            if not release.exists():
                continue
            for student, answer in [("ada", "all"), ("ben", "all"), ("cleo", "half"), ("dan", "none"), ("eve", "all")]:
                target = tmp_path / student / a / src.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(release, target)
                mistake = MISTAKES.get(a) if student == "ben" else None
                if mistake and mistake["notebook"] != src.stem:
                    mistake = None
                fill_in(target, src, answer=answer, mistake=mistake, crash=(student == "eve"))
                got = scan_notebook(nbformat.read(target, as_version=4), src.stem, known, restored)
                if student == "eve":    # the demo's crash is os._exit in her first answer cell: rightly flagged
                    assert [f["reason"] for f in got] == ["uses os._exit (kills the kernel at a chosen moment)"], got
                else:
                    assert got == [], (student, a, src.name, got)


def test_modules_submitted_beside_the_notebooks_are_flagged():
    from parcel_course.scan import scan_submission
    flags = scan_submission({"numpy.py": b"allclose = lambda *a, **k: True\n",
                             "parcel_utils/checks.py": b"def attest(*a, **k): pass\n", "data.csv": b"1,2\n"})
    assert sorted(f["cell"] for f in flags) == ["numpy.py", "parcel_utils/checks.py"], flags
    assert all("instead of the module" in f["reason"] for f in flags)


def test_attestation_verdicts_outside_the_kernel():
    """The grader's side alone: right values pass; wrong, missing, doubled or malformed ones fail."""
    from parcel_utils.attest import encode_value
    from parcel_course.preprocessors.verify_attestations import verify_value
    from parcel_course.registry import find
    check = find("relu")
    cases = check.cases()
    right = {"key": "relu", "values": [encode_value(check.reference(*a, **kw)) for a, kw, _ in cases]}
    assert verify_value(check, [right]) is None
    wrong = {"key": "relu", "values": [encode_value(-check.reference(*a, **kw) - 1) for a, kw, _ in cases]}
    assert "differs from the expected values" in verify_value(check, [wrong])
    assert "no attested value" in verify_value(check, [])
    assert "more than once" in verify_value(check, [right, right])
    text = {"key": "relu", "values": [{"type": "str", "repr": "'x'"}] * len(cases)}
    assert "returned value" in verify_value(check, [text])
    assert "malformed" in verify_value(check, [{"key": "relu", "values": "everything passed"}])


@slow
def test_attested_model_verdicts_outside_the_kernel(tmp_path):
    """The grader's side of attest_model: it loads the saved file in its own process and checks it there."""
    import zipfile
    keras = pytest.importorskip("keras")
    from parcel_utils.attest import ATTEST_DIR
    from parcel_course.limits import assignment_limits
    from parcel_course.preprocessors.verify_attestations import verify_models as verify
    from parcel_course.registry import find
    from parcel_course.verify_model import unsafe_config
    check = find(ACCURACY_KEY)
    limits = assignment_limits(Course(ROOT).limits(), "04_cnn", ROOT)    # what the grader resolves for 04

    def verify_models(items, scratch):
        return verify(items, scratch, limits)
    saved = tmp_path / ATTEST_DIR
    saved.mkdir()
    tiny = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="softmax")])
    tiny.save(saved / f"{check.key}.keras")
    record = [{"key": check.key}]
    (why,) = verify_models([(check, record)], tmp_path)     # an untrained model is far below the reference
    assert why and "computed from its predictions" in why and "below the reference" in why, why
    assert "no attested model" in verify_models([(check, [])], tmp_path)[0]
    assert "more than once" in verify_models([(check, record * 2)], tmp_path)[0]
    assert "no saved model" in verify_models([(check, record)], tmp_path / "elsewhere")[0]
    # a model that carries code of its own, or names a module of its own, is never loaded
    keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(),
                      keras.layers.Dense(5)]).save(saved / f"{check.key}.keras")
    assert "Lambda" in verify_models([(check, record)], tmp_path)[0]
    with zipfile.ZipFile(saved / f"{check.key}.keras", "w") as z:
        z.writestr("config.json", json.dumps({"module": "keras", "class_name": "Sequential", "config": {
            "layers": [{"module": "os", "class_name": "system", "config": {}}]}}))
    assert "names the module 'os'" in unsafe_config(saved / f"{check.key}.keras")
    assert "names the module 'os'" in verify_models([(check, record)], tmp_path)[0]


@slow
def test_checker_server_gives_the_one_off_checkers_verdicts(tmp_path, monkeypatch):
    """A grading worker's checker server (Keras imported once, a fork per request) decides as the fresh
    checker process does; a request that does not finish kills it, and the worker starts another."""
    keras = pytest.importorskip("keras")
    from parcel_course import verify_model as vm
    from parcel_course.limits import Limits
    from parcel_course.registry import find
    from parcel_course.sandbox import sandbox_available
    key = find(ACCURACY_KEY).key
    tiny, coded = tmp_path / "tiny.keras", tmp_path / "coded.keras"
    keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(5, activation="softmax")]).save(tiny)
    keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(),
                      keras.layers.Dense(5)]).save(coded)
    jobs = [(tiny, key, None), (coded, key, None), (tmp_path / "missing.keras", key, None)]
    limits = Limits(sandbox="bwrap" if sandbox_available() else "none", cell_timeout=120, threads=1)
    one_off = vm.verify_saved_models(jobs, limits)
    assert "below the reference" in one_off[0] and "Lambda" in one_off[1] and "no saved model" in one_off[2]
    monkeypatch.setattr(vm, "_SERVER", None)
    server = vm.checker_server(limits)
    try:
        assert vm.verify_saved_models(jobs, limits) == one_off
        assert vm.verify_saved_models(jobs[:1], limits) == one_off[:1]
        lines, why = server.ask([(tiny, key, None)], timeout=0.01)
        assert "took more than" in why and lines == []
        server.proc.wait(timeout=10)
        again = vm.checker_server(limits)          # the worker finds it dead and starts another
        assert again is not server and again.alive()
        assert vm.verify_saved_models(jobs, limits) == one_off
        other = limits.replace(memory_mb=limits.memory_mb + 1)
        assert vm.checker_server(other) is not again           # other caps: another server, watched under them
        assert vm.verify_saved_models(jobs, other) == one_off
    finally:
        vm._SERVER.close()


# -- 02_parameters and 03_handcrafted: their pure functions are attested too ---------------------
# One more batch: the reference answers (no flag, full marks) and, per assignment, a student who
# hides every failure in the kernel: the test helpers (and attest's own comparison) patched to do
# nothing, so that attest() publishes wrong values, and IPython's exception handler swallowing what
# the blank answers raise (HIDE_FAILURES, in wrong_answers.py).  In the kernel every test cell passes
# (nbgrader alone: full marks).

# assignment -> notebook, the answer cell the hostile code goes in (and other answers, in `extra`),
# the test cells whose attested values are wrong (the others are missing: their functions are
# blank), every attested test cell
HIDERS = {
    "02_parameters": dict(notebook="parameters", cell="conv2d_params", code=HIDE_FAILURES + '''
def conv2d_params(h, w, d, n_filters, bias=True):
    return h * w * d * n_filters + n_filters      # bias=False ignored
def dense_params(n_in, n_out, bias=True):
    return n_in * n_out                           # the biases forgotten
''', extra={"dense_share": '''
def dense_share(model):                           # a Keras model in, a wrong share out
    return len([l for l in model.layers if "Dense" in type(l).__name__]) / len(model.layers)
'''}, wrong={"test_conv2d_params": "should be", "test_dense_params": "should be", "test_dense_share": "should be"},
        attested=["test_conv2d_params", "test_dense_params", "test_output_shapes", "test_separable_params",
                  "test_mult_adds", "test_cost_ratio", "test_lenet5_structure", "test_lenet5_counts",
                  "test_mlp_rgb", "test_dense_share", "test_activation_count"]),
    "03_handcrafted": dict(notebook="handcrafted", cell="average_height", code=HIDE_FAILURES + '''
import numpy as np
def average_height(depth):
    return float(np.mean(depth))                  # the zeros counted as heights
''', extra={"make_classifier": '''
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
def make_classifier(C, gamma):
    return Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C))])   # gamma ignored
''', "final_model": '''
import parcel_utils.checks as checks                         # the leakage and accuracy checks silenced too
checks.check_no_leakage = checks.check_accuracy_against_reference = lambda *a, **k: None
best_params = {"C": 30.0, "gamma": 0.03}
val_scores = [0.0] * len(grid)
final_model = Pipeline([("scale", StandardScaler()), ("svm", SVC(C=30.0, gamma=0.03))]).fit(
    np.vstack([F_train, F_test]), np.r_[y_train, y_test])   # fitted on the test rows too
test_accuracy = 0.99                                         # and a number typed in
'''}, wrong={"test_average_height": "should be", "test_make_classifier": "differs",
             "test_no_leakage": "fitted on the training + test rows"},
        # test_test_accuracy: its visible checks (test_accuracy against final_model's own predictions) now raise
        # before attest() runs, the hider's handler swallows the error, and nothing is published: "no attested
        # value", zero and flagged all the same (a typed-in accuracy is tested in tests/test_registry_03.py)
        attested=["test_average_height", "test_area", "test_height_histogram", "test_footprint", "test_perimeter",
                  "test_diagonals", "test_make_classifier", "test_select_hyperparameters", "test_no_leakage",
                  "test_test_accuracy"]),
}


@pytest.fixture(scope="session")
def batch_0203(tmp_path_factory):
    """Grade the reference answers and one hider per assignment of 02 and 03, in one batch."""
    from parcel_course.demo import fill_in
    base, root, course = _temp_course(tmp_path_factory, "integrity-0203", list(HIDERS))
    for a, spec in HIDERS.items():
        for student in ("ada", "hider"):
            d = course.submitted / student / a
            d.mkdir(parents=True)
            shutil.copy(course.release / a / f"{spec['notebook']}.ipynb", d)
            if student == "ada":
                fill_in(d / f"{spec['notebook']}.ipynb", course.source / a / f"{spec['notebook']}.ipynb")
            else:
                _answer(d / f"{spec['notebook']}.ipynb", {spec["cell"]: spec["code"], **spec.get("extra", {})})
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    cmd = [sys.executable, "-m", "parcel_course.cli", "--root", str(root), "grade", "--workers", "2",
           "--timeout", "300", "--total-timeout", "900"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=2400)
    ledgers = {(led["student"], led["assignment"]): led for led in grading.load_ledgers(course)}
    return dict(proc=proc, ledgers=ledgers)


@slow
@pytest.mark.parametrize("assignment", sorted(HIDERS))
def test_reference_answers_of_02_03_full_marks_and_no_flag(batch_0203, assignment):
    assert batch_0203["proc"].returncode == 0, batch_0203["proc"].stderr[-3000:]
    led = batch_0203["ledgers"][("ada", assignment)]
    assert led["status"] == "graded", led["reason"]
    assert led["flags"] == []
    scores = _scores(led)
    assert all(scores[c] > 0 for c in HIDERS[assignment]["attested"]), scores
    assert all(not g["failed"] for g in led["grades"] if not g["needs_manual_grade"]), \
        [g for g in led["grades"] if g["failed"]]


@slow
@pytest.mark.parametrize("assignment", sorted(HIDERS))
def test_failures_hidden_in_the_kernel_of_02_03_score_zero_and_are_flagged(batch_0203, assignment):
    spec = HIDERS[assignment]
    led = batch_0203["ledgers"][("hider", assignment)]
    assert led["status"] == "graded", led["reason"]
    scores = _scores(led, spec["notebook"])
    for cell in spec["attested"]:
        assert scores[cell] == 0, (cell, scores)
        why = [r for r in _reasons(led, cell) if r.startswith("tampering")]
        assert why, (cell, led["flags"])                 # the kernel said pass, the grader did not
        if cell in spec["wrong"]:                         # wrong values published, checked in the grader
            assert " on " in why[0] and spec["wrong"][cell] in why[0], why
        else:                                             # blank: attest() never got to publish
            assert "no attested value" in why[0], why
    scan = _reasons(led, spec["cell"])
    assert any("set_custom_exc" in r for r in scan), scan
    assert any("changes the imported module checks" in r for r in scan), scan
