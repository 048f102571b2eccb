"""Reference metrics of the executed solutions: read from the notebooks, recorded for the bars.

``make solutions`` (``Course.execute_solutions``) collects every metric a
solution notebook published (``parcel_utils.checks.publish_metric``) and
records it in ``parcel_utils/reference_metrics.json``, which the student
package ships: the bars the notebooks state and the checks compare with.
"""
from __future__ import annotations
from pathlib import Path
import datetime
import json
import os
import platform
import tempfile

from parcel_utils.checks import METRIC_MIME, REFERENCE_METRICS, load_reference_metrics

__all__ = ["record_reference_metric", "published_metrics"]


def record_reference_metric(assignment, key, value, machine=None, note=None, path=None):
    """Store a reference metric (what :func:`check_accuracy_against_reference` compares with).

    Called by the instructor workflow after running a solution notebook (never
    by a notebook).  The JSON file is rewritten atomically.

    Parameters
    ----------
    assignment, key : str
        E.g. ``"03_handcrafted"``, ``"test_accuracy"``.
    value : float
    machine : str, optional
        Where it was measured; default the platform and the CPU count.
    note : str, optional
        How it was measured.
    path : str or Path, optional
        Default ``parcel_utils/reference_metrics.json``.

    Example
    -------
    >>> record_reference_metric("03_handcrafted", "test_accuracy", 0.87, path="/tmp/m.json")  # doctest: +SKIP
    """
    if not isinstance(assignment, str) or not isinstance(key, str):
        raise ValueError("assignment and key should be strings, e.g. '03_handcrafted', 'test_accuracy'.")
    value = float(value)
    p = REFERENCE_METRICS if path is None else Path(path)
    metrics = load_reference_metrics(p)
    if machine is None:
        machine = f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    entry = {"value": value, "machine": machine,
             "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if note:
        entry["note"] = note
    metrics.setdefault(assignment, {})[key] = entry
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(metrics, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, p)
    return entry


def published_metrics(nb):
    """The metrics a notebook published (``{key: value}``), read from its outputs."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get(METRIC_MIME)
            if data:
                found[data["key"]] = float(data["value"])
    return found
