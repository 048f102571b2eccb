"""Unit tests of the reference answers of 02_parameters (parcel_course/assignments/02_parameters/reference.py) and of
parcel_utils.keras_tools: the lecture's numbers, by hand and by Keras."""
import math

import numpy as np
import pytest

from parcel_course.assignments import load

M = load("02_parameters", "reference")
from parcel_utils import keras_tools as K

LENET_SPEC = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
              ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]


# --------------------------------------------------------------------------- counting
def test_conv2d_params_lecture_examples():
    assert M.conv2d_params(5, 5, 1, 2) == 52          # 1 input map, 2 filters 5x5
    assert M.conv2d_params(5, 5, 3, 2) == 152         # 3 input maps: 150 weights + 2 biases
    assert M.conv2d_params(5, 5, 3, 2, bias=False) == 150
    assert M.conv2d_params(3, 3, 1, 64) == 640        # the very simple CNN
    assert M.conv2d_params(5, 5, 1, 6) == 156         # LeNet-5, grey
    assert M.conv2d_params(5, 5, 3, 6) == 456         # LeNet-5, RGB
    assert M.conv2d_params(5, 5, 6, 16) == 2416
    assert M.conv2d_params(3, 3, 3, 64) == 1792       # VGG16 block1_conv1


def test_dense_params_lecture_examples():
    assert M.dense_params(26 * 26 * 64, 10) == 432650
    assert M.dense_params(400, 120) == 48120
    assert M.dense_params(120, 84) == 10164
    assert M.dense_params(84, 10) == 850
    assert M.dense_params(1024, 84) + M.dense_params(84, 10) == 86950
    assert M.dense_params(7 * 7 * 512, 4096) == 102764544
    assert M.dense_params(10, 3, bias=False) == 30


def test_depthwise_separable_params_and_ratio():
    h, w, d, nf = 3, 3, 32, 64
    assert M.depthwise_separable_params(h, w, d, nf) == (9 * 32 + 32) + (32 * 64 + 64)
    assert M.depthwise_separable_params(h, w, d, nf, bias=False) == 9 * 32 + 32 * 64
    # weights only, the ratio is the MobileNet formula 1/n_f + 1/(h w)
    ratio = M.depthwise_separable_params(h, w, d, nf, bias=False) / M.conv2d_params(h, w, d, nf, bias=False)
    assert ratio == pytest.approx(M.separable_cost_ratio(h, w, nf))


def test_mult_adds_ratio_is_the_mobilenet_formula():
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w, d, nf, oh, ow = (int(v) for v in rng.integers(1, 40, size=6))
        std = M.conv2d_mult_adds(h, w, d, nf, oh, ow)
        sep = M.depthwise_separable_mult_adds(h, w, d, nf, oh, ow)
        assert std == h * w * d * nf * oh * ow
        assert sep / std == pytest.approx(1 / nf + 1 / (h * w))
    assert M.conv2d_mult_adds(3, 3, 512, 512, 14, 14) == 462422016


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", None, True])
def test_counting_rejects_bad_sizes_with_a_named_argument(bad):
    with pytest.raises(ValueError, match="`d`"):
        M.conv2d_params(3, 3, bad, 4)


def test_output_shapes_lenet_and_padding():
    assert M.output_shapes((32, 32, 1), LENET_SPEC) == [
        (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (120,), (84,), (10,)]
    assert M.output_shapes((224, 224, 3), [("conv", 64, 3, 1, "same"), ("pool", 2)]) == [
        (224, 224, 64), (112, 112, 64)]
    assert M.output_shapes((227, 227, 3), [("conv", 96, 11, 4)]) == [(55, 55, 96)]
    assert M.output_shapes((7, 9, 2), [("conv", 4, (3, 1), (2, 3), "same")]) == [(4, 3, 4)]
    assert M.output_shapes((5, 5, 1), [("pool", 2)]) == [(2, 2, 1)]
    assert M.output_shapes((6, 6, 1), [("pool", 3, 1)]) == [(4, 4, 1)]


def test_output_shapes_messages():
    with pytest.raises(ValueError, match="flatten"):
        M.output_shapes((8, 8, 1), [("dense", 3)])
    with pytest.raises(ValueError, match="unknown layer kind"):
        M.output_shapes((8, 8, 1), [("convolution", 3, 3)])
    with pytest.raises(ValueError, match="does not fit"):
        M.output_shapes((4, 4, 1), [("conv", 2, 5)])
    with pytest.raises(ValueError, match="input_shape"):
        M.output_shapes((4, 4), [])


def test_stack_params_lenet():
    counts = M.stack_params((32, 32, 1), LENET_SPEC)
    assert counts == [156, 0, 2416, 0, 0, 48120, 10164, 850]
    assert sum(counts) == 61706
    rgb = M.stack_params((32, 32, 3), LENET_SPEC)
    assert rgb[0] == 456 and sum(rgb) - rgb[0] == 61550


# --------------------------------------------------------------------------- Keras builders
@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_lenet5_matches_the_lecture_summary(keras):
    model = M.build_lenet5()
    rows = M.layer_table(model)
    assert [r[1] for r in rows] == ["Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D",
                                    "Flatten", "Dense", "Dense", "Dense"]
    assert [r[2] for r in rows] == M.output_shapes((32, 32, 1), LENET_SPEC)
    assert [r[3] for r in rows] == [156, 0, 2416, 0, 0, 48120, 10164, 850]
    assert model.count_params() == 61706
    acts = [l.activation.__name__ for l in model.layers if hasattr(l, "activation")]
    assert acts == ["tanh", "tanh", "relu", "relu", "softmax"]
    assert [l.padding for l in model.layers if type(l).__name__ == "Conv2D"] == ["valid", "valid"]


@pytest.mark.parametrize("shape,classes", [((32, 32, 3), 10), ((28, 36, 2), 5)])
def test_lenet5_other_inputs_agree_with_the_hand_count(keras, shape, classes):
    spec = LENET_SPEC[:-1] + [("dense", classes)]
    model = M.build_lenet5(shape, classes)
    assert [r[3] for r in M.layer_table(model)] == M.stack_params(shape, spec)


def test_simple_cnn_and_mlp(keras):
    cnn = M.build_simple_cnn()
    assert [r[3] for r in M.layer_table(cnn)] == [640, 0, 432650]
    assert cnn.count_params() == 433290
    assert M.build_simple_cnn(pool=True).count_params() == 640 + 13 * 13 * 64 * 10 + 10
    assert M.build_mlp().count_params() == 86950
    assert M.build_mlp((32, 32, 3)).count_params() == 3 * 1024 * 84 + 84 + 850


def test_keras_agrees_with_the_counting_references_on_random_layers(keras):
    rng = np.random.default_rng(1)
    for _ in range(5):
        h, w, d, nf = (int(v) for v in rng.integers(1, 6, size=4))
        conv = keras.layers.Conv2D(nf, (h, w))
        conv.build((None, 8, 8, d))
        assert conv.count_params() == M.conv2d_params(h, w, d, nf)
        sep = keras.Sequential([keras.Input((8, 8, d)), keras.layers.DepthwiseConv2D((h, w)),
                                keras.layers.Conv2D(nf, 1)])
        assert sep.count_params() == M.depthwise_separable_params(h, w, d, nf)
        ks = keras.Sequential([keras.Input((8, 8, d)), keras.layers.SeparableConv2D(nf, (h, w))])
        assert ks.count_params() == M.depthwise_separable_params(h, w, d, nf) - d


def test_activation_count_small_model(keras):
    model = M.build_lenet5()
    per_layer = [28 * 28 * 6, 14 * 14 * 6, 10 * 10 * 16, 5 * 5 * 16, 120, 84, 10]  # flatten is a view
    assert M.activation_count(model, include_input=False) == sum(per_layer)
    assert M.activation_count(model) == sum(per_layer) + 32 * 32
    assert M.activation_memory_mb(model) == pytest.approx((sum(per_layer) + 1024) * 4 / 1e6)
    with pytest.raises(ValueError, match="bytes_per_value"):
        M.activation_memory_mb(model, bytes_per_value=0)
    with pytest.raises(TypeError, match="model"):
        M.activation_count([1, 2])


# --------------------------------------------------------------------------- VGG16
@pytest.fixture(scope="module")
def vgg16(keras):
    return M.vgg16_topology()


@pytest.mark.slow
def test_vgg16_parameters(vgg16):
    assert vgg16.count_params() == 138357544
    by_type = M.params_by_layer_type(vgg16)
    assert by_type == {"Conv2D": 14714688, "Dense": 123642856}
    assert M.dense_share(vgg16) == pytest.approx(123642856 / 138357544)
    assert round(100 * M.dense_share(vgg16)) == 89                   # the lecture's "FC: 89%"
    table = {r[0]: r[3] for r in M.layer_table(vgg16)}
    assert table["block1_conv1"] == 1792 and table["fc1"] == 102764544


@pytest.mark.slow
def test_vgg16_activation_memory(vgg16):
    spec = ([("conv", 64, 3, 1, "same")] * 2 + [("pool", 2)] + [("conv", 128, 3, 1, "same")] * 2
            + [("pool", 2)] + [("conv", 256, 3, 1, "same")] * 3 + [("pool", 2)]
            + [("conv", 512, 3, 1, "same")] * 3 + [("pool", 2)] + [("conv", 512, 3, 1, "same")] * 3
            + [("pool", 2)] + [("flatten",), ("dense", 4096), ("dense", 4096), ("dense", 1000)])
    shapes = M.output_shapes((224, 224, 3), spec)
    by_hand = 224 * 224 * 3 + sum(math.prod(s) for s, l in zip(shapes, spec) if l[0] != "flatten")
    assert M.activation_count(vgg16) == by_hand == 15237608
    assert M.activation_memory_mb(vgg16) == pytest.approx(60.950432)
    assert sum(M.stack_params((224, 224, 3), spec)) == 138357544


@pytest.mark.slow
def test_applications_table_reuses_a_built_model(vgg16):
    rows = M.applications_table(["VGG16", "MobileNet"], models={"VGG16": vgg16})
    assert [r["params"] for r in rows] == [138357544, 4253864]
    for r in rows:
        assert r["params_m"] == r["lecture_params_m"] and r["depth"] == r["lecture_depth"]
    with pytest.raises(ValueError, match="unknown model"):
        M.applications_table(["AlexNet"])


def test_importing_models_does_not_import_tensorflow():
    import subprocess
    import sys
    code = ("import sys, importlib, parcel_utils.keras_tools; importlib.import_module('parcel_course.assignments.02_parameters.reference'); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_keras_tools_holds_no_answer_of_02():
    """The student package builds and reads models, but counts nothing an exercise asks for."""
    for name in ("conv2d_params", "dense_params", "output_shapes", "stack_params", "build_lenet5", "build_mlp",
                 "dense_share", "params_by_layer_type", "activation_count", "depthwise_separable_params",
                 "conv2d_mult_adds", "depthwise_separable_mult_adds", "separable_cost_ratio"):
        assert not hasattr(K, name), name
    assert M.layer_table is K.layer_table and M.build_stack is K.build_stack      # re-exported for the instructor


def test_build_stack_messages(keras):
    with pytest.raises(ValueError, match="cannot read layer 1"):
        K.build_stack((8, 8, 1), [("conv", 2, 3), ("convolution", 3, 3)])
    with pytest.raises(ValueError, match="does not fit"):
        K.build_stack((4, 4, 1), [("conv", 2, 5)])
    with pytest.raises(ValueError, match="input_shape"):
        K.build_stack((4, 4), [])


def test_case_model_builds_once_and_takes_known_models(keras):
    spec = M.random_stack(3)
    m = K.case_model(spec)
    assert K.case_model(spec) is m
    assert [r[3] for r in K.layer_table(m)] == M.stack_params(*spec)
    sentinel = object()
    assert K.case_model("vgg16", known={"vgg16": sentinel}) is sentinel
    assert K.case_model("simple_cnn").count_params() == 433290
    with pytest.raises(ValueError, match="unknown model"):
        K.case_model("lenet5")


def test_random_stacks_agree_with_keras(keras):
    for seed in range(30):
        shape, layers = M.random_stack(seed)
        assert M.random_stack(seed) == (shape, layers)
        rows = M.layer_table(M.build_stack(shape, layers))
        assert [r[2] for r in rows] == M.output_shapes(shape, layers)
        assert [r[3] for r in rows] == M.stack_params(shape, layers)
