"""The training budget of heavy notebooks (04_cnn): graded kernels run at "grading", bars recorded at both budgets."""
import json

import pytest

from parcel_utils.checks import budget_key, check_accuracy_against_reference, training_budget
from parcel_course.limits import GRADING_BUDGET
from parcel_course.sandbox import KERNEL_ENV


def test_training_budget_reads_the_environment(monkeypatch):
    monkeypatch.delenv("PARCEL_BUDGET", raising=False)
    assert training_budget() == "full"
    monkeypatch.setenv("PARCEL_BUDGET", "grading")
    assert training_budget() == "grading"
    monkeypatch.setenv("PARCEL_BUDGET", "something else")
    assert training_budget() == "full"


def test_budget_key():
    assert budget_key("scratch_test_accuracy", "full") == "scratch_test_accuracy"
    assert budget_key("scratch_test_accuracy", "grading") == "scratch_test_accuracy@grading"
    with pytest.raises(ValueError, match="budget"):
        budget_key("k", "tiny")


def test_the_bar_at_a_budget_is_the_reference_at_that_budget(tmp_path, monkeypatch):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"04_cnn": {"acc": {"value": 0.97}, "acc@grading": {"value": 0.88}},
                             "03_handcrafted": {"test_accuracy": {"value": 0.88}}}))
    check_accuracy_against_reference(0.90, "04_cnn", "acc", path=p, budget="grading")
    with pytest.raises(AssertionError, match="0.970"):
        check_accuracy_against_reference(0.90, "04_cnn", "acc", path=p, budget="full")
    with pytest.raises(AssertionError, match="0.880"):
        check_accuracy_against_reference(0.80, "04_cnn", "acc", path=p, budget="grading")
    # an assignment with no bar at the grading budget keeps its one bar
    check_accuracy_against_reference(0.85, "03_handcrafted", "test_accuracy", path=p, budget="grading")
    monkeypatch.setenv("PARCEL_BUDGET", "grading")          # the default budget comes from the environment
    check_accuracy_against_reference(0.90, "04_cnn", "acc", path=p)


def test_graded_kernels_run_at_the_grading_budget_and_its_bars_are_recorded():
    from parcel_utils.checks import load_reference_metrics
    assert KERNEL_ENV["PARCEL_BUDGET"] == GRADING_BUDGET == "grading"
    m = load_reference_metrics()["04_cnn"]
    for key in ("scratch_test_accuracy", "transfer_small_test_accuracy"):
        assert key in m and budget_key(key, GRADING_BUDGET) in m
        assert "grading budget" in m[budget_key(key, GRADING_BUDGET)]["note"]
