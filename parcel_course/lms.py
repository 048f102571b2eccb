"""The LMS route: submissions in from a Moodle or Canvas download, grades and feedback back out.

Students who hand in through the course's LMS are collected from the archive
the LMS's "download all submissions" makes; their grades go back as the
LMS's grade-import CSV and their feedback as the LMS's bulk feedback upload.

Three steps, three commands::

    parcel-course collect 01_convolution --from download.zip --lms moodle --roster worksheet.csv
    parcel-course grade 01_convolution
    parcel-course export --lms moodle          # reports/lms/: the grades CSV and the feedback zip

What each LMS writes (checked against their source, see the README's "The LMS route"):

Moodle (mod_assign's downloader, Moodle 4.1 to 4.4)
    ``Full Name_<participant id>_assignsubmission_file/<file>`` ("download
    submissions in folders", the default since 3.1; before 4.1 the folder
    ends with ``_``), or flat ``Full Name_<participant id>_assignsubmission_file_<file>``.
    Moodle replaces ``_`` in a name by a space.  The participant id is the one
    of the offline grading worksheet's ``Identifier`` column
    (``Participant <id>``), the roster we read.  Zip entry times are the
    download's (Moodle 3.9+ streams the zip), so submission times come from the
    worksheet's ``Last modified (submission)``.
Canvas (``ContentZipper``, Canvas 2023-2025)
    ``<sortable name, lower case, letters only>[_LATE]_<user id>_<file id>_<file name>``;
    a file re-uploaded under a name the student already used gets ``-1``,
    ``-2`` before its extension.  The zip gives no submission time: only the
    ``LATE`` flag.

Untrusted input: an entry with an absolute path or ``..``, a link or device,
a name that collides with another after Unicode (NFKC) and case
normalisation, an encrypted entry, a path deeper than ``max_depth``, an
entry or archive that unpacks beyond its size cap (counted while reading,
not trusted from the header) and any archive inside the archive are refused
and reported; nothing is written but ``submitted/<student>/<assignment>/<release
notebook>`` and ``timestamp.txt``, each path checked to lie under
``submitted/``.  Every entry of the archive gets one line of the report.

Example
-------
>>> from parcel_course.lms import parse_canvas_name
>>> parse_canvas_name("ångströmzoë_LATE_1005_88123_convolution-1.ipynb")["late"]
True
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import nbformat
from nbgrader.api import MissingEntry
from nbgrader.plugins import FileNameCollectorPlugin

from .demo import STUDENTS, fill_in, persona
from .directory import Course, CourseError
from .feedback import write_feedback
from .grading.schedule import grade_all
from .report import submission_rows, summary_table

__all__ = ["LMS_NAMES", "ArchiveLimits", "Entry", "read_archive", "read_folder", "parse_moodle_name",
           "parse_canvas_name", "MoodleCollector", "CanvasCollector", "read_roster", "collect_lms",
           "CollectReport", "export_lms", "simulate_download", "run_lms_demo"]

LMS_NAMES = ("moodle", "canvas")
NESTED_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".whl", ".jar")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MOODLE_DATE = "%A, %d %B %Y, %I:%M %p"       # userdate()'s strftimedatetime, English language pack


# -- reading an untrusted archive ---------------------------------------------------------------

@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what an LMS download may unpack to.

    Parameters
    ----------
    max_entry_bytes : int
        One file, decompressed (a notebook with outputs is a few MB).
    max_total_bytes : int
        The whole archive, decompressed.
    max_entries : int
        Entries in the archive.
    max_depth : int
        Folders in an entry's path.

    Example
    -------
    >>> ArchiveLimits(max_entry_bytes=1 << 20).max_depth
    6
    """
    max_entry_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_entries: int = 20000
    max_depth: int = 6


@dataclass
class Entry:
    """One entry of the archive: its name, its bytes (None when refused) and its time."""
    name: str
    data: bytes | None = None
    mtime: datetime | None = None
    is_dir: bool = False
    refused: str = ""


def _norm_key(name: str) -> str:
    """The name two entries must not share: NFKC, case folded, ``\\`` as ``/``, no trailing ``/``."""
    return unicodedata.normalize("NFKC", name.replace("\\", "/")).casefold().rstrip("/")


def _path_problem(name: str, depth: int) -> str:
    """Why an entry's name cannot be used as a path under submitted/, or ''."""
    if not name or "\x00" in name or any(ord(c) < 32 for c in name):
        return "refused: a control character in the name"
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return "refused: an absolute path"
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "refused: a path with `..`"
    if len(parts) - 1 > depth:
        return f"refused: nested deeper than {depth} folders"
    return ""


def _zip_mtime(info: zipfile.ZipInfo) -> datetime:
    """The entry's time: the UTC time of its extended-timestamp field (0x5455) when present,
    else its DOS time, which has no zone and is read as this machine's local time (as unzip does)."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = int.from_bytes(extra[i:i + 2], "little"), int.from_bytes(extra[i + 2:i + 4], "little")
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return datetime.fromtimestamp(int.from_bytes(body[1:5], "little", signed=True), timezone.utc)
        i += 4 + size
    return datetime(*info.date_time).astimezone(timezone.utc)


def _is_archive(name: str, head: bytes) -> bool:
    return name.lower().endswith(NESTED_ARCHIVE_SUFFIXES) or head.startswith(_ARCHIVE_MAGIC)


def read_archive(path, limits: ArchiveLimits = ArchiveLimits()) -> list[Entry]:
    """Every entry of a zip, read safely: refused entries keep ``data=None`` and say why.

    Decompressed sizes are counted while streaming (the header's sizes are
    only a first check: a zip bomb lies in them), each entry against
    ``max_entry_bytes`` and the whole against ``max_total_bytes``.

    Example
    -------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("../evil.ipynb", "{}"); z.writestr("a/ok.txt", "hi")
    >>> [(e.name, e.refused) for e in read_archive(buf)]
    [('../evil.ipynb', 'refused: a path with `..`'), ('a/ok.txt', '')]
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CourseError(f"{path} is not a readable zip ({exc}): give the archive exactly as the LMS "
                          "downloaded it, or the folder it unpacks to.") from exc
    out, seen, total = [], {}, 0
    with zf:
        infos = zf.infolist()
        for k, info in enumerate(infos):
            e = Entry(info.filename, mtime=_zip_mtime(info), is_dir=info.is_dir())
            out.append(e)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode) if info.create_system == 3 else 0
            if k >= limits.max_entries:
                e.refused = f"refused: more than {limits.max_entries} entries in the archive"
            elif kind == stat.S_IFLNK:
                e.refused = "refused: a symbolic link"
            elif kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                e.refused = "refused: not a regular file (device, pipe or socket)"
            elif info.flag_bits & 0x1:
                e.refused = "refused: encrypted"
            else:
                e.refused = _path_problem(info.filename, limits.max_depth)
            if not e.refused:
                key = _norm_key(info.filename)
                if key in seen:
                    e.refused = f"refused: its name collides with {seen[key]!r} (same after Unicode and case normalisation)"
                else:
                    seen[key] = info.filename
            if e.refused or e.is_dir:
                continue
            if info.file_size > limits.max_entry_bytes:
                e.refused = (f"refused: declares {info.file_size} bytes unpacked, over the cap of "
                             f"{limits.max_entry_bytes} per file")
                continue
            if total + info.file_size > limits.max_total_bytes:
                e.refused = f"refused: the archive unpacks beyond the cap of {limits.max_total_bytes} bytes"
                continue
            buf = bytearray()
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(1 << 16):
                        buf += chunk
                        if len(buf) > limits.max_entry_bytes:
                            e.refused = (f"refused: unpacks beyond {limits.max_entry_bytes} bytes (declared "
                                         f"{info.file_size}): a zip bomb")
                            break
                        if total + len(buf) > limits.max_total_bytes:
                            e.refused = (f"refused: the archive unpacks beyond the cap of "
                                         f"{limits.max_total_bytes} bytes")
                            break
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
                e.refused = f"refused: unreadable ({type(exc).__name__}: {exc})"
            if e.refused:
                continue
            total += len(buf)
            if _is_archive(info.filename, bytes(buf[:8])):
                e.refused = "refused: an archive inside the archive (not opened): ask for the notebook itself"
                continue
            e.data = bytes(buf)
    return out


def read_folder(folder, limits: ArchiveLimits = ArchiveLimits()) -> list[Entry]:
    """The files of an unpacked download, read as :func:`read_archive` reads a zip (links refused, not followed)."""
    root = Path(folder)
    out, seen, total = [], {}, 0
    stack = [(root, 0)]
    while stack:
        d, depth = stack.pop()
        for item in sorted(os.scandir(d), key=lambda x: x.name):
            rel = Path(item.path).relative_to(root).as_posix()
            st = item.stat(follow_symlinks=False)
            e = Entry(rel + ("/" if item.is_dir(follow_symlinks=False) else ""),
                      mtime=datetime.fromtimestamp(st.st_mtime, timezone.utc),
                      is_dir=item.is_dir(follow_symlinks=False))
            out.append(e)
            if item.is_symlink():
                e.refused = "refused: a symbolic link"
                continue
            if not (e.is_dir or stat.S_ISREG(st.st_mode)):
                e.refused = "refused: not a regular file (device, pipe or socket)"
                continue
            e.refused = _path_problem(rel, limits.max_depth)
            key = _norm_key(rel)
            if not e.refused and key in seen:
                e.refused = f"refused: its name collides with {seen[key]!r} (same after Unicode and case normalisation)"
            seen.setdefault(key, rel)
            if len(out) > limits.max_entries:
                e.refused = f"refused: more than {limits.max_entries} entries"
            if e.refused:
                continue
            if e.is_dir:
                if depth < limits.max_depth:
                    stack.append((Path(item.path), depth + 1))
                continue
            if st.st_size > limits.max_entry_bytes or total + st.st_size > limits.max_total_bytes:
                e.refused = f"refused: {st.st_size} bytes, over the size cap"
                continue
            with open(item.path, "rb") as fh:
                data = fh.read(limits.max_entry_bytes + 1)
            if len(data) > limits.max_entry_bytes:
                e.refused = "refused: over the size cap"
                continue
            total += len(data)
            if _is_archive(rel, data[:8]):
                e.refused = "refused: an archive inside the download (not opened): ask for the notebook itself"
                continue
            e.data = data
    return out


# -- what the LMS's names say ---------------------------------------------------------------------

_MOODLE_PART = re.compile(r"^(?P<name>[^_/]*)_(?P<id>\d+)_(?P<plugin>assignsubmission_[a-z0-9]+)(?P<rest>_.*)?$")


def parse_moodle_name(path: str) -> dict | None:
    """Participant and file of a Moodle download entry, or None when the path has no participant part.

    Example
    -------
    >>> parse_moodle_name("Zoë Ångström_1005_assignsubmission_file/convolution.ipynb")["participant"]
    '1005'
    >>> parse_moodle_name("Ben Ames_1002_assignsubmission_file_convolution.ipynb")["file"]
    'convolution.ipynb'
    """
    parts = path.replace("\\", "/").split("/")
    for i, part in enumerate(parts):
        m = _MOODLE_PART.match(part)
        if not m:
            continue
        rest = (m.group("rest") or "")[1:]            # after the `_` that follows the plugin name
        tail = [p for p in [rest, *parts[i + 1:]] if p]
        folder = i + 1 < len(parts)
        return dict(name=unicodedata.normalize("NFC", m.group("name")), participant=m.group("id"),
                    plugin=m.group("plugin"), file="/".join(tail),
                    prefix="/".join(parts[:i + 1]) if folder else part[:len(part) - len(rest)],
                    folders=folder)
    return None


def parse_canvas_name(path: str) -> dict | None:
    """User, file id and file name of a Canvas download entry, as Canvas itself reads them back.

    Canvas takes the first two all-digit ``_``-separated fields as the user
    id and the file (attachment) id; ``LATE`` (or ``late`` in older exports)
    before the user id flags a late submission.

    Example
    -------
    >>> d = parse_canvas_name("amesben_1002_88001_convolution-1.ipynb")
    >>> d["user"], d["attachment"], d["file"], d["late"]
    ('1002', '88001', 'convolution-1.ipynb', False)
    """
    base = path.replace("\\", "/").split("/")[-1]
    fields = base.split("_")
    digits = [i for i, f in enumerate(fields) if f.isdigit() and f.isascii()]
    if len(digits) < 2 or digits[1] != digits[0] + 1 or digits[1] + 1 >= len(fields):
        return None
    u, a = digits[0], digits[1]
    head = fields[:u]
    late = bool(head) and head[-1].lower() == "late"
    if late:
        head = head[:-1]
    if head and head[-1] == "anon":                 # anonymous grading: anon_<anonymous id> has no user id
        return None
    return dict(name=unicodedata.normalize("NFC", "_".join(head)), user=fields[u], attachment=fields[a],
                file="_".join(fields[a + 1:]), late=late, prefix="_".join(fields[:u + 1]))


class MoodleCollector(FileNameCollectorPlugin):
    """nbgrader's collector plugin for a Moodle download: ``student_id`` is the participant id.

    The same plugin interface as nbgrader's ``zip_collect`` uses; :func:`collect_lms`
    maps participant ids to student ids through the roster.
    """

    def collect(self, submitted_file: str):
        d = parse_moodle_name(submitted_file)
        if not d or not d["file"] or os.path.splitext(d["file"])[1] not in self.valid_ext:
            return None
        return dict(student_id=d["participant"], file_id=d["file"], timestamp=None, full_name=d["name"])


class CanvasCollector(FileNameCollectorPlugin):
    """nbgrader's collector plugin for a Canvas download: ``student_id`` is the Canvas user id."""

    def collect(self, submitted_file: str):
        d = parse_canvas_name(submitted_file)
        if not d or os.path.splitext(d["file"])[1] not in self.valid_ext:
            return None
        return dict(student_id=d["user"], file_id=d["file"], timestamp=None, late=d["late"])


# -- the roster -----------------------------------------------------------------------------------

@dataclass
class Person:
    lms_id: str
    student_id: str
    name: str = ""
    submitted_at: datetime | None = None
    row: dict = field(default_factory=dict)


def _read_csv(path) -> tuple[list[str], list[dict]]:
    text = Path(path).read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def _parse_moodle_date(text: str, tz) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), MOODLE_DATE).replace(tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None


def _default_id(lms: str, header: list[str], rows: list[dict]) -> str:
    wanted = (["SIS Login ID", "SIS User ID", "ID"] if lms == "canvas" else
              ["ID number", "Username", "Email address"])
    for col in wanted:
        if col in header and all((r.get(col) or "").strip() for r in rows):
            return col
    raise CourseError(f"The roster has none of the columns {wanted} filled for every student: name the "
                      "column of student ids with --id-column.")


def read_roster(path, lms: str, id_column: str | None = None, tz=None) -> dict[str, Person]:
    """LMS identity -> :class:`Person`, from a roster as the LMS exports it.

    Canvas: the gradebook export (``Student, ID, SIS User ID, SIS Login ID,
    Section, ...``; the ``Points Possible`` row skipped); the LMS identity is
    ``ID``, the student id ``SIS Login ID`` (else ``SIS User ID``, else ``ID``).
    Moodle: the assignment's offline grading worksheet (``Identifier,
    Full name, Email address, ..., Last modified (submission), ...``); the
    identity is the participant id of ``Participant <id>``, the student id
    ``ID number`` (else ``Username``, else the part of ``Email address``
    before ``@``), and ``Last modified (submission)`` the submission time
    (Moodle writes it in the user's time zone: ``tz``, default this machine's).
    Either LMS: a plain CSV with ``lms_id`` and ``student_id`` columns.

    Example
    -------
    >>> read_roster("worksheet.csv", "moodle")["1005"].student_id     # doctest: +SKIP
    'zoe'
    """
    header, rows = _read_csv(path)
    tz = tz or datetime.now().astimezone().tzinfo
    out = {}
    if "lms_id" in header and "student_id" in header:
        for r in rows:
            out[r["lms_id"].strip()] = Person(r["lms_id"].strip(), r["student_id"].strip(), r.get("name", ""), row=r)
        return out
    if lms == "canvas":
        if "ID" not in header:
            raise CourseError(f"{path} is not a Canvas gradebook export (no `ID` column; its columns: {header[:8]}).")
        rows = [r for r in rows if (r.get("ID") or "").strip().isdigit()]     # drops Points Possible rows
        col = id_column or _default_id(lms, header, rows)
        for r in rows:
            out[r["ID"].strip()] = Person(r["ID"].strip(), r[col].strip(), r.get("Student", ""), row=r)
        return out
    if "Identifier" not in header:
        raise CourseError(f"{path} is not a Moodle grading worksheet (no `Identifier` column; its columns: "
                          f"{header[:8]}): download it from the assignment (View all submissions > "
                          "Download grading worksheet), or give a CSV with lms_id and student_id columns.")
    rows = [r for r in rows if re.search(r"\d+$", r.get("Identifier") or "")]
    col = id_column or _default_id(lms, header, rows)
    for r in rows:
        pid = re.search(r"(\d+)$", r["Identifier"]).group(1)
        sid = r[col].strip()
        if col == "Email address" and not id_column:
            sid = sid.split("@")[0]
        out[pid] = Person(pid, sid, r.get("Full name", ""),
                          _parse_moodle_date(r.get("Last modified (submission)", ""), tz), row=r)
    return out


# -- collecting ------------------------------------------------------------------------------------

@dataclass
class CollectReport:
    """What :func:`collect_lms` did: one line per archive entry, and who was placed."""
    assignment: str
    lms: str
    lines: list[tuple[str, str, str]] = field(default_factory=list)     # (status, entry, message)
    placed: dict = field(default_factory=dict)                         # student -> manifest record

    def add(self, status: str, entry: str, message: str) -> None:
        self.lines.append((status, entry, message))

    def problems(self) -> list[tuple[str, str, str]]:
        return [x for x in self.lines if x[0] not in ("placed", "folder")]

    def text(self) -> str:
        return "\n".join(f"{s:8s} {e}: {m}" for s, e, m in self.lines)

    def summary(self) -> str:
        n = len(self.problems())
        return (f"collected {sum(len(r['files']) for r in self.placed.values())} notebook(s) of "
                f"{len(self.placed)} student(s) from the {self.lms.title()} download of {self.assignment}; "
                f"{n} entr{'y' if n == 1 else 'ies'} not placed" + (" (listed above)" if n else ""))


def _release_cells(course: Course, assignment: str) -> dict[str, set]:
    """Release notebook name -> the nbgrader grade ids of its cells (to recognise a renamed notebook)."""
    out = {}
    for p in sorted((course.release / assignment).glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        out[p.name] = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    return out


def _match_notebook(filename: str, data: bytes, release: dict[str, set]) -> tuple[str | None, str, int]:
    """(release notebook, how it matched, rank) for one submitted file; (None, why not, 0) when none."""
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:       # not UTF-8, not JSON, not a notebook
        return None, f"invalid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})", 0
    base = unicodedata.normalize("NFC", PurePosixPath(filename).name)
    if base in release:
        return base, "", 3
    m = re.match(r"^(.*?)(?:-(\d+)| \((\d+)\))(\.ipynb)$", base)   # Canvas `-1`, a browser's ` (1)`
    if m and m.group(1) + m.group(4) in release:
        return m.group(1) + m.group(4), f"renamed `{base}`: a re-upload's suffix", 2
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    overlap = sorted(((len(ids & cells), name) for name, cells in release.items()), reverse=True)
    if overlap and overlap[0][0] > 0 and (len(overlap) == 1 or overlap[1][0] < overlap[0][0]):
        return overlap[0][1], f"renamed notebook `{base}` matched by content: {overlap[0][0]} graded cells", 1
    return None, f"not one of the assignment's notebooks ({', '.join(release)}) and no content match", 0


def _write_under(root: Path, rel: Path, data: bytes) -> Path:
    """Write ``root/rel``, refusing any path that resolves outside ``root``."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise CourseError(f"refusing to write {target}: outside {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def _due_date(course: Course, assignment: str) -> datetime | None:
    if not course.has_gradebook():
        return None
    with course.gradebook() as gb:
        try:
            due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return due.replace(tzinfo=timezone.utc) if due else None


def lms_dir(course: Course, assignment: str) -> Path:
    """Where the LMS route keeps what it learnt of an assignment: ``lms/<assignment>/``."""
    return course.root / "lms" / assignment


class _Candidate(NamedTuple):
    """One archive entry that may be a student's notebook."""

    entry: Entry
    parsed: dict             # what the LMS's file name says (participant or user, file, ...)
    notebook: str            # the release notebook it matched
    how: str                 # how it matched ('' for its exact name)
    rank: int                # 3 exact name, 2 a re-upload's suffix, 1 by content


def collect_lms(course: Course, assignment: str, source, lms: str, roster=None, id_column: str | None = None,
                limits: ArchiveLimits = ArchiveLimits(), tz=None) -> CollectReport:
    """Place each notebook of an LMS download under ``submitted/<student>/<assignment>/``.

    Parameters
    ----------
    course : Course
    assignment : str
    source : path
        The zip as the LMS downloaded it, or the folder it unpacks to.
    lms : {"moodle", "canvas"}
    roster : path, optional
        Canvas: the gradebook export; Moodle: the assignment's grading
        worksheet (see :func:`read_roster`).  Without it, students are named
        ``canvas-<user id>`` / ``moodle-<participant id>``.
    id_column : str, optional
        The roster's column of student ids.

    Returns
    -------
    CollectReport
        Also written to ``lms/<assignment>/collect-<lms>.txt``, with the
        manifest the export reads (``lms/<assignment>/<lms>.json``).

    Example
    -------
    >>> rep = collect_lms(Course("."), "01_convolution", "dl.zip", "canvas", "gradebook.csv")  # doctest: +SKIP
    >>> print(rep.summary())                                                                     # doctest: +SKIP
    collected 9 notebook(s) of 5 student(s) from the Canvas download of 01_convolution; ...
    """
    assignment, source, release = _collect_inputs(course, assignment, source, lms)
    people = read_roster(roster, lms, id_column, tz) if roster else None
    entries = read_folder(source, limits) if source.is_dir() else read_archive(source, limits)
    due = _due_date(course, assignment)
    rep = CollectReport(assignment, lms)
    candidates = _candidates_by_participant(entries, lms, release, rep)
    manifest = {}
    for lms_id, cands in sorted(candidates.items()):
        placed = _place_student(course, assignment, lms, lms_id, cands, people, due, rep)
        if placed is not None:
            manifest[placed[0]] = placed[1]
    rep.placed = manifest
    _write_collection(course, assignment, lms, roster, source, due, rep)
    return rep


def _collect_inputs(course: Course, assignment: str, source, lms: str) -> tuple[str, Path, dict[str, set]]:
    """(assignment, source, release cells) checked for a collection, or a CourseError saying what is missing."""
    if lms not in LMS_NAMES:
        raise CourseError(f"Unknown LMS {lms!r}: use one of {LMS_NAMES}.")
    [assignment] = course.check_assignments([assignment])
    source = Path(source)
    if not source.exists():
        raise CourseError(f"{source} does not exist: give the LMS's download (a .zip) or the folder it unpacks to.")
    release = _release_cells(course, assignment)
    if not release:
        raise CourseError(f"release/{assignment} has no notebook: run `parcel-course generate {assignment}` first.")
    return assignment, source, release


def _candidates_by_participant(entries, lms: str, release: dict[str, set], rep: CollectReport) -> dict:
    """LMS id -> its entries that match a release notebook; every other entry is a line of ``rep``."""
    candidates = {}
    for e in entries:
        lms_id, found = _read_entry(e, lms, release)
        if lms_id is None:
            rep.add(*found)
        else:
            candidates.setdefault(lms_id, []).append(found)
    return candidates


def _read_entry(e: Entry, lms: str, release: dict[str, set]):
    """``(lms id, _Candidate)`` of one archive entry, or ``(None, (status, entry, message))`` when it is none."""
    if e.refused:
        return None, ("refused", e.name, e.refused)
    if e.is_dir:
        return None, ("folder", e.name, "a folder")
    base = PurePosixPath(e.name.replace("\\", "/")).name
    if base.startswith(".") or base.startswith("~") or "__MACOSX" in e.name:
        return None, ("skipped", e.name, "a hidden or system file (not a submission)")
    parsed = parse_moodle_name(e.name) if lms == "moodle" else parse_canvas_name(e.name)
    if parsed is None:
        return None, ("skipped", e.name, f"not named as a {lms.title()} download names a participant's file")
    lms_id = parsed["participant"] if lms == "moodle" else parsed["user"]
    if lms == "moodle" and parsed["plugin"] != "assignsubmission_file":
        return None, ("skipped", e.name, f"{parsed['plugin']} (online text), not a file submission")
    if not parsed["file"].lower().endswith(".ipynb"):
        return None, ("skipped", e.name, "not a notebook (.ipynb)")
    nb, how, rank = _match_notebook(parsed["file"], e.data, release)
    if nb is None:
        return None, ("skipped", e.name, how)
    return lms_id, _Candidate(e, parsed, nb, how, rank)


def _place_student(course: Course, assignment: str, lms: str, lms_id: str, cands: list, people, due,
                   rep: CollectReport) -> tuple[str, dict] | None:
    """Write one participant's notebooks and timestamp; ``(student id, manifest record)``, or None if refused."""
    parsed0 = cands[0].parsed
    person = _roster_person(lms, lms_id, cands, people, rep)
    if person is None:
        return None
    chosen = {}
    for c in cands:
        chosen.setdefault(c.notebook, []).append(c)
    files, times = _choose_files(chosen, person, assignment, rep)
    entry_time = max(t for t in times if t) if any(times) else None
    late = any(c.parsed.get("late") for c in cands)
    ts, source_note = _submission_time(lms, person, entry_time, late, due)
    _write_submission(course, assignment, person, files, chosen, ts)
    return person.student_id, dict(
        lms_id=lms_id, name=person.name or parsed0["name"], prefix=parsed0["prefix"],
        folders=bool(parsed0.get("folders")), late=late, timestamp=ts.isoformat() if ts else None,
        time_source=source_note, files=files)


def _roster_person(lms: str, lms_id: str, cands: list, people, rep: CollectReport) -> Person | None:
    """The participant's :class:`Person`, or None (each entry a line of ``rep``) when off the roster or unnamable."""
    parsed0 = cands[0].parsed
    person = people.get(lms_id) if people is not None else Person(lms_id, f"{lms}-{lms_id}", parsed0["name"])
    if person is None:
        for c in cands:
            rep.add("unknown", c.entry.name, f"{parsed0['name'] or '?'} ({lms} id {lms_id}) is not on the roster: "
                    "add them to the roster (or place the notebook by hand)")
        return None
    if not _STUDENT_ID.match(person.student_id) or person.student_id in (".", ".."):
        for c in cands:
            rep.add("refused", c.entry.name, f"the roster's student id {person.student_id!r} cannot be a folder name")
        return None
    return person


def _upload_order(c: _Candidate):
    """Sort key of one notebook's entries: the exact name first, then the newest, then the highest suffix."""
    return (c.rank, c.entry.mtime or datetime.min.replace(tzinfo=timezone.utc),
            int((re.findall(r"\d+", PurePosixPath(c.parsed["file"]).stem) or ["0"])[-1]))


def _choose_files(chosen: dict, person: Person, assignment: str, rep: CollectReport) -> tuple[dict, list]:
    """(notebook -> manifest file record, entry times) of the entry kept for each notebook; the rest are ``twice``."""
    files, times = {}, []
    for nb, group in sorted(chosen.items()):
        group.sort(key=_upload_order, reverse=True)
        keep = group[0]
        for other in group[1:]:
            rep.add("twice", other.entry.name, f"two files for {nb}: placed {keep.parsed['file']!r}, not this one")
        files[nb] = dict(entry=keep.entry.name, file=keep.parsed["file"], attachment=keep.parsed.get("attachment"))
        times.append(keep.entry.mtime)
        rep.add("placed", keep.entry.name, f"-> submitted/{person.student_id}/{assignment}/{nb}"
                + (f" ({keep.how})" if keep.how else ""))
    return files, times


def _write_submission(course: Course, assignment: str, person: Person, files: dict, chosen: dict, ts) -> None:
    """Replace ``submitted/<student>/<assignment>/`` with the kept notebooks and ``timestamp.txt``."""
    sdir = course.submitted / person.student_id / assignment
    if sdir.exists():
        shutil.rmtree(sdir)       # this download replaces an earlier collection of this student
    for nb, rec in files.items():
        data = next(c.entry.data for c in chosen[nb] if c.entry.name == rec["entry"])
        _write_under(course.submitted, Path(person.student_id) / assignment / nb, data)
    if ts is not None:
        _write_under(course.submitted, Path(person.student_id) / assignment / "timestamp.txt",
                     ts.isoformat(" ").encode())


def _write_collection(course: Course, assignment: str, lms: str, roster, source: Path, due,
                      rep: CollectReport) -> None:
    """Write ``lms/<assignment>/``: the roster's copy, the manifest ``<lms>.json`` and ``collect-<lms>.txt``."""
    out = lms_dir(course, assignment)
    out.mkdir(parents=True, exist_ok=True)
    if roster:
        shutil.copyfile(roster, out / f"roster-{lms}.csv")
    (out / f"{lms}.json").write_text(json.dumps(dict(
        lms=lms, assignment=assignment, source=str(source.resolve()), due=due.isoformat() if due else None,
        collected=datetime.now(timezone.utc).isoformat(), students=rep.placed), indent=1, ensure_ascii=False))
    (out / f"collect-{lms}.txt").write_text(rep.text() + "\n" + rep.summary() + "\n")


def _submission_time(lms, person, entry_time, late, due):
    """(time for timestamp.txt, where it came from): see the README's table."""
    if lms == "moodle":
        if person.submitted_at:
            return person.submitted_at, "the grading worksheet's Last modified (submission)"
        return entry_time, "the zip entry's time (Moodle 3.9+ writes the download's time: give the worksheet)"
    if late:
        if due:
            return due + timedelta(seconds=1), "Canvas LATE flag: late by an unknown time (recorded as due + 1 s)"
        return entry_time, "Canvas LATE flag, no due date in the gradebook: the zip entry's time"
    if due and entry_time and entry_time > due:
        return due, "Canvas: not late; the zip entry's time is the download's, so the due date"
    return entry_time, "the zip entry's time"


# -- grades and feedback back -------------------------------------------------------------------

def _manifest(course: Course, assignment: str, lms: str) -> dict:
    p = lms_dir(course, assignment) / f"{lms}.json"
    if not p.exists():
        raise CourseError(f"No {lms.title()} collection of {assignment} ({p} is missing): run "
                          f"`parcel-course collect {assignment} --from <download> --lms {lms}` first.")
    return json.loads(p.read_text())


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _scores(course: Course, assignment: str) -> dict[str, tuple[float, float]]:
    return {r["student"]: (r["score"], r["max_score"]) for r in submission_rows(course)
            if r["assignment"] == assignment}


def _canvas_column(header: list[str], assignment: str) -> str | None:
    key = re.sub(r"[^a-z0-9]", "", assignment.lower())
    for h in header:
        name = re.sub(r"\s*\(\d+\)\s*$", "", h)
        if re.sub(r"[^a-z0-9]", "", name.lower()) == key:
            return h
    return None


def export_lms(course: Course, lms: str, assignments=None, roster=None, missing: str = "blank",
               feedback: bool = True, out=None) -> list[Path]:
    """Write each LMS's grade-import file and bulk feedback zip under ``reports/lms/``.

    Moodle, one per assignment: ``<assignment>-moodle-grades.csv``, the
    grading worksheet with its ``Grade`` filled in (upload it with "Upload
    grading worksheet"), and ``<assignment>-moodle-feedback.zip``, the
    feedback HTML in the participant folders of the download (upload it with
    "Upload multiple feedback files in a zip").  Canvas: ``canvas-grades.csv``,
    the gradebook export with one column per assignment (Gradebook > Import),
    and ``<assignment>-canvas-feedback.zip``, named as the download so that
    "Upload submissions" attaches each file to the student's submission as a comment.

    Scores are the gradebook's (manual grades counted), scaled to the LMS's
    points (Canvas' ``Points Possible``, Moodle's ``Maximum grade``) when the
    roster has them.  A student on the roster without a submission gets an
    empty cell (``missing="blank"``: neither LMS changes a grade for an empty
    cell; Moodle skips the row) or ``0`` (``missing="zero"``).

    Example
    -------
    >>> export_lms(Course("."), "canvas")                 # doctest: +SKIP
    [PosixPath('.../reports/lms/canvas-grades.csv'), PosixPath('.../reports/lms/01_convolution-canvas-feedback.zip')]
    """
    if lms not in LMS_NAMES:
        raise CourseError(f"Unknown LMS {lms!r}: use one of {LMS_NAMES}.")
    if missing not in ("blank", "zero"):
        raise CourseError(f"missing={missing!r}: use 'blank' or 'zero'.")
    if assignments is None:
        assignments = [a for a in course.assignments() if (lms_dir(course, a) / f"{lms}.json").exists()]
        if not assignments:
            raise CourseError(f"Nothing collected from {lms.title()}: run `parcel-course collect <assignment> "
                              f"--from <download> --lms {lms}` first.")
    assignments = course.check_assignments(assignments)
    out = Path(out) if out else course.reports / "lms"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if feedback:
        for a in assignments:
            graded = {d.parent.name for d in course.autograded.glob(f"*/{a}") if any(d.glob("*.ipynb"))}
            wanted = sorted(graded & set(_manifest(course, a, lms)["students"]))
            if wanted:
                write_feedback(course, [a], wanted)
    if lms == "canvas":
        written.append(_export_canvas(course, assignments, roster, missing, out))
    for a in assignments:
        if lms == "moodle":
            written.append(_export_moodle(course, a, roster, missing, out))
        if feedback:
            written.append(_feedback_zip(course, a, lms, out))
    return written


def _export_moodle(course, assignment, roster, missing, out) -> Path:
    man = _manifest(course, assignment, "moodle")
    scores = _scores(course, assignment)
    roster = Path(roster) if roster else lms_dir(course, assignment) / "roster-moodle.csv"
    by_pid = {rec["lms_id"]: (sid, rec) for sid, rec in man["students"].items()}
    if roster.exists():
        header, rows = _read_csv(roster)
    else:
        header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
        now = datetime.now().astimezone().strftime(MOODLE_DATE)
        rows = [{"Identifier": f"Participant {rec['lms_id']}", "Full name": rec["name"], "Email address": "",
                 "Status": "Submitted for grading", "Grade": "", "Maximum grade": "",
                 "Grade can be changed": "Yes", "Last modified (submission)": "-",
                 "Last modified (grade)": now, "Feedback comments": ""} for sid, rec in sorted(man["students"].items())]
    for col in ("Identifier", "Grade", "Last modified (grade)"):
        if col not in header:
            raise CourseError(f"{roster} has no {col!r} column: Moodle's worksheet import needs it.")
    for r in rows:
        pid = (re.search(r"(\d+)$", r.get("Identifier") or "") or [None, None])[1]
        sid = by_pid.get(pid, (None,))[0]
        if sid in scores:
            score, max_score = scores[sid]
            top = float(r["Maximum grade"]) if (r.get("Maximum grade") or "").strip() else max_score
            r["Grade"] = _fmt(score / max_score * top if max_score else 0.0)
            if not (r.get("Maximum grade") or "").strip():
                r["Maximum grade"] = _fmt(max_score)
        elif pid:
            r["Grade"] = "0.00" if missing == "zero" else ""
    path = out / f"{assignment}-moodle-grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _export_canvas(course, assignments, roster, missing, out) -> Path:
    fixed = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    mans = {a: _manifest(course, a, "canvas") for a in assignments}
    roster = Path(roster) if roster else next(
        (lms_dir(course, a) / "roster-canvas.csv" for a in assignments
         if (lms_dir(course, a) / "roster-canvas.csv").exists()), None)
    if roster and roster.exists():
        header, rows = _read_csv(roster)
        points = next((r for r in rows if (r.get("Student") or "").strip() == "Points Possible"), None)
        rows = [r for r in rows if (r.get("ID") or "").strip().isdigit()]
    else:
        header, points, rows = fixed, None, []
        seen = set()
        for a, man in mans.items():
            for sid, rec in sorted(man["students"].items()):
                if rec["lms_id"] not in seen:
                    seen.add(rec["lms_id"])
                    rows.append({"Student": rec["name"], "ID": rec["lms_id"], "SIS User ID": "", "SIS Login ID": sid,
                                 "Section": ""})
    columns, new_points = [], {}
    by_user = {}
    for a, man in mans.items():
        col = _canvas_column(header, a) or a
        columns.append(col)
        scores = _scores(course, a)
        sid_of = {rec["lms_id"]: sid for sid, rec in man["students"].items()}
        top = None
        if points and (points.get(col) or "").strip():
            top = float(points[col])
        for r in rows:
            sid = sid_of.get(r["ID"].strip())
            if sid in scores:
                score, max_score = scores[sid]
                t = top if top is not None else max_score
                new_points[col] = t
                by_user.setdefault(r["ID"], {})[col] = _fmt(score / max_score * t if max_score else 0.0)
            else:
                by_user.setdefault(r["ID"], {})[col] = "0.00" if missing == "zero" else ""
        new_points.setdefault(col, top if top is not None else next(iter(scores.values()), (0, 0))[1])
    fields = [c for c in fixed if c in header or c in ("Student", "ID")] + columns
    path = out / "canvas-grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        w.writerow(["    Points Possible"] + [""] * (len(fields) - 1 - len(columns))
                   + [_fmt(new_points[c]) for c in columns])
        for r in rows:
            w.writerow([r.get(c, "") for c in fields[:len(fields) - len(columns)]]
                       + [by_user[r["ID"]][c] for c in columns])
    return path


def _feedback_zip(course, assignment, lms, out) -> Path:
    """The feedback HTML of an assignment, named as the LMS's bulk upload reads it."""
    man = _manifest(course, assignment, lms)
    path = out / f"{assignment}-{lms}-feedback.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for sid, rec in sorted(man["students"].items()):
            for nb, f in sorted(rec["files"].items()):
                html = course.feedback / sid / assignment / (Path(nb).stem + ".html")
                if not html.exists():
                    continue
                if lms == "moodle":
                    name = (f"{rec['prefix']}/{html.name}" if rec["folders"] else f"{rec['prefix']}{html.name}")
                else:      # Canvas reads <..>_<user id>_<file id>_<..>: the file id of the submitted notebook
                    name = f"{rec['prefix']}_{f['attachment']}_{html.name}"
                z.writestr(name, html.read_bytes())
    return path


# -- a simulated LMS download (tests and ``make demo-lms``) ------------------------------------

def simulate_download(path, lms: str, people: list[dict], folders: bool = True) -> Path:
    """Write a zip as the LMS's "download all submissions" names it.

    ``people``: dicts with ``name`` (full name), ``id`` (Moodle participant
    id / Canvas user id), ``files`` ({file name: bytes}), and for Canvas
    ``sortable`` (``"Last, First"``), ``late`` and ``file_ids``.  Entry times
    are the time of the "download", as both LMSs write them.

    Example
    -------
    >>> import tempfile
    >>> p = simulate_download(Path(tempfile.mkdtemp()) / "dl.zip", "canvas", [dict(
    ...     name="Ada Lovelace", sortable="Lovelace, Ada", id=1001, files={"convolution.ipynb": b"{}"})])
    >>> zipfile.ZipFile(p).namelist()
    ['lovelaceada_1001_70001_convolution.ipynb']
    """
    now = datetime.now().timetuple()[:6]
    fid = 70000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p in people:
            for fname, data in p["files"].items():
                fid += 1
                if lms == "moodle":
                    prefix = f"{p['name'].replace('_', ' ')}_{p['id']}_assignsubmission_file"
                    name = f"{prefix}/{fname}" if folders else f"{prefix}_{fname}"
                else:
                    slug = re.sub(r"[^\w]", "", p.get("sortable", p["name"]).lower())
                    name = "_".join([slug] + (["LATE"] if p.get("late") else []) + [str(p["id"]),
                                    str(p.get("file_ids", {}).get(fname, fid)), fname])
                z.writestr(zipfile.ZipInfo(name, now), data)
    return Path(path)


def run_lms_demo(course: Course, lms: str, workers: int = 2, assignment: str = "01_convolution", out=print) -> dict:
    """The demo's simulated class handed in through an LMS: download, collect, grade, export.

    The six students of :mod:`parcel_course.demo` fill in the assignment's
    release notebooks; the LMS's download and roster are simulated (fay
    hands in late, ben's file is a re-upload with Canvas' ``-1``, cleo
    renamed her notebook), then the three commands of the LMS route run.
    """
    [assignment] = course.check_assignments([assignment])
    out(f"== parcel-course LMS demo: {lms.title()}, {assignment}, {len(STUDENTS)} students")
    course.build_source()
    course.generate([assignment])
    for s in STUDENTS:
        shutil.rmtree(course.submitted / s / assignment, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="parcel-lms-demo-"))
    try:
        people, rows = [], []
        due = datetime.now(timezone.utc) - timedelta(hours=1)
        course.nbgrader("db", "assignment", "add", assignment, f"--duedate={due.isoformat()}")
        for i, s in enumerate(STUDENTS):
            files = {}
            for nb_path in sorted((course.release / assignment).glob("*.ipynb")):
                copy = work / s / nb_path.name
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(nb_path, copy)
                fill_in(copy, course.source / assignment / nb_path.name,
                        **persona(s, assignment, nb_path.stem, assignment))
                name = nb_path.name
                if s == "ben":
                    name = nb_path.stem + "-1.ipynb"            # a re-upload under the same name
                elif s == "cleo" and len(files) == 0:
                    name = "my_" + nb_path.name                 # renamed: matched by its content
                files[name] = copy.read_bytes()
            nbformat.validate(nbformat.reads(next(iter(files.values())).decode(), as_version=4))
            full = f"{s.title()} Demo"
            people.append(dict(name=full, sortable=f"Demo, {s.title()}", id=1001 + i, files=files,
                               late=(s == "fay")))
            submitted = (due + timedelta(minutes=30) if s == "fay" else due - timedelta(hours=2)).astimezone()
            rows.append(dict(s=s, id=1001 + i, name=full, when=submitted))
        download = simulate_download(work / f"{lms}-download.zip", lms, people)
        roster = work / f"{lms}-roster.csv"
        with open(roster, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if lms == "canvas":
                w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{assignment} (501)"])
                w.writerow(["    Points Possible", "", "", "", "", "100.00"])
                for r in rows:
                    w.writerow([f"Demo, {r['s'].title()}", r["id"], "", r["s"], "Demo", ""])
            else:
                w.writerow(["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                            "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                            "Feedback comments"])
                for r in rows:
                    w.writerow([f"Participant {r['id']}", r["name"], f"{r['s']}@example.edu",
                                "Submitted for grading", "", "100.00", "Yes", r["when"].strftime(MOODLE_DATE), "-", ""])
        out(f"-- parcel-course collect {assignment} --from {download.name} --lms {lms} --roster {roster.name}")
        rep = collect_lms(course, assignment, download, lms, roster)
        for s, e, m in rep.lines:
            if s != "folder":
                out(f"   {s:8s} {e}: {m}")
        out("   " + rep.summary())
        out(f"-- parcel-course grade {assignment} --workers {workers}")
        results = grade_all(course, [assignment], list(rep.placed), workers=workers, force=True)
        out(f"   graded {len(results)} submission(s), {sum(r.status != 'graded' for r in results)} with problems")
        out(f"-- parcel-course export --lms {lms}")
        paths = export_lms(course, lms, [assignment])
        for p in paths:
            out(f"   {p.relative_to(course.root)}")
        out("")
        out(summary_table(course))
        return dict(report=rep, results=results, paths=paths)
    finally:
        shutil.rmtree(work, ignore_errors=True)
