"""Benchmark: the size of a student's first install (the bundle README's "The first install is large").

Builds the student wheel as ``parcel-course bundle`` does, creates a fresh venv
with this Python (``python -m venv``), runs the README's command in it,
``pip install <wheel> jupyterlab``, with an empty pip cache of its own, and
measures the venv on disk (``du -sk``) and the download (the sizes pip prints
for what it downloads: "Downloading <file> (620.5 MB)"). Writes ``benchmarks/results/student_install.json``.
Needs the package index (PyPI); a few minutes, most of it the download of
TensorFlow.

    .venv/bin/python benchmarks/student_install.py [OUT.json]
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "student_install.json"


def _du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 1024


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else DEFAULT_OUT
    sys.path.insert(0, str(ROOT))
    from parcel_course.bundle import build_student_wheel

    tmp = Path(tempfile.mkdtemp(prefix="student-install-"))
    try:
        wheel = build_student_wheel(ROOT, tmp / "wheel")
        venv, cache = tmp / "venv", tmp / "pip-cache"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        empty_venv = _du_bytes(venv)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        # as on a student's machine: PyPI only (no configuration file: no local mirror), an empty cache
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL")}
        env.update(PIP_CACHE_DIR=str(cache), PIP_CONFIG_FILE=os.devnull, PIP_PROGRESS_BAR="off")
        t = time.perf_counter()
        proc = subprocess.run(pip + ["install", "--report", str(tmp / "report.json"), str(wheel), "jupyterlab"],
                              check=True, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        unit = {"kB": 1e3, "MB": 1e6, "GB": 1e9}
        downloads = {m.group(1): float(m.group(2)) * unit[m.group(3)] for m in
                     re.finditer(r"Downloading (\S+) \(([\d.]+) (kB|MB|GB)\)", proc.stdout)}
        report = json.loads((tmp / "report.json").read_text())
        installed = sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report["install"])
        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "command": f"{Path(sys.executable).name} -m venv .venv; pip install {wheel.name} jupyterlab",
            "venv_bytes": _du_bytes(venv),
            "empty_venv_bytes": empty_venv,
            "download_bytes": round(sum(downloads.values())),
            "downloads": len(downloads),
            "install_seconds": round(seconds, 1),
            "distributions": len(installed),
            "largest": sorted(((p.name, _du_bytes(p)) for p in
                               next((venv / "lib").glob("python*/site-packages")).iterdir() if p.is_dir()),
                              key=lambda x: -x[1])[:5],
            "installed": installed,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {k: v for k, v in result.items() if k != "installed"}
    print(json.dumps(summary, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
