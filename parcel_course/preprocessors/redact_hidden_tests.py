"""Hidden tests redacted from every output in feedback: the kernel can print them.

:class:`~.hide_hidden_tests.HideHiddenTests` removes the hidden tests from the
test cells' sources and cuts their tracebacks, but the kernel ran those sources:
a student's function called by a test cell can print ``In[-1]``,
``get_ipython().user_ns['In']``, ``inspect.getsource(sys._getframe(1))`` or
``inspect.stack()``, raise an error whose message is the caller's source, or
``display`` it as HTML, and that text is an output of the autograded notebook
that the feedback page shows.  :class:`RedactHiddenTests` runs first in
``GenerateFeedback.preprocessors`` (while the test cells still hold their hidden
code) and replaces every output line that quotes a hidden-test line by a marker.
"""
from __future__ import annotations

import html
import json
import re

from traitlets import Int, Unicode

from .hide_hidden_tests import HideHiddenTests

__all__ = ["RedactHiddenTests", "hidden_test_lines", "redact_text"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SPACE = re.compile(r"\s+")


def _hidden_and_visible(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """The lines of a cell's hidden-test regions and the others (the delimiter lines in neither)."""
    hidden, visible, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return hidden, visible


def hidden_test_lines(nb, min_chars: int = 12, begin: str = "BEGIN HIDDEN TESTS",
                      end: str = "END HIDDEN TESTS") -> list[str]:
    """The hidden-test lines worth redacting: stripped, with at least ``min_chars`` non-space characters,
    and not also a line that the feedback shows (a visible line of any cell).

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> cell = nbformat.v4.new_code_cell("check(f(1))\\n### BEGIN HIDDEN TESTS\\nassert f(7) == 14\\n)\\n### END HIDDEN TESTS")
    >>> cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    >>> nb.cells.append(cell)
    >>> hidden_test_lines(nb)
    ['assert f(7) == 14']
    """
    hidden, shown = [], set()
    for cell in nb.cells:
        if HideHiddenTests.is_test_cell(cell):
            h, v = _hidden_and_visible(cell.get("source", ""), begin, end)
            hidden += h
        else:
            v = cell.get("source", "").split("\n")
        shown.update(line.strip() for line in v)
    out = []
    for line in hidden:
        s = line.strip()
        if len(_SPACE.sub("", s)) >= min_chars and s not in shown and s not in out:
            out.append(s)
    return out


def _variants(line: str) -> set[str]:
    """How a line can appear verbatim in an output: as is, HTML-escaped, inside a repr or a JSON string."""
    out = {line, html.escape(line), html.escape(line, quote=False), repr(line)[1:-1], json.dumps(line)[1:-1],
           json.dumps(line, ensure_ascii=False)[1:-1]}
    out |= {v.replace("&#x27;", "&#39;") for v in out}
    return out


def redact_text(text: str, lines: list[str], marker: str = "[hidden test redacted]") -> tuple[str, bool]:
    """Replace every line of ``text`` that quotes one of ``lines`` by ``marker``.

    A line matches when, without its ANSI colour codes, it contains a hidden
    line verbatim (or HTML-escaped, or escaped as in a ``repr`` or JSON string).
    Then, if the text still holds a hidden line once all whitespace is taken
    out (re-indented, or wrapped over several lines), the whole text becomes
    the marker.

    Returns
    -------
    text : str
    redacted : bool

    Example
    -------
    >>> redact_text("ok\\n----> 3 assert f(7) == 14\\n", ["assert f(7) == 14"])
    ('ok\\n[hidden test redacted]\\n', True)
    >>> redact_text("assert f(7)\\n   == 14", ["assert f(7) == 14"])
    ('[hidden test redacted]', True)
    """
    if not text or not lines:
        return text, False
    plain = _ANSI.sub("", text)
    variants = [v for line in lines for v in _variants(line) if v]
    hits = [v for v in variants if v in plain]
    redacted = False
    if hits:
        kept = []
        for raw in text.splitlines(keepends=True):
            body = raw.rstrip("\r\n")
            if any(v in _ANSI.sub("", body) for v in hits):
                kept.append(marker + raw[len(body):])
                redacted = True
            else:
                kept.append(raw)
        text = "".join(kept)
        plain = _ANSI.sub("", text)
    squeezed = _SPACE.sub("", plain)
    if any(_SPACE.sub("", v) in squeezed for v in variants):
        return marker, True
    return text, redacted


class RedactHiddenTests(HideHiddenTests):
    """Redact hidden-test lines from every output of every cell before feedback.

    Before :class:`HideHiddenTests` removes the hidden tests from the test
    cells' sources, collect their lines (:func:`hidden_test_lines`: lines of at
    least ``min_chars`` non-space characters, so that a ``)`` or an ``else:``
    of a hidden test does not wipe honest output, and not lines the feedback
    shows anyway), then look for them in every output of every cell: stream
    text, ``execute_result`` and ``display_data`` (``text/plain``,
    ``text/html``, ``text/markdown``, SVG, JSON, ... every type but encoded
    images), an error's name, value and traceback.  Each output line that
    quotes one is replaced by ``marker`` (:func:`redact_text`).  Configured by
    ``HideHiddenTests``'s settings too (a subclass): nothing happens with
    ``show_hidden_tests = True``.

    This stops verbatim leaks only.  A student's code can still print the
    hidden tests encoded (base64, reversed, one character per line, as
    numbers, in a PNG): no filter of the outputs can recognise every
    encoding.  That is why the hidden tests check the same functions on
    different inputs and hold no secret: what a student learns by reading
    them is what a careful student learns from the visible tests.

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> test = nbformat.v4.new_code_cell("check(f(1))\\n### BEGIN HIDDEN TESTS\\nassert f(7) == 14\\n### END HIDDEN TESTS")
    >>> test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    >>> test.outputs = [nbformat.v4.new_output("stream", name="stdout", text=test.source)]
    >>> nb.cells.append(test)
    >>> nb, _ = RedactHiddenTests().preprocess(nb, {})
    >>> print(nb.cells[0].outputs[0].text)
    check(f(1))
    ### BEGIN HIDDEN TESTS
    [hidden test redacted]
    ### END HIDDEN TESTS
    """

    min_chars = Int(12, help="A hidden-test line is redacted from outputs when it has at least this many "
                             "non-space characters (shorter ones, like ')' or 'else:', are too common).").tag(config=True)
    marker = Unicode("[hidden test redacted]",
                     help="What replaces an output line that quotes a hidden test.").tag(config=True)

    def preprocess(self, nb, resources):
        if self.show_hidden_tests:
            return nb, resources
        lines = hidden_test_lines(nb, self.min_chars, self.begin_delimiter, self.end_delimiter)
        if not lines:
            return nb, resources
        count = 0
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                count += self._redact_output(out, lines)
        if count:
            self.log.info("redacted %d output(s) quoting hidden tests", count)
        return nb, resources

    def _redact(self, text, lines) -> tuple[str, bool]:
        if isinstance(text, list):       # nbformat's multi-line string, not joined
            text = "".join(text)
        return redact_text(str(text), lines, self.marker)

    def _redact_output(self, out, lines) -> int:
        n = 0
        kind = out.get("output_type")
        if kind == "stream":
            out["text"], hit = self._redact(out.get("text", ""), lines)
            n += hit
        elif kind == "error":
            for key in ("ename", "evalue"):
                out[key], hit = self._redact(out.get(key, ""), lines)
                n += hit
            tb = []
            for item in out.get("traceback", []):
                item, hit = self._redact(item, lines)
                tb.append(item)
                n += hit
            out["traceback"] = tb
        elif kind in ("execute_result", "display_data", "update_display_data"):
            data = out.get("data", {})
            for mime in list(data):
                value = data[mime]
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue             # base64 pixels: an encoding (see the class's docstring)
                if isinstance(value, (str, list)):
                    data[mime], hit = self._redact(value, lines)
                else:                    # JSON data: redacted whole if it quotes a hidden line
                    data[mime], hit = self._redact(json.dumps(value), lines)
                    if not hit:
                        data[mime] = value
                n += hit
        return n
