"""Benchmark: the constant costs ``parcel-course grade`` no longer pays for every submission.

Each figure times, in a fresh process, the work one submission used to pay
and what it pays now:

1. the parcel dataset in a graded kernel: before, the sandbox's empty home held
   no cache, so every kernel that called ``load_parcels`` generated the splits
   again; now the grader makes the cache complete and shows it read-only
   (``sandbox.dataset_cache``), and the kernel loads the files;
2. the reference values of the hidden tests: before, the grader computed them
   for every submission (03: the features of the three splits, the reference
   classifiers); now a forking worker computes them once (``registry.warm``) and
   each grader it forks finds them computed.

    .venv/bin/python benchmarks/constant_costs.py [OUT.json]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DATASET = """
import sys, time
from parcel_utils.data import load_parcels
t = time.perf_counter()
for split in sys.argv[1].split(","):
    load_parcels(split, progress=False, cache_dir=sys.argv[2])
print(time.perf_counter() - t)
"""

REFERENCE = """
import sys, time
from parcel_course import registry
t = time.perf_counter()
registry.warm(sys.argv[1])
first = time.perf_counter() - t
t = time.perf_counter()
for check in registry.checks_of(sys.argv[1]):     # what a grader forked after the warm-up computes
    if check.kind == "value" and check.compare != "verify":
        check.expected()
print(first, time.perf_counter() - t)
"""


def run(code, *args) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main():
    result = {}
    with tempfile.TemporaryDirectory() as empty:
        from parcel_course.sandbox import dataset_cache
        cache = dataset_cache()
        # 03 and 04 both load the three splits
        (gen,) = run(DATASET, "train,val,test", empty)      # an empty cache: generated, as each kernel did
        (read,) = run(DATASET, "train,val,test", cache)
        result["dataset in a 03 or 04 kernel (train, val, test)"] = dict(before=round(gen, 2), after=round(read, 2))
    for a in ("01_convolution", "02_parameters", "03_handcrafted", "04_cnn"):
        first, again = run(REFERENCE, a)
        result[f"reference values {a}"] = dict(before=round(first, 2), after=round(again, 3))
    print(json.dumps(result, indent=1))
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
