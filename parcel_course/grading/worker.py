"""The grading worker: one submission graded in a private course directory (nbgrader issue #174).

:func:`grade_submission` runs in a worker process (a local process or a Dask
worker).  It writes a private temporary course directory, readable by no one
else: its nbgrader config (:func:`parcel_course.config.configure_course`),
a copy of the gradebook without students, the assignment's non-notebook files
and the submission, nothing else.  It runs the real ``nbgrader autograde``
there (forked from the worker where that is safe, see :func:`_start_nbgrader`),
with the kernel in the sandbox (:mod:`parcel_course.sandbox`), watches its
memory, processes and disk from outside, and reads back the grades, the
autograded notebooks, the flags and the timings into a :class:`GradeResult`.
A worker never raises: the batch goes on.

Jobs carry their files by value, so a worker needs no shared file system.
The instructor's side is :mod:`.schedule` (jobs, executors) and
:mod:`.gradebook` (the snapshot each job carries, the merge of each result).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbgrader.api import Gradebook, MissingEntry

from ..config import DIGESTS_FILE, FLAGS_FILE, TIMINGS_FILE
from ..directory import CourseError, grading_env, nbgrader_executable
from ..limits import Limits, thread_caps
from ..sandbox import disk_usage_mb, sandbox_available
from ..verify_model import checker_server

__all__ = ["GradeJob", "GradeResult", "grade_submission", "digest_files", "PHASES"]

SANDBOX_MARK = "parcel-sandbox: kernel started in bwrap"


#: Where a submission's grading time goes (``GradeResult.phases``, seconds).
PHASES = {
    "worker": "our worker: the private course directory written, results read back, cleaned up",
    "reference": "what the reference gives for the hidden tests, and the model checker's start (Keras "
                 "imported), once per worker before it forks",
    "nbgrader": "nbgrader itself: its start, sanitising, the static scan, the attested inputs, saving the grades",
    "kernel": "the student's kernel started in the sandbox (interpreter, sockets), its check before the first "
              "cell (the notebook's imports: parcel_course.preflight), and shut down",
    "cells": "the notebook's cells in the kernel (the student's imports and code, the tests)",
    "verify_values": "the attested values checked outside the kernel, in nbgrader's process",
    "verify_models": "the saved models checked in the sandboxed checker process",
    "merge": "the result merged into the course gradebook and autograded/, in the instructor's process",
}


@dataclass
class GradeJob:
    student: str
    assignment: str
    files: dict                      # relative path -> bytes, the submission
    gradebook: bytes                 # a snapshot of the course gradebook
    extra_files: dict = field(default_factory=dict)  # source/<a>/ files that are not notebooks
    limits: Limits | None = None     # resolved for the assignment by collect_jobs; no job is graded without them
    digest: str = ""
    instructor_cells: dict = field(default_factory=dict)  # notebook -> digests of its non-answer code cells
    intake_flags: list = field(default_factory=list)  # dicts: notebook, cell, reason; what intake refused or flagged
    check_imports: dict = field(default_factory=dict)  # notebook -> modules its kernel's check imports (preflight)


@dataclass
class GradeResult:
    student: str
    assignment: str
    status: str                      # graded | error | timeout | killed | refused (the kernel's check: preflight)
    reason: str = ""
    score: float = 0.0
    max_score: float = 0.0
    grades: list = field(default_factory=list)     # dicts: notebook, grade_id, auto_score, max_score, needs_manual_grade, failed, error
    comments: list = field(default_factory=list)   # dicts: notebook, grade_id, auto_comment
    timestamp: str | None = None
    seconds: float = 0.0
    execution_seconds: float = 0.0
    sandbox: str = "none"
    launcher: str = ""               # how nbgrader was started: "fork" of the worker, or a fresh "process"
    notebooks: dict = field(default_factory=dict)  # name -> autograded notebook text
    flags: list = field(default_factory=list)      # dicts: notebook, cell, reason
    digest: str = ""
    log: str = ""
    phases: dict = field(default_factory=dict)     # where the seconds went: see PHASES
    sandbox_checked: bool = False    # a kernel of this job passed its check (parcel_course.preflight)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("notebooks")
        return d


def digest_files(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


def _write_tree(base: Path, files: dict) -> None:
    for rel, data in files.items():
        target = (base / rel).resolve()
        if not target.is_relative_to(base.resolve()):
            raise CourseError(f"refusing to write {rel!r} outside the grading directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _worker_config(limits: Limits, check_imports: dict) -> str:
    """The worker's ``nbgrader_config.py``: the course's one configuration (:func:`parcel_course.config.configure_course`)
    of its private course directory, with the job's limits and the modules each notebook's kernel check
    imports (the private directory has no source notebook to read them from)."""
    return ("import os\n"
            "from parcel_course.config import configure_course\n"
            "from parcel_course.limits import Limits\n"
            "c = get_config()\n"
            "configure_course(c, os.path.dirname(os.path.abspath(__file__)),\n"
            f"                 Limits(**{asdict(limits)!r}), private=True)\n"
            f"c.SandboxedExecute.check_imports = {dict(check_imports)!r}\n")


def _kernel_usage(proc) -> tuple[float, int]:
    """Resident memory (MB) of nbgrader and everything it started, and the number of processes it started."""
    try:
        me = psutil.Process(proc.pid)
        kids = me.children(recursive=True)
    except psutil.Error:
        return 0.0, 0
    total = 0
    for q in [me, *kids]:   # nbgrader itself too: it holds what the kernel printed
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20, len(kids)


def grade_submission(job: GradeJob) -> GradeResult:
    """Grade one submission in a private temporary course directory (runs in a worker; never raises).

    Its steps: the private course directory written (:func:`_write_private_course`); what the reference
    gives computed once per worker (:func:`warm_reference`, :func:`warm_checker`); ``nbgrader autograde``
    run there and watched from outside (:func:`_run_nbgrader`); the run's verdict (:func:`_verdict`); the
    grades, flags and timings read back (:func:`_read_back`).  The directory is removed whatever happens.

    Example
    -------
    >>> res = grade_submission(job)                  # doctest: +SKIP
    >>> res.status, res.score, res.max_score         # doctest: +SKIP
    ('graded', 7.0, 7.0)
    """
    t0 = time.perf_counter()
    res = GradeResult(job.student, job.assignment, status="error", digest=job.digest)
    limits = job.limits
    if limits is None or limits.cell_timeout <= 0 or limits.total_timeout <= 0:
        res.reason = ("the job carries no limits resolved for its assignment: make jobs with "
                      "parcel_course.grading.collect_jobs (or parcel_course.limits.assignment_limits)")
        return res
    if limits.sandbox == "auto":
        limits = limits.replace(sandbox="bwrap" if sandbox_available() else "none")
    res.sandbox = limits.sandbox
    tmp = Path(tempfile.mkdtemp(prefix="parcel-grade-"))
    try:
        _write_private_course(tmp, job, limits)
        env = grading_env(thread_caps(limits.threads))
        env.pop("PARCEL_DB_URL", None)   # the worker's gradebook is its private file; no kernel sees the server's
        if _forks(limits.preload):       # once per worker and assignment; the forked graders inherit it
            t_warm = time.perf_counter()
            warm_reference(job.assignment)
            warm_checker(job.assignment, limits)
            res.phases["reference"] = round(time.perf_counter() - t_warm, 3)
        status, reason, returncode = _run_nbgrader(tmp, job, limits, env, res)
        res.status, res.reason = _verdict(res.log, limits.sandbox, status, reason, returncode)
        _read_back(tmp, job, res)
    except Exception as exc:  # a worker never raises: the batch goes on
        res.status, res.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.seconds = time.perf_counter() - t0
    res.phases["worker"] = round(res.seconds - res.execution_seconds - res.phases.get("reference", 0.0), 3)
    return res


def _write_private_course(tmp: Path, job: GradeJob, limits: Limits) -> None:
    """The worker's course directory ``tmp`` (mode 0700): its config, the gradebook snapshot (0600), the
    assignment's non-notebook files, the submission, the instructor cells' digests for the static scan."""
    os.chmod(tmp, 0o700)
    (tmp / "nbgrader_config.py").write_text(_worker_config(limits, job.check_imports))
    (tmp / "gradebook.db").write_bytes(job.gradebook)
    os.chmod(tmp / "gradebook.db", 0o600)
    _write_tree(tmp / "source" / job.assignment, job.extra_files)
    (tmp / "source" / job.assignment).mkdir(parents=True, exist_ok=True)
    _write_tree(tmp / "submitted" / job.student / job.assignment, job.files)
    # the static scan runs in nbgrader (preprocessors.scan_submission), with the instructor cells' digests
    (tmp / DIGESTS_FILE).write_text(json.dumps(job.instructor_cells))


def _run_nbgrader(tmp: Path, job: GradeJob, limits: Limits, env: dict, res: GradeResult) -> tuple[str, str, int]:
    """``nbgrader autograde`` of the job in ``tmp``, watched until it ends or breaks a cap (then killed).

    Sets ``res``'s launcher, execution seconds and log; returns the watcher's status and reason and
    nbgrader's exit code.
    """
    args = ["autograde", job.assignment, f"--student={job.student}", "--create", "--force", "--log-level=INFO"]
    t_exec = time.perf_counter()
    with open(tmp / "autograde.log", "w") as log:
        proc = _start_nbgrader(args, tmp, env, log, preload=limits.preload)
        res.launcher = "fork" if isinstance(proc, _Forked) else "process"
        status, reason = _watch(proc, tmp / "autograded", limits)
        if proc.poll() is None:
            _kill_tree(proc)
    res.execution_seconds = time.perf_counter() - t_exec
    res.log = (tmp / "autograde.log").read_text(errors="replace")[-20000:]
    return status, reason, proc.returncode


def _watch(proc, autograded: Path, limits: Limits) -> tuple[str, str]:
    """Wait for ``proc``, every 0.25 s checking the total timeout, the processes, the memory and the disk
    written under ``autograded``; ``("graded", "")`` when it ends, else the broken cap (``proc`` still runs)."""
    deadline = time.monotonic() + limits.total_timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return "timeout", f"grading took more than {limits.total_timeout} s"
        rss, nproc = _kernel_usage(proc)
        if nproc > limits.max_kernel_processes:
            return "killed", (f"the kernel started {nproc} processes, above the cap of "
                              f"{limits.max_kernel_processes}")
        if rss > limits.memory_mb:
            return "killed", f"the kernel used {rss:.0f} MB, above the {limits.memory_mb} MB cap"
        disk = disk_usage_mb(autograded)
        if disk > limits.max_disk_mb:
            return "killed", f"the kernel wrote {disk:.0f} MB of files, above the {limits.max_disk_mb} MB cap"
        time.sleep(0.25)
    return "graded", ""


def _verdict(log: str, sandbox: str, status: str, reason: str, returncode: int) -> tuple[str, str]:
    """The run's status and reason: the watcher's, unless the log shows the config failed to load or the
    kernel outside the sandbox it should have started in, or nbgrader failed (:func:`_classify_failure`)."""
    if "Exception while loading config file" in log:
        status, reason = "error", "the grading configuration failed to load (see the log); nothing was graded"
    elif sandbox == "bwrap" and SANDBOX_MARK not in log:
        status, reason = "error", "the kernel did not start in the sandbox; refusing to grade without it"
    if status == "graded" and returncode != 0:
        status, reason = _classify_failure(log, returncode)
    return status, reason


def _read_back(tmp: Path, job: GradeJob, res: GradeResult) -> None:
    """The grades (:func:`_read_results`), flags and timings of the run in ``tmp`` into ``res``; a kernel
    that died or was killed is named, with a flag saying which test cells got no credit."""
    _read_results(tmp, job, res)
    if res.status == "graded" and any(g.get("kernel_died") for g in res.grades):
        res.status, res.reason = "killed", "the kernel died while the notebook ran"
    res.flags = list(job.intake_flags) + res.flags + _read_flags(tmp / FLAGS_FILE)
    res.phases.update(_read_phases(tmp / TIMINGS_FILE, res.execution_seconds))
    checks = _read_sandbox_checks(tmp / TIMINGS_FILE)
    res.sandbox_checked = "passed" in checks
    refusals = [c for c in checks if c != "passed"]
    if refusals:      # the kernel cannot run what the assignment needs: not this student's grade
        res.status, res.reason = "refused", refusals[0]
        return
    killed = [f["reason"] for f in res.flags if f.get("kind") == "killed"]
    if killed and res.status != "timeout":   # the kernel manager's watcher killed it: say why
        res.status, res.reason = "killed", killed[0].removeprefix("killed: ")
    if res.status in ("killed", "timeout"):
        res.flags.append(dict(notebook="", cell="", reason=(
            f"the kernel did not reach the last cell ({res.status}: {res.reason}); no test cell of the "
            "notebook it was running got credit, those after that point did not run")))


def _timing_records(path: Path) -> list:
    """The JSON lines of the timings file the grader's preprocessors wrote (dicts; a broken line skipped)."""
    found = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            found.append(rec)
    return found


def _read_sandbox_checks(path: Path) -> list:
    """How the kernels' checks went ('passed' or a refusal), as the grader's preprocessor recorded them in
    the timings file (:func:`parcel_course.preprocessors.common.append_sandbox_check`)."""
    return [r["sandbox_check"] for r in _timing_records(path) if isinstance(r.get("sandbox_check"), str)]


def _read_phases(path: Path, execution_seconds: float) -> dict:
    """The seconds of each phase in :data:`PHASES` the grader's preprocessors recorded (summed over notebooks);
    what nbgrader's run took beyond them is nbgrader's own."""
    phases = {k: 0.0 for k in ("kernel", "cells", "verify_values", "verify_models")}
    for rec in _timing_records(path):
        for k in phases:
            phases[k] += float(rec.get(k, 0.0))
    phases["nbgrader"] = max(0.0, execution_seconds - sum(phases.values()))
    return {k: round(v, 3) for k, v in phases.items()}


#: What ``nbgrader autograde`` imports before it grades anything (about 2 s of CPU each time).
PRELOAD_MODULES = ("nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbgrader.converters",
                   "nbgrader.preprocessors", "nbclient", "jupyter_client", "parcel_course.preprocessors.guarded_execute",
                   "parcel_course.preprocessors.verify_attestations", "parcel_course.preprocessors.write_attest_inputs")


def preload_nbgrader() -> bool:
    """Import what nbgrader needs to grade, once per worker; True if it could (see :func:`_start_nbgrader`)."""
    try:
        for name in PRELOAD_MODULES:
            importlib.import_module(name)
    except Exception:   # noqa: BLE001 - a fresh process will say what is wrong, in the log
        return False
    return True


class _Forked:
    """The few methods of ``subprocess.Popen`` the grader uses, for a child made by ``os.fork``."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass


def warm_reference(assignment: str) -> None:
    """Compute once per worker what the grader needs from the reference for ``assignment``
    (:func:`parcel_course.registry.warm`); a failure only means each grader computes it itself."""
    try:
        from .. import registry   # each assignment's checks and reference: only a forking worker warms them
        registry.warm(assignment)
    except Exception:   # noqa: BLE001 - the grader's own check will say what is wrong, in the notebook
        pass


def warm_checker(assignment: str, limits: Limits) -> None:
    """Where ``assignment`` has saved models to check: the worker's model checker server, started once
    (:func:`parcel_course.verify_model.checker_server`; Keras imported once, not per submission)."""
    from .. import registry   # each assignment's checks: only a forking worker warms them
    if any(c.kind == "model" for c in registry.checks_of(assignment)):
        try:
            checker_server(limits)
        except (OSError, RuntimeError):   # each grader then starts its own checker, as plain nbgrader does
            pass


def _forks(preload: bool) -> bool:
    """Whether this worker grades by forking itself (see :func:`_start_nbgrader`)."""
    return preload and hasattr(os, "fork") and threading.active_count() == 1 and preload_nbgrader()


def _start_nbgrader(args: list, cwd: Path, env: dict, log, preload: bool = True):
    """Start ``nbgrader ARGS`` in ``cwd`` with ``env``, its output into ``log``; a Popen-like handle.

    A fresh ``python -m nbgrader`` spends about 2 s of CPU importing nbgrader,
    nbconvert and jupyter_client before it grades anything, for every
    submission.  Where it is safe (POSIX, the worker has imported them and runs
    a single thread, as a process-pool worker does), the worker forks itself
    instead: the child starts with all that imported, in its own session,
    directory and environment, and runs nbgrader's own command-line entry
    point.  The worker never creates an nbgrader application itself, so each
    child starts from nbgrader's defaults and the grading directory's config,
    as a fresh process would.  Elsewhere (a Dask worker, which runs threads;
    ``Limits.preload=False``) it is a fresh process.  The student's kernel is
    a fresh process either way, started by nbgrader in the sandbox.
    A forking worker has also computed, once, what the reference gives for the
    assignment (:func:`warm_reference`): each child finds it done.
    """
    if not _forks(preload):
        return subprocess.Popen([*nbgrader_executable(), *args], cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 1
    try:                                  # the child: never returns into the worker's code
        os.setsid()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["nbgrader", *args]
        from nbgrader.apps.nbgraderapp import NbGraderApp   # imported once by the worker (PRELOAD_MODULES)
        try:
            NbGraderApp.launch_instance(argv=list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:                 # noqa: BLE001 - say why in the log, as a fresh process would
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _read_flags(path: Path) -> list:
    """Flags the grader's preprocessors wrote (JSON lines), outside the kernel's reach."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(dict(notebook="", cell="", reason="unreadable integrity flag: " + line[:200]))
    return out


def _kill_tree(proc) -> None:
    try:
        parent = psutil.Process(proc.pid)
        kids = parent.children(recursive=True)
    except psutil.Error:
        kids = []
    for p in kids:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.kill()
    proc.wait()


def _classify_failure(log: str, returncode: int) -> tuple[str, str]:
    """Status and one-line reason of a failed ``nbgrader autograde`` run, from its log."""
    if "CellTimeoutError" in log or "TimeoutError: A cell timed out" in log:
        return "timeout", "a cell ran longer than the per-cell timeout"
    if "DeadKernelError" in log or "Kernel died" in log:
        return "killed", "the kernel died while the notebook ran (it crashed or exited)"
    return "error", _first_error(log) or f"nbgrader autograde exited with {returncode}"


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "[ERROR]" in line or "Error:" in line:
            return line.strip()[:300]
    return ""


def _released_source(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """An instructor cell's source as released (hidden tests cut, as nbgrader's ``ClearHiddenTests`` does),
    normalised for comparison: no trailing spaces, no blank lines at either end."""
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            lines.append(line.rstrip())
    return "\n".join(lines).strip("\n")


def _tampered_cells(gradebook_url: str, job: GradeJob) -> list:
    """Flags for the nbgrader metadata or locked sources a submission changed, one per cell, naming it.

    Compares each submitted notebook with the assignment's cells in the gradebook (what the instructor
    released): a cell's type, its test/answer marks, a test cell's points, a locked cell's source
    (hidden tests aside).  nbgrader's ``OverwriteCells`` restores type, points and locked sources
    before the kernel runs (its log says only "Attribute ... has changed!", for every test cell with
    hidden tests too); an answer cell re-marked as a test cell stops nbgrader on that notebook.

    Example
    -------
    >>> _tampered_cells("sqlite:////tmp/g/gradebook.db", job)          # doctest: +SKIP
    [{'notebook': 'cnn_building_blocks', 'cell': 'test_relu', 'kind': 'metadata', 'reason': "tampered ..."}]
    """
    flags = []
    with Gradebook(gradebook_url, "parcel-course") as gb:
        for name in sorted(job.files):
            if not name.endswith(".ipynb") or "/" in name:
                continue
            stem = name[: -len(".ipynb")]
            try:
                source_nb = gb.find_notebook(stem, job.assignment)
                nb = nbformat.reads(job.files[name].decode("utf-8", "replace"), as_version=4)
            except Exception:   # noqa: BLE001 - not an assignment notebook (MissingEntry), or unreadable: nbgrader says so
                continue
            cells = {c.name: c for c in source_nb.source_cells}
            points = {c.name: float(c.max_score) for c in source_nb.grade_cells}
            answers = {c.name for c in source_nb.solution_cells}
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                gid = meta.get("grade_id")
                if not gid or gid not in cells:
                    continue
                src, changed, restored = cells[gid], [], True
                if cell.get("cell_type") != src.cell_type:
                    changed.append(f"its type was changed from {src.cell_type} to {cell.get('cell_type')}")
                if bool(meta.get("grade")) != (gid in points):
                    changed.append(f"it was re-marked as a test cell worth {meta.get('points', 0)} point(s)"
                                   if meta.get("grade") else "its test-cell mark was removed")
                    restored = False
                elif gid in points:
                    try:
                        got = float(meta.get("points", 0))
                    except (TypeError, ValueError):
                        got = float("nan")
                    if got != points[gid]:
                        changed.append(f"its points were changed from {points[gid]:g} to {meta.get('points')}")
                if bool(meta.get("solution")) != (gid in answers):
                    changed.append("it was re-marked as an answer cell" if meta.get("solution")
                                   else "its answer-cell mark was removed")
                    restored = False
                if src.locked and _released_source(cell.get("source", "")) != _released_source(src.source or ""):
                    changed.append("its locked source was edited")
                if changed:
                    what = ("nbgrader restored the released cell before grading" if restored else
                            "nbgrader does not restore these marks")
                    flags.append(dict(notebook=stem, cell=gid, kind="metadata", reason=(
                        f"tampered: {name}, cell {gid}: " + "; ".join(changed) + f" ({what})")))
    return flags


def _read_results(tmp: Path, job: GradeJob, res: GradeResult) -> None:
    """Read the grades nbgrader wrote into the private gradebook, and name the cells a submission tampered with.

    A submission whose nbgrader metadata or locked cells were changed gets one flag per cell
    (:func:`_tampered_cells`); where nbgrader then refused the notebook, the ledger's reason says so
    instead of the first error of its log (the kernel never started, so the sandbox check misleads).
    """
    try:
        tampered = _tampered_cells("sqlite:///" + str(tmp / "gradebook.db"), job)
    except Exception as exc:  # noqa: BLE001 - a check that fails must not lose the grades
        tampered = [dict(notebook="", cell="", reason=f"could not compare the cells with the release: {exc}")]
    res.flags.extend(tampered)
    cells = ", ".join(f"{f['notebook']}.ipynb cell {f['cell']}" for f in tampered if f.get("cell"))
    if cells and res.status == "error" and "There was an error processing assignment" in res.log:
        res.reason = (f"nbgrader refused the submission: its notebook metadata was tampered with ({cells}; "
                      "see the flags); nothing was graded. Give the student's answers a fresh release "
                      "notebook, or restore those cells' nbgrader metadata, and grade again")
    elif cells and res.status == "graded" and not res.reason:
        res.reason = f"tampered cells restored by nbgrader ({cells}; see the flags); graded as released"
    outputs = {}
    adir = tmp / "autograded" / job.student / job.assignment
    for p in sorted(adir.glob("*.ipynb")):
        if p.name not in job.files:      # written by the kernel in its own directory, not graded
            continue
        res.notebooks[p.stem] = p.read_text()
        nb = nbformat.reads(res.notebooks[p.stem], as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                errs = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                outputs[(p.stem, meta["grade_id"])] = errs
    with Gradebook("sqlite:///" + str(tmp / "gradebook.db"), "parcel-course") as gb:
        try:
            sub = gb.find_submission(job.assignment, job.student)
        except MissingEntry:
            return
        res.timestamp = sub.timestamp.isoformat() if sub.timestamp else None
        for nb in sub.notebooks:
            for g in nb.grades:
                errs = outputs.get((nb.name, g.name), [])
                score = g.auto_score
                if g.cell_type == "code" and not g.needs_manual_grade and score is None:
                    score = 0.0
                res.grades.append(dict(
                    notebook=nb.name, grade_id=g.name, auto_score=score, max_score=g.max_score,
                    needs_manual_grade=bool(g.needs_manual_grade), cell_type=g.cell_type,
                    failed=bool(errs) or (score is not None and score < g.max_score),
                    error=(errs[0]["ename"] + ": " + str(errs[0].get("evalue", ""))[:200]) if errs else "",
                    kernel_died=any(e.get("ename") in ("DeadKernelError",) for e in errs)))
            for c in nb.comments:
                res.comments.append(dict(notebook=nb.name, grade_id=c.name, auto_comment=c.auto_comment))
        res.score = float(sub.score or 0)
        res.max_score = float(sub.max_score or 0)
