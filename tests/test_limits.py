"""Grading limits: defined once (GradingLimits), timeouts derived per assignment from its reference run."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from parcel_course import grading
from parcel_course.config import configure_course
from parcel_course.directory import Course, grading_env
from parcel_course.limits import GradingLimits, Limits, assignment_limits, reference_timings, resolve_limits
from parcel_course.preprocessors.guarded_execute import GuardedExecute

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


def test_resolved_once_and_for_all():
    """Resolving applies per_assignment (before the derivation: its timeout_factor counts) and leaves nothing
    to resolve again: a worker's nbgrader, handed resolved limits, derives nothing a second time."""
    base = Limits(per_assignment={"01_convolution": {"timeout_factor": 1000.0, "memory_mb": 900}})
    light = assignment_limits(base, "01_convolution", ROOT)
    assert light.memory_mb == 900 and light.per_assignment == {}
    assert light.cell_timeout > assignment_limits(Limits(), "01_convolution", ROOT).cell_timeout
    assert assignment_limits(light, "01_convolution", "/nonexistent") == light
    with pytest.raises(dataclasses.FrozenInstanceError):
        light.memory_mb = 1


def test_resolve_limits_reads_the_config_once_per_process(monkeypatch):
    from parcel_course import limits as mod
    c = Config()
    c.GradingLimits.per_assignment = {"01_convolution": {"max_output_mb": 3}}
    read = []
    monkeypatch.setattr(mod, "reference_timings", lambda d: read.append(d) or {})
    mod._resolved.cache_clear()
    first = resolve_limits(c, "01_convolution", ROOT)
    assert (first.max_output_mb, first.cell_timeout) == (3, Limits().fallback_cell_timeout)
    assert resolve_limits(c, "01_convolution", ROOT) is first and len(read) == 1
    c.GradingLimits.memory_mb = 100                 # another configuration: resolved anew
    assert resolve_limits(c, "01_convolution", ROOT).memory_mb == 100
    mod._resolved.cache_clear()


def test_lower_layers_have_no_limits_of_their_own():
    """Below the two readings of the configuration, every function that runs under limits takes a Limits,
    with no default, and no module reads c.GradingLimits on its own."""
    import inspect
    from parcel_course import verify_model
    from parcel_course.preprocessors import verify_attestations
    for fn in (verify_model.verify_saved_models, verify_model.checker_server,
               verify_model.CheckerServer, verify_model._checker_command, verify_model._run_watched,
               verify_model.serve, verify_attestations.verify_models):
        params = inspect.signature(fn).parameters
        assert "limits" in params and params["limits"].default is inspect.Parameter.empty, fn.__qualname__
        assert not {"timeout", "sandbox", "threads", "max_mb"} & set(params), fn.__qualname__
    pkg = ROOT / "parcel_course"
    readers = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.py") if "GradingLimits(config" in p.read_text())
    assert readers == ["directory.py", "limits.py"], readers
    unresolved = grading.grade_submission(grading.GradeJob("s", "01_convolution", {}, b"", limits=Limits()))
    assert unresolved.status == "error" and "no limits resolved" in unresolved.reason, unresolved.reason


def test_a_kernel_manager_without_limits_refuses_to_start():
    from parcel_course.sandbox import SandboxedKernelManager
    with pytest.raises(RuntimeError, match="no limits"):
        SandboxedKernelManager()._mode()


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


def test_plain_nbgrader_keeps_the_per_assignment_caps(tmp_path):
    """Plain ``nbgrader autograde`` (the course's config, nbgrader's own call of our Execute) grades 01 with
    01's ``per_assignment`` output and memory caps, not the course-wide ones (the bug: only the cell timeout
    was resolved per assignment; the output caps and the kernel's watcher read the course-wide values)."""
    c = Config()
    configure_course(c, str(tmp_path))
    c.GradingLimits.sandbox = "none"          # the caps are the grader's own, sandbox or not
    c.GradingLimits.cell_timeout = 60
    c.GradingLimits.per_assignment = {"01_convolution": {"max_output_mb": 1, "memory_mb": 400}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('x' * (2 * 2**20))"),        # 2 MB: over 01's 1 MB, under 10 MB
                nbformat.v4.new_code_cell("import time\nheld = b'x' * (900 * 2**20)\ntime.sleep(8)")]
    (tmp_path / "graded").mkdir()
    resources = {"nbgrader": {"assignment": "01_convolution", "notebook": "caps"},
                 "metadata": {"path": str(tmp_path / "graded")}}
    pre = GuardedExecute(config=c)
    try:
        pre.preprocess(nb, resources)
    except Exception:  # noqa: BLE001 - a killed kernel ends the run; what matters is why it was killed
        pass
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "output dropped: more than the 1 MB a cell may print" in printed, printed[-300:]
    assert len(printed) < 1.5 * 2**20
    why = getattr(getattr(pre, "_watched_km", None), "watch_reason", "")
    assert "above the 400 MB cap" in why, why
