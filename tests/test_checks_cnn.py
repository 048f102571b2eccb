"""Unit tests of 04_cnn's checks: the visible helpers (validation-split selection, disjoint rows) of
parcel_utils.checks, and the model verifiers of the registry (parcel_course/assignments/04_cnn/checks.py)."""
import numpy as np
import pytest

from parcel_course.assignments import load
from parcel_utils.checks import check_disjoint_rows, check_selected_on_validation


def test_check_disjoint_rows():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 4, 4, 1)).astype(np.float32)
    B = rng.normal(size=(10, 4, 4, 1)).astype(np.float32)
    check_disjoint_rows(A, B)
    with pytest.raises(AssertionError, match="2 sample"):
        check_disjoint_rows(np.concatenate([A, B[:2]]), B)
    with pytest.raises(ValueError, match="same size"):
        check_disjoint_rows(A, B[:, :2])


class _Model:
    """evaluate() returns a fixed loss per split, as a compiled Keras model would."""
    def __init__(self, losses):
        self.losses = losses

    def evaluate(self, X, y, verbose=0):
        return [self.losses[id(X)], 0.9]


def test_check_selected_on_validation():
    X_val, X_test = np.zeros(3), np.ones(3)
    model = _Model({id(X_val): 0.30, id(X_test): 0.45})
    check_selected_on_validation(model, {"val_loss": [0.5, 0.30, 0.31]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="test split"):
        check_selected_on_validation(model, {"val_loss": [0.6, 0.45]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="restore the best checkpoint"):
        check_selected_on_validation(model, {"val_loss": [0.6, 0.2]}, X_val, None, X_test, None)
    with pytest.raises(AssertionError, match="validation_data"):
        check_selected_on_validation(model, {"loss": [0.6]}, X_val, None, X_test, None)


# -- the model verifiers of 04 (attest_model runs them in the instructor's kernel; the grader on the saved file) --

def _solutions_of_04():
    """The notebook's own solution functions (make_augmentation ... prepare_fine_tuning), run outside a kernel."""
    from pathlib import Path
    import nbformat
    keras = pytest.importorskip("keras")
    from parcel_utils.augment import RandomHeightScale
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "source" / "04_cnn" / "cnn.ipynb", as_version=4)
    ns = {"np": np, "keras": keras, "layers": keras.layers, "RandomHeightScale": RandomHeightScale, "SEED": 0,
          "INPUT_SHAPE": (64, 64, 1), "NUM_CLASSES": 5}
    import ast
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ("make_augmentation", "build_scratch_cnn", "build_transfer_model", "prepare_fine_tuning"):
            exec(c.source, ns)
        elif c.cell_type == "code" and "def augmentation_or_fallback" in c.source:   # the given fallback, alone
            tree = ast.parse(c.source)
            tree.body = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
            exec(compile(tree, "augmentation_or_fallback", "exec"), ns)
    assert "augmentation_or_fallback" in ns
    return ns


def test_a_failed_exercise_1_gives_the_later_exercises_a_fallback(capsys):
    """A make_augmentation that raises: augmentation_or_fallback says so and gives an augmentation that exercise 2's
    check accepts (so exercises 2-5 keep their points), but that exercise 1's check does not."""
    ns = _solutions_of_04()
    cnn = load("04_cnn")
    good = ns["augmentation_or_fallback"](seed=1)
    assert good.name == "augmentation" and "fallback" not in capsys.readouterr().out

    def broken(seed=0):
        raise NotImplementedError()
    ns["make_augmentation"] = broken
    fallback = ns["augmentation_or_fallback"](seed=1)
    assert "using the given fallback" in capsys.readouterr().out
    assert fallback.name == "fallback_augmentation"
    cnn.check_scratch_cnn(ns["build_scratch_cnn"](fallback))
    with pytest.raises(AssertionError, match="layer types"):
        cnn.check_augmentation_model(fallback)


@pytest.fixture(scope="module")
def models_04():
    """(registry key, the reference's model, a wrong model, the message the wrong one gets), per structure check."""
    ns = _solutions_of_04()
    keras = ns["keras"]
    layers = keras.layers
    augmentation_layers = load("04_cnn", "reference").augmentation_layers
    from parcel_utils import augment
    from parcel_utils.backbone import load_backbone
    keras.utils.set_random_seed(1)
    # the pipeline before issue 25: a left-right flip makes maps the sensor cannot produce (shadows on -x)
    leftright = keras.Sequential([layers.RandomFlip("horizontal_and_vertical", seed=1),
                                  layers.RandomTranslation(0.05, 0.05, fill_mode="constant", interpolation="nearest"),
                                  layers.RandomZoom(0.1, 0.1, fill_mode="constant", interpolation="nearest"),
                                  augment.RandomHeightScale(0.1, seed=5)])
    scratch = ns["build_scratch_cnn"](augmentation_layers(seed=1))
    inp = keras.Input((64, 64, 1))                      # no augmentation at all
    bare = keras.Model(inp, layers.Dense(5, activation="softmax")(layers.GlobalAveragePooling2D()(
        layers.MaxPooling2D(2)(layers.Conv2D(8, 3)(inp)))))
    transfer = ns["build_transfer_model"](load_backbone("everyday-objects", input_shape=(64, 64, 1)))
    bb = load_backbone("everyday-objects", input_shape=(64, 64, 1))   # left trainable
    inp = keras.Input((64, 64, 1))
    unfrozen = keras.Model(inp, layers.Dense(5, activation="softmax")(bb(inp)))

    def fine(lr, bn_too=False):
        bb = load_backbone("everyday-objects", input_shape=(64, 64, 1), trainable=False)
        inp = keras.Input((64, 64, 1))
        m = keras.Model(inp, layers.Dense(5, activation="softmax")(bb(inp, training=False)))
        m = ns["prepare_fine_tuning"](m, bb, "block_15_expand", lr)
        if bn_too:
            for layer in bb.layers:
                layer.trainable = layer.trainable or isinstance(layer, layers.BatchNormalization)
        return m
    return [("augmentation", ns["make_augmentation"](seed=3), leftright, "the mode of RandomFlip"),
            ("scratch_cnn", scratch, bare, "augmentation layer"),
            ("transfer_model", transfer, unfrozen, "trainable parameters"),
            ("fine_tuning", fine(1e-4), fine(1e-4, bn_too=True), "trainable backbone layers")]


def test_the_student_package_holds_no_model_verifier():
    from parcel_utils import checks
    for name in ("check_augmentation_model", "check_scratch_cnn", "check_transfer_model", "check_fine_tuning",
                 "check_saved_selection", "check_model_accuracy", "_backbone_of", "_crossentropy"):
        assert not hasattr(checks, name), name


def test_the_model_checks_of_04_are_declared_with_their_params():
    from parcel_course.registry import find
    cnn = load("04_cnn")
    want = {"augmentation": (cnn.check_augmentation_model, {}, False, False),
            "scratch_cnn": (cnn.check_scratch_cnn, {"num_classes": 5}, False, False),
            "scratch_selection": (cnn.check_saved_selection, {"name": "scratch_model", "rtol": 0.02}, True, False),
            "scratch_model": (cnn.check_model_accuracy, {"assignment": "04_cnn", "key": "scratch_test_accuracy",
                                                         "tolerance": 0.05}, False, False),
            "transfer_model": (cnn.check_transfer_model, {"num_classes": 5}, False, False),
            "fine_tuning": (cnn.check_fine_tuning, {"first_trainable": "block_15_expand",
                                                    "max_learning_rate": 1e-4}, False, True),
            "small_transfer_model": (cnn.check_model_accuracy, {"assignment": "04_cnn",
                                                                "key": "transfer_small_test_accuracy",
                                                                "tolerance": 0.06}, False, False),
            "small_transfer_selection": (cnn.check_saved_selection, {"val_subset": [0.1, 1],
                                                                     "name": "small_transfer_model", "rtol": 0.02},
                                         True, False)}
    for key, (fn, params, record, compiled) in want.items():
        check = find(key)
        assert check.kind == "model" and check.notebook == "cnn", key
        assert (check.verify_fn, check.params, check.record, check.needs_compile) == (fn, params, record, compiled), key


@pytest.mark.slow
def test_model_structure_checks_pass_the_reference_and_fail_a_mistake(models_04):
    from parcel_course.registry import find
    for key, good, bad, message in models_04:
        check = find(key)
        assert check.verify_model(good) is None, key
        why = check.verify_model(bad)
        assert why and message in why, (key, why)


@pytest.mark.slow
def test_model_structure_checks_on_the_saved_files_in_one_process(models_04, tmp_path):
    """What the grader does: every model of a notebook saved, then checked by key in one fresh (sandboxed) process."""
    from parcel_course.limits import Limits
    from parcel_course.verify_model import verify_saved_models
    jobs, expect = [], []
    for key, good, bad, message in models_04:
        for which, model in (("good", good), ("bad", bad)):
            path = tmp_path / f"{key}_{which}.keras"
            model.save(path)
            jobs.append((path, key, None))
            expect.append(None if which == "good" else message)
    jobs.append((tmp_path / "missing.keras", "scratch_cnn", None))
    # a learning rate too high is read from the saved optimizer (the file is loaded compiled for this check)
    fine = models_04[3][1]
    fine.optimizer.learning_rate.assign(1e-2)
    fine.save(tmp_path / "fast.keras")
    jobs.append((tmp_path / "fast.keras", "fine_tuning", None))
    whys = verify_saved_models(jobs, Limits(cell_timeout=120))
    for (path, _, _), want, why in zip(jobs, expect, whys):
        if want is None:
            assert why is None, (path.name, why)
        else:
            assert why and want in why, (path.name, why)
    assert "no saved model" in whys[-2]
    assert whys[-1] and "learning rate" in whys[-1], whys[-1]


@pytest.mark.slow
def test_saved_selection_reads_the_history_published_with_the_model(tmp_path):
    """check_saved_selection: the best val_loss of the record must be the model's loss on the validation split."""
    keras = pytest.importorskip("keras")
    from parcel_course.registry import find
    check_saved_selection = load("04_cnn").check_saved_selection
    from parcel_utils.attest import encode_value
    from parcel_utils.data import load_parcels, stratified_subset
    X_test, y_test, _ = load_parcels("test", progress=False)
    X_val, y_val, _ = load_parcels("val", progress=False)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                              keras.layers.Rescaling(1 / 150), keras.layers.Dense(5, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(X_test[..., None], y_test, epochs=15, verbose=0)         # fitted on the test split: its loss is lower there
    loss_val = float(model.evaluate(X_val[..., None], y_val, verbose=0))
    loss_test = float(model.evaluate(X_test[..., None], y_test, verbose=0))
    assert loss_test < 0.95 * loss_val, (loss_val, loss_test)
    check_saved_selection(model, [loss_val * 1.3, loss_val, loss_val * 1.1], rtol=0.02)   # Keras' loss, recomputed
    with pytest.raises(AssertionError, match="is its loss on the test split"):
        check_saved_selection(model, [loss_test], rtol=0.02)
    with pytest.raises(AssertionError, match="is not its loss on the validation split"):
        check_saved_selection(model, [0.01], rtol=0.02)
    with pytest.raises(AssertionError, match="records no 'val_loss'"):
        check_saved_selection(model, [], rtol=0.02)
    idx = stratified_subset(y_val, 0.1, 1)
    loss_small = float(model.evaluate(X_val[idx][..., None], y_val[idx], verbose=0))
    check_saved_selection(model, [loss_small], val_subset=[0.1, 1], rtol=0.02)
    # the grader's side: the record comes with the key (encoded), the model from the saved file
    model.save(tmp_path / "sel.keras")
    saved = keras.saving.load_model(tmp_path / "sel.keras", compile=False, safe_mode=True)
    check = find("scratch_selection")
    assert check.verify_model(saved, encode_value([loss_val])) is None
    assert "is its loss on the test split" in check.verify_model(saved, encode_value([loss_test]))
    assert check.verify_model(saved, None) == "no attested record"
    assert find("small_transfer_selection").verify_model(saved, encode_value([loss_small])) is None
