"""The LMS route (issue 26): a Moodle or Canvas download collected, graded, exported, the feedback zipped.

The downloads are built here, in code, from each LMS's documented naming
(Moodle's mod_assign downloader, Canvas' ContentZipper: see the README's
"The LMS route"), with the awkward cases students produce and hostile
entries; the grade CSVs are read back as each LMS's importer reads them and
the feedback zips' names parsed as each LMS's bulk upload parses them.
Grading is real (``parcel-course grade``) on 01_convolution, a few students.
"""
import csv
import io
import json
import re
import shutil
import stat
import unicodedata
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest

from parcel_course import lms
from parcel_course.cli import main
from parcel_course.directory import Course, CourseError

ROOT = Path(__file__).resolve().parents[1]
A = "01_convolution"
CONV, BLOCKS = "convolution.ipynb", "cnn_building_blocks.ipynb"


# -- fixtures built in code -------------------------------------------------------------------------

def fresh_course(base: Path) -> Course:
    """A course with this checkout's config and 01_convolution, generated, due an hour ago."""
    base.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    shutil.copytree(ROOT / "source" / A, base / "source" / A, ignore=shutil.ignore_patterns("*.src.py"))
    course = Course(base)
    course.generate([A])
    return course


def due_date(course) -> datetime:
    due = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(second=0, microsecond=0)
    course.nbgrader("db", "assignment", "add", A, f"--duedate={due.isoformat()}")
    return due


def _bytes(course, which, name) -> bytes:
    return ((course.source if which == "solution" else course.release) / A / name).read_bytes()


def _zip(path, entries):
    """entries: (name, bytes) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return path


def _symlink(name, target=b"/etc/passwd"):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def _hostile(prefix):
    """Entries no collection may write, whatever the LMS: (entry, bytes)."""
    inner = io.BytesIO()
    _zip(inner, [("convolution.ipynb", b"{}")])
    bomb = zipfile.ZipInfo(prefix + "bomb.ipynb")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    return [("../escape.ipynb", b"{}"), ("/abs/convolution.ipynb", b"{}"),
            _symlink(prefix + "link.ipynb"),
            (prefix + "inner.zip", inner.getvalue()),
            (prefix + "notes.bin", inner.getvalue()),                    # a zip by its magic, not its name
            ("a/b/c/d/e/f/g/deep.ipynb", b"{}"),
            (bomb, b"\0" * (lms.ArchiveLimits().max_entry_bytes + 1))]


MOODLE = {   # participant id -> (full name as Moodle writes it, student id in the worksheet's email)
    1001: ("Ada Lovelace", "ada"), 1002: ("Ben Ames", "ben"), 1003: ("Cleo Park", "cleo"),
    1004: ("Dan Late", "dan"), 1005: ("Zoë Ångström", "zoe"), 1006: ("Finn Absent", "finn")}


def moodle_download(course, path):
    d = {pid: f"{name}_{pid}_assignsubmission_file/" for pid, (name, _) in MOODLE.items()}
    zoe = unicodedata.normalize("NFD", d[1005])                  # a macOS zip: decomposed accents
    entries = [
        (d[1001] + CONV, _bytes(course, "solution", CONV)), (d[1001] + BLOCKS, _bytes(course, "solution", BLOCKS)),
        ("Ada Lovelace_1001_assignsubmission_onlinetext/onlinetext.html", b"<p>hi</p>"),
        (d[1002] + CONV, _bytes(course, "release", CONV)),
        (d[1002] + "convolution (1).ipynb", _bytes(course, "solution", CONV)),      # two files for one notebook
        (d[1002] + "CONVOLUTION.ipynb", b"{}"),                   # collides with convolution.ipynb (case)
        (d[1003] + "my work.ipynb", _bytes(course, "release", CONV)),               # renamed: matched by content
        (d[1003] + "notes.txt", b"my notes"), (d[1003] + "broken.ipynb", b"{not json"),
        (d[1004] + CONV, _bytes(course, "solution", CONV)),
        (zoe + CONV, _bytes(course, "solution", CONV)),
        ("Eve Stranger_1099_assignsubmission_file/" + CONV, _bytes(course, "solution", CONV)),   # not on roster
        ("readme.txt", b"not a participant's file"),
    ] + _hostile(d[1004])
    return _zip(path, entries)


def moodle_worksheet(path, due):
    tz = datetime.now().astimezone().tzinfo
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                    "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"])
        for pid, (name, sid) in MOODLE.items():
            when = due + (timedelta(minutes=42) if sid == "dan" else -timedelta(hours=3))
            w.writerow([f"Participant {pid}", name, f"{sid}@uni.example", "Submitted for grading", "", "100.00",
                        "Yes", "-" if sid == "finn" else when.astimezone(tz).strftime(lms.MOODLE_DATE), "-", ""])
    return path


CANVAS = {   # user id -> (sortable name, SIS login id)
    1001: ("Lovelace, Ada", "ada"), 1002: ("Ames, Ben", "ben"), 1003: ("Park, Cleo", "cleo"),
    1004: ("Late, Dan", "dan"), 1005: ("Ångström, Zoë", "zoe"), 1006: ("Absent, Finn", "finn")}


def canvas_download(course, path):
    def n(uid, fid, file, late=False):
        slug = re.sub(r"[^\w]", "", CANVAS[uid][0].lower()) if uid in CANVAS else "strangereve"
        return "_".join([slug] + (["LATE"] if late else []) + [str(uid), str(fid), file])
    entries = [
        (n(1001, 70001, CONV), _bytes(course, "solution", CONV)), (n(1001, 70002, BLOCKS), _bytes(course, "solution", BLOCKS)),
        (n(1001, 70010, "notes.pdf"), b"%PDF-1.4"), ("lovelaceada_1001_text.html", b"<p>text entry</p>"),
        (n(1002, 70003, "convolution-1.ipynb"), _bytes(course, "solution", CONV)),   # a resubmission's re-upload
        (n(1002, 70011, BLOCKS), b"\x89PNG not a notebook"),                         # invalid JSON
        (n(1003, 70005, CONV), _bytes(course, "release", CONV)),
        (n(1003, 70006, "convolution_copy.ipynb"), _bytes(course, "solution", CONV)),  # two files for one notebook
        (n(1004, 70007, CONV, late=True), _bytes(course, "solution", CONV)),
        (n(1005, 70008, "Mein Notebook.ipynb"), _bytes(course, "solution", CONV)),   # accents, spaces, renamed
        (n(1099, 70009, CONV), _bytes(course, "solution", CONV)),                    # not on the roster
    ] + _hostile("amesben_1002_70020_")
    return _zip(path, entries)


def canvas_gradebook(path):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01 Convolution (4242)",
                    "Quiz 1 (4243)", "Current Score"])
        w.writerow(["    Points Possible", "", "", "", "", "50.00", "10.00", "(read only)"])
        for uid, (name, sid) in CANVAS.items():
            w.writerow([name, uid, f"S{uid}", sid, "Section 1", "", "7.00", ""])
    return path


# -- reading the results back as the LMS would --------------------------------------------------

def moodle_import(path) -> dict:
    """Participant id -> grade, as assignfeedback_offline's importer reads a worksheet (rows it skips left out)."""
    rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    header = rows[0]
    gi, ii, mi = header.index("Grade"), header.index("Identifier"), header.index("Last modified (grade)")
    out = {}
    for r in rows[1:]:
        pid = r[ii][len("Participant "):]
        assert r[mi] is not None
        if r[gi].strip() == "":
            continue                          # Moodle: "grade has no value": skipped
        out[int(pid)] = float(r[gi])
    return out


def moodle_feedback_targets(path) -> dict:
    """Participant id -> feedback files, as assignfeedback_file's zip importer parses each path."""
    out = {}
    for name in zipfile.ZipFile(path).namelist():
        parts = name.split("/")
        while parts:
            info = parts.pop(0).split("_", 4)
            if len(info) < 4 or not info[1].isdigit():
                continue
            out.setdefault(int(info[1]), []).append("/".join([info[4] if len(info) > 4 else ""] + parts).strip("/"))
            break
    return out


def canvas_import(path, column) -> dict:
    """Canvas user id -> score of one assignment column, as the gradebook importer reads the CSV."""
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    out = {}
    for r in rows:
        if r["Student"].strip() == "Points Possible":
            continue
        if r[column] != "":
            out[int(r["ID"])] = float(r[column])
    return out


def canvas_feedback_targets(path) -> dict:
    """(user id, file id) of each file, as Canvas' Assignment#infer_comment_context_from_filename reads it."""
    out = {}
    for name in zipfile.ZipFile(path).namelist():
        user, attachment = [f for f in name.split("/")[-1].split("_") if f.isdigit()][:2]
        out.setdefault(int(user), []).append(int(attachment))
    return out


def every_entry_once(report, archive):
    names = [e for _, e, _ in report.lines]
    assert sorted(names) == sorted(zipfile.ZipFile(archive).namelist()), "an entry placed or reported twice, or lost"


def nothing_outside(course, tmp_path):
    assert not (tmp_path / "escape.ipynb").exists() and not (course.root / "escape.ipynb").exists()
    for p in course.submitted.rglob("*"):
        assert not p.is_symlink()
        assert p.name in (CONV, BLOCKS, "timestamp.txt") or p.is_dir(), p


def status_of(report):
    return {e: (s, m) for s, e, m in report.lines}


# -- fast: the archive reader, the names, the roster ------------------------------------------------

def test_hostile_entries_are_refused_and_reported(tmp_path):
    path = _zip(tmp_path / "h.zip", _hostile("x_1_assignsubmission_file/") + [
        ("ok/Résumé.ipynb", b"{}"), (unicodedata.normalize("NFD", "ok/Résumé.ipynb"), b"{}"),
        ("ok/ﬁle.ipynb", b"{}"), ("ok/file.ipynb", b"{}"),        # NFKC: the ligature is "fi"
        ("ok/bad\x01name.ipynb", b"{}")])
    entries = {e.name: e for e in lms.read_archive(path)}
    why = {n: e.refused for n, e in entries.items()}
    assert "`..`" in why["../escape.ipynb"] and "absolute" in why["/abs/convolution.ipynb"]
    assert "symbolic link" in why["x_1_assignsubmission_file/link.ipynb"]
    assert "archive inside" in why["x_1_assignsubmission_file/inner.zip"]
    assert "archive inside" in why["x_1_assignsubmission_file/notes.bin"]
    assert "deeper" in why["a/b/c/d/e/f/g/deep.ipynb"]
    assert "over the cap" in why["x_1_assignsubmission_file/bomb.ipynb"]
    assert why["ok/Résumé.ipynb"] == "" and "collides" in why[unicodedata.normalize("NFD", "ok/Résumé.ipynb")]
    assert why["ok/ﬁle.ipynb"] == "" and "collides" in why["ok/file.ipynb"]
    assert "control character" in why["ok/bad\x01name.ipynb"]
    assert all(e.data is None for e in entries.values() if e.refused)


def test_a_lying_header_does_not_get_past_the_streaming_cap(tmp_path):
    """A zip bomb declares a small size: refused all the same.

    Python's reader stops at the declared size and the CRC check fails; the
    bytes counted while reading are the guard against a reader that would not
    stop, and against many honest entries that add up (the second case).
    """
    path = _zip(tmp_path / "bomb.zip", [("Ada_1_assignsubmission_file/convolution.ipynb", b"\0" * 3_000_000)])
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):           # uncompressed size, local + central
        i = raw.index(sig)
        raw[i + off:i + off + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    [e] = lms.read_archive(path, lms.ArchiveLimits(max_entry_bytes=1_000_000))
    assert e.refused and e.data is None, e
    small = lms.ArchiveLimits(max_entry_bytes=10_000_000, max_total_bytes=2_000_000)
    path2 = _zip(tmp_path / "many.zip", [(f"f{i}.ipynb", b"\0" * 900_000) for i in range(4)])
    refused = [e.name for e in lms.read_archive(path2, small) if e.refused]
    assert refused == ["f2.ipynb", "f3.ipynb"]


def test_a_folder_download_refuses_links(tmp_path):
    d = tmp_path / "dl" / "Ada Lovelace_1001_assignsubmission_file"
    d.mkdir(parents=True)
    (d / "convolution.ipynb").write_text("{}")
    (d / "cnn_building_blocks.ipynb").symlink_to("/etc/passwd")
    got = {e.name: e.refused for e in lms.read_folder(tmp_path / "dl")}
    assert got["Ada Lovelace_1001_assignsubmission_file/convolution.ipynb"] == ""
    assert "symbolic link" in got["Ada Lovelace_1001_assignsubmission_file/cnn_building_blocks.ipynb"]


def test_names_as_each_lms_writes_them():
    m = lms.parse_moodle_name("Zoë Ångström_1005_assignsubmission_file_/sub/convolution.ipynb")   # Moodle < 4.1
    assert (m["participant"], m["file"], m["folders"]) == ("1005", "sub/convolution.ipynb", True)
    flat = lms.parse_moodle_name("Ben Ames_1002_assignsubmission_file_convolution (1).ipynb")
    assert (flat["file"], flat["prefix"], flat["folders"]) == ("convolution (1).ipynb",
                                                              "Ben Ames_1002_assignsubmission_file_", False)
    assert lms.parse_moodle_name("readme.txt") is None
    c = lms.parse_canvas_name("latedan_late_1004_70007_my_conv_2.ipynb")       # older exports: lower-case late
    assert (c["user"], c["attachment"], c["file"], c["late"]) == ("1004", "70007", "my_conv_2.ipynb", True)
    assert lms.parse_canvas_name("lovelaceada_1001_text.html") is None          # a text entry, not a file
    assert lms.parse_canvas_name("anon_x7Yz_70001_convolution.ipynb") is None
    # the plugin interface of nbgrader's zip_collect
    assert lms.CanvasCollector().collect("/x/extracted/d/amesben_LATE_1002_5_convolution.ipynb") == dict(
        student_id="1002", file_id="convolution.ipynb", timestamp=None, late=True)
    assert lms.MoodleCollector().collect("/x/Ada_7_assignsubmission_file/notes.txt") is None


def test_rosters_as_each_lms_exports_them(tmp_path):
    due = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    people = lms.read_roster(moodle_worksheet(tmp_path / "w.csv", due), "moodle", tz=timezone.utc)
    assert people["1005"].student_id == "zoe" and people["1004"].submitted_at == due + timedelta(minutes=42)
    assert people["1006"].submitted_at is None
    canvas = lms.read_roster(canvas_gradebook(tmp_path / "g.csv"), "canvas")
    assert set(canvas) == {str(u) for u in CANVAS} and canvas["1005"].student_id == "zoe"
    assert lms.read_roster(tmp_path / "g.csv", "canvas", id_column="SIS User ID")["1001"].student_id == "S1001"
    with pytest.raises(CourseError, match="grading worksheet"):
        lms.read_roster(tmp_path / "g.csv", "moodle")


# -- end to end: collect, grade, export, read back ------------------------------------------------

def _grade(course):
    assert main(["--root", str(course.root), "grade", A, "--workers", "2"]) == 0
    from parcel_course.report import submission_rows
    return {r["student"]: r for r in submission_rows(course) if r["assignment"] == A}


def _notebook_max(course, name) -> float:
    with course.gradebook() as gb:
        return float(gb.find_notebook(Path(name).stem, A).max_score)


def _override(course, student, points) -> float:
    """A grader's manual score on one test cell (formgrader's override): the points it takes off."""
    with course.gradebook() as gb:
        g = gb.find_grade("test_conv_layer", "convolution", A, student)
        lost = float(g.score) - points
        g.manual_score = points
        gb.db.commit()
    return lost


@pytest.mark.slow
def test_moodle_route_end_to_end(tmp_path, capsys):
    course = fresh_course(tmp_path / "course")
    due = due_date(course)
    archive = moodle_download(course, tmp_path / "COURSE-01 Convolution-77.zip")
    sheet = moodle_worksheet(tmp_path / "Grades-COURSE-01 Convolution-77.csv", due)
    assert main(["--root", str(course.root), "collect", A, "--from", str(archive), "--lms", "moodle",
                 "--roster", str(sheet)]) == 0
    printed = capsys.readouterr().out
    rep = json.loads((course.root / "lms" / A / "moodle.json").read_text())
    report = lms.collect_lms(course, A, archive, "moodle", sheet)       # the same again, as an object
    assert len(printed.splitlines()) == len(report.lines) + 1           # a line per entry, and the summary
    every_entry_once(report, archive)
    nothing_outside(course, tmp_path)
    st = status_of(report)
    assert st["Ben Ames_1002_assignsubmission_file/convolution (1).ipynb"][0] == "twice"
    assert "collides" in st["Ben Ames_1002_assignsubmission_file/CONVOLUTION.ipynb"][1]
    assert "matched by content" in st["Cleo Park_1003_assignsubmission_file/my work.ipynb"][1]
    assert st["Cleo Park_1003_assignsubmission_file/notes.txt"][0] == "skipped"
    assert "invalid notebook" in st["Cleo Park_1003_assignsubmission_file/broken.ipynb"][1]
    assert st["Eve Stranger_1099_assignsubmission_file/convolution.ipynb"][0] == "unknown"
    assert "online text" in st["Ada Lovelace_1001_assignsubmission_onlinetext/onlinetext.html"][1]
    assert sum(s == "refused" for s, _, _ in report.lines) == 8 and "not placed" in printed
    assert sorted(rep["students"]) == ["ada", "ben", "cleo", "dan", "zoe"]
    assert rep["students"]["zoe"]["name"] == "Zoë Ångström"
    assert sorted(p.name for p in (course.submitted / "ada" / A).iterdir()) == sorted([BLOCKS, CONV, "timestamp.txt"])
    # the time of each submission is the worksheet's, written as nbgrader reads it
    dan_ts = datetime.fromisoformat((course.submitted / "dan" / A / "timestamp.txt").read_text())
    assert dan_ts == due + timedelta(minutes=42)

    rows = _grade(course)
    assert set(rows) == {"ada", "ben", "cleo", "dan", "zoe"}
    full = rows["ada"]["max_score"]
    assert rows["ada"]["score"] == full and rows["zoe"]["score"] == _notebook_max(course, CONV)
    assert rows["cleo"]["score"] == 0                       # her renamed notebook is the blank release
    assert rows["ben"]["score"] == 0                        # the exact name (the blank one) was placed
    assert rows["dan"]["seconds_late"] == pytest.approx(42 * 60) and rows["ada"]["seconds_late"] == 0
    lost = _override(course, "ada", 1.0)
    assert lost > 0

    assert main(["--root", str(course.root), "export", "--lms", "moodle"]) == 0
    grades = course.reports / "lms" / f"{A}-moodle-grades.csv"
    got = moodle_import(grades)
    assert got[1001] == pytest.approx(round((full - lost) / full * 100, 2))
    assert got[1005] == pytest.approx(round(_notebook_max(course, CONV) / full * 100, 2))
    assert 1006 not in got and 1099 not in got              # finn: no submission, left for Moodle to skip
    main(["--root", str(course.root), "export", "--lms", "moodle", "--missing", "zero", "--no-feedback"])
    assert moodle_import(grades)[1006] == 0
    # feedback: in the participant folders of the download, for everyone graded
    targets = moodle_feedback_targets(course.reports / "lms" / f"{A}-moodle-feedback.zip")
    assert set(targets) == {1001, 1002, 1003, 1004, 1005}
    assert sorted(targets[1001]) == ["cnn_building_blocks.html", "convolution.html"]
    folders = {n.split("/")[0] for n in zipfile.ZipFile(archive).namelist() if "_assignsubmission_file/" in n}
    for n in zipfile.ZipFile(course.reports / "lms" / f"{A}-moodle-feedback.zip").namelist():
        assert n.split("/")[0] in folders, n


@pytest.mark.slow
def test_canvas_route_end_to_end(tmp_path, capsys):
    course = fresh_course(tmp_path / "course")
    due = due_date(course)
    archive = canvas_download(course, tmp_path / "submissions.zip")
    gradebook = canvas_gradebook(tmp_path / "2025-03-01T1200_Grades-COURSE.csv")
    assert main(["--root", str(course.root), "collect", A, "--from", str(archive), "--lms", "canvas",
                 "--roster", str(gradebook)]) == 0
    capsys.readouterr()
    report = lms.collect_lms(course, A, archive, "canvas", gradebook)      # the same again, as an object
    every_entry_once(report, archive)
    nothing_outside(course, tmp_path)
    st = status_of(report)
    assert "re-upload" in st["amesben_1002_70003_convolution-1.ipynb"][1]
    assert st["parkcleo_1003_70006_convolution_copy.ipynb"][0] == "twice"
    assert "matched by content" in st["ångströmzoë_1005_70008_Mein Notebook.ipynb"][1]
    assert "invalid notebook" in st["amesben_1002_70011_cnn_building_blocks.ipynb"][1]
    assert st["strangereve_1099_70009_convolution.ipynb"][0] == "unknown"
    assert st["lovelaceada_1001_70010_notes.pdf"][1].startswith("not a notebook")
    assert st["lovelaceada_1001_text.html"][0] == "skipped"
    assert sum(s == "refused" for s, _, _ in report.lines) == 7
    # late: Canvas says so, not when: recorded just past the due date; the others on time
    assert datetime.fromisoformat((course.submitted / "dan" / A / "timestamp.txt").read_text()) > due
    assert datetime.fromisoformat((course.submitted / "ada" / A / "timestamp.txt").read_text()) <= due

    rows = _grade(course)
    full = rows["ada"]["max_score"]
    assert rows["ada"]["score"] == full and rows["ben"]["score"] == _notebook_max(course, CONV)
    assert rows["zoe"]["score"] == _notebook_max(course, CONV) and rows["cleo"]["score"] == 0
    assert rows["dan"]["late"] and not rows["ada"]["late"]
    lost = _override(course, "zoe", 0.0)

    assert main(["--root", str(course.root), "export", "--lms", "canvas"]) == 0
    grades = course.reports / "lms" / "canvas-grades.csv"
    header = next(csv.reader(io.StringIO(grades.read_text(encoding="utf-8"))))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01 Convolution (4242)"]
    got = canvas_import(grades, "01 Convolution (4242)")
    assert got[1001] == pytest.approx(50.0)
    assert got[1005] == pytest.approx(round((_notebook_max(course, CONV) - lost) / full * 50, 2))
    assert 1006 not in got                                   # finn: blank, Canvas changes nothing
    targets = canvas_feedback_targets(course.reports / "lms" / f"{A}-canvas-feedback.zip")
    assert sorted(targets[1001]) == [70001, 70002]
    assert targets[1002] == [70003] and targets[1005] == [70008] and 1099 not in targets
    downloaded = {n.split("_")[0] for n in zipfile.ZipFile(archive).namelist()}
    for n in zipfile.ZipFile(course.reports / "lms" / f"{A}-canvas-feedback.zip").namelist():
        assert n.split("_")[0] in downloaded and n.endswith(".html"), n
