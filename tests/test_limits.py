"""Grading limits: defined once (GradingLimits), timeouts derived per assignment from its reference run."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from parcel_course import grading
from parcel_course.directory import Course, grading_env
from parcel_course.limits import GradingLimits, Limits, assignment_limits, reference_timings

ROOT = Path(__file__).resolve().parents[1]


def test_limits_snapshot_has_the_configurables_names_and_defaults():
    assert Limits().__dict__ == {k: (dict(v) if isinstance(v, dict) else v)
                                 for k, v in GradingLimits().to_dict().items()}
    for name, trait in GradingLimits.class_traits(config=True).items():
        assert trait.help, f"GradingLimits.{name} has no help string"


def test_timeouts_derived_from_each_reference_run():
    light = assignment_limits(Limits(), "01_convolution", ROOT)
    heavy = assignment_limits(Limits(), "04_cnn", ROOT)
    ref = reference_timings(ROOT / "solutions" / "04_cnn")
    assert ref["slowest_cell"] > 30 and ref["total"] > ref["slowest_cell"]      # the 04 training cells
    assert light.cell_timeout == Limits().min_cell_timeout                          # 01: the floor, 30 s
    assert heavy.cell_timeout >= 5 * ref["slowest_cell"] > light.cell_timeout
    assert heavy.total_timeout >= 5 * ref["total"]
    # explicit values and per-assignment overrides win
    assert assignment_limits(Limits(cell_timeout=7), "04_cnn", ROOT).cell_timeout == 7
    over = Limits(per_assignment={"04_cnn": {"cell_timeout": 900}})
    assert assignment_limits(over, "04_cnn", ROOT).cell_timeout == 900
    assert assignment_limits(over, "01_convolution", ROOT).cell_timeout == light.cell_timeout
    # no reference run: the fallback
    assert assignment_limits(Limits(), "99_none", ROOT).cell_timeout == Limits().fallback_cell_timeout


def test_the_course_config_leaves_the_timeouts_to_the_reference_runs():
    course = Course(ROOT)
    assert course.limits().cell_timeout == 0 and course.limits().total_timeout == 0


@pytest.mark.slow
def test_a_runaway_loop_in_01_is_stopped_within_its_own_limit(tmp_path):
    """An infinite loop in an answer cell of 01 holds a worker for the assignment's 30 s, not 600 s."""
    root = tmp_path / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / "01_convolution", root / "source" / "01_convolution")
    shutil.copytree(ROOT / "solutions" / "01_convolution", root / "solutions" / "01_convolution")
    course = Course(root)
    course.build_source()
    course.generate(["01_convolution"])
    d = course.submitted / "loop" / "01_convolution"
    d.mkdir(parents=True)
    shutil.copy(course.release / "01_convolution" / "cnn_building_blocks.ipynb", d)
    nb = nbformat.read(d / "cnn_building_blocks.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_parameters"]
    cell.source = "while True:\n    pass"
    nbformat.write(nb, d / "cnn_building_blocks.ipynb")
    limit = assignment_limits(course.limits(), "01_convolution", root)
    assert limit.cell_timeout == 30
    proc = subprocess.run([sys.executable, "-m", "parcel_course.cli", "--root", str(root), "grade", "--workers", "1"],
                          capture_output=True, text=True, env=grading_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (led,) = grading.load_ledgers(course)
    assert led["status"] == "timeout" and "per-cell timeout" in led["reason"], (led["status"], led["reason"])
    assert led["execution_seconds"] < limit.cell_timeout + 60, led["execution_seconds"]   # not the old 600 s
