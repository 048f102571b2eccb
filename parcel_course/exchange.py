"""The nbgrader exchange, driven as instructors and students use it.

The instructor releases with the course's nbgrader_config.py; a student
fetches and submits from a directory of their own, naming their id explicitly
(``--student``), as on a shared JupyterHub or in tests.

Collection (:func:`collect_submissions`) is ours, not ``nbgrader collect``:
nbgrader's follows links when it copies, trusts the student-written times for
lateness and for which entry is newest, only warns when an entry is owned by
another user, and stops the whole class on one unparseable time.  Here each
inbound entry is judged on its own and refused with its reasons and owner,
files are read as :mod:`.intake` reads them (regular files only, no link
followed), and the submission time is the one observed in the exchange.
Running nbgrader once per entry instead would still copy through its
``shutil.copytree`` and cost a process per entry.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from traitlets.config import Config

from .directory import Course, CourseError
from .intake import Intake, append_log, load_log, read_submission, refused_flags

__all__ = ["release", "collect", "collect_submissions", "Entry", "student_fetch", "student_submit"]


def release(course: Course, assignments=None) -> list[str]:
    """Generate (from source/) and release each assignment to the exchange."""
    assignments = course.check_assignments(assignments)
    course.generate(assignments)
    Path(exchange_root(course)).mkdir(parents=True, exist_ok=True)
    for a in assignments:
        course.nbgrader("release_assignment", a, "--force")
    return assignments


def collect(course: Course, assignments=None, update: bool = True, echo=None) -> list[str]:
    """Collect every submission of each assignment from the exchange into submitted/, entry by entry.

    What :func:`collect_submissions` refused or flagged is told, one line each, to ``echo``
    (default: printed on stderr); returns the assignment ids.
    """
    assignments = course.check_assignments(assignments)
    echo = echo or (lambda line: print(line, file=sys.stderr))
    for entry in collect_submissions(course, assignments, update=update):
        if entry.status == "refused" or entry.flags:
            echo(entry.line())
    return assignments


# -- collection, one inbound entry at a time (issue 24) ------------------------------------

#: A student id names a folder of submitted/: word characters, ``.``, ``@``, ``-``; not starting with a dot.
STUDENT_ID = re.compile(r"[\w@-][\w.@-]*")

#: How nbgrader writes a submission time (``Exchange.timestamp_format``'s default), in UTC.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass
class Entry:
    """One entry of the exchange's inbound folder, and what collection did with it.

    ``status`` is ``collected`` (new in submitted/), ``updated`` (replaced an older one),
    ``unchanged`` (submitted/ already holds this or a newer one), ``superseded`` (the same
    student has a newer valid entry) or ``refused`` (``reasons`` say why).  ``observed`` is
    the submission time as the instructor's process saw it in the exchange (UTC);
    ``claimed`` the times the student's side wrote (the entry's name, its ``timestamp.txt``).
    """
    name: str
    assignment: str
    student: str | None = None
    owner: str = ""
    status: str = "refused"
    observed: datetime | None = None
    claimed: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)
    flags: list = field(default_factory=list)     # {notebook, cell, reason}: as GradeResult.flags
    files: dict = field(default_factory=dict, repr=False)

    def line(self) -> str:
        """One line for the instructor.

        Example
        -------
        >>> Entry("x+01_convolution+not a date+abc", "01_convolution", owner="eve (uid 1001)",
        ...       reasons=["its name's time 'not a date' cannot be read"]).line()
        "refused inbound entry 'x+01_convolution+not a date+abc' (owner eve (uid 1001)): its name's time 'not a date' cannot be read"
        """
        if self.status == "refused":
            return f"refused inbound entry {self.name!r} (owner {self.owner}): " + "; ".join(self.reasons)
        head = (f"{self.status} {self.student}/{self.assignment} from {self.name!r} (owner {self.owner}), "
                f"submitted {_fmt(self.observed)} as observed in the exchange")
        return head + "".join(f"; flagged: {f['notebook']}: {f['reason']}" for f in self.flags)

    def record(self) -> dict:
        """The entry as a record of the intake log (``submitted/.intake.jsonl``)."""
        return dict(kind="exchange", entry=self.name, assignment=self.assignment, student=self.student,
                    owner=self.owner, status=self.status, observed=_fmt(self.observed),
                    claimed={k: _fmt(v) for k, v in self.claimed.items()}, reasons=self.reasons, flags=self.flags)


def _fmt(ts: datetime | None) -> str | None:
    return None if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def _utc(seconds: float) -> datetime:
    """A POSIX time as nbgrader keeps times: a naive datetime in UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def _parse_time(text: str) -> datetime:
    """A student-written time, as nbgrader reads it (naive UTC); ValueError for anything unreadable."""
    from nbgrader.utils import parse_utc   # lazy: nbgrader.utils imports nbgrader's stack (1 s)
    try:
        ts = parse_utc(text.strip())
    except Exception as exc:      # dateutil's ParserError, OverflowError (year 1), TypeError...
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if ts is None or not 1970 <= ts.year <= 9000:
        raise ValueError(f"year {getattr(ts, 'year', '?')} is out of range")
    return ts


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid} (no such user)"


def _student_uid(student: str) -> int | None:
    """The uid of the system user named like ``student``, or None when there is none."""
    try:
        return pwd.getpwnam(student).pw_uid
    except KeyError:
        return None


def _inbound(course: Course) -> Path:
    return Path(exchange_root(course)) / course.course_id / "inbound"   # path_includes_course


def _release_time(course: Course, assignment: str) -> datetime | None:
    """When the assignment was last released: the change time of its folder in the exchange's outbound."""
    try:
        return _utc(os.lstat(Path(exchange_root(course)) / course.course_id / "outbound" / assignment).st_ctime)
    except OSError:
        return None


def _examine(course: Course, inbound: Path, name: str, assignment: str, settings, now: datetime,
             released: datetime | None) -> Entry:
    """Read one inbound entry (no link followed) and decide whether it may be collected."""
    entry = Entry(name, assignment)
    path = inbound / name
    st = _entry_stat(entry, path)
    if st is None or not _accept_name(entry, assignment) or not _accept_kind(entry, st, path):
        return entry
    _read_name_time(entry)
    expected = _expected_owner(entry, st, settings)
    if entry.reasons:
        return entry
    got = read_submission(path, within=inbound, settings=settings)
    if not got.ok:
        entry.reasons.extend(r.line() for r in got.refused)
        return entry
    if settings.check_owner and not _accept_file_owners(entry, got, expected if expected is not None else st.st_uid):
        return entry
    _read_times(entry, got)
    _check_times(entry, settings, now, released)
    if entry.reasons:
        return entry
    entry.flags.extend(refused_flags(got.refused))
    entry.files = got.files
    entry.status = "superseded"     # until chosen
    return entry


def _entry_stat(entry: Entry, path: Path) -> os.stat_result | None:
    """The entry's own ``lstat`` (its owner recorded), or None when it vanished."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        entry.owner = "?"
        entry.reasons.append(f"vanished ({exc.strerror})")
        return None
    entry.owner = _owner(st.st_uid)
    return st


def _accept_name(entry: Entry, assignment: str) -> bool:
    """Whether the entry is named ``<student>+<assignment>+<time>[+<random>]`` with a valid student id."""
    parts = entry.name.split("+")
    if len(parts) not in (3, 4) or parts[1] != assignment:
        entry.reasons.append("its name is not <student>+<assignment>+<time>[+<random>]")
        return False
    student = parts[0]
    if not STUDENT_ID.fullmatch(student):
        entry.reasons.append(f"{student!r} is not a valid student id (letters, digits, '_', '.', '@', '-'; "
                             "not starting with '.')")
        return False
    entry.student = student
    return True


def _accept_kind(entry: Entry, st: os.stat_result, path: Path) -> bool:
    """Whether the entry is a folder (a symbolic link is not followed)."""
    if stat.S_ISLNK(st.st_mode):
        entry.reasons.append(f"is a symbolic link (to {os.readlink(path)}): not followed")
        return False
    if not stat.S_ISDIR(st.st_mode):
        entry.reasons.append("is not a folder")
        return False
    return True


def _read_name_time(entry: Entry) -> None:
    """Record the time the entry's name claims, or why it cannot be read."""
    text = entry.name.split("+")[2]
    try:
        entry.claimed["name"] = _parse_time(text)
    except ValueError as exc:
        entry.reasons.append(f"the time in its name, {text!r}, cannot be read ({exc})")


def _expected_owner(entry: Entry, st: os.stat_result, settings) -> int | None:
    """The uid of the student's system user when owners are checked (else None); a reason if another wrote it."""
    expected = _student_uid(entry.student) if settings.check_owner else None
    if expected is not None and st.st_uid != expected:
        entry.reasons.append(f"names {entry.student} ({_owner(expected)}) but is owned by {entry.owner}: "
                             "another user wrote it")
    return expected


def _accept_file_owners(entry: Entry, got, allowed: int) -> bool:
    """Whether everything in the entry is owned by ``allowed`` (the first other owner is the reason)."""
    foreign = sorted((rel or ".", s.st_uid) for rel, s in got.stats.items() if s.st_uid != allowed)
    if foreign:
        rel, uid = foreign[0]
        entry.reasons.append(f"{rel} in it was written by {_owner(uid)}, not by {_owner(allowed)}"
                             + (f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""))
        return False
    return True


def _read_times(entry: Entry, got) -> None:
    """Record the observed time and the one ``timestamp.txt`` claims (taken out of the entry's files)."""
    # the time the instructor's side observed: the last change of the entry or anything in it (ctime, set
    # by the kernel; a student can set a file's mtime, not its ctime)
    entry.observed = _utc(max(s.st_ctime for s in got.stats.values()))
    stamp = got.files.pop("timestamp.txt", None)
    if stamp is not None:
        try:
            entry.claimed["timestamp.txt"] = _parse_time(stamp.decode("utf-8", "replace")[:200])
        except ValueError as exc:
            entry.reasons.append(f"its timestamp.txt cannot be read ({exc})")


def _check_times(entry: Entry, settings, now: datetime, released: datetime | None) -> None:
    """Refuse an observed time in the future and claimed times that cannot be; flag claims far from observed."""
    tolerance = timedelta(seconds=settings.timestamp_tolerance)
    if entry.observed > now + tolerance:
        entry.reasons.append(f"it changed at {_fmt(entry.observed)}, in the future of this machine's clock "
                             f"({_fmt(now)}): check the exchange's clock")
    for where, claimed in entry.claimed.items():
        if claimed > entry.observed + tolerance:
            entry.reasons.append(f"{where} claims {_fmt(claimed)}, in the future of when it was written "
                                 f"({_fmt(entry.observed)})")
        elif released is not None and entry.observed >= released and claimed < released - tolerance:
            entry.reasons.append(f"{where} claims {_fmt(claimed)}, before the assignment was released "
                                 f"({_fmt(released)}), though it was written at {_fmt(entry.observed)}")
        elif abs(claimed - entry.observed) > tolerance:
            entry.flags.append(dict(notebook=where, cell="intake", reason=(
                f"the student-written time {_fmt(claimed)} differs from the time observed in the exchange, "
                f"{_fmt(entry.observed)}, by {abs(claimed - entry.observed).total_seconds():.0f} s "
                f"(tolerance {settings.timestamp_tolerance:.0f} s, c.Intake.timestamp_tolerance); "
                "lateness uses the observed time")))


def _existing_time(course: Course, student: str, assignment: str, now: datetime, settings) -> datetime | None:
    """The submission time recorded in submitted/<student>/<assignment>/timestamp.txt, when it is sane."""
    dest = course.submitted / student / assignment
    if not os.path.lexists(dest):
        return None
    got = read_submission(dest, within=course.submitted, settings=settings)
    try:
        ts = _parse_time(got.files["timestamp.txt"].decode("utf-8", "replace")[:200])
    except (KeyError, ValueError):
        return None
    # a time in the future (a student's timestamp collected by an earlier version) must not block updates
    return ts if ts <= now + timedelta(seconds=settings.timestamp_tolerance) else None


def _install(course: Course, entry: Entry) -> None:
    """Write the entry's files into submitted/<student>/<assignment>/, with the observed time in timestamp.txt.

    The folder is built beside the old one and renamed into place, so that a failure leaves the old
    submission whole; no link in submitted/ is followed.
    """
    sdir = course.submitted / entry.student
    course.submitted.mkdir(parents=True, exist_ok=True)
    if sdir.is_symlink() or (os.path.lexists(sdir) and not sdir.is_dir()):
        raise OSError(f"{sdir} is a link or a file, not a folder: remove it and collect again")
    sdir.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.assignment}.incoming-", dir=sdir))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for rel, data in entry.files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (tmp / "timestamp.txt").write_text(entry.observed.replace(tzinfo=timezone.utc).strftime(TIMESTAMP_FORMAT))
        dest = sdir / entry.assignment
        old = None
        if dest.is_symlink() or (os.path.lexists(dest) and not dest.is_dir()):
            dest.unlink()
        elif dest.exists():
            old = sdir / f".{entry.assignment}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def collect_submissions(course: Course, assignments=None, update: bool = True, now: datetime | None = None) -> list:
    """Collect each inbound entry of the exchange on its own; returns every :class:`Entry` seen.

    An entry that is malformed, a link, owned by another user than the student it names (when
    a system user of that name exists), with an unreadable, future or pre-release student-written
    time, is refused with its reasons and never stops the others.  Files are copied as
    :mod:`.intake` reads them: regular files only, no link followed; the rest is refused and
    flagged.  The newest valid entry of each student, by the time observed in the exchange (the
    last change of the entry as the instructor's process sees it, not a time the student wrote),
    is copied into ``submitted/<student>/<assignment>/``, with that time in its ``timestamp.txt``
    (where nbgrader's autograde reads lateness).  Refused, collected and flagged entries are
    appended to ``submitted/.intake.jsonl`` (refusals once).

    Examples
    --------
    >>> for entry in collect_submissions(Course("."), ["01_convolution"]):   # doctest: +SKIP
    ...     print(entry.line())
    collected ann/01_convolution from 'ann+01_convolution+2024-...' (owner ann (uid 1001)), submitted ...
    """
    assignments = course.check_assignments(assignments)
    settings = Intake.of(course)
    now = now or _utc(time.time())
    inbound = _inbound(course)
    if not inbound.is_dir():
        raise CourseError(f"the exchange has no inbound folder {inbound}: release an assignment first "
                          "(parcel-course release), or set PARCEL_EXCHANGE to the exchange's root")
    names = sorted(os.listdir(inbound))
    entries = []
    for a in assignments:
        released = _release_time(course, a)
        due = _duedate(course, a)
        mine = [_examine(course, inbound, n, a, settings, now, released) for n in names if f"+{a}+" in n]
        by_student = {}
        for e in mine:
            if e.status != "refused":
                by_student.setdefault(e.student, []).append(e)
        for student, group in sorted(by_student.items()):
            group.sort(key=lambda e: (e.observed, e.name), reverse=True)
            chosen = group[0]
            if due is not None:
                chosen = next((e for e in group if e.observed <= due), group[0])
            existing = _existing_time(course, student, a, now, settings)
            if os.path.lexists(course.submitted / student / a) and existing is not None and (
                    not update or (due is None and chosen.observed <= existing)
                    or (due is not None and chosen.observed == existing)):
                chosen.status = "unchanged"
                continue
            updating = os.path.lexists(course.submitted / student / a)
            try:
                _install(course, chosen)
            except OSError as exc:
                chosen.status = "refused"
                chosen.reasons.append(f"could not be written into submitted/: {exc}")
                continue
            chosen.status = "updated" if updating else "collected"
        entries.extend(mine)
    logged = {(r.get("entry"), r.get("status"), tuple(r.get("reasons") or ())) for r in load_log(course.submitted)}
    append_log(course.submitted, [e.record() for e in entries
                                  if e.status in ("collected", "updated") or (
                                      e.status == "refused" and (e.name, e.status, tuple(e.reasons)) not in logged)])
    for e in entries:
        e.files = {}
    return entries


def _duedate(course: Course, assignment: str) -> datetime | None:
    """The due date, when the course collects the newest submission before it (``before_duedate``)."""
    cfg = course.config()
    before = any(cfg[k].get("before_duedate", False) for k in ("ExchangeCollect", "CollectApp") if k in cfg)
    if not before or not course.has_gradebook():
        return None
    from nbgrader.api import MissingEntry   # lazy: nbgrader.api takes 1 s (SQLAlchemy, its models)
    with course.gradebook() as gb:
        try:
            return gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None


def exchange_root(course: Course) -> str:
    return os.environ.get("PARCEL_EXCHANGE", str(course.root / "exchange"))


def _student_app(kind: str, course: Course, assignment: str, student_dir: Path, student: str | None = None):
    """An nbgrader exchange app (FetchAssignment, Submit) as a student's nbgrader would build it.

    Run in this process (not a new ``nbgrader`` process per call): a class of
    students fetching and submitting is dozens of calls.
    """
    # lazy: nbgrader's exchange apps import its whole stack (1 s); only fetch and submit need them
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory   # lazy: as above
    from nbgrader.exchange import ExchangeFactory   # lazy: as above
    cfg = Config()
    cfg.CourseDirectory.course_id = course.course_id
    cfg.CourseDirectory.root = str(student_dir)
    cfg.CourseDirectory.assignment_id = assignment
    if student:
        cfg.CourseDirectory.student_id = student
    cfg.Exchange.root = exchange_root(course)
    cfg.Exchange.path_includes_course = True
    cfg.Exchange.assignment_dir = str(student_dir)
    coursedir = CourseDirectory(config=cfg)
    app = getattr(ExchangeFactory(config=cfg), kind)(
        coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
    app.start()
    return app


def student_fetch(course: Course, assignment: str, student_dir: str | os.PathLike) -> Path:
    """What a student's ``nbgrader fetch_assignment`` does, in ``student_dir``; returns the folder."""
    student_dir = Path(student_dir).resolve()
    student_dir.mkdir(parents=True, exist_ok=True)
    _student_app("FetchAssignment", course, assignment, student_dir)
    return student_dir / course.course_id / assignment  # path_includes_course


def student_submit(course: Course, assignment: str, student: str, student_dir: str | os.PathLike) -> None:
    """What a student's ``nbgrader submit --student=ID`` does."""
    _student_app("Submit", course, assignment, Path(student_dir).resolve(), student=student)
