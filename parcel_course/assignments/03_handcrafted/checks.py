"""The graded checks of 03_handcrafted (notebook ``handcrafted``).

Exercises 1 to 6 (the features) are called on maps no split of the course's
dataset holds: the package ships the features of the dataset's maps
(``parcel_utils.data.load_features``), so a hidden map must not be one of
them.  Each check of a feature draws ``n`` maps from the dataset's generator
with the check's own seed (``generate_parcels("val", n, seed=seed)``; the
dataset is seed 0), after the notebook's shapes of known geometry (a
rectangle, a disc, rectangles rotated by 17 to 120 degrees, each with and
without dropout).  The exercises that take a footprint (5, 6) get the
reference footprint of each map, so that they do not depend on exercise 4;
the student writes the perimeter (scikit-image's 4-neighbourhood measure) and
the diagonals, checked to :data:`GEOMETRY_ATOL` px.

Exercises 8 to 10 (the classifier) are checked on small random problems
(8, 9) and, for the final model, from what the kernel publishes of it
(``compare="verify"``): its fit fingerprint, checked against the features of
the splits recomputed here with the reference code, and its test accuracy,
recomputed here from its ``C`` and ``gamma``.  Exercise 11's MLP is a saved
Keras model (:class:`ModelCheck`): the grader loads it and computes its
test accuracy on the same recomputed features (:func:`check_mlp_model`).

Example
-------
>>> [c.key for c in CHECKS][:3]
['average_height', 'area', 'area_pixel_mm']
"""
from __future__ import annotations

import numpy as np

from parcel_course.registry import Check, ModelCheck

from . import reference as ref
from parcel_utils.attest import knn_model
from parcel_utils.checks import check_accuracy_against_reference, check_equal, check_no_leakage, selection_verdict
from parcel_utils.data import SPLITS, generate_parcels, load_parcels
from parcel_utils.shapes import disc, rectangle, rotated_rectangle, with_dropout

ASSIGNMENT = "03_handcrafted"
NOTEBOOK = "handcrafted"

#: Tolerance (px, absolute) of exercises 5 (perimeter) and 6 (diagonals), hidden and visible alike.  Correct
#: implementations written another way (all pixels or the border, loops or arrays, centred coordinates,
#: a rotation matrix, float32) differ from the reference by less than 1e-4 px (at most 6e-5 px, float32,
#: on the hidden masks, the dataset's footprints and random blobs); the nearest wrong answers differ by
#: at least 0.2 px on some hidden mask (one border pixel given another length; a side without its + 1:
#: 1 px; angles every 0.5 degree, the exact minimum-area rectangle, the smallest-perimeter criterion).
GEOMETRY_ATOL = 1e-3

__all__ = ["ASSIGNMENT", "CHECKS", "GEOMETRY_ATOL", "parcel_map_cases", "known_shapes", "mask_perimeter",
           "mask_diagonals",
           "classifier_cases", "reference_classifier_predictions", "classifier_parameter_cases", "unfitted",
           "selection_cases", "reference_selection", "no_args", "split_features", "check_fit_on_train",
           "check_test_accuracy", "check_mlp_model"]


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed should be an int, got {seed!r}.")
    return np.random.default_rng(int(seed))


# ---------------------------------------------------------------- exercises 1 to 6: maps

def known_shapes():
    """``[(label, depth), ...]``: the notebook's shapes of known geometry, clean and with dropout.

    The shapes are :mod:`parcel_utils.shapes`'s, the ones the notebook's visible tests draw.

    Example
    -------
    >>> [label for label, _ in known_shapes()][:2]
    ['the 40 x 20 px rectangle', 'the disc of radius 15 px']
    """
    clean = [("the 40 x 20 px rectangle", rectangle()), ("the disc of radius 15 px", disc())]
    clean += [(f"the rectangle rotated by {deg:g} degrees", rotated_rectangle(degrees=deg))
              for deg in (30.0, 17.0, 45.0, 120.0)]
    return clean + [(f"{label} with dropout", with_dropout(d, seed=i)) for i, (label, d) in enumerate(clean)]


def parcel_map_cases(seed, n=25, split="val", footprint=False, kwargs=None, shapes=True):
    """The notebook's shapes (``shapes``), then ``n`` maps rendered with the dataset's generator and seed ``seed``.

    The maps are ``generate_parcels(split, n, seed=seed)``: the same kind of
    maps as the split's, but not the dataset's (seed 0), so that the shipped
    feature table knows none of them.  With ``footprint``, a case holds the
    reference footprint of the map instead (what the exercises that take a
    mask are given); ``kwargs`` are literal keyword arguments of every call.

    Example
    -------
    >>> [label for _, _, label in parcel_map_cases(301, n=2, shapes=False)]
    ["map 0 of generate_parcels('val', seed=301)", "map 1 of generate_parcels('val', seed=301)"]
    """
    if split not in SPLITS:
        raise ValueError(f"split should be one of {list(SPLITS)}, got {split!r}.")
    _seed(seed)
    seed = int(seed)
    if seed == 0:
        raise ValueError("seed should not be 0: seed 0 is the course's dataset, whose features the package ships.")
    kwargs = dict(kwargs or {})
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    X, _ = generate_parcels(split, int(n), seed=seed)
    maps = [(label, d) for label, d in known_shapes()] if shapes else []
    maps += [(f"map {i} of generate_parcels({split!r}, seed={seed})", X[i]) for i in range(len(X))]
    if footprint:
        return [((ref.footprint(d),), dict(kwargs), f"the footprint of {label}{extra}") for label, d in maps]
    return [((d,), dict(kwargs), f"{label}{extra}") for label, d in maps]


def mask_perimeter(mask):
    """``features.perimeter`` of a footprint given as a mask (exercise 5 takes the mask, not the map).

    scikit-image's ``perimeter(mask, neighborhood=4)``: what the student writes
    in NumPy (border pixels, a 3 x 3 code, a length per code) is checked against it.

    Example
    -------
    >>> m = np.zeros((64, 64), bool); m[10:30, 5:45] = True
    >>> mask_perimeter(m)
    116.0
    """
    from skimage.measure import perimeter   # lazy: scikit-image takes 0.5 s; only this check needs it
    mask = np.asarray(mask, dtype=bool)
    return float(perimeter(mask, neighborhood=4)) if mask.any() else 0.0


def mask_diagonals(mask):
    """``features.diagonals`` of a footprint given as a mask: ``(length, width, diagonal)`` in px.

    Example
    -------
    >>> m = np.zeros((64, 64), bool); m[10:30, 5:45] = True
    >>> [round(v, 3) for v in mask_diagonals(m)]
    [40.0, 20.0, 44.721]
    """
    length, width = ref._obb(np.asarray(mask, dtype=bool))
    return length, width, float(np.hypot(length, width))


# ---------------------------------------------------------------- exercises 8 and 9: small random problems

def _toy_problem(rng, n=200, scales=(1, 10, 100, 1000)):
    A = rng.normal(size=(n, len(scales))) * np.asarray(scales, dtype=float)
    return A, (A[:, 0] + A[:, 1] / 10 > 0).astype(int)


def classifier_cases(seed=308, n=3):
    """``(A_train, b_train, A_query, C, gamma)``: features on scales 1 to 1000 (scaling matters).

    The first case is the former in-kernel test's (150 training rows, 50
    queries, ``C=3, gamma=0.2``); then ``n`` more with drawn ``C`` and ``gamma``.

    >>> [(len(a[0]), a[3], a[4]) for a, _, _ in classifier_cases(308, n=0)]
    [(150, 3.0, 0.2)]
    """
    rng = _seed(seed)
    A, b = _toy_problem(rng)
    cases = [((A[:150], b[:150], A[150:], 3.0, 0.2), {}, "random data on scales 1 to 1000, C=3, gamma=0.2")]
    for _ in range(n):
        A, b = _toy_problem(rng)
        C, gamma = float(10 ** rng.uniform(-1, 2)), float(10 ** rng.uniform(-2, 0))
        cases.append(((A[:150], b[:150], A[150:], C, gamma), {}, f"random data, C={C:.3g}, gamma={gamma:.3g}"))
    return cases


def reference_classifier_predictions(A_train, b_train, A_query, C, gamma):
    """What ``make_classifier(C, gamma).fit(A_train, b_train).predict(A_query)`` should give."""
    # lazy: scikit-learn takes 1 s; only the classifier's checks need it
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler   # lazy: as above
    from sklearn.svm import SVC   # lazy: as above
    return Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C, gamma=gamma))]).fit(A_train, b_train).predict(A_query)


def classifier_parameter_cases(seed=308, n=3):
    """``(C, gamma)`` pairs: ``(3.0, 0.2)``, then ``n`` drawn (those of :func:`classifier_cases`)."""
    return [((a[3], a[4]), {}, f"C={a[3]:.3g}, gamma={a[4]:.3g}") for a, _, _ in classifier_cases(seed, n)]


def unfitted(C, gamma):
    """The expected ``fitted_attribute_count(make_classifier(C, gamma))``: no fitted attribute."""
    return 0


def selection_cases(seed=309, n=2):
    """``(knn_model, grid, F_train, y_train, F_val, y_val)``: the former in-kernel test's problem, then ``n`` drawn ones.

    ``make_model`` is :func:`parcel_utils.attest.knn_model` (a function the
    kernel can unpickle), so that the test does not depend on exercise 8.

    >>> args = selection_cases(309, n=0)[0][0]
    >>> [p["n_neighbors"] for p in args[1]], len(args[2]), len(args[4])
    ([1, 3, 7, 15, 40, 150], 200, 100)
    """
    rng = _seed(seed)
    A = rng.normal(size=(300, 3))
    b = (np.sin(3 * A[:, 0]) + A[:, 1] > 0).astype(int)
    grid = [{"n_neighbors": k} for k in (1, 3, 7, 15, 40, 150)]
    cases = [((knn_model, grid, A[:200], b[:200], A[200:], b[200:]), {}, "the toy problem, k in (1, 3, 7, 15, 40, 150)")]
    for _ in range(n):
        A = rng.normal(size=(240, 4))
        b = (A[:, 0] * A[:, 1] + 0.3 * rng.normal(size=240) > 0).astype(int)
        ks = sorted({int(k) for k in rng.integers(1, 60, size=5)})
        cases.append(((knn_model, [{"n_neighbors": k} for k in ks], A[:160], b[:160], A[160:], b[160:]), {},
                      f"a random problem, k in {tuple(ks)}"))
    return cases


def reference_selection(make_model, grid, F_train, y_train, F_val, y_val):
    """What ``selection_record`` should give: the validation accuracies, then the first arg-max."""
    scores = [float(make_model(**p).fit(F_train, y_train).score(F_val, y_val)) for p in grid]
    return np.r_[scores, float(np.argmax(scores))]


# ---------------------------------------------------------------- exercise 10: the final model

def no_args(seed=0):
    """One case without arguments, for a test of values the notebook sets (``seed`` is unused)."""
    return [((), {}, "the values you set")]


_SPLIT_FEATURES = {}


def split_features(split):
    """``(F, y)`` of a split: the features the package ships, recomputed with the reference code (cached).

    ``F`` is ``feature_table(split)`` (``feature_matrix`` rounded to float32)
    as float64: the values ``parcel_utils.data.load_features(split)``
    returns, without reading the shipped file.
    """
    if split not in _SPLIT_FEATURES:
        X, y, _ = load_parcels(split, progress=False)
        _SPLIT_FEATURES[split] = (ref.feature_matrix(X).astype(np.float32).astype(np.float64), np.asarray(y))
    return _SPLIT_FEATURES[split]


def warm():
    """The three splits' features (:func:`split_features`), computed in this process (see ``registry.warm``)."""
    for split in ("train", "val", "test"):
        split_features(split)


class _Fingerprinted:
    """A stand-in for a fitted scaler or classifier, rebuilt from ``fit_fingerprint`` (grader side)."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


def check_fit_on_train(record, name="final_model"):
    """``check_no_leakage`` on a ``fit_fingerprint``, against the splits' features computed here."""
    v = np.asarray(record, dtype=float).ravel()
    try:
        n_seen, d = int(v[0]), int(v[1])
        pos, steps = (2 + 2 * d, []) if n_seen >= 0 else (2, [])
        if n_seen >= 0:
            steps.append(_Fingerprinted(n_samples_seen_=n_seen, mean_=v[2:2 + d], scale_=v[2 + d:2 + 2 * d]))
        n_rows = int(v[pos])
        rows = v[pos + 1:]
        if n_rows >= 0:
            rows = rows.reshape(n_rows, -1) if n_rows else rows.reshape(0, max(d, 1))
            steps.append(_Fingerprinted(support_vectors_=rows))
        elif rows.size:
            raise ValueError("values after the end")
    except (IndexError, ValueError) as exc:
        raise AssertionError(f"{name}: the fingerprint of the fitted model is malformed ({exc}).") from None
    if not steps:
        steps.append(_Fingerprinted())
    F_train, F_val, F_test = (split_features(s)[0] for s in ("train", "val", "test"))
    check_no_leakage(_Fingerprinted(steps=[(str(i), s) for i, s in enumerate(steps)]), F_test, F_train, F_val,
                     name=name)


def check_test_accuracy(record, assignment=ASSIGNMENT, key="test_accuracy", tolerance=0.05):
    """The test accuracy of an ``accuracy_record``, computed again here from its ``C`` and ``gamma``.

    Fits ``Pipeline(StandardScaler, SVC(C, gamma))`` on the features of the
    training split (or of training + validation, the other fit
    ``check_no_leakage`` allows), predicts the test split, and checks that the
    reported accuracy is that model's and that it is within ``tolerance`` of
    the reference solution's (``reference_metrics.json``).
    """
    v = np.asarray(record, dtype=float).ravel()
    if v.shape != (3,) or not np.all(np.isfinite(v)) or v[1] <= 0 or v[2] <= 0:
        raise AssertionError(f"the record of the final model should be [accuracy, C > 0, gamma > 0], got {v.tolist()}.")
    acc, C, gamma = v
    (F_train, y_train), (F_val, y_val), (F_test, y_test) = (split_features(s) for s in ("train", "val", "test"))
    fits = {"training": (F_train, y_train), "training + validation": (np.vstack([F_train, F_val]), np.r_[y_train, y_val])}
    computed = {}
    for what, (F, y) in fits.items():
        computed[what] = float(np.mean(reference_classifier_predictions(F, y, F_test, C, gamma) == y_test))
        if abs(computed[what] - acc) <= 1e-9:
            check_accuracy_against_reference(computed[what], assignment, key, tolerance=tolerance)
            return
    raise AssertionError(
        f"test_accuracy ({acc:.4f}) is not the test accuracy of make_classifier(C={C:g}, gamma={gamma:g}) fitted "
        f"on the training split ({computed['training']:.4f}) nor on training + validation "
        f"({computed['training + validation']:.4f}): compute it from final_model's predictions on F_test.")


# ---------------------------------------------------------------- exercise 11: the MLP (a saved Keras model)

def _flat_layers(model):
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_flat_layers(layer))
    return out


def _to_numpy(x):
    import keras   # lazy: Keras imports TensorFlow (seconds); only the MLP's check needs it
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def check_mlp_model(model, record, assignment=ASSIGNMENT, key="mlp_test_accuracy", tolerance=0.05,
                    name="mlp_model"):
    """Exercise 11's MLP, from the saved model and ``record = [mlp_test_accuracy, *val_loss history]``.

    On the features of the splits computed here (:func:`split_features`, the
    values ``load_features`` returns): one input per feature and one softmax
    output per class; a ``keras.layers.Normalization`` layer adapted on the
    training rows (or training + validation: never the test rows); the best
    recorded ``val_loss`` is the model's loss on the validation split (early
    stopping restored the best epoch; a history that is the loss on the test
    split is named); ``mlp_test_accuracy`` is the model's accuracy on the test
    split (within two maps); and that accuracy is at most ``tolerance`` below
    the reference solution's (``reference_metrics.json``, key ``key``).

    Example
    -------
    >>> check_mlp_model(mlp_model, [0.87, 0.41, 0.33, 0.30])  # doctest: +SKIP
    """
    import keras   # lazy: Keras imports TensorFlow (seconds); only the MLP's check needs it
    v = np.asarray(record, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)):
        raise AssertionError(f"the record of {name} should be [mlp_test_accuracy, *mlp_history.history['val_loss']] "
                             f"(fit with validation_data=(F_val, y_val)), got {v.tolist()[:5]}.")
    reported, val_loss = float(v[0]), v[1:]
    (F_train, y_train), (F_val, y_val), (F_test, y_test) = (split_features(s) for s in ("train", "val", "test"))
    n_classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    check_equal(tuple(model.input_shape), (None, F_train.shape[1]),
                name=f"the input shape of {name} (one input per feature, the {F_train.shape[1]} shipped features)")
    check_equal(tuple(model.output_shape), (None, n_classes), name=f"the output shape of {name} (one per class)")
    norms = [layer for layer in _flat_layers(model) if isinstance(layer, keras.layers.Normalization)]
    if not norms:
        raise AssertionError(f"{name} should standardise its inputs itself: a keras.layers.Normalization layer, "
                             "adapted on F_train, right after the input.")
    mean = _to_numpy(norms[0].mean).ravel()
    fits = {"the training split": F_train, "training + validation": np.vstack([F_train, F_val]),
            "the test split": F_test, "training + test": np.vstack([F_train, F_test])}
    matched = [what for what, F in fits.items() if mean.shape == (F.shape[1],)
               and np.all(np.abs(mean - F.mean(axis=0)) <= 1e-3 * F.std(axis=0) + 1e-6)]
    if not matched or "test" in matched[0]:
        raise AssertionError(f"the Normalization layer of {name} was adapted on "
                             + (f"{matched[0]}: adapt it on F_train only" if matched else
                                "other rows than the training split: adapt it on F_train (norm.adapt(F_train))")
                             + ".")
    P_val, P_test = (np.asarray(model.predict(F.astype(np.float32), batch_size=512, verbose=0), dtype=np.float64)
                     for F in (F_val, F_test))
    for P, y in ((P_val, y_val), (P_test, y_test)):
        if P.shape != (len(y), n_classes) or not np.all(np.isfinite(P)):
            raise AssertionError(f"{name}.predict should give one row of {n_classes} class probabilities per map, "
                                 f"got shape {P.shape}.")
    if not np.allclose(P_test.sum(axis=1), 1.0, rtol=1e-3, atol=1e-3):
        raise AssertionError(f"the outputs of {name} should be probabilities (a softmax): each row sums to 1.")

    def crossentropy(P, y):
        return float(np.mean(-np.log(np.clip(P[np.arange(len(y)), y], 1e-7, 1 - 1e-7))))

    why = selection_verdict(float(val_loss.min()), crossentropy(P_val, y_val), crossentropy(P_test, y_test),
                             "val_loss", 0.02, name)
    if why:
        raise AssertionError(why + " (EarlyStopping(monitor='val_loss', restore_best_weights=True))")
    acc = float(np.mean(P_test.argmax(axis=1) == y_test))
    if abs(acc - reported) > 2.0 / len(y_test) + 1e-9:
        raise AssertionError(f"mlp_test_accuracy ({reported:.4f}) is not the test accuracy of {name} "
                             f"({acc:.4f}, from its predictions on F_test): compute it once, on F_test, y_test.")
    try:
        check_accuracy_against_reference(acc, assignment, key, tolerance=tolerance)
    except AssertionError as exc:
        raise AssertionError(f"the test accuracy of {name}, computed from its predictions: {exc}") from None


# ---------------------------------------------------------------- the checks, in the notebook's order

def _map_check(key, cell, seed, reference, **kw):
    return Check(key=key, notebook=NOTEBOOK, cell=cell, inputs=parcel_map_cases, seed=seed, reference=reference, **kw)


CHECKS = [
    _map_check("average_height", "test_average_height", 301, ref.average_height, compare="close", rtol=1e-4, atol=1e-6,
               name="average_height"),
    # the pair (pixels, mm²) is attested as one array of two numbers
    _map_check("area", "test_area", 302, ref.area, compare="close", rtol=1e-5, atol=1e-6, name="area"),
    _map_check("area_pixel_mm", "test_area", 302, ref.area, params={"kwargs": {"pixel_mm": 5.0}}, compare="close",
               rtol=1e-5, atol=1e-6, name="area"),
    _map_check("height_histogram", "test_height_histogram", 303, ref.height_histogram, compare="close", rtol=1e-5,
               atol=1e-6, name="height_histogram"),
    _map_check("height_histogram_bins", "test_height_histogram", 303, ref.height_histogram,
               params={"kwargs": {"bins": [0.0, 15.0, 30.0, 60.0, 120.0, 240.0, 700.0]}}, compare="close", rtol=1e-5,
               atol=1e-6, name="height_histogram"),
    _map_check("footprint", "test_footprint", 304, ref.footprint, compare="equal", name="footprint"),
    # exercises 5 and 6 take the reference footprint of each map: mask_perimeter(footprint(X)) is perimeter(X).
    # Both to GEOMETRY_ATOL px, the tolerance their text states and their visible tests use (see its comment).
    _map_check("perimeter", "test_perimeter", 305, mask_perimeter, params={"footprint": True},
               compare="close", rtol=0.0, atol=GEOMETRY_ATOL, name="perimeter"),
    # 60 maps: among them some whose smallest-perimeter rectangle is not the smallest-area one
    _map_check("diagonals", "test_diagonals", 306, mask_diagonals, params={"footprint": True, "n": 60},
               compare="close", rtol=0.0, atol=GEOMETRY_ATOL, name="diagonals"),
    Check(key="make_classifier", notebook=NOTEBOOK, cell="test_make_classifier", inputs=classifier_cases, seed=308,
          reference=reference_classifier_predictions, compare="equal", name="predictions of make_classifier(C, gamma)"),
    Check(key="make_classifier_unfitted", notebook=NOTEBOOK, cell="test_make_classifier",
          inputs=classifier_parameter_cases, seed=308, reference=unfitted, compare="equal",
          name="the fitted attributes of make_classifier(C, gamma) (it should return an unfitted pipeline)"),
    # each case as one array: the validation accuracies in grid order, then the index of the best parameters
    Check(key="select_hyperparameters", notebook=NOTEBOOK, cell="test_select_hyperparameters", inputs=selection_cases,
          seed=309, reference=reference_selection, compare="close", rtol=1e-5, atol=1e-6, name="select_hyperparameters"),
    Check(key="final_model_fit", notebook=NOTEBOOK, cell="test_no_leakage", inputs=no_args, seed=0,
          reference=check_fit_on_train, compare="verify", name="final_model"),
    Check(key="test_accuracy", notebook=NOTEBOOK, cell="test_test_accuracy", inputs=no_args, seed=0,
          reference=check_test_accuracy, compare="verify", name="test_accuracy"),
    # exercise 11: the saved MLP, with [mlp_test_accuracy, *val_loss] published by the kernel
    ModelCheck(key="mlp_model", notebook=NOTEBOOK, cell="test_mlp", verify_fn=check_mlp_model,
               params={"assignment": ASSIGNMENT, "key": "mlp_test_accuracy", "tolerance": 0.05}, record=True),
]
