"""A red team (issue #23): hostile students against every grading path, as root and as an unprivileged user.

One class of hostile students hands in ``01_convolution`` (the cheap notebook
``cnn_building_blocks`` only; ``ada`` answers both notebooks with the reference,
``blank`` hands in the release untouched).  Each student is one variant of one
attack class:

a) a score taken from kernel output: an ``execute_result`` emitted into the
   test cells (``sys.displayhook`` from IPython's event hooks, the shell's
   display hook called or overridden, a forged ``execute_result`` message sent
   on the kernel's IOPub socket, functions the test calls patched to return
   ``1.0``, every expression displayed), display data and text that look like
   a score;
b) links and special files the kernel plants where it runs: a link named like
   the notebook (to the gradebook, the course config, a source notebook),
   ``.parcel-attest`` as a link, ``.parcel-attest/<key>.keras`` and its inputs
   as links to host files, FIFOs and a socket named like what the grader
   writes, hard links, links left for feedback to copy, and a process that
   lingers to plant links after the kernel is gone;
c) the grader's secrets: the grader runs with ``JUPYTERHUB_API_TOKEN``,
   ``AWS_SECRET_ACCESS_KEY``, ``PARCEL_DB_URL`` (the gradebook, in a folder whose
   name is secret), ``GITHUB_TOKEN`` and a randomly named variable; the kernel
   prints its environment, every ``/proc/*/environ`` and ``cmdline`` it can see,
   and files of the grader's;
d) output floods that bypass ``output``: ``update_display_data`` with 50 MB
   strings, one ``display_id`` displayed again and again, and a hook that
   floods every test cell through updates and displays sharing an id;
e) (its own course copies) a sandbox that cannot import the student package:
   grading must refuse with one sentence instead of scoring everyone zero.

The class is graded through each path: ``parcel-course grade`` (``cli``), plain
``nbgrader autograde`` in the course folder (``plain``) and formgrader's
Autograde in a Jupyter server's process and environment (``formgrader``), each
followed by that path's feedback; each path once with the grader as root and
once as an unprivileged user (created here when the tests run as root: a
private mount namespace hides /root but the Python installation and the
dataset cache, then ``setpriv`` drops to the user; when the tests do not run as
root, the current user is the unprivileged grader and the root runs skip).
The runs go two at a time in one module-scoped fixture; the tests then only
read what they left.  ``RESULTS`` (the scores of every student on every run) is
printed by the last test.

What every run must show: ada full marks; every hostile student no more than
``blank``; the course's files (config, source, release, submissions), a host
file of the grader's and ``/etc/passwd`` unchanged, the gradebook still a
gradebook with its mode; ``autograded/`` and ``feedback/`` hold regular files
only, feedback holds one HTML page per graded notebook and nothing else; no
secret value and nothing of the host file anywhere the student's results go;
every flood under the caps with a flag; and the next plain autograde still runs
with the course's config (the sandbox's mark in its log).
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from parcel_course import grading
from parcel_course.directory import Course, grading_env, nbgrader_executable
from test_integrity import A, BB, CONV, SANDBOX, _answer, _reference, _release_copy, _temp_course

slow = pytest.mark.slow
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="bubblewrap is not available here: without the sandbox the "
                                                       "kernel runs in the grader's file system and process space")
pytestmark = [slow]

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0
USER = "parcelrt"                        # the unprivileged grader (created when the tests run as root)
SANDBOX_MARK = "parcel-sandbox: kernel started in bwrap"
NOTEBOOK_CAP_MB = 30                     # c.GradingLimits.max_notebook_output_mb in the red team's course
TOKEN = secrets.token_hex(8)             # in every secret's value: one search finds them all
DB_DIR = f"gradebook-{TOKEN}-private"    # the gradebook's folder: PARCEL_DB_URL's value is secret
SECRETS = {"JUPYTERHUB_API_TOKEN": f"hub{TOKEN}{secrets.token_hex(8)}",
           "AWS_SECRET_ACCESS_KEY": f"aws{TOKEN}{secrets.token_hex(8)}",
           "GITHUB_TOKEN": f"ghp{TOKEN}{secrets.token_hex(8)}",
           f"RT_{secrets.token_hex(4).upper()}": f"rnd{TOKEN}{secrets.token_hex(8)}"}
HOST_SECRET = f"host-file-of-the-grader-{TOKEN}"

PATHS = ("cli", "plain", "formgrader")
UIDS = ("root", "user")
RUNS = [f"{p}-{u}" for p in PATHS for u in UIDS]
BLANK_BB_TESTS = ["test_conv_parameters", "test_receptive_field", "test_vgg_comparison", "test_relu", "test_sigmoid",
                  "test_tanh_identity", "test_max_pool2d"]

# -- the hostile students -----------------------------------------------------------------------------
# Wrong answers that raise nothing (so that a test cell can run to its last line in the kernel): the
# blank release's answers raise NotImplementedError and would stop a test cell before its end.
WRONG = {
    "conv_parameters": "def conv_parameters(kernel_size, in_channels, filters, use_bias=True):\n    return 0\n",
    "receptive_field": "def receptive_field(n_layers, kernel_size=3):\n    return 0\n",
    "vgg_comparison": ("def vgg_comparison(d, use_bias=False):\n"
                       "    return {'receptive field': (0, 0), 'parameters': (0, 0), 'nonlinearities': (0, 0)}\n"),
    "activations": ("import numpy as np\n"
                    "def relu(x):\n    return np.zeros_like(np.asarray(x, dtype=float))\n"
                    "def leaky_relu(x, alpha=0.01):\n    return np.zeros_like(np.asarray(x, dtype=float))\n"
                    "def sigmoid(x):\n    return np.zeros_like(np.asarray(x, dtype=float))\n"
                    "def tanh_from_sigmoid(x):\n    return np.zeros_like(np.asarray(x, dtype=float))\n"),
    "max_pool2d": "import numpy as np\ndef max_pool2d(x, pool_size=2, stride=None):\n    return np.zeros((1, 1, 1))\n",
}

DISPLAYHOOK_FUNCTIONS = {
    "receptive_field": "import sys\ndef receptive_field(n_layers, kernel_size=3):\n    sys.displayhook(1.0)\n    return 0\n",
    "activations": ("import sys\nimport numpy as np\ndef relu(x):\n    sys.displayhook(1.0)\n"
                    "    return np.zeros_like(np.asarray(x, dtype=float))\n"
                    "sigmoid = leaky_relu = tanh_from_sigmoid = relu\n"),
    "max_pool2d": ("import sys\nimport numpy as np\ndef max_pool2d(x, pool_size=2, stride=None):\n"
                   "    sys.displayhook(1.0)\n    return np.zeros((1, 1, 1))\n"),
}

# what makes every check of the test cells pass in the kernel (the checks and attest replaced)
_PASS_CHECKS = '''
import parcel_utils.checks as _checks, parcel_utils.attest as _attest
_ok = lambda *a, **k: {ret}
for _n in ("check_close", "check_equal", "check_shape", "check_type"):
    setattr(_checks, _n, _ok)
    globals()[_n] = _ok
_attest.attest = _ok
_attest.swapped_global = lambda *a, **k: None
'''

SCORE_ATTACKS = {
    # sys.displayhook from an event hook (ipykernel's own hook there: given the request as its parent, so
    # that its execute_result lands in the cell about to run, before anything the test cell prints)
    "a_pre_displayhook": '''
import sys
ip = get_ipython()
def _score(*args):
    sys.displayhook.set_parent(ip.kernel.get_parent())
    sys.displayhook(1.0)
ip.events.register("pre_run_cell", _score)
''',
    "a_post_displayhook": '''
import sys
ip = get_ipython()
ip.events.register("post_run_cell", lambda *a: ip.displayhook(1.0))
ip.events.register("post_execute", lambda: sys.displayhook(21))
''',
    # the issue's own: the answer's functions call sys.displayhook while the test cell calls them (the code
    # of its first answer cell; the others are in DISPLAYHOOK_FUNCTIONS)
    "a_function_displayhook": '''
import sys
def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    sys.displayhook(1.0)
    return 0
''',
    # the shell's own display hook called before every execution
    "a_shell_displayhook": '''
ip = get_ipython()
ip.events.register("pre_execute", lambda: ip.displayhook(1.0))
''',
    # a forged execute_result message sent on the kernel's IOPub socket, as the display hook would
    "a_iopub_forged": '''
ip = get_ipython()
def _forge(*args):
    dh = ip.displayhook
    dh.session.send(dh.pub_socket, "execute_result",
                    {"data": {"text/plain": "1.0"}, "metadata": {}, "execution_count": 1},
                    parent=dh.parent_header, ident=dh.topic)
ip.events.register("pre_run_cell", _forge)
''',
    # display data and text that look like a score (raw display, publish_display_data, print)
    "a_display_raw": '''
from IPython.display import display, publish_display_data
def _looks_like_a_score(*args):
    display({"text/plain": "1.0"}, raw=True)
    publish_display_data({"text/plain": "1.0"}, metadata={"execution_count": 1})
    print("1.0")
get_ipython().events.register("pre_run_cell", _looks_like_a_score)
''',
    # the functions the test cells call patched: every check passes and attest() returns 1.0, the value
    # of the test cell's last line (an execute_result), with no attested value behind it
    "a_patched_return": _PASS_CHECKS.format(ret="1.0"),
    # every expression statement displayed, and each check returns 1.0
    "a_interactivity_all": _PASS_CHECKS.format(ret="1.0") + '''
get_ipython().ast_node_interactivity = "all"
''',
    # the display hook overridden: whatever the value, it is shown as 1.0
    "a_displayhook_override": _PASS_CHECKS.format(ret="True") + '''
get_ipython().displayhook.compute_format_data = lambda result: ({"text/plain": "1.0"}, {})
''',
}


def _link_attacks(ctx) -> dict:
    """Student -> {answer cell: code}: links and special files the kernel plants (paths of this run)."""
    root, db, host = str(ctx["root"]), str(ctx["db"]), str(ctx["host"])
    config, source_nb = f"{root}/nbgrader_config.py", f"{root}/source/{A}/{BB}.ipynb"
    head = '''
import os, shutil, json
done = []
def attempt(what, fn):
    try:
        fn()
        done.append(what)
    except Exception as exc:
        done.append(f"{what}: {type(exc).__name__}")
'''
    tail = '\nprint("PLANTED", json.dumps(done))\n'
    return {
        "b_notebook_link": {"conv_parameters": head + f'''
attempt("nb->gradebook", lambda: os.symlink({db!r}, "{BB}.ipynb"))
attempt("other nb->source", lambda: os.symlink({source_nb!r}, "{CONV}.ipynb"))
attempt("html->host", lambda: os.symlink({host!r}, "{BB}.html"))
attempt("checkpoint->config", lambda: (os.makedirs(".ipynb_checkpoints", exist_ok=True),
                                       os.symlink({config!r}, ".ipynb_checkpoints/{BB}-checkpoint.ipynb")))
''' + tail},
        "b_forged_notebook": {"conv_parameters": head + f'''
forged = {{"cells": [], "metadata": {{}}, "nbformat": 4, "nbformat_minor": 5}}
attempt("forged nb", lambda: json.dump(forged, open("{BB}.ipynb", "w")))
attempt("forged other nb", lambda: json.dump(forged, open("{CONV}.ipynb", "w")))
''' + tail},
        "b_attest_dir_link": {"conv_parameters": head + f'''
attempt("rm attest dir", lambda: shutil.rmtree(".parcel-attest"))
attempt("attest dir->source", lambda: os.symlink({str(Path(source_nb).parent)!r}, ".parcel-attest"))
''' + tail, "activations": head + f'''
attempt("rm attest link", lambda: os.remove(".parcel-attest"))
attempt("attest dir->course", lambda: os.symlink({root!r}, ".parcel-attest"))
''' + tail},
        "b_keras_link": {"conv_parameters": head + f'''
os.makedirs(".parcel-attest/inputs", exist_ok=True)
for key, target in [("conv_parameters", "/etc/passwd"), ("relu", {db!r}), ("sigmoid", {host!r}),
                    ("max_pool2d", "/nonexistent/model.keras"), ("scratch_model", {config!r})]:
    attempt(f"{{key}}.keras", lambda key=key, target=target: os.symlink(target, f".parcel-attest/{{key}}.keras"))
for name in os.listdir(".parcel-attest/inputs"):
    attempt("input " + name, lambda name=name: (os.remove(f".parcel-attest/inputs/{{name}}"),
                                                os.symlink({host!r}, f".parcel-attest/inputs/{{name}}")))
''' + tail},
        "b_config_link": {"conv_parameters": head + f'''
attempt("config", lambda: os.symlink({config!r}, "nbgrader_config.py"))
attempt("nb->config", lambda: os.symlink({config!r}, "{BB}.ipynb"))
attempt("jupyter config", lambda: os.symlink({config!r}, "jupyter_nbconvert_config.py"))
for name in ("parcel-grade.json", "autograde.log", "integrity-flags.jsonl", "timings.jsonl", "timestamp.txt"):
    attempt(name, lambda name=name: os.symlink({config!r}, name))     # what the graders write beside a notebook
''' + tail},
        "b_special_files": {"conv_parameters": head + f'''
import socket
attempt("fifo nb", lambda: os.mkfifo("{BB}.ipynb"))
attempt("fifo other nb", lambda: os.mkfifo("{CONV}.ipynb"))
attempt("fifo notes", lambda: os.mkfifo("notes.txt"))
attempt("fifo attest model", lambda: os.mkfifo(".parcel-attest/relu.keras"))
attempt("socket", lambda: socket.socket(socket.AF_UNIX).bind("feedback.sock"))
attempt("char device", lambda: os.mknod("null", 0o666 | 0o020000, os.makedev(1, 3)))
''' + tail},
        "b_hard_links": {"conv_parameters": head + f'''
import sys, parcel_utils.checks
for i, target in enumerate([{db!r}, {host!r}, {config!r}, "/etc/passwd", sys.executable,
                            parcel_utils.checks.__file__]):
    attempt(f"hard link {{target}}", lambda i=i, target=target: os.link(target, f"hard{{i}}"))
''' + tail},
        "b_feedback_links": {"conv_parameters": head + f'''
attempt("leak.txt", lambda: os.symlink({host!r}, "leak.txt"))
attempt("gradebook.db", lambda: os.symlink({db!r}, "gradebook.db"))
attempt("source copy", lambda: os.symlink({source_nb!r}, "source.ipynb.txt"))
attempt("course dir", lambda: os.symlink({root!r}, "course"))
attempt("up", lambda: os.symlink("../../..", "up"))
attempt("slash", lambda: os.symlink("/", "slash"))
attempt("nested", lambda: (os.makedirs("sub/deeper", exist_ok=True), os.symlink({host!r}, "sub/deeper/leak.txt")))
attempt("student file", lambda: open("report.txt", "w").write("a file the kernel wrote"))
''' + tail},
        # a process that outlives the kernel and keeps planting links while the grader works
        "b_lingering": {"conv_parameters": head + f'''
import time
def plant():
    names = {{"{BB}.ipynb": {db!r}, "{CONV}.ipynb": {config!r}, ".parcel-attest": {root!r},
              "nbgrader_config.py": {config!r}, "leak.txt": {host!r}}}
    end = time.time() + 120
    while time.time() < end:
        for name, target in names.items():
            try:
                if os.path.isdir(name) and not os.path.islink(name):
                    shutil.rmtree(name)
                elif os.path.lexists(name):
                    os.remove(name)
                os.symlink(target, name)
            except OSError:
                pass
        time.sleep(0.02)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        plant()
    os._exit(0)
done.append("planter started")
''' + tail},
    }


SECRET_ATTACKS = {
    "c_environ": '''
import glob, os
print("ENV", sorted(os.environ.items()))
for p in ["/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ",
          *glob.glob("/proc/[0-9]*/environ"), *glob.glob("/proc/[0-9]*/cmdline"),
          *glob.glob("/proc/[0-9]*/task/*/environ")]:
    try:
        print("PROC", p, open(p, "rb").read().replace(b"\\0", b" ").decode(errors="replace"))
    except OSError as exc:
        print("PROC", p, "refused", exc.errno)
''',
    "c_files": '''
import glob, os
pid, seen = os.getpid(), []
while pid > 0:                     # up the chain of parents, as far as it can see
    try:
        seen.append(open(f"/proc/{pid}/environ", "rb").read().replace(b"\\0", b" ").decode(errors="replace"))
        pid = int(open(f"/proc/{pid}/stat").read().split(") ")[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
print("CHAIN", seen)
for p in ["~/.bash_history", "/root/.bash_history", "/root/.jupyter", "~/.jupyter", "/etc/shadow", "/proc/1/root/etc",
          *glob.glob("/tmp/*"), *glob.glob("/tmp/*/*"), *glob.glob("/run/user/*")]:
    p = os.path.expanduser(p)
    try:
        print("FILE", p, os.listdir(p) if os.path.isdir(p) else open(p, "rb").read(2000))
    except OSError as exc:
        print("FILE", p, "refused", exc.errno)
''',
    # the environment printed from a hook into every test cell (their outputs reach the feedback)
    "c_hook": '''
import os
get_ipython().events.register("pre_run_cell", lambda *a: print("HOOK", dict(os.environ),
                                                             open("/proc/self/environ", "rb").read()))
''',
}

FLOOD_ATTACKS = {
    # update_display_data: three 50 MB updates of one output
    "d_update": '''
from IPython.display import display
h = display({"text/plain": "start"}, raw=True, display_id=True)
for i in range(3):
    h.update({"text/plain": str(i) * (50 * 2**20)}, raw=True)
''',
    # one display_id displayed again and again: each new one rewrites every earlier one
    "d_same_id": '''
from IPython.display import display
for i in range(12):
    display({"text/plain": chr(65 + i) * (10 * 2**20)}, raw=True, display_id="flood")
''',
    # from a hook, in every later cell: an update of the answer cell's output and a display sharing an id
    "d_hook": '''
from IPython.display import display
handle = display({"text/plain": "start"}, raw=True, display_id=True)
def _flood(*args):
    handle.update({"text/plain": "u" * (8 * 2**20)}, raw=True)
    display({"text/plain": "z" * (8 * 2**20)}, raw=True, display_id="every-cell")
get_ipython().events.register("pre_run_cell", _flood)
''',
}


# Files that shadow the libraries, handed in beside the notebooks of these students: a kernel's check
# before the first cell (parcel_course.preflight) imports with the kernel's folder off sys.path, so that
# none of them can make it refuse (which would stop the whole class's batch) or run before it.
_BOOM = "raise ImportError('a submitted file shadows a library')\n"
SHADOW_FILES = {
    "c_environ": {"numpy.py": _BOOM, "parcel_utils.py": _BOOM},
    "c_files": {"parcel_utils/__init__.py": _BOOM, "keras/__init__.py": _BOOM, "scipy.py": _BOOM},
    "c_hook": {"sitecustomize.py": _BOOM, "usercustomize.py": _BOOM, "matplotlib.py": _BOOM, "importlib.py": _BOOM},
}


def _students(ctx) -> dict:
    """Every hostile student of the class: {student: {answer cell: code}} (blank elsewhere)."""
    out = {s: {**WRONG, "conv_parameters": WRONG["conv_parameters"] + "\n" + code} for s, code in SCORE_ATTACKS.items()}
    # its functions are those of its first cell: the other answer cells left blank
    out["a_function_displayhook"] = {**WRONG, **DISPLAYHOOK_FUNCTIONS,
                                     "conv_parameters": SCORE_ATTACKS["a_function_displayhook"]}
    out.update(_link_attacks(ctx))
    out.update({s: {"conv_parameters": code} for s, code in {**SECRET_ATTACKS, **FLOOD_ATTACKS}.items()})
    return out


HOSTILE = [*SCORE_ATTACKS, *_link_attacks(dict(root="", db="", host="")), *SECRET_ATTACKS, *FLOOD_ATTACKS]


# -- the graders: who runs them, and how ---------------------------------------------------------------

def _grader_user():
    """(uid, gid) of the unprivileged grader, or a reason why there is none."""
    if not IS_ROOT:
        return os.getuid(), os.getgid()
    for tool in ("unshare", "setpriv", "mount"):
        if not shutil.which(tool):
            return f"`{tool}` is missing: cannot run the grader as an unprivileged user"
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        out = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return f"cannot create the user {USER}: {out.stderr.strip()}"
        pw = pwd.getpwnam(USER)
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a private mount namespace (unshare -m): {probe.stderr.strip()}"
    return pw.pw_uid, pw.pw_gid


def _hidden_needs() -> list[str]:
    """What the grader needs that lies in an unreadable folder (/root, 0700): the Python installation,
    the dataset cache."""
    from parcel_course.sandbox import dataset_cache
    needs = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable)), dataset_cache()}
    out = []
    for p in sorted(needs):
        if any(Path(p).is_relative_to(q) and p != q for q in needs):
            continue
        for a in Path(p).parents:
            if a != Path("/") and a.exists() and not (a.stat().st_mode & 0o005):
                out.append(p)
                break
    return sorted(set(out))


def _as_user(job) -> list[str]:
    """The words that run a command as the unprivileged grader in ``job["root"]``'s folder."""
    if job["uid"] == "root" or not IS_ROOT:
        return []
    uid, gid = job["ids"]
    hide = sorted({"/" + Path(p).parts[1] for p in job["needs"]})       # /root, the unreadable top folders
    lines = ["set -e"]
    for i, p in enumerate(job["needs"]):
        stage = job["base"] / f"stage{i}"
        stage.mkdir(exist_ok=True)
        lines.append(f"mount --bind '{p}' '{stage}'")
    for top in hide:
        lines.append(f"mount -t tmpfs -o mode=0755,size=4m tmpfs '{top}'")
    for i, p in enumerate(job["needs"]):
        lines.append(f"mkdir -p '{p}' && mount --move '{job['base'] / f'stage{i}'}' '{p}'")
    lines.append(f'exec setpriv --reuid={uid} --regid={gid} --clear-groups "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh"]


def _run(job, cmd, timeout=900, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([*_as_user(job), *map(str, cmd)], cwd=job["root"], env=job["env"], capture_output=True,
                         text=True, timeout=timeout, **kw)
    with open(job["base"] / "commands.log", "a") as log:       # kept with PARCEL_KEEP_REDTEAM=1
        log.write(f"$ {' '.join(map(str, cmd))}\n-> {out.returncode}\n{out.stdout}\n{out.stderr}\n\n")
    return out


def _cli(job, *args, timeout=900):
    return _run(job, [sys.executable, "-m", "parcel_course.cli", "--root", job["root"], *args], timeout=timeout)


def _grade_cli(job):
    job["grade"] = _cli(job, "grade", "--workers", "1", "--memory-mb", "3000")
    job["feedback"] = _cli(job, "feedback", A)


def _grade_plain(job):
    job["grade"] = _run(job, [*nbgrader_executable(), "autograde", A, "--force", "--log-level=INFO"])
    job["feedback"] = _run(job, [*nbgrader_executable(), "generate_feedback", A, "--force"])


def _next_plain(job):
    """One more plain autograde after the class (of ada's lighter notebook): the course's config still rules."""
    return _run(job, [*nbgrader_executable(), "autograde", A, "--student", "blank", "--force", "--log-level=INFO"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(job):
    """jupyter server with formgrader on the course, as the job's grader, in the job's environment."""
    token, port = secrets.token_hex(16), _free_port()
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={job['root']}",
           '--ServerApp.jpserver_extensions={"nbgrader.server_extensions.formgrader": True}']
    if job["uid"] == "root" and IS_ROOT:
        cmd.append("--allow-root")
    log = open(job["base"] / "jupyter-server.log", "w")
    proc = subprocess.Popen([*_as_user(job), *cmd], cwd=job["root"], env=job["env"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError("jupyter server exited:\n" + (job["base"] / "jupyter-server.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError("jupyter server did not answer in 120 s")
        time.sleep(0.5)
    return proc, log, url, token


def _stop(proc):
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def _post(url, token, path, timeout=600) -> dict:
    req = urllib.request.Request(f"{url}{path}", data=b"", method="POST", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def _grade_formgrader(job):
    proc, log, url, token = _start_server(job)
    try:
        job["api"] = {s: _post(url, token, f"/formgrader/api/submission/{A}/{s}/autograde")
                      for s in job["students"]}
        job["api_feedback"] = _post(url, token, f"/formgrader/api/assignment/{A}/generate_feedback")
    finally:
        _stop(proc)
        log.close()
    job["server_log"] = (job["base"] / "jupyter-server.log").read_text(errors="replace")


GRADE = {"cli": _grade_cli, "plain": _grade_plain, "formgrader": _grade_formgrader}


# -- what a run leaves, before and after ----------------------------------------------------------------

def _digest(path: Path) -> tuple:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", stat.S_IMODE(st.st_mode), st.st_uid)
    return ("file", stat.S_IMODE(st.st_mode), st.st_uid, hashlib.sha256(path.read_bytes()).hexdigest())


def _snapshot(job) -> dict:
    """Every file the grader must leave alone: the course's (not what grading writes), the host's."""
    root = job["root"]
    out = {}
    for top in [root / "nbgrader_config.py", root / "source", root / "release", root / "submitted",
                job["host"], Path("/etc/passwd"), job["db"].parent]:
        items = [top] + (sorted(top.rglob("*")) if top.is_dir() and not top.is_symlink() else [])
        for p in items:
            if p.parent == job["db"].parent and p.name != job["db"].name:
                continue                    # the gradebook's journal comes and goes
            if p == job["db"]:
                st = os.lstat(p)
                out[str(p)] = ("gradebook", stat.S_ISREG(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid)
            else:
                out[str(p)] = _digest(p)
    return out


def _scores(job) -> dict:
    from nbgrader.api import Gradebook, MissingEntry
    out = {}
    with Gradebook(f"sqlite:///{job['db']}") as gb:
        for s in job["students"]:
            try:
                sub = gb.find_submission(A, s)
            except MissingEntry:
                out[s] = None
                continue
            out[s] = dict(score=sub.score, max_score=sub.max_score,
                          cells={g.name: g.auto_score for nb in sub.notebooks for g in nb.grades})
    return out


def _flags(job) -> dict:
    """student -> the flags' reasons, from the ledgers (cli) or the course's flags file (the others)."""
    out = {s: [] for s in job["students"]}
    if job["path"] == "cli":
        for led in grading.load_ledgers(Course(job["root"])):
            out.setdefault(led["student"], []).extend(f["reason"] for f in led["flags"])
        return out
    flags = job["root"] / "autograded" / "integrity-flags.jsonl"
    for line in flags.read_text().splitlines() if flags.exists() else []:
        f = json.loads(line)
        student = f.get("student") or ""
        out.setdefault(student, []).append(f["reason"])
    return out


def _prepare(template: Path, run: str, ids, needs) -> dict:
    path, uid = run.split("-")
    base = Path(tempfile.mkdtemp(prefix=f"parcel-redteam-{run}-"))
    base.chmod(0o755)
    root = base / "course"
    shutil.copytree(template, root, symlinks=True)
    (base / DB_DIR).mkdir()
    db = base / DB_DIR / "gradebook.db"
    shutil.move(root / "gradebook.db", db)
    host = base / "grader-private.txt"
    host.write_text(HOST_SECRET + "\n")
    host.chmod(0o600)
    (base / "home").mkdir()
    (base / "exchange").mkdir()
    job = dict(run=run, path=path, uid=uid, base=base, root=root, db=db, host=host, ids=ids, needs=needs)
    course = Course(root)
    _reference(course, "ada")
    _release_copy(course, "blank", [BB])
    for student, cells in _students(job).items():
        d = _release_copy(course, student, [BB])
        _answer(d / f"{BB}.ipynb", cells)
        for rel, text in SHADOW_FILES.get(student, {}).items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
    job["students"] = ["ada", "blank", *HOSTILE]
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange"), "PARCEL_DB_URL": f"sqlite:///{db}",
                       "PARCEL_DATA_DIR": _data_dir(), **SECRETS})
    env.pop("PARCEL_GRADING", None)           # nothing of the caller's: the config alone makes it safe
    env.pop("JUPYTER_TOKEN", None)
    for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env[k] = str(base / "home" / k.lower())
    if uid == "user" and IS_ROOT:
        env.update(HOME=str(base / "home"), USER=USER, LOGNAME=USER)
        for p in [base, *base.rglob("*")]:
            os.chown(p, *ids, follow_symlinks=False)
    job["env"] = env
    return job


def _data_dir() -> str:
    from parcel_course.sandbox import dataset_cache
    return dataset_cache()


def _execute(job) -> dict:
    """Grade the class through the job's path, feedback, the next plain autograde; what it left."""
    t0 = time.monotonic()
    try:
        job["before"] = _snapshot(job)
        GRADE[job["path"]](job)
        if job["path"] == "plain":
            job["next"] = _next_plain(job)
        time.sleep(1)                                # a lingering planter, if any survived, has had its chance
        job["after"] = _snapshot(job)
        job["scores"] = _scores(job)
        job["flags"] = _flags(job)
    except Exception as exc:  # noqa: BLE001 - the tests of this run report it
        job["error"] = f"{type(exc).__name__}: {exc}"
    job["seconds"] = round(time.monotonic() - t0, 1)
    return job


RESULTS: dict = {}


def _wanted(request, fixture) -> list:
    """The runs that the selected tests using ``fixture`` need (all of them when none is selected)."""
    found = {item.callspec.params["run"] for item in request.session.items
             if hasattr(item, "callspec") and "run" in item.callspec.params and fixture in item.fixturenames}
    return [r for r in RUNS if r in (found or RUNS)]


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """Every run the selected tests need, graded two at a time; run name -> job (or a skip reason)."""
    wanted = _wanted(request, "runs")
    base, template, course = _temp_course(tmp_path_factory, "redteam", [A])
    with open(template / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.GradingLimits.max_notebook_output_mb = {NOTEBOOK_CAP_MB}   # the red team's floods\n")
    user = _grader_user()
    needs = _hidden_needs() if IS_ROOT else []
    jobs, out = [], {}
    for run in wanted:
        if run.endswith("-root") and not IS_ROOT:
            out[run] = "the tests do not run as root (the unprivileged runs cover this user)"
        elif run.endswith("-user") and isinstance(user, str):
            out[run] = user
        else:
            jobs.append(_prepare(template, run, user if run.endswith("-user") else (0, 0), needs))
    # the serial paths first, the parallel one (cli) last; two at a time on two cores
    jobs.sort(key=lambda j: PATHS.index(j["path"]) * -1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in pool.map(_execute, jobs):
            out[job["run"]] = job
            RESULTS[job["run"]] = {s: (v or {}).get("score") for s, v in (job.get("scores") or {}).items()}
    yield out
    if not os.environ.get("PARCEL_KEEP_REDTEAM"):      # =1 keeps every run's folder (and commands.log)
        for job in jobs:
            shutil.rmtree(job["base"], ignore_errors=True)


def _job(runs, run) -> dict:
    job = runs[run]
    if isinstance(job, str):
        pytest.skip(job)
    assert "error" not in job, job["error"]
    return job


def _graded_nb(job, student, notebook=BB):
    path = job["root"] / "autograded" / student / A / f"{notebook}.ipynb"
    return nbformat.read(path, as_version=4) if path.exists() else None


def _student_files(job, student) -> list[Path]:
    out = []
    for top in (job["root"] / "autograded" / student, job["root"] / "feedback" / student):
        out += [p for p in top.rglob("*") if not p.is_dir()] if top.exists() else []
    return out


# -- the runs as a whole ----------------------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
def test_run_went_through_and_the_reference_keeps_full_marks(runs, run):
    job = _job(runs, run)
    if job["path"] == "formgrader":
        failed = {s: r.get("error", "")[-500:] for s, r in job["api"].items() if not r.get("success")}
        assert failed == {}, failed
        assert job["api_feedback"].get("success"), job["api_feedback"]
        log = job["server_log"]
    else:
        assert job["grade"].returncode == 0, job["grade"].stderr[-3000:]
        assert job["feedback"].returncode == 0, job["feedback"].stderr[-3000:]
        log = job["grade"].stderr
    if SANDBOX and job["path"] != "cli":          # cli: its workers' logs stay in their private folders
        assert SANDBOX_MARK in log, log[-3000:]
    ada = job["scores"]["ada"]
    assert ada and ada["score"] == ada["max_score"] > 0, ada
    assert job["scores"]["blank"]["score"] == 0, job["scores"]["blank"]


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("student", HOSTILE)
def test_hostile_student_scores_no_more_than_blank(runs, run, student):
    job = _job(runs, run)
    got, blank = job["scores"][student], job["scores"]["blank"]
    assert got is not None and _graded_nb(job, student) is not None, f"{student} was not graded on {run}"
    assert got["score"] <= blank["score"], (student, run, {k: v for k, v in got["cells"].items() if v})


# -- a) a score from the kernel's output ------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("student", list(SCORE_ATTACKS))
def test_forged_execute_results_reach_the_grader_and_award_nothing(runs, run, student):
    """The forged results did reach the autograded notebook (the attack ran), kept as display data in the
    test cells, where no execute_result is left to be read as a score."""
    job = _job(runs, run)
    nb = _graded_nb(job, student)
    assert nb is not None, f"no autograded notebook for {student} on {run}"
    forged, results = 0, []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        results += [o for o in c.outputs if o.get("output_type") == "execute_result"]
        forged += sum(o.get("data", {}).get("text/plain") in ("1.0", "21") for o in c.outputs)
    assert results == [], results[:3]
    assert forged > 0, f"{student}: no forged output in the test cells: the attack did not run ({run})"
    assert all(not job["scores"][student]["cells"][t] for t in BLANK_BB_TESTS), job["scores"][student]["cells"]


# -- b) links and special files -------------------------------------------------------------------------

@needs_sandbox
@pytest.mark.parametrize("run", RUNS)
def test_course_and_host_files_unchanged(runs, run):
    job = _job(runs, run)
    before, after = job["before"], job["after"]
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {}, changed
    assert job["db"].read_bytes()[:16] == b"SQLite format 3\x00"     # still a gradebook, not notebook JSON
    assert job["host"].read_text() == HOST_SECRET + "\n"


@pytest.mark.parametrize("run", RUNS)
def test_autograded_and_feedback_hold_regular_files_only(runs, run):
    """No link, FIFO or socket; feedback: one HTML page per graded notebook, nothing copied beside it."""
    job = _job(runs, run)
    odd = [str(p) for top in ("autograded", "feedback") for p in (job["root"] / top).rglob("*")
           if not (p.is_dir() and not p.is_symlink()) and not stat.S_ISREG(os.lstat(p).st_mode)]
    assert odd == [], odd
    extra = {}
    for student in job["students"]:
        graded = {p.stem for p in (job["root"] / "autograded" / student / A).glob("*.ipynb")}
        fb = job["root"] / "feedback" / student / A
        files = sorted(str(p.relative_to(fb)) for p in fb.rglob("*") if not p.is_dir()) if fb.exists() else []
        if files != sorted(f"{nb}.html" for nb in graded):
            extra[student] = (files, sorted(graded))
    assert extra == {}, extra


@needs_sandbox
@pytest.mark.parametrize("run", RUNS)
def test_nothing_of_the_host_reaches_a_student(runs, run):
    job = _job(runs, run)
    markers = [HOST_SECRET.encode(), b"root:x:0:0", b"SQLite format 3", b"c.CourseDirectory"]
    found = {}
    for student in job["students"]:
        for p in _student_files(job, student):
            data = p.read_bytes()
            hits = [m.decode() for m in markers if m in data]
            if hits:
                found[str(p.relative_to(job["root"]))] = hits
    assert found == {}, found


@needs_sandbox
@pytest.mark.parametrize("run", RUNS)
def test_links_were_planted_and_the_graded_notebook_is_the_graders(runs, run):
    """The kernel did plant its links (the attack ran); the autograded notebook is the one the grader
    executed, not what the kernel wrote under the notebook's name."""
    job = _job(runs, run)
    for student in ("b_notebook_link", "b_config_link", "b_feedback_links", "b_keras_link"):
        nb = _graded_nb(job, student)
        assert nb is not None, (student, run)
        out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                      if o.get("output_type") == "stream")
        planted = json.loads(out.split("PLANTED ", 1)[1].splitlines()[0])
        assert planted and all(": " not in p for p in planted), (student, planted)
    forged = _graded_nb(job, "b_forged_notebook")
    assert forged is not None and len(forged.cells) > 10, "the forged notebook replaced the graded one"


@needs_sandbox
@pytest.mark.parametrize("run", [r for r in RUNS if r.startswith("plain")])
def test_next_plain_autograde_runs_with_the_course_config(runs, run):
    job = _job(runs, run)
    assert job["next"].returncode == 0, job["next"].stderr[-3000:]
    assert SANDBOX_MARK in job["next"].stderr, job["next"].stderr[-3000:]


def test_saved_model_links_are_never_followed(tmp_path):
    """The model checker's side: a saved model that is a link (to a host file that exists, or not), a FIFO,
    a folder or too large is refused with the same verdict whatever the target, and nothing hangs."""
    from parcel_course.limits import Limits
    from parcel_course.preprocessors.verify_attestations import verify_models
    from parcel_course.registry import find
    check = find("scratch_model")
    limits = Limits(sandbox="none", cell_timeout=60)
    scratch = tmp_path / "scratch"
    (scratch / ".parcel-attest").mkdir(parents=True)
    model = scratch / ".parcel-attest" / f"{check.key}.keras"
    record = [{"key": check.key}]
    verdicts = {}
    for name, plant in [("to /etc/passwd", lambda: model.symlink_to("/etc/passwd")),
                        ("to nothing", lambda: model.symlink_to("/nonexistent/parcel/model.keras")),
                        ("fifo", lambda: os.mkfifo(model)),
                        ("folder", lambda: model.mkdir()),
                        ("too large", lambda: model.write_bytes(b"PK" + b"\0" * (2 * 2**20)))]:
        plant()
        t0 = time.monotonic()
        verdicts[name] = verify_models([(check, record)], scratch, limits.replace(max_file_mb=1))[0]
        assert time.monotonic() - t0 < 30, name
        (shutil.rmtree if model.is_dir() and not model.is_symlink() else os.remove)(model)
    assert all(v and "no saved model the grader can read" in v for v in verdicts.values()), verdicts
    assert verdicts["to /etc/passwd"] == verdicts["to nothing"], verdicts     # no oracle for host paths
    dir_link = scratch / ".parcel-attest"
    shutil.rmtree(dir_link)
    dir_link.symlink_to(tmp_path)                  # the folder itself a link: not followed either
    (tmp_path / f"{check.key}.keras").write_bytes(b"PK")
    through = verify_models([(check, record)], scratch, limits)[0]
    dir_link.unlink()
    dir_link.symlink_to(tmp_path / "nothing-here")
    assert "no saved model the grader can read" in through, through
    assert through == verify_models([(check, record)], scratch, limits)[0]


def test_flags_file_of_a_course_never_graded_before(tmp_path):
    from parcel_course.preprocessors import append_flags
    path = tmp_path / "course" / "autograded" / "integrity-flags.jsonl"      # the course config's flags file
    append_flags(str(path), [dict(notebook="nb", cell="c", reason="flagged")])
    assert json.loads(path.read_text())["reason"] == "flagged"


# -- c) secrets -------------------------------------------------------------------------------------------

@needs_sandbox
@pytest.mark.parametrize("run", RUNS)
def test_no_secret_reaches_the_kernel(runs, run):
    job = _job(runs, run)
    nb = _graded_nb(job, "c_environ")
    assert nb is not None
    text = json.dumps(nb)
    assert "PARCEL_GRADING" in text and "PROC /proc/self/environ" in text, "the kernel printed nothing"
    found = {}
    for student in job["students"]:
        values = {**SECRETS, "host file": HOST_SECRET}
        if not student.startswith("b_"):          # the link attacks name the gradebook's path in their own code
            values["PARCEL_DB_URL"] = DB_DIR
        for p in _student_files(job, student):
            data = p.read_bytes()
            hits = [k for k, v in values.items() if v.encode() in data]
            if hits:
                found[str(p.relative_to(job["root"]))] = hits
    assert found == {}, found


# -- d) output floods -------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("student", list(FLOOD_ATTACKS))
def test_floods_stay_under_the_caps_and_are_flagged(runs, run, student):
    job = _job(runs, run)
    cap = NOTEBOOK_CAP_MB * 2**20
    graded = job["root"] / "autograded" / student / A / f"{BB}.ipynb"
    feedback = job["root"] / "feedback" / student / A / f"{BB}.html"
    assert graded.exists() and feedback.exists(), (student, run)
    assert graded.stat().st_size < cap + 2**20, graded.stat().st_size
    assert feedback.stat().st_size < cap + 2 * 2**20, feedback.stat().st_size
    assert "output dropped" in graded.read_text(), "no note where the output was dropped"
    # the ledger's flags (cli); the course's flags file, which does not name the student (the others)
    reasons = job["flags"].get(student if job["path"] == "cli" else "", [])
    assert any("MB of output" in r for r in reasons), reasons


# -- e) a sandbox that cannot import the student package -------------------------------------------------

HIDE_STUDENT_PACKAGE = '''
# red team: this course's sandbox cannot see the student package (as with a venv whose editable install
# points at a folder the sandbox does not show)
import parcel_course.sandbox as _sandbox, parcel_utils as _pu
_hidden = os.path.dirname(os.path.realpath(_pu.__file__))
_shown = _sandbox.python_paths
_sandbox.python_paths = lambda: [p for p in _shown() if p != _hidden]
'''


# ... and the same in every Python process of the grader that PYTHONPATH reaches (parcel-course grade's
# workers and the nbgrader they start: the kernels' check runs there), never the kernel (its environment is
# an allow-list)
HIDE_SITECUSTOMIZE = "import os\n" + HIDE_STUDENT_PACKAGE


@pytest.fixture(scope="module")
def refusals(request, tmp_path_factory):
    """A course whose sandbox cannot import parcel_utils, graded through each path as root or as the user."""
    base, template, course = _temp_course(tmp_path_factory, "redteam-preflight", [A])
    with open(template / "nbgrader_config.py", "a") as fh:
        fh.write(HIDE_STUDENT_PACKAGE)
    user = _grader_user()
    needs = _hidden_needs() if IS_ROOT else []
    out, jobs = {}, []
    for run in _wanted(request, "refusals"):
        if run.endswith("-root") and not IS_ROOT:
            out[run] = "the tests do not run as root"
            continue
        if run.endswith("-user") and isinstance(user, str):
            out[run] = user
            continue
        job = _prepare_small(template, run, user if run.endswith("-user") else (0, 0), needs)
        jobs.append(job)

    def go(job):
        try:
            if job["path"] == "formgrader":
                proc, log, url, token = _start_server(job)
                try:
                    job["api"] = _post(url, token, f"/formgrader/api/submission/{A}/ada/autograde")
                finally:
                    _stop(proc)
                    log.close()
            elif job["path"] == "cli":
                job["grade"] = _cli(job, "grade", "--workers", "1")
            else:
                job["grade"] = _run(job, [*nbgrader_executable(), "autograde", A, "--force"])
            job["scores"] = _scores(job)
        except Exception as exc:  # noqa: BLE001
            job["error"] = f"{type(exc).__name__}: {exc}"
        return job
    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in pool.map(go, jobs):
            out[job["run"]] = job
    yield out
    if not os.environ.get("PARCEL_KEEP_REDTEAM"):
        for job in jobs:
            shutil.rmtree(job["base"], ignore_errors=True)


def _prepare_small(template, run, ids, needs):
    path, uid = run.split("-")
    base = Path(tempfile.mkdtemp(prefix=f"parcel-redteam-pf-{run}-"))
    base.chmod(0o755)
    root = base / "course"
    shutil.copytree(template, root, symlinks=True)
    (base / "home").mkdir()
    course = Course(root)
    _reference(course, "ada")
    job = dict(run=run, path=path, uid=uid, base=base, root=root, db=root / "gradebook.db", ids=ids, needs=needs,
               students=["ada"])
    (base / "simulate").mkdir()
    (base / "simulate" / "sitecustomize.py").write_text(HIDE_SITECUSTOMIZE)
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange"), "PARCEL_DATA_DIR": _data_dir(),
                       "PYTHONPATH": str(base / "simulate")})
    env.pop("PARCEL_GRADING", None)
    env.pop("PARCEL_DB_URL", None)
    for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env[k] = str(base / "home" / k.lower())
    if uid == "user" and IS_ROOT:
        env.update(HOME=str(base / "home"), USER=USER, LOGNAME=USER)
        for p in [base, *base.rglob("*")]:
            os.chown(p, *ids, follow_symlinks=False)
    job["env"] = env
    return job


@pytest.mark.parametrize("run", RUNS)
def test_a_sandbox_without_the_student_package_refuses_to_grade(refusals, run):
    job = refusals[run]
    if isinstance(job, str):
        pytest.skip(job)
    assert "error" not in job, job["error"]
    if job["path"] == "formgrader":
        said = (job["api"].get("error") or "") + (job["api"].get("log") or "")
        assert job["api"].get("success") is False, job["api"]
    else:
        said = job["grade"].stderr
        assert job["grade"].returncode != 0, (job["grade"].stdout[-2000:], said[-2000:])
    assert "refusing to grade: the sandboxed grading kernel of 01_convolution cannot load" in said, said[-3000:]
    assert "parcel_utils" in said, said[-3000:]
    if job["path"] == "cli":               # one sentence, the last line
        last = said.strip().splitlines()[-1]
        assert last.startswith("parcel-course: refusing to grade") and last.count(". ") == 0, last
    assert not list((job["root"] / "autograded").glob(f"*/{A}/*.ipynb")), "graded anyway"
    # nothing scored: no submission in the gradebook, or one whose cells were never graded
    ada = job["scores"]["ada"]
    assert ada is None or all(v is None for v in ada["cells"].values()), ada


# -- the table --------------------------------------------------------------------------------------------

def test_zz_print_the_table(runs):
    """The scores of every student on every run (for the issue's closing note), printed with -s or -rA."""
    shown = [r for r in RUNS if r in RESULTS]
    if not shown:
        pytest.skip("no run graded")
    lines = [f"{'student':24s} " + " ".join(f"{r:>16s}" for r in shown)]
    for s in ["ada", "blank", *HOSTILE]:
        lines.append(f"{s:24s} " + " ".join(f"{str(RESULTS[r].get(s)):>16s}" for r in shown))
    lines.append("seconds".ljust(24) + " " + " ".join(f"{str(runs[r]['seconds']):>16s}" for r in shown
                                                       if isinstance(runs[r], dict)))
    print("\n" + "\n".join(lines))
    (Path(tempfile.gettempdir()) / "parcel-redteam-table.txt").write_text("\n".join(lines) + "\n")
    assert RESULTS
