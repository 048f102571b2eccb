"""What the visible and hidden tests of the notebooks call.

Every check raises ``AssertionError`` with one sentence that says what is
wrong and what was expected, so that a student reading a failed test knows
where to look.  Checks return ``None`` on success.
"""
from __future__ import annotations

import re

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


# ---------------------------------------------------------------- leakage and reference metrics
# (added for 03_handcrafted; used by any assignment that fits a scikit-learn model)

REFERENCE_METRICS = __import__("pathlib").Path(__file__).with_name("reference_metrics.json")


def _fitted_steps(model):
    """The fitted estimators of a model, in order (Pipeline steps, GridSearchCV's best estimator)."""
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    steps = getattr(model, "steps", None)
    if steps is not None:
        out = []
        for _, est in steps:
            if est is None or est == "passthrough":
                continue
            out.extend(_fitted_steps(est))
        return out
    return [model]


def _row_keys(A, decimals=6):
    A = np.round(np.asarray(A, dtype=np.float64), decimals) + 0.0   # + 0.0 turns -0.0 into 0.0
    return {r.tobytes() for r in np.ascontiguousarray(A)}


def check_no_leakage(model, X_test, X_train, X_val=None, name="the model"):
    """Check that a fitted scikit-learn model saw no test row while it was fitted.

    Two independent fingerprints of the rows a model was fitted on are compared
    with the splits:

    1. The first scaler of the pipeline (anything with ``n_samples_seen_``
       and ``mean_`` or ``data_min_``/``data_max_``, e.g. ``StandardScaler``,
       ``MinMaxScaler``) remembers how many rows it saw and their statistics.
       They must be those of the training rows, or of training + validation
       rows (a refit after choosing hyper-parameters on validation).  Any
       other fit set fails, and one that includes the test rows is named.
    2. A final estimator that stores training rows (``support_vectors_`` of
       an SVM, ``_fit_X`` of a nearest-neighbour classifier) must store none
       of the test rows, transformed by the preceding steps.

    Parameters
    ----------
    model : fitted estimator, Pipeline or GridSearchCV
    X_test, X_train : array (n, d)
        The feature rows of the test and training splits, as given to the model.
    X_val : array (n, d), optional
        The validation rows.
    name : str
        How to call the model in messages.

    Raises
    ------
    AssertionError
        With one sentence saying which rows the model was fitted on.

    Example
    -------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.svm import SVC
    >>> rng = np.random.default_rng(0)
    >>> Xtr, Xte = rng.normal(size=(50, 3)), rng.normal(size=(20, 3))
    >>> ytr = (Xtr[:, 0] > 0).astype(int)
    >>> clean = make_pipeline(StandardScaler(), SVC()).fit(Xtr, ytr)
    >>> check_no_leakage(clean, Xte, Xtr)
    >>> leaky = make_pipeline(StandardScaler(), SVC()).fit(np.vstack([Xtr, Xte]), np.r_[ytr, ytr[:20]])
    >>> check_no_leakage(leaky, Xte, Xtr)
    Traceback (most recent call last):
    ...
    AssertionError: the model was fitted on the training + test rows (70 rows): fit it on the training split only (or on training + validation once the hyper-parameters are chosen), never on test rows.
    """
    X_test = np.asarray(X_test, dtype=np.float64)
    X_train = np.asarray(X_train, dtype=np.float64)
    parts = {"training": X_train, "test": X_test}
    if X_val is not None:
        parts["validation"] = np.asarray(X_val, dtype=np.float64)
    for k, A in parts.items():
        if A.ndim != 2:
            raise ValueError(f"X_{k if k != 'training' else 'train'} should be a 2-D feature matrix (rows, features), got shape {A.shape}.")
    if len({A.shape[1] for A in parts.values()}) != 1:
        raise ValueError("X_test, X_train and X_val should have the same number of feature columns.")
    steps = _fitted_steps(model)
    checked = False
    # 1. The scaler's statistics.
    for i, est in enumerate(steps):
        n_seen = getattr(est, "n_samples_seen_", None)
        if n_seen is None:
            continue
        n_seen = int(np.max(n_seen))
        if getattr(est, "mean_", None) is not None:
            stats = lambda A: A.mean(axis=0)                        # noqa: E731
            got = np.asarray(est.mean_, dtype=np.float64)
        elif getattr(est, "data_min_", None) is not None:
            stats = lambda A: np.r_[A.min(axis=0), A.max(axis=0)]   # noqa: E731
            got = np.r_[est.data_min_, est.data_max_].astype(np.float64)
        else:
            continue
        combos = [("training",), ("training", "validation"), ("test",), ("training", "test"),
                  ("validation", "test"), ("training", "validation", "test"), ("validation",)]
        match = None
        for combo in combos:
            if not all(c in parts for c in combo):
                continue
            A = np.vstack([parts[c] for c in combo])
            if len(A) == n_seen and np.allclose(stats(A), got, rtol=1e-7, atol=1e-9):
                match = combo
                break
        if match is None:
            raise AssertionError(
                f"{name} was fitted on {n_seen} rows that are neither the training rows "
                f"({len(X_train)}) nor training + validation: fit it on the training split only.")
        if "test" in match:
            raise AssertionError(
                f"{name} was fitted on the {' + '.join(match)} rows ({n_seen} rows): fit it on the "
                "training split only (or on training + validation once the hyper-parameters are "
                "chosen), never on test rows.")
        if match == ("validation",):
            raise AssertionError(f"{name} was fitted on the validation rows only: fit it on the training split.")
        checked = True
        break
    # 2. Rows stored by the final estimator.
    final = steps[-1]
    stored = getattr(final, "support_vectors_", None)
    if stored is None:
        stored = getattr(final, "_fit_X", None)
    if stored is not None and np.ndim(stored) == 2:
        T = X_test
        for est in steps[:-1]:
            T = est.transform(T)
        T = np.asarray(T, dtype=np.float64)
        leaked = _row_keys(stored) & _row_keys(T)
        if leaked:
            raise AssertionError(
                f"{len(leaked)} test row(s) are stored in the fitted {type(final).__name__} of {name}: "
                "it was fitted on test rows; fit it on the training split only.")
        checked = True
    if not checked:
        raise AssertionError(
            f"cannot check what {name} was fitted on: make it a Pipeline that starts with a "
            "StandardScaler (as the exercise asks).")


def _load_reference_metrics(path=None):
    import json
    p = REFERENCE_METRICS if path is None else __import__("pathlib").Path(path)
    if not p.exists():
        return {}
    return json.loads(p.read_text())


def check_accuracy_against_reference(acc, assignment, key="test_accuracy", tolerance=0.05, path=None):
    """Check an accuracy against the reference solution's, stored in ``reference_metrics.json``.

    Fails when ``acc`` is more than ``tolerance`` (a fraction: 0.05 = 5 points)
    below the reference; doing better than the reference is never penalised.

    Parameters
    ----------
    acc : float
        The student's accuracy, a fraction in [0, 1].
    assignment, key : str
        Where the reference lies in the JSON file: ``metrics[assignment][key]["value"]``.
    tolerance : float
        How far below the reference still passes.
    path : str or Path, optional
        Another JSON file (default: ``parcel_utils/reference_metrics.json``).

    Example
    -------
    >>> check_accuracy_against_reference(0.99, "03_handcrafted", "test_accuracy")
    """
    import numbers
    if isinstance(acc, bool) or not isinstance(acc, numbers.Real) or not np.isfinite(acc):
        raise AssertionError(f"the accuracy should be a number, got {acc!r}.")
    if not 0.0 <= acc <= 1.0:
        hint = " (divide a percentage by 100)" if 1.0 < acc <= 100.0 else ""
        raise AssertionError(f"the accuracy should be a fraction in [0, 1]{hint}, got {acc}.")
    metrics = _load_reference_metrics(path)
    try:
        ref = float(metrics[assignment][key]["value"])
    except (KeyError, TypeError, ValueError):
        raise AssertionError(f"no reference {key!r} recorded for {assignment!r}: ask the instructor "
                             "to run `make solutions`.") from None
    if acc < ref - tolerance:
        raise AssertionError(
            f"the {key.replace('_', ' ')} {acc:.3f} is more than {100 * tolerance:.0f} points below "
            f"the reference solution's {ref:.3f}.")


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
    import datetime
    import json
    import os
    import platform
    import tempfile
    from pathlib import Path
    if not isinstance(assignment, str) or not isinstance(key, str):
        raise ValueError("assignment and key should be strings, e.g. '03_handcrafted', 'test_accuracy'.")
    value = float(value)
    p = REFERENCE_METRICS if path is None else Path(path)
    metrics = _load_reference_metrics(p)
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


__all__ += ["check_no_leakage", "check_accuracy_against_reference", "record_reference_metric"]


# ---------------------------------------------------------------- Keras models (added for 04_cnn)

def check_selected_on_validation(model, history, X_val, y_val, X_test, y_test, monitor="val_loss",
                                 rtol=0.02, name="the model"):
    """Check that a Keras model was validated (early stopping, checkpoints) on the validation split.

    After ``fit`` with ``validation_data`` and the best checkpoint restored, the
    best ``history.history[monitor]`` is the model's loss on the validation
    split.  If it matches the loss on the test split instead, the test split
    chose the epoch: a leak (the lecture's slide passes ``(X_test, y_test)``
    as ``validation_data``: fine for a demo, not for an honest test score).

    Parameters
    ----------
    model : compiled keras.Model, with its best weights restored
    history : keras.callbacks.History or dict
        What ``fit`` returned (or its ``.history``).
    X_val, y_val, X_test, y_test : arrays
    monitor : str, default "val_loss"
    rtol : float
        Relative tolerance between the recorded and the recomputed loss.

    Example
    -------
    >>> check_selected_on_validation(model, hist, X_val, y_val, X_test, y_test)   # doctest: +SKIP
    """
    h = getattr(history, "history", history)
    if not isinstance(h, dict) or not h.get(monitor):
        raise AssertionError(f"the history of {name} records no {monitor!r}: pass validation_data=(X_val, y_val) "
                             "to fit.")
    best = float(min(h[monitor])) if "loss" in monitor else None
    if best is None:
        raise ValueError(f"monitor should be a loss such as 'val_loss', got {monitor!r}.")
    loss_val = float(np.ravel(model.evaluate(X_val, y_val, verbose=0))[0])
    loss_test = float(np.ravel(model.evaluate(X_test, y_test, verbose=0))[0])
    why = _selection_verdict(best, loss_val, loss_test, monitor, rtol, name)
    if why:
        raise AssertionError(why)


def _selection_verdict(best, loss_val, loss_test, monitor, rtol, name):
    """Why the best recorded ``monitor`` is not the validation loss (None when it is)."""
    close_val = abs(best - loss_val) <= rtol * max(abs(loss_val), 1e-3)
    close_test = abs(best - loss_test) <= rtol * max(abs(loss_test), 1e-3)
    if close_test and not close_val:
        return (f"the best {monitor} of {name} ({best:.4f}) is its loss on the test split "
                f"({loss_test:.4f}), not on the validation split ({loss_val:.4f}): validate on "
                "(X_val, y_val); the test split is looked at once, at the end.")
    if not close_val:
        return (f"the best {monitor} of {name} ({best:.4f}) is not its loss on the validation split "
                f"({loss_val:.4f}): validate on (X_val, y_val) and restore the best checkpoint after fit.")
    return None


def check_disjoint_rows(A, B, name_a="the training data", name_b="the test split"):
    """Check that no sample (row, map) of ``A`` is also in ``B`` (exact bytes after float32 rounding).

    Example
    -------
    >>> check_disjoint_rows(np.zeros((2, 3)), np.ones((4, 3)))
    """
    A = np.ascontiguousarray(np.asarray(A, dtype=np.float32).reshape(len(A), -1))
    B = np.ascontiguousarray(np.asarray(B, dtype=np.float32).reshape(len(B), -1))
    if A.shape[1:] != B.shape[1:]:
        raise ValueError(f"{name_a} and {name_b} should have samples of the same size, got {A.shape} and {B.shape}.")
    shared = {r.tobytes() for r in A} & {r.tobytes() for r in B}
    if shared:
        raise AssertionError(f"{len(shared)} sample(s) of {name_b} are also in {name_a}: build it from the "
                             "training split only.")


__all__ += ["check_selected_on_validation", "check_disjoint_rows"]


# ---------------------------------------------------------------- attested hidden tests (added for grading integrity)

ATTEST_MIME = "application/vnd.parcel.attest+json"


def _resolve(spec, what):
    """``"package.module:function"`` -> the function; only inside ``parcel_utils``."""
    import importlib
    if not isinstance(spec, str) or ":" not in spec or not spec.startswith("parcel_utils."):
        raise ValueError(f"{what} should name a function of parcel_utils as 'parcel_utils.module:function', "
                         f"got {spec!r}.")
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def attest_cases(inputs, seed, params=None):
    """The hidden cases of an attested test: ``[(args, kwargs, label), ...]`` built by ``inputs(seed, **params)``."""
    cases = _resolve(inputs, "inputs")(seed, **(params or {}))
    return [(tuple(a), dict(kw), str(label)) for a, kw, label in cases]


def encode_value(value):
    """A JSON-able record of a returned value: numbers and arrays of numbers, exactly (floats by repr)."""
    try:
        a = np.asarray(value)
    except Exception:   # noqa: BLE001 - anything odd is recorded as such
        a = None
    if a is None or a.dtype.kind not in "biuf":
        return {"type": type(value).__name__, "repr": repr(value)[:200]}
    kind = "float" if a.dtype.kind == "f" else "int"
    data = a.astype(float if kind == "float" else np.int64).ravel().tolist()
    return {"type": type(value).__name__, "dtype": str(a.dtype), "shape": list(a.shape), "data": data}


def decode_value(record):
    """The array an :func:`encode_value` record stands for (``ValueError`` if it stands for none)."""
    if not isinstance(record, dict) or "data" not in record or "shape" not in record:
        raise ValueError(f"not a number or an array of numbers ({(record or {}).get('type', '?') if isinstance(record, dict) else type(record).__name__})")
    shape = tuple(int(s) for s in record["shape"])
    data = np.asarray(record["data"], dtype=float)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{data.size} values for shape {shape}")
    return data.reshape(shape)


def compare_attested(value, expected, compare="close", rtol=1e-5, atol=1e-6, name=None):
    """Check one attested value against the reference's (``check_close`` or ``check_equal``)."""
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
        check_close(value, expected, name=name, rtol=rtol, atol=atol)
    else:
        raise ValueError(f"compare should be 'close' or 'equal', got {compare!r}.")


def verify_attested(check_fn, record, args=(), kwargs=None, name=None):
    """Run a ``compare="verify"`` check on one published record (the kernel and the grader alike)."""
    try:
        value = decode_value(record)
    except (ValueError, TypeError) as exc:
        raise AssertionError(f"{_name(name)}: the returned value is {exc}") from None
    try:
        check_fn(value, *args, **(kwargs or {}))
    except AssertionError as exc:
        raise AssertionError(f"{_name(name)}: {exc}") from None


def attest(key, student_fn, inputs, seed, reference, rtol=1e-5, atol=1e-6, compare="close", params=None,
           name=None):
    """Run a hidden test whose verdict the grader recomputes outside the student's kernel.

    Builds the cases with the named generator and seed, calls ``student_fn``
    on each, and (while graded, ``PARCEL_GRADING`` set) publishes what it
    returned as a display output of MIME type :data:`ATTEST_MIME`.  Then it
    checks each value against ``reference`` as any other test, so a student
    sees the usual message.  The grader
    (:class:`parcel_utils.course.integrity.VerifyAttestations`) reads the call
    from the instructor's copy of the test cell, rebuilds the cases and the
    reference values in its own process, and compares them with what was
    published: a test whose failure the kernel hid, or that never ran,
    still scores zero.  Call it with literal arguments only (the grader
    parses them, it does not evaluate them).

    Parameters
    ----------
    key : str
        Names this check within its notebook.
    student_fn : callable
        The student's function.
    inputs : str
        ``"parcel_utils.module:generator"``; ``generator(seed, **params)``
        returns ``[(args, kwargs, label), ...]``.
    seed : int
    reference : str
        ``"parcel_utils.module:function"``, called with the same arguments.
        With ``compare="verify"`` it is a check instead: called as
        ``reference(value, *args, **kwargs)`` on the published value (as the
        grader decodes it: a float array), it raises ``AssertionError`` when
        the value is wrong; for checks with more than one right answer.
    rtol, atol : float
        Tolerances of ``compare="close"``.
    compare : {"close", "equal", "verify"}
    params : dict, optional
        Literal keyword arguments of the generator.
    name : str, optional
        How messages call the function (default: ``key``).

    Example
    -------
    >>> attest("relu", lambda x: np.maximum(x, 0), inputs="parcel_utils.hidden_inputs:random_volume",
    ...        seed=0, reference="parcel_utils.convolution:relu")
    """
    import os
    cases = attest_cases(inputs, seed, params)
    ref_fn = _resolve(reference, "reference")
    if compare == "verify":
        expected = [None] * len(cases)
    else:
        expected = [ref_fn(*args, **kwargs) for args, kwargs, _ in cases]   # before the student's code touches the inputs
    values = [student_fn(*args, **kwargs) for args, kwargs, _ in cases]
    if os.environ.get("PARCEL_GRADING"):
        try:
            from IPython.display import publish_display_data
            publish_display_data({ATTEST_MIME: {"key": key, "values": [encode_value(v) for v in values]},
                                  "text/plain": f"(attested: {key})"})
        except ImportError:
            pass
    if compare == "verify":
        cases = attest_cases(inputs, seed, params)    # fresh inputs, as the grader builds them
    for (args, kwargs, label), value, want in zip(cases, values, expected):
        if compare == "verify":
            verify_attested(ref_fn, encode_value(value), args, kwargs, name=f"{name or key} on {label}")
        else:
            compare_attested(value, want, compare, rtol, atol, name=f"{name or key} on {label}")


__all__ += ["attest", "verify_attested"]


# -- attested models: the grader loads what the kernel saved and checks it in a process of its own --
ATTEST_MODEL_MIME = "application/vnd.parcel.attest-model+json"
#: Where, beside the graded notebook, the kernel saves an attested model (``<key>.keras``).
ATTEST_MODEL_DIR = ".parcel-attest"


def attest_model(key, model, verify, params=None, record=None):
    """Run a hidden test of a Keras model whose verdict the grader recomputes outside the student's kernel.

    While graded (``PARCEL_GRADING`` set), saves ``model`` as
    ``.parcel-attest/<key>.keras`` beside the notebook and publishes that it
    did (MIME type :data:`ATTEST_MODEL_MIME`).  Then it calls
    ``verify(model, **params)`` here, so a student sees the usual message.
    The grader (:class:`parcel_utils.course.integrity.VerifyAttestations`)
    reads the call from the instructor's copy of the test cell, loads the
    saved file in a fresh, sandboxed process (no student code runs there;
    Keras' safe mode, and only Keras' and this package's layers), and calls
    ``verify`` on it: a model that does not pass there scores zero, whatever
    the kernel said.  Literal arguments only (the grader parses them).

    Parameters
    ----------
    key : str
        Names this check within its notebook (letters, digits, ``_``).
    model : keras.Model
        The student's model.
    verify : str
        ``"parcel_utils.module:function"``; ``function(model, **params)``
        raises ``AssertionError`` when the model fails.
    params : dict, optional
        Literal keyword arguments of ``verify``.
    record : numbers, optional
        What the kernel knows about the model and the file does not (its
        training history, say): published with the key, and passed to
        ``verify`` as ``record=`` (a float array, here and in the grader).

    Example
    -------
    >>> attest_model("scratch_accuracy", scratch_model, verify="parcel_utils.checks:check_model_accuracy",
    ...              params={"assignment": "04_cnn", "key": "scratch_test_accuracy"})  # doctest: +SKIP
    """
    import os
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+", key):
        raise ValueError(f"key should be letters, digits and underscores, got {key!r}.")
    fn = _resolve(verify, "verify")
    kwargs = dict(params or {})
    published = {"key": key}
    if record is not None:
        published["record"] = encode_value(record)
    if os.environ.get("PARCEL_GRADING"):
        os.makedirs(ATTEST_MODEL_DIR, exist_ok=True)
        path = os.path.join(ATTEST_MODEL_DIR, key + ".keras")
        model.save(path)      # the grader reads this file, from the path the key gives
        try:
            from IPython.display import publish_display_data
            publish_display_data({ATTEST_MODEL_MIME: published, "text/plain": f"(model attested: {key})"})
        except ImportError:
            pass
    if record is not None:
        try:
            kwargs["record"] = decode_value(published["record"])
        except (ValueError, TypeError) as exc:
            raise AssertionError(f"the record of {key} is {exc}") from None
    fn(model, **kwargs)


def check_model_accuracy(model, assignment, key, tolerance=0.05, split="test", batch_size=256):
    """A model's accuracy on a split of the parcel dataset, against the reference solution's.

    The maps go through ``model.predict`` (inference: augmentation and
    dropout inactive), the class is the arg-max of its output, and the
    accuracy is checked with :func:`check_accuracy_against_reference`.

    Example
    -------
    >>> check_model_accuracy(model, "04_cnn", "scratch_test_accuracy")  # doctest: +SKIP
    """
    from .data import load_parcels
    X, y, _ = load_parcels(split, progress=False)
    out = np.asarray(model.predict(X[..., None], batch_size=batch_size, verbose=0))
    if out.shape[:1] != y.shape or out.ndim != 2:
        raise AssertionError(f"the model should give one row of class scores per map, shape ({len(y)}, C); "
                             f"got {out.shape}.")
    acc = float(np.mean(out.argmax(axis=1) == y))
    try:
        check_accuracy_against_reference(acc, assignment, key, tolerance=tolerance)
    except AssertionError as exc:
        raise AssertionError(f"the model's {split} accuracy, computed from its predictions: {exc}") from None
    return acc


__all__ += ["attest_model", "check_model_accuracy"]


# -- reference metrics from executed solutions --------------------------------------------
METRIC_MIME = "application/vnd.parcel.metric+json"


def publish_metric(key, value):
    """Show a metric in the notebook, in a form the instructor workflow can read back.

    ``make solutions`` (``Course.execute_solutions``) collects every published
    metric of the executed reference solutions and records it with
    :func:`record_reference_metric`; in a student's notebook it only shows the
    value.

    Example
    -------
    >>> publish_metric("test_accuracy", 0.9)  # doctest: +SKIP
    test_accuracy = 0.9000
    """
    import numbers
    if not isinstance(value, numbers.Real):
        raise TypeError(f"`value` should be a number, got {type(value).__name__}.")
    from IPython.display import display
    display({METRIC_MIME: {"key": str(key), "value": float(value)},
             "text/plain": f"{key} = {float(value):.4f}"}, raw=True)


def published_metrics(nb):
    """The metrics a notebook published (``{key: value}``), read from its outputs."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get(METRIC_MIME)
            if data:
                found[data["key"]] = float(data["value"])
    return found


# -- checks of 04_cnn's Keras models, run by attest_model in the kernel and on the saved file in the grader --

def _nested_layers(model):
    """Every layer of a Keras model, nested models' layers included, depth first."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_nested_layers(layer))
    return out


def _val_maps(n):
    from .data import load_parcels
    return load_parcels("val", progress=False)[0][:n, ..., None]


def check_augmentation_model(aug, n=16):
    """04's augmentation: its layer types, inactive at inference, label-preserving in training.

    The layers must be :data:`parcel_utils.augment.AUGMENTATION_LAYER_TYPES`
    in that order, with a constant fill of 0 and nearest interpolation
    (rotation 0.5, translation 0.05, zoom 0.1, height gain 0.1); at inference
    the maps pass unchanged (also through a model's ``predict``); in training
    they change, stay >= 0, an empty belt stays empty, and every height of a
    flat box stays within 10 % of the box's.
    """
    import keras
    from .augment import AUGMENTATION_LAYER_TYPES
    x = _val_maps(n)
    layers_ = list(getattr(aug, "layers", []))
    check_equal([type(layer).__name__ for layer in layers_], list(AUGMENTATION_LAYER_TYPES),
                name="the layer types of the augmentation")
    check_close(np.asarray(aug(x, training=False)), x, name="augmentation(x, training=False) (inactive at inference)")
    inp = keras.Input(x.shape[1:])
    check_close(keras.Model(inp, aug(inp)).predict(x, verbose=0), x,
                name="a model's predict through the augmentation (inactive at inference)")
    out = np.asarray(aug(x, training=True))
    check_equal(bool(np.array_equal(out, x)), False, name="'the augmentation changed nothing in training'")
    check_equal(bool(np.all(out >= 0)), True, name="'all augmented heights are >= 0'")
    empty = np.zeros((4,) + x.shape[1:], "float32")
    check_close(np.asarray(aug(empty, training=True)), empty, name="an augmented empty belt (the fill must be 0)")
    for layer in layers_[1:4]:
        check_equal(layer.fill_mode, "constant", name=f"fill_mode of {type(layer).__name__}")
        check_equal(layer.interpolation, "nearest", name=f"interpolation of {type(layer).__name__}")
    factor = layers_[1].factor
    check_close(abs(factor[1]) if isinstance(factor, (tuple, list)) else factor, 0.5, name="the rotation factor")
    check_close(layers_[4].factor, 0.1, name="the height gain factor")
    box = np.zeros((6,) + x.shape[1:], "float32")           # every augmented pixel: 0, or the box's height +- 10 %
    box[:, 20:40, 24:44] = np.linspace(30, 300, 6)[:, None, None, None]
    for a, b in zip(np.asarray(aug(box, training=True)), box):
        v = a[a > 0]
        check_in_range(float(v.min() / b.max()), 0.9 - 1e-4, 1.1 + 1e-4, name="augmented height / true height")
        check_in_range(float(v.max() / b.max()), 0.9 - 1e-4, 1.1 + 1e-4, name="augmented height / true height")


def _scratch_layer_types():
    """The layer types 04's scratch CNN must hold: the augmentation's, then the convolutional ones."""
    from .augment import AUGMENTATION_LAYER_TYPES
    return AUGMENTATION_LAYER_TYPES + ("Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Dense")


def check_scratch_cnn(model, num_classes=5, min_params=20_000, max_params=200_000):
    """04's scratch CNN: the augmentation and conv layers, a softmax of ``num_classes``, augmentation off at inference."""
    check_equal(tuple(model.output_shape), (None, num_classes), name="the output shape")
    x = _val_maps(8)
    p = np.asarray(model.predict(x, verbose=0))
    check_close(p.sum(axis=1), np.ones(len(x)), rtol=1e-4, name="the sum of each output row (softmax)")
    names = {type(layer).__name__ for layer in _nested_layers(model)}
    for t in _scratch_layer_types():
        check_equal(t in names, True, name=f"'the model has a {t} layer'")
    check_close(np.asarray(model.predict(x, verbose=0)), p, rtol=1e-5,
                name="a second predict on the same maps (augmentation inactive at inference)")
    check_in_range(model.count_params(), min_params, max_params, name="the number of parameters")


def _backbone_of(model, holding=None):
    """The nested model in ``model``'s layers (the one holding a layer named ``holding``, or the largest)."""
    nested = [layer for layer in model.layers if hasattr(layer, "layers") and layer.layers]
    if holding is not None:
        nested = [m for m in nested if any(layer.name == holding for layer in m.layers)]
    if not nested:
        raise AssertionError("the backbone should be a layer of the model (a nested model"
                             + (f" with a layer {holding!r}" if holding else "") + "), found none.")
    return max(nested, key=lambda m: len(m.layers))


def check_transfer_model(model, num_classes=5, features=1280):
    """04's transfer model: the backbone a frozen layer of it, a new head of ``features * C + C`` trainable weights."""
    check_equal(tuple(model.output_shape), (None, num_classes), name="the output shape")
    check_equal(sum(int(np.prod(w.shape)) for w in model.trainable_weights), features * num_classes + num_classes,
                name="the number of trainable parameters")
    backbone = _backbone_of(model)
    check_equal(len(backbone.trainable_weights), 0, name="the number of trainable weights in the backbone (frozen)")
    check_equal(all(not layer.trainable for layer in backbone.layers if layer.weights), True,
                name="'every backbone layer is frozen'")
    x = np.random.default_rng(4).uniform(0, 250, (6,) + tuple(model.input_shape[1:])).astype("float32")
    check_close(model.predict(x, verbose=0), model.predict(x, verbose=0), name="two predictions of the same maps")


def check_fine_tuning(model, first_trainable="block_15_expand", max_learning_rate=1e-4):
    """04's fine-tuning: the backbone trainable from ``first_trainable`` on (BatchNorm frozen), a low learning rate."""
    import keras
    backbone = _backbone_of(model, holding=first_trainable)
    names = [layer.name for layer in backbone.layers]
    start = names.index(first_trainable)
    trainable = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
    want = [layer.name for i, layer in enumerate(backbone.layers) if layer.weights and i >= start
            and not isinstance(layer, keras.layers.BatchNormalization)]
    check_equal(trainable, want, name=f"the trainable backbone layers from {first_trainable!r} on")
    check_equal(any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable for layer in backbone.layers),
                False, name="'a BatchNormalization layer is trainable'")
    if getattr(model, "optimizer", None) is None:
        raise AssertionError("the model should be compiled again (with a low learning rate) after unfreezing.")
    check_in_range(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 1e-6, max_learning_rate * 1.01,
                   name="the learning rate of the recompiled model")


check_fine_tuning.needs_compile = True     # the grader loads the saved model with its optimizer


def _crossentropy(model, X, y, batch_size=256):
    """The mean sparse categorical cross-entropy of ``model.predict(X)`` (as Keras computes it on probabilities)."""
    p = np.asarray(model.predict(X, batch_size=batch_size, verbose=0), dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise AssertionError(f"the model should give one row of class scores per map, shape ({len(y)}, C); "
                             f"got {p.shape}.")
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    return float(np.mean(-np.log(np.clip(p[np.arange(len(y)), np.asarray(y)], 1e-7, 1 - 1e-7))))


def check_saved_selection(model, record, val_subset=None, monitor="val_loss", rtol=0.02, name="the model"):
    """:func:`check_selected_on_validation` for a saved model: ``record`` is ``history.history[monitor]``.

    The losses are the cross-entropy of the model's predictions on the
    validation split (or on ``data.stratified_subset(y_val, *val_subset)``)
    and on the test split, computed here from the dataset.
    """
    from .data import load_parcels, stratified_subset
    h = np.asarray(record, dtype=np.float64).ravel()
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise AssertionError(f"the history of {name} records no {monitor!r}: pass validation_data=(X_val, y_val) "
                             "to fit.")
    X_val, y_val, _ = load_parcels("val", progress=False)
    X_test, y_test, _ = load_parcels("test", progress=False)
    if val_subset:
        idx = stratified_subset(y_val, *val_subset)
        X_val, y_val = X_val[idx], y_val[idx]
    why = _selection_verdict(float(h.min()), _crossentropy(model, X_val[..., None], y_val),
                             _crossentropy(model, X_test[..., None], y_test), monitor, rtol, name)
    if why:
        raise AssertionError(why)


__all__ += ["check_augmentation_model", "check_scratch_cnn", "check_transfer_model", "check_fine_tuning",
            "check_saved_selection"]
