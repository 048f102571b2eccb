"""Benchmark: grading throughput of this checkout against another one (before a change), in one run.

Each side grades the same simulated class (the demo's six students on the light assignments, built
by that side's own code) with ``parcel-course grade --workers N`` in a fresh copy of its course; the
two sides take turns (before, after, before, after, ...) so that a drift of the machine's speed
falls on both. It reports each side's wall times (min, median, max), the ratio after/before of each
pair, and checks that both sides gave every submission the same score.

    git worktree add /tmp/before <commit>          # the code before the change
    cp -a .venv /tmp/before/.venv && /tmp/before/.venv/bin/pip install --no-deps -e /tmp/before -e /tmp/before/student
    .venv/bin/python benchmarks/before_after.py --before /tmp/before --runs 3

It writes its section of BENCHMARKS.md and ``benchmarks/before_after.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_section

BUILD = """
import sys
sys.path.insert(0, {bench!r})
from common import fresh_course
import grading
grading.STUDENTS = {students!r}      # the same class on both sides
course = fresh_course(__import__("pathlib").Path({base!r}), {assignments!r})
print(len(grading.make_class(course, {assignments!r})))
"""

SCORES = """
import json, sys
from parcel_course.directory import Course
from parcel_course.grading import load_ledgers
print(json.dumps({f"{d['student']}/{d['assignment']}": [d["status"], d["score"]] for d in load_ledgers(Course(sys.argv[1]))}))
"""


#: the demo's first six students (right, one mistake, half done, blank, a kernel crash, late), on both sides
STUDENTS = ["ada", "ben", "cleo", "dan", "eve", "fay"]


def side(root: Path) -> dict:
    py = root / ".venv" / "bin" / "python"
    if not py.exists():
        sys.exit(f"{py} not found: give --before a checkout with its own .venv (see this script's docstring)")
    return dict(root=root, python=str(py))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="a checkout of the code before the change, with its own .venv")
    p.add_argument("--label", default="", help="what changed, for the section's title")
    p.add_argument("--assignments", nargs="*", default=["01_convolution", "02_parameters"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    a = p.parse_args(argv)
    sides = {"before": side(Path(a.before).resolve()), "after": side(ROOT)}
    base = Path(tempfile.mkdtemp(prefix="parcel-before-after-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        n = {}
        for name, s in sides.items():
            s["template"] = base / f"{name}-template"
            out = subprocess.run([s["python"], "-c", BUILD.format(bench=str(s["root"] / "benchmarks"),
                                                                  base=str(s["template"]),
                                                                  assignments=a.assignments,
                                                                  students=STUDENTS)],
                                 cwd=s["root"], env=env, capture_output=True, text=True, check=True)
            n[name] = int(out.stdout.split()[-1])
        walls, scores = {"before": [], "after": []}, {}
        for i in range(a.runs):
            for name, s in sides.items():
                work = base / f"{name}-run"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(s["template"], work, symlinks=True)
                t0 = time.perf_counter()
                proc = subprocess.run([s["python"], "-m", "parcel_course.cli", "--root", str(work), "grade",
                                       f"--workers={a.workers}"], cwd=s["root"], env=env,
                                      capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    sys.exit(f"{name}: parcel-course grade failed:\n{proc.stderr[-3000:]}")
                got = json.loads(subprocess.run([s["python"], "-c", SCORES, str(work)], cwd=s["root"], env=env,
                                                capture_output=True, text=True, check=True).stdout)
                scores.setdefault(name, got)
                walls[name].append(wall)
                print(f"run {i + 1} {name}: {wall:.1f} s", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if scores["before"] != scores["after"]:
        diff = {k: (scores["before"].get(k), scores["after"].get(k))
                for k in set(scores["before"]) | set(scores["after"])
                if scores["before"].get(k) != scores["after"].get(k)}
        print(f"the two sides scored differently: {diff}", file=sys.stderr)
    ratios = [w_a / w_b for w_b, w_a in zip(walls["before"], walls["after"])]

    def mmm(v):
        return [round(min(v), 1), round(statistics.median(v), 1), round(max(v), 1)]
    result = dict(
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
                f"{platform.python_version()}, {platform.system()}",
        label=a.label, before=str(sides["before"]["root"]), assignments=a.assignments, submissions=n,
        workers=a.workers, runs=a.runs, wall_before_s=mmm(walls["before"]), wall_after_s=mmm(walls["after"]),
        ratio_after_over_before=[round(r, 3) for r in (min(ratios), statistics.median(ratios), max(ratios))],
        same_scores=scores["before"] == scores["after"], date=time.strftime("%Y-%m-%d"),
        load_average_at_end=[round(v, 2) for v in os.getloadavg()])
    (ROOT / "benchmarks" / "before_after.json").write_text(json.dumps(result, indent=1) + "\n")
    r = result["ratio_after_over_before"]
    text = (f"## Grading throughput before and after a change{': ' + a.label if a.label else ''}\n\n"
            f"Measured by `.venv/bin/python benchmarks/before_after.py --before <checkout>` on {result['date']}, "
            f"{result['machine']}. Each side grades the demo's class on {', '.join(a.assignments)} "
            f"({n['after']} submissions) with `parcel-course grade --workers {a.workers}`, the two sides "
            f"taking turns, {a.runs} runs each.\n\n"
            "| | min | median | max |\n| --- | ---: | ---: | ---: |\n"
            f"| before ({sides['before']['root'].name}) | {result['wall_before_s'][0]} s | "
            f"{result['wall_before_s'][1]} s | {result['wall_before_s'][2]} s |\n"
            f"| after (this checkout) | {result['wall_after_s'][0]} s | {result['wall_after_s'][1]} s | "
            f"{result['wall_after_s'][2]} s |\n"
            f"| after / before, pair by pair | {r[0]} | **{r[1]}** | {r[2]} |\n\n"
            f"Same scores on both sides: {'yes' if result['same_scores'] else 'no'}. Load average at the end: "
            f"{', '.join(map(str, result['load_average_at_end']))}. Raw figures: `benchmarks/before_after.json`.\n")
    write_section(Path(a.out), text, "before-after")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
