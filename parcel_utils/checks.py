"""What the visible and hidden tests of the notebooks call.

Every check raises ``AssertionError`` with one sentence that says what is
wrong and what was expected, so that a student reading a failed test knows
where to look.  Checks return ``None`` on success.
"""
from __future__ import annotations

import json
import numbers
import os

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


def fitted_steps(model):
    """The fitted estimators of a model, in order (Pipeline steps, GridSearchCV's best estimator).

    Example
    -------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> [type(e).__name__ for e in fitted_steps(make_pipeline(StandardScaler(), KNeighborsClassifier()))]
    ['StandardScaler', 'KNeighborsClassifier']
    """
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    steps = getattr(model, "steps", None)
    if steps is not None:
        out = []
        for _, est in steps:
            if est is None or est == "passthrough":
                continue
            out.extend(fitted_steps(est))
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
    parts = _leakage_splits(X_test, X_train, X_val)
    steps = fitted_steps(model)
    scaler_checked = _check_scaler_fit_rows(steps, parts, name)
    stored_checked = _check_stored_rows(steps, parts["test"], name)
    if not (scaler_checked or stored_checked):
        raise AssertionError(
            f"cannot check what {name} was fitted on: make it a Pipeline that starts with a "
            "StandardScaler (as the exercise asks).")


def _leakage_splits(X_test, X_train, X_val) -> dict:
    """Split name -> its rows as float64, checked to be 2-D with one number of columns."""
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
    return parts


def _scaler_statistics(est):
    """(statistics of rows, the scaler's own) of a fitted scaler with ``mean_`` or ``data_min_``, else None."""
    if getattr(est, "mean_", None) is not None:
        return (lambda A: A.mean(axis=0)), np.asarray(est.mean_, dtype=np.float64)
    if getattr(est, "data_min_", None) is not None:
        return (lambda A: np.r_[A.min(axis=0), A.max(axis=0)]), np.r_[est.data_min_, est.data_max_].astype(np.float64)
    return None


def _fit_splits(parts: dict, n_seen: int, stats, got):
    """The splits whose rows, stacked, have the scaler's row count and statistics (None if none do)."""
    combos = [("training",), ("training", "validation"), ("test",), ("training", "test"),
              ("validation", "test"), ("training", "validation", "test"), ("validation",)]
    for combo in combos:
        if not all(c in parts for c in combo):
            continue
        A = np.vstack([parts[c] for c in combo])
        if len(A) == n_seen and np.allclose(stats(A), got, rtol=1e-7, atol=1e-9):
            return combo
    return None


def _check_scaler_fit_rows(steps, parts: dict, name) -> bool:
    """Fingerprint 1: the first scaler saw the training (+ validation) rows; False when there is none."""
    for est in steps:
        n_seen = getattr(est, "n_samples_seen_", None)
        if n_seen is None:
            continue
        n_seen = int(np.max(n_seen))
        found = _scaler_statistics(est)
        if found is None:
            continue
        match = _fit_splits(parts, n_seen, *found)
        if match is None:
            raise AssertionError(
                f"{name} was fitted on {n_seen} rows that are neither the training rows "
                f"({len(parts['training'])}) nor training + validation: fit it on the training split only.")
        if "test" in match:
            raise AssertionError(
                f"{name} was fitted on the {' + '.join(match)} rows ({n_seen} rows): fit it on the "
                "training split only (or on training + validation once the hyper-parameters are "
                "chosen), never on test rows.")
        if match == ("validation",):
            raise AssertionError(f"{name} was fitted on the validation rows only: fit it on the training split.")
        return True
    return False


def _check_stored_rows(steps, X_test, name) -> bool:
    """Fingerprint 2: the final estimator stores no test row; False when it stores no rows."""
    final = steps[-1]
    stored = getattr(final, "support_vectors_", None)
    if stored is None:
        stored = getattr(final, "_fit_X", None)
    if stored is None or np.ndim(stored) != 2:
        return False
    T = X_test
    for est in steps[:-1]:
        T = est.transform(T)
    T = np.asarray(T, dtype=np.float64)
    leaked = _row_keys(stored) & _row_keys(T)
    if leaked:
        raise AssertionError(
            f"{len(leaked)} test row(s) are stored in the fitted {type(final).__name__} of {name}: "
            "it was fitted on test rows; fit it on the training split only.")
    return True


#: The environment variable that sets the training budget of a heavy notebook (the grader sets it).
BUDGET_ENV = "PARCEL_BUDGET"
#: The budgets: ``"full"`` (the default, what a student runs) and ``"grading"`` (fewer epochs, what the grader runs).
FULL_BUDGET, GRADING_BUDGET = "full", "grading"
BUDGETS = (FULL_BUDGET, GRADING_BUDGET)


def training_budget():
    """The training budget of this kernel: ``"full"``, or ``"grading"`` when the grader runs the notebook.

    A heavy notebook (04_cnn) reads it to train its graded networks for fewer
    epochs and to skip what grades nothing; its accuracy bars are then the
    reference solution's at the same budget (:func:`budget_key`).  Anything
    but ``"grading"`` in ``$PARCEL_BUDGET`` means ``"full"``.

    Example
    -------
    >>> training_budget() in BUDGETS
    True
    """
    return GRADING_BUDGET if os.environ.get(BUDGET_ENV, "").strip().lower() == GRADING_BUDGET else FULL_BUDGET


def budget_key(key, budget=None):
    """The reference-metric key of ``key`` at a budget: ``key`` at ``"full"``, ``key + "@grading"`` at ``"grading"``.

    Example
    -------
    >>> budget_key("scratch_test_accuracy", "grading"), budget_key("test_accuracy", "full")
    ('scratch_test_accuracy@grading', 'test_accuracy')
    """
    budget = training_budget() if budget is None else budget
    if budget not in BUDGETS:
        raise ValueError(f"`budget` should be one of {BUDGETS}, got {budget!r}.")
    return key if budget == FULL_BUDGET else f"{key}@{budget}"


def load_reference_metrics(path=None):
    """The reference metrics recorded by ``make solutions`` (``{}`` when the file does not exist).

    Parameters
    ----------
    path : path, default :data:`REFERENCE_METRICS` (shipped with this package)

    Example
    -------
    >>> sorted(load_reference_metrics())[:2]
    ['03_handcrafted', '04_cnn']
    """
    p = REFERENCE_METRICS if path is None else __import__("pathlib").Path(path)
    if not p.exists():
        return {}
    return json.loads(p.read_text())


def check_accuracy_against_reference(acc, assignment, key="test_accuracy", tolerance=0.05, path=None,
                                     budget=None):
    """Check an accuracy against the reference solution's, stored in ``reference_metrics.json``.

    Fails when ``acc`` is more than ``tolerance`` (a fraction: 0.05 = 5 points)
    below the reference; doing better than the reference is never penalised.
    At the ``"grading"`` budget the reference is the one recorded at that
    budget (``key + "@grading"``) where the assignment has one, else ``key``'s.

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
    budget : {"full", "grading"}, optional
        Default :func:`training_budget`.

    Example
    -------
    >>> check_accuracy_against_reference(0.99, "03_handcrafted", "test_accuracy")
    """
    if isinstance(acc, bool) or not isinstance(acc, numbers.Real) or not np.isfinite(acc):
        raise AssertionError(f"the accuracy should be a number, got {acc!r}.")
    if not 0.0 <= acc <= 1.0:
        hint = " (divide a percentage by 100)" if 1.0 < acc <= 100.0 else ""
        raise AssertionError(f"the accuracy should be a fraction in [0, 1]{hint}, got {acc}.")
    metrics = load_reference_metrics(path)
    at_budget = budget_key(key, budget)
    if at_budget in (metrics.get(assignment) or {}):
        key = at_budget
    try:
        ref = float(metrics[assignment][key]["value"])
    except (KeyError, TypeError, ValueError):
        raise AssertionError(f"no reference {key!r} recorded for {assignment!r}: ask the instructor "
                             "to run `make solutions`.") from None
    if acc < ref - tolerance:
        raise AssertionError(
            f"the {key.replace('_', ' ')} {acc:.3f} is more than {100 * tolerance:.0f} points below "
            f"the reference solution's {ref:.3f}.")


__all__ += ["check_no_leakage", "check_accuracy_against_reference", "training_budget", "budget_key", "BUDGETS"]


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
    why = selection_verdict(best, loss_val, loss_test, monitor, rtol, name)
    if why:
        raise AssertionError(why)


def selection_verdict(best, loss_val, loss_test, monitor, rtol, name):
    """Why the best recorded ``monitor`` is not the validation loss (None when it is).

    ``best`` is the best value a training history recorded; ``loss_val`` and
    ``loss_test`` the model's loss recomputed on the validation and on the
    test split; they agree with ``best`` within ``rtol`` (relative).

    Example
    -------
    >>> selection_verdict(0.31, 0.31, 0.52, "val_loss", 0.05, "the model") is None
    True
    >>> selection_verdict(0.52, 0.31, 0.52, "val_loss", 0.05, "the model")[:40]
    'the best val_loss of the model (0.5200) '
    """
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


__all__ += ["check_selected_on_validation", "check_disjoint_rows", "fitted_steps", "load_reference_metrics",
            "selection_verdict"]


# -- reference metrics from executed solutions --------------------------------------------
METRIC_MIME = "application/vnd.parcel.metric+json"


def publish_metric(key, value):
    """Show a metric in the notebook, in a form the instructor workflow can read back.

    ``make solutions`` (``Course.execute_solutions``) collects every published
    metric of the executed reference solutions and records it with
    :func:`parcel_course.metrics.record_reference_metric`; in a student's notebook it only shows the
    value. At the grading budget (:func:`training_budget`) the key is
    recorded as ``key + "@grading"``: the bar of the same check at that budget.

    Example
    -------
    >>> publish_metric("test_accuracy", 0.9)  # doctest: +SKIP
    test_accuracy = 0.9000
    """
    if not isinstance(value, numbers.Real):
        raise TypeError(f"`value` should be a number, got {type(value).__name__}.")
    key = budget_key(str(key))            # at the grading budget, recorded as key + "@grading"
    from IPython.display import display   # lazy: IPython.display takes 0.2 s; only a published metric needs it
    display({METRIC_MIME: {"key": str(key), "value": float(value)},
             "text/plain": f"{key} = {float(value):.4f}"}, raw=True)
