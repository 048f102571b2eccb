"""Run a student's kernel in a sandbox while nbgrader grades it.

nbgrader executes a submission with its ``Execute`` preprocessor, which starts
a Jupyter kernel.  We replace that preprocessor by
:class:`parcel_course.preprocessors.sandboxed_execute.SandboxedExecute`, whose
kernel manager (:class:`SandboxedKernelManager`) wraps the kernel command:

``bwrap`` (bubblewrap) when it is available (Linux):
    new user, PID, network, IPC and UTS namespaces: no network at all, no view
    of other processes; a file system that holds only the system directories,
    the Python environment and the parcel dataset's cache (read-only, named by
    ``PARCEL_DATA_DIR``: :func:`dataset_cache`), the submission's own directory
    (read-write) and an empty, size-capped /tmp.  The kernel runs as ``nobody``
    in its own user namespace, with no capabilities.
``rlimits`` launcher, always:
    resource limits set before the kernel starts (processes, file size, open
    files, CPU seconds), see :mod:`parcel_course.rlimits`, and the grading
    environment (:data:`KERNEL_ENV`: ``PARCEL_GRADING``, TensorFlow's C++ log
    silenced, the thread caps), whoever started the grader: ``parcel-course
    grade``, plain ``nbgrader autograde`` or formgrader.

The limits are :class:`parcel_course.limits.GradingLimits`, set once in the
course's ``nbgrader_config.py``; the kernel manager receives them resolved for
the notebook's assignment (a :class:`parcel_course.limits.Limits`, its
``limits`` trait, set by :class:`~parcel_course.preprocessors.sandboxed_execute.SandboxedExecute`
or the preflight) and reads no configuration of limits itself.  The instructor's package
(``parcel_course``) is hidden from the kernel: a submission that imports it
gets ``ModuleNotFoundError``.

The kernel talks to nbgrader over Unix sockets (``transport="ipc"``) in a
private directory, since the sandbox has no network, not even loopback to the
host's.  Where bubblewrap is missing the kernel still gets the resource limits
and the grader says, in the report, that the file-system and network
isolation was not enforced (``sandbox="none"``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Instance, List, Unicode

import parcel_utils
from parcel_utils.checks import BUDGET_ENV
from parcel_utils.data import SPLITS, cache_file, default_cache_dir, load_parcels

from .limits import GRADING_BUDGET, Limits, thread_caps
from .scratch import SCRATCH_PREFIX

__all__ = ["SandboxedKernelManager", "sandbox_available", "python_paths", "bwrap_prefix",
           "instructor_paths", "dataset_cache", "KERNEL_ENV", "KERNEL_ENV_ALLOWED", "kernel_env", "kernel_uid_mode",
           "give_to_sandbox", "over_caps", "kill_tree", "watch_tree", "rlimits_launcher"]

#: The environment of every graded kernel.  TensorFlow's C++ log is silenced, errors included
#: (level 3: fatal only): nbgrader scores a test cell with any stderr output zero, and tf.data logs a
#: harmless "NodeDef mentions attribute use_unbounded_threadpool" after the first training, which
#: ipykernel forwards late, into whichever cell runs next (it cost a correct 04_cnn 11 to 13 points).
KERNEL_ENV = {"PARCEL_GRADING": "1", BUDGET_ENV: GRADING_BUDGET, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0",
              "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONNOUSERSITE": "1"}
#: The only names a graded kernel takes from the environment of whoever started the grader (an allow-list:
#: a secret such as ``JUPYTERHUB_API_TOKEN``, a cloud key or the gradebook's URL never reaches the
#: student's code).  Everything else it sees is set by the grader (:data:`KERNEL_ENV`, the thread caps,
#: ``PARCEL_DATA_DIR``, ``HOME`` and the temporary folders).
KERNEL_ENV_ALLOWED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ",
                      "TERM", "VIRTUAL_ENV", "CUDA_VISIBLE_DEVICES")
#: Without bubblewrap the kernel runs in the grader's own file system: where its caches are, too.
KERNEL_ENV_ALLOWED_UNSANDBOXED = ("HOME", "XDG_CACHE_HOME", "PARCEL_DATA_DIR", "KERAS_HOME", "MPLCONFIGDIR", "TMPDIR")


def kernel_env(extra: dict | None = None, sandboxed: bool = True, environ=None) -> dict:
    """The whole environment of a graded kernel: the allow-listed names of ``environ`` (default: this
    process's), then :data:`KERNEL_ENV`, then ``extra``.

    Example
    -------
    >>> env = kernel_env({"OMP_NUM_THREADS": "1"}, environ={"PATH": "/usr/bin", "JUPYTERHUB_API_TOKEN": "s3cret"})
    >>> "JUPYTERHUB_API_TOKEN" in env, env["PATH"], env["OMP_NUM_THREADS"], env["PARCEL_GRADING"]
    (False, '/usr/bin', '1', '1')
    """
    environ = os.environ if environ is None else environ
    names = KERNEL_ENV_ALLOWED + (() if sandboxed else KERNEL_ENV_ALLOWED_UNSANDBOXED)
    env = {k: environ[k] for k in names if k in environ}
    env.update(KERNEL_ENV)
    env.update(extra or {})
    return env


NOBODY = 65534


def sandbox_available() -> bool:
    """True when bubblewrap is installed and can create namespaces here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    try:
        return subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                               "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def dataset_cache() -> str:
    """The parcel dataset's cache directory, made complete (the course's three splits) by the grader.

    A sandboxed kernel (and the model checker) sees it read-only through
    ``PARCEL_DATA_DIR``: ``load_parcels`` there reads the splits instead of
    generating them again in every kernel. Generated here once, on the first
    grading, where it is missing (``parcel_utils.data.load_parcels``).
    """
    cache = default_cache_dir()
    for split in SPLITS:
        if not cache_file(cache, split, 0).exists():
            load_parcels(split, progress=False)
    return str(cache.resolve())


def disk_usage_mb(path) -> float:
    """MB of disk the files under ``path`` take (a kernel's writable directory), links not followed."""
    total, todo = 0, [str(path)]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            todo.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        pass
        except OSError:
            pass
    return total / 2**20


_STUDENT_PACKAGE_DIRS: list = []


def python_paths() -> list[str]:
    """Directories the kernel needs to see to run this Python environment.

    The student package's folder is taken both from this process and from a
    fresh interpreter started outside any course folder: an editable install
    made in another checkout (a new term's copy graded with last term's
    venv) points the kernel there, not at the ``parcel_utils`` folder this
    process happened to import from its working directory.
    """
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]}
    paths.add(str(Path(parcel_utils.__file__).resolve().parent))
    paths.update(_student_package_dirs())
    return sorted(p for p in paths if p and os.path.exists(p))


def _student_package_dirs() -> list:
    """Where a fresh interpreter of this environment finds ``parcel_utils`` (cached per process)."""
    if not _STUDENT_PACKAGE_DIRS:
        try:
            out = subprocess.run([sys.executable, "-c", "import parcel_utils, os; "
                                  "print(os.path.dirname(os.path.realpath(parcel_utils.__file__)))"],
                                 cwd="/", capture_output=True, text=True, timeout=60,
                                 env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
            found = out.stdout.strip().splitlines()[-1:] if out.returncode == 0 else []
        except (OSError, subprocess.TimeoutExpired):
            found = []
        _STUDENT_PACKAGE_DIRS.append(found)
    return list(_STUDENT_PACKAGE_DIRS[0])


def instructor_paths() -> list[str]:
    """Where the instructor's package lives (to hide it from a kernel, or show it to the model checker)."""
    return [str(Path(__file__).resolve().parent)]


def kernel_uid_mode() -> str:
    """How a sandboxed process is kept from the grader's files, by who runs the grader.

    ``"setuid"`` (the grader is root, ``setpriv`` exists): the process runs as
    :data:`NOBODY` *outside* the sandbox too, so it owns nothing of the
    grader's. ``"userns"`` (an unprivileged grader): it is ``nobody`` in its
    own user namespace, which the kernel maps to the grader's uid; it can
    write only the folders bound read-write (its scratch folder, its
    sockets), since everything else it sees is read-only.
    """
    return "setuid" if os.geteuid() == 0 and shutil.which("setpriv") else "userns"


def _ancestors(paths, under) -> list[str]:
    """The folders above ``paths`` that bubblewrap must create (0755, so that any uid can walk through),
    outermost first; none that is, or lies under, one of the mounts ``under``."""
    out = set()
    for p in paths:
        for a in Path(p).parents:
            a = str(a)
            if a == "/" or any(a == m or Path(a).is_relative_to(m) for m in under):
                continue
            out.add(a)
    return sorted(out, key=lambda a: (a.count("/"), a))


def bwrap_prefix(cwd, binds=(), readonly=(), tmp_mb=512, as_nobody=True, instructor=False,
                 uid_mode: str | None = None) -> list[str]:
    """The ``bwrap ... --`` words that run a command in the sandbox, in ``cwd`` (read-write).

    New PID, network, IPC and UTS namespaces, no capabilities; the system
    and the Python environment read-only, ``readonly`` paths too, ``cwd`` and
    ``binds`` read-write, and an empty ``tmp_mb`` MB ``/tmp``.  The process
    runs as ``nobody``: outside the sandbox too where the grader is root
    (``uid_mode="setuid"``, see :func:`kernel_uid_mode`), else in its own user
    namespace.  The instructor's package is hidden (an empty directory over
    it, where it lies inside what is shown) unless ``instructor`` (the
    grader's own model checker, which runs no student code).
    """
    uid_mode = uid_mode or kernel_uid_mode()
    setuid = as_nobody and uid_mode == "setuid"
    wrap = [shutil.which("bwrap"), "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if setuid:    # root: no user namespace; setpriv (below) becomes nobody, and the capabilities go with it
        wrap += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        wrap += ["--unshare-all", "--cap-drop", "ALL"]
        if as_nobody:
            wrap += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    # /tmp first: the binds below may lie under /tmp (a checkout or a venv there) and must
    # stay visible on top of the empty, size-capped tmpfs.
    wrap += ["--perms", "1777", "--size", str(int(tmp_mb) * 2**20), "--tmpfs", "/tmp"]
    # /sys/devices/system/cpu: how many cores (joblib/loky warn on stderr without it, and
    # nbgrader scores a test cell with stderr output zero)
    shown = [p for p in ["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/fonts", "/etc/alternatives",
                         "/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/sys/devices/system/cpu",
                         *python_paths(), *readonly] if os.path.exists(p)]
    writable = [*binds, str(cwd)]
    # folders above what is shown, under /tmp too (a checkout in /tmp/x: nobody must walk through /tmp/x)
    for a in _ancestors([*shown, *writable], shown):
        if a != "/tmp":
            wrap += ["--perms", "0755", "--dir", a]
    for p in shown:
        wrap += ["--ro-bind", p, p]
    for p in instructor_paths():
        if instructor:
            wrap += ["--ro-bind", p, p]
        elif any(Path(p).is_relative_to(s) for s in [*shown, *writable]):
            wrap += ["--tmpfs", p]        # an empty directory over it (a non-editable install, say)
    wrap += ["--proc", "/proc", "--dev", "/dev"]
    for b in binds:
        wrap += ["--bind", b, b]
    wrap += ["--bind", cwd, cwd, "--chdir", cwd,
             "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/mpl",
             "--setenv", "KERAS_HOME", "/tmp/keras", "--setenv", "TMPDIR", "/tmp",
             "--setenv", "PARCEL_SANDBOX", "bwrap",
             "--unsetenv", "JPY_PARENT_PID",  # its pid means nothing in the PID namespace
             "--"]
    if setuid:
        wrap += [shutil.which("setpriv"), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--no-new-privs", "--"]
    return wrap


def give_to_sandbox(*paths) -> None:
    """Where a sandboxed process runs as :data:`NOBODY` outside too (root grader): hand it the folders it
    must write (its scratch folder, its sockets), and everything in them, so that it can."""
    if kernel_uid_mode() != "setuid":
        return
    for top in paths:
        os.chown(top, NOBODY, NOBODY, follow_symlinks=False)
        os.chmod(top, 0o755)      # bubblewrap enters it as root without capabilities, before it becomes nobody
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                os.chown(os.path.join(dirpath, n), NOBODY, NOBODY, follow_symlinks=False)


def over_caps(pid: int, limits, cwd=None) -> tuple[str, list]:
    """Why the process tree of ``pid`` is past a cap of ``limits`` ('' when it is not), and the tree.

    Memory is resident memory of the whole tree (not an rlimit: TensorFlow
    reserves far more address space than it uses), processes are counted
    because ``RLIMIT_NPROC`` is not enforced for root, files are those
    written under ``cwd``.
    """
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return "", []
    rss = 0
    for q in tree:
        try:
            rss += q.memory_info().rss
        except psutil.Error:
            pass
    if len(tree) - 1 > limits.max_kernel_processes:
        return f"started {len(tree) - 1} processes, above the cap of {limits.max_kernel_processes}", tree
    if rss / 2**20 > limits.memory_mb:
        return f"used {rss / 2**20:.0f} MB, above the {limits.memory_mb} MB cap", tree
    if cwd and disk_usage_mb(cwd) > limits.max_disk_mb:
        return f"wrote {disk_usage_mb(cwd):.0f} MB of files, above the {limits.max_disk_mb} MB cap", tree
    return "", tree


def kill_tree(tree) -> None:
    """Kill every process of ``tree`` (a list of ``psutil.Process``), the leaves first."""
    for q in reversed(tree):
        try:
            q.kill()
        except psutil.Error:
            pass


def watch_tree(pid: int, limits, stop, cwd=None, on_kill=None, log=None) -> str:
    """Every 0.25 s until ``stop`` is set or the process is gone: :func:`over_caps`; past a cap, kill the
    tree and return why ('' when it ended or was stopped).

    Runs in the grader whatever started it (``parcel-course grade``, plain
    ``nbgrader autograde``, formgrader), for kernels and the one-off model
    checker alike (the checker server watches its own children the same way).
    """
    while not stop.wait(0.25):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return ""
        except psutil.Error:
            return ""
        why, tree = over_caps(pid, limits, cwd)
        if why:
            if on_kill is not None:
                on_kill(why)
            if log is not None:
                log.warning("parcel-sandbox: killing %s: %s", pid, why)
            kill_tree(tree)
            return why
    return ""


def rlimits_launcher(lim, env: dict) -> list[str]:
    """The words of :mod:`parcel_course.rlimits` that set ``lim``'s resource limits and exactly ``env``."""
    return [sys.executable, "-m", "parcel_course.rlimits",
            f"--nproc={lim.max_processes}", f"--fsize-mb={lim.max_file_mb}",
            f"--nofile={lim.max_open_files}", f"--cpu={lim.max_cpu_seconds}", "--clearenv",
            *(f"--env={k}={v}" for k, v in env.items()), "--"]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside the sandbox, under ``limits``.

    ``limits`` is the notebook's :class:`~parcel_course.limits.Limits`, resolved for its assignment by
    whoever creates the manager (:class:`~parcel_course.preprocessors.sandboxed_execute.SandboxedExecute`);
    a manager without them refuses to start a kernel.
    """

    readonly_paths = List(Unicode(), help="Extra host paths the kernel may read.").tag(config=True)
    drop_to_nobody = Bool(True, help="Run the kernel as 'nobody' in its own user namespace.").tag(config=True)
    limits = Instance(Limits, allow_none=True, help="The notebook's grading limits, resolved for its assignment "
                                                    "(parcel_course.limits.resolve_limits); set by whoever "
                                                    "creates the manager, never configured.")

    def _limits(self) -> Limits:
        if self.limits is None:
            raise RuntimeError("SandboxedKernelManager has no limits: create it with limits=resolve_limits(config, "
                               "assignment, root) (parcel_course.limits), as SandboxedExecute does")
        return self.limits

    def _mode(self) -> str:
        sandbox = self._limits().sandbox
        if sandbox == "auto":
            return "bwrap" if sandbox_available() else "none"
        return sandbox

    async def _async_pre_start_kernel(self, **kw):
        # Unix-socket transport in a private directory the sandbox can reach.
        self._sockdir = tempfile.mkdtemp(prefix="parcel-kernel-")
        self._kernel_cwd = os.path.abspath(kw.get("cwd") or os.getcwd())
        self.transport = "ipc"
        self.ip = os.path.join(self._sockdir, "kernel")
        self.connection_file = os.path.join(self._sockdir, "connection.json")
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        lim = self._limits()
        bwrap = self._mode() == "bwrap"
        extra = thread_caps(lim.threads)
        if not bwrap:
            return rlimits_launcher(lim, kernel_env(extra, sandboxed=False)) + cmd
        cwd = getattr(self, "_kernel_cwd", None) or os.getcwd()
        as_nobody = self.drop_to_nobody
        cache = dataset_cache()          # read-only: the kernel loads the splits, it does not generate them
        extra["PARCEL_DATA_DIR"] = cache
        if as_nobody:    # its sockets, its connection file and its scratch folder, to a kernel that is nobody outside too
            give_to_sandbox(self._sockdir, *([cwd] if Path(cwd).name.startswith(SCRATCH_PREFIX) else []))
        wrap = bwrap_prefix(cwd, binds=[self._sockdir], readonly=[*self.readonly_paths, cache], tmp_mb=lim.tmp_mb,
                            as_nobody=as_nobody)
        self.log.info("parcel-sandbox: kernel started in bwrap (as %s)", "nobody" if as_nobody else "current user")
        # the launcher runs outside the sandbox (it is the instructor's code); the limits and the environment
        # it sets are inherited through bwrap by the kernel
        return rlimits_launcher(lim, kernel_env(extra)) + wrap + cmd

    async def _async_post_start_kernel(self, **kw):
        await super()._async_post_start_kernel(**kw)
        process = getattr(self.provisioner, "process", None)
        self.watch_reason = ""
        if process is not None:
            self._watch_stop = threading.Event()

            def said(why):
                self.watch_reason = "the kernel " + why
            threading.Thread(target=watch_tree, args=(process.pid, self._limits(), self._watch_stop),
                             kwargs=dict(cwd=getattr(self, "_kernel_cwd", None), on_kill=said, log=self.log),
                             daemon=True, name="parcel-kernel-watch").start()

    async def _async_cleanup_resources(self, restart=False):
        if getattr(self, "_watch_stop", None) is not None:
            self._watch_stop.set()
        await super()._async_cleanup_resources(restart=restart)
        if not restart and getattr(self, "_sockdir", None):
            shutil.rmtree(self._sockdir, ignore_errors=True)
