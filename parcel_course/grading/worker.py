"""Parallel, isolated autograding (nbgrader issue #174).

Each submission is graded by its own worker in a private temporary course
directory: a copy of the gradebook, the assignment's non-notebook files and
the submission, nothing else.  The worker runs the real ``nbgrader autograde``
there, with the kernel in the sandbox (:mod:`.sandbox`), and sends back the
grades and the autograded notebooks; the instructor's process merges them
into the course gradebook as each one arrives, so an interrupted run loses
nothing and a rerun skips what is already graded.

Jobs carry their files by value, so a worker needs no shared file system:
the pool is any ``concurrent.futures`` executor, local processes by default
or a Dask cluster (``distributed.Client(address).get_executor()``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from ..directory import Course, CourseError, grading_env, nbgrader_executable
from ..limits import Limits, assignment_limits, limits_config, thread_caps, threads_per_worker
from ..sandbox import disk_usage_mb

__all__ = ["Limits", "GradeJob", "GradeResult", "grade_submission", "grade_all", "collect_jobs"]

LEDGER = "parcel-grade.json"
FLAGS_FILE = "integrity-flags.jsonl"
DIGESTS_FILE = "instructor-cells.json"
TIMINGS_FILE = "timings.jsonl"
SANDBOX_MARK = "parcel-sandbox: kernel started in bwrap"


#: Where a submission's grading time goes (``GradeResult.phases``, seconds).
PHASES = {
    "worker": "our worker: the private course directory written, results read back, cleaned up",
    "reference": "what the reference gives for the hidden tests, and the model checker's start (Keras "
                 "imported), once per worker before it forks",
    "nbgrader": "nbgrader itself: its start, sanitising, the static scan, the attested inputs, saving the grades",
    "kernel": "the student's kernel started in the sandbox (interpreter, sockets) and shut down",
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
    limits: Limits = field(default_factory=Limits)
    digest: str = ""
    instructor_cells: dict = field(default_factory=dict)  # notebook -> digests of its non-answer code cells
    intake_flags: list = field(default_factory=list)  # dicts: notebook, cell, reason; what intake refused or flagged


@dataclass
class GradeResult:
    student: str
    assignment: str
    status: str                      # graded | error | timeout | killed
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

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("notebooks")
        return d


def digest_files(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


def read_tree(path: Path, ignore=(".ipynb_checkpoints", "__pycache__")) -> dict:
    """The regular files under ``path`` (an instructor's folder), never following a link (:mod:`.intake`).

    Anything intake refuses there (a link, a FIFO, a file over the caps) is an error the instructor must fix.
    """
    from ..intake import read_submission
    got = read_submission(path, ignore=ignore, hard_links=True)
    if got.refused:
        raise CourseError(f"{path}: " + "; ".join(r.line() for r in got.refused)
                          + ": replace links with copies of the files")
    return got.files


def _write_tree(base: Path, files: dict) -> None:
    for rel, data in files.items():
        target = (base / rel).resolve()
        if not target.is_relative_to(base.resolve()):
            raise CourseError(f"refusing to write {rel!r} outside the grading directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _worker_config(limits: Limits) -> str:
    """The worker's nbgrader config: its private course directory, the course's integrity and the job's limits."""
    return f"""
c = get_config()
import os
here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "parcel-course"
c.CourseDirectory.root = here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.src.py"]
{limits_config(limits)}
from parcel_course.config import configure_grading
configure_grading(c, flags_path=os.path.join(here, {FLAGS_FILE!r}), timings_path=os.path.join(here, {TIMINGS_FILE!r}))
c.ScanSubmission.digests_path = os.path.join(here, {DIGESTS_FILE!r})
c.WriteAttestInputs.preflight = False     # parcel-course grade checked the sandbox once, before its batch
"""


def _kernel_usage(proc) -> tuple[float, int]:
    """Resident memory (MB) of nbgrader and everything it started, and the number of processes it started."""
    import psutil
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
    """Grade one submission in a private temporary course directory (runs in a worker)."""
    from ..sandbox import sandbox_available
    t0 = time.perf_counter()
    res = GradeResult(job.student, job.assignment, status="error", digest=job.digest)
    limits = job.limits
    if limits.sandbox == "auto":
        limits = limits.replace(sandbox="bwrap" if sandbox_available() else "none")
    res.sandbox = limits.sandbox
    tmp = Path(tempfile.mkdtemp(prefix="parcel-grade-"))
    try:
        os.chmod(tmp, 0o700)
        (tmp / "nbgrader_config.py").write_text(_worker_config(limits))
        (tmp / "gradebook.db").write_bytes(job.gradebook)
        os.chmod(tmp / "gradebook.db", 0o600)
        _write_tree(tmp / "source" / job.assignment, job.extra_files)
        (tmp / "source" / job.assignment).mkdir(parents=True, exist_ok=True)
        _write_tree(tmp / "submitted" / job.student / job.assignment, job.files)
        # the static scan runs in nbgrader (preprocessors.scan_submission), with the instructor cells' digests
        (tmp / DIGESTS_FILE).write_text(json.dumps(job.instructor_cells))
        args = ["autograde", job.assignment, f"--student={job.student}", "--create", "--force",
                "--log-level=INFO"]
        env = grading_env(thread_caps(limits.threads))
        env.pop("PARCEL_DB_URL", None)   # the worker's gradebook is its private file; no kernel sees the server's
        if _forks(limits.preload):       # once per worker and assignment; the forked graders inherit it
            t_warm = time.perf_counter()
            warm_reference(job.assignment)
            warm_checker(job.assignment, limits)
            res.phases["reference"] = round(time.perf_counter() - t_warm, 3)
        t_exec = time.perf_counter()
        with open(tmp / "autograde.log", "w") as log:
            proc = _start_nbgrader(args, tmp, env, log, preload=limits.preload)
            res.launcher = "fork" if isinstance(proc, _Forked) else "process"
            status, reason = "graded", ""
            deadline = time.monotonic() + limits.total_timeout
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    status, reason = "timeout", f"grading took more than {limits.total_timeout} s"
                    break
                rss, nproc = _kernel_usage(proc)
                if nproc > limits.max_kernel_processes:
                    status, reason = "killed", (f"the kernel started {nproc} processes, above the cap of "
                                                f"{limits.max_kernel_processes}")
                    break
                if rss > limits.memory_mb:
                    status, reason = "killed", f"the kernel used {rss:.0f} MB, above the {limits.memory_mb} MB cap"
                    break
                disk = disk_usage_mb(tmp / "autograded")
                if disk > limits.max_disk_mb:
                    status, reason = "killed", (f"the kernel wrote {disk:.0f} MB of files, above the "
                                                f"{limits.max_disk_mb} MB cap")
                    break
                time.sleep(0.25)
            if proc.poll() is None:
                _kill_tree(proc)
        res.execution_seconds = time.perf_counter() - t_exec
        res.log = (tmp / "autograde.log").read_text(errors="replace")[-20000:]
        if "Exception while loading config file" in res.log:
            status, reason = "error", "the grading configuration failed to load (see the log); nothing was graded"
        elif limits.sandbox == "bwrap" and SANDBOX_MARK not in res.log:
            status, reason = "error", "the kernel did not start in the sandbox; refusing to grade without it"
        if status == "graded" and proc.returncode != 0:
            status, reason = _classify_failure(res.log, proc.returncode)
        res.status, res.reason = status, reason
        _read_results(tmp, job, res)
        if res.status == "graded" and any(g.get("kernel_died") for g in res.grades):
            res.status, res.reason = "killed", "the kernel died while the notebook ran"
        res.flags = list(job.intake_flags) + res.flags + _read_flags(tmp / FLAGS_FILE)
        res.phases.update(_read_phases(tmp / TIMINGS_FILE, res.execution_seconds))
        killed = [f["reason"] for f in res.flags if f.get("kind") == "killed"]
        if killed and res.status != "timeout":   # the kernel manager's watcher killed it: say why
            res.status, res.reason = "killed", killed[0].removeprefix("killed: ")
        if res.status in ("killed", "timeout"):
            res.flags.append(dict(notebook="", cell="", reason=(
                f"the kernel did not reach the last cell ({res.status}: {res.reason}); no test cell of the "
                "notebook it was running got credit, those after that point did not run")))
    except Exception as exc:  # a worker never raises: the batch goes on
        res.status, res.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.seconds = time.perf_counter() - t0
    res.phases["worker"] = round(res.seconds - res.execution_seconds - res.phases.get("reference", 0.0), 3)
    return res


def _read_phases(path: Path, execution_seconds: float) -> dict:
    """The seconds of each phase in :data:`PHASES` the grader's preprocessors recorded (summed over notebooks);
    what nbgrader's run took beyond them is nbgrader's own."""
    phases = {k: 0.0 for k in ("kernel", "cells", "verify_values", "verify_models")}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
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
    import importlib
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
        from .. import registry
        registry.warm(assignment)
    except Exception:   # noqa: BLE001 - the grader's own check will say what is wrong, in the notebook
        pass


def warm_checker(assignment: str, limits: Limits) -> None:
    """Where ``assignment`` has saved models to check: the worker's model checker server, started once
    (:func:`parcel_course.verify_model.checker_server`; Keras imported once, not per submission)."""
    from .. import registry
    from ..verify_model import checker_server
    if any(c.kind == "model" for c in registry.checks_of(assignment)):
        try:
            checker_server(limits.sandbox, limits.threads, limits)
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
        from nbgrader.apps.nbgraderapp import NbGraderApp
        try:
            NbGraderApp.launch_instance(argv=list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:                 # noqa: BLE001 - say why in the log, as a fresh process would
        import traceback
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
    import psutil
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
    from nbgrader.api import Gradebook
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
    from nbgrader.api import Gradebook, MissingEntry
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


# -- the instructor's side ---------------------------------------------------------------

def collect_jobs(course: Course, assignments=None, students=None, limits: Limits | None = None) -> list[GradeJob]:
    """One job per submitted/<student>/<assignment>/ of the course."""
    assignments = course.check_assignments(assignments)
    base = limits or course.limits()      # timeouts of 0 derived per assignment from its reference run
    per_assignment = {a: assignment_limits(base, a, course.root) for a in assignments}
    course.ensure_in_gradebook(assignments)
    gradebook = gradebook_snapshot(course)
    from .. import intake
    settings = intake.Intake.of(course)
    collected = intake.collected_flags(course.submitted)   # what `parcel-course collect` flagged per submission
    jobs = []
    for a in assignments:
        extra = {k: v for k, v in read_tree(course.source / a).items()
                 if not k.endswith((".ipynb", ".src.py"))}
        from ..scan import instructor_cell_digests
        known = {p.stem: instructor_cell_digests(p) for p in course.notebooks(a)}
        for sdir in sorted(course.submitted.glob(f"*/{a}")):
            student = sdir.parent.name
            if students and student not in students:
                continue
            # regular files only, no link followed (issue 24); what was refused reaches the result's flags
            got = intake.read_submission(sdir, within=course.submitted, settings=settings)
            flags = collected.get((student, a), []) + intake.refused_flags(got.refused)
            jobs.append(GradeJob(student, a, got.files, gradebook, extra, per_assignment[a],
                                 digest=digest_files(got.files), instructor_cells=known, intake_flags=flags))
    return jobs


def gradebook_snapshot(course: Course) -> bytes:
    """The course gradebook without any student, as the bytes of an SQLite file.

    Assignments, notebooks and cells only: each worker starts from it, so
    that it sees no other student's data and no grade of an earlier run of
    the same student.  A worker always grades into a private SQLite
    gradebook; with the course's gradebook on a server (``PARCEL_DB_URL``)
    the file is built from the server's rows (:func:`_structure_to_sqlite`).
    """
    from nbgrader.api import Gradebook
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gradebook.db"
        if course.server_db:
            _structure_to_sqlite(course.db_url, db)
            return db.read_bytes()
        shutil.copy(course.db_path, db)
        with Gradebook("sqlite:///" + str(db), course.course_id) as gb:
            for student in list(gb.students):
                gb.remove_student(student.id)
        return db.read_bytes()


#: nbgrader's tables that hold students and what they submitted: never in a worker's gradebook.
STUDENT_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def _structure_to_sqlite(db_url: str, target: Path) -> None:
    """Copy the course structure of the gradebook at ``db_url`` into a new SQLite gradebook ``target``.

    nbgrader's own SQLAlchemy metadata creates the tables; every row of the
    tables that are not about students (:data:`STUDENT_TABLES`) is copied in
    dependency order, in one consistent read of the server, and the schema
    version (``alembic_version``) with them.
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, select, text
    source = create_engine(db_url)
    sink = create_engine("sqlite:///" + str(target))
    try:
        Base.metadata.create_all(sink)
        present = set(inspect(source).get_table_names())
        with source.connect().execution_options(isolation_level="REPEATABLE READ") as src, sink.begin() as dst:
            for table in Base.metadata.sorted_tables:
                if table.name in STUDENT_TABLES or table.name not in present:
                    continue
                rows = [dict(r._mapping) for r in src.execute(select(table))]
                if rows:
                    dst.execute(table.insert(), rows)
            if "alembic_version" in present:
                dst.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                for (version,) in src.execute(text("SELECT version_num FROM alembic_version")):
                    dst.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
    finally:
        source.dispose()
        sink.dispose()


def _ledger_path(course: Course, student: str, assignment: str) -> Path:
    return course.autograded / student / assignment / LEDGER


def already_graded(course: Course, job: GradeJob) -> bool:
    p = _ledger_path(course, job.student, job.assignment)
    if not p.exists():
        return False
    try:
        return json.loads(p.read_text()).get("digest") == job.digest
    except (OSError, ValueError):
        return False


def merge_result(course: Course, res: GradeResult) -> None:
    """Write one worker's result into the course: gradebook, autograded/, ledger.

    Only what the autograder owns is written: each grade's ``auto_score`` and
    ``needs_manual_grade``, each comment's ``auto_comment``, the notebooks'
    ``flagged`` and the submission's timestamp, by row id in one short
    transaction.  What a person saves in formgrader (``manual_score``,
    ``extra_credit``, ``manual_comment``) is never written, so a manual grade
    saved while the workers ran, or before, stays.  ``needs_manual_grade`` of
    a cell a person has scored stays as they left it, unless this is another
    version of the submission (a new timestamp) or the automatic score of
    that cell changed: then the cell asks for a look again, as nbgrader's own
    autograde does.  The same code serves SQLite and a server
    (``Course.db_url``); on a server each statement sees what other
    graders committed last.
    """
    from datetime import datetime
    import warnings
    from nbgrader.api import Comment, Grade, MissingEntry, SubmittedAssignment, SubmittedNotebook
    from sqlalchemy import Boolean, Float, bindparam, case, update
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy noise
    t0 = time.perf_counter()
    out = course.autograded / res.student / res.assignment
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, text in res.notebooks.items():
        (out / f"{name}.ipynb").write_text(text)
    ts = datetime.fromisoformat(res.timestamp) if res.timestamp else None
    with course.gradebook() as gb:
        gb.update_or_create_student(res.student)
        try:
            sub = gb.find_submission(res.assignment, res.student)
            resubmitted = ts is not None and sub.timestamp != ts.replace(tzinfo=None)
        except MissingEntry:     # nbgrader creates its grade and comment rows, empty
            sub = gb.add_submission(res.assignment, res.student, **({"timestamp": ts} if ts else {}))
            resubmitted = False
        recorded = {(g["notebook"], g["grade_id"]): g for g in res.grades}
        auto_comments = {(c["notebook"], c["grade_id"]): c["auto_comment"] for c in res.comments}
        grades, comments = [], []
        for nb in sub.notebooks:
            for g in nb.grades:
                r = recorded.get((nb.name, g.name))
                if r is not None:
                    grades.append(dict(gid=g.id, auto=r["auto_score"], needs=bool(r["needs_manual_grade"])))
                elif g.cell_type == "code":
                    # the notebook never ran (error, timeout, killed): no credit, flagged for a person
                    grades.append(dict(gid=g.id, auto=0.0, needs=False))
            comments += [dict(cid=c.id, text=auto_comments[(nb.name, c.name)]) for c in nb.comments
                         if (nb.name, c.name) in auto_comments]
        sub_id = sub.id
        gb.db.commit()                       # end the reads; the writes below are one short transaction
        G, C, N, S = (Grade.__table__, Comment.__table__, SubmittedNotebook.__table__,
                      SubmittedAssignment.__table__)
        auto = bindparam("auto", type_=Float())
        needs = case((G.c.manual_score.is_(None), bindparam("needs", type_=Boolean())),
                     (bindparam("again", type_=Boolean()) | G.c.auto_score.is_distinct_from(auto), True),
                     else_=G.c.needs_manual_grade)
        try:
            if grades:
                gb.db.execute(update(G).where(G.c.id == bindparam("gid")).values(auto_score=auto,
                              needs_manual_grade=needs), [dict(g, again=resubmitted) for g in grades])
            if comments:
                gb.db.execute(update(C).where(C.c.id == bindparam("cid")).values(auto_comment=bindparam("text")),
                              comments)
            gb.db.execute(update(N).where(N.c.assignment_id == sub_id).values(
                flagged=bool(res.flags) or res.status != "graded"))
            if resubmitted:
                gb.db.execute(update(S).where(S.c.id == sub_id).values(timestamp=ts.replace(tzinfo=None)))
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        gb.db.expire_all()
        res.score = float(gb.find_submission(res.assignment, res.student).score or 0)
    res.phases["merge"] = round(time.perf_counter() - t0, 3)
    (out / LEDGER).write_text(json.dumps(res.summary(), indent=1, default=str))


def load_ledgers(course: Course) -> list[dict]:
    """Every grading result recorded in autograded/ (for reports and exports)."""
    return [json.loads(p.read_text()) for p in sorted(course.autograded.glob(f"*/*/{LEDGER}"))]


def longest_first(jobs: list[GradeJob], ledgers=()) -> list[GradeJob]:
    """The jobs in the order to hand them to the pool: the longest expected first.

    With a few workers, a long notebook started last keeps one worker busy
    while the others sit idle; starting the long ones first evens the end of
    the run out (longest-processing-time scheduling). A job's expected length
    is the median execution time recorded for its assignment in earlier
    ledgers; an assignment never graded before counts by its position in the
    course (the later assignments train networks, the first ones do not), and
    ahead of the timed ones, since it may be the longest of all.

    >>> a = GradeJob("s", "01_convolution", {}, b"")
    >>> b = GradeJob("s", "04_cnn", {}, b"")
    >>> [j.assignment for j in longest_first([a, b])]
    ['04_cnn', '01_convolution']
    >>> past = [dict(assignment="01_convolution", execution_seconds=9.0),
    ...         dict(assignment="04_cnn", execution_seconds=250.0)]
    >>> [j.assignment for j in longest_first([b, a, b], past)]
    ['04_cnn', '04_cnn', '01_convolution']
    """
    import statistics
    seen: dict[str, list] = {}
    for led in ledgers:
        if led.get("execution_seconds"):
            seen.setdefault(led["assignment"], []).append(float(led["execution_seconds"]))
    timed = {a: statistics.median(v) for a, v in seen.items()}
    order = sorted({j.assignment for j in jobs})

    def key(job):
        if job.assignment in timed:
            return (0, -timed[job.assignment])
        return (-1, -order.index(job.assignment))
    return sorted(jobs, key=key)    # stable: students keep their order within an assignment


def preflight_course(course: Course, assignment: str, limits: Limits) -> None:
    """:func:`parcel_course.preflight.preflight` of ``assignment`` with the job's ``limits``, in this process."""
    from dataclasses import asdict
    from traitlets.config import Config
    from ..preflight import preflight
    cfg = Config()
    cfg.GradingLimits.update({k: v for k, v in asdict(limits).items()})
    cfg.CourseDirectory.root = str(course.root)
    preflight(cfg, assignment, course.root)


def make_executor(workers: int = 2, scheduler: str | None = None) -> tuple[Executor, object]:
    """A concurrent.futures executor: local processes, or a Dask cluster at ``scheduler``."""
    if scheduler:
        from distributed import Client
        client = Client(scheduler)
        return client.get_executor(pure=False), client
    import multiprocessing
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")), None


def grade_all(course: Course, assignments=None, students=None, workers: int = 2,
              scheduler: str | None = None, limits: Limits | None = None, force: bool = False,
              progress: bool = True, executor: Executor | None = None) -> list[GradeResult]:
    """Grade every collected submission in parallel; results are merged as they arrive.

    Returns the results of this run (skipped, already-graded submissions are
    not re-run unless ``force``; they stay in the gradebook).
    """
    from tqdm.auto import tqdm
    limits = limits or course.limits()
    if limits.threads == 0 and executor is None and not scheduler:    # local workers share this machine
        limits = limits.replace(threads=threads_per_worker(workers))
    jobs = collect_jobs(course, assignments, students, limits)
    todo = longest_first([j for j in jobs if force or not already_graded(course, j)],
                         load_ledgers(course))
    first = {}
    for j in todo:
        first.setdefault(j.assignment, j)
    for a, j in sorted(first.items()):   # refuse to start rather than grade everyone zero
        preflight_course(course, a, j.limits)
    skipped = len(jobs) - len(todo)
    results = []
    if not todo:
        if progress:
            print(f"Nothing to grade: {skipped} submission(s) already graded (use --force to regrade).")
        return results
    own = executor is None
    client = None
    if own:
        executor, client = make_executor(workers, scheduler)
    bar = tqdm(total=len(todo), desc="grading", unit="sub", disable=not progress,
               postfix={"skipped": skipped} if skipped else None)
    try:
        futures = {executor.submit(grade_submission, j): j for j in todo}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # the worker itself died
                res = GradeResult(job.student, job.assignment, "error",
                                  reason=f"grading worker failed: {type(exc).__name__}: {exc}",
                                  digest=job.digest)
            merge_result(course, res)
            results.append(res)
            bar.set_postfix_str(f"{res.student}/{res.assignment}: {res.status} {res.score:g}/{res.max_score:g}")
            bar.update()
    finally:
        bar.close()
        if own:
            try:
                executor.shutdown(wait=True, cancel_futures=True)
            except TypeError:  # distributed's ClientExecutor has no cancel_futures
                executor.shutdown(wait=True)
            if client is not None:
                client.close()
    if results:   # the workers' gradebooks lack the course's extensions: penalties are set here, once
        from ..late import apply_penalties
        apply_penalties(course, sorted({r.assignment for r in results}))
    return results
