"""The answer key stays with the instructor: the student package computes no exercise's answer.

Walks every public callable of ``parcel_utils`` (functions and classes of
each module) and calls each one that accepts an exercise's hidden inputs on
those inputs: none may give the reference's output on every case.  Also: no
release notebook imports the instructor's package, and the student package
never imports it.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
import re
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest

import parcel_utils
from parcel_course import registry
from parcel_course.registry import compare_values

ROOT = Path(__file__).resolve().parents[1]

#: Callables not called, and why (they act on the machine rather than compute from their arguments).
NOT_CALLED = {
    "parcel_utils.data.export_image_folders": "writes thousands of PNG files",
}


def _student_callables():
    out = {}
    for info in pkgutil.walk_packages(parcel_utils.__path__, "parcel_utils."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not callable(obj) or getattr(obj, "__module__", None) != info.name:
                continue
            qual = f"{info.name}.{name}"
            if qual not in NOT_CALLED:
                out[qual] = obj
    return out


class _Slow(Exception):
    pass


def _call(fn, args, kwargs, seconds=5):
    """fn(*args, **kwargs), or None if it raises or runs longer than ``seconds``."""
    def stop(*_):
        raise _Slow()
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - a callable that cannot take these inputs is what we hope for
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _same(value, expected) -> bool:
    if value is None:
        return False
    try:
        v = np.asarray(value, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    if v.shape != e.shape:
        return False
    try:
        compare_values(v, e, "close", rtol=1e-5, atol=1e-6)
    except AssertionError:
        return False
    return True


def test_the_student_package_never_imports_the_instructors():
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / "parcel_utils").rglob("*.py")
            if re.search(r"^\s*(from|import)\s+parcel_course", p.read_text(), re.M)]
    assert hits == [], hits
    # the instructor's own runs (make solutions, nbval) reach the registry as a plugin: an entry point
    # that the instructor's distribution registers (tests/test_layout.py checks the package a leaf)
    assert 'parcel_course = "parcel_course.registry"' in (ROOT / "pyproject.toml").read_text()


def test_no_release_notebook_imports_the_answer_key():
    for nb in sorted((ROOT / "release").glob("*/*.ipynb")):
        text = nb.read_text()
        assert "parcel_course" not in text, nb
        assert not re.search(r"import [^\"]*(as ref\b|as ref_[a-z]+)|reference implementation", text), nb


@pytest.mark.slow
def test_no_public_callable_of_the_student_package_reproduces_an_exercise():
    callables = _student_callables()
    assert len(callables) > 30, sorted(callables)        # the walk found the package
    reproduced, tried = [], 0
    for key, check in sorted(registry.all_checks().items()):
        if check.kind != "value" or check.compare == "verify":
            continue
        cases = check.cases()[:4]
        expected = [check.reference(*a, **kw) for a, kw, _ in cases]
        for qual, fn in sorted(callables.items()):
            try:
                inspect.signature(fn).bind(*cases[0][0], **cases[0][1])
            except (TypeError, ValueError):
                continue                                    # does not accept the exercise's inputs
            tried += 1
            if all(_same(_call(fn, *copy.deepcopy((a, kw))), e) for (a, kw, _), e in zip(cases, expected)):
                reproduced.append(f"{qual} reproduces {key}")
    assert tried > 0
    assert reproduced == [], reproduced
