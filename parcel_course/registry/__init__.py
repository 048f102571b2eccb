"""The registry of graded checks: one module per assignment, each key declared once.

A hidden test cell names a key and the student's function
(``attest("correlate2d_valid", correlate2d)``, or ``attest_model(key,
model)``); everything else about the check lives here, on the instructor's
side: the notebook and test cell it belongs to, its input generator and
seed, the reference (or a verifier, for values with more than one right
answer), and how values are compared.  The grader
(:mod:`parcel_course.preprocessors.write_attest_inputs` before the kernel
runs, :mod:`parcel_course.preprocessors.verify_attestations` after) looks
the key up here; it parses no call arguments.

Each assignment's checks are in its folder, ``parcel_course/assignments/<assignment>/checks.py``
(:mod:`parcel_course.assignments`; :data:`MODULES`).  Each defines ``ASSIGNMENT`` and ``CHECKS``, a list of :class:`Check` and
:class:`ModelCheck`.

Example
-------
>>> find("correlate2d_valid").cell
'test_correlate2d_valid'
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from parcel_utils.attest import decode_value
from parcel_utils.checks import check_close

__all__ = ["Check", "ModelCheck", "MODULES", "all_checks", "checks_of", "find", "cell_checks", "compare_values",
           "warm"]

#: Assignment -> the module that declares its checks (``parcel_course/assignments/<assignment>/checks.py``).
MODULES = {name: f"parcel_course.assignments.{name}.checks"
           for name in ("01_convolution", "02_parameters", "03_handcrafted", "04_cnn")}


def _name(name):
    return f"`{name}`" if name else "the value"


def compare_values(value, expected, compare, rtol=None, atol=None, name=None):
    """Check one returned value against the reference's: ``"close"`` (allclose within ``rtol``/``atol``, both
    given: no tolerance is implied) or ``"equal"`` (exact).

    Example
    -------
    >>> compare_values(np.array([1.0, 2.0]), [1, 2], "equal")
    """
    if compare == "equal":
        v = np.asarray(value)
        if v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
            v = v.astype(np.int64)
        e = np.asarray(expected)
        if v.shape != e.shape:
            raise AssertionError(f"{_name(name)} should have shape {e.shape}, got {v.shape}.")
        if not np.array_equal(v, e):
            raise AssertionError(f"{_name(name)} should be {e.tolist()!r}, got {v.tolist()!r}." if e.ndim == 0 else
                                 f"{_name(name)} differs from the expected values.")
    elif compare == "close":
        if rtol is None or atol is None:
            raise ValueError("compare='close' needs both rtol and atol: state the tolerance where the check is declared.")
        check_close(value, expected, name=name, rtol=rtol, atol=atol)
    else:
        raise ValueError(f"compare should be 'close' or 'equal', got {compare!r}.")


@dataclass(frozen=True)
class Check:
    """A hidden test of value.

    Attributes
    ----------
    key : str
        Unique in the course; the test cell calls ``attest(key, fn)``.
    notebook, cell : str
        The notebook (without ``.ipynb``) and the grade id of its test cell.
    inputs : callable
        ``inputs(seed, **params) -> [(args, kwargs, label), ...]``, deterministic and cheap.
    seed : int
    reference : callable
        ``reference(*args, **kwargs)``: the expected value.  With
        ``compare="verify"``, a verifier instead: ``reference(value, *args,
        **kwargs)`` raises ``AssertionError`` when the returned value (a
        float array, as decoded) is wrong.
    compare : {"close", "equal", "verify"}
        Stated on every check's line, as are its tolerances.
    rtol, atol : float
        Tolerances of ``"close"`` (required with it; nothing else takes them).
    params : dict
        Keyword arguments of ``inputs``.
    name : str
        How messages call the student's function (default: the key).
    """
    key: str
    notebook: str
    cell: str
    inputs: Callable
    seed: int
    reference: Callable
    compare: str
    rtol: float | None = None
    atol: float | None = None
    params: dict = field(default_factory=dict)
    name: str = ""

    kind = "value"

    def __post_init__(self):
        if self.compare not in ("close", "equal", "verify"):
            raise ValueError(f"{self.key}: compare should be 'close', 'equal' or 'verify', got {self.compare!r}.")
        if (self.compare == "close") != (self.rtol is not None and self.atol is not None) \
                or (self.compare != "close" and (self.rtol is not None or self.atol is not None)):
            raise ValueError(f"{self.key}: state rtol and atol with compare='close', and only with it.")

    def cases(self) -> list:
        """The cases, ``[(args, kwargs, label), ...]``, as the kernel and the grader both get them."""
        return [(tuple(a), dict(kw), str(label)) for a, kw, label in self.inputs(self.seed, **self.params)]

    def expected(self) -> list:
        """The reference's value for each case (``compare`` "close" or "equal"), computed once per process.

        The cases are deterministic (a fixed seed), so a grading worker that
        computes them before it forks for each submission (:func:`warm`) hands
        them to every grader it starts.
        """
        ident = (self.key, self.seed, repr(sorted(self.params.items())), self.inputs, self.reference)
        if ident not in _EXPECTED:
            _EXPECTED[ident] = [self.reference(*args, **kwargs) for args, kwargs, _label in self.cases()]
        return _EXPECTED[ident]

    def verify(self, records) -> str | None:
        """Why the published ``records`` (one per case) fail this check; None when they pass."""
        cases = self.cases()
        if not isinstance(records, list) or len(records) != len(cases):
            return (f"malformed attestation: {len(records) if isinstance(records, list) else 'no'} values "
                    f"for {len(cases)} cases")
        label_of = self.name or self.key
        expected = self.expected() if self.compare != "verify" else [None] * len(cases)
        for (args, kwargs, label), record, reference in zip(cases, records, expected):
            what = f"{label_of} on {label}"
            try:
                value = decode_value(record)
            except (ValueError, TypeError) as exc:
                return f"{what}: the returned value is {exc}"
            try:
                if self.compare == "verify":
                    self.reference(value, *args, **kwargs)
                else:
                    compare_values(value, reference, self.compare, self.rtol, self.atol, name=what)
            except AssertionError as exc:
                msg = str(exc)
                return msg if msg.startswith(what) or self.compare != "verify" else f"{what}: {msg}"
            except Exception as exc:  # noqa: BLE001 - a value the check cannot even read fails it
                return f"{what}: the check failed: {type(exc).__name__}: {exc}"
        return None


@dataclass(frozen=True)
class ModelCheck:
    """A hidden test of a Keras model: the kernel saves it, the grader loads and checks the file.

    ``verify(model, **params)`` raises ``AssertionError`` when the model
    fails; with ``record=True`` it also gets the numbers the kernel published
    with the model (``record=``, a float array).  ``needs_compile``: load the
    model with its optimizer (for a check that reads it).
    """
    key: str
    notebook: str
    cell: str
    verify_fn: Callable
    params: dict = field(default_factory=dict)
    record: bool = False
    needs_compile: bool = False

    kind = "model"

    def verify_model(self, model, record=None) -> str | None:
        """Why ``model`` fails this check (``record``: the published record, encoded); None when it passes."""
        kwargs = dict(self.params)
        if self.record:
            if record is None:
                return "no attested record"
            try:
                kwargs["record"] = decode_value(record)
            except (ValueError, TypeError) as exc:
                return f"the attested record is {exc}"
        try:
            self.verify_fn(model, **kwargs)
        except AssertionError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a model the check cannot run on fails it
            return f"the check could not run on the model: {type(exc).__name__}: {str(exc)[:300]}"
        return None


_EXPECTED: dict = {}


def warm(assignment: str) -> None:
    """Compute, in this process, what grading ``assignment`` needs from the reference: every value check's
    expected values, and what its registry module's ``warm()`` prepares (03: the splits' features).

    A ``parcel-course grade`` worker calls it once, before it forks for each
    submission; each grader it starts then finds them computed.  Example:

    >>> warm("01_convolution"); any(ident[0] == "correlate2d_valid" for ident in _EXPECTED)
    True
    """
    for check in checks_of(assignment):
        if check.kind == "value" and check.compare != "verify":
            check.expected()
    module = importlib.import_module(MODULES[assignment]) if assignment in MODULES else None
    if hasattr(module, "warm"):
        module.warm()


def checks_of(assignment: str) -> list:
    """The checks of one assignment, in declaration order."""
    if assignment not in MODULES:
        return []
    return list(importlib.import_module(MODULES[assignment]).CHECKS)


_ALL: dict = {}


def all_checks() -> dict:
    """Every check of the course, by key (a key declared twice is an error)."""
    if not _ALL:
        found = {}
        for assignment in MODULES:
            for check in checks_of(assignment):
                if check.key in found:
                    raise ValueError(f"the registry declares the key {check.key!r} twice")
                found[check.key] = check
        _ALL.update(found)
    return dict(_ALL)


def find(key: str):
    """The check named ``key`` (``KeyError`` with the known keys' count if there is none)."""
    checks = all_checks()
    if key not in checks:
        raise KeyError(f"no graded check named {key!r} in the registry ({len(checks)} checks)")
    return checks[key]


def cell_checks(assignment: str, notebook: str, cell: str) -> list:
    """The checks that belong to one test cell of a notebook."""
    return [c for c in checks_of(assignment) if c.notebook == notebook and c.cell == cell]
