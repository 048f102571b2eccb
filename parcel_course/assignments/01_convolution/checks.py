"""The graded checks of 01_convolution: ``convolution.ipynb`` and ``cnn_building_blocks.ipynb``.

Each check calls the student's function on the cases of an input generator
below (deterministic: NumPy's ``default_rng(seed)`` only, cheap) and compares
what it returned with the reference answers of
``reference.py`` beside this file.  The cases are those the hidden
tests drew before they were attested, with the same seeds.

Example
-------
>>> [c.key for c in CHECKS][:3]
['correlate2d_valid', 'correlate2d_padding', 'correlate2d_stride']
>>> args, kwargs, label = correlate2d_cases(1101, paddings=("valid",))[0]
>>> args[2], label.startswith("a ")
('valid', True)
"""
from __future__ import annotations

import numpy as np


from parcel_course.assignments import seeded_rng as _rng
from parcel_course.registry import Check

from . import reference as ref

ASSIGNMENT = "01_convolution"

__all__ = ["ASSIGNMENT", "CHECKS", "correlate2d_cases", "stride_cases", "convolve2d_cases", "output_size_cases",
           "conv_layer_cases", "conv_parameters_cases", "receptive_field_cases", "random_volume", "max_pool_cases",
           "vgg_cases", "vgg_table", "arctan_sigmoid", "tanh_from_arctan_sigmoid"]


# ------------------------------------------------------------------ convolution.ipynb
def correlate2d_cases(seed, n=12, sizes=(5, 24), paddings=("valid",)):
    """Random images (H, W) and kernels (kh, kw) of 1 to 6, one case per padding."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(*sizes, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 7, size=2))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
        for p in paddings:
            cases.append(((x, w, p), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, {p!r}"))
    return cases


def stride_cases(seed, n=12):
    """Square kernels of 1 to 5, strides 2 to 4, the four paddings."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(6, 30, size=2))
        k, s = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(k, k))
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, p), {"stride": s}, f"a {H}x{W} image, {k}x{k} kernel, {p!r}, stride {s}"))
    return cases


def convolve2d_cases(seed, n=10):
    """Odd kernels with the four paddings and a stride; even 2x4 kernels with 'valid' and 'full'."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        H, W = (int(v) for v in rng.integers(5, 20, size=2))
        kh, kw = (int(2 * v + 1) for v in rng.integers(0, 3, size=2))
        x, w = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, p), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, {p!r}"))
        s = int(rng.integers(2, 4))
        cases.append(((x, w, "same", s), {}, f"a {H}x{W} image with a {kh}x{kw} kernel, 'same', stride {s}"))
        w2 = rng.normal(size=(2, 4))
        for p in ("valid", "full"):
            cases.append(((x, w2, p), {}, f"a {H}x{W} image with an even 2x4 kernel, {p!r}"))
    return cases


def output_size_cases(seed, n=200):
    """Random (n, k, padding, stride), padding a name or an int; combinations the reference rejects are left out."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        size, k, s = int(rng.integers(1, 60)), int(rng.integers(1, 8)), int(rng.integers(1, 5))
        p = ["valid", "same", "full", "symmetric", int(rng.integers(0, 4))][int(rng.integers(0, 5))]
        try:
            ref.output_size(size, k, p, s)
        except ValueError:
            continue
        cases.append(((size, k, p, s), {}, f"output_size({size}, {k}, {p!r}, {s})"))
    return cases


def conv_layer_cases(seed, n=6):
    """Volumes (H, W, C), float32 weights (k, k, C, F) and biases, the four paddings, stride 1 or 2."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        H, W = int(rng.integers(5, 16)), int(rng.integers(5, 16))
        C, F = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        k, s = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        x = rng.normal(size=(H, W, C)).astype(np.float32)
        w = rng.normal(size=(k, k, C, F)).astype(np.float32)
        b = rng.normal(size=F).astype(np.float32)
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, b, p, s), {}, f"a {H}x{W}x{C} volume, {F} filters {k}x{k}, {p!r}, stride {s}"))
    return cases


# ------------------------------------------------------------------ cnn_building_blocks.ipynb
def conv_parameters_cases(seed, n=20):
    """Square and rectangular kernels, 1 to 512 channels and filters, with and without biases."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        k, d, nf = int(rng.integers(1, 8)), int(rng.integers(1, 513)), int(rng.integers(1, 513))
        for bias in (True, False):
            cases.append(((k, d, nf), {"use_bias": bias}, f"conv_parameters({k}, {d}, {nf}, use_bias={bias})"))
        kk = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        cases.append(((kk, d, nf), {}, f"conv_parameters({kk}, {d}, {nf})"))
    return cases


def receptive_field_cases(seed, n=30):
    """0 to 11 layers of kernels 1 to 11."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        L, k = int(rng.integers(0, 12)), int(rng.integers(1, 12))
        cases.append(((L, k), {}, f"receptive_field({L}, {k})"))
    return cases


def vgg_cases(seed=0, channels=(1, 3, 17, 64, 512)):
    """``(d, use_bias)`` for a few channel counts (no randomness; ``seed`` is unused)."""
    return [((int(d), bias), {}, f"vgg_comparison({d}, use_bias={bias})") for d in channels for bias in (False, True)]


def vgg_table(d, use_bias=False):
    """The lecture's table as one array: parameters, receptive fields, nonlinearities (3x3 stack, 7x7).

    The order in which the test cell lists ``vgg_comparison``'s values.

    >>> vgg_table(1).tolist()
    [27, 49, 7, 7, 3, 1]
    """
    return np.array([ref.stack_parameters(3, 3, d, use_bias), ref.stack_parameters(1, 7, d, use_bias),
                     ref.receptive_field(3, 3), ref.receptive_field(1, 7), 3, 1])


def random_volume(seed, shape=(4, 4), scale=1.0, args=()):
    """One normal random array of ``shape`` times ``scale``, followed by the literal ``args``."""
    rng = _rng(seed)
    v = rng.normal(scale=float(scale), size=tuple(int(s) for s in shape))
    extra = f", {', '.join(map(repr, args))}" if args else ""
    return [((v, *args), {}, f"a random {'x'.join(map(str, v.shape))} volume{extra}")]


def arctan_sigmoid(z):
    """Another S-shaped function, symmetric about 1/2 as the logistic is: ``1/2 + arctan(z) / pi``.

    The test cell swaps the student's ``sigmoid`` for this one (written
    inline there); :func:`tanh_from_arctan_sigmoid` is what must follow.
    """
    return 0.5 + np.arctan(np.asarray(z, dtype=float)) / np.pi


def tanh_from_arctan_sigmoid(x):
    """``2 s(2x) - 1`` with ``s`` = :func:`arctan_sigmoid`: what ``tanh_from_sigmoid`` gives through that sigmoid."""
    return 2 * arctan_sigmoid(2 * np.asarray(x, dtype=float)) - 1


def max_pool_cases(seed, n=12):
    """Volumes (H, W, C), pools 1 to 4, stride None, 1 or random."""
    rng = _rng(seed)
    cases = []
    for _ in range(n):
        H, W, C = int(rng.integers(6, 25)), int(rng.integers(6, 25)), int(rng.integers(1, 5))
        p = int(rng.integers(1, 5))
        s = [None, 1, int(rng.integers(1, 5))][int(rng.integers(0, 3))]
        v = rng.normal(size=(H, W, C)).astype(np.float32)
        cases.append(((v, p, s), {}, f"a {H}x{W}x{C} volume, pool {p}, stride {s}"))
    return cases


# ------------------------------------------------------------------ the checks
_CONV = dict(notebook="convolution")
_BLOCKS = dict(notebook="cnn_building_blocks")
_VOLUME = dict(shape=[5, 7, 3], scale=3)

CHECKS = [
    # convolution.ipynb
    Check("correlate2d_valid", cell="test_correlate2d_valid", inputs=correlate2d_cases, seed=1101,
          params={"paddings": ["valid"]}, reference=ref.correlate2d, compare="close", rtol=1e-5, atol=1e-6,
          name="correlate2d", **_CONV),
    Check("correlate2d_padding", cell="test_correlate2d_padding", inputs=correlate2d_cases, seed=1102,
          params={"sizes": [4, 20], "paddings": ["same", "full", "symmetric"]}, reference=ref.correlate2d,
          compare="close", rtol=1e-5, atol=1e-6, name="correlate2d", **_CONV),
    Check("correlate2d_stride", cell="test_correlate2d_stride", inputs=stride_cases, seed=1103,
          reference=ref.correlate2d, compare="close", rtol=1e-5, atol=1e-6, name="correlate2d", **_CONV),
    Check("convolve2d", cell="test_convolve2d", inputs=convolve2d_cases, seed=1201, reference=ref.convolve2d,
          compare="close", rtol=1e-5, atol=1e-6, name="convolve2d", **_CONV),
    Check("output_size", cell="test_output_size", inputs=output_size_cases, seed=1301, reference=ref.output_size,
          compare="equal", name="output_size", **_CONV),
    # the reference conv2d is checked against tf.nn.conv2d, a correlation, in tests/test_convolution.py
    Check("conv_layer", cell="test_conv_layer", inputs=conv_layer_cases, seed=1401, reference=ref.conv2d,
          rtol=1e-4, atol=1e-4, compare="close", name="conv_layer", **_CONV),
    # cnn_building_blocks.ipynb
    Check("conv_parameters", cell="test_conv_parameters", inputs=conv_parameters_cases, seed=2101,
          reference=ref.conv_parameters, compare="equal", name="conv_parameters", **_BLOCKS),
    Check("receptive_field", cell="test_receptive_field", inputs=receptive_field_cases, seed=2201,
          reference=ref.receptive_field, compare="equal", name="receptive_field", **_BLOCKS),
    Check("vgg_comparison", cell="test_vgg_comparison", inputs=vgg_cases, seed=0, reference=vgg_table,
          compare="equal", name="vgg_comparison", **_BLOCKS),
    Check("relu", cell="test_relu", inputs=random_volume, seed=2401, params=dict(_VOLUME), reference=ref.relu,
          compare="close", rtol=1e-5, atol=1e-6, name="relu", **_BLOCKS),
    Check("leaky_relu", cell="test_relu", inputs=random_volume, seed=2401, params=dict(_VOLUME),
          reference=ref.leaky_relu, compare="close", rtol=1e-5, atol=1e-6, name="leaky_relu", **_BLOCKS),
    Check("leaky_relu_alpha", cell="test_relu", inputs=random_volume, seed=2401, params={**_VOLUME, "args": [0.2]},
          reference=ref.leaky_relu, compare="close", rtol=1e-5, atol=1e-6, name="leaky_relu", **_BLOCKS),
    # the reference sigmoid is scipy.special.expit's equal (tests/test_convolution.py)
    Check("sigmoid", cell="test_sigmoid", inputs=random_volume, seed=2402, params={"shape": [4, 6, 2], "scale": 10},
          reference=ref.sigmoid, rtol=1e-7, atol=1e-10, compare="close", name="sigmoid", **_BLOCKS),
    Check("tanh_from_sigmoid", cell="test_tanh_identity", inputs=random_volume, seed=2403,
          params={"shape": [3, 5, 2], "scale": 4}, reference=ref.tanh, compare="close", rtol=1e-5, atol=1e-6,
          name="tanh_from_sigmoid", **_BLOCKS),
    # through the student's sigmoid: with sigmoid swapped for 1/2 + arctan(z) / pi (symmetric about 1/2 as the
    # logistic is), tanh_from_sigmoid must follow it: 2 s(2x) - 1
    Check("tanh_through_sigmoid", cell="test_tanh_identity", inputs=random_volume, seed=2403,
          params={"shape": [3, 5, 2], "scale": 4}, reference=tanh_from_arctan_sigmoid,
          compare="close", rtol=1e-5, atol=1e-6,
          name="tanh_from_sigmoid computed with another sigmoid (it should go through yours)", **_BLOCKS),
    # the reference is checked against tf.nn.max_pool2d in tests/test_convolution.py
    Check("max_pool2d", cell="test_max_pool2d", inputs=max_pool_cases, seed=2501, reference=ref.max_pool2d,
          compare="close", rtol=1e-5, atol=1e-6, name="max_pool2d", **_BLOCKS),
]
