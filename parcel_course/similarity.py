"""Similarity of what students wrote: a lead for a person to read, never a verdict.

``parcel-course similarity <assignment>`` compares the answer cells (the
code cells with nbgrader's ``solution`` flag) of every pair of submissions
in ``submitted/``, exercise by exercise, with the winnowing fingerprints of
`copydetect <https://github.com/blingenf/copydetect>`_ (Stanford MOSS's
algorithm): the code is tokenised with Pygments, names become ``V``, function
names ``F``, strings ``S``, comments and whitespace go, so renamed
variables, reformatting and added comments change nothing, and a set of
fingerprints does not care about the order of functions.  What every student
was given is left out: the fingerprints of the release notebook (the given
code, the stubs) and of the reference solution are boilerplate, and so is a
fingerprint that more than ``common_share`` of the class shares (an idiom,
not a copy).

The score of a pair on an exercise is the share of the smaller answer's own
fingerprints that the other answer has too (containment: padding a copy with
extra code does not hide it).  A pair is flagged on an exercise at
``threshold`` or more, when both answers have at least ``min_fingerprints``
of their own.  A short exercise (its reference answer under ``short_chars``
normalised characters: a one-line formula) or one where most pairs score
high (every correct answer looks alike) is *marked*, its pairs are listed
but not flagged.

It writes ``reports/similarity/<assignment>/``: ``pairs.csv`` (every pair,
its score on each exercise), ``histogram.png`` (all pairs' scores and the
threshold), one side-by-side page per flagged pair with the matched
passages highlighted (student code is escaped, and the pages carry a
Content-Security-Policy that forbids scripts), and ``summary.json``, which
``parcel-course report`` turns into a section of ``reports/index.html``.
"""
from __future__ import annotations

import csv
import io
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
import base64
import multiprocessing
import zlib

from traitlets import Float, Int
from traitlets.config import Configurable
from .authoring import solution_text as _solution_text
from .directory import Course, CourseError
import jinja2
import nbformat
import numpy as np

__all__ = ["Similarity", "fingerprint", "compare_answers", "collect_answers", "write_similarity",
           "report_sections", "SimilarityResult"]

STATEMENT = ("Similarity is a lead for a person to read, not a verdict: students who follow the same lecture "
             "write alike, and a high score says only where to look.")


class Similarity(Configurable):
    """How ``parcel-course similarity`` fingerprints and flags (``c.Similarity`` in nbgrader_config.py).

    Example
    -------
    >>> Similarity(threshold=0.6).threshold
    0.6
    """

    threshold = Float(0.4, min=0.0, max=1.0, help=(
        "A pair is flagged on an exercise when this share (0-1) of the smaller answer's own fingerprints is "
        "in the other answer too (benchmarks/similarity.py measures detection and false positives at it)."
    )).tag(config=True)
    k = Int(25, min=5, help=(
        "Fingerprint length, in characters of normalised code (copydetect's noise threshold): matches "
        "shorter than this are ignored.")).tag(config=True)
    window = Int(6, min=1, help=(
        "Winnowing window: any match at least k + window - 1 normalised characters long is found "
        "(copydetect's guarantee threshold is k + window - 1).")).tag(config=True)
    min_fingerprints = Int(8, min=1, help=(
        "An answer needs this many fingerprints of its own (after boilerplate) to be flagged: less is "
        "too little code to judge.")).tag(config=True)
    common_share = Float(0.1, min=0.0, max=1.0, help=(
        "A fingerprint found in more than this share of the class (and in more than 3 submissions) is "
        "treated as boilerplate: an idiom everyone writes.")).tag(config=True)
    short_chars = Int(80, min=0, help=(
        "An exercise whose reference answer has fewer normalised characters than this (a one-line "
        "formula) is marked short: its pairs are listed, never flagged.")).tag(config=True)
    alike_share = Float(0.3, min=0.0, max=1.0, help=(
        "An exercise where more than this share of the pairs (of answers with code of their own) reach "
        "the threshold is marked: every answer looks alike, nobody is flagged on it.")).tag(config=True)


# -- fingerprints ---------------------------------------------------------------------------------

def _stable_kgram_hashes(string, k):
    """copydetect's ``hashed_kgrams`` with a hash that is the same in every process and run (CRC-32 and
    Adler-32 of the k-gram, 64 bits): Python's ``hash`` of a string changes with each interpreter, and
    with it which fingerprints winnowing keeps, so the same class would score a little differently twice."""
    out = np.empty(max(0, len(string) - k + 1), dtype=np.int64)
    for i in range(len(out)):
        b = string[i:i + k].encode("utf-8", "surrogatepass")
        out[i] = ((zlib.crc32(b) << 32) | zlib.adler32(b)) - (1 << 63)
    return out


def _cd():
    import copydetect.detector   # copydetect: imported only when needed
    import copydetect.utils   # copydetect: imported only when needed
    copydetect.utils.hashed_kgrams = _stable_kgram_hashes
    return copydetect


def fingerprint(code: str, opts: Similarity, boilerplate=None):
    """copydetect's fingerprint of ``code`` (a CodeFingerprint), ``boilerplate`` hashes removed.

    >>> fp = fingerprint("def f(x):\\n    total = 0\\n    for i in range(x):\\n        total += i * i\\n"
    ...                  "    return total\\n", Similarity())
    >>> fp.filtered_code
    'defF(V):V=0forVinrange(V):V+=V*VreturnV'
    """
    cd = _cd()
    return cd.detector.CodeFingerprint("answer.py", opts.k, opts.window, boilerplate=boilerplate,
                                       fp=io.StringIO(code or ""))


def boilerplate_hashes(texts, opts: Similarity):
    """Every k-gram hash of ``texts`` (window 1, as copydetect does for boilerplate)."""
    hashes = set()
    for t in texts:
        if t and t.strip():
            hashes |= _cd().detector.CodeFingerprint("given.py", opts.k, 1, fp=io.StringIO(t)).hashes
    return np.array(sorted(hashes))


@dataclass
class SimilarityResult:
    """What :func:`compare_answers` found for one assignment."""
    students: list
    exercises: list                     # exercise ids, "notebook/grade_id"
    scores: dict                        # (a, b) -> {exercise: score}
    shared: dict                        # (a, b) -> {exercise: shared fingerprints}
    own: dict                           # student -> {exercise: own fingerprints}
    marked: dict                        # exercise -> why it is marked ("short", "alike")
    flagged: list                       # dicts: a, b, exercise, score, shared, sorted by score
    threshold: float
    seconds: float = 0.0
    fingerprints: dict = field(default_factory=dict, repr=False)   # (student, exercise) -> CodeFingerprint

    def pair_max(self, a, b, flaggable_only=True) -> float:
        s = self.scores.get((a, b), {})
        return max([v for e, v in s.items() if not (flaggable_only and e in self.marked)] or [0.0])


def compare_answers(answers: dict, boilerplate: str | list = "", reference: dict | None = None,
                    opts: Similarity | None = None) -> SimilarityResult:
    """Score every pair of students on every exercise.

    Parameters
    ----------
    answers : dict
        ``student -> {exercise: code}``.
    boilerplate : str, list of str or array of hashes
        What everybody was given (release code, reference solution): left out.
    reference : dict, optional
        ``exercise -> reference answer``: decides which exercises are short.
    opts : Similarity, optional

    Example
    -------
    >>> code = "def f(a, b):\\n    out = []\\n    for i in range(len(a)):\\n        out.append(a[i] * b[i] + 1)\\n" \\
    ...        "    while len(out) < 10:\\n        out.append(out[-1] * 2 - 3)\\n    return sorted(out)[::-1]\\n"
    >>> copy = code.replace("out", "result").replace("a, b", "x, y").replace("a[i]", "x[i]").replace("b[i]", "y[i]")
    >>> r = compare_answers({"ann": {"e": code}, "bob": {"e": copy}, "cat": {"e": "def f(a, b):\\n    return a"}})
    >>> [(f["a"], f["b"], f["score"]) for f in r.flagged]
    [('ann', 'bob', 1.0)]
    """
    t0 = time.perf_counter()
    opts = opts or Similarity()
    reference = reference or {}
    students = sorted(answers)
    exercises = sorted({e for s in answers.values() for e in s} | set(reference))
    if hasattr(boilerplate, "dtype"):          # hashes already (boilerplate_hashes), e.g. in a benchmark loop
        bp = boilerplate
    else:
        bp = boilerplate_hashes([boilerplate] if isinstance(boilerplate, str) else list(boilerplate), opts)
    fps, own = {}, defaultdict(dict)
    for s in students:
        for e in exercises:
            code = answers[s].get(e) or ""
            if code.strip():
                fps[(s, e)] = fingerprint(code, opts, bp)
    marked = {}
    for e, code in reference.items():
        if len(fingerprint(code, opts).filtered_code) < opts.short_chars:
            marked[e] = "short"
    scores, shared = defaultdict(dict), defaultdict(dict)
    cap = max(3, int(opts.common_share * len(students)))
    for e in exercises:
        posting = defaultdict(list)
        for s in students:
            fp = fps.get((s, e))
            if fp is not None:
                for h in fp.hashes:
                    posting[h].append(s)
        common = {h for h, who in posting.items() if len(who) > cap}
        for s in students:
            fp = fps.get((s, e))
            if fp is not None:
                fp.hashes = fp.hashes - common
                own[s][e] = len(fp.hashes)
        counts = Counter()
        for h, who in posting.items():
            if h not in common and len(who) > 1:
                counts.update(combinations(who, 2))
        n_eligible, n_high = 0, 0
        for (a, b), n in counts.items():
            small = min(own[a].get(e, 0), own[b].get(e, 0))
            score = round(n / small, 4) if small else 0.0
            scores[(a, b)][e], shared[(a, b)][e] = score, n
        judged = [s for s in students if own[s].get(e, 0) >= opts.min_fingerprints]
        n_eligible = len(judged) * (len(judged) - 1) // 2
        n_high = sum(1 for a, b in combinations(judged, 2) if scores.get((a, b), {}).get(e, 0) >= opts.threshold)
        if e not in marked and n_eligible >= 6 and n_high > opts.alike_share * n_eligible:
            marked[e] = "alike"
    flagged = []
    for (a, b), per in scores.items():
        for e, score in per.items():
            if (score >= opts.threshold and e not in marked
                    and min(own[a].get(e, 0), own[b].get(e, 0)) >= opts.min_fingerprints):
                flagged.append(dict(a=a, b=b, exercise=e, score=score, shared=shared[(a, b)][e]))
    flagged.sort(key=lambda f: (-f["score"], f["exercise"], f["a"], f["b"]))
    return SimilarityResult(students, exercises, dict(scores), dict(shared), dict(own), marked, flagged,
                            opts.threshold, time.perf_counter() - t0, fps)


# -- the course's side ------------------------------------------------------------------------------

def _answer_cells(path: Path) -> dict:
    """grade_id -> source of the code answer cells (nbgrader ``solution``) of a notebook."""
    nb = nbformat.read(path, as_version=4)
    out = {}
    for c in nb.cells:
        meta = c.get("metadata", {}).get("nbgrader", {}) or {}
        if c.get("cell_type") == "code" and meta.get("solution") and isinstance(meta.get("grade_id"), str):
            src = c.get("source", "")
            out[meta["grade_id"]] = "".join(src) if isinstance(src, list) else str(src)
    return out


def collect_answers(course, assignment: str) -> tuple[dict, dict, list, list]:
    """``(answers, reference, given, unreadable)`` of one assignment.

    answers: ``student -> {"notebook/grade_id": code}`` from ``submitted/``;
    reference: the reference answers (source, markers removed); given: the
    release notebooks' code cells (given code and stubs); unreadable: the
    submissions whose notebook could not be read (named in the report).
    """
    reference, given = {}, []
    for src in course.notebooks(assignment):
        for gid, code in _answer_cells(src).items():
            reference[f"{src.stem}/{gid}"] = _solution_text(code)
        rel = course.release / assignment / src.name
        if rel.exists():
            given += [c.source for c in nbformat.read(rel, as_version=4).cells if c.cell_type == "code"]
    answers, unreadable = {}, []
    stems = {e.split("/")[0] for e in reference}
    for sdir in sorted(course.submitted.glob(f"*/{assignment}")):
        student, got = sdir.parent.name, {}
        for nb_path in sorted(sdir.glob("*.ipynb")):
            if nb_path.stem not in stems:
                continue
            try:
                for gid, code in _answer_cells(nb_path).items():
                    if f"{nb_path.stem}/{gid}" in reference:
                        got[f"{nb_path.stem}/{gid}"] = code
            except Exception as exc:   # noqa: BLE001 - one bad notebook never stops the class
                unreadable.append(f"{student}/{nb_path.name}: {type(exc).__name__}")
        answers[student] = got
    return answers, reference, given, unreadable


def _segments(code: str, slices) -> list:
    """``code`` cut into (text, matched) pieces from copydetect's slices (start and end offsets)."""
    spans = sorted(zip(map(int, slices[0]), map(int, slices[1]))) if len(slices) and len(slices[0]) else []
    out, pos = [], 0
    for start, end in spans:
        start, end = max(start, pos), min(end, len(code))
        if start >= end:
            continue
        if start > pos:
            out.append((code[pos:start], False))
        out.append((code[start:end], True))
        pos = end
    if pos < len(code):
        out.append((code[pos:], False))
    return out


PAIR_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset='utf-8'>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ assignment }}: {{ a }} and {{ b }}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1em} pre{background:#fafafa;border:1px solid #ddd;
padding:0.6em;overflow-x:auto;font-size:0.82em;white-space:pre-wrap} mark{background:#ffd866}
.lead{background:#fff6d6;border:1px solid #e8d48a;padding:0.5em 0.8em;max-width:60em}
.meta{color:#666;font-size:0.9em}</style></head><body>
<h1>{{ assignment }}: {{ a }} and {{ b }}</h1>
<p class='lead'>{{ statement }}</p>
<p class='meta'>Highlighted: passages whose normalised tokens (names, strings and layout ignored) match in both,
given code and reference solution left out. Threshold {{ threshold }}.</p>
{%- for ex in exercises %}
<h2>{{ ex.exercise }}: score {{ "%.2f"|format(ex.score) }} ({{ ex.shared }} shared fingerprints){% if ex.marked %}, marked {{ ex.marked }}{% endif %}{% if ex.flagged %}, flagged{% endif %}</h2>
<div class='cols'>
<div><b>{{ a }}</b><pre>{% for text, hit in ex.left %}{% if hit %}<mark>{{ text }}</mark>{% else %}{{ text }}{% endif %}{% endfor %}</pre></div>
<div><b>{{ b }}</b><pre>{% for text, hit in ex.right %}{% if hit %}<mark>{{ text }}</mark>{% else %}{{ text }}{% endif %}{% endfor %}</pre></div>
</div>
{%- endfor %}
</body></html>
"""


def _pair_page(result: SimilarityResult, answers: dict, assignment: str, a: str, b: str) -> str:
    cd = _cd()
    exercises = []
    for e in result.exercises:
        fa, fb = result.fingerprints.get((a, e)), result.fingerprints.get((b, e))
        if fa is None or fb is None:
            continue
        score = result.scores.get((a, b), {}).get(e, 0.0)
        if not score:
            continue               # nothing of their own in common here (or both the reference: boilerplate)
        _, _, (sa, sb) = cd.detector.compare_files(fa, fb)
        exercises.append(dict(exercise=e, score=score, shared=result.shared.get((a, b), {}).get(e, 0),
                              marked=result.marked.get(e, ""),
                              flagged=any(f["a"] == a and f["b"] == b and f["exercise"] == e
                                          for f in result.flagged),
                              left=_segments(answers[a][e], sa), right=_segments(answers[b][e], sb)))
    exercises.sort(key=lambda x: (not x["flagged"], -x["score"]))
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(PAIR_TEMPLATE).render(assignment=assignment, a=a, b=b, exercises=exercises,
                                                 statement=STATEMENT, threshold=result.threshold)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]


def _histogram(result: SimilarityResult, path: Path, assignment: str) -> None:
    import matplotlib   # matplotlib: heavy
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt   # matplotlib: heavy
    values = [v for (a, b), per in result.scores.items() for e, v in per.items() if e not in result.marked]
    n_pairs = len(result.students) * (len(result.students) - 1) // 2
    n_zero = n_pairs * len([e for e in result.exercises if e not in result.marked]) - len(values)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.hist(values + [0.0] * max(0, n_zero), bins=[i / 20 for i in range(21)], color="#4c78a8")
    ax.axvline(result.threshold, color="#b02a2a", ls="--", label=f"threshold {result.threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("score (share of the smaller answer's own fingerprints found in the other)")
    ax.set_ylabel("pairs x exercises")
    ax.set_title(f"{assignment}: {len(result.students)} submissions, {n_pairs} pairs", fontsize=10)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_similarity(course, assignment: str, out_dir=None, opts: Similarity | None = None) -> dict:
    """Compare the submissions of ``assignment`` and write ``reports/similarity/<assignment>/``.

    Returns the summary (also ``summary.json``): threshold, counts, marked
    exercises, flagged pairs with their page, the CSV and the histogram.

    Example
    -------
    >>> s = write_similarity(Course("."), "01_convolution")      # doctest: +SKIP
    >>> [(p["a"], p["b"], p["exercise"]) for p in s["flagged"]]   # doctest: +SKIP
    [('ada', 'gil', 'convolution/correlate2d')]
    """
    course.check_assignments([assignment])
    if opts is None:
        opts = Similarity(config=course.config())
    out = Path(out_dir) if out_dir is not None else course.reports / "similarity" / assignment
    if not course.submitted.is_dir() or not any(course.submitted.glob(f"*/{assignment}")):
        raise CourseError(f"No submission of {assignment} in {course.submitted}: collect them first "
                          "(`parcel-course collect`).")
    answers, reference, given, unreadable = collect_answers(course, assignment)
    result = compare_answers(answers, given + list(reference.values()), reference, opts)
    if out.exists():
        for p in out.glob("*"):
            if p.is_file():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_a", "student_b", "max_score", "flagged", *result.exercises])
        for a, b in combinations(result.students, 2):
            per = result.scores.get((a, b), {})
            w.writerow([a, b, f"{result.pair_max(a, b):.4f}",
                        "yes" if any(f["a"] == a and f["b"] == b for f in result.flagged) else "",
                        *(f"{per.get(e, 0.0):.4f}" for e in result.exercises)])
    _histogram(result, out / "histogram.png", assignment)
    pages = {}
    for f in result.flagged:
        key = (f["a"], f["b"])
        if key not in pages:
            pages[key] = f"{len(pages) + 1:03d}-{_safe(f['a'])}-{_safe(f['b'])}.html"
            (out / pages[key]).write_text(_pair_page(result, answers, assignment, *key), encoding="utf-8")
        f["page"] = pages[key]
    marked_pairs = sorted(({"a": a, "b": b, "exercise": e, "score": v} for (a, b), per in result.scores.items()
                           for e, v in per.items() if e in result.marked and v >= opts.threshold),
                          key=lambda m: -m["score"])
    summary = dict(assignment=assignment, threshold=opts.threshold, students=len(result.students),
                   pairs=len(result.students) * (len(result.students) - 1) // 2,
                   exercises=result.exercises, marked=result.marked, flagged=result.flagged,
                   flagged_pairs=len(pages), marked_pairs=marked_pairs[:50], n_marked_pairs=len(marked_pairs),
                   unreadable=unreadable, seconds=round(result.seconds, 2),
                   generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   csv="pairs.csv", histogram="histogram.png", statement=STATEMENT)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def similarity_all(course, assignments=None, workers: int = 1) -> list[dict]:
    """:func:`write_similarity` of each assignment with submissions (in ``workers`` processes)."""
    todo = [a for a in course.check_assignments(assignments) if any(course.submitted.glob(f"*/{a}"))]
    if workers <= 1 or len(todo) <= 1:
        return [write_similarity(course, a) for a in todo]
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(_write_one, [str(course.root)] * len(todo), todo))


def _write_one(root: str, assignment: str) -> dict:
    return write_similarity(Course(root), assignment)


def report_sections(course, reports_dir=None) -> list[dict]:
    """The summaries under ``reports/similarity/`` for the instructor report, the histogram as a data URI
    and each page's link relative to ``reports/``."""
    base = Path(reports_dir) if reports_dir is not None else course.reports
    out = []
    for p in sorted((base / "similarity").glob("*/summary.json")):
        try:
            s = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        png = p.parent / s.get("histogram", "histogram.png")
        s["histogram_uri"] = ("data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
                              if png.exists() else "")
        rel = f"similarity/{p.parent.name}/"
        s["csv_link"] = rel + s.get("csv", "pairs.csv")
        for f in s["flagged"]:
            f["link"] = rel + f.get("page", "")
        s["marked_list"] = sorted(s.get("marked", {}).items())
        out.append(s)
    return out
