"""Formgrader, end to end, in a real browser (issue 15, item 2).

A small course (03_handcrafted only) is generated, two students submit and
``parcel-course grade`` autogrades them, which leaves the hand-graded cells
(``my_feature``, ``my_feature_why``) waiting.  A Jupyter server with nbgrader's
formgrader is started on that course (token auth, 127.0.0.1, a free port, the
course root as its working directory) and Debian's Chromium, driven headless by
Playwright (``executable_path="/usr/bin/chromium"``; no browser is downloaded),
goes through: the assignment list, the manual-grading list of the notebook,
one submission's report cell, where a score and a comment are typed and saved.
It also gives ``my_feature`` full credit with the button.  Then the gradebook,
``parcel-course export`` and ``parcel-course report`` must show those scores,
and ``parcel-course feedback`` the score and the comment (the CSVs and the
report carry no comments).

Screenshots of each step go to ``$PARCEL_SCREENSHOTS`` (relative to the
repository root; ``docs/formgrader`` refreshes the README's pictures), else to
the test's temporary folder.  The server is stopped at the end whatever
happens.
"""
from __future__ import annotations

import csv
import html.parser
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from parcel_course.demo import fill_in, persona
from parcel_course.directory import Course, grading_env

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
A, NB = "03_handcrafted", "handcrafted"
CELL, MAX_POINTS = "my_feature_why", 2.0           # the report cell (markdown, graded by hand)
CODE_CELL, CODE_POINTS = "my_feature", 3.0          # the student's own feature (code, graded by hand)
STUDENT, OTHER = "ada", "ben"
SCORE, COMMENT = 1.5, "Roughness separates the polybags from the boxes: good. Say which classes still overlap."
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium "
                       "missing): `make install` installs it as root, or `apt-get install chromium`"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="Playwright for Python is not installed: pip install -e '.[test]'"),
]


def _cli(root: Path, *args, env=None, timeout=1200) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "parcel_course.cli", "--root", str(root), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, f"parcel-course {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A generated 03_handcrafted course, two submissions autograded; manual grading pending."""
    base = tmp_path_factory.mktemp("formgrader")
    root = base / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / A, root / "source" / A,
                    ignore=shutil.ignore_patterns("*.ipynb_checkpoints", "__pycache__"))
    c = Course(root)
    c.build_source()
    c.generate([A])
    for student in (STUDENT, OTHER):     # as in `make demo`: ada right, ben with one realistic mistake
        d = c.submitted / student / A
        d.mkdir(parents=True)
        shutil.copy(c.release / A / f"{NB}.ipynb", d)
        fill_in(d / f"{NB}.ipynb", c.source / A / f"{NB}.ipynb", **persona(student, A, NB, A))
    exchange = base / "exchange"          # an exchange, so formgrader's pages show no warning about it
    exchange.mkdir()
    exchange.chmod(0o777)
    env = grading_env({"PARCEL_EXCHANGE": str(exchange)})
    _cli(root, "grade", "--workers", "2", env=env, timeout=1500)
    return dict(base=base, root=root, course=c, env=env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (jupyter and any kernel it started), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(course):
    """``jupyter server`` with the formgrader on the course: (base URL, token); stopped at the end."""
    base, root = course["base"], course["root"]
    token, port = secrets.token_hex(16), _free_port()
    jdirs = {k: base / "jupyter" / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR")}
    for p in jdirs.values():
        p.mkdir(parents=True, exist_ok=True)
    env = dict(course["env"], **{k: str(v) for k, v in jdirs.items()})
    env.pop("JUPYTER_TOKEN", None)
    log = open(base / "jupyter-server.log", "w")
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           '--ServerApp.jpserver_extensions={"nbgrader.server_extensions.formgrader": True}']
    if os.geteuid() == 0:                  # CI containers run as root; jupyter refuses that unless told
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "jupyter server exited:\n" + (base / "jupyter-server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, ("jupyter server did not answer in 90 s:\n"
                                                 + (base / "jupyter-server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield dict(url=url, token=token, log=base / "jupyter-server.log")
    finally:
        _stop(proc)
        log.close()


def _launch(pw):
    """Debian's Chromium, headless (Playwright gives it a fresh, temporary profile)."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where the screenshots go: $PARCEL_SCREENSHOTS (relative to the repository) or a temp folder."""
    named = os.environ.get("PARCEL_SCREENSHOTS")
    folder = (ROOT / named) if named else tmp_path_factory.mktemp("formgrader-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def graded_in_browser(course, server, shots):
    """Grade STUDENT's report cell in formgrader through Chromium; returns the screenshot paths."""
    from playwright.sync_api import expect, sync_playwright
    url, token = server["url"], server["token"]
    taken = []

    def shoot(page, name, **kw):
        path = shots / name
        page.screenshot(path=str(path), **kw)
        taken.append(path)

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(30_000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # 1. the assignment list (the token in the URL logs in; a cookie carries it on)
            page.goto(f"{url}/formgrader?token={token}")
            page.wait_for_url("**/formgrader/manage_assignments")
            row = page.locator("tr", has=page.locator(f"a:text-is('{A}')")).first
            expect(row).to_be_visible()
            expect(row).to_contain_text("2")                 # two submissions
            shoot(page, "01-assignments.png")

            # 2. manual grading: the notebook's submissions, names shown
            page.goto(f"{url}/formgrader/gradebook/{A}/{NB}")
            expect(page.locator("#main-table a.name-hidden")).to_have_count(2)
            page.click("#toggle_names")
            row = page.locator("#main-table tr").filter(has=page.locator("a.name-shown", has_text=STUDENT))
            link = row.locator("a.name-shown")
            expect(link).to_be_visible()
            expect(row.locator(".needs-manual-grade .glyphicon-ok")).to_have_count(1)
            shoot(page, "02-submissions.png")

            # 3. the submission: full credit for the feature (button), a score and a comment for the
            #    report cell, typed and saved on change (blur)
            link.click()
            page.wait_for_url("**/formgrader/submissions/*/**")
            score = page.locator(f"input.score#{CELL}")
            comment = page.locator(f"textarea#{CELL}-comment")
            code_score = page.locator(f"input.score#{CODE_CELL}")
            expect(score).to_be_visible()
            page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
                                   " && formgrader.comments.loaded")
            with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT"
                                      and r.ok):
                page.locator(".nbgrader_cell", has=code_score).locator("button.full-credit").click()
            expect(code_score).to_have_value(f"{CODE_POINTS:g}")
            with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT"
                                      and r.ok):
                score.fill(f"{SCORE:g}")
                score.blur()                                # change -> PUT /formgrader/api/grade/<id>
            with page.expect_response(lambda r: "/formgrader/api/comment/" in r.url
                                      and r.request.method == "PUT" and r.ok):
                comment.fill(COMMENT)
                comment.blur()                              # change -> PUT /formgrader/api/comment/<id>
            # the cell from its header (score box) to the comment, below the fixed navigation bar
            page.evaluate("(el) => { el.closest('.nbgrader_cell').scrollIntoView({block: 'start'});"
                          " window.scrollBy(0, -70); }", comment.element_handle())
            page.wait_for_timeout(1500)                     # the saved tick fades out
            shoot(page, "03-manual-grade.png")

            # 4. a reload shows what the server kept
            page.reload()
            page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
                                   " && formgrader.comments.loaded")
            expect(score).to_have_value(f"{SCORE:g}")
            expect(comment).to_have_value(COMMENT)
            expect(code_score).to_have_value(f"{CODE_POINTS:g}")
            # MathJax comes from a CDN (nbconvert's template), out of reach on a machine without network
            errors = [e for e in errors if "MathJax" not in e]
            assert not errors, f"JavaScript errors in formgrader: {errors}"
        finally:
            browser.close()
    return taken


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_server_needs_the_token(server):
    """Without the token formgrader sends the browser to the login page, and its API refuses."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as page:
        opener.open(f"{server['url']}/formgrader/manage_assignments", timeout=10)
    assert page.value.code == 302 and "/login" in page.value.headers["Location"]
    with pytest.raises(urllib.error.HTTPError) as api:
        opener.open(f"{server['url']}/formgrader/api/assignments", timeout=10)
    assert api.value.code in (302, 403)


def test_formgrader_pages_and_manual_grade_saved(graded_in_browser):
    assert [p.name for p in graded_in_browser] == ["01-assignments.png", "02-submissions.png",
                                                   "03-manual-grade.png"]
    for p in graded_in_browser:
        assert p.stat().st_size > 10_000, f"{p} looks empty"


def _gradebook(course):
    from nbgrader.api import Gradebook
    c = course["course"]
    with Gradebook(c.db_url, c.course_id) as gb:
        grade = gb.find_grade(CELL, NB, A, STUDENT)
        code = gb.find_grade(CODE_CELL, NB, A, STUDENT)
        comment = gb.find_comment(CELL, NB, A, STUDENT)
        sub = gb.find_submission(A, STUDENT)
        other = gb.find_grade(CELL, NB, A, OTHER)
        return dict(manual_score=grade.manual_score, needs=grade.needs_manual_grade, comment=comment.manual_comment,
                    code_score=code.manual_score, code_needs=code.needs_manual_grade,
                    total=float(sub.score), sub_needs=sub.needs_manual_grade, other_needs=other.needs_manual_grade,
                    auto_total=sum(float(g.auto_score or 0) for nb in sub.notebooks for g in nb.grades
                                   if g.name not in (CELL, CODE_CELL)))


def test_gradebook_has_score_and_comment(graded_in_browser, course):
    gb = _gradebook(course)
    assert gb["manual_score"] == SCORE and gb["needs"] is False
    assert gb["comment"] == COMMENT
    assert gb["code_score"] == CODE_POINTS and gb["code_needs"] is False
    assert gb["total"] == pytest.approx(gb["auto_total"] + CODE_POINTS + SCORE)
    assert gb["sub_needs"] is False                   # nothing of ada's waits any more
    assert gb["other_needs"] is True                  # the other student is still waiting


def test_export_has_the_manual_score(graded_in_browser, course):
    root = course["root"]
    _cli(root, "export", env=course["env"], timeout=300)
    with open(root / "reports" / "grades-questions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["assignment"] == A and r["question"] == CELL]
    mine = {r["student"]: r for r in rows}
    assert float(mine[STUDENT]["score"]) == SCORE and float(mine[STUDENT]["max_score"]) == MAX_POINTS
    assert mine[STUDENT]["kind"] == "manual" and mine[STUDENT]["needs_manual_grade"] == "False"
    assert mine[OTHER]["score"] == "" and mine[OTHER]["needs_manual_grade"] == "True"
    with open(root / "reports" / "grades.csv", newline="") as f:
        subs = {r["student"]: r for r in csv.DictReader(f) if r["assignment"] == A}
    assert float(subs[STUDENT]["score"]) == pytest.approx(_gradebook(course)["total"])
    assert subs[STUDENT]["needs_manual_grade"] == "False" and subs[OTHER]["needs_manual_grade"] == "True"


class _Tables(html.parser.HTMLParser):
    """Every table row of a page as a list of cell texts."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_report_shows_the_manual_score(graded_in_browser, course, shots):
    root = course["root"]
    _cli(root, "report", env=course["env"], timeout=300)
    page = (root / "reports" / "index.html").read_text(encoding="utf-8")
    tables = _Tables()
    tables.feed(page)
    total = _gradebook(course)["total"]
    mine = [r for r in tables.rows if STUDENT in r and A in r]
    assert mine, "the report lists no row for the graded submission"
    assert any(f"{total:g}" in r for r in mine), f"the report's rows for {STUDENT} lack the total {total:g}: {mine}"
    # what still waits for a person: ben's two cells, none of ada's
    waiting = [r for r in tables.rows if CELL in r or CODE_CELL in r]
    assert len(waiting) <= 2 and not any(STUDENT in r for r in waiting), waiting
    if "Awaiting manual grading" in page:
        assert f"{A} / {CELL} (1)" in page and f"{A} / {CODE_CELL} (1)" in page
    # the report in the same browser, for the README's pictures
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            p = browser.new_page(viewport={"width": 1280, "height": 800})
            p.goto((root / "reports" / "index.html").as_uri())
            p.locator("h2", has_text="All submissions").scroll_into_view_if_needed()
            p.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            p.screenshot(path=str(shots / "04-report.png"))
        finally:
            browser.close()


def test_feedback_carries_score_and_comment(graded_in_browser, course):
    """The student's feedback page shows the grader's score and comment."""
    root = course["root"]
    _cli(root, "feedback", A, "--student", STUDENT, env=course["env"], timeout=600)
    page = (root / "feedback" / STUDENT / A / f"{NB}.html").read_text(encoding="utf-8")
    assert COMMENT in page
    assert f"Score: {SCORE:.1f} / {MAX_POINTS:.1f}" in page
    assert f"Score: {_gradebook(course)['total']:.1f} / " in page
