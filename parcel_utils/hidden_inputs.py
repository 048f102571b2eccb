"""Inputs of the attested hidden tests (see :func:`parcel_utils.checks.attest`).

Each generator takes a ``seed`` (and literal keyword parameters) and returns
the cases of one hidden test, ``[(args, kwargs, label), ...]``: the student's
function and the reference are both called as ``f(*args, **kwargs)``.  The
grader calls the same generator with the same seed in its own process, so a
generator must be deterministic (NumPy's ``default_rng(seed)`` only) and
cheap.  The cases are those the hidden tests of 01_convolution,
02_parameters and 03_handcrafted drew before they were attested, with the
same seeds.  Where a function's result is not one number or one array (a
list of shapes, a ratio that needs more than the student's arguments), a
reference wrapper here gives the value in the form the test cell attests.

Example
-------
>>> cases = correlate2d_cases(1101, paddings=("valid",))
>>> args, kwargs, label = cases[0]
>>> len(cases), args[2], label.startswith("a ")
(12, 'valid', True)
"""
from __future__ import annotations

import numpy as np

__all__ = ["correlate2d_cases", "stride_cases", "convolve2d_cases", "output_size_cases", "conv_layer_cases",
           "conv_parameters_cases", "receptive_field_cases", "random_volume", "max_pool_cases"]


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed should be an int, got {seed!r}.")
    return np.random.default_rng(int(seed))


def correlate2d_cases(seed, n=12, sizes=(5, 24), paddings=("valid",)):
    """Random images (H, W) and kernels (kh, kw) of 1 to 6, one case per padding."""
    rng = _seed(seed)
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
    rng = _seed(seed)
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
    rng = _seed(seed)
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
    from . import convolution as ref
    rng = _seed(seed)
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
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W, C, F = int(rng.integers(5, 16)), int(rng.integers(5, 16)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        k, s = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        x = rng.normal(size=(H, W, C)).astype(np.float32)
        w = rng.normal(size=(k, k, C, F)).astype(np.float32)
        b = rng.normal(size=F).astype(np.float32)
        for p in ("valid", "same", "full", "symmetric"):
            cases.append(((x, w, b, p, s), {}, f"a {H}x{W}x{C} volume, {F} filters {k}x{k}, {p!r}, stride {s}"))
    return cases


def conv_parameters_cases(seed, n=20):
    """Square and rectangular kernels, 1 to 512 channels and filters, with and without biases."""
    rng = _seed(seed)
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
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        L, k = int(rng.integers(0, 12)), int(rng.integers(1, 12))
        cases.append(((L, k), {}, f"receptive_field({L}, {k})"))
    return cases


def random_volume(seed, shape=(4, 4), scale=1.0, args=()):
    """One normal random array of ``shape`` times ``scale``, followed by the literal ``args``."""
    rng = _seed(seed)
    v = rng.normal(scale=float(scale), size=tuple(int(s) for s in shape))
    extra = f", {', '.join(map(repr, args))}" if args else ""
    return [((v, *args), {}, f"a random {'x'.join(map(str, v.shape))} volume{extra}")]


def swapped_global(fn, name, replacement, *args):
    """``fn(*args)`` with the global ``name`` of ``fn``'s module swapped for ``replacement`` (restored after).

    >>> def half(x): return double(x) / 4
    >>> def double(x): return 2 * x
    >>> swapped_global(half, "double", lambda x: 3 * x, 4.0), half(4.0)
    (3.0, 2.0)
    """
    namespace, missing = fn.__globals__, object()
    old = namespace.get(name, missing)
    namespace[name] = replacement
    try:
        return fn(*args)
    finally:
        if old is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = old


def arctan_sigmoid(z):
    """Another S-shaped function, symmetric about 1/2 as the logistic is: ``1/2 + arctan(z) / pi``."""
    return 0.5 + np.arctan(np.asarray(z, dtype=float)) / np.pi


def tanh_from_arctan_sigmoid(x):
    """``2 s(2x) - 1`` with ``s`` = :func:`arctan_sigmoid`: what ``tanh_from_sigmoid`` gives through that sigmoid."""
    return 2 * arctan_sigmoid(2 * np.asarray(x, dtype=float)) - 1


def max_pool_cases(seed, n=12):
    """Volumes (H, W, C), pools 1 to 4, stride None, 1 or random."""
    rng = _seed(seed)
    cases = []
    for _ in range(n):
        H, W, C = int(rng.integers(6, 25)), int(rng.integers(6, 25)), int(rng.integers(1, 5))
        p = int(rng.integers(1, 5))
        s = [None, 1, int(rng.integers(1, 5))][int(rng.integers(0, 3))]
        v = rng.normal(size=(H, W, C)).astype(np.float32)
        cases.append(((v, p, s), {}, f"a {H}x{W}x{C} volume, pool {p}, stride {s}"))
    return cases


def vgg_cases(seed=0, channels=(1, 3, 17, 64, 512)):
    """``(d, use_bias)`` for a few channel counts (no randomness; ``seed`` is unused)."""
    return [((int(d), bias), {}, f"vgg_comparison({d}, use_bias={bias})") for d in channels for bias in (False, True)]


def vgg_table(d, use_bias=False):
    """The lecture's table as one array: parameters, receptive fields, nonlinearities (3x3 stack, 7x7)."""
    from . import convolution as ref
    return np.array([ref.stack_parameters(3, 3, d, use_bias), ref.stack_parameters(1, 7, d, use_bias),
                     ref.receptive_field(3, 3), ref.receptive_field(1, 7), 3, 1])


__all__ += ["vgg_cases", "vgg_table", "swapped_global", "arctan_sigmoid", "tanh_from_arctan_sigmoid"]


# ---------------------------------------------------------------- 02_parameters

def int_cases(seed, n=20, high=20, size=4, low=1, bias=False):
    """``n`` draws of ``size`` ints in ``[low, high)`` (``rng.integers(low, high, size=size)``).

    With ``bias``, each draw gives two cases, with ``bias=True`` and with
    ``bias=False`` (a keyword argument), in that order.

    Example
    -------
    >>> [(args, kw) for args, kw, _ in int_cases(2021, n=1, bias=True)]
    [((15, 15, 10, 18), {'bias': True}), ((15, 15, 10, 18), {'bias': False})]
    """
    rng = _seed(seed)
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
    """Four hand-picked stacks, then the stacks ``models.random_stack(seed + j)`` for ``j < n``.

    Each case is ``(input_shape, layers)`` in the format of
    :func:`parcel_utils.models.output_shapes`.
    """
    from .models import random_stack
    cases = [(((5, 5, 2), [("pool", 2)]), {}, "pooling 5x5 by 2 (valid)"),
             (((7, 9, 2), [("conv", 4, (3, 1), (2, 3), "same")]), {}, "a (3, 1) kernel, stride (2, 3), same padding"),
             (((6, 6, 1), [("pool", 3, 1)]), {}, "pooling 3x3 with stride 1"),
             (((6, 6, 1), [("pool", 3, None, "same")]), {}, "pooling with stride None and same padding")]
    for j in range(int(n)):
        shape, layers = random_stack(int(seed) + j)
        cases.append(((shape, layers), {}, f"random stack {int(seed) + j}: {shape}, {layers}"))
    return cases


def output_shapes_flat(input_shape, layers):
    """``models.output_shapes`` as one list of ints: for each layer, its number of axes, then its sizes.

    The test cell flattens the student's shapes the same way (a list of
    tuples of different lengths is not one array).

    Example
    -------
    >>> output_shapes_flat((8, 8, 1), [("conv", 2, 3), ("flatten",), ("dense", 5)])
    [3, 6, 6, 2, 1, 72, 1, 5]
    """
    from .models import output_shapes
    return [int(v) for s in output_shapes(input_shape, layers) for v in (len(s), *s)]


def cost_ratio_cases(seed, n=20):
    """``(h, w, n_f)`` in [1, 30) and ``(d, out_h, out_w)`` in [1, 100): the arguments of :func:`mult_adds_ratio`."""
    rng = _seed(seed)
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
    from .models import conv2d_mult_adds, depthwise_separable_mult_adds
    return depthwise_separable_mult_adds(h, w, d, n_filters, out_h, out_w) / conv2d_mult_adds(h, w, d, n_filters,
                                                                                            out_h, out_w)


# ------------------------------------------------- 02_parameters: Keras models, by value
#
# A test of a function that builds or reads a Keras model attests numbers the
# grader can recompute without Keras: a model's *signature* (one row of ints
# per layer), a share or a count of the model a case names.  The references
# below count from the layer specs of ``models.output_shapes`` (pure Python),
# so the grader never imports TensorFlow, and they are independent of Keras.

#: Layer classes, activations and paddings a signature names by their index; anything else gets the next code.
SIGNATURE_LAYERS = ("Conv2D", "AveragePooling2D", "MaxPooling2D", "Flatten", "Dense")
SIGNATURE_ACTIVATIONS = ("", "linear", "relu", "tanh", "sigmoid", "softmax")
SIGNATURE_PADDINGS = ("", "valid", "same")

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


def _code(names, name):
    return names.index(name) if name in names else len(names)


def _pair_ints(value):
    if value is None:
        return [0, 0]
    if isinstance(value, (int, np.integer)):
        return [int(value)] * 2
    return [int(v) for v in tuple(value)[:2]] + [0] * max(0, 2 - len(tuple(value)))


def _signature_row(kind, activation, padding, window, strides, shape, params):
    shape = tuple(int(v) for v in shape)
    return [_code(SIGNATURE_LAYERS, kind), _code(SIGNATURE_ACTIVATIONS, activation),
            _code(SIGNATURE_PADDINGS, padding), *_pair_ints(window), *_pair_ints(strides),
            len(shape), *(list(shape) + [0, 0, 0])[:3], int(params)]


def model_signature(model):
    """A Keras model as one row of ints per layer (input layers left out, nested models expanded).

    Each row: layer class, activation, padding (codes in
    :data:`SIGNATURE_LAYERS`, :data:`SIGNATURE_ACTIVATIONS`,
    :data:`SIGNATURE_PADDINGS`), kernel or pool size (rows, cols), strides,
    the rank of the output, its sizes (batch axis left out, padded with 0
    to three) and the layer's parameters.  The kernel attests this for the
    model a student's builder returns; :func:`lenet_signature` is what it
    should be.
    """
    from .models import _flat_layers, _output_shape
    rows = []
    for layer in _flat_layers(model):
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        rows.append(_signature_row(type(layer).__name__, activation, getattr(layer, "padding", "") or "",
                                   window, getattr(layer, "strides", None), _output_shape(layer),
                                   layer.count_params()))
    return np.array(rows, dtype=np.int64).reshape(len(rows), 12)


def lenet_cases(seed=7, n=2, extra=True):
    """LeNet-5's ``(input_shape, num_classes)``: the lecture's, then (with ``extra``) two fixed ones and ``n`` drawn.

    The draws are those of the former hidden test (``default_rng(seed)``:
    height and width in [16, 48), depth in [1, 5), classes in [2, 30)).
    """
    rng = _seed(seed)
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
    """What :func:`model_signature` gives for the lecture's LeNet-5, counted without Keras.

    Example
    -------
    >>> sig = lenet_signature()
    >>> sig.shape, int(sig[:, -1].sum())
    ((8, 12), 61706)
    >>> sig[0].tolist()      # Conv2D, tanh, valid, 5x5, stride 1, (28, 28, 6), 156 parameters
    [0, 3, 1, 5, 5, 1, 1, 3, 28, 28, 6, 156]
    """
    from .models import output_shapes, stack_params
    layers = LENET5 + [("dense", int(num_classes))]
    rows = []
    for spec, kind, act, shape, params in zip(layers, LENET5_CLASSES, LENET5_ACTIVATIONS,
                                             output_shapes(input_shape, layers), stack_params(input_shape, layers)):
        window = spec[2] if spec[0] == "conv" else spec[1] if spec[0] == "pool" else None
        strides = 1 if spec[0] == "conv" else spec[1] if spec[0] == "pool" else None
        rows.append(_signature_row(kind, act, "valid" if spec[0] in ("conv", "pool") else "", window, strides,
                                   shape, params))
    return np.array(rows, dtype=np.int64)


def no_args(seed=0):
    """One case without arguments, for a test of values a notebook sets (``seed`` is unused)."""
    return [((), {}, "the values you set")]


def rgb_counts():
    """``[mlp_params_gray, mlp_params_rgb, lenet_params_rgb]`` of 02_parameters, counted without Keras.

    Example
    -------
    >>> rgb_counts()
    [86950, 258982, 62006]
    """
    from .models import stack_params
    mlp = [("flatten",), ("dense", 84), ("dense", 10)]
    return [sum(stack_params((32, 32, d), mlp)) for d in (1, 3)] + [
        sum(stack_params((32, 32, 3), NAMED_STACKS["lenet5"][1]))]


def model_cases(seed, n=5, named=("vgg16", "simple_cnn"), include_input=False):
    """Models named in :data:`NAMED_STACKS`, then the stacks ``models.random_stack(seed + j)`` for ``j < n``.

    Each case's first argument is a name or an ``(input_shape, layers)``
    stack (:func:`case_model` builds the Keras model of either); with
    ``include_input`` each model gives two cases, with ``True`` and ``False``
    as second argument.
    """
    from .models import random_stack
    specs = [(name, name) for name in named]
    specs += [(random_stack(int(seed) + j), f"random stack {int(seed) + j}") for j in range(int(n))]
    if include_input:
        return [((spec, inc), {}, f"{label}, include_input={inc}") for spec, label in specs for inc in (True, False)]
    return [((spec,), {}, label) for spec, label in specs]


_BUILT = {}


def case_model(spec, known=None):
    """The Keras model of a :func:`model_cases` case (kernel side): ``known[name]`` if given, else built once.

    ``known`` lets a notebook pass a model it already built (VGG16 takes
    seconds and 550 MB); a wrong one gives wrong values, and the check fails.
    """
    from . import models
    if isinstance(spec, str):
        if known and spec in known:
            return known[spec]
        builders = {"vgg16": models.vgg16_topology, "simple_cnn": models.build_simple_cnn,
                    "lenet5": models.build_lenet5}
        if spec not in builders:
            raise ValueError(f"unknown model {spec!r}; expected one of {sorted(builders)}.")
        key = spec
    else:
        key = repr(spec)
    if key not in _BUILT:
        _BUILT[key] = builders[spec]() if isinstance(spec, str) else models.build_stack(*spec)
    return _BUILT[key]


def _stack_of(spec):
    return NAMED_STACKS[spec] if isinstance(spec, str) else spec


def stack_dense_share(spec):
    """Share of the parameters of a case's model held by its Dense layers, counted without Keras.

    Example
    -------
    >>> round(stack_dense_share("vgg16"), 4), stack_dense_share("simple_cnn") == 432650 / 433290
    (0.8936, True)
    """
    from .models import stack_params
    shape, layers = _stack_of(spec)
    counts = stack_params(shape, layers)
    return sum(c for l, c in zip(layers, counts) if l[0] == "dense") / sum(counts)


def stack_activation_count(spec, include_input=True):
    """Values in the activations of a case's model for one input (Flatten not counted), without Keras.

    Example
    -------
    >>> stack_activation_count("vgg16"), stack_activation_count("lenet5")
    (15237608, 9118)
    """
    import math
    from .models import output_shapes
    shape, layers = _stack_of(spec)
    total = sum(math.prod(s) for l, s in zip(layers, output_shapes(shape, layers)) if l[0] != "flatten")
    return int(total + (math.prod(shape) if include_input else 0))


__all__ += ["model_signature", "lenet_cases", "lenet_signature", "no_args", "rgb_counts", "model_cases",
            "case_model", "stack_dense_share", "stack_activation_count"]


# ---------------------------------------------------------------- 03_handcrafted

def parcel_map_cases(seed, n=25, split="val", footprint=False, kwargs=None):
    """``n`` maps of a split of the course's dataset, picked as ``default_rng(seed).choice(len(X), n, replace=False)``.

    Each map is rendered alone (:func:`parcel_utils.data.parcel_sample`: the
    same array, bit for bit, as ``load_parcels(split)[0][i]``, without
    generating or loading the split).  With ``footprint``, a case holds the
    reference footprint of the map instead (``features.footprint``, what the
    exercises that take a mask are given); ``kwargs`` are literal keyword
    arguments of every call.

    Example
    -------
    >>> [label for _, _, label in parcel_map_cases(301, n=2)]
    ['X_val[400]', 'X_val[237]']
    """
    from .data import SPLITS, parcel_sample
    from .features import footprint as reference_footprint
    if split not in SPLITS:
        raise ValueError(f"split should be one of {list(SPLITS)}, got {split!r}.")
    kwargs = dict(kwargs or {})
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    cases = []
    for i in _seed(seed).choice(SPLITS[split], int(n), replace=False):
        depth, _ = parcel_sample(split, int(i))
        if footprint:
            cases.append(((reference_footprint(depth),), dict(kwargs), f"footprint(X_{split}[{i}]){extra}"))
        else:
            cases.append(((depth,), dict(kwargs), f"X_{split}[{i}]{extra}"))
    return cases


def mask_perimeter(mask):
    """``features.perimeter`` of a footprint given as a mask (exercise 5 takes the mask, not the map).

    Example
    -------
    >>> m = np.zeros((64, 64), bool); m[10:30, 5:45] = True
    >>> mask_perimeter(m)
    116.0
    """
    from skimage.measure import perimeter
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
    from .features import _obb
    length, width = _obb(np.asarray(mask, dtype=bool))
    return length, width, float(np.hypot(length, width))


__all__ += ["int_cases", "output_shapes_cases", "output_shapes_flat", "cost_ratio_cases", "mult_adds_ratio",
            "parcel_map_cases", "mask_perimeter", "mask_diagonals"]


# -- 03_handcrafted: the classifier exercises (scikit-learn; the grader refits what it needs) --

def _toy_problem(rng, n=200, scales=(1, 10, 100, 1000)):
    A = rng.normal(size=(n, len(scales))) * np.asarray(scales, dtype=float)
    return A, (A[:, 0] + A[:, 1] / 10 > 0).astype(int)


def classifier_cases(seed=308, n=3):
    """``(A_train, b_train, A_query, C, gamma)``: features on scales 1 to 1000 (scaling matters).

    The first case is the hidden test's own (150 training rows, 50 queries,
    ``C=3, gamma=0.2``); then ``n`` more with drawn ``C`` and ``gamma``.

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
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    return Pipeline([("scale", StandardScaler()), ("svm", SVC(C=C, gamma=gamma))]).fit(A_train, b_train).predict(A_query)


def fitted_attribute_count(model):
    """How many fitted attributes (scikit-learn's ``name_`` convention) the steps of ``model`` hold: 0 unfitted.

    >>> from sklearn.preprocessing import StandardScaler
    >>> fitted_attribute_count(StandardScaler()), fitted_attribute_count(StandardScaler().fit([[0.0], [1.0]])) > 0
    (0, True)
    """
    from .checks import _fitted_steps
    return sum(1 for est in _fitted_steps(model) for k in vars(est) if k.endswith("_") and not k.startswith("_"))


def classifier_parameter_cases(seed=308, n=3):
    """``(C, gamma)`` pairs: the hidden test's ``(3.0, 0.2)``, then ``n`` drawn."""
    return [((a[3], a[4]), {}, f"C={a[3]:.3g}, gamma={a[4]:.3g}") for a, _, _ in classifier_cases(seed, n)]


def unfitted(C, gamma):
    """The reference of :func:`fitted_attribute_count` on ``make_classifier(C, gamma)``: no fitted attribute."""
    return 0


def knn_model(n_neighbors):
    """The ``make_model`` of the hyper-parameter test: a k-nearest-neighbour classifier (whatever make_classifier is)."""
    from sklearn.neighbors import KNeighborsClassifier
    return KNeighborsClassifier(n_neighbors=n_neighbors)


def selection_cases(seed=309, n=2):
    """``(knn_model, grid, F_train, y_train, F_val, y_val)``: the hidden test's problem, then ``n`` drawn ones.

    >>> args = selection_cases(309, n=0)[0][0]
    >>> [p["n_neighbors"] for p in args[1]], len(args[2]), len(args[4])
    ([1, 3, 7, 15, 40, 150], 200, 100)
    """
    rng = _seed(seed)
    A = rng.normal(size=(300, 3))
    b = (np.sin(3 * A[:, 0]) + A[:, 1] > 0).astype(int)
    grid = [{"n_neighbors": k} for k in (1, 3, 7, 15, 40, 150)]
    cases = [((knn_model, grid, A[:200], b[:200], A[200:], b[200:]), {}, "the toy problem, k in (1, 3, 7, 15, 40, 150)")]
    for j in range(n):
        A = rng.normal(size=(240, 4))
        b = (A[:, 0] * A[:, 1] + 0.3 * rng.normal(size=240) > 0).astype(int)
        ks = sorted({int(k) for k in rng.integers(1, 60, size=5)})
        cases.append(((knn_model, [{"n_neighbors": k} for k in ks], A[:160], b[:160], A[160:], b[160:]), {},
                      f"a random problem, k in {tuple(ks)}"))
    return cases


def selection_record(select_fn, make_model, grid, *data):
    """``select_fn(make_model, grid, *data)`` as one array: the scores in grid order, then the index of the best.

    The index is that of the first dict of ``grid`` equal to the returned best
    parameters (-1 if none is).
    """
    best, scores = select_fn(make_model, grid, *data)
    index = next((i for i, p in enumerate(grid) if p == best), -1)
    return np.r_[np.asarray(scores, dtype=float).ravel(), float(index)]


def reference_selection(make_model, grid, F_train, y_train, F_val, y_val):
    """What :func:`selection_record` should give: validation accuracies, then the first arg-max."""
    scores = [float(make_model(**p).fit(F_train, y_train).score(F_val, y_val)) for p in grid]
    return np.r_[scores, float(np.argmax(scores))]


_SPLIT_FEATURES = {}


def split_features(split):
    """``(F, y)``: the reference features (``features.feature_matrix``) and labels of a split, computed once."""
    if split not in _SPLIT_FEATURES:
        from .data import load_parcels
        from .features import feature_matrix
        X, y, _ = load_parcels(split, progress=False)
        _SPLIT_FEATURES[split] = (feature_matrix(X), np.asarray(y))
    return _SPLIT_FEATURES[split]


def fit_fingerprint(model):
    """What :func:`parcel_utils.checks.check_no_leakage` reads of a fitted model, as one array.

    ``[n_seen, d, mean (d), scale (d), n_rows, stored rows (n_rows x d)]``:
    the first ``StandardScaler``'s row count, mean and scale (``n_seen = -1``
    without one), then the rows its final estimator stores
    (``support_vectors_`` or ``_fit_X``; ``n_rows = -1`` without any).  The
    steps between the scaler and the final estimator must be none: the
    grader reapplies the scaler alone.
    """
    from .checks import _fitted_steps
    steps = _fitted_steps(model)
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


class _Fingerprinted:
    """A stand-in for a fitted scaler or classifier, rebuilt from :func:`fit_fingerprint` (grader side)."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


def check_fit_on_train(record, name="final_model"):
    """``check_no_leakage`` on a :func:`fit_fingerprint`, against the splits' reference features computed here."""
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
    from .checks import check_no_leakage
    F_train, F_val, F_test = (split_features(s)[0] for s in ("train", "val", "test"))
    check_no_leakage(_Fingerprinted(steps=[(str(i), s) for i, s in enumerate(steps)]), F_test, F_train, F_val,
                     name=name)


def accuracy_record(accuracy, params):
    """``[accuracy, C, gamma]`` of the final model of 03_handcrafted (``params``: the chosen ``best_params``)."""
    return np.asarray([float(accuracy), float(params["C"]), float(params["gamma"])], dtype=float)


def check_test_accuracy(record, assignment="03_handcrafted", key="test_accuracy", tolerance=0.05):
    """The test accuracy of an :func:`accuracy_record`, computed again here from its ``C`` and ``gamma``.

    The grader fits ``Pipeline(StandardScaler, SVC(C, gamma))`` on the
    reference features of the training split (or of training + validation,
    the other fit ``check_no_leakage`` allows), predicts the test split, and
    checks that the reported accuracy is that model's and that it is within
    ``tolerance`` of the reference solution's (``reference_metrics.json``).
    """
    from .checks import check_accuracy_against_reference
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


__all__ += ["classifier_cases", "reference_classifier_predictions", "fitted_attribute_count",
            "classifier_parameter_cases", "unfitted", "knn_model", "selection_cases", "selection_record",
            "reference_selection", "split_features", "fit_fingerprint", "check_fit_on_train", "accuracy_record",
            "check_test_accuracy"]


# -- 04_cnn: the pure functions of the notebook (TTA, mixup, nearest neighbours) ------------

class ToyPosteriors:
    """A NumPy stand-in for a classifier in the TTA tests: ``softmax(flatten(b) @ W + c)``.

    Fixed random weights, no Keras (the grader builds it in its own process in
    milliseconds), and not invariant to any symmetry of the square, so that
    every transform changes its posteriors.  Called like a Keras model:
    ``predict(batch, verbose=0)``, ``batch_size`` accepted and ignored.

    Example
    -------
    >>> m = ToyPosteriors(0, (4, 4, 1), 3)
    >>> p = m.predict(np.ones((2, 4, 4, 1)))
    >>> p.shape, np.allclose(p.sum(axis=1), 1)
    ((2, 3), True)
    """

    def __init__(self, seed, shape, classes):
        rng = _seed(seed)
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


def tta_cases(seed, n=7):
    """``(model, x, transforms)``: a :class:`ToyPosteriors` on ``n`` random 8x8 maps, with all 8
    symmetries of the square, three of them, three others; then one 12x12 map, 5 classes, one transform.

    >>> [label for _, _, label in tta_cases(6)][:1]
    ['7 random 8x8 maps, 8 transforms']
    """
    from .augment import D4_TRANSFORMS
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
    """``augment.mix_samples(...)[0]``: the virtual samples alone."""
    from .augment import mix_samples
    return mix_samples(x, y, lam, perm)[0]


def mix_samples_y(x, y, lam, perm):
    """``augment.mix_samples(...)[1]``: the virtual labels alone."""
    from .augment import mix_samples
    return mix_samples(x, y, lam, perm)[1]


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
    """``backbone.nearest_neighbours_l1(...)[0]``: the indices alone, as the exercise returns them."""
    from .backbone import nearest_neighbours_l1
    return nearest_neighbours_l1(train_features, query_features, k=k)[0]


__all__ += ["ToyPosteriors", "tta_cases", "mix_cases", "mix_samples_x", "mix_samples_y", "neighbour_cases",
            "nearest_indices_l1"]
