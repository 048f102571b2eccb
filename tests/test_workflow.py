"""The instructor workflow end to end, on a tiny course, with the real nbgrader.

Exchange (release, fetch, submit with explicit ids, resubmission, late
submission, collect), parallel grading with local processes and with a real
Dask LocalCluster, resumable runs, and submissions that fail, time out, die
or blow the memory cap without stopping the batch.  The exchange and the
parallel grading run twice: with the gradebook in SQLite and on a PostgreSQL
server (``PARCEL_DB_URL``; the server comes from conftest's ``postgres_server``).
"""
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from nbgrader.api import Gradebook

from minicourse import RIGHT, answer, make_course, submit_dir
from parcel_course import exchange, grading
from parcel_course.limits import THREAD_VARIABLES
from parcel_course.sandbox import sandbox_available

pytestmark = pytest.mark.slow


#: Both gradebooks: a test parametrized with it runs on each (``indirect``: the course fixture's parameter).
BACKENDS = pytest.mark.parametrize("course", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def course(request, tmp_path, monkeypatch):
    """The minicourse, its gradebook in SQLite, or on PostgreSQL when parametrized with "postgresql"."""
    monkeypatch.setenv("PARCEL_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.delenv("PARCEL_DB_URL", raising=False)
    if getattr(request, "param", "sqlite") == "postgresql":
        monkeypatch.setenv("PARCEL_DB_URL", request.getfixturevalue("postgres_db"))
    course = make_course(tmp_path / "course")
    assert course.server_db == (getattr(request, "param", "sqlite") == "postgresql"), course.db_url
    return course


@BACKENDS
def test_exchange_release_fetch_submit_resubmit_late_collect(course, tmp_path):
    exchange.release(course, ["00_tiny"])
    homes = tmp_path / "homes"
    # ann submits a right answer; bob submits blank, then resubmits right; cat is late
    for student in ("ann", "bob"):
        folder = exchange.student_fetch(course, "00_tiny", homes / student)
        if student == "bob":
            exchange.student_submit(course, "00_tiny", student, homes / student)
            time.sleep(1.1)
        answer(folder / "tiny.ipynb", **RIGHT)
        exchange.student_submit(course, "00_tiny", student, homes / student)
    due = datetime.now(timezone.utc) - timedelta(seconds=1)
    course.nbgrader("db", "assignment", "add", "00_tiny", f"--duedate={due.isoformat()}")
    folder = exchange.student_fetch(course, "00_tiny", homes / "cat")
    answer(folder / "tiny.ipynb", **RIGHT)
    exchange.student_submit(course, "00_tiny", "cat", homes / "cat")

    exchange.collect(course, ["00_tiny"])
    assert sorted(p.parent.name for p in course.submitted.glob("*/00_tiny")) == ["ann", "bob", "cat"]

    results = {r.student: r for r in grading.grade_all(course, workers=2, progress=False)}
    assert {s: r.score for s, r in results.items()} == {"ann": 3, "bob": 3, "cat": 3}, \
        {s: (r.status, r.reason) for s, r in results.items()}   # bob's second submission counts
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_submission("00_tiny", "cat").total_seconds_late > 0
        assert gb.find_submission("00_tiny", "ann").total_seconds_late == 0


@BACKENDS
def test_parallel_grading_resumes_and_reports_failures(course):
    submit_dir(course, "right", **RIGHT)
    submit_dir(course, "wrong", square="def square(x):\n    return x + x", halve=RIGHT["halve"])
    submit_dir(course, "blank")
    submit_dir(course, "crash", square="import os\nos._exit(3)")
    submit_dir(course, "loop", square="while True:\n    pass")
    submit_dir(course, "hog", square="import numpy as np\nx = [np.ones(10**8) for _ in range(40)]")
    # two local workers share the cores: each kernel's BLAS/OpenMP/TensorFlow threads are capped
    want = str(grading.threads_per_worker(2))
    submit_dir(course, "threads", halve=RIGHT["halve"], square=(
        "import os\n"
        f"assert [os.environ.get(v) for v in {THREAD_VARIABLES!r}] == [{want!r}] * 5, os.environ\n"
        + RIGHT["square"]))
    limits = grading.Limits(cell_timeout=8, total_timeout=120, memory_mb=1200)
    results = {r.student: r for r in grading.grade_all(course, workers=2, limits=limits, progress=False)}
    assert len(results) == 7
    assert (results["threads"].status, results["threads"].score) == ("graded", 3)
    assert (results["right"].status, results["right"].score) == ("graded", 3)
    assert (results["wrong"].status, results["wrong"].score) == ("graded", 1)
    assert (results["blank"].status, results["blank"].score) == ("graded", 0)
    assert results["crash"].status == "killed" and "kernel died" in results["crash"].reason
    assert results["loop"].status == "timeout"
    assert results["hog"].status == "killed" and "MB" in results["hog"].reason
    for s in ("crash", "loop", "hog"):
        assert results[s].score == 0
    # a process-pool worker runs one thread: nbgrader ran in a fork of it, imported once
    assert {r.launcher for r in results.values()} == {"fork"}
    # where the time went, recorded in the ledger: the worker warmed the reference before it forked
    phases = results["right"].phases
    assert set(phases) == set(grading.PHASES), phases
    assert phases["kernel"] > 0 and phases["cells"] > 0 and phases["merge"] > 0, phases
    assert sum(phases.values()) == pytest.approx(results["right"].seconds + phases["merge"], abs=0.05)
    # every submission is in the gradebook and has its ledger
    with Gradebook(course.db_url, course.course_id) as gb:
        assert sorted(s.student.id for s in gb.find_assignment("00_tiny").submissions) == sorted(results)
    assert len(grading.load_ledgers(course)) == 7
    # a rerun resumes: nothing left to grade; a changed submission is graded again
    assert grading.grade_all(course, workers=2, limits=limits, progress=False) == []
    submit_dir(course, "blank", **RIGHT)
    again = grading.grade_all(course, workers=2, limits=limits, progress=False)
    assert [(r.student, r.score) for r in again] == [("blank", 3)]


def test_threads_per_worker_shares_the_cores():
    assert [grading.threads_per_worker(w, cores=8) for w in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert grading.threads_per_worker(0, cores=2) == 2


def test_dask_local_cluster_grades_the_same(course):
    distributed = pytest.importorskip("distributed")
    submit_dir(course, "right", **RIGHT)
    submit_dir(course, "wrong", square="def square(x):\n    return x + x", halve=RIGHT["halve"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        results = grading.grade_all(course, scheduler=cluster.scheduler_address, progress=False)
    assert sorted((r.student, r.status, r.score) for r in results) == [
        ("right", "graded", 3), ("wrong", "graded", 1)]
    # a Dask worker runs threads: forking it is not safe, nbgrader starts as a fresh process
    assert {r.launcher for r in results} == {"process"}


def test_fresh_process_grades_as_the_fork_does(course):
    submit_dir(course, "right", **RIGHT)
    submit_dir(course, "wrong", square="def square(x):\n    return x + x", halve=RIGHT["halve"])
    submit_dir(course, "crash", square="import os\nos._exit(3)")
    runs = {}
    for preload in (True, False):
        limits = grading.Limits(cell_timeout=8, total_timeout=120, preload=preload)
        runs[preload] = sorted((r.student, r.status, r.score, r.launcher) for r in
                               grading.grade_all(course, workers=2, limits=limits, force=True, progress=False))
    assert [r[:3] for r in runs[True]] == [r[:3] for r in runs[False]] == [
        ("crash", "killed", 0), ("right", "graded", 3), ("wrong", "graded", 1)]
    assert {r[3] for r in runs[True]} == {"fork"} and {r[3] for r in runs[False]} == {"process"}


def test_forked_nbgrader_fails_as_a_fresh_one_would(tmp_path):
    """A config that does not load, run by a fork: the log says so and the exit code is not 0.

    In a fresh interpreter, since pytest's own process may run threads (then it would not fork).
    """
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nraise ValueError('broken on purpose')\n")
    probe = f"""
from pathlib import Path
from parcel_course import grading
with open({str(tmp_path / "log")!r}, "w") as log:
    proc = grading._start_nbgrader(["autograde", "nothing", "--student=x"], Path({str(tmp_path)!r}),
                                   grading.grading_env(), log)
    print(type(proc).__name__, proc.wait())
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    launcher, code = out.stdout.split()
    text = (tmp_path / "log").read_text()
    assert launcher == "_Forked" and int(code) != 0, out
    assert "Exception while loading config file" in text and "broken on purpose" in text


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap is not available here")
def test_sandbox_hides_the_course_and_the_network(course):
    secret = course.root / "source" / "00_tiny" / "tiny.ipynb"
    probe = f'''
import os, socket
seen = []
for p in [{str(secret)!r}, {str(course.db_path)!r}, {str(course.root)!r}, "/etc/shadow"]:
    try:
        open(p, "rb").read() if os.path.isfile(p) else os.listdir(p)
        seen.append(p)
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1); seen.append("network")
except OSError:
    pass
try:
    open({str(course.root / "pwned")!r}, "w").write("x")
except OSError:
    pass
assert not seen, seen
def square(x):
    return x * x
'''
    submit_dir(course, "probe", square=probe, halve=RIGHT["halve"])
    (r,) = grading.grade_all(course, workers=1, limits=grading.Limits(sandbox="bwrap"), progress=False)
    assert r.sandbox == "bwrap" and r.status == "graded", r.reason
    assert r.score == 3, [g["error"] for g in r.grades]  # the probe saw nothing, so square's tests ran
    assert not (course.root / "pwned").exists()


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap is not available here")
def test_sandboxed_kernel_reads_the_dataset_cache_and_cannot_write_it(course):
    """The grader makes the dataset cache complete and shows it read-only: kernels load the splits, never
    generate them again, and cannot change what the grader's own checks read."""
    probe = """
import os
from parcel_utils.data import SPLITS, cache_file, load_parcels
cache = os.environ["PARCEL_DATA_DIR"]
assert all(os.path.isfile(cache_file(cache, s, 0)) for s in SPLITS), os.listdir(cache)
assert load_parcels("val", progress=False)[0].shape == (1000, 64, 64)
for target in (os.path.join(cache, "forged"), str(cache_file(cache, "test", 0))):
    try:
        open(target, "ab").close()
    except OSError:
        pass
    else:
        raise AssertionError("wrote " + target)
def square(x):
    return x * x
"""
    submit_dir(course, "cache", square=probe, halve=RIGHT["halve"])
    (r,) = grading.grade_all(course, workers=1, limits=grading.Limits(sandbox="bwrap"), progress=False)
    assert r.sandbox == "bwrap" and (r.status, r.score) == ("graded", 3), [g["error"] for g in r.grades]


def test_grading_env_silences_tensorflow_whatever_the_caller_says(monkeypatch):
    # a test cell with stderr output scores zero, and TensorFlow's late C++ log lands in test cells
    from parcel_course.directory import grading_env
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    env = grading_env({"PARCEL_GRADING": "1"})
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["PARCEL_GRADING"] == "1"
