"""The kernel's scratch folder: the only place a graded kernel may write, and one the grader never trusts.

nbgrader runs a submission's kernel in the folder it grades into
(``autograded/<student>/<assignment>/``) and later writes the autograded
notebook there, sets its permissions, copies its files into feedback, and
our verification read saved models from it.  A hostile kernel that plants a
link there turns each of those into a write, a chmod or a read of a host
file of the grader's.  So the kernel never runs there:

- :func:`ensure_scratch` makes a fresh folder per notebook (outside the
  course), copies into it the regular files of the graded folder (never the
  notebooks, never a link), and points the kernel's working directory at it
  (``resources["metadata"]["path"]``); the sandbox binds it read-write and
  nothing else.
- The grader writes nothing there that it reads back: the attested inputs
  go in, verdicts are computed from the grader's own reference.
- :func:`read_back` is the one way back: a file under the scratch folder,
  opened without following links at any step, checked to be a regular file,
  size-capped, copied into a folder of the grader's.
- :func:`drop_scratch` removes it (``shutil.rmtree`` never follows links).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["SCRATCH_PREFIX", "ScratchError", "ensure_scratch", "scratch_of", "read_back", "copy_back", "drop_scratch"]

SCRATCH_PREFIX = "parcel-scratch-"
_KEY = "parcel_scratch"
#: Files of the graded folder copied into a scratch folder: at most this many, this large in all.
MAX_FILES, MAX_BYTES = 1000, 256 * 2**20


class ScratchError(ValueError):
    """A file the grader was to read back from a kernel's scratch folder is not a plain file inside it."""


def _open_nofollow(base_fd: int, rel: str, flags: int) -> int:
    """``rel`` opened under the folder ``base_fd`` without following a link at any step."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ScratchError(f"{rel!r} is not a path inside the scratch folder")
    fd = os.dup(base_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError as exc:
        raise ScratchError(f"{rel!r}: {'a link' if exc.errno == 40 else exc.strerror}") from None
    finally:
        os.close(fd)


def read_back(scratch, rel: str, max_bytes: int) -> bytes:
    """The bytes of ``scratch/rel``: a regular file reached without following links, at most ``max_bytes``.

    Raises :class:`ScratchError` with one sentence otherwise (a link, a folder, a FIFO, a device, too large,
    missing).

    Example
    -------
    >>> d = tempfile.mkdtemp(); _ = Path(d, "m.keras").write_bytes(b"PK")
    >>> os.symlink("/etc/passwd", os.path.join(d, "link.keras"))
    >>> read_back(d, "m.keras", 10)
    b'PK'
    >>> read_back(d, "link.keras", 10)
    Traceback (most recent call last):
    ...
    parcel_course.scratch.ScratchError: 'link.keras': a link
    >>> shutil.rmtree(d)
    """
    base = os.open(str(scratch), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = _open_nofollow(base, rel, os.O_RDONLY)
    finally:
        os.close(base)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ScratchError(f"{rel!r} is not a regular file")
        if st.st_size > max_bytes:
            raise ScratchError(f"{rel!r} is {st.st_size / 2**20:.1f} MB, above the {max_bytes / 2**20:.0f} MB cap")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:     # grew while read
                raise ScratchError(f"{rel!r} is above the {max_bytes / 2**20:.0f} MB cap")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def copy_back(scratch, rel: str, target, max_bytes: int) -> Path:
    """:func:`read_back` ``scratch/rel`` into the grader's own new file ``target`` (mode 0644)."""
    data = read_back(scratch, rel, max_bytes)
    fd = os.open(str(target), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(target)


def _copy_regular_files(src: Path, dst: Path) -> None:
    """The regular files under ``src`` (no notebook, no link, no special file) copied into ``dst``."""
    count, total = 0, 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))
                       and d not in (".ipynb_checkpoints", "__pycache__", ".parcel-attest")]
        for name in filenames:
            if name.endswith(".ipynb"):
                continue
            try:
                data = read_back(src, str(rel / name), MAX_BYTES - total)
            except ScratchError:
                continue             # a link or a special file: the kernel does without it
            count, total = count + 1, total + len(data)
            if count > MAX_FILES:
                return
            (dst / rel).mkdir(parents=True, exist_ok=True)
            (dst / rel / name).write_bytes(data)


def ensure_scratch(resources: dict) -> Path:
    """The scratch folder of the notebook being graded, made on first call (see the module's docstring).

    The kernel's working directory (``resources["metadata"]["path"]``) becomes it; the graded folder is
    kept in ``resources["parcel_scratch"]["graded"]``.
    """
    info = resources.setdefault(_KEY, {})
    if info.get("path") and os.path.isdir(info["path"]):
        return Path(info["path"])
    meta = resources.setdefault("metadata", {})
    graded = Path(info.get("graded") or meta.get("path") or ".").resolve()
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    os.chmod(scratch, 0o755)
    _copy_regular_files(graded, scratch)
    info.update(path=str(scratch), graded=str(graded))
    meta["path"] = str(scratch)
    return scratch


def scratch_of(resources: dict) -> Path | None:
    """The scratch folder made for this notebook, if any."""
    path = (resources or {}).get(_KEY, {}).get("path")
    return Path(path) if path else None


def drop_scratch(resources: dict) -> None:
    """Remove the notebook's scratch folder (links in it are removed, never followed)."""
    info = (resources or {}).get(_KEY, {})
    path = info.pop("path", None)
    if path and Path(path).name.startswith(SCRATCH_PREFIX):
        shutil.rmtree(path, ignore_errors=True)
    if info.get("graded"):
        resources.setdefault("metadata", {})["path"] = info["graded"]
