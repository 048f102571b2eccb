"""What a student wrote or printed stays inert in an instructor's browser (issue 24).

A submission reaches the instructor's browser through nbconvert: formgrader's
submission view (``/formgrader/submissions/<id>/``, on the Jupyter server's
origin, with the instructor's cookies) and ``parcel-course feedback``'s HTML
pages.  Student markdown, ``text/html`` outputs, SVG, attachments and output
metadata are all under the student's control (their code runs while graded:
``display(HTML(...))``, ``display({...}, raw=True)``).  Two independent layers
keep it inert:

1. **Sanitising** (every page): :func:`clean_html` (bleach, an allowlist of
   the tags markdown and tables use; no script, no style element, no event
   handler, no ``javascript:`` or ``data:`` link, images only from the
   submission or ``data:image/...``); the exporter's ``markdown2html`` and
   ``clean_html`` filters are replaced by sanitising ones and
   ``sanitize_html`` is on, so markdown cells, ``text/html`` and
   ``text/markdown`` outputs and raw cells all go through it.
   :class:`SanitizeSubmission` (a preprocessor) keeps only the output types a
   page shows without script (text, HTML, markdown, LaTeX, PNG, JPEG, GIF,
   SVG, which the template shows as an ``<img>``), drops malformed images and
   any output metadata but sizes, and keeps markdown attachments that are
   images.  Disallowed markup is shown as text, so the instructor sees what was
   tried.
2. **Content-Security-Policy** (formgrader): the submission view carries a
   policy (:func:`submission_policy`) that allows a script only with the
   page's nonce, fresh for each rendering: formgrader's own scripts carry it
   (``templates/formgrader/formgrade/formgrade_macros.html.j2``, nbgrader's
   macros with the nonce and with the student's name escaped), nothing the
   student wrote does.  The policy is the first element of the page's head (a
   ``<meta http-equiv>``); the server extension :func:`_load_jupyter_server_extension`
   also sends it as the response's header, and serves the submission's own
   files (``/formgrader/submissions/<id>/<file>``, the same origin) under a
   ``sandbox`` policy so that a student's ``.html`` or ``.svg`` opened there
   runs nothing.

:func:`configure_webguard` puts layer 1 and the template into an nbgrader
config (``nbgrader_config.py`` calls it); the server extension is enabled for
every Jupyter server of the environment by the package
(``jupyter-config/parcel_course.json``, installed into
``etc/jupyter/jupyter_server_config.d``).
"""
from __future__ import annotations

import base64
import binascii
import html
import os
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import bleach
import jinja2
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.preprocessors import Preprocessor
from traitlets import Set as TSet
from traitlets.config import LoggingConfigurable

__all__ = ["clean_html", "SanitizedMarkdown", "SanitizeSubmission", "configure_webguard", "submission_policy",
           "FILES_POLICY", "TEMPLATE_DIR", "RESOURCE_KEY"]

#: The course's template folder, searched before nbgrader's (formgrader's macros with a nonce).
TEMPLATE_DIR = Path(__file__).parent / "templates" / "formgrader"
#: Where :class:`SanitizeSubmission` leaves the nonce and the policy in nbconvert's resources.
RESOURCE_KEY = "parcel_webguard"

# -- layer 1: the sanitiser -------------------------------------------------------------------------------

TAGS = frozenset({
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
    "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
    "ul", "var",
})
_COMMON = {"class", "title", "style", "lang", "dir", "align"}
ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "ol": {"start", "type"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "col": {"span"},
    "colgroup": {"span"}, "abbr": {"title"}, "details": {"open"},
}
CSS_PROPERTIES = frozenset({
    "color", "background-color", "font-weight", "font-style", "font-size", "text-align", "text-decoration",
    "vertical-align", "white-space", "border", "border-collapse", "border-bottom", "border-top",
    "border-left", "border-right", "padding", "padding-left", "padding-right", "margin-left", "width",
})
#: ``data:`` URIs a student's ``<img>`` may show (an SVG as an image runs no script).
IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.I)
_CSS = CSSSanitizer(allowed_css_properties=CSS_PROPERTIES)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name not in _COMMON and name not in ATTRIBUTES.get(tag, ()):
        return False
    if name in ("href", "src"):
        scheme = urlsplit(value.strip()).scheme.lower()
        if tag == "img" and name == "src":
            return scheme == "" or bool(IMAGE_DATA.match(value.strip()))
        return scheme in ("", "http", "https", "mailto")
    return True


def clean_html(text) -> str:
    """Student HTML with only inert markup left: tags outside :data:`TAGS` shown as text.

    No script, style element, form, frame, object or inline SVG; no event
    handler or unknown attribute; links only to ``http(s)``, ``mailto`` or a
    relative address; images only from a relative address (the submission's
    own files) or a ``data:image/...`` URI; inline ``style`` limited to
    :data:`CSS_PROPERTIES`; comments removed.  nbconvert's filter of the same
    name escapes tables and images; this one keeps them.

    Parameters
    ----------
    text : str or bytes
        HTML written or printed by a student (markdown already rendered).

    Returns
    -------
    str

    Example
    -------
    >>> clean_html('<p onclick="steal()">hi<script>steal()</script></p><img src=x onerror=steal()>')
    '<p>hi&lt;script&gt;steal()&lt;/script&gt;</p><img src="x">'
    >>> clean_html('<a href="javascript:steal()">x</a> <a href="https://example.org">y</a>')
    '<a>x</a> <a href="https://example.org">y</a>'
    """
    text = text.decode() if isinstance(text, bytes) else str(text)
    return bleach.clean(text, tags=TAGS, attributes=_allowed_attribute,
                        protocols={"http", "https", "mailto", "data"}, strip=False, strip_comments=True,
                        css_sanitizer=_CSS)


class SanitizedMarkdown(LoggingConfigurable):
    """The exporter's ``markdown2html`` filter, its HTML passed through :func:`clean_html`.

    Registered as ``c.HTMLExporter.filters["markdown2html"]``; nbconvert
    constructs it with the exporter as ``parent`` and Jinja hands it the
    template context (the cell, for its attachments), like the original.

    Example
    -------
    >>> from nbconvert import HTMLExporter
    >>> f = SanitizedMarkdown(parent=HTMLExporter())
    >>> f({"cell": {}}, "*hi* <img src=x onerror=alert(1)>").strip()
    '<p><em>hi</em> <img src="x"></p>'
    """

    jinja_pass_arg = jinja2.pass_context(lambda *_: None).jinja_pass_arg   # Jinja passes the context first

    def __call__(self, context, source):
        return clean_html(self.parent.markdown2html(context, source))


class SanitizeSubmission(Preprocessor):
    """Keep only outputs and attachments a page shows without script; the page's CSP nonce.

    In each code cell's outputs: mimetypes outside :attr:`output_types` are
    dropped (JavaScript, widgets, PDF, anything unknown); ``text/html`` goes
    through :func:`clean_html`; a PNG, JPEG or GIF that is not base64 is
    dropped; output metadata keeps only numeric ``width`` and ``height``
    (``isolated``, ``filenames`` and the rest go).  Markdown attachments keep
    their image types only.  Cell tags and nbgrader grade ids are escaped.
    ``resources["parcel_webguard"]`` receives a fresh nonce and the submission
    view's policy (:func:`submission_policy`), which the course's formgrader
    template writes into the page.

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
    ...     nbformat.v4.new_output("display_data", {"application/javascript": "steal()", "text/plain": "x"})])])
    >>> nb, res = SanitizeSubmission().preprocess(nb, {})
    >>> sorted(nb.cells[0].outputs[0].data), "nonce" in res["parcel_webguard"]
    (['text/plain'], True)
    """

    output_types = TSet(
        {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif",
         "image/svg+xml"},
        help="Output mimetypes kept in the rendered page (each is shown without script); others are dropped.",
    ).tag(config=True)

    attachment_types = TSet(
        {"image/png", "image/jpeg", "image/gif", "image/svg+xml"},
        help="Markdown attachment mimetypes kept (shown as <img>, where an SVG runs no script).",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        resources = resources if resources is not None else {}
        nonce = secrets.token_urlsafe(18)
        mathjax = getattr(self.parent, "mathjax_url", "") if self.parent is not None else ""
        resources[RESOURCE_KEY] = {"nonce": nonce, "policy": submission_policy(nonce, mathjax)}
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        tags = cell.get("metadata", {}).get("tags")
        if isinstance(tags, list):
            cell.metadata["tags"] = [re.sub(r"[^\w-]", "_", str(t)) for t in tags]
        nbg = cell.get("metadata", {}).get("nbgrader")
        if isinstance(nbg, dict) and "grade_id" in nbg:
            nbg["grade_id"] = html.escape(str(nbg["grade_id"]), quote=True)
        if cell.cell_type == "code":
            outputs = [self._output(o) for o in cell.get("outputs", [])]
            cell.outputs = [o for o in outputs if o.get("output_type") not in ("display_data", "execute_result")
                            or o.get("data")]       # an output left with nothing to show goes
        if "attachments" in cell:
            cell.attachments = {name: {m: d for m, d in (bundle or {}).items()
                                       if m in self.attachment_types and _valid_image(m, d)}
                                for name, bundle in (cell.attachments or {}).items()}
        return cell, resources

    def _output(self, output):
        if output.get("output_type") not in ("display_data", "execute_result"):
            return output                       # streams and errors: text, escaped by the template
        data = {}
        for mime, value in (output.get("data") or {}).items():
            if mime not in self.output_types or not _valid_image(mime, value):
                self.log.info("webguard: dropped a %s output", mime)
                continue
            data[mime] = clean_html(value) if mime == "text/html" else value
        output["data"] = data
        meta = {}
        for mime, m in (output.get("metadata") or {}).items():
            if mime in data and isinstance(m, dict):
                sizes = {k: v for k, v in m.items()
                         if k in ("width", "height") and isinstance(v, (int, float)) and not isinstance(v, bool)}
                if sizes:
                    meta[mime] = sizes
        output["metadata"] = meta
        return output


def _valid_image(mime: str, value) -> bool:
    """A raster image must be base64 (it lands in a data: URI); other types pass."""
    if mime not in ("image/png", "image/jpeg", "image/gif"):
        return True
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


# -- layer 2: the Content-Security-Policy -----------------------------------------------------------------

def submission_policy(nonce: str, mathjax_url: str = "") -> str:
    """The submission view's Content-Security-Policy: scripts only with ``nonce``.

    No inline script, event handler, ``javascript:`` URL or script from
    anywhere without the nonce (not even from this origin, which serves the
    student's own files); no plugin, frame, ``<base>``; images from this origin
    and ``data:``; formgrader's requests to its API (``connect-src 'self'``).
    MathJax's folder (nbconvert's ``mathjax_url``) may load scripts, so that
    equations still render where the CDN is reachable.

    Example
    -------
    >>> submission_policy("abc").split("; ")[:2]
    ["default-src 'self'", "script-src 'nonce-abc'"]
    """
    script = [f"'nonce-{nonce}'"]
    if mathjax_url.startswith("https://"):
        parts = urlsplit(mathjax_url)
        script.append(f"https://{parts.netloc}{parts.path.rsplit('/', 2)[0]}/")
    return "; ".join([
        "default-src 'self'", "script-src " + " ".join(script), "style-src 'self' 'unsafe-inline' https:",
        "img-src 'self' data:", "font-src 'self' data: https:", "connect-src 'self'", "object-src 'none'",
        "frame-src 'none'", "child-src 'none'", "worker-src 'none'", "base-uri 'none'", "form-action 'self'",
    ])


#: The policy of a submission's own files served by formgrader (``/formgrader/submissions/<id>/<file>``).
FILES_POLICY = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                "media-src 'self'; frame-ancestors 'self'")
#: What the submission view gets when its page carries no policy of the course's template: nothing runs.
FALLBACK_POLICY = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

_PAGE = re.compile(r"/formgrader/submissions/(?!components/)[^/]+/?$")
_FILES = re.compile(r"/formgrader/submissions/(?!components/)[^/]+/.")


class _Head(HTMLParser):
    """The first policy ``<meta>`` of a page, if it comes before every ``<script>`` and the ``<body>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.policy, self.done = None, False

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        a = dict(attrs)
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.policy, self.done = a.get("content"), True
        elif tag in ("script", "body", "iframe", "object", "embed", "link", "base"):
            self.done = True

    handle_startendtag = handle_starttag


def page_policy(body: bytes) -> str | None:
    """The policy a submission view states in its head (the course's template), else None.

    Only a ``<meta http-equiv="Content-Security-Policy">`` before the page's
    first ``<script>`` and ``<body>`` counts: a student's text comes after both.

    Example
    -------
    >>> page_policy(b'<head><meta charset="utf-8"><meta content="script-src &#39;nonce-x&#39;" '
    ...             b'http-equiv="Content-Security-Policy"><script nonce="x"></script>')
    "script-src 'nonce-x'"
    >>> page_policy(b'<head><script></script><meta http-equiv="Content-Security-Policy" content="x">') is None
    True
    """
    parser = _Head()
    parser.feed(body[:16384].decode("utf-8", "replace"))
    return parser.policy


def _transform_class(log):
    from tornado.web import OutputTransform   # tornado: imported only when needed

    class WebGuardTransform(OutputTransform):
        """Sets the policy header on formgrader's submission view and the submission's files."""

        def __init__(self, request):
            super().__init__(request)
            self.path = request.path

        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            if _PAGE.search(self.path):
                if status_code == 200 and headers.get("Content-Type", "").startswith("text/html"):
                    policy = page_policy(chunk) if finishing and "Content-Encoding" not in headers else None
                    if policy is None:
                        log.warning("webguard: %s carries no Content-Security-Policy of the course's template "
                                    "(nbgrader_config.py calls parcel_course.webguard.configure_webguard); "
                                    "it is served with every script blocked", self.path)
                        policy = FALLBACK_POLICY
                    headers["Content-Security-Policy"] = policy + "; frame-ancestors 'self'"
            elif _FILES.search(self.path):
                headers["Content-Security-Policy"] = FILES_POLICY
            return status_code, headers, chunk

    return WebGuardTransform


def _jupyter_server_extension_points():
    return [{"module": "parcel_course.webguard"}]


def _load_jupyter_server_extension(serverapp):
    """Jupyter server extension: the policy headers of formgrader's submission pages and files."""
    serverapp.web_app.add_transform(_transform_class(serverapp.log))
    serverapp.log.info("parcel_course.webguard: Content-Security-Policy on formgrader's submission view")


# -- configuration ------------------------------------------------------------------------------------------

def configure_webguard(c) -> None:
    """Layer 1 and the nonce template in an nbgrader config (formgrader's and feedback's HTMLExporter).

    Parameters
    ----------
    c : traitlets.config.Config
        ``nbgrader_config.py``'s ``c``.

    Example
    -------
    >>> from traitlets.config import Config
    >>> c = Config(); configure_webguard(c); c.HTMLExporter.sanitize_html
    True
    """
    import nbgrader   # nbgrader: heavy (its apps import the notebook stack)
    nbgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader",
                                      "templates")
    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {"markdown2html": "parcel_course.webguard.SanitizedMarkdown",
                              "clean_html": "parcel_course.webguard.clean_html"}
    c.HTMLExporter.preprocessors = ["parcel_course.webguard.SanitizeSubmission"]
    # the course's formgrade macros (nonce on formgrader's scripts) first, then nbgrader's templates
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATE_DIR), nbgrader_templates]
