"""Intake as an attacker works it (issue 24): links and odd files in submitted/, hostile exchange entries.

On the tiny course of :mod:`minicourse` (nothing is graded here: ``collect_jobs`` builds the jobs
a worker would get, and ``parcel-course collect`` copies the exchange into submitted/).
What a test asserts is what the instructor sees: the job's files and ``intake_flags``, the lines
``parcel-course collect`` prints, and the intake log ``submitted/.intake.jsonl``.
"""
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from minicourse import RIGHT, answer, make_course, submit_dir
from parcel_course import exchange, grading, intake
from parcel_course.cli import main as cli

HIDDEN = b"hidden: square(-7)"      # a hidden test of the tiny course: must never reach a job
ASSIGNMENT = "00_tiny"


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("PARCEL_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.delenv("PARCEL_DB_URL", raising=False)
    return make_course(tmp_path / "course")


def _configure(course, **settings):
    with open(course.root / "nbgrader_config.py", "a") as fh:
        for k, v in settings.items():
            fh.write(f"\nc.Intake.{k} = {v!r}\n")


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# -- submitted/: links and odd files are never read -------------------------------------------

def test_links_and_odd_files_in_submitted_are_refused_and_reported(course, tmp_path):
    _configure(course, max_file_mb=0.5)
    source_nb = course.source / ASSIGNMENT / "tiny.ipynb"
    assert HIDDEN in source_nb.read_bytes()
    ann = submit_dir(course, "ann", **RIGHT).parent
    bob_nb = submit_dir(course, "bob", square="def square(x):\n    return 9")
    outside = tmp_path / "outside.txt"          # a file of the instructor's, outside submitted/
    outside.write_text("the instructor's notes")
    (ann / "peek.ipynb").symlink_to(source_nb)                     # the hidden tests
    (ann / "copy.ipynb").symlink_to(bob_nb)                        # a classmate's work
    (ann / "passwd").symlink_to("/etc/passwd")
    (ann / "dangling").symlink_to(tmp_path / "nothing-here")
    (ann / "srcdir").symlink_to(course.source / ASSIGNMENT)         # a link to a folder
    os.link(outside, ann / "hard.txt")                             # a hard link to the instructor's file
    os.mkfifo(ann / "pipe")                                        # would hang a naive read
    (ann / "big.bin").write_bytes(b"x" * 600_000)                  # over c.Intake.max_file_mb
    (ann / "sub").mkdir()
    (ann / "sub" / "deep.ipynb").symlink_to(source_nb)             # a link in a subfolder
    (ann / "sub" / "notes.txt").write_text("mine")
    sock_path = ann / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(sock_path))
        except OSError:                                            # path too long for AF_UNIX here
            sock_path = None
    # whole submission folders that are links: to the source, and a student folder linking to bob's
    (course.submitted / "eve").mkdir()
    (course.submitted / "eve" / ASSIGNMENT).symlink_to(course.source / ASSIGNMENT, target_is_directory=True)
    (course.submitted / "mal").symlink_to(course.submitted / "bob", target_is_directory=True)

    t0 = time.perf_counter()
    jobs = {j.student: j for j in grading.collect_jobs(course, [ASSIGNMENT])}
    assert time.perf_counter() - t0 < 60            # the FIFO did not hang it
    for job in jobs.values():                       # nothing of the hidden tests reaches any worker
        assert not any(HIDDEN in data for data in job.files.values()), job.student
        assert b"root:" not in b"".join(job.files.values())
    assert sorted(jobs["ann"].files) == ["sub/notes.txt", "tiny.ipynb"]
    flags = {f["notebook"]: f["reason"] for f in jobs["ann"].intake_flags}
    expected = {"peek.ipynb": "symbolic link", "copy.ipynb": "symbolic link", "passwd": "symbolic link",
                "dangling": "symbolic link", "srcdir": "symbolic link", "hard.txt": "hard link",
                "pipe": "FIFO", "big.bin": "over the cap", "sub/deep.ipynb": "symbolic link"}
    if sock_path:
        expected["s"] = "socket"
    assert set(flags) == set(expected), flags
    for name, words in expected.items():
        assert words in flags[name] and "not read" in flags[name], (name, flags[name])
    assert str(source_nb) in flags["peek.ipynb"]     # the instructor sees where it pointed
    assert all(f["cell"] == "intake" for f in jobs["ann"].intake_flags)
    # bob is untouched; eve's and mal's folders are links: nothing read, and said so
    assert sorted(jobs["bob"].files) == ["tiny.ipynb"] and jobs["bob"].intake_flags == []
    for student in ("eve", "mal"):
        assert jobs[student].files == {}, student
        (flag,) = jobs[student].intake_flags
        assert "symbolic link" in flag["reason"] and "not read" in flag["reason"], flag


def test_read_submission_caps_the_total_and_the_count(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_bytes(b"y" * 400)
    got = intake.read_submission(tmp_path, settings=intake.Intake(max_total_mb=0.001))
    assert sorted(got.files) == ["f0.txt", "f1.txt"]
    assert [r.path for r in got.refused] == ["f2.txt", "f3.txt", "f4.txt"]
    assert all("c.Intake.max_total_mb" in r.reason for r in got.refused)
    got = intake.read_submission(tmp_path, settings=intake.Intake(max_files=3))
    assert len(got.files) == 3 and all("c.Intake.max_files" in r.reason for r in got.refused)
    # the instructor's own folders: a link there is an error to fix, not silently followed
    (tmp_path / "link").symlink_to("/etc/passwd")
    with pytest.raises(grading.CourseError, match="symbolic link"):
        grading.read_tree(tmp_path)


# -- the exchange: each inbound entry on its own ---------------------------------------------

def _inbound(course) -> Path:
    return Path(os.environ["PARCEL_EXCHANGE"]) / course.course_id / "inbound"


def _entry(course, student, when: str, notebook: Path, timestamp: str | None = None, name=None) -> Path:
    """What a hostile client writes into inbound: a folder with a notebook and a timestamp.txt."""
    d = _inbound(course) / (name or f"{student}+{ASSIGNMENT}+{when}+r{abs(hash(when)) % 1000}")
    d.mkdir()
    shutil.copy(notebook, d / "tiny.ipynb")
    (d / "timestamp.txt").write_text(when if timestamp is None else timestamp)
    return d


def _honest(course, homes, student, **cells):
    folder = homes / student / course.course_id / ASSIGNMENT
    if not folder.is_dir():
        folder = exchange.student_fetch(course, ASSIGNMENT, homes / student)
    if cells:
        answer(folder / "tiny.ipynb", **cells)
    exchange.student_submit(course, ASSIGNMENT, student, homes / student)


def _collect(course, capsys):
    assert cli(["--root", str(course.root), "collect", ASSIGNMENT]) == 0
    out = capsys.readouterr()
    return out.out + out.err


def _square_of(course, student) -> str:
    nb = json.loads((course.submitted / student / ASSIGNMENT / "tiny.ipynb").read_text())
    return next(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "square")


def test_hostile_inbound_entries_are_refused_one_by_one_and_honest_ones_collected(course, tmp_path, capsys):
    exchange.release(course, [ASSIGNMENT])
    homes = tmp_path / "homes"
    blank = course.release / ASSIGNMENT / "tiny.ipynb"
    _honest(course, homes, "ann", **RIGHT)
    _honest(course, homes, "ben", **RIGHT)
    now = _now()
    # ben's "resubmission" by a classmate, dated 2099 so that ben's later ones never replace it
    _entry(course, "ben", "2099-01-01 00:00:00.000000 UTC", blank)
    # a symlink entry: to ann's entry (a copy of her work under another name) and to the source folder
    ann_entry = next(_inbound(course).glob(f"ann+{ASSIGNMENT}+*"))
    (_inbound(course) / f"cat+{ASSIGNMENT}+{_stamp(now)}+a").symlink_to(ann_entry)
    (_inbound(course) / f"cay+{ASSIGNMENT}+{_stamp(now)}+b").symlink_to(course.source / ASSIGNMENT)
    # names nbgrader cannot parse (ParserError), and out of range (year 1, year 9999)
    _entry(course, "x", "not a date", blank, timestamp=_stamp(now), name=f"x+{ASSIGNMENT}+not a date+abc")
    _entry(course, "dan", _stamp(now), blank, timestamp="0001-01-01 00:00:00+01:00")   # OverflowError
    _entry(course, "fay", "9999-12-31 23:59:59.999999 UTC", blank)
    _entry(course, "gil", _stamp(now), blank, timestamp="2999-12-31 23:59:59")
    # students setting their own lateness: claiming a time before the release
    _entry(course, "hal", "2000-01-01 00:00:00.000000 UTC", blank)
    # a name that would write outside submitted/, and a name with too many parts
    _entry(course, "..", _stamp(now), blank, name=f"..+{ASSIGNMENT}+{_stamp(now)}+z")
    _entry(course, "ivy", _stamp(now), blank, name=f"ivy+{ASSIGNMENT}+{_stamp(now)}+z+extra")
    # an honest-looking entry holding a link to the source notebook, and one whose mtimes were set back
    jon = _entry(course, "jon", _stamp(now), blank)
    (jon / "peek.ipynb").symlink_to(course.source / ASSIGNMENT / "tiny.ipynb")
    _honest(course, homes, "kim", **RIGHT)
    kim = next(_inbound(course).glob(f"kim+{ASSIGNMENT}+*"))
    for p in [kim, *kim.iterdir()]:
        os.utime(p, (946684800, 946684800), follow_symlinks=False)     # mtime 2000-01-01

    text = _collect(course, capsys)
    refused = {line.split("'")[1].split("+")[0]: line for line in text.splitlines() if "refused inbound" in line}
    assert set(refused) == {"ben", "cat", "cay", "x", "dan", "fay", "gil", "hal", "..", "ivy"}, text
    assert "in the future" in refused["ben"]
    assert "symbolic link" in refused["cat"] and str(ann_entry) in refused["cat"]
    assert "symbolic link" in refused["cay"]
    assert "'not a date'" in refused["x"] and "cannot be read" in refused["x"]
    assert "timestamp.txt cannot be read" in refused["dan"] and "OverflowError" in refused["dan"]
    assert "out of range" in refused["fay"]
    assert "timestamp.txt claims 2999-12-31" in refused["gil"] and "in the future" in refused["gil"]
    assert "before the assignment was released" in refused["hal"]
    assert "not a valid student id" in refused[".."]
    assert "not <student>+<assignment>+<time>" in refused["ivy"]
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert all(f"(owner {owner} (uid {os.getuid()}))" in line for line in refused.values())
    # the honest ones are collected around them; the refused are not in submitted/
    assert sorted(p.parent.name for p in course.submitted.glob(f"*/{ASSIGNMENT}")) == ["ann", "ben", "jon", "kim"]
    assert not (course.root / ASSIGNMENT).exists() and not (course.submitted / ASSIGNMENT).exists()
    assert _square_of(course, "ben") == RIGHT["square"]           # ben's own work, not the blank spoof
    assert sorted(os.listdir(course.submitted / "jon" / ASSIGNMENT)) == ["timestamp.txt", "tiny.ipynb"]
    assert "jon/00_tiny" in text and "peek.ipynb" in text and "symbolic link" in text
    # lateness from the time observed in the exchange, not the student's clock nor the mtimes it set
    from nbgrader.utils import parse_utc
    for student in ("ann", "ben", "kim"):
        ts = parse_utc((course.submitted / student / ASSIGNMENT / "timestamp.txt").read_text())
        assert abs(ts - now) < timedelta(minutes=2), (student, ts)
    # the record the report reads: refused and collected entries, out of every submission folder
    log = intake.load_log(course.submitted)
    assert {r["entry"].split("+")[0] for r in log if r["status"] == "refused"} == set(refused)
    assert {r["student"] for r in log if r["status"] == "collected"} == {"ann", "ben", "jon", "kim"}
    table = intake.report_rows(course.submitted)      # what the report's "Refused or flagged" section lists
    assert {row[2].split("+")[0] for row in table if row[4] == "refused"} == set(refused)
    assert [(row[1], "peek.ipynb" in row[5]) for row in table if row[4] == "collected"] == [("jon", True)]
    from parcel_course.report import _template_env, TEMPLATE
    _template_env().get_template(TEMPLATE)           # the section's template compiles
    jobs = {j.student: j for j in grading.collect_jobs(course, [ASSIGNMENT])}
    assert ["peek.ipynb"] == [f["notebook"] for f in jobs["jon"].intake_flags]
    assert not any(HIDDEN in d for j in jobs.values() for d in j.files.values())

    # collect again (--update) after the bad entries: nothing stops, ben's new submission arrives,
    # and a submission left with a year-1 timestamp.txt by an earlier collect is replaced
    legacy = submit_dir(course, "lea").parent
    (legacy / "timestamp.txt").write_text("0001-01-01 00:00:00+01:00")
    _honest(course, homes, "lea", **RIGHT)
    _honest(course, homes, "ben", square="def square(x):\n    return x ** 2", halve=RIGHT["halve"])
    _entry(course, "ann", "2099-06-01 00:00:00.000000 UTC", blank)   # another spoof of ann
    text = _collect(course, capsys)
    assert "updated ben/00_tiny" in text and "updated lea/00_tiny" in text, text
    assert _square_of(course, "ben") == "def square(x):\n    return x ** 2"
    assert _square_of(course, "lea") == RIGHT["square"] and _square_of(course, "ann") == RIGHT["square"]
    assert sum("refused inbound" in line for line in text.splitlines()) == len(refused) + 1
    # refusals are logged once, however often collect runs
    log = intake.load_log(course.submitted)
    assert sum(r["status"] == "refused" for r in log) == len(refused) + 1


def test_a_student_written_time_far_from_the_observed_one_is_flagged(course, tmp_path, capsys):
    _configure(course, timestamp_tolerance=0.5)
    exchange.release(course, [ASSIGNMENT])
    released = datetime.fromtimestamp(
        os.lstat(Path(os.environ["PARCEL_EXCHANGE"]) / course.course_id / "outbound" / ASSIGNMENT).st_ctime,
        timezone.utc).replace(tzinfo=None)
    time.sleep(1.6)
    claimed = released + timedelta(seconds=0.6)    # after the release, a second before it was written
    _entry(course, "mia", _stamp(claimed), course.release / ASSIGNMENT / "tiny.ipynb")
    text = _collect(course, capsys)
    assert "collected mia/00_tiny" in text and "flagged" in text and "differs from the time observed" in text
    (job,) = grading.collect_jobs(course, [ASSIGNMENT])
    assert {f["notebook"] for f in job.intake_flags} == {"name", "timestamp.txt"}
    assert all("lateness uses the observed time" in f["reason"] for f in job.intake_flags)
    from nbgrader.utils import parse_utc
    recorded = parse_utc((course.submitted / "mia" / ASSIGNMENT / "timestamp.txt").read_text())
    assert recorded - claimed > timedelta(seconds=0.9)


# -- the exchange with two real unprivileged users --------------------------------------------

USERS = ("parcelia", "parcelib")


@pytest.fixture
def two_users():
    """Two system users for the test (created with useradd, removed after if this test made them)."""
    if os.geteuid() != 0:
        pytest.skip("creating users needs root (CI runs as root)")
    if not shutil.which("useradd"):
        pytest.skip("no useradd here")
    made = []
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            out = subprocess.run(["useradd", "-M", "-N", "-r", "-s", "/usr/sbin/nologin", name],
                                 capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            made.append(name)
    try:
        yield {n: pwd.getpwnam(n) for n in USERS}
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)


def _as(user, script: str, **env):
    out = subprocess.run(["/bin/sh", "-c", "umask 022; " + script], user=user.pw_uid, group=user.pw_gid,
                         extra_groups=[], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_an_entry_written_by_another_user_is_refused(two_users, tmp_path, monkeypatch, capsys):
    shared = Path(tempfile.mkdtemp(prefix="parcel-exchange-"))    # the users can reach it (tmp_path is 0700)
    try:
        os.chmod(shared, 0o755)
        monkeypatch.setenv("PARCEL_EXCHANGE", str(shared / "exchange"))
        monkeypatch.delenv("PARCEL_DB_URL", raising=False)
        course = make_course(tmp_path / "course")
        exchange.release(course, [ASSIGNMENT])
        mallory, victim = two_users["parcelia"], two_users["parcelib"]
        work = shared / "work"
        work.mkdir(mode=0o755)
        right = work / "right.ipynb"
        shutil.copy(course.release / ASSIGNMENT / "tiny.ipynb", right)
        answer(right, **RIGHT)
        os.chmod(right, 0o644)
        blank = Path(os.environ["PARCEL_EXCHANGE"]) / course.course_id / "outbound" / ASSIGNMENT / "tiny.ipynb"
        inbound = _inbound(course)
        write = ('d="$IN/$NAME"; mkdir "$d" && cp "$NB" "$d/tiny.ipynb" && printf %s "$TS" > "$d/timestamp.txt"'
                 ' && chmod 0777 "$d"')      # 0777 as nbgrader's submit leaves it

        def entry(user, student, nb, tag):
            ts = _stamp(_now())
            _as(user, write, IN=str(inbound), NAME=f"{student}+{ASSIGNMENT}+{ts}+{tag}", NB=str(nb), TS=ts)
            time.sleep(0.05)

        entry(victim, "parcelib", right, "v1")         # the victim's honest submission
        entry(mallory, "parcelia", blank, "m1")        # mallory's own
        entry(mallory, "parcelib", blank, "m2")        # mallory writes one naming the victim, newer
        entry(victim, "parcelib", right, "v2")         # the victim's second one...
        v2 = next(inbound.glob(f"parcelib+{ASSIGNMENT}+*+v2"))
        _as(mallory, 'printf x > "$D/sneaky.py"', D=str(v2))   # ...into which mallory drops a file
        text = _collect(course, capsys)
        lines = [line for line in text.splitlines() if "refused inbound" in line]
        assert len(lines) == 2, text
        spoof = next(line for line in lines if "+m2'" in line)
        assert "owner parcelia" in spoof and "names parcelib" in spoof and "another user wrote it" in spoof
        tampered = next(line for line in lines if "+v2'" in line)
        assert "sneaky.py in it was written by parcelia" in tampered
        # the victim's clean entry is the one collected; mallory's own is collected for her
        assert "collected parcelib/00_tiny from" in text and "+v1'" in text
        assert _square_of(course, "parcelib") == RIGHT["square"]
        assert _square_of(course, "parcelia") != RIGHT["square"]
        assert not (course.submitted / "parcelib" / ASSIGNMENT / "sneaky.py").exists()
        log = intake.load_log(course.submitted)
        assert {r["entry"].rsplit("+", 1)[1] for r in log if r["status"] == "refused"} == {"m2", "v2"}
        assert all(r["owner"].startswith("parcelia") for r in log if r["entry"].endswith("m2"))
    finally:
        shutil.rmtree(shared, ignore_errors=True)
