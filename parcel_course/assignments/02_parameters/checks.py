"""The graded checks of 02_parameters (``parameters.ipynb``).

The counting exercises are checked against the reference answers of
``reference.py`` beside this file.  A test of a function that builds or
reads a Keras model attests numbers the grader recomputes without Keras: a
model's *signature* (:func:`parcel_utils.keras_tools.model_signature`, one
row of ints per layer), the Dense share or the activation count of the model
a case names.  The references below count from layer specs (pure Python), so
the grader never imports TensorFlow, and they are independent of Keras.

Example
-------
>>> find = {c.key: c for c in CHECKS}
>>> find["build_lenet5"].cell, find["build_lenet5_shapes"].cell
('test_lenet5_structure', 'test_lenet5_counts')
>>> rgb_counts()
[86950, 258982, 62006]
"""
from __future__ import annotations

import math

import numpy as np

from parcel_utils.keras_tools import signature_row

from parcel_course.assignments import seeded_rng as _rng
from parcel_course.registry import Check

from . import reference as ref

ASSIGNMENT = "02_parameters"

__all__ = ["ASSIGNMENT", "CHECKS", "int_cases", "output_shapes_cases", "output_shapes_flat", "cost_ratio_cases",
           "mult_adds_ratio", "lenet_cases", "lenet_signature", "no_args", "rgb_counts", "model_cases",
           "stack_dense_share", "stack_activation_count", "NAMED_STACKS"]


# ------------------------------------------------------------------ counting
def int_cases(seed, n=20, high=20, size=4, low=1, bias=False):
    """``n`` draws of ``size`` ints in ``[low, high)`` (``rng.integers(low, high, size=size)``).

    With ``bias``, each draw gives two cases, with ``bias=True`` and with
    ``bias=False`` (a keyword argument), in that order.

    Example
    -------
    >>> [(args, kw) for args, kw, _ in int_cases(2021, n=1, bias=True)]
    [((15, 15, 10, 18), {'bias': True}), ((15, 15, 10, 18), {'bias': False})]
    """
    rng = _rng(seed)
    cases = []
    for _ in range(int(n)):
        args = tuple(int(v) for v in rng.integers(int(low), int(high), size=int(size)))
        text = ", ".join(map(str, args))
        if bias:
            cases += [(args, {"bias": b}, f"({text}, bias={b})") for b in (True, False)]
        else:
            cases.append((args, {}, f"({text})"))
    return cases


def output_shapes_cases(seed=0, n=40):
    """Four hand-picked stacks, then the stacks ``random_stack(seed + j)`` for ``j < n``.

    Each case is ``(input_shape, layers)``, the arguments of ``output_shapes``.
    """
    _rng(seed)
    cases = [(((5, 5, 2), [("pool", 2)]), {}, "pooling 5x5 by 2 (valid)"),
             (((7, 9, 2), [("conv", 4, (3, 1), (2, 3), "same")]), {}, "a (3, 1) kernel, stride (2, 3), same padding"),
             (((6, 6, 1), [("pool", 3, 1)]), {}, "pooling 3x3 with stride 1"),
             (((6, 6, 1), [("pool", 3, None, "same")]), {}, "pooling with stride None and same padding")]
    for j in range(int(n)):
        shape, layers = ref.random_stack(int(seed) + j)
        cases.append(((shape, layers), {}, f"random stack {int(seed) + j}: {shape}, {layers}"))
    return cases


def output_shapes_flat(input_shape, layers):
    """``output_shapes`` as one list of ints: for each layer, its number of axes, then its sizes.

    The test cell flattens the student's shapes the same way (a list of
    tuples of different lengths is not one array).

    Example
    -------
    >>> output_shapes_flat((8, 8, 1), [("conv", 2, 3), ("flatten",), ("dense", 5)])
    [3, 6, 6, 2, 1, 72, 1, 5]
    """
    return [int(v) for s in ref.output_shapes(input_shape, layers) for v in (len(s), *s)]


def cost_ratio_cases(seed, n=20):
    """``(h, w, n_f)`` in [1, 30) and ``(d, out_h, out_w)`` in [1, 100): the arguments of :func:`mult_adds_ratio`."""
    rng = _rng(seed)
    cases = []
    for _ in range(int(n)):
        h, w, nf = (int(v) for v in rng.integers(1, 30, size=3))
        d, oh, ow = (int(v) for v in rng.integers(1, 100, size=3))
        cases.append(((h, w, nf, d, oh, ow), {},
                      f"({h}, {w}, {nf}), against the multiply-adds with d={d} and a {oh}x{ow} output"))
    return cases


def mult_adds_ratio(h, w, n_filters, d, out_h, out_w):
    """Multiply-adds of a depthwise separable over a standard convolution, counted (not by the formula).

    ``separable_cost_ratio(h, w, n_filters)`` must give it, whatever ``d``
    and the output size.

    Example
    -------
    >>> round(mult_adds_ratio(3, 3, 512, 512, 14, 14), 4)
    0.1131
    """
    return (ref.depthwise_separable_mult_adds(h, w, d, n_filters, out_h, out_w)
            / ref.conv2d_mult_adds(h, w, d, n_filters, out_h, out_w))


# ------------------------------------------------------------------ Keras models, by value
#: The lecture's LeNet-5 as a layer stack, with the class and activation of each layer.
LENET5 = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2), ("flatten",), ("dense", 120), ("dense", 84)]
LENET5_CLASSES = ["Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D", "Flatten", "Dense", "Dense", "Dense"]
LENET5_ACTIVATIONS = ["tanh", "", "tanh", "", "", "relu", "relu", "softmax"]


def _vgg16_stack():
    layers = []
    for n_convs, n_f in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        layers += [("conv", n_f, 3, 1, "same")] * n_convs + [("pool", 2)]
    return (224, 224, 3), layers + [("flatten",), ("dense", 4096), ("dense", 4096), ("dense", 1000)]


#: Models a case may name instead of giving a stack: ``(input_shape, layers)`` of each.
NAMED_STACKS = {"vgg16": _vgg16_stack(), "simple_cnn": ((28, 28, 1), [("conv", 64, 3), ("flatten",), ("dense", 10)]),
                "lenet5": ((32, 32, 1), LENET5 + [("dense", 10)])}


def lenet_cases(seed=7, n=2, extra=True):
    """LeNet-5's ``(input_shape, num_classes)``: the lecture's, then (with ``extra``) two fixed ones and ``n`` drawn.

    The draws are those of the former hidden test (``default_rng(seed)``:
    height and width in [16, 48), depth in [1, 5), classes in [2, 30)).
    """
    rng = _rng(seed)
    cases = [(((32, 32, 1), 10), {}, "build_lenet5((32, 32, 1), 10)")]
    if extra:
        cases += [(((32, 32, 3), 10), {}, "build_lenet5((32, 32, 3), 10)"),
                  (((28, 36, 2), 5), {}, "build_lenet5((28, 36, 2), 5)")]
    for _ in range(int(n)):
        shape = (int(rng.integers(16, 48)), int(rng.integers(16, 48)), int(rng.integers(1, 5)))
        classes = int(rng.integers(2, 30))
        cases.append(((shape, classes), {}, f"build_lenet5({shape}, {classes})"))
    return cases


def lenet_signature(input_shape=(32, 32, 1), num_classes=10):
    """What ``model_signature`` gives for the lecture's LeNet-5, counted without Keras.

    Example
    -------
    >>> sig = lenet_signature()
    >>> sig.shape, int(sig[:, -1].sum())
    ((8, 12), 61706)
    >>> sig[0].tolist()      # Conv2D, tanh, valid, 5x5, stride 1, (28, 28, 6), 156 parameters
    [0, 3, 1, 5, 5, 1, 1, 3, 28, 28, 6, 156]
    """
    layers = LENET5 + [("dense", int(num_classes))]
    rows = []
    for spec, kind, act, shape, params in zip(layers, LENET5_CLASSES, LENET5_ACTIVATIONS,
                                             ref.output_shapes(input_shape, layers),
                                             ref.stack_params(input_shape, layers)):
        window = spec[2] if spec[0] == "conv" else spec[1] if spec[0] == "pool" else None
        strides = 1 if spec[0] == "conv" else spec[1] if spec[0] == "pool" else None
        rows.append(signature_row(kind, act, "valid" if spec[0] in ("conv", "pool") else "", window, strides,
                                  shape, params))
    return np.array(rows, dtype=np.int64)


def no_args(seed=0):
    """One case without arguments, for a test of values a notebook sets (``seed`` is unused)."""
    return [((), {}, "the values you set")]


def rgb_counts():
    """``[mlp_params_gray, mlp_params_rgb, lenet_params_rgb]``, counted without Keras."""
    mlp = [("flatten",), ("dense", 84), ("dense", 10)]
    return [sum(ref.stack_params((32, 32, d), mlp)) for d in (1, 3)] + [
        sum(ref.stack_params((32, 32, 3), NAMED_STACKS["lenet5"][1]))]


def model_cases(seed, n=5, named=("vgg16", "simple_cnn"), include_input=False):
    """Models named in :data:`NAMED_STACKS`, then the stacks ``random_stack(seed + j)`` for ``j < n``.

    Each case's first argument is a name or an ``(input_shape, layers)``
    stack (``parcel_utils.keras_tools.case_model`` builds the Keras model of
    either in the kernel); with ``include_input`` each model gives two
    cases, with ``True`` and ``False`` as second argument.
    """
    _rng(seed)
    specs = [(name, name) for name in named]
    specs += [(ref.random_stack(int(seed) + j), f"random stack {int(seed) + j}") for j in range(int(n))]
    if include_input:
        return [((spec, inc), {}, f"{label}, include_input={inc}") for spec, label in specs for inc in (True, False)]
    return [((spec,), {}, label) for spec, label in specs]


def _stack_of(spec):
    return NAMED_STACKS[spec] if isinstance(spec, str) else spec


def stack_dense_share(spec):
    """Share of the parameters of a case's model held by its Dense layers, counted without Keras.

    Example
    -------
    >>> round(stack_dense_share("vgg16"), 4), stack_dense_share("simple_cnn") == 432650 / 433290
    (0.8936, True)
    """
    shape, layers = _stack_of(spec)
    counts = ref.stack_params(shape, layers)
    return sum(c for layer, c in zip(layers, counts) if layer[0] == "dense") / sum(counts)


def stack_activation_count(spec, include_input=True):
    """Values in the activations of a case's model for one input (Flatten not counted), without Keras.

    Example
    -------
    >>> stack_activation_count("vgg16"), stack_activation_count("lenet5")
    (15237608, 9118)
    """
    shape, layers = _stack_of(spec)
    total = sum(math.prod(s) for layer, s in zip(layers, ref.output_shapes(shape, layers)) if layer[0] != "flatten")
    return int(total + (math.prod(shape) if include_input else 0))


# ------------------------------------------------------------------ the checks
_NB = dict(notebook="parameters")

CHECKS = [
    Check("conv2d_params", cell="test_conv2d_params", inputs=int_cases, seed=2021,
          params={"n": 20, "high": 20, "size": 4, "bias": True}, reference=ref.conv2d_params, compare="equal",
          name="conv2d_params", **_NB),
    Check("dense_params", cell="test_dense_params", inputs=int_cases, seed=2022,
          params={"n": 20, "high": 5000, "size": 2, "bias": True}, reference=ref.dense_params, compare="equal",
          name="dense_params", **_NB),
    # four hand-picked stacks, then random_stack(0), ..., random_stack(39); each list of shapes flattened into
    # one list of ints: for each layer, its number of axes, then its sizes
    Check("output_shapes", cell="test_output_shapes", inputs=output_shapes_cases, seed=0, params={"n": 40},
          reference=output_shapes_flat, compare="equal", name="output_shapes", **_NB),
    # each layer as ints: class, activation, padding, kernel or pool size, strides, output shape, parameters;
    # the lecture's LeNet-5 for the structure, other input shapes and classes for the counts
    Check("build_lenet5", cell="test_lenet5_structure", inputs=lenet_cases, seed=7, params={"n": 0, "extra": False},
          reference=lenet_signature, compare="equal", name="build_lenet5", **_NB),
    Check("build_lenet5_shapes", cell="test_lenet5_counts", inputs=lenet_cases, seed=7, params={"n": 2},
          reference=lenet_signature, compare="equal", name="build_lenet5", **_NB),
    Check("mlp_rgb", cell="test_mlp_rgb", inputs=no_args, seed=0, reference=rgb_counts, compare="equal",
          name="[mlp_params_gray, mlp_params_rgb, lenet_params_rgb]", **_NB),
    # VGG16 (the notebook's own), the simple CNN, then random_stack(100), ..., random_stack(104)
    Check("dense_share", cell="test_dense_share", inputs=model_cases, seed=100, params={"n": 5},
          reference=stack_dense_share, compare="close", rtol=1e-5, atol=1e-6, name="dense_share", **_NB),
    Check("depthwise_separable_params", cell="test_separable_params", inputs=int_cases, seed=11,
          params={"n": 20, "high": 40, "size": 4, "bias": True}, reference=ref.depthwise_separable_params,
          compare="equal", name="depthwise_separable_params", **_NB),
    Check("conv2d_mult_adds", cell="test_mult_adds", inputs=int_cases, seed=12, params={"n": 20, "high": 60, "size": 6},
          reference=ref.conv2d_mult_adds, compare="equal", name="conv2d_mult_adds", **_NB),
    Check("depthwise_separable_mult_adds", cell="test_mult_adds", inputs=int_cases, seed=12,
          params={"n": 20, "high": 60, "size": 6}, reference=ref.depthwise_separable_mult_adds, compare="equal",
          name="depthwise_separable_mult_adds", **_NB),
    # the reference is the ratio of the counted multiply-adds for a random depth d and output size
    Check("separable_cost_ratio", cell="test_cost_ratio", inputs=cost_ratio_cases, seed=13, params={"n": 20},
          reference=mult_adds_ratio, rtol=1e-9, compare="close", atol=1e-6, name="separable_cost_ratio", **_NB),
    # VGG16 (the notebook's own), then random_stack(200), ..., random_stack(205); with and without the input
    Check("activation_count", cell="test_activation_count", inputs=model_cases, seed=200,
          params={"n": 6, "named": ["vgg16"], "include_input": True}, reference=stack_activation_count,
          compare="equal", name="activation_count", **_NB),
]
