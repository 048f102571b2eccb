"""The similarity report, measured: disguised copies found, independent solutions left alone, and its speed.

Originals are the fairness suite's alternatives (tests/test_fairness.py:
correct answers written the way another student would).  Each is copied the
ways students disguise a copy (:data:`DISGUISES`): names renamed,
reformatted, functions reordered, comments added, a function split in two or
functions merged, loops rewritten (``for`` over a range as ``while``, a
``for`` over items as one over indices), and all of them at once.  For each
copy, a class is compared with :func:`parcel_course.similarity.compare_answers`:
the independent alternatives of the exercise, five students who handed in the
reference solution, and the copy; boilerplate is the release notebook and the
reference, as in ``parcel-course similarity``.

- detection rate: copies flagged with their original, over the copies of the
  exercises that are not marked short;
- false-positive rate: pairs of independent solutions (two alternatives, or
  an alternative and another one's copy) flagged, over all such pairs.

Then the speed: a class of 200 students over the four assignments (each
answer a random alternative or the reference, renamed, with a few copied
pairs) written to ``submitted/`` and compared by ``parcel-course similarity``
with two worker processes.

Usage: ``.venv/bin/python benchmarks/similarity.py [--students 200] [--no-write]``
(writes its section of BENCHMARKS.md and benchmarks/results/similarity.json).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import tokenize
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, write_section  # noqa: E402

from parcel_course import similarity  # noqa: E402
from parcel_course.directory import Course  # noqa: E402

ASSIGNMENTS = ["01_convolution", "02_parameters", "03_handcrafted", "04_cnn"]
KEEP = {"np", "tf", "keras", "layers", "range", "len", "float", "int", "sum", "min", "max", "abs", "zip",
        "enumerate", "list", "tuple", "dict", "print", "sorted", "self", "True", "False", "None", "round",
        "isinstance", "str", "any", "all", "map", "super", "set", "reversed", "iter", "next", "math"}


def fairness_alternatives() -> dict:
    """tests/test_fairness.py's ALTERNATIVES: assignment -> notebook -> grade id -> [(label, code)]."""
    spec = importlib.util.spec_from_file_location("fairness_alternatives", ROOT / "tests" / "test_fairness.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "tests"))
    spec.loader.exec_module(mod)
    return mod.ALTERNATIVES


# -- disguises ------------------------------------------------------------------------------------

def _bound_names(tree) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names - KEEP


def rename(code: str, seed: int = 0) -> str:
    """Every argument and local variable renamed (function names kept: the tests call them), layout kept."""
    rng = random.Random(seed)
    words = ["val", "tmp", "arr", "res", "acc", "buf", "cur", "z", "q", "data", "thing", "stuff", "item"]
    names = sorted(_bound_names(ast.parse(code)))
    mapping = {n: f"{rng.choice(words)}_{i}{rng.randint(0, 99)}" for i, n in enumerate(names)}
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping and not (prev and prev.string == "."):
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok
    return tokenize.untokenize(out)


def reformat(code: str) -> str:
    """Re-laid out by the AST (quotes, spacing, parentheses, line breaks; comments go)."""
    return ast.unparse(ast.parse(code)) + "\n"


def reorder(code: str) -> str:
    """The top-level statements in reverse order, imports first."""
    tree = ast.parse(code)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in tree.body if n not in imports]
    tree.body = imports + rest[::-1]
    return ast.unparse(tree) + "\n"


def comment(code: str, seed: int = 0) -> str:
    """A comment before every other line, and a docstring-like comment at the top."""
    rng = random.Random(seed)
    notes = ["compute the result", "loop over everything", "this is the important part", "handle edge cases",
             "as in the lecture", "TODO check", "see slide 12", "store it"]
    lines, out = code.splitlines(), ["# my solution, written myself"]
    for i, line in enumerate(lines):
        if line.strip() and i % 2:
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# {rng.choice(notes)}")
        out.append(line + (f"  # {rng.choice(notes)}" if line.strip().endswith(")") and i % 3 == 0 else ""))
    return "\n".join(out) + "\n"


def split(code: str) -> str:
    """Each function of 4+ statements split in two: its first half moved into a helper it calls; where the
    cell defines several functions, they are merged instead (all nested in the last)."""
    tree = ast.parse(code)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(defs) >= 2:
        last = defs[-1]
        last.body = [d for d in defs[:-1]] + last.body
        tree.body = [n for n in tree.body if n not in defs[:-1]]
        return ast.unparse(tree) + "\n"
    new_body = []
    for node in tree.body:
        body = node.body if isinstance(node, ast.FunctionDef) else []
        start = 1 if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                             ast.Constant) else 0
        if len(body) - start < 4:
            new_body.append(node)
            continue
        half = start + (len(body) - start) // 2
        first, second = body[start:half], body[half:]
        made = sorted({n.id for s in first for n in ast.walk(s) if isinstance(n, ast.Name)
                       and isinstance(n.ctx, ast.Store)})
        args = [a.arg for a in node.args.args]
        helper = ast.parse(f"def _{node.name}_prepare({', '.join(args)}):\n    pass").body[0]
        helper.body = first + [ast.parse(f"return ({', '.join(made)},)").body[0]]
        call = ast.parse(f"({', '.join(made)},) = _{node.name}_prepare({', '.join(args)})").body[0]
        node.body = body[:start] + ([call] if made else []) + second
        new_body += [helper, node]
    tree.body = new_body
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _Loops(ast.NodeTransformer):
    def visit_For(self, node):
        self.generic_visit(node)
        it = node.iter
        if (isinstance(node.target, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id == "range" and 1 <= len(it.args) <= 2 and not node.orelse):
            start = ast.unparse(it.args[0]) if len(it.args) == 2 else "0"
            stop = ast.unparse(it.args[-1])
            v = node.target.id
            loop = ast.parse(f"{v} = {start}\nwhile {v} < {stop}:\n    pass\n").body
            loop[1].body = node.body + [ast.parse(f"{v} += 1").body[0]]
            return loop
        if isinstance(node.target, ast.Name) and not node.orelse:
            seq = ast.unparse(it)
            v = node.target.id
            loop = ast.parse(f"_seq_{v} = list({seq})\nfor _k_{v} in range(len(_seq_{v})):\n    pass\n").body
            loop[1].body = [ast.parse(f"{v} = _seq_{v}[_k_{v}]").body[0]] + node.body
            return loop
        return node


def loops(code: str) -> str:
    """Loops rewritten: ``for i in range(a, b)`` as a ``while``, ``for x in xs`` as a loop over indices."""
    tree = _Loops().visit(ast.parse(code))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def everything(code: str, seed: int = 0) -> str:
    return comment(reorder(loops(split(rename(code, seed)))), seed)


DISGUISES = {"rename": rename, "reformat": reformat, "reorder": reorder, "comments": comment,
             "split/merge": split, "loop form": loops, "all at once": everything}


# -- detection and false positives -----------------------------------------------------------------

def _reference_and_given(course: Course, assignment: str):
    answers, reference, given, _ = similarity.collect_answers(course, assignment)
    return reference, given


def measure(opts=None, assignments=ASSIGNMENTS) -> dict:
    """Detection and false-positive counts per assignment (and per disguise) at ``opts.threshold``."""
    opts = opts or similarity.Similarity(config=Course(ROOT).config())
    alts = fairness_alternatives()
    course = Course(ROOT)
    out = {}
    for a in assignments:
        reference, given = _reference_and_given(course, a)
        boiler = similarity.boilerplate_hashes(given + list(reference.values()), opts)
        stats = dict(copies=0, detected=0, marked=0, independent=0, false_positives=0, per_disguise={},
                     missed=[], fp_pairs=[], exercises=0, short=[], copy_scores=[], independent_scores=[])
        for nb, cells in alts[a].items():
            for gid, options in cells.items():
                ex = f"{nb}/{gid}"
                if ex not in reference:
                    continue
                stats["exercises"] += 1
                originals = {f"alt{i + 1}": code for i, (_, code) in enumerate(options)}
                for k, orig in originals.items():
                    for dname, fn in DISGUISES.items():
                        try:
                            copy = fn(orig)
                        except Exception as exc:   # a disguise that does not apply to this code
                            raise RuntimeError(f"{dname} failed on {a}/{ex}/{k}: {exc}") from exc
                        klass = {s: {ex: c} for s, c in originals.items()}
                        klass.update({f"ref{i}": {ex: reference[ex]} for i in range(5)})
                        klass["copy"] = {ex: copy}
                        r = similarity.compare_answers(klass, boiler, {ex: reference[ex]}, opts)
                        pairs = {(f["a"], f["b"]) for f in r.flagged}
                        hit = tuple(sorted((k, "copy"))) in pairs
                        d = stats["per_disguise"].setdefault(dname, [0, 0])
                        if ex in r.marked:
                            stats["marked"] += 1
                            if r.marked[ex] == "short" and ex not in stats["short"]:
                                stats["short"].append(ex)
                            continue
                        stats["copies"] += 1
                        stats["detected"] += hit
                        stats["copy_scores"].append(_judged(r, k, "copy", ex, opts))
                        d[0] += hit
                        d[1] += 1
                        if not hit:
                            stats["missed"].append(f"{ex} {k} {dname}: "
                                                   f"{r.scores.get(tuple(sorted((k, 'copy'))), {}).get(ex, 0):.2f}")
                        # independent pairs: two alternatives, or an alternative and the copy of another
                        indep = [tuple(sorted((x, y))) for x in originals for y in originals if x < y]
                        indep += [tuple(sorted((x, "copy"))) for x in originals if x != k]
                        if dname == "rename":       # each pair of alternatives once per exercise
                            stats["independent"] += len(indep)
                            bad = [p for p in indep if p in pairs]
                        else:
                            stats["independent"] += len(indep) - len(originals) * (len(originals) - 1) // 2
                            bad = [p for p in indep if p in pairs and "copy" in p]
                        stats["false_positives"] += len(bad)
                        stats["independent_scores"] += [_judged(r, x, y, ex, opts) for x, y in indep
                                                        if dname == "rename" or "copy" in (x, y)]
                        stats["fp_pairs"] += [f"{ex} {p} {dname}" for p in bad]
        out[a] = stats
    return out


def _judged(r, a, b, ex, opts) -> float:
    """The pair's score on ``ex`` where both answers have enough code of their own to be judged, else 0."""
    a, b = sorted((a, b))
    if min(r.own.get(a, {}).get(ex, 0), r.own.get(b, {}).get(ex, 0)) < opts.min_fingerprints:
        return 0.0
    return r.scores.get((a, b), {}).get(ex, 0.0)


def sweep(results: dict, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7)) -> list:
    """(threshold, detection rate, false-positive rate) over all assignments, from the recorded scores."""
    pos = [x for s in results.values() for x in s["copy_scores"]]
    neg = [x for s in results.values() for x in s["independent_scores"]]
    return [(t, sum(x >= t for x in pos) / len(pos), sum(x >= t for x in neg) / len(neg)) for t in thresholds]


# -- speed -----------------------------------------------------------------------------------------

def build_class(base: Path, n_students: int, seed: int = 0) -> Course:
    """A course at ``base`` with ``n_students`` submissions of every assignment in submitted/ (no grading)."""
    import nbformat
    rng = random.Random(seed)
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    for a in ASSIGNMENTS:
        shutil.copytree(ROOT / "source" / a, base / "source" / a, ignore=shutil.ignore_patterns("*.src.py"))
        shutil.copytree(ROOT / "release" / a, base / "release" / a)
    course = Course(base)
    alts = fairness_alternatives()
    for a in ASSIGNMENTS:
        reference, _ = _reference_and_given(course, a)
        for i in range(n_students):
            student = f"s{i:03d}"
            d = course.submitted / student / a
            d.mkdir(parents=True)
            for rel in sorted((course.release / a).glob("*.ipynb")):
                nb = nbformat.read(rel, as_version=4)
                for c in nb.cells:
                    gid = c.metadata.get("nbgrader", {}).get("grade_id")
                    ex = f"{rel.stem}/{gid}"
                    if c.cell_type != "code" or ex not in reference or not c.metadata["nbgrader"].get("solution"):
                        continue
                    options = [reference[ex]] + [code for _, code in alts[a].get(rel.stem, {}).get(gid, [])]
                    c.source = rename(rng.choice(options), seed=rng.randint(0, 10**6))
                nbformat.write(nb, d / rel.name)
            (d / "timestamp.txt").write_text("2026-03-01 12:00:00.000000 UTC")
    return course


def speed(n_students: int, workers: int = 2) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="parcel-similarity-bench-"))
    try:
        t0 = time.perf_counter()
        course = build_class(tmp / "course", n_students)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        summaries = similarity.similarity_all(course, ASSIGNMENTS, workers=workers)
        wall = time.perf_counter() - t0
        return dict(students=n_students, assignments=len(summaries), workers=workers, seconds=round(wall, 1),
                    build_seconds=round(t_build, 1),
                    per_assignment={s["assignment"]: dict(pairs=s["pairs"], compare_seconds=s["seconds"],
                                                          flagged_pairs=s["flagged_pairs"])
                                    for s in summaries})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def render(results: dict, timing: dict, opts, cores: int) -> str:
    lines = ["## Similarity report: disguised copies and independent solutions\n",
             f"`{' '.join(['.venv/bin/python', 'benchmarks/similarity.py', *sys.argv[1:]])}` "
             f"({time.strftime('%Y-%m-%d')}, {cores} cores). Originals: the fairness suite's alternatives "
             "(tests/test_fairness.py); each copied seven ways (renamed, reformatted, reordered, commented, "
             "split in two or merged, loops rewritten, all at once) and compared in a class of the independent "
             "alternatives, five reference copiers and the copy; boilerplate: the release notebook and the "
             "reference solution. "
             f"Threshold **{opts.threshold:g}** (`c.Similarity.threshold`), k = {opts.k}, window = {opts.window}, "
             f"at least {opts.min_fingerprints} own fingerprints.\n",
             "| assignment | exercises | copies | detected | detection rate | independent pairs | flagged "
             "| false-positive rate | copies on short exercises (marked) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a, s in results.items():
        det = s["detected"] / s["copies"] if s["copies"] else float("nan")
        fp = s["false_positives"] / s["independent"] if s["independent"] else float("nan")
        lines.append(f"| {a} | {s['exercises']} | {s['copies']} | {s['detected']} | {100 * det:.0f}% | "
                     f"{s['independent']} | {s['false_positives']} | {100 * fp:.1f}% | {s['marked']} |")
    per = {}
    for s in results.values():
        for d, (hit, n) in s["per_disguise"].items():
            per.setdefault(d, [0, 0])
            per[d][0] += hit
            per[d][1] += n
    lines.append("\nDetection per disguise, all assignments: " + ", ".join(
        f"{d} {hit}/{n}" for d, (hit, n) in per.items()) + ".")
    lines.append("\nOther thresholds, all assignments (detection / false positives): " + ", ".join(
        f"{t:g}: {100 * d:.0f}% / {100 * f:.1f}%" for t, d, f in sweep(results)) + ". Highest score of an "
        f"independent pair: {max(x for s in results.values() for x in s['independent_scores']):.2f}.")
    missed = [m for s in results.values() for m in s["missed"]]
    if missed:
        lines.append("Missed (exercise, original, disguise: score): " + "; ".join(missed[:12])
                     + (f" and {len(missed) - 12} more" if len(missed) > 12 else "") + ".")
    fps = [m for s in results.values() for m in s["fp_pairs"]]
    if fps:
        lines.append("False positives: " + "; ".join(fps[:8]) + ".")
    short = [e for s in results.values() for e in s["short"]]
    if short:
        lines.append("Marked short (one-line answers, never flagged): " + ", ".join(short) + ".")
    if timing:
        lines.append(f"\nSpeed: {timing['students']} students x {timing['assignments']} assignments "
                     f"({sum(p['pairs'] for p in timing['per_assignment'].values())} pairs of submissions, "
                     f"every exercise compared, CSV, histograms and pages written) in **{timing['seconds']} s** "
                     f"with {timing['workers']} worker processes; comparison alone per assignment: "
                     + ", ".join(f"{a} {p['compare_seconds']} s" for a, p in timing["per_assignment"].items())
                     + ".")
    lines.append("\nA score is a lead for a person to read, not a verdict.\n")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    args = p.parse_args(argv)
    opts = similarity.Similarity(config=Course(ROOT).config())
    t0 = time.perf_counter()
    results = measure(opts)
    print(f"measured in {time.perf_counter() - t0:.1f} s")
    timing = None if args.no_speed else speed(args.students, args.workers)
    text = render(results, timing, opts, os.cpu_count())
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text, "similarity")
        (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
        (ROOT / "benchmarks" / "results" / "similarity.json").write_text(
            json.dumps(dict(results=results, timing=timing, threshold=opts.threshold), indent=1))


if __name__ == "__main__":
    main()
