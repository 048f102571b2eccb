"""The registry of 04_cnn (parcel_course/assignments/04_cnn/checks.py): every graded key of the notebook, declared once.

The input generators are deterministic and draw the cases the hidden tests
drew before they were attested; the cases travel to the kernel pickled, as
plain arrays, tuples and objects of the student package; each value check
passes on the reference's encoded outputs and on the notebook's solutions,
and fails on perturbed ones; every attest / attest_model call of the
notebook names a key this module declares for that very cell, and the other
way round.
"""
import ast
import pickle
from pathlib import Path

import nbformat
import numpy as np
import pytest

from parcel_course.assignments import load
from parcel_course.registry import Check, ModelCheck, all_checks, cell_checks, checks_of, find
from parcel_utils.attest import ToyPosteriors, encode_value
from parcel_utils.augment import D4_TRANSFORMS
from registry_helpers import check_graded_names_in_text, graded_names, labels_and_bytes, same_cases

ref, cnn = load("04_cnn", "reference"), load("04_cnn")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "source" / "04_cnn" / "cnn.ipynb"
VALUE_KEYS = ["tta_predict", "mix_samples_x", "mix_samples_y", "nearest_neighbours_l1"]
MODEL_KEYS = ["augmentation", "scratch_cnn", "scratch_selection", "scratch_model", "transfer_model", "fine_tuning",
              "fine_tuning_layerwise",
              "small_transfer_model", "small_transfer_selection"]


# -- the declarations ----------------------------------------------------------------------------

def test_the_module_declares_the_keys_of_04_once():
    assert cnn.ASSIGNMENT == "04_cnn"
    keys = [c.key for c in checks_of("04_cnn")]
    assert sorted(keys) == sorted(VALUE_KEYS + MODEL_KEYS) and len(set(keys)) == len(keys)
    assert all(c.notebook == "cnn" for c in cnn.CHECKS)
    assert [c.key for c in cnn.CHECKS if isinstance(c, Check)] == VALUE_KEYS
    assert [c.key for c in cnn.CHECKS if isinstance(c, ModelCheck)] == MODEL_KEYS
    everything = all_checks()                   # no key of 04 clashes with another assignment's
    assert all(everything[k] is find(k) for k in keys)


def test_the_value_checks_keep_their_seeds_and_tolerances():
    got = {c.key: (c.cell, c.inputs, c.seed, c.reference, c.compare, c.rtol, c.atol, c.name)
           for c in cnn.CHECKS if isinstance(c, Check)}
    assert got == {
        "tta_predict": ("test_tta_predict", cnn.tta_cases, 6, ref.tta_predict, "close", 1e-5, 1e-6, "tta_predict"),
        "mix_samples_x": ("test_mix_samples", cnn.mix_cases, 7, cnn.mix_samples_x, "close", 1e-5, 1e-3, "x_mix"),
        "mix_samples_y": ("test_mix_samples", cnn.mix_cases, 7, cnn.mix_samples_y, "close", 1e-5, 1e-6, "y_mix"),
        "nearest_neighbours_l1": ("test_nearest_neighbours_l1", cnn.neighbour_cases, 8, cnn.nearest_indices_l1,
                                  "equal", None, None, "nearest_neighbours_l1")}


# -- the generators ------------------------------------------------------------------------------

@pytest.mark.parametrize("generator, seed", [(cnn.tta_cases, 6), (cnn.mix_cases, 7), (cnn.neighbour_cases, 8)])
def test_generators_are_deterministic_and_the_seed_matters(generator, seed):
    first, again = generator(seed), generator(seed)
    assert first
    same_cases(first, again)
    assert labels_and_bytes(generator(seed + 1)) != labels_and_bytes(first)


def test_a_seed_must_be_an_int():
    with pytest.raises(ValueError, match="seed should be an int"):
        cnn.mix_cases("7")


def test_mix_and_neighbour_cases_are_the_former_hidden_draws():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 300, (12, 16, 16, 1)).astype("float32")
    y = np.eye(5)[rng.integers(0, 5, 12)]
    lam, perm = rng.beta(0.4, 0.4, 12), rng.permutation(12)
    same_cases(cnn.mix_cases(7)[:1], [((x, y, lam, perm), {}, "12 random 16x16 maps, Beta(0.4, 0.4) weights")])
    rng = np.random.default_rng(8)
    A, Q = rng.normal(size=(300, 16)).astype("float32"), rng.normal(size=(250, 16)).astype("float32")
    args = cnn.neighbour_cases(8)[0][0]
    assert args[0].tobytes() == A.tobytes() and args[1].tobytes() == Q.tobytes() and args[2] == 3


def test_toy_posteriors_are_probabilities_that_no_symmetry_leaves_alone():
    (model, x, transforms), _, _ = cnn.tta_cases(6)[0]
    assert isinstance(model, ToyPosteriors) and transforms == tuple(D4_TRANSFORMS)
    p = model.predict(x)
    assert p.shape == (7, 4) and p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(model(x), p)
    for t in D4_TRANSFORMS[1:]:
        assert not np.allclose(model.predict(t(x)), p, atol=1e-3), t.__name__
    with pytest.raises(ValueError, match="toy model takes batches"):
        model.predict(np.zeros((2, 4, 4, 1)))


@pytest.mark.parametrize("key", VALUE_KEYS)
def test_cases_travel_pickled_with_the_student_package_only(key):
    """The grader pickles the cases beside the notebook; the kernel unpickles them without parcel_course."""
    cases = find(key).cases()
    blob = pickle.dumps(cases)
    assert b"parcel_course" not in blob
    same_cases(pickle.loads(blob), cases)
    allowed = (np.ndarray, int, float, str, tuple, ToyPosteriors)
    for args, kwargs, _ in cases:
        for a in list(args) + list(kwargs.values()):
            assert isinstance(a, allowed) or (callable(a) and a.__module__ == "parcel_utils.augment"), type(a)
            if isinstance(a, tuple):
                assert all(t in D4_TRANSFORMS for t in a)


# -- the value checks, on the reference's values and on wrong ones --------------------------------

def _perturbed(key, value):
    """A wrong answer of the kind a student gives: off by a little, or the neighbours in the wrong order."""
    v = np.asarray(value)
    if key == "nearest_neighbours_l1":
        return v[:, ::-1] if v.shape[1] > 1 else v + 1
    if key == "tta_predict":
        return v * 1.01                                      # not a mean of the posteriors any more
    return v.astype(float) + 0.01 if key == "mix_samples_y" else v.astype(float) + 1.0


@pytest.mark.parametrize("key", VALUE_KEYS)
def test_each_value_check_passes_the_reference_and_fails_a_perturbed_value(key):
    check = find(key)
    cases = check.cases()
    good = [encode_value(check.reference(*a, **kw)) for a, kw, _ in cases]
    assert check.verify(good) is None
    for i in range(len(cases)):                              # one wrong case is enough to fail
        bad = list(good)
        args, kwargs, label = cases[i]
        bad[i] = encode_value(_perturbed(key, check.reference(*args, **kwargs)))
        why = check.verify(bad)
        assert why and label in why, (key, label, why)
    assert "malformed" in check.verify(good[:-1])
    assert "not a number" in check.verify([encode_value("oops")] + good[1:])


def test_max_instead_of_mean_fails_tta_and_ties_in_the_wrong_order_fail_the_neighbours():
    """The course's realistic mistakes (parcel_course.mistakes): the max of the posteriors; argsort not stable."""
    check = find("tta_predict")
    maxed = [encode_value(ref.tta_predict(*a, aggregate="max")) for a, _, _ in check.cases()]
    assert "differs from the expected values" in check.verify(maxed)
    check = find("nearest_neighbours_l1")
    records = []
    for (A, Q, k), _, _ in check.cases():
        d = np.abs(Q[:, None, :].astype(float) - A[None, :, :]).mean(-1)
        records.append(encode_value(np.argsort(-d, axis=1, kind="stable")[:, ::-1][:, :k]))  # ties: higher index
    why = check.verify(records)
    assert why and "ties" in why, why


# -- the notebook's attest calls: keys, cells, and the solutions passing -----------------------------

def _cells():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def _calls(source, name):
    tree = ast.parse(source)
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name]


def test_every_attest_call_names_a_key_of_its_cell_and_every_key_is_used():
    found = {}
    for c in _cells():
        meta = c.metadata.get("nbgrader", {})
        for name in ("attest", "attest_model"):
            for node in _calls(c.source, name):
                assert meta.get("grade") and not meta.get("solution"), c.source[:80]
                assert isinstance(node.args[0], ast.Constant), ast.unparse(node)
                assert not any(kw.arg in ("inputs", "seed", "reference", "verify", "params") for kw in node.keywords)
                key = node.args[0].value
                assert key not in found, f"{key} attested twice"
                found[key] = meta["grade_id"]
                check = find(key)
                assert check.kind == ("value" if name == "attest" else "model"), key
                assert check in cell_checks("04_cnn", "cnn", meta["grade_id"]), key
                assert bool(check.record if name == "attest_model" else False) == any(
                    kw.arg == "record" for kw in node.keywords), key
    assert sorted(found) == sorted(VALUE_KEYS + MODEL_KEYS)
    assert {c.key: c.cell for c in cnn.CHECKS} == found


def test_the_notebook_imports_no_answer():
    for c in _cells():
        for banned in ("ref_augment", "ref_backbone", "parcel_course", "hidden_inputs", "as ref",
                       "parcel_utils.features", "reference implementation"):
            assert banned not in c.source, (banned, c.source[:120])
    text = NOTEBOOK.with_name("cnn.src.py").read_text()
    assert "ref_" not in text and "as ref" not in text and "reference implementation" not in text


def test_the_solutions_pass_the_value_checks_and_an_off_by_one_fails():
    """Every attest() of the notebook, as the instructor's kernel runs it: the solution's function, then a wrong one."""
    ns = {"np": np}
    attests = []
    for c in _cells():
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in ("tta_predict", "mix_samples", "nearest_neighbours_l1"):
            exec(compile(c.source, meta["grade_id"], "exec"), ns)
        attests += [(node.args[0].value, ast.get_source_segment(c.source, node.args[1]))
                    for node in _calls(c.source, "attest")]
    assert sorted(k for k, _ in attests) == sorted(VALUE_KEYS)
    for key, fn_source in attests:
        fn = eval(fn_source, ns)
        check = find(key)
        cases = check.cases()
        assert check.verify([encode_value(fn(*a, **kw)) for a, kw, _ in cases]) is None, key
        wrong = [encode_value(np.asarray(fn(*a, **kw), dtype=float) + 1) for a, kw, _ in cases]
        why = check.verify(wrong)
        assert why and " on " in why, (key, why)


def test_attest_verifies_in_the_instructor_s_environment():
    """attest() outside a grading run builds the inputs from the registry and fails a wrong answer in the kernel."""
    from parcel_utils.attest import attest
    attest("mix_samples_x", lambda *a: ref.mix_samples(*a)[0])
    with pytest.raises(AssertionError, match="x_mix on 12 random"):
        attest("mix_samples_x", lambda *a: ref.mix_samples(*a)[1])


# -- issue 16: what the text names, what the visible tests check, what runs without exercise 3 -----------

#: Graded variables that given cells (not solution cells) of the notebook set.
GIVEN_GRADED = ("scratch_test_accuracy", "small_transfer_model", "fine_tune_history", "small_transfer_test_accuracy",
                "X_small")
#: What exercise 3 defines: later cells that are not its tests must run without it.
EXERCISE_3 = ("scratch_model", "scratch_history", "scratch_test_accuracy", "y_pred_cnn")


def test_every_graded_name_a_test_cell_reads_is_named_in_the_text_before_it():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert check_graded_names_in_text(nb, graded_names(nb, given=GIVEN_GRADED)) == 10


def test_the_visible_tests_check_what_the_hidden_ones_check():
    visible = {c.metadata["nbgrader"]["grade_id"]: c.source.split("### BEGIN HIDDEN TESTS")[0] for c in _cells()
               if c.metadata.get("nbgrader", {}).get("grade")}
    for cell, needles in {
            "test_make_augmentation": ("fill_mode", "interpolation", ".factor", "training=True", ".predict(",
                                       "_empty", "0.9 - 1e-4"),
            "test_build_scratch_cnn": ("GlobalAveragePooling2D", "count_params", "20_000"),
            "test_scratch_no_leakage": ("check_selected_on_validation(scratch_model, scratch_history, X_val",),
            "test_scratch_accuracy": ("check_accuracy_against_reference", "tolerance=0.05", "batch_size=256"),
            "test_build_transfer_model": ("trainable_weights), 0", "not l.trainable"),
            "test_prepare_fine_tuning": ("BatchNormalization", "learning_rate)), 1e-4", "block_15_expand"),
            "test_transfer_accuracy": ("check_disjoint_rows", "check_selected_on_validation(small_transfer_model",
                                       "X_val_small", "tolerance=0.06", "batch_size=256")}.items():
        for needle in needles:
            assert needle in visible[cell], (cell, needle)
    for c in cnn.CHECKS:     # the bars the registry grades with are the ones the visible tests use
        if getattr(c, "verify_fn", None) is cnn.check_model_accuracy:
            tol = c.params["tolerance"]
            assert f"tolerance={tol}" in visible[c.cell], c.key
    assert {c.params["tolerance"] for c in cnn.CHECKS if getattr(c, "verify_fn", None) is cnn.check_model_accuracy} \
        == {0.05, 0.06}


def _unguarded(node, names, guarded=False):
    """Names of ``names`` read outside an ``if ... in globals()`` naming them or a try that catches NameError."""
    if isinstance(node, ast.If):
        consts = {n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)}
        guarded = guarded or ("globals" in ast.unparse(node.test) and bool(consts & set(names)))
    if isinstance(node, ast.Try) and any("NameError" in ast.unparse(h.type or ast.Name("BaseException"))
                                         for h in node.handlers):
        guarded = True
    found = [] if guarded or not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                                  and node.id in names) else [node.id]
    for child in ast.iter_child_nodes(node):
        found += _unguarded(child, names, guarded)
    return found


def test_the_cells_after_exercise_3_run_without_it():
    """Without scratch_model and its history, no cell but exercise 3's own tests reads them unguarded."""
    after = False
    for c in _cells():
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "train_scratch":
            after = True
            continue
        if not after or meta.get("grade") or meta.get("solution"):
            continue
        assert not _unguarded(ast.parse(c.source), EXERCISE_3), c.source[:120]
    assert after
