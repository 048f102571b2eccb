"""What the visible and hidden tests of the notebooks call.

Every check raises ``AssertionError`` with one sentence that says what is
wrong and what was expected, so that a student reading a failed test knows
where to look.  Checks return ``None`` on success.
"""
from __future__ import annotations

import numpy as np

__all__ = ["check_equal", "check_close", "check_shape", "check_type", "check_in_range"]


def _name(name):
    return f"`{name}`" if name else "the result"


def check_type(value, types, name=None):
    """Check ``isinstance(value, types)``."""
    if not isinstance(value, types):
        want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise AssertionError(f"{_name(name)} should be a {want}, got a {type(value).__name__}.")


def check_equal(value, expected, name=None):
    """Check exact equality (ints, strings, tuples; arrays element by element)."""
    if isinstance(expected, np.ndarray) or isinstance(value, np.ndarray):
        value = np.asarray(value)
        check_shape(value, np.shape(expected), name)
        if not np.array_equal(value, expected):
            bad = int(np.sum(value != expected))
            raise AssertionError(f"{_name(name)} differs from the expected array in {bad} element(s).")
        return
    if value != expected:
        raise AssertionError(f"{_name(name)} should be {expected!r}, got {value!r}.")


def check_shape(value, shape, name=None):
    """Check the shape of an array-like."""
    got = tuple(np.shape(value))
    if got != tuple(shape):
        raise AssertionError(f"{_name(name)} should have shape {tuple(shape)}, got {got}.")


def check_close(value, expected, name=None, rtol=1e-5, atol=1e-6):
    """Check numbers or arrays equal up to a tolerance (``numpy.allclose`` semantics)."""
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{_name(name)} should be a number or an array of numbers, got {type(value).__name__}.") from None
    e = np.asarray(expected, dtype=float)
    if v.shape != e.shape:
        raise AssertionError(f"{_name(name)} should have shape {e.shape}, got {v.shape}.")
    if not np.all(np.isfinite(v) == np.isfinite(e)):
        raise AssertionError(f"{_name(name)} has NaN or infinite values where none are expected.")
    ok = np.isclose(v, e, rtol=rtol, atol=atol) | (~np.isfinite(e) & (v == e))
    if not np.all(ok):
        if e.ndim == 0:
            raise AssertionError(f"{_name(name)} should be {float(e):.6g}, got {float(v):.6g}.")
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise AssertionError(
            f"{_name(name)} differs from the expected values in {int((~ok).sum())} of {ok.size} "
            f"element(s); first at index {idx}: expected {e[idx]:.6g}, got {v[idx]:.6g}.")


def check_in_range(value, low, high, name=None):
    """Check ``low <= value <= high``."""
    if not (low <= value <= high):
        raise AssertionError(f"{_name(name)} should lie in [{low}, {high}], got {value}.")
