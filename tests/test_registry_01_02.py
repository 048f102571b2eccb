"""The registry of graded checks of 01_convolution and 02_parameters.

The grader rebuilds each check's cases in its own process from the
generator and seed the registry declares (``parcel_course/assignments/01_convolution/checks.py``,
``parcel_course/assignments/02_parameters/checks.py``), so the generators must be
deterministic and reproduce the cases the hidden loops drew before they were
attested.  Every check accepts the reference's own values and rejects
perturbed ones; every ``attest(key, fn)`` of the notebooks' test cells names
a check of the cell it sits in, and the solutions' functions pass it while a
function that is off by one fails.
"""
import ast
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from parcel_course import registry
from parcel_course.assignments import load
from parcel_utils import keras_tools
from parcel_utils.attest import attest, encode_value, swapped_global
from registry_helpers import labels_and_bytes, same_cases

models = load("02_parameters", "reference")
C, P = load("01_convolution"), load("02_parameters")

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"01_convolution": C, "02_parameters": P}


# -- the modules -----------------------------------------------------------------------------

def test_the_modules_declare_their_assignment_and_unique_keys():
    assert C.ASSIGNMENT == "01_convolution" and P.ASSIGNMENT == "02_parameters"
    keys = [c.key for m in MODULES.values() for c in m.CHECKS]
    assert len(keys) == len(set(keys)) == 16 + 12
    assert registry.checks_of("01_convolution") == C.CHECKS and registry.checks_of("02_parameters") == P.CHECKS
    assert registry.find("build_lenet5").cell == "test_lenet5_structure"
    assert registry.find("build_lenet5_shapes").cell == "test_lenet5_counts"


def test_the_registry_modules_do_not_use_the_old_hidden_inputs():
    for m in MODULES.values():
        assert "_hidden_inputs_old" not in Path(m.__file__).read_text()


# -- determinism -----------------------------------------------------------------------------

@pytest.mark.parametrize("module, inputs, seed, params", [
    (C, "correlate2d_cases", 1102, {"sizes": [4, 20], "paddings": ["same", "full", "symmetric"]}),
    (C, "stride_cases", 1103, {}),
    (C, "convolve2d_cases", 1201, {}),
    (C, "output_size_cases", 1301, {}),
    (C, "conv_layer_cases", 1401, {}),
    (C, "conv_parameters_cases", 2101, {}),
    (C, "receptive_field_cases", 2201, {}),
    (C, "random_volume", 2401, {"shape": [5, 7, 3], "scale": 3}),
    (C, "max_pool_cases", 2501, {}),
    (P, "int_cases", 2021, {"n": 20, "high": 20, "size": 4, "bias": True}),
    (P, "int_cases", 12, {"n": 20, "high": 60, "size": 6}),
    (P, "output_shapes_cases", 0, {"n": 40}),
    (P, "cost_ratio_cases", 13, {"n": 20}),
    (P, "lenet_cases", 7, {"n": 2}),
    (P, "model_cases", 200, {"n": 6, "named": ["vgg16"], "include_input": True}),
])
def test_generators_are_deterministic(module, inputs, seed, params):
    gen = getattr(module, inputs)
    first, again = gen(seed, **params), gen(seed, **params)
    same_cases(first, again)
    assert first
    assert labels_and_bytes(gen(seed + 1, **params)) != labels_and_bytes(first)   # the seed matters


def test_a_seed_must_be_an_int():
    with pytest.raises(ValueError, match="seed should be an int"):
        P.int_cases("2021")
    with pytest.raises(ValueError, match="seed should be an int"):
        C.correlate2d_cases(1.5)


# -- the cases the hidden loops drew before they were attested ----------------------------------

@pytest.mark.parametrize("seed, high, size, bias", [(2021, 20, 4, True), (2022, 5000, 2, True),
                                                     (11, 40, 4, True), (12, 60, 6, False)])
def test_int_cases_are_the_former_hidden_loops(seed, high, size, bias):
    rng = np.random.default_rng(seed)                 # the loop of the former hidden test, verbatim
    former = []
    for _ in range(20):
        args = tuple(int(v) for v in rng.integers(1, high, size=size))
        former += [(args, {"bias": b}) for b in (True, False)] if bias else [(args, {})]
    got = P.int_cases(seed, n=20, high=high, size=size, bias=bias)
    assert [(a, kw) for a, kw, _ in got] == former
    assert all(type(v) is int for a, _, _ in got for v in a)


def test_cost_ratio_cases_are_the_former_hidden_loop():
    rng = np.random.default_rng(13)
    former = []
    for _ in range(20):
        h, w, nf = (int(v) for v in rng.integers(1, 30, size=3))
        d, oh, ow = (int(v) for v in rng.integers(1, 100, size=3))
        former.append((h, w, nf, d, oh, ow))
    assert [a for a, _, _ in P.cost_ratio_cases(13)] == former


def test_output_shapes_cases():
    cases = P.output_shapes_cases(0, n=40)
    assert len(cases) == 44
    assert [a for a, _, _ in cases[4:]] == [models.random_stack(s) for s in range(40)]
    hand = [(a, P.output_shapes_flat(*a)) for a, _, _ in cases[:4]]
    # the values the former hidden test wrote by hand
    assert hand == [(((5, 5, 2), [("pool", 2)]), [3, 2, 2, 2]),
                    (((7, 9, 2), [("conv", 4, (3, 1), (2, 3), "same")]), [3, 4, 3, 4]),
                    (((6, 6, 1), [("pool", 3, 1)]), [3, 4, 4, 1]),
                    (((6, 6, 1), [("pool", 3, None, "same")]), [3, 2, 2, 1])]


def test_correlate2d_cases_by_hand():
    rng = np.random.default_rng(1101)
    H, W = (int(v) for v in rng.integers(5, 24, size=2))
    kh, kw = (int(v) for v in rng.integers(1, 7, size=2))
    x, w = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
    (args, kw_, label), *rest = C.correlate2d_cases(1101, paddings=("valid",))
    assert args[0].tobytes() == x.tobytes() and args[1].tobytes() == w.tobytes() and args[2] == "valid"
    assert kw_ == {} and len(rest) == 11 and label == f"a {H}x{W} image with a {kh}x{kw} kernel, 'valid'"
    assert all(C.output_size_cases(1301))                   # the reference accepts every case it keeps


# -- reference wrappers, on hand-checked cases ------------------------------------------------

def test_output_shapes_flat_by_hand():
    lenet = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
             ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]
    assert P.output_shapes_flat((32, 32, 1), lenet) == [3, 28, 28, 6, 3, 14, 14, 6, 3, 10, 10, 16, 3, 5, 5, 16,
                                                        1, 400, 1, 120, 1, 84, 1, 10]


def test_mult_adds_ratio_by_hand():
    # 3x3, 512 -> 512 on 14x14: 52,283,392 / 462,422,016 multiply-adds (the notebook's visible test)
    assert P.mult_adds_ratio(3, 3, 512, 512, 14, 14) == 52283392 / 462422016
    assert P.mult_adds_ratio(3, 3, 512, 512, 14, 14) == pytest.approx(1 / 512 + 1 / 9, rel=1e-12)
    assert P.mult_adds_ratio(1, 1, 1, 1, 1, 1) == 2.0                  # (1 + 1) / 1
    for (h, w, nf, d, oh, ow), _, _ in P.cost_ratio_cases(13):
        assert P.mult_adds_ratio(h, w, nf, d, oh, ow) == pytest.approx(models.separable_cost_ratio(h, w, nf),
                                                                        rel=1e-12)


def test_vgg_table_is_the_lecture_s():
    assert C.vgg_table(1).tolist() == [27, 49, 7, 7, 3, 1]
    assert C.vgg_table(1, True).tolist() == [30, 50, 7, 7, 3, 1]
    assert C.vgg_table(64, True)[:2].tolist() == [110784, 200768]


def test_vgg16_stack_is_the_lecture_s_vgg16():
    shape, layers = P.NAMED_STACKS["vgg16"]
    assert sum(models.stack_params(shape, layers)) == 138357544
    assert P.stack_activation_count("vgg16") == 15237608
    assert P.rgb_counts() == [86950, 258982, 62006]


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_keras_models_give_the_signatures_and_counts_of_the_references(keras):
    """What the kernel attests for the reference's Keras models is what the grader counts without Keras."""
    for args, _, label in P.lenet_cases(7, n=3):
        assert np.array_equal(keras_tools.model_signature(models.build_lenet5(*args)), P.lenet_signature(*args)), label
    specs = [args[0] for args, _, _ in P.model_cases(100, n=8, named=("simple_cnn",))] + ["lenet5"]
    for spec in specs:
        m = models.build_lenet5() if spec == "lenet5" else keras_tools.case_model(spec)
        assert P.stack_dense_share(spec) == pytest.approx(models.dense_share(m), rel=1e-12), spec
        for inc in (True, False):
            assert P.stack_activation_count(spec, inc) == models.activation_count(m, include_input=inc), spec
    assert P.rgb_counts() == [models.build_mlp((32, 32, 1)).count_params(), models.build_mlp((32, 32, 3)).count_params(),
                              models.build_lenet5((32, 32, 3)).count_params()]
    # a signature tells a wrong layer apart: max instead of average pooling, relu instead of tanh
    from keras import layers
    wrong = keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(6, 5, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(16, 5, activation="tanh"),
                              layers.AveragePooling2D(2), layers.Flatten(), layers.Dense(120, activation="relu"),
                              layers.Dense(84, activation="relu"), layers.Dense(10, activation="softmax")])
    diff = keras_tools.model_signature(wrong) != P.lenet_signature()
    assert np.argwhere(diff).tolist() == [[0, 1], [1, 0]]


def test_tanh_through_a_swapped_sigmoid_tells_the_two_ways_apart():
    """tanh_from_sigmoid is attested through another sigmoid: one that goes through sigmoid follows it."""
    ns = {"np": np}
    exec("def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"
         "def through(x):\n    return 2 * sigmoid(2 * x) - 1\n"
         "def through_too(x):\n    return sigmoid(2 * x) - sigmoid(-2 * x)\n"
         "def direct(x):\n    return np.tanh(x)\n", ns)
    x = np.linspace(-3, 3, 13)
    want = C.tanh_from_arctan_sigmoid(x)
    inline = lambda _z: 0.5 + np.arctan(_z) / np.pi      # noqa: E731 - as the test cell writes it
    np.testing.assert_allclose(inline(x), C.arctan_sigmoid(x))
    for name in ("through", "through_too"):     # any form of the identity built on sigmoid follows the swap
        np.testing.assert_allclose(swapped_global(ns[name], "sigmoid", inline, x), want)
        np.testing.assert_allclose(ns[name](x), np.tanh(x))             # and the kernel's sigmoid is back
    assert not np.allclose(swapped_global(ns["direct"], "sigmoid", inline, x), want)


# -- every check: the reference's own values pass, perturbed ones fail ----------------------------

ALL_CHECKS = [c for m in MODULES.values() for c in m.CHECKS]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.key)
def test_every_check_accepts_the_reference_and_rejects_a_perturbed_value(check):
    assert check.kind == "value" and check.compare in ("close", "equal")
    cases = check.cases()
    assert cases and all(isinstance(label, str) and label for _, _, label in cases)
    records = [encode_value(check.reference(*a, **kw)) for a, kw, _ in cases]
    assert check.verify(records) is None
    for i in {0, len(records) - 1}:              # one value off in the first or the last case
        wrong = list(records)
        wrong[i] = encode_value(np.asarray(check.reference(*cases[i][0], **cases[i][1]), dtype=float) + 1)
        why = check.verify(wrong)
        assert why and cases[i][2] in why, why
    assert "malformed" in check.verify(records[:-1])
    assert "not a number" in check.verify([encode_value("x")] + records[1:])


# -- every attest() of the notebooks, verified as the grader does --------------------------------

def _notebooks(assignment):
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted((ROOT / "source" / assignment).glob("*.ipynb"))}


def _attest_calls(nb):
    """(test cell id, key, the student_fn expression's source) of every attest() call of the test cells."""
    out = []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        for node in ast.walk(ast.parse(c.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("attest", "attest_model"):
                assert node.func.id == "attest" and len(node.args) == 2 and not node.keywords, c.source
                assert isinstance(node.args[0], ast.Constant), c.source
                out.append((meta["grade_id"], node.args[0].value, ast.get_source_segment(c.source, node.args[1])))
    return out


@pytest.mark.parametrize("assignment", sorted(MODULES))
def test_every_test_cell_names_the_keys_the_registry_gives_it(assignment):
    found = {(nb, cell, key) for nb, book in _notebooks(assignment).items() for cell, key, _ in _attest_calls(book)}
    declared = {(c.notebook, c.cell, c.key) for c in MODULES[assignment].CHECKS}
    assert found == declared
    for name, nb in _notebooks(assignment).items():      # and nothing of the instructor's package in any cell
        for c in nb.cells:
            assert "parcel_course" not in c.source and "hidden_inputs" not in c.source, (name, c.source[:80])


@pytest.fixture(scope="module")
def namespace_02(keras):
    ns = {"np": np, "math": math, "keras": keras, "layers": keras.layers,
          "vgg16": keras.applications.VGG16(weights=None)}
    return _solutions(_notebooks("02_parameters")["parameters"], ns)


def _solutions(nb, namespace):
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("solution"):
            exec(compile(c.source, meta["grade_id"], "exec"), namespace)
    return namespace


def _check_the_calls(assignment, ns_of):
    for name, nb in _notebooks(assignment).items():
        ns = ns_of(name, nb)
        for cell, key, fn_source in _attest_calls(nb):
            check = registry.find(key)
            fn = eval(fn_source, ns)                  # the solution's function, or the cell's lambda around it
            cases = check.cases()
            assert check.verify([encode_value(fn(*a, **kw)) for a, kw, _ in cases]) is None, (cell, key)
            why = check.verify([encode_value(np.asarray(fn(*a, **kw), dtype=float) + 1) for a, kw, _ in cases])
            assert why and " on " in why, (cell, key, why)


def test_the_attested_checks_of_01_pass_with_the_solution_and_fail_off_by_one():
    def ns_of(name, nb):
        from parcel_utils.attest import swapped_global as sg
        return _solutions(nb, {"np": np, "sliding_window_view": sliding_window_view, "swapped_global": sg})
    _check_the_calls("01_convolution", ns_of)


def test_the_attested_checks_of_02_pass_with_the_solution_and_fail_off_by_one(namespace_02):
    from parcel_utils.keras_tools import case_model, model_signature
    namespace_02.update(case_model=case_model, model_signature=model_signature)
    _check_the_calls("02_parameters", lambda name, nb: namespace_02)


def test_attest_fails_a_wrong_answer_in_the_instructor_s_environment():
    """Where no grader wrote the inputs, attest() takes them from the registry and checks in place."""
    nb = _notebooks("01_convolution")["cnn_building_blocks"]
    ns = _solutions(nb, {"np": np, "sliding_window_view": sliding_window_view})
    attest("receptive_field", ns["receptive_field"])
    with pytest.raises(AssertionError, match="receptive_field on receptive_field"):
        attest("receptive_field", lambda L, k: 1 + L * k)
    with pytest.raises(AssertionError, match="through yours"):     # tanh computed without the student's sigmoid
        attest("tanh_through_sigmoid", lambda x: np.tanh(x))


# -- the reference computed once per process ---------------------------------------------------

def test_expected_values_are_computed_once_and_verify_as_before():
    calls = []

    def reference(a, b):
        calls.append((a, b))
        return a + b

    def inputs(seed, n=3):
        return [((i, seed), {}, f"case {i}") for i in range(n)]

    check = registry.Check("plus_once", "nb", "test_plus", inputs, 5, reference, compare="equal")
    right = [encode_value(i + 5) for i in range(3)]
    assert check.verify(right) is None
    assert check.verify(right) is None and len(calls) == 3        # the second verify computed nothing
    assert "should be 6" in check.verify([encode_value(5), encode_value(7), encode_value(7)])
    # another check of the same key with other inputs has its own values
    other = registry.Check("plus_once", "nb", "test_plus", inputs, 9, reference, compare="equal")
    assert other.verify([encode_value(i + 9) for i in range(3)]) is None and len(calls) == 6


def test_warm_computes_what_verify_uses():
    for assignment in MODULES:
        registry.warm(assignment)
        for check in registry.checks_of(assignment):
            if check.kind == "value" and check.compare != "verify":
                ident = (check.key, check.seed, repr(sorted(check.params.items())), check.inputs, check.reference)
                assert ident in registry._EXPECTED, check.key
    registry.warm("no_such_assignment")      # nothing to do, no error
