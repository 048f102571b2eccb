"""Benchmark: how fast the parcel dataset is generated and its reference features computed (DATASET.md, "Measured").

CPU seconds of this process (``time.process_time``: per core, less sensitive to
other jobs than wall time), best of ``--repeat`` runs, with the load average
before and after, written to ``benchmarks/results/dataset_speed.json``:

1. ``generate_parcels("train", n)``: maps per CPU-second;
2. the reference ``feature_matrix`` of 03 (``parcel_course/assignments/03_handcrafted/reference.py``) on those maps: maps per CPU-second;
3. ``load_parcels`` of the three splits into an empty cache, in this process:
   wall seconds (what a notebook's first cell waits for once).

    .venv/bin/python benchmarks/dataset_speed.py [--n 3000] [--repeat 3] [OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "dataset_speed.json"


def _cpu(fn):
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="maps of the train split to generate (default 3000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    from parcel_course.assignments import load     # the instructor's package: only when the benchmark runs
    feature_matrix = load("03_handcrafted", "reference").feature_matrix
    from parcel_utils.data import SPLITS, generate_parcels, load_parcels

    load_before = os.getloadavg()
    gen, feat = [], []
    for _ in range(args.repeat):
        (X, _y), s = _cpu(lambda: generate_parcels("train", n=args.n, progress=False))
        gen.append(args.n / s)
        _, s = _cpu(lambda: feature_matrix(X))
        feat.append(args.n / s)
    cold = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            for split in SPLITS:
                load_parcels(split, cache_dir=cache, progress=False)
            cold.append(time.perf_counter() - t)
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "benchmarks/dataset_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "n_maps": args.n,
        "repeat": args.repeat,
        "generation_maps_per_cpu_second": round(max(gen)),
        "generation_maps_per_cpu_second_all": [round(x) for x in gen],
        "features_maps_per_cpu_second": round(max(feat)),
        "features_maps_per_cpu_second_all": [round(x) for x in feat],
        "cold_cache_load_all_splits_wall_s": round(min(cold), 2),
        "cold_cache_load_all_splits_wall_s_all": [round(x, 2) for x in cold],
        "cold_cache_maps": sum(SPLITS.values()),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
