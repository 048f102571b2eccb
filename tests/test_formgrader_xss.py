"""A hostile submission opened by the instructor runs nothing (issue 24, the browser).

A student of 01_convolution answers correctly, then appends cells that try to
run JavaScript in the instructor's browser: event handlers (``<img onerror>``,
``<body onload>``, ``<svg onload>``, ``<details ontoggle>``), ``<script>``,
``javascript:`` links (clicked), SVG with a script (as an ``image/svg+xml``
output and inline), ``data:`` URIs (``text/html`` in an iframe and a link), an
``isolated`` HTML output, ``application/javascript``, a malformed PNG whose
data would close the ``src`` attribute, markdown raw HTML, a markdown
attachment (an SVG with a script) and a ``.html`` file beside the notebook,
linked from the markdown.  Each payload logs ``PWNED:<name>`` on the console,
appends its name to ``window.__pwned``, opens an ``alert`` and, with the
``_xsrf`` cookie, asks ``/api/contents`` to create ``pwned-<name>.txt`` in the
course root.  An honest matplotlib figure (a PNG output) sits between them.

The submission is graded through the real pipeline (``parcel-course grade``).
First the same autograded notebook, rendered by nbgrader's formgrade template
*without* the course's protection and served on the server's origin, shows
that the payloads run there (markers set, a file created through the API):
the later checks cannot pass vacuously.  Then formgrader's submission view (a
plain ``jupyter server`` with formgrader, as in ``tests/test_formgrader.py``,
whose helpers it reuses), the ``javascript:`` and file links clicked, and
``parcel-course feedback``'s page opened from disk: nothing runs, no file
appears, the figure shows, formgrader's own scripts still work.  Each layer is
checked alone too: the unsanitised page under the submission view's policy,
and the sanitised feedback page without any policy.
"""
from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request

import nbformat
import pytest

from parcel_course.demo import fill_in
from parcel_course.directory import Course, grading_env
from parcel_course.webguard import FILES_POLICY, submission_policy
from test_formgrader import ROOT, _cli, _launch, pytestmark, server  # noqa: F401  (shared server and browser)

A, NB, STUDENT = "01_convolution", "convolution", "mallory"


def _js(name: str) -> str:
    """What each payload runs: a console line, a marker, an alert and a file created through the API."""
    return (f"console.log('PWNED:{name}');window.__pwned=(window.__pwned||[]).concat(['{name}']);"
            f"alert('pwned {name}');"
            f"fetch('/api/contents/pwned-{name}.txt',{{method:'PUT',credentials:'include',"
            f"headers:{{'X-XSRFToken':((document.cookie.match(/_xsrf=([^;]+)/)||[])[1]||''),"
            f"'Content-Type':'application/json'}},"
            f"body:JSON.stringify({{type:'file',format:'text',content:'{name}'}})}})")


EVIL_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="{}">'
            '<script>{}</script><rect width="40" height="40" fill="red"/></svg>')

# name -> the HTML a code cell displays as text/html
HTML_OUTPUTS = {
    "img_onerror": '<img src="x" onerror="{js}">',
    "body_onload": '<body onload="{js}">',
    "svg_onload": '<svg onload="{js}"></svg>',
    "script": "<script>{js}</script>",
    "js_link": '<a class="js-link" href="javascript:{js}">click me (html)</a>',
    "inline_svg_script": "<svg><script>{js}</script></svg>",
    "data_iframe": '<iframe src="data:text/html,&lt;script&gt;{js}&lt;/script&gt;"></iframe>',
    "data_link": '<a class="data-link" href="data:text/html,&lt;script&gt;{js}&lt;/script&gt;">data link</a>',
}

CODE = "\n".join([
    "from IPython.display import HTML, Javascript, display",
    "import matplotlib.pyplot as plt",
    "PAYLOADS = " + json.dumps({k: v.replace("{js}", _js(k).replace('"', "&quot;")) for k, v in HTML_OUTPUTS.items()}),
    "for html in PAYLOADS.values():",
    "    display(HTML(html))",
    "display({'image/svg+xml': " + repr(EVIL_SVG.format(_js("svg_output_onload").replace('"', "&quot;"),
                                                       _js("svg_output_script"))) + "}, raw=True)",
    "display(HTML('<script>" + _js("isolated").replace("'", "\\'") + "</script>'), metadata={'isolated': True})",
    "display(Javascript(" + repr(_js("javascript_output")) + "))",
    "display({'image/png': 'x\" onerror=\"" + _js("png_breakout").replace("'", "\\'") + "', 'text/plain': 'png'},"
    " raw=True)",
    "fig, ax = plt.subplots(figsize=(3, 2))",
    "ax.plot([0, 1, 2], [0, 1, 4])",
    "ax.set_title('honest figure')",
    "import io",                                   # the kernel's backend may be Agg: the PNG made explicitly
    "buf = io.BytesIO()",
    "fig.savefig(buf, format='png')",
    "from IPython.display import Image",
    "display(Image(buf.getvalue()))",
])

MARKDOWN = "\n\n".join([
    "## My notes",
    '<img src="x" onerror="{}">'.format(_js("md_img_onerror").replace('"', "&quot;")),
    "<svg><script>{}</script></svg>".format(_js("md_svg_script")),
    '<svg onload="{}"></svg>'.format(_js("md_svg_onload").replace('"', "&quot;")),
    '<details open ontoggle="{}"><summary>s</summary>d</details>'.format(_js("md_ontoggle").replace('"', "&quot;")),
    '<a class="md-js-link" href="javascript:{}">click me (markdown)</a>'.format(_js("md_js_link").replace('"', "&quot;")),
    "![evil](attachment:evil.svg)",
    '<a class="file-link" href="evil.html">my extra page</a>',
])
MD_PAYLOADS = ["md_img_onerror", "md_svg_script", "md_svg_onload", "md_ontoggle", "md_js_link"]
EVIL_HTML = "<html><body><script>{}</script>evil page</body></html>".format(_js("submitted_file"))

# What runs in formgrader's page without the protection (proved in test_payloads_run_without_protection; the
# data: iframe runs in an opaque origin, the others on the server's). The rest are inert even there (an SVG
# output or attachment shown as <img>, nbconvert's escaping of image data, a top-level data: navigation that
# Chromium refuses, the submission's file, which the unprotected page does not link to) and checked all the same.
MUST_RUN_UNPROTECTED = {"img_onerror", "body_onload", "svg_onload", "script", "js_link", "inline_svg_script",
                        "data_iframe", "isolated", "javascript_output",
                        "md_img_onerror", "md_svg_script", "md_svg_onload", "md_ontoggle", "md_js_link"}
ALL = set(HTML_OUTPUTS) | set(MD_PAYLOADS) | {"svg_output_onload", "svg_output_script", "isolated",
                                               "javascript_output", "png_breakout", "submitted_file"}


def _hostile_submission(release_nb, source_nb, target):
    """The release notebook answered right (as `make demo`'s ada), then the payload cells."""
    shutil.copy(release_nb, target)
    fill_in(target, source_nb, answer="all")
    nb = nbformat.read(target, as_version=4)
    md = nbformat.v4.new_markdown_cell(MARKDOWN)
    svg = EVIL_SVG.format(_js("attachment_onload").replace('"', "&quot;"), _js("attachment_script"))
    md.attachments = {"evil.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()}}
    nb.cells += [md, nbformat.v4.new_code_cell(CODE)]
    nbformat.write(nb, target)
    (target.parent / "evil.html").write_text(EVIL_HTML)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """01_convolution, one hostile submission graded by `parcel-course grade` (the `server` fixture's course)."""
    base = tmp_path_factory.mktemp("formgrader-xss")
    root = base / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / A, root / "source" / A,
                    ignore=shutil.ignore_patterns("*.ipynb_checkpoints", "__pycache__"))
    c = Course(root)
    c.build_source()
    c.generate([A])
    d = c.submitted / STUDENT / A
    d.mkdir(parents=True)
    for nb in sorted((c.release / A).glob("*.ipynb")):
        shutil.copy(nb, d)
    _hostile_submission(c.release / A / f"{NB}.ipynb", c.source / A / f"{NB}.ipynb", d / f"{NB}.ipynb")
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    env = grading_env({"PARCEL_EXCHANGE": str(exchange)})
    _cli(root, "grade", A, "--workers", "1", env=env, timeout=1200)
    graded = c.autograded / STUDENT / A / f"{NB}.ipynb"
    assert graded.exists(), "the hostile submission was not graded (no autograded notebook)"
    # plain `nbgrader autograde` copies a submission's other files beside the notebook; formgrader serves them
    (graded.parent / "evil.html").write_text(EVIL_HTML)
    return dict(base=base, root=root, course=c, env=env, graded=graded)


def _watch(page, seen: list):
    """Record every sign of a payload: console lines of any frame, dialogs (dismissed)."""
    page.on("console", lambda m: seen.append(m.text) if "PWNED:" in m.text else None)
    page.on("dialog", lambda d: (seen.append("dialog:" + d.message), d.dismiss()))


def _ran(page, seen) -> set:
    """The payload names that ran: console lines, dialogs and the page's marker."""
    names = {s.split("PWNED:", 1)[1] for s in seen if "PWNED:" in s}
    names |= {s.split("dialog:pwned ", 1)[1] for s in seen if s.startswith("dialog:pwned ")}
    try:
        names |= set(page.evaluate("() => window.__pwned || []"))
    except Exception:             # the page navigated away
        pass
    return names


def _click_links(page, selectors):
    for sel in selectors:
        for link in page.locator(sel).all():
            try:
                link.click(timeout=3000, no_wait_after=True)
            except Exception:
                pass
            page.wait_for_timeout(300)


def _figure_width(page) -> int:
    """naturalWidth of the honest figure (the one PNG output), 0 when it does not show."""
    return page.evaluate("() => Math.max(0, ...Array.from(document.querySelectorAll("
                         "'.output_png img')).map(i => i.complete ? i.naturalWidth : 0))")


def _unprotected_html(graded) -> str:
    """The autograded notebook in nbgrader's own formgrade template, as formgrader shows it without the course."""
    import os

    import nbgrader
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    cfg = Config()
    cfg.HTMLExporter.template_name = "formgrade"
    cfg.HTMLExporter.extra_template_basedirs = [os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions",
                                                             "formgrader", "templates")]
    html, _ = HTMLExporter(config=cfg).from_filename(str(graded), resources=dict(
        base_url="", submission_id="probe", notebook_id=NB, assignment_id=A, index=0, total=1, student=STUDENT,
        last_name=None, first_name=None, notebook_path="probe"))
    return html


def _submission_id(course) -> str:
    from nbgrader.api import Gradebook
    c = course["course"]
    with Gradebook(c.db_url, c.course_id) as gb:
        return gb.find_submission_notebook(NB, A, STUDENT).id


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = _launch(pw)
        try:
            yield b
        finally:
            b.close()


def _login(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server['url']}/formgrader?token={server['token']}")
    page.wait_for_url("**/formgrader/manage_assignments")
    return ctx, page


def _api_file(server, name):
    req = urllib.request.Request(f"{server['url']}/api/contents/pwned-{name}.txt?content=0",
                                 headers={"Authorization": f"token {server['token']}"})
    try:
        with urllib.request.urlopen(req, timeout=10):
            return True
    except urllib.error.HTTPError as e:
        assert e.code == 404, e
        return False


def _pwned_files(course):
    return sorted(p.name for p in course["root"].glob("pwned-*.txt"))


def test_payloads_run_without_protection(course, server, browser):
    """The unprotected rendering, on the server's origin with the instructor's cookies: the attack works."""
    html = _unprotected_html(course["graded"])
    ctx, page = _login(browser, server)
    seen = []
    _watch(page, seen)
    try:
        probe = f"{server['url']}/formgrader/unprotected-probe"
        page.route(probe, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
        page.goto(probe)
        page.wait_for_timeout(1500)
        _click_links(page, ["a.js-link", "a.md-js-link"])
        page.wait_for_timeout(1500)
        ran = _ran(page, seen)
    finally:
        ctx.close()
    missing = MUST_RUN_UNPROTECTED - ran
    assert not missing, f"payloads that should run without the protection did not: {sorted(missing)} (ran: {ran})"
    created = _pwned_files(course)
    assert created, "no payload created a file through /api/contents on the unprotected page"
    for p in course["root"].glob("pwned-*.txt"):
        p.unlink()
    print(f"\nunprotected: ran {sorted(ran)}; files created {created}")


def test_submission_view_runs_nothing(course, server, browser):
    """Formgrader's submission view: no payload runs, no file appears, the figure shows, formgrader works."""
    for p in course["root"].glob("pwned-*.txt"):
        p.unlink()
    sid = _submission_id(course)
    url = f"{server['url']}/formgrader/submissions/{sid}/"
    ctx, page = _login(browser, server)
    seen, errors = [], []
    _watch(page, seen)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        resp = page.goto(url)
        assert resp.ok
        policy = resp.headers.get("content-security-policy", "")
        script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'nonce-" in script_src and "unsafe-inline" not in script_src and "'self'" not in script_src, policy
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded")
        page.wait_for_timeout(1500)
        assert _figure_width(page) > 0, "the honest matplotlib figure does not show"
        body = page.inner_text("#notebook-container")
        assert "<script>" in body, "the escaped payload markup should be visible to the instructor as text"
        ran = _ran(page, seen)
        # the name toggle (formgrader's own script, bound without onclick attributes) still works
        page.click("span.glyphicon.name-hidden")
        assert page.locator("a.name-shown").first.is_visible()
        _click_links(page, ["a.js-link", "a.md-js-link", "a.data-link"])
        page.wait_for_timeout(1000)
        ran |= _ran(page, seen)
        # a file of the submission linked from its markdown: served sandboxed, nothing runs
        page.goto(url)
        with page.expect_navigation():
            page.locator("a.file-link").click()
        assert "evil.html" in page.url
        page.wait_for_timeout(1000)
        ran |= _ran(page, seen)
        files_resp = page.request.get(page.url)
        assert files_resp.ok and "evil page" in files_resp.text(), "the submission's own file was not served"
        assert files_resp.headers.get("content-security-policy") == FILES_POLICY
    finally:
        ctx.close()
    assert not ran, f"payloads ran in formgrader: {sorted(ran)}"
    assert not _pwned_files(course) and not any(_api_file(server, n) for n in ("img_onerror", "script"))
    errors = [e for e in errors if "MathJax" not in e]
    assert not errors, f"JavaScript errors in formgrader under the policy: {errors}"


def test_policy_alone_stops_the_payloads(course, server, browser):
    """Layer 2 alone: the unsanitised page under the submission view's policy runs none of the payloads."""
    html = _unprotected_html(course["graded"])
    ctx, page = _login(browser, server)
    seen = []
    _watch(page, seen)
    try:
        probe = f"{server['url']}/formgrader/policy-probe"
        page.route(probe, lambda route: route.fulfill(status=200, content_type="text/html", body=html,
                                                      headers={"Content-Security-Policy": submission_policy("n0")}))
        page.goto(probe)
        page.wait_for_timeout(1500)
        _click_links(page, ["a.js-link", "a.md-js-link"])
        page.wait_for_timeout(1000)
        ran = _ran(page, seen)
    finally:
        ctx.close()
    assert not ran, f"payloads ran under the policy alone: {sorted(ran)}"
    assert not _pwned_files(course)


def test_feedback_page_runs_nothing(course, browser):
    """Layer 1 alone: `parcel-course feedback`'s page, opened from disk, has no policy and runs nothing."""
    root = course["root"]
    _cli(root, "feedback", A, "--student", STUDENT, env=course["env"], timeout=600)
    path = root / "feedback" / STUDENT / A / f"{NB}.html"
    assert "&lt;script&gt;console.log('PWNED:script')" in path.read_text(encoding="utf-8")   # shown as text
    page = browser.new_page()
    seen = []
    _watch(page, seen)
    try:
        page.goto(path.as_uri())
        page.wait_for_timeout(1500)
        assert _figure_width(page) > 0, "the honest figure does not show in the feedback page"
        _click_links(page, ["a.js-link", "a.md-js-link"])
        ran = _ran(page, seen)
    finally:
        page.close()
    assert not ran, f"payloads ran in the feedback page: {sorted(ran)}"
