"""Reference answers of assignment ``02_parameters``: counting a network's parameters, by hand and by Keras.

Two kinds of things live here:

* **counting references** (pure Python, no TensorFlow): the number of
  parameters of a Conv2D, a Dense and a depthwise separable layer, the
  multiply-adds of a standard and of a depthwise separable convolution, and
  the output shapes of a stack of conv / pool / flatten / dense layers.
  They are what the hidden tests of assignment ``02_parameters`` compare the
  students' functions against (``checks.py`` beside this file).
* **Keras references**: LeNet-5 and the MLP alternative to LeNet-5 as the
  lecture writes them, the VGG16 topology, and what the exercises read of a
  built model (parameters by layer type, the Dense share, the activation
  count).

The helpers that compute no answer (building a stack of layers or the
lecture's "very simple CNN", the per-layer table, the ``keras.applications``
table) are the student package's, :mod:`parcel_utils.keras_tools`; they are
re-exported here.

Notation follows the lecture: a filter is ``h x w`` spatially, ``d`` is the
depth of the input activation and ``n_f`` the number of filters, so a Conv2D
layer has ``(h * w * d) * n_f + n_f`` parameters.

Keras is imported inside the functions that need it, so that importing this
module (and the counting references) never pulls in TensorFlow.

Example
-------
>>> conv2d_params(5, 5, 3, 2)          # the lecture's 3 input maps, 2 filters 5x5
152
>>> output_shapes((32, 32, 1), [("conv", 6, 5), ("pool", 2), ("flatten",), ("dense", 120)])
[(28, 28, 6), (14, 14, 6), (1176,), (120,)]
"""
from __future__ import annotations

import math
import numbers
import numpy as np

from parcel_utils.keras_tools import (LECTURE_APPLICATIONS_TABLE, applications_table, build_simple_cnn,  # noqa: F401
                                     build_stack, layer_table)
from parcel_utils.keras_tools import require_keras_model
from parcel_utils.keras_tools import flat_layers as _flat_layers, layer_output_shape as _output_shape

__all__ = [
    "conv2d_params", "dense_params", "depthwise_separable_params",
    "conv2d_mult_adds", "depthwise_separable_mult_adds", "separable_cost_ratio",
    "conv_output_size", "output_shapes", "stack_params", "random_stack", "build_stack",
    "build_lenet5", "build_simple_cnn", "build_mlp", "vgg16_topology",
    "layer_table", "params_by_layer_type", "dense_share",
    "activation_count", "activation_memory_mb",
    "LECTURE_APPLICATIONS_TABLE", "applications_table",
]


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def _pair(value, name):
    """An int or a pair of ints -> a pair of positive ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be an integer or a pair of integers, got {value!r}.")
        return _positive_int(value[0], name), _positive_int(value[1], name)
    v = _positive_int(value, name)
    return v, v


def _shape(shape, name="input_shape"):
    if not isinstance(shape, (tuple, list)) or len(shape) not in (1, 3):
        raise ValueError(f"`{name}` must be (height, width, depth) or (n,) without the batch "
                         f"axis, got {shape!r}.")
    return tuple(_positive_int(s, name) for s in shape)


# ----------------------------------------------------------------------------
# counting references
# ----------------------------------------------------------------------------
def conv2d_params(h, w, d, n_filters, bias=True):
    """Number of parameters of a Conv2D layer: ``(h * w * d) * n_f + n_f``.

    Parameters
    ----------
    h, w : int
        Spatial size of each filter.
    d : int
        Depth (number of channels) of the input activation.
    n_filters : int
        Number of filters, i.e. the depth of the output.
    bias : bool
        Whether each filter has a bias (Keras' ``use_bias``, default True).

    Returns
    -------
    int

    Examples
    --------
    >>> conv2d_params(5, 5, 3, 2)
    152
    >>> conv2d_params(3, 3, 1, 64)
    640
    """
    h, w, d, n_filters = (_positive_int(v, n) for v, n in
                          ((h, "h"), (w, "w"), (d, "d"), (n_filters, "n_filters")))
    return h * w * d * n_filters + (n_filters if bias else 0)


def dense_params(n_in, n_out, bias=True):
    """Number of parameters of a Dense layer: ``n_in * n_out + n_out``.

    Examples
    --------
    >>> dense_params(400, 120)
    48120
    """
    n_in, n_out = _positive_int(n_in, "n_in"), _positive_int(n_out, "n_out")
    return n_in * n_out + (n_out if bias else 0)


def depthwise_separable_params(h, w, d, n_filters, bias=True):
    """Parameters of a depthwise separable convolution (MobileNet).

    A depthwise convolution (one ``h x w`` filter per input channel:
    ``h * w * d`` weights, ``d`` biases) followed by a pointwise ``1 x 1``
    convolution mixing the channels (``d * n_f`` weights, ``n_f`` biases),
    i.e. Keras' ``DepthwiseConv2D`` followed by ``Conv2D(n_f, 1)``.

    Keras' single ``SeparableConv2D`` layer has only the pointwise bias, so it
    has ``d`` parameters fewer than this count with ``bias=True``.

    Examples
    --------
    >>> depthwise_separable_params(3, 3, 32, 64)   # (9*32 + 32) + (32*64 + 64)
    2432
    >>> depthwise_separable_params(3, 3, 32, 64, bias=False)
    2336
    """
    h, w, d, n_filters = (_positive_int(v, n) for v, n in
                          ((h, "h"), (w, "w"), (d, "d"), (n_filters, "n_filters")))
    depthwise = h * w * d + (d if bias else 0)
    pointwise = d * n_filters + (n_filters if bias else 0)
    return depthwise + pointwise


def conv2d_mult_adds(h, w, d, n_filters, out_h, out_w):
    """Multiply-adds of a standard convolution: ``h * w * d * n_f * out_h * out_w``.

    Each of the ``out_h * out_w * n_f`` output values is a dot product of
    ``h * w * d`` weights with the input (biases are additions only and are
    not counted, as in the MobileNet paper).

    Examples
    --------
    >>> conv2d_mult_adds(3, 3, 512, 512, 14, 14)
    462422016
    """
    args = (h, w, d, n_filters, out_h, out_w)
    names = ("h", "w", "d", "n_filters", "out_h", "out_w")
    h, w, d, n_filters, out_h, out_w = (_positive_int(v, n) for v, n in zip(args, names))
    return h * w * d * n_filters * out_h * out_w


def depthwise_separable_mult_adds(h, w, d, n_filters, out_h, out_w):
    """Multiply-adds of a depthwise separable convolution.

    Depthwise ``h * w * d * out_h * out_w`` plus pointwise
    ``d * n_f * out_h * out_w``.

    Examples
    --------
    >>> depthwise_separable_mult_adds(3, 3, 512, 512, 14, 14)
    52283392
    """
    args = (h, w, d, n_filters, out_h, out_w)
    names = ("h", "w", "d", "n_filters", "out_h", "out_w")
    h, w, d, n_filters, out_h, out_w = (_positive_int(v, n) for v, n in zip(args, names))
    return (h * w * d + d * n_filters) * out_h * out_w


def separable_cost_ratio(h, w, n_filters):
    """Cost of a depthwise separable over a standard convolution: ``1/n_f + 1/(h*w)``.

    The ratio of multiply-adds (and of the weights, biases aside) does not
    depend on the input depth ``d`` nor on the output size.

    Examples
    --------
    >>> round(separable_cost_ratio(3, 3, 512), 4)
    0.1131
    """
    h, w, n_filters = _positive_int(h, "h"), _positive_int(w, "w"), _positive_int(n_filters, "n_filters")
    return 1.0 / n_filters + 1.0 / (h * w)


def conv_output_size(n, kernel, stride=1, padding="valid"):
    """Output length along one axis of a convolution or pooling.

    ``"valid"``: ``floor((n - kernel) / stride) + 1``; ``"same"``:
    ``ceil(n / stride)`` (Keras' conventions).

    Examples
    --------
    >>> conv_output_size(32, 5), conv_output_size(28, 2, stride=2), conv_output_size(7, 3, 2, "same")
    (28, 14, 4)
    """
    n, kernel, stride = _positive_int(n, "n"), _positive_int(kernel, "kernel"), _positive_int(stride, "stride")
    if padding == "valid":
        if kernel > n:
            raise ValueError(f"a {kernel}-wide kernel does not fit in an input of size {n} "
                             f"with padding='valid'; use a smaller kernel or padding='same'.")
        return (n - kernel) // stride + 1
    if padding == "same":
        return -(-n // stride)
    raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}.")


_SPEC_HELP = ("a layer spec is ('conv', n_filters, kernel[, stride[, padding]]), "
              "('pool', size[, stride[, padding]]), ('flatten',) or ('dense', units)")


def _layer_out(shape, spec):
    if not isinstance(spec, (tuple, list)) or not spec:
        raise ValueError(f"cannot read layer spec {spec!r}: {_SPEC_HELP}.")
    kind, args = spec[0], tuple(spec[1:])
    if kind in ("conv", "pool"):
        if len(shape) != 3:
            raise ValueError(f"a {kind!r} layer needs a (height, width, depth) input, got {shape}; "
                             f"put it before the flatten.")
        if kind == "conv":
            if not 2 <= len(args) <= 4:
                raise ValueError(f"cannot read layer spec {spec!r}: {_SPEC_HELP}.")
            n_f, kernel = args[0], args[1]
            stride = args[2] if len(args) > 2 else 1
            padding = args[3] if len(args) > 3 else "valid"
            depth = _positive_int(n_f, "n_filters")
        else:
            if not 1 <= len(args) <= 3:
                raise ValueError(f"cannot read layer spec {spec!r}: {_SPEC_HELP}.")
            kernel = args[0]
            stride = args[1] if len(args) > 1 and args[1] is not None else kernel
            padding = args[2] if len(args) > 2 else "valid"
            depth = shape[2]
        kh, kw = _pair(kernel, "kernel")
        sh, sw = _pair(stride, "stride")
        return (conv_output_size(shape[0], kh, sh, padding),
                conv_output_size(shape[1], kw, sw, padding), depth)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dense":
        if len(args) != 1:
            raise ValueError(f"cannot read layer spec {spec!r}: {_SPEC_HELP}.")
        if len(shape) != 1:
            raise ValueError(f"a 'dense' layer needs a flat input, got {shape}; add ('flatten',) before it.")
        return (_positive_int(args[0], "units"),)
    raise ValueError(f"unknown layer kind {kind!r}: {_SPEC_HELP}.")


def output_shapes(input_shape, layers):
    """Shape after each layer of a conv / pool / flatten / dense stack.

    Parameters
    ----------
    input_shape : tuple
        ``(height, width, depth)`` of one input (no batch axis).
    layers : list of tuple
        One spec per layer: ``("conv", n_filters, kernel[, stride[, padding]])``,
        ``("pool", size[, stride[, padding]])`` (max or average; stride
        defaults to ``size``), ``("flatten",)`` or ``("dense", units)``.
        ``kernel``, ``size`` and ``stride`` are ints or ``(rows, cols)``;
        ``padding`` is ``"valid"`` (default) or ``"same"``.

    Returns
    -------
    list of tuple
        The output shape of each layer, without the batch axis.

    Examples
    --------
    >>> lenet = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
    ...          ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]
    >>> output_shapes((32, 32, 1), lenet)[:5]
    [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,)]
    """
    shape = _shape(input_shape)
    if not isinstance(layers, (list, tuple)):
        raise ValueError(f"`layers` must be a list of layer specs; {_SPEC_HELP}.")
    shapes = []
    for spec in layers:
        shape = _layer_out(shape, spec)
        shapes.append(shape)
    return shapes


def stack_params(input_shape, layers, bias=True):
    """Parameters of each layer of a stack described as in :func:`output_shapes`.

    Examples
    --------
    >>> lenet = [("conv", 6, 5), ("pool", 2), ("conv", 16, 5), ("pool", 2),
    ...          ("flatten",), ("dense", 120), ("dense", 84), ("dense", 10)]
    >>> stack_params((32, 32, 1), lenet)
    [156, 0, 2416, 0, 0, 48120, 10164, 850]
    """
    shapes = [_shape(input_shape)] + output_shapes(input_shape, layers)
    counts = []
    for spec, s_in, s_out in zip(layers, shapes[:-1], shapes[1:]):
        if spec[0] == "conv":
            kh, kw = _pair(spec[2], "kernel")
            counts.append(conv2d_params(kh, kw, s_in[2], s_out[2], bias))
        elif spec[0] == "dense":
            counts.append(dense_params(s_in[0], s_out[0], bias))
        else:
            counts.append(0)
    return counts


def random_stack(seed, input_shape=None, max_blocks=3, max_dense=2):
    """A random valid conv / pool / flatten / dense stack, for tests.

    Parameters
    ----------
    seed : int
        Seed of the generator; the same seed gives the same stack.
    input_shape : tuple, optional
        ``(height, width, depth)``; drawn at random (16 to 40 pixels, depth 1
        to 4) when not given.
    max_blocks, max_dense : int
        At most this many conv-or-pool layers, and dense layers.

    Returns
    -------
    (input_shape, layers)
        In the format of :func:`output_shapes`.

    Examples
    --------
    >>> shape, layers = random_stack(0)
    >>> len(output_shapes(shape, layers)) == len(layers)
    True
    """

    rng = np.random.default_rng(seed)
    if input_shape is None:
        input_shape = (int(rng.integers(16, 41)), int(rng.integers(16, 41)), int(rng.integers(1, 5)))
    shape = _shape(input_shape)
    layers = []
    for _ in range(int(rng.integers(1, _positive_int(max_blocks, "max_blocks") + 1))):
        padding = str(rng.choice(["valid", "same"]))
        if rng.random() < 0.6:
            k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
            spec = ("conv", int(rng.integers(1, 9)), k if k[0] != k[1] else k[0],
                    int(rng.integers(1, 3)), padding)
        else:
            spec = ("pool", int(rng.integers(2, 4)), None if rng.random() < 0.5 else int(rng.integers(1, 3)),
                    padding)
        try:
            shape = _layer_out(shape, spec)
        except ValueError:      # does not fit: skip it
            continue
        layers.append(spec)
    layers.append(("flatten",))
    layers += [("dense", int(rng.integers(1, 33))) for _ in range(int(rng.integers(1, max_dense + 1)))]
    return tuple(input_shape), layers


# ----------------------------------------------------------------------------
# Keras builders
# ----------------------------------------------------------------------------
def build_lenet5(input_shape=(32, 32, 1), num_classes=10):
    """LeNet-5 exactly as in the lecture (61,706 parameters on 32x32x1).

    Conv2D(6, 5x5, tanh, valid) - AveragePooling2D(2) - Conv2D(16, 5x5, tanh,
    valid) - AveragePooling2D(2) - Flatten - Dense(120, relu) - Dense(84, relu)
    - Dense(num_classes, softmax).  Layers are named as in the lecture's
    ``model.summary()`` (``conv2d_1``, ``average_pooling2d_1``, ...), so the
    summary does not depend on how many models were built before.

    Examples
    --------
    >>> build_lenet5().count_params()  # doctest: +SKIP
    61706
    """
    import keras   # Keras/TensorFlow: seconds to import
    from keras import layers   # Keras/TensorFlow: seconds to import

    input_shape = _shape(input_shape)
    num_classes = _positive_int(num_classes, "num_classes")
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(6, (5, 5), activation="tanh", padding="valid", name="conv2d_1"),
        layers.AveragePooling2D(pool_size=(2, 2), name="average_pooling2d_1"),
        layers.Conv2D(16, (5, 5), activation="tanh", padding="valid", name="conv2d_2"),
        layers.AveragePooling2D(pool_size=(2, 2), name="average_pooling2d_2"),
        layers.Flatten(name="flatten_1"),
        layers.Dense(120, activation="relu", name="dense_1"),
        layers.Dense(84, activation="relu", name="dense_2"),
        layers.Dense(num_classes, activation="softmax", name="dense_3"),
    ], name="lenet5")


def build_mlp(input_shape=(32, 32, 1), hidden_units=84, num_classes=10):
    """The lecture's MLP alternative to LeNet-5: Flatten - Dense(84, relu) - Dense(softmax).

    On a 32x32 grey image: 1024 * 84 + 84 + 84 * 10 + 10 = 86,950 parameters.

    Examples
    --------
    >>> build_mlp().count_params()  # doctest: +SKIP
    86950
    """
    import keras   # Keras/TensorFlow: seconds to import
    from keras import layers   # Keras/TensorFlow: seconds to import

    input_shape = _shape(input_shape)
    hidden_units = _positive_int(hidden_units, "hidden_units")
    num_classes = _positive_int(num_classes, "num_classes")
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(name="flatten"),
        layers.Dense(hidden_units, activation="relu", name="dense_1"),
        layers.Dense(num_classes, activation="softmax", name="dense_2"),
    ], name="mlp")


def vgg16_topology(input_shape=(224, 224, 3), include_top=True, classes=1000):
    """VGG16 as in ``keras.applications.VGG16`` with random weights (nothing downloaded).

    138,357,544 parameters with the top on 224x224x3.  Building it takes a few
    seconds and about 550 MB of memory (the weights are float32).

    Examples
    --------
    >>> vgg16_topology().count_params()  # doctest: +SKIP
    138357544
    """
    import keras   # Keras/TensorFlow: seconds to import

    input_shape = _shape(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, 3), got {input_shape}.")
    return keras.applications.VGG16(weights=None, include_top=bool(include_top),
                                    input_shape=input_shape, classes=_positive_int(classes, "classes"))


# ----------------------------------------------------------------------------
# reading a built model
# ----------------------------------------------------------------------------
def params_by_layer_type(model):
    """Total parameters per layer class, e.g. ``{"Conv2D": 14714688, "Dense": 123642856}``.

    Layer classes with no parameters are left out.
    """
    require_keras_model(model)
    totals = {}
    for layer in _flat_layers(model):
        n = int(layer.count_params())
        if n:
            totals[type(layer).__name__] = totals.get(type(layer).__name__, 0) + n
    return totals


def dense_share(model):
    """Fraction of a model's parameters held by its Dense (fully connected) layers.

    Examples
    --------
    >>> round(dense_share(vgg16_topology()), 4)  # doctest: +SKIP
    0.8936
    """
    require_keras_model(model)
    total = int(model.count_params())
    if total == 0:
        raise ValueError("`model` has no parameters, so no share can be computed.")
    return params_by_layer_type(model).get("Dense", 0) / total


_VIEWS = {"Flatten", "Reshape"}


def activation_count(model, include_input=True):
    """Number of values in a model's activations for one input.

    The sum, over the layers, of the number of values in each layer's output
    (batch axis left out), plus the input when ``include_input``.  Flatten
    and Reshape are not counted: their output is the same memory as their
    input, relabelled.  Nested models are expanded.

    Examples
    --------
    >>> activation_count(vgg16_topology())  # doctest: +SKIP
    15237608
    """
    require_keras_model(model)
    total = 0
    tensors = [(layer.name, _output_shape(layer)) for layer in _flat_layers(model)
               if type(layer).__name__ not in _VIEWS]
    if include_input:
        tensors += [("input", tuple(t.shape[1:])) for t in model.inputs]
    for name, shape in tensors:
        if any(s is None for s in shape):
            raise ValueError(f"{name!r} has an undefined output size {shape}; "
                             f"build the model with a fixed input_shape.")
        total += math.prod(shape)
    return total


def activation_memory_mb(model, bytes_per_value=4, include_input=True):
    """Activation memory of one forward pass in MB (10**6 bytes), float32 by default.

    Examples
    --------
    >>> round(activation_memory_mb(vgg16_topology()), 2)  # doctest: +SKIP
    60.95
    """
    if not isinstance(bytes_per_value, numbers.Real) or bytes_per_value <= 0:
        raise ValueError(f"`bytes_per_value` must be a positive number (4 for float32), got {bytes_per_value!r}.")
    return activation_count(model, include_input) * bytes_per_value / 1e6
