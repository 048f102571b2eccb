"""Hidden tests do not reach feedback through what the kernel printed (#23).

The feedback hides the hidden-test code of test cells (``HideHiddenTests``),
but the kernel ran it: an answer whose function, called by a test cell, prints
``In``, the caller's source (``inspect``, ``sys._getframe``) or raises it as an
error would put the hidden tests in an output.  ``RedactHiddenTests`` replaces
each output line that quotes a hidden-test line.  The unit tests build tiny
notebooks; the end-to-end test grades a hostile 01_convolution submission with
``parcel-course grade`` and writes feedback through ``parcel-course feedback``
and plain ``nbgrader generate_feedback``.
"""
import html
import re
import subprocess
import sys

import nbformat
import pytest
from traitlets.config import Config

from parcel_course.config import FEEDBACK_PREPROCESSORS
from parcel_course.directory import grading_env
from parcel_course.preprocessors.redact_hidden_tests import RedactHiddenTests, hidden_test_lines, redact_text
from test_integrity import A, BB, _answer, _reference, _release_copy, _temp_course

slow = pytest.mark.slow
MARK = "[hidden test redacted]"

SOURCE = """check_equal(f(1), 2, name="f(1)")
### BEGIN HIDDEN TESTS
attest("f_on_other_inputs", f)
assert f(7) == 14, "f(7)"
)
### END HIDDEN TESTS"""
HIDDEN = ['attest("f_on_other_inputs", f)', 'assert f(7) == 14, "f(7)"']
VISIBLE = 'check_equal(f(1), 2, name="f(1)")'


def _notebook(outputs_of_answer, outputs_of_test=()):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f(x):\n    ...")
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "f", "locked": False}
    test = nbformat.v4.new_code_cell(SOURCE)
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_f", "points": 1, "locked": True}
    answer.outputs, test.outputs = list(outputs_of_answer), list(outputs_of_test)
    nb.cells += [answer, test]
    return nb


def _all_output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts += [str(out.get(k, "")) for k in ("text", "ename", "evalue")] + list(map(str, out.get("traceback", [])))
            parts += [v if isinstance(v, str) else repr(v) for v in out.get("data", {}).values()]
    return "\n".join(parts)


def _leaky_outputs():
    stream = nbformat.v4.new_output
    return [
        stream("stream", name="stdout", text=SOURCE + "\n"),                                  # print(In[-1])
        stream("stream", name="stdout", text=repr(["", "import numpy", SOURCE]) + "\n"),      # print(In)
        stream("execute_result", data={"text/plain": repr(SOURCE)}, execution_count=3),
        stream("display_data", data={"text/html": "<pre>" + html.escape(SOURCE) + "</pre>",
                                     "text/plain": "<IPython.core.display.HTML object>"}),
        stream("display_data", data={"application/json": {"src": SOURCE}}),
        stream("error", ename="ValueError", evalue=SOURCE,                                     # raise ValueError(In[-1])
               traceback=["\x1b[0;31mValueError\x1b[0m Traceback", "----> 4 \x1b[0;32massert\x1b[0m f(7) == 14, \"f(7)\"",
                          "ValueError: " + SOURCE]),
    ]


def test_every_kind_of_output_loses_the_hidden_lines_and_keeps_the_rest():
    honest = nbformat.v4.new_output("stream", name="stdout", text="f(1) = 2, as expected\n")
    nb = _notebook(_leaky_outputs(), [honest])
    before = _all_output_text(nb)
    assert all(h in before or html.escape(h) in before for h in HIDDEN)     # the leak is there to start with
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    after = _all_output_text(nb)
    for h in HIDDEN:
        for form in (h, html.escape(h), repr(h)[1:-1]):
            assert form not in after, form
    assert MARK in after
    assert VISIBLE in after                                  # visible lines and honest output stay
    assert nb.cells[1].outputs[0].text == "f(1) = 2, as expected\n"
    assert nb.cells[1].source == SOURCE                      # sources are HideHiddenTests' job, run after it


def test_short_lines_and_visible_lines_are_not_redacted():
    assert hidden_test_lines(_notebook([])) == HIDDEN        # ")" is under the 12 non-space characters
    out = nbformat.v4.new_output("stream", name="stdout", text=")\n" + VISIBLE + "\n")
    nb, _ = RedactHiddenTests().preprocess(_notebook([out]), {})
    assert nb.cells[0].outputs[0].text == ")\n" + VISIBLE + "\n"
    # a hidden line that a visible cell also shows is no secret: not redacted
    nb = _notebook([nbformat.v4.new_output("stream", name="stdout", text=HIDDEN[0] + "\n")])
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("A hint:\n\n    " + HIDDEN[0]))
    assert hidden_test_lines(nb) == HIDDEN[1:]
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    assert nb.cells[1].outputs[0].text == HIDDEN[0] + "\n"


def test_rewrapped_or_reindented_leak_redacts_the_whole_output():
    wrapped = "\n".join(re.findall(".{1,8}", HIDDEN[1]))        # printed 8 characters a line
    text, hit = redact_text("before\n" + wrapped + "\nafter", HIDDEN)
    assert hit and text == MARK
    text, hit = redact_text("        " + HIDDEN[1].replace(" ", "   "), HIDDEN)
    assert hit and text == MARK


def test_instructor_copy_keeps_everything_and_feedback_runs_it_first():
    c = Config()
    c.HideHiddenTests.show_hidden_tests = True               # `parcel-course feedback --show-hidden-tests`
    nb, _ = RedactHiddenTests(config=c).preprocess(_notebook(_leaky_outputs()), {})
    assert HIDDEN[1] in _all_output_text(nb)
    names = [p.rsplit(".", 1)[1] for p in FEEDBACK_PREPROCESSORS]
    assert names.index("RedactHiddenTests") < names.index("HideHiddenTests")


# -- end to end: a hostile submission of 01_convolution, graded, then its feedback --------------------------

LEAK_CONV = '''
_shown = []
def conv_parameters(kernel_size, in_channels, filters, use_bias=True):
    import html, inspect, sys
    from IPython.display import HTML, display
    if not _shown:
        _shown.append(1)
        ip = get_ipython()
        print(ip.user_ns["In"][-1])                              # the test cell calling this one
        print(ip.user_ns["In"])
        print(inspect.getsource(sys._getframe(1).f_code))        # the caller's code object
        display(HTML("<pre>" + html.escape(ip.user_ns["In"][-1]) + "</pre>"))
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    weights = kh * kw * in_channels * filters
    return weights + filters if use_bias else weights
'''
LEAK_FIELD = '''
def receptive_field(n_layers, kernel_size=3):
    raise ValueError(get_ipython().user_ns["In"][-1])           # the test cell's source as the error
'''
LEAK_ACTIVATIONS = '''
import inspect
import numpy as np
_seen = set()
def relu(x):
    for frame in inspect.stack()[1:]:                            # every caller's line, the hidden ones included
        for line in frame.code_context or []:
            if line not in _seen:
                _seen.add(line)
                print("CALLER", line.rstrip())
    return np.maximum(np.asarray(x, dtype=float), 0.0)
def leaky_relu(x, alpha=0.01):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * x)
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
def tanh_from_sigmoid(x):
    return 2.0 * sigmoid(2.0 * np.asarray(x, dtype=float)) - 1.0
'''


def _test_cell_lines(source_nb):
    """(hidden, visible) stripped lines of the instructor notebook's test cells, as the tests see them."""
    hidden, visible = set(), set()
    for cell in nbformat.read(source_nb, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        inside = False
        for line in cell.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif line.strip():
                (hidden if inside else visible).add(line.strip())
    return {h for h in hidden - visible if len(re.sub(r"\s", "", h)) >= 12}, visible


def _page_text(path) -> str:
    """What a reader of the feedback page sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", path.read_text()))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base, root, course = _temp_course(tmp_path_factory, "redaction", [A])
    _reference(course, "ada", [BB])
    d = _release_copy(course, "mallory", [BB])
    _answer(d / f"{BB}.ipynb", {"conv_parameters": LEAK_CONV, "receptive_field": LEAK_FIELD,
                                "activations": LEAK_ACTIVATIONS})
    env = grading_env({"PARCEL_EXCHANGE": str(base / "exchange")})
    cli = [sys.executable, "-m", "parcel_course.cli", "--root", str(root)]
    proc = subprocess.run([*cli, "grade", "--workers", "2", "--timeout", "90", "--total-timeout", "300"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hidden, visible = _test_cell_lines(course.source / A / f"{BB}.ipynb")
    return dict(course=course, cli=cli, env=env, hidden=hidden, visible=visible)


def _feedback_pages(graded, how):
    course = graded["course"]
    for p in course.feedback.glob("*/*/*.html"):
        p.unlink()
    if how == "parcel-course feedback":
        proc = subprocess.run([*graded["cli"], "feedback", A], capture_output=True, text=True, env=graded["env"],
                              timeout=600)
    else:                        # formgrader's button and a plain command line: the course's nbgrader_config.py
        proc = course.nbgrader("generate_feedback", A, "--force", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {s: course.feedback / s / A / f"{BB}.html" for s in ("ada", "mallory")}


@slow
def test_the_attack_puts_hidden_tests_in_the_autograded_notebook(graded):
    """Without this the end-to-end test below would prove nothing: the kernel did print them."""
    nb = nbformat.read(graded["course"].autograded / "mallory" / A / f"{BB}.ipynb", as_version=4)
    printed = _all_output_text(nb)
    leaked = {h for h in graded["hidden"] if h in printed}
    assert 'attest("conv_parameters", conv_parameters)' in leaked      # In[-1], In, the caller's source
    assert 'attest("relu", relu)' in leaked                             # inspect.stack()'s code context
    assert 'attest("receptive_field", receptive_field)' in leaked      # the error's message


@slow
@pytest.mark.parametrize("how", ["parcel-course feedback", "nbgrader generate_feedback"])
def test_feedback_shows_no_hidden_test_line_and_the_visible_tests(graded, how):
    pages = _feedback_pages(graded, how)
    for student, page in pages.items():
        assert page.is_file(), (student, sorted(p.name for p in page.parent.glob("*")))
        text = _page_text(page)
        squeezed = re.sub(r"\s", "", text)
        shown = sorted(h for h in graded["hidden"] if h in text or re.sub(r"\s", "", h) in squeezed)
        assert shown == [], (student, how, shown)
        missing = sorted(v for v in graded["visible"] if v not in text)
        assert missing == [], (student, how, missing[:5])
    assert MARK in _page_text(pages["mallory"])
    assert MARK not in _page_text(pages["ada"])          # nothing honest is redacted
