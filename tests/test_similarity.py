"""The similarity report (issue 27): disguised copies flagged, independent solutions not, short exercises
marked, student code escaped, and the whole command on a small course.

The originals and the independent solutions are the fairness suite's alternatives (tests/test_fairness.py);
the disguises are benchmarks/similarity.py's (which measures the rates over all four assignments).
"""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys

import nbformat
import pytest

from parcel_course import similarity
from parcel_course.directory import Course

from test_fairness import ALTERNATIVES


@pytest.fixture(scope="module")
def bench(root):
    spec = importlib.util.spec_from_file_location("bench_similarity", root / "benchmarks" / "similarity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def conv(root):
    """01_convolution's reference answers and given code, and the fairness suite's correlate2d alternatives."""
    answers, reference, given, _ = similarity.collect_answers(Course(root), "01_convolution")
    return dict(reference=reference, given=given, alts=[c for _, c in ALTERNATIVES["01_convolution"]
                                                        ["convolution"]["correlate2d"]])


EX = "convolution/correlate2d"


def _class(conv, extra):
    klass = {f"alt{i}": {EX: code} for i, code in enumerate(conv["alts"])}
    klass.update({f"ref{i}": {EX: conv["reference"][EX]} for i in range(3)})
    klass.update(extra)
    return similarity.compare_answers(klass, conv["given"] + list(conv["reference"].values()),
                                      {EX: conv["reference"][EX]})


@pytest.mark.parametrize("disguise", ["rename", "reformat", "comments", "split/merge", "loop form"])
def test_a_disguised_copy_is_flagged_and_independent_solutions_are_not(bench, conv, disguise):
    copy = bench.DISGUISES[disguise](conv["alts"][0])
    assert copy != conv["alts"][0]
    r = _class(conv, {"copier": {EX: copy}})
    flagged = {(f["a"], f["b"]) for f in r.flagged}
    assert ("alt0", "copier") in flagged, (disguise, r.scores.get(("alt0", "copier")))
    assert flagged == {("alt0", "copier")}, flagged            # no independent pair, no reference copier
    assert all(r.scores.get((a, b), {}).get(EX, 0) < r.threshold
               for a in r.students for b in r.students if a < b and {a, b} != {"alt0", "copier"})
    assert r.own["ref0"].get(EX, 0) == 0                         # the reference is boilerplate


def test_short_exercises_are_marked_not_flagged(conv):
    ex = "convolution/convolve2d"
    one_line = conv["reference"][ex]
    alike = ("def convolve2d(image, kernel, padding='valid', stride=1):\n"
             "    flipped = np.asarray(kernel)[::-1, ::-1]  # the kernel turned by 180 degrees\n"
             "    return correlate2d(image, flipped, padding=padding, stride=stride)\n")
    r = similarity.compare_answers({"ann": {ex: alike}, "bob": {ex: alike.replace("p", "q")}},
                                   conv["given"] + list(conv["reference"].values()), {ex: one_line})
    assert r.marked == {ex: "short"}
    assert r.flagged == []
    assert r.scores[("ann", "bob")][ex] >= 0 and ex in r.exercises


def test_the_command_writes_csv_histogram_escaped_pages_and_the_report_section(tmp_path, root, bench, conv):
    """A course of four: two independent solutions, a reference copier and a disguised copy that carries
    hostile text; `parcel-course similarity` and `parcel-course report`."""
    from parcel_course.cli import main as cli
    base = tmp_path / "course"
    base.mkdir()
    shutil.copy(root / "nbgrader_config.py", base)
    shutil.copytree(root / "source" / "01_convolution", base / "source" / "01_convolution")
    shutil.copytree(root / "release" / "01_convolution", base / "release" / "01_convolution")
    course = Course(base)
    hostile = "</pre><script>alert('x')</script><img src=x onerror=alert(1)>"
    copy = bench.rename(conv["alts"][0], seed=3).replace("def correlate2d", f"# {hostile}\ndef correlate2d", 1)
    cells = {"ann": conv["alts"][0], "bob": conv["alts"][1], "cid": conv["reference"][EX], "dee<b>": copy}
    for student, code in cells.items():
        d = course.submitted / student / "01_convolution"
        d.mkdir(parents=True)
        for rel in (course.release / "01_convolution").glob("*.ipynb"):
            nb = nbformat.read(rel, as_version=4)
            for c in nb.cells:
                if c.metadata.get("nbgrader", {}).get("grade_id") == "correlate2d" and rel.stem == "convolution":
                    c.source = code
            nbformat.write(nb, d / rel.name)
    (course.submitted / "eve" / "01_convolution").mkdir(parents=True)
    (course.submitted / "eve" / "01_convolution" / "convolution.ipynb").write_text("{not json")

    assert cli(["--root", str(base), "similarity", "01_convolution"]) == 0
    out = course.reports / "similarity" / "01_convolution"
    summary = json.loads((out / "summary.json").read_text())
    assert [(f["a"], f["b"], f["exercise"]) for f in summary["flagged"]] == [("ann", "dee<b>", EX)]
    assert summary["unreadable"] and "eve/convolution.ipynb" in summary["unreadable"][0]
    with open(out / "pairs.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {r["flagged"] for r in rows} == {"yes", ""}   # 5 submissions: 10 pairs
    assert (out / "histogram.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / summary["flagged"][0]["page"]).read_text()
    assert "<script>" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;" in page and "<mark>" in page and "default-src 'none'" in page
    assert "dee&lt;b&gt;" in page and "not a verdict" in page

    sections = similarity.report_sections(course)
    assert sections[0]["flagged"][0]["link"] == f"similarity/01_convolution/{summary['flagged'][0]['page']}"
    assert sections[0]["histogram_uri"].startswith("data:image/png;base64,")
