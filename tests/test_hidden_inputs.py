"""Inputs and references of the attested hidden tests of 02_parameters and 03_handcrafted.

The grader rebuilds each hidden test's cases in its own process from the
generator and seed named in the instructor's test cell
(``parcel_utils.hidden_inputs``), so the generators must be deterministic,
reproduce the cases the hidden loops drew before they were attested, and (for
03) render exactly the maps of the dataset.  The last tests run every attest()
call of the two notebooks' test cells outside any kernel: the solutions'
functions pass, a function that is off by one fails.
"""
import ast
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import ndimage

from parcel_utils import data, features, hidden_inputs as H, models
from parcel_utils.checks import attest_cases, encode_value
from parcel_utils.course.integrity import parse_attest_calls, verify_one

ROOT = Path(__file__).resolve().parents[1]


def _same_cases(a, b):
    assert len(a) == len(b)
    for (args1, kw1, l1), (args2, kw2, l2) in zip(a, b):
        assert l1 == l2 and kw1 == kw2 and len(args1) == len(args2)
        for x, y in zip(args1, args2):
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
            elif isinstance(x, H.ToyPosteriors):
                assert x.W.tobytes() == y.W.tobytes() and x.c.tobytes() == y.c.tobytes()
            else:
                assert x == y


# -- determinism ----------------------------------------------------------------------------

@pytest.mark.parametrize("inputs, seed, params", [
    ("int_cases", 2021, {"n": 20, "high": 20, "size": 4, "bias": True}),
    ("int_cases", 12, {"n": 20, "high": 60, "size": 6}),
    ("output_shapes_cases", 0, {"n": 40}),
    ("cost_ratio_cases", 13, {"n": 20}),
    ("parcel_map_cases", 301, {}),
    ("parcel_map_cases", 305, {"footprint": True}),
    ("parcel_map_cases", 302, {"kwargs": {"pixel_mm": 5.0}}),
    ("tta_cases", 6, {}),
    ("mix_cases", 7, {}),
    ("neighbour_cases", 8, {}),
    ("lenet_cases", 7, {"n": 2}),
    ("model_cases", 200, {"n": 6, "named": ["vgg16"], "include_input": True}),
])
def test_generators_are_deterministic(inputs, seed, params):
    spec = f"parcel_utils.hidden_inputs:{inputs}"
    first, again = attest_cases(spec, seed, params), attest_cases(spec, seed, params)
    _same_cases(first, again)
    assert first
    other = attest_cases(spec, seed + 1, params)
    assert (_labels_and_bytes(other) != _labels_and_bytes(first))  # the seed matters


def _labels_and_bytes(cases):
    return [(label, *(a.tobytes() for a in args if isinstance(a, np.ndarray))) for args, _, label in cases]


def test_a_seed_must_be_an_int():
    with pytest.raises(ValueError, match="seed should be an int"):
        H.int_cases("2021")
    with pytest.raises(ValueError, match="split should be one of"):
        H.parcel_map_cases(301, split="validation")


# -- the cases the hidden loops drew before they were attested ----------------------------------

@pytest.mark.parametrize("seed, high, size, bias", [(2021, 20, 4, True), (2022, 5000, 2, True),
                                                     (11, 40, 4, True), (12, 60, 6, False)])
def test_int_cases_are_the_former_hidden_loops(seed, high, size, bias):
    rng = np.random.default_rng(seed)                 # the loop of the former hidden test, verbatim
    former = []
    for _ in range(20):
        args = tuple(int(v) for v in rng.integers(1, high, size=size))
        former += [(args, {"bias": b}) for b in (True, False)] if bias else [(args, {})]
    got = H.int_cases(seed, n=20, high=high, size=size, bias=bias)
    assert [(a, kw) for a, kw, _ in got] == former
    assert all(type(v) is int for a, _, _ in got for v in a)


def test_cost_ratio_cases_are_the_former_hidden_loop():
    rng = np.random.default_rng(13)
    former = []
    for _ in range(20):
        h, w, nf = (int(v) for v in rng.integers(1, 30, size=3))
        d, oh, ow = (int(v) for v in rng.integers(1, 100, size=3))
        former.append((h, w, nf, d, oh, ow))
    assert [a for a, _, _ in H.cost_ratio_cases(13)] == former


def test_output_shapes_cases():
    cases = H.output_shapes_cases(0, n=40)
    assert len(cases) == 44
    assert [a for a, _, _ in cases[4:]] == [models.random_stack(s) for s in range(40)]
    hand = [(a, H.output_shapes_flat(*a)) for a, _, _ in cases[:4]]
    # the values the former hidden test wrote by hand
    assert hand == [(((5, 5, 2), [("pool", 2)]), [3, 2, 2, 2]),
                    (((7, 9, 2), [("conv", 4, (3, 1), (2, 3), "same")]), [3, 4, 3, 4]),
                    (((6, 6, 1), [("pool", 3, 1)]), [3, 4, 4, 1]),
                    (((6, 6, 1), [("pool", 3, None, "same")]), [3, 2, 2, 1])]


def test_parcel_map_cases_pick_the_former_validation_maps():
    cases = H.parcel_map_cases(301)
    picked = np.random.default_rng(301).choice(1000, 25, replace=False)
    assert [label for _, _, label in cases] == [f"X_val[{i}]" for i in picked]
    masks = H.parcel_map_cases(301, footprint=True)
    for (args, kw, _), (margs, _, mlabel) in zip(cases, masks):
        assert kw == {} and len(args) == 1 and args[0].shape == (64, 64) and args[0].dtype == np.float32
        assert margs[0].dtype == bool and np.array_equal(margs[0], features.footprint(args[0]))
        assert mlabel.startswith("footprint(X_val[")
    with_kw = H.parcel_map_cases(302, n=3, kwargs={"pixel_mm": 5.0})
    assert all(kw == {"pixel_mm": 5.0} and label.endswith(", pixel_mm=5.0") for _, kw, label in with_kw)


# -- the maps are the dataset's, bit for bit ---------------------------------------------------

@pytest.fixture(scope="module")
def val():
    X, y, _ = data.load_parcels("val", progress=False)
    return X, y


def test_parcel_sample_is_load_parcels_bit_for_bit(val):
    X, y = val
    for i in range(len(X)):
        d, k = data.parcel_sample("val", i)
        assert d.dtype == X.dtype and d.tobytes() == X[i].tobytes(), i
        assert k == y[i]


def test_parcel_map_cases_are_the_validation_maps(val):
    X, _ = val
    for seed in range(301, 307):
        for (args, _, label) in H.parcel_map_cases(seed):
            i = int(label[len("X_val["):-1])
            assert args[0].tobytes() == X[i].tobytes(), (seed, label)


@pytest.mark.parametrize("split", ["train", "test"])
def test_parcel_sample_other_splits(split):
    X, y = data.generate_parcels(split, n=30)
    for i in (0, 7, 29):
        d, k = data.parcel_sample(split, i)
        assert d.tobytes() == X[i].tobytes() and k == y[i]
    d, _ = data.parcel_sample(split, 3, seed=5)
    assert d.tobytes() == data.generate_parcels(split, n=4, seed=5)[0][3].tobytes()


@pytest.mark.parametrize("index", [-1, 1000, 2.0, True, "3"])
def test_parcel_sample_rejects_a_bad_index(index):
    with pytest.raises(ValueError, match="index should be an int in"):
        data.parcel_sample("val", index)


# -- reference wrappers, on hand-checked cases ------------------------------------------------

def test_output_shapes_flat_by_hand():
    lenet = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
             ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]
    assert H.output_shapes_flat((32, 32, 1), lenet) == [3, 28, 28, 6, 3, 14, 14, 6, 3, 10, 10, 16, 3, 5, 5, 16,
                                                        1, 400, 1, 120, 1, 84, 1, 10]


def test_mult_adds_ratio_by_hand():
    # 3x3, 512 -> 512 on 14x14: 52,283,392 / 462,422,016 multiply-adds (the notebook's visible test)
    assert H.mult_adds_ratio(3, 3, 512, 512, 14, 14) == 52283392 / 462422016
    assert H.mult_adds_ratio(3, 3, 512, 512, 14, 14) == pytest.approx(1 / 512 + 1 / 9, rel=1e-12)
    assert H.mult_adds_ratio(1, 1, 1, 1, 1, 1) == 2.0                  # (1 + 1) / 1
    for (h, w, nf, d, oh, ow), _, _ in H.cost_ratio_cases(13):
        assert H.mult_adds_ratio(h, w, nf, d, oh, ow) == pytest.approx(models.separable_cost_ratio(h, w, nf),
                                                                        rel=1e-12)


def test_keras_models_give_the_signatures_and_counts_of_the_references():
    """What the kernel attests for the library's Keras models is what the grader counts without Keras."""
    pytest.importorskip("keras")
    for args, _, label in H.lenet_cases(7, n=3):
        assert np.array_equal(H.model_signature(models.build_lenet5(*args)), H.lenet_signature(*args)), label
    specs = [args[0] for args, _, _ in H.model_cases(100, n=8, named=("simple_cnn", "lenet5"))]
    for spec in specs:
        m = H.case_model(spec)
        assert H.stack_dense_share(spec) == pytest.approx(models.dense_share(m), rel=1e-12), spec
        for inc in (True, False):
            assert H.stack_activation_count(spec, inc) == models.activation_count(m, include_input=inc), spec
    assert H.rgb_counts() == [models.build_mlp((32, 32, 1)).count_params(), models.build_mlp((32, 32, 3)).count_params(),
                              models.build_lenet5((32, 32, 3)).count_params()]
    # a signature tells a wrong layer apart: max instead of average pooling, relu instead of tanh
    from keras import layers
    import keras
    wrong = keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(6, 5, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(16, 5, activation="tanh"),
                              layers.AveragePooling2D(2), layers.Flatten(), layers.Dense(120, activation="relu"),
                              layers.Dense(84, activation="relu"), layers.Dense(10, activation="softmax")])
    diff = H.model_signature(wrong) != H.lenet_signature()
    assert np.argwhere(diff).tolist() == [[0, 1], [1, 0]]


def test_vgg16_stack_is_the_lecture_s_vgg16():
    shape, layers = H.NAMED_STACKS["vgg16"]
    assert sum(models.stack_params(shape, layers)) == 138357544
    assert H.stack_activation_count("vgg16") == 15237608


def test_mask_perimeter_and_diagonals_by_hand():
    m = np.zeros((64, 64), bool)
    m[10:30, 5:45] = True                              # 20 x 40 px: 2 (19 + 39) = 116 px around the centres
    assert H.mask_perimeter(m) == 116.0
    assert H.mask_diagonals(m) == (40.0, 20.0, math.hypot(40, 20))
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    assert H.mask_diagonals(one) == (1.0, 1.0, math.sqrt(2))
    empty = np.zeros((8, 8), bool)
    assert H.mask_perimeter(empty) == 0.0 and H.mask_diagonals(empty) == (0.0, 0.0, 0.0)


def test_mix_and_neighbour_cases_are_the_former_hidden_draws():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 300, (12, 16, 16, 1)).astype("float32")
    y = np.eye(5)[rng.integers(0, 5, 12)]
    lam, perm = rng.beta(0.4, 0.4, 12), rng.permutation(12)
    _same_cases(H.mix_cases(7)[:1], [((x, y, lam, perm), {}, "12 random 16x16 maps, Beta(0.4, 0.4) weights")])
    rng = np.random.default_rng(8)
    A, Q = rng.normal(size=(300, 16)).astype("float32"), rng.normal(size=(250, 16)).astype("float32")
    args = H.neighbour_cases(8)[0][0]
    assert args[0].tobytes() == A.tobytes() and args[1].tobytes() == Q.tobytes() and args[2] == 3


def test_toy_posteriors_are_probabilities_that_no_symmetry_leaves_alone():
    from parcel_utils.augment import D4_TRANSFORMS
    (model, x, transforms), _, _ = H.tta_cases(6)[0]
    p = model.predict(x)
    assert p.shape == (7, 4) and p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(model(x), p)
    for t in D4_TRANSFORMS[1:]:
        assert not np.allclose(model.predict(t(x)), p, atol=1e-3), t.__name__
    with pytest.raises(ValueError, match="toy model takes batches"):
        model.predict(np.zeros((2, 4, 4, 1)))


def test_mask_references_are_the_features_of_the_maps(val):
    X, _ = val
    for i in np.random.default_rng(0).choice(len(X), 40, replace=False):
        fp = features.footprint(X[i])
        assert H.mask_perimeter(fp) == features.perimeter(X[i])
        assert H.mask_diagonals(fp) == features.diagonals(X[i])


# -- every attest() of 02 and 03, verified as the grader does, outside a kernel -----------------

def _notebook(assignment):
    return nbformat.read(next((ROOT / "source" / assignment).glob("*.ipynb")), as_version=4)


def _solutions(nb, namespace, keras_too=False):
    """The solution cells' functions, run in ``namespace`` (pure functions only, unless ``keras_too``: every cell)."""
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("solution") and (
                keras_too or ("def " in c.source and "keras" not in c.source)):
            exec(compile(c.source, meta["grade_id"], "exec"), namespace)
    return namespace


def _attest_calls(nb):
    """(test cell id, parsed spec, the student_fn expression's source) of every attest() call."""
    out = []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type != "code" or not meta.get("grade") or meta.get("solution") or "attest(" not in c.source:
            continue
        specs = iter(parse_attest_calls(c.source))
        for node in ast.walk(ast.parse(c.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "attest":
                out.append((meta["grade_id"], next(specs), ast.get_source_segment(c.source, node.args[1])))
    return out


def _published(fn, spec):
    return {"key": spec["key"],
            "values": [encode_value(fn(*a, **kw)) for a, kw, _ in attest_cases(spec["inputs"], spec["seed"],
                                                                                 spec.get("params"))]}


ATTESTED = {
    "02_parameters": {"test_conv2d_params": {"conv2d_params"}, "test_dense_params": {"dense_params"},
                      "test_output_shapes": {"output_shapes"},
                      "test_separable_params": {"depthwise_separable_params"},
                      "test_mult_adds": {"conv2d_mult_adds", "depthwise_separable_mult_adds"},
                      "test_cost_ratio": {"separable_cost_ratio"}, "test_lenet5_structure": {"build_lenet5"},
                      "test_lenet5_counts": {"build_lenet5"}, "test_mlp_rgb": {"mlp_rgb"},
                      "test_dense_share": {"dense_share"}, "test_activation_count": {"activation_count"}},
    "03_handcrafted": {"test_average_height": {"average_height"}, "test_area": {"area", "area_pixel_mm"},
                       "test_height_histogram": {"height_histogram", "height_histogram_bins"},
                       "test_footprint": {"footprint"}, "test_perimeter": {"perimeter"},
                       "test_diagonals": {"diagonals"},
                       "test_make_classifier": {"make_classifier", "make_classifier_unfitted"},
                       "test_select_hyperparameters": {"select_hyperparameters"},
                       "test_no_leakage": {"final_model_fit"}, "test_test_accuracy": {"test_accuracy"}},
    "04_cnn": {"test_tta_predict": {"tta_predict"}, "test_mix_samples": {"mix_samples_x", "mix_samples_y"},
               "test_nearest_neighbours_l1": {"nearest_neighbours_l1"}},
}


@pytest.mark.parametrize("assignment", sorted(ATTESTED))
def test_attested_checks_pass_with_the_solution_and_fail_off_by_one(assignment):
    nb = _notebook(assignment)
    ns = {"np": np, "math": math, "ndimage": ndimage, "PIXEL_MM": data.PIXEL_MM,
          "HEIGHT_BINS_MM": features.HEIGHT_BINS_MM}
    if assignment == "02_parameters":        # the Keras exercises, on the notebook's own VGG16
        keras = pytest.importorskip("keras")
        ns.update(keras=keras, layers=keras.layers, vgg16=models.vgg16_topology(), hidden_inputs=H)
    ns = _solutions(nb, ns, keras_too=assignment == "02_parameters")
    if assignment == "03_handcrafted":       # exercise 10 on the reference features: the grid, then the final model
        for split, part in (("train", "train"), ("val", "val"), ("test", "test")):
            ns[f"F_{part}"], ns[f"y_{part}"] = H.split_features(split)
        ns["hidden_inputs"] = H
        for c in nb.cells:
            if c.source.startswith("grid = ") or c.metadata.get("nbgrader", {}).get("grade_id") == "final_model":
                exec(c.source, ns)
    calls = _attest_calls(nb)
    found = {}
    for cell, spec, _ in calls:
        found.setdefault(cell, set()).add(spec["key"])
    assert found == ATTESTED[assignment]
    for cell, spec, fn_source in calls:
        assert "error" not in spec, spec
        fn = eval(fn_source, ns)                      # the solution's function, or the cell's lambda around it
        assert verify_one(spec, [_published(fn, spec)]) is None, (cell, spec["key"])
        wrong = _published(lambda *a, **kw: np.asarray(fn(*a, **kw), dtype=float) + 1, spec)
        why = verify_one(spec, [wrong])
        assert why and "on " in why, (cell, spec["key"], why)


# -- 03's exercise 10, checked from what the kernel publishes (compare="verify") -----------------

def _pipeline(C=30.0, gamma=0.03):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    return Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C, gamma=gamma))])


def test_fit_fingerprint_tells_the_fit_sets_apart():
    (F_train, y_train), (F_val, y_val), (F_test, y_test) = (H.split_features(s) for s in ("train", "val", "test"))
    H.check_fit_on_train(H.fit_fingerprint(_pipeline().fit(F_train, y_train)))
    H.check_fit_on_train(H.fit_fingerprint(_pipeline().fit(np.vstack([F_train, F_val]), np.r_[y_train, y_val])))
    with pytest.raises(AssertionError, match="training \\+ test rows"):
        H.check_fit_on_train(H.fit_fingerprint(_pipeline().fit(np.vstack([F_train, F_test]), np.r_[y_train, y_test])))
    # a scaler fitted on the training rows, an SVM given test rows: the stored rows give it away
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    scaler = StandardScaler().fit(F_train)
    svm = SVC().fit(scaler.transform(np.vstack([F_train[:500], F_test[:200]])), np.r_[y_train[:500], y_test[:200]])
    from sklearn.pipeline import Pipeline
    with pytest.raises(AssertionError, match="test row\\(s\\) are stored"):
        H.check_fit_on_train(H.fit_fingerprint(Pipeline([("scale", scaler), ("svm", svm)])))
    with pytest.raises(AssertionError, match="cannot check"):
        from sklearn.tree import DecisionTreeClassifier       # no scaler, no stored rows: nothing to read
        H.check_fit_on_train(H.fit_fingerprint(DecisionTreeClassifier().fit(F_train, y_train)))
    with pytest.raises(AssertionError, match="malformed"):
        H.check_fit_on_train(np.array([4000.0, 20.0, 1.0]))


def test_check_test_accuracy_recomputes_the_accuracy():
    (F_train, y_train), _, (F_test, y_test) = (H.split_features(s) for s in ("train", "val", "test"))
    acc = float(np.mean(_pipeline(30.0, 0.03).fit(F_train, y_train).predict(F_test) == y_test))
    H.check_test_accuracy(H.accuracy_record(acc, {"C": 30.0, "gamma": 0.03}))
    with pytest.raises(AssertionError, match="is not the test accuracy"):
        H.check_test_accuracy(H.accuracy_record(min(acc + 0.05, 1.0), {"C": 30.0, "gamma": 0.03}))
    with pytest.raises(AssertionError, match="below the reference"):   # a poor C, honestly reported
        bad = float(np.mean(_pipeline(1e-3, 1e-4).fit(F_train, y_train).predict(F_test) == y_test))
        H.check_test_accuracy(H.accuracy_record(bad, {"C": 1e-3, "gamma": 1e-4}))
    with pytest.raises(AssertionError, match="should be \\[accuracy"):
        H.check_test_accuracy(np.array([0.9, -1.0, 0.1]))


def test_verify_mode_through_the_grader_s_parser():
    src = ('attest("test_accuracy", lambda: hidden_inputs.accuracy_record(test_accuracy, best_params), '
           'inputs="parcel_utils.hidden_inputs:no_args", seed=0, '
           'reference="parcel_utils.hidden_inputs:check_test_accuracy", compare="verify", name="test_accuracy")')
    spec = parse_attest_calls(src)[0]
    assert spec["compare"] == "verify" and "error" not in spec
    why = verify_one(spec, [{"key": "test_accuracy", "values": [encode_value(np.array([0.99, 30.0, 0.03]))]}])
    assert why.startswith("`test_accuracy on the values you set`: test_accuracy (0.9900) is not"), why
    why = verify_one(spec, [{"key": "test_accuracy", "values": [encode_value("0.99")]}])
    assert "not a number" in why, why


def test_tanh_through_a_swapped_sigmoid_tells_the_two_ways_apart():
    """tanh_from_sigmoid is attested through another sigmoid: one that goes through sigmoid follows it."""
    ns = {"np": np}
    exec("def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"
         "def through(x):\n    return 2 * sigmoid(2 * x) - 1\n"
         "def through_too(x):\n    return sigmoid(2 * x) - sigmoid(-2 * x)\n"
         "def direct(x):\n    return np.tanh(x)\n", ns)
    x = np.linspace(-3, 3, 13)
    want = H.tanh_from_arctan_sigmoid(x)
    for name in ("through", "through_too"):     # any form of the identity built on sigmoid follows the swap
        np.testing.assert_allclose(H.swapped_global(ns[name], "sigmoid", H.arctan_sigmoid, x), want)
        np.testing.assert_allclose(ns[name](x), np.tanh(x))             # and the kernel's sigmoid is back
    assert not np.allclose(H.swapped_global(ns["direct"], "sigmoid", H.arctan_sigmoid, x), want)
