"""Intake: read what a student handed in as regular files only, never following a link.

Everything under ``submitted/<student>/<assignment>/`` and in the exchange's
``inbound/`` was written by a student (or by ``unzip`` of a student's
archive): a symbolic link there would make the instructor's process read
whatever it points to (the source notebook with the hidden tests, another
student's work, ``/etc/passwd``) and hand it to the grader as the student's
file.  :func:`read_submission` walks a folder with ``lstat`` and opens each
entry with ``O_NOFOLLOW`` relative to its parent's descriptor, checks again
with ``fstat`` after opening that it is a regular file, and refuses, with a
one-line reason each: links (symbolic and hard), devices, FIFOs, sockets,
files over the size cap, and whatever would pass the folder's caps on total
size, number of files and depth.

The caps and the lateness tolerance of collection are configured like
nbgrader, ``c.Intake.<name>`` in ``nbgrader_config.py`` (:class:`Intake`).
What intake refused or flagged is also written, one JSON object a line, to
``submitted/.intake.jsonl`` (:data:`LOG_NAME`), beside the submissions but
in no submission folder, so that ``parcel-course report`` can show it.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "answer.ipynb").write_text("{}")
>>> (d / "secret").symlink_to("/etc/passwd")
>>> got = read_submission(d)
>>> sorted(got.files), [r.path for r in got.refused]
(['answer.ipynb'], ['secret'])
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from traitlets import Bool, Float, Integer
from traitlets.config import Configurable

__all__ = ["Intake", "Refused", "SubmissionFiles", "read_submission", "refused_flags", "LOG_NAME",
           "append_log", "load_log", "IGNORED"]

#: The intake log: under submitted/, never inside a submission folder.
LOG_NAME = ".intake.jsonl"

#: Folders skipped without a word (Jupyter's and Python's caches), as nbgrader's CourseDirectory.ignore does.
IGNORED = (".ipynb_checkpoints", "__pycache__")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: opening a FIFO swapped in after the lstat must not hang; O_NOCTTY: never a controlling terminal
_FILE_FLAGS = (os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))


class Intake(Configurable):
    """What intake accepts (``c.Intake.<name>`` in ``nbgrader_config.py``).

    Example
    -------
    >>> Intake().max_file_mb
    50.0
    """

    max_file_mb = Float(50.0, help="Largest single file of a submission, MB; a larger one is refused "
                                   "(not read) and reported.").tag(config=True)
    max_total_mb = Float(200.0, help="All the files of one submission together, MB; the files past it are "
                                     "refused and reported.").tag(config=True)
    max_files = Integer(500, help="Files (and folders) in one submission; the ones past it are refused and "
                                  "reported.").tag(config=True)
    max_depth = Integer(16, help="Folders nested in one submission; deeper ones are refused.").tag(config=True)
    timestamp_tolerance = Float(300.0, help="Seconds a student-written submission time (the exchange "
                                            "entry's name, its timestamp.txt) may differ from the time "
                                            "observed in the exchange before `parcel-course collect` flags "
                                            "it. Lateness always uses the observed time.").tag(config=True)
    check_owner = Bool(True, help="`parcel-course collect` refuses an exchange entry (or a file in it) "
                                  "owned by another system user than the one named like the student it "
                                  "names, when such a user exists.").tag(config=True)

    @classmethod
    def of(cls, course) -> "Intake":
        """The course's settings (its ``nbgrader_config.py``); the defaults without a course."""
        return cls(config=course.config()) if course is not None else cls()


@dataclass
class Refused:
    """An entry of a submission folder that was not read, and why (one line)."""
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path or '.'}: {self.reason}"


@dataclass
class SubmissionFiles:
    """What :func:`read_submission` read: regular files by relative path, what it refused, and their stats.

    ``stats`` holds the ``fstat`` of the folder itself (key ``""``) and of
    every folder and file read, for the owner and change time of each.
    """
    files: dict = field(default_factory=dict)
    refused: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the folder itself could be read (possibly with some entries refused)."""
        return "" in self.stats


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _link_target(name: str, dir_fd: int) -> str:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "?"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{int(n)} bytes"


def open_folder(path, within=None) -> int:
    """A descriptor of the folder ``path``, opened without following a link in it.

    With ``within`` (a trusted folder above ``path``), every component of
    ``path`` below ``within`` is opened with ``O_NOFOLLOW`` in turn, so that
    no component may be a link either; without it, only the last one is
    checked.  Raises :class:`OSError` (``ELOOP`` or ``ENOTDIR`` for a link or
    a file).
    """
    path = Path(path)
    if within is None:
        return os.open(path, _DIR_FLAGS)
    parts = path.relative_to(within).parts
    fd = os.open(within, _DIR_FLAGS & ~_NOFOLLOW)
    try:
        for part in parts:
            if part in ("..", "."):
                raise OSError(f"{path}: refusing a {part!r} component")
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_submission(path, within=None, settings: Intake | None = None, ignore=IGNORED,
                    hard_links: bool = False) -> SubmissionFiles:
    """Read the regular files of the folder ``path`` without following links; refuse anything else.

    Parameters
    ----------
    path : str or Path
        A submission folder (``submitted/<student>/<assignment>``, an exchange entry).
    within : str or Path, optional
        A trusted folder above ``path`` (``submitted/``, the exchange's ``inbound/``): no component
        between it and ``path`` may be a link.
    settings : Intake, optional
        The caps (default: :class:`Intake`'s defaults).
    ignore : tuple of str
        Names of folders skipped silently (Jupyter's checkpoints, Python's caches).
    hard_links : bool, default False
        Read files with several names (for the instructor's own folders, source/); a student's
        is refused, since the other name may be a file of the course or of another student.

    Returns
    -------
    SubmissionFiles
        ``files`` (relative path -> bytes), ``refused`` (:class:`Refused`, one line each) and ``stats``.
        When the folder itself is refused, ``files`` is empty and ``refused`` says why (path ``""``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "big.bin").write_bytes(b"x" * 2000)
    >>> got = read_submission(d, settings=Intake(max_file_mb=0.001))
    >>> got.files, got.refused[0].line()
    ({}, 'big.bin: 2000 bytes, over the cap of 1000 bytes per file (c.Intake.max_file_mb): not read')
    """
    settings = settings or Intake()
    out = SubmissionFiles()
    max_file = int(settings.max_file_mb * 1e6)
    max_total = int(settings.max_total_mb * 1e6)
    budget = {"bytes": 0, "entries": 0, "hard_links": hard_links}
    try:
        fd = open_folder(path, within)
    except OSError as exc:
        path = Path(path)
        links = [p for p in [path, *path.parents] if within is not None and p != Path(within)
                 and p.is_relative_to(within) and p.is_symlink()] if within is not None else []
        if path.is_symlink():
            why = f"is a symbolic link (to {os.readlink(path)}): not followed, not read"
        elif links:
            why = f"is reached through a symbolic link ({links[0]} -> {os.readlink(links[0])}): not read"
        elif path.exists() and not path.is_dir():
            why = f"is {_kind(os.lstat(path).st_mode)}, not a folder: not read"
        else:
            why = f"cannot be opened ({exc.strerror or exc}): not read"
        out.refused.append(Refused("", why))
        return out
    try:
        st = os.fstat(fd)
        out.stats[""] = st
        _walk(fd, "", 0, settings, ignore, out, budget, max_file, max_total)
    finally:
        os.close(fd)
    return out


def _walk(dir_fd, prefix, depth, settings, ignore, out, budget, max_file, max_total):
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError as exc:
        out.refused.append(Refused(prefix, f"cannot be listed ({exc.strerror}): not read"))
        return
    for name in names:
        rel = f"{prefix}{name}"
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            out.refused.append(Refused(rel, f"vanished or unreadable ({exc.strerror}): not read"))
            continue
        if stat.S_ISDIR(st.st_mode) and name in ignore:
            continue
        budget["entries"] += 1
        if budget["entries"] > settings.max_files:
            out.refused.append(Refused(rel, f"past the cap of {settings.max_files} files and folders per "
                                            "submission (c.Intake.max_files): not read"))
            continue
        if stat.S_ISLNK(st.st_mode):
            out.refused.append(Refused(rel, f"is a symbolic link (to {_link_target(name, dir_fd)}): not "
                                            "followed, not read"))
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 > settings.max_depth:
                out.refused.append(Refused(rel, f"folders nested deeper than {settings.max_depth} "
                                                "(c.Intake.max_depth): not read"))
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                out.refused.append(Refused(rel, f"cannot be opened as a folder without following a link "
                                                f"({exc.strerror}): not read"))
                continue
            try:
                sst = os.fstat(sub)
                if not stat.S_ISDIR(sst.st_mode) or (sst.st_dev, sst.st_ino) != (st.st_dev, st.st_ino):
                    out.refused.append(Refused(rel, "changed while it was read: not read"))
                    continue
                out.stats[rel] = sst
                _walk(sub, rel + "/", depth + 1, settings, ignore, out, budget, max_file, max_total)
            finally:
                os.close(sub)
            continue
        if not stat.S_ISREG(st.st_mode):
            out.refused.append(Refused(rel, f"is {_kind(st.st_mode)}: not read"))
            continue
        data = _read_regular(name, dir_fd, st, rel, out, budget, max_file, max_total, settings)
        if data is not None:
            out.files[rel] = data


def _read_regular(name, dir_fd, st, rel, out, budget, max_file, max_total, settings):
    if st.st_nlink > 1 and not budget["hard_links"]:
        out.refused.append(Refused(rel, f"is a hard link ({st.st_nlink} names for one file: it may be another "
                                        "file of the course or of another student): not read"))
        return None
    if st.st_size > max_file:
        out.refused.append(Refused(rel, f"{_mb(st.st_size)}, over the cap of {_mb(max_file)} per file "
                                        "(c.Intake.max_file_mb): not read"))
        return None
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        out.refused.append(Refused(rel, f"cannot be opened without following a link ({exc.strerror}): not read"))
        return None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            out.refused.append(Refused(rel, f"changed while it was read (now {_kind(fst.st_mode)}): not read"))
            return None
        if fst.st_nlink > 1 and not budget["hard_links"]:
            out.refused.append(Refused(rel, f"is a hard link ({fst.st_nlink} names for one file): not read"))
            return None
        left = min(max_file, max_total - budget["bytes"])
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, left - size + 1))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > left:
                break
        if size > max_file:
            out.refused.append(Refused(rel, f"grew past the cap of {_mb(max_file)} per file while it was read "
                                            "(c.Intake.max_file_mb): not read"))
            return None
        if size > left:
            out.refused.append(Refused(rel, f"past the cap of {_mb(max_total)} for the whole submission "
                                            "(c.Intake.max_total_mb): not read"))
            return None
        budget["bytes"] += size
        out.stats[rel] = fst
        return b"".join(chunks)
    except OSError as exc:
        out.refused.append(Refused(rel, f"cannot be read ({exc.strerror}): not read"))
        return None
    finally:
        os.close(fd)


def refused_flags(refused, where: str = "") -> list[dict]:
    """Refused entries as grading flags (``{notebook, cell, reason}``, the shape of ``GradeResult.flags``).

    Example
    -------
    >>> refused_flags([Refused("x.ipynb", "is a FIFO (named pipe): not read")])
    [{'notebook': 'x.ipynb', 'cell': 'intake', 'reason': 'refused at intake: is a FIFO (named pipe): not read'}]
    """
    return [dict(notebook=(where + r.path) or ".", cell="intake", reason=f"refused at intake: {r.reason}")
            for r in refused]


# -- the intake log ----------------------------------------------------------------------

def log_path(submitted) -> Path:
    """``submitted/.intake.jsonl``."""
    return Path(submitted) / LOG_NAME


def append_log(submitted, records) -> None:
    """Append ``records`` (dicts) to the intake log under ``submitted``, one JSON object a line."""
    records = list(records)
    if not records:
        return
    Path(submitted).mkdir(parents=True, exist_ok=True)
    path = log_path(submitted)
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link: remove it (the intake log is written by parcel-course)")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"logged": stamp, **r}, default=str) + "\n")


def load_log(submitted) -> list[dict]:
    """The intake log's records, oldest first (an unreadable line is skipped)."""
    path = log_path(submitted)
    if not path.is_file() or path.is_symlink():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out

def collected_flags(submitted) -> dict:
    """``{(student, assignment): flags}``: what collection flagged on the entry now in each submission folder.

    The flags of the last entry `parcel-course collect` copied into ``submitted/<student>/<assignment>``
    (a student-written time far from the observed one, files it refused), from the intake log.
    """
    out = {}
    for rec in load_log(submitted):
        if rec.get("status") in ("collected", "updated") and rec.get("student") and rec.get("assignment"):
            out[(rec["student"], rec["assignment"])] = list(rec.get("flags") or [])
    return out


def report_rows(submitted) -> list[list[str]]:
    """The intake log as the report's table: entries refused at collection, and collected ones flagged.

    One row per entry (its latest record): ``[assignment, student, entry, owner, status, what]``.
    """
    latest = {}
    for rec in load_log(submitted):
        if rec.get("status") == "refused" or rec.get("flags"):
            latest[(rec.get("entry"), rec.get("assignment"))] = rec
    return [[r.get("assignment") or "", r.get("student") or "", r.get("entry") or "", r.get("owner") or "",
             r.get("status") or "", "; ".join(r.get("reasons") or [])
             + "; ".join(f"{f.get('notebook', '')}: {f.get('reason', '')}" for f in r.get("flags") or [])]
            for r in sorted(latest.values(), key=lambda r: (r.get("assignment") or "", r.get("student") or "",
                                                            r.get("entry") or ""))]
