"""Check a model that a student's kernel saved, in a process of the grader's (see ``parcel_utils.attest.attest_model``).

The grader side, :func:`verify_saved_models`, runs this module as a fresh
Python process: no student code has run in it, and (with bubblewrap) it is
sandboxed as the kernel was, with no network and a read-only view of the
saved model and of the dataset cache.  The process side, :func:`main`,
refuses a model file whose configuration names anything but Keras' own
classes and this package's layers (no ``Lambda``, no module of the
student's), loads it with Keras' safe mode, calls the instructor's check
on it (the registry's model check of that key, :mod:`parcel_course.registry`)
and prints its verdict as one JSON line after :data:`VERDICT`.

A ``parcel-course grade`` worker that forks its graders starts one
:class:`CheckerServer` instead (``--serve``): Keras imported once, then for
each submission a child forked from that clean process checks its models and
exits, which saves the import (about 5 s) per submission of 03 and 04.

Every function of the grader side receives the notebook's resolved
:class:`parcel_course.limits.Limits` (sandbox, per-model timeout: its
``cell_timeout``, threads, the largest model file, the resource limits and
the watcher's caps) and has no limit of its own.

Run by hand::

    python -m parcel_course.verify_model MODEL.keras KEY RECORD_JSON [MODEL2.keras KEY2 RECORD2 ...]

(``RECORD_JSON``: the record the kernel published with the model, or ``null``.)
"""
from __future__ import annotations

import atexit
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

from .limits import Limits, thread_caps
from .sandbox import (bwrap_prefix, dataset_cache, give_to_sandbox, kernel_env, kill_tree, over_caps,
                      rlimits_launcher, sandbox_available, watch_tree)
from .scratch import ScratchError, read_back

__all__ = ["unsafe_config", "verify_saved_models", "main", "serve", "CheckerServer", "checker_server", "VERDICT"]

VERDICT = "parcel-model-verdict:"
#: Modules a saved model's configuration may name, with their submodules (Keras' classes, this package's
#: layers): whole names only, so that ``keras`` admits ``keras.layers`` but not ``keras_hub`` or ``kerasX``.
ALLOWED_MODULES = ("keras", "parcel_utils.augment")


def allowed_module(module) -> bool:
    """Whether a saved model's configuration may name ``module``.

    >>> [allowed_module(m) for m in ("keras", "keras.layers", "keras_hub", "kerasX", "parcel_utils.augment", "os")]
    [True, True, False, False, True, False]
    """
    return isinstance(module, str) and any(module == m or module.startswith(m + ".") for m in ALLOWED_MODULES)
#: Classes that carry code of their own: never loaded.
FORBIDDEN_CLASSES = {"Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


def unsafe_config(path) -> str | None:
    """Why the ``.keras`` file at ``path`` must not be loaded; None when its configuration is Keras' own.

    Example
    -------
    >>> unsafe_config("missing.keras")
    'cannot read the saved model: FileNotFoundError'
    """
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except Exception as exc:  # noqa: BLE001 - anything odd about the file is a reason not to load it
        return f"cannot read the saved model: {type(exc).__name__}"
    todo = [config]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            module = node.get("module")
            if module is not None and not allowed_module(module):
                return f"the model names the module {str(module)[:80]!r}, not Keras' nor parcel_utils.augment"
            if node.get("class_name") in FORBIDDEN_CLASSES:
                return f"the model holds a {node['class_name']} layer, which carries code of its own"
            todo.extend(node.values())
    return None


def _check(model_file: str, key: str, record) -> str | None:
    why = unsafe_config(model_file)
    if why:
        return why
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras   # lazy: Keras/TensorFlow take seconds to import, and only a checker process needs them
    from parcel_utils.augment import RandomHeightScale  # noqa: F401 - lazy, imports Keras; registers the layer
    from . import registry   # lazy: the checks import the references (Keras); only a checker process needs them
    check = registry.find(key)
    try:    # with its optimizer only for a check that reads it (a student's loss must not fail the others)
        model = keras.saving.load_model(model_file, compile=check.needs_compile, safe_mode=True)
    except Exception as exc:  # noqa: BLE001
        return f"the saved model does not load: {type(exc).__name__}: {str(exc)[:300]}"
    return check.verify_model(model, record)


def main(argv=None, request: str = "") -> int:
    """``MODEL.keras KEY RECORD_JSON`` (one triple per model): one verdict line per model, in order.

    ``--serve``: the checker server of a grading worker (:func:`serve`).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(json.loads(argv[1]))
    if not argv or len(argv) % 3:
        print("usage: python -m parcel_course.verify_model MODEL.keras KEY RECORD_JSON [...]", file=sys.stderr)
        return 2
    for i in range(0, len(argv), 3):
        t0 = time.perf_counter()
        try:
            why = _check(argv[i], argv[i + 1], json.loads(argv[i + 2]))
        except Exception as exc:  # noqa: BLE001
            why = f"the grader's model check failed: {type(exc).__name__}: {str(exc)[:300]}"
        print(VERDICT + json.dumps({"index": i // 3, "ok": why is None, "why": why or "", "request": request,
                                    "seconds": round(time.perf_counter() - t0, 3)}), flush=True)
    return 0


READY, DONE = "parcel-model-checker-ready", "parcel-model-request-done:"


def serve(limits: dict) -> int:
    """The checker server: Keras and the checks imported once, then one forked child per request.

    Reads requests from stdin, one JSON line each: ``{"id": ..., "jobs":
    [[model_file, key, record], ...]}``.  For each, a child forked from this
    process (Keras imported, no model ever loaded, no student's file read)
    closes stdin, checks the models as :func:`main` does and exits; this
    process waits for it and prints ``DONE`` with the request's id.  No state
    passes from one request to the next: each child starts from the same clean
    parent, works in a temporary folder of its own, and takes what it loaded
    with it when it exits.  While it runs, this process watches it under the
    kernel's caps (``limits``, the worker's :class:`~parcel_course.limits.Limits` as a dict: memory,
    processes, disk; :func:`parcel_course.sandbox.over_caps`) and kills it past one, with a verdict
    that says so.
    """
    caps = Limits(**limits)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: F401 - lazy (seconds): what each check would import, done once here
    from parcel_utils.augment import RandomHeightScale  # noqa: F401 - lazy: imports Keras
    from . import registry   # lazy: the checks import the references (Keras); only a checker process needs them
    registry.all_checks()
    print(READY, flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        try:
            req = json.loads(line)
            rid, argv = str(req["id"]), [str(x) for job in req["jobs"] for x in (job[0], job[1], json.dumps(job[2]))]
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        sys.stdout.flush()
        private = tempfile.mkdtemp(prefix="request-")
        pid = os.fork()
        if pid == 0:                      # the child: never returns into the loop
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)          # the next requests are not the child's to read
                os.environ["TMPDIR"] = tempfile.tempdir = private
                code = main(argv, request=rid)
            except BaseException:         # noqa: BLE001 - the grader says "no verdict"
                pass
            finally:
                sys.stdout.flush()
                os._exit(code)
        while not os.waitpid(pid, os.WNOHANG)[0]:
            why, tree = over_caps(pid, caps, private)
            if why:
                kill_tree(tree)
                os.waitpid(pid, 0)
                for i in range(len(argv) // 3):
                    print(VERDICT + json.dumps({"index": i, "ok": False, "request": rid,
                                                "why": f"the model checker {why}; stopped"}), flush=True)
                break
            time.sleep(0.1)
        shutil.rmtree(private, ignore_errors=True)
        print(DONE + json.dumps({"id": rid}), flush=True)


def _mode(limits: Limits) -> str:
    """``limits.sandbox`` with ``"auto"`` decided here: ``"bwrap"`` where bubblewrap works, else ``"none"``."""
    return "bwrap" if limits.sandbox == "bwrap" or (limits.sandbox == "auto" and sandbox_available()) else "none"


def _server_key(limits: Limits) -> tuple:
    """What a checker server was started with (its sandbox, threads, resource limits and caps): a server
    serves a grader whose limits give the same key."""
    return (_mode(limits), limits.threads, limits.max_processes, limits.max_file_mb, limits.max_open_files,
            limits.max_cpu_seconds, limits.memory_mb, limits.max_kernel_processes, limits.max_disk_mb)


def _checker_command(args, work, readonly, limits: Limits) -> tuple[list, dict]:
    """The command and environment of a checker process (``python -m parcel_course.verify_model ARGS``) in
    ``work``: ``readonly`` folders and the dataset cache (made complete first: the sandbox can only read it)
    shown read-only, under bubblewrap when ``limits.sandbox`` is ``"bwrap"``, as a kernel is: the same
    resource limits (:mod:`parcel_course.rlimits`), threads and allow-listed environment, ``nobody`` outside
    the sandbox where the grader is root.  Its environment is set by the launcher: the one returned is
    empty of anything but ``PATH``."""
    cache = dataset_cache()
    bwrap = limits.sandbox == "bwrap"
    env = kernel_env({"PARCEL_DATA_DIR": cache, **thread_caps(limits.threads)}, sandboxed=bwrap)
    env.pop("PARCEL_GRADING", None)
    cmd = [sys.executable, "-m", "parcel_course.verify_model", *args]
    if bwrap:
        give_to_sandbox(work)
        cmd = bwrap_prefix(work, readonly=[*readonly, cache], instructor=True) + cmd
    return rlimits_launcher(limits, env) + cmd, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


class CheckerServer:
    """A grading worker's model checker, started once (Keras imported once) and forked for each request.

    The server runs as the one-off checker does (sandboxed with bubblewrap
    where the worker's kernels are, the dataset cache and a spool directory
    read-only); the model files of a request are copied into the spool.  The
    worker starts it (:func:`checker_server`) before it forks for each
    submission, so that the grader it forks finds it in :data:`_SERVER`.
    ``limits`` (the worker's, its sandbox decided) set its sandbox, threads,
    resource limits and the caps it watches its children under.
    """

    def __init__(self, limits: Limits):
        limits = limits.replace(sandbox=_mode(limits))
        self.key = _server_key(limits)
        self.spool = tempfile.mkdtemp(prefix="parcel-verify-spool-")
        os.chmod(self.spool, 0o755)
        self.work = tempfile.mkdtemp(prefix="parcel-verify-")
        cmd, env = _checker_command(["--serve", json.dumps(asdict(limits))], self.work, [self.spool], limits)
        self.proc = subprocess.Popen(cmd, cwd=self.work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid, self.fd_in, self.fd_out = self.proc.pid, self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self._buf, self._eof = b"", False
        if self._read_until(lambda line: line == READY, 120) is None:
            self.close()
            raise RuntimeError("the model checker server did not start")

    def alive(self) -> bool:
        """In the process that started it; a grader forked from it cannot wait for the server."""
        return self.proc.poll() is None

    def _read_until(self, done, timeout: float, lines=None):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
                if lines is not None:
                    lines.append(line)
                if done(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd_out], [], [], left)
            if ready:
                chunk = os.read(self.fd_out, 65536)
                if not chunk:
                    self._eof = True
                    return None           # the server is gone
                self._buf += chunk

    def ask(self, jobs, timeout: float) -> tuple[list, str]:
        """Send one request (``(model_file, key, record)`` each); the verdict lines, and why there are none."""
        rid = secrets.token_hex(8)
        folder = Path(self.spool) / rid
        folder.mkdir()
        try:
            copies = []
            for i, (model_file, key, record) in enumerate(jobs):
                target = folder / f"{i}.keras"
                shutil.copyfile(model_file, target)
                os.chmod(target, 0o644)
                copies.append([str(target), key, record])
            os.chmod(folder, 0o755)
            os.write(self.fd_in, (json.dumps({"id": rid, "jobs": copies}) + "\n").encode())
            lines = []
            end = self._read_until(lambda line: line == DONE + json.dumps({"id": rid}), timeout, lines)
            mine = [line for line in lines if line.startswith(VERDICT) and f'"request": "{rid}"' in line]
            if end is None:
                self.kill()               # a check that hangs, or a server that died: the worker starts another
                return mine, ("stopped before it gave its verdicts" if self._eof else f"took more than {timeout:.0f} s")
            return mine, ""
        except OSError as exc:
            return [], f"could not reach the model checker ({exc})"
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def close(self) -> None:
        self.kill()
        try:
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
        shutil.rmtree(self.spool, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


#: The worker's checker server (see :func:`checker_server`), inherited by the graders it forks.
_SERVER: CheckerServer | None = None


def checker_server(limits: Limits) -> CheckerServer:
    """The worker's checker server for ``limits``, started (or started again, under other limits) where needed."""
    global _SERVER
    if _SERVER is not None and (not _SERVER.alive() or _SERVER.key != _server_key(limits)):
        _SERVER.close()
        _SERVER = None
    if _SERVER is None:
        _SERVER = CheckerServer(limits)
        atexit.register(_SERVER.close)
    return _SERVER


def verify_saved_models(jobs, limits: Limits) -> list:
    """Check each ``(model_file, key, record)`` with the registry's check ``key``, all in one process, under
    ``limits`` (the notebook's, resolved: :func:`parcel_course.limits.resolve_limits`).

    One process (sandboxed with bubblewrap where it can be) imports Keras
    once and checks the models in turn: a fresh one, or, in a grader forked by
    a ``parcel-course grade`` worker, a child of the worker's checker server
    (:class:`CheckerServer`), forked for these models.  Returns, per job, None when the
    model passes, else one sentence that says why not (the model fails the
    check, it cannot be loaded safely, or the checks did not finish in
    ``limits.cell_timeout`` seconds per model).  The dataset cache is made
    complete here first, since the sandbox can only read it.
    """
    if limits.cell_timeout <= 0:
        raise ValueError(f"unresolved limits (cell_timeout={limits.cell_timeout}): resolve them for the "
                         f"assignment first (parcel_course.limits.resolve_limits or assignment_limits)")
    limits = limits.replace(sandbox=_mode(limits))     # "auto" decided once
    whys = [None] * len(jobs)
    cap = limits.max_file_mb * 2**20
    with tempfile.TemporaryDirectory(prefix="parcel-verify-spool-") as spool:
        os.chmod(spool, 0o755)            # the checker may run as nobody: it reads these copies, read-only
        argv, index, copies = [], [], []
        for i, (model_file, key, record) in enumerate(jobs):
            model_file = Path(model_file)
            try:            # a copy of the grader's: a regular file, no link followed, size-capped
                data = read_back(model_file.parent, model_file.name, cap)
            except (ScratchError, OSError) as exc:
                gone = isinstance(exc, FileNotFoundError) or "No such file" in str(exc)
                whys[i] = ("no saved model: the check did not run to its end in the kernel" if gone
                           else f"no saved model the grader can read: {exc}")
                continue
            copy = Path(spool) / f"{i}.keras"
            copy.write_bytes(data)
            os.chmod(copy, 0o644)
            argv += [str(copy), key, json.dumps(record)]
            index.append(i)
            copies.append((str(copy), key, record))
        if not index:
            return whys
        limit = limits.cell_timeout * len(index)
        server = _SERVER
        if server is not None and server.key == _server_key(limits):
            lines, why_not = server.ask(copies, limit)
            return _verdicts(whys, index, lines, None if why_not else 0, why_not, "")
        with tempfile.TemporaryDirectory(prefix="parcel-verify-") as work:
            cmd, env = _checker_command(argv, work, [spool], limits)
            stdout, stderr, rc = _run_watched(cmd, work, env, limit, limits)
    return _verdicts(whys, index, stdout.splitlines(), rc, stderr, stdout)


def _run_watched(cmd, work, env, limit: float, limits: Limits) -> tuple[str, str, int | None]:
    """Run the one-off checker for at most ``limit`` seconds, watched under ``limits`` as a kernel is
    (:func:`parcel_course.sandbox.watch_tree`): its stdout, what went wrong ('' or why it was stopped) and
    its exit status (None when stopped)."""
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=watch_tree, args=(proc.pid, limits, stop),
                               kwargs=dict(cwd=work, on_kill=killed.append), daemon=True)
    watcher.start()
    try:
        stdout, stderr = proc.communicate(timeout=limit)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        stdout, _ = proc.communicate()
        stderr, rc = f"took more than {limit} s", None
    finally:
        stop.set()
    if killed:
        stderr, rc = f"was stopped: the model checker {killed[0]}", None
    return stdout, stderr, rc


def _verdicts(whys, index, lines, rc, stderr, stdout) -> list:
    """``whys`` with the verdict of each job in ``index`` read from the checker's ``lines``."""
    verdicts = {}
    for line in lines:
        if line.startswith(VERDICT):
            try:
                v = json.loads(line[len(VERDICT):])
                verdicts[int(v["index"])] = v
            except (ValueError, KeyError, TypeError):
                continue
    for k, i in enumerate(index):
        v = verdicts.get(k)
        if v is not None:
            whys[i] = None if v.get("ok") else (v.get("why") or "the model failed the check")
        elif rc is None:
            whys[i] = f"the grader's check of the saved model {stderr}"
        else:
            whys[i] = (f"the grader's check of the saved model gave no verdict (exit {rc}): "
                       f"{(stderr or stdout)[-300:].strip()}")
    return whys


if __name__ == "__main__":
    sys.exit(main())
