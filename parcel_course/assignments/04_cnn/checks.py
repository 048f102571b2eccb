"""The graded checks of 04_cnn (notebook ``cnn``).

Values (:class:`~parcel_course.registry.Check`): the pure functions of the
notebook, on inputs the grader draws here: ``tta_predict`` on a NumPy toy
classifier (:class:`parcel_utils.attest.ToyPosteriors`), ``mix_samples``'
virtual samples and labels, ``nearest_neighbours_l1``'s indices.  The
references are those of ``reference.py`` beside this file.

Models (:class:`~parcel_course.registry.ModelCheck`): the kernel saves each
Keras model a test cell names, and the grader runs one of the verifiers
below on the file, in a process of its own: the augmentation, the scratch
CNN, the transfer model, the fine-tuning (its optimizer is read), the
validation selection of the two trained models (with the ``val_loss``
history the kernel publishes with the model) and their test accuracies.

Example
-------
>>> [c.key for c in CHECKS if c.cell == "test_mix_samples"]
['mix_samples_x', 'mix_samples_y']
"""
from __future__ import annotations

import numpy as np

from parcel_utils.attest import ToyPosteriors
from parcel_utils.augment import AUGMENTATION_LAYER_TYPES, D4_TRANSFORMS
from parcel_utils.checks import (selection_verdict, check_accuracy_against_reference, check_close, check_equal,
                                 check_in_range)
from parcel_utils.keras_tools import flat_layers

from parcel_course.assignments import seeded_rng as _seed
from parcel_course.limits import GRADING_BUDGET
from parcel_course.registry import Check, ModelCheck

from . import reference as ref
from parcel_utils.data import load_parcels

ASSIGNMENT = "04_cnn"
NOTEBOOK = "cnn"

__all__ = ["ASSIGNMENT", "CHECKS", "tta_cases", "mix_cases", "mix_samples_x", "mix_samples_y", "neighbour_cases",
           "nearest_indices_l1", "check_augmentation_model", "check_scratch_cnn", "check_transfer_model",
           "check_fine_tuning", "check_saved_selection", "check_model_accuracy"]


# ---------------------------------------------------------------- inputs and reference wrappers (values)

def tta_cases(seed, n=7):
    """``(model, x, transforms)``: a :class:`ToyPosteriors` on ``n`` random 8x8 maps, with all 8
    symmetries of the square, three of them, three others; then one 12x12 map, 5 classes, one transform.

    >>> [label for _, _, label in tta_cases(6)][:1]
    ['7 random 8x8 maps, 8 transforms']
    """
    rng = _seed(seed)
    model = ToyPosteriors(int(rng.integers(2 ** 31)), (8, 8, 1), 4)
    x = rng.uniform(0, 1, (n, 8, 8, 1)).astype("float32")
    cases = [((model, x, tuple(tr)), {}, f"{n} random 8x8 maps, {len(tr)} transforms")
             for tr in (D4_TRANSFORMS, D4_TRANSFORMS[1:4], D4_TRANSFORMS[5:])]
    big = ToyPosteriors(int(rng.integers(2 ** 31)), (12, 12, 1), 5)
    x1 = rng.uniform(0, 300, (1, 12, 12, 1)).astype("float32")
    cases.append(((big, x1, (D4_TRANSFORMS[3],)), {}, "one 12x12 map, 5 classes, 1 transform"))
    return cases


def mix_cases(seed):
    """``(x, y_onehot, lam, perm)``: 12 random 16x16 maps of 5 classes with Beta(0.4, 0.4) weights, then
    6 maps with the weights 0 and 1 and a partner that is the sample itself.

    >>> [a[0].shape for a, _, _ in mix_cases(7)]
    [(12, 16, 16, 1), (6, 8, 8, 1)]
    """
    rng = _seed(seed)
    x = rng.uniform(0, 300, (12, 16, 16, 1)).astype("float32")
    y = np.eye(5)[rng.integers(0, 5, 12)]
    lam = rng.beta(0.4, 0.4, 12)
    perm = rng.permutation(12)
    x2 = rng.uniform(0, 300, (6, 8, 8, 1)).astype("float32")
    y2 = np.eye(3)[rng.integers(0, 3, 6)]
    lam2 = np.array([0.0, 1.0, 0.5, 0.0, 1.0, 0.25])
    perm2 = np.array([1, 0, 2, 5, 3, 4])
    return [((x, y, lam, perm), {}, "12 random 16x16 maps, Beta(0.4, 0.4) weights"),
            ((x2, y2, lam2, perm2), {}, "6 maps, weights 0, 1, 0.5 and 0.25, one sample its own partner")]


def mix_samples_x(x, y, lam, perm):
    """``mix_samples(...)[0]``: the virtual samples alone."""
    return ref.mix_samples(x, y, lam, perm)[0]


def mix_samples_y(x, y, lam, perm):
    """``mix_samples(...)[1]``: the virtual labels alone."""
    return ref.mix_samples(x, y, lam, perm)[1]


def neighbour_cases(seed):
    """``(train, query, k)``: 300 and 250 random 16-D features, k=3; then rounded 3-D features, full of ties, k=2.

    >>> [(a[0].shape, a[1].shape, a[2]) for a, _, _ in neighbour_cases(8)]
    [((300, 16), (250, 16), 3), ((50, 3), (20, 3), 2)]
    """
    rng = _seed(seed)
    A = rng.normal(size=(300, 16)).astype("float32")
    Q = rng.normal(size=(250, 16)).astype("float32")
    A2 = np.round(rng.normal(size=(50, 3)))
    Q2 = np.round(rng.normal(size=(20, 3)))
    return [((A, Q, 3), {}, "250 random queries among 300 16-D features, k=3"),
            ((A2, Q2, 2), {}, "20 queries among 50 rounded 3-D features (ties: lower index first), k=2")]


def nearest_indices_l1(train_features, query_features, k=1):
    """``nearest_neighbours_l1(...)[0]``: the indices alone, as the exercise returns them."""
    return ref.nearest_neighbours_l1(train_features, query_features, k=k)[0]


# ---------------------------------------------------------------- verifiers of the saved Keras models
# Run by attest_model in the instructor's kernel, and by the grader on the saved file (a process of its own).

def _val_maps(n):
    return load_parcels("val", progress=False)[0][:n, ..., None]


def check_augmentation_model(aug, n=16):
    """Exercise 1's augmentation: its layer types, from the sensor model, inactive at inference, label-preserving.

    The layers must be :data:`parcel_utils.augment.AUGMENTATION_LAYER_TYPES`
    in that order: an up-down flip only (``RandomFlip("vertical")``: the
    sensor's shadows fall on +x, so a left-right flip or a rotation makes maps
    it cannot produce), then translation 0.05 and zoom 0.1 with a constant
    fill of 0 and nearest interpolation, then the height gain 0.1; at
    inference the maps pass unchanged (also through a model's ``predict``);
    in training they change, stay >= 0, an empty belt stays empty, every
    height of a flat box stays within 10 % of the box's, and the shadow side
    of a step stays on +x (a map whose right half is the belt keeps its
    heights in the left half, give or take the translation and zoom).
    """
    import keras   # Keras/TensorFlow: seconds to import
    x = _val_maps(n)
    layers_ = list(getattr(aug, "layers", []))
    check_equal([type(layer).__name__ for layer in layers_], list(AUGMENTATION_LAYER_TYPES),
                name="the layer types of the augmentation")
    check_equal(getattr(layers_[0], "mode", None), "vertical",
                name="the mode of RandomFlip (up-down only: a left-right flip moves the sensor's shadows off +x)")
    check_close(np.asarray(aug(x, training=False)), x, name="augmentation(x, training=False) (inactive at inference)")
    inp = keras.Input(x.shape[1:])
    check_close(keras.Model(inp, aug(inp)).predict(x, verbose=0), x,
                name="a model's predict through the augmentation (inactive at inference)")
    out = np.asarray(aug(x, training=True))
    check_equal(bool(np.array_equal(out, x)), False, name="'the augmentation changed nothing in training'")
    check_equal(bool(np.all(out >= 0)), True, name="'all augmented heights are >= 0'")
    empty = np.zeros((4,) + x.shape[1:], "float32")
    check_close(np.asarray(aug(empty, training=True)), empty, name="an augmented empty belt (the fill must be 0)")
    for layer in layers_[1:3]:
        check_equal(layer.fill_mode, "constant", name=f"fill_mode of {type(layer).__name__}")
        check_equal(layer.interpolation, "nearest", name=f"interpolation of {type(layer).__name__}")
    check_close(layers_[3].factor, 0.1, name="the height gain factor")
    box = np.zeros((6,) + x.shape[1:], "float32")           # every augmented pixel: 0, or the box's height +- 10 %
    box[:, 20:40, 24:44] = np.linspace(30, 300, 6)[:, None, None, None]
    for a, b in zip(np.asarray(aug(box, training=True)), box):
        v = a[a > 0]
        check_in_range(float(v.min() / b.max()), 0.9 - 1e-4, 1.1 + 1e-4, name="augmented height / true height")
        check_in_range(float(v.max() / b.max()), 0.9 - 1e-4, 1.1 + 1e-4, name="augmented height / true height")
    left = np.zeros((8,) + x.shape[1:], "float32")          # heights in the left third only: no left-right flip or
    w = left.shape[2]                                        # rotation may carry them to the right third
    left[:, 8:-8, 4:w // 3] = 100.0
    moved = np.asarray(aug(left, training=True))[:, :, 2 * w // 3:]
    check_equal(bool(np.any(moved > 0)), False,
                name="'a map with heights in its left third only has heights in its right third after augmentation'")


_CONV_LAYER_TYPES = ("Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Dense")


def check_scratch_cnn(model, num_classes=5, min_params=20_000, max_params=200_000):
    """Exercise 2's CNN: an augmentation and the conv layers, a softmax of ``num_classes``, augmentation off at inference.

    The augmentation is whichever the model was built with (the student's
    exercise 1, or the notebook's fallback when exercise 1 fails): at least
    one Keras random-augmentation layer (``Random...``), inactive at inference.
    """
    check_equal(tuple(model.output_shape), (None, num_classes), name="the output shape")
    x = _val_maps(8)
    p = np.asarray(model.predict(x, verbose=0))
    check_close(p.sum(axis=1), np.ones(len(x)), rtol=1e-4, name="the sum of each output row (softmax)")
    names = {type(layer).__name__ for layer in flat_layers(model)}
    check_equal(any(t.startswith("Random") for t in names), True,
                name="'the model has an augmentation layer (Random...)'")
    for t in _CONV_LAYER_TYPES:
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
    """Exercise 4's model: the backbone a frozen layer of it, a new head of ``features * C + C`` trainable weights."""
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
    """Exercise 5: the backbone trainable from ``first_trainable`` on (BatchNorm frozen), a low learning rate.

    The notebook's graded transfer model is fine-tuned with the same recipe
    (the last blocks, from ``block_14_expand``, at 1e-4): the early blocks'
    general features stay frozen, as the lecture says.

    Reads the optimizer: its :class:`ModelCheck` loads the saved model compiled.
    """
    import keras   # Keras/TensorFlow: seconds to import
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


def _crossentropy(model, X, y, batch_size=256):
    """The mean sparse categorical cross-entropy of ``model.predict(X)`` (as Keras computes it on probabilities)."""
    p = np.asarray(model.predict(X, batch_size=batch_size, verbose=0), dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise AssertionError(f"the model should give one row of class scores per map, shape ({len(y)}, C); "
                             f"got {p.shape}.")
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    return float(np.mean(-np.log(np.clip(p[np.arange(len(y)), np.asarray(y)], 1e-7, 1 - 1e-7))))


def check_saved_selection(model, record, *, rtol, val_subset=None, monitor="val_loss", name="the model"):
    """The epoch of a saved model was chosen on the validation split: ``record`` is ``history.history[monitor]``.

    After ``fit`` with ``validation_data`` and the best checkpoint restored,
    the best recorded ``val_loss`` is the model's loss on the validation
    split (or on ``data.stratified_subset(y_val, *val_subset)``); if it is the
    loss on the test split instead, the test split chose the epoch.  The
    losses are the cross-entropy of the model's predictions, computed here
    from the dataset.
    """
    from parcel_utils.data import load_parcels, stratified_subset   # here: `load_parcels` is another name at module level
    h = np.asarray(record, dtype=np.float64).ravel()
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise AssertionError(f"the history of {name} records no {monitor!r}: pass validation_data=(X_val, y_val) "
                             "to fit.")
    X_val, y_val, _ = load_parcels("val", progress=False)
    X_test, y_test, _ = load_parcels("test", progress=False)
    if val_subset:
        idx = stratified_subset(y_val, *val_subset)
        X_val, y_val = X_val[idx], y_val[idx]
    why = selection_verdict(float(h.min()), _crossentropy(model, X_val[..., None], y_val),
                             _crossentropy(model, X_test[..., None], y_test), monitor, rtol, name)
    if why:
        raise AssertionError(why)


def check_model_accuracy(model, assignment, key, *, tolerance, split="test", batch_size=256):
    """A model's accuracy on a split of the parcel dataset, against the reference solution's.

    The maps go through ``model.predict`` (inference: augmentation and
    dropout inactive), the class is the arg-max of its output, and the
    accuracy is checked with :func:`parcel_utils.checks.check_accuracy_against_reference`,
    against the reference's accuracy at the budget graded kernels train at (``GRADING_BUDGET``).
    """
    X, y, _ = load_parcels(split, progress=False)
    out = np.asarray(model.predict(X[..., None], batch_size=batch_size, verbose=0))
    if out.shape[:1] != y.shape or out.ndim != 2:
        raise AssertionError(f"the model should give one row of class scores per map, shape ({len(y)}, C); "
                             f"got {out.shape}.")
    acc = float(np.mean(out.argmax(axis=1) == y))
    try:
        check_accuracy_against_reference(acc, assignment, key, tolerance=tolerance, budget=GRADING_BUDGET)
    except AssertionError as exc:
        raise AssertionError(f"the model's {split} accuracy, computed from its predictions: {exc}") from None
    return acc


# ---------------------------------------------------------------- the checks, in notebook order

def _model(key, cell, verify_fn, params=None, **kw):
    return ModelCheck(key, NOTEBOOK, cell, verify_fn, dict(params or {}), **kw)


CHECKS = [
    # exercise 1: layer types, an up-down flip only, fill and interpolation, factors, inactive at inference,
    # heights within 10 %, the shadow side kept on +x
    _model("augmentation", "test_make_augmentation", check_augmentation_model),
    # exercise 2: an augmentation (Random... layer), Conv2D, MaxPooling2D, GAP and Dense layers, a softmax,
    # 20k-200k parameters
    _model("scratch_cnn", "test_build_scratch_cnn", check_scratch_cnn, {"num_classes": 5}),
    # exercise 3: the best val_loss of the history is the model's loss on the validation split; the test accuracy
    _model("scratch_selection", "test_scratch_no_leakage", check_saved_selection,
           {"name": "scratch_model", "rtol": 0.02},
           record=True),
    _model("scratch_model", "test_scratch_accuracy", check_model_accuracy,
           {"assignment": ASSIGNMENT, "key": "scratch_test_accuracy", "tolerance": 0.05}),
    # exercise 4: a frozen backbone inside, a new head of 1280 x 5 + 5 trainable parameters
    _model("transfer_model", "test_build_transfer_model", check_transfer_model, {"num_classes": 5}),
    # exercise 5: trainable from block_15_expand on, BatchNormalization frozen, a learning rate <= 1e-4
    _model("fine_tuning", "test_prepare_fine_tuning", check_fine_tuning,
           {"first_trainable": "block_15_expand", "max_learning_rate": 1e-4}, needs_compile=True),
    # ... and on a backbone that was frozen layer by layer (Keras 3 ignores backbone.trainable = True there)
    _model("fine_tuning_layerwise", "test_prepare_fine_tuning", check_fine_tuning,
           {"first_trainable": "block_15_expand", "max_learning_rate": 1e-4}, needs_compile=True),
    # the fine-tuned 10 % transfer model: its test accuracy, and validated on the 10 % validation subset
    _model("small_transfer_model", "test_transfer_accuracy", check_model_accuracy,
           {"assignment": ASSIGNMENT, "key": "transfer_small_test_accuracy", "tolerance": 0.06}),
    _model("small_transfer_selection", "test_transfer_accuracy", check_saved_selection,
           {"val_subset": [0.1, 1], "name": "small_transfer_model", "rtol": 0.02}, record=True),
    # exercise 6: TTA of a NumPy toy classifier, the mean of the posteriors
    Check("tta_predict", NOTEBOOK, "test_tta_predict", tta_cases, 6, ref.tta_predict, compare="close",
          rtol=1e-5, atol=1e-6, name="tta_predict"),
    # exercise 7: mixup's virtual samples and labels
    Check("mix_samples_x", NOTEBOOK, "test_mix_samples", mix_cases, 7, mix_samples_x, compare="close",
          rtol=1e-5, atol=1e-3, name="x_mix"),
    Check("mix_samples_y", NOTEBOOK, "test_mix_samples", mix_cases, 7, mix_samples_y, compare="close",
          rtol=1e-5, atol=1e-6, name="y_mix"),
    # exercise 8: the indices of the k nearest training rows, exactly (ties: the lower index first)
    Check("nearest_neighbours_l1", NOTEBOOK, "test_nearest_neighbours_l1", neighbour_cases, 8, nearest_indices_l1,
          compare="equal", name="nearest_neighbours_l1"),
]
