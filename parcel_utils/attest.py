"""The attestation client: what a hidden test cell calls while it is graded.

A hidden test of value names a check of the instructor's registry and the
student's function: ``attest("correlate2d_valid", correlate2d)``.  The
kernel knows neither the inputs nor the expected values.  The grader writes
the check's inputs beside the notebook before the kernel starts
(``.parcel-attest/inputs/<key>.pkl``); :func:`attest` calls the student's
function on each, and publishes what it returned as a display output of MIME
type :data:`ATTEST_MIME`.  The grader reads that output back, computes the
reference values in its own process and scores the cell
(``parcel_course.preprocessors.verify_attestations``).  A test of a trained
Keras model (:func:`attest_model`) saves the model instead, and the grader
loads and checks the file in a process of its own.

In the instructor's environment (``make solutions``, nbval), where no grader
wrote the inputs, the calls ask the instructor's package for them and check
the values in the kernel, so a wrong solution fails there.  In a student's
environment neither exists: the hidden tests are not in the student's
notebook, and a direct call says so.

Nothing here computes an exercise's answer: the helpers below turn what a
student's code returned into numbers the grader can compare
(:func:`fit_fingerprint`, ...; Keras models: :mod:`parcel_utils.keras_tools`), or stand in for a
classifier (:class:`ToyPosteriors`).
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from importlib.metadata import entry_points

import numpy as np
from .checks import fitted_steps

__all__ = ["attest", "attest_model", "encode_value", "decode_value", "load_cases", "ATTEST_MIME",
           "ATTEST_MODEL_MIME", "ATTEST_DIR", "INPUTS_DIR"]

ATTEST_MIME = "application/vnd.parcel.attest+json"
ATTEST_MODEL_MIME = "application/vnd.parcel.attest-model+json"
#: Beside the graded notebook: the grader's inputs (``inputs/<key>.pkl``) and the saved models (``<key>.keras``).
ATTEST_DIR = ".parcel-attest"
INPUTS_DIR = os.path.join(ATTEST_DIR, "inputs")
_KEY = re.compile(r"[A-Za-z0-9_]+")


def _grading() -> bool:
    return bool(os.environ.get("PARCEL_GRADING"))


def _check_key(key):
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"key should be letters, digits and underscores, got {key!r}.")


#: The entry-point group under which the instructor's distribution registers its checks.
REGISTRY_ENTRY_POINT = "parcel_utils.registry"


def _instructor():
    """The instructor's registry, where it is installed (never inside a grading sandbox).

    Found as a plugin (the entry point :data:`REGISTRY_ENTRY_POINT` that the
    instructor's distribution registers), so that this package imports
    nothing of the instructor's by name: it is a leaf, and a student's
    install, which has no such entry point, gets ``None``.
    """
    for ep in entry_points(group=REGISTRY_ENTRY_POINT):
        try:
            registry = ep.load()
        except Exception:   # noqa: BLE001 - metadata without its package (a sandbox hides it): not installed
            continue
        if callable(getattr(registry, "find", None)):
            return registry
    return None


def encode_value(value):
    """A JSON-able record of a returned value: numbers and arrays of numbers, exactly (floats by repr).

    Example
    -------
    >>> encode_value([1, 2])["data"]
    [1, 2]
    """
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
    """The array an :func:`encode_value` record stands for (``ValueError`` if it stands for none).

    Example
    -------
    >>> decode_value(encode_value([[1.5, 2]])).shape
    (1, 2)
    """
    if not isinstance(record, dict) or "data" not in record or "shape" not in record:
        what = (record or {}).get("type", "?") if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"not a number or an array of numbers ({what})")
    shape = tuple(int(s) for s in record["shape"])
    data = np.asarray(record["data"], dtype=float)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{data.size} values for shape {shape}")
    return data.reshape(shape)


def load_cases(key):
    """The inputs of the check ``key``: ``[(args, kwargs, label), ...]``.

    Read from the file the grader wrote beside the notebook; in the
    instructor's environment, built by the instructor's registry.
    """
    _check_key(key)
    path = Path(INPUTS_DIR) / f"{key}.pkl"
    if path.is_file():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    registry = _instructor()
    if registry is None or _grading():
        raise RuntimeError(f"attest({key!r}): this hidden test runs only while the notebook is graded "
                           "(the grader gives its inputs); run the visible tests instead.")
    return registry.find(key).cases()


def _publish(mime, payload, text):
    try:
        from IPython.display import publish_display_data   # optional: may be missing
    except ImportError:   # plain Python: nothing to publish to
        return
    publish_display_data({mime: payload, "text/plain": text})


def attest(key, student_fn):
    """Run the hidden test of value ``key`` on ``student_fn``; the grader decides outside the kernel.

    Parameters
    ----------
    key : str
        A check of the instructor's registry (letters, digits, ``_``).
    student_fn : callable
        The student's function (or a small wrapper around it, written in the
        test cell), called as ``student_fn(*args, **kwargs)`` on each case.

    Example
    -------
    >>> attest("relu", relu)  # doctest: +SKIP
    """
    cases = load_cases(key)
    records = [encode_value(student_fn(*args, **kwargs)) for args, kwargs, _label in cases]
    if _grading():
        _publish(ATTEST_MIME, {"key": key, "values": records}, f"(attested: {key})")
        return
    registry = _instructor()
    if registry is not None:       # the instructor's run: fail here as the grader would
        why = registry.find(key).verify(records)
        if why:
            raise AssertionError(why)


def attest_model(key, model, record=None):
    """Run the hidden test ``key`` of a Keras model; the grader loads the saved model and checks it.

    While graded, saves ``model`` as ``.parcel-attest/<key>.keras`` beside the
    notebook and publishes that it did.  The grader checks the file in a
    sandboxed process of its own, in which no student code has run (Keras'
    safe mode; only Keras' and this package's layers).

    Parameters
    ----------
    key : str
        A model check of the instructor's registry.
    model : keras.Model
    record : numbers, optional
        What the kernel knows about the model and the file does not (its
        training history, say), published with the key.

    Example
    -------
    >>> attest_model("scratch_cnn", scratch_model)  # doctest: +SKIP
    """
    _check_key(key)
    published = {"key": key}
    if record is not None:
        published["record"] = encode_value(record)
    if _grading():
        os.makedirs(ATTEST_DIR, exist_ok=True)
        model.save(os.path.join(ATTEST_DIR, key + ".keras"))   # the grader reads the file the key names
        _publish(ATTEST_MODEL_MIME, published, f"(model attested: {key})")
        return
    registry = _instructor()
    if registry is None:
        raise RuntimeError(f"attest_model({key!r}): this hidden test runs only while the notebook is graded.")
    why = registry.find(key).verify_model(model, published.get("record"))
    if why:
        raise AssertionError(why)


# -- helpers a hidden test cell uses to turn what the student's code returned into numbers ------------

def swapped_global(fn, name, replacement, *args):
    """Call ``fn(*args)`` with the global ``name`` of its module replaced by ``replacement`` for the call.

    Shows that ``fn`` goes through ``name`` (e.g. ``tanh_from_sigmoid``
    through the student's ``sigmoid``): with another function there, it must
    follow.

    Example
    -------
    >>> def double(x): return 2 * x
    >>> def twice_double(x): return double(double(x))
    >>> swapped_global(twice_double, "double", lambda x: x + 1, 1)
    3
    """
    g = fn.__globals__
    missing = object()
    old = g.get(name, missing)
    g[name] = replacement
    try:
        return fn(*args)
    finally:
        if old is missing:
            del g[name]
        else:
            g[name] = old


class ToyPosteriors:
    """A NumPy stand-in for a classifier in the TTA tests: ``softmax(flatten(b) @ W + c)``.

    Fixed random weights, no Keras, and not invariant to any symmetry of the
    square, so that every transform changes its posteriors.  Called like a
    Keras model: ``predict(batch, verbose=0)``, ``batch_size`` accepted and
    ignored.

    Example
    -------
    >>> m = ToyPosteriors(0, (4, 4, 1), 3)
    >>> p = m.predict(np.ones((2, 4, 4, 1)))
    >>> p.shape, np.allclose(p.sum(axis=1), 1)
    ((2, 3), True)
    """

    def __init__(self, seed, shape, classes):
        rng = np.random.default_rng(int(seed))
        self.shape, self.classes = tuple(int(s) for s in shape), int(classes)
        self.W = rng.normal(scale=2.0, size=(int(np.prod(self.shape)), self.classes))
        self.c = rng.normal(size=self.classes)

    def predict(self, batch, batch_size=None, verbose=0):
        b = np.asarray(batch, dtype=np.float64)
        if b.shape[1:] != self.shape:
            raise ValueError(f"the toy model takes batches (N, {', '.join(map(str, self.shape))}), got {b.shape}.")
        z = b.reshape(len(b), -1) @ self.W + self.c
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    __call__ = predict

    def __repr__(self):
        return f"ToyPosteriors({self.shape}, {self.classes} classes)"


__all__ += ["swapped_global", "ToyPosteriors"]


# -- 03_handcrafted: what a hidden test cell reads of the student's scikit-learn objects --------------
# (numbers only: the grader compares them with what it computes itself)

def fitted_attribute_count(model):
    """How many fitted attributes (scikit-learn's ``name_`` convention) the steps of ``model`` hold: 0 unfitted.

    Example
    -------
    >>> from sklearn.preprocessing import StandardScaler
    >>> fitted_attribute_count(StandardScaler()), fitted_attribute_count(StandardScaler().fit([[0.0], [1.0]])) > 0
    (0, True)
    """
    return sum(1 for est in fitted_steps(model) for k in vars(est) if k.endswith("_") and not k.startswith("_"))


def knn_model(n_neighbors):
    """A k-nearest-neighbour classifier: the ``make_model`` a hyper-parameter test passes (whatever the exercises are).

    Example
    -------
    >>> knn_model(3).n_neighbors
    3
    """
    from sklearn.neighbors import KNeighborsClassifier   # scikit-learn: heavy
    return KNeighborsClassifier(n_neighbors=n_neighbors)


def selection_record(select_fn, make_model, grid, *data):
    """``select_fn(make_model, grid, *data)`` as one array: the scores in grid order, then the index of the best.

    The index is that of the first dict of ``grid`` equal to the returned best
    parameters (-1 if none is).

    Example
    -------
    >>> pick_first = lambda make, grid, *data: (grid[0], [0.5] * len(grid))
    >>> selection_record(pick_first, None, [{"k": 1}, {"k": 2}]).tolist()
    [0.5, 0.5, 0.0]
    """
    best, scores = select_fn(make_model, grid, *data)
    index = next((i for i, p in enumerate(grid) if p == best), -1)
    return np.r_[np.asarray(scores, dtype=float).ravel(), float(index)]


def fit_fingerprint(model):
    """What the leakage check reads of a fitted model, as one array.

    ``[n_seen, d, mean (d), scale (d), n_rows, stored rows (n_rows x d)]``:
    the first ``StandardScaler``'s row count, mean and scale (``n_seen = -1``
    without one), then the rows its final estimator stores
    (``support_vectors_`` or ``_fit_X``; ``n_rows = -1`` without any).  The
    steps between the scaler and the final estimator must be none: the
    grader reapplies the scaler alone.

    Example
    -------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> m = make_pipeline(StandardScaler(), KNeighborsClassifier(1)).fit([[0.0], [2.0]], [0, 1])
    >>> fit_fingerprint(m).tolist()
    [2.0, 1.0, 1.0, 1.0, 2.0, -1.0, 1.0]
    """
    steps = fitted_steps(model)
    scaler = next((e for e in steps[:-1] if hasattr(e, "n_samples_seen_") and getattr(e, "mean_", None) is not None
                   and getattr(e, "scale_", None) is not None), None)
    if scaler is not None and steps.index(scaler) != len(steps) - 2:
        raise AssertionError("the pipeline should be a StandardScaler, then the classifier (no step in between).")
    head = [-1.0, 0.0] if scaler is None else [float(np.max(scaler.n_samples_seen_)), float(len(scaler.mean_)),
                                               *np.asarray(scaler.mean_, float), *np.asarray(scaler.scale_, float)]
    stored = getattr(steps[-1], "support_vectors_", None)
    if stored is None:
        stored = getattr(steps[-1], "_fit_X", None)
    tail = [-1.0] if stored is None or np.ndim(stored) != 2 else [float(len(stored)), *np.asarray(stored, float).ravel()]
    return np.asarray(head + tail, dtype=float)


def accuracy_record(accuracy, params):
    """``[accuracy, C, gamma]`` of a final model (``params``: the chosen ``best_params``).

    Example
    -------
    >>> accuracy_record(0.875, {"C": 30.0, "gamma": 0.03}).tolist()
    [0.875, 30.0, 0.03]
    """
    return np.asarray([float(accuracy), float(params["C"]), float(params["gamma"])], dtype=float)


__all__ += ["fitted_attribute_count", "knn_model", "selection_record", "fit_fingerprint", "accuracy_record"]
